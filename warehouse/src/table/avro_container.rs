//! Avro object container files for the manifests, with each schema parsed once per process:
//! parsing validates every name with regular expressions, and doing it per manifest read and
//! write was 6% of a smoke sweep's CPU. A file this project wrote (its schema text one of ours,
//! no codec) is decoded against the parsed schema; any other file (pypaimon's, say) goes through
//! the crate's reader, which parses its header's schema.
//!
//! Files are byte-for-byte deterministic: the header is written here in a fixed order (the crate
//! keeps header metadata in a `HashMap`) and the sync marker is a constant.

use std::collections::BTreeMap;

use apache_avro::types::Value;
use apache_avro::{Reader, Schema, Writer};

use super::TableError;

/// The container's sync marker: a constant, so equal manifests are equal bytes.
const SYNC_MARKER: [u8; 16] = *b"dwsim-paimon-avr";

/// A record schema as written into a file's header, and parsed.
pub(crate) struct KnownSchema {
    pub(crate) json: String,
    schema: Schema,
}

impl KnownSchema {
    /// Parses `json`, one of this project's constant schemas: a failure is a bug here, not bad
    /// input, and every test that writes a manifest would show it.
    pub(crate) fn parse(json: String) -> Self {
        let schema = Schema::parse_str(&json)
            .unwrap_or_else(|e| panic!("a manifest schema of this project is invalid Avro: {e}"));
        Self { json, schema }
    }
}

pub(crate) fn encode_error(path: &str, reason: impl ToString) -> TableError {
    TableError::Encode {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

/// Appends `value` as a zigzag varint (Avro's `long`).
pub(crate) fn zigzag(value: i64, out: &mut Vec<u8>) {
    let mut n = ((value << 1) ^ (value >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn avro_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    zigzag(bytes.len() as i64, out);
    out.extend_from_slice(bytes);
}

/// An object container file of `records` under `known`: header in a fixed order, then the
/// blocks the crate writes.
pub(crate) fn write_container(
    known: &KnownSchema,
    records: Vec<Value>,
    path: &str,
) -> Result<Vec<u8>, TableError> {
    let mut header = b"Obj\x01".to_vec();
    zigzag(2, &mut header);
    avro_bytes(b"avro.schema", &mut header);
    avro_bytes(known.json.as_bytes(), &mut header);
    avro_bytes(b"avro.codec", &mut header);
    avro_bytes(b"null", &mut header);
    zigzag(0, &mut header);
    header.extend_from_slice(&SYNC_MARKER);
    let mut writer = Writer::append_to(&known.schema, header, SYNC_MARKER);
    for record in records {
        writer.append(record).map_err(|e| encode_error(path, e))?;
    }
    writer.into_inner().map_err(|e| encode_error(path, e))
}

/// The records of an object container file, each as its (field name, value) list: decoded
/// against `known` when the file declares exactly that schema and no codec, else by the crate's
/// reader.
pub(crate) fn read_container(
    bytes: &[u8],
    known: &KnownSchema,
    path: &str,
) -> Result<Vec<Vec<(String, Value)>>, TableError> {
    let records = match read_known(bytes, known, path)? {
        Some(values) => values,
        None => Reader::new(bytes)
            .map_err(|e| TableError::corrupt(path, e))?
            .map(|value| value.map_err(|e| TableError::corrupt(path, e)))
            .collect::<Result<Vec<_>, _>>()?,
    };
    records
        .into_iter()
        .map(|value| match value {
            Value::Record(fields) => Ok(fields),
            other => Err(TableError::corrupt(
                path,
                format!("expected records, found {other:?}"),
            )),
        })
        .collect()
}

/// A cursor over zigzag-varint-encoded bytes (a container file's); every read is bounds-checked.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at `bytes[at..]`.
    pub(crate) fn new(bytes: &'a [u8], at: usize) -> Self {
        Self { bytes, at }
    }

    /// The zigzag varint at the cursor, moving past it; None if the bytes end first.
    pub(crate) fn long(&mut self) -> Option<i64> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(((n >> 1) as i64) ^ -((n & 1) as i64));
            }
        }
        None
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(len)?;
        let slice = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(slice)
    }

    fn sized(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.long()?).ok()?;
        self.take(len)
    }
}

/// A container header: its metadata (key to value) and its sync marker.
struct Header<'a> {
    metadata: BTreeMap<&'a [u8], &'a [u8]>,
    sync: &'a [u8],
}

