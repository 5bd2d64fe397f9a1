//! End-to-end tests of berth-runtime with real containers: the lifecycle
//! (create, start, state, kill, delete, run), exec, ps, pause/resume,
//! events, update, a terminal through a console socket, user namespaces,
//! hooks, masked and read-only paths, `--no-pivot`, and programs that can't
//! run.
//!
//! Every test skips (with a message) unless run as root, uses its own
//! `--root` and unique container ids, force-deletes its container even when
//! it fails, and checks that nothing (state dir, cgroup, mount, process) is
//! left once the container is deleted.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use berth_fixture::*;
use serde_json::{json, Value};

/// Deadline for a container to reach a state, a file to appear, ...
const DEADLINE: Duration = Duration::from_secs(3);

// ------------------------------------------------------------------ helpers

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A busybox bundle running `args`.
fn bundle_with(args: &[&str]) -> Bundle {
    let b = Bundle::busybox();
    b.set_args(args);
    b
}

/// `create --bundle B [extra...] ID`, asserting success.
fn create(rt: &Runtime, b: &Bundle, id: &str, extra: &[&str]) {
    let mut args = vec!["create", "--bundle", s(b.path())];
    args.extend_from_slice(extra);
    args.push(id);
    assert_success(&rt.run_to_files(&args), &format!("create {id}"));
}

