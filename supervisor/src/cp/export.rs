//! `berth export`: a container's filesystem as one tar, to stdout or
//! `-o FILE` (written beside it and renamed into place, so a failed export
//! never leaves a partial file under the name). The filesystem is the
//! container's snapshot alone, without its volumes and binds, as docker
//! exports it; it is read through a read-only mount of its layers.

use std::io::Write;
use std::path::{Path, PathBuf};

use berth_proto::manager::ContainerInfo;
use clap::Args;

use crate::client::Manager;

/// `berth export` and `berth container export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// The container: name, id or id prefix
    pub container: String,
}

fn fail(e: impl std::fmt::Display) -> i32 {
    eprintln!("{e}");
    1
}

/// `berth export`.
pub async fn export(m: &Manager, a: &ExportArgs) -> i32 {
    if a.output.is_none() && crate::tty::is_tty(libc::STDOUT_FILENO) {
        return fail("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    if let Some(out) = &a.output {
        let dir = out.parent().filter(|p| !p.as_os_str().is_empty());
        if dir.is_some_and(|d| !d.is_dir()) {
            return fail(format!(
                "failed to export container: invalid output path: directory {:?} does not exist",
                dir.unwrap_or(Path::new(".")).display().to_string()
            ));
        }
    }
    let c = match crate::commands::container::resolve(m, &a.container).await {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let done = match &a.output {
        None => export_to(&c, &mut std::io::stdout().lock()),
        Some(out) => write_then_rename(out, |w| export_to(&c, w)),
    };
    match done {
        Ok(()) => 0,
        Err(e) => fail(format!("failed to export container {}: {e}", a.container)),
    }
}

/// Writes the filesystem of container `c` to `out` as one tar: `berth
/// export` and the API's `GET /containers/{id}/export`. It mounts in a
/// private mount namespace of the calling thread: the API calls it on a
/// thread of its own.
pub fn export_to(c: &ContainerInfo, out: &mut dyn Write) -> std::io::Result<()> {
    let view = super::root::open(c, false).map_err(std::io::Error::other)?;
    view.root.archive(Path::new("/"), false, None, out)
}

/// Writes `out` through a temporary file beside it, synced and renamed.
fn write_then_rename(
    out: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".berth-export-")
        .tempfile_in(dir)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        write(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(out).map_err(|e| e.error)?;
    Ok(())
}
