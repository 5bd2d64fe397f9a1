//! berth's image side, used in-process by `berth-manager`: a content store
//! (blobs by digest, verified on write), images (import of OCI archives and
//! layouts and `docker save` archives, export, registry pull and push over
//! the OCI distribution spec), and snapshots (each layer unpacked once,
//! stacked with overlayfs under a private upper layer per container).
//!
//! Layout under the store root:
//!
//! ```text
//! blobs/sha256/<hex>        content, renamed into place only once verified
//! ingest/                   blobs being written (emptied at open)
//! meta.redb                 names, layer and container records, parents,
//!                           the build cache (redb)
//! snapshots/<n>/fs          one unpacked layer
//! snapshots/containers/<key>/{fs,work}   a container's upper and work dirs
//! snapshots/empty           lower dir for an image without layers
//! tmp/                      scratch (emptied at open)
//! ```
//!
//! Every change is crash-safe: content and directories are finished in
//! temp places and renamed in, and metadata changes are redb transactions
//! committed after them; `open` removes whatever a crash left unreferenced.
//!
//! ```no_run
//! # fn main() -> Result<(), berth_image_store::Error> {
//! use berth_image_store::ImageStore;
//! let store = ImageStore::open("/var/lib/berth/images".as_ref())?;
//! store.import_archive("busybox.tar".as_ref(), |p| eprintln!("{} {}", p.id, p.action.as_str()))?;
//! let mounts = store.prepare("ctr1", "busybox")?;
//! // hand `mounts.mounts` to the shim as the task's rootfs
//! store.remove_snapshot("ctr1")?;
//! # Ok(()) }
//! ```

mod archive;
mod changes;
mod content;
mod create;
mod digest;
mod error;
mod gc;
mod images;
mod layer_tar;
mod lineage;
mod meta;
mod oci;
mod progress;
mod reference;
mod registry;
mod rootfs;
mod snapshot;
mod types;
mod unpack;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use archive::ArchiveError;
pub use changes::{Change, ChangeKind};
pub use content::ContentError;
pub use create::{CreateError, HistoryItem, NewImage, NewLayer, RawImage};
pub use digest::{chain_ids, Digest, DigestError};
pub use error::Error;
pub use lineage::LineageError;
pub use meta::MetaError;
pub use oci::OciError;
pub use progress::{Progress, ProgressAction};
pub use reference::{Reference, ReferenceError};
pub use registry::login;
pub use registry::RegistryError;
pub use snapshot::SnapshotError;
pub use types::{
    ImageConfig, ImageInfo, ImageSummary, Mount, PruneReport, PullOptions, PushOptions,
    RegistryOptions, RemoveReport, RootfsMounts, SnapshotInfo,
};
pub use unpack::UnpackError;

/// The image store. All methods take `&self`; it is `Send + Sync`, so the
/// manager shares one behind an `Arc`. Only one process may open a root at a
/// time (the metadata file is locked).
pub struct ImageStore {
    root: PathBuf,
    content: content::ContentStore,
    meta: meta::Meta,
    snapshots: PathBuf,
    tmp: PathBuf,
    /// Blobs and layers an operation in flight has written but not yet
    /// committed to an image: garbage collection must not take them.
    leases: Mutex<HashMap<String, usize>>,
    /// Held by garbage collection throughout and by commits of new images,
    /// so a collection never sees content between "written" and "named".
    commit_lock: Mutex<()>,
    /// One layer unpack at a time, so two pulls never unpack the same layer twice.
    unpack_lock: Mutex<()>,
}

/// Unpacks one layer tar (plain, gzip or zstd) into the empty directory
/// `dest` with the checks `prepare` applies to every layer, and returns its
/// diff id. Public so a layer can be checked on its own (the fuzz targets).
pub fn unpack_layer(reader: impl std::io::Read, dest: &Path) -> Result<Digest, UnpackError> {
    unpack::unpack_layer(reader, dest, None)
}

impl ImageStore {
    /// Opens (creating if needed) the store at `root` and removes what an
    /// interrupted operation left behind.
    pub fn open(root: &Path) -> Result<ImageStore, Error> {
        fs::create_dir_all(root).map_err(|e| Error::io(format!("create {}", root.display()), e))?;
        let content = content::ContentStore::open(root)?;
        let meta = meta::Meta::open(&root.join("meta.redb"))?;
        let tmp = root.join("tmp");
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).map_err(|e| Error::io(format!("create {}", tmp.display()), e))?;
        let store = ImageStore {
            root: root.to_path_buf(),
            content,
            meta,
            snapshots: root.join("snapshots"),
            tmp,
            leases: Mutex::new(HashMap::new()),
            commit_lock: Mutex::new(()),
            unpack_lock: Mutex::new(()),
        };
        store.recover_snapshots()?;
        Ok(store)
    }

    /// The directory the store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Items protected from garbage collection while an operation runs.
pub(crate) struct Lease<'a> {
    store: &'a ImageStore,
    items: Vec<String>,
}

impl<'a> Lease<'a> {
    pub(crate) fn new(store: &'a ImageStore) -> Lease<'a> {
        Lease {
            store,
            items: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, item: &str) {
        let mut l = self.store.leases.lock().unwrap_or_else(|e| e.into_inner());
        *l.entry(item.to_string()).or_insert(0) += 1;
        self.items.push(item.to_string());
    }

    pub(crate) fn items(&self) -> &[String] {
        &self.items
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut l = self.store.leases.lock().unwrap_or_else(|e| e.into_inner());
        for i in &self.items {
            if let Some(n) = l.get_mut(i) {
                *n -= 1;
                if *n == 0 {
                    l.remove(i);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}
    fn assert_sync<T: Send + Sync>() {}

    #[test]
    fn store_is_shareable_and_pull_is_send() {
        assert_sync::<ImageStore>();
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let opts = RegistryOptions::default();
        let fut = store.pull("busybox", &opts, |_| {});
        assert_send(&fut);
        let fut = store.push("busybox", &opts, |_| {});
        assert_send(&fut);
    }

    #[test]
    fn unknown_image_is_a_one_line_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let e = store.get("nosuch:1").unwrap_err().to_string();
        assert_eq!(e, "no such image: nosuch:1");
        let e = store.remove("nosuch", false).unwrap_err().to_string();
        assert_eq!(e, "no such image: nosuch");
        let e = store.prepare("c1", "nosuch").unwrap_err().to_string();
        assert_eq!(e, "no such image: nosuch");
        let e = store.get("Bad Name").unwrap_err().to_string();
        assert!(e.contains("\"Bad Name\""), "{e}");
        assert!(store.list().unwrap().is_empty());
        assert!(store.snapshots().unwrap().is_empty());
    }
}
