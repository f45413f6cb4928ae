//! `dwsim bench`: how fast and how big a scenario runs, so the speed and memory targets of issue 12
//! can be reproduced by anyone: per seed the events and simulated seconds per wall second, the
//! wall time, the peak RSS read from the OS, and a bare turmoil world (same hosts, tick and
//! simulated duration, idle timer loops only) measured in the same process as the reference the
//! run's speed is a ratio of, turmoil's floor (the same hosts asleep: the least wall time any
//! run can take while turmoil steps one fixed tick at a time), and the Parquet floor (arrow-rs
//! alone encoding and decoding as many values as the run's files did). Measuring only: nothing
//! here reaches a run or its trace.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::report::summary::Summary;
use crate::scenario::Scenario;
use crate::world::StoredObjects;

/// How peak RSS is measured, as the output says it.
pub const RSS_METHOD: &str = "VmHWM of a fresh child process per seed, read right after the run and its checkers (before the bare reference runs)";

/// The bare turmoil reference: the same number of hosts, the same tick and the same simulated
/// duration as the run, each host an idle loop sleeping one tick at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bare {
    pub hosts: usize,
    pub tick_ms: i64,
    pub simulated_s: f64,
    pub wall_s: f64,
    pub simulated_s_per_wall_s: f64,
}

/// Turmoil's floor: the run's hosts asleep through its whole simulated duration, so each tick
/// costs only turmoil's own stepping (a fixed tick for every host, awake or not). No run of the
/// scenario can go faster while turmoil advances time one tick at a time; the ceilings say what
/// that allows even if the warehouse and its checkers cost nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Floor {
    pub wall_s: f64,
    /// The run's events over `wall_s`.
    pub events_per_wall_s_ceiling: f64,
    /// The run's simulated seconds over `wall_s`.
    pub simulated_s_per_wall_s_ceiling: f64,
}

/// arrow-rs's own cost for the Parquet work of a run: the values its table store and its
/// checkers encoded and decoded (counted during the run, `warehouse::table::parquet_work`), at
/// the speed arrow-rs encodes and decodes this run's own live files (timed after the run, the
/// fastest of a few passes, without dictionaries). Whatever the warehouse does around its files,
/// a run that writes and reads them takes this long on top of turmoil's floor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParquetFloor {
    pub files_encoded: u64,
    pub values_encoded: u64,
    pub files_decoded: u64,
    pub values_decoded: u64,
    /// Values in the live files timed (0: the run left no Parquet file to time).
    pub sample_values: u64,
    pub encode_ns_per_value: f64,
    pub decode_ns_per_value: f64,
    pub wall_s: f64,
    /// The run's events over turmoil's floor plus this floor.
    pub events_per_wall_s_ceiling: f64,
    /// The run's simulated seconds over turmoil's floor plus this floor.
    pub simulated_s_per_wall_s_ceiling: f64,
    /// `simulated_s_per_wall_s_ceiling` over the bare reference's simulated s per wall s.
    pub ratio_to_bare_ceiling: f64,
}

/// One seed's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchRun {
    pub seed: u64,
    pub verdict: String,
    pub trace_hash: String,
    pub events: u64,
    pub simulated_s: f64,
    /// Simulating and checking, as `dwsim run` reports it.
    pub wall_s: f64,
    /// Of `wall_s`, the simulation alone.
    pub simulate_wall_s: f64,
    pub events_per_wall_s: f64,
    pub simulated_s_per_wall_s: f64,
    /// Peak resident set size; `None` where the OS does not say (not Linux).
    pub peak_rss_bytes: Option<u64>,
    pub bare: Bare,
    /// `simulated_s_per_wall_s / bare.simulated_s_per_wall_s`.
    pub ratio_to_bare: f64,
    pub floor: Floor,
    pub parquet_floor: ParquetFloor,
}

/// Medians over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Medians {
    pub events_per_wall_s: f64,
    pub simulated_s_per_wall_s: f64,
    pub wall_s: f64,
    pub peak_rss_bytes: Option<u64>,
    pub bare_simulated_s_per_wall_s: f64,
    pub ratio_to_bare: f64,
    pub floor_wall_s: f64,
    pub floor_events_per_wall_s_ceiling: f64,
    pub floor_simulated_s_per_wall_s_ceiling: f64,
    /// Seeds per minute `sweep --jobs 2` could reach on two cores if a seed cost only turmoil's
    /// floor (no process start, no warehouse, no checkers).
    pub floor_seeds_per_minute_ceiling_jobs_2: f64,
    pub parquet_floor_wall_s: f64,
    pub parquet_encode_ns_per_value: f64,
    pub parquet_decode_ns_per_value: f64,
    /// With turmoil's floor and the Parquet floor together.
    pub floors_events_per_wall_s_ceiling: f64,
    pub floors_simulated_s_per_wall_s_ceiling: f64,
    pub floors_seeds_per_minute_ceiling_jobs_2: f64,
    pub floors_ratio_to_bare_ceiling: f64,
}

