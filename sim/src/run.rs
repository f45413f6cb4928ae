//! One run of the world: build the turmoil simulation from a scenario and a seed, drive the chaos
//! phase (traffic + scheduled faults) and the liveness phase (faults healed, traffic stopped),
//! collect storage, and hand everything to the checkers.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use crate::checkers::{ChainChecks, CheckOutcome, SecondaryChecks, Violation, check_chain};
use crate::files_checker::{self, Deletions};
use crate::hosts::{
    compactor_host, dfs_host, dfs_host_on, dwd_job_host, dwd_job_host_on, dws_job_host,
    dws_job_host_on, serving_host, tt_host,
};
use crate::scenario::{FaultKind, Scenario, parse_skew};
use crate::traffic::traffic_client;
use crate::world::{DiskFault, Shared};

#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    Crash(String),
    Restart(String),
    Partition(String, String),
    Heal(String, String),
    PartitionOneway(String, String),
    HealOneway(String, String),
    /// Link latency up to this many ms; `LatencyEnd` restores the scenario's.
    Latency(String, String, i64),
    LatencyEnd(String, String),
    ClockSkew(String, i64),
    ClockSkewEnd(String),
    Disk(String, DiskFault),
    DiskHeal(String),
}

impl FaultAction {
    /// Whether this action starts a fault (rather than healing one).
    fn starts_fault(&self) -> bool {
        matches!(
            self,
            Self::Crash(_)
                | Self::Partition(..)
                | Self::PartitionOneway(..)
                | Self::Latency(..)
                | Self::ClockSkew(..)
                | Self::Disk(..)
        )
    }
}

/// The scenario's faults as timed actions, sorted by time (ties keep scenario order).
pub fn fault_schedule(scenario: &Scenario) -> Vec<(i64, FaultAction)> {
    let mut actions = Vec::new();
    for fault in &scenario.faults {
        let (start, end) = (fault.at.0, fault.at.0 + fault.duration.0);
        let target = fault.target.clone().unwrap_or_default();
        let [a, b] = fault.between.clone().unwrap_or_default();
        let (begin, heal) = match fault.kind {
            FaultKind::Crash => (
                FaultAction::Crash(target.clone()),
                FaultAction::Restart(target),
            ),
            FaultKind::Partition => (
                FaultAction::Partition(a.clone(), b.clone()),
                FaultAction::Heal(a, b),
            ),
            FaultKind::PartitionOneway => (
                FaultAction::PartitionOneway(a.clone(), b.clone()),
                FaultAction::HealOneway(a, b),
            ),
            FaultKind::Latency => (
                FaultAction::Latency(a.clone(), b.clone(), fault.latency.map_or(0, |m| m.0)),
                FaultAction::LatencyEnd(a, b),
            ),
            FaultKind::ClockSkew => (
                FaultAction::ClockSkew(
                    target.clone(),
                    fault.skew.as_deref().and_then(parse_skew).unwrap_or(0),
                ),
                FaultAction::ClockSkewEnd(target),
            ),
            FaultKind::DiskErrors | FaultKind::DiskSlow | FaultKind::DiskFull => {
                let disk = DiskFault {
                    error_rate: fault.rate.unwrap_or(0.0),
                    full: fault.kind == FaultKind::DiskFull,
                    slow_ms: if fault.kind == FaultKind::DiskSlow {
                        fault.latency.map_or(0, |m| m.0)
                    } else {
                        0
                    },
                };
                (
                    FaultAction::Disk(target.clone(), disk),
                    FaultAction::DiskHeal(target),
                )
            }
        };
        actions.push((start, begin));
        actions.push((end, heal));
    }
    actions.sort_by_key(|(t, _)| *t);
    actions
}

pub struct RunOutput {
    /// The finished world. Kept so a caller about to exit can skip its (slow) teardown.
    pub world: turmoil::Sim<'static>,
    pub shared: Rc<Shared>,
    pub objects: BTreeMap<String, Vec<u8>>,
    /// With dual storage: the final objects of the secondary `dfs-b` (`objects` holds `dfs-a`'s).
    pub secondary_objects: Option<BTreeMap<String, Vec<u8>>>,
    pub checks: CheckOutcome,
    pub simulated_ms: i64,
    pub chaos_end_ms: i64,
    pub faults_injected: Vec<String>,
    pub world_error: Option<String>,
}

/// Runs `scenario` with `seed` to completion and checks it. Deterministic: same inputs, same trace.
pub fn run(scenario: Scenario, seed: u64) -> RunOutput {
    let mut output = simulate(scenario, seed);
    check(&mut output);
    output
}

