//! `[cost]`: the simulated time each operator spends per record and per byte. Work takes no
//! simulated time by itself, so this table is what turns the warehouse's reported work into
//! backpressure, freshness and capacity figures.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use warehouse::env::CostOperator;

/// Simulated time one operator spends per record and per byte.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorCost {
    #[serde(default)]
    pub per_record_ns: f64,
    #[serde(default)]
    pub per_byte_ns: f64,
}

/// Default simulated costs per operator (ns per record, ns per byte): the medians
/// `cargo bench -p warehouse --bench costs` measured for the functions each operator runs
/// (README, "Cost model"), rounded. A writer's bytes are its flushed files plus the inputs and
/// outputs of its inline compactions, charged at the compactor's rate.
pub fn default_cost(operator: CostOperator) -> OperatorCost {
    let (per_record_ns, per_byte_ns) = match operator {
        // An event inserted into its DWD bucket's writer (duplicate lookup, lookup changelog).
        CostOperator::OdsToDwd => (600.0, 0.0),
        // A DWD row flushed (sort, Parquet encode of data and changelog files).
        CostOperator::DwdWriter => (600.0, 5.6),
        // An event folded into its DWS minute row.
        CostOperator::DwdToDws => (100.0, 0.0),
        // A DWS row flushed; a checkpoint's DWS flush is small, so per-file overhead dominates.
        CostOperator::DwsWriter => (4_400.0, 5.6),
        // The storage system's bandwidth: a modelling choice (1 GB/s write, 2 GB/s read).
        CostOperator::DfsWrite => (0.0, 1.0),
        CostOperator::DfsRead => (0.0, 0.5),
        // Decode, merge and encode of compaction inputs and outputs, per byte read + written.
        CostOperator::Compactor => (0.0, 5.6),
    };
    OperatorCost {
        per_record_ns,
        per_byte_ns,
    }
}

/// Every operator's cost: the scenario's `[cost]` entries over the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct CostTable {
    costs: [OperatorCost; CostOperator::ALL.len()],
    /// Operators the scenario set explicitly (a shrunk or emitted scenario writes them back).
    overridden: BTreeMap<CostOperator, OperatorCost>,
}

impl Default for CostTable {
    fn default() -> Self {
        Self {
            costs: CostOperator::ALL.map(default_cost),
            overridden: BTreeMap::new(),
        }
    }
}

impl CostTable {
    pub fn get(&self, operator: CostOperator) -> OperatorCost {
        self.costs[index_of(operator)]
    }

    /// Sets `operator`'s cost, as `[cost.<operator>]` does.
    pub fn set(&mut self, operator: CostOperator, cost: OperatorCost) {
        self.costs[index_of(operator)] = cost;
        self.overridden.insert(operator, cost);
    }

    /// The entries a scenario set, by operator.
    pub fn overridden(&self) -> &BTreeMap<CostOperator, OperatorCost> {
        &self.overridden
    }

    /// Simulated ns of `records` records and `bytes` bytes of `operator`'s work.
    pub fn ns(&self, operator: CostOperator, records: u64, bytes: u64) -> f64 {
        let cost = self.get(operator);
        records as f64 * cost.per_record_ns + bytes as f64 * cost.per_byte_ns
    }
}

fn index_of(operator: CostOperator) -> usize {
    CostOperator::ALL
        .iter()
        .position(|op| *op == operator)
        .expect("ALL lists every operator")
}

impl<'de> Deserialize<'de> for CostTable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = BTreeMap::<String, OperatorCost>::deserialize(deserializer)?;
        let mut table = CostTable::default();
        for (name, cost) in entries {
            let operator = CostOperator::parse(&name).ok_or_else(|| {
                let known: Vec<&str> = CostOperator::ALL.iter().map(|op| op.name()).collect();
                serde::de::Error::custom(format!(
                    "[cost] unknown operator `{name}`; known operators: {}",
                    known.join(", ")
                ))
            })?;
            for (key, value) in [
                ("per_record_ns", cost.per_record_ns),
                ("per_byte_ns", cost.per_byte_ns),
            ] {
                if !(value.is_finite() && value >= 0.0) {
                    return Err(serde::de::Error::custom(format!(
                        "[cost.{name}] {key} = {value} must be a finite number of nanoseconds, at least 0"
                    )));
                }
            }
            table.set(operator, cost);
        }
        Ok(table)
    }
}
