//! The run summary: what happened, each checker's verdict with its first violation, freshness and
//! speed figures, and the trace hash; as JSON for machines and as text for people.

use serde::Serialize;
use warehouse::env::JournalKind;

use crate::check::Run;
use crate::check::event_time::LatenessReport;
use crate::check::exactly_once::{ExactlyOnceReport, FilesReport};
use crate::check::freshness::FreshnessReport;
use crate::check::sla::{AvailabilityReport, RecoveryReport, check_slas};
use crate::check::spec::percentile;
use crate::check::{CheckerName, Violation};
use crate::report::capacity::CapacityReport;
use crate::report::pipeline::PipelineResources;
use crate::report::resources::ResourcesReport;
use crate::trace::TraceKind;

#[derive(Debug, Clone, Serialize)]
pub struct ServingFigures {
    pub queries_answered: u64,
    pub queries_failed: u64,
    pub staleness_p50_ms: i64,
    pub staleness_p99_ms: i64,
    pub staleness_max_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub scenario_path: String,
    pub seed: u64,
    pub dwsim_version: String,
    pub git_commit: String,
    pub verdict: String,
    pub failed_checkers: Vec<String>,
    pub simulated_s: f64,
    pub chaos_s: f64,
    pub events_produced: u64,
    pub events_dropped_at_source: u64,
    pub checkpoints_completed: u64,
    /// Times a writer stalled at `num-sorted-run.stop-trigger`, waiting for compaction.
    pub write_stalls: u64,
    pub commits: u64,
    pub dwd_snapshots: usize,
    pub dws_snapshots: usize,
    pub job_restores: u64,
    pub job_failovers: u64,
    pub faults_injected: Vec<String>,
    pub world_error: Option<String>,
    pub serving: ServingFigures,
    pub exactly_once: ExactlyOnceReport,
    pub freshness: FreshnessReport,
    pub files: FilesReport,
    /// Event time: late events absorbed by upserts, too-late events in the side table.
    pub lateness: LatenessReport,
    pub capacity: CapacityReport,
    /// Slots, core time, storage and TT backlog at represented scale, and the run over time.
    pub resources: ResourcesReport,
    pub availability: AvailabilityReport,
    pub recovery: RecoveryReport,
    /// Violations of the SLA checkers (availability, recovery).
    pub sla_violations: Vec<Violation>,
    /// Budget control: exhausted budgets, pauses and overspend (absent without budgets).
    #[serde(skip_serializing_if = "crate::check::budget::BudgetReport::is_off")]
    pub budget: crate::check::budget::BudgetReport,
    /// Dual storage HA: serving's failovers and each chain's own figures (absent with one
    /// storage system).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_ha: Option<StorageHaReport>,
    /// The architecture comparison's figures, when the scenario has a `[pipeline]` section (so
    /// summaries of scenarios without one keep their shape).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<crate::check::accuracy::PipelineFigures>,
    /// The comparison's resources: reserved and on-demand CU-hours, storage written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline_resources: Option<PipelineResources>,
    pub trace_events: u64,
    pub trace_hash: String,
    /// Wall-clock figures: the only fields that differ between two runs of one seed.
    pub wall: WallFigures,
}

/// Dual storage HA: how serving moved between the storage systems, and each chain's figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StorageHaReport {
    pub primary: String,
    pub secondary: String,
    pub failover_enabled: bool,
    pub failovers: u64,
    pub failbacks: u64,
    /// Simulated ms serving read from the secondary.
    pub time_on_secondary_ms: i64,
    pub answers_from_secondary: u64,
    /// (simulated ms, system switched to, reason), in order.
    pub switches: Vec<(i64, String, String)>,
    pub chains: Vec<ChainFigures>,
}

/// One storage system's chain, checked on its own.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChainFigures {
    pub storage: String,
    pub dwd_snapshots: usize,
    pub dws_snapshots: usize,
    /// Freshness of this chain's DWS alone (the summary's `freshness` is as served).
    pub freshness_p99_ms: i64,
    pub freshness_max_ms: i64,
    pub events_never_visible: u64,
}

