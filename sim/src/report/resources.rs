//! Resources a run used, at represented scale, for capacity planners: the task slots each job
//! reserved over the run (what a Flink cluster bills, in CU-hours) beside the core time its
//! work took, storage traffic, TT's peak backlog, and time series of the run for plan reports.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::topology::COMPACTOR;
use crate::world::{BUSY_WINDOW_MS, World};

/// Length of one point of the time series, in simulated ms (several busy windows).
pub const SERIES_STEP_MS: i64 = 60_000;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ResourcesReport {
    /// Production events per simulated event (`[traffic] represents`).
    pub represents: u64,
    /// The cost profile the run was charged with.
    pub cost_profile: String,
    pub usd_per_cu_hour: f64,
    /// Mean and peak (best 10 s window) production rate, simulated and represented.
    pub simulated_events_per_s_mean: f64,
    pub simulated_events_per_s_peak: f64,
    pub represented_events_per_s_mean: f64,
    pub represented_events_per_s_peak: f64,
    pub represented_events: u64,
    pub jobs: Vec<JobResources>,
    /// Slots reserved by every job together (1 slot = 1 CU = 1 core + 4 GiB).
    pub reserved_slots: u32,
    /// Reserved slots times the simulated run length.
    pub reserved_cu_hours: f64,
    /// What the reserved slots cost a day at `usd_per_cu_hour` (a reservation bills all day).
    pub usd_per_day: f64,
    pub storage: Vec<StorageResources>,
    /// Largest TT backlog (appended, not yet read by the DWD job), in represented records.
    pub tt_backlog_peak_records: u64,
    pub tt_backlog_peak_at_s: f64,
    /// The run over time, one point per [`SERIES_STEP_MS`].
    pub series: Vec<SeriesPoint>,
}

/// One job's reserved slots and how busy they were.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JobResources {
    pub job: String,
    pub slots: u32,
    pub reserved_cu_hours: f64,
    /// Core time the job's work took (every subtask's share summed).
    pub busy_core_hours: f64,
    /// Busy core time over reserved slot time, over the run.
    pub utilisation_pct: f64,
    /// The busiest 10 s window's utilisation.
    pub peak_utilisation_pct: f64,
}

/// What one storage system served, at represented scale.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StorageResources {
    pub storage: String,
    pub bytes_written: u64,
    pub bytes_read: u64,
    pub write_requests: u64,
    pub read_requests: u64,
    pub list_requests: u64,
    pub delete_requests: u64,
    pub files_written: u64,
    pub files_deleted: u64,
}

/// One point of the run's time series.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct SeriesPoint {
    /// Start of the step, simulated seconds.
    pub t_s: f64,
    /// Represented production rate over the step.
    pub represented_events_per_s: f64,
    /// Largest TT backlog in the step, represented records.
    pub tt_backlog_records: u64,
    /// Largest staleness of an answered report query in the step (None: no answer).
    pub dws_staleness_max_s: Option<f64>,
    /// The DWD job's core-time utilisation of its slots over the step.
    pub dwd_job_utilisation_pct: f64,
}

