//! A container's filesystem as `cp` and `export` see it. A running (or
//! paused) container's is its init's root, `/proc/PID/root`: its rootfs
//! with every mount it has (volumes, binds), as docker copies. A stopped
//! container's is its snapshot mounted read-write (as the manager recorded
//! it) in this process's own mount namespace, with its volumes and binds
//! on top, so the mounts vanish with the process whatever happens.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use berth_proto::manager::ContainerInfo;

use super::tree::Root;
use crate::error::CliError;

/// A container's root, kept mounted while this lives.
pub struct ContainerRoot {
    pub root: Root,
    mounted: Option<(tempfile::TempDir, Vec<PathBuf>)>,
    /// The container's hold ([`berth_proto::hold`]) while its snapshot is
    /// mounted here: dropped after the unmounts, so a start waits for them.
    hold: Option<std::fs::File>,
}

impl Drop for ContainerRoot {
    fn drop(&mut self) {
        if let Some((_, mounts)) = &self.mounted {
            for m in mounts.iter().rev() {
                unmount(m);
            }
        }
    }
}

fn unmount(p: &Path) {
    if let Ok(c) = CString::new(p.as_os_str().as_encoded_bytes()) {
        // SAFETY: a valid NUL-terminated path; umount2 only reads it.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// [`open`] for `cp`, with the container's mounts: a stopped container is
/// held first ([`berth_proto::hold`]), so no start runs on its snapshot
/// while the copy does, and looked at again, as a start may have come
/// between the caller's look and the hold.
pub async fn open_held(m: &crate::client::Manager, name: &str) -> Result<ContainerRoot, CliError> {
    let c = crate::commands::container::resolve(m, name).await?;
    if is_running(&c) {
        return open(&c, true);
    }
    let bundle = PathBuf::from(&c.bundle);
    let hold = berth_proto::hold::hold(&bundle)
        .map_err(|e| CliError::io(format!("hold container {} for the copy", c.name), e))?;
    let c = crate::commands::container::resolve(m, &c.id).await?;
    let mut view = open(&c, true)?;
    if !is_running(&c) {
        view.hold = Some(hold);
    }
    Ok(view)
}

fn is_running(c: &ContainerInfo) -> bool {
    c.pid > 0 && (c.status == "running" || c.status == "paused")
}

/// Which mounts of the container `with_mounts` adds (`export` takes the
/// container's own filesystem only, `cp` its volumes and binds too).
pub fn open(c: &ContainerInfo, with_mounts: bool) -> Result<ContainerRoot, CliError> {
    let io = |what: String| move |e| CliError::io(what, e);
    if is_running(c) && with_mounts {
        let p = PathBuf::from(format!("/proc/{}/root", c.pid));
        let root = Root::open(&p).map_err(io(format!("open the root of {}", c.name)))?;
        return Ok(ContainerRoot {
            root,
            mounted: None,
            hold: None,
        });
    }
    crate::commands::build::private_mounts()?;
    let dir = tempfile::Builder::new()
        .prefix("berth-cp-")
        .tempdir()
        .map_err(io("make a mount point".into()))?;
    let line = c
        .rootfs_mounts
        .first()
        .ok_or_else(|| CliError::Invalid(format!("container {} has no filesystem", c.name)))?;
    let (kind, opts) = overlay_of(line).ok_or_else(|| {
        CliError::Invalid(format!(
            "container {}: cannot read its rootfs mount ({line})",
            c.name
        ))
    })?;
    // export reads the snapshot only: its upper layer mounted as one more
    // lower one, read-only, so a running container's own mount is never
    // shared; cp writes, into a stopped container's snapshot
    let (flags, data) = if with_mounts {
        (0, opts.to_string())
    } else {
        (libc::MS_RDONLY, read_only(opts))
    };
    mount(kind, dir.path(), kind, flags, Some(&data))
        .map_err(io(format!("mount the filesystem of {}", c.name)))?;
    let mut mounts = vec![dir.path().to_path_buf()];
    let root = Root::open(dir.path()).map_err(io("open the mounted root".into()));
    let mut view = ContainerRoot {
        root: root?,
        mounted: None,
        hold: None,
    };
    if with_mounts {
        let spec: serde_json::Value = serde_json::from_str(&c.spec_json).unwrap_or_default();
        for m in spec["mounts"].as_array().into_iter().flatten() {
            let is_bind = m["type"] == "bind"
                || m["options"]
                    .as_array()
                    .is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind"));
            let (Some(src), Some(dst)) = (m["source"].as_str(), m["destination"].as_str()) else {
                continue;
            };
            if !is_bind || !Path::new(src).exists() {
                continue;
            }
            // the mount point must be in the rootfs already (a container
            // never started may lack it: the runtime makes it at start)
            let Ok(at) = view.root.resolve(Path::new(dst), true) else {
                continue;
            };
            let target = PathBuf::from(format!("/proc/self/fd/{}", at.as_raw_fd()));
            if mount(src, &target, "", libc::MS_BIND | libc::MS_REC, None).is_ok() {
                mounts.push(dir.path().join(dst.trim_start_matches('/')));
            }
        }
    }
    view.mounted = Some((dir, mounts));
    Ok(view)
}

/// `overlay` and its options from a `rootfs_mounts` line:
/// `overlay overlay on / (lowerdir=…,upperdir=…,workdir=…)`.
fn overlay_of(described: &str) -> Option<(&str, &str)> {
    let kind = described.split(' ').next()?;
    let opts = described.rsplit_once('(')?.1.strip_suffix(')')?;
    (kind == "overlay").then_some((kind, opts))
}

/// `lowerdir=UPPER:LOWER…` from an overlay's read-write options.
fn read_only(opts: &str) -> String {
    let get = |k: &str| {
        opts.split(',')
            .find_map(|o| o.strip_prefix(k))
            .unwrap_or_default()
    };
    let (upper, lower) = (get("upperdir="), get("lowerdir="));
    match (upper.is_empty(), lower.is_empty()) {
        (true, _) => format!("lowerdir={lower}"),
        (false, true) => format!("lowerdir={upper}"),
        (false, false) => format!("lowerdir={upper}:{lower}"),
    }
}

fn mount(
    src: &str,
    target: &Path,
    fstype: &str,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> std::io::Result<()> {
    let inval = |_| std::io::Error::from_raw_os_error(libc::EINVAL);
    let src = CString::new(src).map_err(inval)?;
    let tgt = CString::new(target.as_os_str().as_encoded_bytes()).map_err(inval)?;
    let fstype = CString::new(fstype).map_err(inval)?;
    let data = data.map(CString::new).transpose().map_err(inval)?;
    // SAFETY: every pointer is a valid NUL-terminated string (or null for
    // no data) that outlives the call.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            tgt.as_ptr(),
            if fstype.is_empty() {
                std::ptr::null()
            } else {
                fstype.as_ptr()
            },
            flags,
            data.as_ref()
                .map_or(std::ptr::null(), |d| d.as_ptr().cast()),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_options_come_from_the_described_mount() {
        assert_eq!(
            overlay_of("overlay overlay on / (lowerdir=/a:/b,upperdir=/u,workdir=/w)"),
            Some(("overlay", "lowerdir=/a:/b,upperdir=/u,workdir=/w"))
        );
        assert_eq!(overlay_of("bind /x on / (rbind)"), None);
        assert_eq!(
            read_only("lowerdir=/a:/b,upperdir=/u,workdir=/w"),
            "lowerdir=/u:/a:/b"
        );
    }
}