impl StorageHaReport {
    fn build(run: &Run) -> Option<Self> {
        let (output, checks) = (&run.simulation, &run.checks);
        let secondary_checks = checks.secondary.as_ref()?;
        let world = &output.world;
        let log = world.observed.failover.borrow();
        let chains = world.scenario.topology().chains();
        let (primary, secondary) = (chains[0].storage, chains[1].storage);
        let mut on_secondary_since: Option<i64> = None;
        let mut time_on_secondary_ms = 0;
        for (t_ms, to, _) in &log.switches {
            match (to == secondary, on_secondary_since) {
                (true, None) => on_secondary_since = Some(*t_ms),
                (false, Some(since)) => {
                    time_on_secondary_ms += t_ms - since;
                    on_secondary_since = None;
                }
                _ => {}
            }
        }
        if let Some(since) = on_secondary_since {
            time_on_secondary_ms += output.simulated_ms - since;
        }
        let figures = |storage: &str,
                       checks: &crate::check::exactly_once::CheckOutcome,
                       freshness: &FreshnessReport| ChainFigures {
            storage: storage.to_string(),
            dwd_snapshots: checks.exactly_once.dwd_snapshots_checked,
            dws_snapshots: checks.exactly_once.dws_snapshots_checked,
            freshness_p99_ms: freshness.p99_ms,
            freshness_max_ms: freshness.max_ms,
            events_never_visible: freshness.events_never_visible,
        };
        let second = &secondary_checks.outcome;
        Some(Self {
            primary: primary.to_string(),
            secondary: secondary.to_string(),
            failover_enabled: world.scenario.storage.failover,
            failovers: log.switches.iter().filter(|s| s.1 == secondary).count() as u64,
            failbacks: log.switches.iter().filter(|s| s.1 == primary).count() as u64,
            time_on_secondary_ms,
            answers_from_secondary: log.answers_from_secondary,
            switches: log.switches.clone(),
            chains: vec![
                figures(primary, checks, &secondary_checks.primary_freshness),
                figures(secondary, second, &second.freshness),
            ],
        })
    }

