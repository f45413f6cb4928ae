//! Table lifecycle, as Paimon runs it after a commit: snapshot expiration bounded by
//! `snapshot.num-retained.min`/`.max`, `snapshot.time-retained` and `snapshot.expire.limit`, never
//! at or past a live consumer's `nextSnapshot`; consumer expiration by `consumer.expiration-time`;
//! and orphan-file cleaning. A data, changelog or manifest file is deleted only when no retained
//! snapshot and no tag references it.
//!
//! Order of deletion (a deliberate choice): the expired snapshot files go first, then the
//! `EARLIEST` hint, then the files only they referenced. A snapshot file therefore never points
//! at a deleted file; a crash between the steps leaks files, which orphan cleaning removes.
//! Changelog files live and die with their snapshot (Paimon's behaviour while the `changelog.*`
//! retention options are unset, i.e. the changelog is not decoupled).
//!
//! `unsafe.expire.delete-data-before-snapshot` (off by default, for the incident library)
//! reverses the order, as apache/paimon#6978 describes Paimon's: data, changelog and manifest
//! files go first, the snapshot files last, so between the steps a reader (or a checker) finds
//! snapshots still listed whose files are gone.

use std::collections::{BTreeMap, BTreeSet};

use super::meta::{FileKind, Snapshot};
use super::partition_expire::PartitionTimeFormat;
use super::tag::{TagCreation, TagPeriod};
use super::{FileStoreTable, TableError};
use crate::env::ObjectStore;

/// Paimon's lifecycle options of a table, with Paimon's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleOptions {
    /// `snapshot.num-retained.min` (10): the newest snapshots always kept.
    pub snapshot_num_retained_min: u32,
    /// `snapshot.num-retained.max` (Integer.MAX_VALUE): older snapshots expire whatever their age.
    pub snapshot_num_retained_max: u32,
    /// `snapshot.time-retained` (1 h): snapshots younger than this are kept.
    pub snapshot_time_retained_ms: i64,
    /// `snapshot.expire.limit` (10): snapshots expired by one run at most.
    pub snapshot_expire_limit: u32,
    /// `consumer.expiration-time` (unset: consumers never expire): a consumer file not updated
    /// for this long is deleted and stops protecting its snapshot.
    pub consumer_expiration_time_ms: Option<i64>,
    /// `tag.automatic-creation` (none).
    pub tag_automatic_creation: TagCreation,
    /// `tag.creation-period` (daily).
    pub tag_creation_period: TagPeriod,
    /// `tag.num-retained-max` (unset: automatic tags are kept forever).
    pub tag_num_retained_max: Option<u32>,
    /// `unsafe.expire.delete-data-before-snapshot` (false). UNSAFE: expiration deletes the
    /// expired snapshots' data, changelog and manifest files before their snapshot files (and
    /// the `EARLIEST` hint), so until it finishes a snapshot still listed points at deleted files.
    pub unsafe_expire_delete_data_before_snapshot: bool,
    /// `partition.expiration-time` (unset: partitions never expire): a partition whose time
    /// lies this long before now is dropped (see `partition_expire`).
    pub partition_expiration_time_ms: Option<i64>,
    /// `partition.expiration-check-interval` (1 h): how often a committer checks.
    pub partition_expiration_check_interval_ms: i64,
    /// `partition.expiration-max-num` (100): partitions one check drops at most.
    pub partition_expiration_max_num: u32,
    /// `partition.timestamp-formatter` (unset): how a partition value spells its time.
    pub partition_timestamp_formatter: Option<PartitionTimeFormat>,
}

/// The schema option of [`LifecycleOptions::unsafe_expire_delete_data_before_snapshot`].
pub const UNSAFE_EXPIRE_DELETE_DATA_BEFORE_SNAPSHOT: &str =
    "unsafe.expire.delete-data-before-snapshot";

impl Default for LifecycleOptions {
    fn default() -> Self {
        Self {
            snapshot_num_retained_min: 10,
            snapshot_num_retained_max: i32::MAX as u32,
            snapshot_time_retained_ms: 3_600_000,
            snapshot_expire_limit: 10,
            consumer_expiration_time_ms: None,
            tag_automatic_creation: TagCreation::None,
            tag_creation_period: TagPeriod::Daily,
            tag_num_retained_max: None,
            unsafe_expire_delete_data_before_snapshot: false,
            partition_expiration_time_ms: None,
            partition_expiration_check_interval_ms: 3_600_000,
            partition_expiration_max_num: 100,
            partition_timestamp_formatter: None,
        }
    }
}

