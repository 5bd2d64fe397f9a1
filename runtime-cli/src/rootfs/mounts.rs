//! The spec's mounts, one by one: each destination resolved inside the
//! rootfs and opened before anything is mounted on it, bind sources
//! checked, procfs never covered, flags, propagation and recursive
//! attributes applied after the mount.

#[allow(unused_imports)]
use super::*;

/// /proc files a non-procfs mount may cover (what lxcfs provides), as in runc.
pub(super) const PROC_OVERMOUNT_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// A mount over /proc (or a directory in it) that isn't procfs would hide
/// the real one from the masks and the checks that rely on it.
pub(super) fn check_proc_mount(typ: &str, inside: &Path, dest: &Path) -> Result<(), Error> {
    if typ == "proc" || !inside.starts_with("/proc") {
        return Ok(());
    }
    if PROC_OVERMOUNT_ALLOWED
        .iter()
        .any(|p| inside == Path::new(p))
    {
        return Ok(());
    }
    Err(Error::OverProc {
        fstype: typ.to_string(),
        dest: dest.display().to_string(),
    })
}

pub(super) fn mount_one(ctx: &Context, root: &Root, m: &Mount) -> Result<(), Error> {
    let typ = m.typ().as_deref().unwrap_or("none");
    let mut opts =
        MountOptions::parse(m.options().as_deref().unwrap_or(&[])).map_err(|e| Error::Io {
            what: "mount options of",
            path: m.destination().display().to_string(),
            source: std::io::Error::other(e),
        })?;
    if typ == "bind" {
        opts.flags |= MsFlags::MS_BIND;
    }
    let dest = m.destination().as_path();
    // the userspace walk names the symlink of an escape in its error; the
    // kernel's walk below (confined to the root) is the one that counts
    let resolved = resolve_in_root(ctx.rootfs, dest)?;
    // the resolved path, so a mount onto a dangling link makes its target
    let inside = Path::new("/").join(resolved.strip_prefix(ctx.rootfs).unwrap_or(&resolved));
    if !(opts.is_bind() && bind_source_is_procfs(m, ctx.bundle)) {
        check_proc_mount(if opts.is_bind() { "bind" } else { typ }, &inside, dest)?;
    }
    if typ == "cgroup" && !opts.is_bind() {
        return mount_cgroup(ctx, root, &inside, &opts);
    }
    if opts.is_bind() {
        let src = m.source().clone().unwrap_or_default();
        let src = if src.is_absolute() {
            src
        } else {
            ctx.bundle.join(src)
        };
        let md = fs::metadata(&src).map_err(|_| Error::NoSource(src.display().to_string()))?;
        let target = if md.is_dir() {
            Target::dir(root, &inside)?
        } else {
            Target::file(root, &inside)?
        };
        let mounted = bind(root, &src, &target, &opts)?;
        return finish_mount(&mounted, &opts);
    }
    let target = if typ == "proc" || typ == "sysfs" {
        plain_dir(root, typ, dest)?
    } else {
        Target::dir(root, &inside)?
    };
    let source = m
        .source()
        .as_ref()
        .map(|s| s.display().to_string())
        .unwrap_or_else(|| typ.to_string());
    let data = opts.data_string();
    let flags = opts.flags & !MsFlags::MS_REMOUNT;
    let res = mount(
        Some(source.as_str()),
        &target.path,
        Some(typ),
        flags,
        (!data.is_empty()).then_some(data.as_str()),
    );
    let mounted = match res {
        Ok(()) => target.mounted(root)?,
        // a user namespace without its own network or ipc namespace may not
        // mount sysfs or mqueue: give the host's, read-only where asked
        Err(nix::Error::EPERM) if typ == "sysfs" || typ == "mqueue" => {
            let host = if typ == "sysfs" {
                "/sys"
            } else {
                "/dev/mqueue"
            };
            let mut b = opts.clone();
            b.flags |= MsFlags::MS_BIND | MsFlags::MS_REC;
            bind(root, Path::new(host), &target, &b)?
        }
        // a gid= (or uid=) the user namespace doesn't map is EINVAL: devpts
        // goes without it, as runc and crun do (`spec --rootless` drops it)
        Err(nix::Error::EINVAL) if typ == "devpts" && ctx.in_user_ns && has_id_option(&opts) => {
            let data = without_id_options(&opts);
            mount(
                Some(source.as_str()),
                &target.path,
                Some(typ),
                flags,
                (!data.is_empty()).then_some(data.as_str()),
            )
            .map_err(sys("mount", dest))?;
            target.mounted(root)?
        }
        Err(e) => return Err(sys("mount", dest)(e)),
    };
    match typ {
        "proc" => safe_open::require_fs(&mounted.fd, safe_open::PROC_MAGIC, "procfs", dest)?,
        "sysfs" => safe_open::require_fs(&mounted.fd, safe_open::SYSFS_MAGIC, "sysfs", dest)?,
        _ => {}
    }
    finish_mount(&mounted, &opts)
}

