//! A container's overlay upper dir written back as an OCI layer tar: the
//! inverse of [`crate::unpack`].
//!
//! overlayfs records a deleted path as a 0:0 character device and a
//! replaced directory as one carrying the `trusted.overlay.opaque` (or,
//! mounted with `userxattr`, `user.overlay.opaque`) attribute; a layer says
//! the same with a `.wh.<name>` file and a `.wh..wh..opq` file inside the
//! directory. Everything else goes in as it is: modes, ownership, mtimes,
//! xattrs (as `SCHILY.xattr.*` PAX records, minus overlayfs's own), device
//! nodes, and hard links (the second and later names of an inode become
//! link entries to the first). Entries are written in name order, a
//! directory before its contents, so the same tree always makes the same
//! tar and so the same diff id. Sockets are left out, as docker does.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
const OPAQUE_XATTRS: [&str; 2] = ["trusted.overlay.opaque", "user.overlay.opaque"];

/// Whether an xattr is overlayfs bookkeeping rather than file content.
pub(crate) fn is_overlay_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

/// Whether `meta` is an overlay whiteout (a 0:0 character device).
pub(crate) fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Whether the directory at `path` is marked opaque by overlayfs.
pub(crate) fn is_opaque(path: &Path) -> bool {
    OPAQUE_XATTRS
        .iter()
        .any(|name| matches!(xattr::get(path, name), Ok(Some(v)) if v.as_slice() == b"y"))
}

