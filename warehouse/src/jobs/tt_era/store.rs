//! A TT-era downstream store (the report, BI and analysis stores: OceanBase, Hologres,
//! ClickHouse in the article): rows per (advertiser, campaign, minute) on the store host's own
//! disk, written two ways. The store's real-time aggregation job puts a window's row when the
//! window fires (a later firing replaces it: a put by key, never a retraction of what was
//! counted); the offline batch job overwrites a whole period's rows with the figures it
//! recomputed from ODS, and from then on those minutes keep the batch's rows (the lambda
//! architecture's rule: the offline result wins over the real-time one for a period it covers).
//!
//! The store is an append-only log of text lines on a durable local disk, replayed on open:
//! `R <written_ms> <adv> <camp> <minute> <5 sums>` a real-time put, `O <written_ms> <start>
//! <end> <rows>` then that many `B ...` rows an overwrite of the minutes in [start, end).

use std::collections::{BTreeMap, BTreeSet};

use crate::env::LocalDisk;

/// The key of a store row: advertiser, campaign, minute start (epoch ms).
pub type RowKey = [i64; 3];
/// A row's additive sums, in DWS field order: impressions, clicks, conversions, cost, GMV.
pub type RowSums = [i64; 5];

/// Where a store keeps its log on its host's disk.
pub const STORE_LOG_PATH: &str = "/store/rows.log";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store disk: {0}")]
    Disk(#[from] std::io::Error),
    #[error("store log line {line} unreadable: {text}")]
    Corrupt { line: usize, text: String },
}

/// The rows of one store and the minutes the batch job has corrected.
pub struct MinuteStore<D: LocalDisk> {
    disk: D,
    rows: BTreeMap<RowKey, RowSums>,
    corrected_minutes: BTreeSet<i64>,
    /// Wall ms of the last real-time put, or of the last time the store's aggregation found
    /// the DWD topic read to its end (what the store's staleness is measured from). In memory.
    last_realtime_write_ms: Option<i64>,
}

/// Renders one row line (`R` or `B`).
fn row_line(tag: char, written_ms: i64, key: &RowKey, sums: &RowSums) -> String {
    format!(
        "{tag} {written_ms} {} {} {} {} {} {} {} {}\n",
        key[0], key[1], key[2], sums[0], sums[1], sums[2], sums[3], sums[4]
    )
}

/// Parses the numbers of a line after its tag.
fn numbers(line: &str) -> Option<Vec<i64>> {
    line.split(' ').skip(1).map(|n| n.parse().ok()).collect()
}

fn key_and_sums(n: &[i64]) -> Option<(RowKey, RowSums)> {
    (n.len() == 9).then(|| ([n[1], n[2], n[3]], [n[4], n[5], n[6], n[7], n[8]]))
}

impl<D: LocalDisk> MinuteStore<D> {
    /// Opens the store, replaying its log.
    pub fn open(disk: D) -> Result<Self, StoreError> {
        let mut store = Self {
            disk,
            rows: BTreeMap::new(),
            corrected_minutes: BTreeSet::new(),
            last_realtime_write_ms: None,
        };
        let bytes = store.disk.read(STORE_LOG_PATH)?.unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let corrupt = |line: usize, text: &str| StoreError::Corrupt {
            line,
            text: text.to_string(),
        };
        let mut pending_overwrite: Option<(i64, i64)> = None;
        for (index, line) in text.lines().enumerate() {
            let n = numbers(line).ok_or_else(|| corrupt(index + 1, line))?;
            match line.chars().next() {
                Some('R') => {
                    let (key, sums) = key_and_sums(&n).ok_or_else(|| corrupt(index + 1, line))?;
                    store.apply_realtime(key, sums, n[0]);
                }
                Some('O') if n.len() == 4 => {
                    store.clear_period(n[1], n[2]);
                    pending_overwrite = Some((n[1], n[2]));
                }
                Some('B') => {
                    let (key, sums) = key_and_sums(&n).ok_or_else(|| corrupt(index + 1, line))?;
                    let (start, end) = pending_overwrite.ok_or_else(|| corrupt(index + 1, line))?;
                    assert!(
                        (start..end).contains(&key[2]),
                        "store log: a batch row outside its overwrite"
                    );
                    store.rows.insert(key, sums);
                }
                _ => return Err(corrupt(index + 1, line)),
            }
        }
        Ok(store)
    }

