//! The run's trace: every significant event with simulated time and host, folded into a rolling
//! hash that fingerprints the run. Two runs of one seed must produce the same hash; when they do
//! not, the first differing event says where determinism broke.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEvent {
    pub seq: u64,
    /// Simulated milliseconds since the run started.
    pub t_ms: i64,
    pub host: String,
    pub kind: String,
    pub detail: String,
}

impl TraceEvent {
    pub fn line(&self) -> String {
        format!(
            "#{} t={}ms {} {} {}",
            self.seq, self.t_ms, self.host, self.kind, self.detail
        )
    }
}

#[derive(Debug, Clone)]
pub struct Trace {
    events: Vec<TraceEvent>,
    hash: u64,
    /// Keep at most this many events in memory; the hash still covers every event.
    max_events_kept: usize,
    dropped: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

impl Default for Trace {
    fn default() -> Self {
        Self::new(2_000_000)
    }
}

impl Trace {
    pub fn new(max_events_kept: usize) -> Self {
        Self {
            events: Vec::new(),
            hash: FNV_OFFSET,
            max_events_kept,
            dropped: 0,
        }
    }

    pub fn record(&mut self, t_ms: i64, host: &str, kind: &str, detail: String) {
        let event = TraceEvent {
            seq: self.events.len() as u64 + self.dropped,
            t_ms,
            host: host.to_string(),
            kind: kind.to_string(),
            detail,
        };
        for byte in event.line().bytes().chain(std::iter::once(b'\n')) {
            self.hash ^= u64::from(byte);
            self.hash = self.hash.wrapping_mul(FNV_PRIME);
        }
        if self.events.len() < self.max_events_kept {
            self.events.push(event);
        } else {
            self.dropped += 1;
        }
    }

    pub fn hash_hex(&self) -> String {
        format!("{:016x}", self.hash)
    }

    pub fn events(&self) -> &[TraceEvent] {
        &self.events
    }

    pub fn len(&self) -> u64 {
        self.events.len() as u64 + self.dropped
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn count(&self, kind: &str) -> usize {
        self.events.iter().filter(|e| e.kind == kind).count()
    }
}

/// The first position where two traces differ, as text for a test failure or a report.
pub fn first_difference(a: &[TraceEvent], b: &[TraceEvent]) -> Option<String> {
    for (left, right) in a.iter().zip(b) {
        if left != right {
            return Some(format!(
                "first differing trace event:\n  run 1: {}\n  run 2: {}",
                left.line(),
                right.line()
            ));
        }
    }
    match a.len().cmp(&b.len()) {
        std::cmp::Ordering::Equal => None,
        _ => Some(format!(
            "traces agree on their first {} events, then one ends (lengths {} and {})",
            a.len().min(b.len()),
            a.len(),
            b.len()
        )),
    }
}
