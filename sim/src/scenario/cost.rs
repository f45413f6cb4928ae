//! `[cost]`: the simulated time each operator spends per record and per byte. Work takes no
//! simulated time by itself, so this table is what turns the warehouse's reported work into
//! backpressure, freshness and capacity figures.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use warehouse::env::CostOperator;

/// Simulated time one operator spends per record and per byte.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperatorCost {
    pub per_record_ns: f64,
    pub per_byte_ns: f64,
}

/// A `[cost.<operator>]` entry as written: a figure left out keeps the profile's.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GivenCost {
    per_record_ns: Option<f64>,
    per_byte_ns: Option<f64>,
}

/// Which figures a cost table starts from (`[cost] profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CostProfile {
    /// This project's own Rust code, measured with `cargo bench -p warehouse --bench costs`.
    #[default]
    MeasuredRust,
    /// Production Flink + Paimon on the JVM, from public benchmark results
    /// (docs/cost-profile-flink-paimon.md gives each figure's source and arithmetic).
    FlinkPaimon,
}

impl CostProfile {
    pub const ALL: [CostProfile; 2] = [CostProfile::MeasuredRust, CostProfile::FlinkPaimon];

    pub fn name(self) -> &'static str {
        match self {
            Self::MeasuredRust => "measured-rust",
            Self::FlinkPaimon => "flink-paimon",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The profile's simulated ns per record and per byte of `operator`.
    pub fn cost(self, operator: CostOperator) -> OperatorCost {
        let (per_record_ns, per_byte_ns) = match self {
            Self::MeasuredRust => measured_rust(operator),
            Self::FlinkPaimon => flink_paimon(operator),
        };
        OperatorCost {
            per_record_ns,
            per_byte_ns,
        }
    }

    /// What one reserved task slot (1 CU: 1 core, 4 GiB) costs an hour, in US dollars, unless
    /// `[cost] usd_per_cu_hour` says otherwise: AWS Managed Service for Apache Flink's KPU price
    /// in us-east-1 (docs/cost-profile-flink-paimon.md, [S5]); for the measured profile the same
    /// figure, so plans compare slots the same way.
    pub fn usd_per_cu_hour(self) -> f64 {
        0.11
    }
}

/// Default simulated costs per operator (ns per record, ns per byte): the medians
/// `cargo bench -p warehouse --bench costs` measured for the functions each operator runs
/// (docs/cost-model.md), rounded. A writer's bytes are its flushed files plus the inputs and
/// outputs of its inline compactions, charged at the compactor's rate.
fn measured_rust(operator: CostOperator) -> (f64, f64) {
    match operator {
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
    }
}

/// Production Flink + Paimon per core (one task slot): every figure's source and arithmetic is
/// in docs/cost-profile-flink-paimon.md.
fn flink_paimon(operator: CostOperator) -> (f64, f64) {
    match operator {
        // Nexmark q18 (deduplication), 53.7 K records/s per core [S1].
        CostOperator::OdsToDwd => (18_600.0, 0.0),
        // Paimon TableWriterBenchmark, primary-key Parquet, 15 426 ns per 204-byte row [S2].
        CostOperator::DwdWriter => (12_400.0, 15.0),
        // Nexmark q17 (unbounded group aggregation), 116.8 K records/s per core [S1].
        CostOperator::DwdToDws => (8_600.0, 0.0),
        // Not publicly sourced: dwd_writer times this project's small-flush ratio (4 400 / 600).
        CostOperator::DwsWriter => (91_000.0, 15.0),
        // Object storage: ~20 ms per small request, ~87.5 MB/s per stream [S6].
        CostOperator::DfsWrite | CostOperator::DfsRead => (20_000_000.0, 11.4),
        // Paimon decode (5.0 ns/B) and Parquet encode (>= 23.6 ns/B), over bytes read + written.
        CostOperator::Compactor => (0.0, 15.0),
    }
}

/// The measured Rust profile's cost of `operator` (the default).
pub fn default_cost(operator: CostOperator) -> OperatorCost {
    CostProfile::MeasuredRust.cost(operator)
}

/// Every operator's cost: the scenario's `[cost]` entries over the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct CostTable {
    /// The figures the table starts from.
    pub profile: CostProfile,
    /// US dollars per reserved slot (CU) hour, for plans' cost figures.
    pub usd_per_cu_hour: f64,
    /// Whether `usd_per_cu_hour` was set explicitly.
    usd_per_cu_hour_set: bool,
    costs: [OperatorCost; CostOperator::ALL.len()],
    /// Operators the scenario set explicitly (a shrunk or emitted scenario writes them back).
    overridden: BTreeMap<CostOperator, OperatorCost>,
}

