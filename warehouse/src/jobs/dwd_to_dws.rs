//! DWD → DWS: follows the DWD table's changelog snapshot by snapshot from a checkpointed (and
//! consumer-id-retained) position, folds each +I/+U/-U/-D into the (advertiser, campaign, minute)
//! sums held by the DWS table itself, and upserts the changed rows once per checkpoint.

use serde_json::json;

use crate::env::{Clock, Cost, Env, even_split};
use crate::event::AdEvent;
use crate::jobs::schemas::dws_contribution;
use crate::jobs::sink::{commit_checkpoint, prepare_all, retry_table, writer_work};
use crate::row::{Row, RowKind};
use crate::stream::{CompletedCheckpoint, JobError, StreamJob};
use crate::table::{BucketWriter, CommitMessage, FileStoreTable, StreamingReader};

#[derive(Debug, Clone, PartialEq)]
pub struct DwdToDwsConfig {
    pub job_name: String,
    pub commit_user: String,
    /// Paimon `consumer-id`: protects unread DWD snapshots from expiration and lets a job without
    /// a checkpoint resume where it left off.
    pub consumer_id: Option<String>,
    /// DWD snapshots consumed per processing round, at most.
    pub max_snapshots_per_poll: usize,
    /// Flink parallelism: the aggregation is hash-partitioned by DWS key over this many
    /// subtasks, and writer subtask `i` writes DWS buckets `b % parallelism == i`.
    pub parallelism: u32,
}

pub struct DwdToDws<E: Env> {
    env: E,
    config: DwdToDwsConfig,
    dwd: FileStoreTable<E::Store>,
    dws: FileStoreTable<E::Store>,
    reader: Option<StreamingReader<E::Store>>,
    writers: Vec<BucketWriter>,
    attempt_prefix: String,
    /// The last round consumed as many snapshots as it may: more are likely waiting.
    backlogged: bool,
}

impl<E: Env> DwdToDws<E> {
    pub fn new(
        env: E,
        config: DwdToDwsConfig,
        dwd: FileStoreTable<E::Store>,
        dws: FileStoreTable<E::Store>,
    ) -> Self {
        let attempt_prefix = format!("{}-{}", config.job_name, env.clock().now_millis());
        Self {
            env,
            config,
            dwd,
            dws,
            reader: None,
            writers: Vec::new(),
            attempt_prefix,
            backlogged: false,
        }
    }

    /// Folds one DWD changelog record into the DWS rows.
    fn apply(&mut self, kind: RowKind, row: &Row) -> Result<(), JobError> {
        let event = AdEvent::from_row(row).ok_or_else(|| {
            JobError::State(format!("DWD changelog row is not an event: {row:?}"))
        })?;
        let (key, sums) = dws_contribution(&event);
        let sign = if kind.is_add() { 1 } else { -1 };
        let bucket = self.dws.bucket_of_key(&key) as usize;
        let writer = &mut self.writers[bucket];
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
}

impl<E: Env> StreamJob for DwdToDws<E> {
    fn name(&self) -> &str {
        &self.config.job_name
    }

    async fn restore(&mut self, checkpoint: Option<&CompletedCheckpoint>) -> Result<(), JobError> {
        let next_snapshot = match checkpoint {
            Some(checkpoint) => {
                commit_checkpoint(
                    &self.env,
                    &self.dws,
                    &self.config.commit_user,
                    checkpoint,
                    &format!("{}-restore", self.attempt_prefix),
                )
                .await?;
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
        self.reader = Some(StreamingReader::new(self.dwd.clone(), next_snapshot));
        let latest = retry_table(|| self.dws.latest_snapshot()).await?;
        self.writers.clear();
        for bucket in 0..self.dws.schema().options.bucket {
            let state = retry_table(|| self.dws.read_bucket(latest.as_ref(), bucket)).await?;
            self.writers
                .push(BucketWriter::new(self.dws.schema(), bucket, state));
        }
        Ok(())
    }

    async fn process(&mut self) -> Result<usize, JobError> {
        let mut processed = 0;
        self.backlogged = true;
        for _ in 0..self.config.max_snapshots_per_poll {
            let reader = self.reader.as_mut().expect("restored before processing");
            let polled = retry_table(|| reader.poll()).await?;
            let Some((_snapshot, records)) = polled else {
                self.backlogged = false;
                break;
            };
            for (kind, row) in &records {
                self.apply(*kind, row)?;
            }
            let bytes = (records.len() * row_bytes()) as u64;
            let lanes = even_split(records.len() as u64, bytes, self.config.parallelism);
            self.env.cost().charge_subtasks("dwd_to_dws", &lanes).await;
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
        let messages = prepare_all(&self.env, &self.dws, &mut self.writers, &prefix, now).await?;
        let lanes = writer_work(&messages, self.config.parallelism);
        self.env.cost().charge_subtasks("dws_writer", &lanes).await;
        let next_snapshot = self
            .reader
            .as_ref()
            .map_or(1, StreamingReader::next_snapshot);
        Ok((json!({ "next_snapshot": next_snapshot }), messages))
    }

    async fn commit(&mut self, checkpoint: &CompletedCheckpoint) -> Result<(), JobError> {
        let prefix = format!("{}-c{}", self.attempt_prefix, checkpoint.checkpoint_id);
        commit_checkpoint(
            &self.env,
            &self.dws,
            &self.config.commit_user,
            checkpoint,
            &prefix,
        )
        .await?;
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
