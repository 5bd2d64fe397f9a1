//! The records the store hands to its callers.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::digest::Digest;

/// One line of `images`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    /// Full name (`docker.io/library/busybox:latest`); `None` for a
    /// dangling image (no name left).
    pub name: Option<String>,
    /// The image id: its config digest, as docker shows it.
    pub id: Digest,
    pub manifest_digest: Digest,
    /// Compressed size of config and layers as stored.
    pub size: u64,
    /// The config's `created` time (RFC 3339), if it has one.
    pub created: Option<String>,
}

/// What the runtime side needs from an image config, plus its identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    /// `"80/tcp"` style keys.
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
    /// docker's `Healthcheck` object, as JSON text.
    pub healthcheck: Option<String>,
}

/// `get`: one image in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The name it was found under (full form), or `None` when looked up by id.
    pub reference: Option<String>,
    /// Every name pointing at the same manifest.
    pub names: Vec<String>,
    pub id: Digest,
    pub manifest_digest: Digest,
    pub config: ImageConfig,
    pub architecture: String,
    pub os: String,
    /// Uncompressed layer digests (the config's `rootfs.diff_ids`).
    pub diff_ids: Vec<Digest>,
    pub size: u64,
    pub created: Option<String>,
}

/// Registry access for pull and push.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Speak plain HTTP to every registry.
    pub plain_http: bool,
    /// Speak plain HTTP to these `host:port` registries only (e.g. a loopback registry).
    pub insecure_http_hosts: Vec<String>,
    /// Basic credentials; anonymous when `None`.
    pub auth: Option<(String, String)>,
    /// Extra CA certificates (PEM) the registry's TLS certificate may
    /// chain to (docker's `certs.d/<host>/ca.crt`).
    pub ca_pems: Vec<Vec<u8>>,
}

pub type PullOptions = RegistryOptions;
pub type PushOptions = RegistryOptions;

/// One mount, in the shape containerd's task API carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Filesystem type, e.g. `overlay`.
    pub kind: String,
    pub source: String,
    /// Empty: the root of the container.
    pub target: String,
    pub options: Vec<String>,
}

/// The mounts that build a container's root filesystem, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsMounts {
    pub mounts: Vec<Mount>,
}

/// A container's writable snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub key: String,
    /// Manifest digest of the image it was prepared from.
    pub image: Digest,
    /// The name it was prepared from, if any.
    pub image_name: Option<String>,
    pub upper_dir: PathBuf,
    pub work_dir: PathBuf,
}

/// What `remove` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoveReport {
    pub untagged: Vec<String>,
    /// Image ids (config digests) whose last name went and whose content was deleted.
    pub deleted: Vec<Digest>,
}

/// What `prune` freed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub images_deleted: Vec<Digest>,
    pub blobs_deleted: usize,
    pub snapshots_deleted: usize,
    pub bytes_reclaimed: u64,
}
