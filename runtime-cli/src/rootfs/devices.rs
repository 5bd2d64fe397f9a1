//! `/dev`: the default and the spec's device nodes (made, or bound from the
//! host in a user namespace), checked after creation, and the console.

#[allow(unused_imports)]
use super::*;

pub(super) struct DefaultDevice {
    path: &'static str,
    major: u64,
    minor: u64,
}

pub(super) const DEFAULT_DEVICES: &[DefaultDevice] = &[
    DefaultDevice {
        path: "/dev/null",
        major: 1,
        minor: 3,
    },
    DefaultDevice {
        path: "/dev/zero",
        major: 1,
        minor: 5,
    },
    DefaultDevice {
        path: "/dev/full",
        major: 1,
        minor: 7,
    },
    DefaultDevice {
        path: "/dev/random",
        major: 1,
        minor: 8,
    },
    DefaultDevice {
        path: "/dev/urandom",
        major: 1,
        minor: 9,
    },
    DefaultDevice {
        path: "/dev/tty",
        major: 5,
        minor: 0,
    },
];

pub(super) fn create_devices(
    ctx: &Context,
    root: &Root,
    devices: &[LinuxDevice],
    devpts: bool,
) -> Result<(), Error> {
    // SAFETY: umask only swaps the process' file mode mask.
    let old = unsafe { libc::umask(0) };
    let result = (|| {
        for d in DEFAULT_DEVICES {
            if devices.iter().any(|c| c.path() == Path::new(d.path)) {
                continue;
            }
            create_device(
                ctx,
                root,
                Path::new(d.path),
                SFlag::S_IFCHR,
                d.major,
                d.minor,
                0o666,
                0,
                0,
            )?;
        }
        for d in devices {
            let kind = match d.typ() {
                LinuxDeviceType::B => SFlag::S_IFBLK,
                LinuxDeviceType::P => SFlag::S_IFIFO,
                _ => SFlag::S_IFCHR,
            };
            create_device(
                ctx,
                root,
                d.path(),
                kind,
                d.major() as u64,
                d.minor() as u64,
                d.file_mode().unwrap_or(0o666),
                d.uid().unwrap_or(0),
                d.gid().unwrap_or(0),
            )?;
        }
        let dev = root.mkdir_all(Path::new("/dev"))?;
        for (link, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            symlink_at(&dev, target, link, &Path::new("/dev").join(link))?;
        }
        if Path::new("/proc/kcore").exists() {
            symlink_at(&dev, "/proc/kcore", "core", Path::new("/dev/core"))?;
        }
        if devpts {
            let _ = nix::unistd::unlinkat(
                Some(dev.as_raw_fd()),
                "ptmx",
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
            symlink_at(&dev, "pts/ptmx", "ptmx", Path::new("/dev/ptmx"))?;
        }
        Ok(())
    })();
    // SAFETY: restores the mask saved above.
    unsafe { libc::umask(old) };
    result
}

/// Makes a device node at `path` in the root. The node is made with mknodat
/// in its resolved parent and checked after opening it without following
/// links; a symlink where the node belongs is refused rather than followed,
/// so an image can't steer the node (or the file the runtime replaces) to a
/// place of its choosing.
#[allow(clippy::too_many_arguments)]
pub(super) fn create_device(
    ctx: &Context,
    root: &Root,
    path: &Path,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
) -> Result<(), Error> {
    let (dir, name) = root.parent_of(path)?;
    match nix::sys::stat::fstatat(
        dir.as_raw_fd(),
        name.as_os_str(),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    ) {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
            return Err(safe_open::Error::Symlink {
                path: path.display().to_string(),
                what: "a device node",
            }
            .into())
        }
        _ => {}
    }
    if !ctx.in_user_ns {
        let _ = nix::unistd::unlinkat(
            Some(dir.as_raw_fd()),
            name.as_os_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        );
        let perm = Mode::from_bits_truncate(mode & 0o7777);
        match nix::sys::stat::mknodat(
            dir.as_raw_fd(),
            name.as_os_str(),
            kind,
            perm,
            nix::sys::stat::makedev(major, minor),
        ) {
            Ok(()) => {
                let fd = safe_open::open_no_follow(&dir, &name, path, "a device node")?;
                if kind != SFlag::S_IFIFO {
                    safe_open::require_node(&fd, kind.bits(), major, minor, path)?;
                }
                nix::unistd::fchownat(
                    Some(fd.as_raw_fd()),
                    "",
                    Some(nix::unistd::Uid::from_raw(uid)),
                    Some(nix::unistd::Gid::from_raw(gid)),
                    nix::unistd::FchownatFlags::NoFollowSymlink,
                )
                .or_else(|_| chown_empty_path(&fd, uid, gid))
                .map_err(sys("chown", path))?;
                return Ok(());
            }
            Err(nix::Error::EPERM) => {}
            Err(e) => return Err(sys("mknod", path)(e)),
        }
    }
    // without mknod rights, bind the host's node over an empty file
    let target = Target::file(root, path)?;
    mount(
        Some(path),
        &target.path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(sys("bind mount device", path))?;
    let mounted = target.mounted(root)?;
    if kind != SFlag::S_IFIFO {
        safe_open::require_node(&mounted.fd, kind.bits(), major, minor, path)?;
    }
    Ok(())
}

/// fchownat(fd, "", AT_EMPTY_PATH): chown through an O_PATH descriptor.
pub(super) fn chown_empty_path(fd: &OwnedFd, uid: u32, gid: u32) -> nix::Result<()> {
    // SAFETY: fchownat with an empty NUL-terminated path acts on `fd` itself.
    let rc = unsafe {
        libc::fchownat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            uid,
            gid,
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}

/// Binds the pty slave (held open by the caller) at `/dev/console`, so the
/// container's console is its terminal. The bind's source is the open slave
/// itself and the target a regular file opened without following links, so
/// neither end can be swapped for something else.
pub fn bind_console(root: &Root, slave: &OwnedFd) -> Result<(), Error> {
    let dest = Path::new("/dev/console");
    let st = safe_open::fstat(slave, dest)?;
    let target = Target::file(root, dest)?;
    let src = safe_open::fd_path(slave);
    mount(
        Some(&src),
        &target.path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(sys("bind mount console", dest))?;
    let mounted = target.mounted(root)?;
    safe_open::require_node(
        &mounted.fd,
        libc::S_IFCHR,
        libc::major(st.st_rdev) as u64,
        libc::minor(st.st_rdev) as u64,
        dest,
    )?;
    Ok(())
}

/// Opens the container's `/dev/pts/ptmx` (no symlinks on the way) and checks
/// it is the pty multiplexer (5:2).
pub fn open_ptmx(root: &Root) -> Result<OwnedFd, Error> {
    let p = Path::new("/dev/pts/ptmx");
    let fd = root.open_no_symlinks(p, libc::O_RDWR | libc::O_NOCTTY | libc::O_NOFOLLOW)?;
    safe_open::require_node(&fd, libc::S_IFCHR, 5, 2, p)?;
    Ok(fd)
}
