//! The build context on the host, and the layer tars COPY and ADD hand to
//! the manager.  A source is looked up inside the context only: `../x` is
//! refused, a symlink on the way to a source resolves as if the context were
//! `/`, and inside a copied directory a symlink is copied as a symlink,
//! never followed.  Paths `.dockerignore` excludes do not exist for the
//! build.  Ownership (`--chown`) and modes (`--chmod`) are set in the tar
//! headers, so files land as they must without a container.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::ignore::{clean, glob_matches, is_glob, Ignore, IgnoreError};

/// A context or a source in it is not usable.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("forbidden path outside the build context: {0}")]
    Outside(String),
    #[error("file not found in build context or excluded by .dockerignore: stat {0}: file does not exist")]
    NotFound(String),
    #[error("no source files were specified")]
    NoSources,
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: io::Error,
    },
    #[error(transparent)]
    Ignore(#[from] IgnoreError),
    #[error("{0}")]
    Invalid(String),
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ContextError + 'a {
    move |source| ContextError::Io {
        what,
        path: path.display().to_string(),
        source,
    }
}

/// A directory tree to copy from: the build context (with its ignore
/// rules) or a mounted image (`COPY --from`).
#[derive(Debug, Clone)]
pub struct Tree {
    root: PathBuf,
    ignore: Ignore,
}

/// One COPY source, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// path relative to the tree's root, cleaned
    pub rel: String,
    /// where it is on the host (inside the root)
    pub host: PathBuf,
    pub is_dir: bool,
}

impl Tree {
    /// The build context at `root`, reading its `.dockerignore`.
    pub fn context(root: &Path) -> Result<Tree, ContextError> {
        let root = root
            .canonicalize()
            .map_err(io_err("open build context", root))?;
        let ig = root.join(".dockerignore");
        let ignore = match fs::read_to_string(&ig) {
            Ok(t) => Ignore::parse(&t)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ignore::default(),
            Err(e) => return Err(io_err("read", &ig)(e)),
        };
        Ok(Tree { root, ignore })
    }