/// `state ID`'s status ("" when the runtime fails).
fn status(rt: &Runtime, id: &str) -> String {
    rt.state(id)
        .and_then(|v| v["status"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Polls `state` until it says `want`, panicking after the deadline.
fn wait_status(rt: &Runtime, id: &str, want: &str) {
    assert!(
        wait_until(DEADLINE, || status(rt, id) == want),
        "container {id} did not become {want}: state is {:?}",
        rt.state(id)
    );
}

/// The init pid from `state`.
fn init_pid(rt: &Runtime, id: &str) -> i32 {
    let st = rt.state(id).expect("state");
    st["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("no pid in {st}")) as i32
}

/// create + start the bundle's container; returns its init pid.
fn start_container(rt: &Runtime, b: &Bundle, id: &str) -> i32 {
    create(rt, b, id, &[]);
    assert_success(&rt.run_to_files(["start", id]), &format!("start {id}"));
    wait_status(rt, id, "running");
    init_pid(rt, id)
}

/// True while `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(st) => {
            let after = st.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            !after.trim_start().starts_with('Z') && !after.trim_start().starts_with('X')
        }
        Err(_) => false,
    }
}

/// Deletes (force) and checks the container left nothing behind: no state
/// dir, no cgroup, no mount under the bundle, no live init, no process
/// naming the id.
fn delete_and_check(rt: &Runtime, id: &str, b: &Bundle, pid: Option<i32>) {
    assert_success(&rt.run(["delete", "--force", id]), &format!("delete {id}"));
    assert_clean(rt, id, b.path(), pid);
}

fn assert_clean(rt: &Runtime, id: &str, bundle: &Path, pid: Option<i32>) {
    assert!(
        !rt.root().join(id).exists(),
        "state dir {} is still there",
        rt.root().join(id).display()
    );
    assert!(rt.state(id).is_none(), "state still answers for {id}");
    wait_until(DEADLINE, || cgroup_dirs_named(id).is_empty());
    assert_eq!(cgroup_dirs_named(id), Vec::<PathBuf>::new(), "cgroups left");
    assert_eq!(mounts_under(bundle), Vec::<String>::new(), "mounts left");
    if let Some(pid) = pid {
        assert!(
            wait_until(DEADLINE, || !alive(pid)),
            "init {pid} is still alive"
        );
    }
    wait_until(DEADLINE, || processes_with_arg(id).is_empty());
    assert_eq!(processes_with_arg(id), Vec::<i32>::new(), "processes left");
}

/// Sets `root.readonly` (the runtime's `spec` makes it read-only).
fn writable_rootfs(b: &Bundle) {
    b.update_config(|c| c["root"]["readonly"] = json!(false));
}

// --------------------------------------------------------------- lifecycle

#[test]
fn create_start_kill_delete() {
    require_root!("create_start_kill_delete");
    let rt = Runtime::new();
    let id = unique_id("life");
    let _guard = rt.guard(&id);
    let b = bundle_with(&["sleep", "100"]);
    let pid_file = b.path().join("init.pid");
    create(&rt, &b, &id, &["--pid-file", s(&pid_file)]);

    let st = rt.state(&id).expect("state after create");
    assert_eq!(st["status"], "created", "{st}");
    assert_eq!(st["id"], id.as_str(), "{st}");
    let pid = st["pid"].as_i64().expect("pid") as i32;
    assert!(pid > 0 && alive(pid), "{st}");
    assert_eq!(
        fs::read_to_string(&pid_file).expect("pid file").trim(),
        pid.to_string()
    );
    assert!(
        !cgroup_dirs_named(&id).is_empty(),
        "create made no cgroup named {id}"
    );

    assert_success(&rt.run_to_files(["start", id.as_str()]), "start");
    wait_status(&rt, &id, "running");
    assert_eq!(init_pid(&rt, &id), pid);

    assert_success(&rt.run(["kill", id.as_str(), "KILL"]), "kill KILL");
    wait_status(&rt, &id, "stopped");

    // a plain delete (no --force) of a stopped container
    assert_success(&rt.run(["delete", id.as_str()]), "delete");
    assert_clean(&rt, &id, b.path(), Some(pid));
}

#[test]
fn run_foreground_propagates_output_and_exit_code() {
    require_root!("run_foreground_propagates_output_and_exit_code");
    let rt = Runtime::new();
    let id = unique_id("runfg");
    let _guard = rt.guard(&id);
    let b = bundle_with(&["sh", "-c", "echo hi; exit 3"]);
    let out = rt.run(["run", "--bundle", s(b.path()), id.as_str()]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "run: {}\nstdout: {}\nstderr: {}",
        out.status,
        stdout_str(&out),
        stderr_str(&out)
    );
    assert_eq!(stdout_str(&out), "hi\n");
    // run without --keep deletes the container
    assert_clean(&rt, &id, b.path(), None);
}

#[test]
fn run_detached_then_kill_and_delete() {
    require_root!("run_detached_then_kill_and_delete");
    let rt = Runtime::new();
    let id = unique_id("rund");
    let _guard = rt.guard(&id);
    let b = bundle_with(&["sleep", "100"]);
    let out = rt.run_to_files(["run", "--detach", "--bundle", s(b.path()), id.as_str()]);
    assert_success(&out, "run --detach");
    wait_status(&rt, &id, "running");
    let pid = init_pid(&rt, &id);
    assert!(alive(pid));
    assert_success(&rt.run(["kill", id.as_str(), "KILL"]), "kill");
    wait_status(&rt, &id, "stopped");
    assert_success(&rt.run(["delete", id.as_str()]), "delete");
    assert_clean(&rt, &id, b.path(), Some(pid));
}

// -------------------------------------------------------------------- exec

#[test]
fn exec_output_and_exit_code() {
    require_root!("exec_output_and_exit_code");
    let rt = Runtime::new();
    let id = unique_id("exec");
    let _guard = rt.guard(&id);
    let b = bundle_with(&["sleep", "100"]);
    let pid = start_container(&rt, &b, &id);

    let out = rt.run([
        "exec",
        id.as_str(),
        "sh",
        "-c",
        "echo out; echo err >&2; exit 5",
    ]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "exec: {}\nstdout: {}\nstderr: {}",
        out.status,
        stdout_str(&out),
        stderr_str(&out)
    );
    assert_eq!(stdout_str(&out), "out\n");
    assert!(stderr_str(&out).contains("err"), "{}", stderr_str(&out));

    // the exec'd process is in the container: same pid namespace as init
    let out = rt.run(["exec", id.as_str(), "cat", "/proc/1/cmdline"]);
    assert_success(&out, "exec cat /proc/1/cmdline");
    assert_eq!(stdout_str(&out).replace('\0', " ").trim(), "sleep 100");

    assert_eq!(status(&rt, &id), "running");
    delete_and_check(&rt, &id, &b, Some(pid));
}

/// Regression test: a detached exec must not die with the runtime (no
/// PDEATHSIG on the runtime).
#[test]
fn exec_detached_survives_runtime_exit() {
    require_root!("exec_detached_survives_runtime_exit");
    let rt = Runtime::new();
    let id = unique_id("execd");
    let _guard = rt.guard(&id);
    let b = bundle_with(&["sleep", "100"]);
    writable_rootfs(&b);
    let pid = start_container(&rt, &b, &id);

    let pid_file = b.path().join("exec.pid");
    let out = rt.run_to_files([
        "exec",
        "--detach",
        "--pid-file",
        s(&pid_file),
        id.as_str(),
        "sh",
        "-c",
        "sleep 1; echo done > /tmp/x",
    ]);
    assert_success(&out, "exec --detach");
    // the runtime has exited; the process lives on
    let epid: i32 = fs::read_to_string(&pid_file)
        .expect("exec pid file")
        .trim()
        .parse()
        .expect("pid in the pid file");
    assert!(
        alive(epid),
        "the detached exec {epid} died with the runtime"
    );
    let x = b.rootfs().join("tmp/x");
    assert!(
        wait_until(Duration::from_secs(4), || fs::read_to_string(&x)
            .is_ok_and(|t| t == "done\n")),
        "the detached exec never wrote /tmp/x (alive: {})",
        alive(epid)
    );
    delete_and_check(&rt, &id, &b, Some(pid));
    assert!(
        !alive(epid),
        "exec'd process {epid} outlived delete --force"
    );
}

#[test]
fn exec_user_env_cwd() {
    require_root!("exec_user_env_cwd");
    let rt = Runtime::new();
    let id = unique_id("execopt");
    let _guard = rt.guard(&id);
    let b = bundle_with(&["sleep", "100"]);
    let pid = start_container(&rt, &b, &id);

    let out = rt.run(["exec", "--user", "1000:1000", id.as_str(), "id", "-u"]);
    assert_success(&out, "exec --user 1000:1000 id -u");
    assert_eq!(stdout_str(&out).trim(), "1000");
    let out = rt.run(["exec", "--user", "1000:1000", id.as_str(), "id", "-g"]);
    assert_success(&out, "exec --user 1000:1000 id -g");
    assert_eq!(stdout_str(&out).trim(), "1000");

    let out = rt.run([
        "exec",
        "--env",
        "FOO=bar",
        id.as_str(),
        "sh",
        "-c",
        "echo $FOO",
    ]);
    assert_success(&out, "exec --env FOO=bar");
    assert_eq!(stdout_str(&out), "bar\n");

    let out = rt.run(["exec", "--cwd", "/tmp", id.as_str(), "pwd"]);
    assert_success(&out, "exec --cwd /tmp pwd");
    assert_eq!(stdout_str(&out), "/tmp\n");

    delete_and_check(&rt, &id, &b, Some(pid));
}

// -------------------------------------------- ps, pause, events, update

#[test]
fn ps_json_lists_init() {
    require_root!("ps_json_lists_init");
    let rt = Runtime::new();
    let id = unique_id("ps");
    let _guard = rt.guard(&id);
    let b = bundle_with(&["sleep", "100"]);
    let pid = start_container(&rt, &b, &id);
    let out = rt.run(["ps", "--format", "json", id.as_str()]);
    assert_success(&out, "ps --format json");
    let pids: Vec<i64> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("ps json is not a list of pids ({e}): {}", stdout_str(&out)));
    assert!(
        pids.contains(&i64::from(pid)),
        "ps does not list init {pid}: {pids:?}"
    );
    delete_and_check(&rt, &id, &b, Some(pid));
}

