//! berth-manager: containerd's role in berth. It keeps container records in
//! an embedded transactional store, images and snapshots through
//! `berth-image-store`, runs one shim per container with containerd's shim
//! protocol and drives it over the task API, and streams events. It is
//! crash-only: `kill -9` at any instant loses nothing, and the next manager
//! reconnects to the shims that kept the containers running.
//!
//! Layout: `<root>/manager.redb` (records), `<root>/images/` (image store),
//! `<root>/containers/<id>/<id>-json.log` (logs); `<state>/manager.sock`,
//! `<state>/containers/<id>/` (bundles, FIFOs), `<root>/volumes/<name>/_data`
//! (volumes).
//!
//! Module map. `Manager` (the shared state, in `manager`) has one `impl`
//! block per concern, each in the module named for it:
//!
//! | `impl Manager` in | does | called from |
//! |---|---|---|
//! | `manager` | construction, per-container locks, record lookup | everywhere |
//! | `containers` | create/get/list/rename/delete/prune container records | `service::containers` |
//! | `tasks` | start a task through a fresh shim, watch, wait, kill, stop, pause, update, reap | `service::tasks` |
//! | `exec` | extra processes in a running container, pty resize, stdin close | `service::tasks` |
//! | `introspect` | `top` and `stats` | `service::tasks` |
//! | `images` | load, import, save, pull, push, list, get, tag, remove images | `service::images` |
//! | `recovery` | the crash-only start: reconnect live shims, record missed exits | `server` |
//! | `layers` | commit, images from a parent and a layer tar, diff, history, the build cache | `service::layers` |
//! | `networking` | networks, endpoints (netns, addresses, ports, names) of containers | `service::networks`, `containers` |
//! | `volume`, `volume_copy` | local volumes, their records, copy-up of image content | `service::volumes`, `containers` |
//! | `health` | health checks run as execs, `State.Health` kept in the store | `service::health`, `server` |
//!
//! The ttrpc services in `service/` are thin: each method calls one of these.
//! Beside them: `store` (redb records), `record` (a stored container),
//! `shim` (starting shims, the task API client), `bundle` (OCI bundles),
//! `events` (the event bus), `server` (bringing the manager up),
//! `container_log` (the log's stdio URI and rotation bounds),
//! `registry_certs` (a registry's CA from `certs.d`).

pub mod bundle;
pub mod cgroups;
pub mod config;
pub mod container_log;
pub mod containers;
pub mod error;
pub mod event_history;
pub mod events;
pub mod exec;
pub mod health;
pub mod heap_trim;
pub mod images;
pub mod introspect;
pub mod layers;
pub mod listing;
pub mod log;
pub mod manager;
pub mod names;
pub mod networking;
pub mod prune_filter;
pub mod record;
pub mod recovering;
pub mod recovery;
pub mod registry_certs;
pub mod removal;
pub mod scratch_rootfs;
pub mod server;
pub mod service;
pub mod shim;
pub mod signal;
pub mod spawner;
pub mod stopping;
pub mod store;
pub mod tasks;
pub mod timefmt;
pub mod users;
pub mod volume;
pub mod volume_copy;

/// Version string printed by `--version`.
pub fn version() -> String {
    format!("berth-manager version {}", env!("CARGO_PKG_VERSION"))
}
