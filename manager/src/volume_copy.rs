//! Copy-up: a new container that mounts an empty volume over a directory of
//! its image gets that directory's content (files, links, devices,
//! ownership, modes, times) copied into the volume first, as docker does.
//! Only an empty volume is filled, so a volume's own data is never touched.
//!
//! The image is read from its layers (an overlay of the lower dirs mounted
//! read-only under the state dir, or the one layer itself), the destination
//! is resolved inside that root by the kernel (`openat2` with
//! `RESOLVE_IN_ROOT`), so an image's symlink cannot make berth copy host
//! files. A volume no other container uses is filled in a side directory
//! and swapped in whole (`RENAME_EXCHANGE`), so a crash leaves it empty or
//! full, never half-copied.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag};
use nix::sys::time::TimeSpec;

use crate::error::{ManagerError, Result};
use crate::manager::Manager;
use crate::record::MountRecord;
use crate::volume::volume_mounts_in_spec;

/// The kernel's `struct open_how` (libc's is non-exhaustive).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Opens `path` as a directory inside `root`, symlinks resolved as if
/// `root` were `/`; `None` if it does not exist or is no directory.
fn open_in_root(root: &Path, path: &str) -> io::Result<Option<OwnedFd>> {
    let root_fd = fs::File::open(root)?;
    let rel = CString::new(path.trim_start_matches('/'))
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let rel = if rel.as_bytes().is_empty() {
        CString::new(".").expect("no NUL")
    } else {
        rel
    };
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: openat2 reads `rel` (a NUL-terminated string) and `how` (a
    // valid open_how of the size passed); it returns a new fd or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root_fd.as_raw_fd(),
            rel.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => Ok(None),
            _ => Err(e),
        };
    }
    // SAFETY: the syscall just returned this fd; nothing else owns it.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
}

/// Owner, mode and times of `md` onto `path` (not following a symlink).
fn copy_meta(path: &Path, md: &fs::Metadata) -> io::Result<()> {
    nix::unistd::fchownat(
        None,
        path,
        Some(nix::unistd::Uid::from_raw(md.uid())),
        Some(nix::unistd::Gid::from_raw(md.gid())),
        nix::unistd::FchownatFlags::NoFollowSymlink,
    )?;
    if !md.file_type().is_symlink() {
        // after chown, which clears set-id bits
        fs::set_permissions(path, fs::Permissions::from_mode(md.mode() & 0o7777))?;
    }
    nix::sys::stat::utimensat(
        None,
        path,
        &TimeSpec::new(md.atime(), md.atime_nsec()),
        &TimeSpec::new(md.mtime(), md.mtime_nsec()),
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )?;
    Ok(())
}

/// Copies the children of `src` into `dst` (which exists), keeping hard
/// links within the tree.
pub fn copy_tree(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let (s, d) = (entry.path(), dst.join(entry.file_name()));
        let md = s.symlink_metadata()?;
        let ft = md.file_type();
        if ft.is_dir() {
            fs::create_dir(&d)?;
            copy_tree(&s, &d, links)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&s)?, &d)?;
        } else if ft.is_file() {
            if md.nlink() > 1 {
                if let Some(first) = links.get(&(md.dev(), md.ino())) {
                    fs::hard_link(first, &d)?;
                    continue;
                }
                links.insert((md.dev(), md.ino()), d.clone());
            }
            let mut r = fs::File::open(&s)?;
            let mut w = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&d)?;
            io::copy(&mut r, &mut w)?;
        } else {
            let kind = SFlag::from_bits_truncate(md.mode() & libc::S_IFMT);
            if kind != SFlag::S_IFCHR && kind != SFlag::S_IFBLK && kind != SFlag::S_IFIFO {
                // sockets mean nothing in a copy
                continue;
            }
            nix::sys::stat::mknod(&d, kind, Mode::from_bits_truncate(0o600), md.rdev())?;
        }
        copy_meta(&d, &md)?;
    }
    Ok(())
}