#[test]
fn pause_and_resume() {
    require_root!("pause_and_resume");
    let rt = Runtime::new();
    let id = unique_id("pause");
    let _guard = rt.guard(&id);
    let b = bundle_with(&["sleep", "100"]);
    let pid = start_container(&rt, &b, &id);
    assert_success(&rt.run(["pause", id.as_str()]), "pause");
    wait_status(&rt, &id, "paused");
    assert_success(&rt.run(["resume", id.as_str()]), "resume");
    wait_status(&rt, &id, "running");
    // a resumed container still runs programs
    let out = rt.run(["exec", id.as_str(), "echo", "awake"]);
    assert_success(&out, "exec after resume");
    assert_eq!(stdout_str(&out), "awake\n");
    delete_and_check(&rt, &id, &b, Some(pid));
}

#[test]
fn events_stats_prints_json() {
    require_root!("events_stats_prints_json");
    let rt = Runtime::new();
    let id = unique_id("events");
    let _guard = rt.guard(&id);
    let b = bundle_with(&["sleep", "100"]);
    let pid = start_container(&rt, &b, &id);
    let out = rt.run(["events", "--stats", id.as_str()]);
    assert_success(&out, "events --stats");
    let text = stdout_str(&out);
    let first = text.lines().next().unwrap_or("");
    let ev: Value = serde_json::from_str(first)
        .unwrap_or_else(|e| panic!("events --stats printed no JSON line ({e}): {text}"));
    assert_eq!(ev["type"], "stats", "{ev}");
    assert_eq!(ev["id"], id.as_str(), "{ev}");
    assert!(ev["data"].is_object(), "{ev}");
    delete_and_check(&rt, &id, &b, Some(pid));
}

