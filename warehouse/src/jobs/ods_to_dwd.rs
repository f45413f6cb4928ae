//! ODS → DWD: reads TT from checkpointed offsets, drops invalid events, deduplicates producer
//! retries by `event_id` against the DWD table's current state, and commits one DWD snapshot per
//! checkpoint whose lookup changelog carries each distinct event once. Event time starts here, at
//! the TT source as in Flink: the largest event time read from each partition (checkpointed with
//! the offsets) gives a bounded-out-of-orderness watermark, the minimum across partitions, which
//! each DWD snapshot records (Paimon's snapshot `watermark`) for the jobs downstream.

use serde_json::json;

use crate::env::{Clock, Cost, CostOperator, Env, Transport};
use crate::event::{AdEvent, EVENT_WIRE_SIZE_BYTES};
use crate::jobs::schemas::is_valid_event;
use crate::jobs::schemas::watermark_of;
use crate::jobs::sink::{
    Committer, commit_messages, load_writers, prepare_all, retry_table, writer_work,
};
use crate::row::{RowKind, StableHashMap};
use crate::stream::runtime::{join_all, retry_transient};
use crate::stream::{CompletedCheckpoint, JobError, StreamJob};
use crate::table::{
    BucketState, BucketWriter, CommitMessage, FileStoreTable, HeldRows, PartitionTimeFormat,
    TableError,
};
use crate::tt::TtClient;

/// Checkpoints without writes after which a partitioned DWD's writer closes. Paimon closes a
/// writer after one, and reopens it cheaply (file metadata, then lookups through a bounded
/// cache); this model's writer reopens by reading its bucket's keys, so it waits longer. Measured
/// on double11 seed 1: after one idle checkpoint the previous hour's writers reopened 65 times
/// and DWD reads rose from 378 to 581 MiB; after 5, 16 times and 411 MiB; after 10, only the
/// restore's lazy opens and no extra reads.
pub const WRITER_IDLE_CHECKPOINTS: i64 = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct OdsToDwdConfig {
    pub job_name: String,
    /// Paimon `commitUser`: stable across restarts of the job.
    pub commit_user: String,
    pub partitions: u32,
    pub fetch_max_records: u32,
    /// TT consumer group the job reports its committed offsets under (monitoring only).
    pub consumer_group: String,
    /// Flink's `WatermarkStrategy.forBoundedOutOfOrderness`: how far event time may run backwards
    /// within a partition before an event counts as late.
    pub out_of_orderness_ms: i64,
    /// The source reports backlog (Flink's `isProcessingBacklog`) above this many unread records.
    pub backlog_lag_records: u64,
    /// Flink parallelism: source subtask `i` reads partitions `p % parallelism == i`, writer
    /// subtask `i` writes buckets `b % parallelism == i` (never more subtasks than buckets).
    pub parallelism: u32,
    /// UNSAFE (apache/paimon#9666): each process attempt commits under a new commitUser (this
    /// one plus the attempt's start time), as a job started without its state would. A restore
    /// then re-commits its last checkpoint under a user that never committed it, so Paimon's
    /// filterAndCommit cannot skip it and the checkpoint is committed twice. Off in production.
    pub unsafe_new_commit_user_on_restart: bool,
    /// The job's time zone as an offset from UTC (Flink's session time zone): a partitioned
    /// DWD table's partition is the event's period in it.
    pub utc_offset_ms: i64,
}

