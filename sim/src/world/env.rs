//! The adapters behind the warehouse's ports, one set per host: its clock (the epoch plus
//! simulated time, plus any injected skew), its cost model (reported work becomes simulated time,
//! metered as the host's busy time), BUGGIFY, its journal (the trace) and its object store and
//! TT transport across the simulated network.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use warehouse::env::{
    Buggify, Clock, Cost, CostOperator, Env, Journal, JournalKind, NetError, Transport,
};

use crate::scenario::{CostTable, Scenario};
use crate::trace::TraceKind;
use crate::world::dfs_client::DfsStore;
use crate::world::rpc::{CallError, RpcClient};
use crate::world::seed::SeedTree;
use crate::world::{DFS_PORT, STORE_PORT, TT_DWD_PORT, TT_PORT, World, sim_now_ms};

/// Share of BUGGIFY sites switched on for a run, and how often an enabled site fires.
pub const BUGGIFY_SITE_ENABLED: f64 = 0.25;
pub const BUGGIFY_FIRE_PROBABILITY: f64 = 0.05;

/// FoundationDB-style BUGGIFY: whether a site is on is decided once per run from the seed and
/// the site's name (so every host agrees); an enabled site fires with a per-host seeded draw,
/// only while the chaos phase lasts and only when the scenario turns BUGGIFY on.
#[derive(Clone)]
pub struct SimBuggify {
    host: &'static str,
    world: Rc<World>,
    rng: Rc<RefCell<rand_chacha::ChaCha8Rng>>,
}

impl SimBuggify {
    pub fn new(host: &'static str, world: &Rc<World>) -> Self {
        Self {
            host,
            world: world.clone(),
            rng: Rc::new(RefCell::new(world.seeds.fork(&format!("buggify/{host}")))),
        }
    }

    /// Whether `site` is switched on in this run (independent of the host asking).
    pub fn site_enabled(seeds: &SeedTree, site: &str) -> bool {
        let draw = seeds.derive_u64(&format!("buggify-site/{site}"));
        (draw as f64 / u64::MAX as f64) < BUGGIFY_SITE_ENABLED
    }
}

impl Buggify for SimBuggify {
    fn fire(&self, site: &'static str) -> bool {
        use rand::Rng;
        if !self.world.scenario.run.buggify
            || self.world.control.traffic_stopped.get()
            || !Self::site_enabled(&self.world.seeds, site)
        {
            return false;
        }
        let fired = self.rng.borrow_mut().random_bool(BUGGIFY_FIRE_PROBABILITY);
        if fired {
            self.world
                .record(self.host, TraceKind::Buggify, format!("site={site}"));
        }
        fired
    }
}

#[derive(Clone)]
pub struct SimClock {
    epoch_ms: i64,
    host: &'static str,
    world: Rc<World>,
}

impl Clock for SimClock {
    /// The fixed epoch plus simulated time, plus any clock skew injected on this host.
    fn now_millis(&self) -> i64 {
        self.epoch_ms + sim_now_ms() + self.world.faults.clock_skew_ms(self.host)
    }
}

/// Turns reported work into simulated time from the scenario's cost table. Debt below one tick
/// is carried over, so many small charges add up instead of each costing a whole tick.
#[derive(Clone)]
pub struct SimCost {
    table: Rc<CostTable>,
    /// Production events per simulated event (`[traffic] represents`).
    represents: u64,
    tick_ns: f64,
    debt_ns: Rc<Cell<f64>>,
    /// Where charges are metered: the host's name and the world.
    meter: Option<(&'static str, Rc<World>)>,
}

impl SimCost {
    pub fn new(scenario: &Scenario) -> Self {
        Self {
            table: Rc::new(scenario.cost.clone()),
            represents: scenario.represents(),
            tick_ns: scenario.run.tick.0 as f64 * 1e6,
            debt_ns: Rc::new(Cell::new(0.0)),
            meter: None,
        }
    }

    /// A cost model whose charges are also metered as `host`'s work in `world.observed.busy`.
    pub fn metered(host: &'static str, world: &Rc<World>) -> Self {
        Self {
            meter: Some((host, world.clone())),
            ..Self::new(&world.scenario)
        }
    }

