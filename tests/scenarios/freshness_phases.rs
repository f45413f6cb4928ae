//! The freshness SLA holds in every traffic phase: a run whose whole-run p99 meets the SLA but
//! one phase's p99 does not must fail, naming the phase.

use crate::common;

use sim::scenario::Millis;

#[test]
fn a_phase_above_the_sla_fails_even_when_the_whole_run_meets_it() {
    // Smoke with a short, steep spike: few peak events, so the phases' p99s spread.
    let mut scenario = common::scenario("smoke");
    scenario.traffic.spikes[0].peak = Millis(2_000);
    scenario.traffic.spikes[0].multiple = 30.0;
    let measured = sim::run(scenario.clone(), 1).checks.freshness;
    let worst = measured.phases.iter().max_by_key(|p| p.p99_ms).unwrap();
    assert!(
        worst.p99_ms > measured.p99_ms + 100,
        "the test needs a phase well above the whole run: {measured:?}"
    );
    scenario.sla.freshness_p99 = Some(Millis((worst.p99_ms + measured.p99_ms) / 2));
    let checked = sim::run(scenario, 1).checks.freshness;
    let messages: Vec<&str> = checked
        .violations
        .iter()
        .filter(|v| v.checker == sim::CheckerName::Freshness)
        .map(|v| v.message.as_str())
        .collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].contains(&format!("in the {} phase", worst.phase.name())),
        "{messages:?}"
    );
}
