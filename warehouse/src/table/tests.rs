//! Tests of the table store against a `BTreeMap` model: round trips, time travel, lookup
//! changelog, exactly-once commit filtering, commit races, corruption and expired snapshots.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::format::{self, RecordRef};
use super::test_support::writers_at_latest;
use super::*;
use crate::env::{MemStore, ObjectStore, StoreError};
use crate::row::{Field, FieldType, Row, RowKind};

const ROOT: &str = "warehouse/t.db/t";

fn schema(bucket: u32, changelog_producer: ChangelogProducer, merge_min: usize) -> TableSchema {
    TableSchema {
        fields: vec![
            Field::bigint("k"),
            Field::enumeration("kind", &["a", "b", "c"]),
            Field::bigint("v"),
        ],
        partition_keys: Vec::new(),
        primary_keys: vec!["k".into()],
        options: TableOptions {
            bucket,
            changelog_producer,
            manifest_merge_min_count: merge_min,
            ..TableOptions::default()
        },
    }
}

async fn open<S: ObjectStore>(store: S, schema: TableSchema) -> FileStoreTable<S> {
    FileStoreTable::create_or_open(store, ROOT, schema, 0)
        .await
        .unwrap()
}

async fn writers<S: ObjectStore>(table: &FileStoreTable<S>) -> Vec<BucketWriter> {
    writers_at_latest(table, HeldRows::All).await
}

/// Applies `ops` (key, Some(value) upsert | None delete) to writers and the model.
fn apply(
    table: &FileStoreTable<impl ObjectStore>,
    writers: &mut [BucketWriter],
    model: &mut BTreeMap<Key, Row>,
    ops: &[(i64, Option<i64>)],
) {
    for &(k, value) in ops {
        let bucket = table.bucket_of_key(&[k]) as usize;
        match value {
            Some(v) => {
                let row = vec![k, v % 3, v];
                writers[bucket].write(RowKind::Insert, row.clone()).unwrap();
                model.insert(vec![k], row);
            }
            None => {
                writers[bucket]
                    .write(RowKind::Delete, vec![k, 0, 0])
                    .unwrap();
                model.remove(&vec![k]);
            }
        }
    }
}

async fn prepare_all<S: ObjectStore>(
    table: &FileStoreTable<S>,
    writers: &mut [BucketWriter],
    prefix: &str,
) -> Vec<CommitMessage> {
    let mut messages = Vec::new();
    for writer in writers.iter_mut() {
        if let Some(m) = writer.prepare_commit(table, prefix, 7).await.unwrap() {
            messages.push(m);
        }
    }
    messages
}

