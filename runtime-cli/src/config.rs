//! Loading and checking a bundle's `config.json` before anything is created.

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bundle {0} does not exist")]
    NoBundle(PathBuf),
    #[error("config.json not found in bundle {0}")]
    NoConfig(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config.json is malformed: {0}")]
    Malformed(String),
    #[error("config.json: {0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

/// A loaded, checked bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub spec: Spec,
}

impl Bundle {
    /// The OCI state hooks (and a seccomp listener) get on the way to
    /// `start`, before the state file exists.
    pub fn state_json(&self, id: &str, pid: i32, status: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "ociVersion": crate::state::OCI_VERSION,
            "id": id,
            "status": status,
            "pid": pid,
            "bundle": self.dir,
            "annotations": self.spec.annotations().clone().unwrap_or_default(),
        }))
        .expect("serializes")
    }
}

const NAMESPACE_TYPES: &[&str] = &[
    "pid", "network", "net", "mount", "mnt", "ipc", "uts", "user", "cgroup", "time",
];

/// Reads `<bundle>/config.json`, checks it, and resolves the rootfs path.
pub fn load(bundle: &Path) -> Result<Bundle, Error> {
    let dir = std::path::absolute(bundle).unwrap_or_else(|_| bundle.to_path_buf());
    if !dir.is_dir() {
        return Err(Error::NoBundle(dir));
    }
    let path = dir.join("config.json");
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NoConfig(dir)),
        Err(source) => return Err(Error::Read { path, source }),
    };
    let spec = parse(&data)?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid("root is required"))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        dir.join(root.path())
    };
    if !rootfs.is_dir() {
        return Err(invalid(format!(
            "root.path {} does not exist or is not a directory",
            rootfs.display()
        )));
    }
    // mounts are checked against the real path the kernel reports
    let rootfs = std::fs::canonicalize(&rootfs).map_err(|source| Error::Read {
        path: rootfs.clone(),
        source,
    })?;
    validate(&spec)?;
    Ok(Bundle { dir, rootfs, spec })
}

/// Parses config.json text, naming the offending field where serde's
/// message alone would be cryptic.
pub fn parse(data: &[u8]) -> Result<Spec, Error> {
    // one pass straight into the spec; only a config that fails it pays for
    // the slower walk that finds the best message
    // (serde would take a top-level array for the struct: not config.json)
    if data.trim_ascii_start().first() == Some(&b'{') {
        let mut de = serde_json::Deserializer::from_slice(data);
        if let Ok(spec) = Spec::deserialize(&mut de) {
            if de.end().is_ok() {
                return Ok(spec);
            }
        }
    }
    explain(data)
}

/// The error of a config.json that did not parse, as precise as we can make it.
fn explain(data: &[u8]) -> Result<Spec, Error> {
    let value: serde_json::Value =
        serde_json::from_slice(data).map_err(|e| Error::Malformed(e.to_string()))?;
    if !value.is_object() {
        return Err(Error::Malformed("top level must be a JSON object".into()));
    }
    if let Some(nss) = value
        .pointer("/linux/namespaces")
        .and_then(|v| v.as_array())
    {
        for ns in nss {
            let t = ns.get("type").and_then(|t| t.as_str()).unwrap_or("");
            if !NAMESPACE_TYPES.contains(&t) {
                return Err(invalid(format!(
                    "unknown namespace type {t:?} in linux.namespaces"
                )));
            }
        }
    }
    // the path names the field serde choked on ("process.args: invalid type")
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        Error::Malformed(if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        })
    })
}

/// Semantic checks that serde can't express.
pub fn validate(spec: &Spec) -> Result<(), Error> {
    if let Some(p) = spec.process() {
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(invalid("process.args must not be empty"));
        }
        if !p.cwd().is_absolute() {
            return Err(invalid(format!(
                "process.cwd {} must be an absolute path",
                p.cwd().display()
            )));
        }
        if let Some(rl) = p.rlimits() {
            let mut seen = Vec::new();
            for r in rl {
                if seen.contains(&r.typ()) {
                    return Err(invalid(format!("duplicate rlimit {:?}", r.typ())));
                }
                seen.push(r.typ());
                if r.soft() > r.hard() {
                    return Err(invalid(format!(
                        "rlimit {:?}: soft limit {} exceeds hard limit {}",
                        r.typ(),
                        r.soft(),
                        r.hard()
                    )));
                }
            }
        }
    }
    let linux = spec.linux().clone().unwrap_or_default();
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    let mut types = HashSet::new();
    for ns in &namespaces {
        if !types.insert(ns.typ()) {
            return Err(invalid(format!(
                "duplicate namespace type {} in linux.namespaces",
                ns.typ()
            )));
        }
        if let Some(path) = ns.path() {
            if !path.exists() {
                return Err(invalid(format!(
                    "namespace path {} for {} does not exist",
                    path.display(),
                    ns.typ()
                )));
            }
        }
    }
    let has = |t: LinuxNamespaceType| types.contains(&t);
    let new_user = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new_user && !has_maps {
        return Err(invalid(
            "a new user namespace needs linux.uidMappings and linux.gidMappings",
        ));
    }
    if has_maps && !has(LinuxNamespaceType::User) {
        return Err(invalid(
            "linux.uidMappings/gidMappings need a user namespace in linux.namespaces",
        ));
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(invalid(
            "hostname is set but the container has no private UTS namespace",
        ));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(invalid(
            "domainname is set but the container has no private UTS namespace",
        ));
    }
    if let Some(sysctl) = linux.sysctl() {
        for key in sysctl.keys() {
            crate::sysctl::check_sysctl(key, &|t| has(t)).map_err(invalid)?;
        }
    }
    for m in spec.mounts().iter().flatten() {
        check_destination(m.destination()).map_err(invalid)?;
        if let Some(opts) = m.options() {
            berth_mount_options::MountOptions::parse(opts).map_err(|e| invalid(e.to_string()))?;
        }
    }
    if let Some(hooks) = spec.hooks() {
        #[allow(deprecated)]
        let all = [
            hooks.prestart(),
            hooks.create_runtime(),
            hooks.create_container(),
            hooks.start_container(),
            hooks.poststart(),
            hooks.poststop(),
        ];
        for h in all.into_iter().flatten().flatten() {
            if !h.path().is_absolute() {
                return Err(invalid(format!(
                    "hook path {} must be absolute",
                    h.path().display()
                )));
            }
            if h.timeout().is_some_and(|t| t <= 0) {
                return Err(invalid(format!(
                    "hook {} timeout must be greater than zero",
                    h.path().display()
                )));
            }
        }
    }
    if let Some(p) = linux.personality() {
        crate::process_setup::personality(p).map_err(invalid)?;
    }
    Ok(())
}

