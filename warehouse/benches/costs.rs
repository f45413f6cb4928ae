//! Where the simulator's default cost table comes from: each operator the jobs charge through the
//! cost port, timed on this machine through the same functions the jobs run, and printed as the
//! `[cost.<operator>]` table a scenario accepts (`sim/src/world.rs` `default_cost` holds the
//! rounded figures). Run with `cargo bench -p warehouse --bench costs`.
//!
//! What each operator's charge covers, and so what is timed:
//! - `ods_to_dwd` per record: `insert_event_once` (the event's row, the duplicate lookup, the DWD
//!   writer's insert with its lookup-changelog bookkeeping);
//! - `dwd_writer` per record: `BucketWriter::prepare_commit` of the DWD bucket (sort, Parquet
//!   encode with snappy of data and changelog files, the put);
//! - `dwd_to_dws` per record: `fold_event` (an event folded into its DWS minute row);
//! - `dws_writer` per record: `prepare_commit` of a DWS bucket;
//! - `compactor` per byte read and written: `compact_bucket` of five overlapping sorted runs.
//!
//! `dfs_read` and `dfs_write` stand for the storage system's bandwidth, which no benchmark of
//! this code measures; their defaults are a modelling choice (1 GB/s write, 2 GB/s read).

use std::hint::black_box;

use criterion::{BatchSize, Criterion};
use warehouse::env::MemStore;
use warehouse::event::{AdEvent, EventKind};
use warehouse::jobs::dwd_to_dws::{DwsJobVersion, fold_event};
use warehouse::jobs::ods_to_dwd::insert_event_once;
use warehouse::jobs::schemas::{dwd_schema, dws_schema};
use warehouse::row::RowKind;
use warehouse::table::{
    BucketState, BucketWriter, ChangelogProducer, FileStoreTable, TableOptions, TableSchema,
    compact_bucket,
};

const EVENTS: usize = 50_000;
const RUNS: usize = 5;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
}

