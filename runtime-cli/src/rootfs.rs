//! The container's filesystem view, built inside its new mount namespace:
//! mounts resolved inside the rootfs, device nodes, pivot_root, masked and
//! read-only paths.

use berth_mount_options::MountOptions;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{chdir, fchdir, pivot_root};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};
use std::ffi::OsString;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use crate::safe_open::{self, Root};

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
    #[error(transparent)]
    Open(#[from] crate::safe_open::Error),
    #[error("filesystem {fstype} must be mounted on a directory reached without symlinks: {dest}")]
    NotPlainDir { fstype: String, dest: String },
    #[error("{fstype} mount on {dest} would cover procfs; only procfs and a few /proc files (as lxcfs provides) may be mounted there")]
    OverProc { fstype: String, dest: String },
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

/// An O_PATH handle on a mount target resolved inside the root: the mount
/// goes onto `/proc/self/fd/N`, so a symlink swapped in after resolution
/// can't redirect it.
struct Target {
    fd: OwnedFd,
    /// `/proc/self/fd/N`
    path: PathBuf,
    /// the destination as the container sees it
    dest: PathBuf,
}

impl Target {
    fn from_fd(fd: OwnedFd, dest: &Path) -> Target {
        Target {
            path: safe_open::fd_path(&fd),
            fd,
            dest: dest.to_path_buf(),
        }
    }

    /// A directory, made where missing.
    fn dir(root: &Root, dest: &Path) -> Result<Target, Error> {
        Ok(Self::from_fd(root.mkdir_all(dest)?, dest))
    }

    /// A file, made empty where missing; a symlink there (one swapped in
    /// after `dest` was resolved) is refused.
    fn file(root: &Root, dest: &Path) -> Result<Target, Error> {
        Ok(Self::from_fd(
            root.create_file(dest, "a mount target")?,
            dest,
        ))
    }

    /// The destination resolved again after a mount onto it: it must now lead
    /// to a different mount than before (ours), else something moved it.
    fn mounted(&self, root: &Root) -> Result<Target, Error> {
        let fd = root.open_path(&self.dest, libc::O_PATH)?;
        let before = safe_open::mount_id(&self.fd);
        let after = safe_open::mount_id(&fd);
        if before.is_some() && before == after {
            return Err(Error::Raced(self.dest.display().to_string()));
        }
        Ok(Self::from_fd(fd, &self.dest))
    }
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
    /// /proc/self/mountinfo as the runtime read it before init's mount
    /// namespace was copied from its own; None where init joined another
    pub host_mountinfo: Option<&'a str>,
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
/// mounts and /dev. Returns the rootfs held open for later lookups.
pub fn prepare(ctx: &Context) -> Result<Root, Error> {
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
    // after a recursive change to private or slave no mount is shared any
    // more; otherwise the rootfs' parent may be, which pivot_root refuses
    if !prop.contains(MsFlags::MS_REC) || prop.contains(MsFlags::MS_SHARED) {
        make_parent_mount_private(ctx.rootfs)?;
    }
    mount(
        Some(ctx.rootfs),
        ctx.rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys("bind mount rootfs", ctx.rootfs))?;
    // opened after the bind, so lookups start on the container's own mount
    let root = Root::open(ctx.rootfs)?;

    let mounts = ctx.spec.mounts().clone().unwrap_or_default();
    for m in &mounts {
        mount_one(ctx, &root, m)?;
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
        create_devices(
            ctx,
            &root,
            linux.devices().as_deref().unwrap_or(&[]),
            devpts,
        )?;
    }
    Ok(root)
}

/// pivot_root refuses a new root whose parent mount is shared.
fn make_parent_mount_private(rootfs: &Path) -> Result<(), Error> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let parent = rootfs.parent().unwrap_or(Path::new("/"));
    let mut best: Option<(std::borrow::Cow<'_, str>, bool)> = None;
    for m in berth_mountinfo::parse(&info) {
        let mp = m.mount_point.clone();
        if parent.starts_with(mp.as_ref()) && best.as_ref().is_none_or(|(b, _)| mp.len() >= b.len())
        {
            best = Some((mp, m.is_shared()));
        }
    }
    if let Some((mp, true)) = best {
        let mp = mp.as_ref();
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

/// /proc files a non-procfs mount may cover (what lxcfs provides), as in runc.
const PROC_OVERMOUNT_ALLOWED: &[&str] = &[
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
fn check_proc_mount(typ: &str, inside: &Path, dest: &Path) -> Result<(), Error> {
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

fn mount_one(ctx: &Context, root: &Root, m: &Mount) -> Result<(), Error> {
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

fn is_id_option(o: &str) -> bool {
    o.starts_with("gid=") || o.starts_with("uid=")
}

fn has_id_option(opts: &MountOptions) -> bool {
    opts.data.iter().any(|o| is_id_option(o))
}

fn without_id_options(opts: &MountOptions) -> String {
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
fn bind_source_is_procfs(m: &Mount, bundle: &Path) -> bool {
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
fn plain_dir(root: &Root, typ: &str, dest: &Path) -> Result<Target, Error> {
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

fn finish_mount(target: &Target, opts: &MountOptions) -> Result<(), Error> {
    apply_propagation(target, opts)?;
    if opts.recursive_set != 0 || opts.recursive_clear != 0 {
        set_recursive_attrs(target, opts.recursive_set, opts.recursive_clear)?;
    }
    Ok(())
}

/// Binds `src` (a host path) onto `target`; returns the new mount.
fn bind(root: &Root, src: &Path, target: &Target, opts: &MountOptions) -> Result<Target, Error> {
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

fn apply_propagation(target: &Target, opts: &MountOptions) -> Result<(), Error> {
    for p in &opts.propagation {
        mount(None::<&str>, &target.path, None::<&str>, *p, None::<&str>)
            .map_err(sys("set propagation of", &target.dest))?;
    }
    Ok(())
}

fn set_recursive_attrs(target: &Target, set: u64, clear: u64) -> Result<(), Error> {
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

/// The cgroup filesystem inside the container: cgroup2 on a v2 host, a
/// tmpfs of per-hierarchy mounts on a v1 or hybrid one.
fn mount_cgroup(ctx: &Context, root: &Root, dest: &Path, opts: &MountOptions) -> Result<(), Error> {
    let ro = opts.flags.contains(MsFlags::MS_RDONLY);
    let base = opts.flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    let hosts = host_cgroup_mounts(ctx.host_mountinfo);
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let only_v2 =
        hosts.len() == 1 && hosts[0].fstype == "cgroup2" && hosts[0].mountpoint == "/sys/fs/cgroup";
    if only_v2 {
        let mounted = mount_hierarchy(ctx, root, &hosts[0], dest, base, &own)?;
        if ro {
            bind_remount(&mounted.path, base | MsFlags::MS_RDONLY)?;
        }
        return Ok(());
    }
    let target = Target::dir(root, dest)?;
    mount(
        Some("cgroup"),
        &target.path,
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )
    .map_err(sys("mount tmpfs for cgroups on", dest))?;
    let tmpfs = target.mounted(root)?;
    for h in &hosts {
        let Some(name) = Path::new(&h.mountpoint).file_name() else {
            continue;
        };
        if !h.mountpoint.starts_with("/sys/fs/cgroup/") {
            continue;
        }
        let sub = dest.join(name);
        let mounted = mount_hierarchy(ctx, root, h, &sub, base, &own)?;
        if ro {
            bind_remount(&mounted.path, base | MsFlags::MS_RDONLY)?;
        }
        // "cpu,cpuacct" is also reachable as "cpu" and "cpuacct"
        let name = name.to_string_lossy();
        if name.contains(',') {
            for alias in name.split(',') {
                symlink_at(&tmpfs.fd, &name, alias, &dest.join(alias))?;
            }
        }
    }
    if ro {
        mount(
            None::<&str>,
            &tmpfs.path,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | base,
            Some("mode=755"),
        )
        .map_err(sys("remount read-only", dest))?;
    }
    Ok(())
}

/// symlinkat(`target`, `dir`, `name`) unless `name` exists.
fn symlink_at(dir: &OwnedFd, target: &str, name: &str, shown: &Path) -> Result<(), Error> {
    match nix::unistd::symlinkat(target, Some(dir.as_raw_fd()), name) {
        Ok(()) | Err(nix::Error::EEXIST) => Ok(()),
        Err(e) => Err(sys("symlink", shown)(e)),
    }
}

#[derive(Debug)]
struct HostCgroupMount {
    mountpoint: String,
    root: String,
    fstype: String,
    options: String,
}

/// The host's cgroup mounts, from `mountinfo` when the runtime read it
/// already, else from our own.
fn host_cgroup_mounts(mountinfo: Option<&str>) -> Vec<HostCgroupMount> {
    let read;
    let info = match mountinfo {
        Some(info) => info,
        None => {
            read = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            &read
        }
    };
    let mut out = Vec::new();
    // hierarchies hidden under a later mount (a tmpfs over /sys/fs/cgroup)
    // are not the host's current layout
    for line in berth_cgroups::visible_cgroup_lines(info) {
        let Some(m) = berth_mountinfo::parse_line(line) else {
            continue;
        };
        if m.fstype != "cgroup" && m.fstype != "cgroup2" {
            continue;
        }
        let options = m
            .super_options
            .split(',')
            .filter(|o| *o != "rw" && *o != "ro")
            .collect::<Vec<_>>()
            .join(",");
        out.push(HostCgroupMount {
            mountpoint: m.mount_point.into_owned(),
            root: m.root.into_owned(),
            fstype: m.fstype.to_string(),
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
    root: &Root,
    h: &HostCgroupMount,
    dest: &Path,
    flags: MsFlags,
    own_cgroup: &str,
) -> Result<Target, Error> {
    let target = Target::dir(root, dest)?;
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
            return target.mounted(root);
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
    .map_err(sys("bind mount cgroup", dest))?;
    target.mounted(root)
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

fn create_devices(
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
fn create_device(
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
fn chown_empty_path(fd: &OwnedFd, uid: u32, gid: u32) -> nix::Result<()> {
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
            let p = crate::plan::sysctl_path(k);
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
fn open_protected(root: &Root, path: &Path) -> Result<Option<OwnedFd>, Error> {
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
fn dev_null(root: &Root) -> Result<OwnedFd, Error> {
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

/// After pivot_root: a read-only root and the root's propagation.
pub fn finish(spec: &Spec) -> Result<(), Error> {
    let linux = spec.linux().clone().unwrap_or_default();
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