/// Why a set of lifecycle options cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleOptionError {
    #[error("{key} = {value} must be at least 1")]
    NotPositive { key: &'static str, value: i64 },
    #[error(
        "snapshot.num-retained.max = {max} must not be below snapshot.num-retained.min = {min}"
    )]
    MaxBelowMin { min: u32, max: u32 },
    #[error(
        "partition.expiration-time needs partition.timestamp-formatter (yyyyMMddHH or yyyyMMdd): \
         dwsim's partition values are BIGINT"
    )]
    ExpirationWithoutFormatter,
}

impl LifecycleOptions {
    /// Checks the options the way Paimon does when a table is created.
    pub fn validate(&self) -> Result<(), LifecycleOptionError> {
        let positive = [
            (
                "snapshot.num-retained.min",
                i64::from(self.snapshot_num_retained_min),
            ),
            (
                "snapshot.num-retained.max",
                i64::from(self.snapshot_num_retained_max),
            ),
            (
                "snapshot.time-retained (ms)",
                self.snapshot_time_retained_ms,
            ),
            (
                "snapshot.expire.limit",
                i64::from(self.snapshot_expire_limit),
            ),
            (
                "partition.expiration-time (ms)",
                self.partition_expiration_time_ms.unwrap_or(1),
            ),
            (
                "partition.expiration-check-interval (ms)",
                self.partition_expiration_check_interval_ms,
            ),
            (
                "partition.expiration-max-num",
                i64::from(self.partition_expiration_max_num),
            ),
        ];
        for (key, value) in positive {
            if value < 1 {
                return Err(LifecycleOptionError::NotPositive { key, value });
            }
        }
        if self.partition_expiration_time_ms.is_some()
            && self.partition_timestamp_formatter.is_none()
        {
            return Err(LifecycleOptionError::ExpirationWithoutFormatter);
        }
        if self.snapshot_num_retained_max < self.snapshot_num_retained_min {
            return Err(LifecycleOptionError::MaxBelowMin {
                min: self.snapshot_num_retained_min,
                max: self.snapshot_num_retained_max,
            });
        }
        Ok(())
    }

    /// The options under Paimon's names, as the schema file records them.
    pub fn to_paimon_options(&self) -> Vec<(String, String)> {
        let mut options = vec![
            (
                "snapshot.num-retained.min",
                self.snapshot_num_retained_min.to_string(),
            ),
            (
                "snapshot.num-retained.max",
                self.snapshot_num_retained_max.to_string(),
            ),
            (
                "snapshot.time-retained",
                format!("{} ms", self.snapshot_time_retained_ms),
            ),
            (
                "snapshot.expire.limit",
                self.snapshot_expire_limit.to_string(),
            ),
            (
                "tag.automatic-creation",
                self.tag_automatic_creation.name().to_string(),
            ),
            ("tag.creation-period", self.tag_creation_period.name()),
        ];
        if let Some(ms) = self.consumer_expiration_time_ms {
            options.push(("consumer.expiration-time", format!("{ms} ms")));
        }
        if let Some(max) = self.tag_num_retained_max {
            options.push(("tag.num-retained-max", max.to_string()));
        }
        // Partition expiration is recorded only when set, so other tables' schemas are unchanged.
        if let Some(ms) = self.partition_expiration_time_ms {
            options.push(("partition.expiration-time", format!("{ms} ms")));
            options.push((
                "partition.expiration-check-interval",
                format!("{} ms", self.partition_expiration_check_interval_ms),
            ));
            options.push((
                "partition.expiration-max-num",
                self.partition_expiration_max_num.to_string(),
            ));
        }
        if let Some(format) = self.partition_timestamp_formatter {
            options.push((
                "partition.timestamp-formatter",
                format.pattern().to_string(),
            ));
        }
        // Recorded only when set, so the schema of a safe table is unchanged.
        if self.unsafe_expire_delete_data_before_snapshot {
            options.push((UNSAFE_EXPIRE_DELETE_DATA_BEFORE_SNAPSHOT, "true".into()));
        }
        options
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }
}

/// What one expiration run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpireReport {
    /// Snapshot ids expired: `[first, end)`; empty when nothing expired.
    pub expired: Option<(i64, i64)>,
    pub data_files_deleted: u64,
    pub changelog_files_deleted: u64,
    pub manifest_files_deleted: u64,
    pub consumers_expired: Vec<String>,
    /// Deletes that failed (the files leak until orphan cleaning).
    pub delete_failures: u64,
}