/// A whole bench: every seed and the medians.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub scenario: String,
    pub git_commit: String,
    pub rss_method: String,
    pub runs: Vec<BenchRun>,
    pub medians: Medians,
}

/// Runs `scenario` with `seed` and checks it, then times arrow-rs on its live files, the bare
/// reference and turmoil's floor, in this process. The peak RSS is this process's high-water
/// mark after the run (read before anything else runs): honest per run only in a process that
/// ran nothing before it (the CLI runs each seed in a child process).
pub fn bench_seed(
    scenario: Scenario,
    scenario_path: &str,
    git_commit: &str,
    seed: u64,
) -> BenchRun {
    let tick_ms = scenario.run.tick.0;
    let epoch_ms = scenario.run.epoch_ms;
    let _ = warehouse::table::parquet_work::take();
    let started = crate::campaign::sweep::wall_clock();
    // As `dwsim run` without `--out`: the trace's hash and counts, no events kept.
    let trace = crate::trace::Trace::hash_only();
    let simulation = crate::run::simulate_traced(scenario, seed, trace);
    let simulate_wall_s = started.elapsed().as_secs_f64();
    let hosts = simulation.hosts;
    let run = crate::check::check(simulation);
    let wall_s = started.elapsed().as_secs_f64();
    let work = warehouse::table::parquet_work::take();
    let summary = Summary::build(&run, scenario_path, git_commit, wall_s);
    let peak_rss_bytes = peak_rss_bytes();
    let simulated_ms = run.simulation.simulated_ms;
    let speed = parquet_speed(&run.simulation.objects);
    drop(run);
    let bare = bare_reference(hosts, tick_ms, simulated_ms, epoch_ms);
    let floor_wall_s = turmoil_floor(hosts, tick_ms, simulated_ms, epoch_ms)
        .1
        .max(1e-9);
    let floor = Floor {
        wall_s: floor_wall_s,
        events_per_wall_s_ceiling: summary.events_produced as f64 / floor_wall_s,
        simulated_s_per_wall_s_ceiling: simulated_ms as f64 / 1e3 / floor_wall_s,
    };
    let parquet_wall_s = (work.values_encoded as f64 * speed.encode_ns_per_value
        + work.values_decoded as f64 * speed.decode_ns_per_value)
        / 1e9;
    let floors_wall_s = floor_wall_s + parquet_wall_s;
    let floors_simulated_s_per_wall_s = simulated_ms as f64 / 1e3 / floors_wall_s;
    let parquet_floor = ParquetFloor {
        files_encoded: work.files_encoded,
        values_encoded: work.values_encoded,
        files_decoded: work.files_decoded,
        values_decoded: work.values_decoded,
        sample_values: speed.values,
        encode_ns_per_value: speed.encode_ns_per_value,
        decode_ns_per_value: speed.decode_ns_per_value,
        wall_s: parquet_wall_s,
        events_per_wall_s_ceiling: summary.events_produced as f64 / floors_wall_s,
        simulated_s_per_wall_s_ceiling: floors_simulated_s_per_wall_s,
        ratio_to_bare_ceiling: floors_simulated_s_per_wall_s
            / bare.simulated_s_per_wall_s.max(1e-9),
    };
    let simulated_s_per_wall_s = summary.wall.simulated_s_per_wall_s;
    BenchRun {
        seed,
        verdict: summary.verdict.clone(),
        trace_hash: summary.trace_hash.clone(),
        events: summary.events_produced,
        simulated_s: simulated_ms as f64 / 1e3,
        wall_s,
        simulate_wall_s,
        events_per_wall_s: summary.wall.events_per_wall_s,
        simulated_s_per_wall_s,
        peak_rss_bytes,
        ratio_to_bare: simulated_s_per_wall_s / bare.simulated_s_per_wall_s.max(1e-9),
        bare,
        floor,
        parquet_floor,
    }
}

