//! A Paimon-style primary-key table store on an [`ObjectStore`](crate::env::ObjectStore): schema,
//! snapshots, manifests, per-bucket LSM data files in Paimon's key-value Parquet layout, lookup
//! changelog, exactly-once commits (`filterAndCommit`) and a streaming changelog reader.

mod avro;
mod avro_container;
mod catalog;
mod compaction;
mod compaction_merge;
mod decode;
mod decoded;
mod error;
mod flushed_keys;
mod format;
mod key;
mod lifecycle;
mod merge;
mod meta;
pub mod parquet_work;
mod partition_expire;
mod pending;
mod reader;
mod runs;
mod schema;
mod store;
mod tag;
mod writer;

#[cfg(test)]
mod compaction_tests;
#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod merge_tests;
#[cfg(test)]
mod partition_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod writer_tests;

pub use catalog::{open_existing, table_root};
pub use compaction::{
    CompactionResult, compact_bucket, compact_bucket_dedicated, compact_bucket_full,
};
pub use error::TableError;
pub use flushed_keys::HeldRows;
pub use lifecycle::{
    ExpireReport, LifecycleOptionError, LifecycleOptions, OrphanReport,
    UNSAFE_EXPIRE_DELETE_DATA_BEFORE_SNAPSHOT,
};
pub use meta::{
    CommitKind, CommitMessage, DataFileMeta, FileKind, ManifestEntry, ManifestFileMeta, Snapshot,
};
pub use partition_expire::{PartitionExpireReport, PartitionTimeFormat};
pub use reader::StreamingReader;
pub use schema::{
    AggregateFunction, ChangelogProducer, FileCompression, MergeEngine,
    TARGET_FILE_SIZE_BYTES_DEFAULT, TableOptions, TableSchema, UNSAFE_LOOKUP_IGNORE_SEQUENCE_FIELD,
};
pub use store::{
    BucketRows, BucketState, ChangelogRecords, CommitOutcome, DataFileEntry, FileStoreTable,
};
pub use tag::{TagCreation, TagPeriod, TagReport};
pub use writer::{BucketWriter, WriteStall};

/// A primary key: the primary-key column values in primary-key order.
pub type Key = Vec<i64>;
