//! `start`, `state`, `kill`, `delete`, `pause`, `resume`, `list`: the
//! commands that act on a container's recorded state.

use crate::hooks;
use crate::state::{self, ContainerState, Status};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    State(#[from] state::Error),
    #[error("cannot start an already running container")]
    AlreadyRunning,
    #[error("cannot start a container that has stopped")]
    Stopped,
    #[error("cannot start a container in the {0} state")]
    NotCreated(Status),
    #[error("container not running")]
    NotRunning,
    #[error("container init failed: {0}")]
    InitFailed(String),
    #[error("cannot delete container {id} that is not stopped: {status}")]
    NotStopped { id: String, status: Status },
    #[error("container {0} is not paused")]
    NotPaused(String),
    #[error("container {0} has no cgroup to freeze")]
    NoCgroup(String),
    #[error("{0}")]
    Signal(#[from] berth_signal::InvalidSignal),
    #[error("cgroup: {0}")]
    Cgroup(#[from] berth_cgroups::Error),
    #[error(transparent)]
    Hook(#[from] hooks::Error),
    #[error("{what}: {source}")]
    Sys { what: String, source: nix::Error },
}

fn sys(what: impl Into<String>) -> impl FnOnce(nix::Error) -> Error {
    let what = what.into();
    move |source| Error::Sys { what, source }
}

/// Runs the user's program in a created container: opens the exec FIFO,
/// which releases init, then runs poststart hooks.
pub fn start(root: &Path, id: &str) -> Result<(), Error> {
    start_loaded(root, &ContainerState::load(root, id)?)
}

/// [`start`] with the state already in hand (`run` has it from `create`).
pub fn start_loaded(root: &Path, st: &ContainerState) -> Result<(), Error> {
    match st.status(root) {
        Status::Created => {}
        Status::Stopped => return Err(Error::Stopped),
        Status::Running | Status::Paused => return Err(Error::AlreadyRunning),
        s => return Err(Error::NotCreated(s)),
    }
    let fifo = st.dir(root).join(state::EXEC_FIFO);
    let fd = nix::fcntl::open(
        &fifo,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| match e {
        nix::Error::ENOENT => Error::AlreadyRunning,
        e => sys(format!("open {}", fifo.display()))(e),
    })?;
    // SAFETY: open returned a fresh descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // init may be killed before it opens its end: poll, checking it lives
    loop {
        let mut pfd = [nix::poll::PollFd::new(
            fd.as_raw_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut pfd, 100) {
            Ok(0) | Err(nix::Error::EINTR) => {
                if !crate::procfs::is_alive(st.pid, st.pid_start_time) {
                    return Err(Error::Stopped);
                }
            }
            Ok(_) => break,
            Err(e) => return Err(sys("poll exec fifo")(e)),
        }
    }
    let _ = nix::fcntl::fcntl(
        fd.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    );
    let mut f = std::fs::File::from(fd);
    let mut buf = [0u8; 1];
    let n = f.read(&mut buf).unwrap_or(0);
    let _ = std::fs::remove_file(&fifo);
    if n == 0 {
        return Err(Error::Stopped);
    }
    // init holds its end until execve: the end of the stream means the
    // program runs; anything written first is why it doesn't
    let mut why = String::new();
    let _ = f.read_to_string(&mut why);
    if !why.is_empty() {
        return Err(Error::InitFailed(why));
    }
    if let Some(hs) = st
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststart().clone())
    {
        let json = state_json(st, Status::Running);
        // the container is running: a failed hook is reported, the rest run
        for e in hooks::run_all("poststart", &hs, &json) {
            crate::logging::warn(&e.to_string());
        }
    }
    Ok(())
}

pub fn state_json(st: &ContainerState, status: Status) -> Vec<u8> {
    serde_json::to_vec(&st.oci_state(status)).expect("serializes")
}

/// `state`: the OCI state JSON, pretty-printed as runc prints it.
pub fn state(root: &Path, id: &str) -> Result<String, Error> {
    let st = ContainerState::load(root, id)?;
    let status = st.status(root);
    Ok(serde_json::to_string_pretty(&st.oci_state(status)).expect("serializes"))
}

pub fn kill(root: &Path, id: &str, signal: Option<&str>, all: bool) -> Result<(), Error> {
    let st = ContainerState::load(root, id)?;
    let sig = berth_signal::parse(signal.unwrap_or("SIGTERM"))?;
    let status = st.status(root);
    if status == Status::Stopped {
        return Err(Error::NotRunning);
    }
    if all {
        if let Some(cg) = &st.cgroup {
            for pid in cg.pids()? {
                // SAFETY: kill only sends a signal.
                unsafe { libc::kill(pid, sig) };
            }
            if status == Status::Paused && sig == libc::SIGKILL {
                let _ = cg.thaw();
            }
            return Ok(());
        }
    }
    // SAFETY: kill only sends a signal.
    if unsafe { libc::kill(st.pid, sig) } != 0 {
        let e = nix::Error::last();
        if e == nix::Error::ESRCH {
            return Err(Error::NotRunning);
        }
        return Err(sys("kill")(e));
    }
    Ok(())
}

/// `delete`: removes a stopped (or created) container; `force` kills a
/// running one first.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<(), Error> {
    let st = match ContainerState::load(root, id) {
        Ok(st) => st,
        Err(state::Error::NotExist(_)) if force => {
            // a half-created container's directory without state
            let _ = std::fs::remove_dir_all(state::container_dir(root, id));
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    delete_loaded(root, &st, force)
}

/// [`delete`] with the state already in hand.
pub fn delete_loaded(root: &Path, st: &ContainerState, force: bool) -> Result<(), Error> {
    let id = st.id.as_str();
    let status = st.status(root);
    match status {
        Status::Stopped => {}
        Status::Created => kill_and_wait(st),
        _ if force => kill_and_wait(st),
        _ => {
            return Err(Error::NotStopped {
                id: id.into(),
                status,
            })
        }
    }
    destroy(root, st)
}

fn kill_and_wait(st: &ContainerState) {
    if let Some(cg) = &st.cgroup {
        // a frozen task can't die; and without a private pid namespace
        // init's death doesn't take the others along
        if let Ok(pids) = cg.pids() {
            for pid in pids {
                // SAFETY: kill only sends a signal.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let _ = cg.thaw();
    }
    // SAFETY: kill only sends a signal.
    unsafe { libc::kill(st.pid, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while crate::procfs::is_alive(st.pid, st.pid_start_time) && Instant::now() < deadline {
        // our own child (a foreground run) must be reaped to stop being alive
        // SAFETY: waitpid with WNOHANG on a pid that may or may not be ours.
        unsafe { libc::waitpid(st.pid, std::ptr::null_mut(), libc::WNOHANG) };
        std::thread::sleep(Duration::from_millis(1));
    }
    if let Some(cg) = &st.cgroup {
        let deadline = Instant::now() + Duration::from_secs(5);
        while cg.pids().is_ok_and(|p| !p.is_empty()) && Instant::now() < deadline {
            for pid in cg.pids().unwrap_or_default() {
                // SAFETY: kill only sends a signal.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Tears down what `create` made and runs poststop hooks.
fn destroy(root: &Path, st: &ContainerState) -> Result<(), Error> {
    if let Some(cg) = &st.cgroup {
        cg.destroy()?;
    }
    let _ = std::fs::remove_dir_all(st.dir(root));
    if let Some(hs) = st
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststop().clone())
    {
        let json = state_json(st, Status::Stopped);
        for e in hooks::run_all("poststop", &hs, &json) {
            crate::logging::warn(&e.to_string());
        }
    }
    Ok(())
}

pub fn pause(root: &Path, id: &str) -> Result<(), Error> {
    let st = ContainerState::load(root, id)?;
    match st.status(root) {
        Status::Running | Status::Created => {}
        Status::Paused => return Ok(()),
        _ => return Err(Error::NotRunning),
    }
    let cg = st
        .cgroup
        .as_ref()
        .ok_or_else(|| Error::NoCgroup(id.into()))?;
    cg.freeze()?;
    Ok(())
}

pub fn resume(root: &Path, id: &str) -> Result<(), Error> {
    let st = ContainerState::load(root, id)?;
    match st.status(root) {
        Status::Paused => {}
        Status::Stopped => return Err(Error::NotRunning),
        _ => return Err(Error::NotPaused(id.into())),
    }
    let cg = st
        .cgroup
        .as_ref()
        .ok_or_else(|| Error::NoCgroup(id.into()))?;
    cg.thaw()?;
    Ok(())
}

/// `list`: every container under `root` with its live status.
pub fn list(root: &Path) -> Vec<(ContainerState, Status)> {
    state::list_ids(root)
        .into_iter()
        .filter_map(|id| ContainerState::load(root, &id).ok())
        .map(|st| {
            let s = st.status(root);
            (st, s)
        })
        .collect()
}

pub fn format_list(items: &[(ContainerState, Status)], json: bool, quiet: bool) -> String {
    if quiet {
        return items.iter().map(|(s, _)| format!("{}\n", s.id)).collect();
    }
    if json {
        let v: Vec<serde_json::Value> = items
            .iter()
            .map(|(s, status)| {
                serde_json::json!({
                    "ociVersion": state::OCI_VERSION,
                    "id": s.id,
                    "pid": if *status == Status::Stopped { 0 } else { s.pid },
                    "status": status,
                    "bundle": s.bundle,
                    "rootfs": s.rootfs,
                    "created": s.created,
                    "annotations": s.annotations,
                    "owner": s.owner,
                })
            })
            .collect();
        return serde_json::to_string(&v).expect("serializes") + "\n";
    }
    let mut rows = vec![[
        "ID".to_string(),
        "PID".into(),
        "STATUS".into(),
        "BUNDLE".into(),
        "CREATED".into(),
        "OWNER".into(),
    ]];
    for (s, status) in items {
        rows.push([
            s.id.clone(),
            if *status == Status::Stopped {
                "0".into()
            } else {
                s.pid.to_string()
            },
            status.to_string(),
            s.bundle.display().to_string(),
            s.created.clone(),
            if s.owner.is_empty() {
                "root".into()
            } else {
                s.owner.clone()
            },
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            let mut line = String::new();
            for (c, cell) in r.iter().enumerate() {
                if c + 1 == r.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{:w$}   ", cell, w = widths[c]));
                }
            }
            line + "\n"
        })
        .collect()
}