/// Values of the run's live Parquet files timed at most (about 64 MB of 64-bit values): enough
/// for a stable speed, little next to the run.
const PARQUET_SAMPLE_VALUES_MAX: u64 = 8_000_000;

/// Passes over the sample; the fastest counts (a floor, not a typical time).
const PARQUET_SAMPLE_PASSES: usize = 3;

/// How fast arrow-rs decodes and re-encodes a run's own Parquet files.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct ParquetSpeed {
    values: u64,
    encode_ns_per_value: f64,
    decode_ns_per_value: f64,
}

/// Times arrow-rs on the live Parquet files in `objects`, the largest first (ties in path order)
/// up to [`PARQUET_SAMPLE_VALUES_MAX`] values: each decoded whole, then its batches encoded
/// again with the file's own compression and no dictionary pages (the cheapest way arrow-rs
/// writes them). Large files spread arrow-rs's cost per file over the most values, so the speed
/// is its best per value, as a floor should be. A file arrow-rs cannot read is left out; no file
/// at all gives zero speeds.
fn parquet_speed(objects: &StoredObjects) -> ParquetSpeed {
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::properties::WriterProperties;

    let mut largest_first: Vec<(usize, &String)> = objects
        .sizes()
        .filter(|(path, _)| path.ends_with(".parquet"))
        .map(|(path, size)| (size, path))
        .collect();
    largest_first.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let mut sample = Vec::new();
    let mut values = 0u64;
    for (_, path) in largest_first {
        if values >= PARQUET_SAMPLE_VALUES_MAX {
            break;
        }
        let Some(bytes) = objects.get(path) else {
            continue;
        };
        let bytes = bytes::Bytes::from(bytes);
        let Ok(builder) = ParquetRecordBatchReaderBuilder::try_new(bytes.clone()) else {
            continue;
        };
        let compression = builder
            .metadata()
            .row_groups()
            .first()
            .and_then(|group| group.columns().first())
            .map_or(parquet::basic::Compression::UNCOMPRESSED, |column| {
                column.compression()
            });
        let Ok(reader) = builder.build() else {
            continue;
        };
        let Ok(batches) = reader.collect::<Result<Vec<_>, _>>() else {
            continue;
        };
        if batches.is_empty() {
            continue;
        }
        values += batches
            .iter()
            .map(|batch| (batch.num_rows() * batch.num_columns()) as u64)
            .sum::<u64>();
        sample.push((bytes, compression, batches));
    }
    if values == 0 {
        return ParquetSpeed::default();
    }
    let mut decode_s = f64::INFINITY;
    let mut encode_s = f64::INFINITY;
    for _ in 0..PARQUET_SAMPLE_PASSES {
        let started = crate::campaign::sweep::wall_clock();
        for (bytes, ..) in &sample {
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
                .and_then(|builder| builder.build())
                .expect("read once already");
            for batch in reader {
                std::hint::black_box(batch.expect("read once already"));
            }
        }
        decode_s = decode_s.min(started.elapsed().as_secs_f64());
        let started = crate::campaign::sweep::wall_clock();
        for (bytes, compression, batches) in &sample {
            let props = WriterProperties::builder()
                .set_compression(*compression)
                .set_dictionary_enabled(false)
                .build();
            let mut writer = ArrowWriter::try_new(
                Vec::with_capacity(bytes.len()),
                batches[0].schema(),
                Some(props),
            )
            .expect("a schema arrow-rs just read");
            for batch in batches {
                writer.write(batch).expect("a batch arrow-rs just read");
            }
            std::hint::black_box(writer.into_inner().expect("an in-memory file"));
        }
        encode_s = encode_s.min(started.elapsed().as_secs_f64());
    }
    ParquetSpeed {
        values,
        encode_ns_per_value: encode_s * 1e9 / values as f64,
        decode_ns_per_value: decode_s * 1e9 / values as f64,
    }
}

/// A turmoil world of `hosts` idle hosts stepped for `simulated_ms` at `tick_ms`, timed.
pub fn bare_reference(hosts: usize, tick_ms: i64, simulated_ms: i64, epoch_ms: i64) -> Bare {
    let tick = Duration::from_millis(tick_ms.max(1) as u64);
    let (simulated_s, wall_s) = step_turmoil(hosts, tick_ms, simulated_ms, epoch_ms, tick);
    Bare {
        hosts,
        tick_ms,
        simulated_s,
        wall_s,
        simulated_s_per_wall_s: simulated_s / wall_s.max(1e-9),
    }
}

