//! One bucket's writer: holds the bucket's merged state in memory (Paimon's lookup), buffers a
//! checkpoint's writes, and at the barrier writes one level-0 data file plus, for the lookup
//! changelog producer, the exact changelog of the batch against the state before it.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use super::compaction;
use super::format::{self, RecordRef};
use super::meta::{CommitMessage, DataFileMeta};
use super::store::BucketState;
use super::{ChangelogProducer, FileStoreTable, Key, TableError, TableSchema};
use crate::env::ObjectStore;
use crate::row::{Row, RowKind, StableHashMap};

/// A key touched since the last `prepare_commit`.
struct Pending {
    /// The key's value before the batch (kept only for the lookup changelog).
    before: Option<Row>,
    /// Sequence number of the key's last write.
    sequence_number: i64,
    /// The row of the last write when that write deleted the key.
    deleted_row: Option<Row>,
}

pub struct BucketWriter {
    schema: TableSchema,
    pk_indices: Vec<usize>,
    bucket: u32,
    lookup: bool,
    /// Looked up, never iterated: a hash map is enough and much faster than a B-tree.
    state: StableHashMap<Key, Row>,
    pending: BTreeMap<Key, Pending>,
    pending_records: usize,
    next_sequence_number: i64,
    file_counter: u64,
    last_written_bytes: u64,
    /// The bucket's live data files: its sorted runs (each level-0 file, each level above).
    files: Vec<DataFileMeta>,
}

