//! The job driver: restore from the latest completed checkpoint, then alternate processing with
//! checkpoints at the configured interval: barrier (snapshot state, prepare files), complete
//! (durable metadata), commit (publish one table snapshot per checkpoint).

use std::future::Future;
use std::time::Duration;

use crate::env::{Clock, Env, Journal};
use crate::stream::checkpoint::{CheckpointError, CheckpointStorage, CompletedCheckpoint};
use crate::table::{CommitMessage, TableError};
use crate::tt::client::TtClientError;

#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointConfig {
    /// Flink's `execution.checkpointing.interval`.
    pub interval_ms: i64,
    /// How long a job sleeps when its source had nothing new.
    pub idle_poll_ms: i64,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            interval_ms: 10_000,
            idle_poll_ms: 200,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Tt(#[from] TtClientError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("{0}")]
    State(String),
}

impl JobError {
    /// Transient errors are retried in place; anything else fails the job over.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Table(TableError::Store(crate::env::StoreError::Unavailable(_))) => true,
            Self::Tt(TtClientError::Net(_)) => true,
            Self::Checkpoint(error) => error.is_transient(),
            _ => false,
        }
    }
}

/// Sleeps before retry number `attempt` (0-based): 50 ms doubling up to 2 s.
pub async fn backoff_sleep(attempt: u32) {
    let delay_ms = 50u64.saturating_mul(1 << attempt.min(6)).min(2_000);
    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
}

/// Runs `op` until it succeeds or fails with a non-transient error.
pub async fn retry_transient<T, F, Fut>(mut op: F) -> Result<T, JobError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, JobError>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Err(error) if error.is_transient() => {
                backoff_sleep(attempt).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// A streaming job as the driver sees it. Each method retries its own transient errors where a
/// retry is safe, so an error returned here means the job must fail over.
pub trait StreamJob {
    fn name(&self) -> &str;
    /// Re-commits the checkpoint's committables (skipping what is already committed), then
    /// rebuilds operator state from the checkpoint and the tables.
    fn restore(
        &mut self,
        checkpoint: Option<&CompletedCheckpoint>,
    ) -> impl Future<Output = Result<(), JobError>>;
    /// Polls the source once and processes what arrived; returns records processed.
    fn process(&mut self) -> impl Future<Output = Result<usize, JobError>>;
    /// The barrier: source positions and the sink's prepared committables.
    fn snapshot_state(
        &mut self,
        checkpoint_id: i64,
    ) -> impl Future<Output = Result<(serde_json::Value, Vec<CommitMessage>), JobError>>;
    /// Called once the checkpoint is durable: publish its committables.
    fn commit(
        &mut self,
        checkpoint: &CompletedCheckpoint,
    ) -> impl Future<Output = Result<(), JobError>>;
}

/// Drives `job` forever (until its host is stopped) or until a non-transient error.
pub async fn run_job<E: Env, J: StreamJob>(
    env: &E,
    job: &mut J,
    config: &CheckpointConfig,
) -> Result<(), JobError> {
    let storage = CheckpointStorage::new(env.store().clone(), job.name());
    let restored = retry_transient(|| async { Ok(storage.latest().await?) }).await?;
    env.journal().record(
        "job-restore",
        format!(
            "job={} checkpoint={}",
            job.name(),
            restored.as_ref().map_or(0, |c| c.checkpoint_id)
        ),
    );
    job.restore(restored.as_ref()).await?;
    let mut next_checkpoint_id = restored.as_ref().map_or(1, |c| c.checkpoint_id + 1);
    let mut next_trigger_ms = env.clock().now_millis() + config.interval_ms;
    loop {
        let now_ms = env.clock().now_millis();
        if now_ms >= next_trigger_ms {
            checkpoint(env, job, &storage, next_checkpoint_id, now_ms).await?;
            next_checkpoint_id += 1;
            next_trigger_ms = env.clock().now_millis() + config.interval_ms;
            continue;
        }
        if job.process().await? == 0 {
            let wait_ms = config.idle_poll_ms.min(next_trigger_ms - now_ms).max(1);
            tokio::time::sleep(Duration::from_millis(wait_ms as u64)).await;
        }
    }
}

async fn checkpoint<E: Env, J: StreamJob>(
    env: &E,
    job: &mut J,
    storage: &CheckpointStorage<E::Store>,
    checkpoint_id: i64,
    triggered_at_ms: i64,
) -> Result<(), JobError> {
    env.journal().record(
        "checkpoint-start",
        format!("job={} checkpoint={checkpoint_id}", job.name()),
    );
    let (source_state, committables) = job.snapshot_state(checkpoint_id).await?;
    let files: usize = committables
        .iter()
        .map(|m| m.new_files.len() + m.changelog_files.len())
        .sum();
    let mut completed = CompletedCheckpoint {
        job: job.name().to_string(),
        checkpoint_id,
        triggered_at_ms,
        completed_at_ms: 0,
        source_state,
        committables,
    };
    completed.completed_at_ms = env.clock().now_millis();
    retry_transient(|| async { Ok(storage.complete(&completed).await?) }).await?;
    env.journal().record(
        "checkpoint-complete",
        format!(
            "job={} checkpoint={checkpoint_id} files={files} duration_ms={}",
            job.name(),
            completed.completed_at_ms - triggered_at_ms
        ),
    );
    job.commit(&completed).await
}
