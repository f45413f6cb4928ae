//! `dwsim run`: one scenario with one seed, its summary, its artefacts, and with
//! `--check-determinism` a second run that must give the same trace.

use std::path::Path;
use std::process::ExitCode;

use sim::Summary;
use sim::scenario::Override;
use sim::sweep::wall_clock;

use crate::{load_scenario_with, scenario_with_flags};

pub(crate) fn run(
    scenario_arg: &str,
    overrides: &[Override],
    seed: Option<u64>,
    out: Option<(&Path, bool)>,
    trace_mode: sim::TraceMode,
    check_determinism: bool,
    swarm: Option<Option<&Path>>,
) -> ExitCode {
    let scenario = match load_scenario_with(scenario_arg, overrides) {
        Ok(scenario) => scenario,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some((dir, force)) = out {
        let cleared = sim::check_out_dir(dir, force).and_then(|()| {
            if force {
                sim::clear_out_dir(dir)
            } else {
                Ok(())
            }
        });
        if let Err(error) = cleared {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    }
    let out = out.map(|(dir, _)| dir);
    let seed = seed.unwrap_or(scenario.run.seed);
    let reproduce_as = scenario_with_flags(scenario_arg, overrides);
    let reproduce_as = if swarm.is_some() {
        format!("{reproduce_as} --swarm")
    } else {
        reproduce_as
    };
    let scenario = match swarm {
        Some(emit) => match crate::swarm_draw(scenario_arg, overrides, &scenario, seed, emit) {
            Ok(drawn) => drawn,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        },
        None => scenario,
    };
    let scenario_arg = reproduce_as.as_str();
    // The first of two runs, when asked: only its trace is kept, so two worlds never coexist.
    let first_trace = check_determinism.then(|| {
        let output = sim::check(sim::simulate_traced(
            scenario.clone(),
            seed,
            trace_mode.trace(),
        ));
        let trace = output.simulation.world.trace.borrow();
        (trace.hash_hex(), trace.events().to_vec())
    });
    let started = wall_clock();
    let events_read = out.is_some() || check_determinism;
    let simulation = sim::simulate_traced(scenario, seed, trace_mode.trace_if_read(events_read));
    let simulate_s = started.elapsed().as_secs_f64();
    let output = sim::check(simulation);
    let wall_s = started.elapsed().as_secs_f64();
    let summary = Summary::build(&output, scenario_arg, env!("DWSIM_GIT_COMMIT"), wall_s);
    print!("{}", summary.render());
    println!(
        "wall time: {simulate_s:.2} s simulating, {:.2} s checking",
        wall_s - simulate_s
    );
    if let Some(dir) = out {
        if let Err(error) = sim::write_artefacts(dir, &output.simulation, &summary, trace_mode) {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
        println!("artefacts written to {}", dir.display());
        let trace = output.simulation.world.trace.borrow();
        if trace_mode.writes_files() && trace.dropped() > 0 {
            println!(
                "trace: the first {} of {} events written; rerun with --trace full for every event",
                trace.events().len(),
                trace.len()
            );
        }
    }
    if let Some((first_hash, first_events)) = first_trace {
        let trace = output.simulation.world.trace.borrow();
        if first_hash != trace.hash_hex() {
            println!(
                "determinism: FAIL (trace-hash {first_hash}, then {})",
                trace.hash_hex()
            );
            println!(
                "{}",
                sim::trace_view::first_difference(&first_events, trace.events()).unwrap_or_else(
                    || { "the kept trace events agree; the difference lies past them".into() }
                )
            );
            return ExitCode::from(1);
        }
        println!("determinism: PASS (trace-hash {first_hash} twice)");
    }
    if summary.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
