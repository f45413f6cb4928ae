//! Paimon's Avro manifest files: manifest lists (`ManifestFileMeta` records) and manifests
//! (`ManifestEntry` records with a nested `DataFileMeta`), with Paimon's record schemas and its
//! `BinaryRow` bytes for keys and partitions, so Paimon readers (Java, pypaimon) open our tables.
//! The container format itself is in `avro_container`.

use apache_avro::types::Value;
use std::borrow::Borrow;
use std::sync::LazyLock;

use super::avro_container::{KnownSchema, encode_error, read_container, write_container};
use super::meta::{DataFileMeta, FileKind, ManifestEntry, ManifestFileMeta};
use super::{Key, TableError};
use crate::row::FieldType;

/// Paimon's `ManifestEntrySerializer` and `ManifestFileMetaSerializer` version (`_VERSION`).
const MANIFEST_VERSION: i32 = 2;

/// Paimon `FileSource`: 0 APPEND (writer output), 1 COMPACT (compaction output).
const FILE_SOURCE_APPEND: i32 = 0;
const FILE_SOURCE_COMPACT: i32 = 1;

/// `SimpleStats` fields (min values row, max values row, null counts), as Paimon declares them.
const SIMPLE_STATS_FIELDS: &str = r#"[{"name":"_MIN_VALUES","type":"bytes"},{"name":"_MAX_VALUES","type":"bytes"},{"name":"_NULL_COUNTS","type":["null",{"type":"array","items":["null","long"]}],"default":null}]"#;

/// Avro schema of a manifest file: Paimon's `ManifestEntry` row type (with `_VERSION` first),
/// field for field as Paimon 1.x and pypaimon declare it. Record names follow Paimon's
/// `AvroSchemaConverter` (`record`, `record_<FIELD>`).
fn manifest_entry_schema_json() -> String {
    format!(
        concat!(
            r#"{{"type":"record","name":"record","namespace":"org.apache.paimon.avro.generated","fields":["#,
            r#"{{"name":"_VERSION","type":"int"}},"#,
            r#"{{"name":"_KIND","type":"int"}},"#,
            r#"{{"name":"_PARTITION","type":"bytes"}},"#,
            r#"{{"name":"_BUCKET","type":"int"}},"#,
            r#"{{"name":"_TOTAL_BUCKETS","type":"int"}},"#,
            r#"{{"name":"_FILE","type":{{"type":"record","name":"record__FILE","fields":["#,
            r#"{{"name":"_FILE_NAME","type":"string"}},"#,
            r#"{{"name":"_FILE_SIZE","type":"long"}},"#,
            r#"{{"name":"_ROW_COUNT","type":"long"}},"#,
            r#"{{"name":"_MIN_KEY","type":"bytes"}},"#,
            r#"{{"name":"_MAX_KEY","type":"bytes"}},"#,
            r#"{{"name":"_KEY_STATS","type":{{"type":"record","name":"record__FILE__KEY_STATS","fields":{stats}}}}},"#,
            r#"{{"name":"_VALUE_STATS","type":{{"type":"record","name":"record__FILE__VALUE_STATS","fields":{stats}}}}},"#,
            r#"{{"name":"_MIN_SEQUENCE_NUMBER","type":"long"}},"#,
            r#"{{"name":"_MAX_SEQUENCE_NUMBER","type":"long"}},"#,
            r#"{{"name":"_SCHEMA_ID","type":"long"}},"#,
            r#"{{"name":"_LEVEL","type":"int"}},"#,
            r#"{{"name":"_EXTRA_FILES","type":{{"type":"array","items":"string"}}}},"#,
            r#"{{"name":"_CREATION_TIME","type":["null",{{"type":"long","logicalType":"timestamp-millis"}}],"default":null}},"#,
            r#"{{"name":"_DELETE_ROW_COUNT","type":["null","long"],"default":null}},"#,
            r#"{{"name":"_EMBEDDED_FILE_INDEX","type":["null","bytes"],"default":null}},"#,
            r#"{{"name":"_FILE_SOURCE","type":["null","int"],"default":null}},"#,
            r#"{{"name":"_VALUE_STATS_COLS","type":["null",{{"type":"array","items":"string"}}],"default":null}},"#,
            r#"{{"name":"_EXTERNAL_PATH","type":["null","string"],"default":null}},"#,
            r#"{{"name":"_FIRST_ROW_ID","type":["null","long"],"default":null}},"#,
            r#"{{"name":"_WRITE_COLS","type":["null",{{"type":"array","items":"string"}}],"default":null}}"#,
            r#"]}}}}]}}"#
        ),
        stats = SIMPLE_STATS_FIELDS
    )
}

