//! The container's init process, from its birth in the new namespaces to
//! the execve of the user's program. Runs forked from the runtime, so it
//! reports failures over the sync channel instead of returning them.

use crate::config::Bundle;
use crate::namespaces::NamespacePlan;
use crate::sync::{Channel, Message};
use crate::{console, hooks, process_setup, rootfs, safe_open};
use oci_spec::runtime::LinuxNamespaceType;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// What init needs, prepared by `create` before forking.
pub struct InitContext<'a> {
    pub id: &'a str,
    pub bundle: &'a Bundle,
    pub plan: &'a NamespacePlan,
    /// the state dir holding the exec FIFO; opened before pivot_root so the
    /// FIFO is reachable without /proc in the container
    pub state_dir: PathBuf,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// the caller's console socket, connected by the runtime
    pub console_socket: Option<RawFd>,
    /// the cgroup hierarchies the runtime found, when init's mount
    /// namespace is a copy of the runtime's
    pub host_cgroups: Option<&'a berth_cgroups::Hierarchies>,
    /// the seccomp filter, made ready before the fork
    pub seccomp: Option<&'a process_setup::Seccomp>,
    /// set when init was cloned straight into its namespaces, without an
    /// intermediate process
    pub direct: Option<Direct<'a>>,
}

/// What the intermediate process would have done, left to init.
pub struct Direct<'a> {
    /// the container's cgroup files, opened by the runtime
    pub cgroup: Option<&'a berth_cgroups::JoinFiles>,
    /// whether clone3 placed init in the cgroup2 directory already
    pub in_unified: bool,
    /// make the cgroup namespace, once in the cgroup
    pub new_cgroup_ns: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Rootfs(#[from] rootfs::Error),
    #[error(transparent)]
    Process(#[from] process_setup::Error),
    #[error(transparent)]
    Console(#[from] console::Error),
    #[error(transparent)]
    Hook(#[from] hooks::Error),
    #[error(transparent)]
    Sync(#[from] crate::sync::ChildError),
    #[error("{what}: {source}")]
    Sys {
        what: &'static str,
        source: nix::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

fn sys(what: &'static str) -> impl FnOnce(nix::Error) -> Error {
    move |source| Error::Sys { what, source }
}

/// Entry point in the forked child; never returns.
pub fn main(ch: &Channel, ctx: &InitContext) -> ! {
    let err = match run(ch, ctx) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // before Ready the runtime is listening; after it, `start` reads the
    // exec FIFO to its end, and the container's stderr gets a copy
    if ch.send(&Message::Error(err.to_string())).is_err() {
        let msg = format!("berth-runtime: container init failed: {err}\n");
        let fifo = START_FIFO.load(std::sync::atomic::Ordering::Relaxed);
        let told_start = fifo >= 0 && nix::unistd::write(fifo, err.to_string().as_bytes()).is_ok();
        if !told_start {
            let _ = nix::unistd::write(2, msg.as_bytes());
        }
    }
    // SAFETY: _exit ends this forked process without running the parent's
    // atexit handlers or destructors.
    unsafe { libc::_exit(1) }
}

fn run(ch: &Channel, ctx: &InitContext) -> Result<std::convert::Infallible, Error> {
    // if the runtime dies mid-setup, so does the half-made container
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    // 1. wait for the runtime to place us (cgroup, id maps)
    let host_pid = wait_for_go(ch)?;
    // until Go, an unprivileged runtime may have needed us dumpable
    process_setup::set_non_dumpable();
    if let Some(direct) = &ctx.direct {
        join_cgroup_directly(direct)?;
    }
    let spec = &ctx.bundle.spec;
    // a config without a process may be created (the spec requires one only
    // at start): init sets up with the defaults and refuses at start
    let has_process = spec.process().is_some();
    let process = spec.process().clone().unwrap_or_default();
    // 2. identity inside: root of a new user namespace, session, keyring, names
    become_session_leader(ctx)?;
    if ctx.plan.creates(LinuxNamespaceType::Uts) {
        set_host_names(spec)?;
    }
    if let Some(adj) = process.oom_score_adj() {
        set_oom_score_adj(adj)?;
    }
    // 3. the root: mounts, cgroup mount, /dev
    let rootfs = &ctx.bundle.rootfs;
    let root = if ctx.plan.creates(LinuxNamespaceType::Mount) {
        Some(rootfs::prepare(&rootfs::Context {
            spec,
            bundle: &ctx.bundle.dir,
            rootfs,
            in_user_ns: ctx.plan.has_user(),
            new_cgroup_ns: ctx.plan.creates(LinuxNamespaceType::Cgroup),
            host_cgroups: ctx.host_cgroups,
        })?)
    } else {
        None
    };
    // 4. the console, its master sent to the caller
    let pty = if process.terminal().unwrap_or(false) {
        Some(setup_console(ch, ctx, root.as_ref(), &process)?)
    } else {
        None
    };
    if let Some(sock) = ctx.console_socket {
        let _ = nix::unistd::close(sock);
    }

    // 5. hooks: the runtime's (prestart, createRuntime), then createContainer
    #[allow(deprecated)]
    let needs_runtime_hooks = spec.hooks().as_ref().is_some_and(|h| {
        h.prestart().as_ref().is_some_and(|v| !v.is_empty())
            || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
    });
    if needs_runtime_hooks {
        ch.send(&Message::RunCreateRuntimeHooks)
            .map_err(|e| Error::Sync(e.into()))?;
        ch.reply()?;
    }
    if let Some(hs) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.create_container().clone())
    {
        let state = ctx.bundle.state_json(ctx.id, host_pid, "created");
        hooks::run("createContainer", &hs, &state)?;
    }

    // 6. the cwd, the seccomp listener, the root protected and entered
    if let Some(root) = &root {
        // a missing cwd is created inside the rootfs like a mount
        // destination, so it can't be steered onto the host
        crate::safe_open::resolve_in_root(rootfs, process.cwd()).map_err(rootfs::Error::from)?;
        let _ = root.mkdir_all(process.cwd());
    }
    let state_dir = open_dir(&ctx.state_dir)?;
    let profile = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let mut listener = process_setup::NotifyListener::connect(profile)?;
    if let Some(l) = listener.as_mut() {
        let state = ctx.bundle.state_json(ctx.id, host_pid, "created");
        l.describe(
            host_pid,
            serde_json::from_slice(&state).expect("state json"),
        );
    }
    if let Some(root) = root {
        rootfs::protect(spec, &root)?;
        drop(root);
        rootfs::enter(rootfs, ctx.no_pivot)?;
        rootfs::finish(spec)?;
    } else {
        // the host's mount namespace, or a joined one that isn't ours to
        // change: every mount would land there, so the container gets its
        // rootfs as root and nothing else
        nix::unistd::chroot(rootfs.as_path()).map_err(sys("chroot"))?;
        nix::unistd::chdir("/").map_err(sys("chdir"))?;
    }
    if let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().clone()) {
        set_personality(&p)?;
    }
    // 7. the process's own setup, then Ready and wait for `start`
    if has_process {
        process_setup::chdir_cwd(&process)?;
        process_setup::set_rlimits(&process)?;
    }
    if let Some(slave) = &pty {
        console::become_controlling(slave)?;
    }
    drop(pty);
    let exec_plan = has_process
        .then(|| process_setup::plan_exec(&process, process.user().uid()))
        .transpose()?;
    process_setup::close_leaked_fds(ctx.preserve_fds)?;

    // setup is done: from here the runtime may exit; our parent is whoever
    // reaps us, so a runtime exit must no longer kill us
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0) };
    ch.send(&Message::Ready)
        .map_err(|e| Error::Sync(e.into()))?;
    // the runtime stops listening after Ready: later failures go to stderr
    let _ = nix::sys::socket::shutdown(ch.raw(), nix::sys::socket::Shutdown::Both);

    // 8. started: startContainer hooks, the last steps, execve
    // the FIFO stays open until execve closes it, so `start` returns once
    // the program runs (or reads why it couldn't)
    let start_fifo = wait_for_start(&state_dir)?;
    drop(state_dir);
    START_FIFO.store(start_fifo.as_raw_fd(), std::sync::atomic::Ordering::Relaxed);
    std::mem::forget(start_fifo);
    if let Some(hs) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().clone())
    {
        let state = ctx.bundle.state_json(ctx.id, host_pid, "running");
        hooks::run("startContainer", &hs, &state)?;
    }
    let Some(exec_plan) = exec_plan else {
        return Err(Error::Io {
            what: "start".into(),
            source: std::io::Error::other("config.json has no process to run"),
        });
    };
    process_setup::finalize(
        &process,
        ctx.seccomp,
        listener.as_ref(),
        process_setup::setgroups_allowed(),
    )?;
    Err(process_setup::exec(&exec_plan).into())
}

/// Waits for the runtime's Go: our pid as the host sees it.
fn wait_for_go(ch: &Channel) -> Result<i32, Error> {
    match ch.reply()? {
        Message::Go { host_pid } => Ok(host_pid),
        other => Err(Error::Io {
            what: "sync".into(),
            source: std::io::Error::other(format!("unexpected message {other:?}")),
        }),
    }
}

/// A directly cloned init joins its cgroups itself, then makes its cgroup
/// namespace (after the join, so the namespace's root is the container's).
fn join_cgroup_directly(direct: &Direct<'_>) -> Result<(), Error> {
    if let Some(files) = direct.cgroup {
        files.add_self(direct.in_unified).map_err(|e| Error::Io {
            what: "join cgroup".into(),
            source: std::io::Error::other(e),
        })?;
    }
    if direct.new_cgroup_ns {
        crate::namespaces::unshare(libc::CLONE_NEWCGROUP)
            .map_err(sys("create cgroup namespace"))?;
    }
    Ok(())
}

/// Root of a new user namespace (so what setup creates is root's), a new
/// session, and the container's own session keyring.
fn become_session_leader(ctx: &InitContext<'_>) -> Result<(), Error> {
    if ctx.plan.has_user() {
        // be root of the user namespace, so what setup creates is root's
        let _ = nix::unistd::setresgid(0.into(), 0.into(), 0.into());
        let _ = nix::unistd::setresuid(0.into(), 0.into(), 0.into());
    }
    nix::unistd::setsid().map_err(sys("setsid"))?;
    if !ctx.no_new_keyring {
        join_session_keyring(ctx.id);
    }
    Ok(())
}

/// The spec's hostname and domain name, in the container's UTS namespace.
fn set_host_names(spec: &oci_spec::runtime::Spec) -> Result<(), Error> {
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).map_err(sys("sethostname"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        // SAFETY: setdomainname reads len bytes from the string's buffer.
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
            return Err(sys("setdomainname")(nix::Error::last()));
        }
    }
    Ok(())
}

