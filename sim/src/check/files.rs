//! The files checker and the expired-snapshot verdict. Over the whole history of each table (the
//! final storage dump plus the objects `dfs` deleted, kept in the world's graveyard) it checks
//! that live data files per bucket and small files stay within the scenario's bounds at every
//! committed snapshot, and that no file was deleted while a retained snapshot, a tag or a
//! consumer still needed it. It also turns a job that failed over because its next snapshot
//! had expired into a verdict of its own, so a lost consumer position is named, not only seen as
//! missing data.

use std::collections::BTreeMap;

use serde::Serialize;
use warehouse::jobs::schemas::{DWD_TABLE_ROOT, DWS_TABLE_ROOT};

use crate::check::CheckerName;
use crate::check::Violation;
use crate::check::inspect::{FileKind, FileRef, SnapshotInfo, TableInspector};
use crate::world::{StoredObjects, World};

/// File figures of one table over the run.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TableFiles {
    /// Most live data files one bucket held at any committed snapshot, and that snapshot.
    pub max_files_per_bucket: usize,
    pub max_files_per_bucket_snapshot: i64,
    /// Most live small data files the table held at any committed snapshot.
    pub max_small_files: usize,
    pub snapshots_expired: usize,
    /// Data and changelog files deleted (by expiration, compaction clean-up or tags).
    pub files_deleted: usize,
    pub tags_at_end: usize,
    /// Data and changelog files stored at the end that no retained snapshot or tag references:
    /// files of failed commit attempts and interrupted expirations, for orphan cleaning.
    pub unreferenced_files_at_end: usize,
    /// (snapshot time as the committer's clock read it, most live data files in one bucket) at
    /// every committed snapshot: for plan reports' charts, not the summary.
    #[serde(skip)]
    pub files_per_bucket_over_time: Vec<(i64, usize)>,
}

/// Simulated ms each deleted object (absent at the end) went, by path.
pub type Deletions = BTreeMap<String, i64>;

fn violation(at: String, t_ms: Option<i64>, message: String) -> Violation {
    Violation {
        checker: CheckerName::Files,
        at,
        t_ms,
        message,
    }
}

fn secs(ms: i64) -> String {
    format!("{:.1}s", ms as f64 / 1e3)
}

/// What each data or changelog file's references are: the last snapshot that referenced it.
struct History {
    last_reference: BTreeMap<String, i64>,
    figures: TableFiles,
}

/// Walks a table's snapshots in order, applying each delta: per-bucket and small-file counts
/// at every snapshot, and the last snapshot referencing each file.
fn walk(
    inspector: &TableInspector,
    snapshots: &[SnapshotInfo],
    small_file_bytes: u64,
) -> Result<History, String> {
    let mut live: BTreeMap<(FileRef, i64), u64> = BTreeMap::new();
    let mut last_reference = BTreeMap::new();
    let mut figures = TableFiles::default();
    let mut previous: Option<i64> = None;
    for snapshot in snapshots {
        for entry in inspector.delta_entries(snapshot)? {
            let (kind, level, size_bytes) = (entry.kind, entry.level, entry.size_bytes);
            let key = (entry.file(), level);
            if kind == FileKind::Add {
                live.insert(key, size_bytes);
            } else if live.remove(&key).is_some()
                && let Some(previous) = previous
            {
                last_reference.insert(inspector.file_path(&key.0), previous);
            }
        }
        for file in inspector.changelog_files(snapshot)? {
            last_reference.insert(inspector.file_path(&file), snapshot.id);
        }
        // Files per LSM tree: per bucket of each partition.
        let mut per_bucket: BTreeMap<(&str, i64), usize> = BTreeMap::new();
        for (file, _) in live.keys() {
            *per_bucket
                .entry((&file.partition, file.bucket))
                .or_default() += 1;
        }
        let widest = per_bucket.values().copied().max().unwrap_or(0);
        figures
            .files_per_bucket_over_time
            .push((snapshot.time_millis, widest));
        if widest > figures.max_files_per_bucket {
            figures.max_files_per_bucket = widest;
            figures.max_files_per_bucket_snapshot = snapshot.id;
        }
        let small = live
            .values()
            .filter(|size| **size < small_file_bytes)
            .count();
        figures.max_small_files = figures.max_small_files.max(small);
        previous = Some(snapshot.id);
    }
    if let Some(latest) = previous {
        for (file, _) in live.keys() {
            last_reference.insert(inspector.file_path(file), latest);
        }
    }
    Ok(History {
        last_reference,
        figures,
    })
}

