//! containerd-shim-berth-v2: the per-container shim.
//!
//! It speaks containerd's shim protocol: `start` daemonizes a server of the
//! task API (ttrpc, `containerd.task.v2.Task` and `.v3.Task`) on a unix
//! socket and prints its address; `delete` cleans up after a dead shim. The
//! server runs the OCI runtime (berth-runtime, or runc) for each request,
//! owns the containers' stdio, reaps them as a child subreaper and
//! publishes task events to containerd. See docs/shim.md.

pub mod args;
pub mod call;
pub mod cleanup;
pub mod console;
pub mod events;
pub mod heap;
pub mod jsonlog;
pub mod log;
pub mod mount;
pub mod oom;
pub mod options;
pub mod process;
pub mod reactor;
pub mod reaper;
pub mod rpc;
pub mod runtime;
pub mod serve;
pub mod service;
pub mod start;
pub mod state;
pub mod stats;
pub mod stdio;
pub mod uri;

use std::time::{SystemTime, UNIX_EPOCH};

use berth_proto::containerd::protobuf::well_known_types::timestamp::Timestamp;

/// Version string printed by `-v`.
pub fn version() -> String {
    format!(
        "containerd-shim-berth-v2 version {}",
        env!("CARGO_PKG_VERSION")
    )
}

/// A protobuf timestamp.
pub fn timestamp(t: SystemTime) -> Timestamp {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut ts = Timestamp::new();
    ts.seconds = d.as_secs() as i64;
    ts.nanos = d.subsec_nanos() as i32;
    ts
}
