//! The ports through which the warehouse reaches its world: wall clock, object store, compute cost
//! and fault-injection sites. Production would back them with real services; the simulator backs
//! them with adapters that cross its deterministic network, so the warehouse never imports it.

use std::future::Future;
use std::rc::Rc;

/// Errors an object store may return. `Unavailable` is retryable (network, timeout, host down);
/// `Io` is a storage-side failure reported by the store itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("object store unavailable: {0}")]
    Unavailable(String),
    #[error("object store I/O error at {path}: {reason}")]
    Io { path: String, reason: String },
}

/// A durable object store in the shape of HDFS/OSS as Paimon uses it: whole-object put, get,
/// list by prefix, delete, and an atomic create-if-absent used to publish snapshots.
/// A successful `put`/`put_if_absent` is durable (synced) when it returns.
pub trait ObjectStore: Clone + 'static {
    fn put(&self, path: &str, bytes: Vec<u8>) -> impl Future<Output = Result<(), StoreError>>;
    /// Creates `path` only if it does not exist; `Ok(false)` when it already existed.
    fn put_if_absent(
        &self,
        path: &str,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<bool, StoreError>>;
    fn get(&self, path: &str) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>>;
    /// Paths (full, sorted ascending) of every object whose path starts with `prefix`.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, StoreError>>;
    /// Deleting a missing object succeeds.
    fn delete(&self, path: &str) -> impl Future<Output = Result<(), StoreError>>;
    /// Like `list`, with each object's last modification time (wall-clock millis), as orphan
    /// cleaning and consumer expiration need. A store that cannot tell an object's age reports
    /// [`MODIFIED_UNKNOWN`], which reads as "just written", so nothing is ever cleaned by age.
    fn list_status(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<ObjectStatus>, StoreError>> {
        async move {
            Ok(self
                .list(prefix)
                .await?
                .into_iter()
                .map(|path| ObjectStatus {
                    path,
                    modified_millis: MODIFIED_UNKNOWN,
                })
                .collect())
        }
    }
}

/// Modification time of an object whose age the store cannot tell: newer than any bound.
pub const MODIFIED_UNKNOWN: i64 = i64::MAX;

/// One listed object and when it was last written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectStatus {
    pub path: String,
    /// Wall-clock millis of the last write, or [`MODIFIED_UNKNOWN`].
    pub modified_millis: i64,
}

/// Wall-clock readings (event times, snapshot `timeMillis`): a fixed epoch plus elapsed time.
pub trait Clock: Clone + 'static {
    fn now_millis(&self) -> i64;
}

/// The operators that report their work through the cost port (and the storage system's I/O,
/// which the world charges): the writer and every reader of a cost table share this list, so an
/// operator cannot be misspelt into a free one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CostOperator {
    /// An event inserted into its DWD bucket's writer (duplicate lookup, lookup changelog).
    OdsToDwd,
    /// A DWD row flushed (sort, Parquet encode of data and changelog files).
    DwdWriter,
    /// An event folded into its DWS minute row.
    DwdToDws,
    /// A DWS row flushed.
    DwsWriter,
    /// Decode, merge and encode of a dedicated compaction's inputs and outputs.
    Compactor,
    /// A write request to the storage system.
    DfsWrite,
    /// A read request to the storage system.
    DfsRead,
}

impl CostOperator {
    pub const ALL: [CostOperator; 7] = [
        CostOperator::Compactor,
        CostOperator::OdsToDwd,
        CostOperator::DwdWriter,
        CostOperator::DwdToDws,
        CostOperator::DwsWriter,
        CostOperator::DfsWrite,
        CostOperator::DfsRead,
    ];

    /// The name cost tables and reports use.
    pub fn name(self) -> &'static str {
        match self {
            Self::OdsToDwd => "ods_to_dwd",
            Self::DwdWriter => "dwd_writer",
            Self::DwdToDws => "dwd_to_dws",
            Self::DwsWriter => "dws_writer",
            Self::Compactor => "compactor",
            Self::DfsWrite => "dfs_write",
            Self::DfsRead => "dfs_read",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.name() == name)
    }
}

