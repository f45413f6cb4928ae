//! Exactly-once under crash schedules: 50 seeds of the smoke scenario, each with its own random
//! crashes (jobs, TT, storage, serving) and partitions drawn from the seed, must pass every checker
//! (opt-in, `-- --ignored`: tests/scenarios/swarm.rs covers it in CI); 20 seeds with the whole fault
//! catalogue and BUGGIFY.

use crate::common;

use sim::SeedTree;
use sim::Summary;
use sim::random_schedule;
use sim::scenario::Millis;

#[test]
#[ignore = "opt-in (cargo test -- --ignored): minutes of CPU; CI covers it with tests/scenarios/swarm.rs"]
fn fifty_seeds_of_smoke_with_random_crash_schedules_pass() {
    let mut failures = Vec::new();
    for seed in 1..=50u64 {
        let mut scenario = common::scenario("smoke");
        scenario.faults = random_schedule(
            scenario.topology(),
            &SeedTree::new(seed),
            scenario.run.chaos,
            (3, 6),
            Millis(8_000),
        );
        let faults = scenario.faults.len();
        let output = sim::run(scenario, seed);
        let summary = Summary::build(&output, "scenarios/smoke.toml (random faults)", "test", 1.0);
        assert!(
            summary.exactly_once.distinct_valid_events > 10_000,
            "seed {seed} produced traffic"
        );
        assert!(
            output.simulation.faults_injected.len() == faults,
            "seed {seed} injected its {faults} faults"
        );
        if !summary.passed() {
            failures.push(format!("seed {seed}:\n{}", summary.render()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The whole fault catalogue (one-way partitions, latency spikes, clock skew, disk errors, slow
/// and full disks, crashes, partitions) drawn per seed, with BUGGIFY sites on.
#[test]
fn twenty_seeds_of_smoke_with_the_fault_catalogue_and_buggify_pass() {
    let mut failures = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 101..=120u64 {
        let mut scenario = common::scenario("smoke");
        scenario.run.buggify = true;
        scenario.faults = sim::random_catalogue_schedule(
            scenario.topology(),
            &SeedTree::new(seed),
            scenario.run.chaos,
            (3, 6),
            Millis(8_000),
            &sim::whole_catalogue(),
        );
        kinds.extend(scenario.faults.iter().map(|f| f.kind().name()));
        let output = sim::run(scenario, seed);
        let summary = Summary::build(&output, "scenarios/smoke.toml (catalogue)", "test", 1.0);
        if !summary.passed() {
            failures.push(format!("seed {seed}:\n{}", summary.render()));
        }
    }
    assert!(
        kinds.len() >= 6,
        "the seeds drew too few fault kinds: {kinds:?}"
    );
    assert!(
        failures.is_empty(),
        "{} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
