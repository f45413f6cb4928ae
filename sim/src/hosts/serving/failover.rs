//! Dual storage HA at the serving layer: with `[storage] dual = true` the serving host keeps a
//! view of the DWS table on each storage system (`dfs-a` primary, `dfs-b` secondary), answers
//! report queries from the one it currently uses, fails over when that one is unreachable (an
//! error, or no answer within `failover.attempt-timeout`) or staler than the staleness SLA while
//! the other holds a newer snapshot, and fails back once the primary has answered background
//! probes, fresh and caught up, for `failback.hold` (hysteresis, so it does not flap). The
//! budget controller reads from whichever system serving uses.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use warehouse::env::{Clock, Env};
use warehouse::jobs::schemas::{DWD_TABLE_ROOT, DWS_TABLE_ROOT, dwd_schema, dws_schema};
use warehouse::serving::{BudgetController, ReportAnswer, ServingLayer};
use warehouse::table::FileStoreTable;

use crate::hosts::open_table;
use crate::hosts::serving::{AnswerSource, SlotOutcome, check_budgets};
use crate::topology::{Chain, PRIMARY, SECONDARY, SERVING};
use crate::trace::TraceKind;
use crate::world::dfs_client::DfsStore;
use crate::world::{SimEnv, World, sim_now_ms};

/// What serving last learnt about one storage system.
#[derive(Debug, Clone, Copy, Default)]
struct Health {
    /// Simulated ms since which every probe or query of it succeeded with a fresh snapshot;
    /// `None` after a failure or a stale answer.
    healthy_since_ms: Option<i64>,
    /// The last attempt on it failed (an error, or no answer in time).
    failed: bool,
    /// Wall-clock ms of its latest DWS snapshot seen.
    snapshot_time_ms: Option<i64>,
    /// Event-time progress of its chain: the watermark of its latest DWD snapshot (DWS
    /// snapshots carry none; the DWS job trails DWD by about a checkpoint).
    watermark_ms: Option<i64>,
}

/// Serving's handle on one storage system.
struct Replica {
    chain: Chain,
    env: SimEnv,
    /// The incrementally refreshed view; `None` until the table is open.
    layer: tokio::sync::Mutex<Option<ServingLayer<SimEnv>>>,
    /// Handles on the DWS table (latest snapshot) and the DWD table (its watermark) for probes.
    table: std::cell::RefCell<Option<FileStoreTable<DfsStore>>>,
    dwd: std::cell::RefCell<Option<FileStoreTable<DfsStore>>>,
    health: Cell<Health>,
    /// Why the last failed attempt failed.
    last_error: std::cell::RefCell<String>,
}

impl Replica {
    fn new(world: &Rc<World>, chain: Chain) -> Rc<Self> {
        Rc::new(Self {
            chain,
            env: SimEnv::new(SERVING, chain.storage, world),
            layer: tokio::sync::Mutex::new(None),
            table: std::cell::RefCell::new(None),
            dwd: std::cell::RefCell::new(None),
            health: Cell::new(Health::default()),
            last_error: std::cell::RefCell::new(String::new()),
        })
    }

    fn mark_failed(&self, error: &str) {
        let mut health = self.health.get();
        health.healthy_since_ms = None;
        health.failed = true;
        self.health.set(health);
        *self.last_error.borrow_mut() = error.to_string();
    }

    /// Notes a snapshot seen at simulated `now_ms`: fresh within `staleness_max_ms` or not.
    fn mark_snapshot(&self, now_ms: i64, time_ms: i64, fresh: bool) {
        let mut health = self.health.get();
        health.failed = false;
        health.healthy_since_ms = if fresh {
            health.healthy_since_ms.or(Some(now_ms))
        } else {
            None
        };
        health.snapshot_time_ms = health.snapshot_time_ms.max(Some(time_ms));
        self.health.set(health);
    }

    /// One report from this system's view, brought to the latest snapshot if that takes at most
    /// `refresh_timeout` (else answered from the view as it stands, like a single system's
    /// serving: a refresh that rebuilds the view after a compaction never delays a query past
    /// its latency SLA); `Ok(None)` while it has no table or no snapshot.
    async fn report(
        &self,
        advertiser: i64,
        window: i64,
        refresh_timeout: Duration,
    ) -> Result<Option<ReportAnswer>, String> {
        let mut guard = self.layer.lock().await;
        let Some(layer) = guard.as_mut() else {
            return Ok(None);
        };
        match tokio::time::timeout(refresh_timeout, layer.refresh()).await {
            Ok(Err(error)) => Err(error.to_string()),
            Ok(Ok(None)) => Ok(None),
            Ok(Ok(Some(_))) | Err(_) => Ok(layer.answer_from_view(advertiser, window)),
        }
    }

