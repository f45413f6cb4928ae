//! The dedicated compaction job (Paimon's `compact` action for `write-only` tables): watches
//! each table's snapshots, runs universal compaction on every bucket that needs it and commits
//! the result as one COMPACT snapshot under its own commitUser. A commit that lost to a
//! concurrent compaction is rejected by the table (a conflict), its outputs deleted, and the
//! bucket re-read and compacted again; writers' APPEND commits never conflict with it.
//!
//! Exactly-once: the job holds no state a crash could lose. Files written before a crash and
//! never committed are orphans; a commit retried after an ambiguous failure is recognised by
//! its (commitUser, identifier) and not applied twice; compaction never changes what a
//! snapshot reads, so the worst a crash costs is repeated work.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::env::{Clock, Cost, CostOperator, Env, Journal, JournalKind, ObjectStore};
use crate::jobs::sink::retry_table;
use crate::stream::JobError;
use crate::stream::runtime::join_all;
use crate::table::{
    CommitMessage, CommitOutcome, DataFileMeta, FileStoreTable, TableError,
    compact_bucket_dedicated,
};

#[derive(Debug, Clone, PartialEq)]
pub struct CompactorConfig {
    pub job_name: String,
    /// Paimon `commitUser` of the compaction job: distinct from every writer's.
    pub commit_user: String,
    /// How often the job looks for new snapshots.
    pub poll_interval_ms: i64,
    /// Subtasks compacting side by side: bucket `b` is compacted by subtask `b % parallelism`.
    pub parallelism: u32,
}

/// What one compaction round of one table did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundOutcome {
    /// Nothing new since the last round, or no bucket needed compaction.
    Idle,
    Committed {
        snapshot_id: i64,
    },
    /// Lost to a concurrent compaction: outputs deleted, the next round re-reads the table.
    Conflict,
}

struct TableState<S: ObjectStore> {
    table: FileStoreTable<S>,
    /// The snapshot the last round looked at (or committed); None: look again.
    last_seen: Option<i64>,
}

pub struct DedicatedCompactor<E: Env> {
    env: E,
    config: CompactorConfig,
    tables: Vec<TableState<E::Store>>,
    /// Unique per process attempt, so an attempt's files never collide with another's.
    attempt_prefix: String,
    round: u64,
    last_identifier: i64,
}

impl<E: Env> DedicatedCompactor<E> {
    pub fn new(env: E, config: CompactorConfig, tables: Vec<FileStoreTable<E::Store>>) -> Self {
        let attempt_prefix = format!("{}-{}", config.job_name, env.clock().now_millis());
        Self {
            env,
            config,
            tables: tables
                .into_iter()
                .map(|table| TableState {
                    table,
                    last_seen: None,
                })
                .collect(),
            attempt_prefix,
            round: 0,
            last_identifier: 0,
        }
    }

    /// Compacts forever, one round per table per poll interval; returns only on an error that
    /// is not transient (the host restarts the job).
    pub async fn run(&mut self) -> Result<(), JobError> {
        self.env.journal().record(
            JournalKind::CompactorStart,
            format!("job={} tables={}", self.config.job_name, self.tables.len()),
        );
        loop {
            for index in 0..self.tables.len() {
                self.compact_round(index).await?;
            }
            tokio::time::sleep(Duration::from_millis(
                self.config.poll_interval_ms.max(1) as u64
            ))
            .await;
        }
    }

    /// Commit identifiers grow with the clock, so they keep growing across restarts without
    /// reading back the job's own history.
    fn next_identifier(&mut self) -> i64 {
        self.last_identifier = (self.last_identifier + 1).max(self.env.clock().now_millis());
        self.last_identifier
    }

