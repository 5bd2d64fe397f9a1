//! `berth exec`: a new process in a running container, stdio over the FIFOs
//! the manager names.

use std::io::Write;
use std::os::fd::AsRawFd;

use berth_proto::manager::{ExecProcessRequest, ExecRequest};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

use crate::cli::ExecArgs;
use crate::client::Manager;
use crate::error::CliError;
use crate::flags;
use crate::session;
use crate::spec::{self, ImageConfig};
use crate::tty::{self, RawMode};

/// Exit code docker uses when the exec itself could not be set up.
const EXIT_EXEC_FAILED: i32 = 126;
/// The manager went away: berth failed, the program may well have started
/// (docker's CLI exits 1 when its daemon connection breaks).
const EXIT_LOST_MANAGER: i32 = 1;

/// `code` for an answer of the manager, [`EXIT_LOST_MANAGER`] when it went away.
fn lost_or(e: CliError, code: i32) -> (CliError, i32) {
    if e.is_lost_manager() {
        (e, EXIT_LOST_MANAGER)
    } else {
        (e, code)
    }
}

/// Opens an output FIFO for reading; read-write so opening never blocks and
/// no EOF is seen before the shim's writer is there.
pub fn open_reader(path: &str) -> Result<pipe::Receiver, CliError> {
    pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(path)
        .map_err(|e| CliError::io(format!("open fifo {path}"), e))
}

/// Copies a FIFO to a local stream until `done` fires, then drains what is
/// already buffered.
async fn copy_out(
    mut rx: pipe::Receiver,
    to_stderr: bool,
    mut done: tokio::sync::watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    let write = |b: &[u8]| {
        if to_stderr {
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(b).and_then(|_| e.flush());
        } else {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(b).and_then(|_| o.flush());
        }
    };
    loop {
        tokio::select! {
            r = rx.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => write(&buf[..n]),
            },
            _ = done.changed() => break,
        }
    }
    drain_buffered(&rx, &mut buf, write);
}

