//! An independent reader of the tables a run leaves on storage: it parses Paimon snapshot JSON,
//! Avro manifest lists and manifests, and Parquet data files itself, sharing no code with the warehouse's table store,
//! so the checkers never trust the code they check.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::world::StoredObjects;
use apache_avro::types::Value as AvroValue;
use arrow_array::types::Int32Type;
use arrow_array::{Array, DictionaryArray, Int8Array, Int64Array, StringArray};
use arrow_schema::{DataType, FieldRef, Schema};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::errors::ParquetError;
use serde_json::Value;

/// What kind of commit made a snapshot (`commitKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitKind {
    Append,
    Compact,
    Overwrite,
}

impl CommitKind {
    fn parse(text: &str, path: &str) -> Result<Self, String> {
        match text {
            "APPEND" => Ok(Self::Append),
            "COMPACT" => Ok(Self::Compact),
            "OVERWRITE" => Ok(Self::Overwrite),
            other => Err(format!(
                "{path}: commitKind `{other}` is none of APPEND, COMPACT, OVERWRITE"
            )),
        }
    }
}

/// Whether a manifest entry adds a file to its bucket or deletes it (`_KIND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Add,
    Delete,
}

/// A record's `_VALUE_KIND`: Paimon's row kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum RowKind {
    /// +I
    Insert = 0,
    /// -U
    UpdateBefore = 1,
    /// +U
    UpdateAfter = 2,
    /// -D
    Delete = 3,
}

impl RowKind {
    fn from_byte(byte: i8) -> Option<Self> {
        match byte {
            0 => Some(Self::Insert),
            1 => Some(Self::UpdateBefore),
            2 => Some(Self::UpdateAfter),
            3 => Some(Self::Delete),
            _ => None,
        }
    }

    /// Whether the record leaves its key present (+I, +U) rather than retracted (-U, -D).
    pub fn is_live(self) -> bool {
        matches!(self, Self::Insert | Self::UpdateAfter)
    }
}

/// One committed snapshot, as read from `snapshot/snapshot-N`.
#[derive(Debug, Clone)]
pub struct SnapshotInfo {
    pub id: i64,
    pub path: String,
    pub commit_identifier: i64,
    pub commit_kind: CommitKind,
    pub base_manifest_list: String,
    pub delta_manifest_list: String,
    pub changelog_manifest_list: Option<String>,
    pub time_millis: i64,
    /// The watermark the committer recorded, if any.
    pub watermark: Option<i64>,
}

/// A data or changelog file of a table, where it lives: its partition's directory
/// (`hh=2026111100`, one `key=value` per partition key; empty when the table is unpartitioned),
/// its bucket and its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileRef {
    pub partition: String,
    pub bucket: i64,
    pub name: String,
}

/// One entry of a manifest: an ADD or DELETE of a file of a bucket of a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub kind: FileKind,
    /// The partition's directory (see [`FileRef`]).
    pub partition: String,
    pub bucket: i64,
    pub level: i64,
    pub name: String,
    pub size_bytes: u64,
}

impl FileEntry {
    /// Where the entry's file lives.
    pub fn file(self) -> FileRef {
        FileRef {
            partition: self.partition,
            bucket: self.bucket,
            name: self.name,
        }
    }
}

/// Rows the Parquet reader decodes at a time (measured: larger batches grow the reader's
/// buffers by reallocation, smaller ones pay per-batch overhead).
pub const BATCH_ROWS: usize = 4096;

/// Records of data files: row kinds, sequence numbers and the field values, row-major
/// (string columns as symbol indexes). Kept flat so reading a table allocates nothing per record.
#[derive(Debug, Clone, Default)]
pub struct Records {
    pub kinds: Vec<RowKind>,
    pub sequence_numbers: Vec<i64>,
    /// Record `r`'s fields, in field order, are `values[r * width..(r + 1) * width]`.
    pub values: Vec<i64>,
    pub width: usize,
}

impl Records {
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    /// The field values of record `r`.
    pub fn row(&self, r: usize) -> &[i64] {
        &self.values[r * self.width..(r + 1) * self.width]
    }

