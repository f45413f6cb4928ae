//! TT era: one downstream store's own real-time aggregation, a Flink job reading the DWD topic
//! from its own checkpointed offsets into its store. Event-time tumbling windows of one minute
//! per (advertiser, campaign): a window fires (its row is put into the store) when the watermark
//! passes its end, fires again for each late event within the allowed lateness (the put replaces
//! the row), and is purged at the watermark plus the allowed lateness; an event after that is
//! dropped from the real-time numbers and counted. Nothing is ever retracted: every copy of an
//! event the DWD topic holds is counted. The puts are not transactional with the checkpoint, so
//! a restore replays and puts the same windows again (idempotent: a put carries the whole row).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::json;

use crate::env::{Clock, Cost, CostOperator, Env, LocalDisk, Transport, even_split};
use crate::event::EVENT_WIRE_SIZE_BYTES;
use crate::jobs::schemas::{Lateness, MINUTE_MS, dws_contribution, lateness_of, watermark_of};
use crate::jobs::tt_era::dwd_topic::DWD_TOPIC_SERVICE;
use crate::jobs::tt_era::store::{MinuteStore, RowKey, RowSums};
use crate::stream::runtime::{join_all, retry_transient};
use crate::stream::{CompletedCheckpoint, JobError, StreamJob};
use crate::table::CommitMessage;
use crate::tt::TtClient;

#[derive(Debug, Clone, PartialEq)]
pub struct StoreJobConfig {
    pub job_name: String,
    pub partitions: u32,
    pub fetch_max_records: u32,
    pub out_of_orderness_ms: i64,
    pub allowed_lateness_ms: i64,
    pub parallelism: u32,
}

/// One open window: its sums and whether they changed since it last fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    sums: RowSums,
    fired: bool,
    dirty: bool,
}

pub struct StoreJob<E: Env, T: Transport, D: LocalDisk> {
    env: E,
    config: StoreJobConfig,
    dwd_topic: TtClient<T>,
    store: Rc<RefCell<MinuteStore<D>>>,
    offsets: Vec<u64>,
    max_event_time_ms: Vec<i64>,
    windows: BTreeMap<RowKey, Window>,
    /// Events dropped because they came after their window's allowed lateness (as of the
    /// job's state: a restore resets it to the checkpoint's count). Shared, so whoever runs the
    /// job can read it (see [`StoreJob::dropped_too_late_counter`]).
    dropped_too_late: Rc<Cell<u64>>,
}

impl<E: Env, T: Transport, D: LocalDisk> StoreJob<E, T, D> {
    pub fn new(
        env: E,
        config: StoreJobConfig,
        transport: T,
        store: Rc<RefCell<MinuteStore<D>>>,
    ) -> Self {
        let partitions = config.partitions as usize;
        Self {
            env,
            dwd_topic: TtClient::with_service(transport, DWD_TOPIC_SERVICE),
            store,
            offsets: vec![0; partitions],
            max_event_time_ms: vec![i64::MIN; partitions],
            windows: BTreeMap::new(),
            dropped_too_late: Rc::new(Cell::new(0)),
            config,
        }
    }

    /// Events dropped from the real-time numbers as too late, as of the job's state.
    pub fn dropped_too_late(&self) -> u64 {
        self.dropped_too_late.get()
    }

    /// The count of [`StoreJob::dropped_too_late`], shared: it stays readable after the job
    /// is gone (a crash), holding the count of the job's last state.
    pub fn dropped_too_late_counter(&self) -> Rc<Cell<u64>> {
        Rc::clone(&self.dropped_too_late)
    }

    fn watermark(&self) -> Option<i64> {
        watermark_of(&self.max_event_time_ms, self.config.out_of_orderness_ms)
    }

    /// Folds one fetched batch into the windows, each event judged against the watermark as it
    /// stood before the batch.
    fn fold(&mut self, partition: u32, events: &[crate::event::AdEvent]) {
        let watermark = self.watermark();
        for event in events {
            let max = &mut self.max_event_time_ms[partition as usize];
            *max = (*max).max(event.event_time_ms);
            let lateness = lateness_of(
                event.event_time_ms,
                watermark,
                self.config.allowed_lateness_ms,
            );
            if lateness == Lateness::TooLate {
                self.dropped_too_late.set(self.dropped_too_late.get() + 1);
                continue;
            }
            let (key, sums) = dws_contribution(event);
            let window = self.windows.entry(key).or_insert(Window {
                sums: [0; 5],
                fired: false,
                dirty: false,
            });
            for (total, add) in window.sums.iter_mut().zip(sums) {
                *total += add;
            }
            window.dirty = true;
        }
    }