    /// One round over table `index`: if a new snapshot appeared, compact every bucket that needs
    /// it and commit the lot as one COMPACT snapshot.
    pub async fn compact_round(&mut self, index: usize) -> Result<RoundOutcome, JobError> {
        let table = self.tables[index].table.clone();
        let Some(latest) = retry_table(|| table.latest_snapshot()).await? else {
            return Ok(RoundOutcome::Idle);
        };
        if self.tables[index].last_seen == Some(latest.id) {
            return Ok(RoundOutcome::Idle);
        }
        // Each bucket of each partition is one LSM tree.
        let mut buckets: BTreeMap<(u32, Vec<i64>), Vec<DataFileMeta>> = BTreeMap::new();
        for entry in retry_table(|| table.data_files(&latest)).await? {
            let tree = (entry.bucket, entry.partition);
            buckets.entry(tree).or_default().push(entry.file);
        }
        self.round += 1;
        let prefix = format!("{}-r{}", self.attempt_prefix, self.round);
        let now = self.env.clock().now_millis();
        // Subtask `l` compacts the buckets `b` with `b % parallelism == l`, one after another;
        // the subtasks run side by side.
        let lane_count = self.config.parallelism.max(1) as usize;
        type Tree<'a> = (u32, &'a [i64], &'a Vec<DataFileMeta>);
        let mut lane_buckets: Vec<Vec<Tree>> = vec![Vec::new(); lane_count];
        for ((bucket, partition), files) in &buckets {
            lane_buckets[*bucket as usize % lane_count].push((*bucket, partition, files));
        }
        let (table_ref, prefix_ref) = (&table, &prefix);
        let compacted = join_all(lane_buckets.into_iter().map(|lane| async move {
            let mut done = Vec::new();
            for (bucket, partition, files) in lane {
                let result = retry_table(|| {
                    compact_bucket_dedicated(
                        table_ref,
                        table_ref.schema(),
                        partition,
                        bucket,
                        files,
                        prefix_ref,
                        now,
                    )
                })
                .await?;
                if let Some(result) = result {
                    done.push(((bucket, partition.to_vec()), result));
                }
            }
            Ok::<_, JobError>(done)
        }))
        .await;
        let mut messages = Vec::new();
        let mut io_bytes = 0;
        let mut lanes = vec![(0u64, 0u64); lane_count];
        let mut results = Vec::new();
        for lane in compacted {
            results.extend(lane?);
        }
        results.sort_by(|a, b| a.0.cmp(&b.0));
        for ((bucket, partition), result) in results {
            io_bytes += result.io_bytes;
            let lane = &mut lanes[bucket as usize % lane_count];
            lane.0 += result.after.iter().map(|f| f.row_count).sum::<u64>();
            lane.1 += result.io_bytes;
            messages.push(CommitMessage {
                partition,
                bucket,
                new_files: Vec::new(),
                changelog_files: Vec::new(),
                compact_before: result.before,
                compact_after: result.after,
                compact_changelog_files: result.changelog,
            });
        }
        self.env
            .cost()
            .charge_table_subtasks(CostOperator::Compactor, table.root(), &lanes)
            .await;
        if messages.is_empty() {
            self.tables[index].last_seen = Some(latest.id);
            return Ok(RoundOutcome::Idle);
        }
        let identifier = self.next_identifier();
        let user = self.config.commit_user.clone();
        let now = self.env.clock().now_millis();
        let outcome = retry_table(|| {
            table.commit_compaction(&user, identifier, messages.clone(), now, &prefix)
        })
        .await;
        let table_name = table.root().rsplit('/').next().unwrap_or_default();
        let summary = format!(
            "table={table_name} base_snapshot={} buckets={} files_before={} files_after={} io_bytes={io_bytes}",
            latest.id,
            messages.len(),
            messages
                .iter()
                .map(|m| m.compact_before.len())
                .sum::<usize>(),
            messages
                .iter()
                .map(|m| m.compact_after.len())
                .sum::<usize>(),
        );
        match outcome {
            Ok(CommitOutcome::Committed { snapshot_id, .. }) => {
                self.env.journal().record(
                    JournalKind::CompactionCommit,
                    format!("{summary} snapshot={snapshot_id} identifier={identifier}"),
                );
                // The round saw `latest` and its own commit; a writer's snapshot committed in
                // between (its new runs unseen) means looking again, or a bucket it pushed to
                // the stop trigger would wait for a round that never comes (swarm seed 89 of
                // dedicated-compaction: the writer stalls, no snapshot follows, for ever).
                self.tables[index].last_seen = Some(if snapshot_id == latest.id + 1 {
                    snapshot_id
                } else {
                    latest.id
                });
                Ok(RoundOutcome::Committed { snapshot_id })
            }
            Ok(CommitOutcome::AlreadyCommitted { snapshot_id }) => {
                self.tables[index].last_seen = None;
                Ok(RoundOutcome::Committed { snapshot_id })
            }
            Err(JobError::Table(TableError::CompactionConflict { bucket, reason })) => {
                self.env.journal().record(
                    JournalKind::CompactionConflict,
                    format!("{summary} bucket={bucket} reason={reason}"),
                );
                // The commit filter ran first, so no snapshot references these outputs.
                for message in &messages {
                    for file in &message.compact_after {
                        let path = table.bucket_file_path(
                            &message.partition,
                            message.bucket,
                            &file.file_name,
                        );
                        let _ = table.store().delete(&path).await;
                    }
                }
                self.tables[index].last_seen = None;
                Ok(RoundOutcome::Conflict)
            }
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::env::{FreeCost, ManualClock, MemJournal, MemStore, NoBuggify, StoreError, TestEnv};
    use crate::jobs::sink::{WRITE_STALL_WAIT_MAX_MS, prepare_all};
    use crate::row::{Field, Row, RowKind};
    use crate::table::{BucketWriter, Key, TableOptions, TableSchema};

    /// A store that yields before every operation, so joined jobs interleave.
    #[derive(Clone, Default)]
    struct YieldingStore(MemStore);

    impl ObjectStore for YieldingStore {
        async fn put(&self, path: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
            tokio::task::yield_now().await;
            self.0.put(path, bytes).await
        }
        async fn put_if_absent(&self, path: &str, bytes: Vec<u8>) -> Result<bool, StoreError> {
            tokio::task::yield_now().await;
            self.0.put_if_absent(path, bytes).await
        }
        async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
            tokio::task::yield_now().await;
            self.0.get(path).await
        }
        async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
            tokio::task::yield_now().await;
            self.0.list(prefix).await
        }
        async fn delete(&self, path: &str) -> Result<(), StoreError> {
            tokio::task::yield_now().await;
            self.0.delete(path).await
        }
    }

