//! A compaction's merge, streamed: each input sorted run is read file by file and decoded batch
//! by batch, the runs' key order is walked together (a k-way merge), each key is folded by the
//! merge engine, and the output is encoded as it comes and rolled at `target-file-size`. It
//! holds each input run's current file and batch and one output file, never the bucket decoded:
//! a compaction of a day's DWD bucket would otherwise hold every row of it at once.

use std::cmp::Ordering;
use std::collections::VecDeque;

use super::compaction::{
    CompactionResult, SortedRun, assert_outputs_replace_inputs, rows_per_output_file, sorted_runs,
};
use super::decode::{Run, RunBatches, check_row_count, check_within_manifest};
use super::format::{
    Columns, ENCODE_SLICE_ROWS, FileContent, FileEncoder, FileMetaBuilder, RecordRef, Records,
};
use super::merge::{MergeFunction, Merged};
use super::meta::DataFileMeta;
use super::{ChangelogProducer, FileStoreTable, Key, TableError, TableSchema};
use crate::env::ObjectStore;
use crate::row::RowKind;

/// Records decoded from an input file at a time.
const INPUT_BATCH_ROWS: usize = 16 * 1024;

/// Where and how a compaction writes its result.
pub(crate) struct MergeOutput<'a> {
    pub level: u32,
    /// All runs are merged: deletes can be dropped, and the full-compaction changelog is due.
    pub full: bool,
    pub file_prefix: &'a str,
    pub time_millis: i64,
}

/// Merges `inputs` (whole sorted runs of one bucket) with the table's merge engine into the
/// files of `output.level`, one sorted run.
pub(crate) async fn merge_files<S: ObjectStore>(
    table: &FileStoreTable<S>,
    schema: &TableSchema,
    partition: &[i64],
    bucket: u32,
    inputs: Vec<DataFileMeta>,
    output: MergeOutput<'_>,
) -> Result<CompactionResult, TableError> {
    let pk_indices = schema.primary_key_indices()?;
    let merge = MergeFunction::new(schema, &pk_indices)?;
    let max_level = schema.options.max_level();
    let changelog_wanted =
        output.full && schema.options.changelog_producer == ChangelogProducer::FullCompaction;
    let input_rows: u64 = inputs.iter().map(|f| f.row_count).sum();
    let input_bytes: u64 = inputs.iter().map(|f| f.file_size).sum();
    let mut cursors: Vec<Cursor<'_>> = sorted_runs(&inputs)
        .into_iter()
        .map(|run| Cursor::new(run, table.bucket_file_path(partition, bucket, "")))
        .collect();
    let changelog = changelog_wanted.then(|| {
        let name = format!(
            "changelog-{}-compact-l{}.parquet",
            output.file_prefix, output.level
        );
        let path = table.bucket_file_path(partition, bucket, &name);
        OutputFile::new(schema, &pk_indices, name, path, FileContent::Changelog)
    });
    let mut sink = Sink {
        schema,
        pk_indices: &pk_indices,
        merge: &merge,
        drop_deletes: output.full && !merge.keeps_tombstones(),
        last_wins: merge.is_last_wins(),
        rows_per_file: rows_per_output_file(
            schema.options.target_file_size_bytes,
            input_bytes,
            input_rows,
        ) as u64,
        output: &output,
        bucket_path: table.bucket_file_path(partition, bucket, ""),
        file: None,
        files_started: 0,
        finished: Vec::new(),
        top_level: max_level,
        changelog: changelog.transpose()?,
    };
    let mut io_bytes = input_bytes;
    let mut outputs = Vec::new();
    loop {
        let mut live = Vec::with_capacity(cursors.len());
        for mut cursor in cursors.drain(..) {
            if cursor.fill(table, schema, &pk_indices).await? {
                live.push(cursor);
            }
        }
        cursors = live;
        if cursors.is_empty() {
            break;
        }
        merge_until_refill(&mut cursors, &mut sink)?;
        for (path, bytes, meta) in sink.finished.drain(..) {
            io_bytes += meta.file_size;
            table.store().put(&path, bytes).await?;
            outputs.push(meta);
        }
    }
    if let Some((path, bytes, meta)) = sink.finish_file()? {
        io_bytes += meta.file_size;
        table.store().put(&path, bytes).await?;
        outputs.push(meta);
    }
    let mut changelog = Vec::new();
    if let Some(file) = sink.changelog.take().filter(|file| file.meta.rows() > 0) {
        let (path, bytes, meta) = file.finish(output.time_millis)?;
        io_bytes += meta.file_size;
        table.store().put(&path, bytes).await?;
        changelog.push(meta);
    }
    assert_outputs_replace_inputs(&inputs, &outputs, bucket);
    Ok(CompactionResult {
        before: inputs,
        after: outputs,
        io_bytes,
        changelog,
    })
}

