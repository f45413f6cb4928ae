//! A bucket's merged state as merge-on-read returns it: its live rows, column by column and sorted
//! by key (`BucketRows`), with the files and sequence numbers a writer continues from.

use std::collections::BTreeMap;

use super::super::Key;
use super::super::decode::Run;
use super::super::meta::DataFileMeta;
use super::super::runs;
use crate::row::Row;

/// A bucket's live rows sorted by key, stored column by column: one buffer per column however
/// many rows there are, so merge-on-read allocates per bucket rather than per row, and copies
/// stretches of a file's columns whole.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BucketRows {
    /// Primary-key columns, in primary-key order.
    keys: Vec<Vec<i64>>,
    /// Value columns, one per schema field.
    values: Vec<Vec<i64>>,
}

impl BucketRows {
    /// Empty rows of `key_width` key columns and `row_width` fields.
    ///
    /// # Panics
    /// If either width is zero (a primary-key table has both).
    pub fn new(key_width: usize, row_width: usize) -> Self {
        assert!(
            key_width > 0 && row_width > 0,
            "a primary-key table has keys and fields"
        );
        Self {
            keys: vec![Vec::new(); key_width],
            values: vec![Vec::new(); row_width],
        }
    }

    pub fn len(&self) -> usize {
        self.values.first().map_or(0, Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a row whose key is greater than every key present.
    ///
    /// # Panics
    /// If the key or row width is wrong, or the key does not follow the last one (a bucket's
    /// rows hold each key once, ascending).
    pub fn push(&mut self, key: &[i64], row: &[i64]) {
        assert!(
            key.len() == self.keys.len() && row.len() == self.values.len(),
            "key and row widths must match the table"
        );
        assert!(
            self.is_empty() || self.cmp_key(self.len() - 1, key.iter().copied()).is_lt(),
            "bucket rows must be pushed in strictly ascending key order"
        );
        for (column, &value) in self.keys.iter_mut().zip(key) {
            column.push(value);
        }
        for (column, &value) in self.values.iter_mut().zip(row) {
            column.push(value);
        }
    }

    /// Appends `records` (ascending keys) of `runs`, copying each stretch of consecutive
    /// records of one run column by column.
    pub(super) fn extend_from_runs(&mut self, runs: &[Run], records: &[runs::RecordId]) {
        let first_new = self.len();
        for column in self.keys.iter_mut().chain(&mut self.values) {
            column.reserve(records.len());
        }
        let mut start = 0;
        while start < records.len() {
            let (r, first) = records[start];
            let mut end = start + 1;
            while end < records.len() && records[end] == (r, first + (end - start)) {
                end += 1;
            }
            let stretch = first..first + (end - start);
            let sources = runs[r].keys.iter().chain(&runs[r].values);
            for (column, source) in self.keys.iter_mut().chain(&mut self.values).zip(sources) {
                column.extend_from_slice(&source.values()[stretch.clone()]);
            }
            start = end;
        }
        self.assert_ascending_from(first_new);
    }

    /// Compares row `i`'s key with `key`.
    fn cmp_key(&self, i: usize, key: impl Iterator<Item = i64>) -> std::cmp::Ordering {
        self.keys.iter().map(|column| column[i]).cmp(key)
    }

    /// Checks the keys from row `start` on (and the row before it) strictly ascend: what
    /// `extend_from_runs` copied in bulk, so merge-on-read never yields a key twice.
    fn assert_ascending_from(&self, start: usize) {
        let from = start.saturating_sub(1);
        let ascending = match self.keys.as_slice() {
            [column] => column[from..].windows(2).all(|w| w[0] < w[1]),
            _ => (from + 1..self.len())
                .all(|i| self.cmp_key(i - 1, self.keys.iter().map(|c| c[i])).is_lt()),
        };
        assert!(ascending, "merged bucket rows must strictly ascend by key");
    }

    /// The key of row `i` (ascending with `i`).
    pub fn key(&self, i: usize) -> Key {
        self.keys.iter().map(|column| column[i]).collect()
    }

    /// Row `i`, one value per schema field.
    pub fn row(&self, i: usize) -> Row {
        self.values.iter().map(|column| column[i]).collect()
    }

    /// (key, row) pairs in ascending key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (Key, Row)> + '_ {
        (0..self.len()).map(|i| (self.key(i), self.row(i)))
    }

    /// The row of `key`, if live.
    pub fn get(&self, key: &[i64]) -> Option<Row> {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = low + (high - low) / 2;
            match self.cmp_key(mid, key.iter().copied()) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return Some(self.row(mid)),
            }
        }
        None
    }
}

/// A bucket's merged state at a snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct BucketState {
    /// Live rows, sorted by key.
    pub rows: BucketRows,
    /// The bucket's live data files (its sorted runs), for the writer's compaction.
    pub files: Vec<DataFileMeta>,
    /// Highest `_SEQUENCE_NUMBER` in the bucket's files, -1 when it has none.
    pub max_sequence_number: i64,
    /// Deleted keys the merge engine must remember (deduplicate with `sequence.field` only):
    /// the delete's row, whose sequence field a later-arriving record must beat.
    pub tombstones: BTreeMap<Key, Row>,
}

impl Default for BucketState {
    fn default() -> Self {
        Self {
            rows: BucketRows::default(),
            files: Vec::new(),
            max_sequence_number: -1,
            tombstones: BTreeMap::new(),
        }
    }
}
