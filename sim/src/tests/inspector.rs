//! The Avro manifests the table store writes read back the same through the store and through the
//! checkers' independent inspector (which shares no code with it), across merged base manifests,
//! compaction (DELETE entries) and deletes.

use std::collections::BTreeMap;

use crate::check::inspect::TableInspector;
use warehouse::env::MemStore;
use warehouse::row::{Field, RowKind};
use warehouse::table::{BucketWriter, FileStoreTable, TableOptions, TableSchema};

const ROOT: &str = "warehouse/t.db/t";

fn schema() -> TableSchema {
    TableSchema {
        fields: vec![
            Field::bigint("k"),
            Field::enumeration("kind", &["a", "b", "c"]),
            Field::bigint("v"),
        ],
        primary_keys: vec!["k".into()],
        options: TableOptions {
            bucket: 2,
            manifest_merge_min_count: 2,
            compaction_trigger: 2,
            ..TableOptions::default()
        },
    }
}

async fn build_table(store: MemStore) -> FileStoreTable<MemStore> {
    let table = FileStoreTable::create_or_open(store, ROOT, schema(), 0)
        .await
        .unwrap();
    for commit in 1..=8i64 {
        let latest = table.latest_snapshot().await.unwrap();
        let mut messages = Vec::new();
        for bucket in 0..2 {
            let state = table.read_bucket(latest.as_ref(), bucket).await.unwrap();
            let mut writer = BucketWriter::new(table.schema(), bucket, state);
            for k in 0..40i64 {
                if table.bucket_of_key(&[k]) != bucket || (k + commit) % 3 == 0 {
                    continue;
                }
                if (k + commit) % 7 == 0 {
                    writer.write(RowKind::Delete, vec![k, 0, 0]).unwrap();
                } else {
                    writer
                        .write(RowKind::Insert, vec![k, k % 3, k * 100 + commit])
                        .unwrap();
                }
            }
            let prefix = format!("w{commit}-b{bucket}");
            if let Some(message) = writer
                .prepare_commit(&table, &prefix, commit)
                .await
                .unwrap()
            {
                messages.push(message);
            }
        }
        table
            .commit(
                "user",
                commit,
                messages,
                None,
                commit * 1000,
                &format!("c{commit}"),
            )
            .await
            .unwrap();
    }
    table
}

#[test]
fn store_and_inspector_agree_on_avro_manifests() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = MemStore::new();
    let table = runtime.block_on(build_table(store.clone()));
    let objects = store.objects();

    let manifests: Vec<&String> = objects
        .keys()
        .filter(|p| p.starts_with(&format!("{ROOT}/manifest/")))
        .collect();
    assert!(!manifests.is_empty());
    for path in &manifests {
        assert_eq!(
            &objects[*path][..4],
            b"Obj\x01",
            "{path} is not an Avro file"
        );
    }

    let symbols = BTreeMap::from([(
        "kind".to_string(),
        vec!["a".to_string(), "b".to_string(), "c".to_string()],
    )]);
    let stored = crate::world::StoredObjects::from(objects.clone());
    let inspector = TableInspector::new(&stored, ROOT, &["k", "kind", "v"], symbols);
    let snapshots = inspector.snapshots().unwrap();
    let compactions = snapshots
        .iter()
        .filter(|s| s.commit_kind == crate::check::inspect::CommitKind::Compact)
        .count();
    assert!(compactions > 0, "the test should cover compaction");
    assert!(snapshots.len() >= 8);
    for info in &snapshots {
        let snapshot = runtime.block_on(table.snapshot(info.id)).unwrap().unwrap();
        let from_store: Vec<(i64, String)> = runtime
            .block_on(table.data_files(&snapshot))
            .unwrap()
            .into_iter()
            .map(|e| (i64::from(e.bucket), e.file.file_name))
            .collect();
        let mut from_store = from_store;
        from_store.sort();
        // The inspector orders by (bucket, level, name) and drops the level.
        let mut from_inspector = inspector.live_files(info).unwrap();
        from_inspector.sort();
        assert_eq!(from_inspector, from_store, "snapshot {}", info.id);

        // Both readers see the same merged table.
        let rows = runtime.block_on(table.read_all(&snapshot)).unwrap();
        let mut records = crate::check::inspect::Records::default();
        inspector.live_records(info, &mut records).unwrap();
        let mut merged: BTreeMap<i64, (i64, crate::check::inspect::RowKind, Vec<i64>)> =
            BTreeMap::new();
        for r in 0..records.len() {
            let row = records.row(r).to_vec();
            let seq = records.sequence_numbers[r];
            let key = row[0];
            if merged.get(&key).is_none_or(|(s, _, _)| seq > *s) {
                merged.insert(key, (seq, records.kinds[r], row));
            }
        }
        let inspected: BTreeMap<Vec<i64>, Vec<i64>> = merged
            .into_iter()
            .filter(|(_, (_, kind, _))| kind.is_live())
            .map(|(k, (_, _, row))| (vec![k], row))
            .collect();
        assert_eq!(inspected, rows, "snapshot {}", info.id);
    }
}
