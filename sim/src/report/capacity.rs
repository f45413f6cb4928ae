//! Capacity report for planners: how busy each job host was and with which operator, and, when a
//! job saturates (backpressure: TT lag and DWS staleness grow), which operator is the bottleneck
//! and by how much the demand exceeds what the job can process.

use std::collections::BTreeMap;

use serde::Serialize;

use warehouse::env::CostOperator;

use crate::world::{BUSY_WINDOW_MS, BusyMeter, BusyWindow};

/// A window counts as saturated when its host was busy at least this share of it.
pub const SATURATED_BUSY_PCT: f64 = 90.0;

/// The job hosts and the operator through which each one's input enters.
const JOB_INPUTS: [(&str, CostOperator); 2] = [
    ("dwd-job", CostOperator::OdsToDwd),
    ("dws-job", CostOperator::DwdToDws),
];

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CapacityReport {
    pub window_s: f64,
    pub hosts: Vec<HostLoad>,
    /// The saturated job host with the most saturated windows, and its heaviest operator.
    pub bottleneck: Option<Bottleneck>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HostLoad {
    pub host: String,
    pub busy_s: f64,
    pub peak_busy_pct: f64,
    pub peak_window_start_s: f64,
    pub saturated_windows: usize,
    pub operators: Vec<OperatorLoad>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OperatorLoad {
    pub operator: String,
    pub busy_s: f64,
    pub records: u64,
    /// Share of the host's busy time spent in this operator.
    pub busy_share_pct: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bottleneck {
    pub host: String,
    pub operator: String,
    /// Share of the host's busy time in its saturated windows spent in `operator`.
    pub operator_share_pct: f64,
    pub saturated_windows: usize,
    pub first_saturated_s: f64,
    /// Peak events produced per second (best window) up to the last saturated window.
    pub demand_events_per_s: f64,
    /// Input records the host processed per busy second over the run: what it can sustain.
    pub capacity_records_per_s: f64,
    /// Demand over capacity: how much more the job would need to keep up.
    pub overload_ratio: f64,
}

impl CapacityReport {
    /// Builds the report from the metered work (in represented records) and the simulated
    /// production times of events, each standing for `represents` production events.
    pub fn build(
        meter: &BusyMeter,
        produced_ms: impl Iterator<Item = i64>,
        represents: u64,
    ) -> Self {
        let window_ns = BUSY_WINDOW_MS as f64 * 1e6;
        let mut produced_per_window: BTreeMap<i64, u64> = BTreeMap::new();
        for ms in produced_ms {
            *produced_per_window
                .entry(ms.div_euclid(BUSY_WINDOW_MS))
                .or_default() += represents;
        }
        let mut by_host: BTreeMap<&str, BTreeMap<&str, &BTreeMap<i64, BusyWindow>>> =
            BTreeMap::new();
        for ((host, operator), windows) in &meter.windows {
            by_host
                .entry(host)
                .or_default()
                .insert(operator.name(), windows);
        }
        let mut hosts = Vec::new();
        let mut bottleneck: Option<Bottleneck> = None;
        for (host, operators) in &by_host {
            let mut host_windows: BTreeMap<i64, f64> = BTreeMap::new();
            for windows in operators.values() {
                for (&index, window) in windows.iter() {
                    *host_windows.entry(index).or_default() += window.busy_ns;
                }
            }
            let busy_ns: f64 = host_windows.values().sum();
            let (peak_index, peak_ns) = host_windows
                .iter()
                .map(|(&i, &ns)| (i, ns))
                .fold((0, 0.0), |best, w| if w.1 > best.1 { w } else { best });
            let saturated: Vec<i64> = host_windows
                .iter()
                .filter(|(_, ns)| **ns * 100.0 >= SATURATED_BUSY_PCT * window_ns)
                .map(|(&i, _)| i)
                .collect();
            let load = HostLoad {
                host: host.to_string(),
                busy_s: busy_ns / 1e9,
                peak_busy_pct: peak_ns * 100.0 / window_ns,
                peak_window_start_s: (peak_index * BUSY_WINDOW_MS) as f64 / 1e3,
                saturated_windows: saturated.len(),
                operators: operators
                    .iter()
                    .map(|(operator, windows)| {
                        let op_ns: f64 = windows.values().map(|w| w.busy_ns).sum();
                        OperatorLoad {
                            operator: operator.to_string(),
                            busy_s: op_ns / 1e9,
                            records: windows.values().map(|w| w.records).sum(),
                            busy_share_pct: op_ns * 100.0 / busy_ns.max(1.0),
                        }
                    })
                    .collect(),
            };
            let input = JOB_INPUTS
                .iter()
                .find(|(h, _)| h == host)
                .map(|(_, op)| *op);
            if let (Some(input), false) = (input, saturated.is_empty()) {
                let candidate = Self::bottleneck_of(
                    host,
                    input.name(),
                    operators,
                    &saturated,
                    &produced_per_window,
                );
                let worse = bottleneck
                    .as_ref()
                    .is_none_or(|b| candidate.saturated_windows > b.saturated_windows);
                if worse {
                    bottleneck = Some(candidate);
                }
            }
            hosts.push(load);
        }
        Self {
            window_s: BUSY_WINDOW_MS as f64 / 1e3,
            hosts,
            bottleneck,
        }
    }

    fn bottleneck_of(
        host: &str,
        input: &str,
        operators: &BTreeMap<&str, &BTreeMap<i64, BusyWindow>>,
        saturated: &[i64],
        produced_per_window: &BTreeMap<i64, u64>,
    ) -> Bottleneck {
        let in_saturated = |windows: &BTreeMap<i64, BusyWindow>| {
            saturated
                .iter()
                .filter_map(|i| windows.get(i))
                .fold((0.0, 0u64), |(ns, r), w| (ns + w.busy_ns, r + w.records))
        };
        let mut busy_ns = 0.0;
        let mut heaviest = ("", 0.0);
        for (operator, windows) in operators {
            let (ns, _) = in_saturated(windows);
            busy_ns += ns;
            if ns > heaviest.1 {
                heaviest = (operator, ns);
            }
        }
        // The job's sustainable rate: input records per busy second over the whole run (its
        // per-record work barely changes); the demand: the highest production rate up to the
        // last saturated window (a backlog may keep the job saturated after the peak).
        let input_records: u64 = operators
            .get(input)
            .map_or(0, |w| w.values().map(|w| w.records).sum());
        let total_busy_ns: f64 = operators
            .values()
            .flat_map(|w| w.values())
            .map(|w| w.busy_ns)
            .sum();
        let last_saturated = *saturated.last().expect("called with saturated windows");
        let peak_produced = produced_per_window
            .range(..=last_saturated)
            .map(|(_, &n)| n)
            .max()
            .unwrap_or(0);
        let demand = peak_produced as f64 * 1e3 / BUSY_WINDOW_MS as f64;
        let capacity = input_records as f64 / (total_busy_ns / 1e9).max(1e-9);
        Bottleneck {
            host: host.to_string(),
            operator: heaviest.0.to_string(),
            operator_share_pct: heaviest.1 * 100.0 / busy_ns.max(1.0),
            saturated_windows: saturated.len(),
            first_saturated_s: (saturated[0] * BUSY_WINDOW_MS) as f64 / 1e3,
            demand_events_per_s: demand,
            capacity_records_per_s: capacity,
            overload_ratio: demand / capacity.max(1e-9),
        }
    }

    /// One or two lines for the run summary.
    pub fn render(&self) -> Vec<String> {
        let busiest = self
            .hosts
            .iter()
            .filter(|h| JOB_INPUTS.iter().any(|(job, _)| *job == h.host))
            .map(|h| {
                format!(
                    "{} busy {:.1} s, peak {:.0}% at {:.0}-{:.0} s",
                    h.host,
                    h.busy_s,
                    h.peak_busy_pct,
                    h.peak_window_start_s,
                    h.peak_window_start_s + self.window_s
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let mut lines = vec![format!("capacity: {busiest}")];
        lines.push(match &self.bottleneck {
            None => format!(
                "bottleneck: none (no job host was busy >= {SATURATED_BUSY_PCT:.0}% of a {:.0} s window)",
                self.window_s
            ),
            Some(b) => format!(
                "bottleneck: {}/{} ({:.0}% of the host's busy time) saturated {} windows from {:.0} s: peak demand {:.0} events/s vs capacity {:.0} records/s ({:.2}x over)",
                b.host,
                b.operator,
                b.operator_share_pct,
                b.saturated_windows,
                b.first_saturated_s,
                b.demand_events_per_s,
                b.capacity_records_per_s,
                b.overload_ratio
            ),
        });
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter(entries: &[(&'static str, &str, i64, f64, u64)]) -> BusyMeter {
        let mut meter = BusyMeter::default();
        for &(host, operator, window, busy_s, records) in entries {
            meter
                .windows
                .entry((host, CostOperator::parse(operator).expect("an operator")))
                .or_default()
                .insert(
                    window,
                    BusyWindow {
                        busy_ns: busy_s * 1e9,
                        records,
                        core_ns: busy_s * 1e9,
                    },
                );
        }
        meter
    }

    #[test]
    fn a_saturated_job_names_its_heaviest_operator_and_the_overload() {
        // dwd-job: window 1 fully busy (3 s reading, 7 s writing); over the run it read 60k
        // records in 11 busy seconds; 100k events were produced in window 1; dws-job is light.
        let meter = meter(&[
            ("dwd-job", "ods_to_dwd", 0, 1.0, 10_000),
            ("dwd-job", "ods_to_dwd", 1, 3.0, 50_000),
            ("dwd-job", "dwd_writer", 1, 7.0, 40_000),
            ("dws-job", "dwd_to_dws", 1, 2.0, 40_000),
        ]);
        let produced: Vec<i64> = (0..100_000).map(|i| 10_000 + i % 10_000).collect();
        let report = CapacityReport::build(&meter, produced.iter().copied(), 1);
        let b = report.bottleneck.clone().expect("dwd-job saturated");
        assert_eq!(
            (b.host.as_str(), b.operator.as_str()),
            ("dwd-job", "dwd_writer")
        );
        assert_eq!(b.saturated_windows, 1);
        assert!((b.operator_share_pct - 70.0).abs() < 1e-6);
        assert!((b.demand_events_per_s - 10_000.0).abs() < 1e-6);
        assert!((b.capacity_records_per_s - 60_000.0 / 11.0).abs() < 1e-6);
        assert!((b.overload_ratio - 11.0 / 6.0).abs() < 1e-6);
        assert!(report.render()[1].contains("dwd-job/dwd_writer"));
    }

    #[test]
    fn no_saturated_window_names_no_bottleneck() {
        let meter = meter(&[("dwd-job", "ods_to_dwd", 0, 8.9, 10_000)]);
        let report = CapacityReport::build(&meter, std::iter::empty(), 1);
        assert_eq!(report.bottleneck, None);
        assert!(report.render()[1].starts_with("bottleneck: none"));
    }
}
