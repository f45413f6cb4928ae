//! Reading a trace back: two traces' first difference, and the events around a time or an event
//! for `dwsim trace`.

use crate::trace::TraceEvent;

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
            let from = kept.partition_point(|e| e.t_ms < t.saturating_sub(window_ms));
            let to = kept.partition_point(|e| e.t_ms <= t.saturating_add(window_ms));
            (from, to, kept.partition_point(|e| e.t_ms < t))
        }
        Anchor::Seq(seq) => {
            let focus = kept.partition_point(|e| e.seq < seq);
            (
                focus.saturating_sub(count),
                focus
                    .saturating_add(count)
                    .saturating_add(1)
                    .min(kept.len()),
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
    use crate::trace::{Trace, TraceKind};

    fn trace() -> Vec<TraceEvent> {
        let mut trace = Trace::default();
        for (t, host, kind) in [
            (0, "tt", TraceKind::Append),
            (1000, "dwd-job", TraceKind::HostStart),
            (2000, "tt", TraceKind::Retention),
            (9000, "tt", TraceKind::RunEnd),
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
            ["host-start", "retention"]
        );
        assert_eq!(
            focus,
            Some(1),
            "the first event at or after 1.5 s is marked"
        );
        let (near, focus) = around(&events, Anchor::parse("#2").unwrap(), 0, 1, Some("tt"));
        assert_eq!(
            near.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
            ["append", "retention", "run-end"]
        );
        assert_eq!(focus, Some(1));
        assert!(Anchor::parse("soon").is_err());
        // Far past the end, or asking for every event: an empty or whole slice, never a panic.
        for anchor in [
            Anchor::TimeMs(i64::MAX),
            Anchor::Seq(u64::MAX),
            Anchor::TimeMs(i64::MIN),
        ] {
            let (near, focus) = around(&events, anchor, i64::MAX, usize::MAX, None);
            assert!(near.len() <= events.len() && focus.is_none_or(|f| f < near.len()));
        }
        let (near, _) = around(&events, Anchor::Seq(0), 0, usize::MAX, None);
        assert_eq!(near.len(), events.len());
    }
}
