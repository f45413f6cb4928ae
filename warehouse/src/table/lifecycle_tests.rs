//! Tests of the table lifecycle against a model: snapshot expiration (retention by count and age,
//! the per-run limit), consumer protection and consumer expiration, automatic tags and their
//! retention, rollback to a tag, orphan cleaning, and a property test mixing them. Every test
//! checks that retained snapshots and tags still read as the model says and that no file is
//! left that nothing references.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::test_support::writers_at_latest;
use super::*;
use crate::env::{Clock, ManualClock, MemStore};
use crate::row::{Field, Row, RowKind};

const ROOT: &str = "warehouse/t.db/life";

fn schema(lifecycle: LifecycleOptions) -> TableSchema {
    TableSchema {
        fields: vec![
            Field::bigint("k"),
            Field::enumeration("kind", &["a", "b", "c"]),
            Field::bigint("v"),
        ],
        partition_keys: Vec::new(),
        primary_keys: vec!["k".into()],
        options: TableOptions {
            bucket: 2,
            changelog_producer: ChangelogProducer::Lookup,
            manifest_merge_min_count: 3,
            compaction_trigger: 3,
            lifecycle,
            ..TableOptions::default()
        },
    }
}

/// A table on a store whose objects age with `clock`, plus its writers and model.
struct Fixture {
    clock: ManualClock,
    store: MemStore,
    table: FileStoreTable<MemStore>,
    writers: Vec<BucketWriter>,
    model: BTreeMap<Key, Row>,
    identifier: i64,
    /// Model per committed snapshot id.
    committed: BTreeMap<i64, BTreeMap<Key, Row>>,
}

impl Fixture {
    async fn new(lifecycle: LifecycleOptions) -> Self {
        let clock = ManualClock::default();
        clock.0.set(1_000_000);
        let store = MemStore::with_clock(clock.clone());
        let table = FileStoreTable::create_or_open(store.clone(), ROOT, schema(lifecycle), 0)
            .await
            .unwrap();
        let mut fixture = Self {
            clock,
            store,
            table,
            writers: Vec::new(),
            model: BTreeMap::new(),
            identifier: 0,
            committed: BTreeMap::new(),
        };
        fixture.restart_writers().await;
        fixture
    }

    async fn restart_writers(&mut self) {
        self.writers = writers_at_latest(&self.table, HeldRows::All).await;
    }

    fn write(&mut self, key: i64, value: Option<i64>) {
        let bucket = self.table.bucket_of_key(&[key]) as usize;
        match value {
            Some(v) => {
                let row = vec![key, v.rem_euclid(3), v];
                self.writers[bucket]
                    .write(RowKind::Insert, row.clone())
                    .expect("a deduplicate table accepts inserts");
                self.model.insert(vec![key], row);
            }
            None => {
                self.writers[bucket]
                    .write(RowKind::Delete, vec![key, 0, 0])
                    .expect("a deduplicate table accepts deletes");
                self.model.remove(&vec![key]);
            }
        }
    }

    /// Writes a few rows, commits a checkpoint and runs the committer's lifecycle.
    async fn checkpoint(&mut self, rows: &[(i64, Option<i64>)]) -> i64 {
        for &(k, v) in rows {
            self.write(k, v);
        }
        self.identifier += 1;
        let prefix = format!("p{}", self.identifier);
        let now = self.clock.now_millis();
        let mut messages = Vec::new();
        for writer in &mut self.writers {
            messages.extend(
                writer
                    .prepare_commit(&self.table, &prefix, now)
                    .await
                    .unwrap(),
            );
        }
        let outcome = self
            .table
            .commit("u", self.identifier, messages, None, now, &prefix)
            .await
            .unwrap();
        let CommitOutcome::Committed {
            snapshot_id,
            compact_snapshot_id,
        } = outcome
        else {
            panic!("checkpoint {} not committed: {outcome:?}", self.identifier);
        };
        self.committed.insert(snapshot_id, self.model.clone());
        let last = compact_snapshot_id.unwrap_or(snapshot_id);
        self.committed.insert(last, self.model.clone());
        self.table.expire_snapshots(now).await.unwrap();
        self.table.auto_tag(last, now).await.unwrap();
        last
    }

    fn advance(&self, ms: i64) {
        self.clock.0.set(self.clock.0.get() + ms);
    }

