//! Golden summaries: one seed of each shipped scenario, as JSON with the wall-clock fields and the
//! git commit masked. Any change of behaviour shows up as a reviewable diff of these files; accept
//! an intended one with `INSTA_UPDATE=always cargo test --release --test scenarios golden`.

use crate::common;

use sim::Summary;

fn golden_summary(scenario: &str, seed: u64) -> serde_json::Value {
    let output = sim::run(common::scenario(scenario), seed);
    let summary = Summary::build(
        &output,
        &format!("scenarios/{scenario}.toml"),
        "masked",
        0.0,
    );
    let mut value = serde_json::to_value(&summary).expect("summary serialises");
    value["wall"] = serde_json::Value::String("masked: differs between runs".into());
    value
}

#[test]
fn smoke_seed_1() {
    insta::assert_json_snapshot!(golden_summary("smoke", 1));
}

#[test]
fn double11_seed_1() {
    insta::assert_json_snapshot!(golden_summary("double11", 1));
}

#[test]
fn late_conversions_seed_1() {
    insta::assert_json_snapshot!(golden_summary("late-conversions", 1));
}

/// Under-provisioned on purpose: the freshness failure and the named bottleneck are the story.
#[test]
fn backpressure_seed_1() {
    insta::assert_json_snapshot!(golden_summary("backpressure", 1));
}

#[test]
fn consumer_recovery_seed_1() {
    insta::assert_json_snapshot!(golden_summary("consumer-recovery", 1));
}

#[test]
fn dedicated_compaction_seed_1() {
    insta::assert_json_snapshot!(golden_summary("dedicated-compaction", 1));
}

/// Dual storage HA: dfs-a down at the peak, serving on dfs-b and back.
#[test]
fn storage_failover_seed_1() {
    insta::assert_json_snapshot!(golden_summary("storage-failover", 1));
}
