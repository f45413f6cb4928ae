//! The scenario reader's tests: every section's keys parse into their types, and a refused
//! value names its line and the fix.

use warehouse::stream::IntervalPolicy;
use warehouse::table::{LifecycleOptions, TagPeriod};

use super::*;

const MINIMAL: &str = r#"
name = "t"
[run]
chaos = "10s"
liveness = "10s"
[traffic]
baseline_events_per_s = 100
"#;

#[test]
fn checkpoint_policy_keys_are_checked() {
    let traffic_driven = format!(
        "{MINIMAL}[jobs]\ncheckpoint-policy = \"traffic-driven\"\n\
         \"checkpoint.interval-quiet\" = \"2s\"\n\"checkpoint.interval-peak\" = \"30s\"\n\
         \"checkpoint.rate-quiet\" = 100\n\"checkpoint.rate-peak\" = 5000\n\
         \"execution.checkpointing.interval-during-backlog\" = \"1min\"\n"
    );
    let scenario = Scenario::parse(&traffic_driven, "x.toml").expect("valid policy");
    assert_eq!(scenario.jobs.interval_during_backlog, Some(Millis(60_000)));
    let missing = format!("{MINIMAL}[jobs]\ncheckpoint-policy = \"traffic-driven\"\n");
    let error = Scenario::parse(&missing, "x.toml").unwrap_err().to_string();
    assert!(error.contains("checkpoint.rate-peak"), "{error}");
    assert!(error.contains("line 9:"), "the policy's line: {error}");
    let unknown = format!("{MINIMAL}[jobs]\ncheckpoint-policy = \"adaptive\"\n");
    let error = Scenario::parse(&unknown, "x.toml").unwrap_err().to_string();
    assert!(error.contains("`fixed` or `traffic-driven`"), "{error}");
    let stray = format!("{MINIMAL}[jobs]\n\"checkpoint.rate-peak\" = 5000\n");
    let error = Scenario::parse(&stray, "x.toml").unwrap_err().to_string();
    assert!(error.contains("come as a set of four"), "{error}");
    // A full set may stay in the file under the fixed policy, so a plan can switch the policy
    // alone; it is still checked.
    let full_set_fixed = traffic_driven.replace("\"traffic-driven\"", "\"fixed\"");
    let scenario = Scenario::parse(&full_set_fixed, "x.toml").expect("a full unused set");
    assert_eq!(scenario.jobs.interval_policy(1), IntervalPolicy::Fixed);
    let inverted = full_set_fixed.replace("= 5000", "= 50");
    let error = Scenario::parse(&inverted, "x.toml")
        .unwrap_err()
        .to_string();
    assert!(error.contains("must be below"), "{error}");
}

#[test]
fn traffic_driven_rates_are_production_records_per_second() {
    let text = format!(
        "{MINIMAL}[jobs]\ncheckpoint-policy = \"traffic-driven\"\n\
         \"checkpoint.interval-quiet\" = \"10s\"\n\"checkpoint.interval-peak\" = \"1min\"\n\
         \"checkpoint.rate-quiet\" = 2000000\n\"checkpoint.rate-peak\" = 20000000\n"
    );
    let scenario = Scenario::parse(&text, "x.toml").expect("valid policy");
    let IntervalPolicy::TrafficDriven {
        quiet_records_per_s,
        peak_records_per_s,
        ..
    } = scenario.jobs.interval_policy(10_000)
    else {
        panic!("traffic-driven");
    };
    assert_eq!((quiet_records_per_s, peak_records_per_s), (200, 2000));
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let text = format!("{MINIMAL}bukcet = 3\n");
    let error = Scenario::parse(&text, "x.toml").unwrap_err().to_string();
    assert!(error.contains("x.toml"), "{error}");
    assert!(
        error.contains("bukcet") && error.contains("line 8"),
        "{error}"
    );
}

