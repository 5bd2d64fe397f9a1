//! The container's filesystem view, built inside its new mount namespace,
//! in the order `init` calls it: [`prepare`] (the parent mount made private,
//! the spec's mounts in `mounts`, the cgroup mount in `cgroup`, `/dev` in
//! `devices`), [`protect`] (masked and read-only paths, `protect`),
//! [`enter`] (pivot_root, `pivot`), [`finish`] (the root's propagation).
//! Paths inside the rootfs are resolved by `safe_open`.

use berth_mount_options::MountOptions;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{chdir, fchdir, pivot_root};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::safe_open::{self, resolve_in_root, Root};

mod cgroup;
mod devices;
mod mounts;
mod pivot;
mod protect;

#[allow(unused_imports)]
use self::{cgroup::*, devices::*, mounts::*};
pub use devices::{bind_console, open_ptmx};
pub(crate) use mounts::mount_setattr_recursive;
pub use pivot::enter;
pub use protect::protect;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Resolve(#[from] safe_open::ResolveError),
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
    /// the cgroup hierarchies as the runtime found them before init's mount
    /// namespace was copied from its own; None where init joined another
    pub host_cgroups: Option<&'a berth_cgroups::Hierarchies>,
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
