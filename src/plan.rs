//! `dwsim plan`: a grid of scenario options over seeds, resumable, shardable and mergeable like
//! a sweep, ending in a capacity report (report.html, report.md, plan.json) and a
//! recommendation. Exit 0 when a configuration meets every SLA, 1 when none does, 2 on bad input.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sim::plan::{
    Axis, Config, Headroom, PlanRun, ResultsAppender, RunKey, Unit, grid, next_multiple,
    read_results, recommend, run_units,
};
use sim::plan_report::{PlanInputs, PlanReport};
use sim::scenario::Scenario;
use sim::scenario::overrides::Override;
use sim::sweep::{SeedRange, Shard};

use crate::{PlanArgs, bad_input, progress_bar, scenario_text};

/// What the report files of a plan are called inside `--out`.
const RESULTS_FILE: &str = "results.jsonl";
const REPORT_FILES: [&str; 3] = ["report.html", "report.md", "plan.json"];

/// A plan's scenario text with the `--set` options every configuration shares.
struct Base {
    text: String,
    origin: String,
    scenario_path: String,
    sets: Vec<String>,
    overrides: Vec<Override>,
}

impl Base {
    /// Parses the scenario under the base options and `config`'s, as `dwsim run --set` would.
    fn parse(&self, config: &Config, extra: &[(String, String)]) -> Result<Scenario, String> {
        let mut overrides = self.overrides.clone();
        for (key, value) in config.settings.iter().chain(extra) {
            overrides.push(Override::parse(&format!("{key}={value}"))?);
        }
        Scenario::parse_with_overrides(&self.text, &self.origin, &overrides)
            .map_err(|e| e.to_string())
    }
}

