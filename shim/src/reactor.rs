//! The shim's one event loop. An idle shim has nothing to do but wait for a
//! request, a child's exit, a container's output or an OOM kill; all of
//! these are descriptors, so one thread (the main thread) polls them all
//! instead of a thread blocking on each. Anything that must wait for
//! something else (a runtime command, a reply to containerd) runs on a
//! short-lived thread of its own and is gone once done.
//!
//! Callbacks run on the loop's thread, so they must not block: read what
//! poll said is there, write to a file or a socket, and return.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// A descriptor the loop waits on, with what to do when it is readable.
pub trait Watch: Send {
    /// The descriptor; it must stay open as long as the watch lives.
    fn fd(&self) -> RawFd;
    /// Called when the descriptor is readable or hung up; false ends the
    /// watch (it is dropped, closing what it owns).
    fn ready(&mut self, reactor: &Reactor) -> bool;
    /// When [`Watch::expired`] should be called, if ever.
    fn deadline(&self) -> Option<Instant> {
        None
    }
    /// Called once the deadline passed.
    fn expired(&mut self) {}
}

/// The loop and the watches other threads hand it.
pub struct Reactor {
    added: Mutex<Vec<Box<dyn Watch>>>,
    /// An eventfd that wakes the loop when a watch was added or it should stop.
    wake: OwnedFd,
    stop: AtomicBool,
}

impl Reactor {
    /// A loop with nothing to watch yet.
    pub fn new() -> io::Result<Reactor> {
        // SAFETY: eventfd takes no pointers; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Reactor {
            added: Mutex::new(Vec::new()),
            // SAFETY: fd was just created and nothing else owns it.
            wake: unsafe { OwnedFd::from_raw_fd(fd) },
            stop: AtomicBool::new(false),
        })
    }

    /// Watches `w` from the loop's next turn on.
    pub fn add(&self, w: Box<dyn Watch>) {
        self.added.lock().unwrap_or_else(|p| p.into_inner()).push(w);
        self.wake();
    }

    /// Makes [`Reactor::run`] return.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake();
    }

    fn wake(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live buffer to our eventfd; a full
        // counter (EAGAIN) already means "wake up".
        unsafe { libc::write(self.wake.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }

    /// Runs the loop on the calling thread until [`Reactor::stop`].
    pub fn run(&self) {
        let mut watches: Vec<Box<dyn Watch>> = Vec::new();
        let mut fds: Vec<libc::pollfd> = Vec::new();
        while !self.stop.load(Ordering::SeqCst) {
            watches.append(&mut self.added.lock().unwrap_or_else(|p| p.into_inner()));
            fds.clear();
            fds.push(pollin(self.wake.as_raw_fd()));
            fds.extend(watches.iter().map(|w| pollin(w.fd())));
            let timeout = watches
                .iter()
                .filter_map(|w| w.deadline())
                .min()
                .map_or(-1, |d| {
                    let ms = d.saturating_duration_since(Instant::now()).as_millis();
                    // round up, so a deadline is never polled for early
                    (ms + 1).min(i32::MAX as u128) as i32
                });
            // SAFETY: fds is a live array of fds.len() pollfd structs.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                continue; // EINTR
            }
            if fds[0].revents != 0 {
                let mut count = [0u8; 8];
                // SAFETY: reads at most 8 bytes into a live buffer.
                unsafe { libc::read(self.wake.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
            }
            // Backwards, so swap_remove only moves watches already seen.
            for i in (0..watches.len()).rev() {
                if fds[i + 1].revents != 0 && !watches[i].ready(self) {
                    watches.swap_remove(i);
                }
            }
            let now = Instant::now();
            for w in watches.iter_mut() {
                if w.deadline().is_some_and(|d| d <= now) {
                    w.expired();
                }
            }
        }
    }
}

fn pollin(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::Duration;

    struct Echo {
        from: std::fs::File,
        seen: mpsc::Sender<Vec<u8>>,
        due: Option<Instant>,
    }

    impl Watch for Echo {
        fn fd(&self) -> RawFd {
            self.from.as_raw_fd()
        }
        fn ready(&mut self, _: &Reactor) -> bool {
            let mut buf = [0u8; 64];
            match self.from.read(&mut buf) {
                Ok(0) | Err(_) => false,
                Ok(n) => {
                    let _ = self.seen.send(buf[..n].to_vec());
                    self.due = Some(Instant::now() + Duration::from_millis(20));
                    true
                }
            }
        }
        fn deadline(&self) -> Option<Instant> {
            self.due
        }
        fn expired(&mut self) {
            self.due = None;
            let _ = self.seen.send(b"timeout".to_vec());
        }
    }

    #[test]
    fn watches_added_from_another_thread_see_data_deadlines_and_eof() {
        let reactor = Arc::new(Reactor::new().unwrap());
        let looping = {
            let r = reactor.clone();
            std::thread::spawn(move || r.run())
        };
        let (r, mut w) = std::io::pipe().unwrap();
        let (tx, rx) = mpsc::channel();
        reactor.add(Box::new(Echo {
            from: std::fs::File::from(OwnedFd::from(r)),
            seen: tx,
            due: None,
        }));
        w.write_all(b"hi").unwrap();
        let wait = Duration::from_secs(5);
        assert_eq!(rx.recv_timeout(wait).unwrap(), b"hi");
        assert_eq!(rx.recv_timeout(wait).unwrap(), b"timeout");
        drop(w);
        // EOF ends the watch, dropping its sender.
        assert!(rx.recv_timeout(wait).is_err());
        reactor.stop();
        looping.join().unwrap();
    }
}
