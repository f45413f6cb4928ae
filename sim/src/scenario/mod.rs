//! Scenarios are data: a TOML file describing traffic, tables, jobs, faults and SLAs, parsed once
//! into typed sections (one file each), so no later code reads a string or falls back to a
//! default. Unknown keys and bad values are refused with the file, the line and the fix, never a
//! panic. Option names follow Paimon's and Flink's (`bucket`, `changelog-producer`,
//! `execution.checkpointing.interval`).

pub mod cost;
pub mod faults;
pub mod jobs;
pub mod locate;
pub mod operations;
pub mod overrides;
pub mod pipeline;
pub mod run;
pub mod serving;
pub mod sla;
pub mod storage;
pub mod tables;
pub mod traffic;
pub mod tt;
pub mod units;

use std::path::Path;

use serde::Deserialize;

pub use cost::{CostProfile, CostTable, OperatorCost};
pub use faults::{FaultEffect, FaultKind, FaultSpec};
pub use jobs::{CheckpointPolicyName, CompactorSection, JobsSection};
pub use locate::KeyPath;
pub use operations::{Operation, OperationSpec};
pub use overrides::Override;
pub use pipeline::{Architecture, PipelineSection};
pub use run::RunSection;
pub use serving::ServingSection;
pub use sla::SlaSection;
pub use storage::StorageSection;
pub use tables::{TableSection, sequence_fields};
pub use traffic::{DelaySpec, LateClicks, Spike, StaleResends, TrafficPhase, TrafficSection};
pub use tt::TtSection;
pub use units::{Millis, SkewMillis, parse_size_bytes, parse_skew};

use crate::topology::Topology;
use overrides::LineOrigin;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub run: RunSection,
    pub traffic: TrafficSection,
    #[serde(default)]
    pub tt: TtSection,
    #[serde(default = "TableSection::dwd_default")]
    pub dwd: TableSection,
    #[serde(default = "TableSection::dws_default")]
    pub dws: TableSection,
    #[serde(default)]
    pub jobs: JobsSection,
    #[serde(default)]
    pub serving: ServingSection,
    #[serde(default)]
    pub cost: CostTable,
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// Scripted operator actions: deploys, rollbacks, orphan cleaning.
    #[serde(default)]
    pub operations: Vec<OperationSpec>,
    #[serde(default)]
    pub sla: SlaSection,
    /// `[storage]`: one storage system (`dfs`) or two (`dfs-a`, `dfs-b`) with serving failover.
    #[serde(default)]
    pub storage: StorageSection,
    /// `[pipeline]`: the Paimon lakehouse (default) or the TT-era pipeline it replaced.
    #[serde(default)]
    pub pipeline: PipelineSection,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("scenario {path} is not valid:\n{message}")]
    Invalid { path: String, message: String },
}

/// The most events a run may produce: the ground truth and TT's log are on disk, but the
/// checkers keep a few bytes of state per event and DWS's expected sums per key and minute, so
/// beyond this (half again a whole Double-11 day at double11's rates) a run would exhaust a
/// workstation's memory rather than fail or pass.
pub const EVENTS_PER_RUN_MAX: f64 = 60_000_000.0;

/// A value refused once the scenario was read: the key it came from (to name its line) and
/// why, with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key: KeyPath,
    pub message: String,
}

impl Invalid {
    pub fn at(section: &str, key: &str, message: impl Into<String>) -> Self {
        Self {
            key: KeyPath::at(section, key),
            message: message.into(),
        }
    }
}

/// `Ok` when `holds`, else the refusal of `section`'s `key` with `message`.
pub(crate) fn ensure(
    holds: bool,
    section: &str,
    key: &str,
    message: impl Into<String>,
) -> Result<(), Invalid> {
    if holds {
        Ok(())
    } else {
        Err(Invalid::at(section, key, message))
    }
}

impl Scenario {
    /// The hosts this scenario's world runs.
    pub fn topology(&self) -> Topology {
        Topology {
            dual: self.storage.dual,
            // A `[jobs.compactor]` with no write-only table has nothing to compact and does not run
            // (so a plan can vary `dwd.write-only` alone); inline compaction never races it.
            compactor: self.jobs.compactor.is_some()
                && (self.dwd.write_only || self.dws.write_only),
            tt_era_stores: if self.pipeline.is_tt_era() {
                self.pipeline.stores
            } else {
                0
            },
        }
    }

