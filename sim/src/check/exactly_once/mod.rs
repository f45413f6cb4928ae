//! The checkers. They recompute what the tables must hold from the world's ground truth (what the
//! traffic produced, what TT durably appended) and compare it with what the independent inspector
//! reads from storage: exactly-once at every committed DWD and DWS snapshot and at the end, and
//! freshness from production to visibility in a committed DWS snapshot.
//!
//! Performance: the checkers run over every event of a run, so their state is dense. Event ids of
//! the ground truth are 1..=n and index flat vectors (flags, sequence numbers, visibility); a row
//! DWD holds is compared with the ground truth's event field by field and kept only when it
//! differs; mismatches are counted and flagged, and the smallest is searched for only when one is
//! reported. Ids outside 1..=n (a buggy writer's) fall back to an ordered map.

pub(crate) mod checker;
pub(crate) mod end;
pub(crate) mod state;

pub use state::VisibleTimes;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use warehouse::event::{EVENT_FIELD_NAMES, EVENT_KIND_SYMBOLS};
use warehouse::jobs::schemas::{
    DWD_TABLE_ROOT, DWS_FIELD_NAMES, DWS_TABLE_ROOT, LATE_FIELD_NAMES, LATE_TABLE_ROOT,
};

use crate::check::event_time::{LateState, LatenessReport};
use crate::check::exactly_once::checker::*;
use crate::check::exactly_once::end::*;
use crate::check::exactly_once::state::*;
use crate::check::freshness::*;
use crate::check::inspect::{CommitKind, FileRef, Records, TableInspector};
use crate::check::{CheckerName, Violation};
use crate::topology::Chain;
use crate::world::{StoredObjects, World};

#[derive(Debug, Clone, Default, Serialize)]
pub struct ExactlyOnceReport {
    pub dwd_snapshots_checked: usize,
    pub dws_snapshots_checked: usize,
    pub distinct_valid_events: u64,
    pub invalid_events: u64,
    pub appended_records: u64,
    pub duplicate_appends: u64,
    pub never_reached_tt: u64,
    /// Valid events TT holds beyond the offsets of DWD's last snapshot: not consumed when the
    /// run ended. Not an exactly-once matter (DWD holds exactly the consumed prefix of each
    /// partition, which the per-snapshot check verified); the liveness checker judges them.
    #[serde(skip_serializing_if = "is_zero")]
    pub unconsumed_at_end: u64,
    pub violations: Vec<Violation>,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

#[derive(Default)]
pub struct CheckOutcome {
    pub exactly_once: ExactlyOnceReport,
    /// With dual storage: freshness as served (an event counts from the first storage system
    /// whose DWS showed it).
    pub freshness: FreshnessReport,
    pub files: FilesReport,
    pub lateness: LatenessReport,
    /// With dual storage: the secondary chain's own checks (its violations are also in the
    /// reports above, named by storage system), and the primary's own freshness.
    pub secondary: Option<Box<SecondaryChecks>>,
    /// The architecture comparison's figures (time-to-accurate, row freshness).
    pub pipeline: crate::check::accuracy::PipelineFigures,
}

/// The secondary chain's checks, kept apart for the summary.
pub struct SecondaryChecks {
    pub storage: String,
    pub outcome: CheckOutcome,
    /// The primary chain's own freshness (the outcome's `freshness` is the served one).
    pub primary_freshness: FreshnessReport,
}

/// Live data files of each table at its latest snapshot (what compaction keeps bounded).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FilesReport {
    pub dwd_live_files: usize,
    pub dwd_max_files_per_bucket: usize,
    pub dws_live_files: usize,
    pub dws_max_files_per_bucket: usize,
    /// The files checker over every committed snapshot (see `files_checker`).
    pub dwd_over_run: crate::check::files::TableFiles,
    pub dws_over_run: crate::check::files::TableFiles,
    /// Files checker and expired-snapshot violations.
    pub violations: Vec<Violation>,
}

