//! `dwsim`: run a scenario of the simulated ad warehouse with a seed, print the summary and the
//! checkers' verdicts, and write the run's artefacts. Exit 0 pass, 1 a checker failed, 2 bad input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mimalloc::MiMalloc;
use sim::scenario::Scenario;
use sim::summary::Summary;

/// A simulation allocates and frees millions of small rows; mimalloc does that far faster than
/// the system allocator (measured: see the README's figures).
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

/// Scenarios built into the binary, so `dwsim run smoke` works from any directory.
const BUILTIN_SCENARIOS: [(&str, &str); 2] = [
    ("smoke", include_str!("../scenarios/smoke.toml")),
    ("double11", include_str!("../scenarios/double11.toml")),
];

#[derive(Parser)]
#[command(
    name = "dwsim",
    version,
    about = "Deterministic simulation and replay testbed for a layered Flink + Paimon ad warehouse"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario with one seed and check it.
    Run {
        /// A scenario file, or the name of a built-in scenario (smoke, double11).
        scenario: String,
        /// The run's seed (default: the scenario's `[run] seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Write summary.json, trace.jsonl, ods/, warehouse/ and export/ here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn load_scenario(name_or_path: &str) -> Result<Scenario, String> {
    let path = Path::new(name_or_path);
    if !path.exists() {
        if let Some((_, text)) = BUILTIN_SCENARIOS
            .iter()
            .find(|(name, _)| *name == name_or_path)
        {
            return Scenario::parse(text, &format!("built-in scenario `{name_or_path}`"))
                .map_err(|e| e.to_string());
        }
        let names: Vec<&str> = BUILTIN_SCENARIOS.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "scenario file {name_or_path} does not exist (built-in scenarios: {})",
            names.join(", ")
        ));
    }
    Scenario::load(path).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            scenario,
            seed,
            out,
        } => run(&scenario, seed, out.as_deref()),
    }
}

#[allow(clippy::disallowed_methods)] // wall time measures the simulator's own speed, never reaches the run
fn wall_clock() -> std::time::Instant {
    std::time::Instant::now()
}

fn run(scenario_arg: &str, seed: Option<u64>, out: Option<&Path>) -> ExitCode {
    let scenario = match load_scenario(scenario_arg) {
        Ok(scenario) => scenario,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = out
        && let Err(error) = sim::output::check_out_dir(dir)
    {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    let seed = seed.unwrap_or(scenario.run.seed);
    let started = wall_clock();
    let mut output = sim::run::simulate(scenario, seed);
    let simulate_s = started.elapsed().as_secs_f64();
    sim::run::check(&mut output);
    let wall_s = started.elapsed().as_secs_f64();
    let summary = Summary::build(&output, scenario_arg, env!("DWSIM_GIT_COMMIT"), wall_s);
    print!("{}", summary.render());
    println!(
        "wall time: {simulate_s:.2} s simulating, {:.2} s checking",
        wall_s - simulate_s
    );
    if let Some(dir) = out {
        if let Err(error) = sim::output::write_all(dir, &output, &summary) {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
        println!("artefacts written to {}", dir.display());
    }
    if summary.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
