//! Request/response over turmoil's simulated TCP: length-prefixed frames, a client that keeps a
//! pool of idle connections (one per concurrent caller, as an HTTP client's pool does, emptied
//! when a call fails with a reset) and reconnects after a timeout or reset, and a server loop
//! that closes connections left idle.
//! Partitions and crashes therefore bite exactly where they would on a real network.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::{TcpListener, TcpStream};

use crate::world::sim_now_ms;

/// Frames above this are refused: every buffer has a limit.
pub const MAX_FRAME_BYTES: usize = 512 << 20;

async fn write_frame(stream: &mut TcpStream, payload: &[u8]) -> std::io::Result<()> {
    stream
        .write_all(&(payload.len() as u32).to_le_bytes())
        .await?;
    stream.write_all(payload).await?;
    stream.flush().await
}

async fn read_frame(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(std::io::Error::other(format!(
            "frame of {len} bytes exceeds the limit"
        )));
    }
    // Reserve without zero-filling: frames run to megabytes and arrive many times a second.
    let mut payload = Vec::with_capacity(len);
    (&mut *stream)
        .take(len as u64)
        .read_to_end(&mut payload)
        .await?;
    if payload.len() != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("frame ended after {} of {len} bytes", payload.len()),
        ));
    }
    Ok(payload)
}

/// Why a call failed; the caller cannot tell whether the request took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    Timeout,
    Io(String),
}

/// A pooled connection unused this long is closed rather than reused, before the server's
/// [`SERVER_IDLE`] could close it under a request (simulated ms).
const CLIENT_IDLE_MS: i64 = 60_000;
/// A server closes a connection with no request for this long. A client that crashed or was
/// partitioned away never says goodbye; without this its half of the connection would live
/// forever, and a later connection from the same port would collide with it.
const SERVER_IDLE: Duration = Duration::from_secs(180);

pub struct RpcClient {
    host: &'static str,
    port: u16,
    timeout: Duration,
    /// Idle connections and the simulated ms each was last used, the most recent last:
    /// concurrent callers (parallel subtasks) each take one, so connections are reused instead
    /// of opened per call.
    idle: RefCell<Vec<(TcpStream, i64)>>,
}

impl RpcClient {
    pub fn new(host: &'static str, port: u16, timeout: Duration) -> Rc<Self> {
        Rc::new(Self {
            host,
            port,
            timeout,
            idle: RefCell::new(Vec::new()),
        })
    }

    pub fn host(&self) -> &'static str {
        self.host
    }

    /// Sends `request` and waits for the response. The request is freed once written, not
    /// held while the server works (a compaction's output file is one request).
    pub async fn call(&self, request: Vec<u8>) -> Result<Vec<u8>, CallError> {
        let reusable = {
            let mut idle = self.idle.borrow_mut();
            // The oldest connections are the stale ones: drop those past their idle time.
            let now_ms = sim_now_ms();
            idle.retain(|(_, used_ms)| now_ms - used_ms < CLIENT_IDLE_MS);
            idle.pop().map(|(stream, _)| stream)
        };
        let exchange = async {
            let mut stream = match reusable {
                Some(stream) => stream,
                None => TcpStream::connect((self.host, self.port)).await?,
            };
            write_frame(&mut stream, &request).await?;
            drop(request);
            let response = read_frame(&mut stream).await?;
            Ok::<_, std::io::Error>((stream, response))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok((stream, response))) => {
                self.idle.borrow_mut().push((stream, sim_now_ms()));
                Ok(response)
            }
            Ok(Err(error)) => {
                // A reset or early end of stream means the server went away (a crash): every
                // pooled connection led to the same dead process. Without this, each retry took
                // the next dead one, one backoff apart: after a storage crash a DWD job with 64
                // subtasks' connections pooled retried for 55 s (swarm seed 98 of
                // double11-production failed liveness).
                self.idle.borrow_mut().clear();
                Err(CallError::Io(error.to_string()))
            }
            Err(_) => Err(CallError::Timeout),
        }
    }
}

/// Accepts connections on `port` forever, answering each frame with `handler`.
pub async fn serve<H, Fut>(port: u16, handler: Rc<H>) -> std::io::Result<()>
where
    H: Fn(Vec<u8>) -> Fut + 'static,
    Fut: Future<Output = Vec<u8>> + 'static,
{
    let listener = TcpListener::bind(("0.0.0.0", port)).await?;
    loop {
        let (mut stream, _) = listener.accept().await?;
        let handler = handler.clone();
        tokio::task::spawn_local(async move {
            while let Ok(Ok(request)) =
                tokio::time::timeout(SERVER_IDLE, read_frame(&mut stream)).await
            {
                let response = handler(request).await;
                if write_frame(&mut stream, &response).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// A byte buffer writer for the small binary protocols of the world.
#[derive(Default)]
pub struct Encoder(pub Vec<u8>);

impl Encoder {
    pub fn u8(mut self, value: u8) -> Self {
        self.0.push(value);
        self
    }
    /// An encoder with room for `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        Self(Vec::with_capacity(bytes))
    }
    pub fn bytes(mut self, value: &[u8]) -> Self {
        self.0
            .extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.0.extend_from_slice(value);
        self
    }
    pub fn str(self, value: &str) -> Self {
        self.bytes(value.as_bytes())
    }
}

/// The reading side of [`Encoder`]; every read names what it expected.
pub struct Decoder<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }
    pub fn u8(&mut self) -> Result<u8, String> {
        let value = *self.bytes.get(self.at).ok_or("truncated message")?;
        self.at += 1;
        Ok(value)
    }
    pub fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len_bytes = self
            .bytes
            .get(self.at..self.at + 4)
            .ok_or("truncated length")?;
        let len = u32::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
        self.at += 4;
        let value = self
            .bytes
            .get(self.at..self.at + len)
            .ok_or("truncated payload")?;
        self.at += len;
        Ok(value)
    }
    pub fn str(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| "string is not UTF-8".to_string())
    }
    pub fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}
