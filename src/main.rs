//! `dwsim`: run a scenario of the simulated ad warehouse with a seed, print the summary and the
//! checkers' verdicts, and write the run's artefacts; or sweep many seeds for CI, in shards that
//! merge. Exit 0 pass, 1 a checker failed, 2 bad input.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mimalloc::MiMalloc;
use sim::scenario::{Override, Scenario, overrides};

mod bench;
mod plan;
mod run;
mod shrink;
mod sweep;
mod table_scan;
mod trace;

/// A simulation allocates and frees millions of small rows; mimalloc does that far faster than
/// the system allocator (measured: see the README's figures).
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

/// Scenarios built into the binary, so `dwsim run smoke` works from any directory.
const BUILTIN_SCENARIOS: [(&str, &str); 5] = [
    ("smoke", include_str!("../scenarios/smoke.toml")),
    ("double11", include_str!("../scenarios/double11.toml")),
    (
        "double11-day",
        include_str!("../scenarios/double11-day.toml"),
    ),
    (
        "double11-production",
        include_str!("../scenarios/double11-production.toml"),
    ),
    (
        "late-conversions",
        include_str!("../scenarios/late-conversions.toml"),
    ),
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
        /// A scenario file, or the name of a built-in scenario (smoke, double11, late-conversions).
        scenario: String,
        /// The run's seed (default: the scenario's `[run] seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Override one scenario option, as `section.option=value` the way the scenario file
        /// spells it (`dwd.bucket=8`, `jobs.execution.checkpointing.interval=1min`); repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Write summary.json, trace.jsonl, trace.perfetto.json, ods/, warehouse/ and export/ here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// With --out: clear the directory first when it holds an earlier dwsim output (never a
        /// directory that does not look like one).
        #[arg(long, requires = "out")]
        force: bool,
        /// How much trace to keep and write with --out: `off` (no trace files), `head` (the
        /// first 2,000,000 events) or `full` (every event; memory grows with the run).
        #[arg(long, default_value = "head", value_parser = sim::TraceMode::parse)]
        trace: sim::TraceMode,
        /// Run the seed twice and fail (exit 1) unless both runs have the same trace hash.
        #[arg(long)]
        check_determinism: bool,
        /// Draw the knobs (buckets, checkpoint interval, compaction trigger, fetch and segment
        /// sizes, tick) and the faults from the seed, and print them.
        #[arg(long)]
        swarm: bool,
        /// With --swarm: write the drawn knobs and faults here as an ordinary scenario, which run
        /// with the same seed (and without --swarm) is the same run.
        #[arg(long, requires = "swarm", value_name = "FILE")]
        emit_scenario: Option<PathBuf>,
    },
    /// Run many seeds of one scenario in parallel; `sweep merge` joins shards' results.
    Sweep(SweepArgs),
    /// Run a grid of scenario options over seeds and recommend the cheapest configuration that
    /// meets every SLA (report.html, report.md, plan.json); `plan merge` joins shards' results.
    Plan(PlanArgs),
    /// Reduce a failing seed's faults and traffic length to a minimal scenario that still fails.
    Shrink {
        /// A scenario file, or the name of a built-in scenario.
        scenario: String,
        #[arg(long)]
        seed: u64,
        /// Override one scenario option, as `section.option=value` the way the scenario file
        /// spells it (`dwd.bucket=8`, `jobs.execution.checkpointing.interval=1min`); repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Where to write the shrunk scenario (default: <name>-seed<N>-shrunk.toml here).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Give up shrinking after this many simulation runs.
        #[arg(long, default_value_t = 64)]
        max_runs: usize,
        /// The seed failed under --swarm: draw its knobs and faults once, then shrink the drawn
        /// scenario (written out as an ordinary scenario, run without --swarm).
        #[arg(long)]
        swarm: bool,
    },
    /// Measure a scenario's speed and memory per seed (events and simulated seconds per wall
    /// second, wall time, peak RSS) beside a bare turmoil world with the same hosts, tick and
    /// duration; the medians as text or JSON.
    Bench {
        /// A scenario file, or the name of a built-in scenario.
        #[arg(default_value = "double11")]
        scenario: String,
        /// The seeds, both ends included: `1..3`. Each runs in a child process of its own.
        #[arg(long, default_value = "1..3")]
        seeds: String,
        /// Override one scenario option, as `section.option=value`; repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Print the figures as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One seed of `dwsim bench`, measured in this process, as one JSON line (bench runs it in a
    /// child process per seed).
    #[command(hide = true)]
    BenchSeed {
        scenario: String,
        #[arg(long)]
        seed: u64,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Read a stored Paimon table with dwsim's own reader.
    #[command(subcommand)]
    Table(TableCommand),
    /// Print the events of a run's trace.jsonl around a simulated time or an event, as text.
    Trace {
        /// A trace.jsonl written by `dwsim run --out DIR`.
        file: PathBuf,
        /// A simulated time (`35.2s`, `800ms`, `2min`) or an event (`#1234`).
        #[arg(long)]
        around: String,
        /// Around a time: how far either side to show (a duration).
        #[arg(long, default_value = "5s")]
        window: String,
        /// Around an event: how many events either side to show.
        #[arg(long, default_value_t = 20)]
        count: usize,
        /// Only events of this host (tt, dwd-job, dws-job, dfs, serving, traffic, world).
        #[arg(long)]
        host: Option<String>,
    },
}

#[derive(Subcommand)]
enum TableCommand {
    /// Print a table's rows at a snapshot as JSON lines sorted by primary key.
    Scan {
        /// A Paimon filesystem catalog root, e.g. a run's `--out DIR/warehouse`.
        catalog_root: PathBuf,
        /// The table as <database>.<table>, e.g. ads.dws_ad_minute.
        table: String,
        /// The snapshot to read (default: the latest).
        #[arg(long)]
        snapshot: Option<i64>,
    },
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct SweepArgs {
    #[command(subcommand)]
    command: Option<SweepCommand>,
    /// A scenario file, or the name of a built-in scenario (smoke, double11, late-conversions).
    #[arg(required = true)]
    scenario: Option<String>,
    /// The seeds, both ends included: `1..400`.
    #[arg(long, required = true)]
    seeds: Option<String>,
    /// Override one scenario option, as `section.option=value` the way the scenario file
    /// spells it (`dwd.bucket=8`, `jobs.execution.checkpointing.interval=1min`); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Worker threads, one run each at a time (default: the available cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Append one JSON line per finished seed here; seeds it already holds are not run again.
    #[arg(long, default_value = "sweep-results.jsonl")]
    results: PathBuf,
    /// Run only shard K of N: the seeds whose position in the range is K-1 modulo N.
    #[arg(long)]
    shard: Option<String>,
    /// Each seed also draws the knobs (buckets, checkpoint interval, compaction trigger, fetch
    /// and segment sizes, tick) and its faults.
    #[arg(long)]
    swarm: bool,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct PlanArgs {
    #[command(subcommand)]
    command: Option<PlanCommand>,
    /// A scenario file, or the name of a built-in scenario.
    #[arg(required = true)]
    scenario: Option<String>,
    /// An option to vary: `KEY=V1,V2,...` with KEY as `--set` takes it (`dwd.bucket=8,16,32`);
    /// `K1+K2=V1,V2` moves several keys together (`dwd.bucket+jobs.parallelism.default=8,16`).
    /// Repeat for a grid of every combination.
    #[arg(long)]
    vary: Vec<String>,
    /// The seeds every configuration runs, both ends included: `1..2`.
    #[arg(long, required = true)]
    seeds: Option<String>,
    /// Worker threads, one run each at a time (default: the available cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Where the report goes (report.html, report.md, plan.json) and, unless --results says
    /// otherwise, results.jsonl, from which a rerun resumes.
    #[arg(long, default_value = "plan")]
    out: PathBuf,
    /// The results file (default: OUT/results.jsonl).
    #[arg(long)]
    results: Option<PathBuf>,
    /// Run only shard K of N of the plan's runs; join the shards with `dwsim plan merge`.
    #[arg(long)]
    shard: Option<String>,
    /// Also find the largest traffic multiple the recommended configuration sustains, by
    /// bisection (each step runs every seed).
    #[arg(long)]
    headroom: bool,
    /// The largest traffic multiple the headroom search tries.
    #[arg(long, default_value_t = 16.0)]
    headroom_max: f64,
    /// Override one scenario option for every configuration: `section.option=value`.
    #[arg(long)]
    set: Vec<String>,
}

#[derive(Subcommand)]
enum PlanCommand {
    /// Join shards' results files and write the report.
    Merge {
        /// Results files written by `dwsim plan --shard`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where the merged results and the report go.
        #[arg(long, default_value = "plan")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum SweepCommand {
    /// Join shards' result files (first result of a scenario and seed wins) and report the union.
    Merge {
        /// Result files written by `dwsim sweep --results`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Also write the union here, one JSON line per seed, sorted by scenario and seed.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// The `--set KEY=VALUE` flags, read.
fn parse_overrides(sets: &[String]) -> Result<Vec<Override>, String> {
    sets.iter().map(|set| Override::parse(set)).collect()
}

/// A scenario file or built-in scenario, with `--set` overrides applied and checked as the file.
fn load_scenario_with(name_or_path: &str, overrides: &[Override]) -> Result<Scenario, String> {
    let (text, origin) = scenario_text(name_or_path)?;
    Scenario::parse_with_overrides(&text, &origin, overrides).map_err(|e| e.to_string())
}

/// The scenario as the user gave it, with its `--set` flags: what reproduces a run of it.
fn scenario_with_flags(name_or_path: &str, overrides: &[Override]) -> String {
    if overrides.is_empty() {
        name_or_path.to_string()
    } else {
        format!("{name_or_path} {}", overrides::flags(overrides))
    }
}

/// A scenario's TOML text and how to name it in errors: a file, or a built-in scenario.
fn scenario_text(name_or_path: &str) -> Result<(String, String), String> {
    let path = Path::new(name_or_path);
    if !path.exists() {
        if let Some((_, text)) = BUILTIN_SCENARIOS
            .iter()
            .find(|(name, _)| *name == name_or_path)
        {
            return Ok((
                text.to_string(),
                format!("built-in scenario `{name_or_path}`"),
            ));
        }
        let names: Vec<&str> = BUILTIN_SCENARIOS.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "scenario file {name_or_path} does not exist (built-in scenarios: {})",
            names.join(", ")
        ));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {name_or_path}: {e}"))?;
    Ok((text, name_or_path.to_string()))
}

/// The scenario `--swarm` draws from `seed`, its knobs printed; with `emit`, also written there
/// as an ordinary scenario file that reproduces the same run without `--swarm`.
/// The `--set` overrides are written into the file with the drawn knobs.
pub(crate) fn swarm_draw(
    scenario_arg: &str,
    overrides: &[Override],
    scenario: &Scenario,
    seed: u64,
    emit: Option<&Path>,
) -> Result<Scenario, String> {
    let (drawn, knobs) = sim::swarm(scenario, seed);
    println!("swarm (seed {seed}): {}", knobs.join("; "));
    if let Some(file) = emit {
        let (text, _) = scenario_text(scenario_arg)?;
        let (text, _) = overrides::apply(&text, overrides)?;
        let emitted = sim::emit_swarm_scenario(&text, &drawn).map_err(|e| e.to_string())?;
        let drawn_by = scenario_with_flags(scenario_arg, overrides);
        let header = format!(
            "# Drawn by `dwsim run {drawn_by} --swarm --seed {seed}`; run it with `--seed {seed}` (without --swarm) for the same run.\n"
        );
        std::fs::write(file, header + &emitted)
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        println!(
            "swarm scenario written to {}; reproduce: dwsim run {} --seed {seed}",
            file.display(),
            file.display()
        );
    }
    Ok(drawn)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let simulates = !matches!(cli.command, Command::Table(_) | Command::Trace { .. });
    if simulates && let Err(error) = sim::SpillDir::probe() {
        return bad_input(error);
    }
    match cli.command {
        Command::Run {
            scenario,
            seed,
            set,
            out,
            force,
            trace,
            check_determinism,
            swarm,
            emit_scenario,
        } => match parse_overrides(&set) {
            Ok(overrides) => run::run(
                &scenario,
                &overrides,
                seed,
                out.as_deref().map(|dir| (dir, force)),
                trace,
                check_determinism,
                swarm.then_some(emit_scenario.as_deref()),
            ),
            Err(error) => bad_input(error),
        },
        Command::Sweep(args) => match args.command {
            Some(SweepCommand::Merge { files, out }) => sweep::merge(&files, out.as_deref()),
            None => sweep::sweep(&args),
        },
        Command::Plan(args) => match &args.command {
            Some(PlanCommand::Merge { files, out }) => plan::merge(files, out),
            None => plan::plan(&args),
        },
        Command::Shrink {
            scenario,
            seed,
            set,
            out,
            max_runs,
            swarm,
        } => match parse_overrides(&set) {
            Ok(overrides) => shrink::shrink(&scenario, &overrides, seed, out, max_runs, swarm),
            Err(error) => bad_input(error),
        },
        Command::Bench {
            scenario,
            seeds,
            set,
            json,
        } => bench::bench(&scenario, &seeds, &set, json),
        Command::BenchSeed {
            scenario,
            seed,
            set,
        } => bench::bench_seed(&scenario, seed, &set),
        Command::Table(TableCommand::Scan {
            catalog_root,
            table,
            snapshot,
        }) => table_scan(&catalog_root, &table, snapshot),
        Command::Trace {
            file,
            around,
            window,
            count,
            host,
        } => trace::trace_around(&file, &around, &window, count, host.as_deref()),
    }
}

fn table_scan(catalog_root: &Path, table: &str, snapshot: Option<i64>) -> ExitCode {
    match table_scan::scan(catalog_root, table, snapshot) {
        Ok(lines) => {
            let mut out = std::io::stdout().lock();
            for line in lines {
                if writeln!(out, "{line}").is_err() {
                    break;
                }
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

pub(crate) fn bad_input(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(2)
}

/// A progress bar on a terminal; none when stderr is a file or a CI log.
pub(crate) fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:40} {pos}/{len} seeds, {elapsed} elapsed, eta {eta} {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}
