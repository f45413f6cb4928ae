//! `[run]`: how long the chaos and liveness phases last, the simulator's tick and network, and
//! the epoch simulated time starts at.

use serde::Deserialize;

use crate::scenario::units::Millis;
use crate::scenario::{Invalid, ensure};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// turmoil's tick: the simulated time one step advances.
    #[serde(default = "default_tick")]
    pub tick: Millis,
    /// Traffic and faults.
    pub chaos: Millis,
    /// Faults healed, traffic stopped: the warehouse must converge within this bound.
    pub liveness: Millis,
    /// Wall-clock epoch (ms since 1970) of simulated time zero.
    #[serde(default = "default_epoch_ms")]
    pub epoch_ms: i64,
    #[serde(default = "default_latency_min")]
    pub network_latency_min: Millis,
    #[serde(default = "default_latency_max")]
    pub network_latency_max: Millis,
    #[serde(default = "default_rpc_timeout")]
    pub rpc_timeout: Millis,
    /// Flink's fixed-delay restart strategy delay after a job fails over.
    #[serde(default = "default_restart_delay")]
    pub restart_delay: Millis,
    /// FoundationDB's BUGGIFY: each site inside the warehouse is switched on for the run with
    /// probability 1/4 (from the seed), then fires with probability 1/20, in the chaos phase only.
    #[serde(default)]
    pub buggify: bool,
}

/// The latest epoch a run may start at (2200-01-01): wall-clock readings stay far from the
/// limits of an `i64` of milliseconds whatever the run's length and clock skews.
pub const EPOCH_MS_MAX: i64 = 7_258_118_400_000;

fn default_seed() -> u64 {
    1
}
fn default_tick() -> Millis {
    Millis(10)
}
fn default_epoch_ms() -> i64 {
    // 2025-11-10T15:30:00Z: half an hour before Double-11 midnight in China (UTC+8).
    1_762_788_600_000
}
fn default_latency_min() -> Millis {
    Millis(1)
}
fn default_latency_max() -> Millis {
    Millis(5)
}
fn default_rpc_timeout() -> Millis {
    Millis(2_000)
}
fn default_restart_delay() -> Millis {
    Millis(1_000)
}

impl RunSection {
    /// The run's end: chaos then liveness.
    pub fn end(&self) -> Millis {
        Millis(self.chaos.0 + self.liveness.0)
    }

    pub(crate) fn check(&self) -> Result<(), Invalid> {
        const RUN: &str = "run";
        ensure(
            (1..=1000).contains(&self.tick.0),
            RUN,
            "tick",
            format!("[run] tick = {} must be between 1ms and 1s", self.tick),
        )?;
        ensure(
            self.chaos.0 > 0,
            RUN,
            "chaos",
            "[run] chaos and liveness must both be positive durations",
        )?;
        ensure(
            self.liveness.0 > 0,
            RUN,
            "liveness",
            "[run] chaos and liveness must both be positive durations",
        )?;
        ensure(
            self.end().0 <= Millis::MAX.0,
            RUN,
            "liveness",
            format!("[run] chaos + liveness must be at most {}", Millis::MAX),
        )?;
        ensure(
            (0..=EPOCH_MS_MAX).contains(&self.epoch_ms),
            RUN,
            "epoch_ms",
            format!(
                "[run] epoch_ms = {} must be between 0 (1970) and {EPOCH_MS_MAX} (2200), in ms since 1970",
                self.epoch_ms
            ),
        )?;
        ensure(
            self.network_latency_min <= self.network_latency_max,
            RUN,
            "network_latency_min",
            "[run] network_latency_min must not exceed network_latency_max",
        )?;
        ensure(
            self.rpc_timeout.0 >= 10,
            RUN,
            "rpc_timeout",
            "[run] rpc_timeout must be at least 10ms (a call that cannot wait for an answer never succeeds)",
        )?;
        ensure(
            2 * self.network_latency_max.0 < self.rpc_timeout.0,
            RUN,
            "network_latency_max",
            format!(
                "[run] network_latency_max = {} is too long for rpc_timeout = {}: a call's round trip (twice the latency) must fit in the timeout, or no call ever succeeds; lower the latency or raise rpc_timeout",
                self.network_latency_max, self.rpc_timeout
            ),
        )
    }
}
