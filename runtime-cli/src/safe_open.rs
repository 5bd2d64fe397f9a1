//! Opening paths inside a container's root without leaving it.
//!
//! Every path the runtime touches inside a rootfs (mount destinations,
//! device nodes, masked and read-only paths, the console, the cwd) is
//! resolved by the kernel with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
//! relative to a descriptor of the root: `..` and absolute symlinks stop at
//! the root and `/proc/self/fd/N` links are refused, even when a process in
//! another container sharing a volume swaps a directory for a symlink while
//! the runtime works. On kernels without openat2 (before 5.6) the userspace
//! resolver [`resolve_in_root`] is used and the opened
//! descriptor is checked to be where it resolved. The runtime then acts on
//! the descriptor (mount onto `/proc/self/fd/N`, `*at` calls), never on the
//! path again. Files the runtime writes in procfs and sysfs, and nodes in
//! /dev, are checked after opening to be what they must be (filesystem magic,
//! file type, device number), so an overmount or a symlink can't stand in.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("open {path} in the container root: {source}")]
    Open { path: String, source: nix::Error },
    #[error("{what} {path}: {source}")]
    Sys {
        what: &'static str,
        path: String,
        source: nix::Error,
    },
    #[error("path {0} climbs above the container root")]
    Escape(String),
    #[error("{path} resolved outside the container root (to {real})")]
    Outside { path: String, real: String },
    #[error("{path} is a symlink; refusing to use it as {what}")]
    Symlink { path: String, what: &'static str },
    #[error("{path} is on {found}, not {want}; refusing to write to or mask it")]
    WrongFs {
        path: String,
        found: String,
        want: &'static str,
    },
    #[error("{path} is not the expected {want} device (found {found})")]
    WrongNode {
        path: String,
        want: String,
        found: String,
    },
    #[error(transparent)]
    Resolve(#[from] ResolveError),
}

fn sys<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(nix::Error) -> Error + 'a {
    move |source| Error::Sys {
        what,
        path: path.display().to_string(),
        source,
    }
}

/// statfs magic numbers, as i64 whatever width libc gives them on a target.
pub const PROC_MAGIC: i64 = 0x9fa0;
pub const SYSFS_MAGIC: i64 = 0x6265_6572;
pub const TMPFS_MAGIC: i64 = 0x0102_1994;
pub const DEVPTS_MAGIC: i64 = 0x1cd1;

/// Whether the kernel has openat2 (checked once; ENOSYS before 5.6).
fn have_openat2() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    static STATE: AtomicU8 = AtomicU8::new(0);
    match STATE.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let ok = !matches!(
                openat2(libc::AT_FDCWD, Path::new("/"), libc::O_PATH, 0),
                Err(nix::Error::ENOSYS)
            );
            STATE.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
            ok
        }
    }
}

/// Raw openat2(2) (`berth_openat2`'s, with nix's error type).
pub fn openat2(dirfd: RawFd, path: &Path, flags: i32, resolve: u64) -> nix::Result<OwnedFd> {
    berth_openat2::openat2(dirfd, path, flags, 0, resolve)
        .map_err(|e| nix::Error::from_i32(e.raw_os_error().unwrap_or(libc::EIO)))
}

/// `/proc/self/fd/N`: the path through which mount(2) and friends reach the
/// object an fd holds (the host's procfs, before pivot_root).
pub fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// The mount an fd lives on: statx(STATX_MNT_ID) in one call (Linux 5.8),
/// else the `mnt_id:` line of /proc/self/fdinfo.
pub fn mount_id(fd: &impl AsRawFd) -> Option<u64> {
    // SAFETY: statx is plain old data, all zeroes is a valid value.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: statx writes only into `stx`, which outlives the call; the
    // path is a NUL-terminated literal and AT_EMPTY_PATH makes it mean the
    // fd itself (O_PATH descriptors included).
    let rc = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            libc::STATX_MNT_ID,
            &mut stx,
        )
    };
    if rc == 0 && stx.stx_mask & libc::STATX_MNT_ID != 0 {
        return Some(stx.stx_mnt_id);
    }
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok())
}