/// Writes the process's oom_score_adj through a verified procfs, so the
/// value reaches the kernel.
fn set_oom_score_adj(adj: i32) -> Result<(), Error> {
    let fd = crate::safe_open::ProcFs::open()
        .and_then(|p| p.open_self("oom_score_adj", libc::O_WRONLY))
        .map_err(|e| Error::Io {
            what: "set oom_score_adj".into(),
            source: std::io::Error::other(e),
        })?;
    nix::unistd::write(fd.as_raw_fd(), adj.to_string().as_bytes())
        .map_err(sys("set oom_score_adj"))?;
    Ok(())
}

/// A pty for a terminal process: from the container's own devpts (else the
/// host's), bound on /dev/console, the master sent to the console socket
/// (or to the runtime for `run`). Returns the slave.
fn setup_console(
    ch: &Channel,
    ctx: &InitContext<'_>,
    root: Option<&safe_open::Root>,
    process: &oci_spec::runtime::Process,
) -> Result<OwnedFd, Error> {
    // the container's own devpts, else (no devpts mount) the host's
    let ptmx = match root.map(rootfs::open_ptmx) {
        Some(Ok(fd)) => fd,
        Some(Err(rootfs::Error::Open(crate::safe_open::Error::Open {
            source: nix::Error::ENOENT,
            ..
        })))
        | None => console::open_ptmx()?,
        Some(Err(e)) => return Err(e.into()),
    };
    let pty = console::open_pty(ptmx)?;
    if let Some(size) = process.console_size() {
        console::set_size(
            pty.master.as_raw_fd(),
            size.height() as u16,
            size.width() as u16,
        );
    }
    if let Some(root) = root {
        rootfs::bind_console(root, &pty.slave)?;
    }
    let _ = nix::unistd::fchown(
        pty.slave.as_raw_fd(),
        Some(process.user().uid().into()),
        None,
    );
    match ctx.console_socket {
        Some(sock) => console::send_master(sock, &pty.master, &pty.slave_name)?,
        None => ch
            .send_with_fd(&Message::ConsoleMaster, Some(pty.master.as_raw_fd()))
            .map_err(|e| Error::Sync(e.into()))?,
    }
    Ok(pty.slave)
}

