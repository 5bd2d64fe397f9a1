//! End-to-end tests of a rootless berth-runtime: an unprivileged user, made
//! by the test, runs busybox containers in a user namespace that maps it to
//! root, with the state under its own `$XDG_RUNTIME_DIR`.
//!
//! * `rootless_run_and_lifecycle`: `spec --rootless`, `run` (uid 0 inside, a
//!   file written inside belongs to the user on the host, one warning that
//!   cgroups are skipped), a rootful config's mounts (devpts `gid=5`, sysfs)
//!   in the user namespace, then `create`/`start`/`state`/`exec`/`list`/
//!   `kill`/`delete`.
//! * `rootless_subordinate_ids_through_newuidmap`: `/etc/subuid` and
//!   `/etc/subgid` grant the user a range; the config maps 65536 more ids,
//!   which newuidmap/newgidmap write.
//! * `rootless_delegated_cgroup`: cgroup directories chowned to the user are
//!   used; limits the user can't enforce are refused before anything exists.
//!
//! The tests run as root (to create the user) and fail, not skip, when a tool
//! they need (useradd, newuidmap) is missing. Guards remove the user, its
//! subordinate id lines, its processes, directories and cgroups even when a
//! test fails.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use berth_fixture::*;
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(5);
const SUBID_COUNT: u64 = 65536;

/// useradd/userdel/usermod lock /etc/passwd and /etc/sub[ug]id: one at a time.
static ACCOUNTS: Mutex<()> = Mutex::new(());

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn run_tool(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e} (is it installed?)"));
    assert_success(&out, what);
    out
}

// ------------------------------------------------------------ the user

/// An unprivileged user made for one test, with a private runtime dir (its
/// `$XDG_RUNTIME_DIR`) and a copy of the runtime binary it can execute.
/// Dropping it kills the processes running as it (or as its subordinate ids),
/// removes its subordinate id lines, the user and its directories.
struct User {
    name: String,
    uid: u32,
    gid: u32,
    subids: Option<u64>,
    home: tempfile::TempDir,
    runtime: PathBuf,
}

impl User {
    /// A new system user (no subordinate ids unless `with_subids`).
    fn create(with_subids: bool) -> User {
        let name = format!(
            "brl{:x}{:x}",
            std::process::id() & 0xffff,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_micros()
        );
        let home = tempfile::Builder::new()
            .prefix("berth-rootless-")
            .tempdir()
            .expect("tempdir");
        let _lock = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        run_tool(
            Command::new("useradd").args(["-r", "-M", "-U", "-s", "/bin/sh", &name]),
            "useradd",
        );
        let mut user = User {
            name: name.clone(),
            uid: 0,
            gid: 0,
            subids: None,
            home,
            runtime: PathBuf::new(),
        };
        let id = |flag: &str| -> u32 {
            let out = run_tool(Command::new("id").args([flag, &name]), "id");
            stdout_str(&out).trim().parse().expect("numeric id")
        };
        user.uid = id("-u");
        user.gid = id("-g");
        assert_ne!(user.uid, 0, "useradd gave {name} uid 0");
        if with_subids {
            let start = free_subid_start();
            let range = format!("{start}-{}", start + SUBID_COUNT - 1);
            user.subids = Some(start);
            run_tool(
                Command::new("usermod").args([
                    "--add-subuids",
                    &range,
                    "--add-subgids",
                    &range,
                    &name,
                ]),
                "usermod --add-subuids (package passwd)",
            );
        }
        drop(_lock);
        let dir = user.home.path();
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
        let xdg = dir.join("xdg");
        fs::create_dir(&xdg).unwrap();
        fs::set_permissions(&xdg, fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&xdg, Some(user.uid), Some(user.gid)).unwrap();
        // the build tree may sit where the user can't reach: give it a copy
        user.runtime = dir.join("berth-runtime");
        fs::copy(runtime_bin(), &user.runtime).expect("copy the runtime binary");
        fs::set_permissions(&user.runtime, fs::Permissions::from_mode(0o755)).unwrap();
        user
    }

    fn xdg(&self) -> PathBuf {
        self.home.path().join("xdg")
    }

    /// The runtime's default state root for this user.
    fn state_root(&self) -> PathBuf {
        self.xdg().join("berth-runtime")
    }

