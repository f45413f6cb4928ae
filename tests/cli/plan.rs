//! `dwsim plan` as a planner meets it: a grid over seeds, refused configurations listed, the
//! same plan twice giving the same report, shards that merge into it, and bad input refused.

use std::path::Path;

use crate::common::dwsim;

/// smoke, shortened, with a freshness SLA only the 5 s checkpoint interval meets.
fn plan_scenario(dir: &Path) -> String {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml"))
            .unwrap()
            .replace("chaos = \"90s\"", "chaos = \"75s\"")
            + "\n[sla]\nfreshness_p99 = \"40s\"\n";
    let path = dir.join("plan.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// plan.json without its wall-clock figures.
fn report_of(out: &Path) -> serde_json::Value {
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("plan.json")).unwrap()).unwrap();
    value.as_object_mut().unwrap().remove("wall_s");
    value
}

#[test]
fn a_plan_recommends_lists_refusals_is_deterministic_and_merges_from_shards() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = plan_scenario(dir.path());
    let grid = [
        "--vary",
        "jobs.execution.checkpointing.interval=5s,30s",
        "--vary",
        "jobs.parallelism.default=1,9",
        "--seeds",
        "1..2",
        "--jobs",
        "2",
    ];
    let plan = |out: &Path, extra: &[&str]| {
        let mut args = vec!["plan", scenario.as_str()];
        args.extend(grid);
        args.extend(["--out", out.to_str().unwrap()]);
        args.extend(extra);
        dwsim(&args)
    };
    let first = dir.path().join("first");
    let (code, stdout, stderr) = plan(&first, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "refused: jobs.execution.checkpointing.interval=5s jobs.parallelism.default=9"
        ),
        "parallelism above the buckets is listed, not run: {stderr}"
    );
    let report = report_of(&first);
    assert_eq!(
        report["recommendation"]["label"],
        "jobs.execution.checkpointing.interval=5s jobs.parallelism.default=1"
    );
    assert_eq!(report["configs"].as_array().unwrap().len(), 2);
    assert_eq!(report["invalid"].as_array().unwrap().len(), 2);
    let failing = &report["cheapest_failing"];
    assert!(
        failing[1].as_str().unwrap().starts_with("freshness"),
        "{failing}"
    );
    for name in ["report.html", "report.md", "results.jsonl"] {
        assert!(first.join(name).is_file(), "{name}");
    }
    let html = std::fs::read_to_string(first.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Pareto frontier"));

    // Rerun: everything resumes, nothing runs again, the same report.
    let (code, _, stderr) = plan(&first, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("4 resumed"), "{stderr}");
    assert_eq!(report_of(&first), report);

    // Two shards merged give the same recommendation and figures.
    let shard_a = dir.path().join("a");
    let shard_b = dir.path().join("b");
    assert_eq!(plan(&shard_a, &["--shard", "1/2"]).0, 0);
    assert_eq!(plan(&shard_b, &["--shard", "2/2"]).0, 0);
    let merged = dir.path().join("merged");
    let (code, stdout, stderr) = dwsim(&[
        "plan",
        "merge",
        shard_a.join("results.jsonl").to_str().unwrap(),
        shard_b.join("results.jsonl").to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let merged_report = report_of(&merged);
    assert_eq!(merged_report["recommendation"], report["recommendation"]);
    // A merge knows no grid order: it lists the configurations by label.
    let by_label = |report: &serde_json::Value| {
        let mut configs = report["configs"].as_array().unwrap().clone();
        configs.sort_by_key(|c| c["label"].as_str().unwrap().to_string());
        configs
    };
    assert_eq!(by_label(&merged_report), by_label(&report));
}

#[test]
fn bad_plans_are_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = plan_scenario(dir.path());
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    for (args, says) in [
        (vec!["--vary", "bucket=1,2"], "is not an axis"),
        (
            vec!["--vary", "dwd.bucket=1", "--vary", "dwd.bucket=2"],
            "twice",
        ),
        (
            vec!["--vary", "dwd.bukcet=1,2"],
            "none of the 2 configurations",
        ),
        (vec!["--seeds", "1..5000"], "at most 1000"),
    ] {
        let mut full = vec!["plan", scenario.as_str(), "--out", out];
        if !args.contains(&"--seeds") {
            full.extend(["--seeds", "1"]);
        }
        full.extend(args.iter().copied());
        let (code, _, stderr) = dwsim(&full);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // An output directory holding something else is never written into.
    let foreign = dir.path().join("home");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let (code, _, stderr) = dwsim(&[
        "plan",
        &scenario,
        "--seeds",
        "1",
        "--out",
        foreign.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a plan's output"), "{stderr}");
    // A results file that is not a plan's is refused, and merging nothing is bad input.
    let garbage = dir.path().join("garbage.jsonl");
    std::fs::write(&garbage, "hello\n").unwrap();
    let (code, _, stderr) = dwsim(&["plan", "merge", garbage.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is not a `dwsim plan` result"), "{stderr}");
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let (code, _, stderr) = dwsim(&["plan", "merge", empty.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("nothing to merge"), "{stderr}");
}

/// A plan comparing the architectures judges the TT era on when its served rows become
/// accurate (after the batch correction), against the same freshness SLA: it never passes as
/// "fresh" for lack of a per-event freshness figure.
#[test]
fn a_plan_judges_the_tt_era_on_time_to_accurate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/tt-era-smoke.toml");
    let (code, stdout, stderr) = dwsim(&[
        "plan",
        scenario.to_str().unwrap(),
        "--vary",
        "pipeline.architecture=tt-era,lakehouse",
        "--set",
        "sla.freshness_p99=20s",
        "--seeds",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(code == 0 || code == 1, "{stdout}{stderr}");
    let report = report_of(&out);
    let tt_era = report["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["label"] == "pipeline.architecture=tt-era")
        .expect("the tt-era configuration")
        .clone();
    // tt-era-smoke corrects each minute 30 s after it ends: rows are accurate only then.
    assert!(
        tt_era["freshness_p99_worst_ms"].as_i64().unwrap() > 30_000,
        "{tt_era}"
    );
    assert_eq!(tt_era["passed"], false, "{tt_era}");
    assert!(
        tt_era["first_failure"]
            .as_str()
            .is_some_and(|f| f.contains("become accurate")),
        "{tt_era}"
    );
    assert_ne!(
        report["recommendation"]["label"], "pipeline.architecture=tt-era",
        "{report}"
    );
}
