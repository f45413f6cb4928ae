//! The `traffic` client: ad servers producing ODS events at the scenario's rate shape into TT,
//! retrying until acknowledged (so lost acks append duplicates, as real producers do), and
//! recording every event it produces as the ground truth. Clicks and impressions are logged
//! a little after they happen (out of order within a partition); some clicks are logged minutes
//! late, and a click's conversion is logged later still, with the click's event time (attributed
//! to the click's minute). Late events wait in a bounded queue until their production time.

use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use warehouse::event::{AdEvent, EventKind};
use warehouse::row::stable_hash;
use warehouse::stream::backoff_sleep;
use warehouse::tt::TtClient;

use crate::trace::TraceKind;
use crate::world::truth::{CAMPAIGN_ID_STRIDE, CREATIVE_ID_STRIDE};
use crate::world::{SimTransport, World, sim_now_ms};

/// Largest batch one append carries.
const MAX_BATCH_EVENTS: usize = 20_000;
/// Events waiting for their (late) production time, at most; beyond it they are dropped at source.
const MAX_PENDING_LATE_EVENTS: usize = 2_000_000;

pub fn partition_of(event_id: u64, partitions: u32) -> u32 {
    (stable_hash(&[event_id as i64]) % u64::from(partitions)) as u32
}

struct Generator {
    rng: ChaCha8Rng,
    carry: f64,
    generated_until_ms: i64,
    /// Zipf cumulative weights of advertiser ranks (hot advertisers first).
    advertiser_cdf: Vec<f64>,
    /// Zipf cumulative weights of an advertiser's campaign ranks.
    campaign_cdf: Vec<f64>,
    /// Late clicks and conversions by (production ms, order of scheduling); ids are given at
    /// production, so the ground truth stays in production order.
    pending: BTreeMap<(i64, u64), AdEvent>,
    scheduled: u64,
    /// Stale copies (`[traffic.stale_resends]`) by (send ms, order): ids kept, not ground truth.
    resends: BTreeMap<(i64, u64), AdEvent>,
}

/// Cumulative Zipf weights `1/k^exponent` for ranks 1..=n, normalised to end at 1.
/// Exponent 0 is uniform; around 1 is the usual skew of ad traffic (a few hot advertisers).
pub fn zipf_cdf(n: u32, exponent: f64) -> Vec<f64> {
    let mut total = 0.0;
    let mut cdf: Vec<f64> = (1..=n.max(1))
        .map(|rank| {
            total += 1.0 / f64::from(rank).powf(exponent);
            total
        })
        .collect();
    for weight in &mut cdf {
        *weight /= total;
    }
    cdf
}

/// The 0-based rank a uniform draw in [0, 1) falls on.
fn draw_rank(cdf: &[f64], uniform: f64) -> usize {
    cdf.partition_point(|w| *w <= uniform).min(cdf.len() - 1)
}

impl Generator {
    /// An event happening at `happened_ms` (simulated), logged after a short delay: an impression,
    /// or a click that may be logged late and may lead to a conversion logged later still.
    /// Returns the event if it is logged now; late ones go to `pending`.
    fn event(&mut self, world: &World, event_id: u64, happened_ms: i64) -> Option<AdEvent> {
        let traffic = &world.scenario.traffic;
        let rng = &mut self.rng;
        let advertiser_id = 1 + draw_rank(&self.advertiser_cdf, rng.random::<f64>()) as i64;
        let campaign_id = advertiser_id * CAMPAIGN_ID_STRIDE
            + 1
            + draw_rank(&self.campaign_cdf, rng.random::<f64>()) as i64;
        if world.scenario.serving.daily_budget_micros.is_some()
            && world
                .control
                .budget_paused(advertiser_id, world.scenario.run.epoch_ms, happened_ms)
        {
            // Paused for budget: the ad servers no longer show this advertiser's ads.
            return None;
        }
        let clicked = rng.random_bool(traffic.click_share);
        let converts = clicked && rng.random_bool(traffic.conversion_share_of_clicks);
        let kind = if clicked {
            EventKind::Click
        } else {
            EventKind::Impression
        };
        let delay_ms = rng.random_range(0..=traffic.max_event_delay.0);
        let mut event = AdEvent {
            event_id,
            event_time_ms: world.scenario.run.epoch_ms + happened_ms - delay_ms,
            advertiser_id,
            campaign_id,
            creative_id: campaign_id * CREATIVE_ID_STRIDE + rng.random_range(0..8),
            slot_id: rng.random_range(1..=40),
            region_id: rng.random_range(1..=34),
            kind,
            cost_micros: if clicked {
                rng.random_range(100_000..3_000_000)
            } else {
                0
            },
            gmv_micros: 0,
        };
        if rng.random_bool(traffic.invalid_share) {
            // A malformed log line: negative money. The DWD job must drop it.
            event.cost_micros = -1;
        }
        if converts {
            let conversion = AdEvent {
                kind: EventKind::Conversion,
                cost_micros: 0,
                gmv_micros: rng.random_range(5_000_000..500_000_000),
                ..event
            };
            let delay_ms = traffic.conversion_delay.sample_ms(rng.random::<f64>());
            self.schedule(world, happened_ms + delay_ms, conversion);
        }
        let rng = &mut self.rng;
        if clicked && traffic.late_clicks.share > 0.0 && rng.random_bool(traffic.late_clicks.share)
        {
            let delay_ms = traffic.late_clicks.delay().sample_ms(rng.random::<f64>());
            self.schedule(world, happened_ms + delay_ms, event);
            return None;
        }
        Some(event)
    }

