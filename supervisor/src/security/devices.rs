//! `--device HOST[:CONTAINER[:rwm]]` and `--privileged`'s host devices: a
//! device node in the container (`linux.devices`) and the cgroup rule that
//! lets it be used.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use serde_json::{json, Value};

use super::SecurityError;

/// One device for the container.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub path: String,
    /// `c` or `b`.
    pub kind: &'static str,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub access: String,
}

fn from_host(host: &Path, path: &str, access: &str) -> Option<Device> {
    let m = std::fs::metadata(host).ok()?;
    let kind = if m.file_type().is_char_device() {
        "c"
    } else if m.file_type().is_block_device() {
        "b"
    } else {
        return None;
    };
    let rdev = m.rdev();
    Some(Device {
        path: path.to_string(),
        kind,
        major: libc::major(rdev) as u64,
        minor: libc::minor(rdev) as u64,
        mode: m.mode() & 0o7777,
        access: access.to_string(),
    })
}

/// Parses and stats one `--device` value.
pub fn parse(spec: &str) -> Result<Device, SecurityError> {
    let bad = |why: &str| SecurityError::Device {
        path: spec.to_string(),
        why: why.to_string(),
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, ctr, access) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, a] if !a.is_empty() && a.chars().all(|c| "rwm".contains(c)) => (*h, *h, *a),
        [h, c] => (*h, *c, "rwm"),
        [h, c, a] => (*h, *c, *a),
        _ => return Err(bad("expected HOST[:CONTAINER[:rwm]]")),
    };
    if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
        return Err(bad("permissions must be a combination of r, w and m"));
    }
    if !ctr.starts_with('/') {
        return Err(bad("the container path must be absolute"));
    }
    from_host(Path::new(host), ctr, access).ok_or_else(|| bad("not a device node"))
}

/// Every device node under the host's /dev, as docker's `--privileged`
/// gives them (not the pty, shm, mqueue and fd trees, nor the console).
pub fn host_devices() -> Vec<Device> {
    fn walk(dir: &Path, out: &mut Vec<Device>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                let name = e.file_name();
                if !matches!(
                    name.to_str(),
                    Some("pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev")
                ) {
                    walk(&p, out);
                }
                continue;
            }
            if p == Path::new("/dev/console") || ft.is_symlink() {
                continue;
            }
            let path = p.display().to_string();
            if let Some(d) = from_host(&p, &path, "rwm") {
                out.push(d);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/dev"), &mut out);
    out
}

/// Adds `devices` to the spec, each with its cgroup rule when `rules`.
pub fn add(spec: &mut Value, devices: &[Device], rules: bool) {
    for d in devices {
        let node = json!({
            "path": d.path, "type": d.kind, "major": d.major, "minor": d.minor,
            "fileMode": d.mode, "uid": 0, "gid": 0,
        });
        match spec["linux"]["devices"].as_array_mut() {
            Some(list) => list.push(node),
            None => spec["linux"]["devices"] = json!([node]),
        }
        if rules {
            let rule = json!({
                "allow": true, "type": d.kind, "major": d.major, "minor": d.minor,
                "access": d.access,
            });
            if let Some(list) = spec["linux"]["resources"]["devices"].as_array_mut() {
                list.push(rule);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_specs() {
        let d = parse("/dev/null:/dev/mynull:r").unwrap();
        assert_eq!((d.kind, d.major, d.minor), ("c", 1, 3));
        assert_eq!((d.path.as_str(), d.access.as_str()), ("/dev/mynull", "r"));
        assert_eq!(parse("/dev/zero:rw").unwrap().path, "/dev/zero");
        assert!(parse("/etc/passwd").is_err());
        assert!(parse("/dev/null:/x:q").is_err());
        assert!(!host_devices().is_empty());
    }
}