    #[derive(Clone, Default)]
    struct YieldingEnv {
        store: YieldingStore,
        clock: ManualClock,
        journal: MemJournal,
    }

    impl Env for YieldingEnv {
        type Store = YieldingStore;
        type Clock = ManualClock;
        type Cost = FreeCost;
        type Buggify = NoBuggify;
        type Journal = MemJournal;
        fn store(&self) -> &YieldingStore {
            &self.store
        }
        fn clock(&self) -> &ManualClock {
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

    fn schema() -> TableSchema {
        TableSchema {
            fields: vec![Field::bigint("k"), Field::bigint("v")],
            partition_keys: Vec::new(),
            primary_keys: vec!["k".into()],
            options: TableOptions {
                bucket: 2,
                compaction_trigger: 2,
                write_only: true,
                ..TableOptions::default()
            },
        }
    }

    async fn open<S: ObjectStore>(store: S) -> FileStoreTable<S> {
        FileStoreTable::create_or_open(store, "warehouse/t.db/w", schema(), 0)
            .await
            .unwrap()
    }

    async fn writers<S: ObjectStore>(table: &FileStoreTable<S>) -> Vec<BucketWriter> {
        let latest = table.latest_snapshot().await.unwrap();
        let mut writers = Vec::new();
        for bucket in 0..2 {
            let state = table
                .read_bucket(latest.as_ref(), &[], bucket)
                .await
                .unwrap();
            writers.push(BucketWriter::new(table.schema(), bucket, state));
        }
        writers
    }

    /// One write-only checkpoint of keys `keys` with value `value`, through the jobs' sink.
    async fn checkpoint<E: Env>(
        env: &E,
        table: &FileStoreTable<E::Store>,
        writers: &mut [BucketWriter],
        model: &mut BTreeMap<Key, Row>,
        keys: std::ops::Range<i64>,
        value: i64,
    ) -> Result<(), JobError> {
        for k in keys {
            let bucket = table.bucket_of_key(&[k]) as usize;
            let row = vec![k, value];
            writers[bucket].write(RowKind::Insert, row.clone()).unwrap();
            model.insert(vec![k], row);
        }
        let prefix = format!("w{value}");
        let messages = prepare_all(env, table, writers, &prefix, value, 1).await?;
        table
            .commit("writer", value, messages, None, value, &prefix)
            .await?;
        Ok(())
    }

    fn compactor<E: Env>(
        env: &E,
        name: &str,
        table: FileStoreTable<E::Store>,
    ) -> DedicatedCompactor<E> {
        let config = CompactorConfig {
            job_name: name.into(),
            commit_user: format!("{name}-user"),
            poll_interval_ms: 10,
            parallelism: 1,
        };
        DedicatedCompactor::new(env.clone(), config, vec![table])
    }

    async fn read_latest<S: ObjectStore>(table: &FileStoreTable<S>) -> BTreeMap<Key, Row> {
        let latest = table.latest_snapshot().await.unwrap().unwrap();
        table.read_all(&latest).await.unwrap()
    }

    /// The compactor reduces a write-only table's runs with COMPACT snapshots under its own
    /// commitUser, changes no row, and is idle until a new snapshot appears.
    #[tokio::test(flavor = "current_thread")]
    async fn compactor_compacts_write_only_tables_without_changing_rows() {
        let env = TestEnv::default();
        let table = open(env.store.clone()).await;
        let mut ws = writers(&table).await;
        let mut model = BTreeMap::new();
        for i in 1..=3 {
            checkpoint(&env, &table, &mut ws, &mut model, 0..40 * i, i)
                .await
                .unwrap();
        }
        let mut job = compactor(&env, "compactor", table.clone());
        let RoundOutcome::Committed { snapshot_id } = job.compact_round(0).await.unwrap() else {
            panic!("three runs per bucket reach the trigger of 2");
        };
        let snapshot = table.snapshot(snapshot_id).await.unwrap().unwrap();
        assert_eq!(snapshot.commit_kind, crate::table::CommitKind::Compact);
        assert_eq!(snapshot.commit_user, "compactor-user");
        assert_eq!(read_latest(&table).await, model);
        assert_eq!(job.compact_round(0).await.unwrap(), RoundOutcome::Idle);
        // The writer's next flush sees the compactor's work.
        checkpoint(&env, &table, &mut ws, &mut model, 0..5, 4)
            .await
            .unwrap();
        for w in &ws {
            assert!(w.sorted_run_count() <= 2, "bucket {}", w.bucket());
        }
        assert_eq!(read_latest(&table).await, model);
        let journal = env.journal.0.borrow();
        assert!(
            journal
                .iter()
                .any(|(kind, _)| *kind == JournalKind::CompactionCommit)
        );
    }

    /// Two compactors racing on one table: one commits, the other's commit is a conflict (its
    /// outputs deleted) and its next round re-reads the table. Rows never change.
    #[tokio::test(flavor = "current_thread")]
    async fn two_compactors_race_and_the_loser_retries() {
        let env = YieldingEnv::default();
        let table = open(env.store.clone()).await;
        let mut ws = writers(&table).await;
        let mut model = BTreeMap::new();
        for i in 1..=4 {
            checkpoint(&env, &table, &mut ws, &mut model, 0..30 * i, i)
                .await
                .unwrap();
        }
        let mut a = compactor(&env, "ca", table.clone());
        let mut b = compactor(&env, "cb", table.clone());
        let (ra, rb) = tokio::join!(a.compact_round(0), b.compact_round(0));
        let outcomes = [ra.unwrap(), rb.unwrap()];
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == RoundOutcome::Conflict)
                .count(),
            1,
            "{outcomes:?}"
        );
        assert_eq!(read_latest(&table).await, model);
        let loser = if outcomes[0] == RoundOutcome::Conflict {
            &mut a
        } else {
            &mut b
        };
        let again = loser.compact_round(0).await.unwrap();
        assert_ne!(again, RoundOutcome::Conflict);
        assert_eq!(read_latest(&table).await, model);
        // Every data file left in storage is live: the loser deleted its outputs.
        let latest = table.latest_snapshot().await.unwrap().unwrap();
        let live: Vec<String> = table
            .data_files(&latest)
            .await
            .unwrap()
            .into_iter()
            .map(|e| table.bucket_file_path(&e.partition, e.bucket, &e.file.file_name))
            .collect();
        let loser_files: Vec<String> = env
            .store
            .0
            .objects()
            .into_keys()
            .filter(|p| p.contains("/bucket-") && p.contains("-compact-") && !live.contains(p))
            .filter(|p| {
                let lost = if outcomes[0] == RoundOutcome::Conflict {
                    "/data-ca-"
                } else {
                    "/data-cb-"
                };
                p.contains(lost) && p.contains("-r1-")
            })
            .collect();
        assert_eq!(loser_files, Vec::<String>::new());
    }

