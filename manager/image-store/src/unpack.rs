//! Unpacking one image layer (a tar: plain, gzip or zstd) into an empty directory,
//! refusing anything that could reach outside it.
//!
//! Every entry is created through directory fds opened one component at a
//! time with `openat2(RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH)` (`O_NOFOLLOW`
//! on kernels without it, the same for one component), so no symlink
//! (from this layer or planted by a race) is ever followed; `..` components
//! are refused, absolute paths are taken relative to the layer root, and hard
//! links must name an entry already unpacked inside it. Whiteouts become
//! overlayfs whiteouts (`.wh.x` → char device 0:0, `.wh..wh..opq` →
//! `trusted.overlay.opaque=y`). Ownership, modes, xattrs, mtimes and device
//! nodes are kept. The uncompressed stream is hashed and must match the
//! layer's diff id.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::digest::{Digest, HashingReader};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("layer entry {0:?} escapes the layer root; refused")]
    PathEscape(String),
    #[error("layer entry {0:?} would be written through a symlink; refused")]
    ThroughSymlink(String),
    #[error("layer entry {0:?}: a parent path component is not a directory")]
    NotADirectory(String),
    #[error("layer entry {entry:?}: hard link target {target:?} escapes the layer root; refused")]
    HardlinkEscape { entry: String, target: String },
    #[error("layer entry {entry:?}: hard link target {target:?} is not in this layer")]
    HardlinkTarget { entry: String, target: String },
    #[error("layer entry {entry:?}: unsupported tar entry type {kind}")]
    Unsupported { entry: String, kind: String },
    #[error("layer entry {0:?}: name contains a NUL byte")]
    BadName(String),
    #[error("layer {expected}: uncompressed content has digest {actual}; refused")]
    DiffIdMismatch { expected: Digest, actual: Digest },
    #[error("layer tar is malformed: {0}")]
    Tar(io::Error),
    #[error("layer entry {entry:?}: {source}")]
    Io { entry: String, source: io::Error },
}

fn tar_error(e: io::Error) -> UnpackError {
    UnpackError::Tar(one_line(e))
}

/// The tar crate quotes header bytes in its errors as they are, a hostile
/// archive's newlines and control characters included; berth's errors stay
/// on one line, so those are escaped.
pub(crate) fn one_line(e: io::Error) -> io::Error {
    let msg = e.to_string();
    if !msg.chars().any(char::is_control) {
        return e;
    }
    let tame: String = msg
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    io::Error::new(e.kind(), tame)
}

/// Unpacks the layer in `reader` into the empty directory `dest`; returns
/// the diff id (digest of the uncompressed tar). When `expected_diff_id`
/// is given, a mismatch is an error (the caller discards `dest`).
pub(crate) fn unpack_layer(
    reader: impl Read,
    dest: &Path,
    expected_diff_id: Option<&Digest>,
) -> Result<Digest, UnpackError> {
    let stream = decompress(reader).map_err(tar_error)?;
    let mut hashing = HashingReader::new(stream);
    let root = open_dir(libc::AT_FDCWD, dest).map_err(|source| UnpackError::Io {
        entry: dest.display().to_string(),
        source,
    })?;
    let mut u = Unpacker {
        root,
        dir_times: Vec::new(),
    };
    {
        let mut archive = tar::Archive::new(&mut hashing);
        let entries = archive.entries().map_err(tar_error)?;
        for entry in entries {
            let entry = entry.map_err(tar_error)?;
            u.entry(entry)?;
        }
    }
    u.finish_dir_times()?;
    let (actual, _) = hashing.drain().map_err(tar_error)?;
    if let Some(want) = expected_diff_id {
        if &actual != want {
            return Err(UnpackError::DiffIdMismatch {
                expected: want.clone(),
                actual,
            });
        }
    }
    Ok(actual)
}

/// The uncompressed tar stream of a layer, whatever its compression
/// (gzip, zstd or none, told apart by magic number).
pub(crate) fn decompress<'a>(reader: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut buffered = BufReader::with_capacity(256 * 1024, reader);
    let head = buffered.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?)
    } else {
        Box::new(buffered)
    })
}

