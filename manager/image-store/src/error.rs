//! The store's one public error: which operation failed and why.

use crate::archive::ArchiveError;
use crate::content::ContentError;
use crate::create::CreateError;
use crate::digest::DigestError;
use crate::lineage::LineageError;
use crate::meta::MetaError;
use crate::oci::OciError;
use crate::reference::ReferenceError;
use crate::registry::RegistryError;
use crate::snapshot::SnapshotError;
use crate::unpack::UnpackError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error("no such image: {0}")]
    NotFound(String),
    #[error("image {image} is in use by container snapshot(s) {}", containers.join(", "))]
    InUse {
        image: String,
        containers: Vec<String>,
    },
    #[error("image {image} has several names ({}): remove them by name, or force", names.join(", "))]
    ManyNames { image: String, names: Vec<String> },
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error(transparent)]
    Oci(#[from] OciError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Lineage(#[from] LineageError),
    #[error(transparent)]
    Create(#[from] CreateError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}
