//! A private containerd for the tests that drive one (`interop_containerd`,
//! `shim_containerd`, `shim_cri`): ../shared/conformance/containerd-env.sh
//! under a base dir of the test's own, one test at a time, stopped again on
//! drop, and `ctr` against it.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::interop::{self as common, run, run_best_effort, Outcome};

/// containerd's start-up chatter, left out of failure messages.
const LOG_NOISE: [&str; 3] = ["loading plugin", "serving...", "successfully booted"];

/// containerd-env.sh for one base dir. Holding it holds the base's lock, so
/// a parallel test never sees the daemon vanish mid-flight; dropping it runs
/// the script's `stop` (kill and delete every task and container, stop the
/// shims and the daemon, unmount; the content store and the log stay).
pub struct ContainerdEnv {
    base: PathBuf,
    /// Settings given to every run of the script.
    settings: Vec<(String, OsString)>,
    /// What `containerd-env.sh start` exported (socket, FIFO dir, runc
    /// root); empty until [`ContainerdEnv::start`].
    pub exports: Vec<(String, String)>,
    /// containerd.log's length when this test took the base.
    log_from: u64,
    _serial: MutexGuard<'static, ()>,
}

impl ContainerdEnv {
    /// Takes `base` (waiting for `lock`), not starting anything yet.
    /// `settings` are containerd-env.sh's variables besides `RC_CTRD_BASE`.
    pub fn lock(base: &str, lock: &'static Mutex<()>, settings: &[(&str, &OsStr)]) -> Self {
        let serial = common::serialize(lock);
        let base = PathBuf::from(base);
        ContainerdEnv {
            log_from: common::log_len(&base.join("containerd.log")),
            base,
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_os_string()))
                .collect(),
            exports: Vec::new(),
            _serial: serial,
        }
    }

    /// Starts the daemon and keeps what the script exported.
    pub fn start(mut self) -> Self {
        self.exports = self.up();
        self
    }

    /// Starts the daemon (again; the script is idempotent); returns what the
    /// script exported, the same every time for one base.
    pub fn up(&self) -> Vec<(String, String)> {
        let out = run(&mut self.script("start"), common::ENV_START_TIMEOUT);
        assert!(
            out.status.success(),
            "containerd-env.sh start failed:\n{out}\n{}",
            self.log_tail()
        );
        common::parse_exports(&out.stdout)
    }

    /// `containerd-env.sh CMD` for this base.
    pub fn script(&self, cmd: &str) -> Command {
        let mut c = Command::new(common::conformance_script("containerd-env.sh"));
        c.arg(cmd)
            .env("RC_CTRD_BASE", &self.base)
            .envs(self.settings.iter().map(|(k, v)| (k, v)));
        c
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    pub fn log_path(&self) -> PathBuf {
        self.base.join("containerd.log")
    }

    /// What containerd logged since this test took the base, minus its
    /// start-up chatter.
    pub fn log_tail(&self) -> String {
        format!(
            "--- {} (this test, last lines):\n{}",
            self.log_path().display(),
            common::log_since(&self.log_path(), self.log_from, 30, &LOG_NOISE)
        )
    }

    /// The socket the daemon serves (`CONTAINERD_ADDRESS`).
    pub fn address(&self) -> &str {
        common::export(&self.exports, "CONTAINERD_ADDRESS")
    }

    /// Where `ctr` keeps a task's FIFOs (`RC_CTRD_FIFO`), out of
    /// /run/containerd.
    pub fn fifo_dir(&self) -> &str {
        common::export(&self.exports, "RC_CTRD_FIFO")
    }

    /// `ctr`'s arguments for `tasks exec` of `argv` in the running task `id`.
    pub fn exec_args<'a>(
        &'a self,
        id: &'a str,
        exec_id: &'a str,
        argv: &[&'a str],
    ) -> Vec<&'a str> {
        let mut args = vec![
            "tasks",
            "exec",
            "--fifo-dir",
            self.fifo_dir(),
            "--exec-id",
            exec_id,
            id,
        ];
        args.extend_from_slice(argv);
        args
    }

    /// `ctr --address SOCK --namespace NAMESPACE ARGS...` with the script's
    /// exports in its environment.
    pub fn ctr(&self, namespace: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.envs(self.exports.iter().map(|(k, v)| (k, v)))
            .args(["--address", self.address(), "--namespace", namespace])
            .args(args);
        c
    }

    /// `ctr` in `namespace` with the deadline every client command gets.
    pub fn ctr_run(&self, namespace: &str, args: &[&str]) -> Outcome {
        run(&mut self.ctr(namespace, args), common::CMD_TIMEOUT)
    }

    /// [`Self::ctr_run`] that panics with the output and `context` (the
    /// daemon's log, the runtime's) unless ctr succeeded.
    pub fn ctr_ok(
        &self,
        namespace: &str,
        args: &[&str],
        context: impl FnOnce() -> String,
    ) -> Outcome {
        let out = self.ctr_run(namespace, args);
        assert!(out.status.success(), "{out}\n{}", context());
        out
    }

    /// The task's status column in `ctr tasks ls` (RUNNING, STOPPED, ...).
    pub fn task_status(&self, namespace: &str, id: &str) -> Option<String> {
        task_status(
            &self.ctr_ok(namespace, &["tasks", "ls"], || self.log_tail()),
            id,
        )
    }

    /// Panics unless `ctr containers ls` has forgotten container `id`.
    pub fn assert_not_listed(&self, namespace: &str, id: &str) {
        let listed = self.ctr_ok(namespace, &["containers", "ls", "-q"], || self.log_tail());
        assert!(
            !listed.stdout.lines().any(|l| l.trim() == id),
            "container {id} still listed:\n{listed}"
        );
    }

    /// Removes container `id` and its task (SIGKILLed first when `kill`),
    /// ignoring errors: for Drop guards, when the test may have removed
    /// them already.
    pub fn remove_best_effort(&self, namespace: &str, id: &str, kill: bool) {
        let kill_args = ["tasks", "kill", "--signal", "SIGKILL", id];
        let delete_task = ["tasks", "delete", "--force", id];
        let delete_container = ["containers", "delete", id];
        let steps = [
            kill.then_some(kill_args.as_slice()),
            Some(delete_task.as_slice()),
            Some(delete_container.as_slice()),
        ];
        for args in steps.into_iter().flatten() {
            run_best_effort(&mut self.ctr(namespace, args), common::CMD_TIMEOUT);
        }
    }

    /// Imports the images of `wanted` (name, archive file that
    /// make-busybox-image.sh writes) into `namespace`, from archives built on
    /// the spot, unless the daemon's store (kept across runs) has them all.
    pub fn ensure_images(&self, namespace: &str, wanted: &[(&str, &str)]) {
        let ctr_ok = |args: &[&str]| {
            let out = run(&mut self.ctr(namespace, args), common::ENV_START_TIMEOUT);
            assert!(out.status.success(), "{out}\n{}", self.log_tail());
            out
        };
        let have = ctr_ok(&["images", "ls", "-q"]);
        if wanted
            .iter()
            .all(|(name, _)| have.stdout.lines().any(|l| l.trim() == *name))
        {
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir for images");
        let images = dir.path().join("images");
        let made = run(
            Command::new(common::conformance_script("make-busybox-image.sh")).arg(&images),
            common::ENV_START_TIMEOUT,
        );
        assert!(made.status.success(), "make-busybox-image.sh: {made}");
        for (_, archive) in wanted {
            let path = images.join(archive);
            ctr_ok(&["images", "import", path.to_str().expect("utf-8 path")]);
        }
    }
}

