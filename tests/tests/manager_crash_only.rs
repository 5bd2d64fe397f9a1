//! berth-manager end to end: the real manager binary with private --root and
//! --state dirs, driven over its ttrpc socket, running busybox (loaded from
//! an OCI archive through the Images service) under a real shim and
//! berth-runtime. The manager is killed with SIGKILL mid-flight and
//! restarted; containers must survive, exits that happen meanwhile must be
//! recorded, and nothing (mounts, cgroups, shims, bundles) may be left.
//!
//! Binaries: `$BERTH_MANAGER` (else the workspace's built berth-manager),
//! `$BERTH_RUNTIME` (else [`runtime_bin`]), `$BERTH_SHIM` (else
//! containerd's `containerd-shim-runc-v2` from PATH, which speaks the same
//! shim protocol as berth's shim). The image is `$BERTH_BUSYBOX_OCI`, else
//! /var/tmp/rc-images/busybox-oci.tar (from
//! ../shared/conformance/make-busybox-image.sh).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berth_fixture::{
    built_binary, cgroup_dirs_named, mounts_under, processes_with_arg, require_root, runtime_bin,
    unique_id, wait_until, workspace_root, Bundle,
};
use berth_image_store::ImageStore;
use berth_proto::manager::{
    ContainerInfo, CreateContainerRequest, DeleteContainerRequest, ExecProcessRequest, ExecRequest,
    GetContainerRequest, ListContainersRequest, LoadRequest, RestartPolicy, StartTaskRequest,
    StopRequest, SubscribeRequest, TagRequest, TaskRequest,
};
use berth_proto::manager_ttrpc::{
    ContainersClient, EventsClient, ImagesClient, SystemClient, TasksClient,
};
use berth_proto::protobuf::well_known_types::empty::Empty;
use berth_proto::protobuf::MessageField;
use berth_proto::ttrpc;
use berth_proto::ttrpc::context::{self, Context};
use serde_json::{json, Value};
use tempfile::TempDir;

/// Long enough for any condition a healthy system reaches; reaching it is
/// what is checked, never how fast.
const PATIENCE: Duration = Duration::from_secs(60);

fn manager_bin() -> PathBuf {
    let bin = built_binary("BERTH_MANAGER", "berth-manager");
    assert!(
        bin.is_file(),
        "no berth-manager binary at {} (cargo build -p berth-manager, or set BERTH_MANAGER)",
        bin.display()
    );
    bin
}

/// `$BERTH_SHIM`, else berth's shim built beside the manager, else
/// containerd's runc shim (same protocol) from PATH.
fn shim_bin() -> PathBuf {
    static SHIM: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    SHIM.get_or_init(|| {
        let shim = if let Some(p) = std::env::var_os("BERTH_SHIM").filter(|p| !p.is_empty()) {
            PathBuf::from(p)
        } else {
            let beside = manager_bin().with_file_name("containerd-shim-berth-v2");
            if beside.is_file() {
                beside
            } else {
                let path = std::env::var_os("PATH").unwrap_or_default();
                std::env::split_paths(&path)
                    .map(|d| d.join("containerd-shim-runc-v2"))
                    .find(|p| p.is_file())
                    .expect("no shim: build containerd-shim-berth-v2, set BERTH_SHIM or install containerd")
            }
        };
        eprintln!("manager tests use shim {}", shim.display());
        shim
    })
    .clone()
}

fn busybox_archive() -> PathBuf {
    let p = std::env::var_os("BERTH_BUSYBOX_OCI")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/rc-images/busybox-oci.tar"));
    if !p.is_file() {
        let script = workspace_root().join("../shared/conformance/make-busybox-image.sh");
        let out = Command::new(&script)
            .arg(p.parent().expect("archive has a parent dir"))
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "no {} and cannot run {}: {e}",
                    p.display(),
                    script.display()
                )
            });
        assert!(out.status.success(), "{} failed", script.display());
    }
    assert!(p.is_file(), "busybox OCI archive {} missing", p.display());
    p
}

/// True while `pid` runs (a zombie nobody reaped yet counts as gone: this
/// host's pid 1 reaps orphans late).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().to_string())
        })
        .is_some_and(|rest| !rest.starts_with('Z'))
}

fn ctx() -> Context {
    context::with_timeout(0)
}

/// The manager's services on one connection.
#[derive(Clone)]
struct Api {
    images: ImagesClient,
    containers: ContainersClient,
    tasks: TasksClient,
    events: EventsClient,
    system: SystemClient,
}

/// One manager with private dirs. Drop kills it and everything its
/// containers left: shims, container processes, mounts, cgroups.
struct Rig {
    root: TempDir,
    state: TempDir,
    manager: Option<Child>,
    ids: Vec<String>,
}

impl Rig {
    fn new() -> Rig {
        Rig {
            root: tempfile::Builder::new()
                .prefix("berth-mgr-root-")
                .tempdir()
                .expect("root dir"),
            state: tempfile::Builder::new()
                .prefix("berth-mgr-state-")
                .tempdir()
                .expect("state dir"),
            manager: None,
            ids: Vec::new(),
        }
    }

