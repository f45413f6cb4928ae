//! `dwsim table scan`: prints a stored table's rows at a snapshot as JSON lines sorted by primary
//! key, read with the warehouse's own table reader over a local directory (a Paimon filesystem
//! catalog such as a run's `--out DIR/warehouse`), so other Paimon readers can be compared with it.

use std::io::Write;
use std::path::{Path, PathBuf};

use warehouse::env::{ObjectStore, StoreError};
use warehouse::row::FieldType;
use warehouse::table::{FileStoreTable, open_existing, table_root};

/// An object store over a local directory: object paths are relative to `root`. Reads only need
/// `get` and `list`; writes go straight to files (no atomic create beyond `create_new`).
#[derive(Clone)]
pub struct LocalDirStore {
    root: PathBuf,
}

impl LocalDirStore {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    fn io_error(&self, path: &str, error: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.root.join(path).display().to_string(),
            reason: error.to_string(),
        }
    }

    /// Every file under `dir` (relative to the root), recursively, as relative paths.
    fn walk(&self, dir: &str, out: &mut Vec<String>) -> Result<(), StoreError> {
        let entries = match std::fs::read_dir(self.root.join(dir)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io_error(dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| self.io_error(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            if entry.path().is_dir() {
                self.walk(&path, out)?;
            } else {
                out.push(path);
            }
        }
        Ok(())
    }
}

impl ObjectStore for LocalDirStore {
    async fn put(&self, path: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let full = self.root.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| self.io_error(path, e))?;
        }
        std::fs::write(full, bytes).map_err(|e| self.io_error(path, e))
    }

    async fn put_if_absent(&self, path: &str, bytes: Vec<u8>) -> Result<bool, StoreError> {
        let full = self.root.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| self.io_error(path, e))?;
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&full)
        {
            Ok(mut file) => {
                file.write_all(&bytes).map_err(|e| self.io_error(path, e))?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(self.io_error(path, e)),
        }
    }

    async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match std::fs::read(self.root.join(path)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io_error(path, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let dir = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
        let mut paths = Vec::new();
        self.walk(dir, &mut paths)?;
        paths.retain(|p| p.starts_with(prefix));
        paths.sort();
        Ok(paths)
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        match std::fs::remove_file(self.root.join(path)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io_error(path, e)),
        }
    }
}

/// The table's rows at `snapshot_id` (default: the latest) as JSON lines, sorted by primary key.
pub fn scan(
    catalog_root: &Path,
    identifier: &str,
    snapshot_id: Option<i64>,
) -> Result<Vec<String>, String> {
    let root = table_root("", identifier).map_err(|e| e.to_string())?;
    let root = root.trim_start_matches('/').to_string();
    if !catalog_root.join(&root).is_dir() {
        return Err(format!(
            "no table {identifier}: {} is not a directory (is {} a Paimon filesystem catalog root, e.g. a run's --out DIR/warehouse?)",
            catalog_root.join(&root).display(),
            catalog_root.display()
        ));
    }
    let store = LocalDirStore::new(catalog_root);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let table = open_existing(store, &root)
            .await
            .map_err(|e| e.to_string())?;
        let snapshot = match snapshot_id {
            Some(id) => table.snapshot(id).await.map_err(|e| e.to_string())?,
            None => table.latest_snapshot().await.map_err(|e| e.to_string())?,
        };
        let Some(snapshot) = snapshot else {
            return Err(match snapshot_id {
                Some(id) => format!(
                    "table {identifier} has no snapshot {id}{}",
                    present_range(&table).await
                ),
                None => format!("table {identifier} has no snapshot yet"),
            });
        };
        let rows = table.read_all(&snapshot).await.map_err(|e| e.to_string())?;
        let fields = &table.schema().fields;
        Ok(rows
            .values()
            .map(|row| {
                let mut line = serde_json::Map::new();
                for (field, &value) in fields.iter().zip(row) {
                    let json = match &field.field_type {
                        FieldType::BigInt => serde_json::Value::from(value),
                        FieldType::Enum(symbols) => usize::try_from(value)
                            .ok()
                            .and_then(|i| symbols.get(i))
                            .map_or(serde_json::Value::Null, |s| s.as_str().into()),
                    };
                    line.insert(field.name.clone(), json);
                }
                serde_json::Value::Object(line).to_string()
            })
            .collect())
    })
}

async fn present_range(table: &FileStoreTable<LocalDirStore>) -> String {
    let earliest = table.earliest_snapshot_id().await.ok().flatten();
    let latest = table.latest_snapshot().await.ok().flatten().map(|s| s.id);
    match (earliest, latest) {
        (Some(earliest), Some(latest)) => format!(" (snapshots present: {earliest}..={latest})"),
        _ => " (it has no snapshots)".to_string(),
    }
}
