//! One bucket's writer: holds the bucket's merged state in memory (Paimon's lookup), folds each
//! write in with the table's merge engine (`table::merge`), buffers a checkpoint's writes, and
//! at the barrier writes one level-0 data file plus the changelog its producer asks for: the
//! input records (`input`), or the exact changelog of the batch against the state before it
//! (`lookup`). Full-compaction changelog comes from `compaction`. A writer whose caller never
//! rewrites a flushed key holds the flushed keys only, not their rows (`HeldRows::Unflushed`).

use std::hash::{BuildHasher, BuildHasherDefault};

use indexmap::IndexMap;
use indexmap::map::Entry;

use super::compaction::{self, CompactionResult};
use super::flushed_keys::{FlushedKeys, HeldRows};
use super::format::{self, FileContent, RecordRef, file_meta};
use super::key::PackedKey;
use super::merge::{MergeFunction, Merged};
use super::meta::{CommitMessage, DataFileMeta};
use super::pending::Pending;
use super::store::BucketState;
use super::{ChangelogProducer, FileStoreTable, TableError, TableSchema};
use crate::env::ObjectStore;
use crate::row::{Row, RowKind, StableHashMap, StableHasher};

/// Slots of a writer's `touched_slots` (a power of two): 16 KB, a few times the keys a DWS
/// bucket's batch touches at Double-11's peak.
pub(super) const TOUCHED_SLOTS: usize = 4096;

#[path = "writer_compaction.rs"]
mod compactions;
pub use compactions::WriteStall;

pub struct BucketWriter {
    schema: TableSchema,
    pk_indices: Vec<usize>,
    /// The partition this writer's bucket belongs to (empty: the table is unpartitioned).
    partition: Vec<i64>,
    /// Positions within the primary key of the partition keys, to check each write's key.
    partition_positions: Vec<usize>,
    bucket: u32,
    merge: MergeFunction,
    producer: ChangelogProducer,
    held: HeldRows,
    /// Live rows: all of them, or with `HeldRows::Unflushed` those of the batch. Looked up,
    /// never iterated: a hash map is enough and much faster than a B-tree.
    state: StableHashMap<PackedKey, Row>,
    /// With `HeldRows::Unflushed`: the live keys of the flushed files (none of them in `state`).
    flushed_keys: FlushedKeys,
    /// Deletes the merge engine must remember (see `BucketState::tombstones`).
    tombstones: StableHashMap<PackedKey, Row>,
    /// Keys touched since the last flush, in first-touch order until a flush sorts them: the
    /// flush walks the entries in key order without looking each key up again.
    pending: IndexMap<PackedKey, Pending, BuildHasherDefault<StableHasher>>,
    /// Plain deduplicate without the lookup changelog (instead of `pending`): each write's key
    /// and sequence number, in write order until a flush sorts them and keeps each key's last.
    touched: Vec<(PackedKey, i64)>,
    /// With `touched`: where in `touched` a key hashing to each slot was last pushed since it
    /// was last sorted (index + 1; 0 for none). A write of a key found there moves its sequence
    /// number in place instead of pushing the key again: an aggregate's batch writes a few keys
    /// many times, and its flush then sorts the keys, not every write. Direct-mapped, so a key
    /// whose slot another took is pushed again; the sort keeps its last write as before.
    touched_slots: Vec<u32>,
    /// With `touched`: the row of the last write of each key whose last write deleted it (the
    /// live rows are in `state`).
    deleted: StableHashMap<PackedKey, Row>,
    /// The batch's accepted input records (key, sequence number, kind, row), for the input
    /// changelog producer.
    inputs: Vec<(PackedKey, i64, RowKind, Row)>,
    pending_records: usize,
    next_sequence_number: i64,
    /// `next_sequence_number` at the last successful flush (or at the start): every pending
    /// write's sequence number is at least this, so each flushed file's range lies past the last.
    flushed_sequence_number_end: i64,
    file_counter: u64,
    last_written_bytes: u64,
    /// The bucket's live data files: its sorted runs (each level-0 file, each level above).
    files: Vec<DataFileMeta>,
    /// Flushes since the last full compaction (for `full-compaction.delta-commits`).
    flushes_since_full_compaction: u32,
    /// The stall of the last `prepare_commit`, if it had to compact at the stop trigger.
    last_stall: Option<WriteStall>,
}

