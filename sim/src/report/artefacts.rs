//! Writes a run's artefacts under `--out DIR`: `summary.json`, `trace.jsonl`, `ods/*.parquet`
//! (every record TT appended, duplicates included), `warehouse/` (the tables as stored) and
//! `export/dws.parquet` (DWS merged at its latest snapshot) and `export/late.parquet` (the
//! late-data side table: events later than the allowed lateness), readable by DuckDB or pyarrow.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use warehouse::env::MemStore;
use warehouse::event::EVENT_KIND_SYMBOLS;
use warehouse::jobs::schemas::{
    DWS_FIELD_NAMES, DWS_TABLE_ROOT, LATE_FIELD_NAMES, LATE_TABLE_ROOT, dws_schema, late_schema,
};
use warehouse::table::FileStoreTable;

use crate::report::summary::Summary;
use crate::run::Simulation;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "refusing to write into {path}: it is not empty and does not look like a dwsim output (no {OUTPUT_MARKER} or summary.json), so even --force will not clear it; pick an empty or new directory"
    )]
    NotOurs { path: String },
    #[error(
        "refusing to write into {path}: it holds an earlier run's output, whose files would mix with this run's; pick a new directory, or pass --force to clear it first"
    )]
    NotEmpty { path: String },
    #[error("cannot export {what}: {reason}")]
    Export { what: String, reason: String },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    std::fs::write(path, bytes).map_err(io_error(path))
}

/// The file every output directory gets first: what lets `--force` know a directory is a dwsim
/// output it may clear.
pub const OUTPUT_MARKER: &str = ".dwsim-output";

/// Checks `dir` may be written: new or empty; with `force` also an earlier dwsim output (which
/// [`clear_out_dir`] then empties). A directory that is not a dwsim output is never written.
pub fn check_out_dir(dir: &Path, force: bool) -> Result<(), OutputError> {
    let path = || dir.display().to_string();
    let empty = match std::fs::read_dir(dir) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(io_error(dir)(error)),
        Ok(mut entries) => entries.next().is_none(),
    };
    match empty {
        true => Ok(()),
        false if !looks_like_output(dir) => Err(OutputError::NotOurs { path: path() }),
        false if force => Ok(()),
        false => Err(OutputError::NotEmpty { path: path() }),
    }
}

/// Whether `dir` holds an earlier dwsim output: its marker, or (written before the marker
/// existed) a summary.json.
fn looks_like_output(dir: &Path) -> bool {
    dir.join(OUTPUT_MARKER).is_file() || dir.join("summary.json").is_file()
}

/// Empties `dir` for `--force`, only when it is a dwsim output (or empty, or missing).
pub fn clear_out_dir(dir: &Path) -> Result<(), OutputError> {
    check_out_dir(dir, true)?;
    let entries = match std::fs::read_dir(dir) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other.map_err(io_error(dir))?,
    };
    for entry in entries {
        let entry = entry.map_err(io_error(dir))?;
        let path = entry.path();
        // A symlink is removed, never followed.
        let is_dir = entry.file_type().map_err(io_error(&path))?.is_dir();
        let removed = if is_dir {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(io_error(&path))?;
    }
    Ok(())
}

fn parquet_bytes(batch: &RecordBatch) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut bytes, batch.schema(), None).map_err(|e| e.to_string())?;
    writer.write(batch).map_err(|e| e.to_string())?;
    writer.close().map_err(|e| e.to_string())?;
    Ok(bytes)
}

fn int_column(values: Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(values))
}

pub fn write_all(
    dir: &Path,
    output: &Simulation,
    summary: &Summary,
    trace_mode: crate::trace::TraceMode,
) -> Result<(), OutputError> {
    check_out_dir(dir, false)?;
    write_file(
        &dir.join(OUTPUT_MARKER),
        b"dwsim run output: `dwsim run --out DIR --force` may clear this directory\n",
    )?;
    let json = serde_json::to_vec_pretty(summary).expect("summary serialises");
    write_file(&dir.join("summary.json"), &json)?;
    if trace_mode.writes_files() {
        write_trace(dir, output)?;
        write_perfetto(dir, output)?;
    }
    for (path, bytes) in output.objects.iter() {
        write_file(&dir.join(path), &bytes)?;
    }
    // Dual storage: the secondary's catalog under `warehouse-b/`; its jobs' checkpoints
    // (`checkpoints/dwd-job-b/`, ...) sit beside the primary's.
    for (path, bytes) in output.secondary_objects.iter().flat_map(|o| o.iter()) {
        write_file(&dir.join(secondary_path(path)), &bytes)?;
    }
    write_ods(dir, output)?;
    write_dws_export(dir, output)?;
    write_late_export(dir, output)
}

