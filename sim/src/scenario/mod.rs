//! Scenarios are data: a TOML file describing traffic, tables, jobs, faults and SLAs. Unknown keys
//! and bad values are rejected with the file, the line and a hint, never a panic. Option names
//! follow Paimon's and Flink's (`bucket`, `changelog-producer`, `execution.checkpointing.interval`).

pub mod cost;
pub mod operations;

pub use cost::{CostTable, OperatorCost};

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer};
use warehouse::table::{LifecycleOptions, TagCreation, TagPeriod};

/// A duration written like Flink's: "500ms", "10s", "10 s", "5min", "1h".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Millis(pub i64);

impl Millis {
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, unit) = text.split_at(split);
        let number: f64 = number.parse().ok()?;
        let scale = match unit.trim() {
            "ms" => 1.0,
            "s" => 1_000.0,
            "min" => 60_000.0,
            "h" => 3_600_000.0,
            _ => return None,
        };
        Some(Self((number * scale).round() as i64))
    }
    pub fn secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 1000 == 0 {
            write!(f, "{}s", self.0 / 1000)
        } else {
            write!(f, "{}ms", self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Millis::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a duration; write it like \"500ms\", \"10s\", \"5min\" or \"1h\""
            ))
        })
    }
}

fn ms(text: &str) -> Millis {
    Millis::parse(text).expect("valid default duration")
}

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
    pub cost: cost::CostTable,
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// Scripted operator actions: deploys and rollbacks (`scenario::operations`).
    #[serde(default)]
    pub operations: Vec<crate::scenario::operations::OperationSpec>,
    #[serde(default)]
    pub sla: SlaSection,
    /// `[storage]`: one storage system (`dfs`) or two (`dfs-a`, `dfs-b`) with serving failover.
    #[serde(default)]
    pub storage: StorageSection,
}

/// `[storage]`: dual storage HA. With `dual = true` the world runs two storage systems, `dfs-a`
/// (primary) and `dfs-b` (secondary), each holding a full DWD/DWS chain fed from the same TT by
/// its own jobs (`dwd-job`/`dws-job` write `dfs-a`, `dwd-job-b`/`dws-job-b` write `dfs-b`), and
/// serving fails over between them. Absent or `dual = false`: the single `dfs` of old.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    #[serde(default)]
    pub dual: bool,
    /// Serving fails over to `dfs-b` when `dfs-a` is unreachable or staler than the staleness
    /// SLA while `dfs-b` is fresher, and fails back. `false` keeps both chains but serves from
    /// `dfs-a` only (the counterfactual).
    #[serde(default = "default_true")]
    pub failover: bool,
    /// A query attempt on one system that takes longer than this fails over to the other.
    #[serde(
        rename = "failover.attempt-timeout",
        default = "default_attempt_timeout"
    )]
    pub attempt_timeout: Millis,
    /// How often serving probes the system it is not reading (keeps its view warm).
    #[serde(rename = "failover.probe-interval", default = "default_probe_interval")]
    pub probe_interval: Millis,
    /// Hysteresis: the primary must answer probes, fresh, for this long before serving fails back.
    #[serde(rename = "failback.hold", default = "default_failback_hold")]
    pub failback_hold: Millis,
}

impl Default for StorageSection {
    fn default() -> Self {
        Self {
            dual: false,
            failover: true,
            attempt_timeout: default_attempt_timeout(),
            probe_interval: default_probe_interval(),
            failback_hold: default_failback_hold(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_attempt_timeout() -> Millis {
    ms("300ms")
}
fn default_probe_interval() -> Millis {
    ms("1s")
}
fn default_failback_hold() -> Millis {
    ms("20s")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// turmoil's tick: the simulated time one step advances.
    #[serde(default = "default_tick")]
    pub tick: Millis,
    /// Traffic and faults.
    pub chaos: Millis,
    /// Faults healed, traffic stopped: the warehouse must converge within this bound.
    pub liveness: Millis,
    /// Wall-clock epoch (ms since 1970) of simulated time zero.
    #[serde(default = "default_epoch_ms")]
    pub epoch_ms: i64,
    #[serde(default = "default_latency_min")]
    pub network_latency_min: Millis,
    #[serde(default = "default_latency_max")]
    pub network_latency_max: Millis,
    #[serde(default = "default_rpc_timeout")]
    pub rpc_timeout: Millis,
    /// Flink's fixed-delay restart strategy delay after a job fails over.
    #[serde(default = "default_restart_delay")]
    pub restart_delay: Millis,
    /// FoundationDB's BUGGIFY: each site inside the warehouse is switched on for the run with
    /// probability 1/4 (from the seed), then fires with probability 1/20, in the chaos phase only.
    #[serde(default)]
    pub buggify: bool,
}

fn default_seed() -> u64 {
    1
}
fn default_tick() -> Millis {
    ms("10ms")
}
fn default_epoch_ms() -> i64 {
    // 2025-11-10T15:30:00Z: half an hour before Double-11 midnight in China (UTC+8).
    1_762_788_600_000
}
fn default_latency_min() -> Millis {
    ms("1ms")
}
fn default_latency_max() -> Millis {
    ms("5ms")
}
fn default_rpc_timeout() -> Millis {
    ms("2s")
}
fn default_restart_delay() -> Millis {
    ms("1s")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficSection {
    #[serde(default = "default_partitions")]
    pub partitions: u32,
    pub baseline_events_per_s: f64,
    #[serde(default)]
    pub spikes: Vec<Spike>,
    #[serde(default = "default_batch_interval")]
    pub batch_interval: Millis,
    #[serde(default = "default_advertisers")]
    pub advertisers: u32,
    #[serde(default = "default_campaigns")]
    pub campaigns_per_advertiser: u32,
    /// Zipf exponent of advertiser and campaign popularity: 0 uniform, ~1 a few hot advertisers.
    #[serde(default = "default_advertiser_skew")]
    pub advertiser_skew: f64,
    #[serde(default = "default_click_share")]
    pub click_share: f64,
    #[serde(default = "default_conversion_share")]
    pub conversion_share_of_clicks: f64,
    #[serde(default = "default_invalid_share")]
    pub invalid_share: f64,
    /// Share of appended batches whose acknowledgement is lost, so the producer retries them.
    #[serde(default = "default_duplicate_share")]
    pub duplicate_batch_share: f64,
    /// Event time trails production time by up to this much.
    #[serde(default = "default_event_delay")]
    pub max_event_delay: Millis,
    /// Events the producer buffers while TT is unreachable; beyond it the producer blocks.
    #[serde(default = "default_producer_buffer")]
    pub producer_buffer_events: usize,
    /// Diurnal baseline: the rate swings by this share around the baseline over a day (0: flat).
    #[serde(default)]
    pub diurnal_amplitude: f64,
    /// Local hour (0..24) of the diurnal peak.
    #[serde(default = "default_diurnal_peak_hour")]
    pub diurnal_peak_hour: f64,
    /// Offset of local time from UTC, hours (China: 8).
    #[serde(default = "default_utc_offset_hours")]
    pub utc_offset_hours: f64,
    /// Clicks whose log arrives late (SDK batching, offline devices).
    #[serde(default)]
    pub late_clicks: LateClicks,
    /// How long after its click a conversion is logged; it keeps its click's event time, so it
    /// is attributed to the click's minute.
    #[serde(default)]
    pub conversion_delay: DelaySpec,
    /// Stale copies of events a lagging log shipper sends again (off by default).
    #[serde(default)]
    pub stale_resends: StaleResends,
}

/// A share of events sent to TT a second time, `delay` after the original, by a log shipper
/// whose clock runs `clock_behind` slow: same `event_id` and fields, an earlier `event_time`.
/// With `[dwd] sequence.field = "event_time"` the DWD table keeps the original.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StaleResends {
    #[serde(default)]
    pub share: f64,
    #[serde(default)]
    pub delay: Millis,
    #[serde(default)]
    pub clock_behind: Millis,
}

/// A delay distribution: exponential with this `median`, truncated at `max`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DelaySpec {
    #[serde(default)]
    pub median: Millis,
    #[serde(default)]
    pub max: Millis,
}

impl DelaySpec {
    /// The delay for a uniform draw in [0, 1): inverse CDF of the truncated exponential.
    pub fn sample_ms(&self, uniform: f64) -> i64 {
        if self.median.0 <= 0 || self.max.0 <= 0 {
            return 0;
        }
        let mean = self.median.0 as f64 / std::f64::consts::LN_2;
        let covered = 1.0 - (-(self.max.0 as f64) / mean).exp();
        let delay = -mean * (1.0 - uniform * covered).ln();
        (delay.round() as i64).clamp(0, self.max.0)
    }

    fn validate(&self, name: &str) -> Result<(), String> {
        if self.median > self.max {
            return Err(format!(
                "[traffic.{name}] median = \"{}\" must not exceed max = \"{}\"",
                self.median, self.max
            ));
        }
        if self.max.0 > 48 * 3_600_000 {
            return Err(format!(
                "[traffic.{name}] max = \"{}\" must be at most 48h",
                self.max
            ));
        }
        Ok(())
    }
}

/// A share of clicks logged late, with their delay.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LateClicks {
    #[serde(default)]
    pub share: f64,
    #[serde(default)]
    pub median: Millis,
    #[serde(default)]
    pub max: Millis,
}

impl LateClicks {
    pub fn delay(&self) -> DelaySpec {
        DelaySpec {
            median: self.median,
            max: self.max,
        }
    }
}

fn default_partitions() -> u32 {
    4
}
fn default_batch_interval() -> Millis {
    ms("200ms")
}
fn default_advertisers() -> u32 {
    50
}
fn default_campaigns() -> u32 {
    4
}
fn default_advertiser_skew() -> f64 {
    1.0
}
fn default_click_share() -> f64 {
    0.03
}
fn default_conversion_share() -> f64 {
    0.1
}
fn default_invalid_share() -> f64 {
    0.001
}
fn default_duplicate_share() -> f64 {
    0.02
}
fn default_event_delay() -> Millis {
    ms("2s")
}
fn default_producer_buffer() -> usize {
    2_000_000
}
fn default_diurnal_peak_hour() -> f64 {
    21.0
}
fn default_utc_offset_hours() -> f64 {
    8.0
}

/// Where in the traffic's story a moment falls (see [`Scenario::phase_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrafficPhase {
    Baseline,
    Ramp,
    Peak,
    Decay,
    Liveness,
}

impl TrafficPhase {
    pub fn name(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::Ramp => "ramp",
            Self::Peak => "peak",
            Self::Decay => "decay",
            Self::Liveness => "liveness",
        }
    }
}

