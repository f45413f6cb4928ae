//! The `dwsim run` command as a user meets it: exit codes, errors that name the place and the fix,
//! and the artefacts of `--out` readable by any Parquet reader.

use crate::common::dwsim;

use std::path::Path;

fn small_scenario(dir: &Path, extra: &str) -> String {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml"))
            .unwrap()
            .replace("chaos = \"90s\"", "chaos = \"75s\"")
            + extra;
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn unknown_key_is_exit_2_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.toml");
    std::fs::write(&path, "name = \"x\"\n[run]\nchaos = \"10s\"\nliveness = \"10s\"\nchoas = \"5s\"\n[traffic]\nbaseline_events_per_s = 1\n").unwrap();
    let (code, _, stderr) = dwsim(&["run", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("choas") && stderr.contains("line 5"),
        "{stderr}"
    );
}

#[test]
fn missing_file_and_bad_seed_are_exit_2() {
    let (code, _, stderr) = dwsim(&["run", "scenarios/nope.toml"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("scenarios/nope.toml does not exist"),
        "{stderr}"
    );
    let (code, _, _) = dwsim(&["run", "smoke", "--seed", "many"]);
    assert_eq!(code, 2);
}

#[test]
fn out_dir_holds_summary_trace_tables_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = small_scenario(dir.path(), "");
    let out = dir.path().join("out");
    let (code, stdout, stderr) = dwsim(&[
        "run",
        &scenario,
        "--seed",
        "5",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.lines().any(|l| l.starts_with("trace-hash: ")),
        "{stdout}"
    );

    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["seed"], 5);
    assert_eq!(summary["verdict"], "PASS");
    let trace = std::fs::read_to_string(out.join("trace.jsonl")).unwrap();
    assert_eq!(
        trace.lines().count() as u64,
        summary["trace_events"].as_u64().unwrap()
    );
    assert!(
        out.join("warehouse/ads.db/dwd_ad_events/snapshot/LATEST")
            .exists()
    );
    assert!(
        out.join("warehouse/ads.db/dws_ad_minute/schema/schema-0")
            .exists()
    );

    let ods_rows: usize = (0..4)
        .map(|p| parquet_rows(&out.join(format!("ods/partition-{p}.parquet"))))
        .sum();
    assert_eq!(
        ods_rows as u64,
        summary["exactly_once"]["appended_records"]
            .as_u64()
            .unwrap()
    );
    let dws_rows = parquet_rows(&out.join("export/dws.parquet"));
    assert!(dws_rows > 0);

    // The Perfetto timeline holds spans (checkpoints, downtime, partitions) and counters.
    let perfetto: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("trace.perfetto.json")).unwrap()).unwrap();
    let phases: Vec<&str> = perfetto["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["ph"].as_str())
        .collect();
    assert!(phases.contains(&"X") && phases.contains(&"C"), "{phases:?}");

    // The trace reads back as text around a point: the fault schedule's first crash is marked.
    let trace_path = out.join("trace.jsonl");
    let (code, text, stderr) = dwsim(&[
        "trace",
        trace_path.to_str().unwrap(),
        "--around",
        "20s",
        "--window",
        "200ms",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        text.lines()
            .any(|l| l.starts_with('>') && l.contains("crash") && l.contains("dwd-job")),
        "{text}"
    );
    let (code, _, stderr) = dwsim(&["trace", trace_path.to_str().unwrap(), "--around", "later"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("neither an event"), "{stderr}");

    // Writing again into our own output is allowed; into a foreign directory it is not.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("precious.txt"), "keep me").unwrap();
    let (code, _, stderr) = dwsim(&["run", &scenario, "--out", foreign.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("refusing to write"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(foreign.join("precious.txt")).unwrap(),
        "keep me"
    );
}

#[test]
fn failing_checker_is_exit_1_with_a_reproduction_line() {
    let dir = tempfile::tempdir().unwrap();
    // An SLA no pipeline with 5 s checkpoints can meet: the freshness checker must fail.
    let scenario = small_scenario(dir.path(), "\n[sla]\nfreshness_p99 = \"1s\"\n");
    let (code, stdout, _) = dwsim(&["run", &scenario, "--seed", "3"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("freshness     FAIL"), "{stdout}");
    assert!(
        stdout.contains(&format!("reproduce: dwsim run {scenario} --seed 3")),
        "{stdout}"
    );
}

fn parquet_rows(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(bytes),
    )
    .unwrap()
    .build()
    .unwrap();
    reader.map(|b| b.unwrap().num_rows()).sum()
}

#[test]
fn swarm_draws_knobs_from_the_seed_and_reproduces_with_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    // The files checker is never relaxed under swarm: one file per bucket always fails.
    let scenario = small_scenario(dir.path(), "\n[sla]\nfiles_per_bucket_max = 1\n");
    let (code, stdout, _) = dwsim(&["run", &scenario, "--seed", "4", "--swarm"]);
    assert_eq!(code, 1, "{stdout}");
    let knobs = stdout
        .lines()
        .find(|l| l.starts_with("swarm (seed 4): dwd bucket="))
        .expect("knobs printed");
    assert!(
        stdout.contains(&format!("reproduce: dwsim run {scenario} --swarm --seed 4")),
        "{stdout}"
    );
    let (_, again, _) = dwsim(&["run", &scenario, "--seed", "4", "--swarm"]);
    assert!(again.contains(knobs), "the same seed draws the same knobs");
}

#[test]
fn trace_off_writes_no_trace_files_and_full_writes_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = small_scenario(dir.path(), "");
    let run = |mode: &str| {
        let out = dir.path().join(format!("out-{mode}"));
        let args = ["run", &scenario, "--seed", "6", "--trace", mode];
        let (code, stdout, stderr) =
            dwsim(&[&args[..], &["--out", out.to_str().unwrap()]].concat());
        assert_eq!(code, 0, "{stdout}{stderr}");
        out
    };
    let off = run("off");
    assert!(off.join("summary.json").exists());
    assert!(!off.join("trace.jsonl").exists());
    assert!(!off.join("trace.perfetto.json").exists());
    let full = run("full");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(full.join("summary.json")).unwrap()).unwrap();
    let trace = std::fs::read_to_string(full.join("trace.jsonl")).unwrap();
    assert_eq!(
        trace.lines().count() as u64,
        summary["trace_events"].as_u64().unwrap()
    );
    assert!(full.join("trace.perfetto.json").exists());
    let (code, _, stderr) = dwsim(&["run", "smoke", "--trace", "everything"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("use off, head"), "{stderr}");
}

#[test]
fn set_overrides_an_option_checked_like_the_file_and_reproduces_with_the_flags() {
    for (set, says) in [
        (
            "dwd.bucket=0",
            "--set dwd.bucket=0: [dwd] bucket = 0 must be between 1 and 1024",
        ),
        ("dwd.bukcet=4", "--set dwd.bukcet=4: unknown field `bukcet`"),
        (
            "faults.at=1s",
            "cannot be set with --set; edit the scenario file",
        ),
        // Faults end after a 5 s chaos phase: refused at the file's line, naming the flag.
        (
            "run.chaos=5s",
            "with --set run.chaos=5s is not valid:\nline 46: [[faults]] #1 (at 20s)",
        ),
        ("dwd.bucket", "--set dwd.bucket: expected KEY=VALUE"),
    ] {
        let (code, _, stderr) = dwsim(&["run", "smoke", "--set", set]);
        assert_eq!(code, 2, "{set}: {stderr}");
        assert!(stderr.contains(says), "{set}: {stderr}");
    }
    // smoke with a 75 s chaos phase and an SLA no pipeline with 5 s checkpoints can meet.
    let args = [
        "run",
        "smoke",
        "--set",
        "run.chaos=75s",
        "--set",
        "sla.freshness_p99=1s",
        "--seed",
        "3",
    ];
    let (code, stdout, stderr) = dwsim(&args);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("simulated 135.0 s (chaos 75.0 s"),
        "{stdout}"
    );
    assert!(stdout.contains("freshness     FAIL"), "{stdout}");
    assert!(
        stdout.contains(
            "reproduce: dwsim run smoke --set run.chaos=75s --set sla.freshness_p99=1s --seed 3"
        ),
        "{stdout}"
    );
}

#[test]
fn out_dir_of_an_earlier_run_needs_force_and_a_foreign_one_is_never_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = small_scenario(dir.path(), "");
    let out = dir.path().join("out");
    let out_arg = out.to_str().unwrap();
    let run = |extra: &[&str]| dwsim(&[&["run", &scenario, "--trace", "off"][..], extra].concat());
    let (code, stdout, stderr) = run(&["--seed", "2", "--out", out_arg]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(out.join(sim::OUTPUT_MARKER).is_file());
    let stray = out.join("warehouse/stray-from-an-older-run");
    std::fs::write(&stray, "x").unwrap();

    let (code, _, stderr) = run(&["--seed", "3", "--out", out_arg]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert!(stray.exists(), "a refused run touches nothing");

    let (code, stdout, stderr) = run(&["--seed", "3", "--out", out_arg, "--force"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!stray.exists(), "--force cleared the earlier output first");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["seed"], 3);

    let foreign = dir.path().join("home");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let (code, _, stderr) = run(&["--out", foreign.to_str().unwrap(), "--force"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("does not look like a dwsim output"),
        "{stderr}"
    );
    assert!(foreign.join("notes.txt").exists());
}

#[test]
fn trace_around_extreme_anchors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = small_scenario(dir.path(), "");
    let out = dir.path().join("out");
    let (code, _, stderr) = dwsim(&["run", &scenario, "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let trace = out.join("trace.jsonl");
    for (around, want) in [
        ("8784h", 0),
        ("#18446744073709551615", 0),
        ("18446744073709551616", 2),
        ("99999999999h", 2),
        ("0ms", 0),
    ] {
        let (code, _, stderr) = dwsim(&[
            "trace",
            trace.to_str().unwrap(),
            "--around",
            around,
            "--window",
            "8784h",
            "--count",
            "18446744073709551615",
        ]);
        assert_eq!(code, want, "--around {around}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// The scenario a swarm seed drew, written with `--emit-scenario`, is the same run without
/// `--swarm` (and without the `--set` it was drawn with, which the file holds): the same trace
/// hash.
#[test]
fn emitted_swarm_scenario_runs_with_the_same_trace_hash() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = small_scenario(dir.path(), "");
    let emitted = dir.path().join("drawn.toml");
    let hash = |stdout: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("trace-hash: "))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no trace hash in {stdout}"))
    };
    let (code, swarm_out, stderr) = dwsim(&[
        "run",
        &scenario,
        "--seed",
        "7",
        "--swarm",
        "--set",
        "traffic.baseline_events_per_s=7",
        "--emit-scenario",
        emitted.to_str().unwrap(),
    ]);
    assert!(code == 0 || code == 1, "{swarm_out}{stderr}");
    let (code, plain_out, stderr) = dwsim(&["run", emitted.to_str().unwrap(), "--seed", "7"]);
    assert!(code == 0 || code == 1, "{plain_out}{stderr}");
    assert_eq!(hash(&swarm_out), hash(&plain_out));
    let verdict = |out: &str| {
        out.lines()
            .find(|l| l.starts_with("verdict:"))
            .map(str::to_string)
    };
    assert_eq!(verdict(&swarm_out), verdict(&plain_out));
    let (code, _, stderr) = dwsim(&["run", &scenario, "--emit-scenario", "x.toml"]);
    assert_eq!(code, 2, "--emit-scenario needs --swarm: {stderr}");
}
