//! What ties images made on this machine together, kept in the metadata
//! store beside the images themselves:
//!
//! - `parents`: child manifest digest → parent manifest digest, written in
//!   the transaction that names the child (`history` shows the ids of
//!   local ancestors; a parent with a child is kept when untagged);
//! - `build_cache`: a build step's key (computed by the front end) → the
//!   image it made; an image a key points at is kept when untagged, and a
//!   key whose image is gone finds nothing;
//! - `layer_sizes`: diff id → the bytes of the files in the layer, as
//!   `history` shows its size.

use std::collections::HashSet;

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::meta::{decode, TxnError};
use crate::{Error, ImageStore};

const PARENTS: TableDefinition<&str, &str> = TableDefinition::new("parents");
const BUILD_CACHE: TableDefinition<&str, &[u8]> = TableDefinition::new("build_cache");
const LAYER_SIZES: TableDefinition<&str, u64> = TableDefinition::new("layer_sizes");

/// Longest build cache key accepted.
const MAX_KEY: usize = 128;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct CacheRecord {
    /// Config digest: the image id.
    image: Digest,
    manifest: Digest,
}

#[derive(Debug, thiserror::Error)]
pub enum LineageError {
    #[error("invalid build cache key {0:?}: want 1-128 of [A-Za-z0-9:_.-]")]
    BadKey(String),
}

pub(crate) fn create_tables(t: &redb::WriteTransaction) -> Result<(), TxnError> {
    t.open_table(PARENTS)?;
    t.open_table(BUILD_CACHE)?;
    t.open_table(LAYER_SIZES)?;
    Ok(())
}

pub(crate) fn check_key(key: &str) -> Result<(), LineageError> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(LineageError::BadKey(key.to_string()))
    }
}

/// The lineage rows written with a new image, in its naming transaction.
pub(crate) struct NewLineage<'a> {
    pub manifest: &'a Digest,
    pub config: &'a Digest,
    pub parent: Option<&'a Digest>,
    pub layer_size: Option<(&'a Digest, u64)>,
    pub cache_key: Option<&'a str>,
}

pub(crate) fn put_lineage_txn(t: &redb::WriteTransaction, l: &NewLineage) -> Result<(), TxnError> {
    if let Some(p) = l.parent {
        t.open_table(PARENTS)?
            .insert(l.manifest.as_str(), p.as_str())?;
    }
    if let Some((diff_id, size)) = l.layer_size {
        t.open_table(LAYER_SIZES)?.insert(diff_id.as_str(), size)?;
    }
    if let Some(key) = l.cache_key {
        let rec = CacheRecord {
            image: l.config.clone(),
            manifest: l.manifest.clone(),
        };
        t.open_table(BUILD_CACHE)?
            .insert(key, serde_json::to_vec(&rec).unwrap_or_default().as_slice())?;
    }
    Ok(())
}

impl ImageStore {
    /// Points build cache `key` at `image` (id, id prefix or name), in one
    /// transaction that finds the image still there.
    pub fn store_build_cache(&self, key: &str, image: &str) -> Result<Digest, Error> {
        check_key(key)?;
        let _g = self.commit_lock.lock().unwrap_or_else(|e| e.into_inner());
        let r = self.resolve(image)?;
        let rec = CacheRecord {
            image: r.rec.config.clone(),
            manifest: r.rec.manifest.clone(),
        };
        self.meta.write(|t| {
            t.open_table(BUILD_CACHE)?
                .insert(key, serde_json::to_vec(&rec).unwrap_or_default().as_slice())?;
            Ok(())
        })?;
        Ok(rec.image)
    }

    /// The image id build cache `key` points at, if the key is known and
    /// its image is still stored.
    pub fn lookup_build_cache(&self, key: &str) -> Result<Option<Digest>, Error> {
        check_key(key)?;
        let rec: Option<CacheRecord> = self.meta.read(|t| {
            let tab = t.open_table(BUILD_CACHE)?;
            let v = tab.get(key)?;
            v.map(|v| decode(key, v.value())).transpose()
        })?;
        let Some(rec) = rec else { return Ok(None) };
        let present = self
            .meta
            .images()?
            .iter()
            .any(|(_, i)| i.manifest == rec.manifest);
        Ok(present.then_some(rec.image))
    }