pub struct OdsToDwd<E: Env, T: Transport> {
    env: E,
    config: OdsToDwdConfig,
    tt: TtClient<T>,
    table: FileStoreTable<E::Store>,
    /// One writer per bucket; for a partitioned table, one per bucket of each partition written
    /// in the last [`WRITER_IDLE_CHECKPOINTS`] checkpoints or with files not yet committed
    /// (opened from the table's files when an event needs them, closed once idle with all
    /// their files committed). `trees` finds a partitioned table's writer.
    writers: Vec<BucketWriter>,
    trees: StableHashMap<(i64, u32), usize>,
    /// Per writer, the checkpoint whose files last carried its writes (Paimon's
    /// `lastModifiedCommitIdentifier`); `i64::MIN` while it has had none.
    last_modified: Vec<i64>,
    /// The newest checkpoint this attempt has committed (restored or completed).
    committed_through: i64,
    /// The partition column's format, when DWD is partitioned.
    partition_format: Option<PartitionTimeFormat>,
    offsets: Vec<u64>,
    /// Per TT partition, the largest event time read so far (`i64::MIN` before the first).
    max_event_time_ms: Vec<i64>,
    /// Unread records per partition as of the last fetch (high watermark minus offset).
    lag_records: Vec<u64>,
    /// Unique per process attempt, so files of a failed attempt never collide with a retry's.
    attempt_prefix: String,
    committer: Committer,
}

impl<E: Env, T: Transport> OdsToDwd<E, T> {
    pub fn new(
        env: E,
        config: OdsToDwdConfig,
        transport: T,
        table: FileStoreTable<E::Store>,
    ) -> Self {
        let attempt_prefix = format!("{}-{}", config.job_name, env.clock().now_millis());
        let mut config = config;
        if config.unsafe_new_commit_user_on_restart {
            config.commit_user = format!("{}-{}", config.commit_user, env.clock().now_millis());
        }
        Self {
            offsets: vec![0; config.partitions as usize],
            max_event_time_ms: vec![i64::MIN; config.partitions as usize],
            lag_records: vec![0; config.partitions as usize],
            env,
            tt: TtClient::new(transport),
            partition_format: table.is_partitioned().then(|| {
                table
                    .schema()
                    .options
                    .lifecycle
                    .partition_timestamp_formatter
                    .expect("dwd_schema partitions DWD only with a timestamp formatter")
            }),
            table,
            writers: Vec::new(),
            trees: StableHashMap::default(),
            last_modified: Vec::new(),
            committed_through: i64::MIN,
            attempt_prefix,
            committer: Committer::new(&config.commit_user),
            config,
        }
    }

    /// The (partition, bucket) trees of a partitioned DWD with an open writer, in order.
    pub fn open_trees(&self) -> Vec<(i64, u32)> {
        let mut trees: Vec<(i64, u32)> = self.trees.keys().copied().collect();
        trees.sort_unstable();
        trees
    }

    /// A restore's writers: every bucket's of an unpartitioned table; none of a partitioned
    /// one, whose writers open from the table's files when an event needs them.
    async fn load_writers(&mut self) -> Result<(), JobError> {
        self.trees.clear();
        if self.partition_format.is_some() {
            self.writers.clear();
        } else {
            let latest = retry_table(|| self.table.latest_snapshot()).await?;
            let held = self.held_rows();
            let subtasks = self.config.parallelism;
            self.writers = load_writers::<E>(&self.table, latest.as_ref(), subtasks, held).await?;
        }
        self.last_modified = vec![i64::MIN; self.writers.len()];
        Ok(())
    }

    /// The partition of a valid event: its period in the job's time zone.
    fn period_of(&self, format: PartitionTimeFormat, event: &AdEvent) -> i64 {
        format.value_of(event.event_time_ms + self.config.utc_offset_ms)
    }

