//! The daemon half of `start`: serve the task API on the inherited socket
//! (fd 3) until Shutdown. The main thread runs the shim's [`Reactor`]: the
//! ttrpc connections, child exits (a signalfd), the containers' output and
//! OOM events. An idle shim is that one thread.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{getsockname, UnixAddr};
use nix::unistd::dup2;

use crate::args::Args;
use crate::events::Publisher;
use crate::reactor::{Reactor, Watch};
use crate::reaper::Reaper;
use crate::rpc::{Deferred, Server};
use crate::service::Service;

/// The listening socket `start` hands down.
const LISTENER_FD: i32 = 3;
/// How long requests still running at Shutdown get to answer.
const DRAIN: Duration = Duration::from_secs(5);
/// The task service's Wait under both of its names: answered from the
/// exit, with no thread waiting.
const WAIT_PATHS: [&str; 2] = [
    "/containerd.task.v2.Task/Wait",
    "/containerd.task.v3.Task/Wait",
];

/// Serving failed to start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A system call during setup.
    #[error("{what}: {source}")]
    Sys {
        /// What was being set up.
        what: &'static str,
        /// Why.
        source: io::Error,
    },
}

fn sys(what: &'static str) -> impl FnOnce(nix::Error) -> ServeError {
    move |e| ServeError::Sys {
        what,
        source: e.into(),
    }
}

/// containerd reads the shim's log from the `log` FIFO in the bundle;
/// without a reader (no containerd) the shim logs nowhere.
fn log_to_fifo() {
    let opened = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("log");
    if let Ok(f) = opened {
        let _ = dup2(f.as_raw_fd(), libc::STDERR_FILENO);
    }
}

/// Moves the shim into a mount namespace of its own (see
/// [`berth_proto::SHIM_PRIVATE_MOUNTS_ENV`]), receiving the host's mount
/// events but sending none: the rootfs it mounts is seen by the runtime it
/// runs and the container that copies it, and goes with the shim. Called
/// while the shim has one thread: unshare(CLONE_NEWNS) refuses a process
/// whose threads share its filesystem context.
fn private_mounts() -> Result<(), ServeError> {
    use nix::mount::{mount, MsFlags};
    // SAFETY: unshare takes a flag word and no pointers.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(ServeError::Sys {
            what: "make a mount namespace",
            source: io::Error::last_os_error(),
        });
    }
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(sys("make the mount namespace a slave of the host's"))
}

/// Serves until Shutdown; returns when the shim should exit.
pub fn serve(args: &Args) -> Result<(), ServeError> {
    // Before any thread exists, so every thread inherits the mask and
    // SIGCHLD only reaches the reactor's signalfd.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGCHLD);
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&signals), None).map_err(sys("block signals"))?;
    // SAFETY: setting SIGPIPE to ignored before any other thread exists;
    // writes to a FIFO whose reader left then fail with EPIPE instead.
    unsafe {
        nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn)
            .map_err(sys("ignore SIGPIPE"))?;
    }
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag and no pointers.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(ServeError::Sys {
            what: "become a child subreaper",
            source: io::Error::last_os_error(),
        });
    }
    if std::env::var_os(berth_proto::SHIM_PRIVATE_MOUNTS_ENV).is_some() {
        private_mounts()?;
    }
    log_to_fifo();
    // `start` handed the socket down without FD_CLOEXEC; neither the runtime
    // nor a container's process may inherit it (a container's init waiting
    // for `start` would keep a dead shim's socket accepting connections)
    nix::fcntl::fcntl(
        LISTENER_FD,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .map_err(sys("mark the task socket close-on-exec"))?;
    // One malloc arena: the threads allocate little, and per-thread arenas
    // cost resident memory for nothing. No top pad: glibc grows the heap
    // 128 KiB beyond each request by default, pages an idle shim then keeps
    // (measured: heap 264 KiB resident with the pad, 144 KiB without).
    // SAFETY: mallopt only changes allocator tuning.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_TOP_PAD, 0);
    }

    let socket: Option<PathBuf> = getsockname::<UnixAddr>(LISTENER_FD)
        .ok()
        .and_then(|a| a.path().map(PathBuf::from));
    let reactor = Arc::new(Reactor::new().map_err(|source| ServeError::Sys {
        what: "make the event loop",
        source,
    })?);
    let reaper = Arc::new(Reaper::new());
    let events = Arc::new(Publisher::new(
        std::env::var("TTRPC_ADDRESS").ok(),
        args.namespace.clone(),
    ));
    let stopper = reactor.clone();
    let service = Arc::new(Service::new(
        args.namespace.clone(),
        reaper.clone(),
        events,
        reactor.clone(),
        Box::new(move || stopper.stop()),
    ));
    let mut deferred: HashMap<String, Deferred> = HashMap::new();
    for path in WAIT_PATHS {
        let service = service.clone();
        deferred.insert(
            path.to_string(),
            Box::new(move |req, replier| service.wait_deferred(req, replier)),
        );
    }
    let server = Server::new(berth_proto::task::create_task(service.clone()), deferred);
    // SAFETY: fd 3 is the listening socket `start` handed down; nothing
    // else in this process owns it.
    let listener = unsafe { OwnedFd::from_raw_fd(LISTENER_FD) };
    server
        .listen(&reactor, listener)
        .map_err(|source| ServeError::Sys {
            what: "listen on the task socket",
            source,
        })?;
    let sigchld = SignalFd::with_flags(&signals, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(sys("make a signalfd"))?;
    reactor.add(Box::new(Children {
        fd: sigchld,
        reaper,
        service: service.clone(),
    }));

    reactor.run();
    // Answers in flight (the Shutdown reply) are written before exiting.
    server.drain(DRAIN);
    service.events().close();
    if let Some(path) = socket {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Reaps children when SIGCHLD is pending on the signalfd.
struct Children {
    fd: SignalFd,
    reaper: Arc<Reaper>,
    service: Arc<Service>,
}

impl Watch for Children {
    fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn ready(&mut self, _: &Reactor) -> bool {
        // Drain the queued signals; one reap collects every exited child.
        while let Ok(Some(_)) = self.fd.read_signal() {}
        let service = &self.service;
        self.reaper.reap(|exit| service.on_exit(exit));
        true
    }
}
