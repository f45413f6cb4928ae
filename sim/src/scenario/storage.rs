//! `[storage]`: one storage system, or two with serving failing over between them.

use serde::Deserialize;

use crate::scenario::units::{Millis, ms};
use crate::scenario::{Invalid, ensure};

/// `[storage]`: dual storage HA. With `dual = true` the world runs two storage systems, `dfs-a`
/// (primary) and `dfs-b` (secondary), each holding a full DWD/DWS chain fed from the same TT by
/// its own jobs (`dwd-job`/`dws-job` write `dfs-a`, `dwd-job-b`/`dws-job-b` write `dfs-b`), and
/// serving fails over between them. Absent or `dual = false`: the single `dfs` of old.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    #[serde(default)]
    pub dual: bool,
    /// Serving fails over to `dfs-b` when `dfs-a` is unreachable or staler than the staleness
    /// SLA while `dfs-b` is fresher, and fails back. `false` keeps both chains but serves from
    /// `dfs-a` only (the counterfactual).
    #[serde(default = "default_true")]
    pub failover: bool,
    /// A query attempt on one system that takes longer than this fails over to the other.
    #[serde(
        rename = "failover.attempt-timeout",
        default = "default_attempt_timeout"
    )]
    pub attempt_timeout: Millis,
    /// How often serving probes the system it is not reading (keeps its view warm).
    #[serde(rename = "failover.probe-interval", default = "default_probe_interval")]
    pub probe_interval: Millis,
    /// Hysteresis: the primary must answer probes, fresh, for this long before serving fails back.
    #[serde(rename = "failback.hold", default = "default_failback_hold")]
    pub failback_hold: Millis,
}

impl Default for StorageSection {
    fn default() -> Self {
        Self {
            dual: false,
            failover: true,
            attempt_timeout: default_attempt_timeout(),
            probe_interval: default_probe_interval(),
            failback_hold: default_failback_hold(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_attempt_timeout() -> Millis {
    ms("300ms")
}
fn default_probe_interval() -> Millis {
    ms("1s")
}
fn default_failback_hold() -> Millis {
    ms("20s")
}

impl StorageSection {
    /// The checks of a dual-storage world; `query_latency_max` is the SLA's.
    pub(crate) fn check(&self, query_latency_max: Millis) -> Result<(), Invalid> {
        if !self.dual {
            return Ok(());
        }
        let timeout = self.attempt_timeout.0;
        ensure(
            timeout >= 10 && timeout < query_latency_max.0,
            "storage",
            "failover.attempt-timeout",
            format!(
                "[storage] failover.attempt-timeout = {} must be at least 10ms and below [sla] query_latency_max ({query_latency_max}), so a failed attempt still leaves time to answer from the other system",
                self.attempt_timeout
            ),
        )?;
        ensure(
            self.probe_interval.0 >= 100,
            "storage",
            "failover.probe-interval",
            "[storage] failover.probe-interval must be at least 100ms",
        )?;
        ensure(
            self.failback_hold.0 >= self.probe_interval.0,
            "storage",
            "failback.hold",
            format!(
                "[storage] failback.hold = {} must be at least failover.probe-interval ({}): serving fails back only after probes found the primary healthy and fresh for that long",
                self.failback_hold, self.probe_interval
            ),
        )
    }
}
