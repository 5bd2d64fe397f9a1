//! berth-manager: containerd's role in berth. It keeps container records in
//! an embedded transactional store, images and snapshots through
//! `berth-image-store`, runs one shim per container with containerd's shim
//! protocol and drives it over the task API, and streams events. It is
//! crash-only: `kill -9` at any instant loses nothing, and the next manager
//! reconnects to the shims that kept the containers running.
//!
//! Layout: `<root>/manager.redb` (records), `<root>/images/` (image store),
//! `<root>/containers/<id>/<id>-json.log` (logs); `<state>/manager.sock`,
//! `<state>/containers/<id>/` (bundles, FIFOs).

pub mod bundle;
pub mod cgroups;
pub mod config;
pub mod containers;
pub mod error;
pub mod events;
pub mod exec;
pub mod introspect;
pub mod log;
pub mod manager;
pub mod names;
pub mod record;
pub mod recovering;
pub mod recovery;
pub mod server;
pub mod service;
pub mod shim;
pub mod signal;
pub mod stopping;
pub mod store;
pub mod tasks;
pub mod timefmt;
pub mod users;

/// Version string printed by `--version`.
pub fn version() -> String {
    format!("berth-manager version {}", env!("CARGO_PKG_VERSION"))
}
