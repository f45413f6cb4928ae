//! The `serving` host: report queries on a fixed grid of slots (as clients would send them, so a
//! slow answer or a crash shows as missed slots), and the budget controller on its own grid. The
//! slot loop is written once; where answers come from is an [`AnswerSource`]: the one storage
//! system's view (`view`), or two systems with failover between them (`failover`).

pub mod failover;
pub mod store;
pub mod view;

use std::rc::Rc;
use std::time::Duration;

use rand::Rng;
use warehouse::serving::{BudgetController, ReportAnswer, ServingLayer};

use crate::topology::SERVING;
use crate::trace::TraceKind;
use crate::world::{ServedAnswer, SimEnv, World, sim_now_ms};

/// What one query slot gave.
pub(crate) enum SlotOutcome {
    Answered {
        answer: ReportAnswer,
        /// Wall-clock ms between the answer's snapshot and now.
        staleness_ms: i64,
        /// With dual storage: the system that answered, and whether it is the secondary.
        storage: Option<(&'static str, bool)>,
        /// Why the answer came from the view as it stood rather than the latest snapshot.
        from_view: Option<String>,
    },
    /// No table or no snapshot yet.
    Empty,
    Failed(String),
}

/// Where the serving host's answers come from.
pub(crate) trait AnswerSource {
    /// Idle time until the slot at `slot_ms`: keep the view warm, never past the slot.
    async fn idle_until(&mut self, slot_ms: i64);
    /// The answer to one report query, at its slot.
    async fn answer(&mut self, advertiser: i64, window_minutes: i64) -> SlotOutcome;
    /// One budget check against the system answers come from.
    async fn check_budgets(&mut self, controller: &mut BudgetController);
}

/// The serving host of this world: one storage system's view, or failover between two.
pub async fn serving_host(world: Rc<World>) -> turmoil::Result {
    if world.scenario.pipeline.is_tt_era() {
        let source = store::StoreSource::open(&world);
        serve_slots(world, source).await
    } else if world.scenario.storage.dual {
        let source = failover::FailoverSource::start(&world);
        serve_slots(world, source).await
    } else {
        let source = view::ViewSource::open(&world).await;
        serve_slots(world, source).await
    }
}

/// The slot loop: budget checks that fall due before the next slot go first; then idle time;
/// then the slot's query, answered and recorded.
async fn serve_slots(world: Rc<World>, mut source: impl AnswerSource) -> turmoil::Result {
    let mut rng = world.seeds.fork("host/serving");
    let serving = &world.scenario.serving;
    let interval_ms = serving.query_interval.0;
    let window = serving.window_minutes;
    let budget_check_ms = serving.budget_check_interval.0;
    let mut budget = budget_controller(&world);
    let mut next_check_ms = (sim_now_ms() / budget_check_ms + 1) * budget_check_ms;
    loop {
        let now_ms = sim_now_ms();
        let slot_ms = (now_ms / interval_ms + 1) * interval_ms;
        if let Some(controller) = budget.as_mut()
            && next_check_ms < slot_ms
        {
            let wait_ms = (next_check_ms - now_ms).max(0);
            tokio::time::sleep(Duration::from_millis(wait_ms as u64)).await;
            source.check_budgets(controller).await;
            next_check_ms = (sim_now_ms() / budget_check_ms + 1) * budget_check_ms;
            continue;
        }
        source.idle_until(slot_ms).await;
        let advertiser = 1 + rng.random_range(0..i64::from(world.scenario.traffic.advertisers));
        let outcome = source.answer(advertiser, window).await;
        record_slot(&world, slot_ms, advertiser, window, outcome);
    }
}

/// Records a slot's outcome: the answer in the world's ledger of answers, and the trace.
fn record_slot(world: &World, slot_ms: i64, advertiser: i64, window: i64, outcome: SlotOutcome) {
    let (answer, staleness_ms, storage, from_view) = match outcome {
        SlotOutcome::Answered {
            answer,
            staleness_ms,
            storage,
            from_view,
        } => (answer, staleness_ms, storage, from_view),
        SlotOutcome::Empty => {
            let detail = format!("advertiser={advertiser}");
            return world.record(SERVING, TraceKind::QueryEmpty, detail);
        }
        SlotOutcome::Failed(why) => return world.record(SERVING, TraceKind::QueryFailed, why),
    };
    let latency_ms = sim_now_ms() - slot_ms;
    let mut answers = world.observed.answers.borrow_mut();
    assert!(
        answers.last().is_none_or(|last| last.t_ms < slot_ms),
        "serving answers each slot once, in order"
    );
    answers.push(ServedAnswer {
        t_ms: slot_ms,
        snapshot_id: answer.snapshot_id,
        staleness_ms,
        latency_ms,
    });
    drop(answers);
    if let Some((_, true)) = storage {
        world.observed.failover.borrow_mut().answers_from_secondary += 1;
    }
    // With dual storage the trace names the system that answered and how long it took (an
    // answer may come from a hedged second attempt).
    let (storage, latency) = match storage {
        Some((name, _)) => (
            format!(" storage={name}"),
            format!(" latency_ms={latency_ms}"),
        ),
        None => (String::new(), String::new()),
    };
    let from_view = from_view
        .map(|why| format!(" from_view=\"{why}\""))
        .unwrap_or_default();
    world.record(
        SERVING,
        TraceKind::Query,
        format!(
            "advertiser={advertiser} window_min={window}{storage} snapshot={} spend_micros={} clicks={} ctr_ppm={} staleness_ms={staleness_ms}{latency}{from_view}",
            answer.snapshot_id, answer.spend_micros, answer.clicks, answer.ctr_ppm
        ),
    );
}

/// The serving host's budget controller, when the scenario sets daily budgets.
fn budget_controller(world: &World) -> Option<BudgetController> {
    world.scenario.serving.daily_budget_micros.map(|micros| {
        let utc_offset_ms = (world.scenario.traffic.utc_offset_hours * 3_600_000.0) as i64;
        BudgetController::new(micros, utc_offset_ms)
    })
}

/// One budget check through `serving`'s view: pauses found now take effect after the
/// scenario's reaction delay.
async fn check_budgets(
    world: &World,
    controller: &mut BudgetController,
    serving: &mut ServingLayer<SimEnv>,
) {
    match controller.check(serving).await {
        Ok(pauses) => {
            let effective_ms = sim_now_ms() + world.scenario.serving.budget_reaction_delay.0;
            for pause in pauses {
                let key = (pause.advertiser_id, pause.day_start_ms);
                if world.control.budget_pauses.borrow().contains_key(&key) {
                    continue;
                }
                world.record(
                    SERVING,
                    TraceKind::BudgetPause,
                    format!(
                        "advertiser={} dws_spend_micros={} snapshot={} effective_ms={effective_ms}",
                        pause.advertiser_id, pause.dws_spend_micros, pause.snapshot_id
                    ),
                );
                world
                    .control
                    .budget_pauses
                    .borrow_mut()
                    .insert(key, (pause, effective_ms));
            }
        }
        Err(error) => world.record(SERVING, TraceKind::BudgetCheckFailed, error.to_string()),
    }
}
