//! The ground truth the traffic produced, held in compact columns: an event's id is its index
//! plus one, its event time is held as the distance from the first event's, campaign and
//! creative ids as their offsets within their advertiser's and campaign's ids, and every column
//! in the narrowest of 8, 16, 32 or 64 bits its values fit. As a `Vec<AdEvent>` with its
//! production times it was 88 bytes an event (290 MB of double11's peak); here it is about 25.

use std::cell::RefCell;

use warehouse::event::{AdEvent, EventKind};

use super::column::{CHUNK_LEN, Column};

/// How the traffic numbers ids (`hosts/traffic.rs` draws them with these): campaign ids are
/// the advertiser's id times this plus a small number, creative ids the campaign's times
/// [`CREATIVE_ID_STRIDE`] plus a small number. The truth holds the small numbers; wrapping
/// arithmetic keeps every id exact whatever it is.
pub(crate) const CAMPAIGN_ID_STRIDE: i64 = 1000;
pub(crate) const CREATIVE_ID_STRIDE: i64 = 100;

/// Full chunks [`GroundTruth::at`] keeps widened (about 4.7 MB each).
const LOOKED_UP_CHUNKS_MAX: usize = 4;

/// What the traffic generator produced: the ground truth every checker recomputes from. Its
/// columns spill their full chunks to a temporary file: the truth grows with every event of a
/// run and only the checkers read it back.
pub struct GroundTruth {
    /// The first event's event time: each event's is held as its distance from this, which
    /// fits 32 bits for any run shorter than 24 days.
    event_time_base_ms: i64,
    event_time_from_base_ms: Column,
    advertiser_id: Column,
    /// `campaign_id - CAMPAIGN_ID_STRIDE * advertiser_id`: the traffic numbers an
    /// advertiser's campaigns from its id times 1000, so this takes a byte or two, not four.
    /// Any other id is held exactly too (the column widens).
    campaign_in_advertiser: Column,
    /// `creative_id - CREATIVE_ID_STRIDE * campaign_id`, likewise.
    creative_in_campaign: Column,
    slot_id: Column,
    region_id: Column,
    /// `EventKind` codes.
    kind: Column,
    cost_micros: Column,
    gmv_micros: Column,
    /// Simulated ms at which each event was produced, in id order.
    produced_ms: Column,
    /// Events generated but never handed to TT (producer buffer full).
    pub dropped_at_source: u64,
    /// The full chunks of every column last looked up by index, widened, the most recent
    /// last: a checker looking up a snapshot's events in id order reads a chunk of each column
    /// once, not nine columns' read-back caches an event. Four: at double11's peak a
    /// checkpoint's events span three chunks, and they are looked up a TT partition at a
    /// time. A full chunk never changes again.
    looked_up: RefCell<Vec<(usize, [Vec<i64>; 9])>>,
}

impl Default for GroundTruth {
    fn default() -> Self {
        Self {
            event_time_base_ms: 0,
            event_time_from_base_ms: Column::spilling(),
            advertiser_id: Column::spilling(),
            campaign_in_advertiser: Column::spilling(),
            creative_in_campaign: Column::spilling(),
            slot_id: Column::spilling(),
            region_id: Column::spilling(),
            kind: Column::spilling(),
            cost_micros: Column::spilling(),
            gmv_micros: Column::spilling(),
            produced_ms: Column::spilling(),
            dropped_at_source: 0,
            looked_up: RefCell::default(),
        }
    }
}

impl GroundTruth {
    /// Records the next event produced. Event ids are 1..=n in the order events are recorded
    /// (the checkers index their dense state by id), and no event is produced before the run.
    pub fn push(&mut self, event: AdEvent, produced_ms: i64) {
        assert_eq!(
            event.event_id,
            self.len() as u64 + 1,
            "ground truth: event ids are dense and in the order events are recorded"
        );
        assert!(
            produced_ms >= 0,
            "ground truth: event {} produced at {produced_ms} ms, before the run",
            event.event_id
        );
        if self.is_empty() {
            self.event_time_base_ms = event.event_time_ms;
        }
        self.event_time_from_base_ms
            .push(event.event_time_ms.wrapping_sub(self.event_time_base_ms));
        self.advertiser_id.push(event.advertiser_id);
        self.campaign_in_advertiser.push(
            event
                .campaign_id
                .wrapping_sub(event.advertiser_id.wrapping_mul(CAMPAIGN_ID_STRIDE)),
        );
        self.creative_in_campaign.push(
            event
                .creative_id
                .wrapping_sub(event.campaign_id.wrapping_mul(CREATIVE_ID_STRIDE)),
        );
        self.slot_id.push(event.slot_id);
        self.region_id.push(event.region_id);
        self.kind.push(event.kind as i64);
        self.cost_micros.push(event.cost_micros);
        self.gmv_micros.push(event.gmv_micros);
        self.produced_ms.push(produced_ms);
    }