#[test]
fn lsm_keys_parse_and_are_checked() {
    let text = format!(
        "{MINIMAL}[dws]\nbucket = 1\nchangelog-producer = \"none\"\ntarget-file-size = \"32 kb\"\n\"num-sorted-run.stop-trigger\" = 9\n"
    );
    let scenario = Scenario::parse(&text, "x.toml").unwrap();
    assert_eq!(scenario.dws.target_file_size_bytes, 32 << 10);
    assert_eq!(scenario.dws.stop_trigger, Some(9));
    let low = text.replace("= 9", "= 2");
    let error = Scenario::parse(&low, "x.toml").unwrap_err().to_string();
    assert!(error.contains("num-sorted-run.stop-trigger = 2"), "{error}");
    let unit = text.replace("32 kb", "32 furlongs");
    let error = Scenario::parse(&unit, "x.toml").unwrap_err().to_string();
    assert!(error.contains("not a size"), "{error}");
    let crash = format!(
        "{MINIMAL}[[faults]]\nat = \"2s\"\nkind = \"crash\"\ntarget = \"compactor\"\nduration = \"1s\"\n"
    );
    let error = Scenario::parse(&crash, "x.toml").unwrap_err().to_string();
    assert!(error.contains("no [jobs.compactor]"), "{error}");
}

#[test]
fn bad_fault_is_explained() {
    let text = format!(
        "{MINIMAL}[[faults]]\nat = \"2s\"\nkind = \"crash\"\ntarget = \"traffic\"\nduration = \"1s\"\n"
    );
    let error = Scenario::parse(&text, "x.toml").unwrap_err().to_string();
    assert!(
        error.contains("a crash fault cannot hit `traffic`"),
        "{error}"
    );
    let slow_without_latency = format!(
        "{MINIMAL}[[faults]]\nat = \"2s\"\nkind = \"disk-slow\"\ntarget = \"dfs\"\nduration = \"1s\"\n"
    );
    let error = Scenario::parse(&slow_without_latency, "x.toml")
        .unwrap_err()
        .to_string();
    assert!(error.contains("needs `latency`"), "{error}");
    let bad_skew = format!(
        "{MINIMAL}[[faults]]\nat = \"2s\"\nkind = \"clock-skew\"\ntarget = \"dwd-job\"\nskew = \"soon\"\nduration = \"1s\"\n"
    );
    let error = Scenario::parse(&bad_skew, "x.toml")
        .unwrap_err()
        .to_string();
    assert!(error.contains("not a signed duration"), "{error}");
}

#[test]
fn diurnal_baseline_peaks_at_the_local_hour() {
    // Epoch 0 is 08:00 in UTC+8; a peak at 20:00 local is 12 h later, the trough at 08:00.
    let text = MINIMAL.replace(
        "baseline_events_per_s = 100",
        "baseline_events_per_s = 100\ndiurnal_amplitude = 0.5\ndiurnal_peak_hour = 20",
    ) + "";
    let mut scenario = Scenario::parse(&text, "x.toml").unwrap();
    scenario.run.epoch_ms = 0;
    assert!((scenario.rate_at(0) - 50.0).abs() < 1e-9);
    assert!((scenario.rate_at(12 * 3_600_000) - 150.0).abs() < 1e-9);
}

#[test]
fn event_time_options_are_validated() {
    let text = format!("{MINIMAL}[jobs]\n\"table.exec.emit.allow-lateness\" = \"200h\"\n");
    let error = Scenario::parse(&text, "x.toml").unwrap_err().to_string();
    assert!(error.contains("table.exec.emit.allow-lateness"), "{error}");
    let text = format!("{MINIMAL}[traffic.conversion_delay]\nmedian = \"2h\"\nmax = \"1h\"\n");
    let error = Scenario::parse(&text, "x.toml").unwrap_err().to_string();
    assert!(
        error.contains("conversion_delay") && error.contains("median"),
        "{error}"
    );
    let text = format!("{MINIMAL}[traffic.late_clicks]\nshare = 0.1\n");
    let error = Scenario::parse(&text, "x.toml").unwrap_err().to_string();
    assert!(error.contains("late_clicks"), "{error}");
}