/// The manifest schema, parsed once.
static MANIFEST_ENTRY_SCHEMA: LazyLock<KnownSchema> =
    LazyLock::new(|| KnownSchema::parse(manifest_entry_schema_json()));

/// The manifest list schema, parsed once.
static MANIFEST_FILE_META_SCHEMA: LazyLock<KnownSchema> =
    LazyLock::new(|| KnownSchema::parse(manifest_file_meta_schema_json()));

/// Avro schema of a manifest list: Paimon's `ManifestFileMeta` row type (with `_VERSION` first).
fn manifest_file_meta_schema_json() -> String {
    format!(
        concat!(
            r#"{{"type":"record","name":"record","namespace":"org.apache.paimon.avro.generated","fields":["#,
            r#"{{"name":"_VERSION","type":"int"}},"#,
            r#"{{"name":"_FILE_NAME","type":"string"}},"#,
            r#"{{"name":"_FILE_SIZE","type":"long"}},"#,
            r#"{{"name":"_NUM_ADDED_FILES","type":"long"}},"#,
            r#"{{"name":"_NUM_DELETED_FILES","type":"long"}},"#,
            r#"{{"name":"_PARTITION_STATS","type":{{"type":"record","name":"record__PARTITION_STATS","fields":{stats}}}}},"#,
            r#"{{"name":"_SCHEMA_ID","type":"long"}},"#,
            r#"{{"name":"_MIN_BUCKET","type":["null","int"],"default":null}},"#,
            r#"{{"name":"_MAX_BUCKET","type":["null","int"],"default":null}},"#,
            r#"{{"name":"_MIN_LEVEL","type":["null","int"],"default":null}},"#,
            r#"{{"name":"_MAX_LEVEL","type":["null","int"],"default":null}},"#,
            r#"{{"name":"_MIN_ROW_ID","type":["null","long"],"default":null}},"#,
            r#"{{"name":"_MAX_ROW_ID","type":["null","long"],"default":null}}"#,
            r#"]}}"#
        ),
        stats = SIMPLE_STATS_FIELDS
    )
}

/// One value of a `BinaryRow` field.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RowValue {
    Null,
    Long(i64),
    Str(String),
}

/// Width of a `BinaryRow`'s header byte plus null bits, in whole 8-byte words.
fn null_bits_size_bytes(arity: usize) -> usize {
    (arity + 63 + 8) / 64 * 8
}

/// Paimon's serialized `BinaryRow` (`SerializationUtils.serializeBinaryRow`): the arity as a
/// big-endian int, then the row: a row-kind byte and null bits, one little-endian 8-byte slot per
/// field, then the variable-length part (strings over 7 bytes), word-aligned.
pub(crate) fn binary_row(values: &[RowValue]) -> Vec<u8> {
    let arity = values.len();
    let fixed_bytes = null_bits_size_bytes(arity) + 8 * arity;
    let mut row = vec![0u8; fixed_bytes];
    for (i, value) in values.iter().enumerate() {
        let slot = null_bits_size_bytes(arity) + 8 * i;
        match value {
            RowValue::Null => {
                let bit = i + 8;
                row[bit / 8] |= 1 << (bit % 8);
            }
            RowValue::Long(v) => row[slot..slot + 8].copy_from_slice(&v.to_le_bytes()),
            RowValue::Str(s) if s.len() <= 7 => {
                row[slot..slot + s.len()].copy_from_slice(s.as_bytes());
                row[slot + 7] = 0x80 | s.len() as u8;
            }
            RowValue::Str(s) => {
                let offset = row.len() as u64;
                row.extend_from_slice(s.as_bytes());
                row.resize(row.len().div_ceil(8) * 8, 0);
                let offset_and_len = (offset << 32) | s.len() as u64;
                row[slot..slot + 8].copy_from_slice(&offset_and_len.to_le_bytes());
            }
        }
    }
    let mut bytes = Vec::with_capacity(4 + row.len());
    bytes.extend_from_slice(&(arity as i32).to_be_bytes());
    bytes.extend_from_slice(&row);
    bytes
}

