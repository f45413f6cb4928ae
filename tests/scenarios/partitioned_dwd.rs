//! DWD partitioned by the event's local hour (`[dwd] partition.timestamp-formatter =
//! "yyyyMMddHH"`): a few seeds of `smoke` that cross midnight, with crashes and partitions drawn
//! from the seed, must pass every checker, and the DWD files must lie in Paimon's
//! `hh=<yyyyMMddHH>/bucket-<n>` directories of both hours.

use std::collections::BTreeSet;

use crate::common;

use sim::SeedTree;
use sim::Summary;
use sim::random_schedule;
use sim::scenario::Millis;
use warehouse::jobs::schemas::DWD_TABLE_ROOT;
use warehouse::table::PartitionTimeFormat;

/// 23:59:00 on 10 November 2025 in UTC+8: the run crosses into the Double-11 midnight hour.
const MINUTE_BEFORE_MIDNIGHT_MS: i64 = 1_762_790_340_000;

#[test]
fn hourly_dwd_across_midnight_with_random_faults_is_exactly_once() {
    let mut failures = Vec::new();
    for seed in 1..=3u64 {
        let mut scenario = common::scenario("smoke");
        scenario.dwd.partition_timestamp_formatter = Some(PartitionTimeFormat::Hour);
        scenario.run.epoch_ms = MINUTE_BEFORE_MIDNIGHT_MS;
        scenario.faults = random_schedule(
            scenario.topology(),
            &SeedTree::new(seed),
            scenario.run.chaos,
            (3, 6),
            Millis(12_000),
        );
        let output = sim::run(scenario, seed);
        let hours: BTreeSet<&str> = output
            .simulation
            .objects
            .keys()
            .filter_map(|path| path.strip_prefix(&format!("{DWD_TABLE_ROOT}/hh=")))
            .filter_map(|rest| rest.split_once("/bucket-").map(|(hour, _)| hour))
            .collect();
        assert_eq!(
            hours,
            BTreeSet::from(["2025111023", "2025111100"]),
            "seed {seed}: DWD's hour partitions"
        );
        let summary = Summary::build(&output, "smoke, hourly DWD", "test", 1.0);
        if !summary.passed() {
            failures.push(format!("seed {seed}:\n{}", summary.render()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
