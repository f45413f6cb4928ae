//! `[jobs]`: the Flink jobs' checkpointing (a fixed interval or a traffic-driven policy),
//! parallelism and slots, event-time settings, and the dedicated compactor (`[jobs.compactor]`).

use serde::{Deserialize, Deserializer};
use warehouse::stream::{CheckpointConfig, IntervalPolicy};

use crate::scenario::units::{Millis, ms};
use crate::scenario::{Invalid, ensure};

/// How the checkpoint interval is chosen (`checkpoint-policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckpointPolicyName {
    /// Flink's `execution.checkpointing.interval`, always.
    #[default]
    Fixed,
    /// Short when the input is quiet, long at peak (the `checkpoint.*` keys).
    TrafficDriven,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsSection {
    #[serde(
        rename = "execution.checkpointing.interval",
        default = "default_interval"
    )]
    pub checkpoint_interval: Millis,
    #[serde(default = "default_idle_poll")]
    pub idle_poll: Millis,
    /// Paimon `consumer-id` of the DWS job on the DWD table; "" disables it.
    #[serde(
        rename = "consumer-id",
        default = "default_consumer_id",
        deserialize_with = "consumer_id"
    )]
    pub consumer_id: Option<String>,
    #[serde(default = "default_snapshots_per_poll")]
    pub max_snapshots_per_poll: usize,
    /// Flink's `WatermarkStrategy.forBoundedOutOfOrderness` at the TT source of the DWD job: the
    /// watermark trails the largest event time read (the minimum across partitions) by this much.
    #[serde(
        rename = "watermark.bounded-out-of-orderness",
        default = "default_out_of_orderness"
    )]
    pub watermark_out_of_orderness: Millis,
    /// Flink's allowed lateness of the DWS job's one-minute windows
    /// (`table.exec.emit.allow-lateness`): events for a closed minute still update it this long;
    /// later ones go to the late-data side table `dws_late_events`.
    #[serde(
        rename = "table.exec.emit.allow-lateness",
        default = "default_allowed_lateness"
    )]
    pub allowed_lateness: Millis,
    /// "fixed" (Flink's interval) or "traffic-driven" (the `checkpoint.*` keys below).
    #[serde(rename = "checkpoint-policy", default)]
    pub checkpoint_policy: CheckpointPolicyName,
    /// Traffic-driven policy: interval when the input rate is at or below `checkpoint.rate-quiet`.
    #[serde(rename = "checkpoint.interval-quiet", default)]
    pub interval_quiet: Option<Millis>,
    /// Traffic-driven policy: interval when the input rate is at or above `checkpoint.rate-peak`.
    #[serde(rename = "checkpoint.interval-peak", default)]
    pub interval_peak: Option<Millis>,
    /// Traffic-driven policy: input records per second counted as quiet, in production
    /// (represented) records: the job compares it with its simulated input rate times
    /// `[traffic] represents`.
    #[serde(rename = "checkpoint.rate-quiet", default)]
    pub rate_quiet: Option<u64>,
    /// Traffic-driven policy: input records per second counted as peak (represented records).
    #[serde(rename = "checkpoint.rate-peak", default)]
    pub rate_peak: Option<u64>,
    #[serde(rename = "execution.checkpointing.interval-during-backlog", default)]
    pub interval_during_backlog: Option<Millis>,
    #[serde(
        rename = "execution.checkpointing.timeout",
        default = "default_checkpoint_timeout"
    )]
    pub checkpoint_timeout: Millis,
    #[serde(
        rename = "execution.checkpointing.tolerable-failed-checkpoints",
        default
    )]
    pub tolerable_failed_checkpoints: u32,
    /// The DWD job's TT source reports backlog when its lag exceeds this many records.
    #[serde(
        rename = "backlog.lag-records",
        default = "default_backlog_lag_records"
    )]
    pub backlog_lag_records: u64,
    /// Flink `parallelism.default` of both jobs: subtasks per operator, each on its own slot.
    #[serde(rename = "parallelism.default", default = "default_parallelism")]
    pub parallelism: u32,
    /// The DWS job's own parallelism (`flink run -p` for that job alone); absent: it runs at
    /// `parallelism.default` like the DWD job. The aggregation's input is far smaller than the
    /// DWD job's, so production gives it fewer slots.
    #[serde(rename = "dws-job.parallelism", default)]
    pub dws_parallelism: Option<u32>,
    /// Flink `taskmanager.numberOfTaskSlots` of each job host (one core per slot).
    #[serde(
        rename = "taskmanager.numberOfTaskSlots",
        default = "default_task_slots"
    )]
    pub task_slots: u32,
    /// The dedicated compaction job (host `compactor`) of the `write-only` tables; absent: none.
    #[serde(default)]
    pub compactor: Option<CompactorSection>,
    /// UNSAFE (apache/paimon#9666): the jobs named here (`dwd-job`, `dws-job`) commit under a
    /// new commitUser after every restart, so a restored checkpoint is committed again. Empty
    /// by default; only the incident library sets it.
    #[serde(rename = "unsafe.new-commit-user-on-restart", default)]
    pub unsafe_new_commit_user_on_restart: Vec<String>,
}

