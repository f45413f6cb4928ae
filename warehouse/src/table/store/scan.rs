//! Reading a table: a snapshot's manifests resolved to its live files, data files decoded and
//! checked against their manifest entries, and a bucket merged on read with the table's merge
//! engine.

use std::collections::BTreeMap;

use super::super::avro;
use super::super::decode::{self, Run};
use super::super::merge::{MergeFunction, Merged};
use super::super::meta::{DataFileMeta, FileKind, ManifestEntry, ManifestFileMeta, Snapshot};
use super::super::runs;
use super::super::{Key, TableError};
use super::{BucketRows, BucketState, DECODED_MANIFESTS, DECODED_RUNS, FileStoreTable};
use crate::env::ObjectStore;
use crate::row::{Row, RowKind};

/// A file's identity in a snapshot, as Paimon's: (partition, bucket, level, name).
type FileId = (Vec<i64>, u32, u32, String);

/// A manifest entry's decoded size, roughly (file metadata with two short keys and a name).
const MANIFEST_ENTRY_BYTES: usize = 256;

/// A live data file of a snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct DataFileEntry {
    /// The file's partition values (empty: unpartitioned).
    pub partition: Vec<i64>,
    pub bucket: u32,
    pub file: DataFileMeta,
}

/// Applies manifest entries in order: ADD inserts a file, DELETE removes it. Keyed as Paimon's
/// file identifier (partition, bucket, level, name), so the result iterates in that order. A
/// DELETE of a file that is not live is corrupt (Paimon: "Trying to delete file ... which is
/// not previously added"): a commit's conflict check only ever deletes live files.
fn apply_entries(
    live: &mut BTreeMap<FileId, ManifestEntry>,
    entries: Vec<ManifestEntry>,
    path: &str,
) -> Result<(), TableError> {
    for entry in entries {
        let id = (
            entry.partition.clone(),
            entry.bucket,
            entry.file.level,
            entry.file.file_name.clone(),
        );
        match entry.kind {
            FileKind::Add => {
                live.insert(id, entry);
            }
            FileKind::Delete => {
                if live.remove(&id).is_none() {
                    return Err(TableError::corrupt(
                        path,
                        format!(
                            "deletes {} (partition {:?}, bucket {}, level {}), which is not live",
                            id.3, id.0, id.1, id.2
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Checks a manifest's entries against what its manifest list says of it: the numbers of
/// added and deleted files, the bucket and level bounds when recorded, and the partition
/// bounds.
fn check_manifest(
    meta: &ManifestFileMeta,
    entries: &[ManifestEntry],
    path: &str,
) -> Result<(), TableError> {
    let count = |kind| entries.iter().filter(|e| e.kind == kind).count() as u64;
    let (added, deleted) = (count(FileKind::Add), count(FileKind::Delete));
    if (added, deleted) != (meta.num_added_files, meta.num_deleted_files) {
        return Err(TableError::corrupt(
            path,
            format!(
                "{added} added and {deleted} deleted files, its manifest list says {} and {}",
                meta.num_added_files, meta.num_deleted_files
            ),
        ));
    }
    let within = |value: u32, min: Option<u32>, max: Option<u32>| {
        min.is_none_or(|m| m <= value) && max.is_none_or(|m| value <= m)
    };
    let in_partition_bounds = |e: &ManifestEntry| {
        e.partition.iter().enumerate().all(|(i, value)| {
            meta.min_partition.get(i).is_none_or(|min| min <= value)
                && meta.max_partition.get(i).is_none_or(|max| value <= max)
        })
    };
    let outside = entries.iter().find(|e| {
        !within(e.bucket, meta.min_bucket, meta.max_bucket)
            || !within(e.file.level, meta.min_level, meta.max_level)
            || !in_partition_bounds(e)
    });
    if let Some(entry) = outside {
        return Err(TableError::corrupt(
            path,
            format!(
                "{} (partition {:?}, bucket {}, level {}) lies outside the bounds its manifest \
                 list records",
                entry.file.file_name, entry.partition, entry.bucket, entry.file.level
            ),
        ));
    }
    Ok(())
}

impl<S: ObjectStore> FileStoreTable<S> {
    pub(super) async fn read_manifest_list(
        &self,
        name: &str,
    ) -> Result<Vec<ManifestFileMeta>, TableError> {
        let path = self.manifest_path(name);
        let bytes = self
            .inner
            .store
            .get(&path)
            .await?
            .ok_or_else(|| TableError::corrupt(&path, "manifest list is missing"))?;
        avro::decode_manifest_list(&bytes, self.partition_arity(), &path)
    }

    pub(super) async fn read_manifest(&self, name: &str) -> Result<Vec<ManifestEntry>, TableError> {
        let path = self.manifest_path(name);
        let bytes = self
            .inner
            .store
            .get(&path)
            .await?
            .ok_or_else(|| TableError::corrupt(&path, "manifest is missing"))?;
        DECODED_MANIFESTS.with(|memo| {
            memo.get_or_decode(
                &path,
                &self.inner.decode_context,
                bytes,
                |bytes| {
                    let arity = self.partition_arity();
                    avro::decode_manifest(&bytes, &self.key_types(), arity, &path)
                },
                |entries| entries.len() * MANIFEST_ENTRY_BYTES,
            )
        })
    }

    pub(super) async fn read_manifests(
        &self,
        metas: &[ManifestFileMeta],
    ) -> Result<BTreeMap<FileId, ManifestEntry>, TableError> {
        let mut live = BTreeMap::new();
        for meta in metas {
            let entries = self.read_manifest(&meta.file_name).await?;
            let path = self.manifest_path(&meta.file_name);
            check_manifest(meta, &entries, &path)?;
            apply_entries(&mut live, entries, &path)?;
        }
        Ok(live)
    }

    /// The data files a snapshot's own commit added and deleted (its delta manifest list), in
    /// manifest order: what a streaming reader reads of an APPEND snapshot.
    pub async fn delta_files(
        &self,
        snapshot: &Snapshot,
    ) -> Result<Vec<(FileKind, DataFileEntry)>, TableError> {
        let metas = self
            .read_manifest_list(&snapshot.delta_manifest_list)
            .await?;
        let mut delta = Vec::new();
        for meta in &metas {
            let entries = self.read_manifest(&meta.file_name).await?;
            check_manifest(meta, &entries, &self.manifest_path(&meta.file_name))?;
            delta.extend(entries.into_iter().map(|e| {
                let file = DataFileEntry {
                    partition: e.partition,
                    bucket: e.bucket,
                    file: e.file,
                };
                (e.kind, file)
            }));
        }
        Ok(delta)
    }

    /// Live data files of a snapshot, sorted by (partition, bucket, level, file name).
    pub async fn data_files(&self, snapshot: &Snapshot) -> Result<Vec<DataFileEntry>, TableError> {
        let mut metas = self
            .read_manifest_list(&snapshot.base_manifest_list)
            .await?;
        metas.extend(
            self.read_manifest_list(&snapshot.delta_manifest_list)
                .await?,
        );
        Ok(self
            .read_manifests(&metas)
            .await?
            .into_values()
            .map(|e| DataFileEntry {
                partition: e.partition,
                bucket: e.bucket,
                file: e.file,
            })
            .collect())
    }

    /// Decodes one file of `partition`'s `bucket`, checking its records against its metadata.
    async fn read_file(
        &self,
        partition: &[i64],
        bucket: u32,
        file: &DataFileMeta,
    ) -> Result<Run, TableError> {
        let path = self.bucket_file_path(partition, bucket, &file.file_name);
        let bytes =
            self.inner.store.get(&path).await?.ok_or_else(|| {
                TableError::corrupt(&path, super::super::error::DATA_FILE_MISSING)
            })?;
        let run = DECODED_RUNS.with(|memo| {
            memo.get_or_decode(
                &path,
                &self.inner.decode_context,
                bytes,
                |bytes| {
                    decode::decode_run(&self.inner.schema, &self.inner.pk_indices, bytes, &path)
                },
                |run| run.len() * (run.values.len() + 2) * 8,
            )
        })?;
        decode::check_row_count(file, &path, run.len() as u64)?;
        decode::check_within_manifest(file, &path, &run)?;
        Ok(run)
    }

    /// Records of one data or changelog file as (kind, sequence number, row), in file order.
    pub async fn read_data_file(
        &self,
        partition: &[i64],
        bucket: u32,
        file: &DataFileMeta,
    ) -> Result<Vec<(RowKind, i64, Row)>, TableError> {
        let run = self.read_file(partition, bucket, file).await?;
        Ok((0..run.len())
            .map(|i| (run.kinds[i], run.sequence_number(i), run.row(i)))
            .collect())
    }

    /// Merge-on-read of files (all of one bucket of one partition) with the table's merge
    /// engine: live rows go to `rows` (sorted by key), remembered deletes (see
    /// `BucketState::tombstones`) to `tombstones`. Returns the highest sequence number of the
    /// files.
    async fn merge_files<'a>(
        &self,
        files: impl Iterator<Item = &'a DataFileEntry>,
        rows: &mut BucketRows,
        tombstones: &mut BTreeMap<Key, Row>,
    ) -> Result<i64, TableError> {
        let merge = MergeFunction::new(&self.inner.schema, &self.inner.pk_indices)?;
        let mut max_sequence_number = -1;
        let mut runs = Vec::new();
        let mut tree = None;
        for entry in files {
            assert!(
                *tree.get_or_insert((&entry.partition, entry.bucket))
                    == (&entry.partition, entry.bucket),
                "merge-on-read merges the files of one bucket of one partition"
            );
            max_sequence_number = max_sequence_number.max(entry.file.max_sequence_number);
            runs.push(
                self.read_file(&entry.partition, entry.bucket, &entry.file)
                    .await?,
            );
        }
        *rows = BucketRows::new(self.inner.pk_indices.len(), self.inner.schema.fields.len());
        if merge.is_last_wins() {
            // Plain deduplicate: the newest record of each key is its state. Winners come in
            // long stretches of one run, copied a stretch at a time.
            let mut winners: Vec<runs::RecordId> = Vec::new();
            runs::for_each_key(&runs, |group| {
                let &(r, i) = group.last().expect("a key has records");
                if runs[r].kinds[i].is_add() {
                    winners.push((r, i));
                }
            });
            rows.extend_from_runs(&runs, &winners);
            return Ok(max_sequence_number);
        }
        runs::for_each_key(&runs, |group| {
            // A key with one record (already a merged partial) needs no fold.
            if let &[(r, i)] = group {
                let run = &runs[r];
                if run.kinds[i].is_add() {
                    rows.push(&run.key(i), &run.row(i));
                } else if merge.keeps_tombstones() {
                    tombstones.insert(run.key(i), run.row(i));
                }
                return;
            }
            let mut records = group.iter().map(|&(r, i)| Merged {
                kind: runs[r].kinds[i],
                row: runs[r].row(i),
            });
            let mut merged = records.next().expect("a key has records");
            for newer in records {
                merge.combine(&mut merged, newer);
            }
            let &(r, i) = group.first().expect("a key has records");
            if merged.is_live() {
                rows.push(&runs[r].key(i), &merged.row);
            } else if merge.keeps_tombstones() {
                tombstones.insert(runs[r].key(i), merged.row);
            }
        });
        Ok(max_sequence_number)
    }

    /// Merged state of one bucket of `partition` at `snapshot` (None: the empty table).
    pub async fn read_bucket(
        &self,
        snapshot: Option<&Snapshot>,
        partition: &[i64],
        bucket: u32,
    ) -> Result<BucketState, TableError> {
        match snapshot {
            Some(snapshot) => {
                let files = self.data_files(snapshot).await?;
                self.read_bucket_of(&files, partition, bucket).await
            }
            None => Ok(BucketState::default()),
        }
    }

    /// Merged state of one bucket of `partition` from a snapshot's live files (`data_files`),
    /// so a restore of many buckets reads the snapshot's manifests once rather than once per
    /// bucket.
    pub async fn read_bucket_of(
        &self,
        files: &[DataFileEntry],
        partition: &[i64],
        bucket: u32,
    ) -> Result<BucketState, TableError> {
        let in_tree = |e: &&DataFileEntry| e.bucket == bucket && e.partition == partition;
        let mut state = BucketState::default();
        state.max_sequence_number = self
            .merge_files(
                files.iter().filter(in_tree),
                &mut state.rows,
                &mut state.tombstones,
            )
            .await?;
        state.files = files
            .iter()
            .filter(in_tree)
            .map(|e| e.file.clone())
            .collect();
        let records: u64 = state.files.iter().map(|f| f.row_count).sum();
        assert!(
            (state.rows.len() + state.tombstones.len()) as u64 <= records,
            "partition {partition:?} bucket {bucket}: merge-on-read yielded more keys than its files hold records"
        );
        Ok(state)
    }

    /// Merged state of every bucket of every partition at `snapshot`.
    pub async fn read_all(&self, snapshot: &Snapshot) -> Result<BTreeMap<Key, Row>, TableError> {
        let files = self.data_files(snapshot).await?;
        let mut rows = BTreeMap::new();
        let mut bucket_rows = BucketRows::default();
        let mut start = 0;
        while start < files.len() {
            let first = &files[start];
            let end = start
                + files[start..].partition_point(|e| {
                    e.bucket == first.bucket && e.partition == first.partition
                });
            self.merge_files(
                files[start..end].iter(),
                &mut bucket_rows,
                &mut BTreeMap::new(),
            )
            .await?;
            rows.extend(bucket_rows.iter());
            start = end;
        }
        Ok(rows)
    }

    /// Records of the snapshot's changelog files, in file order then row order.
    pub async fn read_changelog(
        &self,
        snapshot: &Snapshot,
    ) -> Result<Vec<(RowKind, Row)>, TableError> {
        Ok(self
            .read_changelog_by_subtasks(snapshot, 1)
            .await?
            .into_rows())
    }

    /// [`Self::read_changelog`] by a source of `subtasks` parallel readers: bucket `b`'s files
    /// are read by subtask `b % subtasks`, one after another; the subtasks read side by side,
    /// as the splits of Paimon's parallel streaming source are. The records keep file order.
    pub async fn read_changelog_by_subtasks(
        &self,
        snapshot: &Snapshot,
        subtasks: u32,
    ) -> Result<ChangelogRecords, TableError> {
        let Some(list) = &snapshot.changelog_manifest_list else {
            return Ok(ChangelogRecords::default());
        };
        if subtasks > 1 {
            let mut files = Vec::new();
            for meta in self.read_manifest_list(list).await? {
                for entry in self.read_manifest(&meta.file_name).await? {
                    if entry.kind == FileKind::Add {
                        files.push(entry);
                    }
                }
            }
            let lane_count = subtasks as usize;
            let mut lanes: Vec<Vec<usize>> = vec![Vec::new(); lane_count];
            for (index, entry) in files.iter().enumerate() {
                lanes[entry.bucket as usize % lane_count].push(index);
            }
            let files = &files;
            let read = crate::stream::runtime::join_all(
                lanes
                    .into_iter()
                    .filter(|lane| !lane.is_empty())
                    .map(|lane| async move {
                        let mut runs = Vec::with_capacity(lane.len());
                        for index in lane {
                            let entry = &files[index];
                            let run = self.read_file(&entry.partition, entry.bucket, &entry.file);
                            runs.push((index, run.await?));
                        }
                        Ok::<_, TableError>(runs)
                    }),
            )
            .await;
            let mut runs = Vec::with_capacity(files.len());
            for lane in read {
                runs.extend(lane?);
            }
            runs.sort_by_key(|(index, _)| *index);
            return Ok(ChangelogRecords {
                runs: runs.into_iter().map(|(_, run)| run).collect(),
            });
        }
        let mut records = ChangelogRecords::default();
        for meta in self.read_manifest_list(list).await? {
            for entry in self.read_manifest(&meta.file_name).await? {
                if entry.kind == FileKind::Add {
                    let run = self
                        .read_file(&entry.partition, entry.bucket, &entry.file)
                        .await?;
                    records.runs.push(run);
                }
            }
        }
        Ok(records)
    }
}

/// A snapshot's changelog records as the decoded files they came from, in file order: a reader
/// sees each row in place, and no row is copied out of its file's columns unless asked for.
#[derive(Default)]
pub struct ChangelogRecords {
    runs: Vec<Run>,
}

impl std::fmt::Debug for ChangelogRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangelogRecords")
            .field("files", &self.runs.len())
            .field("records", &self.len())
            .finish()
    }
}

impl ChangelogRecords {
    pub fn len(&self) -> usize {
        self.runs.iter().map(Run::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.iter().all(|run| run.len() == 0)
    }

    /// Calls `visit` with each record in file order then row order, its row gathered into one
    /// buffer reused from record to record; stops at the first error.
    pub fn try_for_each<E>(
        &self,
        mut visit: impl FnMut(RowKind, &[i64]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut row: Row = Vec::new();
        for run in &self.runs {
            for (i, &kind) in run.kinds.iter().enumerate() {
                row.clear();
                row.extend(run.values.iter().map(|column| column.values()[i]));
                visit(kind, &row)?;
            }
        }
        Ok(())
    }

    /// Every record with its own row.
    pub fn into_rows(self) -> Vec<(RowKind, Row)> {
        let mut rows = Vec::with_capacity(self.len());
        for run in &self.runs {
            rows.extend((0..run.len()).map(|i| (run.kinds[i], run.row(i))));
        }
        rows
    }
}