/// Where an object of the secondary storage system goes under `--out`: its catalog root
/// `warehouse/` becomes `warehouse-b/`.
pub fn secondary_path(path: &str) -> String {
    match path.strip_prefix("warehouse/") {
        Some(rest) => format!("warehouse-b/{rest}"),
        None => path.to_string(),
    }
}

fn write_trace(dir: &Path, output: &Simulation) -> Result<(), OutputError> {
    let path = dir.join("trace.jsonl");
    let mut text = Vec::new();
    for event in output.world.trace.borrow().events() {
        serde_json::to_writer(&mut text, event).expect("trace event serialises");
        text.write_all(b"\n").expect("writing to memory");
    }
    write_file(&path, &text)
}

/// `trace.perfetto.json`: the timeline for ui.perfetto.dev, with TT lag sampled at each completed
/// dwd-job checkpoint (records appended by then minus the checkpoint's offsets) and the staleness
/// of each served answer.
fn write_perfetto(dir: &Path, output: &Simulation) -> Result<(), OutputError> {
    let epoch_ms = output.world.scenario.run.epoch_ms;
    let ledger = output.world.observed.ledger.borrow();
    let mut append_times: Vec<i64> = ledger
        .partitions
        .iter()
        .flat_map(|log| log.appended_ms())
        .collect();
    append_times.sort_unstable();
    let mut tt_lag = Vec::new();
    for (_, bytes) in output.objects.iter_under("checkpoints/dwd-job/") {
        let Ok(checkpoint) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        let (Some(completed), Some(offsets)) = (
            checkpoint["completed_at_ms"].as_i64(),
            checkpoint["source_state"]["offsets"].as_array(),
        ) else {
            continue;
        };
        let t_ms = completed - epoch_ms;
        let appended = append_times.partition_point(|t| *t <= t_ms) as i64;
        let consumed: i64 = offsets.iter().filter_map(serde_json::Value::as_i64).sum();
        tt_lag.push((t_ms, (appended - consumed).max(0)));
    }
    tt_lag.sort_unstable();
    let staleness: Vec<(i64, i64)> = output
        .world
        .observed
        .answers
        .borrow()
        .iter()
        .map(|a| (a.t_ms, a.staleness_ms))
        .collect();
    let trace = crate::report::perfetto::chrome_trace(
        output.world.trace.borrow().events(),
        &tt_lag,
        &staleness,
    );
    write_file(
        &dir.join("trace.perfetto.json"),
        &serde_json::to_vec(&trace).expect("trace serialises"),
    )
}

fn write_ods(dir: &Path, output: &Simulation) -> Result<(), OutputError> {
    let truth = output.world.observed.truth.borrow();
    let ledger = output.world.observed.ledger.borrow();
    for (partition, log) in ledger.partitions.iter().enumerate() {
        let events: Vec<_> = log.event_ids().filter_map(|id| truth.event(id)).collect();
        let column = |f: &dyn Fn(&warehouse::event::AdEvent) -> i64| {
            int_column(events.iter().map(f).collect())
        };
        let kinds: ArrayRef = Arc::new(StringArray::from(
            events
                .iter()
                .map(|e| EVENT_KIND_SYMBOLS[e.kind as usize])
                .collect::<Vec<_>>(),
        ));
        let mut fields = Vec::new();
        let mut columns = Vec::new();
        let mut push = |name: &str, data_type: DataType, array: ArrayRef| {
            fields.push(Field::new(name, data_type, false));
            columns.push(array);
        };
        push(
            "tt_offset",
            DataType::Int64,
            int_column((0..log.len() as i64).collect()),
        );
        push(
            "tt_append_sim_ms",
            DataType::Int64,
            int_column(log.appended_ms().collect()),
        );
        push("event_id", DataType::Int64, column(&|e| e.event_id as i64));
        push("event_time", DataType::Int64, column(&|e| e.event_time_ms));
        push(
            "advertiser_id",
            DataType::Int64,
            column(&|e| e.advertiser_id),
        );
        push("campaign_id", DataType::Int64, column(&|e| e.campaign_id));
        push("creative_id", DataType::Int64, column(&|e| e.creative_id));
        push("slot_id", DataType::Int64, column(&|e| e.slot_id));
        push("region_id", DataType::Int64, column(&|e| e.region_id));
        push("kind", DataType::Utf8, kinds);
        push("cost", DataType::Int64, column(&|e| e.cost_micros));
        push("gmv", DataType::Int64, column(&|e| e.gmv_micros));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| {
            OutputError::Export {
                what: "ODS".into(),
                reason: e.to_string(),
            }
        })?;
        let bytes = parquet_bytes(&batch).map_err(|reason| OutputError::Export {
            what: "ODS".into(),
            reason,
        })?;
        write_file(
            &dir.join(format!("ods/partition-{partition}.parquet")),
            &bytes,
        )?;
    }
    Ok(())
}

