//! Tests of `overrides.rs`: each edit `--set` makes, and each refusal with its fix.

use super::*;

fn set(text: &str, items: &[&str]) -> Result<(String, Vec<LineOrigin>), String> {
    let overrides: Vec<Override> = items
        .iter()
        .map(|item| Override::parse(item).unwrap())
        .collect();
    apply(text, &overrides)
}

fn edited(text: &str, items: &[&str]) -> String {
    set(text, items).unwrap().0
}

#[test]
fn values_that_are_not_toml_become_strings() {
    let value = |text: &str| Override::parse(text).unwrap().value;
    assert_eq!(value("dwd.bucket=64"), "64");
    assert_eq!(value("traffic.late_clicks.share=0.1"), "0.1");
    assert_eq!(value("run.buggify=true"), "true");
    assert_eq!(
        value("jobs.execution.checkpointing.interval=1min"),
        "\"1min\""
    );
    assert_eq!(value("dwd.changelog-producer=lookup"), "\"lookup\"");
    assert_eq!(value("dwd.target-file-size=64 kb"), "\"64 kb\"");
    assert_eq!(value("dwd.target-file-size=\"64 kb\""), "\"64 kb\"");
    assert_eq!(value("x.y=say \"hi\""), "\"say \\\"hi\\\"\"");
    assert_eq!(
        value("jobs.unsafe.new-commit-user-on-restart=[\"dwd-job\"]"),
        "[\"dwd-job\"]"
    );
    assert_eq!(value(" dwd.bucket = 8 "), "8");
    // A trailing comment is not a value: the whole text is the string.
    assert_eq!(value("dwd.bucket=8 # eight"), "\"8 # eight\"");
}

#[test]
fn shown_as_typed_and_parsed_back() {
    for text in [
        "dwd.bucket=64",
        "jobs.execution.checkpointing.interval=1min",
        "traffic.x=\"5\"",
        "dwd.target-file-size=64 kb",
        "jobs.unsafe.new-commit-user-on-restart=[\"dwd-job\"]",
    ] {
        let parsed = Override::parse(text).unwrap();
        assert_eq!(parsed.to_string(), text);
        assert_eq!(Override::parse(&parsed.to_string()).unwrap(), parsed);
    }
    let overrides = [
        Override::parse("dwd.bucket=8").unwrap(),
        Override::parse("dwd.target-file-size=64 kb").unwrap(),
    ];
    assert_eq!(
        flags(&overrides),
        "--set dwd.bucket=8 --set 'dwd.target-file-size=64 kb'"
    );
}

#[test]
fn malformed_overrides_are_refused_with_the_fix() {
    let refused = |text: &str| Override::parse(text).unwrap_err();
    assert!(refused("dwd.bucket").contains("expected KEY=VALUE"));
    assert!(refused("=4").contains("KEY before `=` is empty"));
    assert!(refused("dwd bucket=4").contains("` ` cannot appear"));
    assert!(refused("dwd..bucket=4").contains("empty part"));
    assert!(refused("bucket=4").contains("names no option of a section"));
    assert!(refused("dwd.bucket=").contains("VALUE after `=` is empty"));
}

const TEXT: &str = "name = \"t\"\n\n[run]\nchaos = \"10s\" # short\nliveness = \"10s\"\n\n[traffic]\nbaseline_events_per_s = 1\n\n[[traffic.spikes]]\nstart = \"1s\"\n\n[jobs]\n\"execution.checkpointing.interval\" = \"5s\"\n\n[[faults]]\nat = \"1s\"\n";

#[test]
fn an_existing_option_is_replaced_in_place_keeping_its_comment() {
    let (text, origins) = set(TEXT, &["run.chaos=20s"]).unwrap();
    assert_eq!(
        text,
        TEXT.replace("chaos = \"10s\" # short", "chaos = \"20s\" # short")
    );
    assert_eq!(origins[3], LineOrigin::Override(0));
    assert_eq!(origins[4], LineOrigin::Original(5));
    assert_eq!(origins.len(), TEXT.split('\n').count());
}

#[test]
fn dotted_option_names_are_quoted_like_the_files_spell_them() {
    assert_eq!(
        edited(TEXT, &["jobs.execution.checkpointing.interval=1min"]),
        TEXT.replace(
            "\"execution.checkpointing.interval\" = \"5s\"",
            "\"execution.checkpointing.interval\" = \"1min\""
        )
    );
    let added = edited(TEXT, &["jobs.parallelism.default=2"]);
    assert!(
        added.contains(
            "[jobs]\n\"execution.checkpointing.interval\" = \"5s\"\n\"parallelism.default\" = 2\n\n[[faults]]"
        ),
        "{added}"
    );
}

