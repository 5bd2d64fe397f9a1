//! A container's OCI bundle under `<state>/containers/<id>/`: config.json
//! from the stored spec, the rootfs mount point, the shim's log FIFO and the
//! stdio FIFOs.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("invalid spec_json: {0}")]
    BadSpec(String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, BundleError>;

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> BundleError + 'a {
    move |source| BundleError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Checks a front end's spec: an OCI runtime spec with a process to run.
pub fn validate_spec(spec_json: &str) -> Result<Value> {
    let value: Value =
        serde_json::from_str(spec_json).map_err(|e| BundleError::BadSpec(e.to_string()))?;
    if !value.is_object() {
        return Err(BundleError::BadSpec("not a JSON object".into()));
    }
    serde_json::from_value::<oci_spec::runtime::Spec>(value.clone())
        .map_err(|e| BundleError::BadSpec(e.to_string()))?;
    let args = value
        .pointer("/process/args")
        .and_then(Value::as_array)
        .map(|a| a.len())
        .unwrap_or(0);
    if args == 0 {
        return Err(BundleError::BadSpec(
            "process.args is empty: no command specified".into(),
        ));
    }
    Ok(value)
}

/// The spec as the runtime gets it: rootfs at `<bundle>/rootfs` (the shim
/// mounts the snapshot there), the container's tty choice, a cgroup named
/// after the container when the front end chose none, and, as docker does,
/// the short id as hostname when the spec names none.
pub fn runtime_spec(spec: &Value, id: &str, tty: bool) -> Value {
    let mut spec = spec.clone();
    let obj = spec.as_object_mut().expect("validated spec is an object");
    let no_hostname = obj
        .get("hostname")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    if no_hostname {
        let short = id.get(..12).unwrap_or(id);
        obj.insert("hostname".into(), Value::String(short.into()));
    }
    let root = obj
        .entry("root")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(root) = root.as_object_mut() {
        root.insert("path".into(), Value::String("rootfs".into()));
    }
    if let Some(process) = obj.get_mut("process").and_then(Value::as_object_mut) {
        process.insert("terminal".into(), Value::Bool(tty));
    }
    let linux = obj
        .entry("linux")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(linux) = linux.as_object_mut() {
        let unset = linux
            .get("cgroupsPath")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if unset {
            linux.insert("cgroupsPath".into(), Value::String(format!("/berth/{id}")));
        }
    }
    spec
}

/// Writes `bytes` to `path` as a whole: new file, fsync, rename, so a reader
/// sees the old content or the new.
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    atomic_write_all(&[(path, bytes)], mode)
}

