//! The checkers' own rules, written from the specification, not imported from the warehouse:
//! which events the DWD job's cleaning keeps, how DWS aggregates them, and a percentile.

use warehouse::event::{AdEvent, EVENT_FIELD_NAMES, EventKind};
use warehouse::row::StableHashMap;

/// The checker's own reading of the DWD cleaning rule, written from the spec, not imported.
pub(crate) fn spec_valid(event: &AdEvent) -> bool {
    let positive = event.advertiser_id > 0 && event.campaign_id > 0 && event.event_time_ms > 0;
    let money = event.cost_micros >= 0 && event.gmv_micros >= 0;
    let shape = match event.kind {
        EventKind::Impression => event.cost_micros == 0 && event.gmv_micros == 0,
        EventKind::Click => event.gmv_micros == 0,
        EventKind::Conversion => event.cost_micros == 0,
    };
    positive && money && shape
}

pub(crate) type DwsKey = [i64; 3];
pub(crate) type DwsSums = [i64; 5];
/// A DWD row: the event's fields in `EVENT_FIELD_NAMES` order.
pub(crate) type EventRow = [i64; EVENT_FIELD_NAMES.len()];

/// The checker's own DWS aggregation rule: minute buckets of event time, additive sums.
pub(crate) fn spec_contribution(row: &[i64]) -> (DwsKey, DwsSums) {
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
pub(crate) fn truth_row(event: &AdEvent) -> EventRow {
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
pub(crate) fn same<const N: usize>(a: &[i64; N], b: &[i64; N]) -> bool {
    a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An aggregate as a table holds it: a row whose sums are all zero is no row.
pub(crate) fn present(sums: DwsSums) -> Option<DwsSums> {
    (!same(&sums, &[0; 5])).then_some(sums)
}

/// Percentile by nearest rank; reorders `values` (selection, not a full sort).
pub(crate) fn percentile(values: &mut [i64], p: f64) -> i64 {
    if values.is_empty() {
        return 0;
    }
    let rank = nearest_rank(values.len() as u64, p);
    *values.select_nth_unstable(rank as usize - 1).1
}

/// The 1-based rank of percentile `p` of `n` values (nearest rank; `n` at least 1).
fn nearest_rank(n: u64, p: f64) -> u64 {
    (((p / 100.0) * n as f64).ceil() as u64).clamp(1, n)
}

/// Values by how often each occurs: the percentiles of millions of latencies, exactly those
/// [`percentile`] gives, in memory that grows with the distinct values (milliseconds up to
/// the longest latency), not with the events. Counted in a hash map (a record per event is
/// the hot path) and sorted only when percentiles are asked for.
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    counts: StableHashMap<i64, u64>,
    len: u64,
}

impl Histogram {
    pub fn record(&mut self, value: i64) {
        *self.counts.entry(value).or_insert(0) += 1;
        self.len += 1;
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// The largest value, or 0 of none.
    pub fn max(&self) -> i64 {
        self.counts.keys().copied().max().unwrap_or(0)
    }

    /// Percentiles `ps` by nearest rank, each 0 of no values (as [`percentile`]): the distinct
    /// values are sorted once for all of them.
    pub fn percentiles<const N: usize>(&self, ps: [f64; N]) -> [i64; N] {
        if self.len == 0 {
            return [0; N];
        }
        let mut ascending: Vec<(i64, u64)> = self.counts.iter().map(|(&v, &n)| (v, n)).collect();
        ascending.sort_unstable();
        ps.map(|p| {
            let rank = nearest_rank(self.len, p);
            let mut seen = 0;
            for &(value, count) in &ascending {
                seen += count;
                if seen >= rank {
                    return value;
                }
            }
            unreachable!("the counts add up to len")
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The histogram's percentiles and maximum are exactly those of the values themselves,
        /// with repeats, negatives and single values.
        #[test]
        fn histogram_percentiles_are_the_values_percentiles(
            mut values in proptest::collection::vec(-50i64..5_000, 0..400),
            p in 0.0f64..=100.0,
        ) {
            let mut histogram = Histogram::default();
            for &value in &values {
                histogram.record(value);
            }
            prop_assert_eq!(histogram.len(), values.len() as u64);
            prop_assert_eq!(histogram.max(), values.iter().copied().max().unwrap_or(0));
            let qs = [p, 50.0, 99.0, 100.0];
            let expected = qs.map(|q| percentile(&mut values, q));
            prop_assert_eq!(histogram.percentiles(qs), expected);
        }
    }
}
