//! The TT broker: per-partition segmented logs on the broker's local disk, synced before an append
//! is acknowledged, recovered on restart (a torn tail is cut, a corrupt record is an error), with
//! consumer-group positions and retention by time and size. The log is held once, on the disk:
//! the broker keeps each segment's record count and a fetch reads its records' range back.

use std::collections::BTreeMap;

use crate::env::LocalDisk;
use crate::event::{AdEvent, EVENT_WIRE_SIZE_BYTES};
use crate::tt::protocol::{FetchedRecords, TtRequest, TtResponse};

/// One stored record: append time (8) + event + checksum (4).
pub const STORED_RECORD_SIZE_BYTES: usize = 8 + EVENT_WIRE_SIZE_BYTES + 4;

#[derive(Debug, Clone, PartialEq)]
pub struct TtConfig {
    pub partitions: u32,
    /// A segment rolls after this many records.
    pub segment_records: u64,
    /// Whole segments whose last append is older than this are deleted. `None` keeps forever.
    pub retention_ms: Option<i64>,
    /// Per partition; oldest segments go first. `None` means unbounded.
    pub retention_bytes: Option<u64>,
    /// Upper bound on records returned by one fetch.
    pub fetch_max_records: u32,
}

impl Default for TtConfig {
    fn default() -> Self {
        Self {
            partitions: 4,
            segment_records: 50_000,
            retention_ms: None,
            retention_bytes: None,
            fetch_max_records: 20_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TtError {
    #[error("TT disk error at {path}: {source}")]
    Disk {
        path: String,
        source: std::io::Error,
    },
    #[error("TT log corrupt at {path}: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("TT has no partition {partition} (it has {partitions})")]
    NoSuchPartition { partition: u32, partitions: u32 },
}

struct Segment {
    base_offset: u64,
    /// Records synced to the segment's file (its length is exactly this many records).
    records: u64,
    last_append_ms: i64,
}

impl Segment {
    fn records(&self) -> u64 {
        self.records
    }
    fn end_offset(&self) -> u64 {
        self.base_offset + self.records()
    }
}

struct PartitionLog {
    dir: String,
    segments: Vec<Segment>,
    /// Offset of the next append when every segment was deleted by retention.
    next_offset_floor: u64,
}

impl PartitionLog {
    fn log_start(&self) -> u64 {
        self.segments
            .first()
            .map_or(self.next_offset_floor, |s| s.base_offset)
    }
    fn high_watermark(&self) -> u64 {
        self.segments
            .last()
            .map_or(self.next_offset_floor, Segment::end_offset)
    }
    fn size_bytes(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.records * STORED_RECORD_SIZE_BYTES as u64)
            .sum()
    }
}

pub struct Broker<D: LocalDisk> {
    disk: D,
    config: TtConfig,
    partitions: Vec<PartitionLog>,
    groups: BTreeMap<String, Vec<u64>>,
}

fn segment_path(dir: &str, base_offset: u64) -> String {
    format!("{dir}/{base_offset:020}.log")
}

/// A word-wise multiply-xor hash of the record body, folded to 32 bits. Allocation-free and
/// cheap: it runs on every append and every fetch of every record.
fn checksum(body: &[u8]) -> u32 {
    let mut hash: u64 = 0x9e37_79b9_7f4a_7c15 ^ body.len() as u64;
    let mut chunks = body.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
        hash = (hash ^ word)
            .wrapping_mul(0xff51_afd7_ed55_8ccd)
            .rotate_left(29);
    }
    for byte in chunks.remainder() {
        hash = (hash ^ u64::from(*byte)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    }
    hash ^= hash >> 33;
    (hash ^ (hash >> 32)) as u32
}

fn encode_record(out: &mut Vec<u8>, append_ms: i64, event: &AdEvent) {
    let start = out.len();
    out.extend_from_slice(&append_ms.to_le_bytes());
    event.encode_into(out);
    let sum = checksum(&out[start..]);
    out.extend_from_slice(&sum.to_le_bytes());
}

fn decode_record(bytes: &[u8]) -> Option<(i64, AdEvent)> {
    let body = &bytes[..STORED_RECORD_SIZE_BYTES - 4];
    let stored = u32::from_le_bytes(bytes[STORED_RECORD_SIZE_BYTES - 4..].try_into().ok()?);
    if checksum(body) != stored {
        return None;
    }
    let append_ms = i64::from_le_bytes(body[..8].try_into().ok()?);
    Some((append_ms, AdEvent::decode(&body[8..])?))
}

impl<D: LocalDisk> Broker<D> {
    /// Opens the log under `root` on `disk`, recovering every partition from its segments.
    pub fn open(disk: D, root: &str, config: TtConfig) -> Result<Self, TtError> {
        let mut partitions = Vec::new();
        for partition in 0..config.partitions {
            partitions.push(Self::recover_partition(
                &disk,
                format!("{root}/p{partition}"),
            )?);
        }
        let mut broker = Self {
            disk,
            config,
            partitions,
            groups: BTreeMap::new(),
        };
        broker.recover_groups(root)?;
        Ok(broker)
    }

    fn disk_error(path: &str) -> impl FnOnce(std::io::Error) -> TtError + '_ {
        move |source| TtError::Disk {
            path: path.to_string(),
            source,
        }
    }

    fn recover_partition(disk: &D, dir: String) -> Result<PartitionLog, TtError> {
        let mut names = disk.list(&dir).map_err(Self::disk_error(&dir))?;
        names.retain(|name| name.ends_with(".log"));
        let mut segments = Vec::new();
        for name in names {
            let path = format!("{dir}/{name}");
            let base_offset: u64 =
                name.trim_end_matches(".log")
                    .parse()
                    .map_err(|_| TtError::Corrupt {
                        path: path.clone(),
                        reason: "segment name is not an offset".into(),
                    })?;
            let mut bytes = disk
                .read(&path)
                .map_err(Self::disk_error(&path))?
                .unwrap_or_default();
            let whole = bytes.len() / STORED_RECORD_SIZE_BYTES * STORED_RECORD_SIZE_BYTES;
            if whole != bytes.len() {
                // A torn final write: the append was never acknowledged, so cutting it is safe.
                bytes.truncate(whole);
                disk.write_synced(&path, &bytes)
                    .map_err(Self::disk_error(&path))?;
            }
            let mut last_append_ms = 0;
            for (index, record) in bytes.chunks_exact(STORED_RECORD_SIZE_BYTES).enumerate() {
                let (append_ms, _) = decode_record(record).ok_or_else(|| TtError::Corrupt {
                    path: path.clone(),
                    reason: format!("record {index} fails its checksum"),
                })?;
                last_append_ms = append_ms;
            }
            if let Some(previous) = segments.last() {
                let previous: &Segment = previous;
                if previous.end_offset() != base_offset {
                    return Err(TtError::Corrupt {
                        path,
                        reason: format!(
                            "segment starts at {base_offset} but the previous one ends at {}",
                            previous.end_offset()
                        ),
                    });
                }
            }
            segments.push(Segment {
                base_offset,
                records: (bytes.len() / STORED_RECORD_SIZE_BYTES) as u64,
                last_append_ms,
            });
        }
        Ok(PartitionLog {
            dir,
            segments,
            next_offset_floor: 0,
        })
    }

    fn groups_dir(root_of_partition_dir: &str) -> String {
        format!("{root_of_partition_dir}/groups")
    }

    fn recover_groups(&mut self, root: &str) -> Result<(), TtError> {
        let dir = Self::groups_dir(root);
        for name in self.disk.list(&dir).map_err(Self::disk_error(&dir))? {
            let path = format!("{dir}/{name}");
            let bytes = self
                .disk
                .read(&path)
                .map_err(Self::disk_error(&path))?
                .unwrap_or_default();
            let text = String::from_utf8(bytes).map_err(|_| TtError::Corrupt {
                path: path.clone(),
                reason: "group offsets are not UTF-8".into(),
            })?;
            let offsets = text
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<Vec<u64>, _>>()
                .map_err(|_| TtError::Corrupt {
                    path: path.clone(),
                    reason: "group offsets are not numbers".into(),
                })?;
            self.groups.insert(name, offsets);
        }
        Ok(())
    }

    fn partition(&self, partition: u32) -> Result<&PartitionLog, TtError> {
        self.partitions
            .get(partition as usize)
            .ok_or(TtError::NoSuchPartition {
                partition,
                partitions: self.config.partitions,
            })
    }

    /// Appends and syncs `events`; returns the offset of the first.
    pub fn append(
        &mut self,
        partition: u32,
        events: &[AdEvent],
        now_ms: i64,
    ) -> Result<u64, TtError> {
        self.partition(partition)?;
        let segment_records = self.config.segment_records;
        let log = &mut self.partitions[partition as usize];
        let base_offset = log.high_watermark();
        let mut remaining = events;
        while !remaining.is_empty() {
            let needs_roll = log
                .segments
                .last()
                .is_none_or(|s| s.records() >= segment_records);
            if needs_roll {
                let base = log.high_watermark();
                // Segments are contiguous: each starts where the one before it ends.
                assert!(
                    log.segments.last().is_none_or(|s| s.end_offset() == base),
                    "a new segment starts at the high watermark"
                );
                log.segments.push(Segment {
                    base_offset: base,
                    records: 0,
                    last_append_ms: now_ms,
                });
            }
            let segment = log.segments.last_mut().expect("a segment exists");
            let room = (segment_records - segment.records()) as usize;
            let (chunk, rest) = remaining.split_at(room.min(remaining.len()));
            let mut encoded = Vec::with_capacity(chunk.len() * STORED_RECORD_SIZE_BYTES);
            for event in chunk {
                encode_record(&mut encoded, now_ms, event);
            }
            let path = segment_path(&log.dir, segment.base_offset);
            self.disk
                .append_synced(&path, &encoded)
                .map_err(Self::disk_error(&path))?;
            segment.records += chunk.len() as u64;
            segment.last_append_ms = now_ms;
            remaining = rest;
        }
        // Offsets only grow, by exactly the records appended: acknowledged offsets are final.
        assert_eq!(
            log.high_watermark(),
            base_offset + events.len() as u64,
            "partition {partition}: an append of {} records moves the high watermark by as many",
            events.len()
        );
        Ok(base_offset)
    }

    pub fn fetch(
        &self,
        partition: u32,
        offset: u64,
        max_records: u32,
    ) -> Result<TtResponse, TtError> {
        let log = self.partition(partition)?;
        let (log_start_offset, high_watermark) = (log.log_start(), log.high_watermark());
        if offset < log_start_offset || offset > high_watermark {
            return Ok(TtResponse::OffsetOutOfRange {
                log_start_offset,
                high_watermark,
            });
        }
        let limit = u64::from(max_records.min(self.config.fetch_max_records));
        let end = high_watermark.min(offset + limit);
        let mut events = Vec::with_capacity((end - offset) as usize);
        let mut append_times_ms = Vec::with_capacity((end - offset) as usize);
        let first = log.segments.partition_point(|s| s.end_offset() <= offset);
        let mut next = offset;
        for segment in &log.segments[first..] {
            if next >= end {
                break;
            }
            let from = (next - segment.base_offset) as usize;
            let to = (end.min(segment.end_offset()) - segment.base_offset) as usize;
            let path = segment_path(&log.dir, segment.base_offset);
            let wanted = (to - from) * STORED_RECORD_SIZE_BYTES;
            let bytes = self
                .disk
                .read_range(&path, (from * STORED_RECORD_SIZE_BYTES) as u64, wanted)
                .map_err(Self::disk_error(&path))?;
            if bytes.len() != wanted {
                return Err(TtError::Corrupt {
                    path,
                    reason: format!(
                        "records {from}..{to} need {wanted} bytes, the file holds {} of them",
                        bytes.len()
                    ),
                });
            }
            for record in bytes.chunks_exact(STORED_RECORD_SIZE_BYTES) {
                let (append_ms, event) = decode_record(record).ok_or_else(|| TtError::Corrupt {
                    path: path.clone(),
                    reason: "record fails its checksum".into(),
                })?;
                events.push(event);
                append_times_ms.push(append_ms);
            }
            next = segment.base_offset + to as u64;
        }
        // A fetch returns the contiguous records [offset, end): none skipped, none repeated.
        assert!(
            next.max(offset) == end && events.len() as u64 == end - offset,
            "partition {partition}: fetch from {offset} returned {} records, expected {}",
            events.len(),
            end - offset
        );
        Ok(TtResponse::Records(FetchedRecords {
            log_start_offset,
            high_watermark,
            events,
            append_times_ms,
        }))
    }

    pub fn commit_offset(
        &mut self,
        root: &str,
        group: &str,
        partition: u32,
        offset: u64,
    ) -> Result<(), TtError> {
        self.partition(partition)?;
        let partitions = self.config.partitions as usize;
        let offsets = self
            .groups
            .entry(group.to_string())
            .or_insert_with(|| vec![0; partitions]);
        offsets[partition as usize] = offset;
        let text: Vec<String> = offsets.iter().map(u64::to_string).collect();
        let path = format!("{}/{group}", Self::groups_dir(root));
        self.disk
            .write_synced(&path, text.join(" ").as_bytes())
            .map_err(Self::disk_error(&path))
    }

    pub fn group_offsets(&self, group: &str) -> Vec<u64> {
        self.groups
            .get(group)
            .cloned()
            .unwrap_or_else(|| vec![0; self.config.partitions as usize])
    }

    pub fn partition_offsets(&self) -> Vec<(u64, u64)> {
        self.partitions
            .iter()
            .map(|log| (log.log_start(), log.high_watermark()))
            .collect()
    }

    /// Deletes whole closed segments past the time or size retention. Returns records dropped.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<u64, TtError> {
        let mut dropped = 0;
        for log in &mut self.partitions {
            let high_watermark = log.high_watermark();
            while log.segments.len() > 1 {
                let oldest = &log.segments[0];
                let too_old = self
                    .config
                    .retention_ms
                    .is_some_and(|keep| oldest.last_append_ms < now_ms - keep);
                let too_big = self
                    .config
                    .retention_bytes
                    .is_some_and(|keep| log.size_bytes() > keep);
                if !(too_old || too_big) {
                    break;
                }
                let path = segment_path(&log.dir, oldest.base_offset);
                self.disk.remove(&path).map_err(Self::disk_error(&path))?;
                dropped += oldest.records();
                log.next_offset_floor = oldest.end_offset();
                log.segments.remove(0);
                // Retention moves the log start up to the next segment, never the end.
                assert!(
                    log.log_start() == log.next_offset_floor
                        && log.high_watermark() == high_watermark,
                    "retention drops whole segments from the start only"
                );
            }
        }
        Ok(dropped)
    }

