//! An independent reader of the tables a run leaves on storage: it parses Paimon snapshot and
//! manifest files and Parquet data files itself, sharing no code with the warehouse's table store,
//! so the checkers never trust the code they check.

use std::collections::BTreeMap;

use arrow_array::{Array, Int8Array, Int64Array, StringArray};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

/// One committed snapshot, as read from `snapshot/snapshot-N`.
#[derive(Debug, Clone)]
pub struct SnapshotInfo {
    pub id: i64,
    pub path: String,
    pub commit_user: String,
    pub commit_identifier: i64,
    pub commit_kind: String,
    pub delta_manifest_list: String,
    pub time_millis: i64,
}

/// Records of data files, column by column: value kind bytes, sequence numbers and one column per
/// field, in field order (string columns as symbol indexes).
#[derive(Debug, Clone, Default)]
pub struct Records {
    pub kinds: Vec<i8>,
    pub sequence_numbers: Vec<i64>,
    pub columns: Vec<Vec<i64>>,
}

impl Records {
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// Empties every column, keeping their allocations, and sets the number of field columns.
    fn reset(&mut self, width: usize) {
        self.kinds.clear();
        self.sequence_numbers.clear();
        self.columns.resize_with(width, Vec::new);
        for column in &mut self.columns {
            column.clear();
        }
    }
}

pub struct TableInspector<'a> {
    objects: &'a BTreeMap<String, Vec<u8>>,
    root: String,
    /// Field names in order; string columns map through `symbols`.
    fields: Vec<String>,
    symbols: BTreeMap<String, Vec<String>>,
}

fn json(objects: &BTreeMap<String, Vec<u8>>, path: &str) -> Result<Value, String> {
    let bytes = objects.get(path).ok_or_else(|| format!("{path} is missing"))?;
    serde_json::from_slice(bytes).map_err(|e| format!("{path} is not valid JSON: {e}"))
}

fn field<'v>(value: &'v Value, name: &str, path: &str) -> Result<&'v Value, String> {
    value.get(name).ok_or_else(|| format!("{path} lacks `{name}`"))
}

fn int(value: &Value, name: &str, path: &str) -> Result<i64, String> {
    field(value, name, path)?
        .as_i64()
        .ok_or_else(|| format!("{path}: `{name}` is not an integer"))
}

fn text(value: &Value, name: &str, path: &str) -> Result<String, String> {
    Ok(field(value, name, path)?
        .as_str()
        .ok_or_else(|| format!("{path}: `{name}` is not a string"))?
        .to_string())
}

