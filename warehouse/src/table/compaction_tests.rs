//! Tests of the LSM's limits and of concurrent compaction: `target-file-size` rolling,
//! `num-sorted-run.stop-trigger` stalls, and the conflict check that makes two compactors (or a
//! compactor and an inline writer) safe, each against a `BTreeMap` model of the table.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::*;
use crate::env::{MemStore, ObjectStore, StoreError};
use crate::row::{Field, Row, RowKind};

const ROOT: &str = "warehouse/t.db/c";

fn schema(trigger: usize, write_only: bool) -> TableSchema {
    TableSchema {
        fields: vec![
            Field::bigint("k"),
            Field::enumeration("kind", &["a", "b", "c"]),
            Field::bigint("v"),
        ],
        partition_keys: Vec::new(),
        primary_keys: vec!["k".into()],
        options: TableOptions {
            bucket: 1,
            compaction_trigger: trigger,
            write_only,
            ..TableOptions::default()
        },
    }
}

async fn open<S: ObjectStore>(store: S, schema: TableSchema) -> FileStoreTable<S> {
    FileStoreTable::create_or_open(store, ROOT, schema, 0)
        .await
        .unwrap()
}

async fn writer<S: ObjectStore>(table: &FileStoreTable<S>) -> BucketWriter {
    let latest = table.latest_snapshot().await.unwrap();
    let state = table.read_bucket(latest.as_ref(), &[], 0).await.unwrap();
    BucketWriter::new(table.schema(), 0, state)
}

/// Writes keys `keys` with value `value` (deleting every seventh key) to the writer and model.
fn write(writer: &mut BucketWriter, model: &mut BTreeMap<Key, Row>, keys: &[i64], value: i64) {
    for &k in keys {
        if (k + value) % 7 == 0 {
            writer.write(RowKind::Delete, vec![k, 0, 0]).unwrap();
            model.remove(&vec![k]);
        } else {
            let row = vec![k, value % 3, value];
            writer.write(RowKind::Insert, row.clone()).unwrap();
            model.insert(vec![k], row);
        }
    }
}

/// Flushes and commits checkpoint `identifier` of user "w".
async fn checkpoint<S: ObjectStore>(
    table: &FileStoreTable<S>,
    writer: &mut BucketWriter,
    identifier: i64,
) -> Result<CommitOutcome, TableError> {
    let prefix = format!("w{identifier}");
    let messages: Vec<CommitMessage> = writer
        .prepare_commit(table, &prefix, identifier)
        .await?
        .into_iter()
        .collect();
    table
        .commit("w", identifier, messages, None, identifier, &prefix)
        .await
}

async fn latest_files<S: ObjectStore>(table: &FileStoreTable<S>) -> Vec<DataFileMeta> {
    let latest = table.latest_snapshot().await.unwrap().unwrap();
    let files = table.data_files(&latest).await.unwrap();
    files.into_iter().map(|e| e.file).collect()
}

async fn read_latest<S: ObjectStore>(table: &FileStoreTable<S>) -> BTreeMap<Key, Row> {
    let latest = table.latest_snapshot().await.unwrap().unwrap();
    table.read_all(&latest).await.unwrap()
}

