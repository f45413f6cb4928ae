//! The serving layer's answers and budget checks, and its view kept through compaction and
//! rollback, against views built afresh.

use super::*;
use crate::env::{ObjectStore, TestEnv};
use crate::jobs::schemas::{DWS_TABLE_ROOT, dws_schema};
use crate::row::RowKind;
use crate::table::{BucketWriter, TableOptions};

const EPOCH_MS: i64 = 1_762_788_600_000;

/// Every bucket's writer names its first file `data-cp1-0.parquet`: the view must still
/// fold each bucket's file, so spend covers every advertiser (a view keyed by file name
/// alone once dropped half of them).
#[test]
fn spend_covers_every_bucket_although_file_names_repeat_across_buckets() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let env = TestEnv::default();
        env.clock.0.set(EPOCH_MS);
        let options = TableOptions {
            bucket: 2,
            ..TableOptions::default()
        };
        let schema = dws_schema(options);
        let dws =
            FileStoreTable::create_or_open(env.store.clone(), DWS_TABLE_ROOT, schema, EPOCH_MS)
                .await
                .unwrap();
        let mut writers = Vec::new();
        for bucket in 0..2 {
            let base = dws.read_bucket(None, &[], bucket).await.unwrap();
            writers.push(BucketWriter::new(dws.schema(), bucket, base));
        }
        let minute = minute_of(EPOCH_MS);
        let mut expected = BTreeMap::new();
        for advertiser in 1..=8i64 {
            let row = vec![
                advertiser,
                advertiser * 1000 + 1,
                minute,
                10,
                1,
                0,
                100 * advertiser,
                0,
            ];
            let bucket = dws.bucket_of_key(&row[..3]) as usize;
            writers[bucket].write(RowKind::Insert, row).unwrap();
            expected.insert(advertiser, 100 * advertiser);
        }
        let mut messages = Vec::new();
        for writer in &mut writers {
            messages.extend(writer.prepare_commit(&dws, "cp1", EPOCH_MS).await.unwrap());
        }
        assert_eq!(messages.len(), 2, "both buckets hold advertisers");
        assert_eq!(
            messages[0].new_files[0].file_name,
            messages[1].new_files[0].file_name
        );
        dws.commit("u", 1, messages, None, EPOCH_MS, "c1")
            .await
            .unwrap();

        let mut serving = ServingLayer::new(env.clone(), dws);
        let (_, spend) = serving.spend_since(EPOCH_MS).await.unwrap().unwrap();
        assert_eq!(spend, expected);
        // Budget 500: advertisers 5..=8 are paused, once.
        let mut controller = BudgetController::new(500, 8 * 3_600_000);
        let paused: Vec<i64> = controller
            .check(&mut serving)
            .await
            .unwrap()
            .iter()
            .map(|p| p.advertiser_id)
            .collect();
        assert_eq!(paused, [5, 6, 7, 8]);
        assert!(controller.check(&mut serving).await.unwrap().is_empty());

        // A second snapshot: advertiser 1 spends more, advertiser 2's row is deleted and
        // advertiser 3 spends in a new minute. The kept total follows the view.
        let changes = [
            (RowKind::Insert, vec![1, 1001, minute, 20, 2, 0, 250, 0]),
            (RowKind::Delete, vec![2, 2001, minute, 0, 0, 0, 0, 0]),
            (
                RowKind::Insert,
                vec![3, 3001, minute + MINUTE_MS, 5, 1, 0, 40, 0],
            ),
        ];
        for (kind, row) in changes {
            let bucket = serving.dws.bucket_of_key(&row[..3]) as usize;
            writers[bucket].write(kind, row).unwrap();
        }
        let mut messages = Vec::new();
        for writer in &mut writers {
            messages.extend(
                writer
                    .prepare_commit(&serving.dws, "cp2", EPOCH_MS)
                    .await
                    .unwrap(),
            );
        }
        serving
            .dws
            .commit("u", 2, messages, None, EPOCH_MS, "c2")
            .await
            .unwrap();
        let (_, spend) = serving.spend_since(EPOCH_MS).await.unwrap().unwrap();
        expected.insert(1, 250);
        expected.remove(&2);
        expected.insert(3, 300 + 40);
        assert_eq!(spend, expected);
        assert!(serving.view.keeps_spend() && serving.view.spend_is_in_step());
    });
}

