//! containerd-shim-berth-v2 under a real containerd 1.6.
//!
//! The recipe is ../shared/conformance/containerd-env.sh: a private
//! containerd on its own socket, with `RC_SHIM_DIR` first on its PATH.
//! Each test copies the shim under test and berth-runtime into that dir
//! (the shim runs the `berth-runtime` beside its own executable), so
//! `ctr run --runtime io.containerd.berth.v2` execs our shim. The daemon is
//! stopped when a test ends, even when it fails; the tests share it, so they
//! run one at a time. State and log stay in [`BASE`] for a post-mortem.
//!
//! The shim is `$BERTH_SHIM`, else the workspace's release build, else its
//! debug build; the runtime is `berth_fixture::runtime_bin()`.

use berth_fixture::{containerd, interop as common};

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use berth_fixture::{processes_with_arg, require_root, unique_id, wait_until};
use common::{run, Outcome, CMD_TIMEOUT};
use containerd::ContainerdEnv;

/// The daemon's base dir; private to these tests.
const BASE: &str = "/var/tmp/berth-shim-containerd";
const NAMESPACE: &str = "default";
const IMAGE: &str = "docker.io/library/busybox:latest";
const RUNTIME: &str = "io.containerd.berth.v2";

static DAEMON: Mutex<()> = Mutex::new(());

/// A running private containerd with our shim installed, stopped on drop.
struct Containerd {
    daemon: ContainerdEnv,
}

impl Containerd {
    fn start() -> Containerd {
        let daemon = ContainerdEnv::lock(BASE, &DAEMON, &[("RC_CTRD_CRI", OsStr::new("0"))]);
        containerd::install_shim(&daemon.base().join("bin"));
        let env = Containerd {
            daemon: daemon.start(),
        };
        env.daemon
            .ensure_images(NAMESPACE, &[(IMAGE, "busybox-oci.tar")]);
        env
    }

