//! A container's disk use as docker reports it (`ps -s`, `{{.Size}}`, the
//! API's `/containers/json?size=1`): `SizeRw`, the bytes in its writable
//! layer (the snapshot's upper dir), and `SizeRootFs`, those plus its
//! image's. Walking a layer costs a directory walk, so it is done only
//! when asked for, once per container, and one image list serves all.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_proto::manager::{ContainerInfo, ListImagesRequest};

use crate::client::Manager;
use crate::error::CliError;
use crate::format::human_size;

/// One container's sizes, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sizes {
    pub rw: u64,
    pub root_fs: u64,
}

impl Sizes {
    /// docker's SIZE cell: `6B (virtual 1.98MB)`.
    pub fn cell(&self) -> String {
        if self.root_fs > 0 {
            format!(
                "{} (virtual {})",
                human_size(self.rw),
                human_size(self.root_fs)
            )
        } else {
            human_size(self.rw)
        }
    }
}

/// The writable layer of a container: `upperdir=` of its rootfs mount.
fn upper_dir(c: &ContainerInfo) -> Option<PathBuf> {
    let line = c.rootfs_mounts.first()?;
    let (_, opts) = line.rsplit_once('(')?;
    opts.trim_end_matches(')')
        .split(',')
        .find_map(|o| o.strip_prefix("upperdir="))
        .map(PathBuf::from)
}

/// Bytes under `dir` as docker counts them: every non-directory's size
/// (symlinks their own), a hard-linked inode once.
pub fn tree_size(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                todo.push(e.path());
            } else if md.len() > 0 && seen.insert((md.dev(), md.ino())) {
                total += md.len();
            }
        }
    }
    total
}

/// The sizes of `containers`, by id; a container whose layer cannot be
/// read counts zero bytes of its own.
pub async fn of_containers(
    m: &Manager,
    containers: &[ContainerInfo],
) -> Result<HashMap<String, Sizes>, CliError> {
    if containers.is_empty() {
        return Ok(HashMap::new());
    }
    let images: HashMap<String, u64> = m
        .images
        .list_images(m.ctx(), &ListImagesRequest::new())
        .await
        .map_err(|e| m.err(e))?
        .images
        .into_iter()
        .map(|i| (i.id, i.size))
        .collect();
    Ok(containers
        .iter()
        .map(|c| {
            let rw = upper_dir(c).map_or(0, |d| tree_size(&d));
            let image = images.get(&c.image_id).copied().unwrap_or(0);
            (
                c.id.clone(),
                Sizes {
                    rw,
                    root_fs: rw + image,
                },
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_as_docker_shows_it() {
        let s = Sizes {
            rw: 6,
            root_fs: 1_984_006,
        };
        assert_eq!(s.cell(), "6B (virtual 1.98MB)");
        assert_eq!(Sizes::default().cell(), "0B");
    }

    #[test]
    fn tree_counts_files_and_links_once() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), b"hello\n").unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/b"), b"1234").unwrap();
        std::fs::hard_link(d.path().join("a"), d.path().join("sub/a2")).unwrap();
        std::os::unix::fs::symlink("a", d.path().join("l")).unwrap();
        assert_eq!(tree_size(d.path()), 6 + 4 + 1);
    }

    #[test]
    fn upper_dir_from_the_mount_line() {
        let c = ContainerInfo {
            rootfs_mounts: vec![
                "overlay overlay on / (lowerdir=/l1:/l2,upperdir=/s/fs,workdir=/s/work)".into(),
            ],
            ..Default::default()
        };
        assert_eq!(upper_dir(&c), Some(PathBuf::from("/s/fs")));
    }
}
