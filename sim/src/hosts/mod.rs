//! The software each turmoil host runs: the TT broker, the two Flink jobs, the storage server and
//! the serving layer. A restarted host runs its function again from the top, with empty memory.

pub mod dfs;
pub mod failover;
pub mod ops;
pub mod traffic;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use rand::Rng;
use warehouse::env::{Clock, Env, JournalKind};
use warehouse::jobs::schemas::{
    DWD_TABLE_ROOT, DWS_TABLE_ROOT, LATE_TABLE_ROOT, dwd_schema, dws_schema, late_schema,
};
use warehouse::jobs::{
    CompactorConfig, DedicatedCompactor, DwdToDws, DwdToDwsConfig, OdsToDwd, OdsToDwdConfig,
};
use warehouse::serving::{BudgetController, ServingLayer};
use warehouse::stream::{CheckpointConfig, IntervalPolicy, StreamJob, backoff_sleep, run_job};
use warehouse::table::{
    ChangelogProducer, FileCompression, FileStoreTable, MergeEngine, TableOptions, TableSchema,
};
use warehouse::tt::{Broker, TtConfig, TtRequest, TtResponse};

use crate::hosts::dfs::DfsServer;
use crate::scenario::TableSection;
use crate::topology::Chain;
use crate::trace::TraceKind;
use crate::world::rpc::serve;
use crate::world::{DFS_PORT, Shared, SimEnv, SimTransport, TT_PORT, TurmoilDisk, sim_now_ms};

const TT_ROOT: &str = "/tt";

/// Never returns: a host whose software cannot start stays up, idle, with the reason traced.
async fn idle_forever() -> turmoil::Result {
    std::future::pending::<()>().await;
    Ok(())
}

pub fn tt_config(shared: &Shared) -> TtConfig {
    let scenario = &shared.scenario;
    TtConfig {
        partitions: scenario.traffic.partitions,
        segment_records: scenario.tt.segment_records,
        retention_ms: scenario.tt.retention.map(|m| m.0),
        retention_bytes: scenario.tt.retention_bytes,
        fetch_max_records: scenario.tt.fetch_max_records,
    }
}

pub async fn tt_host(shared: Rc<Shared>) -> turmoil::Result {
    let broker = match Broker::open(TurmoilDisk, TT_ROOT, tt_config(&shared)) {
        Ok(broker) => Rc::new(RefCell::new(broker)),
        Err(error) => {
            shared.record("tt", TraceKind::TtOpenFailed, error.to_string());
            return idle_forever().await;
        }
    };
    let offsets = broker.borrow().partition_offsets();
    shared.record(
        "tt",
        TraceKind::HostStart,
        format!("recovered_offsets={offsets:?}"),
    );
    let epoch_ms = shared.scenario.run.epoch_ms;
    {
        let (broker, shared) = (broker.clone(), shared.clone());
        tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let dropped = broker
                    .borrow_mut()
                    .enforce_retention(epoch_ms + sim_now_ms());
                match dropped {
                    Ok(0) => {}
                    Ok(records) => shared.record(
                        "tt",
                        TraceKind::Retention,
                        format!("records_deleted={records}"),
                    ),
                    Err(error) => {
                        shared.record("tt", TraceKind::RetentionFailed, error.to_string())
                    }
                }
            }
        });
    }
    let handler = Rc::new(move |request: Vec<u8>| {
        let (shared, broker) = (shared.clone(), broker.clone());
        async move {
            // Injected storage faults on TT's disk: a slow disk delays every request; errors
            // and a full disk fail a request whole, before the broker touches the log.
            let slow_ms = shared.disk_fault("tt").slow_ms;
            if slow_ms > 0 {
                tokio::time::sleep(Duration::from_millis(slow_ms as u64)).await;
            }
            let is_write = matches!(
                request.first(),
                Some(&TtRequest::APPEND_TAG | &TtRequest::COMMIT_OFFSET_TAG)
            );
            let response = match shared.disk_fault_hits("tt", is_write) {
                Some(reason) => TtResponse::Error(reason),
                None => handle_tt(&shared, &broker, &request),
            };
            response.encode()
        }
    });
    serve(TT_PORT, handler).await?;
    Ok(())
}

