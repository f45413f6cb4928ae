//! The faults in force on the world's disks and clocks: what a fault action switched on and
//! not yet healed, read by the storage servers, TT and the clock adapter on every request.

use std::cell::RefCell;
use std::collections::BTreeMap;

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

/// Storage faults and clock skews in force.
pub struct FaultState {
    /// Storage faults in force, per disk host (`dfs`, `tt`).
    pub disk_faults: RefCell<BTreeMap<String, DiskFault>>,
    /// Draws whether an injected disk error hits a request.
    pub disk_fault_rng: RefCell<rand_chacha::ChaCha8Rng>,
    /// Wall-clock skew in force, per host (ms, signed).
    pub clock_skews: RefCell<BTreeMap<String, i64>>,
}

impl FaultState {
    pub fn new(disk_fault_rng: rand_chacha::ChaCha8Rng) -> Self {
        Self {
            disk_faults: RefCell::new(BTreeMap::new()),
            disk_fault_rng: RefCell::new(disk_fault_rng),
            clock_skews: RefCell::new(BTreeMap::new()),
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

    pub fn clock_skew_ms(&self, host: &str) -> i64 {
        self.clock_skews.borrow().get(host).copied().unwrap_or(0)
    }
}