    /// A tree with no ignore rules (an image's rootfs).
    pub fn plain(root: &Path) -> Tree {
        Tree {
            root: root.to_path_buf(),
            ignore: Ignore::default(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves `rel` inside the tree: symlinks on the way (and at the end)
    /// followed as if the root were `/`.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf, ContextError> {
        let mut parts: Vec<String> = Vec::new();
        let mut todo: Vec<String> = clean(rel)
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .rev()
            .map(String::from)
            .collect();
        let mut links = 0;
        while let Some(p) = todo.pop() {
            if p == ".." {
                parts.pop();
                continue;
            }
            let host = self.root.join(parts.join("/")).join(&p);
            match fs::symlink_metadata(&host) {
                Ok(m) if m.file_type().is_symlink() => {
                    links += 1;
                    if links > 255 {
                        return Err(ContextError::Invalid(format!(
                            "too many levels of symbolic links: {rel}"
                        )));
                    }
                    let target = fs::read_link(&host).map_err(io_err("readlink", &host))?;
                    let t = target.to_string_lossy().to_string();
                    if t.starts_with('/') {
                        parts.clear();
                    }
                    for q in t.split('/').rev() {
                        if !q.is_empty() && q != "." {
                            todo.push(q.to_string());
                        }
                    }
                }
                _ => parts.push(p),
            }
        }
        Ok(self.root.join(parts.join("/")))
    }

    fn excluded(&self, rel: &str) -> bool {
        self.ignore.excludes(rel)
    }

    /// Resolves COPY sources (already expanded): globs match files in the
    /// tree, plain paths must exist and not be excluded.
    pub fn sources(&self, patterns: &[String]) -> Result<Vec<Source>, ContextError> {
        let mut out = Vec::new();
        for pat in patterns {
            let c = clean(pat.trim_start_matches('/'));
            if c == ".." || c.starts_with("../") {
                return Err(ContextError::Outside(pat.clone()));
            }
            if is_glob(&c) {
                let mut found = Vec::new();
                self.walk_matching(&c, &mut found)?;
                if found.is_empty() {
                    return Err(ContextError::NoSources);
                }
                out.extend(found);
                continue;
            }
            if c != "." && self.excluded(&c) {
                return Err(ContextError::NotFound(c));
            }
            let host = if c == "." {
                self.root.clone()
            } else {
                self.resolve(&c)?
            };
            let m = fs::metadata(&host).map_err(|_| ContextError::NotFound(c.clone()))?;
            out.push(Source {
                rel: c,
                host,
                is_dir: m.is_dir(),
            });
        }
        Ok(out)
    }

    fn walk_matching(&self, pattern: &str, found: &mut Vec<Source>) -> Result<(), ContextError> {
        let depth = pattern.split('/').count();
        let mut stack = vec![(String::new(), 0usize)];
        while let Some((rel, d)) = stack.pop() {
            let dir = self.root.join(&rel);
            for n in sorted_names(&dir)? {
                let r = child_rel(&rel, &n);
                if self.excluded(&r) {
                    continue;
                }
                let host = self.root.join(&r);
                let meta = fs::symlink_metadata(&host).map_err(io_err("stat", &host))?;
                if d + 1 == depth {
                    if glob_matches(pattern, &r) {
                        let is_dir = fs::metadata(self.resolve(&r)?)
                            .map(|m| m.is_dir())
                            .unwrap_or(false);
                        found.push(Source {
                            host: self.resolve(&r)?,
                            rel: r,
                            is_dir,
                        });
                    }
                } else if meta.is_dir() {
                    stack.push((r, d + 1));
                }
            }
        }
        found.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(())
    }
}

/// How copied entries land.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    /// absolute destination in the image
    pub dest: String,
    /// the destination is a directory (trailing `/`, several sources, or an
    /// existing directory in the image)
    pub dest_is_dir: bool,
    /// `--chown`, resolved to numbers
    pub owner: Option<(u64, u64)>,
    /// `--chmod`
    pub mode: Option<u32>,
    /// ADD: local tar archives are unpacked into the destination
    pub unpack: bool,
}

/// Writes the layer tar for one COPY/ADD into `out`.  `image` is the parent
/// image's rootfs (when there is one), so that the directories above the
/// destination keep their mode and owner.
pub fn write_layer(
    sources: &[Source],
    tree: &Tree,
    place: &Placement,
    image: Option<&Path>,
    out: impl Write,
) -> Result<(), ContextError> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let mut w = LayerWriter {
        b: &mut b,
        tree,
        place,
        written_dirs: Vec::new(),
    };
    let dest = clean(&place.dest);
    w.parents(&dest, image)?;
    for s in sources {
        let name = s.rel.rsplit('/').next().unwrap_or(&s.rel).to_string();
        if s.is_dir {
            w.dir_entry(&dest, &s.host, true)?;
            w.dir_contents(&s.rel, &s.host, &dest)?;
        } else if place.unpack && is_archive(&s.host) {
            w.dir_entry(&dest, &s.host, false)?;
            w.unpack(&s.host, &dest)?;
        } else {
            let target = if place.dest_is_dir {
                w.dir_entry(&dest, &s.host, false)?;
                join(&dest, &name)
            } else {
                dest.clone()
            };
            w.entry(&s.host, &target)?;
        }
    }
    b.finish()
        .map_err(io_err("write layer", Path::new("tar")))?;
    Ok(())
}

/// The names in a directory, sorted so tars and digests do not depend on
/// the file system's order.
fn sorted_names(dir: &Path) -> Result<Vec<String>, ContextError> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(io_err("read", dir))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    Ok(names)
}

/// `rel/name`, relative to the tree's root (`.` and "" are the root).
fn child_rel(rel: &str, name: &str) -> String {
    if rel == "." || rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

struct LayerWriter<'a, W: Write> {
    b: &'a mut tar::Builder<W>,
    tree: &'a Tree,
    place: &'a Placement,
    written_dirs: Vec<String>,
}

