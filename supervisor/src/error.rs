//! The front end's error type and how it reads on the terminal: like
//! docker's (`Error response from daemon: No such container: foo`).

use berth_proto::ttrpc;
use berth_proto::ttrpc::Code;

/// Every way a berth command can fail.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The manager answered with an error status; its message names the
    /// container or image.
    #[error("Error response from daemon: {message}")]
    Daemon { code: Code, message: String },
    /// The manager could not be reached or the connection broke.
    #[error("cannot talk to the berth manager at {socket}: {reason}")]
    Manager { socket: String, reason: String },
    /// The manager was started but never answered.
    #[error("berth-manager did not answer on {socket} ({reason}); see its log {log}")]
    ManagerStart {
        socket: String,
        log: String,
        reason: String,
    },
    /// Bad flags or arguments, caught before anything was changed.
    #[error("{0}")]
    Invalid(String),
    /// `inspect` of a name that is neither a container nor an image.
    #[error("Error: No such object: {0}")]
    NoSuchObject(String),
    /// `image inspect` of an unknown image.
    #[error("Error: No such image: {0}")]
    NoSuchImage(String),
    /// A local file or terminal operation failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl CliError {
    /// Wraps a ttrpc error from a call to the manager at `socket`.
    pub fn from_rpc(e: ttrpc::Error, socket: &str) -> CliError {
        match e {
            ttrpc::Error::RpcStatus(s) => CliError::Daemon {
                code: s.code(),
                message: first_line(s.message()),
            },
            other => CliError::Manager {
                socket: socket.to_string(),
                reason: first_line(&other.to_string()),
            },
        }
    }

    /// Shorthand for a local I/O failure.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> CliError {
        CliError::Io {
            what: what.into(),
            source,
        }
    }

    /// True when the manager went away (or never answered) rather than
    /// answering with an error.
    pub fn is_lost_manager(&self) -> bool {
        matches!(self, CliError::Manager { .. })
    }

    /// True for the manager's FAILED_PRECONDITION status (e.g. "already
    /// running").
    pub fn is_failed_precondition(&self) -> bool {
        matches!(
            self,
            CliError::Daemon {
                code: Code::FAILED_PRECONDITION,
                ..
            }
        )
    }

    /// True for the manager's NOT_FOUND status.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            CliError::Daemon {
                code: Code::NOT_FOUND,
                ..
            }
        )
    }
}

/// Errors stay on one line whatever the manager sent.
fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim_end().to_string()
}

/// What `run`/`create` exit with when berth itself failed (docker's 125).
pub const EXIT_BERTH_FAILED: i32 = 125;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_errors_read_like_docker() {
        let mut st = ttrpc::proto::Status::new();
        st.set_code(Code::NOT_FOUND);
        st.set_message("No such container: foo\nextra".into());
        let e = CliError::from_rpc(ttrpc::Error::RpcStatus(st), "/run/berth/manager.sock");
        assert!(e.is_not_found());
        assert_eq!(
            e.to_string(),
            "Error response from daemon: No such container: foo"
        );
        let e = CliError::from_rpc(ttrpc::Error::Eof, "/s");
        assert_eq!(e.to_string(), "cannot talk to the berth manager at /s: eof");
        assert!(!e.is_not_found());
    }
}
