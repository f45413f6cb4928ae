//! The exactly-once checker's dense state: DWD as stored and as it must be, per event id of the
//! ground truth; DWS keys interned into slots holding the expected and the stored sums.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use crate::check::spec::*;
use crate::world::GroundTruth;
use crate::world::column::Column;

/// A fast, seedless hasher for DWS keys (the checker never iterates a hashed map, so its order
/// cannot reach the output).
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl KeyHasher {
    pub(crate) fn add(&mut self, word: u64) {
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
pub(crate) const LIVE: u8 = 1;
/// ... and differs from the ground-truth row (the stored row is in `DwdState::odd_rows`).
pub(crate) const DIFFERS: u8 = 2;
/// TT up to the checkpointed offsets holds this valid event: DWD must hold its row.
pub(crate) const EXPECTED: u8 = 4;
/// What DWD holds for this id is not what it must hold.
pub(crate) const MISMATCHED: u8 = 8;
// Bit 16 is free: when an id became visible in DWS is `DwdState::visible`'s.
/// The ground truth's event of this id is valid by the checker's cleaning rule (`spec_valid`).
pub(crate) const VALID: u8 = 32;
/// TT appended this id at least once (end of run).
pub(crate) const IN_TT: u8 = 64;
/// Too late when the DWS job met it: it belongs in the late-data side table, not in DWS.
pub(crate) const TOO_LATE: u8 = 128;

pub(crate) fn mismatch_of(flags: u8) -> bool {
    if flags & EXPECTED != 0 {
        flags & LIVE == 0 || flags & DIFFERS != 0
    } else {
        flags & LIVE != 0
    }
}

/// DWD as stored and as it must be. Ids 1..=n of the ground truth index dense vectors (index 0
/// unused; `ix` is `events[ix - 1]`'s slot); any other id a table holds lives in `outside` and is
/// never expected.
#[derive(Default)]
pub(crate) struct DwdState {
    /// `events[i].event_id == i + 1` for every event, as `GroundTruth` promises.
    pub(crate) ids_dense: bool,
    pub(crate) flags: Vec<u8>,
    /// Sequence number of the newest record per id, as [`NewestSeq`] encodes it: a bucket's
    /// numbers count its records, so most take 2 or 4 bytes rather than 8.
    newest_seq: Column,
    /// When each id first became visible in DWS (freshness).
    pub(crate) visible: VisibleTimes,
    /// Live rows that differ from the ground truth's row for their id.
    pub(crate) odd_rows: HashMap<u64, EventRow>,
    /// Ids outside 1..=n: (sequence number, live row).
    pub(crate) outside: BTreeMap<u64, (i64, Option<EventRow>)>,
    pub(crate) outside_live: usize,
    /// Ids whose row differs from what DWD must hold.
    pub(crate) mismatched: usize,
    /// DWD's `sequence.field` (`[dwd]` of the scenario) as an index into the row: an id's
    /// record with a smaller value loses to the one the table holds, whatever its sequence
    /// number (Paimon's rule, read from the spec).
    pub(crate) sequence_field: Option<usize>,
}

impl DwdState {
    /// One pass over the ground truth: validity, DWS slots, and the ground-truth aggregate.
    pub(crate) fn new(truth: &GroundTruth, dws: &mut DwsState) -> Self {
        let n = truth.len();
        let mut flags = Vec::with_capacity(n + 1);
        flags.push(0);
        let mut ids_dense = true;
        for (i, event) in truth.iter().enumerate() {
            ids_dense &= event.event_id == i as u64 + 1;
            let valid = spec_valid(&event);
            flags.push(if valid { VALID } else { 0 });
            let (key, sums) = spec_contribution(&truth_row(&event));
            let slot = dws.slot(key);
            if valid {
                for (total, value) in dws.slots[slot].truth.iter_mut().zip(sums) {
                    *total += value;
                }
            }
        }
        Self {
            ids_dense,
            flags,
            newest_seq: Column::filled(NewestSeq::NONE, n + 1),
            visible: VisibleTimes::new(n + 1),
            odd_rows: HashMap::new(),
            outside: BTreeMap::new(),
            outside_live: 0,
            mismatched: 0,
            sequence_field: None,
        }
    }

    /// The sequence number of dense id `ix`'s newest record applied so far.
    pub(crate) fn newest_seq(&self, ix: usize) -> Option<i64> {
        NewestSeq::decode(self.newest_seq.get(ix))
    }

    pub(crate) fn set_newest_seq(&mut self, ix: usize, seq: i64) {
        self.newest_seq.set(ix, NewestSeq::encode(seq));
    }

    pub(crate) fn dense(&self, id: u64) -> Option<usize> {
        (id >= 1 && id < self.flags.len() as u64).then_some(id as usize)
    }

    /// Sets an id's flags and keeps its mismatch flag and the count up to date.
    pub(crate) fn settle(&mut self, ix: usize, flags: u8) {
        let was = self.flags[ix] & MISMATCHED != 0;
        let now = mismatch_of(flags);
        self.mismatched = self.mismatched + usize::from(now) - usize::from(was);
        self.flags[ix] = if now {
            flags | MISMATCHED
        } else {
            flags & !MISMATCHED
        };
    }

    pub(crate) fn first_mismatched(&self) -> Option<u64> {
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

    pub(crate) fn expected_row(&self, truth: &GroundTruth, id: u64) -> Option<EventRow> {
        let ix = self.dense(id)?;
        (self.flags[ix] & EXPECTED != 0).then(|| truth_row(&truth.at(ix - 1)))
    }

    pub(crate) fn actual_row(&self, truth: &GroundTruth, id: u64) -> Option<EventRow> {
        match self.dense(id) {
            Some(ix) => {
                let flags = self.flags[ix];
                if flags & LIVE == 0 {
                    None
                } else if flags & DIFFERS != 0 {
                    self.odd_rows.get(&id).copied()
                } else {
                    Some(truth_row(&truth.at(ix - 1)))
                }
            }
            None => self.outside.get(&id).and_then(|(_, row)| *row),
        }
    }

    pub(crate) fn is_live(&self, id: u64) -> bool {
        match self.dense(id) {
            Some(ix) => self.flags[ix] & LIVE != 0,
            None => self.outside.get(&id).is_some_and(|(_, row)| row.is_some()),
        }
    }
}

/// A sequence number held in a [`Column`] with "no record yet" as 0: Paimon numbers a bucket's
/// records from 0 up, held as `seq + 1` in the few bytes the run needs; a negative number (only
/// a corrupt file has one) is held as itself, so every `i64` but `i64::MAX` round-trips.
struct NewestSeq;

impl NewestSeq {
    const NONE: i64 = 0;

    fn encode(seq: i64) -> i64 {
        if seq >= 0 { seq.saturating_add(1) } else { seq }
    }

    fn decode(held: i64) -> Option<i64> {
        match held {
            Self::NONE => None,
            held if held > 0 => Some(held - 1),
            negative => Some(negative),
        }
    }
}

/// When each dense id first became visible in a chain's DWS: the commit time of a DWS snapshot,
/// held as the ordinal of that time among the run's few distinct ones (one per DWS snapshot),
/// so an event takes the byte or two of an ordinal rather than the four of a time.
#[derive(Default)]
pub struct VisibleTimes {
    /// Per dense id, 1 + the ordinal of its time in `times_ms`; 0 while never visible.
    ordinals: Column,
    times_ms: Vec<i64>,
    ordinal_of: HashMap<i64, i64>,
}

impl VisibleTimes {
    pub(crate) fn new(len: usize) -> Self {
        Self {
            ordinals: Column::filled(0, len),
            ..Self::default()
        }
    }

    /// Simulated ms at which dense id `ix` became visible, if it did.
    pub fn get(&self, ix: usize) -> Option<i64> {
        match self.ordinals.get(ix) {
            0 => None,
            ordinal => Some(self.times_ms[ordinal as usize - 1]),
        }
    }

    pub(crate) fn set(&mut self, ix: usize, visible_ms: i64) {
        let ordinal = match self.times_ms.last() {
            Some(&last) if last == visible_ms => self.times_ms.len() as i64,
            _ => *self.ordinal_of.entry(visible_ms).or_insert_with(|| {
                self.times_ms.push(visible_ms);
                self.times_ms.len() as i64
            }),
        };
        self.ordinals.set(ix, ordinal);
        debug_assert_eq!(self.get(ix), Some(visible_ms));
    }

    pub(crate) fn len(&self) -> usize {
        self.ordinals.len()
    }
}

pub(crate) struct DwsSlot {
    pub(crate) key: DwsKey,
    /// Aggregate of DWD as stored: what DWS must hold once it has consumed the same snapshot.
    pub(crate) aggregate: DwsSums,
    /// DWS as stored, when `stored_live`: live sums (and `seq` the newest record's sequence
    /// number).
    stored: DwsSums,
    pub(crate) seq: i64,
    /// Aggregate of the ground truth's valid events, too-late ones included: what the row is
    /// compared with for time-to-accurate (the end of run takes out the events DWS must not
    /// hold).
    pub(crate) truth: DwsSums,
    /// Simulated ms of the commits that first set and last changed the stored sums
    /// (`NEVER_CHANGED` before the first).
    first_changed_ms: i64,
    last_changed_ms: i64,
    pub(crate) mismatched: bool,
    stored_live: bool,
}

/// `DwsSlot`'s change times before the stored sums first change (8 bytes rather than an
/// `Option`'s 16, for each of a day's million and more slots).
const NEVER_CHANGED: i64 = i64::MIN;

impl DwsSlot {
    fn new(key: DwsKey) -> Self {
        Self {
            key,
            aggregate: [0; 5],
            stored: [0; 5],
            seq: i64::MIN,
            truth: [0; 5],
            first_changed_ms: NEVER_CHANGED,
            last_changed_ms: NEVER_CHANGED,
            mismatched: false,
            stored_live: false,
        }
    }

    /// DWS as stored: the live row's sums, `None` when DWS holds no row for the key.
    pub(crate) fn actual(&self) -> Option<DwsSums> {
        self.stored_live.then_some(self.stored)
    }

    /// Records what a DWS snapshot committed at `committed_ms` holds for the key.
    pub(crate) fn store(&mut self, actual: Option<DwsSums>, committed_ms: i64) {
        if actual != self.actual() {
            if self.first_changed_ms == NEVER_CHANGED {
                self.first_changed_ms = committed_ms;
            }
            self.last_changed_ms = committed_ms;
        }
        self.stored_live = actual.is_some();
        self.stored = actual.unwrap_or([0; 5]);
    }

    pub(crate) fn first_changed_ms(&self) -> Option<i64> {
        (self.first_changed_ms != NEVER_CHANGED).then_some(self.first_changed_ms)
    }

    pub(crate) fn last_changed_ms(&self) -> Option<i64> {
        (self.last_changed_ms != NEVER_CHANGED).then_some(self.last_changed_ms)
    }
}

/// Slots per chunk of [`Slots`].
const SLOTS_PER_CHUNK: usize = 1 << 12;

/// The DWS slots in chunks: a day has a slot per campaign per minute, over a million, and a
/// `Vec` doubling to hold them would copy them all and keep up to as many again unused.
#[derive(Default)]
pub(crate) struct Slots {
    chunks: Vec<Vec<DwsSlot>>,
}

impl Slots {
    pub(crate) fn len(&self) -> usize {
        self.chunks.last().map_or(0, |last| {
            (self.chunks.len() - 1) * SLOTS_PER_CHUNK + last.len()
        })
    }

    fn push(&mut self, slot: DwsSlot) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < SLOTS_PER_CHUNK => last.push(slot),
            _ => {
                let mut chunk = Vec::with_capacity(SLOTS_PER_CHUNK);
                chunk.push(slot);
                self.chunks.push(chunk);
            }
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &DwsSlot> {
        self.chunks.iter().flatten()
    }
}

impl std::ops::Index<usize> for Slots {
    type Output = DwsSlot;

    fn index(&self, ix: usize) -> &DwsSlot {
        &self.chunks[ix / SLOTS_PER_CHUNK][ix % SLOTS_PER_CHUNK]
    }
}

impl std::ops::IndexMut<usize> for Slots {
    fn index_mut(&mut self, ix: usize) -> &mut DwsSlot {
        &mut self.chunks[ix / SLOTS_PER_CHUNK][ix % SLOTS_PER_CHUNK]
    }
}

/// DWS keys interned into slots; each slot holds a key's expected and stored sums.
#[derive(Default)]
pub(crate) struct DwsState {
    pub(crate) index: HashMap<DwsKey, u32, BuildHasherDefault<KeyHasher>>,
    pub(crate) slots: Slots,
    pub(crate) mismatched: usize,
}

impl DwsState {
    pub(crate) fn slot(&mut self, key: DwsKey) -> usize {
        let next = self.slots.len();
        let ix = *self.index.entry(key).or_insert(next as u32) as usize;
        if ix == next {
            self.slots.push(DwsSlot::new(key));
        }
        ix
    }

    /// Adds (`sign` 1) or retracts (-1) a DWD row's contribution to the slot of its key.
    pub(crate) fn add_at(&mut self, ix: usize, sums: DwsSums, sign: i64) {
        for (total, value) in self.slots[ix].aggregate.iter_mut().zip(sums) {
            *total += sign * value;
        }
        self.settle(ix);
    }

    pub(crate) fn add(&mut self, row: &[i64], sign: i64) {
        let (key, sums) = spec_contribution(row);
        let ix = self.slot(key);
        self.add_at(ix, sums, sign);
    }

    pub(crate) fn settle(&mut self, ix: usize) {
        let slot = &mut self.slots[ix];
        let now = match slot.actual() {
            Some(actual) => !same(&actual, &slot.aggregate) || same(&actual, &[0; 5]),
            None => !same(&slot.aggregate, &[0; 5]),
        };
        self.mismatched = self.mismatched + usize::from(now) - usize::from(slot.mismatched);
        slot.mismatched = now;
    }
}
