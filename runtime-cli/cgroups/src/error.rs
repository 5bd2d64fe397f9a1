//! The crate's single error type.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while discovering, configuring or querying cgroups.
///
/// Messages are lower-case, name the file involved and, for writes, the value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A cgroup file or directory could not be read.
    #[error("cannot read {}: {}", path.display(), os_msg(source))]
    Read {
        /// File or directory that was read.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// A value could not be written to a cgroup file.
    #[error("cannot write {value:?} to {}: {}", path.display(), os_msg(source))]
    Write {
        /// File that was written.
        path: PathBuf,
        /// Value that the kernel refused.
        value: String,
        /// Underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// A cgroup directory could not be created.
    #[error("cannot create {}: {}", path.display(), os_msg(source))]
    Create {
        /// Directory that was being created.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// A cgroup directory could not be removed.
    #[error("cannot remove {}: {}", path.display(), os_msg(source))]
    Remove {
        /// Directory that was being removed.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// A cgroup (or /proc) file had unexpected contents.
    #[error("cannot parse {}: {detail}", path.display())]
    Parse {
        /// File that was parsed.
        path: PathBuf,
        /// What was wrong with it.
        detail: String,
    },

    /// /proc/self/mountinfo or /proc/self/cgroup could not be interpreted.
    #[error("{0}")]
    Detect(String),

    /// A resource is set in the configuration but the host has no such controller.
    #[error("cgroup controller {0} is not available on this host")]
    ControllerUnavailable(String),

    /// The host has the controller but it is not enabled for this cgroup
    /// (on cgroup v2: missing from the parent's cgroup.subtree_control).
    #[error("cgroup controller {controller} is not enabled in {}", path.display())]
    ControllerNotEnabled {
        /// Controller name, e.g. `memory`.
        controller: String,
        /// The cgroup directory lacking it.
        path: PathBuf,
    },

    /// The cgroups path (or container id) does not name a cgroup.
    #[error("invalid cgroups path {0:?}")]
    InvalidPath(String),

    /// The requested resources are inconsistent or out of range.
    #[error("invalid resources: {0}")]
    InvalidResources(String),

    /// The freezer did not reach the requested state in time.
    #[error("cannot {action} {}: still {state:?}", path.display())]
    Freezer {
        /// `freeze` or `thaw`.
        action: &'static str,
        /// The freezer directory.
        path: PathBuf,
        /// Last state read back.
        state: String,
    },
}

impl Error {
    /// Whether the kernel refused for lack of rights (EACCES, EPERM, EROFS):
    /// what an unprivileged caller meets outside a delegated subtree.
    pub fn is_permission(&self) -> bool {
        let source = match self {
            Error::Read { source, .. }
            | Error::Write { source, .. }
            | Error::Create { source, .. }
            | Error::Remove { source, .. } => source,
            _ => return false,
        };
        matches!(
            source.raw_os_error(),
            Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS)
        )
    }
}

/// The OS error text without Rust's " (os error N)" suffix, so messages read like
/// `Device or resource busy`.
fn os_msg(e: &io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if e.raw_os_error().is_some() => s[..i].to_string(),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_error_message() {
        let e = Error::Write {
            path: "/sys/fs/cgroup/memory/x/memory.limit_in_bytes".into(),
            value: "100".into(),
            source: io::Error::from_raw_os_error(libc::EBUSY),
        };
        assert_eq!(
            e.to_string(),
            "cannot write \"100\" to /sys/fs/cgroup/memory/x/memory.limit_in_bytes: Device or resource busy"
        );
    }

    #[test]
    fn unavailable_message() {
        let e = Error::ControllerUnavailable("hugetlb".into());
        assert_eq!(
            e.to_string(),
            "cgroup controller hugetlb is not available on this host"
        );
    }
}
