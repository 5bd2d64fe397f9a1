//! The file that makes a stopped container's filesystem exclusive between
//! the front end and the manager. `cp` to or from a stopped container mounts
//! its snapshot itself and holds this file while the copy runs; the manager
//! takes it before it starts the container, so a start waits for the copy
//! to finish (as docker's container lock makes it wait) and a copy that
//! comes second sees the container running. An flock: a holder that dies
//! lets go, and nothing needs cleaning up after a crash.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// `<state>/containers/<id>.hold`, beside the container's bundle (which a
/// start replaces, so the file cannot live inside it).
pub fn path(bundle: &Path) -> PathBuf {
    bundle.with_extension("hold")
}

/// Opens (creating) the container's hold file and locks it exclusively,
/// waiting for a holder; the lock lasts as long as the returned file.
pub fn hold(bundle: &Path) -> io::Result<File> {
    let p = path(bundle);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)?;
    f.lock()?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_for_the_first() {
        let d = tempfile::tempdir().unwrap();
        let bundle = d.path().join("containers").join("abc");
        assert_eq!(path(&bundle), d.path().join("containers/abc.hold"));
        let first = hold(&bundle).unwrap();
        let f = File::open(path(&bundle)).unwrap();
        assert!(matches!(
            f.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        drop(first);
        assert!(f.try_lock().is_ok());
    }
}
