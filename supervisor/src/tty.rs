//! The local terminal for `-it`: raw mode (restored on drop, so on every exit
//! path that unwinds or returns), its size, and docker's detach keys.

use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::{Mutex, Once};

use nix::sys::termios::{self, SetArg, Termios};

/// The terminal state to put back, shared with the panic hook and the
/// signal path: release builds abort on panic and a signal ends the process
/// without running destructors, and neither may leave the terminal raw.
static SAVED: Mutex<Option<(RawFd, Termios)>> = Mutex::new(None);

/// Raw mode on a terminal until dropped (or [`restore_now`]).
pub struct RawMode(());

impl RawMode {
    /// Puts `fd` into raw mode; fails if it is not a terminal.
    pub fn enter(fd: &impl AsRawFd) -> nix::Result<RawMode> {
        let fd = fd.as_raw_fd();
        let saved = termios::tcgetattr(fd)?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore_now();
                previous(info);
            }));
        });
        *SAVED.lock().unwrap_or_else(|p| p.into_inner()) = Some((fd, saved));
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw)?;
        Ok(RawMode(()))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore_now();
    }
}

/// Puts the terminal back as it was before raw mode, if it is raw.
pub fn restore_now() {
    let saved = SAVED.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some((fd, t)) = saved {
        let _ = termios::tcsetattr(fd, SetArg::TCSANOW, &t);
    }
}

/// Ends berth on SIGTERM or SIGHUP with the terminal restored (exit code
/// 128 + signal, as a shell reports it).  For sessions with a tty, where no
/// signal is forwarded to the container.
pub async fn exit_on_termination() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return;
    };
    let code = tokio::select! {
        _ = term.recv() => 128 + libc::SIGTERM,
        _ = hup.recv() => 128 + libc::SIGHUP,
    };
    restore_now();
    std::process::exit(code);
}

/// True when `fd` is a terminal.
pub fn is_tty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// The terminal's (columns, rows), if `fd` is one.
pub fn size(fd: RawFd) -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct we own.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_col > 0).then_some((ws.ws_col, ws.ws_row))
}

/// docker's default detach sequence: ctrl-p ctrl-q.
pub const DETACH_KEYS: [u8; 2] = [0x10, 0x11];

/// Watches keyboard input for the detach sequence, holding back a partial
/// match until the next key shows whether it completes.
#[derive(Debug, Default)]
pub struct DetachScanner {
    matched: usize,
}

impl DetachScanner {
    /// Returns the bytes to forward and whether the sequence was completed
    /// (then nothing after it is forwarded).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if b == DETACH_KEYS[self.matched] {
                self.matched += 1;
                if self.matched == DETACH_KEYS.len() {
                    self.matched = 0;
                    return (out, true);
                }
                continue;
            }
            // a broken partial match: the held keys were real input
            out.extend_from_slice(&DETACH_KEYS[..self.matched]);
            self.matched = 0;
            if b == DETACH_KEYS[0] {
                self.matched = 1;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys() {
        let mut s = DetachScanner::default();
        assert_eq!(s.feed(b"ls\r"), (b"ls\r".to_vec(), false));
        assert_eq!(s.feed(&[b'a', 0x10]), (b"a".to_vec(), false));
        assert_eq!(s.feed(&[0x11, b'z']), (vec![], true));
        assert_eq!(s.feed(&[0x10, b'x']), (vec![0x10, b'x'], false));
        assert_eq!(s.feed(&[0x10, 0x10, 0x11]), (vec![0x10], true));
    }

    #[test]
    fn raw_mode_round_trip_on_a_pty() {
        let mut master = 0;
        let mut slave = 0;
        // SAFETY: openpty fills two fds we then own; no name/termios/winsize.
        let r = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both fds were just returned by openpty and are owned here.
        let (m, s) = unsafe {
            use std::os::fd::FromRawFd;
            (
                std::fs::File::from_raw_fd(master),
                std::fs::File::from_raw_fd(slave),
            )
        };
        assert!(is_tty(s.as_raw_fd()));
        let before = termios::tcgetattr(s.as_raw_fd()).unwrap();
        assert!(before.local_flags.contains(termios::LocalFlags::ECHO));
        {
            let _raw = RawMode::enter(&s).unwrap();
            let now = termios::tcgetattr(s.as_raw_fd()).unwrap();
            assert!(!now.local_flags.contains(termios::LocalFlags::ECHO));
            assert!(!now.local_flags.contains(termios::LocalFlags::ICANON));
        }
        let after = termios::tcgetattr(s.as_raw_fd()).unwrap();
        assert_eq!(after.local_flags, before.local_flags);
        assert_eq!(after.input_flags, before.input_flags);
        let ws = libc::winsize {
            ws_row: 40,
            ws_col: 120,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize we own.
        let set = unsafe { libc::ioctl(m.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        assert_eq!(set, 0);
        assert_eq!(size(s.as_raw_fd()), Some((120, 40)));
        assert!(RawMode::enter(&tempfile::tempfile().unwrap()).is_err());
    }
}
