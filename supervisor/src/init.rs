//! `--init`: an init process as the container's PID 1 that reaps orphans
//! and forwards signals to the command, as docker's `docker-init`. berth
//! uses the host's `catatonit` (a static binary; Debian's package), bound
//! read-only at docker's `/sbin/docker-init` and run as `docker-init --
//! COMMAND…`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// Where the init appears in the container (docker's path).
const INIT_PATH: &str = "/sbin/docker-init";
/// The init's name on the host.
const INIT_BINARY: &str = "catatonit";
/// Where packages put it besides `PATH`.
const INIT_FALLBACKS: &[&str] = &["/usr/libexec/podman/catatonit"];

/// No init binary on this host.
#[derive(Debug, thiserror::Error)]
#[error("--init: cannot find {INIT_BINARY} on PATH or in {}: install Debian's catatonit", INIT_FALLBACKS.join(", "))]
pub struct InitError;

/// The host's init binary.
pub fn find() -> Result<PathBuf, InitError> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(INIT_BINARY))
        .chain(INIT_FALLBACKS.iter().map(PathBuf::from))
        .find(|p| p.is_file())
        .ok_or(InitError)
}

/// Makes `init` the spec's PID 1, running the spec's command.
pub fn apply(spec: &mut Value, init: &Path) {
    let mount = json!({
        "destination": INIT_PATH, "type": "bind", "source": init.display().to_string(),
        "options": ["rbind", "ro", "nosuid", "nodev"],
    });
    match spec["mounts"].as_array_mut() {
        Some(m) => m.push(mount),
        None => spec["mounts"] = json!([mount]),
    }
    let mut args = vec![json!(INIT_PATH), json!("--")];
    args.extend(
        spec["process"]["args"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    );
    spec["process"]["args"] = json!(args);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_init_runs_the_command() {
        let mut spec = json!({"process": {"args": ["sh", "-c", "x"]}, "mounts": []});
        apply(&mut spec, Path::new("/usr/bin/catatonit"));
        assert_eq!(
            spec["process"]["args"],
            json!(["/sbin/docker-init", "--", "sh", "-c", "x"])
        );
        assert_eq!(spec["mounts"][0]["source"], "/usr/bin/catatonit");
        assert_eq!(spec["mounts"][0]["destination"], INIT_PATH);
    }
}
