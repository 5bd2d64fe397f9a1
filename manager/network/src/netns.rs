//! A container's network namespace as a file: made once at create,
//! bind-mounted at `<state>/netns/<id>` so it outlives every task of the
//! container (and the manager), joined by path in the OCI spec, and
//! unmounted at rm.  Work inside a namespace runs on a thread of its own
//! that ends with it, so no pooled thread is ever left in a container's
//! namespace.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::netlink::Netlink;
use crate::{NetworkError, Result};

fn ns_err<'a>(
    path: &'a Path,
    what: &'static str,
) -> impl FnOnce(std::io::Error) -> NetworkError + 'a {
    move |source| NetworkError::Netns {
        path: path.to_path_buf(),
        what,
        source,
    }
}

fn on_own_thread<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    std::thread::spawn(f)
        .join()
        .unwrap_or_else(|_| panic!("network namespace thread panicked"))
}

/// The kernel's `LOOPBACK_IFINDEX`.
const LOOPBACK_INDEX: u32 = 1;

/// Makes a new network namespace with `lo` up and pins it at `path`.  A
/// namespace already pinned there is kept.
pub fn create(path: &Path) -> Result<()> {
    if is_pinned(path) {
        return Ok(());
    }
    let path = path.to_path_buf();
    on_own_thread(move || {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(ns_err(&path, "create directory"))?;
        }
        File::create(&path).map_err(ns_err(&path, "create mount point"))?;
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| ns_err(&path, "unshare")(e.into()))?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| ns_err(&path, "bind mount")(e.into()))?;
        // a new namespace's loopback is always link 1
        Netlink::open()?.set_up(LOOPBACK_INDEX, None)
    })
}

/// Whether a namespace is pinned at `path` (an nsfs mount, not the empty
/// file under it).
pub fn is_pinned(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let parent = path.parent().and_then(|p| std::fs::metadata(p).ok());
    // nsfs files live on their own device
    parent.is_some_and(|p| p.dev() != meta.dev())
}

/// Runs `f` on a thread inside the namespace pinned at `path`.
pub fn run_in<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let path: PathBuf = path.to_path_buf();
    on_own_thread(move || {
        let ns = File::open(&path).map_err(ns_err(&path, "open"))?;
        setns(ns.as_raw_fd(), CloneFlags::CLONE_NEWNET)
            .map_err(|e| ns_err(&path, "join")(e.into()))?;
        f()
    })
}

/// Unpins and deletes the namespace at `path`; gone already is fine.
pub fn remove(path: &Path) -> Result<()> {
    for _ in 0..4 {
        if umount2(path, MntFlags::MNT_DETACH).is_err() {
            break;
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ns_err(path, "remove")(e)),
    }
}