    /// Empties the records, keeping their allocations, and sets the number of fields.
    fn reset(&mut self, width: usize) {
        self.kinds.clear();
        self.sequence_numbers.clear();
        self.values.clear();
        self.width = width;
    }
}

pub struct TableInspector<'a> {
    objects: &'a StoredObjects,
    root: String,
    /// Field names in order; string columns map through `symbols`.
    fields: Vec<String>,
    symbols: BTreeMap<String, Vec<String>>,
    /// Decoded manifests by path. The objects cannot change under the inspector, and a
    /// manifest is shared by every snapshot whose lists name it, so each is decoded once.
    manifests: RefCell<BTreeMap<String, Rc<Vec<FileEntry>>>>,
    /// The table's partition keys, from its schema file, once read.
    partition_keys: RefCell<Option<Rc<Vec<String>>>>,
}

/// The directory of a partition: Paimon's `key=value/...` from a manifest's `_PARTITION`
/// (a big-endian arity, a null-bits region of 8-byte words whose first byte is the row kind,
/// then one 8-byte little-endian slot per BIGINT value), decoded here independently of the
/// table store.
fn partition_dir(bytes: &[u8], keys: &[String], path: &str) -> Result<String, String> {
    let bad = |why: String| format!("{path}: `_PARTITION` {why}");
    let arity_bytes: [u8; 4] = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("is shorter than its arity".into()))?;
    let arity = i32::from_be_bytes(arity_bytes);
    if usize::try_from(arity).ok() != Some(keys.len()) {
        return Err(bad(format!(
            "has {arity} fields, the schema {} partition keys",
            keys.len()
        )));
    }
    let null_bits = (keys.len() + 63 + 8) / 64 * 8;
    let row = &bytes[4..];
    if row.len() != null_bits + 8 * keys.len() {
        return Err(bad(format!("is {} bytes long", bytes.len())));
    }
    let mut dir = String::new();
    for (i, key) in keys.iter().enumerate() {
        if row[(i + 8) / 8] >> ((i + 8) % 8) & 1 == 1 {
            return Err(bad(format!("holds a null {key}")));
        }
        let slot = &row[null_bits + 8 * i..null_bits + 8 * (i + 1)];
        let value = i64::from_le_bytes(slot.try_into().expect("an 8-byte slot"));
        if !dir.is_empty() {
            dir.push('/');
        }
        dir.push_str(&format!("{key}={value}"));
    }
    Ok(dir)
}

fn json(objects: &StoredObjects, path: &str) -> Result<Value, String> {
    let bytes = objects
        .get(path)
        .ok_or_else(|| format!("{path} is missing"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{path} is not valid JSON: {e}"))
}

/// The records of an Avro object container file (a Paimon manifest or manifest list).
fn avro_records(
    objects: &StoredObjects,
    path: &str,
) -> Result<Vec<Vec<(String, AvroValue)>>, String> {
    let bytes = objects
        .get(path)
        .ok_or_else(|| format!("{path} is missing"))?;
    super::avro_file::values(&bytes, path)?
        .into_iter()
        .map(|value| match value {
            AvroValue::Record(fields) => Ok(fields),
            _ => Err(format!("{path} holds a value that is not a record")),
        })
        .collect()
}

/// A field of an Avro record, looking through a `["null", T]` union.
fn avro_field<'v>(
    record: &'v [(String, AvroValue)],
    name: &str,
    path: &str,
) -> Result<&'v AvroValue, String> {
    let value = &record
        .iter()
        .find(|(n, _)| n == name)
        .ok_or_else(|| format!("{path}: a record lacks `{name}`"))?
        .1;
    Ok(match value {
        AvroValue::Union(_, inner) => inner,
        other => other,
    })
}

fn avro_int(record: &[(String, AvroValue)], name: &str, path: &str) -> Result<i64, String> {
    match avro_field(record, name, path)? {
        AvroValue::Int(v) => Ok(i64::from(*v)),
        AvroValue::Long(v) => Ok(*v),
        _ => Err(format!("{path}: `{name}` is not an integer")),
    }
}

