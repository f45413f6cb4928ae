//! Counterfactuals: a finished run whose storage or whose world record is changed after the
//! fact, so a checker must notice what the warehouse itself never did. They reach into the
//! world's observations, so they live beside the checkers.

use warehouse::jobs::schemas::DWD_TABLE_ROOT;

use crate::campaign::incident::Incident;
use crate::check::CheckerName;
use crate::report::summary::Summary;
use crate::scenario::{Millis, Scenario};
use crate::tests::{repo_root, shipped};
use crate::world::{ObjectBytes, Tombstone, World};

/// late-conversions at a tenth of its size, without random faults.
fn small_late_conversions() -> Scenario {
    let mut scenario = shipped("late-conversions");
    scenario.run.tick = Millis(20);
    scenario.run.chaos = Millis(180_000);
    scenario.run.liveness = Millis(40_000);
    scenario.traffic.baseline_events_per_s = 12.0;
    scenario.traffic.click_share = 0.2;
    scenario.traffic.conversion_share_of_clicks = 0.5;
    scenario.traffic.conversion_delay.median = Millis(40_000);
    scenario.traffic.conversion_delay.max = Millis(600_000);
    scenario.traffic.late_clicks.median = Millis(20_000);
    scenario.traffic.late_clicks.max = Millis(180_000);
    scenario.jobs.checkpoint_interval = Millis(5_000);
    scenario.jobs.allowed_lateness = Millis(30_000);
    scenario.sla.too_late_share_max = Some(0.1);
    scenario.faults.clear();
    scenario
}

#[test]
fn checker_recomputes_lateness_rather_than_trusting_the_job() {
    let scenario = small_late_conversions();
    let output = crate::check::run(scenario.clone(), 5);
    let summary = Summary::build(&output, "small", "test", 1.0);
    assert!(summary.passed(), "{}", summary.render());
    assert!(summary.lateness.too_late_events > 0, "{}", summary.render());
    // The same run judged as if the job had allowed 10 minutes of lateness: the checker's own
    // classification now says those events belong in DWS, not in the side table.
    let mut lenient = scenario;
    lenient.jobs.allowed_lateness = Millis(600_000);
    let judge = World::new(lenient, 5);
    *judge.observed.truth.borrow_mut() =
        std::mem::take(&mut *output.simulation.world.observed.truth.borrow_mut());
    *judge.observed.ledger.borrow_mut() =
        std::mem::take(&mut *output.simulation.world.observed.ledger.borrow_mut());
    *judge.observed.storage[0].snapshot_commits.borrow_mut() = std::mem::take(
        &mut *output.simulation.world.observed.storage[0]
            .snapshot_commits
            .borrow_mut(),
    );
    let checks = crate::check::exactly_once::check_run(
        &judge,
        &output.simulation.objects,
        output.simulation.chaos_end_ms,
    );
    let at: Vec<&str> = checks
        .exactly_once
        .violations
        .iter()
        .map(|v| v.at.as_str())
        .collect();
    assert!(
        at.iter().any(|a| a.starts_with("late table snapshot")),
        "{at:#?}"
    );
    assert!(at.iter().any(|a| a.starts_with("DWS snapshot")), "{at:#?}");
}

#[test]
fn files_checker_names_a_file_deleted_while_a_retained_snapshot_needed_it() {
    let mut output = crate::check::run(shipped("consumer-recovery"), 1);
    // Pretend dfs deleted a data file the latest DWD snapshot still reads, at t = 100 s.
    let path = output
        .simulation
        .objects
        .keys()
        .rfind(|p| p.starts_with(&format!("{DWD_TABLE_ROOT}/bucket-0/data-")))
        .cloned()
        .expect("a DWD data file");
    let bytes = output.simulation.objects.remove(&path).unwrap();
    output.simulation.world.observed.storage[0]
        .graveyard
        .borrow_mut()
        .insert(
            path.clone(),
            Tombstone {
                deleted_ms: 100_000,
                bytes: ObjectBytes::Held(bytes),
            },
        );
    crate::check::recheck(&mut output);
    let files: Vec<_> = output
        .checks
        .files
        .violations
        .iter()
        .filter(|v| v.checker == CheckerName::Files)
        .collect();
    assert!(
        files
            .iter()
            .any(|v| v.message.contains(&path) && v.at.contains("retained")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|v| v.t_ms == Some(100_000)),
        "the deletion time is named: {files:?}"
    );
    // A snapshot deletion `dfs` saw while a consumer still needed it is a violation too.
    output.simulation.world.observed.storage[0]
        .protected_deletions
        .borrow_mut()
        .push(crate::world::ProtectedDeletion {
            t_ms: 42_000,
            snapshot_path: format!("{DWD_TABLE_ROOT}/snapshot/snapshot-9"),
            consumer_path: format!("{DWD_TABLE_ROOT}/consumer/consumer-dws-job"),
            next_snapshot: 7,
        });
    crate::check::recheck(&mut output);
    assert!(
        output
            .checks
            .files
            .violations
            .iter()
            .any(|v| v.t_ms == Some(42_000)
                && v.message
                    .contains("consumer-dws-job still needed it (nextSnapshot = 7)")),
        "{:?}",
        output.checks.files.violations
    );
}

#[test]
fn a_recorded_rollback_that_removed_nothing_is_reported() {
    // The checkers take only the fact of a rollback from the world; if the table still holds
    // the snapshots the rollback should have discarded, the files checker says so.
    let dir = repo_root().join("fixtures/incidents/f-bad-dws-job-version");
    let incident = Incident::load(&dir).unwrap();
    let simulation = crate::run::simulate(incident.scenario.clone(), incident.expected.seed);
    simulation
        .world
        .observed
        .rollbacks
        .borrow_mut()
        .push(crate::world::control::RollbackRecord {
            table_root: warehouse::jobs::schemas::DWS_TABLE_ROOT.into(),
            tag: "2025-11-10 15:30".into(),
            t_ms: 110_000,
        });
    let output = crate::check::check(simulation);
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
            .any(|m| m.contains("the rollback did not remove it")),
        "{messages:?}"
    );
}
