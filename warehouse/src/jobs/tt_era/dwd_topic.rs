//! TT era, ODS → DWD: the Flink job cleans TT's ODS log (drops invalid events) and appends what
//! is left to the DWD topic, another TT topic, partition for partition. The DWD topic has no
//! primary key and no transactions, so the job is at-least-once: an event is appended as soon as
//! it is read, while the checkpoint holds only the ODS offsets. A restart rewinds to the last
//! completed checkpoint's offsets and appends again every event read since (duplicates in the
//! DWD topic), an append whose answer was lost is retried (another duplicate), and producer
//! retries in ODS pass through (the job keeps no table to look an `event_id` up in). The stores
//! downstream count every copy until the batch correction overwrites the period.

use serde_json::json;

use crate::env::{Cost, CostOperator, Env, Transport};
use crate::event::{AdEvent, EVENT_WIRE_SIZE_BYTES};
use crate::jobs::schemas::is_valid_event;
use crate::stream::runtime::{join_all, retry_transient};
use crate::stream::{CompletedCheckpoint, JobError, StreamJob};
use crate::table::CommitMessage;
use crate::tt::TtClient;

/// The service name of the DWD topic (a second topic on the TT broker host).
pub const DWD_TOPIC_SERVICE: &str = "tt-dwd";

#[derive(Debug, Clone, PartialEq)]
pub struct DwdTopicConfig {
    pub job_name: String,
    pub partitions: u32,
    pub fetch_max_records: u32,
    /// Consumer group the job reports its ODS offsets under (monitoring only).
    pub consumer_group: String,
    /// Flink parallelism: source subtask `i` reads ODS partitions `p % parallelism == i`.
    pub parallelism: u32,
}

pub struct DwdTopicJob<E: Env, T: Transport> {
    env: E,
    config: DwdTopicConfig,
    ods: TtClient<T>,
    dwd_topic: TtClient<T>,
    offsets: Vec<u64>,
}

impl<E: Env, T: Transport> DwdTopicJob<E, T> {
    pub fn new(env: E, config: DwdTopicConfig, transport: T) -> Self {
        Self {
            offsets: vec![0; config.partitions as usize],
            ods: TtClient::new(transport.clone()),
            dwd_topic: TtClient::with_service(transport, DWD_TOPIC_SERVICE),
            env,
            config,
        }
    }
}

/// Reads one batch of `partition` of ODS from `offset` and appends its valid events to the same
/// DWD partition; returns the records read. An append whose answer was lost is retried (a
/// duplicate if the first had landed).
async fn pump<T: Transport>(
    ods: &TtClient<T>,
    topic: &TtClient<T>,
    partition: u32,
    offset: u64,
    max: u32,
) -> Result<usize, JobError> {
    let fetched =
        retry_transient(|| async { Ok(ods.fetch(partition, offset, max).await?) }).await?;
    let read = fetched.events.len();
    let valid: Vec<AdEvent> = fetched.events.into_iter().filter(is_valid_event).collect();
    if !valid.is_empty() {
        retry_transient(|| async { Ok(topic.append(partition, valid.clone()).await?) }).await?;
    }
    Ok(read)
}

impl<E: Env, T: Transport> StreamJob for DwdTopicJob<E, T> {
    fn name(&self) -> &str {
        &self.config.job_name
    }

    async fn restore(&mut self, checkpoint: Option<&CompletedCheckpoint>) -> Result<(), JobError> {
        self.offsets = vec![0; self.config.partitions as usize];
        if let Some(checkpoint) = checkpoint {
            let offsets: Vec<u64> =
                serde_json::from_value(checkpoint.source_state["offsets"].clone())
                    .map_err(|e| JobError::State(format!("checkpoint offsets unreadable: {e}")))?;
            if offsets.len() != self.offsets.len() {
                return Err(JobError::State(format!(
                    "checkpoint has {} TT partitions but the job reads {}",
                    offsets.len(),
                    self.offsets.len()
                )));
            }
            self.offsets = offsets;
        }
        Ok(())
    }

    async fn process(&mut self) -> Result<usize, JobError> {
        let lane_count = self.config.parallelism.max(1) as usize;
        let mut lanes = vec![(0u64, 0u64); lane_count];
        let mut processed = 0;
        let max = self.config.fetch_max_records;
        let (ods, topic, offsets) = (&self.ods, &self.dwd_topic, &self.offsets);
        // Each partition's read and append run side by side, as the parallel source subtasks
        // do; a partition's offset moves only once its append has landed.
        let read_all = join_all((0..self.config.partitions).map(|partition| async move {
            pump(ods, topic, partition, offsets[partition as usize], max).await
        }))
        .await;
        let mut first_error = None;
        for (partition, read) in read_all.into_iter().enumerate() {
            match read {
                Ok(read) => {
                    self.offsets[partition] += read as u64;
                    let lane = &mut lanes[partition % lane_count];
                    lane.0 += read as u64;
                    lane.1 += (read * EVENT_WIRE_SIZE_BYTES) as u64;
                    processed += read;
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        if processed > 0 {
            self.env
                .cost()
                .charge_subtasks(CostOperator::OdsToDwd, &lanes)
                .await;
        }
        Ok(processed)
    }

    async fn snapshot_state(
        &mut self,
        _checkpoint_id: i64,
    ) -> Result<(serde_json::Value, Vec<CommitMessage>), JobError> {
        Ok((json!({ "offsets": self.offsets }), Vec::new()))
    }

    async fn commit(&mut self, checkpoint: &CompletedCheckpoint) -> Result<(), JobError> {
        let offsets: Vec<u64> =
            serde_json::from_value(checkpoint.source_state["offsets"].clone()).unwrap_or_default();
        for (partition, offset) in offsets.into_iter().enumerate() {
            let _ = self
                .ods
                .commit_offset(&self.config.consumer_group, partition as u32, offset)
                .await;
        }
        Ok(())
    }
}