/// Reads a serialized `BinaryRow` of `types` (BIGINT as `Long`, STRING as `Str`).
pub(crate) fn read_binary_row(bytes: &[u8], types: &[&FieldType]) -> Result<Vec<RowValue>, String> {
    if bytes.is_empty() && types.is_empty() {
        return Ok(Vec::new());
    }
    let arity_bytes: [u8; 4] = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or("binary row shorter than its arity")?;
    let arity = i32::from_be_bytes(arity_bytes);
    if usize::try_from(arity).ok() != Some(types.len()) {
        return Err(format!(
            "binary row has arity {arity}, expected {}",
            types.len()
        ));
    }
    let row = &bytes[4..];
    let null_bits = null_bits_size_bytes(types.len());
    if row.len() < null_bits + 8 * types.len() {
        return Err(format!("binary row of {} bytes is truncated", row.len()));
    }
    let mut values = Vec::with_capacity(types.len());
    for (i, field_type) in types.iter().enumerate() {
        let bit = i + 8;
        if row[bit / 8] & (1 << (bit % 8)) != 0 {
            values.push(RowValue::Null);
            continue;
        }
        let slot = null_bits + 8 * i;
        let word: [u8; 8] = row[slot..slot + 8].try_into().expect("8-byte slot");
        values.push(match field_type {
            FieldType::BigInt => RowValue::Long(i64::from_le_bytes(word)),
            FieldType::Enum(_) => {
                let text = if word[7] & 0x80 != 0 {
                    let len = usize::from(word[7] & 0x7f).min(7);
                    &word[..len]
                } else {
                    let offset_and_len = u64::from_le_bytes(word);
                    let offset = (offset_and_len >> 32) as usize;
                    let len = (offset_and_len & 0xffff_ffff) as usize;
                    row.get(offset..offset.saturating_add(len))
                        .ok_or("binary row string out of bounds")?
                };
                RowValue::Str(
                    String::from_utf8(text.to_vec()).map_err(|_| "binary row string not UTF-8")?,
                )
            }
        });
    }
    Ok(values)
}

/// Paimon's `MurmurHashUtils.hashBytesByWords` (seed 42) over whole little-endian 4-byte words.
fn murmur_words(words: impl Iterator<Item = u32>, length_bytes: usize) -> u32 {
    let mut h1: u32 = 42;
    for word in words {
        let k1 = word
            .wrapping_mul(0xcc9e_2d51)
            .rotate_left(15)
            .wrapping_mul(0x1b87_3593);
        h1 = (h1 ^ k1)
            .rotate_left(13)
            .wrapping_mul(5)
            .wrapping_add(0xe654_6b64);
    }
    h1 ^= length_bytes as u32;
    h1 ^= h1 >> 16;
    h1 = h1.wrapping_mul(0x85eb_ca6b);
    h1 ^= h1 >> 13;
    h1 = h1.wrapping_mul(0xc2b2_ae35);
    h1 ^ (h1 >> 16)
}

/// Columns whose null bits fit a `BinaryRow`'s 8-byte header word beside its row-kind byte.
const HEADER_WORD_NULL_BITS: usize = 56;

