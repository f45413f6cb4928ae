//! Parquet encoding of data and changelog files in Paimon's key-value layout: `_KEY_<pk>...`,
//! `_SEQUENCE_NUMBER`, `_VALUE_KIND`, then the schema's fields. Decoding never panics on bad
//! input: anything unexpected is `Corrupt` naming the file.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{Array, ArrayRef, Int8Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field as ArrowField, Schema as ArrowSchema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

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

/// One decoded record.
pub(crate) struct KvRecord {
    pub key: Key,
    pub sequence_number: i64,
    pub kind: RowKind,
    pub row: Row,
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

fn encode_column(
    field_type: &FieldType,
    nullable: bool,
    len: usize,
    value: impl Fn(usize) -> i64,
    path: &str,
    name: &str,
) -> Result<ArrayRef, TableError> {
    match field_type {
        FieldType::BigInt if nullable => Ok(Arc::new(Int64Array::from_iter(
            (0..len).map(|i| Some(value(i)).filter(|&v| v != NULL)),
        ))),
        FieldType::BigInt => Ok(Arc::new(Int64Array::from_iter_values((0..len).map(value)))),
        FieldType::Enum(symbols) => {
            let mut builder = StringBuilder::with_capacity(len, len * 8);
            for i in 0..len {
                let index = value(i);
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

/// Encodes records into one Parquet file's bytes. `path` only names errors.
pub(crate) fn encode(
    schema: &TableSchema,
    pk_indices: &[usize],
    records: &[RecordRef<'_>],
    path: &str,
) -> Result<Vec<u8>, TableError> {
    let arrow_schema = Arc::new(arrow_schema(schema, pk_indices));
    let n = records.len();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(arrow_schema.fields().len());
    for (k, &field_index) in pk_indices.iter().enumerate() {
        let field = &schema.fields[field_index];
        columns.push(encode_column(
            &field.field_type,
            false,
            n,
            |i| records[i].key[k],
            path,
            &field.name,
        )?);
    }
    columns.push(Arc::new(Int64Array::from_iter_values(
        records.iter().map(|r| r.sequence_number),
    )));
    columns.push(Arc::new(Int8Array::from_iter_values(
        records.iter().map(|r| r.kind.as_byte()),
    )));
    for (f, field) in schema.fields.iter().enumerate() {
        columns.push(encode_column(
            &field.field_type,
            schema.is_nullable(f),
            n,
            |i| records[i].row[f],
            path,
            &field.name,
        )?);
    }
    let encode_err = |e: &dyn std::fmt::Display| TableError::Encode {
        path: path.to_string(),
        reason: e.to_string(),
    };
    let batch = RecordBatch::try_new(arrow_schema.clone(), columns).map_err(|e| encode_err(&e))?;
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
    let mut writer =
        ArrowWriter::try_new(Vec::with_capacity(n * 16 + 1024), arrow_schema, Some(props))
            .map_err(|e| encode_err(&e))?;
    writer.write(&batch).map_err(|e| encode_err(&e))?;
    writer.into_inner().map_err(|e| encode_err(&e))
}

/// A decoded column: integers, or enum symbols mapped back to their indices; `has_nulls` when
/// the (nullable) column holds nulls, which read as `row::NULL`.
struct Column<'a> {
    values: Values<'a>,
    has_nulls: bool,
}

enum Values<'a> {
    Int(&'a Int64Array),
    Enum(&'a StringArray, &'a [String]),
}

impl Column<'_> {
    fn get(&self, i: usize, path: &str, name: &str) -> Result<i64, TableError> {
        if self.has_nulls {
            let is_null = match &self.values {
                Values::Int(array) => array.is_null(i),
                Values::Enum(array, _) => array.is_null(i),
            };
            if is_null {
                return Ok(NULL);
            }
        }
        match &self.values {
            Values::Int(array) => Ok(array.value(i)),
            Values::Enum(array, symbols) => {
                let value = array.value(i);
                symbols
                    .iter()
                    .position(|s| s == value)
                    .map(|p| p as i64)
                    .ok_or_else(|| {
                        TableError::corrupt(
                            path,
                            format!("column {name}: unknown symbol {value:?}"),
                        )
                    })
            }
        }
    }
}

fn column<'a>(
    batch: &'a RecordBatch,
    index: usize,
    (field_type, nullable): (&'a FieldType, bool),
    path: &str,
    name: &str,
) -> Result<Column<'a>, TableError> {
    let array = batch.column(index);
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
    let values = match field_type {
        FieldType::BigInt => array
            .as_any()
            .downcast_ref::<Int64Array>()
            .map(Values::Int)
            .ok_or_else(wrong),
        FieldType::Enum(symbols) => array
            .as_any()
            .downcast_ref::<StringArray>()
            .map(|a| Values::Enum(a, symbols))
            .ok_or_else(wrong),
    }?;
    Ok(Column { values, has_nulls })
}

/// Decodes a data or changelog file. Calls `sink` per record in file order.
pub(crate) fn decode(
    schema: &TableSchema,
    pk_indices: &[usize],
    bytes: Vec<u8>,
    path: &str,
    mut sink: impl FnMut(KvRecord),
) -> Result<(), TableError> {
    let corrupt = |e: &dyn std::fmt::Display| TableError::corrupt(path, e);
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(|e| corrupt(&e))?
        .build()
        .map_err(|e| corrupt(&e))?;
    let expected = arrow_schema(schema, pk_indices);
    let names: Vec<String> = file_columns(schema, pk_indices)
        .map(|(n, _, _)| n)
        .collect();
    let types: Vec<(&FieldType, bool)> = file_columns(schema, pk_indices)
        .map(|(_, t, nullable)| (t, nullable))
        .collect();
    let npk = pk_indices.len();
    for batch in reader {
        let batch = batch.map_err(|e| corrupt(&e))?;
        let actual = batch.schema();
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
                format!(
                    "columns [{}], expected [{}]",
                    list(&actual),
                    list(&expected)
                ),
            ));
        }
        // Batch column index of file column c (skipping the two system columns).
        let batch_index = |c: usize| if c < npk { c } else { c + 2 };
        let cols = names
            .iter()
            .zip(&types)
            .enumerate()
            .map(|(c, (name, t))| column(&batch, batch_index(c), *t, path, name))
            .collect::<Result<Vec<_>, _>>()?;
        let seqs = batch
            .column(npk)
            .as_any()
            .downcast_ref::<Int64Array>()
            .filter(|a| a.null_count() == 0)
            .ok_or_else(|| TableError::corrupt(path, format!("bad {SEQUENCE_NUMBER} column")))?;
        let kind_array = batch.column(npk + 1);
        let kinds = kind_array
            .as_any()
            .downcast_ref::<Int8Array>()
            .filter(|a| a.null_count() == 0)
            .ok_or_else(|| TableError::corrupt(path, format!("bad {VALUE_KIND} column")))?;
        let nfields = schema.fields.len();
        for i in 0..batch.num_rows() {
            let mut key = Vec::with_capacity(npk);
            for (c, col) in cols[..npk].iter().enumerate() {
                key.push(col.get(i, path, &names[c])?);
            }
            let mut row = Vec::with_capacity(nfields);
            for (c, col) in cols[npk..].iter().enumerate() {
                row.push(col.get(i, path, &names[npk + c])?);
            }
            let kind = RowKind::from_byte(kinds.value(i)).ok_or_else(|| {
                TableError::corrupt(path, format!("unknown value kind {}", kinds.value(i)))
            })?;
            sink(KvRecord {
                key,
                sequence_number: seqs.value(i),
                kind,
                row,
            });
        }
    }
    Ok(())
}