/// The layer media type for a blob starting with `head`.
pub(crate) fn layer_media_type(head: &[u8]) -> &'static str {
    if head.starts_with(&[0x1f, 0x8b]) {
        crate::oci::OCI_LAYER_GZIP
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        crate::oci::OCI_LAYER_ZSTD
    } else {
        crate::oci::OCI_LAYER
    }
}

struct Unpacker {
    root: OwnedFd,
    /// Directories whose mtime is set last, once nothing more is created in them.
    dir_times: Vec<(Vec<String>, i64)>,
}

/// The path components of a tar name: absolute made relative, `.` and
/// empty components dropped, `..` refused.
fn components(raw: &[u8], shown: &str) -> Result<Vec<String>, UnpackError> {
    let s = std::str::from_utf8(raw)
        .map(str::to_string)
        .unwrap_or_else(|_| String::from_utf8_lossy(raw).into_owned());
    if raw.contains(&0) {
        return Err(UnpackError::BadName(shown.to_string()));
    }
    let mut out = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(UnpackError::PathEscape(shown.to_string())),
            c => out.push(c.to_string()),
        }
    }
    Ok(out)
}

impl Unpacker {
    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let io_err = |source| UnpackError::Io {
            entry: shown.clone(),
            source,
        };
        let kind = entry.header().entry_type();
        if matches!(kind, tar::EntryType::XGlobalHeader) {
            return Ok(());
        }
        let comps = components(&raw, &shown)?;
        let header = entry.header();
        // Empty numeric fields read as 0, as Go's archive/tar (docker's) reads them.
        let mode = header.mode().unwrap_or(0) & 0o7777;
        let uid = header.uid().unwrap_or(0) as libc::uid_t;
        let gid = header.gid().unwrap_or(0) as libc::gid_t;
        let mtime = header.mtime().unwrap_or(0) as i64;

        let Some((name, parents)) = comps.split_last() else {
            // The layer root itself ("./"): only its metadata.
            if kind.is_dir() {
                let fd = self.root.as_raw_fd();
                fchown(fd, uid, gid).map_err(io_err)?;
                fchmod(fd, mode).map_err(io_err)?;
                self.dir_times.push((Vec::new(), mtime));
            }
            return Ok(());
        };
        let parent = self.open_parents(parents, true, &shown)?;
        let pfd = parent.as_raw_fd();

        if name == OPAQUE_WHITEOUT {
            return fsetxattr(pfd, OVERLAY_OPAQUE_XATTR, b"y").map_err(io_err);
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.starts_with(".wh.") || hidden.is_empty() {
                // aufs bookkeeping (.wh..wh.plnk and friends): nothing to do.
                return Ok(());
            }
            let hidden = cname(hidden, &shown)?;
            remove_existing(pfd, &hidden).map_err(io_err)?;
            mknodat(pfd, &hidden, libc::S_IFCHR, 0).map_err(io_err)?;
            return Ok(());
        }

