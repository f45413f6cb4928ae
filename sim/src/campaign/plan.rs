//! Capacity plans: a grid of scenario options (`--vary KEY=V1,V2`) run over seeds, each run
//! reduced to what a planner compares (cost, freshness per phase, availability, budget overspend,
//! recovery, TT backlog, files), kept one JSON line per run so a plan resumes, shards and merges
//! like a sweep; then the analysis: which configurations meet every SLA on every seed, the
//! cheapest of them with its margins, the Pareto frontier of cost against freshness, and the
//! largest traffic multiple the recommendation sustains.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::campaign::sweep::scenario_digest;
use crate::report::resources::SeriesPoint;
use crate::report::summary::Summary;
use crate::scenario::Scenario;

/// The first field of every line of a plan's results file: tells it from any other file.
pub const RESULTS_KIND: &str = "dwsim-plan-run";
/// The most configurations one plan may hold (a grid multiplies quickly).
pub const CONFIGS_MAX: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "--vary `{0}` is not an axis; write it like `dwd.bucket=8,16,32` (KEY=V1,V2,...), or `dwd.bucket+jobs.parallelism.default=8,16` to move several keys together"
    )]
    BadAxis(String),
    #[error("--vary names `{0}` twice; give each key one --vary")]
    RepeatedKey(String),
    #[error("the grid has {0} configurations, more than {CONFIGS_MAX}; vary fewer keys or values")]
    TooManyConfigs(usize),
    #[error("results file {path}: {message}")]
    Results { path: PathBuf, message: String },
}

/// One `--vary`: keys that take each value together (usually one key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Axis {
    pub keys: Vec<String>,
    pub values: Vec<String>,
}

impl Axis {
    /// Parses `KEY=V1,V2,...` or `KEY1+KEY2=V1,V2,...`.
    pub fn parse(text: &str) -> Result<Self, PlanError> {
        let bad = || PlanError::BadAxis(text.to_string());
        let (keys, values) = text.split_once('=').ok_or_else(bad)?;
        let keys: Vec<String> = keys.split('+').map(|k| k.trim().to_string()).collect();
        let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
        let key_ok = |k: &String| {
            !k.is_empty()
                && k.contains('.')
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        };
        if !keys.iter().all(key_ok) || values.iter().any(String::is_empty) {
            return Err(bad());
        }
        let distinct: BTreeSet<&String> = values.iter().collect();
        if distinct.len() != values.len() {
            return Err(bad());
        }
        Ok(Self { keys, values })
    }
}

/// One combination of the grid: every varied key with its value, in `--vary` order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Config {
    pub settings: Vec<(String, String)>,
}

impl Config {
    /// `dwd.bucket=16 jobs.parallelism.default=16`: the configuration's name everywhere.
    pub fn label(&self) -> String {
        if self.settings.is_empty() {
            return "as written".to_string();
        }
        self.settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The `--set` flags that select this configuration.
    pub fn set_flags(&self) -> String {
        self.settings
            .iter()
            .map(|(k, v)| format!(" --set {k}={v}"))
            .collect()
    }
}

/// Every combination of the axes, the first axis varying slowest.
pub fn grid(axes: &[Axis]) -> Result<Vec<Config>, PlanError> {
    let mut seen = BTreeSet::new();
    for key in axes.iter().flat_map(|a| &a.keys) {
        if !seen.insert(key.clone()) {
            return Err(PlanError::RepeatedKey(key.clone()));
        }
    }
    let count = axes
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
        .unwrap_or(usize::MAX);
    if count > CONFIGS_MAX {
        return Err(PlanError::TooManyConfigs(count));
    }
    let mut configs = vec![Config { settings: vec![] }];
    for axis in axes {
        let mut next = Vec::with_capacity(configs.len() * axis.values.len());
        for config in &configs {
            for value in &axis.values {
                let mut settings = config.settings.clone();
                settings.extend(axis.keys.iter().map(|k| (k.clone(), value.clone())));
                next.push(Config { settings });
            }
        }
        configs = next;
    }
    Ok(configs)
}

/// A fault as a plan's charts mark it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultMark {
    pub at_s: f64,
    pub end_s: f64,
    pub label: String,
}

