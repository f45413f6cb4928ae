//! The simulator's tests that need its internals across stages: counterfactual runs (storage or
//! the world's record changed after the fact), a tampered DWD and DWS, and the inspector read
//! against the table store that wrote the files.

use std::path::PathBuf;

use crate::scenario::Scenario;

mod counterfactuals;
mod inspector;
mod tampered_dwd;
mod tampered_dws;
mod tampered_store;

/// The repository's root (the sim crate lives one level down).
pub(super) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A shipped scenario, by name.
pub(super) fn shipped(name: &str) -> Scenario {
    Scenario::load(&repo_root().join(format!("scenarios/{name}.toml"))).expect("shipped scenario")
}
