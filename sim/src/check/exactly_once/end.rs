//! The end of a run: the final tables read the way a reader would (merge-on-read of the live
//! files, after every compaction) and compared with the ground truth of everything produced.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use warehouse::event::{EVENT_FIELD_NAMES, EVENT_KIND_SYMBOLS};
use warehouse::jobs::schemas::{DWD_TABLE_ROOT, DWS_FIELD_NAMES, DWS_TABLE_ROOT};
use warehouse::row::StableHashMap;

use crate::check::exactly_once::checker::*;
use crate::check::exactly_once::state::*;
use crate::check::exactly_once::*;
use crate::check::inspect::{Records, TableInspector};
use crate::check::spec::*;
use crate::check::{CheckerName, Violation};
use crate::world::{GroundTruth, StoredObjects, World};

/// A 64-bit fingerprint of a DWD row: splitmix64 over each value in turn, so rows that differ
/// in any value differ here but for a chance of 2^-64. The checker's own, not the warehouse's
/// `row::stable_hash`: that one is the bucket function of the tables it checks.
fn row_fingerprint(row: &[i64]) -> u64 {
    row.iter().fold(0x9e37_79b9_7f4a_7c15, |hash: u64, &value| {
        let mut z = (hash ^ value as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

/// The final tables read the way a reader would: merge-on-read of the latest snapshot's live
/// files (after every compaction), compared with the ground truth. This is what verifies that
/// compaction kept every row: the snapshot walk skips compacted files.
pub(crate) fn live_files_check(
    world: &World,
    truth: &GroundTruth,
    objects: &StoredObjects,
    too_late: &BTreeSet<u64>,
    unconsumed: &BTreeSet<u64>,
) -> Result<(Vec<Violation>, FilesReport), String> {
    let mut violations = Vec::new();
    let mut files = FilesReport::default();
    let symbols = BTreeMap::from([(
        "kind".to_string(),
        EVENT_KIND_SYMBOLS.iter().map(|s| s.to_string()).collect(),
    )]);
    let violation = |at: &str, message: String| Violation {
        checker: CheckerName::ExactlyOnce,
        at: at.into(),
        t_ms: None,
        message,
    };
    let dwd = TableInspector::new(objects, DWD_TABLE_ROOT, &EVENT_FIELD_NAMES, symbols);
    if let Some(latest) =
        crate::check::history::surviving_history(world, &dwd, DWD_TABLE_ROOT)?.last()
    {
        (files.dwd_live_files, files.dwd_max_files_per_bucket) =
            file_counts(&dwd.live_files(latest)?);
        // Per event id: the newest sequence number seen, and whether that record is live and
        // equal to the produced event.
        // Ordered by (sequence.field value, sequence number) when DWD has a sequence field.
        let sequence_field = dwd_sequence_field(world);
        // The sequence field's values are held only when DWD has one (8 bytes an event fewer).
        let mut newest_sequence_number = vec![i64::MIN; truth.len() + 1];
        let mut newest_field_value =
            sequence_field.map(|field| (field, vec![i64::MIN; truth.len() + 1]));
        // 0 absent, 1 right, 2 wrong, 3 deleted; a live row is held as its fingerprint and
        // compared after the files, in id order: the truth is read back from its file once,
        // not once for every live file that spans the ids.
        let mut state = vec![0u8; truth.len() + 1];
        let mut fingerprints = vec![0u64; truth.len() + 1];
        let mut unknown: Option<i64> = None;
        // One batch of one live file at a time, in the order merge-on-read reads them: the
        // records of every live file at once would be the run's largest allocation.
        let mut records = Records::default();
        dwd.for_each_live_batch(latest, &mut records, |records| {
            for r in 0..records.len() {
                let row = records.row(r);
                let Some(id) = usize::try_from(row[0])
                    .ok()
                    .filter(|&id| (1..=truth.len()).contains(&id))
                else {
                    unknown = Some(unknown.map_or(row[0], |u: i64| u.min(row[0])));
                    continue;
                };
                let sequence_number = records.sequence_numbers[r];
                let newer = match &mut newest_field_value {
                    Some((field, values)) => {
                        let newer = (row[*field], sequence_number)
                            > (values[id], newest_sequence_number[id]);
                        if newer {
                            values[id] = row[*field];
                        }
                        newer
                    }
                    None => sequence_number > newest_sequence_number[id],
                };
                if newer {
                    newest_sequence_number[id] = sequence_number;
                    let live = records.kinds[r].is_live();
                    state[id] = if live { 1 } else { 3 };
                    fingerprints[id] = if live { row_fingerprint(row) } else { 0 };
                }
            }
        })?;
        drop((newest_sequence_number, newest_field_value));
        let mut wrong: Vec<usize> = Vec::new();
        for event in truth.iter() {
            let id = event.event_id as usize;
            if state[id] == 1 && fingerprints[id] != row_fingerprint(&truth_row(&event)) {
                state[id] = 2;
            }
            let must_hold = spec_valid(&event) && !unconsumed.contains(&event.event_id);
            if (state[id] == 1) != must_hold || state[id] == 2 {
                wrong.push(id);
            }
        }
        if let Some(&id) = wrong.first() {
            let event = &truth.at(id - 1);
            let held = match state[id] {
                1 => "the event",
                2 => "a different row",
                3 => "a delete",
                _ => "nothing",
            };
            violations.push(violation(
                "end of run (live DWD files)",
                format!(
                    "event_id {id} ({}): merge-on-read of the {} live files holds {held} ({} event ids wrong)",
                    if !spec_valid(event) {
                        "invalid, must be absent"
                    } else if unconsumed.contains(&(id as u64)) {
                        "never consumed from TT, must be absent"
                    } else {
                        "valid, must be present"
                    },
                    files.dwd_live_files,
                    wrong.len()
                ),
            ));
        }
        if let Some(id) = unknown {
            violations.push(violation(
                "end of run (live DWD files)",
                format!("event_id {id} is in the live files but was never produced"),
            ));
        }
    }
    let dws = TableInspector::new(objects, DWS_TABLE_ROOT, &DWS_FIELD_NAMES, BTreeMap::new());
    if let Some(latest) =
        crate::check::history::surviving_history(world, &dws, DWS_TABLE_ROOT)?.last()
    {
        (files.dws_live_files, files.dws_max_files_per_bucket) =
            file_counts(&dws.live_files(latest)?);
        let mut records = Records::default();
        dws.live_records(latest, &mut records)?;
        let mut stored: StableHashMap<DwsKey, (i64, Option<DwsSums>)> = StableHashMap::default();
        for r in 0..records.len() {
            let v = records.row(r);
            let key = [v[0], v[1], v[2]];
            let sequence_number = records.sequence_numbers[r];
            if stored
                .get(&key)
                .is_none_or(|(seen, _)| *seen < sequence_number)
            {
                let live = records.kinds[r].is_live();
                stored.insert(
                    key,
                    (
                        sequence_number,
                        live.then(|| [v[3], v[4], v[5], v[6], v[7]]),
                    ),
                );
            }
        }
        let mut expected: StableHashMap<DwsKey, DwsSums> = StableHashMap::default();
        for event in truth.iter().filter(|e| {
            spec_valid(e) && !too_late.contains(&e.event_id) && !unconsumed.contains(&e.event_id)
        }) {
            let (key, sums) = spec_contribution(&truth_row(&event));
            let entry = expected.entry(key).or_insert([0; 5]);
            for (slot, value) in entry.iter_mut().zip(sums) {
                *slot += value;
            }
        }
        expected.retain(|_, sums| sums.iter().any(|v| *v != 0));
        let mut wrong: BTreeSet<DwsKey> = BTreeSet::new();
        for (key, sums) in &expected {
            if stored.get(key).and_then(|(_, s)| *s) != Some(*sums) {
                wrong.insert(*key);
            }
        }
        for (key, (_, sums)) in &stored {
            if sums.is_some() && !expected.contains_key(key) {
                wrong.insert(*key);
            }
        }
        if let Some(key) = wrong.first() {
            violations.push(violation(
                "end of run (live DWS files)",
                format!(
                    "key (advertiser {}, campaign {}, minute {}): ground truth {}, merge-on-read of the {} live files holds {} ({} keys wrong)",
                    key[0],
                    key[1],
                    key[2],
                    expected.get(key).map_or("nothing".to_string(), |s| format!("{s:?}")),
                    files.dws_live_files,
                    stored.get(key).and_then(|(_, s)| *s).map_or("nothing".to_string(), |s| format!("{s:?}")),
                    wrong.len()
                ),
            ));
        }
    }
    Ok((violations, files))
}

/// After the liveness phase: DWD holds every distinct valid event produced and consumed, DWS
/// their aggregate. Returns the report and the ids of the valid events TT still held beyond
/// DWD's last committed offsets (no table may hold them; liveness judges them).
pub(crate) fn final_check(checker: &mut Checker) -> (ExactlyOnceReport, BTreeSet<u64>) {
    let world = checker.world;
    let truth = &*checker.truth;
    let dwd = &mut checker.dwd;
    // Which ids TT appended: a flag for the ground truth's ids, a set for any other.
    let mut in_tt_outside: BTreeSet<u64> = BTreeSet::new();
    let mut appended_records = 0;
    for log in &world.observed.ledger.borrow().partitions {
        appended_records += log.len() as u64;
        for id in log.event_ids() {
            match dwd.dense(id) {
                Some(ix) => dwd.flags[ix] |= IN_TT,
                None => {
                    in_tt_outside.insert(id);
                }
            }
        }
    }
    let dwd = &checker.dwd;
    let distinct_appended =
        dwd.flags.iter().filter(|f| **f & IN_TT != 0).count() + in_tt_outside.len();
    // Each id's appends beyond its first.
    let duplicate_appends = appended_records - distinct_appended as u64;
    let in_tt = |id: u64| match dwd.dense(id) {
        Some(ix) => dwd.flags[ix] & IN_TT != 0,
        None => in_tt_outside.contains(&id),
    };
    let (mut distinct_valid, mut invalid, mut never_reached_tt) = (0u64, 0u64, 0u64);
    // Valid events TT appended beyond the offsets DWD's last snapshot committed (no `EXPECTED`,
    // not live): the run ended before the job consumed them. DWD must not hold them and DWS
    // must not count them; whether they should have been consumed is liveness's question.
    let mut unconsumed: Vec<usize> = Vec::new();
    let mut first_missing: Option<String> = None;
    for (i, &flags) in dwd.flags.iter().enumerate().skip(1) {
        // The event at index i - 1; with dense ids its id is i and its state is `flags`.
        let id = if dwd.ids_dense {
            i as u64
        } else {
            truth.at(i - 1).event_id
        };
        let reached = if dwd.ids_dense {
            flags & IN_TT != 0
        } else {
            in_tt(id)
        };
        if !reached {
            never_reached_tt += 1;
        }
        if flags & VALID == 0 {
            invalid += 1;
            if first_missing.is_none() && dwd.is_live(id) {
                first_missing = Some(format!("event_id {id} is invalid but DWD holds it"));
            }
            continue;
        }
        distinct_valid += 1;
        let consumed = flags & (EXPECTED | LIVE) != 0;
        if dwd.ids_dense && reached && !consumed {
            unconsumed.push(i);
            continue;
        }
        if first_missing.is_some() {
            continue;
        }
        // With dense ids the flags say it; the truth's row is read only to compare otherwise,
        // or to name what is missing.
        let holds_row = if dwd.ids_dense {
            flags & (LIVE | DIFFERS) == LIVE
        } else {
            dwd.actual_row(truth, id)
                .is_some_and(|stored| same(&stored, &truth_row(&truth.at(i - 1))))
        };
        if !holds_row {
            let row = truth_row(&truth.at(i - 1));
            let reason = if reached {
                "was appended to TT"
            } else {
                "never reached TT"
            };
            first_missing = Some(format!(
                "event_id {id} ({reason}): expected {row:?}, DWD holds {}",
                dwd.actual_row(truth, id)
                    .map_or("nothing".to_string(), |r| format!("{r:?}"))
            ));
        }
    }
    let live_dwd = (dwd.flags.iter().filter(|f| **f & LIVE != 0).count() + dwd.outside_live) as u64;
    let consumed_valid = distinct_valid - unconsumed.len() as u64;
    if first_missing.is_none() && live_dwd != consumed_valid {
        first_missing = Some(format!(
            "DWD holds {live_dwd} events but {consumed_valid} distinct valid events were produced and consumed"
        ));
    }
    // Unconsumed events are in no table yet; too-late events belong in the late-data side
    // table, not in DWS: what DWS must hold is the truth without them (few slots have any).
    let too_late = checker.late.too_late_ids().filter_map(|id| {
        checker
            .dwd
            .dense(id)
            .filter(|&ix| checker.dwd.flags[ix] & VALID != 0)
    });
    let outside_dws: Vec<usize> = unconsumed.iter().copied().chain(too_late).collect();
    let mut outside_sums: HashMap<usize, DwsSums> = HashMap::new();
    for ix in outside_dws {
        let (key, sums) = spec_contribution(&truth_row(&truth.at(ix - 1)));
        let slot_ix = checker.dws.slot(key);
        let total = outside_sums.entry(slot_ix).or_insert([0; 5]);
        for (total, value) in total.iter_mut().zip(sums) {
            *total += value;
        }
    }
    let dws = &checker.dws;
    let must_hold = |slot_ix: usize| {
        let mut sums = dws.slots[slot_ix].truth;
        if let Some(outside) = outside_sums.get(&slot_ix) {
            for (total, value) in sums.iter_mut().zip(outside) {
                *total -= value;
            }
        }
        present(sums)
    };
    let wrong: Vec<(&DwsSlot, Option<[i64; 5]>)> = (0..dws.slots.len())
        .filter(|&ix| dws.slots[ix].actual() != must_hold(ix))
        .map(|ix| (&dws.slots[ix], must_hold(ix)))
        .collect();
    let dws_message = (!wrong.is_empty()).then(|| {
        format!(
            "{} keys differ from the ground truth: {}",
            wrong.len(),
            describe_wrong_keys(wrong, "ground truth")
        )
    });
    if let Some(message) = first_missing {
        checker.violation("end of run (DWD)".into(), None, message);
    }
    if let Some(message) = dws_message {
        checker.violation("end of run (DWS)".into(), None, message);
    }
    let report = ExactlyOnceReport {
        dwd_snapshots_checked: 0,
        dws_snapshots_checked: 0,
        distinct_valid_events: distinct_valid,
        invalid_events: invalid,
        appended_records,
        duplicate_appends,
        never_reached_tt,
        unconsumed_at_end: unconsumed.len() as u64,
        violations: Vec::new(),
    };
    (report, unconsumed.iter().map(|&ix| ix as u64).collect())
}

/// Keys named in one DWS violation, at most: enough to see a pattern, short enough to read.
pub(crate) const WRONG_KEYS_NAMED: usize = 5;

/// "key (advertiser a, campaign c, minute m): expected [..], DWS holds [..]; ..." for the smallest
/// differing keys, so several distinct faults show in one message.
pub(crate) fn describe_wrong_keys(
    mut wrong: Vec<(&DwsSlot, Option<[i64; 5]>)>,
    expected_label: &str,
) -> String {
    wrong.sort_by_key(|(slot, _)| slot.key);
    let named: Vec<String> = wrong
        .iter()
        .take(WRONG_KEYS_NAMED)
        .map(|(slot, expected)| {
            format!(
                "key (advertiser {}, campaign {}, minute {}): {expected_label} {}, DWS holds {}",
                slot.key[0],
                slot.key[1],
                slot.key[2],
                expected.map_or("nothing".to_string(), |s| format!("{s:?}")),
                slot.actual()
                    .map_or("nothing".to_string(), |s| format!("{s:?}"))
            )
        })
        .collect();
    let more = wrong.len().saturating_sub(WRONG_KEYS_NAMED);
    let tail = if more > 0 {
        format!("; and {more} more")
    } else {
        String::new()
    };
    format!("{}{tail}", named.join("; "))
}