#[test]
fn update_memory_limit() {
    require_root!("update_memory_limit");
    let rt = Runtime::new();
    let id = unique_id("update");
    let _guard = rt.guard(&id);
    let b = bundle_with(&["sleep", "100"]);
    let pid = start_container(&rt, &b, &id);
    assert_success(
        &rt.run(["update", "--memory", "64m", id.as_str()]),
        "update --memory 64m",
    );
    let file = berth_fixture::cgroups::cgroup_file(
        &pid.to_string(),
        "memory",
        "memory.limit_in_bytes",
        "memory.max",
    );
    let limit =
        fs::read_to_string(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    assert_eq!(limit.trim(), "67108864", "{}", file.display());
    assert!(
        file.to_string_lossy().contains(&id),
        "init is not in the container's own cgroup: {}",
        file.display()
    );
    delete_and_check(&rt, &id, &b, Some(pid));
}

// ---------------------------------------------------------------- terminal

/// Receives one descriptor passed with SCM_RIGHTS on `sock`.
fn recv_fd(sock: &UnixStream) -> io::Result<OwnedFd> {
    recv_fd_and_data(sock).map(|(fd, _)| fd)
}

/// Receives one message carrying a descriptor (SCM_RIGHTS) and its payload.
fn recv_fd_and_data(sock: &UnixStream) -> io::Result<(OwnedFd, Vec<u8>)> {
    let mut data = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // u64s keep the control buffer aligned for cmsghdr
    let mut control = [0u64; 16];
    // SAFETY: a zeroed msghdr is a valid empty header; we fill in the
    // buffers, which outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points at live buffers of the lengths given.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: walking the control messages the kernel wrote into `control`.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
                return Ok((OwnedFd::from_raw_fd(fd), data[..n as usize].to_vec()));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Err(io::Error::other(format!(
        "no descriptor in the console socket message ({n} data bytes)"
    )))
}

/// Reads the pty master until `done(output)` or EOF/EIO (the slave side
/// closed) or the deadline.
fn read_master(master: OwnedFd, deadline: Instant, done: impl Fn(&str) -> bool) -> String {
    let mut f = File::from(master);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !done(&String::from_utf8_lossy(&out)) {
        let mut pfd = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, 50) };
        if r <= 0 {
            continue;
        }
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break, // EIO: no more slave
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn seccomp_notify_fd_goes_to_listener() {
    require_root!("seccomp_notify_fd_goes_to_listener");
    let rt = Runtime::new();
    let id = unique_id("notify");
    let _guard = rt.guard(&id);
    let sock_dir = tempfile::tempdir().unwrap();
    let sock_path = sock_dir.path().join("agent.sock");
    let b = bundle_with(&["sh", "-c", "mkdir /tmp/notified; echo mkdir-rc=$?"]);
    b.update_config(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock_path,
            "listenerMetadata": "berth-test",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let listener = UnixListener::bind(&sock_path).expect("bind agent socket");
    // the agent takes the listener fd and closes it without answering: the
    // notified syscall then fails with ENOSYS and the program goes on
    let agent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept");
        recv_fd_and_data(&conn).map(|(fd, data)| {
            drop(fd);
            data
        })
    });
    let out = rt.run_to_files(["run", "--bundle", s(b.path()), id.as_str()]);
    if !agent.is_finished() {
        // the runtime never connected: unblock the agent so the test ends
        let _ = UnixStream::connect(&sock_path);
    }
    let data = agent
        .join()
        .expect("agent thread")
        .expect("fd from the runtime");
    assert_success(&out, "run");
    let msg: Value = serde_json::from_slice(&data).expect("container process state JSON");
    assert_eq!(msg["fds"], json!(["seccompFd"]), "{msg}");
    assert_eq!(msg["metadata"], "berth-test", "{msg}");
    assert_eq!(msg["state"]["id"], json!(id), "{msg}");
    assert!(msg["pid"].as_i64().unwrap_or(0) > 0, "{msg}");
    assert!(
        stdout_str(&out).contains("mkdir-rc=1"),
        "{}",
        stdout_str(&out)
    );
    assert!(!b.rootfs().join("tmp/notified").exists());
}

