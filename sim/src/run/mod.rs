//! One run of the world: build the turmoil simulation from a scenario and a seed, drive the chaos
//! phase (traffic + scheduled faults) and the liveness phase (faults healed, traffic stopped),
//! collect storage for the checkers (`check`).

pub mod operations;

use std::rc::Rc;
use std::time::{Duration, SystemTime};

use crate::faults::inject::apply;
use crate::faults::schedule::fault_schedule;
use crate::scenario::Scenario;
use crate::topology::WORLD;
use crate::trace::TraceKind;
use crate::world::{StoredObjects, World};

/// A finished simulation: the world, what storage holds at the end, and what happened.
pub struct Simulation {
    pub world: Rc<World>,
    pub objects: StoredObjects,
    /// With dual storage: the final objects of the secondary `dfs-b` (`objects` holds `dfs-a`'s).
    pub secondary_objects: Option<StoredObjects>,
    pub simulated_ms: i64,
    pub chaos_end_ms: i64,
    pub faults_injected: Vec<String>,
    pub world_error: Option<String>,
    /// How many turmoil hosts and clients the world ran (`dwsim bench`'s bare reference runs as
    /// many).
    pub hosts: usize,
}

/// The simulation alone, without the checkers.
pub fn simulate(scenario: Scenario, seed: u64) -> Simulation {
    simulate_traced(scenario, seed, crate::trace::Trace::default())
}

/// [`simulate`] recording into `trace` (say, one that keeps every event: `--trace full`).
pub fn simulate_traced(scenario: Scenario, seed: u64, trace: crate::trace::Trace) -> Simulation {
    let world = World::new(scenario, seed);
    *world.trace.borrow_mut() = trace;
    let scenario = world.scenario.clone();
    let chaos_end_ms = scenario.run.chaos.0;
    let end_ms = chaos_end_ms + scenario.run.liveness.0;
    let mut builder = turmoil::Builder::new();
    builder
        .rng_seed(world.seeds.derive_u64("turmoil"))
        .epoch(SystemTime::UNIX_EPOCH + Duration::from_millis(scenario.run.epoch_ms as u64))
        .tick_duration(Duration::from_millis(scenario.run.tick.0 as u64))
        .simulation_duration(Duration::from_millis((end_ms + 600_000) as u64))
        .min_message_latency(Duration::from_millis(
            scenario.run.network_latency_min.0 as u64,
        ))
        .max_message_latency(Duration::from_millis(
            scenario.run.network_latency_max.0 as u64,
        ))
        .tcp_capacity(tcp_capacity(&scenario));
    let mut sim = builder.build();
    let hosts = crate::hosts::register(&mut sim, &world);
    let schedule = fault_schedule(&scenario);
    let mut next_action = 0;
    let operations = crate::scenario::operations::schedule(&scenario.operations);
    let mut next_operation = 0;
    let mut faults_injected = Vec::new();
    let mut world_error = None;
    let record = |world: &World, t_ms: i64, kind: TraceKind, detail: String| {
        world.trace.borrow_mut().record(t_ms, WORLD, kind, detail);
    };
    record(
        &world,
        0,
        TraceKind::ChaosStart,
        format!("seed={seed} scenario={}", scenario.name),
    );
    let mut liveness_started = false;
    loop {
        let now_ms = sim.elapsed().as_millis() as i64;
        while next_action < schedule.len() && schedule[next_action].0 <= now_ms {
            let (_, action) = &schedule[next_action];
            apply(&mut sim, &world, action);
            let detail = action.to_string();
            record(&world, now_ms, action.trace_kind(), detail.clone());
            if action.starts_fault() {
                faults_injected.push(format!("{detail} at {:.1}s", now_ms as f64 / 1e3));
            }
            next_action += 1;
        }
        while next_operation < operations.len() && operations[next_operation].at.0 <= now_ms {
            let operation = &operations[next_operation];
            let detail = crate::run::operations::apply(&mut sim, &world, operation);
            record(
                &world,
                now_ms,
                crate::run::operations::trace_kind(operation),
                detail,
            );
            next_operation += 1;
        }
        if !liveness_started && now_ms >= chaos_end_ms {
            liveness_started = true;
            world.control.traffic_stopped.set(true);
            record(
                &world,
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
    record(&world, simulated_ms, TraceKind::RunEnd, String::new());
    world.control.dump_requested.set(true);
    let chains = scenario.topology().chains();
    let all_dumped = || {
        chains
            .iter()
            .all(|c| world.storage(*c).dump.borrow().is_some())
    };
    for _ in 0..10_000 {
        if all_dumped() || world_error.is_some() {
            break;
        }
        if let Err(error) = sim.step() {
            world_error = Some(error.to_string());
        }
    }
    let objects = world.observed.storage[0]
        .dump
        .borrow_mut()
        .take()
        .unwrap_or_default();
    let secondary_objects = scenario.storage.dual.then(|| {
        world.observed.storage[1]
            .dump
            .borrow_mut()
            .take()
            .unwrap_or_default()
    });
    // The turmoil world goes before the checkers run: its hosts' disks (TT's log, the storage
    // servers' files) and memory (the jobs' state) are the run's largest allocations, and the
    // checkers read only the world's observations and the storage dumps taken above.
    drop(sim);
    Simulation {
        world,
        objects,
        secondary_objects,
        simulated_ms,
        chaos_end_ms,
        faults_injected,
        world_error,
        hosts,
    }
}

/// Room in each host's TCP buffers and accept queues: turmoil's default of 64 pending
/// connections, or enough for every parallel subtask and TT partition to hold a request to one
/// server at once (a parallel sink's uploads all reach the storage host together).
fn tcp_capacity(scenario: &Scenario) -> usize {
    const TURMOIL_DEFAULT: usize = 64;
    let subtasks = scenario
        .jobs
        .parallelism
        .max(scenario.jobs.dws_parallelism()) as usize;
    let parallel = 2 * (subtasks + scenario.traffic.partitions as usize);
    TURMOIL_DEFAULT.max(parallel)
}
