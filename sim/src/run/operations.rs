//! Carries out the scenario's scripted operations at their times: the world's side of each (the
//! build to run, the rollback to do) and a restart of the job.

use warehouse::jobs::DwsJobVersion;

use crate::hosts::ops::OPS_HOST;
use crate::scenario::Millis;
use crate::scenario::operations::{OperationKind, OperationSpec, ROLLBACK_TABLES};
use crate::trace::TraceKind;
use crate::world::control::PendingRollback;
use crate::world::{Shared, sim_now_ms};

/// The operation's kind in the trace.
pub fn trace_kind(op: &OperationSpec) -> TraceKind {
    match op.kind {
        OperationKind::Deploy => TraceKind::Deploy,
        OperationKind::RollbackToTag => TraceKind::RollbackToTag,
        OperationKind::RemoveOrphanFiles => TraceKind::RemoveOrphanFiles,
    }
}

/// Carries out `op` now: the world's side of it (the build to run, the rollback to do) and a
/// restart of the job. Returns the trace detail.
pub fn apply(sim: &mut turmoil::Sim<'_>, shared: &Shared, op: &OperationSpec) -> String {
    match op.kind {
        OperationKind::Deploy => {
            let target = op.target.clone().unwrap_or_default();
            let version = op
                .version
                .as_deref()
                .and_then(DwsJobVersion::parse)
                .unwrap_or_default();
            shared
                .operations
                .borrow_mut()
                .versions
                .insert(target.clone(), version);
            sim.bounce(target.as_str());
            format!("target={target} version={}", version.name())
        }
        OperationKind::RollbackToTag => {
            let table = op.table.as_deref().unwrap_or_default();
            let (_, root, job) = ROLLBACK_TABLES
                .iter()
                .find(|(name, ..)| *name == table)
                .copied()
                .unwrap_or(ROLLBACK_TABLES[0]);
            let tag = op.tag.clone().unwrap_or_default();
            shared
                .operations
                .borrow_mut()
                .pending
                .push(PendingRollback {
                    table_root: root.to_string(),
                    tag: tag.clone(),
                    job: job.to_string(),
                    requested_ms: sim_now_ms(),
                });
            sim.bounce(job);
            format!("table={table} tag={tag} job={job} (stopped; its host rolls back on restart)")
        }
        OperationKind::RemoveOrphanFiles => format!(
            "table={} older-than={} (the {OPS_HOST} host runs it)",
            op.table.as_deref().unwrap_or_default(),
            op.older_than.unwrap_or(Millis(0))
        ),
    }
}
