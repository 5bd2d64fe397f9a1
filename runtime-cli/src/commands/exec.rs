//! `exec`: a new process in a running container's namespaces and cgroup.

use crate::cli::ExecArgs;
use crate::commands::create;
use crate::state::{self, ContainerState, Status};
use crate::sync::{self, Channel, Message};
use crate::{console, foreground, process_setup, spawn};
use oci_spec::runtime::{LinuxCapabilities, LinuxNamespaceType, Process};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    State(#[from] state::Error),
    #[error("cannot exec in a stopped container")]
    Stopped,
    #[error("cannot exec in a paused container")]
    Paused,
    #[error("process file {path}: {msg}")]
    ProcessFile { path: PathBuf, msg: String },
    #[error("exec needs a command or --process")]
    NoCommand,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Console(#[from] console::Error),
    #[error(transparent)]
    Create(#[from] create::Error),
    #[error(transparent)]
    Sync(#[from] sync::Error),
    #[error(transparent)]
    Foreground(#[from] foreground::Error),
    #[error("exec failed: {0}")]
    Child(String),
    #[error("{what}: {source}")]
    Sys { what: String, source: nix::Error },
    #[error("cannot allocate a terminal when the runtime detaches without --console-socket")]
    NeedConsoleSocket,
}

/// Result of a foreground exec: the process' exit code.
pub fn exec(root: &std::path::Path, args: &ExecArgs) -> Result<i32, Error> {
    let st = ContainerState::load(root, &args.id)?;
    match st.status(root) {
        Status::Stopped => return Err(Error::Stopped),
        Status::Paused if !args.ignore_paused => return Err(Error::Paused),
        _ => {}
    }
    let process = build_process(&st, args)?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && args.detach && args.console_socket.is_none() {
        return Err(Error::NeedConsoleSocket);
    }
    // connected here: the listener's path is the host's
    let listener = process_setup::NotifyListener::connect(
        st.config
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref()),
    )
    .map_err(|e| Error::Child(e.to_string()))?;
    let console_sock = args
        .console_socket
        .as_deref()
        .map(console::connect)
        .transpose()?;
    let ns_fds = container_namespaces(st.pid)?;
    // compiled (or read from the cache) before the fork, as for create
    let filter =
        crate::config::seccomp(root, &st.config).map_err(|e| Error::Invalid(e.to_string()))?;
    let (parent, child) = sync::pair()?;

    // SAFETY: the runtime is single-threaded; the child runs until exec/exit.
    let intermediate = match unsafe { nix::unistd::fork() }.map_err(|source| Error::Sys {
        what: "fork".into(),
        source,
    })? {
        nix::unistd::ForkResult::Child => {
            drop(parent);
            let placement = spawn::Placement {
                cgroup: st.cgroup.as_ref(),
                join: &ns_fds,
                new_user: false,
                new: 0,
            };
            let console_socket = console_sock.as_ref().map(|s| s.as_raw_fd());
            spawn::intermediate(child, &placement, |ch| {
                let err = run_child(
                    ch,
                    &st,
                    &process,
                    filter.as_ref(),
                    listener,
                    console_socket,
                    args.preserve_fds,
                );
                let _ = ch.send(&Message::Error(err));
                // SAFETY: _exit ends the forked container process.
                unsafe { libc::_exit(1) }
            })
        }
        nix::unistd::ForkResult::Parent { child } => child.as_raw(),
    };
    drop(child);
    drop(console_sock);
    let mut pid = 0;
    let mut console = None;
    let outcome = loop {
        match parent.recv() {
            Ok((Message::Pid(p), _)) => {
                pid = p;
                // SAFETY: reaping the intermediate child we forked.
                unsafe { libc::waitpid(intermediate, std::ptr::null_mut(), 0) };
                parent.send(&Message::Go { host_pid: p })?;
            }
            Ok((Message::ConsoleMaster, fd)) => console = fd,
            Ok((Message::Error(e), _)) => break Err(Error::Child(e)),
            Ok((other, _)) => break Err(Error::Child(format!("unexpected message {other:?}"))),
            // the channel is close-on-exec: its closing means the exec happened
            Err(sync::Error::Closed) if pid > 0 => break Ok(()),
            Err(sync::Error::Closed) => {
                break Err(Error::Child("setup process exited early".into()))
            }
            Err(e) => break Err(e.into()),
        }
    };
    if let Err(e) = outcome {
        if pid > 0 {
            // SAFETY: reaping our own failed child.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        } else {
            // SAFETY: reaping the intermediate child.
            unsafe { libc::waitpid(intermediate, std::ptr::null_mut(), 0) };
        }
        return Err(e);
    }
    if let Some(p) = &args.pid_file {
        create::write_pid_file(p, pid)?;
    }
    if args.detach {
        return Ok(0);
    }
    Ok(foreground::wait(pid, console)?)
}

/// The exec'd process: `--process` JSON, or the container's process with
/// the command line's overrides.
fn build_process(st: &ContainerState, args: &ExecArgs) -> Result<Process, Error> {
    if let Some(path) = &args.process {
        let data = std::fs::read(path).map_err(|e| Error::ProcessFile {
            path: path.clone(),
            msg: e.to_string(),
        })?;
        let p: Process = serde_json::from_slice(&data).map_err(|e| Error::ProcessFile {
            path: path.clone(),
            msg: e.to_string(),
        })?;
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::ProcessFile {
                path: path.clone(),
                msg: "args must not be empty".into(),
            });
        }
        let mut p = p;
        if args.tty {
            p.set_terminal(Some(true));
        }
        return Ok(p);
    }
    if args.command.is_empty() {
        return Err(Error::NoCommand);
    }
    let mut p = st.config.process().clone().unwrap_or_default();
    p.set_args(Some(args.command.clone()));
    p.set_terminal(Some(args.tty));
    p.set_console_size(None);
    if let Some(cwd) = &args.cwd {
        p.set_cwd(PathBuf::from(cwd));
    }
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &args.env {
        let key = kv.split('=').next().unwrap_or("");
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(u) = &args.user {
        let (uid, gid) = crate::cli::parse_user(u).map_err(Error::Invalid)?;
        let mut user = p.user().clone();
        user.set_uid(uid);
        user.set_gid(gid.unwrap_or(0));
        p.set_user(user);
    }
    if !args.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(args.additional_gids.clone()));
        p.set_user(user);
    }
    if args.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !args.cap.is_empty() {
        let mut caps: LinuxCapabilities = p.capabilities().clone().unwrap_or_default();
        for name in &args.cap {
            let c = crate::process_setup::parse_capability(name).map_err(Error::Invalid)?;
            let Some(oc) = process_setup::oci_cap(c) else {
                continue;
            };
            let add = |s: Option<std::collections::HashSet<oci_spec::runtime::Capability>>| {
                let mut s = s.unwrap_or_default();
                s.insert(oc);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding().clone()));
            caps.set_effective(add(caps.effective().clone()));
            caps.set_permitted(add(caps.permitted().clone()));
            caps.set_inheritable(add(caps.inheritable().clone()));
        }
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

/// The container's namespaces that differ from ours, in join order.
fn container_namespaces(pid: i32) -> Result<Vec<(LinuxNamespaceType, OwnedFd)>, Error> {
    let mut out = Vec::new();
    for t in crate::namespaces::JOIN_ORDER {
        let name = crate::namespaces::proc_ns_name(*t);
        let theirs = format!("/proc/{pid}/ns/{name}");
        let ours = format!("/proc/self/ns/{name}");
        let (Ok(a), Ok(b)) = (std::fs::metadata(&theirs), std::fs::metadata(&ours)) else {
            continue;
        };
        if a.ino() == b.ino() && a.dev() == b.dev() {
            continue;
        }
        let fd = nix::fcntl::open(
            theirs.as_str(),
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|source| Error::Sys {
            what: format!("open {theirs}"),
            source,
        })?;
        // SAFETY: open returned a fresh descriptor.
        out.push((*t, unsafe { OwnedFd::from_raw_fd(fd) }));
    }
    Ok(out)
}

/// In the container's namespaces: terminal, cwd, limits, identity, exec.
/// Returns only on failure.
fn run_child(
    ch: &Channel,
    st: &ContainerState,
    process: &Process,
    filter: Option<&process_setup::Seccomp>,
    mut listener: Option<process_setup::NotifyListener>,
    console_socket: Option<RawFd>,
    preserve_fds: u32,
) -> String {
    let mut inner = || -> Result<std::convert::Infallible, String> {
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
        let host_pid = match ch.reply() {
            Ok(Message::Go { host_pid }) => host_pid,
            Ok(m) => return Err(format!("unexpected message {m:?}")),
            Err(e) => return Err(e.to_string()),
        };
        if let Some(l) = listener.as_mut() {
            let state = serde_json::to_value(st.oci_state(Status::Running)).expect("state json");
            l.describe(host_pid, state);
        }
        nix::unistd::setsid().map_err(|e| format!("setsid: {e}"))?;
        if process.terminal().unwrap_or(false) {
            let pty = console::open_ptmx()
                .and_then(console::open_pty)
                .map_err(|e| e.to_string())?;
            if let Some(size) = process.console_size() {
                console::set_size(
                    pty.master.as_raw_fd(),
                    size.height() as u16,
                    size.width() as u16,
                );
            }
            let _ = nix::unistd::fchown(
                pty.slave.as_raw_fd(),
                Some(process.user().uid().into()),
                None,
            );
            match console_socket {
                Some(s) => console::send_master(s, &pty.master, &pty.slave_name)
                    .map_err(|e| e.to_string())?,
                None => ch
                    .send_with_fd(&Message::ConsoleMaster, Some(pty.master.as_raw_fd()))
                    .map_err(|e| e.to_string())?,
            }
            console::become_controlling(&pty.slave).map_err(|e| e.to_string())?;
        }
        if let Some(s) = console_socket {
            let _ = nix::unistd::close(s);
        }
        process_setup::chdir_cwd(process).map_err(|e| e.to_string())?;
        process_setup::set_rlimits(process).map_err(|e| e.to_string())?;
        let plan =
            process_setup::plan_exec(process, process.user().uid()).map_err(|e| e.to_string())?;
        process_setup::close_leaked_fds(preserve_fds).map_err(|e| e.to_string())?;
        process_setup::finalize(
            process,
            filter,
            listener.as_ref(),
            process_setup::setgroups_allowed(),
        )
        .map_err(|e| e.to_string())?;
        // our parent is the runtime (CLONE_PARENT), which exits at once
        // under --detach: from here its death must not take us along
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0) };
        Err(process_setup::exec(&plan).to_string())
    };
    match inner() {
        Ok(never) => match never {},
        Err(e) => e,
    }
}
