//! berth-runtime: an OCI runtime with runc's command line.
//!
//! `create` forks the container's init into its namespaces and leaves it
//! blocked on a FIFO; `start` opens the FIFO; everything in between is
//! recorded under `--root` so each command is a short-lived process.
//!
//! Layout: `cli` parses runc's command line, `commands/` has one handler
//! per command (`commands::dispatch` picks it). Container setup lives in
//! modules named for what they set up: `spawn` (the clone into namespaces),
//! `init` (the container's init, from its namespaces to execve), `rootfs/`
//! (mounts, cgroup mount, /dev, masked paths, pivot), `safe_open` (paths
//! inside the root), `namespaces` (which to create or join, unshare/setns),
//! `idmap`, `sysctl`, `console`, `hooks`, `process_setup` (rlimits,
//! identity, capabilities, seccomp, execve), `sealed_exe`; `config` checks
//! the spec, `state` is the record under `--root`, `procfs` reads facts
//! about processes from /proc.

pub mod cli;
pub mod commands;
pub mod config;
pub mod console;
pub mod foreground;
pub mod hooks;
pub mod idmap;
pub mod init;
pub mod logging;
pub mod namespaces;
pub mod process_setup;
pub mod procfs;
pub mod rootfs;
pub mod safe_open;
pub mod sealed_exe;
pub mod spawn;
pub mod state;
pub mod sync;
pub mod sysctl;

pub use commands::dispatch;

use cli::{Cli, Command};
use std::path::PathBuf;

/// The state root: `--root`, else `/run/berth-runtime` for root and
/// `$XDG_RUNTIME_DIR/berth-runtime` for other users.
pub fn state_root(cli: &Cli) -> PathBuf {
    if let Some(r) = &cli.root {
        return r.clone();
    }
    // SAFETY: geteuid has no failure mode.
    if unsafe { libc::geteuid() } != 0 {
        if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
            return PathBuf::from(dir).join("berth-runtime");
        }
    }
    PathBuf::from(cli::DEFAULT_ROOT)
}

/// Whether `command` puts a process into a container, so the runtime must
/// first run from a sealed copy of its binary (see [`sealed_exe`]).
pub fn enters_container(command: &Command) -> bool {
    matches!(
        command,
        Command::Create(_) | Command::Run(_) | Command::Exec(_)
    )
}