pub(crate) fn file_meta(
    file_name: String,
    file_size: u64,
    records: &[RecordRef<'_>],
    time_millis: i64,
) -> DataFileMeta {
    let seqs = records.iter().map(|r| r.sequence_number);
    DataFileMeta {
        file_name,
        file_size,
        row_count: records.len() as u64,
        min_key: records.first().map(|r| r.key.to_vec()).unwrap_or_default(),
        max_key: records.last().map(|r| r.key.to_vec()).unwrap_or_default(),
        min_sequence_number: seqs.clone().min().unwrap_or(-1),
        max_sequence_number: seqs.max().unwrap_or(-1),
        schema_id: 0,
        level: 0,
        extra_files: Vec::new(),
        creation_time: time_millis,
        delete_row_count: records.iter().filter(|r| !r.kind.is_add()).count() as u64,
        file_source: "APPEND".to_string(),
    }
}

impl BucketWriter {
    /// A writer continuing from `base` (read with `FileStoreTable::read_bucket`).
    ///
    /// # Panics
    /// If `schema` is not a valid primary-key schema (`create_or_open` rejects those first).
    pub fn new(schema: &TableSchema, bucket: u32, mut base: BucketState) -> Self {
        let pk_indices = schema
            .primary_key_indices()
            .expect("BucketWriter needs a schema that create_or_open accepted");
        Self {
            schema: schema.clone(),
            pk_indices,
            bucket,
            lookup: schema.options.changelog_producer == ChangelogProducer::Lookup,
            state: std::mem::take(&mut base.rows).into_iter().collect(),
            pending: BTreeMap::new(),
            pending_records: 0,
            next_sequence_number: base.max_sequence_number + 1,
            file_counter: 0,
            last_written_bytes: 0,
            files: base.files,
        }
    }

    pub fn bucket(&self) -> u32 {
        self.bucket
    }

    /// Current value of `key`, including unflushed writes.
    pub fn get(&self, key: &[i64]) -> Option<&Row> {
        self.state.get(key)
    }

    /// Number of keys currently live in the bucket.
    pub fn len(&self) -> usize {
        self.state.len()
    }

    pub fn is_empty(&self) -> bool {
        self.state.is_empty()
    }

    /// +I/+U upsert `row` under its key; -U/-D delete the key.
    ///
    /// # Panics
    /// If `row` does not have one value per schema field (a caller bug).
    pub fn write(&mut self, kind: RowKind, row: Row) {
        assert_eq!(
            row.len(),
            self.schema.fields.len(),
            "row width must match the table schema"
        );
        let key: Key = self.pk_indices.iter().map(|&i| row[i]).collect();
        let sequence_number = self.next_sequence_number;
        self.next_sequence_number += 1;
        self.pending_records += 1;
        let (old, deleted_row) = if kind.is_add() {
            (self.state.insert(key.clone(), row), None)
        } else {
            (self.state.remove(&key), Some(row))
        };
        match self.pending.entry(key) {
            Entry::Vacant(v) => {
                v.insert(Pending {
                    before: if self.lookup { old } else { None },
                    sequence_number,
                    deleted_row,
                });
            }
            Entry::Occupied(mut o) => {
                let p = o.get_mut();
                p.sequence_number = sequence_number;
                p.deleted_row = deleted_row;
            }
        }
    }

    /// Writes since the last `prepare_commit`.
    pub fn pending_records(&self) -> usize {
        self.pending_records
    }

    /// Bytes of the files written by the last `prepare_commit`.
    pub fn last_written_bytes(&self) -> u64 {
        self.last_written_bytes
    }

    /// Flushes the batch as one level-0 data file (and a changelog file for the lookup
    /// producer). `None` when nothing is pending. Pending writes survive a failed flush.
    pub async fn prepare_commit<S: ObjectStore>(
        &mut self,
        table: &FileStoreTable<S>,
        file_prefix: &str,
        time_millis: i64,
    ) -> Result<Option<CommitMessage>, TableError> {
        self.last_written_bytes = 0;
        if self.pending.is_empty() {
            return Ok(None);
        }
        let n = self.file_counter;
        self.file_counter += 1;

        let data: Vec<RecordRef<'_>> = self
            .pending
            .iter()
            .map(|(key, p)| match &p.deleted_row {
                Some(row) => RecordRef {
                    key,
                    sequence_number: p.sequence_number,
                    kind: RowKind::Delete,
                    row,
                },
                None => RecordRef {
                    key,
                    sequence_number: p.sequence_number,
                    kind: RowKind::Insert,
                    row: &self.state[key],
                },
            })
            .collect();
        let data_name = format!("data-{file_prefix}-{n}.parquet");
        let data_path = table.bucket_file_path(self.bucket, &data_name);
        let bytes = format::encode(&self.schema, &self.pk_indices, &data, &data_path)?;
        let data_meta = file_meta(data_name, bytes.len() as u64, &data, time_millis);
        table.store().put(&data_path, bytes).await?;
        let mut written_bytes = data_meta.file_size;

        let mut changelog_files = Vec::new();
        if self.lookup {
            let mut changes: Vec<RecordRef<'_>> = Vec::new();
            for (key, p) in &self.pending {
                let after = self.state.get(key);
                let record = |kind, row| RecordRef {
                    key,
                    sequence_number: p.sequence_number,
                    kind,
                    row,
                };
                match (&p.before, after) {
                    (None, Some(v)) => changes.push(record(RowKind::Insert, v)),
                    (Some(v), None) => changes.push(record(RowKind::Delete, v)),
                    (Some(v), Some(w)) if v != w => {
                        changes.push(record(RowKind::UpdateBefore, v));
                        changes.push(record(RowKind::UpdateAfter, w));
                    }
                    _ => {}
                }
            }
            if !changes.is_empty() {
                let name = format!("changelog-{file_prefix}-{n}.parquet");
                let path = table.bucket_file_path(self.bucket, &name);
                let bytes = format::encode(&self.schema, &self.pk_indices, &changes, &path)?;
                let meta = file_meta(name, bytes.len() as u64, &changes, time_millis);
                table.store().put(&path, bytes).await?;
                written_bytes += meta.file_size;
                changelog_files.push(meta);
            }
        }

        self.pending.clear();
        self.pending_records = 0;
        self.files.push(data_meta.clone());
        // The flush is done and must be returned: a failed compaction (say, storage briefly
        // unreachable) is skipped and picked again at the next flush, never lost data.
        let compaction = if self.schema.options.write_only {
            None
        } else {
            let prefix = format!("{file_prefix}-{n}");
            compaction::compact_bucket(
                table,
                &self.schema,
                self.bucket,
                &self.files,
                &prefix,
                time_millis,
            )
            .await
            .unwrap_or_default()
        };
        let compaction = compaction.unwrap_or_default();
        let replaced: std::collections::BTreeSet<&str> = compaction
            .before
            .iter()
            .map(|f| f.file_name.as_str())
            .collect();
        self.files
            .retain(|f| !replaced.contains(f.file_name.as_str()));
        self.files.extend(compaction.after.iter().cloned());
        self.last_written_bytes = written_bytes + compaction.io_bytes;
        Ok(Some(CommitMessage {
            bucket: self.bucket,
            new_files: vec![data_meta],
            changelog_files,
            compact_before: compaction.before,
            compact_after: compaction.after,
        }))
    }

    /// Number of sorted runs in the bucket now (level-0 files plus non-empty higher levels).
    pub fn sorted_run_count(&self) -> usize {
        compaction::sorted_runs(&self.files).len()
    }

    /// The bucket's live data files as this writer knows them.
    pub fn files(&self) -> &[DataFileMeta] {
        &self.files
    }
}