fn avro_text(record: &[(String, AvroValue)], name: &str, path: &str) -> Result<String, String> {
    match avro_field(record, name, path)? {
        AvroValue::String(s) => Ok(s.clone()),
        _ => Err(format!("{path}: `{name}` is not a string")),
    }
}

fn field<'v>(value: &'v Value, name: &str, path: &str) -> Result<&'v Value, String> {
    value
        .get(name)
        .ok_or_else(|| format!("{path} lacks `{name}`"))
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
        objects: &'a StoredObjects,
        root: &str,
        fields: &[&str],
        symbols: BTreeMap<String, Vec<String>>,
    ) -> Self {
        Self {
            objects,
            root: root.to_string(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
            symbols,
            manifests: RefCell::new(BTreeMap::new()),
            partition_keys: RefCell::new(None),
        }
    }

    /// The table's partition keys, as its schema file (`schema/schema-0`) declares them; none
    /// when there is no schema file (no table was ever created there).
    fn partition_keys(&self) -> Result<Rc<Vec<String>>, String> {
        if let Some(keys) = self.partition_keys.borrow().as_ref() {
            return Ok(Rc::clone(keys));
        }
        let path = format!("{}/schema/schema-0", self.root);
        if !self.objects.contains_key(&path) {
            return Ok(Rc::new(Vec::new()));
        }
        let schema = json(self.objects, &path)?;
        let keys: Vec<String> = field(&schema, "partitionKeys", &path)?
            .as_array()
            .ok_or_else(|| format!("{path}: `partitionKeys` is not a list"))?
            .iter()
            .map(|key| key.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("{path}: a partition key is not a string"))?;
        let keys = Rc::new(keys);
        *self.partition_keys.borrow_mut() = Some(Rc::clone(&keys));
        Ok(keys)
    }

    /// Whether `path` is a data or changelog file of this table: below its root, one
    /// `key=value` directory per partition key, then `bucket-<n>/`.
    pub fn is_bucket_file(&self, path: &str) -> Result<bool, String> {
        let Some(relative) = path.strip_prefix(&format!("{}/", self.root)) else {
            return Ok(false);
        };
        let mut dirs = relative.split('/');
        for key in self.partition_keys()?.iter() {
            let in_partition = dirs
                .next()
                .and_then(|dir| dir.strip_prefix(key.as_str()))
                .is_some_and(|rest| rest.starts_with('='));
            if !in_partition {
                return Ok(false);
            }
        }
        Ok(dirs.next().is_some_and(|dir| dir.starts_with("bucket-")))
    }

    /// Every snapshot file present, ascending by id.
    pub fn snapshots(&self) -> Result<Vec<SnapshotInfo>, String> {
        let prefix = format!("{}/snapshot/snapshot-", self.root);
        let mut snapshots = Vec::new();
        for path in self.objects.keys().filter(|p| p.starts_with(&prefix)) {
            snapshots.push(self.snapshot_file(path)?);
        }
        snapshots.sort_by_key(|s| s.id);
        Ok(snapshots)
    }

    /// Every tag file present (`tag/tag-<name>`, a snapshot copy), as (name, snapshot).
    pub fn tags(&self) -> Result<Vec<(String, SnapshotInfo)>, String> {
        let prefix = format!("{}/tag/tag-", self.root);
        let mut tags = Vec::new();
        for path in self.objects.keys().filter(|p| p.starts_with(&prefix)) {
            tags.push((path[prefix.len()..].to_string(), self.snapshot_file(path)?));
        }
        Ok(tags)
    }

    fn snapshot_file(&self, path: &str) -> Result<SnapshotInfo, String> {
        let value = json(self.objects, path)?;
        Ok(SnapshotInfo {
            id: int(&value, "id", path)?,
            path: path.to_string(),
            commit_identifier: int(&value, "commitIdentifier", path)?,
            commit_kind: CommitKind::parse(&text(&value, "commitKind", path)?, path)?,
            base_manifest_list: text(&value, "baseManifestList", path)?,
            delta_manifest_list: text(&value, "deltaManifestList", path)?,
            changelog_manifest_list: value
                .get("changelogManifestList")
                .and_then(Value::as_str)
                .map(str::to_string),
            time_millis: int(&value, "timeMillis", path)?,
            watermark: value.get("watermark").and_then(Value::as_i64),
        })
    }

    /// The entries of the snapshot's delta manifests (what its commit added and deleted).
    pub fn delta_entries(&self, snapshot: &SnapshotInfo) -> Result<Vec<FileEntry>, String> {
        self.file_entries(&snapshot.delta_manifest_list)
    }

    /// The changelog files of the snapshot.
    pub fn changelog_files(&self, snapshot: &SnapshotInfo) -> Result<Vec<FileRef>, String> {
        let Some(list) = &snapshot.changelog_manifest_list else {
            return Ok(Vec::new());
        };
        Ok(self
            .file_entries(list)?
            .into_iter()
            .filter(|e| e.kind == FileKind::Add)
            .map(FileEntry::file)
            .collect())
    }

    /// Path of a data or changelog file of this table.
    pub fn file_path(&self, file: &FileRef) -> String {
        let FileRef {
            partition,
            bucket,
            name,
        } = file;
        if partition.is_empty() {
            format!("{}/bucket-{bucket}/{name}", self.root)
        } else {
            format!("{}/{partition}/bucket-{bucket}/{name}", self.root)
        }
    }

    /// Every entry of the manifests a list names.
    fn file_entries(&self, list: &str) -> Result<Vec<FileEntry>, String> {
        let list_path = format!("{}/manifest/{list}", self.root);
        let mut entries = Vec::new();
        for manifest in avro_records(self.objects, &list_path)? {
            let name = avro_text(&manifest, "_FILE_NAME", &list_path)?;
            let path = format!("{}/manifest/{name}", self.root);
            entries.extend(self.manifest_entries(&path)?.iter().cloned());
        }
        Ok(entries)
    }

    /// The entries of one manifest, decoded once per inspector.
    fn manifest_entries(&self, path: &str) -> Result<Rc<Vec<FileEntry>>, String> {
        if let Some(entries) = self.manifests.borrow().get(path) {
            return Ok(Rc::clone(entries));
        }
        let mut entries = Vec::new();
        for entry in avro_records(self.objects, path)? {
            let file = avro_field(&entry, "_FILE", path)?;
            let AvroValue::Record(file) = file else {
                return Err(format!("{path}: `_FILE` is not a record"));
            };
            let kind = match avro_int(&entry, "_KIND", path)? {
                0 => FileKind::Add,
                1 => FileKind::Delete,
                other => return Err(format!("{path}: manifest entry of unknown kind {other}")),
            };
            let partition = match avro_field(&entry, "_PARTITION", path)? {
                AvroValue::Bytes(bytes) => partition_dir(bytes, &self.partition_keys()?, path)?,
                _ => return Err(format!("{path}: `_PARTITION` is not bytes")),
            };
            entries.push(FileEntry {
                kind,
                partition,
                bucket: avro_int(&entry, "_BUCKET", path)?,
                level: avro_int(file, "_LEVEL", path)?,
                name: avro_text(file, "_FILE_NAME", path)?,
                size_bytes: avro_int(file, "_FILE_SIZE", path)?.max(0) as u64,
            });
        }
        let entries = Rc::new(entries);
        self.manifests
            .borrow_mut()
            .insert(path.to_string(), Rc::clone(&entries));
        Ok(entries)
    }

    /// The snapshot's live data files: base then delta entries, ADD minus DELETE, sorted by
    /// (partition, bucket, level, name).
    pub fn live_files(&self, snapshot: &SnapshotInfo) -> Result<Vec<FileRef>, String> {
        let mut live = std::collections::BTreeSet::new();
        for list in [&snapshot.base_manifest_list, &snapshot.delta_manifest_list] {
            for entry in self.file_entries(list)? {
                let id = (entry.partition, entry.bucket, entry.level, entry.name);
                match entry.kind {
                    FileKind::Add => live.insert(id),
                    FileKind::Delete => live.remove(&id),
                };
            }
        }
        Ok(live
            .into_iter()
            .map(|(partition, bucket, _, name)| FileRef {
                partition,
                bucket,
                name,
            })
            .collect())
    }

    /// Records of every live data file of the snapshot, into `records` (emptied first).
    pub fn live_records(
        &self,
        snapshot: &SnapshotInfo,
        records: &mut Records,
    ) -> Result<(), String> {
        records.reset(self.fields.len());
        for file in self.live_files(snapshot)? {
            self.read_parquet(&self.file_path(&file), records)?;
        }
        Ok(())
    }

    /// [`Self::live_records`] a batch at a time: `records` holds one batch of one live file's
    /// records (at most [`BATCH_ROWS`]) when `visit` sees it. The same records in the same
    /// order, without holding every file's, or one whole file's, at once: an unpartitioned
    /// table's largest file grows with the run.
    pub fn for_each_live_batch(
        &self,
        snapshot: &SnapshotInfo,
        records: &mut Records,
        mut visit: impl FnMut(&Records),
    ) -> Result<(), String> {
        for file in self.live_files(snapshot)? {
            let path = self.file_path(&file);
            records.reset(self.fields.len());
            self.decode(&path, &self.file_bytes(&path)?, records, |records| {
                visit(records);
                records.reset(records.width);
            })?;
        }
        Ok(())
    }

    /// Records of every data file the snapshot added, in manifest order, into `records` (emptied
    /// first; pass the same buffer again to reuse its allocations).
    pub fn added_records(
        &self,
        snapshot: &SnapshotInfo,
        records: &mut Records,
    ) -> Result<(), String> {
        records.reset(self.fields.len());
        // A compaction rewrites records the checker has already applied (their sequence
        // numbers are not newer); its output is verified at the end from the live files.
        if snapshot.commit_kind == CommitKind::Compact {
            return Ok(());
        }
        for entry in self.file_entries(&snapshot.delta_manifest_list)? {
            if entry.kind == FileKind::Add {
                let path = self.file_path(&entry.file());
                self.read_parquet(&path, records)?;
            }
        }
        Ok(())
    }

    /// Appends the records of one data file to `records`, whose `width` must be `fields.len()`.
    pub fn read_parquet(&self, path: &str, records: &mut Records) -> Result<(), String> {
        self.decode(path, &self.file_bytes(path)?, records, |_| {})
    }

    fn file_bytes(&self, path: &str) -> Result<bytes::Bytes, String> {
        let bytes = self
            .objects
            .get(path)
            .ok_or_else(|| format!("{path} is referenced by a manifest but missing"))?;
        Ok(bytes::Bytes::from(bytes))
    }

    /// Appends the file's records to `records` a batch at a time, calling `after_batch` after
    /// each (which may take the batch out of `records`).
    fn decode(
        &self,
        path: &str,
        data: &bytes::Bytes,
        records: &mut Records,
        mut after_batch: impl FnMut(&mut Records),
    ) -> Result<(), String> {
        let unreadable = |e: ParquetError| format!("{path} is not readable Parquet: {e}");
        let metadata =
            ArrowReaderMetadata::load(data, ArrowReaderOptions::new()).map_err(unreadable)?;
        // Symbol columns are read as dictionaries, so no string is materialised per record.
        let schema = metadata.schema();
        let fields: Vec<FieldRef> = schema
            .fields()
            .iter()
            .map(|f| {
                if self.symbols.contains_key(f.name()) && *f.data_type() == DataType::Utf8 {
                    let dictionary =
                        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
                    Arc::new(f.as_ref().clone().with_data_type(dictionary))
                } else {
                    f.clone()
                }
            })
            .collect();
        let hinted = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        let metadata = ArrowReaderMetadata::try_new(
            metadata.metadata().clone(),
            ArrowReaderOptions::new().with_schema(hinted),
        )
        .map_err(unreadable)?;
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(data.clone(), metadata);
        // Read only the columns the checkers use (not the `_KEY_` copies), in batches of up to
        // BATCH_ROWS.
        let rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        let wanted: Vec<usize> = builder
            .parquet_schema()
            .root_schema()
            .get_fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                let name = f.name();
                name == "_SEQUENCE_NUMBER"
                    || name == "_VALUE_KIND"
                    || self.fields.iter().any(|n| n == name)
            })
            .map(|(i, _)| i)
            .collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), wanted);
        let reader = builder
            .with_projection(mask)
            .with_batch_size(rows.clamp(1, BATCH_ROWS))
            .build()
            .map_err(unreadable)?;
        warehouse::table::parquet_work::count_file_decoded();
        let width = self.fields.len();
        let reserved = rows.min(BATCH_ROWS);
        records.kinds.reserve(reserved);
        records.sequence_numbers.reserve(reserved);
        records.values.reserve(reserved * width);
        let mut symbol_columns: Vec<Vec<i64>> = Vec::new();
        for batch in reader {
            let batch = batch.map_err(|e| format!("{path}: {e}"))?;
            warehouse::table::parquet_work::count_values_decoded(
                batch.num_rows(),
                batch.num_columns(),
            );
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
            // Every field as a slice of n integers: INT64 columns as they are, symbol columns
            // mapped to symbol indexes first.
            symbol_columns.clear();
            let mut sources: Vec<Option<&[i64]>> = Vec::with_capacity(width);
            for name in &self.fields {
                let array = column(name)?;
                if let Some(ints) = array.as_any().downcast_ref::<Int64Array>() {
                    sources.push(Some(&ints.values()[..n]));
                    continue;
                }
                let symbols = self.symbols.get(name);
                let mapped = if let Some(dictionary) =
                    array.as_any().downcast_ref::<DictionaryArray<Int32Type>>()
                {
                    let symbols = symbols
                        .ok_or_else(|| format!("{path}: column {name} is a string column"))?;
                    map_dictionary(path, name, dictionary, symbols)?
                } else if let Some(strings) = array.as_any().downcast_ref::<StringArray>() {
                    let symbols = symbols
                        .ok_or_else(|| format!("{path}: column {name} is a string column"))?;
                    (0..n)
                        .map(|i| symbol_index(path, name, symbols, strings.value(i)))
                        .collect::<Result<_, _>>()?
                } else {
                    return Err(format!("{path}: column {name} has an unexpected type"));
                };
                symbol_columns.push(mapped);
                sources.push(None);
            }
            let mut mapped = symbol_columns.iter();
            let sources: Vec<&[i64]> = sources
                .into_iter()
                .map(|s| s.unwrap_or_else(|| mapped.next().map_or(&[], Vec::as_slice)))
                .collect();
            for i in 0..n {
                records.values.extend(sources.iter().map(|c| c[i]));
            }
            for &byte in &kinds.values()[..n] {
                let kind = RowKind::from_byte(byte)
                    .ok_or_else(|| format!("{path}: _VALUE_KIND {byte} is none of 0..=3"))?;
                records.kinds.push(kind);
            }
            records
                .sequence_numbers
                .extend_from_slice(&sequence.values()[..n]);
            after_batch(records);
        }
        Ok(())
    }
}

