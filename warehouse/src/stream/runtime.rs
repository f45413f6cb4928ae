//! The job driver: restore from the latest completed checkpoint, then alternate processing with
//! checkpoints at the configured interval: barrier (snapshot state, prepare files), complete
//! (durable metadata), commit (publish one table snapshot per checkpoint).

use std::future::Future;
use std::time::Duration;

// tokio's clock, not the OS's: under turmoil it is the simulated clock, so checkpoint timing
// stays deterministic (std's `Instant::now` is a disallowed method, see clippy.toml).
use tokio::time::Instant;

use crate::env::{Buggify, Clock, Env, Journal, JournalKind};
use crate::stream::checkpoint::{CheckpointError, CheckpointStorage, CompletedCheckpoint};
use crate::table::{CommitMessage, TableError};
use crate::tt::client::TtClientError;

/// How the checkpoint interval is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum IntervalPolicy {
    /// Flink's `execution.checkpointing.interval`, always.
    Fixed,
    /// Traffic-driven: short when the input is quiet (freshness), long at peak load (throughput
    /// and fewer small files), interpolated linearly on the input rate in between.
    TrafficDriven {
        quiet_interval_ms: i64,
        peak_interval_ms: i64,
        quiet_records_per_s: u64,
        peak_records_per_s: u64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointConfig {
    /// Flink's `execution.checkpointing.interval` (the `Fixed` policy's interval).
    pub interval_ms: i64,
    pub policy: IntervalPolicy,
    /// Flink's `execution.checkpointing.interval-during-backlog`: used while a source reports
    /// that it is processing backlog. `None` keeps the policy's interval.
    pub interval_during_backlog_ms: Option<i64>,
    /// Flink's `execution.checkpointing.timeout`: a checkpoint not complete by then is declined.
    pub timeout_ms: i64,
    /// Flink's `execution.checkpointing.tolerable-failed-checkpoints`: consecutive declined
    /// checkpoints beyond this fail the job over.
    pub tolerable_failed_checkpoints: u32,
    /// How long a job sleeps when its source had nothing new.
    pub idle_poll_ms: i64,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            interval_ms: 10_000,
            policy: IntervalPolicy::Fixed,
            interval_during_backlog_ms: None,
            timeout_ms: 600_000,
            tolerable_failed_checkpoints: 0,
            idle_poll_ms: 200,
        }
    }
}

impl CheckpointConfig {
    /// The interval before the next checkpoint, given the input rate since the last one and
    /// whether a source is processing backlog.
    pub fn next_interval_ms(&self, records_per_s: u64, processing_backlog: bool) -> i64 {
        if processing_backlog && let Some(backlog_ms) = self.interval_during_backlog_ms {
            return backlog_ms;
        }
        match self.policy {
            IntervalPolicy::Fixed => self.interval_ms,
            IntervalPolicy::TrafficDriven {
                quiet_interval_ms,
                peak_interval_ms,
                quiet_records_per_s,
                peak_records_per_s,
            } => {
                if records_per_s <= quiet_records_per_s {
                    return quiet_interval_ms;
                }
                if records_per_s >= peak_records_per_s {
                    return peak_interval_ms;
                }
                let span = (peak_records_per_s - quiet_records_per_s) as i128;
                let above = (records_per_s - quiet_records_per_s) as i128;
                let delta = (peak_interval_ms - quiet_interval_ms) as i128;
                (quiet_interval_ms as i128 + delta * above / span) as i64
            }
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
    #[error(
        "{failed} consecutive checkpoints failed (the last: {reason}); \
         execution.checkpointing.tolerable-failed-checkpoints is {tolerable}"
    )]
    TooManyFailedCheckpoints {
        failed: u32,
        tolerable: u32,
        reason: String,
    },
}

