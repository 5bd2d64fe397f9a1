//! `berth cp`: files between a container and the host, or a tar stream
//! (`-`), with docker's path rules. Both sides are a [`tree::Root`]: the
//! container's filesystem ([`root`]) or the host's (`/`, or for what is
//! written there the destination directory itself), so no symlink on
//! either side leads a copy out of its root. The copy is a tar stream from
//! one root into the other; `-` hands that stream out or takes it in.
//!
//! The rules, as docker's: a source ending in `/.` copies a directory's
//! contents; a destination directory that exists receives the source under
//! its own name; one that does not is created (its parent must exist) and
//! receives a directory's contents or becomes the file; a destination
//! ending in `/` must be an existing directory for a file; a directory is
//! never copied onto a file.

pub mod export;
pub mod remote;
pub mod root;
pub mod tree;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::client::Manager;
use crate::error::CliError;
use tree::{Kind, Owner, Root};

/// `berth cp` and `berth container cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy (berth prints none)
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH, HOST_PATH or - (a tar stream on stdin)
    pub src: String,
    /// CONTAINER:DEST_PATH, HOST_PATH or - (a tar stream to stdout)
    pub dest: String,
}

/// One side of a copy.
#[derive(Debug, PartialEq, Eq)]
enum Side {
    Container { name: String, path: String },
    Host(String),
    Stream,
}

fn side(s: &str) -> Side {
    if s == "-" {
        return Side::Stream;
    }
    // a path that starts like one is the host's, even with a colon in it
    if s.starts_with('/') || s.starts_with('.') {
        return Side::Host(s.to_string());
    }
    match s.split_once(':') {
        Some((name, path)) if !name.is_empty() => Side::Container {
            name: name.to_string(),
            path: path.to_string(),
        },
        _ => Side::Host(s.to_string()),
    }
}

/// Where a copy lands: the directory its tar is written into and the name
/// its top entry takes (`None`: a directory's contents, no top entry).
#[derive(Debug, PartialEq, Eq)]
struct Landing {
    dir: PathBuf,
    top: Option<String>,
}

/// `path` as docker reads it: whether it asks for a directory's contents
/// (`/.`) or says it is a directory (trailing `/`).
fn contents_of(path: &str) -> bool {
    path == "." || path.ends_with("/.")
}

fn base_name(path: &str) -> String {
    Path::new(path.trim_end_matches("/."))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into())
}

/// docker's rules for `src` (of kind `kind`) onto `dst` (of kind `at`).
fn landing(src: &str, kind: Kind, dst: &str, at: Option<Kind>) -> Result<Landing, String> {
    let contents = contents_of(src) && kind == Kind::Dir;
    let own_name = || (!contents).then(|| base_name(src));
    let dst_path = PathBuf::from(dst);
    match at {
        Some(Kind::Dir) => Ok(Landing {
            dir: dst_path,
            top: own_name(),
        }),
        Some(_) if kind == Kind::Dir => Err("cannot copy a directory to a file".into()),
        Some(_) if dst.ends_with('/') => Err(format!("{dst}: not a directory")),
        Some(_) | None => {
            if at.is_none() && kind != Kind::Dir && (dst.ends_with('/') || contents_of(dst)) {
                return Err("no such directory".into());
            }
            let trimmed = dst.trim_end_matches('/');
            let p = Path::new(trimmed);
            let parent = match p.parent() {
                Some(pp) if !pp.as_os_str().is_empty() => pp.to_path_buf(),
                _ if trimmed.starts_with('/') => PathBuf::from("/"),
                _ => PathBuf::from("."),
            };
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| format!("invalid destination {dst}"))?;
            if contents {
                // the directory is made, then its contents go in
                return Ok(Landing {
                    dir: parent.join(&name),
                    top: None,
                });
            }
            Ok(Landing {
                dir: parent,
                top: Some(name),
            })
        }
    }
}

fn fail(e: impl std::fmt::Display) -> i32 {
    eprintln!("{e}");
    1
}

/// An absolute host path for `p` (relative to the working directory).
fn host_abs(p: &str) -> Result<PathBuf, CliError> {
    let path = Path::new(p);
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|e| CliError::io("working directory", e))?;
    Ok(cwd.join(path))
}

