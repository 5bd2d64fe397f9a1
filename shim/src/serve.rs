//! The daemon half of `start`: serve the task API on the inherited socket
//! (fd 3) until Shutdown, reaping children on the main thread.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use berth_proto::ttrpc;
use nix::sys::signal::{kill, pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::sys::socket::{getsockname, UnixAddr};
use nix::unistd::{dup2, getpid};

use crate::args::Args;
use crate::events::Publisher;
use crate::reaper::Reaper;
use crate::service::Service;

/// The listening socket `start` hands down.
const LISTENER_FD: i32 = 3;
/// ttrpc worker threads per connection: containerd holds one connection
/// and rarely has more than a Wait and one other call in flight.
const WORKERS_MIN: usize = 1;
const WORKERS_DEFAULT: usize = 2;
const WORKERS_MAX: usize = 4;

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
    /// The ttrpc server.
    #[error("ttrpc server: {0}")]
    Ttrpc(#[from] ttrpc::Error),
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

/// Serves until Shutdown; returns when the shim should exit.
pub fn serve(args: &Args) -> Result<(), ServeError> {
    // Before any thread exists, so every thread inherits the mask and only
    // the main thread's sigwait sees these.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGCHLD);
    signals.add(Signal::SIGUSR1);
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
    // cost resident memory for nothing.
    // SAFETY: mallopt only changes allocator tuning.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }

    let socket: Option<PathBuf> = getsockname::<UnixAddr>(LISTENER_FD)
        .ok()
        .and_then(|a| a.path().map(PathBuf::from));
    let reaper = Arc::new(Reaper::new());
    let events = Arc::new(Publisher::new(
        std::env::var("TTRPC_ADDRESS").ok(),
        args.namespace.clone(),
    ));
    let service = Arc::new(Service::new(
        args.namespace.clone(),
        reaper.clone(),
        events,
        Box::new(|| {
            let _ = kill(getpid(), Signal::SIGUSR1);
        }),
    ));
    let mut server = ttrpc::Server::new()
        .add_listener(LISTENER_FD)?
        .set_thread_count_min(WORKERS_MIN)
        .set_thread_count_default(WORKERS_DEFAULT)
        .set_thread_count_max(WORKERS_MAX)
        .register_service(berth_proto::task::create_task(service.clone()));
    server.start()?;

    loop {
        match signals.wait() {
            Ok(Signal::SIGUSR1) => break,
            Ok(_) => reaper.reap(|exit| service.on_exit(exit)),
            Err(e) => eprintln!("sigwait: {e}"),
        }
    }
    // Answers in flight (the Shutdown reply) are written before the
    // connections close.
    server.shutdown();
    service.events().close();
    if let Some(path) = socket {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}
