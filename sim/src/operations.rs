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

use std::collections::BTreeMap;
use std::rc::Rc;

use serde::Deserialize;
use warehouse::env::{Clock, Env, ObjectStore, StoreError};
use warehouse::jobs::DwsJobVersion;
use warehouse::jobs::schemas::{DWD_TABLE_ROOT, DWS_TABLE_ROOT};
use warehouse::stream::{CheckpointStorage, backoff_sleep};
use warehouse::table::{FileStoreTable, TableError, open_existing};

use crate::inspect::{SnapshotInfo, TableInspector};
use crate::scenario::{Millis, Scenario};
use crate::world::{Shared, SimEnv, sim_now_ms};

/// Attempts of one rollback against transient storage errors before it is given up.
const ROLLBACK_ATTEMPTS_MAX: u32 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperationKind {
    /// Restart `target` on build `version`, restoring its latest checkpoint.
    Deploy,
    /// Roll `table` back to `tag` and restore its job from the checkpoint that committed the
    /// tagged snapshot.
    RollbackToTag,
    /// Delete `table`'s files that no snapshot or tag references and that were last written
    /// more than `older-than` ago.
    RemoveOrphanFiles,
}

/// One `[[operations]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationSpec {
    pub at: Millis,
    pub kind: OperationKind,
    /// `deploy`: the job ("dws-job").
    #[serde(default)]
    pub target: Option<String>,
    /// `deploy`: the build, one of `DwsJobVersion::NAMES`.
    #[serde(default)]
    pub version: Option<String>,
    /// `rollback-to-tag`: the table ("dws").
    #[serde(default)]
    pub table: Option<String>,
    /// `rollback-to-tag`: the tag's name, as `tag/tag-<name>` spells it.
    #[serde(default)]
    pub tag: Option<String>,
    /// `remove-orphan-files`: only unreferenced files last written longer ago than this go.
    #[serde(default, rename = "older-than")]
    pub older_than: Option<Millis>,
}

/// Jobs `deploy` can restart on another build.
pub const DEPLOYABLE_JOBS: [&str; 1] = ["dws-job"];
/// Tables `remove-orphan-files` can clean: (name in scenarios, root).
pub const CLEANABLE_TABLES: [(&str, &str); 2] = [("dwd", DWD_TABLE_ROOT), ("dws", DWS_TABLE_ROOT)];

/// The host that runs maintenance procedures (`remove-orphan-files`).
pub const OPS_HOST: &str = "ops";

/// Tables `rollback-to-tag` can roll back, with the job that writes each.
pub const ROLLBACK_TABLES: [(&str, &str, &str); 1] = [("dws", DWS_TABLE_ROOT, "dws-job")];

