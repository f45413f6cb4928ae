//! The Paimon sink both ad jobs share: table calls retried through transient failures, every
//! bucket's files prepared at the barrier, and a checkpoint's committables committed once.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::env::{Buggify, Clock, Env, Journal, JournalKind, StoreError};
use crate::stream::runtime::{join_all, retry_transient};
use crate::stream::{CompletedCheckpoint, JobError, backoff_sleep};
use crate::table::{
    BucketWriter, CommitMessage, CommitOutcome, FileStoreTable, HeldRows, Snapshot, TableError,
};

/// A job's committer: its Paimon `commitUser`, and the commit identifiers this attempt of the
/// job handed each table, checked as they go. Flink's committer commits the restored checkpoint
/// first and then each completed checkpoint once, in order, so per table the identifiers of one
/// commitUser strictly increase. A restore begins a new attempt.
#[derive(Debug)]
pub(crate) struct Committer {
    commit_user: String,
    last_identifiers: RefCell<BTreeMap<String, i64>>,
}

impl Committer {
    pub(crate) fn new(commit_user: &str) -> Self {
        Self {
            commit_user: commit_user.to_string(),
            last_identifiers: RefCell::new(BTreeMap::new()),
        }
    }

    pub(crate) fn commit_user(&self) -> &str {
        &self.commit_user
    }

    /// Forgets the previous attempt's commits (a restore re-commits its checkpoint).
    pub(crate) fn restart(&self) {
        self.last_identifiers.borrow_mut().clear();
    }

    /// Records that `identifier` is about to be committed to the table at `root`.
    ///
    /// # Panics
    /// If this attempt already committed `identifier` or a later one to that table.
    fn record(&self, root: &str, identifier: i64) {
        let previous = self
            .last_identifiers
            .borrow_mut()
            .insert(root.to_string(), identifier);
        assert!(
            previous.is_none_or(|previous| previous < identifier),
            "{} committed identifier {previous:?} to {root} before {identifier}: commit identifiers must strictly increase",
            self.commit_user
        );
    }
}

/// Retries a table call until it succeeds or fails with a non-transient error.
pub(crate) async fn retry_table<T, F, Fut>(mut op: F) -> Result<T, JobError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, TableError>>,
{
    retry_transient(|| {
        let call = op();
        async move { Ok(call.await?) }
    })
    .await
}

/// A transient failure injected at a BUGGIFY site.
fn buggified(what: &str) -> JobError {
    JobError::Table(TableError::Store(StoreError::Unavailable(format!(
        "buggify: {what}"
    ))))
}

/// How long write-only writers wait at `num-sorted-run.stop-trigger` for the dedicated compactor
/// before the checkpoint fails (the job fails over and retries, so a compactor that is down
/// stalls the pipeline but never deadlocks it).
pub const WRITE_STALL_WAIT_MAX_MS: i64 = 60_000;
/// How often a stalled write-only writer looks for the compactor's progress.
const WRITE_STALL_POLL_MS: u64 = 500;

/// Write-only tables: refreshes each writer's view of its bucket from the latest snapshot (the
/// dedicated compactor's work), then waits while a flush would leave a bucket above the stop
/// trigger. Traces `write-stall` when the wait starts and `write-stall-end` when it ends.
async fn wait_for_compactor<E: Env>(
    env: &E,
    table: &FileStoreTable<E::Store>,
    writers: &mut [BucketWriter],
) -> Result<(), JobError> {
    let options = &table.schema().options;
    if !options.write_only {
        return Ok(());
    }
    let stop_trigger = options.stop_trigger();
    let table_name = table
        .root()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let started_ms = env.clock().now_millis();
    let mut stalled = false;
    loop {
        let latest = retry_table(|| table.latest_snapshot()).await?;
        let live = match &latest {
            Some(snapshot) => retry_table(|| table.data_files(snapshot)).await?,
            None => Vec::new(),
        };
        for writer in writers.iter_mut() {
            // The writer's LSM tree: its bucket of its partition.
            let tree_files = live
                .iter()
                .filter(|e| e.bucket == writer.bucket() && e.partition == writer.partition())
                .map(|e| e.file.clone())
                .collect();
            writer.sync_files(tree_files);
        }
        let worst = writers
            .iter()
            .map(|w| (w.sorted_runs_after_flush(), w.bucket()))
            .max();
        let waited_ms = env.clock().now_millis() - started_ms;
        match worst {
            Some((runs, bucket)) if runs > stop_trigger => {
                if !stalled {
                    stalled = true;
                    env.journal().record(
                        JournalKind::WriteStall,
                        format!(
                            "table={table_name} bucket={bucket} sorted_runs={runs} stop_trigger={stop_trigger} waiting_for=compactor"
                        ),
                    );
                }
                if waited_ms >= WRITE_STALL_WAIT_MAX_MS {
                    env.journal().record(
                        JournalKind::WriteStallTimeout,
                        format!("table={table_name} bucket={bucket} sorted_runs={runs} waited_ms={waited_ms}"),
                    );
                    return Err(JobError::State(format!(
                        "table {table_name} bucket {bucket} has {runs} sorted runs, above num-sorted-run.stop-trigger {stop_trigger}, and the dedicated compactor did not reduce them within {WRITE_STALL_WAIT_MAX_MS} ms; is the compactor running?"
                    )));
                }
                tokio::time::sleep(std::time::Duration::from_millis(WRITE_STALL_POLL_MS)).await;
            }
            _ => {
                if stalled {
                    env.journal().record(
                        JournalKind::WriteStallEnd,
                        format!("table={table_name} waited_ms={waited_ms}"),
                    );
                }
                return Ok(());
            }
        }
    }
}

