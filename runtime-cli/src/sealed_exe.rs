//! Runs the runtime from a sealed in-memory copy of its own binary.
//!
//! Until the container's program execs, the processes `create`, `run` and
//! `exec` put into a container are copies of the runtime, so their
//! `/proc/<pid>/exe` is the runtime's binary. A process in the container
//! that opens that link for writing (or through `O_PATH` and a reopen) could
//! overwrite the host's binary and run its code as root on the next call
//! (CVE-2019-5736). Before doing anything else, those commands re-exec
//! themselves from a binary nobody can write:
//! - first choice, no copy: the binary through a read-only bind mount of
//!   that one file, cloned with open_tree and never attached anywhere.
//!   Writes through it fail with EROFS. Needs CAP_SYS_ADMIN.
//! - otherwise: a memfd holding a copy of the binary, sealed against writes,
//!   growth, shrinking and further seal changes. Copying costs a few ms for
//!   a 4 MiB binary, which is why it is the fallback.
//!
//! Either way `/proc/<pid>/exe` then leads to something nobody can change,
//! and the host binary is no longer reachable from the container.

use berth_mount_options::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// Set in the environment of the re-exec'd runtime. It only stops a loop
/// when the seals can't be seen: the seals themselves are what is checked.
const MARKER: &str = "_BERTH_RUNTIME_SEALED";

/// The seals a copy must carry to be trusted.
const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("sealed copy of the runtime binary: {what}: {source}")]
    Sys {
        what: &'static str,
        source: std::io::Error,
    },
    #[error(
        "sealed copy of the runtime binary: re-exec'd runtime is not running from a sealed copy"
    )]
    NotSealed,
    #[error(
        "sealed copy of the runtime binary: argument or environment string contains a NUL byte"
    )]
    Nul,
}

fn last(what: &'static str) -> Error {
    Error::Sys {
        what,
        source: std::io::Error::last_os_error(),
    }
}

/// Makes sure this process runs from a sealed copy of the runtime binary:
/// returns at once if it already does, else re-execs (and returns only on
/// failure).
pub fn ensure() -> Result<(), Error> {
    let marked = std::env::var_os(MARKER).is_some();
    if is_sealed()? {
        if marked {
            // nothing the runtime starts should inherit it
            std::env::remove_var(MARKER);
            // exec named us after the memfd ("memfd:berth-run"); ps and
            // pkill users expect the runtime's own name
            // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
            unsafe { libc::prctl(libc::PR_SET_NAME, c"berth-runtime".as_ptr(), 0, 0, 0) };
        }
        return Ok(());
    }
    if marked {
        return Err(Error::NotSealed);
    }
    let exe = match read_only_view() {
        Ok(fd) => fd,
        Err(_) => sealed_copy()?,
    };
    reexec(&exe)
}

/// Whether `/proc/self/exe` is a memfd carrying every seal in [`SEALS`], or
/// a file on a read-only mount.
fn is_sealed() -> Result<bool, Error> {
    // SAFETY: the path is a NUL-terminated literal; open returns a fresh fd or -1.
    let fd = unsafe { libc::open(c"/proc/self/exe".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(last("open /proc/self/exe"));
    }
    // SAFETY: fd is a fresh descriptor that we now own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: F_GET_SEALS takes no argument; files that aren't memfds give EINVAL.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if seals >= 0 {
        return Ok(seals & SEALS == SEALS);
    }
    Ok(on_read_only_mount(&fd))
}

/// Whether `fd`'s file sits on a read-only mount, where a write open fails
/// with EROFS whoever asks.
fn on_read_only_mount(fd: &OwnedFd) -> bool {
    // SAFETY: fstatvfs fills the zeroed struct we pass.
    let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: the call writes only into the struct, which outlives it.
    let ok = unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut vfs) == 0 };
    ok && vfs.f_flag & libc::ST_RDONLY != 0
}

/// The running binary through a read-only bind mount of just that file,
/// cloned with open_tree(2) and never attached to any path: nothing in any
/// mount namespace leads to it but our own exe link, and a write open
/// through it fails with EROFS.  One detached mount and no new superblock,
/// so it costs a fraction of an overlayfs view.
fn read_only_view() -> Result<OwnedFd, Error> {
    read_only_view_of(c"/proc/self/exe")
}

fn read_only_view_of(file: &std::ffi::CStr) -> Result<OwnedFd, Error> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    // SAFETY: the path is a NUL-terminated literal; open_tree returns a
    // fresh O_PATH fd on the root of a new detached mount, or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            file.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(last("open_tree of the runtime binary"));
    }
    // SAFETY: fd is a fresh descriptor that we now own.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    crate::rootfs::mount_setattr_recursive(
        tree.as_raw_fd(),
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        0,
    )
    .map_err(|e| Error::Sys {
        what: "mount_setattr read-only",
        source: e.into(),
    })?;
    let path = format!("/proc/self/fd/{}\0", tree.as_raw_fd());
    // SAFETY: reopens the O_PATH fd's own file read-only through /proc; the
    // path is NUL-terminated and outlives the call.
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(last("open read-only view"));
    }
    // SAFETY: fd is a fresh descriptor that we now own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if !on_read_only_mount(&fd) {
        return Err(Error::NotSealed);
    }
    Ok(fd)
}

