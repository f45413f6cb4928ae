//! A plan's report: `plan.json` (every figure), `report.md` (the same as tables) and
//! `report.html` (one self-contained page with SVG charts that opens offline): the
//! recommendation with its margins and headroom, the configurations judged, the Pareto frontier
//! of cost against freshness, and where Paimon's rule of thumb lands.

use std::fmt::Write as _;

use serde::Serialize;

use crate::campaign::plan::{
    Axis, ConfigOutcome, Headroom, PlanRun, RuleOfThumb, cheapest_failing, failing_first, outcomes,
    recommend,
};
use crate::campaign::plan_run::{OPERATIONS_COLUMNS, operations_cells};
use crate::report::resources::{bytes, si};

/// Everything a plan found: what `plan.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub scenario: String,
    /// The scenario as given (file or built-in name), for reproduction lines.
    pub scenario_path: String,
    /// `--set` options applied to every configuration.
    pub base_sets: Vec<String>,
    pub axes: Vec<Axis>,
    pub seeds: Vec<u64>,
    pub represents: u64,
    pub represented_events_per_s_peak: f64,
    pub represented_events_per_s_mean: f64,
    pub sla: SlaTargets,
    pub configs: Vec<ConfigOutcome>,
    /// Configurations refused before running: (label, reason).
    pub invalid: Vec<(String, String)>,
    pub recommendation: Option<Recommendation>,
    /// The cheapest configuration that failed, and why.
    pub cheapest_failing: Option<(String, String)>,
    /// When no configuration passes: the SLA that fails on most of them.
    pub fails_first: Option<String>,
    pub rule_of_thumb: RuleOfThumb,
    /// Where the rule of thumb lands against what the plan measured.
    pub rule_of_thumb_verdict: String,
    pub verdict: String,
    /// A plan over `pipeline.architecture`: the before/after section (Markdown, HTML).
    #[serde(skip)]
    pub before_after: Option<(String, String)>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SlaTargets {
    pub freshness_p99_ms: Option<i64>,
    pub availability_pct: Option<f64>,
    pub overspend_max_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub label: String,
    pub usd_per_day: f64,
    pub reserved_slots: u32,
    pub freshness_p99_worst_ms: i64,
    pub margins: crate::campaign::plan::Margins,
    pub headroom: Option<Headroom>,
    /// One command per seed that reproduces a run of the recommendation.
    pub reproduce: String,
}

/// What `build` needs besides the runs.
pub struct PlanInputs<'a> {
    pub scenario: &'a str,
    pub scenario_path: &'a str,
    pub base_sets: &'a [String],
    pub axes: &'a [Axis],
    pub configs: &'a [crate::campaign::plan::Config],
    pub invalid: &'a [(String, String)],
    pub seeds: &'a [u64],
    pub headroom: Option<Headroom>,
}

