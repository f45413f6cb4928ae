//! Scripted operator actions of a scenario (`[[operations]]`): what an engineer on call does to
//! a running warehouse, as opposed to the faults that happen to it. `deploy` restarts a job on
//! another build (its state restored from the latest checkpoint, as a Flink upgrade does);
//! `rollback-to-tag` stops the job writing a table, rolls the table back to a tag, and restores
//! the job from the retained checkpoint that committed the tagged snapshot, so the job replays
//! its source from the position that checkpoint recorded. The world records each rollback, so
//! the checkers (which never trust the warehouse's code) know which committed snapshots it
//! discarded. `remove-orphan-files` runs Paimon's procedure of that name on a table from an
//! `ops` host (a maintenance client): files no snapshot or tag references, last written before
//! `older-than` ago, are deleted; the files checker sees every deletion in the graveyard.

use std::rc::Rc;

use warehouse::env::{Clock, Env, ObjectStore, StoreError};
use warehouse::stream::{CheckpointStorage, backoff_sleep};
use warehouse::table::{FileStoreTable, TableError, open_existing};

use crate::scenario::Millis;
use crate::scenario::operations::{Operation, TableName, schedule};
use crate::trace::TraceKind;
use crate::world::control::RollbackRecord;
use crate::world::{SimEnv, World, sim_now_ms};

/// The host that runs maintenance procedures (`remove-orphan-files`).
pub const OPS_HOST: &str = crate::topology::OPS;

/// Attempts of one rollback against transient storage errors before it is given up.
const ROLLBACK_ATTEMPTS_MAX: u32 = 30;

/// Attempts of one maintenance procedure against transient storage errors.
const MAINTENANCE_ATTEMPTS_MAX: u32 = 10;

/// The `ops` client: runs the scenario's maintenance procedures (`remove-orphan-files`) at their
/// times, each against the storage the jobs use, and records what each did.
pub async fn ops_client(world: Rc<World>) -> turmoil::Result {
    let env = SimEnv::new(OPS_HOST, crate::topology::SINGLE.storage, &world);
    let procedures: Vec<(Millis, TableName, Millis)> = schedule(&world.scenario.operations)
        .into_iter()
        .filter_map(|op| match op.action {
            Operation::RemoveOrphanFiles { table, older_than } => Some((op.at, table, older_than)),
            _ => None,
        })
        .collect();
    for (at, table, older_than) in procedures {
        let wait_ms = (at.0 - sim_now_ms()).max(0);
        tokio::time::sleep(std::time::Duration::from_millis(wait_ms as u64)).await;
        let (table_name, root) = (table.name(), table.root());
        let older_than_ms = older_than.0;
        let mut attempt = 0;
        let outcome = loop {
            let result = async {
                let table = open_existing(env.store().clone(), root).await?;
                let bound_ms = env.clock().now_millis() - older_than_ms;
                table.remove_orphan_files(bound_ms).await
            }
            .await;
            match result {
                Err(error) if is_transient(&error) && attempt + 1 < MAINTENANCE_ATTEMPTS_MAX => {
                    backoff_sleep(attempt).await;
                    attempt += 1;
                }
                outcome => break outcome,
            }
        };
        match outcome {
            Ok(report) => {
                let shown: Vec<&str> = report
                    .files_deleted
                    .iter()
                    .take(3)
                    .map(String::as_str)
                    .collect();
                world.record(
                    OPS_HOST,
                    TraceKind::RemoveOrphanFiles,
                    format!(
                        "table={table_name} older_than={} deleted={} young_kept={} first={shown:?}",
                        Millis(older_than_ms),
                        report.files_deleted.len(),
                        report.young_files_kept
                    ),
                );
            }
            Err(error) => world.record(
                OPS_HOST,
                TraceKind::RemoveOrphanFilesFailed,
                format!("table={table_name}: {error}"),
            ),
        }
    }
    Ok(())
}