    /// Production events each simulated event stands for (`[traffic] represents`).
    pub fn represents(&self) -> u64 {
        self.traffic.represents
    }

    /// A byte threshold on DWD's data as the simulation applies it: a simulated DWD row stands
    /// for `represents` production rows, so a production threshold is met `represents` times
    /// sooner (never below 1 byte).
    pub fn dwd_simulated_bytes(&self, production_bytes: u64) -> u64 {
        (production_bytes / self.represents()).max(1)
    }

    /// DWD's table options with its size-driven option (`target-file-size`) at simulated scale,
    /// so compaction output rolls into files that each stand for a production-sized file.
    pub fn dwd_options(&self) -> warehouse::table::TableOptions {
        let mut options = self.dwd.options();
        if self.represents() > 1 {
            options.target_file_size_bytes =
                self.dwd_simulated_bytes(self.dwd.target_file_size_bytes);
        }
        options
    }

    /// The TT broker's configuration, with retention by size at simulated scale (the topic holds
    /// the represented events' bytes).
    pub fn tt_config(&self) -> warehouse::tt::TtConfig {
        let mut config = self.tt.config(self.traffic.partitions);
        config.retention_bytes = config
            .retention_bytes
            .map(|bytes| (bytes / self.represents()).max(1));
        config
    }

    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks; `origin` names the file in error messages, and a refused value is
    /// reported at its line.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        let invalid = |message: String| ScenarioError::Invalid {
            path: origin.to_string(),
            message,
        };
        let scenario: Scenario = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        scenario.check().map_err(|refused| {
            let message = match locate::line_of(text, &refused.key) {
                Some(line) => format!("line {line}: {}", refused.message),
                None => refused.message,
            };
            invalid(message)
        })?;
        Ok(scenario)
    }

    /// Parses with `--set` overrides applied to the text, checked exactly as if the file said
    /// so. An error on a line an override wrote names the override (`--set dwd.bucket=0: ...`);
    /// an error elsewhere keeps the file's line numbers.
    pub fn parse_with_overrides(
        text: &str,
        origin: &str,
        overrides: &[Override],
    ) -> Result<Self, ScenarioError> {
        if overrides.is_empty() || toml::de::DeTable::parse(text).is_err() {
            // Nothing to apply, or a file that is not TOML: the file's own errors, at its lines.
            return Self::parse(text, origin);
        }
        let invalid = |path: &str, message: String| ScenarioError::Invalid {
            path: path.to_string(),
            message,
        };
        let (edited, lines) =
            overrides::apply(text, overrides).map_err(|message| invalid(origin, message))?;
        let with = format!("{origin} with {}", overrides::flags(overrides));
        // The line (1-based) of the edited text an error points at, told by where it came from.
        let refuse = |line: usize, located: String, message: &str| match lines.get(line - 1) {
            Some(LineOrigin::Override(index)) => {
                invalid(origin, format!("--set {}: {message}", overrides[*index]))
            }
            Some(LineOrigin::Original(_)) => invalid(&with, located),
            None => invalid(&with, message.to_string()),
        };
        let scenario: Scenario = toml::from_str(&edited).map_err(|error| {
            let Some(span) = error.span() else {
                return invalid(&with, error.to_string());
            };
            let line = edited[..span.start.min(edited.len())].matches('\n').count() + 1;
            let located = match lines.get(line - 1) {
                Some(LineOrigin::Original(original)) => {
                    render_toml_error(&edited, span, *original, error.message())
                }
                _ => error.message().to_string(),
            };
            refuse(line, located, error.message())
        })?;
        scenario
            .check()
            .map_err(|refused| match locate::line_of(&edited, &refused.key) {
                Some(line) => {
                    let located = match lines.get(line - 1) {
                        Some(LineOrigin::Original(original)) => {
                            format!("line {original}: {}", refused.message)
                        }
                        _ => refused.message.clone(),
                    };
                    refuse(line, located, &refused.message)
                }
                None => invalid(&with, refused.message),
            })?;
        Ok(scenario)
    }

    /// Checks a scenario changed after it was read (a test's edit, a swarm draw) as reading it
    /// would have.
    pub fn validate(&self) -> Result<(), String> {
        self.check().map_err(|refused| refused.message)
    }

    /// Every check of every section, then those across sections.
    fn check(&self) -> Result<(), Invalid> {
        self.run.check()?;
        self.traffic.check()?;
        self.tt.check()?;
        self.dwd.check("dwd")?;
        self.dws.check("dws")?;
        self.jobs.check()?;
        self.serving.check()?;
        self.sla.check()?;
        self.storage.check(self.sla.query_latency_max)?;
        self.pipeline.check()?;
        self.check_tt_era()?;
        self.check_tables_and_jobs()?;
        self.check_dual_storage()?;
        self.check_traffic_fits_the_run()?;
        if self.sla.overspend_max_pct.is_some() && self.serving.daily_budget_micros.is_none() {
            return Err(Invalid::at(
                "sla",
                "overspend_max_pct",
                "[sla] overspend_max_pct needs budgets: set [serving] daily_budget_micros, or remove the SLA",
            ));
        }
        for (index, fault) in self.faults.iter().enumerate() {
            self.check_fault(index, fault)?;
        }
        for (index, operation) in self.operations.iter().enumerate() {
            self.check_operation(index, operation)?;
        }
        Ok(())
    }

    /// What the tables demand of the jobs, and the other way round.
    fn check_tables_and_jobs(&self) -> Result<(), Invalid> {
        for (name, table) in [("dwd", &self.dwd), ("dws", &self.dws)] {
            ensure(
                !table.write_only || self.jobs.compactor.is_some(),
                name,
                "write-only",
                format!(
                    "[{name}] write-only = true but no dedicated compactor runs: its sorted runs would grow until writers stall at num-sorted-run.stop-trigger and fail every checkpoint; add a [jobs.compactor] section, or set write-only = false for inline compaction"
                ),
            )?;
            // Paimon assigns each bucket to exactly one writer subtask.
            let key = if name == "dws" && self.jobs.dws_parallelism.is_some() {
                "dws-job.parallelism"
            } else {
                "parallelism.default"
            };
            let parallelism = if name == "dws" {
                self.jobs.dws_parallelism()
            } else {
                self.jobs.parallelism
            };
            ensure(
                parallelism <= table.bucket,
                "jobs",
                key,
                format!(
                    "[jobs] {key} = {parallelism} exceeds [{name}] bucket = {}: each bucket is \
                     written by exactly one sink subtask, so {} subtasks would sit idle. Match the \
                     sink parallelism to the bucket count (Paimon advises parallelism <= bucket): \
                     raise bucket or lower {key}",
                    table.bucket,
                    parallelism.saturating_sub(table.bucket)
                ),
            )?;
        }
        ensure(
            self.dws.partition_timestamp_formatter.is_none(),
            "dws",
            "partition.timestamp-formatter",
            "[dws] partition.timestamp-formatter applies to [dwd] only: DWS is unpartitioned (its \
             rows are keyed by minute already)",
        )?;
        ensure(
            self.dws.sequence_field.is_none() && !self.dws.unsafe_lookup_ignore_sequence_field,
            "dws",
            "sequence.field",
            "[dws] sequence.field and unsafe.lookup.ignore-sequence-field apply to [dwd] only: DWS rows carry no version field",
        )?;
        ensure(
            !self.dwd.unsafe_lookup_ignore_sequence_field || self.dwd.sequence_field.is_some(),
            "dwd",
            "unsafe.lookup.ignore-sequence-field",
            "[dwd] unsafe.lookup.ignore-sequence-field = true needs a sequence.field to ignore",
        )?;
        ensure(
            self.dwd.changelog_producer == warehouse::table::ChangelogProducer::Lookup,
            "dwd",
            "changelog-producer",
            "[dwd] changelog-producer must be \"lookup\": the DWS job consumes DWD's changelog",
        )?;
        // With dual storage the secondary's jobs (`dwd-job-b`, `dws-job-b`) commit too.
        let committing = self.topology().committing_jobs();
        for job in &self.jobs.unsafe_new_commit_user_on_restart {
            ensure(
                committing.contains(&job.as_str()),
                "jobs",
                "unsafe.new-commit-user-on-restart",
                format!(
                    "[jobs] unsafe.new-commit-user-on-restart names `{job}`; it takes the jobs that commit: {}",
                    committing.join(", ")
                ),
            )?;
        }
        Ok(())
    }

    /// The run's traffic fits in memory: every simulated event is kept for the checkers.
    fn check_traffic_fits_the_run(&self) -> Result<(), Invalid> {
        let events = self.expected_events();
        ensure(
            events <= EVENTS_PER_RUN_MAX,
            "traffic",
            "baseline_events_per_s",
            format!(
                "[traffic] the chaos phase would produce about {events:.0} events (the rate, its spikes and diurnal swing over {}), beyond the {EVENTS_PER_RUN_MAX:.0} a run can hold in memory (every simulated event is kept for the checkers); lower baseline_events_per_s or a spike's multiple, or shorten [run] chaos",
                self.run.chaos
            ),
        )
    }

    /// The events the traffic produces over the chaos phase: its rate integrated in steps of at
    /// least a second (at most 100,000 steps, so a long run is checked quickly).
    pub fn expected_events(&self) -> f64 {
        let chaos_ms = self.run.chaos.0;
        let step_ms = (chaos_ms / 100_000).max(1_000);
        let mut events = 0.0;
        let mut t_ms = 0;
        while t_ms < chaos_ms {
            let width_ms = step_ms.min(chaos_ms - t_ms);
            events += self.rate_at(t_ms + width_ms / 2) * width_ms as f64 / 1_000.0;
            t_ms += width_ms;
        }
        events
    }

    /// What the TT-era pipeline cannot run, and that its last batch correction fits in the run.
    fn check_tt_era(&self) -> Result<(), Invalid> {
        if !self.pipeline.is_tt_era() {
            return Ok(());
        }
        let unsupported = [
            (self.storage.dual, "[storage] dual = true"),
            // An idle [jobs.compactor] (no write-only table) runs nothing, so it may stay.
            (
                self.topology().compactor,
                "[jobs.compactor] with a write-only table",
            ),
            (!self.operations.is_empty(), "[[operations]]"),
            (
                self.serving.daily_budget_micros.is_some(),
                "[serving] daily_budget_micros",
            ),
            (self.dwd.sequence_field.is_some(), "[dwd] sequence.field"),
        ];
        for (present, what) in unsupported {
            ensure(
                !present,
                "pipeline",
                "architecture",
                format!(
                    "[pipeline] architecture = \"tt-era\" does not support {what}: it acts on the lakehouse's tables, which the TT era has none of; remove it or use architecture = \"lakehouse\""
                ),
            )?;
        }
        let epoch_ms = self.run.epoch_ms;
        let period_ms = self.pipeline.batch_period.0;
        let chaos_end_ms = epoch_ms + self.run.chaos.0;
        let last_period_end_ms = self.pipeline.period_start_ms(chaos_end_ms - 1) + period_ms;
        // The last batch round runs `batch.delay` after the last period with traffic ends; it
        // needs a few seconds to read ODS and write every store before the run ends.
        let correction_ms = last_period_end_ms + self.pipeline.batch_delay.0 + 30_000;
        let run_end_ms = chaos_end_ms + self.run.liveness.0;
        ensure(
            correction_ms <= run_end_ms,
            "pipeline",
            "batch.delay",
            format!(
                "[pipeline] the last batch correction (batch.period = {}, batch.delay = {}) would run {} after the run ends: the period holding the end of the chaos phase ends {} after it, plus the delay and 30s to write the stores; lengthen [run] liveness to at least {}, or shorten batch.period or batch.delay",
                self.pipeline.batch_period,
                self.pipeline.batch_delay,
                Millis(correction_ms - run_end_ms),
                Millis(last_period_end_ms - chaos_end_ms),
                Millis(correction_ms - chaos_end_ms)
            ),
        )
    }

    fn check_dual_storage(&self) -> Result<(), Invalid> {
        if !self.storage.dual {
            return Ok(());
        }
        ensure(
            self.operations.is_empty(),
            "storage",
            "dual",
            "[storage] dual = true does not support [[operations]] yet (a deploy or rollback would act on one storage system's chain only); run the operations with a single storage system",
        )?;
        ensure(
            self.jobs.compactor.is_none(),
            "storage",
            "dual",
            "[storage] dual = true does not support [jobs.compactor] yet (each storage system would need its own compactor); use inline compaction (write-only = false) with dual storage",
        )
    }

    /// A fault's hosts exist in this world and can take its kind, and it heals by the end of
    /// the chaos phase.
    fn check_fault(&self, index: usize, fault: &FaultSpec) -> Result<(), Invalid> {
        let context =
            |message: String| format!("[[faults]] #{} (at {}): {message}", index + 1, fault.at);
        let refuse = |key: &str, message: String| Invalid {
            key: KeyPath::in_array("faults", index, key),
            message: context(message),
        };
        if fault.end() > self.run.chaos {
            return Err(refuse(
                "duration",
                format!(
                    "ends at {} after the chaos phase ({}); faults heal by the end of chaos",
                    fault.end(),
                    self.run.chaos
                ),
            ));
        }
        let kind = fault.kind().name();
        let topology = self.topology();
        let key = if fault.kind().is_link_fault() {
            "between"
        } else {
            "target"
        };
        if fault.effect.hosts().contains(&crate::topology::COMPACTOR) && !topology.compactor {
            return Err(refuse(
                key,
                format!(
                    "a {kind} fault cannot hit `compactor`: no [jobs.compactor] section runs one"
                ),
            ));
        }
        if let Some(between) = fault.effect.between() {
            let hosts = topology.hosts();
            for host in between {
                if !hosts.contains(&host.as_str()) {
                    return Err(refuse(key, topology.explain_unknown(host, &hosts)));
                }
            }
        }
        if let Some(target) = fault.effect.target() {
            let allowed = match fault.kind() {
                FaultKind::Crash => topology.crashable(),
                FaultKind::ClockSkew => topology.skewable(),
                _ => topology.disks(),
            };
            if !allowed.contains(&target) {
                let message = if topology.belongs_to_other_world(target) {
                    topology.explain_unknown(target, &allowed)
                } else {
                    format!(
                        "a {kind} fault cannot hit `{target}`; it can hit: {}",
                        allowed.join(", ")
                    )
                };
                return Err(refuse(key, message));
            }
        }
        Ok(())
    }

    /// An operation falls within the run and finds what it acts on.
    fn check_operation(&self, index: usize, operation: &OperationSpec) -> Result<(), Invalid> {
        let refuse = |key: &str, message: String| Invalid {
            key: KeyPath::in_array("operations", index, key),
            message: format!(
                "[[operations]] #{} (at {}): {message}",
                index + 1,
                operation.at
            ),
        };
        let end = self.run.end();
        if operation.at >= end {
            return Err(refuse(
                "at",
                format!(
                    "at = \"{}\" must fall within the run (chaos + liveness = {end})",
                    operation.at
                ),
            ));
        }
        if let Operation::RollbackDwsToTag { .. } = operation.action {
            if self.dws.tag_automatic_creation.is_none() {
                return Err(refuse(
                    "table",
                    "rollback-to-tag needs tags on [dws]: set \"tag.automatic-creation\" = \"process-time\" and \"tag.creation-period\" there".into(),
                ));
            }
            let job = operations::DWS_JOB;
            if self
                .jobs
                .unsafe_new_commit_user_on_restart
                .iter()
                .any(|j| j == job)
            {
                return Err(refuse(
                    "table",
                    format!(
                        "rollback-to-tag restores {job} from a checkpoint, which needs its stable commit user: drop \"{job}\" from [jobs] \"unsafe.new-commit-user-on-restart\""
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A TOML error at `span` of `edited` rendered as toml renders it, at line `original` of the file
/// (the line's text is the file's: only lines an override wrote differ).
fn render_toml_error(
    edited: &str,
    span: std::ops::Range<usize>,
    original: usize,
    message: &str,
) -> String {
    let start = span.start.min(edited.len());
    let line_start = edited[..start].rfind('\n').map_or(0, |at| at + 1);
    let content = edited[line_start..].split('\n').next().unwrap_or_default();
    let column = edited[line_start..start].chars().count();
    let width = span
        .end
        .min(line_start + content.len())
        .saturating_sub(start)
        .max(1);
    let gutter = " ".repeat(original.to_string().len());
    format!(
        "TOML parse error at line {original}, column {}\n{gutter} |\n{original} | {content}\n{gutter} | {}{}\n{message}\n",
        column + 1,
        " ".repeat(column),
        "^".repeat(width)
    )
}

#[cfg(test)]
mod tests;
