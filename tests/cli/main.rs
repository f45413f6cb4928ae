//! The `dwsim` command as its users meet it, one test binary: `run`, `trace`, `table scan`, `bench`,
//! abuse of every command, `sweep` with its results file, shards and merge, `plan`, and `shrink`.

#[path = "../common/mod.rs"]
mod common;

mod abuse;
mod bench;
mod cli;
mod plan;
mod shrink;
mod sweep;
