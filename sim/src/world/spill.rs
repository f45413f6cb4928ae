//! A host's local disk whose bytes live in a directory of the machine running the simulation
//! rather than in the process's memory: TT's log of a Double-11 run is hundreds of MB. The
//! durable-disk model holds as on turmoil's disk, because a `LocalDisk` write is synced before
//! it returns: a crash keeps it and there is nothing unsynced to lose. The directory is the
//! run's own and leaves with the world. Small appends wait in the process (up to 64 KB a
//! file) and reach the file together: every read and length sees them, so the disk behaves as
//! if each had been written through.

use std::cell::{Cell, RefCell};
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

/// Appended bytes a file holds in the process before they are written to it: TT appends a
/// produce request's records at a time, a few KB, and a write call for each (with the dfs
/// log's per put) was 2.7% of double11's samples. An append at least this large is written at
/// once.
const WRITE_BEHIND_BYTES: usize = 64 * 1024;

/// The run's spill directory, `dwsim-spill-<pid>-<n>` under the system's temporary directory
/// (`TMPDIR`), created on first use and removed when the world is dropped.
pub struct SpillDir {
    path: PathBuf,
    /// Each host's disk, made on first use: a restarted host gets the same one back, whose
    /// appends not yet written are its files' bytes too.
    disks: RefCell<BTreeMap<String, SpillDisk>>,
}

