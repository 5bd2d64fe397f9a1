//! Where the manager keeps things and which binaries it runs.

use std::path::{Path, PathBuf};

pub const DEFAULT_ROOT: &str = "/var/lib/berth";
pub const DEFAULT_STATE: &str = "/run/berth";
pub const DEFAULT_RUNTIME: &str = "berth-runtime";
pub const DEFAULT_SHIM: &str = "containerd-shim-berth-v2";

#[derive(Debug, Clone)]
pub struct Config {
    /// Persistent data: metadata, images, snapshots, container logs.
    pub root: PathBuf,
    /// Runtime data: the socket, bundles, FIFOs (tmpfs in production).
    pub state: PathBuf,
    /// OCI runtime the shims run (their `BinaryName`).
    pub runtime: PathBuf,
    pub shim: PathBuf,
    /// The manager's own binary, given to shims as `-publish-binary`.
    pub manager_bin: PathBuf,
    pub debug: bool,
}

impl Config {
    pub fn socket(&self) -> PathBuf {
        self.state.join("manager.sock")
    }
    pub fn db_path(&self) -> PathBuf {
        self.root.join("manager.redb")
    }
    pub fn images_root(&self) -> PathBuf {
        self.root.join("images")
    }
    /// The runtime's `--root` parent: shims add the namespace.
    pub fn runtime_root(&self) -> PathBuf {
        self.state.join("runtime")
    }
    pub fn bundle_dir(&self, id: &str) -> PathBuf {
        self.state.join("containers").join(id)
    }
    /// Per-container persistent dir (the json log lives there).
    pub fn container_root(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.container_root(id).join(format!("{id}-json.log"))
    }
}

/// Resolves a binary name: a path is taken as is; a bare name is looked for
/// next to `beside` (the manager's own binary), then on `PATH`; failing both
/// the bare name is kept so the error names it when it is run.
pub fn find_binary(name: &Path, beside: Option<&Path>) -> PathBuf {
    if name.components().count() > 1 {
        return name.to_path_buf();
    }
    if let Some(dir) = beside.and_then(Path::parent) {
        let p = dir.join(name);
        if p.is_file() {
            return p;
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    name.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_under_root_and_state() {
        let c = Config {
            root: "/r".into(),
            state: "/s".into(),
            runtime: "x".into(),
            shim: "y".into(),
            manager_bin: "z".into(),
            debug: false,
        };
        assert_eq!(c.socket(), Path::new("/s/manager.sock"));
        assert_eq!(c.bundle_dir("a"), Path::new("/s/containers/a"));
        assert_eq!(c.log_path("a"), Path::new("/r/containers/a/a-json.log"));
    }

    #[test]
    fn binaries_with_a_path_are_kept() {
        assert_eq!(
            find_binary(Path::new("/opt/x/shim"), None),
            Path::new("/opt/x/shim")
        );
        assert_eq!(
            find_binary(Path::new("sh"), None).file_name().unwrap(),
            "sh"
        );
    }
}
