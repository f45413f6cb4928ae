//! The checkers' own walk of an Avro object container file (a manifest or a manifest list):
//! the crate's `Reader` parses the header's schema, validating each name with regular
//! expressions, on every file, which was ~3% of a smoke run; here each distinct schema text is
//! parsed once per thread and the blocks are decoded against it. Files with a codec other than
//! `null` go through the crate's reader.

use std::cell::RefCell;
use std::rc::Rc;

use apache_avro::Schema;
use apache_avro::types::Value;

/// Distinct schema texts a thread keeps parsed (a run writes two: manifest and manifest list).
const PARSED_SCHEMAS_MAX: usize = 8;

thread_local! {
    static PARSED: RefCell<Vec<(Vec<u8>, Rc<Schema>)>> = const { RefCell::new(Vec::new()) };
}

/// Reads a container file's bytes front to back; every read is bounds-checked.
struct Bytes<'a> {
    rest: &'a [u8],
}

impl<'a> Bytes<'a> {
    /// A zigzag varint long.
    fn long(&mut self) -> Option<i64> {
        let mut raw: u64 = 0;
        for (i, &byte) in self.rest.iter().enumerate().take(10) {
            raw |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Some((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        None
    }

    fn split(&mut self, len: usize) -> Option<&'a [u8]> {
        if len > self.rest.len() {
            return None;
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Some(head)
    }

    fn length_prefixed(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.long()?).ok()?;
        self.split(len)
    }
}

/// The schema text, codec and sync marker of a container's header, with the reader left at the
/// first block; None if the header does not parse.
fn header<'a>(bytes: &mut Bytes<'a>) -> Option<(&'a [u8], &'a [u8], &'a [u8])> {
    if bytes.split(4)? != b"Obj\x01" {
        return None;
    }
    let (mut schema, mut codec) = (None, &b"null"[..]);
    loop {
        let count = bytes.long()?;
        if count == 0 {
            break;
        }
        if count < 0 {
            bytes.long()?; // a negative count is followed by the block's size in bytes
        }
        for _ in 0..count.unsigned_abs() {
            let key = bytes.length_prefixed()?;
            let value = bytes.length_prefixed()?;
            match key {
                b"avro.schema" => schema = Some(value),
                b"avro.codec" => codec = value,
                _ => {}
            }
        }
    }
    Some((schema?, codec, bytes.split(16)?))
}

/// The parsed schema of `text`, from this thread's cache.
fn parsed(text: &[u8], path: &str) -> Result<Rc<Schema>, String> {
    if let Some(schema) = PARSED.with_borrow(|cache| {
        cache
            .iter()
            .find(|(known, _)| known.as_slice() == text)
            .map(|(_, schema)| Rc::clone(schema))
    }) {
        return Ok(schema);
    }
    let json = std::str::from_utf8(text)
        .map_err(|_| format!("{path}: the Avro header's schema is not UTF-8"))?;
    let schema = Rc::new(
        Schema::parse_str(json)
            .map_err(|e| format!("{path}: the Avro header's schema does not parse: {e}"))?,
    );
    PARSED.with_borrow_mut(|cache| {
        if cache.len() < PARSED_SCHEMAS_MAX {
            cache.push((text.to_vec(), Rc::clone(&schema)));
        }
    });
    Ok(schema)
}

/// Every value of the container file `file` (named `path` in errors), in file order.
pub(crate) fn values(file: &[u8], path: &str) -> Result<Vec<Value>, String> {
    let mut bytes = Bytes { rest: file };
    let Some((schema_text, codec, sync)) = header(&mut bytes) else {
        return crate_reader_values(file, path);
    };
    if codec != b"null" {
        return crate_reader_values(file, path);
    }
    let schema = parsed(schema_text, path)?;
    let corrupt = |what: &str| format!("{path} is not readable Avro: {what}");
    let mut values = Vec::new();
    while !bytes.rest.is_empty() {
        let count = bytes
            .long()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| corrupt("a block's record count is not a count"))?;
        let mut block = bytes
            .length_prefixed()
            .ok_or_else(|| corrupt("a block is cut short"))?;
        for _ in 0..count {
            values.push(
                apache_avro::from_avro_datum(&schema, &mut block, None)
                    .map_err(|e| corrupt(&e.to_string()))?,
            );
        }
        if !block.is_empty() {
            return Err(corrupt("a block holds bytes past its records"));
        }
        if bytes.split(16) != Some(sync) {
            return Err(corrupt(
                "a block does not end with the header's sync marker",
            ));
        }
    }
    Ok(values)
}

fn crate_reader_values(file: &[u8], path: &str) -> Result<Vec<Value>, String> {
    apache_avro::Reader::new(file)
        .map_err(|e| format!("{path} is not an Avro file: {e}"))?
        .map(|value| value.map_err(|e| format!("{path} is not readable Avro: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"{"type":"record","name":"r","fields":[{"name":"a","type":"long"},{"name":"s","type":"string"}]}"#;

    fn file(rows: i64) -> Vec<u8> {
        let schema = Schema::parse_str(SCHEMA).unwrap();
        let mut writer = apache_avro::Writer::new(&schema, Vec::new());
        for a in 0..rows {
            writer
                .append(Value::Record(vec![
                    ("a".into(), Value::Long(a * 1_000_003)),
                    ("s".into(), Value::String(format!("row {a}"))),
                ]))
                .unwrap();
            if a % 7 == 6 {
                writer.flush().unwrap(); // several blocks
            }
        }
        writer.into_inner().unwrap()
    }

    #[test]
    fn reads_what_the_crate_reads_and_rejects_a_cut_file() {
        let bytes = file(30);
        let ours = values(&bytes, "t.avro").unwrap();
        assert_eq!(ours, crate_reader_values(&bytes, "t.avro").unwrap());
        assert_eq!(ours.len(), 30);
        // A second read comes from the cache and agrees.
        assert_eq!(values(&bytes, "t.avro").unwrap(), ours);
        let cut = &bytes[..bytes.len() - 5];
        let error = values(cut, "t.avro").unwrap_err();
        assert!(error.contains("t.avro"), "{error}");
        assert!(values(b"not avro", "x.avro").is_err());
    }
}
