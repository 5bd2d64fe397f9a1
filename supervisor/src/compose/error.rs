//! What can go wrong in a compose command, in words that say what and where.

use crate::error::CliError;

/// Every way a `berth compose` command can fail.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The manager or a local operation failed.
    #[error(transparent)]
    Cli(#[from] CliError),
    /// The project's files are wrong (unknown key, wrong type, cycle, …).
    #[error(transparent)]
    Model(#[from] berth_compose::ComposeError),
    /// A command line naming something the project does not have.
    #[error("{0}")]
    Invalid(String),
    /// A service's `depends_on` condition was not met.
    #[error("dependency failed to start: {0}")]
    Dependency(String),
    /// A step waited for another that failed.
    #[error(transparent)]
    Skipped(#[from] crate::compose::order::Skipped),
    /// Building a service's image failed (the build printed why).
    #[error("failed to build the image of service {service:?}")]
    Build { service: String },
}
