//! `[sla] excuse_faults` (what `--swarm` runs with): a swarm run fails only when the warehouse
//! breaks a promise it makes under the faults that were drawn, so the SLA checkers judge only the
//! time those faults leave them to judge.
//!
//! - Availability does not count a query slot while a fault takes serving away: `serving`
//!   crashed, or every storage system unreachable from it (crashed, or cut off by a partition
//!   either way): the slots whose answer was due after the fault started, until `grace` after
//!   it heals (the time to restart, reopen the table and answer the next slot).
//! - Freshness does not count an event whose way from production to visibility in DWS met a
//!   fault on its path (any fault not confined to `serving`), from the fault's start until
//!   `recovery` after it heals (the restart delay and two checkpoints to catch up).
//!
//! Liveness and the safety checkers (exactly-once, files, event-time) never ask here.

use crate::scenario::{FaultEffect, FaultSpec, Scenario};
use crate::topology::SERVING;

/// The windows the scenario's faults take away from the SLA checkers, in simulated ms.
#[derive(Debug, Clone, Default)]
pub struct Excuses {
    /// While serving itself is down.
    serving_down: Vec<(i64, i64)>,
    /// Per storage system, while serving cannot reach it.
    storage_cut: Vec<Vec<(i64, i64)>>,
    /// While a fault on the events' path lasts, and its recovery.
    path: Vec<(i64, i64)>,
    pub grace_ms: i64,
    pub recovery_ms: i64,
}

impl Excuses {
    /// The excuses of `scenario`'s faults; `None` unless `[sla] excuse_faults` is set.
    pub fn of(scenario: &Scenario) -> Option<Self> {
        if !scenario.sla.excuse_faults {
            return None;
        }
        let run = &scenario.run;
        let grace_ms = run.restart_delay.0
            + run.rpc_timeout.0
            + scenario.serving.query_interval.0
            + scenario.sla.query_latency_max.0;
        let recovery_ms = run.restart_delay.0 + 2 * scenario.jobs.checkpoint_interval.0;
        let storages: Vec<&str> = scenario
            .topology()
            .chains()
            .iter()
            .map(|c| c.storage)
            .collect();
        // A query slot is taken away when its answer was due after the fault started.
        let latency_max_ms = scenario.sla.query_latency_max.0;
        let slot_window =
            |fault: &FaultSpec| (fault.at.0 - latency_max_ms, fault.end().0 + grace_ms);
        let window = |fault: &FaultSpec, after_ms: i64| (fault.at.0, fault.end().0 + after_ms);
        let mut excuses = Self {
            storage_cut: vec![Vec::new(); storages.len()],
            grace_ms,
            recovery_ms,
            ..Self::default()
        };
        for fault in &scenario.faults {
            if takes_serving_down(fault) {
                excuses.serving_down.push(slot_window(fault));
            }
            for (index, storage) in storages.iter().enumerate() {
                if cuts_off(fault, storage) {
                    excuses.storage_cut[index].push(slot_window(fault));
                }
            }
            if !fault.effect.hosts().contains(&SERVING) {
                excuses.path.push(window(fault, recovery_ms));
            }
        }
        Some(excuses)
    }

    /// Whether the query slot at `t_ms` falls while serving is down or reaches no storage.
    pub fn slot(&self, t_ms: i64) -> bool {
        let within = |windows: &[(i64, i64)]| windows.iter().any(|&(a, b)| a <= t_ms && t_ms < b);
        within(&self.serving_down)
            || (!self.storage_cut.is_empty() && self.storage_cut.iter().all(|w| within(w)))
    }

    /// Whether an event produced at `produced_ms` and visible at `visible_ms` met a fault on its
    /// path while it travelled.
    pub fn event(&self, produced_ms: i64, visible_ms: i64) -> bool {
        self.path
            .iter()
            .any(|&(a, b)| produced_ms < b && a <= visible_ms)
    }

    /// The rule, for the summary.
    pub fn describe(&self) -> String {
        format!(
            "SLA rule: faults excused ([sla] excuse_faults, as --swarm runs): availability does not count query slots while serving is crashed or reaches no storage system, until {:.1} s after the fault heals; freshness does not count events that met a fault on their path, until {:.1} s after it heals; liveness and the safety checkers are judged in full",
            self.grace_ms as f64 / 1e3,
            self.recovery_ms as f64 / 1e3
        )
    }
}

/// A crash of the serving host.
fn takes_serving_down(fault: &FaultSpec) -> bool {
    matches!(&fault.effect, FaultEffect::Crash { target } if target == SERVING)
}

/// A crash of `storage`, or a partition (either way) between it and serving.
fn cuts_off(fault: &FaultSpec, storage: &str) -> bool {
    match &fault.effect {
        FaultEffect::Crash { target } => target == storage,
        FaultEffect::Partition { between } | FaultEffect::PartitionOneway { between } => {
            between.iter().any(|h| h == SERVING) && between.iter().any(|h| h == storage)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(faults: &str, excuse: bool) -> Scenario {
        let text = format!(
            "name = \"t\"\n[run]\nchaos = \"60s\"\nliveness = \"30s\"\n[traffic]\nbaseline_events_per_s = 10\n[sla]\nexcuse_faults = {excuse}\n{faults}"
        );
        Scenario::parse(&text, "t").unwrap()
    }

    const FAULTS: &str = "[[faults]]\nat = \"10s\"\nkind = \"crash\"\ntarget = \"serving\"\nduration = \"2s\"\n\
        [[faults]]\nat = \"20s\"\nkind = \"partition\"\nbetween = [\"serving\", \"dfs\"]\nduration = \"2s\"\n\
        [[faults]]\nat = \"30s\"\nkind = \"crash\"\ntarget = \"dwd-job\"\nduration = \"2s\"\n";

    #[test]
    fn strict_unless_asked() {
        assert!(Excuses::of(&scenario(FAULTS, false)).is_none());
    }

    #[test]
    fn slots_while_serving_is_down_or_cut_off_and_events_that_met_a_path_fault() {
        let excuses = Excuses::of(&scenario(FAULTS, true)).unwrap();
        let grace = excuses.grace_ms;
        assert!(!excuses.slot(8_999), "answered before the crash");
        assert!(excuses.slot(9_001), "its answer was due after the crash");
        assert!(excuses.slot(10_000) && excuses.slot(12_000 + grace - 1));
        assert!(!excuses.slot(12_000 + grace));
        assert!(
            excuses.slot(21_000),
            "serving cut off from the only storage"
        );
        assert!(
            !excuses.slot(31_000),
            "a job crash does not take serving away"
        );
        // Serving's own faults are not on the events' path; the job crash is.
        assert!(!excuses.event(9_000, 11_000));
        assert!(!excuses.event(20_000, 21_000));
        assert!(excuses.event(29_000, 30_500));
        assert!(excuses.event(32_000 + excuses.recovery_ms - 1, 60_000));
        assert!(!excuses.event(32_000 + excuses.recovery_ms, 60_000));
    }
}