    /// The runtime run as the user, in a login-like environment.
    fn runtime(&self) -> Command {
        let mut c = Command::new(&self.runtime);
        c.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", self.home.path())
            .env("USER", &self.name)
            .env("XDG_RUNTIME_DIR", self.xdg())
            .current_dir(self.home.path())
            .uid(self.uid)
            .gid(self.gid)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.runtime()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.runtime.display()))
    }

    /// Like `run`, with output to files: a detached container keeps pipes open.
    fn run_to_files(&self, args: &[&str]) -> Output {
        let d = tempfile::tempdir().unwrap();
        let (o, e) = (d.path().join("out"), d.path().join("err"));
        let status = self
            .runtime()
            .args(args)
            .stdout(fs::File::create(&o).unwrap())
            .stderr(fs::File::create(&e).unwrap())
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.runtime.display()));
        Output {
            status,
            stdout: fs::read(o).unwrap_or_default(),
            stderr: fs::read(e).unwrap_or_default(),
        }
    }

    fn state(&self, id: &str) -> Option<Value> {
        let out = self.run(&["state", id]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }

    fn status(&self, id: &str) -> String {
        self.state(id)
            .and_then(|v| v["status"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// A busybox bundle owned by the user, config.json from its own
    /// `spec --rootless`, with a writable root and `args`.
    fn bundle(&self, args: &[&str]) -> Bundle {
        let b = Bundle::busybox();
        fs::remove_file(b.config_path()).unwrap();
        run_tool(
            Command::new("chown").args(["-R", &format!("{}:{}", self.uid, self.gid), s(b.path())]),
            "chown",
        );
        let out = self.run(&["spec", "--rootless", "--bundle", s(b.path())]);
        assert_success(&out, "spec --rootless as the user");
        b.update_config(|c| {
            c["process"]["terminal"] = json!(false);
            c["root"]["readonly"] = json!(false);
        });
        b.set_args(args);
        b
    }

    /// Ids this user's containers run as on the host.
    fn owns(&self, uid: u32) -> bool {
        uid == self.uid
            || self
                .subids
                .is_some_and(|s| (s..s + SUBID_COUNT).contains(&u64::from(uid)))
    }

    fn processes(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if proc_uid(pid).is_some_and(|u| self.owns(u)) {
                pids.push(pid);
            }
        }
        pids
    }
}

impl Drop for User {
    fn drop(&mut self) {
        for _ in 0..50 {
            let pids = self.processes();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                // SAFETY: kill only sends a signal, to a process of our test user.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // a container the test left behind: its mounts die with its namespace,
        // the state dir goes with the temp dir
        let _lock = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(start) = self.subids {
            let range = format!("{start}-{}", start + SUBID_COUNT - 1);
            let _ = Command::new("usermod")
                .args(["--del-subuids", &range, "--del-subgids", &range, &self.name])
                .stdin(Stdio::null())
                .output();
        }
        let _ = Command::new("userdel")
            .arg(&self.name)
            .stdin(Stdio::null())
            .output();
        for f in ["/etc/subuid", "/etc/subgid"] {
            let left = fs::read_to_string(f).unwrap_or_default();
            if left
                .lines()
                .any(|l| l.starts_with(&format!("{}:", self.name)))
            {
                eprintln!(
                    "runtime_rootless: {f} still names {} after userdel",
                    self.name
                );
            }
        }
    }
}

/// The first id after every range /etc/subuid and /etc/subgid hand out (and
/// at least 300000, away from the usual 100000 start).
fn free_subid_start() -> u64 {
    let mut end = 300_000u64;
    for f in ["/etc/subuid", "/etc/subgid"] {
        for l in fs::read_to_string(f).unwrap_or_default().lines() {
            let mut p = l.split(':').skip(1);
            if let (Some(Ok(a)), Some(Ok(n))) = (
                p.next().map(|x| x.trim().parse::<u64>()),
                p.next().map(|x| x.trim().parse::<u64>()),
            ) {
                end = end.max(a + n);
            }
        }
    }
    end.div_ceil(SUBID_COUNT) * SUBID_COUNT
}

/// The real uid of a process, from /proc/PID/status.
fn proc_uid(pid: i32) -> Option<u32> {
    let st = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    st.lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

fn warnings(out: &Output) -> Vec<String> {
    stderr_str(out)
        .lines()
        .filter(|l| l.contains("warning"))
        .map(str::to_string)
        .collect()
}

// -------------------------------------------------------------- tests

#[test]
fn rootless_run_and_lifecycle() {
    require_root!();
    let user = User::create(false);
    let b = user.bundle(&[
        "sh",
        "-c",
        "id -u; id -g; cat /proc/self/uid_map; echo hi > /tmp/made-inside; ls /dev/null /dev/pts/ptmx >/dev/null && mount | grep -c ' /proc '",
    ]);
    let cfg = b.config();
    assert_eq!(cfg["linux"]["uidMappings"][0]["hostID"], json!(user.uid));
    assert_eq!(cfg["linux"]["gidMappings"][0]["hostID"], json!(user.gid));

    // run: root inside, the user's files outside
    let id = unique_id("rl-run");
    let out = user.run(&["run", "--bundle", s(b.path()), &id]);
    assert_success(&out, "rootless run");
    let lines: Vec<String> = stdout_str(&out).lines().map(str::to_string).collect();
    assert_eq!(
        lines.first().map(String::as_str),
        Some("0"),
        "id -u: {lines:?}"
    );
    assert_eq!(
        lines.get(1).map(String::as_str),
        Some("0"),
        "id -g: {lines:?}"
    );
    let map: Vec<&str> = lines
        .get(2)
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(map, ["0", &user.uid.to_string(), "1"], "uid_map: {lines:?}");
    assert_eq!(
        lines.get(3).map(String::as_str),
        Some("1"),
        "/proc mounted: {lines:?}"
    );
    let made = b.rootfs().join("tmp/made-inside");
    let md = fs::metadata(&made).expect("the container wrote /tmp/made-inside");
    assert_eq!((md.uid(), md.gid()), (user.uid, user.gid));
    assert_eq!(fs::read_to_string(&made).unwrap(), "hi\n");
    let w = warnings(&out);
    assert_eq!(w.len(), 1, "one warning line expected: {w:?}");
    assert!(w[0].contains("running without cgroups"), "{w:?}");
    assert!(
        !user.state_root().join(&id).exists(),
        "run left its state dir"
    );

    // the mounts of a rootful config: devpts with a gid= the namespace
    // doesn't map, sysfs without a network namespace
    let rootful = Bundle::busybox().config();
    b.update_config(|c| c["mounts"] = rootful["mounts"].clone());
    b.set_args(&[
        "sh",
        "-c",
        "ls /sys/kernel >/dev/null && ls -n /dev/pts/ptmx",
    ]);
    let id = unique_id("rl-mounts");
    let out = user.run(&["run", "--bundle", s(b.path()), &id]);
    assert_success(&out, "rootless run with a rootful config's mounts");
    assert!(stdout_str(&out).contains("ptmx"), "{}", stdout_str(&out));

    // create / start / state / list / kill / delete, state under XDG_RUNTIME_DIR
    b.set_args(&["sleep", "300"]);
    let id = unique_id("rl-life");
    assert_success(
        &user.run_to_files(&["create", "--bundle", s(b.path()), &id]),
        "rootless create",
    );
    assert!(
        user.state_root().join(&id).join("state.json").is_file(),
        "state not under $XDG_RUNTIME_DIR/berth-runtime"
    );
    assert_eq!(user.status(&id), "created");
    assert_success(&user.run(&["start", &id]), "rootless start");
    assert!(
        wait_until(DEADLINE, || user.status(&id) == "running"),
        "not running: {:?}",
        user.state(&id)
    );
    let pid = user.state(&id).unwrap()["pid"].as_i64().unwrap() as i32;
    assert_eq!(proc_uid(pid), Some(user.uid), "container init's host uid");
    let out = user.run(&["exec", &id, "id", "-u"]);
    assert_success(&out, "rootless exec");
    assert_eq!(stdout_str(&out).trim(), "0", "exec's uid inside");
    let list = stdout_str(&user.run(&["list"]));
    let row = list
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} not listed: {list}"));
    assert!(row.contains(&user.name), "owner in list: {row}");
    assert_success(&user.run(&["kill", &id, "KILL"]), "rootless kill");
    assert!(
        wait_until(DEADLINE, || user.status(&id) == "stopped"),
        "not stopped: {:?}",
        user.state(&id)
    );
    assert_success(&user.run(&["delete", &id]), "rootless delete");
    assert!(!user.state_root().join(&id).exists(), "state dir left");
    assert!(!alive(pid), "init {pid} left");
    // the killed init is reparented and reaped by the host's init
    assert!(
        wait_until(DEADLINE, || user.processes().is_empty()),
        "processes left: {:?}",
        user.processes()
    );
}

#[test]
fn rootless_subordinate_ids_through_newuidmap() {
    require_root!();
    for tool in ["/usr/bin/newuidmap", "/usr/bin/newgidmap"] {
        assert!(
            Path::new(tool).exists(),
            "{tool} missing: install the uidmap package (make deps)"
        );
    }
    let user = User::create(true);
    let start = user.subids.unwrap();
    let b = user.bundle(&[
        "sh",
        "-c",
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; echo x > /tmp/by-1000",
    ]);
    b.update_config(|c| {
        let maps = |own: u32| {
            json!([{"containerID": 0, "hostID": own, "size": 1},
                   {"containerID": 1, "hostID": start, "size": SUBID_COUNT}])
        };
        c["linux"]["uidMappings"] = maps(user.uid);
        c["linux"]["gidMappings"] = maps(user.gid);
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    let id = unique_id("rl-sub");
    let out = user.run(&["run", "--bundle", s(b.path()), &id]);
    assert_success(&out, "rootless run with subordinate ids");
    let text = stdout_str(&out);
    let rows: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    let want_uid = [
        vec!["0".to_string(), user.uid.to_string(), "1".into()],
        vec!["1".into(), start.to_string(), SUBID_COUNT.to_string()],
    ];
    assert_eq!(rows.get(0..2), Some(&want_uid[..]), "uid_map: {text}");
    assert_eq!(
        rows.get(4).map(|r| r.join(" ")),
        Some("1000".into()),
        "{text}"
    );
    let md = fs::metadata(b.rootfs().join("tmp/by-1000")).expect("file written as uid 1000");
    assert_eq!(
        u64::from(md.uid()),
        start + 999,
        "host owner of uid 1000's file"
    );
    assert_eq!(
        u64::from(md.gid()),
        start + 999,
        "host group of gid 1000's file"
    );

    // a range the files don't grant is refused before anything is made
    b.update_config(|c| {
        c["linux"]["uidMappings"][1]["size"] = json!(SUBID_COUNT + 1);
    });
    let id = unique_id("rl-sub-bad");
    let out = user.run(&["run", "--bundle", s(b.path()), &id]);
    assert!(!out.status.success(), "an ungranted range was accepted");
    let err = stderr_str(&out);
    assert!(
        err.contains("not granted") && err.contains("/etc/subuid"),
        "error names the grant: {err}"
    );
    assert!(!user.state_root().join(&id).exists(), "state dir left");
}

/// Cgroup directories of one v1 hierarchy chowned to the user, removed on drop.
struct Delegated {
    dirs: Vec<PathBuf>,
}

impl Drop for Delegated {
    fn drop(&mut self) {
        for d in &self.dirs {
            if let Ok(rd) = fs::read_dir(d) {
                for e in rd.flatten().filter(|e| e.path().is_dir()) {
                    let _ = fs::remove_dir(e.path());
                }
            }
            let _ = fs::remove_dir(d);
        }
    }
}

#[test]
fn rootless_delegated_cgroup() {
    require_root!();
    let user = User::create(false);
    let name = unique_id("rl-deleg");
    let mut deleg = Delegated { dirs: Vec::new() };
    for h in ["pids", "memory"] {
        let mount = Path::new("/sys/fs/cgroup").join(h);
        assert!(
            mount.join("cgroup.procs").exists(),
            "{} is no cgroup v1 hierarchy: this test delegates v1 directories",
            mount.display()
        );
        let d = mount.join(&name);
        fs::create_dir(&d).unwrap();
        deleg.dirs.push(d.clone());
        for p in [d.clone(), d.join("cgroup.procs"), d.join("tasks")] {
            std::os::unix::fs::chown(&p, Some(user.uid), Some(user.gid)).unwrap();
        }
    }
    let b = user.bundle(&["sleep", "300"]);
    let id = unique_id("rl-cg");
    b.update_config(|c| c["linux"]["cgroupsPath"] = json!(format!("/{name}/{id}")));
    let out = user.run_to_files(&["create", "--bundle", s(b.path()), &id]);
    assert_success(&out, "rootless create in delegated cgroups");
    let w = warnings(&out);
    assert_eq!(w.len(), 1, "one warning line expected: {w:?}");
    assert!(
        w[0].contains("of") && w[0].contains("cgroup hierarchies"),
        "{w:?}"
    );
    let pid = user.state(&id).unwrap()["pid"].as_i64().unwrap() as i32;
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for h in ["pids", "memory"] {
        let want = format!(":{h}:/{name}/{id}");
        assert!(
            cg.lines().any(|l| l.ends_with(&want)),
            "init not in the delegated {h} cgroup: {cg}"
        );
    }
    assert_success(&user.run(&["delete", "--force", &id]), "rootless delete");
    for d in &deleg.dirs {
        assert!(!d.join(&id).exists(), "{} left", d.join(&id).display());
    }

    // limits need every hierarchy: refused up front, nothing left behind
    b.update_config(|c| c["linux"]["resources"] = json!({"pids": {"limit": 20}}));
    let id = unique_id("rl-cg-lim");
    b.update_config(|c| c["linux"]["cgroupsPath"] = json!(format!("/{name}/{id}")));
    let out = user.run(&["create", "--bundle", s(b.path()), &id]);
    assert!(
        !out.status.success(),
        "limits without cgroups were accepted"
    );
    assert!(
        stderr_str(&out).contains("linux.resources"),
        "error names linux.resources: {}",
        stderr_str(&out)
    );
    assert!(!user.state_root().join(&id).exists(), "state dir left");
    for d in &deleg.dirs {
        assert!(!d.join(&id).exists(), "{} left", d.join(&id).display());
    }
}
