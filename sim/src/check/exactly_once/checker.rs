//! The exactly-once checker's walk over the tables' history: each committed DWD snapshot's
//! records applied and compared with what TT held up to the checkpointed offsets, each DWS
//! snapshot with the aggregate of the DWD it consumed.

use std::cell::{Ref, RefCell};
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use warehouse::event::EVENT_FIELD_NAMES;
use warehouse::jobs::schemas::DWS_FIELD_NAMES;

use crate::check::event_time::LateState;
use crate::check::exactly_once::end::*;
use crate::check::exactly_once::state::*;
use crate::check::inspect::{CommitKind, Records, SnapshotInfo, TableInspector};
use crate::check::spec::*;
use crate::check::{CheckerName, Violation};
use crate::topology::Chain;
use crate::world::{GroundTruth, StoredObjects, World};

pub(crate) struct Checker<'a> {
    pub(crate) world: &'a World,
    /// The chain checked: its storage system and the jobs writing it.
    pub(crate) chain: Chain,
    /// Commit times of that storage system's snapshots.
    pub(crate) commits: &'a RefCell<BTreeMap<String, i64>>,
    pub(crate) truth: Ref<'a, GroundTruth>,
    pub(crate) dwd_offsets: BTreeMap<i64, Vec<u64>>,
    pub(crate) dws_positions: BTreeMap<i64, i64>,
    pub(crate) dwd: DwdState,
    pub(crate) dws: DwsState,
    pub(crate) ledger_cursors: Vec<usize>,
    /// Dense event ids first made visible in DWD, per DWD snapshot (freshness).
    pub(crate) dwd_new_ids: Vec<(i64, Vec<usize>)>,
    /// Reused buffers: a snapshot's records, and (event id, record) of DWD's in id order.
    pub(crate) dwd_records: Records,
    pub(crate) dws_records: Records,
    pub(crate) order: Vec<(u64, u32)>,
    pub(crate) violations: Vec<Violation>,
    pub(crate) dwd_violated: bool,
    pub(crate) dws_violated: bool,
    /// Event time: the recomputed watermark, late and too-late events, the late table.
    pub(crate) late: LateState,
}

impl<'a> Checker<'a> {
    pub(crate) fn commit_time(&self, snapshot: &SnapshotInfo) -> i64 {
        self.commits
            .borrow()
            .get(&snapshot.path)
            .copied()
            .unwrap_or(snapshot.time_millis - self.world.scenario.run.epoch_ms)
    }

    pub(crate) fn violation(&mut self, at: String, t_ms: Option<i64>, message: String) {
        self.violations.push(Violation {
            checker: CheckerName::ExactlyOnce,
            at,
            t_ms,
            message,
        });
    }

    pub(crate) fn apply_dwd_snapshot(
        &mut self,
        inspector: &TableInspector,
        snapshot: &SnapshotInfo,
    ) -> Result<(), String> {
        let t_ms = self.commit_time(snapshot);
        let at = format!(
            "DWD snapshot {} (checkpoint {})",
            snapshot.id, snapshot.commit_identifier
        );
        match self.dwd_offsets.get(&snapshot.commit_identifier).cloned() {
            Some(offsets) => self.advance_ledger(&offsets),
            // A dedicated compactor's COMPACT snapshot belongs to no dwd-job checkpoint and
            // adds no data; its output is verified at the end from the live files.
            None if snapshot.commit_kind == CommitKind::Compact => {}
            None => self.violation(
                at.clone(),
                Some(t_ms),
                format!(
                    "no completed {} checkpoint {} records the TT offsets this snapshot claims",
                    self.chain.dwd_job, snapshot.commit_identifier
                ),
            ),
        }
        self.late.before_dwd_records(snapshot, t_ms);
        let mut records = std::mem::take(&mut self.dwd_records);
        let mut order = std::mem::take(&mut self.order);
        let result = inspector
            .added_records(snapshot, &mut records)
            .map(|()| self.apply_dwd_records(&records, &mut order));
        self.dwd_records = records;
        self.order = order;
        self.late.after_dwd_records();
        self.dwd_new_ids.push((snapshot.id, result?));
        if !self.dwd_violated
            && let Some(id) = self.dwd.first_mismatched()
        {
            self.dwd_violated = true;
            let expected = self.dwd.expected_row(&self.truth, id);
            let actual = self.dwd.actual_row(&self.truth, id);
            let message = format!(
                "event_id {id}: TT up to the checkpointed offsets says {}, the table holds {} ({} event ids differ)",
                expected.map_or("no such event".to_string(), |r| format!("{r:?}")),
                actual.map_or("nothing".to_string(), |r| format!("{r:?}")),
                self.dwd.mismatched
            );
            self.violation(at, Some(t_ms), message);
        }
        Ok(())
    }

