//! Budget control end to end: the serving layer's controller pauses advertisers from DWS, the ad
//! servers stop showing their ads after the reaction delay, and the budget checker recomputes
//! the overspend from the ground truth and fails a run above the SLA.

use crate::common;

use sim::scenario::Millis;
use warehouse::event::EventKind;

#[test]
fn paused_advertisers_stop_and_overspend_above_the_sla_fails() {
    let mut scenario = common::scenario("smoke");
    scenario.serving.daily_budget_micros = Some(300_000_000);
    let output = sim::run(scenario.clone(), 1);
    let pauses = output
        .simulation
        .world
        .control
        .budget_pauses
        .borrow()
        .clone();
    assert!(pauses.len() >= 2, "{pauses:?}");
    let max_delay_ms = scenario.traffic.max_event_delay.0;
    let truth = output.simulation.world.observed.truth.borrow();
    for ((advertiser, _), (pause, effective_ms)) in &pauses {
        assert!(pause.dws_spend_micros >= 300_000_000);
        // Impressions are logged at most `max_event_delay` after they happen: none may
        // happen once serving stopped.
        let shown_after = truth
            .iter()
            .zip(truth.produced_ms())
            .filter(|(e, produced)| {
                e.advertiser_id == *advertiser
                    && e.kind == EventKind::Impression
                    && *produced > effective_ms + max_delay_ms
            })
            .count();
        assert_eq!(shown_after, 0, "advertiser {advertiser} was still shown");
    }
    drop(truth);
    let summary = sim::Summary::build(&output, "smoke", "test", 1.0);
    assert!(summary.budget.budgets_exhausted >= 2);
    assert!(summary.budget.overspend_total_micros > 0);
    assert!(!summary.failed_checkers.contains(&"budget".to_string()));

    scenario.sla.overspend_max_pct = Some(1.0);
    scenario.serving.budget_reaction_delay = Millis(2_000);
    let output = sim::run(scenario, 1);
    let summary = sim::Summary::build(&output, "smoke", "test", 1.0);
    let violation = summary
        .sla_violations
        .iter()
        .chain(&summary.budget.violations)
        .find(|v| v.checker == sim::CheckerName::Budget)
        .expect("overspend above 1% fails the budget checker");
    assert!(
        violation.message.contains("overspent most"),
        "{}",
        violation.message
    );
    assert!(summary.failed_checkers.contains(&"budget".to_string()));
}

#[test]
fn a_budget_sla_without_budgets_is_refused() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/smoke.toml"))
            .unwrap()
            .replace("[serving]", "[sla]\noverspend_max_pct = 1.0\n\n[serving]");
    let error = sim::scenario::Scenario::parse(&text, "smoke.toml")
        .unwrap_err()
        .to_string();
    assert!(error.contains("daily_budget_micros"), "{error}");
}
