//! OOM notifications for a container's memory cgroup: the cgroup v1
//! `cgroup.event_control` eventfd on `memory.oom_control`, or on cgroup v2
//! an inotify watch of `memory.events` whose `oom_kill` counter grew. One
//! small thread per container waits for them; it ends when the cgroup is
//! removed (both mechanisms wake up then).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};

const STACK: usize = 64 * 1024;

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

/// Calls `on_oom` for every OOM kill in the memory cgroup at `dir`.
pub fn watch(dir: PathBuf, on_oom: impl Fn() + Send + 'static) -> io::Result<()> {
    if dir.join("memory.oom_control").exists() {
        watch_v1(dir, on_oom)
    } else {
        watch_v2(dir, on_oom)
    }
}

fn watch_v1(dir: PathBuf, on_oom: impl Fn() + Send + 'static) -> io::Result<()> {
    // SAFETY: eventfd takes no pointers; the result is checked.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if efd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: efd was just created and is owned here.
    let mut event = unsafe { File::from_raw_fd(efd) };
    let control = File::open(dir.join("memory.oom_control"))?;
    OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.event_control"))?
        .write_all(format!("{} {}", event.as_raw_fd(), control.as_raw_fd()).as_bytes())?;
    std::thread::Builder::new()
        .name("oom".into())
        .stack_size(STACK)
        .spawn(move || {
            let _control = control;
            let mut count = [0u8; 8];
            while event.read_exact(&mut count).is_ok() {
                // Removing the cgroup signals the eventfd too.
                if !dir.exists() {
                    break;
                }
                on_oom();
            }
        })?;
    Ok(())
}

fn watch_v2(dir: PathBuf, on_oom: impl Fn() + Send + 'static) -> io::Result<()> {
    let events = dir.join("memory.events");
    if !events.exists() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{}: no memory controller", dir.display()),
        ));
    }
    // SAFETY: inotify_init1 takes no pointers; the result is checked.
    let ifd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    if ifd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: ifd was just created and is owned here.
    let mut inotify = unsafe { File::from_raw_fd(ifd) };
    let path = std::ffi::CString::new(events.as_os_str().as_encoded_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: path is a NUL-terminated string valid for the call.
    if unsafe { libc::inotify_add_watch(ifd, path.as_ptr(), libc::IN_MODIFY) } < 0 {
        return Err(io::Error::last_os_error());
    }
    std::thread::Builder::new()
        .name("oom".into())
        .stack_size(STACK)
        .spawn(move || {
            let mut seen = oom_kills(&events);
            let mut buf = [0u8; 512];
            // The watch ends (IN_IGNORED) when the cgroup is removed.
            while inotify.read(&mut buf).is_ok() {
                if !dir.exists() {
                    break;
                }
                let now = oom_kills(&events);
                if now > seen {
                    on_oom();
                }
                seen = now;
            }
        })?;
    Ok(())
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