/// Runs the checkers over a simulated run (fills `output.checks`). With dual storage both
/// chains are checked, each against the ground truth, and every violation names its storage
/// system; freshness is measured as served (from whichever system showed an event first).
pub fn check(output: &mut RunOutput) {
    let shared = output.shared.clone();
    let chaos_end_ms = output.chaos_end_ms;
    let chains = crate::storage::chains(&shared.scenario);
    let primary = check_storage(&shared, chains[0], &mut output.objects, chaos_end_ms, None);
    let Some(secondary_objects) = output.secondary_objects.as_mut() else {
        output.checks = primary.outcome;
        return;
    };
    let secondary = check_storage(
        &shared,
        chains[1],
        secondary_objects,
        chaos_end_ms,
        Some(&primary.visible_at),
    );
    output.checks = merge_chains(chains, primary, secondary);
}

/// The checks of one storage system's chain. The objects its `dfs` deleted are lent from the
/// world's graveyard to the storage dump while the checkers walk the history, then given
/// back, so `objects` stays the final state.
fn check_storage(
    shared: &Shared,
    chain: crate::storage::Chain,
    objects: &mut BTreeMap<String, Vec<u8>>,
    chaos_end_ms: i64,
    other_visible_at: Option<&[i64]>,
) -> ChainChecks {
    let mut graveyard = shared.storage(chain.storage).graveyard.borrow_mut();
    let deleted: Deletions = graveyard
        .iter()
        .filter(|(path, _)| !objects.contains_key(*path))
        .map(|(path, tombstone)| (path.clone(), tombstone.deleted_ms))
        .collect();
    let (retained, unreferenced) = files_checker::retained_metadata_check(objects, &deleted);
    for path in deleted.keys() {
        if let Some(tombstone) = graveyard.get_mut(path) {
            objects.insert(path.clone(), std::mem::take(&mut tombstone.bytes));
        }
    }
    let mut checks = check_chain(shared, chain, objects, chaos_end_ms, other_visible_at);
    let (dwd, dws, mut violations) =
        files_checker::files_check_on(shared, chain.storage, objects, &deleted);
    for path in deleted.keys() {
        if let (Some(tombstone), Some(bytes)) = (graveyard.get_mut(path), objects.remove(path)) {
            tombstone.bytes = bytes;
        }
    }
    drop(graveyard);
    violations.splice(0..0, retained);
    if chain.storage != crate::storage::SECONDARY.storage {
        violations.extend(files_checker::expired_snapshot_check(shared));
    }
    let files = &mut checks.outcome.files;
    files.dwd_over_run = files_checker::TableFiles {
        unreferenced_files_at_end: unreferenced[0],
        ..dwd
    };
    files.dws_over_run = files_checker::TableFiles {
        unreferenced_files_at_end: unreferenced[1],
        ..dws
    };
    files.violations = violations;
    checks
}

/// Names the storage system in a violation's place.
fn on_storage(storage: &str, mut violation: Violation) -> Violation {
    violation.at = format!("{storage}: {}", violation.at);
    violation
}

/// One outcome of both chains: the primary's figures, the served freshness, the secondary's
/// figures in `secondary`, and every violation of either, each naming its storage system.
fn merge_chains(
    chains: &[crate::storage::Chain],
    primary: ChainChecks,
    secondary: ChainChecks,
) -> CheckOutcome {
    let (a, b) = (chains[0].storage, chains[1].storage);
    let mut outcome = primary.outcome;
    let second = secondary.outcome;
    let mut served = secondary
        .served_freshness
        .unwrap_or_else(|| outcome.freshness.clone());
    // Served freshness judges the SLA; each chain's own liveness still has to hold.
    served.violations.retain(|v| v.checker != "liveness");
    for (storage, own) in [(a, &outcome.freshness), (b, &second.freshness)] {
        served.violations.extend(
            own.violations
                .iter()
                .filter(|v| v.checker == "liveness")
                .cloned()
                .map(|v| on_storage(storage, v)),
        );
    }
    let mut exactly_once: Vec<Violation> = std::mem::take(&mut outcome.exactly_once.violations)
        .into_iter()
        .map(|v| on_storage(a, v))
        .collect();
    exactly_once.extend(
        second
            .exactly_once
            .violations
            .iter()
            .cloned()
            .map(|v| on_storage(b, v)),
    );
    outcome.exactly_once.violations = exactly_once;
    let mut files: Vec<Violation> = std::mem::take(&mut outcome.files.violations)
        .into_iter()
        .map(|v| {
            if v.checker == files_checker::EXPIRED_SNAPSHOT {
                v
            } else {
                on_storage(a, v)
            }
        })
        .collect();
    files.extend(
        second
            .files
            .violations
            .iter()
            .cloned()
            .map(|v| on_storage(b, v)),
    );
    outcome.files.violations = files;
    outcome.secondary = Some(Box::new(SecondaryChecks {
        storage: b.to_string(),
        primary_freshness: outcome.freshness.clone(),
        outcome: second,
    }));
    outcome.freshness = served;
    outcome
}

