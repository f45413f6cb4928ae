//! The TT-era world's own hosts: the DWD job writing the DWD topic, each downstream store (its
//! storage on its own disk, serving the batch job's overwrites and report queries, and running
//! its own aggregation job), and the offline batch job. They take the same faults as the
//! lakehouse's hosts: a crash loses their memory, disk faults hit the stores' disks, partitions
//! cut their links; their jobs checkpoint to `dfs` through the same runtime.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use warehouse::env::{Clock, Env, LocalDisk};
use warehouse::jobs::tt_era::{
    BatchConfig, BatchJob, DwdTopicConfig, DwdTopicJob, MinuteStore, StoreJob, StoreJobConfig,
    StoreRequest, StoreResponse,
};

use crate::hosts::idle_forever;
use crate::hosts::jobs::run_until_failover;
use crate::topology::{BATCH_JOB, SINGLE};
use crate::trace::TraceKind;
use crate::world::rpc::serve;
use crate::world::{STORE_PORT, SimEnv, SimTransport, TurmoilDisk, World, sim_now_ms};

/// The TT era's ODS→DWD job: the same host name as the lakehouse's, writing the DWD topic.
pub async fn dwd_topic_job_host(world: Rc<World>) -> turmoil::Result {
    let host = SINGLE.dwd_job;
    let env = SimEnv::new(host, SINGLE.storage, &world);
    world.record(host, TraceKind::HostStart, String::new());
    loop {
        let config = DwdTopicConfig {
            job_name: host.into(),
            partitions: world.scenario.traffic.partitions,
            fetch_max_records: world.scenario.tt.fetch_max_records,
            consumer_group: host.into(),
            parallelism: world.scenario.jobs.parallelism,
        };
        let mut job = DwdTopicJob::new(env.clone(), config, SimTransport::new(&world));
        run_until_failover(&world, &env, &mut job).await;
    }
}

/// A store's disk: the host's durable disk, with the world's injected disk faults, and every
/// synced append observed at this boundary (what the checkers read the store from).
#[derive(Clone)]
struct StoreDisk {
    host: &'static str,
    world: Rc<World>,
}

impl StoreDisk {
    fn fault(&self, is_write: bool) -> std::io::Result<()> {
        match self.world.faults.disk_fault_hits(self.host, is_write) {
            Some(reason) => Err(std::io::Error::other(reason)),
            None => Ok(()),
        }
    }
}

impl LocalDisk for StoreDisk {
    fn append_synced(&self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.fault(true)?;
        TurmoilDisk.append_synced(path, bytes)?;
        self.world
            .observed
            .tt_era
            .borrow_mut()
            .store_appends
            .entry(self.host.to_string())
            .or_default()
            .push((sim_now_ms(), bytes.to_vec()));
        Ok(())
    }
    fn write_synced(&self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.fault(true)?;
        TurmoilDisk.write_synced(path, bytes)
    }
    fn read(&self, path: &str) -> std::io::Result<Option<Vec<u8>>> {
        self.fault(false)?;
        TurmoilDisk.read(path)
    }
    fn read_range(&self, path: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        self.fault(false)?;
        TurmoilDisk.read_range(path, offset, len)
    }
    fn list(&self, dir: &str) -> std::io::Result<Vec<String>> {
        TurmoilDisk.list(dir)
    }
    fn remove(&self, path: &str) -> std::io::Result<()> {
        TurmoilDisk.remove(path)
    }
}

/// A downstream store: opens its rows from its disk, serves overwrites and queries, and runs
/// its own aggregation job of the DWD topic.
pub async fn store_host(world: Rc<World>, host: &'static str) -> turmoil::Result {
    world.record(host, TraceKind::HostStart, String::new());
    let disk = StoreDisk {
        host,
        world: world.clone(),
    };
    let store = loop {
        match MinuteStore::open(disk.clone()) {
            Ok(store) => break Rc::new(RefCell::new(store)),
            Err(warehouse::jobs::tt_era::StoreError::Disk(error)) => {
                world.record(host, TraceKind::TtOpenFailed, format!("store: {error}"));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => {
                world.record(host, TraceKind::TtOpenFailed, format!("store: {error}"));
                return idle_forever().await;
            }
        }
    };
    let env = SimEnv::new(host, SINGLE.storage, &world);
    {
        let (store, env) = (store.clone(), env.clone());
        let handler = Rc::new(move |request: Vec<u8>| {
            let (store, env) = (store.clone(), env.clone());
            async move { handle_store(&store, &env, &request).encode() }
        });
        tokio::task::spawn_local(async move { serve(STORE_PORT, handler).await });
    }
    let jobs = &world.scenario.jobs;
    loop {
        let config = StoreJobConfig {
            job_name: host.into(),
            partitions: world.scenario.traffic.partitions,
            fetch_max_records: world.scenario.tt.fetch_max_records,
            out_of_orderness_ms: jobs.watermark_out_of_orderness.0,
            allowed_lateness_ms: jobs.allowed_lateness.0,
            parallelism: jobs.dws_parallelism(),
        };
        let mut job = StoreJob::new(
            env.clone(),
            config,
            SimTransport::new(&world),
            store.clone(),
        );
        world
            .observed
            .tt_era
            .borrow_mut()
            .store_dropped_too_late
            .insert(host.to_string(), job.dropped_too_late_counter());
        run_until_failover(&world, &env, &mut job).await;
    }
}

fn handle_store(
    store: &RefCell<MinuteStore<StoreDisk>>,
    env: &SimEnv,
    request: &[u8],
) -> StoreResponse {
    match StoreRequest::decode(request) {
        Err(error) => StoreResponse::Error(error),
        Ok(StoreRequest::Overwrite {
            start_ms,
            end_ms,
            rows,
        }) => {
            let now = env.clock().now_millis();
            match store
                .borrow_mut()
                .overwrite_period(start_ms, end_ms, &rows, now)
            {
                Ok(()) => StoreResponse::Ok,
                Err(error) => StoreResponse::Error(error.to_string()),
            }
        }
        Ok(StoreRequest::Query {
            advertiser_id,
            from_ms,
            to_ms,
        }) => {
            let store = store.borrow();
            StoreResponse::Sums {
                sums: store.advertiser_sums(advertiser_id, from_ms, to_ms),
                last_realtime_write_ms: store.last_realtime_write_ms().unwrap_or(0),
            }
        }
    }
}

/// The offline batch job. It keeps no state: a restart reads ODS again from the log start.
pub async fn batch_job_host(world: Rc<World>) -> turmoil::Result {
    world.record(BATCH_JOB, TraceKind::HostStart, String::new());
    let env = SimEnv::new(BATCH_JOB, SINGLE.storage, &world);
    let pipeline = &world.scenario.pipeline;
    let config = BatchConfig {
        job_name: BATCH_JOB.into(),
        partitions: world.scenario.traffic.partitions,
        fetch_max_records: world.scenario.tt.fetch_max_records,
        period_ms: pipeline.batch_period.0,
        delay_ms: pipeline.batch_delay.0,
        stores: world.scenario.topology().stores().to_vec(),
        poll_ms: 1_000,
        // As wide as the DWD job: the batch engine reads the same ODS.
        parallelism: world.scenario.jobs.parallelism,
    };
    let mut job = BatchJob::new(env, config, SimTransport::new(&world));
    job.run().await;
    Ok(())
}
