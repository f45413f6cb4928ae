//! `dwsim bench` as its users meet it: the shape of its text and JSON output (never its timings,
//! which depend on the machine) and exit 2 on bad input.

use crate::common::dwsim;

#[test]
fn text_has_a_line_per_seed_and_the_medians() {
    let (code, stdout, stderr) = dwsim(&["bench", "smoke", "--seeds", "1..2"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("peak RSS: "), "{stdout}");
    assert!(stdout.contains("bare reference: "), "{stdout}");
    for seed in ["1", "2"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(seed) && l.contains("PASS")),
            "no line for seed {seed}: {stdout}"
        );
    }
    let medians = stdout
        .lines()
        .find(|l| l.starts_with("median over 2 seeds: "))
        .unwrap_or_else(|| panic!("no medians line: {stdout}"));
    for part in [
        "events per wall s",
        "simulated s per wall s",
        "wall s",
        "peak RSS ",
        "bare ",
        "ratio ",
    ] {
        assert!(medians.contains(part), "{part} missing: {medians}");
    }
    let floor = stdout
        .lines()
        .find(|l| l.starts_with("turmoil floor: "))
        .unwrap_or_else(|| panic!("no turmoil floor line: {stdout}"));
    assert!(
        floor.contains("seeds per minute with `sweep --jobs 2`"),
        "{floor}"
    );
    let parquet = stdout
        .lines()
        .find(|l| l.starts_with("Parquet floor: "))
        .unwrap_or_else(|| panic!("no Parquet floor line: {stdout}"));
    assert!(parquet.contains("a ratio of "), "{parquet}");
}

#[test]
fn json_has_every_figure_per_seed_and_the_medians() {
    let (code, stdout, stderr) = dwsim(&["bench", "smoke", "--seeds", "3", "--json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run["seed"], 3);
    assert_eq!(run["verdict"], "PASS");
    assert!(run["events"].as_u64().unwrap() > 0);
    for key in [
        "events_per_wall_s",
        "simulated_s_per_wall_s",
        "wall_s",
        "ratio_to_bare",
    ] {
        assert!(run[key].as_f64().unwrap() > 0.0, "{key}: {run}");
    }
    for key in [
        "wall_s",
        "events_per_wall_s_ceiling",
        "simulated_s_per_wall_s_ceiling",
    ] {
        assert!(
            run["floor"][key].as_f64().unwrap() > 0.0,
            "floor {key}: {run}"
        );
    }
    for key in [
        "files_encoded",
        "values_encoded",
        "files_decoded",
        "values_decoded",
        "sample_values",
    ] {
        assert!(
            run["parquet_floor"][key].as_u64().unwrap() > 0,
            "parquet_floor {key}: {run}"
        );
    }
    for key in ["wall_s", "ratio_to_bare_ceiling"] {
        assert!(
            run["parquet_floor"][key].as_f64().unwrap() > 0.0,
            "parquet_floor {key}: {run}"
        );
    }
    // Peak RSS is read from the OS: a number on Linux, null ("unknown") elsewhere.
    assert_eq!(
        run["peak_rss_bytes"].is_u64(),
        cfg!(target_os = "linux"),
        "{run}"
    );
    assert!(run["bare"]["hosts"].as_u64().unwrap() >= 6, "{run}");
    assert_eq!(run["bare"]["tick_ms"], 10);
    assert!(
        run["bare"]["simulated_s"].as_f64().unwrap() >= run["simulated_s"].as_f64().unwrap(),
        "{run}"
    );
    for key in [
        "events_per_wall_s",
        "simulated_s_per_wall_s",
        "wall_s",
        "bare_simulated_s_per_wall_s",
        "ratio_to_bare",
        "floor_wall_s",
        "floor_events_per_wall_s_ceiling",
        "floor_simulated_s_per_wall_s_ceiling",
        "floor_seeds_per_minute_ceiling_jobs_2",
    ] {
        assert!(report["medians"][key].as_f64().unwrap() > 0.0, "{key}");
    }
}

#[test]
fn unknown_scenario_and_bad_seeds_are_exit_2() {
    let (code, _, stderr) = dwsim(&["bench", "no-such-scenario", "--seeds", "1..2"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no-such-scenario does not exist"),
        "{stderr}"
    );
    let (code, _, stderr) = dwsim(&["bench", "smoke", "--seeds", "5..1"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not a seed range"), "{stderr}");
    let (code, _, _) = dwsim(&["bench", "smoke", "--seeds", "x"]);
    assert_eq!(code, 2);
}
