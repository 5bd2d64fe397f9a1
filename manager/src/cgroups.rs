//! The last sweep after a task is gone: a runtime killed halfway through
//! `create` (its shim's request died with the manager) leaves the
//! container's cgroups without a state entry that `delete` would find.
//! Empty cgroups at the container's path are removed; `rmdir` refuses any
//! with processes, so nothing alive is touched.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The container's cgroup path as the runtime used it (see
/// `bundle::runtime_spec`): the spec's `linux.cgroupsPath`, else `/berth/<id>`.
pub fn cgroups_path(spec_json: &str, id: &str) -> Option<String> {
    let spec: Value = serde_json::from_str(spec_json).ok()?;
    if !spec.is_object() {
        return None;
    }
    let p = crate::bundle::runtime_spec(&spec, id, false)
        .pointer("/linux/cgroupsPath")?
        .as_str()?
        .to_string();
    // systemd's "slice:prefix:name" form is no filesystem path
    (!p.contains(':')).then_some(p)
}

/// Mount points of every cgroup (v1 and v2) hierarchy, read once: the
/// mount table grows with every container's rootfs, and reading it on each
/// removal made removing N containers cost N².
fn cgroup_mounts() -> &'static [PathBuf] {
    static MOUNTS: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
    MOUNTS.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        berth_mountinfo::parse(&text)
            .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
            .map(|m| PathBuf::from(m.mount_point.as_ref()))
            .collect()
    })
}

/// Removes the (empty) cgroup directories at `path` in every hierarchy.
pub fn remove_empty(path: &str) {
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.as_os_str().is_empty() || rel.components().any(|c| c.as_os_str() == "..") {
        return;
    }
    for mount in cgroup_mounts() {
        let dir = mount.join(rel);
        if dir.is_dir() {
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_from_spec_or_default() {
        let spec = r#"{"ociVersion":"1.0.2","process":{"args":["sh"],"cwd":"/"},"linux":{}}"#;
        assert_eq!(cgroups_path(spec, "abc").as_deref(), Some("/berth/abc"));
        let mine = r#"{"ociVersion":"1.0.2","linux":{"cgroupsPath":"/mine/x"}}"#;
        assert_eq!(cgroups_path(mine, "abc").as_deref(), Some("/mine/x"));
        let systemd = r#"{"ociVersion":"1.0.2","linux":{"cgroupsPath":"system.slice:berth:abc"}}"#;
        assert_eq!(cgroups_path(systemd, "abc"), None);
        assert_eq!(cgroups_path("garbage", "abc"), None);
        assert_eq!(cgroups_path("[]", "abc"), None);
    }
}
