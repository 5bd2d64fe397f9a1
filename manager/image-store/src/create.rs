//! Images made on this machine: a parent image (or scratch) plus, maybe,
//! one new layer — from a container's upper dir (`commit`, a build's `RUN`)
//! or from a tar the front end wrote (`COPY`/`ADD`) — with the config and
//! history entry the caller gives; also `history`, `diff` and the raw
//! config `image inspect` shows.
//!
//! The new layer is written gzip-compressed into the content store (temp
//! file, fsync, rename), its diff id hashed on the way; config and
//! manifest follow; the layer is unpacked like a pulled one; and only then
//! one transaction names the image, records its parent and layer size, and
//! points the build cache key at it. A crash before that transaction leaves
//! unnamed blobs the next garbage collection removes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::changes::{changes, Change};
use crate::content::BlobWriter;
use crate::digest::{chain_ids, Digest, HashingWriter};
use crate::layer_tar::write_upper_dir;
use crate::lineage::{check_key, put_lineage_txn, NewLineage};
use crate::meta::{put_image_txn, ImageRecord};
use crate::oci::{self, Descriptor, Manifest, RunConfig, MAX_DOCUMENT};
use crate::reference::Reference;
use crate::rootfs::rfc3339_now;
use crate::snapshot::SnapshotError;
use crate::types::ImageSummary;
use crate::{Error, ImageStore, Lease};

const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("image config: {0}")]
    BadConfig(String),
}

/// What a new image is made of, besides its new layer.
#[derive(Debug, Clone, Default)]
pub struct NewImage {
    /// Image id, id prefix or name; `None` = scratch.
    pub parent: Option<String>,
    /// The new image's `config` object; `None` = the parent's.
    pub config: Option<Value>,
    /// History `created_by`.
    pub created_by: String,
    /// History `comment`.
    pub comment: String,
    /// History and image `author`.
    pub author: String,
    /// Name for the new image; `None` = untagged.
    pub reference: Option<String>,
    /// Build cache key pointed at the new image in the same transaction.
    pub cache_key: Option<String>,
}

/// Where the new layer comes from.
#[derive(Debug, Clone, Copy)]
pub enum NewLayer<'a> {
    /// No layer: a config-only step (`empty_layer` history entry).
    None,
    /// An uncompressed layer tar on the host.
    Tar(&'a Path),
    /// An overlay upper dir (whiteouts converted).
    UpperDir(&'a Path),
}

/// One row of `history`, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryItem {
    /// The local image this step made, when it is still stored.
    pub id: Option<Digest>,
    pub created: Option<String>,
    pub created_by: String,
    /// Uncompressed size of the step's layer; 0 for empty layers.
    pub size: u64,
    pub comment: String,
    pub empty_layer: bool,
    /// Names of `id`.
    pub tags: Vec<String>,
}

/// `image inspect`'s raw material.
#[derive(Debug, Clone)]
pub struct RawImage {
    pub id: Digest,
    pub manifest_digest: Digest,
    pub names: Vec<String>,
    /// The config blob as stored.
    pub config: Vec<u8>,
    /// Compressed size of config and layers.
    pub size: u64,
    /// Id of the local image this one was made from.
    pub parent: Option<Digest>,
}

