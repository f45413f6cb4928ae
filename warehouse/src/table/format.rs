//! Parquet encoding of data and changelog files in Paimon's key-value layout: `_KEY_<pk>...`,
//! `_SEQUENCE_NUMBER`, `_VALUE_KIND`, then the schema's fields. Decoding never panics on bad
//! input: anything unexpected is `Corrupt` naming the file.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{
    Array, ArrayRef, Int8Array, Int32DictionaryArray, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field as ArrowField, Schema as ArrowSchema};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::meta::DataFileMeta;
use super::{FileCompression, Key, TableError, TableSchema};
use crate::row::{FieldType, NULL, Row, RowKind};

pub(crate) const SEQUENCE_NUMBER: &str = "_SEQUENCE_NUMBER";
pub(crate) const VALUE_KIND: &str = "_VALUE_KIND";
pub(crate) const KEY_PREFIX: &str = "_KEY_";

/// One record to encode, borrowing its key and row.
pub(crate) struct RecordRef<'a> {
    pub key: &'a [i64],
    pub sequence_number: i64,
    pub kind: RowKind,
    pub row: &'a [i64],
}

fn arrow_type(field_type: &FieldType) -> DataType {
    match field_type {
        FieldType::BigInt => DataType::Int64,
        FieldType::Enum(_) => DataType::Utf8,
    }
}

/// Columns in file order: key columns (typed as their fields), then values, each with whether
/// it is nullable (see `row::NULL`); the system columns are spliced in between by the callers.
fn file_columns<'a>(
    schema: &'a TableSchema,
    pk_indices: &'a [usize],
) -> impl Iterator<Item = (String, &'a FieldType, bool)> + 'a {
    let keys = pk_indices.iter().map(|&i| {
        let field = &schema.fields[i];
        (
            format!("{KEY_PREFIX}{}", field.name),
            &field.field_type,
            false,
        )
    });
    let values = schema
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name.clone(), &f.field_type, schema.is_nullable(i)));
    keys.chain(values)
}

/// Paimon's field ids of the system columns and of the `_KEY_` copies (key field id + start), as
/// Paimon's `SpecialFields` assigns them; value columns keep their schema field id.
const KEY_FIELD_ID_START: i64 = i32::MAX as i64 / 2;
const SEQUENCE_NUMBER_FIELD_ID: i64 = i32::MAX as i64 - 1;
const VALUE_KIND_FIELD_ID: i64 = i32::MAX as i64 - 2;

/// An Arrow field carrying its Paimon field id as the Parquet field id.
fn field_with_id(
    name: impl Into<String>,
    data_type: DataType,
    nullable: bool,
    id: i64,
) -> ArrowField {
    let metadata = [(
        parquet::arrow::PARQUET_FIELD_ID_META_KEY.to_string(),
        id.to_string(),
    )];
    // A one-entry map: its iteration order cannot vary.
    let metadata: std::collections::HashMap<String, String> = metadata.into_iter().collect();
    ArrowField::new(name, data_type, nullable).with_metadata(metadata)
}

fn arrow_schema(schema: &TableSchema, pk_indices: &[usize]) -> ArrowSchema {
    let mut fields: Vec<ArrowField> =
        Vec::with_capacity(schema.fields.len() + pk_indices.len() + 2);
    // Schema field ids are field positions (see `TableSchema::to_schema_file`).
    let field_ids = pk_indices
        .iter()
        .map(|&i| KEY_FIELD_ID_START + i as i64)
        .chain((0..schema.fields.len()).map(|i| i as i64));
    for ((name, field_type, nullable), id) in file_columns(schema, pk_indices).zip(field_ids) {
        fields.push(field_with_id(name, arrow_type(field_type), nullable, id));
    }
    // Sequence and kind sit between the keys and the values.
    let system = [
        field_with_id(
            SEQUENCE_NUMBER,
            DataType::Int64,
            false,
            SEQUENCE_NUMBER_FIELD_ID,
        ),
        field_with_id(VALUE_KIND, DataType::Int8, false, VALUE_KIND_FIELD_ID),
    ];
    fields.splice(pk_indices.len()..pk_indices.len(), system);
    ArrowSchema::new(fields)
}

