//! The world's shared state (trace, ground truth, TT ledger, storage observations) and the
//! adapters that implement the warehouse's ports inside turmoil: clock, cost, journal, the TT
//! transport and the local disk.

pub mod control;
pub mod dfs_client;
pub mod rpc;
pub mod seed;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use warehouse::env::{
    Buggify, Clock, Cost, CostOperator, Env, Journal, JournalKind, LocalDisk, NetError, Transport,
};
use warehouse::event::AdEvent;

use crate::scenario::{CostTable, Scenario};
use crate::trace::Trace;
use crate::trace::TraceKind;
use crate::world::dfs_client::DfsStore;
use crate::world::rpc::{CallError, RpcClient};
use crate::world::seed::SeedTree;

pub const TT_PORT: u16 = 9092;
pub const DFS_PORT: u16 = 8020;

/// Simulated milliseconds since the run started, as seen by the current host.
pub fn sim_now_ms() -> i64 {
    turmoil::sim_elapsed().map_or(0, |d| d.as_millis() as i64)
}

/// What the traffic generator produced: the ground truth every checker recomputes from.
#[derive(Default)]
pub struct GroundTruth {
    /// Event ids are 1..=len; `events[id - 1]`.
    pub events: Vec<AdEvent>,
    /// Simulated ms at which each event was produced.
    pub produced_ms: Vec<i64>,
    /// Events generated but never handed to TT (producer buffer full).
    pub dropped_at_source: u64,
}

impl GroundTruth {
    pub fn event(&self, event_id: u64) -> Option<&AdEvent> {
        self.events.get((event_id as usize).checked_sub(1)?)
    }
}

/// What TT durably appended, observed at the broker boundary: per partition, per offset, the
/// event id and the simulated append time.
#[derive(Default)]
pub struct Ledger {
    pub partitions: Vec<Vec<(u64, i64)>>,
}

/// One answered report query.
#[derive(Debug, Clone)]
pub struct ServedAnswer {
    /// The query's slot: simulated ms it was issued at (a multiple of the query interval).
    pub t_ms: i64,
    pub snapshot_id: i64,
    pub staleness_ms: i64,
    /// Simulated ms from issue to answer.
    pub latency_ms: i64,
}

/// An object the `dfs` deleted, kept by the world (not by the dfs) so the checkers can still read
/// the history of every committed snapshot, and tell when each file went.
#[derive(Debug, Clone, Default)]
pub struct Tombstone {
    /// Simulated ms of the deletion.
    pub deleted_ms: i64,
    pub bytes: Vec<u8>,
}

/// A job that failed and restarted (Flink's failover), as the world saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailover {
    pub t_ms: i64,
    pub host: String,
    /// The snapshot the job had to read next and found expired, when that is why it failed.
    pub expired_snapshot: Option<i64>,
    pub reason: String,
}

/// A snapshot file deleted while a consumer's `nextSnapshot` still protected it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedDeletion {
    pub t_ms: i64,
    pub snapshot_path: String,
    pub consumer_path: String,
    pub next_snapshot: i64,
}

