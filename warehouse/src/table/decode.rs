//! Parquet decoding of data and changelog files into [`Run`]s, column by column: a whole file
//! for merge-on-read, or batch by batch for compaction, which walks a bucket without holding it
//! decoded. Decoding never panics on bad input: anything unexpected is `Corrupt` naming the file.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int8Array, Int32DictionaryArray, Int64Array, StringArray};
use arrow_schema::{DataType, Field as ArrowField, Schema as ArrowSchema};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};

use super::format::{SEQUENCE_NUMBER, VALUE_KIND, arrow_schema};
use super::meta::DataFileMeta;
use super::{Key, TableError, TableSchema};
use crate::row::{FieldType, NULL, Row, RowKind};

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
    /// A run of no records (no columns).
    pub fn empty() -> Self {
        Self {
            keys: Vec::new(),
            sequence_numbers: Int64Array::from(Vec::<i64>::new()),
            kinds: Vec::new(),
            values: Vec::new(),
        }
    }

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

/// Whether `run` (a whole file, or a batch of one) lies inside the file's manifest entry `meta`:
/// its first and last keys inside the entry's key range, and every sequence number inside its
/// sequence range.
pub(crate) fn check_within_manifest(
    meta: &DataFileMeta,
    path: &str,
    run: &Run,
) -> Result<(), TableError> {
    if run.len() > 0 {
        let (first, last) = (run.key(0), run.key(run.len() - 1));
        let keys = meta.min_key.as_slice()..=meta.max_key.as_slice();
        if !keys.contains(&first.as_slice()) || !keys.contains(&last.as_slice()) {
            let reason = format!(
                "keys {first:?}..{last:?} outside the manifest's {:?}..{:?}",
                meta.min_key, meta.max_key
            );
            return Err(TableError::corrupt(path, reason));
        }
    }
    let range = meta.min_sequence_number..=meta.max_sequence_number;
    let values = run.sequence_numbers.values();
    if let Some(seq) = values.iter().rev().find(|seq| !range.contains(seq)) {
        let reason = format!(
            "sequence number {seq} outside [{}, {}]",
            meta.min_sequence_number, meta.max_sequence_number
        );
        return Err(TableError::corrupt(path, reason));
    }
    Ok(())
}

/// Whether a file decoded to the `rows` its manifest entry `meta` promises.
pub(crate) fn check_row_count(
    meta: &DataFileMeta,
    path: &str,
    rows: u64,
) -> Result<(), TableError> {
    if rows != meta.row_count {
        let reason = format!("{rows} rows, manifest says {}", meta.row_count);
        return Err(TableError::corrupt(path, reason));
    }
    Ok(())
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
    let mut batches = RunBatches::new(schema, pk_indices, bytes, path, DECODE_BATCH_ROWS_MAX)?;
    let nfields = schema.fields.len();
    let mut parts: Vec<Vec<Int64Array>> = vec![Vec::new(); nfields + 1];
    let mut kinds: Vec<RowKind> = Vec::with_capacity(batches.file_rows.min(1 << 20));
    while let Some(batch) = batches.next_batch()? {
        for (f, column) in batch.values.into_iter().enumerate() {
            parts[f].push(column);
        }
        parts[nfields].push(batch.sequence_numbers);
        kinds.extend_from_slice(&batch.kinds);
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

/// A data or changelog file decoded batch by batch, each batch a [`Run`] of the records that
/// follow the previous batch's: what compaction walks, holding the file's bytes and one batch.
pub(crate) struct RunBatches<'a> {
    schema: &'a TableSchema,
    pk_indices: &'a [usize],
    path: String,
    reader: ParquetRecordBatchReader,
    /// Records the file says it holds.
    pub file_rows: usize,
}

impl<'a> RunBatches<'a> {
    /// Opens the file's bytes (checking its columns) to decode at most `batch_rows` at a time.
    pub fn new(
        schema: &'a TableSchema,
        pk_indices: &'a [usize],
        bytes: bytes::Bytes,
        path: &str,
        batch_rows: usize,
    ) -> Result<Self, TableError> {
        let corrupt = |e: &dyn std::fmt::Display| TableError::corrupt(path, e);
        let metadata = ArrowReaderMetadata::load(&bytes, ArrowReaderOptions::new())
            .map_err(|e| corrupt(&e))?;
        // Enum columns are dictionary-encoded strings: read them as dictionaries, so each
        // symbol is mapped to its index once per batch rather than once per row.
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
        // The `_KEY_` columns copy the key fields, which are value columns too: skip them.
        let npk = pk_indices.len();
        let projection =
            ProjectionMask::roots(builder.parquet_schema(), npk..expected.fields().len());
        let reader = builder
            .with_projection(projection)
            .with_batch_size(file_rows.clamp(1, batch_rows.max(1)))
            .build()
            .map_err(|e| corrupt(&e))?;
        super::parquet_work::count_file_decoded();
        Ok(Self {
            schema,
            pk_indices,
            path: path.to_string(),
            reader,
            file_rows,
        })
    }

    /// The next batch of records, or `None` past the last.
    pub fn next_batch(&mut self) -> Result<Option<Run>, TableError> {
        let path = self.path.as_str();
        let corrupt = |e: &dyn std::fmt::Display| TableError::corrupt(path, e);
        let Some(batch) = self.reader.next() else {
            return Ok(None);
        };
        let batch = batch.map_err(|e| corrupt(&e))?;
        super::parquet_work::count_values_decoded(batch.num_rows(), batch.num_columns());
        let schema = self.schema;
        let nfields = schema.fields.len();
        if batch.num_columns() != nfields + 2 {
            return Err(TableError::corrupt(path, "projected columns missing"));
        }
        let mut values = Vec::with_capacity(nfields);
        for (f, field) in schema.fields.iter().enumerate() {
            values.push(decode_column(
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
        let sequence_numbers = Int64Array::new(seqs.values().clone(), None);
        let kind_array = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int8Array>()
            .filter(|a| a.null_count() == 0)
            .ok_or_else(|| TableError::corrupt(path, format!("bad {VALUE_KIND} column")))?;
        let mut kinds = Vec::with_capacity(kind_array.len());
        for &byte in kind_array.values() {
            let kind = RowKind::from_byte(byte)
                .ok_or_else(|| TableError::corrupt(path, format!("unknown value kind {byte}")))?;
            kinds.push(kind);
        }
        let keys = self.pk_indices.iter().map(|&i| values[i].clone()).collect();
        Ok(Some(Run {
            keys,
            sequence_numbers,
            kinds,
            values,
        }))
    }
}