/// Recovery after one crash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatchUp {
    pub host: String,
    pub crashed_at_s: f64,
    /// From restart until every event produced before it was visible (None: never).
    pub caught_up_after_s: Option<f64>,
}

/// One finished run of a plan: one JSON line of its results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRun {
    /// Always [`RESULTS_KIND`].
    pub kind: String,
    /// The scenario's name.
    pub scenario: String,
    /// The scenario as the plan was given it (file or built-in name).
    pub scenario_path: String,
    /// `--set` options of the plan, applied under every configuration.
    pub base_sets: Vec<String>,
    pub config: Config,
    /// Traffic multiple of a headroom run (1 for the grid).
    pub traffic_multiple: f64,
    pub seed: u64,
    /// Fingerprint of the parsed scenario: a resumed plan reuses only results of the same one.
    pub scenario_digest: String,
    /// PASS, FAIL or PANIC.
    pub verdict: String,
    pub failed_checkers: Vec<String>,
    /// The first violation, as `checker: message`.
    pub first_violation: Option<String>,
    pub freshness_p99_ms: i64,
    pub freshness_max_ms: i64,
    pub freshness_sla_ms: Option<i64>,
    /// (phase, p99 ms) in story order.
    pub phases: Vec<(String, i64)>,
    pub availability_pct: f64,
    pub availability_sla_pct: Option<f64>,
    pub overspend_pct: Option<f64>,
    pub overspend_sla_pct: Option<f64>,
    pub catch_ups: Vec<CatchUp>,
    pub reserved_slots: u32,
    pub usd_per_day: f64,
    pub busy_core_hours: f64,
    pub reserved_cu_hours: f64,
    pub dwd_job_peak_utilisation_pct: f64,
    pub tt_backlog_peak_records: u64,
    pub represents: u64,
    pub represented_events_per_s_peak: f64,
    pub represented_events_per_s_mean: f64,
    /// Represented bytes written to storage over the run (all storage systems).
    pub storage_bytes_written: u64,
    pub storage_requests: u64,
    pub dwd_max_files_per_bucket: usize,
    pub series: Vec<SeriesPoint>,
    /// (simulated s, most live DWD data files in one bucket), at most one point a minute.
    pub dwd_files_per_bucket: Vec<(f64, usize)>,
    pub faults: Vec<FaultMark>,
    pub wall_s: f64,
    /// The architecture comparison's figures (scenarios with a `[pipeline]` section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<crate::campaign::before_after::PipelinePlanFigures>,
}

/// The largest value per minute of a (committer epoch ms, value) series, as (simulated s, value).
fn per_minute(points: &[(i64, usize)], epoch_ms: i64) -> Vec<(f64, usize)> {
    let mut minutes: BTreeMap<i64, usize> = BTreeMap::new();
    for &(time_ms, value) in points {
        let minute = (time_ms - epoch_ms).div_euclid(60_000);
        let slot = minutes.entry(minute).or_default();
        *slot = (*slot).max(value);
    }
    minutes
        .into_iter()
        .map(|(minute, value)| (minute as f64 * 60.0, value))
        .collect()
}

impl PlanRun {
    pub fn passed(&self) -> bool {
        self.verdict == "PASS"
    }