/// Turmoil stepping `hosts` hosts, each asleep until after the end, through `simulated_ms` at
/// `tick_ms`: (simulated s, wall s). See [`Floor`].
pub fn turmoil_floor(hosts: usize, tick_ms: i64, simulated_ms: i64, epoch_ms: i64) -> (f64, f64) {
    let asleep = Duration::from_millis(simulated_ms.max(0) as u64 + 600_000);
    step_turmoil(hosts, tick_ms, simulated_ms, epoch_ms, asleep)
}

/// Steps a turmoil world of `hosts` hosts, each a loop sleeping `host_sleep`, through
/// `simulated_ms` at `tick_ms`: (simulated s, wall s).
fn step_turmoil(
    hosts: usize,
    tick_ms: i64,
    simulated_ms: i64,
    epoch_ms: i64,
    host_sleep: Duration,
) -> (f64, f64) {
    let tick = Duration::from_millis(tick_ms.max(1) as u64);
    let mut builder = turmoil::Builder::new();
    builder
        .rng_seed(0)
        .epoch(SystemTime::UNIX_EPOCH + Duration::from_millis(epoch_ms.max(0) as u64))
        .tick_duration(tick)
        .simulation_duration(Duration::from_millis(simulated_ms.max(0) as u64 + 600_000));
    let mut sim = builder.build();
    for index in 0..hosts {
        sim.host(format!("bare-{index}"), move || async move {
            loop {
                tokio::time::sleep(host_sleep).await;
            }
        });
    }
    let started = crate::campaign::sweep::wall_clock();
    while (sim.elapsed().as_millis() as i64) < simulated_ms {
        if sim.step().is_err() {
            break;
        }
    }
    let wall_s = started.elapsed().as_secs_f64();
    (sim.elapsed().as_secs_f64(), wall_s)
}

/// This process's peak resident set size (`VmHWM` in `/proc/self/status`), where the OS says.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The median of `values` (the mean of the middle two for an even count); 0 for none.
fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.into_iter().collect();
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

/// The median over `runs` of one figure of each.
fn median_of(runs: &[BenchRun], figure: fn(&BenchRun) -> f64) -> f64 {
    median(runs.iter().map(figure))
}

/// Seeds per minute `sweep --jobs 2` reaches on two cores if a seed takes `wall_s`.
fn seeds_per_minute_jobs_2(wall_s: f64) -> f64 {
    2.0 * 60.0 / wall_s.max(1e-9)
}

impl BenchReport {
    pub fn new(scenario: &str, git_commit: &str, runs: Vec<BenchRun>) -> Self {
        let rss: Option<Vec<f64>> = runs
            .iter()
            .map(|r| r.peak_rss_bytes.map(|b| b as f64))
            .collect();
        let med = |figure| median_of(&runs, figure);
        let medians = Medians {
            events_per_wall_s: med(|r| r.events_per_wall_s),
            simulated_s_per_wall_s: med(|r| r.simulated_s_per_wall_s),
            wall_s: med(|r| r.wall_s),
            peak_rss_bytes: rss.filter(|v| !v.is_empty()).map(|v| median(v) as u64),
            bare_simulated_s_per_wall_s: med(|r| r.bare.simulated_s_per_wall_s),
            ratio_to_bare: med(|r| r.ratio_to_bare),
            floor_wall_s: med(|r| r.floor.wall_s),
            floor_events_per_wall_s_ceiling: med(|r| r.floor.events_per_wall_s_ceiling),
            floor_simulated_s_per_wall_s_ceiling: med(|r| r.floor.simulated_s_per_wall_s_ceiling),
            floor_seeds_per_minute_ceiling_jobs_2: med(|r| seeds_per_minute_jobs_2(r.floor.wall_s)),
            parquet_floor_wall_s: med(|r| r.parquet_floor.wall_s),
            parquet_encode_ns_per_value: med(|r| r.parquet_floor.encode_ns_per_value),
            parquet_decode_ns_per_value: med(|r| r.parquet_floor.decode_ns_per_value),
            floors_events_per_wall_s_ceiling: med(|r| r.parquet_floor.events_per_wall_s_ceiling),
            floors_simulated_s_per_wall_s_ceiling: med(|r| {
                r.parquet_floor.simulated_s_per_wall_s_ceiling
            }),
            floors_seeds_per_minute_ceiling_jobs_2: med(|r| {
                seeds_per_minute_jobs_2(r.floor.wall_s + r.parquet_floor.wall_s)
            }),
            floors_ratio_to_bare_ceiling: med(|r| r.parquet_floor.ratio_to_bare_ceiling),
        };
        Self {
            scenario: scenario.to_string(),
            git_commit: git_commit.to_string(),
            rss_method: RSS_METHOD.to_string(),
            runs,
            medians,
        }
    }

