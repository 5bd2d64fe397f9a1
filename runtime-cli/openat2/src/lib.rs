//! openat2(2), the kernel's path resolution with limits: with
//! `RESOLVE_IN_ROOT` the directory descriptor is the root for `..` and
//! absolute symlinks, so nothing a container's tree holds can lead an open
//! out of it. Shared by the runtime (mount destinations, device nodes) and
//! the CLI (`cp`, `export`), which both act on a container's tree as root.

use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `..` and absolute symlinks stop at the directory given.
pub const RESOLVE_IN_ROOT: u64 = 0x10;
/// `/proc/self/fd/N`-style links are refused.
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
/// No symlink at all is followed.
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;

/// openat2's `how`; libc's struct has private padding on some targets.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Raw openat2(2) (`O_CLOEXEC` always added), retried when the kernel
/// asks (a rename raced the lookup).
pub fn openat2(
    dirfd: RawFd,
    path: &Path,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: u64::from(mode),
        resolve,
    };
    loop {
        // SAFETY: openat2 reads the NUL-terminated path and `size` bytes of
        // the repr(C) `how`; it returns a fresh descriptor or -1.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if rc >= 0 {
            // SAFETY: the kernel returned a fresh descriptor that we now own.
            return Ok(unsafe { OwnedFd::from_raw_fd(rc as RawFd) });
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN | libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn symlinks_stay_in_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), "inside").unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("link")).unwrap();
        let root = std::fs::File::open(dir.path()).unwrap();
        let fd = openat2(
            root.as_raw_fd(),
            Path::new("link/../../../etc/passwd"),
            libc::O_RDONLY,
            0,
            RESOLVE_IN_ROOT,
        )
        .unwrap();
        let s = std::fs::read_to_string(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        assert_eq!(s, "inside");
        let refused = openat2(
            root.as_raw_fd(),
            Path::new("link/passwd"),
            libc::O_RDONLY,
            0,
            RESOLVE_NO_SYMLINKS,
        );
        assert_eq!(refused.unwrap_err().raw_os_error(), Some(libc::ELOOP));
    }
}