    /// Every retained snapshot and every tag reads as the model did, and every data, changelog
    /// or manifest file stored is referenced by one of them (nothing leaked).
    async fn assert_consistent(&self) {
        let table = &self.table;
        for id in table.snapshot_ids().await.unwrap() {
            let snapshot = table.snapshot(id).await.unwrap().unwrap();
            assert_eq!(
                table.read_all(&snapshot).await.unwrap(),
                self.committed[&id],
                "snapshot {id}"
            );
            table.read_changelog(&snapshot).await.unwrap();
        }
        for (name, tagged) in table.tags().await.unwrap() {
            assert_eq!(
                table.read_all(&tagged).await.unwrap(),
                self.committed[&tagged.id],
                "tag {name} (snapshot {})",
                tagged.id
            );
        }
        let referenced = table.referenced_paths().await.unwrap();
        for path in self.store.objects().keys() {
            let relative = &path[ROOT.len() + 1..];
            if relative.starts_with("bucket-") || relative.starts_with("manifest/") {
                assert!(
                    referenced.contains(path),
                    "{path} is stored but unreferenced"
                );
            }
        }
    }
}

fn options(min: u32, time_retained_ms: i64, limit: u32) -> LifecycleOptions {
    LifecycleOptions {
        snapshot_num_retained_min: min,
        snapshot_time_retained_ms: time_retained_ms,
        snapshot_expire_limit: limit,
        ..LifecycleOptions::default()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn expiration_follows_min_count_age_and_limit() {
    let mut f = Fixture::new(options(3, 10_000, 4)).await;
    let mut earliest_seen = Vec::new();
    for i in 0..30i64 {
        f.checkpoint(&[(i % 7, Some(i)), ((i + 3) % 11, None), (50 + i, Some(i))])
            .await;
        f.advance(1_000);
        let earliest = f.table.earliest_snapshot_id().await.unwrap().unwrap();
        let latest = f.table.latest_snapshot().await.unwrap().unwrap();
        assert!(
            latest.id - earliest + 1 >= latest.id.min(3),
            "num-retained.min kept"
        );
        // Nothing younger than time-retained expired: the snapshot before the earliest (if
        // any) was old enough when it went.
        if earliest > 1 {
            assert!(f.committed.contains_key(&(earliest - 1)));
        }
        earliest_seen.push(earliest);
        f.assert_consistent().await;
    }
    assert!(
        earliest_seen
            .windows(2)
            .all(|w| w[0] <= w[1] && w[1] - w[0] <= 4),
        "earliest moves forward by at most snapshot.expire.limit per run: {earliest_seen:?}"
    );
    let earliest = *earliest_seen.last().unwrap();
    let latest = f.table.latest_snapshot().await.unwrap().unwrap();
    assert!(earliest > 10, "old snapshots expired: earliest {earliest}");
    // Every retained snapshot but those num-retained.min keeps is younger than time-retained
    // plus the limit's lag.
    let oldest = f.table.snapshot(earliest).await.unwrap().unwrap();
    assert!(oldest.time_millis >= f.clock.now_millis() - 20_000);
    assert_eq!(
        f.store.objects()[&format!("{ROOT}/snapshot/EARLIEST")],
        earliest.to_string().into_bytes()
    );
    // Time alone: with time-retained long, nothing beyond num-retained.min goes.
    let mut g = Fixture::new(options(3, 3_600_000, 10)).await;
    for i in 0..12 {
        g.checkpoint(&[(i, Some(i))]).await;
        g.advance(1_000);
    }
    assert_eq!(g.table.earliest_snapshot_id().await.unwrap(), Some(1));
    assert!(latest.id > earliest);
}

#[tokio::test(flavor = "current_thread")]
async fn consumer_protects_its_next_snapshot_until_it_expires() {
    let mut lifecycle = options(2, 1_000, 100);
    lifecycle.consumer_expiration_time_ms = Some(60_000);
    let mut f = Fixture::new(lifecycle).await;
    for i in 0..3 {
        f.checkpoint(&[(i, Some(i))]).await;
    }
    f.table.write_consumer("dws", 2).await.unwrap();
    for i in 3..12 {
        f.advance(5_000);
        f.checkpoint(&[(i, Some(i))]).await;
        assert_eq!(
            f.table.earliest_snapshot_id().await.unwrap(),
            Some(2),
            "the consumer's next snapshot is never expired"
        );
    }
    // A reader resuming at the consumer's position reads on; one further back is told.
    let reader = StreamingReader::new(f.table.clone(), 2);
    assert_eq!(reader.poll().await.unwrap().unwrap().0.id, 2);
    let lost = StreamingReader::new(f.table.clone(), 1);
    let error = lost.poll().await.unwrap_err();
    assert_eq!(error, TableError::SnapshotExpired { id: 1 });
    assert!(error.to_string().contains("has expired"), "{error}");
    f.assert_consistent().await;
    // Not updated for longer than consumer.expiration-time: the consumer goes, and so do the
    // snapshots it held.
    f.advance(61_000);
    f.checkpoint(&[(99, Some(1))]).await;
    assert_eq!(f.table.read_consumer("dws").await.unwrap(), None);
    let earliest = f.table.earliest_snapshot_id().await.unwrap().unwrap();
    assert!(earliest > 2, "earliest {earliest}");
    f.assert_consistent().await;
}

#[tokio::test(flavor = "current_thread")]
async fn automatic_tags_outlive_their_snapshots_and_are_retained_by_count() {
    let mut lifecycle = options(2, 1_000, 100);
    lifecycle.tag_automatic_creation = TagCreation::ProcessTime;
    lifecycle.tag_creation_period = TagPeriod::parse("10s").unwrap();
    lifecycle.tag_num_retained_max = Some(3);
    let mut f = Fixture::new(lifecycle).await;
    f.table.create_tag("manual", 0).await.unwrap_err();
    for i in 0..40 {
        f.checkpoint(&[(i % 9, Some(i)), (i % 4, None)]).await;
        f.advance(3_000);
        f.assert_consistent().await;
    }
    let tags = f.table.tags().await.unwrap();
    assert_eq!(
        tags.len(),
        3,
        "{:?}",
        tags.iter().map(|t| &t.0).collect::<Vec<_>>()
    );
    let earliest = f.table.earliest_snapshot_id().await.unwrap().unwrap();
    assert!(
        tags.iter().all(|(_, s)| s.id < earliest),
        "tagged snapshots expired"
    );
    // Names are the period start in UTC, one period apart.
    assert_eq!(tags[0].0.len(), "1970-01-01 00:16:40".len());
    let names: Vec<&str> = tags.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    // Deleting a tag deletes the files only it held.
    assert!(f.table.delete_tag(&tags[0].0).await.unwrap());
    assert!(!f.table.delete_tag(&tags[0].0).await.unwrap());
    f.assert_consistent().await;
}

#[tokio::test(flavor = "current_thread")]
async fn rollback_to_a_tag_restores_its_state_and_continues() {
    for expired_first in [false, true] {
        let time_retained_ms = if expired_first { 1_000 } else { 60_000 };
        let mut f = Fixture::new(options(3, time_retained_ms, 100)).await;
        for i in 0..6 {
            f.checkpoint(&[(i, Some(i)), (i + 1, None)]).await;
            f.advance(100);
        }
        let tagged = f.table.latest_snapshot().await.unwrap().unwrap().id;
        f.table.create_tag("before-bad-load", tagged).await.unwrap();
        let good = f.model.clone();
        for i in 0..8 {
            f.checkpoint(&[(i, Some(1000 + i)), (40 + i, Some(1))])
                .await;
            f.advance(if expired_first { 5_000 } else { 100 });
        }
        let earliest = f.table.earliest_snapshot_id().await.unwrap().unwrap();
        assert_eq!(earliest > tagged, expired_first);
        f.table.rollback_to_tag("before-bad-load").await.unwrap();
        let latest = f.table.latest_snapshot().await.unwrap().unwrap();
        assert_eq!(latest.id, tagged);
        assert_eq!(f.table.read_all(&latest).await.unwrap(), good);
        f.committed.retain(|id, _| *id <= tagged);
        f.model = good;
        f.assert_consistent().await;
        // The table goes on from the tag.
        f.restart_writers().await;
        let next = f.checkpoint(&[(7, Some(7))]).await;
        assert!(next > tagged);
        f.assert_consistent().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn orphan_cleaning_removes_only_old_unreferenced_files() {
    let mut f = Fixture::new(options(5, 3_600_000, 10)).await;
    for i in 0..4 {
        f.checkpoint(&[(i, Some(i))]).await;
    }
    // A failed attempt: files prepared, never committed.
    f.write(77, Some(7));
    let mut orphans = Vec::new();
    for writer in &mut f.writers {
        if let Some(message) = writer.prepare_commit(&f.table, "lost", 1).await.unwrap() {
            // Everything the attempt wrote: flushed and compacted data files and changelog.
            let files = message
                .new_files
                .iter()
                .chain(&message.changelog_files)
                .chain(&message.compact_after)
                .chain(&message.compact_changelog_files);
            orphans.extend(files.map(|m| {
                f.table
                    .bucket_file_path(&message.partition, message.bucket, &m.file_name)
            }));
        }
    }
    f.model.remove(&vec![77]);
    orphans.sort();
    assert!(!orphans.is_empty());
    let written_at = f.clock.now_millis();
    f.advance(10_000);
    let young = f.table.remove_orphan_files(written_at).await.unwrap();
    assert!(young.files_deleted.is_empty());
    assert_eq!(young.young_files_kept, orphans.len() as u64);
    let old = f.table.remove_orphan_files(written_at + 1).await.unwrap();
    assert_eq!(old.files_deleted, orphans);
    f.restart_writers().await;
    f.assert_consistent().await;
}

#[test]
fn tag_periods_parse_and_name_like_paimon() {
    assert_eq!(TagPeriod::parse("daily"), Some(TagPeriod::Daily));
    assert_eq!(TagPeriod::parse("5min"), Some(TagPeriod::Every(300_000)));
    assert_eq!(TagPeriod::parse("weekly"), None);
    assert_eq!(TagPeriod::parse("10ms"), None, "below a second is refused");
    // 2025-11-10T16:00:00Z
    let t = 1_762_790_400_000;
    assert_eq!(TagPeriod::Daily.tag_name(t), "2025-11-10");
    assert_eq!(TagPeriod::Hourly.tag_name(t), "2025-11-10 16");
    assert_eq!(
        TagPeriod::Every(60_000).tag_name(t + 90_000),
        "2025-11-10 16:01"
    );
    assert!(TagPeriod::Hourly.is_automatic_name("2025-11-10 16"));
    assert!(!TagPeriod::Hourly.is_automatic_name("before-bad-load"));
    let bad = LifecycleOptions {
        snapshot_num_retained_max: 2,
        snapshot_num_retained_min: 5,
        ..LifecycleOptions::default()
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("must not be below")
    );
    assert!(LifecycleOptions::default().validate().is_ok());
}

#[derive(Clone, Debug)]
enum Step {
    Write(i64, Option<i64>),
    Checkpoint,
    Advance(i64),
    Consume,
    Restart,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0i64..10, proptest::option::weighted(0.75, 0i64..5)).prop_map(|(k, v)| Step::Write(k, v)),
        3 => Just(Step::Checkpoint),
        2 => (1i64..8_000).prop_map(Step::Advance),
        1 => Just(Step::Consume),
        1 => Just(Step::Restart),
    ]
}

/// A consumer that reads the changelog as a streaming job does, saving its position sometimes.
async fn run_steps(steps: Vec<Step>, lifecycle: LifecycleOptions) {
    let mut f = Fixture::new(lifecycle).await;
    let reader = StreamingReader::new(f.table.clone(), 1);
    f.table.write_consumer("c", 1).await.unwrap();
    for step in steps.into_iter().chain([Step::Checkpoint]) {
        match step {
            Step::Write(k, v) => f.write(k, v),
            Step::Checkpoint => {
                f.checkpoint(&[]).await;
            }
            Step::Advance(ms) => f.advance(ms),
            Step::Consume => {
                // Protected by its consumer file, the reader never meets an expired snapshot.
                while reader.poll().await.unwrap().is_some() {}
                f.table
                    .write_consumer("c", reader.next_snapshot())
                    .await
                    .unwrap();
            }
            Step::Restart => {
                // A crash loses the writes not yet committed.
                f.restart_writers().await;
                let latest = f.table.latest_snapshot().await.unwrap();
                f.model = latest.map_or_else(BTreeMap::new, |s| f.committed[&s.id].clone());
            }
        }
    }
    f.assert_consistent().await;
    let ids = f.table.snapshot_ids().await.unwrap();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "no gaps: {ids:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn retained_snapshots_read_as_the_model_through_expirations(
        steps in proptest::collection::vec(step(), 0..60),
        min in 1u32..4,
        time_retained_ms in 1i64..20_000,
        limit in 1u32..5,
        tags in any::<bool>(),
    ) {
        let mut lifecycle = options(min, time_retained_ms, limit);
        if tags {
            lifecycle.tag_automatic_creation = TagCreation::ProcessTime;
            lifecycle.tag_creation_period = TagPeriod::Every(10_000);
            lifecycle.tag_num_retained_max = Some(2);
        }
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(run_steps(steps, lifecycle));
    }
}