/// Paimon's fixed-bucket assignment: `abs(hashCode(bucket key BinaryRow) % buckets)`, where the
/// bucket key is the primary key (unpartitioned tables). Keys of BIGINT columns whose null bits
/// fit the header word (every table of the warehouse) hash without building their `BinaryRow`,
/// and nothing is allocated.
pub(crate) fn paimon_bucket<T: Borrow<FieldType>>(key: &[i64], types: &[T], buckets: u32) -> u32 {
    let all_bigint = types
        .iter()
        .all(|t| matches!(t.borrow(), FieldType::BigInt));
    let hash = if all_bigint && key.len() < HEADER_WORD_NULL_BITS {
        // Header word (row kind +I, no nulls) then each value's 8 little-endian bytes.
        let words = [0u32, 0u32]
            .into_iter()
            .chain(key.iter().flat_map(|v| [*v as u32, (*v >> 32) as u32]));
        murmur_words(words, 8 + 8 * key.len())
    } else {
        let key: Key = key.to_vec();
        let types: Vec<&FieldType> = types.iter().map(Borrow::borrow).collect();
        let bytes = key_row(&key, &types).unwrap_or_default();
        let row = bytes.get(4..).unwrap_or_default();
        let words = row
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
        murmur_words(words, row.len())
    };
    ((hash as i32) % (buckets.max(1) as i32)).unsigned_abs()
}

/// The `BinaryRow` of a key: BIGINT fields as they are, STRING (enum) fields as their symbol.
fn key_row(key: &Key, types: &[&FieldType]) -> Result<Vec<u8>, String> {
    if key.len() != types.len() {
        return Err(format!(
            "key {key:?} has {} values, the table {}",
            key.len(),
            types.len()
        ));
    }
    let values = key
        .iter()
        .zip(types)
        .map(|(&v, t)| match t {
            FieldType::BigInt => Ok(RowValue::Long(v)),
            FieldType::Enum(symbols) => usize::try_from(v)
                .ok()
                .and_then(|i| symbols.get(i))
                .map(|s| RowValue::Str(s.clone()))
                .ok_or_else(|| format!("key value {v} is not a symbol index")),
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(binary_row(&values))
}

fn read_key(bytes: &[u8], types: &[&FieldType]) -> Result<Key, String> {
    read_binary_row(bytes, types)?
        .into_iter()
        .zip(types)
        .map(|(value, t)| match (value, t) {
            (RowValue::Long(v), FieldType::BigInt) => Ok(v),
            (RowValue::Str(s), FieldType::Enum(symbols)) => symbols
                .iter()
                .position(|x| *x == s)
                .map(|p| p as i64)
                .ok_or_else(|| format!("unknown key symbol {s:?}")),
            (other, _) => Err(format!("unexpected key value {other:?}")),
        })
        .collect()
}

/// Stats of a file written with `metadata.stats-mode` = `none`: for the key, rows of nulls with
/// unknown null counts (what Paimon writes for columns without stats).
fn unknown_stats(arity: usize) -> Value {
    let nulls = binary_row(&vec![RowValue::Null; arity]);
    let null_counts = vec![Value::Union(0, Box::new(Value::Null)); arity];
    Value::Record(vec![
        ("_MIN_VALUES".into(), Value::Bytes(nulls.clone())),
        ("_MAX_VALUES".into(), Value::Bytes(nulls)),
        (
            "_NULL_COUNTS".into(),
            Value::Union(1, Box::new(Value::Array(null_counts))),
        ),
    ])
}

fn some(value: Value) -> Value {
    Value::Union(1, Box::new(value))
}

fn none() -> Value {
    Value::Union(0, Box::new(Value::Null))
}

/// A record field by name, with a `["null", T]` union unwrapped (None for null).
fn field<'v>(record: &'v [(String, Value)], name: &str) -> Option<&'v Value> {
    let value = &record.iter().find(|(n, _)| n == name)?.1;
    match value {
        Value::Union(_, inner) if **inner == Value::Null => None,
        Value::Union(_, inner) => Some(inner),
        Value::Null => None,
        other => Some(other),
    }
}