    /// Stop trigger equal to the compaction trigger (Paimon allows it; swarm seed 20 of
    /// dedicated-compaction drew it): a write-only bucket holding exactly that many runs, the
    /// newest smallest, is one universal picking leaves alone, yet its writer waits before the
    /// next flush. The compactor compacts it, so the writer goes on instead of waiting out
    /// WRITE_STALL_WAIT_MAX_MS and failing over (and failing over again, for ever).
    #[tokio::test(flavor = "current_thread")]
    async fn compactor_unblocks_writers_when_the_stop_trigger_equals_the_compaction_trigger() {
        let env = TestEnv::default();
        let mut schema = schema();
        schema.options.bucket = 1;
        schema.options.compaction_trigger = 3;
        schema.options.stop_trigger = Some(3);
        let table =
            FileStoreTable::create_or_open(env.store.clone(), "warehouse/t.db/s", schema, 0)
                .await
                .unwrap();
        let latest = table.latest_snapshot().await.unwrap();
        let state = table.read_bucket(latest.as_ref(), &[], 0).await.unwrap();
        let mut ws = vec![BucketWriter::new(table.schema(), 0, state)];
        let mut model = BTreeMap::new();
        // Runs of 300, 120 and 40 rows: neither size amplification nor size ratio picks them.
        for (value, rows) in [(1, 300), (2, 120), (3, 40)] {
            checkpoint(&env, &table, &mut ws, &mut model, 0..rows, value)
                .await
                .unwrap();
        }
        assert_eq!(ws[0].sorted_run_count(), 3);
        let latest = table.latest_snapshot().await.unwrap().unwrap();
        let files: Vec<DataFileMeta> = table
            .data_files(&latest)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.file)
            .collect();
        let universal =
            crate::table::compact_bucket(&table, table.schema(), &[], 0, &files, "p", 0);
        assert!(
            universal.await.unwrap().is_none(),
            "universal picking, as Paimon's, leaves a bucket at the trigger with these sizes"
        );
        let mut job = compactor(&env, "compactor", table.clone());
        let outcome = job.compact_round(0).await.unwrap();
        assert!(
            matches!(outcome, RoundOutcome::Committed { .. }),
            "the bucket its writer waits on must be compacted: {outcome:?}"
        );
        assert_eq!(read_latest(&table).await, model);
        checkpoint(&env, &table, &mut ws, &mut model, 0..10, 4)
            .await
            .unwrap();
        assert_eq!(read_latest(&table).await, model);
        let journal = env.journal.0.borrow();
        let kinds: Vec<&str> = journal.iter().map(|(kind, _)| kind.name()).collect();
        assert!(!kinds.contains(&"write-stall"), "{kinds:?}");
    }

    /// A write-only writer at the stop trigger waits for the compactor (traced as a stall) and
    /// proceeds once it compacted; with no compactor the wait is bounded and fails the
    /// checkpoint with an error naming the stop trigger.
    #[tokio::test(flavor = "current_thread")]
    async fn write_only_writer_waits_for_the_compactor_at_the_stop_trigger() {
        let env = TestEnv::default();
        let table = open(env.store.clone()).await;
        let stop_trigger = table.schema().options.stop_trigger();
        let mut ws = writers(&table).await;
        let mut model = BTreeMap::new();
        for i in 1..=stop_trigger as i64 {
            checkpoint(&env, &table, &mut ws, &mut model, 0..20, i)
                .await
                .unwrap();
        }
        // The next flush would exceed the stop trigger: it waits until the compactor runs.
        let mut job = compactor(&env, "compactor", table.clone());
        let next = stop_trigger as i64 + 1;
        let (written, compacted) = tokio::join!(
            checkpoint(&env, &table, &mut ws, &mut model, 0..20, next),
            job.compact_round(0)
        );
        written.unwrap();
        assert!(matches!(compacted.unwrap(), RoundOutcome::Committed { .. }));
        assert_eq!(read_latest(&table).await, model);
        {
            let journal = env.journal.0.borrow();
            let kinds: Vec<&str> = journal.iter().map(|(kind, _)| kind.name()).collect();
            assert!(kinds.contains(&"write-stall"), "{kinds:?}");
            assert!(kinds.contains(&"write-stall-end"), "{kinds:?}");
        }

        // No compactor: the wait ends with a clear error once the bound has passed.
        let env = TestEnv::default();
        let table = open(env.store.clone()).await;
        let mut ws = writers(&table).await;
        for i in 1..=stop_trigger as i64 {
            checkpoint(&env, &table, &mut ws, &mut model, 0..20, i)
                .await
                .unwrap();
        }
        let clock = env.clock.clone();
        let (stalled, ()) = tokio::join!(
            checkpoint(&env, &table, &mut ws, &mut model, 0..20, next + 100),
            async move {
                tokio::task::yield_now().await;
                clock.0.set(clock.0.get() + WRITE_STALL_WAIT_MAX_MS);
            }
        );
        let error = stalled.unwrap_err().to_string();
        assert!(error.contains("num-sorted-run.stop-trigger"), "{error}");
        assert!(
            env.journal
                .0
                .borrow()
                .iter()
                .any(|(kind, _)| *kind == JournalKind::WriteStallTimeout)
        );
    }
}