/// Compaction output rolls at `target-file-size` into several files of one level with disjoint
/// key ranges, and merge-on-read across levels with several files per level reads the model.
#[tokio::test(flavor = "current_thread")]
async fn target_file_size_rolls_compaction_output_into_disjoint_files() {
    let mut schema = schema(2, false);
    schema.options.target_file_size_bytes = 4 * 1024;
    let table = open(MemStore::new(), schema).await;
    let mut w = writer(&table).await;
    let mut model = BTreeMap::new();
    let mut most_files_at_a_level = 0;
    for i in 0..6i64 {
        let keys: Vec<i64> = (0..1_500).map(|k| (k * 7 + i * 311) % 4_000).collect();
        write(&mut w, &mut model, &keys, i);
        checkpoint(&table, &mut w, i + 1).await.unwrap();
        let files = latest_files(&table).await;
        let mut by_level: BTreeMap<u32, Vec<&DataFileMeta>> = BTreeMap::new();
        for file in files.iter().filter(|f| f.level > 0) {
            by_level.entry(file.level).or_default().push(file);
        }
        for (level, mut level_files) in by_level {
            most_files_at_a_level = most_files_at_a_level.max(level_files.len());
            level_files.sort_by(|a, b| a.min_key.cmp(&b.min_key));
            for pair in level_files.windows(2) {
                assert!(
                    pair[0].max_key < pair[1].min_key,
                    "level {level}: {} and {} overlap",
                    pair[0].file_name,
                    pair[1].file_name
                );
            }
            for file in &level_files {
                assert!(
                    file.file_size < 3 * 4 * 1024,
                    "{} is {} bytes, far past the 4 KiB target",
                    file.file_name,
                    file.file_size
                );
            }
        }
        assert_eq!(read_latest(&table).await, model, "after checkpoint {i}");
        // A restarted writer reads the same state back through merge-on-read.
        let again = writer(&table).await;
        assert_eq!(again.len(), model.len());
    }
    assert!(
        most_files_at_a_level >= 3,
        "compaction output rolled into {most_files_at_a_level} files"
    );
}

/// A compaction streams its inputs batch by batch and rolls its output as it goes: buckets of
/// many batches (more keys than a decoded batch holds, keys of each checkpoint interleaving
/// with the others'), an output that rolls mid-batch, and a full compaction that drops
/// deletes, all read back as the model.
#[tokio::test(flavor = "current_thread")]
async fn compaction_of_buckets_larger_than_a_batch_reads_the_model() {
    let mut schema = schema(3, false);
    schema.options.target_file_size_bytes = 300 * 1024;
    let table = open(MemStore::new(), schema).await;
    let mut w = writer(&table).await;
    let mut model = BTreeMap::new();
    for i in 0..5i64 {
        let keys: Vec<i64> = (0..40_000).map(|k| k * 3 + i % 3).collect();
        write(&mut w, &mut model, &keys, i);
        checkpoint(&table, &mut w, i + 1).await.unwrap();
        assert_eq!(read_latest(&table).await, model, "after checkpoint {i}");
    }
    let compacted: Vec<DataFileMeta> = latest_files(&table)
        .await
        .into_iter()
        .filter(|f| f.level > 0)
        .collect();
    assert!(
        compacted.len() >= 2 && compacted.iter().any(|f| f.row_count > 16 * 1024),
        "compaction wrote {} files of {:?} rows",
        compacted.len(),
        compacted.iter().map(|f| f.row_count).collect::<Vec<_>>()
    );
    let full = w.compact_full(&table, "full", 100).await.unwrap().unwrap();
    let rows: u64 = full.compact_after.iter().map(|f| f.row_count).sum();
    assert_eq!(
        rows,
        model.len() as u64,
        "a full compaction keeps live rows only"
    );
    let message = table
        .commit("w", 100, vec![full], None, 100, "full")
        .await
        .unwrap();
    assert!(
        matches!(message, CommitOutcome::Committed { .. }),
        "{message:?}"
    );
    assert_eq!(read_latest(&table).await, model);
}

