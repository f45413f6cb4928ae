//! The end-of-run live check must catch a DWD row that differs from the event it stands for:
//! after a clean run, one value of one row of a live DWD file is changed; the checker re-run
//! over the tampered storage must say the live files hold a different row for that event.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array};
use warehouse::jobs::schemas::DWD_TABLE_ROOT;

use super::tampered_dws::{first_batch, int64s, rewritten, violations_after_tampering};

/// Adds one micro to the cost of row 0; returns the new file and that row's event id.
fn tamper(bytes: &[u8]) -> (Vec<u8>, i64) {
    let batch = first_batch(bytes);
    let out = rewritten(&batch, |name| {
        (name == "cost").then(|| {
            let mut values = int64s(&batch, name);
            values[0] += 1;
            Arc::new(Int64Array::from(values)) as ArrayRef
        })
    });
    (out, int64s(&batch, "event_id")[0])
}

#[test]
fn a_live_dwd_row_unlike_its_event_is_named() {
    let (violations, event_id) = violations_after_tampering(DWD_TABLE_ROOT, tamper);
    let live = violations
        .iter()
        .find(|v| v.at == "end of run (live DWD files)")
        .unwrap_or_else(|| panic!("the live check names the row: {violations:?}"));
    assert!(
        live.message
            .starts_with(&format!("event_id {event_id} (valid, must be present)"))
            && live.message.contains("holds a different row"),
        "{live:?}"
    );
}
