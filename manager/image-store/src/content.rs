//! The content store: blobs by digest under `blobs/sha256/<hex>`. A blob is
//! streamed to a temp file in `ingest/`, hashed and counted on the way,
//! fsynced, and renamed into place only when digest and size match.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, HashingWriter};

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("blob {expected}: content has digest {actual} ({size} bytes); refused")]
    DigestMismatch {
        expected: Digest,
        actual: Digest,
        size: u64,
    },
    #[error("blob {digest}: got {actual} bytes, expected {expected}; refused")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error("blob {0} is not in the content store")]
    Missing(Digest),
    #[error("blob {0} is larger than the {1} bytes allowed for it")]
    TooLarge(Digest, u64),
    #[error("content store {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ContentError + '_ {
    move |source| ContentError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

impl ContentStore {
    pub(crate) fn open(root: &Path) -> Result<ContentStore, ContentError> {
        let blobs = root.join("blobs").join("sha256");
        let ingest = root.join("ingest");
        fs::create_dir_all(&blobs).map_err(io_err(&blobs))?;
        // A crash mid-write leaves only temp files here; none is ever referenced.
        let _ = fs::remove_dir_all(&ingest);
        fs::create_dir_all(&ingest).map_err(io_err(&ingest))?;
        Ok(ContentStore { blobs, ingest })
    }

    pub(crate) fn path(&self, d: &Digest) -> PathBuf {
        self.blobs.join(d.hex())
    }

    pub(crate) fn exists(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    pub(crate) fn size(&self, d: &Digest) -> Result<u64, ContentError> {
        let p = self.path(d);
        match fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ContentError::Missing(d.clone())),
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    /// A writer for a new blob; `commit` checks it against what was promised.
    pub(crate) fn writer(&self) -> Result<BlobWriter, ContentError> {
        let tmp = tempfile::NamedTempFile::new_in(&self.ingest).map_err(io_err(&self.ingest))?;
        Ok(BlobWriter {
            out: HashingWriter::new(io::BufWriter::new(tmp)),
            blobs: self.blobs.clone(),
        })
    }

    /// Streams `r` in as blob `expected`; returns its size. A blob already
    /// present was verified when it was written and is not read again.
    pub(crate) fn ingest(
        &self,
        r: &mut dyn Read,
        expected: &Digest,
        size: Option<u64>,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, ContentError> {
        if self.exists(expected) {
            return self.size(expected);
        }
        let mut w = self.writer()?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err(Path::new(expected.as_str()))(e)),
            };
            w.write_all(&buf[..n]).map_err(io_err(&self.ingest))?;
            if let Some(limit) = size {
                if w.written() > limit {
                    return Err(ContentError::TooLarge(expected.clone(), limit));
                }
            }
            progress(w.written());
        }
        w.commit(Some(expected), size).map(|(_, n)| n)
    }

    /// Stores `data`, whose digest is computed here.
    pub(crate) fn put(&self, data: &[u8]) -> Result<Digest, ContentError> {
        let d = Digest::of(data);
        if !self.exists(&d) {
            let mut w = self.writer()?;
            w.write_all(data).map_err(io_err(&self.ingest))?;
            w.commit(Some(&d), Some(data.len() as u64))?;
        }
        Ok(d)
    }

    /// Reads a whole (small) blob, checking its digest again: manifests and
    /// configs are parsed from what this returns.
    pub(crate) fn read(&self, d: &Digest, limit: u64) -> Result<Vec<u8>, ContentError> {
        let mut f = self.open_blob(d)?;
        let mut data = Vec::new();
        (&mut f)
            .take(limit + 1)
            .read_to_end(&mut data)
            .map_err(io_err(&self.path(d)))?;
        if data.len() as u64 > limit {
            return Err(ContentError::TooLarge(d.clone(), limit));
        }
        let actual = Digest::of(&data);
        if &actual != d {
            return Err(ContentError::DigestMismatch {
                expected: d.clone(),
                actual,
                size: data.len() as u64,
            });
        }
        Ok(data)
    }

    pub(crate) fn open_blob(&self, d: &Digest) -> Result<File, ContentError> {
        let p = self.path(d);
        File::open(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                ContentError::Missing(d.clone())
            } else {
                io_err(&p)(e)
            }
        })
    }

    pub(crate) fn delete(&self, d: &Digest) -> Result<u64, ContentError> {
        let p = self.path(d);
        let size = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        match fs::remove_file(&p) {
            Ok(()) => Ok(size),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    pub(crate) fn list(&self) -> Result<Vec<Digest>, ContentError> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.blobs).map_err(io_err(&self.blobs))? {
            let e = e.map_err(io_err(&self.blobs))?;
            if let Some(name) = e.file_name().to_str() {
                if let Ok(d) = Digest::parse(&format!("sha256:{name}")) {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }
}

pub(crate) struct BlobWriter {
    out: HashingWriter<io::BufWriter<tempfile::NamedTempFile>>,
    blobs: PathBuf,
}

impl BlobWriter {
    pub(crate) fn written(&self) -> u64 {
        self.out.written()
    }

    /// Verifies, fsyncs and renames the blob into place. With `expected`
    /// `None` the blob is stored under whatever digest it has.
    pub(crate) fn commit(
        self,
        expected: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<(Digest, u64), ContentError> {
        let (buf, actual, n) = self.out.finish();
        if let Some(want) = expected {
            if &actual != want {
                return Err(ContentError::DigestMismatch {
                    expected: want.clone(),
                    actual,
                    size: n,
                });
            }
        }
        if let Some(want) = size {
            if want != n {
                return Err(ContentError::SizeMismatch {
                    digest: actual,
                    expected: want,
                    actual: n,
                });
            }
        }
        let tmp = buf
            .into_inner()
            .map_err(|e| io_err(&self.blobs)(e.into_error()))?;
        tmp.as_file().sync_all().map_err(io_err(tmp.path()))?;
        let dest = self.blobs.join(actual.hex());
        tmp.persist(&dest).map_err(|e| io_err(&dest)(e.error))?;
        sync_dir(&self.blobs).map_err(io_err(&self.blobs))?;
        Ok((actual, n))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_digest_and_truncation_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let data = b"hello world".to_vec();
        let good = Digest::of(&data);
        let other = Digest::of(b"other");
        let err = cs
            .ingest(&mut &data[..], &other, Some(11), |_| {})
            .unwrap_err();
        assert!(matches!(err, ContentError::DigestMismatch { .. }), "{err}");
        // Truncated: fewer bytes than the descriptor promised.
        let err = cs
            .ingest(&mut &data[..5], &good, Some(11), |_| {})
            .unwrap_err();
        assert!(matches!(err, ContentError::DigestMismatch { .. }), "{err}");
        assert!(!cs.exists(&good) && !cs.exists(&other));
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
        assert_eq!(
            cs.ingest(&mut &data[..], &good, Some(11), |_| {}).unwrap(),
            11
        );
        assert_eq!(cs.read(&good, 100).unwrap(), data);
    }
}