pub struct Shared {
    pub scenario: Scenario,
    pub seeds: SeedTree,
    pub trace: RefCell<Trace>,
    pub truth: RefCell<GroundTruth>,
    pub ledger: RefCell<Ledger>,
    /// Snapshot file path → simulated ms when `dfs` made it durable (commit visibility).
    pub snapshot_commits: RefCell<BTreeMap<String, i64>>,
    pub answers: RefCell<Vec<ServedAnswer>>,
    /// The budget controller's pauses by (advertiser, local day start), the first decision kept,
    /// with the simulated ms from which the ad servers stop serving the advertiser.
    pub budget_pauses: RefCell<BTreeMap<(i64, i64), (warehouse::serving::BudgetPause, i64)>>,
    pub traffic_stopped: Cell<bool>,
    pub dump_requested: Cell<bool>,
    pub dump: RefCell<Option<BTreeMap<String, Vec<u8>>>>,
    /// Simulated work charged through the cost port, per host and operator, in windows.
    pub busy: RefCell<BusyMeter>,
    /// (simulated ms, host) of every completed checkpoint, kept whole even when the trace
    /// keeps only its first events: the recovery checker reads it.
    pub checkpoints_completed: RefCell<Vec<(i64, String)>>,
    /// Every job failover, in order.
    pub job_failovers: RefCell<Vec<JobFailover>>,
    /// Storage faults in force, per disk host (`dfs`, `tt`).
    pub disk_faults: RefCell<BTreeMap<String, DiskFault>>,
    /// Draws whether an injected disk error hits a request.
    pub disk_fault_rng: RefCell<rand_chacha::ChaCha8Rng>,
    /// Wall-clock skew in force, per host (ms, signed).
    pub clock_skews: RefCell<BTreeMap<String, i64>>,
    /// Objects deleted from `dfs` (moved here, not copied), by path; a path written again
    /// leaves the graveyard.
    pub graveyard: RefCell<BTreeMap<String, Tombstone>>,
    /// Snapshot deletions a consumer file forbade, observed by `dfs` when they happened.
    pub protected_deletions: RefCell<Vec<ProtectedDeletion>>,
    /// Scripted operator actions: builds deployed, rollbacks pending and done.
    pub operations: RefCell<crate::world::control::OperationsState>,
    /// With dual storage: what the world observed at the secondary `dfs-b` (the fields above
    /// hold the primary's, `dfs` or `dfs-a`).
    pub secondary: StorageObservations,
    /// With dual storage: serving's failovers between the storage systems.
    pub failover: RefCell<FailoverLog>,
}

/// What the world observed at one storage system's boundary: commit times of snapshots,
/// deleted objects, forbidden deletions and the final dump.
#[derive(Default)]
pub struct StorageObservations {
    pub snapshot_commits: RefCell<BTreeMap<String, i64>>,
    pub graveyard: RefCell<BTreeMap<String, Tombstone>>,
    pub protected_deletions: RefCell<Vec<ProtectedDeletion>>,
    pub dump: RefCell<Option<BTreeMap<String, Vec<u8>>>>,
}

/// Borrowed observations of one storage system (the primary's live in `Shared` itself).
#[derive(Clone, Copy)]
pub struct StorageView<'a> {
    pub snapshot_commits: &'a RefCell<BTreeMap<String, i64>>,
    pub graveyard: &'a RefCell<BTreeMap<String, Tombstone>>,
    pub protected_deletions: &'a RefCell<Vec<ProtectedDeletion>>,
    pub dump: &'a RefCell<Option<BTreeMap<String, Vec<u8>>>>,
}

/// Serving's switches between storage systems (dual storage only).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailoverLog {
    /// (simulated ms, storage system switched to, reason).
    pub switches: Vec<(i64, String, String)>,
    /// Query slots answered from the secondary.
    pub answers_from_secondary: u64,
}

/// A storage fault in force on one host's disk.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DiskFault {
    /// Probability that one request fails with an I/O error.
    pub error_rate: f64,
    /// Every write fails with "no space left on device".
    pub full: bool,
    /// Added latency per request.
    pub slow_ms: i64,
}

/// Length of a busy-meter window.
pub const BUSY_WINDOW_MS: i64 = 10_000;

/// Work one operator of one host was charged in one window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BusyWindow {
    /// Simulated ns the charges took (the slowest subtask's share, as the host ran them).
    pub busy_ns: f64,
    /// Records charged, summed over subtasks.
    pub records: u64,
}