    /// The manifest digest of the image `manifest` was made from here.
    pub(crate) fn parent_of(&self, manifest: &Digest) -> Result<Option<Digest>, Error> {
        let p: Option<String> = self.meta.read(|t| {
            let tab = t.open_table(PARENTS)?;
            let v = tab.get(manifest.as_str())?;
            Ok(v.map(|v| v.value().to_string()))
        })?;
        Ok(p.and_then(|p| Digest::parse(&p).ok()))
    }

    /// Images kept even when untagged: parents of stored images and, with
    /// `cached`, those a build cache key points at.
    pub(crate) fn kept_manifests(&self, cached: bool) -> Result<HashSet<Digest>, Error> {
        let present: HashSet<Digest> = self
            .meta
            .images()?
            .into_iter()
            .map(|(_, r)| r.manifest)
            .collect();
        let (parents, cache_refs) = self.meta.read(|t| {
            let mut parents = Vec::new();
            for row in t.open_table(PARENTS)?.iter()? {
                let (k, v) = row?;
                parents.push((k.value().to_string(), v.value().to_string()));
            }
            let mut refs = Vec::new();
            for row in t.open_table(BUILD_CACHE)?.iter()? {
                let (k, v) = row?;
                let rec: CacheRecord = decode(k.value(), v.value())?;
                refs.push(rec.manifest);
            }
            Ok((parents, refs))
        })?;
        let mut kept: HashSet<Digest> = if cached {
            cache_refs.into_iter().collect()
        } else {
            HashSet::new()
        };
        for (child, parent) in parents {
            let (Ok(child), Ok(parent)) = (Digest::parse(&child), Digest::parse(&parent)) else {
                continue;
            };
            if present.contains(&child) {
                kept.insert(parent);
            }
        }
        Ok(kept)
    }

    /// The size `history` shows for layer `diff_id` (blob `blob`): the
    /// bytes of the files in it, counted once and remembered.
    pub(crate) fn layer_size(&self, diff_id: &Digest, blob: &Digest) -> Result<u64, Error> {
        let known = self.meta.read(|t| {
            let tab = t.open_table(LAYER_SIZES)?;
            let v = tab.get(diff_id.as_str())?;
            Ok(v.map(|v| v.value()))
        })?;
        if let Some(n) = known {
            return Ok(n);
        }
        let n = self.content_bytes(blob)?;
        self.meta.write(|t| {
            t.open_table(LAYER_SIZES)?.insert(diff_id.as_str(), n)?;
            Ok(())
        })?;
        Ok(n)
    }

    /// The size of the layer of `rec` whose diff id is `diff_id`.
    pub(crate) fn unpacked_size(
        &self,
        diff_id: &Digest,
        rec: &crate::meta::ImageRecord,
    ) -> Result<u64, Error> {
        match rec.diff_ids.iter().position(|d| d == diff_id) {
            Some(i) => self.content_bytes(&rec.layers[i]),
            None => Ok(0),
        }
    }

    /// The sum of the sizes of the regular files in layer blob `blob`.
    fn content_bytes(&self, blob: &Digest) -> Result<u64, Error> {
        let f = self.content.open_blob(blob)?;
        let ioe = |e| Error::io(format!("read layer {blob}"), e);
        let plain = crate::unpack::decompress(std::io::BufReader::new(f)).map_err(ioe)?;
        let mut archive = tar::Archive::new(plain);
        let mut n = 0;
        for entry in archive.entries().map_err(ioe)? {
            let entry = entry.map_err(ioe)?;
            if entry.header().entry_type().is_file() {
                n += entry.size();
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(check_key(&"a".repeat(64)).is_ok());
        assert!(check_key("sha256:0f").is_ok());
        for bad in ["", "a b", "a/b", &"x".repeat(129)] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_key_finds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        assert_eq!(store.lookup_build_cache("abc").unwrap(), None);
        let e = store.store_build_cache("abc", "sha256:1234").unwrap_err();
        assert_eq!(e.to_string(), "no such image: sha256:1234");
    }
}
