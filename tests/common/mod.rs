//! Shared helpers for the integration tests: loading the shipped scenarios.

#![allow(dead_code)]

use sim::scenario::Scenario;

pub fn scenario(name: &str) -> Scenario {
    let path = format!("{}/scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    Scenario::load(std::path::Path::new(&path)).expect("shipped scenario loads")
}
