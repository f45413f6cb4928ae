//! Which rows a bucket writer holds (`HeldRows`), and the live keys of a bucket's flushed files
//! as a writer that does not hold their rows keeps them: sorted in one flat buffer, a key's columns
//! side by side, so a key costs its 8 bytes a column rather than a hash-map entry and a row.

use std::cmp::Ordering;

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

/// Sorted, distinct primary keys of `width` columns each, in one buffer.
#[derive(Clone, Debug)]
pub(crate) struct FlushedKeys {
    width: usize,
    values: Vec<i64>,
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
            values: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.values.len() / self.width
    }

    fn key(&self, i: usize) -> &[i64] {
        &self.values[i * self.width..(i + 1) * self.width]
    }

    /// The number of keys less than `key`.
    fn rank(&self, key: &[i64]) -> usize {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = low + (high - low) / 2;
            if self.key(mid) < key {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low
    }

    pub(crate) fn contains(&self, key: &[i64]) -> bool {
        assert_eq!(key.len(), self.width, "key width must match the table's");
        let len = self.len();
        // Keys mostly arrive ascending (event ids): a key past the last is the common case.
        if len == 0 || self.key(len - 1) < key {
            return false;
        }
        let i = self.rank(key);
        i < len && self.key(i) == key
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
        // Only the keys from the first new one on move; for ascending ids that is none.
        let tail = self.values.split_off(self.rank(first) * self.width);
        let mut old = tail.chunks_exact(self.width).peekable();
        let mut last: Option<&[i64]> = None;
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
                last.is_none_or(|last| last < next),
                "flushed keys must be added in strictly ascending order"
            );
            self.values.extend_from_slice(next);
            last = Some(next);
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

    #[test]
    #[should_panic(expected = "was written again")]
    fn a_key_flushed_twice_is_refused() {
        let mut keys = FlushedKeys::new(1);
        keys.insert_ascending([[10], [20]].iter().map(|k| &k[..]));
        keys.insert_ascending([[20]].iter().map(|k| &k[..]));
    }
}