impl PlanReport {
    pub fn build(inputs: &PlanInputs, runs: &[PlanRun]) -> Self {
        let judged = outcomes(inputs.configs, runs);
        let grid_runs: Vec<&PlanRun> = runs.iter().filter(|r| r.traffic_multiple == 1.0).collect();
        let first = grid_runs.first();
        let sla = first.map_or_else(SlaTargets::default, |r| SlaTargets {
            freshness_p99_ms: r.freshness_sla_ms,
            availability_pct: r.availability_sla_pct,
            overspend_max_pct: r.overspend_sla_pct,
        });
        let mean = first.map_or(0.0, |r| r.represented_events_per_s_mean);
        let rule = RuleOfThumb::for_rate(mean);
        let recommended = recommend(&judged);
        let seeds_text = match (inputs.seeds.first(), inputs.seeds.last()) {
            (Some(a), Some(b)) if a != b => format!("{a}..{b}"),
            (Some(a), _) => a.to_string(),
            _ => String::new(),
        };
        let sets: String = inputs
            .base_sets
            .iter()
            .map(|s| format!(" --set {s}"))
            .collect();
        let recommendation = recommended.map(|o| Recommendation {
            label: o.label.clone(),
            usd_per_day: o.usd_per_day,
            reserved_slots: o.reserved_slots,
            freshness_p99_worst_ms: o.freshness_p99_worst_ms,
            margins: o.margins.clone(),
            headroom: inputs.headroom.clone(),
            reproduce: format!(
                "dwsim sweep {}{sets}{} --seeds {seeds_text}",
                inputs.scenario_path,
                o.config.set_flags()
            ),
        });
        let failing = cheapest_failing(&judged)
            .map(|o| (o.label.clone(), o.first_failure.clone().unwrap_or_default()));
        let fails_first = if recommended.is_none() {
            failing_first(&judged, runs)
        } else {
            None
        };
        let rule_of_thumb_verdict = rule_verdict(&rule, &judged, recommended);
        let verdict = match (&recommendation, &fails_first) {
            (Some(r), _) => format!(
                "PASS: {} meets every SLA on every seed at ${:.0} a day ({} slots)",
                r.label, r.usd_per_day, r.reserved_slots
            ),
            (None, Some(first)) => {
                format!(
                    "FAIL: no configuration meets every SLA on every seed; fails first: {first}"
                )
            }
            (None, None) => "FAIL: no configuration was run".to_string(),
        };
        Self {
            scenario: inputs.scenario.to_string(),
            scenario_path: inputs.scenario_path.to_string(),
            base_sets: inputs.base_sets.to_vec(),
            axes: inputs.axes.to_vec(),
            seeds: inputs.seeds.to_vec(),
            represents: first.map_or(1, |r| r.represents),
            represented_events_per_s_peak: first.map_or(0.0, |r| r.represented_events_per_s_peak),
            represented_events_per_s_mean: mean,
            sla,
            configs: judged.clone(),
            invalid: inputs.invalid.to_vec(),
            recommendation,
            cheapest_failing: failing,
            fails_first,
            rule_of_thumb: rule,
            rule_of_thumb_verdict,
            verdict,
            before_after: crate::campaign::before_after::BeforeAfter::build(runs)
                .map(|section| (section.markdown(), section.html())),
        }
    }

    pub fn passed(&self) -> bool {
        self.recommendation.is_some()
    }

