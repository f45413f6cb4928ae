//! `dwsim trace`: the events of a run's trace around a simulated time or an event, as text.

use std::path::Path;
use std::process::ExitCode;

pub(crate) fn trace_around(
    file: &Path,
    around: &str,
    window: &str,
    count: usize,
    host: Option<&str>,
) -> ExitCode {
    use sim::trace_view::{Anchor, read_jsonl, render_line};
    let anchor = match Anchor::parse(around) {
        Ok(anchor) => anchor,
        Err(error) => {
            eprintln!("error: --around {error}");
            return ExitCode::from(2);
        }
    };
    let Some(window_ms) = sim::scenario::Millis::parse(window) else {
        eprintln!(
            "error: --window `{window}` is not a duration; write it like \"5s\" or \"500ms\""
        );
        return ExitCode::from(2);
    };
    let events = match read_jsonl(file) {
        Ok(events) => events,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let (near, focus) = sim::trace_view::around(&events, anchor, window_ms.0, count, host);
    if near.is_empty() {
        println!("no events there (the trace has {} events)", events.len());
    }
    for (index, event) in near.iter().enumerate() {
        println!("{}", render_line(event, focus == Some(index)));
    }
    ExitCode::SUCCESS
}
