//! Budget checker: recomputes each advertiser's spend per local day from the ground truth (every
//! click served, whatever the warehouse made of it) and reports the overspend beyond the daily
//! budget the serving layer's controller was meant to enforce from DWS.

use std::collections::BTreeMap;

use serde::Serialize;
use warehouse::event::EventKind;

use crate::check::CheckerName;
use crate::check::Violation;
use crate::world::World;

const DAY_MS: i64 = 86_400_000;
/// Advertisers named in the summary, most overspent first.
const WORST_NAMED: usize = 5;

/// One advertiser-day that reached its budget (by the ground truth or by a pause).
#[derive(Debug, Clone, Serialize)]
pub struct AdvertiserBudget {
    pub advertiser_id: i64,
    pub day_start_ms: i64,
    pub spend_micros: i64,
    pub overspend_micros: i64,
    /// Simulated ms of the controller's pause decision, and from when serving stopped.
    pub paused_at_ms: Option<i64>,
    pub serving_stopped_at_ms: Option<i64>,
    /// What DWS said the advertiser had spent when the controller paused it.
    pub dws_spend_at_pause_micros: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BudgetReport {
    pub daily_budget_micros: Option<i64>,
    pub advertisers_paused: u64,
    /// Advertiser-days whose ground-truth spend reached the budget.
    pub budgets_exhausted: u64,
    pub overspend_total_micros: i64,
    /// Overspend as a percentage of the exhausted budgets.
    pub overspend_pct: f64,
    pub sla_overspend_max_pct: Option<f64>,
    /// The most overspent advertiser-days, at most five.
    pub worst: Vec<AdvertiserBudget>,
    pub violations: Vec<Violation>,
}

impl BudgetReport {
    /// No budgets in the scenario: nothing to report.
    pub fn is_off(&self) -> bool {
        self.daily_budget_micros.is_none()
    }

    pub fn render(&self) -> Option<String> {
        let budget = self.daily_budget_micros?;
        let sla = self
            .sla_overspend_max_pct
            .map_or("no SLA set".to_string(), |pct| format!("SLA <= {pct}%"));
        let worst: Vec<String> = self
            .worst
            .iter()
            .filter(|a| a.overspend_micros > 0)
            .map(|a| {
                format!(
                    "advertiser {} +{:.2} ({})",
                    a.advertiser_id,
                    a.overspend_micros as f64 / 1e6,
                    a.paused_at_ms
                        .map_or("never paused".to_string(), |t| format!(
                            "paused at {:.1} s",
                            t as f64 / 1e3
                        ))
                )
            })
            .collect();
        Some(format!(
            "budget: daily budget {:.2} per advertiser; {} advertiser-days exhausted it, {} paused by the controller; overspend {:.2} in total, {:.3}% of the exhausted budgets ({sla}){}",
            budget as f64 / 1e6,
            self.budgets_exhausted,
            self.advertisers_paused,
            self.overspend_total_micros as f64 / 1e6,
            self.overspend_pct,
            if worst.is_empty() {
                String::new()
            } else {
                format!("; most overspent: {}", worst.join(", "))
            }
        ))
    }
}

/// Overspend per advertiser and day from the ground truth, against the scenario's budget.
pub fn check_budgets(world: &World) -> BudgetReport {
    let Some(budget) = world.scenario.serving.daily_budget_micros else {
        return BudgetReport::default();
    };
    let utc_offset_ms = (world.scenario.traffic.utc_offset_hours * 3_600_000.0) as i64;
    let day_of =
        |epoch_ms: i64| (epoch_ms + utc_offset_ms).div_euclid(DAY_MS) * DAY_MS - utc_offset_ms;
    let mut spend: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for event in world.observed.truth.borrow().iter() {
        // The checker's own reading of a billable event: a click with a positive cost.
        if event.kind == EventKind::Click && event.cost_micros > 0 && event.advertiser_id > 0 {
            *spend
                .entry((event.advertiser_id, day_of(event.event_time_ms)))
                .or_default() += event.cost_micros;
        }
    }
    let pauses = world.control.budget_pauses.borrow();
    let mut exhausted: Vec<AdvertiserBudget> = spend
        .iter()
        .filter(|(key, spent)| **spent >= budget || pauses.contains_key(key))
        .map(|(&(advertiser_id, day_start_ms), &spent)| {
            let pause = pauses.get(&(advertiser_id, day_start_ms));
            AdvertiserBudget {
                advertiser_id,
                day_start_ms,
                spend_micros: spent,
                overspend_micros: (spent - budget).max(0),
                paused_at_ms: pause.map(|(p, _)| p.decided_at_ms - world.scenario.run.epoch_ms),
                serving_stopped_at_ms: pause.map(|(_, effective)| *effective),
                dws_spend_at_pause_micros: pause.map(|(p, _)| p.dws_spend_micros),
            }
        })
        .collect();
    let budgets_exhausted = exhausted
        .iter()
        .filter(|a| a.spend_micros >= budget)
        .count() as u64;
    let overspend_total_micros: i64 = exhausted.iter().map(|a| a.overspend_micros).sum();
    let overspend_pct = if budgets_exhausted == 0 {
        0.0
    } else {
        overspend_total_micros as f64 * 100.0 / (budget as f64 * budgets_exhausted as f64)
    };
    let mut violations = Vec::new();
    let sla = world.scenario.sla.overspend_max_pct;
    if let Some(max_pct) = sla
        && overspend_pct > max_pct
    {
        let worst = exhausted
            .iter()
            .max_by_key(|a| (a.overspend_micros, -a.advertiser_id))
            .expect("overspend implies an exhausted budget");
        violations.push(Violation {
            checker: CheckerName::Budget,
            at: "whole run".into(),
            t_ms: worst.paused_at_ms,
            message: format!(
                "advertisers spent {:.2} beyond their daily budgets, {overspend_pct:.3}% of the {budgets_exhausted} exhausted budgets, above the SLA of {max_pct}%; advertiser {} overspent most: {:.2} beyond {:.2} ({})",
                overspend_total_micros as f64 / 1e6,
                worst.advertiser_id,
                worst.overspend_micros as f64 / 1e6,
                budget as f64 / 1e6,
                match (worst.paused_at_ms, worst.dws_spend_at_pause_micros) {
                    (Some(t), Some(dws)) => format!(
                        "paused at {:.1} s when DWS showed {:.2}",
                        t as f64 / 1e3,
                        dws as f64 / 1e6
                    ),
                    _ => "never paused: DWS never showed the budget reached".into(),
                }
            ),
        });
    }
    exhausted.sort_by_key(|a| (std::cmp::Reverse(a.overspend_micros), a.advertiser_id));
    exhausted.truncate(WORST_NAMED);
    BudgetReport {
        daily_budget_micros: Some(budget),
        advertisers_paused: pauses.len() as u64,
        budgets_exhausted,
        overspend_total_micros,
        overspend_pct,
        sla_overspend_max_pct: sla,
        worst: exhausted,
        violations,
    }
}