/// Runs every checker over a finished run. `objects` is the storage dump (of the one storage
/// system, or of the primary with dual storage: see [`check_chain`] for the secondary).
#[cfg(test)]
pub(crate) fn check_run(world: &World, objects: &StoredObjects, chaos_end_ms: i64) -> CheckOutcome {
    let chain = world.scenario.topology().chains()[0];
    check_chain(world, chain, objects, chaos_end_ms, None).outcome
}

/// One chain's checks, and when each ground-truth event became visible in its DWS.
pub struct ChainChecks {
    pub outcome: CheckOutcome,
    /// Per dense event index (as the checkers number the ground truth), the simulated ms it
    /// became visible in this chain's DWS, if it did. Kept only for a second chain's checks.
    pub visible_at: VisibleTimes,
    /// With `other_visible_at`: freshness as served, each event counted from the first chain
    /// whose DWS showed it (serving fails over to whichever is fresher).
    pub served_freshness: Option<FreshnessReport>,
}

/// Every checker over one chain: `chain`'s tables in `objects` (its storage system's dump),
/// recomputed from the ground truth. `other_visible_at` (another chain's `visible_at`) adds
/// the served freshness of both chains together.
pub fn check_chain(
    world: &World,
    chain: Chain,
    objects: &StoredObjects,
    chaos_end_ms: i64,
    other_visible_at: Option<&VisibleTimes>,
) -> ChainChecks {
    let truth = world.observed.truth.borrow();
    let mut dws = DwsState::default();
    let mut dwd = DwdState::new(&truth, &mut dws);
    dwd.sequence_field = dwd_sequence_field(world);
    let mut checker = Checker {
        world,
        chain,
        commits: &world.storage(chain).snapshot_commits,
        truth,
        dwd_offsets: BTreeMap::new(),
        dws_positions: BTreeMap::new(),
        dwd,
        dws,
        ledger_cursors: vec![0; world.scenario.traffic.partitions as usize],
        dwd_new_ids: Vec::new(),
        dwd_records: Records::default(),
        dws_records: Records::default(),
        order: Vec::new(),
        violations: Vec::new(),
        dwd_violated: false,
        dws_violated: false,
        late: LateState::new(&world.scenario),
    };
    let mut counts = (0usize, 0usize);
    if let Err(error) = walk_tables(&mut checker, objects, &mut counts) {
        checker.violation(
            "storage".into(),
            None,
            format!("cannot read the tables: {error}"),
        );
    }
    let (final_report, unconsumed) = final_check(&mut checker);
    let freshness = freshness_report(&checker, chaos_end_ms);
    // Only a second chain's checks read this chain's visibility.
    let chains = world.scenario.topology().chains();
    let visible_at = if chains.len() > 1 && chains[0] == chain {
        std::mem::take(&mut checker.dwd.visible)
    } else {
        VisibleTimes::default()
    };
    let served_freshness = other_visible_at.map(|other| {
        let dwd = &mut checker.dwd;
        for ix in 1..other.len().min(dwd.flags.len()) {
            if let Some(at) = other.get(ix)
                && dwd.visible.get(ix).is_none_or(|own| at < own)
            {
                dwd.visible.set(ix, at);
            }
        }
        freshness_report(&checker, chaos_end_ms)
    });
    let too_late: BTreeSet<u64> = checker.late.too_late_ids().collect();
    let pipeline = lakehouse_figures(&checker.dws.slots, world.scenario.run.epoch_ms);
    // The snapshot walk's per-event state and read buffers are done with: let them go before
    // the live files are read, which needs its own per-event state (the end of a long run's
    // largest moment).
    checker.dwd = DwdState::default();
    checker.dws = DwsState::default();
    checker.dwd_records = Records::default();
    checker.dws_records = Records::default();
    let live = live_files_check(world, &checker.truth, objects, &too_late, &unconsumed);
    let (live_violations, files) = match live {
        Ok(result) => result,
        Err(error) => (
            vec![Violation {
                checker: CheckerName::ExactlyOnce,
                at: "end of run (live files)".into(),
                t_ms: None,
                message: format!("cannot read the live files: {error}"),
            }],
            FilesReport::default(),
        ),
    };
    let (lateness, mut late_violations) = checker.late.finish(objects);
    if let Some(violation) = too_late_sla(world, &lateness, final_report.distinct_valid_events) {
        late_violations.push(violation);
    }
    let mut violations = checker.violations;
    violations.extend(live_violations);
    violations.extend(late_violations);
    ChainChecks {
        outcome: CheckOutcome {
            exactly_once: ExactlyOnceReport {
                dwd_snapshots_checked: counts.0,
                dws_snapshots_checked: counts.1,
                violations,
                ..final_report
            },
            freshness,
            files,
            lateness,
            secondary: None,
            pipeline,
        },
        visible_at,
        served_freshness,
    }
}