struct Fields<'a> {
    record: &'a [(String, Value)],
    path: &'a str,
}

impl<'a> Fields<'a> {
    fn missing(&self, name: &str) -> TableError {
        TableError::corrupt(self.path, format!("record lacks `{name}`"))
    }

    fn long(&self, name: &str) -> Result<i64, TableError> {
        match field(self.record, name) {
            Some(Value::Long(v) | Value::TimestampMillis(v)) => Ok(*v),
            Some(Value::Int(v)) => Ok(i64::from(*v)),
            Some(other) => Err(TableError::corrupt(
                self.path,
                format!("`{name}` is not an integer: {other:?}"),
            )),
            None => Err(self.missing(name)),
        }
    }

    fn unsigned(&self, name: &str) -> Result<u64, TableError> {
        let value = self.long(name)?;
        u64::try_from(value)
            .map_err(|_| TableError::corrupt(self.path, format!("`{name}` is negative: {value}")))
    }

    fn text(&self, name: &str) -> Result<String, TableError> {
        match field(self.record, name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(TableError::corrupt(
                self.path,
                format!("`{name}` is not a string"),
            )),
            None => Err(self.missing(name)),
        }
    }

    fn bytes(&self, name: &str) -> Result<&'a [u8], TableError> {
        match field(self.record, name) {
            Some(Value::Bytes(b)) => Ok(b),
            Some(_) => Err(TableError::corrupt(
                self.path,
                format!("`{name}` is not bytes"),
            )),
            None => Err(self.missing(name)),
        }
    }

    fn record(&self, name: &str) -> Result<Fields<'a>, TableError> {
        match field(self.record, name) {
            Some(Value::Record(fields)) => Ok(Fields {
                record: fields,
                path: self.path,
            }),
            Some(_) => Err(TableError::corrupt(
                self.path,
                format!("`{name}` is not a record"),
            )),
            None => Err(self.missing(name)),
        }
    }

    fn strings(&self, name: &str) -> Result<Vec<String>, TableError> {
        match field(self.record, name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(TableError::corrupt(
                        self.path,
                        format!("`{name}` holds a non-string"),
                    )),
                })
                .collect(),
            Some(_) => Err(TableError::corrupt(
                self.path,
                format!("`{name}` is not an array"),
            )),
        }
    }
}

fn file_record(
    file: &DataFileMeta,
    key_types: &[&FieldType],
    path: &str,
) -> Result<Value, TableError> {
    let key = |k: &Key| key_row(k, key_types).map_err(|e| encode_error(path, e));
    let file_source = match file.file_source.as_str() {
        "APPEND" => FILE_SOURCE_APPEND,
        "COMPACT" => FILE_SOURCE_COMPACT,
        other => return Err(encode_error(path, format!("unknown file source {other}"))),
    };
    let long = |v: u64| Value::Long(v as i64);
    Ok(Value::Record(vec![
        ("_FILE_NAME".into(), Value::String(file.file_name.clone())),
        ("_FILE_SIZE".into(), long(file.file_size)),
        ("_ROW_COUNT".into(), long(file.row_count)),
        ("_MIN_KEY".into(), Value::Bytes(key(&file.min_key)?)),
        ("_MAX_KEY".into(), Value::Bytes(key(&file.max_key)?)),
        ("_KEY_STATS".into(), unknown_stats(key_types.len())),
        // No value columns carry stats (`_VALUE_STATS_COLS` is empty): an empty stats row.
        ("_VALUE_STATS".into(), unknown_stats(0)),
        (
            "_MIN_SEQUENCE_NUMBER".into(),
            Value::Long(file.min_sequence_number),
        ),
        (
            "_MAX_SEQUENCE_NUMBER".into(),
            Value::Long(file.max_sequence_number),
        ),
        ("_SCHEMA_ID".into(), Value::Long(file.schema_id)),
        ("_LEVEL".into(), Value::Int(file.level as i32)),
        (
            "_EXTRA_FILES".into(),
            Value::Array(
                file.extra_files
                    .iter()
                    .map(|f| Value::String(f.clone()))
                    .collect(),
            ),
        ),
        (
            "_CREATION_TIME".into(),
            some(Value::TimestampMillis(file.creation_time)),
        ),
        (
            "_DELETE_ROW_COUNT".into(),
            some(long(file.delete_row_count)),
        ),
        ("_EMBEDDED_FILE_INDEX".into(), none()),
        ("_FILE_SOURCE".into(), some(Value::Int(file_source))),
        ("_VALUE_STATS_COLS".into(), some(Value::Array(Vec::new()))),
        ("_EXTERNAL_PATH".into(), none()),
        ("_FIRST_ROW_ID".into(), none()),
        ("_WRITE_COLS".into(), none()),
    ]))
}

