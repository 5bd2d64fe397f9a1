//! The streaming container endpoints: logs and attach (the HTTP upgrade
//! to a raw stream).  Output comes from the container's log, as the
//! CLI's `logs` and `run` read it; without a tty each chunk goes in docker's
//! 8-byte frame (stream, 0, 0, 0, length big-endian) so stdout and stderr
//! stay apart on one connection.

use std::sync::Arc;

use berth_proto::manager::AttachResponse;
use berth_supervisor::client::Manager;
use berth_supervisor::logs::{Entry, Reader, Stream};
use berth_supervisor::session::attached_reader;
use bytes::{BufMut, Bytes, BytesMut};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, Notify};

use crate::containers::{resolve, wait_exit};
use crate::error::ApiError;
use crate::http::{self, Query, Resp};
use crate::Engine;

/// Stream ids of docker's frame header.
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

/// One chunk in docker's multiplexed framing.
pub fn frame(stream: u8, data: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(8 + data.len());
    b.put_u8(stream);
    b.put_bytes(0, 3);
    b.put_u32(data.len() as u32);
    b.put_slice(data);
    b.freeze()
}

/// The content type of a container's output: raw with a tty, framed
/// otherwise (named so from API 1.42 on).
pub fn stream_type(tty: bool, version: (u32, u32)) -> &'static str {
    if !tty && version >= (1, 42) {
        "application/vnd.docker.multiplexed-stream"
    } else {
        "application/vnd.docker.raw-stream"
    }
}

/// How log entries become bytes on the wire.
#[derive(Clone, Copy)]
struct Shape {
    tty: bool,
    stdout: bool,
    stderr: bool,
    timestamps: bool,
}

impl Shape {
    fn bytes(&self, e: &Entry) -> Option<Bytes> {
        let (want, id) = match e.stream {
            Stream::Stdout => (self.stdout, STDOUT),
            Stream::Stderr => (self.stderr, STDERR),
        };
        if !want {
            return None;
        }
        let text = if self.timestamps {
            format!("{} {}", e.time, e.text)
        } else {
            e.text.clone()
        };
        Some(if self.tty {
            Bytes::from(text)
        } else {
            frame(id, text.as_bytes())
        })
    }
}

/// A time parameter (`since`, `until`): Unix seconds with an optional
/// fraction, as docker's clients send them; 0 or absent is none.
fn unix_time(q: &Query, k: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    let Some(v) = q.get(k).filter(|v| !v.is_empty() && *v != "0") else {
        return Ok(None);
    };
    berth_supervisor::since::parse_time(k, v, chrono::Utc::now())
        .map(Some)
        .map_err(ApiError::bad_request)
}

/// `GET /containers/{id}/logs?follow&stdout&stderr&since&until&timestamps&tail`.
pub async fn logs(e: &Arc<Engine>, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let shape = |tty| -> Result<Shape, ApiError> {
        Ok(Shape {
            tty,
            stdout: q.flag("stdout")?,
            stderr: q.flag("stderr")?,
            timestamps: q.flag("timestamps")?,
        })
    };
    let follow = q.flag("follow")?;
    let tail = match q.get("tail").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => berth_supervisor::logs::parse_tail(t).map_err(ApiError::bad_request)?,
    };
    let (since, until) = (unix_time(q, "since")?, unix_time(q, "until")?);
    let m = e.manager().await;
    let c = resolve(&m, id).await?;
    let shape = shape(c.tty)?;
    if !shape.stdout && !shape.stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let (tx, mut resp) = http::channel(stream_type(c.tty, (1, 47)));
    *resp.status_mut() = StatusCode::OK;
    let file = match std::fs::File::open(&c.log_path) {
        Ok(f) => Some(f),
        Err(x) if x.kind() == std::io::ErrorKind::NotFound => None,
        Err(x) => return Err(ApiError::internal(format!("open log {}: {x}", c.log_path))),
    };
    let running = matches!(c.status.as_str(), "running" | "paused" | "restarting");
    let e = e.clone();
    tokio::spawn(async move {
        let Some(file) = file else { return };
        let mut r = Reader::new(file);
        let keep = |en: &Entry| berth_supervisor::since::within(&en.time, since, until);
        let Ok(first) = r.read_tail(tail) else { return };
        for en in first.iter().filter(|en| keep(en)) {
            if let Some(b) = shape.bytes(en) {
                if tx.send(b).await.is_err() {
                    return;
                }
            }
        }
        if follow && running {
            let gone = tx.clone();
            let stop = async {
                tokio::select! {
                    _ = wait_exit(&e, &m, &c.id) => {}
                    _ = gone.closed() => {}
                }
            };
            let _ = r
                .follow(
                    |en| {
                        if keep(en) {
                            if let Some(b) = shape.bytes(en) {
                                let _ = tx.try_send(b);
                            }
                        }
                    },
                    stop,
                )
                .await;
        }
    });
    Ok(resp)
}

/// Copies log entries of container `c` to `out` until it exits or the
/// client goes away; the reader starts where the caller put it.
#[allow(clippy::too_many_arguments)]
async fn pump_output(
    e: &Engine,
    m: &Manager,
    id: &str,
    att: &AttachResponse,
    mut reader: Option<Reader>,
    shape: Shape,
    out: mpsc::UnboundedSender<Bytes>,
    gone: Arc<Notify>,
) {
    if reader.is_none() {
        // not written yet when the client came: all of it is ahead
        reader = berth_supervisor::session::open_log(&att.log_path)
            .await
            .ok()
            .flatten()
            .and_then(|f| attached_reader(f, att, true).ok());
    }
    let stop = async {
        tokio::select! {
            _ = wait_exit(e, m, id) => {}
            _ = gone.notified() => {}
        }
    };
    match reader.as_mut() {
        Some(r) => {
            let _ = r
                .follow(
                    |en| {
                        if let Some(b) = shape.bytes(en) {
                            let _ = out.send(b);
                        }
                    },
                    stop,
                )
                .await;
        }
        None => stop.await,
    }
}

