//! A column of integers held in the narrowest of 8, 16, 32 or 64 bits that every value fits:
//! the ground truth, TT's ledger and the checkers keep one value per event, and most of those
//! values (advertiser, slot, region ids; times within a run) need far fewer than 64 bits. It
//! grows a chunk at a time, never by copying what it holds.

/// Values per chunk: a column grows a chunk at a time, so it never copies what it holds to
/// grow (a `Vec` doubling would, and every column of the ground truth doubles at the same
/// event), its spare capacity is at most one chunk, and a value that needs a wider width
/// widens only its own chunk. Small under test, so tests cross chunks.
const CHUNK_LEN: usize = if cfg!(test) { 8 } else { 1 << 16 };

/// Values in chunks of [`CHUNK_LEN`], each held in the narrowest width that fits all of its
/// values so far; a value that does not fit widens its chunk, so nothing is ever lost.
#[derive(Debug, Clone, Default)]
pub(crate) struct Column {
    chunks: Vec<Chunk>,
}

#[derive(Debug, Clone)]
enum Chunk {
    W8(Vec<i8>),
    W16(Vec<i16>),
    W32(Vec<i32>),
    W64(Vec<i64>),
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

impl Chunk {
    /// An empty chunk of `rank`'s width with room for a whole chunk.
    fn empty(rank: u8) -> Self {
        match rank {
            0 => Self::W8(Vec::with_capacity(CHUNK_LEN)),
            1 => Self::W16(Vec::with_capacity(CHUNK_LEN)),
            2 => Self::W32(Vec::with_capacity(CHUNK_LEN)),
            _ => Self::W64(Vec::with_capacity(CHUNK_LEN)),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Self::W8(_) => 0,
            Self::W16(_) => 1,
            Self::W32(_) => 2,
            Self::W64(_) => 3,
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::W8(values) => values.len(),
            Self::W16(values) => values.len(),
            Self::W32(values) => values.len(),
            Self::W64(values) => values.len(),
        }
    }

    fn get(&self, index: usize) -> i64 {
        match self {
            Self::W8(values) => i64::from(values[index]),
            Self::W16(values) => i64::from(values[index]),
            Self::W32(values) => i64::from(values[index]),
            Self::W64(values) => values[index],
        }
    }

    /// Re-holds every value in at least the width of `rank` (never narrower than now).
    fn widen_to(&mut self, rank: u8) {
        if rank <= self.rank() {
            return;
        }
        let mut wider = Self::empty(rank);
        for index in 0..self.len() {
            wider.push_fitting(self.get(index));
        }
        *self = wider;
    }

    /// Appends `value`, which the chunk's width holds (the casts are exact).
    fn push_fitting(&mut self, value: i64) {
        match self {
            Self::W8(values) => values.push(value as i8),
            Self::W16(values) => values.push(value as i16),
            Self::W32(values) => values.push(value as i32),
            Self::W64(values) => values.push(value),
        }
    }

    fn set(&mut self, index: usize, value: i64) {
        self.widen_to(rank_of(value));
        // After widening, `value` fits the chunk's width: the casts below are exact.
        match self {
            Self::W8(values) => values[index] = value as i8,
            Self::W16(values) => values[index] = value as i16,
            Self::W32(values) => values[index] = value as i32,
            Self::W64(values) => values[index] = value,
        }
    }
}

impl Column {
    /// `len` copies of `value`.
    pub(crate) fn filled(value: i64, len: usize) -> Self {
        let mut column = Self::default();
        for _ in 0..len {
            column.push(value);
        }
        column
    }

    pub(crate) fn push(&mut self, value: i64) {
        let needed = rank_of(value);
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK_LEN => {
                chunk.widen_to(needed);
                chunk.push_fitting(value);
            }
            // A new chunk starts as wide as the last one: a column's values stay alike.
            full => {
                let rank = full.map_or(needed, |chunk| chunk.rank().max(needed));
                let mut chunk = Chunk::empty(rank);
                chunk.push_fitting(value);
                self.chunks.push(chunk);
            }
        }
    }

    /// Replaces the value at `index`; panics past the last.
    pub(crate) fn set(&mut self, index: usize, value: i64) {
        self.chunks[index / CHUNK_LEN].set(index % CHUNK_LEN, value);
    }

    pub(crate) fn len(&self) -> usize {
        self.chunks
            .last()
            .map_or(0, |last| (self.chunks.len() - 1) * CHUNK_LEN + last.len())
    }

    pub(crate) fn get(&self, index: usize) -> i64 {
        self.chunks[index / CHUNK_LEN].get(index % CHUNK_LEN)
    }

    /// The widest of the chunks' widths, as a rank.
    #[cfg(test)]
    fn rank(&self) -> u8 {
        self.chunks.iter().map(Chunk::rank).max().unwrap_or(0)
    }

    /// Bytes the values take (not counting spare capacity).
    #[cfg(test)]
    fn value_bytes(&self) -> usize {
        self.chunks.iter().map(|c| c.len() << c.rank()).sum()
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
            // A chunk is as narrow as its values allow, or as the chunk before it.
            prop_assert!(column.value_bytes() <= expected.len() << widest_ever);
            let narrowest = expected.chunks(CHUNK_LEN).map(|chunk| {
                chunk.len() << chunk.iter().map(|&v| rank_of(v)).max().unwrap_or(0)
            });
            prop_assert!(column.value_bytes() >= narrowest.sum::<usize>());
        }
    }

    #[test]
    fn filled_holds_the_value_everywhere_in_its_width() {
        let column = Column::filled(i64::MIN, 3);
        assert_eq!(
            (column.get(0), column.get(2), column.rank()),
            (i64::MIN, i64::MIN, 3)
        );
        let column = Column::filled(0, 3 * CHUNK_LEN + 1);
        assert_eq!((column.len(), column.rank()), (3 * CHUNK_LEN + 1, 0));
        assert_eq!(column.get(3 * CHUNK_LEN), 0);
    }
}
