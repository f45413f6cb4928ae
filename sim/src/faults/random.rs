//! Fault schedules drawn from the seed: faults of the kinds the warehouse claims to tolerate,
//! placed inside the chaos phase so the liveness phase starts healed. `random_schedule` draws
//! crashes and partitions only; `random_catalogue_schedule` draws from the whole catalogue
//! (one-way partitions, latency spikes, clock skew, disk errors, slow and full disks) by weight,
//! swarm-style, so different seeds explore different fault mixes.

use rand::Rng;

use crate::scenario::{FaultEffect, FaultKind, FaultSpec, Millis, SkewMillis};
use crate::topology::Topology;
use crate::world::seed::SeedTree;

/// Between `min_faults` and `max_faults` crashes and partitions over `topology`'s hosts and links,
/// each lasting 1–`max_duration`, all ending at least 5 s before `chaos` ends. The same seed
/// always gives the same schedule.
pub fn random_schedule(
    topology: Topology,
    seeds: &SeedTree,
    chaos: Millis,
    (min_faults, max_faults): (usize, usize),
    max_duration: Millis,
) -> Vec<FaultSpec> {
    let targets = Targets::of(topology);
    let mut rng = seeds.fork("faults/schedule");
    let count = rng.random_range(min_faults..=max_faults.max(min_faults));
    let latest_end = (chaos.0 - 5_000).max(2_000);
    (0..count)
        .map(|_| {
            let duration = rng.random_range(1_000..=max_duration.0.max(1_000));
            let at = rng.random_range(1_000..=(latest_end - duration).max(1_000));
            let kind = if rng.random_bool(0.5) {
                FaultKind::Crash
            } else {
                FaultKind::Partition
            };
            draw_fault(&mut rng, kind, Millis(at), Millis(duration), &targets)
        })
        .collect()
}

/// Like [`random_schedule`], with each fault's kind drawn from `weights` (kind, weight), so
/// different seeds explore different fault mixes.
pub fn random_catalogue_schedule(
    topology: Topology,
    seeds: &SeedTree,
    chaos: Millis,
    (min_faults, max_faults): (usize, usize),
    max_duration: Millis,
    weights: &[(FaultKind, u32)],
) -> Vec<FaultSpec> {
    catalogue_schedule_among(
        seeds,
        chaos,
        (min_faults, max_faults),
        max_duration,
        weights,
        &Targets::of(topology),
    )
}

fn catalogue_schedule_among(
    seeds: &SeedTree,
    chaos: Millis,
    (min_faults, max_faults): (usize, usize),
    max_duration: Millis,
    weights: &[(FaultKind, u32)],
    targets: &Targets,
) -> Vec<FaultSpec> {
    let mut rng = seeds.fork("faults/catalogue");
    let total: u32 = weights.iter().map(|(_, w)| w).sum();
    if total == 0 {
        return Vec::new();
    }
    let count = rng.random_range(min_faults..=max_faults.max(min_faults));
    let latest_end = (chaos.0 - 5_000).max(2_000);
    (0..count)
        .map(|_| {
            let duration = rng.random_range(1_000..=max_duration.0.max(1_000));
            let at = rng.random_range(1_000..=(latest_end - duration).max(1_000));
            let mut pick = rng.random_range(0..total);
            let kind = weights
                .iter()
                .find(|(_, w)| {
                    if pick < *w {
                        return true;
                    }
                    pick -= w;
                    false
                })
                .map_or(FaultKind::Crash, |(kind, _)| *kind);
            draw_fault(&mut rng, kind, Millis(at), Millis(duration), targets)
        })
        .collect()
}

/// Every kind of the catalogue with equal weight.
pub fn whole_catalogue() -> Vec<(FaultKind, u32)> {
    FaultKind::ALL.iter().map(|&kind| (kind, 1)).collect()
}

/// Hosts a crash may hit, links a partition may cut, clocks to skew and disks to fail, in the
/// topology's draw order.
struct Targets {
    crash: Vec<&'static str>,
    links: Vec<(&'static str, &'static str)>,
    skewable: Vec<&'static str>,
    disks: Vec<&'static str>,
}

impl Targets {
    fn of(topology: Topology) -> Self {
        Self {
            crash: topology.crashable(),
            links: topology.links(),
            skewable: topology.skewable(),
            disks: topology.disks(),
        }
    }
}

