//! The architecture comparison's resource figures: what a run of either architecture reserves
//! and stores, at represented scale, so the lakehouse and the TT era compare on one table. The
//! streaming jobs' reserved slot-hours come from the resources report; the TT era's batch job
//! runs on demand (MaxCompute bills the compute a run uses), so its busy core-hours are added.
//! Storage is what each architecture writes besides the ODS topic both share: the lakehouse's
//! tables (and checkpoints) on `dfs`; the TT era's checkpoints, its DWD topic and each store's
//! copy.

use serde::Serialize;
use warehouse::tt::broker::STORED_RECORD_SIZE_BYTES;

use crate::report::resources::ResourcesReport;
use crate::topology::BATCH_JOB;
use crate::world::World;

/// Resources of one run, for the before/after table.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PipelineResources {
    /// Reserved task slots x the run, over the streaming jobs.
    pub reserved_cu_hours: f64,
    /// The batch job's busy core-hours (TT era; 0 in the lakehouse).
    pub on_demand_cu_hours: f64,
    pub total_cu_hours: f64,
    /// (what, bytes written), at represented scale.
    pub storage_bytes: Vec<(String, u64)>,
    pub storage_bytes_total: u64,
}

impl PipelineResources {
    pub fn build(world: &World, resources: &ResourcesReport) -> Self {
        let meter = world.observed.busy.borrow();
        let batch_ns: f64 = meter
            .windows
            .iter()
            .filter(|((host, _), _)| *host == BATCH_JOB)
            .flat_map(|(_, windows)| windows.values().map(|w| w.core_ns))
            .fold(0.0, |total, ns| total + ns);
        let on_demand_cu_hours = batch_ns / 3.6e12;
        let mut storage_bytes: Vec<(String, u64)> = resources
            .storage
            .iter()
            .map(|s| {
                (
                    format!("{} (tables, checkpoints)", s.storage),
                    s.bytes_written,
                )
            })
            .collect();
        if world.scenario.pipeline.is_tt_era() {
            let observed = world.observed.tt_era.borrow();
            let topic_bytes = observed
                .dwd_topic_records
                .saturating_mul(STORED_RECORD_SIZE_BYTES as u64)
                .saturating_mul(world.scenario.represents());
            storage_bytes.push(("DWD topic on TT".into(), topic_bytes));
            for (store, appends) in &observed.store_appends {
                let bytes: usize = appends.iter().map(|(_, b)| b.len()).sum();
                storage_bytes.push((store.clone(), bytes as u64));
            }
        }
        Self {
            reserved_cu_hours: resources.reserved_cu_hours,
            on_demand_cu_hours,
            total_cu_hours: resources.reserved_cu_hours + on_demand_cu_hours,
            storage_bytes_total: storage_bytes.iter().map(|(_, b)| b).sum(),
            storage_bytes,
        }
    }

    pub fn render(&self) -> String {
        let parts: Vec<String> = self
            .storage_bytes
            .iter()
            .map(|(what, bytes)| format!("{what} {:.1} MiB", *bytes as f64 / 1048576.0))
            .collect();
        format!(
            "  resources: {:.2} CU-hours ({:.2} reserved by the streaming jobs, {:.2} on demand by the batch job); storage written {:.1} MiB: {}",
            self.total_cu_hours,
            self.reserved_cu_hours,
            self.on_demand_cu_hours,
            self.storage_bytes_total as f64 / 1048576.0,
            parts.join(", ")
        )
    }
}