/// DWS merged at its latest snapshot, read with the warehouse's own table reader.
fn write_dws_export(dir: &Path, output: &Simulation) -> Result<(), OutputError> {
    let export_error = |reason: String| OutputError::Export {
        what: "DWS".into(),
        reason,
    };
    let store = MemStore::from_objects(output.objects.read_under(&format!("{DWS_TABLE_ROOT}/")));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| export_error(e.to_string()))?;
    let schema = dws_schema(output.world.scenario.dws.options());
    let rows = runtime.block_on(async {
        let table = FileStoreTable::create_or_open(store, DWS_TABLE_ROOT, schema, 0).await?;
        match table.latest_snapshot().await? {
            Some(snapshot) => table.read_all(&snapshot).await,
            None => Ok(Default::default()),
        }
    });
    let rows = rows.map_err(|e| export_error(e.to_string()))?;
    let fields: Vec<Field> = DWS_FIELD_NAMES
        .iter()
        .map(|n| Field::new(*n, DataType::Int64, false))
        .collect();
    let columns: Vec<ArrayRef> = (0..DWS_FIELD_NAMES.len())
        .map(|i| int_column(rows.values().map(|row| row[i]).collect()))
        .collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| export_error(e.to_string()))?;
    let bytes = parquet_bytes(&batch).map_err(export_error)?;
    write_file(&PathBuf::from(dir).join("export/dws.parquet"), &bytes)
}

/// The late-data side table merged at its latest snapshot (empty when nothing was too late), with
/// `kind` as its name, read with the warehouse's own table reader.
fn write_late_export(dir: &Path, output: &Simulation) -> Result<(), OutputError> {
    let export_error = |reason: String| OutputError::Export {
        what: "late-data side table".into(),
        reason,
    };
    let store = MemStore::from_objects(output.objects.read_under(&format!("{LATE_TABLE_ROOT}/")));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| export_error(e.to_string()))?;
    let rows = runtime.block_on(async {
        let table =
            FileStoreTable::create_or_open(store, LATE_TABLE_ROOT, late_schema(), 0).await?;
        match table.latest_snapshot().await? {
            Some(snapshot) => table.read_all(&snapshot).await,
            None => Ok(Default::default()),
        }
    });
    let rows = rows.map_err(|e| export_error(e.to_string()))?;
    let kind_index = LATE_FIELD_NAMES
        .iter()
        .position(|n| *n == "kind")
        .expect("the late table has a kind");
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (i, name) in LATE_FIELD_NAMES.iter().enumerate() {
        if i == kind_index {
            fields.push(Field::new(*name, DataType::Utf8, false));
            let kinds: Vec<&str> = rows
                .values()
                .map(|row| {
                    usize::try_from(row[i])
                        .ok()
                        .and_then(|k| EVENT_KIND_SYMBOLS.get(k))
                        .copied()
                        .unwrap_or("unknown")
                })
                .collect();
            columns.push(Arc::new(StringArray::from(kinds)));
        } else {
            fields.push(Field::new(*name, DataType::Int64, false));
            columns.push(int_column(rows.values().map(|row| row[i]).collect()));
        }
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| export_error(e.to_string()))?;
    let bytes = parquet_bytes(&batch).map_err(export_error)?;
    write_file(&PathBuf::from(dir).join("export/late.parquet"), &bytes)
}