impl ImageStore {
    /// Makes a new image from `spec` and `layer`; see the module docs.
    pub fn create_image(
        &self,
        spec: &NewImage,
        layer: NewLayer<'_>,
    ) -> Result<ImageSummary, Error> {
        let names = match &spec.reference {
            Some(r) => vec![Reference::parse(r)?.to_string()],
            None => Vec::new(),
        };
        if let Some(k) = &spec.cache_key {
            check_key(k)?;
        }
        let run_config = match &spec.config {
            Some(c) => Some(check_run_config(c)?),
            None => None,
        };
        let parent = match &spec.parent {
            Some(p) => Some(self.resolve(p)?.rec),
            None => None,
        };
        let mut lease = Lease::new(self);
        if let Some(p) = &parent {
            // the parent may lose its last name meanwhile; its layers must stay
            for l in &p.layers {
                lease.add(l.as_str());
            }
            for c in chain_ids(&p.diff_ids) {
                lease.add(c.as_str());
            }
        }
        let made = self.stage_image(spec, run_config, parent.as_ref(), layer, &mut lease);
        let res = made.and_then(|(rec, new_diff)| {
            self.ensure_layers(&rec, &mut lease, &mut |_| {})?;
            // what `history` shows for it: the bytes of the files in it
            let new_diff = match new_diff {
                Some(d) => Some((d.clone(), self.unpacked_size(&d, &rec)?)),
                None => None,
            };
            let new_diff = new_diff.as_ref().map(|(d, n)| (d, *n));
            let _g = self.commit_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.meta.write(|t| {
                put_image_txn(t, &names, &rec)?;
                put_lineage_txn(
                    t,
                    &NewLineage {
                        manifest: &rec.manifest,
                        config: &rec.config,
                        parent: parent.as_ref().map(|p| &p.manifest),
                        layer_size: new_diff,
                        cache_key: spec.cache_key.as_deref(),
                    },
                )
            })?;
            let key = names
                .first()
                .cloned()
                .unwrap_or_else(|| crate::meta::dangling_key(&rec.manifest));
            Ok(crate::images::summary(&key, &rec))
        });
        if res.is_err() {
            self.rollback(lease);
        }
        res
    }

    /// Commits container snapshot `key`'s upper dir as a new layer on top
    /// of the image it was prepared from (`spec.parent` is ignored).
    pub fn commit_snapshot(&self, key: &str, spec: &NewImage) -> Result<ImageSummary, Error> {
        let rec = self
            .meta
            .container(key)?
            .ok_or_else(|| SnapshotError::NotFound(key.to_string()))?;
        let upper = self.upper_dir(key);
        let spec = NewImage {
            parent: Some(rec.image.to_string()),
            ..spec.clone()
        };
        self.create_image(&spec, NewLayer::UpperDir(&upper))
    }

    /// Container snapshot `key`'s changes against its image.
    pub fn snapshot_changes(&self, key: &str) -> Result<Vec<Change>, Error> {
        let rec = self
            .meta
            .container(key)?
            .ok_or_else(|| SnapshotError::NotFound(key.to_string()))?;
        let mut lowers = Vec::new();
        for chain in rec.chain.iter().rev() {
            let layer = self
                .meta
                .layer(chain)?
                .ok_or_else(|| SnapshotError::LayerMissing {
                    image: rec.image.clone(),
                    chain: chain.clone(),
                })?;
            lowers.push(self.layer_dir(layer.id).join("fs"));
        }
        let upper = self.upper_dir(key);
        changes(&upper, &lowers).map_err(|e| Error::io(format!("read {}", upper.display()), e))
    }

    /// `history`: one row per history entry of the image's config, newest
    /// first, with the ids and names of local images along its parent chain.
    pub fn history(&self, image: &str) -> Result<Vec<HistoryItem>, Error> {
        let top = self.resolve(image)?.rec;
        let cfg = self.config_value(&top.config)?;
        let mut entries: Vec<Value> = cfg["history"].as_array().cloned().unwrap_or_default();
        if entries.is_empty() {
            // images without history get one anonymous row per layer
            entries = top.diff_ids.iter().map(|_| json!({})).collect();
        }
        let mut ids: BTreeMap<usize, (Digest, Vec<String>)> = BTreeMap::new();
        let all = self.meta.images()?;
        let mut cur = Some(top.clone());
        let mut seen = 0;
        while let Some(rec) = cur.take() {
            let len = self.config_value(&rec.config)?["history"]
                .as_array()
                .map_or(0, |h| h.len());
            let names: Vec<String> = all
                .iter()
                .filter(|(k, r)| r.manifest == rec.manifest && !k.starts_with('@'))
                .map(|(k, _)| k.clone())
                .collect();
            if len > 0 {
                ids.entry(len - 1).or_insert((rec.config.clone(), names));
            }
            seen += 1;
            if seen > 10_000 {
                break;
            }
            if let Some(p) = self.parent_of(&rec.manifest)? {
                cur = all
                    .iter()
                    .find(|(_, r)| r.manifest == p)
                    .map(|(_, r)| r.clone());
            }
        }
        let mut out = Vec::with_capacity(entries.len());
        let mut layer = 0;
        for (i, e) in entries.iter().enumerate() {
            let empty = e["empty_layer"].as_bool().unwrap_or(false);
            let size = if empty || layer >= top.diff_ids.len() {
                0
            } else {
                let n = self.layer_size(&top.diff_ids[layer], &top.layers[layer])?;
                layer += 1;
                n
            };
            let (id, tags) = match ids.get(&i) {
                Some((d, t)) => (Some(d.clone()), t.clone()),
                None => (None, Vec::new()),
            };
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            out.push(HistoryItem {
                id,
                created: e["created"].as_str().map(str::to_string),
                created_by: s("created_by"),
                size,
                comment: s("comment"),
                empty_layer: empty,
                tags,
            });
        }
        if out.is_empty() {
            return Ok(out);
        }
        // the top row is the image itself even when its config has fewer
        // history entries than it has ancestors (hand-made configs)
        let last = out.len() - 1;
        if out[last].id.is_none() {
            out[last].id = Some(top.config.clone());
        }
        out.reverse();
        Ok(out)
    }