/// What one orphan-cleaning run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrphanReport {
    pub files_deleted: Vec<String>,
    /// Unreferenced files kept because they are younger than the bound (maybe in flight).
    pub young_files_kept: u64,
}

/// Every file one snapshot (or tag) references: its manifest lists and manifests by name, its
/// data and changelog files as (partition, bucket, name).
#[derive(Debug, Default)]
pub(crate) struct References {
    pub manifests: BTreeSet<String>,
    pub data_files: BTreeSet<FileRef>,
    pub changelog_files: BTreeSet<FileRef>,
}

/// A data or changelog file: its partition's values, its bucket and its name.
pub(crate) type FileRef = (Vec<i64>, u32, String);

impl<S: ObjectStore> FileStoreTable<S> {
    /// Manifest lists and manifests of `snapshot`; data files too when `with_data`, changelog
    /// files when `with_changelog`.
    pub(crate) async fn references(
        &self,
        snapshot: &Snapshot,
        with_data: bool,
        with_changelog: bool,
    ) -> Result<References, TableError> {
        let mut refs = References::default();
        for list in [&snapshot.base_manifest_list, &snapshot.delta_manifest_list] {
            refs.manifests.insert(list.clone());
            for meta in self.manifest_list(list).await? {
                refs.manifests.insert(meta.file_name);
            }
        }
        if with_data {
            refs.data_files = self
                .data_files(snapshot)
                .await?
                .into_iter()
                .map(|e| (e.partition, e.bucket, e.file.file_name))
                .collect();
        }
        if let Some(list) = &snapshot.changelog_manifest_list {
            refs.manifests.insert(list.clone());
            for meta in self.manifest_list(list).await? {
                if with_changelog {
                    for entry in self.manifest_entries(&meta.file_name).await? {
                        refs.changelog_files.insert((
                            entry.partition,
                            entry.bucket,
                            entry.file.file_name,
                        ));
                    }
                }
                refs.manifests.insert(meta.file_name);
            }
        }
        Ok(refs)
    }

    /// Files referenced by the tags whose snapshot id is below `below` (all tags: `i64::MAX`).
    pub(crate) async fn tag_references(&self, below: i64) -> Result<References, TableError> {
        let mut refs = References::default();
        for (_, tagged) in self.tags().await? {
            if tagged.id < below {
                refs.extend_from(self.references(&tagged, true, true).await?);
            }
        }
        Ok(refs)
    }

    /// Deletes consumer files older than `consumer.expiration-time`; returns their ids.
    pub async fn expire_consumers(&self, now_millis: i64) -> Result<Vec<String>, TableError> {
        let Some(expiration_ms) = self.schema().options.lifecycle.consumer_expiration_time_ms
        else {
            return Ok(Vec::new());
        };
        let prefix = self.consumer_prefix();
        let mut expired = Vec::new();
        for status in self.store().list_status(&prefix).await? {
            if status.modified_millis.saturating_add(expiration_ms) < now_millis {
                self.store().delete(&status.path).await?;
                expired.push(status.path[prefix.len()..].to_string());
            }
        }
        Ok(expired)
    }

    /// The smallest `nextSnapshot` of the table's consumers, if it has any.
    pub async fn min_consumer_next_snapshot(&self) -> Result<Option<i64>, TableError> {
        let mut min: Option<i64> = None;
        for path in self.store().list(&self.consumer_prefix()).await? {
            if let Some(next) = self.read_consumer_file(&path).await? {
                min = Some(min.map_or(next, |m| m.min(next)));
            }
        }
        Ok(min)
    }

    /// Paimon's snapshot expiration: expires consumers first, then the oldest snapshots the
    /// options allow, and deletes the files no retained snapshot or tag references.
    pub async fn expire_snapshots(&self, now_millis: i64) -> Result<ExpireReport, TableError> {
        let consumers_expired = self.expire_consumers(now_millis).await?;
        let mut report = match self.expire_range(now_millis).await? {
            Some((earliest, end)) => self.expire_until(earliest, end).await?,
            None => ExpireReport::default(),
        };
        report.consumers_expired = consumers_expired;
        Ok(report)
    }