#[test]
fn the_budget_day_starts_at_local_midnight() {
    let controller = BudgetController::new(1, 8 * 3_600_000);
    // 2025-11-10T15:30Z is 23:30 in China: the day began at 2025-11-09T16:00Z.
    assert_eq!(
        controller.day_start_ms(EPOCH_MS),
        EPOCH_MS - 23 * 3_600_000 - 1_800_000
    );
    // Half an hour later it is Double 11.
    assert_eq!(
        controller.day_start_ms(EPOCH_MS + 1_800_000),
        EPOCH_MS + 1_800_000
    );
}

/// Every advertiser's answer over the last hour, from the view after a refresh.
async fn answers(serving: &mut ServingLayer<TestEnv>) -> Vec<Option<ReportAnswer>> {
    serving.refresh().await.unwrap();
    (1..=4)
        .map(|advertiser| {
            let mut answer = serving.answer_from_view(advertiser, 60)?;
            answer.snapshot_id = 0; // a fresh view and a kept one may stand at either
            Some(answer)
        })
        .collect()
}

/// Through compactions the kept view reads no output that only repeats what it folded, walks
/// unseen APPEND and COMPACT snapshots by reading the APPEND's file, gives way to the
/// whole-table read when that file has gone, keeps its spend total and answers as a fresh
/// view; after a rollback it is rebuilt and still does.
#[test]
fn a_kept_view_answers_as_a_fresh_one_through_compaction_and_rollback() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let env = TestEnv::default();
        env.clock.0.set(EPOCH_MS + 30 * MINUTE_MS);
        let options = TableOptions {
            bucket: 1,
            ..TableOptions::default()
        };
        let dws = FileStoreTable::create_or_open(
            env.store.clone(),
            DWS_TABLE_ROOT,
            dws_schema(options),
            EPOCH_MS,
        )
        .await
        .unwrap();
        let base = dws.read_bucket(None, &[], 0).await.unwrap();
        let mut writer = BucketWriter::new(dws.schema(), 0, base);
        let mut serving = ServingLayer::new(env.clone(), dws.clone());
        let minute = minute_of(EPOCH_MS);
        for checkpoint in 1..=4i64 {
            for advertiser in 1..=4i64 {
                let row = vec![
                    advertiser,
                    advertiser * 1000 + 1,
                    minute + (checkpoint % 2) * MINUTE_MS,
                    10 * checkpoint,
                    checkpoint,
                    0,
                    100 * advertiser * checkpoint,
                    0,
                ];
                let kind = if checkpoint == 3 && advertiser == 2 {
                    RowKind::Delete
                } else {
                    RowKind::Insert
                };
                writer.write(kind, row).unwrap();
            }
            let prefix = format!("cp{checkpoint}");
            let messages: Vec<_> = writer
                .prepare_commit(&dws, &prefix, EPOCH_MS)
                .await
                .unwrap()
                .into_iter()
                .collect();
            dws.commit("u", checkpoint, messages, None, EPOCH_MS, &prefix)
                .await
                .unwrap();
            serving.spend_since(EPOCH_MS).await.unwrap();
            if checkpoint == 2 {
                assert!(dws.create_tag("before-3", 2).await.unwrap());
            }
        }
        let fresh = |env: &TestEnv| ServingLayer::new(env.clone(), dws.clone());
        assert_eq!(answers(&mut serving).await, answers(&mut fresh(&env)).await);

        let compacted = writer.compact_full(&dws, "full", EPOCH_MS).await.unwrap();
        let messages: Vec<_> = compacted.into_iter().collect();
        assert!(!messages.is_empty(), "four files to compact");
        let outputs: Vec<String> = messages[0]
            .compact_after
            .iter()
            .map(|f| dws.bucket_file_path(&[], 0, &f.file_name))
            .collect();
        dws.commit("u", 5, messages, None, EPOCH_MS, "full")
            .await
            .unwrap();
        // The output repeats what the view folded: the kept view must not read it (hidden
        // from the store while it refreshes), a fresh one must.
        let hidden = hide(&env, &outputs).await;
        let kept = answers(&mut serving).await;
        unhide(&env, hidden).await;
        assert!(
            serving.view.keeps_spend(),
            "a compaction does not rebuild the view"
        );
        assert_eq!(kept, answers(&mut fresh(&env)).await);
        assert_eq!(
            serving.spend_since(EPOCH_MS).await.unwrap().unwrap().1,
            fresh(&env).spend_since(EPOCH_MS).await.unwrap().unwrap().1
        );

        // A commit the view never refreshed to, then a compaction over it (an APPEND and a
        // COMPACT snapshot): the view walks them, reading the APPEND's file and not the
        // output, which is hidden from the store while it refreshes.
        let (appended, outputs) = commit_then_compact(
            &dws,
            &mut writer,
            6,
            [1, 1001, minute, 1000, 100, 0, 99_999, 0],
        )
        .await;
        let hidden = hide(&env, &outputs).await;
        let kept_after_unseen = answers(&mut serving).await;
        unhide(&env, hidden).await;
        assert_eq!(kept_after_unseen, answers(&mut fresh(&env)).await);
        assert_ne!(
            kept_after_unseen, kept,
            "advertiser 1's new row is in the answers"
        );
        assert!(serving.view.spend_is_in_step());
        assert_eq!(appended.len(), 1);

        // The same, with the APPEND's file gone from the store (expired since it was listed):
        // the walk gives way to the whole-table read, which reads the output.
        let (appended, _) =
            commit_then_compact(&dws, &mut writer, 8, [2, 2001, minute, 5, 5, 0, 55_555, 0]).await;
        let hidden = hide(&env, &appended).await;
        let kept_after_expiry = answers(&mut serving).await;
        unhide(&env, hidden).await;
        assert_eq!(kept_after_expiry, answers(&mut fresh(&env)).await);
        assert!(serving.view.spend_is_in_step());

        // Two commits the view never refreshed to, whose files sort against their commit
        // order (a restarted job's file prefix can): each write is folded once.
        for (checkpoint, prefix, advertiser) in [(10, "zz-cp10", 4), (11, "aa-cp11", 3)] {
            let row = vec![advertiser, advertiser * 1000 + 1, minute, 7, 7, 0, 7_777, 0];
            writer.write(RowKind::Insert, row).unwrap();
            let messages: Vec<_> = writer
                .prepare_commit(&dws, prefix, EPOCH_MS)
                .await
                .unwrap()
                .into_iter()
                .collect();
            dws.commit("u", checkpoint, messages, None, EPOCH_MS, prefix)
                .await
                .unwrap();
        }
        assert_eq!(answers(&mut serving).await, answers(&mut fresh(&env)).await);
        assert!(serving.view.spend_is_in_step());

        dws.rollback_to_tag("before-3").await.unwrap();
        let rolled_back = answers(&mut serving).await;
        assert_eq!(rolled_back, answers(&mut fresh(&env)).await);
        assert_ne!(rolled_back, kept, "the rollback changed the table");
    });
}