    /// Opens the writer of every (partition, bucket) that `events` write and that has none
    /// open, from the table's latest snapshot: only this job writes DWD and a writer closes
    /// once its files are committed, so that snapshot holds every row of the tree.
    async fn open_writers_for(&mut self, events: &[&AdEvent]) -> Result<(), JobError> {
        let Some(format) = self.partition_format else {
            return Ok(());
        };
        let missing: std::collections::BTreeSet<(i64, u32)> = events
            .iter()
            .filter(|event| is_valid_event(event))
            .map(|event| {
                let bucket = self.table.bucket_of_key(&[event.event_id as i64]);
                (self.period_of(format, event), bucket)
            })
            .filter(|tree| !self.trees.contains_key(tree))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let latest = retry_table(|| self.table.latest_snapshot()).await?;
        let files = match &latest {
            Some(snapshot) => retry_table(|| self.table.data_files(snapshot)).await?,
            None => Vec::new(),
        };
        let held = self.held_rows();
        for (period, bucket) in missing {
            let partition = [period];
            let has_files = files
                .iter()
                .any(|e| e.bucket == bucket && e.partition == partition);
            let state = if has_files {
                retry_table(|| self.table.read_bucket_of(&files, &partition, bucket)).await?
            } else {
                BucketState::default()
            };
            let schema = self.table.schema();
            let writer = BucketWriter::of_partition(schema, vec![period], bucket, state, held);
            self.trees.insert((period, bucket), self.writers.len());
            self.writers.push(writer);
            self.last_modified.push(i64::MIN);
        }
        Ok(())
    }

    /// Paimon's rule for idle writers, with patience, for a partitioned table (an unpartitioned
    /// one writes every bucket all the time): a writer that has written nothing for
    /// [`WRITER_IDLE_CHECKPOINTS`] checkpoints and whose last writes are committed closes
    /// (yesterday's hours stop holding memory); a late event for its partition opens it again
    /// from the files. A closing writer whose bucket still has more than one sorted run first
    /// compacts it fully, as Paimon's history-partition compaction (`partition_idle_time`)
    /// does for partitions without new data: a closed hour keeps one run, not the small files
    /// of its last checkpoints. The compaction joins this checkpoint's `messages`, and the
    /// writer closes once it is committed and idle again (unless the table is write-only: its
    /// dedicated compactor compacts).
    async fn close_idle_writers(
        &mut self,
        checkpoint_id: i64,
        prefix: &str,
        messages: &mut Vec<CommitMessage>,
    ) -> Result<(), JobError> {
        if self.partition_format.is_none() {
            return Ok(());
        }
        for message in messages.iter() {
            let tree = (message.partition[0], message.bucket);
            let index = self.trees[&tree];
            self.last_modified[index] = checkpoint_id;
        }
        let committed_through = self.committed_through;
        let is_idle = |modified: i64| {
            modified <= committed_through
                && checkpoint_id.saturating_sub(modified) >= WRITER_IDLE_CHECKPOINTS
        };
        let write_only = self.table.schema().options.write_only;
        let now = self.env.clock().now_millis();
        let compaction_prefix = format!("{prefix}-closing");
        let mut idle: Vec<bool> = self.last_modified.iter().map(|&m| is_idle(m)).collect();
        for (index, writer) in self.writers.iter_mut().enumerate() {
            if write_only || !idle[index] || writer.sorted_run_count() < 2 {
                continue;
            }
            // The writer stays open this checkpoint either way: until its compaction is
            // committed, or to try again after a transient failure of the store.
            idle[index] = false;
            match writer
                .compact_full(&self.table, &compaction_prefix, now)
                .await
            {
                Ok(compacted) => {
                    messages.extend(compacted);
                    self.last_modified[index] = checkpoint_id;
                }
                Err(error) => {
                    let error = JobError::from(error);
                    if !error.is_transient() {
                        return Err(error);
                    }
                }
            }
        }
        if !idle.contains(&true) {
            return Ok(());
        }
        let mut index = 0;
        self.writers.retain(|_| {
            index += 1;
            !idle[index - 1]
        });
        let mut index = 0;
        self.last_modified.retain(|_| {
            index += 1;
            !idle[index - 1]
        });
        self.trees = self
            .writers
            .iter()
            .enumerate()
            .map(|(index, w)| ((w.partition()[0], w.bucket()), index))
            .collect();
        Ok(())
    }

    /// Commits the checkpoint's files as one DWD snapshot carrying the checkpoint's watermark.
    async fn commit_with_watermark(
        &self,
        checkpoint: &CompletedCheckpoint,
        file_prefix: &str,
    ) -> Result<(), JobError> {
        commit_messages(
            &self.env,
            &self.committer,
            &self.table,
            checkpoint.checkpoint_id,
            checkpoint.committables.clone(),
            checkpoint.source_state["watermark"].as_i64(),
            file_prefix,
        )
        .await?;
        Ok(())
    }