    /// `[earliest, end)`: the snapshots the options let this run expire, if any.
    async fn expire_range(&self, now_millis: i64) -> Result<Option<(i64, i64)>, TableError> {
        let options = &self.schema().options.lifecycle;
        let Some(latest) = self.latest_snapshot().await? else {
            return Ok(None);
        };
        let Some(earliest) = self.earliest_snapshot_id().await? else {
            return Ok(None);
        };
        let retain_min = i64::from(options.snapshot_num_retained_min.max(1));
        let retain_max = i64::from(options.snapshot_num_retained_max.max(1));
        let mut end = latest.id - retain_min + 1;
        let consumer_next = self.min_consumer_next_snapshot().await?;
        if let Some(next) = consumer_next {
            end = end.min(next);
        }
        end = end.min(earliest + i64::from(options.snapshot_expire_limit.max(1)));
        // Below `by_count` a snapshot expires whatever its age (num-retained.max).
        let by_count = (latest.id - retain_max + 1).max(earliest);
        let older_than = now_millis - options.snapshot_time_retained_ms;
        for id in by_count..end {
            if let Some(snapshot) = self.snapshot(id).await?
                && snapshot.time_millis >= older_than
            {
                end = id;
                break;
            }
        }
        // Whatever the age rules decided: the newest `retain_min` snapshots stay, and so does
        // every snapshot a consumer still has to read.
        assert!(
            end <= latest.id - retain_min + 1 && consumer_next.is_none_or(|next| end <= next),
            "expiration must keep snapshot.num-retained.min and every consumer's next snapshot"
        );
        Ok((end > earliest).then_some((earliest, end)))
    }

    /// Expires snapshots `[earliest, end)`; snapshot `end` is retained.
    async fn expire_until(&self, earliest: i64, end: i64) -> Result<ExpireReport, TableError> {
        let mut expired: BTreeMap<i64, Snapshot> = BTreeMap::new();
        for id in earliest..end {
            if let Some(snapshot) = self.snapshot(id).await? {
                expired.insert(id, snapshot);
            }
        }
        let Some(retained) = self.snapshot(end).await? else {
            // Never expire up to a snapshot that is not there: nothing would be retained.
            return Ok(ExpireReport::default());
        };
        let tags = self.tags().await?;
        let tagged_ids: BTreeSet<i64> = tags.iter().map(|(_, s)| s.id).collect();
        let protected = self.tag_references(end).await?;
        let mut keep = self.references(&retained, false, false).await?;
        keep.extend_from(protected);

        // Data files a compaction of snapshots (earliest, end] replaced: live only before it.
        let mut data_files = BTreeSet::new();
        for id in earliest + 1..=end {
            let snapshot = if id == end {
                &retained
            } else {
                match expired.get(&id) {
                    Some(snapshot) => snapshot,
                    None => continue,
                }
            };
            for meta in self.manifest_list(&snapshot.delta_manifest_list).await? {
                for entry in self.manifest_entries(&meta.file_name).await? {
                    if entry.kind == FileKind::Delete {
                        data_files.insert((entry.partition, entry.bucket, entry.file.file_name));
                    }
                }
            }
        }
        data_files.retain(|file| !keep.data_files.contains(file));
        // Nothing the retained snapshot or a tag references is a candidate, whatever the
        // expired snapshots referenced.
        let kept =
            |file: &FileRef| keep.data_files.contains(file) || keep.changelog_files.contains(file);
        let mut changelog_files = BTreeSet::new();
        let mut manifests = BTreeSet::new();
        for snapshot in expired.values() {
            let tagged = tagged_ids.contains(&snapshot.id);
            let refs = self.references(snapshot, false, !tagged).await?;
            changelog_files.extend(refs.changelog_files);
            manifests.extend(refs.manifests);
        }
        changelog_files.retain(|file| !keep.changelog_files.contains(file));
        manifests.retain(|name| !keep.manifests.contains(name));

        let unsafe_order = self
            .schema()
            .options
            .lifecycle
            .unsafe_expire_delete_data_before_snapshot;
        if !unsafe_order {
            self.delete_snapshot_files(&expired, end).await?;
        }
        let mut report = ExpireReport {
            expired: Some((earliest, end)),
            ..ExpireReport::default()
        };
        assert!(
            !data_files.iter().chain(&changelog_files).any(kept)
                && manifests.is_disjoint(&keep.manifests)
                && !manifests.contains(&retained.base_manifest_list)
                && !manifests.contains(&retained.delta_manifest_list),
            "expiration must never delete a file the retained snapshot or a tag references"
        );
        for (partition, bucket, name) in &data_files {
            match self
                .store()
                .delete(&self.bucket_file_path(partition, *bucket, name))
                .await
            {
                Ok(()) => report.data_files_deleted += 1,
                Err(_) => report.delete_failures += 1,
            }
        }
        for (partition, bucket, name) in &changelog_files {
            match self
                .store()
                .delete(&self.bucket_file_path(partition, *bucket, name))
                .await
            {
                Ok(()) => report.changelog_files_deleted += 1,
                Err(_) => report.delete_failures += 1,
            }
        }
        for name in &manifests {
            match self.store().delete(&self.manifest_path(name)).await {
                Ok(()) => report.manifest_files_deleted += 1,
                Err(_) => report.delete_failures += 1,
            }
        }
        if unsafe_order {
            // The unsafe order (Paimon's ExpireSnapshotsImpl, apache/paimon#6978): data,
            // changelog and manifest files are gone while the snapshots pointing at them are
            // still listed. Every delete above awaited the store, so readers ran in between.
            self.delete_snapshot_files(&expired, end).await?;
        }
        Ok(report)
    }