/// Real CPU work takes no simulated time, so the warehouse reports its work here and the world
/// turns it into time (a sleep) from its cost model.
pub trait Cost: Clone + 'static {
    fn charge(&self, operator: CostOperator, records: u64, bytes: u64) -> impl Future<Output = ()>;
    /// Work of `operator` on the files of the table at `table_root` (a dedicated compaction):
    /// the world may weigh it by what that table's data stands for.
    fn charge_table(
        &self,
        operator: CostOperator,
        table_root: &str,
        records: u64,
        bytes: u64,
    ) -> impl Future<Output = ()> {
        let _ = table_root;
        self.charge(operator, records, bytes)
    }
    /// [`Self::charge_table`] split across parallel subtasks (`work[i]` = records and bytes of
    /// subtask `i`), which run side by side.
    fn charge_table_subtasks(
        &self,
        operator: CostOperator,
        table_root: &str,
        work: &[(u64, u64)],
    ) -> impl Future<Output = ()> {
        let (records, bytes) = work
            .iter()
            .fold((0, 0), |(r, b), &(records, bytes)| (r + records, b + bytes));
        self.charge_table(operator, table_root, records, bytes)
    }
    /// Work of one operator split across the job's parallel subtasks (`work[i]` = records and
    /// bytes of subtask `i`), which run side by side: the slowest subtask sets the time.
    fn charge_subtasks(
        &self,
        operator: CostOperator,
        work: &[(u64, u64)],
    ) -> impl Future<Output = ()> {
        let (records, bytes) = work
            .iter()
            .fold((0, 0), |(r, b), &(records, bytes)| (r + records, b + bytes));
        self.charge(operator, records, bytes)
    }
}

/// Splits `records` and `bytes` evenly over `parallelism` subtasks (hash-partitioned input).
pub fn even_split(records: u64, bytes: u64, parallelism: u32) -> Vec<(u64, u64)> {
    let lanes = u64::from(parallelism.max(1));
    (0..lanes)
        .map(|lane| {
            let share = |total: u64| total / lanes + u64::from(lane < total % lanes);
            (share(records), share(bytes))
        })
        .collect()
}

/// FoundationDB-style BUGGIFY: a named site inside the warehouse that the world may switch on.
pub trait Buggify: Clone + 'static {
    fn fire(&self, site: &'static str) -> bool;
}

/// What the warehouse reports to its journal: one kind per significant event, shared by the
/// warehouse (the writer) and whoever reads the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JournalKind {
    CheckpointStart,
    CheckpointComplete,
    CheckpointDeclined,
    /// The checkpoint interval changed (traffic-driven or backlog policy).
    CheckpointInterval,
    /// A commit of a checkpoint's files: `committed` says whether it made a snapshot (a
    /// re-commit of an identifier already committed does not).
    Commit {
        committed: bool,
    },
    JobRestore,
    CompactorStart,
    CompactionCommit,
    CompactionConflict,
    Expire,
    ExpireFailed,
    ConsumerExpire,
    TagCreate,
    TagDelete,
    TagFailed,
    WriteStall,
    WriteStallEnd,
    WriteStallTimeout,
    /// A table could not be opened yet; the job retries.
    TableOpenRetry,
    /// TT era: the batch job started a correction round.
    BatchRound,
    /// TT era: the batch job could not read or write what a round needs (retried).
    BatchFailed,
}

impl JournalKind {
    /// Every kind (a commit twice: one that made a snapshot, one that did not).
    pub const ALL: [JournalKind; 22] = [
        Self::CheckpointStart,
        Self::CheckpointComplete,
        Self::CheckpointDeclined,
        Self::CheckpointInterval,
        Self::Commit { committed: true },
        Self::Commit { committed: false },
        Self::JobRestore,
        Self::CompactorStart,
        Self::CompactionCommit,
        Self::CompactionConflict,
        Self::Expire,
        Self::ExpireFailed,
        Self::ConsumerExpire,
        Self::TagCreate,
        Self::TagDelete,
        Self::TagFailed,
        Self::WriteStall,
        Self::WriteStallEnd,
        Self::WriteStallTimeout,
        Self::TableOpenRetry,
        Self::BatchRound,
        Self::BatchFailed,
    ];