    /// The image's config blob as stored, with its identity.
    pub fn raw_image(&self, image: &str) -> Result<RawImage, Error> {
        let r = self.resolve(image)?;
        let config = self.content.read(&r.rec.config, MAX_DOCUMENT)?;
        let all = self.meta.images()?;
        let names = all
            .iter()
            .filter(|(k, rec)| rec.manifest == r.rec.manifest && !k.starts_with('@'))
            .map(|(k, _)| k.clone())
            .collect();
        let parent = self.parent_of(&r.rec.manifest)?.and_then(|p| {
            all.iter()
                .find(|(_, rec)| rec.manifest == p)
                .map(|(_, rec)| rec.config.clone())
        });
        Ok(RawImage {
            id: r.rec.config.clone(),
            manifest_digest: r.rec.manifest.clone(),
            names,
            config,
            size: r.rec.size,
            parent,
        })
    }

    fn config_value(&self, config: &Digest) -> Result<Value, Error> {
        let data = self.content.read(config, MAX_DOCUMENT)?;
        Ok(oci::parse(&format!("image config {config}"), &data)?)
    }

    fn upper_dir(&self, key: &str) -> PathBuf {
        self.snapshots.join("containers").join(key).join("fs")
    }

    /// Writes the layer, config and manifest blobs (leased); returns the
    /// image's record and the new layer's diff id.
    fn stage_image(
        &self,
        spec: &NewImage,
        run_config: Option<Value>,
        parent: Option<&ImageRecord>,
        layer: NewLayer<'_>,
        lease: &mut Lease<'_>,
    ) -> Result<(ImageRecord, Option<Digest>), Error> {
        let (mut cfg, base) = match parent {
            Some(p) => {
                let cfg = self.config_value(&p.config)?;
                let data = self.content.read(&p.manifest, MAX_DOCUMENT)?;
                let m: Manifest = oci::parse(&format!("manifest {}", p.manifest), &data)?;
                (cfg, Some(m))
            }
            None => (
                json!({
                    "architecture": "amd64",
                    "os": "linux",
                    "config": {},
                    "rootfs": {"type": "layers", "diff_ids": []},
                }),
                None,
            ),
        };
        let docker = base
            .as_ref()
            .is_some_and(|m| m.media_type == oci::DOCKER_MANIFEST)
            || parent.is_some_and(|p| p.media_type == oci::DOCKER_MANIFEST);
        let new_layer = match layer {
            NewLayer::None => None,
            NewLayer::Tar(path) => {
                let f = File::open(path)
                    .map_err(|e| Error::io(format!("open layer tar {}", path.display()), e))?;
                Some(self.write_layer(|w| {
                    io::copy(&mut BufReader::new(f), w)
                        .map(|_| ())
                        .map_err(|e| Error::io(format!("read layer tar {}", path.display()), e))
                })?)
            }
            NewLayer::UpperDir(dir) => Some(self.write_layer(|w| {
                write_upper_dir(dir, w)
                    .map(|_| ())
                    .map_err(|e| Error::io(format!("read {}", dir.display()), e))
            })?),
        };
        if let Some((blob, ..)) = &new_layer {
            lease.add(blob.as_str());
        }
        let now = rfc3339_now();
        let obj = cfg.as_object_mut().ok_or_else(|| {
            CreateError::BadConfig("the parent's config is not a JSON object".into())
        })?;
        obj.insert("created".into(), json!(now));
        // docker-era fields describing the container a parent came from
        obj.remove("container");
        obj.remove("container_config");
        if let Some(c) = run_config {
            obj.insert("config".into(), c);
        }
        if !spec.author.is_empty() {
            obj.insert("author".into(), json!(spec.author));
        }
        // the image's own comment is its newest step's (docker's `Comment`)
        if spec.comment.is_empty() {
            obj.remove("comment");
        } else {
            obj.insert("comment".into(), json!(spec.comment));
        }
        let mut entry = serde_json::Map::new();
        entry.insert("created".into(), json!(now));
        if !spec.author.is_empty() {
            entry.insert("author".into(), json!(spec.author));
        }
        entry.insert("created_by".into(), json!(spec.created_by));
        if !spec.comment.is_empty() {
            entry.insert("comment".into(), json!(spec.comment));
        }
        if new_layer.is_none() {
            entry.insert("empty_layer".into(), json!(true));
        }
        let history = obj.entry("history").or_insert_with(|| json!([]));
        if !history.is_array() {
            *history = json!([]);
        }
        if let Some(h) = history.as_array_mut() {
            h.push(Value::Object(entry));
        }
        let mut layers = base.map(|m| m.layers).unwrap_or_default();
        let mut layer_size = None;
        if let Some((blob, size, diff_id, plain)) = new_layer {
            let rootfs = obj.entry("rootfs").or_insert_with(|| json!({}));
            rootfs["type"] = json!("layers");
            match rootfs["diff_ids"].as_array_mut() {
                Some(ids) => ids.push(json!(diff_id)),
                None => rootfs["diff_ids"] = json!([diff_id]),
            }
            layers.push(Descriptor {
                media_type: if docker {
                    DOCKER_LAYER_GZIP
                } else {
                    oci::OCI_LAYER_GZIP
                }
                .into(),
                digest: blob,
                size,
                annotations: BTreeMap::new(),
                platform: None,
            });
            let _ = plain;
            layer_size = Some(diff_id);
        }
        let cfg_data = serde_json::to_vec(&cfg).unwrap_or_default();
        let cfg_digest = self.content.put(&cfg_data)?;
        lease.add(cfg_digest.as_str());
        let media_type = if docker {
            oci::DOCKER_MANIFEST
        } else {
            oci::OCI_MANIFEST
        };
        let manifest = Manifest {
            schema_version: 2,
            media_type: media_type.into(),
            config: Descriptor {
                media_type: if docker {
                    DOCKER_CONFIG
                } else {
                    oci::OCI_CONFIG
                }
                .into(),
                digest: cfg_digest,
                size: cfg_data.len() as u64,
                annotations: BTreeMap::new(),
                platform: None,
            },
            layers,
        };
        let mdata = serde_json::to_vec(&manifest).unwrap_or_default();
        let md = self.content.put(&mdata)?;
        lease.add(md.as_str());
        let rec = self.record_for(&md, media_type, None)?;
        // the new layer's chain id, so a collection running now spares it
        for chain in chain_ids(&rec.diff_ids) {
            lease.add(chain.as_str());
        }
        Ok((rec, layer_size))
    }

