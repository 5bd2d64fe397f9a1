//! Waiting for a process the runtime started in the foreground (`run`,
//! `exec` without `--detach`): signals go to it, its terminal is proxied to
//! ours, and its exit status becomes ours.

use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios;
use std::os::fd::{AsRawFd, OwnedFd};

const FORWARDED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGCONT,
    Signal::SIGWINCH,
    Signal::SIGCHLD,
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Sys {
        what: &'static str,
        source: nix::Error,
    },
}

fn sys(what: &'static str) -> impl FnOnce(nix::Error) -> Error {
    move |source| Error::Sys { what, source }
}

/// Puts the terminal on `fd` in raw mode until dropped.
struct RawMode {
    fd: i32,
    saved: termios::Termios,
}

impl RawMode {
    fn enter(fd: i32) -> Option<RawMode> {
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, termios::SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd, termios::SetArg::TCSANOW, &self.saved);
    }
}

fn copy_winsize(from: i32, to: i32) {
    let mut ws: libc::winsize = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes into the winsize we own; TIOCSWINSZ reads it.
    unsafe {
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &ws);
        }
    }
}

/// Exit status as a shell reports it: the code, or 128 + the signal.
pub fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

fn reap(pid: i32) -> Option<i32> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into our int.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r <= 0 {
            return None;
        }
        if r == pid {
            return Some(exit_code(status));
        }
    }
}

/// Forwards signals to `pid` and proxies `console` until `pid` exits.
pub fn wait(pid: i32, console: Option<OwnedFd>) -> Result<i32, Error> {
    let mut mask = SigSet::empty();
    for s in FORWARDED {
        mask.add(*s);
    }
    mask.thread_block().map_err(sys("block signals"))?;
    let mut sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(sys("signalfd"))?;
    let result = (|| {
        // it may have exited before the signal was blocked
        if let Some(code) = reap(pid) {
            return Ok(code);
        }
        let _raw = console.as_ref().and_then(|_| RawMode::enter(0));
        if let Some(m) = &console {
            copy_winsize(0, m.as_raw_fd());
        }
        let mut stdin_open = console.is_some();
        let mut master_open = console.is_some();
        let mut buf = [0u8; 8192];
        loop {
            let mut fds = vec![PollFd::new(sfd.as_raw_fd(), PollFlags::POLLIN)];
            if stdin_open {
                fds.push(PollFd::new(0, PollFlags::POLLIN));
            }
            let master_idx = fds.len();
            if master_open {
                if let Some(m) = &console {
                    fds.push(PollFd::new(m.as_raw_fd(), PollFlags::POLLIN));
                }
            }
            match poll(&mut fds, -1) {
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(sys("poll")(e)),
                Ok(_) => {}
            }
            let ready = |i: usize| {
                fds.get(i)
                    .and_then(|f| f.revents())
                    .is_some_and(|r| !r.is_empty())
            };
            let (sig_ready, stdin_ready, master_ready) = (
                ready(0),
                stdin_open && ready(1),
                master_open && ready(master_idx),
            );
            if master_ready {
                let m = console.as_ref().expect("console").as_raw_fd();
                match nix::unistd::read(m, &mut buf) {
                    Ok(0) | Err(_) => master_open = false,
                    Ok(n) => write_all(1, &buf[..n]),
                }
            }
            if stdin_ready {
                let m = console.as_ref().expect("console").as_raw_fd();
                match nix::unistd::read(0, &mut buf) {
                    Ok(0) | Err(_) => stdin_open = false,
                    Ok(n) => write_all(m, &buf[..n]),
                }
            }
            if sig_ready {
                while let Ok(Some(info)) = sfd.read_signal() {
                    let signo = info.ssi_signo as i32;
                    if signo == libc::SIGCHLD {
                        if let Some(code) = reap(pid) {
                            if let Some(m) = &console {
                                drain(m.as_raw_fd());
                            }
                            return Ok(code);
                        }
                    } else if signo == libc::SIGWINCH {
                        if let Some(m) = &console {
                            copy_winsize(0, m.as_raw_fd());
                        }
                    } else {
                        // SAFETY: kill only sends a signal.
                        unsafe { libc::kill(pid, signo) };
                    }
                }
            }
        }
    })();
    let _ = mask.thread_unblock();
    result
}

fn drain(master: i32) {
    let mut buf = [0u8; 8192];
    let _ = nix::fcntl::fcntl(
        master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    while let Ok(n) = nix::unistd::read(master, &mut buf) {
        if n == 0 {
            break;
        }
        write_all(1, &buf[..n]);
    }
}

fn write_all(fd: i32, mut data: &[u8]) {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(nix::Error::EINTR) => continue,
            Err(_) => return,
        }
    }
}
