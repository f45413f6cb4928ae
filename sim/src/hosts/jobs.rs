//! The Flink jobs' hosts: the ODS→DWD and DWD→DWS jobs of each chain, and the dedicated
//! compactor. A restarted host runs its job again from the top: the job restores its latest
//! checkpoint, as Flink's failover does.

use std::rc::Rc;
use std::time::Duration;

use warehouse::jobs::schemas::{
    DWD_TABLE_ROOT, DWS_TABLE_ROOT, LATE_TABLE_ROOT, dwd_schema, dws_schema, late_schema,
};
use warehouse::jobs::{
    CompactorConfig, DedicatedCompactor, DwdToDws, DwdToDwsConfig, OdsToDwd, OdsToDwdConfig,
};
use warehouse::stream::{StreamJob, run_job};

use crate::hosts::open_table;
use crate::topology::{COMPACTOR, Chain, SINGLE};
use crate::trace::TraceKind;
use crate::world::{SimEnv, SimTransport, World};

/// The ODS→DWD job of `chain`, writing that chain's storage system.
pub async fn dwd_job_host(world: Rc<World>, chain: Chain) -> turmoil::Result {
    let host = chain.dwd_job;
    let env = SimEnv::new(host, chain.storage, &world);
    world.record(host, TraceKind::HostStart, String::new());
    loop {
        let table = open_table(
            &env,
            DWD_TABLE_ROOT,
            dwd_schema(world.scenario.dwd_options()),
        )
        .await;
        let config = OdsToDwdConfig {
            job_name: host.into(),
            commit_user: format!("{host}-commit-user"),
            partitions: world.scenario.traffic.partitions,
            fetch_max_records: world.scenario.tt.fetch_max_records,
            consumer_group: host.into(),
            out_of_orderness_ms: world.scenario.jobs.watermark_out_of_orderness.0,
            backlog_lag_records: world.scenario.jobs.backlog_lag_records,
            parallelism: world.scenario.jobs.parallelism,
            unsafe_new_commit_user_on_restart: new_commit_user_on_restart(&world, host),
            utc_offset_ms: (world.scenario.traffic.utc_offset_hours * 3_600_000.0).round() as i64,
        };
        let mut job = OdsToDwd::new(env.clone(), config, SimTransport::new(&world), table);
        run_until_failover(&world, &env, &mut job).await;
    }
}

/// Whether the scenario's unsafe `unsafe.new-commit-user-on-restart` names `job`.
fn new_commit_user_on_restart(world: &World, job: &str) -> bool {
    world
        .scenario
        .jobs
        .unsafe_new_commit_user_on_restart
        .iter()
        .any(|name| name == job)
}

/// Runs a job until it fails over, traces why, and waits out Flink's fixed restart delay.
pub(crate) async fn run_until_failover<J: StreamJob>(world: &World, env: &SimEnv, job: &mut J) {
    let config = world
        .scenario
        .jobs
        .checkpoint_config(world.scenario.represents());
    if let Err(error) = run_job(env, job, &config).await {
        world.job_failed_over(job.name(), &error);
    }
    tokio::time::sleep(Duration::from_millis(
        world.scenario.run.restart_delay.0 as u64,
    ))
    .await;
}

/// The DWD→DWS job of `chain`, reading and writing that chain's storage system.
pub async fn dws_job_host(world: Rc<World>, chain: Chain) -> turmoil::Result {
    let host = chain.dws_job;
    let env = SimEnv::new(host, chain.storage, &world);
    world.record(host, TraceKind::HostStart, String::new());
    loop {
        let dwd = open_table(
            &env,
            DWD_TABLE_ROOT,
            dwd_schema(world.scenario.dwd_options()),
        )
        .await;
        let dws = open_table(
            &env,
            DWS_TABLE_ROOT,
            dws_schema(world.scenario.dws.options()),
        )
        .await;
        let consumer = &world.scenario.jobs.consumer_id;
        let config = DwdToDwsConfig {
            job_name: host.into(),
            commit_user: format!("{host}-commit-user"),
            consumer_id: consumer.clone(),
            max_snapshots_per_poll: world.scenario.jobs.max_snapshots_per_poll,
            allowed_lateness_ms: world.scenario.jobs.allowed_lateness.0,
            parallelism: world.scenario.jobs.dws_parallelism(),
            unsafe_new_commit_user_on_restart: new_commit_user_on_restart(&world, host),
            version: world.control.build_of(host),
        };
        crate::hosts::ops::run_pending_rollbacks(&world, &env, host, &dws).await;
        let late = open_table(&env, LATE_TABLE_ROOT, late_schema()).await;
        let mut job = DwdToDws::new(env.clone(), config, dwd, dws, late);
        run_until_failover(&world, &env, &mut job).await;
    }
}

/// The dedicated compaction job of the write-only tables (`[jobs.compactor]`). It keeps no
/// state, so a restart (after a crash or a non-transient error) simply starts watching again.
pub async fn compactor_host(world: Rc<World>) -> turmoil::Result {
    let env = SimEnv::new(COMPACTOR, SINGLE.storage, &world);
    world.record("compactor", TraceKind::HostStart, String::new());
    let compactor = world.scenario.jobs.compactor.as_ref();
    let poll_interval_ms = compactor.map_or(1_000, |c| c.poll_interval.0);
    let parallelism = compactor.map_or(1, |c| c.parallelism);
    loop {
        let mut tables = Vec::new();
        if world.scenario.dwd.write_only {
            let schema = dwd_schema(world.scenario.dwd_options());
            tables.push(open_table(&env, DWD_TABLE_ROOT, schema).await);
        }
        if world.scenario.dws.write_only {
            let schema = dws_schema(world.scenario.dws.options());
            tables.push(open_table(&env, DWS_TABLE_ROOT, schema).await);
        }
        let config = CompactorConfig {
            job_name: "compactor".into(),
            commit_user: "compactor-commit-user".into(),
            poll_interval_ms,
            parallelism,
        };
        let mut job = DedicatedCompactor::new(env.clone(), config, tables);
        if let Err(error) = job.run().await {
            world.job_failed_over("compactor", &error);
        }
        tokio::time::sleep(Duration::from_millis(
            world.scenario.run.restart_delay.0 as u64,
        ))
        .await;
    }
}