/// A compaction input whose keys do not ascend (a file no writer of this store wrote, or one
/// tampered with) fails the compaction as corrupt, naming the file, and publishes nothing.
#[tokio::test(flavor = "current_thread")]
async fn compaction_input_out_of_key_order_is_corrupt() {
    let table = open(MemStore::new(), schema(10, false)).await;
    let mut w = writer(&table).await;
    let mut model = BTreeMap::new();
    for i in 0..2i64 {
        write(&mut w, &mut model, &[1 + i, 2 + i, 5 + i], i);
        checkpoint(&table, &mut w, i + 1).await.unwrap();
    }
    let victim = latest_files(&table).await.remove(0);
    let path = table.bucket_file_path(&[], 0, &victim.file_name);
    let reversed = [
        format::RecordRef {
            key: &[victim.max_key[0]],
            sequence_number: victim.max_sequence_number,
            kind: RowKind::Insert,
            row: &[victim.max_key[0], 0, 1],
        },
        format::RecordRef {
            key: &[victim.min_key[0]],
            sequence_number: victim.min_sequence_number,
            kind: RowKind::Insert,
            row: &[victim.min_key[0], 0, 1],
        },
    ];
    let pk = table.schema().primary_key_indices().unwrap();
    let bytes = format::encode(table.schema(), &pk, &reversed[..], &path).unwrap();
    let files = latest_files(&table).await;
    let mut tampered: Vec<DataFileMeta> = files.clone();
    tampered[0].row_count = 2;
    table.store().put(&path, bytes).await.unwrap();
    let error = compact_bucket_full(&table, table.schema(), &[], 0, &tampered, "c", 3)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TableError::Corrupt { .. })
            && error.to_string().contains(&victim.file_name)
            && error.to_string().contains("strictly ascend"),
        "{error}"
    );
}

/// A store whose writes of compaction output fail while `failing` is set.
#[derive(Clone)]
struct FailingCompactionStore {
    inner: MemStore,
    failing: Rc<Cell<bool>>,
}

impl ObjectStore for FailingCompactionStore {
    async fn put(&self, path: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        if self.failing.get() && path.contains("-compact-") {
            return Err(StoreError::Unavailable(format!("{path}: injected")));
        }
        self.inner.put(path, bytes).await
    }
    async fn put_if_absent(&self, path: &str, bytes: Vec<u8>) -> Result<bool, StoreError> {
        self.inner.put_if_absent(path, bytes).await
    }
    async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(path).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        self.inner.delete(path).await
    }
}

/// Below the stop trigger a failed compaction is skipped; at it the flush stalls: a failed
/// compaction fails the flush (keeping the pending writes), a working one compacts before the
/// flush returns and reports the stall.
#[tokio::test(flavor = "current_thread")]
async fn inline_writer_stalls_at_the_stop_trigger() {
    let failing = Rc::new(Cell::new(true));
    let store = FailingCompactionStore {
        inner: MemStore::new(),
        failing: failing.clone(),
    };
    let table = open(store, schema(2, false)).await;
    let stop_trigger = table.schema().options.stop_trigger();
    assert_eq!(stop_trigger, 5, "Paimon's default: trigger + 3");
    let mut w = writer(&table).await;
    let mut model = BTreeMap::new();
    for i in 0..stop_trigger as i64 {
        write(&mut w, &mut model, &[i, 100 + i], i);
        checkpoint(&table, &mut w, i + 1).await.unwrap();
        assert_eq!(
            w.sorted_run_count(),
            i as usize + 1,
            "compaction keeps failing"
        );
        assert_eq!(w.last_stall(), None);
    }
    let next = stop_trigger as i64 + 1;
    write(&mut w, &mut model, &[7, 8, 9], next);
    let error = w.prepare_commit(&table, "stalled", next).await.unwrap_err();
    assert!(matches!(error, TableError::Store(_)), "{error}");
    assert_eq!(
        w.pending_records(),
        3,
        "a failed stall keeps the pending writes"
    );
    failing.set(false);
    checkpoint(&table, &mut w, next).await.unwrap();
    let stall = w.last_stall().expect("the flush stalled").clone();
    assert_eq!(stall.runs_before, stop_trigger + 1);
    assert!(stall.runs_after <= stop_trigger, "{stall:?}");
    assert!(stall.io_bytes > 0);
    assert!(w.sorted_run_count() <= stop_trigger);
    assert_eq!(read_latest(&table).await, model);
    let live = latest_files(&table).await;
    assert_eq!(live.len(), w.files().len());
}

fn compaction_message(bucket: u32, result: CompactionResult) -> CommitMessage {
    CommitMessage {
        partition: Vec::new(),
        bucket,
        new_files: Vec::new(),
        changelog_files: Vec::new(),
        compact_before: result.before,
        compact_after: result.after,
        compact_changelog_files: result.changelog,
    }
}