    /// Brings the view towards the latest snapshot, for idle time between slots (cancel-safe).
    async fn refresh_view(&self) {
        let mut guard = self.layer.lock().await;
        if let Some(layer) = guard.as_mut() {
            let _ = layer.refresh().await;
        }
    }

    /// A background probe: refreshes the view (keeping it warm for a switch) and reads the
    /// latest snapshot's time and watermark.
    async fn probe(&self, staleness_max_ms: i64) -> Result<(), String> {
        {
            let mut guard = self.layer.lock().await;
            let Some(layer) = guard.as_mut() else {
                return Ok(());
            };
            layer.refresh().await.map_err(|e| e.to_string())?;
        }
        let table = self.table.borrow().clone();
        let Some(table) = table else {
            return Ok(());
        };
        if let Some(snapshot) = table.latest_snapshot().await.map_err(|e| e.to_string())? {
            let staleness_ms = self.env.clock().now_millis() - snapshot.time_millis;
            self.mark_snapshot(
                sim_now_ms(),
                snapshot.time_millis,
                staleness_ms <= staleness_max_ms,
            );
        }
        Ok(())
    }

    /// Reads the watermark of the chain's latest DWD snapshot (no view lock, a few calls).
    async fn read_watermark(&self) -> Result<(), String> {
        let dwd = self.dwd.borrow().clone();
        let Some(dwd) = dwd else {
            return Ok(());
        };
        let latest = dwd.latest_snapshot().await.map_err(|e| e.to_string())?;
        if let Some(watermark) = latest.and_then(|s| s.watermark) {
            let mut health = self.health.get();
            health.watermark_ms = health.watermark_ms.max(Some(watermark));
            self.health.set(health);
        }
        Ok(())
    }
}

/// Which system serving reads, shared by the query loop and the probes.
struct Failover {
    world: Rc<World>,
    replicas: [Rc<Replica>; 2],
    active: Cell<usize>,
    attempt_timeout: Duration,
    staleness_max_ms: i64,
}

impl Failover {
    fn switch_to(&self, index: usize, reason: String) {
        if self.active.get() == index {
            return;
        }
        self.active.set(index);
        let storage = self.replicas[index].chain.storage;
        let kind = if index == 0 {
            TraceKind::StorageFailback
        } else {
            TraceKind::StorageFailover
        };
        self.world
            .record(SERVING, kind, format!("to={storage} reason={reason}"));
        self.world.observed.failover.borrow_mut().switches.push((
            sim_now_ms(),
            storage.to_string(),
            reason,
        ));
    }

    /// Fails back to the primary once probes found it healthy and fresh for `failback.hold`,
    /// and caught up with the secondary in event time.
    fn maybe_fail_back(&self) {
        if self.active.get() != 1 || !self.world.scenario.storage.failover {
            return;
        }
        let hold_ms = self.world.scenario.storage.failback_hold.0;
        let primary = self.replicas[0].health.get();
        let secondary = self.replicas[1].health.get();
        let held = primary
            .healthy_since_ms
            .is_some_and(|since| sim_now_ms() - since >= hold_ms);
        // Caught up: the primary's chain is within a checkpoint interval of the secondary's
        // in event time (the two chains checkpoint out of phase).
        let slack_ms = self.world.scenario.jobs.checkpoint_interval.0;
        let caught_up = match (primary.watermark_ms, secondary.watermark_ms) {
            (Some(a), Some(b)) => a + slack_ms >= b,
            (None, Some(_)) => false,
            _ => true,
        };
        if held && caught_up {
            self.switch_to(
                0,
                format!(
                    "{} healthy and fresh for {} ms, its DWD watermark {} ms behind {}'s",
                    PRIMARY.storage,
                    hold_ms,
                    secondary
                        .watermark_ms
                        .zip(primary.watermark_ms)
                        .map_or(0, |(b, a)| (b - a).max(0)),
                    SECONDARY.storage
                ),
            );
        }
    }