/// [`atomic_write`] for several files at once: every new file is written
/// and fsynced, then all are renamed into place and each directory is
/// fsynced once, so files that belong together cost one directory sync.
pub fn atomic_write_all(files: &[(&Path, &[u8])], mode: u32) -> Result<()> {
    let mut staged = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        let f = write_tmp(path, bytes, mode)?;
        f.sync_all()
            .map_err(io("fsync", &path.with_extension("tmp")))?;
        staged.push(*path);
    }
    let mut dirs: Vec<&Path> = Vec::new();
    for path in staged {
        fs::rename(path.with_extension("tmp"), path).map_err(io("rename into place", path))?;
        if let Some(dir) = path.parent() {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    for dir in dirs {
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` as a whole (new file, rename) without syncing
/// it to disk: for the state dir's files, which describe live processes
/// only. A killed process leaves the page cache as it was, so every reader
/// still sees the old content or the new; a power loss ends the processes
/// such a file describes (and the state dir is a tmpfs, `/run/berth`, by
/// default).
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    drop(write_tmp(path, bytes, mode)?);
    fs::rename(path.with_extension("tmp"), path).map_err(io("rename into place", path))
}

/// Writes `bytes` into `path` with the extension `tmp`, returning it open.
fn write_tmp(path: &Path, bytes: &[u8], mode: u32) -> Result<fs::File> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io("create", &tmp))?;
    f.write_all(bytes).map_err(io("write", &tmp))?;
    Ok(f)
}

/// Creates a directory and its parents with `mode` (existing ones are kept).
pub fn make_dir(path: &Path, mode: u32) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(io("create directory", path))
}

/// Creates a FIFO unless one is there already.
pub fn make_fifo(path: &Path) -> Result<()> {
    match nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
        Err(e) => Err(BundleError::Io {
            what: "mkfifo",
            path: path.to_path_buf(),
            source: e.into(),
        }),
    }
}

/// Writes the bundle the shim is started in.
pub fn write_bundle(dir: &Path, spec: &Value) -> Result<()> {
    make_dir(dir, 0o711)?;
    make_dir(&dir.join("rootfs"), 0o755)?;
    let bytes = serde_json::to_vec_pretty(spec).expect("a JSON value always serializes");
    // made afresh at every start, like the bundle around it
    replace_file(&dir.join("config.json"), &bytes, 0o600)?;
    // containerd's shims write their own log to this FIFO in the bundle
    make_fifo(&dir.join("log"))
}

/// Unmounts whatever is still mounted at `path` (stacked mounts included).
pub fn unmount_all(path: &Path) {
    for _ in 0..16 {
        if nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH).is_err() {
            break;
        }
    }
}

/// Removes a bundle after its task is gone; a missing one is fine.
pub fn remove_bundle(dir: &Path) -> Result<()> {
    unmount_all(&dir.join("rootfs"));
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(BundleError::Io {
            what: "remove bundle",
            path: dir.to_path_buf(),
            source: e,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{"ociVersion":"1.0.2","process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}},"root":{"path":"/somewhere"},"linux":{}}"#;

    #[test]
    fn validate_rejects_non_specs() {
        assert!(validate_spec("not json").is_err());
        assert!(validate_spec("[]").is_err());
        let no_args =
            r#"{"ociVersion":"1.0.2","process":{"args":[],"cwd":"/","user":{"uid":0,"gid":0}}}"#;
        let e = validate_spec(no_args).unwrap_err().to_string();
        assert!(e.contains("process.args"), "{e}");
        assert!(validate_spec(SPEC).is_ok());
    }

    #[test]
    fn runtime_spec_points_at_bundle_rootfs() {
        let spec = runtime_spec(&validate_spec(SPEC).unwrap(), "abc", true);
        assert_eq!(spec.pointer("/root/path").unwrap(), "rootfs");
        assert_eq!(spec.pointer("/process/terminal").unwrap(), true);
        assert_eq!(spec.pointer("/linux/cgroupsPath").unwrap(), "/berth/abc");
    }

    #[test]
    fn runtime_spec_names_the_host_after_the_short_id() {
        let spec = runtime_spec(&validate_spec(SPEC).unwrap(), "0123456789abcdef", false);
        assert_eq!(spec.pointer("/hostname").unwrap(), "0123456789ab");
    }

    #[test]
    fn runtime_spec_keeps_a_chosen_cgroup() {
        let mut v = validate_spec(SPEC).unwrap();
        v["linux"]["cgroupsPath"] = "/mine/x".into();
        let spec = runtime_spec(&v, "abc", false);
        assert_eq!(spec.pointer("/linux/cgroupsPath").unwrap(), "/mine/x");
    }

    #[test]
    fn bundle_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path().join("c1");
        write_bundle(&b, &validate_spec(SPEC).unwrap()).unwrap();
        assert!(b.join("rootfs").is_dir());
        let back: Value =
            serde_json::from_slice(&fs::read(b.join("config.json")).unwrap()).unwrap();
        assert_eq!(back.pointer("/process/args/0").unwrap(), "sh");
        assert!(!b.join("config.tmp").exists());
        remove_bundle(&b).unwrap();
        assert!(!b.exists());
        remove_bundle(&b).unwrap();
    }
}
