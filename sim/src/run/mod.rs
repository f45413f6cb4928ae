//! One run of the world: build the turmoil simulation from a scenario and a seed, drive the chaos
//! phase (traffic + scheduled faults) and the liveness phase (faults healed, traffic stopped),
//! collect storage for the checkers (`check`).

pub mod operations;

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use crate::faults::inject::apply;
use crate::faults::schedule::fault_schedule;
use crate::hosts::traffic::traffic_client;
use crate::hosts::{
    compactor_host, dfs_host, dfs_host_on, dwd_job_host, dwd_job_host_on, dws_job_host,
    dws_job_host_on, serving_host, tt_host,
};
use crate::scenario::Scenario;
use crate::trace::TraceKind;
use crate::world::Shared;

/// A finished simulation: the world, what storage holds at the end, and what happened.
pub struct Simulation {
    /// The finished world. Kept so a caller about to exit can skip its (slow) teardown.
    pub world: turmoil::Sim<'static>,
    pub shared: Rc<Shared>,
    pub objects: BTreeMap<String, Vec<u8>>,
    /// With dual storage: the final objects of the secondary `dfs-b` (`objects` holds `dfs-a`'s).
    pub secondary_objects: Option<BTreeMap<String, Vec<u8>>>,
    pub simulated_ms: i64,
    pub chaos_end_ms: i64,
    pub faults_injected: Vec<String>,
    pub world_error: Option<String>,
}

/// The simulation alone, without the checkers.
pub fn simulate(scenario: Scenario, seed: u64) -> Simulation {
    simulate_traced(scenario, seed, crate::trace::Trace::default())
}

/// [`simulate`] recording into `trace` (say, one that keeps every event: `--trace full`).
pub fn simulate_traced(scenario: Scenario, seed: u64, trace: crate::trace::Trace) -> Simulation {
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
        for chain in scenario.topology().chains().iter().copied() {
            let s = host(&shared);
            sim.host(chain.storage, move || dfs_host_on(s.clone(), chain.storage));
        }
        let s = host(&shared);
        sim.host("tt", move || tt_host(s.clone()));
        for chain in scenario.topology().chains().iter().copied() {
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
        .any(|op| op.kind == crate::scenario::operations::OperationKind::RemoveOrphanFiles)
    {
        sim.client(
            crate::hosts::ops::OPS_HOST,
            crate::hosts::ops::ops_client(host(&shared)),
        );
    }
    let schedule = fault_schedule(&scenario);
    let mut next_action = 0;
    let operations = crate::scenario::operations::schedule(&scenario);
    let mut next_operation = 0;
    let mut faults_injected = Vec::new();
    let mut world_error = None;
    let record = |shared: &Shared, t_ms: i64, kind: TraceKind, detail: String| {
        shared
            .trace
            .borrow_mut()
            .record(t_ms, "world", kind, detail);
    };
    record(
        &shared,
        0,
        TraceKind::ChaosStart,
        format!("seed={seed} scenario={}", scenario.name),
    );
    let mut liveness_started = false;
    loop {
        let now_ms = sim.elapsed().as_millis() as i64;
        while next_action < schedule.len() && schedule[next_action].0 <= now_ms {
            let (_, action) = &schedule[next_action];
            apply(&mut sim, &shared, action);
            let detail = action.to_string();
            record(&shared, now_ms, action.trace_kind(), detail.clone());
            if action.starts_fault() {
                faults_injected.push(format!("{detail} at {:.1}s", now_ms as f64 / 1e3));
            }
            next_action += 1;
        }
        while next_operation < operations.len() && operations[next_operation].at.0 <= now_ms {
            let operation = &operations[next_operation];
            let detail = crate::run::operations::apply(&mut sim, &shared, operation);
            record(
                &shared,
                now_ms,
                crate::run::operations::trace_kind(operation),
                detail,
            );
            next_operation += 1;
        }
        if !liveness_started && now_ms >= chaos_end_ms {
            liveness_started = true;
            shared.traffic_stopped.set(true);
            record(
                &shared,
                now_ms,
                TraceKind::LivenessStart,
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
    record(&shared, simulated_ms, TraceKind::RunEnd, String::new());
    shared.dump_requested.set(true);
    let chains = scenario.topology().chains();
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
    Simulation {
        world: sim,
        shared,
        objects,
        secondary_objects,
        simulated_ms,
        chaos_end_ms,
        faults_injected,
        world_error,
    }
}
