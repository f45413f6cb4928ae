//! `[dwd]` and `[dws]`: each table's Paimon options under Paimon's names (buckets, changelog
//! producer, LSM triggers, file size, lifecycle), parsed into the table store's own option types.

use serde::{Deserialize, Deserializer};
use warehouse::table::{
    ChangelogProducer, FileCompression, LifecycleOptionError, LifecycleOptions, MergeEngine,
    PartitionTimeFormat, TableOptions, TagCreation, TagPeriod,
};

use crate::scenario::locate::KeyPath;
use crate::scenario::units::{Millis, deserialize_named, deserialize_size};
use crate::scenario::{Invalid, ensure};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSection {
    pub bucket: u32,
    /// `lookup` when the key is left out (the whole `[dws]` section left out: `none`).
    #[serde(
        rename = "changelog-producer",
        default = "default_changelog_producer",
        deserialize_with = "changelog_producer"
    )]
    pub changelog_producer: ChangelogProducer,
    #[serde(
        rename = "file.compression",
        default = "default_compression",
        deserialize_with = "file_compression"
    )]
    pub file_compression: FileCompression,
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
    #[serde(
        rename = "tag.automatic-creation",
        default,
        deserialize_with = "tag_creation"
    )]
    pub tag_automatic_creation: Option<TagCreation>,
    /// "daily", "hourly", "two-hours", or a duration such as "5min" (simulation scale).
    #[serde(
        rename = "tag.creation-period",
        default,
        deserialize_with = "tag_period"
    )]
    pub tag_creation_period: Option<TagPeriod>,
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
    #[serde(
        rename = "sequence.field",
        default,
        deserialize_with = "sequence_field"
    )]
    pub sequence_field: Option<String>,
    /// UNSAFE (apache/paimon#7220): the lookup changelog ignores `sequence.field` and reports
    /// a key's newest write as its new value. Off by default; only the incident library sets it.
    #[serde(rename = "unsafe.lookup.ignore-sequence-field", default)]
    pub unsafe_lookup_ignore_sequence_field: bool,
    /// Paimon `partition.timestamp-formatter` ([dwd] only): "yyyyMMddHH" partitions DWD by the
    /// event's local hour (in `[traffic] utc_offset_hours`), "yyyyMMdd" by its local day, as
    /// production DWD tables are; left out, DWD is unpartitioned.
    #[serde(
        rename = "partition.timestamp-formatter",
        default,
        deserialize_with = "partition_formatter"
    )]
    pub partition_timestamp_formatter: Option<PartitionTimeFormat>,
}

fn partition_formatter<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<PartitionTimeFormat>, D::Error> {
    deserialize_named(
        deserializer,
        PartitionTimeFormat::parse,
        "\"yyyyMMddHH\" (hourly partitions) or \"yyyyMMdd\" (daily)",
    )
    .map(Some)
}

/// Event fields `[dwd] sequence.field` may name: the BIGINT value fields of the event's row
/// (not the key `event_id`, not the enumeration `kind`).
pub fn sequence_fields() -> Vec<&'static str> {
    warehouse::event::EVENT_FIELD_NAMES
        .into_iter()
        .filter(|field| !matches!(*field, "event_id" | "kind"))
        .collect()
}

fn changelog_producer<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<ChangelogProducer, D::Error> {
    deserialize_named(
        deserializer,
        ChangelogProducer::from_paimon_name,
        "\"none\", \"input\", \"lookup\" or \"full-compaction\"",
    )
}

fn default_changelog_producer() -> ChangelogProducer {
    ChangelogProducer::Lookup
}

fn file_compression<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<FileCompression, D::Error> {
    deserialize_named(
        deserializer,
        |name| match name {
            "none" => Some(FileCompression::None),
            "snappy" => Some(FileCompression::Snappy),
            _ => None,
        },
        "\"none\" or \"snappy\"",
    )
}

fn tag_creation<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<TagCreation>, D::Error> {
    deserialize_named(
        deserializer,
        TagCreation::parse,
        "\"none\" or \"process-time\"",
    )
    .map(Some)
}

fn tag_period<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<TagPeriod>, D::Error> {
    let text = String::deserialize(deserializer)?;
    TagPeriod::parse(&text).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "tag.creation-period = \"{text}\" is not a period; use \"daily\", \"hourly\", \"two-hours\" or a duration of at least 1s such as \"5min\""
        ))
    })
}

fn sequence_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let field = String::deserialize(deserializer)?;
    if sequence_fields().contains(&field.as_str()) {
        return Ok(Some(field));
    }
    Err(serde::de::Error::custom(format!(
        "sequence.field = \"{field}\" must be a BIGINT value field of the event: one of {:?}",
        sequence_fields()
    )))
}

fn default_target_file_size() -> u64 {
    warehouse::table::TARGET_FILE_SIZE_BYTES_DEFAULT
}
fn default_compaction_trigger() -> usize {
    5
}
fn default_compression() -> FileCompression {
    FileCompression::Snappy
}