/// The header, or None if it does not parse (the crate's reader then names what is wrong).
fn read_header<'a>(cursor: &mut Cursor<'a>) -> Option<Header<'a>> {
    if cursor.take(4)? != b"Obj\x01" {
        return None;
    }
    let mut metadata = BTreeMap::new();
    loop {
        let mut count = cursor.long()?;
        if count == 0 {
            break;
        }
        if count < 0 {
            count = count.checked_neg()?;
            cursor.long()?; // the block's size in bytes
        }
        for _ in 0..count {
            let key = cursor.sized()?;
            let value = cursor.sized()?;
            metadata.insert(key, value);
        }
    }
    Some(Header {
        metadata,
        sync: cursor.take(16)?,
    })
}

/// The file's values if it declares `known`'s schema and no codec; None for any other file.
fn read_known(
    bytes: &[u8],
    known: &KnownSchema,
    path: &str,
) -> Result<Option<Vec<Value>>, TableError> {
    let mut cursor = Cursor::new(bytes, 0);
    let Some(Header { metadata, sync }) = read_header(&mut cursor) else {
        return Ok(None);
    };
    let codec = metadata.get(&b"avro.codec"[..]).copied().unwrap_or(b"null");
    if metadata.get(&b"avro.schema"[..]).copied() != Some(known.json.as_bytes()) || codec != b"null"
    {
        return Ok(None);
    }
    let corrupt = |what: &str| TableError::corrupt(path, format!("Avro container: {what}"));
    let mut values = Vec::new();
    while cursor.at < bytes.len() {
        let count = cursor
            .long()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| corrupt("bad block record count"))?;
        let mut block = cursor.sized().ok_or_else(|| corrupt("truncated block"))?;
        for _ in 0..count {
            let value = apache_avro::from_avro_datum(&known.schema, &mut block, None)
                .map_err(|e| TableError::corrupt(path, e))?;
            values.push(value);
        }
        if !block.is_empty() {
            return Err(corrupt("a block holds more bytes than its records"));
        }
        if cursor.take(16) != Some(sync) {
            return Err(corrupt("a block's sync marker differs from the header's"));
        }
    }
    Ok(Some(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> KnownSchema {
        KnownSchema::parse(
            r#"{"type":"record","name":"r","fields":[{"name":"a","type":"long"},{"name":"b","type":["null","string"],"default":null}]}"#
                .to_string(),
        )
    }

    fn records(n: i64) -> Vec<Value> {
        (0..n)
            .map(|i| {
                let b = if i % 2 == 0 {
                    Value::Union(0, Box::new(Value::Null))
                } else {
                    Value::Union(1, Box::new(Value::String(format!("s{i}"))))
                };
                Value::Record(vec![
                    ("a".into(), Value::Long(i * 1_000_003)),
                    ("b".into(), b),
                ])
            })
            .collect()
    }

    /// The fast path decodes exactly what the crate's reader decodes, and is the path taken.
    #[test]
    fn a_file_of_a_known_schema_reads_as_the_crate_reads_it() {
        let known = known();
        for n in [0, 1, 7, 3_000] {
            let bytes = write_container(&known, records(n), "m").unwrap();
            let fast = read_known(&bytes, &known, "m")
                .unwrap()
                .expect("known schema");
            let crate_read: Vec<Value> = Reader::new(&bytes[..])
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(fast, crate_read, "{n} records");
            assert_eq!(fast, records(n));
        }
    }

    /// A file under another schema text goes to the crate's reader; a damaged one is an error,
    /// never a panic.
    #[test]
    fn other_and_damaged_files_are_read_by_the_crate_or_refused() {
        let known = known();
        let other = KnownSchema::parse(known.json.replace("\"r\"", "\"q\""));
        let bytes = write_container(&other, records(5), "m").unwrap();
        assert!(read_known(&bytes, &known, "m").unwrap().is_none());
        assert_eq!(read_container(&bytes, &known, "m").unwrap().len(), 5);
        let good = write_container(&known, records(50), "m").unwrap();
        for cut in [good.len() - 1, good.len() - 17, good.len() / 2] {
            assert!(
                read_container(&good[..cut], &known, "m").is_err(),
                "cut at {cut}"
            );
        }
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        assert!(read_container(&flipped, &known, "m").is_err());
    }
}
