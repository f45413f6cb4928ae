//! `FileStoreTable`: a handle on one table directory. Finds snapshots through Paimon's hints,
//! resolves a snapshot's manifests to its live files, merges a bucket on read, and publishes
//! commits atomically with `put_if_absent` on `snapshot-N` (Paimon's `filterAndCommit`).

mod commit;
mod rows;
mod scan;

use std::cell::Cell;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::avro;
use super::decode::Run;
use super::decoded::DecodedFiles;
use super::meta::{ManifestEntry, ManifestFileMeta, Snapshot};
use super::schema::SchemaFile;
use super::{Key, TableError, TableSchema};
use crate::env::ObjectStore;

pub use commit::CommitOutcome;
pub(crate) use commit::Publication;
pub use rows::{BucketRows, BucketState};
pub use scan::{ChangelogRecords, DataFileEntry};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsumerFile {
    next_snapshot: i64,
}

struct Inner<S> {
    store: S,
    root: String,
    schema: TableSchema,
    pk_indices: Vec<usize>,
    /// Positions within the primary key of the partition keys, and of the bucket key.
    partition_positions: Vec<usize>,
    bucket_positions: Vec<usize>,
    /// The bucket key's field types, in bucket-key order: looked up once, not per key hashed.
    bucket_key_types: Vec<crate::row::FieldType>,
    /// Makes manifest names unique within this process attempt (with the caller's prefix).
    manifest_counter: Cell<u64>,
    /// What decoding this table's files depends on besides their bytes (schema and key), the
    /// context of its entries in the decoded-file memos.
    decode_context: Rc<str>,
}

/// What one thread keeps decoded, at most: a few checkpoints' worth of small files.
const DECODED_RUNS_BYTES_MAX: usize = 24 << 20;
const DECODED_MANIFESTS_BYTES_MAX: usize = 8 << 20;

thread_local! {
    /// Data files decoded lately, by path (files are immutable; see [`DecodedFiles`]).
    static DECODED_RUNS: DecodedFiles<Run> = DecodedFiles::new(DECODED_RUNS_BYTES_MAX);
    /// Manifests decoded lately, by path.
    static DECODED_MANIFESTS: DecodedFiles<Vec<ManifestEntry>> =
        DecodedFiles::new(DECODED_MANIFESTS_BYTES_MAX);
}

/// A handle on one table; cheap to clone, clones share the manifest name counter.
pub struct FileStoreTable<S: ObjectStore> {
    inner: Rc<Inner<S>>,
}

impl<S: ObjectStore> Clone for FileStoreTable<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

fn parse_json<T: DeserializeOwned>(path: &str, bytes: &[u8]) -> Result<T, TableError> {
    serde_json::from_slice(bytes).map_err(|e| TableError::corrupt(path, e))
}

fn to_json<T: Serialize>(path: &str, value: &T, pretty: bool) -> Result<Vec<u8>, TableError> {
    let result = if pretty {
        serde_json::to_vec_pretty(value)
    } else {
        serde_json::to_vec(value)
    };
    result.map_err(|e| TableError::Encode {
        path: path.to_string(),
        reason: e.to_string(),
    })
}

impl<S: ObjectStore> FileStoreTable<S> {
    /// Opens the table at `root` (no trailing slash), creating `schema/schema-0` if absent; an
    /// existing schema must describe the same fields, keys and bucket count.
    pub async fn create_or_open(
        store: S,
        root: &str,
        schema: TableSchema,
        time_millis: i64,
    ) -> Result<Self, TableError> {
        let pk_indices = schema.primary_key_indices()?;
        let partition_positions = schema.partition_key_positions()?;
        let bucket_positions = schema.bucket_key_positions();
        let bucket_key_types = bucket_positions
            .iter()
            .map(|&p| schema.fields[pk_indices[p]].field_type.clone())
            .collect();
        let path = format!("{root}/schema/schema-0");
        let wanted = schema.to_schema_file(time_millis);
        let existing = match store.get(&path).await? {
            Some(bytes) => Some(bytes),
            None => {
                let bytes = to_json(&path, &wanted, true)?;
                if store.put_if_absent(&path, bytes).await? {
                    None
                } else {
                    store.get(&path).await?
                }
            }
        };
        if let Some(bytes) = existing {
            let existing: SchemaFile = parse_json(&path, &bytes)?;
            if let Some(reason) = wanted.mismatch(&existing) {
                return Err(TableError::SchemaMismatch { path, reason });
            }
        }
        let decode_context = Rc::from(format!("{schema:?} {pk_indices:?}"));
        Ok(Self {
            inner: Rc::new(Inner {
                store,
                root: root.to_string(),
                schema,
                pk_indices,
                partition_positions,
                bucket_positions,
                bucket_key_types,
                manifest_counter: Cell::new(0),
                decode_context,
            }),
        })
    }

    pub fn root(&self) -> &str {
        &self.inner.root
    }