fn tar_name(path: &str) -> String {
    let p = path.trim_start_matches('/');
    if p.is_empty() {
        "./".into()
    } else {
        p.to_string()
    }
}

impl<W: Write> LayerWriter<'_, W> {
    /// The directories above `dest`, as they are in the image, or new.
    fn parents(&mut self, dest: &str, image: Option<&Path>) -> Result<(), ContextError> {
        let mut cur = String::new();
        let parts: Vec<&str> = dest.split('/').filter(|p| !p.is_empty()).collect();
        let upto = if self.place.dest_is_dir {
            parts.len()
        } else {
            parts.len().saturating_sub(1)
        };
        for p in &parts[..upto] {
            cur = format!("{cur}/{p}");
            let existing = image
                .map(|r| r.join(cur.trim_start_matches('/')))
                .and_then(|h| fs::symlink_metadata(h).ok())
                .filter(|m| m.is_dir());
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            match existing {
                Some(m) => {
                    h.set_mode(m.mode() & 0o7777);
                    h.set_uid(m.uid() as u64);
                    h.set_gid(m.gid() as u64);
                    h.set_mtime(m.mtime().max(0) as u64);
                }
                None => {
                    h.set_mode(0o755);
                    let (u, g) = if cur == dest {
                        self.place.owner.unwrap_or((0, 0))
                    } else {
                        (0, 0)
                    };
                    h.set_uid(u);
                    h.set_gid(g);
                    h.set_mtime(now());
                }
            }
            self.append(&mut h, &cur, io::empty())?;
            self.written_dirs.push(cur.clone());
        }
        Ok(())
    }

    fn append(
        &mut self,
        h: &mut tar::Header,
        path: &str,
        data: impl Read,
    ) -> Result<(), ContextError> {
        let name = tar_name(path);
        self.b
            .append_data(h, &name, data)
            .map_err(io_err("write layer entry", Path::new(path)))
    }

    /// The destination directory itself, when it was not already written.
    fn dir_entry(&mut self, dest: &str, _src: &Path, _is_dir: bool) -> Result<(), ContextError> {
        if self.written_dirs.iter().any(|d| d == dest) || dest == "/" {
            return Ok(());
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        h.set_mode(0o755);
        let (u, g) = self.place.owner.unwrap_or((0, 0));
        h.set_uid(u);
        h.set_gid(g);
        h.set_mtime(now());
        self.append(&mut h, dest, io::empty())?;
        self.written_dirs.push(dest.to_string());
        Ok(())
    }

    fn header_for(&self, meta: &fs::Metadata) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_mode(self.place.mode.unwrap_or(meta.mode() & 0o7777));
        let (u, g) = self.place.owner.unwrap_or((0, 0));
        h.set_uid(u);
        h.set_gid(g);
        h.set_mtime(meta.mtime().max(0) as u64);
        h
    }

    /// One file, symlink or directory (not its contents) at `target`.
    fn entry(&mut self, host: &Path, target: &str) -> Result<(), ContextError> {
        let meta = fs::symlink_metadata(host).map_err(io_err("stat", host))?;
        let ft = meta.file_type();
        let mut h = self.header_for(&meta);
        if ft.is_symlink() {
            let link = fs::read_link(host).map_err(io_err("readlink", host))?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            if meta.mode() & 0o777 != 0 && self.place.mode.is_none() {
                h.set_mode(0o777);
            }
            let name = tar_name(target);
            self.b
                .append_link(&mut h, &name, &link)
                .map_err(io_err("write layer entry", host))?;
        } else if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            self.append(&mut h, target, io::empty())?;
        } else if ft.is_file() {
            let f = File::open(host).map_err(io_err("open", host))?;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(meta.len());
            self.append(&mut h, target, BufReader::new(f).take(meta.len()))?;
        }
        // sockets, fifos and devices in a context are left out, as docker does
        Ok(())
    }

    fn dir_contents(&mut self, rel: &str, host: &Path, dest: &str) -> Result<(), ContextError> {
        for n in sorted_names(host)? {
            let r = child_rel(rel, &n);
            let h = host.join(&n);
            let target = join(dest, &n);
            let excluded = self.tree.excluded(&r);
            let meta = fs::symlink_metadata(&h).map_err(io_err("stat", &h))?;
            if excluded && !(meta.is_dir() && self.tree.ignore.has_exceptions()) {
                continue;
            }
            if !excluded {
                self.entry(&h, &target)?;
            }
            if meta.is_dir() {
                self.dir_contents(&r, &h, &target)?;
            }
        }
        Ok(())
    }

    /// ADD of a local tar (plain or gzip): its entries under `dest`.
    fn unpack(&mut self, archive: &Path, dest: &str) -> Result<(), ContextError> {
        let reader = open_archive(archive)?;
        let mut a = tar::Archive::new(reader);
        let entries = a.entries().map_err(io_err("read archive", archive))?;
        for e in entries {
            let mut e = e.map_err(io_err("read archive", archive))?;
            let path = e
                .path()
                .map_err(io_err("read archive", archive))?
                .to_string_lossy()
                .to_string();
            let c = clean(&format!("/{path}"));
            if c == "/" {
                continue;
            }
            let target = format!("{}{}", dest.trim_end_matches('/'), c);
            let mut h = e.header().clone();
            if let Some((u, g)) = self.place.owner {
                h.set_uid(u);
                h.set_gid(g);
            }
            let name = tar_name(&target);
            match h.entry_type() {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let link = e
                        .link_name()
                        .map_err(io_err("read archive", archive))?
                        .unwrap_or_default()
                        .to_string_lossy()
                        .to_string();
                    let link = if h.entry_type() == tar::EntryType::Link {
                        // hard links name a path inside the archive: move it under dest too
                        tar_name(&format!(
                            "{}{}",
                            dest.trim_end_matches('/'),
                            clean(&format!("/{link}"))
                        ))
                    } else {
                        link
                    };
                    self.b
                        .append_link(&mut h, &name, &link)
                        .map_err(io_err("write layer entry", archive))?;
                }
                _ => {
                    self.b
                        .append_data(&mut h, &name, &mut e)
                        .map_err(io_err("write layer entry", archive))?;
                }
            }
        }
        Ok(())
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn open_archive(path: &Path) -> Result<Box<dyn Read>, ContextError> {
    let mut f = File::open(path).map_err(io_err("open", path))?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic).map_err(io_err("read", path))?;
    f.rewind().map_err(io_err("read", path))?;
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::GzDecoder::new(BufReader::new(f))))
    } else {
        Ok(Box::new(BufReader::new(f)))
    }
}

