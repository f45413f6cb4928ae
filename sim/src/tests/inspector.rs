//! The Avro manifests the table store writes read back the same through the store and through the
//! checkers' independent inspector (which shares no code with it), across merged base manifests,
//! compaction (DELETE entries) and deletes, for an unpartitioned table and one partitioned
//! table (Paimon's `_PARTITION` rows and `key=value` directories).

use std::collections::BTreeMap;

use crate::check::inspect::TableInspector;
use warehouse::env::MemStore;
use warehouse::row::{Field, RowKind};
use warehouse::table::{BucketWriter, FileStoreTable, HeldRows, TableOptions, TableSchema};

const ROOT: &str = "warehouse/t.db/t";
/// The partitioned table's partitions: an hour's `yyyyMMddHH`, and the next.
const HOURS: [i64; 2] = [2_026_111_100, 2_026_111_101];

fn schema(partitioned: bool) -> TableSchema {
    let mut fields = vec![
        Field::bigint("k"),
        Field::enumeration("kind", &["a", "b", "c"]),
        Field::bigint("v"),
    ];
    let mut primary_keys = vec!["k".to_string()];
    if partitioned {
        fields.push(Field::bigint("hh"));
        primary_keys.push("hh".into());
    }
    TableSchema {
        fields,
        partition_keys: if partitioned {
            vec!["hh".into()]
        } else {
            Vec::new()
        },
        primary_keys,
        options: TableOptions {
            bucket: 2,
            manifest_merge_min_count: 2,
            compaction_trigger: 2,
            ..TableOptions::default()
        },
    }
}

async fn build_table(store: MemStore, partitioned: bool) -> FileStoreTable<MemStore> {
    let table = FileStoreTable::create_or_open(store, ROOT, schema(partitioned), 0)
        .await
        .unwrap();
    let partitions: Vec<Vec<i64>> = if partitioned {
        HOURS.iter().map(|&h| vec![h]).collect()
    } else {
        vec![Vec::new()]
    };
    for commit in 1..=8i64 {
        let latest = table.latest_snapshot().await.unwrap();
        let mut messages = Vec::new();
        for (partition, bucket) in partitions.iter().flat_map(|p| (0..2).map(move |b| (p, b))) {
            let state = table
                .read_bucket(latest.as_ref(), partition, bucket)
                .await
                .unwrap();
            let mut writer = BucketWriter::of_partition(
                table.schema(),
                partition.clone(),
                bucket,
                state,
                HeldRows::All,
            );
            for k in 0..40i64 {
                let with_partition = |mut row: Vec<i64>| {
                    row.extend(partition);
                    row
                };
                let key = with_partition(vec![k]);
                if table.bucket_of_key(&key) != bucket || (k + commit) % 3 == 0 {
                    continue;
                }
                if (k + commit) % 7 == 0 {
                    let row = with_partition(vec![k, 0, 0]);
                    writer.write(RowKind::Delete, row).unwrap();
                } else {
                    let row = with_partition(vec![k, k % 3, k * 100 + commit]);
                    writer.write(RowKind::Insert, row).unwrap();
                }
            }
            let prefix = format!("w{commit}-p{}-b{bucket}", partition.len());
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
    agree_on_tables(false);
}

#[test]
fn store_and_inspector_agree_on_a_partitioned_table() {
    agree_on_tables(true);
}

fn agree_on_tables(partitioned: bool) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = MemStore::new();
    let table = runtime.block_on(build_table(store.clone(), partitioned));
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
    let fields: &[&str] = if partitioned {
        &["k", "kind", "v", "hh"]
    } else {
        &["k", "kind", "v"]
    };
    let inspector = TableInspector::new(&stored, ROOT, fields, symbols);
    let snapshots = inspector.snapshots().unwrap();
    let compactions = snapshots
        .iter()
        .filter(|s| s.commit_kind == crate::check::inspect::CommitKind::Compact)
        .count();
    assert!(compactions > 0, "the test should cover compaction");
    assert!(snapshots.len() >= 8);
    for info in &snapshots {
        let snapshot = runtime.block_on(table.snapshot(info.id)).unwrap().unwrap();
        let from_store: Vec<String> = runtime
            .block_on(table.data_files(&snapshot))
            .unwrap()
            .into_iter()
            .map(|e| table.bucket_file_path(&e.partition, e.bucket, &e.file.file_name))
            .collect();
        let mut from_store = from_store;
        from_store.sort();
        let mut from_inspector: Vec<String> = inspector
            .live_files(info)
            .unwrap()
            .iter()
            .map(|file| inspector.file_path(file))
            .collect();
        from_inspector.sort();
        assert_eq!(from_inspector, from_store, "snapshot {}", info.id);
        for path in &from_inspector {
            assert!(objects.contains_key(path), "{path} is not stored");
            assert_eq!(inspector.is_bucket_file(path), Ok(true));
            assert_eq!(path.contains("/hh=2026111"), partitioned, "{path}");
        }

        // Both readers see the same merged table.
        let rows = runtime.block_on(table.read_all(&snapshot)).unwrap();
        let mut records = crate::check::inspect::Records::default();
        inspector.live_records(info, &mut records).unwrap();
        let mut merged: BTreeMap<Vec<i64>, (i64, crate::check::inspect::RowKind, Vec<i64>)> =
            BTreeMap::new();
        for r in 0..records.len() {
            let row = records.row(r).to_vec();
            let seq = records.sequence_numbers[r];
            // The primary key: k, then the partition's hh.
            let key = if partitioned {
                vec![row[0], row[3]]
            } else {
                vec![row[0]]
            };
            if merged.get(&key).is_none_or(|(s, _, _)| seq > *s) {
                merged.insert(key, (seq, records.kinds[r], row));
            }
        }
        let inspected: BTreeMap<Vec<i64>, Vec<i64>> = merged
            .into_iter()
            .filter(|(_, (_, kind, _))| kind.is_live())
            .map(|(k, (_, _, row))| (k, row))
            .collect();
        assert_eq!(inspected, rows, "snapshot {}", info.id);
    }
}
