//! `dwsim sweep`: many seeds of one scenario on worker threads, resumable from a results file
//! and shardable; `dwsim sweep merge` joins shards' results.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sim::sweep::{
    ResultsWriter, SeedRange, SeedResult, Shard, SweepSpec, Tally, read_results, scenario_digest,
    wall_clock,
};

use crate::{
    SweepArgs, bad_input, load_scenario_with, parse_overrides, progress_bar, scenario_with_flags,
};

/// `dwsim sweep`: this shard's seeds of the range, less those the results file already holds for
/// this scenario, on `--jobs` threads; then the table over all of them.
pub(crate) fn sweep(args: &SweepArgs) -> ExitCode {
    let (Some(scenario_arg), Some(seeds_arg)) = (&args.scenario, &args.seeds) else {
        return bad_input("dwsim sweep needs a scenario and --seeds A..B");
    };
    let range = match SeedRange::parse(seeds_arg) {
        Ok(range) => range,
        Err(error) => return bad_input(error),
    };
    let shard = match args.shard.as_deref().map(Shard::parse).transpose() {
        Ok(shard) => shard.unwrap_or(Shard::WHOLE),
        Err(error) => return bad_input(error),
    };
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    if jobs == 0 {
        return bad_input("--jobs must be at least 1");
    }
    let overrides = match parse_overrides(&args.set) {
        Ok(overrides) => overrides,
        Err(error) => return bad_input(error),
    };
    let mut scenario = match load_scenario_with(scenario_arg, &overrides) {
        Ok(scenario) => scenario,
        Err(error) => return bad_input(error),
    };
    // With `--set`, the scenario differs, and so does its digest: results are resumed only
    // from a sweep with the same overrides.
    let mut scenario_path = scenario_with_flags(scenario_arg, &overrides);
    if args.swarm {
        // Swarm results are their own scenario: never resumed from or merged with plain ones.
        scenario.name = format!("{}{}", scenario.name, sim::sweep::SWARM_NAME_SUFFIX);
        scenario_path = format!("{scenario_path} --swarm");
    }
    let spec = SweepSpec {
        scenario,
        scenario_path,
        git_commit: env!("DWSIM_GIT_COMMIT").to_string(),
        swarm: args.swarm,
    };
    let seeds = shard.seeds(range);

    // Locked for this sweep before it is read, so a concurrent sweep on it is refused.
    let (mut writer, previous) = match ResultsWriter::open(&args.results) {
        Ok(opened) => opened,
        Err(error) => return bad_input(error),
    };
    for warning in &previous.warnings {
        eprintln!("warning: {warning}");
    }
    let digest = scenario_digest(&spec.scenario);
    let wanted: std::collections::BTreeSet<u64> = seeds.iter().copied().collect();
    let mut tally = Tally::default();
    let mut stale = 0usize;
    for result in previous.results {
        if result.scenario != spec.scenario.name || !wanted.contains(&result.seed) {
            continue;
        }
        if result.scenario_digest != digest {
            stale += 1;
            continue;
        }
        tally.add(result);
    }
    if stale > 0 {
        eprintln!(
            "warning: {}: {stale} results of scenario `{}` came from another version of it (its file or its --set overrides differed); their seeds run again",
            args.results.display(),
            spec.scenario.name
        );
    }
    let resumed = tally.results.len();
    let to_run: Vec<u64> = seeds
        .iter()
        .copied()
        .filter(|seed| !tally.contains(&spec.scenario.name, &digest, *seed))
        .collect();
    eprintln!(
        "sweeping `{}` ({}): {} seeds{}, {resumed} resumed from {}, {} to run on {jobs} threads",
        spec.scenario.name,
        spec.scenario_path,
        seeds.len(),
        if shard == Shard::WHOLE {
            String::new()
        } else {
            format!(
                " in shard {}/{} of {}..{}",
                shard.index, shard.count, range.first, range.last
            )
        },
        args.results.display(),
        to_run.len(),
    );

    let progress = progress_bar(to_run.len() as u64);
    let started = wall_clock();
    let mut write_error = None;
    let outcome = sim::sweep::run_seeds(&spec, &to_run, jobs, |result: SeedResult| {
        if !result.passed() {
            progress.suspend(|| {
                eprintln!(
                    "seed {} {}: {}",
                    result.seed,
                    result.verdict,
                    result.failed_checkers.join(",")
                )
            });
        }
        if write_error.is_none()
            && let Err(error) = writer.append(&result)
        {
            write_error = Some(error);
        }
        tally.add(result);
        progress.inc(1);
    });
    progress.finish_and_clear();
    let wall_s = started.elapsed().as_secs_f64();
    if let Err(error) = outcome {
        return bad_input(error);
    }
    if let Some(error) = write_error {
        eprintln!("error: {error} (the table below is complete, the file is not)");
    }
    print!("{}", tally.render());
    if to_run.is_empty() {
        println!("speed: no seed left to run ({resumed} resumed)");
    } else {
        println!(
            "speed: {:.1} seeds per minute ({} run in {wall_s:.1} wall s on {jobs} threads, {resumed} resumed)",
            to_run.len() as f64 * 60.0 / wall_s.max(1e-9),
            to_run.len()
        );
    }
    println!("results: {}", args.results.display());
    if tally.failed() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `dwsim sweep merge`: the union of shards' result files, first result per (scenario, seed).
pub(crate) fn merge(files: &[PathBuf], out: Option<&Path>) -> ExitCode {
    let mut tally = Tally::default();
    let mut digests: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        std::collections::BTreeMap::new();
    let mut duplicates = 0usize;
    for path in files {
        if !path.exists() {
            return bad_input(format!("results file {} does not exist", path.display()));
        }
        let file = match read_results(path) {
            Ok(file) => file,
            Err(error) => return bad_input(error),
        };
        for warning in &file.warnings {
            eprintln!("warning: {warning}");
        }
        for result in file.results {
            digests
                .entry(result.scenario.clone())
                .or_default()
                .insert(result.scenario_digest.clone());
            if !tally.add(result) {
                duplicates += 1;
            }
        }
    }
    for (scenario, versions) in &digests {
        if versions.len() > 1 {
            eprintln!(
                "warning: the files hold results of {} different versions of scenario `{scenario}` (its file differed between sweeps); each is reported apart",
                versions.len()
            );
        }
    }
    eprintln!(
        "merged {} files: {} results ({duplicates} duplicates dropped)",
        files.len(),
        tally.results.len()
    );
    if tally.results.is_empty() {
        return bad_input("the files hold no sweep results: nothing to merge");
    }
    if let Some(out) = out {
        // The union replaces `out`: only ever an earlier results file, never something else.
        if let Err(error) = read_results(out) {
            return bad_input(error);
        }
        let mut text = String::new();
        for result in tally.results.values() {
            text.push_str(&serde_json::to_string(result).expect("a seed result serializes"));
            text.push('\n');
        }
        if let Err(error) = std::fs::write(out, text) {
            return bad_input(format!("cannot write {}: {error}", out.display()));
        }
        eprintln!("merged results written to {}", out.display());
    }
    print!("{}", tally.render());
    if tally.failed() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
