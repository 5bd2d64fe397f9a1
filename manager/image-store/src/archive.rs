//! Image archives: import of OCI layouts, OCI archives and `docker save`
//! archives (auto-detected), and `save`, which writes both forms in one
//! tar as docker ≥ 25 does, so docker, podman and berth all load it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::meta::ImageRecord;
use crate::oci::{self, Descriptor, DocKind, DockerArchiveEntry, Index, Manifest, OciLayout};
use crate::progress::{Progress, ProgressAction};
use crate::reference::Reference;
use crate::types::ImageSummary;
use crate::{Error, ImageStore, Lease};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{0}: neither an OCI layout (oci-layout + index.json) nor a docker save archive (manifest.json)")]
    UnknownFormat(PathBuf),
    #[error("{archive}: missing {name}")]
    Missing { archive: PathBuf, name: String },
    #[error("{archive}: entry {name:?} escapes the archive")]
    Escape { archive: PathBuf, name: String },
    #[error("{archive}: unsupported oci-layout version {version:?}")]
    LayoutVersion { archive: PathBuf, version: String },
    #[error("{archive}: layer {name} has digest {actual}, but its image config says {expected}")]
    LayerDiffId {
        archive: PathBuf,
        name: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{archive}: {what}")]
    Invalid { archive: PathBuf, what: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where an archive's files come from: a tar (indexed once, then read by
/// seeking) or a directory.
trait Source {
    fn label(&self) -> &Path;
    fn open(&self, name: &str) -> Result<(Box<dyn Read + '_>, u64), ArchiveError>;
    fn has(&self, name: &str) -> bool;

    fn read_small(&self, name: &str) -> Result<Vec<u8>, ArchiveError> {
        let (r, size) = self.open(name)?;
        if size > oci::MAX_DOCUMENT {
            return Err(ArchiveError::Invalid {
                archive: self.label().to_path_buf(),
                what: format!("{name} is larger than {} bytes", oci::MAX_DOCUMENT),
            });
        }
        let mut v = Vec::with_capacity(size as usize);
        r.take(oci::MAX_DOCUMENT)
            .read_to_end(&mut v)
            .map_err(io_at(self.label()))?;
        Ok(v)
    }
}

struct DirSource {
    dir: PathBuf,
}

impl Source for DirSource {
    fn label(&self) -> &Path {
        &self.dir
    }
    fn open(&self, name: &str) -> Result<(Box<dyn Read + '_>, u64), ArchiveError> {
        let rel = normalize(name).ok_or_else(|| ArchiveError::Escape {
            archive: self.dir.clone(),
            name: name.to_string(),
        })?;
        let p = self.dir.join(rel);
        let f = File::open(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                ArchiveError::Missing {
                    archive: self.dir.clone(),
                    name: name.to_string(),
                }
            } else {
                io_at(&p)(e)
            }
        })?;
        let size = f.metadata().map_err(io_at(&p))?.len();
        Ok((Box::new(BufReader::new(f)), size))
    }
    fn has(&self, name: &str) -> bool {
        normalize(name).is_some_and(|n| self.dir.join(n).is_file())
    }
}

struct TarSource {
    path: PathBuf,
    /// The (possibly decompressed) tar file read from.
    file: PathBuf,
    /// Regular files: name → (data offset, size).
    files: HashMap<String, (u64, u64)>,
    /// Symlinks and hard links: name → target name (archive-relative).
    links: HashMap<String, String>,
    _decompressed: Option<tempfile::NamedTempFile>,
}

impl TarSource {
    fn index(path: &Path, scratch: &Path) -> Result<TarSource, ArchiveError> {
        let mut f = File::open(path).map_err(io_at(path))?;
        let mut magic = [0u8; 2];
        let n = f.read(&mut magic).map_err(io_at(path))?;
        f.seek(SeekFrom::Start(0)).map_err(io_at(path))?;
        // A gzipped archive can't be read by seeking: decompress it once.
        let (file, tmp) = if n == 2 && magic == [0x1f, 0x8b] {
            let mut t = tempfile::NamedTempFile::new_in(scratch).map_err(io_at(scratch))?;
            io::copy(
                &mut flate2::read::MultiGzDecoder::new(BufReader::new(f)),
                &mut t,
            )
            .map_err(io_at(path))?;
            (t.path().to_path_buf(), Some(t))
        } else {
            (path.to_path_buf(), None)
        };
        let mut files = HashMap::new();
        let mut links = HashMap::new();
        let rd = File::open(&file).map_err(io_at(&file))?;
        let mut ar = tar::Archive::new(BufReader::new(rd));
        let tar_err = |e| io_at(path)(crate::unpack::one_line(e));
        for e in ar.entries().map_err(tar_err)? {
            let e = e.map_err(tar_err)?;
            let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let Some(name) = normalize(&raw) else {
                return Err(ArchiveError::Escape {
                    archive: path.to_path_buf(),
                    name: raw,
                });
            };
            if name.is_empty() {
                continue;
            }
            match e.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    files.insert(name, (e.raw_file_position(), e.size()));
                }
                kind @ (tar::EntryType::Symlink | tar::EntryType::Link) => {
                    let t = e
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    // A symlink is relative to its own directory, a hard link to the root.
                    let joined = match (kind, name.rsplit_once('/')) {
                        (tar::EntryType::Symlink, Some((dir, _))) if !t.starts_with('/') => {
                            format!("{dir}/{t}")
                        }
                        _ => t.clone(),
                    };
                    if let Some(target) = normalize(&joined).filter(|t| !t.is_empty()) {
                        links.insert(name, target);
                    }
                }
                _ => {}
            }
        }
        Ok(TarSource {
            path: path.to_path_buf(),
            file,
            files,
            links,
            _decompressed: tmp,
        })
    }

    fn lookup(&self, name: &str) -> Option<(u64, u64)> {
        let mut n = normalize(name)?;
        for _ in 0..16 {
            if let Some(v) = self.files.get(&n) {
                return Some(*v);
            }
            n = self.links.get(&n)?.clone();
        }
        None
    }
}