    /// `report.md`.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Capacity plan: `{}`\n", self.scenario);
        let _ = writeln!(out, "**{}**\n", self.verdict);
        let _ = writeln!(
            out,
            "Scenario `{}`{}; seeds {:?}; each simulated event stands for {} production events: {} events/s at peak, {} on average (represented).\n",
            self.scenario_path,
            self.base_sets
                .iter()
                .map(|s| format!(" --set {s}"))
                .collect::<String>(),
            self.seeds,
            self.represents,
            si(self.represented_events_per_s_peak),
            si(self.represented_events_per_s_mean)
        );
        let _ = writeln!(out, "SLAs: {}\n", self.sla_text());
        if let Some(r) = &self.recommendation {
            let _ = writeln!(out, "## Recommendation\n");
            let _ = writeln!(
                out,
                "`{}`: {} task slots, ${:.2} a day; worst freshness p99 {}.\n",
                r.label,
                r.reserved_slots,
                r.usd_per_day,
                secs(r.freshness_p99_worst_ms)
            );
            let _ = writeln!(
                out,
                "Margins on the worst seed: {}.\n",
                margins_text(&r.margins)
            );
            if let Some(h) = &r.headroom {
                let _ = writeln!(out, "Headroom: {}.\n", headroom_text(h));
            }
            let _ = writeln!(out, "Reproduce: `{}`\n", r.reproduce);
        }
        if let Some((label, why)) = &self.cheapest_failing {
            let _ = writeln!(out, "Cheapest configuration that fails: `{label}`: {why}\n");
        }
        let _ = writeln!(
            out,
            "Paimon's rule of thumb (about 1 GB of a day's data per bucket, sink parallelism = buckets): {} represented events a day x {} B = {} a day, so {} buckets. {}\n",
            si(self.rule_of_thumb.represented_events_per_day),
            self.rule_of_thumb.row_bytes,
            bytes(self.rule_of_thumb.daily_bytes as u64),
            self.rule_of_thumb.buckets,
            self.rule_of_thumb_verdict
        );
        let _ = writeln!(out, "## Configurations\n");
        let _ = writeln!(out, "| {} |", CONFIG_COLUMNS.join(" | "));
        let _ = writeln!(
            out,
            "|---|---|{}",
            "---:|".repeat(CONFIG_COLUMNS.len() - 3) + "---|"
        );
        for c in &self.configs {
            let mut cells = config_cells(c);
            cells[0] = format!("`{}`", cells[0]);
            let _ = writeln!(out, "| {} |", cells.join(" | ").replace('\n', " "));
        }
        if !self.invalid.is_empty() {
            let _ = writeln!(out, "\n## Refused configurations\n");
            for (label, reason) in &self.invalid {
                let _ = writeln!(out, "- `{label}`: {}", reason.replace('\n', " "));
            }
        }
        let _ = writeln!(
            out,
            "\n## Checkpoints, compaction and files (mean over seeds unless worst)\n"
        );
        let _ = writeln!(out, "| {} |", OPERATIONS_COLUMNS.join(" | "));
        let _ = writeln!(out, "|---|{}", "---:|".repeat(OPERATIONS_COLUMNS.len() - 1));
        for c in &self.configs {
            let mut cells = operations_cells(&c.label, &c.operations, c.busy_core_hours);
            cells[0] = format!("`{}`", cells[0]);
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        let _ = writeln!(out, "\n## Freshness p99 per traffic phase (worst seed)\n");
        let phases = self.phase_names();
        let _ = writeln!(out, "| configuration | {} |", phases.join(" | "));
        let _ = writeln!(out, "|---|{}", "---:|".repeat(phases.len()));
        for c in &self.configs {
            let cells: Vec<String> = phases
                .iter()
                .map(|p| {
                    c.phases_worst
                        .iter()
                        .find(|(name, _)| name == p)
                        .map_or("-".to_string(), |(_, ms)| secs(*ms))
                })
                .collect();
            let _ = writeln!(out, "| `{}` | {} |", c.label, cells.join(" | "));
        }
        if let Some((markdown, _)) = &self.before_after {
            out.push_str(markdown);
        }
        out
    }

