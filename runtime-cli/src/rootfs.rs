//! The container's filesystem view, built inside its new mount namespace:
//! mounts resolved inside the rootfs, device nodes, pivot_root, masked and
//! read-only paths.

use crate::plan::MountOptions;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{chdir, fchdir, pivot_root};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};
use std::ffi::OsString;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("mount destination {dest} escapes the container rootfs{via}")]
    Escape { dest: String, via: String },
    #[error("mount destination {0}: too many levels of symbolic links")]
    Loop(String),
    #[error("{what} {path}: {source}")]
    Sys {
        what: &'static str,
        path: String,
        source: nix::Error,
    },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("mount source {0} does not exist")]
    NoSource(String),
    #[error("mount target {0} changed while it was being mounted")]
    Raced(String),
}

fn sys<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(nix::Error) -> Error + 'a {
    move |source| Error::Sys {
        what,
        path: path.display().to_string(),
        source,
    }
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        what,
        path: path.display().to_string(),
        source,
    }
}

/// Resolves `path` as the container will see it, following symlinks inside
/// `root` as if `root` were `/`. A `..` that would climb above the root, in
/// the path or in a symlink's target, is an error, not a clamp.
pub fn resolve_in_root(root: &Path, path: &Path) -> Result<PathBuf, Error> {
    let mut resolved: Vec<OsString> = Vec::new();
    let mut pending: std::collections::VecDeque<OsString> = components(path).collect();
    let mut hops = 0;
    let mut via = String::new();
    while let Some(c) = pending.pop_front() {
        if c == ".." {
            if resolved.pop().is_none() {
                return Err(Error::Escape {
                    dest: path.display().to_string(),
                    via,
                });
            }
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&c);
        match fs::symlink_metadata(&candidate) {
            Ok(md) if md.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return Err(Error::Loop(path.display().to_string()));
                }
                let target = fs::read_link(&candidate).map_err(io("readlink", &candidate))?;
                via = format!(
                    " through symlink {} -> {}",
                    candidate.strip_prefix(root).unwrap_or(&candidate).display(),
                    target.display()
                );
                if target.is_absolute() {
                    resolved.clear();
                }
                for (i, t) in components(&target).enumerate() {
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

fn components(p: &Path) -> impl Iterator<Item = OsString> + '_ {
    p.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        _ => None,
    })
}

/// An O_PATH handle on a mount target, checked to be where we resolved it,
/// so a concurrently swapped symlink can't redirect the mount.
struct Target {
    _fd: OwnedFd,
    path: PathBuf,
}

impl Target {
    fn open(path: &Path) -> Result<Target, Error> {
        let raw = open(
            path,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(sys("open mount target", path))?;
        // SAFETY: open returned a fresh descriptor that we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let proc_path = PathBuf::from(format!("/proc/self/fd/{raw}"));
        let real = fs::read_link(&proc_path).map_err(io("readlink", &proc_path))?;
        if real != path {
            return Err(Error::Raced(path.display().to_string()));
        }
        Ok(Target {
            _fd: fd,
            path: proc_path,
        })
    }
}

fn mkdir_all(path: &Path) -> Result<(), Error> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .map_err(io("mkdir", path))
}

fn touch(path: &Path) -> Result<(), Error> {
    if let Some(parent) = path.parent() {
        mkdir_all(parent)?;
    }
    if fs::symlink_metadata(path).is_ok() {
        return Ok(());
    }
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map(drop)
        .map_err(io("create", path))
}

/// Flags a remount must keep: in a user namespace the kernel refuses a
/// remount that would drop nosuid/nodev/noexec/atime flags locked by the
/// mount's owner.
fn locked_flags(path: &Path) -> MsFlags {
    let Ok(st) = nix::sys::statvfs::statvfs(path) else {
        return MsFlags::empty();
    };
    use nix::sys::statvfs::FsFlags;
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (s, m) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(s) {
            out |= m;
        }
    }
    out
}

