//! berth: the user's CLI. Not implemented yet: the binary only reports its
//! version so the workspace layout is in place.

/// Version string printed by `--version`.
pub fn version() -> String {
    format!("berth version {}", env!("CARGO_PKG_VERSION"))
}
