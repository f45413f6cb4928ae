//! Durable checkpoint storage on the object store, Flink's `chk-N/_metadata`: a checkpoint is
//! complete exactly when its metadata object exists, so the latest one is found by listing.

use serde::{Deserialize, Serialize};

use crate::env::{ObjectStore, StoreError};
use crate::table::CommitMessage;

/// Everything needed to resume a job: its sources' positions and the sink's committables, which
/// are committed after completion and re-committed (idempotently) after a restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletedCheckpoint {
    pub job: String,
    pub checkpoint_id: i64,
    pub triggered_at_ms: i64,
    pub completed_at_ms: i64,
    pub source_state: serde_json::Value,
    pub committables: Vec<CommitMessage>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("checkpoint metadata {path} is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("checkpoint {path} already exists with different content (two attempts of one job?)")]
    Conflict { path: String },
}

impl CheckpointError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Store(StoreError::Unavailable(_)))
    }
}

#[derive(Clone)]
pub struct CheckpointStorage<S: ObjectStore> {
    store: S,
    dir: String,
}

impl<S: ObjectStore> CheckpointStorage<S> {
    /// Checkpoints of `job` live under `checkpoints/<job>/`.
    pub fn new(store: S, job: &str) -> Self {
        Self {
            store,
            dir: format!("checkpoints/{job}"),
        }
    }

    pub fn path_of(&self, checkpoint_id: i64) -> String {
        format!("{}/chk-{checkpoint_id:010}", self.dir)
    }

    /// Makes the checkpoint durable; it is complete once this returns.
    pub async fn complete(&self, checkpoint: &CompletedCheckpoint) -> Result<(), CheckpointError> {
        let path = self.path_of(checkpoint.checkpoint_id);
        let bytes = serde_json::to_vec(checkpoint).expect("checkpoint serialises");
        if self.store.put_if_absent(&path, bytes).await? {
            return Ok(());
        }
        // An earlier attempt of this call may have landed before its reply was lost.
        match self.read(&path).await? {
            Some(existing) if existing == *checkpoint => Ok(()),
            _ => Err(CheckpointError::Conflict { path }),
        }
    }

    async fn read(&self, path: &str) -> Result<Option<CompletedCheckpoint>, CheckpointError> {
        let Some(bytes) = self.store.get(path).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| CheckpointError::Corrupt {
                path: path.to_string(),
                reason: error.to_string(),
            })
    }

    /// The latest completed checkpoint, if any.
    pub async fn latest(&self) -> Result<Option<CompletedCheckpoint>, CheckpointError> {
        let paths = self.store.list(&format!("{}/chk-", self.dir)).await?;
        match paths.last() {
            Some(path) => self.read(path).await,
            None => Ok(None),
        }
    }
}