impl JobError {
    /// The snapshot a reader needed next and found expired (Paimon's OutOfRange), if that is
    /// why the job failed.
    pub fn expired_snapshot(&self) -> Option<i64> {
        match self {
            Self::Table(TableError::SnapshotExpired { id }) => Some(*id),
            _ => None,
        }
    }

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
/// Runs futures side by side on the current task and returns their outputs in order. Each pass
/// polls the unfinished ones in index order, so a single-threaded run stays deterministic; with
/// one future it behaves exactly as awaiting that future.
pub async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    /// A future and, once it finished, its output.
    type Slot<F> = (std::pin::Pin<Box<F>>, Option<<F as Future>::Output>);
    let mut slots: Vec<Slot<F>> = futures
        .into_iter()
        .map(|future| (Box::pin(future), None))
        .collect();
    std::future::poll_fn(move |cx| {
        let mut pending = false;
        for (future, output) in slots.iter_mut() {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            return std::task::Poll::Pending;
        }
        std::task::Poll::Ready(
            slots
                .iter_mut()
                .map(|(_, output)| output.take().expect("every future finished"))
                .collect(),
        )
    })
    .await
}

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
    /// Flink's `isProcessingBacklog`: the source is far behind its input, so checkpoints may
    /// space out (`execution.checkpointing.interval-during-backlog`).
    fn is_processing_backlog(&self) -> bool {
        false
    }
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
        JournalKind::JobRestore,
        format!(
            "job={} checkpoint={}",
            job.name(),
            restored.as_ref().map_or(0, |c| c.checkpoint_id)
        ),
    );
    job.restore(restored.as_ref()).await?;
    let mut next_checkpoint_id = restored.as_ref().map_or(1, |c| c.checkpoint_id + 1);
    let mut interval_ms = config.next_interval_ms(0, false);
    // Scheduling runs on monotonic time, as Flink's coordinator does: a wall clock that is
    // skewed (or jumps back) must never stall or rush checkpoints.
    let mut last_trigger = Instant::now();
    let mut records_since_trigger: u64 = 0;
    // Committables of declined checkpoints: their files are written, so they ride along with
    // the next checkpoint that completes (as Paimon's committer keeps them).
    let mut carried: Vec<CommitMessage> = Vec::new();
    let mut failed_in_a_row: u32 = 0;
    loop {
        let now = Instant::now();
        let next_trigger = last_trigger + Duration::from_millis(interval_ms.max(1) as u64);
        if now >= next_trigger {
            let elapsed_ms = (now - last_trigger).as_millis().max(1) as u64;
            let now_ms = env.clock().now_millis();
            let records_per_s = records_since_trigger * 1000 / elapsed_ms;
            let outcome = checkpoint(
                env,
                job,
                &storage,
                config,
                Trigger {
                    checkpoint_id: next_checkpoint_id,
                    wall_ms: now_ms,
                    at: now,
                },
                &mut carried,
            )
            .await?;
            next_checkpoint_id += 1;
            match outcome {
                Ok(()) => failed_in_a_row = 0,
                Err(reason) => {
                    failed_in_a_row += 1;
                    if failed_in_a_row > config.tolerable_failed_checkpoints {
                        return Err(JobError::TooManyFailedCheckpoints {
                            failed: failed_in_a_row,
                            tolerable: config.tolerable_failed_checkpoints,
                            reason,
                        });
                    }
                }
            }
            let next_interval_ms =
                config.next_interval_ms(records_per_s, job.is_processing_backlog());
            if next_interval_ms != interval_ms {
                env.journal().record(
                    JournalKind::CheckpointInterval,
                    format!(
                        "job={} interval_ms={next_interval_ms} records_per_s={records_per_s} backlog={}",
                        job.name(),
                        job.is_processing_backlog()
                    ),
                );
                interval_ms = next_interval_ms;
            }
            last_trigger = Instant::now();
            records_since_trigger = 0;
            continue;
        }
        let processed = job.process().await?;
        records_since_trigger += processed as u64;
        if processed == 0 {
            let wait_ms = (config.idle_poll_ms.max(1) as u64)
                .min((next_trigger - now).as_millis() as u64)
                .max(1);
            tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        }
    }
}

/// When a checkpoint was triggered: its id, the wall clock (for its metadata) and monotonic
/// time (for its timeout).
struct Trigger {
    checkpoint_id: i64,
    wall_ms: i64,
    at: Instant,
}

/// One checkpoint: barrier, completion within the timeout, commit. `Ok(Err(reason))` when the
/// checkpoint was declined (timed out); its committables then stay in `carried`.
async fn checkpoint<E: Env, J: StreamJob>(
    env: &E,
    job: &mut J,
    storage: &CheckpointStorage<E::Store>,
    config: &CheckpointConfig,
    trigger: Trigger,
    carried: &mut Vec<CommitMessage>,
) -> Result<Result<(), String>, JobError> {
    let Trigger {
        checkpoint_id,
        wall_ms: triggered_at_ms,
        at: triggered_at,
    } = trigger;
    env.journal().record(
        JournalKind::CheckpointStart,
        format!("job={} checkpoint={checkpoint_id}", job.name()),
    );
    // BUGGIFY: the barrier is delayed (slow alignment behind a busy operator).
    if env.buggify().fire("checkpoint.delayed-barrier") {
        tokio::time::sleep(Duration::from_millis(2_000)).await;
    }
    // The barrier is never cut short: it flushes writers, whose files must not be half-known.
    let (source_state, committables) = job.snapshot_state(checkpoint_id).await?;
    carried.extend(committables);
    let files: usize = carried
        .iter()
        .map(|m| m.new_files.len() + m.changelog_files.len())
        .sum();
    let mut completed = CompletedCheckpoint {
        job: job.name().to_string(),
        checkpoint_id,
        triggered_at_ms,
        completed_at_ms: 0,
        source_state,
        committables: carried.clone(),
    };
    let deadline = triggered_at + Duration::from_millis(config.timeout_ms.max(0) as u64);
    let remaining_ms = deadline
        .saturating_duration_since(Instant::now())
        .as_millis() as i64;
    completed.completed_at_ms = env.clock().now_millis();
    let completion =
        async { retry_transient(|| async { Ok(storage.complete(&completed).await?) }).await };
    let declined = if remaining_ms <= 0 {
        Some("the barrier took longer than the timeout".to_string())
    } else {
        match tokio::time::timeout(Duration::from_millis(remaining_ms as u64), completion).await {
            Ok(result) => {
                result?;
                None
            }
            Err(_) => Some("checkpoint storage did not acknowledge before the timeout".to_string()),
        }
    };
    if let Some(reason) = declined {
        env.journal().record(
            JournalKind::CheckpointDeclined,
            format!(
                "job={} checkpoint={checkpoint_id} timeout_ms={} reason={reason}",
                job.name(),
                config.timeout_ms
            ),
        );
        return Ok(Err(format!("checkpoint {checkpoint_id}: {reason}")));
    }
    carried.clear();
    env.journal().record(
        JournalKind::CheckpointComplete,
        format!(
            "job={} checkpoint={checkpoint_id} files={files} duration_ms={}",
            job.name(),
            completed.completed_at_ms - triggered_at_ms
        ),
    );
    job.commit(&completed).await.map(Ok)
}
