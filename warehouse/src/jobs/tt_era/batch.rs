//! TT era: the offline batch job (MaxCompute's role). It reads ODS from TT as it arrives,
//! deduplicates by `event_id` and drops invalid events (the accurate rule the real-time path
//! lacks), aggregates per (advertiser, campaign, minute) and, in a round every `period`, `delay`
//! after a period ends, overwrites each store's rows of every ended period whose input changed
//! since that store last received it: the period just ended, and older periods that received
//! late ODS records since (the re-runs a T+1 pipeline does for late partitions). A store that
//! cannot be reached keeps its pending periods, retried until written. The job keeps no state
//! across a crash: a restart reads ODS again from the start of the log (so TT must retain it;
//! what retention removed is lost to the batch, and the checkers find it).

use std::collections::{BTreeMap, BTreeSet};

use crate::env::{Clock, Cost, CostOperator, Env, Journal, JournalKind, Transport};
use crate::event::EVENT_WIRE_SIZE_BYTES;
use crate::jobs::schemas::{dws_contribution, is_valid_event};
use crate::jobs::tt_era::protocol::{StoreRequest, StoreResponse};
use crate::jobs::tt_era::store::{RowKey, RowSums};
use crate::stream::runtime::backoff_sleep;
use crate::tt::TtClient;
use crate::tt::client::TtClientError;

#[derive(Debug, Clone, PartialEq)]
pub struct BatchConfig {
    pub job_name: String,
    pub partitions: u32,
    pub fetch_max_records: u32,
    pub period_ms: i64,
    pub delay_ms: i64,
    /// The stores' service names (their hosts).
    pub stores: Vec<&'static str>,
    /// How often the job reads ODS and looks for due work.
    pub poll_ms: i64,
    /// How many workers share its compute (an on-demand batch engine runs wide).
    pub parallelism: u32,
}

/// One period's aggregates and how many distinct events went into them.
#[derive(Default)]
struct Period {
    rows: BTreeMap<RowKey, RowSums>,
    events: u64,
}

pub struct BatchJob<E: Env, T: Transport> {
    env: E,
    config: BatchConfig,
    ods: TtClient<T>,
    transport: T,
    offsets: Vec<u64>,
    seen: BTreeSet<u64>,
    periods: BTreeMap<i64, Period>,
    /// Per store, per period start: the event count of the version it holds.
    written: Vec<BTreeMap<i64, u64>>,
    /// The latest round (a period end) that has run.
    round_end_ms: Option<i64>,
}

impl<E: Env, T: Transport> BatchJob<E, T> {
    pub fn new(env: E, config: BatchConfig, transport: T) -> Self {
        Self {
            offsets: vec![0; config.partitions as usize],
            written: vec![BTreeMap::new(); config.stores.len()],
            ods: TtClient::new(transport.clone()),
            transport,
            seen: BTreeSet::new(),
            periods: BTreeMap::new(),
            round_end_ms: None,
            env,
            config,
        }
    }

    /// Runs until its host stops: read ODS, run due rounds, write pending periods.
    pub async fn run(&mut self) {
        loop {
            let read = self.read_ods().await;
            let now_ms = self.env.clock().now_millis();
            let due_end_ms = (now_ms - self.config.delay_ms).div_euclid(self.config.period_ms)
                * self.config.period_ms;
            if self.round_end_ms.is_none_or(|end| end < due_end_ms) {
                self.round_end_ms = Some(due_end_ms);
                self.env.journal().record(
                    JournalKind::BatchRound,
                    format!(
                        "job={} batch round: periods ending by {due_end_ms}",
                        self.config.job_name
                    ),
                );
            }
            self.write_pending().await;
            if read == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(
                    self.config.poll_ms.max(1) as u64
                ))
                .await;
            }
        }
    }

    /// Reads what ODS has new; returns the records read.
    async fn read_ods(&mut self) -> usize {
        let mut read = 0;
        let mut counted = 0u64;
        for partition in 0..self.config.partitions {
            let offset = self.offsets[partition as usize];
            match self
                .ods
                .fetch(partition, offset, self.config.fetch_max_records)
                .await
            {
                Ok(fetched) => {
                    for event in &fetched.events {
                        if is_valid_event(event) && self.seen.insert(event.event_id) {
                            let (key, sums) = dws_contribution(event);
                            let start =
                                key[2].div_euclid(self.config.period_ms) * self.config.period_ms;
                            let period = self.periods.entry(start).or_default();
                            let row = period.rows.entry(key).or_insert([0; 5]);
                            for (total, add) in row.iter_mut().zip(sums) {
                                *total += add;
                            }
                            period.events += 1;
                        }
                    }
                    counted += fetched.events.len() as u64;
                    read += fetched.events.len();
                    self.offsets[partition as usize] += fetched.events.len() as u64;
                }
                Err(TtClientError::OffsetOutOfRange {
                    log_start_offset, ..
                }) => {
                    self.env.journal().record(
                        JournalKind::BatchFailed,
                        format!(
                            "job={} ODS partition {partition} starts at {log_start_offset}: records {offset}..{log_start_offset} expired before the batch read them",
                            self.config.job_name
                        ),
                    );
                    self.offsets[partition as usize] = log_start_offset;
                }
                Err(_) => backoff_sleep(0).await,
            }
        }
        if counted > 0 {
            let bytes = counted * EVENT_WIRE_SIZE_BYTES as u64;
            let lanes = crate::env::even_split(counted, bytes, self.config.parallelism);
            self.env
                .cost()
                .charge_subtasks(CostOperator::DwdToDws, &lanes)
                .await;
        }
        read
    }

    /// Writes every period of the latest round that a store does not hold at its current version.
    async fn write_pending(&mut self) {
        let Some(round_end_ms) = self.round_end_ms else {
            return;
        };
        let due: Vec<(i64, u64)> = self
            .periods
            .range(..round_end_ms)
            .filter(|(start, _)| *start + self.config.period_ms <= round_end_ms)
            .map(|(start, p)| (*start, p.events))
            .collect();
        for store_index in 0..self.config.stores.len() {
            for &(start, events) in &due {
                if self.written[store_index].get(&start) == Some(&events) {
                    continue;
                }
                if self.overwrite(store_index, start).await {
                    self.written[store_index].insert(start, events);
                } else {
                    break; // the store is unreachable: retry at the next poll
                }
            }
        }
    }

    /// Sends one period's rows to one store; whether the store took them.
    async fn overwrite(&self, store_index: usize, start_ms: i64) -> bool {
        let period = &self.periods[&start_ms];
        let rows: Vec<(RowKey, RowSums)> = period.rows.iter().map(|(k, s)| (*k, *s)).collect();
        self.env
            .cost()
            .charge(
                CostOperator::DwsWriter,
                rows.len() as u64,
                (rows.len() * 64) as u64,
            )
            .await;
        let request = StoreRequest::Overwrite {
            start_ms,
            end_ms: start_ms + self.config.period_ms,
            rows,
        };
        let service = self.config.stores[store_index];
        let answer = self.transport.call(service, request.encode()).await;
        let outcome = match answer.map(|bytes| StoreResponse::decode(&bytes)) {
            Ok(Ok(StoreResponse::Ok)) => return true,
            Ok(Ok(other)) => format!("{other:?}"),
            Ok(Err(error)) => error,
            Err(error) => error.to_string(),
        };
        self.env.journal().record(
            JournalKind::BatchFailed,
            format!(
                "job={} overwrite of period {start_ms} on {service} failed: {outcome}",
                self.config.job_name
            ),
        );
        false
    }
}
