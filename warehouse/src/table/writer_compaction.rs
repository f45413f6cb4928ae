//! A bucket writer's compactions: after a flush (universal picking, or a full compaction every
//! `full-compaction.delta-commits`), at the stop trigger (the writer stalls until it is back
//! under it), and the file view a write-only writer keeps in step with a dedicated compactor.

use super::*;

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
    total.changelog.extend(next.changelog);
}
impl BucketWriter {
    /// Runs a full compaction of the bucket now (nothing pending is flushed): the commit
    /// message holds only the compaction. `None` when there is nothing to compact.
    pub async fn compact_full<S: ObjectStore>(
        &mut self,
        table: &FileStoreTable<S>,
        file_prefix: &str,
        time_millis: i64,
    ) -> Result<Option<CommitMessage>, TableError> {
        let Some(compaction) = self.compact(table, file_prefix, time_millis, true).await? else {
            return Ok(None);
        };
        Ok(Some(CommitMessage {
            partition: self.partition.clone(),
            bucket: self.bucket,
            new_files: Vec::new(),
            changelog_files: Vec::new(),
            compact_before: compaction.before,
            compact_after: compaction.after,
            compact_changelog_files: compaction.changelog,
        }))
    }

    /// One compaction (universal, or full when `full`), applied to this writer's file view.
    async fn compact<S: ObjectStore>(
        &mut self,
        table: &FileStoreTable<S>,
        prefix: &str,
        time_millis: i64,
        full: bool,
    ) -> Result<Option<CompactionResult>, TableError> {
        let (schema, partition, bucket) = (&self.schema, &self.partition[..], self.bucket);
        let files = &self.files;
        let result = if full {
            compaction::compact_bucket_full(
                table,
                schema,
                partition,
                bucket,
                files,
                prefix,
                time_millis,
            )
            .await?
        } else {
            compaction::compact_bucket(table, schema, partition, bucket, files, prefix, time_millis)
                .await?
        };
        let Some(compaction) = result else {
            return Ok(None);
        };
        let max_level = self.schema.options.max_level();
        if compaction.after.iter().any(|f| f.level == max_level)
            || (compaction.after.is_empty() && compaction.before.len() == self.files.len())
        {
            self.flushes_since_full_compaction = 0;
        }
        let replaced: std::collections::BTreeSet<&str> = compaction
            .before
            .iter()
            .map(|f| f.file_name.as_str())
            .collect();
        let files_before = self.files.len();
        self.files
            .retain(|f| !replaced.contains(f.file_name.as_str()));
        assert_eq!(
            files_before - self.files.len(),
            compaction.before.len(),
            "bucket {bucket}: a compaction replaced files the writer does not hold"
        );
        self.files.extend(compaction.after.iter().cloned());
        self.assert_output_level_is_one_run(&compaction);
        Ok(Some(compaction))
    }

    /// After a compaction, its output level holds exactly its outputs, with disjoint key ranges
    /// (a level above 0 is one sorted run). Universal compaction picks every run up to the
    /// output level, so no file of that level survives beside the outputs.
    fn assert_output_level_is_one_run(&self, compaction: &CompactionResult) {
        let Some(level) = compaction.after.first().map(|f| f.level) else {
            return;
        };
        assert!(
            level > 0 && compaction.after.iter().all(|f| f.level == level),
            "bucket {}: compaction outputs share one level above 0",
            self.bucket
        );
        let mut at_level: Vec<&DataFileMeta> =
            self.files.iter().filter(|f| f.level == level).collect();
        assert_eq!(
            at_level.len(),
            compaction.after.len(),
            "bucket {}: level {level} holds files beside the compaction's outputs",
            self.bucket
        );
        at_level.sort_by(|a, b| a.min_key.cmp(&b.min_key));
        for pair in at_level.windows(2) {
            assert!(
                !pair[0].overlaps(pair[1]),
                "bucket {}: level {level} files {} and {} overlap",
                self.bucket,
                pair[0].file_name,
                pair[1].file_name
            );
        }
    }

    /// The inline compaction after a flush. Below the stop trigger a failed compaction (say,
    /// storage briefly unreachable) is skipped and picked again at the next flush; at the stop
    /// trigger the flush stalls: it compacts until the runs are back under it, and a failure
    /// fails the flush (pending writes survive; the written files are orphans).
    pub(super) async fn compact_after_flush<S: ObjectStore>(
        &mut self,
        table: &FileStoreTable<S>,
        prefix: &str,
        time_millis: i64,
        full_due: bool,
    ) -> Result<CompactionResult, TableError> {
        self.last_stall = None;
        if self.schema.options.write_only {
            return Ok(CompactionResult::default());
        }
        let stop_trigger = self.schema.options.stop_trigger();
        let runs_before = self.sorted_run_count();
        if runs_before <= stop_trigger {
            let result = self.compact(table, prefix, time_millis, full_due).await;
            return Ok(result.ok().flatten().unwrap_or_default());
        }
        let mut total = CompactionResult::default();
        for round in 0..STALL_COMPACTIONS_MAX {
            if self.sorted_run_count() <= stop_trigger {
                break;
            }
            let stall_prefix = format!("{prefix}-stall{round}");
            let full = full_due && round == 0;
            let Some(result) = self
                .compact(table, &stall_prefix, time_millis, full)
                .await?
            else {
                break;
            };
            absorb(&mut total, result);
        }
        self.last_stall = Some(WriteStall {
            bucket: self.bucket,
            runs_before,
            runs_after: self.sorted_run_count(),
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
        self.sorted_run_count() + usize::from(self.has_pending())
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