    /// Events produced (the largest event id).
    pub fn len(&self) -> usize {
        self.kind.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The event with id `index + 1`; panics past the last.
    pub fn at(&self, index: usize) -> AdEvent {
        let (chunk, offset) = (index / CHUNK_LEN, index % CHUNK_LEN);
        // The last chunk may still grow: it is read value by value.
        if chunk + 1 >= self.kind.chunk_count() {
            return self.event_of(index, self.columns().map(|column| column.get(index)));
        }
        let mut looked_up = self.looked_up.borrow_mut();
        match looked_up.iter().position(|(held, _)| *held == chunk) {
            Some(last) if last + 1 == looked_up.len() => {}
            Some(earlier) => {
                let entry = looked_up.remove(earlier);
                looked_up.push(entry);
            }
            None => {
                if looked_up.len() == LOOKED_UP_CHUNKS_MAX {
                    looked_up.remove(0);
                }
                looked_up.push((chunk, self.columns().map(|c| c.chunk_values(chunk))));
            }
        }
        let (_, values) = looked_up.last().expect("just held");
        self.event_of(index, std::array::from_fn(|c| values[c][offset]))
    }

    /// The columns an event is read from, in the order [`Self::event_of`] takes their values.
    fn columns(&self) -> [&Column; 9] {
        [
            &self.event_time_from_base_ms,
            &self.advertiser_id,
            &self.campaign_in_advertiser,
            &self.creative_in_campaign,
            &self.slot_id,
            &self.region_id,
            &self.kind,
            &self.cost_micros,
            &self.gmv_micros,
        ]
    }

    /// The event with id `index + 1` from its values in the columns of [`Self::columns`].
    fn event_of(&self, index: usize, values: [i64; 9]) -> AdEvent {
        let [
            event_time_from_base_ms,
            advertiser_id,
            campaign_in_advertiser,
            creative_in_campaign,
            slot_id,
            region_id,
            kind,
            cost_micros,
            gmv_micros,
        ] = values;
        let campaign_id =
            campaign_in_advertiser.wrapping_add(advertiser_id.wrapping_mul(CAMPAIGN_ID_STRIDE));
        AdEvent {
            event_id: index as u64 + 1,
            event_time_ms: self.event_time_of(event_time_from_base_ms),
            advertiser_id,
            campaign_id,
            creative_id: creative_in_campaign
                .wrapping_add(campaign_id.wrapping_mul(CREATIVE_ID_STRIDE)),
            slot_id,
            region_id,
            kind: EventKind::from_code(kind)
                .expect("the truth holds the codes of the kinds it was given"),
            cost_micros,
            gmv_micros,
        }
    }

    /// The event with id `event_id`, if it was produced.
    pub fn event(&self, event_id: u64) -> Option<AdEvent> {
        self.index_of(event_id).map(|index| self.at(index))
    }

    /// The index of the event with id `event_id`, if it was produced.
    fn index_of(&self, event_id: u64) -> Option<usize> {
        let index = usize::try_from(event_id).ok()?.checked_sub(1)?;
        (index < self.len()).then_some(index)
    }

    /// The event time of the event with id `event_id`, if it was produced: one column read, not
    /// the nine of a whole event.
    pub fn event_time_ms(&self, event_id: u64) -> Option<i64> {
        let index = self.index_of(event_id)?;
        Some(self.event_time_of(self.event_time_from_base_ms.get(index)))
    }

    /// An event time from its value in `event_time_from_base_ms` (as `push` stored it).
    fn event_time_of(&self, from_base_ms: i64) -> i64 {
        from_base_ms.wrapping_add(self.event_time_base_ms)
    }

    /// The simulated ms the event with id `index + 1` was produced at; panics past the last.
    pub fn produced_ms_at(&self, index: usize) -> i64 {
        self.produced_ms.get(index)
    }

    /// The simulated ms each event was produced at, in id order.
    pub fn produced_ms(&self) -> impl Iterator<Item = i64> + '_ {
        self.produced_ms.values()
    }