/// Hands `sink` what an output FIFO holds now, read with read(2) until
/// EAGAIN (or end of file): tokio's `try_read` answers WouldBlock until its
/// reactor has seen the FIFO readable, which can miss the last output of a
/// process that has just exited. Used by the CLI's and the API's exec.
pub fn drain_buffered(rx: &pipe::Receiver, buf: &mut [u8], mut sink: impl FnMut(&[u8])) {
    loop {
        match nix::unistd::read(rx.as_raw_fd(), buf) {
            Ok(0) => return,
            Ok(n) => sink(&buf[..n]),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
    }
}

/// The OCI `process` of a command run in container `c` (`berth exec` and
/// the API's exec): the container's env, cwd, user and confinement, with
/// `env` (`KEY=VALUE` or `KEY` from this process's env), `user` and
/// `workdir` on top.
pub fn exec_process(
    c: &berth_proto::manager::ContainerInfo,
    env: &[String],
    user: Option<&str>,
    workdir: Option<&str>,
    tty: bool,
    command: Vec<String>,
) -> Result<serde_json::Value, flags::FlagError> {
    // the container's own process settings are the base, as docker does
    let base: serde_json::Value = serde_json::from_str(&c.spec_json).unwrap_or_default();
    let base_env: Vec<String> = base["process"]["env"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    // another user gets its own HOME: drop the container user's guessed one
    // (`-u`'s is guessed below and, for a name, resolved by the manager)
    let base_env: Vec<String> = base_env
        .into_iter()
        .filter(|e| user.is_none() || (e != "HOME=/" && e != "HOME=/root"))
        .collect();
    let base_cwd = base["process"]["cwd"].as_str().unwrap_or("/").to_string();
    let base_user = flags::User {
        uid: base["process"]["user"]["uid"].as_u64().unwrap_or(0) as u32,
        gid: base["process"]["user"]["gid"].as_u64().unwrap_or(0) as u32,
    };
    let mut extra = Vec::new();
    for e in env {
        if let Some(kv) = flags::parse_env(e, |k| std::env::var(k).ok())? {
            extra.push(kv);
        }
    }
    // ids are set here; a name (and a bare uid's group) is the manager's to
    // resolve in the container's own files
    let user = match user {
        Some(u) => match crate::users::classify(u)? {
            crate::users::UserSpec::Numeric(ids) => ids,
            crate::users::UserSpec::Named(_) => base_user,
        },
        None => base_user,
    };
    let cwd = match workdir {
        Some(w) => flags::parse_workdir(w)?,
        None => base_cwd,
    };
    let image_env = ImageConfig {
        env: base_env,
        ..Default::default()
    };
    let env = spec::process_env(&image_env, &extra, tty, user.uid);
    let mut process = spec::process(command, env, &cwd, user, tty);
    // the container's confinement holds for what runs in it
    for key in ["capabilities", "noNewPrivileges", "rlimits"] {
        if let Some(v) = base["process"].get(key) {
            process[key] = v.clone();
        }
    }
    Ok(process)
}

/// `berth exec`.
pub async fn exec(m: &Manager, a: &ExecArgs) -> i32 {
    match run(m, a).await {
        Ok(code) => code,
        Err((e, code)) => {
            eprintln!("{e}");
            code
        }
    }
}

async fn run(m: &Manager, a: &ExecArgs) -> Result<i32, (CliError, i32)> {
    let inv = |e: flags::FlagError| (CliError::Invalid(e.to_string()), EXIT_EXEC_FAILED);
    let c = crate::commands::container::resolve(m, &a.container)
        .await
        .map_err(|e| (e, 1))?;
    if c.status != "running" {
        return Err((
            CliError::Daemon {
                code: berth_proto::ttrpc::Code::FAILED_PRECONDITION,
                message: format!("Container {} is not running", c.id),
            },
            1,
        ));
    }
    let env = crate::runflags::env_files_then(&a.env_file, &a.env)
        .map_err(|e| (CliError::Invalid(e), 1))?;
    let process = exec_process(
        &c,
        &env,
        a.user.as_deref(),
        a.workdir.as_deref(),
        a.tty,
        a.command.clone(),
    )
    .map_err(inv)?;

    let mut req = ExecRequest::new();
    req.container_id = c.id.clone();
    req.process_json = process.to_string();
    req.stdin = a.interactive && !a.detach;
    req.tty = a.tty;
    req.user = a.user.clone().unwrap_or_default();
    let resp = m
        .tasks
        .exec(m.ctx(), &req)
        .await
        .map_err(|e| lost_or(m.err(e), EXIT_EXEC_FAILED))?;
    let pr = {
        let mut r = ExecProcessRequest::new();
        r.container_id = c.id.clone();
        r.exec_id = resp.exec_id.clone();
        r
    };
    let io_err = |e: CliError| (e, EXIT_EXEC_FAILED);
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let mut side = Vec::new();
    let mut copies = Vec::new();
    if !a.detach {
        if !resp.stdout_path.is_empty() {
            let rx = open_reader(&resp.stdout_path).map_err(io_err)?;
            copies.push(tokio::spawn(copy_out(rx, false, done_rx.clone())));
        }
        if !resp.stderr_path.is_empty() {
            let rx = open_reader(&resp.stderr_path).map_err(io_err)?;
            copies.push(tokio::spawn(copy_out(rx, true, done_rx.clone())));
        }
    }
    let _raw = if a.tty && a.interactive && !a.detach && tty::is_tty(libc::STDIN_FILENO) {
        Some(
            RawMode::enter(&std::io::stdin())
                .map_err(|e| io_err(CliError::io("set terminal raw mode", e.into())))?,
        )
    } else {
        None
    };
    // stdin is fed only once the process runs: bytes written into the FIFO
    // before the shim opened it would be lost when this end closes
    if let Err(e) = m.tasks.start_exec(m.ctx(), &pr).await {
        let e = m.err(e);
        if e.is_lost_manager() {
            return Err((e, EXIT_LOST_MANAGER));
        }
        let code = session::start_failure_code(&e.to_string());
        let detail = match &e {
            CliError::Daemon { message, .. } => message.clone(),
            other => other.to_string(),
        };
        let msg = CliError::Invalid(format!("OCI runtime exec failed: {detail}"));
        return Err((msg, if code == 125 { EXIT_EXEC_FAILED } else { code }));
    }
    let (detach_tx, detach_rx) = tokio::sync::oneshot::channel::<()>();
    if req.stdin && !resp.stdin_path.is_empty() {
        let fifo = session::open_fifo_writer(&resp.stdin_path).map_err(io_err)?;
        let is_tty = a.tty;
        side.push(tokio::spawn(async move {
            // closing the FIFO is the end of input (see session::attach)
            if session::pump_stdin(fifo, is_tty).await {
                let _ = detach_tx.send(());
            }
        }));
    } else {
        drop(detach_tx);
    }
    if a.detach {
        return Ok(0);
    }
    if a.tty {
        side.push(tokio::spawn(tty::exit_on_termination()));
        side.push(tokio::spawn(session::resize_loop(
            m.clone(),
            c.id.clone(),
            resp.exec_id.clone(),
        )));
    }
    let waited = tokio::select! {
        w = m.tasks.wait_exec(m.ctx(), &pr) => Some(w),
        Ok(()) = detach_rx => None,
    };
    let _ = done_tx.send(true);
    for cp in copies {
        let _ = cp.await;
    }
    for s in side {
        s.abort();
    }
    match waited {
        Some(Ok(w)) => Ok(w.exit_code),
        Some(Err(e)) => Err((m.err(e), 1)),
        None => {
            session::say_detached();
            Ok(0)
        }
    }
}