impl TableSection {
    pub(crate) fn dwd_default() -> Self {
        Self {
            bucket: 4,
            changelog_producer: ChangelogProducer::Lookup,
            ..Self::dws_default()
        }
    }

    pub(crate) fn dws_default() -> Self {
        Self {
            bucket: 2,
            changelog_producer: ChangelogProducer::None,
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
            partition_timestamp_formatter: None,
        }
    }

    /// The table's lifecycle options: Paimon's defaults overridden by the keys set.
    pub fn lifecycle(&self) -> LifecycleOptions {
        let defaults = LifecycleOptions::default();
        LifecycleOptions {
            snapshot_num_retained_min: self
                .snapshot_num_retained_min
                .unwrap_or(defaults.snapshot_num_retained_min),
            snapshot_num_retained_max: self
                .snapshot_num_retained_max
                .unwrap_or(defaults.snapshot_num_retained_max),
            snapshot_time_retained_ms: self
                .snapshot_time_retained
                .map_or(defaults.snapshot_time_retained_ms, |m| m.0),
            snapshot_expire_limit: self
                .snapshot_expire_limit
                .unwrap_or(defaults.snapshot_expire_limit),
            consumer_expiration_time_ms: self.consumer_expiration_time.map(|m| m.0),
            tag_automatic_creation: self
                .tag_automatic_creation
                .unwrap_or(defaults.tag_automatic_creation),
            tag_creation_period: self
                .tag_creation_period
                .unwrap_or(defaults.tag_creation_period),
            tag_num_retained_max: self.tag_num_retained_max,
            unsafe_expire_delete_data_before_snapshot: self
                .unsafe_expire_delete_data_before_snapshot,
            partition_timestamp_formatter: self.partition_timestamp_formatter,
            // No job expires partitions yet.
            ..defaults
        }
    }

    /// The table store's options for this table (a deduplicate table, as both of ours are).
    pub fn options(&self) -> TableOptions {
        TableOptions {
            bucket: self.bucket,
            merge_engine: MergeEngine::Deduplicate,
            changelog_producer: self.changelog_producer,
            file_compression: self.file_compression,
            compaction_trigger: self.compaction_trigger,
            write_only: self.write_only,
            lifecycle: self.lifecycle(),
            full_compaction_delta_commits: self.full_compaction_delta_commits,
            stop_trigger: self.stop_trigger,
            target_file_size_bytes: self.target_file_size_bytes,
            sequence_field: self.sequence_field.clone(),
            unsafe_lookup_ignore_sequence_field: self.unsafe_lookup_ignore_sequence_field,
            ..TableOptions::default()
        }
    }

    /// The checks of one table's own keys; `name` is `dwd` or `dws`.
    pub(crate) fn check(&self, name: &str) -> Result<(), Invalid> {
        ensure(
            (1..=1024).contains(&self.bucket),
            name,
            "bucket",
            format!(
                "[{name}] bucket = {} must be between 1 and 1024",
                self.bucket
            ),
        )?;
        ensure(
            self.full_compaction_delta_commits != Some(0),
            name,
            "full-compaction.delta-commits",
            format!("[{name}] full-compaction.delta-commits must be at least 1 (or left out)"),
        )?;
        ensure(
            (2..=50).contains(&self.compaction_trigger),
            name,
            "num-sorted-run.compaction-trigger",
            format!(
                "[{name}] num-sorted-run.compaction-trigger = {} must be between 2 and 50",
                self.compaction_trigger
            ),
        )?;
        if let Some(stop) = self.stop_trigger {
            ensure(
                (self.compaction_trigger..=100).contains(&stop),
                name,
                "num-sorted-run.stop-trigger",
                format!(
                    "[{name}] num-sorted-run.stop-trigger = {stop} must be between num-sorted-run.compaction-trigger ({}) and 100",
                    self.compaction_trigger
                ),
            )?;
        }
        ensure(
            self.target_file_size_bytes >= 1024,
            name,
            "target-file-size",
            format!(
                "[{name}] target-file-size = {} bytes is too small; use at least \"1 kb\"",
                self.target_file_size_bytes
            ),
        )?;
        ensure(
            self.tag_num_retained_max != Some(0),
            name,
            "tag.num-retained-max",
            format!("[{name}] tag.num-retained-max must be at least 1"),
        )?;
        ensure(
            self.consumer_expiration_time.is_none_or(|m| m.0 > 0),
            name,
            "consumer.expiration-time",
            format!("[{name}] consumer.expiration-time must be a positive duration"),
        )?;
        self.lifecycle().validate().map_err(|error| {
            let key = match &error {
                LifecycleOptionError::NotPositive { key, .. } => key.trim_end_matches(" (ms)"),
                LifecycleOptionError::MaxBelowMin { .. } => "snapshot.num-retained.max",
                LifecycleOptionError::ExpirationWithoutFormatter => "partition.expiration-time",
            };
            Invalid {
                key: KeyPath::at(name, key),
                message: format!("[{name}] {error}"),
            }
        })
    }
}