/// The files checker over one table. `objects` is the history (dump and graveyard).
fn check_table(
    world: &World,
    objects: &StoredObjects,
    deleted: &Deletions,
    root: &str,
    label: &str,
    violations: &mut Vec<Violation>,
) -> Result<TableFiles, String> {
    let sla = &world.scenario.sla;
    let inspector = TableInspector::new(objects, root, &[], BTreeMap::new());
    // Snapshots a rollback discarded are no longer history: their files may go. The rollback
    // must really have removed them: one still stored at the end is a violation.
    let snapshots = crate::check::history::surviving_history(world, &inspector, root)?;
    if snapshots.len() != inspector.snapshots()?.len()
        && let Some(kept) = inspector
            .snapshots()?
            .into_iter()
            .find(|s| !deleted.contains_key(&s.path) && !snapshots.iter().any(|k| k.id == s.id))
    {
        violations.push(violation(
            format!("{label} snapshot {}", kept.id),
            None,
            format!(
                "{} was committed before a rollback to an older tag and is still stored at the end: the rollback did not remove it",
                kept.path
            ),
        ));
    }
    // A simulated DWD file stands for a file `represents` times larger: the production bound is
    // met at the simulated scale (DWS rows are aggregates, their number does not scale).
    let small_file_bytes = if root == warehouse::jobs::schemas::DWD_TABLE_ROOT {
        world.scenario.dwd_simulated_bytes(sla.small_file_bytes)
    } else {
        sla.small_file_bytes
    };
    let history = walk(&inspector, &snapshots, small_file_bytes)?;
    let mut figures = history.figures;
    if figures.max_files_per_bucket > sla.files_per_bucket_max {
        violations.push(violation(
            format!("{label} snapshot {}", figures.max_files_per_bucket_snapshot),
            None,
            format!(
                "{} live data files in one bucket, above files_per_bucket_max = {}",
                figures.max_files_per_bucket, sla.files_per_bucket_max
            ),
        ));
    }
    if figures.max_small_files > sla.small_files_max {
        violations.push(violation(
            format!("{label} (whole run)"),
            None,
            format!(
                "{} live data files below {} bytes, above small_files_max = {}",
                figures.max_small_files, small_file_bytes, sla.small_files_max
            ),
        ));
    }
    let gone = |path: &str| deleted.get(path).copied();
    let snapshot_prefix = format!("{root}/snapshot/snapshot-");
    figures.snapshots_expired = deleted
        .keys()
        .filter(|p| p.starts_with(&snapshot_prefix))
        .count();
    let table_prefix = format!("{root}/");
    let mut first_early = None;
    for (path, &t_ms) in deleted.range(table_prefix.clone()..) {
        if !path.starts_with(&table_prefix) {
            break;
        }
        if !inspector.is_bucket_file(path)? {
            continue;
        }
        figures.files_deleted += 1;
        let Some(&last) = history.last_reference.get(path) else {
            continue; // never committed: a failed attempt's file
        };
        let snapshot = format!("{snapshot_prefix}{last}");
        let retained_until = gone(&snapshot);
        if retained_until.is_none_or(|until| until > t_ms) && first_early.is_none() {
            first_early = Some(violation(
                format!("{label} snapshot {last}"),
                Some(t_ms),
                format!(
                    "{path} was deleted at t={} while snapshot {last}, which references it, was retained ({})",
                    secs(t_ms),
                    retained_until.map_or("still at the end".to_string(), |t| format!(
                        "until t={}",
                        secs(t)
                    ))
                ),
            ));
        }
    }
    violations.extend(first_early);
    let tags = inspector.tags()?;
    for (name, tagged) in &tags {
        let tag_path = format!("{root}/tag/tag-{name}");
        let tag_gone = gone(&tag_path);
        if tag_gone.is_none() {
            figures.tags_at_end += 1;
        }
        let mut files: Vec<String> = inspector
            .live_files(tagged)?
            .iter()
            .map(|file| inspector.file_path(file))
            .collect();
        files.extend(
            inspector
                .changelog_files(tagged)?
                .iter()
                .map(|file| inspector.file_path(file)),
        );
        if let Some((path, t_ms)) = files
            .iter()
            .filter_map(|p| gone(p).map(|t| (p, t)))
            .find(|(_, t)| tag_gone.is_none_or(|until| until > *t))
        {
            violations.push(violation(
                format!("{label} tag {name} (snapshot {})", tagged.id),
                Some(t_ms),
                format!(
                    "{path} was deleted at t={} while tag {name} referenced it",
                    secs(t_ms)
                ),
            ));
        }
    }
    Ok(figures)
}

