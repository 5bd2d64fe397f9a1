//! `POST /containers/{id}/exec`, `/exec/{id}/start|json|resize`: an exec
//! instance is remembered between its create and start; its process is the
//! one `berth exec` builds ([`exec_process`]), run by the manager, its
//! output copied from the FIFOs the manager names onto the upgraded
//! connection (framed unless a tty).

use std::io::Read;
use std::sync::Arc;

use berth_proto::manager::{ExecProcessRequest, ExecRequest, ResizePtyRequest};
use berth_supervisor::client::Manager;
use berth_supervisor::commands::exec::{exec_process, open_reader};
use bollard_stubs::models::{ExecConfig, ExecInspectResponse, ExecStartConfig, ProcessConfig};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use crate::attach::{frame, stdin_fifo, stream_type, STDERR, STDOUT};
use crate::containers::resolve;
use crate::error::ApiError;
use crate::http::{self, Query, Resp};
use crate::Engine;

/// An exec instance: what was asked for, and how its process is doing.
#[derive(Debug, Clone)]
pub struct ExecInstance {
    pub container_id: String,
    pub config: ExecConfig,
    /// the manager's id of the process, once started
    pub process_id: Option<String>,
    pub running: bool,
    pub exit_code: Option<i64>,
}

/// 32 random bytes in hex: docker's id shape.
fn new_id() -> Result<String, ApiError> {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| ApiError::internal(format!("read /dev/urandom: {e}")))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn no_such_exec(id: &str) -> ApiError {
    ApiError::not_found(format!("No such exec instance: {id}"))
}

fn instance(e: &Engine, id: &str) -> Result<ExecInstance, ApiError> {
    let execs = e.execs.lock().unwrap_or_else(|p| p.into_inner());
    execs.get(id).cloned().ok_or_else(|| no_such_exec(id))
}

fn update(e: &Engine, id: &str, f: impl FnOnce(&mut ExecInstance)) {
    let mut execs = e.execs.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(x) = execs.get_mut(id) {
        f(x);
    }
}

/// `POST /containers/{id}/exec`.
pub async fn create(e: &Arc<Engine>, req: Request<Incoming>, id: &str) -> Result<Resp, ApiError> {
    let body = http::read_body(req).await?;
    let config: ExecConfig = http::parse_json(&body)?;
    if config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let m = e.manager().await;
    let c = resolve(&m, id).await?;
    if c.status != "running" {
        return Err(ApiError::conflict(format!(
            "Container {} is not running",
            c.id
        )));
    }
    if c.status == "paused" {
        return Err(ApiError::conflict(format!(
            "Container {} is paused, unpause the container before exec",
            c.id
        )));
    }
    // the process is checked now, so a bad user or env is this call's 400
    exec_process(
        &c,
        config.env.as_deref().unwrap_or(&[]),
        config.user.as_deref().filter(|u| !u.is_empty()),
        config.working_dir.as_deref().filter(|w| !w.is_empty()),
        config.tty == Some(true),
        config.cmd.clone().unwrap_or_default(),
    )
    .map_err(|x| ApiError::bad_request(x.to_string()))?;
    let exec_id = new_id()?;
    let inst = ExecInstance {
        container_id: c.id,
        config,
        process_id: None,
        running: false,
        exit_code: None,
    };
    e.execs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(exec_id.clone(), inst);
    Ok(http::json(
        StatusCode::CREATED,
        &serde_json::json!({ "Id": exec_id }),
    ))
}

/// Copies one output FIFO into `out` until `done`, then what is buffered.
async fn copy_fifo(
    mut rx: tokio::net::unix::pipe::Receiver,
    stream: Option<u8>,
    out: mpsc::UnboundedSender<Bytes>,
    mut done: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    let shape = |b: &[u8]| match stream {
        Some(s) => frame(s, b),
        None => Bytes::copy_from_slice(b),
    };
    loop {
        tokio::select! {
            r = rx.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => { let _ = out.send(shape(&buf[..n])); }
            },
            _ = done.changed() => break,
        }
    }
    berth_supervisor::commands::exec::drain_buffered(&rx, &mut buf, |b| {
        let _ = out.send(shape(b));
    });
}

