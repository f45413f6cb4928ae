//! The application layer: answers report queries ("spend, clicks and CTR of advertiser X over the
//! last N minutes") from the latest committed DWS snapshot, keeping an incrementally refreshed
//! in-memory view so each refresh costs only the files committed since the previous one (and a
//! query can be answered from the view alone when storage is slow); and the
//! budget controller that pauses an advertiser once DWS says its spend today reached its budget.

use std::collections::BTreeMap;

use crate::env::{Clock, Env};
use crate::jobs::schemas::{MINUTE_MS, minute_of};
use crate::row::{Row, RowKind};
use crate::table::{
    CommitKind, DataFileEntry, FileKind, FileStoreTable, MergeEngine, Snapshot, TableError,
};

mod view;
use view::{Measures, View};

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
    view: View,
    snapshot: Option<(i64, i64)>,
    /// The snapshot the view shows, whole: a later refresh reads it again to tell a history
    /// that went on from it (compaction merely moved its rows) from a rollback.
    viewed: Option<Snapshot>,
    /// Readers of a refresh's new files: bucket `b`'s files are read by reader
    /// `b % read_parallelism`, one after another; the readers read side by side.
    read_parallelism: u32,
}

impl<E: Env> ServingLayer<E> {
    pub fn new(env: E, dws: FileStoreTable<E::Store>) -> Self {
        assert_eq!(
            dws.key_of(&[10, 11, 12, 13, 14, 15, 16, 17]),
            [10, 11, 12],
            "the serving view keys DWS rows by their first three fields"
        );
        let options = &dws.schema().options;
        assert!(
            options.merge_engine == MergeEngine::Deduplicate && options.sequence_field.is_none(),
            "the serving view keeps each key's newest write: DWS deduplicates by write order"
        );
        Self {
            env,
            dws,
            view: View::default(),
            snapshot: None,
            viewed: None,
            read_parallelism: 1,
        }
    }

    /// The layer with `readers` parallel readers of new files (an OLAP engine's scan threads).
    pub fn with_read_parallelism(mut self, readers: u32) -> Self {
        self.read_parallelism = readers.max(1);
        self
    }

    /// Brings the view to the latest DWS snapshot. Returns (snapshot id, its timeMillis).
    ///
    /// Cancel-safe: every new file of the snapshot is read before the view changes, so a refresh
    /// dropped part-way (a query that stops waiting for it) leaves the view at the previous
    /// snapshot, never between two.
    pub async fn refresh(&mut self) -> Result<Option<(i64, i64)>, TableError> {
        let Some(latest) = self.dws.latest_snapshot().await? else {
            return Ok(None);
        };
        if self.snapshot.map(|(id, _)| id) == Some(latest.id) {
            return Ok(self.snapshot);
        }
        if self.walk_deltas_to(&latest).await? {
            return Ok(self.snapshot);
        }
        let files = self.dws.data_files(&latest).await?;
        // Files gone since the view was built. When the viewed snapshot is still the table's
        // (the history went on from it), they were compacted away: compaction keeps each key's
        // newest record with its sequence number, so the view needs only the new files, and
        // of those only the ones with writes it has not folded. Else (a rollback, or the
        // viewed snapshot expired) the view is rebuilt from scratch.
        let gone = self.view.gone(&files);
        let rebuild = !gone.is_empty() && !self.history_went_on_from_view(latest.id).await?;
        let view = &self.view;
        let unseen = |e: &&DataFileEntry| rebuild || !view.has_seen(e.bucket, &e.file.file_name);
        let (repeats, to_read): (Vec<&DataFileEntry>, Vec<&DataFileEntry>) = files
            .iter()
            .filter(unseen)
            .partition(|e| !rebuild && view.repeats_folded(e));
        let records = self.read_files(&to_read).await?;
        if rebuild {
            self.view.clear();
        }
        let folded_through = self.view.folded_through();
        self.view.forget(&gone);
        for entry in repeats {
            self.view.skip(entry);
        }
        for (entry, records) in to_read.into_iter().zip(records) {
            let through = folded_through.get(&entry.bucket).copied();
            self.view.fold(entry, records, through);
        }
        self.snapshot = Some((latest.id, latest.time_millis));
        self.viewed = Some(latest);
        Ok(self.snapshot)
    }