/// A traffic spike: ramp up to `multiple` × baseline, hold for `peak`, decay back.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spike {
    pub start: Millis,
    pub ramp: Millis,
    pub peak: Millis,
    pub decay: Millis,
    pub multiple: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtSection {
    #[serde(default = "default_segment_records")]
    pub segment_records: u64,
    /// Time retention of closed segments (Kafka's `retention.ms`).
    #[serde(default)]
    pub retention: Option<Millis>,
    #[serde(default, rename = "retention.bytes")]
    pub retention_bytes: Option<u64>,
    #[serde(default = "default_fetch_max")]
    pub fetch_max_records: u32,
}

impl Default for TtSection {
    fn default() -> Self {
        Self {
            segment_records: default_segment_records(),
            retention: None,
            retention_bytes: None,
            fetch_max_records: default_fetch_max(),
        }
    }
}

fn default_segment_records() -> u64 {
    50_000
}
fn default_fetch_max() -> u32 {
    20_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSection {
    pub bucket: u32,
    #[serde(rename = "changelog-producer", default = "default_changelog")]
    pub changelog_producer: String,
    #[serde(rename = "file.compression", default = "default_compression")]
    pub file_compression: String,
    /// Sorted runs in a bucket that start the writer's universal compaction.
    #[serde(
        rename = "num-sorted-run.compaction-trigger",
        default = "default_compaction_trigger"
    )]
    pub compaction_trigger: usize,
    /// Writers never compact (Paimon's dedicated-compaction mode): the `compactor` host of
    /// `[jobs.compactor]` must run, or the scenario is rejected.
    #[serde(rename = "write-only", default)]
    pub write_only: bool,
    /// Lifecycle options under Paimon's names; unset means Paimon's default.
    #[serde(rename = "snapshot.num-retained.min", default)]
    pub snapshot_num_retained_min: Option<u32>,
    #[serde(rename = "snapshot.num-retained.max", default)]
    pub snapshot_num_retained_max: Option<u32>,
    #[serde(rename = "snapshot.time-retained", default)]
    pub snapshot_time_retained: Option<Millis>,
    #[serde(rename = "snapshot.expire.limit", default)]
    pub snapshot_expire_limit: Option<u32>,
    #[serde(rename = "consumer.expiration-time", default)]
    pub consumer_expiration_time: Option<Millis>,
    /// "none" or "process-time".
    #[serde(rename = "tag.automatic-creation", default)]
    pub tag_automatic_creation: Option<String>,
    /// "daily", "hourly", "two-hours", or a duration such as "5min" (simulation scale).
    #[serde(rename = "tag.creation-period", default)]
    pub tag_creation_period: Option<String>,
    #[serde(rename = "tag.num-retained-max", default)]
    pub tag_num_retained_max: Option<u32>,
    /// Writers force a full compaction after this many checkpoints (Paimon's option; with
    /// `changelog-producer = "full-compaction"` it sets how often that changelog appears).
    #[serde(rename = "full-compaction.delta-commits", default)]
    pub full_compaction_delta_commits: Option<u32>,
    /// Sorted runs at which writers stall (default: the compaction trigger + 3).
    #[serde(rename = "num-sorted-run.stop-trigger", default)]
    pub stop_trigger: Option<usize>,
    /// Compaction output rolls into files of about this size, written like Paimon's
    /// "128 mb", "256 kb" or a byte count.
    #[serde(
        rename = "target-file-size",
        default = "default_target_file_size",
        deserialize_with = "deserialize_size"
    )]
    pub target_file_size_bytes: u64,
    /// UNSAFE (apache/paimon#6978): expiration deletes data and changelog files before the
    /// snapshot files that reference them. Off by default; only the incident library sets it.
    #[serde(rename = "unsafe.expire.delete-data-before-snapshot", default)]
    pub unsafe_expire_delete_data_before_snapshot: bool,
    /// Paimon `sequence.field` ([dwd] only): a BIGINT event field ordering the records of an
    /// event id, so a late stale copy loses to the newer record whatever the arrival order.
    #[serde(rename = "sequence.field", default)]
    pub sequence_field: Option<String>,
    /// UNSAFE (apache/paimon#7220): the lookup changelog ignores `sequence.field` and reports
    /// a key's newest write as its new value. Off by default; only the incident library sets it.
    #[serde(rename = "unsafe.lookup.ignore-sequence-field", default)]
    pub unsafe_lookup_ignore_sequence_field: bool,
}

/// Event fields `[dwd] sequence.field` may name: the BIGINT value fields of the event's row
/// (not the key `event_id`, not the enumeration `kind`).
pub fn sequence_fields() -> Vec<&'static str> {
    warehouse::event::EVENT_FIELD_NAMES
        .into_iter()
        .filter(|field| !matches!(*field, "event_id" | "kind"))
        .collect()
}

fn default_target_file_size() -> u64 {
    warehouse::table::TARGET_FILE_SIZE_BYTES_DEFAULT
}

/// A memory size like Paimon's: "128 mb", "64kb", "512 b" or a bare byte count.
pub fn parse_size_bytes(text: &str) -> Option<u64> {
    let text = text.trim().to_ascii_lowercase();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let scale: u64 = match unit.trim() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(scale)
}

fn deserialize_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    match Size::deserialize(deserializer)? {
        Size::Bytes(bytes) => Ok(bytes),
        Size::Text(text) => parse_size_bytes(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a size; write it like \"128 mb\", \"256 kb\" or a byte count"
            ))
        }),
    }
}

