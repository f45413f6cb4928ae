//! Swarm seeds in CI (issue 13): 50 swarm seeds of every shipped scenario but backpressure (which
//! fails by design; double11-production runs its seed 1 in CI and its fifty with `--ignored`), each
//! at a small size so CI stays under its time bound, must all PASS. Each
//! seed draws its knobs and faults exactly as `dwsim sweep --swarm` does; a failing seed is named
//! with the command that reproduces it. `DWSIM_SWARM_SEEDS=1..1000` (or one seed, `=21`) runs
//! other seeds: the opt-in long sweep and the reproduction of one failure; `DWSIM_SWARM_OUT=DIR`
//! writes each failing seed's outputs (summary, trace) to `DIR/<scenario>-<seed>`, as `--out` does.

use sim::Summary;
use sim::scenario::overrides::{self, Override};
use sim::scenario::{Millis, Scenario};

/// The seeds CI runs, unless `DWSIM_SWARM_SEEDS` says otherwise.
const SEEDS_DEFAULT: (u64, u64) = (1, 50);

/// `DWSIM_SWARM_SEEDS` as an inclusive range (`A..B` or one seed `N`), else 1..50.
fn seeds() -> (u64, u64) {
    let Ok(text) = std::env::var("DWSIM_SWARM_SEEDS") else {
        return SEEDS_DEFAULT;
    };
    let parse = |s: &str| {
        s.trim()
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("DWSIM_SWARM_SEEDS={text}: expected A..B or N"))
    };
    match text.split_once("..") {
        Some((first, last)) => (parse(first), parse(last)),
        None => (parse(&text), parse(&text)),
    }
}

/// One shipped scenario at a small size: `--set` overrides (so `dwsim run` reproduces a seed
/// exactly), and for a shape `--set` cannot say (spikes are an array of tables) a `reshape`.
struct Case {
    name: &'static str,
    sets: &'static [&'static str],
    reshape: Option<fn(&mut Scenario)>,
}

impl Case {
    fn base(&self) -> Scenario {
        let path = format!(
            "{}/scenarios/{}.toml",
            env!("CARGO_MANIFEST_DIR"),
            self.name
        );
        let text = std::fs::read_to_string(&path).expect("shipped scenario reads");
        let sets = self.overrides();
        let mut scenario = Scenario::parse_with_overrides(&text, &path, &sets)
            .unwrap_or_else(|e| panic!("{}: the small size is refused: {e}", self.name));
        if let Some(reshape) = self.reshape {
            reshape(&mut scenario);
            scenario
                .validate()
                .unwrap_or_else(|e| panic!("{}: the reshaped scenario is invalid: {e}", self.name));
        }
        scenario
    }

    fn overrides(&self) -> Vec<Override> {
        self.sets
            .iter()
            .map(|s| Override::parse(s).expect("override parses"))
            .collect()
    }

    /// How to run `seed` again: with `dwsim run` when `--set` says the whole size, and always
    /// with this test alone.
    fn reproduce(&self, test: &str, seed: u64) -> String {
        let cargo = format!(
            "DWSIM_SWARM_SEEDS={seed} cargo test --release --test scenarios swarm::{test} -- --exact"
        );
        if self.reshape.is_some() {
            return format!("reproduce: {cargo}");
        }
        let flags = overrides::flags(&self.overrides());
        let flags = if flags.is_empty() {
            flags
        } else {
            format!(" {flags}")
        };
        format!(
            "reproduce: dwsim run scenarios/{}.toml{flags} --swarm --seed {seed}\n       or: {cargo}",
            self.name
        )
    }

    /// Every seed of `seeds()` drawn and run as `dwsim sweep --swarm` does; panics naming each
    /// failing seed, its first violation and its reproduction.
    fn all_seeds_pass(&self, test: &str) {
        let (first, last) = seeds();
        self.seeds_pass(test, first, last);
    }

