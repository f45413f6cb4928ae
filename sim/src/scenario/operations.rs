//! `[[operations]]`: scripted operator actions of a scenario, what an engineer on call does to a
//! running warehouse, as opposed to the faults that happen to it (the hosts carry them out:
//! `hosts::ops`). `deploy` restarts a job on another build; `rollback-to-tag` rolls a table back
//! to a tag and replays its job from the checkpoint that committed it; `remove-orphan-files` runs
//! Paimon's procedure of that name from an `ops` host.

use serde::Deserialize;
use warehouse::jobs::DwsJobVersion;
use warehouse::jobs::schemas::{DWD_TABLE_ROOT, DWS_TABLE_ROOT};

use crate::scenario::{Millis, Scenario};

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

/// The scenario's operations in the order they happen (ties keep the file's order).
pub fn schedule(scenario: &Scenario) -> Vec<OperationSpec> {
    let mut operations = scenario.operations.clone();
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
            assert!(
                error.contains("[[operations]] #1") || expected.contains("variant"),
                "{error}"
            );
        }
    }
}
