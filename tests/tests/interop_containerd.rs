//! berth-runtime under containerd's own runc shim.
//!
//! The recipe is ../shared/conformance/containerd-env.sh: a private
//! containerd 1.6 (Debian's) on its own socket, driven with `ctr`.
//! `ctr run --runc-binary PATH` makes the stock `containerd-shim-runc-v2` call
//! PATH wherever it would call runc (create, start, state, kill, exec,
//! delete, with the global flags `--root`, `--log`, `--log-format json`).
//!
//! Each test starts the daemon (the script is idempotent) and stops it when
//! done, even when the test fails, so no daemon or shim outlives
//! `cargo test`. The tests share the daemon, so they run one at a time. The
//! daemon's state and log stay in [`BASE`] for a post-mortem.
//!
//! The runtime is `berth_fixture::runtime_bin()`; `BERTH_RUNTIME=/usr/bin/runc`
//! runs the same flows against runc, which tells a broken environment from a
//! broken runtime.

use berth_fixture::{containerd, interop as common};

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use berth_fixture::{cgroup_dirs_named, processes_with_arg, require_root, unique_id, wait_until};
use common::Outcome;
use containerd::ContainerdEnv;

/// The daemon's base dir (config, state, log). Private to these tests, so a
/// containerd someone started with the script's default base is never touched.
const BASE: &str = "/var/tmp/berth-interop-containerd";
/// The containerd namespace: the script's own, whose cgroup parent
/// (`/sys/fs/cgroup/*/default`) its `stop` removes again.
const NAMESPACE: &str = "default";
/// The name make-busybox-image.sh gives its busybox image.
const IMAGE: &str = "docker.io/library/busybox:latest";

static DAEMON: Mutex<()> = Mutex::new(());

/// A running private containerd, stopped again on drop. The CRI plugin is
/// off: these tests only use `ctr`, and without CRI nothing touches CNI or
/// pod sandboxes.
struct Containerd {
    runtime: PathBuf,
    daemon: ContainerdEnv,
}

impl Containerd {
    fn start() -> Containerd {
        let daemon = ContainerdEnv::lock(BASE, &DAEMON, &[("RC_CTRD_CRI", OsStr::new("0"))]);
        let runtime = common::runtime_under_test();
        let env = Containerd {
            runtime,
            daemon: daemon.start(),
        };
        env.daemon
            .ensure_images(NAMESPACE, &[(IMAGE, "busybox-oci.tar")]);
        env
    }

    /// The `--root` the shim hands the runtime; it adds `/<namespace>`.
    fn runtime_state_dir(&self, id: &str) -> PathBuf {
        Path::new(common::export(&self.daemon.exports, "RC_RUNC_ROOT"))
            .join(NAMESPACE)
            .join(id)
    }

    /// What containerd logged during this test (minus the daemon's and the
    /// shim's start-up chatter), and the runtime's `--log` files of the
    /// containers still there, for failure messages.
    fn log_tail(&self) -> String {
        let mut text = self.daemon.log_tail();
        // The runc shim runs the runtime with `--log BUNDLE/log.json
        // --log-format json` and reports the last error logged there.
        let bundles = self
            .daemon
            .base()
            .join("state/io.containerd.runtime.v2.task")
            .join(NAMESPACE);
        for entry in std::fs::read_dir(bundles).into_iter().flatten().flatten() {
            let log = entry.path().join("log.json");
            if let Some(json) = std::fs::read_to_string(&log)
                .ok()
                .filter(|j| !j.trim().is_empty())
            {
                text += &format!("\n--- {}:\n{}", log.display(), json.trim_end());
            }
        }
        text
    }

    fn ctr_run(&self, args: &[&str]) -> Outcome {
        self.daemon.ctr_run(NAMESPACE, args)
    }

    /// Runs ctr and panics with its output and containerd's log unless it succeeded.
    fn ctr_ok(&self, args: &[&str]) -> Outcome {
        self.daemon.ctr_ok(NAMESPACE, args, || self.context())
    }

    fn explain(&self, out: &Outcome) -> String {
        format!("{out}\n{}", self.context())
    }

    fn context(&self) -> String {
        format!(
            "{}\n(runtime {}; BERTH_RUNTIME=/usr/bin/runc runs the same flow with runc)",
            self.log_tail(),
            self.runtime.display()
        )
    }

    /// `ctr run [FLAGS] --runc-binary RUNTIME ... IMAGE ID ARGV...`: the
    /// stock runc shim with our runtime; FIFOs and runtime state under BASE.
    fn run_container(&self, flags: &[&str], id: &str, argv: &[&str]) -> Outcome {
        let mut args = vec!["run"];
        args.extend_from_slice(flags);
        args.extend([
            "--runc-binary",
            self.runtime.to_str().expect("utf-8 runtime path"),
            "--runc-root",
            common::export(&self.daemon.exports, "RC_RUNC_ROOT"),
            "--fifo-dir",
            self.daemon.fifo_dir(),
            IMAGE,
            id,
        ]);
        args.extend_from_slice(argv);
        self.ctr_run(&args)
    }