/// The sorted names in `dir`.
pub(crate) fn sorted_names(dir: &Path) -> io::Result<Vec<std::ffi::OsString>> {
    let mut names: Vec<_> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// Writes the upper dir `upper` as an uncompressed layer tar to `out`.
pub(crate) fn write_upper_dir<W: Write>(upper: &Path, out: W) -> io::Result<W> {
    let mut w = LayerWriter {
        tar: tar::Builder::new(out),
        links: HashMap::new(),
    };
    w.tar.mode(tar::HeaderMode::Complete);
    w.walk(upper, b"")?;
    w.tar.into_inner()
}

struct LayerWriter<W: Write> {
    tar: tar::Builder<W>,
    /// (dev, ino) of multiply-linked files → the name first written.
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> LayerWriter<W> {
    /// Writes the entries under `dir`, named `prefix` + their name (bytes:
    /// names need not be UTF-8).
    fn walk(&mut self, dir: &Path, prefix: &[u8]) -> io::Result<()> {
        for name in sorted_names(dir)? {
            let path = dir.join(&name);
            let rel = PathBuf::from(OsStr::from_bytes(&[prefix, name.as_bytes()].concat()));
            let meta = fs::symlink_metadata(&path)?;
            let ft = meta.file_type();
            if is_whiteout(&meta) {
                let wh = [prefix, WHITEOUT_PREFIX.as_bytes(), name.as_bytes()].concat();
                let wh = PathBuf::from(OsStr::from_bytes(&wh));
                let mut h = header(&meta, tar::EntryType::Regular);
                h.set_mode(0o600);
                h.set_size(0);
                self.tar.append_data(&mut h, &wh, io::empty())?;
                continue;
            }
            if ft.is_socket() {
                continue;
            }
            let xattrs = content_xattrs(&path)?;
            if ft.is_dir() {
                self.pax(&xattrs)?;
                let mut h = header(&meta, tar::EntryType::Directory);
                h.set_size(0);
                let mut inner = rel.as_os_str().as_bytes().to_vec();
                inner.push(b'/');
                let as_dir = PathBuf::from(OsStr::from_bytes(&inner));
                self.tar.append_data(&mut h, &as_dir, io::empty())?;
                if is_opaque(&path) {
                    let mut o = header(&meta, tar::EntryType::Regular);
                    o.set_mode(meta.mode() & 0o777);
                    o.set_size(0);
                    self.tar
                        .append_data(&mut o, rel.join(OPAQUE_WHITEOUT), io::empty())?;
                }
                self.walk(&path, &inner)?;
            } else if ft.is_file() {
                if meta.nlink() > 1 {
                    let key = (meta.dev(), meta.ino());
                    if let Some(first) = self.links.get(&key).cloned() {
                        self.pax(&xattrs)?;
                        let mut h = header(&meta, tar::EntryType::Link);
                        h.set_size(0);
                        self.tar.append_link(&mut h, &rel, &first)?;
                        continue;
                    }
                    self.links.insert(key, rel.clone());
                }
                self.pax(&xattrs)?;
                let mut h = header(&meta, tar::EntryType::Regular);
                h.set_size(meta.len());
                let f = fs::File::open(&path)?;
                // a file that changes size under a paused container is an error, not a torn layer
                let mut r = io::Read::take(f, meta.len());
                self.tar.append_data(&mut h, &rel, &mut r)?;
            } else if ft.is_symlink() {
                let target = fs::read_link(&path)?;
                self.pax(&xattrs)?;
                let mut h = header(&meta, tar::EntryType::Symlink);
                h.set_size(0);
                self.tar.append_link(&mut h, &rel, &target)?;
            } else {
                let kind = if ft.is_char_device() {
                    tar::EntryType::Char
                } else if ft.is_block_device() {
                    tar::EntryType::Block
                } else {
                    tar::EntryType::Fifo
                };
                self.pax(&xattrs)?;
                let mut h = header(&meta, kind);
                h.set_size(0);
                // a fifo carries 0:0, written out: readers parse the fields
                let dev = if kind == tar::EntryType::Fifo {
                    0
                } else {
                    meta.rdev()
                };
                h.set_device_major(libc::major(dev))?;
                h.set_device_minor(libc::minor(dev))?;
                self.tar.append_data(&mut h, &rel, io::empty())?;
            }
        }
        Ok(())
    }

    /// A PAX extended header carrying `xattrs` for the entry that follows.
    fn pax(&mut self, xattrs: &[(Vec<u8>, Vec<u8>)]) -> io::Result<()> {
        if xattrs.is_empty() {
            return Ok(());
        }
        let mut data = Vec::new();
        for (name, value) in xattrs {
            let mut rec = b" SCHILY.xattr.".to_vec();
            rec.extend_from_slice(name);
            rec.push(b'=');
            rec.extend_from_slice(value);
            rec.push(b'\n');
            // the length field counts itself
            let mut len = rec.len() + 1;
            while len.to_string().len() + rec.len() != len {
                len = len.to_string().len() + rec.len();
            }
            data.extend_from_slice(len.to_string().as_bytes());
            data.extend_from_slice(&rec);
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_path("PaxHeaders.0/xattrs")?;
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.tar.append(&h, data.as_slice())
    }
}

fn header(meta: &fs::Metadata, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(u64::from(meta.uid()));
    h.set_gid(u64::from(meta.gid()));
    h.set_mtime(meta.mtime().max(0) as u64);
    h
}

/// The xattrs of `path` that belong in a layer, sorted by name.
fn content_xattrs(path: &Path) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let names = match xattr::list(path) {
        Ok(n) => n,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in names {
        let bytes = name.as_bytes();
        if is_overlay_xattr(bytes) {
            continue;
        }
        if let Some(v) = xattr::get(path, &name)? {
            out.push((bytes.to_vec(), v));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// (name, type, PAX records) of each entry.
    type Entry = (String, tar::EntryType, Vec<(String, Vec<u8>)>);

    fn entries(tar: &[u8]) -> Vec<Entry> {
        let mut a = tar::Archive::new(tar);
        let mut out = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let kind = e.header().entry_type();
            let mut x = Vec::new();
            if let Some(exts) = e.pax_extensions().unwrap() {
                for ext in exts {
                    let ext = ext.unwrap();
                    x.push((ext.key().unwrap().to_string(), ext.value_bytes().to_vec()));
                }
            }
            out.push((name, kind, x));
        }
        out
    }

    #[test]
    fn tree_order_links_and_xattrs() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        fs::create_dir(root.join("b")).unwrap();
        fs::write(root.join("b/z"), b"zz").unwrap();
        fs::write(root.join("a"), b"a").unwrap();
        fs::hard_link(root.join("a"), root.join("c")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("s")).unwrap();
        fs::set_permissions(root.join("a"), fs::Permissions::from_mode(0o4755)).unwrap();
        let has_xattr = xattr::set(root.join("b/z"), "user.test", b"v").is_ok();
        // names are bytes, not necessarily UTF-8
        let latin1 = OsStr::from_bytes(b"b/caf\xe9");
        fs::write(root.join(latin1), b"").unwrap();
        let tar = write_upper_dir(root, Vec::new()).unwrap();
        let e = entries(&tar);
        let names: Vec<&str> = e.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b/", "b/caf\u{fffd}", "b/z", "c", "s"]);
        let mut a = tar::Archive::new(tar.as_slice());
        let raw: Vec<Vec<u8>> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path_bytes().into_owned())
            .collect();
        assert_eq!(raw[2], b"b/caf\xe9");
        assert_eq!(e[4].1, tar::EntryType::Link);
        assert_eq!(e[5].1, tar::EntryType::Symlink);
        if has_xattr {
            assert_eq!(
                e[3].2,
                vec![("SCHILY.xattr.user.test".into(), b"v".to_vec())]
            );
        }
        // the same tree makes the same bytes
        assert_eq!(tar, write_upper_dir(root, Vec::new()).unwrap());
    }

    #[test]
    fn overlay_whiteouts_become_layer_whiteouts() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        fs::create_dir(root.join("etc")).unwrap();
        let gone = std::ffi::CString::new(root.join("etc/gone").as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mknod(gone.as_ptr(), libc::S_IFCHR, 0) }, 0);
        fs::create_dir(root.join("opq")).unwrap();
        xattr::set(root.join("opq"), "trusted.overlay.opaque", b"y").unwrap();
        fs::write(root.join("opq/new"), b"n").unwrap();
        let tar = write_upper_dir(root, Vec::new()).unwrap();
        let e = entries(&tar);
        let names: Vec<&str> = e.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "etc/",
                "etc/.wh.gone",
                "opq/",
                "opq/.wh..wh..opq",
                "opq/new"
            ]
        );
        assert!(e.iter().all(|(_, _, x)| x.is_empty()), "{e:?}");
    }
}
