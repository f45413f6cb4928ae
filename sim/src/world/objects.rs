//! A storage system's objects as the checkers read them (the end-of-run dump, lent the
//! graveyard's history): names in memory, bytes in the run's spill directory until a checker
//! asks, so a Double-11 run's tables are not held in the process at its largest moment.

use std::collections::BTreeMap;

use crate::world::SpillDisk;

/// Where one object's bytes are: a byte range of a file of a host's spill disk (an append-only
/// log, so the range never changes), or held in memory (tests that tamper with a run's objects,
/// and the graveyards they make up).
#[derive(Clone)]
pub enum ObjectBytes {
    Spilled {
        disk: SpillDisk,
        path: String,
        offset: u64,
        len: usize,
    },
    Held(Vec<u8>),
}

impl ObjectBytes {
    pub fn read(&self) -> Vec<u8> {
        match self {
            Self::Spilled {
                disk,
                path,
                offset,
                len,
            } => disk.read_written(path, *offset, *len),
            Self::Held(held) => held.clone(),
        }
    }

    /// The object's size in bytes, without reading it.
    fn len(&self) -> usize {
        match self {
            Self::Spilled { len, .. } => *len,
            Self::Held(held) => held.len(),
        }
    }
}

impl std::fmt::Debug for ObjectBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Spilled {
                path, offset, len, ..
            } => write!(f, "{len} bytes at {path}:{offset}"),
            Self::Held(bytes) => write!(f, "{} bytes held", bytes.len()),
        }
    }
}

/// Objects by path, sorted as the object store lists them.
#[derive(Clone, Default)]
pub struct StoredObjects {
    objects: BTreeMap<String, ObjectBytes>,
}

impl StoredObjects {
    pub fn insert(&mut self, path: String, bytes: Vec<u8>) {
        self.objects.insert(path, ObjectBytes::Held(bytes));
    }

    pub fn insert_bytes(&mut self, path: String, bytes: ObjectBytes) {
        self.objects.insert(path, bytes);
    }

    /// The object's bytes, read now; `None` when there is no such object.
    pub fn get(&self, path: &str) -> Option<Vec<u8>> {
        self.objects.get(path).map(ObjectBytes::read)
    }

    /// The bytes of an object that must be there (tests and tools; panics naming it).
    pub fn bytes_of(&self, path: &str) -> Vec<u8> {
        self.get(path)
            .unwrap_or_else(|| panic!("no object {path} in storage"))
    }

    pub fn contains_key(&self, path: &str) -> bool {
        self.objects.contains_key(path)
    }

    /// Removes the object, returning its bytes.
    pub fn remove(&mut self, path: &str) -> Option<Vec<u8>> {
        self.objects.remove(path).map(|object| object.read())
    }

    /// Keeps the objects whose path `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.objects.retain(|path, _| keep(path));
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> {
        self.objects.keys()
    }

    /// Every object's path and size in bytes, in path order, reading no bytes.
    pub fn sizes(&self) -> impl Iterator<Item = (&String, usize)> {
        self.objects
            .iter()
            .map(|(path, object)| (path, object.len()))
    }

    /// The paths that start with `prefix`, in order.
    pub fn keys_under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.objects
            .range(prefix.to_string()..)
            .map(|(path, _)| path)
            .take_while(move |path| path.starts_with(prefix))
    }

    /// Every object with its bytes, read one at a time as the iteration reaches it.
    pub fn iter(&self) -> impl Iterator<Item = (&String, Vec<u8>)> {
        self.objects
            .iter()
            .map(|(path, object)| (path, object.read()))
    }

    /// The objects whose path starts with `prefix`, with their bytes, read one at a time.
    pub fn iter_under<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a String, Vec<u8>)> + 'a {
        self.keys_under(prefix)
            .map(|path| (path, self.objects[path].read()))
    }

    /// The objects under `prefix` read into memory (one table, for the warehouse's reader).
    pub fn read_under(&self, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        self.keys_under(prefix)
            .map(|path| (path.clone(), self.objects[path].read()))
            .collect()
    }
}

impl From<BTreeMap<String, Vec<u8>>> for StoredObjects {
    fn from(objects: BTreeMap<String, Vec<u8>>) -> Self {
        Self {
            objects: objects
                .into_iter()
                .map(|(path, bytes)| (path, ObjectBytes::Held(bytes)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::SpillDir;
    use warehouse::env::LocalDisk;

    #[test]
    fn stored_objects_read_spilled_and_held_bytes_alike() {
        let dir = SpillDir::default();
        let disk = dir.disk("dfs");
        disk.append_synced("/dfs/objects.log", b"headerspilled")
            .unwrap();
        let mut objects = StoredObjects::default();
        objects.insert_bytes(
            "t/a".into(),
            ObjectBytes::Spilled {
                disk: disk.clone(),
                path: "/dfs/objects.log".into(),
                offset: 6,
                len: 7,
            },
        );
        objects.insert("t/b".into(), b"held".to_vec());
        objects.insert("u/c".into(), b"other".to_vec());
        assert_eq!(objects.get("t/a").unwrap(), b"spilled");
        assert_eq!(objects.keys_under("t/").collect::<Vec<_>>(), ["t/a", "t/b"]);
        assert_eq!(objects.read_under("t/").len(), 2);
        assert_eq!(objects.remove("t/a").unwrap(), b"spilled");
        assert_eq!(objects.get("t/a"), None);
        objects.retain(|path| !path.starts_with("u/"));
        let all: Vec<(String, Vec<u8>)> = objects.iter().map(|(p, b)| (p.clone(), b)).collect();
        assert_eq!(all, [("t/b".to_string(), b"held".to_vec())]);
    }
}
