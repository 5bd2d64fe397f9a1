//! `diff`: a container's changes against its image, read from its overlay
//! upper dir and the image's layer dirs, in docker's A/C/D terms.
//!
//! A whiteout is a deletion (`D`); a path no lower layer has is an
//! addition (`A`); a file, link or device in the upper dir that a lower
//! layer has is a change (`C`). A directory is `C` when its mode or owner
//! changed, when it was replaced (opaque: then every name the layers below
//! had and it lacks is `D`), or when anything inside it changed — listed
//! before what changed inside, as docker lists it. Entries come in name
//! order.

use std::collections::BTreeSet;
use std::ffi::OsString;
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
    };
    w.walk(upper, "")?;
    Ok(w.out)
}

struct Walk<'a> {
    lowers: &'a [PathBuf],
    out: Vec<Change>,
}

impl Walk<'_> {
    fn walk(&mut self, dir: &Path, rel: &str) -> io::Result<()> {
        for name in sorted_names(dir)? {
            let path = dir.join(&name);
            let child = format!("{rel}/{}", String::from_utf8_lossy(name.as_bytes()));
            let meta = fs::symlink_metadata(&path)?;
            if is_whiteout(&meta) {
                self.push(ChangeKind::Deleted, &child);
                continue;
            }
            let low = self.lower(&child);
            if !meta.is_dir() {
                let kind = if low.is_some() {
                    ChangeKind::Changed
                } else {
                    ChangeKind::Added
                };
                self.push(kind, &child);
                continue;
            }
            let start = self.out.len();
            let opaque = low.is_some() && is_opaque(&path);
            let own = match &low {
                None => Some(ChangeKind::Added),
                Some(l)
                    if opaque
                        || !l.is_dir()
                        || l.mode() != meta.mode()
                        || l.uid() != meta.uid()
                        || l.gid() != meta.gid() =>
                {
                    Some(ChangeKind::Changed)
                }
                Some(_) => None,
            };
            if let Some(kind) = own {
                self.push(kind, &child);
            }
            if opaque {
                let kept: BTreeSet<OsString> = sorted_names(&path)?.into_iter().collect();
                for gone in self.lower_names(&child) {
                    if !kept.contains(&gone) {
                        let p = format!("{child}/{}", String::from_utf8_lossy(gone.as_bytes()));
                        self.push(ChangeKind::Deleted, &p);
                    }
                }
            }
            self.walk(&path, &child)?;
            if own.is_none() && self.out.len() > start {
                // something inside changed: the directory did too
                self.out.insert(
                    start,
                    Change {
                        kind: ChangeKind::Changed,
                        path: child.clone(),
                    },
                );
            }
        }
        Ok(())
    }

    fn push(&mut self, kind: ChangeKind, path: &str) {
        self.out.push(Change {
            kind,
            path: path.to_string(),
        });
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

    /// The names the image has in directory `rel`: the union over the
    /// layers, down to the first that replaced the directory.
    fn lower_names(&self, rel: &str) -> BTreeSet<OsString> {
        let inner = rel.trim_start_matches('/');
        let mut names = BTreeSet::new();
        let mut hidden = BTreeSet::new();
        for l in self.lowers {
            let d = l.join(inner);
            let Ok(list) = sorted_names(&d) else { continue };
            for n in list {
                match fs::symlink_metadata(d.join(&n)) {
                    Ok(m) if is_whiteout(&m) => {
                        hidden.insert(n);
                    }
                    Ok(_) if !hidden.contains(&n) => {
                        names.insert(n);
                    }
                    _ => {}
                }
            }
            if is_opaque(&d) {
                break;
            }
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(upper: &Path, lower: &Path) -> Vec<String> {
        changes(upper, &[lower.to_path_buf()])
            .unwrap()
            .iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path))
            .collect()
    }

    #[test]
    fn added_changed_and_parents() {
        let d = tempfile::tempdir().unwrap();
        let (lower, upper) = (d.path().join("l"), d.path().join("u"));
        fs::create_dir_all(lower.join("etc/ssl")).unwrap();
        fs::write(lower.join("etc/hosts"), b"x").unwrap();
        fs::write(lower.join("etc/ssl/cert"), b"x").unwrap();
        fs::create_dir_all(upper.join("etc/ssl")).unwrap();
        fs::write(upper.join("etc/ssl/cert"), b"y").unwrap();
        fs::write(upper.join("etc/new"), b"n").unwrap();
        fs::create_dir_all(upper.join("srv/app")).unwrap();
        assert_eq!(
            lines(&upper, &lower),
            [
                "C /etc",
                "A /etc/new",
                "C /etc/ssl",
                "C /etc/ssl/cert",
                "A /srv",
                "A /srv/app"
            ]
        );
    }

    #[test]
    fn a_replaced_dir_lists_what_it_lost() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return; // trusted.* xattrs need root
        }
        let d = tempfile::tempdir().unwrap();
        let (lower, upper) = (d.path().join("l"), d.path().join("u"));
        fs::create_dir_all(lower.join("etc")).unwrap();
        fs::write(lower.join("etc/a"), b"x").unwrap();
        fs::write(lower.join("etc/f"), b"x").unwrap();
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/f"), b"y").unwrap();
        xattr::set(upper.join("etc"), "trusted.overlay.opaque", b"y").unwrap();
        assert_eq!(lines(&upper, &lower), ["C /etc", "D /etc/a", "C /etc/f"]);
    }
}
