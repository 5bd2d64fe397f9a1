//! `berth_fixture`: the shared test fixture for berth's end-to-end tests.
//!
//! Every crate that runs real containers in its tests uses this as a
//! dev-dependency:
//!
//! ```no_run
//! use berth_fixture::{require_root, unique_id, Bundle, Runtime};
//!
//! require_root!();
//! let bundle = Bundle::busybox();
//! bundle.set_args(&["sh", "-c", "echo hi"]);
//! let rt = Runtime::new();
//! let id = unique_id("hello");
//! let _guard = rt.guard(&id); // `delete --force` on drop, even if the test panics
//! let out = rt.run(["run", "--bundle", bundle.path().to_str().unwrap(), id.as_str()]);
//! assert!(out.status.success());
//! ```
//!
//! - [`runtime_bin`] picks the runtime under test (`$BERTH_RUNTIME`, else the
//!   workspace's release build, else its debug build).
//! - [`Bundle::busybox`] makes an OCI bundle: a busybox rootfs and the
//!   runtime's own `spec` output with `process.terminal = false`.
//! - [`Runtime`] calls the runtime with a private `--root`, so tests never see
//!   each other's containers; [`ContainerGuard`] force-deletes on drop.
//! - [`mounts_under`], [`cgroup_dirs_named`] and [`processes_with_arg`] look
//!   for state a failed operation may have left behind.
//! - [`cli`]: a private `berth` (its own root, state and manager) with a
//!   Drop guard, for the CLI tests; `tests/tests/cli_support` re-exports it.
//! - [`interop`] and [`containerd`]: client commands with a deadline, the
//!   ../shared/conformance env scripts, a private containerd and `ctr`.

pub mod cgroups;
pub mod cli;
pub mod containerd;
pub mod index_stub;
pub mod interop;
pub mod netns;
pub mod registry;

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tempfile::TempDir;

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.join("..");
    root.canonicalize().unwrap_or(root)
}

/// The cargo target dir: `$CARGO_TARGET_DIR` (relative to the workspace
/// root when relative), else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| {
            if t.is_absolute() {
                t
            } else {
                workspace_root().join(t)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// A workspace binary under test: `$<env_var>` if set, else
/// `<target>/release/<name>` if it exists, else `<target>/debug/<name>`.
pub fn built_binary(env_var: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env_var).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let target = target_dir();
    let release = target.join("release").join(name);
    if release.exists() {
        return release;
    }
    target.join("debug").join(name)
}

/// The runtime binary under test: `$BERTH_RUNTIME` if set, else
/// `<workspace>/target/release/berth-runtime` if it exists, else
/// `<workspace>/target/debug/berth-runtime`.
pub fn runtime_bin() -> PathBuf {
    built_binary("BERTH_RUNTIME", "berth-runtime")
}

/// The containerd shim under test: `$BERTH_SHIM`, else the workspace's
/// release build of containerd-shim-berth-v2, else its debug build.
pub fn shim_bin() -> PathBuf {
    built_binary("BERTH_SHIM", "containerd-shim-berth-v2")
}

/// The busybox binary the rootfs is built from: `$BERTH_BUSYBOX`, else
/// `/bin/busybox` (Debian's `busybox-static`).
pub fn busybox_bin() -> PathBuf {
    std::env::var_os("BERTH_BUSYBOX")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/bin/busybox"))
}

/// A short container id, unique across processes and calls:
/// `<prefix>-<pid>-<counter>-<time>` using only `[A-Za-z0-9_.-]`.
pub fn unique_id(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    let prefix: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(24)
        .collect();
    let prefix = if prefix.is_empty() {
        "t".into()
    } else {
        prefix
    };
    format!(
        "{prefix}-{:x}-{n:x}-{:x}",
        std::process::id(),
        (t & 0xff_ffff) as u32
    )
}

/// True when running with effective uid 0.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Returns false (after saying so on stderr) when not root, so a test can
/// `if !berth_fixture::root_or_skip("name") { return; }`.
pub fn root_or_skip(test: &str) -> bool {
    if is_root() {
        return true;
    }
    eprintln!(
        "SKIPPED {test}: needs root (real namespaces, mounts and cgroups); run the tests as root"
    );
    false
}

/// Skips (returns from) the calling test with a message on stderr unless root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::root_or_skip(module_path!()) {
            return;
        }
    };
    ($name:expr) => {
        if !$crate::root_or_skip($name) {
            return;
        }
    };
}

