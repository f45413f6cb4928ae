//! The event-time checker: recomputes, independently of the jobs, which events were late and
//! which too late. The watermark depends on the order of input, so it is rebuilt from what the
//! jobs consumed: the TT ledger up to each DWD checkpoint's offsets gives the per-partition
//! maximum event time (bounded out-of-orderness, minimum across partitions), each DWD snapshot
//! must record that watermark, and the DWS job meets a snapshot's records with the watermark of
//! the snapshots before it. Events later than the allowed lateness must be in the late-data side
//! table at every checkpoint, exactly once, and nowhere in DWS.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use warehouse::event::{EVENT_FIELD_NAMES, EVENT_KIND_SYMBOLS};
use warehouse::jobs::schemas::{LATE_FIELD_NAMES, LATE_TABLE_ROOT};

use crate::check::CheckerName;
use crate::check::Violation;
use crate::check::inspect::{Records, SnapshotInfo, TableInspector};
use crate::scenario::Scenario;
use crate::world::StoredObjects;

/// A late-table row: the event's fields, then the watermark it met.
pub type LateRow = [i64; LATE_FIELD_NAMES.len()];
const EVENT_WIDTH: usize = EVENT_FIELD_NAMES.len();

/// Rows of a violation message named at most.
const ROWS_NAMED: usize = 3;

/// The checker's own reading of Flink's rule (written from the spec, not imported): a one-minute
/// window closes when the watermark reaches its last millisecond; an event of a closed window is
/// late, and too late once the watermark passed that last millisecond plus the allowed lateness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    OnTime,
    Late,
    TooLate,
}