/// The path as the container sees it (relative: from `/`).
fn in_container(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

/// The uid/gid things written get: the archive's with `-a`, else root's
/// in a container and the caller's on the host.
fn owner(archive: bool, into_container: bool) -> Owner {
    if archive {
        Owner::FromArchive
    } else if into_container {
        Owner::Fixed(0, 0)
    } else {
        // SAFETY: getuid/getgid cannot fail.
        Owner::Fixed(unsafe { libc::getuid() }, unsafe { libc::getgid() })
    }
}

/// `berth cp`.
pub async fn cp(m: &Manager, a: &CpArgs) -> i32 {
    match (side(&a.src), side(&a.dest)) {
        (Side::Container { name, path }, Side::Container { .. }) => {
            let _ = (name, path);
            fail("copying between containers is not supported")
        }
        (Side::Container { name, path }, to) => from_container(m, a, &name, &path, to).await,
        (from, Side::Container { name, path }) => into_container(m, a, from, &name, &path).await,
        _ => fail("must specify at least one container source"),
    }
}

async fn container(m: &Manager, name: &str) -> Result<root::ContainerRoot, CliError> {
    root::open_held(m, name).await
}

fn not_found(path: &str, name: &str) -> String {
    format!("Error response from daemon: Could not find the file {path} in container {name}")
}

async fn from_container(m: &Manager, a: &CpArgs, name: &str, path: &str, to: Side) -> i32 {
    let croot = match container(m, name).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let src = in_container(path);
    let kind = match croot.root.kind(Path::new(&src), a.follow_link) {
        Ok(Some(k)) => k,
        Ok(None) => return fail(not_found(&src, name)),
        Err(e) => return fail(format!("Error response from daemon: {src}: {e}")),
    };
    if kind != Kind::Dir && (src.ends_with('/') || contents_of(&src)) {
        return fail(format!(
            "Error response from daemon: {src}: not a directory"
        ));
    }
    if to == Side::Stream {
        let top = (!(contents_of(&src) && kind == Kind::Dir)).then(|| base_name(&src));
        let out = std::io::stdout().lock();
        return match croot
            .root
            .archive(Path::new(&src), a.follow_link, top.as_deref(), out)
        {
            Ok(()) => 0,
            Err(e) => fail(format!("copy {src}: {e}")),
        };
    }
    let Side::Host(dst) = to else { return 1 };
    let dst_abs = match host_abs(&dst) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let host = match Root::open(Path::new("/")) {
        Ok(r) => r,
        Err(e) => return fail(format!("open /: {e}")),
    };
    let at = match host.kind(&dst_abs, true) {
        Ok(k) => k,
        Err(e) => return fail(format!("{dst}: {e}")),
    };
    let mut dst_s = dst_abs.display().to_string();
    if dst.ends_with('/') && !dst_s.ends_with('/') {
        dst_s.push('/');
    }
    let land = match landing(&src, kind, &dst_s, at) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    if let Err(e) = make_landing_dir(&land, &dst) {
        return fail(e);
    }
    // what is written on the host stays under the landing directory
    let into = match Root::open(&land.dir) {
        Ok(r) => r,
        Err(e) => return fail(format!("{}: {e}", land.dir.display())),
    };
    let copied = pipe_copy(
        |w| {
            croot
                .root
                .archive(Path::new(&src), a.follow_link, land.top.as_deref(), w)
        },
        |r| into.extract(Path::new("/"), r, owner(a.archive, false)),
    );
    match copied {
        Ok(()) => 0,
        Err(e) => fail(format!("copy {src} to {dst}: {e}")),
    }
}

/// Makes a landing directory docker makes (a directory's contents into a
/// new directory); its parent must exist.
fn make_landing_dir(land: &Landing, shown: &str) -> Result<(), String> {
    if land.top.is_none() && !land.dir.exists() && land.dir.parent().is_some_and(Path::is_dir) {
        std::fs::create_dir(&land.dir).map_err(|e| format!("{shown}: {e}"))?;
    }
    if !land.dir.is_dir() {
        return Err(format!(
            "invalid output path: directory {:?} does not exist",
            land.dir.display().to_string()
        ));
    }
    Ok(())
}

async fn into_container(m: &Manager, a: &CpArgs, from: Side, name: &str, path: &str) -> i32 {
    // a bad host source changes nothing: it is checked before the
    // container's filesystem is touched
    let host_src = match &from {
        Side::Host(p) => match host_abs(p) {
            Ok(abs) => {
                let host = match Root::open(Path::new("/")) {
                    Ok(r) => r,
                    Err(e) => return fail(format!("open /: {e}")),
                };
                match host.kind(&abs, a.follow_link) {
                    Ok(Some(k)) => {
                        if k != Kind::Dir && (p.ends_with('/') || contents_of(p)) {
                            return fail(format!("{p}: not a directory"));
                        }
                        let mut s = abs.display().to_string();
                        if contents_of(p) && !s.ends_with("/.") {
                            s.push_str("/.");
                        }
                        Some((host, s, k))
                    }
                    Ok(None) => {
                        return fail(format!(
                            "lstat {}: no such file or directory",
                            abs.display()
                        ))
                    }
                    Err(e) => return fail(format!("{p}: {e}")),
                }
            }
            Err(e) => return fail(e),
        },
        _ => None,
    };
    let croot = match container(m, name).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let dst = in_container(path);
    let at = match croot.root.kind(Path::new(&dst), true) {
        Ok(k) => k,
        Err(e) => return fail(format!("Error response from daemon: {dst}: {e}")),
    };
    let Some((host, src, kind)) = host_src else {
        // a tar stream goes into an existing directory
        if at != Some(Kind::Dir) {
            return fail(match at {
                None => not_found(&dst, name),
                Some(_) => format!(
                    "Error response from daemon: extraction point is not a directory: {dst}"
                ),
            });
        }
        let stdin = std::io::stdin().lock();
        return match croot
            .root
            .extract(Path::new(&dst), stdin, owner(a.archive, true))
        {
            Ok(()) => 0,
            Err(e) => fail(format!(
                "Error response from daemon: extract into {dst}: {e}"
            )),
        };
    };
    let land = match landing(&src, kind, &dst, at) {
        Ok(l) => l,
        Err(e) => return fail(format!("Error response from daemon: {e}")),
    };
    match croot.root.kind(&land.dir, true) {
        Ok(Some(Kind::Dir)) => {}
        Ok(None) if land.top.is_none() => {
            // a directory's contents into a new directory: made first
            let empty = empty_dir_tar(&land.dir);
            let parent = land.dir.parent().unwrap_or(Path::new("/"));
            if let Err(e) = croot.root.extract(parent, &empty[..], Owner::Fixed(0, 0)) {
                return fail(format!(
                    "Error response from daemon: {}: {e}",
                    land.dir.display()
                ));
            }
        }
        _ => {
            return fail(format!(
                "Error response from daemon: Could not find the file {} in container {name}",
                land.dir.display()
            ))
        }
    }
    let copied = pipe_copy(
        |w| host.archive(Path::new(&src), a.follow_link, land.top.as_deref(), w),
        |r| croot.root.extract(&land.dir, r, owner(a.archive, true)),
    );
    match copied {
        Ok(()) => 0,
        Err(e) => fail(format!("Error response from daemon: copy to {dst}: {e}")),
    }
}

/// A tar holding only the directory `dir`'s own entry (mode 0755).
fn empty_dir_tar(dir: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    let name = dir.file_name().map(PathBuf::from).unwrap_or_default();
    let _ = b.append_data(&mut h, name, std::io::empty());
    b.into_inner().unwrap_or_default()
}

/// Runs `write` (producing a tar) and `read` (consuming it) through a
/// bounded in-memory pipe on two threads.
fn pipe_copy(
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()> + Send,
    read: impl FnOnce(&mut dyn std::io::Read) -> std::io::Result<()> + Send,
) -> std::io::Result<()> {
    let (r, w) = std::io::pipe()?;
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            let mut w = w;
            write(&mut w)
        });
        let mut r = r;
        let consumed = read(&mut r);
        // whatever the reader left, the writer must not block on
        drop(r);
        let produced = producer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("copy thread panicked")));
        consumed.and(produced)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_parse_as_docker_reads_them() {
        assert_eq!(side("-"), Side::Stream);
        assert_eq!(
            side("web:/etc/hosts"),
            Side::Container {
                name: "web".into(),
                path: "/etc/hosts".into()
            }
        );
        assert_eq!(side("./a:b"), Side::Host("./a:b".into()));
        assert_eq!(side("/x:y"), Side::Host("/x:y".into()));
        assert_eq!(side("plain"), Side::Host("plain".into()));
    }

    #[test]
    fn docker_path_rules() {
        let l = |s, k, d, a| landing(s, k, d, a);
        // into an existing directory, under the source's name
        assert_eq!(
            l("/etc/hosts", Kind::File, "/tmp", Some(Kind::Dir)),
            Ok(Landing {
                dir: "/tmp".into(),
                top: Some("hosts".into())
            })
        );
        // onto a new name
        assert_eq!(
            l("/etc/hosts", Kind::File, "/tmp/h", None),
            Ok(Landing {
                dir: "/tmp".into(),
                top: Some("h".into())
            })
        );
        // a file over a file
        assert_eq!(
            l("/etc/hosts", Kind::File, "/tmp/h", Some(Kind::File)),
            Ok(Landing {
                dir: "/tmp".into(),
                top: Some("h".into())
            })
        );
        // a file to a missing directory
        assert!(l("/etc/hosts", Kind::File, "/tmp/nope/", None).is_err());
        // a directory onto a file
        assert_eq!(
            l("/etc", Kind::Dir, "/tmp/f", Some(Kind::File)),
            Err("cannot copy a directory to a file".into())
        );
        // a directory to a new path: created, with the contents
        assert_eq!(
            l("/etc", Kind::Dir, "/tmp/new", None),
            Ok(Landing {
                dir: "/tmp".into(),
                top: Some("new".into())
            })
        );
        // contents with /. into an existing directory
        assert_eq!(
            l("/etc/.", Kind::Dir, "/tmp", Some(Kind::Dir)),
            Ok(Landing {
                dir: "/tmp".into(),
                top: None
            })
        );
        assert_eq!(
            l("/etc/.", Kind::Dir, "/tmp/new", None),
            Ok(Landing {
                dir: "/tmp/new".into(),
                top: None
            })
        );
    }
}
