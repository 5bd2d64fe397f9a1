//! What the shim keeps in the bundle so a later `shim delete` (containerd
//! cleaning up after a dead shim) can find the runtime and the container.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The state file's name in the bundle.
pub const FILE: &str = "berth-shim.json";

/// The container's runtime as the shim started it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleState {
    /// The runtime binary.
    pub runtime: PathBuf,
    /// Its `--root`.
    pub root: PathBuf,
    /// The init process's pid, 0 before create succeeded.
    #[serde(default)]
    pub pid: i32,
}

/// The state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// I/O on the file.
    #[error("shim state {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// It is not the shim's JSON.
    #[error("shim state {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
}

impl BundleState {
    /// Writes the state into `bundle`: a new file renamed over the old one.
    /// Not synced to disk: it describes live processes only, which a power
    /// loss ends, and a killed shim leaves the page cache as it was.
    pub fn save(&self, bundle: &Path) -> Result<(), StateError> {
        let path = bundle.join(FILE);
        let tmp = bundle.join(format!(".{FILE}.tmp"));
        let io_err = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        let json = serde_json::to_vec(self).map_err(|source| StateError::Json {
            path: path.clone(),
            source,
        })?;
        let mut f = File::create(&tmp).map_err(io_err)?;
        f.write_all(&json).map_err(io_err)?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io_err)?;
        Ok(())
    }

    /// Reads the state from `bundle`.
    pub fn load(bundle: &Path) -> Result<BundleState, StateError> {
        let path = bundle.join(FILE);
        let text = fs::read(&path).map_err(|source| StateError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|source| StateError::Json { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_garbage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let s = BundleState {
            runtime: "/usr/bin/berth-runtime".into(),
            root: "/run/r/ns".into(),
            pid: 42,
        };
        s.save(dir.path()).unwrap();
        assert_eq!(BundleState::load(dir.path()).unwrap(), s);
        fs::write(dir.path().join(FILE), b"{").unwrap();
        let err = BundleState::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains(FILE), "{err}");
    }
}
