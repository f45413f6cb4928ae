//! Where verdicts are made: the checkers recompute what the tables must hold from the world's
//! ground truth and compare it with what their own reader finds on storage. They never import
//! the hosts (the code they check).

pub mod accuracy;
mod avro_file;
pub mod budget;
pub mod event_time;
pub mod exactly_once;
pub mod excuse;
pub mod files;
pub mod freshness;
pub mod history;
pub mod inspect;
pub mod sla;
pub mod spec;
pub mod tt_era;

use serde::Serialize;

use crate::check::exactly_once::{
    ChainChecks, CheckOutcome, SecondaryChecks, VisibleTimes, check_chain,
};
use crate::check::files::{self as files_checker, Deletions};
use crate::run::Simulation;
use crate::scenario::Scenario;
use crate::world::{StoredObjects, World};

/// The checkers, in the order summaries report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckerName {
    /// Every committed snapshot, and the end state, against the ground truth.
    ExactlyOnce,
    /// Watermarks, late and too-late events, recomputed from what the jobs read.
    EventTime,
    /// Production to visibility in DWS, against the freshness SLA, per traffic phase.
    Freshness,
    /// Every event visible before the liveness phase ends.
    Liveness,
    /// Report queries answered in time from a fresh enough snapshot.
    Availability,
    /// Resuming and catching up after each crash.
    Recovery,
    /// Spend after a budget ran out.
    Budget,
    /// Files per bucket, small files, and no file deleted while still needed.
    Files,
    /// A job that failed over because the snapshot it had to read next was expired.
    ExpiredSnapshot,
}

impl CheckerName {
    pub const ALL: [CheckerName; 9] = [
        Self::ExactlyOnce,
        Self::EventTime,
        Self::Freshness,
        Self::Liveness,
        Self::Availability,
        Self::Recovery,
        Self::Budget,
        Self::Files,
        Self::ExpiredSnapshot,
    ];

    /// The name summaries, result files and incident files use.
    pub fn name(self) -> &'static str {
        match self {
            Self::ExactlyOnce => "exactly-once",
            Self::EventTime => "event-time",
            Self::Freshness => "freshness",
            Self::Liveness => "liveness",
            Self::Availability => "availability",
            Self::Recovery => "recovery",
            Self::Budget => "budget",
            Self::Files => "files",
            Self::ExpiredSnapshot => "expired-snapshot",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|checker| checker.name() == name)
    }
}

impl Serialize for CheckerName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for CheckerName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|c| c.name()).collect();
            serde::de::Error::custom(format!(
                "unknown checker `{name}`; checkers: {}",
                known.join(", ")
            ))
        })
    }
}

/// One thing a checker found wrong, and where.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Violation {
    pub checker: CheckerName,
    /// Where it was found: a snapshot, or "end of run".
    pub at: String,
    /// Simulated ms of the violating commit, when there is one.
    pub t_ms: Option<i64>,
    pub message: String,
}

/// A simulated run and the checkers' verdicts on it.
pub struct Run {
    pub simulation: Simulation,
    pub checks: CheckOutcome,
}

/// Runs `scenario` with `seed` to completion and checks it. Deterministic: same inputs, same trace.
pub fn run(scenario: Scenario, seed: u64) -> Run {
    check(crate::run::simulate(scenario, seed))
}

/// Runs the checkers over a simulated run. With dual storage both chains are checked, each
/// against the ground truth, and every violation names its storage system; freshness is
/// measured as served (from whichever system showed an event first).
pub fn check(mut simulation: Simulation) -> Run {
    let checks = check_simulation(&mut simulation);
    Run { simulation, checks }
}

/// The checkers again, over a run whose simulation was changed since (a counterfactual: say, a
/// test that deletes a file the tables need and expects a checker to notice).
pub fn recheck(run: &mut Run) {
    run.checks = check_simulation(&mut run.simulation);
}

fn check_simulation(output: &mut Simulation) -> CheckOutcome {
    let world = output.world.clone();
    if world.scenario.pipeline.is_tt_era() {
        return check_tt_era_world(&world);
    }
    let chaos_end_ms = output.chaos_end_ms;
    let chains = world.scenario.topology().chains();
    let primary = check_storage(&world, chains[0], &mut output.objects, chaos_end_ms, None);
    let Some(secondary_objects) = output.secondary_objects.as_mut() else {
        return primary.outcome;
    };
    let secondary = check_storage(
        &world,
        chains[1],
        secondary_objects,
        chaos_end_ms,
        Some(&primary.visible_at),
    );
    merge_chains(chains, primary, secondary)
}

