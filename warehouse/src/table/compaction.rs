//! Universal compaction of one bucket's LSM tree, shared by writers that compact inline and by a
//! dedicated compactor: which sorted runs to merge (Paimon's universal picking) and the merge
//! itself, which writes one file at the output level and reports what it replaced.

use std::collections::BTreeMap;

use super::format::{self, RecordRef};
use super::meta::DataFileMeta;
use super::{FileStoreTable, Key, TableError, TableOptions, TableSchema};
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

/// What one compaction did: the files it replaced, the files it wrote, bytes read plus written.
#[derive(Debug, Default)]
pub struct CompactionResult {
    pub before: Vec<DataFileMeta>,
    pub after: Vec<DataFileMeta>,
    pub io_bytes: u64,
}

/// Picks and runs one universal compaction over `files` (one bucket's live data files), writing
/// the merged file as `data-{file_prefix}-compact-l{level}.parquet`. `None` when the bucket needs
/// none. The caller commits the result (a COMPACT snapshot) and updates its view of the bucket.
pub async fn compact_bucket<S: ObjectStore>(
    table: &FileStoreTable<S>,
    schema: &TableSchema,
    bucket: u32,
    files: &[DataFileMeta],
    file_prefix: &str,
    time_millis: i64,
) -> Result<Option<CompactionResult>, TableError> {
    let runs = sorted_runs(files);
    let Some((count, output_level)) = pick_compaction(&runs, &schema.options) else {
        return Ok(None);
    };
    let drop_deletes = count == runs.len();
    let inputs: Vec<DataFileMeta> = runs[..count].iter().flat_map(|r| r.files.clone()).collect();
    let pk_indices = schema.primary_key_indices()?;
    // Gather every input record, then sort by key with the newest first and keep the first
    // per key: far cheaper than inserting into an ordered map record by record.
    let mut merged: Vec<(Key, i64, RowKind, Row)> = Vec::new();
    let mut io_bytes = 0;
    for file in &inputs {
        io_bytes += file.file_size;
        for (kind, sequence_number, row) in table.read_data_file(bucket, file).await? {
            let key: Key = pk_indices.iter().map(|&i| row[i]).collect();
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
        let name = format!("data-{file_prefix}-compact-l{output_level}.parquet");
        let path = table.bucket_file_path(bucket, &name);
        let encoded = format::encode(schema, &pk_indices, &records, &path)?;
        let mut meta = super::writer::file_meta(name, encoded.len() as u64, &records, time_millis);
        meta.level = output_level;
        meta.file_source = "COMPACT".to_string();
        io_bytes += meta.file_size;
        table.store().put(&path, encoded).await?;
        outputs.push(meta);
    }
    Ok(Some(CompactionResult {
        before: inputs,
        after: outputs,
        io_bytes,
    }))
}
