//! `FileStoreTable`: a handle on one table directory. Finds snapshots through Paimon's hints,
//! resolves a snapshot's manifests to its live files, merges a bucket on read, and publishes
//! commits atomically with `put_if_absent` on `snapshot-N` (Paimon's `filterAndCommit`).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::avro;
use super::format::{self, Run};
use super::merge::{MergeFunction, Merged};
use super::meta::{
    CommitKind, CommitMessage, DataFileMeta, FileKind, ManifestEntry, ManifestFileMeta, Snapshot,
};
use super::runs;
use super::schema::SchemaFile;
use super::{Key, TableError, TableSchema};
use crate::env::ObjectStore;
use crate::row::{Row, RowKind};

/// Bound on commit attempts lost to concurrent committers.
const COMMIT_ATTEMPTS_MAX: u32 = 1000;
/// Bound on manifest name collisions skipped before giving up.
const NAME_COLLISIONS_MAX: u32 = 1000;

/// One snapshot to write: what `publish` needs.
struct Publication<'a> {
    commit_user: &'a str,
    identifier: i64,
    kind: CommitKind,
    delta: Vec<ManifestEntry>,
    changelog: Vec<ManifestEntry>,
    watermark: Option<i64>,
    time_millis: i64,
    file_prefix: &'a str,
    /// Check the delta against each attempt's latest snapshot (compactions: Paimon's
    /// `noConflictsOrFail`); appends only add level-0 files and never conflict.
    check_conflicts: bool,
}

/// A bucket's live rows sorted by key, stored column by column: one buffer per column however
/// many rows there are, so merge-on-read allocates per bucket rather than per row, and copies
/// stretches of a file's columns whole.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BucketRows {
    /// Primary-key columns, in primary-key order.
    keys: Vec<Vec<i64>>,
    /// Value columns, one per schema field.
    values: Vec<Vec<i64>>,
}

impl BucketRows {
    /// Empty rows of `key_width` key columns and `row_width` fields.
    ///
    /// # Panics
    /// If either width is zero (a primary-key table has both).
    pub fn new(key_width: usize, row_width: usize) -> Self {
        assert!(
            key_width > 0 && row_width > 0,
            "a primary-key table has keys and fields"
        );
        Self {
            keys: vec![Vec::new(); key_width],
            values: vec![Vec::new(); row_width],
        }
    }

    pub fn len(&self) -> usize {
        self.values.first().map_or(0, Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a row whose key is greater than every key present.
    ///
    /// # Panics
    /// If the key or row width is wrong.
    pub fn push(&mut self, key: &[i64], row: &[i64]) {
        assert!(
            key.len() == self.keys.len() && row.len() == self.values.len(),
            "key and row widths must match the table"
        );
        debug_assert!(self.is_empty() || self.key(self.len() - 1).as_slice() < key);
        for (column, &value) in self.keys.iter_mut().zip(key) {
            column.push(value);
        }
        for (column, &value) in self.values.iter_mut().zip(row) {
            column.push(value);
        }
    }

    /// Appends `records` (ascending keys) of `runs`, copying each stretch of consecutive
    /// records of one run column by column.
    fn extend_from_runs(&mut self, runs: &[Run], records: &[runs::RecordId]) {
        for column in self.keys.iter_mut().chain(&mut self.values) {
            column.reserve(records.len());
        }
        let mut start = 0;
        while start < records.len() {
            let (r, first) = records[start];
            let mut end = start + 1;
            while end < records.len() && records[end] == (r, first + (end - start)) {
                end += 1;
            }
            let stretch = first..first + (end - start);
            let sources = runs[r].keys.iter().chain(&runs[r].values);
            for (column, source) in self.keys.iter_mut().chain(&mut self.values).zip(sources) {
                column.extend_from_slice(&source.values()[stretch.clone()]);
            }
            start = end;
        }
    }

    /// The key of row `i` (ascending with `i`).
    pub fn key(&self, i: usize) -> Key {
        self.keys.iter().map(|column| column[i]).collect()
    }

    /// Row `i`, one value per schema field.
    pub fn row(&self, i: usize) -> Row {
        self.values.iter().map(|column| column[i]).collect()
    }

    /// (key, row) pairs in ascending key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (Key, Row)> + '_ {
        (0..self.len()).map(|i| (self.key(i), self.row(i)))
    }

    /// The row of `key`, if live.
    pub fn get(&self, key: &[i64]) -> Option<Row> {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = low + (high - low) / 2;
            let mid_key = self.keys.iter().map(|column| column[mid]);
            match mid_key.cmp(key.iter().copied()) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return Some(self.row(mid)),
            }
        }
        None
    }
}