/// The checks of one storage system's chain. The objects its `dfs` deleted are lent from the
/// world's graveyard to the storage dump while the checkers walk the history, then taken back,
/// so `objects` stays the final state.
fn check_storage(
    world: &World,
    chain: crate::topology::Chain,
    objects: &mut StoredObjects,
    chaos_end_ms: i64,
    other_visible_at: Option<&VisibleTimes>,
) -> ChainChecks {
    let graveyard = world.storage(chain).graveyard.borrow();
    let deleted: Deletions = graveyard
        .iter()
        .filter(|(path, _)| !objects.contains_key(path))
        .map(|(path, tombstone)| (path.clone(), tombstone.deleted_ms))
        .collect();
    let (retained, unreferenced) = files_checker::retained_metadata_check(objects, &deleted);
    for path in deleted.keys() {
        objects.insert_bytes(path.clone(), graveyard[path].bytes.clone());
    }
    drop(graveyard);
    let mut checks = check_chain(world, chain, objects, chaos_end_ms, other_visible_at);
    let (dwd, dws, mut violations) =
        files_checker::files_check_on(world, chain.storage, objects, &deleted);
    objects.retain(|path| !deleted.contains_key(path));
    violations.splice(0..0, retained);
    if chain.storage != crate::topology::SECONDARY.storage {
        violations.extend(files_checker::expired_snapshot_check(world));
    }
    let files = &mut checks.outcome.files;
    files.dwd_over_run = files_checker::TableFiles {
        unreferenced_files_at_end: unreferenced[0],
        ..dwd
    };
    files.dws_over_run = files_checker::TableFiles {
        unreferenced_files_at_end: unreferenced[1],
        ..dws
    };
    files.violations = violations;
    checks
}

/// Names the storage system in a violation's place.
fn on_storage(storage: &str, mut violation: Violation) -> Violation {
    violation.at = format!("{storage}: {}", violation.at);
    violation
}

/// One outcome of both chains: the primary's figures, the served freshness, the secondary's
/// figures in `secondary`, and every violation of either, each naming its storage system.
fn merge_chains(
    chains: &[crate::topology::Chain],
    primary: ChainChecks,
    secondary: ChainChecks,
) -> CheckOutcome {
    let (a, b) = (chains[0].storage, chains[1].storage);
    let mut outcome = primary.outcome;
    let second = secondary.outcome;
    let mut served = secondary
        .served_freshness
        .unwrap_or_else(|| outcome.freshness.clone());
    // Served freshness judges the SLA; each chain's own liveness still has to hold.
    served
        .violations
        .retain(|v| v.checker != CheckerName::Liveness);
    for (storage, own) in [(a, &outcome.freshness), (b, &second.freshness)] {
        served.violations.extend(
            own.violations
                .iter()
                .filter(|v| v.checker == CheckerName::Liveness)
                .cloned()
                .map(|v| on_storage(storage, v)),
        );
    }
    let mut exactly_once: Vec<Violation> = std::mem::take(&mut outcome.exactly_once.violations)
        .into_iter()
        .map(|v| on_storage(a, v))
        .collect();
    exactly_once.extend(
        second
            .exactly_once
            .violations
            .iter()
            .cloned()
            .map(|v| on_storage(b, v)),
    );
    outcome.exactly_once.violations = exactly_once;
    let mut files: Vec<Violation> = std::mem::take(&mut outcome.files.violations)
        .into_iter()
        .map(|v| {
            if v.checker == CheckerName::ExpiredSnapshot {
                v
            } else {
                on_storage(a, v)
            }
        })
        .collect();
    files.extend(
        second
            .files
            .violations
            .iter()
            .cloned()
            .map(|v| on_storage(b, v)),
    );
    outcome.files.violations = files;
    outcome.secondary = Some(Box::new(SecondaryChecks {
        storage: b.to_string(),
        primary_freshness: outcome.freshness.clone(),
        outcome: second,
    }));
    outcome.freshness = served;
    outcome
}

/// The TT era's checks: every store against the ground truth at the end (see `tt_era`). Its
/// world has no DWD or DWS tables, so the lakehouse's table checkers do not apply.
fn check_tt_era_world(world: &World) -> CheckOutcome {
    let (report, violations) = tt_era::check_tt_era(world);
    let report_store = report.stores.first().cloned().unwrap_or_default();
    CheckOutcome {
        exactly_once: exactly_once::ExactlyOnceReport {
            distinct_valid_events: report.distinct_valid_events,
            invalid_events: report.invalid_events,
            appended_records: report.ods_records,
            duplicate_appends: report.ods_duplicate_appends,
            never_reached_tt: report.never_reached_tt,
            violations,
            ..Default::default()
        },
        pipeline: accuracy::PipelineFigures {
            architecture: "tt-era".into(),
            time_to_accurate: report_store.time_to_accurate,
            time_to_first_value: report_store.time_to_first_value,
            tt_era: Some(report),
        },
        ..CheckOutcome::default()
    }
}
