//! Universal compaction of one bucket's LSM tree, shared by writers that compact inline and by a
//! dedicated compactor: which sorted runs to merge (Paimon's universal picking) and the merge
//! itself, which writes the output level's files (rolling at `target-file-size`) and reports
//! what it replaced.

use std::collections::BTreeMap;

use super::format::{self, FileContent, RecordRef, Records, Run};
use super::merge::{MergeFunction, Merged};
use super::meta::DataFileMeta;
use super::runs;
use super::{ChangelogProducer, FileStoreTable, Key, TableError, TableOptions, TableSchema};
use crate::env::ObjectStore;
use crate::row::{Row, RowKind};

/// A sorted run: one level-0 file, or all files of one higher level.
pub(crate) struct SortedRun {
    pub(crate) level: u32,
    pub(crate) files: Vec<DataFileMeta>,
    pub(crate) size_bytes: u64,
}

/// The bucket's sorted runs, newest first: level-0 files by sequence number, then levels up.
pub(crate) fn sorted_runs(files: &[DataFileMeta]) -> Vec<SortedRun> {
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
pub(crate) fn pick_compaction(runs: &[SortedRun], options: &TableOptions) -> Option<(usize, u32)> {
    let picked = pick_universal(runs, options);
    if let Some((count, level)) = picked {
        // The newest `count` runs (at least two) merge into one level above 0, at or above
        // every input's level and below the first run left out, so levels stay ordered.
        assert!(
            (2..=runs.len()).contains(&count) && level > 0,
            "universal compaction picked {count} of {} runs into level {level}",
            runs.len()
        );
        let ordered = match runs.get(count) {
            Some(next) => level < next.level && runs[..count].iter().all(|r| r.level <= level),
            None => level == options.max_level(),
        };
        assert!(
            ordered,
            "universal compaction's output level {level} is out of order"
        );
    }
    picked
}

fn pick_universal(runs: &[SortedRun], options: &TableOptions) -> Option<(usize, u32)> {
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

/// What a dedicated compactor picks in a bucket of a `write-only` table: universal picking, and
/// besides a bucket that has reached `num-sorted-run.stop-trigger`. Write-only writers wait before
/// a flush that would take their bucket past the stop trigger, that is while it holds `stop`
/// runs (jobs/sink.rs), but universal picking forces a compaction only above
/// `num-sorted-run.compaction-trigger` runs. When the two triggers are equal (Paimon allows it:
/// the stop trigger is at least the compaction trigger) a bucket at exactly the trigger whose run
/// sizes pick nothing would leave its writers waiting for a compaction that never comes. Such a
/// bucket merges its newest runs as the run-count rule does, at least two.
pub(crate) fn pick_compaction_for_waiting_writers(
    runs: &[SortedRun],
    options: &TableOptions,
) -> Option<(usize, u32)> {
    let picked = pick_compaction(runs, options);
    if picked.is_some() || !options.write_only || runs.len() < options.stop_trigger().max(2) {
        return picked;
    }
    let count = (runs.len() + 1)
        .saturating_sub(options.compaction_trigger)
        .max(2);
    Some(output_level_for(runs, count, options.max_level()))
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

/// Records per compaction output file so each file is about `target_file_size_bytes`, from the
/// inputs' encoded bytes per row (an estimate: encoding is deterministic, so is the split).
pub(crate) fn rows_per_output_file(
    target_file_size_bytes: u64,
    input_bytes: u64,
    input_rows: u64,
) -> usize {
    let bytes_per_row = (input_bytes / input_rows.max(1)).max(1);
    (target_file_size_bytes / bytes_per_row).clamp(1, usize::MAX as u64) as usize
}

/// What one compaction did: the files it replaced, the files it wrote, bytes read plus written.
#[derive(Debug, Default)]
pub struct CompactionResult {
    pub before: Vec<DataFileMeta>,
    pub after: Vec<DataFileMeta>,
    pub io_bytes: u64,
    /// Changelog files of a full compaction under `changelog-producer = full-compaction`
    /// (committed with the COMPACT snapshot).
    pub changelog: Vec<DataFileMeta>,
}

/// Picks and runs one universal compaction over `files` (one bucket's live data files), writing
/// the merged files as `data-{file_prefix}-compact-l{level}[-i].parquet`. `None` when the bucket needs
/// none. The caller commits the result (a COMPACT snapshot) and updates its view of the bucket.
pub async fn compact_bucket<S: ObjectStore>(
    table: &FileStoreTable<S>,
    schema: &TableSchema,
    bucket: u32,
    files: &[DataFileMeta],
    file_prefix: &str,
    time_millis: i64,
) -> Result<Option<CompactionResult>, TableError> {
    let pick = pick_compaction;
    compact_picked(table, schema, bucket, files, file_prefix, time_millis, pick).await
}

/// [`compact_bucket`] as a dedicated compactor runs it: a write-only bucket at the stop trigger,
/// which its writers wait on, is compacted even when universal picking would leave it
/// ([`pick_compaction_for_waiting_writers`]).
pub async fn compact_bucket_dedicated<S: ObjectStore>(
    table: &FileStoreTable<S>,
    schema: &TableSchema,
    bucket: u32,
    files: &[DataFileMeta],
    file_prefix: &str,
    time_millis: i64,
) -> Result<Option<CompactionResult>, TableError> {
    let pick = pick_compaction_for_waiting_writers;
    compact_picked(table, schema, bucket, files, file_prefix, time_millis, pick).await
}

/// A picking rule: (number of newest runs, output level), or None when the bucket needs none.
type PickFn = fn(&[SortedRun], &TableOptions) -> Option<(usize, u32)>;

/// Picks with `pick` and runs one compaction over `files` (one bucket's live data files).
async fn compact_picked<S: ObjectStore>(
    table: &FileStoreTable<S>,
    schema: &TableSchema,
    bucket: u32,
    files: &[DataFileMeta],
    file_prefix: &str,
    time_millis: i64,
    pick: PickFn,
) -> Result<Option<CompactionResult>, TableError> {
    let runs = sorted_runs(files);
    let Some((count, output_level)) = pick(&runs, &schema.options) else {
        return Ok(None);
    };
    let inputs: Vec<DataFileMeta> = runs[..count].iter().flat_map(|r| r.files.clone()).collect();
    let full = count == runs.len();
    let output = MergeOutput {
        level: output_level,
        full,
        file_prefix,
        time_millis,
    };
    merge_files(table, schema, bucket, inputs, output)
        .await
        .map(Some)
}

/// A full compaction: every sorted run of the bucket into one run at the top level (what
/// `full-compaction.delta-commits` asks for). `None` when the bucket is empty or already one
/// top-level run.
pub async fn compact_bucket_full<S: ObjectStore>(
    table: &FileStoreTable<S>,
    schema: &TableSchema,
    bucket: u32,
    files: &[DataFileMeta],
    file_prefix: &str,
    time_millis: i64,
) -> Result<Option<CompactionResult>, TableError> {
    let runs = sorted_runs(files);
    let max_level = schema.options.max_level();
    if runs.is_empty() || (runs.len() == 1 && runs[0].level == max_level) {
        return Ok(None);
    }
    let output = MergeOutput {
        level: max_level,
        full: true,
        file_prefix,
        time_millis,
    };
    merge_files(table, schema, bucket, files.to_vec(), output)
        .await
        .map(Some)
}

/// Where and how a compaction writes its result.
struct MergeOutput<'a> {
    level: u32,
    /// All runs are merged: deletes can be dropped, and the full-compaction changelog is due.
    full: bool,
    file_prefix: &'a str,
    time_millis: i64,
}

/// Merges `inputs` with the table's merge engine into one file at `output.level`.
async fn merge_files<S: ObjectStore>(
    table: &FileStoreTable<S>,
    schema: &TableSchema,
    bucket: u32,
    inputs: Vec<DataFileMeta>,
    output: MergeOutput<'_>,
) -> Result<CompactionResult, TableError> {
    let MergeOutput {
        level: output_level,
        full,
        file_prefix,
        time_millis,
    } = output;
    let pk_indices = schema.primary_key_indices()?;
    let merge = MergeFunction::new(schema, &pk_indices)?;
    let max_level = schema.options.max_level();
    let changelog_wanted =
        full && schema.options.changelog_producer == ChangelogProducer::FullCompaction;
    // Walk the input runs' key order together (each file is sorted by key) and fold each key
    // with the merge engine; a key with one record, or plain deduplicate's newest record,
    // passes through without being copied out of its decoded columns.
    let mut io_bytes = 0;
    let mut runs = Vec::with_capacity(inputs.len());
    for file in &inputs {
        io_bytes += file.file_size;
        runs.push(table.read_run(bucket, file).await?);
    }
    let drop_deletes = full && !merge.keeps_tombstones();
    let last_wins = merge.is_last_wins();
    let mut outputs_in_order: Vec<Output> = Vec::new();
    let mut folded: Vec<(Key, i64, Merged)> = Vec::new();
    runs::for_each_key(&runs, |group| {
        let &(r, i) = group.last().expect("a key has records");
        if last_wins || group.len() == 1 {
            if !drop_deletes || runs[r].kinds[i].is_add() {
                outputs_in_order.push(Output::Run(r, i));
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
        if !drop_deletes || merged.is_live() {
            outputs_in_order.push(Output::Folded(folded.len()));
            folded.push((runs[r].key(i), runs[r].sequence_number(i), merged));
        }
    });
    let input_rows: u64 = inputs.iter().map(|f| f.row_count).sum();
    let input_bytes: u64 = inputs.iter().map(|f| f.file_size).sum();
    let rows_per_file = rows_per_output_file(
        schema.options.target_file_size_bytes,
        input_bytes,
        input_rows,
    );
    let mut outputs = Vec::new();
    // Rolling output (Paimon's `target-file-size`): sorted by key and one record per key, so
    // the files of the output level cover disjoint key ranges.
    for (index, chunk) in outputs_in_order.chunks(rows_per_file).enumerate() {
        let chunk = MergedRecords {
            runs: &runs,
            folded: &folded,
            outputs: chunk,
        };
        let name = if index == 0 {
            format!("data-{file_prefix}-compact-l{output_level}.parquet")
        } else {
            format!("data-{file_prefix}-compact-l{output_level}-{index}.parquet")
        };
        let path = table.bucket_file_path(bucket, &name);
        let encoded = format::encode(schema, &pk_indices, &chunk, &path)?;
        let mut meta = format::file_meta(
            name,
            encoded.len() as u64,
            &chunk,
            time_millis,
            FileContent::Data,
        );
        meta.level = output_level;
        meta.file_source = "COMPACT".to_string();
        io_bytes += meta.file_size;
        table.store().put(&path, encoded).await?;
        outputs.push(meta);
    }
    let mut changelog = Vec::new();
    if changelog_wanted {
        // The top level before this compaction, merged on its own: one sorted run, one record
        // per key, already merged.
        let mut top_level: Vec<(Key, i64, RowKind, Row)> = Vec::new();
        for (run, file) in runs.iter().zip(&inputs) {
            if file.level == max_level {
                top_level.extend(
                    (0..run.len())
                        .map(|i| (run.key(i), run.sequence_number(i), run.kinds[i], run.row(i))),
                );
            }
        }
        top_level.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let before = merge.merge_sorted(top_level);
        let all = MergedRecords {
            runs: &runs,
            folded: &folded,
            outputs: &outputs_in_order,
        };
        let merged: Vec<(Key, i64, Merged)> = (0..all.len())
            .map(|i| {
                let key = (0..pk_indices.len()).map(|k| all.key(i, k)).collect();
                let row = (0..schema.fields.len()).map(|f| all.value(i, f)).collect();
                let kind = all.kind(i);
                (key, all.sequence_number(i), Merged { kind, row })
            })
            .collect();
        let changes = diff_states(&before, &merged);
        if !changes.is_empty() {
            let name = format!("changelog-{file_prefix}-compact-l{output_level}.parquet");
            let path = table.bucket_file_path(bucket, &name);
            let encoded = format::encode(schema, &pk_indices, &changes[..], &path)?;
            let meta = format::file_meta(
                name,
                encoded.len() as u64,
                &changes[..],
                time_millis,
                FileContent::Changelog,
            );
            io_bytes += meta.file_size;
            table.store().put(&path, encoded).await?;
            changelog.push(meta);
        }
    }
    assert_outputs_replace_inputs(&inputs, &outputs, bucket);
    Ok(CompactionResult {
        before: inputs,
        after: outputs,
        io_bytes,
        changelog,
    })
}

/// What a compaction's output must be, whatever the inputs held: one sorted run (each file's
/// keys ascend, checked as it was written, and the files follow each other without overlap),
/// no more rows than the inputs, and only sequence numbers the inputs carried (a key keeps its
/// newest record's, so a level-0 file written later still wins over the output).
fn assert_outputs_replace_inputs(inputs: &[DataFileMeta], outputs: &[DataFileMeta], bucket: u32) {
    for pair in outputs.windows(2) {
        assert!(
            pair[0].max_key < pair[1].min_key,
            "bucket {bucket}: compaction outputs {} and {} overlap or are out of order",
            pair[0].file_name,
            pair[1].file_name
        );
    }
    let rows = |files: &[DataFileMeta]| files.iter().map(|f| f.row_count).sum::<u64>();
    assert!(
        rows(outputs) <= rows(inputs),
        "bucket {bucket}: a compaction wrote more rows than it read"
    );
    let nonempty = || inputs.iter().filter(|f| f.row_count > 0);
    let input_min = nonempty().map(|f| f.min_sequence_number).min();
    let input_max = nonempty().map(|f| f.max_sequence_number).max();
    for output in outputs {
        assert!(
            input_min.is_some_and(|min| min <= output.min_sequence_number)
                && input_max.is_some_and(|max| output.max_sequence_number <= max),
            "bucket {bucket}: compaction output {} has sequence numbers no input had",
            output.file_name
        );
    }
}

/// One record of a compaction's output: a decoded input record passed through as it is, or a
/// key's records folded by the merge engine (an index into the folded records).
#[derive(Clone, Copy)]
enum Output {
    Run(usize, usize),
    Folded(usize),
}

/// Compaction output records, read straight from the decoded runs where they pass through.
struct MergedRecords<'a> {
    runs: &'a [Run],
    folded: &'a [(Key, i64, Merged)],
    outputs: &'a [Output],
}

impl Records for MergedRecords<'_> {
    fn len(&self) -> usize {
        self.outputs.len()
    }
    fn key_width(&self) -> usize {
        self.runs.first().map_or(0, |run| run.keys.len())
    }
    fn key(&self, i: usize, k: usize) -> i64 {
        match self.outputs[i] {
            Output::Run(r, j) => self.runs[r].keys[k].values()[j],
            Output::Folded(f) => self.folded[f].0[k],
        }
    }
    fn sequence_number(&self, i: usize) -> i64 {
        match self.outputs[i] {
            Output::Run(r, j) => self.runs[r].sequence_number(j),
            Output::Folded(f) => self.folded[f].1,
        }
    }
    fn kind(&self, i: usize) -> RowKind {
        match self.outputs[i] {
            Output::Run(r, j) => self.runs[r].kinds[j],
            Output::Folded(f) => self.folded[f].2.kind,
        }
    }
    fn value(&self, i: usize, f: usize) -> i64 {
        match self.outputs[i] {
            Output::Run(r, j) => self.runs[r].values[f].values()[j],
            Output::Folded(x) => self.folded[x].2.row[f],
        }
    }
}

/// The changelog from one merged state of a bucket to another (both sorted by key): +I for new
/// keys, -D for gone keys, -U/+U for changed rows. Tombstones count as absent.
pub(crate) fn diff_states<'a>(
    before: &'a [(Key, i64, Merged)],
    after: &'a [(Key, i64, Merged)],
) -> Vec<RecordRef<'a>> {
    let live = |records: &'a [(Key, i64, Merged)]| {
        records
            .iter()
            .filter(|(_, _, m)| m.is_live())
            .map(|(key, seq, m)| (key, (*seq, &m.row)))
            .collect::<BTreeMap<&Key, (i64, &Row)>>()
    };
    let (before, after) = (live(before), live(after));
    let mut keys: Vec<&Key> = before.keys().chain(after.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    let mut changes = Vec::new();
    for key in keys {
        let record = |kind, (sequence_number, row): (i64, &'a Row)| RecordRef {
            key,
            sequence_number,
            kind,
            row,
        };
        match (before.get(key), after.get(key)) {
            (None, Some(&new)) => changes.push(record(RowKind::Insert, new)),
            (Some(&old), None) => changes.push(record(RowKind::Delete, old)),
            (Some(&old), Some(&new)) if old.1 != new.1 => {
                changes.push(record(RowKind::UpdateBefore, (new.0, old.1)));
                changes.push(record(RowKind::UpdateAfter, new));
            }
            _ => {}
        }
    }
    changes
}