    /// Reduces a checked run to a plan line.
    pub fn from_summary(
        summary: &Summary,
        unit: &Unit,
        base_sets: &[String],
        digest: &str,
    ) -> Self {
        let (scenario, config, traffic_multiple) =
            (&unit.scenario, &unit.config, unit.traffic_multiple);
        let first_violation = summary
            .violations()
            .next()
            .map(|v| format!("{}: {}", v.checker.name(), v.message))
            .or_else(|| summary.world_error.as_ref().map(|e| format!("world: {e}")));
        let resources = &summary.resources;
        let faults = scenario
            .faults
            .iter()
            .map(|f| FaultMark {
                at_s: f.at.0 as f64 / 1e3,
                end_s: f.end().0 as f64 / 1e3,
                label: format!("{} {}", f.effect.kind().name(), f.effect.hosts().join("/")),
            })
            .collect();
        Self {
            kind: RESULTS_KIND.to_string(),
            scenario: summary.scenario.clone(),
            scenario_path: summary.scenario_path.clone(),
            base_sets: base_sets.to_vec(),
            config: config.clone(),
            traffic_multiple,
            seed: summary.seed,
            scenario_digest: digest.to_string(),
            verdict: summary.verdict.clone(),
            failed_checkers: summary.failed_checkers.clone(),
            first_violation,
            freshness_p99_ms: summary.freshness.p99_ms,
            freshness_max_ms: summary.freshness.max_ms,
            freshness_sla_ms: summary.freshness.sla_p99_ms,
            phases: summary
                .freshness
                .phases
                .iter()
                .map(|p| (p.phase.name().to_string(), p.p99_ms))
                .collect(),
            availability_pct: summary.availability.availability_pct,
            availability_sla_pct: summary.availability.sla_pct,
            overspend_pct: (!summary.budget.is_off()).then_some(summary.budget.overspend_pct),
            overspend_sla_pct: summary.budget.sla_overspend_max_pct,
            catch_ups: summary
                .recovery
                .crashes
                .iter()
                .map(|c| CatchUp {
                    host: c.host.clone(),
                    crashed_at_s: c.crashed_at_ms as f64 / 1e3,
                    caught_up_after_s: c.caught_up_after_ms.map(|ms| ms as f64 / 1e3),
                })
                .collect(),
            reserved_slots: resources.reserved_slots,
            usd_per_day: resources.usd_per_day,
            busy_core_hours: resources.jobs.iter().map(|j| j.busy_core_hours).sum(),
            reserved_cu_hours: resources.reserved_cu_hours,
            dwd_job_peak_utilisation_pct: resources
                .jobs
                .iter()
                .find(|j| j.job == "dwd-job")
                .map_or(0.0, |j| j.peak_utilisation_pct),
            tt_backlog_peak_records: resources.tt_backlog_peak_records,
            represents: resources.represents,
            represented_events_per_s_peak: resources.represented_events_per_s_peak,
            represented_events_per_s_mean: resources.represented_events_per_s_mean,
            storage_bytes_written: resources.storage.iter().map(|s| s.bytes_written).sum(),
            storage_requests: resources
                .storage
                .iter()
                .map(|s| s.write_requests + s.read_requests + s.list_requests + s.delete_requests)
                .sum(),
            dwd_max_files_per_bucket: summary.files.dwd_over_run.max_files_per_bucket,
            series: resources.series.clone(),
            dwd_files_per_bucket: per_minute(
                &summary.files.dwd_over_run.files_per_bucket_over_time,
                scenario.run.epoch_ms,
            ),
            faults,
            wall_s: summary.wall.wall_s,
            pipeline: crate::campaign::before_after::PipelinePlanFigures::from_summary(
                summary, scenario,
            ),
        }
    }

