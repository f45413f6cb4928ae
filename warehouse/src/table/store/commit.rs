//! Committing to a table: manifests and manifest lists written under unique names, and one
//! snapshot published per commit with `put_if_absent` on `snapshot-N`, retried when another
//! committer wins the id (Paimon's `filterAndCommit`), with Paimon's conflict check for
//! compactions.

use std::collections::BTreeMap;

use super::super::TableError;
use super::super::avro;
use super::super::meta::{
    CommitKind, CommitMessage, DataFileMeta, FileKind, ManifestEntry, ManifestFileMeta, Snapshot,
};
use super::{FileStoreTable, to_json};
use crate::env::ObjectStore;

/// Bound on commit attempts lost to concurrent committers.
const COMMIT_ATTEMPTS_MAX: u32 = 1000;
/// Bound on manifest name collisions skipped before giving up.
const NAME_COLLISIONS_MAX: u32 = 1000;

/// One snapshot to write: what `publish` needs.
pub(crate) struct Publication<'a> {
    pub commit_user: &'a str,
    pub identifier: i64,
    pub kind: CommitKind,
    pub delta: Vec<ManifestEntry>,
    pub changelog: Vec<ManifestEntry>,
    pub watermark: Option<i64>,
    pub time_millis: i64,
    pub file_prefix: &'a str,
    /// Check the delta against each attempt's latest snapshot (compactions: Paimon's
    /// `noConflictsOrFail`); appends only add level-0 files and never conflict.
    pub check_conflicts: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The APPEND snapshot, and the COMPACT snapshot when the writers also compacted.
    Committed {
        snapshot_id: i64,
        compact_snapshot_id: Option<i64>,
    },
    /// This user already committed this identifier (or a later one) in the given snapshot.
    AlreadyCommitted { snapshot_id: i64 },
}

impl<S: ObjectStore> FileStoreTable<S> {
    /// Writes `bytes` under a fresh `manifest/{stem}-{prefix}-{n}` name; returns the name.
    async fn write_manifest_file(
        &self,
        stem: &str,
        file_prefix: &str,
        bytes: Vec<u8>,
    ) -> Result<(String, u64), TableError> {
        let size = bytes.len() as u64;
        for _ in 0..NAME_COLLISIONS_MAX {
            let n = self.inner.manifest_counter.get();
            self.inner.manifest_counter.set(n + 1);
            let name = format!("{stem}-{file_prefix}-{n}");
            if self
                .inner
                .store
                .put_if_absent(&self.manifest_path(&name), bytes.clone())
                .await?
            {
                return Ok((name, size));
            }
        }
        Err(TableError::Encode {
            path: self.manifest_path(&format!("{stem}-{file_prefix}-*")),
            reason: "manifest names keep colliding; is the file prefix unique?".into(),
        })
    }

    async fn write_manifest(
        &self,
        entries: &[ManifestEntry],
        file_prefix: &str,
    ) -> Result<ManifestFileMeta, TableError> {
        let path = self.manifest_path("manifest");
        let arity = self.partition_arity();
        let bytes = avro::encode_manifest(entries, &self.key_types(), arity, &path)?;
        let (file_name, file_size) = self
            .write_manifest_file("manifest", file_prefix, bytes)
            .await?;
        let count = |kind| entries.iter().filter(|e| e.kind == kind).count() as u64;
        let buckets = entries.iter().map(|e| e.bucket);
        let levels = entries.iter().map(|e| e.file.level);
        let partition_bound = |pick: fn(i64, i64) -> i64| -> Vec<i64> {
            (0..arity)
                .map(|i| entries.iter().map(|e| e.partition[i]).reduce(pick))
                .collect::<Option<_>>()
                .unwrap_or_default()
        };
        Ok(ManifestFileMeta {
            min_partition: partition_bound(i64::min),
            max_partition: partition_bound(i64::max),
            file_name,
            file_size,
            num_added_files: count(FileKind::Add),
            num_deleted_files: count(FileKind::Delete),
            schema_id: 0,
            min_bucket: buckets.clone().min(),
            max_bucket: buckets.max(),
            min_level: levels.clone().min(),
            max_level: levels.max(),
        })
    }

    async fn write_manifest_list(
        &self,
        metas: &[ManifestFileMeta],
        file_prefix: &str,
    ) -> Result<String, TableError> {
        let path = self.manifest_path("manifest-list");
        let bytes = avro::encode_manifest_list(metas, self.partition_arity(), &path)?;
        Ok(self
            .write_manifest_file("manifest-list", file_prefix, bytes)
            .await?
            .0)
    }