impl Default for CostTable {
    fn default() -> Self {
        Self::of_profile(CostProfile::MeasuredRust)
    }
}

impl CostTable {
    /// Every operator at `profile`'s figures.
    pub fn of_profile(profile: CostProfile) -> Self {
        Self {
            profile,
            usd_per_cu_hour: profile.usd_per_cu_hour(),
            usd_per_cu_hour_set: false,
            costs: CostOperator::ALL.map(|op| profile.cost(op)),
            overridden: BTreeMap::new(),
        }
    }

    /// Whether `usd_per_cu_hour` was set by the scenario (a written-back scenario keeps it).
    pub fn usd_per_cu_hour_set(&self) -> bool {
        self.usd_per_cu_hour_set
    }

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
    /// `[cost]`: an optional `profile` and `usd_per_cu_hour`, then `[cost.<operator>]` entries
    /// over the profile's figures (in any order).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut entries = BTreeMap::<String, toml::Value>::deserialize(deserializer)?;
        let profile = match entries.remove("profile") {
            None => CostProfile::MeasuredRust,
            Some(toml::Value::String(name)) => CostProfile::parse(&name).ok_or_else(|| {
                D::Error::custom(format!(
                    "[cost] profile = \"{name}\" is not a cost profile; use \"measured-rust\" (the default) or \"flink-paimon\""
                ))
            })?,
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "[cost] profile = {other} must be a string: \"measured-rust\" or \"flink-paimon\""
                )));
            }
        };
        let mut table = CostTable::of_profile(profile);
        if let Some(value) = entries.remove("usd_per_cu_hour") {
            let usd = match value {
                toml::Value::Float(f) => f,
                toml::Value::Integer(i) => i as f64,
                _ => f64::NAN,
            };
            if !(usd.is_finite() && usd >= 0.0) {
                return Err(D::Error::custom(
                    "[cost] usd_per_cu_hour must be a finite number of US dollars, at least 0 (what one task slot of 1 core and 4 GiB costs an hour)",
                ));
            }
            table.usd_per_cu_hour = usd;
            table.usd_per_cu_hour_set = true;
        }
        for (name, value) in entries {
            let operator = CostOperator::parse(&name).ok_or_else(|| {
                let known: Vec<&str> = CostOperator::ALL.iter().map(|op| op.name()).collect();
                D::Error::custom(format!(
                    "[cost] unknown key `{name}`; known keys: profile, usd_per_cu_hour and the operators {}",
                    known.join(", ")
                ))
            })?;
            let given: GivenCost = value
                .try_into()
                .map_err(|e| D::Error::custom(format!("[cost.{name}] {e}")))?;
            let base = table.get(operator);
            let cost = OperatorCost {
                per_record_ns: given.per_record_ns.unwrap_or(base.per_record_ns),
                per_byte_ns: given.per_byte_ns.unwrap_or(base.per_byte_ns),
            };
            for (key, value) in [
                ("per_record_ns", cost.per_record_ns),
                ("per_byte_ns", cost.per_byte_ns),
            ] {
                if !(value.is_finite() && value >= 0.0) {
                    return Err(D::Error::custom(format!(
                        "[cost.{name}] {key} = {value} must be a finite number of nanoseconds, at least 0"
                    )));
                }
            }
            table.set(operator, cost);
        }
        Ok(table)
    }
}