    /// The plain-text table: one line per seed, then the medians.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "bench {} (git {})", self.scenario, self.git_commit);
        let _ = writeln!(out, "peak RSS: {}", self.rss_method);
        let _ = writeln!(
            out,
            "bare reference: a turmoil world with the run's hosts, tick and simulated duration, idle timer loops only, in the same process; ratio = run's simulated s per wall s / bare's"
        );
        let _ = writeln!(
            out,
            "{:>6} {:>7} {:>10} {:>12} {:>10} {:>9} {:>10} {:>12} {:>7}  trace-hash",
            "seed",
            "verdict",
            "events",
            "events/wall",
            "sim/wall",
            "wall s",
            "peak RSS",
            "bare sim/wall",
            "ratio"
        );
        for r in &self.runs {
            let _ = writeln!(
                out,
                "{:>6} {:>7} {:>10} {:>12.0} {:>10.1} {:>9.2} {:>10} {:>12.1} {:>7.3}  {}",
                r.seed,
                r.verdict,
                r.events,
                r.events_per_wall_s,
                r.simulated_s_per_wall_s,
                r.wall_s,
                rss_text(r.peak_rss_bytes),
                r.bare.simulated_s_per_wall_s,
                r.ratio_to_bare,
                r.trace_hash
            );
        }
        let m = &self.medians;
        let _ = writeln!(
            out,
            "median over {} seeds: {:.0} events per wall s, {:.1} simulated s per wall s, {:.2} wall s, peak RSS {}, bare {:.1} simulated s per wall s ({} hosts, tick {} ms), ratio {:.3}",
            self.runs.len(),
            m.events_per_wall_s,
            m.simulated_s_per_wall_s,
            m.wall_s,
            rss_text(m.peak_rss_bytes),
            m.bare_simulated_s_per_wall_s,
            self.runs.first().map_or(0, |r| r.bare.hosts),
            self.runs.first().map_or(0, |r| r.bare.tick_ms),
            m.ratio_to_bare
        );
        let _ = writeln!(
            out,
            "turmoil floor: {:.2} wall s to step the run's hosts, asleep, through its {:.0} simulated s one tick at a time; even if the warehouse and its checkers cost nothing, a run could reach at most {:.0} events per wall s, {:.1} simulated s per wall s, {:.0} seeds per minute with `sweep --jobs 2` on two cores",
            m.floor_wall_s,
            median_of(&self.runs, |r| r.simulated_s),
            m.floor_events_per_wall_s_ceiling,
            m.floor_simulated_s_per_wall_s_ceiling,
            m.floor_seeds_per_minute_ceiling_jobs_2
        );
        let run_median = |figure| median_of(&self.runs, figure);
        let no_parquet = self
            .runs
            .iter()
            .all(|r| r.parquet_floor.values_encoded == 0 && r.parquet_floor.values_decoded == 0);
        if no_parquet {
            let _ = writeln!(
                out,
                "Parquet floor: none, the runs wrote and read no Parquet file"
            );
            return out;
        }
        let _ = writeln!(
            out,
            "Parquet floor: {:.2} wall s for arrow-rs alone to encode the {:.1} M values the run wrote to Parquet ({:.0} files) and decode the {:.1} M it read back ({:.0} file reads, checkers included), at {:.1} ns a value to encode and {:.1} to decode (its fastest on this run's largest live files, medians over the seeds); with turmoil's floor, a run could reach at most {:.0} events per wall s, {:.1} simulated s per wall s, {:.0} seeds per minute with `sweep --jobs 2`, a ratio of {:.3} to the bare reference",
            m.parquet_floor_wall_s,
            run_median(|r| r.parquet_floor.values_encoded as f64 / 1e6),
            run_median(|r| r.parquet_floor.files_encoded as f64),
            run_median(|r| r.parquet_floor.values_decoded as f64 / 1e6),
            run_median(|r| r.parquet_floor.files_decoded as f64),
            m.parquet_encode_ns_per_value,
            m.parquet_decode_ns_per_value,
            m.floors_events_per_wall_s_ceiling,
            m.floors_simulated_s_per_wall_s_ceiling,
            m.floors_seeds_per_minute_ceiling_jobs_2,
            m.floors_ratio_to_bare_ceiling
        );
        out
    }
}

