//! The plan report's charts: cost against freshness with the frontier, freshness per phase,
//! TT backlog, DWS staleness and live files over time, and catch-up against headroom.

use crate::campaign::plan::{ConfigOutcome, PlanRun};
use crate::campaign::plan_report::PlanReport;
use crate::report::svg::{Band, BarChart, Mark, Series, Threshold, XyChart};

impl PlanReport {
    /// The charts with their captions.
    pub(crate) fn charts(&self, runs: &[PlanRun]) -> Vec<(String, String)> {
        let mut charts = Vec::new();
        let sla_s = self.sla.freshness_p99_ms.map(|ms| ms as f64 / 1e3);
        let freshness_threshold = || {
            sla_s.map(|y| Threshold {
                y,
                label: format!("SLA {y:.0} s"),
            })
        };
        // 1. Cost against freshness, with the frontier.
        let point = |c: &ConfigOutcome| (c.usd_per_day, c.freshness_p99_worst_ms as f64 / 1e3);
        let mut frontier: Vec<(f64, f64)> = self
            .configs
            .iter()
            .filter(|c| c.pareto)
            .map(point)
            .collect();
        frontier.sort_by(|a, b| a.0.total_cmp(&b.0));
        let costs: Vec<f64> = self.configs.iter().map(|c| c.usd_per_day).collect();
        let spread = costs.iter().copied().fold(0.0, f64::max)
            / costs
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min)
                .max(1e-9);
        let scatter = XyChart {
            title: "Cost against freshness p99 (worst seed)".into(),
            x_label: "reserved slots, US$ a day".into(),
            y_label: "freshness p99, s".into(),
            series: vec![
                Series {
                    name: "Pareto frontier".into(),
                    points: frontier,
                    mark: Mark::Line,
                },
                Series {
                    name: "meets every SLA".into(),
                    points: self
                        .configs
                        .iter()
                        .filter(|c| c.passed)
                        .map(point)
                        .collect(),
                    mark: Mark::Points,
                },
                Series {
                    name: "fails an SLA".into(),
                    points: self
                        .configs
                        .iter()
                        .filter(|c| !c.passed)
                        .map(point)
                        .collect(),
                    mark: Mark::Points,
                },
            ],
            thresholds: freshness_threshold().into_iter().collect(),
            annotations: self
                .configs
                .iter()
                .filter(|c| {
                    c.pareto
                        || self
                            .recommendation
                            .as_ref()
                            .is_some_and(|r| r.label == c.label)
                })
                .map(|c| {
                    let (x, y) = point(c);
                    (x, y, short_label(&c.label))
                })
                .collect(),
            log_x: spread > 20.0,
            ..XyChart::default()
        };
        charts.push((
            scatter.render(),
            "Each point is a configuration, at its worst seed. The line joins the configurations no other beats on both cost and freshness; the dashed line is the freshness SLA.".to_string(),
        ));
        // 2. Freshness per phase.
        let shown: Vec<&ConfigOutcome> = self.shown_configs();
        let phases = self.phase_names();
        let bars = BarChart {
            title: "Freshness p99 per traffic phase (worst seed)".into(),
            y_label: "freshness p99, s".into(),
            categories: phases.clone(),
            series: shown
                .iter()
                .map(|c| {
                    (
                        short_label(&c.label),
                        phases
                            .iter()
                            .map(|p| {
                                c.phases_worst
                                    .iter()
                                    .find(|(name, _)| name == p)
                                    .map(|(_, ms)| *ms as f64 / 1e3)
                            })
                            .collect(),
                    )
                })
                .collect(),
            thresholds: freshness_threshold().into_iter().collect(),
        };
        charts.push((
            bars.render(),
            format!(
                "Freshness p99 of the events produced in each phase of the traffic, for {} configurations (the frontier, the recommendation and the cheapest failure when there are many).",
                shown.len()
            ),
        ));
        // 3 and 4. TT backlog and DWS staleness over time, recommended against cheapest failing.
        let picked = self.picked_runs(runs);
        if !picked.is_empty() {
            let bands: Vec<Band> = picked[0]
                .1
                .faults
                .iter()
                .map(|f| Band {
                    from_x: f.at_s / 60.0,
                    to_x: f.end_s / 60.0,
                    label: f.label.clone(),
                })
                .collect();
            let backlog = XyChart {
                title: "TT backlog over time (represented records)".into(),
                x_label: "simulated minutes".into(),
                y_label: "records not yet read".into(),
                series: picked
                    .iter()
                    .map(|(name, run)| Series {
                        name: name.clone(),
                        points: run
                            .series
                            .iter()
                            .map(|p| (p.t_s / 60.0, p.tt_backlog_records as f64))
                            .collect(),
                        mark: Mark::Line,
                    })
                    .collect(),
                bands: bands.clone(),
                ..XyChart::default()
            };
            let staleness = XyChart {
                title: "DWS staleness over time (largest per minute)".into(),
                x_label: "simulated minutes".into(),
                y_label: "staleness of answered queries, s".into(),
                series: picked
                    .iter()
                    .map(|(name, run)| Series {
                        name: name.clone(),
                        points: run
                            .series
                            .iter()
                            .filter_map(|p| p.dws_staleness_max_s.map(|s| (p.t_s / 60.0, s)))
                            .collect(),
                        mark: Mark::Line,
                    })
                    .collect(),
                bands: bands.clone(),
                ..XyChart::default()
            };
            let caption = format!(
                "{}, seed {}; shaded: the scenario's faults.",
                picked
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .collect::<Vec<_>>()
                    .join(" against "),
                picked[0].1.seed
            );
            charts.push((backlog.render(), caption.clone()));
            charts.push((staleness.render(), caption.clone()));
            let files = XyChart {
                title: "Live DWD data files in the fullest bucket".into(),
                x_label: "simulated minutes".into(),
                y_label: "files".into(),
                series: picked
                    .iter()
                    .map(|(name, run)| Series {
                        name: name.clone(),
                        points: run
                            .dwd_files_per_bucket
                            .iter()
                            .map(|(t_s, n)| (t_s / 60.0, *n as f64))
                            .collect(),
                        mark: Mark::Line,
                    })
                    .collect(),
                bands,
                ..XyChart::default()
            };
            charts.push((
                files.render(),
                format!("{caption} Compaction keeps the sorted runs of a bucket bounded; a bucket that only grows is one compaction cannot keep up with."),
            ));
        }
        // 5. Catch-up after crashes against headroom.
        let catch_up = XyChart {
            title: "Catch-up after a crash against headroom".into(),
            x_label: "DWD job headroom at peak (100% - peak busy), %".into(),
            y_label: "worst catch-up after a restart, s".into(),
            series: vec![Series {
                name: "configuration".into(),
                points: self
                    .configs
                    .iter()
                    .filter_map(|c| {
                        c.catch_up_worst_s
                            .map(|s| (100.0 - c.dwd_job_peak_utilisation_pct.min(100.0), s))
                    })
                    .collect(),
                mark: Mark::Points,
            }],
            annotations: self
                .configs
                .iter()
                .filter(|c| c.pareto)
                .filter_map(|c| {
                    c.catch_up_worst_s.map(|s| {
                        (
                            100.0 - c.dwd_job_peak_utilisation_pct.min(100.0),
                            s,
                            short_label(&c.label),
                        )
                    })
                })
                .collect(),
            ..XyChart::default()
        };
        charts.push((
            catch_up.render(),
            "How long after a restart every event produced before it was visible in DWS, against how much of its slots' time the DWD job had spare at its busiest: the less headroom, the longer a backlog takes to drain.".to_string(),
        ));
        charts
    }

    /// The configurations the per-phase chart shows: all when few, else the frontier, the
    /// recommendation and the cheapest failure.
    fn shown_configs(&self) -> Vec<&ConfigOutcome> {
        if self.configs.len() <= 8 {
            return self.configs.iter().collect();
        }
        let failing = self.cheapest_failing.as_ref().map(|f| f.0.as_str());
        let recommended = self.recommendation.as_ref().map(|r| r.label.as_str());
        self.configs
            .iter()
            .filter(|c| {
                c.pareto
                    || Some(c.label.as_str()) == failing
                    || Some(c.label.as_str()) == recommended
            })
            .take(8)
            .collect()
    }

    /// The first seed's runs of the recommendation and of the cheapest failing configuration.
    fn picked_runs<'r>(&self, runs: &'r [PlanRun]) -> Vec<(String, &'r PlanRun)> {
        let seed = self.seeds.first().copied();
        let find = |label: &str| {
            runs.iter()
                .filter(|r| r.traffic_multiple == 1.0 && r.config.label() == label)
                .find(|r| Some(r.seed) == seed)
        };
        let mut picked = Vec::new();
        if let Some(r) = &self.recommendation
            && let Some(run) = find(&r.label)
        {
            picked.push((format!("recommended: {}", short_label(&r.label)), run));
        }
        if let Some((label, _)) = &self.cheapest_failing
            && let Some(run) = find(label)
        {
            picked.push((format!("cheapest failing: {}", short_label(label)), run));
        }
        picked
    }
}

/// A configuration's label shortened for legends: well-known long option names abbreviated
/// (`parallelism.default` to `p`, `execution.checkpointing.interval` to `ckpt`), `jobs.` dropped.
pub(crate) fn short_label(label: &str) -> String {
    const SHORT: [(&str, &str); 10] = [
        ("jobs.parallelism.default", "p"),
        ("jobs.dws-job.parallelism", "dws-p"),
        ("jobs.execution.checkpointing.interval", "ckpt"),
        ("jobs.taskmanager.numberOfTaskSlots", "slots"),
        ("jobs.checkpoint-policy=traffic-driven", "policy=traffic"),
        ("jobs.checkpoint-policy", "policy"),
        ("num-sorted-run.compaction-trigger", "trigger"),
        ("jobs.compactor.parallelism", "compactor-p"),
        ("snapshot.time-retained", "retained"),
        ("jobs.", ""),
    ];
    label
        .split(' ')
        .map(|setting| {
            let mut setting = setting.to_string();
            for (long, short) in SHORT {
                if setting.starts_with(long) || setting.contains(long) {
                    setting = setting.replacen(long, short, 1);
                    break;
                }
            }
            setting
        })
        .collect::<Vec<_>>()
        .join(" ")
}
