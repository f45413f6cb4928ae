//! Paimon's partition expiration, strategy `values-time`: a partition whose time (its first
//! partition value read with `partition.timestamp-formatter`) lies more than
//! `partition.expiration-time` before now is dropped by one OVERWRITE snapshot deleting every
//! live file of it (Paimon's `dropPartitions`). The files themselves go later, with the last
//! snapshot that references them (snapshot expiration), so readers of older snapshots still
//! find them.

use std::collections::BTreeSet;

use super::meta::{CommitKind, FileKind, ManifestEntry};
use super::store::Publication;
use super::tag::civil_from_days;
use super::{CommitOutcome, FileStoreTable, TableError};
use crate::env::ObjectStore;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// `partition.timestamp-formatter` for a BIGINT partition value that spells a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionTimeFormat {
    /// `yyyyMMddHH`: 2026111123 is 23:00 on 11 November 2026.
    Hour,
    /// `yyyyMMdd`: 20261111 is 11 November 2026.
    Day,
}

impl PartitionTimeFormat {
    pub const ALL: [Self; 2] = [Self::Hour, Self::Day];

    /// The formatter Paimon's option names.
    pub fn pattern(self) -> &'static str {
        match self {
            Self::Hour => "yyyyMMddHH",
            Self::Day => "yyyyMMdd",
        }
    }

    /// The format whose pattern is `text`, if this store implements it.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.pattern() == text.trim())
    }

    /// The partition value naming the hour or day that holds `time_millis`.
    pub fn value_of(self, time_millis: i64) -> i64 {
        let (year, month, day) = civil_from_days(time_millis.div_euclid(DAY_MS));
        let date = (year * 100 + month) * 100 + day;
        match self {
            Self::Hour => date * 100 + time_millis.rem_euclid(DAY_MS) / HOUR_MS,
            Self::Day => date,
        }
    }

    /// The start (ms since the epoch, in the frame `value_of` was given) of the hour or day
    /// `value` names; None when it names none (Paimon skips such a partition).
    pub fn start_millis(self, value: i64) -> Option<i64> {
        let (date, hour) = match self {
            Self::Hour => (value.div_euclid(100), value.rem_euclid(100)),
            Self::Day => (value, 0),
        };
        let (year, month, day) = (date / 10_000, date / 100 % 100, date % 100);
        let start = days_from_civil(year, month, day)? * DAY_MS + hour * HOUR_MS;
        (hour < 24 && value > 0 && self.value_of(start) == value).then_some(start)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm); None for
/// a month or day out of range.
fn days_from_civil(year: i64, month: i64, day: i64) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// What one partition-expiration run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionExpireReport {
    /// The partitions dropped, ascending.
    pub dropped: Vec<Vec<i64>>,
    /// The OVERWRITE snapshot that dropped them.
    pub snapshot_id: Option<i64>,
    pub files_deleted: u64,
}

impl<S: ObjectStore> FileStoreTable<S> {
    /// Drops the partitions of the latest snapshot that `partition.expiration-time` has
    /// expired at `now_millis` (in the frame the partition values were computed in), at most
    /// `partition.expiration-max-num` of them, oldest first, as one OVERWRITE snapshot of
    /// `commit_user`. Does nothing when the option is unset or nothing expired.
    ///
    /// Fails with [`TableError::CompactionConflict`] when a concurrent commit replaced a file
    /// of a dropped partition first; the next run drops it.
    pub async fn expire_partitions(
        &self,
        commit_user: &str,
        identifier: i64,
        now_millis: i64,
        file_prefix: &str,
    ) -> Result<PartitionExpireReport, TableError> {
        let lifecycle = &self.schema().options.lifecycle;
        let (Some(expiration_ms), Some(format)) = (
            lifecycle.partition_expiration_time_ms,
            lifecycle.partition_timestamp_formatter,
        ) else {
            return Ok(PartitionExpireReport::default());
        };
        let Some(latest) = self.latest_snapshot().await? else {
            return Ok(PartitionExpireReport::default());
        };
        let live = self.data_files(&latest).await?;
        let expired: BTreeSet<&Vec<i64>> = live
            .iter()
            .map(|e| &e.partition)
            .filter(|partition| {
                let start = partition.first().and_then(|&v| format.start_millis(v));
                start.is_some_and(|start| start + expiration_ms < now_millis)
            })
            .collect();
        let dropped: Vec<Vec<i64>> = expired
            .into_iter()
            .take(lifecycle.partition_expiration_max_num as usize)
            .cloned()
            .collect();
        if dropped.is_empty() {
            return Ok(PartitionExpireReport::default());
        }
        let total_buckets = self.schema().options.bucket;
        let delta: Vec<ManifestEntry> = live
            .into_iter()
            .filter(|e| dropped.contains(&e.partition))
            .map(|e| ManifestEntry {
                kind: FileKind::Delete,
                partition: e.partition,
                bucket: e.bucket,
                total_buckets,
                file: e.file,
            })
            .collect();
        let files_deleted = delta.len() as u64;
        let publication = Publication {
            commit_user,
            identifier,
            kind: CommitKind::Overwrite,
            delta,
            changelog: Vec::new(),
            watermark: None,
            time_millis: now_millis,
            file_prefix,
            check_conflicts: true,
        };
        let snapshot_id = match self.publish(publication, Some(latest)).await? {
            CommitOutcome::Committed { snapshot_id, .. } => Some(snapshot_id),
            CommitOutcome::AlreadyCommitted { .. } => None,
        };
        Ok(PartitionExpireReport {
            dropped,
            snapshot_id,
            files_deleted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_and_day_values_name_their_period() {
        // 2026-11-11 00:00 UTC is 1 794 355 200 000 ms.
        let midnight = 1_794_355_200_000;
        assert_eq!(PartitionTimeFormat::Hour.value_of(midnight), 2_026_111_100);
        assert_eq!(
            PartitionTimeFormat::Hour.value_of(midnight - 1),
            2_026_111_023
        );
        assert_eq!(PartitionTimeFormat::Day.value_of(midnight), 20_261_111);
        assert_eq!(
            PartitionTimeFormat::Hour.start_millis(2_026_111_101),
            Some(midnight + HOUR_MS)
        );
        assert_eq!(
            PartitionTimeFormat::Day.start_millis(20_261_111),
            Some(midnight)
        );
        for bad in [2_026_111_124, 2_026_113_100, 2_026_130_100, 0, -1] {
            assert_eq!(PartitionTimeFormat::Hour.start_millis(bad), None, "{bad}");
        }
        assert_eq!(
            PartitionTimeFormat::parse("yyyyMMddHH"),
            Some(PartitionTimeFormat::Hour)
        );
        assert_eq!(PartitionTimeFormat::parse("yyyy-MM-dd"), None);
    }
}
