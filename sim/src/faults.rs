//! Fault schedules drawn from the seed: a few crashes and partitions of the kinds the warehouse
//! claims to tolerate, placed inside the chaos phase so the liveness phase starts healed.

use rand::Rng;

use crate::scenario::{FaultKind, FaultSpec, Millis};
use crate::seed::SeedTree;

/// Links a partition may cut: job ↔ storage, TT ↔ job, serving ↔ storage.
pub const PARTITIONABLE_LINKS: [(&str, &str); 5] = [
    ("dwd-job", "dfs"),
    ("dws-job", "dfs"),
    ("tt", "dwd-job"),
    ("tt", "traffic"),
    ("serving", "dfs"),
];

pub const RANDOM_CRASH_TARGETS: [&str; 5] = ["dwd-job", "dws-job", "tt", "serving", "dfs"];

/// With a dedicated compactor: it may crash too, and lose its link to storage.
pub const RANDOM_CRASH_TARGETS_WITH_COMPACTOR: [&str; 6] =
    ["dwd-job", "dws-job", "tt", "serving", "dfs", "compactor"];
pub const PARTITIONABLE_LINKS_WITH_COMPACTOR: [(&str, &str); 6] = [
    ("dwd-job", "dfs"),
    ("dws-job", "dfs"),
    ("tt", "dwd-job"),
    ("tt", "traffic"),
    ("serving", "dfs"),
    ("compactor", "dfs"),
];

/// Between `min_faults` and `max_faults` faults, each lasting 1–`max_duration`, all ending at
/// least 5 s before `chaos` ends. The same seed always gives the same schedule.
pub fn random_schedule(
    seeds: &SeedTree,
    chaos: Millis,
    min_faults: usize,
    max_faults: usize,
    max_duration: Millis,
) -> Vec<FaultSpec> {
    random_schedule_among(
        seeds,
        chaos,
        (min_faults, max_faults),
        max_duration,
        &RANDOM_CRASH_TARGETS,
        &PARTITIONABLE_LINKS,
    )
}

/// `random_schedule` over the given crash targets and links (e.g. `*_WITH_COMPACTOR` for
/// scenarios that run a dedicated compactor).
pub fn random_schedule_among(
    seeds: &SeedTree,
    chaos: Millis,
    (min_faults, max_faults): (usize, usize),
    max_duration: Millis,
    crash_targets: &[&str],
    links: &[(&str, &str)],
) -> Vec<FaultSpec> {
    let mut rng = seeds.fork("faults/schedule");
    let count = rng.random_range(min_faults..=max_faults.max(min_faults));
    let latest_end = (chaos.0 - 5_000).max(2_000);
    (0..count)
        .map(|_| {
            let duration = rng.random_range(1_000..=max_duration.0.max(1_000));
            let at = rng.random_range(1_000..=(latest_end - duration).max(1_000));
            if rng.random_bool(0.5) {
                let target = crash_targets[rng.random_range(0..crash_targets.len())];
                FaultSpec {
                    at: Millis(at),
                    kind: FaultKind::Crash,
                    target: Some(target.to_string()),
                    between: None,
                    duration: Millis(duration),
                }
            } else {
                let (a, b) = links[rng.random_range(0..links.len())];
                FaultSpec {
                    at: Millis(at),
                    kind: FaultKind::Partition,
                    target: None,
                    between: Some([a.to_string(), b.to_string()]),
                    duration: Millis(duration),
                }
            }
        })
        .collect()
}
