//! The kinds of trace event: every writer names its event with one of these, and every reader
//! that looks for a kind compares with its name, so a misspelt kind cannot compile. The names are
//! part of the trace's text, and so of the trace hash.

use warehouse::env::JournalKind;

/// What a trace event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TraceKind {
    /// The run starts (the world, at 0).
    ChaosStart,
    /// Faults healed, traffic stopped.
    LivenessStart,
    RunEnd,
    /// A fault starts or heals (the world).
    Crash,
    Restart,
    Partition,
    Heal,
    PartitionOneway,
    HealOneway,
    Latency,
    LatencyEnd,
    ClockSkew,
    ClockSkewEnd,
    DiskFault,
    DiskHeal,
    /// A scripted operation carried out by the world (`[[operations]]`).
    Deploy,
    RollbackToTag,
    RollbackFailed,
    RemoveOrphanFiles,
    RemoveOrphanFilesFailed,
    /// A host's software starts (after a crash: again, with empty memory).
    HostStart,
    TtOpenFailed,
    /// TT's retention deleted closed segments.
    Retention,
    RetentionFailed,
    /// TT durably appended a batch.
    Append,
    /// The world's TT ledger and the broker disagree on an offset.
    LedgerGap,
    /// A job failed and restarts after Flink's restart delay.
    JobFailover,
    /// Serving answered, had nothing to answer from, or failed a report query.
    Query,
    QueryEmpty,
    QueryFailed,
    BudgetPause,
    BudgetCheckFailed,
    /// Serving switched storage systems (dual storage).
    StorageFailover,
    StorageFailback,
    /// A BUGGIFY site fired.
    Buggify,
    /// The traffic client produced a batch, lost its acknowledgement, or retried it.
    Produce,
    ProduceAckLost,
    ProduceRetry,
    /// What the warehouse itself reported through its journal port.
    Journal(JournalKind),
}

/// The world's own kinds (the warehouse's journal kinds come from [`JournalKind::ALL`]).
const OWN: [TraceKind; 38] = [
    TraceKind::ChaosStart,
    TraceKind::LivenessStart,
    TraceKind::RunEnd,
    TraceKind::Crash,
    TraceKind::Restart,
    TraceKind::Partition,
    TraceKind::Heal,
    TraceKind::PartitionOneway,
    TraceKind::HealOneway,
    TraceKind::Latency,
    TraceKind::LatencyEnd,
    TraceKind::ClockSkew,
    TraceKind::ClockSkewEnd,
    TraceKind::DiskFault,
    TraceKind::DiskHeal,
    TraceKind::Deploy,
    TraceKind::RollbackToTag,
    TraceKind::RollbackFailed,
    TraceKind::RemoveOrphanFiles,
    TraceKind::RemoveOrphanFilesFailed,
    TraceKind::HostStart,
    TraceKind::TtOpenFailed,
    TraceKind::Retention,
    TraceKind::RetentionFailed,
    TraceKind::Append,
    TraceKind::LedgerGap,
    TraceKind::JobFailover,
    TraceKind::Query,
    TraceKind::QueryEmpty,
    TraceKind::QueryFailed,
    TraceKind::BudgetPause,
    TraceKind::BudgetCheckFailed,
    TraceKind::StorageFailover,
    TraceKind::StorageFailback,
    TraceKind::Buggify,
    TraceKind::Produce,
    TraceKind::ProduceAckLost,
    TraceKind::ProduceRetry,
];

impl TraceKind {
    /// The kind a trace names `name`, for readers of a written trace (a commit reads back as
    /// one that made a snapshot: the name alone does not say).
    pub fn from_name(name: &str) -> Option<Self> {
        OWN.into_iter()
            .chain(JournalKind::ALL.map(Self::Journal))
            .find(|kind| kind.name() == name)
    }

    /// The kind's name in the trace.
    pub fn name(self) -> &'static str {
        match self {
            Self::ChaosStart => "chaos-start",
            Self::LivenessStart => "liveness-start",
            Self::RunEnd => "run-end",
            Self::Crash => "crash",
            Self::Restart => "restart",
            Self::Partition => "partition",
            Self::Heal => "heal",
            Self::PartitionOneway => "partition-oneway",
            Self::HealOneway => "heal-oneway",
            Self::Latency => "latency",
            Self::LatencyEnd => "latency-end",
            Self::ClockSkew => "clock-skew",
            Self::ClockSkewEnd => "clock-skew-end",
            Self::DiskFault => "disk-fault",
            Self::DiskHeal => "disk-heal",
            Self::Deploy => "deploy",
            Self::RollbackToTag => "rollback-to-tag",
            Self::RollbackFailed => "rollback-failed",
            Self::RemoveOrphanFiles => "remove-orphan-files",
            Self::RemoveOrphanFilesFailed => "remove-orphan-files-failed",
            Self::HostStart => "host-start",
            Self::TtOpenFailed => "tt-open-failed",
            Self::Retention => "retention",
            Self::RetentionFailed => "retention-failed",
            Self::Append => "append",
            Self::LedgerGap => "ledger-gap",
            Self::JobFailover => "job-failover",
            Self::Query => "query",
            Self::QueryEmpty => "query-empty",
            Self::QueryFailed => "query-failed",
            Self::BudgetPause => "budget-pause",
            Self::BudgetCheckFailed => "budget-check-failed",
            Self::StorageFailover => "storage-failover",
            Self::StorageFailback => "storage-failback",
            Self::Buggify => "buggify",
            Self::Produce => "produce",
            Self::ProduceAckLost => "produce-ack-lost",
            Self::ProduceRetry => "produce-retry",
            Self::Journal(kind) => kind.name(),
        }
    }
}

impl From<JournalKind> for TraceKind {
    fn from(kind: JournalKind) -> Self {
        Self::Journal(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_as_its_kind() {
        let mut names = std::collections::BTreeSet::new();
        for kind in OWN
            .into_iter()
            .chain(JournalKind::ALL.map(TraceKind::Journal))
        {
            let name = kind.name();
            assert_eq!(TraceKind::from_name(name).map(TraceKind::name), Some(name));
            names.insert(name);
        }
        assert_eq!(
            names.len(),
            OWN.len() + JournalKind::ALL.len() - 1,
            "one name per kind, commits aside"
        );
        assert_eq!(TraceKind::from_name("comit"), None);
    }
}
