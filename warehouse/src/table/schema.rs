//! Table schema and options, and their Paimon `schema/schema-N` JSON form, so an exported table
//! reads like a Paimon table and a reopened table is checked against what it was created with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::TableError;
use crate::row::{Field, FieldType};

/// Paimon `merge-engine`. Only `deduplicate` exists so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeEngine {
    #[default]
    Deduplicate,
}

/// Paimon `changelog-producer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChangelogProducer {
    #[default]
    None,
    Lookup,
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
    /// Paimon `num-sorted-run.stop-trigger`: sorted runs at which writers stall until
    /// compaction catches up. `None`: Paimon's default, the compaction trigger + 3.
    pub stop_trigger: Option<usize>,
    /// Paimon `target-file-size`: compaction output rolls to a new file past this size.
    pub target_file_size_bytes: u64,
}

/// Paimon's `target-file-size` default for primary-key tables: 128 MB.
pub const TARGET_FILE_SIZE_BYTES_DEFAULT: u64 = 128 * 1024 * 1024;

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
            stop_trigger: None,
            target_file_size_bytes: TARGET_FILE_SIZE_BYTES_DEFAULT,
        }
    }
}

impl TableOptions {
    /// The options under Paimon's names, as written to the schema file.
    pub fn to_paimon_options(&self) -> BTreeMap<String, String> {
        let merge_engine = match self.merge_engine {
            MergeEngine::Deduplicate => "deduplicate",
        };
        let changelog_producer = match self.changelog_producer {
            ChangelogProducer::None => "none",
            ChangelogProducer::Lookup => "lookup",
        };
        let compression = match self.file_compression {
            FileCompression::None => "none",
            FileCompression::Snappy => "snappy",
        };
        [
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
        .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    pub fields: Vec<Field>,
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
        self.primary_keys
            .iter()
            .map(|pk| {
                self.fields
                    .iter()
                    .position(|f| &f.name == pk)
                    .ok_or_else(|| TableError::InvalidSchema(format!("unknown primary key {pk}")))
            })
            .collect()
    }

    pub(crate) fn to_schema_file(&self, time_millis: i64) -> SchemaFile {
        let fields: Vec<SchemaFileField> = self
            .fields
            .iter()
            .enumerate()
            .map(|(id, field)| {
                let (type_name, description) = match &field.field_type {
                    FieldType::BigInt => ("BIGINT NOT NULL", None),
                    FieldType::Enum(symbols) => (
                        "STRING NOT NULL",
                        Some(format!("enum: {}", symbols.join(","))),
                    ),
                };
                SchemaFileField {
                    id: id as i64,
                    name: field.name.clone(),
                    type_name: type_name.to_string(),
                    description,
                }
            })
            .collect();
        SchemaFile {
            version: 3,
            id: 0,
            highest_field_id: fields.len() as i64 - 1,
            fields,
            partition_keys: Vec::new(),
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
        if !existing.partition_keys.is_empty() {
            return Some(format!(
                "partitioned tables are not supported: {:?}",
                existing.partition_keys
            ));
        }
        let bucket = |s: &SchemaFile| s.options.get("bucket").cloned();
        if bucket(existing) != bucket(self) {
            return Some(format!(
                "bucket differs: existing {:?}, expected {:?}",
                bucket(existing),
                bucket(self)
            ));
        }
        None
    }
}