    /// Deletes the expired snapshot files, then moves the `EARLIEST` hint to `end`.
    async fn delete_snapshot_files(
        &self,
        expired: &BTreeMap<i64, Snapshot>,
        end: i64,
    ) -> Result<(), TableError> {
        for id in expired.keys() {
            self.store().delete(&self.snapshot_path(*id)).await?;
        }
        self.write_hint("EARLIEST", end).await
    }

    /// Every file any present snapshot or tag references, as full paths.
    pub(crate) async fn referenced_paths(&self) -> Result<BTreeSet<String>, TableError> {
        let mut refs = self.tag_references(i64::MAX).await?;
        let ids = self.snapshot_ids().await?;
        // Live data files of all snapshots: those of the earliest plus every later ADD.
        for (i, id) in ids.iter().enumerate() {
            let Some(snapshot) = self.snapshot(*id).await? else {
                continue;
            };
            refs.extend_from(self.references(&snapshot, i == 0, true).await?);
            if i > 0 {
                for meta in self.manifest_list(&snapshot.delta_manifest_list).await? {
                    for entry in self.manifest_entries(&meta.file_name).await? {
                        if entry.kind == FileKind::Add {
                            let file = (entry.partition, entry.bucket, entry.file.file_name);
                            refs.data_files.insert(file);
                        }
                    }
                }
            }
        }
        let mut paths: BTreeSet<String> = refs
            .manifests
            .iter()
            .map(|name| self.manifest_path(name))
            .collect();
        for (partition, bucket, name) in refs.data_files.iter().chain(&refs.changelog_files) {
            paths.insert(self.bucket_file_path(partition, *bucket, name));
        }
        Ok(paths)
    }

    /// Whether `relative` (a path below the table root) lies in a bucket directory: `bucket-N/`,
    /// below one directory per partition key when the table is partitioned.
    fn is_bucket_file(&self, relative: &str) -> bool {
        let mut parts = relative.split('/');
        for key in &self.schema().partition_keys {
            let is_partition_dir = parts
                .next()
                .and_then(|dir| dir.strip_prefix(key.as_str()))
                .is_some_and(|rest| rest.starts_with('='));
            if !is_partition_dir {
                return false;
            }
        }
        parts.next().is_some_and(|dir| dir.starts_with("bucket-"))
    }

    /// Paimon's `remove_orphan_files`: deletes data, changelog and manifest files that no
    /// snapshot or tag references and that were last written before `older_than_millis` (files
    /// of failed commit attempts and of interrupted expirations). Younger unreferenced files may
    /// belong to a commit in flight and are kept; choose the bound longer than any job can stay
    /// down with prepared files (Paimon's default is one day).
    pub async fn remove_orphan_files(
        &self,
        older_than_millis: i64,
    ) -> Result<OrphanReport, TableError> {
        // List first: a file written after the listing is never a candidate.
        let mut candidates = Vec::new();
        for status in self
            .store()
            .list_status(&format!("{}/", self.root()))
            .await?
        {
            let relative = &status.path[self.root().len() + 1..];
            if relative.starts_with("manifest/") || self.is_bucket_file(relative) {
                candidates.push(status);
            }
        }
        let referenced = self.referenced_paths().await?;
        let mut report = OrphanReport::default();
        for status in candidates {
            if referenced.contains(&status.path) {
                continue;
            }
            if status.modified_millis >= older_than_millis {
                report.young_files_kept += 1;
                continue;
            }
            self.store().delete(&status.path).await?;
            report.files_deleted.push(status.path);
        }
        Ok(report)
    }
}
