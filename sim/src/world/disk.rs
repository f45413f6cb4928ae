//! A host's own disk through turmoil's durable-disk model (unsynced writes die with a crash),
//! for the TT era's hosts, whose stores are small.

use warehouse::env::LocalDisk;

/// A host's own disk through turmoil's durable-disk model: unsynced writes die with a crash.
#[derive(Clone, Default)]
pub struct TurmoilDisk;

mod fs {
    pub use turmoil::fs::shim::std::fs::{
        OpenOptions, create_dir_all, metadata, read, read_dir, remove_file, sync_dir,
    };
}

fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or(
        "/",
        |(parent, _)| if parent.is_empty() { "/" } else { parent },
    )
}

/// Creates `dir` and its ancestors durably.
pub fn ensure_dir_durable(dir: &str) -> std::io::Result<()> {
    if fs::metadata(dir).is_ok() {
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    let mut ancestor = String::new();
    for part in dir.split('/').filter(|p| !p.is_empty()) {
        let parent = if ancestor.is_empty() {
            "/".to_string()
        } else {
            ancestor.clone()
        };
        ancestor = format!("{ancestor}/{part}");
        fs::sync_dir(&parent)?;
    }
    fs::sync_dir(dir)
}

/// Writes `bytes` to `path`, syncs file and directory (durable against a crash).
fn write_durable(path: &str, bytes: &[u8], append: bool) -> std::io::Result<()> {
    use std::io::Write;
    let parent = parent_of(path);
    ensure_dir_durable(parent)?;
    let mut options = fs::OpenOptions::new();
    options.create(true).write(true);
    if append {
        options.append(true);
    } else {
        options.truncate(true);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::sync_dir(parent)
}

impl LocalDisk for TurmoilDisk {
    fn append_synced(&self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        write_durable(path, bytes, true)
    }
    fn write_synced(&self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        write_durable(path, bytes, false)
    }
    fn read(&self, path: &str) -> std::io::Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }
    fn read_range(&self, path: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let file = fs::OpenOptions::new().read(true).open(path)?;
        let mut bytes = vec![0; len];
        let mut filled = 0;
        while filled < len {
            match file.read_at(&mut bytes[filled..], offset + filled as u64)? {
                0 => break,
                n => filled += n,
            }
        }
        bytes.truncate(filled);
        Ok(bytes)
    }
    fn list(&self, dir: &str) -> std::io::Result<Vec<String>> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }
    fn remove(&self, path: &str) -> std::io::Result<()> {
        match fs::remove_file(path) {
            Ok(()) => fs::sync_dir(parent_of(path)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error),
        }
    }
}