    fn apply_realtime(&mut self, key: RowKey, sums: RowSums, written_ms: i64) -> bool {
        self.last_realtime_write_ms = Some(written_ms);
        if self.corrected_minutes.contains(&key[2]) {
            return false;
        }
        self.rows.insert(key, sums);
        true
    }

    fn clear_period(&mut self, start_ms: i64, end_ms: i64) {
        let doomed: Vec<RowKey> = self
            .rows
            .keys()
            .filter(|k| (start_ms..end_ms).contains(&k[2]))
            .copied()
            .collect();
        for key in doomed {
            self.rows.remove(&key);
        }
        let mut minute = start_ms;
        while minute < end_ms {
            self.corrected_minutes.insert(minute);
            minute += crate::jobs::schemas::MINUTE_MS;
        }
    }

    /// Real-time puts of fired windows' rows (one synced append). Rows of minutes the batch job
    /// has corrected are logged but not applied. Returns the rows applied.
    pub fn put_realtime(
        &mut self,
        rows: &[(RowKey, RowSums)],
        written_ms: i64,
    ) -> Result<usize, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let text: String = rows
            .iter()
            .map(|(key, sums)| row_line('R', written_ms, key, sums))
            .collect();
        self.disk.append_synced(STORE_LOG_PATH, text.as_bytes())?;
        Ok(rows
            .iter()
            .filter(|(key, sums)| self.apply_realtime(*key, *sums, written_ms))
            .count())
    }

    /// The batch job's overwrite of the minutes in [start_ms, end_ms) (one synced append).
    pub fn overwrite_period(
        &mut self,
        start_ms: i64,
        end_ms: i64,
        rows: &[(RowKey, RowSums)],
        written_ms: i64,
    ) -> Result<(), StoreError> {
        assert!(
            rows.iter()
                .all(|(key, _)| (start_ms..end_ms).contains(&key[2])),
            "a batch overwrite holds only its period's rows"
        );
        let mut text = format!("O {written_ms} {start_ms} {end_ms} {}\n", rows.len());
        for (key, sums) in rows {
            text.push_str(&row_line('B', written_ms, key, sums));
        }
        self.disk.append_synced(STORE_LOG_PATH, text.as_bytes())?;
        self.clear_period(start_ms, end_ms);
        self.rows.extend(rows.iter().copied());
        Ok(())
    }

    /// An advertiser's sums over the minutes in [from_ms, to_ms).
    pub fn advertiser_sums(&self, advertiser_id: i64, from_ms: i64, to_ms: i64) -> RowSums {
        let mut total = [0i64; 5];
        let range = [advertiser_id, i64::MIN, i64::MIN]..[advertiser_id + 1, i64::MIN, i64::MIN];
        for (key, sums) in self.rows.range(range) {
            if (from_ms..to_ms).contains(&key[2]) {
                for (t, s) in total.iter_mut().zip(sums) {
                    *t += s;
                }
            }
        }
        total
    }

    pub fn rows(&self) -> &BTreeMap<RowKey, RowSums> {
        &self.rows
    }

    /// The store's aggregation has read the DWD topic to its end at `now_ms`: nothing newer
    /// exists to serve.
    pub fn note_caught_up(&mut self, now_ms: i64) {
        self.last_realtime_write_ms = Some(now_ms);
    }

    pub fn last_realtime_write_ms(&self) -> Option<i64> {
        self.last_realtime_write_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MemDisk;

    #[test]
    fn batch_rows_win_over_later_realtime_puts_and_survive_a_reopen() {
        let disk = MemDisk::default();
        let mut store = MinuteStore::open(disk.clone()).unwrap();
        let key = [1, 2, 60_000];
        store.put_realtime(&[(key, [5, 1, 0, 10, 0])], 100).unwrap();
        store
            .overwrite_period(0, 120_000, &[(key, [4, 1, 1, 10, 7])], 200)
            .unwrap();
        assert_eq!(
            store.put_realtime(&[(key, [9, 9, 9, 9, 9])], 300).unwrap(),
            0
        );
        let reopened = MinuteStore::open(disk).unwrap();
        assert_eq!(reopened.rows()[&key], [4, 1, 1, 10, 7]);
        assert_eq!(reopened.advertiser_sums(1, 0, 120_000), [4, 1, 1, 10, 7]);
        assert_eq!(reopened.last_realtime_write_ms(), Some(300));
    }
}
