//! The container side of a copy as the Docker API's archive endpoints ask
//! for it (`HEAD`, `GET`, `PUT /containers/{id}/archive`): a path's stat
//! in docker's shape, the tar of a path, and a tar written into a
//! directory — all through the same confined [`Root`] as `berth cp`, so a
//! symlink in the container never leads outside its filesystem. The
//! client does the host side and docker's path rules itself.
//!
//! [`open`] may mount a stopped container's filesystem in a private mount
//! namespace of the calling thread: call it (and drop what it returns) on
//! a thread of its own that ends afterwards.

use std::io::{Read, Write};
use std::path::Path;

use berth_proto::manager::ContainerInfo;
use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

use super::root::{self, ContainerRoot};
use super::tree::{Kind, Owner};
use super::{base_name, contents_of, in_container};
use crate::error::CliError;

/// Why a copy through the API failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteCopyError {
    #[error("Could not find the file {0} in container {1}")]
    NotFound(String, String),
    #[error("extraction point is not a directory: {0}")]
    NotADirectory(String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error(transparent)]
    Open(#[from] CliError),
}

/// A path's stat as docker's `X-Docker-Container-Path-Stat` header
/// carries it (base64 of this JSON): `mode` in Go's `os.FileMode` bits.
#[derive(Debug, Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Go's `os.FileMode` for a `st_mode`: permission bits plus type bits.
fn go_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    m |= match st_mode & libc::S_IFMT {
        libc::S_IFDIR => 1 << 31,
        libc::S_IFLNK => 1 << 27,
        libc::S_IFBLK => 1 << 26,
        libc::S_IFIFO => 1 << 25,
        libc::S_IFSOCK => 1 << 24,
        libc::S_IFCHR => (1 << 26) | (1 << 21),
        _ => 0,
    };
    if st_mode & libc::S_ISUID != 0 {
        m |= 1 << 23;
    }
    if st_mode & libc::S_ISGID != 0 {
        m |= 1 << 22;
    }
    if st_mode & libc::S_ISVTX != 0 {
        m |= 1 << 20;
    }
    m
}

/// The container's filesystem with its volumes and binds (see the module
/// note on threads).
pub fn open(c: &ContainerInfo) -> Result<ContainerRoot, CliError> {
    root::open(c, true)
}

/// The stat of `path` (relative: from `/`), a symlink's own.
pub fn stat(c: &ContainerRoot, name: &str, path: &str) -> Result<PathStat, RemoteCopyError> {
    let p = in_container(path);
    let (st, link) = c
        .root
        .stat(Path::new(&p))
        .map_err(|e| RemoteCopyError::Io(p.clone(), e))?
        .ok_or_else(|| RemoteCopyError::NotFound(p.clone(), name.to_string()))?;
    let mtime = DateTime::from_timestamp(st.st_mtime, st.st_mtime_nsec as u32)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::AutoSi, true);
    Ok(PathStat {
        name: base_name(&p),
        size: st.st_size,
        mode: go_mode(st.st_mode),
        mtime,
        link_target: link.map(|l| l.display().to_string()).unwrap_or_default(),
    })
}

/// Writes the tar of `path` to `out`: a directory's contents at the top
/// for `DIR/.`, else the path under its own name (a symlink as itself).
pub fn archive(c: &ContainerRoot, path: &str, out: impl Write) -> Result<(), RemoteCopyError> {
    let p = in_container(path);
    let kind = c
        .root
        .kind(Path::new(&p), false)
        .map_err(|e| RemoteCopyError::Io(p.clone(), e))?;
    let top = (!(contents_of(&p) && kind == Some(Kind::Dir))).then(|| base_name(&p));
    c.root
        .archive(Path::new(&p), false, top.as_deref(), out)
        .map_err(|e| RemoteCopyError::Io(p, e))
}

/// Writes the tar `input` into the existing directory `path`: entries
/// owned by root, or by the archive's owners with `copy_uid_gid`; with
/// `no_overwrite_dir_non_dir` neither a directory nor a non-directory
/// replaces the other.
pub fn extract(
    c: &ContainerRoot,
    name: &str,
    path: &str,
    input: impl Read,
    copy_uid_gid: bool,
    no_overwrite_dir_non_dir: bool,
) -> Result<(), RemoteCopyError> {
    let p = in_container(path);
    match c.root.kind(Path::new(&p), true) {
        Ok(Some(Kind::Dir)) => {}
        Ok(Some(_)) => return Err(RemoteCopyError::NotADirectory(p)),
        Ok(None) => return Err(RemoteCopyError::NotFound(p, name.to_string())),
        Err(e) => return Err(RemoteCopyError::Io(p, e)),
    }
    let owner = if copy_uid_gid {
        Owner::FromArchive
    } else {
        Owner::Fixed(0, 0)
    };
    c.root
        .extract_with(Path::new(&p), input, owner, no_overwrite_dir_non_dir)
        .map_err(|e| RemoteCopyError::Io(format!("extract into {p}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_in_go_bits() {
        assert_eq!(go_mode(libc::S_IFREG | 0o644), 0o644);
        assert_eq!(go_mode(libc::S_IFDIR | 0o755), (1 << 31) | 0o755);
        assert_eq!(go_mode(libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
        assert_eq!(
            go_mode(libc::S_IFDIR | 0o1777),
            (1 << 31) | (1 << 20) | 0o777
        );
    }
}