#[test]
fn delays_are_exponential_up_to_the_max() {
    let spec = DelaySpec {
        median: Millis(600_000),
        max: Millis(7_200_000),
    };
    assert_eq!(spec.sample_ms(0.0), 0);
    assert!(
        spec.sample_ms(0.5) < 600_000,
        "truncation pulls the median down a little"
    );
    assert!(spec.sample_ms(0.45) > 400_000);
    assert!(spec.sample_ms(0.999_999) <= 7_200_000);
    assert_eq!(DelaySpec::default().sample_ms(0.7), 0);
}

#[test]
fn spike_shapes_the_rate() {
    let text = format!(
        "{MINIMAL}[[traffic.spikes]]\nstart = \"2s\"\nramp = \"2s\"\npeak = \"2s\"\ndecay = \"2s\"\nmultiple = 10\n"
    );
    let scenario = Scenario::parse(&text, "x.toml").unwrap();
    assert_eq!(scenario.rate_at(0), 100.0);
    assert_eq!(scenario.rate_at(3_000), 550.0);
    assert_eq!(scenario.rate_at(5_000), 1000.0);
    assert_eq!(scenario.rate_at(20_000), 100.0);
    let phases = [1_000, 2_000, 3_999, 4_000, 6_500, 8_000]
        .map(|t| scenario.phase_at(t).name())
        .to_vec();
    assert_eq!(
        phases,
        ["baseline", "ramp", "ramp", "peak", "decay", "baseline"]
    );
    assert_eq!(scenario.phase_at(scenario.run.chaos.0).name(), "liveness");
}

#[test]
fn lifecycle_keys_use_paimon_names_and_are_checked() {
    let text = format!(
        "{MINIMAL}[dwd]\nbucket = 2\n\"snapshot.num-retained.min\" = 3\n\"snapshot.time-retained\" = \"2min\"\n\"consumer.expiration-time\" = \"1h\"\n\"tag.automatic-creation\" = \"process-time\"\n\"tag.creation-period\" = \"hourly\"\n\"tag.num-retained-max\" = 4\n"
    );
    let scenario = Scenario::parse(&text, "x.toml").unwrap();
    let options = scenario.dwd.lifecycle();
    assert_eq!(options.snapshot_num_retained_min, 3);
    assert_eq!(options.snapshot_time_retained_ms, 120_000);
    assert_eq!(options.snapshot_expire_limit, 10, "Paimon's default");
    assert_eq!(options.consumer_expiration_time_ms, Some(3_600_000));
    assert_eq!(options.tag_creation_period, TagPeriod::Hourly);
    assert_eq!(options.tag_num_retained_max, Some(4));
    assert_eq!(scenario.dws.lifecycle(), LifecycleOptions::default());

    let bad = format!("{MINIMAL}[dwd]\nbucket = 2\n\"tag.creation-period\" = \"weekly\"\n");
    let error = Scenario::parse(&bad, "x.toml").unwrap_err().to_string();
    assert!(
        error.contains("tag.creation-period = \"weekly\" is not a period")
            && error.contains("line 10"),
        "{error}"
    );
    let bad = format!(
        "{MINIMAL}[dws]\nbucket = 1\n\"snapshot.num-retained.min\" = 5\n\"snapshot.num-retained.max\" = 2\n"
    );
    let error = Scenario::parse(&bad, "x.toml").unwrap_err().to_string();
    assert!(
        error.contains("line 11: [dws] snapshot.num-retained.max = 2 must not be below"),
        "{error}"
    );
    let typo = format!("{MINIMAL}[dwd]\nbucket = 2\n\"snapshot.time-retain\" = \"1h\"\n");
    let error = Scenario::parse(&typo, "x.toml").unwrap_err().to_string();
    assert!(error.contains("snapshot.time-retain"), "{error}");
}

