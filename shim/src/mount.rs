//! The task's rootfs mounts, from the Create request, in the bundle's
//! `rootfs` directory; options are parsed as mount(8) (and containerd) do.

use std::io;
use std::path::{Path, PathBuf};

use berth_mount_options::{EmptyOption, MountOptions};
use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// A mount that could not be made or undone.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// mount(2) failed.
    #[error("mount {kind} {source_path} on {target}: {error}")]
    Mount {
        /// The filesystem type.
        kind: String,
        /// The mount source.
        source_path: String,
        /// The mountpoint.
        target: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// The request's option list is malformed.
    #[error("mount options of {kind} mount: {error}")]
    Options {
        /// The filesystem type.
        kind: String,
        /// What is wrong.
        error: EmptyOption,
    },
    /// umount2(2) failed.
    #[error("unmount {target}: {error}")]
    Unmount {
        /// The mountpoint.
        target: PathBuf,
        /// Why.
        error: io::Error,
    },
}

/// One entry of the request's rootfs list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Filesystem type (`overlay`, `bind`, ...).
    pub kind: String,
    /// Source.
    pub source: String,
    /// Options (`ro`, `rbind`, `lowerdir=...`).
    pub options: Vec<String>,
}

/// Flags, propagation and data from mount options (`berth_mount_options`,
/// the runtime's reading too); the propagation changes of the list are made
/// in one mount(2) call, as containerd's `parseMountOptions` does.
fn parse_options(options: &[String]) -> Result<(MsFlags, MsFlags, String), EmptyOption> {
    let o = MountOptions::parse(options)?;
    let propagation = o.propagation.iter().fold(MsFlags::empty(), |a, p| a | *p);
    Ok((o.flags, propagation, o.data_string()))
}

impl MountSpec {
    /// Mounts this on `target`.
    pub fn mount(&self, target: &Path) -> Result<(), MountError> {
        let (mut flags, propagation, data) =
            parse_options(&self.options).map_err(|error| MountError::Options {
                kind: self.kind.clone(),
                error,
            })?;
        let err = |error: nix::Error| MountError::Mount {
            kind: self.kind.clone(),
            source_path: self.source.clone(),
            target: target.to_path_buf(),
            error: error.into(),
        };
        if self.kind == "bind" || self.kind == "rbind" {
            flags |= MsFlags::MS_BIND;
            if self.kind == "rbind" {
                flags |= MsFlags::MS_REC;
            }
        }
        let bind = flags.contains(MsFlags::MS_BIND);
        // A bind mount ignores MS_RDONLY: it takes a remount to apply it.
        let first = if bind {
            flags & !MsFlags::MS_RDONLY
        } else {
            flags
        };
        let fstype = if bind { None } else { Some(self.kind.as_str()) };
        let data = (!data.is_empty()).then_some(data.as_str());
        mount(Some(self.source.as_str()), target, fstype, first, data).map_err(err)?;
        let undo = |e| {
            let _ = umount2(target, MntFlags::MNT_DETACH);
            e
        };
        if bind && flags.contains(MsFlags::MS_RDONLY) {
            let remount = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags;
            mount(None::<&str>, target, None::<&str>, remount, None::<&str>)
                .map_err(err)
                .map_err(undo)?;
        }
        if !propagation.is_empty() {
            mount(
                None::<&str>,
                target,
                None::<&str>,
                propagation,
                None::<&str>,
            )
            .map_err(err)
            .map_err(undo)?;
        }
        Ok(())
    }
}

/// Unmounts everything stacked on `target` (mounts the task's request made
/// there, one per entry).
pub fn unmount_all(target: &Path) -> Result<(), MountError> {
    loop {
        match umount2(target, MntFlags::empty()) {
            Ok(()) => continue,
            // Not a mountpoint (any more), or gone.
            Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => return Ok(()),
            Err(nix::Error::EBUSY) => {
                return umount2(target, MntFlags::MNT_DETACH).map_err(|e| MountError::Unmount {
                    target: target.to_path_buf(),
                    error: e.into(),
                })
            }
            Err(e) => {
                return Err(MountError::Unmount {
                    target: target.to_path_buf(),
                    error: e.into(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(o: &[&str]) -> Vec<String> {
        o.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn overlay_options_become_data() {
        let (flags, prop, data) = parse_options(&opts(&[
            "index=off",
            "lowerdir=/a:/b",
            "upperdir=/u",
            "workdir=/w",
        ]))
        .unwrap();
        assert!(flags.is_empty() && prop.is_empty());
        assert_eq!(data, "index=off,lowerdir=/a:/b,upperdir=/u,workdir=/w");
    }

    #[test]
    fn flags_set_and_clear_in_order() {
        let (flags, prop, data) =
            parse_options(&opts(&["rbind", "ro", "nosuid", "rw", "rslave"])).unwrap();
        assert_eq!(
            flags,
            MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_NOSUID
        );
        assert_eq!(prop, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        assert_eq!(data, "");
    }
}