/// A bucket's merged state at a snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct BucketState {
    /// Live rows, sorted by key.
    pub rows: BucketRows,
    /// The bucket's live data files (its sorted runs), for the writer's compaction.
    pub files: Vec<DataFileMeta>,
    /// Highest `_SEQUENCE_NUMBER` in the bucket's files, -1 when it has none.
    pub max_sequence_number: i64,
    /// Deleted keys the merge engine must remember (deduplicate with `sequence.field` only):
    /// the delete's row, whose sequence field a later-arriving record must beat.
    pub tombstones: BTreeMap<Key, Row>,
}

impl Default for BucketState {
    fn default() -> Self {
        Self {
            rows: BucketRows::default(),
            files: Vec::new(),
            max_sequence_number: -1,
            tombstones: BTreeMap::new(),
        }
    }
}

/// A live data file of a snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct DataFileEntry {
    pub bucket: u32,
    pub file: DataFileMeta,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The APPEND snapshot, and the COMPACT snapshot when the writers also compacted.
    Committed {
        snapshot_id: i64,
        compact_snapshot_id: Option<i64>,
    },
    /// This user already committed this identifier (or a later one) in the given snapshot.
    AlreadyCommitted { snapshot_id: i64 },
}

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
    /// Makes manifest names unique within this process attempt (with the caller's prefix).
    manifest_counter: Cell<u64>,
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

