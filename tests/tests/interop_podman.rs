//! berth-runtime under podman (`podman --runtime PATH`).
//!
//! The recipe is ../shared/conformance/podman-env.sh: Debian's podman 4.3 as
//! root with private config and storage (cgroupfs, file events, no network).
//! podman drives the runtime partly itself (state, kill, delete) and partly
//! through conmon (create, exec), with the global flags `--log` and
//! `--log-format json`; it passes no `--root`, so the runtime keeps its state
//! in its default root.
//!
//! Each test sets the env up (the script is idempotent) and tears it down
//! when done, even when the test fails: `podman-env.sh stop` removes every
//! container (so no conmon outlives `cargo test`) and unmounts storage. The
//! tests share the storage, so they run one at a time.
//!
//! The runtime is `berth_fixture::runtime_bin()`; `BERTH_RUNTIME=/usr/bin/runc`
//! runs the same flows against runc, which tells a broken environment from a
//! broken runtime.

use berth_fixture::interop as common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use berth_fixture::{cgroup_dirs_named, processes_with_arg, require_root, unique_id, wait_until};
use common::{run, run_best_effort, Outcome, CMD_TIMEOUT};
use tempfile::TempDir;

/// Config and storage dir; private to these tests, so a podman setup made
/// with the script's default base is never touched.
const BASE: &str = "/var/tmp/berth-interop-podman";
/// The name podman-env.sh loads busybox under.
const IMAGE: &str = "docker.io/library/busybox:latest";

static STORAGE: Mutex<()> = Mutex::new(());

/// `podman-env.sh CMD` for our private base. Images are built (only when the
/// storage lacks busybox) into `images`, a temporary dir that nothing else
/// rebuilds under our feet.
fn env_script(cmd: &str, images: &Path) -> Command {
    let mut c = Command::new(common::conformance_script("podman-env.sh"));
    c.arg(cmd)
        .env("RC_PODMAN_BASE", BASE)
        .env("RC_IMAGES", images);
    c
}

/// podman set up with private config and storage; torn down on drop.
struct Podman {
    runtime: PathBuf,
    /// What `podman-env.sh start` exported (CONTAINERS_CONF, ...).
    exports: Vec<(String, String)>,
    tmp: TempDir,
    _serial: MutexGuard<'static, ()>,
}

impl Podman {
    fn start() -> Podman {
        let serial = common::serialize(&STORAGE);
        let mut env = Podman {
            runtime: common::runtime_under_test(),
            exports: Vec::new(),
            tmp: tempfile::tempdir().expect("temp dir"),
            _serial: serial,
        };
        // From here on a panic drops `env`, which tears down whatever came up.
        let out = run(
            &mut env_script("start", &env.images_dir()),
            common::ENV_START_TIMEOUT,
        );
        assert!(out.status.success(), "podman-env.sh start failed:\n{out}");
        env.exports = common::parse_exports(&out.stdout);
        env
    }

    fn images_dir(&self) -> PathBuf {
        self.tmp.path().join("images")
    }

    /// `podman --runtime RUNTIME ARGS...` with the private config.
    fn podman(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        c.envs(self.exports.iter().map(|(k, v)| (k, v)))
            .arg("--runtime")
            .arg(&self.runtime)
            .args(args);
        c
    }

    fn podman_run(&self, args: &[&str]) -> Outcome {
        run(&mut self.podman(args), CMD_TIMEOUT)
    }

    /// Runs podman and panics with its output unless it succeeded.
    fn podman_ok(&self, args: &[&str]) -> Outcome {
        let out = self.podman_run(args);
        assert!(out.status.success(), "{}", self.explain(&out));
        out
    }

    fn explain(&self, out: &Outcome) -> String {
        format!(
            "{out}\n(runtime {}; BERTH_RUNTIME=/usr/bin/runc runs the same flow with runc)",
            self.runtime.display()
        )
    }

    /// `podman run --rm --name NAME --cidfile FILE IMAGE ARGV...`, and the
    /// container's full id from FILE (podman names the runtime's container,
    /// its conmon and its cgroup after it).
    fn run_rm(&self, name: &str, argv: &[&str]) -> (Outcome, String) {
        let cidfile = self.tmp.path().join(format!("{name}.cid"));
        let cidfile = cidfile.to_str().expect("utf-8 temp path");
        let mut args = vec!["run", "--rm", "--name", name, "--cidfile", cidfile, IMAGE];
        args.extend_from_slice(argv);
        let out = self.podman_run(&args);
        let id = std::fs::read_to_string(cidfile).unwrap_or_default();
        (out, id.trim().to_string())
    }