/// A storage system that did not answer: worth another attempt.
fn is_transient(error: &TableError) -> bool {
    matches!(error, TableError::Store(StoreError::Unavailable(_)))
}

#[derive(Debug, thiserror::Error)]
enum RollbackError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Refused(String),
}

impl RollbackError {
    fn is_transient(&self) -> bool {
        match self {
            Self::Store(error) => matches!(error, StoreError::Unavailable(_)),
            Self::Table(error) => is_transient(error),
            Self::Refused(_) => false,
        }
    }
}

/// Runs the rollbacks pending for `job` before it starts (its host calls this at every
/// restart, with the table it writes). A rollback stays pending until it succeeds, so a crash
/// in the middle repeats it; a refused one (no such tag, checkpoint not retained) is traced and
/// dropped.
pub async fn run_pending_rollbacks(
    world: &World,
    env: &SimEnv,
    job: &str,
    table: &FileStoreTable<<SimEnv as Env>::Store>,
) {
    loop {
        let next = world
            .control
            .pending_rollbacks
            .borrow()
            .iter()
            .find(|p| p.job == job && p.table_root == table.root())
            .cloned();
        let Some(pending) = next else {
            return;
        };
        let mut attempt = 0;
        let outcome = loop {
            match rollback(env, job, table, &pending.tag).await {
                Err(error) if error.is_transient() && attempt + 1 < ROLLBACK_ATTEMPTS_MAX => {
                    backoff_sleep(attempt).await;
                    attempt += 1;
                }
                outcome => break outcome,
            }
        };
        world
            .control
            .pending_rollbacks
            .borrow_mut()
            .retain(|p| *p != pending);
        match outcome {
            Ok(detail) => {
                world.observed.rollbacks.borrow_mut().push(RollbackRecord {
                    table_root: pending.table_root.clone(),
                    tag: pending.tag.clone(),
                    t_ms: sim_now_ms(),
                });
                world.record(job, TraceKind::RollbackToTag, detail);
            }
            Err(error) => {
                world.record(
                    job,
                    TraceKind::RollbackFailed,
                    format!("table={} tag={}: {error}", pending.table_root, pending.tag),
                );
            }
        }
    }
}

/// One rollback: the tag's snapshot, the checkpoint that committed it (which must be
/// retained), the table rolled back, then the job's newer checkpoints deleted so its restore
/// picks that checkpoint.
async fn rollback(
    env: &SimEnv,
    job: &str,
    table: &FileStoreTable<<SimEnv as Env>::Store>,
    tag: &str,
) -> Result<String, RollbackError> {
    let tagged = table
        .tag(tag)
        .await?
        .ok_or_else(|| RollbackError::Refused(format!("{} has no tag `{tag}`", table.root())))?;
    let checkpoint_id = tagged.commit_identifier;
    let storage = CheckpointStorage::new(env.store().clone(), job);
    let prefix = storage.path_of(0);
    let prefix = &prefix[..prefix.len() - 10];
    let mut newer = Vec::new();
    let mut retained = false;
    for path in env.store().list(prefix).await? {
        match path[prefix.len()..].parse::<i64>() {
            Ok(id) if id == checkpoint_id => retained = true,
            Ok(id) if id > checkpoint_id => newer.push(path),
            _ => {}
        }
    }
    if !retained {
        return Err(RollbackError::Refused(format!(
            "tag `{tag}` is snapshot {} of checkpoint {checkpoint_id}, but {job} no longer retains that checkpoint ({}): the replay would have no source position",
            tagged.id,
            storage.path_of(checkpoint_id)
        )));
    }
    table.rollback_to_tag(tag).await?;
    // Newest first: a crash in between leaves the job restoring a checkpoint newer than the
    // tag, which the next attempt of this rollback (still pending) removes.
    for path in newer.iter().rev() {
        env.store().delete(path).await?;
    }
    Ok(format!(
        "table={} tag={tag} snapshot={} checkpoint={checkpoint_id} newer_checkpoints_deleted={}",
        table.root(),
        tagged.id,
        newer.len()
    ))
}
