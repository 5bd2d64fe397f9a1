//! OCI image-spec (and Docker v2) documents: just the fields berth reads,
//! everything else kept as-is in the stored blobs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::types::ImageConfig;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Largest manifest, index or config berth parses.
pub const MAX_DOCUMENT: u64 = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("{what} is not valid JSON of its kind: {source}")]
    Json {
        what: String,
        source: serde_json::Error,
    },
    #[error("{0} has unsupported media type {1:?}")]
    MediaType(String, String),
    #[error("index {0} has no linux/amd64 manifest")]
    NoPlatform(Digest),
    #[error("image {manifest}: {layers} layers but {diff_ids} diff ids in its config")]
    LayerCount {
        manifest: Digest,
        layers: usize,
        diff_ids: usize,
    },
}

pub(crate) fn parse<T: for<'de> Deserialize<'de>>(what: &str, data: &[u8]) -> Result<T, OciError> {
    serde_json::from_slice(data).map_err(|source| OciError::Json {
        what: what.to_string(),
        source,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(
        rename = "mediaType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub media_type: String,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(
        rename = "mediaType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub media_type: String,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// Just enough of a document to tell a manifest from an index.
#[derive(Debug, Deserialize)]
struct Probe {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    config: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Manifest,
    Index,
}

/// What a manifest-or-index document is, from its descriptor's media type
/// or, failing that, its own `mediaType` and shape.
pub(crate) fn doc_kind(what: &str, media_type: &str, data: &[u8]) -> Result<DocKind, OciError> {
    let probe: Probe = parse(what, data)?;
    let mt = if media_type.is_empty() {
        probe.media_type.as_str()
    } else {
        media_type
    };
    match mt {
        OCI_MANIFEST | DOCKER_MANIFEST => Ok(DocKind::Manifest),
        OCI_INDEX | DOCKER_LIST => Ok(DocKind::Index),
        "" if probe.manifests.is_some() => Ok(DocKind::Index),
        "" if probe.config.is_some() => Ok(DocKind::Manifest),
        other => Err(OciError::MediaType(what.to_string(), other.to_string())),
    }
}

/// The host platform's entry of an index.
pub(crate) fn pick_platform<'a>(
    index_digest: &Digest,
    index: &'a Index,
) -> Result<&'a Descriptor, OciError> {
    index
        .manifests
        .iter()
        .find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
        })
        .ok_or_else(|| OciError::NoPlatform(index_digest.clone()))
}

pub(crate) fn is_layer_media_type(mt: &str) -> bool {
    mt.starts_with("application/vnd.oci.image.layer.")
        || mt.starts_with("application/vnd.docker.image.rootfs.")
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// The image config (`application/vnd.oci.image.config.v1+json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImageConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RunConfig>,
    #[serde(default)]
    pub rootfs: RootFs,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunConfig {
    #[serde(rename = "Env", default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(
        rename = "Entrypoint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(
        rename = "WorkingDir",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub working_dir: Option<String>,
    #[serde(rename = "User", default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(
        rename = "ExposedPorts",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(rename = "Volumes", default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(rename = "Labels", default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(
        rename = "StopSignal",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_signal: Option<String>,
    /// docker's `HEALTHCHECK` (not in the OCI spec, kept as it is).
    #[serde(
        rename = "Healthcheck",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub healthcheck: Option<serde_json::Value>,
}

impl RunConfig {
    pub(crate) fn to_public(&self) -> ImageConfig {
        ImageConfig {
            env: self.env.clone().unwrap_or_default(),
            entrypoint: self.entrypoint.clone(),
            cmd: self.cmd.clone(),
            working_dir: self.working_dir.clone().filter(|s| !s.is_empty()),
            user: self.user.clone().filter(|s| !s.is_empty()),
            exposed_ports: self
                .exposed_ports
                .as_ref()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
            volumes: self
                .volumes
                .as_ref()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
            labels: self.labels.clone().unwrap_or_default(),
            stop_signal: self.stop_signal.clone().filter(|s| !s.is_empty()),
            healthcheck: self
                .healthcheck
                .as_ref()
                .filter(|h| h.is_object())
                .map(|h| h.to_string()),
        }
    }
}

/// One entry of a `docker save` archive's `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DockerArchiveEntry {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    pub layers: Vec<String>,
}

/// `oci-layout`.
#[derive(Debug, Serialize, Deserialize)]
pub struct OciLayout {
    #[serde(rename = "imageLayoutVersion")]
    pub image_layout_version: String,
}
