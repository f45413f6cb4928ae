//! The checkers' own rules, written from the specification, not imported from the warehouse:
//! which events the DWD job's cleaning keeps, how DWS aggregates them, and a percentile.

use warehouse::event::{AdEvent, EVENT_FIELD_NAMES, EventKind};

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
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    *values
        .select_nth_unstable(rank.clamp(1, values.len()) - 1)
        .1
}