/// The spec's seccomp filter, validated and made ready to load: compiled,
/// or read from the compiled programs kept under the runtime's `root`.
/// Separate from [`validate`] so the filter is compiled once, not checked
/// and then compiled again.
pub fn seccomp(root: &Path, spec: &Spec) -> Result<Option<crate::process_setup::Seccomp>, Error> {
    let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(None);
    };
    crate::process_setup::Seccomp::prepare(&crate::state::seccomp_cache_dir(root), profile)
        .map(Some)
        .map_err(|e| invalid(e.to_string()))
}

/// A mount destination must stay inside the rootfs even before symlinks are
/// looked at: `..` may not climb above `/`.
pub fn check_destination(dest: &Path) -> Result<(), String> {
    let mut depth: i64 = 0;
    for c in dest.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!(
                        "mount destination {} escapes the container rootfs",
                        dest.display()
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
        "process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/"},
        "linux":{"namespaces":[{"type":"pid"},{"type":"mount"}]}}"#;

    fn spec_with(patch: impl FnOnce(&mut serde_json::Value)) -> Result<Spec, Error> {
        let mut v: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
        patch(&mut v);
        let spec = parse(v.to_string().as_bytes())?;
        validate(&spec)?;
        Ok(spec)
    }

    #[test]
    fn minimal_config_is_valid() {
        spec_with(|_| {}).unwrap();
    }

    #[test]
    fn malformed_json_is_reported() {
        let e = parse(b"{\"ociVersion\": ").unwrap_err();
        assert!(e.to_string().starts_with("config.json is malformed"), "{e}");
        assert!(parse(b"[]").is_err());
    }

    #[test]
    fn wrong_type_names_the_field() {
        let e = spec_with(|v| v["process"]["args"] = "sleep 100".into()).unwrap_err();
        assert!(e.to_string().contains("process.args: invalid type"), "{e}");
    }

    #[test]
    fn unknown_namespace_is_named() {
        let e = spec_with(|v| v["linux"]["namespaces"][0]["type"] = "bogus".into()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "config.json: unknown namespace type \"bogus\" in linux.namespaces"
        );
    }

    #[test]
    fn duplicate_namespace_is_refused() {
        let e = spec_with(|v| {
            v["linux"]["namespaces"] = serde_json::json!([{"type":"pid"},{"type":"pid"}])
        })
        .unwrap_err();
        assert!(
            e.to_string().contains("duplicate namespace type pid"),
            "{e}"
        );
    }

    #[test]
    fn escaping_destination_is_refused() {
        let e = spec_with(|v| {
            v["mounts"] =
                serde_json::json!([{"destination":"/../../etc","type":"tmpfs","source":"tmpfs"}])
        })
        .unwrap_err();
        assert!(
            e.to_string().contains("escapes the container rootfs"),
            "{e}"
        );
        assert!(check_destination(Path::new("/a/../b")).is_ok());
        assert!(check_destination(Path::new("/a/../../b")).is_err());
    }

    #[test]
    fn user_namespace_needs_mappings() {
        let e = spec_with(|v| {
            v["linux"]["namespaces"] = serde_json::json!([{"type":"user"}]);
        })
        .unwrap_err();
        assert!(e.to_string().contains("uidMappings"), "{e}");
    }

    #[test]
    fn hostname_needs_uts() {
        let e = spec_with(|v| v["hostname"] = "h".into()).unwrap_err();
        assert!(e.to_string().contains("UTS"), "{e}");
    }

    #[test]
    fn sysctl_needs_its_namespace() {
        let e = spec_with(|v| {
            v["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward":"1"});
        })
        .unwrap_err();
        assert!(e.to_string().contains("net.ipv4.ip_forward"), "{e}");
        spec_with(|v| {
            v["linux"]["sysctl"] = serde_json::json!({"kernel.shmmax":"1"});
            v["linux"]["namespaces"] = serde_json::json!([{"type":"ipc"}]);
        })
        .unwrap();
    }

    #[test]
    fn relative_hook_path_is_refused() {
        let e = spec_with(|v| {
            v["hooks"] = serde_json::json!({"prestart":[{"path":"bin/true"}]});
        })
        .unwrap_err();
        assert!(e.to_string().contains("must be absolute"), "{e}");
    }
}