impl Drop for ContainerdEnv {
    fn drop(&mut self) {
        if let Some(out) = run_best_effort(&mut self.script("stop"), Duration::from_secs(60)) {
            if !out.status.success() {
                eprintln!("containerd-env.sh stop failed:\n{out}");
            }
        }
    }
}

/// Copies `from` to `dir/name` by write-and-rename (a running copy of the
/// old file stays intact).
pub fn install(from: &Path, dir: &Path, name: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    fs::copy(from, &tmp).unwrap_or_else(|e| {
        panic!(
            "copy {} to {}: {e}; build it first (cargo build --release -p containerd-shim-berth-v2 -p berth-runtime)",
            from.display(),
            tmp.display()
        )
    });
    fs::rename(&tmp, dir.join(name)).expect("install binary");
}

/// Puts the shim under test and berth-runtime (which the shim runs from
/// beside its own executable) into `dir`, as containerd-shim-berth-v2 and
/// berth-runtime.
pub fn install_shim(dir: &Path) {
    fs::create_dir_all(dir).expect("create shim dir");
    let shim = crate::shim_bin();
    eprintln!("shim under test: {}", shim.display());
    install(&shim, dir, "containerd-shim-berth-v2");
    install(&common::runtime_under_test(), dir, "berth-runtime");
}

/// The status column (RUNNING, STOPPED, ...) of task `id` in the output of
/// `ctr tasks ls`.
pub fn task_status(tasks_ls: &Outcome, id: &str) -> Option<String> {
    tasks_ls.stdout.lines().find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        (cols.first() == Some(&id)).then(|| cols.last().unwrap_or(&"").to_string())
    })
}

/// The pids of the berth shims among `pids`.
pub fn berth_shims(pids: Vec<i32>) -> Vec<i32> {
    pids.into_iter()
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains("containerd-shim-berth-v2"))
                .unwrap_or(false)
        })
        .collect()
}
