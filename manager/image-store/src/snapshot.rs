//! Snapshots: each layer unpacked once into `snapshots/<n>/fs` (keyed by
//! chain id, so images sharing a base share its directories), and per
//! container an upper and a work dir under `snapshots/containers/<key>/`,
//! stacked with overlayfs.

use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::content::sync_dir;
use crate::digest::{chain_ids, Digest};
use crate::meta::{ContainerRecord, ImageRecord, LayerRecord};
use crate::progress::{Progress, ProgressAction};
use crate::types::{Mount, RootfsMounts, SnapshotInfo};
use crate::unpack::unpack_layer;
use crate::{Error, ImageStore, Lease};

const CONTAINERS_DIR: &str = "containers";
const EMPTY_DIR: &str = "empty";
const TMP_PREFIX: &str = ".tmp-";

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("invalid snapshot key {0:?}: want 1-128 of [A-Za-z0-9_.-], not starting with '.'")]
    BadKey(String),
    #[error("no such container snapshot: {0}")]
    NotFound(String),
    #[error("container snapshot {0:?} already exists")]
    Exists(String),
    #[error("layer {chain} of image {image} is missing its unpacked directory")]
    LayerMissing { image: Digest, chain: Digest },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("overlay mount on {target}: {source}")]
    Mount { target: PathBuf, source: nix::Error },
}

fn io_at<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SnapshotError + 'a {
    move |source| SnapshotError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 128
        && !key.starts_with('.')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

impl ImageStore {
    /// Makes a container snapshot `key` of `image`: its layers (unpacked
    /// now if they aren't yet) as overlay lower dirs under a fresh upper.
    pub fn prepare(&self, key: &str, image: &str) -> Result<RootfsMounts, Error> {
        if !valid_key(key) {
            return Err(SnapshotError::BadKey(key.to_string()).into());
        }
        let r = self.resolve(image)?;
        if self.meta.container(key)?.is_some() {
            return Err(SnapshotError::Exists(key.to_string()).into());
        }
        let mut lease = Lease::new(self);
        self.ensure_layers(&r.rec, &mut lease, &mut |_| {})?;
        let containers = self.snapshots.join(CONTAINERS_DIR);
        let dir = containers.join(key);
        let tmp = containers.join(format!("{TMP_PREFIX}{key}"));
        let _ = fs::remove_dir_all(&tmp);
        let made = (|| {
            fs::create_dir_all(tmp.join("fs"))?;
            fs::create_dir_all(tmp.join("work"))?;
            fs::rename(&tmp, &dir)?;
            sync_dir(&containers)
        })();
        if let Err(e) = made {
            let _ = fs::remove_dir_all(&tmp);
            return Err(io_at("create container snapshot", &dir)(e).into());
        }
        let rec = ContainerRecord {
            image: r.rec.manifest.clone(),
            image_name: r.name.clone(),
            chain: chain_ids(&r.rec.diff_ids),
        };
        if let Err(e) = self.meta.insert_container(key, &rec) {
            let _ = fs::remove_dir_all(&dir);
            return Err(match e {
                crate::MetaError::ContainerExists(k) => SnapshotError::Exists(k).into(),
                e => e.into(),
            });
        }
        self.mounts(key)
    }

    /// The mounts of an existing container snapshot (e.g. after a restart).
    pub fn mounts(&self, key: &str) -> Result<RootfsMounts, Error> {
        let rec = self
            .meta
            .container(key)?
            .ok_or_else(|| SnapshotError::NotFound(key.to_string()))?;
        let mut lowers = Vec::with_capacity(rec.chain.len());
        for chain in rec.chain.iter().rev() {
            let layer = self
                .meta
                .layer(chain)?
                .ok_or_else(|| SnapshotError::LayerMissing {
                    image: rec.image.clone(),
                    chain: chain.clone(),
                })?;
            lowers.push(self.layer_dir(layer.id).join("fs").display().to_string());
        }
        if lowers.is_empty() {
            lowers.push(self.snapshots.join(EMPTY_DIR).display().to_string());
        }
        let dir = self.snapshots.join(CONTAINERS_DIR).join(key);
        Ok(RootfsMounts {
            mounts: vec![Mount {
                kind: "overlay".into(),
                source: "overlay".into(),
                target: String::new(),
                options: vec![
                    format!("lowerdir={}", lowers.join(":")),
                    format!("upperdir={}", dir.join("fs").display()),
                    format!("workdir={}", dir.join("work").display()),
                ],
            }],
        })
    }

