//! Names and images: listing, lookup, tagging, removal and pruning, and the
//! one place a new image becomes visible (`commit_image`).

use std::collections::HashSet;

use crate::digest::Digest;
use crate::meta::{dangling_key, ImageRecord};
use crate::oci::{self, ImageConfigFile, OciError, MAX_DOCUMENT};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::types::{ImageInfo, ImageSummary, PruneReport, RemoveReport};
use crate::{Error, ImageStore, Lease};

/// How a user's string was matched to an image.
pub(crate) struct Resolved {
    /// The name it was found under; `None` when found by id or digest.
    pub name: Option<String>,
    pub rec: ImageRecord,
}

/// What [`ImageStore::prune_where`] asks of an image: its config's labels
/// and its creation time (RFC 3339), if known.
pub type PruneAdmit<'a> =
    dyn Fn(&std::collections::BTreeMap<String, String>, Option<&str>) -> bool + 'a;

impl ImageStore {
    /// Every image: one entry per name, plus one per dangling image, except
    /// untagged intermediate images (parents of stored images), which
    /// docker's `images` shows only with `-a` ([`ImageStore::list_all`]).
    pub fn list(&self) -> Result<Vec<ImageSummary>, Error> {
        let parents = self.kept_manifests(false)?;
        Ok(self
            .meta
            .images()?
            .into_iter()
            .filter(|(k, r)| !(k.starts_with('@') && parents.contains(&r.manifest)))
            .map(|(k, r)| summary(&k, &r))
            .collect())
    }

    /// Every image, intermediate ones included.
    pub fn list_all(&self) -> Result<Vec<ImageSummary>, Error> {
        Ok(self
            .meta
            .images()?
            .into_iter()
            .map(|(k, r)| summary(&k, &r))
            .collect())
    }

    /// Looks an image up by name (`busybox`, `host:5000/a/b:tag`,
    /// `name@sha256:…`) or by id (`sha256:<hex>` or a unique hex prefix of
    /// at least 4 digits).
    pub fn get(&self, reference: &str) -> Result<ImageInfo, Error> {
        let r = self.resolve(reference)?;
        let cfg = self.config_of(&r.rec)?;
        let names = self
            .meta
            .images()?
            .into_iter()
            .filter(|(k, rec)| rec.manifest == r.rec.manifest && !k.starts_with('@'))
            .map(|(k, _)| k)
            .collect();
        Ok(ImageInfo {
            reference: r.name,
            names,
            id: r.rec.config.clone(),
            manifest_digest: r.rec.manifest.clone(),
            config: cfg
                .config
                .as_ref()
                .map(|c| c.to_public())
                .unwrap_or_default(),
            architecture: cfg.architecture,
            os: cfg.os,
            diff_ids: r.rec.diff_ids.clone(),
            size: r.rec.size,
            created: r.rec.created.clone(),
        })
    }

    /// Gives the image `src` the additional name `dst`.
    pub fn tag(&self, src: &str, dst: &str) -> Result<ImageSummary, Error> {
        let r = self.resolve(src)?;
        let dst = Reference::parse(dst)?;
        if dst.digest().is_some() {
            return Err(Error::Reference(crate::ReferenceError::Invalid(
                dst.to_string(),
                "a tag target can't carry a digest",
            )));
        }
        let name = dst.to_string();
        let _g = self.commit_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.meta.put_image(std::slice::from_ref(&name), &r.rec)?;
        Ok(summary(&name, &r.rec))
    }

