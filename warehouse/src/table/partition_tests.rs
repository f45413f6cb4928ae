//! Tests of partitioned tables against a model: Paimon's schema rules for partition keys, the
//! `<key>=<value>/bucket-<n>` layout, bucketing by the primary key without the partition keys,
//! one LSM tree per bucket of each partition (flushes and compactions stay in it), partition
//! expiration by an OVERWRITE snapshot, and orphan cleaning below partition directories.

use std::collections::BTreeMap;

use super::*;
use crate::env::{ManualClock, MemStore, ObjectStore};
use crate::row::{Field, Row, RowKind};

const ROOT: &str = "warehouse/t.db/hourly";
/// 2026-11-11 00:00 as a `yyyyMMddHH` partition value, and its start in ms.
const HOUR0: i64 = 2_026_111_100;
const HOUR0_MS: i64 = 1_794_355_200_000;
const HOUR_MS: i64 = 3_600_000;

fn schema(expiration_ms: Option<i64>) -> TableSchema {
    TableSchema {
        fields: vec![Field::bigint("hh"), Field::bigint("k"), Field::bigint("v")],
        partition_keys: vec!["hh".into()],
        primary_keys: vec!["hh".into(), "k".into()],
        options: TableOptions {
            bucket: 2,
            changelog_producer: ChangelogProducer::Lookup,
            compaction_trigger: 3,
            manifest_merge_min_count: 3,
            lifecycle: LifecycleOptions {
                partition_expiration_time_ms: expiration_ms,
                partition_timestamp_formatter: Some(PartitionTimeFormat::Hour),
                snapshot_num_retained_min: 1,
                snapshot_time_retained_ms: 1,
                ..LifecycleOptions::default()
            },
            ..TableOptions::default()
        },
    }
}

/// A partitioned table with one writer per (partition, bucket), created as rows arrive.
struct Fixture {
    store: MemStore,
    table: FileStoreTable<MemStore>,
    writers: BTreeMap<(Vec<i64>, u32), BucketWriter>,
    model: BTreeMap<Key, Row>,
    identifier: i64,
}

impl Fixture {
    async fn new(expiration_ms: Option<i64>) -> Self {
        let clock = ManualClock::default();
        clock.0.set(HOUR0_MS);
        let store = MemStore::with_clock(clock);
        let table = FileStoreTable::create_or_open(store.clone(), ROOT, schema(expiration_ms), 0)
            .await
            .unwrap();
        Self {
            store,
            table,
            writers: BTreeMap::new(),
            model: BTreeMap::new(),
            identifier: 0,
        }
    }

    async fn write(&mut self, hour: i64, key: i64, value: i64) {
        let row = vec![hour, key, value];
        let pk = self.table.key_of(&row);
        let tree = (
            self.table.partition_of_key(&pk),
            self.table.bucket_of_key(&pk),
        );
        if !self.writers.contains_key(&tree) {
            let latest = self.table.latest_snapshot().await.unwrap();
            let state = self
                .table
                .read_bucket(latest.as_ref(), &tree.0, tree.1)
                .await
                .unwrap();
            let writer = BucketWriter::of_partition(
                self.table.schema(),
                tree.0.clone(),
                tree.1,
                state,
                HeldRows::All,
            );
            self.writers.insert(tree.clone(), writer);
        }
        let writer = self.writers.get_mut(&tree).unwrap();
        writer.write(RowKind::Insert, row.clone()).unwrap();
        self.model.insert(pk, row);
    }

    async fn checkpoint(&mut self) -> CommitOutcome {
        self.identifier += 1;
        let prefix = format!("cp{}", self.identifier);
        let mut messages = Vec::new();
        for writer in self.writers.values_mut() {
            if let Some(message) = writer
                .prepare_commit(&self.table, &prefix, self.identifier)
                .await
                .unwrap()
            {
                messages.push(message);
            }
        }
        self.table
            .commit(
                "u",
                self.identifier,
                messages,
                None,
                self.identifier,
                &prefix,
            )
            .await
            .unwrap()
    }

    async fn read_latest(&self) -> BTreeMap<Key, Row> {
        let latest = self.table.latest_snapshot().await.unwrap().unwrap();
        self.table.read_all(&latest).await.unwrap()
    }
}

#[test]
fn partition_keys_follow_paimons_rules() {
    let with = |partition_keys: &[&str], primary_keys: &[&str]| TableSchema {
        fields: vec![
            Field::bigint("hh"),
            Field::bigint("k"),
            Field::enumeration("kind", &["a", "b"]),
        ],
        partition_keys: partition_keys.iter().map(|s| s.to_string()).collect(),
        primary_keys: primary_keys.iter().map(|s| s.to_string()).collect(),
        options: TableOptions::default(),
    };
    let rejected = |schema: TableSchema, why: &str| match schema.primary_key_indices() {
        Err(TableError::InvalidSchema(reason)) => assert!(reason.contains(why), "{reason}"),
        other => panic!("expected InvalidSchema ({why}), got {other:?}"),
    };
    assert!(with(&["hh"], &["hh", "k"]).primary_key_indices().is_ok());
    rejected(with(&["day"], &["hh", "k"]), "unknown partition key day");
    rejected(with(&["hh"], &["k"]), "must include partition key hh");
    rejected(with(&["hh"], &["hh"]), "besides the partition keys");
    rejected(with(&["kind"], &["kind", "k"]), "must be BIGINT");
    rejected(with(&["hh", "hh"], &["hh", "k"]), "duplicate partition key");
}

