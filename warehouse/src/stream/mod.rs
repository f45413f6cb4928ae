//! A Flink-style streaming runtime: a job is a source, operators and a two-phase-commit sink driven
//! by a checkpoint loop. Barriers are aligned trivially because each job runs as one task; state
//! goes to durable checkpoint storage before the sink's committables are committed.

pub mod checkpoint;
pub mod runtime;

#[cfg(test)]
mod tests;

pub use checkpoint::{CheckpointError, CheckpointStorage, CompletedCheckpoint};
pub use runtime::{CheckpointConfig, IntervalPolicy, JobError, StreamJob, backoff_sleep, run_job};
