//! Schemas and locations of the DWD and DWS tables, and the event validation rule of the DWD layer.

use crate::event::{AdEvent, EventKind};
use crate::row::Field;
use crate::table::{TableOptions, TableSchema};

/// Catalog database of the ad warehouse, as a Paimon filesystem catalog lays it out.
pub const DATABASE_DIR: &str = "warehouse/ads.db";
pub const DWD_TABLE_ROOT: &str = "warehouse/ads.db/dwd_ad_events";
pub const DWS_TABLE_ROOT: &str = "warehouse/ads.db/dws_ad_minute";
/// The late-data side table: events that arrived after their minute's allowed lateness.
pub const LATE_TABLE_ROOT: &str = "warehouse/ads.db/dws_late_events";

/// Late-table field order: the event's fields, then the DWS job's watermark when it arrived.
pub const LATE_FIELD_NAMES: [&str; 11] = [
    "event_id",
    "event_time",
    "advertiser_id",
    "campaign_id",
    "creative_id",
    "slot_id",
    "region_id",
    "kind",
    "cost",
    "gmv",
    "watermark",
];

/// DWS field order: the key (advertiser, campaign, minute) then the additive sums.
pub const DWS_FIELD_NAMES: [&str; 8] = [
    "advertiser_id",
    "campaign_id",
    "minute",
    "impressions",
    "clicks",
    "conversions",
    "cost",
    "gmv",
];

pub const MINUTE_MS: i64 = 60_000;

/// The DWD table's partition column, when its options name a `partition.timestamp-formatter`:
/// the event's hour (or day) in the DWD job's time zone, as that formatter spells it.
pub const DWD_PARTITION_FIELD: &str = "hh";

/// The DWD table: the event's fields, keyed by `event_id`. Partitioned exactly when `options`
/// name a `partition.timestamp-formatter`: then a last BIGINT field `hh` holds the event's
/// period, and the primary key is (`event_id`, `hh`), as Paimon requires of partition keys (a
/// duplicate of an event has its event time, so its partition).
pub fn dwd_schema(options: TableOptions) -> TableSchema {
    let partitioned = options.lifecycle.partition_timestamp_formatter.is_some();
    let mut fields = AdEvent::fields();
    let mut primary_keys = vec!["event_id".to_string()];
    let mut partition_keys = Vec::new();
    if partitioned {
        fields.push(Field::bigint(DWD_PARTITION_FIELD));
        primary_keys.push(DWD_PARTITION_FIELD.to_string());
        partition_keys.push(DWD_PARTITION_FIELD.to_string());
    }
    TableSchema {
        fields,
        partition_keys,
        primary_keys,
        options,
    }
}

pub fn dws_schema(options: TableOptions) -> TableSchema {
    TableSchema {
        fields: DWS_FIELD_NAMES.iter().map(|n| Field::bigint(n)).collect(),
        partition_keys: Vec::new(),
        primary_keys: vec![
            "advertiser_id".to_string(),
            "campaign_id".to_string(),
            "minute".to_string(),
        ],
        options,
    }
}

/// The late-data side table: keyed by `event_id`, so a replay after a restore rewrites the same
/// row (exactly-once), one bucket (late events are few).
pub fn late_schema() -> TableSchema {
    let mut fields = AdEvent::fields();
    fields.push(Field::bigint("watermark"));
    TableSchema {
        fields,
        partition_keys: Vec::new(),
        primary_keys: vec!["event_id".to_string()],
        options: TableOptions::default(),
    }
}

/// How an event's arrival relates to its one-minute DWS window, Flink's event-time rule: the
/// window closes when the watermark reaches its last millisecond; an event for a closed window
/// still updates it within `allowed_lateness_ms`, and is too late after that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lateness {
    OnTime,
    /// Its window had closed: it updates an old DWS minute through an upsert.
    Late,
    /// Later than the allowed lateness: it goes to the late-data side table.
    TooLate,
}

/// Classifies an event of `event_time_ms` arriving when the watermark is `watermark_ms`
/// (`None` before the first watermark).
pub fn lateness_of(
    event_time_ms: i64,
    watermark_ms: Option<i64>,
    allowed_lateness_ms: i64,
) -> Lateness {
    let Some(watermark) = watermark_ms else {
        return Lateness::OnTime;
    };
    let window_max_timestamp = minute_of(event_time_ms) + MINUTE_MS - 1;
    if window_max_timestamp.saturating_add(allowed_lateness_ms) <= watermark {
        Lateness::TooLate
    } else if window_max_timestamp <= watermark {
        Lateness::Late
    } else {
        Lateness::OnTime
    }
}

/// Flink's bounded-out-of-orderness watermark over several sources: the smallest per-source
/// maximum event time, minus the bound, minus 1 ms; `None` until every source has seen an event.
pub fn watermark_of(max_event_time_ms: &[i64], out_of_orderness_ms: i64) -> Option<i64> {
    let slowest = *max_event_time_ms.iter().min()?;
    (slowest != i64::MIN).then(|| slowest - out_of_orderness_ms - 1)
}

/// The DWD cleaning rule: ids positive, time positive, money non-negative, and money only where
/// the kind carries it (clicks carry cost, conversions carry GMV).
pub fn is_valid_event(event: &AdEvent) -> bool {
    let ids_ok = event.advertiser_id > 0 && event.campaign_id > 0 && event.event_time_ms > 0;
    let money_ok = event.cost_micros >= 0 && event.gmv_micros >= 0;
    let kind_ok = match event.kind {
        EventKind::Impression => event.cost_micros == 0 && event.gmv_micros == 0,
        EventKind::Click => event.gmv_micros == 0,
        EventKind::Conversion => event.cost_micros == 0,
    };
    ids_ok && money_ok && kind_ok
}

/// Start (epoch ms) of the minute holding `time_ms`.
pub fn minute_of(time_ms: i64) -> i64 {
    time_ms.div_euclid(MINUTE_MS) * MINUTE_MS
}

/// A DWD event's contribution to its DWS row: (key, sums) with sums in DWS field order.
pub fn dws_contribution(event: &AdEvent) -> ([i64; 3], [i64; 5]) {
    let key = [
        event.advertiser_id,
        event.campaign_id,
        minute_of(event.event_time_ms),
    ];
    let sums = [
        i64::from(event.kind == EventKind::Impression),
        i64::from(event.kind == EventKind::Click),
        i64::from(event.kind == EventKind::Conversion),
        event.cost_micros,
        event.gmv_micros,
    ];
    (key, sums)
}
