//! berth-manager: the lifecycle manager. Not implemented yet: the binary only
//! reports its version so the workspace layout is in place.

/// Version string printed by `--version`.
pub fn version() -> String {
    format!("berth-manager version {}", env!("CARGO_PKG_VERSION"))
}