/// Opens the container's stdin FIFO once the task made it (at start).
pub async fn stdin_fifo(path: &str) -> tokio::net::unix::pipe::Sender {
    loop {
        if let Ok(f) = berth_supervisor::session::open_fifo_writer(path) {
            return f;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// One attached client on an upgraded connection: output out, input into
/// the stdin FIFO (when asked for and the container has one).
#[allow(clippy::too_many_arguments)]
async fn session<IO: AsyncRead + AsyncWrite + Send + 'static>(
    e: Arc<Engine>,
    m: Manager,
    id: String,
    att: AttachResponse,
    reader: Option<Reader>,
    shape: Shape,
    stdin: Option<String>,
    io: IO,
) {
    let _busy = e.clock.busy();
    let (mut rd, mut wr) = tokio::io::split(io);
    let gone = Arc::new(Notify::new());
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let writer = {
        let gone = gone.clone();
        tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                if wr.write_all(&b).await.is_err() || wr.flush().await.is_err() {
                    gone.notify_one();
                    return;
                }
            }
            let _ = wr.shutdown().await;
        })
    };
    let input = {
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            // without stdin there is nothing to forward; docker's clients close
            // their write side at once then, so an end of input is no hang-up
            // (a hang-up shows as a failed write of output)
            let Some(path) = stdin else { return };
            // the session aborts this task when it ends
            let mut fifo = stdin_fifo(&path).await;
            loop {
                match rd.read(&mut buf).await {
                    // end of input closes the container's stdin
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if fifo.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        })
    };
    pump_output(&e, &m, &id, &att, reader, shape, tx, gone).await;
    let _ = writer.await;
    input.abort();
}

/// `POST /containers/{id}/attach?stream&stdin&stdout&stderr&logs`: with
/// `Upgrade: tcp` a 101 and the raw connection, else a streamed body of
/// the output alone.
pub async fn attach(
    e: &Arc<Engine>,
    mut req: Request<Incoming>,
    id: &str,
    q: &Query,
    version: (u32, u32),
) -> Result<Resp, ApiError> {
    let want_stdin = q.flag("stdin")?;
    let logs = q.flag("logs")?;
    let stream = q.flag("stream")?;
    let m = e.manager().await;
    let c = resolve(&m, id).await?;
    let shape = Shape {
        tty: c.tty,
        stdout: q.flag("stdout")?,
        stderr: q.flag("stderr")?,
        timestamps: false,
    };
    let mut tr = berth_proto::manager::TaskRequest::new();
    tr.container_id = c.id.clone();
    let att = m
        .tasks
        .attach_task(m.ctx(), &tr)
        .await
        .map_err(|x| m.err(x))?;
    // a container not started yet has all its output ahead of it; a
    // running one shows only what comes from now, unless logs=1
    let from_start = logs || c.status == "created";
    let reader = match std::fs::File::open(&att.log_path) {
        Ok(f) => Some(
            attached_reader(f, &att, from_start)
                .map_err(|x| ApiError::internal(format!("seek log: {x}")))?,
        ),
        Err(_) => None,
    };
    let stdin = (want_stdin && !att.stdin_path.is_empty()).then(|| att.stdin_path.clone());
    let upgrade = req.headers().get(UPGRADE).is_some();
    let ctype = stream_type(c.tty, version);
    if !stream {
        // logs=1 alone: what was written so far
        let (tx, mut resp) = http::channel(ctype);
        *resp.status_mut() = StatusCode::OK;
        if let Some(mut r) = reader.filter(|_| logs) {
            tokio::spawn(async move {
                for en in r.read_new().unwrap_or_default() {
                    if let Some(b) = shape.bytes(&en) {
                        if tx.send(b).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
        return Ok(resp);
    }
    if !upgrade {
        let (tx, mut resp) = http::channel(ctype);
        *resp.status_mut() = StatusCode::OK;
        let e = e.clone();
        tokio::spawn(async move {
            let (utx, mut urx) = mpsc::unbounded_channel();
            let gone = Arc::new(Notify::new());
            let fwd = {
                let gone = gone.clone();
                tokio::spawn(async move {
                    while let Some(b) = urx.recv().await {
                        if tx.send(b).await.is_err() {
                            gone.notify_one();
                            return;
                        }
                    }
                })
            };
            pump_output(&e, &m, &c.id, &att, reader, shape, utx, gone).await;
            let _ = fwd.await;
        });
        return Ok(resp);
    }
    let on = hyper::upgrade::on(&mut req);
    let e = e.clone();
    tokio::spawn(async move {
        let Ok(up) = on.await else { return };
        session(e, m, c.id, att, reader, shape, stdin, TokioIo::new(up)).await;
    });
    let mut resp = Response::new(http::full(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("tcp"));
    h.insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_stream_and_length() {
        let f = frame(STDERR, b"hi\n");
        assert_eq!(&f[..8], &[2, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(&f[8..], b"hi\n");
        assert_eq!(
            stream_type(false, (1, 41)),
            "application/vnd.docker.raw-stream"
        );
        assert_eq!(
            stream_type(false, (1, 47)),
            "application/vnd.docker.multiplexed-stream"
        );
    }
}