    /// A run that panicked: a bug, reported like a failure.
    pub fn panicked(
        unit: &Unit,
        scenario_path: &str,
        base_sets: &[String],
        digest: &str,
        message: String,
    ) -> Self {
        let scenario = &unit.scenario;
        Self {
            kind: RESULTS_KIND.to_string(),
            scenario: scenario.name.clone(),
            scenario_path: scenario_path.to_string(),
            base_sets: base_sets.to_vec(),
            config: unit.config.clone(),
            traffic_multiple: unit.traffic_multiple,
            seed: unit.seed,
            scenario_digest: digest.to_string(),
            verdict: "PANIC".into(),
            failed_checkers: vec!["panic".into()],
            first_violation: Some(format!("panic: {message}")),
            freshness_p99_ms: 0,
            freshness_max_ms: 0,
            freshness_sla_ms: None,
            phases: vec![],
            availability_pct: 0.0,
            availability_sla_pct: None,
            overspend_pct: None,
            overspend_sla_pct: None,
            catch_ups: vec![],
            reserved_slots: 0,
            usd_per_day: 0.0,
            busy_core_hours: 0.0,
            reserved_cu_hours: 0.0,
            dwd_job_peak_utilisation_pct: 0.0,
            tt_backlog_peak_records: 0,
            represents: scenario.represents(),
            represented_events_per_s_peak: 0.0,
            represented_events_per_s_mean: 0.0,
            storage_bytes_written: 0,
            storage_requests: 0,
            dwd_max_files_per_bucket: 0,
            series: vec![],
            dwd_files_per_bucket: vec![],
            faults: vec![],
            wall_s: 0.0,
            pipeline: None,
        }
    }

    /// What identifies the run in a results file.
    pub fn key(&self) -> RunKey {
        RunKey {
            config: self.config.clone(),
            traffic_multiple_milli: (self.traffic_multiple * 1000.0).round() as u64,
            seed: self.seed,
            digest: self.scenario_digest.clone(),
        }
    }
}

/// A run's identity: its configuration, traffic multiple, seed and scenario fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RunKey {
    pub config: Config,
    pub traffic_multiple_milli: u64,
    pub seed: u64,
    pub digest: String,
}

/// One run to do: the parsed scenario of a configuration (at a traffic multiple) and a seed.
#[derive(Debug, Clone)]
pub struct Unit {
    pub config: Config,
    pub traffic_multiple: f64,
    pub scenario: Scenario,
    pub seed: u64,
}

impl Unit {
    pub fn digest(&self) -> String {
        scenario_digest(&self.scenario)
    }

    pub fn key(&self) -> RunKey {
        RunKey {
            config: self.config.clone(),
            traffic_multiple_milli: (self.traffic_multiple * 1000.0).round() as u64,
            seed: self.seed,
            digest: self.digest(),
        }
    }

    /// Runs and checks the unit; a panic becomes a PANIC line.
    pub fn run(&self, scenario_path: &str, base_sets: &[String], git_commit: &str) -> PlanRun {
        use std::panic::{AssertUnwindSafe, catch_unwind};
        let digest = self.digest();
        let started = crate::campaign::sweep::wall_clock();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let run = crate::check::run(self.scenario.clone(), self.seed);
            let summary = Summary::build(
                &run,
                scenario_path,
                git_commit,
                started.elapsed().as_secs_f64(),
            );
            PlanRun::from_summary(&summary, self, base_sets, &digest)
        }));
        outcome.unwrap_or_else(|payload| {
            let message = crate::campaign::pool::panic_message(payload.as_ref());
            PlanRun::panicked(self, scenario_path, base_sets, &digest, message)
        })
    }
}

/// Reads a plan's results files: every line must be a plan run (a file that is not one is
/// refused, never rewritten); a truncated last line, what an interrupted plan leaves, is
/// skipped with a warning. A missing file is empty.
pub fn read_results(path: &Path) -> Result<(Vec<PlanRun>, Vec<String>), PlanError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], vec![])),
        Err(e) => {
            return Err(PlanError::Results {
                path: path.to_path_buf(),
                message: e.to_string(),
            });
        }
    };
    let mut runs = Vec::new();
    let mut warnings = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<PlanRun>(line) {
            Ok(run) if run.kind == RESULTS_KIND => runs.push(run),
            _ if index + 1 == lines.len() && !text.ends_with('\n') => warnings.push(format!(
                "{}: line {} is cut short (an interrupted plan); that run goes again",
                path.display(),
                index + 1
            )),
            _ => {
                return Err(PlanError::Results {
                    path: path.to_path_buf(),
                    message: format!(
                        "line {} is not a `dwsim plan` result; is this the right file? (plan results files hold one JSON object with \"kind\": \"{RESULTS_KIND}\" per line)",
                        index + 1
                    ),
                });
            }
        }
    }
    Ok((runs, warnings))
}

