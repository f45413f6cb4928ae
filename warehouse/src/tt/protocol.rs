//! TT's wire protocol: compact binary requests and responses, so millions of events cross the
//! simulated network without a serialisation tax.

use crate::event::{AdEvent, EVENT_WIRE_SIZE_BYTES};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TtRequest {
    Append {
        partition: u32,
        events: Vec<AdEvent>,
    },
    Fetch {
        partition: u32,
        offset: u64,
        max_records: u32,
    },
    CommitOffset {
        group: String,
        partition: u32,
        offset: u64,
    },
    FetchOffsets {
        group: String,
    },
    ListOffsets,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedRecords {
    pub log_start_offset: u64,
    pub high_watermark: u64,
    /// Events from the requested offset on, consecutive.
    pub events: Vec<AdEvent>,
    /// Append time (ms) of each event, same order.
    pub append_times_ms: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TtResponse {
    Appended {
        base_offset: u64,
    },
    Records(FetchedRecords),
    OffsetOutOfRange {
        log_start_offset: u64,
        high_watermark: u64,
    },
    Offsets(Vec<u64>),
    /// (log start, high watermark) per partition.
    PartitionOffsets(Vec<(u64, u64)>),
    Ok,
    Error(String),
}

/// A malformed message; names what was being decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed TT message: {0}")]
pub struct DecodeError(pub &'static str);

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).ok_or(DecodeError(what))?;
        let slice = self.bytes.get(self.at..end).ok_or(DecodeError(what))?;
        self.at = end;
        Ok(slice)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }
    fn string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let len = self.u32(what)? as usize;
        String::from_utf8(self.take(len, what)?.to_vec()).map_err(|_| DecodeError(what))
    }
    fn events(&mut self, what: &'static str) -> Result<Vec<AdEvent>, DecodeError> {
        let count = self.u32(what)? as usize;
        let body = self.take(count * EVENT_WIRE_SIZE_BYTES, what)?;
        body.chunks_exact(EVENT_WIRE_SIZE_BYTES)
            .map(|chunk| AdEvent::decode(chunk).ok_or(DecodeError(what)))
            .collect()
    }
    fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(DecodeError(what))
        }
    }
}

fn put_string(out: &mut Vec<u8>, value: &str) {
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value.as_bytes());
}

fn put_events(out: &mut Vec<u8>, events: &[AdEvent]) {
    out.extend_from_slice(&(events.len() as u32).to_le_bytes());
    out.reserve(events.len() * EVENT_WIRE_SIZE_BYTES);
    for event in events {
        event.encode_into(out);
    }
}

impl TtRequest {
    /// First byte of an encoded `Append` request.
    pub const APPEND_TAG: u8 = 1;
    /// First byte of an encoded `CommitOffset` request.
    pub const COMMIT_OFFSET_TAG: u8 = 3;

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::Append { partition, events } => {
                out.push(1);
                out.extend_from_slice(&partition.to_le_bytes());
                put_events(&mut out, events);
            }
            Self::Fetch {
                partition,
                offset,
                max_records,
            } => {
                out.push(2);
                out.extend_from_slice(&partition.to_le_bytes());
                out.extend_from_slice(&offset.to_le_bytes());
                out.extend_from_slice(&max_records.to_le_bytes());
            }
            Self::CommitOffset {
                group,
                partition,
                offset,
            } => {
                out.push(3);
                put_string(&mut out, group);
                out.extend_from_slice(&partition.to_le_bytes());
                out.extend_from_slice(&offset.to_le_bytes());
            }
            Self::FetchOffsets { group } => {
                out.push(4);
                put_string(&mut out, group);
            }
            Self::ListOffsets => out.push(5),
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { bytes, at: 0 };
        let request = match r.u8("request tag")? {
            1 => Self::Append {
                partition: r.u32("append partition")?,
                events: r.events("append events")?,
            },
            2 => Self::Fetch {
                partition: r.u32("fetch partition")?,
                offset: r.u64("fetch offset")?,
                max_records: r.u32("fetch max records")?,
            },
            3 => Self::CommitOffset {
                group: r.string("commit group")?,
                partition: r.u32("commit partition")?,
                offset: r.u64("commit offset")?,
            },
            4 => Self::FetchOffsets {
                group: r.string("offsets group")?,
            },
            5 => Self::ListOffsets,
            _ => return Err(DecodeError("unknown request tag")),
        };
        r.finish("trailing request bytes")?;
        Ok(request)
    }
}

impl TtResponse {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::Appended { base_offset } => {
                out.push(1);
                out.extend_from_slice(&base_offset.to_le_bytes());
            }
            Self::Records(records) => {
                // Tag, offsets, count, events, append times: one allocation, no regrowth.
                out.reserve(
                    1 + 16
                        + 4
                        + records.events.len() * EVENT_WIRE_SIZE_BYTES
                        + records.append_times_ms.len() * 8,
                );
                out.push(2);
                out.extend_from_slice(&records.log_start_offset.to_le_bytes());
                out.extend_from_slice(&records.high_watermark.to_le_bytes());
                put_events(&mut out, &records.events);
                for time in &records.append_times_ms {
                    out.extend_from_slice(&time.to_le_bytes());
                }
            }
            Self::OffsetOutOfRange {
                log_start_offset,
                high_watermark,
            } => {
                out.push(3);
                out.extend_from_slice(&log_start_offset.to_le_bytes());
                out.extend_from_slice(&high_watermark.to_le_bytes());
            }
            Self::Offsets(offsets) => {
                out.push(4);
                out.extend_from_slice(&(offsets.len() as u32).to_le_bytes());
                for offset in offsets {
                    out.extend_from_slice(&offset.to_le_bytes());
                }
            }
            Self::PartitionOffsets(pairs) => {
                out.push(5);
                out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
                for (start, end) in pairs {
                    out.extend_from_slice(&start.to_le_bytes());
                    out.extend_from_slice(&end.to_le_bytes());
                }
            }
            Self::Ok => out.push(6),
            Self::Error(message) => {
                out.push(7);
                put_string(&mut out, message);
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { bytes, at: 0 };
        let response = match r.u8("response tag")? {
            1 => Self::Appended {
                base_offset: r.u64("base offset")?,
            },
            2 => {
                let log_start_offset = r.u64("log start")?;
                let high_watermark = r.u64("high watermark")?;
                let events = r.events("fetched events")?;
                let append_times_ms = (0..events.len())
                    .map(|_| r.u64("append time").map(|t| t as i64))
                    .collect::<Result<_, _>>()?;
                Self::Records(FetchedRecords {
                    log_start_offset,
                    high_watermark,
                    events,
                    append_times_ms,
                })
            }
            3 => Self::OffsetOutOfRange {
                log_start_offset: r.u64("log start")?,
                high_watermark: r.u64("high watermark")?,
            },
            4 => {
                let count = r.u32("offset count")?;
                Self::Offsets(
                    (0..count)
                        .map(|_| r.u64("offset"))
                        .collect::<Result<_, _>>()?,
                )
            }
            5 => {
                let count = r.u32("partition count")?;
                Self::PartitionOffsets(
                    (0..count)
                        .map(|_| Ok((r.u64("log start")?, r.u64("high watermark")?)))
                        .collect::<Result<_, _>>()?,
                )
            }
            6 => Self::Ok,
            7 => Self::Error(r.string("error message")?),
            _ => return Err(DecodeError("unknown response tag")),
        };
        r.finish("trailing response bytes")?;
        Ok(response)
    }
}