/// Prepares every writer's files, retrying each bucket in place so no prepared work is lost.
/// Write-only writers first wait for the dedicated compactor at the stop trigger; inline
/// writers that stall (compact at the stop trigger) are traced as `write-stall`. The writers of
/// one subtask (bucket `b` belongs to subtask `b % subtasks`) prepare one after another; the
/// subtasks prepare side by side, as Flink's parallel sink subtasks upload their files.
pub(crate) async fn prepare_all<E: Env>(
    env: &E,
    table: &FileStoreTable<E::Store>,
    writers: &mut [BucketWriter],
    file_prefix: &str,
    time_millis: i64,
    subtasks: u32,
) -> Result<Vec<CommitMessage>, JobError> {
    wait_for_compactor(env, table, writers).await?;
    let lane_count = subtasks.max(1) as usize;
    let mut lanes: Vec<Vec<(usize, &mut BucketWriter)>> =
        (0..lane_count).map(|_| Vec::new()).collect();
    for (index, writer) in writers.iter_mut().enumerate() {
        lanes[writer.bucket() as usize % lane_count].push((index, writer));
    }
    let prepared = join_all(lanes.into_iter().filter(|lane| !lane.is_empty()).map(
        |lane| async move {
            let mut out = Vec::with_capacity(lane.len());
            for (index, writer) in lane {
                out.push((
                    index,
                    prepare_one(env, table, writer, file_prefix, time_millis).await?,
                ));
            }
            Ok::<_, JobError>(out)
        },
    ))
    .await;
    let mut by_writer = Vec::with_capacity(writers.len());
    for lane in prepared {
        by_writer.extend(lane?);
    }
    by_writer.sort_by_key(|(index, _)| *index);
    Ok(by_writer
        .into_iter()
        .flat_map(|(_, message)| message)
        .collect())
}

/// A writer for every bucket of `table` continuing from `snapshot` (None: the empty table), as
/// a restore builds them: the snapshot's manifests are read once, then each subtask (bucket `b`
/// belongs to subtask `b % subtasks`) reads its buckets' files one after another while the
/// subtasks read side by side, as Flink's sink subtasks restore in parallel. For a partitioned
/// table, a writer for every bucket of every partition the snapshot holds files of, in
/// (bucket, partition) order; other partitions' writers start empty when first written.
pub(crate) async fn load_writers<E: Env>(
    table: &FileStoreTable<E::Store>,
    snapshot: Option<&Snapshot>,
    subtasks: u32,
    held: HeldRows,
) -> Result<Vec<BucketWriter>, JobError> {
    let bucket_count = table.schema().options.bucket;
    let files = match snapshot {
        Some(snapshot) => retry_table(|| table.data_files(snapshot)).await?,
        None => Vec::new(),
    };
    // The LSM trees to restore: every bucket of an unpartitioned table; the buckets of a
    // partitioned one's partitions that hold files.
    let trees: std::collections::BTreeSet<(u32, &[i64])> = if table.is_partitioned() {
        files.iter().map(|e| (e.bucket, &e.partition[..])).collect()
    } else {
        (0..bucket_count).map(|bucket| (bucket, &[][..])).collect()
    };
    let lane_count = subtasks.clamp(1, bucket_count.max(1));
    let (files, trees) = (&files, &trees);
    let loaded = join_all((0..lane_count).map(|lane| async move {
        let mut out = Vec::new();
        for &(bucket, partition) in trees.iter().filter(|t| t.0 % lane_count == lane) {
            let state = retry_table(|| table.read_bucket_of(files, partition, bucket)).await?;
            let partition = partition.to_vec();
            let writer = BucketWriter::of_partition(table.schema(), partition, bucket, state, held);
            out.push(writer);
        }
        Ok::<_, JobError>(out)
    }))
    .await;
    let mut writers = Vec::with_capacity(trees.len());
    for lane in loaded {
        writers.extend(lane?);
    }
    writers.sort_by(|a, b| (a.bucket(), a.partition()).cmp(&(b.bucket(), b.partition())));
    assert!(
        table.is_partitioned()
            || writers
                .iter()
                .enumerate()
                .all(|(i, w)| w.bucket() == i as u32),
        "a restore must build exactly one writer per bucket, in bucket order"
    );
    Ok(writers)
}

