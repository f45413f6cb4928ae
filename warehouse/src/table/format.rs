//! Parquet encoding of data and changelog files in Paimon's key-value layout: `_KEY_<pk>...`,
//! `_SEQUENCE_NUMBER`, `_VALUE_KIND`, then the schema's fields, and the manifest entry of a file
//! written. Decoding is `decode`.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, Int8Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field as ArrowField, Schema as ArrowSchema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::decode::Run;
use super::meta::DataFileMeta;
use super::{FileCompression, Key, TableError, TableSchema};
use crate::row::{FieldType, NULL, RowKind};

pub(crate) const SEQUENCE_NUMBER: &str = "_SEQUENCE_NUMBER";
pub(crate) const VALUE_KIND: &str = "_VALUE_KIND";
pub(crate) const KEY_PREFIX: &str = "_KEY_";

/// One record to encode, borrowing its key and row.
#[derive(PartialEq)]
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

pub(crate) fn arrow_schema(schema: &TableSchema, pk_indices: &[usize]) -> ArrowSchema {
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
pub(crate) const ENCODE_SLICE_ROWS: usize = 16 * 1024;
const _: () = assert!(
    ENCODE_SLICE_ROWS.is_multiple_of(1024),
    "slices must not move page boundaries"
);

/// Records in file column order, each column owned: what an Arrow batch is built from without
/// another copy (a compaction gathers its output into these as it merges).
pub(crate) struct Columns {
    keys: Vec<Vec<i64>>,
    sequence_numbers: Vec<i64>,
    kinds: Vec<i8>,
    values: Vec<Vec<i64>>,
}

impl Columns {
    /// No records yet, room for `capacity` of `key_width` key columns and `fields` values.
    pub fn with_capacity(key_width: usize, fields: usize, capacity: usize) -> Self {
        let column = || Vec::with_capacity(capacity);
        Self {
            keys: (0..key_width).map(|_| column()).collect(),
            sequence_numbers: column(),
            kinds: Vec::with_capacity(capacity),
            values: (0..fields).map(|_| column()).collect(),
        }
    }

    /// Records `rows` of `records`, gathered in one pass.
    fn gather<R: Records + ?Sized>(
        records: &R,
        rows: std::ops::Range<usize>,
        key_width: usize,
        fields: usize,
    ) -> Self {
        // Column by column: each column is one pass that the compiler sizes once (no capacity
        // check per value), which is cheaper than one pass pushing to every column.
        Self {
            keys: (0..key_width)
                .map(|k| rows.clone().map(|i| records.key(i, k)).collect())
                .collect(),
            sequence_numbers: rows.clone().map(|i| records.sequence_number(i)).collect(),
            kinds: rows.clone().map(|i| records.kind(i).as_byte()).collect(),
            values: (0..fields)
                .map(|f| rows.clone().map(|i| records.value(i, f)).collect())
                .collect(),
        }
    }

    /// Appends record `i` of `records`.
    pub fn push<R: Records + ?Sized>(&mut self, records: &R, i: usize) {
        for (k, column) in self.keys.iter_mut().enumerate() {
            column.push(records.key(i, k));
        }
        self.sequence_numbers.push(records.sequence_number(i));
        self.kinds.push(records.kind(i).as_byte());
        for (f, column) in self.values.iter_mut().enumerate() {
            column.push(records.value(i, f));
        }
    }

    /// Appends records `rows` of a decoded run, a column at a time.
    pub fn extend_from_run(&mut self, run: &Run, rows: std::ops::Range<usize>) {
        assert_eq!(self.keys.len(), run.keys.len(), "a column per key field");
        assert_eq!(self.values.len(), run.values.len(), "a column per field");
        for (column, source) in self.keys.iter_mut().zip(&run.keys) {
            column.extend_from_slice(&source.values()[rows.clone()]);
        }
        self.sequence_numbers
            .extend_from_slice(&run.sequence_numbers.values()[rows.clone()]);
        self.kinds
            .extend(run.kinds[rows.clone()].iter().map(|kind| kind.as_byte()));
        for (column, source) in self.values.iter_mut().zip(&run.values) {
            column.extend_from_slice(&source.values()[rows.clone()]);
        }
    }

    pub fn len(&self) -> usize {
        self.sequence_numbers.len()
    }

    pub fn key_width(&self) -> usize {
        self.keys.len()
    }

    pub fn fields(&self) -> usize {
        self.values.len()
    }

    /// The records as one Arrow batch of `arrow_schema`, the columns moved in.
    fn into_batch(
        self,
        schema: &TableSchema,
        pk_indices: &[usize],
        arrow_schema: &Arc<ArrowSchema>,
        path: &str,
    ) -> Result<RecordBatch, TableError> {
        assert_eq!(self.keys.len(), pk_indices.len(), "a column per key field");
        assert_eq!(self.values.len(), schema.fields.len(), "a column per field");
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(arrow_schema.fields().len());
        for (column, &field_index) in self.keys.into_iter().zip(pk_indices) {
            let field = &schema.fields[field_index];
            columns.push(encode_column(
                &field.field_type,
                false,
                column,
                path,
                &field.name,
            )?);
        }
        columns.push(Arc::new(Int64Array::from(self.sequence_numbers)));
        columns.push(Arc::new(Int8Array::from(self.kinds)));
        for (f, (column, field)) in self.values.into_iter().zip(&schema.fields).enumerate() {
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
    let n = records.len();
    assert!(
        n == 0 || records.key_width() == pk_indices.len(),
        "records keyed by the primary key"
    );
    let mut encoder = FileEncoder::new(schema, pk_indices, path, n * 16 + 1024)?;
    let mut start = 0;
    while start < n {
        let end = n.min(start.saturating_add(slice_rows));
        encoder.write(records, start..end)?;
        start = end;
    }
    encoder.finish()
}

/// One Parquet file being encoded, records handed over in slices: what a compaction writes as
/// it merges, holding the file's encoded bytes and one slice of Arrow arrays, not its records.
/// Slices of a multiple of 1024 records write the bytes one batch of every record would.
pub(crate) struct FileEncoder<'a> {
    schema: &'a TableSchema,
    pk_indices: &'a [usize],
    path: String,
    arrow_schema: Arc<ArrowSchema>,
    writer: ArrowWriter<Vec<u8>>,
    /// Whether a batch was written: a file of no records is still written as one empty batch
    /// (its schema, no rows), as it always was.
    written: bool,
}

impl<'a> FileEncoder<'a> {
    pub fn new(
        schema: &'a TableSchema,
        pk_indices: &'a [usize],
        path: &str,
        capacity_bytes: usize,
    ) -> Result<Self, TableError> {
        let arrow_schema = Arc::new(arrow_schema(schema, pk_indices));
        let compression = match schema.options.file_compression {
            FileCompression::None => Compression::UNCOMPRESSED,
            FileCompression::Snappy => Compression::SNAPPY,
        };
        // Dictionary pages cost more than they save on ids, times and money; keep them for
        // strings.
        let mut props = WriterProperties::builder()
            .set_compression(compression)
            .set_dictionary_enabled(false);
        for field in &schema.fields {
            if matches!(field.field_type, crate::row::FieldType::Enum(_)) {
                props = props.set_column_dictionary_enabled(field.name.as_str().into(), true);
            }
        }
        let writer = ArrowWriter::try_new(
            Vec::with_capacity(capacity_bytes),
            arrow_schema.clone(),
            Some(props.build()),
        )
        .map_err(|e| encode_error(path, &e))?;
        Ok(Self {
            schema,
            pk_indices,
            path: path.to_string(),
            arrow_schema,
            writer,
            written: false,
        })
    }

    /// Appends records `rows` of `records` to the file.
    pub fn write<R: Records + ?Sized>(
        &mut self,
        records: &R,
        rows: std::ops::Range<usize>,
    ) -> Result<(), TableError> {
        let (key_width, fields) = (self.pk_indices.len(), self.schema.fields.len());
        self.write_columns(Columns::gather(records, rows, key_width, fields))
    }

    /// Appends records already gathered into columns, moving them into the batch.
    pub fn write_columns(&mut self, columns: Columns) -> Result<(), TableError> {
        let (schema, pk_indices, path) = (self.schema, self.pk_indices, self.path.as_str());
        let batch = columns.into_batch(schema, pk_indices, &self.arrow_schema, path)?;
        super::parquet_work::count_values_encoded(batch.num_rows(), batch.num_columns());
        self.writer
            .write(&batch)
            .map_err(|e| encode_error(path, &e))?;
        self.written = true;
        Ok(())
    }

    /// The file's bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, TableError> {
        if !self.written {
            let no_records: [RecordRef<'_>; 0] = [];
            self.write(&no_records[..], 0..0)?;
        }
        let path = self.path;
        super::parquet_work::count_file_encoded();
        self.writer
            .into_inner()
            .map_err(|e| encode_error(&path, &e))
    }
}

fn encode_error(path: &str, error: &dyn std::fmt::Display) -> TableError {
    TableError::Encode {
        path: path.to_string(),
        reason: error.to_string(),
    }
}

/// What a written file holds, for the order its records must be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileContent {
    /// One record per key: keys strictly ascending.
    Data,
    /// Keys ascending, a key's records by sequence number (a -U/+U pair shares one).
    Changelog,
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
    let mut meta = FileMetaBuilder::new(file_name, content);
    for i in 0..records.len() {
        meta.observe(records, i);
    }
    meta.finish(file_size, time_millis)
}

/// [`file_meta`] built record by record, as a compaction writes them.
pub(crate) struct FileMetaBuilder {
    file_name: String,
    content: FileContent,
    rows: u64,
    first_key: Key,
    last_key: Key,
    last_sequence_number: i64,
    min_sequence_number: i64,
    max_sequence_number: i64,
    delete_row_count: u64,
}

impl FileMetaBuilder {
    pub fn new(file_name: String, content: FileContent) -> Self {
        Self {
            file_name,
            content,
            rows: 0,
            first_key: Key::new(),
            last_key: Key::new(),
            last_sequence_number: i64::MIN,
            min_sequence_number: i64::MAX,
            max_sequence_number: i64::MIN,
            delete_row_count: 0,
        }
    }

    /// Records observed so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Takes record `i` of `records` as the file's next record.
    ///
    /// # Panics
    /// If it breaks the order the file's content promises.
    pub fn observe<R: Records + ?Sized>(&mut self, records: &R, i: usize) {
        let sequence_number = records.sequence_number(i);
        self.min_sequence_number = self.min_sequence_number.min(sequence_number);
        self.max_sequence_number = self.max_sequence_number.max(sequence_number);
        self.delete_row_count += u64::from(!records.kind(i).is_add());
        let width = records.key_width();
        if self.rows > 0 {
            let order = (0..width)
                .map(|k| self.last_key[k].cmp(&records.key(i, k)))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal);
            let (file_name, record) = (&self.file_name, self.rows);
            match self.content {
                FileContent::Data => assert!(
                    order.is_lt(),
                    "{file_name}: data file keys must strictly ascend (record {record})"
                ),
                FileContent::Changelog => assert!(
                    order.is_lt()
                        || (order.is_eq() && self.last_sequence_number <= sequence_number),
                    "{file_name}: changelog records must ascend by key, then sequence number \
                     (record {record})"
                ),
            }
        }
        self.last_key.clear();
        self.last_key.extend((0..width).map(|k| records.key(i, k)));
        if self.rows == 0 {
            self.first_key.clone_from(&self.last_key);
        }
        self.last_sequence_number = sequence_number;
        self.rows += 1;
    }

    /// The manifest entry of the file, once encoded to `file_size` bytes.
    pub fn finish(self, file_size: u64, time_millis: i64) -> DataFileMeta {
        let n = self.rows;
        let key_width = self.last_key.len();
        let meta = DataFileMeta {
            file_name: self.file_name,
            file_size,
            row_count: n,
            min_key: self.first_key,
            max_key: self.last_key,
            min_sequence_number: if n == 0 { -1 } else { self.min_sequence_number },
            max_sequence_number: if n == 0 { -1 } else { self.max_sequence_number },
            schema_id: 0,
            level: 0,
            extra_files: Vec::new(),
            creation_time: time_millis,
            delete_row_count: self.delete_row_count,
            file_source: "APPEND".to_string(),
        };
        if let Some(reason) = meta.inconsistency(key_width) {
            panic!("{}: {reason}", meta.file_name);
        }
        meta
    }
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
    /// boundaries: 1000 fails here.) The path only names errors: it never reaches the bytes.
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
            // A flush stores its data file's bytes as a changelog file of the same records.
            let elsewhere = encode(&schema, &[0], &records, "bucket-0/changelog-t-0.parquet");
            assert!(
                whole == elsewhere.unwrap(),
                "{compression:?}: the path changed the file's bytes"
            );
        }
    }

    /// `dwsim bench`'s Parquet floor counts what the files hold: every column of every record
    /// encoded (the `_KEY_` copy, sequence number and kind included) once per file, however
    /// the records were sliced, and every column a decode reads (the `_KEY_` copy skipped).
    #[test]
    fn parquet_work_counts_the_values_a_file_holds() {
        let rows: Vec<Vec<i64>> = (0..5_000i64)
            .map(|i| {
                (EVENT_FIELD_NAMES.iter().enumerate())
                    .map(|(f, name)| {
                        if *name == "kind" {
                            i % 3
                        } else {
                            i * 7 + f as i64
                        }
                    })
                    .collect()
            })
            .collect();
        let keys: Vec<Vec<i64>> = rows.iter().map(|row| vec![row[0]]).collect();
        let records: Vec<RecordRef<'_>> = rows
            .iter()
            .zip(&keys)
            .enumerate()
            .map(|(i, (row, key))| RecordRef {
                key,
                sequence_number: i as i64,
                kind: RowKind::Insert,
                row,
            })
            .collect();
        let schema = dwd_schema(TableOptions::default());
        let fields = schema.fields.len();
        let _ = super::super::parquet_work::take();
        let bytes = encode_in_slices(&schema, &[0], &records, "t", 1024).unwrap();
        let encoded = super::super::parquet_work::take();
        assert_eq!(
            (encoded.files_encoded, encoded.values_encoded),
            (1, 5_000 * (1 + 2 + fields) as u64)
        );
        let run = super::super::decode::decode_run(&schema, &[0], bytes.into(), "t").unwrap();
        assert_eq!(run.sequence_numbers.len(), 5_000);
        let decoded = super::super::parquet_work::take();
        assert_eq!(
            (decoded.files_decoded, decoded.values_decoded),
            (1, 5_000 * (2 + fields) as u64)
        );
    }
}