/// Why `entry` cannot be a manifest entry of a table with these key types, if it cannot.
fn entry_inconsistency(
    entry: &ManifestEntry,
    key_types: &[&FieldType],
    partition_arity: usize,
) -> Option<String> {
    if entry.partition.len() != partition_arity {
        return Some(format!(
            "partition {:?} of a table with {partition_arity} partition keys",
            entry.partition
        ));
    }
    if entry.bucket >= entry.total_buckets {
        return Some(format!(
            "bucket {} of {} buckets",
            entry.bucket, entry.total_buckets
        ));
    }
    entry
        .file
        .inconsistency(key_types.len())
        .map(|reason| format!("{}: {reason}", entry.file.file_name))
}

/// A manifest file's bytes. `key_types` are the primary-key field types, in key order;
/// `partition_arity` is the number of (BIGINT) partition keys.
///
/// # Panics
/// If an entry is inconsistent (see `DataFileMeta::inconsistency`): entries come from writers,
/// which build them from the rows they wrote, or from manifests whose reading checked them.
pub(crate) fn encode_manifest(
    entries: &[ManifestEntry],
    key_types: &[&FieldType],
    partition_arity: usize,
    path: &str,
) -> Result<Vec<u8>, TableError> {
    for entry in entries {
        if let Some(reason) = entry_inconsistency(entry, key_types, partition_arity) {
            panic!("{path}: writing an inconsistent manifest entry: {reason}");
        }
    }
    encode_manifest_unchecked(entries, key_types, path)
}

/// A partition's `BinaryRow` bytes (Paimon's `_PARTITION`): its BIGINT values.
fn partition_row(partition: &[i64]) -> Vec<u8> {
    let values: Vec<RowValue> = partition.iter().map(|&v| RowValue::Long(v)).collect();
    binary_row(&values)
}

/// `encode_manifest` without its checks (tests write corrupt manifests with it).
fn encode_manifest_unchecked(
    entries: &[ManifestEntry],
    key_types: &[&FieldType],
    path: &str,
) -> Result<Vec<u8>, TableError> {
    let records = entries
        .iter()
        .map(|entry| {
            Ok(Value::Record(vec![
                ("_VERSION".into(), Value::Int(MANIFEST_VERSION)),
                ("_KIND".into(), Value::Int(i32::from(u8::from(entry.kind)))),
                (
                    "_PARTITION".into(),
                    Value::Bytes(partition_row(&entry.partition)),
                ),
                ("_BUCKET".into(), Value::Int(entry.bucket as i32)),
                (
                    "_TOTAL_BUCKETS".into(),
                    Value::Int(entry.total_buckets as i32),
                ),
                ("_FILE".into(), file_record(&entry.file, key_types, path)?),
            ]))
        })
        .collect::<Result<Vec<_>, TableError>>()?;
    write_container(&MANIFEST_ENTRY_SCHEMA, records, path)
}

