//! `dwsim shrink`: a failing seed reduced to the faults that matter, written as a scenario.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sim::scenario::{Override, Scenario, overrides};

use crate::{scenario_text, scenario_with_flags};

pub(crate) fn shrink(
    scenario_arg: &str,
    overrides: &[Override],
    seed: u64,
    out: Option<PathBuf>,
    max_runs: usize,
    swarm: bool,
) -> ExitCode {
    let (mut text, origin) = match scenario_text(scenario_arg) {
        Ok(found) => found,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    if !overrides.is_empty() {
        // Refused overrides are reported against the file and the flags; the shrunk scenario
        // is written with them applied, so it reproduces without them.
        if let Err(error) = Scenario::parse_with_overrides(&text, &origin, overrides) {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
        match overrides::apply(&text, overrides) {
            Ok((edited, _)) => text = edited,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        }
    }
    // A swarm seed is shrunk from the scenario it drew (knobs and faults written into the text).
    if swarm {
        match swarm_text(&text, &origin, seed) {
            Ok((drawn, _)) => text = drawn,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        }
    }
    let shrunk = match sim::shrink::shrink(&text, &origin, seed, max_runs.max(2), |line| {
        eprintln!("{line}")
    }) {
        Ok(shrunk) => shrunk,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let out = out.unwrap_or_else(|| {
        let stem = Path::new(scenario_arg)
            .file_stem()
            .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
        PathBuf::from(format!("{stem}-seed{seed}-shrunk.toml"))
    });
    let header = format!(
        "# Shrunk by `dwsim shrink {} --seed {seed}{}`: still fails `{}`.\n",
        scenario_with_flags(scenario_arg, overrides),
        if swarm { " --swarm" } else { "" },
        shrunk.checker
    );
    if let Err(error) = std::fs::write(&out, header + &shrunk.scenario_toml) {
        eprintln!("error: cannot write {}: {error}", out.display());
        return ExitCode::from(2);
    }
    println!(
        "shrunk the `{}` failure of seed {seed}: faults {} -> {}, chaos {} -> {}, in {} runs",
        shrunk.checker,
        shrunk.faults_before,
        shrunk.faults.len(),
        shrunk.chaos_before,
        shrunk.chaos,
        shrunk.runs
    );
    for fault in &shrunk.faults {
        println!(
            "  kept: {:?} {} at {} for {}",
            fault.kind(),
            fault.effect.hosts().join(" <-> "),
            fault.at,
            fault.duration
        );
    }
    println!("wrote {}", out.display());
    println!("reproduce: dwsim run {} --seed {seed}", out.display());
    ExitCode::SUCCESS
}

/// The scenario `--swarm` draws from `seed`, as an ordinary scenario's text: shrinking works on
/// it like on any file, and the shrunk file runs without `--swarm`.
fn swarm_text(text: &str, origin: &str, seed: u64) -> Result<(String, String), String> {
    let base = sim::scenario::Scenario::parse(text, origin).map_err(|e| e.to_string())?;
    let (drawn, knobs) = sim::swarm(&base, seed);
    eprintln!("swarm (seed {seed}): {}", knobs.join("; "));
    let emitted = sim::emit_swarm_scenario(text, &drawn).map_err(|e| e.to_string())?;
    Ok((emitted, format!("{origin} (swarm draw of seed {seed})")))
}
