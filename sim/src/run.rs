//! One run of the world: build the turmoil simulation from a scenario and a seed, drive the chaos
//! phase (traffic + scheduled faults) and the liveness phase (faults healed, traffic stopped),
//! collect storage, and hand everything to the checkers.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use crate::checkers::{CheckOutcome, check_run};
use crate::hosts::{compactor_host, dfs_host, dwd_job_host, dws_job_host, serving_host, tt_host};
use crate::scenario::{FaultKind, Scenario};
use crate::traffic::traffic_client;
use crate::world::Shared;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    Crash(String),
    Restart(String),
    Partition(String, String),
    Heal(String, String),
}

/// The scenario's faults as timed actions, sorted by time (ties keep scenario order).
pub fn fault_schedule(scenario: &Scenario) -> Vec<(i64, FaultAction)> {
    let mut actions = Vec::new();
    for fault in &scenario.faults {
        let (start, end) = (fault.at.0, fault.at.0 + fault.duration.0);
        match fault.kind {
            FaultKind::Crash => {
                let host = fault.target.clone().unwrap_or_default();
                actions.push((start, FaultAction::Crash(host.clone())));
                actions.push((end, FaultAction::Restart(host)));
            }
            FaultKind::Partition => {
                let [a, b] = fault.between.clone().unwrap_or_default();
                actions.push((start, FaultAction::Partition(a.clone(), b.clone())));
                actions.push((end, FaultAction::Heal(a, b)));
            }
        }
    }
    actions.sort_by_key(|(t, _)| *t);
    actions
}

pub struct RunOutput {
    /// The finished world. Kept so a caller about to exit can skip its (slow) teardown.
    pub world: turmoil::Sim<'static>,
    pub shared: Rc<Shared>,
    pub objects: BTreeMap<String, Vec<u8>>,
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

/// Runs the checkers over a simulated run (fills `output.checks`).
pub fn check(output: &mut RunOutput) {
    output.checks = check_run(&output.shared, &output.objects, output.chaos_end_ms);
}

/// The simulation alone, without the checkers (`checks` left empty).
pub fn simulate(scenario: Scenario, seed: u64) -> RunOutput {
    let shared = Shared::new(scenario, seed);
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
    {
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
    let schedule = fault_schedule(&scenario);
    let mut next_action = 0;
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
            apply(&mut sim, action);
            let detail = format!("{action:?}");
            record(&shared, now_ms, fault_kind_name(action), detail.clone());
            if matches!(action, FaultAction::Crash(_) | FaultAction::Partition(..)) {
                faults_injected.push(format!("{detail} at {:.1}s", now_ms as f64 / 1e3));
            }
            next_action += 1;
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
    for _ in 0..10_000 {
        if shared.dump.borrow().is_some() || world_error.is_some() {
            break;
        }
        if let Err(error) = sim.step() {
            world_error = Some(error.to_string());
        }
    }
    let objects = shared.dump.borrow_mut().take().unwrap_or_default();
    RunOutput {
        world: sim,
        shared,
        objects,
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
    }
}

fn apply(sim: &mut turmoil::Sim<'_>, action: &FaultAction) {
    match action {
        FaultAction::Crash(host) => sim.crash(host.as_str()),
        FaultAction::Restart(host) => sim.bounce(host.as_str()),
        FaultAction::Partition(a, b) => sim.partition(a.as_str(), b.as_str()),
        FaultAction::Heal(a, b) => sim.repair(a.as_str(), b.as_str()),
    }
}
