//! containerd-shim-berth-v2 under containerd 1.6's CRI plugin: a pod
//! sandbox and a container in it, run with the runtime handler "shimpath"
//! whose runtime_type is our shim's absolute path (containerd-env.sh's
//! `RC_CUSTOM_SHIM`). The container shares the sandbox's shim (containerd's
//! grouping by the `io.kubernetes.cri.sandbox-id` annotation).
//!
//! The CRI client is a small Python script (below) on Debian's
//! `python3-grpcio`: gRPC from grpcio, the few runtime.v1 messages encoded
//! by hand, so no generated code or crictl (not packaged in Debian 12) is
//! needed. The daemon's state and log stay in [`BASE`].

use berth_fixture::{containerd, interop as common};

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use berth_fixture::{processes_with_arg, require_root, unique_id, wait_until};
use common::{run, run_best_effort, Outcome};
use containerd::ContainerdEnv;

const BASE: &str = "/var/tmp/berth-shim-cri";
const IMAGE: &str = "docker.io/library/busybox:latest";
const PAUSE: &str = "registry.k8s.io/pause:3.6";
/// Debian's python, where python3-grpcio installs.
const PYTHON: &str = "/usr/bin/python3";

static DAEMON: Mutex<()> = Mutex::new(());

/// A minimal CRI client: `cri.py ENDPOINT COMMAND ARGS...`, one JSON line out.
const CRI_CLIENT: &str = r#""""A minimal CRI (runtime.v1) client: protobuf encoded by hand, gRPC by grpcio."""
import json, sys
import grpc

def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7f) | 0x80); v >>= 7
    out.append(v)
    return bytes(out)

def fbytes(n, b):
    if isinstance(b, str): b = b.encode()
    return varint(n << 3 | 2) + varint(len(b)) + b

def fvarint(n, v):
    return varint(n << 3) + varint(v)

def parse(buf):
    """{field: [values]} with varints as int and length-delimited as bytes."""
    out, i = {}, 0
    def rv():
        nonlocal i
        v = s = 0
        while True:
            b = buf[i]; i += 1
            v |= (b & 0x7f) << s; s += 7
            if b < 0x80: return v
    while i < len(buf):
        key = rv(); n, t = key >> 3, key & 7
        if t == 0: out.setdefault(n, []).append(rv())
        elif t == 2:
            l = rv(); out.setdefault(n, []).append(bytes(buf[i:i+l])); i += l
        elif t == 1: i += 8
        elif t == 5: i += 4
        else: raise ValueError("wire type %d" % t)
    return out

def sandbox_config(name, uid):
    meta = fbytes(1, name) + fbytes(2, uid) + fbytes(3, "berth-test") + fvarint(4, 0)
    return fbytes(1, meta) + fbytes(2, name)

def call(ch, method, req):
    f = ch.unary_unary("/runtime.v1.RuntimeService/" + method)
    return parse(f(req, timeout=60))

def s(m, n, default=""):
    return m.get(n, [default.encode() if isinstance(default, str) else default])[0]

def main():
    endpoint, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    ch = grpc.insecure_channel("unix://" + endpoint)
    if cmd == "run-pod":
        name, uid, handler, logdir = args
        cfg = sandbox_config(name, uid) + fbytes(3, logdir)
        r = call(ch, "RunPodSandbox", fbytes(1, cfg) + fbytes(2, handler))
        print(json.dumps({"id": s(r, 1).decode()}))
    elif cmd == "create":
        pod, pod_name, pod_uid, logdir, name, image, log_path = args[:7]
        argv = args[7:]
        cfg = fbytes(1, fbytes(1, name)) + fbytes(2, fbytes(1, image))
        cfg += b"".join(fbytes(3, a) for a in argv) + fbytes(11, log_path)
        req = fbytes(1, pod) + fbytes(2, cfg) + fbytes(3, sandbox_config(pod_name, pod_uid) + fbytes(3, logdir))
        r = call(ch, "CreateContainer", req)
        print(json.dumps({"id": s(r, 1).decode()}))
    elif cmd == "start":
        call(ch, "StartContainer", fbytes(1, args[0])); print("{}")
    elif cmd == "status":
        r = call(ch, "ContainerStatus", fbytes(1, args[0]))
        st = parse(s(r, 1, b""))
        states = ["CREATED", "RUNNING", "EXITED", "UNKNOWN"]
        code = s(st, 7, 0)
        if code >= 1 << 31: code -= 1 << 32
        print(json.dumps({"state": states[s(st, 3, 0)], "exit_code": code,
                          "log_path": s(st, 15).decode()}))
    elif cmd == "pod-status":
        r = call(ch, "PodSandboxStatus", fbytes(1, args[0]))
        st = parse(s(r, 1, b""))
        print(json.dumps({"state": ["READY", "NOTREADY"][s(st, 3, 0)]}))
    elif cmd == "exec":
        cid, argv = args[0], args[1:]
        r = call(ch, "ExecSync", fbytes(1, cid) + b"".join(fbytes(2, a) for a in argv) + fvarint(3, 20))
        code = s(r, 3, 0)
        if code >= 1 << 31: code -= 1 << 32
        print(json.dumps({"stdout": s(r, 1).decode(), "stderr": s(r, 2).decode(), "exit_code": code}))
    elif cmd == "stop":
        call(ch, "StopContainer", fbytes(1, args[0]) + fvarint(2, 1)); print("{}")
    elif cmd == "rm":
        call(ch, "RemoveContainer", fbytes(1, args[0])); print("{}")
    elif cmd == "stop-pod":
        call(ch, "StopPodSandbox", fbytes(1, args[0])); print("{}")
    elif cmd == "rm-pod":
        call(ch, "RemovePodSandbox", fbytes(1, args[0])); print("{}")
    else:
        sys.exit("unknown command " + cmd)