#[test]
fn a_missing_option_goes_after_its_tables_last_key() {
    let (text, origins) = set(TEXT, &["traffic.partitions=8", "run.seed=3"]).unwrap();
    assert!(
        text.contains("liveness = \"10s\"\nseed = 3\n\n[traffic]"),
        "{text}"
    );
    assert!(
        text.contains("baseline_events_per_s = 1\npartitions = 8\n\n[[traffic.spikes]]"),
        "{text}"
    );
    let line = |needle: &str| text.split('\n').position(|l| l == needle).unwrap();
    assert_eq!(origins[line("partitions = 8")], LineOrigin::Override(0));
    assert_eq!(origins[line("seed = 3")], LineOrigin::Override(1));
    assert_eq!(origins[line("[[faults]]")], LineOrigin::Original(16));
    // A table with no keys yet: right after its header.
    assert_eq!(
        edited("[dwd]\n\n[dws]\nbucket = 2\n", &["dwd.bucket=3"]),
        "[dwd]\nbucket = 3\n\n[dws]\nbucket = 2\n"
    );
}

#[test]
fn a_missing_table_is_appended() {
    let (text, origins) = set(
        TEXT,
        &[
            "traffic.late_clicks.share=0.1",
            "cost.dwd_writer.per_record_ns=12400",
        ],
    )
    .unwrap();
    assert_eq!(
        text,
        format!(
            "{TEXT}\n[traffic.late_clicks]\nshare = 0.1\n\n[cost.dwd_writer]\nper_record_ns = 12400\n"
        )
    );
    let n = origins.len();
    assert_eq!(origins[n - 4], LineOrigin::Override(1));
    assert_eq!(origins[n - 5], LineOrigin::Override(0));
    assert_eq!(origins[n - 8], LineOrigin::Original(17));
    // Without a final line end too.
    assert_eq!(
        edited("[run]\nchaos = \"1s\"", &["dwd.bucket=2"]),
        "[run]\nchaos = \"1s\"\n\n[dwd]\nbucket = 2"
    );
}

#[test]
fn dotted_and_inline_tables_are_edited_where_they_are() {
    let dotted = "[traffic]\nlate_clicks.share = 0.1\n\n[dwd]\nbucket = 2\n";
    assert_eq!(
        edited(
            dotted,
            &[
                "traffic.late_clicks.median=2s",
                "traffic.late_clicks.share=0.2"
            ]
        ),
        "[traffic]\nlate_clicks.share = 0.2\nlate_clicks.median = \"2s\"\n\n[dwd]\nbucket = 2\n"
    );
    let inline = "[traffic]\nlate_clicks = { share = 0.1 }\nconversion_delay = {}\n";
    assert_eq!(
        edited(
            inline,
            &[
                "traffic.late_clicks.median=2s",
                "traffic.conversion_delay.max=1min",
                "traffic.late_clicks.share=0.3"
            ]
        ),
        "[traffic]\nlate_clicks = { share = 0.3, median = \"2s\" }\nconversion_delay = { max = \"1min\" }\n"
    );
    // A table made only by its sub-table's header gets its own header.
    assert_eq!(
        edited(
            "[traffic.late_clicks]\nshare = 0.1\n",
            &["traffic.partitions=2"]
        ),
        "[traffic.late_clicks]\nshare = 0.1\n\n[traffic]\npartitions = 2\n"
    );
}

#[test]
fn unknown_sections_arrays_of_tables_and_repeats_are_refused() {
    let refused = |items: &[&str]| set(TEXT, items).unwrap_err();
    let unknown = refused(&["dwdd.bucket=4"]);
    assert!(
        unknown.starts_with("--set dwdd.bucket=4: `dwdd.bucket` names no section"),
        "{unknown}"
    );
    assert!(
        unknown.contains("run, traffic, traffic.late_clicks"),
        "{unknown}"
    );
    let cost = refused(&["cost.writer.per_record_ns=1"]);
    assert!(
        cost.contains("names no operator of [cost]") && cost.contains("dwd_writer"),
        "{cost}"
    );
    for key in ["faults.at", "traffic.spikes.multiple", "operations.at"] {
        let array = refused(&[&format!("{key}=1")]);
        assert!(
            array.contains("is an array of tables: its entries cannot be set with --set; edit the scenario file"),
            "{array}"
        );
    }
    let section = refused(&["jobs.compactor=1s"]);
    assert!(
        section.contains("`jobs.compactor` is a section, not an option"),
        "{section}"
    );
    let twice = refused(&["dwd.bucket=4", "run.seed=2", "dwd.bucket=8"]);
    assert!(
        twice.contains("--set dwd.bucket=8: `dwd.bucket` is set twice on the command line (--set dwd.bucket=4 and --set dwd.bucket=8)"),
        "{twice}"
    );
}