fn bind_remount(path: &Path, flags: MsFlags) -> Result<(), Error> {
    let base = MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    match mount(None::<&str>, path, None::<&str>, base | flags, None::<&str>) {
        Ok(()) => Ok(()),
        Err(nix::Error::EPERM) => mount(
            None::<&str>,
            path,
            None::<&str>,
            base | flags | locked_flags(path),
            None::<&str>,
        )
        .map_err(sys("remount", path)),
        Err(e) => Err(sys("remount", path)(e)),
    }
}

/// What the rootfs setup needs from the rest of the runtime.
pub struct Context<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub in_user_ns: bool,
    pub new_cgroup_ns: bool,
}

fn propagation_flags(name: &str) -> Option<MsFlags> {
    Some(match name {
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// Everything before pivot_root: propagation, the rootfs bind, config
/// mounts and /dev.
pub fn prepare(ctx: &Context) -> Result<(), Error> {
    let linux = ctx.spec.linux().clone().unwrap_or_default();
    // an unbindable root would refuse the rootfs bind below: that one is
    // applied after pivot_root (in finish), like every requested mode
    let prop = linux
        .rootfs_propagation()
        .as_deref()
        .and_then(propagation_flags)
        .filter(|f| !f.contains(MsFlags::MS_UNBINDABLE))
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    mount(None::<&str>, "/", None::<&str>, prop, None::<&str>)
        .map_err(sys("set propagation of", Path::new("/")))?;
    make_parent_mount_private(ctx.rootfs)?;
    mount(
        Some(ctx.rootfs),
        ctx.rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys("bind mount rootfs", ctx.rootfs))?;

    let mounts = ctx.spec.mounts().clone().unwrap_or_default();
    for m in &mounts {
        mount_one(ctx, m)?;
    }
    let dev_is_bind = mounts.iter().any(|m| {
        m.destination() == Path::new("/dev")
            && (m.typ().as_deref() == Some("bind")
                || m.options()
                    .iter()
                    .flatten()
                    .any(|o| o == "bind" || o == "rbind"))
    });
    if !dev_is_bind {
        let devpts = mounts
            .iter()
            .any(|m| m.destination() == Path::new("/dev/pts"));
        create_devices(ctx, linux.devices().as_deref().unwrap_or(&[]), devpts)?;
    }
    Ok(())
}

/// pivot_root refuses a new root whose parent mount is shared.
fn make_parent_mount_private(rootfs: &Path) -> Result<(), Error> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let parent = rootfs.parent().unwrap_or(Path::new("/"));
    let mut best: Option<(&str, bool)> = None;
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() < 7 {
            continue;
        }
        let mp = f[4];
        if parent.starts_with(mp) && best.is_none_or(|(b, _)| mp.len() >= b.len()) {
            let shared = f[6..]
                .iter()
                .take_while(|x| **x != "-")
                .any(|x| x.starts_with("shared:"));
            best = Some((mp, shared));
        }
    }
    if let Some((mp, true)) = best {
        mount(
            None::<&str>,
            mp,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(sys("make private", Path::new(mp)))?;
    }
    Ok(())
}

fn mount_one(ctx: &Context, m: &Mount) -> Result<(), Error> {
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
    let dest = resolve_in_root(ctx.rootfs, m.destination())?;
    if typ == "cgroup" && !opts.is_bind() {
        return mount_cgroup(ctx, &dest, &opts);
    }
    if opts.is_bind() {
        let src = m.source().clone().unwrap_or_default();
        let src = if src.is_absolute() {
            src
        } else {
            ctx.bundle.join(src)
        };
        let md = fs::metadata(&src).map_err(|_| Error::NoSource(src.display().to_string()))?;
        if md.is_dir() {
            mkdir_all(&dest)?;
        } else {
            touch(&dest)?;
        }
        bind(&src, &dest, &opts)?;
    } else {
        mkdir_all(&dest)?;
        let target = Target::open(&dest)?;
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
        match res {
            Ok(()) => {}
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
                bind(Path::new(host), &dest, &b)?;
            }
            Err(e) => return Err(sys("mount", &dest)(e)),
        }
        drop(target);
    }
    apply_propagation(&dest, &opts)?;
    if opts.recursive_set != 0 || opts.recursive_clear != 0 {
        set_recursive_attrs(&dest, opts.recursive_set, opts.recursive_clear)?;
    }
    Ok(())
}

fn bind(src: &Path, dest: &Path, opts: &MountOptions) -> Result<(), Error> {
    let target = Target::open(dest)?;
    let rec = opts.flags & MsFlags::MS_REC;
    mount(
        Some(src),
        &target.path,
        None::<&str>,
        MsFlags::MS_BIND | rec,
        None::<&str>,
    )
    .map_err(sys("bind mount", dest))?;
    let extra = opts.bind_remount_flags();
    if !extra.is_empty() {
        bind_remount(dest, extra)?;
    }
    Ok(())
}

fn apply_propagation(dest: &Path, opts: &MountOptions) -> Result<(), Error> {
    for p in &opts.propagation {
        mount(None::<&str>, dest, None::<&str>, *p, None::<&str>)
            .map_err(sys("set propagation of", dest))?;
    }
    Ok(())
}

fn set_recursive_attrs(dest: &Path, set: u64, clear: u64) -> Result<(), Error> {
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
    let c = std::ffi::CString::new(dest.as_os_str().as_encoded_bytes()).expect("no NUL in path");
    // SAFETY: mount_setattr reads `size` bytes of `attr`, a live repr(C)
    // struct, and the NUL-terminated path; it writes nothing back.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc != 0 {
        return Err(sys("mount_setattr", dest)(nix::Error::last()));
    }
    Ok(())
}

