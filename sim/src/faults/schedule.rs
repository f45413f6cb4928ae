//! A scenario's faults as timed actions: each fault starts and heals, in time order.

use crate::scenario::{FaultKind, Scenario, parse_skew};
use crate::world::DiskFault;

#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    Crash(String),
    Restart(String),
    Partition(String, String),
    Heal(String, String),
    PartitionOneway(String, String),
    HealOneway(String, String),
    /// Link latency up to this many ms; `LatencyEnd` restores the scenario's.
    Latency(String, String, i64),
    LatencyEnd(String, String),
    ClockSkew(String, i64),
    ClockSkewEnd(String),
    Disk(String, DiskFault),
    DiskHeal(String),
}

impl FaultAction {
    /// Whether this action starts a fault (rather than healing one).
    pub fn starts_fault(&self) -> bool {
        matches!(
            self,
            Self::Crash(_)
                | Self::Partition(..)
                | Self::PartitionOneway(..)
                | Self::Latency(..)
                | Self::ClockSkew(..)
                | Self::Disk(..)
        )
    }
}

/// The scenario's faults as timed actions, sorted by time (ties keep scenario order).
pub fn fault_schedule(scenario: &Scenario) -> Vec<(i64, FaultAction)> {
    let mut actions = Vec::new();
    for fault in &scenario.faults {
        let (start, end) = (fault.at.0, fault.at.0 + fault.duration.0);
        let target = fault.target.clone().unwrap_or_default();
        let [a, b] = fault.between.clone().unwrap_or_default();
        let (begin, heal) = match fault.kind {
            FaultKind::Crash => (
                FaultAction::Crash(target.clone()),
                FaultAction::Restart(target),
            ),
            FaultKind::Partition => (
                FaultAction::Partition(a.clone(), b.clone()),
                FaultAction::Heal(a, b),
            ),
            FaultKind::PartitionOneway => (
                FaultAction::PartitionOneway(a.clone(), b.clone()),
                FaultAction::HealOneway(a, b),
            ),
            FaultKind::Latency => (
                FaultAction::Latency(a.clone(), b.clone(), fault.latency.map_or(0, |m| m.0)),
                FaultAction::LatencyEnd(a, b),
            ),
            FaultKind::ClockSkew => (
                FaultAction::ClockSkew(
                    target.clone(),
                    fault.skew.as_deref().and_then(parse_skew).unwrap_or(0),
                ),
                FaultAction::ClockSkewEnd(target),
            ),
            FaultKind::DiskErrors | FaultKind::DiskSlow | FaultKind::DiskFull => {
                let disk = DiskFault {
                    error_rate: fault.rate.unwrap_or(0.0),
                    full: fault.kind == FaultKind::DiskFull,
                    slow_ms: if fault.kind == FaultKind::DiskSlow {
                        fault.latency.map_or(0, |m| m.0)
                    } else {
                        0
                    },
                };
                (
                    FaultAction::Disk(target.clone(), disk),
                    FaultAction::DiskHeal(target),
                )
            }
        };
        actions.push((start, begin));
        actions.push((end, heal));
    }
    actions.sort_by_key(|(t, _)| *t);
    actions
}

