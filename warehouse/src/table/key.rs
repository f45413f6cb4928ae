//! The primary key as a bucket writer holds it in its hash maps: inline for the usual narrow
//! keys, so a write needs no heap allocation for its key.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

/// Primary keys of at most this many columns are held inline (every table of the warehouse).
const INLINE_KEY_COLUMNS_MAX: usize = 3;

/// A primary key as the writer holds it: inline for the usual narrow keys, so a write needs
/// no heap allocation for its key. Compares, hashes and borrows as the `[i64]` slice it holds.
#[derive(Clone, Debug)]
pub(crate) enum PackedKey {
    Inline {
        len: u8,
        values: [i64; INLINE_KEY_COLUMNS_MAX],
    },
    Heap(Box<[i64]>),
}

impl PackedKey {
    /// The primary-key columns `pk_indices` of `row`.
    pub(crate) fn of_row(row: &[i64], pk_indices: &[usize]) -> Self {
        if pk_indices.len() > INLINE_KEY_COLUMNS_MAX {
            return Self::Heap(pk_indices.iter().map(|&i| row[i]).collect());
        }
        let mut values = [0; INLINE_KEY_COLUMNS_MAX];
        for (slot, &i) in values.iter_mut().zip(pk_indices) {
            *slot = row[i];
        }
        Self::Inline {
            len: pk_indices.len() as u8,
            values,
        }
    }

    pub(crate) fn of_key(key: &[i64]) -> Self {
        let all: Vec<usize> = (0..key.len()).collect();
        Self::of_row(key, &all)
    }

    #[inline]
    pub(crate) fn as_slice(&self) -> &[i64] {
        match self {
            Self::Inline { len, values } => &values[..usize::from(*len)],
            Self::Heap(values) => values,
        }
    }
}

impl PartialEq for PackedKey {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            // Unused inline slots are zero: whole arrays compare without a call to memcmp.
            (
                Self::Inline { len, values },
                Self::Inline {
                    len: other_len,
                    values: other_values,
                },
            ) => len == other_len && values == other_values,
            _ => self.as_slice() == other.as_slice(),
        }
    }
}

impl Eq for PackedKey {}

impl PartialOrd for PackedKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PackedKey {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        let (mine, theirs) = (self.as_slice(), other.as_slice());
        for (a, b) in mine.iter().zip(theirs) {
            match a.cmp(b) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        mine.len().cmp(&theirs.len())
    }
}

impl Hash for PackedKey {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl Borrow<[i64]> for PackedKey {
    #[inline]
    fn borrow(&self) -> &[i64] {
        self.as_slice()
    }
}