    /// Rows of windows the watermark has passed that are new or changed since they fired; purges
    /// windows past their allowed lateness.
    fn fire(&mut self) -> Vec<(RowKey, RowSums)> {
        let Some(watermark) = self.watermark() else {
            return Vec::new();
        };
        let mut rows = Vec::new();
        let mut purged = Vec::new();
        for (key, window) in self.windows.iter_mut() {
            let window_max_timestamp = key[2] + MINUTE_MS - 1;
            if window_max_timestamp > watermark {
                continue;
            }
            if window.dirty {
                rows.push((*key, window.sums));
                window.dirty = false;
                window.fired = true;
            }
            if window_max_timestamp.saturating_add(self.config.allowed_lateness_ms) <= watermark {
                purged.push(*key);
            }
        }
        for key in purged {
            self.windows.remove(&key);
        }
        rows
    }
}

impl<E: Env, T: Transport, D: LocalDisk> StreamJob for StoreJob<E, T, D> {
    fn name(&self) -> &str {
        &self.config.job_name
    }

    async fn restore(&mut self, checkpoint: Option<&CompletedCheckpoint>) -> Result<(), JobError> {
        let partitions = self.config.partitions as usize;
        self.offsets = vec![0; partitions];
        self.max_event_time_ms = vec![i64::MIN; partitions];
        self.windows.clear();
        let Some(checkpoint) = checkpoint else {
            return Ok(());
        };
        let state = &checkpoint.source_state;
        let unreadable = |what: &str, e: serde_json::Error| {
            JobError::State(format!("checkpoint {what} unreadable: {e}"))
        };
        let offsets: Vec<u64> = serde_json::from_value(state["offsets"].clone())
            .map_err(|e| unreadable("offsets", e))?;
        let maxima: Vec<i64> = serde_json::from_value(state["max_event_time_ms"].clone())
            .map_err(|e| unreadable("event-time maxima", e))?;
        let windows: Vec<(RowKey, RowSums, bool, bool)> =
            serde_json::from_value(state["windows"].clone())
                .map_err(|e| unreadable("windows", e))?;
        if offsets.len() != partitions || maxima.len() != partitions {
            return Err(JobError::State(format!(
                "checkpoint has {} DWD topic partitions but the job reads {partitions}",
                offsets.len()
            )));
        }
        self.offsets = offsets;
        self.max_event_time_ms = maxima;
        self.dropped_too_late
            .set(state["dropped_too_late"].as_u64().unwrap_or(0));
        self.windows = windows
            .into_iter()
            .map(|(key, sums, fired, dirty)| (key, Window { sums, fired, dirty }))
            .collect();
        Ok(())
    }

    async fn process(&mut self) -> Result<usize, JobError> {
        let mut processed = 0;
        let max = self.config.fetch_max_records;
        // The source subtasks fetch their partitions side by side; the batches are folded in
        // partition order, so the run stays deterministic.
        let (topic, offsets) = (&self.dwd_topic, &self.offsets);
        let fetched_all = join_all((0..self.config.partitions).map(|partition| async move {
            let offset = offsets[partition as usize];
            retry_transient(|| async { Ok(topic.fetch(partition, offset, max).await?) }).await
        }))
        .await;
        for (partition, fetched) in fetched_all.into_iter().enumerate() {
            let fetched = fetched?;
            self.fold(partition as u32, &fetched.events);
            self.offsets[partition] += fetched.events.len() as u64;
            processed += fetched.events.len();
        }
        if processed > 0 {
            let bytes = (processed * EVENT_WIRE_SIZE_BYTES) as u64;
            self.env
                .cost()
                .charge_subtasks(
                    CostOperator::DwdToDws,
                    &even_split(processed as u64, bytes, self.config.parallelism),
                )
                .await;
        }
        if processed == 0 {
            let now_ms = self.env.clock().now_millis();
            self.store.borrow_mut().note_caught_up(now_ms);
        }
        let rows = self.fire();
        if !rows.is_empty() {
            let written_ms = self.env.clock().now_millis();
            // A failed put (the store's disk) fails the job over: the restore replays the
            // windows from the checkpoint and puts them again.
            self.store
                .borrow_mut()
                .put_realtime(&rows, written_ms)
                .map_err(|e| JobError::State(e.to_string()))?;
            self.env
                .cost()
                .charge(
                    CostOperator::DwsWriter,
                    rows.len() as u64,
                    (rows.len() * 64) as u64,
                )
                .await;
        }
        Ok(processed)
    }

    async fn snapshot_state(
        &mut self,
        _checkpoint_id: i64,
    ) -> Result<(serde_json::Value, Vec<CommitMessage>), JobError> {
        let windows: Vec<(RowKey, RowSums, bool, bool)> = self
            .windows
            .iter()
            .map(|(key, w)| (*key, w.sums, w.fired, w.dirty))
            .collect();
        let state = json!({
            "offsets": self.offsets,
            "max_event_time_ms": self.max_event_time_ms,
            "windows": windows,
            "dropped_too_late": self.dropped_too_late.get(),
        });
        Ok((state, Vec::new()))
    }

    async fn commit(&mut self, _checkpoint: &CompletedCheckpoint) -> Result<(), JobError> {
        Ok(())
    }
}