/// The simulation alone, without the checkers (`checks` left empty).
pub fn simulate(scenario: Scenario, seed: u64) -> RunOutput {
    simulate_traced(scenario, seed, crate::trace::Trace::default())
}

/// [`simulate`] recording into `trace` (say, one that keeps every event: `--trace full`).
pub fn simulate_traced(scenario: Scenario, seed: u64, trace: crate::trace::Trace) -> RunOutput {
    let shared = Shared::new(scenario, seed);
    *shared.trace.borrow_mut() = trace;
    let scenario = shared.scenario.clone();
    let chaos_end_ms = scenario.run.chaos.0;
    let end_ms = chaos_end_ms + scenario.run.liveness.0;
    let mut builder = turmoil::Builder::new();
    builder
        .rng_seed(shared.seeds.derive_u64("turmoil"))
        .epoch(SystemTime::UNIX_EPOCH + Duration::from_millis(scenario.run.epoch_ms as u64))
        .tick_duration(Duration::from_millis(scenario.run.tick.0 as u64))
        .simulation_duration(Duration::from_millis((end_ms + 600_000) as u64))
        .min_message_latency(Duration::from_millis(
            scenario.run.network_latency_min.0 as u64,
        ))
        .max_message_latency(Duration::from_millis(
            scenario.run.network_latency_max.0 as u64,
        ));
    let mut sim = builder.build();
    let host = |shared: &Rc<Shared>| shared.clone();
    if scenario.storage.dual {
        // Two storage systems, each with its own chain (see `storage`); the compactor is
        // rejected with dual storage by scenario validation.
        for chain in crate::storage::chains(&scenario).iter().copied() {
            let s = host(&shared);
            sim.host(chain.storage, move || dfs_host_on(s.clone(), chain.storage));
        }
        let s = host(&shared);
        sim.host("tt", move || tt_host(s.clone()));
        for chain in crate::storage::chains(&scenario).iter().copied() {
            let s = host(&shared);
            sim.host(chain.dwd_job, move || dwd_job_host_on(s.clone(), chain));
            let s = host(&shared);
            sim.host(chain.dws_job, move || dws_job_host_on(s.clone(), chain));
        }
        let s = host(&shared);
        sim.host("serving", move || serving_host(s.clone()));
        sim.client("traffic", traffic_client(host(&shared)));
    } else {
        let s = host(&shared);
        sim.host("dfs", move || dfs_host(s.clone()));
        let s = host(&shared);
        sim.host("tt", move || tt_host(s.clone()));
        let s = host(&shared);
        sim.host("dwd-job", move || dwd_job_host(s.clone()));
        let s = host(&shared);
        sim.host("dws-job", move || dws_job_host(s.clone()));
        let s = host(&shared);
        sim.host("serving", move || serving_host(s.clone()));
        sim.client("traffic", traffic_client(host(&shared)));
        // Only scenarios with a dedicated compactor get the host, so others replay unchanged.
        if scenario.jobs.compactor.is_some() {
            let s = host(&shared);
            sim.host("compactor", move || compactor_host(s.clone()));
        }
    }
    if scenario
        .operations
        .iter()
        .any(|op| op.kind == crate::operations::OperationKind::RemoveOrphanFiles)
    {
        sim.client(
            crate::operations::OPS_HOST,
            crate::operations::ops_client(host(&shared)),
        );
    }
    let schedule = fault_schedule(&scenario);
    let mut next_action = 0;
    let operations = crate::operations::schedule(&scenario);
    let mut next_operation = 0;
    let mut faults_injected = Vec::new();
    let mut world_error = None;
    let record = |shared: &Shared, t_ms: i64, kind: &str, detail: String| {
        shared
            .trace
            .borrow_mut()
            .record(t_ms, "world", kind, detail);
    };
    record(
        &shared,
        0,
        "chaos-start",
        format!("seed={seed} scenario={}", scenario.name),
    );
    let mut liveness_started = false;
    loop {
        let now_ms = sim.elapsed().as_millis() as i64;
        while next_action < schedule.len() && schedule[next_action].0 <= now_ms {
            let (_, action) = &schedule[next_action];
            apply(&mut sim, &shared, action);
            let detail = format!("{action:?}");
            record(&shared, now_ms, fault_kind_name(action), detail.clone());
            if action.starts_fault() {
                faults_injected.push(format!("{detail} at {:.1}s", now_ms as f64 / 1e3));
            }
            next_action += 1;
        }
        while next_operation < operations.len() && operations[next_operation].at.0 <= now_ms {
            let operation = &operations[next_operation];
            let detail = crate::operations::apply(&mut sim, &shared, operation);
            record(&shared, now_ms, operation.kind_name(), detail);
            next_operation += 1;
        }
        if !liveness_started && now_ms >= chaos_end_ms {
            liveness_started = true;
            shared.traffic_stopped.set(true);
            record(
                &shared,
                now_ms,
                "liveness-start",
                "faults healed, traffic stopped".into(),
            );
        }
        if now_ms >= end_ms {
            break;
        }
        if let Err(error) = sim.step() {
            world_error = Some(error.to_string());
            break;
        }
    }
    let simulated_ms = sim.elapsed().as_millis() as i64;
    record(&shared, simulated_ms, "run-end", String::new());
    shared.dump_requested.set(true);
    let chains = crate::storage::chains(&scenario);
    let all_dumped = || {
        chains
            .iter()
            .all(|c| shared.storage(c.storage).dump.borrow().is_some())
    };
    for _ in 0..10_000 {
        if all_dumped() || world_error.is_some() {
            break;
        }
        if let Err(error) = sim.step() {
            world_error = Some(error.to_string());
        }
    }
    let objects = shared.dump.borrow_mut().take().unwrap_or_default();
    let secondary_objects = scenario.storage.dual.then(|| {
        shared
            .secondary
            .dump
            .borrow_mut()
            .take()
            .unwrap_or_default()
    });
    RunOutput {
        world: sim,
        shared,
        objects,
        secondary_objects,
        checks: CheckOutcome::default(),
        simulated_ms,
        chaos_end_ms,
        faults_injected,
        world_error,
    }
}

