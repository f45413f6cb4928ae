//! The run's trace: every significant event with simulated time and host, folded into a rolling
//! hash that fingerprints the run. Two runs of one seed must produce the same hash; when they do
//! not, the first differing event says where determinism broke.

pub mod kind;
pub mod view;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use kind::TraceKind;

/// One event as the trace keeps and writes it (`trace.jsonl`): its kind is a [`TraceKind`]'s
/// name, so a trace read back from a file is the same value.
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
    /// Events of each kind, every one counted (kept or not): what summaries report.
    counts: BTreeMap<TraceKind, u64>,
    /// Simulated ms of each host's latest event: a host's clock never goes back. (Hosts are
    /// stepped in turn, each firing its timers anywhere within the tick, so two hosts' events
    /// of one tick may be recorded out of time order.)
    last_t_ms_by_host: BTreeMap<String, i64>,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// Events a run keeps in memory by default (`--trace head`); `--trace full` keeps every one.
pub const DEFAULT_EVENTS_KEPT: usize = 2_000_000;

impl Default for Trace {
    fn default() -> Self {
        Self::new(DEFAULT_EVENTS_KEPT)
    }
}

/// How much of a run's trace `dwsim run` keeps and writes (`--trace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TraceMode {
    /// No trace files; the trace hash still covers every event.
    Off,
    /// The first [`DEFAULT_EVENTS_KEPT`] events kept and, with `--out`, written.
    #[default]
    Head,
    /// Every event kept and, with `--out`, written.
    Full,
}

impl TraceMode {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "off" => Ok(Self::Off),
            "head" => Ok(Self::Head),
            "full" => Ok(Self::Full),
            other => Err(format!(
                "--trace {other}: unknown mode; use off, head (the first {DEFAULT_EVENTS_KEPT} events) or full (every event)"
            )),
        }
    }

    /// An empty trace that keeps what this mode asks for.
    pub fn trace(self) -> Trace {
        match self {
            Self::Full => Trace::new(usize::MAX),
            Self::Off | Self::Head => Trace::default(),
        }
    }

    /// [`Self::trace`], or, when nothing will read the run's events (no `--out`, no determinism
    /// check), a trace that keeps none: the hash and the counts still cover every event, and a
    /// long run does not hold millions of events in memory for nobody.
    pub fn trace_if_read(self, read: bool) -> Trace {
        if read {
            self.trace()
        } else {
            Trace::hash_only()
        }
    }

    /// Whether `--out` gets `trace.jsonl` and `trace.perfetto.json`.
    pub fn writes_files(self) -> bool {
        self != Self::Off
    }
}

impl Trace {
    /// A trace that keeps no events: its hash and counts still cover every one.
    pub fn hash_only() -> Self {
        Self::new(0)
    }

    pub fn new(max_events_kept: usize) -> Self {
        Self {
            events: Vec::new(),
            hash: FNV_OFFSET,
            max_events_kept,
            dropped: 0,
            counts: BTreeMap::new(),
            last_t_ms_by_host: BTreeMap::new(),
        }
    }

    pub fn record(&mut self, t_ms: i64, host: &str, kind: TraceKind, detail: String) {
        match self.last_t_ms_by_host.get_mut(host) {
            Some(last) => {
                assert!(
                    t_ms >= *last,
                    "trace: {} of {host} at {t_ms} ms recorded after its event at {} ms",
                    kind.name(),
                    *last
                );
                *last = t_ms;
            }
            None => {
                self.last_t_ms_by_host.insert(host.to_string(), t_ms);
            }
        }
        *self.counts.entry(kind).or_default() += 1;
        let event = TraceEvent {
            seq: self.events.len() as u64 + self.dropped,
            t_ms,
            host: host.to_string(),
            kind: kind.name().to_string(),
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

    /// Events recorded but not kept (beyond the keep limit).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Events of `kind` recorded, whether kept or not.
    pub fn count(&self, kind: impl Into<TraceKind>) -> u64 {
        self.counts.get(&kind.into()).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_trace_drops_past_its_limit_but_hashes_every_event() {
        let record_all = |trace: &mut Trace, last_detail: &str| {
            for i in 0..5 {
                trace.record(i, "dfs", TraceKind::Append, format!("n={i}"));
            }
            trace.record(9, "dfs", TraceKind::Append, last_detail.to_string());
        };
        let (mut capped, mut full) = (Trace::new(3), TraceMode::Full.trace());
        record_all(&mut capped, "last");
        record_all(&mut full, "last");
        assert_eq!((capped.events().len(), capped.dropped()), (3, 3));
        assert_eq!((full.events().len(), full.dropped()), (6, 0));
        assert_eq!(capped.len(), full.len());
        assert_eq!(
            capped.count(TraceKind::Append),
            6,
            "counts cover dropped events"
        );
        assert_eq!(capped.hash_hex(), full.hash_hex());
        // A difference past the kept events still changes the hash.
        let mut other = Trace::new(3);
        record_all(&mut other, "changed");
        assert_ne!(other.hash_hex(), capped.hash_hex());
    }
}