    /// `ctr task exec` of `argv` in the running task `id`.
    fn exec(&self, id: &str, exec_id: &str, argv: &[&str]) -> Outcome {
        self.ctr_run(&self.daemon.exec_args(id, exec_id, argv))
    }

    /// The task's status column in `ctr tasks ls` (RUNNING, STOPPED, ...).
    fn task_status(&self, id: &str) -> Option<String> {
        self.daemon.task_status(NAMESPACE, id)
    }

    /// Nothing of container `id` is left: no container record, no runtime
    /// state, no cgroup, no shim or container process.
    fn assert_gone(&self, id: &str) {
        self.daemon.assert_not_listed(NAMESPACE, id);
        let state = self.runtime_state_dir(id);
        assert!(
            !state.exists(),
            "runtime state {} left behind (the shim's `delete` did not remove it)\n{}",
            state.display(),
            self.log_tail()
        );
        // ctr's default cgroups path is /<namespace>/<id>.
        let cgroups = cgroup_dirs_named(&format!("{NAMESPACE}/{id}"));
        assert!(cgroups.is_empty(), "cgroups left behind: {cgroups:?}");
        assert!(
            wait_until(Duration::from_secs(5), || processes_with_arg(id).is_empty()),
            "processes of {id} still alive: {:?}",
            processes_with_arg(id)
        );
    }

    /// Removes container `id` (task first) when dropped, whatever the test did.
    fn cleanup(&self, id: &str) -> Cleanup<'_> {
        Cleanup {
            env: self,
            id: id.to_string(),
        }
    }
}

struct Cleanup<'a> {
    env: &'a Containerd,
    id: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        self.env
            .daemon
            .remove_best_effort(NAMESPACE, &self.id, false);
    }
}

#[test]
fn ctr_run_rm_echo() {
    require_root!("interop_containerd::ctr_run_rm_echo");
    let env = Containerd::start();
    let id = unique_id("ctrd-echo");
    let _cleanup = env.cleanup(&id);

    let out = env.run_container(&["--rm"], &id, &["echo", "hi"]);
    assert!(out.status.success(), "{}", env.explain(&out));
    assert_eq!(out.out(), "hi", "{}", env.explain(&out));
    env.assert_gone(&id);
}

#[test]
fn ctr_run_rm_propagates_exit_code() {
    require_root!("interop_containerd::ctr_run_rm_propagates_exit_code");
    let env = Containerd::start();
    let id = unique_id("ctrd-exit");
    let _cleanup = env.cleanup(&id);

    let out = env.run_container(&["--rm"], &id, &["sh", "-c", "exit 3"]);
    assert_eq!(out.code(), Some(3), "{}", env.explain(&out));
    env.assert_gone(&id);
}

#[test]
fn ctr_exec_into_running_task() {
    require_root!("interop_containerd::ctr_exec_into_running_task");
    let env = Containerd::start();
    let id = unique_id("ctrd-exec");
    let _cleanup = env.cleanup(&id);

    let out = env.run_container(&["-d"], &id, &["sleep", "600"]);
    assert!(out.status.success(), "{}", env.explain(&out));
    assert_eq!(env.task_status(&id).as_deref(), Some("RUNNING"));

    let out = env.exec(&id, "echo", &["echo", "hi"]);
    assert!(out.status.success(), "{}", env.explain(&out));
    assert_eq!(out.out(), "hi", "{}", env.explain(&out));

    // The shim runs `exec --detach`: the process must outlive the runtime
    // that started it (runc: "done", 0; a leftover parent-death signal: 137).
    let out = env.exec(&id, "outlive", &["sh", "-c", "sleep 1; echo done"]);
    assert!(out.status.success(), "{}", env.explain(&out));
    assert_eq!(out.out(), "done", "{}", env.explain(&out));

    let out = env.exec(&id, "exit", &["sh", "-c", "exit 4"]);
    assert_eq!(out.code(), Some(4), "{}", env.explain(&out));

    // The exec joined the container's pid namespace: its pid 1 is the task.
    let out = env.exec(&id, "pid1", &["cat", "/proc/1/comm"]);
    assert!(out.status.success(), "{}", env.explain(&out));
    assert_eq!(out.out(), "sleep", "{}", env.explain(&out));

    env.ctr_ok(&["tasks", "kill", "--signal", "SIGKILL", &id]);
    assert!(
        wait_until(Duration::from_secs(10), || env.task_status(&id).as_deref()
            == Some("STOPPED")),
        "task {id} not STOPPED 10 s after SIGKILL (status {:?})\n{}",
        env.task_status(&id),
        env.log_tail()
    );
    // ctr reports a non-zero exit status on delete: 128 + SIGKILL.
    let out = env.ctr_ok(&["tasks", "delete", &id]);
    assert!(out.stderr.contains("137"), "{}", env.explain(&out));
    env.ctr_ok(&["containers", "delete", &id]);
    env.assert_gone(&id);
}