/// Bytes as MB, or `unknown` where the OS did not say.
fn rss_text(bytes: Option<u64>) -> String {
    match bytes {
        Some(b) => format!("{:.0} MB", b as f64 / 1e6),
        None => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median([3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median([4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median([]), 0.0);
    }

    fn run_with_floor(seed: u64, floor_wall_s: f64) -> BenchRun {
        BenchRun {
            seed,
            verdict: "PASS".into(),
            trace_hash: String::new(),
            events: 90_000,
            simulated_s: 150.0,
            wall_s: 0.7,
            simulate_wall_s: 0.6,
            events_per_wall_s: 90_000.0 / 0.7,
            simulated_s_per_wall_s: 150.0 / 0.7,
            peak_rss_bytes: None,
            bare: Bare {
                hosts: 6,
                tick_ms: 10,
                simulated_s: 150.0,
                wall_s: 0.25,
                simulated_s_per_wall_s: 600.0,
            },
            ratio_to_bare: 0.35,
            floor: Floor {
                wall_s: floor_wall_s,
                events_per_wall_s_ceiling: 90_000.0 / floor_wall_s,
                simulated_s_per_wall_s_ceiling: 150.0 / floor_wall_s,
            },
            parquet_floor: ParquetFloor {
                files_encoded: 500,
                values_encoded: 2_000_000,
                files_decoded: 900,
                values_decoded: 3_000_000,
                sample_values: 1_000_000,
                encode_ns_per_value: 20.0,
                decode_ns_per_value: 10.0,
                wall_s: 0.07,
                events_per_wall_s_ceiling: 90_000.0 / (floor_wall_s + 0.07),
                simulated_s_per_wall_s_ceiling: 150.0 / (floor_wall_s + 0.07),
                ratio_to_bare_ceiling: 150.0 / (floor_wall_s + 0.07) / 600.0,
            },
        }
    }

    #[test]
    fn the_seeds_per_minute_ceiling_is_two_cores_over_the_median_floor() {
        let report = BenchReport::new(
            "smoke",
            "x",
            vec![
                run_with_floor(1, 0.3),
                run_with_floor(2, 0.2),
                run_with_floor(3, 0.25),
            ],
        );
        assert!((report.medians.floor_seeds_per_minute_ceiling_jobs_2 - 480.0).abs() < 1e-9);
        assert!(
            report.render().contains("480 seeds per minute"),
            "{}",
            report.render()
        );
    }

    /// A Parquet file of `rows` rows of two INT64 columns, as arrow-rs writes it.
    fn parquet_file(rows: i64) -> Vec<u8> {
        use arrow_array::{ArrayRef, Int64Array, RecordBatch};
        let ids: ArrayRef = std::sync::Arc::new(Int64Array::from_iter_values(0..rows));
        let costs: ArrayRef =
            std::sync::Arc::new(Int64Array::from_iter_values((0..rows).map(|i| i * 7)));
        let batch = RecordBatch::try_from_iter([("id", ids), ("cost", costs)]).unwrap();
        let mut bytes = Vec::new();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        bytes
    }

    #[test]
    fn the_parquet_speed_is_timed_on_the_readable_parquet_files_only() {
        let mut objects = StoredObjects::default();
        objects.insert("t/bucket-0/data-1.parquet".into(), parquet_file(1000));
        objects.insert("t/bucket-0/data-2.parquet".into(), parquet_file(500));
        objects.insert("t/bucket-0/data-3.parquet".into(), b"not parquet".to_vec());
        objects.insert("t/snapshot/snapshot-1".into(), parquet_file(4000));
        let speed = parquet_speed(&objects);
        assert_eq!(speed.values, 2 * 1500, "{speed:?}");
        assert!(speed.encode_ns_per_value > 0.0 && speed.decode_ns_per_value > 0.0);
        assert_eq!(
            parquet_speed(&StoredObjects::default()),
            ParquetSpeed::default()
        );
    }

    #[test]
    fn the_floor_steps_the_whole_duration() {
        // Its wall time depends on the machine: only the stepped duration is asserted.
        let (simulated_s, _) = turmoil_floor(3, 10, 2_000, 0);
        assert!(simulated_s >= 2.0, "stepped {simulated_s} s of 2");
    }

    #[test]
    fn bare_reference_steps_the_whole_duration() {
        let bare = bare_reference(3, 10, 2_000, 0);
        assert!(bare.simulated_s >= 2.0);
        assert_eq!(bare.hosts, 3);
    }
}
