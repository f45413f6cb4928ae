//! Many runs and their results: seed sweeps for CI, capacity plans over a grid of options, benches,
//! shrinking a failing run, the incident library.

pub mod before_after;
pub mod bench;
pub mod incident;
pub mod plan;
mod plan_charts;
pub mod plan_report;
mod plan_run;
pub(crate) mod pool;
pub mod shrink;
pub mod sweep;