/// Manifests of the snapshots and tags present at the end must be present too: read through the
/// final dump alone, every retained snapshot and tag resolves to its files. Also counts, per
/// table (DWD, DWS), the data and changelog files nothing retained references.
pub fn retained_metadata_check(
    dump: &StoredObjects,
    deleted: &Deletions,
) -> (Vec<Violation>, [usize; 2]) {
    let mut violations = Vec::new();
    let mut unreferenced = [0; 2];
    for (table, (root, label)) in [(DWD_TABLE_ROOT, "DWD"), (DWS_TABLE_ROOT, "DWS")]
        .into_iter()
        .enumerate()
    {
        let mut referenced = std::collections::BTreeSet::new();
        let inspector = TableInspector::new(dump, root, &[], BTreeMap::new());
        let mut retained: Vec<(String, SnapshotInfo)> = match inspector.snapshots() {
            Ok(snapshots) => snapshots
                .into_iter()
                .map(|s| (format!("snapshot {}", s.id), s))
                .collect(),
            Err(error) => {
                violations.push(violation(format!("{label} snapshots"), None, error));
                continue;
            }
        };
        if let Ok(tags) = inspector.tags() {
            retained.extend(tags.into_iter().map(|(name, s)| (format!("tag {name}"), s)));
        }
        let mut complete = true;
        for (what, snapshot) in retained {
            let files = inspector.live_files(&snapshot).and_then(|mut files| {
                files.extend(inspector.changelog_files(&snapshot)?);
                Ok(files)
            });
            let missing = match files {
                Err(error) => Some(error),
                Ok(files) => {
                    let paths: Vec<String> =
                        files.iter().map(|file| inspector.file_path(file)).collect();
                    let missing = paths.iter().find(|path| !dump.contains_key(path)).cloned();
                    referenced.extend(paths);
                    missing.map(|path| format!("{path} is missing"))
                }
            };
            if let Some(error) = missing {
                let deletion = deleted
                    .iter()
                    .find(|(path, _)| error.contains(path.as_str()));
                violations.push(violation(
                    format!("{label} {what} (retained at the end)"),
                    deletion.map(|(_, t)| *t),
                    match deletion {
                        Some((path, t)) => {
                            format!("{path}, which it references, was deleted at t={}", secs(*t))
                        }
                        None => error,
                    },
                ));
                complete = false;
                break;
            }
        }
        if complete {
            let prefix = format!("{root}/");
            unreferenced[table] = dump
                .keys_under(&prefix)
                .filter(|path| inspector.is_bucket_file(path).unwrap_or(false))
                .filter(|path| !referenced.contains(*path))
                .count();
        }
    }
    (violations, unreferenced)
}

/// The files checker over the history of both tables on storage system `storage` (its history
/// and deletions), plus the deletions a consumer forbade.
pub fn files_check_on(
    world: &World,
    storage: &str,
    history: &StoredObjects,
    deleted: &Deletions,
) -> (TableFiles, TableFiles, Vec<Violation>) {
    let mut violations = Vec::new();
    let mut tables = Vec::new();
    for (root, label) in [(DWD_TABLE_ROOT, "DWD"), (DWS_TABLE_ROOT, "DWS")] {
        match check_table(world, history, deleted, root, label, &mut violations) {
            Ok(figures) => tables.push(figures),
            Err(error) => {
                violations.push(violation(
                    format!("{label} history"),
                    None,
                    format!("cannot read the table's history: {error}"),
                ));
                tables.push(TableFiles::default());
            }
        }
    }
    if let Some(first) = world
        .storage_of_host(storage)
        .protected_deletions
        .borrow()
        .first()
    {
        violations.push(violation(
            first.snapshot_path.clone(),
            Some(first.t_ms),
            format!(
                "deleted at t={} although {} still needed it (nextSnapshot = {})",
                secs(first.t_ms),
                first.consumer_path,
                first.next_snapshot
            ),
        ));
    }
    let dws = tables.pop().unwrap_or_default();
    let dwd = tables.pop().unwrap_or_default();
    (dwd, dws, violations)
}

/// A job that failed over because the snapshot it had to read next was expired.
pub fn expired_snapshot_check(world: &World) -> Vec<Violation> {
    let failovers = world.observed.job_failovers.borrow();
    let failures: Vec<_> = failovers
        .iter()
        .filter(|f| f.expired_snapshot.is_some())
        .collect();
    let Some(first) = failures.first() else {
        return Vec::new();
    };
    vec![Violation {
        checker: CheckerName::ExpiredSnapshot,
        at: format!("{} (failed over {} times)", first.host, failures.len()),
        t_ms: Some(first.t_ms),
        message: first.reason.clone(),
    }]
}