async fn commit(
    table: &FileStoreTable<impl ObjectStore>,
    user: &str,
    identifier: i64,
    messages: Vec<CommitMessage>,
    prefix: &str,
) -> CommitOutcome {
    table
        .commit(
            user,
            identifier,
            messages,
            Some(identifier * 10),
            1000 + identifier,
            prefix,
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn round_trip_with_updates_deletes_and_time_travel() {
    let store = MemStore::new();
    let table = open(store.clone(), schema(3, ChangelogProducer::None, 2)).await;
    let mut ws = writers(&table).await;
    let mut model = BTreeMap::new();
    let batches: Vec<Vec<(i64, Option<i64>)>> = vec![
        (0..20).map(|k| (k, Some(k * 10))).collect(),
        vec![
            (1, Some(11)),
            (2, None),
            (3, Some(31)),
            (3, Some(32)),
            (25, Some(1)),
        ],
        vec![(4, None), (4, Some(44)), (5, None), (100, None)],
        vec![(1, None), (1, Some(111)), (6, Some(66))],
    ];
    let mut models = Vec::new();
    for (i, batch) in batches.iter().enumerate() {
        apply(&table, &mut ws, &mut model, batch);
        let messages = prepare_all(&table, &mut ws, &format!("w{i}")).await;
        let outcome = commit(&table, "u", i as i64 + 1, messages, &format!("c{i}")).await;
        assert_eq!(
            outcome,
            CommitOutcome::Committed {
                snapshot_id: i as i64 + 1,
                compact_snapshot_id: None
            }
        );
        models.push(model.clone());
    }
    let latest = table.latest_snapshot().await.unwrap().unwrap();
    assert_eq!(latest.id, 4);
    assert_eq!(latest.watermark, Some(40));
    assert_eq!(table.read_all(&latest).await.unwrap(), model);
    for (i, expected) in models.iter().enumerate() {
        let snapshot = table.snapshot(i as i64 + 1).await.unwrap().unwrap();
        assert_eq!(
            &table.read_all(&snapshot).await.unwrap(),
            expected,
            "snapshot {}",
            i + 1
        );
    }
    // A reopened writer continues from the stored state.
    let reopened = open(store.clone(), schema(3, ChangelogProducer::None, 2)).await;
    let fresh = writers(&reopened).await;
    for (bucket, w) in fresh.iter().enumerate() {
        assert_eq!(w.len(), ws[bucket].len());
    }
    assert_eq!(table.earliest_snapshot_id().await.unwrap(), Some(1));
    let files = table.data_files(&latest).await.unwrap();
    assert!(
        files
            .windows(2)
            .all(|w| (w[0].bucket, w[0].file.level, &w[0].file.file_name)
                <= (w[1].bucket, w[1].file.level, &w[1].file.file_name))
    );
    // Snapshot JSON uses Paimon's names.
    let json =
        String::from_utf8(store.objects()[&format!("{ROOT}/snapshot/snapshot-4")].clone()).unwrap();
    for name in [
        "\"baseManifestList\"",
        "\"commitKind\": \"APPEND\"",
        "\"commitIdentifier\": 4",
    ] {
        assert!(json.contains(name), "{name} missing in {json}");
    }
    assert_eq!(
        store.objects()[&format!("{ROOT}/snapshot/LATEST")],
        b"4".to_vec()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn lookup_changelog_is_exact() {
    let table = open(MemStore::new(), schema(1, ChangelogProducer::Lookup, 30)).await;
    let mut ws = writers(&table).await;
    let mut model = BTreeMap::new();
    apply(
        &table,
        &mut ws,
        &mut model,
        &[(1, Some(1)), (2, Some(2)), (3, Some(3))],
    );
    let m = prepare_all(&table, &mut ws, "p0").await;
    commit(&table, "u", 1, m, "c0").await;
    let s1 = table.snapshot(1).await.unwrap().unwrap();
    assert_eq!(
        table.read_changelog(&s1).await.unwrap(),
        vec![
            (RowKind::Insert, vec![1, 1, 1]),
            (RowKind::Insert, vec![2, 2, 2]),
            (RowKind::Insert, vec![3, 0, 3])
        ]
    );
    assert_eq!(s1.changelog_record_count, Some(3));

    let ops = [
        (1, Some(4)),
        (1, Some(5)), // two updates: one -U/+U pair against the old value
        (2, Some(2)), // identical rewrite: no changelog
        (3, None),
        (4, Some(4)),
        (5, Some(5)),
        (5, None), // absent -> absent: nothing
    ];
    apply(&table, &mut ws, &mut model, &ops);
    let m = prepare_all(&table, &mut ws, "p1").await;
    assert_eq!(m[0].new_files[0].row_count, 5);
    assert!(ws[0].last_written_bytes() > 0);
    commit(&table, "u", 2, m, "c1").await;
    let s2 = table.snapshot(2).await.unwrap().unwrap();
    let expected = vec![
        (RowKind::UpdateBefore, vec![1, 1, 1]),
        (RowKind::UpdateAfter, vec![1, 2, 5]),
        (RowKind::Delete, vec![3, 0, 3]),
        (RowKind::Insert, vec![4, 1, 4]),
    ];
    assert_eq!(table.read_changelog(&s2).await.unwrap(), expected);

    // A batch whose only writes are identical produces data but no changelog file.
    apply(&table, &mut ws, &mut model, &[(2, Some(2))]);
    let m = prepare_all(&table, &mut ws, "p2").await;
    assert!(m[0].changelog_files.is_empty());
    commit(&table, "u", 3, m, "c2").await;
    let s3 = table.snapshot(3).await.unwrap().unwrap();
    assert_eq!(s3.changelog_manifest_list, None);
    assert!(table.read_changelog(&s3).await.unwrap().is_empty());
    assert_eq!(table.read_all(&s3).await.unwrap(), model);

    // Nothing pending: no files.
    assert_eq!(ws[0].prepare_commit(&table, "p3", 0).await.unwrap(), None);
}

#[tokio::test(flavor = "current_thread")]
async fn recommit_after_crash_is_filtered() {
    let table = open(MemStore::new(), schema(2, ChangelogProducer::None, 30)).await;
    let mut ws = writers(&table).await;
    let mut model = BTreeMap::new();
    apply(
        &table,
        &mut ws,
        &mut model,
        &[(1, Some(1)), (2, Some(2)), (3, Some(3))],
    );
    let messages = prepare_all(&table, &mut ws, "attempt0").await;
    // Checkpoint state survives as JSON; the writer dies before the commit.
    let state = serde_json::to_string(&messages).unwrap();
    drop(ws);
    let restored: Vec<CommitMessage> = serde_json::from_str(&state).unwrap();
    let first = commit(&table, "job", 5, restored.clone(), "attempt1").await;
    assert_eq!(
        first,
        CommitOutcome::Committed {
            snapshot_id: 1,
            compact_snapshot_id: None
        }
    );
    let again = commit(&table, "job", 5, restored.clone(), "attempt2").await;
    assert_eq!(again, CommitOutcome::AlreadyCommitted { snapshot_id: 1 });
    let older = commit(&table, "job", 4, Vec::new(), "attempt2").await;
    assert_eq!(older, CommitOutcome::AlreadyCommitted { snapshot_id: 1 });
    // Another user's commit in between does not hide ours.
    let other = commit(&table, "other", 1, Vec::new(), "o").await;
    assert_eq!(
        other,
        CommitOutcome::Committed {
            snapshot_id: 2,
            compact_snapshot_id: None
        }
    );
    let again = commit(&table, "job", 5, restored, "attempt3").await;
    assert_eq!(again, CommitOutcome::AlreadyCommitted { snapshot_id: 1 });

    let latest = table.latest_snapshot().await.unwrap().unwrap();
    assert_eq!(latest.id, 2);
    assert_eq!(latest.total_record_count, 3);
    assert_eq!(
        table.data_files(&latest).await.unwrap().len(),
        messages.len()
    );
    assert_eq!(table.read_all(&latest).await.unwrap(), model);
    let mine = table.latest_snapshot_of_user("job").await.unwrap().unwrap();
    assert_eq!((mine.id, mine.commit_identifier), (1, 5));
    assert_eq!(table.latest_snapshot_of_user("nobody").await.unwrap(), None);
}

/// A store that yields to the scheduler before every operation, so joined commits interleave.
#[derive(Clone)]
struct YieldingStore(MemStore, std::rc::Rc<std::cell::Cell<u32>>);

impl ObjectStore for YieldingStore {
    async fn put(&self, path: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.0.put(path, bytes).await
    }
    async fn put_if_absent(&self, path: &str, bytes: Vec<u8>) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        let created = self.0.put_if_absent(path, bytes).await?;
        if !created && path.contains("/snapshot/snapshot-") {
            self.1.set(self.1.get() + 1);
        }
        Ok(created)
    }
    async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        tokio::task::yield_now().await;
        self.0.get(path).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        tokio::task::yield_now().await;
        self.0.list(prefix).await
    }
    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.0.delete(path).await
    }
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_commits_both_land() {
    let store = YieldingStore(MemStore::new(), Default::default());
    let a = open(store.clone(), schema(1, ChangelogProducer::None, 30)).await;
    let b = open(store.clone(), schema(1, ChangelogProducer::None, 30)).await;
    let mut wa = writers(&a).await;
    let mut wb = writers(&b).await;
    let mut model = BTreeMap::new();
    apply(&a, &mut wa, &mut model, &[(1, Some(1))]);
    apply(&b, &mut wb, &mut model, &[(2, Some(2))]);
    let ma = prepare_all(&a, &mut wa, "a").await;
    let mb = prepare_all(&b, &mut wb, "b").await;
    let (ra, rb) = tokio::join!(commit(&a, "ua", 1, ma, "ca"), commit(&b, "ub", 1, mb, "cb"));
    let ids = match (ra, rb) {
        (
            CommitOutcome::Committed { snapshot_id: x, .. },
            CommitOutcome::Committed { snapshot_id: y, .. },
        ) => (x.min(y), x.max(y)),
        other => panic!("both must commit: {other:?}"),
    };
    assert_eq!(ids, (1, 2));
    assert_eq!(
        store.1.get(),
        1,
        "the commits must have raced for snapshot-1"
    );
    let latest = a.latest_snapshot().await.unwrap().unwrap();
    assert_eq!(latest.id, 2);
    assert_eq!(latest.total_record_count, 2);
    assert_eq!(a.read_all(&latest).await.unwrap(), model);
    // The loser's abandoned base manifest list was cleaned up: every manifest file is referenced.
    let snapshots = [a.snapshot(1).await.unwrap().unwrap(), latest];
    let referenced: Vec<&str> = snapshots
        .iter()
        .flat_map(|s| {
            [
                s.base_manifest_list.as_str(),
                s.delta_manifest_list.as_str(),
            ]
        })
        .collect();
    let lists: Vec<String> = store
        .0
        .objects()
        .keys()
        .filter(|p| p.contains("/manifest/manifest-list-"))
        .cloned()
        .collect();
    for list in &lists {
        assert!(
            referenced.iter().any(|r| list.ends_with(r)),
            "orphan {list}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn corrupt_files_are_reported_by_path() {
    let store = MemStore::new();
    let table = open(store.clone(), schema(1, ChangelogProducer::None, 30)).await;
    let mut ws = writers(&table).await;
    let mut model = BTreeMap::new();
    apply(&table, &mut ws, &mut model, &[(1, Some(1)), (2, Some(2))]);
    let m = prepare_all(&table, &mut ws, "p").await;
    let data_path = table.bucket_file_path(&[], 0, &m[0].new_files[0].file_name);
    commit(&table, "u", 1, m, "c").await;
    let snapshot = table.latest_snapshot().await.unwrap().unwrap();
    let good = store.objects()[&data_path].clone();

    let expect_corrupt = |result: Result<_, TableError>, wanted: &str| match result {
        Err(TableError::Corrupt { path, .. }) => assert_eq!(path, wanted),
        Err(other) => panic!("expected Corrupt at {wanted}, got {other}"),
        Ok(_) => panic!("expected Corrupt at {wanted}, got Ok"),
    };

    // Garbage and truncated parquet.
    for bytes in [b"not parquet".to_vec(), good[..good.len() / 2].to_vec()] {
        store.put(&data_path, bytes).await.unwrap();
        expect_corrupt(table.read_all(&snapshot).await.map(|_| ()), &data_path);
    }

    // A well-formed file holding an enum symbol the schema does not know.
    let mut wider = schema(1, ChangelogProducer::None, 30);
    wider.fields[1] = Field::enumeration("kind", &["a", "b", "c", "zzz"]);
    let records = [
        RecordRef {
            key: &[1],
            sequence_number: 0,
            kind: RowKind::Insert,
            row: &[1, 3, 1],
        },
        RecordRef {
            key: &[2],
            sequence_number: 1,
            kind: RowKind::Insert,
            row: &[2, 0, 2],
        },
    ];
    let bytes = format::encode(&wider, &[0], &records, &data_path).unwrap();
    store.put(&data_path, bytes).await.unwrap();
    expect_corrupt(table.read_all(&snapshot).await.map(|_| ()), &data_path);
    store.put(&data_path, good).await.unwrap();
    assert_eq!(table.read_all(&snapshot).await.unwrap(), model);

    // Garbage snapshot and manifest list.
    let snapshot_path = table.snapshot_path(1);
    let good_snapshot = store.objects()[&snapshot_path].clone();
    store.put(&snapshot_path, b"{ nope".to_vec()).await.unwrap();
    expect_corrupt(table.latest_snapshot().await.map(|_| ()), &snapshot_path);
    store.put(&snapshot_path, good_snapshot).await.unwrap();
    let list_path = table.manifest_path(&snapshot.delta_manifest_list);
    store
        .put(&list_path, b"[{\"x\":1}]".to_vec())
        .await
        .unwrap();
    expect_corrupt(table.data_files(&snapshot).await.map(|_| ()), &list_path);

    // Reopening with a different schema is refused.
    let mut other = schema(1, ChangelogProducer::None, 30);
    other.primary_keys = vec!["v".into()];
    match FileStoreTable::create_or_open(store.clone(), ROOT, other, 0).await {
        Err(TableError::SchemaMismatch { path, .. }) => {
            assert_eq!(path, format!("{ROOT}/schema/schema-0"))
        }
        _ => panic!("expected SchemaMismatch"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn streaming_reader_follows_and_detects_expiry() {
    let store = MemStore::new();
    let table = open(store.clone(), schema(2, ChangelogProducer::Lookup, 30)).await;
    let mut ws = writers(&table).await;
    let mut model = BTreeMap::new();
    let reader = StreamingReader::new(table.clone(), 1);
    assert!(reader.poll().await.unwrap().is_none());
    for i in 0..3 {
        apply(&table, &mut ws, &mut model, &[(i, Some(i))]);
        let m = prepare_all(&table, &mut ws, &format!("p{i}")).await;
        commit(&table, "u", i + 1, m, &format!("c{i}")).await;
    }
    commit(&table, "u", 4, Vec::new(), "c3").await; // a snapshot without changelog
    for i in 0..3 {
        let (snapshot, records) = reader.poll().await.unwrap().unwrap();
        assert_eq!(snapshot.id, i + 1);
        assert_eq!(
            records.into_rows(),
            vec![(RowKind::Insert, vec![i, i % 3, i])]
        );
    }
    let (snapshot, records) = reader.poll().await.unwrap().unwrap();
    assert_eq!((snapshot.id, records.len()), (4, 0));
    assert!(reader.poll().await.unwrap().is_none());
    assert_eq!(reader.next_snapshot(), 5);

    table
        .write_consumer("dws", reader.next_snapshot())
        .await
        .unwrap();
    assert_eq!(table.read_consumer("dws").await.unwrap(), Some(5));
    assert_eq!(table.read_consumer("nobody").await.unwrap(), None);

    store.delete(&table.snapshot_path(1)).await.unwrap();
    store
        .put(&format!("{ROOT}/snapshot/EARLIEST"), b"2".to_vec())
        .await
        .unwrap();
    assert_eq!(table.earliest_snapshot_id().await.unwrap(), Some(2));
    let late = StreamingReader::new(table.clone(), 1);
    let err = late.poll().await.unwrap_err();
    assert_eq!(err, TableError::SnapshotExpired { id: 1 });
    assert!(
        err.to_string()
            .starts_with("The snapshot with id 1 has expired")
    );
    // Without the hint the listing gives the same answer.
    store
        .delete(&format!("{ROOT}/snapshot/EARLIEST"))
        .await
        .unwrap();
    assert_eq!(table.earliest_snapshot_id().await.unwrap(), Some(2));
    // A lagging LATEST hint is probed past.
    store
        .put(&format!("{ROOT}/snapshot/LATEST"), b"2".to_vec())
        .await
        .unwrap();
    assert_eq!(table.latest_snapshot().await.unwrap().unwrap().id, 4);
}

/// One step of the property test: a write, or a commit that may first restart the writers.
#[derive(Clone, Debug)]
enum Step {
    Write(i64, Option<i64>),
    Commit { restart: bool },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0i64..12, proptest::option::weighted(0.75, 0i64..5)).prop_map(|(k, v)| Step::Write(k, v)),
        1 => any::<bool>().prop_map(|restart| Step::Commit { restart }),
    ]
}

async fn run_steps(steps: Vec<Step>, buckets: u32, lookup: bool) {
    let producer = if lookup {
        ChangelogProducer::Lookup
    } else {
        ChangelogProducer::None
    };
    let table = open(MemStore::new(), schema(buckets, producer, 2)).await;
    let mut ws = writers(&table).await;
    let mut model = BTreeMap::new();
    let mut committed = BTreeMap::new(); // snapshot id -> model
    let mut changelog_model = BTreeMap::new(); // replaying the changelog must rebuild the table
    let mut identifier = 0;
    for step in steps.into_iter().chain([Step::Commit { restart: false }]) {
        match step {
            Step::Write(k, v) => apply(&table, &mut ws, &mut model, &[(k, v)]),
            Step::Commit { restart } => {
                identifier += 1;
                let prefix = format!("p{identifier}");
                let messages = prepare_all(&table, &mut ws, &prefix).await;
                let outcome = commit(&table, "u", identifier, messages, &prefix).await;
                let CommitOutcome::Committed {
                    snapshot_id,
                    compact_snapshot_id,
                } = outcome
                else {
                    panic!("unexpected {outcome:?}");
                };
                committed.insert(snapshot_id, model.clone());
                if let Some(compacted) = compact_snapshot_id {
                    committed.insert(compacted, model.clone());
                }
                if restart {
                    ws = writers(&table).await;
                }
            }
        }
    }
    for (&id, expected) in &committed {
        let snapshot = table.snapshot(id).await.unwrap().unwrap();
        assert_eq!(
            &table.read_all(&snapshot).await.unwrap(),
            expected,
            "snapshot {id}"
        );
        assert!(snapshot.total_record_count >= expected.len() as i64);
        if lookup {
            for (kind, row) in table.read_changelog(&snapshot).await.unwrap() {
                if kind.is_add() {
                    changelog_model.insert(vec![row[0]], row);
                } else {
                    assert_eq!(changelog_model.remove(&vec![row[0]]), Some(row));
                }
            }
            assert_eq!(&changelog_model, expected, "changelog replay at {id}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn read_all_matches_model_at_every_snapshot(
        steps in proptest::collection::vec(step(), 0..60),
        buckets in 1u32..4,
        lookup in any::<bool>(),
    ) {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(run_steps(steps, buckets, lookup));
    }
}

/// Universal compaction keeps a bucket's sorted runs at or below the trigger, publishes each
/// checkpoint's compaction as a COMPACT snapshot, and never changes what any snapshot reads;
/// a restarted writer continues from the compacted files; `write-only` writers never compact.
#[tokio::test(flavor = "current_thread")]
async fn universal_compaction_bounds_runs_and_preserves_every_snapshot() {
    for write_only in [false, true] {
        let mut schema = schema(1, ChangelogProducer::Lookup, 4);
        schema.options.compaction_trigger = 3;
        schema.options.write_only = write_only;
        let table = open(MemStore::new(), schema).await;
        let mut ws = writers(&table).await;
        let mut model = BTreeMap::new();
        let mut committed = BTreeMap::new();
        let mut compactions = 0;
        for i in 0..14i64 {
            // Updates, deletes and new keys, so merges must pick the newest record per key.
            let ops = [(i % 5, Some(i)), ((i + 2) % 7, None), (100 + i, Some(1))];
            apply(&table, &mut ws, &mut model, &ops);
            let messages = prepare_all(&table, &mut ws, &format!("w{i}")).await;
            let CommitOutcome::Committed {
                snapshot_id,
                compact_snapshot_id,
            } = commit(&table, "u", i + 1, messages, &format!("c{i}")).await
            else {
                panic!("checkpoint {i} not committed");
            };
            committed.insert(snapshot_id, model.clone());
            if let Some(id) = compact_snapshot_id {
                compactions += 1;
                committed.insert(id, model.clone());
                let snapshot = table.snapshot(id).await.unwrap().unwrap();
                assert_eq!(snapshot.commit_kind, CommitKind::Compact);
            }
            if !write_only {
                assert!(ws[0].sorted_run_count() <= 3, "runs after checkpoint {i}");
            }
            if i == 7 {
                ws = writers(&table).await; // restart mid-way: runs come back from the manifests
            }
        }
        for (id, expected) in &committed {
            let snapshot = table.snapshot(*id).await.unwrap().unwrap();
            assert_eq!(
                &table.read_all(&snapshot).await.unwrap(),
                expected,
                "snapshot {id}"
            );
        }
        let latest = table.latest_snapshot().await.unwrap().unwrap();
        let live = table.data_files(&latest).await.unwrap().len();
        if write_only {
            assert_eq!(compactions, 0);
            assert_eq!(live, 14, "write-only: one level-0 file per checkpoint");
        } else {
            assert!(compactions >= 3, "compacted {compactions} times");
            assert!(live <= 3, "{live} live files");
        }
    }
}

/// Metadata that disagrees with itself or with the files it describes is read from storage, so
/// it is a `Corrupt` error naming the file, never a panic: a data file whose keys fall outside
/// its manifest entry's range, a manifest that disagrees with its manifest list, a manifest that
/// deletes a file no earlier entry added (an entry inconsistent in itself: `avro_tests`).
#[tokio::test(flavor = "current_thread")]
async fn inconsistent_metadata_is_corrupt_not_a_panic() {
    let store = MemStore::new();
    let table = open(store.clone(), schema(1, ChangelogProducer::None, 30)).await;
    let mut ws = writers(&table).await;
    let mut model = BTreeMap::new();
    apply(&table, &mut ws, &mut model, &[(1, Some(1)), (2, Some(2))]);
    let m = prepare_all(&table, &mut ws, "p").await;
    let file = m[0].new_files[0].clone();
    let data_path = table.bucket_file_path(&[], 0, &file.file_name);
    commit(&table, "u", 1, m, "c").await;
    let snapshot = table.latest_snapshot().await.unwrap().unwrap();
    let expect_corrupt =
        |result: Result<_, TableError>, wanted: &str, reason_has: &str| match result {
            Err(TableError::Corrupt { path, reason }) => {
                assert_eq!(path, wanted);
                assert!(reason.contains(reason_has), "{reason}");
            }
            Err(other) => panic!("expected Corrupt at {wanted}, got {other}"),
            Ok(_) => panic!("expected Corrupt at {wanted}, got Ok"),
        };

    // Same row count and sequence numbers, keys outside the entry's [1, 2].
    let good = store.objects()[&data_path].clone();
    let shifted = [
        RecordRef {
            key: &[5],
            sequence_number: file.min_sequence_number,
            kind: RowKind::Insert,
            row: &[5, 0, 1],
        },
        RecordRef {
            key: &[6],
            sequence_number: file.max_sequence_number,
            kind: RowKind::Insert,
            row: &[6, 0, 2],
        },
    ];
    let bytes = format::encode(table.schema(), &[0], &shifted, &data_path).unwrap();
    store.put(&data_path, bytes).await.unwrap();
    expect_corrupt(
        table.read_all(&snapshot).await.map(|_| ()),
        &data_path,
        "outside the manifest",
    );
    store.put(&data_path, good).await.unwrap();
    assert_eq!(table.read_all(&snapshot).await.unwrap(), model);

    // The delta manifest rewritten: its list still says one added file.
    let list = table
        .manifest_list(&snapshot.delta_manifest_list)
        .await
        .unwrap();
    let manifest_path = table.manifest_path(&list[0].file_name);
    let entries = table.manifest_entries(&list[0].file_name).await.unwrap();
    let key_types = [&FieldType::BigInt];
    let mut gone = entries[0].clone();
    gone.kind = meta::FileKind::Delete;
    gone.file.file_name = "data-never-added.parquet".into();
    let with_delete = [entries[0].clone(), gone];
    let bytes = avro::encode_manifest(&with_delete, &key_types, 0, &manifest_path).unwrap();
    store.put(&manifest_path, bytes).await.unwrap();
    expect_corrupt(
        table.data_files(&snapshot).await.map(|_| ()),
        &manifest_path,
        "its manifest list says",
    );
    // ... and with a list that agrees, the DELETE of a file never added.
    let mut metas = list.clone();
    metas[0].num_deleted_files = 1;
    let list_path = table.manifest_path(&snapshot.delta_manifest_list);
    let bytes = avro::encode_manifest_list(&metas, 0, &list_path).unwrap();
    store.put(&list_path, bytes).await.unwrap();
    expect_corrupt(
        table.data_files(&snapshot).await.map(|_| ()),
        &manifest_path,
        "which is not live",
    );
}

#[test]
#[should_panic(expected = "data file keys must strictly ascend")]
fn a_data_file_out_of_key_order_is_a_bug() {
    let records = [
        RecordRef {
            key: &[2],
            sequence_number: 0,
            kind: RowKind::Insert,
            row: &[2, 0, 2],
        },
        RecordRef {
            key: &[1],
            sequence_number: 1,
            kind: RowKind::Insert,
            row: &[1, 0, 1],
        },
    ];
    format::file_meta(
        "data-x.parquet".into(),
        1,
        &records,
        0,
        format::FileContent::Data,
    );
}

#[test]
#[should_panic(expected = "strictly ascending key order")]
fn bucket_rows_out_of_key_order_are_a_bug() {
    let mut rows = BucketRows::new(1, 3);
    rows.push(&[2], &[2, 0, 2]);
    rows.push(&[2], &[2, 0, 3]);
}
