//! Which rows a bucket writer holds (`HeldRows`), and the live keys of a bucket's flushed files
//! as a writer that does not hold their rows keeps them: sorted and delta-encoded in blocks, so a
//! key costs a byte or two rather than a hash-map entry and a row.

use std::cmp::Ordering;

use super::avro_container::{Cursor, zigzag};

/// Which rows a bucket writer holds in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeldRows {
    /// Every live row of the bucket, flushed or not: what a caller that reads or rewrites any
    /// key needs (the DWS job folds each event into its minute's row).
    All,
    /// The batch's rows, and of the flushed files only their live keys: for a caller that never
    /// rewrites a flushed key (ODS → DWD drops a producer retry before writing it), so a key
    /// costs its 8 bytes a column rather than its row. Plain deduplicate tables only.
    Unflushed,
}

/// Keys a block holds: a lookup decodes at most this many.
const BLOCK_KEYS_MAX: usize = 64;

/// Sorted, distinct primary keys of `width` columns each, in blocks of up to `BLOCK_KEYS_MAX`:
/// a block's first key whole, each later key as its columns' zigzag varint differences from the
/// key before. A bucket's event ids ascend by a few at a time, so a key takes a byte or two
/// instead of 8 bytes a column: this set grows with every event a run writes.
#[derive(Clone, Debug)]
pub(crate) struct FlushedKeys {
    width: usize,
    /// The first key of each block, `width` columns each.
    block_firsts: Vec<i64>,
    /// Where each block's differences start in `differences`.
    block_starts: Vec<usize>,
    /// Keys in each block.
    block_lens: Vec<u8>,
    differences: Vec<u8>,
    len: usize,
    /// The greatest key held (empty when none): most lookups are of new event ids, past it.
    greatest: Vec<i64>,
}

