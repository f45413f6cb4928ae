//! Tests that a writer holding only its batch's rows (`HeldRows::Unflushed`) writes exactly the
//! files, changelog and snapshots a writer holding every row writes, for the insert-once
//! workload it is for, across flushes and restarts.

use proptest::prelude::*;

use super::test_support::writers_at_latest;
use super::*;
use crate::env::MemStore;
use crate::row::{Field, RowKind};

const ROOT: &str = "warehouse/t.db/t";

fn schema(changelog_producer: ChangelogProducer) -> TableSchema {
    TableSchema {
        fields: vec![Field::bigint("k"), Field::bigint("v")],
        partition_keys: Vec::new(),
        primary_keys: vec!["k".into()],
        options: TableOptions {
            bucket: 2,
            changelog_producer,
            ..TableOptions::default()
        },
    }
}

#[derive(Clone, Debug)]
enum Step {
    /// Writes (k, v) unless k is live, as ODS → DWD drops a producer retry.
    InsertOnce(i64, i64),
    /// Flushes every writer and commits.
    Checkpoint,
    /// Reloads the writers from the latest snapshot, dropping unflushed writes.
    Restart,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0i64..40, 0i64..5).prop_map(|(k, v)| Step::InsertOnce(k, v)),
        2 => Just(Step::Checkpoint),
        1 => Just(Step::Restart),
    ]
}

/// One table and its writers.
struct Lane {
    store: MemStore,
    table: FileStoreTable<MemStore>,
    writers: Vec<BucketWriter>,
    held: HeldRows,
}

impl Lane {
    async fn new(producer: ChangelogProducer, held: HeldRows) -> Self {
        let store = MemStore::new();
        let table = FileStoreTable::create_or_open(store.clone(), ROOT, schema(producer), 0)
            .await
            .unwrap();
        let mut lane = Self {
            store,
            table,
            writers: Vec::new(),
            held,
        };
        lane.restart().await;
        lane
    }

    async fn restart(&mut self) {
        self.writers = writers_at_latest(&self.table, self.held).await;
    }

    /// Whether `k` was live (and so the write dropped).
    fn insert_once(&mut self, k: i64, v: i64) -> bool {
        let writer = &mut self.writers[self.table.bucket_of_key(&[k]) as usize];
        let live = writer.contains_key(&[k]);
        if !live {
            writer.write(RowKind::Insert, vec![k, v]).unwrap();
        }
        live
    }

    async fn checkpoint(&mut self, id: i64) {
        let mut messages = Vec::new();
        for writer in &mut self.writers {
            if let Some(m) = writer
                .prepare_commit(&self.table, &format!("w{id}"), 7)
                .await
                .unwrap()
            {
                messages.push(m);
            }
        }
        self.table
            .commit("u", id, messages, None, 1000 + id, &format!("c{id}"))
            .await
            .unwrap();
    }

    fn live_keys(&self) -> usize {
        self.writers.iter().map(BucketWriter::len).sum()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_writer_holding_only_its_batch_writes_what_one_holding_every_row_writes(
        lookup in any::<bool>(),
        steps in proptest::collection::vec(step(), 0..80),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let producer = if lookup { ChangelogProducer::Lookup } else { ChangelogProducer::None };
            let mut all = Lane::new(producer, HeldRows::All).await;
            let mut unflushed = Lane::new(producer, HeldRows::Unflushed).await;
            for (i, step) in steps.iter().enumerate() {
                match *step {
                    Step::InsertOnce(k, v) => {
                        assert_eq!(all.insert_once(k, v), unflushed.insert_once(k, v), "step {i}: is key {k} live");
                    }
                    Step::Checkpoint => {
                        all.checkpoint(i as i64 + 1).await;
                        unflushed.checkpoint(i as i64 + 1).await;
                    }
                    Step::Restart => {
                        all.restart().await;
                        unflushed.restart().await;
                    }
                }
                assert_eq!(all.live_keys(), unflushed.live_keys(), "step {i}: live keys");
            }
            assert_eq!(all.store.objects(), unflushed.store.objects(), "the two tables' files differ");
        });
    }
}

