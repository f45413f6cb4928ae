//! What the world observed while the warehouse ran, for the checkers and reports: the ground
//! truth the traffic produced, what TT durably appended, each storage system's commits and
//! deletions, the answers serving gave, the work each host was charged, checkpoints completed,
//! job failovers and serving's failovers. Hosts write these at the boundary where the event
//! happens; nothing here is the warehouse's own account of itself.

use std::cell::RefCell;
use std::collections::BTreeMap;

use std::ops::Range;

use warehouse::env::CostOperator;

use crate::world::column::Column;
use crate::world::control::RollbackRecord;
use crate::world::objects::{ObjectBytes, StoredObjects};
pub use crate::world::truth::GroundTruth;

/// What TT durably appended, observed at the broker boundary: per partition, per offset, the
/// event id and the simulated append time.
#[derive(Default)]
pub struct Ledger {
    pub partitions: Vec<PartitionLedger>,
}

/// One TT partition's appended records in offset order: each one's event id and simulated
/// append ms, in 32 bits each until a value needs 64 (8 bytes a record, not 16: the ledger
/// grows with every event a run produces), in columns that spill their full chunks to a
/// temporary file.
pub struct PartitionLedger {
    event_ids: Column,
    appended_ms: Column,
}

impl Default for PartitionLedger {
    fn default() -> Self {
        Self {
            event_ids: Column::spilling(),
            appended_ms: Column::spilling(),
        }
    }
}

impl PartitionLedger {
    /// Notes the record at the next offset.
    pub fn push(&mut self, event_id: u64, appended_ms: i64) {
        let id = i64::try_from(event_id)
            .unwrap_or_else(|_| panic!("ledger: event id {event_id} is past i64::MAX"));
        self.event_ids.push(id);
        self.appended_ms.push(appended_ms);
    }

    /// Records appended (the next offset).
    pub fn len(&self) -> usize {
        self.event_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The event id at each offset of `offsets` that the partition holds, in order.
    pub fn event_ids_in(&self, offsets: Range<usize>) -> impl Iterator<Item = u64> + '_ {
        let end = offsets.end.min(self.len());
        (offsets.start.min(end)..end).map(|offset| self.event_ids.get(offset) as u64)
    }

    /// The event id of every record, in offset order.
    pub fn event_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.event_ids_in(0..self.len())
    }

    /// The simulated ms each record was appended at, in offset order.
    pub fn appended_ms(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|offset| self.appended_ms.get(offset))
    }
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
#[derive(Debug, Clone)]
pub struct Tombstone {
    /// Simulated ms of the deletion.
    pub deleted_ms: i64,
    /// The object's last bytes: the dfs moves the file into its disk's graveyard directory.
    pub bytes: ObjectBytes,
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

/// What the world observed at one storage system's boundary: commit times of snapshots,
/// deleted objects, forbidden deletions and the final dump.
#[derive(Default)]
pub struct StorageObservations {
    pub snapshot_commits: RefCell<BTreeMap<String, i64>>,
    pub graveyard: RefCell<BTreeMap<String, Tombstone>>,
    pub protected_deletions: RefCell<Vec<ProtectedDeletion>>,
    pub dump: RefCell<Option<StoredObjects>>,
    /// Requests and bytes served, at represented scale.
    pub traffic: RefCell<StorageTraffic>,
}

/// Serving's switches between storage systems (dual storage only).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailoverLog {
    /// (simulated ms, storage system switched to, reason).
    pub switches: Vec<(i64, String, String)>,
    /// Query slots answered from the secondary.
    pub answers_from_secondary: u64,
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
    /// Simulated ns of core time: every subtask's share summed (what the slots were busy for).
    pub core_ns: f64,
}

/// (host, operator) -> window index -> work, for capacity reports and bottleneck naming.
#[derive(Debug, Default)]
pub struct BusyMeter {
    pub windows: BTreeMap<(&'static str, CostOperator), BTreeMap<i64, BusyWindow>>,
}

impl BusyMeter {
    /// Adds work that starts at `at_ms` and runs for `busy_ns`, spread over the windows it
    /// spans (records in proportion), so a long flush does not overfill one window.
    pub(crate) fn add(
        &mut self,
        host: &'static str,
        operator: CostOperator,
        at_ms: i64,
        busy_ns: f64,
        core_ns: f64,
        records: u64,
    ) {
        assert!(
            busy_ns.is_finite() && busy_ns >= 0.0 && core_ns.is_finite() && core_ns >= busy_ns,
            "busy meter: {host} charged {busy_ns} ns ({core_ns} ns of core time) of {}",
            operator.name()
        );
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
            window.core_ns += if busy_ns > 0.0 {
                core_ns * part_ns.max(0.0) / busy_ns
            } else {
                core_ns
            };
            window.records += part_records;
            if last || busy_ns <= 0.0 {
                assert_eq!(
                    records_left, 0,
                    "busy meter: every record lands in a window"
                );
                return;
            }
            start_ns = window_end_ns;
        }
    }
}

