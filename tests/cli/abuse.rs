//! Hostile input to the `dwsim` command (issue 13 item 3): a finished run's table files
//! truncated, flipped or deleted, and arguments nobody should type. Each must end in exit 2 with
//! a message naming what is wrong (the file, the flag), never a panic (exit 101) or a silent 0.

use crate::common::dwsim;

use std::path::{Path, PathBuf};

const DWD: &str = "ads.db/dwd_ad_events";

/// A short smoke run's `--out DIR/warehouse`, written once into `dir`.
fn finished_warehouse(dir: &Path) -> PathBuf {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml"))
            .unwrap()
            .replace("chaos = \"90s\"", "chaos = \"75s\"");
    let scenario = dir.join("scenario.toml");
    std::fs::write(&scenario, text).unwrap();
    let out = dir.join("out");
    let (code, stdout, stderr) = dwsim(&[
        "run",
        scenario.to_str().unwrap(),
        "--seed",
        "2",
        "--trace",
        "off",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    out.join("warehouse")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every data file of bucket 0: at least one of them is live in the latest snapshot.
fn bucket_0_data_files(table: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(table.join("bucket-0"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().contains("/data-"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "bucket-0 holds data files");
    files
}

/// The latest snapshot's file, read through the LATEST hint.
fn latest_snapshot(table: &Path) -> PathBuf {
    let latest = std::fs::read_to_string(table.join("snapshot/LATEST")).unwrap();
    table.join(format!("snapshot/snapshot-{}", latest.trim()))
}

/// The base manifest list the latest snapshot names.
fn latest_manifest_list(table: &Path) -> PathBuf {
    let snapshot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(latest_snapshot(table)).unwrap()).unwrap();
    table
        .join("manifest")
        .join(snapshot["baseManifestList"].as_str().unwrap())
}

fn truncate(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

/// Every byte of the first and last 16 flipped: magic numbers, headers and footers.
fn flip_ends(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let n = bytes.len();
    for i in (0..16.min(n)).chain(n.saturating_sub(16)..n) {
        bytes[i] = !bytes[i];
    }
    std::fs::write(path, bytes).unwrap();
}

fn delete(path: &Path) {
    std::fs::remove_file(path).unwrap();
}

#[test]
fn corrupt_table_files_are_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = finished_warehouse(dir.path());
    let (code, rows, stderr) = dwsim(&[
        "table",
        "scan",
        pristine.to_str().unwrap(),
        "ads.dwd_ad_events",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(rows.lines().count() > 100, "the pristine table has rows");

    // What to corrupt, and the part of its path the message must name.
    type Pick = fn(&Path) -> Vec<PathBuf>;
    type Corrupt = fn(&Path);
    let cases: [(&str, Pick, Corrupt); 8] = [
        ("truncated data files", bucket_0_data_files, truncate),
        ("flipped data files", bucket_0_data_files, flip_ends),
        ("deleted data files", bucket_0_data_files, delete),
        (
            "truncated manifest list",
            |t| vec![latest_manifest_list(t)],
            truncate,
        ),
        (
            "flipped manifest list",
            |t| vec![latest_manifest_list(t)],
            flip_ends,
        ),
        (
            "deleted manifest list",
            |t| vec![latest_manifest_list(t)],
            delete,
        ),
        ("flipped snapshot", |t| vec![latest_snapshot(t)], flip_ends),
        (
            "flipped schema",
            |t| vec![t.join("schema/schema-0")],
            flip_ends,
        ),
    ];
    let mut wrong = Vec::new();
    for (i, (what, pick, corrupt)) in cases.into_iter().enumerate() {
        let copy = dir.path().join(format!("case-{i}"));
        copy_dir(&pristine, &copy);
        let files = pick(&copy.join(DWD));
        files.iter().for_each(|file| corrupt(file));
        let name = match files.as_slice() {
            [one] => one.file_name().unwrap().to_string_lossy().into_owned(),
            _ => "bucket-0/data-".to_string(),
        };
        let (code, _, stderr) =
            dwsim(&["table", "scan", copy.to_str().unwrap(), "ads.dwd_ad_events"]);
        if code != 2 || !stderr.contains(&name) {
            wrong.push(format!("{what} ({name}): exit {code}: {stderr}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "not refused with the file named:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn abusive_arguments_are_exit_2_with_a_message() {
    let huge = "99999999999999999999999999";
    let cases: [&[&str]; 10] = [
        &["run", "smoke", "--no-such-flag"],
        &["run", "smoke", "--seed", huge],
        &["run", "smoke", "--seed", "-1"],
        &["run", ""],
        &["run", "smoke", "--set", ""],
        &["run", "smoke", "--set", "dwd.bucket=99999999999999999999"],
        &["sweep", "smoke", "--seeds", ""],
        &["sweep", "smoke", "--seeds", &format!("1..{huge}")],
        &["table", "scan", "", ""],
        &["trace", "", "--around", "1s"],
    ];
    let mut wrong = Vec::new();
    for args in cases {
        let (code, _, stderr) = dwsim(args);
        if code != 2 || stderr.trim().is_empty() {
            wrong.push(format!("{args:?}: exit {code}: {stderr}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "not refused with a message:\n{}",
        wrong.join("\n")
    );
}

/// A run keeps TT's log in the temporary directory: one it cannot write is refused before the
/// run starts, naming the directory and TMPDIR, rather than failing part-way.
#[test]
fn an_unwritable_temporary_directory_is_exit_2_naming_tmpdir() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dwsim"))
        .args(["run", "smoke", "--seed", "1"])
        .env("TMPDIR", "/proc/no-such-dir")
        .output()
        .expect("dwsim runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("/proc/no-such-dir")
            && stderr.contains("TMPDIR")
            && !stderr.contains("panicked"),
        "{stderr}"
    );
}