    /// Kills the daemon with SIGKILL, as a crash would.
    fn crash(&self) {
        let pid_file = self.daemon.base().join("containerd.pid");
        let pid: i32 = fs::read_to_string(&pid_file)
            .expect("containerd.pid")
            .trim()
            .parse()
            .expect("pid");
        // SAFETY: kill has no memory-safety preconditions.
        let killed = unsafe { libc::kill(pid, libc::SIGKILL) };
        assert_eq!(killed, 0, "kill containerd");
        assert!(
            wait_until(Duration::from_secs(10), || !Path::new(&format!(
                "/proc/{pid}"
            ))
            .exists()
                || fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| s.contains(") Z "))
                    .unwrap_or(true)),
            "containerd {pid} still alive after SIGKILL"
        );
        // Its parent may leave it a zombie for a while, which the env
        // script would take for a running daemon.
        fs::remove_file(&pid_file).expect("remove containerd.pid");
    }

    fn ctr(&self, args: &[&str]) -> Command {
        self.daemon.ctr(NAMESPACE, args)
    }

    fn ctr_run(&self, args: &[&str]) -> Outcome {
        self.daemon.ctr_run(NAMESPACE, args)
    }

    fn ctr_ok(&self, args: &[&str]) -> Outcome {
        self.daemon
            .ctr_ok(NAMESPACE, args, || self.daemon.log_tail())
    }

    fn explain(&self, out: &Outcome) -> String {
        format!("{out}\n{}", self.daemon.log_tail())
    }

    /// `ctr run --runtime io.containerd.berth.v2 FLAGS IMAGE ID ARGV...`
    fn run_container(&self, flags: &[&str], id: &str, argv: &[&str]) -> Outcome {
        let mut args = vec![
            "run",
            "--runtime",
            RUNTIME,
            "--fifo-dir",
            self.daemon.fifo_dir(),
        ];
        args.extend_from_slice(flags);
        args.extend([IMAGE, id]);
        args.extend_from_slice(argv);
        self.ctr_run(&args)
    }

    fn exec(&self, id: &str, exec_id: &str, argv: &[&str]) -> Outcome {
        self.ctr_run(&self.daemon.exec_args(id, exec_id, argv))
    }

    /// `ctr tasks exec -t` needs a terminal on its own stdin: run it under
    /// script(1), which gives it a pty.
    fn exec_tty(&self, id: &str, exec_id: &str, shell_cmd: &str) -> Outcome {
        let ctr_line = format!(
            "ctr --address {} --namespace {NAMESPACE} tasks exec -t --fifo-dir {} --exec-id {exec_id} {id} sh -c '{shell_cmd}'",
            self.daemon.address(),
            self.daemon.fifo_dir()
        );
        run(
            Command::new("script").args(["-qec", &ctr_line, "/dev/null"]),
            CMD_TIMEOUT,
        )
    }

    fn task_status(&self, id: &str) -> Option<String> {
        self.daemon.task_status(NAMESPACE, id)
    }

    fn wait_status(&self, id: &str, want: &str) {
        assert!(
            wait_until(Duration::from_secs(10), || self.task_status(id).as_deref()
                == Some(want)),
            "task {id} not {want} (status {:?})\n{}",
            self.task_status(id),
            self.daemon.log_tail()
        );
    }

    /// The pids of the shim serving container `id`.
    fn shim_pids(id: &str) -> Vec<i32> {
        containerd::berth_shims(processes_with_arg(id))
    }

    /// No container record, no shim, no process of `id` left.
    fn assert_gone(&self, id: &str) {
        self.daemon.assert_not_listed(NAMESPACE, id);
        assert!(
            wait_until(Duration::from_secs(10), || processes_with_arg(id)
                .is_empty()),
            "processes of {id} still alive (shim did not exit?): {:?}\n{}",
            processes_with_arg(id),
            self.daemon.log_tail()
        );
    }

    fn cleanup(&self, id: &str) -> Cleanup<'_> {
        Cleanup {
            env: self,
            id: id.to_string(),
        }
    }

    /// `ctr events` running in the background, its output in a temp file.
    fn events(&self) -> Events {
        let file = tempfile::NamedTempFile::new().expect("events file");
        let child = self
            .ctr(&["events"])
            .stdin(Stdio::null())
            .stdout(file.reopen().expect("reopen events file"))
            .stderr(Stdio::null())
            .spawn()
            .expect("ctr events");
        Events { child, file }
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
            .remove_best_effort(NAMESPACE, &self.id, true);
        // A shim that lost its containerd would linger: end it by pid.
        for pid in Containerd::shim_pids(&self.id) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// A background `ctr events`, killed on drop.
struct Events {
    child: Child,
    file: tempfile::NamedTempFile,
}

impl Events {
    /// The task topics seen for container `id`, in order.
    fn task_topics(&self, id: &str) -> Vec<String> {
        let text = fs::read_to_string(self.file.path()).unwrap_or_default();
        let quoted = format!("\"container_id\":\"{id}\"");
        text.lines()
            .filter(|l| l.contains(&quoted))
            .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("/tasks/")))
            .map(String::from)
            .collect()
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ctr_run_rm_prints_output_returns_exit_code_and_publishes_events() {
    require_root!(
        "shim_containerd::ctr_run_rm_prints_output_returns_exit_code_and_publishes_events"
    );
    let env = Containerd::start();
    let events = env.events();
    let id = unique_id("shim-run");
    let _cleanup = env.cleanup(&id);

    let out = env.run_container(
        &["--rm"],
        &id,
        &["sh", "-c", "echo hello from berth; exit 3"],
    );
    assert_eq!(out.code(), Some(3), "{}", env.explain(&out));
    assert_eq!(out.out(), "hello from berth", "{}", env.explain(&out));
    env.assert_gone(&id);

    let id2 = unique_id("shim-run");
    let _cleanup2 = env.cleanup(&id2);
    let out = env.run_container(&["--rm"], &id2, &["sh", "-c", "echo to-stderr >&2"]);
    assert_eq!(out.code(), Some(0), "{}", env.explain(&out));
    assert_eq!(out.stderr.trim(), "to-stderr", "{}", env.explain(&out));
    env.assert_gone(&id2);

    // containerd's order: create, start, exit, delete.
    let want = [
        "/tasks/create",
        "/tasks/start",
        "/tasks/exit",
        "/tasks/delete",
    ];
    assert!(
        wait_until(Duration::from_secs(10), || events.task_topics(&id) == want),
        "task events for {id}: {:?}, want {want:?}\n{}",
        events.task_topics(&id),
        env.daemon.log_tail()
    );
}

#[test]
fn exec_with_and_without_tty_pause_resume_ps_metrics_kill() {
    require_root!("shim_containerd::exec_with_and_without_tty_pause_resume_ps_metrics_kill");
    let env = Containerd::start();
    let events = env.events();
    let id = unique_id("shim-exec");
    let _cleanup = env.cleanup(&id);

    let out = env.run_container(&["-d"], &id, &["sleep", "600"]);
    assert!(out.status.success(), "{}", env.explain(&out));
    env.wait_status(&id, "RUNNING");

    let out = env.exec(&id, "echo", &["echo", "hi"]);
    assert!(out.status.success(), "{}", env.explain(&out));
    assert_eq!(out.out(), "hi", "{}", env.explain(&out));

    let out = env.exec(&id, "exit", &["sh", "-c", "exit 4"]);
    assert_eq!(out.code(), Some(4), "{}", env.explain(&out));

    let out = env.exec(&id, "pid1", &["cat", "/proc/1/comm"]);
    assert_eq!(out.out(), "sleep", "{}", env.explain(&out));

    let out = env.exec_tty(&id, "tty", "tty; echo tty-ok; exit 5");
    assert_eq!(out.code(), Some(5), "{}", env.explain(&out));
    assert!(
        out.stdout.contains("/dev/pts/") && out.stdout.contains("tty-ok"),
        "{}",
        env.explain(&out)
    );

    let ps = env.ctr_ok(&["tasks", "ps", &id]);
    let pids: Vec<&str> = ps
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(pids.len(), 1, "one process (sleep) expected:\n{ps}");

    env.ctr_ok(&["tasks", "pause", &id]);
    env.wait_status(&id, "PAUSED");
    env.ctr_ok(&["tasks", "resume", &id]);
    env.wait_status(&id, "RUNNING");

    let metrics = env.ctr_ok(&["tasks", "metrics", &id]);
    assert!(
        metrics.stdout.contains("pids.current") && metrics.stdout.contains("memory"),
        "{}",
        env.explain(&metrics)
    );
    let pids_current = metrics
        .stdout
        .lines()
        .find(|l| l.starts_with("pids.current"))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(String::from);
    assert_eq!(pids_current.as_deref(), Some("1"), "{metrics}");

    env.ctr_ok(&["tasks", "kill", "--signal", "SIGKILL", &id]);
    env.wait_status(&id, "STOPPED");
    let out = env.ctr_ok(&["tasks", "delete", &id]);
    assert!(out.stderr.contains("137"), "{}", env.explain(&out));
    env.ctr_ok(&["containers", "delete", &id]);
    env.assert_gone(&id);

    let topics = events.task_topics(&id);
    for t in [
        "/tasks/exec-added",
        "/tasks/exec-started",
        "/tasks/paused",
        "/tasks/resumed",
        "/tasks/exit",
        "/tasks/delete",
    ] {
        assert!(topics.iter().any(|x| x == t), "no {t} event in {topics:?}");
    }
}

#[test]
fn a_container_survives_containerd_being_killed_and_restarted() {
    require_root!("shim_containerd::a_container_survives_containerd_being_killed_and_restarted");
    let env = Containerd::start();
    let id = unique_id("shim-restart");
    let _cleanup = env.cleanup(&id);

    let out = env.run_container(&["-d"], &id, &["sleep", "600"]);
    assert!(out.status.success(), "{}", env.explain(&out));
    env.wait_status(&id, "RUNNING");
    let shims = Containerd::shim_pids(&id);
    assert_eq!(shims.len(), 1, "one shim for {id}: {shims:?}");

    env.crash();
    assert_eq!(
        Containerd::shim_pids(&id),
        shims,
        "the shim died with containerd"
    );
    assert_eq!(env.daemon.up(), env.daemon.exports);

    env.wait_status(&id, "RUNNING");
    let out = env.exec(&id, "after", &["echo", "still here"]);
    assert_eq!(out.out(), "still here", "{}", env.explain(&out));
    assert_eq!(Containerd::shim_pids(&id), shims, "a new shim was started");

    env.ctr_ok(&["tasks", "kill", "--signal", "SIGKILL", &id]);
    env.wait_status(&id, "STOPPED");
    env.ctr_ok(&["tasks", "delete", &id]);
    env.ctr_ok(&["containers", "delete", &id]);
    env.assert_gone(&id);
}

#[test]
fn an_oom_kill_is_published_before_the_exit() {
    require_root!("shim_containerd::an_oom_kill_is_published_before_the_exit");
    let env = Containerd::start();
    let events = env.events();
    let id = unique_id("shim-oom");
    let _cleanup = env.cleanup(&id);

    // tail keeps its (newline-free) input in memory: far over 16 MiB.
    let out = env.run_container(
        &["--rm", "--memory-limit", "16777216"],
        &id,
        &["sh", "-c", "head -c 256m /dev/zero | tail > /dev/null"],
    );
    assert_eq!(out.code(), Some(137), "{}", env.explain(&out));
    env.assert_gone(&id);
    assert!(
        wait_until(Duration::from_secs(10), || {
            let t = events.task_topics(&id);
            let oom = t.iter().position(|x| x == "/tasks/oom");
            let exit = t.iter().position(|x| x == "/tasks/exit");
            matches!((oom, exit), (Some(o), Some(e)) if o < e)
        }),
        "task events for {id}: {:?}, want /tasks/oom before /tasks/exit\n{}",
        events.task_topics(&id),
        env.daemon.log_tail()
    );
}
