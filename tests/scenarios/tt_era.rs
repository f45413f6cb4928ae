//! The TT-era pipeline beside the lakehouse (`[pipeline] architecture`): both architectures pass
//! their checkers over 50 seeds of a small tt-era-smoke, each seed with 0-3 random faults drawn
//! from its own world's hosts (the stores and the batch job included in the TT era); and late
//! conversions: the TT era's real-time rows miss them until the batch correction puts them back,
//! while the lakehouse's DWS misses only the events past its allowed lateness.

use crate::common;

use sim::scenario::{Architecture, Millis, Scenario};
use sim::{SeedTree, Summary, random_schedule};

const SEEDS: u64 = 50;

/// tt-era-smoke at a third of its rate, with 0-3 random faults, in `architecture`.
fn small(architecture: Architecture, seed: u64) -> Scenario {
    let mut scenario = common::scenario("tt-era-smoke");
    scenario.pipeline.architecture = architecture;
    scenario.traffic.baseline_events_per_s /= 3.0;
    scenario.faults.extend(random_schedule(
        scenario.topology(),
        &SeedTree::new(seed),
        scenario.run.chaos,
        (0, 3),
        Millis(10_000),
    ));
    scenario.faults.sort_by_key(|f| f.at.0);
    scenario.validate().expect("the small scenario is valid");
    scenario
}

fn summary(scenario: Scenario, seed: u64) -> Summary {
    Summary::build(
        &sim::run(scenario, seed),
        "scenarios/tt-era-smoke.toml",
        "test",
        1.0,
    )
}

#[test]
fn fifty_seeds_of_both_architectures_pass_their_checkers() {
    let mut failures = Vec::new();
    for architecture in [Architecture::TtEra, Architecture::Lakehouse] {
        for seed in 1..=SEEDS {
            let summary = summary(small(architecture, seed), seed);
            let pipeline = summary
                .pipeline
                .as_ref()
                .expect("figures of a [pipeline] scenario");
            assert_eq!(pipeline.architecture, architecture.name());
            if !summary.passed() {
                failures.push(format!("{architecture} seed {seed}:\n{}", summary.render()));
            }
            if architecture == Architecture::TtEra {
                let tt_era = pipeline.tt_era.as_ref().expect("tt-era figures");
                assert_eq!(tt_era.stores.len(), 3);
                for store in &tt_era.stores {
                    assert_eq!(store.rows_wrong_at_end, 0, "{architecture} seed {seed}");
                    assert_eq!(store.time_to_accurate.rows_never_accurate, 0);
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn tt_era_undercounts_late_conversions_until_the_batch_and_the_lakehouse_only_past_lateness() {
    let scenario = common::scenario("tt-era-smoke");
    let tt_era = summary(scenario.clone(), 1);
    assert!(tt_era.passed(), "{}", tt_era.render());
    let figures = tt_era.pipeline.as_ref().unwrap().tt_era.clone().unwrap();
    let report_store = &figures.stores[0];
    // Before correction the real-time rows miss late conversions (dropped past the allowed
    // lateness, and the last minutes' windows never fire) ...
    assert!(
        report_store.realtime_conversions_under > 0,
        "real-time rows miss late conversions: {report_store:?}"
    );
    assert!(report_store.realtime_rows_wrong > 0);
    assert!(
        report_store.realtime_events_dropped_too_late > 0,
        "the store job counts what it drops past the allowed lateness: {report_store:?}"
    );
    // ... and the batch correction puts every one back.
    assert_eq!(report_store.rows_wrong_at_end, 0);
    assert_eq!(report_store.time_to_accurate.rows_never_accurate, 0);

    let mut lakehouse_scenario = scenario;
    lakehouse_scenario.pipeline.architecture = Architecture::Lakehouse;
    let lakehouse = summary(lakehouse_scenario, 1);
    assert!(lakehouse.passed(), "{}", lakehouse.render());
    // The lakehouse's DWS holds every event within its allowed lateness (exactly-once and
    // event-time pass): only rows with too-late events (in the late-data side table) stay short
    // of the full ground truth, and there are no more of them than too-late events.
    let too_late = lakehouse.lateness.too_late_events;
    let never = lakehouse
        .pipeline
        .as_ref()
        .unwrap()
        .time_to_accurate
        .rows_never_accurate;
    assert!(
        never <= too_late,
        "{never} rows short, {too_late} too-late events"
    );
    assert!(
        lakehouse.lateness.late_events_absorbed > 0,
        "late events within the allowed lateness update their minutes"
    );
}
