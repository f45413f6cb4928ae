//! Tags, as Paimon keeps them: `tag/tag-<name>` holds a copy of a snapshot, so the snapshot's
//! files outlive its expiration. Automatic creation on commit per period
//! (`tag.automatic-creation = process-time`, `tag.creation-period`), retention of the automatic
//! tags (`tag.num-retained-max`), deletion, and rollback of the table to a tag.
//!
//! Periods: Paimon's `daily`, `hourly` and `two-hours`, plus a Flink-style duration ("1min",
//! "30s") because a simulated run lasts about an hour and must see several tags. Tag names are
//! the period's start in UTC, formatted as Paimon's default formatter does (`2025-11-10` daily,
//! `2025-11-10 15` hourly) and with minutes (`2025-11-10 15:31`) or seconds for shorter periods,
//! so the names of automatic tags sort in time order.

use std::collections::BTreeSet;

use super::lifecycle::References;
use super::meta::Snapshot;
use super::{FileStoreTable, TableError};
use crate::env::ObjectStore;

/// Paimon `tag.automatic-creation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagCreation {
    #[default]
    None,
    /// A tag per period of processing time, created by the first commit after the period ends.
    ProcessTime,
}

impl TagCreation {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "none" => Some(Self::None),
            "process-time" => Some(Self::ProcessTime),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ProcessTime => "process-time",
        }
    }
}

/// Paimon `tag.creation-period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagPeriod {
    #[default]
    Daily,
    Hourly,
    TwoHours,
    /// A simulation-scale period (not a Paimon value), in milliseconds.
    Every(i64),
}

const SECOND_MS: i64 = 1_000;
const MINUTE_MS: i64 = 60 * SECOND_MS;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

impl TagPeriod {
    /// `daily`, `hourly`, `two-hours`, or a duration: "90s", "5min", "500ms", "1h".
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "daily" => return Some(Self::Daily),
            "hourly" => return Some(Self::Hourly),
            "two-hours" => return Some(Self::TwoHours),
            _ => {}
        }
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit())?;
        let (number, unit) = text.split_at(split);
        let number: i64 = number.parse().ok()?;
        let scale = match unit.trim() {
            "ms" => 1,
            "s" => SECOND_MS,
            "min" => MINUTE_MS,
            "h" => HOUR_MS,
            "d" => DAY_MS,
            _ => return None,
        };
        let ms = number.checked_mul(scale)?;
        (ms >= SECOND_MS).then_some(Self::Every(ms))
    }

    pub fn millis(self) -> i64 {
        match self {
            Self::Daily => DAY_MS,
            Self::Hourly => HOUR_MS,
            Self::TwoHours => 2 * HOUR_MS,
            Self::Every(ms) => ms,
        }
    }

    pub fn name(self) -> String {
        match self {
            Self::Daily => "daily".into(),
            Self::Hourly => "hourly".into(),
            Self::TwoHours => "two-hours".into(),
            Self::Every(ms) => format!("{ms} ms"),
        }
    }

    /// Start (epoch ms) of the period holding `time_millis`.
    pub fn start_of(self, time_millis: i64) -> i64 {
        time_millis.div_euclid(self.millis()) * self.millis()
    }

    /// The tag name of the period starting at `start_millis`.
    pub fn tag_name(self, start_millis: i64) -> String {
        let days = start_millis.div_euclid(DAY_MS);
        let in_day = start_millis.rem_euclid(DAY_MS);
        let (year, month, day) = civil_from_days(days);
        let date = format!("{year:04}-{month:02}-{day:02}");
        let (hour, minute, second) = (
            in_day / HOUR_MS,
            in_day % HOUR_MS / MINUTE_MS,
            in_day % MINUTE_MS / SECOND_MS,
        );
        let period = self.millis();
        if period % DAY_MS == 0 {
            date
        } else if period % HOUR_MS == 0 {
            format!("{date} {hour:02}")
        } else if period % MINUTE_MS == 0 {
            format!("{date} {hour:02}:{minute:02}")
        } else {
            format!("{date} {hour:02}:{minute:02}:{second:02}")
        }
    }

    /// Whether `name` is a tag name this period's automatic creation produces.
    pub fn is_automatic_name(self, name: &str) -> bool {
        let len = self.tag_name(0).len();
        name.len() == len
            && name.bytes().zip(self.tag_name(0).bytes()).all(|(a, b)| {
                if b.is_ascii_digit() {
                    a.is_ascii_digit()
                } else {
                    a == b
                }
            })
    }
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// What the after-commit tag maintenance did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagReport {
    pub created: Option<String>,
    pub deleted: Vec<String>,
}

