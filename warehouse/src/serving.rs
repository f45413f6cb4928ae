//! The application layer: answers report queries ("spend, clicks and CTR of advertiser X over the
//! last N minutes") from the latest committed DWS snapshot, keeping an incrementally refreshed
//! in-memory view so each refresh costs only the files committed since the previous one (and a
//! query can be answered from the view alone when storage is slow); and the
//! budget controller that pauses an advertiser once DWS says its spend today reached its budget.

use std::collections::{BTreeMap, BTreeSet};

use crate::env::{Clock, Env};
use crate::jobs::schemas::{MINUTE_MS, minute_of};
use crate::row::Row;
use crate::table::{FileStoreTable, Key, Snapshot, TableError};

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
    /// (bucket, file name) of every data file folded into `view`: names repeat across buckets.
    files_seen: BTreeSet<(u32, String)>,
    snapshot: Option<(i64, i64)>,
    /// The snapshot the view shows, whole: a later refresh reads it again to tell a history
    /// that went on from it (compaction merely moved its rows) from a rollback.
    viewed: Option<Snapshot>,
    /// Readers of a refresh's new files: bucket `b`'s files are read by reader
    /// `b % read_parallelism`, one after another; the readers read side by side.
    read_parallelism: u32,
    /// The last `spend_since` total, kept in step with the view as refreshes change it.
    spend: Option<SpendSince>,
}

/// Spend by advertiser over the DWS minutes from `from_minute` on, kept in step with the view:
/// a budget check then costs the rows that changed since the last, not the whole view.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SpendSince {
    from_minute: i64,
    /// Per advertiser: spend, and how many live view rows it sums.
    by_advertiser: BTreeMap<i64, (i64, u64)>,
}

impl SpendSince {
    fn of_view(view: &BTreeMap<Key, (i64, Row)>, from_minute: i64) -> Self {
        let mut spend = Self {
            from_minute,
            by_advertiser: BTreeMap::new(),
        };
        for (key, (_, row)) in view {
            spend.add(key, row, 1);
        }
        spend
    }

    /// Adds (`sign` 1) or takes away (-1) view row `row` of `key` (empty when deleted).
    fn add(&mut self, key: &[i64], row: &Row, sign: i64) {
        if key[2] < self.from_minute || row.is_empty() {
            return;
        }
        let (spend, rows) = self.by_advertiser.entry(key[0]).or_default();
        *spend += sign * row[6];
        *rows = rows
            .checked_add_signed(sign)
            .expect("a view row is taken away only after it was added");
        if *rows == 0 {
            self.by_advertiser.remove(&key[0]);
        }
    }

    fn totals(&self) -> BTreeMap<i64, i64> {
        self.by_advertiser
            .iter()
            .map(|(&advertiser, &(spend, _))| (advertiser, spend))
            .collect()
    }
}

