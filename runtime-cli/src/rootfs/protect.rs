//! Masked and read-only paths: what the spec hides behind /dev/null or an
//! empty tmpfs, and what it remounts read-only, opened inside the root so a
//! symlink can't point the mask elsewhere.

#[allow(unused_imports)]
use super::*;

/// The last steps before pivot_root, once nothing else will be mounted in
/// the rootfs: sysctls, then read-only paths, then masked paths. Each
/// target is opened inside the root and, under /proc and /sys, must be on
/// procfs or sysfs: a tmpfs or a bind standing in for them would make a
/// mask or a read-only bind protect nothing. Masks bind the runtime's own
/// verified /dev/null (1:3), never a path the container could have swapped.
pub fn protect(spec: &Spec, root: &Root) -> Result<(), Error> {
    let linux = spec.linux().clone().unwrap_or_default();
    let sysctls = linux.sysctl().clone().unwrap_or_default();
    if !sysctls.is_empty() {
        // the values land in the namespaces of the writing process (ours,
        // the container's), whichever procfs mount the file is opened on
        let proc = safe_open::ProcFs::open()?;
        for (k, v) in &sysctls {
            let p = crate::sysctl::sysctl_path(k);
            let rel = p.strip_prefix("/proc").unwrap_or(&p);
            let fd = proc.open_file(rel, libc::O_WRONLY | libc::O_TRUNC)?;
            nix::unistd::write(fd.as_raw_fd(), v.as_bytes()).map_err(sys("set sysctl", &p))?;
        }
    }
    let mut seen = std::collections::HashSet::new();
    for p in linux.readonly_paths().iter().flatten() {
        let path = Path::new(p);
        if !seen.insert(path.to_path_buf()) {
            continue;
        }
        let Some(fd) = open_protected(root, path)? else {
            continue;
        };
        let target = Target::from_fd(fd, path);
        mount(
            Some(&target.path),
            &target.path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(sys("bind mount", path))?;
        let mounted = target.mounted(root)?;
        bind_remount(&mounted.path, MsFlags::MS_RDONLY | MsFlags::MS_REC)?;
    }
    let mut null: Option<OwnedFd> = None;
    seen.clear();
    for p in linux.masked_paths().iter().flatten() {
        let path = Path::new(p);
        if !seen.insert(path.to_path_buf()) {
            continue;
        }
        let Some(fd) = open_protected(root, path)? else {
            continue;
        };
        let is_dir = safe_open::fstat(&fd, path)?.st_mode & libc::S_IFMT == libc::S_IFDIR;
        let target = Target::from_fd(fd, path);
        if is_dir {
            mount(
                Some("tmpfs"),
                &target.path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .map_err(sys("mask", path))?;
        } else {
            if null.is_none() {
                null = Some(dev_null(root)?);
            }
            let src = safe_open::fd_path(null.as_ref().expect("opened above"));
            mount(
                Some(&src),
                &target.path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(sys("mask", path))?;
        }
        target.mounted(root)?;
    }
    Ok(())
}

/// A read-only or masked path opened inside the root (None if it doesn't
/// exist), checked to be on procfs/sysfs when it is under /proc or /sys.
pub(super) fn open_protected(root: &Root, path: &Path) -> Result<Option<OwnedFd>, Error> {
    let fd = match root.open_path(path, libc::O_PATH) {
        Ok(fd) => fd,
        Err(safe_open::Error::Open {
            source: nix::Error::ENOENT | nix::Error::ENOTDIR,
            ..
        }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if let Some((magic, name)) = safe_open::expected_fs(path) {
        safe_open::require_fs(&fd, magic, name, path)?;
    }
    Ok(Some(fd))
}

/// The container's /dev/null, opened without following links and checked to
/// be the null device; falls back to the host's (also checked).
pub(super) fn dev_null(root: &Root) -> Result<OwnedFd, Error> {
    let p = Path::new("/dev/null");
    let fd = match root.open_path(p, libc::O_PATH | libc::O_NOFOLLOW) {
        Ok(fd) => fd,
        Err(safe_open::Error::Open {
            source: nix::Error::ENOENT,
            ..
        }) => safe_open::openat2(libc::AT_FDCWD, p, libc::O_PATH | libc::O_NOFOLLOW, 0)
            .map_err(sys("open", p))?,
        Err(e) => return Err(e.into()),
    };
    safe_open::require_node(&fd, libc::S_IFCHR, 1, 3, p)?;
    Ok(fd)
}
