//! A column of integers held in the narrowest of 8, 16, 32 or 64 bits that every value fits:
//! the ground truth, TT's ledger and the checkers keep one value per event, and most of those
//! values (advertiser, slot, region ids; times within a run) need far fewer than 64 bits.

/// Values held in the narrowest width that fits all of them so far; a value that does not fit
/// widens the whole column, so nothing is ever lost.
#[derive(Debug, Clone)]
pub(crate) enum Column {
    W8(Vec<i8>),
    W16(Vec<i16>),
    W32(Vec<i32>),
    W64(Vec<i64>),
}

impl Default for Column {
    fn default() -> Self {
        Self::W8(Vec::new())
    }
}

/// The width rank a value needs: 0 for 8 bits up to 3 for 64.
fn rank_of(value: i64) -> u8 {
    if i8::try_from(value).is_ok() {
        0
    } else if i16::try_from(value).is_ok() {
        1
    } else if i32::try_from(value).is_ok() {
        2
    } else {
        3
    }
}

impl Column {
    /// `len` copies of `value`.
    pub(crate) fn filled(value: i64, len: usize) -> Self {
        let mut column = Self::default();
        column.widen_to(rank_of(value));
        match &mut column {
            Self::W8(values) => values.resize(len, value as i8),
            Self::W16(values) => values.resize(len, value as i16),
            Self::W32(values) => values.resize(len, value as i32),
            Self::W64(values) => values.resize(len, value),
        }
        column
    }

    fn rank(&self) -> u8 {
        match self {
            Self::W8(_) => 0,
            Self::W16(_) => 1,
            Self::W32(_) => 2,
            Self::W64(_) => 3,
        }
    }

    /// Re-holds every value in at least the width of `rank` (never narrower than now).
    fn widen_to(&mut self, rank: u8) {
        if rank <= self.rank() {
            return;
        }
        let values: Vec<i64> = (0..self.len()).map(|index| self.get(index)).collect();
        *self = match rank {
            1 => Self::W16(values.iter().map(|&v| v as i16).collect()),
            2 => Self::W32(values.iter().map(|&v| v as i32).collect()),
            _ => Self::W64(values),
        };
    }

    pub(crate) fn push(&mut self, value: i64) {
        self.widen_to(rank_of(value));
        // After widening, `value` fits the column's width: the casts below are exact.
        match self {
            Self::W8(values) => values.push(value as i8),
            Self::W16(values) => values.push(value as i16),
            Self::W32(values) => values.push(value as i32),
            Self::W64(values) => values.push(value),
        }
    }

    /// Replaces the value at `index`; panics past the last.
    pub(crate) fn set(&mut self, index: usize, value: i64) {
        self.widen_to(rank_of(value));
        match self {
            Self::W8(values) => values[index] = value as i8,
            Self::W16(values) => values[index] = value as i16,
            Self::W32(values) => values[index] = value as i32,
            Self::W64(values) => values[index] = value,
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Self::W8(values) => values.len(),
            Self::W16(values) => values.len(),
            Self::W32(values) => values.len(),
            Self::W64(values) => values.len(),
        }
    }

    pub(crate) fn get(&self, index: usize) -> i64 {
        match self {
            Self::W8(values) => i64::from(values[index]),
            Self::W16(values) => i64::from(values[index]),
            Self::W32(values) => i64::from(values[index]),
            Self::W64(values) => values[index],
        }
    }

    /// Bytes the values take (not counting spare capacity).
    #[cfg(test)]
    pub(crate) fn value_bytes(&self) -> usize {
        self.len() << self.rank()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever values arrive in whatever order, pushed or set, every one reads back
        /// exactly, and the column is no wider than its widest value needs.
        #[test]
        fn values_read_back_exactly_in_the_narrowest_width(
            pushed in prop::collection::vec(
                prop_oneof![any::<i8>().prop_map(i64::from), any::<i16>().prop_map(i64::from),
                            any::<i32>().prop_map(i64::from), any::<i64>()], 0..200),
            sets in prop::collection::vec((any::<usize>(), any::<i64>()), 0..20),
        ) {
            let mut column = Column::default();
            let mut expected = Vec::new();
            for &value in &pushed {
                column.push(value);
                expected.push(value);
            }
            for &(at, value) in &sets {
                if !expected.is_empty() {
                    let index = at % expected.len();
                    column.set(index, value);
                    expected[index] = value;
                }
            }
            let read: Vec<i64> = (0..column.len()).map(|i| column.get(i)).collect();
            prop_assert_eq!(&read, &expected);
            let ever_held = pushed.iter().chain(sets.iter().map(|(_, v)| v));
            let widest_ever = ever_held.map(|&v| rank_of(v)).max().unwrap_or(0);
            let widest_now = expected.iter().map(|&v| rank_of(v)).max().unwrap_or(0);
            prop_assert!(widest_now <= column.rank() && column.rank() <= widest_ever);
            prop_assert_eq!(column.value_bytes(), expected.len() << column.rank());
        }
    }

    #[test]
    fn filled_holds_the_value_everywhere_in_its_width() {
        let column = Column::filled(i64::MIN, 3);
        assert_eq!(
            (column.get(0), column.get(2), column.rank()),
            (i64::MIN, i64::MIN, 3)
        );
        let column = Column::filled(0, 5);
        assert_eq!((column.len(), column.rank()), (5, 0));
    }
}
