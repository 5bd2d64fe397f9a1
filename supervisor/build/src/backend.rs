//! What the build driver needs from the manager, as a trait: the CLI and
//! the API pass the real client, unit tests a fake.  Also the output sink
//! the driver writes docker's classic builder lines to.

use std::path::PathBuf;

use serde_json::Value;

/// A manager call failed; the message says what and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BackendError {
    pub message: String,
    /// the thing asked for does not exist (image, cache entry)
    pub not_found: bool,
}

impl BackendError {
    pub fn new(message: impl Into<String>) -> BackendError {
        BackendError {
            message: message.into(),
            not_found: false,
        }
    }

    pub fn not_found(message: impl Into<String>) -> BackendError {
        BackendError {
            message: message.into(),
            not_found: true,
        }
    }
}

/// An image: its id (`sha256:…`, empty for scratch) and its `config` object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Image {
    pub id: String,
    pub config: Value,
}

/// A new image on top of `parent` (empty = scratch), with a layer from
/// `layer_tar` (an uncompressed tar on the host) or none.
#[derive(Debug, Clone, PartialEq)]
pub struct NewImage {
    pub parent: String,
    pub config: Value,
    pub created_by: String,
    pub layer_tar: Option<PathBuf>,
}

/// A RUN step's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStep {
    pub image: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
    pub user: String,
    /// "none" or "host"
    pub network: String,
    /// `berth.build=<build id>`
    pub labels: Vec<(String, String)>,
}

/// An image's filesystem, mounted read-only on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountedImage {
    pub path: PathBuf,
    /// what `release` needs to undo it
    pub token: String,
}

/// The manager, as the build driver uses it.
#[async_trait::async_trait(?Send)]
pub trait Backend: Send + Sync {
    /// An image by reference or id; `pull` fetches it even when present.
    async fn image(&self, reference: &str, pull: bool) -> Result<Image, BackendError>;
    /// The id of the image a build cache key maps to, if it is still there.
    async fn cached(&self, key: &str) -> Result<Option<String>, BackendError>;
    async fn remember(&self, key: &str, image_id: &str) -> Result<(), BackendError>;
    async fn create_image(&self, req: NewImage) -> Result<Image, BackendError>;
    /// Creates (does not start) a RUN step's container; returns its id.
    async fn create_container(&self, step: &RunStep) -> Result<String, BackendError>;
    /// Starts the container, streams its output into `out` as it comes,
    /// and returns its exit code.
    async fn run_container(&self, id: &str, out: &mut dyn Output) -> Result<i32, BackendError>;
    /// The container's changes as a new image with `config`.
    async fn commit(
        &self,
        id: &str,
        config: &Value,
        created_by: &str,
    ) -> Result<Image, BackendError>;
    async fn remove_container(&self, id: &str) -> Result<(), BackendError>;
    async fn mount_image(&self, image_id: &str) -> Result<MountedImage, BackendError>;
    async fn release(&self, m: MountedImage) -> Result<(), BackendError>;
    async fn tag(&self, image_id: &str, reference: &str) -> Result<(), BackendError>;
}

/// Where the build's output goes: the CLI prints it, the API streams it.
pub trait Output: Send {
    /// One line of the builder's own (`Step 1/7 : …`, ` ---> …`).
    fn line(&mut self, text: &str);
    /// Output of a RUN step's process, as it comes.
    fn process(&mut self, stderr: bool, text: &str);
}

/// Collects everything, for tests and for `-q`.
#[derive(Debug, Default, Clone)]
pub struct Captured {
    pub text: String,
}

impl Output for Captured {
    fn line(&mut self, text: &str) {
        self.text.push_str(text);
        self.text.push('\n');
    }

    fn process(&mut self, _stderr: bool, text: &str) {
        self.text.push_str(text);
    }
}
