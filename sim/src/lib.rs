//! The deterministic world around the warehouse: turmoil hosts for TT, the jobs, storage and
//! serving; seeded traffic and faults; the checkers that recompute correctness from ground truth;
//! the trace and the run summary. One seed reproduces one run bit for bit.

pub mod budget;
pub mod capacity;
pub mod checkers;
pub mod dfs;
pub mod failover;
pub mod faults;
pub mod files_checker;
pub mod hosts;
pub mod incident;
pub mod inspect;
pub mod late_data;
pub mod operations;
pub mod output;
pub mod perfetto;
pub mod rpc;
pub mod run;
pub mod scenario;
pub mod seed;
pub mod shrink;
pub mod sla;
pub mod storage;
pub mod summary;
pub mod swarm;
pub mod sweep;
pub mod trace;
pub mod traffic;
pub mod world;