#[tokio::test(flavor = "current_thread")]
#[should_panic(expected = "rewritten after its flush")]
async fn rewriting_a_flushed_key_is_a_caller_bug_when_rows_are_not_held() {
    let mut lane = Lane::new(ChangelogProducer::Lookup, HeldRows::Unflushed).await;
    lane.insert_once(3, 1);
    lane.checkpoint(1).await;
    let bucket = lane.table.bucket_of_key(&[3]) as usize;
    let _ = lane.writers[bucket].write(RowKind::Insert, vec![3, 2]);
}

/// A writer lets go of the flushed rows its caller closes, never of a row waiting for a flush,
/// and the table's files keep every row.
#[tokio::test(flavor = "current_thread")]
async fn forgetting_closed_rows_keeps_pending_ones_and_the_files() {
    let mut lane = Lane::new(ChangelogProducer::None, HeldRows::All).await;
    for k in 0..10 {
        lane.insert_once(k, k * 10);
    }
    let closed = |key: &[i64]| key[0] < 5;
    let forgotten: usize = lane
        .writers
        .iter_mut()
        .map(|w| w.forget_closed_rows(closed))
        .sum();
    assert_eq!(
        (forgotten, lane.live_keys()),
        (0, 10),
        "rows wait for a flush"
    );
    lane.checkpoint(1).await;
    let forgotten: usize = lane
        .writers
        .iter_mut()
        .map(|w| w.forget_closed_rows(closed))
        .sum();
    assert_eq!((forgotten, lane.live_keys()), (5, 5));
    for k in 0..10 {
        let writer = &lane.writers[lane.table.bucket_of_key(&[k]) as usize];
        let held = writer.get(&[k]).cloned();
        assert_eq!(held, (k >= 5).then(|| vec![k, k * 10]), "key {k}");
    }
    lane.restart().await;
    assert_eq!(lane.live_keys(), 10, "the files still hold every row");
}

/// A plain deduplicate batch that writes more keys than the writer's touched slots, each key
/// several times and interleaved, flushes each key once with its last write: its value and
/// its sequence number.
#[tokio::test(flavor = "current_thread")]
async fn a_batch_rewriting_many_keys_flushes_each_key_once_with_its_last_write() {
    let mut lane = Lane::new(ChangelogProducer::None, HeldRows::All).await;
    let keys = 3 * super::writer::TOUCHED_SLOTS as i64;
    let rounds = 3;
    for round in 0..rounds {
        for k in 0..keys {
            let writer = &mut lane.writers[lane.table.bucket_of_key(&[k]) as usize];
            writer.write(RowKind::Insert, vec![k, round]).unwrap();
        }
    }
    lane.checkpoint(1).await;
    let latest = lane.table.latest_snapshot().await.unwrap();
    let mut rows = 0;
    for bucket in 0..lane.table.schema().options.bucket {
        let state = lane
            .table
            .read_bucket(latest.as_ref(), &[], bucket)
            .await
            .unwrap();
        let file_rows: u64 = state.files.iter().map(|f| f.row_count).sum();
        let bucket_keys = state.rows.len() as u64;
        assert_eq!(
            file_rows, bucket_keys,
            "bucket {bucket}: one record per key"
        );
        for (key, row) in state.rows.iter() {
            assert_eq!(row, vec![key[0], rounds - 1], "key {key:?}: its last write");
        }
        let max = state.files.iter().map(|f| f.max_sequence_number).max();
        let min = state.files.iter().map(|f| f.min_sequence_number).min();
        // Sequence numbers count every write of the bucket: its last round's are the largest.
        let bucket_writes = bucket_keys as i64 * rounds;
        assert_eq!(max, Some(bucket_writes - 1), "bucket {bucket}");
        assert_eq!(min, Some(bucket_writes - bucket_keys as i64));
        rows += bucket_keys;
    }
    assert_eq!(rows, keys as u64);
}
