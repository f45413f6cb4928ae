//! One finished run of a plan reduced to what a planner compares: one JSON line of the plan's
//! results file, read back by `plan merge` and by a resumed plan.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::campaign::plan::{Config, RESULTS_KIND, RunKey, Unit};
use crate::check::CheckerName;
use crate::report::resources::SeriesPoint;
use crate::report::summary::Summary;

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
    /// Checkpoints completed (every job) and writer stalls at the stop trigger. Absent from
    /// results files written before they were recorded: 0.
    #[serde(default)]
    pub checkpoints_completed: u64,
    #[serde(default)]
    pub write_stalls: u64,
    /// Most live small data files each table held at any committed snapshot.
    #[serde(default)]
    pub dwd_max_small_files: usize,
    #[serde(default)]
    pub dws_max_small_files: usize,
    /// Data, changelog and metadata files written and deleted on storage over the run.
    #[serde(default)]
    pub files_written: u64,
    #[serde(default)]
    pub files_deleted: u64,
    /// Live data files of both tables at their latest snapshots at the end.
    #[serde(default)]
    pub live_files_at_end: usize,
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

/// The freshness a plan judges a run on, and the verdict that follows. The lakehouse's is the
/// freshness checker's (event -> visible in a committed DWS snapshot, where the row is then
/// right). The TT era has no such figure: its real-time rows appear quickly but wrong
/// (duplicates counted, late events dropped) until the batch job overwrites them, so a planner
/// comparing the two is judged on when the served rows become accurate (time-to-accurate),
/// against the same SLA. `dwsim run` keeps the TT era's checkers as they are (its correctness
/// at the end); only the plan's headline reads freshness this way.
struct FreshnessJudged {
    p99_ms: i64,
    max_ms: i64,
    sla_ms: Option<i64>,
    verdict: String,
    failed_checkers: Vec<String>,
    failure: Option<String>,
}

impl FreshnessJudged {
    fn of(summary: &Summary, scenario: &crate::scenario::Scenario) -> Self {
        let mut judged = Self {
            p99_ms: summary.freshness.p99_ms,
            max_ms: summary.freshness.max_ms,
            sla_ms: summary.freshness.sla_p99_ms,
            verdict: summary.verdict.clone(),
            failed_checkers: summary.failed_checkers.clone(),
            failure: None,
        };
        let Some(pipeline) = summary.pipeline.as_ref().filter(|p| p.tt_era.is_some()) else {
            return judged;
        };
        let accurate = &pipeline.time_to_accurate;
        judged.p99_ms = accurate.p99_ms;
        judged.max_ms = accurate.max_ms;
        judged.sla_ms = scenario.sla.freshness_p99.map(|m| m.0);
        if let Some(sla_ms) = judged.sla_ms
            && accurate.p99_ms > sla_ms
        {
            let name = CheckerName::Freshness.name().to_string();
            if !judged.failed_checkers.contains(&name) {
                judged.failed_checkers.push(name);
            }
            judged.verdict = "FAIL".to_string();
            judged.failure = Some(format!(
                "freshness: the TT era's served rows become accurate p99 {:.1} s after their minute (batch correction), over the SLA's {:.1} s; its real-time rows appear p99 {:.1} s after their minute, not yet accurate",
                accurate.p99_ms as f64 / 1e3,
                sla_ms as f64 / 1e3,
                pipeline.time_to_first_value.p99_ms as f64 / 1e3
            ));
        }
        judged
    }
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
        let judged = FreshnessJudged::of(summary, scenario);
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
            verdict: judged.verdict,
            failed_checkers: judged.failed_checkers,
            // A checker's own violation names the run's first failure; the plan's freshness
            // judgement only when there is none.
            first_violation: first_violation.or(judged.failure),
            freshness_p99_ms: judged.p99_ms,
            freshness_max_ms: judged.max_ms,
            freshness_sla_ms: judged.sla_ms,
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
            checkpoints_completed: summary.checkpoints_completed,
            write_stalls: summary.write_stalls,
            dwd_max_small_files: summary.files.dwd_over_run.max_small_files,
            dws_max_small_files: summary.files.dws_over_run.max_small_files,
            files_written: resources.storage.iter().map(|s| s.files_written).sum(),
            files_deleted: resources.storage.iter().map(|s| s.files_deleted).sum(),
            live_files_at_end: summary.files.dwd_live_files + summary.files.dws_live_files,
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
            checkpoints_completed: 0,
            write_stalls: 0,
            dwd_max_small_files: 0,
            dws_max_small_files: 0,
            files_written: 0,
            files_deleted: 0,
            live_files_at_end: 0,
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

/// What a configuration's runs did to checkpoints, compaction and files: the figures the seed's
/// optimisations (traffic-driven checkpoints, dedicated compaction, file lifecycle) move. Means
/// over seeds, except the worst case for stalls and small files.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Operations {
    pub checkpoints_mean: f64,
    pub write_stalls_worst: u64,
    pub dwd_small_files_worst: usize,
    pub dws_small_files_worst: usize,
    pub files_written_mean: f64,
    pub files_deleted_mean: f64,
    pub live_files_at_end_worst: usize,
    pub storage_bytes_written_mean: f64,
}

impl Operations {
    pub fn of(runs: &[&PlanRun]) -> Self {
        let count = runs.len().max(1) as f64;
        let mean = |f: &dyn Fn(&PlanRun) -> f64| runs.iter().map(|r| f(r)).sum::<f64>() / count;
        Self {
            checkpoints_mean: mean(&|r| r.checkpoints_completed as f64),
            write_stalls_worst: runs.iter().map(|r| r.write_stalls).max().unwrap_or(0),
            dwd_small_files_worst: runs
                .iter()
                .map(|r| r.dwd_max_small_files)
                .max()
                .unwrap_or(0),
            dws_small_files_worst: runs
                .iter()
                .map(|r| r.dws_max_small_files)
                .max()
                .unwrap_or(0),
            files_written_mean: mean(&|r| r.files_written as f64),
            files_deleted_mean: mean(&|r| r.files_deleted as f64),
            live_files_at_end_worst: runs.iter().map(|r| r.live_files_at_end).max().unwrap_or(0),
            storage_bytes_written_mean: mean(&|r| r.storage_bytes_written as f64),
        }
    }
}

/// The columns of the operations table, in both report formats.
pub(crate) const OPERATIONS_COLUMNS: [&str; 10] = [
    "configuration",
    "checkpoints",
    "write stalls (worst)",
    "DWD small files (worst)",
    "DWS small files (worst)",
    "files written",
    "files deleted",
    "live files at end (worst)",
    "storage written",
    "busy core-hours",
];

/// One configuration's row of the operations table, as plain text cells.
pub(crate) fn operations_cells(label: &str, o: &Operations, busy_core_hours: f64) -> Vec<String> {
    vec![
        label.to_string(),
        format!("{:.0}", o.checkpoints_mean),
        o.write_stalls_worst.to_string(),
        o.dwd_small_files_worst.to_string(),
        o.dws_small_files_worst.to_string(),
        format!("{:.0}", o.files_written_mean),
        format!("{:.0}", o.files_deleted_mean),
        o.live_files_at_end_worst.to_string(),
        crate::report::resources::bytes(o.storage_bytes_written_mean as u64),
        format!("{busy_core_hours:.1}"),
    ]
}
