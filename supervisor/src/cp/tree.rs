//! A tree inside a root, read into a tar stream and a tar stream written
//! out into a root, without ever leaving that root: every path is resolved
//! by the kernel under the root's descriptor (`RESOLVE_IN_ROOT`, so `..`
//! and absolute symlinks stop at the root), the walk goes from descriptor
//! to descriptor (`O_NOFOLLOW`), and entries are created with `*at` calls
//! in their resolved parent. A symlink in the tree is copied as a symlink,
//! never followed, except the source itself with `-L`.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use berth_openat2::{openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};

/// What a path in a root is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Other,
}

/// A directory that paths are resolved under.
pub struct Root {
    fd: OwnedFd,
}

/// Who owns what is written: the tar's owners (`-a`) or one uid/gid.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    FromArchive,
    Fixed(u32, u32),
}

fn cstr(p: &OsStr) -> io::Result<CString> {
    CString::new(p.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn fstat(fd: &impl AsRawFd) -> io::Result<libc::stat> {
    // SAFETY: an all-zero stat is a valid out buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open; st is a valid out pointer.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

fn kind_of(st: &libc::stat) -> Kind {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFREG => Kind::File,
        _ => Kind::Other,
    }
}

/// Opens `name` in the directory `dir` without following a symlink.
fn open_at(dir: &impl AsRawFd, name: &OsStr, flags: i32) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    // SAFETY: dir is open; c is NUL-terminated; a fresh fd or -1.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    check(fd)?;
    // SAFETY: the kernel returned a fresh descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reopens for reading what an `O_PATH` descriptor holds (the descriptor
/// pins it, so nothing can be swapped in between).
fn reopen(fd: &impl AsRawFd, flags: i32) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags & !libc::O_ACCMODE)
        .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn readlink_fd(fd: &impl AsRawFd) -> io::Result<PathBuf> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: an O_PATH symlink fd with an empty path reads the link itself;
    // buf is writable for its length.
    let n = unsafe {
        libc::readlinkat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(PathBuf::from(OsStr::from_bytes(&buf)))
}

impl Root {
    /// The directory at `dir` (a host path) as a root.
    pub fn open(dir: &Path) -> io::Result<Root> {
        let fd = openat2(libc::AT_FDCWD, dir, libc::O_PATH | libc::O_DIRECTORY, 0, 0)?;
        Ok(Root { fd })
    }

    /// Resolves `path` under the root; the last component is followed when
    /// it is a symlink only with `follow`.
    pub fn resolve(&self, path: &Path, follow: bool) -> io::Result<OwnedFd> {
        let rel = relative(path);
        let mut flags = libc::O_PATH;
        if !follow {
            flags |= libc::O_NOFOLLOW;
        }
        openat2(
            self.fd.as_raw_fd(),
            &rel,
            flags,
            0,
            RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        )
    }

    /// What `path` is (`None`: nothing there).
    pub fn kind(&self, path: &Path, follow: bool) -> io::Result<Option<Kind>> {
        match self.resolve(path, follow) {
            Ok(fd) => Ok(Some(kind_of(&fstat(&fd)?))),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes the tree at `path` to `out` as a tar: its entries named under
    /// `top` (`None`: the directory's contents, at the archive's top).
    pub fn archive(
        &self,
        path: &Path,
        follow: bool,
        top: Option<&str>,
        out: impl Write,
    ) -> io::Result<()> {
        let fd = self.resolve(path, follow)?;
        let mut b = tar::Builder::new(out);
        b.follow_symlinks(false);
        let mut links = HashMap::new();
        match top {
            Some(name) => add(&mut b, &fd, Path::new(name), &mut links)?,
            None => {
                if kind_of(&fstat(&fd)?) != Kind::Dir {
                    return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
                }
                add_children(&mut b, &fd, Path::new(""), &mut links)?
            }
        }
        b.into_inner()?.flush()
    }

    /// What `path` is, with its stat and, for a symlink (never followed
    /// here), its target as written (`None`: nothing there).
    pub fn stat(&self, path: &Path) -> io::Result<Option<(libc::stat, Option<PathBuf>)>> {
        let fd = match self.resolve(path, false) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(e),
        };
        let st = fstat(&fd)?;
        let link = if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            Some(readlink_fd(&fd)?)
        } else {
            None
        };
        Ok(Some((st, link)))
    }

    /// Writes the tar `input` into the directory at `dir`, entries
    /// resolved under the root (so none lands outside it).
    pub fn extract(&self, dir: &Path, input: impl Read, owner: Owner) -> io::Result<()> {
        self.extract_with(dir, input, owner, false)
    }

    /// [`Root::extract`]; with `keep_non_dirs` a directory entry never
    /// replaces a file or symlink (a file never replaces a directory).
    pub fn extract_with(
        &self,
        dir: &Path,
        input: impl Read,
        owner: Owner,
        keep_non_dirs: bool,
    ) -> io::Result<()> {
        let mut a = tar::Archive::new(input);
        let mut dirs = Vec::new();
        for entry in a.entries()? {
            let mut e = entry?;
            let name = e.path()?.into_owned();
            let Some(rel) = clean_entry(&name) else {
                continue;
            };
            let target = dir.join(&rel);
            let h = e.header().clone();
            let (parent, leaf) = match (target.parent(), target.file_name()) {
                (Some(p), Some(l)) => (p.to_path_buf(), l.to_owned()),
                _ => continue,
            };
            let pfd = self.resolve(&parent, true)?;
            let mode = h.mode().unwrap_or(0o644) & 0o7777;
            let (uid, gid) = match owner {
                Owner::FromArchive => (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32),
                Owner::Fixed(u, g) => (u, g),
            };
            let leaf_c = cstr(&leaf)?;
            let et = h.entry_type();
            if et.is_dir() {
                match open_at(&pfd, &leaf, libc::O_PATH | libc::O_DIRECTORY) {
                    Ok(_) => {}
                    Err(e) if keep_non_dirs && e.raw_os_error() == Some(libc::ENOTDIR) => {
                        return Err(io::Error::other(format!(
                            "cannot overwrite non-directory {:?} with directory",
                            target.display().to_string()
                        )));
                    }
                    Err(_) => {
                        remove_non_dir(&pfd, &leaf_c)?;
                        // SAFETY: pfd is open; leaf_c is NUL-terminated.
                        check(unsafe { libc::mkdirat(pfd.as_raw_fd(), leaf_c.as_ptr(), 0o700) })?;
                    }
                }
                let d = open_at(&pfd, &leaf, libc::O_PATH | libc::O_DIRECTORY)?;
                chown_fd(&d, uid, gid)?;
                dirs.push((d, mode));
                continue;
            }
            remove_non_dir(&pfd, &leaf_c)?;
            if et.is_symlink() {
                let link = e.link_name()?.ok_or_else(|| {
                    io::Error::other(format!("{}: symlink without target", name.display()))
                })?;
                let lc = cstr(link.as_os_str())?;
                // SAFETY: both strings are NUL-terminated; pfd is open.
                check(unsafe { libc::symlinkat(lc.as_ptr(), pfd.as_raw_fd(), leaf_c.as_ptr()) })?;
                // SAFETY: as above; AT_SYMLINK_NOFOLLOW changes the link itself.
                check(unsafe {
                    libc::fchownat(
                        pfd.as_raw_fd(),
                        leaf_c.as_ptr(),
                        uid,
                        gid,
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                })?;
            } else if et.is_hard_link() {
                let link = e.link_name()?.ok_or_else(|| {
                    io::Error::other(format!("{}: link without target", name.display()))
                })?;
                let Some(lrel) = clean_entry(&link) else {
                    continue;
                };
                let from = self.resolve(&dir.join(lrel), false)?;
                let from_path = CString::new(format!("/proc/self/fd/{}", from.as_raw_fd()))
                    .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
                // SAFETY: strings NUL-terminated; AT_SYMLINK_FOLLOW links what
                // the magic link names (the file we resolved in the root).
                check(unsafe {
                    libc::linkat(
                        libc::AT_FDCWD,
                        from_path.as_ptr(),
                        pfd.as_raw_fd(),
                        leaf_c.as_ptr(),
                        libc::AT_SYMLINK_FOLLOW,
                    )
                })?;
            } else if et.is_file() || et == tar::EntryType::Continuous {
                // SAFETY: pfd open; leaf_c NUL-terminated; O_EXCL|O_NOFOLLOW
                // creates a new file, never writes through a link.
                let fd = unsafe {
                    libc::openat(
                        pfd.as_raw_fd(),
                        leaf_c.as_ptr(),
                        libc::O_WRONLY
                            | libc::O_CREAT
                            | libc::O_EXCL
                            | libc::O_NOFOLLOW
                            | libc::O_CLOEXEC,
                        0o600,
                    )
                };
                check(fd)?;
                // SAFETY: a fresh descriptor we own.
                let mut f = unsafe { File::from_raw_fd(fd) };
                io::copy(&mut e, &mut f)?;
                chown_fd(&f, uid, gid)?;
                f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
                if let Ok(t) = h.mtime() {
                    let _ =
                        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t));
                }
            } else if et.is_character_special() || et.is_block_special() || et.is_fifo() {
                let kind = if et.is_fifo() {
                    libc::S_IFIFO
                } else if et.is_block_special() {
                    libc::S_IFBLK
                } else {
                    libc::S_IFCHR
                };
                let dev = libc::makedev(
                    h.device_major()?.unwrap_or(0),
                    h.device_minor()?.unwrap_or(0),
                );
                // SAFETY: pfd open; leaf_c NUL-terminated.
                check(unsafe {
                    libc::mknodat(pfd.as_raw_fd(), leaf_c.as_ptr(), kind | mode, dev)
                })?;
                // SAFETY: as above.
                check(unsafe {
                    libc::fchownat(
                        pfd.as_raw_fd(),
                        leaf_c.as_ptr(),
                        uid,
                        gid,
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                })?;
            }
        }
        // modes last, so a read-only directory still took its entries
        for (d, mode) in dirs {
            let f = reopen(&d, libc::O_RDONLY | libc::O_DIRECTORY)?;
            f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        }
        Ok(())
    }
}

fn chown_fd(fd: &impl AsRawFd, uid: u32, gid: u32) -> io::Result<()> {
    let p = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: p is NUL-terminated; the magic link names the object we hold.
    check(unsafe { libc::chown(p.as_ptr(), uid, gid) })
}

/// Removes `leaf` in `dir` unless it is a directory (nothing there is fine).
fn remove_non_dir(dir: &impl AsRawFd, leaf: &CString) -> io::Result<()> {
    // SAFETY: dir open; leaf NUL-terminated.
    let rc = unsafe { libc::unlinkat(dir.as_raw_fd(), leaf.as_ptr(), 0) };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOENT) => Ok(()),
        Some(libc::EISDIR) => Err(io::Error::other(format!(
            "cannot overwrite directory {:?} with non-directory",
            leaf
        ))),
        _ => Err(e),
    }
}

