//! The `tt` host: the message queue's broker on a durable local disk, serving appends, fetches
//! and offset commits over the simulated network, with the world's TT ledger kept beside it.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use warehouse::tt::{Broker, TtRequest, TtResponse};

use crate::hosts::idle_forever;
use crate::topology::TT;
use crate::trace::TraceKind;
use crate::world::rpc::serve;
use crate::world::{SpillDisk, TT_DWD_PORT, TT_PORT, World, sim_now_ms};

const TT_ROOT: &str = "/tt";
/// TT era: the DWD topic's log, beside ODS's on the same disk.
const TT_DWD_ROOT: &str = "/tt-dwd";

pub async fn tt_host(world: Rc<World>) -> turmoil::Result {
    let broker = match Broker::open(world.spill.disk(TT), TT_ROOT, world.scenario.tt_config()) {
        Ok(broker) => Rc::new(RefCell::new(broker)),
        Err(error) => {
            world.record(TT, TraceKind::TtOpenFailed, error.to_string());
            return idle_forever().await;
        }
    };
    let offsets = broker.borrow().partition_offsets();
    world.record(
        TT,
        TraceKind::HostStart,
        format!("recovered_offsets={offsets:?}"),
    );
    let epoch_ms = world.scenario.run.epoch_ms;
    {
        let (broker, world) = (broker.clone(), world.clone());
        tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let dropped = broker
                    .borrow_mut()
                    .enforce_retention(epoch_ms + sim_now_ms());
                match dropped {
                    Ok(0) => {}
                    Ok(records) => world.record(
                        TT,
                        TraceKind::Retention,
                        format!("records_deleted={records}"),
                    ),
                    Err(error) => world.record(TT, TraceKind::RetentionFailed, error.to_string()),
                }
            }
        });
    }
    if world.scenario.pipeline.is_tt_era() {
        let world = world.clone();
        tokio::task::spawn_local(async move { serve_dwd_topic(world).await });
    }
    let handler = Rc::new(move |request: Vec<u8>| {
        let (world, broker) = (world.clone(), broker.clone());
        async move {
            let response = match injected_disk_fault(&world, &request).await {
                Some(error) => error,
                None => handle_tt(&world, &broker, &request),
            };
            response.encode()
        }
    });
    serve(TT_PORT, handler).await?;
    Ok(())
}

/// Injected storage faults on TT's disk, for both topics: a slow disk delays every request;
/// errors and a full disk fail a request whole, before the broker touches the log.
async fn injected_disk_fault(world: &World, request: &[u8]) -> Option<TtResponse> {
    let slow_ms = world.faults.disk_fault("tt").slow_ms;
    if slow_ms > 0 {
        tokio::time::sleep(Duration::from_millis(slow_ms as u64)).await;
    }
    let is_write = matches!(
        request.first(),
        Some(&TtRequest::APPEND_TAG | &TtRequest::COMMIT_OFFSET_TAG)
    );
    world
        .faults
        .disk_fault_hits("tt", is_write)
        .map(TtResponse::Error)
}

fn handle_tt(world: &World, broker: &RefCell<Broker<SpillDisk>>, request: &[u8]) -> TtResponse {
    let request = match TtRequest::decode(request) {
        Ok(request) => request,
        Err(error) => return TtResponse::Error(error.to_string()),
    };
    let fetch = match &request {
        TtRequest::Fetch {
            partition, offset, ..
        } => Some((*partition, *offset)),
        _ => None,
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
            .handle(TT_ROOT, request, world.scenario.run.epoch_ms + now_ms);
    if let (Some((partition, offset)), TtResponse::Records(fetched)) = (fetch, &response) {
        note_fetch(
            world,
            partition,
            offset + fetched.events.len() as u64,
            now_ms,
        );
    }
    if let (Some((partition, ids)), TtResponse::Appended { base_offset }) = (append, &response) {
        let mut ledger = world.observed.ledger.borrow_mut();
        let log = &mut ledger.partitions[partition as usize];
        if log.len() as u64 != *base_offset {
            world.record(
                TT,
                TraceKind::LedgerGap,
                format!(
                    "partition={partition} ledger_len={} base_offset={base_offset}",
                    log.len()
                ),
            );
        }
        for &id in &ids {
            log.push(id, now_ms);
        }
        drop(ledger);
        note_fetch(world, partition, 0, now_ms);
        world.record(
            TT,
            TraceKind::Append,
            format!(
                "partition={partition} base_offset={base_offset} events={}",
                ids.len()
            ),
        );
    }
    response
}

/// Moves partition `partition`'s furthest read position to `fetched_to` (never back) and
/// samples TT's backlog for the capacity report.
fn note_fetch(world: &World, partition: u32, fetched_to: u64, now_ms: i64) {
    let ledger = world.observed.ledger.borrow();
    let mut backlog = world.observed.tt_backlog.borrow_mut();
    if backlog.fetched_to.len() < ledger.partitions.len() {
        backlog.fetched_to.resize(ledger.partitions.len(), 0);
    }
    let position = &mut backlog.fetched_to[partition as usize];
    *position = (*position).max(fetched_to);
    backlog.sample(now_ms, ledger.partitions.iter().map(|p| p.len() as u64));
}

/// TT era: the DWD topic, a second broker on this host's disk (same partitions, retention and
/// disk faults as ODS), on its own port. What it appends is counted per event id, so the
/// report can say how many duplicates the at-least-once DWD job let through.
async fn serve_dwd_topic(world: Rc<World>) -> std::io::Result<()> {
    let broker = match Broker::open(
        world.spill.disk(TT),
        TT_DWD_ROOT,
        world.scenario.tt_config(),
    ) {
        Ok(broker) => Rc::new(RefCell::new(broker)),
        Err(error) => {
            world.record(TT, TraceKind::TtOpenFailed, format!("DWD topic: {error}"));
            return Ok(());
        }
    };
    let epoch_ms = world.scenario.run.epoch_ms;
    {
        let broker = broker.clone();
        tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let _ = broker
                    .borrow_mut()
                    .enforce_retention(epoch_ms + sim_now_ms());
            }
        });
    }
    let handler = Rc::new(move |request: Vec<u8>| {
        let (world, broker) = (world.clone(), broker.clone());
        async move {
            if let Some(error) = injected_disk_fault(&world, &request).await {
                return error.encode();
            }
            let request = match TtRequest::decode(&request) {
                Ok(request) => request,
                Err(error) => return TtResponse::Error(error.to_string()).encode(),
            };
            let ids: Vec<u64> = match &request {
                TtRequest::Append { events, .. } => events.iter().map(|e| e.event_id).collect(),
                _ => Vec::new(),
            };
            let response =
                broker
                    .borrow_mut()
                    .handle(TT_DWD_ROOT, request, epoch_ms + sim_now_ms());
            if let TtResponse::Appended { .. } = response {
                world
                    .observed
                    .tt_era
                    .borrow_mut()
                    .note_dwd_topic_append(&ids);
            }
            response.encode()
        }
    });
    serve(TT_DWD_PORT, handler).await
}
