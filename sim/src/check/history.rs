//! A table's history as the checkers see it: every committed snapshot, less those an operator's
//! rollback discarded.

use crate::check::inspect::{SnapshotInfo, TableInspector};
use crate::world::World;
use crate::world::control::RollbackRecord;

/// The snapshots of `root` that belong to its history at the end of the run: those a rollback
/// discarded (newer than its tag's snapshot, committed before the rollback) are left out. The
/// tag's snapshot id comes from the checker's own reading of the tag file, the commit times from
/// `dfs`; only the fact that an operator rolled the table back comes from the world's record.
pub fn surviving_history(
    world: &World,
    inspector: &TableInspector,
    root: &str,
) -> Result<Vec<SnapshotInfo>, String> {
    let snapshots = inspector.snapshots()?;
    let rollbacks: Vec<RollbackRecord> = world
        .observed
        .rollbacks
        .borrow()
        .iter()
        .filter(|r| r.table_root == root)
        .cloned()
        .collect();
    if rollbacks.is_empty() {
        return Ok(snapshots);
    }
    let tags = inspector.tags()?;
    let mut cuts = Vec::new();
    for rollback in &rollbacks {
        let Some((_, tagged)) = tags.iter().find(|(name, _)| *name == rollback.tag) else {
            return Err(format!(
                "{root} was rolled back to tag `{}` at t={} ms, but no such tag file was ever stored",
                rollback.tag, rollback.t_ms
            ));
        };
        cuts.push((tagged.id, rollback.t_ms));
    }
    let commits = world.observed.storage[0].snapshot_commits.borrow();
    let epoch_ms = world.scenario.run.epoch_ms;
    Ok(snapshots
        .into_iter()
        .filter(|s| {
            let committed_ms = commits
                .get(&s.path)
                .copied()
                .unwrap_or(s.time_millis - epoch_ms);
            !cuts
                .iter()
                .any(|&(tag_id, t_ms)| s.id > tag_id && committed_ms < t_ms)
        })
        .collect())
}