/// `path` made relative, `.` dropped and `..` applied lexically; a `..`
/// above the root is an error.
pub fn clean(path: &Path) -> Result<PathBuf, Error> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir if !out.pop() => {
                return Err(Error::Escape(path.display().to_string()));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A container root, held open so every lookup starts from it.
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

impl Root {
    /// Opens `path` (a directory on the host) as a root.
    pub fn open(path: &Path) -> Result<Root, Error> {
        let fd = nix::fcntl::open(
            path,
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(sys("open root", path))?;
        Ok(Root {
            // SAFETY: open returned a fresh descriptor.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            path: path.to_path_buf(),
        })
    }

    /// The root's path on the host.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `path` (as the container sees it) with `flags`, resolved inside
    /// the root. `O_NOFOLLOW` keeps a final symlink from being followed.
    pub fn open_path(&self, path: &Path, flags: i32) -> Result<OwnedFd, Error> {
        self.open_with(path, flags, 0)
    }

    /// Like [`Root::open_path`], refusing a symlink anywhere in the path.
    pub fn open_no_symlinks(&self, path: &Path, flags: i32) -> Result<OwnedFd, Error> {
        self.open_with(path, flags, libc::RESOLVE_NO_SYMLINKS)
    }

    fn open_with(&self, path: &Path, flags: i32, extra: u64) -> Result<OwnedFd, Error> {
        let rel = clean(path)?;
        let rel = if rel.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            rel
        };
        let open_err = |source| Error::Open {
            path: path.display().to_string(),
            source,
        };
        if have_openat2() {
            return openat2(
                self.fd.as_raw_fd(),
                &rel,
                flags,
                libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS | extra,
            )
            .map_err(open_err);
        }
        self.open_fallback(path, flags, extra != 0)
            .map_err(|e| match e {
                Error::Open { source, .. } => open_err(source),
                e => e,
            })
    }

    /// Pre-5.6 kernels: resolve in userspace, open without following the
    /// last link, and check the descriptor landed where we resolved.
    fn open_fallback(&self, path: &Path, flags: i32, no_symlinks: bool) -> Result<OwnedFd, Error> {
        let resolved = if flags & libc::O_NOFOLLOW != 0 || no_symlinks {
            // resolve the parent, keep the last component as it is
            let rel = clean(path)?;
            let parent = rel.parent().unwrap_or(Path::new(""));
            let dir = resolve_in_root(&self.path, &Path::new("/").join(parent))?;
            match rel.file_name() {
                Some(n) => dir.join(n),
                None => dir,
            }
        } else {
            resolve_in_root(&self.path, path)?
        };
        if no_symlinks && resolved != self.path.join(clean(path)?) {
            return Err(Error::Open {
                path: path.display().to_string(),
                source: nix::Error::ELOOP,
            });
        }
        let fd = nix::fcntl::open(
            &resolved,
            nix::fcntl::OFlag::from_bits_truncate(flags | libc::O_NOFOLLOW | libc::O_CLOEXEC),
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|source| Error::Open {
            path: path.display().to_string(),
            source,
        })?;
        // SAFETY: open returned a fresh descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let real = std::fs::read_link(fd_path(&fd)).unwrap_or_default();
        if real != resolved {
            return Err(Error::Outside {
                path: path.display().to_string(),
                real: real.display().to_string(),
            });
        }
        Ok(fd)
    }

    /// Makes every missing directory of `path` inside the root (each one
    /// with mkdirat in its resolved parent) and returns an `O_PATH` handle.
    pub fn mkdir_all(&self, path: &Path) -> Result<OwnedFd, Error> {
        let rel = clean(path)?;
        let parts: Vec<&OsStr> = rel.iter().collect();
        let dir_flags = libc::O_PATH | libc::O_DIRECTORY;
        // the deepest directory that exists: most targets exist whole (the
        // image has them, or an earlier mount made them), so one lookup,
        // not one per component
        let mut have = parts.len();
        let mut dir = loop {
            let prefix: PathBuf = parts[..have].iter().collect();
            match self.open_path(&prefix, dir_flags) {
                Ok(fd) => break fd,
                Err(Error::Open {
                    source: nix::Error::ENOENT,
                    ..
                }) if have > 0 => have -= 1,
                Err(e) => return Err(e),
            }
        };
        // the rest made one by one in its resolved parent, each looked up
        // again from the root after it is made
        for made in have + 1..=parts.len() {
            let prefix: PathBuf = parts[..made].iter().collect();
            match nix::sys::stat::mkdirat(
                dir.as_raw_fd(),
                parts[made - 1],
                nix::sys::stat::Mode::from_bits_truncate(0o755),
            ) {
                Ok(()) | Err(nix::Error::EEXIST) => {}
                Err(e) => return Err(sys("mkdir", &Path::new("/").join(&prefix))(e)),
            }
            dir = self.open_path(&prefix, dir_flags)?;
        }
        Ok(dir)
    }

    /// The resolved parent directory of `path` (created if missing) and the
    /// last component, for `*at` calls that must not follow it.
    pub fn parent_of(&self, path: &Path) -> Result<(OwnedFd, OsString), Error> {
        let rel = clean(path)?;
        let Some(name) = rel.file_name() else {
            return Err(Error::Escape(path.display().to_string()));
        };
        let parent = self.mkdir_all(rel.parent().unwrap_or(Path::new("")))?;
        Ok((parent, name.to_os_string()))
    }

    /// An `O_PATH` handle on the file at `path`, created empty if missing;
    /// a symlink there is refused (`what` names its use in the error).
    pub fn create_file(&self, path: &Path, what: &'static str) -> Result<OwnedFd, Error> {
        let (dir, name) = self.parent_of(path)?;
        match nix::sys::stat::mknodat(
            dir.as_raw_fd(),
            name.as_os_str(),
            nix::sys::stat::SFlag::S_IFREG,
            nix::sys::stat::Mode::from_bits_truncate(0o644),
            0,
        ) {
            Ok(()) | Err(nix::Error::EEXIST) => {}
            Err(e) => return Err(sys("create", path)(e)),
        }
        open_no_follow(&dir, &name, path, what)
    }
}

/// `O_PATH | O_NOFOLLOW` open of `name` in `dir`, refusing a symlink.
pub fn open_no_follow(
    dir: &OwnedFd,
    name: &OsStr,
    shown: &Path,
    what: &'static str,
) -> Result<OwnedFd, Error> {
    let fd = openat2(
        dir.as_raw_fd(),
        Path::new(name),
        libc::O_PATH | libc::O_NOFOLLOW,
        0,
    )
    .or_else(|e| {
        if e != nix::Error::ENOSYS {
            return Err(e);
        }
        let fd = nix::fcntl::openat(
            dir.as_raw_fd(),
            name,
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_NOFOLLOW
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?;
        // SAFETY: openat returned a fresh descriptor.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    })
    .map_err(|source| Error::Open {
        path: shown.display().to_string(),
        source,
    })?;
    let st = fstat(&fd, shown)?;
    if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        return Err(Error::Symlink {
            path: shown.display().to_string(),
            what,
        });
    }
    Ok(fd)
}

pub fn fstat(fd: &impl AsRawFd, shown: &Path) -> Result<libc::stat, Error> {
    // fstat refuses O_PATH descriptors on old kernels; fstatat with an
    // empty path takes any descriptor
    nix::sys::stat::fstatat(
        fd.as_raw_fd(),
        "",
        nix::fcntl::AtFlags::AT_EMPTY_PATH | nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(sys("stat", shown))
}

/// Which filesystem an fd is on.
pub fn fs_magic(fd: &impl AsRawFd, shown: &Path) -> Result<i64, Error> {
    // SAFETY: fstatfs fills the zeroed struct we pass.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatfs writes into `st`, which outlives the call.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(sys("statfs", shown)(nix::Error::last()));
    }
    Ok(st.f_type as i64)
}

fn fs_name(magic: i64) -> String {
    match magic {
        m if m == PROC_MAGIC => "procfs".into(),
        m if m == SYSFS_MAGIC => "sysfs".into(),
        m if m == TMPFS_MAGIC => "tmpfs".into(),
        m if m == DEVPTS_MAGIC => "devpts".into(),
        m => format!("a filesystem of type {m:#x}"),
    }
}

/// The filesystem a path under /proc or /sys must be on, if any.
pub fn expected_fs(container_path: &Path) -> Option<(i64, &'static str)> {
    let rel = clean(container_path).ok()?;
    if rel.starts_with("proc") {
        Some((PROC_MAGIC, "procfs"))
    } else if rel.starts_with("sys") {
        Some((SYSFS_MAGIC, "sysfs"))
    } else {
        None
    }
}

/// Fails unless `fd` is on the filesystem with `magic`.
pub fn require_fs(
    fd: &impl AsRawFd,
    magic: i64,
    want: &'static str,
    shown: &Path,
) -> Result<(), Error> {
    let found = fs_magic(fd, shown)?;
    if found != magic {
        return Err(Error::WrongFs {
            path: shown.display().to_string(),
            found: fs_name(found),
            want,
        });
    }
    Ok(())
}

/// Fails unless `fd` is a device node of `kind` (S_IFCHR/S_IFBLK) with
/// number `major:minor`.
pub fn require_node(
    fd: &impl AsRawFd,
    kind: libc::mode_t,
    major: u64,
    minor: u64,
    shown: &Path,
) -> Result<(), Error> {
    let st = fstat(fd, shown)?;
    let ok = st.st_mode & libc::S_IFMT == kind
        && libc::major(st.st_rdev) as u64 == major
        && libc::minor(st.st_rdev) as u64 == minor;
    if ok {
        return Ok(());
    }
    let kind_name = |k: libc::mode_t| match k {
        libc::S_IFCHR => "character",
        libc::S_IFBLK => "block",
        libc::S_IFIFO => "fifo",
        libc::S_IFLNK => "symlink",
        libc::S_IFREG => "regular file",
        libc::S_IFDIR => "directory",
        _ => "other",
    };
    Err(Error::WrongNode {
        path: shown.display().to_string(),
        want: format!("{} {major}:{minor}", kind_name(kind)),
        found: format!(
            "{} {}:{}",
            kind_name(st.st_mode & libc::S_IFMT),
            libc::major(st.st_rdev),
            libc::minor(st.st_rdev)
        ),
    })
}

/// The host's procfs, verified, for writes that must reach the kernel
/// (sysctls): files are opened beneath it without crossing a mount or
/// following a symlink, and checked to be procfs again after opening.
pub struct ProcFs {
    fd: OwnedFd,
}

impl ProcFs {
    pub fn open() -> Result<ProcFs, Error> {
        let p = Path::new("/proc");
        let fd = openat2(
            libc::AT_FDCWD,
            p,
            libc::O_PATH | libc::O_DIRECTORY,
            libc::RESOLVE_NO_SYMLINKS,
        )
        .or_else(|e| {
            if e != nix::Error::ENOSYS {
                return Err(e);
            }
            let fd = nix::fcntl::open(
                p,
                nix::fcntl::OFlag::O_PATH
                    | nix::fcntl::OFlag::O_DIRECTORY
                    | nix::fcntl::OFlag::O_NOFOLLOW
                    | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )?;
            // SAFETY: open returned a fresh descriptor.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        })
        .map_err(|source| Error::Open {
            path: "/proc".into(),
            source,
        })?;
        require_fs(&fd, PROC_MAGIC, "procfs", p)?;
        Ok(ProcFs { fd })
    }

    /// Opens `rel` (e.g. `sys/net/ipv4/ip_forward`) beneath this procfs.
    pub fn open_file(&self, rel: &Path, flags: i32) -> Result<OwnedFd, Error> {
        let shown = Path::new("/proc").join(rel);
        let fd = openat2(
            self.fd.as_raw_fd(),
            rel,
            flags | libc::O_NOFOLLOW,
            libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_XDEV,
        )
        .or_else(|e| {
            if e != nix::Error::ENOSYS {
                return Err(e);
            }
            let fd = nix::fcntl::openat(
                self.fd.as_raw_fd(),
                rel,
                nix::fcntl::OFlag::from_bits_truncate(flags | libc::O_NOFOLLOW | libc::O_CLOEXEC),
                nix::sys::stat::Mode::empty(),
            )?;
            // SAFETY: openat returned a fresh descriptor.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        })
        .map_err(|source| Error::Open {
            path: shown.display().to_string(),
            source,
        })?;
        require_fs(&fd, PROC_MAGIC, "procfs", &shown)?;
        Ok(fd)
    }

    /// Opens `rel` in this process' own directory (`self/rel`), reading the
    /// `self` link first: it is the one symlink the lookup must not follow.
    pub fn open_self(&self, rel: &str, flags: i32) -> Result<OwnedFd, Error> {
        let pid =
            nix::fcntl::readlinkat(self.fd.as_raw_fd(), "self").map_err(|source| Error::Open {
                path: "/proc/self".into(),
                source,
            })?;
        self.open_file(&Path::new(&pid).join(rel), flags)
    }
}

/// Why [`resolve_in_root`] refused a path.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("mount destination {dest} escapes the container rootfs{via}")]
    Escape { dest: String, via: String },
    #[error("mount destination {0}: too many levels of symbolic links")]
    Loop(String),
    #[error("readlink {path}: {source}")]
    Readlink {
        path: String,
        source: std::io::Error,
    },
}

/// Resolves `path` as the container will see it, following symlinks inside
/// `root` as if `root` were `/`. A `..` that would climb above the root, in
/// the path or in a symlink's target, is an error, not a clamp.
pub fn resolve_in_root(root: &Path, path: &Path) -> Result<PathBuf, ResolveError> {
    let mut resolved: Vec<OsString> = Vec::new();
    let mut pending: std::collections::VecDeque<OsString> = resolve_components(path).collect();
    let mut hops = 0;
    let mut via = String::new();
    while let Some(c) = pending.pop_front() {
        if c == ".." {
            if resolved.pop().is_none() {
                return Err(ResolveError::Escape {
                    dest: path.display().to_string(),
                    via,
                });
            }
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&c);
        match std::fs::symlink_metadata(&candidate) {
            Ok(md) if md.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return Err(ResolveError::Loop(path.display().to_string()));
                }
                let target =
                    std::fs::read_link(&candidate).map_err(|source| ResolveError::Readlink {
                        path: candidate.display().to_string(),
                        source,
                    })?;
                via = format!(
                    " through symlink {} -> {}",
                    candidate.strip_prefix(root).unwrap_or(&candidate).display(),
                    target.display()
                );
                if target.is_absolute() {
                    resolved.clear();
                }
                for (i, t) in resolve_components(&target).enumerate() {
                    pending.insert(i, t);
                }
            }
            _ => resolved.push(c),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&resolved);
    Ok(out)
}

fn resolve_components(p: &Path) -> impl Iterator<Item = OsString> + '_ {
    p.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn cleans_paths() {
        assert_eq!(
            clean(Path::new("/a/./b/../c")).unwrap(),
            PathBuf::from("a/c")
        );
        assert!(clean(Path::new("/a/../../etc")).is_err());
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = Root::open(d.path()).unwrap();
        symlink(outside.path(), d.path().join("abs")).unwrap();
        symlink("../../../../../../..", d.path().join("up")).unwrap();
        // an absolute link is taken relative to the root: mkdir lands inside
        fs::create_dir_all(d.path().join(outside.path().strip_prefix("/").unwrap())).unwrap();
        root.mkdir_all(Path::new("/abs/made")).unwrap();
        assert!(d
            .path()
            .join(outside.path().strip_prefix("/").unwrap())
            .join("made")
            .is_dir());
        assert!(!outside.path().join("made").exists());
        let fd = root.mkdir_all(Path::new("/up/x")).unwrap();
        let real = std::fs::read_link(fd_path(&fd)).unwrap();
        assert!(real.starts_with(d.path()), "{}", real.display());
    }

    #[test]
    fn makes_what_is_missing_below_what_exists() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::open(d.path()).unwrap();
        fs::create_dir(d.path().join("a")).unwrap();
        let made = root.mkdir_all(Path::new("/a/b/c")).unwrap();
        assert_eq!(
            std::fs::read_link(fd_path(&made)).unwrap(),
            d.path().join("a/b/c")
        );
        let again = root.mkdir_all(Path::new("a/b/c/")).unwrap();
        assert_eq!(mount_id(&again), mount_id(&made));
        assert_eq!(
            std::fs::read_link(fd_path(&root.mkdir_all(Path::new("/")).unwrap())).unwrap(),
            d.path()
        );
        // a dangling link is not replaced by a directory
        symlink("/nowhere", d.path().join("dangling")).unwrap();
        assert!(root.mkdir_all(Path::new("/dangling/x")).is_err());
        assert!(!d.path().join("nowhere").exists());
    }

    #[test]
    fn refuses_symlinks_where_files_must_be() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::open(d.path()).unwrap();
        std::fs::create_dir(d.path().join("dev")).unwrap();
        symlink("/etc/passwd", d.path().join("dev/null")).unwrap();
        let e = root
            .create_file(Path::new("/dev/null"), "a mount target")
            .unwrap_err();
        assert!(e.to_string().contains("is a symlink"), "{e}");
    }

    #[test]
    fn mount_id_agrees_with_fdinfo() {
        let fd = Root::open(Path::new("/proc")).unwrap().fd;
        let info =
            std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
        let from_fdinfo: u64 = info
            .lines()
            .find_map(|l| l.strip_prefix("mnt_id:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(mount_id(&fd), Some(from_fdinfo));
        let root = Root::open(Path::new("/")).unwrap().fd;
        assert_ne!(
            mount_id(&root),
            mount_id(&fd),
            "/ and /proc are different mounts"
        );
    }

    #[test]
    fn procfs_is_checked() {
        let p = ProcFs::open().unwrap();
        let fd = p
            .open_file(Path::new("sys/kernel/ostype"), libc::O_RDONLY)
            .unwrap();
        require_fs(&fd, PROC_MAGIC, "procfs", Path::new("x")).unwrap();
        let d = tempfile::tempdir().unwrap();
        let f = std::fs::File::open(d.path()).unwrap();
        assert!(require_fs(&f, PROC_MAGIC, "procfs", d.path()).is_err());
    }

    #[test]
    fn resolves_inside_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        fs::create_dir_all(root.join("usr/lib")).unwrap();
        symlink("usr/lib", root.join("lib")).unwrap();
        symlink("/usr", root.join("abs")).unwrap();
        assert_eq!(
            resolve_in_root(root, Path::new("/lib/x")).unwrap(),
            root.join("usr/lib/x")
        );
        assert_eq!(
            resolve_in_root(root, Path::new("/abs/lib")).unwrap(),
            root.join("usr/lib")
        );
        assert_eq!(
            resolve_in_root(root, Path::new("/a/../b")).unwrap(),
            root.join("b")
        );
    }

    #[test]
    fn refuses_escapes() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        fs::create_dir_all(root.join("mnt")).unwrap();
        symlink("../../../etc", root.join("mnt/evil")).unwrap();
        let e = resolve_in_root(root, Path::new("/mnt/evil")).unwrap_err();
        assert!(
            e.to_string()
                .contains("through symlink mnt/evil -> ../../../etc"),
            "{e}"
        );
        assert!(resolve_in_root(root, Path::new("/../etc")).is_err());
        symlink("loop", root.join("loop")).unwrap();
        assert!(matches!(
            resolve_in_root(root, Path::new("/loop")),
            Err(ResolveError::Loop(_))
        ));
    }
}