/// `[jobs.compactor]`: Paimon's dedicated compaction job for the `write-only` tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompactorSection {
    /// How often the compactor looks for new snapshots.
    #[serde(default = "default_compactor_poll")]
    pub poll_interval: Millis,
    /// Subtasks of the compaction job, each on its own slot: a round compacts bucket `b` on
    /// subtask `b % parallelism`, side by side (Paimon's dedicated compaction job runs at the
    /// parallelism it is given).
    #[serde(default = "default_compactor_parallelism")]
    pub parallelism: u32,
}

fn default_compactor_parallelism() -> u32 {
    1
}

fn consumer_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let id = String::deserialize(deserializer)?;
    Ok((!id.is_empty()).then_some(id))
}

fn default_compactor_poll() -> Millis {
    ms("1s")
}
fn default_parallelism() -> u32 {
    1
}
fn default_task_slots() -> u32 {
    4
}
fn default_checkpoint_timeout() -> Millis {
    ms("10min")
}
fn default_backlog_lag_records() -> u64 {
    100_000
}
fn default_interval() -> Millis {
    ms("10s")
}
fn default_idle_poll() -> Millis {
    ms("200ms")
}
fn default_consumer_id() -> Option<String> {
    Some("dws-job".into())
}
fn default_snapshots_per_poll() -> usize {
    4
}
fn default_out_of_orderness() -> Millis {
    ms("5s")
}
fn default_allowed_lateness() -> Millis {
    ms("0s")
}

impl Default for JobsSection {
    fn default() -> Self {
        Self {
            checkpoint_interval: default_interval(),
            idle_poll: default_idle_poll(),
            consumer_id: default_consumer_id(),
            max_snapshots_per_poll: default_snapshots_per_poll(),
            watermark_out_of_orderness: default_out_of_orderness(),
            allowed_lateness: default_allowed_lateness(),
            checkpoint_policy: CheckpointPolicyName::Fixed,
            interval_quiet: None,
            interval_peak: None,
            rate_quiet: None,
            rate_peak: None,
            interval_during_backlog: None,
            checkpoint_timeout: default_checkpoint_timeout(),
            tolerable_failed_checkpoints: 0,
            backlog_lag_records: default_backlog_lag_records(),
            parallelism: default_parallelism(),
            dws_parallelism: None,
            task_slots: default_task_slots(),
            compactor: None,
            unsafe_new_commit_user_on_restart: Vec::new(),
        }
    }
}

const JOBS: &str = "jobs";

