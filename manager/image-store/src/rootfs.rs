//! `import`: a root filesystem tarball becomes a one-layer image with a
//! minimal config, as `docker import` does.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;
use std::time::SystemTime;

use crate::digest::HashingReader;
use crate::oci::{self, Descriptor, ImageConfigFile, Manifest, RootFs, RunConfig};
use crate::progress::{Progress, ProgressAction};
use crate::reference::Reference;
use crate::types::ImageSummary;
use crate::unpack::{decompress, layer_media_type};
use crate::{Error, ImageStore, Lease};

impl ImageStore {
    /// Imports the tar (plain, gzip or zstd) at `tar` as a one-layer image named
    /// `reference` (dangling when `None`). A tarball the unpacker refuses
    /// leaves nothing behind.
    pub fn import_rootfs(
        &self,
        tar: &Path,
        reference: Option<&str>,
        mut progress: impl FnMut(Progress),
    ) -> Result<ImageSummary, Error> {
        let names = match reference {
            Some(r) => vec![Reference::parse(r)?.to_string()],
            None => Vec::new(),
        };
        let mut lease = Lease::new(self);
        let staged = self.stage_rootfs(tar, &mut lease, &mut progress);
        let res =
            staged.and_then(|rec| self.commit_images(&[(names, rec)], &mut lease, &mut progress));
        match res {
            Ok(mut v) => Ok(v.remove(0)),
            Err(e) => {
                self.rollback(lease);
                Err(e)
            }
        }
    }

    fn stage_rootfs(
        &self,
        tar: &Path,
        lease: &mut Lease<'_>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<crate::meta::ImageRecord, Error> {
        let ioe = |e| Error::io(format!("read {}", tar.display()), e);
        let f = File::open(tar).map_err(ioe)?;
        let mut w = self.content.writer()?;
        io::copy(&mut BufReader::new(f), &mut w).map_err(ioe)?;
        let (layer, size) = w.commit(None, None)?;
        lease.add(layer.as_str());
        progress(Progress::new(
            &layer,
            ProgressAction::Downloading,
            size,
            Some(size),
        ));
        let mut r = BufReader::new(self.content.open_blob(&layer)?);
        let media_type = layer_media_type(r.fill_buf().map_err(ioe)?);
        let plain = decompress(r).map_err(ioe)?;
        let (diff_id, _) = HashingReader::new(plain).drain().map_err(ioe)?;
        let now = rfc3339_now();
        let cfg = ImageConfigFile {
            created: Some(now.clone()),
            architecture: "amd64".into(),
            os: "linux".into(),
            config: Some(RunConfig::default()),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![diff_id],
            },
        };
        let mut cfg_json = serde_json::to_value(&cfg).unwrap_or_default();
        cfg_json["history"] = serde_json::json!([{"created": now, "created_by": "berth import", "comment": "Imported from tarball"}]);
        let cfg_data = serde_json::to_vec(&cfg_json).unwrap_or_default();
        let cfg_digest = self.content.put(&cfg_data)?;
        lease.add(cfg_digest.as_str());
        let manifest = Manifest {
            schema_version: 2,
            media_type: oci::OCI_MANIFEST.into(),
            config: Descriptor {
                media_type: oci::OCI_CONFIG.into(),
                digest: cfg_digest,
                size: cfg_data.len() as u64,
                annotations: BTreeMap::new(),
                platform: None,
            },
            layers: vec![Descriptor {
                media_type: media_type.into(),
                digest: layer,
                size,
                annotations: BTreeMap::new(),
                platform: None,
            }],
        };
        let mdata = serde_json::to_vec(&manifest).unwrap_or_default();
        let md = self.content.put(&mdata)?;
        lease.add(md.as_str());
        self.record_for(&md, oci::OCI_MANIFEST, None)
    }
}

/// The current UTC time as RFC 3339 with nanoseconds
/// (`2024-05-01T12:00:00.123456789Z`), as docker writes it: two imports of
/// the same tarball within a second still get different configs.
pub(crate) fn rfc3339_now() -> String {
    rfc3339(SystemTime::now())
}

fn rfc3339(at: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_dates() {
        let at = |secs| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        assert_eq!(super::rfc3339(at(0)), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            super::rfc3339(at(951_782_400)),
            "2000-02-29T00:00:00.000000000Z"
        );
        assert_eq!(
            super::rfc3339(at(1_700_000_000)),
            "2023-11-14T22:13:20.000000000Z"
        );
    }

    #[test]
    fn now_carries_nanoseconds() {
        let now = super::rfc3339_now();
        assert_eq!(now.len(), "2024-05-01T12:00:00.123456789Z".len(), "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[19] == b'.', "{now}");
    }
}
