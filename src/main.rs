//! `dwsim`: run a scenario of the simulated ad warehouse with a seed, print the summary and the
//! checkers' verdicts, and write the run's artefacts; or sweep many seeds for CI, in shards that
//! merge. Exit 0 pass, 1 a checker failed, 2 bad input.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mimalloc::MiMalloc;
use sim::campaign::sweep::{
    ResultsWriter, SeedRange, SeedResult, Shard, SweepSpec, Tally, read_results, scenario_digest,
    wall_clock,
};
use sim::report::summary::Summary;
use sim::scenario::Scenario;

mod table_scan;

/// A simulation allocates and frees millions of small rows; mimalloc does that far faster than
/// the system allocator (measured: see the README's figures).
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

/// Scenarios built into the binary, so `dwsim run smoke` works from any directory.
const BUILTIN_SCENARIOS: [(&str, &str); 3] = [
    ("smoke", include_str!("../scenarios/smoke.toml")),
    ("double11", include_str!("../scenarios/double11.toml")),
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
        /// Write summary.json, trace.jsonl, trace.perfetto.json, ods/, warehouse/ and export/ here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// How much trace to keep and write with --out: `off` (no trace files), `head` (the
        /// first 2,000,000 events) or `full` (every event; memory grows with the run).
        #[arg(long, default_value = "head", value_parser = sim::trace::TraceMode::parse)]
        trace: sim::trace::TraceMode,
        /// Run the seed twice and fail (exit 1) unless both runs have the same trace hash.
        #[arg(long)]
        check_determinism: bool,
        /// Draw the knobs (buckets, checkpoint interval, compaction trigger, fetch and segment
        /// sizes, tick) and the faults from the seed, and print them.
        #[arg(long)]
        swarm: bool,
    },
    /// Run many seeds of one scenario in parallel; `sweep merge` joins shards' results.
    Sweep(SweepArgs),
    /// Reduce a failing seed's faults and traffic length to a minimal scenario that still fails.
    Shrink {
        /// A scenario file, or the name of a built-in scenario.
        scenario: String,
        #[arg(long)]
        seed: u64,
        /// Where to write the shrunk scenario (default: <name>-seed<N>-shrunk.toml here).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Give up shrinking after this many simulation runs.
        #[arg(long, default_value_t = 64)]
        max_runs: usize,
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

fn load_scenario(name_or_path: &str) -> Result<Scenario, String> {
    let (text, origin) = scenario_text(name_or_path)?;
    Scenario::parse(&text, &origin).map_err(|e| e.to_string())
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            scenario,
            seed,
            out,
            trace,
            check_determinism,
            swarm,
        } => run(
            &scenario,
            seed,
            out.as_deref(),
            trace,
            check_determinism,
            swarm,
        ),
        Command::Sweep(args) => match args.command {
            Some(SweepCommand::Merge { files, out }) => merge(&files, out.as_deref()),
            None => sweep(&args),
        },
        Command::Shrink {
            scenario,
            seed,
            out,
            max_runs,
        } => shrink(&scenario, seed, out, max_runs),
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
        } => trace_around(&file, &around, &window, count, host.as_deref()),
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

