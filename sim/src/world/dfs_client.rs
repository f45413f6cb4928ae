//! The warehouse's `ObjectStore` port across the simulated network: a client of a storage host
//! (`dfs`, `dfs-a`, `dfs-b`; the server is `hosts::dfs`), so partitions and crashes bite where
//! they would in production.

use std::rc::Rc;

use warehouse::env::{ObjectStatus, ObjectStore, StoreError};

use crate::world::rpc::{CallError, Decoder, Encoder, RpcClient};

#[derive(Clone)]
pub struct DfsStore {
    rpc: Rc<RpcClient>,
}

impl DfsStore {
    pub fn new(rpc: Rc<RpcClient>) -> Self {
        Self { rpc }
    }

    async fn call(&self, request: Encoder) -> Result<Vec<u8>, StoreError> {
        let response = self
            .rpc
            .call(&request.0)
            .await
            .map_err(|error| match error {
                CallError::Timeout => {
                    StoreError::Unavailable(format!("{} call timed out", self.rpc.host()))
                }
                CallError::Io(reason) => {
                    StoreError::Unavailable(format!("{} unreachable: {reason}", self.rpc.host()))
                }
            })?;
        if response.first() == Some(&9) {
            let mut decoder = Decoder::new(&response[1..]);
            let reason = decoder.str().unwrap_or_else(|e| e);
            return Err(StoreError::Io {
                path: String::new(),
                reason,
            });
        }
        Ok(response)
    }
}

fn malformed(what: &str) -> StoreError {
    StoreError::Unavailable(format!("malformed dfs response to {what}"))
}

impl ObjectStore for DfsStore {
    async fn put(&self, path: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let response = self
            .call(Encoder::default().u8(1).str(path).bytes(&bytes))
            .await?;
        (response == [0])
            .then_some(())
            .ok_or_else(|| malformed("put"))
    }

    async fn put_if_absent(&self, path: &str, bytes: Vec<u8>) -> Result<bool, StoreError> {
        let response = self
            .call(Encoder::default().u8(2).str(path).bytes(&bytes))
            .await?;
        match response.as_slice() {
            [1, created] => Ok(*created == 1),
            _ => Err(malformed("put_if_absent")),
        }
    }

    async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let response = self.call(Encoder::default().u8(3).str(path)).await?;
        match response.first() {
            Some(2) => {
                let mut decoder = Decoder::new(&response[1..]);
                Ok(Some(
                    decoder.bytes().map_err(|_| malformed("get"))?.to_vec(),
                ))
            }
            Some(3) => Ok(None),
            _ => Err(malformed("get")),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let response = self.call(Encoder::default().u8(4).str(prefix)).await?;
        if response.first() != Some(&4) {
            return Err(malformed("list"));
        }
        let mut decoder = Decoder::new(&response[1..]);
        let mut paths = Vec::new();
        while !decoder.done() {
            paths.push(decoder.str().map_err(|_| malformed("list"))?);
        }
        Ok(paths)
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        let response = self.call(Encoder::default().u8(5).str(path)).await?;
        (response == [0])
            .then_some(())
            .ok_or_else(|| malformed("delete"))
    }

    async fn list_status(&self, prefix: &str) -> Result<Vec<ObjectStatus>, StoreError> {
        let response = self.call(Encoder::default().u8(6).str(prefix)).await?;
        if response.first() != Some(&6) {
            return Err(malformed("list_status"));
        }
        let mut decoder = Decoder::new(&response[1..]);
        let mut statuses = Vec::new();
        while !decoder.done() {
            let path = decoder.str().map_err(|_| malformed("list_status"))?;
            let modified = decoder.str().map_err(|_| malformed("list_status"))?;
            statuses.push(ObjectStatus {
                path,
                modified_millis: modified.parse().map_err(|_| malformed("list_status"))?,
            });
        }
        Ok(statuses)
    }
}
