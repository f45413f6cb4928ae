//! The end-of-run live check must catch a DWD row that differs from the event it stands for:
//! after a clean run, one value of one row of a live DWD file is changed; the checker re-run
//! over the tampered storage must say the live files hold a different row for that event.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use warehouse::jobs::schemas::DWD_TABLE_ROOT;

use super::tampered_dws::latest_delta_files;

/// Adds one micro to the cost of row 0; returns the new file and that row's event id.
fn tamper(bytes: &[u8]) -> (Vec<u8>, i64) {
    let mut reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes.to_vec()))
        .unwrap()
        .build()
        .unwrap();
    let batch = reader.next().unwrap().unwrap();
    let ints = |name: &str| -> Vec<i64> {
        let column = batch.column_by_name(name).unwrap();
        let values = column.as_any().downcast_ref::<Int64Array>();
        values
            .unwrap_or_else(|| panic!("{name} is not Int64"))
            .values()
            .to_vec()
    };
    let event_id = ints("event_id")[0];
    let schema = batch.schema();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|field| {
            let name = field.name().as_str();
            if name == "cost" {
                let mut values = ints(name);
                values[0] += 1;
                Arc::new(Int64Array::from(values)) as ArrayRef
            } else {
                batch.column_by_name(name).unwrap().clone()
            }
        })
        .collect();
    let tampered = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, None).unwrap();
    writer.write(&tampered).unwrap();
    writer.close().unwrap();
    (out, event_id)
}

#[test]
fn a_live_dwd_row_unlike_its_event_is_named() {
    let mut scenario = crate::tests::shipped("smoke");
    scenario.faults.clear();
    let output = crate::check::run(scenario, 2);
    let clean = &output.checks.exactly_once.violations;
    assert!(clean.is_empty(), "the untampered run passes: {clean:?}");

    let mut objects = output.simulation.objects.clone();
    let path = latest_delta_files(&objects, DWD_TABLE_ROOT)
        .into_iter()
        .find(|p| p.contains("/data-"))
        .expect("the last DWD snapshot that added files added a data file");
    let (bytes, event_id) = tamper(&objects.bytes_of(&path));
    objects.insert(path, bytes);

    let outcome = crate::check::exactly_once::check_run(
        &output.simulation.world,
        &objects,
        output.simulation.chaos_end_ms,
    );
    let violations = &outcome.exactly_once.violations;
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
