//! `[serving]`: the report queries' grid, the view's refresh, and the budget controller.

use serde::Deserialize;

use crate::scenario::units::{Millis, ms};
use crate::scenario::{Invalid, ensure};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServingSection {
    #[serde(default = "default_query_interval")]
    pub query_interval: Millis,
    #[serde(default = "default_window")]
    pub window_minutes: i64,
    /// Every advertiser's daily budget (spend, micros); the serving host's budget controller
    /// pauses an advertiser once DWS says it spent that today. Absent: no budget control.
    #[serde(default)]
    pub daily_budget_micros: Option<i64>,
    /// How often the budget controller reads DWS.
    #[serde(default = "default_budget_check_interval")]
    pub budget_check_interval: Millis,
    /// From a pause decision until the ad servers stop serving the advertiser.
    #[serde(default = "default_budget_reaction_delay")]
    pub budget_reaction_delay: Millis,
    /// How long a query waits for the view to reach the latest DWS snapshot; past it (or when
    /// storage fails) the query is answered from the view as it stands, and its staleness says
    /// how old that is. Between query slots the view refreshes in the background.
    #[serde(default = "default_refresh_timeout")]
    pub refresh_timeout: Millis,
    /// Between query slots the view looks for a new DWS snapshot this often.
    #[serde(default = "default_refresh_interval")]
    pub refresh_interval: Millis,
    /// Parallel readers of the DWS files a refresh brings in (an OLAP engine's scan threads).
    #[serde(default = "default_read_parallelism")]
    pub read_parallelism: u32,
}

impl Default for ServingSection {
    fn default() -> Self {
        Self {
            query_interval: default_query_interval(),
            read_parallelism: default_read_parallelism(),
            window_minutes: default_window(),
            daily_budget_micros: None,
            budget_check_interval: default_budget_check_interval(),
            budget_reaction_delay: default_budget_reaction_delay(),
            refresh_timeout: default_refresh_timeout(),
            refresh_interval: default_refresh_interval(),
        }
    }
}

fn default_budget_check_interval() -> Millis {
    ms("5s")
}
fn default_read_parallelism() -> u32 {
    1
}

fn default_refresh_interval() -> Millis {
    ms("1s")
}
fn default_refresh_timeout() -> Millis {
    ms("300ms")
}
fn default_budget_reaction_delay() -> Millis {
    ms("2s")
}

fn default_query_interval() -> Millis {
    ms("2s")
}
fn default_window() -> i64 {
    5
}

const SERVING: &str = "serving";

impl ServingSection {
    pub(crate) fn check(&self) -> Result<(), Invalid> {
        ensure(
            (1..=1024).contains(&self.read_parallelism),
            SERVING,
            "read_parallelism",
            format!(
                "[serving] read_parallelism = {} must be between 1 and 1024 parallel readers",
                self.read_parallelism
            ),
        )?;
        ensure(
            self.query_interval.0 >= 10,
            SERVING,
            "query_interval",
            "[serving] query_interval must be at least 10ms: queries arrive on a grid of that step",
        )?;
        ensure(
            (1..=24 * 60).contains(&self.window_minutes),
            SERVING,
            "window_minutes",
            "[serving] window_minutes must be between 1 and 1440 (a day)",
        )?;
        if let Some(budget) = self.daily_budget_micros {
            ensure(
                budget > 0,
                SERVING,
                "daily_budget_micros",
                format!(
                    "[serving] daily_budget_micros = {budget} must be positive (spend in micros, e.g. 50000000000 for 50,000)"
                ),
            )?;
        }
        ensure(
            self.budget_check_interval.0 >= 100,
            SERVING,
            "budget_check_interval",
            "[serving] budget_check_interval must be at least 100ms",
        )?;
        ensure(
            self.refresh_interval.0 >= 1,
            SERVING,
            "refresh_interval",
            "[serving] refresh_interval must be at least 1ms",
        )?;
        ensure(
            self.refresh_timeout.0 >= 1,
            SERVING,
            "refresh_timeout",
            "[serving] refresh_timeout must be at least 1ms",
        )
    }
}