    /// What the writers hold: when retries are dropped a flushed event id is never written
    /// again, so the writers leave flushed rows in the table's files.
    fn held_rows(&self) -> HeldRows {
        if self.retries_dropped() {
            HeldRows::Unflushed
        } else {
            HeldRows::All
        }
    }

    /// Whether a second record of an event id is a producer retry, dropped before the writer
    /// (the table has no `sequence.field` to decide between two records of an id).
    fn retries_dropped(&self) -> bool {
        self.table.schema().options.sequence_field.is_none()
    }

    /// Inserts a valid event into its bucket's writer; returns the event's bucket (an invalid
    /// event is still read and charged where its key would go).
    fn route(&mut self, event: &AdEvent) -> Result<usize, JobError> {
        // The bucket key is `event_id` alone, the first primary-key field, partitioned or not.
        let bucket = self.table.bucket_of_key(&[event.event_id as i64]) as usize;
        if !is_valid_event(event) {
            return Ok(bucket);
        }
        let retries_dropped = self.retries_dropped();
        let Some(format) = self.partition_format else {
            insert_event_once(&mut self.writers[bucket], event, &[], retries_dropped)?;
            return Ok(bucket);
        };
        let period = self.period_of(format, event);
        let index = *self
            .trees
            .get(&(period, bucket as u32))
            .expect("`process` opens the writer of every tree its events write");
        insert_event_once(&mut self.writers[index], event, &[period], retries_dropped)?;
        Ok(bucket)
    }
}

/// Inserts a valid event into its DWD bucket's writer, the row ending with `partition` (the
/// event's period, when DWD is partitioned). With `retries_dropped` (the table has no
/// `sequence.field`) a second record of an `event_id` is a producer retry and is dropped here;
/// with a `sequence.field` the table's merge engine decides between two records of an id (a late
/// stale copy must lose to the newer record), so every record goes to it. The `ods_to_dwd`
/// operator's work per record (the cost benchmark times this function).
pub fn insert_event_once(
    writer: &mut BucketWriter,
    event: &AdEvent,
    partition: &[i64],
    retries_dropped: bool,
) -> Result<(), TableError> {
    let row = event.to_row_then(partition);
    let mut key = [row[0], 0];
    key[1..=partition.len()].copy_from_slice(partition);
    if retries_dropped && writer.contains_key(&key[..=partition.len()]) {
        return Ok(()); // a producer retry: this event_id is already in the table
    }
    writer.write(RowKind::Insert, row)
}

impl<E: Env, T: Transport> StreamJob for OdsToDwd<E, T> {
    fn name(&self) -> &str {
        &self.config.job_name
    }

    async fn restore(&mut self, checkpoint: Option<&CompletedCheckpoint>) -> Result<(), JobError> {
        self.offsets = vec![0; self.config.partitions as usize];
        self.max_event_time_ms = vec![i64::MIN; self.config.partitions as usize];
        self.committer.restart();
        self.committed_through = i64::MIN;
        if let Some(checkpoint) = checkpoint {
            self.commit_with_watermark(checkpoint, &format!("{}-restore", self.attempt_prefix))
                .await?;
            self.committed_through = checkpoint.checkpoint_id;
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
            // Checkpoints written before event time existed carry no maxima: start afresh.
            if let Ok(maxima) = serde_json::from_value::<Vec<i64>>(
                checkpoint.source_state["max_event_time_ms"].clone(),
            ) && maxima.len() == self.offsets.len()
            {
                self.max_event_time_ms = maxima;
            }
        }
        self.load_writers().await
    }

