//! DWD → DWS: follows the DWD table's changelog snapshot by snapshot from a checkpointed (and
//! consumer-id-retained) position, folds each +I/+U/-U/-D into the (advertiser, campaign, minute)
//! sums held by the DWS table itself, and upserts the changed rows once per checkpoint.
//!
//! Event time: the job's watermark is the largest watermark of the DWD snapshots it has read
//! (the DWD job derives it per TT partition, min across them). A snapshot's records meet the
//! watermark as it stood before the snapshot, as in Flink, where a source emits a split's
//! watermark after its records. A record whose minute window has closed still updates it within
//! `allowed_lateness_ms` (an ordinary -U/+U upsert of an old minute); a later one goes to the
//! late-data side table, keyed by `event_id` and committed with the same checkpoint, so nothing
//! is silently lost. The watermark is checkpoint state: a restore replays the same decisions.

use serde_json::json;

use crate::env::{Clock, Cost, CostOperator, Env, even_split};
use crate::event::{AdEvent, EVENT_FIELD_NAMES};
use crate::jobs::schemas::{Lateness, dws_contribution, lateness_of};
use crate::jobs::sink::{
    Committer, commit_checkpoint, commit_messages, load_writers, prepare_all, retry_table,
    writer_work,
};
use crate::row::{Row, RowKind};
use crate::stream::{CompletedCheckpoint, JobError, StreamJob};
use crate::table::{
    BucketWriter, CommitMessage, FileStoreTable, HeldRows, StreamingReader, TableError,
};

#[derive(Debug, Clone, PartialEq)]
pub struct DwdToDwsConfig {
    pub job_name: String,
    pub commit_user: String,
    /// Paimon `consumer-id`: protects unread DWD snapshots from expiration and lets a job without
    /// a checkpoint resume where it left off.
    pub consumer_id: Option<String>,
    /// DWD snapshots consumed per processing round, at most.
    pub max_snapshots_per_poll: usize,
    /// How long after its minute window closed an event still updates it (Flink's allowed
    /// lateness); later events go to the late-data side table.
    pub allowed_lateness_ms: i64,
    /// Flink parallelism: the aggregation is hash-partitioned by DWS key over this many
    /// subtasks, and writer subtask `i` writes DWS buckets `b % parallelism == i`.
    pub parallelism: u32,
    /// UNSAFE (apache/paimon#9666): each process attempt commits under a new commitUser (this
    /// one plus the attempt's start time), as a job started without its state would. A restore
    /// then re-commits its last checkpoint under a user that never committed it, so Paimon's
    /// filterAndCommit cannot skip it and the checkpoint is committed twice. Off in production.
    pub unsafe_new_commit_user_on_restart: bool,
    /// Which build of the job runs: `Current`, or a deliberately wrong build of the incident
    /// library (a bad deploy, repaired by rolling DWS back to a tag).
    pub version: DwsJobVersion,
}

/// A build of the DWS job. Only `Current` is right; the others exist so the incident library
/// can deploy a bad version mid-run and show the repair (rollback to a tag, replay).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DwsJobVersion {
    #[default]
    Current,
    /// UNSAFE, a bad build: the aggregation adds every click's cost twice (a unit bug shipped
    /// in a release). Its DWS rows disagree with DWD from its first checkpoint on.
    BadDoubleCountsClickCost,
}

impl DwsJobVersion {
    /// Every version, as scenarios name them.
    pub const NAMES: [&'static str; 2] = ["current", "bad-double-counts-click-cost"];

    pub fn name(self) -> &'static str {
        match self {
            Self::Current => Self::NAMES[0],
            Self::BadDoubleCountsClickCost => Self::NAMES[1],
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "current" => Some(Self::Current),
            "bad-double-counts-click-cost" => Some(Self::BadDoubleCountsClickCost),
            _ => None,
        }
    }
}

pub struct DwdToDws<E: Env> {
    env: E,
    config: DwdToDwsConfig,
    dwd: FileStoreTable<E::Store>,
    dws: FileStoreTable<E::Store>,
    reader: Option<StreamingReader<E::Store>>,
    writers: Vec<BucketWriter>,
    /// The late-data side table and its writer.
    late: FileStoreTable<E::Store>,
    late_writers: Vec<BucketWriter>,
    /// Side-table files prepared at checkpoints not yet committed (declined ones included).
    late_uncommitted: Vec<CommitMessage>,
    /// The largest DWD snapshot watermark read so far.
    watermark_ms: Option<i64>,
    attempt_prefix: String,
    /// The last round consumed as many snapshots as it may: more are likely waiting.
    backlogged: bool,
    committer: Committer,
}