impl ResourcesReport {
    pub fn build(world: &World, simulated_ms: i64) -> Self {
        let scenario = &world.scenario;
        let represents = scenario.represents();
        let run_h = simulated_ms.max(1) as f64 / 3.6e6;
        let window_ns = BUSY_WINDOW_MS as f64 * 1e6;
        let truth = world.observed.truth.borrow();
        let mut produced_per_window: BTreeMap<i64, u64> = BTreeMap::new();
        for ms in truth.produced_ms() {
            *produced_per_window
                .entry(ms.div_euclid(BUSY_WINDOW_MS))
                .or_default() += 1;
        }
        let peak_window = produced_per_window.values().copied().max().unwrap_or(0);
        let simulated_mean = truth.len() as f64 / (simulated_ms.max(1) as f64 / 1e3);
        let simulated_peak = peak_window as f64 * 1e3 / BUSY_WINDOW_MS as f64;

        // Core time per host and window, from the busy meter.
        let meter = world.observed.busy.borrow();
        let mut core_ns: BTreeMap<&str, BTreeMap<i64, f64>> = BTreeMap::new();
        for ((host, _), windows) in &meter.windows {
            let per_host = core_ns.entry(host).or_default();
            for (&index, window) in windows {
                *per_host.entry(index).or_default() += window.core_ns;
            }
        }
        let topology = scenario.topology();
        let mut job_slots: Vec<(&str, u32)> = if topology.is_tt_era() {
            // TT era: the DWD job, and each store's own aggregation at the DWS job's
            // parallelism (the batch job runs on demand: see the pipeline figures).
            let mut jobs = vec![(crate::topology::SINGLE.dwd_job, scenario.jobs.parallelism)];
            jobs.extend(
                topology
                    .stores()
                    .iter()
                    .map(|store| (*store, scenario.jobs.dws_parallelism())),
            );
            jobs
        } else {
            topology
                .committing_jobs()
                .into_iter()
                .map(|job| (job, scenario.jobs.parallelism_of(job)))
                .collect()
        };
        if topology.compactor {
            // The dedicated compaction job: one slot per subtask.
            let parallelism = scenario
                .jobs
                .compactor
                .as_ref()
                .map_or(1, |c| c.parallelism);
            job_slots.push((COMPACTOR, parallelism));
        }
        let jobs: Vec<JobResources> = job_slots
            .iter()
            .map(|&(job, slots)| {
                let windows = core_ns.get(job);
                let busy_ns: f64 = windows.map_or(0.0, |w| w.values().sum());
                let peak_ns = windows.map_or(0.0, |w| w.values().copied().fold(0.0, f64::max));
                let reserved = f64::from(slots) * run_h;
                JobResources {
                    job: job.to_string(),
                    slots,
                    reserved_cu_hours: reserved,
                    busy_core_hours: busy_ns / 3.6e12,
                    utilisation_pct: busy_ns / 3.6e12 * 100.0 / reserved.max(1e-12),
                    peak_utilisation_pct: peak_ns * 100.0 / (f64::from(slots) * window_ns),
                }
            })
            .collect();
        let reserved_slots: u32 = job_slots.iter().map(|(_, slots)| slots).sum();
        let usd_per_cu_hour = scenario.cost.usd_per_cu_hour;

        let storage = topology
            .chains()
            .iter()
            .map(|chain| {
                let t = *world.storage(*chain).traffic.borrow();
                StorageResources {
                    storage: chain.storage.to_string(),
                    bytes_written: t.bytes_written,
                    bytes_read: t.bytes_read,
                    write_requests: t.write_requests,
                    read_requests: t.read_requests,
                    list_requests: t.list_requests,
                    delete_requests: t.delete_requests,
                    files_written: t.files_written,
                    files_deleted: t.files_deleted,
                }
            })
            .collect();

        let backlog = world.observed.tt_backlog.borrow();
        let (peak_index, peak_backlog) = backlog
            .peak_per_window
            .iter()
            .map(|(&i, &b)| (i, b))
            .fold((0, 0), |best, w| if w.1 > best.1 { w } else { best });

        let series = Self::series(
            world,
            simulated_ms,
            &produced_per_window,
            &backlog.peak_per_window,
            core_ns.get("dwd-job"),
        );
        Self {
            represents,
            cost_profile: scenario.cost.profile.name().to_string(),
            usd_per_cu_hour,
            simulated_events_per_s_mean: simulated_mean,
            simulated_events_per_s_peak: simulated_peak,
            represented_events_per_s_mean: simulated_mean * represents as f64,
            represented_events_per_s_peak: simulated_peak * represents as f64,
            represented_events: (truth.len() as u64).saturating_mul(represents),
            jobs,
            reserved_slots,
            reserved_cu_hours: f64::from(reserved_slots) * run_h,
            usd_per_day: f64::from(reserved_slots) * 24.0 * usd_per_cu_hour,
            storage,
            tt_backlog_peak_records: peak_backlog.saturating_mul(represents),
            tt_backlog_peak_at_s: (peak_index * BUSY_WINDOW_MS) as f64 / 1e3,
            series,
        }
    }

