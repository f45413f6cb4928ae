//! The world the warehouse runs in: its configuration (the scenario and the seed tree), the
//! trace, what the world observed (`observations`), the faults in force (`fault_state`) and
//! what steers the run (`control`); and the adapters behind the warehouse's ports (`env`,
//! `dfs_client`, `disk`, `spill`, `rpc`) and the stored objects the checkers read (`objects`).

pub(crate) mod column;
pub mod control;
pub mod dfs_client;
pub mod disk;
pub mod env;
pub mod fault_state;
pub mod objects;
pub mod observations;
pub mod rpc;
pub mod seed;
pub mod spill;
pub mod truth;

use std::cell::RefCell;
use std::rc::Rc;

use warehouse::env::JournalKind;

use crate::scenario::Scenario;
use crate::topology::Chain;
use crate::trace::{Trace, TraceKind};
use crate::world::control::Control;
use crate::world::fault_state::FaultState;
use crate::world::observations::{
    JobFailover, Ledger, Observations, PartitionLedger, StorageObservations,
};
use crate::world::seed::SeedTree;

pub use disk::TurmoilDisk;
pub use env::{SimCost, SimEnv, SimTransport};
pub use fault_state::DiskFault;
pub use objects::{ObjectBytes, StoredObjects};
pub use observations::{
    BUSY_WINDOW_MS, BusyMeter, BusyWindow, GroundTruth, ProtectedDeletion, ServedAnswer,
    StorageTraffic, Tombstone,
};
pub use spill::{SpillDir, SpillDisk};

pub const TT_PORT: u16 = 9092;
pub const DFS_PORT: u16 = 8020;
/// TT era: the DWD topic, a second topic on the TT host.
pub const TT_DWD_PORT: u16 = 9093;
/// TT era: each store's port (the batch job's overwrites, serving's queries).
pub const STORE_PORT: u16 = 5432;

/// Simulated milliseconds since the run started, as seen by the current host.
pub fn sim_now_ms() -> i64 {
    turmoil::sim_elapsed().map_or(0, |d| d.as_millis() as i64)
}

/// The state every host of one run shares (single-threaded: turmoil runs hosts in turn).
pub struct World {
    pub scenario: Scenario,
    pub seeds: SeedTree,
    pub trace: RefCell<Trace>,
    pub observed: Observations,
    pub faults: FaultState,
    pub control: Control,
    /// Where hosts whose disks would hold the run's bulk (TT's log) keep their bytes.
    pub spill: SpillDir,
}

impl World {
    pub fn new(scenario: Scenario, seed: u64) -> Rc<Self> {
        let partitions = scenario.traffic.partitions as usize;
        let seeds = SeedTree::new(seed);
        let observed = Observations {
            ledger: RefCell::new(Ledger {
                partitions: (0..partitions)
                    .map(|_| PartitionLedger::default())
                    .collect(),
            }),
            ..Observations::default()
        };
        Rc::new(Self {
            faults: FaultState::new(seeds.fork("faults/disk")),
            seeds,
            trace: RefCell::new(Trace::default()),
            observed,
            control: Control::default(),
            spill: SpillDir::default(),
            scenario,
        })
    }

    /// The observations of `chain`'s storage system.
    pub fn storage(&self, chain: Chain) -> &StorageObservations {
        &self.observed.storage[usize::from(chain.is_secondary())]
    }

    /// The observations of the storage system on host `host`.
    pub fn storage_of_host(&self, host: &str) -> &StorageObservations {
        let secondary = host == crate::topology::SECONDARY.storage;
        &self.observed.storage[usize::from(secondary)]
    }

    /// Notes that the job on `host` failed over with `error` (trace and observation).
    pub fn job_failed_over(&self, host: &str, error: &warehouse::stream::JobError) {
        let reason = error.to_string();
        self.observed.job_failovers.borrow_mut().push(JobFailover {
            t_ms: sim_now_ms(),
            host: host.to_string(),
            expired_snapshot: error.expired_snapshot(),
            reason: reason.clone(),
        });
        self.record(host, TraceKind::JobFailover, reason);
    }

    pub fn record(&self, host: &str, kind: TraceKind, detail: String) {
        let now_ms = sim_now_ms();
        if kind == TraceKind::Journal(JournalKind::CheckpointComplete) {
            self.observed
                .checkpoints_completed
                .borrow_mut()
                .push((now_ms, host.to_string()));
        }
        self.trace.borrow_mut().record(now_ms, host, kind, detail);
    }
}
