//! Errors of the table store that callers can handle: store failures (retry), corrupt or
//! mismatching files (stop and report the path), and expired snapshots (Paimon's OutOfRange).

use crate::env::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("corrupt table file {path}: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("schema mismatch at {path}: {reason}")]
    SchemaMismatch { path: String, reason: String },
    #[error(
        "The snapshot with id {id} has expired. You can: 1. increase the snapshot or changelog expiration time. 2. use consumer-id to ensure that unconsumed snapshots will not be expired."
    )]
    SnapshotExpired { id: i64 },
    /// The schema handed to `create_or_open` is not a valid primary-key table schema.
    #[error("invalid table schema: {0}")]
    InvalidSchema(String),
    /// Encoding a file failed (a bug or an unsupported value, never a store fault).
    #[error("cannot encode {path}: {reason}")]
    Encode { path: String, reason: String },
    /// A retraction (-U/-D) reached an aggregate function that cannot undo a value.
    #[error(
        "field {field} uses aggregate function {function}, which cannot retract (-U/-D records); set 'fields.{field}.ignore-retract' = 'true' to ignore retractions for it"
    )]
    RetractNotSupported { field: String, function: String },
    /// A retraction (-U/-D) reached a merge engine that does not accept deletes.
    #[error(
        "merge-engine {engine} does not accept -U/-D records; set 'ignore-delete' = 'true' to drop them"
    )]
    DeleteNotSupported { engine: String },
    /// Every attempt to publish a snapshot lost the race to another committer.
    #[error("commit gave up after {attempts} conflicting attempts")]
    CommitRetriesExhausted { attempts: u32 },
    /// A compaction's commit lost to a concurrent one (Paimon's "File deletion conflicts
    /// detected! Give up committing."): re-read the bucket and compact again.
    #[error("compaction conflict in bucket {bucket}: {reason}; re-read the bucket and retry")]
    CompactionConflict { bucket: u32, reason: String },
}

/// Why reading a data file that the store no longer holds failed.
pub(crate) const DATA_FILE_MISSING: &str = "data file is missing";

impl TableError {
    /// A data file referenced by a snapshot was not in the store: expired with its snapshots
    /// since it was listed, or lost.
    pub fn is_missing_data_file(&self) -> bool {
        matches!(self, Self::Corrupt { reason, .. } if reason == DATA_FILE_MISSING)
    }

    pub(crate) fn corrupt(path: &str, reason: impl ToString) -> Self {
        Self::Corrupt {
            path: path.to_string(),
            reason: reason.to_string(),
        }
    }
}
