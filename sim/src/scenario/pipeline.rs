//! `[pipeline]`: which warehouse architecture the world runs. `lakehouse` (the default) is the
//! layered Paimon pipeline (ODS → TT → DWD table → DWS table → serving); `tt-era` is the pipeline
//! the seed article migrated away from: DWD kept in a TT topic, each downstream store aggregating
//! it on its own without upserts, and an offline batch job overwriting each store's rows with
//! accurate figures recomputed from ODS some time after each period ends.

use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::scenario::units::{Millis, ms};
use crate::scenario::{Invalid, ensure};

/// The architecture a world simulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Architecture {
    /// Today's Paimon lakehouse (DWD and DWS tables with upserts).
    #[default]
    Lakehouse,
    /// The TT-based warehouse the article started from.
    TtEra,
}

impl Architecture {
    pub const NAMES: [&'static str; 2] = ["lakehouse", "tt-era"];

    pub fn name(self) -> &'static str {
        match self {
            Self::Lakehouse => "lakehouse",
            Self::TtEra => "tt-era",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "lakehouse" => Some(Self::Lakehouse),
            "tt-era" => Some(Self::TtEra),
            _ => None,
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Architecture {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown architecture `{text}`; write \"lakehouse\" (the Paimon pipeline, the default) or \"tt-era\" (DWD in TT, each store aggregating on its own, batch correction)"
            ))
        })
    }
}

/// The most downstream stores a TT-era world runs (one host each).
pub const STORES_MAX: u32 = 3;

/// `[pipeline]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    #[serde(default)]
    pub architecture: Architecture,
    /// TT era: how many downstream stores each aggregate the DWD topic on their own (report
    /// store, BI store, analysis store, in that order).
    #[serde(default = "default_stores")]
    pub stores: u32,
    /// TT era: the offline batch job's period; each period's aggregates are recomputed from ODS.
    #[serde(rename = "batch.period", default = "default_batch_period")]
    pub batch_period: Millis,
    /// TT era: how long after a period ends the batch job recomputes it.
    #[serde(rename = "batch.delay", default = "default_batch_delay")]
    pub batch_delay: Millis,
    /// Whether the scenario has a `[pipeline]` section: summaries then carry the architecture
    /// comparison's figures (absent otherwise, so older summaries keep their shape).
    #[serde(skip_deserializing, default = "declared")]
    pub declared: bool,
}

impl Default for PipelineSection {
    fn default() -> Self {
        Self {
            architecture: Architecture::default(),
            stores: default_stores(),
            batch_period: default_batch_period(),
            batch_delay: default_batch_delay(),
            declared: false,
        }
    }
}

fn declared() -> bool {
    true
}
fn default_stores() -> u32 {
    3
}
fn default_batch_period() -> Millis {
    ms("1h")
}
fn default_batch_delay() -> Millis {
    ms("30min")
}

impl PipelineSection {
    pub fn is_tt_era(&self) -> bool {
        self.architecture == Architecture::TtEra
    }

    pub(crate) fn check(&self) -> Result<(), Invalid> {
        ensure(
            (1..=STORES_MAX).contains(&self.stores),
            "pipeline",
            "stores",
            format!(
                "[pipeline] stores = {} must be between 1 and {STORES_MAX} (report store, BI store, analysis store)",
                self.stores
            ),
        )?;
        ensure(
            self.batch_period.0 >= 60_000 && self.batch_period.0 % 60_000 == 0,
            "pipeline",
            "batch.period",
            format!(
                "[pipeline] batch.period = {} must be a whole number of minutes, at least 1min: the batch job overwrites whole minute rows",
                self.batch_period
            ),
        )?;
        ensure(
            self.batch_delay.0 >= 1_000,
            "pipeline",
            "batch.delay",
            format!(
                "[pipeline] batch.delay = {} must be at least 1s: the batch job reads a period's ODS after the period ends",
                self.batch_delay
            ),
        )
    }

    /// The start (epoch ms, event time) of the batch period holding `t_ms`.
    pub fn period_start_ms(&self, t_ms: i64) -> i64 {
        t_ms.div_euclid(self.batch_period.0) * self.batch_period.0
    }
}
