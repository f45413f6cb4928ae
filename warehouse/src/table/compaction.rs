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
    // Size ratio, from the newest run alone.
    if let Some(picked) = pick_by_size_ratio(runs, 1, options) {
        return Some(picked);
    }
    // Too many runs: the newest ones down to the trigger, grown by size ratio as above (Paimon
    // since FLINK-26971, apache/paimon#70: a large first run is not rewritten with one small
    // file at every trigger).
    if runs.len() > options.compaction_trigger {
        return pick_by_size_ratio(runs, runs.len() - options.compaction_trigger + 1, options);
    }
    None
}

/// Paimon's size-ratio picking from the newest `count` runs: the candidate grows by the next
/// run while that run is not much larger than the candidate so far. Once a compaction is
/// certain (two runs or more), runs of level 0 and 1 join it whatever their size
/// (apache/paimon#9185): otherwise level 1 takes each new level-0 file and grows without bound,
/// rewritten at every trigger.
fn pick_by_size_ratio(
    runs: &[SortedRun],
    mut count: usize,
    options: &TableOptions,
) -> Option<(usize, u32)> {
    let mut candidate_bytes: u64 = runs[..count].iter().map(|r| r.size_bytes).sum();
    for next in &runs[count..] {
        let much_larger =
            candidate_bytes * (100 + options.size_ratio_percent) < 100 * next.size_bytes;
        if much_larger && (count < 2 || next.level > 1) {
            break;
        }
        candidate_bytes += next.size_bytes;
        count += 1;
    }
    (count > 1).then(|| compaction_unit(runs, count, options.max_level()))
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
    Some(compaction_unit(runs, count, options.max_level()))
}

/// The unit merging the `count` newest runs, as Paimon makes it: into the level just below the
/// next run's, never level 0. When that would be 0 the unit takes the following level-0 runs and
/// the first run above level 0, and outputs at that run's level; a unit of every run outputs at
/// the top level.
fn compaction_unit(runs: &[SortedRun], mut count: usize, max_level: u32) -> (usize, u32) {
    let mut level = runs
        .get(count)
        .map_or(0, |next| next.level.saturating_sub(1));
    if level == 0 {
        for next in &runs[count..] {
            count += 1;
            if next.level != 0 {
                level = next.level;
                break;
            }
        }
    }
    if count == runs.len() {
        level = max_level;
    }
    (count, level)
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

#[cfg(test)]
mod picking_tests {
    use super::*;

    fn run(level: u32, size_bytes: u64) -> SortedRun {
        SortedRun {
            level,
            files: Vec::new(),
            size_bytes,
        }
    }

    /// A DWS bucket of the day (seed 1, at 04:18 local time): a checkpoint's level-0 file, level
    /// 1 grown from many such files, then levels 2-5. Picking by run count alone merged the
    /// first two, so level 1 took each new file and was rewritten at every checkpoint; grown by
    /// size ratio, the unit takes every run.
    #[test]
    fn run_count_picking_grows_by_size_ratio() {
        let options = TableOptions::default();
        assert_eq!(options.compaction_trigger, 5);
        let runs = [
            run(0, 13_708),
            run(1, 515_020),
            run(2, 20_742),
            run(3, 37_492),
            run(4, 88_138),
            run(5, 524_602),
        ];
        assert_eq!(pick_compaction(&runs, &options), Some((6, 5)));
    }

    /// Once two runs merge, level 1 joins them whatever its size, and the unit keeps growing by
    /// size ratio past it (picking stopped at level 1, which then grew by the new files).
    #[test]
    fn a_triggered_unit_takes_level_1_and_grows_past_it() {
        let options = TableOptions::default();
        let runs = [
            run(0, 10),
            run(0, 10),
            run(1, 1_000),
            run(2, 1_005),
            run(5, 100_000),
        ];
        assert_eq!(pick_compaction(&runs, &options), Some((4, 4)));
    }
}
