//! berth's wire.
//!
//! - [`manager`]: `berth.manager.v1`, the API berth-manager serves to the
//!   front end (protos/berth/manager/v1/manager.proto); [`manager_ttrpc`]
//!   holds its async ttrpc servers (`create_*`) and clients.
//! - [`layers`]: `berth.manager.v1.Layers` (layers.proto), images made from
//!   containers and tars, and the build cache; [`layers_ttrpc`] holds its
//!   server and client.
//! - [`containerd`]: containerd's shim task API, events and cgroup metrics,
//!   from containerd-shim-protos; [`task::create_task`] registers the task
//!   service under its v2 (containerd 1.6/1.7) and v3 (containerd 2.x) names.
//! - [`runc_options`]: `containerd.runc.v1.Options`, the runtime options
//!   containerd sends runc-style shims (protos/containerd/runc/v1).
//! - [`hold`]: the lock file that keeps a stopped container's filesystem
//!   to one of `cp` and a start at a time.

pub use containerd_shim_protos as containerd;

pub mod hold;
pub use protobuf;
pub use ttrpc;

/// `berth.manager.v1` messages.
#[allow(clippy::all, missing_docs, unused_mut, dead_code, non_camel_case_types)]
#[allow(non_snake_case, non_upper_case_globals, unused_results, trivial_casts)]
pub mod manager {
    include!(concat!(env!("OUT_DIR"), "/berth/manager.rs"));
}

/// `berth.manager.v1` async ttrpc servers and clients.
#[allow(clippy::all, missing_docs, unused_mut, dead_code, non_camel_case_types)]
#[allow(non_snake_case, non_upper_case_globals, unused_results, unused_imports)]
pub mod manager_ttrpc {
    include!(concat!(env!("OUT_DIR"), "/berth/manager_ttrpc.rs"));
}

/// `berth.manager.v1` Layers messages: images made from containers and tars,
/// and the build cache (protos/berth/manager/v1/layers.proto).
#[allow(clippy::all, missing_docs, unused_mut, dead_code, non_camel_case_types)]
#[allow(non_snake_case, non_upper_case_globals, unused_results, trivial_casts)]
pub mod layers {
    include!(concat!(env!("OUT_DIR"), "/berth/layers.rs"));
}

/// `berth.manager.v1` Layers async ttrpc server and client.
#[allow(clippy::all, missing_docs, unused_mut, dead_code, non_camel_case_types)]
#[allow(non_snake_case, non_upper_case_globals, unused_results, unused_imports)]
pub mod layers_ttrpc {
    include!(concat!(env!("OUT_DIR"), "/berth/layers_ttrpc.rs"));
}

/// `berth.manager.v1.Networks` messages (protos/berth/manager/v1/networks.proto).
#[allow(clippy::all, missing_docs, unused_mut, dead_code, non_camel_case_types)]
#[allow(non_snake_case, non_upper_case_globals, unused_results, trivial_casts)]
pub mod networks {
    include!(concat!(env!("OUT_DIR"), "/berth/networks.rs"));
}

/// `berth.manager.v1.Networks` async ttrpc server and client.
#[allow(clippy::all, missing_docs, unused_mut, dead_code, non_camel_case_types)]
#[allow(non_snake_case, non_upper_case_globals, unused_results, unused_imports)]
pub mod networks_ttrpc {
    include!(concat!(env!("OUT_DIR"), "/berth/networks_ttrpc.rs"));
}

pub mod task;

/// A ttrpc socket address as ttrpc's client connects to it: shims print and
/// containerd's `TTRPC_ADDRESS` passes either `unix:///path` or a bare path,
/// and a bare path gets the `unix://` scheme.
pub fn ttrpc_url(address: &str) -> String {
    if address.contains("://") {
        address.to_string()
    } else {
        format!("unix://{address}")
    }
}

/// Set (to anything) in a shim's environment by berth's manager: the shim
/// mounts containers' root filesystems in a mount namespace of its own,
/// so the host's mount table does not grow with every container (each
/// container's mount namespace starts as a copy of it, and a thousand
/// rootfs mounts made every start copy and drop a thousand mounts). Under
/// containerd, which expects to see the mounts, it is not set.
pub const SHIM_PRIVATE_MOUNTS_ENV: &str = "BERTH_SHIM_PRIVATE_MOUNTS";

