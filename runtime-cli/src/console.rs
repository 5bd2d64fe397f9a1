//! The container's terminal: a pty from the container's devpts whose master
//! goes to the caller over `--console-socket` (or to the runtime itself for
//! a foreground `run`/`exec`).

use nix::fcntl::{open, OFlag};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::stat::Mode;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("console: {what}: {source}")]
    Sys {
        what: &'static str,
        source: nix::Error,
    },
    #[error("console: {0}")]
    Node(String),
    #[error("console socket {path}: {source}")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn sys(what: &'static str) -> impl FnOnce(nix::Error) -> Error {
    move |source| Error::Sys { what, source }
}

/// A freshly allocated pty.
pub struct Pty {
    pub master: OwnedFd,
    /// the slave's name inside the devpts instance, e.g. `/dev/pts/0`
    pub slave_name: PathBuf,
    pub slave: OwnedFd,
}

/// Opens the pty multiplexer of the current root: `/dev/pts/ptmx` reached
/// without symlinks, else `/dev/ptmx` without magic links (it is usually a
/// symlink to `pts/ptmx`); either must turn out to be the 5:2 node, so a
/// file or link the container put there is refused.
pub fn open_ptmx() -> Result<OwnedFd, Error> {
    let flags = libc::O_RDWR | libc::O_NOCTTY;
    let fd = crate::safe_open::openat2(
        libc::AT_FDCWD,
        Path::new("/dev/pts/ptmx"),
        flags | libc::O_NOFOLLOW,
        libc::RESOLVE_NO_SYMLINKS,
    )
    .or_else(|_| {
        crate::safe_open::openat2(
            libc::AT_FDCWD,
            Path::new("/dev/ptmx"),
            flags,
            libc::RESOLVE_NO_MAGICLINKS,
        )
    })
    .or_else(|e| {
        if e != nix::Error::ENOSYS {
            return Err(e);
        }
        let fd = open(
            "/dev/ptmx",
            OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        // SAFETY: open returned a fresh descriptor.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    })
    .map_err(sys("open ptmx"))?;
    crate::safe_open::require_node(&fd, libc::S_IFCHR, 5, 2, Path::new("/dev/ptmx"))
        .map_err(|e| Error::Node(e.to_string()))?;
    Ok(fd)
}

/// Allocates a pty from an opened, checked multiplexer (see [`open_ptmx`]
/// and `rootfs::open_ptmx`); the slave is opened through the master.
pub fn open_pty(master: OwnedFd) -> Result<Pty, Error> {
    let m = master.as_raw_fd();
    let mut unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int through the pointer we pass.
    if unsafe { libc::ioctl(m, libc::TIOCSPTLCK, &mut unlock) } != 0 {
        return Err(sys("unlock pty")(nix::Error::last()));
    }
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes the pty number into the uint we pass.
    if unsafe { libc::ioctl(m, libc::TIOCGPTN, &mut n) } != 0 {
        return Err(sys("get pty number")(nix::Error::last()));
    }
    // TIOCGPTPEER opens the slave relative to the master's own devpts, so
    // the path can't be swapped underneath us
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new fd.
    let s = unsafe {
        libc::ioctl(
            m,
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if s < 0 {
        return Err(sys("open pty slave")(nix::Error::last()));
    }
    // SAFETY: the ioctl returned a fresh descriptor.
    let slave = unsafe { OwnedFd::from_raw_fd(s) };
    Ok(Pty {
        master,
        slave_name: PathBuf::from(format!("/dev/pts/{n}")),
        slave,
    })
}

pub fn set_size(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads the winsize struct we pass.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

/// Connects to the caller's console socket (done by the runtime before
/// forking, so the path is resolved on the host).
pub fn connect(path: &Path) -> Result<UnixStream, Error> {
    UnixStream::connect(path).map_err(|source| Error::Connect {
        path: path.to_path_buf(),
        source,
    })
}

/// Sends the pty master over the console socket, with the slave's name as
/// the payload as runc does.
pub fn send_master(socket: RawFd, master: &OwnedFd, name: &Path) -> Result<(), Error> {
    let payload = name.to_string_lossy().into_owned();
    let iov = [IoSlice::new(payload.as_bytes())];
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        socket,
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(sys("send pty master"))?;
    Ok(())
}

/// Makes the slave the process' stdio and controlling terminal.
pub fn become_controlling(slave: &OwnedFd) -> Result<(), Error> {
    let fd = slave.as_raw_fd();
    for target in 0..3 {
        nix::unistd::dup2(fd, target).map_err(sys("dup2 pty slave"))?;
    }
    // SAFETY: TIOCSCTTY takes an int argument by value.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } != 0 {
        return Err(sys("set controlling terminal")(nix::Error::last()));
    }
    Ok(())
}
