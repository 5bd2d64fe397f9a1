//! Small helpers for reading and writing cgroup files.
//!
//! Every cgroup file access in the crate goes through here so errors carry the path
//! and value, and so unit tests can see the exact sequence of writes (on a tmpfs
//! fake tree a second write to `io.max` would simply overwrite the first one).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use crate::Error;

/// Writes `value` to `dir/file` with a single write(2), as cgroupfs treats every
/// write as one command.
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<(), Error> {
    let path = dir.join(file);
    #[cfg(test)]
    log::record(&path, value);
    let res = OpenOptions::new()
        .write(true)
        // Cgroupfs ignores O_TRUNC; tmpfs fake trees in tests need it.
        .truncate(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    res.map_err(|source| Error::Write {
        path,
        value: value.to_string(),
        source,
    })
}

/// Like [`write`] but reports whether the file exists instead of failing when it
/// does not (for optional knobs such as `memory.kmem.limit_in_bytes`).
pub(crate) fn write_if_exists(dir: &Path, file: &str, value: &str) -> Result<bool, Error> {
    match write(dir, file, value) {
        Ok(()) => Ok(true),
        Err(Error::Write { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads `dir/file` as a string.
pub(crate) fn read(dir: &Path, file: &str) -> Result<String, Error> {
    let path = dir.join(file);
    fs::read_to_string(&path).map_err(|source| Error::Read { path, source })
}

/// Reads `dir/file`, or `None` if it does not exist.
pub(crate) fn read_opt(dir: &Path, file: &str) -> Result<Option<String>, Error> {
    match read(dir, file) {
        Ok(s) => Ok(Some(s)),
        Err(Error::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Parses a single-number file; `max` reads as `u64::MAX`. Missing files read as 0.
pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<u64, Error> {
    match read_opt(dir, file)? {
        None => Ok(0),
        Some(s) => parse_u64(&s).ok_or_else(|| Error::Parse {
            path: dir.join(file),
            detail: format!("expected a number, got {:?}", s.trim()),
        }),
    }
}

/// Parses a cgroup number; `max` means unlimited.
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse().ok()
}

/// Parses "key value" lines (memory.stat, cpu.stat, memory.events, ...).
/// Lines that do not fit are skipped: kernels add fields over time.
pub(crate) fn parse_flat_keyed(s: &str) -> impl Iterator<Item = (&str, u64)> {
    s.lines().filter_map(|l| {
        let mut it = l.split_whitespace();
        let k = it.next()?;
        let v = parse_u64(it.next()?)?;
        Some((k, v))
    })
}

/// Reads a flat-keyed file and returns one key, 0 when the file or key is missing.
pub(crate) fn read_keyed(dir: &Path, file: &str, key: &str) -> Result<u64, Error> {
    Ok(read_opt(dir, file)?
        .and_then(|s| {
            parse_flat_keyed(&s)
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v)
        })
        .unwrap_or(0))
}

/// Creates `path` and its missing parents, returning the directories it created
/// (outermost first). `mkdir` comes first: the parents usually exist, so one
/// call is all it takes; the walk up happens only on `ENOENT`.
pub(crate) fn mkdir_all(path: &Path) -> Result<Vec<PathBuf>, Error> {
    let create_err = |d: &Path, source| Error::Create {
        path: d.to_path_buf(),
        source,
    };
    // innermost first: the directories whose parent was missing
    let mut pending: Vec<&Path> = Vec::new();
    let mut p = path;
    let mut made = Vec::new();
    loop {
        match fs::create_dir(p) {
            Ok(()) => {
                made.push(p.to_path_buf());
                break;
            }
            // Another runtime may race us creating a shared parent.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => match p.parent() {
                Some(parent) => {
                    pending.push(p);
                    p = parent;
                }
                None => return Err(create_err(p, e)),
            },
            Err(e) => return Err(create_err(p, e)),
        }
    }
    for d in pending.into_iter().rev() {
        match fs::create_dir(d) {
            Ok(()) => made.push(d.to_path_buf()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(create_err(d, e)),
        }
    }
    Ok(made)
}

/// Removes a cgroup directory and any sub-cgroups, deepest first.
///
/// `rmdir` comes first: a container's cgroup rarely has sub-cgroups, and on
/// cgroupfs the interface files don't count. Only when it is refused are the
/// children looked for. rmdir on a cgroup can fail with EBUSY for a short
/// while after its last process exited (the kernel still tears the tasks
/// down), so it is retried a few times. A missing directory is not an error.
pub(crate) fn remove_cgroup_dir(path: &Path) -> Result<(), Error> {
    let remove_err = |source| Error::Remove {
        path: path.to_path_buf(),
        source,
    };
    match rmdir(path) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::ENOTEMPTY)) => {}
        Err(e) => return Err(remove_err(e)),
    }
    let entries = match fs::read_dir(path) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_cgroup_dir(&entry.path())?;
        }
    }
    let mut delay = Duration::from_millis(10);
    for attempt in 0.. {
        match rmdir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 5 => {
                sleep(delay);
                delay *= 2;
            }
            Err(source) => return Err(remove_err(source)),
        }
    }
    unreachable!("the retry loop always returns")
}