    /// Applies a DWD snapshot's records; returns the dense ids that became live.
    pub(crate) fn apply_dwd_records(
        &mut self,
        records: &Records,
        order: &mut Vec<(u64, u32)>,
    ) -> Vec<usize> {
        let mut new_ids = Vec::new();
        // Visit the records in event id order (a stable sort: an id's records keep their order,
        // and only their order matters), so the per-id state and the ground truth are walked
        // sequentially rather than once per bucket file. Each file is sorted by id already:
        // the sort merges those runs.
        order.clear();
        order
            .extend((0..records.len()).map(|r| (records.values[r * EVENT_WIDTH] as u64, r as u32)));
        order.sort_by_key(|(id, _)| *id);
        for &(id, r) in order.iter() {
            let r = r as usize;
            let Ok(row) = <EventRow>::try_from(records.row(r)) else {
                continue;
            };
            let (kind, seq) = (records.kinds[r], records.sequence_numbers[r]);
            let live = kind.is_live();
            let Some(ix) = self.dwd.dense(id) else {
                self.apply_outside(id, seq, live.then_some(row));
                continue;
            };
            if self.dwd.newest_seq(ix).is_some_and(|held| seq <= held) {
                continue;
            }
            self.dwd.set_newest_seq(ix, seq);
            if let Some(field) = self.dwd.sequence_field
                && let Some(held) = self.dwd.actual_row(&self.truth, id)
                && row[field] < held[field]
            {
                continue; // an older version arriving late: the held row stays
            }
            let flags = self.dwd.flags[ix];
            let truth = truth_row(&self.truth.at(ix - 1));
            // The slot is found again where it is needed, not kept per event: 4 bytes an event
            // for a hash lookup.
            let (truth_key, truth_sums) = spec_contribution(&truth);
            // An event the DWS job meets for the first time: on time, late or too late.
            let too_late = if live && flags & LIVE == 0 {
                self.late.classify(&row)
            } else {
                flags & TOO_LATE != 0
            };
            if flags & LIVE != 0 && flags & TOO_LATE == 0 {
                if flags & DIFFERS != 0 {
                    if let Some(old) = self.dwd.odd_rows.remove(&id) {
                        self.dws.add(&old, -1);
                    }
                } else {
                    let truth_slot = self.dws.slot(truth_key);
                    self.dws.add_at(truth_slot, truth_sums, -1);
                }
            }
            let mut next = flags & !(LIVE | DIFFERS | TOO_LATE);
            if too_late {
                next |= TOO_LATE;
            }
            if live {
                next |= LIVE;
                if same(&row, &truth) {
                    if !too_late {
                        let truth_slot = self.dws.slot(truth_key);
                        self.dws.add_at(truth_slot, truth_sums, 1);
                    }
                } else {
                    next |= DIFFERS;
                    self.dwd.odd_rows.insert(id, row);
                    if !too_late {
                        self.dws.add(&row, 1);
                    }
                }
                if flags & LIVE == 0 {
                    new_ids.push(ix);
                }
            }
            self.dwd.settle(ix, next);
        }
        new_ids
    }

    /// A record of an id outside the ground truth: never expected, so live means mismatched.
    pub(crate) fn apply_outside(&mut self, id: u64, seq: i64, live: Option<EventRow>) {
        let current = self.dwd.outside.get(&id).map_or(i64::MIN, |(seq, _)| *seq);
        if seq <= current {
            return;
        }
        let old = self
            .dwd
            .outside
            .insert(id, (seq, live))
            .and_then(|(_, row)| row);
        let (now, was) = (usize::from(live.is_some()), usize::from(old.is_some()));
        self.dwd.outside_live = self.dwd.outside_live + now - was;
        self.dwd.mismatched = self.dwd.mismatched + now - was;
        if let Some(old) = &old {
            self.dws.add(old, -1);
        }
        if let Some(row) = &live {
            self.dws.add(row, 1);
        }
    }

