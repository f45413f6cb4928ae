//! The serving layer's in-memory view of DWS: each key's newest version, narrowed to the
//! measures reports and budgets read, the files it folded, and the spend total kept in step.
//! A whole Double-11 day holds over a million DWS rows, so a row is a 24-byte key and a
//! 40-byte version in the map's nodes (by layout, not measured; a general row with its key
//! took about 200 bytes).

use std::collections::{BTreeMap, BTreeSet};

use crate::row::{Row, RowKind};
use crate::table::DataFileEntry;

/// A DWS key: (advertiser, campaign, minute start in epoch ms).
pub(super) type ViewKey = (i64, i64, i64);

/// Positions in a DWS row of the fields the view keeps (`DWS_FIELD_NAMES`).
const IMPRESSIONS: usize = 3;
const CLICKS: usize = 4;
const COST: usize = 6;
const DWS_ROW_FIELDS: usize = 8;

/// What reports and budgets read of one DWS row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Measures {
    pub impressions: i64,
    pub clicks: i64,
    pub spend_micros: i64,
}

/// A key's newest version the view folded: its sequence number, and its measures (`None`:
/// deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    sequence: i64,
    measures: Option<Measures>,
}

/// Spend by advertiser over the DWS minutes from `from_minute` on, kept in step with the view:
/// a budget check then costs the rows that changed since the last, not the whole view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SpendSince {
    from_minute: i64,
    /// Per advertiser: spend, and how many live view rows it sums.
    by_advertiser: BTreeMap<i64, (i64, u64)>,
}

impl SpendSince {
    fn of_rows(rows: &BTreeMap<ViewKey, Version>, from_minute: i64) -> Self {
        let mut spend = Self {
            from_minute,
            by_advertiser: BTreeMap::new(),
        };
        for (key, version) in rows {
            spend.add(key, version.measures, 1);
        }
        spend
    }

    /// Adds (`sign` 1) or takes away (-1) the view row of `key` (`None` when deleted).
    fn add(&mut self, key: &ViewKey, measures: Option<Measures>, sign: i64) {
        let Some(measures) = measures else {
            return;
        };
        if key.2 < self.from_minute {
            return;
        }
        let (spend, rows) = self.by_advertiser.entry(key.0).or_default();
        *spend += sign * measures.spend_micros;
        *rows = rows
            .checked_add_signed(sign)
            .expect("a view row is taken away only after it was added");
        if *rows == 0 {
            self.by_advertiser.remove(&key.0);
        }
    }

    fn totals(&self) -> BTreeMap<i64, i64> {
        self.by_advertiser
            .iter()
            .map(|(&advertiser, &(spend, _))| (advertiser, spend))
            .collect()
    }
}

/// The view: rows by key, the files folded into it, and the spend total.
#[derive(Debug, Default)]
pub(super) struct View {
    rows: BTreeMap<ViewKey, Version>,
    /// (bucket, file name) of every data file folded into the view: names repeat across
    /// buckets.
    files_seen: BTreeSet<(u32, String)>,
    /// Per bucket, the largest sequence number of any file folded (read or skipped).
    sequence_through: BTreeMap<u32, i64>,
    /// The last `spend_since` total, kept in step with the rows as folds change them.
    spend: Option<SpendSince>,
}

impl View {
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    pub fn has_seen(&self, bucket: u32, file_name: &str) -> bool {
        // A borrowed lookup would need the pair as one borrowed key; names are short.
        self.files_seen.contains(&(bucket, file_name.to_owned()))
    }

    /// Files of `live` the view has folded that are no longer among them.
    pub fn gone(&self, live: &[DataFileEntry]) -> Vec<(u32, String)> {
        let live: BTreeSet<(u32, &str)> = live
            .iter()
            .map(|f| (f.bucket, f.file.file_name.as_str()))
            .collect();
        self.files_seen
            .iter()
            .filter(|(bucket, name)| !live.contains(&(*bucket, name.as_str())))
            .cloned()
            .collect()
    }

    pub fn forget(&mut self, gone: &[(u32, String)]) {
        for file in gone {
            self.files_seen.remove(file);
        }
    }

    /// Whether a file not yet folded can only repeat what the view holds: every sequence
    /// number in it is at or below the newest the view folded from its bucket. A bucket's
    /// writer numbers its writes upward and commits them in order, so such a file is the
    /// output of a compaction over files the view folded (compaction keeps each key's newest
    /// record with its sequence number), and reading it would change nothing.
    pub fn repeats_folded(&self, entry: &DataFileEntry) -> bool {
        self.sequence_through
            .get(&entry.bucket)
            .is_some_and(|&through| entry.file.max_sequence_number <= through)
    }

    /// Marks a file folded without reading it ([`Self::repeats_folded`]).
    pub fn skip(&mut self, entry: &DataFileEntry) {
        debug_assert!(self.repeats_folded(entry));
        self.files_seen
            .insert((entry.bucket, entry.file.file_name.clone()));
    }

    /// Per bucket, the sequence numbers at or below which every write is folded: taken before
    /// a refresh folds its files (which it folds in file order, not commit order).
    pub fn folded_through(&self) -> BTreeMap<u32, i64> {
        self.sequence_through.clone()
    }