/// A tar entry's path made relative with no `..` (`None`: the top itself).
fn clean_entry(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// `path` without its leading `/`.
fn relative(path: &Path) -> PathBuf {
    let rel: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::RootDir))
        .collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

type Links = HashMap<(u64, u64), PathBuf>;

fn header_for(st: &libc::stat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

fn add<W: Write>(
    b: &mut tar::Builder<W>,
    fd: &OwnedFd,
    name: &Path,
    links: &mut Links,
) -> io::Result<()> {
    let st = fstat(fd)?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {
            let mut h = header_for(&st, tar::EntryType::Directory);
            b.append_data(&mut h, name, io::empty())?;
            add_children(b, fd, name, links)
        }
        libc::S_IFREG => {
            let key = (st.st_dev, st.st_ino);
            if st.st_nlink > 1 {
                if let Some(first) = links.get(&key) {
                    let mut h = header_for(&st, tar::EntryType::Link);
                    return b.append_link(&mut h, name, first);
                }
                links.insert(key, name.to_path_buf());
            }
            let f = reopen(fd, libc::O_RDONLY)?;
            let mut h = header_for(&st, tar::EntryType::Regular);
            h.set_size(st.st_size as u64);
            b.append_data(&mut h, name, f.take(st.st_size as u64))
        }
        libc::S_IFLNK => {
            let target = readlink_fd(fd)?;
            let mut h = header_for(&st, tar::EntryType::Symlink);
            b.append_link(&mut h, name, target)
        }
        libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
            let kind = match st.st_mode & libc::S_IFMT {
                libc::S_IFCHR => tar::EntryType::Char,
                libc::S_IFBLK => tar::EntryType::Block,
                _ => tar::EntryType::Fifo,
            };
            let mut h = header_for(&st, kind);
            h.set_device_major(libc::major(st.st_rdev))?;
            h.set_device_minor(libc::minor(st.st_rdev))?;
            b.append_data(&mut h, name, io::empty())
        }
        // sockets have no archive form
        _ => Ok(()),
    }
}