/// The index of DWD's `sequence.field` in an event row, if the scenario sets one.
pub(crate) fn dwd_sequence_field(world: &World) -> Option<usize> {
    let name = world.scenario.dwd.sequence_field.as_deref()?;
    EVENT_FIELD_NAMES.iter().position(|field| *field == name)
}

/// The scenario's `[sla] too_late_share_max`: too-late events over all valid events.
pub(crate) fn too_late_sla(
    world: &World,
    lateness: &LatenessReport,
    valid_events: u64,
) -> Option<Violation> {
    let max_share = world.scenario.sla.too_late_share_max?;
    let share = lateness.too_late_events as f64 / valid_events.max(1) as f64;
    (share > max_share).then(|| Violation {
        checker: CheckerName::EventTime,
        at: "whole run".into(),
        t_ms: None,
        message: format!(
            "{} of {valid_events} valid events ({:.3}%) were later than the allowed lateness; the SLA allows {:.3}%",
            lateness.too_late_events,
            share * 100.0,
            max_share * 100.0
        ),
    })
}

/// Largest number of live files in one bucket, and the total.
pub(crate) fn file_counts(files: &[FileRef]) -> (usize, usize) {
    let mut per_bucket: BTreeMap<(&str, i64), usize> = BTreeMap::new();
    for file in files {
        *per_bucket
            .entry((&file.partition, file.bucket))
            .or_default() += 1;
    }
    (files.len(), per_bucket.values().copied().max().unwrap_or(0))
}