    /// A manifest list holding `entries` (none when empty).
    async fn write_entries_as_list(
        &self,
        entries: &[ManifestEntry],
        file_prefix: &str,
    ) -> Result<String, TableError> {
        let metas = if entries.is_empty() {
            Vec::new()
        } else {
            vec![self.write_manifest(entries, file_prefix).await?]
        };
        self.write_manifest_list(&metas, file_prefix).await
    }

    /// The base manifest list of the snapshot after `previous`: its base plus delta manifests,
    /// fully merged into one manifest of live files when there are too many. Returns the list's
    /// name and the files this attempt wrote (to clean up if the attempt loses).
    async fn write_base_list(
        &self,
        previous: Option<&Snapshot>,
        file_prefix: &str,
    ) -> Result<(String, Vec<String>), TableError> {
        let mut metas = Vec::new();
        if let Some(previous) = previous {
            metas = self
                .read_manifest_list(&previous.base_manifest_list)
                .await?;
            metas.extend(
                self.read_manifest_list(&previous.delta_manifest_list)
                    .await?,
            );
        }
        let mut written = Vec::new();
        if metas.len() > self.inner.schema.options.manifest_merge_min_count {
            let live: Vec<ManifestEntry> =
                self.read_manifests(&metas).await?.into_values().collect();
            metas.clear();
            if !live.is_empty() {
                let meta = self.write_manifest(&live, file_prefix).await?;
                written.push(meta.file_name.clone());
                metas.push(meta);
            }
        }
        let list = self.write_manifest_list(&metas, file_prefix).await?;
        written.push(list.clone());
        Ok((list, written))
    }

    /// Paimon `filterAndCommit`: commits `messages` as snapshot latest+1 unless `commit_user`
    /// already committed `identifier` (or later). Retries when another committer wins the id.
    /// An empty `messages` still creates a snapshot (recording the identifier and watermark).
    pub async fn commit(
        &self,
        commit_user: &str,
        identifier: i64,
        messages: Vec<CommitMessage>,
        watermark: Option<i64>,
        time_millis: i64,
        file_prefix: &str,
    ) -> Result<CommitOutcome, TableError> {
        let latest = self.latest_snapshot().await?;
        if let Some(latest) = latest.clone()
            && let Some(mine) = self.find_user_at_or_before(commit_user, latest).await?
            && mine.commit_identifier >= identifier
        {
            return Ok(CommitOutcome::AlreadyCommitted {
                snapshot_id: mine.id,
            });
        }

        let total_buckets = self.inner.schema.options.bucket;
        let entries = |kind: FileKind, files: fn(&CommitMessage) -> &Vec<DataFileMeta>| {
            messages
                .iter()
                .flat_map(|m| {
                    files(m).iter().map(move |file| ManifestEntry {
                        kind,
                        partition: m.partition.clone(),
                        bucket: m.bucket,
                        total_buckets,
                        file: file.clone(),
                    })
                })
                .collect::<Vec<ManifestEntry>>()
        };
        let append = Publication {
            commit_user,
            identifier,
            kind: CommitKind::Append,
            delta: entries(FileKind::Add, |m| &m.new_files),
            changelog: entries(FileKind::Add, |m| &m.changelog_files),
            watermark,
            time_millis,
            file_prefix,
            check_conflicts: false,
        };
        let outcome = self.publish(append, latest).await?;
        let CommitOutcome::Committed { snapshot_id, .. } = outcome else {
            return Ok(outcome);
        };
        if !messages.iter().any(CommitMessage::has_compaction) {
            return Ok(outcome);
        }
        // Paimon commits a writer's compaction as a second, COMPACT snapshot of the checkpoint.
        let mut delta = entries(FileKind::Delete, |m| &m.compact_before);
        delta.extend(entries(FileKind::Add, |m| &m.compact_after));
        let compact = Publication {
            commit_user,
            identifier,
            kind: CommitKind::Compact,
            delta,
            changelog: entries(FileKind::Add, |m| &m.compact_changelog_files),
            watermark,
            time_millis,
            file_prefix,
            check_conflicts: true,
        };
        let latest = self.latest_snapshot().await?;
        let compact_snapshot_id = match self.publish(compact, latest).await? {
            CommitOutcome::Committed { snapshot_id, .. } => Some(snapshot_id),
            CommitOutcome::AlreadyCommitted { .. } => None,
        };
        Ok(CommitOutcome::Committed {
            snapshot_id,
            compact_snapshot_id,
        })
    }