/// A cgroup file kept open for several writes, each one command (the
/// device rules: one open per file instead of one per rule).
pub(crate) struct OpenFile {
    path: PathBuf,
    file: fs::File,
}

impl OpenFile {
    pub(crate) fn open(dir: &Path, file: &str) -> Result<OpenFile, Error> {
        let path = dir.join(file);
        match OpenOptions::new().write(true).open(&path) {
            Ok(file) => Ok(OpenFile { path, file }),
            Err(source) => Err(Error::Write {
                path,
                value: String::new(),
                source,
            }),
        }
    }

    /// One write(2) of `value`.
    pub(crate) fn write(&mut self, value: &str) -> Result<(), Error> {
        #[cfg(test)]
        log::record(&self.path, value);
        self.file
            .write_all(value.as_bytes())
            .map_err(|source| Error::Write {
                path: self.path.clone(),
                value: value.to_string(),
                source,
            })
    }
}

/// rmdir(2). On cgroupfs the interface files listed in a cgroup directory do not
/// count, so rmdir is all it takes; the tmpfs trees of unit tests hold real files,
/// which are unlinked first (only in test builds, so production code never deletes
/// regular files).
fn rmdir(path: &Path) -> io::Result<()> {
    #[cfg(test)]
    match fs::remove_dir(path) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {
            for entry in fs::read_dir(path)?.flatten() {
                if !entry.file_type()?.is_dir() {
                    fs::remove_file(entry.path())?;
                }
            }
        }
        r => return r,
    }
    fs::remove_dir(path)
}

/// Records writes so tests can check their order and content.
#[cfg(test)]
pub(crate) mod log {
    use std::cell::RefCell;
    use std::path::{Path, PathBuf};

    thread_local! {
        static WRITES: RefCell<Vec<(PathBuf, String)>> = const { RefCell::new(Vec::new()) };
    }

    pub(crate) fn record(path: &Path, value: &str) {
        WRITES.with(|w| w.borrow_mut().push((path.to_path_buf(), value.to_string())));
    }

    /// Returns and clears the writes made by this thread so far.
    pub(crate) fn take() -> Vec<(PathBuf, String)> {
        WRITES.with(|w| std::mem::take(&mut *w.borrow_mut()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_u64("max\n"), Some(u64::MAX));
        assert_eq!(parse_u64(" 42\n"), Some(42));
        assert_eq!(parse_u64("x"), None);
        let kv: Vec<_> = parse_flat_keyed("a 1\nb max\nbad\nc x\n").collect();
        assert_eq!(kv, vec![("a", 1), ("b", u64::MAX)]);
    }

    #[test]
    fn mkdir_and_remove() {
        let t = tempfile::tempdir().unwrap();
        let leaf = t.path().join("a/b/c");
        let made = mkdir_all(&leaf).unwrap();
        assert_eq!(
            made,
            vec![t.path().join("a"), t.path().join("a/b"), leaf.clone()]
        );
        assert!(mkdir_all(&leaf).unwrap().is_empty());
        fs::write(leaf.join("cgroup.procs"), "").unwrap();
        fs::create_dir(leaf.join("sub")).unwrap();
        remove_cgroup_dir(&t.path().join("a/b")).unwrap();
        assert!(!t.path().join("a/b").exists());
        assert!(t.path().join("a").exists());
        // Already gone is fine.
        remove_cgroup_dir(&t.path().join("a/b")).unwrap();
    }

    #[test]
    fn optional_files() {
        let t = tempfile::tempdir().unwrap();
        assert!(!write_if_exists(t.path(), "nope", "1").unwrap());
        assert_eq!(read_opt(t.path(), "nope").unwrap(), None);
        assert_eq!(read_u64(t.path(), "nope").unwrap(), 0);
        fs::write(t.path().join("f"), "max").unwrap();
        // O_TRUNC: a shorter value must not leave the tail of the old one.
        write(t.path(), "f", "5").unwrap();
        assert_eq!(read(t.path(), "f").unwrap(), "5");
        let e = write(t.path(), "missing", "1").unwrap_err().to_string();
        assert!(e.ends_with("missing: No such file or directory"), "{e}");
    }
}
