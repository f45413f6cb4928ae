//! The Paimon sink both ad jobs share: table calls retried through transient failures, every
//! bucket's files prepared at the barrier, and a checkpoint's committables committed once.

use crate::env::{Buggify, Clock, Env, Journal, StoreError};
use crate::stream::runtime::retry_transient;
use crate::stream::{CompletedCheckpoint, JobError, backoff_sleep};
use crate::table::{BucketWriter, CommitMessage, CommitOutcome, FileStoreTable, TableError};

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

/// Prepares every writer's files, retrying each bucket in place so no prepared work is lost.
pub(crate) async fn prepare_all<S: crate::env::ObjectStore>(
    buggify: &impl Buggify,
    table: &FileStoreTable<S>,
    writers: &mut [BucketWriter],
    file_prefix: &str,
    time_millis: i64,
) -> Result<Vec<CommitMessage>, JobError> {
    let mut messages = Vec::new();
    for writer in writers.iter_mut() {
        // BUGGIFY: a slow flush (a GC pause or a slow encoder) holds the barrier.
        if buggify.fire("sink.slow-flush") {
            tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        }
        let mut attempt = 0;
        loop {
            match writer.prepare_commit(table, file_prefix, time_millis).await {
                Ok(message) => {
                    messages.extend(message);
                    break;
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
    Ok(messages)
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
    table: &FileStoreTable<E::Store>,
    commit_user: &str,
    checkpoint: &CompletedCheckpoint,
    file_prefix: &str,
) -> Result<CommitOutcome, JobError> {
    commit_messages(
        env,
        table,
        commit_user,
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
    table: &FileStoreTable<E::Store>,
    commit_user: &str,
    identifier: i64,
    messages: Vec<CommitMessage>,
    watermark: Option<i64>,
    file_prefix: &str,
) -> Result<CommitOutcome, JobError> {
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
    let (verb, snapshot_id) = match outcome {
        CommitOutcome::Committed { snapshot_id, .. } => ("committed", snapshot_id),
        CommitOutcome::AlreadyCommitted { snapshot_id } => {
            ("skipped-already-committed", snapshot_id)
        }
    };
    env.journal().record(
        "commit",
        format!(
            "table={} user={commit_user} identifier={} snapshot={snapshot_id} outcome={verb}",
            table.root().rsplit('/').next().unwrap_or_default(),
            identifier
        ),
    );
    Ok(outcome)
}