        let xattrs = pax_xattrs(&mut entry).map_err(io_err)?;
        let cn = cname(name, &shown)?;
        match kind {
            tar::EntryType::Directory => {
                match lstat_at(pfd, &cn).map_err(io_err)? {
                    Some(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {}
                    Some(_) => {
                        remove_existing(pfd, &cn).map_err(io_err)?;
                        mkdirat(pfd, &cn, 0o700).map_err(io_err)?;
                    }
                    None => mkdirat(pfd, &cn, 0o700).map_err(io_err)?,
                }
                let dir = openat_beneath(pfd, &cn, libc::O_RDONLY | libc::O_DIRECTORY)
                    .map_err(|e| self.walk_err(e, &shown))?;
                let fd = dir.as_raw_fd();
                fchown(fd, uid, gid).map_err(io_err)?;
                fchmod(fd, mode).map_err(io_err)?;
                set_xattrs(fd, &xattrs).map_err(io_err)?;
                self.dir_times.push((comps.clone(), mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                remove_existing(pfd, &cn).map_err(io_err)?;
                let fd = openat_beneath(pfd, &cn, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL)
                    .map_err(io_err)?;
                let mut f = File::from(fd);
                io::copy(&mut entry, &mut f).map_err(io_err)?;
                let fd = f.as_raw_fd();
                fchown(fd, uid, gid).map_err(io_err)?;
                fchmod(fd, mode).map_err(io_err)?;
                set_xattrs(fd, &xattrs).map_err(io_err)?;
                set_times_at(fd, None, mtime).map_err(io_err)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let target =
                    CString::new(target).map_err(|_| UnpackError::BadName(shown.clone()))?;
                remove_existing(pfd, &cn).map_err(io_err)?;
                // SAFETY: both strings are valid NUL-terminated C strings and
                // pfd is an open directory fd.
                let r = unsafe { libc::symlinkat(target.as_ptr(), pfd, cn.as_ptr()) };
                check(r).map_err(io_err)?;
                fchownat_nofollow(pfd, &cn, uid, gid).map_err(io_err)?;
                set_times_at(pfd, Some(&cn), mtime).map_err(io_err)?;
            }
            tar::EntryType::Link => {
                let target_raw = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let target_shown = String::from_utf8_lossy(&target_raw).into_owned();
                let tcomps = components(&target_raw, &target_shown).map_err(|_| {
                    UnpackError::HardlinkEscape {
                        entry: shown.clone(),
                        target: target_shown.clone(),
                    }
                })?;
                let Some((tname, tparents)) = tcomps.split_last() else {
                    return Err(UnpackError::HardlinkTarget {
                        entry: shown,
                        target: target_shown,
                    });
                };
                let not_here = || UnpackError::HardlinkTarget {
                    entry: shown.clone(),
                    target: target_shown.clone(),
                };
                let tparent =
                    self.open_parents(tparents, false, &target_shown)
                        .map_err(|e| match e {
                            UnpackError::ThroughSymlink(_) => UnpackError::HardlinkEscape {
                                entry: shown.clone(),
                                target: target_shown.clone(),
                            },
                            _ => not_here(),
                        })?;
                let tn = cname(tname, &shown)?;
                match lstat_at(tparent.as_raw_fd(), &tn).map_err(io_err)? {
                    Some(st) if st.st_mode & libc::S_IFMT != libc::S_IFDIR => {}
                    _ => return Err(not_here()),
                }
                remove_existing(pfd, &cn).map_err(io_err)?;
                // SAFETY: valid C strings and open directory fds; flags 0
                // means a symlink target is linked itself, never followed.
                let r =
                    unsafe { libc::linkat(tparent.as_raw_fd(), tn.as_ptr(), pfd, cn.as_ptr(), 0) };
                check(r).map_err(io_err)?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let major = entry.header().device_major().map_err(io_err)?.unwrap_or(0);
                let minor = entry.header().device_minor().map_err(io_err)?.unwrap_or(0);
                let ftype = match kind {
                    tar::EntryType::Char => libc::S_IFCHR,
                    tar::EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                remove_existing(pfd, &cn).map_err(io_err)?;
                mknodat(pfd, &cn, ftype, libc::makedev(major, minor)).map_err(io_err)?;
                fchownat_nofollow(pfd, &cn, uid, gid).map_err(io_err)?;
                // A device node can't be opened safely just to chmod it; it
                // was created right here, in a directory only berth writes.
                // SAFETY: valid C string, open directory fd.
                let r = unsafe { libc::fchmodat(pfd, cn.as_ptr(), mode, 0) };
                check(r).map_err(io_err)?;
                set_times_at(pfd, Some(&cn), mtime).map_err(io_err)?;
            }
            other => {
                return Err(UnpackError::Unsupported {
                    entry: shown,
                    kind: format!("{other:?}"),
                })
            }
        }
        Ok(())
    }

    fn walk_err(&self, e: io::Error, shown: &str) -> UnpackError {
        match e.raw_os_error() {
            Some(libc::ELOOP) => UnpackError::ThroughSymlink(shown.to_string()),
            Some(libc::ENOTDIR) => UnpackError::NotADirectory(shown.to_string()),
            Some(libc::EXDEV) => UnpackError::PathEscape(shown.to_string()),
            _ => UnpackError::Io {
                entry: shown.to_string(),
                source: e,
            },
        }
    }

    /// Opens the directory `comps` under the root one component at a time,
    /// never following a symlink; missing directories are created when
    /// `create` is set.
    fn open_parents(
        &self,
        comps: &[String],
        create: bool,
        shown: &str,
    ) -> Result<OwnedFd, UnpackError> {
        let mut cur = dup(self.root.as_raw_fd()).map_err(|source| UnpackError::Io {
            entry: shown.to_string(),
            source,
        })?;
        for c in comps {
            let cn = cname(c, shown)?;
            let next =
                match openat_beneath(cur.as_raw_fd(), &cn, libc::O_RDONLY | libc::O_DIRECTORY) {
                    Ok(fd) => fd,
                    Err(e) if create && e.raw_os_error() == Some(libc::ENOENT) => {
                        let io_err = |source| UnpackError::Io {
                            entry: shown.to_string(),
                            source,
                        };
                        mkdirat(cur.as_raw_fd(), &cn, 0o755).map_err(io_err)?;
                        let fd = openat_beneath(
                            cur.as_raw_fd(),
                            &cn,
                            libc::O_RDONLY | libc::O_DIRECTORY,
                        )
                        .map_err(|e| self.walk_err(e, shown))?;
                        // A parent the tar never lists gets docker's 0755, whatever the umask.
                        fchmod(fd.as_raw_fd(), 0o755).map_err(io_err)?;
                        fd
                    }
                    Err(e) => {
                        // O_NOFOLLOW|O_DIRECTORY reports a symlink as ENOTDIR: tell them apart.
                        let link = lstat_at(cur.as_raw_fd(), &cn)
                            .ok()
                            .flatten()
                            .is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK);
                        if link {
                            return Err(UnpackError::ThroughSymlink(shown.to_string()));
                        }
                        return Err(self.walk_err(e, shown));
                    }
                };
            cur = next;
        }
        Ok(cur)
    }

    fn finish_dir_times(&mut self) -> Result<(), UnpackError> {
        // Deepest first, so setting a child's time doesn't disturb its parent's.
        let mut dirs = std::mem::take(&mut self.dir_times);
        dirs.sort_by_key(|(c, _)| std::cmp::Reverse(c.len()));
        for (comps, mtime) in dirs {
            let shown = comps.join("/");
            // A later entry may have replaced the directory (even by a
            // symlink, which is never followed): then it has no time to set.
            let Ok(fd) = self.open_parents(&comps, false, &shown) else {
                continue;
            };
            set_times_at(fd.as_raw_fd(), None, mtime).map_err(|source| UnpackError::Io {
                entry: shown.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

/// `SCHILY.xattr.*` PAX records, minus overlayfs's own attributes (a layer
/// must not forge opaque dirs or redirects).
fn pax_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    if let Some(exts) = entry.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            let Ok(key) = ext.key() else { continue };
            if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                if !name.starts_with("trusted.overlay.") {
                    out.push((name.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
    }
    Ok(out)
}

fn cname(s: &str, shown: &str) -> Result<CString, UnpackError> {
    CString::new(s).map_err(|_| UnpackError::BadName(shown.to_string()))
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn open_dir(dirfd: RawFd, path: &Path) -> io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: valid C string; the returned fd is checked before use.
    let fd = unsafe {
        libc::openat(
            dirfd,
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Open of one name (a single path component, never `.` or `..`) under
/// `dirfd`, refusing symlinks, `..` and mount crossings: `openat2` where the
/// kernel has it (5.6 on), else `openat` with `O_NOFOLLOW`, which refuses
/// the same for a single component (a tar cannot make a mount point).
fn openat_beneath(dirfd: RawFd, name: &CString, flags: libc::c_int) -> io::Result<OwnedFd> {
    if matches!(name.as_bytes(), b"" | b"." | b"..") || name.as_bytes().contains(&b'/') {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let flags = flags | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    let mode: libc::c_uint = if flags & libc::O_CREAT != 0 { 0o600 } else { 0 };
    if !OPENAT2_MISSING.load(Ordering::Relaxed) {
        match openat2_beneath(dirfd, name, flags, mode) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                OPENAT2_MISSING.store(true, Ordering::Relaxed);
            }
            r => return r,
        }
    }
    openat_nofollow(dirfd, name, flags, mode)
}

/// `openat` of one name with the caller's `O_NOFOLLOW`: where openat2 is
/// missing.
fn openat_nofollow(
    dirfd: RawFd,
    name: &CString,
    flags: libc::c_int,
    mode: libc::c_uint,
) -> io::Result<OwnedFd> {
    // SAFETY: valid C string; the returned fd is checked before use.
    let fd = unsafe { libc::openat(dirfd, name.as_ptr(), flags, mode) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Set once `openat2` answered ENOSYS (a kernel before 5.6, or a sandbox
/// that does not know it), so it is not asked again.
static OPENAT2_MISSING: AtomicBool = AtomicBool::new(false);

fn openat2_beneath(
    dirfd: RawFd,
    name: &CString,
    flags: libc::c_int,
    mode: libc::c_uint,
) -> io::Result<OwnedFd> {
    // SAFETY: open_how is plain integers; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.mode = u64::from(mode);
    how.resolve = libc::RESOLVE_NO_SYMLINKS
        | libc::RESOLVE_BENEATH
        | libc::RESOLVE_NO_MAGICLINKS
        | libc::RESOLVE_NO_XDEV;
    // SAFETY: `how` is a fully initialised open_how of the size passed, and
    // `name` a valid C string; the result is checked before use.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fd is open for the duration of the call; the duplicate is checked.
    let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: n is a fresh fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

fn lstat_at(dirfd: RawFd, name: &CString) -> io::Result<Option<libc::stat>> {
    // SAFETY: an all-zero stat is a valid value for fstatat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string, open dir fd, st points to writable memory.
    let r = unsafe { libc::fstatat(dirfd, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ENOENT) {
            Ok(None)
        } else {
            Err(e)
        };
    }
    Ok(Some(st))
}

/// Makes way for a new entry: a later tar entry replaces an earlier one,
/// except that a directory stays a directory.
fn remove_existing(dirfd: RawFd, name: &CString) -> io::Result<()> {
    let Some(st) = lstat_at(dirfd, name)? else {
        return Ok(());
    };
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        // std's remove_dir_all walks by fd and never follows symlinks.
        let path = format!(
            "/proc/self/fd/{dirfd}/{}",
            String::from_utf8_lossy(name.as_bytes())
        );
        return std::fs::remove_dir_all(path);
    }
    // SAFETY: valid C string and open directory fd.
    check(unsafe { libc::unlinkat(dirfd, name.as_ptr(), 0) })
}

fn mkdirat(dirfd: RawFd, name: &CString, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: valid C string and open directory fd.
    check(unsafe { libc::mkdirat(dirfd, name.as_ptr(), mode) })
}

fn mknodat(dirfd: RawFd, name: &CString, ftype: libc::mode_t, dev: libc::dev_t) -> io::Result<()> {
    // SAFETY: valid C string and open directory fd.
    check(unsafe { libc::mknodat(dirfd, name.as_ptr(), ftype | 0o600, dev) })
}

fn fchown(fd: RawFd, uid: libc::uid_t, gid: libc::gid_t) -> io::Result<()> {
    // SAFETY: plain syscall on an open fd.
    check(unsafe { libc::fchown(fd, uid, gid) })
}

fn fchownat_nofollow(
    dirfd: RawFd,
    name: &CString,
    uid: libc::uid_t,
    gid: libc::gid_t,
) -> io::Result<()> {
    // SAFETY: valid C string and open directory fd; AT_SYMLINK_NOFOLLOW
    // changes a symlink itself.
    check(unsafe { libc::fchownat(dirfd, name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) })
}

fn fchmod(fd: RawFd, mode: u32) -> io::Result<()> {
    // SAFETY: plain syscall on an open fd.
    check(unsafe { libc::fchmod(fd, mode as libc::mode_t) })
}

fn fsetxattr(fd: RawFd, name: &str, value: &[u8]) -> io::Result<()> {
    let n = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: valid C string name, value pointer and length from one slice.
    check(unsafe { libc::fsetxattr(fd, n.as_ptr(), value.as_ptr().cast(), value.len(), 0) })
}

fn set_xattrs(fd: RawFd, xattrs: &[(String, Vec<u8>)]) -> io::Result<()> {
    for (k, v) in xattrs {
        fsetxattr(fd, k, v)?;
    }
    Ok(())
}

/// Sets atime and mtime to `mtime`: on `fd` itself when `name` is `None`,
/// else on `name` under `fd` without following a symlink.
fn set_times_at(fd: RawFd, name: Option<&CString>, mtime: i64) -> io::Result<()> {
    let t = libc::timespec {
        tv_sec: mtime as libc::time_t,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: times is a 2-element array as utimensat requires; name (when
    // given) is a valid C string.
    let r = unsafe {
        match name {
            Some(n) => libc::utimensat(fd, n.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW),
            None => libc::futimens(fd, times.as_ptr()),
        }
    };
    check(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

    /// A tar built entry by entry, with names the `tar` crate's safe
    /// setters would refuse.
    struct Tar(tar::Builder<Vec<u8>>);

    impl Tar {
        fn new() -> Tar {
            Tar(tar::Builder::new(Vec::new()))
        }
        fn header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
            let mut h = tar::Header::new_gnu();
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_entry_type(kind);
            h.set_size(size);
            h.set_mode(0o644);
            h.set_uid(1000);
            h.set_gid(1001);
            h.set_mtime(1_000_000);
            h.set_cksum();
            h
        }
        fn file(mut self, name: &str, data: &[u8]) -> Tar {
            let h = Tar::header(name, tar::EntryType::Regular, data.len() as u64);
            self.0.append(&h, data).unwrap();
            self
        }
        fn dir(mut self, name: &str) -> Tar {
            let mut h = Tar::header(name, tar::EntryType::Directory, 0);
            h.set_mode(0o755);
            h.set_cksum();
            self.0.append(&h, &[][..]).unwrap();
            self
        }
        fn link(mut self, name: &str, kind: tar::EntryType, target: &str) -> Tar {
            let mut h = Tar::header(name, kind, 0);
            h.as_gnu_mut().unwrap().linkname[..target.len()].copy_from_slice(target.as_bytes());
            h.set_cksum();
            self.0.append(&h, &[][..]).unwrap();
            self
        }
        fn bytes(self) -> Vec<u8> {
            self.0.into_inner().unwrap()
        }
    }

    struct Case {
        outer: tempfile::TempDir,
    }

    impl Case {
        fn new() -> Case {
            let outer = tempfile::tempdir().unwrap();
            fs::create_dir(outer.path().join("layer")).unwrap();
            fs::create_dir(outer.path().join("etc")).unwrap();
            Case { outer }
        }
        fn layer(&self) -> std::path::PathBuf {
            self.outer.path().join("layer")
        }
        fn unpack(&self, tar: Vec<u8>) -> Result<Digest, UnpackError> {
            unpack_layer(&tar[..], &self.layer(), None)
        }
        /// Nothing may appear outside the layer dir.
        fn outside_untouched(&self) {
            let names: Vec<_> = fs::read_dir(self.outer.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            assert_eq!(names.len(), 2, "{names:?}");
            assert_eq!(
                fs::read_dir(self.outer.path().join("etc")).unwrap().count(),
                0
            );
        }
    }

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn dotdot_entry_is_refused() {
        let c = Case::new();
        let err = c
            .unpack(Tar::new().file("../etc/x", b"pwned").bytes())
            .unwrap_err();
        assert!(matches!(err, UnpackError::PathEscape(_)), "{err}");
        let err = c
            .unpack(Tar::new().file("a/../../etc/x", b"pwned").bytes())
            .unwrap_err();
        assert!(matches!(err, UnpackError::PathEscape(_)), "{err}");
        assert!(err.to_string().contains("a/../../etc/x"));
        c.outside_untouched();
    }

    #[test]
    fn absolute_entry_lands_inside() {
        let c = Case::new();
        c.unpack(Tar::new().file("/etc/x", b"inside").bytes())
            .unwrap();
        assert_eq!(fs::read(c.layer().join("etc/x")).unwrap(), b"inside");
        c.outside_untouched();
    }

    #[test]
    fn write_through_absolute_symlink_is_refused() {
        let c = Case::new();
        let target = c.outer.path().join("etc");
        let tar = Tar::new()
            .link("evil", tar::EntryType::Symlink, target.to_str().unwrap())
            .file("evil/x", b"pwned")
            .bytes();
        let err = c.unpack(tar).unwrap_err();
        assert!(matches!(err, UnpackError::ThroughSymlink(_)), "{err}");
        c.outside_untouched();
    }

    #[test]
    fn write_through_relative_symlink_is_refused() {
        let c = Case::new();
        let tar = Tar::new()
            .link("up", tar::EntryType::Symlink, "../etc")
            .file("up/x", b"pwned")
            .bytes();
        let err = c.unpack(tar).unwrap_err();
        assert!(matches!(err, UnpackError::ThroughSymlink(_)), "{err}");
        c.outside_untouched();
    }

    #[test]
    fn hardlink_escape_is_refused() {
        let c = Case::new();
        fs::write(c.outer.path().join("etc/secret"), b"s").unwrap();
        let err = c
            .unpack(
                Tar::new()
                    .link("h", tar::EntryType::Link, "../etc/secret")
                    .bytes(),
            )
            .unwrap_err();
        assert!(matches!(err, UnpackError::HardlinkEscape { .. }), "{err}");
        // An absolute target is taken inside the layer, where it doesn't exist.
        let abs = c.outer.path().join("etc/secret");
        let err = c
            .unpack(
                Tar::new()
                    .link("h", tar::EntryType::Link, abs.to_str().unwrap())
                    .bytes(),
            )
            .unwrap_err();
        assert!(matches!(err, UnpackError::HardlinkTarget { .. }), "{err}");
        // Through a symlink that points outside.
        let err = c
            .unpack(
                Tar::new()
                    .link("s", tar::EntryType::Symlink, "../etc")
                    .link("h", tar::EntryType::Link, "s/secret")
                    .bytes(),
            )
            .unwrap_err();
        assert!(matches!(err, UnpackError::HardlinkEscape { .. }), "{err}");
        fs::remove_file(c.outer.path().join("etc/secret")).unwrap();
        c.outside_untouched();
    }

    #[test]
    fn files_links_and_metadata_are_kept() {
        let c = Case::new();
        let tar = Tar::new()
            .dir("bin/")
            .file("bin/busybox", b"#!binary")
            .link("bin/sh", tar::EntryType::Symlink, "/bin/busybox")
            .link("bin/ls", tar::EntryType::Link, "bin/busybox")
            .bytes();
        let diff = c.unpack(tar.clone()).unwrap();
        assert_eq!(diff, Digest::of(&tar));
        let l = c.layer();
        let m = fs::metadata(l.join("bin/busybox")).unwrap();
        assert_eq!(m.nlink(), 2);
        assert_eq!(m.mtime(), 1_000_000);
        assert_eq!(m.permissions().mode() & 0o7777, 0o644);
        if is_root() {
            assert_eq!((m.uid(), m.gid()), (1000, 1001));
        }
        assert_eq!(
            fs::read_link(l.join("bin/sh")).unwrap(),
            Path::new("/bin/busybox")
        );
        let c2 = Case::new();
        c2.unpack(Tar::new().file("usr/lib/x", b"x").bytes())
            .unwrap();
        let implicit = fs::metadata(c2.layer().join("usr/lib")).unwrap();
        assert_eq!(implicit.permissions().mode() & 0o7777, 0o755);
        let d = fs::metadata(l.join("bin")).unwrap();
        assert_eq!(d.mtime(), 1_000_000);
        assert_eq!(d.permissions().mode() & 0o7777, 0o755);
    }

    #[test]
    fn whiteouts_become_overlay_whiteouts() {
        if !is_root() {
            panic!("whiteout conversion needs root (mknod, trusted.* xattrs)");
        }
        let c = Case::new();
        let tar = Tar::new()
            .dir("etc/")
            .file("etc/.wh.passwd", b"")
            .dir("opt/")
            .file("opt/.wh..wh..opq", b"")
            .bytes();
        c.unpack(tar).unwrap();
        let m = fs::symlink_metadata(c.layer().join("etc/passwd")).unwrap();
        assert!(m.file_type().is_char_device());
        assert_eq!(m.rdev(), 0);
        assert!(!c.layer().join("etc/.wh.passwd").exists());
        let mut buf = [0u8; 8];
        let p = CString::new(c.layer().join("opt").as_os_str().as_bytes()).unwrap();
        let n = CString::new(OVERLAY_OPAQUE_XATTR).unwrap();
        // SAFETY: valid C strings and a buffer of the length passed.
        let len =
            unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        assert_eq!(len, 1);
        assert_eq!(buf[0], b'y');
    }

    #[test]
    fn gzip_and_diff_id_are_checked() {
        let c = Case::new();
        let tar = Tar::new().file("a", b"hello").bytes();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        let want = Digest::of(&tar);
        assert_eq!(
            unpack_layer(&gz[..], &c.layer(), Some(&want)).unwrap(),
            want
        );
        assert_eq!(fs::read(c.layer().join("a")).unwrap(), b"hello");
        let zst = zstd::stream::encode_all(&tar[..], 3).unwrap();
        fs::remove_file(c.layer().join("a")).unwrap();
        assert_eq!(
            unpack_layer(&zst[..], &c.layer(), Some(&want)).unwrap(),
            want
        );
        assert_eq!(fs::read(c.layer().join("a")).unwrap(), b"hello");
        let wrong = Digest::of(b"x");
        let err = unpack_layer(&gz[..], &c.layer(), Some(&wrong)).unwrap_err();
        assert!(matches!(err, UnpackError::DiffIdMismatch { .. }), "{err}");
    }

    /// Where openat2 is missing, one name is opened with `O_NOFOLLOW`: a
    /// symlink there (planted or unpacked) is refused as openat2 refuses it,
    /// and a name that is not a single component never reaches a syscall.
    #[test]
    fn the_openat_fallback_refuses_what_openat2_refuses() {
        let c = Case::new();
        let root = c.layer();
        fs::create_dir(root.join("d")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("evil")).unwrap();
        let dir = File::open(&root).unwrap();
        let fd = dir.as_raw_fd();
        let name = |s: &str| CString::new(s).unwrap();
        let nofollow = libc::O_CLOEXEC | libc::O_NOFOLLOW;
        let dirs = libc::O_RDONLY | libc::O_DIRECTORY | nofollow;
        assert!(openat_nofollow(fd, &name("d"), dirs, 0).is_ok());
        for flags in [dirs, libc::O_WRONLY | libc::O_CREAT | nofollow] {
            let e = openat_nofollow(fd, &name("evil"), flags, 0o600).unwrap_err();
            assert!(
                matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)),
                "{e}"
            );
            assert!(openat_beneath(fd, &name("evil"), flags).is_err());
        }
        for bad in ["", ".", "..", "d/x", "/etc"] {
            let e = openat_beneath(fd, &name(bad), libc::O_RDONLY).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{bad:?}");
        }
    }
}
