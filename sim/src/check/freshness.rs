//! The freshness and liveness checker: per event, simulated time from production until a
//! committed DWS snapshot shows it, p50/p99/max over the run and per traffic phase, against the
//! scenario's SLA; and every event visible before the liveness phase ends.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::check::exactly_once::checker::*;
use crate::check::exactly_once::state::*;
use crate::check::spec::*;
use crate::check::{CheckerName, Violation};

#[derive(Debug, Clone, Default, Serialize)]
pub struct FreshnessReport {
    pub events_measured: u64,
    pub events_never_visible: u64,
    pub p50_ms: i64,
    pub p99_ms: i64,
    pub max_ms: i64,
    pub sla_p99_ms: Option<i64>,
    /// Under `[sla] excuse_faults`: events left out of the figures because a fault met them on
    /// their way (see `check::excuse`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_excused: Option<u64>,
    /// Simulated ms after the chaos phase ended when the last event became visible.
    pub converged_after_heal_ms: Option<i64>,
    /// The same figures per traffic phase (by production time), in story order.
    pub phases: Vec<PhaseFreshness>,
    pub violations: Vec<Violation>,
    /// For each simulated second, when the last valid event produced in it became visible in
    /// DWS (`i64::MAX` if one never did, 0 if none was produced): for recovery times.
    #[serde(skip)]
    pub visible_by_produced_s: Vec<i64>,
}

/// Freshness of the events produced in one traffic phase.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseFreshness {
    pub phase: crate::scenario::TrafficPhase,
    pub events_measured: u64,
    pub p50_ms: i64,
    pub p99_ms: i64,
    pub max_ms: i64,
}

pub(crate) fn freshness_report(checker: &Checker, chaos_end_ms: i64) -> FreshnessReport {
    let world = checker.world;
    let truth = &*checker.truth;
    let dwd = &checker.dwd;
    let mut latencies = Histogram::default();
    let mut by_phase: BTreeMap<crate::scenario::TrafficPhase, Histogram> = BTreeMap::new();
    let mut never_visible = 0;
    let excuses = crate::check::excuse::Excuses::of(&world.scenario);
    let mut excused = 0u64;
    let mut last_visible = None;
    let mut visible_by_produced_s: Vec<i64> = Vec::new();
    let mut note_second = |produced_ms: i64, visible_ms: i64| {
        let second = produced_ms.max(0) as usize / 1000;
        if visible_by_produced_s.len() <= second {
            visible_by_produced_s.resize(second + 1, 0);
        }
        visible_by_produced_s[second] = visible_by_produced_s[second].max(visible_ms);
    };
    // The event at index i - 1 is valid when `flags[i]` says so; its visibility is its id's.
    for (i, &flags) in dwd.flags.iter().enumerate().skip(1) {
        if flags & VALID == 0 {
            continue;
        }
        let ix = if dwd.ids_dense {
            Some(i)
        } else {
            dwd.dense(truth.at(i - 1).event_id)
        };
        // Too-late events never reach DWS: they are excluded here and checked in the late table.
        if ix.is_some_and(|ix| dwd.flags[ix] & TOO_LATE != 0) {
            continue;
        }
        match ix.and_then(|ix| dwd.visible.get(ix)) {
            Some(visible) => {
                let produced = truth.produced_ms_at(i - 1);
                note_second(produced, visible);
                last_visible = Some(last_visible.map_or(visible, |t: i64| t.max(visible)));
                if excuses.as_ref().is_some_and(|e| e.event(produced, visible)) {
                    excused += 1;
                    continue;
                }
                latencies.record(visible - produced);
                by_phase
                    .entry(world.scenario.phase_at(produced))
                    .or_default()
                    .record(visible - produced);
            }
            None => {
                never_visible += 1;
                note_second(truth.produced_ms_at(i - 1), i64::MAX);
            }
        }
    }
    let sla_p99_ms = world.scenario.sla.freshness_p99.map(|m| m.0);
    let max_ms = latencies.max();
    let [p50_ms, p99_ms] = latencies.percentiles([50.0, 99.0]);
    let phases: Vec<PhaseFreshness> = by_phase
        .into_iter()
        .map(|(phase, latencies)| {
            let [p50_ms, p99_ms] = latencies.percentiles([50.0, 99.0]);
            PhaseFreshness {
                phase,
                events_measured: latencies.len(),
                max_ms: latencies.max(),
                p99_ms,
                p50_ms,
            }
        })
        .collect();
    let mut violations = Vec::new();
    if let Some(sla) = sla_p99_ms
        && p99_ms > sla
    {
        violations.push(Violation {
            checker: CheckerName::Freshness,
            at: "whole run".into(),
            t_ms: None,
            message: format!(
                "p99 freshness {:.1} s exceeds the SLA of {:.1} s",
                p99_ms as f64 / 1e3,
                sla as f64 / 1e3
            ),
        });
    }
    // The SLA holds in every phase, not only on average: a midnight peak cannot hide in a
    // quiet night's p99.
    if let Some(sla) = sla_p99_ms {
        for phase in phases.iter().filter(|p| p.p99_ms > sla) {
            violations.push(Violation {
                checker: CheckerName::Freshness,
                at: format!("{} phase", phase.phase.name()),
                t_ms: None,
                message: format!(
                    "p99 freshness of the {} events produced in the {} phase is {:.1} s, above the SLA of {:.1} s",
                    phase.events_measured,
                    phase.phase.name(),
                    phase.p99_ms as f64 / 1e3,
                    sla as f64 / 1e3
                ),
            });
        }
    }
    if never_visible > 0 {
        violations.push(Violation {
            checker: CheckerName::Liveness,
            at: "end of run".into(),
            t_ms: None,
            message: format!(
                "{never_visible} valid events never became visible in DWS within the liveness bound"
            ),
        });
    }
    FreshnessReport {
        events_measured: latencies.len(),
        events_never_visible: never_visible,
        p50_ms,
        p99_ms,
        max_ms,
        sla_p99_ms,
        events_excused: excuses.map(|_| excused),
        converged_after_heal_ms: last_visible.map(|t| (t - chaos_end_ms).max(0)),
        phases,
        violations,
        visible_by_produced_s,
    }
}