    pub fn schema(&self) -> &TableSchema {
        &self.inner.schema
    }

    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// Types of the primary-key fields, in primary-key order (for manifests' key rows).
    fn key_types(&self) -> Vec<&crate::row::FieldType> {
        self.inner
            .pk_indices
            .iter()
            .map(|&i| &self.inner.schema.fields[i].field_type)
            .collect()
    }

    /// Primary-key column values of `row`, in primary-key order.
    pub fn key_of(&self, row: &[i64]) -> Key {
        self.inner.pk_indices.iter().map(|&i| row[i]).collect()
    }

    /// The key's bucket, as Paimon assigns it (murmur hash of the bucket key's `BinaryRow`: the
    /// primary key without the partition keys), so Paimon writers and readers agree with ours
    /// on where a key lives.
    pub fn bucket_of_key(&self, key: &[i64]) -> u32 {
        let buckets = self.inner.schema.options.bucket;
        let (positions, types) = (&self.inner.bucket_positions, &self.inner.bucket_key_types);
        // The usual layout, the bucket key leading the primary key, hashes a slice of it.
        if positions.iter().enumerate().all(|(i, &p)| i == p) {
            return avro::paimon_bucket(&key[..positions.len()], types, buckets);
        }
        let bucket_key: Vec<i64> = positions.iter().map(|&i| key[i]).collect();
        avro::paimon_bucket(&bucket_key, types, buckets)
    }

    /// The key's partition: its partition-key values, in partition-key order (empty when the
    /// table is unpartitioned).
    pub fn partition_of_key(&self, key: &[i64]) -> Vec<i64> {
        self.inner
            .partition_positions
            .iter()
            .map(|&i| key[i])
            .collect()
    }

    /// Number of partition keys (0: unpartitioned).
    pub(crate) fn partition_arity(&self) -> usize {
        self.inner.partition_positions.len()
    }

    /// Whether the table has partition keys.
    pub fn is_partitioned(&self) -> bool {
        !self.inner.partition_positions.is_empty()
    }

    pub fn snapshot_path(&self, id: i64) -> String {
        format!("{}/snapshot/snapshot-{id}", self.inner.root)
    }

    pub fn manifest_path(&self, name: &str) -> String {
        format!("{}/manifest/{name}", self.inner.root)
    }

    /// Where a data or changelog file of `partition`'s `bucket` lives: Paimon's layout,
    /// `<root>/<key>=<value>/.../bucket-<n>/<name>`.
    pub fn bucket_file_path(&self, partition: &[i64], bucket: u32, name: &str) -> String {
        let root = &self.inner.root;
        if partition.is_empty() {
            return format!("{root}/bucket-{bucket}/{name}");
        }
        let keys = &self.inner.schema.partition_keys;
        assert_eq!(
            partition.len(),
            keys.len(),
            "partition {partition:?} does not match the partition keys {keys:?}"
        );
        let mut path = root.clone();
        for (key, value) in keys.iter().zip(partition) {
            path.push_str(&format!("/{key}={value}"));
        }
        path.push_str(&format!("/bucket-{bucket}/{name}"));
        path
    }

    fn hint_path(&self, hint: &str) -> String {
        format!("{}/snapshot/{hint}", self.inner.root)
    }

    /// A hint file's value; a missing or unreadable hint is no hint.
    async fn read_hint(&self, hint: &str) -> Result<Option<i64>, TableError> {
        let bytes = self.inner.store.get(&self.hint_path(hint)).await?;
        Ok(bytes.and_then(|b| std::str::from_utf8(&b).ok()?.trim().parse().ok()))
    }

