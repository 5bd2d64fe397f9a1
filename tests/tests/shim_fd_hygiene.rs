//! No descriptor of the shim reaches the runtime or a container: a
//! container's init, created and still waiting for `start`, holds none of the
//! shim's sockets (a dead shim's listening socket kept open by it would go on
//! accepting connections nobody answers); once started, the init and an
//! exec'd process hold exactly stdin, stdout and stderr.
//!
//! The shim is started by hand in a busybox bundle with a made-up containerd
//! address (no containerd needed) and driven over its task API.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_fixture::{processes_with_arg, require_root, runtime_bin, shim_bin, unique_id, Bundle};
use berth_proto::containerd::api;
use berth_proto::containerd::shim_sync::{Client, TaskClient};
use berth_proto::protobuf::well_known_types::any::Any;
use berth_proto::protobuf::{Message, MessageField};
use berth_proto::runc_options::Options as RuncOptions;
use berth_proto::ttrpc::context;

const NAMESPACE: &str = "berth-fd-test";

/// The shim and its container; on drop the container's processes and the
/// shim are killed and the shim binary's `delete` cleans up the rest.
struct Rig {
    id: String,
    bundle: Bundle,
    address_dir: tempfile::TempDir,
    socket: PathBuf,
    pids: Vec<i32>,
}

impl Rig {
    fn start() -> Rig {
        let id = unique_id("fds");
        let bundle = Bundle::busybox();
        bundle.set_args(&["sleep", "1000"]);
        let address_dir = tempfile::tempdir().expect("address dir");
        let mut rig = Rig {
            id,
            bundle,
            address_dir,
            socket: PathBuf::new(),
            pids: Vec::new(),
        };
        let out = rig
            .shim_command("start")
            .output()
            .expect("run the shim's start");
        let address = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            out.status.success(),
            "shim start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        rig.socket = PathBuf::from(address.trim_start_matches("unix://"));
        assert!(
            rig.socket.starts_with(rig.address_dir.path().join("s")),
            "the shim's socket {address} is not beside the address that started it"
        );
        rig
    }

    fn shim_command(&self, action: &str) -> Command {
        let mut c = Command::new(shim_bin());
        c.args(["-namespace", NAMESPACE, "-id", &self.id])
            .arg("-address")
            .arg(self.address_dir.path().join("containerd.sock"))
            .args(["-publish-binary", "/bin/false", action])
            .current_dir(self.bundle.path())
            .env_remove("TTRPC_ADDRESS")
            .stdin(Stdio::null());
        c
    }

    fn client(&self) -> TaskClient {
        let c = Client::connect(&format!("unix://{}", self.socket.display()))
            .expect("connect to the shim");
        TaskClient::new(c)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for pid in self
            .pids
            .iter()
            .copied()
            .chain(processes_with_arg(&self.id))
        {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = self.shim_command("delete").output();
        let _ = fs::remove_file(&self.socket);
    }
}

fn ctx() -> context::Context {
    context::with_timeout(Duration::from_secs(30).as_nanos() as i64)
}

/// `/proc/PID/fd`: descriptor number → what it points at.
fn fds_of(pid: i32) -> Vec<(i32, String)> {
    let mut fds: Vec<(i32, String)> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("list /proc/{pid}/fd: {e}"))
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.parse().ok()?;
            let target = fs::read_link(e.path()).ok()?;
            Some((n, target.display().to_string()))
        })
        .collect();
    fds.sort();
    fds
}

/// The sockets (as `socket:[inode]`) a process holds.
fn sockets_of(pid: i32) -> BTreeSet<String> {
    fds_of(pid)
        .into_iter()
        .map(|(_, t)| t)
        .filter(|t| t.starts_with("socket:"))
        .collect()
}

#[test]
fn no_shim_descriptor_reaches_the_container() {
    require_root!("shim_fd_hygiene::no_shim_descriptor_reaches_the_container");
    let mut rig = Rig::start();
    let task = rig.client();
    let shim = task
        .connect(
            ctx(),
            &api::ConnectRequest {
                id: rig.id.clone(),
                ..Default::default()
            },
        )
        .expect("Connect")
        .shim_pid as i32;

    let options = RuncOptions {
        binary_name: runtime_bin().display().to_string(),
        ..Default::default()
    };
    let created = task
        .create(
            ctx(),
            &api::CreateTaskRequest {
                id: rig.id.clone(),
                bundle: rig.bundle.path().display().to_string(),
                options: MessageField::some(Any {
                    type_url: "containerd.runc.v1.Options".into(),
                    value: options.write_to_bytes().unwrap(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .expect("Create");
    let init = created.pid as i32;
    rig.pids.push(init);

    // created, waiting for start: none of the shim's sockets
    let shim_sockets = sockets_of(shim);
    assert!(!shim_sockets.is_empty(), "the shim holds no socket?");
    let leaked: Vec<(i32, String)> = fds_of(init)
        .into_iter()
        .filter(|(_, t)| shim_sockets.contains(t))
        .collect();
    assert!(
        leaked.is_empty(),
        "the created init {init} holds the shim's sockets {leaked:?} (all: {:?})",
        fds_of(init)
    );

    task.start(
        ctx(),
        &api::StartRequest {
            id: rig.id.clone(),
            ..Default::default()
        },
    )
    .expect("Start");
    let numbers = |pid: i32| fds_of(pid).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
    assert_eq!(
        numbers(init),
        [0, 1, 2],
        "the running init holds {:?}",
        fds_of(init)
    );

    let process = serde_json::json!({
        "args": ["sleep", "1000"],
        "cwd": "/",
        "env": ["PATH=/bin"],
        "user": {"uid": 0, "gid": 0},
    });
    task.exec(
        ctx(),
        &api::ExecProcessRequest {
            id: rig.id.clone(),
            exec_id: "e1".into(),
            spec: MessageField::some(Any {
                type_url: "types.containerd.io/opencontainers/runtime-spec/1/Process".into(),
                value: process.to_string().into_bytes(),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .expect("Exec");
    let exec = task
        .start(
            ctx(),
            &api::StartRequest {
                id: rig.id.clone(),
                exec_id: "e1".into(),
                ..Default::default()
            },
        )
        .expect("Start exec")
        .pid as i32;
    rig.pids.push(exec);
    assert_eq!(
        numbers(exec),
        [0, 1, 2],
        "the exec'd process holds {:?}",
        fds_of(exec)
    );

    task.kill(
        ctx(),
        &api::KillRequest {
            id: rig.id.clone(),
            signal: libc::SIGKILL as u32,
            all: true,
            ..Default::default()
        },
    )
    .expect("Kill");
    task.wait(
        ctx(),
        &api::WaitRequest {
            id: rig.id.clone(),
            ..Default::default()
        },
    )
    .expect("Wait");
    task.delete(
        ctx(),
        &api::DeleteRequest {
            id: rig.id.clone(),
            ..Default::default()
        },
    )
    .expect("Delete");
    let _ = task.shutdown(
        ctx(),
        &api::ShutdownRequest {
            id: rig.id.clone(),
            ..Default::default()
        },
    );
    assert!(
        berth_fixture::wait_until(Duration::from_secs(10), || !rig.socket.exists()),
        "the shim's socket {} is left after Shutdown",
        rig.socket.display()
    );
}
