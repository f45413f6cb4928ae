//! Time-to-accurate, the figure the architectures are compared on: per (advertiser, campaign,
//! minute) row, the time from the end of the minute until the served value first equals its
//! final ground-truth value and stays so. A row that never does (still wrong at the end) is
//! counted apart. The same figure for both architectures: the lakehouse's rows as its DWS
//! snapshots showed them, the TT era's as each store's writes left them.

use serde::Serialize;

use crate::check::spec::percentile;

/// Time-to-accurate over a run's rows.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TimeToAccurate {
    pub rows_measured: u64,
    /// Rows whose served value was not the ground truth's at the end of the run.
    pub rows_never_accurate: u64,
    pub p50_ms: i64,
    pub p99_ms: i64,
    pub mean_ms: f64,
    pub max_ms: i64,
    /// Per minute of event time (epoch ms of the minute), the mean time-to-accurate of its rows
    /// (ms): the chart of the night.
    pub by_minute: Vec<(i64, f64)>,
}

impl TimeToAccurate {
    /// From each row's minute start and the wall ms since which it has been accurate (`None`
    /// for a row never accurate). A row accurate before its minute ended counts 0.
    pub fn from_rows(rows: impl IntoIterator<Item = (i64, Option<i64>)>) -> Self {
        let mut times = Vec::new();
        let mut never = 0u64;
        let mut by_minute: std::collections::BTreeMap<i64, (f64, u64)> = Default::default();
        for (minute_ms, accurate_since_ms) in rows {
            let Some(since_ms) = accurate_since_ms else {
                never += 1;
                continue;
            };
            let tta_ms = (since_ms - (minute_ms + 60_000)).max(0);
            times.push(tta_ms);
            let bucket = by_minute.entry(minute_ms).or_default();
            bucket.0 += tta_ms as f64;
            bucket.1 += 1;
        }
        let sum: f64 = times.iter().map(|&t| t as f64).sum();
        let count = times.len();
        Self {
            rows_measured: count as u64,
            rows_never_accurate: never,
            mean_ms: if count > 0 { sum / count as f64 } else { 0.0 },
            max_ms: times.iter().copied().max().unwrap_or(0),
            p50_ms: percentile(&mut times, 50.0),
            p99_ms: percentile(&mut times, 99.0),
            by_minute: by_minute
                .into_iter()
                .map(|(minute, (total, n))| (minute, total / n as f64))
                .collect(),
        }
    }

    pub fn render(&self, label: &str) -> String {
        let mins = |ms: f64| format!("{:.1} min", ms / 60_000.0);
        format!(
            "time-to-accurate ({label}; minute end -> served value equals the ground truth for good, {} rows): p50 {}, p99 {}, mean {}, max {}; {} rows never accurate",
            self.rows_measured,
            mins(self.p50_ms as f64),
            mins(self.p99_ms as f64),
            mins(self.mean_ms),
            mins(self.max_ms as f64),
            self.rows_never_accurate
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_count_from_the_end_of_their_minute() {
        let t = TimeToAccurate::from_rows([(0, Some(90_000)), (0, Some(30_000)), (60_000, None)]);
        assert_eq!(t.rows_measured, 2);
        assert_eq!(t.rows_never_accurate, 1);
        assert_eq!(t.max_ms, 30_000);
        assert_eq!(t.mean_ms, 15_000.0);
        assert_eq!(t.by_minute, vec![(0, 15_000.0)]);
    }
}

/// The architecture comparison's figures of one run: how long rows took to be served, and to be
/// served right, and (TT era) the stores' figures.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PipelineFigures {
    pub architecture: String,
    /// Of the rows serving answers from: the lakehouse's DWS, the TT era's report store.
    pub time_to_accurate: TimeToAccurate,
    /// Minute end -> the row's first served value, right or wrong.
    pub time_to_first_value: TimeToAccurate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tt_era: Option<crate::check::tt_era::TtEraReport>,
}

impl PipelineFigures {
    pub fn render(&self) -> Vec<String> {
        let mut lines = vec![
            format!("pipeline: {}", self.architecture),
            format!("  {}", self.time_to_accurate.render("served rows")),
            format!(
                "  row freshness (minute end -> first served value, right or wrong): p50 {:.1} min, p99 {:.1} min, mean {:.1} min",
                self.time_to_first_value.p50_ms as f64 / 60_000.0,
                self.time_to_first_value.p99_ms as f64 / 60_000.0,
                self.time_to_first_value.mean_ms / 60_000.0
            ),
        ];
        if let Some(tt) = &self.tt_era {
            lines.push(format!(
                "  TT era: DWD topic {} records ({} duplicates: at-least-once); batch every {} s, {} s after the period; allowed lateness {} s; {} ground-truth rows",
                tt.dwd_topic_records,
                tt.dwd_topic_duplicates,
                tt.batch_period_ms / 1000,
                tt.batch_delay_ms / 1000,
                tt.allowed_lateness_ms / 1000,
                tt.ground_truth_rows
            ));
            for store in &tt.stores {
                lines.push(format!(
                    "  {}: {} rows at the end ({} wrong); before correction {} rows exact, {} wrong: spend {} micros over, {} under; conversions {} over, {} under; {} events dropped as too late; {}",
                    store.store,
                    store.rows_at_end,
                    store.rows_wrong_at_end,
                    store.realtime_rows_exact,
                    store.realtime_rows_wrong,
                    store.realtime_spend_over_micros,
                    store.realtime_spend_under_micros,
                    store.realtime_conversions_over,
                    store.realtime_conversions_under,
                    store.realtime_events_dropped_too_late,
                    store.time_to_accurate.render("its rows")
                ));
            }
        }
        lines
    }
}
