use std::os::fd::AsRawFd;
use std::path::PathBuf;

use anyhow::Context;
use berth_manager::config::{self, Config};
use clap::Parser;

/// berth's lifecycle manager: container records, tasks through shims,
/// images and events, served over ttrpc on <state>/manager.sock.
#[derive(Parser)]
#[command(name = "berth-manager", version = env!("CARGO_PKG_VERSION"))]
struct Args {
    /// Persistent data: metadata, images, snapshots, logs.
    #[arg(long, env = "BERTH_ROOT", default_value = config::DEFAULT_ROOT)]
    root: PathBuf,
    /// Runtime data: socket, bundles, FIFOs.
    #[arg(long, env = "BERTH_STATE", default_value = config::DEFAULT_STATE)]
    state: PathBuf,
    /// OCI runtime the shims run.
    #[arg(long, default_value = config::DEFAULT_RUNTIME)]
    runtime: PathBuf,
    /// Shim binary (containerd's shim protocol).
    #[arg(long, default_value = config::DEFAULT_SHIM)]
    shim: PathBuf,
    /// Append the manager's and shims' log lines to this file instead of stderr.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Start shims with -debug.
    #[arg(long)]
    debug: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(log) = &args.log {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("open log file {}", log.display()))?;
        nix::unistd::dup2(f.as_raw_fd(), 2).context("redirect stderr to the log file")?;
    }
    let me = std::env::current_exe().context("find the manager's own binary")?;
    let absolute = |p: PathBuf| -> anyhow::Result<PathBuf> {
        Ok(if p.is_absolute() {
            p
        } else {
            std::env::current_dir()?.join(p)
        })
    };
    let cfg = Config {
        root: absolute(args.root)?,
        state: absolute(args.state)?,
        runtime: config::find_binary(&args.runtime, Some(&me)),
        shim: config::find_binary(&args.shim, Some(&me)),
        manager_bin: me,
        debug: args.debug,
    };
    // One malloc arena: glibc's default (eight per core) gives every
    // runtime thread an arena of its own, each with its own free chunks
    // and top pad (a second one measured 0.5 MiB idle, 2.4 MiB at a
    // hundred containers); the manager's threads mostly wait, so they
    // hardly contend for one. Fixed mmap and trim thresholds: glibc raises
    // both after the first large block is freed (an image layer's copy
    // buffer, redb's allocator state), and from then on keeps megabytes of
    // freed heap it never gives back; large blocks stay mmapped and go
    // back to the kernel when freed.
    // SAFETY: mallopt only tunes the allocator; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 10);
    }
    // One thread serves the manager's requests: they mostly wait on shims
    // and disks, and what blocks for long (image work, networks, disk
    // usage) runs on the blocking pool, whose threads go after a second
    // idle, not ten. The multi-thread scheduler's worker stacks and queues,
    // and the libm it alone pulls in, would be resident for nothing.
    let rt = tokio::runtime::Builder::new_current_thread()
        .thread_keep_alive(std::time::Duration::from_secs(1))
        .enable_all()
        .build()
        .context("start the async runtime")?;
    rt.block_on(berth_manager::server::serve(cfg))
        .context("berth-manager")?;
    Ok(())
}
