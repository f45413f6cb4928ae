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
use crate::world::{TT_PORT, TurmoilDisk, World, sim_now_ms};

const TT_ROOT: &str = "/tt";

pub async fn tt_host(world: Rc<World>) -> turmoil::Result {
    let broker = match Broker::open(
        TurmoilDisk,
        TT_ROOT,
        world.scenario.tt.config(world.scenario.traffic.partitions),
    ) {
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
    let handler = Rc::new(move |request: Vec<u8>| {
        let (world, broker) = (world.clone(), broker.clone());
        async move {
            // Injected storage faults on TT's disk: a slow disk delays every request; errors
            // and a full disk fail a request whole, before the broker touches the log.
            let slow_ms = world.faults.disk_fault("tt").slow_ms;
            if slow_ms > 0 {
                tokio::time::sleep(Duration::from_millis(slow_ms as u64)).await;
            }
            let is_write = matches!(
                request.first(),
                Some(&TtRequest::APPEND_TAG | &TtRequest::COMMIT_OFFSET_TAG)
            );
            let response = match world.faults.disk_fault_hits("tt", is_write) {
                Some(reason) => TtResponse::Error(reason),
                None => handle_tt(&world, &broker, &request),
            };
            response.encode()
        }
    });
    serve(TT_PORT, handler).await?;
    Ok(())
}

fn handle_tt(world: &World, broker: &RefCell<Broker<TurmoilDisk>>, request: &[u8]) -> TtResponse {
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
            .handle(TT_ROOT, request, world.scenario.run.epoch_ms + now_ms);
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
        log.extend(ids.iter().map(|id| (*id, now_ms)));
        drop(ledger);
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