/// `containerd.runc.v1.Options` messages.
#[allow(clippy::all, missing_docs, unused_mut, dead_code, non_camel_case_types)]
#[allow(non_snake_case, non_upper_case_globals, unused_results, trivial_casts)]
pub mod runc_options {
    include!(concat!(env!("OUT_DIR"), "/berth/runc_options.rs"));
}

/// `berth.manager.v1` Volumes messages (protos/berth/manager/v1/volumes.proto).
#[allow(clippy::all, missing_docs, unused_mut, dead_code, non_camel_case_types)]
#[allow(non_snake_case, non_upper_case_globals, unused_results, trivial_casts)]
pub mod volumes {
    include!(concat!(env!("OUT_DIR"), "/berth/volumes.rs"));
}

/// `berth.manager.v1` Volumes async ttrpc server and client.
#[allow(clippy::all, missing_docs, unused_mut, dead_code, non_camel_case_types)]
#[allow(non_snake_case, non_upper_case_globals, unused_results, unused_imports)]
pub mod volumes_ttrpc {
    include!(concat!(env!("OUT_DIR"), "/berth/volumes_ttrpc.rs"));
}

/// `berth.manager.v1` Health messages (protos/berth/manager/v1/health.proto).
#[allow(clippy::all, missing_docs, unused_mut, dead_code, non_camel_case_types)]
#[allow(non_snake_case, non_upper_case_globals, unused_results, trivial_casts)]
pub mod health {
    include!(concat!(env!("OUT_DIR"), "/berth/health.rs"));
}

/// `berth.manager.v1` Health async ttrpc server and client.
#[allow(clippy::all, missing_docs, unused_mut, dead_code, non_camel_case_types)]
#[allow(non_snake_case, non_upper_case_globals, unused_results, unused_imports)]
pub mod health_ttrpc {
    include!(concat!(env!("OUT_DIR"), "/berth/health_ttrpc.rs"));
}

/// `berth.manager.v1` Auth messages (protos/berth/manager/v1/auth.proto).
#[allow(clippy::all, missing_docs, unused_mut, dead_code, non_camel_case_types)]
#[allow(non_snake_case, non_upper_case_globals, unused_results, trivial_casts)]
pub mod auth {
    include!(concat!(env!("OUT_DIR"), "/berth/auth.rs"));
}

/// `berth.manager.v1` Auth async ttrpc server and client.
#[allow(clippy::all, missing_docs, unused_mut, dead_code, non_camel_case_types)]
#[allow(non_snake_case, non_upper_case_globals, unused_results, unused_imports)]
pub mod auth_ttrpc {
    include!(concat!(env!("OUT_DIR"), "/berth/auth_ttrpc.rs"));
}

/// `berth.manager.v1` EventHistory messages (protos/berth/manager/v1/event_history.proto).
#[allow(clippy::all, missing_docs, unused_mut, dead_code, non_camel_case_types)]
#[allow(non_snake_case, non_upper_case_globals, unused_results, trivial_casts)]
pub mod event_history {
    include!(concat!(env!("OUT_DIR"), "/berth/event_history.rs"));
}

/// `berth.manager.v1` EventHistory async ttrpc server and client.
#[allow(clippy::all, missing_docs, unused_mut, dead_code, non_camel_case_types)]
#[allow(non_snake_case, non_upper_case_globals, unused_results, unused_imports)]
pub mod event_history_ttrpc {
    include!(concat!(env!("OUT_DIR"), "/berth/event_history_ttrpc.rs"));
}

/// `berth.manager.v1.PruneFilter` (protos/berth/manager/v1/prune_filter.proto).
#[allow(clippy::all, missing_docs, unused_mut, dead_code, non_camel_case_types)]
#[allow(non_snake_case, non_upper_case_globals, unused_results, trivial_casts)]
pub mod prune_filter {
    include!(concat!(env!("OUT_DIR"), "/berth/prune_filter.rs"));
}

#[cfg(test)]
mod tests {
    #[test]
    fn bare_paths_get_the_unix_scheme() {
        assert_eq!(super::ttrpc_url("/a/b.sock"), "unix:///a/b.sock");
        assert_eq!(super::ttrpc_url("unix:///a"), "unix:///a");
    }
}
