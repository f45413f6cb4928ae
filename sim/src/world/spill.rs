//! A host's local disk whose bytes live in a directory of the machine running the simulation
//! rather than in the process's memory: TT's log of a Double-11 run is hundreds of MB. The
//! durable-disk model holds as on turmoil's disk, because a `LocalDisk` write is synced before
//! it returns: a crash keeps it and there is nothing unsynced to lose. The directory is the
//! run's own and leaves with the world.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use warehouse::env::LocalDisk;

/// Open files a disk keeps before it closes them all (a long run rolls many segments).
const OPEN_FILES_MAX: usize = 256;

/// The run's spill directory, `dwsim-spill-<pid>-<n>` under the system's temporary directory
/// (`TMPDIR`), created on first use and removed when the world is dropped.
pub struct SpillDir {
    path: PathBuf,
}

impl Default for SpillDir {
    fn default() -> Self {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let name = format!("dwsim-spill-{}-{run}", std::process::id());
        Self {
            path: std::env::temp_dir().join(name),
        }
    }
}

impl SpillDir {
    /// Checks, before any run starts, that runs can make their spill directories: a directory
    /// made and removed in the system's temporary directory. The error names it and the fix.
    pub fn probe() -> Result<(), String> {
        let dir = std::env::temp_dir();
        let probe = dir.join(format!("dwsim-spill-probe-{}", std::process::id()));
        std::fs::create_dir_all(&probe)
            .and_then(|()| std::fs::remove_dir(&probe))
            .map_err(|error| {
                format!(
                    "cannot make a directory in the temporary directory {} ({error}): a run keeps TT's log there; point TMPDIR at a writable directory",
                    dir.display()
                )
            })
    }

    /// Host `host`'s disk: its own subdirectory.
    pub fn disk(&self, host: &str) -> SpillDisk {
        SpillDisk {
            root: Rc::new(self.path.join(host)),
            open: Rc::default(),
        }
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        // Nothing to remove when no host spilled; a failure leaves only a temporary directory.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// One host's disk in the spill directory. A path of the `LocalDisk` calls is relative to the
/// host's directory (a leading `/` is the host's root).
#[derive(Clone)]
pub struct SpillDisk {
    root: Rc<PathBuf>,
    /// Files opened for appending or reading, by path, so a fetch costs no `open`.
    open: Rc<RefCell<BTreeMap<String, Rc<File>>>>,
}

/// A real I/O failure of the spill directory: the run cannot go on and stay reproducible (a
/// simulated disk never fails this way), so it stops with what to do.
fn spill_failed(path: &Path, error: &std::io::Error) -> ! {
    panic!(
        "the simulation's spill directory failed at {}: {error}; free space there or point TMPDIR at a disk with room, and run again",
        path.display()
    )
}

impl SpillDisk {
    fn real_path(&self, path: &str) -> PathBuf {
        let relative = path.trim_start_matches('/');
        assert!(
            !relative.split('/').any(|part| part == ".."),
            "a disk path stays inside its host: {path}"
        );
        self.root.join(relative)
    }

    /// The open file of `path` (created for appending when `create`); `None` when it does not
    /// exist and `create` is false.
    fn file(&self, path: &str, create: bool) -> Option<Rc<File>> {
        if let Some(file) = self.open.borrow().get(path) {
            return Some(Rc::clone(file));
        }
        let real = self.real_path(path);
        if create && let Some(parent) = real.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| spill_failed(parent, &e));
        }
        let opened = OpenOptions::new()
            .read(true)
            .append(true)
            .create(create)
            .open(&real);
        let file = match opened {
            Ok(file) => Rc::new(file),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && !create => return None,
            Err(error) => spill_failed(&real, &error),
        };
        let mut open = self.open.borrow_mut();
        if open.len() >= OPEN_FILES_MAX {
            open.clear();
        }
        open.insert(path.to_string(), Rc::clone(&file));
        Some(file)
    }

    fn forget(&self, path: &str) {
        self.open.borrow_mut().remove(path);
    }
}

impl SpillDisk {
    /// Exactly `len` bytes of file `path` from `offset`: bytes this run wrote there and
    /// recorded where, so a missing file or a short read is a bug, not bad input.
    pub fn read_written(&self, path: &str, offset: u64, len: usize) -> Vec<u8> {
        let bytes = self
            .read_range(path, offset, len)
            .unwrap_or_else(|e| panic!("{path} at {offset}: {e}"));
        assert_eq!(
            bytes.len(),
            len,
            "{path} ends before the {len} bytes at {offset} this run wrote there"
        );
        bytes
    }