    /// One report attempt on replica `index`, its health noted.
    async fn attempt(self: Rc<Self>, index: usize, advertiser: i64, window: i64) -> Attempt {
        let replica = &self.replicas[index];
        let refresh_timeout =
            Duration::from_millis(self.world.scenario.serving.refresh_timeout.0 as u64);
        match replica.report(advertiser, window, refresh_timeout).await {
            Ok(Some(answer)) => {
                let staleness_ms = replica.env.clock().now_millis() - answer.snapshot_time_ms;
                let fresh = staleness_ms <= self.staleness_max_ms;
                replica.mark_snapshot(sim_now_ms(), answer.snapshot_time_ms, fresh);
                Attempt::Answer(answer, staleness_ms)
            }
            Ok(None) => Attempt::Empty,
            Err(error) => {
                replica.mark_failed(&error);
                Attempt::Failed(error)
            }
        }
    }

    /// Answers one query from the system in use. With failover: when it has not answered
    /// within `failover.attempt-timeout`, the other system is asked too and the first answer
    /// wins; when it fails, or answers staler than the SLA while the other holds a newer
    /// snapshot, the other answers. Answering from the other system switches to it.
    async fn answer(
        self: &Rc<Self>,
        advertiser: i64,
        window: i64,
    ) -> Result<Option<(usize, ReportAnswer)>, String> {
        if !self.world.scenario.storage.failover {
            return match self.clone().attempt(0, advertiser, window).await {
                Attempt::Answer(answer, _) => Ok(Some((0, answer))),
                Attempt::Empty => Ok(None),
                Attempt::Failed(error) => Err(format!("{}: {error}", PRIMARY.storage)),
            };
        }
        // A system whose last attempt failed (say, in the background) is left at once.
        let active = self.active.get();
        let (mine, theirs) = (
            self.replicas[active].health.get(),
            self.replicas[1 - active].health.get(),
        );
        if mine.failed && !theirs.failed && theirs.snapshot_time_ms.is_some() {
            let error = self.replicas[active].last_error.borrow().clone();
            let storage = self.replicas[active].chain.storage;
            self.switch_to(1 - active, format!("{storage}: {error}"));
        }
        let active = self.active.get();
        let other = 1 - active;
        let patience = self.patience();
        let mut first = Box::pin(self.clone().attempt(active, advertiser, window));
        let mut outcomes: Vec<(usize, Attempt)> = Vec::new();
        let early = tokio::select! {
            biased;
            outcome = &mut first => Some(outcome),
            _ = tokio::time::sleep(self.attempt_timeout) => None,
        };
        match early {
            Some(outcome) => {
                let settled = self.settles(&outcome, other);
                outcomes.push((active, outcome));
                if !settled {
                    let attempt = self.clone().attempt(other, advertiser, window);
                    let second = tokio::time::timeout(patience, attempt)
                        .await
                        .unwrap_or_else(|_| self.no_answer(other, patience));
                    outcomes.push((other, second));
                }
            }
            None => {
                // The system in use is slow or gone: race it against the other.
                let mut second = Box::pin(self.clone().attempt(other, advertiser, window));
                let (winner, outcome) = tokio::select! {
                    biased;
                    outcome = &mut first => (active, outcome),
                    outcome = &mut second => (other, outcome),
                };
                let settled = self.settles(&outcome, 1 - winner);
                outcomes.push((winner, outcome));
                let rest = if winner == active { second } else { first };
                if settled {
                    // The slower attempt runs on in the background: it keeps that view warm
                    // and, should it fail, marks its system failed for the next query.
                    let failover = self.clone();
                    tokio::task::spawn_local(async move {
                        if tokio::time::timeout(patience, rest).await.is_err() {
                            failover.no_answer(1 - winner, patience);
                        }
                    });
                } else {
                    let outcome = tokio::time::timeout(patience, rest)
                        .await
                        .unwrap_or_else(|_| self.no_answer(1 - winner, patience));
                    outcomes.push((1 - winner, outcome));
                }
            }
        }
        self.choose(active, outcomes)
    }