    /// Brings the view to `latest` by the snapshots committed since the viewed one, as Paimon's
    /// streaming read does: an APPEND snapshot's new files are read; a COMPACT snapshot's
    /// outputs only repeat writes the view has by then folded, so they are marked seen unread.
    /// Reads a few small files where the whole-table path would decode the outputs. `false`
    /// (nothing changed) when the walk cannot be taken: no view yet, too many snapshots since,
    /// a snapshot gone (expired) or an OVERWRITE, a history that did not go on from the view
    /// (a rollback), or a file that can no longer be read.
    async fn walk_deltas_to(&mut self, latest: &Snapshot) -> Result<bool, TableError> {
        /// Beyond this many snapshots the whole-table path reads less.
        const WALK_SNAPSHOTS_MAX: i64 = 16;
        let Some(viewed) = &self.viewed else {
            return Ok(false);
        };
        if latest.id - viewed.id > WALK_SNAPSHOTS_MAX
            || !self.history_went_on_from_view(latest.id).await?
        {
            return Ok(false);
        }
        let mut steps = Vec::new();
        for id in viewed.id + 1..=latest.id {
            let snapshot = match id == latest.id {
                true => Some(latest.clone()),
                false => self.dws.snapshot(id).await?,
            };
            let Some(snapshot) = snapshot else {
                return Ok(false);
            };
            if snapshot.commit_kind == CommitKind::Overwrite {
                return Ok(false);
            }
            let delta = self.dws.delta_files(&snapshot).await?;
            steps.push((snapshot.commit_kind, delta));
        }
        // Every new file is read before the view changes (cancel-safety, as `refresh`).
        let to_read: Vec<&DataFileEntry> = steps
            .iter()
            .filter(|(kind, _)| *kind == CommitKind::Append)
            .flat_map(|(_, delta)| delta.iter())
            .filter(|(file_kind, _)| *file_kind == FileKind::Add)
            .map(|(_, entry)| entry)
            .collect();
        let appended = match self.read_files(&to_read).await {
            Ok(records) => records,
            // Expired while walking: the whole-table path reads what is left.
            Err(error) if error.is_missing_data_file() => return Ok(false),
            Err(error) => return Err(error),
        };
        let folded_through = self.view.folded_through();
        let mut appended = appended.into_iter();
        for (kind, delta) in steps {
            for (file_kind, entry) in delta {
                match (kind, file_kind) {
                    (CommitKind::Append, FileKind::Add) => {
                        let records = appended.next().expect("one read per APPEND file");
                        let through = folded_through.get(&entry.bucket).copied();
                        self.view.fold(&entry, records, through);
                    }
                    (_, FileKind::Add) => self.view.skip(&entry),
                    (_, FileKind::Delete) => {
                        self.view.forget(&[(entry.bucket, entry.file.file_name)]);
                    }
                }
            }
        }
        self.snapshot = Some((latest.id, latest.time_millis));
        self.viewed = Some(latest.clone());
        Ok(true)
    }

    /// The records of `entries`, in their order: bucket `b`'s files are read by reader
    /// `b % read_parallelism`, one after another, and the readers read side by side.
    async fn read_files(
        &self,
        entries: &[&DataFileEntry],
    ) -> Result<Vec<Vec<(RowKind, i64, Row)>>, TableError> {
        let lane_count = self.read_parallelism as usize;
        let mut lanes: Vec<Vec<usize>> = vec![Vec::new(); lane_count];
        for (index, entry) in entries.iter().enumerate() {
            lanes[entry.bucket as usize % lane_count].push(index);
        }
        let dws = &self.dws;
        let read = crate::stream::runtime::join_all(
            lanes
                .into_iter()
                .filter(|lane| !lane.is_empty())
                .map(|lane| async move {
                    let mut out = Vec::with_capacity(lane.len());
                    for index in lane {
                        let entry = entries[index];
                        out.push((
                            index,
                            dws.read_data_file(&entry.partition, entry.bucket, &entry.file)
                                .await?,
                        ));
                    }
                    Ok::<_, TableError>(out)
                }),
        )
        .await;
        let mut by_index = Vec::with_capacity(entries.len());
        for lane in read {
            by_index.extend(lane?);
        }
        by_index.sort_by_key(|(index, _)| *index);
        Ok(by_index.into_iter().map(|(_, records)| records).collect())
    }

    /// Whether the viewed snapshot is still in the table, unchanged and older than `latest_id`:
    /// the table went on from it by commits (DWS has no partitions, so none overwrites it).
    async fn history_went_on_from_view(&self, latest_id: i64) -> Result<bool, TableError> {
        let Some(viewed) = &self.viewed else {
            return Ok(false);
        };
        if viewed.id >= latest_id {
            return Ok(false);
        }
        Ok(self.dws.snapshot(viewed.id).await?.as_ref() == Some(viewed))
    }