impl TableSection {
    /// The table's lifecycle options: Paimon's defaults overridden by the keys set, validated.
    pub fn lifecycle(&self) -> Result<LifecycleOptions, String> {
        let mut options = LifecycleOptions::default();
        if let Some(min) = self.snapshot_num_retained_min {
            options.snapshot_num_retained_min = min;
        }
        if let Some(max) = self.snapshot_num_retained_max {
            options.snapshot_num_retained_max = max;
        }
        if let Some(time) = self.snapshot_time_retained {
            options.snapshot_time_retained_ms = time.0;
        }
        if let Some(limit) = self.snapshot_expire_limit {
            options.snapshot_expire_limit = limit;
        }
        options.consumer_expiration_time_ms = self.consumer_expiration_time.map(|m| m.0);
        if let Some(mode) = &self.tag_automatic_creation {
            options.tag_automatic_creation = TagCreation::parse(mode).ok_or_else(|| {
                format!("tag.automatic-creation = \"{mode}\" is not supported; use \"none\" or \"process-time\"")
            })?;
        }
        if let Some(period) = &self.tag_creation_period {
            options.tag_creation_period = TagPeriod::parse(period).ok_or_else(|| {
                format!("tag.creation-period = \"{period}\" is not a period; use \"daily\", \"hourly\", \"two-hours\" or a duration of at least 1s such as \"5min\"")
            })?;
        }
        if let Some(max) = self.tag_num_retained_max {
            if max == 0 {
                return Err("tag.num-retained-max must be at least 1".into());
            }
            options.tag_num_retained_max = Some(max);
        }
        options.unsafe_expire_delete_data_before_snapshot =
            self.unsafe_expire_delete_data_before_snapshot;
        if self.consumer_expiration_time.is_some_and(|m| m.0 <= 0) {
            return Err("consumer.expiration-time must be a positive duration".into());
        }
        options.validate().map_err(|e| e.to_string())?;
        Ok(options)
    }
}

fn default_compaction_trigger() -> usize {
    5
}

fn default_changelog() -> String {
    "lookup".into()
}
fn default_compression() -> String {
    "snappy".into()
}

impl TableSection {
    fn dwd_default() -> Self {
        Self {
            bucket: 4,
            changelog_producer: "lookup".into(),
            file_compression: default_compression(),
            compaction_trigger: default_compaction_trigger(),
            write_only: false,
            snapshot_num_retained_min: None,
            snapshot_num_retained_max: None,
            snapshot_time_retained: None,
            snapshot_expire_limit: None,
            consumer_expiration_time: None,
            tag_automatic_creation: None,
            tag_creation_period: None,
            tag_num_retained_max: None,
            full_compaction_delta_commits: None,
            stop_trigger: None,
            target_file_size_bytes: default_target_file_size(),
            unsafe_expire_delete_data_before_snapshot: false,
            sequence_field: None,
            unsafe_lookup_ignore_sequence_field: false,
        }
    }
    fn dws_default() -> Self {
        Self {
            bucket: 2,
            changelog_producer: "none".into(),
            file_compression: default_compression(),
            compaction_trigger: default_compaction_trigger(),
            write_only: false,
            snapshot_num_retained_min: None,
            snapshot_num_retained_max: None,
            snapshot_time_retained: None,
            snapshot_expire_limit: None,
            consumer_expiration_time: None,
            tag_automatic_creation: None,
            tag_creation_period: None,
            tag_num_retained_max: None,
            full_compaction_delta_commits: None,
            stop_trigger: None,
            target_file_size_bytes: default_target_file_size(),
            unsafe_expire_delete_data_before_snapshot: false,
            sequence_field: None,
            unsafe_lookup_ignore_sequence_field: false,
        }
    }
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
    #[serde(rename = "consumer-id", default = "default_consumer_id")]
    pub consumer_id: String,
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
    #[serde(rename = "checkpoint-policy", default = "default_checkpoint_policy")]
    pub checkpoint_policy: String,
    /// Traffic-driven policy: interval when the input rate is at or below `checkpoint.rate-quiet`.
    #[serde(rename = "checkpoint.interval-quiet", default)]
    pub interval_quiet: Option<Millis>,
    /// Traffic-driven policy: interval when the input rate is at or above `checkpoint.rate-peak`.
    #[serde(rename = "checkpoint.interval-peak", default)]
    pub interval_peak: Option<Millis>,
    /// Traffic-driven policy: input records per second counted as quiet.
    #[serde(rename = "checkpoint.rate-quiet", default)]
    pub rate_quiet: Option<u64>,
    /// Traffic-driven policy: input records per second counted as peak.
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

/// Jobs `[jobs] unsafe.new-commit-user-on-restart` may name.
pub const COMMITTING_JOBS: [&str; 2] = ["dwd-job", "dws-job"];

/// `[jobs.compactor]`: Paimon's dedicated compaction job for the `write-only` tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompactorSection {
    /// How often the compactor looks for new snapshots.
    #[serde(default = "default_compactor_poll")]
    pub poll_interval: Millis,
}

fn default_compactor_poll() -> Millis {
    ms("1s")
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
            checkpoint_policy: default_checkpoint_policy(),
            interval_quiet: None,
            interval_peak: None,
            rate_quiet: None,
            rate_peak: None,
            interval_during_backlog: None,
            checkpoint_timeout: default_checkpoint_timeout(),
            tolerable_failed_checkpoints: 0,
            backlog_lag_records: default_backlog_lag_records(),
            parallelism: default_parallelism(),
            task_slots: default_task_slots(),
            compactor: None,
            unsafe_new_commit_user_on_restart: Vec::new(),
        }
    }
}

impl JobsSection {
    /// The keys of the traffic-driven policy, present only when that policy is chosen.
    fn validate_checkpointing(&self) -> Result<(), String> {
        let traffic_keys = [
            self.interval_quiet.is_some(),
            self.interval_peak.is_some(),
            self.rate_quiet.is_some(),
            self.rate_peak.is_some(),
        ];
        match self.checkpoint_policy.as_str() {
            "fixed" => {
                if traffic_keys.iter().any(|&set| set) {
                    return Err(
                        "[jobs] checkpoint.interval-quiet/-peak and checkpoint.rate-quiet/-peak \
                         only apply with checkpoint-policy = \"traffic-driven\""
                            .into(),
                    );
                }
            }
            "traffic-driven" => {
                let (Some(quiet), Some(peak), Some(rate_quiet), Some(rate_peak)) = (
                    self.interval_quiet,
                    self.interval_peak,
                    self.rate_quiet,
                    self.rate_peak,
                ) else {
                    return Err("[jobs] checkpoint-policy = \"traffic-driven\" needs \
                         checkpoint.interval-quiet, checkpoint.interval-peak, checkpoint.rate-quiet \
                         and checkpoint.rate-peak"
                        .into());
                };
                if quiet.0 < 100 || peak.0 < quiet.0 {
                    return Err(format!(
                        "[jobs] checkpoint.interval-quiet = {quiet} must be at least 100ms and \
                         no longer than checkpoint.interval-peak = {peak}"
                    ));
                }
                if rate_quiet >= rate_peak {
                    return Err(format!(
                        "[jobs] checkpoint.rate-quiet = {rate_quiet} must be below \
                         checkpoint.rate-peak = {rate_peak}"
                    ));
                }
            }
            other => {
                return Err(format!(
                    "[jobs] checkpoint-policy = \"{other}\" is unknown; use \"fixed\" or \"traffic-driven\""
                ));
            }
        }
        if let Some(backlog) = self.interval_during_backlog
            && backlog.0 < 100
        {
            return Err(
                "[jobs] execution.checkpointing.interval-during-backlog must be at least 100ms"
                    .into(),
            );
        }
        if self.checkpoint_timeout.0 < 1_000 {
            return Err("[jobs] execution.checkpointing.timeout must be at least 1s".into());
        }
        Ok(())
    }
}

