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

use std::cell::{Ref, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use warehouse::event::{AdEvent, EVENT_FIELD_NAMES, EVENT_KIND_SYMBOLS, EventKind};
use warehouse::jobs::schemas::{
    DWD_TABLE_ROOT, DWS_FIELD_NAMES, DWS_TABLE_ROOT, LATE_FIELD_NAMES, LATE_TABLE_ROOT,
};

use crate::check::event_time::{LateState, LatenessReport};
use crate::check::inspect::{CommitKind, Records, SnapshotInfo, TableInspector};
use crate::check::{CheckerName, Violation};
use crate::topology::Chain;
use crate::world::{GroundTruth, Shared};

#[derive(Debug, Clone, Default, Serialize)]
pub struct ExactlyOnceReport {
    pub dwd_snapshots_checked: usize,
    pub dws_snapshots_checked: usize,
    pub distinct_valid_events: u64,
    pub invalid_events: u64,
    pub appended_records: u64,
    pub duplicate_appends: u64,
    pub never_reached_tt: u64,
    pub violations: Vec<Violation>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FreshnessReport {
    pub events_measured: u64,
    pub events_never_visible: u64,
    pub p50_ms: i64,
    pub p99_ms: i64,
    pub max_ms: i64,
    pub sla_p99_ms: Option<i64>,
    /// Simulated ms after the chaos phase ended when the last event became visible.
    pub converged_after_heal_ms: Option<i64>,
    /// The same figures per traffic phase (by production time), in story order.
    pub phases: Vec<PhaseFreshness>,
    pub violations: Vec<Violation>,
    /// For each simulated second, when the last valid event produced in it became visible in
    /// DWS (`i64::MAX` if one never did, 0 if none was produced): for recovery times.
    #[serde(skip)]
    pub visible_by_produced_s: Vec<i64>,
}

/// Freshness of the events produced in one traffic phase.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseFreshness {
    pub phase: crate::scenario::TrafficPhase,
    pub events_measured: u64,
    pub p50_ms: i64,
    pub p99_ms: i64,
    pub max_ms: i64,
}

/// The checker's own reading of the DWD cleaning rule, written from the spec, not imported.
fn spec_valid(event: &AdEvent) -> bool {
    let positive = event.advertiser_id > 0 && event.campaign_id > 0 && event.event_time_ms > 0;
    let money = event.cost_micros >= 0 && event.gmv_micros >= 0;
    let shape = match event.kind {
        EventKind::Impression => event.cost_micros == 0 && event.gmv_micros == 0,
        EventKind::Click => event.gmv_micros == 0,
        EventKind::Conversion => event.cost_micros == 0,
    };
    positive && money && shape
}

type DwsKey = [i64; 3];
type DwsSums = [i64; 5];
/// A DWD row: the event's fields in `EVENT_FIELD_NAMES` order.
type EventRow = [i64; EVENT_FIELD_NAMES.len()];

/// The checker's own DWS aggregation rule: minute buckets of event time, additive sums.
fn spec_contribution(row: &[i64]) -> (DwsKey, DwsSums) {
    let minute = row[1].div_euclid(60_000) * 60_000;
    let kind = row[7];
    (
        [row[2], row[3], minute],
        [
            i64::from(kind == 0),
            i64::from(kind == 1),
            i64::from(kind == 2),
            row[8],
            row[9],
        ],
    )
}

/// The event's DWD row, without allocating.
fn truth_row(event: &AdEvent) -> EventRow {
    [
        event.event_id as i64,
        event.event_time_ms,
        event.advertiser_id,
        event.campaign_id,
        event.creative_id,
        event.slot_id,
        event.region_id,
        event.kind as i64,
        event.cost_micros,
        event.gmv_micros,
    ]
}

/// `a == b` without a call to `bcmp`: these compares are on the hot path.
fn same<const N: usize>(a: &[i64; N], b: &[i64; N]) -> bool {
    a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An aggregate as a table holds it: a row whose sums are all zero is no row.
fn present(sums: DwsSums) -> Option<DwsSums> {
    (!same(&sums, &[0; 5])).then_some(sums)
}

/// Percentile by nearest rank; reorders `values` (selection, not a full sort).
pub(crate) fn percentile(values: &mut [i64], p: f64) -> i64 {
    if values.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    *values
        .select_nth_unstable(rank.clamp(1, values.len()) - 1)
        .1
}

/// A fast, seedless hasher for DWS keys (the checker never iterates a hashed map, so its order
/// cannot reach the output).
#[derive(Default)]
struct KeyHasher(u64);

impl KeyHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.add(word);
    }

    fn write_usize(&mut self, word: usize) {
        self.add(word as u64);
    }

    fn finish(&self) -> u64 {
        // murmur3's finaliser: hashbrown takes bucket bits from the low end, tags from the high.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// Per event id of the ground truth: the DWD row is live.
const LIVE: u8 = 1;
/// ... and differs from the ground-truth row (the stored row is in `DwdState::odd_rows`).
const DIFFERS: u8 = 2;
/// TT up to the checkpointed offsets holds this valid event: DWD must hold its row.
const EXPECTED: u8 = 4;
/// What DWD holds for this id is not what it must hold.
const MISMATCHED: u8 = 8;
/// Visible in a committed DWS snapshot (freshness), since `DwdState::visible_at`.
const VISIBLE: u8 = 16;
/// The ground truth's event of this id is valid by the checker's cleaning rule (`spec_valid`).
const VALID: u8 = 32;
/// TT appended this id at least once (end of run).
const IN_TT: u8 = 64;
/// Too late when the DWS job met it: it belongs in the late-data side table, not in DWS.
const TOO_LATE: u8 = 128;

fn mismatch_of(flags: u8) -> bool {
    if flags & EXPECTED != 0 {
        flags & LIVE == 0 || flags & DIFFERS != 0
    } else {
        flags & LIVE != 0
    }
}

/// DWD as stored and as it must be. Ids 1..=n of the ground truth index dense vectors (index 0
/// unused; `ix` is `events[ix - 1]`'s slot); any other id a table holds lives in `outside` and is
/// never expected.
struct DwdState {
    /// `events[i].event_id == i + 1` for every event, as `GroundTruth` promises.
    ids_dense: bool,
    flags: Vec<u8>,
    /// Sequence number of the newest record per id.
    seq: Vec<i64>,
    /// Simulated ms the id first became visible in DWS (when `VISIBLE`).
    visible_at: Vec<i64>,
    /// DWS slot of the ground-truth row's key.
    truth_slot: Vec<u32>,
    /// Live rows that differ from the ground truth's row for their id.
    odd_rows: HashMap<u64, EventRow>,
    /// Ids outside 1..=n: (sequence number, live row).
    outside: BTreeMap<u64, (i64, Option<EventRow>)>,
    outside_live: usize,
    /// Ids whose row differs from what DWD must hold.
    mismatched: usize,
    /// DWD's `sequence.field` (`[dwd]` of the scenario) as an index into the row: an id's
    /// record with a smaller value loses to the one the table holds, whatever its sequence
    /// number (Paimon's rule, read from the spec).
    sequence_field: Option<usize>,
}

impl DwdState {
    /// One pass over the ground truth: validity, DWS slots, and the ground-truth aggregate.
    fn new(events: &[AdEvent], dws: &mut DwsState) -> Self {
        let n = events.len();
        let mut flags = Vec::with_capacity(n + 1);
        let mut truth_slot = Vec::with_capacity(n + 1);
        flags.push(0);
        truth_slot.push(0);
        let mut ids_dense = true;
        for (i, event) in events.iter().enumerate() {
            ids_dense &= event.event_id == i as u64 + 1;
            let valid = spec_valid(event);
            flags.push(if valid { VALID } else { 0 });
            let (key, sums) = spec_contribution(&truth_row(event));
            let slot = dws.slot(key);
            truth_slot.push(slot as u32);
            if valid {
                for (total, value) in dws.slots[slot].truth.iter_mut().zip(sums) {
                    *total += value;
                }
            }
        }
        Self {
            ids_dense,
            flags,
            seq: vec![i64::MIN; n + 1],
            visible_at: vec![0; n + 1],
            truth_slot,
            odd_rows: HashMap::new(),
            outside: BTreeMap::new(),
            outside_live: 0,
            mismatched: 0,
            sequence_field: None,
        }
    }

    fn dense(&self, id: u64) -> Option<usize> {
        (id >= 1 && id < self.flags.len() as u64).then_some(id as usize)
    }

    /// Sets an id's flags and keeps its mismatch flag and the count up to date.
    fn settle(&mut self, ix: usize, flags: u8) {
        let was = self.flags[ix] & MISMATCHED != 0;
        let now = mismatch_of(flags);
        self.mismatched = self.mismatched + usize::from(now) - usize::from(was);
        self.flags[ix] = if now {
            flags | MISMATCHED
        } else {
            flags & !MISMATCHED
        };
    }

    fn first_mismatched(&self) -> Option<u64> {
        if self.mismatched == 0 {
            return None;
        }
        let dense = self
            .flags
            .iter()
            .position(|f| f & MISMATCHED != 0)
            .map(|ix| ix as u64);
        let outside = self
            .outside
            .iter()
            .find(|(_, (_, row))| row.is_some())
            .map(|(id, _)| *id);
        dense.into_iter().chain(outside).min()
    }

    fn expected_row(&self, truth: &GroundTruth, id: u64) -> Option<EventRow> {
        let ix = self.dense(id)?;
        (self.flags[ix] & EXPECTED != 0).then(|| truth_row(&truth.events[ix - 1]))
    }

    fn actual_row(&self, truth: &GroundTruth, id: u64) -> Option<EventRow> {
        match self.dense(id) {
            Some(ix) => {
                let flags = self.flags[ix];
                if flags & LIVE == 0 {
                    None
                } else if flags & DIFFERS != 0 {
                    self.odd_rows.get(&id).copied()
                } else {
                    Some(truth_row(&truth.events[ix - 1]))
                }
            }
            None => self.outside.get(&id).and_then(|(_, row)| *row),
        }
    }

    fn is_live(&self, id: u64) -> bool {
        match self.dense(id) {
            Some(ix) => self.flags[ix] & LIVE != 0,
            None => self.outside.get(&id).is_some_and(|(_, row)| row.is_some()),
        }
    }
}

struct DwsSlot {
    key: DwsKey,
    /// Aggregate of DWD as stored: what DWS must hold once it has consumed the same snapshot.
    aggregate: DwsSums,
    /// DWS as stored: live sums (and `seq` the newest record's sequence number).
    actual: Option<DwsSums>,
    mismatched: bool,
    seq: i64,
    /// Aggregate of the ground truth's valid events (end of run).
    truth: DwsSums,
}

/// DWS keys interned into slots; each slot holds a key's expected and stored sums.
#[derive(Default)]
struct DwsState {
    index: HashMap<DwsKey, u32, BuildHasherDefault<KeyHasher>>,
    slots: Vec<DwsSlot>,
    mismatched: usize,
}

impl DwsState {
    fn slot(&mut self, key: DwsKey) -> usize {
        let next = self.slots.len();
        let ix = *self.index.entry(key).or_insert(next as u32) as usize;
        if ix == next {
            self.slots.push(DwsSlot {
                key,
                aggregate: [0; 5],
                actual: None,
                mismatched: false,
                seq: i64::MIN,
                truth: [0; 5],
            });
        }
        ix
    }

    /// Adds (`sign` 1) or retracts (-1) a DWD row's contribution to the slot of its key.
    fn add_at(&mut self, ix: usize, sums: DwsSums, sign: i64) {
        for (total, value) in self.slots[ix].aggregate.iter_mut().zip(sums) {
            *total += sign * value;
        }
        self.settle(ix);
    }

    fn add(&mut self, row: &[i64], sign: i64) {
        let (key, sums) = spec_contribution(row);
        let ix = self.slot(key);
        self.add_at(ix, sums, sign);
    }

    fn settle(&mut self, ix: usize) {
        let slot = &mut self.slots[ix];
        let now = match slot.actual {
            Some(actual) => !same(&actual, &slot.aggregate) || same(&actual, &[0; 5]),
            None => !same(&slot.aggregate, &[0; 5]),
        };
        self.mismatched = self.mismatched + usize::from(now) - usize::from(slot.mismatched);
        slot.mismatched = now;
    }
}

struct Checker<'a> {
    shared: &'a Shared,
    /// The chain checked: its storage system and the jobs writing it.
    chain: Chain,
    /// Commit times of that storage system's snapshots.
    commits: &'a RefCell<BTreeMap<String, i64>>,
    truth: Ref<'a, GroundTruth>,
    dwd_offsets: BTreeMap<i64, Vec<u64>>,
    dws_positions: BTreeMap<i64, i64>,
    dwd: DwdState,
    dws: DwsState,
    ledger_cursors: Vec<usize>,
    /// Dense event ids first made visible in DWD, per DWD snapshot (freshness).
    dwd_new_ids: Vec<(i64, Vec<usize>)>,
    /// Reused buffers: a snapshot's records, and (event id, record) of DWD's in id order.
    dwd_records: Records,
    dws_records: Records,
    order: Vec<(u64, u32)>,
    violations: Vec<Violation>,
    dwd_violated: bool,
    dws_violated: bool,
    /// Event time: the recomputed watermark, late and too-late events, the late table.
    late: LateState,
}

impl<'a> Checker<'a> {
    fn commit_time(&self, snapshot: &SnapshotInfo) -> i64 {
        self.commits
            .borrow()
            .get(&snapshot.path)
            .copied()
            .unwrap_or(snapshot.time_millis - self.shared.scenario.run.epoch_ms)
    }

    fn violation(&mut self, at: String, t_ms: Option<i64>, message: String) {
        self.violations.push(Violation {
            checker: CheckerName::ExactlyOnce,
            at,
            t_ms,
            message,
        });
    }

    fn apply_dwd_snapshot(
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
    fn apply_dwd_records(&mut self, records: &Records, order: &mut Vec<(u64, u32)>) -> Vec<usize> {
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
            if seq <= self.dwd.seq[ix] {
                continue;
            }
            self.dwd.seq[ix] = seq;
            if let Some(field) = self.dwd.sequence_field
                && let Some(held) = self.dwd.actual_row(&self.truth, id)
                && row[field] < held[field]
            {
                continue; // an older version arriving late: the held row stays
            }
            let flags = self.dwd.flags[ix];
            let truth = truth_row(&self.truth.events[ix - 1]);
            let truth_slot = self.dwd.truth_slot[ix] as usize;
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
                    self.dws.add_at(truth_slot, spec_contribution(&truth).1, -1);
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
                        self.dws.add_at(truth_slot, spec_contribution(&row).1, 1);
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
    fn apply_outside(&mut self, id: u64, seq: i64, live: Option<EventRow>) {
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

    fn advance_ledger(&mut self, offsets: &[u64]) {
        let ledger = self.shared.ledger.borrow();
        for (partition, offset) in offsets.iter().enumerate() {
            let Some(log) = ledger.partitions.get(partition) else {
                continue;
            };
            let end = (*offset as usize).min(log.len());
            let start = self.ledger_cursors[partition];
            for (id, _) in log.get(start..end).unwrap_or_default() {
                if let Some(event) = self.truth.event(*id) {
                    self.late.observe_consumed(partition, event.event_time_ms);
                }
                if let Some(ix) = self.dwd.dense(*id) {
                    let flags = self.dwd.flags[ix];
                    if flags & (EXPECTED | VALID) == VALID {
                        self.dwd.settle(ix, flags | EXPECTED);
                    }
                }
            }
            self.ledger_cursors[partition] = start.max(end);
        }
    }

    fn apply_dws_snapshot(
        &mut self,
        inspector: &TableInspector,
        snapshot: &SnapshotInfo,
    ) -> Result<(), String> {
        let mut records = std::mem::take(&mut self.dws_records);
        let result = inspector.added_records(snapshot, &mut records);
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
                slot.actual = kind
                    .is_live()
                    .then(|| [values[3], values[4], values[5], values[6], values[7]]);
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

const EVENT_WIDTH: usize = EVENT_FIELD_NAMES.len();
const DWS_WIDTH: usize = DWS_FIELD_NAMES.len();

/// The two fields of a checkpoint file the checkers read; the rest (committables) is skipped
/// without building a JSON tree.
#[derive(Deserialize)]
struct CheckpointHead {
    #[serde(default)]
    checkpoint_id: Value,
    #[serde(default)]
    source_state: Value,
}

/// (`checkpoint_id`, `source_state`) of every checkpoint file of `job`, `Null` where absent.
fn read_checkpoints(
    objects: &BTreeMap<String, Vec<u8>>,
    job: &str,
) -> Result<Vec<(Value, Value)>, String> {
    let prefix = format!("checkpoints/{job}/chk-");
    objects
        .range(prefix.clone()..)
        .take_while(|(path, _)| path.starts_with(&prefix))
        .map(|(path, bytes)| {
            let head = bytes
                .trim_ascii_start()
                .starts_with(b"{")
                .then(|| serde_json::from_slice::<CheckpointHead>(bytes).ok())
                .flatten();
            match head {
                Some(head) => Ok((head.checkpoint_id, head.source_state)),
                // Not a plain object (or a duplicate key): read it as any JSON value.
                None => {
                    let value: Value = serde_json::from_slice(bytes)
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
pub fn check_run(
    shared: &Shared,
    objects: &BTreeMap<String, Vec<u8>>,
    chaos_end_ms: i64,
) -> CheckOutcome {
    let chain = shared.scenario.topology().chains()[0];
    check_chain(shared, chain, objects, chaos_end_ms, None).outcome
}

/// One chain's checks, and when each ground-truth event became visible in its DWS.
pub struct ChainChecks {
    pub outcome: CheckOutcome,
    /// Per dense event index (as the checkers number the ground truth), the simulated ms it
    /// became visible in this chain's DWS, `i64::MAX` if never.
    pub visible_at: Vec<i64>,
    /// With `other_visible_at`: freshness as served, each event counted from the first chain
    /// whose DWS showed it (serving fails over to whichever is fresher).
    pub served_freshness: Option<FreshnessReport>,
}

/// Every checker over one chain: `chain`'s tables in `objects` (its storage system's dump),
/// recomputed from the ground truth. `other_visible_at` (another chain's `visible_at`) adds
/// the served freshness of both chains together.
pub fn check_chain(
    shared: &Shared,
    chain: Chain,
    objects: &BTreeMap<String, Vec<u8>>,
    chaos_end_ms: i64,
    other_visible_at: Option<&[i64]>,
) -> ChainChecks {
    let truth = shared.truth.borrow();
    let mut dws = DwsState::default();
    let mut dwd = DwdState::new(&truth.events, &mut dws);
    dwd.sequence_field = dwd_sequence_field(shared);
    let mut checker = Checker {
        shared,
        chain,
        commits: shared.storage(chain.storage).snapshot_commits,
        truth,
        dwd_offsets: BTreeMap::new(),
        dws_positions: BTreeMap::new(),
        dwd,
        dws,
        ledger_cursors: vec![0; shared.scenario.traffic.partitions as usize],
        dwd_new_ids: Vec::new(),
        dwd_records: Records::default(),
        dws_records: Records::default(),
        order: Vec::new(),
        violations: Vec::new(),
        dwd_violated: false,
        dws_violated: false,
        late: LateState::new(&shared.scenario),
    };
    let mut counts = (0usize, 0usize);
    if let Err(error) = walk_tables(&mut checker, objects, &mut counts) {
        checker.violation(
            "storage".into(),
            None,
            format!("cannot read the tables: {error}"),
        );
    }
    let final_report = final_check(&mut checker);
    let freshness = freshness_report(&checker, chaos_end_ms);
    let visible_at: Vec<i64> = checker
        .dwd
        .flags
        .iter()
        .zip(&checker.dwd.visible_at)
        .map(|(flags, at)| if flags & VISIBLE != 0 { *at } else { i64::MAX })
        .collect();
    let served_freshness = other_visible_at.map(|other| {
        let dwd = &mut checker.dwd;
        for (ix, &at) in other.iter().enumerate().skip(1) {
            if ix < dwd.flags.len()
                && at != i64::MAX
                && (dwd.flags[ix] & VISIBLE == 0 || at < dwd.visible_at[ix])
            {
                dwd.flags[ix] |= VISIBLE;
                dwd.visible_at[ix] = at;
            }
        }
        freshness_report(&checker, chaos_end_ms)
    });
    let too_late: BTreeSet<u64> = checker.late.too_late_ids().collect();
    let (live_violations, files) =
        match live_files_check(shared, &checker.truth, objects, &too_late) {
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
    if let Some(violation) = too_late_sla(shared, &lateness, final_report.distinct_valid_events) {
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
        },
        visible_at,
        served_freshness,
    }
}

/// The index of DWD's `sequence.field` in an event row, if the scenario sets one.
fn dwd_sequence_field(shared: &Shared) -> Option<usize> {
    let name = shared.scenario.dwd.sequence_field.as_deref()?;
    EVENT_FIELD_NAMES.iter().position(|field| *field == name)
}

/// The scenario's `[sla] too_late_share_max`: too-late events over all valid events.
fn too_late_sla(
    shared: &Shared,
    lateness: &LatenessReport,
    valid_events: u64,
) -> Option<Violation> {
    let max_share = shared.scenario.sla.too_late_share_max?;
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
fn file_counts(files: &[(i64, String)]) -> (usize, usize) {
    let mut per_bucket: BTreeMap<i64, usize> = BTreeMap::new();
    for (bucket, _) in files {
        *per_bucket.entry(*bucket).or_default() += 1;
    }
    (files.len(), per_bucket.values().copied().max().unwrap_or(0))
}

/// The final tables read the way a reader would: merge-on-read of the latest snapshot's live
/// files (after every compaction), compared with the ground truth. This is what verifies that
/// compaction kept every row: the snapshot walk skips compacted files.
fn live_files_check(
    shared: &Shared,
    truth: &GroundTruth,
    objects: &BTreeMap<String, Vec<u8>>,
    too_late: &BTreeSet<u64>,
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
        crate::check::history::surviving_history(shared, &dwd, DWD_TABLE_ROOT)?.last()
    {
        (files.dwd_live_files, files.dwd_max_files_per_bucket) =
            file_counts(&dwd.live_files(latest)?);
        let mut records = Records::default();
        dwd.live_records(latest, &mut records)?;
        // Per event id: the newest sequence number seen, and whether that record is live and
        // equal to the produced event.
        // Ordered by (sequence.field value, sequence number) when DWD has a sequence field.
        let sequence_field = dwd_sequence_field(shared);
        let mut newest = vec![(i64::MIN, i64::MIN); truth.events.len() + 1];
        let mut state = vec![0u8; truth.events.len() + 1]; // 0 absent, 1 right, 2 wrong, 3 deleted
        let mut unknown: Option<i64> = None;
        for r in 0..records.len() {
            let row = records.row(r);
            let Some(event) = truth.event(row[0] as u64) else {
                unknown = Some(unknown.map_or(row[0], |u: i64| u.min(row[0])));
                continue;
            };
            let id = row[0] as usize;
            let rank = (
                sequence_field.map_or(0, |field| row[field]),
                records.sequence_numbers[r],
            );
            if rank > newest[id] {
                newest[id] = rank;
                let live = records.kinds[r].is_live();
                state[id] = match (live, row == truth_row(event)) {
                    (false, _) => 3,
                    (true, true) => 1,
                    (true, false) => 2,
                };
            }
        }
        let wrong: Vec<usize> = truth
            .events
            .iter()
            .filter(|e| {
                (state[e.event_id as usize] == 1) != spec_valid(e)
                    || state[e.event_id as usize] == 2
            })
            .map(|e| e.event_id as usize)
            .collect();
        if let Some(&id) = wrong.first() {
            let event = &truth.events[id - 1];
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
                    if spec_valid(event) { "valid, must be present" } else { "invalid, must be absent" },
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
        crate::check::history::surviving_history(shared, &dws, DWS_TABLE_ROOT)?.last()
    {
        (files.dws_live_files, files.dws_max_files_per_bucket) =
            file_counts(&dws.live_files(latest)?);
        let mut records = Records::default();
        dws.live_records(latest, &mut records)?;
        let mut stored: HashMap<DwsKey, (i64, Option<DwsSums>)> = HashMap::new();
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
        let mut expected: HashMap<DwsKey, DwsSums> = HashMap::new();
        for event in truth
            .events
            .iter()
            .filter(|e| spec_valid(e) && !too_late.contains(&e.event_id))
        {
            let (key, sums) = spec_contribution(&truth_row(event));
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

fn walk_tables(
    checker: &mut Checker,
    objects: &BTreeMap<String, Vec<u8>>,
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
    let shared = checker.shared;
    let dwd_snapshots = crate::check::history::surviving_history(shared, &dwd, DWD_TABLE_ROOT)?;
    let dws_snapshots = crate::check::history::surviving_history(shared, &dws, DWS_TABLE_ROOT)?;
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
                if dwd.flags[ix] & VISIBLE == 0 {
                    dwd.flags[ix] |= VISIBLE;
                    dwd.visible_at[ix] = visible_ms;
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

/// After the liveness phase: DWD holds every distinct valid event produced, DWS their aggregate.
fn final_check(checker: &mut Checker) -> ExactlyOnceReport {
    let shared = checker.shared;
    let truth = &*checker.truth;
    let dwd = &mut checker.dwd;
    // Which ids TT appended: a flag for the ground truth's ids, a set for any other.
    let mut in_tt_outside: BTreeSet<u64> = BTreeSet::new();
    let mut appended_records = 0;
    for log in &shared.ledger.borrow().partitions {
        appended_records += log.len() as u64;
        for (id, _) in log {
            match dwd.dense(*id) {
                Some(ix) => dwd.flags[ix] |= IN_TT,
                None => {
                    in_tt_outside.insert(*id);
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
    let mut first_missing: Option<String> = None;
    for (i, &flags) in dwd.flags.iter().enumerate().skip(1) {
        // The event at index i - 1; with dense ids its id is i and its state is `flags`.
        let id = if dwd.ids_dense {
            i as u64
        } else {
            truth.events[i - 1].event_id
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
        if first_missing.is_some() {
            continue;
        }
        let row = truth_row(&truth.events[i - 1]);
        let holds_row = if dwd.ids_dense {
            flags & (LIVE | DIFFERS) == LIVE
        } else {
            dwd.actual_row(truth, id)
                .is_some_and(|stored| same(&stored, &row))
        };
        if !holds_row {
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
    if first_missing.is_none() && live_dwd != distinct_valid {
        first_missing = Some(format!(
            "DWD holds {live_dwd} events but {distinct_valid} distinct valid events were produced"
        ));
    }
    // Too-late events belong in the late-data side table, not in DWS.
    for id in checker.late.too_late_ids() {
        if let Some(ix) = checker.dwd.dense(id)
            && checker.dwd.flags[ix] & VALID != 0
        {
            let sums = spec_contribution(&truth_row(&truth.events[ix - 1])).1;
            let slot = &mut checker.dws.slots[checker.dwd.truth_slot[ix] as usize];
            for (total, value) in slot.truth.iter_mut().zip(sums) {
                *total -= value;
            }
        }
    }
    let wrong: Vec<(&DwsSlot, Option<[i64; 5]>)> = checker
        .dws
        .slots
        .iter()
        .filter(|slot| slot.actual != present(slot.truth))
        .map(|slot| (slot, present(slot.truth)))
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
    ExactlyOnceReport {
        dwd_snapshots_checked: 0,
        dws_snapshots_checked: 0,
        distinct_valid_events: distinct_valid,
        invalid_events: invalid,
        appended_records,
        duplicate_appends,
        never_reached_tt,
        violations: Vec::new(),
    }
}

fn freshness_report(checker: &Checker, chaos_end_ms: i64) -> FreshnessReport {
    let shared = checker.shared;
    let truth = &*checker.truth;
    let dwd = &checker.dwd;
    let mut latencies = Vec::with_capacity(truth.events.len());
    let mut by_phase: BTreeMap<crate::scenario::TrafficPhase, Vec<i64>> = BTreeMap::new();
    let mut never_visible = 0;
    let mut last_visible = None;
    let mut visible_by_produced_s: Vec<i64> = Vec::new();
    let mut note_second = |produced_ms: i64, visible_ms: i64| {
        let second = produced_ms.max(0) as usize / 1000;
        if visible_by_produced_s.len() <= second {
            visible_by_produced_s.resize(second + 1, 0);
        }
        visible_by_produced_s[second] = visible_by_produced_s[second].max(visible_ms);
    };
    // The event at index i - 1 is valid when `flags[i]` says so; its visibility is its id's.
    for (i, &flags) in dwd.flags.iter().enumerate().skip(1) {
        if flags & VALID == 0 {
            continue;
        }
        let ix = if dwd.ids_dense {
            Some(i)
        } else {
            dwd.dense(truth.events[i - 1].event_id)
        };
        // Too-late events never reach DWS: they are excluded here and checked in the late table.
        if ix.is_some_and(|ix| dwd.flags[ix] & TOO_LATE != 0) {
            continue;
        }
        match ix.filter(|ix| dwd.flags[*ix] & VISIBLE != 0) {
            Some(ix) => {
                let visible = dwd.visible_at[ix];
                let produced = truth.produced_ms[i - 1];
                latencies.push(visible - produced);
                by_phase
                    .entry(shared.scenario.phase_at(produced))
                    .or_default()
                    .push(visible - produced);
                last_visible = Some(last_visible.map_or(visible, |t: i64| t.max(visible)));
                note_second(truth.produced_ms[i - 1], visible);
            }
            None => {
                never_visible += 1;
                note_second(truth.produced_ms[i - 1], i64::MAX);
            }
        }
    }
    let sla_p99_ms = shared.scenario.sla.freshness_p99.map(|m| m.0);
    let max_ms = latencies.iter().copied().max().unwrap_or(0);
    let p99_ms = percentile(&mut latencies, 99.0);
    let p50_ms = percentile(&mut latencies, 50.0);
    let phases: Vec<PhaseFreshness> = by_phase
        .into_iter()
        .map(|(phase, mut latencies)| PhaseFreshness {
            phase,
            events_measured: latencies.len() as u64,
            max_ms: latencies.iter().copied().max().unwrap_or(0),
            p99_ms: percentile(&mut latencies, 99.0),
            p50_ms: percentile(&mut latencies, 50.0),
        })
        .collect();
    let mut violations = Vec::new();
    if let Some(sla) = sla_p99_ms
        && p99_ms > sla
    {
        violations.push(Violation {
            checker: CheckerName::Freshness,
            at: "whole run".into(),
            t_ms: None,
            message: format!(
                "p99 freshness {:.1} s exceeds the SLA of {:.1} s",
                p99_ms as f64 / 1e3,
                sla as f64 / 1e3
            ),
        });
    }
    // The SLA holds in every phase, not only on average: a midnight peak cannot hide in a
    // quiet night's p99.
    if let Some(sla) = sla_p99_ms {
        for phase in phases.iter().filter(|p| p.p99_ms > sla) {
            violations.push(Violation {
                checker: CheckerName::Freshness,
                at: format!("{} phase", phase.phase.name()),
                t_ms: None,
                message: format!(
                    "p99 freshness of the {} events produced in the {} phase is {:.1} s, above the SLA of {:.1} s",
                    phase.events_measured,
                    phase.phase.name(),
                    phase.p99_ms as f64 / 1e3,
                    sla as f64 / 1e3
                ),
            });
        }
    }
    if never_visible > 0 {
        violations.push(Violation {
            checker: CheckerName::Liveness,
            at: "end of run".into(),
            t_ms: None,
            message: format!(
                "{never_visible} valid events never became visible in DWS within the liveness bound"
            ),
        });
    }
    FreshnessReport {
        events_measured: latencies.len() as u64,
        events_never_visible: never_visible,
        p50_ms,
        p99_ms,
        max_ms,
        sla_p99_ms,
        converged_after_heal_ms: last_visible.map(|t| (t - chaos_end_ms).max(0)),
        phases,
        violations,
        visible_by_produced_s,
    }
}

/// Keys named in one DWS violation, at most: enough to see a pattern, short enough to read.
const WRONG_KEYS_NAMED: usize = 5;

/// "key (advertiser a, campaign c, minute m): expected [..], DWS holds [..]; ..." for the smallest
/// differing keys, so several distinct faults show in one message.
fn describe_wrong_keys(
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
                slot.actual
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
