//! Snapshot expiration, tags and consumer ids in whole runs: the consumer-recovery scenario
//! passes because the dws-job's consumer id protects what it has not read; without the consumer
//! id the same run fails with an expired-snapshot verdict and lost data; and the files checker
//! names a file deleted while a retained snapshot still needed it.

use crate::common;

use crate::common::dwsim;
use sim::CheckerName;
use warehouse::env::JournalKind;
use warehouse::jobs::schemas::DWD_TABLE_ROOT;

#[test]
fn consumer_id_lets_the_dws_job_resume_after_its_snapshots_would_have_expired() {
    let output = sim::run(common::scenario("consumer-recovery"), 1);
    let checks = &output.checks;
    let violations: Vec<_> = checks
        .exactly_once
        .violations
        .iter()
        .chain(&checks.freshness.violations)
        .chain(&checks.files.violations)
        .collect();
    assert!(violations.is_empty(), "{violations:?}");
    let dwd = &checks.files.dwd_over_run;
    assert!(
        dwd.snapshots_expired > 20 && dwd.files_deleted > 20,
        "DWD expired snapshots and deleted their files during the run: {dwd:?}"
    );
    assert_eq!(dwd.tags_at_end, 3, "tag.num-retained-max = 3");
    // Every committed snapshot was still checked, expired ones included.
    assert!(checks.exactly_once.dwd_snapshots_checked > dwd.snapshots_expired);
    let trace = output.simulation.world.trace.borrow();
    assert!(trace.count(JournalKind::Expire) > 0 && trace.count(JournalKind::TagCreate) >= 3);
    assert_eq!(trace.count(sim::TraceKind::JobFailover), 0);
    // The final dump is the final state: expired snapshots are not in it.
    let first = format!("{DWD_TABLE_ROOT}/snapshot/snapshot-1");
    assert!(!output.simulation.objects.contains_key(&first));
    assert!(
        output.simulation.world.observed.storage[0]
            .graveyard
            .borrow()
            .contains_key(&first)
    );
    drop(trace);
    // Expiration leaked nothing; a stray file of a failed attempt is counted for orphan cleaning.
    let mut output = output;
    assert_eq!(
        output.checks.files.dwd_over_run.unreferenced_files_at_end,
        0
    );
    output.simulation.objects.insert(
        format!("{DWD_TABLE_ROOT}/bucket-1/data-failed-attempt-0.parquet"),
        b"PAR1".to_vec(),
    );
    sim::recheck(&mut output);
    assert_eq!(
        output.checks.files.dwd_over_run.unreferenced_files_at_end,
        1
    );
}

#[test]
fn without_a_consumer_id_the_run_fails_with_an_expired_snapshot_verdict() {
    let path = format!(
        "{}/fixtures/incidents/a-expired-snapshot-without-consumer-id/scenario.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let scenario = sim::scenario::Scenario::load(std::path::Path::new(&path)).unwrap();
    let output = sim::run(scenario, 1);
    let checks = &output.checks;
    let expired = checks
        .files
        .violations
        .iter()
        .find(|v| v.checker == CheckerName::ExpiredSnapshot)
        .expect("an expired-snapshot verdict");
    assert!(
        expired.message.starts_with("The snapshot with id ")
            && expired.message.contains("has expired"),
        "{}",
        expired.message
    );
    assert!(expired.at.starts_with("dws-job"), "{}", expired.at);
    assert!(
        checks
            .exactly_once
            .violations
            .iter()
            .any(|v| v.at == "end of run (DWS)"),
        "DWS lost data: {:?}",
        checks.exactly_once.violations
    );
    // The CLI says so and exits 1.
    let (code, stdout, stderr) = dwsim(&[
        "run",
        "fixtures/incidents/a-expired-snapshot-without-consumer-id/scenario.toml",
        "--seed",
        "1",
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("expired-snapshot FAIL"), "{stdout}");
}

#[test]
fn files_checker_bounds_files_per_bucket_and_small_files() {
    let mut scenario = common::scenario("consumer-recovery");
    scenario.sla.files_per_bucket_max = 2;
    scenario.sla.small_files_max = 3;
    let output = sim::run(scenario, 1);
    let messages: Vec<&str> = output
        .checks
        .files
        .violations
        .iter()
        .map(|v| v.message.as_str())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("above files_per_bucket_max = 2")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("above small_files_max = 3")),
        "{messages:?}"
    );
}

#[test]
fn smoke_chaos_with_aggressive_expiration_and_tags_stays_exactly_once() {
    // Every crash and partition of smoke while both tables keep only snapshots of the last 10 s
    // (at least 2) and DWD keeps two automatic tags: the consumer id and the tags protect what
    // is still needed, and every committed snapshot, expired or not, is still checked.
    let mut scenario = common::scenario("smoke");
    let lifecycle = |table: &mut sim::scenario::TableSection| {
        table.snapshot_num_retained_min = Some(2);
        table.snapshot_time_retained = sim::scenario::Millis::parse("10s");
    };
    lifecycle(&mut scenario.dwd);
    lifecycle(&mut scenario.dws);
    scenario.dwd.tag_automatic_creation = Some(warehouse::table::TagCreation::ProcessTime);
    scenario.dwd.tag_creation_period = warehouse::table::TagPeriod::parse("20s");
    scenario.dwd.tag_num_retained_max = Some(2);
    for seed in [1, 7] {
        let output = sim::run(scenario.clone(), seed);
        let checks = &output.checks;
        let violations: Vec<_> = checks
            .exactly_once
            .violations
            .iter()
            .chain(&checks.freshness.violations)
            .chain(&checks.files.violations)
            .collect();
        assert!(violations.is_empty(), "seed {seed}: {violations:?}");
        let dwd = &checks.files.dwd_over_run;
        assert!(dwd.snapshots_expired > 10, "seed {seed}: {dwd:?}");
        assert_eq!(dwd.tags_at_end, 2, "seed {seed}");
        assert_eq!(
            dwd.unreferenced_files_at_end, 0,
            "seed {seed}: nothing leaked"
        );
        let prefix = format!("{DWD_TABLE_ROOT}/snapshot/snapshot-");
        let retained = output
            .simulation
            .objects
            .keys()
            .filter(|p| p.starts_with(&prefix))
            .count();
        assert_eq!(
            checks.exactly_once.dwd_snapshots_checked,
            retained + dwd.snapshots_expired,
            "seed {seed}: expired snapshots are checked too"
        );
    }
}
