//! Where the warehouse runs: the software each turmoil host runs (the TT broker, the Flink jobs,
//! the storage servers, the serving layer, the traffic client, the ops client), registered from
//! the topology. A restarted host runs its function again from the top, with empty memory.

pub mod dfs;
pub mod dfs_log;
pub mod jobs;
pub mod ops;
pub mod serving;
pub mod traffic;
pub mod tt;
pub mod tt_era;

use std::rc::Rc;

use warehouse::env::{Clock, Env, JournalKind};
use warehouse::stream::backoff_sleep;
use warehouse::table::{FileStoreTable, TableSchema};

use crate::scenario::Operation;
use crate::topology::{COMPACTOR, OPS, SERVING, TRAFFIC, TT};
use crate::world::{SimEnv, World};

/// Adds every host of the scenario's world to `sim`, in a fixed order: the storage systems,
/// TT, each chain's jobs, serving, the traffic client, then the compactor and the ops client
/// when the scenario runs them. Returns how many hosts and clients it added.
pub fn register(sim: &mut turmoil::Sim<'_>, world: &Rc<World>) -> usize {
    let topology = world.scenario.topology();
    if topology.is_tt_era() {
        return register_tt_era(sim, world);
    }
    let mut count = 0;
    for chain in topology.chains().iter().copied() {
        let s = world.clone();
        sim.host(chain.storage, move || {
            dfs::dfs_host(s.clone(), chain.storage)
        });
        count += 1;
    }
    let s = world.clone();
    sim.host(TT, move || tt::tt_host(s.clone()));
    count += 1;
    for chain in topology.chains().iter().copied() {
        let s = world.clone();
        sim.host(chain.dwd_job, move || jobs::dwd_job_host(s.clone(), chain));
        let s = world.clone();
        sim.host(chain.dws_job, move || jobs::dws_job_host(s.clone(), chain));
        count += 2;
    }
    let s = world.clone();
    sim.host(SERVING, move || serving::serving_host(s.clone()));
    sim.client(TRAFFIC, traffic::traffic_client(world.clone()));
    count += 2;
    if topology.compactor {
        let s = world.clone();
        sim.host(COMPACTOR, move || jobs::compactor_host(s.clone()));
        count += 1;
    }
    let cleans_orphans = world
        .scenario
        .operations
        .iter()
        .any(|op| matches!(op.action, Operation::RemoveOrphanFiles { .. }));
    if cleans_orphans {
        sim.client(OPS, ops::ops_client(world.clone()));
        count += 1;
    }
    count
}

/// The TT-era world: `dfs` (the jobs' checkpoints), TT (ODS and the DWD topic), the DWD job,
/// each store, the batch job, serving and the traffic client.
fn register_tt_era(sim: &mut turmoil::Sim<'_>, world: &Rc<World>) -> usize {
    let topology = world.scenario.topology();
    let dfs = crate::topology::SINGLE.storage;
    let s = world.clone();
    sim.host(dfs, move || dfs::dfs_host(s.clone(), dfs));
    let s = world.clone();
    sim.host(TT, move || tt::tt_host(s.clone()));
    let s = world.clone();
    sim.host(crate::topology::SINGLE.dwd_job, move || {
        tt_era::dwd_topic_job_host(s.clone())
    });
    for store in topology.stores().iter().copied() {
        let s = world.clone();
        sim.host(store, move || tt_era::store_host(s.clone(), store));
    }
    let s = world.clone();
    sim.host(crate::topology::BATCH_JOB, move || {
        tt_era::batch_job_host(s.clone())
    });
    let s = world.clone();
    sim.host(SERVING, move || serving::serving_host(s.clone()));
    sim.client(TRAFFIC, traffic::traffic_client(world.clone()));
    topology.hosts().len()
}

/// Never returns: a host whose software cannot start stays up, idle, with the reason traced.
async fn idle_forever() -> turmoil::Result {
    std::future::pending::<()>().await;
    Ok(())
}

pub(crate) async fn open_table(
    env: &SimEnv,
    root: &str,
    schema: TableSchema,
) -> FileStoreTable<<SimEnv as Env>::Store> {
    let mut attempt = 0;
    loop {
        let now = env.clock().now_millis();
        match FileStoreTable::create_or_open(env.store().clone(), root, schema.clone(), now).await {
            Ok(table) => return table,
            Err(error) => {
                if attempt == 0 {
                    warehouse::env::Journal::record(
                        env.journal(),
                        JournalKind::TableOpenRetry,
                        format!("table={root} error={error}"),
                    );
                }
                backoff_sleep(attempt).await;
                attempt += 1;
            }
        }
    }
}
