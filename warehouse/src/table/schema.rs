//! Table schema and options, and their Paimon `schema/schema-N` JSON form, so an exported table
//! reads like a Paimon table and a reopened table is checked against what it was created with.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::TableError;
pub use super::lifecycle::LifecycleOptions;
use crate::row::{Field, FieldType};

/// Paimon `merge-engine`: how the records of one primary key combine (see `table::merge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeEngine {
    /// The newest record wins (by `sequence.field`, then write order); -U/-D delete the key.
    #[default]
    Deduplicate,
    /// Non-null fields of newer records overwrite; nulls keep the older value.
    PartialUpdate,
    /// Each value field folds with its aggregate function.
    Aggregation,
    /// The first record of a key wins; later ones are ignored.
    FirstRow,
}

impl MergeEngine {
    pub fn paimon_name(self) -> &'static str {
        match self {
            Self::Deduplicate => "deduplicate",
            Self::PartialUpdate => "partial-update",
            Self::Aggregation => "aggregation",
            Self::FirstRow => "first-row",
        }
    }

    pub const ALL: [Self; 4] = [
        Self::Deduplicate,
        Self::PartialUpdate,
        Self::Aggregation,
        Self::FirstRow,
    ];

    /// The engine Paimon calls `name`, if this store implements it.
    pub fn from_paimon_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.paimon_name() == name)
    }
}

/// Paimon `fields.<name>.aggregate-function` values this store implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFunction {
    /// Sum of non-null values; a retraction subtracts.
    Sum,
    /// Number of non-null values; a retraction subtracts one.
    Count,
    Min,
    Max,
    /// The newest non-null value.
    LastNonNullValue,
}

impl AggregateFunction {
    pub fn paimon_name(self) -> &'static str {
        match self {
            Self::Sum => "sum",
            Self::Count => "count",
            Self::Min => "min",
            Self::Max => "max",
            Self::LastNonNullValue => "last_non_null_value",
        }
    }

    pub const ALL: [Self; 5] = [
        Self::Sum,
        Self::Count,
        Self::Min,
        Self::Max,
        Self::LastNonNullValue,
    ];

    /// The function Paimon calls `name`, if this store implements it.
    pub fn from_paimon_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.paimon_name() == name)
    }

    /// Whether a -U/-D record can be undone (otherwise it needs `ignore-retract`).
    pub fn can_retract(self) -> bool {
        matches!(self, Self::Sum | Self::Count)
    }
}

/// Paimon `changelog-producer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChangelogProducer {
    #[default]
    None,
    /// The input records, as written, become the changelog.
    Input,
    /// The writer diffs each checkpoint's batch against the state before it (-U/+U before commit).
    Lookup,
    /// A full compaction diffs the top level before and after it.
    FullCompaction,
}

impl ChangelogProducer {
    pub fn paimon_name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Input => "input",
            Self::Lookup => "lookup",
            Self::FullCompaction => "full-compaction",
        }
    }

    pub const ALL: [Self; 4] = [Self::None, Self::Input, Self::Lookup, Self::FullCompaction];

    /// The producer Paimon calls `name`, if this store implements it.
    pub fn from_paimon_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.paimon_name() == name)
    }
}