impl<'a> TableInspector<'a> {
    pub fn new(
        objects: &'a BTreeMap<String, Vec<u8>>,
        root: &str,
        fields: &[&str],
        symbols: BTreeMap<String, Vec<String>>,
    ) -> Self {
        Self {
            objects,
            root: root.to_string(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
            symbols,
        }
    }

    /// Every snapshot file present, ascending by id.
    pub fn snapshots(&self) -> Result<Vec<SnapshotInfo>, String> {
        let prefix = format!("{}/snapshot/snapshot-", self.root);
        let mut snapshots = Vec::new();
        for path in self.objects.keys().filter(|p| p.starts_with(&prefix)) {
            let value = json(self.objects, path)?;
            snapshots.push(SnapshotInfo {
                id: int(&value, "id", path)?,
                path: path.clone(),
                commit_user: text(&value, "commitUser", path)?,
                commit_identifier: int(&value, "commitIdentifier", path)?,
                commit_kind: text(&value, "commitKind", path)?,
                delta_manifest_list: text(&value, "deltaManifestList", path)?,
                time_millis: int(&value, "timeMillis", path)?,
            });
        }
        snapshots.sort_by_key(|s| s.id);
        Ok(snapshots)
    }

    /// (file kind, bucket, file name) of every entry of the snapshot's delta manifests.
    fn delta_entries(&self, snapshot: &SnapshotInfo) -> Result<Vec<(i64, i64, String)>, String> {
        let list_path = format!("{}/manifest/{}", self.root, snapshot.delta_manifest_list);
        let list = json(self.objects, &list_path)?;
        let manifests = list
            .as_array()
            .ok_or_else(|| format!("{list_path} is not a JSON array"))?;
        let mut entries = Vec::new();
        for manifest in manifests {
            let name = text(manifest, "fileName", &list_path)?;
            let path = format!("{}/manifest/{name}", self.root);
            let body = json(self.objects, &path)?;
            for entry in body
                .as_array()
                .ok_or_else(|| format!("{path} is not a JSON array"))?
            {
                let file = field(entry, "file", &path)?;
                entries.push((
                    int(entry, "kind", &path)?,
                    int(entry, "bucket", &path)?,
                    text(file, "fileName", &path)?,
                ));
            }
        }
        Ok(entries)
    }

    /// Records of every data file the snapshot added, in manifest order, into `records` (emptied
    /// first; pass the same buffer again to reuse its allocations).
    pub fn added_records(&self, snapshot: &SnapshotInfo, records: &mut Records) -> Result<(), String> {
        records.reset(self.fields.len());
        for (kind, bucket, name) in self.delta_entries(snapshot)? {
            if kind == 0 {
                let path = format!("{}/bucket-{bucket}/{name}", self.root);
                self.read_parquet(&path, records)?;
            }
        }
        Ok(())
    }

    /// Appends the records of one data file to `records`, whose field columns must number
    /// `fields.len()`.
    pub fn read_parquet(&self, path: &str, records: &mut Records) -> Result<(), String> {
        let bytes = self
            .objects
            .get(path)
            .ok_or_else(|| format!("{path} is referenced by a manifest but missing"))?;
        let unreadable = |e: parquet::errors::ParquetError| format!("{path} is not readable Parquet: {e}");
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(bytes)).map_err(unreadable)?;
        // Read only the columns the checkers use (not the `_KEY_` copies), in as few batches as
        // the file allows.
        let rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        let wanted: Vec<usize> = builder
            .parquet_schema()
            .root_schema()
            .get_fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                let name = f.name();
                name == "_SEQUENCE_NUMBER" || name == "_VALUE_KIND" || self.fields.iter().any(|n| n == name)
            })
            .map(|(i, _)| i)
            .collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), wanted);
        let reader = builder
            .with_projection(mask)
            .with_batch_size(rows.clamp(1, 1 << 20))
            .build()
            .map_err(unreadable)?;
        records.kinds.reserve(rows);
        records.sequence_numbers.reserve(rows);
        for column in &mut records.columns {
            column.reserve(rows);
        }
        for batch in reader {
            let batch = batch.map_err(|e| format!("{path}: {e}"))?;
            let column = |name: &str| {
                batch
                    .column_by_name(name)
                    .ok_or_else(|| format!("{path} lacks column {name}"))
            };
            let sequence = column("_SEQUENCE_NUMBER")?
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| format!("{path}: _SEQUENCE_NUMBER is not INT64"))?;
            let kinds = column("_VALUE_KIND")?
                .as_any()
                .downcast_ref::<Int8Array>()
                .ok_or_else(|| format!("{path}: _VALUE_KIND is not INT8"))?;
            let n = batch.num_rows();
            for (name, out) in self.fields.iter().zip(&mut records.columns) {
                let array = column(name)?;
                if let Some(ints) = array.as_any().downcast_ref::<Int64Array>() {
                    out.extend_from_slice(&ints.values()[..n]);
                } else if let Some(strings) = array.as_any().downcast_ref::<StringArray>() {
                    let symbols = self
                        .symbols
                        .get(name)
                        .ok_or_else(|| format!("{path}: column {name} is a string column"))?;
                    // Runs of equal values are common; try the last symbol found first.
                    let mut last = 0usize;
                    for i in 0..n {
                        let value = strings.value(i);
                        if symbols.get(last).is_none_or(|s| s != value) {
                            last = symbols
                                .iter()
                                .position(|s| s == value)
                                .ok_or_else(|| format!("{path}: unknown {name} `{value}`"))?;
                        }
                        out.push(last as i64);
                    }
                } else {
                    return Err(format!("{path}: column {name} has an unexpected type"));
                }
            }
            records.kinds.extend_from_slice(&kinds.values()[..n]);
            records.sequence_numbers.extend_from_slice(&sequence.values()[..n]);
        }
        Ok(())
    }
}