/// Polls `cond` every 10 ms until it is true or `timeout` has passed;
/// returns its last value.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Panics with the command's exit status, stdout and stderr unless it succeeded.
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// stdout as a (lossy) string.
pub fn stdout_str(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr as a (lossy) string.
pub fn stderr_str(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ------------------------------------------------------------------ bundles

/// The busybox applet paths (`bin/sh`, `usr/bin/awk`, ...), listed once per process.
fn busybox_applets() -> &'static [String] {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    APPLETS.get_or_init(|| {
        let bb = busybox_bin();
        let out = Command::new(&bb)
            .arg("--list-full")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} --list-full: {e} (install busybox-static: make deps)",
                    bb.display()
                )
            });
        assert_success(&out, "busybox --list-full");
        stdout_str(&out)
            .lines()
            .map(|l| l.trim().trim_start_matches('/').to_string())
            .filter(|l| !l.is_empty() && !l.contains(".."))
            .collect()
    })
}

/// Builds a busybox root filesystem in `rootfs` (which must not exist yet).
pub fn make_busybox_rootfs(rootfs: &Path) -> io::Result<()> {
    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "var", "run", "proc", "sys", "dev",
        "tmp",
    ] {
        fs::create_dir_all(rootfs.join(d))?;
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    let bb = rootfs.join("bin/busybox");
    fs::copy(busybox_bin(), &bb)?;
    fs::set_permissions(&bb, fs::Permissions::from_mode(0o755))?;
    for applet in busybox_applets() {
        let link = rootfs.join(applet);
        if link.symlink_metadata().is_ok() {
            continue;
        }
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent)?;
        }
        symlink("/bin/busybox", &link)?;
    }
    fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )?;
    fs::write(rootfs.join("etc/group"), "root:x:0:\nnobody:x:65534:\n")?;
    fs::write(rootfs.join("etc/hostname"), "berth\n")?;
    Ok(())
}

/// An OCI bundle in a temporary directory, removed on drop.
pub struct Bundle {
    dir: TempDir,
}

impl Bundle {
    /// A busybox bundle: `rootfs/` with busybox and a link for every applet,
    /// `/etc/passwd` (root, nobody), `/etc/group`, `/tmp` (1777), `/proc`,
    /// `/sys`, `/dev`; and `config.json` from `runtime_bin() spec --bundle DIR`
    /// with `process.terminal = false`.
    pub fn busybox() -> Bundle {
        Self::busybox_with_runtime(&runtime_bin())
    }

    /// Like [`Bundle::busybox`], with `config.json` from another runtime's `spec`.
    pub fn busybox_with_runtime(runtime: &Path) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("berth-bundle-")
            .tempdir()
            .expect("create bundle dir");
        // The runtime (e.g. a user-namespaced container) must be able to walk in.
        let _ = fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755));
        make_busybox_rootfs(&dir.path().join("rootfs")).expect("build busybox rootfs");
        let out = Command::new(runtime)
            .arg("spec")
            .arg("--bundle")
            .arg(dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {} spec: {e}", runtime.display()));
        assert_success(&out, &format!("{} spec --bundle", runtime.display()));
        let b = Bundle { dir };
        assert!(
            b.config_path().is_file(),
            "{} spec --bundle {} wrote no config.json",
            runtime.display(),
            b.path().display()
        );
        b.update_config(|c| c["process"]["terminal"] = Value::Bool(false));
        b
    }

    /// The bundle directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `<bundle>/rootfs`.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// `<bundle>/config.json`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    /// The parsed `config.json`.
    pub fn config(&self) -> Value {
        let text = fs::read_to_string(self.config_path()).expect("read config.json");
        serde_json::from_str(&text).expect("parse config.json")
    }

    /// Replaces `config.json` (pretty-printed).
    pub fn set_config(&self, config: &Value) {
        let text = serde_json::to_string_pretty(config).expect("serialize config");
        fs::write(self.config_path(), text + "\n").expect("write config.json");
    }

    /// Reads `config.json`, lets `f` change it, writes it back.
    pub fn update_config(&self, f: impl FnOnce(&mut Value)) {
        let mut c = self.config();
        f(&mut c);
        self.set_config(&c);
    }

    /// Sets `process.args`.
    pub fn set_args(&self, args: &[&str]) {
        self.update_config(|c| {
            c["process"]["args"] =
                Value::from(args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
        });
    }
}

// ------------------------------------------------------------------ runtime

/// The runtime under test with a private state directory (`--root`).
/// On drop, every container left in that root is force-deleted.
pub struct Runtime {
    bin: PathBuf,
    root: TempDir,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime {
    /// [`runtime_bin`] with a fresh temporary `--root`.
    pub fn new() -> Runtime {
        Self::with_bin(runtime_bin())
    }

    /// Another runc-compatible binary (e.g. `/usr/bin/runc`) with a fresh `--root`.
    pub fn with_bin(bin: impl Into<PathBuf>) -> Runtime {
        let root = tempfile::Builder::new()
            .prefix("berth-root-")
            .tempdir()
            .expect("create runtime root dir");
        Runtime {
            bin: bin.into(),
            root,
        }
    }

    /// The binary.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The private state directory passed as `--root`.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `BIN --root ROOT` with stdin from /dev/null; add arguments and run it yourself
    /// (e.g. to hand it a console socket or to spawn it).
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(self.root.path()).stdin(Stdio::null());
        c
    }

