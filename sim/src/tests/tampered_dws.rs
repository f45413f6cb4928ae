//! The exactly-once checker must catch a wrong DWS: after a clean run, one DWS row is rewritten
//! as if its events were counted twice and another is turned into a delete (missing); the checker
//! re-run over the tampered storage must name both keys. Also the tampering tools the DWD
//! test shares: a clean run re-checked after its last data file is rewritten.

use std::sync::Arc;

use crate::world::StoredObjects;
use arrow_array::{Array, ArrayRef, Int8Array, Int64Array, RecordBatch};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const DWS_ROOT: &str = "warehouse/ads.db/dws_ad_minute";

fn json(objects: &StoredObjects, path: &str) -> serde_json::Value {
    serde_json::from_slice(&objects.bytes_of(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Paths of the data files the latest snapshot of the table at `root` that added any added
/// (later snapshots of the liveness phase commit no files), so their rows are the final ones.
fn latest_delta_files(objects: &StoredObjects, root: &str) -> Vec<String> {
    let latest: i64 = String::from_utf8(objects.bytes_of(&format!("{root}/snapshot/LATEST")))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (1..=latest)
        .rev()
        .map(|id| delta_files(objects, root, id))
        .find(|files| !files.is_empty())
        .unwrap_or_default()
}

/// The records of an Avro manifest or manifest list, as (field name, value) lists.
fn avro_records(
    objects: &StoredObjects,
    path: &str,
) -> Vec<Vec<(String, apache_avro::types::Value)>> {
    apache_avro::Reader::new(objects.bytes_of(path).as_slice())
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .map(|value| match value.unwrap() {
            apache_avro::types::Value::Record(fields) => fields,
            other => panic!("{path}: not a record: {other:?}"),
        })
        .collect()
}

fn avro_field<'v>(
    record: &'v [(String, apache_avro::types::Value)],
    name: &str,
) -> &'v apache_avro::types::Value {
    &record.iter().find(|(n, _)| n == name).unwrap().1
}

fn avro_string(record: &[(String, apache_avro::types::Value)], name: &str) -> String {
    match avro_field(record, name) {
        apache_avro::types::Value::String(s) => s.clone(),
        other => panic!("{name} is not a string: {other:?}"),
    }
}

fn delta_files(objects: &StoredObjects, root: &str, id: i64) -> Vec<String> {
    let snapshot = json(objects, &format!("{root}/snapshot/snapshot-{id}"));
    let list_path = format!(
        "{root}/manifest/{}",
        snapshot["deltaManifestList"].as_str().unwrap()
    );
    let mut files = Vec::new();
    for manifest in avro_records(objects, &list_path) {
        let path = format!("{root}/manifest/{}", avro_string(&manifest, "_FILE_NAME"));
        for entry in avro_records(objects, &path) {
            let apache_avro::types::Value::Int(bucket) = avro_field(&entry, "_BUCKET") else {
                panic!("{path}: _BUCKET is not an int");
            };
            let apache_avro::types::Value::Record(file) = avro_field(&entry, "_FILE") else {
                panic!("{path}: _FILE is not a record");
            };
            files.push(format!(
                "{root}/bucket-{bucket}/{}",
                avro_string(file, "_FILE_NAME")
            ));
        }
    }
    files
}

/// The first record batch of Parquet file `bytes`.
pub(super) fn first_batch(bytes: &[u8]) -> RecordBatch {
    let mut reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes.to_vec()))
        .unwrap()
        .build()
        .unwrap();
    reader.next().unwrap().unwrap()
}

/// The values of 64-bit integer column `name`.
pub(super) fn int64s(batch: &RecordBatch, name: &str) -> Vec<i64> {
    let column = batch.column_by_name(name).unwrap();
    let values = column.as_any().downcast_ref::<Int64Array>();
    values
        .unwrap_or_else(|| panic!("{name} is not Int64"))
        .values()
        .to_vec()
}

