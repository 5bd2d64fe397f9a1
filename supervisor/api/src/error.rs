//! The API's one error type: an HTTP status and docker's `{"message": …}`
//! body, mapped once from the supervisor library's errors.

use berth_proto::ttrpc::Code;
use berth_supervisor::error::CliError;
use hyper::StatusCode;

/// A request that failed: what the client is told, and how.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// the manager went away: the engine reconnects before the next request
    pub lost_manager: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            lost_manager: false,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

/// docker's status for each way the manager answers: a missing object is
/// 404, a clash with the object's state or another's name 409, a request
/// the manager refused as malformed 400, anything else 500.
fn status_of_code(code: Code) -> StatusCode {
    match code {
        Code::NOT_FOUND => StatusCode::NOT_FOUND,
        Code::ALREADY_EXISTS | Code::FAILED_PRECONDITION | Code::ABORTED => StatusCode::CONFLICT,
        Code::INVALID_ARGUMENT | Code::OUT_OF_RANGE => StatusCode::BAD_REQUEST,
        // a registry refused the credentials (login, pull, push)
        Code::UNAUTHENTICATED => StatusCode::UNAUTHORIZED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<CliError> for ApiError {
    fn from(e: CliError) -> ApiError {
        let lost_manager = e.is_lost_manager();
        let (status, message) = match e {
            CliError::Daemon { code, message } => (status_of_code(code), message),
            CliError::Invalid(m) => (StatusCode::BAD_REQUEST, m),
            CliError::NoSuchObject(n) => (StatusCode::NOT_FOUND, format!("No such object: {n}")),
            CliError::NoSuchImage(n) => (StatusCode::NOT_FOUND, format!("No such image: {n}")),
            other => (StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        };
        ApiError {
            status,
            message,
            lost_manager,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manager_codes_map_to_docker_statuses() {
        let daemon = |code| CliError::Daemon {
            code,
            message: "No such container: x".into(),
        };
        let e = ApiError::from(daemon(Code::NOT_FOUND));
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(e.message, "No such container: x");
        assert_eq!(
            ApiError::from(daemon(Code::ALREADY_EXISTS)).status,
            StatusCode::CONFLICT
        );
        assert_eq!(
            ApiError::from(daemon(Code::INTERNAL)).status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            ApiError::from(CliError::Invalid("bad".into())).status,
            StatusCode::BAD_REQUEST
        );
        let lost = ApiError::from(CliError::Manager {
            socket: "/s".into(),
            reason: "eof".into(),
        });
        assert!(lost.lost_manager);
        assert_eq!(lost.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