/// `count` events from `first`: ids ascending, a click per 31 and a conversion per 31, spread
/// over 50 advertisers, 200 campaigns and 10 event-time minutes.
fn events(first: usize, count: usize) -> Vec<AdEvent> {
    (first..first + count)
        .map(|i| {
            let kind = match i % 31 {
                0 => EventKind::Click,
                1 => EventKind::Conversion,
                _ => EventKind::Impression,
            };
            AdEvent {
                event_id: i as u64 + 1,
                event_time_ms: 1_762_790_400_000 + (i % 600) as i64 * 1_000,
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
        })
        .collect()
}

/// The production DWD table (lookup changelog), one bucket.
fn dwd(write_only: bool) -> TableSchema {
    dwd_schema(TableOptions {
        bucket: 1,
        changelog_producer: ChangelogProducer::Lookup,
        compaction_trigger: RUNS,
        write_only,
        ..TableOptions::default()
    })
}

fn dws() -> TableSchema {
    dws_schema(TableOptions {
        bucket: 1,
        ..TableOptions::default()
    })
}

fn table(rt: &tokio::runtime::Runtime, schema: TableSchema) -> FileStoreTable<MemStore> {
    rt.block_on(FileStoreTable::create_or_open(
        MemStore::new(),
        "bench/t",
        schema,
        0,
    ))
    .expect("table")
}

fn dwd_writer_with(table: &FileStoreTable<MemStore>, input: &[AdEvent]) -> BucketWriter {
    let mut writer = BucketWriter::new(table.schema(), 0, BucketState::default());
    for event in input {
        insert_event_once(&mut writer, event, &[], true).expect("inserted");
    }
    writer
}

fn dws_writer_with(table: &FileStoreTable<MemStore>, input: &[AdEvent]) -> BucketWriter {
    let mut writer = BucketWriter::new(table.schema(), 0, BucketState::default());
    for event in input {
        fold_event(&mut writer, RowKind::Insert, event, DwsJobVersion::Current).expect("folded");
    }
    writer
}

/// A write-only DWD table holding `RUNS` level-0 files that overlap by half.
fn five_runs(rt: &tokio::runtime::Runtime) -> FileStoreTable<MemStore> {
    let table = table(rt, dwd(true));
    let per_run = EVENTS / RUNS;
    rt.block_on(async {
        for run in 0..RUNS {
            let mut writer = BucketWriter::new(table.schema(), 0, BucketState::default());
            for event in events(run * per_run / 2, per_run) {
                writer
                    .write(RowKind::Insert, event.to_row())
                    .expect("written");
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
    });
    table
}

/// The measured cost of one operator: nanoseconds per record or per byte.
struct Measured {
    operator: &'static str,
    per_record_ns: f64,
    per_byte_ns: f64,
    basis: String,
}

fn median_ns(group: &str, bench: &str) -> Option<f64> {
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| format!("{}/../target", env!("CARGO_MANIFEST_DIR")));
    let path = format!("{target}/criterion/{group}/{bench}/new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn main() {
    let rt = runtime();
    let mut c = Criterion::default().configure_from_args().sample_size(10);
    let input = events(0, EVENTS);
    let mut group = c.benchmark_group("operator_costs");

    let dwd_table = table(&rt, dwd(false));
    group.bench_function("ods_to_dwd", |b| {
        b.iter_batched(
            || BucketWriter::new(dwd_table.schema(), 0, BucketState::default()),
            |mut writer| {
                for event in &input {
                    insert_event_once(&mut writer, black_box(event), &[], true).expect("inserted");
                }
                writer
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("dwd_writer", |b| {
        b.iter_batched(
            || dwd_writer_with(&dwd_table, &input),
            |mut writer| rt.block_on(writer.prepare_commit(&dwd_table, "w", 0)),
            BatchSize::LargeInput,
        )
    });
    let dws_table = table(&rt, dws());
    group.bench_function("dwd_to_dws", |b| {
        b.iter_batched(
            || BucketWriter::new(dws_table.schema(), 0, BucketState::default()),
            |mut writer| {
                for event in &input {
                    fold_event(
                        &mut writer,
                        RowKind::Insert,
                        black_box(event),
                        DwsJobVersion::Current,
                    )
                    .expect("folded");
                }
                writer
            },
            BatchSize::LargeInput,
        )
    });
    let dws_rows = dws_writer_with(&dws_table, &input).len();
    group.bench_function("dws_writer", |b| {
        b.iter_batched(
            || dws_writer_with(&dws_table, &input),
            |mut writer| rt.block_on(writer.prepare_commit(&dws_table, "w", 0)),
            BatchSize::LargeInput,
        )
    });
    let runs_table = five_runs(&rt);
    let live: Vec<_> = rt.block_on(async {
        let latest = runs_table
            .latest_snapshot()
            .await
            .expect("readable")
            .expect("a snapshot");
        let entries = runs_table.data_files(&latest).await.expect("manifests");
        entries.into_iter().map(|e| e.file).collect()
    });
    let compaction_io_bytes = rt
        .block_on(compact_bucket(
            &runs_table,
            runs_table.schema(),
            &[],
            0,
            &live,
            "probe",
            0,
        ))
        .expect("compacted")
        .expect("five runs reach the trigger")
        .io_bytes;
    group.bench_function("compactor", |b| {
        b.iter(|| {
            rt.block_on(compact_bucket(
                &runs_table,
                runs_table.schema(),
                &[],
                0,
                &live,
                "bench",
                0,
            ))
            .expect("compacted")
        })
    });
    group.finish();
    c.final_summary();
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }

    let per_record = |operator: &'static str, records: usize, what: &str| {
        median_ns("operator_costs", operator).map(|ns| Measured {
            operator,
            per_record_ns: ns / records as f64,
            per_byte_ns: 0.0,
            basis: format!("{:.2} ms for {records} {what}", ns / 1e6),
        })
    };
    let measured = [
        per_record("ods_to_dwd", EVENTS, "events inserted"),
        per_record("dwd_writer", EVENTS, "DWD rows flushed"),
        per_record("dwd_to_dws", EVENTS, "events folded"),
        per_record("dws_writer", dws_rows, "DWS rows flushed"),
        median_ns("operator_costs", "compactor").map(|ns| Measured {
            operator: "compactor",
            per_record_ns: 0.0,
            per_byte_ns: ns / compaction_io_bytes as f64,
            basis: format!(
                "{:.2} ms for {compaction_io_bytes} bytes read and written",
                ns / 1e6
            ),
        }),
    ];
    println!("\n# Operator costs measured in this run (medians), as a scenario's cost table:");
    for m in measured.into_iter().flatten() {
        println!(
            "[cost.{}]  # {}\nper_record_ns = {:.0}\nper_byte_ns = {:.2}",
            m.operator, m.basis, m.per_record_ns, m.per_byte_ns
        );
    }
}
