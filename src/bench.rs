//! `dwsim bench`: each seed of a scenario run and measured in a child process of its own (so the
//! OS's peak-RSS high-water mark belongs to that run alone), beside a bare turmoil reference; the
//! medians as text or JSON. The measuring itself lives in `sim::bench`.

use std::process::{Command, ExitCode};

use sim::bench::{BenchReport, BenchRun};
use sim::sweep::SeedRange;

use crate::{bad_input, load_scenario_with, parse_overrides, scenario_with_flags};

/// `dwsim bench`: checks the input, then runs one child per seed, in order, one at a time.
pub(crate) fn bench(scenario_arg: &str, seeds: &str, sets: &[String], json: bool) -> ExitCode {
    let range = match SeedRange::parse(seeds) {
        Ok(range) => range,
        Err(error) => return bad_input(error),
    };
    let overrides = match parse_overrides(sets) {
        Ok(overrides) => overrides,
        Err(error) => return bad_input(error),
    };
    if let Err(error) = load_scenario_with(scenario_arg, &overrides) {
        return bad_input(error);
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            eprintln!("error: cannot find dwsim's own executable to run each seed in: {error}");
            return ExitCode::from(1);
        }
    };
    let mut runs = Vec::new();
    for seed in range.first..=range.last {
        let output = Command::new(&exe)
            .arg("bench-seed")
            .arg(scenario_arg)
            .args(["--seed", &seed.to_string()])
            .args(sets.iter().flat_map(|s| ["--set", s.as_str()]))
            .output();
        let run = output.map_err(|e| e.to_string()).and_then(|out| {
            if !out.status.success() {
                return Err(format!(
                    "exited with {}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            serde_json::from_slice::<BenchRun>(&out.stdout).map_err(|e| e.to_string())
        });
        match run {
            Ok(run) => runs.push(run),
            Err(error) => {
                eprintln!("error: seed {seed}'s bench run failed: {error}");
                return ExitCode::from(1);
            }
        }
    }
    let report = BenchReport::new(
        &scenario_with_flags(scenario_arg, &overrides),
        env!("DWSIM_GIT_COMMIT"),
        runs,
    );
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(1);
            }
        }
    } else {
        print!("{}", report.render());
    }
    ExitCode::SUCCESS
}

/// The hidden `dwsim bench-seed`: one seed measured in this (fresh) process, as one JSON line.
pub(crate) fn bench_seed(scenario_arg: &str, seed: u64, sets: &[String]) -> ExitCode {
    let overrides = match parse_overrides(sets) {
        Ok(overrides) => overrides,
        Err(error) => return bad_input(error),
    };
    let scenario = match load_scenario_with(scenario_arg, &overrides) {
        Ok(scenario) => scenario,
        Err(error) => return bad_input(error),
    };
    let scenario_path = scenario_with_flags(scenario_arg, &overrides);
    let run = sim::bench::bench_seed(scenario, &scenario_path, env!("DWSIM_GIT_COMMIT"), seed);
    match serde_json::to_string(&run) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}
