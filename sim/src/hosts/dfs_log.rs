//! The `dfs` host's disk: one append-only log of puts and deletes in the run's spill directory.
//! Storing an object costs an append rather than a new file (a file per object was 15% of a
//! smoke sweep's samples, in the kernel creating inodes), and bytes once written never change,
//! so the graveyard and the end-of-run dump name byte ranges of the log instead of copies.
//!
//! A record is a tag byte (1 put, 2 delete), the path's length (u32, little-endian), the path,
//! and for a put the object's length (u64) and its bytes. Each record is one synced append, so
//! a crash keeps every record whole and the log replays to the objects the dfs acknowledged.

use std::collections::BTreeMap;

use warehouse::env::LocalDisk;

use crate::world::{ObjectBytes, SpillDisk};

/// The log's path on the dfs host's disk.
const LOG_PATH: &str = "/dfs/objects.log";
const PUT: u8 = 1;
const DELETE: u8 = 2;

/// Where an object's bytes are in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub len: usize,
}

/// One dfs host's log.
pub struct ObjectLog {
    disk: SpillDisk,
}

impl ObjectLog {
    /// Opens the host's log and replays it: the live objects by path.
    pub fn open(disk: SpillDisk) -> (Self, BTreeMap<String, Extent>) {
        let log = Self { disk };
        let mut live = BTreeMap::new();
        let end = log.disk.file_len(LOG_PATH);
        let mut offset = 0;
        while offset < end {
            let head = log.read_at(offset, 5);
            let tag = head[0];
            let path_len = u32::from_le_bytes(head[1..5].try_into().expect("4 bytes")) as usize;
            let path = String::from_utf8(log.read_at(offset + 5, path_len))
                .expect("the dfs log holds UTF-8 paths it wrote");
            offset += 5 + path_len as u64;
            match tag {
                PUT => {
                    let len = u64::from_le_bytes(log.read_at(offset, 8).try_into().expect("8"));
                    offset += 8;
                    live.insert(
                        path,
                        Extent {
                            offset,
                            len: len as usize,
                        },
                    );
                    offset += len;
                }
                DELETE => {
                    live.remove(&path);
                }
                other => panic!("the dfs log has a record of unknown tag {other} before {offset}"),
            }
        }
        assert_eq!(offset, end, "the dfs log ends in a whole record");
        (log, live)
    }

    /// Appends `bytes` as object `path`; where they are.
    pub fn put(&self, path: &str, bytes: &[u8]) -> std::io::Result<Extent> {
        let mut header = Vec::with_capacity(13 + path.len());
        header.push(PUT);
        header.extend_from_slice(&(path.len() as u32).to_le_bytes());
        header.extend_from_slice(path.as_bytes());
        header.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        let start = self.disk.file_len(LOG_PATH);
        self.disk.append_parts_synced(LOG_PATH, &[&header, bytes])?;
        Ok(Extent {
            offset: start + header.len() as u64,
            len: bytes.len(),
        })
    }

    /// Appends the deletion of object `path`.
    pub fn delete(&self, path: &str) -> std::io::Result<()> {
        let mut record = Vec::with_capacity(5 + path.len());
        record.push(DELETE);
        record.extend_from_slice(&(path.len() as u32).to_le_bytes());
        record.extend_from_slice(path.as_bytes());
        self.disk.append_synced(LOG_PATH, &record)
    }

    /// The bytes at `extent`.
    pub fn read(&self, extent: Extent) -> Vec<u8> {
        self.read_at(extent.offset, extent.len)
    }

    /// The bytes at `extent`, to be read when asked (they never change).
    pub fn bytes_at(&self, extent: Extent) -> ObjectBytes {
        ObjectBytes::Spilled {
            disk: self.disk.clone(),
            path: LOG_PATH.to_string(),
            offset: extent.offset,
            len: extent.len,
        }
    }

    fn read_at(&self, offset: u64, len: usize) -> Vec<u8> {
        self.disk.read_written(LOG_PATH, offset, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::SpillDir;

    /// A restart replays the log to the objects written and not deleted since, and an extent
    /// keeps its bytes after its object is replaced or deleted.
    #[test]
    fn the_log_replays_to_the_live_objects_and_extents_never_change() {
        let dir = SpillDir::default();
        let (log, live) = ObjectLog::open(dir.disk("dfs"));
        assert!(live.is_empty());
        let first = log.put("t/a", b"one").unwrap();
        log.put("t/b", b"").unwrap();
        let second = log.put("t/a", b"two!").unwrap();
        log.put("t/c", b"three").unwrap();
        log.delete("t/c").unwrap();
        assert_eq!(log.read(first), b"one");
        assert_eq!(log.bytes_at(second).read(), b"two!");
        let (again, live) = ObjectLog::open(dir.disk("dfs"));
        assert_eq!(live.keys().collect::<Vec<_>>(), ["t/a", "t/b"]);
        assert_eq!(again.read(live["t/a"]), b"two!");
        assert_eq!(again.read(live["t/b"]), b"");
        assert_eq!(again.read(first), b"one");
    }
}