fn symbol_index(path: &str, name: &str, symbols: &[String], value: &str) -> Result<i64, String> {
    symbols
        .iter()
        .position(|s| s == value)
        .map(|p| p as i64)
        .ok_or_else(|| format!("{path}: unknown {name} `{value}`"))
}

/// A dictionary-encoded symbol column as symbol indexes: each dictionary value is looked up once;
/// an unknown one is an error only if a record uses it. A null reads as the empty string.
fn map_dictionary(
    path: &str,
    name: &str,
    dictionary: &DictionaryArray<Int32Type>,
    symbols: &[String],
) -> Result<Vec<i64>, String> {
    let values = dictionary
        .values()
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| format!("{path}: column {name} has an unexpected type"))?;
    let lookup: Vec<Option<i64>> = (0..values.len())
        .map(|i| symbol_index(path, name, symbols, values.value(i)).ok())
        .collect();
    let keys = dictionary.keys();
    (0..keys.len())
        .map(|i| {
            let key = usize::try_from(keys.value(i)).ok();
            match key.and_then(|k| lookup.get(k).copied().flatten()) {
                Some(index) if keys.is_valid(i) => Ok(index),
                _ if keys.is_null(i) => symbol_index(path, name, symbols, ""),
                _ => {
                    let value = key
                        .filter(|k| *k < values.len())
                        .map_or("", |k| values.value(k));
                    symbol_index(path, name, symbols, value)
                }
            }
        })
        .collect()
}
