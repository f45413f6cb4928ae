//! Carries out the scenario's scripted operations at their times: the world's side of each (the
//! build to run, the rollback to do) and a restart of the job.

use crate::hosts::ops::OPS_HOST;
use crate::scenario::operations::{DWS_JOB, Operation, OperationKind, OperationSpec, TableName};
use crate::trace::TraceKind;
use crate::world::control::PendingRollback;
use crate::world::{World, sim_now_ms};

/// The operation's kind in the trace.
pub fn trace_kind(op: &OperationSpec) -> TraceKind {
    match op.kind() {
        OperationKind::Deploy => TraceKind::Deploy,
        OperationKind::RollbackToTag => TraceKind::RollbackToTag,
        OperationKind::RemoveOrphanFiles => TraceKind::RemoveOrphanFiles,
    }
}

/// Carries out `op` now: the world's side of it (the build to run, the rollback to do) and a
/// restart of the job. Returns the trace detail.
pub fn apply(sim: &mut turmoil::Sim<'_>, world: &World, op: &OperationSpec) -> String {
    match &op.action {
        Operation::Deploy { job, version } => {
            world
                .control
                .builds
                .borrow_mut()
                .insert(job.clone(), *version);
            sim.bounce(job.as_str());
            format!("target={job} version={}", version.name())
        }
        Operation::RollbackDwsToTag { tag } => {
            let (table, job) = (TableName::Dws, DWS_JOB);
            world
                .control
                .pending_rollbacks
                .borrow_mut()
                .push(PendingRollback {
                    table_root: table.root().to_string(),
                    tag: tag.clone(),
                    job: job.to_string(),
                    requested_ms: sim_now_ms(),
                });
            sim.bounce(job);
            format!(
                "table={} tag={tag} job={job} (stopped; its host rolls back on restart)",
                table.name()
            )
        }
        Operation::RemoveOrphanFiles { table, older_than } => format!(
            "table={} older-than={older_than} (the {OPS_HOST} host runs it)",
            table.name()
        ),
    }
}