    async fn process(&mut self) -> Result<usize, JobError> {
        let mut processed = 0;
        let lane_count = self.config.parallelism.max(1) as usize;
        let mut lanes = vec![(0u64, 0u64); lane_count];
        // Source subtask `i` reads partitions `p % parallelism == i`, one after another; the
        // subtasks fetch side by side, as Flink's parallel source does.
        let max = self.config.fetch_max_records;
        let tt = &self.tt;
        let offsets = &self.offsets;
        let mut readers: Vec<Vec<u32>> = vec![Vec::new(); lane_count];
        for partition in 0..self.config.partitions {
            readers[partition as usize % lane_count].push(partition);
        }
        let fetched_by_reader = join_all(readers.into_iter().filter(|r| !r.is_empty()).map(
            |partitions| async move {
                let mut out = Vec::with_capacity(partitions.len());
                for partition in partitions {
                    let offset = offsets[partition as usize];
                    let fetched =
                        retry_transient(|| async { Ok(tt.fetch(partition, offset, max).await?) })
                            .await?;
                    out.push((partition, fetched));
                }
                Ok::<_, JobError>(out)
            },
        ))
        .await;
        let mut fetched_all = Vec::with_capacity(self.config.partitions as usize);
        for reader in fetched_by_reader {
            fetched_all.extend(reader?);
        }
        fetched_all.sort_by_key(|(partition, _)| *partition);
        let events: Vec<&AdEvent> = fetched_all.iter().flat_map(|(_, f)| &f.events).collect();
        self.open_writers_for(&events).await?;
        for (partition, fetched) in fetched_all {
            let count = fetched.events.len();
            let max_event_time = &mut self.max_event_time_ms[partition as usize];
            for event in &fetched.events {
                *max_event_time = (*max_event_time).max(event.event_time_ms);
            }
            for event in &fetched.events {
                // The events are shuffled by key to the sink subtask of their bucket
                // (`bucket % parallelism`), which deduplicates and writes them.
                let bucket = self.route(event)?;
                let lane = &mut lanes[bucket % lane_count];
                lane.0 += 1;
                lane.1 += EVENT_WIRE_SIZE_BYTES as u64;
            }
            self.offsets[partition as usize] += count as u64;
            self.lag_records[partition as usize] = fetched
                .high_watermark
                .saturating_sub(self.offsets[partition as usize]);
            processed += count;
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
        checkpoint_id: i64,
    ) -> Result<(serde_json::Value, Vec<CommitMessage>), JobError> {
        let prefix = format!("{}-c{checkpoint_id}", self.attempt_prefix);
        let now = self.env.clock().now_millis();
        let mut messages = prepare_all(
            &self.env,
            &self.table,
            &mut self.writers,
            &prefix,
            now,
            self.config.parallelism,
        )
        .await?;
        self.close_idle_writers(checkpoint_id, &prefix, &mut messages)
            .await?;
        let lanes = writer_work(&messages, self.config.parallelism);
        self.env
            .cost()
            .charge_subtasks(CostOperator::DwdWriter, &lanes)
            .await;
        let watermark = watermark_of(&self.max_event_time_ms, self.config.out_of_orderness_ms);
        let state = json!({
            "offsets": self.offsets,
            "max_event_time_ms": self.max_event_time_ms,
            "watermark": watermark,
        });
        Ok((state, messages))
    }

    async fn commit(&mut self, checkpoint: &CompletedCheckpoint) -> Result<(), JobError> {
        let prefix = format!("{}-c{}", self.attempt_prefix, checkpoint.checkpoint_id);
        self.commit_with_watermark(checkpoint, &prefix).await?;
        self.committed_through = self.committed_through.max(checkpoint.checkpoint_id);
        // Like Flink's Kafka source: offsets go back to the queue for lag monitoring only.
        let offsets: Vec<u64> =
            serde_json::from_value(checkpoint.source_state["offsets"].clone()).unwrap_or_default();
        for (partition, offset) in offsets.into_iter().enumerate() {
            let _ = self
                .tt
                .commit_offset(&self.config.consumer_group, partition as u32, offset)
                .await;
        }
        Ok(())
    }

    fn is_processing_backlog(&self) -> bool {
        self.lag_records.iter().sum::<u64>() > self.config.backlog_lag_records
    }
}
