//! An independent reader of the tables a run leaves on storage: it parses Paimon snapshot and
//! manifest files and Parquet data files itself, sharing no code with the warehouse's table store,
//! so the checkers never trust the code they check.

use std::collections::BTreeMap;

use arrow_array::{Array, Int8Array, Int64Array, StringArray};
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

/// One record of a data file: value kind byte, sequence number, field values.
#[derive(Debug, Clone)]
pub struct FileRecord {
    pub kind: i8,
    pub sequence_number: i64,
    pub values: Vec<i64>,
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

    /// Records of every data file the snapshot added, in manifest order.
    pub fn added_records(&self, snapshot: &SnapshotInfo) -> Result<Vec<FileRecord>, String> {
        let mut records = Vec::new();
        for (kind, bucket, name) in self.delta_entries(snapshot)? {
            if kind == 0 {
                let path = format!("{}/bucket-{bucket}/{name}", self.root);
                records.extend(self.read_parquet(&path)?);
            }
        }
        Ok(records)
    }

    pub fn read_parquet(&self, path: &str) -> Result<Vec<FileRecord>, String> {
        let bytes = self
            .objects
            .get(path)
            .ok_or_else(|| format!("{path} is referenced by a manifest but missing"))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes.clone()))
            .and_then(|b| b.build())
            .map_err(|e| format!("{path} is not readable Parquet: {e}"))?;
        let mut records = Vec::new();
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
                .ok_or_else(|| format!("{path}: _SEQUENCE_NUMBER is not INT64"))?
                .clone();
            let kinds = column("_VALUE_KIND")?
                .as_any()
                .downcast_ref::<Int8Array>()
                .ok_or_else(|| format!("{path}: _VALUE_KIND is not INT8"))?
                .clone();
            let mut columns: Vec<Vec<i64>> = Vec::new();
            for name in &self.fields {
                let array = column(name)?;
                let values = if let Some(ints) = array.as_any().downcast_ref::<Int64Array>() {
                    ints.values().to_vec()
                } else if let Some(strings) = array.as_any().downcast_ref::<StringArray>() {
                    let symbols = self
                        .symbols
                        .get(name)
                        .ok_or_else(|| format!("{path}: column {name} is a string column"))?;
                    (0..strings.len())
                        .map(|i| {
                            symbols
                                .iter()
                                .position(|s| s == strings.value(i))
                                .map(|p| p as i64)
                                .ok_or_else(|| format!("{path}: unknown {name} `{}`", strings.value(i)))
                        })
                        .collect::<Result<_, _>>()?
                } else {
                    return Err(format!("{path}: column {name} has an unexpected type"));
                };
                columns.push(values);
            }
            for row in 0..batch.num_rows() {
                records.push(FileRecord {
                    kind: kinds.value(row),
                    sequence_number: sequence.value(row),
                    values: columns.iter().map(|c| c[row]).collect(),
                });
            }
        }
        Ok(records)
    }
}
