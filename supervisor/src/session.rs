//! Attaching the local terminal to a container: output from its log, input
//! into its stdin FIFO, raw mode and resize for `-t`, detach keys, and
//! signals forwarded for non-tty sessions.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use berth_proto::manager::{
    AttachResponse, KillRequest, ResizePtyRequest, StartTaskRequest, TaskRequest,
};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

use crate::client::Manager;
use crate::error::CliError;
use crate::logs::{self, Reader};
use crate::tty::{self, DetachScanner, RawMode};

/// How an attached session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    Detached,
}

/// What to attach.
#[derive(Debug, Clone, Copy)]
pub struct AttachOptions {
    /// forward local stdin into the container
    pub stdin: bool,
    /// show the log from its start (run, start -a) rather than from now
    pub from_start: bool,
    /// start the task once attached (run, start -a)
    pub start: bool,
    /// which output streams are printed (`run -a`)
    pub shown: Shown,
}

/// The streams `run -a STDIN|STDOUT|STDERR` attaches (all without `-a`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

impl Shown {
    pub const ALL: Shown = Shown {
        stdin: true,
        stdout: true,
        stderr: true,
    };

    /// Parses `-a` values (any case); none given is every stream.
    pub fn parse(values: &[String]) -> Result<Shown, String> {
        if values.is_empty() {
            return Ok(Shown::ALL);
        }
        let mut s = Shown {
            stdin: false,
            stdout: false,
            stderr: false,
        };
        for v in values {
            match v.to_ascii_lowercase().as_str() {
                "stdin" => s.stdin = true,
                "stdout" => s.stdout = true,
                "stderr" => s.stderr = true,
                _ => {
                    return Err(format!(
                        "invalid argument \"{v}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"
                    ))
                }
            }
        }
        Ok(s)
    }

    fn shows(self, stream: logs::Stream) -> bool {
        match stream {
            logs::Stream::Stdout => self.stdout,
            logs::Stream::Stderr => self.stderr,
        }
    }
}

/// Chunks of local stdin, read on a plain thread: a blocking read of a
/// terminal cannot be cancelled, and the thread simply dies with berth.
pub fn stdin_chunks() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Opens a stdin FIFO for writing without blocking on the reader.
pub fn open_fifo_writer(path: &str) -> Result<tokio::net::unix::pipe::Sender, CliError> {
    tokio::net::unix::pipe::OpenOptions::new()
        .read_write(true)
        .open_sender(path)
        .map_err(|e| CliError::io(format!("open stdin fifo {path}"), e))
}

/// Copies local stdin into `fifo`; with `tty`, watches for the detach keys.
/// Returns true when the user detached, false at end of input.
pub async fn pump_stdin(mut fifo: tokio::net::unix::pipe::Sender, tty: bool) -> bool {
    let mut rx = stdin_chunks();
    let mut scanner = DetachScanner::default();
    while let Some(chunk) = rx.recv().await {
        let (data, detached) = if tty {
            scanner.feed(&chunk)
        } else {
            (chunk, false)
        };
        if !data.is_empty() && fifo.write_all(&data).await.is_err() {
            return false;
        }
        if detached {
            return true;
        }
    }
    false
}

/// Keeps the container's pty at the local terminal's size.
pub async fn resize_loop(m: Manager, container_id: String, exec_id: String) {
    let send = |m: Manager, cid: String, eid: String| async move {
        if let Some((w, h)) = tty::size(libc::STDOUT_FILENO) {
            let mut r = ResizePtyRequest::new();
            r.container_id = cid;
            r.exec_id = eid;
            r.width = w as u32;
            r.height = h as u32;
            let _ = m.tasks.resize_pty(m.ctx(), &r).await;
        }
    };
    send(m.clone(), container_id.clone(), exec_id.clone()).await;
    let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
    else {
        return;
    };
    while sig.recv().await.is_some() {
        send(m.clone(), container_id.clone(), exec_id.clone()).await;
    }
}

/// Forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the
/// container (docker's sig-proxy) for sessions without a tty.
pub async fn proxy_signals(m: Manager, container_id: String) {
    use tokio::signal::unix::{signal, SignalKind};
    let kinds = [
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::quit(), "SIGQUIT"),
        (SignalKind::user_defined1(), "SIGUSR1"),
        (SignalKind::user_defined2(), "SIGUSR2"),
    ];
    let (tx, mut rx) = mpsc::channel::<&'static str>(8);
    for (kind, name) in kinds {
        let Ok(mut s) = signal(kind) else { continue };
        let tx = tx.clone();
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                if tx.send(name).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    while let Some(name) = rx.recv().await {
        let mut k = KillRequest::new();
        k.container_id = container_id.clone();
        k.signal = name.to_string();
        let _ = m.tasks.kill_task(m.ctx(), &k).await;
    }
}

