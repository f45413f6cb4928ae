//! Swarm testing (FoundationDB/TigerBeetle style): each seed also draws the warehouse's knobs and
//! its fault mix, so a sweep explores configurations as well as schedules. The draw depends on the
//! seed alone, so `--swarm --seed N` reproduces it.

use rand::Rng;
use rand::seq::IndexedRandom;

use crate::faults::random::random_schedule;
use crate::scenario::{Millis, Scenario};
use crate::world::seed::SeedTree;

/// How many draws a seed gets before it falls back to the scenario's own knobs: a draw the
/// scenario's validation refuses is drawn again (from a seed derived from the run's), never run.
const DRAWS_MAX: u64 = 16;

/// `base` with knobs and faults drawn from `seed`, and a line per drawn knob. The draw is
/// validated as a scenario file would be, so a swarm run never runs a configuration that reading
/// it would refuse (a compaction trigger above the stop trigger, say). Its SLA checkers judge
/// with `[sla] excuse_faults = true`: time the drawn faults take away is not held against the
/// warehouse (see `check::sla`); the safety checkers are never relaxed.
pub fn swarm(base: &Scenario, seed: u64) -> (Scenario, Vec<String>) {
    let seeds = SeedTree::new(seed);
    let mut refused = Vec::new();
    for attempt in 0..DRAWS_MAX {
        let tree = if attempt == 0 {
            seeds
        } else {
            SeedTree::new(seeds.derive_u64(&format!("swarm/redraw/{attempt}")))
        };
        let scenario = draw(base, &tree);
        match scenario.validate() {
            Ok(()) => {
                let mut knobs = knob_lines(&scenario);
                if !refused.is_empty() {
                    knobs.push(format!(
                        "redrawn {} times ({})",
                        refused.len(),
                        refused.join("; ")
                    ));
                }
                return (scenario, knobs);
            }
            Err(why) => refused.push(why),
        }
    }
    // No valid draw: the scenario's own knobs (valid: it was read) and no drawn faults.
    let mut scenario = base.clone();
    scenario.sla.excuse_faults = true;
    let mut knobs = knob_lines(&scenario);
    knobs.push(format!(
        "no valid draw in {DRAWS_MAX} tries, ran the scenario's own knobs"
    ));
    (scenario, knobs)
}

/// One draw of the knobs and faults from `seeds`, not yet validated.
fn draw(base: &Scenario, seeds: &SeedTree) -> Scenario {
    let mut rng = seeds.fork("swarm/knobs");
    let mut scenario = base.clone();
    // Each bucket has one writer subtask, so a table has at least `parallelism.default` buckets
    // (validation refuses fewer): a scenario at parallelism 64 draws its other knobs instead of
    // falling back to its own. At parallelism 1 the draws are as they were.
    let writers = scenario.jobs.parallelism;
    scenario.dwd.bucket = (*[1, 2, 4, 8].choose(&mut rng).expect("non-empty")).max(writers);
    scenario.dws.bucket = (*[1, 2, 4].choose(&mut rng).expect("non-empty")).max(writers);
    scenario.dwd.compaction_trigger = rng.random_range(2..=8);
    scenario.dws.compaction_trigger = rng.random_range(2..=8);
    scenario.jobs.checkpoint_interval = Millis(
        *drainable_intervals_ms(scenario.run.liveness)
            .choose(&mut rng)
            .expect("non-empty"),
    );
    scenario.jobs.max_snapshots_per_poll = *[1, 4, 16].choose(&mut rng).expect("non-empty");
    scenario.tt.fetch_max_records = *[500, 5_000, 20_000].choose(&mut rng).expect("non-empty");
    scenario.tt.segment_records = *[1_000, 10_000, 50_000].choose(&mut rng).expect("non-empty");
    scenario.run.tick = Millis(*[5, 10, 20].choose(&mut rng).expect("non-empty"));
    // Writers stall at the stop trigger; Paimon's default is the compaction trigger + 3. Drawn
    // from the stream's own fork, so the knobs above keep their draws.
    let mut stops = seeds.fork("swarm/stop-trigger");
    for table in [&mut scenario.dwd, &mut scenario.dws] {
        let slack = *[0, 1, 3].choose(&mut stops).expect("non-empty");
        table.stop_trigger = Some(table.compaction_trigger + slack);
    }
    // Faults over the whole topology: the dedicated compactor too, when one runs.
    scenario.faults = random_schedule(
        scenario.topology(),
        seeds,
        scenario.run.chaos,
        (2, 8),
        Millis(10_000),
    );
    scenario.sla.excuse_faults = true;
    scenario
}