pub(crate) fn plan(args: &PlanArgs) -> ExitCode {
    let (Some(scenario_arg), Some(seeds_arg)) = (&args.scenario, &args.seeds) else {
        return bad_input("dwsim plan needs a scenario and --seeds A..B");
    };
    let range = match SeedRange::parse(seeds_arg) {
        Ok(range) => range,
        Err(error) => return bad_input(error),
    };
    if range.last - range.first >= 1000 {
        return bad_input(format!(
            "--seeds {seeds_arg} holds more than 1000 seeds; a plan takes at most 1000 (each runs every configuration)"
        ));
    }
    let seeds: Vec<u64> = Shard::WHOLE.seeds(range);
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
    if !(args.headroom_max.is_finite() && args.headroom_max > 1.0 && args.headroom_max <= 1000.0) {
        return bad_input("--headroom-max must be a traffic multiple above 1 and at most 1000");
    }
    let axes = match args
        .vary
        .iter()
        .map(|v| Axis::parse(v))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(axes) => axes,
        Err(error) => return bad_input(error),
    };
    let configs = match grid(&axes) {
        Ok(configs) => configs,
        Err(error) => return bad_input(error),
    };
    let (text, origin) = match scenario_text(scenario_arg) {
        Ok(found) => found,
        Err(error) => return bad_input(error),
    };
    let overrides = match args
        .set
        .iter()
        .map(|s| Override::parse(s))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(overrides) => overrides,
        Err(error) => return bad_input(error),
    };
    let base = Base {
        text,
        origin,
        scenario_path: scenario_arg.clone(),
        sets: args.set.clone(),
        overrides,
    };
    // The scenario itself (under the shared --set options) must be valid.
    if let Err(error) = base.parse(&Config { settings: vec![] }, &[]) {
        return bad_input(error);
    }
    if let Err(error) = prepare_out_dir(&args.out) {
        return bad_input(error);
    }
    let results_path = args
        .results
        .clone()
        .unwrap_or_else(|| args.out.join(RESULTS_FILE));

    // Every configuration parsed once; the ones that do not validate are listed, not run.
    let mut valid: Vec<(Config, Scenario)> = Vec::new();
    let mut invalid: Vec<(String, String)> = Vec::new();
    for config in &configs {
        match base.parse(config, &[]) {
            Ok(scenario) => valid.push((config.clone(), scenario)),
            Err(reason) => invalid.push((config.label(), reason)),
        }
    }
    for (label, reason) in &invalid {
        eprintln!("refused: {label}: {}", first_line_after_header(reason));
    }
    if valid.is_empty() {
        return bad_input(format!(
            "none of the {} configurations is a valid scenario (reasons above)",
            configs.len()
        ));
    }
    let valid_configs: Vec<Config> = valid.iter().map(|(c, _)| c.clone()).collect();

    let (previous, warnings) = match read_results(&results_path) {
        Ok(found) => found,
        Err(error) => return bad_input(error),
    };
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    let mut appender = match ResultsAppender::open(&results_path) {
        Ok(appender) => appender,
        Err(error) => return bad_input(error),
    };
    let mut done: BTreeMap<RunKey, PlanRun> =
        previous.into_iter().map(|run| (run.key(), run)).collect();

    let units: Vec<Unit> = valid
        .iter()
        .flat_map(|(config, scenario)| {
            seeds.iter().map(|&seed| Unit {
                config: config.clone(),
                traffic_multiple: 1.0,
                scenario: scenario.clone(),
                seed,
            })
        })
        .enumerate()
        .filter(|(index, _)| shard == Shard::WHOLE || in_shard(*index, shard))
        .map(|(_, unit)| unit)
        .collect();
    let mine = units.len();
    let to_run: Vec<Unit> = units
        .into_iter()
        .filter(|unit| !done.contains_key(&unit.key()))
        .collect();
    eprintln!(
        "planning `{scenario_arg}`: {} configurations ({} refused) x {} seeds = {mine} runs{}, {} resumed from {}, {} to run on {jobs} threads",
        valid.len(),
        invalid.len(),
        seeds.len(),
        if shard == Shard::WHOLE {
            String::new()
        } else {
            format!(" in shard {}/{}", shard.index, shard.count)
        },
        mine - to_run.len(),
        results_path.display(),
        to_run.len()
    );
    if let Err(error) = run_batch(&base, &to_run, jobs, &mut appender, &mut done) {
        return bad_input(error);
    }
    if shard != Shard::WHOLE {
        println!(
            "shard {}/{} done: {} runs in {}; join the shards with `dwsim plan merge <results files> --out DIR`",
            shard.index,
            shard.count,
            mine,
            results_path.display()
        );
        return ExitCode::SUCCESS;
    }

    let runs: Vec<PlanRun> = done.values().cloned().collect();
    let headroom = if args.headroom {
        match search_headroom(
            &base,
            &valid,
            &valid_configs,
            &seeds,
            jobs,
            args.headroom_max,
            &mut appender,
            &mut done,
        ) {
            Ok(headroom) => headroom,
            Err(error) => return bad_input(error),
        }
    } else {
        None
    };
    let runs: Vec<PlanRun> = if args.headroom {
        done.values().cloned().collect()
    } else {
        runs
    };
    let wanted: BTreeSet<(&Config, u64)> = valid_configs
        .iter()
        .flat_map(|c| seeds.iter().map(move |s| (c, *s)))
        .collect();
    let digests: BTreeSet<String> = valid
        .iter()
        .map(|(config, scenario)| {
            Unit {
                config: config.clone(),
                traffic_multiple: 1.0,
                scenario: scenario.clone(),
                seed: 0,
            }
            .digest()
        })
        .collect();
    let runs: Vec<PlanRun> = runs
        .into_iter()
        .filter(|r| {
            r.traffic_multiple != 1.0
                || (wanted.contains(&(&r.config, r.seed)) && digests.contains(&r.scenario_digest))
        })
        .collect();
    let inputs = PlanInputs {
        scenario: &valid[0].1.name,
        scenario_path: &base.scenario_path,
        base_sets: &base.sets,
        axes: &axes,
        configs: &valid_configs,
        invalid: &invalid,
        seeds: &seeds,
        headroom,
    };
    finish(&PlanReport::build(&inputs, &runs), &runs, &args.out)
}