    /// Runs `BIN --root ROOT ARGS...` to completion and returns its output.
    /// Don't use it for a container that keeps stdout open after the runtime
    /// exits (e.g. `run -d` with inherited stdio): use [`Runtime::command`].
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()))
    }

    /// Like [`Runtime::run`], with stdout and stderr going to files rather
    /// than pipes: a container process that inherited them (after `create`,
    /// `run -d`, `exec -d`) would otherwise keep the pipes, and the caller,
    /// waiting until it exits.
    pub fn run_to_files<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let (out_p, err_p) = (dir.path().join("stdout"), dir.path().join("stderr"));
        let status = self
            .command()
            .args(args)
            .stdout(std::fs::File::create(&out_p).expect("stdout file"))
            .stderr(std::fs::File::create(&err_p).expect("stderr file"))
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        Output {
            status,
            stdout: std::fs::read(&out_p).unwrap_or_default(),
            stderr: std::fs::read(&err_p).unwrap_or_default(),
        }
    }

    /// `state ID` parsed as JSON, or None if the runtime failed.
    pub fn state(&self, id: &str) -> Option<Value> {
        let out = self.run(["state", id]);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// A guard that force-deletes container `id` when dropped.
    pub fn guard(&self, id: &str) -> ContainerGuard {
        ContainerGuard {
            id: id.to_string(),
            root: self.root.path().to_path_buf(),
            bin: self.bin.clone(),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let out = self.run(["list", "-q"]);
        if out.status.success() {
            for id in stdout_str(&out)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
            {
                let _ = self.run(["delete", "--force", id]);
            }
        }
    }
}

/// Force-deletes a container (`BIN --root ROOT delete --force ID`, errors
/// ignored) when dropped, so a test cleans up even when it panics.
pub struct ContainerGuard {
    pub id: String,
    pub root: PathBuf,
    bin: PathBuf,
}

impl ContainerGuard {
    /// A guard for a container of `bin` kept in `root`.
    pub fn new(bin: impl Into<PathBuf>, root: impl Into<PathBuf>, id: &str) -> ContainerGuard {
        ContainerGuard {
            id: id.to_string(),
            root: root.into(),
            bin: bin.into(),
        }
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let _ = Command::new(&self.bin)
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "--force", &self.id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

// ------------------------------------------------------- leftover-state checks

/// One line of /proc/self/mountinfo: (mount point, fstype).
fn mountinfo() -> Vec<(String, String)> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    berth_mountinfo::parse(&text)
        .map(|m| (m.mount_point.into_owned(), m.fstype.to_string()))
        .collect()
}

/// Mount points at or below `path` (from /proc/self/mountinfo), in mount order.
pub fn mounts_under(path: impl AsRef<Path>) -> Vec<String> {
    let p = path.as_ref();
    let p = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let base = p.to_string_lossy().trim_end_matches('/').to_string();
    mountinfo()
        .into_iter()
        .map(|(mp, _)| mp)
        .filter(|mp| base.is_empty() || *mp == base || mp.starts_with(&format!("{base}/")))
        .collect()
}

/// Every directory named `name` in every mounted cgroup hierarchy (v1 and v2).
/// A `name` with slashes (`parent/child`) matches that path suffix.
pub fn cgroup_dirs_named(name: &str) -> Vec<PathBuf> {
    let want = Path::new(name.trim_matches('/'));
    let mut roots: Vec<String> = mountinfo()
        .into_iter()
        .filter(|(_, t)| t == "cgroup" || t == "cgroup2")
        .map(|(mp, _)| mp)
        .collect();
    roots.sort();
    roots.dedup();
    let mut found = Vec::new();
    for r in roots {
        let mut stack = vec![PathBuf::from(r)];
        while let Some(dir) = stack.pop() {
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                let Ok(ft) = e.file_type() else { continue };
                if !ft.is_dir() {
                    continue;
                }
                let p = e.path();
                if p.ends_with(want) {
                    found.push(p.clone());
                }
                stack.push(p);
            }
        }
    }
    found.sort();
    found
}

/// Pids (other than this process) with an argument containing `substr`.
pub fn processes_with_arg(substr: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut pids = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return pids;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        if cmdline
            .split(|b| *b == 0)
            .any(|arg| String::from_utf8_lossy(arg).contains(substr))
        {
            pids.push(pid);
        }
    }
    pids.sort();
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_valid() {
        let a = unique_id("x y/z");
        let b = unique_id("x y/z");
        assert_ne!(a, b);
        assert!(a.starts_with("x-y-z-"), "{a}");
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)));
        assert!(a.len() < 48);
    }
}