    /// How many production records and bytes one simulated record and byte of `operator`'s
    /// work stand for: DWD's work scales with the events (`[traffic] represents`); DWS rows are
    /// aggregates per advertiser, campaign and minute, whose number does not; storage requests
    /// are charged per simulated request (each stands for a production-sized file).
    fn scale(&self, operator: CostOperator) -> u64 {
        match operator {
            CostOperator::OdsToDwd | CostOperator::DwdWriter | CostOperator::DwdToDws => {
                self.represents
            }
            CostOperator::DwsWriter
            | CostOperator::Compactor
            | CostOperator::DfsWrite
            | CostOperator::DfsRead => 1,
        }
    }

    /// Simulated ns of `operator`'s work on `records` and `bytes` scaled `scale` times.
    fn ns(&self, operator: CostOperator, scale: u64, records: u64, bytes: u64) -> f64 {
        self.table.ns(
            operator,
            records.saturating_mul(scale),
            bytes.saturating_mul(scale),
        )
    }

    /// Sleeps for `ns` of simulated work (`core_ns` of it summed over parallel subtasks);
    /// debt below one tick is carried over, so many small charges add up instead of each
    /// costing a whole tick.
    async fn spend(&self, operator: CostOperator, records: u64, ns: f64, core_ns: f64) {
        if let Some((host, world)) = &self.meter {
            world.observed.busy.borrow_mut().add(
                host,
                operator,
                sim_now_ms(),
                ns,
                core_ns,
                records,
            );
        }
        let debt = self.debt_ns.get() + ns;
        if debt < self.tick_ns {
            self.debt_ns.set(debt);
            return;
        }
        let ticks = (debt / self.tick_ns).floor();
        self.debt_ns.set(debt - ticks * self.tick_ns);
        tokio::time::sleep(Duration::from_nanos((ticks * self.tick_ns) as u64)).await;
    }
}

impl Cost for SimCost {
    async fn charge(&self, operator: CostOperator, records: u64, bytes: u64) {
        let scale = self.scale(operator);
        let ns = self.ns(operator, scale, records, bytes);
        self.spend(operator, records.saturating_mul(scale), ns, ns)
            .await;
    }

    /// A dedicated compaction of DWD's files works on represented bytes; of DWS's, on its own.
    async fn charge_table(
        &self,
        operator: CostOperator,
        table_root: &str,
        records: u64,
        bytes: u64,
    ) {
        self.charge_table_subtasks(operator, table_root, &[(records, bytes)])
            .await;
    }

    /// The compaction job's subtasks run side by side: the slowest sets the time.
    async fn charge_table_subtasks(
        &self,
        operator: CostOperator,
        table_root: &str,
        work: &[(u64, u64)],
    ) {
        let scale = if table_root == warehouse::jobs::schemas::DWD_TABLE_ROOT {
            self.represents
        } else {
            self.scale(operator)
        };
        let (mut slowest_ns, mut core_ns, mut records) = (0.0f64, 0.0f64, 0u64);
        for &(lane_records, lane_bytes) in work {
            let ns = self.ns(operator, scale, lane_records, lane_bytes);
            slowest_ns = slowest_ns.max(ns);
            core_ns += ns;
            records = records.saturating_add(lane_records.saturating_mul(scale));
        }
        self.spend(operator, records, slowest_ns, core_ns).await;
    }