#[test]
fn terminal_through_console_socket() {
    require_root!("terminal_through_console_socket");
    let rt = Runtime::new();
    let id = unique_id("tty");
    let _guard = rt.guard(&id);
    let b = bundle_with(&["sh", "-c", "echo tty-ok; tty; sleep 100"]);
    b.update_config(|c| c["process"]["terminal"] = json!(true));
    let sock_dir = tempfile::tempdir().unwrap();
    let sock_path = sock_dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock_path).expect("bind console socket");
    listener.set_nonblocking(true).unwrap();

    let out_dir = tempfile::tempdir().unwrap();
    let mut child = rt
        .command()
        .args([
            "create",
            "--console-socket",
            s(&sock_path),
            "--bundle",
            s(b.path()),
            id.as_str(),
        ])
        .stdout(File::create(out_dir.path().join("out")).unwrap())
        .stderr(File::create(out_dir.path().join("err")).unwrap())
        .spawn()
        .expect("spawn create");
    let deadline = Instant::now() + DEADLINE;
    let conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if let Some(st) = child.try_wait().unwrap() {
                    panic!(
                        "create exited ({st}) without connecting to the console socket: {}",
                        fs::read_to_string(out_dir.path().join("err")).unwrap_or_default()
                    );
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("create never connected to the console socket");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(DEADLINE)).unwrap();
    let master = recv_fd(&conn).expect("receive the pty master");
    let st = child.wait().unwrap();
    assert!(
        st.success(),
        "create --console-socket: {st}: {}",
        fs::read_to_string(out_dir.path().join("err")).unwrap_or_default()
    );
    // the master really is a terminal
    // SAFETY: isatty only inspects the descriptor.
    assert_eq!(unsafe { libc::isatty(master.as_raw_fd()) }, 1);

    assert_success(&rt.run_to_files(["start", id.as_str()]), "start");
    let text = read_master(master, Instant::now() + DEADLINE, |t| {
        t.contains("tty-ok") && t.contains("/dev/pts/")
    });
    assert!(text.contains("tty-ok"), "pty output: {text:?}");
    assert!(
        text.contains("/dev/pts/"),
        "`tty` in the container is not a pty: {text:?}"
    );
    let pid = init_pid(&rt, &id);
    delete_and_check(&rt, &id, &b, Some(pid));
}

// --------------------------------------------------------- user namespace

/// chown -R (without following symlinks).
fn chown_tree(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("lchown {}: {e}", p.display()));
    let meta = fs::symlink_metadata(p).unwrap();
    if meta.is_dir() {
        for e in fs::read_dir(p).unwrap().flatten() {
            chown_tree(&e.path(), uid, gid);
        }
    }
}

#[test]
fn user_namespace_with_id_mappings() {
    require_root!("user_namespace_with_id_mappings");
    let rt = Runtime::new();
    let id = unique_id("userns");
    let _guard = rt.guard(&id);
    let b = bundle_with(&[
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; cat /proc/self/gid_map",
    ]);
    b.update_config(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    chown_tree(&b.rootfs(), 100000, 100000);
    let out = rt.run(["run", "--bundle", s(b.path()), id.as_str()]);
    assert_success(&out, "run with a user namespace");
    let text = stdout_str(&out);
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines.first().map(String::as_str), Some("0"), "{text}");
    assert_eq!(
        lines.get(1).map(String::as_str),
        Some("0 100000 65536"),
        "uid_map: {text}"
    );
    assert_eq!(
        lines.get(2).map(String::as_str),
        Some("0 100000 65536"),
        "gid_map: {text}"
    );
    assert_clean(&rt, &id, b.path(), None);
}

// ------------------------------------------------------------------- hooks