    pub(crate) fn phase_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for c in &self.configs {
            for (phase, _) in &c.phases_worst {
                if !names.contains(phase) {
                    names.push(phase.clone());
                }
            }
        }
        names
    }

    pub(crate) fn sla_text(&self) -> String {
        let mut parts = Vec::new();
        if let Some(ms) = self.sla.freshness_p99_ms {
            parts.push(format!("freshness p99 <= {}", secs(ms)));
        }
        if let Some(pct) = self.sla.availability_pct {
            parts.push(format!("availability >= {pct}%"));
        }
        if let Some(pct) = self.sla.overspend_max_pct {
            parts.push(format!("budget overspend <= {pct}%"));
        }
        parts.push("exactly-once, files, event time and liveness always".into());
        parts.join("; ")
    }

    /// `report.html`: the Markdown's figures plus the charts, in one offline page.
    pub fn html(&self, runs: &[PlanRun]) -> String {
        let mut out = String::new();
        out.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
        let _ = write!(out, "<title>dwsim plan: {}</title>", escape(&self.scenario));
        out.push_str("<style>body{font-family:sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#222}table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td:first-child,th:first-child{text-align:left}.pass{color:#060;font-weight:bold}.fail{color:#a00;font-weight:bold}figure{margin:18px 0}figcaption{font-size:13px;color:#444;max-width:760px}code{background:#f4f4f4;padding:1px 3px}</style></head><body>");
        let _ = write!(
            out,
            "<h1>Capacity plan: <code>{}</code></h1><p class=\"{}\">{}</p>",
            escape(&self.scenario),
            if self.passed() { "pass" } else { "fail" },
            escape(&self.verdict)
        );
        let _ = write!(
            out,
            "<p>Scenario <code>{}</code>, seeds {:?}. Each simulated event stands for <b>{}</b> production events: <b>{}</b> events/s at peak, {} on average. SLAs: {}.</p>",
            escape(&self.scenario_path),
            self.seeds,
            self.represents,
            si(self.represented_events_per_s_peak),
            si(self.represented_events_per_s_mean),
            escape(&self.sla_text())
        );
        if let Some(r) = &self.recommendation {
            let _ = write!(
                out,
                "<h2>Recommendation</h2><p><code>{}</code>: {} task slots, ${:.2} a day; worst freshness p99 {}. Margins on the worst seed: {}.{}</p><p>Reproduce: <code>{}</code></p>",
                escape(&r.label),
                r.reserved_slots,
                r.usd_per_day,
                secs(r.freshness_p99_worst_ms),
                escape(&margins_text(&r.margins)),
                r.headroom.as_ref().map_or(String::new(), |h| format!(
                    " Headroom: {}.",
                    escape(&headroom_text(h))
                )),
                escape(&r.reproduce)
            );
        }
        if let Some((label, why)) = &self.cheapest_failing {
            let _ = write!(
                out,
                "<p>Cheapest configuration that fails: <code>{}</code>: {}</p>",
                escape(label),
                escape(why)
            );
        }
        let _ = write!(
            out,
            "<p>Paimon's rule of thumb (about 1 GB of a day's data per bucket, sink parallelism = buckets): {} events a day x {} B = {} a day, so <b>{}</b> buckets. {}</p>",
            si(self.rule_of_thumb.represented_events_per_day),
            self.rule_of_thumb.row_bytes,
            bytes(self.rule_of_thumb.daily_bytes as u64),
            self.rule_of_thumb.buckets,
            escape(&self.rule_of_thumb_verdict)
        );
        for (chart, caption) in self.charts(runs) {
            let _ = write!(
                out,
                "<figure>{chart}<figcaption>{}</figcaption></figure>",
                escape(&caption)
            );
        }
        // The tables, from the Markdown's rows.
        out.push_str("<h2>Configurations</h2><table><tr>");
        for column in CONFIG_COLUMNS {
            let _ = write!(out, "<th>{column}</th>");
        }
        out.push_str("</tr>");
        for c in &self.configs {
            let class = if c.passed { "pass" } else { "fail" };
            out.push_str("<tr>");
            for (i, cell) in config_cells(c).iter().enumerate() {
                match i {
                    0 => {
                        let _ = write!(out, "<td><code>{}</code></td>", escape(cell));
                    }
                    1 => {
                        let _ = write!(out, "<td class=\"{class}\">{}</td>", escape(cell));
                    }
                    _ => {
                        let _ = write!(out, "<td>{}</td>", escape(cell));
                    }
                }
            }
            out.push_str("</tr>");
        }
        out.push_str("</table>");
        out.push_str(
            "<h2>Checkpoints, compaction and files</h2><p>Means over seeds, except the worst seed where a column says so.</p><table><tr>",
        );
        for column in OPERATIONS_COLUMNS {
            let _ = write!(out, "<th>{column}</th>");
        }
        out.push_str("</tr>");
        for c in &self.configs {
            out.push_str("<tr>");
            for (i, cell) in operations_cells(&c.label, &c.operations, c.busy_core_hours)
                .iter()
                .enumerate()
            {
                if i == 0 {
                    let _ = write!(out, "<td><code>{}</code></td>", escape(cell));
                } else {
                    let _ = write!(out, "<td>{}</td>", escape(cell));
                }
            }
            out.push_str("</tr>");
        }
        out.push_str("</table>");
        if !self.invalid.is_empty() {
            out.push_str("<h2>Refused configurations</h2><ul>");
            for (label, reason) in &self.invalid {
                let _ = write!(
                    out,
                    "<li><code>{}</code>: {}</li>",
                    escape(label),
                    escape(reason)
                );
            }
            out.push_str("</ul>");
        }
        if let Some((_, html)) = &self.before_after {
            out.push_str(html);
        }
        out.push_str("</body></html>\n");
        out
    }
}