/// (host, operator) -> window index -> work, for capacity reports and bottleneck naming.
#[derive(Debug, Default)]
pub struct BusyMeter {
    pub windows: BTreeMap<(&'static str, CostOperator), BTreeMap<i64, BusyWindow>>,
}

impl BusyMeter {
    /// Adds work that starts at `at_ms` and runs for `busy_ns`, spread over the windows it
    /// spans (records in proportion), so a long flush does not overfill one window.
    fn add(
        &mut self,
        host: &'static str,
        operator: CostOperator,
        at_ms: i64,
        busy_ns: f64,
        records: u64,
    ) {
        let windows = self.windows.entry((host, operator)).or_default();
        let window_ns = BUSY_WINDOW_MS as f64 * 1e6;
        let mut start_ns = at_ms as f64 * 1e6;
        let end_ns = start_ns + busy_ns;
        let mut records_left = records;
        loop {
            let index = (start_ns / window_ns).floor() as i64;
            let window_end_ns = (index + 1) as f64 * window_ns;
            let part_ns = end_ns.min(window_end_ns) - start_ns;
            let last = end_ns <= window_end_ns;
            let part_records = if last || busy_ns <= 0.0 {
                records_left
            } else {
                ((records as f64 * part_ns / busy_ns) as u64).min(records_left)
            };
            records_left -= part_records;
            let window = windows.entry(index).or_default();
            window.busy_ns += part_ns.max(0.0);
            window.records += part_records;
            if last || busy_ns <= 0.0 {
                return;
            }
            start_ns = window_end_ns;
        }
    }
}

impl Shared {
    /// Whether the ad servers stopped serving `advertiser_id` by `t_ms` (simulated) because the
    /// budget controller paused it for the local day holding that moment.
    pub fn budget_paused(&self, advertiser_id: i64, t_ms: i64) -> bool {
        const DAY_MS: i64 = 86_400_000;
        let epoch_ms = self.scenario.run.epoch_ms + t_ms;
        self.budget_pauses
            .borrow()
            .range((advertiser_id, i64::MIN)..=(advertiser_id, i64::MAX))
            .any(|((_, day_start_ms), (_, effective_ms))| {
                (*day_start_ms..day_start_ms + DAY_MS).contains(&epoch_ms) && *effective_ms <= t_ms
            })
    }

    pub fn new(scenario: Scenario, seed: u64) -> Rc<Self> {
        let partitions = scenario.traffic.partitions as usize;
        Rc::new(Self {
            scenario,
            seeds: SeedTree::new(seed),
            trace: RefCell::new(Trace::default()),
            truth: RefCell::new(GroundTruth::default()),
            ledger: RefCell::new(Ledger {
                partitions: vec![Vec::new(); partitions],
            }),
            snapshot_commits: RefCell::new(BTreeMap::new()),
            answers: RefCell::new(Vec::new()),
            budget_pauses: RefCell::new(BTreeMap::new()),
            traffic_stopped: Cell::new(false),
            dump_requested: Cell::new(false),
            dump: RefCell::new(None),
            busy: RefCell::new(BusyMeter::default()),
            checkpoints_completed: RefCell::new(Vec::new()),
            job_failovers: RefCell::new(Vec::new()),
            disk_faults: RefCell::new(BTreeMap::new()),
            disk_fault_rng: RefCell::new(SeedTree::new(seed).fork("faults/disk")),
            clock_skews: RefCell::new(BTreeMap::new()),
            graveyard: RefCell::new(BTreeMap::new()),
            protected_deletions: RefCell::new(Vec::new()),
            operations: RefCell::new(Default::default()),
            secondary: StorageObservations::default(),
            failover: RefCell::new(FailoverLog::default()),
        })
    }

    /// The observations of storage system `storage` (`dfs-b` is the secondary; any other
    /// name is the primary).
    pub fn storage(&self, storage: &str) -> StorageView<'_> {
        if storage == crate::topology::SECONDARY.storage {
            let s = &self.secondary;
            StorageView {
                snapshot_commits: &s.snapshot_commits,
                graveyard: &s.graveyard,
                protected_deletions: &s.protected_deletions,
                dump: &s.dump,
            }
        } else {
            StorageView {
                snapshot_commits: &self.snapshot_commits,
                graveyard: &self.graveyard,
                protected_deletions: &self.protected_deletions,
                dump: &self.dump,
            }
        }
    }