#[test]
fn unsafe_new_commit_user_names_committing_jobs() {
    assert!(
        Scenario::parse(MINIMAL, "x.toml")
            .unwrap()
            .jobs
            .unsafe_new_commit_user_on_restart
            .is_empty()
    );
    let text = format!("{MINIMAL}[jobs]\n\"unsafe.new-commit-user-on-restart\" = [\"dwd-job\"]\n");
    let scenario = Scenario::parse(&text, "x.toml").unwrap();
    assert_eq!(scenario.jobs.unsafe_new_commit_user_on_restart, ["dwd-job"]);
    let bad = text.replace("dwd-job", "serving");
    let error = Scenario::parse(&bad, "x.toml").unwrap_err().to_string();
    assert!(
        error.contains("unsafe.new-commit-user-on-restart names `serving`"),
        "{error}"
    );
}

#[test]
fn sequence_field_stale_resends_and_the_unsafe_lookup_are_checked() {
    let error = |extra: &str| {
        Scenario::parse(&format!("{MINIMAL}{extra}"), "t.toml")
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string())
    };
    let ok = "[dwd]\nbucket = 1\n\"sequence.field\" = \"event_time\"\n\"unsafe.lookup.ignore-sequence-field\" = true\n";
    assert_eq!(error(ok), "");
    assert!(
        error("[dwd]\nbucket = 1\n\"sequence.field\" = \"kind\"\n")
            .contains("must be a BIGINT value field")
    );
    assert!(
        error("[dwd]\nbucket = 1\n\"unsafe.lookup.ignore-sequence-field\" = true\n")
            .contains("needs a sequence.field")
    );
    assert!(
        error("[dws]\nbucket = 1\n\"sequence.field\" = \"cost\"\n").contains("apply to [dwd] only")
    );
    assert!(error("[traffic.stale_resends]\nshare = 0.1\n").contains("needs a positive `delay`"));
    assert!(
        error("[traffic.stale_resends]\nshare = 2.0\ndelay = \"1s\"\nclock_behind = \"1s\"\n")
            .contains("stale_resends.share = 2")
    );
}

#[test]
fn unsafe_expire_order_defaults_off_and_is_checked() {
    let key = "\"unsafe.expire.delete-data-before-snapshot\"";
    let text = format!("{MINIMAL}[dwd]\nbucket = 2\n{key} = true\n");
    let scenario = Scenario::parse(&text, "x.toml").unwrap();
    assert!(
        scenario
            .dwd
            .lifecycle()
            .unsafe_expire_delete_data_before_snapshot
    );
    assert!(
        !scenario
            .dws
            .lifecycle()
            .unsafe_expire_delete_data_before_snapshot
    );
    let bad = format!("{MINIMAL}[dwd]\nbucket = 2\n{key} = \"yes\"\n");
    let error = Scenario::parse(&bad, "x.toml").unwrap_err().to_string();
    assert!(
        error.contains("unsafe.expire.delete-data-before-snapshot")
            && error.contains("expected a boolean"),
        "{error}"
    );
}

#[test]
fn dws_changelog_producer_options_are_validated() {
    let text = format!(
        "{MINIMAL}[dws]\nbucket = 2\nchangelog-producer = \"full-compaction\"\n\"full-compaction.delta-commits\" = 3\n"
    );
    let scenario = Scenario::parse(&text, "x.toml").unwrap();
    assert_eq!(scenario.dws.full_compaction_delta_commits, Some(3));
    let text = format!("{MINIMAL}[dws]\nbucket = 2\nchangelog-producer = \"sometimes\"\n");
    let error = Scenario::parse(&text, "x.toml").unwrap_err().to_string();
    assert!(error.contains("\"full-compaction\""), "{error}");
    let text = format!("{MINIMAL}[dws]\nbucket = 2\n\"full-compaction.delta-commits\" = 0\n");
    let error = Scenario::parse(&text, "x.toml").unwrap_err().to_string();
    assert!(error.contains("at least 1"), "{error}");
}

