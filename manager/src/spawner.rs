//! Runs short-lived commands (the shim binary's `start` and `delete`) from
//! threads with a descriptor table of their own.
//!
//! A child gets a copy of its parent's descriptor table at fork and closes
//! every close-on-exec entry at exec. The manager holds descriptors for each
//! container it runs (the shim's ttrpc connection, the shim's log FIFO), so
//! with 1000 containers every shim start copied and closed 2000 of them, a
//! cost that grew with every container already running. The spawner thread
//! unshares its table (`CLONE_FILES`) and closes all but stdio before it runs
//! anything; the threads it starts for each command share that small table,
//! so the child is forked with a handful of descriptors whatever the manager
//! holds.
//!
//! Those threads must never touch a descriptor of the shared table: a
//! number there may name nothing, or another file, in theirs. Waking a tokio
//! task writes to the runtime's descriptor, so results travel back over a
//! plain channel, received on tokio's blocking pool (which shares the
//! manager's table).

use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How a command ended.
#[derive(Debug)]
pub enum Outcome {
    /// It exited (or could not be started): its status and output.
    Done(io::Result<Output>),
    /// It was still running at the deadline and was killed.
    TimedOut,
}

struct Job {
    cmd: Command,
    timeout: Duration,
    reply: mpsc::SyncSender<Outcome>,
}

/// Hands commands to the spawner thread.
#[derive(Debug, Clone)]
pub struct Spawner {
    jobs: mpsc::Sender<Job>,
}

impl Spawner {
    /// Starts the spawner thread.
    pub fn start() -> Spawner {
        let (jobs, rx) = mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("spawner".into())
            .spawn(move || serve(rx));
        if let Err(e) = spawned {
            // every command then fails with "spawner is gone"
            crate::log_line!("berth-manager: start the spawner thread: {e}");
        }
        Spawner { jobs }
    }

    /// Runs `cmd` with stdin from /dev/null and its stdout and stderr
    /// captured, killing it if it runs longer than `timeout`.
    pub async fn output(&self, cmd: Command, timeout: Duration) -> Outcome {
        let (reply, done) = mpsc::sync_channel(1);
        let gone = || {
            Outcome::Done(Err(io::Error::other(
                "the manager's spawner thread is gone",
            )))
        };
        if self
            .jobs
            .send(Job {
                cmd,
                timeout,
                reply,
            })
            .is_err()
        {
            return gone();
        }
        // the job ends by its deadline, so this blocking wait does too
        match tokio::task::spawn_blocking(move || done.recv()).await {
            Ok(Ok(outcome)) => outcome,
            _ => gone(),
        }
    }
}

fn serve(jobs: mpsc::Receiver<Job>) {
    if let Err(e) = private_descriptor_table() {
        // still correct, only no cheaper than a spawn from any other thread
        crate::log_line!("berth-manager: spawner keeps the shared descriptor table: {e}");
    }
    for job in jobs {
        // threads started here share this thread's (small) table
        let started = std::thread::Builder::new()
            .name("spawn".into())
            .spawn(move || {
                let Job {
                    mut cmd,
                    timeout,
                    reply,
                } = job;
                let _ = reply.send(run(&mut cmd, timeout));
            });
        if let Err(e) = started {
            crate::log_line!("berth-manager: start a spawn thread: {e}");
        }
    }
}

/// Gives this thread a descriptor table of its own holding only stdio.
fn private_descriptor_table() -> io::Result<()> {
    // SAFETY: unshare(CLONE_FILES) takes no pointers; it changes only the
    // calling thread's descriptor table, which becomes a copy of the shared one
    if unsafe { libc::unshare(libc::CLONE_FILES) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // Only now, with a table of its own: the copies go, the manager's
    // descriptors stay open in the shared table.
    // SAFETY: close_range takes no pointers and closes descriptors of this
    // thread's private table only; nothing in this thread uses them
    let closed = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if closed == 0 {
        return Ok(());
    }
    // kernels before 5.9: one by one, as listed for this thread
    let listed: Vec<i32> = std::fs::read_dir("/proc/thread-self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in listed {
        // SAFETY: as above, a descriptor of this thread's private table
        unsafe { libc::close(fd) };
    }
    Ok(())
}

fn run(cmd: &mut Command, timeout: Duration) -> Outcome {
    let deadline = Instant::now() + timeout;
    let mut child = match cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Outcome::Done(Err(e)),
    };
    match collect(&mut child, deadline) {
        Ok(Some(output)) => Outcome::Done(Ok(output)),
        Ok(None) => {
            // not reaped yet, so the pid is still this child's
            let _ = child.kill();
            let _ = child.wait();
            Outcome::TimedOut
        }
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Outcome::Done(Err(e))
        }
    }
}