/// Paimon `file.compression` for data and changelog files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileCompression {
    None,
    #[default]
    Snappy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableOptions {
    pub bucket: u32,
    pub merge_engine: MergeEngine,
    pub changelog_producer: ChangelogProducer,
    pub file_compression: FileCompression,
    /// Paimon `manifest.merge-min-count`: more base+delta manifests than this are merged.
    pub manifest_merge_min_count: usize,
    /// Paimon `num-sorted-run.compaction-trigger`: sorted runs in a bucket that start a compaction.
    pub compaction_trigger: usize,
    /// Paimon `compaction.max-size-amplification-percent`.
    pub max_size_amplification_percent: u64,
    /// Paimon `compaction.size-ratio` (percent).
    pub size_ratio_percent: u64,
    /// Paimon `write-only`: writers never compact (a dedicated compaction job must).
    pub write_only: bool,
    /// Snapshot, consumer and tag lifecycle (`snapshot.*`, `consumer.*`, `tag.*`).
    pub lifecycle: LifecycleOptions,
    /// Paimon `sequence.field`: a BIGINT field ordering records of a key before write order
    /// (deduplicate only here).
    pub sequence_field: Option<String>,
    /// `unsafe.lookup.ignore-sequence-field` (false). UNSAFE, for the incident library: the
    /// lookup changelog producer takes a key's newest *write* as its new value, ignoring
    /// `sequence.field`, as Paimon's lookup did before apache/paimon#7221 (#7220). A late record
    /// with an older sequence value then yields -U/+U although the merged row did not change.
    pub unsafe_lookup_ignore_sequence_field: bool,
    /// Paimon `ignore-delete`: drop -U/-D records instead of applying (or refusing) them.
    pub ignore_delete: bool,
    /// Paimon `fields.<name>.aggregate-function` (aggregation engine).
    pub field_aggregate_functions: BTreeMap<String, AggregateFunction>,
    /// Paimon `fields.default-aggregate-function`; unset means `last_non_null_value`.
    pub default_aggregate_function: Option<AggregateFunction>,
    /// Fields with Paimon `fields.<name>.ignore-retract` = true.
    pub ignore_retract_fields: BTreeSet<String>,
    /// Paimon `full-compaction.delta-commits`: writers force a full compaction after this many
    /// flushes (what makes the full-compaction changelog producer emit regularly).
    pub full_compaction_delta_commits: Option<u32>,
    /// Paimon `num-sorted-run.stop-trigger`: sorted runs at which writers stall until
    /// compaction catches up. `None`: Paimon's default, the compaction trigger + 3.
    pub stop_trigger: Option<usize>,
    /// Paimon `target-file-size`: compaction output rolls to a new file past this size.
    pub target_file_size_bytes: u64,
}

/// Paimon's `target-file-size` default for primary-key tables: 128 MB.
pub const TARGET_FILE_SIZE_BYTES_DEFAULT: u64 = 128 * 1024 * 1024;

/// The schema option of [`TableOptions::unsafe_lookup_ignore_sequence_field`].
pub const UNSAFE_LOOKUP_IGNORE_SEQUENCE_FIELD: &str = "unsafe.lookup.ignore-sequence-field";

impl TableOptions {
    /// Paimon's `num-levels` default: trigger + 1, so the highest level is `trigger`.
    pub fn max_level(&self) -> u32 {
        self.compaction_trigger as u32
    }

    /// Sorted runs at which writers stall: the option, else Paimon's default trigger + 3.
    pub fn stop_trigger(&self) -> usize {
        self.stop_trigger
            .unwrap_or(self.compaction_trigger + 3)
            .max(self.compaction_trigger)
    }
}

impl Default for TableOptions {
    fn default() -> Self {
        Self {
            bucket: 1,
            merge_engine: MergeEngine::Deduplicate,
            changelog_producer: ChangelogProducer::None,
            file_compression: FileCompression::Snappy,
            manifest_merge_min_count: 30,
            compaction_trigger: 5,
            max_size_amplification_percent: 200,
            size_ratio_percent: 1,
            write_only: false,
            lifecycle: LifecycleOptions::default(),
            sequence_field: None,
            unsafe_lookup_ignore_sequence_field: false,
            ignore_delete: false,
            field_aggregate_functions: BTreeMap::new(),
            default_aggregate_function: None,
            ignore_retract_fields: BTreeSet::new(),
            full_compaction_delta_commits: None,
            stop_trigger: None,
            target_file_size_bytes: TARGET_FILE_SIZE_BYTES_DEFAULT,
        }
    }
}