impl BucketWriter {
    /// A writer continuing from `base` (read with `FileStoreTable::read_bucket`).
    ///
    /// # Panics
    /// If `schema` is not a valid primary-key schema (`create_or_open` rejects those first).
    pub fn new(schema: &TableSchema, bucket: u32, base: BucketState) -> Self {
        Self::holding(schema, bucket, base, HeldRows::All)
    }

    /// A writer continuing from `base` that holds `held` rows.
    ///
    /// # Panics
    /// If `schema` is not a valid primary-key schema, or `held` is `Unflushed` for a table
    /// whose merge engine needs a key's current row (only plain deduplicate does not).
    pub fn holding(schema: &TableSchema, bucket: u32, base: BucketState, held: HeldRows) -> Self {
        Self::of_partition(schema, Vec::new(), bucket, base, held)
    }

    /// A writer of `bucket` of `partition` (its partition-key values) continuing from `base`
    /// (read with `FileStoreTable::read_bucket` for that partition) that holds `held` rows.
    ///
    /// # Panics
    /// As [`Self::holding`], and if `partition` does not have one value per partition key.
    pub fn of_partition(
        schema: &TableSchema,
        partition: Vec<i64>,
        bucket: u32,
        mut base: BucketState,
        held: HeldRows,
    ) -> Self {
        let pk_indices = schema
            .primary_key_indices()
            .expect("BucketWriter needs a schema that create_or_open accepted");
        let partition_positions = schema
            .partition_key_positions()
            .expect("primary_key_indices validated the partition keys");
        assert_eq!(
            partition.len(),
            partition_positions.len(),
            "partition {partition:?} does not match the partition keys {:?}",
            schema.partition_keys
        );
        let merge = MergeFunction::new(schema, &pk_indices)
            .expect("primary_key_indices validated the merge options");
        let mut flushed_keys = FlushedKeys::new(pk_indices.len());
        if held == HeldRows::Unflushed {
            assert!(
                merge.is_last_wins() && !merge.keeps_tombstones(),
                "only a plain deduplicate writer can leave its flushed rows in the files"
            );
            let keys: Vec<Vec<i64>> = (0..base.rows.len()).map(|i| base.rows.key(i)).collect();
            flushed_keys.insert_ascending(keys.iter().map(Vec::as_slice));
            base.rows = Default::default();
        }
        Self {
            held,
            flushed_keys,
            schema: schema.clone(),
            pk_indices,
            partition,
            partition_positions,
            bucket,
            merge,
            producer: schema.options.changelog_producer,
            state: base
                .rows
                .iter()
                .map(|(key, row)| (PackedKey::of_key(&key), row))
                .collect(),
            tombstones: std::mem::take(&mut base.tombstones)
                .into_iter()
                .map(|(key, row)| (PackedKey::of_key(&key), row))
                .collect(),
            pending: IndexMap::default(),
            touched: Vec::new(),
            touched_slots: Vec::new(),
            deleted: StableHashMap::default(),
            inputs: Vec::new(),
            pending_records: 0,
            next_sequence_number: base.max_sequence_number + 1,
            flushed_sequence_number_end: base.max_sequence_number + 1,
            file_counter: 0,
            last_written_bytes: 0,
            files: base.files,
            flushes_since_full_compaction: 0,
            last_stall: None,
        }
    }

    pub fn bucket(&self) -> u32 {
        self.bucket
    }

    /// The partition-key values of this writer's bucket (empty: unpartitioned).
    pub fn partition(&self) -> &[i64] {
        &self.partition
    }

    /// Current value of `key`, including unflushed writes.
    ///
    /// # Panics
    /// If the writer holds only its batch's rows (`HeldRows::Unflushed`): use `contains_key`.
    pub fn get(&self, key: &[i64]) -> Option<&Row> {
        assert_eq!(
            self.held,
            HeldRows::All,
            "a writer holding only its batch's rows cannot read a flushed row"
        );
        self.state.get(key)
    }

    /// Whether `key` is live, including unflushed writes.
    pub fn contains_key(&self, key: &[i64]) -> bool {
        self.state.contains_key(key)
            || (self.held == HeldRows::Unflushed && self.flushed_keys.contains(key))
    }