    /// `rmi`: removes the name (or, given an id, every name of that image);
    /// when no name is left the image's blobs and unused layers go too.
    /// Refused while a container snapshot uses the image, unless `force`
    /// (the container keeps its layers until its snapshot is removed).
    pub fn remove(&self, reference: &str, force: bool) -> Result<RemoveReport, Error> {
        let r = self.resolve(reference)?;
        let all = self.meta.images()?;
        let keys: Vec<String> = match &r.name {
            Some(n) => vec![n.clone()],
            None => all
                .iter()
                .filter(|(_, rec)| rec.manifest == r.rec.manifest)
                .map(|(k, _)| k.clone())
                .collect(),
        };
        let other_names = all
            .iter()
            .filter(|(k, rec)| rec.manifest == r.rec.manifest && !keys.contains(k))
            .count();
        let named: Vec<String> = keys
            .iter()
            .filter(|k| !k.starts_with('@'))
            .cloned()
            .collect();
        if r.name.is_none() && named.len() > 1 && !force {
            return Err(Error::ManyNames {
                image: reference.to_string(),
                names: named,
            });
        }
        if other_names == 0 {
            let users = self.snapshot_in_use_digest(&r.rec.manifest)?;
            if !users.is_empty() && !force {
                return Err(Error::InUse {
                    image: reference.to_string(),
                    containers: users,
                });
            }
        }
        let mut report = RemoveReport::default();
        let mut gone = false;
        {
            let _g = self.commit_lock.lock().unwrap_or_else(|e| e.into_inner());
            for k in &keys {
                if let Some((_, still)) = self.meta.remove_name(k)? {
                    if !k.starts_with('@') {
                        report.untagged.push(k.clone());
                    }
                    gone = !still;
                }
            }
        }
        if gone && r.name.is_some() && self.kept_manifests(false)?.contains(&r.rec.manifest) {
            // untagging a parent of a stored image leaves it there, untagged
            let _g = self.commit_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.meta.put_image(&[], &r.rec)?;
            gone = false;
        }
        if gone {
            report.deleted.push(r.rec.config.clone());
            let candidates = image_items(&r.rec);
            self.collect(Some(&candidates))?;
        }
        Ok(report)
    }

    /// `system prune`: removes dangling images (with `all`, every image no
    /// container snapshot uses) except untagged parents of stored images
    /// and build cache entries' images, then every blob and layer nothing references.
    pub fn prune(&self, all: bool) -> Result<PruneReport, Error> {
        self.prune_where(all, &|_, _| true)
    }

    /// [`ImageStore::prune`] of the images `admit` accepts, given their
    /// config's labels and their creation time (RFC 3339) if known.
    pub fn prune_where(&self, all: bool, admit: &PruneAdmit<'_>) -> Result<PruneReport, Error> {
        let in_use: HashSet<Digest> = self
            .meta
            .containers()?
            .into_iter()
            .map(|(_, c)| c.image)
            .collect();
        let kept = self.kept_manifests(true)?;
        let mut report = PruneReport::default();
        {
            let _g = self.commit_lock.lock().unwrap_or_else(|e| e.into_inner());
            for (k, rec) in self.meta.images()? {
                let dangling = k.starts_with('@');
                if in_use.contains(&rec.manifest)
                    || !(all || dangling)
                    || (dangling && kept.contains(&rec.manifest))
                {
                    continue;
                }
                let labels = self
                    .config_of(&rec)
                    .ok()
                    .and_then(|c| c.config)
                    .and_then(|c| c.labels)
                    .unwrap_or_default();
                if !admit(&labels, rec.created.as_deref()) {
                    continue;
                }
                if let Some((_, still)) = self.meta.remove_name(&k)? {
                    if !still {
                        report.images_deleted.push(rec.config.clone());
                    }
                }
            }
        }
        let (blobs, snaps, bytes) = self.collect(None)?;
        report.blobs_deleted = blobs;
        report.snapshots_deleted = snaps;
        report.bytes_reclaimed = bytes;
        Ok(report)
    }