/// The columns of the configurations table, in both report formats.
const CONFIG_COLUMNS: [&str; 12] = [
    "configuration",
    "verdict",
    "slots",
    "$/day",
    "freshness p99 (worst)",
    "availability (worst)",
    "overspend (worst)",
    "catch-up (worst)",
    "DWD peak busy",
    "TT backlog peak",
    "DWD files/bucket",
    "frontier",
];

/// One configuration's row of the configurations table, as plain text cells.
fn config_cells(c: &ConfigOutcome) -> Vec<String> {
    let verdict = if c.passed {
        "PASS".to_string()
    } else {
        format!(
            "FAIL (seeds {:?}): {}",
            c.seeds_failed,
            c.first_failure.as_deref().unwrap_or("").replace('|', "/")
        )
    };
    vec![
        c.label.clone(),
        verdict,
        c.reserved_slots.to_string(),
        format!("{:.2}", c.usd_per_day),
        secs(c.freshness_p99_worst_ms),
        format!("{:.3}%", c.availability_worst_pct),
        c.overspend_worst_pct
            .map_or("-".to_string(), |o| format!("{o:.1}%")),
        c.catch_up_worst_s
            .map_or("-".to_string(), |s| format!("{s:.0} s")),
        format!("{:.0}%", c.dwd_job_peak_utilisation_pct),
        si(c.tt_backlog_peak_records as f64),
        c.dwd_max_files_per_bucket.to_string(),
        if c.pareto { "yes" } else { "" }.to_string(),
    ]
}

fn rule_verdict(
    rule: &RuleOfThumb,
    judged: &[ConfigOutcome],
    recommended: Option<&ConfigOutcome>,
) -> String {
    let bucket_of = |c: &ConfigOutcome| {
        c.config
            .settings
            .iter()
            .find(|(k, _)| k == "dwd.bucket")
            .and_then(|(_, v)| v.parse::<u64>().ok())
    };
    let Some(recommended) = recommended else {
        return "No configuration passed, so the rule cannot be set against a recommendation."
            .to_string();
    };
    match bucket_of(recommended) {
        Some(buckets) => {
            let nearest = judged
                .iter()
                .filter_map(|c| bucket_of(c).map(|b| (b.abs_diff(rule.buckets), c)))
                .min_by_key(|(d, _)| *d)
                .map(|(_, c)| c);
            let ratio = rule.buckets as f64 / buckets as f64;
            let nearest_text = nearest.map_or(String::new(), |c| {
                format!(
                    " The plan's nearest configuration to the rule, `{}`, {} at ${:.2} a day.",
                    c.label,
                    if c.passed { "passes" } else { "fails" },
                    c.usd_per_day
                )
            });
            format!(
                "The recommendation uses {buckets} DWD buckets: the rule asks for {:.1}x that.{nearest_text}",
                ratio
            )
        }
        None => {
            "The plan did not vary dwd.bucket, so the rule is shown for reference only.".to_string()
        }
    }
}

fn margins_text(m: &crate::campaign::plan::Margins) -> String {
    let mut parts = Vec::new();
    if let Some(ms) = m.freshness_ms {
        parts.push(format!("freshness {} under the SLA", secs(ms)));
    }
    if let Some(pct) = m.availability_pct {
        parts.push(format!("availability {pct:.3} points above"));
    }
    if let Some(pct) = m.overspend_pct {
        parts.push(format!("overspend {pct:.1} points under"));
    }
    if parts.is_empty() {
        "no SLA with a margin is set".to_string()
    } else {
        parts.join(", ")
    }
}

fn headroom_text(h: &Headroom) -> String {
    let tried: Vec<String> = h
        .tried
        .iter()
        .map(|(m, ok)| format!("{m}x {}", if *ok { "passes" } else { "fails" }))
        .collect();
    match h.failed_multiple {
        Some(failed) => format!(
            "sustains {}x the traffic on every seed, fails at {failed}x ({})",
            h.sustained_multiple,
            tried.join(", ")
        ),
        None => format!(
            "sustains at least {}x the traffic on every seed ({})",
            h.sustained_multiple,
            tried.join(", ")
        ),
    }
}

pub(crate) fn secs(ms: i64) -> String {
    format!("{:.1} s", ms as f64 / 1e3)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