fn add_children<W: Write>(
    b: &mut tar::Builder<W>,
    dir: &OwnedFd,
    name: &Path,
    links: &mut Links,
) -> io::Result<()> {
    let d = open_at(dir, OsStr::new("."), libc::O_RDONLY | libc::O_DIRECTORY)?;
    let mut names: Vec<_> = std::fs::read_dir(format!("/proc/self/fd/{}", d.as_raw_fd()))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for n in names {
        let child = match open_at(&d, &n, libc::O_PATH) {
            Ok(c) => c,
            // removed while we walked
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        add(b, &child, &name.join(&n), links)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_round_trips_and_symlinks_stay_inside() {
        let src = tempfile::tempdir().unwrap();
        let s = src.path();
        std::fs::create_dir_all(s.join("d/sub")).unwrap();
        std::fs::write(s.join("d/a"), "A").unwrap();
        std::fs::write(s.join("d/sub/b"), "B").unwrap();
        std::os::unix::fs::symlink("/etc", s.join("d/etc")).unwrap();
        let root = Root::open(s).unwrap();
        let mut tar = Vec::new();
        root.archive(Path::new("/d"), false, Some("copy"), &mut tar)
            .unwrap();

        let dst = tempfile::tempdir().unwrap();
        let droot = Root::open(dst.path()).unwrap();
        droot
            .extract(Path::new("/"), &tar[..], Owner::Fixed(0, 0))
            .unwrap();
        let d = dst.path().join("copy");
        assert_eq!(std::fs::read_to_string(d.join("a")).unwrap(), "A");
        assert_eq!(std::fs::read_to_string(d.join("sub/b")).unwrap(), "B");
        assert_eq!(
            std::fs::read_link(d.join("etc")).unwrap(),
            Path::new("/etc")
        );

        // an archive that writes through its own symlink stays in the root
        let mut evil = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        evil.append_link(&mut h, "out", "/").unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        evil.append_data(&mut h, "out/escaped", &b"x"[..]).unwrap();
        let evil = evil.into_inner().unwrap();
        droot
            .extract(Path::new("/"), &evil[..], Owner::Fixed(0, 0))
            .unwrap();
        assert!(dst.path().join("escaped").exists());
        assert!(!Path::new("/escaped").exists());
        // resolving a path through the symlink stays inside too
        assert_eq!(root.kind(Path::new("/d/etc/passwd"), true).unwrap(), None);
    }
}
