//! `delete`: containerd cleaning up after a shim that died. Removes the
//! container from the runtime, unmounts its rootfs and answers with a
//! DeleteResponse on stdout, as containerd's shims do.

use std::path::PathBuf;
use std::time::SystemTime;

use berth_proto::containerd::api::DeleteResponse;
use berth_proto::containerd::protobuf::Message;

use crate::args::Args;
use crate::mount;
use crate::options::RuntimeOptions;
use crate::runtime::Runtime;
use crate::state::BundleState;
use crate::timestamp;

/// Cleaning up failed.
#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    /// The working directory (the bundle) is unknown.
    #[error("bundle: {0}")]
    Bundle(std::io::Error),
    /// Unmounting the rootfs.
    #[error(transparent)]
    Mount(#[from] mount::MountError),
    /// Encoding the reply.
    #[error("encode DeleteResponse: {0}")]
    Encode(#[from] berth_proto::containerd::protobuf::Error),
}

/// Cleans up container `args.id` and returns the encoded DeleteResponse.
pub fn delete(args: &Args) -> Result<Vec<u8>, CleanupError> {
    let bundle = match &args.bundle {
        Some(b) => b.clone(),
        None => std::env::current_dir().map_err(CleanupError::Bundle)?,
    };
    // Without the state file (the shim died before writing it) the
    // defaults are the best guess.
    let state = BundleState::load(&bundle).unwrap_or_else(|_| {
        let o = RuntimeOptions::default();
        BundleState {
            runtime: o.binary(std::env::current_exe().ok().as_deref()),
            root: o.root(&args.namespace),
            pid: 0,
        }
    });
    let runtime = Runtime::new(
        state.runtime.clone(),
        state.root.clone(),
        bundle.join("log.json"),
        None,
    );
    if let Err(e) = runtime.delete(&args.id, true) {
        // Already gone is what a cleanup wants.
        crate::log_line!("delete {}: {e}", args.id);
    }
    let rootfs: PathBuf = bundle.join("rootfs");
    mount::unmount_all(&rootfs)?;
    let _ = std::fs::remove_file(bundle.join(crate::state::FILE));

    let mut resp = DeleteResponse::new();
    resp.pid = state.pid.max(0) as u32;
    // The shim that knew the real status is gone: report SIGKILL, as
    // containerd's runc shim does.
    resp.exit_status = 128 + libc::SIGKILL as u32;
    resp.exited_at = Some(timestamp(SystemTime::now())).into();
    Ok(resp.write_to_bytes()?)
}
