//! A scenario's faults as timed actions: each fault starts and heals, in time order.

use crate::scenario::{FaultEffect, Scenario};
use crate::trace::TraceKind;
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

/// The action that starts a fault and the one that heals it.
fn actions_of(effect: &FaultEffect) -> (FaultAction, FaultAction) {
    let disk = |target: &String, fault: DiskFault| {
        (
            FaultAction::Disk(target.clone(), fault),
            FaultAction::DiskHeal(target.clone()),
        )
    };
    match effect {
        FaultEffect::Crash { target } => (
            FaultAction::Crash(target.clone()),
            FaultAction::Restart(target.clone()),
        ),
        FaultEffect::Partition { between: [a, b] } => (
            FaultAction::Partition(a.clone(), b.clone()),
            FaultAction::Heal(a.clone(), b.clone()),
        ),
        FaultEffect::PartitionOneway { between: [a, b] } => (
            FaultAction::PartitionOneway(a.clone(), b.clone()),
            FaultAction::HealOneway(a.clone(), b.clone()),
        ),
        FaultEffect::Latency {
            between: [a, b],
            latency,
        } => (
            FaultAction::Latency(a.clone(), b.clone(), latency.0),
            FaultAction::LatencyEnd(a.clone(), b.clone()),
        ),
        FaultEffect::ClockSkew { target, skew } => (
            FaultAction::ClockSkew(target.clone(), skew.0),
            FaultAction::ClockSkewEnd(target.clone()),
        ),
        FaultEffect::DiskErrors { target, rate } => disk(
            target,
            DiskFault {
                error_rate: *rate,
                ..DiskFault::default()
            },
        ),
        FaultEffect::DiskSlow { target, latency } => disk(
            target,
            DiskFault {
                slow_ms: latency.0,
                ..DiskFault::default()
            },
        ),
        FaultEffect::DiskFull { target } => disk(
            target,
            DiskFault {
                full: true,
                ..DiskFault::default()
            },
        ),
    }
}

/// The scenario's faults as timed actions, sorted by time (ties keep scenario order).
pub fn fault_schedule(scenario: &Scenario) -> Vec<(i64, FaultAction)> {
    let mut actions = Vec::new();
    for fault in &scenario.faults {
        let (begin, heal) = actions_of(&fault.effect);
        actions.push((fault.at.0, begin));
        actions.push((fault.end().0, heal));
    }
    actions.sort_by_key(|(t, _)| *t);
    actions
}

impl FaultAction {
    /// The action's kind in the trace.
    pub fn trace_kind(&self) -> TraceKind {
        match self {
            Self::Crash(_) => TraceKind::Crash,
            Self::Restart(_) => TraceKind::Restart,
            Self::Partition(..) => TraceKind::Partition,
            Self::Heal(..) => TraceKind::Heal,
            Self::PartitionOneway(..) => TraceKind::PartitionOneway,
            Self::HealOneway(..) => TraceKind::HealOneway,
            Self::Latency(..) => TraceKind::Latency,
            Self::LatencyEnd(..) => TraceKind::LatencyEnd,
            Self::ClockSkew(..) => TraceKind::ClockSkew,
            Self::ClockSkewEnd(..) => TraceKind::ClockSkewEnd,
            Self::Disk(..) => TraceKind::DiskFault,
            Self::DiskHeal(..) => TraceKind::DiskHeal,
        }
    }
}

/// The trace's and the summary's text of a fault action: the action's name, then its hosts
/// quoted and its parameters, in parentheses (`Crash("dwd-job")`, `Partition("tt", "dwd-job")`,
/// `Latency("tt", "dwd-job", 500)`). A fixed format: the trace hash covers it, and the
/// Perfetto writer reads the quoted hosts back.
impl std::fmt::Display for FaultAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Crash(host) => write!(f, "Crash(\"{host}\")"),
            Self::Restart(host) => write!(f, "Restart(\"{host}\")"),
            Self::Partition(a, b) => write!(f, "Partition(\"{a}\", \"{b}\")"),
            Self::Heal(a, b) => write!(f, "Heal(\"{a}\", \"{b}\")"),
            Self::PartitionOneway(a, b) => write!(f, "PartitionOneway(\"{a}\", \"{b}\")"),
            Self::HealOneway(a, b) => write!(f, "HealOneway(\"{a}\", \"{b}\")"),
            Self::Latency(a, b, ms) => write!(f, "Latency(\"{a}\", \"{b}\", {ms})"),
            Self::LatencyEnd(a, b) => write!(f, "LatencyEnd(\"{a}\", \"{b}\")"),
            Self::ClockSkew(host, ms) => write!(f, "ClockSkew(\"{host}\", {ms})"),
            Self::ClockSkewEnd(host) => write!(f, "ClockSkewEnd(\"{host}\")"),
            Self::Disk(host, fault) => write!(
                f,
                "Disk(\"{host}\", DiskFault {{ error_rate: {:?}, full: {}, slow_ms: {} }})",
                fault.error_rate, fault.full, fault.slow_ms
            ),
            Self::DiskHeal(host) => write!(f, "DiskHeal(\"{host}\")"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_actions_have_a_fixed_text() {
        let disk = DiskFault {
            error_rate: 0.05,
            full: false,
            slow_ms: 0,
        };
        let cases = [
            (FaultAction::Crash("dwd-job".into()), r#"Crash("dwd-job")"#),
            (
                FaultAction::Partition("tt".into(), "dwd-job".into()),
                r#"Partition("tt", "dwd-job")"#,
            ),
            (
                FaultAction::Latency("tt".into(), "dfs".into(), 500),
                r#"Latency("tt", "dfs", 500)"#,
            ),
            (
                FaultAction::ClockSkew("serving".into(), -30_000),
                r#"ClockSkew("serving", -30000)"#,
            ),
            (
                FaultAction::Disk("dfs".into(), disk),
                r#"Disk("dfs", DiskFault { error_rate: 0.05, full: false, slow_ms: 0 })"#,
            ),
            (FaultAction::DiskHeal("tt".into()), r#"DiskHeal("tt")"#),
        ];
        for (action, text) in cases {
            assert_eq!(action.to_string(), text);
        }
    }
}