/// One input sorted run being read: its files in key order, the current file's batches, and
/// the current batch with the position of its next record.
struct Cursor<'a> {
    level: u32,
    files: VecDeque<DataFileMeta>,
    bucket_path: String,
    file: Option<InputFile<'a>>,
    batch: Run,
    position: usize,
    /// The key of the run's last record read: the next must be above it.
    last_key: Option<Key>,
}

/// The input file a cursor is reading, checked against its manifest entry as it is read.
struct InputFile<'a> {
    meta: DataFileMeta,
    path: String,
    batches: RunBatches<'a>,
    rows: u64,
}

impl<'a> Cursor<'a> {
    fn new(run: SortedRun, bucket_path: String) -> Self {
        let mut files = run.files;
        files.sort_by(|a, b| a.min_key.cmp(&b.min_key));
        Self {
            level: run.level,
            files: files.into(),
            bucket_path,
            file: None,
            batch: Run::empty(),
            position: 0,
            last_key: None,
        }
    }

    fn has_head(&self) -> bool {
        self.position < self.batch.len()
    }

    /// Makes sure the cursor has a record to offer: reads the next batch, or opens the run's
    /// next file. False once the run is exhausted.
    async fn fill<S: ObjectStore>(
        &mut self,
        table: &FileStoreTable<S>,
        schema: &'a TableSchema,
        pk_indices: &'a [usize],
    ) -> Result<bool, TableError> {
        loop {
            if self.has_head() {
                return Ok(true);
            }
            if let Some(file) = &mut self.file {
                match file.batches.next_batch()? {
                    Some(batch) => {
                        file.rows += batch.len() as u64;
                        check_batch(&file.meta, &file.path, &batch, self.last_key.as_ref())?;
                        if batch.len() > 0 {
                            self.last_key = Some(batch.key(batch.len() - 1));
                        }
                        self.batch = batch;
                        self.position = 0;
                    }
                    None => {
                        check_row_count(&file.meta, &file.path, file.rows)?;
                        self.file = None;
                    }
                }
                continue;
            }
            let Some(meta) = self.files.pop_front() else {
                return Ok(false);
            };
            let path = format!("{}{}", self.bucket_path, meta.file_name);
            let bytes = table
                .store()
                .get(&path)
                .await?
                .ok_or_else(|| TableError::corrupt(&path, super::error::DATA_FILE_MISSING))?;
            let batches =
                RunBatches::new(schema, pk_indices, bytes.into(), &path, INPUT_BATCH_ROWS)?;
            self.file = Some(InputFile {
                meta,
                path,
                batches,
                rows: 0,
            });
        }
    }
}

/// What a compaction input's batch must be: keys strictly ascending (one record per key, every
/// data file this store writes) and above the run's previous key, and inside the file's
/// manifest entry.
fn check_batch(
    meta: &DataFileMeta,
    path: &str,
    batch: &Run,
    previous: Option<&Key>,
) -> Result<(), TableError> {
    let ascending_from_previous = match (previous, batch.len()) {
        (Some(previous), 1..) => *previous < batch.key(0),
        _ => true,
    };
    if !batch.is_sorted_by_key() || !ascending_from_previous {
        let reason = "keys do not strictly ascend: a compaction input holds one record per key, \
                      sorted";
        return Err(TableError::corrupt(path, reason));
    }
    check_within_manifest(meta, path, batch)
}

