//! Universal compaction of one bucket's LSM tree, shared by writers that compact inline and by a
//! dedicated compactor: which sorted runs to merge (Paimon's universal picking), and what a
//! compaction reports. The merge itself, streamed, is `compaction_merge`.

use std::collections::BTreeMap;

use super::compaction_merge::{MergeOutput, merge_files};
use super::meta::DataFileMeta;
use super::{FileStoreTable, TableError, TableOptions, TableSchema};
use crate::env::ObjectStore;

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

/// Picks and runs one universal compaction over `files` (the live data files of one bucket of
/// `partition`), writing the merged files as `data-{file_prefix}-compact-l{level}[-i].parquet`.
/// `None` when the bucket needs none. The caller commits the result (a COMPACT snapshot) and
/// updates its view of the bucket.
pub async fn compact_bucket<S: ObjectStore>(
    table: &FileStoreTable<S>,
    schema: &TableSchema,
    partition: &[i64],
    bucket: u32,
    files: &[DataFileMeta],
    file_prefix: &str,
    time_millis: i64,
) -> Result<Option<CompactionResult>, TableError> {
    let pick = pick_compaction;
    let tree = (partition, bucket);
    compact_picked(table, schema, tree, files, file_prefix, time_millis, pick).await
}

/// [`compact_bucket`] as a dedicated compactor runs it: a write-only bucket at the stop trigger,
/// which its writers wait on, is compacted even when universal picking would leave it
/// ([`pick_compaction_for_waiting_writers`]).
pub async fn compact_bucket_dedicated<S: ObjectStore>(
    table: &FileStoreTable<S>,
    schema: &TableSchema,
    partition: &[i64],
    bucket: u32,
    files: &[DataFileMeta],
    file_prefix: &str,
    time_millis: i64,
) -> Result<Option<CompactionResult>, TableError> {
    let pick = pick_compaction_for_waiting_writers;
    let tree = (partition, bucket);
    compact_picked(table, schema, tree, files, file_prefix, time_millis, pick).await
}

/// A picking rule: (number of newest runs, output level), or None when the bucket needs none.
type PickFn = fn(&[SortedRun], &TableOptions) -> Option<(usize, u32)>;

/// Picks with `pick` and runs one compaction over `files` (one bucket's live data files).
async fn compact_picked<S: ObjectStore>(
    table: &FileStoreTable<S>,
    schema: &TableSchema,
    (partition, bucket): (&[i64], u32),
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
    merge_files(table, schema, partition, bucket, inputs, output)
        .await
        .map(Some)
}

/// A full compaction: every sorted run of the bucket into one run at the top level (what
/// `full-compaction.delta-commits` asks for). `None` when the bucket is empty or already one
/// top-level run.
pub async fn compact_bucket_full<S: ObjectStore>(
    table: &FileStoreTable<S>,
    schema: &TableSchema,
    partition: &[i64],
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
    merge_files(table, schema, partition, bucket, files.to_vec(), output)
        .await
        .map(Some)
}

/// What a compaction's output must be, whatever the inputs held: one sorted run (each file's
/// keys ascend, checked as it was written, and the files follow each other without overlap),
/// no more rows than the inputs, and only sequence numbers the inputs carried (a key keeps its
/// newest record's, so a level-0 file written later still wins over the output).
pub(crate) fn assert_outputs_replace_inputs(
    inputs: &[DataFileMeta],
    outputs: &[DataFileMeta],
    bucket: u32,
) {
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