/// Checkpoint intervals the swarm draws from.
const INTERVALS_MS: [i64; 5] = [1_000, 2_000, 5_000, 10_000, 20_000];
/// What the liveness phase needs beyond two checkpoint intervals: the jobs' restore after the
/// last fault heals, and the two commits.
const DRAIN_MARGIN_MS: i64 = 10_000;

/// The intervals under which the pipeline can drain in a liveness phase of `liveness`: after the
/// faults heal, the DWD job's next checkpoint commits what it read, and the DWS job's next
/// checkpoint after that commit reads it: two intervals and the margin. A longer interval makes
/// liveness fail on the draw, not on the warehouse (late-conversions' small size, 40 s of
/// liveness, drew 20 s at swarm seed 803: the last DWD snapshot came 1 s after a DWS checkpoint,
/// and the next fell after the run's end). The shortest is always drawable.
fn drainable_intervals_ms(liveness: Millis) -> Vec<i64> {
    let mut drainable: Vec<i64> = INTERVALS_MS
        .into_iter()
        .filter(|interval| 2 * interval + DRAIN_MARGIN_MS <= liveness.0)
        .collect();
    if drainable.is_empty() {
        drainable.push(INTERVALS_MS[0]);
    }
    drainable
}

fn knob_lines(scenario: &Scenario) -> Vec<String> {
    let stop = |t: &crate::scenario::TableSection| {
        t.stop_trigger.map_or("default".into(), |s| s.to_string())
    };
    vec![
        format!(
            "dwd bucket={} compaction-trigger={} stop-trigger={}",
            scenario.dwd.bucket,
            scenario.dwd.compaction_trigger,
            stop(&scenario.dwd)
        ),
        format!(
            "dws bucket={} compaction-trigger={} stop-trigger={}",
            scenario.dws.bucket,
            scenario.dws.compaction_trigger,
            stop(&scenario.dws)
        ),
        format!(
            "execution.checkpointing.interval={} max_snapshots_per_poll={}",
            scenario.jobs.checkpoint_interval, scenario.jobs.max_snapshots_per_poll
        ),
        format!(
            "tt fetch_max_records={} segment_records={}",
            scenario.tt.fetch_max_records, scenario.tt.segment_records
        ),
        format!("tick={}", scenario.run.tick),
        format!("faults={} drawn from the seed", scenario.faults.len()),
    ]
}

/// Why a drawn scenario could not be written as a file.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    #[error("the scenario text does not parse as TOML: {0}")]
    Toml(String),
    #[error(
        "the written scenario does not read back as the drawn one ({0}); this is a dwsim bug, please report it"
    )]
    RoundTrip(String),
}

/// The drawn scenario as an ordinary scenario file: `text` (the file the draw started from) with
/// every knob the swarm draws and the drawn faults written in, so running it with the same seed
/// and without `--swarm` is the same run. Refused unless it reads back as exactly `drawn`.
pub fn emit(text: &str, drawn: &Scenario) -> Result<String, EmitError> {
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| EmitError::Toml(e.to_string()))?;
    let string = |m: Millis| toml::Value::String(m.to_string());
    let int = |n: usize| toml::Value::Integer(n as i64);
    set(&mut table, "run", "tick", string(drawn.run.tick));
    for (name, section) in [("dwd", &drawn.dwd), ("dws", &drawn.dws)] {
        set(&mut table, name, "bucket", int(section.bucket as usize));
        // A written `[dws]` section's changelog producer defaults to another value than an
        // absent section's: always write it.
        let producer = toml::Value::String(section.changelog_producer.paimon_name().into());
        set(&mut table, name, "changelog-producer", producer);
        let trigger = int(section.compaction_trigger);
        set(
            &mut table,
            name,
            "num-sorted-run.compaction-trigger",
            trigger,
        );
        if let Some(stop) = section.stop_trigger {
            set(&mut table, name, "num-sorted-run.stop-trigger", int(stop));
        }
    }
    let interval = string(drawn.jobs.checkpoint_interval);
    set(
        &mut table,
        "jobs",
        "execution.checkpointing.interval",
        interval,
    );
    let per_poll = int(drawn.jobs.max_snapshots_per_poll);
    set(&mut table, "jobs", "max_snapshots_per_poll", per_poll);
    let fetch = int(drawn.tt.fetch_max_records as usize);
    set(&mut table, "tt", "fetch_max_records", fetch);
    let segment = int(drawn.tt.segment_records as usize);
    set(&mut table, "tt", "segment_records", segment);
    let excuse = toml::Value::Boolean(drawn.sla.excuse_faults);
    set(&mut table, "sla", "excuse_faults", excuse);
    let faults = drawn
        .faults
        .iter()
        .map(toml::Value::try_from)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| EmitError::Toml(e.to_string()))?;
    table.insert("faults".into(), toml::Value::Array(faults));
    let emitted = toml::to_string(&table).map_err(|e| EmitError::Toml(e.to_string()))?;
    let reread = Scenario::parse(&emitted, "the emitted scenario")
        .map_err(|e| EmitError::RoundTrip(e.to_string()))?;
    let (reread, drawn) = (format!("{reread:?}"), format!("{drawn:?}"));
    if reread != drawn {
        let at = reread
            .bytes()
            .zip(drawn.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(reread.len().min(drawn.len()));
        let from = at.saturating_sub(80);
        return Err(EmitError::RoundTrip(format!(
            "a drawn value is not written back: `{}` became `{}`",
            drawn.get(from..(at + 40).min(drawn.len())).unwrap_or(""),
            reread.get(from..(at + 40).min(reread.len())).unwrap_or("")
        )));
    }
    Ok(emitted)
}

