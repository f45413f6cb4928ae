//! Streaming changelog reader: follows a table's snapshots one by one, as Paimon's continuous
//! source does, and fails with `SnapshotExpired` instead of waiting forever for an expired one.

use super::{FileStoreTable, Snapshot, TableError};
use crate::env::ObjectStore;
use crate::row::{Row, RowKind};

pub struct StreamingReader<S: ObjectStore> {
    table: FileStoreTable<S>,
    next_snapshot: i64,
}

impl<S: ObjectStore> StreamingReader<S> {
    pub fn new(table: FileStoreTable<S>, next_snapshot: i64) -> Self {
        Self {
            table,
            next_snapshot,
        }
    }

    /// The id of the snapshot the next `poll` reads (what a consumer file records).
    pub fn next_snapshot(&self) -> i64 {
        self.next_snapshot
    }

    pub fn table(&self) -> &FileStoreTable<S> {
        &self.table
    }

    /// The next snapshot and its changelog records, advancing; `None` if it does not exist yet.
    pub async fn poll(&mut self) -> Result<Option<(Snapshot, Vec<(RowKind, Row)>)>, TableError> {
        match self.table.snapshot(self.next_snapshot).await? {
            Some(snapshot) => {
                let records = self.table.read_changelog(&snapshot).await?;
                self.next_snapshot += 1;
                Ok(Some((snapshot, records)))
            }
            None => match self.table.earliest_snapshot_id().await? {
                Some(earliest) if earliest > self.next_snapshot => {
                    Err(TableError::SnapshotExpired {
                        id: self.next_snapshot,
                    })
                }
                _ => Ok(None),
            },
        }
    }
}