/// The cgroup filesystem inside the container: cgroup2 on a v2 host, a
/// tmpfs of per-hierarchy mounts on a v1 or hybrid one.
fn mount_cgroup(ctx: &Context, dest: &Path, opts: &MountOptions) -> Result<(), Error> {
    mkdir_all(dest)?;
    let ro = opts.flags.contains(MsFlags::MS_RDONLY);
    let base = opts.flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    let hosts = host_cgroup_mounts();
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let only_v2 =
        hosts.len() == 1 && hosts[0].fstype == "cgroup2" && hosts[0].mountpoint == "/sys/fs/cgroup";
    if only_v2 {
        mount_hierarchy(ctx, &hosts[0], dest, base, &own)?;
        if ro {
            bind_remount(dest, base | MsFlags::MS_RDONLY)?;
        }
        return Ok(());
    }
    let target = Target::open(dest)?;
    mount(
        Some("cgroup"),
        &target.path,
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )
    .map_err(sys("mount tmpfs for cgroups on", dest))?;
    drop(target);
    for h in &hosts {
        let Some(name) = Path::new(&h.mountpoint).file_name() else {
            continue;
        };
        if !h.mountpoint.starts_with("/sys/fs/cgroup/") {
            continue;
        }
        let sub = dest.join(name);
        mkdir_all(&sub)?;
        mount_hierarchy(ctx, h, &sub, base, &own)?;
        if ro {
            bind_remount(&sub, base | MsFlags::MS_RDONLY)?;
        }
        // "cpu,cpuacct" is also reachable as "cpu" and "cpuacct"
        let name = name.to_string_lossy();
        if name.contains(',') {
            for alias in name.split(',') {
                let link = dest.join(alias);
                if fs::symlink_metadata(&link).is_err() {
                    std::os::unix::fs::symlink(&*name, &link).map_err(io("symlink", &link))?;
                }
            }
        }
    }
    if ro {
        mount(
            None::<&str>,
            dest,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | base,
            Some("mode=755"),
        )
        .map_err(sys("remount read-only", dest))?;
    }
    Ok(())
}

#[derive(Debug)]
struct HostCgroupMount {
    mountpoint: String,
    root: String,
    fstype: String,
    options: String,
}

fn host_cgroup_mounts() -> Vec<HostCgroupMount> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    // hierarchies hidden under a later mount (a tmpfs over /sys/fs/cgroup)
    // are not the host's current layout
    for line in berth_cgroups::visible_lines(&info) {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(sep) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        let fstype = f.get(sep + 1).copied().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let options = f
            .get(sep + 3)
            .copied()
            .unwrap_or("")
            .split(',')
            .filter(|o| *o != "rw" && *o != "ro")
            .collect::<Vec<_>>()
            .join(",");
        out.push(HostCgroupMount {
            mountpoint: f[4].to_string(),
            root: f[3].to_string(),
            fstype: fstype.to_string(),
            options,
        });
    }
    out
}

