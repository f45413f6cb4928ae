//! The TT-era pipeline the seed article migrated away from, for the before/after comparison:
//! DWD kept in a TT topic (`dwd_topic`, at-least-once), each downstream store aggregating that
//! topic on its own (`store_job` into `store`), and the offline batch job (`batch`) overwriting
//! each store's rows with figures recomputed from ODS after each period.

pub mod batch;
pub mod dwd_topic;
pub mod protocol;
pub mod store;
pub mod store_job;

pub use batch::{BatchConfig, BatchJob};
pub use dwd_topic::{DWD_TOPIC_SERVICE, DwdTopicConfig, DwdTopicJob};
pub use protocol::{StoreRequest, StoreResponse};
pub use store::{MinuteStore, RowKey, RowSums, STORE_LOG_PATH, StoreError};
pub use store_job::{StoreJob, StoreJobConfig};