#[tokio::test]
async fn partitions_hold_their_own_trees_in_paimons_layout() {
    let mut f = Fixture::new(None).await;
    for round in 0..8 {
        for key in 0..20 {
            for hour in [HOUR0, HOUR0 + 1] {
                f.write(hour, key, round * 100 + key + hour % 10).await;
            }
        }
        f.checkpoint().await;
    }
    assert_eq!(f.read_latest().await, f.model);

    let latest = f.table.latest_snapshot().await.unwrap().unwrap();
    let files = f.table.data_files(&latest).await.unwrap();
    // A key's bucket depends on the bucket key only: the same key lands in the same bucket of
    // every hour.
    for key in 0..20 {
        assert_eq!(
            f.table.bucket_of_key(&[HOUR0, key]),
            f.table.bucket_of_key(&[HOUR0 + 1, key])
        );
    }
    // Every partition's bucket compacted in its own directory, and holds only its own keys.
    for hour in [HOUR0, HOUR0 + 1] {
        for bucket in 0..2 {
            let state = f
                .table
                .read_bucket(Some(&latest), &[hour], bucket)
                .await
                .unwrap();
            assert!(
                state.files.iter().any(|file| file.level > 0),
                "{hour} {bucket}"
            );
            assert!(!state.rows.is_empty());
            for (key, _) in state.rows.iter() {
                assert_eq!(key[0], hour);
                assert_eq!(f.table.bucket_of_key(&key), bucket);
            }
        }
    }
    let stored = f.store.objects();
    for entry in &files {
        let path = format!(
            "{ROOT}/hh={}/bucket-{}/{}",
            entry.partition[0], entry.bucket, entry.file.file_name
        );
        assert!(stored.contains_key(&path), "{path} is missing");
    }

    // The schema file records the partition keys; reopening reads the same table.
    let reopened = open_existing(f.store.clone(), ROOT).await.unwrap();
    assert_eq!(reopened.schema(), f.table.schema());
    assert_eq!(reopened.read_all(&latest).await.unwrap(), f.model);
}

#[tokio::test]
#[should_panic(expected = "which is not its own")]
async fn a_row_of_another_partition_is_a_writer_bug() {
    let f = Fixture::new(None).await;
    let mut writer = BucketWriter::of_partition(
        f.table.schema(),
        vec![HOUR0],
        0,
        BucketState::default(),
        HeldRows::All,
    );
    let _ = writer.write(RowKind::Insert, vec![HOUR0 + 1, 1, 1]);
}

#[tokio::test]
async fn expired_partitions_are_dropped_by_an_overwrite_then_their_files_deleted() {
    let mut f = Fixture::new(Some(2 * HOUR_MS)).await;
    for hour in [HOUR0, HOUR0 + 1, HOUR0 + 2] {
        for key in 0..10 {
            f.write(hour, key, key).await;
        }
    }
    f.checkpoint().await;
    // Paimon compares a partition's time (the start of its hour) plus the expiration time
    // with now: hour 0 expired half an hour ago, hour 1 expires in half an hour.
    let now = HOUR0_MS + 2 * HOUR_MS + HOUR_MS / 2;
    let report = f
        .table
        .expire_partitions("u", 100, now, "exp")
        .await
        .unwrap();
    assert_eq!(report.dropped, vec![vec![HOUR0]]);
    assert_eq!(report.files_deleted, 2, "one file in each bucket of hour 0");
    let latest = f.table.latest_snapshot().await.unwrap().unwrap();
    assert_eq!(Some(latest.id), report.snapshot_id);
    assert_eq!(latest.commit_kind, CommitKind::Overwrite);
    f.model.retain(|key, _| key[0] != HOUR0);
    assert_eq!(f.read_latest().await, f.model);
    // Nothing else expired; a second run finds nothing to drop.
    let again = f
        .table
        .expire_partitions("u", 101, now, "exp2")
        .await
        .unwrap();
    assert!(again.dropped.is_empty() && again.snapshot_id.is_none());

    // The dropped files stay while a snapshot references them, and go with it.
    let hour0_files = |f: &Fixture| {
        f.store
            .objects()
            .into_keys()
            .filter(|p| p.starts_with(&format!("{ROOT}/hh={HOUR0}/")))
            .count()
    };
    assert_eq!(
        hour0_files(&f),
        4,
        "a data and a changelog file in each bucket"
    );
    f.table.expire_snapshots(i64::MAX).await.unwrap();
    assert_eq!(hour0_files(&f), 0);
    assert_eq!(f.read_latest().await, f.model);
}

#[tokio::test]
async fn orphans_below_partition_directories_are_cleaned() {
    let mut f = Fixture::new(None).await;
    f.write(HOUR0, 1, 1).await;
    f.checkpoint().await;
    let orphan = format!("{ROOT}/hh={HOUR0}/bucket-0/data-lost-0.parquet");
    let elsewhere = format!("{ROOT}/hh={HOUR0}/notes.txt");
    f.store.put(&orphan, b"x".to_vec()).await.unwrap();
    f.store.put(&elsewhere, b"x".to_vec()).await.unwrap();
    let report = f.table.remove_orphan_files(i64::MAX).await.unwrap();
    assert_eq!(report.files_deleted, vec![orphan]);
    assert_eq!(f.read_latest().await, f.model);
}