fn handle_tt(shared: &Shared, broker: &RefCell<Broker<TurmoilDisk>>, request: &[u8]) -> TtResponse {
    let request = match TtRequest::decode(request) {
        Ok(request) => request,
        Err(error) => return TtResponse::Error(error.to_string()),
    };
    let append = match &request {
        TtRequest::Append { partition, events } => Some((
            *partition,
            events.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        )),
        _ => None,
    };
    let now_ms = sim_now_ms();
    let response =
        broker
            .borrow_mut()
            .handle(TT_ROOT, request, shared.scenario.run.epoch_ms + now_ms);
    if let (Some((partition, ids)), TtResponse::Appended { base_offset }) = (append, &response) {
        let mut ledger = shared.ledger.borrow_mut();
        let log = &mut ledger.partitions[partition as usize];
        if log.len() as u64 != *base_offset {
            shared.record(
                "tt",
                TraceKind::LedgerGap,
                format!(
                    "partition={partition} ledger_len={} base_offset={base_offset}",
                    log.len()
                ),
            );
        }
        log.extend(ids.iter().map(|id| (*id, now_ms)));
        drop(ledger);
        shared.record(
            "tt",
            TraceKind::Append,
            format!(
                "partition={partition} base_offset={base_offset} events={}",
                ids.len()
            ),
        );
    }
    response
}