    /// Deletes a container snapshot and its upper layer; layers no image
    /// needs any more go with it.
    pub fn remove_snapshot(&self, key: &str) -> Result<(), Error> {
        if !valid_key(key) {
            return Err(SnapshotError::BadKey(key.to_string()).into());
        }
        let dir = self.snapshots.join(CONTAINERS_DIR).join(key);
        let Some(rec) = self.meta.container(key)? else {
            // a removal whose record went first and whose files could not
            // (a busy mount): finished now, not left to the next open()
            return match fs::remove_dir_all(&dir) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    Err(SnapshotError::NotFound(key.to_string()).into())
                }
                Err(e) => Err(io_at("remove container snapshot", &dir)(e).into()),
            };
        };
        // Record first: a crash after it leaves a directory open() removes.
        if let Err(e) = self.meta.remove_container(key) {
            if !e.is_no_space() {
                return Err(e.into());
            }
            // A full disk cannot commit even a removal: the container's
            // upper layer is being thrown away anyway, so its files go
            // first to make the room (a crash meanwhile leaves a record of
            // an emptied snapshot, still removable).
            empty_dir(&dir.join("fs"));
            self.meta.remove_container(key)?;
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_at("remove container snapshot", &dir)(e).into()),
        }
        let only = rec.chain.iter().map(|d| d.to_string()).collect();
        self.collect(Some(&only))?;
        Ok(())
    }

    /// Keys of the container snapshots prepared from `image`.
    pub fn snapshot_in_use(&self, image: &str) -> Result<Vec<String>, Error> {
        let r = self.resolve(image)?;
        self.snapshot_in_use_digest(&r.rec.manifest)
    }

    pub(crate) fn snapshot_in_use_digest(&self, manifest: &Digest) -> Result<Vec<String>, Error> {
        Ok(self
            .meta
            .containers()?
            .into_iter()
            .filter(|(_, c)| &c.image == manifest)
            .map(|(k, _)| k)
            .collect())
    }

    /// Every container snapshot.
    pub fn snapshots(&self) -> Result<Vec<SnapshotInfo>, Error> {
        let base = self.snapshots.join(CONTAINERS_DIR);
        Ok(self
            .meta
            .containers()?
            .into_iter()
            .map(|(k, c)| SnapshotInfo {
                upper_dir: base.join(&k).join("fs"),
                work_dir: base.join(&k).join("work"),
                key: k,
                image: c.image,
                image_name: c.image_name,
            })
            .collect())
    }

    pub(crate) fn layer_dir(&self, id: u64) -> PathBuf {
        self.snapshots.join(id.to_string())
    }

    /// Removes an unpacked layer directory; returns roughly what it held.
    pub(crate) fn remove_layer_dir(&self, id: u64) -> u64 {
        let dir = self.layer_dir(id);
        let size = dir_size(&dir);
        let _ = fs::remove_dir_all(&dir);
        size
    }

    /// Unpacks every layer of `rec` not unpacked yet, bottom first, each
    /// into a temp dir renamed into place only when complete.
    pub(crate) fn ensure_layers(
        &self,
        rec: &ImageRecord,
        lease: &mut Lease<'_>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), Error> {
        let chains = chain_ids(&rec.diff_ids);
        for (i, chain) in chains.iter().enumerate() {
            lease.add(chain.as_str());
            let blob = &rec.layers[i];
            let _u = self.unpack_lock.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(l) = self.meta.layer(chain)? {
                if self.layer_dir(l.id).join("fs").is_dir() {
                    continue;
                }
            }
            let total = self.content.size(blob)?;
            progress(Progress::new(
                blob,
                ProgressAction::Extracting,
                0,
                Some(total),
            ));
            let id = self.meta.next_id()?;
            let tmp = self.snapshots.join(format!("{TMP_PREFIX}{id}"));
            let done = self.unpack_into(&tmp, blob, &rec.diff_ids[i]);
            if let Err(e) = done {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
            let dest = self.layer_dir(id);
            fs::rename(&tmp, &dest).map_err(io_at("commit layer", &dest))?;
            sync_dir(&self.snapshots).map_err(io_at("sync", &self.snapshots))?;
            self.meta.put_layer(
                chain,
                &LayerRecord {
                    id,
                    parent: i.checked_sub(1).map(|p| chains[p].clone()),
                    diff_id: rec.diff_ids[i].clone(),
                },
            )?;
            progress(Progress::new(
                blob,
                ProgressAction::Done,
                total,
                Some(total),
            ));
        }
        Ok(())
    }

    fn unpack_into(&self, tmp: &Path, blob: &Digest, diff_id: &Digest) -> Result<(), Error> {
        let fsdir = tmp.join("fs");
        fs::create_dir_all(&fsdir).map_err(io_at("create layer dir", &fsdir))?;
        let f = self.content.open_blob(blob)?;
        unpack_layer(io::BufReader::new(f), &fsdir, Some(diff_id))?;
        // One syncfs makes the whole unpacked tree durable before it is named.
        let d = fs::File::open(&fsdir).map_err(io_at("open layer dir", &fsdir))?;
        // SAFETY: syncfs on an open fd has no memory-safety preconditions.
        if unsafe { libc::syncfs(d.as_raw_fd()) } < 0 {
            return Err(io_at("sync layer", &fsdir)(io::Error::last_os_error()).into());
        }
        Ok(())
    }

    /// Removes what an interrupted unpack or prepare left: temp dirs, and
    /// directories or records whose counterpart is missing.
    pub(crate) fn recover_snapshots(&self) -> Result<(), Error> {
        let containers = self.snapshots.join(CONTAINERS_DIR);
        for d in [&containers, &self.snapshots.join(EMPTY_DIR)] {
            fs::create_dir_all(d).map_err(io_at("create", d))?;
        }
        let layers = self.meta.layers()?;
        let live_ids: std::collections::HashSet<String> =
            layers.iter().map(|(_, l)| l.id.to_string()).collect();
        for (chain, l) in &layers {
            if !self.layer_dir(l.id).join("fs").is_dir() {
                self.meta.remove_layer(&Digest::parse(chain)?)?;
            }
        }
        for e in fs::read_dir(&self.snapshots).map_err(io_at("read", &self.snapshots))? {
            let e = e.map_err(io_at("read", &self.snapshots))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name == CONTAINERS_DIR || name == EMPTY_DIR || live_ids.contains(&name) {
                continue;
            }
            let _ = fs::remove_dir_all(e.path());
        }
        let keys: std::collections::HashSet<String> = self
            .meta
            .containers()?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        for e in fs::read_dir(&containers).map_err(io_at("read", &containers))? {
            let e = e.map_err(io_at("read", &containers))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !keys.contains(&name) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
        Ok(())
    }
}

impl RootfsMounts {
    /// Mounts these mounts at `target` (for callers that assemble the
    /// rootfs themselves instead of handing the list to a shim).
    pub fn mount_at(&self, target: &Path) -> Result<(), SnapshotError> {
        for m in &self.mounts {
            let opts = m.options.join(",");
            nix::mount::mount(
                Some(m.source.as_str()),
                target,
                Some(m.kind.as_str()),
                nix::mount::MsFlags::empty(),
                Some(opts.as_str()),
            )
            .map_err(|source| SnapshotError::Mount {
                target: target.to_path_buf(),
                source,
            })?;
        }
        Ok(())
    }

    /// Unmounts what `mount_at` mounted at `target`.
    pub fn unmount_at(target: &Path) -> Result<(), SnapshotError> {
        nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH).map_err(|source| {
            SnapshotError::Mount {
                target: target.to_path_buf(),
                source,
            }
        })
    }
}

fn dir_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.nlink() == 1 {
                total += m.len();
            }
        }
    }
    total
}

/// Removes what `dir` holds, keeping `dir`; errors are left for the
/// removal that follows to report.
fn empty_dir(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            let _ = if p.is_dir() && !p.is_symlink() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::valid_key;

    #[test]
    fn keys() {
        assert!(valid_key("ctr-1_a.b"));
        for bad in ["", ".x", "a/b", "..", "a b", &"x".repeat(129)] {
            assert!(!valid_key(bad), "{bad}");
        }
    }
}
