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
}

/// Wall-clock readings (event times, snapshot `timeMillis`): a fixed epoch plus elapsed time.
pub trait Clock: Clone + 'static {
    fn now_millis(&self) -> i64;
}

/// Real CPU work takes no simulated time, so the warehouse reports its work here and the world
/// turns it into time (a sleep) from its cost model.
pub trait Cost: Clone + 'static {
    fn charge(&self, operator: &'static str, records: u64, bytes: u64) -> impl Future<Output = ()>;
    /// Work of one operator split across the job's parallel subtasks (`work[i]` = records and
    /// bytes of subtask `i`), which run side by side: the slowest subtask sets the time.
    fn charge_subtasks(
        &self,
        operator: &'static str,
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

/// Where the warehouse reports significant events (checkpoint, commit, failover) for whoever
/// watches it: a metrics pipeline in production, the trace in the simulator.
pub trait Journal: Clone + 'static {
    fn record(&self, kind: &'static str, detail: String);
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
        }
    }
}

impl ObjectStore for MemStore {
    async fn put(&self, path: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.objects.borrow_mut().insert(path.to_string(), bytes);
        Ok(())
    }
    async fn put_if_absent(&self, path: &str, bytes: Vec<u8>) -> Result<bool, StoreError> {
        let mut objects = self.objects.borrow_mut();
        if objects.contains_key(path) {
            return Ok(false);
        }
        objects.insert(path.to_string(), bytes);
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
        Ok(())
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
    async fn charge(&self, _operator: &'static str, _records: u64, _bytes: u64) {}
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
pub struct MemJournal(pub Rc<std::cell::RefCell<Vec<(&'static str, String)>>>);

impl Journal for MemJournal {
    fn record(&self, kind: &'static str, detail: String) {
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