impl TableOptions {
    /// The options under Paimon's names, as written to the schema file.
    pub fn to_paimon_options(&self) -> BTreeMap<String, String> {
        let merge_engine = self.merge_engine.paimon_name();
        let changelog_producer = self.changelog_producer.paimon_name();
        let compression = match self.file_compression {
            FileCompression::None => "none",
            FileCompression::Snappy => "snappy",
        };
        let mut options: BTreeMap<String, String> = [
            ("bucket", self.bucket.to_string()),
            ("merge-engine", merge_engine.to_string()),
            ("changelog-producer", changelog_producer.to_string()),
            ("file.format", "parquet".to_string()),
            ("file.compression", compression.to_string()),
            (
                "manifest.merge-min-count",
                self.manifest_merge_min_count.to_string(),
            ),
            (
                "num-sorted-run.compaction-trigger",
                self.compaction_trigger.to_string(),
            ),
            (
                "num-sorted-run.stop-trigger",
                self.stop_trigger().to_string(),
            ),
            (
                "compaction.max-size-amplification-percent",
                self.max_size_amplification_percent.to_string(),
            ),
            ("compaction.size-ratio", self.size_ratio_percent.to_string()),
            ("write-only", self.write_only.to_string()),
            // Manifests carry no column statistics (see table/avro.rs).
            ("metadata.stats-mode", "none".to_string()),
        ]
        .into_iter()
        // Like Paimon, the schema records options set away from their defaults.
        .chain(
            (self.target_file_size_bytes != TARGET_FILE_SIZE_BYTES_DEFAULT).then(|| {
                (
                    "target-file-size",
                    format!("{} b", self.target_file_size_bytes),
                )
            }),
        )
        .map(|(k, v)| (k.to_string(), v))
        .chain(self.lifecycle.to_paimon_options())
        .collect();
        // Options beyond the defaults are written only when set, as Paimon does.
        if let Some(field) = &self.sequence_field {
            options.insert("sequence.field".into(), field.clone());
        }
        if self.unsafe_lookup_ignore_sequence_field {
            options.insert(UNSAFE_LOOKUP_IGNORE_SEQUENCE_FIELD.into(), "true".into());
        }
        if self.ignore_delete {
            options.insert("ignore-delete".into(), "true".into());
        }
        for (field, function) in &self.field_aggregate_functions {
            options.insert(
                format!("fields.{field}.aggregate-function"),
                function.paimon_name().into(),
            );
        }
        if let Some(function) = self.default_aggregate_function {
            options.insert(
                "fields.default-aggregate-function".into(),
                function.paimon_name().into(),
            );
        }
        for field in &self.ignore_retract_fields {
            options.insert(format!("fields.{field}.ignore-retract"), "true".into());
        }
        if let Some(commits) = self.full_compaction_delta_commits {
            options.insert("full-compaction.delta-commits".into(), commits.to_string());
        }
        options
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    pub fields: Vec<Field>,
    /// Paimon partition keys, in path order: BIGINT fields, all of them in the primary key (as
    /// Paimon requires). Each partition's buckets hold their own LSM trees. Empty: unpartitioned.
    pub partition_keys: Vec<String>,
    pub primary_keys: Vec<String>,
    pub options: TableOptions,
}

impl TableSchema {
    /// Field indices of the primary keys, in primary-key order; checks the schema is usable.
    pub(crate) fn primary_key_indices(&self) -> Result<Vec<usize>, TableError> {
        if self.primary_keys.is_empty() {
            return Err(TableError::InvalidSchema(
                "a primary-key table needs at least one primary key".into(),
            ));
        }
        if self.options.bucket == 0 {
            return Err(TableError::InvalidSchema("bucket must be >= 1".into()));
        }
        for (i, field) in self.fields.iter().enumerate() {
            if self.fields[..i].iter().any(|f| f.name == field.name) {
                return Err(TableError::InvalidSchema(format!(
                    "duplicate field {}",
                    field.name
                )));
            }
            if let FieldType::Enum(symbols) = &field.field_type
                && symbols.is_empty()
            {
                return Err(TableError::InvalidSchema(format!(
                    "enum field {} has no symbols",
                    field.name
                )));
            }
        }
        let pk_indices: Vec<usize> = self
            .primary_keys
            .iter()
            .map(|pk| {
                self.fields
                    .iter()
                    .position(|f| &f.name == pk)
                    .ok_or_else(|| TableError::InvalidSchema(format!("unknown primary key {pk}")))
            })
            .collect::<Result<_, _>>()?;
        super::merge::MergeFunction::new(self, &pk_indices)?;
        self.partition_key_positions()?;
        Ok(pk_indices)
    }