    /// The storage fault in force on `host`'s disk (none by default).
    pub fn disk_fault(&self, host: &str) -> DiskFault {
        self.disk_faults
            .borrow()
            .get(host)
            .copied()
            .unwrap_or_default()
    }

    /// Whether an injected storage fault fails this request to `host`'s disk, and why.
    pub fn disk_fault_hits(&self, host: &str, is_write: bool) -> Option<String> {
        let fault = self.disk_fault(host);
        if fault.full && is_write {
            return Some(format!(
                "no space left on device (injected disk-full on {host})"
            ));
        }
        if fault.error_rate > 0.0 {
            use rand::Rng;
            if self
                .disk_fault_rng
                .borrow_mut()
                .random_bool(fault.error_rate)
            {
                return Some(format!("I/O error (injected disk-errors on {host})"));
            }
        }
        None
    }

    /// Notes that the job on `host` failed over with `error` (trace and observation).
    pub fn job_failed_over(&self, host: &str, error: &warehouse::stream::JobError) {
        let reason = error.to_string();
        self.job_failovers.borrow_mut().push(JobFailover {
            t_ms: sim_now_ms(),
            host: host.to_string(),
            expired_snapshot: error.expired_snapshot(),
            reason: reason.clone(),
        });
        self.record(host, TraceKind::JobFailover, reason);
    }

    pub fn clock_skew_ms(&self, host: &str) -> i64 {
        self.clock_skews.borrow().get(host).copied().unwrap_or(0)
    }

    pub fn record(&self, host: &str, kind: TraceKind, detail: String) {
        let now_ms = sim_now_ms();
        if kind == TraceKind::Journal(JournalKind::CheckpointComplete) {
            self.checkpoints_completed
                .borrow_mut()
                .push((now_ms, host.to_string()));
        }
        self.trace.borrow_mut().record(now_ms, host, kind, detail);
    }
}

/// Share of BUGGIFY sites switched on for a run, and how often an enabled site fires.
pub const BUGGIFY_SITE_ENABLED: f64 = 0.25;
pub const BUGGIFY_FIRE_PROBABILITY: f64 = 0.05;

/// FoundationDB-style BUGGIFY: whether a site is on is decided once per run from the seed and
/// the site's name (so every host agrees); an enabled site fires with a per-host seeded draw,
/// only while the chaos phase lasts and only when the scenario turns BUGGIFY on.
#[derive(Clone)]
pub struct SimBuggify {
    host: &'static str,
    shared: Rc<Shared>,
    rng: Rc<RefCell<rand_chacha::ChaCha8Rng>>,
}

impl SimBuggify {
    pub fn new(host: &'static str, shared: &Rc<Shared>) -> Self {
        Self {
            host,
            shared: shared.clone(),
            rng: Rc::new(RefCell::new(shared.seeds.fork(&format!("buggify/{host}")))),
        }
    }

    /// Whether `site` is switched on in this run (independent of the host asking).
    pub fn site_enabled(seeds: &SeedTree, site: &str) -> bool {
        let draw = seeds.derive_u64(&format!("buggify-site/{site}"));
        (draw as f64 / u64::MAX as f64) < BUGGIFY_SITE_ENABLED
    }
}

impl Buggify for SimBuggify {
    fn fire(&self, site: &'static str) -> bool {
        use rand::Rng;
        if !self.shared.scenario.run.buggify
            || self.shared.traffic_stopped.get()
            || !Self::site_enabled(&self.shared.seeds, site)
        {
            return false;
        }
        let fired = self.rng.borrow_mut().random_bool(BUGGIFY_FIRE_PROBABILITY);
        if fired {
            self.shared
                .record(self.host, TraceKind::Buggify, format!("site={site}"));
        }
        fired
    }
}

#[derive(Clone)]
pub struct SimClock {
    epoch_ms: i64,
    host: &'static str,
    shared: Rc<Shared>,
}