impl Default for SpillDir {
    fn default() -> Self {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let name = format!("dwsim-spill-{}-{run}", std::process::id());
        Self {
            path: std::env::temp_dir().join(name),
            disks: RefCell::default(),
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
        self.disks
            .borrow_mut()
            .entry(host.to_string())
            .or_insert_with(|| SpillDisk {
                root: Rc::new(self.path.join(host)),
                open: Rc::default(),
            })
            .clone()
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
    open: Rc<RefCell<BTreeMap<String, Rc<SpillFile>>>>,
}

/// One open file of a spill disk and the appends it has not written yet.
struct SpillFile {
    file: File,
    real: PathBuf,
    /// Bytes in the file itself.
    written: Cell<u64>,
    /// Bytes appended after `written`, still in the process.
    behind: RefCell<Vec<u8>>,
}

impl SpillFile {
    fn open(real: PathBuf, create: bool) -> std::io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(create)
            .open(&real)?;
        let written = file.metadata()?.len();
        Ok(Self {
            file,
            real,
            written: Cell::new(written),
            behind: RefCell::default(),
        })
    }

    /// The file's length with the appends not yet written.
    fn len(&self) -> u64 {
        self.written.get() + self.behind.borrow().len() as u64
    }

    fn write_through(&self, bytes: &[u8]) {
        (&self.file)
            .write_all(bytes)
            .unwrap_or_else(|e| spill_failed(&self.real, &e));
        self.written.set(self.written.get() + bytes.len() as u64);
    }

    /// Writes the appends held in the process to the file.
    fn write_behind(&self) {
        let mut behind = self.behind.borrow_mut();
        if !behind.is_empty() {
            self.write_through(&behind);
            behind.clear();
        }
    }

    fn append(&self, parts: &[&[u8]]) {
        let total: usize = parts.iter().map(|part| part.len()).sum();
        if self.behind.borrow().len() + total > WRITE_BEHIND_BYTES {
            self.write_behind();
        }
        if total >= WRITE_BEHIND_BYTES {
            for part in parts {
                self.write_through(part);
            }
        } else {
            let mut behind = self.behind.borrow_mut();
            for part in parts {
                behind.extend_from_slice(part);
            }
        }
    }

    /// Replaces the file's bytes with `bytes`.
    fn replace(&self, bytes: &[u8]) {
        self.behind.borrow_mut().clear();
        self.file
            .set_len(0)
            .unwrap_or_else(|e| spill_failed(&self.real, &e));
        self.written.set(0);
        self.write_through(bytes);
    }

    /// Up to `len` bytes from `offset`: from the file, then from the appends not yet written.
    fn read_range(&self, offset: u64, len: usize) -> Vec<u8> {
        let end = self.len().min(offset.saturating_add(len as u64));
        if offset >= end {
            return Vec::new();
        }
        let mut bytes = vec![0; (end - offset) as usize];
        let written = self.written.get();
        let from_file = (written.min(end).saturating_sub(offset)) as usize;
        let mut filled = 0;
        while filled < from_file {
            match self
                .file
                .read_at(&mut bytes[filled..from_file], offset + filled as u64)
            {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(error) => spill_failed(&self.real, &error),
            }
        }
        assert_eq!(
            filled,
            from_file,
            "{} is shorter than the bytes written to it",
            self.real.display()
        );
        if from_file < bytes.len() {
            let start = (offset + from_file as u64 - written) as usize;
            let rest = bytes.len() - from_file;
            bytes[from_file..].copy_from_slice(&self.behind.borrow()[start..start + rest]);
        }
        bytes
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        // A file closed (too many open, or the world gone) keeps every byte appended to it.
        if !std::thread::panicking() {
            self.write_behind();
        }
    }
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
    fn file(&self, path: &str, create: bool) -> Option<Rc<SpillFile>> {
        if let Some(file) = self.open.borrow().get(path) {
            return Some(Rc::clone(file));
        }
        let real = self.real_path(path);
        if create && let Some(parent) = real.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| spill_failed(parent, &e));
        }
        let file = match SpillFile::open(real.clone(), create) {
            Ok(file) => Rc::new(file),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && !create => return None,
            Err(error) => spill_failed(&real, &error),
        };
        let mut open = self.open.borrow_mut();
        if open.len() >= OPEN_FILES_MAX {
            // Closing writes each file's appends (see `SpillFile`'s drop).
            open.clear();
        }
        open.insert(path.to_string(), Rc::clone(&file));
        Some(file)
    }

    /// Closes `path`, which is being removed: its appends not yet written go with it.
    fn forget(&self, path: &str) {
        if let Some(file) = self.open.borrow_mut().remove(path) {
            file.behind.borrow_mut().clear();
        }
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
        self.file(path, false).map_or(0, |file| file.len())
    }

    /// Appends `parts` one after the other as one record: nothing of the simulation runs
    /// between them, so a simulated crash keeps the record whole, and a large part is written
    /// from where it is rather than copied into a record first.
    pub fn append_parts_synced(&self, path: &str, parts: &[&[u8]]) -> std::io::Result<()> {
        self.file(path, true).expect("created").append(parts);
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
        self.file(path, true).expect("created").replace(bytes);
        Ok(())
    }

    fn read(&self, path: &str) -> std::io::Result<Option<Vec<u8>>> {
        if let Some(file) = self.open.borrow().get(path) {
            return Ok(Some(file.read_range(0, file.len() as usize)));
        }
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
        Ok(file.read_range(offset, len))
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

    /// Appends wait in the process, yet every read, length and listing sees them as written,
    /// across the boundary between the file and the appends not yet written; closing a file
    /// writes them.
    #[test]
    fn appends_not_yet_written_read_back_as_written_and_reach_the_file_when_it_closes() {
        let dir = SpillDir::default();
        let disk = dir.disk("tt");
        let mut expected = Vec::new();
        for i in 0..1000u32 {
            let record: Vec<u8> = (0..301).map(|j| (i * 7 + j) as u8).collect();
            disk.append_parts_synced("/log/0.seg", &[&record[..100], &record[100..]])
                .unwrap();
            expected.extend_from_slice(&record);
        }
        let large = vec![9u8; WRITE_BEHIND_BYTES + 1];
        disk.append_synced("/log/0.seg", &large).unwrap();
        expected.extend_from_slice(&large);
        disk.append_synced("/log/0.seg", b"tail").unwrap();
        expected.extend_from_slice(b"tail");
        assert_eq!(disk.file_len("/log/0.seg"), expected.len() as u64);
        let real = disk.real_path("/log/0.seg");
        let on_file = std::fs::metadata(&real).unwrap().len();
        assert!(on_file < expected.len() as u64, "the last appends wait");
        for (offset, len) in [
            (0, 10),
            (on_file - 5, 10),
            (1234, 250_000),
            (0, usize::MAX / 2),
        ] {
            let end = (offset as usize).saturating_add(len).min(expected.len());
            assert_eq!(
                disk.read_range("/log/0.seg", offset, len).unwrap(),
                expected[offset as usize..end],
                "{len} bytes at {offset}"
            );
        }
        assert_eq!(disk.read("/log/0.seg").unwrap().unwrap(), expected);
        assert_eq!(disk.list("/log").unwrap(), ["0.seg"]);
        // Opening more files than a disk keeps open closes them all, this one too.
        for i in 0..OPEN_FILES_MAX {
            disk.append_synced(&format!("/other/{i}"), b"x").unwrap();
        }
        assert_eq!(std::fs::read(&real).unwrap(), expected);
        assert_eq!(
            dir.disk("tt").read("/log/0.seg").unwrap().unwrap(),
            expected
        );
        // A replaced or removed file loses the appends it held.
        disk.append_synced("/log/0.seg", b"more").unwrap();
        disk.write_synced("/log/0.seg", b"new").unwrap();
        assert_eq!(disk.read("/log/0.seg").unwrap().unwrap(), b"new");
        disk.append_synced("/log/0.seg", b"+").unwrap();
        disk.remove("/log/0.seg").unwrap();
        assert_eq!(disk.read("/log/0.seg").unwrap(), None);
        assert_eq!(disk.file_len("/log/0.seg"), 0);
    }
}