/// Sets `[section] key = value`, creating the section when the file left it to its defaults.
fn set(table: &mut toml::Table, section: &str, key: &str, value: toml::Value) {
    let entry = table
        .entry(section)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(inner) = entry {
        inner.insert(key.to_string(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_draws_the_same_knobs_and_seeds_differ() {
        let text = "name = \"t\"\n[run]\nchaos = \"60s\"\nliveness = \"30s\"\n[traffic]\nbaseline_events_per_s = 10\n";
        let base = Scenario::parse(text, "t").unwrap();
        assert_eq!(swarm(&base, 5).1, swarm(&base, 5).1);
        let distinct: std::collections::BTreeSet<Vec<String>> =
            (0..10).map(|s| swarm(&base, s).1).collect();
        assert!(distinct.len() > 5, "seeds explore different configurations");
    }

    #[test]
    fn draws_are_valid_with_stop_triggers_and_hit_the_compactor() {
        let text = "name = \"t\"\n[run]\nchaos = \"60s\"\nliveness = \"30s\"\n[traffic]\nbaseline_events_per_s = 10\n[dwd]\nbucket = 4\nwrite-only = true\n\"num-sorted-run.stop-trigger\" = 5\n[jobs.compactor]\n";
        let base = Scenario::parse(text, "t").unwrap();
        let mut compactor_faults = 0;
        for seed in 0..200 {
            let (drawn, _) = swarm(&base, seed);
            drawn
                .validate()
                .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            assert!(drawn.sla.excuse_faults);
            for table in [&drawn.dwd, &drawn.dws] {
                let stop = table.stop_trigger.expect("drawn");
                assert!([0, 1, 3].contains(&(stop - table.compaction_trigger)));
            }
            compactor_faults += drawn
                .faults
                .iter()
                .filter(|f| f.effect.hosts().contains(&crate::topology::COMPACTOR))
                .count();
        }
        assert!(compactor_faults > 0, "the compactor is a fault target too");
    }

    #[test]
    fn the_checkpoint_interval_is_drawn_so_the_liveness_phase_can_drain() {
        let drawn_intervals = |liveness: &str| {
            let text = format!(
                "name = \"t\"\n[run]\nchaos = \"60s\"\nliveness = \"{liveness}\"\n[traffic]\nbaseline_events_per_s = 10\n"
            );
            let base = Scenario::parse(&text, "t").unwrap();
            (0..100)
                .map(|seed| swarm(&base, seed).0.jobs.checkpoint_interval.0)
                .collect::<std::collections::BTreeSet<i64>>()
        };
        assert_eq!(
            drawn_intervals("40s").into_iter().collect::<Vec<_>>(),
            [1_000, 2_000, 5_000, 10_000]
        );
        assert!(drawn_intervals("50s").contains(&20_000));
        assert_eq!(
            drawn_intervals("5s").into_iter().collect::<Vec<_>>(),
            [1_000]
        );
    }

    #[test]
    fn an_emitted_draw_reads_back_as_the_drawn_scenario() {
        let text = "name = \"t\"\n[run]\nchaos = \"60s\"\nliveness = \"30s\"\n[traffic]\nbaseline_events_per_s = 10\n[[faults]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"tt\"\nduration = \"1s\"\n";
        let base = Scenario::parse(text, "t").unwrap();
        for seed in 0..20 {
            let (drawn, _) = swarm(&base, seed);
            let emitted = emit(text, &drawn).unwrap();
            let reread = Scenario::parse(&emitted, "emitted").unwrap();
            assert_eq!(format!("{reread:?}"), format!("{drawn:?}"), "seed {seed}");
        }
    }
}