impl OperationSpec {
    /// Checks the keys the kind needs (and only those) against `scenario`.
    pub fn validate(&self, scenario: &Scenario) -> Result<(), String> {
        let end = scenario.run.chaos.0 + scenario.run.liveness.0;
        if self.at.0 < 0 || self.at.0 >= end {
            return Err(format!(
                "at = \"{}\" must fall within the run (chaos + liveness = {})",
                self.at,
                Millis(end)
            ));
        }
        let unexpected = |key: &str, present: bool| {
            if present {
                Err(format!(
                    "`{key}` does not apply to kind = \"{}\"",
                    self.kind_name()
                ))
            } else {
                Ok(())
            }
        };
        if self.kind != OperationKind::RemoveOrphanFiles {
            unexpected("older-than", self.older_than.is_some())?;
        }
        match self.kind {
            OperationKind::RemoveOrphanFiles => {
                unexpected("target", self.target.is_some())?;
                unexpected("version", self.version.is_some())?;
                unexpected("tag", self.tag.is_some())?;
                let table = self.table.as_deref().unwrap_or_default();
                if !CLEANABLE_TABLES.iter().any(|(name, _)| *name == table) {
                    return Err(format!(
                        "remove-orphan-files needs table = \"dwd\" or \"dws\", not \"{table}\""
                    ));
                }
                if self.older_than.is_none() {
                    return Err("remove-orphan-files needs older-than = \"<duration>\": files of a commit still in flight are unreferenced too, so choose it longer than a job can hold prepared files (a checkpoint interval plus a restart; Paimon's default is 24h)".into());
                }
            }
            OperationKind::Deploy => {
                unexpected("table", self.table.is_some())?;
                unexpected("tag", self.tag.is_some())?;
                let target = self.target.as_deref().unwrap_or_default();
                if !DEPLOYABLE_JOBS.contains(&target) {
                    return Err(format!(
                        "deploy needs target = one of {DEPLOYABLE_JOBS:?} (the jobs with builds to choose), not \"{target}\""
                    ));
                }
                let version = self.version.as_deref().unwrap_or_default();
                if DwsJobVersion::parse(version).is_none() {
                    return Err(format!(
                        "deploy needs version = one of {:?}, not \"{version}\"",
                        DwsJobVersion::NAMES
                    ));
                }
            }
            OperationKind::RollbackToTag => {
                unexpected("target", self.target.is_some())?;
                unexpected("version", self.version.is_some())?;
                let table = self.table.as_deref().unwrap_or_default();
                let Some(&(_, _, job)) = ROLLBACK_TABLES.iter().find(|(name, ..)| *name == table)
                else {
                    return Err(format!(
                        "rollback-to-tag needs table = \"dws\", not \"{table}\" (rolling DWD back would need the DWS table rolled back with it; not supported)"
                    ));
                };
                let tag = self.tag.as_deref().unwrap_or_default();
                if tag.is_empty() || tag.contains('/') {
                    return Err(format!(
                        "rollback-to-tag needs tag = the name of a tag of [{table}] (non-empty, no '/'), not \"{tag}\""
                    ));
                }
                if scenario.dws.tag_automatic_creation.is_none() {
                    return Err(format!(
                        "rollback-to-tag needs tags on [{table}]: set \"tag.automatic-creation\" = \"process-time\" and \"tag.creation-period\" there"
                    ));
                }
                if scenario
                    .jobs
                    .unsafe_new_commit_user_on_restart
                    .iter()
                    .any(|j| j == job)
                {
                    return Err(format!(
                        "rollback-to-tag restores {job} from a checkpoint, which needs its stable commit user: drop \"{job}\" from [jobs] \"unsafe.new-commit-user-on-restart\""
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            OperationKind::Deploy => "deploy",
            OperationKind::RollbackToTag => "rollback-to-tag",
            OperationKind::RemoveOrphanFiles => "remove-orphan-files",
        }
    }
}

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

/// The operations' state in the world.
#[derive(Debug, Default)]
pub struct OperationsState {
    /// The build each deployed job runs now (absent: `current`).
    pub versions: BTreeMap<String, DwsJobVersion>,
    pub pending: Vec<PendingRollback>,
    pub done: Vec<RollbackRecord>,
}

/// The scenario's operations in the order they happen (ties keep the file's order).
pub fn schedule(scenario: &Scenario) -> Vec<OperationSpec> {
    let mut operations = scenario.operations.clone();
    operations.sort_by_key(|op| op.at.0);
    operations
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

/// Attempts of one maintenance procedure against transient storage errors.
const MAINTENANCE_ATTEMPTS_MAX: u32 = 10;

/// The `ops` client: runs the scenario's maintenance procedures (`remove-orphan-files`) at their
/// times, each against the storage the jobs use, and records what each did.
pub async fn ops_client(shared: Rc<Shared>) -> turmoil::Result {
    let env = SimEnv::new(OPS_HOST, &shared);
    let procedures: Vec<OperationSpec> = schedule(&shared.scenario)
        .into_iter()
        .filter(|op| op.kind == OperationKind::RemoveOrphanFiles)
        .collect();
    for op in procedures {
        let wait_ms = (op.at.0 - sim_now_ms()).max(0);
        tokio::time::sleep(std::time::Duration::from_millis(wait_ms as u64)).await;
        let table_name = op.table.as_deref().unwrap_or_default();
        let Some(&(_, root)) = CLEANABLE_TABLES
            .iter()
            .find(|(name, _)| *name == table_name)
        else {
            continue; // validation admits only the tables above
        };
        let older_than_ms = op.older_than.unwrap_or(Millis(0)).0;
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
                shared.record(
                    OPS_HOST,
                    "remove-orphan-files",
                    format!(
                        "table={table_name} older_than={} deleted={} young_kept={} first={shown:?}",
                        Millis(older_than_ms),
                        report.files_deleted.len(),
                        report.young_files_kept
                    ),
                );
            }
            Err(error) => shared.record(
                OPS_HOST,
                "remove-orphan-files-failed",
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

/// The build `job` runs now.
pub fn version_of(shared: &Shared, job: &str) -> DwsJobVersion {
    shared
        .operations
        .borrow()
        .versions
        .get(job)
        .copied()
        .unwrap_or_default()
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
    shared: &Shared,
    env: &SimEnv,
    job: &str,
    table: &FileStoreTable<<SimEnv as Env>::Store>,
) {
    loop {
        let next = shared
            .operations
            .borrow()
            .pending
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
        let mut state = shared.operations.borrow_mut();
        state.pending.retain(|p| *p != pending);
        match outcome {
            Ok(detail) => {
                state.done.push(RollbackRecord {
                    table_root: pending.table_root.clone(),
                    tag: pending.tag.clone(),
                    t_ms: sim_now_ms(),
                });
                drop(state);
                shared.record(job, "rollback-to-tag", detail);
            }
            Err(error) => {
                drop(state);
                shared.record(
                    job,
                    "rollback-failed",
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

/// The snapshots of `root` that belong to its history at the end of the run: those a rollback
/// discarded (newer than its tag's snapshot, committed before the rollback) are left out. The
/// tag's snapshot id comes from the checker's own reading of the tag file, the commit times from
/// `dfs`; only the fact that an operator rolled the table back comes from the world's record.
pub fn surviving_history(
    shared: &Shared,
    inspector: &TableInspector,
    root: &str,
) -> Result<Vec<SnapshotInfo>, String> {
    let snapshots = inspector.snapshots()?;
    let rollbacks: Vec<RollbackRecord> = shared
        .operations
        .borrow()
        .done
        .iter()
        .filter(|r| r.table_root == root)
        .cloned()
        .collect();
    if rollbacks.is_empty() {
        return Ok(snapshots);
    }
    let tags = inspector.tags()?;
    let mut cuts = Vec::new();
    for rollback in &rollbacks {
        let Some((_, tagged)) = tags.iter().find(|(name, _)| *name == rollback.tag) else {
            return Err(format!(
                "{root} was rolled back to tag `{}` at t={} ms, but no such tag file was ever stored",
                rollback.tag, rollback.t_ms
            ));
        };
        cuts.push((tagged.id, rollback.t_ms));
    }
    let commits = shared.snapshot_commits.borrow();
    let epoch_ms = shared.scenario.run.epoch_ms;
    Ok(snapshots
        .into_iter()
        .filter(|s| {
            let committed_ms = commits
                .get(&s.path)
                .copied()
                .unwrap_or(s.time_millis - epoch_ms);
            !cuts
                .iter()
                .any(|&(tag_id, t_ms)| s.id > tag_id && committed_ms < t_ms)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use crate::scenario::Scenario;

    const MINIMAL: &str = "name = \"t\"\n[run]\nchaos = \"10s\"\nliveness = \"10s\"\n[traffic]\nbaseline_events_per_s = 100\n";
    const TAGGED: &str = "[dws]\nbucket = 1\n\"tag.automatic-creation\" = \"process-time\"\n\"tag.creation-period\" = \"1min\"\n";

    fn error_of(extra: &str) -> String {
        Scenario::parse(&format!("{MINIMAL}{extra}"), "t.toml")
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn operations_parse_and_are_checked() {
        let deploy = "[[operations]]\nat = \"2s\"\nkind = \"deploy\"\ntarget = \"dws-job\"\nversion = \"bad-double-counts-click-cost\"\n";
        let rollback = "[[operations]]\nat = \"5s\"\nkind = \"rollback-to-tag\"\ntable = \"dws\"\ntag = \"x\"\n";
        let clean = "[[operations]]\nat = \"6s\"\nkind = \"remove-orphan-files\"\ntable = \"dwd\"\nolder-than = \"1min\"\n";
        let ok = Scenario::parse(
            &format!("{MINIMAL}{TAGGED}{deploy}{rollback}{clean}"),
            "t.toml",
        )
        .expect("valid operations");
        assert_eq!(ok.operations.len(), 3);
        for (extra, expected) in [
            (deploy.replace("dws-job", "dwd-job"), "deploy needs target"),
            (
                deploy.replace("bad-double", "worse-double"),
                "deploy needs version",
            ),
            (deploy.replace("2s", "30s"), "must fall within the run"),
            (
                deploy.replace("deploy", "redeploy"),
                "unknown variant `redeploy`",
            ),
            (format!("{deploy}tag = \"x\"\n"), "`tag` does not apply"),
            (rollback.to_string(), "needs tags on [dws]"),
            (
                format!("{TAGGED}{}", rollback.replace("\"dws\"", "\"dwd\"")),
                "not supported",
            ),
            (
                format!("{TAGGED}{}", rollback.replace("\"x\"", "\"a/b\"")),
                "no '/'",
            ),
            (
                clean.replace("older-than = \"1min\"\n", ""),
                "needs older-than",
            ),
            (
                clean.replace("\"dwd\"", "\"late\""),
                "needs table = \"dwd\" or \"dws\"",
            ),
            (
                format!("{clean}target = \"dwd-job\"\n"),
                "`target` does not apply",
            ),
            (
                format!("{deploy}older-than = \"1min\"\n"),
                "`older-than` does not apply",
            ),
        ] {
            let error = error_of(&extra);
            assert!(error.contains(expected), "{extra}: {error}");
            assert!(
                error.contains("[[operations]] #1") || expected.contains("variant"),
                "{error}"
            );
        }
    }
}