pub fn table_options(section: &TableSection) -> TableOptions {
    TableOptions {
        bucket: section.bucket,
        merge_engine: MergeEngine::Deduplicate,
        // Scenario validation accepts only these names.
        changelog_producer: ChangelogProducer::from_paimon_name(&section.changelog_producer)
            .unwrap_or_default(),
        file_compression: if section.file_compression == "none" {
            FileCompression::None
        } else {
            FileCompression::Snappy
        },
        compaction_trigger: section.compaction_trigger,
        write_only: section.write_only,
        // Validated when the scenario was loaded.
        lifecycle: section.lifecycle().unwrap_or_default(),
        full_compaction_delta_commits: section.full_compaction_delta_commits,
        stop_trigger: section.stop_trigger,
        target_file_size_bytes: section.target_file_size_bytes,
        sequence_field: section.sequence_field.clone(),
        unsafe_lookup_ignore_sequence_field: section.unsafe_lookup_ignore_sequence_field,
        ..TableOptions::default()
    }
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

fn checkpoint_config(shared: &Shared) -> CheckpointConfig {
    let jobs = &shared.scenario.jobs;
    let policy = match (
        jobs.interval_quiet,
        jobs.interval_peak,
        jobs.rate_quiet,
        jobs.rate_peak,
    ) {
        (Some(quiet), Some(peak), Some(rate_quiet), Some(rate_peak))
            if jobs.checkpoint_policy == "traffic-driven" =>
        {
            IntervalPolicy::TrafficDriven {
                quiet_interval_ms: quiet.0,
                peak_interval_ms: peak.0,
                quiet_records_per_s: rate_quiet,
                peak_records_per_s: rate_peak,
            }
        }
        _ => IntervalPolicy::Fixed,
    };
    CheckpointConfig {
        interval_ms: jobs.checkpoint_interval.0,
        policy,
        interval_during_backlog_ms: jobs.interval_during_backlog.map(|m| m.0),
        timeout_ms: jobs.checkpoint_timeout.0,
        tolerable_failed_checkpoints: jobs.tolerable_failed_checkpoints,
        idle_poll_ms: jobs.idle_poll.0,
    }
}

pub async fn dwd_job_host(shared: Rc<Shared>) -> turmoil::Result {
    let chain = shared.scenario.topology().chains()[0];
    dwd_job_host_on(shared, chain).await
}

/// The ODS→DWD job of `chain`, writing that chain's storage system.
pub async fn dwd_job_host_on(shared: Rc<Shared>, chain: Chain) -> turmoil::Result {
    let host = chain.dwd_job;
    let env = SimEnv::on_storage(host, chain.storage, &shared);
    shared.record(host, TraceKind::HostStart, String::new());
    loop {
        let table = open_table(
            &env,
            DWD_TABLE_ROOT,
            dwd_schema(table_options(&shared.scenario.dwd)),
        )
        .await;
        let config = OdsToDwdConfig {
            job_name: host.into(),
            commit_user: format!("{host}-commit-user"),
            partitions: shared.scenario.traffic.partitions,
            fetch_max_records: shared.scenario.tt.fetch_max_records,
            consumer_group: host.into(),
            out_of_orderness_ms: shared.scenario.jobs.watermark_out_of_orderness.0,
            backlog_lag_records: shared.scenario.jobs.backlog_lag_records,
            parallelism: shared.scenario.jobs.parallelism,
            unsafe_new_commit_user_on_restart: new_commit_user_on_restart(&shared, host),
        };
        let mut job = OdsToDwd::new(env.clone(), config, SimTransport::new(&shared), table);
        run_until_failover(&shared, &env, &mut job).await;
    }
}

/// Whether the scenario's unsafe `unsafe.new-commit-user-on-restart` names `job`.
fn new_commit_user_on_restart(shared: &Shared, job: &str) -> bool {
    shared
        .scenario
        .jobs
        .unsafe_new_commit_user_on_restart
        .iter()
        .any(|name| name == job)
}

/// Runs a job until it fails over, traces why, and waits out Flink's fixed restart delay.
async fn run_until_failover<J: StreamJob>(shared: &Shared, env: &SimEnv, job: &mut J) {
    if let Err(error) = run_job(env, job, &checkpoint_config(shared)).await {
        shared.job_failed_over(job.name(), &error);
    }
    tokio::time::sleep(Duration::from_millis(
        shared.scenario.run.restart_delay.0 as u64,
    ))
    .await;
}

pub async fn dws_job_host(shared: Rc<Shared>) -> turmoil::Result {
    let chain = shared.scenario.topology().chains()[0];
    dws_job_host_on(shared, chain).await
}

/// The DWD→DWS job of `chain`, reading and writing that chain's storage system.
pub async fn dws_job_host_on(shared: Rc<Shared>, chain: Chain) -> turmoil::Result {
    let host = chain.dws_job;
    let env = SimEnv::on_storage(host, chain.storage, &shared);
    shared.record(host, TraceKind::HostStart, String::new());
    loop {
        let dwd = open_table(
            &env,
            DWD_TABLE_ROOT,
            dwd_schema(table_options(&shared.scenario.dwd)),
        )
        .await;
        let dws = open_table(
            &env,
            DWS_TABLE_ROOT,
            dws_schema(table_options(&shared.scenario.dws)),
        )
        .await;
        let consumer = &shared.scenario.jobs.consumer_id;
        let config = DwdToDwsConfig {
            job_name: host.into(),
            commit_user: format!("{host}-commit-user"),
            consumer_id: (!consumer.is_empty()).then(|| consumer.clone()),
            max_snapshots_per_poll: shared.scenario.jobs.max_snapshots_per_poll,
            allowed_lateness_ms: shared.scenario.jobs.allowed_lateness.0,
            parallelism: shared.scenario.jobs.parallelism,
            unsafe_new_commit_user_on_restart: new_commit_user_on_restart(&shared, host),
            version: crate::hosts::ops::version_of(&shared, host),
        };
        crate::hosts::ops::run_pending_rollbacks(&shared, &env, host, &dws).await;
        let late = open_table(&env, LATE_TABLE_ROOT, late_schema()).await;
        let mut job = DwdToDws::new(env.clone(), config, dwd, dws, late);
        run_until_failover(&shared, &env, &mut job).await;
    }
}

/// The dedicated compaction job of the write-only tables (`[jobs.compactor]`). It keeps no
/// state, so a restart (after a crash or a non-transient error) simply starts watching again.
pub async fn compactor_host(shared: Rc<Shared>) -> turmoil::Result {
    let env = SimEnv::new("compactor", &shared);
    shared.record("compactor", TraceKind::HostStart, String::new());
    let poll_interval_ms = shared
        .scenario
        .jobs
        .compactor
        .as_ref()
        .map_or(1_000, |c| c.poll_interval.0);
    loop {
        let mut tables = Vec::new();
        if shared.scenario.dwd.write_only {
            let schema = dwd_schema(table_options(&shared.scenario.dwd));
            tables.push(open_table(&env, DWD_TABLE_ROOT, schema).await);
        }
        if shared.scenario.dws.write_only {
            let schema = dws_schema(table_options(&shared.scenario.dws));
            tables.push(open_table(&env, DWS_TABLE_ROOT, schema).await);
        }
        let config = CompactorConfig {
            job_name: "compactor".into(),
            commit_user: "compactor-commit-user".into(),
            poll_interval_ms,
        };
        let mut job = DedicatedCompactor::new(env.clone(), config, tables);
        if let Err(error) = job.run().await {
            shared.job_failed_over("compactor", &error);
        }
        tokio::time::sleep(Duration::from_millis(
            shared.scenario.run.restart_delay.0 as u64,
        ))
        .await;
    }
}

pub async fn dfs_host(shared: Rc<Shared>) -> turmoil::Result {
    dfs_host_on(shared, "dfs").await
}

/// The storage server of host `host` (`dfs`, or `dfs-a`/`dfs-b` with dual storage).
pub async fn dfs_host_on(shared: Rc<Shared>, host: &'static str) -> turmoil::Result {
    let server = match DfsServer::start_on(shared.clone(), host) {
        Ok(server) => {
            shared.record(
                host,
                TraceKind::HostStart,
                format!("objects={}", server.object_count()),
            );
            server
        }
        Err(error) => {
            shared.record(host, TraceKind::DfsOpenFailed, error.to_string());
            return idle_forever().await;
        }
    };
    {
        let (server, shared) = (server.clone(), shared.clone());
        tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if shared.dump_requested.get()
                    && shared.storage(host).dump.borrow().is_none()
                    && let Err(error) = server.dump()
                {
                    shared.record(host, TraceKind::DumpFailed, error.to_string());
                }
            }
        });
    }
    let handler = Rc::new(move |request: Vec<u8>| {
        let server = server.clone();
        async move { server.handle(request).await }
    });
    serve(DFS_PORT, handler).await?;
    Ok(())
}