    /// The event's name in a trace or a metrics pipeline.
    pub fn name(self) -> &'static str {
        match self {
            Self::CheckpointStart => "checkpoint-start",
            Self::CheckpointComplete => "checkpoint-complete",
            Self::CheckpointDeclined => "checkpoint-declined",
            Self::CheckpointInterval => "checkpoint-interval",
            Self::Commit { .. } => "commit",
            Self::JobRestore => "job-restore",
            Self::CompactorStart => "compactor-start",
            Self::CompactionCommit => "compaction-commit",
            Self::CompactionConflict => "compaction-conflict",
            Self::Expire => "expire",
            Self::ExpireFailed => "expire-failed",
            Self::ConsumerExpire => "consumer-expire",
            Self::TagCreate => "tag-create",
            Self::TagDelete => "tag-delete",
            Self::TagFailed => "tag-failed",
            Self::WriteStall => "write-stall",
            Self::WriteStallEnd => "write-stall-end",
            Self::WriteStallTimeout => "write-stall-timeout",
            Self::TableOpenRetry => "table-open-retry",
            Self::BatchRound => "batch-round",
            Self::BatchFailed => "batch-failed",
        }
    }
}

/// Where the warehouse reports significant events (checkpoint, commit, failover) for whoever
/// watches it: a metrics pipeline in production, the trace in the simulator.
pub trait Journal: Clone + 'static {
    fn record(&self, kind: JournalKind, detail: String);
}

/// Everything a warehouse process needs from its world, bundled.
pub trait Env: Clone + 'static {
    type Store: ObjectStore;
    type Clock: Clock;
    type Cost: Cost;
    type Buggify: Buggify;
    type Journal: Journal;
    fn store(&self) -> &Self::Store;
    fn clock(&self) -> &Self::Clock;
    fn cost(&self) -> &Self::Cost;
    fn buggify(&self) -> &Self::Buggify;
    fn journal(&self) -> &Self::Journal;
}

/// A plain in-process object store: real semantics (atomic create-if-absent, sorted listing),
/// used by unit tests of the warehouse and by offline tools reading an exported table.
#[derive(Clone, Default)]
pub struct MemStore {
    objects: Rc<std::cell::RefCell<std::collections::BTreeMap<String, Vec<u8>>>>,
    /// When set, writes record their time from this clock (for `list_status`).
    clock: Option<ManualClock>,
    modified: Rc<std::cell::RefCell<std::collections::BTreeMap<String, i64>>>,
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }
    /// Every object, sorted by path.
    pub fn objects(&self) -> std::collections::BTreeMap<String, Vec<u8>> {
        self.objects.borrow().clone()
    }
    pub fn from_objects(objects: std::collections::BTreeMap<String, Vec<u8>>) -> Self {
        Self {
            objects: Rc::new(std::cell::RefCell::new(objects)),
            ..Self::default()
        }
    }
    /// A store that stamps every write with `clock`'s time, so objects have ages.
    pub fn with_clock(clock: ManualClock) -> Self {
        Self {
            clock: Some(clock),
            ..Self::default()
        }
    }
    fn stamp(&self, path: &str) {
        if let Some(clock) = &self.clock {
            self.modified
                .borrow_mut()
                .insert(path.to_string(), clock.now_millis());
        }
    }
}

impl ObjectStore for MemStore {
    async fn put(&self, path: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.objects.borrow_mut().insert(path.to_string(), bytes);
        self.stamp(path);
        Ok(())
    }
    async fn put_if_absent(&self, path: &str, bytes: Vec<u8>) -> Result<bool, StoreError> {
        let mut objects = self.objects.borrow_mut();
        if objects.contains_key(path) {
            return Ok(false);
        }
        objects.insert(path.to_string(), bytes);
        drop(objects);
        self.stamp(path);
        Ok(true)
    }
    async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.objects.borrow().get(path).cloned())
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .objects
            .borrow()
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }
    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        self.objects.borrow_mut().remove(path);
        self.modified.borrow_mut().remove(path);
        Ok(())
    }
    async fn list_status(&self, prefix: &str) -> Result<Vec<ObjectStatus>, StoreError> {
        let paths = self.list(prefix).await?;
        let modified = self.modified.borrow();
        Ok(paths
            .into_iter()
            .map(|path| ObjectStatus {
                modified_millis: match &self.clock {
                    Some(_) => modified.get(&path).copied().unwrap_or(MODIFIED_UNKNOWN),
                    None => MODIFIED_UNKNOWN,
                },
                path,
            })
            .collect())
    }
}