fn default_parallelism() -> u32 {
    1
}
fn default_task_slots() -> u32 {
    4
}
fn default_checkpoint_policy() -> String {
    "fixed".into()
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
fn default_consumer_id() -> String {
    "dws-job".into()
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServingSection {
    #[serde(default = "default_query_interval")]
    pub query_interval: Millis,
    #[serde(default = "default_window")]
    pub window_minutes: i64,
    /// Every advertiser's daily budget (spend, micros); the serving host's budget controller
    /// pauses an advertiser once DWS says it spent that today. Absent: no budget control.
    #[serde(default)]
    pub daily_budget_micros: Option<i64>,
    /// How often the budget controller reads DWS.
    #[serde(default = "default_budget_check_interval")]
    pub budget_check_interval: Millis,
    /// From a pause decision until the ad servers stop serving the advertiser.
    #[serde(default = "default_budget_reaction_delay")]
    pub budget_reaction_delay: Millis,
    /// How long a query waits for the view to reach the latest DWS snapshot; past it (or when
    /// storage fails) the query is answered from the view as it stands, and its staleness says
    /// how old that is. Between query slots the view refreshes in the background.
    #[serde(default = "default_refresh_timeout")]
    pub refresh_timeout: Millis,
    /// Between query slots the view looks for a new DWS snapshot this often.
    #[serde(default = "default_refresh_interval")]
    pub refresh_interval: Millis,
}

impl Default for ServingSection {
    fn default() -> Self {
        Self {
            query_interval: default_query_interval(),
            window_minutes: default_window(),
            daily_budget_micros: None,
            budget_check_interval: default_budget_check_interval(),
            budget_reaction_delay: default_budget_reaction_delay(),
            refresh_timeout: default_refresh_timeout(),
            refresh_interval: default_refresh_interval(),
        }
    }
}

fn default_budget_check_interval() -> Millis {
    ms("5s")
}
fn default_refresh_interval() -> Millis {
    ms("1s")
}
fn default_refresh_timeout() -> Millis {
    ms("300ms")
}
fn default_budget_reaction_delay() -> Millis {
    ms("2s")
}

fn default_query_interval() -> Millis {
    ms("2s")
}
fn default_window() -> i64 {
    5
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// Crash `target` at `at`, restart it after `duration`.
    Crash,
    /// Cut the link between the two hosts of `between` at `at`, heal after `duration`.
    Partition,
    /// Drop messages from `between[0]` to `between[1]` only (replies the other way still flow).
    #[serde(rename = "partition-oneway")]
    PartitionOneway,
    /// Raise the link's message latency up to `latency` (a latency spike).
    Latency,
    /// Move `target`'s wall clock by `skew` ("+30s", "-2min"): snapshot times, file names and
    /// time-based retention read it.
    #[serde(rename = "clock-skew")]
    ClockSkew,
    /// `target`'s disk (`dfs` or `tt`) fails each write and read with probability `rate`.
    #[serde(rename = "disk-errors")]
    DiskErrors,
    /// `target`'s disk takes `latency` longer for every request.
    #[serde(rename = "disk-slow")]
    DiskSlow,
    /// `target`'s disk is full: every write fails with "no space left on device".
    #[serde(rename = "disk-full")]
    DiskFull,
}

impl FaultKind {
    pub const ALL: [FaultKind; 8] = [
        FaultKind::Crash,
        FaultKind::Partition,
        FaultKind::PartitionOneway,
        FaultKind::Latency,
        FaultKind::ClockSkew,
        FaultKind::DiskErrors,
        FaultKind::DiskSlow,
        FaultKind::DiskFull,
    ];

    /// The name scenarios use.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Partition => "partition",
            FaultKind::PartitionOneway => "partition-oneway",
            FaultKind::Latency => "latency",
            FaultKind::ClockSkew => "clock-skew",
            FaultKind::DiskErrors => "disk-errors",
            FaultKind::DiskSlow => "disk-slow",
            FaultKind::DiskFull => "disk-full",
        }
    }

    /// Whether the fault takes `between` (a link) rather than `target` (a host).
    pub fn is_link_fault(self) -> bool {
        matches!(
            self,
            FaultKind::Partition | FaultKind::PartitionOneway | FaultKind::Latency
        )
    }
}

/// A signed duration for clock skew: "+30s", "-2min", "500ms".
pub fn parse_skew(text: &str) -> Option<i64> {
    let text = text.trim();
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    Millis::parse(rest).map(|m| sign * m.0)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub at: Millis,
    pub kind: FaultKind,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub between: Option<[String; 2]>,
    pub duration: Millis,
    /// `latency` and `disk-slow`: the added latency.
    #[serde(default)]
    pub latency: Option<Millis>,
    /// `clock-skew`: the signed offset, like "+30s" or "-2min".
    #[serde(default)]
    pub skew: Option<String>,
    /// `disk-errors`: the probability that one disk request fails.
    #[serde(default)]
    pub rate: Option<f64>,
}

