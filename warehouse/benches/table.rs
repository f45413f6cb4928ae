//! Speed of the table store's hot paths, each beside a plain arrow-rs Parquet write of the same
//! rows measured in the same run (the yardstick, so the figures read as ratios that survive
//! a change of machine), and beside plain arrow-rs doing the same I/O (a stricter yardstick):
//! bucket write (rows in, Parquet encoded and stored) against `ArrowWriter` alone; merge-on-read
//! of five sorted runs against decoding the same five files; compaction of those runs against
//! decoding them and encoding the rows once. Run with `cargo bench -p warehouse --bench table`.

use std::hint::black_box;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, Int8Array, Int64Array, RecordBatch};
use criterion::{BatchSize, Criterion, Throughput};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use warehouse::env::MemStore;
use warehouse::event::{AdEvent, EVENT_KIND_SYMBOLS, EventKind};
use warehouse::jobs::schemas::dwd_schema;
use warehouse::row::{Row, RowKind};
use warehouse::table::{
    BucketState, BucketWriter, FileStoreTable, TableOptions, TableSchema, compact_bucket,
};

const ROWS: usize = 100_000;
const RUNS: usize = 5;
const ROOT: &str = "bench/t";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
}

/// DWD event rows with keys `first..first + count`, deterministic values.
fn rows(first: usize, count: usize) -> Vec<Row> {
    (first..first + count)
        .map(|i| {
            let kind = match i % 31 {
                0 => EventKind::Click,
                1 => EventKind::Conversion,
                _ => EventKind::Impression,
            };
            AdEvent {
                event_id: i as u64 + 1,
                event_time_ms: 1_762_790_400_000 + i as i64 * 13,
                advertiser_id: 1 + (i % 50) as i64,
                campaign_id: 1_000 + (i % 200) as i64,
                creative_id: 100_000 + (i % 1_000) as i64,
                slot_id: (i % 20) as i64,
                region_id: (i % 34) as i64,
                kind,
                cost_micros: if kind == EventKind::Click { 500_000 } else { 0 },
                gmv_micros: if kind == EventKind::Conversion {
                    9_900_000
                } else {
                    0
                },
            }
            .to_row()
        })
        .collect()
}

fn schema(write_only: bool) -> TableSchema {
    dwd_schema(TableOptions {
        bucket: 1,
        compaction_trigger: RUNS,
        write_only,
        ..TableOptions::default()
    })
}

/// The plain baseline: the same rows in the same key-value column layout (key, sequence, kind,
/// fields with the enum as a string), encoded by `ArrowWriter` with the table's compression.
fn plain_parquet(rows: &[Row], first_sequence: i64) -> Vec<u8> {
    let n = rows.len();
    let int = |f: &dyn Fn(usize) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values((0..n).map(f)))
    };
    let mut columns: Vec<ArrayRef> = vec![
        int(&|i| rows[i][0]),
        int(&|i| first_sequence + i as i64),
        Arc::new(Int8Array::from_iter_values((0..n).map(|_| 0i8))),
    ];
    for field in 0..rows[0].len() {
        if field == 7 {
            let mut kinds = StringBuilder::with_capacity(n, n * 10);
            for row in rows {
                kinds.append_value(EVENT_KIND_SYMBOLS[row[7] as usize]);
            }
            columns.push(Arc::new(kinds.finish()));
        } else {
            columns.push(int(&|i| rows[i][field]));
        }
    }
    let names = ["_KEY_event_id", "_SEQUENCE_NUMBER", "_VALUE_KIND"]
        .into_iter()
        .map(str::to_string)
        .chain((0..rows[0].len()).map(|f| format!("f{f}")));
    let batch = RecordBatch::try_from_iter(names.zip(columns)).expect("a valid batch");
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut bytes = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties)).expect("a writer");
    writer.write(&batch).expect("written");
    writer.close().expect("closed");
    bytes
}

fn plain_read(files: &[Vec<u8>]) -> usize {
    let mut rows = 0;
    for file in files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(file.clone()))
            .expect("a parquet file")
            .build()
            .expect("a reader");
        for batch in reader {
            rows += batch.expect("a batch").num_rows();
        }
    }
    rows
}

/// The `ROWS` rows the five runs hold, in write order (keys repeat where runs overlap).
fn five_runs_rows() -> Vec<Row> {
    let per_run = ROWS / RUNS;
    (0..RUNS)
        .flat_map(|run| rows(run * per_run / 2, per_run))
        .collect()
}

/// The yardstick every group is measured against: a plain arrow-rs Parquet write of the same rows.
const PLAIN_WRITE: &str = "plain_arrow_parquet_write";

/// A write-only table with `RUNS` level-0 files of `ROWS / RUNS` rows each; consecutive runs
/// overlap by half, so merge-on-read and compaction really merge.
fn five_runs(rt: &tokio::runtime::Runtime) -> (FileStoreTable<MemStore>, Vec<Vec<u8>>) {
    rt.block_on(async {
        let store = MemStore::new();
        let table = FileStoreTable::create_or_open(store.clone(), ROOT, schema(true), 0)
            .await
            .expect("table");
        let mut writer = BucketWriter::new(table.schema(), 0, BucketState::default());
        let per_run = ROWS / RUNS;
        for (run, rows) in five_runs_rows().chunks(per_run).enumerate() {
            for row in rows {
                writer.write(RowKind::Insert, row.clone()).unwrap();
            }
            let message = writer
                .prepare_commit(&table, &format!("r{run}"), 0)
                .await
                .expect("flushed")
                .expect("rows pending");
            table
                .commit("bench", run as i64 + 1, vec![message], None, 0, "c")
                .await
                .expect("committed");
        }
        let files: Vec<Vec<u8>> = store
            .objects()
            .into_iter()
            .filter(|(path, _)| path.contains("/bucket-0/data-"))
            .map(|(_, bytes)| bytes)
            .collect();
        assert_eq!(files.len(), RUNS);
        (table, files)
    })
}