impl JobsSection {
    /// The checkpoint interval policy. The traffic-driven keys are all present whenever that
    /// policy is chosen (checked when the scenario was read); their rates, in production
    /// records, become simulated ones (each stands for `represents`).
    pub fn interval_policy(&self, represents: u64) -> IntervalPolicy {
        let simulated = |rate: u64| rate.div_ceil(represents.max(1));
        match (
            self.checkpoint_policy,
            self.interval_quiet,
            self.interval_peak,
            self.rate_quiet,
            self.rate_peak,
        ) {
            (
                CheckpointPolicyName::TrafficDriven,
                Some(quiet),
                Some(peak),
                Some(rate_quiet),
                Some(rate_peak),
            ) => IntervalPolicy::TrafficDriven {
                quiet_interval_ms: quiet.0,
                peak_interval_ms: peak.0,
                quiet_records_per_s: simulated(rate_quiet),
                peak_records_per_s: simulated(rate_peak),
            },
            (CheckpointPolicyName::TrafficDriven, ..) => {
                unreachable!("checked when read: traffic-driven has all four checkpoint.* keys")
            }
            (CheckpointPolicyName::Fixed, ..) => IntervalPolicy::Fixed,
        }
    }

    /// The checkpoint coordinator's configuration, for a run whose simulated events each stand
    /// for `represents` production events.
    pub fn checkpoint_config(&self, represents: u64) -> CheckpointConfig {
        CheckpointConfig {
            interval_ms: self.checkpoint_interval.0,
            policy: self.interval_policy(represents),
            interval_during_backlog_ms: self.interval_during_backlog.map(|m| m.0),
            timeout_ms: self.checkpoint_timeout.0,
            tolerable_failed_checkpoints: self.tolerable_failed_checkpoints,
            idle_poll_ms: self.idle_poll.0,
        }
    }

    pub(crate) fn check(&self) -> Result<(), Invalid> {
        self.check_checkpointing()?;
        ensure(
            self.idle_poll.0 >= 1,
            JOBS,
            "idle_poll",
            "[jobs] idle_poll must be at least 1ms: a job that never sleeps when idle never lets time pass",
        )?;
        ensure(
            (1..=10_000).contains(&self.max_snapshots_per_poll),
            JOBS,
            "max_snapshots_per_poll",
            "[jobs] max_snapshots_per_poll must be between 1 and 10000",
        )?;
        ensure(
            self.watermark_out_of_orderness.0 <= 24 * 3_600_000,
            JOBS,
            "watermark.bounded-out-of-orderness",
            format!(
                "[jobs] watermark.bounded-out-of-orderness = \"{}\" must be between 0s and 24h",
                self.watermark_out_of_orderness
            ),
        )?;
        ensure(
            self.allowed_lateness.0 <= 7 * 24 * 3_600_000,
            JOBS,
            "table.exec.emit.allow-lateness",
            format!(
                "[jobs] table.exec.emit.allow-lateness = \"{}\" must be between 0s and 168h (a week)",
                self.allowed_lateness
            ),
        )?;
        if let Some(compactor) = &self.compactor {
            ensure(
                compactor.poll_interval.0 >= 10,
                "jobs.compactor",
                "poll_interval",
                "[jobs.compactor] poll_interval must be at least 10ms",
            )?;
            ensure(
                (1..=65_536).contains(&compactor.parallelism),
                "jobs.compactor",
                "parallelism",
                format!(
                    "[jobs.compactor] parallelism = {} must be between 1 and 65536",
                    compactor.parallelism
                ),
            )?;
        }
        self.check_parallelism()
    }

