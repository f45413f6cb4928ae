//! Schemas and locations of the DWD and DWS tables, and the event validation rule of the DWD layer.

use crate::event::{AdEvent, EventKind};
use crate::row::Field;
use crate::table::{TableOptions, TableSchema};

/// Catalog database of the ad warehouse, as a Paimon filesystem catalog lays it out.
pub const DATABASE_DIR: &str = "warehouse/ads.db";
pub const DWD_TABLE_ROOT: &str = "warehouse/ads.db/dwd_ad_events";
pub const DWS_TABLE_ROOT: &str = "warehouse/ads.db/dws_ad_minute";

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

pub fn dwd_schema(options: TableOptions) -> TableSchema {
    TableSchema {
        fields: AdEvent::fields(),
        primary_keys: vec!["event_id".to_string()],
        options,
    }
}

pub fn dws_schema(options: TableOptions) -> TableSchema {
    TableSchema {
        fields: DWS_FIELD_NAMES.iter().map(|n| Field::bigint(n)).collect(),
        primary_keys: vec![
            "advertiser_id".to_string(),
            "campaign_id".to_string(),
            "minute".to_string(),
        ],
        options,
    }
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
