//! Tests of the job driver's checkpoint policies: traffic-driven and backlog intervals, declined
//! (timed-out) checkpoints whose committables ride along with the next one, and failover once
//! more checkpoints fail in a row than `tolerable-failed-checkpoints` allows.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use super::checkpoint::CompletedCheckpoint;
use super::runtime::{CheckpointConfig, IntervalPolicy, JobError, StreamJob, run_job};
use crate::env::{Clock, Env, FreeCost, MemJournal, MemStore, NoBuggify, ObjectStore, StoreError};
use crate::table::{CommitMessage, DataFileMeta};

/// Simulated time read from tokio's paused clock, so the driver's sleeps move it.
#[derive(Clone)]
struct TokioClock(tokio::time::Instant);

impl Clock for TokioClock {
    fn now_millis(&self) -> i64 {
        self.0.elapsed().as_millis() as i64
    }
}

/// An object store whose checkpoint writes hang while `stalled` is set, as when the checkpoint
/// storage is unreachable and every request times out slowly.
#[derive(Clone, Default)]
struct StallingStore {
    inner: MemStore,
    stalled: Rc<Cell<bool>>,
}

impl ObjectStore for StallingStore {
    async fn put(&self, path: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.inner.put(path, bytes).await
    }
    async fn put_if_absent(&self, path: &str, bytes: Vec<u8>) -> Result<bool, StoreError> {
        while self.stalled.get() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.inner.put_if_absent(path, bytes).await
    }
    async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(path).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        self.inner.delete(path).await
    }
}

#[derive(Clone)]
struct DriverEnv {
    store: StallingStore,
    clock: TokioClock,
    journal: MemJournal,
}

impl Env for DriverEnv {
    type Store = StallingStore;
    type Clock = TokioClock;
    type Cost = FreeCost;
    type Buggify = NoBuggify;
    type Journal = MemJournal;
    fn store(&self) -> &StallingStore {
        &self.store
    }
    fn clock(&self) -> &TokioClock {
        &self.clock
    }
    fn cost(&self) -> &FreeCost {
        &FreeCost
    }
    fn buggify(&self) -> &NoBuggify {
        &NoBuggify
    }
    fn journal(&self) -> &MemJournal {
        &self.journal
    }
}

/// Checkpoint ids with the committables each commit carried, shared with the test.
type CommitLog = Rc<RefCell<Vec<(i64, Vec<String>)>>>;

/// A job whose source yields `records_per_poll` records every 100 ms and whose sink prepares
/// one file per checkpoint; it remembers what was committed and stops the driver after
/// `stop_after_commits` commits by returning an error.
struct CountingJob {
    records_per_poll: usize,
    backlog: bool,
    committed: CommitLog,
    stop_after_commits: usize,
    stalled: Rc<Cell<bool>>,
    /// Checkpoint id whose completion stalls until the next barrier.
    stall_checkpoint: Option<i64>,
}

impl StreamJob for CountingJob {
    fn name(&self) -> &str {
        "counting"
    }
    async fn restore(&mut self, _checkpoint: Option<&CompletedCheckpoint>) -> Result<(), JobError> {
        Ok(())
    }
    async fn process(&mut self) -> Result<usize, JobError> {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(self.records_per_poll)
    }
    async fn snapshot_state(
        &mut self,
        checkpoint_id: i64,
    ) -> Result<(serde_json::Value, Vec<CommitMessage>), JobError> {
        self.stalled
            .set(self.stall_checkpoint == Some(checkpoint_id));
        let file = DataFileMeta {
            file_name: format!("data-c{checkpoint_id}.parquet"),
            ..DataFileMeta::default()
        };
        let message = CommitMessage {
            bucket: 0,
            new_files: vec![file],
            ..CommitMessage::default()
        };
        Ok((
            serde_json::json!({ "checkpoint": checkpoint_id }),
            vec![message],
        ))
    }
    async fn commit(&mut self, checkpoint: &CompletedCheckpoint) -> Result<(), JobError> {
        let files = checkpoint
            .committables
            .iter()
            .flat_map(|m| m.new_files.iter().map(|f| f.file_name.clone()))
            .collect();
        self.committed
            .borrow_mut()
            .push((checkpoint.checkpoint_id, files));
        if self.committed.borrow().len() >= self.stop_after_commits {
            return Err(JobError::State("enough commits".into()));
        }
        Ok(())
    }
    fn is_processing_backlog(&self) -> bool {
        self.backlog
    }
}