/// Opens the log, waiting (bounded) for the shim to create it.
pub async fn open_log(path: &str) -> Result<Option<File>, CliError> {
    for _ in 0..500 {
        match File::open(path) {
            Ok(f) => return Ok(Some(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tokio::time::sleep(Duration::from_millis(10)).await
            }
            Err(e) => return Err(CliError::io(format!("open log {path}"), e)),
        }
    }
    Ok(None)
}

/// Maps a start failure to docker's exit codes: 127 for a missing program,
/// 126 for one that cannot be run, else 125.
pub fn start_failure_code(message: &str) -> i32 {
    let m = message.to_ascii_lowercase();
    if m.contains("not found") || m.contains("no such file") {
        127
    } else if m.contains("permission denied") || m.contains("not executable") {
        126
    } else {
        crate::error::EXIT_BERTH_FAILED
    }
}

/// Starts the task; a start failure keeps its message and says which exit
/// code docker would use.
pub async fn start_task(m: &Manager, id: &str) -> Result<(), (CliError, i32)> {
    let mut r = StartTaskRequest::new();
    r.container_id = id.to_string();
    // a repeat after the manager went away may find the first start done:
    // "already running", or gone (it ran, exited and was auto-removed), is
    // then this start's success
    let started = m
        .again(|m, repeat| {
            let r = r.clone();
            async move {
                match m.tasks.start_task(m.ctx(), &r).await {
                    Ok(_) => Ok(()),
                    Err(e) => match m.err(e) {
                        e if repeat && (e.is_failed_precondition() || e.is_not_found()) => Ok(()),
                        e => Err(e),
                    },
                }
            }
        })
        .await;
    started.map_err(|e| {
        let code = if e.is_lost_manager() {
            crate::error::EXIT_BERTH_FAILED
        } else {
            start_failure_code(&e.to_string())
        };
        (e, code)
    })
}

/// Attaches to container `id` and runs the session to its end.
/// What an attached client reads: the log `file` (opened at the attach
/// response's log path) from its start or only what comes next, following
/// rotation, with the spill of lines the log could not take (a full disk)
/// read alongside: both are the attach session's output.
pub fn attached_reader(
    file: File,
    att: &AttachResponse,
    from_start: bool,
) -> std::io::Result<Reader> {
    let r = if from_start {
        Reader::new(file)
    } else {
        Reader::at_end(file)?
    }
    .following(&att.log_path);
    Ok(match att.spill_path.as_str() {
        "" => r,
        spill => r.with_spill(Path::new(spill), from_start),
    })
}

pub async fn attach(
    m: &Manager,
    id: &str,
    opts: AttachOptions,
) -> Result<Outcome, (CliError, i32)> {
    let berth_err = |e: CliError| (e, crate::error::EXIT_BERTH_FAILED);
    let mut req = TaskRequest::new();
    req.container_id = id.to_string();
    let att = m
        .tasks
        .attach_task(m.ctx(), &req)
        .await
        .map_err(|e| berth_err(m.err(e)))?;
    let local_tty = tty::is_tty(libc::STDIN_FILENO);
    let _raw = if att.tty && opts.stdin && local_tty {
        Some(RawMode::enter(&std::io::stdin()).map_err(|e| {
            berth_err(CliError::io(
                "set terminal raw mode",
                std::io::Error::from(e),
            ))
        })?)
    } else {
        None
    };

    let mut reader = if Path::new(&att.log_path).exists() || !opts.start {
        match open_log(&att.log_path).await.map_err(berth_err)? {
            Some(f) => Some(
                attached_reader(f, &att, opts.from_start)
                    .map_err(|e| berth_err(CliError::io("seek log", e)))?,
            ),
            None => None,
        }
    } else {
        None
    };

    if opts.start {
        // the manager makes the init's stdin FIFO as it starts the task
        start_task(m, id).await?;
    }
    let (detach_tx, detach_rx) = oneshot::channel::<()>();
    let mut tasks = Vec::new();
    if opts.stdin && !att.stdin_path.is_empty() {
        let fifo = open_fifo_writer(&att.stdin_path).map_err(berth_err)?;
        let is_tty = att.tty;
        tasks.push(tokio::spawn(async move {
            // End of input closes the FIFO, which the shim passes on as the
            // process's end of input once it has copied what came before;
            // a CloseStdin here could overtake that copy and lose the tail.
            if pump_stdin(fifo, is_tty).await {
                let _ = detach_tx.send(());
            }
        }));
    } else {
        drop(detach_tx);
    }
    if att.tty {
        tasks.push(tokio::spawn(tty::exit_on_termination()));
        tasks.push(tokio::spawn(resize_loop(
            m.clone(),
            id.to_string(),
            String::new(),
        )));
    } else {
        tasks.push(tokio::spawn(proxy_signals(m.clone(), id.to_string())));
    }
    if reader.is_none() {
        reader = match open_log(&att.log_path).await.map_err(berth_err)? {
            Some(f) => Some(
                attached_reader(f, &att, true)
                    .map_err(|e| berth_err(CliError::io("seek log", e)))?,
            ),
            None => None,
        };
    }

    let wait = {
        let m = m.clone();
        let req = req.clone();
        async move {
            let waited = m.again(|m, _| {
                let req = req.clone();
                async move { m.tasks.wait_task(m.ctx(), &req).await.map_err(|e| m.err(e)) }
            });
            tokio::select! {
                r = waited => Some(r),
                Ok(()) = detach_rx => None,
            }
        }
    };
    let p = logs::Print::default();
    let shown = opts.shown;
    let sink = |e: &logs::Entry| {
        if !shown.shows(e.stream) {
            return;
        }
        let _ = logs::print(
            e,
            p,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        );
    };
    let ended = match reader.as_mut() {
        Some(r) => r
            .follow(sink, wait)
            .await
            .map_err(|e| berth_err(CliError::io("read log", e)))?,
        None => wait.await,
    };
    for t in tasks {
        t.abort();
    }
    match ended {
        Some(Ok(w)) => Ok(Outcome::Exited(w.exit_code)),
        Some(Err(e)) => Err(berth_err(e)),
        None => Ok(Outcome::Detached),
    }
}

/// Prints what docker prints on detach.
pub fn say_detached() {
    let mut err = std::io::stderr();
    let _ = err.write_all(b"\r\nread escape sequence\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failure_codes_like_docker() {
        assert_eq!(
            start_failure_code("exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(
            start_failure_code("open /x: No such file or directory"),
            127
        );
        assert_eq!(
            start_failure_code("exec /etc/passwd: permission denied"),
            126
        );
        assert_eq!(start_failure_code("cgroup: device busy"), 125);
    }
}