/// One writer's files for a checkpoint, retried in place through transient failures.
async fn prepare_one<E: Env>(
    env: &E,
    table: &FileStoreTable<E::Store>,
    writer: &mut BucketWriter,
    file_prefix: &str,
    time_millis: i64,
) -> Result<Option<CommitMessage>, JobError> {
    // BUGGIFY: a slow flush (a GC pause or a slow encoder) holds the barrier.
    if env.buggify().fire("sink.slow-flush") {
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    }
    let mut attempt = 0;
    loop {
        match writer.prepare_commit(table, file_prefix, time_millis).await {
            Ok(message) => {
                if let Some(stall) = writer.last_stall() {
                    env.journal().record(
                        JournalKind::WriteStall,
                        format!(
                            "table={} bucket={} sorted_runs={} runs_after={} io_bytes={} compacted=inline",
                            table.root().rsplit('/').next().unwrap_or_default(),
                            stall.bucket,
                            stall.runs_before,
                            stall.runs_after,
                            stall.io_bytes
                        ),
                    );
                }
                return Ok(message);
            }
            Err(error) => {
                let error = JobError::from(error);
                if !error.is_transient() {
                    return Err(error);
                }
                backoff_sleep(attempt).await;
                attempt += 1;
            }
        }
    }
}

/// Work of each writer subtask for a checkpoint's flush: bucket `b` belongs to subtask
/// `b % parallelism`; records written, and bytes written plus bytes compaction read.
pub(crate) fn writer_work(messages: &[CommitMessage], parallelism: u32) -> Vec<(u64, u64)> {
    let mut lanes = vec![(0u64, 0u64); parallelism.max(1) as usize];
    for message in messages {
        let lane_count = lanes.len();
        let lane = &mut lanes[message.bucket as usize % lane_count];
        let written = message
            .new_files
            .iter()
            .chain(&message.changelog_files)
            .chain(&message.compact_after);
        lane.0 += message.new_files.iter().map(|f| f.row_count).sum::<u64>();
        lane.1 += written
            .chain(&message.compact_before)
            .map(|f| f.file_size)
            .sum::<u64>();
    }
    lanes
}

/// Commits a checkpoint's committables as one snapshot (filterAndCommit), retrying transients.
pub(crate) async fn commit_checkpoint<E: Env>(
    env: &E,
    committer: &Committer,
    table: &FileStoreTable<E::Store>,
    checkpoint: &CompletedCheckpoint,
    file_prefix: &str,
) -> Result<CommitOutcome, JobError> {
    commit_messages(
        env,
        committer,
        table,
        checkpoint.checkpoint_id,
        checkpoint.committables.clone(),
        None,
        file_prefix,
    )
    .await
}

