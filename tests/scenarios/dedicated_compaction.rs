//! Dedicated compaction under random faults: a few seeds of `dedicated-compaction` (write-only
//! DWD writers, a `compactor` host), each with crashes and partitions drawn from the seed that
//! may hit the compactor too, must pass every checker, including the final merge-on-read of the
//! compacted live files against the ground truth. The compactor must actually have committed.

use crate::common;

use sim::SeedTree;
use sim::Summary;
use sim::random_schedule;
use sim::scenario::Millis;

#[test]
fn dedicated_compaction_with_random_faults_is_exactly_once() {
    let mut failures = Vec::new();
    for seed in 1..=4u64 {
        let mut scenario = common::scenario("dedicated-compaction");
        scenario.faults = random_schedule(
            scenario.topology(),
            &SeedTree::new(seed),
            scenario.run.chaos,
            (3, 6),
            Millis(12_000),
        );
        let output = sim::run(scenario, seed);
        let compactions = output
            .simulation
            .world
            .trace
            .borrow()
            .events()
            .iter()
            .filter(|e| e.host == "compactor" && e.kind == "compaction-commit")
            .count();
        assert!(
            compactions > 0,
            "seed {seed}: the compactor committed nothing"
        );
        let summary = Summary::build(
            &output,
            "scenarios/dedicated-compaction.toml (random faults)",
            "test",
            1.0,
        );
        assert!(
            summary.exactly_once.distinct_valid_events > 10_000,
            "seed {seed} produced traffic"
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

#[test]
fn write_only_without_a_compactor_is_rejected_with_the_fix() {
    let path = format!(
        "{}/scenarios/dedicated-compaction.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    let without = text.replace("[jobs.compactor]\npoll_interval = \"1s\"\n", "");
    let without: String = without.split("[[faults]]").next().unwrap().to_string();
    let error = sim::scenario::Scenario::parse(&without, "x.toml")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("write-only = true but no dedicated compactor")
            && error.contains("[jobs.compactor]"),
        "{error}"
    );
}

/// Swarm seeds 20 and 24 once drew a compaction trigger above the scenario's stop trigger (a
/// configuration reading the file refuses): DWD writers stalled for good and exactly-once and
/// liveness failed. Swarm now draws stop-trigger = compaction-trigger + {0, 1, 3}, validates the
/// draw (redrawing a refused one), and draws faults over the compactor too.
#[test]
fn swarm_seeds_that_once_drew_an_invalid_stop_trigger_pass() {
    let base = common::scenario("dedicated-compaction");
    for seed in [20, 24] {
        let (drawn, _) = sim::swarm(&base, seed);
        drawn.validate().expect("a swarm draw is a valid scenario");
        let output = sim::run(drawn, seed);
        let summary = sim::Summary::build(&output, "dedicated-compaction", "test", 1.0);
        assert!(
            summary.passed(),
            "swarm seed {seed}: {:?}\n{}",
            summary.failed_checkers,
            summary.render()
        );
    }
}
