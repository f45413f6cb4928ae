//! The deterministic world around the warehouse: turmoil hosts for TT, the jobs, storage and
//! serving; seeded traffic and faults; the checkers that recompute correctness from ground truth;
//! the trace and the run summary. One seed reproduces one run bit for bit.
//!
//! The modules are the stages of a run, each using only the stages above it:
//! `topology` (which hosts exist) → `scenario` (what to run) → `trace` → `world` (shared state and
//! the warehouse's ports) → `hosts` (where the warehouse runs) → `faults` → `run` (where a run
//! starts) → `check` (where verdicts are made) → `report` → `campaign` (many runs). This file is
//! the crate's facade: what the CLI and the integration tests use.

pub mod scenario;

mod campaign;
mod check;
mod faults;
mod hosts;
mod report;
mod run;
mod topology;
mod trace;
mod world;

pub use campaign::{bench, incident, plan, plan_report, shrink, sweep};
pub use check::{CheckerName, Run, Violation, check, recheck, run};
pub use faults::random::{random_catalogue_schedule, random_schedule, whole_catalogue};
pub use faults::swarm::{EmitError, emit as emit_swarm_scenario, swarm};
pub use report::artefacts::{
    OUTPUT_MARKER, OutputError, check_out_dir, clear_out_dir, write_all as write_artefacts,
};
pub use report::summary::Summary;
pub use run::{Simulation, simulate, simulate_traced};
pub use topology::Topology;
pub use trace::view as trace_view;
pub use trace::{TraceKind, TraceMode};
pub use world::seed::SeedTree;
pub use world::spill::SpillDir;

#[cfg(test)]
mod tests;