pub async fn serving_host(shared: Rc<Shared>) -> turmoil::Result {
    if shared.scenario.storage.dual {
        return crate::hosts::failover::serving_host_dual(shared).await;
    }
    let env = SimEnv::new("serving", &shared);
    let mut rng = shared.seeds.fork("host/serving");
    let dws = open_table(
        &env,
        DWS_TABLE_ROOT,
        dws_schema(table_options(&shared.scenario.dws)),
    )
    .await;
    let mut serving = ServingLayer::new(env.clone(), dws);
    let interval_ms = shared.scenario.serving.query_interval.0;
    let window = shared.scenario.serving.window_minutes;
    let budget_check_ms = shared.scenario.serving.budget_check_interval.0;
    let refresh_timeout = Duration::from_millis(shared.scenario.serving.refresh_timeout.0 as u64);
    let refresh_interval_ms = shared.scenario.serving.refresh_interval.0.max(1);
    let mut budget = budget_controller(&shared);
    let mut next_check_ms = (sim_now_ms() / budget_check_ms + 1) * budget_check_ms;
    loop {
        // Queries arrive on a fixed grid of slots (as clients would send them), so a slow
        // answer or a crash shows as missed slots in the availability report. Budget checks
        // run on their own grid; a query slot goes first when both fall due together.
        let now_ms = sim_now_ms();
        let slot_ms = (now_ms / interval_ms + 1) * interval_ms;
        if let Some(controller) = budget.as_mut()
            && next_check_ms < slot_ms
        {
            let wait_ms = (next_check_ms - now_ms).max(0);
            tokio::time::sleep(Duration::from_millis(wait_ms as u64)).await;
            check_budgets(&shared, controller, &mut serving).await;
            next_check_ms = (sim_now_ms() / budget_check_ms + 1) * budget_check_ms;
            continue;
        }
        // Idle time until the slot (a budget check due earlier went first, above): the view
        // follows DWS in the background, a refresh every `refresh_interval`, each stopped at the
        // slot so a slow refresh never delays a query.
        loop {
            let now_ms = sim_now_ms();
            if now_ms >= slot_ms {
                break;
            }
            let idle = Duration::from_millis((slot_ms - now_ms) as u64);
            let _ = tokio::time::timeout(idle, serving.refresh()).await;
            let now_ms = sim_now_ms();
            let next_poll_ms = (now_ms + refresh_interval_ms).min(slot_ms);
            tokio::time::sleep(Duration::from_millis((next_poll_ms - now_ms).max(0) as u64)).await;
        }
        // At the slot: the latest snapshot if the view reaches it within `refresh_timeout`,
        // else the view as it stands (refresh is cancel-safe).
        let advertiser = 1 + rng.random_range(0..i64::from(shared.scenario.traffic.advertisers));
        let refresh_outcome = match tokio::time::timeout(refresh_timeout, serving.refresh()).await {
            Ok(Ok(_)) => None,
            Ok(Err(error)) => Some(format!("refresh failed: {error}")),
            Err(_) => Some(format!(
                "refresh still running after {} ms",
                refresh_timeout.as_millis()
            )),
        };
        match serving.answer_from_view(advertiser, window) {
            Some(answer) => {
                let staleness_ms = env.clock().now_millis() - answer.snapshot_time_ms;
                shared
                    .answers
                    .borrow_mut()
                    .push(crate::world::ServedAnswer {
                        t_ms: slot_ms,
                        snapshot_id: answer.snapshot_id,
                        staleness_ms,
                        latency_ms: sim_now_ms() - slot_ms,
                    });
                let from_view = refresh_outcome
                    .map(|why| format!(" from_view=\"{why}\""))
                    .unwrap_or_default();
                shared.record(
                    "serving",
                    TraceKind::Query,
                    format!(
                        "advertiser={advertiser} window_min={window} snapshot={} spend_micros={} clicks={} ctr_ppm={} staleness_ms={staleness_ms}{from_view}",
                        answer.snapshot_id, answer.spend_micros, answer.clicks, answer.ctr_ppm
                    ),
                );
            }
            None => match refresh_outcome {
                Some(why) => shared.record("serving", TraceKind::QueryFailed, why),
                None => shared.record(
                    "serving",
                    TraceKind::QueryEmpty,
                    format!("advertiser={advertiser}"),
                ),
            },
        }
    }
}