    /// Streams a layer tar from `fill` through a diff id hash and gzip into
    /// a new blob; returns (blob digest, blob size, diff id, tar size).
    fn write_layer(
        &self,
        fill: impl FnOnce(&mut HashingWriter<flate2::write::GzEncoder<BlobWriter>>) -> Result<(), Error>,
    ) -> Result<(Digest, u64, Digest, u64), Error> {
        let blob = self.content.writer()?;
        let gz = flate2::write::GzEncoder::new(blob, flate2::Compression::fast());
        let mut w = HashingWriter::new(gz);
        fill(&mut w)?;
        w.flush()
            .map_err(|e| Error::io("compress layer".to_string(), e))?;
        let (gz, diff_id, plain) = w.finish();
        let blob = gz
            .finish()
            .map_err(|e| Error::io("compress layer".to_string(), e))?;
        let (digest, size) = blob.commit(None, None)?;
        Ok((digest, size, diff_id, plain))
    }
}

/// A caller's `config` object, checked to be one berth can run.
fn check_run_config(c: &Value) -> Result<Value, Error> {
    if !c.is_object() {
        return Err(CreateError::BadConfig("not a JSON object".into()).into());
    }
    serde_json::from_value::<RunConfig>(c.clone())
        .map_err(|e| CreateError::BadConfig(e.to_string()))?;
    Ok(c.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer_tar(dir: &Path, files: &[(&str, &[u8])]) -> PathBuf {
        let path = dir.join("layer.tar");
        let mut b = tar::Builder::new(File::create(&path).unwrap());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap().sync_all().unwrap();
        path
    }

    #[test]
    fn scratch_then_config_step_then_history() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return; // unpacking sets ownership
        }
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&dir.path().join("store")).unwrap();
        let tar = layer_tar(dir.path(), &[("app/hello", b"hello\n")]);
        let base = store
            .create_image(
                &NewImage {
                    created_by: "COPY app /app".into(),
                    cache_key: Some("k1".into()),
                    ..Default::default()
                },
                NewLayer::Tar(&tar),
            )
            .unwrap();
        let top = store
            .create_image(
                &NewImage {
                    parent: Some(base.id.to_string()),
                    config: Some(json!({"Cmd": ["cat", "/app/hello"]})),
                    created_by: "CMD [\"cat\"]".into(),
                    reference: Some("made:1".into()),
                    ..Default::default()
                },
                NewLayer::None,
            )
            .unwrap();
        let info = store.get("made:1").unwrap();
        assert_eq!(info.id, top.id);
        assert_eq!(info.diff_ids.len(), 1);
        assert_eq!(
            info.config.cmd,
            Some(vec!["cat".into(), "/app/hello".into()])
        );
        let h = store.history("made:1").unwrap();
        assert_eq!(h.len(), 2);
        assert!(h[0].empty_layer && h[0].size == 0 && h[0].id == Some(top.id.clone()));
        assert_eq!(h[0].tags, vec!["docker.io/library/made:1".to_string()]);
        assert_eq!((h[1].size, h[1].id.clone()), (6, Some(base.id.clone())));
        assert_eq!(
            store.lookup_build_cache("k1").unwrap(),
            Some(base.id.clone())
        );
        // the untagged base is a parent and a cache entry's image: prune keeps it
        store.prune(false).unwrap();
        assert!(store.get(base.id.as_str()).is_ok());
        let raw = store.raw_image("made:1").unwrap();
        assert_eq!(raw.parent, Some(base.id.clone()));
        let cfg: Value = serde_json::from_slice(&raw.config).unwrap();
        assert_eq!(cfg["history"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn bad_config_and_bad_tar_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&dir.path().join("store")).unwrap();
        let e = store
            .create_image(
                &NewImage {
                    config: Some(json!({"Cmd": "not a list"})),
                    ..Default::default()
                },
                NewLayer::None,
            )
            .unwrap_err();
        assert!(e.to_string().starts_with("image config: "), "{e}");
        let junk = dir.path().join("junk.tar");
        std::fs::write(&junk, vec![7u8; 1500]).unwrap();
        assert!(store
            .create_image(&NewImage::default(), NewLayer::Tar(&junk))
            .is_err());
        assert!(store.list_all().unwrap().is_empty());
        let blobs = std::fs::read_dir(dir.path().join("store/blobs/sha256"))
            .unwrap()
            .count();
        assert_eq!(blobs, 0);
    }
}