/// The spec's execution domain.
fn set_personality(p: &oci_spec::runtime::LinuxPersonality) -> Result<(), Error> {
    let persona = crate::process_setup::personality(p).map_err(|e| Error::Io {
        what: "personality".into(),
        source: std::io::Error::other(e),
    })?;
    // SAFETY: personality takes an integer persona.
    if unsafe { libc::personality(persona) } == -1 {
        return Err(sys("personality")(nix::Error::last()));
    }
    Ok(())
}

fn open_dir(p: &Path) -> Result<OwnedFd, Error> {
    let fd = nix::fcntl::open(
        p,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys("open state dir"))?;
    // SAFETY: open returned a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The exec FIFO's write end once `start` opened it; -1 before.
static START_FIFO: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Blocks until `start` opens the FIFO for reading, then tells it we're off.
fn wait_for_start(state_dir: &OwnedFd) -> Result<OwnedFd, Error> {
    let fd = loop {
        match nix::fcntl::openat(
            state_dir.as_raw_fd(),
            crate::state::EXEC_FIFO,
            nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        ) {
            Ok(fd) => break fd,
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(sys("open exec fifo for start")(e)),
        }
    };
    // SAFETY: openat returned a fresh descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    nix::unistd::write(fd.as_raw_fd(), b"0").map_err(sys("write exec fifo"))?;
    Ok(fd)
}

/// A fresh session keyring per container, so containers don't share keys.
fn join_session_keyring(id: &str) {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let name = std::ffi::CString::new(format!("_ses.{id}")).unwrap_or_default();
    // SAFETY: keyctl reads the NUL-terminated name; failure (no keyring
    // support, EDQUOT) is harmless and ignored as runc does.
    unsafe {
        libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr());
    }
}
