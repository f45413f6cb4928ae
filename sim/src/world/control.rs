//! What steers a run while it goes: the phase (traffic stopped for the liveness phase, storage
//! dumps requested at the end), the budget controller's pauses the ad servers obey, and the
//! operator's scripted actions (builds deployed, rollbacks asked for).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use warehouse::jobs::DwsJobVersion;
use warehouse::serving::BudgetPause;

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

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Default)]
pub struct Control {
    /// The liveness phase began: the traffic client stops producing.
    pub traffic_stopped: Cell<bool>,
    /// The run ended: each storage host copies its objects into its observations.
    pub dump_requested: Cell<bool>,
    /// The budget controller's pauses by (advertiser, local day start), the first decision
    /// kept, with the simulated ms from which the ad servers stop serving the advertiser.
    pub budget_pauses: RefCell<BTreeMap<(i64, i64), (BudgetPause, i64)>>,
    /// The build each deployed job runs now (absent: `current`).
    pub builds: RefCell<BTreeMap<String, DwsJobVersion>>,
    /// Rollbacks asked for, run by the job's host when it restarts.
    pub pending_rollbacks: RefCell<Vec<PendingRollback>>,
}

impl Control {
    /// Whether the ad servers stopped serving `advertiser_id` by `t_ms` (simulated) because the
    /// budget controller paused it for the local day holding wall-clock `epoch_ms + t_ms`.
    pub fn budget_paused(&self, advertiser_id: i64, epoch_ms: i64, t_ms: i64) -> bool {
        let wall_ms = epoch_ms + t_ms;
        self.budget_pauses
            .borrow()
            .range((advertiser_id, i64::MIN)..=(advertiser_id, i64::MAX))
            .any(|((_, day_start_ms), (_, effective_ms))| {
                (*day_start_ms..day_start_ms + DAY_MS).contains(&wall_ms) && *effective_ms <= t_ms
            })
    }

    /// The build `job` runs now.
    pub fn build_of(&self, job: &str) -> DwsJobVersion {
        self.builds.borrow().get(job).copied().unwrap_or_default()
    }
}
