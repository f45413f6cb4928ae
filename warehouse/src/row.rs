//! The in-memory row model shared by the queue, the table store and the jobs: every column of the
//! ad warehouse is an integer or a small string enum, so a row is a slice of `i64` and stays cheap
//! to hash, compare, copy and encode.

use serde::{Deserialize, Serialize};

/// A row: one `i64` per field of its schema. Enum fields hold the symbol's index.
pub type Row = Vec<i64>;

/// SQL NULL in a [`Row`]. Only the value fields of tables whose merge engine needs nulls
/// (`partial-update`, `aggregation`) are nullable; there this value is written as a real Parquet
/// null and a Parquet null reads back as this value. Everywhere else it is an ordinary integer
/// (nullable columns therefore cannot hold `i64::MIN` itself).
pub const NULL: i64 = i64::MIN;

/// The type of one field, as Paimon would name it in a schema file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldType {
    /// Paimon `BIGINT`, Parquet INT64.
    BigInt,
    /// Paimon `STRING` restricted to known symbols; Parquet UTF8; in memory the symbol index.
    Enum(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub field_type: FieldType,
}

impl Field {
    pub fn bigint(name: &str) -> Self {
        Self {
            name: name.to_string(),
            field_type: FieldType::BigInt,
        }
    }
    pub fn enumeration(name: &str, symbols: &[&str]) -> Self {
        Self {
            name: name.to_string(),
            field_type: FieldType::Enum(symbols.iter().map(|s| s.to_string()).collect()),
        }
    }
}

/// Paimon's `_VALUE_KIND`: 0 = +I, 1 = -U, 2 = +U, 3 = -D.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RowKind {
    Insert = 0,
    UpdateBefore = 1,
    UpdateAfter = 2,
    Delete = 3,
}

impl RowKind {
    pub fn as_byte(self) -> i8 {
        self as i8
    }
    pub fn from_byte(byte: i8) -> Option<Self> {
        match byte {
            0 => Some(Self::Insert),
            1 => Some(Self::UpdateBefore),
            2 => Some(Self::UpdateAfter),
            3 => Some(Self::Delete),
            _ => None,
        }
    }
    /// +I and +U add a row's contribution; -U and -D retract it.
    pub fn is_add(self) -> bool {
        matches!(self, Self::Insert | Self::UpdateAfter)
    }
    pub fn short_name(self) -> &'static str {
        match self {
            Self::Insert => "+I",
            Self::UpdateBefore => "-U",
            Self::UpdateAfter => "+U",
            Self::Delete => "-D",
        }
    }
}

/// A stable 64-bit hash of integers (FNV-1a over little-endian bytes, then a finaliser).
/// Used for bucket assignment and fingerprints: unlike std's hasher it never changes.
pub fn stable_hash(values: &[i64]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for value in values {
        for byte in value.to_le_bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    // splitmix64 finaliser spreads FNV's weak low bits.
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// A fast, fixed (unseeded) hasher for maps that are looked up but never iterated, such as a
/// bucket writer's key index. Fixed means the same on every run and every machine.
#[derive(Default, Clone, Copy)]
pub struct StableHasher {
    state: u64,
}

impl std::hash::Hasher for StableHasher {
    #[inline]
    fn finish(&self) -> u64 {
        let mut hash = self.state;
        hash ^= hash >> 33;
        hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
        hash ^ (hash >> 33)
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.write_u64(u64::from_le_bytes(word.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.state = (self.state.rotate_left(5) ^ value).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    #[inline]
    fn write_i64(&mut self, value: i64) {
        self.write_u64(value as u64);
    }
    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }
}

/// A hash map whose lookups never depend on a random seed. Never iterate it where order matters.
pub type StableHashMap<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<StableHasher>>;
