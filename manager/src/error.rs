//! The manager's request-level error: what went wrong, and which ttrpc
//! status code the front end sees for it.

use ttrpc::Code;

/// An error a request fails with; its message is one docker-like line.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, ManagerError>;

impl ManagerError {
    /// The ttrpc status code the front end branches on.
    pub fn code(&self) -> Code {
        match self {
            ManagerError::NotFound(_) => Code::NOT_FOUND,
            ManagerError::AlreadyExists(_) => Code::ALREADY_EXISTS,
            ManagerError::InvalidArgument(_) => Code::INVALID_ARGUMENT,
            ManagerError::FailedPrecondition(_) => Code::FAILED_PRECONDITION,
            ManagerError::Unavailable(_) => Code::UNAVAILABLE,
            ManagerError::Internal(_) => Code::INTERNAL,
        }
    }

    pub fn internal(what: impl std::fmt::Display) -> ManagerError {
        ManagerError::Internal(what.to_string())
    }
}

impl From<ManagerError> for ttrpc::Error {
    fn from(e: ManagerError) -> ttrpc::Error {
        ttrpc::Error::RpcStatus(ttrpc::get_status(e.code(), e.to_string()))
    }
}

impl From<crate::store::StoreError> for ManagerError {
    fn from(e: crate::store::StoreError) -> ManagerError {
        e.into_manager()
    }
}

impl From<crate::shim::ShimError> for ManagerError {
    fn from(e: crate::shim::ShimError) -> ManagerError {
        use crate::shim::ShimError;
        match &e {
            ShimError::Rpc { source, .. } => match source {
                ttrpc::Error::RpcStatus(s) => {
                    let msg = e.to_string();
                    match s.code() {
                        Code::NOT_FOUND => ManagerError::NotFound(msg),
                        Code::FAILED_PRECONDITION => ManagerError::FailedPrecondition(msg),
                        Code::INVALID_ARGUMENT => ManagerError::InvalidArgument(msg),
                        Code::ALREADY_EXISTS => ManagerError::AlreadyExists(msg),
                        _ => ManagerError::Internal(msg),
                    }
                }
                _ => ManagerError::Unavailable(e.to_string()),
            },
            ShimError::Connect { .. } => ManagerError::Unavailable(e.to_string()),
            _ => ManagerError::Internal(e.to_string()),
        }
    }
}

impl From<crate::bundle::BundleError> for ManagerError {
    fn from(e: crate::bundle::BundleError) -> ManagerError {
        use crate::bundle::BundleError;
        match e {
            BundleError::BadSpec(_) => ManagerError::InvalidArgument(e.to_string()),
            _ => ManagerError::Internal(e.to_string()),
        }
    }
}