impl<S: ObjectStore> FileStoreTable<S> {
    fn tag_prefix(&self) -> String {
        format!("{}/tag/tag-", self.root())
    }

    pub fn tag_path(&self, name: &str) -> String {
        format!("{}{name}", self.tag_prefix())
    }

    /// Every tag, (name, tagged snapshot), sorted by name.
    pub async fn tags(&self) -> Result<Vec<(String, Snapshot)>, TableError> {
        let prefix = self.tag_prefix();
        let mut tags = Vec::new();
        for path in self.store().list(&prefix).await? {
            if let Some(bytes) = self.store().get(&path).await? {
                let snapshot = Self::decode_snapshot(&path, &bytes)?;
                tags.push((path[prefix.len()..].to_string(), snapshot));
            }
        }
        Ok(tags)
    }

    pub async fn tag(&self, name: &str) -> Result<Option<Snapshot>, TableError> {
        let path = self.tag_path(name);
        match self.store().get(&path).await? {
            Some(bytes) => Ok(Some(Self::decode_snapshot(&path, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Creates tag `name` from snapshot `snapshot_id`; `Ok(false)` when the tag already exists.
    pub async fn create_tag(&self, name: &str, snapshot_id: i64) -> Result<bool, TableError> {
        if name.is_empty() || name.contains('/') {
            return Err(TableError::InvalidSchema(format!(
                "tag name `{name}` must be non-empty and free of '/'"
            )));
        }
        let snapshot = self
            .snapshot(snapshot_id)
            .await?
            .ok_or(TableError::SnapshotExpired { id: snapshot_id })?;
        let path = self.tag_path(name);
        let bytes = Self::encode_snapshot(&path, &snapshot)?;
        Ok(self.store().put_if_absent(&path, bytes).await?)
    }

    /// Deletes tag `name` and the files only it kept alive (those of a snapshot already
    /// expired that no other tag and no retained snapshot references).
    pub async fn delete_tag(&self, name: &str) -> Result<bool, TableError> {
        let Some(tagged) = self.tag(name).await? else {
            return Ok(false);
        };
        self.store().delete(&self.tag_path(name)).await?;
        let earliest = self.earliest_snapshot_id().await?;
        if earliest.is_some_and(|e| tagged.id >= e) {
            // Its snapshot is retained: expiring it later deletes what is unreferenced then.
            return Ok(true);
        }
        let doomed = self.references(&tagged, true, true).await?;
        let mut keep = self.tag_references(i64::MAX).await?;
        if let Some(earliest) = earliest
            && let Some(snapshot) = self.snapshot(earliest).await?
        {
            keep.extend_from(self.references(&snapshot, true, false).await?);
        }
        self.delete_unkept(doomed, &keep).await?;
        Ok(true)
    }

    /// Deletes the files of `doomed` that `keep` does not reference (best effort: a failed
    /// delete leaks a file for orphan cleaning).
    async fn delete_unkept(&self, doomed: References, keep: &References) -> Result<(), TableError> {
        for file in doomed.data_files.iter().chain(&doomed.changelog_files) {
            if !keep.data_files.contains(file) && !keep.changelog_files.contains(file) {
                let (partition, bucket, name) = file;
                let _ = self
                    .store()
                    .delete(&self.bucket_file_path(partition, *bucket, name))
                    .await;
            }
        }
        for name in doomed.manifests.difference(&keep.manifests) {
            let _ = self.store().delete(&self.manifest_path(name)).await;
        }
        Ok(())
    }

    /// After a commit: creates the automatic tag of the period that ended most recently (from
    /// `snapshot_id`, the snapshot just committed) unless it or a newer automatic tag exists,
    /// then deletes the oldest automatic tags beyond `tag.num-retained-max`.
    pub async fn auto_tag(
        &self,
        snapshot_id: i64,
        now_millis: i64,
    ) -> Result<TagReport, TableError> {
        let options = &self.schema().options.lifecycle;
        let mut report = TagReport::default();
        if options.tag_automatic_creation != TagCreation::ProcessTime {
            return Ok(report);
        }
        let period = options.tag_creation_period;
        let ended = period.start_of(now_millis) - period.millis();
        let name = period.tag_name(ended);
        let automatic: Vec<String> = self
            .tags()
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .filter(|n| period.is_automatic_name(n))
            .collect();
        if automatic.last().is_none_or(|newest| *newest < name)
            && self.create_tag(&name, snapshot_id).await?
        {
            report.created = Some(name.clone());
        }
        if let Some(max) = options.tag_num_retained_max {
            let mut automatic: BTreeSet<String> = automatic.into_iter().collect();
            if let Some(created) = &report.created {
                automatic.insert(created.clone());
            }
            let excess = automatic.len().saturating_sub(max as usize);
            for old in automatic.into_iter().take(excess) {
                if self.delete_tag(&old).await? {
                    report.deleted.push(old);
                }
            }
        }
        Ok(report)
    }

    /// Paimon `rollback_to`: makes tag `name`'s snapshot the table's latest again. Newer
    /// snapshots and newer tags are deleted with the files only they referenced; if the tagged
    /// snapshot had expired it is restored from the tag (and becomes the earliest).
    pub async fn rollback_to_tag(&self, name: &str) -> Result<(), TableError> {
        let tagged = self.tag(name).await?.ok_or_else(|| {
            TableError::InvalidSchema(format!("rollback to tag `{name}`: no such tag"))
        })?;
        let ids = self.snapshot_ids().await?;
        let restore = !ids.contains(&tagged.id);
        let doomed_ids: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| restore || *id > tagged.id)
            .collect();
        let mut doomed = References::default();
        for id in &doomed_ids {
            if let Some(snapshot) = self.snapshot(*id).await? {
                doomed.extend_from(self.references(&snapshot, true, true).await?);
            }
        }
        let mut keep = self.references(&tagged, true, true).await?;
        for (other, snapshot) in self.tags().await? {
            if snapshot.id > tagged.id {
                self.store().delete(&self.tag_path(&other)).await?;
                doomed.extend_from(self.references(&snapshot, true, true).await?);
            } else if other != name {
                keep.extend_from(self.references(&snapshot, true, true).await?);
            }
        }
        if restore {
            let path = self.snapshot_path(tagged.id);
            let bytes = Self::encode_snapshot(&path, &tagged)?;
            self.store().put(&path, bytes).await?;
        }
        assert!(
            !doomed_ids.contains(&tagged.id),
            "a rollback never deletes the snapshot it rolls back to"
        );
        // Newest first, so a reader probing forward from LATEST never meets a gap.
        for id in doomed_ids.iter().rev() {
            self.store().delete(&self.snapshot_path(*id)).await?;
        }
        self.write_hint("LATEST", tagged.id).await?;
        if restore {
            self.write_hint("EARLIEST", tagged.id).await?;
        }
        self.delete_unkept(doomed, &keep).await
    }
}

impl References {
    pub(crate) fn extend_from(&mut self, other: References) {
        self.manifests.extend(other.manifests);
        self.data_files.extend(other.data_files);
        self.changelog_files.extend(other.changelog_files);
    }
}
