//! Hostile scenarios (issue 13): smoke.toml with one to three values replaced by something a
//! scenario should never hold (zero, negative, huge, NaN, infinite, the wrong type) or a line
//! deleted. Reading it must either refuse it, naming the file and a line, or accept it; an
//! accepted one runs a short while (chaos at most 10 s) and must not panic. Never a panic, never
//! a hang: the run is bounded and its traffic capped before it starts. And determinism over the
//! corpus (item 5): 16 accepted mutations, each run twice in one process, give one trace hash
//! each, as `dwsim run --check-determinism` demands of the shipped scenarios.

use proptest::prelude::*;
use sim::scenario::{Millis, Scenario};

const ORIGIN: &str = "fuzz-smoke.toml";

/// Values no key of a scenario should accept silently, and a few it should.
const VALUES: [&str; 18] = [
    "0",
    "-1",
    "1e300",
    "nan",
    "inf",
    "-inf",
    "18446744073709551615",
    "-9223372036854775808",
    "\"0ms\"",
    "\"-5s\"",
    "\"8785h\"",
    "\"abc\"",
    "\"\"",
    "true",
    "[]",
    "[\"tt\", \"dfs\", \"serving\"]",
    "2",
    "\"1s\"",
];

fn smoke() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/smoke.toml")).unwrap()
}

/// Line `line` (among the lines holding `key = value`) set to `VALUES[value]`, or deleted.
fn mutate(text: &str, edits: &[(usize, Option<usize>)]) -> String {
    let mut lines: Vec<Option<String>> = text.lines().map(|l| Some(l.to_string())).collect();
    let assignments: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            l.as_deref()
                .is_some_and(|l| l.contains(" = ") && !l.starts_with('#'))
        })
        .map(|(i, _)| i)
        .collect();
    for &(pick, value) in edits {
        let index = assignments[pick % assignments.len()];
        lines[index] = match (value, &lines[index]) {
            (None, _) | (_, None) => None,
            (Some(v), Some(line)) => {
                let key = line.split(" = ").next().unwrap_or_default();
                Some(format!("{key} = {}", VALUES[v % VALUES.len()]))
            }
        };
    }
    lines.into_iter().flatten().collect::<Vec<_>>().join("\n") + "\n"
}

/// An accepted scenario bounded for a short run: chaos at most 10 s, faults that fit; `None`
/// when its traffic or tick would make even that long.
fn bounded(mut scenario: Scenario) -> Option<Scenario> {
    scenario.run.chaos = scenario.run.chaos.min(Millis(10_000));
    scenario.run.liveness = scenario.run.liveness.min(Millis(5_000));
    let chaos = scenario.run.chaos;
    scenario.faults.retain(|f| f.end() <= chaos);
    (scenario.expected_events() <= 100_000.0 && scenario.run.tick.0 >= 5).then_some(scenario)
}

/// A short run of an accepted scenario: it must not panic.
fn short_run(scenario: Scenario, seed: u64) {
    if let Some(scenario) = bounded(scenario) {
        let output = sim::run(scenario, seed);
        let _ = sim::Summary::build(&output, ORIGIN, "fuzz", 1.0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn mutated_scenarios_are_refused_with_file_and_line_or_run(
        edits in prop::collection::vec((0usize..200, prop::option::weighted(0.9, 0usize..100)), 1..=3),
        seed in 0u64..1000,
    ) {
        let text = mutate(&smoke(), &edits);
        match Scenario::parse(&text, ORIGIN) {
            Err(error) => {
                let message = error.to_string();
                prop_assert!(message.contains(ORIGIN), "no file named: {message}\n{text}");
                prop_assert!(message.contains("line "), "no line named: {message}\n{text}");
            }
            Ok(scenario) => short_run(scenario, seed),
        }
    }
}

/// Accepted mutations are rare among random ones (most are refused), so the determinism check
/// walks the single-line mutations in order and runs this many of the accepted ones.
const DETERMINISM_CASES: usize = 16;

/// `--check-determinism` over the corpus: accepted single-line mutations of smoke.toml (every
/// fourth, so that many keys are touched), each run twice in one process, give one trace hash.
#[test]
fn accepted_mutations_run_twice_give_one_trace() {
    let text = smoke();
    let accepted = (0..200usize)
        .flat_map(|pick| (0..VALUES.len()).map(move |value| (pick, value)))
        .map(|(pick, value)| mutate(&text, &[(pick, Some(value))]))
        .filter_map(|mutated| {
            let scenario = Scenario::parse(&mutated, ORIGIN).ok().and_then(bounded)?;
            Some((mutated, scenario))
        })
        .step_by(4)
        .take(DETERMINISM_CASES);
    let mut ran = 0;
    for (seed, (mutated, scenario)) in (1u64..).zip(accepted) {
        let (first, second) = (sim::run(scenario.clone(), seed), sim::run(scenario, seed));
        let (a, b) = (
            first.simulation.world.trace.borrow(),
            second.simulation.world.trace.borrow(),
        );
        assert_eq!(
            a.hash_hex(),
            b.hash_hex(),
            "seed {seed}: {}\n{mutated}",
            sim::trace_view::first_difference(a.events(), b.events())
                .unwrap_or_else(|| "the kept events agree".into())
        );
        ran += 1;
    }
    assert_eq!(
        ran, DETERMINISM_CASES,
        "the corpus holds enough accepted mutations"
    );
}
