//! `dwsim shrink` reduces a failing seed to the faults that matter: of five faults only the long
//! TT<->dwd-job partition breaks the freshness SLA, and the written scenario still fails the same
//! checker when run.

use crate::common::dwsim;

#[test]
fn shrink_keeps_only_the_partition_and_the_result_still_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shrunk.toml");
    let (code, stdout, stderr) = dwsim(&[
        "shrink",
        "tests/fixtures/freshness-partition.toml",
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("faults 5 -> 1"), "{stdout}");
    assert!(
        stdout.contains("kept: Partition tt <-> dwd-job at 20s for 40s"),
        "{stdout}"
    );

    let (code, stdout, _) = dwsim(&["run", out.to_str().unwrap(), "--seed", "1"]);
    assert_eq!(code, 1, "the shrunk scenario still fails:\n{stdout}");
    assert!(stdout.contains("freshness     FAIL"), "{stdout}");
}

#[test]
fn a_passing_seed_is_not_shrunk() {
    let (code, _, stderr) = dwsim(&["shrink", "smoke", "--seed", "1", "--out", "/dev/null"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("passes every checker"), "{stderr}");
}