impl<E: Env> DwdToDws<E> {
    pub fn new(
        env: E,
        config: DwdToDwsConfig,
        dwd: FileStoreTable<E::Store>,
        dws: FileStoreTable<E::Store>,
        late: FileStoreTable<E::Store>,
    ) -> Self {
        let attempt_prefix = format!("{}-{}", config.job_name, env.clock().now_millis());
        let mut config = config;
        if config.unsafe_new_commit_user_on_restart {
            config.commit_user = format!("{}-{}", config.commit_user, env.clock().now_millis());
        }
        let committer = Committer::new(&config.commit_user);
        Self {
            env,
            config,
            dwd,
            dws,
            reader: None,
            writers: Vec::new(),
            late,
            late_writers: Vec::new(),
            late_uncommitted: Vec::new(),
            watermark_ms: None,
            attempt_prefix,
            backlogged: false,
            committer,
        }
    }

    /// Commits the late-data side table's part of a checkpoint (nothing when it has none).
    async fn commit_late(
        &self,
        checkpoint: &CompletedCheckpoint,
        file_prefix: &str,
    ) -> Result<(), JobError> {
        let messages: Vec<CommitMessage> =
            serde_json::from_value(checkpoint.source_state["late_committables"].clone())
                .unwrap_or_default();
        if messages.is_empty() {
            return Ok(());
        }
        commit_messages(
            &self.env,
            &self.committer,
            &self.late,
            checkpoint.checkpoint_id,
            messages,
            checkpoint.source_state["watermark"].as_i64(),
            file_prefix,
        )
        .await?;
        Ok(())
    }

    /// Sends a record too late for its window to the side table: the event's fields (`fields`,
    /// without a partitioned DWD row's partition value), then the watermark it met.
    fn send_to_late_table(&mut self, kind: RowKind, fields: &[i64]) -> Result<(), JobError> {
        let row = fields;
        let mut late_row = fields.to_vec();
        late_row.push(self.watermark_ms.unwrap_or(i64::MIN));
        let bucket = self.late.bucket_of_key(&[row[0]]) as usize;
        let kind = if kind.is_add() {
            RowKind::Insert
        } else {
            RowKind::Delete
        };
        self.late_writers[bucket].write(kind, late_row)?;
        Ok(())
    }

    /// Lets go of the flushed DWS rows of minutes past the allowed lateness: every later record
    /// of those minutes goes to the late table (`apply`), so their rows are never read again,
    /// and the job's memory stays flat in the run's length.
    fn forget_closed_minutes(&mut self) {
        let watermark_ms = self.watermark_ms;
        let allowed_lateness_ms = self.config.allowed_lateness_ms;
        let closed = |key: &[i64]| {
            // A DWS key is (advertiser, campaign, minute); every event of a minute has the
            // minute's lateness.
            lateness_of(key[2], watermark_ms, allowed_lateness_ms) == Lateness::TooLate
        };
        for writer in &mut self.writers {
            writer.forget_closed_rows(closed);
        }
    }

    /// Folds one DWD changelog record into the DWS rows.
    fn apply(&mut self, kind: RowKind, row: &[i64]) -> Result<(), JobError> {
        // A partitioned DWD row ends with its partition value, after the event's fields.
        let fields = &row[..row.len().min(EVENT_FIELD_NAMES.len())];
        let event = AdEvent::from_row(fields).ok_or_else(|| {
            JobError::State(format!("DWD changelog row is not an event: {row:?}"))
        })?;
        let lateness = lateness_of(
            event.event_time_ms,
            self.watermark_ms,
            self.config.allowed_lateness_ms,
        );
        if lateness == Lateness::TooLate {
            self.send_to_late_table(kind, fields)?;
            return Ok(());
        }
        let bucket = self.dws.bucket_of_key(&dws_contribution(&event).0) as usize;
        Ok(fold_event(
            &mut self.writers[bucket],
            kind,
            &event,
            self.config.version,
        )?)
    }
}

/// Folds one DWD changelog record (an event added or retracted) into its DWS minute row in the
/// bucket's writer: the row's sums move by the event's contribution, and a row whose sums all
/// return to zero is deleted. The `dwd_to_dws` operator's work per record (the cost benchmark
/// times this function). `version` is the deployed job build: the bad build double-counts click
/// cost (incident f).
pub fn fold_event(
    writer: &mut BucketWriter,
    kind: RowKind,
    event: &AdEvent,
    version: DwsJobVersion,
) -> Result<(), TableError> {
    let (key, mut sums) = dws_contribution(event);
    if version == DwsJobVersion::BadDoubleCountsClickCost {
        sums[3] *= 2;
    }
    let sign = if kind.is_add() { 1 } else { -1 };
    let mut updated: Row = match writer.get(&key) {
        Some(current) => current.clone(),
        None => {
            let mut fresh = key.to_vec();
            fresh.extend([0; 5]);
            fresh
        }
    };
    for (slot, value) in updated[3..].iter_mut().zip(sums) {
        *slot += sign * value;
    }
    if updated[3..].iter().all(|v| *v == 0) {
        if writer.get(&key).is_some() {
            writer.write(RowKind::Delete, updated)?;
        }
    } else {
        writer.write(RowKind::UpdateAfter, updated)?;
    }
    Ok(())
}

