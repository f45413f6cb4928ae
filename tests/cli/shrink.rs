//! `dwsim shrink` reduces a failing seed to the faults that matter: of five faults only the long
//! TT<->dwd-job partition breaks the freshness SLA, and the written scenario still fails the same
//! checker when run.

use crate::common::dwsim;

#[test]
fn shrink_keeps_only_the_partition_and_the_result_still_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shrunk.toml");
    let (code, stdout, stderr) = dwsim(&[
        "shrink",
        "tests/fixtures/freshness-partition.toml",
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("faults 5 -> 1"), "{stdout}");
    assert!(
        stdout.contains("kept: Partition tt <-> dwd-job at 20s for 40s"),
        "{stdout}"
    );

    let (code, stdout, _) = dwsim(&["run", out.to_str().unwrap(), "--seed", "1"]);
    assert_eq!(code, 1, "the shrunk scenario still fails:\n{stdout}");
    assert!(stdout.contains("freshness     FAIL"), "{stdout}");
}

#[test]
fn a_passing_seed_is_not_shrunk() {
    let (code, _, stderr) = dwsim(&["shrink", "smoke", "--seed", "1", "--out", "/dev/null"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("passes every checker"), "{stderr}");
}

/// A failure a swarm seed found shrinks like any other: the seed's draw is written as an
/// ordinary scenario (its knobs kept) and its faults reduced; run without --swarm, it still fails.
#[test]
fn shrink_swarm_shrinks_the_drawn_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let smoke = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml"),
    )
    .unwrap()
    .replace("chaos = \"90s\"", "chaos = \"40s\"");
    let text = smoke.split("[[faults]]").next().unwrap().to_string()
        + "\n[sla]\nfiles_per_bucket_max = 1\n";
    let scenario = dir.path().join("tight.toml");
    std::fs::write(&scenario, text).unwrap();
    let out = dir.path().join("shrunk.toml");
    let (code, stdout, stderr) = dwsim(&[
        "shrink",
        scenario.to_str().unwrap(),
        "--seed",
        "3",
        "--swarm",
        "--max-runs",
        "6",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let knobs = stderr
        .lines()
        .find_map(|l| l.strip_prefix("swarm (seed 3): dwd bucket="))
        .expect("the draw is printed");
    let bucket = knobs.split_whitespace().next().unwrap();
    let shrunk = std::fs::read_to_string(&out).unwrap();
    assert!(shrunk.contains("--swarm"), "{shrunk}");
    assert!(
        shrunk.contains(&format!("[dwd]\nbucket = {bucket}\n")),
        "the drawn knobs are kept: {shrunk}"
    );
    let (code, stdout, _) = dwsim(&["run", out.to_str().unwrap(), "--seed", "3"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.trim_start().starts_with("files") && l.contains("FAIL")),
        "{stdout}"
    );
}