fn bucket_write(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let input = rows(0, ROWS);
    let mut group = c.benchmark_group("bucket_write");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("paimon_writer", |b| {
        b.iter_batched(
            || {
                let table = rt
                    .block_on(FileStoreTable::create_or_open(
                        MemStore::new(),
                        ROOT,
                        schema(false),
                        0,
                    ))
                    .expect("table");
                let writer = BucketWriter::new(table.schema(), 0, BucketState::default());
                (table, writer, input.clone())
            },
            |(table, mut writer, input)| {
                for row in input {
                    writer.write(RowKind::Insert, row).unwrap();
                }
                rt.block_on(writer.prepare_commit(&table, "w", 0))
                    .expect("flushed")
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("plain_arrow_parquet", |b| {
        b.iter(|| plain_parquet(black_box(&input), 0))
    });
    group.finish();
}

fn merge_on_read(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let (table, files) = five_runs(rt);
    let latest = rt
        .block_on(table.latest_snapshot())
        .expect("readable")
        .expect("a snapshot");
    let input = five_runs_rows();
    let mut group = c.benchmark_group("merge_on_read_5_runs");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("paimon_read_bucket", |b| {
        b.iter(|| {
            rt.block_on(table.read_bucket(Some(&latest), &[], 0))
                .expect("read")
        })
    });
    group.bench_function("plain_arrow_parquet", |b| {
        b.iter(|| plain_read(black_box(&files)))
    });
    group.bench_function(PLAIN_WRITE, |b| {
        b.iter(|| plain_parquet(black_box(&input), 0))
    });
    group.finish();
}

fn compaction(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let (table, files) = five_runs(rt);
    let live = rt.block_on(async {
        let latest = table
            .latest_snapshot()
            .await
            .expect("readable")
            .expect("a snapshot");
        let entries = table.data_files(&latest).await.expect("manifests");
        entries.into_iter().map(|e| e.file).collect::<Vec<_>>()
    });
    let merged = rows(0, ROWS / RUNS * (RUNS + 1) / 2);
    let input = five_runs_rows();
    let mut group = c.benchmark_group("compaction_5_runs");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("paimon_compact_bucket", |b| {
        b.iter(|| {
            rt.block_on(compact_bucket(
                &table,
                table.schema(),
                &[],
                0,
                &live,
                "bench",
                0,
            ))
            .expect("compacted")
            .expect("five runs reach the trigger")
        })
    });
    group.bench_function("plain_arrow_parquet", |b| {
        b.iter(|| {
            (
                plain_read(black_box(&files)),
                plain_parquet(black_box(&merged), 0),
            )
        })
    });
    group.bench_function(PLAIN_WRITE, |b| {
        b.iter(|| plain_parquet(black_box(&input), 0))
    });
    group.finish();
}

/// Median (ns) criterion recorded for `group/bench` in this run.
fn median_ns(group: &str, bench: &str) -> Option<f64> {
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| format!("{}/../target", env!("CARGO_MANIFEST_DIR")));
    let path = format!("{target}/criterion/{group}/{bench}/new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// Speed relative to a plain arrow-rs Parquet write of the same rows (the yardstick of the
/// targets: write >= 0.5, merge-on-read >= 1.0) and to plain arrow-rs doing the same I/O.
fn print_ratios() {
    // (group, ours, the group's plain write, target against it)
    let groups = [
        ("bucket_write", "paimon_writer", "plain_arrow_parquet", 0.5),
        (
            "merge_on_read_5_runs",
            "paimon_read_bucket",
            PLAIN_WRITE,
            1.0,
        ),
        (
            "compaction_5_runs",
            "paimon_compact_bucket",
            PLAIN_WRITE,
            0.0,
        ),
    ];
    println!(
        "\nspeed relative to plain arrow-rs Parquet ({ROWS} rows, medians of this run; \
         ratio = plain time / ours):"
    );
    for (group, ours, plain_write, target) in groups {
        let (Some(ours_ns), Some(write_ns)) =
            (median_ns(group, ours), median_ns(group, plain_write))
        else {
            println!("  {group:<22} no measurement (run with `cargo bench`)");
            continue;
        };
        let ratio = write_ns / ours_ns;
        let verdict = if target == 0.0 {
            String::new()
        } else if ratio >= target {
            format!(" (target >= {target}: met)")
        } else {
            format!(" (target >= {target}: NOT met)")
        };
        print!(
            "  {group:<22} ours {:>7.2} ms, plain write {:>7.2} ms: {ratio:.2}x{verdict}",
            ours_ns / 1e6,
            write_ns / 1e6
        );
        match median_ns(group, "plain_arrow_parquet") {
            Some(same_io_ns) if plain_write != "plain_arrow_parquet" => println!(
                "; plain same I/O {:>7.2} ms: {:.2}x",
                same_io_ns / 1e6,
                same_io_ns / ours_ns
            ),
            _ => println!(),
        }
    }
}

fn main() {
    let rt = runtime();
    let mut c = Criterion::default().configure_from_args();
    bucket_write(&mut c, &rt);
    merge_on_read(&mut c, &rt);
    compaction(&mut c, &rt);
    c.final_summary();
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        print_ratios();
    }
}