/// One fault of `kind` with its target or link (from `targets`) and parameters drawn from `rng`.
fn draw_fault(
    rng: &mut impl Rng,
    kind: FaultKind,
    at: Millis,
    duration: Millis,
    targets: &Targets,
) -> FaultSpec {
    let pick = |rng: &mut dyn rand::RngCore, hosts: &[&str]| {
        hosts[rng.random_range(0..hosts.len())].to_string()
    };
    // The draws happen in this order for every kind: target or link first, then parameters.
    let effect = match kind {
        FaultKind::Crash => FaultEffect::Crash {
            target: pick(rng, &targets.crash),
        },
        FaultKind::Partition | FaultKind::PartitionOneway | FaultKind::Latency => {
            let (a, b) = targets.links[rng.random_range(0..targets.links.len())];
            let (a, b) = if kind == FaultKind::PartitionOneway && rng.random_bool(0.5) {
                (b, a)
            } else {
                (a, b)
            };
            let between = [a.to_string(), b.to_string()];
            match kind {
                FaultKind::Partition => FaultEffect::Partition { between },
                FaultKind::PartitionOneway => FaultEffect::PartitionOneway { between },
                _ => FaultEffect::Latency {
                    between,
                    latency: Millis(rng.random_range(100..=3_000)),
                },
            }
        }
        FaultKind::ClockSkew => {
            let target = pick(rng, &targets.skewable);
            let skew_s = rng.random_range(-120..=120i64);
            FaultEffect::ClockSkew {
                target,
                skew: SkewMillis(skew_s * 1_000),
            }
        }
        FaultKind::DiskErrors | FaultKind::DiskSlow | FaultKind::DiskFull => {
            let target = pick(rng, &targets.disks);
            match kind {
                FaultKind::DiskErrors => FaultEffect::DiskErrors {
                    target,
                    rate: rng.random_range(0.01..=0.3),
                },
                FaultKind::DiskSlow => FaultEffect::DiskSlow {
                    target,
                    latency: Millis(rng.random_range(5..=500)),
                },
                _ => FaultEffect::DiskFull { target },
            }
        }
    };
    FaultSpec {
        at,
        duration,
        effect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn dual_storage_schedules_hit_the_dual_hosts_and_validate() {
        let mut scenario = Scenario::parse(
            "name = \"t\"\n[run]\nchaos = \"90s\"\nliveness = \"30s\"\n[traffic]\nbaseline_events_per_s = 10\n[storage]\ndual = true\n",
            "t.toml",
        )
        .unwrap();
        let mut hosts = std::collections::BTreeSet::new();
        for seed in 1..=40u64 {
            let seeds = SeedTree::new(seed);
            let topology = scenario.topology();
            let chaos = scenario.run.chaos;
            let mut faults = random_catalogue_schedule(
                topology,
                &seeds,
                chaos,
                (3, 6),
                Millis(8_000),
                &whole_catalogue(),
            );
            faults.extend(random_schedule(
                topology,
                &seeds,
                chaos,
                (2, 4),
                Millis(8_000),
            ));
            for fault in &faults {
                hosts.extend(fault.effect.hosts().into_iter().map(str::to_string));
            }
            scenario.faults = faults;
            scenario
                .validate()
                .unwrap_or_else(|e| panic!("seed {seed} drew an invalid fault: {e}"));
        }
        assert!(!hosts.contains("dfs"), "{hosts:?}");
        for host in ["dfs-a", "dfs-b", "dwd-job-b", "dws-job-b"] {
            assert!(hosts.contains(host), "{host} never drawn: {hosts:?}");
        }
    }

    #[test]
    fn catalogue_schedules_are_valid_reproducible_and_varied() {
        let mut kinds = std::collections::BTreeSet::new();
        for seed in 1..=40u64 {
            let draw = || {
                random_catalogue_schedule(
                    Topology {
                        dual: false,
                        compactor: false,
                        tt_era_stores: 0,
                    },
                    &SeedTree::new(seed),
                    Millis(90_000),
                    (3, 6),
                    Millis(8_000),
                    &whole_catalogue(),
                )
            };
            let faults = draw();
            assert_eq!(
                format!("{faults:?}"),
                format!("{:?}", draw()),
                "seed {seed}"
            );
            let mut scenario = Scenario::parse(
                "name = \"t\"\n[run]\nchaos = \"90s\"\nliveness = \"30s\"\n[traffic]\nbaseline_events_per_s = 10\n",
                "t.toml",
            )
            .unwrap();
            scenario.faults = faults.clone();
            scenario
                .validate()
                .unwrap_or_else(|e| panic!("seed {seed} drew an invalid fault: {e}"));
            kinds.extend(faults.iter().map(|f| f.kind().name()));
        }
        assert_eq!(
            kinds.len(),
            FaultKind::ALL.len(),
            "40 seeds cover every kind: {kinds:?}"
        );
    }
}
