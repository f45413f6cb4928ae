//! Answers from the one storage system: the serving layer's view of DWS, refreshed between
//! slots, and at a slot brought to the latest snapshot if that takes at most `refresh_timeout`
//! (else the query is answered from the view as it stands, and says why).

use std::rc::Rc;
use std::time::Duration;

use warehouse::env::{Clock, Env};
use warehouse::jobs::schemas::{DWS_TABLE_ROOT, dws_schema};
use warehouse::serving::{BudgetController, ServingLayer};

use crate::hosts::open_table;
use crate::hosts::serving::{AnswerSource, SlotOutcome, check_budgets};
use crate::topology::{SERVING, SINGLE};
use crate::world::{SimEnv, World, sim_now_ms};

pub struct ViewSource {
    world: Rc<World>,
    env: SimEnv,
    serving: ServingLayer<SimEnv>,
    refresh_timeout: Duration,
    refresh_interval_ms: i64,
}

impl ViewSource {
    /// Opens the DWS table (retrying until storage answers) and starts an empty view.
    pub async fn open(world: &Rc<World>) -> Self {
        let env = SimEnv::new(SERVING, SINGLE.storage, world);
        let schema = dws_schema(world.scenario.dws.options());
        let dws = open_table(&env, DWS_TABLE_ROOT, schema).await;
        let serving = &world.scenario.serving;
        Self {
            world: world.clone(),
            serving: ServingLayer::new(env.clone(), dws)
                .with_read_parallelism(serving.read_parallelism),
            env,
            refresh_timeout: Duration::from_millis(serving.refresh_timeout.0 as u64),
            refresh_interval_ms: serving.refresh_interval.0,
        }
    }
}

impl AnswerSource for ViewSource {
    /// The view follows DWS in the background, a refresh every `refresh_interval`, each stopped
    /// at the slot so a slow refresh never delays a query.
    async fn idle_until(&mut self, slot_ms: i64) {
        loop {
            let now_ms = sim_now_ms();
            if now_ms >= slot_ms {
                return;
            }
            let idle = Duration::from_millis((slot_ms - now_ms) as u64);
            let _ = tokio::time::timeout(idle, self.serving.refresh()).await;
            let now_ms = sim_now_ms();
            let next_poll_ms = (now_ms + self.refresh_interval_ms).min(slot_ms);
            tokio::time::sleep(Duration::from_millis((next_poll_ms - now_ms).max(0) as u64)).await;
        }
    }

    /// The latest snapshot if the view reaches it within `refresh_timeout`, else the view as
    /// it stands (refresh is cancel-safe).
    async fn answer(&mut self, advertiser: i64, window_minutes: i64) -> SlotOutcome {
        let timeout = self.refresh_timeout;
        let refresh_outcome = match tokio::time::timeout(timeout, self.serving.refresh()).await {
            Ok(Ok(_)) => None,
            Ok(Err(error)) => Some(format!("refresh failed: {error}")),
            Err(_) => Some(format!(
                "refresh still running after {} ms",
                timeout.as_millis()
            )),
        };
        match self.serving.answer_from_view(advertiser, window_minutes) {
            Some(answer) => SlotOutcome::Answered {
                staleness_ms: self.env.clock().now_millis() - answer.snapshot_time_ms,
                answer,
                storage: None,
                from_view: refresh_outcome,
            },
            None => match refresh_outcome {
                Some(why) => SlotOutcome::Failed(why),
                None => SlotOutcome::Empty,
            },
        }
    }

    async fn check_budgets(&mut self, controller: &mut BudgetController) {
        check_budgets(&self.world, controller, &mut self.serving).await;
    }
}
