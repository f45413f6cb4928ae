//! Shared helpers for the integration tests: loading the shipped scenarios.

#![allow(dead_code)]

use sim::scenario::Scenario;

pub fn scenario(name: &str) -> Scenario {
    let path = format!("{}/scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    Scenario::load(std::path::Path::new(&path)).expect("shipped scenario loads")
}

/// Runs the `dwsim` binary from the project root: (exit code, stdout, stderr).
pub fn dwsim(args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dwsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("dwsim runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
