//! `dfs`, the distributed file system the tables and checkpoints live on: an object store served
//! from a host whose disk is a log in the run's spill directory (`dfs_log`; every write synced
//! before it is answered, so a crash loses nothing acknowledged). Its client is
//! `world::dfs_client`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use warehouse::env::{Cost, CostOperator};

use crate::hosts::dfs_log::{Extent, ObjectLog};
use crate::trace::TraceKind;
use crate::world::rpc::{Decoder, Encoder, serve};
use crate::world::{
    DFS_PORT, ProtectedDeletion, SimCost, StoredObjects, Tombstone, World, sim_now_ms,
};

/// The storage server of host `host` (`dfs`, or `dfs-a`/`dfs-b` with dual storage).
pub async fn dfs_host(world: Rc<World>, host: &'static str) -> turmoil::Result {
    let server = DfsServer::start(world.clone(), host);
    world.record(
        host,
        TraceKind::HostStart,
        format!("objects={}", server.object_count()),
    );
    {
        let (server, world) = (server.clone(), world.clone());
        tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if world.control.dump_requested.get()
                    && world.storage_of_host(host).dump.borrow().is_none()
                {
                    server.dump();
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

/// The server side: objects in the host's log, an in-memory index of where each live one is
/// (rebuilt by replaying the log at start), storage time charged from the cost model.
pub struct DfsServer {
    world: Rc<World>,
    /// The storage host this server runs on (`dfs`, `dfs-a` or `dfs-b`).
    host: &'static str,
    log: ObjectLog,
    index: RefCell<BTreeMap<String, Extent>>,
    /// Wall-clock ms of each object's last write; objects found on disk at start get the start
    /// time (the disk keeps no times), which only makes them look younger.
    modified: RefCell<BTreeMap<String, i64>>,
    cost: SimCost,
}

/// How many production bytes one stored byte of `path` stands for: DWD's data and changelog
/// files hold the represented events (`[traffic] represents`); metadata and DWS do not scale.
fn represented_factor(world: &World, path: &str) -> u64 {
    // A data or changelog file: `bucket-<n>/` below the root and any `key=value` partition
    // directories.
    let dwd_buckets = path
        .strip_prefix(warehouse::jobs::schemas::DWD_TABLE_ROOT)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|rest| {
            rest.split('/')
                .find(|dir| !dir.contains('='))
                .is_some_and(|dir| dir.starts_with("bucket-"))
        });
    if dwd_buckets {
        world.scenario.represents()
    } else {
        1
    }
}

fn error_response(reason: String) -> Vec<u8> {
    Encoder::default().u8(9).str(&reason).0
}

impl DfsServer {
    /// The server of storage host `host`, recording into that system's observations.
    pub fn start(world: Rc<World>, host: &'static str) -> Rc<Self> {
        let (log, index) = ObjectLog::open(world.spill.disk(host));
        let cost = SimCost::metered(host, &world);
        let now = world.scenario.run.epoch_ms + sim_now_ms();
        let modified = index
            .keys()
            .map(|path: &String| (path.clone(), now))
            .collect();
        Rc::new(Self {
            world,
            host,
            log,
            index: RefCell::new(index),
            modified: RefCell::new(modified),
            cost,
        })
    }

    pub fn object_count(&self) -> usize {
        self.index.borrow().len()
    }

    fn valid_path(path: &str) -> bool {
        !path.is_empty()
            && !path.starts_with('/')
            && !path.split('/').any(|p| p.is_empty() || p == "..")
    }

    fn write(&self, path: &str, bytes: &[u8]) -> Result<(), String> {
        let extent = self
            .log
            .put(path, bytes)
            .map_err(|e| format!("{path}: {e}"))?;
        self.count(|t| t.files_written += 1);
        self.index.borrow_mut().insert(path.to_string(), extent);
        let now = self.world.scenario.run.epoch_ms + sim_now_ms();
        self.modified.borrow_mut().insert(path.to_string(), now);
        self.world
            .storage_of_host(self.host)
            .graveyard
            .borrow_mut()
            .remove(path);
        Ok(())
    }

    /// Gives a deleted object's bytes (still in the log) to the graveyard, and notes a snapshot
    /// deletion that a consumer file of its table still protected.
    fn bury(&self, path: &str, extent: Extent) {
        let now = sim_now_ms();
        if let Some((root, id)) = path.split_once("/snapshot/snapshot-")
            && let Ok(id) = id.parse::<i64>()
        {
            let prefix = format!("{root}/consumer/consumer-");
            let consumers: Vec<(String, Extent)> = self
                .index
                .borrow()
                .range(prefix.clone()..)
                .take_while(|(found, _)| found.starts_with(&prefix))
                .map(|(found, at)| (found.clone(), *at))
                .collect();
            for (consumer, at) in consumers {
                let next = serde_json::from_slice::<serde_json::Value>(&self.log.read(at))
                    .ok()
                    .and_then(|v| v["nextSnapshot"].as_i64());
                if let Some(next) = next
                    && id >= next
                {
                    self.world
                        .storage_of_host(self.host)
                        .protected_deletions
                        .borrow_mut()
                        .push(ProtectedDeletion {
                            t_ms: now,
                            snapshot_path: path.to_string(),
                            consumer_path: consumer,
                            next_snapshot: next,
                        });
                }
            }
        }
        self.world
            .storage_of_host(self.host)
            .graveyard
            .borrow_mut()
            .insert(
                path.to_string(),
                Tombstone {
                    deleted_ms: now,
                    bytes: self.log.bytes_at(extent),
                },
            );
    }

    /// Counts a request in this storage system's traffic.
    fn count(&self, update: impl FnOnce(&mut crate::world::StorageTraffic)) {
        update(&mut self.world.storage_of_host(self.host).traffic.borrow_mut());
    }

    pub async fn handle(&self, request: Vec<u8>) -> Vec<u8> {
        let mut decoder = Decoder::new(&request);
        let result = async {
            let tag = decoder.u8()?;
            let path = decoder.str()?;
            if !(Self::valid_path(&path) || ((tag == 4 || tag == 6) && !path.starts_with('/'))) {
                return Err(format!("invalid object path `{path}`"));
            }
            // Injected storage faults: a slow disk delays every request; errors and a full
            // disk fail the request before it touches the disk, as the OS would report them.
            let slow_ms = self.world.faults.disk_fault(self.host).slow_ms;
            if slow_ms > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(slow_ms as u64)).await;
            }
            if let Some(reason) = self
                .world
                .faults
                .disk_fault_hits(self.host, matches!(tag, 1 | 2 | 5))
            {
                return Err(format!("{path}: {reason}"));
            }
            match tag {
                1 | 2 => {
                    let bytes = decoder.bytes()?;
                    self.cost
                        .charge(CostOperator::DfsWrite, 1, bytes.len() as u64)
                        .await;
                    let represented =
                        (bytes.len() as u64).saturating_mul(represented_factor(&self.world, &path));
                    self.count(|t| {
                        t.write_requests += 1;
                        t.bytes_written = t.bytes_written.saturating_add(represented);
                    });
                    if tag == 2 {
                        if self.index.borrow().contains_key(&path) {
                            return Ok(vec![1, 0]);
                        }
                        self.write(&path, bytes)?;
                        if path.contains("/snapshot/snapshot-") {
                            self.world
                                .storage_of_host(self.host)
                                .snapshot_commits
                                .borrow_mut()
                                .insert(path, sim_now_ms());
                        }
                        return Ok(vec![1, 1]);
                    }
                    self.write(&path, bytes)?;
                    Ok(vec![0])
                }
                3 => {
                    let Some(extent) = self.index.borrow().get(&path).copied() else {
                        return Ok(vec![3]);
                    };
                    let bytes = self.log.read(extent);
                    self.cost
                        .charge(CostOperator::DfsRead, 1, bytes.len() as u64)
                        .await;
                    let represented =
                        (bytes.len() as u64).saturating_mul(represented_factor(&self.world, &path));
                    self.count(|t| {
                        t.read_requests += 1;
                        t.bytes_read = t.bytes_read.saturating_add(represented);
                    });
                    Ok(Encoder::default().u8(2).bytes(&bytes).0)
                }
                4 => {
                    self.count(|t| t.list_requests += 1);
                    let mut out = Encoder::default().u8(4);
                    for found in self
                        .index
                        .borrow()
                        .range(path.clone()..)
                        .map(|(found, _)| found)
                        .take_while(|p| p.starts_with(&path))
                    {
                        out = out.str(found);
                    }
                    Ok(out.0)
                }
                5 => {
                    self.count(|t| t.delete_requests += 1);
                    let removed = self.index.borrow_mut().remove(&path);
                    if let Some(extent) = removed {
                        self.count(|t| t.files_deleted += 1);
                        self.modified.borrow_mut().remove(&path);
                        self.log.delete(&path).map_err(|e| format!("{path}: {e}"))?;
                        self.bury(&path, extent);
                    }
                    Ok(vec![0])
                }
                6 => {
                    self.count(|t| t.list_requests += 1);
                    let mut out = Encoder::default().u8(6);
                    let modified = self.modified.borrow();
                    for found in self
                        .index
                        .borrow()
                        .range(path.clone()..)
                        .map(|(found, _)| found)
                        .take_while(|p| p.starts_with(&path))
                    {
                        let time = modified.get(found).copied().unwrap_or(i64::MAX);
                        out = out.str(found).str(&time.to_string());
                    }
                    Ok(out.0)
                }
                _ => Err(format!("unknown dfs request tag {tag}")),
            }
        }
        .await;
        result.unwrap_or_else(error_response)
    }

    /// Names every object in the world's observations (requested by the world at the end of a
    /// run), each as its byte range of the log: the log only grows, so the range keeps these
    /// bytes whatever the dfs does while another storage system dumps.
    pub fn dump(&self) {
        let mut objects = StoredObjects::default();
        for (name, extent) in self.index.borrow().iter() {
            objects.insert_bytes(name.clone(), self.log.bytes_at(*extent));
        }
        *self.world.storage_of_host(self.host).dump.borrow_mut() = Some(objects);
    }
}