/// A Parquet file of `batch` with the columns `changed` gives (by name) replacing its own.
pub(super) fn rewritten(
    batch: &RecordBatch,
    changed: impl Fn(&str) -> Option<ArrayRef>,
) -> Vec<u8> {
    let schema = batch.schema();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|field| {
            let name = field.name().as_str();
            changed(name).unwrap_or_else(|| batch.column_by_name(name).unwrap().clone())
        })
        .collect();
    let tampered = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, None).unwrap();
    writer.write(&tampered).unwrap();
    writer.close().unwrap();
    out
}

/// Doubles the sums of row 0 and turns row 1 into a delete; returns both keys.
fn tamper(bytes: &[u8]) -> (Vec<u8>, [i64; 3], [i64; 3]) {
    let batch = first_batch(bytes);
    let key = |row: usize| {
        [
            int64s(&batch, "advertiser_id")[row],
            int64s(&batch, "campaign_id")[row],
            int64s(&batch, "minute")[row],
        ]
    };
    let (doubled, missing) = (key(0), key(1));
    let out = rewritten(&batch, |name| {
        if name == "_VALUE_KIND" {
            let kinds = batch.column_by_name(name).unwrap();
            let kinds = kinds.as_any().downcast_ref::<Int8Array>().unwrap();
            let mut values: Vec<i8> = (0..kinds.len()).map(|i| kinds.value(i)).collect();
            values[1] = 3; // -D: the row disappears
            Some(Arc::new(Int8Array::from(values)) as ArrayRef)
        } else if ["impressions", "clicks", "conversions", "cost", "gmv"].contains(&name) {
            let mut values = int64s(&batch, name);
            values[0] *= 2; // counted twice
            Some(Arc::new(Int64Array::from(values)) as ArrayRef)
        } else {
            None
        }
    });
    (out, doubled, missing)
}

/// A clean smoke run (seed 2, no faults) whose last data file of the table at `root` is
/// replaced by `tamper`'s version of it; the exactly-once checker's violations over that
/// storage, and what `tamper` said about its change.
pub(super) fn violations_after_tampering<T>(
    root: &str,
    tamper: impl FnOnce(&[u8]) -> (Vec<u8>, T),
) -> (Vec<crate::check::Violation>, T) {
    let mut scenario = crate::tests::shipped("smoke");
    scenario.faults.clear();
    let output = crate::check::run(scenario, 2);
    let clean = &output.checks.exactly_once.violations;
    assert!(clean.is_empty(), "the untampered run passes: {clean:?}");

    let mut objects = output.simulation.objects.clone();
    let path = latest_delta_files(&objects, root)
        .into_iter()
        .find(|p| p.contains("/data-"))
        .unwrap_or_else(|| panic!("the last snapshot of {root} that added files added data"));
    let (bytes, changed) = tamper(&objects.bytes_of(&path));
    objects.insert(path, bytes);
    let outcome = crate::check::exactly_once::check_run(
        &output.simulation.world,
        &objects,
        output.simulation.chaos_end_ms,
    );
    (outcome.exactly_once.violations, changed)
}

#[test]
fn a_dws_row_counted_twice_and_one_missing_are_both_named() {
    let (violations, (doubled, missing)) = violations_after_tampering(DWS_ROOT, |bytes| {
        let (out, doubled, missing) = tamper(bytes);
        (out, (doubled, missing))
    });
    let text: Vec<String> = violations
        .iter()
        .map(|v| format!("{}: {}", v.at, v.message))
        .collect();
    let names = |key: [i64; 3]| {
        let needle = format!(
            "advertiser {}, campaign {}, minute {}",
            key[0], key[1], key[2]
        );
        violations.iter().any(|v| {
            v.checker == crate::check::CheckerName::ExactlyOnce && v.message.contains(&needle)
        })
    };
    assert!(
        names(doubled),
        "the doubled key {doubled:?} is named:\n{}",
        text.join("\n")
    );
    assert!(
        names(missing),
        "the missing key {missing:?} is named:\n{}",
        text.join("\n")
    );
}
