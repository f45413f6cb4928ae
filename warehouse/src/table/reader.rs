//! Streaming changelog reader: follows a table's snapshots one by one, as Paimon's continuous
//! source does, and fails with `SnapshotExpired` instead of waiting forever for an expired one.

use std::cell::Cell;

use super::{ChangelogRecords, FileStoreTable, Snapshot, TableError};
use crate::env::ObjectStore;

pub struct StreamingReader<S: ObjectStore> {
    table: FileStoreTable<S>,
    next_snapshot: Cell<i64>,
    /// Parallel readers of each snapshot's changelog files.
    subtasks: u32,
}

impl<S: ObjectStore> StreamingReader<S> {
    pub fn new(table: FileStoreTable<S>, next_snapshot: i64) -> Self {
        Self {
            table,
            next_snapshot: Cell::new(next_snapshot),
            subtasks: 1,
        }
    }

    /// The reader with `subtasks` parallel readers of each snapshot's files.
    pub fn with_subtasks(mut self, subtasks: u32) -> Self {
        self.subtasks = subtasks.max(1);
        self
    }

    /// The id of the snapshot the next `poll` reads (what a consumer file records).
    pub fn next_snapshot(&self) -> i64 {
        self.next_snapshot.get()
    }

    pub fn table(&self) -> &FileStoreTable<S> {
        &self.table
    }

    /// The next snapshot and its changelog records, advancing; `None` if it does not exist yet.
    /// Takes `&self` (the position is a `Cell`) so a retry closure can call it repeatedly; it
    /// advances only after the snapshot's changelog was read in full, so a failed poll is
    /// safe to retry.
    pub async fn poll(&self) -> Result<Option<(Snapshot, ChangelogRecords)>, TableError> {
        let next = self.next_snapshot.get();
        match self.table.snapshot(next).await? {
            Some(snapshot) => match self
                .table
                .read_changelog_by_subtasks(&snapshot, self.subtasks)
                .await
            {
                Ok(records) => {
                    self.next_snapshot.set(next + 1);
                    Ok(Some((snapshot, records)))
                }
                // Expired while being read: its files went after its snapshot file.
                Err(TableError::Corrupt { .. }) if self.table.snapshot(next).await?.is_none() => {
                    Err(TableError::SnapshotExpired { id: next })
                }
                Err(error) => Err(error),
            },
            None => match self.table.earliest_snapshot_id().await? {
                Some(earliest) if earliest > next => Err(TableError::SnapshotExpired { id: next }),
                _ => Ok(None),
            },
        }
    }
}