/// Mounts one hierarchy at `dest`: a fresh mount in a new cgroup namespace
/// (it shows the container's cgroup as its root), else a bind of the
/// container's own cgroup directory.
fn mount_hierarchy(
    ctx: &Context,
    h: &HostCgroupMount,
    dest: &Path,
    flags: MsFlags,
    own_cgroup: &str,
) -> Result<(), Error> {
    let target = Target::open(dest)?;
    if ctx.new_cgroup_ns {
        let data = if h.fstype == "cgroup" {
            let has_controller = h.options.split(',').any(|o| !o.starts_with("name="));
            if has_controller {
                h.options.clone()
            } else {
                format!("none,{}", h.options)
            }
        } else {
            String::new()
        };
        let res = mount(
            Some("cgroup"),
            &target.path,
            Some(h.fstype.as_str()),
            flags,
            (!data.is_empty()).then_some(data.as_str()),
        );
        if res.is_ok() {
            return Ok(());
        }
    }
    // the container's cgroup in this hierarchy, relative to the mount's root
    let key = if h.fstype == "cgroup2" {
        String::new()
    } else {
        h.options.clone()
    };
    let path = own_cgroup
        .lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, ctrl, path) = (p.next()?, p.next()?, p.next()?);
            let wanted: Vec<&str> = key.split(',').filter(|s| !s.is_empty()).collect();
            let have: Vec<&str> = ctrl.split(',').collect();
            let matches = if wanted.is_empty() {
                ctrl.is_empty()
            } else {
                wanted.iter().all(|w| have.contains(w))
            };
            matches.then(|| path.to_string())
        })
        .next()
        .unwrap_or_else(|| "/".into());
    let rel = Path::new(&path)
        .strip_prefix(&h.root)
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let src = Path::new(&h.mountpoint).join(rel);
    mount(
        Some(&src),
        &target.path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys("bind mount cgroup", dest))
}

struct DefaultDevice {
    path: &'static str,
    major: u64,
    minor: u64,
}

