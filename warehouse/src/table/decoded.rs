//! A bounded memo of decoded table files (data files and manifests), so reading the same
//! immutable file again skips the decoding, never the read: the bytes are still fetched from
//! storage (and charged), and a hit requires the same bytes decoded for the same table schema,
//! so a hit returns exactly what decoding would. Decoding is a pure function of those, so one
//! memo per thread serves every simulated process (a DWS file is decoded by the job that
//! compacts it and by the serving layer) without letting them influence each other.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

struct Entry<T> {
    /// What else the decoding depended on (the table's schema), shared by the table's handle.
    context: Rc<str>,
    bytes: bytes::Bytes,
    value: T,
    weight_bytes: usize,
    last_use: u64,
}

struct State<T> {
    entries: BTreeMap<String, Entry<T>>,
    /// Entries by last use, oldest first: what to evict.
    by_use: BTreeMap<u64, String>,
    weight_bytes: usize,
    clock: u64,
}

/// Decoded values by path, at most `capacity_bytes` of weight (file bytes plus the caller's
/// estimate of the decoded value), least recently used evicted first.
pub(crate) struct DecodedFiles<T> {
    state: RefCell<State<T>>,
    capacity_bytes: usize,
}

impl<T: Clone> DecodedFiles<T> {
    pub fn new(capacity_bytes: usize) -> Self {
        Self {
            state: RefCell::new(State {
                entries: BTreeMap::new(),
                by_use: BTreeMap::new(),
                weight_bytes: 0,
                clock: 0,
            }),
            capacity_bytes,
        }
    }

    /// The value decoded from exactly `bytes` at `path` under `context`, if it is still held.
    pub fn get(&self, path: &str, context: &Rc<str>, bytes: &[u8]) -> Option<T> {
        let mut state = self.state.borrow_mut();
        state.clock += 1;
        let now = state.clock;
        let entry = state.entries.get_mut(path)?;
        let same_context = Rc::ptr_eq(&entry.context, context) || entry.context == *context;
        if !same_context || entry.bytes.as_ref() != bytes {
            return None;
        }
        let previous = std::mem::replace(&mut entry.last_use, now);
        let value = entry.value.clone();
        state.by_use.remove(&previous);
        state.by_use.insert(now, path.to_string());
        Some(value)
    }

    /// The value of `bytes` at `path` under `context`: held, or decoded by `decode` (a pure
    /// function of the bytes and the context) and held, weighing `weight_bytes(&value)`.
    pub fn get_or_decode<E>(
        &self,
        path: &str,
        context: &Rc<str>,
        bytes: Vec<u8>,
        decode: impl FnOnce(bytes::Bytes) -> Result<T, E>,
        weight_bytes: impl FnOnce(&T) -> usize,
    ) -> Result<T, E> {
        if let Some(value) = self.get(path, context, &bytes) {
            return Ok(value);
        }
        let bytes = bytes::Bytes::from(bytes);
        let value = decode(bytes.clone())?;
        let weight = weight_bytes(&value);
        self.insert(path, context, bytes, value.clone(), weight);
        Ok(value)
    }

    /// Holds `value`, decoded from `bytes` at `path` under `context`, weighing `value_bytes`
    /// besides the bytes.
    pub fn insert(
        &self,
        path: &str,
        context: &Rc<str>,
        bytes: bytes::Bytes,
        value: T,
        value_bytes: usize,
    ) {
        let weight_bytes = bytes.len().saturating_add(value_bytes);
        if weight_bytes > self.capacity_bytes {
            return;
        }
        let mut state = self.state.borrow_mut();
        state.clock += 1;
        let now = state.clock;
        if let Some(old) = state.entries.remove(path) {
            state.by_use.remove(&old.last_use);
            state.weight_bytes -= old.weight_bytes;
        }
        while state.weight_bytes + weight_bytes > self.capacity_bytes {
            let Some((_, oldest)) = state.by_use.pop_first() else {
                break;
            };
            let evicted = state.entries.remove(&oldest).expect("indexed by use");
            state.weight_bytes -= evicted.weight_bytes;
        }
        state.weight_bytes += weight_bytes;
        state.by_use.insert(now, path.to_string());
        state.entries.insert(
            path.to_string(),
            Entry {
                context: Rc::clone(context),
                bytes,
                value,
                weight_bytes,
                last_use: now,
            },
        );
        debug_assert_eq!(state.entries.len(), state.by_use.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hit_needs_the_same_bytes_and_the_oldest_is_evicted_first() {
        let cache = DecodedFiles::new(10);
        let schema: Rc<str> = Rc::from("schema");
        let other: Rc<str> = Rc::from("other schema");
        cache.insert("a", &schema, bytes::Bytes::from(vec![1, 2]), 'a', 2);
        cache.insert("b", &schema, bytes::Bytes::from(vec![3, 4]), 'b', 2);
        assert_eq!(cache.get("a", &schema, &[1, 2]), Some('a'));
        assert_eq!(
            cache.get("a", &schema, &[1, 3]),
            None,
            "other bytes at the same path"
        );
        assert_eq!(
            cache.get("a", &other, &[1, 2]),
            None,
            "another table's schema"
        );
        // 8 of 10 held; c (4) evicts b, the least recently used, not a.
        cache.insert("c", &schema, bytes::Bytes::from(vec![5, 6]), 'c', 2);
        assert_eq!(cache.get("b", &schema, &[3, 4]), None);
        assert_eq!(cache.get("a", &schema, &[1, 2]), Some('a'));
        assert_eq!(cache.get("c", &schema, &[5, 6]), Some('c'));
        cache.insert("huge", &schema, bytes::Bytes::from(vec![0; 11]), 'h', 0);
        assert_eq!(
            cache.get("huge", &schema, &[0; 11]),
            None,
            "larger than the whole cache"
        );
    }
}