    /// Ids of every snapshot file present, ascending.
    async fn list_snapshot_ids(&self) -> Result<Vec<i64>, TableError> {
        let prefix = format!("{}/snapshot/snapshot-", self.inner.root);
        let mut ids: Vec<i64> = self
            .inner
            .store
            .list(&prefix)
            .await?
            .iter()
            .filter_map(|p| p[prefix.len()..].parse().ok())
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    pub async fn snapshot(&self, id: i64) -> Result<Option<Snapshot>, TableError> {
        let path = self.snapshot_path(id);
        match self.inner.store.get(&path).await? {
            None => Ok(None),
            Some(bytes) => {
                let snapshot: Snapshot = parse_json(&path, &bytes)?;
                if snapshot.id != id {
                    return Err(TableError::corrupt(
                        &path,
                        format!("holds snapshot id {}", snapshot.id),
                    ));
                }
                Ok(Some(snapshot))
            }
        }
    }

    /// The newest snapshot: from the LATEST hint (or a listing), then probing forward because
    /// the hint is written after the snapshot and may lag.
    pub async fn latest_snapshot(&self) -> Result<Option<Snapshot>, TableError> {
        let mut current = match self.read_hint("LATEST").await? {
            Some(id) => self.snapshot(id).await?,
            None => None,
        };
        if current.is_none() {
            let Some(&id) = self.list_snapshot_ids().await?.last() else {
                return Ok(None);
            };
            current = self.snapshot(id).await?;
        }
        let Some(mut current) = current else {
            return Ok(None);
        };
        while let Some(next) = self.snapshot(current.id + 1).await? {
            current = next;
        }
        Ok(Some(current))
    }

    async fn snapshot_exists(&self, id: i64) -> Result<bool, TableError> {
        Ok(self
            .inner
            .store
            .get(&self.snapshot_path(id))
            .await?
            .is_some())
    }

    /// The oldest snapshot still present: the EARLIEST hint if its snapshot exists, else a listing.
    pub async fn earliest_snapshot_id(&self) -> Result<Option<i64>, TableError> {
        if let Some(id) = self.read_hint("EARLIEST").await?
            && self.snapshot_exists(id).await?
        {
            // Expiration deletes from the oldest up, so the hint may only lag behind.
            let mut id = id;
            while id > 1 && self.snapshot_exists(id - 1).await? {
                id -= 1;
            }
            return Ok(Some(id));
        }
        Ok(self.list_snapshot_ids().await?.first().copied())
    }

    /// The newest snapshot committed by `commit_user`, walking back from the latest.
    pub async fn latest_snapshot_of_user(
        &self,
        commit_user: &str,
    ) -> Result<Option<Snapshot>, TableError> {
        let Some(latest) = self.latest_snapshot().await? else {
            return Ok(None);
        };
        self.find_user_at_or_before(commit_user, latest).await
    }

    async fn find_user_at_or_before(
        &self,
        commit_user: &str,
        latest: Snapshot,
    ) -> Result<Option<Snapshot>, TableError> {
        let mut current = latest;
        loop {
            if current.commit_user == commit_user {
                return Ok(Some(current));
            }
            match self.snapshot(current.id - 1).await? {
                Some(previous) => current = previous,
                None => return Ok(None),
            }
        }
    }

    fn consumer_path(&self, consumer_id: &str) -> String {
        format!("{}/consumer/consumer-{consumer_id}", self.inner.root)
    }

    /// Writes Paimon's consumer file `{"nextSnapshot": n}`.
    pub async fn write_consumer(
        &self,
        consumer_id: &str,
        next_snapshot: i64,
    ) -> Result<(), TableError> {
        let path = self.consumer_path(consumer_id);
        let bytes = to_json(&path, &ConsumerFile { next_snapshot }, false)?;
        self.inner.store.put(&path, bytes).await?;
        Ok(())
    }

    pub async fn read_consumer(&self, consumer_id: &str) -> Result<Option<i64>, TableError> {
        let path = self.consumer_path(consumer_id);
        match self.inner.store.get(&path).await? {
            None => Ok(None),
            Some(bytes) => Ok(Some(
                parse_json::<ConsumerFile>(&path, &bytes)?.next_snapshot,
            )),
        }
    }
}

/// Hooks for snapshot expiration, tags and orphan cleaning (`lifecycle.rs`, `tag.rs`): the same
/// readers and writers the table uses, so the lifecycle code never parses a file itself.
impl<S: ObjectStore> FileStoreTable<S> {
    /// Ids of every snapshot file present, ascending.
    pub(crate) async fn snapshot_ids(&self) -> Result<Vec<i64>, TableError> {
        self.list_snapshot_ids().await
    }

    /// The manifest files a manifest list (under `manifest/`) names.
    pub(crate) async fn manifest_list(
        &self,
        name: &str,
    ) -> Result<Vec<ManifestFileMeta>, TableError> {
        self.read_manifest_list(name).await
    }

    /// The entries of one manifest file (under `manifest/`).
    pub(crate) async fn manifest_entries(
        &self,
        name: &str,
    ) -> Result<Vec<ManifestEntry>, TableError> {
        self.read_manifest(name).await
    }

    /// Writes the `snapshot/{hint}` file (`EARLIEST` or `LATEST`).
    pub(crate) async fn write_hint(&self, hint: &str, id: i64) -> Result<(), TableError> {
        self.inner
            .store
            .put(&self.hint_path(hint), id.to_string().into_bytes())
            .await?;
        Ok(())
    }

    /// A snapshot (or tag) file's bytes, in the snapshot file encoding.
    pub(crate) fn encode_snapshot(path: &str, snapshot: &Snapshot) -> Result<Vec<u8>, TableError> {
        to_json(path, snapshot, true)
    }

    /// Parses a snapshot (or tag) file.
    pub(crate) fn decode_snapshot(path: &str, bytes: &[u8]) -> Result<Snapshot, TableError> {
        parse_json(path, bytes)
    }

    /// Path prefix of the table's consumer files (`consumer/consumer-`).
    pub(crate) fn consumer_prefix(&self) -> String {
        format!("{}/consumer/consumer-", self.inner.root)
    }

    /// Next snapshot recorded in the consumer file at `path`.
    pub(crate) async fn read_consumer_file(&self, path: &str) -> Result<Option<i64>, TableError> {
        match self.inner.store.get(path).await? {
            None => Ok(None),
            Some(bytes) => Ok(Some(
                parse_json::<ConsumerFile>(path, &bytes)?.next_snapshot,
            )),
        }
    }
}