#[test]
fn nonsense_numbers_are_refused_at_their_line() {
    for (extra, expected) in [
        (
            "[serving]\nquery_interval = \"0ms\"\n",
            "line 9: [serving] query_interval must be at least 10ms",
        ),
        (
            "[traffic.late_clicks]\nshare = nan\nmax = \"1min\"\n",
            "late_clicks.share = NaN",
        ),
        (
            "[cost.dwd_writer]\nper_record_ns = -1.0\n",
            "must be a finite number",
        ),
        (
            "[cost.dwd_writer]\nper_record_ns = inf\n",
            "must be a finite number",
        ),
        ("[run]\n", "duplicate key"),
        (
            "[tt]\nsegment_records = 0\n",
            "line 9: [tt] segment_records",
        ),
        (
            "[jobs]\n\"parallelism.default\" = 0\n",
            "parallelism.default",
        ),
        (
            "[[traffic.spikes]]\nstart = \"1s\"\nramp = \"1s\"\npeak = \"1s\"\ndecay = \"1s\"\nmultiple = inf\n",
            "line 13: [[traffic.spikes]] #1 multiple",
        ),
        (
            "[[faults]]\nat = \"8784h\"\nkind = \"crash\"\ntarget = \"tt\"\nduration = \"8784h\"\n",
            "after the chaos phase",
        ),
        (
            "[[faults]]\nat = \"1s\"\nkind = \"partition\"\nbetween = [\"tt\", \"dfs\", \"serving\"]\nduration = \"1s\"\n",
            "two hosts",
        ),
    ] {
        let text = format!("{MINIMAL}{extra}");
        let error = Scenario::parse(&text, "x.toml")
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string());
        assert!(error.contains(expected), "{extra}: {error}");
    }
    for (edit, expected) in [
        (
            (
                "[run]\n",
                "[run]\nnetwork_latency_min = \"1s\"\nnetwork_latency_max = \"1h\"\n",
            ),
            "line 5: [run] network_latency_max = 3600s is too long for rpc_timeout",
        ),
        (
            (
                "baseline_events_per_s = 100",
                "baseline_events_per_s = 10000000",
            ),
            "line 7: [traffic] the chaos phase would produce about 100000000 events",
        ),
    ] {
        let text = MINIMAL.replace(edit.0, edit.1);
        let error = Scenario::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(error.contains(expected), "{error}");
    }
    let epoch = MINIMAL.replace("[run]\n", "[run]\nepoch_ms = 9223372036854775807\n");
    let error = Scenario::parse(&epoch, "x.toml").unwrap_err().to_string();
    assert!(error.contains("line 4: [run] epoch_ms"), "{error}");
}

#[test]
fn expected_events_integrate_the_rate_and_spikes() {
    let scenario = Scenario::parse(MINIMAL, "x.toml").unwrap();
    assert_eq!(
        scenario.expected_events().round(),
        1_000.0,
        "100/s over 10 s"
    );
    let spiky = format!(
        "{MINIMAL}[[traffic.spikes]]\nstart = \"2s\"\nramp = \"0s\"\npeak = \"4s\"\ndecay = \"0s\"\nmultiple = 3\n"
    );
    let scenario = Scenario::parse(&spiky, "x.toml").unwrap();
    assert_eq!(scenario.expected_events().round(), 1_800.0, "4 s at 300/s");
}

#[test]
fn the_dws_job_parallelism_is_its_own_and_checked_against_dws_buckets() {
    let jobs = "[dwd]\nbucket = 8\n[dws]\nbucket = 2\n[jobs]\n\"parallelism.default\" = 8\n\
                \"taskmanager.numberOfTaskSlots\" = 8\n";
    let error = Scenario::parse(&format!("{MINIMAL}{jobs}"), "x.toml")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("parallelism.default = 8 exceeds [dws] bucket = 2"),
        "{error}"
    );
    let own = format!("{MINIMAL}{jobs}\"dws-job.parallelism\" = 2\n");
    let scenario =
        Scenario::parse(&own, "x.toml").expect("the DWS job runs at its own parallelism");
    assert_eq!(scenario.jobs.parallelism_of("dwd-job"), 8);
    assert_eq!(scenario.jobs.parallelism_of("dws-job"), 2);
    assert_eq!(scenario.jobs.parallelism_of("dws-job-b"), 2);
    let too_many = format!("{MINIMAL}{jobs}\"dws-job.parallelism\" = 4\n");
    let error = Scenario::parse(&too_many, "x.toml")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("dws-job.parallelism = 4 exceeds [dws] bucket = 2"),
        "{error}"
    );
}

