//! The run as a Chrome/Perfetto trace (open it in ui.perfetto.dev): a track per host with
//! checkpoints, commits, restores and failovers, each host's downtime between crash and restart,
//! partitions on the world's track, and counters for TT lag and serving staleness.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use warehouse::env::JournalKind;

use crate::topology::TRACK_ORDER;
use crate::trace::{TraceEvent, TraceKind};

/// Simulated milliseconds to the trace's microseconds.
fn micros(t_ms: i64) -> i64 {
    t_ms * 1000
}

/// The value of `key=` in a trace detail, if present.
fn detail_value<'a>(detail: &'a str, key: &str) -> Option<&'a str> {
    detail
        .split_whitespace()
        .find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
}

/// The quoted host names in a world event's detail, e.g. `Partition("tt", "dwd-job")`.
fn quoted_hosts(detail: &str) -> Vec<String> {
    detail
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Builds the trace. `tt_lag` and `staleness` are (simulated ms, value) samples.
pub fn chrome_trace(
    events: &[TraceEvent],
    tt_lag: &[(i64, i64)],
    staleness: &[(i64, i64)],
) -> Value {
    let mut tracks: Vec<String> = TRACK_ORDER.iter().map(|h| h.to_string()).collect();
    tracks.push("world".into());
    // Dual storage hosts (after the others, so single-storage tracks keep their ids).
    tracks.extend(["dfs-a", "dfs-b", "dwd-job-b", "dws-job-b"].map(String::from));
    let tid = |host: &str| {
        tracks
            .iter()
            .position(|h| h == host)
            .unwrap_or(tracks.len()) as i64
            + 1
    };
    let mut out: Vec<Value> = tracks
        .iter()
        .map(|host| json!({"ph": "M", "name": "thread_name", "pid": 1, "tid": tid(host), "args": {"name": host}}))
        .collect();
    let mut open_checkpoints: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut down_since: BTreeMap<String, i64> = BTreeMap::new();
    let mut cut_since: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    let span = |name: String, host: &str, from: i64, to: i64, detail: &str| {
        json!({"ph": "X", "name": name, "pid": 1, "tid": tid(host), "ts": micros(from),
               "dur": micros((to - from).max(1) ), "args": {"detail": detail}})
    };
    for event in events {
        match TraceKind::from_name(&event.kind) {
            // Far too many to draw one by one: they show as the TT lag counter instead.
            Some(TraceKind::Produce | TraceKind::Append | TraceKind::Query) => {}
            Some(TraceKind::Journal(JournalKind::CheckpointStart)) => {
                let id = detail_value(&event.detail, "checkpoint")
                    .unwrap_or("?")
                    .to_string();
                open_checkpoints.insert((event.host.clone(), id), event.t_ms);
            }
            Some(TraceKind::Journal(JournalKind::CheckpointComplete)) => {
                let id = detail_value(&event.detail, "checkpoint")
                    .unwrap_or("?")
                    .to_string();
                if let Some(from) = open_checkpoints.remove(&(event.host.clone(), id.clone())) {
                    out.push(span(
                        format!("checkpoint {id}"),
                        &event.host,
                        from,
                        event.t_ms,
                        &event.detail,
                    ));
                }
            }
            Some(TraceKind::Crash) => {
                for host in quoted_hosts(&event.detail) {
                    down_since.insert(host, event.t_ms);
                }
            }
            Some(TraceKind::Restart) => {
                for host in quoted_hosts(&event.detail) {
                    if let Some(from) = down_since.remove(&host) {
                        out.push(span(
                            "down (crashed)".into(),
                            &host,
                            from,
                            event.t_ms,
                            &event.detail,
                        ));
                    }
                }
            }
            Some(TraceKind::Partition) => {
                cut_since.insert(quoted_hosts(&event.detail), event.t_ms);
            }
            Some(TraceKind::Heal) => {
                let pair = quoted_hosts(&event.detail);
                if let Some(from) = cut_since.remove(&pair) {
                    out.push(span(
                        format!("partition {}", pair.join(" <-> ")),
                        "world",
                        from,
                        event.t_ms,
                        &event.detail,
                    ));
                }
            }
            _ => out.push(
                json!({"ph": "i", "s": "t", "name": event.kind, "pid": 1, "tid": tid(&event.host),
                                     "ts": micros(event.t_ms), "args": {"detail": event.detail}}),
            ),
        }
    }
    for (name, samples) in [
        ("TT lag of dwd-job (records)", tt_lag),
        ("serving staleness (ms)", staleness),
    ] {
        for (t_ms, value) in samples {
            out.push(json!({"ph": "C", "name": name, "pid": 1, "ts": micros(*t_ms), "args": {"value": value}}));
        }
    }
    json!({"traceEvents": out, "displayTimeUnit": "ms"})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Trace;

    #[test]
    fn checkpoints_downtime_and_partitions_become_spans() {
        let mut trace = Trace::default();
        trace.record(
            100,
            "dwd-job",
            JournalKind::CheckpointStart.into(),
            "job=dwd-job checkpoint=3".into(),
        );
        trace.record(
            400,
            "dwd-job",
            JournalKind::CheckpointComplete.into(),
            "job=dwd-job checkpoint=3 files=2".into(),
        );
        trace.record(500, "world", TraceKind::Crash, "Crash(\"tt\")".into());
        trace.record(
            600,
            "world",
            TraceKind::Partition,
            "Partition(\"tt\", \"dwd-job\")".into(),
        );
        trace.record(
            700,
            "world",
            TraceKind::Heal,
            "Heal(\"tt\", \"dwd-job\")".into(),
        );
        trace.record(900, "world", TraceKind::Restart, "Restart(\"tt\")".into());
        let value = chrome_trace(trace.events(), &[(0, 5)], &[]);
        let spans: Vec<(String, i64)> = value["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["ph"] == "X")
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_string(),
                    e["dur"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            spans,
            vec![
                ("checkpoint 3".to_string(), 300_000),
                ("partition tt <-> dwd-job".to_string(), 100_000),
                ("down (crashed)".to_string(), 400_000)
            ]
        );
    }
}
