//! The ad warehouse's jobs: `ods_to_dwd` cleans and deduplicates TT's ODS log into the DWD table;
//! `dwd_to_dws` aggregates DWD's changelog into the upserted DWS table; `compact` is the
//! dedicated compaction job of write-only tables. Also their table schemas, and the TT-era
//! pipeline (`tt_era`) the lakehouse replaced.

pub mod compact;
pub mod dwd_to_dws;
pub mod ods_to_dwd;
pub mod schemas;
pub mod sink;
#[cfg(test)]
mod tests;
pub mod tt_era;

pub use compact::{CompactorConfig, DedicatedCompactor, RoundOutcome};
pub use dwd_to_dws::{DwdToDws, DwdToDwsConfig, DwsJobVersion};
pub use ods_to_dwd::{OdsToDwd, OdsToDwdConfig, WRITER_IDLE_CHECKPOINTS};
