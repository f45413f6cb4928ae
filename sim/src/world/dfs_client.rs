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
            .call(request.0)
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

/// A put's request (`tag` 1 put, 2 put if absent), taking the object's bytes: they are freed
/// once copied into the request, not held beside it for the call.
fn put_request(tag: u8, path: &str, bytes: Vec<u8>) -> Encoder {
    Encoder::with_capacity(1 + 4 + path.len() + 4 + bytes.len())
        .u8(tag)
        .str(path)
        .bytes(&bytes)
}

fn malformed(what: &str) -> StoreError {
    StoreError::Unavailable(format!("malformed dfs response to {what}"))
}

impl ObjectStore for DfsStore {
    async fn put(&self, path: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let response = self.call(put_request(1, path, bytes)).await?;
        (response == [0])
            .then_some(())
            .ok_or_else(|| malformed("put"))
    }

    async fn put_if_absent(&self, path: &str, bytes: Vec<u8>) -> Result<bool, StoreError> {
        let response = self.call(put_request(2, path, bytes)).await?;
        match response.as_slice() {
            [1, created] => Ok(*created == 1),
            _ => Err(malformed("put_if_absent")),
        }
    }

    async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let response = self.call(Encoder::default().u8(3).str(path)).await?;
        match response.first() {
            Some(2) => {
                // The object's bytes moved to the front of the response, not copied out of it.
                let mut decoder = Decoder::new(&response[1..]);
                let object = decoder.bytes().map_err(|_| malformed("get"))?;
                let start = object.as_ptr() as usize - response.as_ptr() as usize;
                let end = start + object.len();
                let mut response = response;
                response.copy_within(start..end, 0);
                response.truncate(end - start);
                Ok(Some(response))
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
