//! Blocking work (tar streams, mounts) on a thread of its own, joined to
//! the async side by channels: a response body written through a
//! `std::io::Write`, a request body read through a `std::io::Read`. A
//! fresh thread (never a pool's) because a stopped container's filesystem
//! is mounted in a private mount namespace of the thread that reads it,
//! which must end with the request so the mounts go with it.

use std::io::{Read, Write};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use tokio::sync::{mpsc, oneshot};

use crate::error::ApiError;
use crate::http::Resp;

/// Runs `f` on a new thread and waits for its result.
pub async fn on_own_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("berth-api-io".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| ApiError::internal(format!("start a thread: {e}")))?;
    rx.await
        .map_err(|_| ApiError::internal("the copy thread ended without an answer"))
}

/// A `Write` into a response body; fails once the client hung up.
struct BodyWriter(mpsc::Sender<Bytes>);

impl Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A streamed response of `content_type` written by `f` on a thread of
/// its own. Until `f` writes its first bytes the status is open: an error
/// before then is the response (a 404 for a missing path), an error after
/// it ends the body early (the client sees a truncated stream, as
/// docker's do).
pub async fn stream_response(
    content_type: &'static str,
    f: impl FnOnce(&mut dyn Write) -> Result<(), ApiError> + Send + 'static,
) -> Result<Resp, ApiError> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(16);
    let (done_tx, done_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("berth-api-io".into())
        .spawn(move || {
            let mut w = std::io::BufWriter::with_capacity(64 << 10, BodyWriter(tx));
            let r = f(&mut w).and_then(|()| {
                w.flush()
                    .map_err(|e| ApiError::internal(format!("write the response: {e}")))
            });
            let _ = done_tx.send(r);
        })
        .map_err(|e| ApiError::internal(format!("start a thread: {e}")))?;
    let first = match rx.recv().await {
        Some(b) => Some(b),
        // the writer is gone: f ended without writing a byte
        None => {
            done_rx
                .await
                .map_err(|_| ApiError::internal("the copy thread ended without an answer"))??;
            None
        }
    };
    let head = futures_util::stream::iter(first.map(|b| Ok(Frame::data(b))));
    let rest = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::io::Error>(Frame::data(b)), rx))
    });
    let mut r = Response::new(BodyExt::boxed_unsync(StreamBody::new(
        head.chain(rest).boxed(),
    )));
    *r.status_mut() = StatusCode::OK;
    r.headers_mut()
        .insert("Content-Type", content_type.parse().unwrap());
    Ok(r)
}

/// A `Read` over a request body pumped by an async task.
pub struct BodyReader {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    cur: Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

impl BodyReader {
    /// Reads and drops what the client still sends, up to `limit` bytes. A
    /// tar reader stops at the first end-of-archive block; a response sent
    /// while the client is still writing the rest makes the connection close
    /// under its write, and the client sees a broken pipe instead of the
    /// answer.
    pub fn drain(&mut self, limit: u64) {
        let _ = std::io::copy(&mut self.by_ref().take(limit), &mut std::io::sink());
    }
}

/// The body of `req` as a blocking reader; the pump stops when the
/// reader is dropped.
pub fn body_reader(req: Request<Incoming>) -> BodyReader {
    let (tx, rx) = mpsc::channel(16);
    let mut body = req.into_body();
    tokio::spawn(async move {
        while let Some(frame) = body.frame().await {
            let item = match frame {
                Ok(f) => match f.into_data() {
                    Ok(d) => Ok(d),
                    Err(_) => continue,
                },
                Err(e) => Err(std::io::Error::other(format!("read the request body: {e}"))),
            };
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    BodyReader {
        rx,
        cur: Bytes::new(),
    }
}

/// Writes the body of `req` to `f` (a file spooled for the manager).
pub async fn body_to_file(req: Request<Incoming>, f: std::fs::File) -> Result<(), ApiError> {
    let mut body = req.into_body();
    let mut f = tokio::fs::File::from_std(f);
    use tokio::io::AsyncWriteExt;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad_request(format!("read request body: {e}")))?;
        if let Ok(d) = frame.into_data() {
            f.write_all(&d)
                .await
                .map_err(|e| ApiError::internal(format!("spool the request body: {e}")))?;
        }
    }
    f.flush()
        .await
        .map_err(|e| ApiError::internal(format!("spool the request body: {e}")))?;
    Ok(())
}