/// The serving host's budget controller, when the scenario sets daily budgets.
pub(crate) fn budget_controller(shared: &Shared) -> Option<BudgetController> {
    shared.scenario.serving.daily_budget_micros.map(|micros| {
        let utc_offset_ms = (shared.scenario.traffic.utc_offset_hours * 3_600_000.0) as i64;
        BudgetController::new(micros, utc_offset_ms)
    })
}

/// One budget check: pauses found now take effect after the scenario's reaction delay.
pub(crate) async fn check_budgets(
    shared: &Shared,
    controller: &mut BudgetController,
    serving: &mut ServingLayer<SimEnv>,
) {
    match controller.check(serving).await {
        Ok(pauses) => {
            let effective_ms = sim_now_ms() + shared.scenario.serving.budget_reaction_delay.0;
            for pause in pauses {
                let key = (pause.advertiser_id, pause.day_start_ms);
                if shared.budget_pauses.borrow().contains_key(&key) {
                    continue;
                }
                shared.record(
                    "serving",
                    TraceKind::BudgetPause,
                    format!(
                        "advertiser={} dws_spend_micros={} snapshot={} effective_ms={effective_ms}",
                        pause.advertiser_id, pause.dws_spend_micros, pause.snapshot_id
                    ),
                );
                shared
                    .budget_pauses
                    .borrow_mut()
                    .insert(key, (pause, effective_ms));
            }
        }
        Err(error) => shared.record("serving", TraceKind::BudgetCheckFailed, error.to_string()),
    }
}