/// A clock that reads a shared cell; tests move it by hand.
#[derive(Clone, Default)]
pub struct ManualClock(pub Rc<std::cell::Cell<i64>>);

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.0.get()
    }
}

/// No cost: work is free. For unit tests.
#[derive(Clone, Default)]
pub struct FreeCost;

impl Cost for FreeCost {
    async fn charge(&self, _operator: CostOperator, _records: u64, _bytes: u64) {}
}

/// Never fires. For unit tests and production-like runs.
#[derive(Clone, Default)]
pub struct NoBuggify;

impl Buggify for NoBuggify {
    fn fire(&self, _site: &'static str) -> bool {
        false
    }
}

/// Keeps every journal record in memory, for unit tests.
#[derive(Clone, Default)]
pub struct MemJournal(pub Rc<std::cell::RefCell<Vec<(JournalKind, String)>>>);

impl Journal for MemJournal {
    fn record(&self, kind: JournalKind, detail: String) {
        self.0.borrow_mut().push((kind, detail));
    }
}

/// An `Env` for unit tests: in-memory store, manual clock, free cost, no buggify.
#[derive(Clone, Default)]
pub struct TestEnv {
    pub store: MemStore,
    pub clock: ManualClock,
    pub journal: MemJournal,
}

impl Env for TestEnv {
    type Store = MemStore;
    type Clock = ManualClock;
    type Cost = FreeCost;
    type Buggify = NoBuggify;
    type Journal = MemJournal;
    fn journal(&self) -> &MemJournal {
        &self.journal
    }
    fn store(&self) -> &MemStore {
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
}

/// A process's own local disk (TT's log lives on the `tt` host's disk). Calls are synchronous, as
/// with a local filesystem; a write returns only once synced, so a crash keeps it.
pub trait LocalDisk: Clone + 'static {
    /// Appends `bytes` to `path` (creating it) and syncs the file and its directory.
    fn append_synced(&self, path: &str, bytes: &[u8]) -> std::io::Result<()>;
    /// Replaces `path` atomically with `bytes`, synced.
    fn write_synced(&self, path: &str, bytes: &[u8]) -> std::io::Result<()>;
    fn read(&self, path: &str) -> std::io::Result<Option<Vec<u8>>>;
    /// `len` bytes of `path` from `offset`, or fewer where the file ends (none past its end).
    fn read_range(&self, path: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>>;
    /// File names (not paths) directly inside `dir`, sorted; empty when `dir` does not exist.
    fn list(&self, dir: &str) -> std::io::Result<Vec<String>>;
    fn remove(&self, path: &str) -> std::io::Result<()>;
}

/// A local disk kept in memory, for unit tests: every write is immediately durable.
#[derive(Clone, Default)]
pub struct MemDisk {
    files: Rc<std::cell::RefCell<std::collections::BTreeMap<String, Vec<u8>>>>,
}

impl LocalDisk for MemDisk {
    fn append_synced(&self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.files
            .borrow_mut()
            .entry(path.to_string())
            .or_default()
            .extend_from_slice(bytes);
        Ok(())
    }
    fn write_synced(&self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.files
            .borrow_mut()
            .insert(path.to_string(), bytes.to_vec());
        Ok(())
    }
    fn read(&self, path: &str) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.files.borrow().get(path).cloned())
    }
    fn read_range(&self, path: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let files = self.files.borrow();
        let bytes = files.get(path).map_or(&[][..], Vec::as_slice);
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        Ok(bytes[start..start.saturating_add(len).min(bytes.len())].to_vec())
    }
    fn list(&self, dir: &str) -> std::io::Result<Vec<String>> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        Ok(self
            .files
            .borrow()
            .keys()
            .filter_map(|path| path.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_string)
            .collect())
    }
    fn remove(&self, path: &str) -> std::io::Result<()> {
        self.files.borrow_mut().remove(path);
        Ok(())
    }
}

/// Errors crossing the network: the callee was unreachable, the call timed out, or the connection
/// broke. All are retryable; the caller cannot know whether the request took effect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("{service} unreachable: {reason}")]
    Unreachable { service: String, reason: String },
    #[error("call to {service} timed out")]
    Timeout { service: String },
}

/// Request/response messaging to a named warehouse service (`tt`): the world carries the bytes.
pub trait Transport: Clone + 'static {
    fn call(
        &self,
        service: &'static str,
        request: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>, NetError>>;
}
