//! `[tt]`: the message queue's log segments, retention and fetch size.

use serde::Deserialize;
use warehouse::tt::TtConfig;

use crate::scenario::units::Millis;
use crate::scenario::{Invalid, ensure};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtSection {
    #[serde(default = "default_segment_records")]
    pub segment_records: u64,
    /// Time retention of closed segments (Kafka's `retention.ms`).
    #[serde(default)]
    pub retention: Option<Millis>,
    #[serde(default, rename = "retention.bytes")]
    pub retention_bytes: Option<u64>,
    #[serde(default = "default_fetch_max")]
    pub fetch_max_records: u32,
}

impl Default for TtSection {
    fn default() -> Self {
        Self {
            segment_records: default_segment_records(),
            retention: None,
            retention_bytes: None,
            fetch_max_records: default_fetch_max(),
        }
    }
}

fn default_segment_records() -> u64 {
    50_000
}
fn default_fetch_max() -> u32 {
    20_000
}

impl TtSection {
    pub(crate) fn check(&self) -> Result<(), Invalid> {
        ensure(
            (1..=100_000_000).contains(&self.segment_records),
            "tt",
            "segment_records",
            "[tt] segment_records must be between 1 and 100000000",
        )?;
        ensure(
            (1..=1_000_000).contains(&self.fetch_max_records),
            "tt",
            "fetch_max_records",
            "[tt] fetch_max_records must be between 1 and 1000000: a fetch of nothing never moves the consumer",
        )?;
        ensure(
            self.retention.is_none_or(|r| r.0 > 0),
            "tt",
            "retention",
            "[tt] retention must be a positive duration (or left out for none)",
        )?;
        ensure(
            self.retention_bytes.is_none_or(|b| b > 0),
            "tt",
            "retention.bytes",
            "[tt] retention.bytes must be positive (or left out for none)",
        )
    }

    /// The broker's configuration for a topic of `partitions` partitions.
    pub fn config(&self, partitions: u32) -> TtConfig {
        TtConfig {
            partitions,
            segment_records: self.segment_records,
            retention_ms: self.retention.map(|m| m.0),
            retention_bytes: self.retention_bytes,
            fetch_max_records: self.fetch_max_records,
        }
    }
}
