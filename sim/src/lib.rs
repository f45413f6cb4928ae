//! The deterministic world around the warehouse: turmoil hosts for TT, the jobs, storage and
//! serving; seeded traffic and faults; the checkers that recompute correctness from ground truth;
//! the trace and the run summary. One seed reproduces one run bit for bit.
//!
//! The modules are the stages of a run, each using only the stages above it:
//! `topology` (which hosts exist) → `scenario` (what to run) → `trace` → `world` (shared state and
//! the warehouse's ports) → `hosts` (where the warehouse runs) → `faults` → `run` (where a run
//! starts) → `check` (where verdicts are made) → `report` → `campaign` (many runs).

pub mod campaign;
pub mod check;
pub mod faults;
pub mod hosts;
pub mod report;
pub mod run;
pub mod scenario;
pub mod topology;
pub mod trace;
pub mod world;