    async fn charge_subtasks(&self, operator: CostOperator, work: &[(u64, u64)]) {
        let scale = self.scale(operator);
        let mut slowest_ns: f64 = 0.0;
        let mut core_ns: f64 = 0.0;
        let mut records: u64 = 0;
        for &(lane_records, lane_bytes) in work {
            let ns = self.ns(operator, scale, lane_records, lane_bytes);
            slowest_ns = slowest_ns.max(ns);
            core_ns += ns;
            records = records.saturating_add(lane_records.saturating_mul(scale));
        }
        // DWD's records reach the subtasks by a hash of the event id: with `scale` production
        // records behind each simulated one, a subtask's excess over the mean shrinks as
        // 1/sqrt(scale) (the law of large numbers), where the few simulated records per subtask
        // would otherwise exaggerate it.
        if scale > 1
            && matches!(operator, CostOperator::OdsToDwd | CostOperator::DwdWriter)
            && !work.is_empty()
        {
            let mean_ns = core_ns / work.len() as f64;
            slowest_ns = mean_ns + (slowest_ns - mean_ns).max(0.0) / (scale as f64).sqrt();
        }
        self.spend(operator, records, slowest_ns, core_ns).await;
    }
}

#[derive(Clone)]
pub struct SimJournal {
    host: &'static str,
    world: Rc<World>,
}

impl Journal for SimJournal {
    fn record(&self, kind: JournalKind, detail: String) {
        self.world.record(self.host, kind.into(), detail);
    }
}

/// The warehouse's view of the world from one host.
#[derive(Clone)]
pub struct SimEnv {
    buggify: SimBuggify,
    store: DfsStore,
    clock: SimClock,
    cost: SimCost,
    journal: SimJournal,
}

impl SimEnv {
    /// `host`'s view with its object store on storage host `storage` (`dfs`, `dfs-a`, `dfs-b`).
    pub fn new(host: &'static str, storage: &'static str, world: &Rc<World>) -> Self {
        let scenario = &world.scenario;
        let timeout = Duration::from_millis(scenario.run.rpc_timeout.0 as u64);
        Self {
            buggify: SimBuggify::new(host, world),
            store: DfsStore::new(RpcClient::new(storage, DFS_PORT, timeout)),
            clock: SimClock {
                epoch_ms: scenario.run.epoch_ms,
                host,
                world: world.clone(),
            },
            cost: SimCost::metered(host, world),
            journal: SimJournal {
                host,
                world: world.clone(),
            },
        }
    }
}

impl Env for SimEnv {
    type Store = DfsStore;
    type Clock = SimClock;
    type Cost = SimCost;
    type Buggify = SimBuggify;
    type Journal = SimJournal;
    fn store(&self) -> &DfsStore {
        &self.store
    }
    fn clock(&self) -> &SimClock {
        &self.clock
    }
    fn cost(&self) -> &SimCost {
        &self.cost
    }
    fn buggify(&self) -> &SimBuggify {
        &self.buggify
    }
    fn journal(&self) -> &SimJournal {
        &self.journal
    }
}

/// Carries warehouse service calls over the simulated network: TT's ODS topic (`tt`) and, in a
/// TT-era world, its DWD topic (`tt-dwd`, a second port of the TT host) and the stores (each
/// service named by its host).
#[derive(Clone)]
pub struct SimTransport {
    tt: Rc<RpcClient>,
    /// Clients of the other services, opened on first use.
    others: Rc<std::cell::RefCell<std::collections::BTreeMap<&'static str, Rc<RpcClient>>>>,
    timeout: Duration,
}

impl SimTransport {
    pub fn new(world: &World) -> Self {
        let timeout = Duration::from_millis(world.scenario.run.rpc_timeout.0 as u64);
        Self {
            tt: RpcClient::new("tt", TT_PORT, timeout),
            others: Rc::default(),
            timeout,
        }
    }

    /// The client of `service`, if this world has it.
    fn client(&self, service: &'static str) -> Option<Rc<RpcClient>> {
        if service == "tt" {
            return Some(self.tt.clone());
        }
        let (host, port) = if service == warehouse::jobs::tt_era::DWD_TOPIC_SERVICE {
            ("tt", TT_DWD_PORT)
        } else if crate::topology::STORE_HOSTS.contains(&service) {
            (service, STORE_PORT)
        } else {
            return None;
        };
        let mut others = self.others.borrow_mut();
        Some(
            others
                .entry(service)
                .or_insert_with(|| RpcClient::new(host, port, self.timeout))
                .clone(),
        )
    }
}

impl Transport for SimTransport {
    async fn call(&self, service: &'static str, request: Vec<u8>) -> Result<Vec<u8>, NetError> {
        let Some(client) = self.client(service) else {
            return Err(NetError::Unreachable {
                service: service.to_string(),
                reason: "no such service in this world".into(),
            });
        };
        client.call(request).await.map_err(|error| match error {
            CallError::Timeout => NetError::Timeout {
                service: service.to_string(),
            },
            CallError::Io(reason) => NetError::Unreachable {
                service: service.to_string(),
                reason,
            },
        })
    }
}