/// Two compactors plan from the same snapshot: the first commit wins, the second is rejected
/// as a conflict and writes no snapshot; planning again from the latest snapshot succeeds.
/// A writer's appends committed between planning and commit never conflict.
#[tokio::test(flavor = "current_thread")]
async fn second_of_two_concurrent_compactions_is_rejected() {
    let table = open(MemStore::new(), schema(3, true)).await;
    let mut w = writer(&table).await;
    let mut model = BTreeMap::new();
    for i in 0..5i64 {
        write(&mut w, &mut model, &[i, 10 + i, 20 + (i % 2)], i);
        checkpoint(&table, &mut w, i + 1).await.unwrap();
    }
    let files = latest_files(&table).await;
    let plan = |prefix: &'static str| {
        let (table, files) = (table.clone(), files.clone());
        async move {
            compact_bucket(&table, table.schema(), &[], 0, &files, prefix, 9)
                .await
                .unwrap()
                .expect("5 runs reach the trigger of 3")
        }
    };
    let first = plan("a").await;
    let second = plan("b").await;
    // The writer keeps appending meanwhile: appends never conflict with compaction.
    write(&mut w, &mut model, &[1, 99], 50);
    checkpoint(&table, &mut w, 6).await.unwrap();
    let outcome = table
        .commit_compaction(
            "compactor-a",
            1,
            vec![compaction_message(0, first)],
            10,
            "a",
        )
        .await
        .unwrap();
    assert!(matches!(outcome, CommitOutcome::Committed { .. }));
    let before = table.latest_snapshot().await.unwrap().unwrap().id;
    let error = table
        .commit_compaction(
            "compactor-b",
            1,
            vec![compaction_message(0, second)],
            10,
            "b",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TableError::CompactionConflict { bucket: 0, reason } if reason.contains("no longer live")),
        "{error}"
    );
    assert_eq!(table.latest_snapshot().await.unwrap().unwrap().id, before);
    assert_eq!(read_latest(&table).await, model);
    // The loser re-reads and compacts what is left.
    let files = latest_files(&table).await;
    if let Some(again) = compact_bucket(&table, table.schema(), &[], 0, &files, "b2", 11)
        .await
        .unwrap()
    {
        table
            .commit_compaction(
                "compactor-b",
                2,
                vec![compaction_message(0, again)],
                11,
                "b2",
            )
            .await
            .unwrap();
    }
    assert_eq!(read_latest(&table).await, model);
    // A retried commit of an identifier already committed is recognised, not applied twice.
    let retried = table
        .commit_compaction("compactor-a", 1, Vec::new(), 12, "a-retry")
        .await
        .unwrap();
    assert!(matches!(retried, CommitOutcome::AlreadyCommitted { .. }));
}

/// An output overlapping a live file of its level (written by a concurrent compaction of
/// other inputs) is a conflict too: a level above 0 must stay one sorted run.
#[tokio::test(flavor = "current_thread")]
async fn output_overlapping_a_live_file_of_its_level_is_rejected() {
    let table = open(MemStore::new(), schema(2, true)).await;
    let mut w = writer(&table).await;
    let mut model = BTreeMap::new();
    for i in 0..2i64 {
        write(&mut w, &mut model, &[1, 2, 3], i);
        checkpoint(&table, &mut w, i + 1).await.unwrap();
    }
    let files = latest_files(&table).await;
    let first = compact_bucket(&table, table.schema(), &[], 0, &files, "a", 5)
        .await
        .unwrap()
        .unwrap();
    let level = first.after[0].level;
    table
        .commit_compaction("a", 1, vec![compaction_message(0, first)], 5, "a")
        .await
        .unwrap();
    // A second compactor compacted only the newer files into the same level.
    for i in 2..4i64 {
        write(&mut w, &mut model, &[2, 3, 4], i);
        checkpoint(&table, &mut w, i + 1).await.unwrap();
    }
    let newer: Vec<DataFileMeta> = latest_files(&table)
        .await
        .into_iter()
        .filter(|f| f.level == 0)
        .collect();
    let mut second = compact_bucket(&table, table.schema(), &[], 0, &newer, "b", 6)
        .await
        .unwrap()
        .unwrap();
    for file in &mut second.after {
        file.level = level;
    }
    let error = table
        .commit_compaction("b", 1, vec![compaction_message(0, second)], 6, "b")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TableError::CompactionConflict { reason, .. } if reason.contains("overlaps")),
        "{error}"
    );
    assert_eq!(read_latest(&table).await, model);
}

