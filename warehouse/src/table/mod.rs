//! A Paimon-style primary-key table store on an [`ObjectStore`](crate::env::ObjectStore): schema,
//! snapshots, manifests, per-bucket LSM data files in Paimon's key-value Parquet layout, lookup
//! changelog, exactly-once commits (`filterAndCommit`) and a streaming changelog reader.

mod compaction;
mod error;
mod format;
mod meta;
mod reader;
mod schema;
mod store;
mod writer;

#[cfg(test)]
mod tests;

pub use compaction::{CompactionResult, compact_bucket};
pub use error::TableError;
pub use meta::{
    CommitKind, CommitMessage, DataFileMeta, FileKind, ManifestEntry, ManifestFileMeta, Snapshot,
};
pub use reader::StreamingReader;
pub use schema::{ChangelogProducer, FileCompression, MergeEngine, TableOptions, TableSchema};
pub use store::{BucketState, CommitOutcome, DataFileEntry, FileStoreTable};
pub use writer::BucketWriter;

/// A primary key: the primary-key column values in primary-key order.
pub type Key = Vec<i64>;