fn shrink(scenario_arg: &str, seed: u64, out: Option<PathBuf>, max_runs: usize) -> ExitCode {
    let (text, origin) = match scenario_text(scenario_arg) {
        Ok(found) => found,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let shrunk =
        match sim::campaign::shrink::shrink(&text, &origin, seed, max_runs.max(2), |line| {
            eprintln!("{line}")
        }) {
            Ok(shrunk) => shrunk,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        };
    let out = out.unwrap_or_else(|| {
        let stem = Path::new(scenario_arg)
            .file_stem()
            .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
        PathBuf::from(format!("{stem}-seed{seed}-shrunk.toml"))
    });
    let header = format!(
        "# Shrunk by `dwsim shrink {scenario_arg} --seed {seed}`: still fails `{}`.\n",
        shrunk.checker
    );
    if let Err(error) = std::fs::write(&out, header + &shrunk.scenario_toml) {
        eprintln!("error: cannot write {}: {error}", out.display());
        return ExitCode::from(2);
    }
    println!(
        "shrunk the `{}` failure of seed {seed}: faults {} -> {}, chaos {} -> {}, in {} runs",
        shrunk.checker,
        shrunk.faults_before,
        shrunk.faults.len(),
        shrunk.chaos_before,
        shrunk.chaos,
        shrunk.runs
    );
    for fault in &shrunk.faults {
        println!(
            "  kept: {:?} {} at {} for {}",
            fault.kind,
            fault.target.clone().unwrap_or_else(|| fault
                .between
                .clone()
                .unwrap_or_default()
                .join(" <-> ")),
            fault.at,
            fault.duration
        );
    }
    println!("wrote {}", out.display());
    println!("reproduce: dwsim run {} --seed {seed}", out.display());
    ExitCode::SUCCESS
}

fn trace_around(
    file: &Path,
    around: &str,
    window: &str,
    count: usize,
    host: Option<&str>,
) -> ExitCode {
    use sim::trace::view::{Anchor, read_jsonl, render_line};
    let anchor = match Anchor::parse(around) {
        Ok(anchor) => anchor,
        Err(error) => {
            eprintln!("error: --around {error}");
            return ExitCode::from(2);
        }
    };
    let Some(window_ms) = sim::scenario::Millis::parse(window) else {
        eprintln!(
            "error: --window `{window}` is not a duration; write it like \"5s\" or \"500ms\""
        );
        return ExitCode::from(2);
    };
    let events = match read_jsonl(file) {
        Ok(events) => events,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let (near, focus) = sim::trace::view::around(&events, anchor, window_ms.0, count, host);
    if near.is_empty() {
        println!("no events there (the trace has {} events)", events.len());
    }
    for (index, event) in near.iter().enumerate() {
        println!("{}", render_line(event, focus == Some(index)));
    }
    ExitCode::SUCCESS
}

fn run(
    scenario_arg: &str,
    seed: Option<u64>,
    out: Option<&Path>,
    trace_mode: sim::trace::TraceMode,
    check_determinism: bool,
    swarm: bool,
) -> ExitCode {
    let scenario = match load_scenario(scenario_arg) {
        Ok(scenario) => scenario,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = out
        && let Err(error) = sim::report::artefacts::check_out_dir(dir)
    {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    let seed = seed.unwrap_or(scenario.run.seed);
    let reproduce_as = if swarm {
        format!("{scenario_arg} --swarm")
    } else {
        scenario_arg.to_string()
    };
    let scenario_arg = reproduce_as.as_str();
    let scenario = if swarm {
        let (drawn, knobs) = sim::faults::swarm::swarm(&scenario, seed);
        println!("swarm (seed {seed}): {}", knobs.join("; "));
        drawn
    } else {
        scenario
    };
    // The first of two runs, when asked: only its trace is kept, so two worlds never coexist.
    let first_trace = check_determinism.then(|| {
        let output = sim::check::check(sim::run::simulate_traced(
            scenario.clone(),
            seed,
            trace_mode.trace(),
        ));
        let trace = output.simulation.shared.trace.borrow();
        (trace.hash_hex(), trace.events().to_vec())
    });
    let started = wall_clock();
    let simulation = sim::run::simulate_traced(scenario, seed, trace_mode.trace());
    let simulate_s = started.elapsed().as_secs_f64();
    let output = sim::check::check(simulation);
    let wall_s = started.elapsed().as_secs_f64();
    let summary = Summary::build(&output, scenario_arg, env!("DWSIM_GIT_COMMIT"), wall_s);
    print!("{}", summary.render());
    println!(
        "wall time: {simulate_s:.2} s simulating, {:.2} s checking",
        wall_s - simulate_s
    );
    if let Some(dir) = out {
        if let Err(error) =
            sim::report::artefacts::write_all(dir, &output.simulation, &summary, trace_mode)
        {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
        println!("artefacts written to {}", dir.display());
        let trace = output.simulation.shared.trace.borrow();
        if trace_mode.writes_files() && trace.dropped() > 0 {
            println!(
                "trace: the first {} of {} events written; rerun with --trace full for every event",
                trace.events().len(),
                trace.len()
            );
        }
    }
    if let Some((first_hash, first_events)) = first_trace {
        let trace = output.simulation.shared.trace.borrow();
        if first_hash != trace.hash_hex() {
            println!(
                "determinism: FAIL (trace-hash {first_hash}, then {})",
                trace.hash_hex()
            );
            println!(
                "{}",
                sim::trace::view::first_difference(&first_events, trace.events()).unwrap_or_else(
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

fn bad_input(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(2)
}

/// `dwsim sweep`: this shard's seeds of the range, less those the results file already holds for
/// this scenario, on `--jobs` threads; then the table over all of them.
fn sweep(args: &SweepArgs) -> ExitCode {
    let (Some(scenario_arg), Some(seeds_arg)) = (&args.scenario, &args.seeds) else {
        return bad_input("dwsim sweep needs a scenario and --seeds A..B");
    };
    let range = match SeedRange::parse(seeds_arg) {
        Ok(range) => range,
        Err(error) => return bad_input(error),
    };
    let shard = match args.shard.as_deref().map(Shard::parse).transpose() {
        Ok(shard) => shard.unwrap_or(Shard::WHOLE),
        Err(error) => return bad_input(error),
    };
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    if jobs == 0 {
        return bad_input("--jobs must be at least 1");
    }
    let mut scenario = match load_scenario(scenario_arg) {
        Ok(scenario) => scenario,
        Err(error) => return bad_input(error),
    };
    let mut scenario_path = scenario_arg.clone();
    if args.swarm {
        // Swarm results are their own scenario: never resumed from or merged with plain ones.
        scenario.name = format!("{} (swarm)", scenario.name);
        scenario_path = format!("{scenario_arg} --swarm");
    }
    let spec = SweepSpec {
        scenario,
        scenario_path,
        git_commit: env!("DWSIM_GIT_COMMIT").to_string(),
        swarm: args.swarm,
    };
    let seeds = shard.seeds(range);

    let previous = match read_results(&args.results) {
        Ok(previous) => previous,
        Err(error) => return bad_input(error),
    };
    for warning in &previous.warnings {
        eprintln!("warning: {warning}");
    }
    let digest = scenario_digest(&spec.scenario);
    let wanted: std::collections::BTreeSet<u64> = seeds.iter().copied().collect();
    let mut tally = Tally::default();
    let mut stale = 0usize;
    for result in previous.results {
        if result.scenario != spec.scenario.name || !wanted.contains(&result.seed) {
            continue;
        }
        if result.scenario_digest != digest {
            stale += 1;
            continue;
        }
        tally.add(result);
    }
    if stale > 0 {
        eprintln!(
            "warning: {}: {stale} results of scenario `{}` came from another version of it (the scenario changed); their seeds run again",
            args.results.display(),
            spec.scenario.name
        );
    }
    let resumed = tally.results.len();
    let to_run: Vec<u64> = seeds
        .iter()
        .copied()
        .filter(|seed| !tally.contains(&spec.scenario.name, &digest, *seed))
        .collect();
    let mut writer = match ResultsWriter::open(&args.results, previous.complete_len) {
        Ok(writer) => writer,
        Err(error) => return bad_input(error),
    };
    eprintln!(
        "sweeping `{}` ({scenario_arg}): {} seeds{}, {resumed} resumed from {}, {} to run on {jobs} threads",
        spec.scenario.name,
        seeds.len(),
        if shard == Shard::WHOLE {
            String::new()
        } else {
            format!(
                " in shard {}/{} of {}..{}",
                shard.index, shard.count, range.first, range.last
            )
        },
        args.results.display(),
        to_run.len(),
    );

    let progress = progress_bar(to_run.len() as u64);
    let started = wall_clock();
    let mut write_error = None;
    let outcome = sim::campaign::sweep::run_seeds(&spec, &to_run, jobs, |result: SeedResult| {
        if !result.passed() {
            progress.suspend(|| {
                eprintln!(
                    "seed {} {}: {}",
                    result.seed,
                    result.verdict,
                    result.failed_checkers.join(",")
                )
            });
        }
        if write_error.is_none()
            && let Err(error) = writer.append(&result)
        {
            write_error = Some(error);
        }
        tally.add(result);
        progress.inc(1);
    });
    progress.finish_and_clear();
    let wall_s = started.elapsed().as_secs_f64();
    if let Err(error) = outcome {
        return bad_input(error);
    }
    if let Some(error) = write_error {
        eprintln!("error: {error} (the table below is complete, the file is not)");
    }
    print!("{}", tally.render());
    if to_run.is_empty() {
        println!("speed: no seed left to run ({resumed} resumed)");
    } else {
        println!(
            "speed: {:.1} seeds per minute ({} run in {wall_s:.1} wall s on {jobs} threads, {resumed} resumed)",
            to_run.len() as f64 * 60.0 / wall_s.max(1e-9),
            to_run.len()
        );
    }
    println!("results: {}", args.results.display());
    if tally.failed() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// A progress bar on a terminal; none when stderr is a file or a CI log.
fn progress_bar(len: u64) -> ProgressBar {
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

/// `dwsim sweep merge`: the union of shards' result files, first result per (scenario, seed).
fn merge(files: &[PathBuf], out: Option<&Path>) -> ExitCode {
    let mut tally = Tally::default();
    let mut digests: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        std::collections::BTreeMap::new();
    let mut duplicates = 0usize;
    for path in files {
        if !path.exists() {
            return bad_input(format!("results file {} does not exist", path.display()));
        }
        let file = match read_results(path) {
            Ok(file) => file,
            Err(error) => return bad_input(error),
        };
        for warning in &file.warnings {
            eprintln!("warning: {warning}");
        }
        for result in file.results {
            digests
                .entry(result.scenario.clone())
                .or_default()
                .insert(result.scenario_digest.clone());
            if !tally.add(result) {
                duplicates += 1;
            }
        }
    }
    for (scenario, versions) in &digests {
        if versions.len() > 1 {
            eprintln!(
                "warning: the files hold results of {} different versions of scenario `{scenario}` (its file differed between sweeps); each is reported apart",
                versions.len()
            );
        }
    }
    eprintln!(
        "merged {} files: {} results ({duplicates} duplicates dropped)",
        files.len(),
        tally.results.len()
    );
    if let Some(out) = out {
        let mut text = String::new();
        for result in tally.results.values() {
            text.push_str(&serde_json::to_string(result).expect("a seed result serializes"));
            text.push('\n');
        }
        if let Err(error) = std::fs::write(out, text) {
            return bad_input(format!("cannot write {}: {error}", out.display()));
        }
        eprintln!("merged results written to {}", out.display());
    }
    print!("{}", tally.render());
    if tally.failed() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