    /// Queues an event to be produced at `produced_ms`, or drops it when the queue is full.
    fn schedule(&mut self, world: &World, produced_ms: i64, event: AdEvent) {
        if self.pending.len() >= MAX_PENDING_LATE_EVENTS {
            world.observed.truth.borrow_mut().dropped_at_source += 1;
            return;
        }
        self.pending.insert((produced_ms, self.scheduled), event);
        self.scheduled += 1;
    }

    /// Generates the events due between the last call and `now_ms`, spread evenly over it.
    fn generate(&mut self, world: &World, now_ms: i64, buffers: &mut [VecDeque<AdEvent>]) {
        let from_ms = self.generated_until_ms;
        if now_ms <= from_ms {
            return;
        }
        let due = world.scenario.rate_at(now_ms) * (now_ms - from_ms) as f64 / 1000.0 + self.carry;
        let count = due.floor() as i64;
        self.carry = due - count as f64;
        let partitions = world.scenario.traffic.partitions;
        let capacity = world.scenario.traffic.producer_buffer_events;
        let mut buffered: usize = buffers.iter().map(VecDeque::len).sum();
        for index in 0..count {
            let produced_ms = from_ms + (now_ms - from_ms) * (index + 1) / count;
            if buffered >= capacity {
                world.observed.truth.borrow_mut().dropped_at_source += 1;
                continue;
            }
            let event_id = world.observed.truth.borrow().len() as u64 + 1;
            if let Some(event) = self.event(world, event_id, produced_ms) {
                produce(world, event, produced_ms, partitions, buffers);
                buffered += 1;
                self.maybe_resend(world, event, produced_ms);
            }
        }
        // Late events whose time has come, in production order.
        while let Some(entry) = self.pending.first_entry() {
            let produced_ms = entry.key().0;
            if produced_ms > now_ms {
                break;
            }
            let mut event = entry.remove();
            if buffered >= capacity {
                world.observed.truth.borrow_mut().dropped_at_source += 1;
                continue;
            }
            event.event_id = world.observed.truth.borrow().len() as u64 + 1;
            produce(world, event, produced_ms, partitions, buffers);
            buffered += 1;
        }
        // Stale copies whose time has come: the same event again, not new ground truth.
        while let Some(entry) = self.resends.first_entry() {
            if entry.key().0 > now_ms {
                break;
            }
            let copy = entry.remove();
            if buffered < capacity {
                buffers[partition_of(copy.event_id, partitions) as usize].push_back(copy);
                buffered += 1;
            }
        }
        self.generated_until_ms = now_ms;
    }

    /// With `[traffic.stale_resends]`: sometimes queues a stale copy of `event`, produced at
    /// `produced_ms`, to be sent again later with an event time from a slow clock. Draws
    /// nothing when the share is 0, so other scenarios replay unchanged.
    fn maybe_resend(&mut self, world: &World, event: AdEvent, produced_ms: i64) {
        let resends = world.scenario.traffic.stale_resends;
        if resends.share <= 0.0 || !self.rng.random_bool(resends.share) {
            return;
        }
        if self.resends.len() >= MAX_PENDING_LATE_EVENTS {
            return;
        }
        let copy = AdEvent {
            event_time_ms: event.event_time_ms - resends.clock_behind.0,
            ..event
        };
        self.resends
            .insert((produced_ms + resends.delay.0, self.scheduled), copy);
        self.scheduled += 1;
    }
}

