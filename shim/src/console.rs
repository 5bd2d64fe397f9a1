//! The console socket: the runtime sends the pty master of a terminal
//! process over it (SCM_RIGHTS), as runc's `--console-socket` does.

use std::fs::File;
use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

/// What went wrong receiving a pty master.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The socket could not be created.
    #[error("console socket {path}: {source}")]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The runtime finished without sending a pty.
    #[error("console socket {0}: the runtime sent no pty master")]
    NothingSent(PathBuf),
    /// Receiving failed.
    #[error("console socket {path}: {source}")]
    Receive {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Setting the window size failed.
    #[error("resize pty: {0}")]
    Resize(io::Error),
}

/// A listening console socket, removed on drop.
pub struct ConsoleSocket {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    /// A new socket in the temp dir (bundle paths can be too long for a
    /// socket address).
    pub fn new() -> Result<ConsoleSocket, ConsoleError> {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "berth-shim-pty-{}-{}.sock",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|source| ConsoleError::Bind {
            path: path.clone(),
            source,
        })?;
        Ok(ConsoleSocket { path, listener })
    }

    /// The socket's path, for `--console-socket`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pty master the runtime sent. Call after the runtime exited: it
    /// connects and sends before it exits, so the connection is queued.
    pub fn receive(&self) -> Result<File, ConsoleError> {
        let recv_err = |source| ConsoleError::Receive {
            path: self.path.clone(),
            source,
        };
        self.listener.set_nonblocking(true).map_err(recv_err)?;
        let (conn, _) = match self.listener.accept() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(ConsoleError::NothingSent(self.path.clone()))
            }
            Err(e) => return Err(recv_err(e)),
        };
        let mut name = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut name)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| recv_err(io::Error::from(e)))?;
        for cmsg in msg.cmsgs() {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                let mut fds = fds.into_iter();
                if let Some(fd) = fds.next() {
                    for extra in fds {
                        // SAFETY: the kernel just gave us this descriptor; we own it.
                        drop(unsafe { File::from_raw_fd(extra) });
                    }
                    // SAFETY: the kernel just gave us this descriptor; we own it.
                    return Ok(unsafe { File::from_raw_fd(fd) });
                }
            }
        }
        Err(ConsoleError::NothingSent(self.path.clone()))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Sets the terminal size of a pty master.
pub fn resize(master: &File, width: u32, height: u32) -> Result<(), ConsoleError> {
    let ws = libc::winsize {
        ws_row: height.min(u16::MAX as u32) as u16,
        ws_col: width.min(u16::MAX as u32) as u16,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which is valid
    // for the call; the fd is open for the call's duration.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if rc != 0 {
        return Err(ConsoleError::Resize(io::Error::last_os_error()));
    }
    Ok(())
}