    /// Seeds `first..=last` drawn and run as `all_seeds_pass` runs them.
    fn seeds_pass(&self, test: &str, first: u64, last: u64) {
        let base = self.base();
        let mut failures = Vec::new();
        for seed in first..=last {
            let (drawn, knobs) = sim::swarm(&base, seed);
            let output = sim::run(drawn, seed);
            let label = format!("scenarios/{}.toml (small, swarm)", self.name);
            let summary = Summary::build(&output, &label, "test", 1.0);
            if !summary.passed() {
                if let Ok(dir) = std::env::var("DWSIM_SWARM_OUT") {
                    let dir = std::path::Path::new(&dir).join(format!("{}-{seed}", self.name));
                    sim::write_artefacts(&dir, &output.simulation, &summary, sim::TraceMode::Head)
                        .unwrap_or_else(|e| panic!("DWSIM_SWARM_OUT: {e}"));
                }
                failures.push(format!(
                    "seed {seed} FAILED ({}):\n{}\n{}",
                    knobs.join("; "),
                    summary.render(),
                    self.reproduce(test, seed)
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{}: {} of seeds {first}..{last} failed under swarm:\n{}",
            self.name,
            failures.len(),
            failures.join("\n\n")
        );
    }
}

/// `scenario` with its time scale divided by `divisor`: chaos, spikes, late data and allowed
/// lateness; the liveness phase is `liveness`; the epoch moves so that the first spike starts at
/// the same wall-clock moment (Double-11 midnight). Rate and budgets are scaled as in
/// tests/scenarios/fifty_seeds.rs (a tenth of the rate, a hundredth of the budgets, the
/// overspend SLA ten times: the controller's delays do not shrink with the time scale). The
/// scripted faults go: the swarm draws its own.
fn shrink_time(scenario: &mut Scenario, divisor: i64, liveness: Millis) {
    let scale = |m: Millis| Millis(m.0 / divisor);
    if let Some(spike) = scenario.traffic.spikes.first() {
        scenario.run.epoch_ms += spike.start.0 - spike.start.0 / divisor;
    }
    scenario.run.chaos = scale(scenario.run.chaos);
    scenario.run.liveness = liveness;
    for spike in &mut scenario.traffic.spikes {
        spike.start = scale(spike.start);
        spike.ramp = scale(spike.ramp);
        spike.peak = scale(spike.peak);
        spike.decay = scale(spike.decay);
    }
    let late = &mut scenario.traffic.late_clicks;
    (late.median, late.max) = (scale(late.median), scale(late.max));
    let conversions = &mut scenario.traffic.conversion_delay;
    (conversions.median, conversions.max) = (scale(conversions.median), scale(conversions.max));
    scenario.jobs.allowed_lateness = scale(scenario.jobs.allowed_lateness);
    scenario.traffic.baseline_events_per_s /= 10.0;
    scenario.serving.daily_budget_micros = scenario.serving.daily_budget_micros.map(|b| b / 100);
    scenario.sla.overspend_max_pct = scenario.sla.overspend_max_pct.map(|pct| pct * 10.0);
    scenario.faults.clear();
}

/// The Double-11 scenarios at a twentieth of their time and a tenth of their rate (double11:
/// three minutes of chaos, the 10x spike at midnight 87 s in; double11-production: 72 s, 33 s).
fn small_double11(scenario: &mut Scenario) {
    shrink_time(scenario, 20, Millis(60_000));
}

/// storage-failover at a tenth of its time and rate: the spike 12 s in.
fn small_storage_failover(scenario: &mut Scenario) {
    shrink_time(scenario, 10, Millis(60_000));
}

/// consumer-recovery in 100 s of chaos: the swarm's faults, not its 150 s dws-job crash.
fn small_consumer_recovery(scenario: &mut Scenario) {
    scenario.run.chaos = Millis(100_000);
    scenario.run.liveness = Millis(60_000);
    scenario.faults.clear();
}

/// late-conversions as tests/scenarios/late_data.rs shrinks it: three minutes of light traffic
/// whose conversions still come up to ten minutes late, 30 s allowed lateness.
fn small_late_conversions(scenario: &mut Scenario) {
    scenario.run.chaos = Millis(180_000);
    scenario.run.liveness = Millis(40_000);
    scenario.traffic.baseline_events_per_s = 12.0;
    scenario.traffic.click_share = 0.2;
    scenario.traffic.conversion_share_of_clicks = 0.5;
    scenario.traffic.conversion_delay.median = Millis(40_000);
    scenario.traffic.conversion_delay.max = Millis(600_000);
    scenario.traffic.late_clicks.median = Millis(20_000);
    scenario.traffic.late_clicks.max = Millis(180_000);
    scenario.jobs.allowed_lateness = Millis(30_000);
    // Half the conversions come later than 30 s here: the share is large by design.
    scenario.sla.too_late_share_max = Some(0.1);
    scenario.faults.clear();
}

#[test]
fn fifty_swarm_seeds_of_smoke_pass() {
    Case {
        name: "smoke",
        sets: &["traffic.baseline_events_per_s=100"],
        reshape: None,
    }
    .all_seeds_pass("fifty_swarm_seeds_of_smoke_pass");
}

#[test]
fn fifty_swarm_seeds_of_consumer_recovery_pass() {
    Case {
        name: "consumer-recovery",
        sets: &["traffic.baseline_events_per_s=30"],
        reshape: Some(small_consumer_recovery),
    }
    .all_seeds_pass("fifty_swarm_seeds_of_consumer_recovery_pass");
}

/// dedicated-compaction at 100 events/s, drawn as a swarm.
const DEDICATED_COMPACTION_SMALL: Case = Case {
    name: "dedicated-compaction",
    sets: &["traffic.baseline_events_per_s=100"],
    reshape: None,
};

#[test]
fn fifty_swarm_seeds_of_dedicated_compaction_pass() {
    DEDICATED_COMPACTION_SMALL.all_seeds_pass("fifty_swarm_seeds_of_dedicated_compaction_pass");
}

/// Regression: the compactor's commit followed a writer's snapshot it had not read, and it took
/// its own snapshot as seen. The writer's bucket sat at the stop trigger with no round to compact
/// it, so the DWD job stalled, failed over and stalled again, and 1,544 events never left TT
/// (liveness). The compactor now looks again when another commit came between its read and its own.
#[test]
fn dedicated_compaction_swarm_seed_89_a_compaction_that_skipped_a_writer_snapshot_passes() {
    DEDICATED_COMPACTION_SMALL.seeds_pass(
        "dedicated_compaction_swarm_seed_89_a_compaction_that_skipped_a_writer_snapshot_passes",
        89,
        89,
    );
}

/// storage-failover at a tenth of its time and rate, drawn as a swarm.
const STORAGE_FAILOVER_SMALL: Case = Case {
    name: "storage-failover",
    sets: &[],
    reshape: Some(small_storage_failover),
};

#[test]
fn fifty_swarm_seeds_of_storage_failover_pass() {
    STORAGE_FAILOVER_SMALL.all_seeds_pass("fifty_swarm_seeds_of_storage_failover_pass");
}

/// Regression: the query slot at 2.0 s came before any DWS snapshot existed (the first commit was
/// at 2.59 s), waited for dfs-b behind a partition, and was judged slow; availability now counts
/// no slot issued before the first DWS snapshot on any storage system.
#[test]
fn storage_failover_swarm_seed_311_does_not_judge_a_slot_before_the_first_snapshot() {
    STORAGE_FAILOVER_SMALL.seeds_pass(
        "storage_failover_swarm_seed_311_does_not_judge_a_slot_before_the_first_snapshot",
        311,
        311,
    );
}

/// late-conversions at its small size, drawn as a swarm.
const LATE_CONVERSIONS_SMALL: Case = Case {
    name: "late-conversions",
    sets: &[],
    reshape: Some(small_late_conversions),
};

#[test]
fn fifty_swarm_seeds_of_late_conversions_pass() {
    LATE_CONVERSIONS_SMALL.all_seeds_pass("fifty_swarm_seeds_of_late_conversions_pass");
}

/// Regression: seeds 719, 790 and 803 drew a 20 s checkpoint interval against the 40 s liveness
/// phase, in which the DWD job's last snapshot, then the DWS job's reading of it, cannot both
/// commit (seed 803 failed liveness). The swarm now draws only intervals the liveness phase can
/// drain. Seeds 719 and 790 also ended between the DWS job's two commits of a checkpoint, which
/// the end-of-run check of the late table now allows (tests/scenarios/late_data.rs keeps that run).
#[test]
fn late_conversions_swarm_seeds_719_790_803_draw_an_interval_the_liveness_phase_drains() {
    for seed in [719, 790, 803] {
        LATE_CONVERSIONS_SMALL.seeds_pass(
            "late_conversions_swarm_seeds_719_790_803_draw_an_interval_the_liveness_phase_drains",
            seed,
            seed,
        );
    }
}

#[test]
fn fifty_swarm_seeds_of_tt_era_smoke_pass() {
    Case {
        name: "tt-era-smoke",
        sets: &["traffic.baseline_events_per_s=100"],
        reshape: None,
    }
    .all_seeds_pass("fifty_swarm_seeds_of_tt_era_smoke_pass");
}

#[test]
fn fifty_swarm_seeds_of_double11_pass() {
    Case {
        name: "double11",
        sets: &[],
        reshape: Some(small_double11),
    }
    .all_seeds_pass("fifty_swarm_seeds_of_double11_pass");
}

/// double11-production at 64 buckets and subtasks, drawn as a swarm.
const DOUBLE11_PRODUCTION_AT_64: Case = Case {
    name: "double11-production",
    sets: &[
        "dwd.bucket=64",
        "jobs.parallelism.default=64",
        "dws.bucket=64",
        "jobs.dws-job.parallelism=64",
    ],
    reshape: Some(small_double11),
};

/// Regression: 64 subtasks' connections wrapped the dwd-job host's ephemeral ports onto a TT
/// connection whose goodbye a partition had lost, and turmoil panicked (`SocketPair is already
/// connected`); clients now pool their connections and servers close idle ones.
#[test]
fn double11_production_swarm_seed_1_runs_to_its_verdict() {
    DOUBLE11_PRODUCTION_AT_64.seeds_pass(
        "double11_production_swarm_seed_1_runs_to_its_verdict",
        1,
        1,
    );
}

/// Regression: after two dfs crashes the DWD job's checkpoint retried over its 64 subtasks' dead
/// pooled connections, one per backoff, for 55 s, and 1,004 events failed liveness; a call that
/// fails with a reset now empties the pool.
#[test]
fn double11_production_swarm_seed_98_reconnects_after_a_storage_crash() {
    DOUBLE11_PRODUCTION_AT_64.seeds_pass(
        "double11_production_swarm_seed_98_reconnects_after_a_storage_crash",
        98,
        98,
    );
}

/// At 64 buckets and subtasks rather than the recommended 640/256 (a tenth of the cost): the
/// same represented scale and parallel lanes.
#[test]
#[ignore = "about 3 s a seed: CI runs seed 1 alone (above); run with --ignored"]
fn fifty_swarm_seeds_of_double11_production_pass() {
    DOUBLE11_PRODUCTION_AT_64.all_seeds_pass("fifty_swarm_seeds_of_double11_production_pass");
}
