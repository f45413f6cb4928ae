//! `[[operations]]`: scripted operator actions of a scenario, what an engineer on call does to a
//! running warehouse, as opposed to the faults that happen to it (the hosts carry them out:
//! `hosts::ops`). `deploy` restarts a job on another build; `rollback-to-tag` rolls a table back
//! to a tag and replays its job from the checkpoint that committed it; `remove-orphan-files` runs
//! Paimon's procedure of that name from an `ops` host. Each entry is parsed into the one shape
//! its kind takes.

use serde::{Deserialize, Serialize};
use warehouse::jobs::DwsJobVersion;
use warehouse::jobs::schemas::{DWD_TABLE_ROOT, DWS_TABLE_ROOT};

use crate::scenario::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
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

impl OperationKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::RollbackToTag => "rollback-to-tag",
            Self::RemoveOrphanFiles => "remove-orphan-files",
        }
    }
}

/// A table of the warehouse, as `[[operations]]` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableName {
    Dwd,
    Dws,
}

impl TableName {
    pub fn name(self) -> &'static str {
        match self {
            Self::Dwd => "dwd",
            Self::Dws => "dws",
        }
    }

    /// The table's root in the catalog.
    pub fn root(self) -> &'static str {
        match self {
            Self::Dwd => DWD_TABLE_ROOT,
            Self::Dws => DWS_TABLE_ROOT,
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "dwd" => Some(Self::Dwd),
            "dws" => Some(Self::Dws),
            _ => None,
        }
    }
}

/// Jobs `deploy` can restart on another build.
pub const DEPLOYABLE_JOBS: [&str; 1] = ["dws-job"];
/// The job that writes DWS, and so the one a DWS rollback restores.
pub const DWS_JOB: &str = "dws-job";

/// One `[[operations]]` entry: when, and what.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "RawOperation", into = "RawOperation")]
pub struct OperationSpec {
    pub at: Millis,
    pub action: Operation,
}

/// What an operation does, with exactly the parameters its kind needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// Restart `job` on `version`, restoring its latest checkpoint.
    Deploy { job: String, version: DwsJobVersion },
    /// Roll DWS back to `tag` and restore the DWS job from the checkpoint that committed it.
    /// Only DWS: rolling DWD back would need DWS rolled back with it.
    RollbackDwsToTag { tag: String },
    /// Paimon's `remove_orphan_files` on `table` with `older_than`.
    RemoveOrphanFiles {
        table: TableName,
        older_than: Millis,
    },
}

impl OperationSpec {
    pub fn kind(&self) -> OperationKind {
        match self.action {
            Operation::Deploy { .. } => OperationKind::Deploy,
            Operation::RollbackDwsToTag { .. } => OperationKind::RollbackToTag,
            Operation::RemoveOrphanFiles { .. } => OperationKind::RemoveOrphanFiles,
        }
    }
}

/// An `[[operations]]` entry as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawOperation {
    at: Millis,
    kind: OperationKind,
    /// `deploy`: the job ("dws-job").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    /// `deploy`: the build, one of `DwsJobVersion::NAMES`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    /// `rollback-to-tag` and `remove-orphan-files`: the table ("dws", "dwd").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    table: Option<String>,
    /// `rollback-to-tag`: the tag's name, as `tag/tag-<name>` spells it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tag: Option<String>,
    /// `remove-orphan-files`: only unreferenced files last written longer ago than this go.
    #[serde(
        default,
        rename = "older-than",
        skip_serializing_if = "Option::is_none"
    )]
    older_than: Option<Millis>,
}

impl TryFrom<RawOperation> for OperationSpec {
    type Error = String;

    fn try_from(raw: RawOperation) -> Result<Self, String> {
        let at = raw.at;
        let context = |message: String| format!("[[operations]] (at {at}): {message}");
        let unexpected = |key: &str, present: bool| {
            if present {
                Err(context(format!(
                    "`{key}` does not apply to kind = \"{}\"",
                    raw.kind.name()
                )))
            } else {
                Ok(())
            }
        };
        let action = match raw.kind {
            OperationKind::RemoveOrphanFiles => {
                unexpected("target", raw.target.is_some())?;
                unexpected("version", raw.version.is_some())?;
                unexpected("tag", raw.tag.is_some())?;
                let name = raw.table.as_deref().unwrap_or_default();
                let table = TableName::parse(name).ok_or_else(|| {
                    context(format!(
                        "remove-orphan-files needs table = \"dwd\" or \"dws\", not \"{name}\""
                    ))
                })?;
                let older_than = raw.older_than.ok_or_else(|| context("remove-orphan-files needs older-than = \"<duration>\": files of a commit still in flight are unreferenced too, so choose it longer than a job can hold prepared files (a checkpoint interval plus a restart; Paimon's default is 24h)".into()))?;
                Operation::RemoveOrphanFiles { table, older_than }
            }
            OperationKind::Deploy => {
                unexpected("older-than", raw.older_than.is_some())?;
                unexpected("table", raw.table.is_some())?;
                unexpected("tag", raw.tag.is_some())?;
                let job = raw.target.unwrap_or_default();
                if !DEPLOYABLE_JOBS.contains(&job.as_str()) {
                    return Err(context(format!(
                        "deploy needs target = one of {DEPLOYABLE_JOBS:?} (the jobs with builds to choose), not \"{job}\""
                    )));
                }
                let name = raw.version.unwrap_or_default();
                let version = DwsJobVersion::parse(&name).ok_or_else(|| {
                    context(format!(
                        "deploy needs version = one of {:?}, not \"{name}\"",
                        DwsJobVersion::NAMES
                    ))
                })?;
                Operation::Deploy { job, version }
            }
            OperationKind::RollbackToTag => {
                unexpected("older-than", raw.older_than.is_some())?;
                unexpected("target", raw.target.is_some())?;
                unexpected("version", raw.version.is_some())?;
                let table = raw.table.as_deref().unwrap_or_default();
                if table != "dws" {
                    return Err(context(format!(
                        "rollback-to-tag needs table = \"dws\", not \"{table}\" (rolling DWD back would need the DWS table rolled back with it; not supported)"
                    )));
                }
                let tag = raw.tag.unwrap_or_default();
                if tag.is_empty() || tag.contains('/') {
                    return Err(context(format!(
                        "rollback-to-tag needs tag = the name of a tag of [{table}] (non-empty, no '/'), not \"{tag}\""
                    )));
                }
                Operation::RollbackDwsToTag { tag }
            }
        };
        Ok(Self { at, action })
    }
}

impl From<OperationSpec> for RawOperation {
    fn from(op: OperationSpec) -> Self {
        let mut raw = RawOperation {
            at: op.at,
            kind: op.kind(),
            target: None,
            version: None,
            table: None,
            tag: None,
            older_than: None,
        };
        match op.action {
            Operation::Deploy { job, version } => {
                raw.target = Some(job);
                raw.version = Some(version.name().to_string());
            }
            Operation::RollbackDwsToTag { tag } => {
                raw.table = Some("dws".into());
                raw.tag = Some(tag);
            }
            Operation::RemoveOrphanFiles { table, older_than } => {
                raw.table = Some(table.name().into());
                raw.older_than = Some(older_than);
            }
        }
        raw
    }
}

/// The scenario's operations in the order they happen (ties keep the file's order).
pub fn schedule(operations: &[OperationSpec]) -> Vec<OperationSpec> {
    let mut operations = operations.to_vec();
    operations.sort_by_key(|op| op.at.0);
    operations
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
            assert!(error.contains("line "), "{error}");
        }
    }
}