fn fault_kind_name(action: &FaultAction) -> &'static str {
    match action {
        FaultAction::Crash(_) => "crash",
        FaultAction::Restart(_) => "restart",
        FaultAction::Partition(..) => "partition",
        FaultAction::Heal(..) => "heal",
        FaultAction::PartitionOneway(..) => "partition-oneway",
        FaultAction::HealOneway(..) => "heal-oneway",
        FaultAction::Latency(..) => "latency",
        FaultAction::LatencyEnd(..) => "latency-end",
        FaultAction::ClockSkew(..) => "clock-skew",
        FaultAction::ClockSkewEnd(..) => "clock-skew-end",
        FaultAction::Disk(..) => "disk-fault",
        FaultAction::DiskHeal(..) => "disk-heal",
    }
}

fn apply(sim: &mut turmoil::Sim<'_>, shared: &Shared, action: &FaultAction) {
    let default_max_latency =
        Duration::from_millis(shared.scenario.run.network_latency_max.0 as u64);
    match action {
        FaultAction::Crash(host) => sim.crash(host.as_str()),
        FaultAction::Restart(host) => sim.bounce(host.as_str()),
        FaultAction::Partition(a, b) => sim.partition(a.as_str(), b.as_str()),
        FaultAction::Heal(a, b) => sim.repair(a.as_str(), b.as_str()),
        FaultAction::PartitionOneway(from, to) => sim.partition_oneway(from.as_str(), to.as_str()),
        FaultAction::HealOneway(from, to) => sim.repair_oneway(from.as_str(), to.as_str()),
        FaultAction::Latency(a, b, ms) => sim.set_link_max_message_latency(
            a.as_str(),
            b.as_str(),
            Duration::from_millis(*ms as u64).max(default_max_latency),
        ),
        FaultAction::LatencyEnd(a, b) => {
            sim.set_link_max_message_latency(a.as_str(), b.as_str(), default_max_latency)
        }
        FaultAction::ClockSkew(host, ms) => {
            shared.clock_skews.borrow_mut().insert(host.clone(), *ms);
        }
        FaultAction::ClockSkewEnd(host) => {
            shared.clock_skews.borrow_mut().remove(host);
        }
        FaultAction::Disk(host, fault) => {
            shared.disk_faults.borrow_mut().insert(host.clone(), *fault);
        }
        FaultAction::DiskHeal(host) => {
            shared.disk_faults.borrow_mut().remove(host);
        }
    }
}