/// Compactor against an inline writer, both orders. The compactor loses to the writer's
/// compaction with a conflict; when the compactor wins, the writer's COMPACT snapshot is
/// rejected after its APPEND landed, and the restarted writer's re-commit of the checkpoint is
/// filtered (Paimon drops the compaction; its files are orphans). No order loses a row.
#[tokio::test(flavor = "current_thread")]
async fn compactor_against_inline_writer_never_loses_rows() {
    // Writer first.
    let table = open(MemStore::new(), schema(3, false)).await;
    let mut w = writer(&table).await;
    let mut model = BTreeMap::new();
    for i in 0..2i64 {
        write(&mut w, &mut model, &[i, 5], i);
        checkpoint(&table, &mut w, i + 1).await.unwrap();
    }
    // The compactor (trigger 2) plans over the two committed files...
    let files = latest_files(&table).await;
    let mut eager = table.schema().clone();
    eager.options.compaction_trigger = 2;
    let planned = compact_bucket(&table, &eager, &[], 0, &files, "late", 9)
        .await
        .unwrap()
        .expect("two runs reach the compactor's trigger");
    // ...but the writer's inline compaction of its next checkpoint commits first.
    write(&mut w, &mut model, &[5, 6], 2);
    let outcome = checkpoint(&table, &mut w, 3).await.unwrap();
    assert!(matches!(
        outcome,
        CommitOutcome::Committed {
            compact_snapshot_id: Some(_),
            ..
        }
    ));
    let error = table
        .commit_compaction(
            "compactor",
            1,
            vec![compaction_message(0, planned)],
            9,
            "late",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, TableError::CompactionConflict { .. }),
        "{error}"
    );
    assert_eq!(read_latest(&table).await, model);

    // Compactor first.
    let table = open(MemStore::new(), schema(3, false)).await;
    let mut w = writer(&table).await;
    let mut model = BTreeMap::new();
    for i in 0..2i64 {
        write(&mut w, &mut model, &[i, 5], i);
        checkpoint(&table, &mut w, i + 1).await.unwrap();
    }
    write(&mut w, &mut model, &[5, 6], 2);
    // The writer flushes (and compacts inline) at the barrier...
    let message = w.prepare_commit(&table, "w3", 3).await.unwrap().unwrap();
    assert!(message.has_compaction());
    // ...while the compactor compacts the two committed files and commits first.
    let committed = latest_files(&table).await;
    let planned = compact_bucket(&table, &eager, &[], 0, &committed, "c", 9)
        .await
        .unwrap()
        .unwrap();
    table
        .commit_compaction("compactor", 1, vec![compaction_message(0, planned)], 9, "c")
        .await
        .unwrap();
    let error = table
        .commit("w", 3, vec![message.clone()], None, 3, "w3")
        .await
        .unwrap_err();
    assert!(
        matches!(error, TableError::CompactionConflict { .. }),
        "{error}"
    );
    // The job fails over: the re-commit finds the APPEND and drops the compaction.
    let again = table
        .commit("w", 3, vec![message], None, 3, "w3-restore")
        .await
        .unwrap();
    assert!(matches!(again, CommitOutcome::AlreadyCommitted { .. }));
    assert_eq!(read_latest(&table).await, model);
    let restarted = writer(&table).await;
    assert_eq!(restarted.len(), model.len());
    let latest = table.latest_snapshot().await.unwrap().unwrap();
    let live = table.data_files(&latest).await.unwrap();
    assert_eq!(restarted.files().len(), live.len());
}