/// Unpacks a build context sent as a tar (plain or gzip), as on
/// `berth build - < context.tar`, into `dir`: entries that would land
/// outside it are refused by the unpacker.
pub fn unpack_context(data: &[u8], dir: &Path) -> Result<(), ContextError> {
    let reader: Box<dyn Read + '_> = if data.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(data))
    } else {
        Box::new(data)
    };
    let mut a = tar::Archive::new(reader);
    a.set_preserve_permissions(true);
    a.unpack(dir).map_err(io_err("unpack build context", dir))
}

/// True for data that starts like a tar archive (plain or gzip).
pub fn looks_like_tar(data: &[u8]) -> bool {
    data.starts_with(&[0x1f, 0x8b]) || data.get(257..262) == Some(b"ustar".as_slice())
}

/// True for a plain or gzip tar archive (ADD unpacks those).
pub fn is_archive(path: &Path) -> bool {
    let Ok(mut r) = open_archive(path) else {
        return false;
    };
    let mut block = [0u8; 512];
    if r.read_exact(&mut block).is_err() {
        return false;
    }
    &block[257..262] == b"ustar"
}

/// A digest of the sources' contents and metadata (names, modes, sizes,
/// link targets, file bytes): the COPY/ADD part of a cache key.  Times are
/// left out so a touched but unchanged file still hits the cache.
pub fn digest(sources: &[Source], tree: &Tree) -> Result<String, ContextError> {
    let mut h = Sha256::new();
    for s in sources {
        h.update(s.rel.as_bytes());
        h.update([0]);
        digest_path(&mut h, tree, &s.rel, &s.host, s.is_dir)?;
    }
    Ok(hex::encode(h.finalize()))
}