pub(crate) fn walk_tables(
    checker: &mut Checker,
    objects: &StoredObjects,
    counts: &mut (usize, usize),
) -> Result<(), String> {
    for (id, source_state) in read_checkpoints(objects, checker.chain.dwd_job)? {
        let id = id.as_i64().ok_or("dwd checkpoint without id")?;
        let offsets: Vec<u64> = serde_json::from_value(source_state["offsets"].clone())
            .map_err(|e| format!("dwd checkpoint {id} offsets: {e}"))?;
        checker.dwd_offsets.insert(id, offsets);
    }
    for (id, source_state) in read_checkpoints(objects, checker.chain.dws_job)? {
        let id = id.as_i64().ok_or("dws checkpoint without id")?;
        let next = source_state["next_snapshot"]
            .as_i64()
            .ok_or("dws checkpoint without next_snapshot")?;
        checker.dws_positions.insert(id, next);
    }
    let symbols = BTreeMap::from([(
        "kind".to_string(),
        EVENT_KIND_SYMBOLS.iter().map(|s| s.to_string()).collect(),
    )]);
    let dwd = TableInspector::new(objects, DWD_TABLE_ROOT, &EVENT_FIELD_NAMES, symbols);
    let dws = TableInspector::new(objects, DWS_TABLE_ROOT, &DWS_FIELD_NAMES, BTreeMap::new());
    let world = checker.world;
    let dwd_snapshots = crate::check::history::surviving_history(world, &dwd, DWD_TABLE_ROOT)?;
    let dws_snapshots = crate::check::history::surviving_history(world, &dws, DWS_TABLE_ROOT)?;
    let late = TableInspector::new(
        objects,
        LATE_TABLE_ROOT,
        &LATE_FIELD_NAMES,
        BTreeMap::from([(
            "kind".to_string(),
            EVENT_KIND_SYMBOLS.iter().map(|s| s.to_string()).collect(),
        )]),
    );
    let late_snapshots = late.snapshots()?;
    let mut next_late = 0;
    let mut late_records = Records::default();
    let mut next_dwd = 0;
    let mut visible_through = 0;
    for snapshot in &dws_snapshots {
        let Some(&consumed_next) = checker.dws_positions.get(&snapshot.commit_identifier) else {
            if snapshot.commit_kind == CommitKind::Compact {
                // A dedicated compactor's snapshot: no data of its own (see the live files).
                counts.1 += 1;
                continue;
            }
            let t_ms = checker.commit_time(snapshot);
            checker.violation(
                format!("DWS snapshot {}", snapshot.id),
                Some(t_ms),
                format!(
                    "no completed {} checkpoint {} records which DWD snapshot it consumed",
                    checker.chain.dws_job, snapshot.commit_identifier
                ),
            );
            continue;
        };
        while next_dwd < dwd_snapshots.len() && dwd_snapshots[next_dwd].id < consumed_next {
            checker.apply_dwd_snapshot(&dwd, &dwd_snapshots[next_dwd])?;
            counts.0 += 1;
            next_dwd += 1;
        }
        checker.apply_dws_snapshot(&dws, snapshot)?;
        counts.1 += 1;
        // The late table commits right after DWS, with the same checkpoint id.
        checker.late.dws_checkpoint(snapshot.commit_identifier);
        while next_late < late_snapshots.len()
            && late_snapshots[next_late].commit_identifier <= snapshot.commit_identifier
        {
            let t_ms = checker.commit_time(&late_snapshots[next_late]);
            checker.late.apply_late_snapshot(
                &late,
                &late_snapshots[next_late],
                &mut late_records,
                t_ms,
            )?;
            next_late += 1;
        }
        let visible_ms = checker.commit_time(snapshot);
        while visible_through < checker.dwd_new_ids.len()
            && checker.dwd_new_ids[visible_through].0 < consumed_next
        {
            let ids = std::mem::take(&mut checker.dwd_new_ids[visible_through].1);
            let dwd = &mut checker.dwd;
            for ix in ids {
                if dwd.visible.get(ix).is_none() {
                    dwd.visible.set(ix, visible_ms);
                }
            }
            visible_through += 1;
        }
    }
    while next_dwd < dwd_snapshots.len() {
        checker.apply_dwd_snapshot(&dwd, &dwd_snapshots[next_dwd])?;
        counts.0 += 1;
        next_dwd += 1;
    }
    for snapshot in &late_snapshots[next_late..] {
        let t_ms = checker.commit_time(snapshot);
        checker
            .late
            .apply_late_snapshot(&late, snapshot, &mut late_records, t_ms)?;
    }
    Ok(())
}

/// The lakehouse's time-to-accurate and row freshness, from the DWS rows as its committed
/// snapshots showed them (serving's view follows within its refresh interval) against the ground
/// truth of every event, too-late ones included.
fn lakehouse_figures(slots: &Slots, epoch_ms: i64) -> crate::check::accuracy::PipelineFigures {
    use crate::check::accuracy::TimeToAccurate;
    use crate::check::spec::present;
    let rows = || slots.iter().filter(|s| present(s.truth).is_some());
    crate::check::accuracy::PipelineFigures {
        architecture: "lakehouse".into(),
        time_to_accurate: TimeToAccurate::from_rows(rows().map(|s| {
            let accurate = s.actual() == present(s.truth);
            let since = s.last_changed_ms().map(|t| epoch_ms + t);
            (s.key[2], since.filter(|_| accurate))
        })),
        time_to_first_value: TimeToAccurate::from_rows(
            rows().map(|s| (s.key[2], s.first_changed_ms().map(|t| epoch_ms + t))),
        ),
        tt_era: None,
    }
}