    /// Number of keys currently live in the bucket.
    pub fn len(&self) -> usize {
        self.state.len() + self.flushed_keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lets go of the held rows whose key `closed` says no write will ever touch again (a
    /// Flink job's state TTL: the job routes every later record of such a key elsewhere). The
    /// rows stay in the table's files. Does nothing while writes wait for a flush, so a pending
    /// key's row is never lost; returns the rows let go.
    pub fn forget_closed_rows(&mut self, closed: impl Fn(&[i64]) -> bool) -> usize {
        if self.has_pending() {
            return 0;
        }
        let before = self.state.len();
        self.state.retain(|key, _| !closed(key.as_slice()));
        before - self.state.len()
    }

    /// Writes one record under its key, merged with the table's merge engine. For deduplicate,
    /// +I/+U upsert and -U/-D delete. Errors, changing nothing, when the engine refuses the
    /// record (a retraction where the merge engine or an aggregate function cannot take one).
    ///
    /// # Panics
    /// If `row` does not have one value per schema field (a caller bug).
    pub fn write(&mut self, kind: RowKind, row: Row) -> Result<(), TableError> {
        assert_eq!(
            row.len(),
            self.schema.fields.len(),
            "row width must match the table schema"
        );
        let key = PackedKey::of_row(&row, &self.pk_indices);
        assert!(
            self.partition_positions
                .iter()
                .zip(&self.partition)
                .all(|(&i, value)| key.as_slice()[i] == *value),
            "key {:?} written to partition {:?}, which is not its own",
            key.as_slice(),
            self.partition
        );
        assert!(
            self.held == HeldRows::All || !self.flushed_keys.contains(key.as_slice()),
            "bucket {}: key {:?} rewritten after its flush, by a writer holding only its batch's rows",
            self.bucket,
            key.as_slice()
        );
        let input = (self.producer == ChangelogProducer::Input).then(|| row.clone());
        let Some(lifted) = self.merge.lift(kind, row)? else {
            return Ok(()); // ignore-delete
        };
        let sequence_number = self.next_sequence_number;
        self.next_sequence_number += 1;
        self.pending_records += 1;
        if let Some(row) = input {
            self.inputs.push((key.clone(), sequence_number, kind, row));
        }
        let lookup = self.producer == ChangelogProducer::Lookup;
        if self.merge.is_last_wins() && !lookup {
            // Plain deduplicate without the lookup changelog: the key's state is the whole
            // story, so the batch only logs which keys it touched (sorted at the flush).
            if lifted.is_live() {
                if !self.deleted.is_empty() {
                    self.deleted.remove(&key);
                }
                self.state.insert(key.clone(), lifted.row);
            } else {
                self.state.remove(&key);
                self.deleted.insert(key.clone(), lifted.row);
            }
            self.touch(key, sequence_number);
            return Ok(());
        }
        if self.merge.is_last_wins() {
            let (old, deleted_row) = if lifted.is_live() {
                (self.state.insert(key.clone(), lifted.row), None)
            } else {
                (self.state.remove(&key), Some(lifted.row))
            };
            match self.pending.entry(key) {
                Entry::Vacant(v) => {
                    let before = if lookup { old } else { None };
                    v.insert(Pending::new(
                        sequence_number,
                        before,
                        deleted_row,
                        None,
                        None,
                    ));
                }
                Entry::Occupied(mut o) => {
                    let p = o.get_mut();
                    p.sequence_number = sequence_number;
                    p.set_deleted_row(deleted_row);
                }
            }
            return Ok(());
        }
        let before = match self.state.remove(&key) {
            Some(row) => Some(Merged {
                kind: RowKind::Insert,
                row,
            }),
            None => self.tombstones.remove(&key).map(|row| Merged {
                kind: RowKind::Delete,
                row,
            }),
        };
        // The lookup changelog diffs against the value before the batch: the first touch's.
        let before_live = before
            .as_ref()
            .filter(|m| lookup && m.is_live() && !self.pending.contains_key(&key))
            .map(|m| m.row.clone());
        let written_last =
            (lookup && self.schema.options.unsafe_lookup_ignore_sequence_field && lifted.is_live())
                .then(|| lifted.row.clone());
        let after = match before {
            None => lifted.clone(),
            Some(mut current) => {
                self.merge.combine(&mut current, lifted.clone());
                current
            }
        };
        if after.is_live() {
            self.state.insert(key.clone(), after.row);
        } else if self.merge.keeps_tombstones() {
            self.tombstones.insert(key.clone(), after.row);
        }
        match self.pending.entry(key) {
            Entry::Vacant(v) => {
                let batch = Some(lifted);
                v.insert(Pending::new(
                    sequence_number,
                    before_live,
                    None,
                    batch,
                    written_last,
                ));
            }
            Entry::Occupied(mut o) => {
                let p = o.get_mut();
                p.sequence_number = sequence_number;
                p.set_written_last(written_last);
                match p.batch_mut() {
                    Some(batch) => self.merge.combine(batch, lifted),
                    batch => *batch = Some(lifted),
                }
            }
        }
        Ok(())
    }

    /// Logs a write of `key` in `touched`: in place of the key's last entry when its slot in
    /// `touched_slots` still points there, else as a new entry.
    fn touch(&mut self, key: PackedKey, sequence_number: i64) {
        if self.touched_slots.is_empty() {
            self.touched_slots = vec![0; TOUCHED_SLOTS];
        }
        let slot = (BuildHasherDefault::<StableHasher>::default().hash_one(key.as_slice())
            as usize)
            & (TOUCHED_SLOTS - 1);
        let at = self.touched_slots[slot] as usize;
        if let Some(entry) = at.checked_sub(1).and_then(|i| self.touched.get_mut(i))
            && entry.0 == key
        {
            debug_assert!(entry.1 < sequence_number, "sequence numbers grow");
            entry.1 = sequence_number;
            return;
        }
        if let Ok(index) = u32::try_from(self.touched.len() + 1) {
            self.touched_slots[slot] = index;
        }
        self.touched.push((key, sequence_number));
    }

    /// Sorts `touched` by key, keeping each key's last write: sequence numbers grow with write
    /// order and are never shared, so (key, sequence number) is one total order and an unstable
    /// sort gives it. A failed flush leaves it sorted, which later writes extend.
    fn sort_touched(&mut self) {
        // The entries move: no slot may point into them any more.
        self.touched_slots.fill(0);
        self.touched.sort_unstable();
        let len = self.touched.len();
        let mut kept = 0;
        for i in 0..len {
            if i + 1 < len && self.touched[i + 1].0 == self.touched[i].0 {
                continue;
            }
            self.touched.swap(kept, i);
            kept += 1;
        }
        self.touched.truncate(kept);
    }

    /// Whether writes wait for the next flush.
    fn has_pending(&self) -> bool {
        !self.pending.is_empty() || !self.touched.is_empty()
    }

    /// Checks a flush's data file against the batch: one record per touched key, sequence
    /// numbers of this batch's writes only (past every file flushed before, so a level-0 file
    /// never hides a newer one).
    fn assert_flushed_batch(&self, data_meta: &DataFileMeta) {
        let keys = if self.touched.is_empty() {
            self.pending.len()
        } else {
            self.touched.len()
        };
        assert_eq!(
            data_meta.row_count, keys as u64,
            "{}: one record per key the batch touched",
            data_meta.file_name
        );
        assert!(
            data_meta.min_sequence_number >= self.flushed_sequence_number_end
                && data_meta.max_sequence_number < self.next_sequence_number,
            "{}: sequence numbers {}..={} outside the batch's [{}, {})",
            data_meta.file_name,
            data_meta.min_sequence_number,
            data_meta.max_sequence_number,
            self.flushed_sequence_number_end,
            self.next_sequence_number
        );
    }

    /// Writes since the last `prepare_commit`.
    pub fn pending_records(&self) -> usize {
        self.pending_records
    }

    /// Bytes of the files written by the last `prepare_commit`.
    pub fn last_written_bytes(&self) -> u64 {
        self.last_written_bytes
    }

    /// The row in `state` of each key of `pending`, in its order: looked up once for the data
    /// file, the changelog and the flushed keys.
    fn pending_state_rows(&self) -> Vec<Option<&Row>> {
        self.pending.keys().map(|key| self.state.get(key)).collect()
    }

    /// The batch as data records: one record per key, sorted by key (`pending` sorted), with
    /// `state_rows` from `pending_state_rows`.
    fn batch_records<'a>(&'a self, state_rows: &[Option<&'a Row>]) -> Vec<RecordRef<'a>> {
        if !self.touched.is_empty() {
            return self
                .touched
                .iter()
                .map(|(key, sequence_number)| {
                    let (kind, row) = match self.state.get(key) {
                        Some(row) => (RowKind::Insert, row),
                        None => (RowKind::Delete, &self.deleted[key]),
                    };
                    RecordRef {
                        key: key.as_slice(),
                        sequence_number: *sequence_number,
                        kind,
                        row,
                    }
                })
                .collect();
        }
        assert_eq!(
            state_rows.len(),
            self.pending.len(),
            "a state row per pending key"
        );
        self.pending
            .iter()
            .zip(state_rows)
            .map(|((key, p), &merged)| {
                let (kind, row) = match (p.batch(), p.deleted_row()) {
                    (Some(batch), _) => (batch.kind, &batch.row),
                    (None, Some(row)) => (RowKind::Delete, row),
                    (None, None) => (
                        RowKind::Insert,
                        merged.expect("a pending key neither batched nor deleted is live"),
                    ),
                };
                RecordRef {
                    key: key.as_slice(),
                    sequence_number: p.sequence_number,
                    kind,
                    row,
                }
            })
            .collect()
    }

    /// Sorts the input changelog producer's records by key then write order, as Paimon's
    /// sorted write buffer emits them.
    fn sort_inputs(&mut self) {
        self.inputs
            .sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    }

    /// The batch's changelog records for the input or lookup producer, sorted by key (inputs
    /// sorted by `sort_inputs`; `state_rows` from `pending_state_rows`).
    fn changelog_records<'a>(&'a self, state_rows: &[Option<&'a Row>]) -> Vec<RecordRef<'a>> {
        match self.producer {
            ChangelogProducer::Input => self
                .inputs
                .iter()
                .map(|(key, sequence_number, kind, row)| RecordRef {
                    key: key.as_slice(),
                    sequence_number: *sequence_number,
                    kind: *kind,
                    row,
                })
                .collect(),
            ChangelogProducer::Lookup => {
                let ignore_sequence = self.schema.options.unsafe_lookup_ignore_sequence_field;
                // A key gives one record, or two for an update.
                let mut changes: Vec<RecordRef<'_>> = Vec::with_capacity(self.pending.len());
                for ((key, p), &merged) in self.pending.iter().zip(state_rows) {
                    // UNSAFE (apache/paimon#7220): the newest write, not the merged row.
                    let after = match p.written_last() {
                        Some(row) if ignore_sequence => Some(row),
                        _ => merged,
                    };
                    let record = |kind, row| RecordRef {
                        key: key.as_slice(),
                        sequence_number: p.sequence_number,
                        kind,
                        row,
                    };
                    match (p.before(), after) {
                        (None, Some(v)) => changes.push(record(RowKind::Insert, v)),
                        (Some(v), None) => changes.push(record(RowKind::Delete, v)),
                        (Some(v), Some(w)) if v != w => {
                            changes.push(record(RowKind::UpdateBefore, v));
                            changes.push(record(RowKind::UpdateAfter, w));
                        }
                        _ => {}
                    }
                }
                changes
            }
            ChangelogProducer::None | ChangelogProducer::FullCompaction => Vec::new(),
        }
    }

    /// Flushes the batch as one level-0 data file (and a changelog file for the input and
    /// lookup producers). `None` when nothing is pending. Pending writes survive a failed flush.
    pub async fn prepare_commit<S: ObjectStore>(
        &mut self,
        table: &FileStoreTable<S>,
        file_prefix: &str,
        time_millis: i64,
    ) -> Result<Option<CommitMessage>, TableError> {
        self.last_written_bytes = 0;
        self.last_stall = None;
        if !self.has_pending() {
            return Ok(None);
        }
        let n = self.file_counter;
        self.file_counter += 1;

        // Keys are distinct: an unstable sort gives the one order.
        self.pending.sort_unstable_keys();
        self.sort_touched();
        self.sort_inputs();

        let state_rows = self.pending_state_rows();
        let data = self.batch_records(&state_rows);
        let data_name = format!("data-{file_prefix}-{n}.parquet");
        let data_path = table.bucket_file_path(&self.partition, self.bucket, &data_name);
        let bytes = format::encode(&self.schema, &self.pk_indices, &data[..], &data_path)?;
        let data_meta = file_meta(
            data_name,
            bytes.len() as u64,
            &data[..],
            time_millis,
            FileContent::Data,
        );
        self.assert_flushed_batch(&data_meta);
        let changes = self.changelog_records(&state_rows);
        // A batch of new keys only (a log table's usual flush) has a changelog of the same
        // records as its data file, and encoding is a pure function of the records (the path
        // only names errors): the changelog file's bytes are the data file's.
        let changelog_bytes = (!changes.is_empty() && changes == data).then(|| bytes.clone());
        table.store().put(&data_path, bytes).await?;
        let mut written_bytes = data_meta.file_size;

        let mut changelog_files = Vec::new();
        let (schema, pk_indices, partition, bucket) = (
            self.schema.clone(),
            self.pk_indices.clone(),
            self.partition.clone(),
            self.bucket,
        );
        let batch_sequence_numbers = self.flushed_sequence_number_end..self.next_sequence_number;
        // Which pending keys stay live, for the flushed keys (a writer holding its batch only).
        let pending_live: Vec<bool> = state_rows.iter().map(Option::is_some).collect();
        if !changes.is_empty() {
            let name = format!("changelog-{file_prefix}-{n}.parquet");
            let path = table.bucket_file_path(&partition, bucket, &name);
            let bytes = match changelog_bytes {
                Some(bytes) => bytes,
                None => format::encode(&schema, &pk_indices, &changes[..], &path)?,
            };
            let meta = file_meta(
                name,
                bytes.len() as u64,
                &changes[..],
                time_millis,
                FileContent::Changelog,
            );
            assert!(
                batch_sequence_numbers.contains(&meta.min_sequence_number)
                    && batch_sequence_numbers.contains(&meta.max_sequence_number),
                "changelog {} holds sequence numbers of no pending write",
                meta.file_name
            );
            table.store().put(&path, bytes).await?;
            written_bytes += meta.file_size;
            changelog_files.push(meta);
        }

        // Nothing of this flush reaches the writer's view unless it all succeeds (a failed
        // stall leaves the pending writes to be flushed again; its files are orphans).
        let files_before_flush = self.files.clone();
        let flushes_before = self.flushes_since_full_compaction;
        self.files.push(data_meta.clone());
        self.flushes_since_full_compaction += 1;
        let full_due = self
            .schema
            .options
            .full_compaction_delta_commits
            .is_some_and(|commits| self.flushes_since_full_compaction >= commits);
        let compaction = match self
            .compact_after_flush(table, &format!("{file_prefix}-{n}"), time_millis, full_due)
            .await
        {
            Ok(compaction) => compaction,
            Err(error) => {
                self.files = files_before_flush;
                self.flushes_since_full_compaction = flushes_before;
                return Err(error);
            }
        };
        if self.held == HeldRows::Unflushed {
            self.move_batch_rows_to_files(&pending_live);
        }
        self.pending.clear();
        self.touched.clear();
        self.touched_slots.fill(0);
        self.deleted.clear();
        self.inputs.clear();
        self.pending_records = 0;
        self.flushed_sequence_number_end = self.next_sequence_number;
        self.last_written_bytes = written_bytes + compaction.io_bytes;
        Ok(Some(CommitMessage {
            partition: self.partition.clone(),
            bucket: self.bucket,
            new_files: vec![data_meta],
            changelog_files,
            compact_before: compaction.before,
            compact_after: compaction.after,
            compact_changelog_files: compaction.changelog,
        }))
    }

    /// After a flush by a writer holding only its batch's rows: the batch's live keys join the
    /// flushed keys and their rows leave memory (the data file holds them). `pending_live`
    /// says which keys of the sorted `pending` are live (their `state` rows, looked up once).
    fn move_batch_rows_to_files(&mut self, pending_live: &[bool]) {
        let flushed_before = self.flushed_keys.len();
        if self.touched.is_empty() {
            assert_eq!(
                pending_live.len(),
                self.pending.len(),
                "a flag per pending key"
            );
            let live = self
                .pending
                .keys()
                .zip(pending_live)
                .filter_map(|(key, &live)| live.then_some(key.as_slice()));
            self.flushed_keys.insert_ascending(live);
        } else {
            let state = &self.state;
            let live = self
                .touched
                .iter()
                .map(|(key, _)| key)
                .filter(|key| state.contains_key(*key));
            self.flushed_keys
                .insert_ascending(live.map(PackedKey::as_slice));
        }
        assert_eq!(
            self.flushed_keys.len(),
            flushed_before + self.state.len(),
            "bucket {}: every live row of the batch becomes a flushed key",
            self.bucket
        );
        self.state.clear();
    }
}
