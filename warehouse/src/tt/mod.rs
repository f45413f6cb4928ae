//! TT, the message queue between the ad servers and the Flink jobs: a partitioned durable log with
//! offsets, consumer-group positions and retention, served by a broker on its own host.

pub mod broker;
pub mod client;
pub mod protocol;

pub use broker::{Broker, TtConfig, TtError};
pub use client::TtClient;
pub use protocol::{FetchedRecords, TtRequest, TtResponse};