/// What `encode` writes: records in file order, read field by field, so the writer's rows and
/// compaction's decoded columns both encode without being copied into records first.
pub(crate) trait Records {
    fn len(&self) -> usize;
    /// Key columns per record.
    fn key_width(&self) -> usize;
    /// Key column `k` of record `i`.
    fn key(&self, i: usize, k: usize) -> i64;
    fn sequence_number(&self, i: usize) -> i64;
    fn kind(&self, i: usize) -> RowKind;
    /// Field `f` of record `i`.
    fn value(&self, i: usize, f: usize) -> i64;
}

impl Records for [RecordRef<'_>] {
    fn len(&self) -> usize {
        <[RecordRef<'_>]>::len(self)
    }
    fn key_width(&self) -> usize {
        self.first().map_or(0, |r| r.key.len())
    }
    fn key(&self, i: usize, k: usize) -> i64 {
        self[i].key[k]
    }
    fn sequence_number(&self, i: usize) -> i64 {
        self[i].sequence_number
    }
    fn kind(&self, i: usize) -> RowKind {
        self[i].kind
    }
    fn value(&self, i: usize, f: usize) -> i64 {
        self[i].row[f]
    }
}

/// Owned lists of records (a `Vec` or an array) encode as their slice does.
macro_rules! records_as_slice {
    ($($owner:ty),* $(,)?) => {$(
        impl Records for $owner {
            fn len(&self) -> usize {
                self[..].len()
            }
            fn key_width(&self) -> usize {
                self[..].key_width()
            }
            fn key(&self, i: usize, k: usize) -> i64 {
                self[..].key(i, k)
            }
            fn sequence_number(&self, i: usize) -> i64 {
                self[..].sequence_number(i)
            }
            fn kind(&self, i: usize) -> RowKind {
                self[..].kind(i)
            }
            fn value(&self, i: usize, f: usize) -> i64 {
                self[..].value(i, f)
            }
        }
    )*};
}

records_as_slice!(
    Vec<RecordRef<'_>>,
    [RecordRef<'_>; 1],
    [RecordRef<'_>; 2],
    [RecordRef<'_>; 3]
);

/// One column's Arrow array from its values (enum fields as symbol indices).
fn encode_column(
    field_type: &FieldType,
    nullable: bool,
    values: Vec<i64>,
    path: &str,
    name: &str,
) -> Result<ArrayRef, TableError> {
    match field_type {
        FieldType::BigInt if nullable && values.contains(&NULL) => Ok(Arc::new(
            Int64Array::from_iter(values.into_iter().map(|v| Some(v).filter(|&v| v != NULL))),
        )),
        FieldType::BigInt => Ok(Arc::new(Int64Array::from(values))),
        FieldType::Enum(symbols) => {
            let mut builder = StringBuilder::with_capacity(values.len(), values.len() * 8);
            for index in values {
                if nullable && index == NULL {
                    builder.append_null();
                    continue;
                }
                let symbol = usize::try_from(index)
                    .ok()
                    .and_then(|idx| symbols.get(idx))
                    .ok_or_else(|| TableError::Encode {
                        path: path.to_string(),
                        reason: format!("column {name}: enum index {index} out of range"),
                    })?;
                builder.append_value(symbol);
            }
            Ok(Arc::new(builder.finish()))
        }
    }
}

/// Records handed to the Parquet writer at a time: a multiple of its mini-batch (1024 rows),
/// so the pages and the bytes are those of one batch of every record, while the Arrow arrays
/// in memory are one slice's, not the file's (a compaction of a large bucket built every column
/// of its output at once).
const ENCODE_SLICE_ROWS: usize = 16 * 1024;
const _: () = assert!(
    ENCODE_SLICE_ROWS.is_multiple_of(1024),
    "slices must not move page boundaries"
);

/// Records `rows` of `records` as one Arrow batch of `arrow_schema`.
fn record_batch<R: Records + ?Sized>(
    schema: &TableSchema,
    pk_indices: &[usize],
    arrow_schema: &Arc<ArrowSchema>,
    records: &R,
    rows: std::ops::Range<usize>,
    path: &str,
) -> Result<RecordBatch, TableError> {
    let n = rows.len();
    let (npk, nfields) = (pk_indices.len(), schema.fields.len());
    // One pass over the records fills every column.
    let mut keys: Vec<Vec<i64>> = (0..npk).map(|_| Vec::with_capacity(n)).collect();
    let mut values: Vec<Vec<i64>> = (0..nfields).map(|_| Vec::with_capacity(n)).collect();
    let mut sequence_numbers = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    for i in rows {
        for (k, column) in keys.iter_mut().enumerate() {
            column.push(records.key(i, k));
        }
        sequence_numbers.push(records.sequence_number(i));
        kinds.push(records.kind(i).as_byte());
        for (f, column) in values.iter_mut().enumerate() {
            column.push(records.value(i, f));
        }
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(arrow_schema.fields().len());
    for (column, &field_index) in keys.into_iter().zip(pk_indices) {
        let field = &schema.fields[field_index];
        columns.push(encode_column(
            &field.field_type,
            false,
            column,
            path,
            &field.name,
        )?);
    }
    columns.push(Arc::new(Int64Array::from(sequence_numbers)));
    columns.push(Arc::new(Int8Array::from(kinds)));
    for (f, (column, field)) in values.into_iter().zip(&schema.fields).enumerate() {
        columns.push(encode_column(
            &field.field_type,
            schema.is_nullable(f),
            column,
            path,
            &field.name,
        )?);
    }
    RecordBatch::try_new(arrow_schema.clone(), columns).map_err(|e| TableError::Encode {
        path: path.to_string(),
        reason: e.to_string(),
    })
}

/// Encodes records into one Parquet file's bytes. `path` only names errors.
pub(crate) fn encode<R: Records + ?Sized>(
    schema: &TableSchema,
    pk_indices: &[usize],
    records: &R,
    path: &str,
) -> Result<Vec<u8>, TableError> {
    encode_in_slices(schema, pk_indices, records, path, ENCODE_SLICE_ROWS)
}

fn encode_in_slices<R: Records + ?Sized>(
    schema: &TableSchema,
    pk_indices: &[usize],
    records: &R,
    path: &str,
    slice_rows: usize,
) -> Result<Vec<u8>, TableError> {
    let arrow_schema = Arc::new(arrow_schema(schema, pk_indices));
    let n = records.len();
    assert!(
        n == 0 || records.key_width() == pk_indices.len(),
        "records keyed by the primary key"
    );
    let encode_err = |e: &dyn std::fmt::Display| TableError::Encode {
        path: path.to_string(),
        reason: e.to_string(),
    };
    let compression = match schema.options.file_compression {
        FileCompression::None => Compression::UNCOMPRESSED,
        FileCompression::Snappy => Compression::SNAPPY,
    };
    // Dictionary pages cost more than they save on ids, times and money; keep them for strings.
    let mut props = WriterProperties::builder()
        .set_compression(compression)
        .set_dictionary_enabled(false);
    for field in &schema.fields {
        if matches!(field.field_type, crate::row::FieldType::Enum(_)) {
            props = props.set_column_dictionary_enabled(field.name.as_str().into(), true);
        }
    }
    let props = props.build();
    let mut writer = ArrowWriter::try_new(
        Vec::with_capacity(n * 16 + 1024),
        arrow_schema.clone(),
        Some(props),
    )
    .map_err(|e| encode_err(&e))?;
    // At least one batch, so a file of no records is written as before (its schema, no rows).
    let mut start = 0;
    loop {
        let end = n.min(start + slice_rows);
        let batch = record_batch(schema, pk_indices, &arrow_schema, records, start..end, path)?;
        writer.write(&batch).map_err(|e| encode_err(&e))?;
        start = end;
        if start >= n {
            break;
        }
    }
    writer.into_inner().map_err(|e| encode_err(&e))
}

/// What a written file holds, for the order its records must be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileContent {
    /// One record per key: keys strictly ascending.
    Data,
    /// Keys ascending, a key's records by sequence number (a -U/+U pair shares one).
    Changelog,
}

/// Compares the keys of records `i` and `j`.
fn cmp_keys<R: Records + ?Sized>(records: &R, i: usize, j: usize) -> std::cmp::Ordering {
    (0..records.key_width())
        .map(|k| records.key(i, k).cmp(&records.key(j, k)))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// The manifest entry of a file just encoded from `records`. Checks, in the pass that finds
/// the sequence range, the order `content` promises, so the min/max key (first and last
/// record) and the sequence range describe the rows exactly.
///
/// # Panics
/// If the records are out of order: a writer or compaction bug, caught before the file is
/// published.
pub(crate) fn file_meta<R: Records + ?Sized>(
    file_name: String,
    file_size: u64,
    records: &R,
    time_millis: i64,
    content: FileContent,
) -> DataFileMeta {
    let n = records.len();
    let key = |i: usize| -> Key {
        (0..records.key_width())
            .map(|k| records.key(i, k))
            .collect()
    };
    let (mut min_sequence_number, mut max_sequence_number) = (i64::MAX, i64::MIN);
    let mut delete_row_count = 0;
    for i in 0..n {
        let sequence_number = records.sequence_number(i);
        min_sequence_number = min_sequence_number.min(sequence_number);
        max_sequence_number = max_sequence_number.max(sequence_number);
        delete_row_count += u64::from(!records.kind(i).is_add());
        if i == 0 {
            continue;
        }
        let order = cmp_keys(records, i - 1, i);
        match content {
            FileContent::Data => assert!(
                order.is_lt(),
                "{file_name}: data file keys must strictly ascend (record {i})"
            ),
            FileContent::Changelog => assert!(
                order.is_lt()
                    || (order.is_eq() && records.sequence_number(i - 1) <= sequence_number),
                "{file_name}: changelog records must ascend by key, then sequence number (record {i})"
            ),
        }
    }
    let meta = DataFileMeta {
        file_name,
        file_size,
        row_count: n as u64,
        min_key: if n == 0 { Vec::new() } else { key(0) },
        max_key: if n == 0 { Vec::new() } else { key(n - 1) },
        min_sequence_number: if n == 0 { -1 } else { min_sequence_number },
        max_sequence_number: if n == 0 { -1 } else { max_sequence_number },
        schema_id: 0,
        level: 0,
        extra_files: Vec::new(),
        creation_time: time_millis,
        delete_row_count,
        file_source: "APPEND".to_string(),
    };
    if let Some(reason) = meta.inconsistency(records.key_width()) {
        panic!("{}: {reason}", meta.file_name);
    }
    meta
}

/// One decoded data or changelog file, column by column: what merge-on-read and compaction
/// work on without a heap allocation per record. Record `i` has key columns `keys[k][i]`, value
/// columns `values[f][i]` (enum fields as symbol indices, nulls as `row::NULL`). Integer columns
/// without nulls are Parquet's decoded buffers themselves, not copies.
#[derive(Clone)]
pub(crate) struct Run {
    pub keys: Vec<Int64Array>,
    pub sequence_numbers: Int64Array,
    pub kinds: Vec<RowKind>,
    pub values: Vec<Int64Array>,
}

impl Run {
    pub fn len(&self) -> usize {
        self.sequence_numbers.len()
    }

    pub fn sequence_number(&self, i: usize) -> i64 {
        self.sequence_numbers.values()[i]
    }

    /// Compares record `i`'s key with record `j`'s of `other`.
    pub fn cmp_key(&self, i: usize, other: &Run, j: usize) -> std::cmp::Ordering {
        for (mine, theirs) in self.keys.iter().zip(&other.keys) {
            match mine.values()[i].cmp(&theirs.values()[j]) {
                std::cmp::Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        std::cmp::Ordering::Equal
    }

    /// Whether the keys strictly ascend (one record per key, sorted): true of every data file
    /// this store writes, which lets readers merge runs instead of sorting them.
    pub fn is_sorted_by_key(&self) -> bool {
        if let [column] = self.keys.as_slice() {
            return column.values().windows(2).all(|w| w[0] < w[1]);
        }
        (1..self.len()).all(|i| self.cmp_key(i - 1, self, i).is_lt())
    }

    pub fn key(&self, i: usize) -> Key {
        self.keys.iter().map(|column| column.values()[i]).collect()
    }

    pub fn row(&self, i: usize) -> Row {
        self.values
            .iter()
            .map(|column| column.values()[i])
            .collect()
    }
}

/// One decoded column: integers as they are (Parquet's buffer when there are no nulls), enum
/// symbols as their indices, nulls (only where `nullable`) as `row::NULL`.
fn decode_column(
    array: &ArrayRef,
    (field_type, nullable): (&FieldType, bool),
    path: &str,
    name: &str,
) -> Result<Int64Array, TableError> {
    let has_nulls = array.null_count() > 0;
    if has_nulls && !nullable {
        return Err(TableError::corrupt(
            path,
            format!("column {name} has nulls"),
        ));
    }
    let wrong = || {
        TableError::corrupt(
            path,
            format!("column {name} has type {}", array.data_type()),
        )
    };
    match field_type {
        FieldType::BigInt => {
            let ints = array
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(wrong)?;
            if has_nulls {
                Ok(Int64Array::from_iter_values(
                    ints.iter().map(|value| value.unwrap_or(NULL)),
                ))
            } else {
                Ok(Int64Array::new(ints.values().clone(), None))
            }
        }
        FieldType::Enum(symbols) => {
            if let Some(dictionary) = array.as_any().downcast_ref::<Int32DictionaryArray>() {
                return decode_enum_dictionary(dictionary, symbols, path, name);
            }
            let strings = array
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(wrong)?;
            let mut out = Vec::with_capacity(strings.len());
            for value in strings.iter() {
                out.push(match value {
                    None => NULL,
                    Some(value) => symbol_index(symbols, value, path, name)?,
                });
            }
            Ok(Int64Array::from(out))
        }
    }
}

fn symbol_index(
    symbols: &[String],
    value: &str,
    path: &str,
    name: &str,
) -> Result<i64, TableError> {
    symbols
        .iter()
        .position(|s| s == value)
        .map(|index| index as i64)
        .ok_or_else(|| {
            TableError::corrupt(path, format!("column {name}: unknown symbol {value:?}"))
        })
}

/// An enum column read as a dictionary: each dictionary entry is mapped to its symbol index
/// once, then every row through its dictionary key.
fn decode_enum_dictionary(
    array: &Int32DictionaryArray,
    symbols: &[String],
    path: &str,
    name: &str,
) -> Result<Int64Array, TableError> {
    let wrong = || {
        TableError::corrupt(
            path,
            format!("column {name} has type {}", array.data_type()),
        )
    };
    let entries = array
        .values()
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(wrong)?;
    // Entries no row uses may be anything; an unknown symbol is an error only where used.
    let indices: Vec<Option<i64>> = entries
        .iter()
        .map(|entry| entry.and_then(|value| symbols.iter().position(|s| s == value)))
        .map(|index| index.map(|i| i as i64))
        .collect();
    let keys = array.keys();
    let mut out = Vec::with_capacity(keys.len());
    for (row, key) in keys.iter().enumerate() {
        let Some(key) = key else {
            out.push(NULL);
            continue;
        };
        match usize::try_from(key).ok().and_then(|k| indices.get(k)) {
            Some(Some(index)) => out.push(*index),
            _ => {
                let value = array.is_valid(row).then(|| {
                    usize::try_from(key)
                        .ok()
                        .filter(|&k| k < entries.len() && entries.is_valid(k))
                        .map(|k| entries.value(k))
                });
                let value = value.flatten().unwrap_or_default();
                return Err(TableError::corrupt(
                    path,
                    format!("column {name}: unknown symbol {value:?}"),
                ));
            }
        }
    }
    Ok(Int64Array::from(out))
}

/// One column over every batch: the only batch's array as is, or the batches concatenated.
fn concat(mut parts: Vec<Int64Array>) -> Int64Array {
    if parts.len() == 1 {
        return parts.pop().expect("one part");
    }
    let mut values = Vec::with_capacity(parts.iter().map(Array::len).sum());
    for part in &parts {
        values.extend_from_slice(part.values());
    }
    Int64Array::from(values)
}

/// Largest record batch the decoder asks Parquet for: whole files of the usual sizes decode in
/// one batch, and memory stays bounded for large ones.
const DECODE_BATCH_ROWS_MAX: usize = 1 << 16;

/// Decodes a data or changelog file into a [`Run`], records in file order.
pub(crate) fn decode_run(
    schema: &TableSchema,
    pk_indices: &[usize],
    bytes: bytes::Bytes,
    path: &str,
) -> Result<Run, TableError> {
    let corrupt = |e: &dyn std::fmt::Display| TableError::corrupt(path, e);
    let metadata =
        ArrowReaderMetadata::load(&bytes, ArrowReaderOptions::new()).map_err(|e| corrupt(&e))?;
    // Enum columns are dictionary-encoded strings: read them as dictionaries, so each symbol
    // is mapped to its index once per batch rather than once per row.
    let file_schema = metadata.schema().clone();
    let is_enum_name = |name: &str| {
        schema
            .fields
            .iter()
            .any(|f| f.name == name && matches!(f.field_type, FieldType::Enum(_)))
    };
    let hinted: Vec<ArrowField> = file_schema
        .fields()
        .iter()
        .map(|field| {
            let field = field.as_ref().clone();
            if *field.data_type() == DataType::Utf8 && is_enum_name(field.name()) {
                let dictionary =
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
                field.with_data_type(dictionary)
            } else {
                field
            }
        })
        .collect();
    let hinted = ArrowSchema::new_with_metadata(hinted, file_schema.metadata().clone());
    let metadata = ArrowReaderMetadata::try_new(
        metadata.metadata().clone(),
        ArrowReaderOptions::new().with_schema(Arc::new(hinted)),
    )
    .map_err(|e| corrupt(&e))?;
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(bytes, metadata);
    let file_rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let expected = arrow_schema(schema, pk_indices);
    let actual = builder.schema();
    if actual.fields().len() != expected.fields().len()
        || actual
            .fields()
            .iter()
            .zip(expected.fields())
            .any(|(a, e)| a.name() != e.name())
    {
        let list = |s: &ArrowSchema| {
            s.fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        return Err(TableError::corrupt(
            path,
            format!("columns [{}], expected [{}]", list(actual), list(&expected)),
        ));
    }
    // The `_KEY_` columns copy the key fields, which are value columns too: skip decoding them.
    let npk = pk_indices.len();
    let projection = ProjectionMask::roots(builder.parquet_schema(), npk..expected.fields().len());
    let reader = builder
        .with_projection(projection)
        .with_batch_size(file_rows.clamp(1, DECODE_BATCH_ROWS_MAX))
        .build()
        .map_err(|e| corrupt(&e))?;
    let nfields = schema.fields.len();
    let mut parts: Vec<Vec<Int64Array>> = vec![Vec::new(); nfields + 1];
    let mut kinds: Vec<RowKind> = Vec::with_capacity(file_rows.min(DECODE_BATCH_ROWS_MAX * 16));
    for batch in reader {
        let batch = batch.map_err(|e| corrupt(&e))?;
        if batch.num_columns() != nfields + 2 {
            return Err(TableError::corrupt(path, "projected columns missing"));
        }
        for (f, field) in schema.fields.iter().enumerate() {
            parts[f].push(decode_column(
                batch.column(f + 2),
                (&field.field_type, schema.is_nullable(f)),
                path,
                &field.name,
            )?);
        }
        let seqs = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .filter(|a| a.null_count() == 0)
            .ok_or_else(|| TableError::corrupt(path, format!("bad {SEQUENCE_NUMBER} column")))?;
        parts[nfields].push(Int64Array::new(seqs.values().clone(), None));
        let kind_array = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int8Array>()
            .filter(|a| a.null_count() == 0)
            .ok_or_else(|| TableError::corrupt(path, format!("bad {VALUE_KIND} column")))?;
        for &byte in kind_array.values() {
            let kind = RowKind::from_byte(byte)
                .ok_or_else(|| TableError::corrupt(path, format!("unknown value kind {byte}")))?;
            kinds.push(kind);
        }
    }
    let mut columns_out = parts.into_iter().map(concat);
    let values: Vec<Int64Array> = columns_out.by_ref().take(nfields).collect();
    let sequence_numbers = columns_out.next().expect("the sequence column");
    let keys: Vec<Int64Array> = pk_indices.iter().map(|&i| values[i].clone()).collect();
    Ok(Run {
        keys,
        sequence_numbers,
        kinds,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EVENT_FIELD_NAMES;
    use crate::jobs::schemas::dwd_schema;
    use crate::table::TableOptions;

    /// Handing the writer slices of the records writes the same bytes as one batch of all of
    /// them: the slices only bound the Arrow arrays held at once. Over several pages and
    /// slices and a ragged last one, with a dictionary-encoded enum column, compressed and not.
    /// (Slices that are not a multiple of the writer's 1024-row mini-batch move page
    /// boundaries: 1000 fails here.)
    #[test]
    fn slices_encode_to_the_bytes_of_one_batch() {
        let rows: Vec<(Vec<i64>, Vec<i64>)> = (0..200_000i64)
            .map(|i| {
                let row: Vec<i64> = EVENT_FIELD_NAMES
                    .iter()
                    .enumerate()
                    .map(|(f, name)| {
                        if *name == "kind" {
                            i % 3
                        } else {
                            i * 7 + f as i64
                        }
                    })
                    .collect();
                (vec![row[0]], row)
            })
            .collect();
        let records: Vec<RecordRef<'_>> = rows
            .iter()
            .enumerate()
            .map(|(i, (key, row))| RecordRef {
                key,
                sequence_number: i as i64,
                kind: if i % 5 == 0 {
                    RowKind::Delete
                } else {
                    RowKind::Insert
                },
                row,
            })
            .collect();
        for compression in [FileCompression::None, FileCompression::Snappy] {
            let schema = dwd_schema(TableOptions {
                file_compression: compression,
                ..TableOptions::default()
            });
            let whole = encode_in_slices(&schema, &[0], &records, "t", usize::MAX).unwrap();
            for slice_rows in [1024, ENCODE_SLICE_ROWS] {
                let sliced = encode_in_slices(&schema, &[0], &records, "t", slice_rows).unwrap();
                assert!(
                    whole == sliced,
                    "{compression:?}: slices of {slice_rows} changed the file's bytes"
                );
            }
        }
    }
}
