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

use crate::env::{Clock, Cost, Env, Journal, ObjectStore};
use crate::jobs::sink::retry_table;
use crate::stream::JobError;
use crate::table::{
    CommitMessage, CommitOutcome, DataFileMeta, FileStoreTable, TableError, compact_bucket,
};

#[derive(Debug, Clone, PartialEq)]
pub struct CompactorConfig {
    pub job_name: String,
    /// Paimon `commitUser` of the compaction job: distinct from every writer's.
    pub commit_user: String,
    /// How often the job looks for new snapshots.
    pub poll_interval_ms: i64,
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
            "compactor-start",
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
        let mut buckets: BTreeMap<u32, Vec<DataFileMeta>> = BTreeMap::new();
        for entry in retry_table(|| table.data_files(&latest)).await? {
            buckets.entry(entry.bucket).or_default().push(entry.file);
        }
        self.round += 1;
        let prefix = format!("{}-r{}", self.attempt_prefix, self.round);
        let now = self.env.clock().now_millis();
        let mut messages = Vec::new();
        let (mut rows, mut io_bytes) = (0, 0);
        for (bucket, files) in &buckets {
            let result = retry_table(|| {
                compact_bucket(&table, table.schema(), *bucket, files, &prefix, now)
            })
            .await?;
            let Some(result) = result else { continue };
            rows += result.after.iter().map(|f| f.row_count).sum::<u64>();
            io_bytes += result.io_bytes;
            messages.push(CommitMessage {
                bucket: *bucket,
                new_files: Vec::new(),
                changelog_files: Vec::new(),
                compact_before: result.before,
                compact_after: result.after,
            });
        }
        self.env.cost().charge("compactor", rows, io_bytes).await;
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
                    "compaction-commit",
                    format!("{summary} snapshot={snapshot_id} identifier={identifier}"),
                );
                self.tables[index].last_seen = Some(snapshot_id);
                Ok(RoundOutcome::Committed { snapshot_id })
            }
            Ok(CommitOutcome::AlreadyCommitted { snapshot_id }) => {
                self.tables[index].last_seen = None;
                Ok(RoundOutcome::Committed { snapshot_id })
            }
            Err(JobError::Table(TableError::CompactionConflict { bucket, reason })) => {
                self.env.journal().record(
                    "compaction-conflict",
                    format!("{summary} bucket={bucket} reason={reason}"),
                );
                // The commit filter ran first, so no snapshot references these outputs.
                for message in &messages {
                    for file in &message.compact_after {
                        let path = table.bucket_file_path(message.bucket, &file.file_name);
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
