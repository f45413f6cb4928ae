//! TT era: serving's answers come from the report store, one query per slot over the network
//! (the store answers from its own rows; there is no snapshot, so an answer's staleness is the
//! time since the store's aggregation last put a row). No budget control: the TT era's world
//! refuses budgets.

use std::time::Duration;

use warehouse::env::{Clock, Env, Transport};
use warehouse::jobs::schemas::{MINUTE_MS, minute_of};
use warehouse::jobs::tt_era::{StoreRequest, StoreResponse};
use warehouse::serving::{BudgetController, ReportAnswer};

use crate::hosts::serving::{AnswerSource, SlotOutcome};
use crate::topology::{SERVING, SINGLE, STORE_HOSTS};
use crate::world::{SimEnv, SimTransport, World, sim_now_ms};

pub(crate) struct StoreSource {
    env: SimEnv,
    transport: SimTransport,
}

impl StoreSource {
    pub(crate) fn open(world: &std::rc::Rc<World>) -> Self {
        Self {
            env: SimEnv::new(SERVING, SINGLE.storage, world),
            transport: SimTransport::new(world),
        }
    }
}

impl AnswerSource for StoreSource {
    async fn idle_until(&mut self, slot_ms: i64) {
        let wait_ms = (slot_ms - sim_now_ms()).max(0) as u64;
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
    }

    async fn answer(&mut self, advertiser: i64, window_minutes: i64) -> SlotOutcome {
        let now_ms = self.env.clock().now_millis();
        let to_ms = minute_of(now_ms) + MINUTE_MS;
        let request = StoreRequest::Query {
            advertiser_id: advertiser,
            from_ms: to_ms - window_minutes * MINUTE_MS,
            to_ms,
        };
        let answer = self.transport.call(STORE_HOSTS[0], request.encode()).await;
        let response = match answer {
            Ok(bytes) => StoreResponse::decode(&bytes),
            Err(error) => return SlotOutcome::Failed(error.to_string()),
        };
        match response {
            Ok(StoreResponse::Sums {
                last_realtime_write_ms: 0,
                ..
            }) => SlotOutcome::Empty,
            Ok(StoreResponse::Sums {
                sums,
                last_realtime_write_ms,
            }) => {
                let (impressions, clicks) = (sums[0], sums[1]);
                SlotOutcome::Answered {
                    answer: ReportAnswer {
                        advertiser_id: advertiser,
                        window_minutes,
                        snapshot_id: 0,
                        snapshot_time_ms: last_realtime_write_ms,
                        impressions,
                        clicks,
                        spend_micros: sums[3],
                        ctr_ppm: if impressions > 0 {
                            clicks * 1_000_000 / impressions
                        } else {
                            0
                        },
                    },
                    staleness_ms: self.env.clock().now_millis() - last_realtime_write_ms,
                    storage: None,
                    from_view: None,
                }
            }
            Ok(other) => SlotOutcome::Failed(format!("report store answered {other:?}")),
            Err(error) => SlotOutcome::Failed(error),
        }
    }

    async fn check_budgets(&mut self, _controller: &mut BudgetController) {}
}