    pub(crate) fn resolve(&self, s: &str) -> Result<Resolved, Error> {
        let not_found = || Error::NotFound(s.to_string());
        let parsed = Reference::parse(s);
        if let Ok(r) = &parsed {
            let name = r.to_string();
            if let Some(rec) = self.meta.image(&name)? {
                return Ok(Resolved {
                    name: Some(name),
                    rec,
                });
            }
            if let Some(d) = r.digest() {
                // name@digest: any image of that repository with that manifest.
                let repo = r.repository();
                for (k, rec) in self.meta.images()? {
                    if &rec.manifest == d
                        && Reference::parse(&k).is_ok_and(|kr| kr.repository() == repo)
                    {
                        return Ok(Resolved { name: None, rec });
                    }
                }
            }
        }
        let hex = s.strip_prefix("sha256:").unwrap_or(s);
        if hex.len() >= 4 && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hex = hex.to_ascii_lowercase();
            let mut found: Option<ImageRecord> = None;
            for (_, rec) in self.meta.images()? {
                if rec.config.hex().starts_with(&hex) || rec.manifest.hex().starts_with(&hex) {
                    match &found {
                        Some(f) if f.manifest != rec.manifest => return Err(not_found()),
                        _ => found = Some(rec),
                    }
                }
            }
            if let Some(rec) = found {
                return Ok(Resolved { name: None, rec });
            }
        }
        match parsed {
            Err(e) if !s.bytes().all(|b| b.is_ascii_hexdigit()) => Err(e.into()),
            _ => Err(not_found()),
        }
    }

    pub(crate) fn config_of(&self, rec: &ImageRecord) -> Result<ImageConfigFile, Error> {
        let data = self.content.read(&rec.config, MAX_DOCUMENT)?;
        Ok(oci::parse(&format!("image config {}", rec.config), &data)?)
    }

    /// Builds the record for an image whose manifest (and everything it
    /// names) is already in the content store.
    pub(crate) fn record_for(
        &self,
        manifest: &Digest,
        media_type: &str,
        index: Option<Digest>,
    ) -> Result<ImageRecord, Error> {
        let data = self.content.read(manifest, MAX_DOCUMENT)?;
        let m: oci::Manifest = oci::parse(&format!("manifest {manifest}"), &data)?;
        let cfg_data = self.content.read(&m.config.digest, MAX_DOCUMENT)?;
        let cfg: ImageConfigFile =
            oci::parse(&format!("image config {}", m.config.digest), &cfg_data)?;
        if cfg.rootfs.diff_ids.len() != m.layers.len() {
            return Err(OciError::LayerCount {
                manifest: manifest.clone(),
                layers: m.layers.len(),
                diff_ids: cfg.rootfs.diff_ids.len(),
            }
            .into());
        }
        let size = m.config.size + m.layers.iter().map(|l| l.size).sum::<u64>();
        Ok(ImageRecord {
            manifest: manifest.clone(),
            media_type: if media_type.is_empty() {
                if m.media_type.is_empty() {
                    oci::OCI_MANIFEST.to_string()
                } else {
                    m.media_type.clone()
                }
            } else {
                media_type.to_string()
            },
            config: m.config.digest.clone(),
            index,
            layers: m.layers.iter().map(|l| l.digest.clone()).collect(),
            diff_ids: cfg.rootfs.diff_ids.clone(),
            size,
            created: cfg.created.clone(),
        })
    }

    /// Unpacks the images' layers (verifying each against its diff id),
    /// then names them all in one transaction. Nothing is visible before.
    pub(crate) fn commit_images(
        &self,
        images: &[(Vec<String>, ImageRecord)],
        lease: &mut Lease<'_>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<ImageSummary>, Error> {
        for (_, rec) in images {
            self.ensure_layers(rec, lease, progress)?;
        }
        let _g = self.commit_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.meta.put_images(images)?;
        let mut out = Vec::new();
        for (names, rec) in images {
            if names.is_empty() {
                out.push(summary(&dangling_key(&rec.manifest), rec));
            }
            out.extend(names.iter().map(|n| summary(n, rec)));
        }
        Ok(out)
    }

    /// Deletes what a failed operation wrote and nothing references.
    pub(crate) fn rollback(&self, lease: Lease<'_>) {
        let items: HashSet<String> = lease.items().iter().cloned().collect();
        drop(lease);
        let _ = self.collect(Some(&items));
    }
}

pub(crate) fn summary(key: &str, r: &ImageRecord) -> ImageSummary {
    ImageSummary {
        name: (!key.starts_with('@')).then(|| key.to_string()),
        id: r.config.clone(),
        manifest_digest: r.manifest.clone(),
        size: r.size,
        created: r.created.clone(),
    }
}

/// Every blob digest and layer chain id an image holds.
pub(crate) fn image_items(r: &ImageRecord) -> HashSet<String> {
    let mut s: HashSet<String> = HashSet::new();
    s.insert(r.manifest.to_string());
    s.insert(r.config.to_string());
    if let Some(i) = &r.index {
        s.insert(i.to_string());
    }
    s.extend(r.layers.iter().map(|d| d.to_string()));
    s.extend(
        crate::digest::chain_ids(&r.diff_ids)
            .iter()
            .map(|d| d.to_string()),
    );
    s
}