fn is_empty_dir(path: &Path) -> bool {
    fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
}

fn syncfs(path: &Path) {
    if let Ok(d) = fs::File::open(path) {
        // SAFETY: syncfs on an open fd has no memory-safety preconditions.
        unsafe { libc::syncfs(d.as_raw_fd()) };
    }
}

/// The spec annotation listing (as a JSON array) the destinations whose
/// volumes get no copy-up (`-v NAME:/path:nocopy`).
pub const NOCOPY_ANNOTATION: &str = "berth.volumes.nocopy";

fn nocopy_destinations(spec_json: &str) -> Vec<String> {
    let spec: serde_json::Value = serde_json::from_str(spec_json).unwrap_or_default();
    spec.pointer(&format!(
        "/annotations/{}",
        NOCOPY_ANNOTATION.replace('/', "~1")
    ))
    .and_then(|v| v.as_str())
    .and_then(|s| serde_json::from_str(s).ok())
    .unwrap_or_default()
}

/// The lower dirs of a container's overlay rootfs, top first.
fn lower_dirs(rootfs: &[MountRecord]) -> Vec<String> {
    rootfs
        .iter()
        .flat_map(|m| m.options.iter())
        .filter_map(|o| o.strip_prefix("lowerdir="))
        .flat_map(|l| l.split(':'))
        .map(str::to_string)
        .collect()
}

/// The image's filesystem as one read-only tree for the copies.
struct ImageView {
    root: PathBuf,
    mounted: bool,
}

impl ImageView {
    fn open(lowers: &[String], at: &Path) -> Result<ImageView> {
        if let [one] = lowers {
            return Ok(ImageView {
                root: PathBuf::from(one),
                mounted: false,
            });
        }
        crate::bundle::make_dir(at, 0o700)?;
        nix::mount::mount(
            Some("overlay"),
            at,
            Some("overlay"),
            nix::mount::MsFlags::MS_RDONLY,
            Some(format!("lowerdir={}", lowers.join(":")).as_str()),
        )
        .map_err(|e| {
            ManagerError::Internal(format!("mount image view at {}: {e}", at.display()))
        })?;
        Ok(ImageView {
            root: at.to_path_buf(),
            mounted: true,
        })
    }
}

impl Drop for ImageView {
    fn drop(&mut self) {
        if self.mounted {
            crate::bundle::unmount_all(&self.root);
            let _ = fs::remove_dir(&self.root);
        }
    }
}

/// Fills one empty volume from `src` (a directory of the image view).
fn fill_volume(src: &Path, data: &Path, exclusive: bool) -> io::Result<()> {
    let md = src.symlink_metadata()?;
    if !exclusive {
        copy_tree(src, data, &mut HashMap::new())?;
        copy_meta(data, &md)?;
        syncfs(data);
        return Ok(());
    }
    let side = data.with_file_name("_copyup");
    match fs::remove_dir_all(&side) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    fs::create_dir(&side)?;
    copy_tree(src, &side, &mut HashMap::new())?;
    copy_meta(&side, &md)?;
    syncfs(&side);
    nix::fcntl::renameat2(
        None,
        &side,
        None,
        data,
        nix::fcntl::RenameFlags::RENAME_EXCHANGE,
    )?;
    fs::remove_dir(&side)
}