/// `POST /exec/{id}/start`: detached, or attached on the upgraded
/// connection (a streamed body without the upgrade).
pub async fn start(
    e: &Arc<Engine>,
    mut req: Request<Incoming>,
    id: &str,
    version: (u32, u32),
) -> Result<Resp, ApiError> {
    let inst = instance(e, id)?;
    if inst.process_id.is_some() {
        return Err(ApiError::conflict(format!(
            "exec {id} has already been started"
        )));
    }
    let body = http::read_body_ref(&mut req).await?;
    let start: ExecStartConfig = http::parse_json(&body)?;
    let detach = start.detach == Some(true);
    let cfg = &inst.config;
    let tty = cfg.tty == Some(true) || start.tty == Some(true);
    let m = e.manager().await;
    let c = resolve(&m, &inst.container_id).await?;
    let process = exec_process(
        &c,
        cfg.env.as_deref().unwrap_or(&[]),
        cfg.user.as_deref().filter(|u| !u.is_empty()),
        cfg.working_dir.as_deref().filter(|w| !w.is_empty()),
        tty,
        cfg.cmd.clone().unwrap_or_default(),
    )
    .map_err(|x| ApiError::bad_request(x.to_string()))?;
    let mut r = ExecRequest::new();
    r.container_id = c.id.clone();
    r.process_json = process.to_string();
    // a user name is resolved by the manager in the container's own files
    r.user = cfg.user.clone().unwrap_or_default();
    r.stdin = cfg.attach_stdin == Some(true) && !detach;
    r.tty = tty;
    let resp = m.tasks.exec(m.ctx(), &r).await.map_err(|x| m.err(x))?;
    let mut pr = ExecProcessRequest::new();
    pr.container_id = c.id.clone();
    pr.exec_id = resp.exec_id.clone();
    update(e, id, |x| {
        x.process_id = Some(resp.exec_id.clone());
        x.running = true;
    });
    let size = start.console_size.clone().or(cfg.console_size.clone());
    if detach {
        start_process(&m, &pr, size.as_deref()).await?;
        let (e, m, id) = (e.clone(), m.clone(), id.to_string());
        tokio::spawn(async move { finish(&e, &m, &pr, &id).await });
        return Ok(http::empty(StatusCode::OK));
    }
    let frames = (!tty).then_some(());
    let readers = [
        (
            resp.stdout_path.clone(),
            cfg.attach_stdout != Some(false),
            STDOUT,
        ),
        (
            resp.stderr_path.clone(),
            cfg.attach_stderr != Some(false),
            STDERR,
        ),
    ];
    let mut opened = Vec::new();
    for (path, want, s) in readers {
        if !path.is_empty() {
            // opened (and drained) even when not wanted, so the process
            // never blocks on a full pipe
            let rx = open_reader(&path).map_err(ApiError::from)?;
            opened.push((rx, want, frames.map(|_| s)));
        }
    }
    let upgrade = req.headers().get(UPGRADE).is_some();
    // With the upgrade, the process starts once the connection is handed
    // over (as docker does): output sent right behind the 101 would land in
    // the client's HTTP buffer, where docker-py's raw socket never reads it.
    if !upgrade {
        start_process(&m, &pr, size.as_deref()).await?;
    }
    let ctype = stream_type(tty, version);
    let stdin = r
        .stdin
        .then(|| resp.stdin_path.clone())
        .filter(|p| !p.is_empty());
    if !upgrade {
        let (mut out_rx, waiter) = pump_output(e, &m, pr, id, opened);
        let (tx, mut resp) = http::channel(ctype);
        *resp.status_mut() = StatusCode::OK;
        tokio::spawn(async move {
            while let Some(b) = out_rx.recv().await {
                if tx.send(b).await.is_err() {
                    break;
                }
            }
            let _ = waiter.await;
        });
        return Ok(resp);
    }
    let on = hyper::upgrade::on(&mut req);
    let e = e.clone();
    let id = id.to_string();
    tokio::spawn(async move {
        let Ok(up) = on.await else { return };
        let _busy = e.clock.busy();
        if let Err(err) = start_process(&m, &pr, size.as_deref()).await {
            let mut up = TokioIo::new(up);
            let _ = up.write_all(err.message.as_bytes()).await;
            let _ = up.shutdown().await;
            return;
        }
        let (mut out_rx, waiter) = pump_output(&e, &m, pr, &id, opened);
        let (mut rd, mut wr) = tokio::io::split(TokioIo::new(up));
        let input = tokio::spawn(async move {
            let Some(path) = stdin else { return };
            let mut fifo = stdin_fifo(&path).await;
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if fifo.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        while let Some(b) = out_rx.recv().await {
            if wr.write_all(&b).await.is_err() || wr.flush().await.is_err() {
                break;
            }
        }
        // the exit code is recorded before the stream ends: clients
        // inspect the exec as soon as it does
        let _ = waiter.await;
        let _ = wr.shutdown().await;
        input.abort();
    });
    let mut resp = Response::new(http::full(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("tcp"));
    h.insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    Ok(resp)
}

/// Starts the exec'd process and gives its tty the client's size.
/// Copies the exec's output FIFOs into one channel (the unwanted ones are
/// drained, so the process never blocks), and waits for its exit; the
/// handle ends once the exit is recorded and every copy finished.
fn pump_output(
    e: &Arc<Engine>,
    m: &Manager,
    pr: ExecProcessRequest,
    id: &str,
    opened: Vec<(tokio::net::unix::pipe::Receiver, bool, Option<u8>)>,
) -> (mpsc::UnboundedReceiver<Bytes>, tokio::task::JoinHandle<()>) {
    let (out_tx, out_rx) = mpsc::unbounded_channel::<Bytes>();
    let (done_tx, done_rx) = watch::channel(false);
    let copies: Vec<_> = opened
        .into_iter()
        .map(|(rx, want, s)| {
            let (tx, _) = mpsc::unbounded_channel();
            let out = if want { out_tx.clone() } else { tx };
            tokio::spawn(copy_fifo(rx, s, out, done_rx.clone()))
        })
        .collect();
    drop(out_tx);
    let (e, m, id) = (e.clone(), m.clone(), id.to_string());
    let waiter = tokio::spawn(async move {
        finish(&e, &m, &pr, &id).await;
        let _ = done_tx.send(true);
        for c in copies {
            let _ = c.await;
        }
    });
    (out_rx, waiter)
}

async fn start_process(
    m: &Manager,
    pr: &ExecProcessRequest,
    size: Option<&[i32]>,
) -> Result<(), ApiError> {
    m.tasks.start_exec(m.ctx(), pr).await.map_err(|x| {
        let mut a = ApiError::from(m.err(x));
        a.message = format!("OCI runtime exec failed: {}", a.message);
        a
    })?;
    if let Some([h, w]) = size {
        if *h > 0 && *w > 0 {
            let mut r = ResizePtyRequest::new();
            r.container_id = pr.container_id.clone();
            r.exec_id = pr.exec_id.clone();
            r.height = *h as u32;
            r.width = *w as u32;
            let _ = m.tasks.resize_pty(m.ctx(), &r).await;
        }
    }
    Ok(())
}

/// Waits for the process and records its exit code on the instance.
async fn finish(e: &Engine, m: &Manager, pr: &ExecProcessRequest, id: &str) {
    let code = match m.tasks.wait_exec(m.ctx(), pr).await {
        Ok(w) => i64::from(w.exit_code),
        Err(_) => -1,
    };
    update(e, id, |x| {
        x.running = false;
        x.exit_code = Some(code);
    });
}

/// `GET /exec/{id}/json`.
pub fn inspect(e: &Arc<Engine>, id: &str) -> Result<Resp, ApiError> {
    let x = instance(e, id)?;
    let cmd = x.config.cmd.clone().unwrap_or_default();
    let r = ExecInspectResponse {
        can_remove: Some(false),
        id: Some(id.to_string()),
        running: Some(x.running),
        exit_code: x.exit_code,
        process_config: Some(ProcessConfig {
            privileged: x.config.privileged,
            user: x.config.user.clone(),
            tty: x.config.tty,
            entrypoint: cmd.first().cloned(),
            arguments: Some(cmd.iter().skip(1).cloned().collect()),
        }),
        open_stdin: x.config.attach_stdin,
        open_stderr: x.config.attach_stderr,
        open_stdout: x.config.attach_stdout,
        container_id: Some(x.container_id.clone()),
        pid: None,
        detach_keys: x.config.detach_keys.clone(),
    };
    Ok(http::json(StatusCode::OK, &r))
}

/// `POST /exec/{id}/resize?h=&w=`.
pub async fn resize(e: &Arc<Engine>, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let x = instance(e, id)?;
    let Some(pid) = x.process_id else {
        return Err(ApiError::conflict(format!("exec {id} is not running")));
    };
    crate::containers::resize(e, &x.container_id, &pid, q).await
}