const DEFAULT_DEVICES: &[DefaultDevice] = &[
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

fn create_devices(ctx: &Context, devices: &[LinuxDevice], devpts: bool) -> Result<(), Error> {
    // SAFETY: umask only swaps the process' file mode mask.
    let old = unsafe { libc::umask(0) };
    let result = (|| {
        for d in DEFAULT_DEVICES {
            if devices.iter().any(|c| c.path() == Path::new(d.path)) {
                continue;
            }
            create_device(
                ctx,
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
                d.path(),
                kind,
                d.major() as u64,
                d.minor() as u64,
                d.file_mode().unwrap_or(0o666),
                d.uid().unwrap_or(0),
                d.gid().unwrap_or(0),
            )?;
        }
        let dev = resolve_in_root(ctx.rootfs, Path::new("/dev"))?;
        for (link, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            let l = dev.join(link);
            if fs::symlink_metadata(&l).is_err() {
                std::os::unix::fs::symlink(target, &l).map_err(io("symlink", &l))?;
            }
        }
        if Path::new("/proc/kcore").exists() {
            let l = dev.join("core");
            if fs::symlink_metadata(&l).is_err() {
                std::os::unix::fs::symlink("/proc/kcore", &l).map_err(io("symlink", &l))?;
            }
        }
        if devpts {
            let l = dev.join("ptmx");
            let _ = fs::remove_file(&l);
            std::os::unix::fs::symlink("pts/ptmx", &l).map_err(io("symlink", &l))?;
        }
        Ok(())
    })();
    // SAFETY: restores the mask saved above.
    unsafe { libc::umask(old) };
    result
}

#[allow(clippy::too_many_arguments)]
fn create_device(
    ctx: &Context,
    path: &Path,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
) -> Result<(), Error> {
    let dest = resolve_in_root(ctx.rootfs, path)?;
    if let Some(parent) = dest.parent() {
        mkdir_all(parent)?;
    }
    if !ctx.in_user_ns {
        let _ = fs::remove_file(&dest);
        let perm = Mode::from_bits_truncate(mode & 0o7777);
        match nix::sys::stat::mknod(&dest, kind, perm, nix::sys::stat::makedev(major, minor)) {
            Ok(()) => {
                nix::unistd::chown(
                    &dest,
                    Some(nix::unistd::Uid::from_raw(uid)),
                    Some(nix::unistd::Gid::from_raw(gid)),
                )
                .map_err(sys("chown", &dest))?;
                return Ok(());
            }
            Err(nix::Error::EPERM) => {}
            Err(e) => return Err(sys("mknod", &dest)(e)),
        }
    }
    // without mknod rights, bind the host's node over an empty file
    touch(&dest)?;
    let target = Target::open(&dest)?;
    mount(
        Some(path),
        &target.path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(sys("bind mount device", &dest))
}

/// Binds the pty slave at `/dev/console` so the container's console is its terminal.
pub fn bind_console(rootfs: &Path, slave: &Path) -> Result<(), Error> {
    let dest = resolve_in_root(rootfs, Path::new("/dev/console"))?;
    touch(&dest)?;
    let target = Target::open(&dest)?;
    mount(
        Some(slave),
        &target.path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(sys("bind mount console", &dest))
}

/// Makes `rootfs` the root: pivot_root, or MS_MOVE + chroot with `--no-pivot`.
pub fn enter(rootfs: &Path, no_pivot: bool) -> Result<(), Error> {
    if no_pivot {
        chdir(rootfs).map_err(sys("chdir", rootfs))?;
        mount(
            Some(rootfs),
            "/",
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        )
        .map_err(sys("move mount", rootfs))?;
        nix::unistd::chroot(".").map_err(sys("chroot", rootfs))?;
        chdir("/").map_err(sys("chdir", Path::new("/")))?;
        return Ok(());
    }
    let old = open(
        "/",
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys("open", Path::new("/")))?;
    // SAFETY: fresh descriptor from open.
    let old = unsafe { OwnedFd::from_raw_fd(old) };
    let new = open(
        rootfs,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys("open", rootfs))?;
    // SAFETY: fresh descriptor from open.
    let new = unsafe { OwnedFd::from_raw_fd(new) };
    fchdir(new.as_raw_fd()).map_err(sys("chdir", rootfs))?;
    pivot_root(".", ".").map_err(sys("pivot_root", rootfs))?;
    fchdir(old.as_raw_fd()).map_err(sys("chdir to old root", Path::new("/")))?;
    // the old root must not propagate its unmount back to the host
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys("make old root slave", Path::new("/")))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(sys("unmount old root", Path::new("/")))?;
    chdir("/").map_err(sys("chdir", Path::new("/")))?;
    Ok(())
}

/// After pivot_root: sysctls, read-only and masked paths, a read-only root,
/// and the root's propagation.
pub fn finish(spec: &Spec) -> Result<(), Error> {
    let linux = spec.linux().clone().unwrap_or_default();
    for (k, v) in linux.sysctl().iter().flatten() {
        let p = crate::plan::sysctl_path(k);
        fs::write(&p, v).map_err(io("set sysctl", &p))?;
    }
    for p in linux.readonly_paths().iter().flatten() {
        let path = Path::new(p);
        if fs::symlink_metadata(path).is_err() {
            continue;
        }
        mount(
            Some(path),
            path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(sys("bind mount", path))?;
        bind_remount(path, MsFlags::MS_RDONLY | MsFlags::MS_REC)?;
    }
    for p in linux.masked_paths().iter().flatten() {
        let path = Path::new(p);
        let Ok(md) = fs::metadata(path) else {
            continue;
        };
        if md.is_dir() {
            mount(
                Some("tmpfs"),
                path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .map_err(sys("mask", path))?;
        } else {
            mount(
                Some("/dev/null"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(sys("mask", path))?;
        }
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        bind_remount(Path::new("/"), MsFlags::MS_RDONLY)?;
    }
    if let Some(prop) = linux
        .rootfs_propagation()
        .as_deref()
        .and_then(propagation_flags)
    {
        mount(None::<&str>, "/", None::<&str>, prop, None::<&str>)
            .map_err(sys("set propagation of", Path::new("/")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

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
            Err(Error::Loop(_))
        ));
    }
}