impl Manager {
    /// Copy-up for every volume a new container's spec mounts: runs while
    /// the container is being created, before it has a rootfs recorded, so
    /// a crash here makes recovery drop the container.
    pub async fn copy_up_volumes(
        &self,
        id: &str,
        spec_json: &str,
        rootfs: &[MountRecord],
    ) -> Result<()> {
        self.check_volumes_exist(spec_json).await?;
        let nocopy = nocopy_destinations(spec_json);
        let wanted: Vec<(String, String)> = volume_mounts_in_spec(&self.volumes_root(), spec_json)
            .into_iter()
            .filter(|(name, dest)| !nocopy.contains(dest) && is_empty_dir(&self.volume_data(name)))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let lowers = lower_dirs(rootfs);
        if lowers.is_empty() {
            return Ok(());
        }
        let users = self.store.list()?;
        let jobs: Vec<(String, PathBuf, String, bool)> = wanted
            .into_iter()
            .map(|(name, dest)| {
                let data = self.volume_data(&name);
                let mounted_device = self.get_volume(&name).is_ok_and(|v| !v.options.is_empty());
                let shared = users.iter().any(|r| {
                    r.id != id
                        && volume_mounts_in_spec(&self.volumes_root(), &r.spec_json)
                            .iter()
                            .any(|(n, _)| *n == name)
                });
                (name, data, dest, !shared && !mounted_device)
            })
            .collect();
        let at = self.cfg.state.join("copyup").join(id);
        tokio::task::spawn_blocking(move || -> Result<()> {
            let view = ImageView::open(&lowers, &at)?;
            for (name, data, dest, exclusive) in jobs {
                let fd = open_in_root(&view.root, &dest).map_err(|e| {
                    ManagerError::Internal(format!(
                        "copy-up of volume {name}: open {dest} in the image: {e}"
                    ))
                })?;
                let Some(fd) = fd else { continue };
                let src =
                    fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(|e| {
                        ManagerError::Internal(format!("copy-up of volume {name}: {e}"))
                    })?;
                if !src.starts_with(&view.root) || !is_empty_dir(&data) {
                    continue;
                }
                fill_volume(&src, &data, exclusive).map_err(|e| {
                    ManagerError::Internal(format!("copy-up of {dest} into volume {name}: {e}"))
                })?;
            }
            Ok(())
        })
        .await
        .map_err(ManagerError::internal)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_keeps_modes_links_and_owners() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("sub/f"), b"hello").unwrap();
        fs::set_permissions(src.join("sub/f"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::hard_link(src.join("sub/f"), src.join("g")).unwrap();
        std::os::unix::fs::symlink("sub/f", src.join("l")).unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o750)).unwrap();
        fs::create_dir(&dst).unwrap();
        fill_volume(&src, &dst, true).unwrap();
        assert_eq!(fs::read(dst.join("sub/f")).unwrap(), b"hello");
        let f = dst.join("sub/f").metadata().unwrap();
        assert_eq!(f.mode() & 0o7777, 0o640);
        assert_eq!(f.ino(), dst.join("g").metadata().unwrap().ino());
        assert_eq!(fs::read_link(dst.join("l")).unwrap(), Path::new("sub/f"));
        assert_eq!(dst.metadata().unwrap().mode() & 0o7777, 0o750);
        assert!(!dir.path().join("_copyup").exists());
    }

    #[test]
    fn destination_resolves_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("real")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("up")).unwrap();
        let at = |p: &str| {
            open_in_root(&root, p)
                .unwrap()
                .map(|fd| fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap())
        };
        assert_eq!(at("/real").unwrap(), root.join("real"));
        // /etc inside the root does not exist: the host's is never reached
        assert!(at("/escape").is_none());
        assert_eq!(at("/up").unwrap(), root);
        assert!(at("/missing").is_none());
    }

    #[test]
    fn nocopy_comes_from_the_annotation() {
        let spec = serde_json::json!({"annotations": {NOCOPY_ANNOTATION: r#"["/a","/b"]"#}});
        assert_eq!(nocopy_destinations(&spec.to_string()), ["/a", "/b"]);
        assert!(nocopy_destinations("{}").is_empty());
    }

    #[test]
    fn lowers_come_from_the_overlay_options() {
        let m = MountRecord {
            kind: "overlay".into(),
            source: "overlay".into(),
            target: String::new(),
            options: vec!["lowerdir=/a:/b".into(), "upperdir=/u".into()],
        };
        assert_eq!(lower_dirs(&[m]), ["/a", "/b"]);
    }
}