fn read_file_meta(file: &Fields<'_>, key_types: &[&FieldType]) -> Result<DataFileMeta, TableError> {
    let key = |name: &str| {
        read_key(file.bytes(name)?, key_types)
            .map_err(|e| TableError::corrupt(file.path, format!("`{name}`: {e}")))
    };
    let file_source = match field(file.record, "_FILE_SOURCE") {
        None => "APPEND",
        Some(Value::Int(FILE_SOURCE_APPEND)) => "APPEND",
        Some(Value::Int(FILE_SOURCE_COMPACT)) => "COMPACT",
        Some(other) => {
            return Err(TableError::corrupt(
                file.path,
                format!("unknown `_FILE_SOURCE` {other:?}"),
            ));
        }
    };
    let level = file.long("_LEVEL")?;
    Ok(DataFileMeta {
        file_name: file.text("_FILE_NAME")?,
        file_size: file.unsigned("_FILE_SIZE")?,
        row_count: file.unsigned("_ROW_COUNT")?,
        min_key: key("_MIN_KEY")?,
        max_key: key("_MAX_KEY")?,
        min_sequence_number: file.long("_MIN_SEQUENCE_NUMBER")?,
        max_sequence_number: file.long("_MAX_SEQUENCE_NUMBER")?,
        schema_id: file.long("_SCHEMA_ID")?,
        level: u32::try_from(level)
            .map_err(|_| TableError::corrupt(file.path, format!("`_LEVEL` is {level}")))?,
        extra_files: file.strings("_EXTRA_FILES")?,
        creation_time: file.long("_CREATION_TIME").unwrap_or(0),
        delete_row_count: file.unsigned("_DELETE_ROW_COUNT").unwrap_or(0),
        file_source: file_source.to_string(),
    })
}

/// The entries of a manifest file, in file order.
pub(crate) fn decode_manifest(
    bytes: &[u8],
    key_types: &[&FieldType],
    partition_arity: usize,
    path: &str,
) -> Result<Vec<ManifestEntry>, TableError> {
    let partition_types = vec![&FieldType::BigInt; partition_arity];
    read_container(bytes, &MANIFEST_ENTRY_SCHEMA, path)?
        .iter()
        .map(|record| {
            let entry = Fields { record, path };
            let kind = entry.long("_KIND")?;
            let kind = u8::try_from(kind)
                .ok()
                .and_then(|k| FileKind::try_from(k).ok())
                .ok_or_else(|| TableError::corrupt(path, format!("unknown `_KIND` {kind}")))?;
            let partition = read_key(entry.bytes("_PARTITION")?, &partition_types)
                .map_err(|e| TableError::corrupt(path, format!("`_PARTITION`: {e}")))?;
            let int32 = |name: &str| {
                let v = entry.long(name)?;
                u32::try_from(v).map_err(|_| TableError::corrupt(path, format!("`{name}` is {v}")))
            };
            let entry = ManifestEntry {
                kind,
                partition,
                bucket: int32("_BUCKET")?,
                total_buckets: int32("_TOTAL_BUCKETS")?,
                file: read_file_meta(&entry.record("_FILE")?, key_types)?,
            };
            match entry_inconsistency(&entry, key_types, partition_arity) {
                Some(reason) => Err(TableError::corrupt(path, reason)),
                None => Ok(entry),
            }
        })
        .collect()
}

/// The `_PARTITION_STATS` of a manifest: per partition key, the smallest and largest value of
/// its entries, and no nulls (an unpartitioned table's are rows of no fields).
fn partition_stats(meta: &ManifestFileMeta, partition_arity: usize) -> Value {
    assert!(
        meta.min_partition.len() == partition_arity && meta.max_partition.len() == partition_arity,
        "manifest {}: partition stats {:?}..{:?} for {partition_arity} partition keys",
        meta.file_name,
        meta.min_partition,
        meta.max_partition
    );
    let null_counts = vec![some(Value::Long(0)); partition_arity];
    Value::Record(vec![
        (
            "_MIN_VALUES".into(),
            Value::Bytes(partition_row(&meta.min_partition)),
        ),
        (
            "_MAX_VALUES".into(),
            Value::Bytes(partition_row(&meta.max_partition)),
        ),
        (
            "_NULL_COUNTS".into(),
            Value::Union(1, Box::new(Value::Array(null_counts))),
        ),
    ])
}

