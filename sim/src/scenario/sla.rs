//! `[sla]`: the promises the checkers hold the warehouse to: freshness, availability,
//! recovery, overspend, and the bounds on files.

use serde::Deserialize;

use crate::scenario::units::{Millis, ms};
use crate::scenario::{Invalid, ensure};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaSection {
    /// Production → visible in a committed DWS snapshot, 99th percentile.
    #[serde(default)]
    pub freshness_p99: Option<Millis>,
    /// Largest share of valid events that may arrive later than the allowed lateness (and so go
    /// to the late-data side table instead of DWS).
    #[serde(default)]
    pub too_late_share_max: Option<f64>,
    /// Minimum share (percent) of report-query slots answered within `query_latency_max` from
    /// a snapshot no staler than `staleness_max`; unchecked when absent.
    #[serde(default)]
    pub availability_pct: Option<f64>,
    #[serde(default = "default_query_latency_max")]
    pub query_latency_max: Millis,
    #[serde(default = "default_staleness_max")]
    pub staleness_max: Millis,
    /// After a crash heals: the longest time until every event produced before the restart is
    /// visible in DWS; unchecked when absent.
    #[serde(default)]
    pub recovery_max: Option<Millis>,
    /// Budget checker: total overspend (ground-truth spend beyond the daily budget, summed over
    /// advertisers and days) as a percentage of the budgets that ran out; unchecked when absent.
    #[serde(default)]
    pub overspend_max_pct: Option<f64>,
    /// The SLA checkers (availability, freshness) judge only the time the scenario's faults
    /// leave them to judge: query slots while serving is crashed or cut off from every storage
    /// system, and events whose way through the pipeline a fault met, are not held against the
    /// warehouse. What `--swarm` runs with; the safety checkers are never relaxed.
    #[serde(default)]
    pub excuse_faults: bool,
    /// Files checker: live data files in one bucket of a table, at any committed snapshot.
    #[serde(default = "default_files_per_bucket_max")]
    pub files_per_bucket_max: usize,
    /// Files checker: a live data file smaller than this is a small file.
    #[serde(default = "default_small_file_bytes")]
    pub small_file_bytes: u64,
    /// Files checker: live small files in one table, at any committed snapshot.
    #[serde(default = "default_small_files_max")]
    pub small_files_max: usize,
}

impl Default for SlaSection {
    fn default() -> Self {
        Self {
            freshness_p99: None,
            too_late_share_max: None,
            availability_pct: None,
            query_latency_max: default_query_latency_max(),
            staleness_max: default_staleness_max(),
            recovery_max: None,
            overspend_max_pct: None,
            excuse_faults: false,
            files_per_bucket_max: default_files_per_bucket_max(),
            small_file_bytes: default_small_file_bytes(),
            small_files_max: default_small_files_max(),
        }
    }
}

fn default_query_latency_max() -> Millis {
    ms("1s")
}
fn default_staleness_max() -> Millis {
    ms("2min")
}
fn default_files_per_bucket_max() -> usize {
    60
}
fn default_small_file_bytes() -> u64 {
    16 * 1024
}
fn default_small_files_max() -> usize {
    200
}

const SLA: &str = "sla";

impl SlaSection {
    pub(crate) fn check(&self) -> Result<(), Invalid> {
        if let Some(pct) = self.overspend_max_pct {
            ensure(
                pct >= 0.0 && pct.is_finite(),
                SLA,
                "overspend_max_pct",
                format!(
                    "[sla] overspend_max_pct = {pct} must be a percentage of at least 0, like 1.0"
                ),
            )?;
        }
        if let Some(pct) = self.availability_pct {
            ensure(
                pct > 0.0 && pct <= 100.0,
                SLA,
                "availability_pct",
                format!(
                    "[sla] availability_pct = {pct} must be a percentage in (0, 100], like 99.9"
                ),
            )?;
        }
        if let Some(share) = self.too_late_share_max {
            ensure(
                (0.0..=1.0).contains(&share),
                SLA,
                "too_late_share_max",
                format!("[sla] too_late_share_max = {share} must be between 0 and 1"),
            )?;
        }
        ensure(
            self.query_latency_max.0 >= 1,
            SLA,
            "query_latency_max",
            "[sla] query_latency_max must be at least 1ms",
        )?;
        ensure(
            self.files_per_bucket_max >= 1,
            SLA,
            "files_per_bucket_max",
            "[sla] files_per_bucket_max must be at least 1",
        )
    }
}