    /// The answer of the view holding the newest snapshot, read from memory without storage;
    /// a view an attempt still holds (one running on in the background) is passed over.
    fn freshest_view(&self, advertiser: i64, window: i64) -> Option<(usize, ReportAnswer)> {
        let mut best: Option<(usize, ReportAnswer)> = None;
        for (index, replica) in self.replicas.iter().enumerate() {
            let Ok(guard) = replica.layer.try_lock() else {
                continue;
            };
            let Some(answer) = guard
                .as_ref()
                .and_then(|layer| layer.answer_from_view(advertiser, window))
            else {
                continue;
            };
            if best
                .as_ref()
                .is_none_or(|(_, b)| b.snapshot_time_ms < answer.snapshot_time_ms)
            {
                best = Some((index, answer));
            }
        }
        best
    }

    /// How long an attempt or probe may take before its system counts as failed.
    fn patience(&self) -> Duration {
        Duration::from_millis(self.world.scenario.run.rpc_timeout.0 as u64)
    }

    /// Marks system `index` failed for not answering within `waited`.
    fn no_answer(&self, index: usize, waited: Duration) -> Attempt {
        let error = format!("no answer within {} ms", waited.as_millis());
        self.replicas[index].mark_failed(&error);
        Attempt::Failed(error)
    }

    /// Whether `outcome` answers the query without asking system `other`: a fresh answer, or
    /// a stale one when `other` holds nothing newer.
    fn settles(&self, outcome: &Attempt, other: usize) -> bool {
        match outcome {
            Attempt::Answer(answer, staleness_ms) => {
                *staleness_ms <= self.staleness_max_ms
                    || self.replicas[other].health.get().snapshot_time_ms
                        <= Some(answer.snapshot_time_ms)
            }
            Attempt::Empty | Attempt::Failed(_) => false,
        }
    }

    /// The newest answer among the attempts; switches to the system that gave it.
    fn choose(
        &self,
        active: usize,
        outcomes: Vec<(usize, Attempt)>,
    ) -> Result<Option<(usize, ReportAnswer)>, String> {
        // Only a failed, empty or stale system in use is left; one that was merely slower
        // than the other this time keeps serving.
        let active_bad = outcomes.iter().any(|(index, outcome)| {
            *index == active
                && !matches!(outcome, Attempt::Answer(_, staleness_ms)
                    if *staleness_ms <= self.staleness_max_ms)
        });
        let mut reasons = Vec::new();
        let mut best: Option<(usize, ReportAnswer)> = None;
        for (index, outcome) in outcomes {
            let storage = self.replicas[index].chain.storage;
            match outcome {
                Attempt::Answer(answer, staleness_ms) => {
                    if staleness_ms > self.staleness_max_ms {
                        reasons.push(format!("{storage} stale by {staleness_ms} ms"));
                    }
                    if best
                        .as_ref()
                        .is_none_or(|(_, b)| b.snapshot_time_ms < answer.snapshot_time_ms)
                    {
                        best = Some((index, answer));
                    }
                }
                Attempt::Empty => reasons.push(format!("{storage} has no snapshot yet")),
                Attempt::Failed(error) => reasons.push(format!("{storage}: {error}")),
            }
        }
        match best {
            Some((index, answer)) => {
                if index != active && active_bad {
                    self.switch_to(index, reasons.join("; "));
                }
                Ok(Some((index, answer)))
            }
            None if reasons.iter().all(|r| r.ends_with("no snapshot yet")) => Ok(None),
            None => Err(reasons.join("; ")),
        }
    }
}

/// What one report attempt on one system gave.
enum Attempt {
    /// An answer and its staleness (ms).
    Answer(ReportAnswer, i64),
    /// No table or no snapshot yet.
    Empty,
    Failed(String),
}

/// Opens `replica`'s DWS table (retrying), then probes it in the background whenever serving
/// reads the other system.
async fn keep_replica(failover: Rc<Failover>, index: usize) {
    let replica = failover.replicas[index].clone();
    let world = &failover.world;
    let dws = open_table(
        &replica.env,
        DWS_TABLE_ROOT,
        dws_schema(world.scenario.dws.options()),
    )
    .await;
    *replica.table.borrow_mut() = Some(dws.clone());
    *replica.layer.lock().await = Some(
        ServingLayer::new(replica.env.clone(), dws)
            .with_read_parallelism(world.scenario.serving.read_parallelism),
    );
    let dwd = open_table(
        &replica.env,
        DWD_TABLE_ROOT,
        dwd_schema(world.scenario.dwd_options()),
    )
    .await;
    *replica.dwd.borrow_mut() = Some(dwd);
    let interval = Duration::from_millis(world.scenario.storage.probe_interval.0 as u64);
    loop {
        tokio::time::sleep(interval).await;
        if !world.scenario.storage.failover {
            continue;
        }
        // Both chains' event-time progress, for the failback's caught-up test; a failure
        // here says nothing the queries and probes do not.
        let _ = tokio::time::timeout(failover.patience(), replica.read_watermark()).await;
        if failover.active.get() == index {
            continue;
        }
        let probe = replica.probe(failover.staleness_max_ms);
        match tokio::time::timeout(failover.patience(), probe).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => replica.mark_failed(&error),
            Err(_) => {
                failover.no_answer(index, failover.patience());
            }
        }
    }
}

