//! The world's record of scripted operations: builds deployed, rollbacks asked for and done.

use std::collections::BTreeMap;

use warehouse::jobs::DwsJobVersion;

/// A rollback asked for and not done yet: the job's host runs it when it restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRollback {
    pub table_root: String,
    pub tag: String,
    pub job: String,
    pub requested_ms: i64,
}

/// A rollback done: from `t_ms` on, the table's snapshots newer than the tag's are the replay's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackRecord {
    pub table_root: String,
    pub tag: String,
    pub t_ms: i64,
}

/// The operations' state in the world.
#[derive(Debug, Default)]
pub struct OperationsState {
    /// The build each deployed job runs now (absent: `current`).
    pub versions: BTreeMap<String, DwsJobVersion>,
    pub pending: Vec<PendingRollback>,
    pub done: Vec<RollbackRecord>,
}
