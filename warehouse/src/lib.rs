//! The system under test: an advertising real-time data warehouse in the shape Alibaba Mama runs
//! on Flink + Paimon. It reaches its world only through the ports in [`env`], so the same code
//! runs inside the deterministic simulator and in plain unit tests.

pub mod env;
pub mod event;
pub mod jobs;
pub mod row;
pub mod serving;
pub mod stream;
pub mod table;
pub mod tt;