/// Reads the child's stdout and stderr to their end and waits for its exit,
/// or gives up at `deadline` (None).
fn collect(child: &mut Child, deadline: Instant) -> io::Result<Option<Output>> {
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while out.is_some() || err.is_some() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let mut fds: Vec<libc::pollfd> = [
            out.as_ref().map(|p| p.as_fd()),
            err.as_ref().map(|p| p.as_fd()),
        ]
        .into_iter()
        .flatten()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: `fds` is a live array of `fds.len()` pollfd entries whose
        // descriptors stay open for the call
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let ready = |fd: i32| fds.iter().any(|p| p.fd == fd && p.revents != 0);
        if out.as_ref().is_some_and(|p| ready(p.as_raw_fd())) && drain(&mut out, &mut stdout)? {
            out = None;
        }
        if err.as_ref().is_some_and(|p| ready(p.as_raw_fd())) && drain(&mut err, &mut stderr)? {
            err = None;
        }
    }
    // both pipes are closed: the child is exiting, or kept running without
    // them; the deadline still holds
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(Output {
                status,
                stdout,
                stderr,
            }));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// One read from a pipe poll found ready; true at its end.
fn drain<R: Read>(pipe: &mut Option<R>, into: &mut Vec<u8>) -> io::Result<bool> {
    let Some(p) = pipe.as_mut() else {
        return Ok(true);
    };
    let mut buf = [0u8; 4096];
    loop {
        match p.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                into.extend_from_slice(&buf[..n]);
                return Ok(false);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(script);
        c
    }

    #[tokio::test]
    async fn output_status_and_both_streams() {
        let s = Spawner::start();
        let Outcome::Done(Ok(out)) = s
            .output(
                sh("echo out; echo err >&2; exit 3"),
                Duration::from_secs(10),
            )
            .await
        else {
            panic!("no output");
        };
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    }

    #[tokio::test]
    async fn a_command_past_its_deadline_is_killed() {
        let s = Spawner::start();
        let started = Instant::now();
        let outcome = s.output(sh("sleep 30"), Duration::from_millis(200)).await;
        assert!(matches!(outcome, Outcome::TimedOut), "{outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        // one that closes its output but keeps running is killed too
        let outcome = s
            .output(sh("exec >&- 2>&-; sleep 30"), Duration::from_millis(200))
            .await;
        assert!(matches!(outcome, Outcome::TimedOut), "{outcome:?}");
    }

    #[tokio::test]
    async fn a_missing_binary_is_an_error() {
        let s = Spawner::start();
        let outcome = s
            .output(
                Command::new("/nonexistent/berth-shim"),
                Duration::from_secs(5),
            )
            .await;
        let Outcome::Done(Err(e)) = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn the_child_sees_none_of_the_managers_descriptors() {
        // inheritable on purpose: a child forked from the shared table gets it
        // SAFETY: a NUL-terminated path; the descriptor is closed below
        let inheritable = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
        assert!(inheritable > 2);
        let s = Spawner::start();
        let Outcome::Done(Ok(out)) = s
            .output(sh("ls /proc/self/fd"), Duration::from_secs(10))
            .await
        else {
            panic!("no output");
        };
        let fds: Vec<i32> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        assert!(!fds.contains(&inheritable), "{fds:?}");
        // stdio, and the directory `ls` reads
        assert!(fds.len() <= 4, "{fds:?}");
        // the manager's own descriptor is still open
        // SAFETY: F_GETFD on a descriptor number takes no pointers
        assert!(unsafe { libc::fcntl(inheritable, libc::F_GETFD) } >= 0);
        // SAFETY: the descriptor opened above, closed once
        unsafe { libc::close(inheritable) };
        // and a later spawn still works
        let Outcome::Done(Ok(out)) = s.output(sh("echo again"), Duration::from_secs(10)).await
        else {
            panic!("no output");
        };
        assert_eq!(out.stdout, b"again\n");
    }
}