    /// Serves one request; errors become `TtResponse::Error` so the caller sees them.
    pub fn handle(&mut self, root: &str, request: TtRequest, now_ms: i64) -> TtResponse {
        let result = match request {
            TtRequest::Append { partition, events } => self
                .append(partition, &events, now_ms)
                .map(|base_offset| TtResponse::Appended { base_offset }),
            TtRequest::Fetch {
                partition,
                offset,
                max_records,
            } => self.fetch(partition, offset, max_records),
            TtRequest::CommitOffset {
                group,
                partition,
                offset,
            } => self
                .commit_offset(root, &group, partition, offset)
                .map(|()| TtResponse::Ok),
            TtRequest::FetchOffsets { group } => {
                Ok(TtResponse::Offsets(self.group_offsets(&group)))
            }
            TtRequest::ListOffsets => Ok(TtResponse::PartitionOffsets(self.partition_offsets())),
        };
        result.unwrap_or_else(|error| TtResponse::Error(error.to_string()))
    }

    pub fn config(&self) -> &TtConfig {
        &self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MemDisk;
    use crate::event::EventKind;

    fn event(id: u64) -> AdEvent {
        AdEvent {
            event_id: id,
            event_time_ms: 1000 + id as i64,
            advertiser_id: 1,
            campaign_id: 2,
            creative_id: 3,
            slot_id: 4,
            region_id: 5,
            kind: EventKind::Impression,
            cost_micros: 0,
            gmv_micros: 0,
        }
    }

    fn config() -> TtConfig {
        TtConfig {
            partitions: 2,
            segment_records: 3,
            ..TtConfig::default()
        }
    }

    fn fetched(response: TtResponse) -> Vec<u64> {
        match response {
            TtResponse::Records(records) => records.events.iter().map(|e| e.event_id).collect(),
            other => panic!("expected records, got {other:?}"),
        }
    }

    #[test]
    fn appends_survive_reopen_and_fetch_spans_segments() {
        let disk = MemDisk::default();
        let mut broker = Broker::open(disk.clone(), "tt", config()).unwrap();
        assert_eq!(
            broker
                .append(1, &(0..5).map(event).collect::<Vec<_>>(), 10)
                .unwrap(),
            0
        );
        assert_eq!(broker.append(1, &[event(5), event(6)], 20).unwrap(), 5);
        broker.commit_offset("tt", "dwd", 1, 4).unwrap();
        drop(broker);
        let broker = Broker::open(disk, "tt", config()).unwrap();
        assert_eq!(
            fetched(broker.fetch(1, 2, 100).unwrap()),
            vec![2, 3, 4, 5, 6]
        );
        assert_eq!(broker.group_offsets("dwd"), vec![0, 4]);
        assert_eq!(broker.partition_offsets(), vec![(0, 0), (0, 7)]);
    }

    #[test]
    fn torn_tail_is_cut_and_corruption_is_named() {
        let disk = MemDisk::default();
        let mut broker = Broker::open(disk.clone(), "tt", config()).unwrap();
        broker.append(0, &[event(1), event(2)], 10).unwrap();
        let path = "tt/p0/00000000000000000000.log";
        disk.append_synced(path, &[1, 2, 3]).unwrap();
        let broker = Broker::open(disk.clone(), "tt", config()).unwrap();
        assert_eq!(fetched(broker.fetch(0, 0, 10).unwrap()), vec![1, 2]);
        let mut bytes = disk.read(path).unwrap().unwrap();
        bytes[20] ^= 0xff;
        disk.write_synced(path, &bytes).unwrap();
        let error = Broker::open(disk, "tt", config())
            .err()
            .expect("corruption detected");
        assert!(error.to_string().contains(path), "{error}");
    }

    #[test]
    fn retention_drops_old_segments_and_reports_out_of_range() {
        let mut broker = Broker::open(
            MemDisk::default(),
            "tt",
            TtConfig {
                retention_ms: Some(100),
                ..config()
            },
        )
        .unwrap();
        broker
            .append(0, &[event(1), event(2), event(3)], 0)
            .unwrap();
        broker.append(0, &[event(4)], 500).unwrap();
        assert_eq!(broker.enforce_retention(500).unwrap(), 3);
        assert_eq!(
            broker.fetch(0, 0, 10).unwrap(),
            TtResponse::OffsetOutOfRange {
                log_start_offset: 3,
                high_watermark: 4
            }
        );
        assert_eq!(broker.append(0, &[event(5)], 600).unwrap(), 4);
    }

    #[test]
    fn protocol_round_trips() {
        let request = TtRequest::Append {
            partition: 3,
            events: vec![event(9), event(10)],
        };
        assert_eq!(TtRequest::decode(&request.encode()).unwrap(), request);
        let response = TtResponse::Records(FetchedRecords {
            log_start_offset: 1,
            high_watermark: 9,
            events: vec![event(7)],
            append_times_ms: vec![77],
        });
        assert_eq!(TtResponse::decode(&response.encode()).unwrap(), response);
        assert!(
            TtRequest::decode(&[1, 0]).is_err(),
            "truncated input is an error"
        );
    }
}