impl Clock for SimClock {
    /// The fixed epoch plus simulated time, plus any clock skew injected on this host.
    fn now_millis(&self) -> i64 {
        self.epoch_ms + sim_now_ms() + self.shared.clock_skew_ms(self.host)
    }
}

/// Turns reported work into simulated time from the scenario's cost table. Debt below one tick
/// is carried over, so many small charges add up instead of each costing a whole tick.
#[derive(Clone)]
pub struct SimCost {
    table: Rc<CostTable>,
    tick_ns: f64,
    debt_ns: Rc<Cell<f64>>,
    /// Where charges are metered: the host's name and the world.
    meter: Option<(&'static str, Rc<Shared>)>,
}

impl SimCost {
    pub fn new(scenario: &Scenario) -> Self {
        Self {
            table: Rc::new(scenario.cost.clone()),
            tick_ns: scenario.run.tick.0 as f64 * 1e6,
            debt_ns: Rc::new(Cell::new(0.0)),
            meter: None,
        }
    }

    /// A cost model whose charges are also metered as `host`'s work in `shared.busy`.
    pub fn metered(host: &'static str, shared: &Rc<Shared>) -> Self {
        Self {
            meter: Some((host, shared.clone())),
            ..Self::new(&shared.scenario)
        }
    }

    /// Sleeps for `ns` of simulated work; debt below one tick is carried over, so many small
    /// charges add up instead of each costing a whole tick.
    async fn spend(&self, operator: CostOperator, records: u64, ns: f64) {
        if let Some((host, shared)) = &self.meter {
            shared
                .busy
                .borrow_mut()
                .add(host, operator, sim_now_ms(), ns, records);
        }
        let debt = self.debt_ns.get() + ns;
        if debt < self.tick_ns {
            self.debt_ns.set(debt);
            return;
        }
        let ticks = (debt / self.tick_ns).floor();
        self.debt_ns.set(debt - ticks * self.tick_ns);
        tokio::time::sleep(Duration::from_nanos((ticks * self.tick_ns) as u64)).await;
    }
}

impl Cost for SimCost {
    async fn charge(&self, operator: CostOperator, records: u64, bytes: u64) {
        let ns = self.table.ns(operator, records, bytes);
        self.spend(operator, records, ns).await;
    }

    async fn charge_subtasks(&self, operator: CostOperator, work: &[(u64, u64)]) {
        let mut slowest_ns: f64 = 0.0;
        let mut records = 0;
        for &(lane_records, lane_bytes) in work {
            let ns = self.table.ns(operator, lane_records, lane_bytes);
            slowest_ns = slowest_ns.max(ns);
            records += lane_records;
        }
        self.spend(operator, records, slowest_ns).await;
    }
}

#[derive(Clone)]
pub struct SimJournal {
    host: &'static str,
    shared: Rc<Shared>,
}

impl Journal for SimJournal {
    fn record(&self, kind: JournalKind, detail: String) {
        self.shared.record(self.host, kind.into(), detail);
    }
}

/// The warehouse's view of the world from one host.
#[derive(Clone)]
pub struct SimEnv {
    buggify: SimBuggify,
    store: DfsStore,
    clock: SimClock,
    cost: SimCost,
    journal: SimJournal,
}

impl SimEnv {
    pub fn new(host: &'static str, shared: &Rc<Shared>) -> Self {
        Self::on_storage(host, "dfs", shared)
    }