/// Runs `units`, appending each result to the results file and to `done`.
fn run_batch(
    base: &Base,
    units: &[Unit],
    jobs: usize,
    appender: &mut ResultsAppender,
    done: &mut BTreeMap<RunKey, PlanRun>,
) -> Result<(), String> {
    if units.is_empty() {
        return Ok(());
    }
    let progress = progress_bar(units.len() as u64);
    let terminal = !progress.is_hidden();
    let started = sim::sweep::wall_clock();
    let total = units.len();
    let mut finished = 0usize;
    let mut write_error: Option<String> = None;
    run_units(
        units,
        jobs,
        &base.scenario_path,
        &base.sets,
        env!("DWSIM_GIT_COMMIT"),
        |run| {
            finished += 1;
            let elapsed = started.elapsed().as_secs_f64();
            let eta = elapsed / finished as f64 * (total - finished) as f64;
            let line = format!(
                "[{finished}/{total}] {}{} seed {}: {} (freshness p99 {:.1} s, {:.0} wall s); eta {:.0} s",
                run.config.label(),
                if run.traffic_multiple == 1.0 {
                    String::new()
                } else {
                    format!(" at {}x traffic", run.traffic_multiple)
                },
                run.seed,
                run.verdict,
                run.freshness_p99_ms as f64 / 1e3,
                run.wall_s,
                eta
            );
            if terminal {
                progress.set_message(format!("last: {}", run.verdict));
                if !run.passed() {
                    progress.suspend(|| eprintln!("{line}"));
                }
            } else {
                eprintln!("{line}");
            }
            if write_error.is_none()
                && let Err(error) = appender.append(&run)
            {
                write_error = Some(error.to_string());
            }
            done.insert(run.key(), run);
            progress.inc(1);
        },
    );
    progress.finish_and_clear();
    match write_error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Bisects the traffic multiple the recommended configuration sustains on every seed.
#[allow(clippy::too_many_arguments)]
fn search_headroom(
    base: &Base,
    valid: &[(Config, Scenario)],
    configs: &[Config],
    seeds: &[u64],
    jobs: usize,
    upper: f64,
    appender: &mut ResultsAppender,
    done: &mut BTreeMap<RunKey, PlanRun>,
) -> Result<Option<Headroom>, String> {
    let runs: Vec<PlanRun> = done.values().cloned().collect();
    let outcomes = sim::plan::outcomes(configs, &runs);
    let Some(recommended) = recommend(&outcomes) else {
        eprintln!("headroom: no configuration passes, so there is no headroom to search");
        return Ok(None);
    };
    let config = recommended.config.clone();
    let Some((_, scenario)) = valid.iter().find(|(c, _)| *c == config) else {
        return Ok(None);
    };
    let baseline = scenario.traffic.baseline_events_per_s;
    let mut tried: Vec<(f64, bool)> = Vec::new();
    while let Some(multiple) = next_multiple(&tried, upper) {
        let rate = format!("{:.3}", baseline * multiple);
        let scaled = base.parse(
            &config,
            &[("traffic.baseline_events_per_s".to_string(), rate.clone())],
        );
        let scenario = match scaled {
            Ok(scenario) => scenario,
            Err(reason) => {
                eprintln!(
                    "headroom: {multiple}x traffic is not a valid scenario ({}); the search stops there",
                    first_line_after_header(&reason)
                );
                tried.push((multiple, false));
                break;
            }
        };
        let units: Vec<Unit> = seeds
            .iter()
            .map(|&seed| Unit {
                config: config.clone(),
                traffic_multiple: multiple,
                scenario: scenario.clone(),
                seed,
            })
            .collect();
        let to_run: Vec<Unit> = units
            .iter()
            .filter(|u| !done.contains_key(&u.key()))
            .cloned()
            .collect();
        eprintln!(
            "headroom: {} at {multiple}x traffic ({rate} simulated events/s baseline), {} seeds",
            config.label(),
            seeds.len()
        );
        run_batch(base, &to_run, jobs, appender, done)?;
        let passed = units
            .iter()
            .all(|u| done.get(&u.key()).is_some_and(PlanRun::passed));
        tried.push((multiple, passed));
    }
    let sustained = tried
        .iter()
        .filter(|t| t.1)
        .map(|t| t.0)
        .fold(1.0, f64::max);
    let failed = tried
        .iter()
        .filter(|t| !t.1)
        .map(|t| t.0)
        .fold(f64::INFINITY, f64::min);
    Ok(Some(Headroom {
        tried,
        sustained_multiple: sustained,
        failed_multiple: failed.is_finite().then_some(failed),
    }))
}

/// Writes the report files and prints the verdict; the exit code follows the verdict.
fn finish(report: &PlanReport, runs: &[PlanRun], out: &Path) -> ExitCode {
    let json = match serde_json::to_string_pretty(report) {
        Ok(json) => json,
        Err(error) => return bad_input(format!("cannot serialise the plan: {error}")),
    };
    for (name, content) in [
        ("plan.json", json + "\n"),
        ("report.md", report.markdown()),
        ("report.html", report.html(runs)),
    ] {
        let path = out.join(name);
        if let Err(error) = std::fs::write(&path, content) {
            return bad_input(format!("cannot write {}: {error}", path.display()));
        }
    }
    print!("{}", report.markdown());
    println!(
        "\nreport: {} (also report.md, plan.json)",
        out.join("report.html").display()
    );
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `dwsim plan merge`: the union of shards' results files, then the report.
pub(crate) fn merge(files: &[PathBuf], out: &Path) -> ExitCode {
    let mut done: BTreeMap<RunKey, PlanRun> = BTreeMap::new();
    for path in files {
        if !path.exists() {
            return bad_input(format!("results file {} does not exist", path.display()));
        }
        let (runs, warnings) = match read_results(path) {
            Ok(found) => found,
            Err(error) => return bad_input(error),
        };
        for warning in warnings {
            eprintln!("warning: {warning}");
        }
        for run in runs {
            done.entry(run.key()).or_insert(run);
        }
    }
    let runs: Vec<PlanRun> = done.into_values().collect();
    let Some(first) = runs.first() else {
        return bad_input("the results files hold no plan runs: nothing to merge");
    };
    let scenarios: BTreeSet<(&str, &[String])> = runs
        .iter()
        .map(|r| (r.scenario_path.as_str(), r.base_sets.as_slice()))
        .collect();
    if scenarios.len() > 1 {
        return bad_input(format!(
            "the results files come from {} different plans (scenario and --set options differ); merge the shards of one plan",
            scenarios.len()
        ));
    }
    if let Err(error) = prepare_out_dir(out) {
        return bad_input(error);
    }
    let mut configs: Vec<Config> = runs
        .iter()
        .filter(|r| r.traffic_multiple == 1.0)
        .map(|r| r.config.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    configs.sort();
    let seeds: Vec<u64> = runs
        .iter()
        .map(|r| r.seed)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // The axes, recovered from the configurations: each key with the values it took.
    let mut axes: Vec<Axis> = Vec::new();
    for (key, value) in configs.iter().flat_map(|c| c.settings.iter()) {
        match axes.iter_mut().find(|a| a.keys[0] == *key) {
            Some(axis) if !axis.values.contains(value) => axis.values.push(value.clone()),
            Some(_) => {}
            None => axes.push(Axis {
                keys: vec![key.clone()],
                values: vec![value.clone()],
            }),
        }
    }
    let merged_results = out.join(RESULTS_FILE);
    let mut text = String::new();
    for run in &runs {
        match serde_json::to_string(run) {
            Ok(line) => {
                text.push_str(&line);
                text.push('\n');
            }
            Err(error) => return bad_input(format!("cannot serialise a run: {error}")),
        }
    }
    if let Err(error) = std::fs::write(&merged_results, text) {
        return bad_input(format!(
            "cannot write {}: {error}",
            merged_results.display()
        ));
    }
    eprintln!(
        "merged {} files: {} runs of {} configurations over {} seeds",
        files.len(),
        runs.len(),
        configs.len(),
        seeds.len()
    );
    let inputs = PlanInputs {
        scenario: &first.scenario,
        scenario_path: &first.scenario_path,
        base_sets: &first.base_sets,
        axes: &axes,
        configs: &configs,
        invalid: &[],
        seeds: &seeds,
        headroom: None,
    };
    finish(&PlanReport::build(&inputs, &runs), &runs, out)
}

/// Whether unit `index` of the plan belongs to `shard` (round robin, like sweep shards).
fn in_shard(index: usize, shard: Shard) -> bool {
    (index as u64) % shard.count == shard.index - 1
}

/// The output directory must be new, empty, or an earlier plan's (whose results resume);
/// anything else is refused, so nothing unrelated is overwritten or mixed in.
fn prepare_out_dir(out: &Path) -> Result<(), String> {
    if out.exists() {
        if !out.is_dir() {
            return Err(format!(
                "--out {} is a file; give a directory for the plan's report",
                out.display()
            ));
        }
        let entries: Vec<String> = std::fs::read_dir(out)
            .map_err(|e| format!("cannot read --out {}: {e}", out.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let ours = |name: &String| name == RESULTS_FILE || REPORT_FILES.contains(&name.as_str());
        if let Some(other) = entries.iter().find(|name| !ours(name)) {
            return Err(format!(
                "--out {} holds `{other}`, which is not a plan's output; give a new or empty directory (a directory holding an earlier plan's {RESULTS_FILE} resumes it)",
                out.display()
            ));
        }
    }
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create --out {}: {e}", out.display()))
}

/// The reason of a refused scenario without its `scenario X is not valid:` header line.
fn first_line_after_header(reason: &str) -> String {
    let mut lines = reason.lines();
    let first = lines.next().unwrap_or_default();
    match lines.next() {
        Some(second) if first.ends_with("is not valid:") => second.to_string(),
        _ => first.to_string(),
    }
}