/// A memfd holding a copy of `/proc/self/exe`, sealed.
fn sealed_copy() -> Result<OwnedFd, Error> {
    let src = std::fs::File::open("/proc/self/exe").map_err(|source| Error::Sys {
        what: "open /proc/self/exe",
        source,
    })?;
    let len = src
        .metadata()
        .map_err(|source| Error::Sys {
            what: "stat /proc/self/exe",
            source,
        })?
        .len();
    let memfd = create_memfd()?;
    let mut left = len as usize;
    while left > 0 {
        // SAFETY: sendfile copies between two descriptors we own; a null
        // offset uses and advances the source's file position.
        let n = unsafe {
            libc::sendfile(
                memfd.as_raw_fd(),
                src.as_raw_fd(),
                std::ptr::null_mut(),
                left,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::Sys {
                what: "copy /proc/self/exe",
                source: e,
            });
        }
        if n == 0 {
            break;
        }
        left -= n as usize;
    }
    if left != 0 {
        return Err(Error::Sys {
            what: "copy /proc/self/exe",
            source: std::io::Error::other("binary shrank while being copied"),
        });
    }
    // SAFETY: F_ADD_SEALS takes an int of seal bits.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } != 0 {
        return Err(last("add seals"));
    }
    Ok(memfd)
}

fn create_memfd() -> Result<OwnedFd, Error> {
    // MFD_EXEC (Linux 6.3) says the memfd is meant to be executed, so a
    // vm.memfd_noexec policy refuses it plainly instead of warning;
    // older kernels reject the unknown flag with EINVAL
    const MFD_EXEC: libc::c_uint = 0x10;
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    for flags in [base | MFD_EXEC, base] {
        // SAFETY: the name is a NUL-terminated literal; memfd_create returns a fresh fd or -1.
        let fd = unsafe { libc::memfd_create(c"berth-runtime".as_ptr(), flags) };
        if fd >= 0 {
            // SAFETY: fd is a fresh descriptor that we now own.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
            break;
        }
    }
    Err(last("memfd_create"))
}

/// execveat(fd, "", AT_EMPTY_PATH) with our argv and environment plus the marker.
fn reexec(fd: &OwnedFd) -> Result<(), Error> {
    let cstr = |s: &OsString| CString::new(s.as_bytes()).map_err(|_| Error::Nul);
    let argv: Vec<CString> = std::env::args_os()
        .map(|a| cstr(&a))
        .collect::<Result<_, _>>()?;
    let mut envp: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            cstr(&kv)
        })
        .collect::<Result<_, _>>()?;
    envp.push(CString::new(format!("{MARKER}=1")).expect("no NUL"));
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    // SAFETY: argv and envp are NULL-terminated arrays of pointers into
    // CStrings that outlive the call; execveat only returns on failure.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv_p.as_ptr(),
            envp_p.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(last("execveat"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_is_sealed_against_writes() {
        let fd = sealed_copy().unwrap();
        // SAFETY: F_GET_SEALS on our own memfd.
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        assert_eq!(seals & SEALS, SEALS);
        // SAFETY: write of one byte from a valid buffer on our own fd.
        let n = unsafe { libc::write(fd.as_raw_fd(), b"x".as_ptr().cast(), 1) };
        assert_eq!(n, -1, "a sealed copy must refuse writes");
        // a reopen through /proc gets a new file of the same sealed inode:
        // it may open, but neither truncating nor writing gets through
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let truncated = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path);
        assert!(truncated.is_err(), "truncating a sealed copy must fail");
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        assert!(
            std::io::Write::write_all(&mut f, b"x").is_err(),
            "writing to a sealed copy must fail"
        );
    }

    #[test]
    fn read_only_view_refuses_writes() {
        // needs CAP_SYS_ADMIN: as root, the view must work, else the memfd
        // fallback carries the whole cost on every create/run/exec
        // SAFETY: geteuid has no failure mode.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED read_only_view_refuses_writes: needs root");
            return;
        }
        // a copy, so the write is refused by the mount and not by ETXTBSY
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("berth-runtime");
        std::fs::copy("/proc/self/exe", &copy).unwrap();
        let copy = CString::new(copy.as_os_str().as_bytes()).unwrap();
        let fd = read_only_view_of(&copy).unwrap();
        assert!(on_read_only_mount(&fd));
        let reopened = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        assert_eq!(
            reopened.unwrap_err().raw_os_error(),
            Some(libc::EROFS),
            "a write open through the read-only view must fail with EROFS"
        );
    }

    #[test]
    fn test_binary_is_not_sealed() {
        assert!(!is_sealed().unwrap());
    }
}