try:
    main()
except grpc.RpcError as e:
    sys.exit("cri: %s: %s" % (e.code(), e.details()))
"#;

/// The private containerd with CRI, stopped on drop.
struct Cri {
    endpoint: String,
    client: PathBuf,
    _dir: tempfile::TempDir,
    daemon: ContainerdEnv,
}

impl Cri {
    fn start() -> Cri {
        // CRI's "shimpath" handler runs the copy install_shim makes.
        let shim = Path::new(BASE).join("bin/containerd-shim-berth-v2");
        let daemon = ContainerdEnv::lock(BASE, &DAEMON, &[("RC_CUSTOM_SHIM", shim.as_os_str())]);
        let has_grpc = Command::new(PYTHON)
            .args(["-c", "import grpc"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            has_grpc,
            "{PYTHON} cannot import grpc: install Debian's python3-grpcio (make deps)"
        );
        containerd::install_shim(&daemon.base().join("bin"));
        let dir = tempfile::tempdir().expect("temp dir");
        let client = dir.path().join("cri.py");
        fs::write(&client, CRI_CLIENT).expect("write the CRI client");
        let daemon = daemon.start();
        daemon.ensure_images(
            "k8s.io",
            &[(IMAGE, "busybox-oci.tar"), (PAUSE, "pause-oci.tar")],
        );
        Cri {
            endpoint: daemon.address().to_string(),
            client,
            _dir: dir,
            daemon,
        }
    }

    fn log_tail(&self) -> String {
        self.daemon.log_tail()
    }

    fn call(&self, args: &[&str]) -> Outcome {
        run(
            Command::new(PYTHON)
                .arg(&self.client)
                .arg(&self.endpoint)
                .args(args),
            Duration::from_secs(90),
        )
    }

    /// Runs a CRI call; panics with containerd's log unless it succeeded.
    fn ok(&self, args: &[&str]) -> serde_json::Value {
        let out = self.call(args);
        assert!(out.status.success(), "{out}\n{}", self.log_tail());
        serde_json::from_str(out.out()).unwrap_or_else(|e| panic!("{e}: {out}"))
    }
}

/// Stops and removes a pod (and so its containers) through CRI on drop.
struct Pod<'a> {
    cri: &'a Cri,
    id: String,
}

impl Drop for Pod<'_> {
    fn drop(&mut self) {
        for cmd in ["stop-pod", "rm-pod"] {
            let mut c = Command::new(PYTHON);
            c.arg(&self.cri.client)
                .arg(&self.cri.endpoint)
                .args([cmd, &self.id]);
            run_best_effort(&mut c, Duration::from_secs(90));
        }
    }
}

#[test]
fn a_pod_and_its_container_run_under_the_shim() {
    require_root!("shim_cri::a_pod_and_its_container_run_under_the_shim");
    let cri = Cri::start();
    let name = unique_id("shim-pod");
    let uid = unique_id("uid");
    let logs = tempfile::tempdir().expect("pod log dir");
    let log_dir = logs.path().to_str().expect("utf-8 path");

    let pod = cri.ok(&["run-pod", &name, &uid, "shimpath", log_dir]);
    let pod = Pod {
        cri: &cri,
        id: pod["id"].as_str().expect("pod id").to_string(),
    };
    assert_eq!(cri.ok(&["pod-status", &pod.id])["state"], "READY");
    // The sandbox runs under our shim, not containerd's runc shim.
    let shims = containerd::berth_shims(processes_with_arg(&pod.id));
    assert_eq!(
        shims.len(),
        1,
        "one berth shim serves pod {}: {shims:?}",
        pod.id
    );

    let created = cri.ok(&[
        "create",
        &pod.id,
        &name,
        &uid,
        log_dir,
        "app",
        IMAGE,
        "app.log",
        "sh",
        "-c",
        "echo cri-says-hi; exec sleep 600",
    ]);
    let ctr = created["id"].as_str().expect("container id").to_string();
    cri.ok(&["start", &ctr]);
    assert!(
        wait_until(Duration::from_secs(10), || cri.ok(&["status", &ctr])
            ["state"]
            == "RUNNING"),
        "container {ctr} not RUNNING: {}\n{}",
        cri.ok(&["status", &ctr]),
        cri.log_tail()
    );
    let log = logs.path().join("app.log");
    assert!(
        wait_until(Duration::from_secs(10), || fs::read_to_string(&log)
            .map(|t| t.contains("stdout F cri-says-hi"))
            .unwrap_or(false)),
        "container output not in the CRI log {}: {:?}",
        log.display(),
        fs::read_to_string(&log)
    );

    let exec = cri.ok(&["exec", &ctr, "sh", "-c", "echo exec-ok; exit 2"]);
    assert_eq!(exec["stdout"], "exec-ok\n", "{exec}");
    assert_eq!(exec["exit_code"], 2, "{exec}");

    // Pod containers share the sandbox's shim.
    assert!(
        containerd::berth_shims(processes_with_arg(&ctr)).is_empty(),
        "the container got a shim of its own"
    );

    cri.ok(&["stop", &ctr]);
    let status = cri.ok(&["status", &ctr]);
    assert_eq!(status["state"], "EXITED", "{status}");
    assert_ne!(
        status["exit_code"], 0,
        "a stopped sleep exits by a signal: {status}"
    );
    cri.ok(&["rm", &ctr]);

    let pod_id = pod.id.clone();
    drop(pod);
    assert!(
        wait_until(Duration::from_secs(10), || processes_with_arg(&pod_id)
            .is_empty()),
        "the pod's shim or processes outlived RemovePodSandbox: {:?}",
        processes_with_arg(&pod_id)
    );
}
