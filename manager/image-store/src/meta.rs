//! The metadata store: one redb file, every change one transaction, so a
//! crash at any instant leaves the old state or the new one.
//!
//! Tables (values are JSON):
//! - `images`: full name → [`ImageRecord`]; a dangling image (its last name
//!   moved elsewhere, or none in its archive) is keyed `@<manifest digest>`
//! - `layers`: chain id → [`LayerRecord`] (an unpacked layer directory)
//! - `containers`: key → [`ContainerRecord`] (a container's upper layer)
//! - `counters`: `next_id` → the next snapshot directory number
//! - `parents`, `build_cache`, `layer_sizes`: see [`crate::lineage`]

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;

const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images");
const LAYERS: TableDefinition<&str, &[u8]> = TableDefinition::new("layers");
const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");
const NEXT_ID: &str = "next_id";

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("metadata store {path}: {source}")]
    Db {
        path: PathBuf,
        source: Box<redb::Error>,
    },
    #[error("metadata store {path}: record {key:?} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        key: String,
        source: serde_json::Error,
    },
    #[error("container snapshot {0:?} already exists")]
    ContainerExists(String),
}

impl MetaError {
    /// An I/O error of the file: redb refuses every later transaction on
    /// the same handle, so it is opened again before the next one.
    fn is_io(&self) -> bool {
        matches!(self, MetaError::Db { source, .. }
            if matches!(**source, redb::Error::Io(_) | redb::Error::PreviousIo))
    }