fn env() -> DriverEnv {
    DriverEnv {
        store: StallingStore::default(),
        clock: TokioClock(tokio::time::Instant::now()),
        journal: MemJournal::default(),
    }
}

fn job(env: &DriverEnv, records_per_poll: usize) -> CountingJob {
    CountingJob {
        records_per_poll,
        backlog: false,
        committed: Rc::default(),
        stop_after_commits: 4,
        stalled: env.store.stalled.clone(),
        stall_checkpoint: None,
    }
}

fn journal_of(env: &DriverEnv, kind: &str) -> Vec<String> {
    env.journal
        .0
        .borrow()
        .iter()
        .filter(|(k, _)| k.name() == kind)
        .map(|(_, detail)| detail.clone())
        .collect()
}

fn traffic_driven() -> IntervalPolicy {
    IntervalPolicy::TrafficDriven {
        quiet_interval_ms: 2_000,
        peak_interval_ms: 20_000,
        quiet_records_per_s: 100,
        peak_records_per_s: 1_100,
    }
}

#[test]
fn traffic_driven_interval_grows_with_the_input_rate_and_backlog_overrides_it() {
    let config = CheckpointConfig {
        policy: traffic_driven(),
        interval_during_backlog_ms: Some(60_000),
        ..CheckpointConfig::default()
    };
    assert_eq!(config.next_interval_ms(0, false), 2_000);
    assert_eq!(config.next_interval_ms(600, false), 11_000);
    assert_eq!(config.next_interval_ms(5_000, false), 20_000);
    assert_eq!(config.next_interval_ms(0, true), 60_000);
    let fixed = CheckpointConfig::default();
    assert_eq!(fixed.next_interval_ms(5_000, true), fixed.interval_ms);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_busy_job_checkpoints_less_often_under_the_traffic_driven_policy() {
    let env = env();
    // 100 records per 100 ms: 1000 records/s, near the peak rate.
    let mut busy = job(&env, 100);
    let config = CheckpointConfig {
        policy: traffic_driven(),
        ..CheckpointConfig::default()
    };
    let _ = run_job(&env, &mut busy, &config).await;
    let changes = journal_of(&env, "checkpoint-interval");
    assert!(
        changes.iter().any(|c| c.contains("interval_ms=18")),
        "a 1000 records/s job should move to an ~18 s interval: {changes:?}"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_timed_out_checkpoint_is_declined_and_its_files_commit_with_the_next() {
    let env = env();
    let mut job = job(&env, 1);
    job.stall_checkpoint = Some(2);
    job.stop_after_commits = 3;
    let config = CheckpointConfig {
        interval_ms: 5_000,
        timeout_ms: 3_000,
        tolerable_failed_checkpoints: 1,
        ..CheckpointConfig::default()
    };
    let committed = job.committed.clone();
    let _ = run_job(&env, &mut job, &config).await;
    let declined = journal_of(&env, "checkpoint-declined");
    assert_eq!(declined.len(), 1, "{declined:?}");
    assert!(declined[0].contains("checkpoint=2"), "{declined:?}");
    let committed = committed.borrow();
    let ids: Vec<i64> = committed.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, vec![1, 3, 4]);
    assert_eq!(
        committed[1].1,
        vec!["data-c2.parquet".to_string(), "data-c3.parquet".to_string()],
        "checkpoint 3 must carry the declined checkpoint's file"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn more_failed_checkpoints_than_tolerable_fail_the_job_over() {
    let env = env();
    let mut job = job(&env, 1);
    job.stall_checkpoint = Some(2);
    let config = CheckpointConfig {
        interval_ms: 5_000,
        timeout_ms: 3_000,
        tolerable_failed_checkpoints: 0,
        ..CheckpointConfig::default()
    };
    let error = run_job(&env, &mut job, &config).await.unwrap_err();
    assert!(
        matches!(
            error,
            JobError::TooManyFailedCheckpoints {
                failed: 1,
                tolerable: 0,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("tolerable-failed-checkpoints"));
}
