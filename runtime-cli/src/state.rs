//! The container's state as kept under `--root`: written new and renamed,
//! so a killed runtime leaves the old state or the new one. Not synced to
//! disk (runc does not either): the state describes live processes, which a
//! power loss ends, and `--root` is a tmpfs (`/run/...`) as a rule.

use berth_cgroups::Cgroup;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

const STATE_FILE: &str = "state.json";
/// The FIFO the container's init blocks on until `start` opens it.
pub const EXEC_FIFO: &str = "exec.fifo";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container does not exist: {0}")]
    NotExist(String),
    #[error("container with id exists: {0}")]
    Exists(String),
    #[error("invalid container id {0:?}: use letters, digits, '_', '+', '-' and '.'")]
    InvalidId(String),
    #[error("cannot create state directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create state directory {path} as uid {uid}: permission denied; set XDG_RUNTIME_DIR or --root to a directory this user owns")]
    RootNotWritable { path: PathBuf, uid: u32 },
    #[error("cannot read state of container {id}: {source}")]
    Read { id: String, source: std::io::Error },
    #[error("state of container {id} is corrupt: {source}")]
    Corrupt {
        id: String,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Lifecycle status as the OCI runtime spec names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What berth-runtime remembers about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerState {
    pub id: String,
    /// init's pid in the runtime's pid namespace
    pub pid: i32,
    /// init's start time (clock ticks since boot) so a reused pid is not
    /// mistaken for the container
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 creation time
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    pub cgroup: Option<Cgroup>,
    /// the config.json the container was created from, as loaded then
    pub config: oci_spec::runtime::Spec,
}

/// The `state` command's JSON, runc's shape.
#[derive(Debug, Serialize)]
pub struct OciState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: Status,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
}

pub const OCI_VERSION: &str = "1.0.2";

/// Checks a container id the way runc does: no path separators, no dots only.
pub fn validate_id(id: &str) -> Result<(), Error> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

/// The directory under `--root` that holds one container's state.
pub fn container_dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// Creates the container's state directory; fails if the id is taken.
pub fn create_dir(root: &Path, id: &str) -> Result<PathBuf, Error> {
    validate_id(id)?;
    fs::create_dir_all(root).map_err(|source| {
        // SAFETY: geteuid has no failure mode.
        let uid = unsafe { libc::geteuid() };
        if source.kind() == std::io::ErrorKind::PermissionDenied && uid != 0 {
            return Error::RootNotWritable {
                path: root.to_path_buf(),
                uid,
            };
        }
        Error::CreateDir {
            path: root.to_path_buf(),
            source,
        }
    })?;
    let dir = container_dir(root, id);
    match fs::DirBuilder::new().mode(0o711).create(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::Exists(id.into())),
        Err(source) => Err(Error::CreateDir { path: dir, source }),
    }
}

use std::os::unix::fs::DirBuilderExt;

impl ContainerState {
    pub fn load(root: &Path, id: &str) -> Result<Self, Error> {
        validate_id(id).map_err(|_| Error::NotExist(id.to_string()))?;
        let path = container_dir(root, id).join(STATE_FILE);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotExist(id.to_string()))
            }
            Err(source) => {
                return Err(Error::Read {
                    id: id.into(),
                    source,
                })
            }
        };
        serde_json::from_slice(&data).map_err(|source| Error::Corrupt {
            id: id.into(),
            source,
        })
    }

    pub fn save(&self, root: &Path) -> Result<(), Error> {
        self.stage(root)?.install()
    }

    /// The first half of [`Self::save`]: written, not in place.
    pub fn stage(&self, root: &Path) -> Result<Staged, Error> {
        let data = serde_json::to_vec(self).expect("state serializes");
        Staged::write(&state_path(root, &self.id), &data, 0o600)
    }

    pub fn dir(&self, root: &Path) -> PathBuf {
        container_dir(root, &self.id)
    }

    /// Works out the status from the live system: init's liveness, the exec
    /// FIFO and the freezer.
    pub fn status(&self, root: &Path) -> Status {
        if !crate::procfs::is_alive(self.pid, self.pid_start_time) {
            return Status::Stopped;
        }
        if self.dir(root).join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if let Some(cg) = &self.cgroup {
            if cg.is_frozen().unwrap_or(false) {
                return Status::Paused;
            }
        }
        Status::Running
    }

    pub fn oci_state(&self, status: Status) -> OciState<'_> {
        OciState {
            oci_version: OCI_VERSION,
            id: &self.id,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            owner: &self.owner,
            annotations: &self.annotations,
        }
    }
}

/// Writes `data` to a new file beside `path` and renames it into place.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), Error> {
    Staged::write(path, data, mode)?.install()
}

/// A new version of a file, written beside it but not yet in
/// place: the first half of [`write_atomic`], which `create` does on another
/// thread while the container's init sets up. Dropped without
/// [`Staged::install`], the temporary file goes away.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    path: PathBuf,
    installed: bool,
}

impl Staged {
    pub fn write(path: &Path, data: &[u8], mode: u32) -> Result<Staged, Error> {
        let err = |source| Error::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
            std::process::id()
        ));
        let staged = Staged {
            tmp,
            path: path.to_path_buf(),
            installed: false,
        };
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&staged.tmp)
            .map_err(err)?;
        f.write_all(data).map_err(err)?;
        Ok(staged)
    }

    /// Renames the file into place.
    pub fn install(mut self) -> Result<(), Error> {
        fs::rename(&self.tmp, &self.path).map_err(|source| Error::Write {
            path: self.path.clone(),
            source,
        })?;
        self.installed = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.installed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Where the runtime keeps compiled seccomp programs under `root`
/// ([`berth_seccomp::Cache`]): `@` is not allowed in a container id, so the
/// directory is never a container's.
pub fn seccomp_cache_dir(root: &Path) -> PathBuf {
    root.join("@seccomp-cache")
}

/// Where a container's state file goes.
pub fn state_path(root: &Path, id: &str) -> PathBuf {
    container_dir(root, id).join(STATE_FILE)
}

/// Ids of all containers under `root`, sorted.
pub fn list_ids(root: &Path) -> Vec<String> {
    let mut ids: Vec<String> = fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join(STATE_FILE).exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    ids
}

/// Now as RFC 3339 in UTC with nanoseconds, the form runc prints.
pub fn rfc3339_now() -> String {
    rfc3339(std::time::SystemTime::now())
}

fn rfc3339(at: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        let at = |secs, nanos| std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos);
        assert_eq!(rfc3339(at(0, 0)), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(at(1_700_000_000, 5)),
            "2023-11-14T22:13:20.000000005Z"
        );
        assert_eq!(
            rfc3339(at(951_782_400, 0)),
            "2000-02-29T00:00:00.000000000Z"
        );
    }

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("abc-1_2.3+x").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "../x"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn state_dir_is_exclusive() {
        let root = tempfile::tempdir().unwrap();
        create_dir(root.path(), "c1").unwrap();
        assert!(matches!(
            create_dir(root.path(), "c1"),
            Err(Error::Exists(_))
        ));
    }

    #[test]
    fn staged_file_appears_only_when_installed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        let staged = Staged::write(&p, b"new", 0o600).unwrap();
        assert!(!p.exists());
        drop(staged);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0, "temp file left");
        Staged::write(&p, b"new", 0o600).unwrap().install().unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn atomic_write_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