const SCENARIO: &str = "name = \"t\"\n[run]\nchaos = \"10s\"\nliveness = \"10s\"\n[traffic]\nbaseline_events_per_s = 1\n[dwd]\nbucket = 4\n[[faults]]\nat = \"5s\"\nkind = \"crash\"\ntarget = \"dwd-job\"\nduration = \"2s\"\n";

fn parsed(text: &str, items: &[&str]) -> Result<crate::scenario::Scenario, String> {
    let overrides: Vec<Override> = items
        .iter()
        .map(|item| Override::parse(item).unwrap())
        .collect();
    crate::scenario::Scenario::parse_with_overrides(text, "t.toml", &overrides)
        .map_err(|e| e.to_string())
}

#[test]
fn overridden_values_are_read_and_checked_like_the_file() {
    let scenario = parsed(
        SCENARIO,
        &[
            "dwd.bucket=8",
            "jobs.execution.checkpointing.interval=1min",
            "traffic.late_clicks.share=0.1",
            "traffic.late_clicks.max=30min",
        ],
    )
    .unwrap();
    assert_eq!(scenario.dwd.bucket, 8);
    assert_eq!(scenario.jobs.checkpoint_interval.0, 60_000);
    assert_eq!(scenario.traffic.late_clicks.share, 0.1);
    assert_eq!(scenario.traffic.late_clicks.max.0, 30 * 60_000);

    let unknown = parsed(SCENARIO, &["run.seed=2", "dwd.bukcet=4"]).unwrap_err();
    assert!(
        unknown
            .contains("scenario t.toml is not valid:\n--set dwd.bukcet=4: unknown field `bukcet`"),
        "{unknown}"
    );
    let range = parsed(SCENARIO, &["dwd.bucket=0"]).unwrap_err();
    assert!(
        range.contains("--set dwd.bucket=0: [dwd] bucket = 0 must be between 1 and 1024"),
        "{range}"
    );
    let kind = parsed(SCENARIO, &["dwd.bucket=many"]).unwrap_err();
    assert!(
        kind.contains("--set dwd.bucket=many: invalid type: string \"many\""),
        "{kind}"
    );
}

#[test]
fn errors_on_the_files_lines_keep_the_files_line_numbers() {
    // The fault (its duration on line 13) no longer heals by the end of the shortened chaos phase.
    let fault = parsed(SCENARIO, &["run.seed=3", "run.chaos=6s"]).unwrap_err();
    assert!(
        fault.contains("scenario t.toml with --set run.seed=3 --set run.chaos=6s is not valid:\nline 13: [[faults]] #1"),
        "{fault}"
    );
    // A type error after lines an override inserted: still the file's line.
    let text = SCENARIO.replace("bucket = 4", "bucket = 4\nchangelog-producer = 7");
    let typed = parsed(&text, &["run.seed=3", "run.tick=20ms"]).unwrap_err();
    assert!(typed.contains("TOML parse error at line 9, column 22\n  |\n9 | changelog-producer = 7\n  |                      ^"), "{typed}");
    // A file that is not TOML: its own syntax error.
    let broken = parsed("[run\n", &["run.seed=3"]).unwrap_err();
    assert!(broken.contains("line 1"), "{broken}");
}

#[test]
fn every_top_level_table_of_a_scenario_is_known() {
    // The scenario's own list of keys, from serde's refusal of an unknown one.
    let error = crate::scenario::Scenario::parse("zzz = 1\n", "t")
        .unwrap_err()
        .to_string();
    let listed = error.split("expected one of ").nth(1).expect(&error);
    let fields: Vec<&str> = listed
        .split(", ")
        .map(|f| f.trim().trim_matches('`'))
        .collect();
    for field in fields {
        let known = matches!(field, "name" | "description" | "cost")
            || SECTIONS.contains(&field)
            || ARRAYS_OF_TABLES.contains(&field);
        assert!(
            known,
            "scenario section `{field}` is missing from --set's SECTIONS or ARRAYS_OF_TABLES"
        );
    }
}