fn digest_path(
    h: &mut Sha256,
    tree: &Tree,
    rel: &str,
    host: &Path,
    recurse: bool,
) -> Result<(), ContextError> {
    let meta = fs::symlink_metadata(host).map_err(io_err("stat", host))?;
    h.update(format!("{:o} {}\0", meta.permissions().mode(), meta.len()).as_bytes());
    if meta.file_type().is_symlink() {
        let t = fs::read_link(host).map_err(io_err("readlink", host))?;
        h.update(t.to_string_lossy().as_bytes());
    } else if meta.is_file() {
        let mut f = File::open(host).map_err(io_err("open", host))?;
        io::copy(&mut f, h).map_err(io_err("read", host))?;
    } else if meta.is_dir() && recurse {
        for n in sorted_names(host)? {
            let r = child_rel(rel, &n);
            let p = host.join(&n);
            if tree.excluded(&r) && !tree.ignore.has_exceptions() {
                continue;
            }
            if !tree.excluded(&r) {
                h.update(r.as_bytes());
                h.update([0]);
            }
            digest_path(h, tree, &r, &p, true)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn ctx() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::write(r.join("a.txt"), "a").unwrap();
        fs::write(r.join("b.txt"), "b").unwrap();
        fs::create_dir_all(r.join("src/sub")).unwrap();
        fs::write(r.join("src/main.c"), "int main;").unwrap();
        fs::write(r.join("src/sub/x.o"), "obj").unwrap();
        symlink("/etc/shadow", r.join("src/shadow")).unwrap();
        symlink("src", r.join("srclink")).unwrap();
        d
    }

    fn names(tar_bytes: &[u8]) -> Vec<(String, tar::EntryType, u64, u64)> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.entry_type(),
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn outside_and_missing_are_refused() {
        let d = ctx();
        let t = Tree::context(d.path()).unwrap();
        assert!(matches!(
            t.sources(&["../x".into()]),
            Err(ContextError::Outside(_))
        ));
        assert!(matches!(
            t.sources(&["a/../../x".into()]),
            Err(ContextError::Outside(_))
        ));
        assert!(matches!(
            t.sources(&["nope".into()]),
            Err(ContextError::NotFound(_))
        ));
        assert!(matches!(
            t.sources(&["*.nope".into()]),
            Err(ContextError::NoSources)
        ));
    }

    #[test]
    fn symlinks_resolve_inside_the_context() {
        let d = ctx();
        let t = Tree::context(d.path()).unwrap();
        let s = t.sources(&["srclink/main.c".into()]).unwrap();
        assert_eq!(s[0].host, t.root().join("src/main.c"));
        // /etc/shadow, seen from the context as root, does not exist
        assert!(matches!(
            t.sources(&["src/shadow".into()]),
            Err(ContextError::NotFound(_))
        ));
    }

    #[test]
    fn directory_copy_keeps_symlinks_and_honours_ignore() {
        let d = ctx();
        fs::write(d.path().join(".dockerignore"), "**/*.o\n").unwrap();
        let t = Tree::context(d.path()).unwrap();
        let s = t.sources(&["src".into()]).unwrap();
        let mut out = Vec::new();
        let place = Placement {
            dest: "/app".into(),
            dest_is_dir: true,
            owner: Some((10, 20)),
            ..Default::default()
        };
        write_layer(&s, &t, &place, None, &mut out).unwrap();
        let n = names(&out);
        let paths: Vec<_> = n.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(paths, vec!["app", "app/main.c", "app/shadow", "app/sub"]);
        assert_eq!(n[2].1, tar::EntryType::Symlink);
        assert!(n.iter().all(|e| e.2 == 10 && e.3 == 20));
        let mut a = tar::Archive::new(out.as_slice());
        let link = a
            .entries()
            .unwrap()
            .nth(2)
            .unwrap()
            .unwrap()
            .link_name()
            .unwrap()
            .unwrap()
            .display()
            .to_string();
        assert_eq!(link, "/etc/shadow");
    }

    #[test]
    fn files_into_dirs_and_globs() {
        let d = ctx();
        let t = Tree::context(d.path()).unwrap();
        let s = t.sources(&["*.txt".into()]).unwrap();
        assert_eq!(s.len(), 2);
        let mut out = Vec::new();
        let place = Placement {
            dest: "/x/y".into(),
            dest_is_dir: true,
            ..Default::default()
        };
        write_layer(&s, &t, &place, None, &mut out).unwrap();
        let paths: Vec<_> = names(&out).into_iter().map(|e| e.0).collect();
        assert_eq!(paths, vec!["x", "x/y", "x/y/a.txt", "x/y/b.txt"]);
        // one file to a file name
        let s = t.sources(&["a.txt".into()]).unwrap();
        let mut out = Vec::new();
        let place = Placement {
            dest: "/etc/conf".into(),
            ..Default::default()
        };
        write_layer(&s, &t, &place, None, &mut out).unwrap();
        let paths: Vec<_> = names(&out).into_iter().map(|e| e.0).collect();
        assert_eq!(paths, vec!["etc", "etc/conf"]);
    }

    #[test]
    fn parents_keep_the_image_metadata() {
        let d = ctx();
        let img = tempfile::tempdir().unwrap();
        fs::create_dir(img.path().join("tmp")).unwrap();
        fs::set_permissions(img.path().join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
        let t = Tree::context(d.path()).unwrap();
        let s = t.sources(&["a.txt".into()]).unwrap();
        let mut out = Vec::new();
        let place = Placement {
            dest: "/tmp/a".into(),
            ..Default::default()
        };
        write_layer(&s, &t, &place, Some(img.path()), &mut out).unwrap();
        let mut a = tar::Archive::new(out.as_slice());
        let first = a.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(first.header().mode().unwrap(), 0o1777);
    }

    #[test]
    fn add_unpacks_local_archives() {
        let d = ctx();
        let mut inner = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        inner.append_data(&mut h, "data/file", &b"hi"[..]).unwrap();
        let bytes = inner.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).unwrap();
        fs::write(d.path().join("x.tar.gz"), gz.finish().unwrap()).unwrap();
        let t = Tree::context(d.path()).unwrap();
        let s = t.sources(&["x.tar.gz".into()]).unwrap();
        assert!(is_archive(&s[0].host));
        assert!(!is_archive(&d.path().join("a.txt")));
        let mut out = Vec::new();
        let place = Placement {
            dest: "/opt/".into(),
            dest_is_dir: true,
            unpack: true,
            ..Default::default()
        };
        write_layer(&s, &t, &place, None, &mut out).unwrap();
        let paths: Vec<_> = names(&out).into_iter().map(|e| e.0).collect();
        assert_eq!(paths, vec!["opt", "opt/data/file"]);
    }

    #[test]
    fn context_tars_unpack_inside_their_dir() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(4);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        b.append_data(&mut h, "Dockerfile", &b"FROM"[..]).unwrap();
        let data = b.into_inner().unwrap();
        assert!(looks_like_tar(&data));
        assert!(!looks_like_tar(b"FROM busybox\n"));
        let d = tempfile::tempdir().unwrap();
        unpack_context(&data, d.path()).unwrap();
        assert_eq!(
            fs::read_to_string(d.path().join("Dockerfile")).unwrap(),
            "FROM"
        );
    }

    #[test]
    fn digest_follows_contents_not_times() {
        let d = ctx();
        let t = Tree::context(d.path()).unwrap();
        let s = t.sources(&["src".into()]).unwrap();
        let a = digest(&s, &t).unwrap();
        assert_eq!(a, digest(&s, &t).unwrap());
        fs::write(d.path().join("src/main.c"), "int main;").unwrap();
        assert_eq!(a, digest(&s, &t).unwrap());
        fs::write(d.path().join("src/main.c"), "int main();").unwrap();
        assert_ne!(a, digest(&s, &t).unwrap());
    }
}