    /// Writes one snapshot after `latest` (manifests, lists, then the snapshot file with
    /// create-if-absent), retrying when another committer wins the id. A retry re-runs the
    /// filter: a snapshot of the same user and kind at or past the identifier means done.
    pub(crate) async fn publish(
        &self,
        publication: Publication<'_>,
        mut latest: Option<Snapshot>,
    ) -> Result<CommitOutcome, TableError> {
        let Publication {
            commit_user,
            identifier,
            kind,
            delta,
            changelog,
            watermark,
            time_millis,
            file_prefix,
            check_conflicts,
        } = publication;
        let added = |entries: &[ManifestEntry]| -> i64 {
            entries
                .iter()
                .map(|e| match e.kind {
                    FileKind::Add => e.file.row_count as i64,
                    FileKind::Delete => -(e.file.row_count as i64),
                })
                .sum()
        };
        assert!(
            kind != CommitKind::Append || delta.iter().all(|e| e.kind == FileKind::Add),
            "an APPEND snapshot only adds files"
        );
        let delta_record_count = added(&delta);
        let delta_list = self.write_entries_as_list(&delta, file_prefix).await?;
        let (changelog_list, changelog_record_count) = if changelog.is_empty() {
            (None, None)
        } else {
            let list = self.write_entries_as_list(&changelog, file_prefix).await?;
            (Some(list), Some(added(&changelog)))
        };

        for _ in 0..COMMIT_ATTEMPTS_MAX {
            if check_conflicts {
                self.check_conflicts(latest.as_ref(), &delta).await?;
            }
            let (base_list, written) = self.write_base_list(latest.as_ref(), file_prefix).await?;
            let id = latest.as_ref().map_or(1, |s| s.id + 1);
            let snapshot = Snapshot {
                version: 3,
                id,
                schema_id: 0,
                base_manifest_list: base_list,
                delta_manifest_list: delta_list.clone(),
                changelog_manifest_list: changelog_list.clone(),
                commit_user: commit_user.to_string(),
                commit_identifier: identifier,
                commit_kind: kind,
                time_millis,
                log_offsets: BTreeMap::new(),
                total_record_count: latest.as_ref().map_or(0, |s| s.total_record_count)
                    + delta_record_count,
                delta_record_count,
                changelog_record_count,
                // As Paimon's commit does: a snapshot's watermark never falls below its
                // predecessor's, so a commit without one (a dedicated compactor's) keeps it.
                watermark: watermark.max(latest.as_ref().and_then(|s| s.watermark)),
            };
            assert_follows(&snapshot, latest.as_ref());
            let path = self.snapshot_path(id);
            let bytes = to_json(&path, &snapshot, true)?;
            if self.inner.store.put_if_absent(&path, bytes).await? {
                // Hints are best effort: readers probe past a lagging LATEST.
                let store = &self.inner.store;
                let _ = store
                    .put(&self.hint_path("LATEST"), id.to_string().into_bytes())
                    .await;
                if id == 1 {
                    let _ = store.put(&self.hint_path("EARLIEST"), b"1".to_vec()).await;
                }
                return Ok(CommitOutcome::Committed {
                    snapshot_id: id,
                    compact_snapshot_id: None,
                });
            }
            // Lost the race for `id`: drop this attempt's base files, then re-run the filter
            // over the snapshots that appeared meanwhile.
            for name in written {
                let _ = self.inner.store.delete(&self.manifest_path(&name)).await;
            }
            latest = self.latest_snapshot().await?;
            let latest_id = latest.as_ref().map_or(0, |s| s.id);
            for new_id in id..=latest_id {
                if let Some(s) = self.snapshot(new_id).await?
                    && s.commit_user == commit_user
                    && s.commit_identifier >= identifier
                    && (kind == CommitKind::Append || s.commit_kind == kind)
                {
                    return Ok(CommitOutcome::AlreadyCommitted { snapshot_id: s.id });
                }
            }
        }
        Err(TableError::CommitRetriesExhausted {
            attempts: COMMIT_ATTEMPTS_MAX,
        })
    }