pub fn spec_arrival(event_time_ms: i64, watermark_ms: Option<i64>, allowed_ms: i64) -> Arrival {
    let Some(watermark) = watermark_ms else {
        return Arrival::OnTime;
    };
    let last_ms_of_minute = event_time_ms.div_euclid(60_000) * 60_000 + 59_999;
    if last_ms_of_minute + allowed_ms <= watermark {
        Arrival::TooLate
    } else if last_ms_of_minute <= watermark {
        Arrival::Late
    } else {
        Arrival::OnTime
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LatenessReport {
    pub out_of_orderness_ms: i64,
    pub allowed_lateness_ms: i64,
    /// Events whose minute had closed, absorbed by upserts of old DWS minutes.
    pub late_events_absorbed: u64,
    /// Events later than the allowed lateness: in the late-data side table, not in DWS.
    pub too_late_events: u64,
    /// Rows of the late-data side table at its latest snapshot.
    pub late_table_rows: u64,
    pub late_table_snapshots_checked: usize,
    /// The last watermark of the DWS job, epoch ms.
    pub final_watermark_ms: Option<i64>,
}

pub struct LateState {
    out_of_orderness_ms: i64,
    allowed_lateness_ms: i64,
    /// Per TT partition, the largest event time up to the last DWD checkpoint's offsets.
    partition_max_ms: Vec<i64>,
    /// The DWS job's watermark: the largest DWD snapshot watermark applied so far.
    pub watermark_ms: Option<i64>,
    late_absorbed: u64,
    /// Too-late events in the order the DWS job meets them, with the watermark they met.
    too_late: Vec<LateRow>,
    /// Per DWS checkpoint: how many of `too_late` it had consumed.
    consumed_at_checkpoint: BTreeMap<i64, usize>,
    /// The DWS checkpoints of the late table's snapshots.
    late_table_checkpoints: BTreeSet<i64>,
    /// The late table as stored: event id → (sequence number, live row).
    stored: BTreeMap<u64, (i64, Option<LateRow>)>,
    snapshots_checked: usize,
    violations: Vec<Violation>,
    watermark_violated: bool,
    table_violated: bool,
}

impl LateState {
    pub fn new(scenario: &Scenario) -> Self {
        Self {
            out_of_orderness_ms: scenario.jobs.watermark_out_of_orderness.0,
            allowed_lateness_ms: scenario.jobs.allowed_lateness.0,
            partition_max_ms: vec![i64::MIN; scenario.traffic.partitions as usize],
            watermark_ms: None,
            late_absorbed: 0,
            too_late: Vec::new(),
            consumed_at_checkpoint: BTreeMap::new(),
            late_table_checkpoints: BTreeSet::new(),
            stored: BTreeMap::new(),
            snapshots_checked: 0,
            violations: Vec::new(),
            watermark_violated: false,
            table_violated: false,
        }
    }

    /// TT partition `partition` delivered an event of `event_time_ms` to the DWD job.
    pub fn observe_consumed(&mut self, partition: usize, event_time_ms: i64) {
        if let Some(max) = self.partition_max_ms.get_mut(partition) {
            *max = (*max).max(event_time_ms);
        }
    }

    /// The watermark the DWD job must record after consuming what was observed so far.
    fn dwd_watermark(&self) -> Option<i64> {
        let slowest = *self.partition_max_ms.iter().min()?;
        (slowest != i64::MIN).then(|| slowest - self.out_of_orderness_ms - 1)
    }

    /// Checks the DWD snapshot's recorded watermark; returns the watermark its records meet.
    pub fn before_dwd_records(&mut self, snapshot: &SnapshotInfo, t_ms: i64) -> Option<i64> {
        let expected = self.dwd_watermark();
        if !self.watermark_violated && snapshot.watermark != expected {
            self.watermark_violated = true;
            self.violations.push(Violation {
                checker: CheckerName::EventTime,
                at: format!(
                    "DWD snapshot {} (checkpoint {})",
                    snapshot.id, snapshot.commit_identifier
                ),
                t_ms: Some(t_ms),
                message: format!(
                    "the snapshot records watermark {:?}, but the events TT delivered up to its offsets give {expected:?} (max event time per partition minus {} ms, minimum across partitions)",
                    snapshot.watermark, self.out_of_orderness_ms
                ),
            });
        }
        self.watermark_ms
    }

    /// After a DWD snapshot's records: the DWS job's watermark takes the snapshot's.
    pub fn after_dwd_records(&mut self) {
        self.watermark_ms = self.watermark_ms.max(self.dwd_watermark());
    }

    /// Classifies an event the DWS job meets for the first time (a DWD row of `EVENT_WIDTH`).
    /// Returns whether it is too late (and so belongs in the side table, not in DWS).
    pub fn classify(&mut self, row: &[i64]) -> bool {
        match spec_arrival(row[1], self.watermark_ms, self.allowed_lateness_ms) {
            Arrival::OnTime => false,
            Arrival::Late => {
                self.late_absorbed += 1;
                false
            }
            Arrival::TooLate => {
                let mut late = [0; LATE_FIELD_NAMES.len()];
                late[..EVENT_WIDTH].copy_from_slice(&row[..EVENT_WIDTH]);
                late[EVENT_WIDTH] = self.watermark_ms.unwrap_or(i64::MIN);
                self.too_late.push(late);
                true
            }
        }
    }

    /// The DWS job's checkpoint `checkpoint_id` consumed everything classified so far.
    pub fn dws_checkpoint(&mut self, checkpoint_id: i64) {
        self.consumed_at_checkpoint
            .insert(checkpoint_id, self.too_late.len());
    }

    /// Applies one late-table snapshot and checks it holds exactly the too-late events its
    /// checkpoint consumed.
    pub fn apply_late_snapshot(
        &mut self,
        inspector: &TableInspector,
        snapshot: &SnapshotInfo,
        records: &mut Records,
        t_ms: i64,
    ) -> Result<(), String> {
        inspector.added_records(snapshot, records)?;
        for r in 0..records.len() {
            let Ok(row) = LateRow::try_from(records.row(r)) else {
                continue;
            };
            let seq = records.sequence_numbers[r];
            let id = row[0] as u64;
            if self.stored.get(&id).is_some_and(|(seen, _)| *seen >= seq) {
                continue;
            }
            let live = records.kinds[r].is_live();
            self.stored.insert(id, (seq, live.then_some(row)));
        }
        self.snapshots_checked += 1;
        self.late_table_checkpoints
            .insert(snapshot.commit_identifier);
        if self.table_violated {
            return Ok(());
        }
        let at = format!(
            "late table snapshot {} (checkpoint {})",
            snapshot.id, snapshot.commit_identifier
        );
        let Some(&consumed) = self.consumed_at_checkpoint.get(&snapshot.commit_identifier) else {
            self.table_violated = true;
            self.violations.push(Violation {
                checker: CheckerName::ExactlyOnce,
                at,
                t_ms: Some(t_ms),
                message: format!(
                    "no DWS snapshot of dws-job checkpoint {} precedes it",
                    snapshot.commit_identifier
                ),
            });
            return Ok(());
        };
        if let Some(message) = self.compare(consumed, "the late table") {
            self.table_violated = true;
            self.violations.push(Violation {
                checker: CheckerName::ExactlyOnce,
                at,
                t_ms: Some(t_ms),
                message,
            });
        }
        Ok(())
    }

    /// Compares the stored rows with the first `consumed` too-late events; a message if differ.
    fn compare(&self, consumed: usize, what: &str) -> Option<String> {
        let expected: BTreeMap<u64, &LateRow> = self.too_late[..consumed]
            .iter()
            .map(|row| (row[0] as u64, row))
            .collect();
        let mut wrong = Vec::new();
        for (id, row) in &expected {
            let held = self.stored.get(id).and_then(|(_, row)| row.as_ref());
            if held != Some(*row) {
                wrong.push(format!(
                    "event_id {id} too late (watermark {}): expected {:?}, {what} holds {}",
                    row[EVENT_WIDTH],
                    &row[..EVENT_WIDTH],
                    held.map_or("nothing".to_string(), |r| format!("{r:?}"))
                ));
            }
        }
        for (id, (_, row)) in &self.stored {
            if row.is_some() && !expected.contains_key(id) {
                wrong.push(format!(
                    "event_id {id} is in {what} but was not too late when the DWS job met it"
                ));
            }
        }
        (!wrong.is_empty()).then(|| {
            format!(
                "{} rows wrong: {}",
                wrong.len(),
                wrong
                    .iter()
                    .take(ROWS_NAMED)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })
    }

    /// How many too-late events the late table's live files must hold at the end of the run:
    /// those of the DWS job's checkpoints up to its last, or, when the late table has no
    /// snapshot of that last checkpoint, up to the one before. The job commits the late table
    /// right after DWS, each table on its own as a Flink committer commits each sink (a restore
    /// commits both again), so the run's end can fall between the two commits of the last
    /// checkpoint. Its too-late events are then in flight, as DWD's unconsumed events are; every
    /// late-table snapshot that did commit was checked whole (`apply_late_snapshot`).
    fn settled_at_end(&self) -> usize {
        let mut newest_first = self.consumed_at_checkpoint.iter().rev();
        match newest_first.next() {
            None => 0,
            Some((last, &consumed)) if self.late_table_checkpoints.contains(last) => consumed,
            Some(_) => newest_first.next().map_or(0, |(_, &consumed)| consumed),
        }
    }

    /// Event ids of every too-late event the DWS job met.
    pub fn too_late_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.too_late.iter().map(|row| row[0] as u64)
    }

    /// End of run: the late table's live files (merge-on-read) hold every too-late event once.
    pub fn finish(mut self, objects: &StoredObjects) -> (LatenessReport, Vec<Violation>) {
        let symbols = BTreeMap::from([(
            "kind".to_string(),
            EVENT_KIND_SYMBOLS.iter().map(|s| s.to_string()).collect(),
        )]);
        let inspector = TableInspector::new(objects, LATE_TABLE_ROOT, &LATE_FIELD_NAMES, symbols);
        let mut late_table_rows = 0;
        let result = inspector.snapshots().and_then(|snapshots| {
            self.stored.clear();
            if let Some(latest) = snapshots.last() {
                let mut records = Records::default();
                inspector.live_records(latest, &mut records)?;
                for r in 0..records.len() {
                    let Ok(row) = LateRow::try_from(records.row(r)) else {
                        continue;
                    };
                    let seq = records.sequence_numbers[r];
                    let id = row[0] as u64;
                    if self.stored.get(&id).is_some_and(|(seen, _)| *seen >= seq) {
                        continue;
                    }
                    let live = records.kinds[r].is_live();
                    self.stored.insert(id, (seq, live.then_some(row)));
                }
            }
            Ok(())
        });
        match result {
            Err(error) => self.violations.push(Violation {
                checker: CheckerName::ExactlyOnce,
                at: "end of run (late table)".into(),
                t_ms: None,
                message: format!("cannot read the late-data side table: {error}"),
            }),
            Ok(()) => {
                late_table_rows = self.stored.values().filter(|(_, r)| r.is_some()).count();
                if let Some(message) =
                    self.compare(self.settled_at_end(), "the late table's live files")
                {
                    self.violations.push(Violation {
                        checker: CheckerName::ExactlyOnce,
                        at: "end of run (live late-table files)".into(),
                        t_ms: None,
                        message,
                    });
                }
            }
        }
        let report = LatenessReport {
            out_of_orderness_ms: self.out_of_orderness_ms,
            allowed_lateness_ms: self.allowed_lateness_ms,
            late_events_absorbed: self.late_absorbed,
            too_late_events: self.too_late.len() as u64,
            late_table_rows: late_table_rows as u64,
            late_table_snapshots_checked: self.snapshots_checked,
            final_watermark_ms: self.watermark_ms,
        };
        (report, self.violations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_follows_window_close_and_allowed_lateness() {
        let minute = 1_762_790_400_000;
        assert_eq!(spec_arrival(minute, None, 0), Arrival::OnTime);
        assert_eq!(
            spec_arrival(minute + 1, Some(minute + 59_998), 0),
            Arrival::OnTime
        );
        assert_eq!(
            spec_arrival(minute + 1, Some(minute + 59_999), 10),
            Arrival::Late
        );
        assert_eq!(
            spec_arrival(minute + 1, Some(minute + 60_009), 10),
            Arrival::TooLate
        );
    }
}
