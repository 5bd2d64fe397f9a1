//! containerd-shim-berth-v2: the per-container shim. Not implemented yet: the
//! binary only reports its version so the workspace layout is in place.

/// Version string printed by `-v`.
pub fn version() -> String {
    format!(
        "containerd-shim-berth-v2 version {}",
        env!("CARGO_PKG_VERSION")
    )
}