    fn socket(&self) -> PathBuf {
        self.state.path().join("manager.sock")
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(manager_bin());
        cmd.arg("--root")
            .arg(self.root.path())
            .arg("--state")
            .arg(self.state.path())
            .arg("--runtime")
            .arg(runtime_bin())
            .arg("--shim")
            .arg(shim_bin())
            .stdin(Stdio::null());
        cmd
    }

    /// Starts the manager and returns a connection once it answers Ping.
    async fn start(&mut self) -> Api {
        assert!(self.manager.is_none(), "manager already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.path().join("manager.log"))
            .expect("manager log");
        let child = self
            .command()
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn berth-manager");
        self.manager = Some(child);
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if let Some(st) = self.manager.as_mut().unwrap().try_wait().unwrap() {
                panic!("berth-manager exited at start ({st}): {}", self.log());
            }
            if self.socket().exists() {
                let addr = format!("unix://{}", self.socket().display());
                if let Ok(c) = ttrpc::r#async::Client::connect(&addr).await {
                    let api = Api {
                        images: ImagesClient::new(c.clone()),
                        containers: ContainersClient::new(c.clone()),
                        tasks: TasksClient::new(c.clone()),
                        events: EventsClient::new(c.clone()),
                        system: SystemClient::new(c),
                    };
                    if api.system.ping(ctx(), &Empty::new()).await.is_ok() {
                        return api;
                    }
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "berth-manager never answered: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.manager.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("manager.log")).unwrap_or_default()
    }

    fn track(&mut self, id: &str) {
        self.ids.push(id.to_string());
    }

    /// Everything of `id` that must be gone once it is deleted.
    fn leftovers(&self, id: &str) -> Vec<String> {
        let mut left = Vec::new();
        for p in processes_with_arg(id) {
            let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            left.push(format!("process {p} with {id} in its arguments: {cmd}"));
        }
        for d in cgroup_dirs_named(id) {
            left.push(format!("cgroup {}", d.display()));
        }
        let bundle = self.state.path().join("containers").join(id);
        if bundle.exists() {
            left.push(format!("bundle {}", bundle.display()));
        }
        let cdir = self.root.path().join("containers").join(id);
        if cdir.exists() {
            left.push(format!("container dir {}", cdir.display()));
        }
        let snap = self
            .root
            .path()
            .join("images/snapshots/containers")
            .join(id);
        if snap.exists() {
            left.push(format!("snapshot {}", snap.display()));
        }
        left
    }

    /// Waits until nothing of `id` is left (see [`Rig::leftovers`]).
    fn assert_gone(&self, id: &str) {
        let mut left = Vec::new();
        assert!(
            wait_until(PATIENCE, || {
                left = self.leftovers(id);
                left.is_empty()
            }),
            "left behind by {id}: {left:?}"
        );
    }

    fn mounts(&self) -> Vec<String> {
        let mut m = mounts_under(self.state.path());
        m.extend(mounts_under(self.root.path()));
        m
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        // shims killed below cannot remove their sockets themselves
        let sockets: Vec<PathBuf> = self
            .ids
            .iter()
            .filter_map(|id| {
                let f = self
                    .state
                    .path()
                    .join("containers")
                    .join(id)
                    .join("address");
                let a = std::fs::read_to_string(f).ok()?;
                Some(PathBuf::from(a.trim().trim_start_matches("unix://")))
            })
            .collect();
        self.kill9();
        if std::thread::panicking() {
            eprintln!("--- berth-manager log ---\n{}", self.log());
        }
        for id in &self.ids {
            for pid in processes_with_arg(id) {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            for dir in cgroup_dirs_named(id) {
                if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
                    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                        // SAFETY: as above.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            }
            let _ = Command::new(runtime_bin())
                .args([
                    "--root",
                    "/run/containerd/runc/berth",
                    "delete",
                    "--force",
                    id,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let mut mounts = self.mounts();
        mounts.reverse();
        for m in mounts {
            let c = std::ffi::CString::new(m).unwrap();
            // SAFETY: c is a valid NUL-terminated path.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        for sock in sockets {
            if std::os::unix::net::UnixStream::connect(&sock).is_err() {
                let _ = std::fs::remove_file(sock);
            }
        }
        for id in &self.ids {
            let mut dirs = cgroup_dirs_named(id);
            dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
            for d in dirs {
                let _ = std::fs::remove_dir(d);
            }
        }
    }
}

/// A spec for busybox running `args`, from the runtime's own `spec`.
fn spec(args: &[&str]) -> String {
    let b = Bundle::busybox();
    let mut c: Value = b.config();
    c["process"]["args"] = json!(args);
    c["root"]["readonly"] = json!(false);
    c.to_string()
}

fn status_of(e: &ttrpc::Error) -> (ttrpc::Code, String) {
    match e {
        ttrpc::Error::RpcStatus(s) => (s.code(), s.message().to_string()),
        other => panic!("expected an rpc status, got {other:?}"),
    }
}

async fn load_busybox(api: &Api) {
    let req = LoadRequest {
        path: busybox_archive().display().to_string(),
        ..Default::default()
    };
    let mut stream = api
        .images
        .load_images(ctx(), &req)
        .await
        .expect("LoadImages");
    let mut loaded = Vec::new();
    while let Some(p) = stream.recv().await.expect("load progress") {
        if p.done {
            loaded.push(p.message);
        }
    }
    assert!(
        loaded.iter().any(|m| m.contains("busybox")),
        "load said: {loaded:?}"
    );
}

async fn create(
    api: &Api,
    name: &str,
    args: &[&str],
    tweak: impl FnOnce(&mut CreateContainerRequest),
) -> ContainerInfo {
    let mut req = CreateContainerRequest {
        name: name.to_string(),
        image: "busybox".into(),
        spec_json: spec(args),
        ..Default::default()
    };
    tweak(&mut req);
    api.containers
        .create_container(ctx(), &req)
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e:?}"))
}

async fn get(api: &Api, id: &str) -> Result<ContainerInfo, ttrpc::Error> {
    api.containers
        .get_container(
            ctx(),
            &GetContainerRequest {
                id: id.into(),
                ..Default::default()
            },
        )
        .await
}

async fn start(api: &Api, id: &str) -> u32 {
    api.tasks
        .start_task(
            ctx(),
            &StartTaskRequest {
                container_id: id.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("start {id}: {e:?}"))
        .pid
}

async fn delete(api: &Api, id: &str, force: bool) -> Result<Empty, ttrpc::Error> {
    api.containers
        .delete_container(
            ctx(),
            &DeleteContainerRequest {
                id: id.into(),
                force,
                ..Default::default()
            },
        )
        .await
}

/// Polls `cond` (async) until it holds or PATIENCE runs out.
async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + PATIENCE;
    while !cond().await {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs an exec'd `sh -c script` in `id` and returns (exit code, stdout).
async fn exec_sh(api: &Api, id: &str, script: &str) -> (i32, String) {
    let process = json!({
        "args": ["sh", "-c", script],
        "cwd": "/",
        "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
        "user": {"uid": 0, "gid": 0},
    });
    let ex = api
        .tasks
        .exec(
            ctx(),
            &ExecRequest {
                container_id: id.into(),
                process_json: process.to_string(),
                ..Default::default()
            },
        )
        .await
        .expect("Exec");
    let out_path = ex.stdout_path.clone();
    let err_path = ex.stderr_path.clone();
    let reader = std::thread::spawn(move || std::fs::read_to_string(out_path).unwrap_or_default());
    let err_reader =
        std::thread::spawn(move || std::fs::read_to_string(err_path).unwrap_or_default());
    let req = ExecProcessRequest {
        container_id: id.into(),
        exec_id: ex.exec_id.clone(),
        ..Default::default()
    };
    api.tasks.start_exec(ctx(), &req).await.expect("StartExec");
    let w = api.tasks.wait_exec(ctx(), &req).await.expect("WaitExec");
    let out = reader.join().unwrap();
    let _ = err_reader.join();
    (w.exit_code, out)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The acceptance scenario: run -d, kill -9 the manager, and then ps, exec,
/// logs, stop and rm -f all work, an exit that happened meanwhile is
/// recorded, and nothing is left behind.
#[test]
fn manager_survives_kill_9() {
    require_root!();
    runtime().block_on(async {
        let mut rig = Rig::new();
        let api = rig.start().await;
        load_busybox(&api).await;

        let web_name = unique_id("web");
        let web = create(
            &api,
            &web_name,
            &["sh", "-c", "echo hello-from-web; exec sleep 1000"],
            |_| {},
        )
        .await;
        rig.track(&web.id);
        let quitter_name = unique_id("quitter");
        let quitter = create(
            &api,
            &quitter_name,
            &[
                "sh",
                "-c",
                "while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 7",
            ],
            |_| {},
        )
        .await;
        rig.track(&quitter.id);
        let web_pid = start(&api, &web.id).await;
        let quitter_pid = start(&api, &quitter.id).await;
        assert_eq!(get(&api, &web_name).await.unwrap().status, "running");

        rig.kill9();

        // the quitter exits while no manager runs
        // (through its init's root: the shim mounts the rootfs where only
        // it and the container see it)
        let go = std::path::PathBuf::from(format!("/proc/{quitter_pid}/root/tmp/go"));
        std::fs::write(&go, "").expect("write into the quitter's rootfs");
        assert!(
            wait_until(PATIENCE, || !alive(quitter_pid)),
            "quitter (pid {quitter_pid}) never exited"
        );
        assert!(alive(web_pid), "web died with the manager");

        let api = rig.start().await;
        // ps
        let running = api
            .containers
            .list_containers(ctx(), &ListContainersRequest::default())
            .await
            .unwrap()
            .containers;
        assert_eq!(running.len(), 1, "running after restart: {running:?}");
        assert_eq!(
            (running[0].id.as_str(), running[0].pid),
            (web.id.as_str(), web_pid)
        );
        let q = get(&api, &quitter.id).await.unwrap();
        assert_eq!((q.status.as_str(), q.exit_code), ("exited", 7), "{q:?}");
        assert!(
            q.finished_at.is_some(),
            "exit time of the quitter not recorded"
        );

        // exec
        let (code, out) = exec_sh(&api, &web.id, "echo exec-ok; cat /proc/1/cmdline").await;
        assert_eq!(code, 0);
        assert!(out.starts_with("exec-ok"), "exec printed {out:?}");

        // logs: docker json-file lines from berth's shim; containerd's shim
        // ignores the format and writes plain text
        let log = std::fs::read_to_string(&web.log_path).unwrap_or_default();
        let first = log.lines().next().unwrap_or_default();
        eprintln!("first log line: {first}");
        if first.starts_with('{') {
            let line: Value = serde_json::from_str(first).expect("json log line");
            assert_eq!(line["log"], "hello-from-web\n", "{first}");
            assert_eq!(line["stream"], "stdout", "{first}");
        } else {
            assert_eq!(first, "hello-from-web", "log {}: {log:?}", web.log_path);
        }

        // stop
        api.tasks
            .stop_task(
                ctx(),
                &StopRequest {
                    container_id: web.id.clone(),
                    timeout: 1,
                    ..Default::default()
                },
            )
            .await
            .expect("StopTask");
        let w = get(&api, &web.id).await.unwrap();
        assert_eq!(w.status, "exited", "{w:?}");
        assert!(!alive(web_pid), "web still runs after stop");

        // rm -f of a running container (started again after the stop)
        start(&api, &web.id).await;
        let (code, _) = exec_sh(&api, &web.id, "true").await;
        assert_eq!(code, 0);
        delete(&api, &web.id, true).await.expect("rm -f web");
        delete(&api, &quitter.id, false).await.expect("rm quitter");

        let all = api
            .containers
            .list_containers(
                ctx(),
                &ListContainersRequest {
                    all: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .containers;
        assert!(all.is_empty(), "records left: {all:?}");
        for id in [&web.id, &quitter.id] {
            rig.assert_gone(id);
        }
        assert!(rig.mounts().is_empty(), "mounts left: {:?}", rig.mounts());
    });
}

/// A running container whose shim is killed too is cleaned up by the next
/// manager with the shim binary's `delete`; a shim killed under a running
/// manager is cleaned up the same way.
#[test]
fn dead_shim_is_cleaned_up_after_restart() {
    require_root!();
    runtime().block_on(async {
        let mut rig = Rig::new();
        let api = rig.start().await;
        load_busybox(&api).await;
        let c = create(&api, &unique_id("orphan"), &["sleep", "1000"], |_| {}).await;
        rig.track(&c.id);
        let pid = start(&api, &c.id).await;
        // both containerd's and berth's shims leave their address in the bundle
        let address_file = rig
            .state
            .path()
            .join("containers")
            .join(&c.id)
            .join("address");
        let address = std::fs::read_to_string(&address_file).expect("shim address file");
        let socket = PathBuf::from(address.trim().trim_start_matches("unix://"));
        assert!(socket.exists(), "shim socket {} missing", socket.display());
        rig.kill9();
        for p in processes_with_arg(&c.id) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        assert!(
            wait_until(PATIENCE, || processes_with_arg(&c.id).is_empty()),
            "shim of {} did not die",
            c.id
        );
        let api = rig.start().await;
        let info = get(&api, &c.id).await.unwrap();
        assert_eq!(info.status, "exited", "{info:?}");
        assert!(!alive(pid), "container process {pid} outlived the cleanup");
        assert!(
            !socket.exists(),
            "socket {} of the killed shim left behind",
            socket.display()
        );
        delete(&api, &c.id, false).await.expect("rm");
        rig.assert_gone(&c.id);
        assert!(rig.mounts().is_empty(), "mounts left: {:?}", rig.mounts());

        // a shim killed while the manager runs: the exit is recorded and
        // the remains are cleaned up the same way
        let c = create(&api, &unique_id("orphan2"), &["sleep", "1000"], |_| {}).await;
        rig.track(&c.id);
        let pid = start(&api, &c.id).await;
        for p in processes_with_arg(&c.id) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        eventually("killed shim's container recorded as exited", || async {
            get(&api, &c.id).await.unwrap().status == "exited"
        })
        .await;
        // the exit is recorded first, the cleanup that kills the orphaned
        // container follows it
        eventually("container process killed by its shim's cleanup", || async {
            !alive(pid)
        })
        .await;
        delete(&api, &c.id, false).await.expect("rm");
        rig.assert_gone(&c.id);
        assert!(rig.mounts().is_empty(), "mounts left: {:?}", rig.mounts());
    });
}

/// Events stream with docker's actions; WaitTask returns the exit code;
/// auto-remove deletes everything; on-failure restarts up to its limit.
#[test]
fn events_wait_auto_remove_and_restart_policy() {
    require_root!();
    runtime().block_on(async {
        let mut rig = Rig::new();
        let api = rig.start().await;
        load_busybox(&api).await;

        let mut stream = api
            .events
            .subscribe(ctx(), &SubscribeRequest::default())
            .await
            .expect("Subscribe");
        // handshake: tag until the subscription sees it, so no event is missed
        let mut n = 0;
        'sync: loop {
            n += 1;
            let target = format!("probe:{n}");
            api.images
                .tag_image(
                    ctx(),
                    &TagRequest {
                        source: "busybox".into(),
                        target: target.clone(),
                        ..Default::default()
                    },
                )
                .await
                .expect("TagImage");
            while let Ok(r) = tokio::time::timeout(Duration::from_secs(1), stream.recv()).await {
                let e = r.expect("event").expect("stream open");
                if e.action == "tag" && e.id.ends_with(&target) {
                    break 'sync;
                }
            }
            assert!(n < 60, "subscription never delivered an event");
        }

        let name = unique_id("ephemeral");
        let c = create(&api, &name, &["sh", "-c", "echo bye; exit 3"], |r| {
            r.auto_remove = true
        })
        .await;
        rig.track(&c.id);
        start(&api, &c.id).await;
        let w = api
            .tasks
            .wait_task(
                ctx(),
                &TaskRequest {
                    container_id: c.id.clone(),
                    ..Default::default()
                },
            )
            .await
            .expect("WaitTask");
        assert_eq!(w.exit_code, 3);
        let mut actions = Vec::new();
        while !actions.iter().any(|a: &String| a == "destroy") {
            let e = tokio::time::timeout(PATIENCE, stream.recv())
                .await
                .expect("events stopped before destroy")
                .expect("event")
                .expect("stream open");
            if e.id != c.id {
                continue;
            }
            assert_eq!(e.attributes.get("name"), Some(&name));
            if e.action == "die" {
                assert_eq!(e.attributes.get("exitCode").map(String::as_str), Some("3"));
            }
            actions.push(e.action);
        }
        assert_eq!(actions, ["create", "start", "die", "destroy"]);
        eventually("auto-removed record gone", || async {
            get(&api, &c.id).await.is_err()
        })
        .await;
        rig.assert_gone(&c.id);

        let flaky = create(&api, &unique_id("flaky"), &["sh", "-c", "exit 1"], |r| {
            r.restart_policy = MessageField::some(RestartPolicy {
                name: "on-failure".into(),
                max_retries: 2,
                ..Default::default()
            })
        })
        .await;
        rig.track(&flaky.id);
        start(&api, &flaky.id).await;
        eventually("on-failure:2 restarted twice and gave up", || async {
            let i = get(&api, &flaky.id).await.unwrap();
            i.status == "exited" && i.restart_count == 2
        })
        .await;
        let i = get(&api, &flaky.id).await.unwrap();
        assert_eq!(i.exit_code, 1);
        delete(&api, &flaky.id, false).await.expect("rm flaky");
        assert!(rig.leftovers(&flaky.id).is_empty());
        assert!(rig.mounts().is_empty(), "mounts left: {:?}", rig.mounts());
    });
}

/// Bad input gets one-line errors with the right codes and stores nothing.
#[test]
fn bad_input_leaves_no_partial_state() {
    require_root!();
    runtime().block_on(async {
        let mut rig = Rig::new();
        let api = rig.start().await;
        load_busybox(&api).await;

        let name = unique_id("taken");
        let first = create(&api, &name, &["sleep", "1000"], |_| {}).await;
        rig.track(&first.id);
        let snapshots = || {
            std::fs::read_dir(rig.root.path().join("images/snapshots/containers"))
                .map(|d| {
                    d.flatten()
                        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                        .count()
                })
                .unwrap_or(0)
        };
        assert_eq!(snapshots(), 1);

        let cases: Vec<(CreateContainerRequest, ttrpc::Code, &str)> = vec![
            (
                CreateContainerRequest {
                    name: unique_id("x"),
                    image: "no-such-image:v9".into(),
                    spec_json: spec(&["true"]),
                    ..Default::default()
                },
                ttrpc::Code::NOT_FOUND,
                "no-such-image",
            ),
            (
                CreateContainerRequest {
                    name: name.clone(),
                    image: "busybox".into(),
                    spec_json: spec(&["true"]),
                    ..Default::default()
                },
                ttrpc::Code::ALREADY_EXISTS,
                &name,
            ),
            (
                CreateContainerRequest {
                    name: unique_id("y"),
                    image: "busybox".into(),
                    spec_json: "{not json".into(),
                    ..Default::default()
                },
                ttrpc::Code::INVALID_ARGUMENT,
                "spec_json",
            ),
            (
                CreateContainerRequest {
                    name: "bad name!".into(),
                    image: "busybox".into(),
                    spec_json: spec(&["true"]),
                    ..Default::default()
                },
                ttrpc::Code::INVALID_ARGUMENT,
                "bad name!",
            ),
        ];
        for (req, code, mention) in cases {
            let e = api
                .containers
                .create_container(ctx(), &req)
                .await
                .expect_err("bad create accepted");
            let (got, msg) = status_of(&e);
            assert_eq!(got, code, "{msg}");
            assert!(msg.contains(mention), "{msg:?} does not name {mention:?}");
            assert!(!msg.contains('\n'), "not one line: {msg:?}");
        }
        let all = api
            .containers
            .list_containers(
                ctx(),
                &ListContainersRequest {
                    all: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .containers;
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(snapshots(), 1, "a refused create left a snapshot");

        let (code, _) = status_of(&get(&api, "no-such-container").await.unwrap_err());
        assert_eq!(code, ttrpc::Code::NOT_FOUND);
        start(&api, &first.id).await;
        let (code, msg) = status_of(&delete(&api, &name, false).await.unwrap_err());
        assert_eq!(code, ttrpc::Code::FAILED_PRECONDITION, "{msg}");
        let (code, msg) = status_of(
            &api.tasks
                .start_task(
                    ctx(),
                    &StartTaskRequest {
                        container_id: first.id.clone(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap_err(),
        );
        assert_eq!(code, ttrpc::Code::FAILED_PRECONDITION, "{msg}");

        // a second manager on the same dirs refuses to start
        let out = rig.command().output().expect("run a second manager");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("another berth-manager"), "{err}");
        assert!(api.system.ping(ctx(), &Empty::new()).await.is_ok());

        delete(&api, &name, true).await.expect("rm -f");
        assert!(
            rig.leftovers(&first.id).is_empty() || {
                wait_until(PATIENCE, || rig.leftovers(&first.id).is_empty())
            }
        );
        assert!(rig.mounts().is_empty(), "mounts left: {:?}", rig.mounts());
    });
}

/// The task controls beyond start and stop: top, stats, pause/resume,
/// update, rename, attach, info, kill, prune.
#[test]
fn task_controls_and_system() {
    require_root!();
    runtime().block_on(async {
        let mut rig = Rig::new();
        let api = rig.start().await;
        load_busybox(&api).await;
        let name = unique_id("ctl");
        let c = create(&api, &name, &["sleep", "1000"], |_| {}).await;
        rig.track(&c.id);
        start(&api, &c.id).await;
        let task = TaskRequest {
            container_id: c.id.clone(),
            ..Default::default()
        };

        let top = api.tasks.top_task(ctx(), &task).await.expect("TopTask");
        assert_eq!(top.titles.last().map(String::as_str), Some("CMD"));
        assert!(
            top.rows
                .iter()
                .any(|r| r.fields.last().is_some_and(|c| c == "sleep 1000")),
            "top: {:?}",
            top.rows
        );

        let stats = api.tasks.task_stats(ctx(), &task).await.expect("TaskStats");
        assert!(stats.pids >= 1, "{stats:?}");
        assert!(stats.memory_usage > 0, "{stats:?}");
        assert!(stats.online_cpus >= 1 && stats.system_cpu_usage_ns > 0);

        api.tasks.pause_task(ctx(), &task).await.expect("PauseTask");
        assert_eq!(get(&api, &c.id).await.unwrap().status, "paused");
        let (code, _) = status_of(&api.tasks.pause_task(ctx(), &task).await.unwrap_err());
        assert_eq!(code, ttrpc::Code::FAILED_PRECONDITION);
        api.tasks
            .resume_task(ctx(), &task)
            .await
            .expect("ResumeTask");
        assert_eq!(get(&api, &c.id).await.unwrap().status, "running");

        api.tasks
            .update_task(
                ctx(),
                &berth_proto::manager::UpdateRequest {
                    container_id: c.id.clone(),
                    resources_json: r#"{"pids":{"limit":50}}"#.into(),
                    ..Default::default()
                },
            )
            .await
            .expect("UpdateTask");
        let spec: Value = serde_json::from_str(&get(&api, &c.id).await.unwrap().spec_json).unwrap();
        assert_eq!(spec["linux"]["resources"]["pids"]["limit"], 50);

        let renamed = unique_id("renamed");
        api.containers
            .rename_container(
                ctx(),
                &berth_proto::manager::RenameContainerRequest {
                    id: name.clone(),
                    new_name: renamed.clone(),
                    ..Default::default()
                },
            )
            .await
            .expect("RenameContainer");
        assert_eq!(get(&api, &renamed).await.unwrap().id, c.id);
        assert!(get(&api, &name).await.is_err());

        let attach = api
            .tasks
            .attach_task(ctx(), &task)
            .await
            .expect("AttachTask");
        assert_eq!(attach.log_path, c.log_path);
        assert!(attach.stdin_path.is_empty() && !attach.tty);

        let info = api.system.info(ctx(), &Empty::new()).await.expect("Info");
        assert_eq!(
            (info.containers, info.containers_running, info.images),
            (1, 1, 1),
            "{info:?}"
        );
        assert_eq!(info.storage_driver, "overlayfs");

        api.tasks
            .kill_task(
                ctx(),
                &berth_proto::manager::KillRequest {
                    container_id: c.id.clone(),
                    signal: "KILL".into(),
                    ..Default::default()
                },
            )
            .await
            .expect("KillTask");
        let w = api.tasks.wait_task(ctx(), &task).await.expect("WaitTask");
        assert_eq!(w.exit_code, 137);

        let pruned = api
            .system
            .prune(ctx(), &berth_proto::manager::PruneRequest::default())
            .await
            .expect("Prune");
        assert_eq!(pruned.containers_deleted, vec![c.id.clone()]);
        rig.assert_gone(&c.id);
        assert!(rig.mounts().is_empty(), "mounts left: {:?}", rig.mounts());
    });
}

/// The Images service around the image store: import, get, list, save, tag,
/// remove, and its errors.
#[test]
fn images_service() {
    require_root!();
    runtime().block_on(async {
        let mut rig = Rig::new();
        let api = rig.start().await;
        load_busybox(&api).await;
        let rootfs_tar = busybox_archive().with_file_name("busybox-rootfs.tar");
        assert!(rootfs_tar.is_file(), "{} missing", rootfs_tar.display());
        let imported = api
            .images
            .import_rootfs(
                ctx(),
                &berth_proto::manager::ImportRootfsRequest {
                    path: rootfs_tar.display().to_string(),
                    reference: "imported:v1".into(),
                    ..Default::default()
                },
            )
            .await
            .expect("ImportRootfs");
        assert!(imported.reference.ends_with("imported:v1"), "{imported:?}");
        assert!(imported.id.starts_with("sha256:"));

        let busybox = api
            .images
            .get_image(
                ctx(),
                &berth_proto::manager::GetImageRequest {
                    reference: "busybox".into(),
                    ..Default::default()
                },
            )
            .await
            .expect("GetImage");
        assert_eq!(busybox.os, "linux");
        let config: Value = serde_json::from_str(&busybox.config_json).expect("config_json");
        assert!(config.is_object(), "{config}");

        let list = api
            .images
            .list_images(ctx(), &Default::default())
            .await
            .expect("ListImages")
            .images;
        assert_eq!(list.len(), 2, "{list:?}");

        let out = rig.root.path().join("saved.tar");
        api.images
            .save_images(
                ctx(),
                &berth_proto::manager::SaveRequest {
                    references: vec!["imported:v1".into()],
                    output_path: out.display().to_string(),
                    ..Default::default()
                },
            )
            .await
            .expect("SaveImages");
        assert!(std::fs::metadata(&out).expect("saved tar").len() > 0);

        let removed = api
            .images
            .remove_image(
                ctx(),
                &berth_proto::manager::RemoveImageRequest {
                    reference: "imported:v1".into(),
                    ..Default::default()
                },
            )
            .await
            .expect("RemoveImage");
        assert_eq!(removed.untagged.len(), 1, "{removed:?}");
        assert_eq!(removed.deleted, vec![imported.id.clone()]);

        let e = api
            .images
            .get_image(
                ctx(),
                &berth_proto::manager::GetImageRequest {
                    reference: "imported:v1".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        let (code, msg) = status_of(&e);
        assert_eq!(code, ttrpc::Code::NOT_FOUND, "{msg}");
        assert!(msg.contains("imported:v1"), "{msg}");

        let mut bad = api
            .images
            .load_images(
                ctx(),
                &LoadRequest {
                    path: "/nonexistent/archive.tar".into(),
                    ..Default::default()
                },
            )
            .await
            .expect("LoadImages call");
        let e = bad
            .recv()
            .await
            .expect_err("loading a missing file succeeded");
        assert_eq!(status_of(&e).0, ttrpc::Code::INVALID_ARGUMENT);
        rig.kill9();
    });
}

/// `-i`: the init's stdin FIFO from AttachTask reaches the process, its
/// output reaches the log, and CloseStdin ends its input.
#[test]
fn open_stdin_attach_and_close() {
    require_root!();
    runtime().block_on(async {
        let mut rig = Rig::new();
        let api = rig.start().await;
        load_busybox(&api).await;
        let c = create(&api, &unique_id("cat"), &["cat"], |r| r.open_stdin = true).await;
        rig.track(&c.id);
        start(&api, &c.id).await;
        let task = TaskRequest {
            container_id: c.id.clone(),
            ..Default::default()
        };
        let attach = api
            .tasks
            .attach_task(ctx(), &task)
            .await
            .expect("AttachTask");
        assert!(!attach.stdin_path.is_empty(), "{attach:?}");
        let mut stdin = std::fs::OpenOptions::new()
            .write(true)
            .open(&attach.stdin_path)
            .expect("open stdin FIFO");
        std::io::Write::write_all(&mut stdin, b"ping-through-stdin\n").unwrap();
        let log = PathBuf::from(&attach.log_path);
        assert!(
            wait_until(PATIENCE, || std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("ping-through-stdin")),
            "stdin never reached the log {}",
            log.display()
        );
        // as docker does: the client closes its end, then the shim's
        // (containerd's shim keeps a writer of its own open until CloseIO)
        drop(stdin);
        api.tasks
            .close_stdin(
                ctx(),
                &ExecProcessRequest {
                    container_id: c.id.clone(),
                    ..Default::default()
                },
            )
            .await
            .expect("CloseStdin");
        let w = api.tasks.wait_task(ctx(), &task).await.expect("WaitTask");
        assert_eq!(w.exit_code, 0);
        delete(&api, &c.id, false).await.expect("rm");
        rig.assert_gone(&c.id);
    });
}

/// kill -9 at arbitrary points of create, start and delete: the next
/// manager always finds each container whole (created, running or exited)
/// or gone, and removing them leaves nothing behind.
#[test]
fn kill_9_at_any_point_leaves_consistent_state() {
    require_root!();
    runtime().block_on(async {
        let mut rig = Rig::new();
        let mut api = rig.start().await;
        load_busybox(&api).await;
        let spec_json = spec(&["sleep", "1000"]);
        let mut names = Vec::new();
        for round in 0..6u64 {
            let name = unique_id("crash");
            names.push(name.clone());
            let api2 = api.clone();
            let spec_json = spec_json.clone();
            let victim = name.clone();
            let work = tokio::spawn(async move {
                let req = CreateContainerRequest {
                    name: victim.clone(),
                    image: "busybox".into(),
                    spec_json,
                    ..Default::default()
                };
                if let Ok(c) = api2.containers.create_container(ctx(), &req).await {
                    let _ = api2
                        .tasks
                        .start_task(
                            ctx(),
                            &StartTaskRequest {
                                container_id: c.id.clone(),
                                ..Default::default()
                            },
                        )
                        .await;
                    let _ = delete(&api2, &c.id, true).await;
                }
            });
            // a different instant each round, from "at once" to "mid-delete"
            tokio::time::sleep(Duration::from_millis(round * 60)).await;
            rig.kill9();
            let _ = work.await;
            api = rig.start().await;
            let all = api
                .containers
                .list_containers(
                    ctx(),
                    &ListContainersRequest {
                        all: true,
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .containers;
            for c in &all {
                eprintln!("round {round}: {} {} {}", c.id, c.name, c.status);
                if !rig.ids.contains(&c.id) {
                    rig.track(&c.id);
                }
                assert!(
                    matches!(c.status.as_str(), "created" | "running" | "exited"),
                    "round {round}: {} is {}",
                    c.name,
                    c.status
                );
                assert!(
                    !c.rootfs_mounts.is_empty(),
                    "round {round}: {c:?} has no rootfs"
                );
            }
        }
        for c in api
            .containers
            .list_containers(
                ctx(),
                &ListContainersRequest {
                    all: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .containers
        {
            delete(&api, &c.id, true).await.expect("rm -f");
        }
        let ids = rig.ids.clone();
        for id in &ids {
            rig.assert_gone(id);
        }
        let snaps = std::fs::read_dir(rig.root.path().join("images/snapshots/containers"))
            .map(|d| d.flatten().count())
            .unwrap_or(0);
        assert_eq!(snaps, 0, "snapshots left");
        let bundles = std::fs::read_dir(rig.state.path().join("containers"))
            .map(|d| d.flatten().count())
            .unwrap_or(0);
        assert_eq!(bundles, 0, "bundles left");
        assert!(rig.mounts().is_empty(), "mounts left: {:?}", rig.mounts());
    });
}

/// A container snapshot no container record owns (left by an older
/// manager, a lost store write, a crash) is removed at the next start, its
/// directory and its image-store record both; a real container's stays.
#[test]
fn start_sweeps_snapshots_no_container_owns() {
    require_root!();
    runtime().block_on(async {
        let mut rig = Rig::new();
        let api = rig.start().await;
        load_busybox(&api).await;
        let keeper = create(&api, &unique_id("keeper"), &["true"], |_| {}).await;
        rig.track(&keeper.id);
        rig.kill9();

        // the orphan: prepared by the image store alone, with no manager
        let images = rig.root.path().join("images");
        let orphan = unique_id("orphan");
        {
            let store = ImageStore::open(&images).expect("open image store");
            store.prepare(&orphan, "busybox").expect("prepare orphan");
        }
        let snaps = images.join("snapshots/containers");
        assert!(snaps.join(&orphan).is_dir(), "orphan not prepared");

        let api = rig.start().await;
        // the line is logged once the removal (and its layer collection)
        // returns, a moment after the directory is gone
        let logged = format!("removed snapshot {orphan}");
        eventually("orphan snapshot removed and logged", || async {
            !snaps.join(&orphan).exists() && rig.log().contains(&logged)
        })
        .await;
        assert!(
            snaps.join(&keeper.id).is_dir(),
            "snapshot of container {} swept",
            keeper.id
        );
        // the container is whole: its rootfs mounts and runs
        start(&api, &keeper.id).await;
        rig.kill9();

        let keys: Vec<String> = ImageStore::open(&images)
            .expect("reopen image store")
            .snapshots()
            .expect("snapshots")
            .into_iter()
            .map(|s| s.key)
            .collect();
        assert_eq!(keys, [keeper.id.as_str()], "snapshot records left");

        let api = rig.start().await;
        delete(&api, &keeper.id, true).await.expect("rm -f keeper");
        rig.assert_gone(&keeper.id);
        assert!(rig.mounts().is_empty(), "mounts left: {:?}", rig.mounts());
    });
}
