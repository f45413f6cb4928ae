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

    /// Whether `--out` gets `trace.jsonl` and `trace.perfetto.json`.
    pub fn writes_files(self) -> bool {
        self != Self::Off
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

    /// Events recorded but not kept (beyond the keep limit).
    pub fn dropped(&self) -> u64 {
        self.dropped
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

/// Where to look in a trace: a simulated time, or an event's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    TimeMs(i64),
    Seq(u64),
}

impl Anchor {
    /// `#123` (or a bare `123`) is an event; `35.2s`, `800ms`, `2min` a simulated time.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let as_seq = text.strip_prefix('#').unwrap_or(text);
        if let Ok(seq) = as_seq.parse::<u64>() {
            return Ok(Self::Seq(seq));
        }
        crate::scenario::Millis::parse(text)
            .map(|m| Self::TimeMs(m.0))
            .ok_or_else(|| {
                format!(
                    "`{text}` is neither an event (#123) nor a simulated time (35.2s, 800ms, 2min)"
                )
            })
    }
}

/// Reads a `trace.jsonl` written by `dwsim run --out`; a bad line is named by its number.
pub fn read_jsonl(path: &std::path::Path) -> Result<Vec<TraceEvent>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line)
                .map_err(|e| format!("{}:{}: not a trace event: {e}", path.display(), index + 1))
        })
        .collect()
}

/// The events within `window_ms` of a time anchor, or `count` events either side of an event
/// anchor, optionally of one host; with the index of the anchor's event (the first at or after
/// the time) among them.
pub fn around<'a>(
    events: &'a [TraceEvent],
    anchor: Anchor,
    window_ms: i64,
    count: usize,
    host: Option<&str>,
) -> (Vec<&'a TraceEvent>, Option<usize>) {
    let kept: Vec<&TraceEvent> = events
        .iter()
        .filter(|e| host.is_none_or(|h| e.host == h))
        .collect();
    let (from, to, focus) = match anchor {
        Anchor::TimeMs(t) => {
            let from = kept.partition_point(|e| e.t_ms < t - window_ms);
            let to = kept.partition_point(|e| e.t_ms <= t + window_ms);
            (from, to, kept.partition_point(|e| e.t_ms < t))
        }
        Anchor::Seq(seq) => {
            let focus = kept.partition_point(|e| e.seq < seq);
            (
                focus.saturating_sub(count),
                (focus + count + 1).min(kept.len()),
                focus,
            )
        }
    };
    let slice = kept[from..to].to_vec();
    let focus = (from..to).contains(&focus).then(|| focus - from);
    (slice, focus)
}

/// One event as a readable line: time in seconds, host, kind, details; `>` marks the anchor.
pub fn render_line(event: &TraceEvent, is_focus: bool) -> String {
    format!(
        "{} {:>10.3}s  #{:<7} {:<8} {:<20} {}",
        if is_focus { ">" } else { " " },
        event.t_ms as f64 / 1000.0,
        event.seq,
        event.host,
        event.kind,
        event.detail
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_trace_drops_past_its_limit_but_hashes_every_event() {
        let record_all = |trace: &mut Trace, last_detail: &str| {
            for i in 0..5 {
                trace.record(i, "dfs", "put", format!("n={i}"));
            }
            trace.record(9, "dfs", "put", last_detail.to_string());
        };
        let (mut capped, mut full) = (Trace::new(3), TraceMode::Full.trace());
        record_all(&mut capped, "last");
        record_all(&mut full, "last");
        assert_eq!((capped.events().len(), capped.dropped()), (3, 3));
        assert_eq!((full.events().len(), full.dropped()), (6, 0));
        assert_eq!(capped.len(), full.len());
        assert_eq!(capped.hash_hex(), full.hash_hex());
        // A difference past the kept events still changes the hash.
        let mut other = Trace::new(3);
        record_all(&mut other, "changed");
        assert_ne!(other.hash_hex(), capped.hash_hex());
    }

    fn trace() -> Vec<TraceEvent> {
        let mut trace = Trace::default();
        for (t, host, kind) in [
            (0, "tt", "a"),
            (1000, "dwd-job", "b"),
            (2000, "tt", "c"),
            (9000, "tt", "d"),
        ] {
            trace.record(t, host, kind, String::new());
        }
        trace.events().to_vec()
    }

    #[test]
    fn around_a_time_an_event_and_a_host() {
        let events = trace();
        let (near, focus) = around(&events, Anchor::parse("1.5s").unwrap(), 1000, 0, None);
        assert_eq!(
            near.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
            ["b", "c"]
        );
        assert_eq!(
            focus,
            Some(1),
            "the first event at or after 1.5 s is marked"
        );
        let (near, focus) = around(&events, Anchor::parse("#2").unwrap(), 0, 1, Some("tt"));
        assert_eq!(
            near.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
            ["a", "c", "d"]
        );
        assert_eq!(focus, Some(1));
        assert!(Anchor::parse("soon").is_err());
    }
}