    /// The length of file `path` in bytes; 0 when it does not exist.
    pub fn file_len(&self, path: &str) -> u64 {
        let Some(file) = self.file(path, false) else {
            return 0;
        };
        file.metadata()
            .unwrap_or_else(|e| spill_failed(&self.real_path(path), &e))
            .len()
    }

    /// Appends `parts` one after the other as one record: nothing of the simulation runs
    /// between them, so a simulated crash keeps the record whole, and a large part is written
    /// from where it is rather than copied into a record first.
    pub fn append_parts_synced(&self, path: &str, parts: &[&[u8]]) -> std::io::Result<()> {
        let file = self.file(path, true).expect("created");
        for part in parts {
            (&*file)
                .write_all(part)
                .unwrap_or_else(|e| spill_failed(&self.real_path(path), &e));
        }
        Ok(())
    }
}

impl LocalDisk for SpillDisk {
    fn append_synced(&self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.append_parts_synced(path, &[bytes])
    }

    fn write_synced(&self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        // Replaced whole in place through the open file: TT rewrites its group offsets at every
        // commit, and a new file each time (written beside, renamed over) cost an inode, which
        // ext4 allocates slowly among recently deleted ones. Nothing of the simulation runs
        // between the truncation and the write, so a simulated crash sees the old bytes or the
        // new; the machine itself crashing loses the whole directory anyway.
        let file = self.file(path, true).expect("created");
        file.set_len(0)
            .and_then(|()| (&*file).write_all(bytes))
            .unwrap_or_else(|e| spill_failed(&self.real_path(path), &e));
        Ok(())
    }

    fn read(&self, path: &str) -> std::io::Result<Option<Vec<u8>>> {
        let real = self.real_path(path);
        match std::fs::read(&real) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => spill_failed(&real, &error),
        }
    }

    fn read_range(&self, path: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let Some(file) = self.file(path, false) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{path} does not exist"),
            ));
        };
        let mut bytes = vec![0; len];
        let mut filled = 0;
        while filled < len {
            match file.read_at(&mut bytes[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(error) => spill_failed(&self.real_path(path), &error),
            }
        }
        bytes.truncate(filled);
        Ok(bytes)
    }

    fn list(&self, dir: &str) -> std::io::Result<Vec<String>> {
        let real = self.real_path(dir);
        let entries = match std::fs::read_dir(&real) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => spill_failed(&real, &error),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.unwrap_or_else(|e| spill_failed(&real, &e));
            let is_file = entry
                .file_type()
                .unwrap_or_else(|e| spill_failed(&entry.path(), &e))
                .is_file();
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_file {
                names.push(name);
            }
        }
        // The machine's directory order is not the simulation's: sorted, as the trait says.
        names.sort();
        Ok(names)
    }

    fn remove(&self, path: &str) -> std::io::Result<()> {
        self.forget(path);
        let real = self.real_path(path);
        match std::fs::remove_file(&real) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => spill_failed(&real, &error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spill_disk_keeps_appends_replaces_lists_and_removes_like_a_local_disk() {
        let dir = SpillDir::default();
        let disk = dir.disk("tt");
        disk.append_synced("/log/p0/0.seg", b"abc").unwrap();
        disk.append_synced("/log/p0/0.seg", b"def").unwrap();
        disk.write_synced("/log/p0/meta", b"1").unwrap();
        disk.write_synced("/log/p0/meta", b"22").unwrap();
        assert_eq!(disk.read_range("/log/p0/0.seg", 2, 10).unwrap(), b"cdef");
        assert_eq!(disk.file_len("/log/p0/0.seg"), 6);
        assert_eq!(disk.file_len("/log/p0/absent"), 0);
        assert_eq!(disk.read("/log/p0/meta").unwrap().unwrap(), b"22");
        assert_eq!(disk.list("/log/p0").unwrap(), ["0.seg", "meta"]);
        // A host's restart opens its disk again: the bytes are still there.
        let again = dir.disk("tt");
        assert_eq!(again.read("/log/p0/0.seg").unwrap().unwrap(), b"abcdef");
        again.remove("/log/p0/0.seg").unwrap();
        assert_eq!(again.read("/log/p0/0.seg").unwrap(), None);
        assert!(dir.disk("dfs").list("/log/p0").unwrap().is_empty());
        let path = dir.path.clone();
        drop((disk, again, dir));
        assert!(!path.exists(), "the spill directory leaves with the world");
        assert_eq!(SpillDir::probe(), Ok(()));
    }
}