    pub(crate) fn advance_ledger(&mut self, offsets: &[u64]) {
        let ledger = self.world.observed.ledger.borrow();
        for (partition, offset) in offsets.iter().enumerate() {
            let Some(log) = ledger.partitions.get(partition) else {
                continue;
            };
            let end = (*offset as usize).min(log.len());
            let start = self.ledger_cursors[partition];
            for id in log.event_ids_in(start..end) {
                if let Some(event_time_ms) = self.truth.event_time_ms(id) {
                    self.late.observe_consumed(partition, event_time_ms);
                }
                if let Some(ix) = self.dwd.dense(id) {
                    let flags = self.dwd.flags[ix];
                    if flags & (EXPECTED | VALID) == VALID {
                        self.dwd.settle(ix, flags | EXPECTED);
                    }
                }
            }
            self.ledger_cursors[partition] = start.max(end);
        }
    }

    pub(crate) fn apply_dws_snapshot(
        &mut self,
        inspector: &TableInspector,
        snapshot: &SnapshotInfo,
    ) -> Result<(), String> {
        let mut records = std::mem::take(&mut self.dws_records);
        let result = inspector.added_records(snapshot, &mut records);
        let committed_ms = self.commit_time(snapshot);
        if result.is_ok() {
            for (r, (&kind, &seq)) in records
                .kinds
                .iter()
                .zip(&records.sequence_numbers)
                .enumerate()
            {
                let Ok(values) = <[i64; DWS_WIDTH]>::try_from(records.row(r)) else {
                    continue;
                };
                let ix = self.dws.slot([values[0], values[1], values[2]]);
                let slot = &mut self.dws.slots[ix];
                if seq <= slot.seq {
                    continue;
                }
                slot.seq = seq;
                let actual = kind
                    .is_live()
                    .then(|| [values[3], values[4], values[5], values[6], values[7]]);
                slot.store(actual, committed_ms);
                self.dws.settle(ix);
            }
        }
        self.dws_records = records;
        result?;
        if !self.dws_violated && self.dws.mismatched > 0 {
            self.dws_violated = true;
            let wrong: Vec<(&DwsSlot, Option<[i64; 5]>)> = self
                .dws
                .slots
                .iter()
                .filter(|s| s.mismatched)
                .map(|s| (s, present(s.aggregate)))
                .collect();
            let message = format!(
                "{} keys differ from the aggregate of the DWD snapshot it consumed (sums are impressions, clicks, conversions, cost, gmv): {}",
                self.dws.mismatched,
                describe_wrong_keys(wrong, "expected")
            );
            let t_ms = self.commit_time(snapshot);
            self.violation(
                format!(
                    "DWS snapshot {} (checkpoint {})",
                    snapshot.id, snapshot.commit_identifier
                ),
                Some(t_ms),
                message,
            );
        }
        Ok(())
    }
}

pub(crate) const EVENT_WIDTH: usize = EVENT_FIELD_NAMES.len();
pub(crate) const DWS_WIDTH: usize = DWS_FIELD_NAMES.len();

/// The two fields of a checkpoint file the checkers read; the rest (committables) is skipped
/// without building a JSON tree.
#[derive(Deserialize)]
pub(crate) struct CheckpointHead {
    #[serde(default)]
    pub(crate) checkpoint_id: Value,
    #[serde(default)]
    pub(crate) source_state: Value,
}

/// (`checkpoint_id`, `source_state`) of every checkpoint file of `job`, `Null` where absent.
pub(crate) fn read_checkpoints(
    objects: &StoredObjects,
    job: &str,
) -> Result<Vec<(Value, Value)>, String> {
    let prefix = format!("checkpoints/{job}/chk-");
    objects
        .iter_under(&prefix)
        .map(|(path, bytes)| {
            let head = bytes
                .trim_ascii_start()
                .starts_with(b"{")
                .then(|| serde_json::from_slice::<CheckpointHead>(&bytes).ok())
                .flatten();
            match head {
                Some(head) => Ok((head.checkpoint_id, head.source_state)),
                // Not a plain object (or a duplicate key): read it as any JSON value.
                None => {
                    let value: Value = serde_json::from_slice(&bytes)
                        .map_err(|e| format!("{path} is not valid JSON: {e}"))?;
                    Ok((
                        value["checkpoint_id"].clone(),
                        value["source_state"].clone(),
                    ))
                }
            }
        })
        .collect()
}