/// What one storage system served, at represented scale (a simulated DWD file's bytes count
/// `[traffic] represents` times): for capacity reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageTraffic {
    pub bytes_written: u64,
    pub bytes_read: u64,
    pub write_requests: u64,
    pub read_requests: u64,
    pub list_requests: u64,
    pub delete_requests: u64,
    pub files_written: u64,
    pub files_deleted: u64,
}

/// TT's backlog as the broker saw it: per partition, how far its reader has fetched; per
/// window, the largest backlog (records appended and not yet fetched, summed over partitions).
#[derive(Debug, Default)]
pub struct TtBacklog {
    /// Per partition: the offset after the last record fetched (the furthest reader).
    pub fetched_to: Vec<u64>,
    /// Window index ([`BUSY_WINDOW_MS`]) -> largest backlog in simulated records.
    pub peak_per_window: BTreeMap<i64, u64>,
}

impl TtBacklog {
    /// Notes the backlog at `now_ms`, given each partition's log length.
    pub fn sample(&mut self, now_ms: i64, log_lengths: impl Iterator<Item = u64>) {
        let backlog: u64 = log_lengths
            .enumerate()
            .map(|(p, len)| len.saturating_sub(self.fetched_to.get(p).copied().unwrap_or(0)))
            .sum();
        let peak = self
            .peak_per_window
            .entry(now_ms.div_euclid(BUSY_WINDOW_MS))
            .or_default();
        *peak = (*peak).max(backlog);
    }
}

/// Everything the world observed, as the checkers and reports read it.
#[derive(Default)]
pub struct Observations {
    pub truth: RefCell<GroundTruth>,
    pub ledger: RefCell<Ledger>,
    /// Per storage system, in the topology's chain order (the primary first).
    pub storage: [StorageObservations; 2],
    pub answers: RefCell<Vec<ServedAnswer>>,
    /// Simulated work charged through the cost port, per host and operator, in windows.
    pub busy: RefCell<BusyMeter>,
    /// TT's backlog over time, observed at the broker.
    pub tt_backlog: RefCell<TtBacklog>,
    /// (simulated ms, host) of every completed checkpoint, kept whole even when the trace
    /// keeps only its first events: the recovery checker reads it.
    pub checkpoints_completed: RefCell<Vec<(i64, String)>>,
    /// Every job failover, in order.
    pub job_failovers: RefCell<Vec<JobFailover>>,
    /// With dual storage: serving's failovers between the storage systems.
    pub failover: RefCell<FailoverLog>,
    /// Rollbacks an operator carried out: from then on, the table's newer snapshots are the
    /// replay's.
    pub rollbacks: RefCell<Vec<RollbackRecord>>,
    /// TT era: the DWD topic's appends and the stores' writes.
    pub tt_era: RefCell<TtEraObservations>,
}

/// What a TT-era world observed at its boundaries: every record the DWD topic appended (by
/// event id, so duplicates show) and every synced append to each store's log.
#[derive(Default)]
pub struct TtEraObservations {
    /// Appends of each event id to the DWD topic (`[id]`; 0 for ids never appended).
    pub dwd_topic_copies: Vec<u32>,
    pub dwd_topic_records: u64,
    /// Per store host: (simulated ms, the bytes appended to its log) of every synced append.
    pub store_appends: BTreeMap<String, Vec<(i64, Vec<u8>)>>,
    /// Per store host: its aggregation job's own count of events dropped from the real-time
    /// numbers as later than the allowed lateness (the running job's; a restarted job's
    /// replaces its predecessor's).
    pub store_dropped_too_late: BTreeMap<String, std::rc::Rc<std::cell::Cell<u64>>>,
}

impl TtEraObservations {
    pub fn note_dwd_topic_append(&mut self, event_ids: &[u64]) {
        for &id in event_ids {
            let index = id as usize;
            if self.dwd_topic_copies.len() <= index {
                self.dwd_topic_copies.resize(index + 1, 0);
            }
            self.dwd_topic_copies[index] += 1;
        }
        self.dwd_topic_records += event_ids.len() as u64;
    }
}