pub(super) fn is_id_option(o: &str) -> bool {
    o.starts_with("gid=") || o.starts_with("uid=")
}

pub(super) fn has_id_option(opts: &MountOptions) -> bool {
    opts.data.iter().any(|o| is_id_option(o))
}

pub(super) fn without_id_options(opts: &MountOptions) -> String {
    let kept: Vec<&str> = opts
        .data
        .iter()
        .map(String::as_str)
        .filter(|o| !is_id_option(o))
        .collect();
    kept.join(",")
}

/// A bind of part of a procfs (the host's /proc/sys, say) over /proc
/// still leaves procfs there.
pub(super) fn bind_source_is_procfs(m: &Mount, bundle: &Path) -> bool {
    let src = m.source().clone().unwrap_or_default();
    let src = if src.is_absolute() {
        src
    } else {
        bundle.join(src)
    };
    nix::sys::statfs::statfs(&src)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
}

/// procfs and sysfs go only onto a real directory reached without any
/// symlink: a link there (from the image or a racing container) has been
/// the way to hide the real /proc from a runtime's later writes.
pub(super) fn plain_dir(root: &Root, typ: &str, dest: &Path) -> Result<Target, Error> {
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;
    let refused = || Error::NotPlainDir {
        fstype: typ.to_string(),
        dest: dest.display().to_string(),
    };
    let fd = match root.open_no_symlinks(dest, flags) {
        Ok(fd) => fd,
        Err(safe_open::Error::Open {
            source: nix::Error::ENOENT,
            ..
        }) => {
            root.mkdir_all(dest).map_err(|_| refused())?;
            root.open_no_symlinks(dest, flags).map_err(|_| refused())?
        }
        Err(safe_open::Error::Open {
            source: nix::Error::ELOOP | nix::Error::ENOTDIR | nix::Error::EXDEV,
            ..
        }) => return Err(refused()),
        Err(e) => return Err(e.into()),
    };
    Ok(Target::from_fd(fd, dest))
}

pub(super) fn finish_mount(target: &Target, opts: &MountOptions) -> Result<(), Error> {
    apply_propagation(target, opts)?;
    if opts.recursive_set != 0 || opts.recursive_clear != 0 {
        set_recursive_attrs(target, opts.recursive_set, opts.recursive_clear)?;
    }
    Ok(())
}

/// Binds `src` (a host path) onto `target`; returns the new mount.
pub(super) fn bind(
    root: &Root,
    src: &Path,
    target: &Target,
    opts: &MountOptions,
) -> Result<Target, Error> {
    let rec = opts.flags & MsFlags::MS_REC;
    mount(
        Some(src),
        &target.path,
        None::<&str>,
        MsFlags::MS_BIND | rec,
        None::<&str>,
    )
    .map_err(sys("bind mount", &target.dest))?;
    let mounted = target.mounted(root)?;
    let extra = opts.bind_remount_flags();
    if !extra.is_empty() {
        bind_remount(&mounted.path, extra)?;
    }
    Ok(mounted)
}

pub(super) fn apply_propagation(target: &Target, opts: &MountOptions) -> Result<(), Error> {
    for p in &opts.propagation {
        mount(None::<&str>, &target.path, None::<&str>, *p, None::<&str>)
            .map_err(sys("set propagation of", &target.dest))?;
    }
    Ok(())
}

pub(super) fn set_recursive_attrs(target: &Target, set: u64, clear: u64) -> Result<(), Error> {
    mount_setattr_recursive(target.fd.as_raw_fd(), set, clear)
        .map_err(sys("mount_setattr", &target.dest))
}

/// mount_setattr(2) on the mount `fd` refers to and every mount below it:
/// sets the `MOUNT_ATTR_*` bits in `set`, clears those in `clear`.
pub(crate) fn mount_setattr_recursive(
    fd: std::os::fd::RawFd,
    set: u64,
    clear: u64,
) -> nix::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr reads `size` bytes of `attr`, a live repr(C)
    // struct, and the empty NUL-terminated path; it writes nothing back.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            libc::AT_RECURSIVE | libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc != 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}