/// Answers from two storage systems with failover between them (see the module header).
pub struct FailoverSource {
    failover: Rc<Failover>,
}

impl FailoverSource {
    /// Starts the replicas' table handles and probes in the background.
    pub fn start(world: &Rc<World>) -> Self {
        let storage = &world.scenario.storage;
        let failover = Rc::new(Failover {
            world: world.clone(),
            replicas: [Replica::new(world, PRIMARY), Replica::new(world, SECONDARY)],
            active: Cell::new(0),
            attempt_timeout: Duration::from_millis(storage.attempt_timeout.0 as u64),
            staleness_max_ms: world.scenario.sla.staleness_max.0,
        });
        for index in 0..2 {
            tokio::task::spawn_local(keep_replica(failover.clone(), index));
        }
        Self { failover }
    }
}

impl AnswerSource for FailoverSource {
    /// The replicas' views stay warm through their own probes; at the slot, serving fails
    /// back to the primary if it has been healthy long enough.
    async fn idle_until(&mut self, slot_ms: i64) {
        // The system in use keeps its view warm as a single system's does: a refresh every
        // `refresh_interval`, each stopped at the slot.
        let refresh_interval_ms = self.failover.world.scenario.serving.refresh_interval.0;
        loop {
            let now_ms = sim_now_ms();
            if now_ms >= slot_ms {
                break;
            }
            let replica = self.failover.replicas[self.failover.active.get()].clone();
            let idle = Duration::from_millis((slot_ms - now_ms) as u64);
            let _ = tokio::time::timeout(idle, replica.refresh_view()).await;
            let now_ms = sim_now_ms();
            let next_poll_ms = (now_ms + refresh_interval_ms).min(slot_ms);
            tokio::time::sleep(Duration::from_millis((next_poll_ms - now_ms).max(0) as u64)).await;
        }
        self.failover.maybe_fail_back();
    }

    async fn answer(&mut self, advertiser: i64, window_minutes: i64) -> SlotOutcome {
        match self.failover.answer(advertiser, window_minutes).await {
            Ok(Some((index, answer))) => {
                let replica = &self.failover.replicas[index];
                SlotOutcome::Answered {
                    staleness_ms: replica.env.clock().now_millis() - answer.snapshot_time_ms,
                    answer,
                    storage: Some((replica.chain.storage, index == 1)),
                    from_view: None,
                }
            }
            Ok(None) => SlotOutcome::Empty,
            // Both systems failed: like a single system's serving, answer from the freshest
            // view as it stands (its staleness says how old), failing only without a view.
            Err(error) => match self.failover.freshest_view(advertiser, window_minutes) {
                Some((index, answer)) => {
                    let replica = &self.failover.replicas[index];
                    SlotOutcome::Answered {
                        staleness_ms: replica.env.clock().now_millis() - answer.snapshot_time_ms,
                        answer,
                        storage: Some((replica.chain.storage, index == 1)),
                        from_view: Some(format!("both systems failed: {error}")),
                    }
                }
                None => SlotOutcome::Failed(error),
            },
        }
    }

    /// One budget check against the system serving uses now.
    async fn check_budgets(&mut self, controller: &mut BudgetController) {
        let failover = &self.failover;
        let world = &failover.world;
        let replica = &failover.replicas[failover.active.get()];
        let check = async {
            let mut guard = replica.layer.lock().await;
            if let Some(layer) = guard.as_mut() {
                check_budgets(world, controller, layer).await;
            }
        };
        if tokio::time::timeout(failover.patience(), check)
            .await
            .is_err()
        {
            world.record(
                SERVING,
                TraceKind::BudgetCheckFailed,
                format!("{} gave no answer in time", replica.chain.storage),
            );
        }
    }
}