#[test]
fn hooks_run_in_order_with_state() {
    require_root!("hooks_run_in_order_with_state");
    let rt = Runtime::new();
    let id = unique_id("hooks");
    let _guard = rt.guard(&id);
    let b = bundle_with(&["sleep", "100"]);
    let dir = b.path().to_path_buf();
    let hook = |name: &str| {
        json!([{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!(
                "echo {name} >> '{d}/hooks.order'; cat > '{d}/{name}.json'",
                d = dir.display()
            )],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
        }])
    };
    let kinds = ["prestart", "createRuntime", "poststart", "poststop"];
    b.update_config(|c| {
        let mut hooks = serde_json::Map::new();
        for k in kinds {
            hooks.insert(k.to_string(), hook(k));
        }
        c["hooks"] = Value::Object(hooks);
    });
    let order = || fs::read_to_string(dir.join("hooks.order")).unwrap_or_default();

    create(&rt, &b, &id, &[]);
    assert_eq!(order(), "prestart\ncreateRuntime\n", "after create");
    let pid = init_pid(&rt, &id);
    assert_success(&rt.run_to_files(["start", id.as_str()]), "start");
    assert_eq!(
        order(),
        "prestart\ncreateRuntime\npoststart\n",
        "after start"
    );
    assert_success(&rt.run(["kill", id.as_str(), "KILL"]), "kill");
    wait_status(&rt, &id, "stopped");
    assert_success(&rt.run(["delete", id.as_str()]), "delete");
    assert_eq!(
        order(),
        "prestart\ncreateRuntime\npoststart\npoststop\n",
        "after delete"
    );
    for k in kinds {
        let p = dir.join(format!("{k}.json"));
        let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{k} hook's state: {e}"));
        let st: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{k} hook got no JSON state ({e}): {text:?}"));
        assert_eq!(st["id"], id.as_str(), "{k}: {st}");
        assert!(st["ociVersion"].is_string(), "{k}: {st}");
        assert_eq!(
            st["bundle"].as_str().map(PathBuf::from),
            Some(dir.canonicalize().unwrap()),
            "{k}: {st}"
        );
        if k != "poststop" {
            assert_eq!(st["pid"], pid, "{k}: {st}");
        }
    }
    assert_clean(&rt, &id, b.path(), Some(pid));
}

// ------------------------------------------------ masked, readonly, pivot

