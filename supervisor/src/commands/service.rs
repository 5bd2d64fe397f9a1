//! `berth system service`: the Docker Engine API is served by `berth-api`,
//! a binary of its own beside `berth` (it links the HTTP stack the CLI does
//! not need); this command becomes that process, with the state and root
//! dirs it resolved, so the service talks to the same manager.

use std::os::unix::process::CommandExt;

use crate::cli::ServiceArgs;
use crate::paths::{binary_named, Dirs};

/// Replaces this process with `berth-api`; returns only on failure.
pub fn exec_service(dirs: &Dirs, a: &ServiceArgs) -> i32 {
    let exe = std::env::current_exe().ok();
    let Some(bin) = binary_named(
        "berth-api",
        exe.as_deref(),
        std::env::var_os("PATH"),
        std::env::var_os("BERTH_API"),
    ) else {
        eprintln!("berth: berth-api not found beside berth or on PATH; install it with berth");
        return 1;
    };
    let e = std::process::Command::new(&bin)
        .arg("--state")
        .arg(&dirs.state)
        .arg("--root")
        .arg(&dirs.root)
        .args(a.to_args())
        .exec();
    eprintln!("berth: run {}: {e}", bin.display());
    1
}