    /// `host`'s view with its object store on storage host `storage` (`dfs`, `dfs-a`, `dfs-b`).
    pub fn on_storage(host: &'static str, storage: &'static str, shared: &Rc<Shared>) -> Self {
        let scenario = &shared.scenario;
        let timeout = Duration::from_millis(scenario.run.rpc_timeout.0 as u64);
        Self {
            buggify: SimBuggify::new(host, shared),
            store: DfsStore::new(RpcClient::new(storage, DFS_PORT, timeout)),
            clock: SimClock {
                epoch_ms: scenario.run.epoch_ms,
                host,
                shared: shared.clone(),
            },
            cost: SimCost::metered(host, shared),
            journal: SimJournal {
                host,
                shared: shared.clone(),
            },
        }
    }
}

impl Env for SimEnv {
    type Store = DfsStore;
    type Clock = SimClock;
    type Cost = SimCost;
    type Buggify = SimBuggify;
    type Journal = SimJournal;
    fn store(&self) -> &DfsStore {
        &self.store
    }
    fn clock(&self) -> &SimClock {
        &self.clock
    }
    fn cost(&self) -> &SimCost {
        &self.cost
    }
    fn buggify(&self) -> &SimBuggify {
        &self.buggify
    }
    fn journal(&self) -> &SimJournal {
        &self.journal
    }
}

/// Carries warehouse service calls (TT) over the simulated network.
#[derive(Clone)]
pub struct SimTransport {
    tt: Rc<RpcClient>,
}

impl SimTransport {
    pub fn new(shared: &Shared) -> Self {
        let timeout = Duration::from_millis(shared.scenario.run.rpc_timeout.0 as u64);
        Self {
            tt: RpcClient::new("tt", TT_PORT, timeout),
        }
    }
}

impl Transport for SimTransport {
    async fn call(&self, service: &'static str, request: Vec<u8>) -> Result<Vec<u8>, NetError> {
        if service != "tt" {
            return Err(NetError::Unreachable {
                service: service.to_string(),
                reason: "no such service in this world".into(),
            });
        }
        self.tt.call(&request).await.map_err(|error| match error {
            CallError::Timeout => NetError::Timeout {
                service: service.to_string(),
            },
            CallError::Io(reason) => NetError::Unreachable {
                service: service.to_string(),
                reason,
            },
        })
    }
}

/// A host's own disk through turmoil's durable-disk model: unsynced writes die with a crash.
#[derive(Clone, Default)]
pub struct TurmoilDisk;

mod fs {
    pub use turmoil::fs::shim::std::fs::{
        OpenOptions, create_dir_all, metadata, read, read_dir, remove_file, sync_dir,
    };
}

fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or(
        "/",
        |(parent, _)| if parent.is_empty() { "/" } else { parent },
    )
}

/// Creates `dir` and its ancestors durably.
pub fn ensure_dir_durable(dir: &str) -> std::io::Result<()> {
    if fs::metadata(dir).is_ok() {
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    let mut ancestor = String::new();
    for part in dir.split('/').filter(|p| !p.is_empty()) {
        let parent = if ancestor.is_empty() {
            "/".to_string()
        } else {
            ancestor.clone()
        };
        ancestor = format!("{ancestor}/{part}");
        fs::sync_dir(&parent)?;
    }
    fs::sync_dir(dir)
}

/// Writes `bytes` to `path`, syncs file and directory (durable against a crash).
pub fn write_durable(path: &str, bytes: &[u8], append: bool) -> std::io::Result<()> {
    use std::io::Write;
    let parent = parent_of(path);
    ensure_dir_durable(parent)?;
    let mut options = fs::OpenOptions::new();
    options.create(true).write(true);
    if append {
        options.append(true);
    } else {
        options.truncate(true);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::sync_dir(parent)
}

impl LocalDisk for TurmoilDisk {
    fn append_synced(&self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        write_durable(path, bytes, true)
    }
    fn write_synced(&self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        write_durable(path, bytes, false)
    }
    fn read(&self, path: &str) -> std::io::Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }
    fn list(&self, dir: &str) -> std::io::Result<Vec<String>> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }
    fn remove(&self, path: &str) -> std::io::Result<()> {
        match fs::remove_file(path) {
            Ok(()) => fs::sync_dir(parent_of(path)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// Every file under `root` (recursively), path → bytes, sorted.
pub fn read_tree(root: &str) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![root.to_string()];
    while let Some(dir) = pending.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path().to_string_lossy().into_owned();
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else {
                files.insert(path.clone(), fs::read(&path)?);
            }
        }
    }
    Ok(files)
}
