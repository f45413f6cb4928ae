//! The client side of TT, used by producers and by the jobs' TT sources: typed calls over the
//! world's transport, with TT's errors and the network's kept apart.

use crate::env::{NetError, Transport};
use crate::event::AdEvent;
use crate::tt::protocol::{FetchedRecords, TtRequest, TtResponse};

/// The service name TT registers with the transport.
pub const TT_SERVICE: &str = "tt";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TtClientError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("TT rejected the request: {0}")]
    Rejected(String),
    #[error(
        "offset out of range: the log now starts at {log_start_offset} and ends at {high_watermark}"
    )]
    OffsetOutOfRange {
        log_start_offset: u64,
        high_watermark: u64,
    },
    #[error("TT answered with an unexpected message: {0}")]
    Protocol(String),
}

#[derive(Clone)]
pub struct TtClient<T: Transport> {
    transport: T,
    /// The topic's service: `tt` (ODS), or another topic's (the TT era's DWD topic).
    service: &'static str,
}

impl<T: Transport> TtClient<T> {
    /// A client of the ODS topic.
    pub fn new(transport: T) -> Self {
        Self::with_service(transport, TT_SERVICE)
    }

    /// A client of the topic served as `service`.
    pub fn with_service(transport: T, service: &'static str) -> Self {
        Self { transport, service }
    }

    async fn call(&self, request: TtRequest) -> Result<TtResponse, TtClientError> {
        let bytes = self.transport.call(self.service, request.encode()).await?;
        match TtResponse::decode(&bytes) {
            Ok(TtResponse::Error(message)) => Err(TtClientError::Rejected(message)),
            Ok(TtResponse::OffsetOutOfRange {
                log_start_offset,
                high_watermark,
            }) => Err(TtClientError::OffsetOutOfRange {
                log_start_offset,
                high_watermark,
            }),
            Ok(response) => Ok(response),
            Err(error) => Err(TtClientError::Protocol(error.to_string())),
        }
    }

    /// Appends a batch; returns the offset of its first event.
    pub async fn append(&self, partition: u32, events: Vec<AdEvent>) -> Result<u64, TtClientError> {
        match self.call(TtRequest::Append { partition, events }).await? {
            TtResponse::Appended { base_offset } => Ok(base_offset),
            other => Err(TtClientError::Protocol(format!("{other:?}"))),
        }
    }

    pub async fn fetch(
        &self,
        partition: u32,
        offset: u64,
        max_records: u32,
    ) -> Result<FetchedRecords, TtClientError> {
        let request = TtRequest::Fetch {
            partition,
            offset,
            max_records,
        };
        match self.call(request).await? {
            TtResponse::Records(records) => Ok(records),
            other => Err(TtClientError::Protocol(format!("{other:?}"))),
        }
    }

    pub async fn commit_offset(
        &self,
        group: &str,
        partition: u32,
        offset: u64,
    ) -> Result<(), TtClientError> {
        let request = TtRequest::CommitOffset {
            group: group.to_string(),
            partition,
            offset,
        };
        match self.call(request).await? {
            TtResponse::Ok => Ok(()),
            other => Err(TtClientError::Protocol(format!("{other:?}"))),
        }
    }

    /// (log start, high watermark) per partition.
    pub async fn list_offsets(&self) -> Result<Vec<(u64, u64)>, TtClientError> {
        match self.call(TtRequest::ListOffsets).await? {
            TtResponse::PartitionOffsets(pairs) => Ok(pairs),
            other => Err(TtClientError::Protocol(format!("{other:?}"))),
        }
    }
}
