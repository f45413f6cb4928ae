//! One bucket's writer: holds the bucket's merged state in memory (Paimon's lookup), buffers a
//! checkpoint's writes, and at the barrier writes one level-0 data file plus, for the lookup
//! changelog producer, the exact changelog of the batch against the state before it.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use super::compaction::{self, CompactionResult};
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
    /// The stall of the last `prepare_commit`, if it had to compact at the stop trigger.
    last_stall: Option<WriteStall>,
}

/// A flush that reached `num-sorted-run.stop-trigger` and compacted before returning (Paimon's
/// writer waiting for its compaction): what the stall did, for the job's metrics and trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteStall {
    pub bucket: u32,
    /// Sorted runs with the flushed file, before the stall's compactions.
    pub runs_before: usize,
    pub runs_after: usize,
    /// Bytes the stall's compactions read and wrote (already in `last_written_bytes`).
    pub io_bytes: u64,
}

/// Bound on compactions one stalled flush runs to get back under the stop trigger.
const STALL_COMPACTIONS_MAX: usize = 8;

/// Folds `next` (a compaction over the result of `total`) into `total`: files `next` replaced
/// that `total` wrote were intermediate and appear in neither list.
fn absorb(total: &mut CompactionResult, next: CompactionResult) {
    let written_before = |name: &str| total.after.iter().any(|f| f.file_name == name);
    let (intermediate, older): (Vec<DataFileMeta>, Vec<DataFileMeta>) = next
        .before
        .into_iter()
        .partition(|f| written_before(&f.file_name));
    total
        .after
        .retain(|f| !intermediate.iter().any(|i| i.file_name == f.file_name));
    total.before.extend(older);
    total.after.extend(next.after);
    total.io_bytes += next.io_bytes;
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
            last_stall: None,
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
        self.last_stall = None;
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

        let mut files = self.files.clone();
        files.push(data_meta.clone());
        let compaction = self
            .compact_after_flush(table, &files, &format!("{file_prefix}-{n}"), time_millis)
            .await?;
        self.pending.clear();
        self.pending_records = 0;
        self.files = files;
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

    /// The inline compaction after a flush. Below the stop trigger a failed compaction (say,
    /// storage briefly unreachable) is skipped and picked again at the next flush; at the stop
    /// trigger the flush stalls: it compacts until the runs are back under it, and a failure
    /// fails the flush (pending writes survive; the written files are orphans).
    async fn compact_after_flush<S: ObjectStore>(
        &mut self,
        table: &FileStoreTable<S>,
        files: &[DataFileMeta],
        prefix: &str,
        time_millis: i64,
    ) -> Result<CompactionResult, TableError> {
        self.last_stall = None;
        if self.schema.options.write_only {
            return Ok(CompactionResult::default());
        }
        let (schema, bucket) = (&self.schema, self.bucket);
        let compact = |files: Vec<DataFileMeta>, prefix: String| async move {
            compaction::compact_bucket(table, schema, bucket, &files, &prefix, time_millis).await
        };
        let stop_trigger = self.schema.options.stop_trigger();
        let runs_before = compaction::sorted_runs(files).len();
        if runs_before <= stop_trigger {
            let result = compact(files.to_vec(), prefix.to_string()).await;
            return Ok(result.ok().flatten().unwrap_or_default());
        }
        let mut total = CompactionResult::default();
        let mut current = files.to_vec();
        for round in 0..STALL_COMPACTIONS_MAX {
            if compaction::sorted_runs(&current).len() <= stop_trigger {
                break;
            }
            let Some(result) = compact(current.clone(), format!("{prefix}-stall{round}")).await?
            else {
                break;
            };
            current.retain(|f| !result.before.iter().any(|b| b.file_name == f.file_name));
            current.extend(result.after.iter().cloned());
            absorb(&mut total, result);
        }
        self.last_stall = Some(WriteStall {
            bucket,
            runs_before,
            runs_after: compaction::sorted_runs(&current).len(),
            io_bytes: total.io_bytes,
        });
        Ok(total)
    }

    /// The stall of the last `prepare_commit`, when it reached the stop trigger.
    pub fn last_stall(&self) -> Option<&WriteStall> {
        self.last_stall.as_ref()
    }

    /// Replaces this writer's view of the bucket's files with `live` (the bucket's files in the
    /// latest snapshot, as a dedicated compactor left them), keeping files this writer flushed
    /// that `live` does not cover yet (sequence numbers past every live file's). Write-only
    /// writers call it so their sorted-run count reflects the compactor's work.
    pub fn sync_files(&mut self, live: Vec<DataFileMeta>) {
        let live_max = live
            .iter()
            .map(|f| f.max_sequence_number)
            .max()
            .unwrap_or(-1);
        let unpublished = self
            .files
            .iter()
            .filter(|f| f.level == 0 && f.min_sequence_number > live_max)
            .cloned();
        let mut files = live;
        files.extend(unpublished);
        self.files = files;
    }

    /// Sorted runs the bucket would have after flushing the pending writes.
    pub fn sorted_runs_after_flush(&self) -> usize {
        self.sorted_run_count() + usize::from(!self.pending.is_empty())
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