#[test]
fn pipeline_section_parses_and_refuses_nonsense_naming_the_key() {
    let plain = Scenario::parse(MINIMAL, "x.toml").unwrap();
    assert!(!plain.pipeline.is_tt_era() && !plain.pipeline.declared);
    assert_eq!(plain.topology().tt_era_stores, 0);
    let tt_era = MINIMAL.replace("liveness = \"10s\"", "liveness = \"3min\"")
        + "[pipeline]\narchitecture = \"tt-era\"\nstores = 2\n\"batch.period\" = \"1min\"\n\"batch.delay\" = \"20s\"\n";
    let scenario = Scenario::parse(&tt_era, "x.toml").expect("valid tt-era");
    assert!(scenario.pipeline.is_tt_era() && scenario.pipeline.declared);
    assert_eq!(scenario.topology().stores(), ["report-store", "bi-store"]);
    let unknown = tt_era.replace("\"tt-era\"", "\"kappa\"");
    let error = Scenario::parse(&unknown, "x.toml").unwrap_err().to_string();
    assert!(error.contains("unknown architecture `kappa`"), "{error}");
    assert!(error.contains("\"lakehouse\""), "names the fix: {error}");
    let zero = tt_era.replace("\"1min\"", "\"0s\"");
    let error = Scenario::parse(&zero, "x.toml").unwrap_err().to_string();
    assert!(
        error.contains("batch.period") && error.contains("at least 1min"),
        "{error}"
    );
    let stores = tt_era.replace("stores = 2", "stores = 4");
    let error = Scenario::parse(&stores, "x.toml").unwrap_err().to_string();
    assert!(error.contains("[pipeline] stores = 4"), "{error}");
    let short = tt_era.replace("\"3min\"", "\"30s\"");
    let error = Scenario::parse(&short, "x.toml").unwrap_err().to_string();
    assert!(
        error.contains("last batch correction") && error.contains("lengthen [run] liveness"),
        "{error}"
    );
    // An idle compactor section (no write-only table) runs nothing, so the TT era accepts it
    // (double11-production carries one); a compactor that would run is refused.
    let idle = format!("{tt_era}[jobs.compactor]\nparallelism = 2\n");
    Scenario::parse(&idle, "x.toml").expect("an idle compactor section is accepted");
    let running = idle.replace(
        "[pipeline]",
        "[dwd]\nbucket = 2\nwrite-only = true\n\n[pipeline]",
    );
    let error = Scenario::parse(&running, "x.toml").unwrap_err().to_string();
    assert!(
        error.contains("does not support [jobs.compactor] with a write-only table"),
        "{error}"
    );
    let budgets = format!("{tt_era}[serving]\ndaily_budget_micros = 1000\n");
    let error = Scenario::parse(&budgets, "x.toml").unwrap_err().to_string();
    assert!(
        error.contains("does not support [serving] daily_budget_micros"),
        "{error}"
    );
}

#[test]
fn pipeline_architecture_is_set_through_the_override_path() {
    let text = MINIMAL.replace("liveness = \"10s\"", "liveness = \"3min\"");
    let set = |text: &str| Override::parse(text).unwrap();
    let scenario = Scenario::parse_with_overrides(
        &text,
        "x.toml",
        &[
            set("pipeline.architecture=tt-era"),
            set("pipeline.batch.period=1min"),
            set("pipeline.batch.delay=10s"),
        ],
    )
    .expect("tt-era by --set");
    assert!(scenario.pipeline.is_tt_era());
    assert_eq!(scenario.pipeline.batch_delay, Millis(10_000));
    let error =
        Scenario::parse_with_overrides(&text, "x.toml", &[set("pipeline.architecture=lambda")])
            .unwrap_err()
            .to_string();
    assert!(
        error.contains("--set pipeline.architecture=lambda"),
        "{error}"
    );
}