impl FlushedKeys {
    /// No keys, of `width` columns each.
    ///
    /// # Panics
    /// If `width` is zero (a primary key has a column).
    pub(crate) fn new(width: usize) -> Self {
        assert!(width > 0, "a primary key has at least one column");
        Self {
            width,
            block_firsts: Vec::new(),
            block_starts: Vec::new(),
            block_lens: Vec::new(),
            differences: Vec::new(),
            len: 0,
            greatest: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn blocks(&self) -> usize {
        self.block_lens.len()
    }

    fn block_first(&self, block: usize) -> &[i64] {
        &self.block_firsts[block * self.width..(block + 1) * self.width]
    }

    /// Calls `visit` with each key of `block` in order until it returns false.
    fn for_each_in_block(&self, block: usize, mut visit: impl FnMut(&[i64]) -> bool) {
        let mut key = self.block_first(block).to_vec();
        if !visit(&key) {
            return;
        }
        let mut differences = Cursor::new(&self.differences, self.block_starts[block]);
        for _ in 1..self.block_lens[block] {
            for column in &mut key {
                let difference = differences
                    .long()
                    .expect("a block's differences are this set's own whole varints");
                *column = column.wrapping_add(difference);
            }
            if !visit(&key) {
                return;
            }
        }
    }

    /// The last block whose first key is at most `key`, if any.
    fn block_of(&self, key: &[i64]) -> Option<usize> {
        let (mut low, mut high) = (0, self.blocks());
        while low < high {
            let mid = low + (high - low) / 2;
            if self.block_first(mid) <= key {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low.checked_sub(1)
    }

    pub(crate) fn contains(&self, key: &[i64]) -> bool {
        assert_eq!(key.len(), self.width, "key width must match the table's");
        if self.len == 0 || self.greatest.as_slice() < key {
            return false;
        }
        let Some(block) = self.block_of(key) else {
            return false;
        };
        let mut found = false;
        self.for_each_in_block(block, |candidate| {
            found = candidate == key;
            candidate < key
        });
        found
    }

    /// Decodes and removes blocks `from..`, appending their keys to `out` in order.
    fn split_off_blocks(&mut self, from: usize, out: &mut Vec<i64>) {
        for block in from..self.blocks() {
            self.for_each_in_block(block, |key| {
                out.extend_from_slice(key);
                true
            });
        }
        if from < self.blocks() {
            self.differences.truncate(self.block_starts[from]);
        }
        let removed: usize = self.block_lens[from..]
            .iter()
            .map(|&n| usize::from(n))
            .sum();
        self.len -= removed;
        self.block_firsts.truncate(from * self.width);
        self.block_starts.truncate(from);
        self.block_lens.truncate(from);
    }

    /// Appends `key`, greater than every key held.
    fn push_greatest(&mut self, key: &[i64], previous: Option<&[i64]>) {
        match (self.block_lens.last_mut(), previous) {
            (Some(count), Some(previous)) if usize::from(*count) < BLOCK_KEYS_MAX => {
                *count += 1;
                for (column, before) in key.iter().zip(previous) {
                    zigzag(column.wrapping_sub(*before), &mut self.differences);
                }
            }
            _ => {
                self.block_firsts.extend_from_slice(key);
                self.block_starts.push(self.differences.len());
                self.block_lens.push(1);
            }
        }
        self.len += 1;
        self.greatest.clear();
        self.greatest.extend_from_slice(key);
    }

    /// Adds `keys`, strictly ascending and none present yet.
    ///
    /// # Panics
    /// If `keys` do not strictly ascend, have the wrong width, or one is present already: the
    /// writer's caller rewrote a flushed key, which only a writer holding rows can take.
    pub(crate) fn insert_ascending<'a>(&mut self, keys: impl IntoIterator<Item = &'a [i64]>) {
        let mut keys = keys.into_iter().peekable();
        let Some(first) = keys.peek() else {
            return;
        };
        assert_eq!(first.len(), self.width, "key width must match the table's");
        // Only the blocks from the one the first new key falls in move; for ascending ids that
        // is the last block at most.
        let from = self.block_of(first).unwrap_or(0);
        let mut tail = Vec::new();
        self.split_off_blocks(from, &mut tail);
        let mut previous: Option<Vec<i64>> = (from > 0).then(|| {
            let mut last = Vec::new();
            self.for_each_in_block(from - 1, |key| {
                last.clear();
                last.extend_from_slice(key);
                true
            });
            last
        });
        let mut old = tail.chunks_exact(self.width).peekable();
        loop {
            let next = match (old.peek(), keys.peek()) {
                (None, None) => break,
                (Some(_), None) => old.next(),
                (None, Some(_)) => keys.next(),
                (Some(a), Some(b)) => match (*a).cmp(*b) {
                    Ordering::Less => old.next(),
                    Ordering::Greater => keys.next(),
                    Ordering::Equal => panic!("flushed key {b:?} was written again"),
                },
            };
            let next = next.expect("one side had a key");
            assert_eq!(next.len(), self.width, "key width must match the table's");
            assert!(
                previous.as_deref().is_none_or(|last| last < next),
                "flushed keys must be added in strictly ascending order"
            );
            self.push_greatest(next, previous.as_deref());
            let last = previous.get_or_insert_with(Vec::new);
            last.clear();
            last.extend_from_slice(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FlushedKeys;

    #[test]
    fn keys_merge_in_order_and_are_found() {
        let mut keys = FlushedKeys::new(1);
        keys.insert_ascending([[10], [20], [30]].iter().map(|k| &k[..]));
        keys.insert_ascending([[15], [40]].iter().map(|k| &k[..]));
        keys.insert_ascending([[5]].iter().map(|k| &k[..]));
        let found: Vec<i64> = (0..45).filter(|k| keys.contains(&[*k])).collect();
        assert_eq!(found, [5, 10, 15, 20, 30, 40]);
        assert_eq!(keys.len(), 6);
    }

    #[test]
    fn wide_keys_compare_column_by_column() {
        let mut keys = FlushedKeys::new(2);
        keys.insert_ascending([[1, 9], [2, 0]].iter().map(|k| &k[..]));
        keys.insert_ascending([[1, 10]].iter().map(|k| &k[..]));
        assert!(keys.contains(&[1, 10]) && keys.contains(&[2, 0]));
        assert!(!keys.contains(&[1, 11]) && !keys.contains(&[2, 1]));
    }

    /// Against a sorted set: keys inserted in ascending batches that interleave with earlier
    /// ones, across many blocks and with gaps wide and narrow, are found and only they.
    #[test]
    fn interleaved_batches_across_blocks_match_a_sorted_set() {
        let mut keys = FlushedKeys::new(2);
        let mut model = std::collections::BTreeSet::new();
        let mut state = 7u64;
        for batch in 0..40 {
            let mut new: Vec<[i64; 2]> = Vec::new();
            for _ in 0..(batch * 13 % 150) {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let key = [
                    (state >> 40) as i64 % 3,
                    (state >> 8) as i64 % 50_000 - 25_000,
                ];
                if !model.contains(&key) && !new.contains(&key) {
                    new.push(key);
                }
            }
            if batch == 20 {
                new.push([i64::MIN, i64::MIN]);
                new.push([i64::MAX, i64::MAX]);
            }
            new.sort();
            keys.insert_ascending(new.iter().map(|k| &k[..]));
            model.extend(new);
            assert_eq!(keys.len(), model.len());
        }
        for a in -1..4 {
            for b in (-25_010..25_010).step_by(7) {
                assert_eq!(keys.contains(&[a, b]), model.contains(&[a, b]), "{a},{b}");
            }
        }
        for key in &model {
            assert!(keys.contains(key), "{key:?}");
        }
    }

    #[test]
    #[should_panic(expected = "was written again")]
    fn a_key_flushed_twice_is_refused() {
        let mut keys = FlushedKeys::new(1);
        keys.insert_ascending([[10], [20]].iter().map(|k| &k[..]));
        keys.insert_ascending([[20]].iter().map(|k| &k[..]));
    }
}