/// Records `event` (its id the next in the ground truth) and buffers it for its partition.
fn produce(
    world: &World,
    event: AdEvent,
    produced_ms: i64,
    partitions: u32,
    buffers: &mut [VecDeque<AdEvent>],
) {
    world.observed.truth.borrow_mut().push(event, produced_ms);
    buffers[partition_of(event.event_id, partitions) as usize].push_back(event);
}

/// The traffic client's body. Runs until the run ends.
pub async fn traffic_client(world: Rc<World>) -> turmoil::Result {
    let tt = TtClient::new(SimTransport::new(&world));
    let traffic = world.scenario.traffic.clone();
    let mut generator = Generator {
        rng: world.seeds.fork("traffic"),
        carry: 0.0,
        generated_until_ms: 0,
        advertiser_cdf: zipf_cdf(traffic.advertisers, traffic.advertiser_skew),
        campaign_cdf: zipf_cdf(traffic.campaigns_per_advertiser, traffic.advertiser_skew),
        pending: BTreeMap::new(),
        scheduled: 0,
        resends: BTreeMap::new(),
    };
    let mut ack_rng = world.seeds.fork("traffic/acks");
    let mut buffers: Vec<VecDeque<AdEvent>> = vec![VecDeque::new(); traffic.partitions as usize];
    loop {
        if !world.control.traffic_stopped.get() {
            generator.generate(&world, sim_now_ms(), &mut buffers);
        }
        for partition in 0..traffic.partitions {
            let buffer = &mut buffers[partition as usize];
            if buffer.is_empty() {
                continue;
            }
            let take = buffer.len().min(MAX_BATCH_EVENTS);
            let batch: Vec<AdEvent> = buffer.drain(..take).collect();
            send_batch(
                &world,
                &tt,
                &mut ack_rng,
                partition,
                batch,
                traffic.duplicate_batch_share,
            )
            .await;
        }
        tokio::time::sleep(Duration::from_millis(traffic.batch_interval.0 as u64)).await;
    }
}

/// Appends until acknowledged. A lost acknowledgement (network, or the scenario's
/// `duplicate_batch_share`) makes the producer send the batch again: an at-least-once duplicate.
async fn send_batch(
    world: &World,
    tt: &TtClient<SimTransport>,
    ack_rng: &mut ChaCha8Rng,
    partition: u32,
    batch: Vec<AdEvent>,
    duplicate_share: f64,
) {
    world.record(
        "traffic",
        TraceKind::Produce,
        format!(
            "partition={partition} events={} first_event_id={}",
            batch.len(),
            batch[0].event_id
        ),
    );
    let mut attempt = 0;
    let mut ack_lost_once = false;
    loop {
        match tt.append(partition, batch.clone()).await {
            Ok(base_offset) => {
                if !ack_lost_once && ack_rng.random_bool(duplicate_share) {
                    ack_lost_once = true;
                    world.record(
                        "traffic",
                        TraceKind::ProduceAckLost,
                        format!(
                            "partition={partition} base_offset={base_offset} events={}",
                            batch.len()
                        ),
                    );
                    continue;
                }
                return;
            }
            Err(error) => {
                if attempt == 0 {
                    world.record(
                        "traffic",
                        TraceKind::ProduceRetry,
                        format!("partition={partition} error={error}"),
                    );
                }
                backoff_sleep(attempt).await;
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_makes_the_first_ranks_hot_and_zero_is_uniform() {
        let skewed = zipf_cdf(100, 1.1);
        assert!(
            skewed[0] > 0.15,
            "rank 1 takes {:.2} of the traffic",
            skewed[0]
        );
        assert!((skewed[99] - 1.0).abs() < 1e-12);
        let uniform = zipf_cdf(4, 0.0);
        assert_eq!(draw_rank(&uniform, 0.0), 0);
        assert_eq!(draw_rank(&uniform, 0.26), 1);
        assert_eq!(draw_rank(&uniform, 0.999), 3);
    }
}