    /// Every event in id order, read a chunk of every column at a time: the checkers' passes
    /// over a long run's truth, whose chunks are mostly in the column files.
    pub fn iter(&self) -> impl Iterator<Item = AdEvent> + '_ {
        let chunks = self.kind.chunk_count();
        (0..chunks).flat_map(move |at| {
            let values = self.columns().map(|column| column.chunk_values(at));
            let len = values[0].len();
            assert!(
                values.iter().all(|column| column.len() == len),
                "the truth's columns grow together, a chunk at a time"
            );
            (0..len).map(move |offset| {
                let index = at * CHUNK_LEN + offset;
                self.event_of(index, std::array::from_fn(|c| values[c][offset]))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u64, wide: i64) -> AdEvent {
        AdEvent {
            event_id: id,
            event_time_ms: 1_762_788_600_000 + id as i64,
            advertiser_id: wide.rotate_left(7),
            campaign_id: wide ^ 0x55,
            creative_id: wide,
            slot_id: 3,
            region_id: 34,
            kind: EventKind::Click,
            cost_micros: -1,
            gmv_micros: 0,
        }
    }

    /// Every field reads back as pushed, before and after a column widens, whatever the ids'
    /// relation (the campaign and creative offsets wrap).
    #[test]
    fn events_read_back_exactly_across_a_widening() {
        let mut truth = GroundTruth::default();
        let values = [5, i64::from(i32::MAX), i64::from(i32::MAX) + 1, i64::MIN, 9];
        for (i, &value) in values.iter().enumerate() {
            truth.push(event(i as u64 + 1, value), i as i64);
        }
        let read: Vec<AdEvent> = truth.iter().collect();
        let pushed: Vec<AdEvent> = (0..values.len())
            .map(|i| event(i as u64 + 1, values[i]))
            .collect();
        assert_eq!(read, pushed);
        assert_eq!(truth.event(0), None);
        assert_eq!(truth.event(6), None);
        assert_eq!(truth.event(3), Some(pushed[2]));
    }

    /// A pass in id order reads a chunk of every column at a time, cold chunks from their
    /// files: it reads what the lookup by index reads, across chunks (8 events under test).
    #[test]
    fn a_pass_in_order_reads_what_the_lookups_read_across_chunks() {
        let mut truth = GroundTruth::default();
        for i in 0..21_i64 {
            truth.push(event(i as u64 + 1, i * i * 1_000_003 - 7), i * 10);
        }
        let looked_up: Vec<AdEvent> = (0..truth.len()).map(|i| truth.at(i)).collect();
        let passed: Vec<AdEvent> = truth.iter().collect();
        assert_eq!(passed.len(), 21);
        assert_eq!(passed, looked_up);
        // Looked up in any order, across more chunks than the lookups keep: the same events.
        let hopping = [0, 20, 9, 1, 17, 8, 16, 2, 12, 19, 0, 7];
        for index in hopping.into_iter().chain((0..21).rev()) {
            assert_eq!(truth.at(index), passed[index], "event index {index}");
        }
        let produced: Vec<i64> = truth.produced_ms().collect();
        assert_eq!(produced, (0..21).map(|i| i * 10).collect::<Vec<_>>());
    }

    /// Event times far before or after the first event's (past 32 bits of distance) read back.
    #[test]
    fn event_times_read_back_exactly_at_any_distance_from_the_first() {
        let mut truth = GroundTruth::default();
        let times = [
            1_762_788_600_000,
            1_762_788_600_000 - (1 << 40),
            i64::MAX,
            i64::MIN,
            0,
        ];
        for (i, &time) in times.iter().enumerate() {
            let mut pushed = event(i as u64 + 1, 1);
            pushed.event_time_ms = time;
            truth.push(pushed, 0);
        }
        let read: Vec<i64> = truth.iter().map(|e| e.event_time_ms).collect();
        assert_eq!(read, times);
    }
}