    fn series(
        world: &World,
        simulated_ms: i64,
        produced_per_window: &BTreeMap<i64, u64>,
        backlog_per_window: &BTreeMap<i64, u64>,
        dwd_core_ns: Option<&BTreeMap<i64, f64>>,
    ) -> Vec<SeriesPoint> {
        let represents = world.scenario.represents();
        let windows_per_step = SERIES_STEP_MS / BUSY_WINDOW_MS;
        let steps = (simulated_ms.max(0) + SERIES_STEP_MS - 1) / SERIES_STEP_MS;
        let mut staleness_max: BTreeMap<i64, i64> = BTreeMap::new();
        for answer in world.observed.answers.borrow().iter() {
            let step = answer.t_ms.div_euclid(SERIES_STEP_MS);
            let max = staleness_max.entry(step).or_insert(answer.staleness_ms);
            *max = (*max).max(answer.staleness_ms);
        }
        let dwd_slots = f64::from(world.scenario.jobs.parallelism);
        (0..steps)
            .map(|step| {
                let windows = step * windows_per_step..(step + 1) * windows_per_step;
                let produced: u64 = produced_per_window
                    .range(windows.clone())
                    .map(|(_, n)| n)
                    .sum();
                let backlog = backlog_per_window
                    .range(windows.clone())
                    .map(|(_, b)| *b)
                    .max()
                    .unwrap_or(0);
                let core_ns: f64 =
                    dwd_core_ns.map_or(0.0, |w| w.range(windows).map(|(_, ns)| ns).sum());
                SeriesPoint {
                    t_s: (step * SERIES_STEP_MS) as f64 / 1e3,
                    represented_events_per_s: produced as f64 * represents as f64 * 1e3
                        / SERIES_STEP_MS as f64,
                    tt_backlog_records: backlog.saturating_mul(represents),
                    dws_staleness_max_s: staleness_max.get(&step).map(|ms| *ms as f64 / 1e3),
                    dwd_job_utilisation_pct: core_ns * 100.0
                        / (dwd_slots * SERIES_STEP_MS as f64 * 1e6),
                }
            })
            .collect()
    }

    /// Lines for the run summary.
    pub fn render(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let scale = if self.represents > 1 {
            format!(
                "each simulated event stands for {} production events: {} simulated events/s mean, {} at peak = {} represented events/s mean, {} at peak",
                self.represents,
                si(self.simulated_events_per_s_mean),
                si(self.simulated_events_per_s_peak),
                si(self.represented_events_per_s_mean),
                si(self.represented_events_per_s_peak)
            )
        } else {
            format!(
                "simulated at production scale: {} events/s mean, {} at peak",
                si(self.simulated_events_per_s_mean),
                si(self.simulated_events_per_s_peak)
            )
        };
        lines.push(format!(
            "scale: {scale} (cost profile {})",
            self.cost_profile
        ));
        let jobs: Vec<String> = self
            .jobs
            .iter()
            .map(|j| {
                format!(
                    "{} {} slots, {:.0}% busy (peak {:.0}%)",
                    j.job, j.slots, j.utilisation_pct, j.peak_utilisation_pct
                )
            })
            .collect();
        lines.push(format!(
            "resources: {} task slots reserved ({:.2} CU-hours over the run, ${:.2} a day at ${}/CU-hour): {}",
            self.reserved_slots,
            self.reserved_cu_hours,
            self.usd_per_day,
            self.usd_per_cu_hour,
            jobs.join("; ")
        ));
        for s in &self.storage {
            lines.push(format!(
                "storage {}: {} written, {} read; {} write, {} read, {} list, {} delete requests; {} files written, {} deleted",
                s.storage,
                bytes(s.bytes_written),
                bytes(s.bytes_read),
                s.write_requests,
                s.read_requests,
                s.list_requests,
                s.delete_requests,
                s.files_written,
                s.files_deleted
            ));
        }
        lines.push(format!(
            "TT backlog: peak {} records at {:.0} s",
            si(self.tt_backlog_peak_records as f64),
            self.tt_backlog_peak_at_s
        ));
        lines
    }
}

/// A count with an SI suffix: 1.2k, 20.5M, 3.1G.
pub fn si(value: f64) -> String {
    let (scaled, suffix) = match value.abs() {
        v if v >= 1e12 => (value / 1e12, "T"),
        v if v >= 1e9 => (value / 1e9, "G"),
        v if v >= 1e6 => (value / 1e6, "M"),
        v if v >= 1e3 => (value / 1e3, "k"),
        _ => (value, ""),
    };
    if suffix.is_empty() {
        format!("{scaled:.0}")
    } else {
        format!("{scaled:.1}{suffix}")
    }
}

/// Bytes in binary units: 512 B, 1.5 MiB, 3.2 TiB.
pub fn bytes(value: u64) -> String {
    let v = value as f64;
    let units = [
        ("TiB", 1u64 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (unit, size) in units {
        if value >= size {
            return format!("{:.1} {unit}", v / size as f64);
        }
    }
    format!("{value} B")
}
