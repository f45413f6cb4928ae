//! Checkpoint policies end to end: a traffic-driven interval with a separate interval during
//! backlog, and a checkpoint timeout short enough that a long job<->storage partition declines
//! checkpoints (and, with no tolerable failures, fails the job over), must keep every checker
//! green; the trace must show the policy at work.

use crate::common;

use sim::Summary;
use sim::scenario::{FaultEffect, FaultSpec, Millis};
use warehouse::env::JournalKind;

fn policy_scenario() -> sim::scenario::Scenario {
    let mut scenario = common::scenario("smoke");
    scenario.jobs.checkpoint_policy = sim::scenario::CheckpointPolicyName::TrafficDriven;
    scenario.jobs.interval_quiet = Some(Millis(2_000));
    scenario.jobs.interval_peak = Some(Millis(8_000));
    scenario.jobs.rate_quiet = Some(500);
    scenario.jobs.rate_peak = Some(3_000);
    scenario.jobs.interval_during_backlog = Some(Millis(12_000));
    scenario.jobs.backlog_lag_records = 5_000;
    scenario.jobs.checkpoint_timeout = Millis(3_000);
    scenario.jobs.tolerable_failed_checkpoints = 0;
    scenario.faults.push(FaultSpec {
        at: Millis(75_000),
        duration: Millis(7_000),
        effect: FaultEffect::Partition {
            between: ["dwd-job".into(), "dfs".into()],
        },
    });
    scenario
}

#[test]
fn traffic_driven_checkpoints_with_timeouts_stay_exactly_once() {
    let mut declined = 0;
    let mut interval_changes = 0;
    let mut failovers = 0;
    for seed in 1..=4u64 {
        let output = sim::run(policy_scenario(), seed);
        let summary = Summary::build(&output, "smoke + traffic-driven checkpoints", "test", 1.0);
        assert!(summary.passed(), "seed {seed}:\n{}", summary.render());
        let trace = output.simulation.world.trace.borrow();
        declined += trace.count(JournalKind::CheckpointDeclined);
        interval_changes += trace.count(JournalKind::CheckpointInterval);
        failovers += trace
            .events()
            .iter()
            .filter(|e| {
                e.kind == "job-failover" && e.detail.contains("tolerable-failed-checkpoints")
            })
            .count();
    }
    assert!(
        interval_changes > 0,
        "the traffic-driven policy never changed the interval"
    );
    assert!(
        declined > 0,
        "a 7 s partition with a 3 s timeout must decline checkpoints"
    );
    assert!(
        failovers > 0,
        "with no tolerable failures a declined checkpoint must fail the job over"
    );
}
