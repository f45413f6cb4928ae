//! Shrinking a failing run: delta debugging (ddmin) over the scenario's fault schedule, then a
//! shorter chaos phase, keeping only changes under which the same seed still fails the same
//! checker. The result is written as a scenario file an engineer can run and read.

use crate::report::summary::Summary;
use crate::scenario::{FaultSpec, Millis, Scenario};

#[derive(Debug, thiserror::Error)]
pub enum ShrinkError {
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
    #[error("seed {seed} passes every checker: there is no failure to shrink")]
    NotFailing { seed: u64 },
    #[error("cannot write the shrunk scenario: {0}")]
    Toml(String),
}

/// A shrunk failing run.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The checker the original run failed first; every kept candidate fails it too.
    pub checker: String,
    pub faults_before: usize,
    pub faults: Vec<FaultSpec>,
    pub chaos_before: Millis,
    pub chaos: Millis,
    /// Simulation runs spent, the original included.
    pub runs: usize,
    /// The shrunk scenario as TOML: the original file with `[[faults]]` and `chaos` replaced.
    pub scenario_toml: String,
}

/// One trial: the scenario with these faults and this chaos length, run with `seed`.
fn failed_checkers(base: &Scenario, faults: &[FaultSpec], chaos: Millis, seed: u64) -> Vec<String> {
    let mut scenario = base.clone();
    scenario.faults = faults.to_vec();
    scenario.run.chaos = chaos;
    let output = crate::check::run(scenario, seed);
    Summary::build(&output, "shrink", "shrink", 1.0).failed_checkers
}

/// Shrinks the failure of `seed` on the scenario in `text`; `progress` hears each trial.
pub fn shrink(
    text: &str,
    origin: &str,
    seed: u64,
    max_runs: usize,
    mut progress: impl FnMut(&str),
) -> Result<Shrunk, ShrinkError> {
    let base = Scenario::parse(text, origin)?;
    let original = failed_checkers(&base, &base.faults, base.run.chaos, seed);
    let Some(checker) = original.first().cloned() else {
        return Err(ShrinkError::NotFailing { seed });
    };
    progress(&format!(
        "seed {seed} fails `{checker}` with {} faults and {} of chaos",
        base.faults.len(),
        base.run.chaos
    ));
    let mut runs = 1;
    let mut still_fails = |faults: &[FaultSpec], chaos: Millis, runs: &mut usize| -> bool {
        if *runs >= max_runs {
            return false;
        }
        *runs += 1;
        let fails = failed_checkers(&base, faults, chaos, seed).contains(&checker);
        progress(&format!(
            "run {runs}: {} faults, chaos {chaos}: {}",
            faults.len(),
            if fails { "still fails" } else { "passes" }
        ));
        fails
    };
    let chaos = base.run.chaos;
    let faults = ddmin(base.faults.clone(), |candidate| {
        still_fails(candidate, chaos, &mut runs)
    });
    // Then the traffic: halve the chaos phase while the kept faults fit and it still fails.
    let mut shortest = chaos;
    let earliest_end = faults
        .iter()
        .map(|f| f.at.0 + f.duration.0)
        .max()
        .unwrap_or(0)
        + 5_000;
    loop {
        let candidate = Millis((shortest.0 / 2).max(earliest_end).max(5_000));
        if candidate >= shortest || !still_fails(&faults, candidate, &mut runs) {
            break;
        }
        shortest = candidate;
    }
    let scenario_toml = render(text, &faults, shortest)?;
    Ok(Shrunk {
        checker,
        faults_before: base.faults.len(),
        faults,
        chaos_before: chaos,
        chaos: shortest,
        runs,
        scenario_toml,
    })
}

/// Zeller's ddmin: a 1-minimal subset of `items` for which `fails` holds (given it holds for all).
pub fn ddmin<T: Clone>(mut items: Vec<T>, mut fails: impl FnMut(&[T]) -> bool) -> Vec<T> {
    if items.is_empty() || fails(&[]) {
        return Vec::new();
    }
    let mut granularity = 2;
    while items.len() >= 2 {
        let chunk = items.len().div_ceil(granularity);
        let parts: Vec<Vec<T>> = items.chunks(chunk).map(<[T]>::to_vec).collect();
        let mut reduced = false;
        for (index, part) in parts.iter().enumerate() {
            if fails(part) {
                items = part.clone();
                granularity = 2;
                reduced = true;
                break;
            }
            let complement: Vec<T> = parts
                .iter()
                .enumerate()
                .filter(|(other, _)| *other != index)
                .flat_map(|(_, p)| p.iter().cloned())
                .collect();
            if parts.len() > 2 && fails(&complement) {
                items = complement;
                granularity = (granularity - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if granularity >= items.len() {
                break;
            }
            granularity = (granularity * 2).min(items.len());
        }
    }
    items
}

/// The original scenario text with its faults and chaos length replaced (comments are lost).
fn render(text: &str, faults: &[FaultSpec], chaos: Millis) -> Result<String, ShrinkError> {
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| ShrinkError::Toml(e.to_string()))?;
    if let Some(toml::Value::Table(run)) = table.get_mut("run") {
        run.insert("chaos".into(), toml::Value::String(chaos.to_string()));
    }
    let faults = faults
        .iter()
        .map(toml::Value::try_from)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ShrinkError::Toml(e.to_string()))?;
    table.insert("faults".into(), toml::Value::Array(faults));
    toml::to_string(&table).map_err(|e| ShrinkError::Toml(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddmin_finds_the_pair_that_matters() {
        let items: Vec<u32> = (0..13).collect();
        let mut trials = 0;
        let kept = ddmin(items, |subset| {
            trials += 1;
            subset.contains(&3) && subset.contains(&11)
        });
        assert_eq!(kept, vec![3, 11]);
        assert!(trials < 60, "{trials} trials");
        assert!(
            ddmin(vec![1, 2, 3], |_| true).is_empty(),
            "failing without faults keeps none"
        );
    }
}
