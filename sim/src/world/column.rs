//! A column of integers held in the narrowest of 8, 16, 32 or 64 bits that every value fits:
//! the ground truth, TT's ledger and the checkers keep one value per event, and most of those
//! values (advertiser, slot, region ids; times within a run) need far fewer than 64 bits. It
//! grows a chunk at a time, never by copying what it holds. A column that grows with the run
//! (the ground truth's, the ledger's) writes its full chunks to an unlinked temporary file and
//! reads them back on demand, so the run's length does not show in its memory.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Values per chunk: a column grows a chunk at a time, so it never copies what it holds to
/// grow (a `Vec` doubling would, and every column of the ground truth doubles at the same
/// event), its spare capacity is at most one chunk, and a value that needs a wider width
/// widens only its own chunk. Small under test, so tests cross chunks.
pub(crate) const CHUNK_LEN: usize = if cfg!(test) { 8 } else { 1 << 16 };

/// Cold chunks a spilling column keeps read back at once: a reader that goes in id order needs
/// one, the exactly-once walk reads a checkpoint's few chunks once per bucket file.
const READ_CHUNKS_MAX: usize = 4;

/// Values in chunks of [`CHUNK_LEN`], each held in the narrowest width that fits all of its
/// values so far; a value that does not fit widens its chunk, so nothing is ever lost.
#[derive(Debug, Clone, Default)]
pub(crate) struct Column {
    chunks: Vec<Slot>,
    /// Where a spilling column's full chunks go (`None`: every chunk stays in memory).
    cold: Option<ColdChunks>,
}

/// A chunk in memory, or written to the column's file.
#[derive(Debug, Clone)]
enum Slot {
    Hot(Chunk),
    Cold(ColdChunk),
}

/// Where a cold chunk's values are in the column's file, and in what width.
#[derive(Debug, Clone, Copy)]
struct ColdChunk {
    offset: u64,
    rank: u8,
    len: usize,
}

/// A spilling column's file and the cold chunks last read back from it.
#[derive(Debug, Clone, Default)]
struct ColdChunks {
    /// Created at the first spill; shared by the column's clones, which append past each other.
    file: Option<Arc<ColdFile>>,
    /// (chunk index, its values), the most recently read last.
    read: RefCell<Vec<(usize, Chunk)>>,
}

/// An unlinked temporary file: its bytes leave with the last handle, whatever ends the run.
#[derive(Debug)]
struct ColdFile {
    file: File,
    end: AtomicU64,
}

/// The temporary file failed: the run cannot keep its ground truth, so it stops with the fix.
fn cold_file_failed(error: &std::io::Error) -> ! {
    panic!(
        "cannot keep the run's columns in the temporary directory {} ({error}): free space there or point TMPDIR at a disk with room, and run again",
        std::env::temp_dir().display()
    )
}

impl ColdFile {
    fn create() -> Self {
        static FILES: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "dwsim-column-{}-{}",
            std::process::id(),
            FILES.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap_or_else(|e| cold_file_failed(&e));
        std::fs::remove_file(&path).unwrap_or_else(|e| cold_file_failed(&e));
        Self {
            file,
            end: AtomicU64::new(0),
        }
    }

    /// Writes `chunk`'s values past everything written before and says where.
    fn write(&self, chunk: &Chunk) -> ColdChunk {
        let bytes = chunk.to_le_bytes();
        let offset = self.end.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.file
            .write_all_at(&bytes, offset)
            .unwrap_or_else(|e| cold_file_failed(&e));
        ColdChunk {
            offset,
            rank: chunk.rank(),
            len: chunk.len(),
        }
    }

    fn read(&self, cold: ColdChunk) -> Chunk {
        let mut bytes = vec![0; cold.len << cold.rank];
        self.file
            .read_exact_at(&mut bytes, cold.offset)
            .unwrap_or_else(|e| cold_file_failed(&e));
        Chunk::from_le_bytes(cold.rank, &bytes)
    }
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

