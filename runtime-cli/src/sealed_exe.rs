//! Runs the runtime from a sealed in-memory copy of its own binary.
//!
//! Until the container's program execs, the processes `create`, `run` and
//! `exec` put into a container are copies of the runtime, so their
//! `/proc/<pid>/exe` is the runtime's binary. A process in the container
//! that opens that link for writing (or through `O_PATH` and a reopen) could
//! overwrite the host's binary and run its code as root on the next call
//! (CVE-2019-5736). Before doing anything else, those commands re-exec
//! themselves from a binary nobody can write:
//! - first choice, no copy: the binary as seen through a read-only overlayfs
//!   mount of its directory that is never attached anywhere (fsopen +
//!   fsmount). Writes through it fail with EROFS, and its inode is the
//!   overlay's, not the host file's. Needs CAP_SYS_ADMIN.
//! - otherwise: a memfd holding a copy of the binary, sealed against writes,
//!   growth, shrinking and further seal changes. Copying costs a few ms for
//!   a 4 MiB binary, which is why it is the fallback.
//!
//! Either way `/proc/<pid>/exe` then leads to something nobody can change,
//! and the host binary is no longer reachable from the container.

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
/// a file on a read-only overlayfs mount.
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
    Ok(on_read_only_overlay(&fd))
}

fn on_read_only_overlay(fd: &OwnedFd) -> bool {
    const OVERLAYFS_MAGIC: i64 = 0x794c_7630;
    // SAFETY: fstatfs/fstatvfs fill the zeroed structs we pass.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: both calls write only into the structs, which outlive them.
    let ok = unsafe {
        libc::fstatfs(fd.as_raw_fd(), &mut fs) == 0 && libc::fstatvfs(fd.as_raw_fd(), &mut vfs) == 0
    };
    #[allow(clippy::unnecessary_cast)]
    let magic = fs.f_type as i64;
    ok && magic == OVERLAYFS_MAGIC && vfs.f_flag & libc::ST_RDONLY != 0
}

/// The running binary seen through a read-only overlayfs mount of its
/// directory, made with the new mount API and never attached to any path:
/// nothing in any mount namespace leads to it but our own exe link.
fn read_only_view() -> Result<OwnedFd, Error> {
    let exe = std::fs::read_link("/proc/self/exe").map_err(|source| Error::Sys {
        what: "readlink /proc/self/exe",
        source,
    })?;
    let (Some(dir), Some(name)) = (exe.parent(), exe.file_name()) else {
        return Err(Error::NotSealed);
    };
    let dir = dir.as_os_str().as_bytes();
    // overlayfs splits lowerdir on ':' and ','; a deleted binary has no directory
    if dir.iter().any(|b| matches!(b, b':' | b',' | b'\\'))
        || name.as_bytes().ends_with(b" (deleted)")
    {
        return Err(Error::NotSealed);
    }
    // overlayfs wants two lower layers when it has no upper one: the
    // second is an empty tmpfs, itself detached, reached through its fd
    let empty = detached_mount(c"tmpfs", MOUNT_ATTR_RDONLY)?;
    let mut lower = dir.to_vec();
    lower.extend_from_slice(format!(":/proc/self/fd/{}", empty.as_raw_fd()).as_bytes());
    let lower = CString::new(lower).map_err(|_| Error::Nul)?;
    let fsfd = fs_context(c"overlay")?;
    fs_set(&fsfd, c"lowerdir", &lower)?;
    let mnt = fs_mount(
        &fsfd,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
    )?;
    let cname = CString::new(name.as_bytes()).map_err(|_| Error::Nul)?;
    // SAFETY: openat reads the NUL-terminated name relative to mnt.
    let fd = unsafe {
        libc::openat(
            mnt.as_raw_fd(),
            cname.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    };
    if fd < 0 {
        return Err(last("open binary in overlay"));
    }
    // SAFETY: fd is a fresh descriptor that we now own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if !on_read_only_overlay(&fd) {
        return Err(Error::NotSealed);
    }
    Ok(fd)
}

const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const MOUNT_ATTR_RDONLY: libc::c_uint = 1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 2;
const MOUNT_ATTR_NODEV: libc::c_uint = 4;

/// fsopen(2): a filesystem context.
fn fs_context(fstype: &std::ffi::CStr) -> Result<OwnedFd, Error> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    // SAFETY: fsopen reads the NUL-terminated name; returns a fresh fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    if fd < 0 {
        return Err(last("fsopen"));
    }
    // SAFETY: fd is a fresh descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// fsconfig(2) FSCONFIG_SET_STRING.
fn fs_set(ctx: &OwnedFd, key: &std::ffi::CStr, value: &std::ffi::CStr) -> Result<(), Error> {
    // SAFETY: fsconfig reads the NUL-terminated key and value.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    };
    if rc != 0 {
        return Err(last("fsconfig"));
    }
    Ok(())
}

/// FSCONFIG_CMD_CREATE then fsmount(2): a mount attached nowhere.
fn fs_mount(ctx: &OwnedFd, attrs: libc::c_uint) -> Result<OwnedFd, Error> {
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: FSCONFIG_CMD_CREATE takes no key or value.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    };
    if rc != 0 {
        return Err(last("create filesystem"));
    }
    // SAFETY: fsmount returns a fresh fd for the new mount's root, or -1.
    let mnt = unsafe { libc::syscall(libc::SYS_fsmount, ctx.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) };
    if mnt < 0 {
        return Err(last("fsmount"));
    }
    // SAFETY: mnt is a fresh descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(mnt as i32) })
}

fn detached_mount(fstype: &std::ffi::CStr, attrs: libc::c_uint) -> Result<OwnedFd, Error> {
    let ctx = fs_context(fstype)?;
    fs_mount(&ctx, attrs)
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
    fn overlay_view_refuses_writes() {
        // needs CAP_SYS_ADMIN: as root, the view must work, else the memfd
        // fallback carries the whole cost on every create/run/exec
        // SAFETY: geteuid has no failure mode.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED overlay_view_refuses_writes: needs root");
            return;
        }
        let fd = read_only_view().unwrap();
        assert!(on_read_only_overlay(&fd));
        let reopened = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        assert_eq!(
            reopened.unwrap_err().raw_os_error(),
            Some(libc::EROFS),
            "a write open through the overlay view must fail with EROFS"
        );
    }

    #[test]
    fn test_binary_is_not_sealed() {
        assert!(!is_sealed().unwrap());
    }
}