/// Appends plan runs to a results file, one flushed line each. A cut-short last line left by an
/// interrupted plan is dropped first, so the file stays one JSON object per line.
pub struct ResultsAppender {
    file: std::fs::File,
    path: PathBuf,
}

impl ResultsAppender {
    pub fn open(path: &Path) -> Result<Self, PlanError> {
        let error = |e: std::io::Error| PlanError::Results {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.is_empty()
            && !text.ends_with('\n')
        {
            let keep = text.rfind('\n').map_or(0, |i| i + 1);
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(error)?;
            file.set_len(keep as u64).map_err(error)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(error)?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn append(&mut self, run: &PlanRun) -> Result<(), PlanError> {
        let mut line = serde_json::to_string(run).map_err(|e| PlanError::Results {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|e| PlanError::Results {
                path: self.path.clone(),
                message: e.to_string(),
            })
    }
}

/// Runs `units` on up to `jobs` threads (each run on a thread of its own, as sweeps do);
/// `on_done` sees each finished run on the calling thread, in finishing order.
pub fn run_units(
    units: &[Unit],
    jobs: usize,
    scenario_path: &str,
    base_sets: &[String],
    git_commit: &str,
    mut on_done: impl FnMut(PlanRun),
) {
    crate::campaign::pool::run_parallel(
        units,
        jobs.max(1),
        |unit| unit.run(scenario_path, base_sets, git_commit),
        |_, run| on_done(run),
    );
}

/// A configuration's runs at traffic multiple 1, judged together.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigOutcome {
    pub config: Config,
    pub label: String,
    pub seeds_run: usize,
    pub seeds_failed: Vec<u64>,
    /// Meets every SLA (every checker passes) on every seed.
    pub passed: bool,
    /// The checker that failed on most seeds (ties: first in the summary's order), with one
    /// message.
    pub first_failure: Option<String>,
    pub reserved_slots: u32,
    pub usd_per_day: f64,
    pub busy_core_hours: f64,
    pub freshness_p99_worst_ms: i64,
    pub freshness_max_worst_ms: i64,
    /// (phase, worst p99 over seeds).
    pub phases_worst: Vec<(String, i64)>,
    pub availability_worst_pct: f64,
    pub overspend_worst_pct: Option<f64>,
    pub catch_up_worst_s: Option<f64>,
    pub dwd_job_peak_utilisation_pct: f64,
    pub tt_backlog_peak_records: u64,
    pub dwd_max_files_per_bucket: usize,
    /// On the Pareto frontier of cost against worst freshness p99 (no other configuration is
    /// both cheaper and fresher).
    pub pareto: bool,
    /// Margins to each SLA on the worst seed (positive: room left).
    pub margins: Margins,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Margins {
    pub freshness_ms: Option<i64>,
    pub availability_pct: Option<f64>,
    pub overspend_pct: Option<f64>,
}

/// Judges each configuration over its seeds (grid runs only).
pub fn outcomes(configs: &[Config], runs: &[PlanRun]) -> Vec<ConfigOutcome> {
    let mut by_config: BTreeMap<&Config, Vec<&PlanRun>> = BTreeMap::new();
    for run in runs.iter().filter(|r| r.traffic_multiple == 1.0) {
        by_config.entry(&run.config).or_default().push(run);
    }
    let mut outcomes: Vec<ConfigOutcome> = configs
        .iter()
        .filter_map(|config| {
            let runs = by_config.get(config)?;
            Some(outcome_of(config, runs))
        })
        .collect();
    // Pareto frontier over (cost, worst freshness p99).
    let points: Vec<(f64, i64)> = outcomes
        .iter()
        .map(|o| (o.usd_per_day, o.freshness_p99_worst_ms))
        .collect();
    for (i, outcome) in outcomes.iter_mut().enumerate() {
        let (cost, fresh) = points[i];
        outcome.pareto = !points
            .iter()
            .enumerate()
            .any(|(j, &(c, f))| j != i && c <= cost && f <= fresh && (c < cost || f < fresh));
    }
    outcomes
}

fn outcome_of(config: &Config, runs: &[&PlanRun]) -> ConfigOutcome {
    let worst_i64 = |f: fn(&PlanRun) -> i64| runs.iter().map(|r| f(r)).max().unwrap_or(0);
    let seeds_failed: Vec<u64> = runs
        .iter()
        .filter(|r| !r.passed())
        .map(|r| r.seed)
        .collect();
    let mut failures: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for run in runs.iter().filter(|r| !r.passed()) {
        if let Some(checker) = run.failed_checkers.first() {
            let entry = failures
                .entry(checker)
                .or_insert((0, run.first_violation.as_deref().unwrap_or("")));
            entry.0 += 1;
        }
    }
    let first_failure = failures
        .iter()
        .max_by_key(|(_, (count, _))| *count)
        .map(|(_, (_, message))| message.to_string());
    let mut phases_worst: Vec<(String, i64)> = Vec::new();
    for run in runs {
        for (phase, p99) in &run.phases {
            match phases_worst.iter_mut().find(|(p, _)| p == phase) {
                Some(entry) => entry.1 = entry.1.max(*p99),
                None => phases_worst.push((phase.clone(), *p99)),
            }
        }
    }
    let availability_worst_pct = runs
        .iter()
        .map(|r| r.availability_pct)
        .fold(f64::INFINITY, f64::min);
    let overspend_worst_pct = runs
        .iter()
        .filter_map(|r| r.overspend_pct)
        .fold(None, |w: Option<f64>, o| Some(w.map_or(o, |w| w.max(o))));
    let freshness_p99_worst_ms = worst_i64(|r| r.freshness_p99_ms);
    let first = runs[0];
    let margins = Margins {
        freshness_ms: first
            .freshness_sla_ms
            .map(|sla| sla - freshness_p99_worst_ms),
        availability_pct: first
            .availability_sla_pct
            .map(|sla| availability_worst_pct - sla),
        overspend_pct: first
            .overspend_sla_pct
            .zip(overspend_worst_pct)
            .map(|(sla, worst)| sla - worst),
    };
    ConfigOutcome {
        config: config.clone(),
        label: config.label(),
        seeds_run: runs.len(),
        passed: seeds_failed.is_empty(),
        seeds_failed,
        first_failure,
        reserved_slots: first.reserved_slots,
        usd_per_day: runs.iter().map(|r| r.usd_per_day).fold(0.0, f64::max),
        busy_core_hours: runs.iter().map(|r| r.busy_core_hours).sum::<f64>() / runs.len() as f64,
        freshness_p99_worst_ms,
        freshness_max_worst_ms: worst_i64(|r| r.freshness_max_ms),
        phases_worst,
        availability_worst_pct,
        overspend_worst_pct,
        catch_up_worst_s: runs
            .iter()
            .flat_map(|r| r.catch_ups.iter().filter_map(|c| c.caught_up_after_s))
            .fold(None, |w: Option<f64>, c| Some(w.map_or(c, |w| w.max(c)))),
        dwd_job_peak_utilisation_pct: runs
            .iter()
            .map(|r| r.dwd_job_peak_utilisation_pct)
            .fold(0.0, f64::max),
        tt_backlog_peak_records: runs
            .iter()
            .map(|r| r.tt_backlog_peak_records)
            .max()
            .unwrap_or(0),
        dwd_max_files_per_bucket: runs
            .iter()
            .map(|r| r.dwd_max_files_per_bucket)
            .max()
            .unwrap_or(0),
        pareto: false,
        margins,
    }
}

/// The cheapest configuration that passed on every seed (ties: the fresher one).
pub fn recommend(outcomes: &[ConfigOutcome]) -> Option<&ConfigOutcome> {
    outcomes.iter().filter(|o| o.passed).min_by(|a, b| {
        a.usd_per_day
            .total_cmp(&b.usd_per_day)
            .then(a.freshness_p99_worst_ms.cmp(&b.freshness_p99_worst_ms))
    })
}

/// The cheapest configuration that failed (what breaks first when you save).
pub fn cheapest_failing(outcomes: &[ConfigOutcome]) -> Option<&ConfigOutcome> {
    outcomes.iter().filter(|o| !o.passed).min_by(|a, b| {
        a.usd_per_day
            .total_cmp(&b.usd_per_day)
            .then(a.freshness_p99_worst_ms.cmp(&b.freshness_p99_worst_ms))
    })
}

/// The SLA that fails on most configurations, when none passes: `checker (n of m configurations)`.
pub fn failing_first(outcomes: &[ConfigOutcome], runs: &[PlanRun]) -> Option<String> {
    let mut counts: BTreeMap<&str, BTreeSet<&Config>> = BTreeMap::new();
    for run in runs
        .iter()
        .filter(|r| r.traffic_multiple == 1.0 && !r.passed())
    {
        if let Some(checker) = run.failed_checkers.first() {
            counts.entry(checker).or_default().insert(&run.config);
        }
    }
    counts
        .iter()
        .max_by_key(|(_, configs)| configs.len())
        .map(|(checker, configs)| {
            format!(
                "{checker} ({} of {} configurations)",
                configs.len(),
                outcomes.len()
            )
        })
}

/// Headroom search: traffic multiples tried and whether every seed passed at each.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Headroom {
    /// (multiple, passed on every seed), in the order tried.
    pub tried: Vec<(f64, bool)>,
    /// The largest multiple that passed (1 when the search was not run past it).
    pub sustained_multiple: f64,
    /// The smallest multiple that failed, if one did within the search's bound.
    pub failed_multiple: Option<f64>,
}

/// The next multiple the headroom bisection tries, given what was tried: doubles from 1 until a
/// multiple fails (at most `upper`), then bisects between the largest pass and the smallest
/// failure until they are within 10% of each other. None when done.
pub fn next_multiple(tried: &[(f64, bool)], upper: f64) -> Option<f64> {
    let pass = tried
        .iter()
        .filter(|t| t.1)
        .map(|t| t.0)
        .fold(1.0, f64::max);
    let fail = tried
        .iter()
        .filter(|t| !t.1)
        .map(|t| t.0)
        .fold(f64::INFINITY, f64::min);
    if fail.is_infinite() {
        let next = (pass * 2.0).min(upper);
        return (next > pass).then_some(next);
    }
    if fail <= pass * 1.1 {
        return None;
    }
    Some(((pass + fail) / 2.0 * 100.0).round() / 100.0)
}

/// Paimon's rule of thumb for a primary-key table: about 1 GB of a day's data per bucket, and
/// the sink's parallelism equal to the buckets.
#[derive(Debug, Clone, Serialize)]
pub struct RuleOfThumb {
    pub represented_events_per_day: f64,
    /// Bytes of one DWD row as the rule counts them (the event's row).
    pub row_bytes: u64,
    pub daily_bytes: f64,
    pub buckets: u64,
}

impl RuleOfThumb {
    pub fn for_rate(represented_events_per_s_mean: f64) -> Self {
        let row_bytes = warehouse::event::EVENT_WIRE_SIZE_BYTES as u64;
        let per_day = represented_events_per_s_mean * 86_400.0;
        let daily_bytes = per_day * row_bytes as f64;
        Self {
            represented_events_per_day: per_day,
            row_bytes,
            daily_bytes,
            buckets: (daily_bytes / 1e9).ceil().max(1.0) as u64,
        }
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
