//! The application layer: answers report queries ("spend, clicks and CTR of advertiser X over the
//! last N minutes") from the latest committed DWS snapshot, keeping an incrementally refreshed
//! in-memory view so each query costs only the files committed since the previous one.

use std::collections::{BTreeMap, BTreeSet};

use crate::env::{Clock, Env};
use crate::jobs::schemas::{MINUTE_MS, minute_of};
use crate::row::Row;
use crate::table::{FileStoreTable, Key, TableError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportAnswer {
    pub advertiser_id: i64,
    pub window_minutes: i64,
    pub snapshot_id: i64,
    pub snapshot_time_ms: i64,
    pub impressions: i64,
    pub clicks: i64,
    pub spend_micros: i64,
    /// Clicks per million impressions (integer, so answers hash stably).
    pub ctr_ppm: i64,
}

pub struct ServingLayer<E: Env> {
    env: E,
    dws: FileStoreTable<E::Store>,
    view: BTreeMap<Key, (i64, Row)>,
    files_seen: BTreeSet<String>,
    snapshot: Option<(i64, i64)>,
}

impl<E: Env> ServingLayer<E> {
    pub fn new(env: E, dws: FileStoreTable<E::Store>) -> Self {
        Self {
            env,
            dws,
            view: BTreeMap::new(),
            files_seen: BTreeSet::new(),
            snapshot: None,
        }
    }

    /// Brings the view to the latest DWS snapshot. Returns (snapshot id, its timeMillis).
    pub async fn refresh(&mut self) -> Result<Option<(i64, i64)>, TableError> {
        let Some(latest) = self.dws.latest_snapshot().await? else {
            return Ok(None);
        };
        if self.snapshot.map(|(id, _)| id) == Some(latest.id) {
            return Ok(self.snapshot);
        }
        let files = self.dws.data_files(&latest).await?;
        let live: BTreeSet<String> = files.iter().map(|f| f.file.file_name.clone()).collect();
        if !self.files_seen.is_subset(&live) {
            // Files were compacted away: rebuild from scratch.
            self.view.clear();
            self.files_seen.clear();
        }
        for entry in &files {
            if self.files_seen.contains(&entry.file.file_name) {
                continue;
            }
            for (kind, sequence, row) in self.dws.read_data_file(entry.bucket, &entry.file).await? {
                let key = self.dws.key_of(&row);
                let newer = self.view.get(&key).is_none_or(|(seen, _)| *seen < sequence);
                if newer {
                    if kind.is_add() {
                        self.view.insert(key, (sequence, row));
                    } else {
                        self.view.insert(key, (sequence, Vec::new()));
                    }
                }
            }
            self.files_seen.insert(entry.file.file_name.clone());
        }
        self.snapshot = Some((latest.id, latest.time_millis));
        Ok(self.snapshot)
    }

    /// Spend, clicks and CTR of `advertiser_id` over the last `window_minutes` minutes.
    pub async fn report(
        &mut self,
        advertiser_id: i64,
        window_minutes: i64,
    ) -> Result<Option<ReportAnswer>, TableError> {
        let Some((snapshot_id, snapshot_time_ms)) = self.refresh().await? else {
            return Ok(None);
        };
        let from_minute =
            minute_of(self.env.clock().now_millis()) - (window_minutes - 1) * MINUTE_MS;
        let (mut impressions, mut clicks, mut spend_micros) = (0, 0, 0);
        let range =
            vec![advertiser_id, i64::MIN, i64::MIN]..vec![advertiser_id + 1, i64::MIN, i64::MIN];
        for (key, (_, row)) in self.view.range(range) {
            if key[2] < from_minute || row.is_empty() {
                continue;
            }
            impressions += row[3];
            clicks += row[4];
            spend_micros += row[6];
        }
        let ctr_ppm = if impressions > 0 {
            clicks * 1_000_000 / impressions
        } else {
            0
        };
        Ok(Some(ReportAnswer {
            advertiser_id,
            window_minutes,
            snapshot_id,
            snapshot_time_ms,
            impressions,
            clicks,
            spend_micros,
            ctr_ppm,
        }))
    }
}