/// Commits `messages` as the snapshot of checkpoint `identifier` (filterAndCommit) with the
/// job's `watermark`, retrying transients.
pub(crate) async fn commit_messages<E: Env>(
    env: &E,
    committer: &Committer,
    table: &FileStoreTable<E::Store>,
    identifier: i64,
    messages: Vec<CommitMessage>,
    watermark: Option<i64>,
    file_prefix: &str,
) -> Result<CommitOutcome, JobError> {
    let commit_user = committer.commit_user();
    committer.record(table.root(), identifier);
    let compacted = messages.iter().any(CommitMessage::has_compaction);
    let outcome = retry_transient(|| async {
        // BUGGIFY: the snapshot rename fails before publishing, or succeeds but its reply is
        // lost; either way the retry must commit exactly once (filterAndCommit).
        if env.buggify().fire("sink.commit-rename-fails") {
            return Err(buggified("commit rename failed"));
        }
        let outcome = table
            .commit(
                commit_user,
                identifier,
                messages.clone(),
                watermark,
                env.clock().now_millis(),
                file_prefix,
            )
            .await?;
        if env.buggify().fire("sink.commit-reply-lost") {
            return Err(buggified("commit succeeded but its reply was lost"));
        }
        Ok(outcome)
    })
    .await?;
    if let CommitOutcome::Committed {
        snapshot_id,
        compact_snapshot_id: Some(compact_snapshot_id),
    } = outcome
    {
        // The writers' compaction is a second snapshot after the APPEND, and only when they
        // compacted.
        assert!(
            compacted && compact_snapshot_id > snapshot_id,
            "COMPACT snapshot {compact_snapshot_id} of APPEND snapshot {snapshot_id} out of order"
        );
    }
    if let CommitOutcome::Committed {
        snapshot_id,
        compact_snapshot_id,
    } = outcome
    {
        maintain_after_commit(env, table, compact_snapshot_id.unwrap_or(snapshot_id)).await;
    }
    let (verb, snapshot_id) = match outcome {
        CommitOutcome::Committed { snapshot_id, .. } => ("committed", snapshot_id),
        CommitOutcome::AlreadyCommitted { snapshot_id } => {
            ("skipped-already-committed", snapshot_id)
        }
    };
    let committed = matches!(outcome, CommitOutcome::Committed { .. });
    env.journal().record(
        JournalKind::Commit { committed },
        format!(
            "table={} user={commit_user} identifier={} snapshot={snapshot_id} outcome={verb}",
            table.root().rsplit('/').next().unwrap_or_default(),
            identifier
        ),
    );
    Ok(outcome)
}

/// What Paimon's committer does after a successful commit: expire consumers and snapshots (unless
/// `write-only`), then create and retire automatic tags. A failure is journaled and left for the
/// next commit to retry; it never fails the job (files it leaks are orphans).
pub(crate) async fn maintain_after_commit<E: Env>(
    env: &E,
    table: &FileStoreTable<E::Store>,
    snapshot_id: i64,
) {
    let name = table
        .root()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let now = env.clock().now_millis();
    if !table.schema().options.write_only {
        match table.expire_snapshots(now).await {
            Ok(report) => {
                if let Some((first, end)) = report.expired {
                    env.journal().record(
                        JournalKind::Expire,
                        format!(
                            "table={name} snapshots={first}..{} data_files={} changelog_files={} manifests={} leaked={}",
                            end - 1,
                            report.data_files_deleted,
                            report.changelog_files_deleted,
                            report.manifest_files_deleted,
                            report.delete_failures
                        ),
                    );
                }
                for consumer in report.consumers_expired {
                    env.journal().record(
                        JournalKind::ConsumerExpire,
                        format!("table={name} consumer={consumer}"),
                    );
                }
            }
            Err(error) => env.journal().record(
                JournalKind::ExpireFailed,
                format!("table={name} error={error}"),
            ),
        }
    }
    match table.auto_tag(snapshot_id, now).await {
        Ok(report) => {
            if let Some(tag) = report.created {
                env.journal().record(
                    JournalKind::TagCreate,
                    format!("table={name} tag={tag} snapshot={snapshot_id}"),
                );
            }
            for tag in report.deleted {
                env.journal()
                    .record(JournalKind::TagDelete, format!("table={name} tag={tag}"));
            }
        }
        Err(error) => env.journal().record(
            JournalKind::TagFailed,
            format!("table={name} error={error}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::Committer;

    #[test]
    fn identifiers_increase_per_table_within_an_attempt() {
        let committer = Committer::new("u");
        committer.record("t/dws", 3);
        committer.record("t/late", 3);
        committer.record("t/dws", 4);
        committer.restart();
        committer.record("t/dws", 4);
    }

    #[test]
    #[should_panic(expected = "commit identifiers must strictly increase")]
    fn a_repeated_identifier_is_a_bug() {
        let committer = Committer::new("u");
        committer.record("t/dws", 4);
        committer.record("t/dws", 4);
    }
}
