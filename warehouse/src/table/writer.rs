//! One bucket's writer: holds the bucket's merged state in memory (Paimon's lookup), buffers a
//! checkpoint's writes, and at the barrier writes one level-0 data file plus, for the lookup
//! changelog producer, the exact changelog of the batch against the state before it.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use super::format::{self, RecordRef};
use super::meta::{CommitMessage, DataFileMeta};
use super::store::BucketState;
use super::{ChangelogProducer, FileStoreTable, Key, TableError, TableOptions, TableSchema};
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

/// A sorted run: one level-0 file, or all files of one higher level.
struct SortedRun {
    level: u32,
    files: Vec<DataFileMeta>,
    size_bytes: u64,
}

/// The bucket's sorted runs, newest first: level-0 files by sequence number, then levels up.
fn sorted_runs(files: &[DataFileMeta]) -> Vec<SortedRun> {
    let mut level0: Vec<&DataFileMeta> = files.iter().filter(|f| f.level == 0).collect();
    level0.sort_by_key(|f| std::cmp::Reverse(f.max_sequence_number));
    let mut runs: Vec<SortedRun> = level0
        .into_iter()
        .map(|f| SortedRun {
            level: 0,
            files: vec![f.clone()],
            size_bytes: f.file_size,
        })
        .collect();
    let mut by_level: BTreeMap<u32, Vec<DataFileMeta>> = BTreeMap::new();
    for file in files.iter().filter(|f| f.level > 0) {
        by_level.entry(file.level).or_default().push(file.clone());
    }
    for (level, files) in by_level {
        let size_bytes = files.iter().map(|f| f.file_size).sum();
        runs.push(SortedRun {
            level,
            files,
            size_bytes,
        });
    }
    runs
}

/// Paimon's universal compaction: which newest runs to merge, and into which level.
/// Returns (number of newest runs, output level), or None when the bucket needs no compaction.
fn pick_compaction(runs: &[SortedRun], options: &TableOptions) -> Option<(usize, u32)> {
    if runs.len() < options.compaction_trigger.max(2) {
        return None;
    }
    let max_level = options.max_level();
    // Size amplification: everything newer than the oldest run, relative to it.
    let (oldest, newer) = runs.split_last()?;
    let newer_bytes: u64 = newer.iter().map(|r| r.size_bytes).sum();
    if newer_bytes * 100 > options.max_size_amplification_percent * oldest.size_bytes.max(1) {
        return Some((runs.len(), max_level));
    }
    // Size ratio: grow the candidate while the next run is not much larger than it.
    let mut candidate_bytes = runs[0].size_bytes;
    let mut count = 1;
    while count < runs.len()
        && candidate_bytes * (100 + options.size_ratio_percent) / 100 >= runs[count].size_bytes
    {
        candidate_bytes += runs[count].size_bytes;
        count += 1;
    }
    if count > 1 {
        return Some(output_level_for(runs, count, max_level));
    }
    // Too many runs: merge the newest ones down to the trigger.
    if runs.len() > options.compaction_trigger {
        return Some(output_level_for(
            runs,
            runs.len() - options.compaction_trigger + 1,
            max_level,
        ));
    }
    None
}

/// Output level for merging the `count` newest runs: just below the next run's level, never 0.
fn output_level_for(runs: &[SortedRun], mut count: usize, max_level: u32) -> (usize, u32) {
    loop {
        let level = match runs.get(count) {
            None => max_level,
            Some(next) => next.level.saturating_sub(1),
        };
        if level >= 1 {
            return (count, level);
        }
        count += 1;
    }
}

fn file_meta(
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
        let (compact_before, compact_after, compaction_bytes) = self
            .compact(table, file_prefix, n, time_millis)
            .await
            .unwrap_or_default();
        self.last_written_bytes = written_bytes + compaction_bytes;
        Ok(Some(CommitMessage {
            bucket: self.bucket,
            new_files: vec![data_meta],
            changelog_files,
            compact_before,
            compact_after,
        }))
    }

    /// Number of sorted runs in the bucket now (level-0 files plus non-empty higher levels).
    pub fn sorted_run_count(&self) -> usize {
        sorted_runs(&self.files).len()
    }

    /// The bucket's live data files as this writer knows them.
    pub fn files(&self) -> &[DataFileMeta] {
        &self.files
    }

    /// Inline universal compaction after a flush. Merges the picked runs by sequence number
    /// (dropping deletes when every run takes part) into one file. Returns the replaced files,
    /// the written file and the bytes read plus written. Nothing for `write-only` tables.
    async fn compact<S: ObjectStore>(
        &mut self,
        table: &FileStoreTable<S>,
        file_prefix: &str,
        n: u64,
        time_millis: i64,
    ) -> Result<(Vec<DataFileMeta>, Vec<DataFileMeta>, u64), TableError> {
        let options = &self.schema.options;
        if options.write_only {
            return Ok((Vec::new(), Vec::new(), 0));
        }
        let runs = sorted_runs(&self.files);
        let Some((count, output_level)) = pick_compaction(&runs, options) else {
            return Ok((Vec::new(), Vec::new(), 0));
        };
        let drop_deletes = count == runs.len();
        let inputs: Vec<DataFileMeta> =
            runs[..count].iter().flat_map(|r| r.files.clone()).collect();
        // Gather every input record, then sort by key with the newest first and keep the first
        // per key: far cheaper than inserting into an ordered map record by record.
        let mut merged: Vec<(Key, i64, RowKind, Row)> = Vec::new();
        let mut bytes = 0;
        for file in &inputs {
            bytes += file.file_size;
            for (kind, sequence_number, row) in table.read_data_file(self.bucket, file).await? {
                let key: Key = self.pk_indices.iter().map(|&i| row[i]).collect();
                merged.push((key, sequence_number, kind, row));
            }
        }
        merged.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        merged.dedup_by(|later, kept| later.0 == kept.0);
        let records: Vec<RecordRef<'_>> = merged
            .iter()
            .filter(|(_, _, kind, _)| !drop_deletes || kind.is_add())
            .map(|(key, sequence_number, kind, row)| RecordRef {
                key,
                sequence_number: *sequence_number,
                kind: *kind,
                row,
            })
            .collect();
        let mut outputs = Vec::new();
        if !records.is_empty() {
            let name = format!("data-{file_prefix}-{n}-compact-l{output_level}.parquet");
            let path = table.bucket_file_path(self.bucket, &name);
            let encoded = format::encode(&self.schema, &self.pk_indices, &records, &path)?;
            let mut meta = file_meta(name, encoded.len() as u64, &records, time_millis);
            meta.level = output_level;
            meta.file_source = "COMPACT".to_string();
            bytes += meta.file_size;
            table.store().put(&path, encoded).await?;
            outputs.push(meta);
        }
        let replaced: std::collections::BTreeSet<&str> =
            inputs.iter().map(|f| f.file_name.as_str()).collect();
        self.files
            .retain(|f| !replaced.contains(f.file_name.as_str()));
        self.files.extend(outputs.iter().cloned());
        Ok((inputs, outputs, bytes))
    }
}