impl FaultSpec {
    /// A fault of `kind` with no parameters set; callers fill in what the kind needs.
    pub fn new(at: Millis, kind: FaultKind, duration: Millis) -> Self {
        Self {
            at,
            kind,
            target: None,
            between: None,
            duration,
            latency: None,
            skew: None,
            rate: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaSection {
    /// Production → visible in a committed DWS snapshot, 99th percentile.
    #[serde(default)]
    pub freshness_p99: Option<Millis>,
    /// Largest share of valid events that may arrive later than the allowed lateness (and so go
    /// to the late-data side table instead of DWS).
    #[serde(default)]
    pub too_late_share_max: Option<f64>,
    /// Minimum share (percent) of report-query slots answered within `query_latency_max` from
    /// a snapshot no staler than `staleness_max`; unchecked when absent.
    #[serde(default)]
    pub availability_pct: Option<f64>,
    #[serde(default = "default_query_latency_max")]
    pub query_latency_max: Millis,
    #[serde(default = "default_staleness_max")]
    pub staleness_max: Millis,
    /// After a crash heals: the longest time until every event produced before the restart is
    /// visible in DWS; unchecked when absent.
    #[serde(default)]
    pub recovery_max: Option<Millis>,
    /// Budget checker: total overspend (ground-truth spend beyond the daily budget, summed over
    /// advertisers and days) as a percentage of the budgets that ran out; unchecked when absent.
    #[serde(default)]
    pub overspend_max_pct: Option<f64>,
    /// Files checker: live data files in one bucket of a table, at any committed snapshot.
    #[serde(default = "default_files_per_bucket_max")]
    pub files_per_bucket_max: usize,
    /// Files checker: a live data file smaller than this is a small file.
    #[serde(default = "default_small_file_bytes")]
    pub small_file_bytes: u64,
    /// Files checker: live small files in one table, at any committed snapshot.
    #[serde(default = "default_small_files_max")]
    pub small_files_max: usize,
}

impl Default for SlaSection {
    fn default() -> Self {
        Self {
            freshness_p99: None,
            too_late_share_max: None,
            availability_pct: None,
            query_latency_max: default_query_latency_max(),
            staleness_max: default_staleness_max(),
            recovery_max: None,
            overspend_max_pct: None,
            files_per_bucket_max: default_files_per_bucket_max(),
            small_file_bytes: default_small_file_bytes(),
            small_files_max: default_small_files_max(),
        }
    }
}

fn default_query_latency_max() -> Millis {
    ms("1s")
}
fn default_staleness_max() -> Millis {
    ms("2min")
}
fn default_files_per_bucket_max() -> usize {
    60
}
fn default_small_file_bytes() -> u64 {
    16 * 1024
}
fn default_small_files_max() -> usize {
    200
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

impl Scenario {
    /// The hosts this scenario's world runs.
    pub fn topology(&self) -> crate::topology::Topology {
        crate::topology::Topology {
            dual: self.storage.dual,
            compactor: self.jobs.compactor.is_some(),
        }
    }

    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates; `origin` names the file in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        let invalid = |message: String| ScenarioError::Invalid {
            path: origin.to_string(),
            message,
        };
        let scenario: Scenario = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        scenario.validate().map_err(invalid)?;
        Ok(scenario)
    }

    pub fn validate(&self) -> Result<(), String> {
        let run = &self.run;
        if run.tick.0 < 1 || run.tick.0 > 1000 {
            return Err(format!(
                "[run] tick = {} must be between 1ms and 1s",
                run.tick
            ));
        }
        if run.chaos.0 <= 0 || run.liveness.0 <= 0 {
            return Err("[run] chaos and liveness must both be positive durations".into());
        }
        if run.network_latency_min > run.network_latency_max {
            return Err("[run] network_latency_min must not exceed network_latency_max".into());
        }
        let traffic = &self.traffic;
        if traffic.partitions == 0 || traffic.partitions > 1024 {
            return Err("[traffic] partitions must be between 1 and 1024".into());
        }
        if !(traffic.baseline_events_per_s >= 0.0 && traffic.baseline_events_per_s <= 1e7) {
            return Err("[traffic] baseline_events_per_s must be between 0 and 10000000".into());
        }
        for (name, share) in [
            ("click_share", traffic.click_share),
            (
                "conversion_share_of_clicks",
                traffic.conversion_share_of_clicks,
            ),
            ("invalid_share", traffic.invalid_share),
            ("duplicate_batch_share", traffic.duplicate_batch_share),
            ("late_clicks.share", traffic.late_clicks.share),
            ("stale_resends.share", traffic.stale_resends.share),
            ("diurnal_amplitude", traffic.diurnal_amplitude),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(format!(
                    "[traffic] {name} = {share} must be between 0 and 1"
                ));
            }
        }
        let resends = &traffic.stale_resends;
        if resends.share > 0.0 && (resends.delay.0 <= 0 || resends.clock_behind.0 <= 0) {
            return Err(
                "[traffic.stale_resends] share > 0 needs a positive `delay` (when the copy is sent) and `clock_behind` (how much earlier its event_time is), like delay = \"20s\", clock_behind = \"2min\""
                    .into(),
            );
        }
        if !(0.0..=4.0).contains(&traffic.advertiser_skew) {
            return Err(format!(
                "[traffic] advertiser_skew = {} must be between 0 (uniform) and 4",
                traffic.advertiser_skew
            ));
        }
        if !(0.0..24.0).contains(&traffic.diurnal_peak_hour) {
            return Err(format!(
                "[traffic] diurnal_peak_hour = {} must be a local hour in [0, 24)",
                traffic.diurnal_peak_hour
            ));
        }
        if !(-12.0..=14.0).contains(&traffic.utc_offset_hours) {
            return Err(format!(
                "[traffic] utc_offset_hours = {} must be between -12 and 14",
                traffic.utc_offset_hours
            ));
        }
        traffic.conversion_delay.validate("conversion_delay")?;
        traffic.late_clicks.delay().validate("late_clicks")?;
        if traffic.late_clicks.share > 0.0 && traffic.late_clicks.max.0 == 0 {
            return Err(
                "[traffic.late_clicks] share > 0 needs a `max` delay (and a `median`), like max = \"30min\""
                    .into(),
            );
        }
        if traffic.advertisers == 0 || traffic.campaigns_per_advertiser == 0 {
            return Err(
                "[traffic] advertisers and campaigns_per_advertiser must be at least 1".into(),
            );
        }
        for (index, spike) in traffic.spikes.iter().enumerate() {
            if spike.multiple < 0.0 {
                return Err(format!(
                    "[[traffic.spikes]] #{} multiple must not be negative",
                    index + 1
                ));
            }
        }
        for (name, table) in [("dwd", &self.dwd), ("dws", &self.dws)] {
            if table.bucket == 0 || table.bucket > 1024 {
                return Err(format!(
                    "[{name}] bucket = {} must be between 1 and 1024",
                    table.bucket
                ));
            }
            if !["none", "input", "lookup", "full-compaction"]
                .contains(&table.changelog_producer.as_str())
            {
                return Err(format!(
                    "[{name}] changelog-producer = \"{}\" is not supported; use \"none\", \"input\", \"lookup\" or \"full-compaction\"",
                    table.changelog_producer
                ));
            }
            if table.full_compaction_delta_commits == Some(0) {
                return Err(format!(
                    "[{name}] full-compaction.delta-commits must be at least 1 (or left out)"
                ));
            }
            if !(2..=50).contains(&table.compaction_trigger) {
                return Err(format!(
                    "[{name}] num-sorted-run.compaction-trigger = {} must be between 2 and 50",
                    table.compaction_trigger
                ));
            }
            table
                .lifecycle()
                .map_err(|message| format!("[{name}] {message}"))?;
            if let Some(stop) = table.stop_trigger
                && !(table.compaction_trigger..=100).contains(&stop)
            {
                return Err(format!(
                    "[{name}] num-sorted-run.stop-trigger = {stop} must be between num-sorted-run.compaction-trigger ({}) and 100",
                    table.compaction_trigger
                ));
            }
            if table.target_file_size_bytes < 1024 {
                return Err(format!(
                    "[{name}] target-file-size = {} bytes is too small; use at least \"1 kb\"",
                    table.target_file_size_bytes
                ));
            }
            if table.write_only && self.jobs.compactor.is_none() {
                return Err(format!(
                    "[{name}] write-only = true but no dedicated compactor runs: its sorted runs would grow until writers stall at num-sorted-run.stop-trigger and fail every checkpoint; add a [jobs.compactor] section, or set write-only = false for inline compaction"
                ));
            }
            if !["none", "snappy"].contains(&table.file_compression.as_str()) {
                return Err(format!(
                    "[{name}] file.compression = \"{}\" is not supported; use \"none\" or \"snappy\"",
                    table.file_compression
                ));
            }
        }
        if self.dws.sequence_field.is_some() || self.dws.unsafe_lookup_ignore_sequence_field {
            return Err(
                "[dws] sequence.field and unsafe.lookup.ignore-sequence-field apply to [dwd] only: DWS rows carry no version field"
                    .into(),
            );
        }
        if let Some(field) = &self.dwd.sequence_field
            && !sequence_fields().contains(&field.as_str())
        {
            return Err(format!(
                "[dwd] sequence.field = \"{field}\" must be a BIGINT value field of the event: one of {:?}",
                sequence_fields()
            ));
        }
        if self.dwd.unsafe_lookup_ignore_sequence_field && self.dwd.sequence_field.is_none() {
            return Err(
                "[dwd] unsafe.lookup.ignore-sequence-field = true needs a sequence.field to ignore"
                    .into(),
            );
        }
        if self.dwd.changelog_producer != "lookup" {
            return Err(
                "[dwd] changelog-producer must be \"lookup\": the DWS job consumes DWD's changelog"
                    .into(),
            );
        }
        if self.jobs.compactor.is_some() && !self.dwd.write_only && !self.dws.write_only {
            return Err(
                "[jobs.compactor] is set but no table is write-only: the compactor would race the writers' inline compaction; set write-only = true on [dwd] and/or [dws], or remove [jobs.compactor]"
                    .into(),
            );
        }
        if let Some(compactor) = &self.jobs.compactor
            && compactor.poll_interval.0 < 10
        {
            return Err("[jobs.compactor] poll_interval must be at least 10ms".into());
        }
        if !(0..=24 * 3_600_000).contains(&self.jobs.watermark_out_of_orderness.0) {
            return Err(format!(
                "[jobs] watermark.bounded-out-of-orderness = \"{}\" must be between 0s and 24h",
                self.jobs.watermark_out_of_orderness
            ));
        }
        if !(0..=7 * 24 * 3_600_000).contains(&self.jobs.allowed_lateness.0) {
            return Err(format!(
                "[jobs] table.exec.emit.allow-lateness = \"{}\" must be between 0s and 168h (a week)",
                self.jobs.allowed_lateness
            ));
        }
        // With dual storage the secondary's jobs (`dwd-job-b`, `dws-job-b`) commit too.
        let committing = self.topology().committing_jobs();
        for job in &self.jobs.unsafe_new_commit_user_on_restart {
            if !committing.contains(&job.as_str()) {
                return Err(format!(
                    "[jobs] unsafe.new-commit-user-on-restart names `{job}`; it takes the jobs that commit: {}",
                    committing.join(", ")
                ));
            }
        }
        if self.jobs.checkpoint_interval.0 < 100 {
            return Err("[jobs] execution.checkpointing.interval must be at least 100ms".into());
        }
        self.jobs.validate_checkpointing()?;
        self.validate_parallelism()?;
        if let Some(budget) = self.serving.daily_budget_micros
            && budget <= 0
        {
            return Err(format!(
                "[serving] daily_budget_micros = {budget} must be positive (spend in micros, e.g. 50000000000 for 50,000)"
            ));
        }
        if self.serving.budget_check_interval.0 < 100 {
            return Err("[serving] budget_check_interval must be at least 100ms".into());
        }
        if self.serving.budget_reaction_delay.0 < 0 {
            return Err("[serving] budget_reaction_delay must not be negative".into());
        }
        if let Some(pct) = self.sla.overspend_max_pct {
            if !(pct >= 0.0 && pct.is_finite()) {
                return Err(format!(
                    "[sla] overspend_max_pct = {pct} must be a percentage of at least 0, like 1.0"
                ));
            }
            if self.serving.daily_budget_micros.is_none() {
                return Err("[sla] overspend_max_pct needs budgets: set [serving] daily_budget_micros, or remove the SLA".into());
            }
        }
        if let Some(pct) = self.sla.availability_pct
            && !(pct > 0.0 && pct <= 100.0)
        {
            return Err(format!(
                "[sla] availability_pct = {pct} must be a percentage in (0, 100], like 99.9"
            ));
        }
        if let Some(share) = self.sla.too_late_share_max
            && !(0.0..=1.0).contains(&share)
        {
            return Err(format!(
                "[sla] too_late_share_max = {share} must be between 0 and 1"
            ));
        }
        if self.serving.window_minutes < 1 {
            return Err("[serving] window_minutes must be at least 1".into());
        }
        self.validate_storage()?;
        for (index, fault) in self.faults.iter().enumerate() {
            self.validate_fault(fault).map_err(|message| {
                format!("[[faults]] #{} (at {}): {message}", index + 1, fault.at)
            })?;
        }
        for (index, operation) in self.operations.iter().enumerate() {
            operation.validate(self).map_err(|message| {
                format!(
                    "[[operations]] #{} (at {}): {message}",
                    index + 1,
                    operation.at
                )
            })?;
        }
        Ok(())
    }

    fn validate_storage(&self) -> Result<(), String> {
        let storage = &self.storage;
        if !storage.dual {
            return Ok(());
        }
        if !self.operations.is_empty() {
            return Err("[storage] dual = true does not support [[operations]] yet (a deploy or rollback would act on one storage system's chain only); run the operations with a single storage system".into());
        }
        if self.jobs.compactor.is_some() {
            return Err("[storage] dual = true does not support [jobs.compactor] yet (each storage system would need its own compactor); use inline compaction (write-only = false) with dual storage".into());
        }
        let timeout = storage.attempt_timeout.0;
        if timeout < 10 || timeout >= self.sla.query_latency_max.0 {
            return Err(format!(
                "[storage] failover.attempt-timeout = {} must be at least 10ms and below [sla] query_latency_max ({}), so a failed attempt still leaves time to answer from the other system",
                storage.attempt_timeout, self.sla.query_latency_max
            ));
        }
        if storage.probe_interval.0 < 100 {
            return Err("[storage] failover.probe-interval must be at least 100ms".into());
        }
        if storage.failback_hold.0 < storage.probe_interval.0 {
            return Err(format!(
                "[storage] failback.hold = {} must be at least failover.probe-interval ({}): serving fails back only after probes found the primary healthy and fresh for that long",
                storage.failback_hold, storage.probe_interval
            ));
        }
        Ok(())
    }

    /// Paimon assigns each bucket to exactly one writer subtask, so a sink with more subtasks
    /// than buckets leaves some idle; Flink cannot schedule more subtasks than task slots.
    fn validate_parallelism(&self) -> Result<(), String> {
        let jobs = &self.jobs;
        if jobs.parallelism == 0 || jobs.task_slots == 0 {
            return Err(
                "[jobs] parallelism.default and taskmanager.numberOfTaskSlots must be at least 1"
                    .into(),
            );
        }
        if jobs.parallelism > jobs.task_slots {
            return Err(format!(
                "[jobs] parallelism.default = {} needs {} task slots but \
                 taskmanager.numberOfTaskSlots = {} (Flink would fail with \
                 NoResourceAvailableException); raise the slots or lower the parallelism",
                jobs.parallelism, jobs.parallelism, jobs.task_slots
            ));
        }
        for (name, table) in [("dwd", &self.dwd), ("dws", &self.dws)] {
            if jobs.parallelism > table.bucket {
                return Err(format!(
                    "[jobs] parallelism.default = {} exceeds [{name}] bucket = {}: each bucket is \
                     written by exactly one sink subtask, so {} subtasks would sit idle. Match the \
                     sink parallelism to the bucket count (Paimon advises parallelism <= bucket): \
                     raise bucket or lower parallelism.default",
                    jobs.parallelism,
                    table.bucket,
                    jobs.parallelism - table.bucket
                ));
            }
        }
        Ok(())
    }

    fn validate_fault(&self, fault: &FaultSpec) -> Result<(), String> {
        if fault.at.0 < 0 || fault.duration.0 <= 0 {
            return Err("`at` must not be negative and `duration` must be positive".into());
        }
        if fault.at.0 + fault.duration.0 > self.run.chaos.0 {
            return Err(format!(
                "ends at {} after the chaos phase ({}); faults heal by the end of chaos",
                Millis(fault.at.0 + fault.duration.0),
                self.run.chaos
            ));
        }
        let kind = fault.kind.name();
        let hosts_hit = fault.target.iter().chain(fault.between.iter().flatten());
        if hosts_hit.into_iter().any(|h| h == "compactor") && self.jobs.compactor.is_none() {
            return Err(format!(
                "a {kind} fault cannot hit `compactor`: no [jobs.compactor] section runs one"
            ));
        }
        if fault.kind.is_link_fault() {
            let [a, b] = fault.between.as_ref().ok_or_else(|| {
                format!("a {kind} fault needs `between = [\"host-a\", \"host-b\"]`")
            })?;
            let topology = self.topology();
            let hosts = topology.hosts();
            for host in [a, b] {
                if !hosts.contains(&host.as_str()) {
                    return Err(topology.explain_unknown(host, &hosts));
                }
            }
            if a == b {
                return Err(format!("a {kind} fault needs two different hosts"));
            }
            if fault.target.is_some() {
                return Err(format!("a {kind} fault takes `between`, not `target`"));
            }
        } else {
            let target = fault
                .target
                .as_deref()
                .ok_or_else(|| format!("a {kind} fault needs `target`"))?;
            if fault.between.is_some() {
                return Err(format!("a {kind} fault takes `target`, not `between`"));
            }
            let topology = self.topology();
            let allowed = match fault.kind {
                FaultKind::Crash => topology.crashable(),
                FaultKind::ClockSkew => topology.skewable(),
                _ => topology.disks(),
            };
            if !allowed.contains(&target) && topology.belongs_to_other_world(target) {
                return Err(topology.explain_unknown(target, &allowed));
            }
            if !allowed.contains(&target) {
                return Err(format!(
                    "a {kind} fault cannot hit `{target}`; it can hit: {}",
                    allowed.join(", ")
                ));
            }
        }
        let needs_latency = matches!(fault.kind, FaultKind::Latency | FaultKind::DiskSlow);
        match (needs_latency, fault.latency) {
            (true, None) => return Err(format!("a {kind} fault needs `latency`, like \"500ms\"")),
            (true, Some(latency)) if latency.0 <= 0 => {
                return Err("`latency` must be positive".into());
            }
            (false, Some(_)) => return Err(format!("a {kind} fault takes no `latency`")),
            _ => {}
        }
        match (fault.kind == FaultKind::ClockSkew, fault.skew.as_deref()) {
            (true, None) => {
                return Err("a clock-skew fault needs `skew`, like \"+30s\" or \"-2min\"".into());
            }
            (true, Some(text)) if parse_skew(text).is_none() => {
                return Err(format!(
                    "`skew = \"{text}\"` is not a signed duration; write \"+30s\" or \"-2min\""
                ));
            }
            (false, Some(_)) => return Err(format!("a {kind} fault takes no `skew`")),
            _ => {}
        }
        match (fault.kind == FaultKind::DiskErrors, fault.rate) {
            (true, None) => return Err("a disk-errors fault needs `rate`, like 0.05".into()),
            (true, Some(rate)) if !(rate > 0.0 && rate <= 1.0) => {
                return Err(format!("`rate = {rate}` must be in (0, 1]"));
            }
            (false, Some(_)) => return Err(format!("a {kind} fault takes no `rate`")),
            _ => {}
        }
        Ok(())
    }

    /// The diurnal factor at `t_ms` into the run: 1 + amplitude × cos(hours from the local peak).
    pub fn diurnal_factor(&self, t_ms: i64) -> f64 {
        let traffic = &self.traffic;
        if traffic.diurnal_amplitude == 0.0 {
            return 1.0;
        }
        let utc_hours = (self.run.epoch_ms + t_ms) as f64 / 3_600_000.0;
        let local_hour = (utc_hours + traffic.utc_offset_hours).rem_euclid(24.0);
        let phase = (local_hour - traffic.diurnal_peak_hour) / 24.0 * std::f64::consts::TAU;
        1.0 + traffic.diurnal_amplitude * phase.cos()
    }

    /// The traffic phase an event produced at `t_ms` belongs to, for freshness per phase:
    /// inside a spike its ramp, peak or decay; after the chaos phase `liveness`; else `baseline`.
    pub fn phase_at(&self, t_ms: i64) -> TrafficPhase {
        if t_ms >= self.run.chaos.0 {
            return TrafficPhase::Liveness;
        }
        for spike in &self.traffic.spikes {
            let since = t_ms - spike.start.0;
            if since < 0 {
                continue;
            }
            if since < spike.ramp.0 {
                return TrafficPhase::Ramp;
            }
            if since < spike.ramp.0 + spike.peak.0 {
                return TrafficPhase::Peak;
            }
            if since < spike.ramp.0 + spike.peak.0 + spike.decay.0 {
                return TrafficPhase::Decay;
            }
        }
        TrafficPhase::Baseline
    }

    /// Traffic rate (events/s) at `t_ms` into the run: the diurnal baseline times the largest
    /// active spike.
    pub fn rate_at(&self, t_ms: i64) -> f64 {
        let base = self.traffic.baseline_events_per_s * self.diurnal_factor(t_ms);
        let mut factor: f64 = 1.0;
        for spike in &self.traffic.spikes {
            let since = (t_ms - spike.start.0) as f64;
            let (ramp, peak, decay) = (
                spike.ramp.0 as f64,
                spike.peak.0 as f64,
                spike.decay.0 as f64,
            );
            let level = if since < 0.0 {
                0.0
            } else if since < ramp {
                since / ramp
            } else if since < ramp + peak {
                1.0
            } else if since < ramp + peak + decay {
                1.0 - (since - ramp - peak) / decay
            } else {
                0.0
            };
            factor = factor.max(1.0 + (spike.multiple - 1.0) * level);
        }
        base * factor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "t"
[run]
chaos = "10s"
liveness = "10s"
[traffic]
baseline_events_per_s = 100
"#;

    #[test]
    fn durations_parse_like_flink() {
        assert_eq!(Millis::parse("10s"), Some(Millis(10_000)));
        assert_eq!(Millis::parse("10 s"), Some(Millis(10_000)));
        assert_eq!(Millis::parse("250ms"), Some(Millis(250)));
        assert_eq!(Millis::parse("2min"), Some(Millis(120_000)));
        assert_eq!(Millis::parse("ten s"), None);
        assert_eq!(Millis::parse("10 fortnights"), None);
    }

    #[test]
    fn checkpoint_policy_keys_are_checked() {
        let traffic_driven = format!(
            "{MINIMAL}[jobs]\ncheckpoint-policy = \"traffic-driven\"\n\
             \"checkpoint.interval-quiet\" = \"2s\"\n\"checkpoint.interval-peak\" = \"30s\"\n\
             \"checkpoint.rate-quiet\" = 100\n\"checkpoint.rate-peak\" = 5000\n\
             \"execution.checkpointing.interval-during-backlog\" = \"1min\"\n"
        );
        let scenario = Scenario::parse(&traffic_driven, "x.toml").expect("valid policy");
        assert_eq!(scenario.jobs.interval_during_backlog, Some(Millis(60_000)));
        let missing = format!("{MINIMAL}[jobs]\ncheckpoint-policy = \"traffic-driven\"\n");
        let error = Scenario::parse(&missing, "x.toml").unwrap_err().to_string();
        assert!(error.contains("checkpoint.rate-peak"), "{error}");
        let unknown = format!("{MINIMAL}[jobs]\ncheckpoint-policy = \"adaptive\"\n");
        let error = Scenario::parse(&unknown, "x.toml").unwrap_err().to_string();
        assert!(error.contains("\"fixed\" or \"traffic-driven\""), "{error}");
        let stray = format!("{MINIMAL}[jobs]\n\"checkpoint.rate-peak\" = 5000\n");
        let error = Scenario::parse(&stray, "x.toml").unwrap_err().to_string();
        assert!(error.contains("only apply with"), "{error}");
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let text = format!("{MINIMAL}bukcet = 3\n");
        let error = Scenario::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(error.contains("x.toml"), "{error}");
        assert!(
            error.contains("bukcet") && error.contains("line 8"),
            "{error}"
        );
    }

    #[test]
    fn lsm_keys_parse_and_are_checked() {
        assert_eq!(parse_size_bytes("128 mb"), Some(128 << 20));
        assert_eq!(parse_size_bytes("64kb"), Some(64 << 10));
        assert_eq!(parse_size_bytes("4096"), Some(4096));
        assert_eq!(parse_size_bytes("12 parsecs"), None);
        let text = format!(
            "{MINIMAL}[dws]\nbucket = 1\nchangelog-producer = \"none\"\ntarget-file-size = \"32 kb\"\n\"num-sorted-run.stop-trigger\" = 9\n"
        );
        let scenario = Scenario::parse(&text, "x.toml").unwrap();
        assert_eq!(scenario.dws.target_file_size_bytes, 32 << 10);
        assert_eq!(scenario.dws.stop_trigger, Some(9));
        let low = text.replace("= 9", "= 2");
        let error = Scenario::parse(&low, "x.toml").unwrap_err().to_string();
        assert!(error.contains("num-sorted-run.stop-trigger = 2"), "{error}");
        let unit = text.replace("32 kb", "32 furlongs");
        let error = Scenario::parse(&unit, "x.toml").unwrap_err().to_string();
        assert!(error.contains("not a size"), "{error}");
        let crash = format!(
            "{MINIMAL}[[faults]]\nat = \"2s\"\nkind = \"crash\"\ntarget = \"compactor\"\nduration = \"1s\"\n"
        );
        let error = Scenario::parse(&crash, "x.toml").unwrap_err().to_string();
        assert!(error.contains("no [jobs.compactor]"), "{error}");
    }

    #[test]
    fn bad_fault_is_explained() {
        let text = format!(
            "{MINIMAL}[[faults]]\nat = \"2s\"\nkind = \"crash\"\ntarget = \"traffic\"\nduration = \"1s\"\n"
        );
        let error = Scenario::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(
            error.contains("a crash fault cannot hit `traffic`"),
            "{error}"
        );
        let slow_without_latency = format!(
            "{MINIMAL}[[faults]]\nat = \"2s\"\nkind = \"disk-slow\"\ntarget = \"dfs\"\nduration = \"1s\"\n"
        );
        let error = Scenario::parse(&slow_without_latency, "x.toml")
            .unwrap_err()
            .to_string();
        assert!(error.contains("needs `latency`"), "{error}");
        let bad_skew = format!(
            "{MINIMAL}[[faults]]\nat = \"2s\"\nkind = \"clock-skew\"\ntarget = \"dwd-job\"\nskew = \"soon\"\nduration = \"1s\"\n"
        );
        let error = Scenario::parse(&bad_skew, "x.toml")
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a signed duration"), "{error}");
        assert_eq!(parse_skew("-2min"), Some(-120_000));
        assert_eq!(parse_skew("+30s"), Some(30_000));
    }

    #[test]
    fn diurnal_baseline_peaks_at_the_local_hour() {
        // Epoch 0 is 08:00 in UTC+8; a peak at 20:00 local is 12 h later, the trough at 08:00.
        let text = MINIMAL.replace(
            "baseline_events_per_s = 100",
            "baseline_events_per_s = 100\ndiurnal_amplitude = 0.5\ndiurnal_peak_hour = 20",
        ) + "";
        let mut scenario = Scenario::parse(&text, "x.toml").unwrap();
        scenario.run.epoch_ms = 0;
        assert!((scenario.rate_at(0) - 50.0).abs() < 1e-9);
        assert!((scenario.rate_at(12 * 3_600_000) - 150.0).abs() < 1e-9);
    }

    #[test]
    fn event_time_options_are_validated() {
        let text = format!("{MINIMAL}[jobs]\n\"table.exec.emit.allow-lateness\" = \"200h\"\n");
        let error = Scenario::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(error.contains("table.exec.emit.allow-lateness"), "{error}");
        let text = format!("{MINIMAL}[traffic.conversion_delay]\nmedian = \"2h\"\nmax = \"1h\"\n");
        let error = Scenario::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(
            error.contains("conversion_delay") && error.contains("median"),
            "{error}"
        );
        let text = format!("{MINIMAL}[traffic.late_clicks]\nshare = 0.1\n");
        let error = Scenario::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(error.contains("late_clicks"), "{error}");
    }

    #[test]
    fn delays_are_exponential_up_to_the_max() {
        let spec = DelaySpec {
            median: Millis(600_000),
            max: Millis(7_200_000),
        };
        assert_eq!(spec.sample_ms(0.0), 0);
        assert!(
            spec.sample_ms(0.5) < 600_000,
            "truncation pulls the median down a little"
        );
        assert!(spec.sample_ms(0.45) > 400_000);
        assert!(spec.sample_ms(0.999_999) <= 7_200_000);
        assert_eq!(DelaySpec::default().sample_ms(0.7), 0);
    }

    #[test]
    fn spike_shapes_the_rate() {
        let text = format!(
            "{MINIMAL}[[traffic.spikes]]\nstart = \"2s\"\nramp = \"2s\"\npeak = \"2s\"\ndecay = \"2s\"\nmultiple = 10\n"
        );
        let scenario = Scenario::parse(&text, "x.toml").unwrap();
        assert_eq!(scenario.rate_at(0), 100.0);
        assert_eq!(scenario.rate_at(3_000), 550.0);
        assert_eq!(scenario.rate_at(5_000), 1000.0);
        assert_eq!(scenario.rate_at(20_000), 100.0);
        let phases = [1_000, 2_000, 3_999, 4_000, 6_500, 8_000]
            .map(|t| scenario.phase_at(t).name())
            .to_vec();
        assert_eq!(
            phases,
            ["baseline", "ramp", "ramp", "peak", "decay", "baseline"]
        );
        assert_eq!(scenario.phase_at(scenario.run.chaos.0).name(), "liveness");
    }

    #[test]
    fn lifecycle_keys_use_paimon_names_and_are_checked() {
        let text = format!(
            "{MINIMAL}[dwd]\nbucket = 2\n\"snapshot.num-retained.min\" = 3\n\"snapshot.time-retained\" = \"2min\"\n\"consumer.expiration-time\" = \"1h\"\n\"tag.automatic-creation\" = \"process-time\"\n\"tag.creation-period\" = \"hourly\"\n\"tag.num-retained-max\" = 4\n"
        );
        let scenario = Scenario::parse(&text, "x.toml").unwrap();
        let options = scenario.dwd.lifecycle().unwrap();
        assert_eq!(options.snapshot_num_retained_min, 3);
        assert_eq!(options.snapshot_time_retained_ms, 120_000);
        assert_eq!(options.snapshot_expire_limit, 10, "Paimon's default");
        assert_eq!(options.consumer_expiration_time_ms, Some(3_600_000));
        assert_eq!(options.tag_creation_period, TagPeriod::Hourly);
        assert_eq!(options.tag_num_retained_max, Some(4));
        assert_eq!(
            scenario.dws.lifecycle().unwrap(),
            LifecycleOptions::default()
        );

        let bad = format!("{MINIMAL}[dwd]\nbucket = 2\n\"tag.creation-period\" = \"weekly\"\n");
        let error = Scenario::parse(&bad, "x.toml").unwrap_err().to_string();
        assert!(
            error.contains("[dwd] tag.creation-period = \"weekly\" is not a period"),
            "{error}"
        );
        let bad = format!(
            "{MINIMAL}[dws]\nbucket = 1\n\"snapshot.num-retained.min\" = 5\n\"snapshot.num-retained.max\" = 2\n"
        );
        let error = Scenario::parse(&bad, "x.toml").unwrap_err().to_string();
        assert!(
            error.contains("[dws] snapshot.num-retained.max = 2 must not be below"),
            "{error}"
        );
        let typo = format!("{MINIMAL}[dwd]\nbucket = 2\n\"snapshot.time-retain\" = \"1h\"\n");
        let error = Scenario::parse(&typo, "x.toml").unwrap_err().to_string();
        assert!(error.contains("snapshot.time-retain"), "{error}");
    }

    #[test]
    fn unsafe_new_commit_user_names_committing_jobs() {
        assert!(
            Scenario::parse(MINIMAL, "x.toml")
                .unwrap()
                .jobs
                .unsafe_new_commit_user_on_restart
                .is_empty()
        );
        let text =
            format!("{MINIMAL}[jobs]\n\"unsafe.new-commit-user-on-restart\" = [\"dwd-job\"]\n");
        let scenario = Scenario::parse(&text, "x.toml").unwrap();
        assert_eq!(scenario.jobs.unsafe_new_commit_user_on_restart, ["dwd-job"]);
        let bad = text.replace("dwd-job", "serving");
        let error = Scenario::parse(&bad, "x.toml").unwrap_err().to_string();
        assert!(
            error.contains("unsafe.new-commit-user-on-restart names `serving`"),
            "{error}"
        );
    }

    #[test]
    fn sequence_field_stale_resends_and_the_unsafe_lookup_are_checked() {
        let error = |extra: &str| {
            Scenario::parse(&format!("{MINIMAL}{extra}"), "t.toml")
                .map(|_| String::new())
                .unwrap_or_else(|e| e.to_string())
        };
        let ok = "[dwd]\nbucket = 1\n\"sequence.field\" = \"event_time\"\n\"unsafe.lookup.ignore-sequence-field\" = true\n";
        assert_eq!(error(ok), "");
        assert!(
            error("[dwd]\nbucket = 1\n\"sequence.field\" = \"kind\"\n")
                .contains("must be a BIGINT value field")
        );
        assert!(
            error("[dwd]\nbucket = 1\n\"unsafe.lookup.ignore-sequence-field\" = true\n")
                .contains("needs a sequence.field")
        );
        assert!(
            error("[dws]\nbucket = 1\n\"sequence.field\" = \"cost\"\n")
                .contains("apply to [dwd] only")
        );
        assert!(
            error("[traffic.stale_resends]\nshare = 0.1\n").contains("needs a positive `delay`")
        );
        assert!(
            error("[traffic.stale_resends]\nshare = 2.0\ndelay = \"1s\"\nclock_behind = \"1s\"\n")
                .contains("stale_resends.share = 2")
        );
    }

    #[test]
    fn unsafe_expire_order_defaults_off_and_is_checked() {
        let key = "\"unsafe.expire.delete-data-before-snapshot\"";
        let text = format!("{MINIMAL}[dwd]\nbucket = 2\n{key} = true\n");
        let scenario = Scenario::parse(&text, "x.toml").unwrap();
        assert!(
            scenario
                .dwd
                .lifecycle()
                .unwrap()
                .unsafe_expire_delete_data_before_snapshot
        );
        assert!(
            !scenario
                .dws
                .lifecycle()
                .unwrap()
                .unsafe_expire_delete_data_before_snapshot
        );
        let bad = format!("{MINIMAL}[dwd]\nbucket = 2\n{key} = \"yes\"\n");
        let error = Scenario::parse(&bad, "x.toml").unwrap_err().to_string();
        assert!(
            error.contains("unsafe.expire.delete-data-before-snapshot")
                && error.contains("expected a boolean"),
            "{error}"
        );
    }

    #[test]
    fn dws_changelog_producer_options_are_validated() {
        let text = format!(
            "{MINIMAL}[dws]\nbucket = 2\nchangelog-producer = \"full-compaction\"\n\"full-compaction.delta-commits\" = 3\n"
        );
        let scenario = Scenario::parse(&text, "x.toml").unwrap();
        assert_eq!(scenario.dws.full_compaction_delta_commits, Some(3));
        let text = format!("{MINIMAL}[dws]\nbucket = 2\nchangelog-producer = \"sometimes\"\n");
        let error = Scenario::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(error.contains("\"full-compaction\""), "{error}");
        let text = format!("{MINIMAL}[dws]\nbucket = 2\n\"full-compaction.delta-commits\" = 0\n");
        let error = Scenario::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(error.contains("at least 1"), "{error}");
    }
}