    /// The keys of the traffic-driven policy, present only when that policy is chosen.
    fn check_checkpointing(&self) -> Result<(), Invalid> {
        ensure(
            self.checkpoint_interval.0 >= 100,
            JOBS,
            "execution.checkpointing.interval",
            "[jobs] execution.checkpointing.interval must be at least 100ms",
        )?;
        let traffic_keys = [
            ("checkpoint.interval-quiet", self.interval_quiet.is_some()),
            ("checkpoint.interval-peak", self.interval_peak.is_some()),
            ("checkpoint.rate-quiet", self.rate_quiet.is_some()),
            ("checkpoint.rate-peak", self.rate_peak.is_some()),
        ];
        // The four keys come as a set. With the fixed policy they may stay in the file unused,
        // so a plan can switch the policy alone (`--vary jobs.checkpoint-policy=...`); a
        // partial set is a mistake either way.
        let given = traffic_keys.iter().filter(|(_, set)| *set).count();
        match (self.checkpoint_policy, given) {
            (CheckpointPolicyName::Fixed, 0) => {}
            (CheckpointPolicyName::Fixed, n) if n < traffic_keys.len() => {
                let (key, _) = traffic_keys
                    .iter()
                    .find(|(_, set)| *set)
                    .expect("one is set");
                return Err(Invalid::at(
                    JOBS,
                    key,
                    "[jobs] checkpoint.interval-quiet/-peak and checkpoint.rate-quiet/-peak \
                     come as a set of four, used only with checkpoint-policy = \
                     \"traffic-driven\": give all four or none",
                ));
            }
            _ => self.check_traffic_driven()?,
        }
        ensure(
            self.interval_during_backlog.is_none_or(|m| m.0 >= 100),
            JOBS,
            "execution.checkpointing.interval-during-backlog",
            "[jobs] execution.checkpointing.interval-during-backlog must be at least 100ms",
        )?;
        ensure(
            self.checkpoint_timeout.0 >= 1_000,
            JOBS,
            "execution.checkpointing.timeout",
            "[jobs] execution.checkpointing.timeout must be at least 1s",
        )
    }

    fn check_traffic_driven(&self) -> Result<(), Invalid> {
        let (Some(quiet), Some(peak), Some(rate_quiet), Some(rate_peak)) = (
            self.interval_quiet,
            self.interval_peak,
            self.rate_quiet,
            self.rate_peak,
        ) else {
            return Err(Invalid::at(
                JOBS,
                "checkpoint-policy",
                "[jobs] checkpoint-policy = \"traffic-driven\" needs \
                 checkpoint.interval-quiet, checkpoint.interval-peak, checkpoint.rate-quiet \
                 and checkpoint.rate-peak",
            ));
        };
        ensure(
            quiet.0 >= 100 && peak.0 >= quiet.0,
            JOBS,
            "checkpoint.interval-quiet",
            format!(
                "[jobs] checkpoint.interval-quiet = {quiet} must be at least 100ms and \
                 no longer than checkpoint.interval-peak = {peak}"
            ),
        )?;
        ensure(
            rate_quiet < rate_peak,
            JOBS,
            "checkpoint.rate-quiet",
            format!(
                "[jobs] checkpoint.rate-quiet = {rate_quiet} must be below \
                 checkpoint.rate-peak = {rate_peak}"
            ),
        )
    }

    /// Subtasks of the DWS job: `dws-job.parallelism`, else `parallelism.default`.
    pub fn dws_parallelism(&self) -> u32 {
        self.dws_parallelism.unwrap_or(self.parallelism)
    }

    /// Subtasks (each on its own task slot) of a committing job, by host name.
    pub fn parallelism_of(&self, job: &str) -> u32 {
        let dws_jobs = [crate::topology::SINGLE, crate::topology::SECONDARY].map(|c| c.dws_job);
        if dws_jobs.contains(&job) {
            self.dws_parallelism()
        } else {
            self.parallelism
        }
    }

    /// Flink cannot schedule more subtasks than task slots.
    fn check_parallelism(&self) -> Result<(), Invalid> {
        ensure(
            self.task_slots >= 1,
            JOBS,
            "taskmanager.numberOfTaskSlots",
            "[jobs] taskmanager.numberOfTaskSlots must be at least 1",
        )?;
        for (key, parallelism) in [
            ("parallelism.default", self.parallelism),
            ("dws-job.parallelism", self.dws_parallelism()),
        ] {
            ensure(
                parallelism >= 1,
                JOBS,
                key,
                format!("[jobs] {key} must be at least 1"),
            )?;
            ensure(
                parallelism <= self.task_slots,
                JOBS,
                key,
                format!(
                    "[jobs] {key} = {parallelism} needs {parallelism} task slots but \
                     taskmanager.numberOfTaskSlots = {} (Flink would fail with \
                     NoResourceAvailableException); raise the slots or lower the parallelism",
                    self.task_slots
                ),
            )?;
        }
        Ok(())
    }
}
