//! Size-bounded logs: the writer the shim appends json lines through, which
//! rotates the file by a rename chain (`…-json.log` → `.1` → `.2` …, the
//! oldest dropped), and the list of a log's files in the order they were
//! written, for readers. Each step of a rotation is one rename (or one
//! unlink of the oldest file), so a crash at any point leaves every kept
//! line in exactly one file and a restarted writer just appends to the
//! current file again.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// How far a log may grow: files of at most `max_size` bytes, at most
/// `max_files` of them (the current one included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub max_size: u64,
    pub max_files: u32,
}

/// The `n`th rotated file of the log at `path` (`n` ≥ 1; 1 is the newest).
pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// How many rotated files a reader looks for at most.
const MAX_ROTATED: u32 = 1000;

/// Every existing file of the log at `path`, oldest first, the current one
/// last (whether or not it exists yet).
pub fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..=MAX_ROTATED)
        .map(|n| rotated_path(path, n))
        .take_while(|p| p.exists())
        .collect();
    files.reverse();
    files.push(path.to_path_buf());
    files
}

/// The file a log's lines are appended to, rotated when a line would take
/// it past its size.
pub struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Option<Rotation>,
}

impl LogFile {
    /// Opens (or creates) the log at `path` for appending.
    pub fn open(path: &Path, rotation: Option<Rotation>) -> io::Result<LogFile> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(LogFile {
            path: path.to_path_buf(),
            file,
            size,
            rotation,
        })
    }

    /// Appends one whole line, rotating first when it would not fit.
    pub fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        if let Some(r) = self.rotation {
            if self.size > 0 && self.size + line.len() as u64 > r.max_size {
                // A rotation that fails keeps the current file: the log
                // outgrows its bound rather than losing lines.
                let _ = self.rotate(r);
            }
        }
        let mut written = 0;
        while written < line.len() {
            match self.file.write(&line[written..]) {
                Ok(0) => return self.take_back(written, io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.take_back(written, e),
            }
        }
        self.size += line.len() as u64;
        Ok(())
    }

    /// A line cut short (a full disk) is taken back, so the log stays whole
    /// lines once space is freed.
    fn take_back(&mut self, written: usize, e: io::Error) -> io::Result<()> {
        if written > 0 {
            let len = self.file.metadata().map_or(self.size, |m| m.len());
            let _ = self.file.set_len(len.saturating_sub(written as u64));
        }
        Err(e)
    }

    /// Shifts the rename chain by one and starts a new current file.
    fn rotate(&mut self, r: Rotation) -> io::Result<()> {
        let keep = r.max_files.saturating_sub(1);
        if keep == 0 {
            ignore_missing(std::fs::remove_file(&self.path))?;
        } else {
            // oldest first, so no rename overwrites a file still to be moved
            for n in (1..keep).rev() {
                ignore_missing(std::fs::rename(
                    rotated_path(&self.path, n),
                    rotated_path(&self.path, n + 1),
                ))?;
            }
            std::fs::rename(&self.path, rotated_path(&self.path, 1))?;
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(path: &Path) -> Vec<u64> {
        log_files(path)
            .iter()
            .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .collect()
    }

    #[test]
    fn rotation_keeps_at_most_max_files_of_max_size_newest_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let r = Rotation {
            max_size: 100,
            max_files: 3,
        };
        let mut log = LogFile::open(&path, Some(r)).unwrap();
        for i in 0..100 {
            log.write_line(format!("line {i:04}\n").as_bytes()).unwrap();
        }
        let files = log_files(&path);
        assert_eq!(files.len(), 3);
        assert!(!rotated_path(&path, 3).exists());
        assert!(sizes(&path).iter().all(|&s| s <= 100));
        let all: String = files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        let lines: Vec<&str> = all.lines().collect();
        assert_eq!(lines.last(), Some(&"line 0099"));
        // consecutive: nothing lost between the kept files
        let first: usize = lines[0][5..].parse().unwrap();
        for (k, l) in lines.iter().enumerate() {
            assert_eq!(*l, format!("line {:04}", first + k));
        }
    }

    #[test]
    fn one_file_is_replaced_and_a_reopened_log_continues() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let r = Rotation {
            max_size: 20,
            max_files: 1,
        };
        let mut log = LogFile::open(&path, Some(r)).unwrap();
        log.write_line(b"0123456789\n").unwrap();
        drop(log);
        let mut log = LogFile::open(&path, Some(r)).unwrap();
        log.write_line(b"abcdefghij\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "abcdefghij\n");
        assert_eq!(log_files(&path), vec![path.clone()]);
        // unbounded without a rotation
        let mut log = LogFile::open(&path, None).unwrap();
        log.write_line(b"more\n").unwrap();
        assert_eq!(sizes(&path), vec![16]);
    }
}
