//! Swarm testing (FoundationDB/TigerBeetle style): each seed also draws the warehouse's knobs and
//! its fault mix, so a sweep explores configurations as well as schedules. The draw depends on the
//! seed alone, so `--swarm --seed N` reproduces it.

use rand::Rng;
use rand::seq::IndexedRandom;

use crate::faults::random::random_schedule;
use crate::scenario::{Millis, Scenario};
use crate::topology::Topology;
use crate::world::seed::SeedTree;

/// `base` with knobs and faults drawn from `seed`, and a line per drawn knob.
pub fn swarm(base: &Scenario, seed: u64) -> (Scenario, Vec<String>) {
    let seeds = SeedTree::new(seed);
    let mut rng = seeds.fork("swarm/knobs");
    let mut scenario = base.clone();
    scenario.dwd.bucket = *[1, 2, 4, 8].choose(&mut rng).expect("non-empty");
    scenario.dws.bucket = *[1, 2, 4].choose(&mut rng).expect("non-empty");
    scenario.dwd.compaction_trigger = rng.random_range(2..=8);
    scenario.dws.compaction_trigger = rng.random_range(2..=8);
    scenario.jobs.checkpoint_interval = Millis(
        *[1_000, 2_000, 5_000, 10_000, 20_000]
            .choose(&mut rng)
            .expect("non-empty"),
    );
    scenario.jobs.max_snapshots_per_poll = *[1, 4, 16].choose(&mut rng).expect("non-empty");
    scenario.tt.fetch_max_records = *[500, 5_000, 20_000].choose(&mut rng).expect("non-empty");
    scenario.tt.segment_records = *[1_000, 10_000, 50_000].choose(&mut rng).expect("non-empty");
    scenario.run.tick = Millis(*[5, 10, 20].choose(&mut rng).expect("non-empty"));
    // With one storage system the draw never hits a dedicated compactor (as it always drew).
    let topology = Topology {
        compactor: false,
        ..scenario.topology()
    };
    scenario.faults = random_schedule(topology, &seeds, scenario.run.chaos, (2, 8), Millis(10_000));
    let knobs = vec![
        format!(
            "dwd bucket={} compaction-trigger={}",
            scenario.dwd.bucket, scenario.dwd.compaction_trigger
        ),
        format!(
            "dws bucket={} compaction-trigger={}",
            scenario.dws.bucket, scenario.dws.compaction_trigger
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
    ];
    (scenario, knobs)
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
