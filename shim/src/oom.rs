//! OOM notifications for a container's memory cgroup: the cgroup v1
//! `cgroup.event_control` eventfd on `memory.oom_control`, or on cgroup v2
//! an inotify watch of `memory.events` whose `oom_kill` counter grew. The
//! descriptor is watched by the shim's [`Reactor`] (no thread per
//! container); the watch ends when the cgroup is removed (both mechanisms
//! wake up then).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::path::{Path, PathBuf};

use crate::reactor::{Reactor, Watch};

fn oom_kills(events: &Path) -> u64 {
    fs::read_to_string(events)
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|v| v.trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

/// Calls `on_oom` (on the reactor's thread) for every OOM kill in the
/// memory cgroup at `dir`.
pub fn watch(
    reactor: &Reactor,
    dir: PathBuf,
    on_oom: impl Fn() + Send + 'static,
) -> io::Result<()> {
    let w: Box<dyn Watch> = if dir.join("memory.oom_control").exists() {
        Box::new(watch_v1(dir, on_oom)?)
    } else {
        Box::new(watch_v2(dir, on_oom)?)
    };
    reactor.add(w);
    Ok(())
}

/// cgroup v1: an eventfd the kernel signals on OOM.
struct V1<F> {
    event: File,
    _control: File,
    dir: PathBuf,
    on_oom: F,
}

fn watch_v1<F: Fn() + Send>(dir: PathBuf, on_oom: F) -> io::Result<V1<F>> {
    // SAFETY: eventfd takes no pointers; the result is checked.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if efd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: efd was just created and is owned here.
    let event = unsafe { File::from_raw_fd(efd) };
    let control = File::open(dir.join("memory.oom_control"))?;
    OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.event_control"))?
        .write_all(format!("{} {}", event.as_raw_fd(), control.as_raw_fd()).as_bytes())?;
    Ok(V1 {
        event,
        _control: control,
        dir,
        on_oom,
    })
}

impl<F: Fn() + Send> Watch for V1<F> {
    fn fd(&self) -> RawFd {
        self.event.as_raw_fd()
    }

    fn ready(&mut self, _: &Reactor) -> bool {
        let mut count = [0u8; 8];
        match self.event.read(&mut count) {
            Ok(8) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            _ => return false,
        }
        // Removing the cgroup signals the eventfd too.
        if !self.dir.exists() {
            return false;
        }
        (self.on_oom)();
        true
    }
}

/// cgroup v2: inotify on `memory.events`, whose `oom_kill` counter grows.
struct V2<F> {
    inotify: File,
    dir: PathBuf,
    events: PathBuf,
    seen: u64,
    on_oom: F,
}

fn watch_v2<F: Fn() + Send>(dir: PathBuf, on_oom: F) -> io::Result<V2<F>> {
    let events = dir.join("memory.events");
    if !events.exists() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{}: no memory controller", dir.display()),
        ));
    }
    // SAFETY: inotify_init1 takes no pointers; the result is checked.
    let ifd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    if ifd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: ifd was just created and is owned here.
    let inotify = unsafe { File::from_raw_fd(ifd) };
    let path = std::ffi::CString::new(events.as_os_str().as_encoded_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: path is a NUL-terminated string valid for the call.
    if unsafe { libc::inotify_add_watch(ifd, path.as_ptr(), libc::IN_MODIFY) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let seen = oom_kills(&events);
    Ok(V2 {
        inotify,
        dir,
        events,
        seen,
        on_oom,
    })
}

impl<F: Fn() + Send> Watch for V2<F> {
    fn fd(&self) -> RawFd {
        self.inotify.as_raw_fd()
    }

    fn ready(&mut self, _: &Reactor) -> bool {
        let mut buf = [0u8; 512];
        match self.inotify.read(&mut buf) {
            Ok(n) if n > 0 => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            _ => return false,
        }
        // The watch ends (IN_IGNORED) when the cgroup is removed.
        if !self.dir.exists() {
            return false;
        }
        let now = oom_kills(&self.events);
        if now > self.seen {
            (self.on_oom)();
        }
        self.seen = now;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v2_counter_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("memory.events");
        fs::write(&events, "low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\n").unwrap();
        assert_eq!(oom_kills(&events), 1);
        assert_eq!(oom_kills(&dir.path().join("missing")), 0);
    }
}
