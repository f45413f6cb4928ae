//! Tests of `plan.rs`: axes and grids, and the headroom bisection.

use super::*;

#[test]
fn axes_parse_and_multiply_into_a_grid() {
    let a = Axis::parse("dwd.bucket+jobs.parallelism.default=8,16").unwrap();
    let b = Axis::parse("jobs.checkpoint-policy=fixed,traffic-driven").unwrap();
    let configs = grid(&[a, b]).unwrap();
    assert_eq!(configs.len(), 4);
    assert_eq!(
        configs[1].label(),
        "dwd.bucket=8 jobs.parallelism.default=8 jobs.checkpoint-policy=traffic-driven"
    );
    assert_eq!(
        configs[2].set_flags(),
        " --set dwd.bucket=16 --set jobs.parallelism.default=16 --set jobs.checkpoint-policy=fixed"
    );
    let tuples = Axis::parse(
        "jobs.checkpoint-policy+jobs.execution.checkpointing.interval=fixed+10s,traffic-driven+30s",
    )
    .unwrap();
    assert_eq!(
        grid(&[tuples]).unwrap()[1].label(),
        "jobs.checkpoint-policy=traffic-driven jobs.execution.checkpointing.interval=30s"
    );
    for bad in [
        "dwd.bucket+dws.bucket=1+2+3",
        "dwd.bucket+dws.bucket=1+",
        "bucket=1",
        "dwd.bucket",
        "dwd.bucket=",
        "dwd.bucket=1,1",
        "dwd.bucket=1,,2",
    ] {
        assert!(Axis::parse(bad).is_err(), "{bad}");
    }
    let again = Axis::parse("dwd.bucket=1,2").unwrap();
    assert!(matches!(
        grid(&[again.clone(), again]),
        Err(PlanError::RepeatedKey(_))
    ));
}

#[test]
fn headroom_doubles_then_bisects_to_ten_percent() {
    let sustains_below = 5.0;
    let mut tried = Vec::new();
    while let Some(m) = next_multiple(&tried, 64.0) {
        tried.push((m, m < sustains_below));
    }
    let multiples: Vec<f64> = tried.iter().map(|t| t.0).collect();
    assert_eq!(&multiples[..3], &[2.0, 4.0, 8.0]);
    let pass = tried
        .iter()
        .filter(|t| t.1)
        .map(|t| t.0)
        .fold(1.0, f64::max);
    let fail = tried
        .iter()
        .filter(|t| !t.1)
        .map(|t| t.0)
        .fold(f64::INFINITY, f64::min);
    assert!(pass < sustains_below && sustains_below <= fail && fail <= pass * 1.1);
    // Never past the bound, and done when everything passes up to it.
    let mut all_pass = Vec::new();
    while let Some(m) = next_multiple(&all_pass, 3.0) {
        all_pass.push((m, true));
    }
    assert_eq!(all_pass, vec![(2.0, true), (3.0, true)]);
}