/// A manifest list file's bytes; `partition_arity` is the number of partition keys.
pub(crate) fn encode_manifest_list(
    metas: &[ManifestFileMeta],
    partition_arity: usize,
    path: &str,
) -> Result<Vec<u8>, TableError> {
    let opt_int = |v: Option<u32>| v.map_or_else(none, |v| some(Value::Int(v as i32)));
    let records = metas
        .iter()
        .map(|meta| {
            Value::Record(vec![
                ("_VERSION".into(), Value::Int(MANIFEST_VERSION)),
                ("_FILE_NAME".into(), Value::String(meta.file_name.clone())),
                ("_FILE_SIZE".into(), Value::Long(meta.file_size as i64)),
                (
                    "_NUM_ADDED_FILES".into(),
                    Value::Long(meta.num_added_files as i64),
                ),
                (
                    "_NUM_DELETED_FILES".into(),
                    Value::Long(meta.num_deleted_files as i64),
                ),
                (
                    "_PARTITION_STATS".into(),
                    if partition_arity == 0 {
                        unknown_stats(0)
                    } else {
                        partition_stats(meta, partition_arity)
                    },
                ),
                ("_SCHEMA_ID".into(), Value::Long(meta.schema_id)),
                ("_MIN_BUCKET".into(), opt_int(meta.min_bucket)),
                ("_MAX_BUCKET".into(), opt_int(meta.max_bucket)),
                ("_MIN_LEVEL".into(), opt_int(meta.min_level)),
                ("_MAX_LEVEL".into(), opt_int(meta.max_level)),
                ("_MIN_ROW_ID".into(), none()),
                ("_MAX_ROW_ID".into(), none()),
            ])
        })
        .collect();
    write_container(&MANIFEST_FILE_META_SCHEMA, records, path)
}

/// The manifests a manifest list names, in list order.
pub(crate) fn decode_manifest_list(
    bytes: &[u8],
    partition_arity: usize,
    path: &str,
) -> Result<Vec<ManifestFileMeta>, TableError> {
    let partition_types = vec![&FieldType::BigInt; partition_arity];
    read_container(bytes, &MANIFEST_FILE_META_SCHEMA, path)?
        .iter()
        .map(|record| {
            let meta = Fields { record, path };
            let opt = |name: &str| -> Result<Option<u32>, TableError> {
                if field(record, name).is_none() {
                    return Ok(None);
                }
                let v = meta.long(name)?;
                u32::try_from(v)
                    .map(Some)
                    .map_err(|_| TableError::corrupt(path, format!("`{name}` is {v}")))
            };
            let stats = meta.record("_PARTITION_STATS")?;
            let bound = |name: &str| {
                read_key(stats.bytes(name)?, &partition_types).map_err(|e| {
                    TableError::corrupt(path, format!("`_PARTITION_STATS.{name}`: {e}"))
                })
            };
            Ok(ManifestFileMeta {
                min_partition: bound("_MIN_VALUES")?,
                max_partition: bound("_MAX_VALUES")?,
                file_name: meta.text("_FILE_NAME")?,
                file_size: meta.unsigned("_FILE_SIZE")?,
                num_added_files: meta.unsigned("_NUM_ADDED_FILES")?,
                num_deleted_files: meta.unsigned("_NUM_DELETED_FILES")?,
                schema_id: meta.long("_SCHEMA_ID")?,
                min_bucket: opt("_MIN_BUCKET")?,
                max_bucket: opt("_MAX_BUCKET")?,
                min_level: opt("_MIN_LEVEL")?,
                max_level: opt("_MAX_LEVEL")?,
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "avro_tests.rs"]
mod tests;