    #[inline]
    fn get(&self, index: usize) -> i64 {
        match self {
            Self::W8(values) => i64::from(values[index]),
            Self::W16(values) => i64::from(values[index]),
            Self::W32(values) => i64::from(values[index]),
            Self::W64(values) => values[index],
        }
    }

    /// The values, each widened to 64 bits.
    fn to_i64s(&self) -> Vec<i64> {
        match self {
            Self::W8(values) => values.iter().map(|&v| i64::from(v)).collect(),
            Self::W16(values) => values.iter().map(|&v| i64::from(v)).collect(),
            Self::W32(values) => values.iter().map(|&v| i64::from(v)).collect(),
            Self::W64(values) => values.clone(),
        }
    }

    /// The values, little-endian in the chunk's width.
    fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            Self::W8(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Self::W16(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Self::W32(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Self::W64(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    /// The chunk `to_le_bytes` wrote in `rank`'s width.
    fn from_le_bytes(rank: u8, bytes: &[u8]) -> Self {
        fn values<const N: usize, T>(bytes: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
            let mut values = Vec::with_capacity(CHUNK_LEN);
            values.extend(
                bytes
                    .chunks_exact(N)
                    .map(|value| from(value.try_into().expect("chunks_exact gives N bytes"))),
            );
            values
        }
        match rank {
            0 => Self::W8(values(bytes, i8::from_le_bytes)),
            1 => Self::W16(values(bytes, i16::from_le_bytes)),
            2 => Self::W32(values(bytes, i32::from_le_bytes)),
            _ => Self::W64(values(bytes, i64::from_le_bytes)),
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
    /// An empty column that writes each chunk to a temporary file once the next one starts,
    /// keeping in memory only the chunk it fills and the few cold chunks it last read back.
    pub(crate) fn spilling() -> Self {
        Self {
            chunks: Vec::new(),
            cold: Some(ColdChunks::default()),
        }
    }

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
        if let Some(Slot::Hot(chunk)) = self.chunks.last_mut()
            && chunk.len() < CHUNK_LEN
        {
            chunk.widen_to(needed);
            chunk.push_fitting(value);
            return;
        }
        // A new chunk starts as wide as the last one: a column's values stay alike.
        let rank = match self.chunks.last() {
            Some(Slot::Hot(chunk)) => chunk.rank(),
            Some(Slot::Cold(cold)) => cold.rank,
            None => 0,
        }
        .max(needed);
        self.spill_last();
        let mut chunk = Chunk::empty(rank);
        chunk.push_fitting(value);
        self.chunks.push(Slot::Hot(chunk));
    }

    /// A spilling column's last chunk, full, goes to the file.
    fn spill_last(&mut self) {
        let (Some(cold), Some(last)) = (&mut self.cold, self.chunks.last_mut()) else {
            return;
        };
        let Slot::Hot(chunk) = last else {
            return;
        };
        let file = cold
            .file
            .get_or_insert_with(|| Arc::new(ColdFile::create()));
        *last = Slot::Cold(file.write(chunk));
    }

    /// Replaces the value at `index`; panics past the last. A cold chunk is read back, changed
    /// and written again (nothing calls this often on a spilling column).
    pub(crate) fn set(&mut self, index: usize, value: i64) {
        let (at, offset) = (index / CHUNK_LEN, index % CHUNK_LEN);
        match &mut self.chunks[at] {
            Slot::Hot(chunk) => chunk.set(offset, value),
            Slot::Cold(cold) => {
                let cold = *cold;
                let spilled = self
                    .cold
                    .as_mut()
                    .expect("only a spilling column has cold chunks");
                let file = spilled
                    .file
                    .as_ref()
                    .expect("a cold chunk was written to the file");
                let mut chunk = file.read(cold);
                chunk.set(offset, value);
                self.chunks[at] = Slot::Cold(file.write(&chunk));
                spilled.read.get_mut().retain(|(read_at, _)| *read_at != at);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        let last_len = match self.chunks.last() {
            None => return 0,
            Some(Slot::Hot(chunk)) => chunk.len(),
            Some(Slot::Cold(cold)) => cold.len,
        };
        (self.chunks.len() - 1) * CHUNK_LEN + last_len
    }

    #[inline]
    pub(crate) fn get(&self, index: usize) -> i64 {
        let (at, offset) = (index / CHUNK_LEN, index % CHUNK_LEN);
        match &self.chunks[at] {
            Slot::Hot(chunk) => chunk.get(offset),
            Slot::Cold(cold) => self.get_cold(at, *cold, offset),
        }
    }

    /// Chunks the values are held in: chunk `at` holds the values from `at * CHUNK_LEN`.
    pub(crate) fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// The values of chunk `at`, widened: what a pass in order reads, a chunk at a time, rather
    /// than going value by value through `get` (and a cold chunk through the read-back cache,
    /// which this leaves as it is for the lookups by index).
    pub(crate) fn chunk_values(&self, at: usize) -> Vec<i64> {
        match &self.chunks[at] {
            Slot::Hot(chunk) => chunk.to_i64s(),
            Slot::Cold(cold) => self
                .cold
                .as_ref()
                .and_then(|spilled| spilled.file.as_ref())
                .expect("a cold chunk was written to the column's file")
                .read(*cold)
                .to_i64s(),
        }
    }

    /// Every value in order, a chunk at a time.
    pub(crate) fn values(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.chunks.len()).flat_map(move |at| self.chunk_values(at))
    }

    /// The value at `offset` of cold chunk `at`, read back unless it was among the last read.
    #[inline(never)]
    fn get_cold(&self, at: usize, cold: ColdChunk, offset: usize) -> i64 {
        let spilled = self
            .cold
            .as_ref()
            .expect("only a spilling column has cold chunks");
        if let Some((_, chunk)) = spilled
            .read
            .borrow()
            .last()
            .filter(|(read_at, _)| *read_at == at)
        {
            return chunk.get(offset);
        }
        let mut read = spilled.read.borrow_mut();
        if let Some(position) = read.iter().position(|(read_at, _)| *read_at == at) {
            if position + 1 != read.len() {
                let entry = read.remove(position);
                read.push(entry);
            }
            return read[read.len() - 1].1.get(offset);
        }
        let file = spilled
            .file
            .as_ref()
            .expect("a cold chunk was written to the file");
        let chunk = file.read(cold);
        let value = chunk.get(offset);
        if read.len() == READ_CHUNKS_MAX {
            read.remove(0);
        }
        read.push((at, chunk));
        value
    }

    /// Each chunk's width rank and length, cold or not.
    #[cfg(test)]
    fn shapes(&self) -> impl Iterator<Item = (u8, usize)> + '_ {
        self.chunks.iter().map(|slot| match slot {
            Slot::Hot(chunk) => (chunk.rank(), chunk.len()),
            Slot::Cold(cold) => (cold.rank, cold.len),
        })
    }

    /// The widest of the chunks' widths, as a rank.
    #[cfg(test)]
    fn rank(&self) -> u8 {
        self.shapes().map(|(rank, _)| rank).max().unwrap_or(0)
    }

    /// Bytes the values take (not counting spare capacity), in memory or in the file.
    #[cfg(test)]
    fn value_bytes(&self) -> usize {
        self.shapes().map(|(rank, len)| len << rank).sum()
    }

    /// Chunks held in memory, not counting those read back.
    #[cfg(test)]
    fn hot_chunks(&self) -> usize {
        self.chunks
            .iter()
            .filter(|slot| matches!(slot, Slot::Hot(_)))
            .count()
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
            spilling in any::<bool>(),
        ) {
            let mut column = if spilling { Column::spilling() } else { Column::default() };
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
            // A pass in order, a chunk at a time, reads the same (cold chunks from the file).
            prop_assert!(column.values().eq(expected.iter().copied()));
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
            // A spilling column holds only the chunk it fills; the others are in its file.
            let hot_max = if spilling { 1 } else { column.chunks.len() };
            prop_assert!(column.hot_chunks() <= hot_max);
            // Read again backwards, past what the read-back cache holds.
            let backwards: Vec<i64> = (0..column.len()).rev().map(|i| column.get(i)).collect();
            prop_assert!(backwards.iter().rev().eq(expected.iter()));
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