impl<E: Env> StreamJob for DwdToDws<E> {
    fn name(&self) -> &str {
        &self.config.job_name
    }

    async fn restore(&mut self, checkpoint: Option<&CompletedCheckpoint>) -> Result<(), JobError> {
        self.watermark_ms = None;
        self.late_uncommitted.clear();
        self.committer.restart();
        let next_snapshot = match checkpoint {
            Some(checkpoint) => {
                let prefix = format!("{}-restore", self.attempt_prefix);
                commit_checkpoint(&self.env, &self.committer, &self.dws, checkpoint, &prefix)
                    .await?;
                self.commit_late(checkpoint, &prefix).await?;
                self.watermark_ms = checkpoint.source_state["watermark"].as_i64();
                checkpoint.source_state["next_snapshot"]
                    .as_i64()
                    .ok_or_else(|| JobError::State("checkpoint lacks next_snapshot".into()))?
            }
            None => match &self.config.consumer_id {
                Some(id) => retry_table(|| self.dwd.read_consumer(id))
                    .await?
                    .unwrap_or(1),
                None => 1,
            },
        };
        self.reader = Some(
            StreamingReader::new(self.dwd.clone(), next_snapshot)
                .with_subtasks(self.config.parallelism),
        );
        let latest = retry_table(|| self.dws.latest_snapshot()).await?;
        self.writers = load_writers::<E>(
            &self.dws,
            latest.as_ref(),
            self.config.parallelism,
            HeldRows::All,
        )
        .await?;
        let latest_late = retry_table(|| self.late.latest_snapshot()).await?;
        self.late_writers = load_writers::<E>(
            &self.late,
            latest_late.as_ref(),
            self.config.parallelism,
            HeldRows::All,
        )
        .await?;
        Ok(())
    }

    async fn process(&mut self) -> Result<usize, JobError> {
        let mut processed = 0;
        self.backlogged = true;
        for _ in 0..self.config.max_snapshots_per_poll {
            let reader = self.reader.as_mut().expect("restored before processing");
            let polled = retry_table(|| reader.poll()).await?;
            let Some((snapshot, records)) = polled else {
                self.backlogged = false;
                break;
            };
            records.try_for_each(|kind, row| self.apply(kind, row))?;
            // The snapshot's watermark follows its records.
            self.watermark_ms = self.watermark_ms.max(snapshot.watermark);
            let bytes = (records.len() * row_bytes()) as u64;
            let lanes = even_split(records.len() as u64, bytes, self.config.parallelism);
            self.env
                .cost()
                .charge_subtasks(CostOperator::DwdToDws, &lanes)
                .await;
            // A consumed snapshot counts as progress even when it carried no changelog.
            processed += records.len().max(1);
        }
        Ok(processed)
    }

    async fn snapshot_state(
        &mut self,
        checkpoint_id: i64,
    ) -> Result<(serde_json::Value, Vec<CommitMessage>), JobError> {
        let prefix = format!("{}-c{checkpoint_id}", self.attempt_prefix);
        let now = self.env.clock().now_millis();
        let messages = prepare_all(
            &self.env,
            &self.dws,
            &mut self.writers,
            &prefix,
            now,
            self.config.parallelism,
        )
        .await?;
        let lanes = writer_work(&messages, self.config.parallelism);
        self.env
            .cost()
            .charge_subtasks(CostOperator::DwsWriter, &lanes)
            .await;
        self.forget_closed_minutes();
        // Side-table files of a declined checkpoint ride along with the next one, as the
        // runtime does for the DWS files.
        let late_messages = prepare_all(
            &self.env,
            &self.late,
            &mut self.late_writers,
            &prefix,
            now,
            self.config.parallelism,
        )
        .await?;
        self.late_uncommitted.extend(late_messages);
        let late_messages = self.late_uncommitted.clone();
        let next_snapshot = self
            .reader
            .as_ref()
            .map_or(1, StreamingReader::next_snapshot);
        let state = json!({
            "next_snapshot": next_snapshot,
            "watermark": self.watermark_ms,
            "late_committables": late_messages,
        });
        Ok((state, messages))
    }

    async fn commit(&mut self, checkpoint: &CompletedCheckpoint) -> Result<(), JobError> {
        let prefix = format!("{}-c{}", self.attempt_prefix, checkpoint.checkpoint_id);
        commit_checkpoint(&self.env, &self.committer, &self.dws, checkpoint, &prefix).await?;
        self.commit_late(checkpoint, &prefix).await?;
        self.late_uncommitted.clear();
        if let (Some(id), Some(next)) = (
            &self.config.consumer_id,
            checkpoint.source_state["next_snapshot"].as_i64(),
        ) {
            retry_table(|| self.dwd.write_consumer(id, next)).await?;
        }
        Ok(())
    }

    fn is_processing_backlog(&self) -> bool {
        self.backlogged
    }
}

fn row_bytes() -> usize {
    crate::event::EVENT_FIELD_NAMES.len() * 8
}