/// Applies manifest entries in order: ADD inserts a file, DELETE removes it. Keyed as Paimon's
/// file identifier (bucket, level, name), so the result iterates in that order.
fn apply_entries(
    live: &mut BTreeMap<(u32, u32, String), ManifestEntry>,
    entries: Vec<ManifestEntry>,
) {
    for entry in entries {
        let id = (entry.bucket, entry.file.level, entry.file.file_name.clone());
        match entry.kind {
            FileKind::Add => {
                live.insert(id, entry);
            }
            FileKind::Delete => {
                live.remove(&id);
            }
        }
    }
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
        Ok(Self {
            inner: Rc::new(Inner {
                store,
                root: root.to_string(),
                schema,
                pk_indices,
                manifest_counter: Cell::new(0),
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

    /// The key's bucket, as Paimon assigns it (murmur hash of the key's `BinaryRow`), so Paimon
    /// writers and readers agree with ours on where a key lives.
    pub fn bucket_of_key(&self, key: &[i64]) -> u32 {
        avro::paimon_bucket(key, &self.key_types(), self.inner.schema.options.bucket)
    }

    pub fn snapshot_path(&self, id: i64) -> String {
        format!("{}/snapshot/snapshot-{id}", self.inner.root)
    }

    pub fn manifest_path(&self, name: &str) -> String {
        format!("{}/manifest/{name}", self.inner.root)
    }

    pub fn bucket_file_path(&self, bucket: u32, name: &str) -> String {
        format!("{}/bucket-{bucket}/{name}", self.inner.root)
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

    async fn read_manifest_list(&self, name: &str) -> Result<Vec<ManifestFileMeta>, TableError> {
        let path = self.manifest_path(name);
        let bytes = self
            .inner
            .store
            .get(&path)
            .await?
            .ok_or_else(|| TableError::corrupt(&path, "manifest list is missing"))?;
        avro::decode_manifest_list(&bytes, &path)
    }

    async fn read_manifest(&self, name: &str) -> Result<Vec<ManifestEntry>, TableError> {
        let path = self.manifest_path(name);
        let bytes = self
            .inner
            .store
            .get(&path)
            .await?
            .ok_or_else(|| TableError::corrupt(&path, "manifest is missing"))?;
        avro::decode_manifest(&bytes, &self.key_types(), &path)
    }

    async fn read_manifests(
        &self,
        metas: &[ManifestFileMeta],
    ) -> Result<BTreeMap<(u32, u32, String), ManifestEntry>, TableError> {
        let mut live = BTreeMap::new();
        for meta in metas {
            apply_entries(&mut live, self.read_manifest(&meta.file_name).await?);
        }
        Ok(live)
    }

    /// Live data files of a snapshot, sorted by (bucket, level, file name).
    pub async fn data_files(&self, snapshot: &Snapshot) -> Result<Vec<DataFileEntry>, TableError> {
        let mut metas = self
            .read_manifest_list(&snapshot.base_manifest_list)
            .await?;
        metas.extend(
            self.read_manifest_list(&snapshot.delta_manifest_list)
                .await?,
        );
        Ok(self
            .read_manifests(&metas)
            .await?
            .into_values()
            .map(|e| DataFileEntry {
                bucket: e.bucket,
                file: e.file,
            })
            .collect())
    }

    /// Decodes one file of `bucket`, checking its records against its metadata.
    async fn read_file(&self, bucket: u32, file: &DataFileMeta) -> Result<Run, TableError> {
        let path = self.bucket_file_path(bucket, &file.file_name);
        let bytes = self
            .inner
            .store
            .get(&path)
            .await?
            .ok_or_else(|| TableError::corrupt(&path, "data file is missing"))?;
        let run = format::decode_run(&self.inner.schema, &self.inner.pk_indices, bytes, &path)?;
        let rows = run.len() as u64;
        if rows != file.row_count {
            return Err(TableError::corrupt(
                &path,
                format!("{rows} rows, manifest says {}", file.row_count),
            ));
        }
        let range = file.min_sequence_number..=file.max_sequence_number;
        if let Some(seq) = run
            .sequence_numbers
            .values()
            .iter()
            .rev()
            .find(|seq| !range.contains(seq))
        {
            return Err(TableError::corrupt(
                &path,
                format!(
                    "sequence number {seq} outside [{}, {}]",
                    file.min_sequence_number, file.max_sequence_number
                ),
            ));
        }
        Ok(run)
    }

    /// Decodes one data file of `bucket` column by column (for compaction).
    pub(crate) async fn read_run(
        &self,
        bucket: u32,
        file: &DataFileMeta,
    ) -> Result<Run, TableError> {
        self.read_file(bucket, file).await
    }

    /// Records of one data or changelog file as (kind, sequence number, row), in file order.
    pub async fn read_data_file(
        &self,
        bucket: u32,
        file: &DataFileMeta,
    ) -> Result<Vec<(RowKind, i64, Row)>, TableError> {
        let run = self.read_file(bucket, file).await?;
        Ok((0..run.len())
            .map(|i| (run.kinds[i], run.sequence_number(i), run.row(i)))
            .collect())
    }

    /// Merge-on-read of files (all of one bucket) with the table's merge engine: live rows go to
    /// `rows` (sorted by key), remembered deletes (see `BucketState::tombstones`) to
    /// `tombstones`. Returns the highest sequence number of the files.
    async fn merge_files<'a>(
        &self,
        files: impl Iterator<Item = &'a DataFileEntry>,
        rows: &mut BucketRows,
        tombstones: &mut BTreeMap<Key, Row>,
    ) -> Result<i64, TableError> {
        let merge = MergeFunction::new(&self.inner.schema, &self.inner.pk_indices)?;
        let mut max_sequence_number = -1;
        let mut runs = Vec::new();
        for entry in files {
            max_sequence_number = max_sequence_number.max(entry.file.max_sequence_number);
            runs.push(self.read_file(entry.bucket, &entry.file).await?);
        }
        *rows = BucketRows::new(self.inner.pk_indices.len(), self.inner.schema.fields.len());
        if merge.is_last_wins() {
            // Plain deduplicate: the newest record of each key is its state. Winners come in
            // long stretches of one run, copied a stretch at a time.
            let mut winners: Vec<runs::RecordId> = Vec::new();
            runs::for_each_key(&runs, |group| {
                let &(r, i) = group.last().expect("a key has records");
                if runs[r].kinds[i].is_add() {
                    winners.push((r, i));
                }
            });
            rows.extend_from_runs(&runs, &winners);
            return Ok(max_sequence_number);
        }
        runs::for_each_key(&runs, |group| {
            // A key with one record (already a merged partial) needs no fold.
            if let &[(r, i)] = group {
                let run = &runs[r];
                if run.kinds[i].is_add() {
                    rows.push(&run.key(i), &run.row(i));
                } else if merge.keeps_tombstones() {
                    tombstones.insert(run.key(i), run.row(i));
                }
                return;
            }
            let mut records = group.iter().map(|&(r, i)| Merged {
                kind: runs[r].kinds[i],
                row: runs[r].row(i),
            });
            let mut merged = records.next().expect("a key has records");
            for newer in records {
                merge.combine(&mut merged, newer);
            }
            let &(r, i) = group.first().expect("a key has records");
            if merged.is_live() {
                rows.push(&runs[r].key(i), &merged.row);
            } else if merge.keeps_tombstones() {
                tombstones.insert(runs[r].key(i), merged.row);
            }
        });
        Ok(max_sequence_number)
    }

    /// Merged state of one bucket at `snapshot` (None: the empty table).
    pub async fn read_bucket(
        &self,
        snapshot: Option<&Snapshot>,
        bucket: u32,
    ) -> Result<BucketState, TableError> {
        let mut state = BucketState::default();
        if let Some(snapshot) = snapshot {
            let files = self.data_files(snapshot).await?;
            state.max_sequence_number = self
                .merge_files(
                    files.iter().filter(|e| e.bucket == bucket),
                    &mut state.rows,
                    &mut state.tombstones,
                )
                .await?;
            state.files = files
                .into_iter()
                .filter(|e| e.bucket == bucket)
                .map(|e| e.file)
                .collect();
        }
        Ok(state)
    }

    /// Merged state of every bucket at `snapshot`.
    pub async fn read_all(&self, snapshot: &Snapshot) -> Result<BTreeMap<Key, Row>, TableError> {
        let files = self.data_files(snapshot).await?;
        let mut rows = BTreeMap::new();
        let mut bucket_rows = BucketRows::default();
        let mut start = 0;
        while start < files.len() {
            let bucket = files[start].bucket;
            let end = start + files[start..].partition_point(|e| e.bucket == bucket);
            self.merge_files(
                files[start..end].iter(),
                &mut bucket_rows,
                &mut BTreeMap::new(),
            )
            .await?;
            rows.extend(bucket_rows.iter());
            start = end;
        }
        Ok(rows)
    }

    /// Records of the snapshot's changelog files, in file order then row order.
    pub async fn read_changelog(
        &self,
        snapshot: &Snapshot,
    ) -> Result<Vec<(RowKind, Row)>, TableError> {
        let Some(list) = &snapshot.changelog_manifest_list else {
            return Ok(Vec::new());
        };
        let mut records = Vec::new();
        for meta in self.read_manifest_list(list).await? {
            for entry in self.read_manifest(&meta.file_name).await? {
                if entry.kind == FileKind::Add {
                    let run = self.read_file(entry.bucket, &entry.file).await?;
                    records.extend((0..run.len()).map(|i| (run.kinds[i], run.row(i))));
                }
            }
        }
        Ok(records)
    }

    /// Writes `bytes` under a fresh `manifest/{stem}-{prefix}-{n}` name; returns the name.
    async fn write_manifest_file(
        &self,
        stem: &str,
        file_prefix: &str,
        bytes: Vec<u8>,
    ) -> Result<(String, u64), TableError> {
        let size = bytes.len() as u64;
        for _ in 0..NAME_COLLISIONS_MAX {
            let n = self.inner.manifest_counter.get();
            self.inner.manifest_counter.set(n + 1);
            let name = format!("{stem}-{file_prefix}-{n}");
            if self
                .inner
                .store
                .put_if_absent(&self.manifest_path(&name), bytes.clone())
                .await?
            {
                return Ok((name, size));
            }
        }
        Err(TableError::Encode {
            path: self.manifest_path(&format!("{stem}-{file_prefix}-*")),
            reason: "manifest names keep colliding; is the file prefix unique?".into(),
        })
    }

    async fn write_manifest(
        &self,
        entries: &[ManifestEntry],
        file_prefix: &str,
    ) -> Result<ManifestFileMeta, TableError> {
        let bytes =
            avro::encode_manifest(entries, &self.key_types(), &self.manifest_path("manifest"))?;
        let (file_name, file_size) = self
            .write_manifest_file("manifest", file_prefix, bytes)
            .await?;
        let count = |kind| entries.iter().filter(|e| e.kind == kind).count() as u64;
        let buckets = entries.iter().map(|e| e.bucket);
        let levels = entries.iter().map(|e| e.file.level);
        Ok(ManifestFileMeta {
            file_name,
            file_size,
            num_added_files: count(FileKind::Add),
            num_deleted_files: count(FileKind::Delete),
            schema_id: 0,
            min_bucket: buckets.clone().min(),
            max_bucket: buckets.max(),
            min_level: levels.clone().min(),
            max_level: levels.max(),
        })
    }

    async fn write_manifest_list(
        &self,
        metas: &[ManifestFileMeta],
        file_prefix: &str,
    ) -> Result<String, TableError> {
        let bytes = avro::encode_manifest_list(metas, &self.manifest_path("manifest-list"))?;
        Ok(self
            .write_manifest_file("manifest-list", file_prefix, bytes)
            .await?
            .0)
    }

    /// A manifest list holding `entries` (none when empty).
    async fn write_entries_as_list(
        &self,
        entries: &[ManifestEntry],
        file_prefix: &str,
    ) -> Result<String, TableError> {
        let metas = if entries.is_empty() {
            Vec::new()
        } else {
            vec![self.write_manifest(entries, file_prefix).await?]
        };
        self.write_manifest_list(&metas, file_prefix).await
    }

    /// The base manifest list of the snapshot after `previous`: its base plus delta manifests,
    /// fully merged into one manifest of live files when there are too many. Returns the list's
    /// name and the files this attempt wrote (to clean up if the attempt loses).
    async fn write_base_list(
        &self,
        previous: Option<&Snapshot>,
        file_prefix: &str,
    ) -> Result<(String, Vec<String>), TableError> {
        let mut metas = Vec::new();
        if let Some(previous) = previous {
            metas = self
                .read_manifest_list(&previous.base_manifest_list)
                .await?;
            metas.extend(
                self.read_manifest_list(&previous.delta_manifest_list)
                    .await?,
            );
        }
        let mut written = Vec::new();
        if metas.len() > self.inner.schema.options.manifest_merge_min_count {
            let live: Vec<ManifestEntry> =
                self.read_manifests(&metas).await?.into_values().collect();
            metas.clear();
            if !live.is_empty() {
                let meta = self.write_manifest(&live, file_prefix).await?;
                written.push(meta.file_name.clone());
                metas.push(meta);
            }
        }
        let list = self.write_manifest_list(&metas, file_prefix).await?;
        written.push(list.clone());
        Ok((list, written))
    }

    /// Paimon `filterAndCommit`: commits `messages` as snapshot latest+1 unless `commit_user`
    /// already committed `identifier` (or later). Retries when another committer wins the id.
    /// An empty `messages` still creates a snapshot (recording the identifier and watermark).
    pub async fn commit(
        &self,
        commit_user: &str,
        identifier: i64,
        messages: Vec<CommitMessage>,
        watermark: Option<i64>,
        time_millis: i64,
        file_prefix: &str,
    ) -> Result<CommitOutcome, TableError> {
        let latest = self.latest_snapshot().await?;
        if let Some(latest) = latest.clone()
            && let Some(mine) = self.find_user_at_or_before(commit_user, latest).await?
            && mine.commit_identifier >= identifier
        {
            return Ok(CommitOutcome::AlreadyCommitted {
                snapshot_id: mine.id,
            });
        }

        let total_buckets = self.inner.schema.options.bucket;
        let entries = |kind: FileKind, files: fn(&CommitMessage) -> &Vec<DataFileMeta>| {
            messages
                .iter()
                .flat_map(|m| {
                    files(m).iter().map(move |file| ManifestEntry {
                        kind,
                        partition: Vec::new(),
                        bucket: m.bucket,
                        total_buckets,
                        file: file.clone(),
                    })
                })
                .collect::<Vec<ManifestEntry>>()
        };
        let append = Publication {
            commit_user,
            identifier,
            kind: CommitKind::Append,
            delta: entries(FileKind::Add, |m| &m.new_files),
            changelog: entries(FileKind::Add, |m| &m.changelog_files),
            watermark,
            time_millis,
            file_prefix,
            check_conflicts: false,
        };
        let outcome = self.publish(append, latest).await?;
        let CommitOutcome::Committed { snapshot_id, .. } = outcome else {
            return Ok(outcome);
        };
        if !messages.iter().any(CommitMessage::has_compaction) {
            return Ok(outcome);
        }
        // Paimon commits a writer's compaction as a second, COMPACT snapshot of the checkpoint.
        let mut delta = entries(FileKind::Delete, |m| &m.compact_before);
        delta.extend(entries(FileKind::Add, |m| &m.compact_after));
        let compact = Publication {
            commit_user,
            identifier,
            kind: CommitKind::Compact,
            delta,
            changelog: entries(FileKind::Add, |m| &m.compact_changelog_files),
            watermark,
            time_millis,
            file_prefix,
            check_conflicts: true,
        };
        let latest = self.latest_snapshot().await?;
        let compact_snapshot_id = match self.publish(compact, latest).await? {
            CommitOutcome::Committed { snapshot_id, .. } => Some(snapshot_id),
            CommitOutcome::AlreadyCommitted { .. } => None,
        };
        Ok(CommitOutcome::Committed {
            snapshot_id,
            compact_snapshot_id,
        })
    }

    /// Writes one snapshot after `latest` (manifests, lists, then the snapshot file with
    /// create-if-absent), retrying when another committer wins the id. A retry re-runs the
    /// filter: a snapshot of the same user and kind at or past the identifier means done.
    async fn publish(
        &self,
        publication: Publication<'_>,
        mut latest: Option<Snapshot>,
    ) -> Result<CommitOutcome, TableError> {
        let Publication {
            commit_user,
            identifier,
            kind,
            delta,
            changelog,
            watermark,
            time_millis,
            file_prefix,
            check_conflicts,
        } = publication;
        let added = |entries: &[ManifestEntry]| -> i64 {
            entries
                .iter()
                .map(|e| match e.kind {
                    FileKind::Add => e.file.row_count as i64,
                    FileKind::Delete => -(e.file.row_count as i64),
                })
                .sum()
        };
        let delta_record_count = added(&delta);
        let delta_list = self.write_entries_as_list(&delta, file_prefix).await?;
        let (changelog_list, changelog_record_count) = if changelog.is_empty() {
            (None, None)
        } else {
            let list = self.write_entries_as_list(&changelog, file_prefix).await?;
            (Some(list), Some(added(&changelog)))
        };

        for _ in 0..COMMIT_ATTEMPTS_MAX {
            if check_conflicts {
                self.check_conflicts(latest.as_ref(), &delta).await?;
            }
            let (base_list, written) = self.write_base_list(latest.as_ref(), file_prefix).await?;
            let id = latest.as_ref().map_or(1, |s| s.id + 1);
            let snapshot = Snapshot {
                version: 3,
                id,
                schema_id: 0,
                base_manifest_list: base_list,
                delta_manifest_list: delta_list.clone(),
                changelog_manifest_list: changelog_list.clone(),
                commit_user: commit_user.to_string(),
                commit_identifier: identifier,
                commit_kind: kind,
                time_millis,
                log_offsets: BTreeMap::new(),
                total_record_count: latest.as_ref().map_or(0, |s| s.total_record_count)
                    + delta_record_count,
                delta_record_count,
                changelog_record_count,
                // As Paimon's commit does: a snapshot's watermark never falls below its
                // predecessor's, so a commit without one (a dedicated compactor's) keeps it.
                watermark: watermark.max(latest.as_ref().and_then(|s| s.watermark)),
            };
            let path = self.snapshot_path(id);
            let bytes = to_json(&path, &snapshot, true)?;
            if self.inner.store.put_if_absent(&path, bytes).await? {
                // Hints are best effort: readers probe past a lagging LATEST.
                let store = &self.inner.store;
                let _ = store
                    .put(&self.hint_path("LATEST"), id.to_string().into_bytes())
                    .await;
                if id == 1 {
                    let _ = store.put(&self.hint_path("EARLIEST"), b"1".to_vec()).await;
                }
                return Ok(CommitOutcome::Committed {
                    snapshot_id: id,
                    compact_snapshot_id: None,
                });
            }
            // Lost the race for `id`: drop this attempt's base files, then re-run the filter
            // over the snapshots that appeared meanwhile.
            for name in written {
                let _ = self.inner.store.delete(&self.manifest_path(&name)).await;
            }
            latest = self.latest_snapshot().await?;
            let latest_id = latest.as_ref().map_or(0, |s| s.id);
            for new_id in id..=latest_id {
                if let Some(s) = self.snapshot(new_id).await?
                    && s.commit_user == commit_user
                    && s.commit_identifier >= identifier
                    && (kind == CommitKind::Append || s.commit_kind == CommitKind::Compact)
                {
                    return Ok(CommitOutcome::AlreadyCommitted { snapshot_id: s.id });
                }
            }
        }
        Err(TableError::CommitRetriesExhausted {
            attempts: COMMIT_ATTEMPTS_MAX,
        })
    }

    /// Commits a dedicated compactor's work: one COMPACT snapshot deleting every message's
    /// `compact_before` and adding its `compact_after`, unless `commit_user` already committed
    /// `identifier` (or later). Fails with [`TableError::CompactionConflict`] when a file it
    /// deletes is no longer live or an output overlaps a live file of its level (another
    /// compaction won); the snapshot is then not written and the outputs are orphans.
    ///
    /// # Panics
    /// If a message carries new (level-0) files: those belong to a writer's `commit`.
    pub async fn commit_compaction(
        &self,
        commit_user: &str,
        identifier: i64,
        messages: Vec<CommitMessage>,
        time_millis: i64,
        file_prefix: &str,
    ) -> Result<CommitOutcome, TableError> {
        assert!(
            messages
                .iter()
                .all(|m| m.new_files.is_empty() && m.changelog_files.is_empty()),
            "commit_compaction takes compaction results only"
        );
        let latest = self.latest_snapshot().await?;
        if let Some(latest) = latest.clone()
            && let Some(mine) = self.find_user_at_or_before(commit_user, latest).await?
            && mine.commit_identifier >= identifier
        {
            return Ok(CommitOutcome::AlreadyCommitted {
                snapshot_id: mine.id,
            });
        }
        let total_buckets = self.inner.schema.options.bucket;
        let entry = |kind, bucket, file: &DataFileMeta| ManifestEntry {
            kind,
            partition: Vec::new(),
            bucket,
            total_buckets,
            file: file.clone(),
        };
        let mut delta: Vec<ManifestEntry> = messages
            .iter()
            .flat_map(|m| {
                m.compact_before
                    .iter()
                    .map(|f| entry(FileKind::Delete, m.bucket, f))
            })
            .collect();
        delta.extend(messages.iter().flat_map(|m| {
            m.compact_after
                .iter()
                .map(|f| entry(FileKind::Add, m.bucket, f))
        }));
        let publication = Publication {
            commit_user,
            identifier,
            kind: CommitKind::Compact,
            delta,
            changelog: Vec::new(),
            watermark: None,
            time_millis,
            file_prefix,
            check_conflicts: true,
        };
        self.publish(publication, latest).await
    }

    /// Paimon's conflict check of a compaction against `latest`: every file `delta` deletes is
    /// live, and no file it adds above level 0 overlaps the key range of a live file of its
    /// bucket and level that stays (a level above 0 is one sorted run).
    async fn check_conflicts(
        &self,
        latest: Option<&Snapshot>,
        delta: &[ManifestEntry],
    ) -> Result<(), TableError> {
        let live = match latest {
            Some(snapshot) => self.data_files(snapshot).await?,
            None => Vec::new(),
        };
        let id = |bucket: u32, file: &DataFileMeta| (bucket, file.level, file.file_name.clone());
        let live_ids: std::collections::BTreeSet<(u32, u32, String)> =
            live.iter().map(|e| id(e.bucket, &e.file)).collect();
        let deleted: std::collections::BTreeSet<(u32, u32, String)> = delta
            .iter()
            .filter(|e| e.kind == FileKind::Delete)
            .map(|e| id(e.bucket, &e.file))
            .collect();
        if let Some(missing) = deleted.iter().find(|d| !live_ids.contains(*d)) {
            return Err(TableError::CompactionConflict {
                bucket: missing.0,
                reason: format!(
                    "{} (level {}) is no longer live: a concurrent compaction replaced it",
                    missing.2, missing.1
                ),
            });
        }
        for added in delta
            .iter()
            .filter(|e| e.kind == FileKind::Add && e.file.level > 0)
        {
            let overlapping = live.iter().find(|e| {
                e.bucket == added.bucket
                    && e.file.level == added.file.level
                    && !deleted.contains(&id(e.bucket, &e.file))
                    && e.file.min_key <= added.file.max_key
                    && added.file.min_key <= e.file.max_key
            });
            if let Some(other) = overlapping {
                return Err(TableError::CompactionConflict {
                    bucket: added.bucket,
                    reason: format!(
                        "output {} overlaps {} at level {}: a concurrent compaction wrote that level",
                        added.file.file_name, other.file.file_name, added.file.level
                    ),
                });
            }
        }
        Ok(())
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