impl<E: Env> ServingLayer<E> {
    pub fn new(env: E, dws: FileStoreTable<E::Store>) -> Self {
        Self {
            env,
            dws,
            view: BTreeMap::new(),
            files_seen: BTreeSet::new(),
            snapshot: None,
            viewed: None,
            read_parallelism: 1,
            spend: None,
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
        let files = self.dws.data_files(&latest).await?;
        let live: BTreeSet<(u32, String)> = files
            .iter()
            .map(|f| (f.bucket, f.file.file_name.clone()))
            .collect();
        // Files gone since the view was built. When the viewed snapshot is still the table's
        // (the history went on from it), they were compacted away: compaction keeps each key's
        // newest record with its sequence number, so the view needs only the new files. Else
        // (a rollback, or the viewed snapshot expired) the view is rebuilt from scratch.
        let gone: Vec<(u32, String)> = self.files_seen.difference(&live).cloned().collect();
        let rebuild = !gone.is_empty() && !self.history_went_on_from_view(latest.id).await?;
        let mut new_files = Vec::new();
        if self.read_parallelism > 1 {
            let to_read: Vec<_> = files
                .iter()
                .filter(|e| {
                    rebuild
                        || !self
                            .files_seen
                            .contains(&(e.bucket, e.file.file_name.clone()))
                })
                .collect();
            let lane_count = self.read_parallelism as usize;
            let mut lanes: Vec<Vec<usize>> = vec![Vec::new(); lane_count];
            for (index, entry) in to_read.iter().enumerate() {
                lanes[entry.bucket as usize % lane_count].push(index);
            }
            let (dws, to_read) = (&self.dws, &to_read);
            let read = crate::stream::runtime::join_all(
                lanes
                    .into_iter()
                    .filter(|lane| !lane.is_empty())
                    .map(|lane| async move {
                        let mut out = Vec::with_capacity(lane.len());
                        for index in lane {
                            let entry = to_read[index];
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
            let mut by_index = Vec::with_capacity(to_read.len());
            for lane in read {
                by_index.extend(lane?);
            }
            by_index.sort_by_key(|(index, _)| *index);
            for (index, records) in by_index {
                let entry = to_read[index];
                new_files.push(((entry.bucket, entry.file.file_name.clone()), records));
            }
        } else {
            for entry in &files {
                let seen_key = (entry.bucket, entry.file.file_name.clone());
                if !rebuild && self.files_seen.contains(&seen_key) {
                    continue;
                }
                let records = self
                    .dws
                    .read_data_file(&entry.partition, entry.bucket, &entry.file)
                    .await?;
                new_files.push((seen_key, records));
            }
        }
        if rebuild {
            self.view.clear();
            self.files_seen.clear();
            self.spend = None;
        }
        for file in &gone {
            self.files_seen.remove(file);
        }
        for (seen_key, records) in new_files {
            for (kind, sequence, row) in records {
                let key = self.dws.key_of(&row);
                let previous = self.view.get(&key);
                if previous.is_some_and(|(seen, _)| *seen >= sequence) {
                    continue;
                }
                let row = if kind.is_add() { row } else { Vec::new() };
                if let Some(spend) = &mut self.spend {
                    if let Some((_, old)) = previous {
                        spend.add(&key, old, -1);
                    }
                    spend.add(&key, &row, 1);
                }
                self.view.insert(key, (sequence, row));
            }
            self.files_seen.insert(seen_key);
        }
        self.snapshot = Some((latest.id, latest.time_millis));
        self.viewed = Some(latest);
        Ok(self.snapshot)
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
        let from_minute = minute_of(from_ms);
        let spend = match &self.spend {
            Some(spend) if spend.from_minute == from_minute => spend,
            _ => self
                .spend
                .insert(SpendSince::of_view(&self.view, from_minute)),
        };
        Ok(Some((snapshot_id, spend.totals())))
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
mod tests {
    use super::*;
    use crate::env::TestEnv;
    use crate::jobs::schemas::{DWS_TABLE_ROOT, dws_schema};
    use crate::row::RowKind;
    use crate::table::{BucketWriter, TableOptions};

    const EPOCH_MS: i64 = 1_762_788_600_000;

    /// Every bucket's writer names its first file `data-cp1-0.parquet`: the view must still
    /// fold each bucket's file, so spend covers every advertiser (a view keyed by file name
    /// alone once dropped half of them).
    #[test]
    fn spend_covers_every_bucket_although_file_names_repeat_across_buckets() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let env = TestEnv::default();
            env.clock.0.set(EPOCH_MS);
            let options = TableOptions {
                bucket: 2,
                ..TableOptions::default()
            };
            let schema = dws_schema(options);
            let dws =
                FileStoreTable::create_or_open(env.store.clone(), DWS_TABLE_ROOT, schema, EPOCH_MS)
                    .await
                    .unwrap();
            let mut writers = Vec::new();
            for bucket in 0..2 {
                let base = dws.read_bucket(None, &[], bucket).await.unwrap();
                writers.push(BucketWriter::new(dws.schema(), bucket, base));
            }
            let minute = minute_of(EPOCH_MS);
            let mut expected = BTreeMap::new();
            for advertiser in 1..=8i64 {
                let row = vec![
                    advertiser,
                    advertiser * 1000 + 1,
                    minute,
                    10,
                    1,
                    0,
                    100 * advertiser,
                    0,
                ];
                let bucket = dws.bucket_of_key(&row[..3]) as usize;
                writers[bucket].write(RowKind::Insert, row).unwrap();
                expected.insert(advertiser, 100 * advertiser);
            }
            let mut messages = Vec::new();
            for writer in &mut writers {
                messages.extend(writer.prepare_commit(&dws, "cp1", EPOCH_MS).await.unwrap());
            }
            assert_eq!(messages.len(), 2, "both buckets hold advertisers");
            assert_eq!(
                messages[0].new_files[0].file_name,
                messages[1].new_files[0].file_name
            );
            dws.commit("u", 1, messages, None, EPOCH_MS, "c1")
                .await
                .unwrap();

            let mut serving = ServingLayer::new(env.clone(), dws);
            let (_, spend) = serving.spend_since(EPOCH_MS).await.unwrap().unwrap();
            assert_eq!(spend, expected);
            // Budget 500: advertisers 5..=8 are paused, once.
            let mut controller = BudgetController::new(500, 8 * 3_600_000);
            let paused: Vec<i64> = controller
                .check(&mut serving)
                .await
                .unwrap()
                .iter()
                .map(|p| p.advertiser_id)
                .collect();
            assert_eq!(paused, [5, 6, 7, 8]);
            assert!(controller.check(&mut serving).await.unwrap().is_empty());

            // A second snapshot: advertiser 1 spends more, advertiser 2's row is deleted and
            // advertiser 3 spends in a new minute. The kept total follows the view.
            let changes = [
                (RowKind::Insert, vec![1, 1001, minute, 20, 2, 0, 250, 0]),
                (RowKind::Delete, vec![2, 2001, minute, 0, 0, 0, 0, 0]),
                (
                    RowKind::Insert,
                    vec![3, 3001, minute + MINUTE_MS, 5, 1, 0, 40, 0],
                ),
            ];
            for (kind, row) in changes {
                let bucket = serving.dws.bucket_of_key(&row[..3]) as usize;
                writers[bucket].write(kind, row).unwrap();
            }
            let mut messages = Vec::new();
            for writer in &mut writers {
                messages.extend(
                    writer
                        .prepare_commit(&serving.dws, "cp2", EPOCH_MS)
                        .await
                        .unwrap(),
                );
            }
            serving
                .dws
                .commit("u", 2, messages, None, EPOCH_MS, "c2")
                .await
                .unwrap();
            let (_, spend) = serving.spend_since(EPOCH_MS).await.unwrap().unwrap();
            expected.insert(1, 250);
            expected.remove(&2);
            expected.insert(3, 300 + 40);
            assert_eq!(spend, expected);
            let recomputed = SpendSince::of_view(&serving.view, minute_of(EPOCH_MS));
            assert_eq!(serving.spend.as_ref(), Some(&recomputed));
        });
    }

    #[test]
    fn the_budget_day_starts_at_local_midnight() {
        let controller = BudgetController::new(1, 8 * 3_600_000);
        // 2025-11-10T15:30Z is 23:30 in China: the day began at 2025-11-09T16:00Z.
        assert_eq!(
            controller.day_start_ms(EPOCH_MS),
            EPOCH_MS - 23 * 3_600_000 - 1_800_000
        );
        // Half an hour later it is Double 11.
        assert_eq!(
            controller.day_start_ms(EPOCH_MS + 1_800_000),
            EPOCH_MS + 1_800_000
        );
    }
}

/// The view across compaction and rollback: it must always answer as a view built afresh.
#[cfg(test)]
mod view_tests {
    use super::*;
    use crate::env::TestEnv;
    use crate::jobs::schemas::{DWS_TABLE_ROOT, dws_schema};
    use crate::row::RowKind;
    use crate::table::{BucketWriter, TableOptions};

    const EPOCH_MS: i64 = 1_762_788_600_000;

    /// Every advertiser's answer over the last hour, from the view after a refresh.
    async fn answers(serving: &mut ServingLayer<TestEnv>) -> Vec<Option<ReportAnswer>> {
        serving.refresh().await.unwrap();
        (1..=4)
            .map(|advertiser| {
                let mut answer = serving.answer_from_view(advertiser, 60)?;
                answer.snapshot_id = 0; // a fresh view and a kept one may stand at either
                Some(answer)
            })
            .collect()
    }

    /// After a compaction the kept view reads only the compaction's output, keeps its spend
    /// total and answers as a fresh view; after a rollback it is rebuilt and still does.
    #[test]
    fn a_kept_view_answers_as_a_fresh_one_through_compaction_and_rollback() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let env = TestEnv::default();
            env.clock.0.set(EPOCH_MS + 30 * MINUTE_MS);
            let options = TableOptions {
                bucket: 1,
                ..TableOptions::default()
            };
            let dws = FileStoreTable::create_or_open(
                env.store.clone(),
                DWS_TABLE_ROOT,
                dws_schema(options),
                EPOCH_MS,
            )
            .await
            .unwrap();
            let base = dws.read_bucket(None, &[], 0).await.unwrap();
            let mut writer = BucketWriter::new(dws.schema(), 0, base);
            let mut serving = ServingLayer::new(env.clone(), dws.clone());
            let minute = minute_of(EPOCH_MS);
            for checkpoint in 1..=4i64 {
                for advertiser in 1..=4i64 {
                    let row = vec![
                        advertiser,
                        advertiser * 1000 + 1,
                        minute + (checkpoint % 2) * MINUTE_MS,
                        10 * checkpoint,
                        checkpoint,
                        0,
                        100 * advertiser * checkpoint,
                        0,
                    ];
                    let kind = if checkpoint == 3 && advertiser == 2 {
                        RowKind::Delete
                    } else {
                        RowKind::Insert
                    };
                    writer.write(kind, row).unwrap();
                }
                let prefix = format!("cp{checkpoint}");
                let messages: Vec<_> = writer
                    .prepare_commit(&dws, &prefix, EPOCH_MS)
                    .await
                    .unwrap()
                    .into_iter()
                    .collect();
                dws.commit("u", checkpoint, messages, None, EPOCH_MS, &prefix)
                    .await
                    .unwrap();
                serving.spend_since(EPOCH_MS).await.unwrap();
                if checkpoint == 2 {
                    assert!(dws.create_tag("before-3", 2).await.unwrap());
                }
            }
            let fresh = |env: &TestEnv| ServingLayer::new(env.clone(), dws.clone());
            assert_eq!(answers(&mut serving).await, answers(&mut fresh(&env)).await);

            let compacted = writer.compact_full(&dws, "full", EPOCH_MS).await.unwrap();
            let messages: Vec<_> = compacted.into_iter().collect();
            assert!(!messages.is_empty(), "four files to compact");
            dws.commit("u", 5, messages, None, EPOCH_MS, "full")
                .await
                .unwrap();
            let kept = answers(&mut serving).await;
            assert!(
                serving.spend.is_some(),
                "a compaction does not rebuild the view"
            );
            assert_eq!(kept, answers(&mut fresh(&env)).await);
            assert_eq!(
                serving.spend_since(EPOCH_MS).await.unwrap().unwrap().1,
                fresh(&env).spend_since(EPOCH_MS).await.unwrap().unwrap().1
            );

            dws.rollback_to_tag("before-3").await.unwrap();
            let rolled_back = answers(&mut serving).await;
            assert_eq!(rolled_back, answers(&mut fresh(&env)).await);
            assert_ne!(rolled_back, kept, "the rollback changed the table");
        });
    }
}