    /// Positions of the partition keys within the primary key, in partition-key order; checks
    /// Paimon's rules: BIGINT fields, distinct, all in the primary key, and at least one
    /// primary-key field besides them (the bucket key).
    pub(crate) fn partition_key_positions(&self) -> Result<Vec<usize>, TableError> {
        let mut positions = Vec::with_capacity(self.partition_keys.len());
        for (i, name) in self.partition_keys.iter().enumerate() {
            if self.partition_keys[..i].contains(name) {
                return Err(TableError::InvalidSchema(format!(
                    "duplicate partition key {name}"
                )));
            }
            let field = self
                .fields
                .iter()
                .find(|f| &f.name == name)
                .ok_or_else(|| {
                    TableError::InvalidSchema(format!("unknown partition key {name}"))
                })?;
            if field.field_type != FieldType::BigInt {
                return Err(TableError::InvalidSchema(format!(
                    "partition key {name} must be BIGINT"
                )));
            }
            let position = self.primary_keys.iter().position(|pk| pk == name);
            positions.push(position.ok_or_else(|| {
                TableError::InvalidSchema(format!(
                    "the primary key {:?} must include partition key {name} (Paimon's rule)",
                    self.primary_keys
                ))
            })?);
        }
        if !positions.is_empty() && positions.len() == self.primary_keys.len() {
            return Err(TableError::InvalidSchema(format!(
                "the primary key {:?} needs a field besides the partition keys, to bucket by",
                self.primary_keys
            )));
        }
        Ok(positions)
    }

    /// Positions within the primary key of the bucket key: Paimon's default, the primary key
    /// without the partition keys.
    pub(crate) fn bucket_key_positions(&self) -> Vec<usize> {
        (0..self.primary_keys.len())
            .filter(|&i| !self.partition_keys.contains(&self.primary_keys[i]))
            .collect()
    }

    /// Whether field `index` is nullable: the value fields of engines that merge field by field.
    pub(crate) fn is_nullable(&self, index: usize) -> bool {
        matches!(
            self.options.merge_engine,
            MergeEngine::PartialUpdate | MergeEngine::Aggregation
        ) && !self.primary_keys.contains(&self.fields[index].name)
    }

    pub(crate) fn to_schema_file(&self, time_millis: i64) -> SchemaFile {
        let fields: Vec<SchemaFileField> = self
            .fields
            .iter()
            .enumerate()
            .map(|(id, field)| {
                let (type_name, description) = match &field.field_type {
                    FieldType::BigInt => ("BIGINT", None),
                    FieldType::Enum(symbols) => {
                        ("STRING", Some(format!("enum: {}", symbols.join(","))))
                    }
                };
                let not_null = if self.is_nullable(id) {
                    ""
                } else {
                    " NOT NULL"
                };
                SchemaFileField {
                    id: id as i64,
                    name: field.name.clone(),
                    type_name: format!("{type_name}{not_null}"),
                    description,
                }
            })
            .collect();
        SchemaFile {
            version: 3,
            id: 0,
            highest_field_id: fields.len() as i64 - 1,
            fields,
            partition_keys: self.partition_keys.clone(),
            primary_keys: self.primary_keys.clone(),
            options: self.options.to_paimon_options(),
            comment: None,
            time_millis,
        }
    }
}

/// Paimon's `TableSchema` JSON. Enum symbols ride in the field description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SchemaFile {
    pub version: i32,
    pub id: i64,
    pub fields: Vec<SchemaFileField>,
    pub highest_field_id: i64,
    pub partition_keys: Vec<String>,
    pub primary_keys: Vec<String>,
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub comment: Option<String>,
    pub time_millis: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SchemaFileField {
    pub id: i64,
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl SchemaFile {
    /// Why `existing` does not describe the same table as `self`, if it does not.
    pub(crate) fn mismatch(&self, existing: &SchemaFile) -> Option<String> {
        if existing.fields != self.fields {
            let name = |f: &SchemaFileField| format!("{} {}", f.name, f.type_name);
            return Some(format!(
                "fields differ: existing [{}], expected [{}]",
                existing
                    .fields
                    .iter()
                    .map(name)
                    .collect::<Vec<_>>()
                    .join(", "),
                self.fields.iter().map(name).collect::<Vec<_>>().join(", ")
            ));
        }
        if existing.primary_keys != self.primary_keys {
            return Some(format!(
                "primary keys differ: existing {:?}, expected {:?}",
                existing.primary_keys, self.primary_keys
            ));
        }
        if existing.partition_keys != self.partition_keys {
            return Some(format!(
                "partition keys differ: existing {:?}, expected {:?}",
                existing.partition_keys, self.partition_keys
            ));
        }
        // Options that change what the stored records mean must not change under a table.
        for option in ["bucket", "merge-engine", "sequence.field"] {
            let value = |s: &SchemaFile| s.options.get(option).cloned();
            if value(existing) != value(self) {
                return Some(format!(
                    "{option} differs: existing {:?}, expected {:?}",
                    value(existing),
                    value(self)
                ));
            }
        }
        None
    }
}
