//! Paimon's metadata records (snapshot, manifest list entry, manifest entry, data file meta) with
//! Paimon's JSON field names, plus the commit message a writer hands its committer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Key;

/// Paimon `Snapshot.CommitKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CommitKind {
    Append,
    Compact,
    Overwrite,
}

/// Paimon's snapshot file (`snapshot/snapshot-N`), version 3.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub version: i32,
    pub id: i64,
    pub schema_id: i64,
    /// File name (under `manifest/`) of the manifest list of all files before this commit.
    pub base_manifest_list: String,
    /// File name of the manifest list of files this commit added or deleted.
    pub delta_manifest_list: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog_manifest_list: Option<String>,
    pub commit_user: String,
    pub commit_identifier: i64,
    pub commit_kind: CommitKind,
    pub time_millis: i64,
    #[serde(default)]
    pub log_offsets: BTreeMap<i32, i64>,
    pub total_record_count: i64,
    pub delta_record_count: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog_record_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<i64>,
}

/// Paimon `DataFileMeta`: one data or changelog file of a bucket.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataFileMeta {
    pub file_name: String,
    pub file_size: u64,
    pub row_count: u64,
    pub min_key: Key,
    pub max_key: Key,
    pub min_sequence_number: i64,
    pub max_sequence_number: i64,
    pub schema_id: i64,
    pub level: u32,
    #[serde(default)]
    pub extra_files: Vec<String>,
    /// Millis since the epoch (Paimon stores a timestamp).
    pub creation_time: i64,
    pub delete_row_count: u64,
    /// Paimon `FileSource`: "APPEND" for writer output, "COMPACT" for compaction output.
    pub file_source: String,
}

impl DataFileMeta {
    /// Why this entry cannot describe a file of a table with `key_width` primary-key columns,
    /// if it cannot: a non-empty file has keys of that width with `min_key <= max_key`, a
    /// sequence range with `min <= max`, and no more deletes than rows. Readers turn a reason
    /// into a `Corrupt` error (the entry came from storage); writers assert there is none.
    pub(crate) fn inconsistency(&self, key_width: usize) -> Option<String> {
        if self.delete_row_count > self.row_count {
            return Some(format!(
                "{} deleted rows of {} rows",
                self.delete_row_count, self.row_count
            ));
        }
        if self.row_count == 0 {
            return None;
        }
        if self.min_key.len() != key_width || self.max_key.len() != key_width {
            return Some(format!(
                "keys {:?}..{:?} are not {key_width} columns wide",
                self.min_key, self.max_key
            ));
        }
        if self.min_key > self.max_key {
            return Some(format!(
                "min key {:?} above max key {:?}",
                self.min_key, self.max_key
            ));
        }
        if self.min_sequence_number > self.max_sequence_number {
            return Some(format!(
                "sequence numbers {}..{} are reversed",
                self.min_sequence_number, self.max_sequence_number
            ));
        }
        None
    }

    /// Whether this file's key range and `other`'s share a key.
    pub(crate) fn overlaps(&self, other: &DataFileMeta) -> bool {
        self.min_key <= other.max_key && other.min_key <= self.max_key
    }
}

/// Paimon `FileKind`: 0 ADD, 1 DELETE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum FileKind {
    Add,
    Delete,
}

impl From<FileKind> for u8 {
    fn from(kind: FileKind) -> u8 {
        match kind {
            FileKind::Add => 0,
            FileKind::Delete => 1,
        }
    }
}

impl TryFrom<u8> for FileKind {
    type Error = String;
    fn try_from(byte: u8) -> Result<Self, String> {
        match byte {
            0 => Ok(Self::Add),
            1 => Ok(Self::Delete),
            other => Err(format!("unknown file kind {other}")),
        }
    }
}

/// Paimon `ManifestEntry`: one line of a manifest file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManifestEntry {
    pub kind: FileKind,
    /// Partition values, in partition-key order (empty: unpartitioned).
    pub partition: Vec<i64>,
    pub bucket: u32,
    pub total_buckets: u32,
    pub file: DataFileMeta,
}

/// Paimon `ManifestFileMeta`: one line of a manifest list.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManifestFileMeta {
    pub file_name: String,
    pub file_size: u64,
    pub num_added_files: u64,
    pub num_deleted_files: u64,
    pub schema_id: i64,
    /// Smallest and largest bucket and level of the manifest's entries (None when unknown).
    #[serde(default)]
    pub min_bucket: Option<u32>,
    #[serde(default)]
    pub max_bucket: Option<u32>,
    #[serde(default)]
    pub min_level: Option<u32>,
    #[serde(default)]
    pub max_level: Option<u32>,
    /// Per partition key, the smallest and the largest value among the manifest's entries
    /// (Paimon's `_PARTITION_STATS`); empty for an unpartitioned table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub min_partition: Vec<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub max_partition: Vec<i64>,
}

/// What a writer prepares at a checkpoint barrier; lives in checkpoint state until committed.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct CommitMessage {
    /// The bucket's partition values (empty: unpartitioned, and not written, so an
    /// unpartitioned table's checkpoint state is what it was before partitions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition: Vec<i64>,
    pub bucket: u32,
    pub new_files: Vec<DataFileMeta>,
    pub changelog_files: Vec<DataFileMeta>,
    /// Files a compaction in this bucket replaced (DELETE entries of the COMPACT snapshot).
    #[serde(default)]
    pub compact_before: Vec<DataFileMeta>,
    /// Files that compaction wrote (ADD entries of the COMPACT snapshot).
    #[serde(default)]
    pub compact_after: Vec<DataFileMeta>,
    /// Changelog files a full compaction wrote (`changelog-producer = full-compaction`),
    /// published in the COMPACT snapshot's changelog.
    #[serde(default)]
    pub compact_changelog_files: Vec<DataFileMeta>,
}

impl CommitMessage {
    pub fn has_compaction(&self) -> bool {
        !self.compact_before.is_empty() || !self.compact_after.is_empty()
    }
}