/// Writes `row` and commits it as checkpoint `checkpoint` (an APPEND snapshot), then compacts
/// the bucket fully and commits that (a COMPACT snapshot): the APPEND's data file paths and the
/// compaction's output paths.
async fn commit_then_compact(
    dws: &FileStoreTable<crate::env::MemStore>,
    writer: &mut BucketWriter,
    checkpoint: i64,
    row: [i64; 8],
) -> (Vec<String>, Vec<String>) {
    let path = |name: &str| dws.bucket_file_path(&[], 0, name);
    writer.write(RowKind::Insert, row.to_vec()).unwrap();
    let prefix = format!("cp{checkpoint}");
    let message = writer
        .prepare_commit(dws, &prefix, EPOCH_MS)
        .await
        .unwrap()
        .unwrap();
    let appended = message
        .new_files
        .iter()
        .map(|f| path(&f.file_name))
        .collect();
    dws.commit("u", checkpoint, vec![message], None, EPOCH_MS, &prefix)
        .await
        .unwrap();
    let prefix = format!("full-{checkpoint}");
    let message = writer
        .compact_full(dws, &prefix, EPOCH_MS)
        .await
        .unwrap()
        .unwrap();
    let outputs = message
        .compact_after
        .iter()
        .map(|f| path(&f.file_name))
        .collect();
    dws.commit("u", checkpoint + 1, vec![message], None, EPOCH_MS, &prefix)
        .await
        .unwrap();
    (appended, outputs)
}

/// Takes `paths` out of the store, returning their bytes for [`unhide`].
async fn hide(env: &TestEnv, paths: &[String]) -> Vec<(String, Vec<u8>)> {
    let mut hidden = Vec::new();
    for path in paths {
        hidden.push((path.clone(), env.store.get(path).await.unwrap().unwrap()));
        env.store.delete(path).await.unwrap();
    }
    hidden
}

async fn unhide(env: &TestEnv, hidden: Vec<(String, Vec<u8>)>) {
    for (path, bytes) in hidden {
        env.store.put(&path, bytes).await.unwrap();
    }
}