    /// Nothing of container `name` (full id `id`) is left: no podman record,
    /// no runtime state, no cgroup, no conmon or container process.
    fn assert_gone(&self, name: &str, id: &str) {
        let exists = self.podman_run(&["container", "exists", name]);
        assert_eq!(
            exists.code(),
            Some(1),
            "container {name} still exists: {exists}"
        );
        if id.is_empty() {
            return; // podman never got as far as creating it
        }
        // podman passes no --root, so the runtime's default root is the one it used.
        let state = run(Command::new(&self.runtime).args(["state", id]), CMD_TIMEOUT);
        assert!(
            !state.status.success(),
            "the runtime still knows container {id} after podman removed it:\n{state}"
        );
        let cgroups = cgroup_dirs_named(&format!("libpod-{id}"));
        assert!(cgroups.is_empty(), "cgroups left behind: {cgroups:?}");
        // conmon carries the name (-n) and the id (-c) in its argv.
        assert!(
            wait_until(Duration::from_secs(5), || processes_with_arg(id).is_empty()
                && processes_with_arg(name).is_empty()),
            "processes of {name} still alive: {:?} {:?}",
            processes_with_arg(id),
            processes_with_arg(name)
        );
    }

    /// Force-removes container `name` when dropped, whatever the test did.
    fn cleanup(&self, name: &str) -> Cleanup<'_> {
        Cleanup {
            env: self,
            name: name.to_string(),
        }
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Removes every container and pod in our storage and unmounts it;
        // images stay for the next run.
        let mut stop = env_script("stop", &self.images_dir());
        if let Some(out) = run_best_effort(&mut stop, Duration::from_secs(60)) {
            if !out.status.success() {
                eprintln!("podman-env.sh stop failed:\n{out}");
            }
        }
    }
}

struct Cleanup<'a> {
    env: &'a Podman,
    name: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        // Fails (ignored) when the test already removed it.
        run_best_effort(
            &mut self
                .env
                .podman(&["rm", "--force", "--time", "0", &self.name]),
            CMD_TIMEOUT,
        );
    }
}

#[test]
fn podman_run_rm_echo() {
    require_root!("interop_podman::podman_run_rm_echo");
    let env = Podman::start();
    let name = unique_id("podman-echo");
    let _cleanup = env.cleanup(&name);

    let (out, id) = env.run_rm(&name, &["echo", "hi"]);
    assert!(out.status.success(), "{}", env.explain(&out));
    assert_eq!(out.out(), "hi", "{}", env.explain(&out));
    env.assert_gone(&name, &id);
}

#[test]
fn podman_run_rm_propagates_exit_code() {
    require_root!("interop_podman::podman_run_rm_propagates_exit_code");
    let env = Podman::start();
    let name = unique_id("podman-exit");
    let _cleanup = env.cleanup(&name);

    // 3 is the container's; podman's own failures are 125-127.
    let (out, id) = env.run_rm(&name, &["sh", "-c", "exit 3"]);
    assert_eq!(out.code(), Some(3), "{}", env.explain(&out));
    env.assert_gone(&name, &id);
}

#[test]
fn podman_exec_into_running_container() {
    require_root!("interop_podman::podman_exec_into_running_container");
    let env = Podman::start();
    let name = unique_id("podman-exec");
    let _cleanup = env.cleanup(&name);

    let out = env.podman_ok(&["run", "-d", "--name", &name, IMAGE, "sleep", "600"]);
    let id = out.out().to_string();
    let out = env.podman_ok(&["inspect", "--format", "{{.State.Status}}", &name]);
    assert_eq!(out.out(), "running", "{}", env.explain(&out));

    let out = env.podman_ok(&["exec", &name, "echo", "hi"]);
    assert_eq!(out.out(), "hi", "{}", env.explain(&out));

    // conmon runs `exec --detach`: the process must outlive the runtime that
    // started it (runc: "done", 0; a leftover parent-death signal: 137).
    let out = env.podman_ok(&["exec", &name, "sh", "-c", "sleep 1; echo done"]);
    assert_eq!(out.out(), "done", "{}", env.explain(&out));

    let out = env.podman_run(&["exec", &name, "sh", "-c", "exit 4"]);
    assert_eq!(out.code(), Some(4), "{}", env.explain(&out));

    // The exec joined the container's pid namespace: its pid 1 is the container's process.
    let out = env.podman_ok(&["exec", &name, "cat", "/proc/1/comm"]);
    assert_eq!(out.out(), "sleep", "{}", env.explain(&out));

    env.podman_ok(&["kill", &name]);
    // `podman wait` prints the exit code: 128 + SIGKILL.
    let out = env.podman_ok(&["wait", &name]);
    assert_eq!(out.out(), "137", "{}", env.explain(&out));
    env.podman_ok(&["rm", &name]);
    env.assert_gone(&name, &id);
}