    /// Commits a dedicated compactor's work: one COMPACT snapshot deleting every message's
    /// `compact_before` and adding its `compact_after`, unless `commit_user` already committed
    /// `identifier` (or later). Fails with [`TableError::CompactionConflict`] when a file it
    /// deletes is no longer live or an output overlaps a live file of its level (another
    /// compaction won); the snapshot is then not written and the outputs are orphans.
    ///
    /// # Panics
    /// If a message carries new (level-0) files: those belong to a writer's `commit`.
    pub async fn commit_compaction(
        &self,
        commit_user: &str,
        identifier: i64,
        messages: Vec<CommitMessage>,
        time_millis: i64,
        file_prefix: &str,
    ) -> Result<CommitOutcome, TableError> {
        assert!(
            messages
                .iter()
                .all(|m| m.new_files.is_empty() && m.changelog_files.is_empty()),
            "commit_compaction takes compaction results only"
        );
        let latest = self.latest_snapshot().await?;
        if let Some(latest) = latest.clone()
            && let Some(mine) = self.find_user_at_or_before(commit_user, latest).await?
            && mine.commit_identifier >= identifier
        {
            return Ok(CommitOutcome::AlreadyCommitted {
                snapshot_id: mine.id,
            });
        }
        let total_buckets = self.inner.schema.options.bucket;
        let entry = |kind, m: &CommitMessage, file: &DataFileMeta| ManifestEntry {
            kind,
            partition: m.partition.clone(),
            bucket: m.bucket,
            total_buckets,
            file: file.clone(),
        };
        let mut delta: Vec<ManifestEntry> = messages
            .iter()
            .flat_map(|m| {
                m.compact_before
                    .iter()
                    .map(|f| entry(FileKind::Delete, m, f))
            })
            .collect();
        delta.extend(
            messages
                .iter()
                .flat_map(|m| m.compact_after.iter().map(|f| entry(FileKind::Add, m, f))),
        );
        let publication = Publication {
            commit_user,
            identifier,
            kind: CommitKind::Compact,
            delta,
            changelog: Vec::new(),
            watermark: None,
            time_millis,
            file_prefix,
            check_conflicts: true,
        };
        self.publish(publication, latest).await
    }

    /// Paimon's conflict check of a compaction against `latest`: every file `delta` deletes is
    /// live, and no file it adds above level 0 overlaps the key range of a live file of its
    /// partition's bucket and level that stays (a level above 0 is one sorted run).
    async fn check_conflicts(
        &self,
        latest: Option<&Snapshot>,
        delta: &[ManifestEntry],
    ) -> Result<(), TableError> {
        let live = match latest {
            Some(snapshot) => self.data_files(snapshot).await?,
            None => Vec::new(),
        };
        type Id<'a> = (&'a [i64], u32, u32, &'a str);
        fn id<'a>(partition: &'a [i64], bucket: u32, file: &'a DataFileMeta) -> Id<'a> {
            (partition, bucket, file.level, &file.file_name)
        }
        let live_ids: std::collections::BTreeSet<Id> = live
            .iter()
            .map(|e| id(&e.partition, e.bucket, &e.file))
            .collect();
        let deleted: std::collections::BTreeSet<Id> = delta
            .iter()
            .filter(|e| e.kind == FileKind::Delete)
            .map(|e| id(&e.partition, e.bucket, &e.file))
            .collect();
        if let Some(missing) = deleted.iter().find(|d| !live_ids.contains(*d)) {
            return Err(TableError::CompactionConflict {
                bucket: missing.1,
                reason: format!(
                    "{} (partition {:?}, level {}) is no longer live: a concurrent compaction \
                     replaced it",
                    missing.3, missing.0, missing.2
                ),
            });
        }
        for added in delta
            .iter()
            .filter(|e| e.kind == FileKind::Add && e.file.level > 0)
        {
            let overlapping = live.iter().find(|e| {
                e.bucket == added.bucket
                    && e.partition == added.partition
                    && e.file.level == added.file.level
                    && !deleted.contains(&id(&e.partition, e.bucket, &e.file))
                    && e.file.min_key <= added.file.max_key
                    && added.file.min_key <= e.file.max_key
            });
            if let Some(other) = overlapping {
                return Err(TableError::CompactionConflict {
                    bucket: added.bucket,
                    reason: format!(
                        "output {} overlaps {} at level {}: a concurrent compaction wrote that level",
                        added.file.file_name, other.file.file_name, added.file.level
                    ),
                });
            }
        }
        Ok(())
    }
}

/// What a snapshot about to be published must be to its predecessor: the next id, the record
/// count moved by exactly its delta, and a watermark that never falls.
fn assert_follows(snapshot: &Snapshot, previous: Option<&Snapshot>) {
    let (id, total, watermark) =
        previous.map_or((0, 0, None), |p| (p.id, p.total_record_count, p.watermark));
    assert_eq!(snapshot.id, id + 1, "snapshot ids follow one another");
    assert_eq!(
        snapshot.total_record_count,
        total + snapshot.delta_record_count,
        "snapshot {}: totalRecordCount is the previous one plus the delta",
        snapshot.id
    );
    assert!(
        snapshot.watermark >= watermark,
        "snapshot {}: the watermark never falls",
        snapshot.id
    );
}