/// Masked paths read empty and `/proc/sys` is read-only from inside. The
/// check covers `/proc/kcore` and every other masked path that exists on
/// this host (kernels without CONFIG_PROC_KCORE have no /proc/kcore, and
/// the runtime, like runc, skips masked paths that don't exist).
#[test]
fn masked_and_readonly_paths_hold() {
    require_root!("masked_and_readonly_paths_hold");
    let rt = Runtime::new();
    let id = unique_id("masked");
    let _guard = rt.guard(&id);
    let b = Bundle::busybox();
    let cfg = b.config();
    let list = |key: &str| -> Vec<String> {
        cfg["linux"][key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let masked = list("maskedPaths");
    assert!(masked.iter().any(|p| p == "/proc/kcore"), "{masked:?}");
    assert!(list("readonlyPaths").iter().any(|p| p == "/proc/sys"));

    let mut script = String::from(
        "if echo x > /proc/sys/kernel/hostname; then echo hostname-written; \
         else echo hostname-refused; fi\n",
    );
    // (path, is a file, non-empty on the host)
    let mut checked = Vec::new();
    for p in &masked {
        let host = Path::new(p);
        let Ok(meta) = fs::metadata(host) else {
            continue;
        };
        if meta.is_dir() {
            let n = fs::read_dir(host).map(|d| d.count()).unwrap_or(0);
            checked.push((p.clone(), false, n > 0));
            script += &format!("n=$(ls -A {p} | wc -l); echo \"{p} entries=$((n))\"\n");
        } else {
            let n = fs::read(host).map(|d| d.len()).unwrap_or(0);
            checked.push((p.clone(), true, n > 0));
            script += &format!(
                "if cat {p} > /dev/null; then n=$(cat {p} | wc -c); echo \"{p} bytes=$((n))\"; \
                 else echo \"{p} unreadable\"; fi\n"
            );
        }
    }
    assert!(
        checked.iter().any(|(_, file, full)| *file && *full),
        "no masked file with content exists on this host to check: {masked:?}"
    );
    b.set_args(&["sh", "-c", &script]);

    let out = rt.run(["run", "--bundle", s(b.path()), id.as_str()]);
    assert_success(&out, "run");
    let text = stdout_str(&out);
    let err = stderr_str(&out);
    assert!(text.contains("hostname-refused"), "{text}\n{err}");
    assert!(
        err.to_lowercase().contains("read-only file system"),
        "/proc/sys is not mounted read-only: {err}"
    );
    for (p, file, _) in &checked {
        // a masked file is /dev/null bound over it: it opens and reads
        // empty; a masked directory is an empty read-only tmpfs
        let want = if *file {
            format!("{p} bytes=0")
        } else {
            format!("{p} entries=0")
        };
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") == want),
            "{p} is not masked (want {want:?}):\n{text}\n{err}"
        );
    }
    assert_clean(&rt, &id, b.path(), None);
}

#[test]
fn no_pivot_runs() {
    require_root!("no_pivot_runs");
    let rt = Runtime::new();
    let id = unique_id("nopivot");
    let _guard = rt.guard(&id);
    let b = bundle_with(&["sh", "-c", "cat /etc/hostname; ls /bin/busybox"]);
    let out = rt.run(["run", "--no-pivot", "--bundle", s(b.path()), id.as_str()]);
    assert_success(&out, "run --no-pivot");
    assert_eq!(stdout_str(&out), "berth\n/bin/busybox\n");
    assert_clean(&rt, &id, b.path(), None);
}

// ------------------------------------------------- programs that can't run

#[test]
fn missing_program_fails_at_create() {
    require_root!("missing_program_fails_at_create");
    let rt = Runtime::new();
    let id = unique_id("noprog");
    let _guard = rt.guard(&id);
    let b = bundle_with(&["/nonexistent"]);
    let out = rt.run_to_files(["create", "--bundle", s(b.path()), id.as_str()]);
    let err = stderr_str(&out);
    assert!(
        !out.status.success(),
        "create of a container running /nonexistent succeeded (state: {:?})",
        rt.state(&id)
    );
    assert!(
        err.contains("/nonexistent"),
        "error does not name it: {err}"
    );
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert_clean(&rt, &id, b.path(), None);
}

#[test]
fn missing_program_in_path_fails_at_create() {
    require_root!("missing_program_in_path_fails_at_create");
    let rt = Runtime::new();
    let id = unique_id("nopathprog");
    let _guard = rt.guard(&id);
    let b = bundle_with(&["no-such-program"]);
    let out = rt.run_to_files(["create", "--bundle", s(b.path()), id.as_str()]);
    let err = stderr_str(&out);
    assert!(!out.status.success(), "create succeeded");
    assert!(err.contains("no-such-program"), "{err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert_clean(&rt, &id, b.path(), None);
}

/// A program that passes create's checks (it exists and is executable)
/// but execve refuses: `start` waits for the exec and reports init's error.
#[test]
fn failed_exec_is_reported_by_start() {
    require_root!("failed_exec_is_reported_by_start");
    let rt = Runtime::new();
    let id = unique_id("badexec");
    let _guard = rt.guard(&id);
    let b = bundle_with(&["/bin/garbage"]);
    let prog = b.rootfs().join("bin/garbage");
    fs::write(&prog, b"\x7fNOT-AN-ELF\x00\x01\x02").unwrap();
    fs::set_permissions(&prog, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    create(&rt, &b, &id, &[]);
    let pid = init_pid(&rt, &id);
    let out = rt.run_to_files(["start", id.as_str()]);
    let err = stderr_str(&out);
    assert!(
        !out.status.success(),
        "start of an unexecutable program succeeded"
    );
    assert!(
        err.contains("/bin/garbage"),
        "error does not name the program: {err}"
    );
    assert!(
        err.to_lowercase().contains("exec format error"),
        "error does not say why: {err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    wait_status(&rt, &id, "stopped");
    assert_success(&rt.run(["delete", id.as_str()]), "delete");
    assert_clean(&rt, &id, b.path(), Some(pid));
}

/// A program file without execute permission: rejected at create or at
/// start, either way naming it, and nothing left after delete.
#[test]
fn non_executable_program_is_rejected() {
    require_root!("non_executable_program_is_rejected");
    let rt = Runtime::new();
    let id = unique_id("noexec");
    let _guard = rt.guard(&id);
    let b = bundle_with(&["/bin/notexec"]);
    let prog = b.rootfs().join("bin/notexec");
    fs::write(&prog, b"#!/bin/sh\necho should-not-run\n").unwrap();
    fs::set_permissions(&prog, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = rt.run_to_files(["create", "--bundle", s(b.path()), id.as_str()]);
    let out: Output = if out.status.success() {
        rt.run_to_files(["start", id.as_str()])
    } else {
        out
    };
    let err = stderr_str(&out);
    assert!(!out.status.success(), "a non-executable program ran");
    assert!(err.contains("/bin/notexec"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    let _ = rt.run(["delete", "--force", id.as_str()]);
    assert_clean(&rt, &id, b.path(), None);
}
