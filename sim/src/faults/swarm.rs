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
}
