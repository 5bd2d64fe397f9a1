//! `berth build`: flags to [`berth_build::Options`], the driver run against
//! the manager, docker's classic builder output on the terminal, and
//! ctrl-c (or SIGTERM) removing whatever the interrupted step had made.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use berth_build::{context, BuildError, Output};
use tempfile::TempDir;

use crate::builder::ManagerBackend;
use crate::cli::BuildArgs;
use crate::client::Manager;
use crate::error::CliError;

/// Prints the build's output as it comes; `-q` keeps it all back.
struct Terminal {
    quiet: bool,
}

impl Output for Terminal {
    fn line(&mut self, text: &str) {
        if !self.quiet {
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "{text}");
            let _ = o.flush();
        }
    }

    fn process(&mut self, stderr: bool, text: &str) {
        if self.quiet {
            return;
        }
        if stderr {
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(text.as_bytes());
            let _ = e.flush();
        } else {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(text.as_bytes());
            let _ = o.flush();
        }
    }
}

/// A random build id: labels the RUN containers as `berth.build=<id>`.
fn build_id() -> String {
    let mut b = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn read_stdin() -> Result<String, CliError> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| CliError::io("read Dockerfile from stdin", e))?;
    Ok(s)
}

/// The Dockerfile in `ctx`: `-f` as given (relative to the current dir, as
/// docker takes it) or `ctx/Dockerfile`.
fn dockerfile_in(ctx: &Path, file: Option<&str>) -> Result<(String, String), CliError> {
    let path = match file {
        Some(f) => PathBuf::from(f),
        None => ctx.join("Dockerfile"),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        CliError::Invalid(format!(
            "unable to prepare context: unable to evaluate symlinks in Dockerfile path: {}: {e}",
            path.display()
        ))
    })?;
    let name = file
        .map(String::from)
        .unwrap_or_else(|| display_in(ctx, &path));
    Ok((name, text))
}

/// The flags that can be judged without reading stdin or the context:
/// checked before a manager is started, so bad ones change nothing.
pub fn check_flags(a: &BuildArgs) -> Result<(), CliError> {
    if a.path == "-" && a.file.as_deref() == Some("-") {
        return Err(CliError::Invalid(
            "invalid argument: can't use stdin for both build context and dockerfile".into(),
        ));
    }
    if a.path != "-" && !Path::new(&a.path).is_dir() {
        return Err(CliError::Invalid(format!(
            "unable to prepare context: path {:?} not found",
            a.path
        )));
    }
    network(a)?;
    for t in &a.tag {
        berth_build::driver::normalize_tag(t).map_err(|e| CliError::Invalid(e.to_string()))?;
    }
    Ok(())
}

/// `--network`: berth builds know none and host (docker's default bridge
/// is none here).
fn network(a: &BuildArgs) -> Result<String, CliError> {
    match a.network.as_str() {
        "none" | "host" => Ok(a.network.clone()),
        "default" | "bridge" => Ok("none".to_string()),
        n => Err(CliError::Invalid(format!(
            "invalid --network {n:?}: berth build knows none and host"
        ))),
    }
}

/// Flags to options; bad flags fail here, before anything is built.  A
/// context sent as a tar on stdin is unpacked into the returned temp dir,
/// which must live as long as the build.
pub fn options(a: &BuildArgs) -> Result<(berth_build::Options, Option<TempDir>), CliError> {
    check_flags(a)?;
    let mut unpacked = None;
    let (context, file_name, text) = if a.path == "-" {
        let mut data = Vec::new();
        std::io::stdin()
            .read_to_end(&mut data)
            .map_err(|e| CliError::io("read build context from stdin", e))?;
        if context::looks_like_tar(&data) {
            let dir = tempfile::Builder::new()
                .prefix("berth-build-context-")
                .tempdir()
                .map_err(|e| CliError::io("create context dir", e))?;
            context::unpack_context(&data, dir.path())
                .map_err(|e| CliError::Invalid(e.to_string()))?;
            let ctx = dir.path().to_path_buf();
            let file = a.file.as_deref().map(|f| ctx.join(f).display().to_string());
            let (_, text) = dockerfile_in(&ctx, file.as_deref())?;
            unpacked = Some(dir);
            (
                Some(ctx),
                a.file.clone().unwrap_or_else(|| "Dockerfile".into()),
                text,
            )
        } else {
            let text = String::from_utf8(data).map_err(|_| {
                CliError::Invalid("the Dockerfile on stdin is not UTF-8 text".into())
            })?;
            (None, "Dockerfile".to_string(), text)
        }
    } else {
        let ctx = PathBuf::from(&a.path);
        match a.file.as_deref() {
            Some("-") => (Some(ctx), "Dockerfile".to_string(), read_stdin()?),
            f => {
                let (name, text) = dockerfile_in(&ctx, f)?;
                (Some(ctx), name, text)
            }
        }
    };
    let network = network(a)?;
    let build_args = a
        .build_arg
        .iter()
        .map(|b| match b.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (b.clone(), std::env::var(b).ok()),
        })
        .collect();
    let labels = a
        .label
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect();
    let tags = a.tag.clone();
    let opts = berth_build::Options {
        file_name,
        dockerfile: text,
        context,
        tags,
        build_args,
        target: a.target.clone(),
        no_cache: a.no_cache,
        pull: a.pull,
        labels,
        network,
        keep_containers: !a.rm && !a.force_rm,
        build_id: build_id(),
    };
    Ok((opts, unpacked))
}

/// `Dockerfile`, or the path as given when it is elsewhere.
fn display_in(ctx: &Path, path: &Path) -> String {
    path.strip_prefix(ctx)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}

/// A private mount namespace for this process, so that the read-only image
/// views COPY mounts vanish with it even if it is killed.  The manager is
/// already running (connected before any command), so it keeps the host's.
pub(crate) fn private_mounts() -> Result<(), CliError> {
    // SAFETY: plain syscalls on this (single, current-thread runtime) thread.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNS) };
    if rc != 0 {
        return Err(CliError::io(
            "unshare mount namespace",
            std::io::Error::last_os_error(),
        ));
    }
    let root = c"/";
    // SAFETY: a valid NUL-terminated path; no data argument.
    let rc = unsafe {
        libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(CliError::io(
            "make mounts private",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// `berth build`.
pub async fn build(m: &Manager, a: &BuildArgs) -> i32 {
    let (opts, _unpacked) = match options(a) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("berth: {e}");
            return 1;
        }
    };
    if let Err(e) = private_mounts() {
        eprintln!("berth: {e}");
        return 1;
    }
    let backend = ManagerBackend::new(m, &opts.build_id);
    backend.sweep_leftovers().await;
    let mut out = Terminal { quiet: a.quiet };
    let interrupted = async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt()).ok();
        let mut term = signal(SignalKind::terminate()).ok();
        tokio::select! {
            Some(_) = async { int.as_mut()?.recv().await } => {}
            Some(_) = async { term.as_mut()?.recv().await } => {}
        }
    };
    let result = tokio::select! {
        r = berth_build::build(&opts, &backend, &mut out) => Some(r),
        _ = interrupted => None,
    };
    match result {
        Some(Ok(built)) => {
            if a.quiet {
                println!("{}", built.image.id);
            }
            0
        }
        Some(Err(e)) => {
            backend.cleanup().await;
            eprintln!("{e}");
            match e {
                BuildError::Run { code, .. } => code,
                _ => 1,
            }
        }
        None => {
            backend.cleanup().await;
            eprintln!("berth: build interrupted; its intermediate containers were removed");
            130
        }
    }
}
