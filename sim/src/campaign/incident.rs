//! The incident library (`fixtures/incidents/`): each incident is a directory holding a scenario
//! (`scenario.toml`), its expected verdict (`incident.toml`: the seed, the report it reproduces,
//! the misconfiguration or unsafe option that causes it, the checker that must fail, a stable
//! fragment of that checker's first violation, and every checker that fails) and a short story
//! (`story.md`). Replaying an incident must give the same verdict: the wrong behaviour is reached
//! through the warehouse's own options, and the checkers, which recompute from ground truth,
//! must keep naming it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::check::CheckerName;
use crate::report::summary::Summary;
use crate::scenario::Scenario;

/// The files of an incident directory.
pub const SCENARIO_FILE: &str = "scenario.toml";
pub const VERDICT_FILE: &str = "incident.toml";
pub const STORY_FILE: &str = "story.md";

/// `incident.toml`: what replaying the incident must give.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// The seed to replay the scenario with.
    pub seed: u64,
    /// The real-world report it reproduces, like "apache/paimon#807".
    pub report: String,
    /// The misconfiguration or unsafe option that causes it, as the scenario spells it.
    pub cause: String,
    /// The checker that must FAIL.
    pub checker: CheckerName,
    /// A stable fragment of that checker's first violation (its `at` or its message).
    pub first_violation_contains: String,
    /// Every checker that fails, `checker` included: any other verdict changing is a regression.
    pub failed_checkers: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {message}")]
    Invalid { path: String, message: String },
}

/// One incident of the library.
#[derive(Debug, Clone)]
pub struct Incident {
    /// The directory's name.
    pub name: String,
    pub dir: PathBuf,
    pub expected: Expected,
    pub scenario: Scenario,
    pub story: String,
}

fn read(path: &Path) -> Result<String, IncidentError> {
    std::fs::read_to_string(path).map_err(|source| IncidentError::Read {
        path: path.display().to_string(),
        source,
    })
}

impl Incident {
    /// Loads and validates the incident in `dir`.
    pub fn load(dir: &Path) -> Result<Self, IncidentError> {
        let invalid = |path: &Path, message: String| IncidentError::Invalid {
            path: path.display().to_string(),
            message,
        };
        let verdict_path = dir.join(VERDICT_FILE);
        let expected: Expected = toml::from_str(&read(&verdict_path)?)
            .map_err(|e| invalid(&verdict_path, e.to_string()))?;
        if !expected
            .failed_checkers
            .iter()
            .any(|name| name == expected.checker.name())
        {
            return Err(invalid(
                &verdict_path,
                format!(
                    "failed_checkers {:?} must include checker = \"{}\"",
                    expected.failed_checkers,
                    expected.checker.name()
                ),
            ));
        }
        if expected.first_violation_contains.trim().is_empty() {
            return Err(invalid(
                &verdict_path,
                "first_violation_contains must not be empty".into(),
            ));
        }
        let scenario_path = dir.join(SCENARIO_FILE);
        let scenario =
            Scenario::load(&scenario_path).map_err(|e| invalid(&scenario_path, e.to_string()))?;
        let story_path = dir.join(STORY_FILE);
        let story = read(&story_path)?;
        if !story.contains(&expected.report) {
            return Err(invalid(
                &story_path,
                format!(
                    "the story must name the report it reproduces ({})",
                    expected.report
                ),
            ));
        }
        Ok(Self {
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            dir: dir.to_path_buf(),
            expected,
            scenario,
            story,
        })
    }

    /// Every incident under `root`, one per directory, sorted by name.
    pub fn discover(root: &Path) -> Result<Vec<Self>, IncidentError> {
        let entries = std::fs::read_dir(root).map_err(|source| IncidentError::Read {
            path: root.display().to_string(),
            source,
        })?;
        let mut dirs = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| IncidentError::Read {
                path: root.display().to_string(),
                source,
            })?;
            if entry.path().is_dir() {
                dirs.push(entry.path());
            }
        }
        dirs.sort();
        dirs.iter().map(|dir| Self::load(dir)).collect()
    }

    /// Its scenario's path from the project root.
    pub fn scenario_path(&self) -> String {
        format!("fixtures/incidents/{}/{SCENARIO_FILE}", self.name)
    }

    /// The command that replays it, from the project root.
    pub fn replay_command(&self) -> String {
        format!(
            "dwsim run {} --seed {}",
            self.scenario_path(),
            self.expected.seed
        )
    }

    /// Where a replay's verdict differs from the expected one; empty when it matches.
    pub fn differences(&self, summary: &Summary) -> Vec<String> {
        let expected = &self.expected;
        let mut differences = Vec::new();
        let mut want = expected.failed_checkers.clone();
        want.sort();
        want.dedup();
        let mut got = summary.failed_checkers.clone();
        got.sort();
        got.dedup();
        if want != got {
            differences.push(format!(
                "failed checkers changed: expected {want:?}, got {got:?}"
            ));
        }
        match summary.first_violation(expected.checker) {
            None => differences.push(format!(
                "checker `{}` stayed silent (verdict {})",
                expected.checker.name(),
                summary.verdict
            )),
            Some(first) => {
                let text = format!("{}: {}", first.at, first.message);
                if !text.contains(&expected.first_violation_contains) {
                    differences.push(format!(
                        "the first `{}` violation no longer contains {:?}: {text}",
                        expected.checker.name(),
                        expected.first_violation_contains
                    ));
                }
            }
        }
        differences
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch incident directory under the system's temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str, verdict: &str, story: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("dwsim-incident-{}-{name}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let scenario = "name = \"t\"\n[run]\nchaos = \"10s\"\nliveness = \"10s\"\n[traffic]\nbaseline_events_per_s = 10\n";
            std::fs::write(dir.join(SCENARIO_FILE), scenario).unwrap();
            std::fs::write(dir.join(VERDICT_FILE), verdict).unwrap();
            std::fs::write(dir.join(STORY_FILE), story).unwrap();
            Self(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const VERDICT: &str = "seed = 3\nreport = \"apache/paimon#1\"\ncause = \"x\"\nchecker = \"files\"\nfirst_violation_contains = \"above\"\nfailed_checkers = [\"files\"]\n";

    #[test]
    fn an_incident_loads_with_its_replay_command() {
        let scratch = Scratch::new("ok", VERDICT, "reproduces apache/paimon#1");
        let incident = Incident::load(&scratch.0).unwrap();
        assert_eq!(incident.expected.seed, 3);
        assert!(
            incident
                .replay_command()
                .ends_with("/scenario.toml --seed 3"),
            "{}",
            incident.replay_command()
        );
    }

    #[test]
    fn inconsistent_or_unnamed_incidents_are_rejected() {
        let lacks = VERDICT.replace("[\"files\"]", "[\"exactly-once\"]");
        let scratch = Scratch::new("lacks", &lacks, "apache/paimon#1");
        let error = Incident::load(&scratch.0).unwrap_err().to_string();
        assert!(
            error.contains("must include checker = \"files\""),
            "{error}"
        );
        let scratch = Scratch::new("story", VERDICT, "no report named");
        let error = Incident::load(&scratch.0).unwrap_err().to_string();
        assert!(error.contains("apache/paimon#1"), "{error}");
        let typo = VERDICT.replace("seed", "sede");
        let scratch = Scratch::new("typo", &typo, "apache/paimon#1");
        let error = Incident::load(&scratch.0).unwrap_err().to_string();
        assert!(error.contains("sede"), "{error}");
    }
}