    fn render(&self) -> Vec<String> {
        let secs = |ms: i64| format!("{:.1} s", ms as f64 / 1e3);
        let mut lines = vec![format!(
            "storage HA: {} primary, {} secondary, failover {}: {} failovers, {} failbacks, {} served from {} ({} answers)",
            self.primary,
            self.secondary,
            if self.failover_enabled { "on" } else { "off" },
            self.failovers,
            self.failbacks,
            secs(self.time_on_secondary_ms),
            self.secondary,
            self.answers_from_secondary
        )];
        for (t_ms, to, reason) in &self.switches {
            lines.push(format!("  at {}: to {to} ({reason})", secs(*t_ms)));
        }
        for chain in &self.chains {
            lines.push(format!(
                "  chain on {}: DWD {} snapshots, DWS {}; its own freshness p99 {}, max {}, {} events never visible",
                chain.storage,
                chain.dwd_snapshots,
                chain.dws_snapshots,
                secs(chain.freshness_p99_ms),
                secs(chain.freshness_max_ms),
                chain.events_never_visible
            ));
        }
        lines
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WallFigures {
    pub wall_s: f64,
    pub simulated_s_per_wall_s: f64,
    pub events_per_wall_s: f64,
}

impl Summary {
    pub fn build(run: &Run, scenario_path: &str, git_commit: &str, wall_s: f64) -> Self {
        let output = &run.simulation;
        let world = &output.world;
        let trace = world.trace.borrow();
        let truth = world.observed.truth.borrow();
        let mut staleness: Vec<i64> = world
            .observed
            .answers
            .borrow()
            .iter()
            .map(|a| a.staleness_ms)
            .collect();
        let checks = &run.checks;
        let slas = check_slas(world, &checks.freshness, output.simulated_ms);
        let mut violations: Vec<&Violation> = checks.exactly_once.violations.iter().collect();
        violations.extend(&checks.freshness.violations);
        violations.extend(&slas.violations);
        let budget = crate::check::budget::check_budgets(world);
        violations.extend(&budget.violations);
        violations.extend(&checks.files.violations);
        let mut failed_checkers: Vec<String> = violations
            .iter()
            .map(|v| v.checker.name().to_string())
            .collect();
        if output.world_error.is_some() {
            failed_checkers.push("world".into());
        }
        failed_checkers.dedup();
        let events_produced = truth.len() as u64;
        let resources = ResourcesReport::build(world, output.simulated_ms);
        let declared = world.scenario.pipeline.declared;
        let pipeline_resources = declared.then(|| PipelineResources::build(world, &resources));
        let simulated_s = output.simulated_ms as f64 / 1e3;
        Self {
            scenario: world.scenario.name.clone(),
            scenario_path: scenario_path.to_string(),
            seed: world.seeds.seed,
            dwsim_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: git_commit.to_string(),
            verdict: if failed_checkers.is_empty() {
                "PASS"
            } else {
                "FAIL"
            }
            .to_string(),
            failed_checkers,
            simulated_s,
            chaos_s: output.chaos_end_ms as f64 / 1e3,
            events_produced,
            events_dropped_at_source: truth.dropped_at_source,
            checkpoints_completed: trace.count(JournalKind::CheckpointComplete),
            write_stalls: trace.count(JournalKind::WriteStall),
            commits: trace.count(JournalKind::Commit { committed: true }),
            dwd_snapshots: checks.exactly_once.dwd_snapshots_checked,
            dws_snapshots: checks.exactly_once.dws_snapshots_checked,
            job_restores: trace.count(JournalKind::JobRestore),
            job_failovers: trace.count(TraceKind::JobFailover),
            faults_injected: output.faults_injected.clone(),
            world_error: output.world_error.clone(),
            serving: ServingFigures {
                queries_answered: staleness.len() as u64,
                queries_failed: trace.count(TraceKind::QueryFailed),
                staleness_p50_ms: percentile(&mut staleness, 50.0),
                staleness_p99_ms: percentile(&mut staleness, 99.0),
                staleness_max_ms: staleness.iter().copied().max().unwrap_or(0),
            },
            exactly_once: checks.exactly_once.clone(),
            freshness: checks.freshness.clone(),
            files: checks.files.clone(),
            lateness: checks.lateness.clone(),
            capacity: CapacityReport::build(
                &world.observed.busy.borrow(),
                truth.produced_ms(),
                world.scenario.represents(),
            ),
            resources,
            availability: slas.availability.clone(),
            recovery: slas.recovery.clone(),
            sla_violations: slas.violations.clone(),
            budget: budget.clone(),
            storage_ha: StorageHaReport::build(run),
            pipeline: declared.then(|| checks.pipeline.clone()),
            pipeline_resources,
            trace_events: trace.len(),
            trace_hash: trace.hash_hex(),
            wall: WallFigures {
                wall_s,
                simulated_s_per_wall_s: simulated_s / wall_s.max(1e-9),
                events_per_wall_s: events_produced as f64 / wall_s.max(1e-9),
            },
        }
    }

    pub fn passed(&self) -> bool {
        self.verdict == "PASS"
    }

    /// Every checker's violations, in the order the summary reports the checkers.
    pub fn violations(&self) -> impl Iterator<Item = &Violation> {
        self.exactly_once
            .violations
            .iter()
            .chain(&self.freshness.violations)
            .chain(&self.sla_violations)
            .chain(&self.budget.violations)
            .chain(&self.files.violations)
    }

    /// The first violation `checker` reported, as the summary prints it.
    pub fn first_violation(&self, checker: CheckerName) -> Option<&Violation> {
        self.violations().find(|v| v.checker == checker)
    }

    pub fn reproduce_command(&self) -> String {
        format!("dwsim run {} --seed {}", self.scenario_path, self.seed)
    }

    /// The human summary, ending with the `trace-hash:` line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        let secs = |ms: i64| format!("{:.1} s", ms as f64 / 1e3);
        line(format!(
            "dwsim {} (commit {}) scenario `{}` seed {}",
            self.dwsim_version, self.git_commit, self.scenario, self.seed
        ));
        line(format!(
            "simulated {:.1} s (chaos {:.1} s, then liveness) in {:.2} wall s: {:.0} simulated s per wall s, {:.0} events per wall s",
            self.simulated_s,
            self.chaos_s,
            self.wall.wall_s,
            self.wall.simulated_s_per_wall_s,
            self.wall.events_per_wall_s
        ));
        let e = &self.exactly_once;
        line(format!(
            "events: {} produced, {} records appended to TT ({} duplicate appends absorbed), {} invalid dropped, {} dropped at source, {} never reached TT",
            self.events_produced,
            e.appended_records,
            e.duplicate_appends,
            e.invalid_events,
            self.events_dropped_at_source,
            e.never_reached_tt
        ));
        if e.unconsumed_at_end > 0 {
            line(format!(
                "unconsumed: {} valid events were still in TT beyond DWD's last committed offsets when the run ended (liveness judges them)",
                e.unconsumed_at_end
            ));
        }
        line(format!(
            "jobs: {} checkpoints completed, {} commits, {} restores, {} failovers, {} write stalls; snapshots: DWD {}, DWS {}",
            self.checkpoints_completed,
            self.commits,
            self.job_restores,
            self.job_failovers,
            self.write_stalls,
            self.dwd_snapshots,
            self.dws_snapshots
        ));
        let files = &self.files;
        line(format!(
            "files at the end: DWD {} live data files (at most {} in a bucket), DWS {} (at most {} in a bucket)",
            files.dwd_live_files,
            files.dwd_max_files_per_bucket,
            files.dws_live_files,
            files.dws_max_files_per_bucket
        ));
        for (label, table) in [("DWD", &files.dwd_over_run), ("DWS", &files.dws_over_run)] {
            line(format!(
                "files over the run, {label}: at most {} live data files in a bucket (snapshot {}), at most {} small files; {} snapshots expired, {} data/changelog files deleted, {} tags and {} unreferenced data/changelog files at the end",
                table.max_files_per_bucket,
                table.max_files_per_bucket_snapshot,
                table.max_small_files,
                table.snapshots_expired,
                table.files_deleted,
                table.tags_at_end,
                table.unreferenced_files_at_end
            ));
        }
        for resources_line in self.resources.render() {
            line(resources_line);
        }
        for capacity_line in self.capacity.render() {
            line(capacity_line);
        }
        if self.faults_injected.is_empty() {
            line("faults: none".into());
        } else {
            line(format!(
                "faults: {} injected: {}",
                self.faults_injected.len(),
                self.faults_injected.join("; ")
            ));
        }
        let s = &self.serving;
        line(format!(
            "serving: {} report queries answered, {} failed; snapshot staleness p50 {}, p99 {}, max {}",
            s.queries_answered,
            s.queries_failed,
            secs(s.staleness_p50_ms),
            secs(s.staleness_p99_ms),
            secs(s.staleness_max_ms)
        ));
        let f = &self.freshness;
        let sla = f.sla_p99_ms.map_or("no SLA set".to_string(), |ms| {
            format!("SLA p99 <= {}", secs(ms))
        });
        let l = &self.lateness;
        line(format!(
            "event time: watermark = min over TT partitions of max event time - {}, allowed lateness {}: {} late events updated closed minutes through upserts, {} too late went to the late-data side table ({} rows)",
            secs(l.out_of_orderness_ms),
            secs(l.allowed_lateness_ms),
            l.late_events_absorbed,
            l.too_late_events,
            l.late_table_rows
        ));
        line(format!(
            "freshness (production/arrival time -> visible in a committed DWS snapshot, {} events; the {} too-late events are excluded): p50 {}, p99 {}, max {} ({sla})",
            f.events_measured,
            l.too_late_events,
            secs(f.p50_ms),
            secs(f.p99_ms),
            secs(f.max_ms)
        ));
        if f.phases.len() > 1 {
            let phases: Vec<String> = f
                .phases
                .iter()
                .map(|p| {
                    format!(
                        "{} p50 {}, p99 {}, max {} ({} events)",
                        p.phase.name(),
                        secs(p.p50_ms),
                        secs(p.p99_ms),
                        secs(p.max_ms),
                        p.events_measured
                    )
                })
                .collect();
            line(format!("freshness per phase: {}", phases.join("; ")));
        }
        line(self.availability.render());
        if let Some(storage_ha) = &self.storage_ha {
            for text in storage_ha.render() {
                line(text);
            }
        }
        if let Some(pipeline) = &self.pipeline {
            for text in pipeline.render() {
                line(text);
            }
        }
        if let Some(resources) = &self.pipeline_resources {
            line(resources.render());
        }
        if let Some(budget) = self.budget.render() {
            line(budget);
        }
        if let Some(recovery) = self.recovery.render() {
            line(recovery);
        }
        if let Some(ms) = f.converged_after_heal_ms {
            line(format!(
                "liveness: last event visible {} after the chaos phase ended",
                secs(ms)
            ));
        }
        line("checkers:".into());
        for checker in CheckerName::ALL {
            if checker == CheckerName::Budget && self.budget.is_off() {
                continue;
            }
            let name = checker.name();
            match self.first_violation(checker) {
                None => line(format!("  {name:<13} PASS")),
                Some(v) => {
                    let when = v
                        .t_ms
                        .map_or(String::new(), |t| format!(" at t={}", secs(t)));
                    line(format!("  {name:<13} FAIL: {}{when}: {}", v.at, v.message));
                }
            }
        }
        if let Some(error) = &self.world_error {
            line(format!("  world         FAIL: {error}"));
        }
        line(format!("verdict: {}", self.verdict));
        if !self.passed() {
            line(format!("reproduce: {}", self.reproduce_command()));
        }
        line(format!("trace-hash: {}", self.trace_hash));
        out
    }
}
