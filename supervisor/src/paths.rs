//! Where berth keeps things: the manager's state dir (socket, log) and root
//! (images, containers), and which manager binary to start.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Default state dir (sockets, FIFOs, the manager's log); tmpfs on most hosts.
pub const DEFAULT_STATE: &str = "/run/berth";
/// Default root dir (content store, snapshots, container records).
pub const DEFAULT_ROOT: &str = "/var/lib/berth";

/// The two directories every berth command and the manager it talks to share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    pub state: PathBuf,
    pub root: PathBuf,
}

impl Dirs {
    /// Flags win over the environment (`BERTH_STATE`, `BERTH_ROOT`), which wins
    /// over the defaults; empty values count as unset.
    pub fn resolve(
        state_flag: Option<PathBuf>,
        root_flag: Option<PathBuf>,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> Dirs {
        let pick = |flag: Option<PathBuf>, var: &str, default: &str| {
            flag.filter(|p| !p.as_os_str().is_empty())
                .or_else(|| env(var).filter(|v| !v.is_empty()).map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from(default))
        };
        Dirs {
            state: pick(state_flag, "BERTH_STATE", DEFAULT_STATE),
            root: pick(root_flag, "BERTH_ROOT", DEFAULT_ROOT),
        }
    }

    /// The manager's ttrpc socket.
    pub fn socket(&self) -> PathBuf {
        self.state.join("manager.sock")
    }

    /// Where a manager started by the front end writes its stdout and stderr.
    pub fn manager_log(&self) -> PathBuf {
        self.state.join("manager.log")
    }

    /// Held (flock) while a front end starts a manager, so two commands
    /// racing on a cold start do not start two.
    pub fn start_lock(&self) -> PathBuf {
        self.state.join("manager.start.lock")
    }
}

/// The manager binary: `berth-manager` beside the running `berth`, else the
/// first on `PATH`, else `$BERTH_MANAGER`.
pub fn manager_binary(
    self_exe: Option<&Path>,
    path_var: Option<OsString>,
    env_override: Option<OsString>,
) -> Option<PathBuf> {
    binary_named("berth-manager", self_exe, path_var, env_override)
}

/// The berth binary `name`: beside the running one, else the first on
/// `PATH`, else `env_override`.
pub fn binary_named(
    name: &str,
    self_exe: Option<&Path>,
    path_var: Option<OsString>,
    env_override: Option<OsString>,
) -> Option<PathBuf> {
    if let Some(dir) = self_exe.and_then(Path::parent) {
        let beside = dir.join(name);
        if is_executable(&beside) {
            return Some(beside);
        }
    }
    if let Some(path) = path_var {
        for dir in std::env::split_paths(&path) {
            let cand = dir.join(name);
            if is_executable(&cand) {
                return Some(cand);
            }
        }
    }
    env_override
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn flags_beat_env_beat_defaults() {
        let env = |k: &str| match k {
            "BERTH_STATE" => Some(OsString::from("/env/state")),
            "BERTH_ROOT" => Some(OsString::from("")),
            _ => None,
        };
        let d = Dirs::resolve(None, None, env);
        assert_eq!(d.state, PathBuf::from("/env/state"));
        assert_eq!(d.root, PathBuf::from(DEFAULT_ROOT));
        let d = Dirs::resolve(Some("/f/s".into()), Some("/f/r".into()), env);
        assert_eq!(d.state, PathBuf::from("/f/s"));
        assert_eq!(d.root, PathBuf::from("/f/r"));
        assert_eq!(d.socket(), PathBuf::from("/f/s/manager.sock"));
        assert_eq!(d.manager_log(), PathBuf::from("/f/s/manager.log"));
    }

    fn exe(dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn manager_beside_then_path_then_env() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let c = tempfile::tempdir().unwrap();
        let berth = a.path().join("berth");
        let in_path = exe(b.path(), "berth-manager");
        let from_env = exe(c.path(), "custom-manager");
        let path_var = Some(OsString::from(b.path()));
        assert_eq!(
            manager_binary(
                Some(&berth),
                path_var.clone(),
                Some(from_env.clone().into())
            ),
            Some(in_path.clone())
        );
        let beside = exe(a.path(), "berth-manager");
        assert_eq!(
            manager_binary(Some(&berth), path_var, None),
            Some(beside.clone())
        );
        std::fs::remove_file(&beside).unwrap();
        assert_eq!(
            manager_binary(Some(&berth), None, Some(from_env.clone().into())),
            Some(from_env)
        );
        assert_eq!(manager_binary(Some(&berth), None, None), None);
    }
}
