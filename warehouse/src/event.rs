//! The ODS ad event: what the ad servers log and the traffic source produces into TT, with its
//! fixed-width wire encoding and its row form (the DWD table's schema).

use crate::row::{Field, Row};

/// Kind of an ad event. Clicks carry cost; conversions carry GMV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    Impression = 0,
    Click = 1,
    Conversion = 2,
}

pub const EVENT_KIND_SYMBOLS: [&str; 3] = ["impression", "click", "conversion"];

impl EventKind {
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(Self::Impression),
            1 => Some(Self::Click),
            2 => Some(Self::Conversion),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        EVENT_KIND_SYMBOLS[self as usize]
    }
}

/// One ODS ad event. Money is in integer micros so sums are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AdEvent {
    pub event_id: u64,
    pub event_time_ms: i64,
    pub advertiser_id: i64,
    pub campaign_id: i64,
    pub creative_id: i64,
    pub slot_id: i64,
    pub region_id: i64,
    pub kind: EventKind,
    pub cost_micros: i64,
    pub gmv_micros: i64,
}

/// Field order of the event's row form and of every ODS/DWD file.
pub const EVENT_FIELD_NAMES: [&str; 10] = [
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
];

/// Size of one event on the wire and in TT's log, bytes.
pub const EVENT_WIRE_SIZE_BYTES: usize = 73;

impl AdEvent {
    pub fn fields() -> Vec<Field> {
        EVENT_FIELD_NAMES
            .iter()
            .map(|name| {
                if *name == "kind" {
                    Field::enumeration(name, &EVENT_KIND_SYMBOLS)
                } else {
                    Field::bigint(name)
                }
            })
            .collect()
    }

    pub fn to_row(&self) -> Row {
        self.to_row_then(&[])
    }

    /// [`Self::to_row`] followed by `tail` (a partitioned table's partition columns), allocated
    /// once at its full width.
    pub fn to_row_then(&self, tail: &[i64]) -> Row {
        let mut row = Vec::with_capacity(EVENT_FIELD_NAMES.len() + tail.len());
        row.extend_from_slice(&[
            self.event_id as i64,
            self.event_time_ms,
            self.advertiser_id,
            self.campaign_id,
            self.creative_id,
            self.slot_id,
            self.region_id,
            self.kind as i64,
            self.cost_micros,
            self.gmv_micros,
        ]);
        row.extend_from_slice(tail);
        row
    }

    /// `None` when the row does not hold a valid event (wrong width or unknown kind).
    pub fn from_row(row: &[i64]) -> Option<Self> {
        if row.len() != EVENT_FIELD_NAMES.len() {
            return None;
        }
        Some(Self {
            event_id: row[0] as u64,
            event_time_ms: row[1],
            advertiser_id: row[2],
            campaign_id: row[3],
            creative_id: row[4],
            slot_id: row[5],
            region_id: row[6],
            kind: EventKind::from_code(row[7])?,
            cost_micros: row[8],
            gmv_micros: row[9],
        })
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.event_id.to_le_bytes());
        for value in [
            self.event_time_ms,
            self.advertiser_id,
            self.campaign_id,
            self.creative_id,
            self.slot_id,
            self.region_id,
        ] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.push(self.kind as u8);
        out.extend_from_slice(&self.cost_micros.to_le_bytes());
        out.extend_from_slice(&self.gmv_micros.to_le_bytes());
    }

    /// Decodes one event from exactly `EVENT_WIRE_SIZE_BYTES`; `None` when malformed.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != EVENT_WIRE_SIZE_BYTES {
            return None;
        }
        let word = |i: usize| i64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
        let tail = |at: usize| i64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        Some(Self {
            event_id: word(0) as u64,
            event_time_ms: word(1),
            advertiser_id: word(2),
            campaign_id: word(3),
            creative_id: word(4),
            slot_id: word(5),
            region_id: word(6),
            kind: EventKind::from_code(i64::from(bytes[56]))?,
            cost_micros: tail(57),
            gmv_micros: tail(65),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_and_row_forms_round_trip() {
        let event = AdEvent {
            event_id: u64::MAX - 3,
            event_time_ms: 1_700_000_000_123,
            advertiser_id: 7,
            campaign_id: 70,
            creative_id: 700,
            slot_id: 3,
            region_id: 11,
            kind: EventKind::Click,
            cost_micros: 1_250_000,
            gmv_micros: 0,
        };
        let mut wire = Vec::new();
        event.encode_into(&mut wire);
        assert_eq!(wire.len(), EVENT_WIRE_SIZE_BYTES);
        assert_eq!(AdEvent::decode(&wire), Some(event));
        assert_eq!(AdEvent::from_row(&event.to_row()), Some(event));
        wire[56] = 9;
        assert_eq!(
            AdEvent::decode(&wire),
            None,
            "an unknown kind byte is rejected"
        );
    }
}