impl Source for TarSource {
    fn label(&self) -> &Path {
        &self.path
    }
    fn open(&self, name: &str) -> Result<(Box<dyn Read + '_>, u64), ArchiveError> {
        let (off, size) = self.lookup(name).ok_or_else(|| ArchiveError::Missing {
            archive: self.path.clone(),
            name: name.to_string(),
        })?;
        let mut f = File::open(&self.file).map_err(io_at(&self.file))?;
        f.seek(SeekFrom::Start(off)).map_err(io_at(&self.file))?;
        Ok((Box::new(BufReader::new(f).take(size)), size))
    }
    fn has(&self, name: &str) -> bool {
        self.lookup(name).is_some()
    }
}

/// An archive-relative name with `.` and empty components dropped (`""` for
/// the archive root); `None` if `..` would leave the archive.
fn normalize(name: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

/// The digest a `blobs/sha256/<hex>` name promises.
fn digest_in_name(name: &str) -> Option<Digest> {
    normalize(name)?
        .strip_prefix("blobs/sha256/")
        .and_then(|h| Digest::parse(&format!("sha256:{h}")).ok())
}

fn blob_name(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

impl ImageStore {
    /// `load -i`: imports every image in an OCI archive or a `docker save`
    /// archive (plain or gzipped tar). All-or-nothing: on any error nothing
    /// new stays in the store.
    pub fn import_archive(
        &self,
        path: &Path,
        mut progress: impl FnMut(Progress),
    ) -> Result<Vec<ImageSummary>, Error> {
        let src = TarSource::index(path, &self.tmp)?;
        self.import_source(&src, &mut progress)
    }

    /// Imports every image of an OCI image layout directory.
    pub fn import_layout(
        &self,
        dir: &Path,
        mut progress: impl FnMut(Progress),
    ) -> Result<Vec<ImageSummary>, Error> {
        let src = DirSource {
            dir: dir.to_path_buf(),
        };
        self.import_source(&src, &mut progress)
    }

    fn import_source(
        &self,
        src: &dyn Source,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<ImageSummary>, Error> {
        let mut lease = Lease::new(self);
        let staged = match self.stage_source(src, &mut lease, progress) {
            Ok(s) => s,
            Err(e) => {
                self.rollback(lease);
                return Err(e);
            }
        };
        match self.commit_images(&staged, &mut lease, progress) {
            Ok(out) => Ok(out),
            Err(e) => {
                self.rollback(lease);
                Err(e)
            }
        }
    }

    /// Verifies and stores every blob of every image in `src`; returns each
    /// image's names and record, not yet committed.
    fn stage_source(
        &self,
        src: &dyn Source,
        lease: &mut Lease<'_>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<(Vec<String>, ImageRecord)>, Error> {
        let docker_tags = if src.has("manifest.json") {
            Some(self.docker_manifest(src)?)
        } else {
            None
        };
        if src.has("index.json") {
            let mut staged = self.stage_oci(src, lease, progress)?;
            // docker ≥ 25 puts the names in manifest.json only.
            if let Some(entries) = &docker_tags {
                for (names, rec) in staged.iter_mut() {
                    for e in entries {
                        if e.config.trim_start_matches("./") == blob_name(&rec.config) {
                            for t in e.repo_tags.iter().flatten() {
                                let full = Reference::parse(t)?.to_string();
                                if !names.contains(&full) {
                                    names.push(full);
                                }
                            }
                        }
                    }
                }
            }
            return Ok(staged);
        }
        if let Some(entries) = docker_tags {
            return entries
                .iter()
                .map(|e| self.stage_docker_entry(src, e, lease, progress))
                .collect();
        }
        Err(ArchiveError::UnknownFormat(src.label().to_path_buf()).into())
    }

    fn docker_manifest(&self, src: &dyn Source) -> Result<Vec<DockerArchiveEntry>, Error> {
        let data = src.read_small("manifest.json")?;
        Ok(oci::parse(
            &format!("{}: manifest.json", src.label().display()),
            &data,
        )?)
    }

    fn stage_oci(
        &self,
        src: &dyn Source,
        lease: &mut Lease<'_>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<(Vec<String>, ImageRecord)>, Error> {
        let label = src.label().to_path_buf();
        let layout: OciLayout = oci::parse(
            &format!("{}: oci-layout", label.display()),
            &src.read_small("oci-layout")?,
        )?;
        if !layout.image_layout_version.starts_with("1.") {
            return Err(ArchiveError::LayoutVersion {
                archive: label,
                version: layout.image_layout_version,
            }
            .into());
        }
        let index: Index = oci::parse(
            &format!("{}: index.json", label.display()),
            &src.read_small("index.json")?,
        )?;
        let mut staged: Vec<(Vec<String>, ImageRecord)> = Vec::new();
        for desc in &index.manifests {
            let mut names = Vec::new();
            if let Some(n) = desc.annotations.get(oci::ANNOTATION_CONTAINERD_NAME) {
                names.push(Reference::parse(n)?.to_string());
            }
            if let Some(n) = desc.annotations.get(oci::ANNOTATION_REF_NAME) {
                // A bare tag ("latest") names nothing on its own.
                if n.contains('/') || n.contains(':') {
                    if let Ok(r) = Reference::parse(n) {
                        let full = r.to_string();
                        if !names.contains(&full) {
                            names.push(full);
                        }
                    }
                }
            }
            let rec = self.stage_oci_image(src, desc, lease, progress)?;
            match staged.iter_mut().find(|(_, r)| r.manifest == rec.manifest) {
                Some((n, _)) => {
                    for x in names {
                        if !n.contains(&x) {
                            n.push(x);
                        }
                    }
                }
                None => staged.push((names, rec)),
            }
        }
        Ok(staged)
    }

    fn ingest_from(
        &self,
        src: &dyn Source,
        desc: &Descriptor,
        lease: &mut Lease<'_>,
        progress: &mut dyn FnMut(Progress),
        layer: bool,
    ) -> Result<(), Error> {
        lease.add(desc.digest.as_str());
        if self.content.exists(&desc.digest) {
            if layer {
                progress(Progress::new(
                    &desc.digest,
                    ProgressAction::AlreadyExists,
                    desc.size,
                    Some(desc.size),
                ));
            }
            return Ok(());
        }
        let (mut r, _) = src.open(&blob_name(&desc.digest))?;
        let total = Some(desc.size);
        let d = &desc.digest;
        self.content.ingest(&mut r, d, Some(desc.size), |n| {
            if layer {
                progress(Progress::new(d, ProgressAction::Downloading, n, total));
            }
        })?;
        Ok(())
    }

    fn stage_oci_image(
        &self,
        src: &dyn Source,
        desc: &Descriptor,
        lease: &mut Lease<'_>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<ImageRecord, Error> {
        self.ingest_from(src, desc, lease, progress, false)?;
        let data = self.content.read(&desc.digest, oci::MAX_DOCUMENT)?;
        let what = format!("{}: {}", src.label().display(), desc.digest);
        let (manifest, index) = match oci::doc_kind(&what, &desc.media_type, &data)? {
            DocKind::Manifest => (desc.clone(), None),
            DocKind::Index => {
                let idx: Index = oci::parse(&what, &data)?;
                let m = oci::pick_platform(&desc.digest, &idx)?.clone();
                self.ingest_from(src, &m, lease, progress, false)?;
                (m, Some(desc.digest.clone()))
            }
        };
        let data = self.content.read(&manifest.digest, oci::MAX_DOCUMENT)?;
        let m: Manifest = oci::parse(&format!("manifest {}", manifest.digest), &data)?;
        self.ingest_from(src, &m.config, lease, progress, false)?;
        for l in &m.layers {
            self.ingest_from(src, l, lease, progress, true)?;
        }
        let mt = if manifest.media_type.is_empty() {
            m.media_type.as_str()
        } else {
            manifest.media_type.as_str()
        };
        self.record_for(&manifest.digest, mt, index)
    }

    /// A legacy `docker save` image: config and layer tars by path; the
    /// manifest is made here.
    fn stage_docker_entry(
        &self,
        src: &dyn Source,
        e: &DockerArchiveEntry,
        lease: &mut Lease<'_>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(Vec<String>, ImageRecord), Error> {
        let label = src.label().to_path_buf();
        let cfg_data = src.read_small(&e.config)?;
        let cfg_digest = Digest::of(&cfg_data);
        if let Some(named) = digest_in_name(&e.config) {
            if named != cfg_digest {
                return Err(crate::ContentError::DigestMismatch {
                    expected: named,
                    actual: cfg_digest,
                    size: cfg_data.len() as u64,
                }
                .into());
            }
        }
        lease.add(cfg_digest.as_str());
        self.content.put(&cfg_data)?;
        let cfg: oci::ImageConfigFile =
            oci::parse(&format!("{}: {}", label.display(), e.config), &cfg_data)?;
        if cfg.rootfs.diff_ids.len() != e.layers.len() {
            return Err(ArchiveError::Invalid {
                archive: label,
                what: format!(
                    "{} lists {} layers but its config has {} diff ids",
                    e.config,
                    e.layers.len(),
                    cfg.rootfs.diff_ids.len()
                ),
            }
            .into());
        }
        let mut layers = Vec::new();
        for (i, name) in e.layers.iter().enumerate() {
            let (r, size) = src.open(name)?;
            let mut r = BufReader::new(r);
            let media_type = crate::unpack::layer_media_type(r.fill_buf().map_err(io_at(&label))?);
            let compressed = media_type != oci::OCI_LAYER;
            // A layer stored by digest must have that digest; a plain
            // layer must be its own diff id.
            let by_name = digest_in_name(name);
            let expected =
                by_name.or_else(|| (!compressed).then(|| cfg.rootfs.diff_ids[i].clone()));
            let mut w = self.content.writer()?;
            io::copy(&mut r, &mut w).map_err(io_at(&label))?;
            let (digest, n) = match w.commit(expected.as_ref(), Some(size)) {
                Ok(x) => x,
                Err(crate::ContentError::DigestMismatch { actual, .. }) if expected.is_some() => {
                    return Err(ArchiveError::LayerDiffId {
                        archive: label,
                        name: name.clone(),
                        expected: expected.unwrap_or_else(|| actual.clone()),
                        actual,
                    }
                    .into())
                }
                Err(err) => return Err(err.into()),
            };
            lease.add(digest.as_str());
            progress(Progress::new(
                &digest,
                ProgressAction::Downloading,
                n,
                Some(n),
            ));
            if !compressed && digest != cfg.rootfs.diff_ids[i] {
                return Err(ArchiveError::LayerDiffId {
                    archive: label,
                    name: name.clone(),
                    expected: cfg.rootfs.diff_ids[i].clone(),
                    actual: digest,
                }
                .into());
            }
            layers.push(Descriptor {
                media_type: media_type.to_string(),
                digest,
                size: n,
                annotations: BTreeMap::new(),
                platform: None,
            });
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: oci::OCI_MANIFEST.to_string(),
            config: Descriptor {
                media_type: oci::OCI_CONFIG.to_string(),
                digest: cfg_digest,
                size: cfg_data.len() as u64,
                annotations: BTreeMap::new(),
                platform: None,
            },
            layers,
        };
        let mdata = serde_json::to_vec(&manifest).map_err(|e| oci::OciError::Json {
            what: "generated manifest".into(),
            source: e,
        })?;
        let md = self.content.put(&mdata)?;
        lease.add(md.as_str());
        let mut names = Vec::new();
        for t in e.repo_tags.iter().flatten() {
            let full = Reference::parse(t)?.to_string();
            if !names.contains(&full) {
                names.push(full);
            }
        }
        let rec = self.record_for(&md, oci::OCI_MANIFEST, None)?;
        Ok((names, rec))
    }

    /// `save -o`: writes the images to `out` as one tar holding both an OCI
    /// layout and docker's `manifest.json`. The file appears only complete.
    pub fn save(&self, references: &[&str], out: &Path) -> Result<(), Error> {
        let mut images = Vec::new();
        for r in references {
            images.push(self.resolve(r)?);
        }
        let dir = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::NamedTempFile::new_in(&dir)
            .map_err(|e| Error::io(format!("create temp file in {}", dir.display()), e))?;
        let w = io::BufWriter::new(tmp);
        let mut b = tar::Builder::new(w);
        let mut written: HashSet<Digest> = HashSet::new();
        let mut index = Index {
            schema_version: 2,
            media_type: oci::OCI_INDEX.to_string(),
            manifests: Vec::new(),
        };
        let mut docker: Vec<DockerArchiveEntry> = Vec::new();
        let werr = |e: io::Error| Error::io(format!("write {}", out.display()), e);
        add_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(werr)?;
        add_dir(&mut b, "blobs/").map_err(werr)?;
        add_dir(&mut b, "blobs/sha256/").map_err(werr)?;
        for img in &images {
            let rec = &img.rec;
            let mut blobs = vec![rec.manifest.clone(), rec.config.clone()];
            blobs.extend(rec.layers.iter().cloned());
            for d in blobs {
                if written.insert(d.clone()) {
                    let mut f = self.content.open_blob(&d)?;
                    let size = f.metadata().map_err(werr)?.len();
                    let mut h = blob_header(size);
                    b.append_data(&mut h, blob_name(&d), &mut f).map_err(werr)?;
                }
            }
            let name = match &img.name {
                Some(n) => Some(Reference::parse(n)?),
                None => None,
            };
            let mut annotations = BTreeMap::new();
            if let Some(n) = &name {
                annotations.insert(oci::ANNOTATION_CONTAINERD_NAME.to_string(), n.to_string());
                if let Some(t) = n.tag() {
                    annotations.insert(oci::ANNOTATION_REF_NAME.to_string(), t.to_string());
                }
            }
            index.manifests.push(Descriptor {
                media_type: rec.media_type.clone(),
                digest: rec.manifest.clone(),
                size: self.content.size(&rec.manifest)?,
                annotations,
                platform: None,
            });
            let cfg = blob_name(&rec.config);
            let tag = name.filter(|n| n.tag().is_some()).map(|n| n.familiar());
            match docker.iter_mut().find(|e| e.config == cfg) {
                Some(e) => e.repo_tags.get_or_insert_with(Vec::new).extend(tag),
                None => docker.push(DockerArchiveEntry {
                    config: cfg,
                    repo_tags: Some(tag.into_iter().collect()),
                    layers: rec.layers.iter().map(blob_name).collect(),
                }),
            }
        }
        let idx = serde_json::to_vec(&index).unwrap_or_default();
        add_bytes(&mut b, "index.json", &idx).map_err(werr)?;
        let man = serde_json::to_vec(&docker).unwrap_or_default();
        add_bytes(&mut b, "manifest.json", &man).map_err(werr)?;
        let w = b.into_inner().map_err(werr)?;
        let tmp = w.into_inner().map_err(|e| werr(e.into_error()))?;
        tmp.as_file().sync_all().map_err(werr)?;
        tmp.persist(out).map_err(|e| werr(e.error))?;
        crate::content::sync_dir(&dir).map_err(werr)?;
        Ok(())
    }
}

fn blob_header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o444);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn add_bytes<W: Write>(b: &mut tar::Builder<W>, name: &str, data: &[u8]) -> io::Result<()> {
    let mut h = blob_header(data.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, name, data)
}

fn add_dir<W: Write>(b: &mut tar::Builder<W>, name: &str) -> io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_mtime(0);
    b.append_data(&mut h, name, io::empty())
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use crate::{Digest, ImageStore};
    use std::fs;

    #[test]
    fn names_stay_inside() {
        assert_eq!(
            normalize("./blobs/sha256/ab").as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(normalize("a/../b").as_deref(), Some("b"));
        assert_eq!(normalize("../x"), None);
        assert_eq!(normalize("a/../../x"), None);
        assert_eq!(normalize("./").as_deref(), Some(""));
    }

    fn add(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data).unwrap();
    }

    fn add_link(b: &mut tar::Builder<Vec<u8>>, name: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Symlink);
        b.append_link(&mut h, name, target).unwrap();
    }

    /// A pre-25 `docker save` archive: `<id>/layer.tar` per layer (the
    /// second a symlink to the first, as docker writes repeated layers),
    /// `<config hex>.json`, and `manifest.json`.
    fn legacy_archive(layer: &[u8]) -> Vec<u8> {
        let diff = Digest::of(layer);
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["{diff}","{diff}"]}}}}"#
        );
        let cd = Digest::of(config.as_bytes());
        let manifest = format!(
            r#"[{{"Config":"{}.json","RepoTags":["legacy:old"],"Layers":["aaa/layer.tar","bbb/layer.tar"]}}]"#,
            cd.hex()
        );
        let mut b = tar::Builder::new(Vec::new());
        add(&mut b, "aaa/layer.tar", layer);
        add_link(&mut b, "bbb/layer.tar", "../aaa/layer.tar");
        add(&mut b, &format!("{}.json", cd.hex()), config.as_bytes());
        add(&mut b, "manifest.json", manifest.as_bytes());
        b.into_inner().unwrap()
    }

    fn root_only() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            panic!("unpacking layers needs root (ownership, device nodes)");
        }
    }

    #[test]
    fn legacy_docker_archive_loads() {
        root_only();
        let mut lb = tar::Builder::new(Vec::new());
        add(&mut lb, "etc/hostname", b"legacy\n");
        let layer = lb.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&dir.path().join("s")).unwrap();
        let path = dir.path().join("legacy.tar");
        fs::write(&path, legacy_archive(&layer)).unwrap();
        let got = store.import_archive(&path, |_| {}).unwrap();
        assert_eq!(got[0].name.as_deref(), Some("docker.io/library/legacy:old"));
        let info = store.get("legacy:old").unwrap();
        assert_eq!(info.config.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(info.diff_ids.len(), 2);
    }

    #[test]
    fn legacy_docker_archive_with_write_through_absolute_symlink_is_refused() {
        root_only();
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let mut lb = tar::Builder::new(Vec::new());
        add_link(&mut lb, "evil", outside.to_str().unwrap());
        add(&mut lb, "evil/passwd", b"root::0:0::/:/bin/sh\n");
        let layer = lb.into_inner().unwrap();
        let store = ImageStore::open(&dir.path().join("s")).unwrap();
        let path = dir.path().join("legacy.tar");
        fs::write(&path, legacy_archive(&layer)).unwrap();
        let e = store.import_archive(&path, |_| {}).unwrap_err();
        assert!(e.to_string().contains("through a symlink"), "{e}");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        assert!(store.list().unwrap().is_empty());
        assert_eq!(
            fs::read_dir(dir.path().join("s/blobs/sha256"))
                .unwrap()
                .count(),
            0
        );
    }
}