/// Merges the cursors' current batches (each has a record to offer) until one of them runs
/// out, or an output file is complete and waits to be stored.
fn merge_until_refill(
    cursors: &mut [Cursor<'_>],
    sink: &mut Sink<'_, '_>,
) -> Result<(), TableError> {
    let mut group: Vec<usize> = Vec::with_capacity(cursors.len());
    loop {
        let mut smallest = 0;
        for c in 1..cursors.len() {
            if head_cmp(cursors, c, smallest).is_lt() {
                smallest = c;
            }
        }
        group.clear();
        group.extend((0..cursors.len()).filter(|&c| head_cmp(cursors, c, smallest).is_eq()));
        if let [only] = group[..] {
            // Every record of this run below the other runs' heads has no other record.
            let cursor = &cursors[only];
            let others = (0..cursors.len()).filter(|&c| c != only);
            let bound = others.min_by(|&a, &b| head_cmp(cursors, a, b));
            let start = cursor.position;
            let end = match bound {
                None => cursor.batch.len(),
                Some(b) => {
                    first_not_below(&cursor.batch, start, &cursors[b].batch, cursors[b].position)
                }
            };
            let (level, batch) = (cursor.level, &cursor.batch);
            let taken = sink.pass_through(level, batch, start..end)?;
            cursors[only].position += taken;
        } else {
            group.sort_by_key(|&c| cursors[c].batch.sequence_number(cursors[c].position));
            sink.fold(cursors, &group)?;
            for &c in &group {
                cursors[c].position += 1;
            }
        }
        if group.iter().any(|&c| !cursors[c].has_head()) || !sink.finished.is_empty() {
            return Ok(());
        }
    }
}

/// The first record from `start` on of the sorted `batch` whose key is not below record `at`
/// of `other` (a binary search).
fn first_not_below(batch: &Run, start: usize, other: &Run, at: usize) -> usize {
    let (mut low, mut high) = (start, batch.len());
    while low < high {
        let middle = low + (high - low) / 2;
        if batch.cmp_key(middle, other, at).is_lt() {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    low
}

fn head_cmp(cursors: &[Cursor<'_>], a: usize, b: usize) -> Ordering {
    let (a, b) = (&cursors[a], &cursors[b]);
    a.batch.cmp_key(a.position, &b.batch, b.position)
}

/// Where merged records go: the output run's files (rolled at `rows_per_file`), and under
/// `changelog-producer = full-compaction` the changelog from the top level before to after.
struct Sink<'s, 'o> {
    schema: &'s TableSchema,
    pk_indices: &'s [usize],
    merge: &'s MergeFunction,
    drop_deletes: bool,
    last_wins: bool,
    rows_per_file: u64,
    output: &'s MergeOutput<'o>,
    bucket_path: String,
    file: Option<OutputFile<'s>>,
    files_started: usize,
    /// Output files complete and encoded, waiting to be stored: (path, bytes, manifest entry).
    finished: Vec<(String, Vec<u8>, DataFileMeta)>,
    /// The top level, whose records are the bucket's merged state before.
    top_level: u32,
    changelog: Option<OutputFile<'s>>,
}

impl<'s> Sink<'s, '_> {
    /// Passes records `range` of a batch of a run of `level` through (each its key's only
    /// record), up to the end of the current output file. Returns how many it took.
    fn pass_through(
        &mut self,
        level: u32,
        batch: &Run,
        range: std::ops::Range<usize>,
    ) -> Result<usize, TableError> {
        let drops_some =
            self.drop_deletes && batch.kinds[range.clone()].iter().any(|k| !k.is_add());
        if self.changelog.is_none() && !drops_some {
            return self.pass_through_columns(batch, range);
        }
        let mut taken = 0;
        for i in range {
            if self.file_is_full() {
                self.complete_file()?;
                break;
            }
            taken += 1;
            let record = BatchRecord { batch, index: i };
            let kind = batch.kinds[i];
            if self.changelog.is_some() {
                let live = kind.is_add().then_some(record);
                self.diff((level == self.top_level).then_some(live).flatten(), live)?;
            }
            if !self.drop_deletes || kind.is_add() {
                self.push(&record, 0)?;
            }
        }
        if self.file_is_full() {
            self.complete_file()?;
        }
        Ok(taken)
    }

    /// [`Self::pass_through`] when every record is kept as it is (no changelog to diff, no
    /// delete to drop): whole ranges of the batch's columns are copied at once, up to the end
    /// of the current output file or of its encoder's slice.
    fn pass_through_columns(
        &mut self,
        batch: &Run,
        range: std::ops::Range<usize>,
    ) -> Result<usize, TableError> {
        let rows_per_file = self.rows_per_file;
        let mut start = range.start;
        while start < range.end {
            let file = self.open_file()?;
            let room = (rows_per_file - file.meta.rows()).min(file.slice_room() as u64);
            let end = range.end.min(start + room as usize);
            assert!(
                end > start,
                "an output file with no room is completed when it fills"
            );
            file.push_run(batch, start..end)?;
            start = end;
            if self.file_is_full() {
                self.complete_file()?;
                break;
            }
        }
        Ok(start - range.start)
    }

    /// One key held by several runs (`group`, cursors by sequence number ascending): the newest
    /// record, or all of them folded by the merge engine.
    fn fold(&mut self, cursors: &[Cursor<'_>], group: &[usize]) -> Result<(), TableError> {
        let record = |c: usize| BatchRecord {
            batch: &cursors[c].batch,
            index: cursors[c].position,
        };
        let newest = record(*group.last().expect("a key has records"));
        let before = group
            .iter()
            .find(|&&c| cursors[c].level == self.top_level)
            .map(|&c| record(c))
            .filter(|r| r.batch.kinds[r.index].is_add());
        if self.last_wins {
            let live = newest.batch.kinds[newest.index].is_add();
            if self.changelog.is_some() {
                self.diff(before, live.then_some(newest))?;
            }
            if !self.drop_deletes || live {
                self.push(&newest, 0)?;
            }
        } else {
            let mut records = group.iter().map(|&c| {
                let r = record(c);
                Merged {
                    kind: r.batch.kinds[r.index],
                    row: r.batch.row(r.index),
                }
            });
            let mut merged = records.next().expect("a key has records");
            for newer in records {
                self.merge.combine(&mut merged, newer);
            }
            let key = newest.batch.key(newest.index);
            let sequence_number = newest.batch.sequence_number(newest.index);
            let folded = RecordRef {
                key: &key,
                sequence_number,
                kind: merged.kind,
                row: &merged.row,
            };
            if self.changelog.is_some() {
                let after = merged.is_live().then_some(&folded);
                self.diff_records(before, after)?;
            }
            if !self.drop_deletes || merged.is_live() {
                self.push(&[folded][..], 0)?;
            }
        }
        if self.file_is_full() {
            self.complete_file()?;
        }
        Ok(())
    }

    fn file_is_full(&self) -> bool {
        self.file
            .as_ref()
            .is_some_and(|file| file.meta.rows() >= self.rows_per_file)
    }

    /// Appends record `i` of `records` to the current output file, opening one if needed.
    fn push<R: Records + ?Sized>(&mut self, records: &R, i: usize) -> Result<(), TableError> {
        self.open_file()?.push(records, i)
    }

    /// The current output file, opened if there is none.
    fn open_file(&mut self) -> Result<&mut OutputFile<'s>, TableError> {
        if self.file.is_none() {
            let (prefix, level) = (self.output.file_prefix, self.output.level);
            let name = match self.files_started {
                0 => format!("data-{prefix}-compact-l{level}.parquet"),
                index => format!("data-{prefix}-compact-l{level}-{index}.parquet"),
            };
            let path = format!("{}{name}", self.bucket_path);
            self.files_started += 1;
            let file =
                OutputFile::new(self.schema, self.pk_indices, name, path, FileContent::Data)?;
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    /// Encodes the current output file to the end and queues it to be stored.
    fn complete_file(&mut self) -> Result<(), TableError> {
        if let Some(done) = self.finish_file()? {
            self.finished.push(done);
        }
        Ok(())
    }

    fn finish_file(&mut self) -> Result<Option<(String, Vec<u8>, DataFileMeta)>, TableError> {
        let Some(file) = self.file.take() else {
            return Ok(None);
        };
        let (path, bytes, mut meta) = file.finish(self.output.time_millis)?;
        meta.level = self.output.level;
        meta.file_source = "COMPACT".to_string();
        Ok(Some((path, bytes, meta)))
    }

    /// The changelog of one key from the top level's record (`before`, when live) to the
    /// output's (`after`, when live): +I, -D, or -U/+U when the row changed.
    fn diff(
        &mut self,
        before: Option<BatchRecord<'_>>,
        after: Option<BatchRecord<'_>>,
    ) -> Result<(), TableError> {
        let Some(after) = after else {
            return self.diff_records(before, None);
        };
        let (key, row) = (after.batch.key(after.index), after.batch.row(after.index));
        let after = RecordRef {
            key: &key,
            sequence_number: after.batch.sequence_number(after.index),
            kind: after.batch.kinds[after.index],
            row: &row,
        };
        self.diff_records(before, Some(&after))
    }

    /// [`Self::diff`] with the output's record given as it is written (a folded one).
    fn diff_records(
        &mut self,
        before: Option<BatchRecord<'_>>,
        after: Option<&RecordRef<'_>>,
    ) -> Result<(), TableError> {
        let changelog = self.changelog.as_mut().expect("a changelog is wanted");
        let change = |kind, key, sequence_number, row| RecordRef {
            key,
            sequence_number,
            kind,
            row,
        };
        let before = before.map(|r| {
            let (batch, i) = (r.batch, r.index);
            (batch.key(i), batch.sequence_number(i), batch.row(i))
        });
        match (&before, after) {
            (None, Some(new)) => {
                let record = change(RowKind::Insert, new.key, new.sequence_number, new.row);
                changelog.push(&[record][..], 0)
            }
            (Some((key, sequence_number, old_row)), None) => {
                let record = change(RowKind::Delete, key, *sequence_number, old_row);
                changelog.push(&[record][..], 0)
            }
            (Some((_, _, old_row)), Some(new)) if old_row.as_slice() != new.row => {
                let seq = new.sequence_number;
                let pair = [
                    change(RowKind::UpdateBefore, new.key, seq, old_row),
                    change(RowKind::UpdateAfter, new.key, seq, new.row),
                ];
                changelog.push(&pair[..], 0)?;
                changelog.push(&pair[..], 1)
            }
            _ => Ok(()),
        }
    }
}

/// A record of an input batch, as the output takes it.
#[derive(Clone, Copy)]
struct BatchRecord<'b> {
    batch: &'b Run,
    index: usize,
}

impl Records for BatchRecord<'_> {
    fn len(&self) -> usize {
        1
    }
    fn key_width(&self) -> usize {
        self.batch.keys.len()
    }
    fn key(&self, _: usize, k: usize) -> i64 {
        self.batch.keys[k].values()[self.index]
    }
    fn sequence_number(&self, _: usize) -> i64 {
        self.batch.sequence_number(self.index)
    }
    fn kind(&self, _: usize) -> RowKind {
        self.batch.kinds[self.index]
    }
    fn value(&self, _: usize, f: usize) -> i64 {
        self.batch.values[f].values()[self.index]
    }
}

/// One output file being written: its encoder, its manifest entry so far, and the records
/// not yet handed to the encoder (a slice of them at a time, as `format::encode` does, so the
/// bytes are the same).
struct OutputFile<'s> {
    path: String,
    encoder: FileEncoder<'s>,
    meta: FileMetaBuilder,
    pending: Columns,
}

impl<'s> OutputFile<'s> {
    fn new(
        schema: &'s TableSchema,
        pk_indices: &'s [usize],
        name: String,
        path: String,
        content: FileContent,
    ) -> Result<Self, TableError> {
        let encoder = FileEncoder::new(schema, pk_indices, &path, 1 << 20)?;
        Ok(Self {
            meta: FileMetaBuilder::new(name, content),
            path,
            encoder,
            pending: Columns::with_capacity(
                pk_indices.len(),
                schema.fields.len(),
                ENCODE_SLICE_ROWS,
            ),
        })
    }

    fn push<R: Records + ?Sized>(&mut self, records: &R, i: usize) -> Result<(), TableError> {
        self.meta.observe(records, i);
        self.pending.push(records, i);
        self.write_full_slice()
    }

    /// Records the current slice can take before it is handed to the encoder.
    fn slice_room(&self) -> usize {
        ENCODE_SLICE_ROWS - self.pending.len()
    }

    /// Appends records `rows` of `batch`, at most `slice_room` of them.
    fn push_run(&mut self, batch: &Run, rows: std::ops::Range<usize>) -> Result<(), TableError> {
        assert!(
            rows.len() <= self.slice_room(),
            "a slice never outgrows its size"
        );
        for index in rows.clone() {
            self.meta.observe(&BatchRecord { batch, index }, 0);
        }
        self.pending.extend_from_run(batch, rows);
        self.write_full_slice()
    }

    /// Hands the slice to the encoder once it holds `ENCODE_SLICE_ROWS` records.
    fn write_full_slice(&mut self) -> Result<(), TableError> {
        if self.pending.len() == ENCODE_SLICE_ROWS {
            let (key_width, fields) = (self.pending.key_width(), self.pending.fields());
            let next = Columns::with_capacity(key_width, fields, ENCODE_SLICE_ROWS);
            self.encoder
                .write_columns(std::mem::replace(&mut self.pending, next))?;
        }
        Ok(())
    }

    /// (path, bytes, manifest entry) of the file.
    fn finish(mut self, time_millis: i64) -> Result<(String, Vec<u8>, DataFileMeta), TableError> {
        if self.pending.len() > 0 {
            self.encoder.write_columns(self.pending)?;
        }
        let bytes = self.encoder.finish()?;
        let meta = self.meta.finish(bytes.len() as u64, time_millis);
        Ok((self.path, bytes, meta))
    }
}