    /// Spend (micros) of every advertiser in the DWS minutes at or after `from_ms`, at the latest
    /// snapshot: (snapshot id, spend by advertiser). `None` before the first snapshot.
    pub async fn spend_since(
        &mut self,
        from_ms: i64,
    ) -> Result<Option<(i64, BTreeMap<i64, i64>)>, TableError> {
        let Some((snapshot_id, _)) = self.refresh().await? else {
            return Ok(None);
        };
        let spend = self.view.spend_since(minute_of(from_ms));
        Ok(Some((snapshot_id, spend)))
    }

    /// Spend, clicks and CTR of `advertiser_id` over the last `window_minutes` minutes, from
    /// the latest DWS snapshot (the view is refreshed first).
    pub async fn report(
        &mut self,
        advertiser_id: i64,
        window_minutes: i64,
    ) -> Result<Option<ReportAnswer>, TableError> {
        if self.refresh().await?.is_none() {
            return Ok(None);
        }
        Ok(self.answer_from_view(advertiser_id, window_minutes))
    }

    /// The same report from the view as it stands, without reading storage: what a serving
    /// layer answers when storage is slow or down (the answer's snapshot says how old it is).
    /// `None` while the view holds no snapshot.
    pub fn answer_from_view(
        &self,
        advertiser_id: i64,
        window_minutes: i64,
    ) -> Option<ReportAnswer> {
        let (snapshot_id, snapshot_time_ms) = self.snapshot?;
        let from_minute =
            minute_of(self.env.clock().now_millis()) - (window_minutes - 1) * MINUTE_MS;
        let Measures {
            impressions,
            clicks,
            spend_micros,
        } = self.view.measures_since(advertiser_id, from_minute);
        let ctr_ppm = if impressions > 0 {
            clicks * 1_000_000 / impressions
        } else {
            0
        };
        Some(ReportAnswer {
            advertiser_id,
            window_minutes,
            snapshot_id,
            snapshot_time_ms,
            impressions,
            clicks,
            spend_micros,
            ctr_ppm,
        })
    }
}

const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// An advertiser the controller paused: when, and what DWS said it had spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetPause {
    pub advertiser_id: i64,
    /// Start (epoch ms) of the local day whose budget ran out.
    pub day_start_ms: i64,
    pub decided_at_ms: i64,
    pub snapshot_id: i64,
    pub dws_spend_micros: i64,
}

/// Pauses an advertiser's campaigns for the rest of its local day once DWS's spend of that day
/// reaches its daily budget. It sees only committed DWS snapshots, so stale DWS means overspend.
pub struct BudgetController {
    daily_budget_micros: i64,
    /// Local time zone of the budget day (Double 11 runs on China time, UTC+8).
    utc_offset_ms: i64,
    paused: BTreeMap<(i64, i64), BudgetPause>,
}

impl BudgetController {
    pub fn new(daily_budget_micros: i64, utc_offset_ms: i64) -> Self {
        Self {
            daily_budget_micros,
            utc_offset_ms,
            paused: BTreeMap::new(),
        }
    }

    /// Start (epoch ms) of the local day holding `time_ms`.
    pub fn day_start_ms(&self, time_ms: i64) -> i64 {
        (time_ms + self.utc_offset_ms).div_euclid(DAY_MS) * DAY_MS - self.utc_offset_ms
    }

    /// One check against the latest DWS snapshot: the advertisers newly over budget today.
    pub async fn check<E: Env>(
        &mut self,
        serving: &mut ServingLayer<E>,
    ) -> Result<Vec<BudgetPause>, TableError> {
        let now_ms = serving.env.clock().now_millis();
        let day_start_ms = self.day_start_ms(now_ms);
        let Some((snapshot_id, spend)) = serving.spend_since(day_start_ms).await? else {
            return Ok(Vec::new());
        };
        let mut paused_now = Vec::new();
        for (advertiser_id, dws_spend_micros) in spend {
            if dws_spend_micros < self.daily_budget_micros
                || self.paused.contains_key(&(advertiser_id, day_start_ms))
            {
                continue;
            }
            let pause = BudgetPause {
                advertiser_id,
                day_start_ms,
                decided_at_ms: now_ms,
                snapshot_id,
                dws_spend_micros,
            };
            self.paused
                .insert((advertiser_id, day_start_ms), pause.clone());
            paused_now.push(pause);
        }
        Ok(paused_now)
    }
}

#[cfg(test)]
mod tests;
