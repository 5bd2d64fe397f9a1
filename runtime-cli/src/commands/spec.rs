//! `spec`: the default config.json, the same shape `runc spec` writes.

use serde_json::{json, Value};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("file {0} exists: remove it first")]
    Exists(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

const DEFAULT_CAPS: &[&str] = &["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// The default configuration; `rootless` maps the caller's uid/gid to root
/// in a user namespace and drops what an unprivileged user can't do.
pub fn default_spec(rootless: bool, uid: u32, gid: u32) -> Value {
    let mut spec = json!({
        "ociVersion": crate::state::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS,
                "effective": DEFAULT_CAPS,
                "permitted": DEFAULT_CAPS,
                "ambient": DEFAULT_CAPS
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "berth",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    });
    if rootless {
        make_rootless(&mut spec, uid, gid);
    }
    spec
}

fn make_rootless(spec: &mut Value, uid: u32, gid: u32) {
    let linux = &mut spec["linux"];
    linux
        .as_object_mut()
        .expect("linux is an object")
        .remove("resources");
    let nss = linux["namespaces"].as_array_mut().expect("namespaces");
    nss.retain(|n| n["type"] != "network");
    nss.push(json!({"type": "user"}));
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    for m in spec["mounts"].as_array_mut().expect("mounts") {
        if let Some(opts) = m["options"].as_array_mut() {
            opts.retain(|o| !o.as_str().is_some_and(|s| s.starts_with("gid=")));
        }
        if m["type"] == "sysfs" {
            *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
        }
    }
}

/// Writes the default config.json into `bundle`, refusing to overwrite one.
pub fn write(bundle: &Path, rootless: bool) -> Result<(), Error> {
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(Error::Exists(path.display().to_string()));
    }
    // SAFETY: getuid/getgid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let data = serde_json::to_vec_pretty(&default_spec(rootless, uid, gid)).expect("serializes");
    crate::state::write_atomic(&path, &data, 0o644).map_err(|e| Error::Write {
        path: path.display().to_string(),
        source: std::io::Error::other(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_parses_and_validates() {
        let v = default_spec(false, 0, 0);
        let spec: oci_spec::runtime::Spec = serde_json::from_value(v).unwrap();
        crate::config::validate(&spec).unwrap();
    }

    #[test]
    fn rootless_spec_has_user_namespace() {
        let v = default_spec(true, 1000, 1000);
        let spec: oci_spec::runtime::Spec = serde_json::from_value(v.clone()).unwrap();
        crate::config::validate(&spec).unwrap();
        assert_eq!(v["linux"]["uidMappings"][0]["hostID"], 1000);
        assert!(!v.to_string().contains("gid=5"));
        assert!(!v.to_string().contains("\"network\""));
    }
}