    /// Folds a data file's records: a key keeps its newest version. A record at or below
    /// `folded_through` (of [`Self::folded_through`] before this refresh) is a write the view
    /// folded, kept by a compaction, and is passed over without a lookup.
    pub fn fold(
        &mut self,
        entry: &DataFileEntry,
        records: Vec<(RowKind, i64, Row)>,
        folded_through: Option<i64>,
    ) {
        let folded_through = folded_through.unwrap_or(i64::MIN);
        for (kind, sequence, row) in records {
            assert_eq!(
                row.len(),
                DWS_ROW_FIELDS,
                "a DWS row in {}",
                entry.file.file_name
            );
            if sequence <= folded_through {
                continue;
            }
            let key = (row[0], row[1], row[2]);
            let previous = self.rows.get(&key).copied();
            if previous.is_some_and(|seen| seen.sequence >= sequence) {
                continue;
            }
            let measures = kind.is_add().then(|| Measures {
                impressions: row[IMPRESSIONS],
                clicks: row[CLICKS],
                spend_micros: row[COST],
            });
            if let Some(spend) = &mut self.spend {
                if let Some(previous) = previous {
                    spend.add(&key, previous.measures, -1);
                }
                spend.add(&key, measures, 1);
            }
            self.rows.insert(key, Version { sequence, measures });
        }
        let through = self
            .sequence_through
            .entry(entry.bucket)
            .or_insert(i64::MIN);
        *through = (*through).max(entry.file.max_sequence_number);
        self.files_seen
            .insert((entry.bucket, entry.file.file_name.clone()));
    }

    /// Spend by advertiser over the minutes from `from_minute` on.
    pub fn spend_since(&mut self, from_minute: i64) -> BTreeMap<i64, i64> {
        let spend = match &self.spend {
            Some(spend) if spend.from_minute == from_minute => spend,
            _ => self
                .spend
                .insert(SpendSince::of_rows(&self.rows, from_minute)),
        };
        spend.totals()
    }

    /// Sums of `advertiser_id`'s live rows in the minutes from `from_minute` on: each of its
    /// campaigns is one range of keys, so the answer costs the window, not the day.
    pub fn measures_since(&self, advertiser_id: i64, from_minute: i64) -> Measures {
        let mut sum = Measures::default();
        let mut campaign = i64::MIN;
        loop {
            let start = (advertiser_id, campaign, i64::MIN);
            let end = (advertiser_id, i64::MAX, i64::MAX);
            let Some((&(_, next_campaign, _), _)) = self.rows.range(start..=end).next() else {
                return sum;
            };
            let campaign_rows = (advertiser_id, next_campaign, from_minute)
                ..=(advertiser_id, next_campaign, i64::MAX);
            for measures in self
                .rows
                .range(campaign_rows)
                .filter_map(|(_, v)| v.measures)
            {
                sum.impressions += measures.impressions;
                sum.clicks += measures.clicks;
                sum.spend_micros += measures.spend_micros;
            }
            if next_campaign == i64::MAX {
                return sum;
            }
            campaign = next_campaign + 1;
        }
    }

    /// Whether the kept spend total is what the rows sum to now (for tests).
    #[cfg(test)]
    pub fn spend_is_in_step(&self) -> bool {
        self.spend
            .as_ref()
            .is_none_or(|spend| *spend == SpendSince::of_rows(&self.rows, spend.from_minute))
    }

    #[cfg(test)]
    pub fn keeps_spend(&self) -> bool {
        self.spend.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::DataFileMeta;
    use proptest::prelude::*;

    proptest! {
        /// An answer sums exactly the advertiser's live rows from the window's first minute
        /// on, whatever campaigns, minutes, versions and deletions the view holds.
        #[test]
        fn an_answer_sums_the_window_of_every_campaign(
            writes in prop::collection::vec(
                (1..4i64, prop::sample::select(vec![i64::MIN, -5, 0, 7, i64::MAX]), 0..20i64,
                 any::<bool>(), 0..1000i64),
                1..60,
            ),
            advertiser in 1..4i64,
            from_minute in 0..20i64,
        ) {
            let records: Vec<(RowKind, i64, Row)> = writes
                .iter()
                .enumerate()
                .map(|(sequence, &(adv, campaign, minute, delete, value))| {
                    let kind = if delete { RowKind::Delete } else { RowKind::Insert };
                    let row = vec![adv, campaign, minute, value, value / 3, 0, value * 7, 0];
                    (kind, sequence as i64, row)
                })
                .collect();
            let entry = DataFileEntry {
                partition: Vec::new(),
                bucket: 0,
                file: DataFileMeta {
                    file_name: "data-0.parquet".into(),
                    max_sequence_number: records.len() as i64 - 1,
                    ..DataFileMeta::default()
                },
            };
            let mut view = View::default();
            view.fold(&entry, records.clone(), None);
            let mut newest: BTreeMap<ViewKey, (RowKind, Row)> = BTreeMap::new();
            for (kind, _, row) in records {
                newest.insert((row[0], row[1], row[2]), (kind, row));
            }
            let mut expected = Measures::default();
            for ((adv, _, minute), (kind, row)) in &newest {
                if *adv == advertiser && *minute >= from_minute && kind.is_add() {
                    expected.impressions += row[IMPRESSIONS];
                    expected.clicks += row[CLICKS];
                    expected.spend_micros += row[COST];
                }
            }
            prop_assert_eq!(view.measures_since(advertiser, from_minute), expected);
        }
    }
}