    /// The file system is full (a commit could not write its pages).
    pub(crate) fn is_no_space(&self) -> bool {
        matches!(self, MetaError::Db { source, .. }
            if matches!(&**source, redb::Error::Io(e) if e.raw_os_error() == Some(libc::ENOSPC)))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageRecord {
    pub manifest: Digest,
    pub media_type: String,
    pub config: Digest,
    /// The index the manifest was chosen from, kept with the image.
    #[serde(default)]
    pub index: Option<Digest>,
    pub layers: Vec<Digest>,
    pub diff_ids: Vec<Digest>,
    pub size: u64,
    #[serde(default)]
    pub created: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LayerRecord {
    pub id: u64,
    pub parent: Option<Digest>,
    pub diff_id: Digest,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ContainerRecord {
    pub image: Digest,
    pub image_name: Option<String>,
    /// Chain ids of the image's layers, bottom first.
    pub chain: Vec<Digest>,
}

pub(crate) fn dangling_key(manifest: &Digest) -> String {
    format!("@{manifest}")
}

pub(crate) struct Meta {
    /// `None` once an I/O error (a full disk) poisoned the handle: the next
    /// transaction opens the file again, so work goes on once space is freed
    /// without a manager restart.
    db: RwLock<Option<redb::Database>>,
    path: PathBuf,
}

type Txn = redb::WriteTransaction;

/// redb's page cache for the metadata. Its default (1 GiB) keeps every
/// page ever read or written, among them the allocator state (half a MiB)
/// redb writes when it opens the file and never reads again; the records
/// are small and the OS page cache holds the file anyway. Smaller than
/// that state, so it is not kept.
const CACHE_BYTES: usize = 256 << 10;

/// Opens (creating if needed) the metadata file.
fn open_db(path: &Path) -> Result<redb::Database, redb::DatabaseError> {
    redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create(path)
}

impl Meta {
    pub(crate) fn open(path: &Path) -> Result<Meta, MetaError> {
        let db = open_db(path).map_err(|e| MetaError::Db {
            path: path.to_path_buf(),
            source: Box::new(e.into()),
        })?;
        let m = Meta {
            db: RwLock::new(Some(db)),
            path: path.to_path_buf(),
        };
        m.write(|t| {
            t.open_table(IMAGES)?;
            t.open_table(LAYERS)?;
            t.open_table(CONTAINERS)?;
            t.open_table(COUNTERS)?;
            crate::lineage::create_tables(t)?;
            Ok(())
        })?;
        Ok(m)
    }

    /// Runs `f` with the database, opening it again first if an I/O error
    /// had poisoned the handle, and dropping the handle when `f` meets one.
    fn with_db<R>(
        &self,
        f: impl FnOnce(&redb::Database) -> Result<R, MetaError>,
    ) -> Result<R, MetaError> {
        let r = {
            let mut guard = self.db.read().unwrap_or_else(|p| p.into_inner());
            if guard.is_none() {
                drop(guard);
                self.reopen()?;
                guard = self.db.read().unwrap_or_else(|p| p.into_inner());
            }
            match guard.as_ref() {
                Some(db) => f(db),
                // poisoned again by another thread meanwhile
                None => Err(self.db_err(redb::Error::PreviousIo)),
            }
        };
        if matches!(&r, Err(e) if e.is_io()) {
            // closed here (not at the next use) so the file lock is free
            *self.db.write().unwrap_or_else(|p| p.into_inner()) = None;
        }
        r
    }

    fn reopen(&self) -> Result<(), MetaError> {
        let mut guard = self.db.write().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(open_db(&self.path).map_err(|e| self.db_err(e))?);
        }
        Ok(())
    }

    fn db_err(&self, e: impl Into<redb::Error>) -> MetaError {
        MetaError::Db {
            path: self.path.clone(),
            source: Box::new(e.into()),
        }
    }

    /// Runs `f` in one write transaction, committed only if it succeeds.
    pub(crate) fn write<R>(
        &self,
        f: impl FnOnce(&Txn) -> Result<R, TxnError>,
    ) -> Result<R, MetaError> {
        self.with_db(|db| {
            let t = db.begin_write().map_err(|e| self.db_err(e))?;
            let r = f(&t).map_err(|e| self.txn_err(e))?;
            t.commit().map_err(|e| self.db_err(e))?;
            Ok(r)
        })
    }

    /// Runs `f` in one read transaction (a consistent view of every table).
    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<R, TxnError>,
    ) -> Result<R, MetaError> {
        self.with_db(|db| {
            let t = db.begin_read().map_err(|e| self.db_err(e))?;
            f(&t).map_err(|e| self.txn_err(e))
        })
    }

    fn txn_err(&self, e: TxnError) -> MetaError {
        match e {
            TxnError::Db(e) => self.db_err(*e),
            TxnError::Json(key, source) => MetaError::Corrupt {
                path: self.path.clone(),
                key,
                source,
            },
            TxnError::Meta(m) => m,
        }
    }

    fn read_all<T: for<'de> Deserialize<'de>>(
        &self,
        table: TableDefinition<&str, &[u8]>,
    ) -> Result<Vec<(String, T)>, MetaError> {
        self.with_db(|db| {
            let t = db.begin_read().map_err(|e| self.db_err(e))?;
            let tab = t.open_table(table).map_err(|e| self.db_err(e))?;
            let mut out = Vec::new();
            for row in tab.iter().map_err(|e| self.db_err(e))? {
                let (k, v) = row.map_err(|e| self.db_err(e))?;
                let key = k.value().to_string();
                let val = serde_json::from_slice(v.value())
                    .map_err(|e| self.txn_err(TxnError::Json(key.clone(), e)))?;
                out.push((key, val));
            }
            Ok(out)
        })
    }

    fn read_one<T: for<'de> Deserialize<'de>>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
    ) -> Result<Option<T>, MetaError> {
        self.with_db(|db| {
            let t = db.begin_read().map_err(|e| self.db_err(e))?;
            let tab = t.open_table(table).map_err(|e| self.db_err(e))?;
            match tab.get(key).map_err(|e| self.db_err(e))? {
                None => Ok(None),
                Some(v) => serde_json::from_slice(v.value())
                    .map(Some)
                    .map_err(|e| self.txn_err(TxnError::Json(key.to_string(), e))),
            }
        })
    }

    pub(crate) fn images(&self) -> Result<Vec<(String, ImageRecord)>, MetaError> {
        self.read_all(IMAGES)
    }

    pub(crate) fn image(&self, name: &str) -> Result<Option<ImageRecord>, MetaError> {
        self.read_one(IMAGES, name)
    }

    pub(crate) fn layers(&self) -> Result<Vec<(String, LayerRecord)>, MetaError> {
        self.read_all(LAYERS)
    }

    pub(crate) fn layer(&self, chain: &Digest) -> Result<Option<LayerRecord>, MetaError> {
        self.read_one(LAYERS, chain.as_str())
    }

    pub(crate) fn containers(&self) -> Result<Vec<(String, ContainerRecord)>, MetaError> {
        self.read_all(CONTAINERS)
    }

    pub(crate) fn container(&self, key: &str) -> Result<Option<ContainerRecord>, MetaError> {
        self.read_one(CONTAINERS, key)
    }

    /// A fresh snapshot directory number, never handed out twice.
    pub(crate) fn next_id(&self) -> Result<u64, MetaError> {
        self.write(|t| {
            let mut c = t.open_table(COUNTERS)?;
            let n = c.get(NEXT_ID)?.map(|v| v.value()).unwrap_or(1);
            c.insert(NEXT_ID, n + 1)?;
            Ok(n)
        })
    }

    /// Points each name at `rec`. A manifest that loses its last name this
    /// way stays as a dangling image; a dangling entry for `rec` goes.
    pub(crate) fn put_image(&self, names: &[String], rec: &ImageRecord) -> Result<(), MetaError> {
        self.write(|t| put_image_txn(t, names, rec))
    }

    /// `put_image` for several images, in one transaction.
    pub(crate) fn put_images(
        &self,
        images: &[(Vec<String>, ImageRecord)],
    ) -> Result<(), MetaError> {
        self.write(|t| {
            for (names, rec) in images {
                put_image_txn(t, names, rec)?;
            }
            Ok(())
        })
    }

    /// Removes `name`; returns its record and whether any other name (or
    /// dangling entry) still holds the same manifest.
    pub(crate) fn remove_name(&self, name: &str) -> Result<Option<(ImageRecord, bool)>, MetaError> {
        self.write(|t| {
            let mut tab = t.open_table(IMAGES)?;
            let rec: ImageRecord = match tab.remove(name)? {
                None => return Ok(None),
                Some(v) => decode(name, v.value())?,
            };
            let mut still = false;
            for row in tab.iter()? {
                let (k, v) = row?;
                let other: ImageRecord = decode(k.value(), v.value())?;
                if other.manifest == rec.manifest {
                    still = true;
                    break;
                }
            }
            Ok(Some((rec, still)))
        })
    }

    pub(crate) fn put_layer(&self, chain: &Digest, rec: &LayerRecord) -> Result<(), MetaError> {
        self.write(|t| {
            t.open_table(LAYERS)?.insert(
                chain.as_str(),
                serde_json::to_vec(rec).unwrap_or_default().as_slice(),
            )?;
            Ok(())
        })
    }

    pub(crate) fn remove_layer(&self, chain: &Digest) -> Result<(), MetaError> {
        self.write(|t| {
            t.open_table(LAYERS)?.remove(chain.as_str())?;
            Ok(())
        })
    }

    pub(crate) fn insert_container(
        &self,
        key: &str,
        rec: &ContainerRecord,
    ) -> Result<(), MetaError> {
        self.write(|t| {
            let mut tab = t.open_table(CONTAINERS)?;
            if tab.get(key)?.is_some() {
                return Err(TxnError::Meta(MetaError::ContainerExists(key.to_string())));
            }
            tab.insert(key, serde_json::to_vec(rec).unwrap_or_default().as_slice())?;
            Ok(())
        })
    }

    pub(crate) fn remove_container(&self, key: &str) -> Result<bool, MetaError> {
        self.write(|t| Ok(t.open_table(CONTAINERS)?.remove(key)?.is_some()))
    }
}

pub(crate) fn put_image_txn(t: &Txn, names: &[String], rec: &ImageRecord) -> Result<(), TxnError> {
    let mut tab = t.open_table(IMAGES)?;
    let value = serde_json::to_vec(rec).unwrap_or_default();
    let mut displaced: Vec<ImageRecord> = Vec::new();
    for name in names {
        if let Some(old) = tab.insert(name.as_str(), value.as_slice())? {
            let old: ImageRecord = decode(name, old.value())?;
            if old.manifest != rec.manifest {
                displaced.push(old);
            }
        }
    }
    if !names.is_empty() {
        tab.remove(dangling_key(&rec.manifest).as_str())?;
    } else if tab.get(dangling_key(&rec.manifest).as_str())?.is_none() {
        let held = tab.iter()?.any(|row| {
            row.ok()
                .and_then(|(_, v)| serde_json::from_slice::<ImageRecord>(v.value()).ok())
                .is_some_and(|r| r.manifest == rec.manifest)
        });
        if !held {
            tab.insert(dangling_key(&rec.manifest).as_str(), value.as_slice())?;
        }
    }
    for old in displaced {
        let held = tab.iter()?.any(|row| {
            row.ok()
                .and_then(|(_, v)| serde_json::from_slice::<ImageRecord>(v.value()).ok())
                .is_some_and(|r| r.manifest == old.manifest)
        });
        if !held {
            let v = serde_json::to_vec(&old).unwrap_or_default();
            tab.insert(dangling_key(&old.manifest).as_str(), v.as_slice())?;
        }
    }
    Ok(())
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(key: &str, v: &[u8]) -> Result<T, TxnError> {
    serde_json::from_slice(v).map_err(|e| TxnError::Json(key.to_string(), e))
}

/// What can go wrong inside one transaction.
#[derive(Debug)]
pub(crate) enum TxnError {
    Db(Box<redb::Error>),
    Json(String, serde_json::Error),
    Meta(MetaError),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for TxnError {
            fn from(e: $t) -> Self {
                TxnError::Db(Box::new(e.into()))
            }
        }
    )*};
}
from_redb!(
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::TransactionError
);

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(m: &[u8]) -> ImageRecord {
        ImageRecord {
            manifest: Digest::of(m),
            media_type: String::new(),
            config: Digest::of(b"c"),
            index: None,
            layers: vec![],
            diff_ids: vec![],
            size: 0,
            created: None,
        }
    }

    #[test]
    fn retag_leaves_old_image_dangling() {
        let dir = tempfile::tempdir().unwrap();
        let m = Meta::open(&dir.path().join("meta.redb")).unwrap();
        let a = rec(b"a");
        let b = rec(b"b");
        m.put_image(&["x:1".into()], &a).unwrap();
        m.put_image(&["x:1".into()], &b).unwrap();
        let names: Vec<String> = m.images().unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, vec![dangling_key(&a.manifest), "x:1".to_string()]);
        let (r, still) = m.remove_name("x:1").unwrap().unwrap();
        assert_eq!(r, b);
        assert!(!still);
        assert_eq!(m.next_id().unwrap(), 1);
        assert_eq!(m.next_id().unwrap(), 2);
    }
}
