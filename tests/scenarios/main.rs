//! Whole runs of the shipped scenarios, one test binary: golden summaries, determinism, seeds of
//! each scenario with random faults, event time, budgets, backpressure, checkpointing, dedicated
//! compaction, dual storage, lifecycle and the incident library.

#[path = "../common/mod.rs"]
mod common;

mod backpressure;
mod budget;
mod checkpointing;
mod dedicated_compaction;
mod determinism;
mod exactly_once;
mod fifty_seeds;
mod freshness_phases;
mod fuzz;
mod golden;
mod incidents;
mod late_data;
mod lifecycle;
mod partitioned_dwd;
mod storage_failover;
mod swarm;
mod tt_era;
