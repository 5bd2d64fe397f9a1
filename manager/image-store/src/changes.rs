//! `diff`: a container's changes against its image, read from its overlay
//! upper dir and the image's layer dirs, in docker's A/C/D terms.
//!
//! A whiteout is a deletion (`D`); a path no lower layer has is an
//! addition (`A`); anything else in the upper dir is a change (`C`),
//! except a directory overlayfs only copied up on the way to something
//! inside it (same mtime as below, not opaque). The parent of an added or
//! deleted path is reported changed, once, right after it, as docker does.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::layer_tar::{is_opaque, is_whiteout, sorted_names};

/// What happened to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Changed,
    Deleted,
}

impl ChangeKind {
    /// docker's letter for it.
    pub fn letter(self) -> &'static str {
        match self {
            ChangeKind::Added => "A",
            ChangeKind::Changed => "C",
            ChangeKind::Deleted => "D",
        }
    }
}

/// One line of `diff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    /// Absolute path inside the container.
    pub path: String,
}

/// The changes in `upper` against `lowers` (topmost first).
pub(crate) fn changes(upper: &Path, lowers: &[PathBuf]) -> io::Result<Vec<Change>> {
    let mut w = Walk {
        lowers,
        out: Vec::new(),
        changed_dirs: HashSet::new(),
    };
    w.walk(upper, "")?;
    Ok(w.out)
}

struct Walk<'a> {
    lowers: &'a [PathBuf],
    out: Vec<Change>,
    changed_dirs: HashSet<String>,
}

impl Walk<'_> {
    fn walk(&mut self, dir: &Path, rel: &str) -> io::Result<()> {
        for name in sorted_names(dir)? {
            let path = dir.join(&name);
            let child = format!("{rel}/{}", String::from_utf8_lossy(name.as_bytes()));
            let meta = fs::symlink_metadata(&path)?;
            let kind = if is_whiteout(&meta) {
                Some(ChangeKind::Deleted)
            } else {
                match self.lower(&child) {
                    None => Some(ChangeKind::Added),
                    Some(low)
                        if meta.is_dir()
                            && low.is_dir()
                            && low.mtime() == meta.mtime()
                            && low.mtime_nsec() == meta.mtime_nsec()
                            && !is_opaque(&path) =>
                    {
                        None
                    }
                    Some(_) => Some(ChangeKind::Changed),
                }
            };
            if let Some(kind) = kind {
                self.out.push(Change {
                    kind,
                    path: child.clone(),
                });
                if meta.is_dir() {
                    self.changed_dirs.insert(child.clone());
                }
                // the parent of an added or deleted path changed, even when
                // overlayfs kept its mtime
                if kind != ChangeKind::Changed
                    && !rel.is_empty()
                    && self.changed_dirs.insert(rel.to_string())
                {
                    self.out.push(Change {
                        kind: ChangeKind::Changed,
                        path: rel.to_string(),
                    });
                }
            }
            if meta.is_dir() {
                self.walk(&path, &child)?;
            }
        }
        Ok(())
    }

    /// The topmost lower layer's entry for `rel`, if one exists and is not
    /// whited out there.
    fn lower(&self, rel: &str) -> Option<fs::Metadata> {
        let inner = rel.trim_start_matches('/');
        for l in self.lowers {
            if let Ok(m) = fs::symlink_metadata(l.join(inner)) {
                return (!is_whiteout(&m)).then_some(m);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_changed_and_parents() {
        let d = tempfile::tempdir().unwrap();
        let (lower, upper) = (d.path().join("l"), d.path().join("u"));
        fs::create_dir_all(lower.join("etc")).unwrap();
        fs::write(lower.join("etc/hosts"), b"x").unwrap();
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/hosts"), b"y").unwrap();
        fs::write(upper.join("etc/new"), b"n").unwrap();
        fs::create_dir_all(upper.join("srv/app")).unwrap();
        // copied up on the way to etc/hosts, then etc/new added: same mtime as below
        let t = fs::metadata(lower.join("etc")).unwrap().modified().unwrap();
        fs::File::open(upper.join("etc"))
            .unwrap()
            .set_modified(t)
            .unwrap();
        let c: Vec<String> = changes(&upper, &[lower])
            .unwrap()
            .iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path))
            .collect();
        assert_eq!(
            c,
            [
                "C /etc/hosts",
                "A /etc/new",
                "C /etc",
                "A /srv",
                "A /srv/app"
            ]
        );
    }
}
