//! `dwsim sweep` as CI meets it: exit codes, the results file and resuming from it, shards that
//! merge into the unsharded run, one reproduction line per failing seed; and `dwsim run
//! --check-determinism`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn dwsim(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_dwsim"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("dwsim runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// smoke with a 30 s chaos phase (its faults at 25 s and later dropped): a quarter of a second.
fn short_scenario(dir: &Path, name: &str, extra: &str) -> String {
    let smoke =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml"))
            .unwrap()
            .replace("chaos = \"90s\"", "chaos = \"30s\"");
    let mut blocks = smoke.split("[[faults]]");
    let mut text = blocks.next().unwrap().to_string();
    for fault in blocks {
        let at_s: u32 = fault
            .split("at = \"")
            .nth(1)
            .and_then(|rest| rest.split("s\"").next())
            .and_then(|n| n.parse().ok())
            .expect("each fault has `at = \"Ns\"`");
        if at_s < 25 {
            text.push_str("[[faults]]");
            text.push_str(fault);
        }
    }
    text.push_str(extra);
    std::fs::write(dir.join(name), text).unwrap();
    name.to_string()
}

/// seed -> trace hash of each result line.
fn results(path: &Path) -> BTreeMap<u64, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                value["seed"].as_u64().unwrap(),
                value["trace_hash"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn sweep_passes_resumes_and_shards_merge_into_the_same_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = short_scenario(dir.path(), "short.toml", "");
    let sweep = |extra: &[&str]| {
        let mut args = vec!["sweep", &scenario, "--seeds", "1..4", "--jobs", "2"];
        args.extend_from_slice(extra);
        dwsim(dir.path(), &args)
    };

    let (code, stdout, stderr) = sweep(&[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("4 seeds: 4 passed, 0 failed"), "{stdout}");
    assert!(stdout.contains("seeds per minute"), "{stdout}");
    let all_path = dir.path().join("sweep-results.jsonl");
    let all = results(&all_path);
    assert_eq!(all.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    let text = std::fs::read_to_string(&all_path).unwrap();
    assert_eq!(text.lines().count(), 4);
    let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    for field in [
        "seed",
        "scenario",
        "verdict",
        "failed_checkers",
        "first_violation",
        "trace_hash",
        "simulated_s",
        "wall_s",
        "events",
    ] {
        assert!(line.get(field).is_some(), "no `{field}` in {line}");
    }

    // Again with the same results file: nothing runs, all four count.
    let (code, stdout, stderr) = sweep(&[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("4 resumed"), "{stderr}");
    assert!(
        stdout.contains("no seed left to run (4 resumed)"),
        "{stdout}"
    );
    assert!(stdout.contains("4 seeds: 4 passed"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&all_path).unwrap(), text);

    // An interrupted sweep's half-written last line: a warning, and that seed runs again.
    let cut = text.len() - 40;
    std::fs::write(&all_path, &text[..cut]).unwrap();
    let (code, stdout, stderr) = sweep(&[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("truncated last line"), "{stderr}");
    assert!(stderr.contains("3 resumed"), "{stderr}");
    assert_eq!(results(&all_path), all);

    // Shards 1/2 and 2/2, merged: the unsharded run's seeds with the same trace hashes.
    for k in 1..=2 {
        let (shard, file) = (format!("{k}/2"), format!("shard-{k}.jsonl"));
        let (code, stdout, stderr) = sweep(&["--shard", &shard, "--results", &file]);
        assert_eq!(code, 0, "{stdout}{stderr}");
        assert!(stdout.contains("2 seeds: 2 passed"), "{stdout}");
    }
    let (code, stdout, stderr) = dwsim(
        dir.path(),
        &[
            "sweep",
            "merge",
            "shard-1.jsonl",
            "shard-2.jsonl",
            "shard-1.jsonl",
            "--out",
            "merged.jsonl",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("4 seeds: 4 passed, 0 failed"), "{stdout}");
    assert_eq!(results(&dir.path().join("merged.jsonl")), all);
}

#[test]
fn failing_seeds_are_exit_1_with_a_table_and_one_reproduction_line_each() {
    let dir = tempfile::tempdir().unwrap();
    // An SLA no pipeline with 5 s checkpoints can meet: every seed fails freshness.
    let scenario = short_scenario(dir.path(), "sla.toml", "\n[sla]\nfreshness_p99 = \"1s\"\n");
    let (code, stdout, stderr) = dwsim(
        dir.path(),
        &["sweep", &scenario, "--seeds", "1..4", "--jobs", "2"],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    for seed in 1..=4 {
        assert!(
            stdout.contains(&format!("dwsim run {scenario} --seed {seed}\n")),
            "{stdout}"
        );
    }
    assert!(stdout.contains("freshness"), "{stdout}");
    assert!(stdout.contains("4 seeds: 0 passed, 4 failed"), "{stdout}");
    // The table is sorted by seed, whatever order the seeds finished in.
    let positions: Vec<usize> = (1..=4)
        .map(|seed| stdout.find(&format!("--seed {seed}\n")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{stdout}");

    let (code, stdout, _) = dwsim(dir.path(), &["sweep", "merge", "sweep-results.jsonl"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("4 seeds: 0 passed, 4 failed"), "{stdout}");
}

#[test]
fn a_sweep_with_set_reproduces_with_the_flags_and_resumes_only_its_own_results() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = short_scenario(dir.path(), "short.toml", "");
    let sweep = |extra: &[&str]| {
        let mut args = vec!["sweep", &scenario, "--seeds", "1..2", "--jobs", "2"];
        args.extend_from_slice(extra);
        dwsim(dir.path(), &args)
    };
    // An SLA no pipeline with 5 s checkpoints can meet, set from the command line.
    let set = ["--set", "sla.freshness_p99=1s"];
    let (code, stdout, stderr) = sweep(&set);
    assert_eq!(code, 1, "{stdout}{stderr}");
    for seed in 1..=2 {
        assert!(
            stdout.contains(&format!(
                "dwsim run {scenario} --set sla.freshness_p99=1s --seed {seed}\n"
            )),
            "{stdout}"
        );
    }
    let (code, stdout, stderr) = sweep(&set);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("2 resumed"), "{stderr}");
    // Without the flag it is another scenario: nothing resumed, and every seed passes.
    let (code, stdout, stderr) = sweep(&[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("0 resumed"), "{stderr}");
    assert!(stdout.contains("2 seeds: 2 passed, 0 failed"), "{stdout}");
}

#[test]
fn bad_ranges_shards_and_scenarios_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for (args, says) in [
        (&["--seeds", "5..1"][..], "is not a seed range"),
        (&["--seeds", "1..x"][..], "is not a seed range"),
        (&["--seeds", "1..3", "--shard", "0/3"][..], "is not a shard"),
        (&["--seeds", "1..3", "--shard", "4/3"][..], "is not a shard"),
        (
            &["--seeds", "1..18446744073709551615"][..],
            "a sweep runs at most 1000000",
        ),
        (
            &["--seeds", "0..1000000"][..],
            "a sweep runs at most 1000000",
        ),
    ] {
        let mut all = vec!["sweep", "smoke"];
        all.extend_from_slice(args);
        let (code, _, stderr) = dwsim(dir.path(), &all);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let (code, _, stderr) = dwsim(dir.path(), &["sweep", "nope.toml", "--seeds", "1..2"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("nope.toml does not exist"), "{stderr}");
    let (code, _, stderr) = dwsim(dir.path(), &["sweep", "merge", "missing.jsonl"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("missing.jsonl does not exist"), "{stderr}");
    assert!(!dir.path().join("sweep-results.jsonl").exists());
}

#[test]
fn check_determinism_passes_on_smoke_seed_3() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = dwsim(
        dir.path(),
        &["run", "smoke", "--seed", "3", "--check-determinism"],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let hash = stdout
        .lines()
        .find_map(|l| l.strip_prefix("trace-hash: "))
        .expect("a trace-hash line");
    assert!(
        stdout.contains(&format!("determinism: PASS (trace-hash {hash} twice)")),
        "{stdout}"
    );
}

#[test]
fn results_file_is_locked_never_a_foreign_file_and_merge_of_nothing_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = short_scenario(dir.path(), "short.toml", "");
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "# my notes\nnot json\n").unwrap();
    let (code, _, stderr) = dwsim(
        dir.path(),
        &[
            "sweep",
            &scenario,
            "--seeds",
            "1..2",
            "--results",
            "notes.txt",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a sweep results file"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&notes).unwrap(),
        "# my notes\nnot json\n",
        "left as it was"
    );

    // A second sweep on a results file another sweep holds is refused; the first keeps it.
    let mut first = Command::new(env!("CARGO_BIN_EXE_dwsim"))
        .args([
            "sweep",
            &scenario,
            "--seeds",
            "1..4",
            "--jobs",
            "1",
            "--results",
            "r.jsonl",
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first sweep names its seeds only once it holds the lock.
    let mut stderr = first.stderr.take().unwrap();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("to run on") {
        let mut byte = [0u8; 1];
        let read = std::io::Read::read(&mut stderr, &mut byte).unwrap();
        assert_eq!(
            read,
            1,
            "the first sweep ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.push(byte[0]);
    }
    let (code, _, second) = dwsim(
        dir.path(),
        &[
            "sweep",
            &scenario,
            "--seeds",
            "1..4",
            "--results",
            "r.jsonl",
        ],
    );
    let status = first.wait().unwrap();
    assert!(status.success(), "first sweep: {status}");
    assert_eq!(code, 2, "{second}");
    assert!(second.contains("in use by another sweep"), "{second}");
    assert_eq!(results(&dir.path().join("r.jsonl")).len(), 4);

    std::fs::write(dir.path().join("empty.jsonl"), "").unwrap();
    for files in [
        &["empty.jsonl"][..],
        &["notes.txt"][..],
        &["empty.jsonl", "r.jsonl", "notes.txt"][..],
    ] {
        let (code, _, stderr) = dwsim(dir.path(), &[&["sweep", "merge"][..], files].concat());
        assert_eq!(code, 2, "{files:?}: {stderr}");
    }
    let (code, _, stderr) = dwsim(
        dir.path(),
        &["sweep", "merge", "r.jsonl", "--out", "notes.txt"],
    );
    assert_eq!(
        code, 2,
        "merge --out never overwrites a foreign file: {stderr}"
    );
    let (code, _, stderr) = dwsim(dir.path(), &["sweep", "merge", "empty.jsonl", "r.jsonl"]);
    assert_eq!(
        code, 0,
        "an empty shard beside a full one is fine: {stderr}"
    );
}

#[test]
fn a_swarm_sweep_records_the_trace_hash_that_run_swarm_prints_for_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = short_scenario(dir.path(), "short.toml", "");
    let (code, _, stderr) = dwsim(
        dir.path(),
        &[
            "sweep",
            &scenario,
            "--swarm",
            "--seeds",
            "5..5",
            "--results",
            "r.jsonl",
        ],
    );
    assert!(code == 0 || code == 1, "{stderr}");
    let swept = results(&dir.path().join("r.jsonl"))[&5].clone();
    let (_, stdout, stderr) = dwsim(dir.path(), &["run", &scenario, "--swarm", "--seed", "5"]);
    let printed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("trace-hash: "))
        .unwrap_or_else(|| panic!("no trace hash: {stdout}{stderr}"));
    assert_eq!(
        swept, printed,
        "the sweep's reproduction line must give the same run"
    );
}
