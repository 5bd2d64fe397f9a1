//! Container breakouts tried for real against `berth-runtime`: each test
//! runs the attack from a busybox container (or a hostile image/config) and
//! asserts it failed and left the host as it was.
//!
//! How each test was shown to fail without its defence: the whole file
//! was run (`BERTH_RUNTIME=<binary> cargo test -p berth-tests --test
//! runtime_attacks`) against two binaries besides the real one:
//! - "the weakened build": berth-runtime built from a scratch copy of the
//!   source tree outside the repository, edited so that the sealed re-exec
//!   returned at once, close_leaked_fds did nothing, process.cwd was a plain
//!   chdir, paths in the rootfs were joined to it and opened with the
//!   kernel following every link (no openat2, no userspace resolver), the
//!   /proc overmount and proc/sysfs symlink checks were gone, device nodes
//!   were made where the userspace resolver led (through symlinks), and no
//!   read-only or masked path was applied. All ten tests failed against it.
//! - "the previous runtime": berth-runtime as built from commit 9fd8af7,
//!   before this hardening.
//!
//! Each test's comment says what it printed there. The shipped binary has
//! no switch that turns a defence off.
//!
//! The runtime under test is a copy of `runtime_bin()` in a temp dir, so an
//! attack that works overwrites the copy, not the build; cleanup uses a
//! second, untouched copy. Every test skips (with a message) unless run as
//! root, uses unique ids and its own `--root`, and removes what it made even
//! when it fails.

use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use berth_fixture::*;
use serde_json::{json, Value};
use tempfile::TempDir;

/// How long to wait for an attacker in a container to report.
const ATTACK_WAIT: Duration = Duration::from_secs(30);

/// The runtime under test, copied, plus a pristine second copy used for
/// comparison and for cleanup if the first one gets overwritten.
struct RuntimeCopy {
    _dir: TempDir,
    bin: PathBuf,
    pristine: PathBuf,
}

impl RuntimeCopy {
    fn new() -> RuntimeCopy {
        let dir = tempfile::Builder::new()
            .prefix("berth-attack-bin-")
            .tempdir()
            .expect("tempdir");
        let bin = dir.path().join("berth-runtime");
        let pristine = dir.path().join("berth-runtime.pristine");
        for p in [&bin, &pristine] {
            fs::copy(runtime_bin(), p).expect("copy the runtime under test");
            fs::set_permissions(p, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        RuntimeCopy {
            _dir: dir,
            bin,
            pristine,
        }
    }

    /// Whether the runtime copy still has the bytes it was copied with.
    fn unchanged(&self) -> bool {
        same_contents(&self.bin, &self.pristine)
    }

    /// A guard that deletes `id` with the pristine copy.
    fn guard(&self, rt: &Runtime, id: &str) -> ContainerGuard {
        ContainerGuard::new(&self.pristine, rt.root(), id)
    }
}

fn same_contents(a: &Path, b: &Path) -> bool {
    let (Ok(mut fa), Ok(mut fb)) = (fs::File::open(a), fs::File::open(b)) else {
        return false;
    };
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let na = read_full(&mut fa, &mut ba);
        let nb = read_full(&mut fb, &mut bb);
        if na != nb || ba[..na] != bb[..nb] {
            return false;
        }
        if na == 0 {
            return true;
        }
    }
}

fn read_full(f: &mut fs::File, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

fn bundle_arg(b: &Bundle) -> String {
    b.path().to_string_lossy().into_owned()
}

/// Adds a bind mount of host `src` at `dest` to the config.
fn add_bind(b: &Bundle, src: &Path, dest: &str) {
    b.update_config(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": dest,
            "type": "bind",
            "source": src,
            "options": ["rbind", "rw"]
        }))
    });
}

/// The container's init pid from `state`.
fn init_pid(rt: &Runtime, id: &str) -> i32 {
    let st = rt.state(id).unwrap_or_else(|| panic!("no state for {id}"));
    st["pid"].as_i64().expect("pid") as i32
}

/// The fd numbers a process holds, sorted.
fn open_fds(pid: i32) -> Vec<i32> {
    let mut v: Vec<i32> = fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read the process' fd dir")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    v.sort();
    v
}

/// Runs `cmd` with `fd` (not close-on-exec) as descriptor `at` in the child,
/// stdout and stderr in files (a detached container keeps them open).
fn output_with_fd(mut cmd: Command, fd: &OwnedFd, at: i32) -> Output {
    let raw = fd.as_raw_fd();
    // SAFETY: between fork and exec the closure only calls dup2/fcntl,
    // which are async-signal-safe, on descriptor numbers it was given.
    unsafe {
        cmd.pre_exec(move || {
            if raw == at {
                let flags = libc::fcntl(at, libc::F_GETFD);
                libc::fcntl(at, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
            } else if libc::dup2(raw, at) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (o, e) = (dir.path().join("out"), dir.path().join("err"));
    let status = cmd
        .stdout(fs::File::create(&o).expect("out"))
        .stderr(fs::File::create(&e).expect("err"))
        .status()
        .expect("spawn the runtime");
    Output {
        status,
        stdout: fs::read(&o).unwrap_or_default(),
        stderr: fs::read(&e).unwrap_or_default(),
    }
}

fn open_dir_fd(p: &Path) -> OwnedFd {
    fs::File::open(p).expect("open host dir").into()
}

/// A host directory the container must never reach, with a marker file in
/// it whose name only the host knows; and whose entries can be compared
/// before and after.
struct Victim {
    dir: TempDir,
    marker: String,
}

impl Victim {
    fn new() -> Victim {
        let dir = tempfile::Builder::new()
            .prefix("berth-victim-")
            .tempdir()
            .expect("tempdir");
        let marker = unique_id("host-only-marker");
        fs::write(dir.path().join(&marker), "host secret\n").expect("write marker");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
        Victim { dir, marker }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.path())
            .expect("read victim dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// Panics unless the directory holds only the marker, still a regular
    /// file with its content, and nothing is mounted in it.
    fn assert_untouched(&self) {
        assert_eq!(
            self.entries(),
            vec![self.marker.clone()],
            "the host directory {} was changed from inside a container",
            self.path().display()
        );
        let md = fs::symlink_metadata(self.path().join(&self.marker)).expect("marker");
        assert!(
            md.file_type().is_file(),
            "the host's marker file was replaced"
        );
        assert_eq!(
            fs::read_to_string(self.path().join(&self.marker)).unwrap_or_default(),
            "host secret\n"
        );
        assert_eq!(
            mounts_under(self.path()),
            Vec::<String>::new(),
            "something was mounted on the host under {}",
            self.path().display()
        );
    }
}

/// A relative symlink target that climbs from anywhere in a bundle to the
/// host's `/` and then into `host_path`.
fn climbing_target(host_path: &Path) -> String {
    format!(
        "{}{}",
        "../".repeat(24),
        host_path.to_string_lossy().trim_start_matches('/')
    )
}

// ------------------------------------------------- (a) CVE-2019-5736 class

/// The attacker: waits for a process in its pid namespace whose executable
/// isn't busybox (a runtime process setting up a container process), opens
/// that executable read-only, and once nothing runs it any more reopens it
/// through /proc/self/fd/3 for writing and writes over it. It runs with
/// CAP_SYS_PTRACE, as a privileged container would, so the setup
/// processes' being non-dumpable doesn't stop it: only what the link leads
/// to matters.
const EXE_ATTACKER: &str = r#"
out=/out/log
echo ready >> $out
while :; do
  for d in /proc/[0-9]*; do
    [ "$d" = "/proc/$$" ] && continue
    [ -e "$d/exe" ] || continue
    [ "$d/exe" -ef /bin/busybox ] && continue
    command exec 3<"$d/exe" || continue
    echo "caught $(readlink /proc/self/fd/3)" >> $out
    break 2
  done 2>/dev/null
done
i=0
while [ $i -lt 300 ]; do
  if (echo PWNED >/proc/self/fd/3) 2>/dev/null; then echo wrote >> $out; break; fi
  i=$((i+1))
  usleep 10000
done
echo done >> $out
exec sleep 1000
"#;

struct Attacker {
    rt: Runtime,
    copy: RuntimeCopy,
    _bundle: Bundle,
    out: TempDir,
    id: String,
    _guard: ContainerGuard,
}

impl Drop for Attacker {
    fn drop(&mut self) {
        // a successful attack leaves the copy unrunnable, and the fixture's
        // cleanup (Runtime's drop) runs it: put the original bytes back first
        if !self.copy.unchanged() {
            let _ = fs::remove_file(&self.copy.bin);
            let _ = fs::copy(&self.copy.pristine, &self.copy.bin);
        }
    }
}

impl Attacker {
    fn start() -> Attacker {
        let copy = RuntimeCopy::new();
        let rt = Runtime::with_bin(&copy.bin);
        let bundle = Bundle::busybox_with_runtime(&copy.bin);
        let out = tempfile::tempdir().expect("tempdir");
        add_bind(&bundle, out.path(), "/out");
        bundle.set_args(&["sh", "-c", EXE_ATTACKER]);
        bundle.update_config(|c| {
            let caps = &mut c["process"]["capabilities"];
            for set in ["bounding", "effective", "permitted"] {
                caps[set]
                    .as_array_mut()
                    .expect("capability set")
                    .push(Value::from("CAP_SYS_PTRACE"));
            }
        });
        let id = unique_id("exe-attacker");
        let guard = copy.guard(&rt, &id);
        let o = rt.run_to_files(["run", "-d", "--bundle", &bundle_arg(&bundle), &id]);
        assert_success(&o, "run -d the attacker");
        assert!(
            wait_until(ATTACK_WAIT, || Attacker::log_of(&out).contains("ready")),
            "the attacker never started"
        );
        Attacker {
            rt,
            copy,
            _bundle: bundle,
            out,
            id,
            _guard: guard,
        }
    }

    fn log_of(out: &TempDir) -> String {
        fs::read_to_string(out.path().join("log")).unwrap_or_default()
    }

    fn log(&self) -> String {
        Self::log_of(&self.out)
    }

    /// Waits for the attacker's verdict and checks it failed.
    fn assert_failed(&self) {
        let log = self.log();
        assert!(
            log.contains("caught"),
            "the attacker never got hold of a runtime executable, so the test proved nothing:\n{log}"
        );
        assert!(
            wait_until(ATTACK_WAIT, || self.log().contains("done")),
            "the attacker never finished:\n{}",
            self.log()
        );
        let log = self.log();
        eprintln!("attacker log:\n{log}");
        assert!(
            !log.contains("wrote"),
            "the attacker wrote to the runtime's executable:\n{log}"
        );
        assert!(
            self.copy.unchanged(),
            "the runtime binary on the host was overwritten from inside a container"
        );
        let caught = log
            .lines()
            .find(|l| l.starts_with("caught"))
            .unwrap_or_default();
        // the sealed view is a detached read-only bind mount of the binary
        // (its path is the detached mount's root, not the host path) or a
        // sealed memfd ("/memfd:berth-runtime (deleted)")
        let host_path = self.copy.bin.to_string_lossy().into_owned();
        assert!(
            !caught.contains(&host_path),
            "the container reached the host's runtime binary itself: {caught}"
        );
    }
}

/// `exec`: while the runtime sets up the new process in the container, the
/// attacker opens that process' executable and, once the runtime is done,
/// writes over it. Retried until the attacker catches a setup process.
/// Weakened build: the attacker logged "caught
/// /tmp/berth-attack-bin-…/berth-runtime" then "wrote" (the copy was
/// overwritten with "PWNED"); the test failed on "the attacker wrote to the
/// runtime's executable".
#[test]
fn runtime_binary_cannot_be_overwritten_during_exec() {
    require_root!();
    let a = Attacker::start();
    for _ in 0..100 {
        let _ = a.rt.run_to_files(["exec", a.id.as_str(), "true"]);
        if a.log().contains("caught") {
            break;
        }
    }
    a.assert_failed();
    // the container is still usable with the untouched runtime
    let o = Command::new(&a.copy.bin)
        .args(["--root"])
        .arg(a.rt.root())
        .args(["exec", a.id.as_str(), "true"])
        .output()
        .expect("exec");
    assert_success(&o, "exec true after the attack");
}

/// `create`/`start`: a second container joins the attacker's pid
/// namespace; its init waits for `start` as a copy of the runtime, the
/// attacker opens its executable, and writes once `start` has run.
/// Weakened build and previous runtime: "caught
/// /tmp/berth-attack-bin-…/berth-runtime", "wrote"; the copy no longer ran
/// ("Exec format error").
#[test]
fn runtime_binary_cannot_be_overwritten_during_create_and_start() {
    require_root!();
    let a = Attacker::start();
    let pid = init_pid(&a.rt, &a.id);
    let victim = Bundle::busybox_with_runtime(&a.copy.bin);
    victim.set_args(&["true"]);
    victim.update_config(|c| {
        for ns in c["linux"]["namespaces"].as_array_mut().expect("namespaces") {
            if ns["type"] == "pid" {
                ns["path"] = Value::from(format!("/proc/{pid}/ns/pid"));
            }
        }
    });
    let id = unique_id("exe-victim");
    let _g = a.copy.guard(&a.rt, &id);
    let o =
        a.rt.run_to_files(["create", "--bundle", &bundle_arg(&victim), &id]);
    assert_success(&o, "create the second container");
    assert!(
        wait_until(ATTACK_WAIT, || a.log().contains("caught")),
        "the attacker never caught the waiting init:\n{}",
        a.log()
    );
    let _ = a.rt.run_to_files(["start", &id]);
    a.assert_failed();
}

// ------------------------------------------------ (b) descriptor leaks

/// A host directory handed to the runtime as an inherited descriptor (as a
/// careless caller would) must not reach the container, and neither must
/// anything the runtime itself opened.
/// Weakened build: the container's init held `[0, 1, 2, 7, 10, 251]` (7 the
/// host dir, the others inherited from the test's own caller). The previous
/// runtime passed (it already had close_range).
#[test]
fn no_host_descriptor_reaches_the_container() {
    require_root!();
    let copy = RuntimeCopy::new();
    let rt = Runtime::with_bin(&copy.bin);
    let victim = Victim::new();
    let bundle = Bundle::busybox_with_runtime(&copy.bin);
    bundle.set_args(&["sleep", "1000"]);
    let id = unique_id("fd-leak");
    let _g = copy.guard(&rt, &id);
    let fd = open_dir_fd(victim.path());
    let mut cmd = rt.command();
    cmd.args(["run", "-d", "--bundle", &bundle_arg(&bundle), &id]);
    assert_success(&output_with_fd(cmd, &fd, 7), "run -d with fd 7 inherited");
    let pid = init_pid(&rt, &id);
    assert_eq!(
        open_fds(pid),
        vec![0, 1, 2],
        "descriptors of the container's init"
    );

    // exec: same, and --preserve-fds keeps exactly the ones asked for
    let pidfile = tempfile::tempdir().expect("tempdir");
    let pf = pidfile.path().join("pid");
    let mut cmd = rt.command();
    cmd.args(["exec", "-d", "--pid-file"])
        .arg(&pf)
        .args([id.as_str(), "sleep", "1000"]);
    assert_success(&output_with_fd(cmd, &fd, 7), "exec -d with fd 7 inherited");
    let epid: i32 = fs::read_to_string(&pf)
        .expect("pid file")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        open_fds(epid),
        vec![0, 1, 2],
        "descriptors of the exec'd process"
    );

    let pf2 = pidfile.path().join("pid2");
    let mut cmd = rt.command();
    cmd.args(["exec", "-d", "--preserve-fds", "1", "--pid-file"])
        .arg(&pf2)
        .args([id.as_str(), "sleep", "1000"]);
    assert_success(
        &output_with_fd(cmd, &fd, 3),
        "exec -d --preserve-fds 1 with fd 3 inherited",
    );
    let epid2: i32 = fs::read_to_string(&pf2)
        .expect("pid file")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        open_fds(epid2),
        vec![0, 1, 2, 3],
        "--preserve-fds 1 keeps fd 3 only"
    );
}

/// `process.cwd` = `/proc/self/fd/N` (CVE-2024-21626): for every plausible
/// N, with a host directory inherited as fd 7, the container either is
/// refused or starts inside its own root: it never lists the host dir.
/// Weakened build: "cwd /proc/self/fd/7 reached the host directory", `ls`
/// listed the host's marker file. The previous runtime passed (it already
/// refused a cwd that getcwd reports unreachable).
#[test]
fn cwd_through_proc_self_fd_stays_inside() {
    require_root!();
    let copy = RuntimeCopy::new();
    let rt = Runtime::with_bin(&copy.bin);
    let victim = Victim::new();
    let fd = open_dir_fd(victim.path());
    let bundle = Bundle::busybox_with_runtime(&copy.bin);
    bundle.set_args(&["sh", "-c", "ls -a . .. ../.. 2>&1"]);
    let mut refused = 0;
    for n in 3..=15 {
        bundle.update_config(|c| c["process"]["cwd"] = Value::from(format!("/proc/self/fd/{n}")));
        let id = unique_id("cwd-fd");
        let _g = copy.guard(&rt, &id);
        let mut cmd = rt.command();
        cmd.args(["run", "--bundle", &bundle_arg(&bundle), &id]);
        let out = output_with_fd(cmd, &fd, 7);
        let text = format!("{}{}", stdout_str(&out), stderr_str(&out));
        assert!(
            !text.contains(&victim.marker),
            "cwd /proc/self/fd/{n} reached the host directory:\n{text}"
        );
        if !out.status.success() {
            refused += 1;
        }
    }
    assert!(refused > 0, "no cwd through /proc/self/fd was refused");

    // exec --cwd into a running container
    bundle.update_config(|c| c["process"]["cwd"] = Value::from("/"));
    bundle.set_args(&["sleep", "1000"]);
    let id = unique_id("cwd-fd-exec");
    let _g = copy.guard(&rt, &id);
    assert_success(
        &rt.run_to_files(["run", "-d", "--bundle", &bundle_arg(&bundle), &id]),
        "run -d",
    );
    for n in 3..=15 {
        let mut cmd = rt.command();
        cmd.args(["exec", "--cwd", &format!("/proc/self/fd/{n}"), &id])
            .args(["sh", "-c", "ls -a . .. ../.. 2>&1"]);
        let out = output_with_fd(cmd, &fd, 7);
        let text = format!("{}{}", stdout_str(&out), stderr_str(&out));
        assert!(
            !text.contains(&victim.marker),
            "exec --cwd /proc/self/fd/{n} reached the host directory:\n{text}"
        );
    }
    victim.assert_untouched();
}

// ------------------------------------- (c) mount destinations (CVE-2021-30465)

/// Mount destinations through symlinks in the image that climb out of the
/// rootfs (relative) or name a host path (absolute): nothing is made or
/// mounted in the host's directory.
/// Weakened build: `sub` was made in the host directory (the entry list was
/// ["host-only-marker-…", "sub"]). The previous runtime passed (its
/// userspace resolver refused the escape).
#[test]
fn symlinked_mount_destination_cannot_reach_the_host() {
    require_root!();
    let copy = RuntimeCopy::new();
    let rt = Runtime::with_bin(&copy.bin);
    let victim = Victim::new();
    for (name, link) in [
        ("relative", climbing_target(victim.path())),
        ("absolute", victim.path().to_string_lossy().into_owned()),
    ] {
        let bundle = Bundle::busybox_with_runtime(&copy.bin);
        fs::create_dir_all(bundle.rootfs().join("mnt")).unwrap();
        symlink(&link, bundle.rootfs().join("mnt/evil")).unwrap();
        bundle.update_config(|c| {
            c["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/mnt/evil/sub",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev"]
            }))
        });
        bundle.set_args(&["sh", "-c", "ls -a /mnt/evil /mnt/evil/sub 2>&1"]);
        let id = unique_id("mnt-link");
        let _g = copy.guard(&rt, &id);
        let out = rt.run(["run", "--bundle", &bundle_arg(&bundle), &id]);
        eprintln!(
            "{name} link: {} {}{}",
            out.status,
            stdout_str(&out),
            stderr_str(&out)
        );
        assert!(
            !stdout_str(&out).contains(&victim.marker),
            "{name} link: the container saw the host directory"
        );
        victim.assert_untouched();
        assert_eq!(mounts_under(bundle.path()), Vec::<String>::new());
    }
}

/// Two containers share a volume (CVE-2021-30465's shape): one swaps a
/// directory in it for a symlink to a host directory as fast as it can,
/// while the other is created again and again with a mount destination
/// under that directory. Nothing may be made or mounted on the host.
/// Weakened build: `sub` appeared in the host directory. The previous
/// runtime (userspace check, then mkdir and mount by path) did not lose the
/// race in the 60 tries, so this test only shows the kernel-side resolution
/// holds under the race; the static test above shows what losing means.
#[test]
fn racing_symlink_swap_in_shared_volume_cannot_reach_the_host() {
    require_root!();
    let copy = RuntimeCopy::new();
    let rt = Runtime::with_bin(&copy.bin);
    let victim = Victim::new();
    let volume = tempfile::Builder::new()
        .prefix("berth-volume-")
        .tempdir()
        .unwrap();
    fs::set_permissions(volume.path(), fs::Permissions::from_mode(0o777)).unwrap();

    let racer = Bundle::busybox_with_runtime(&copy.bin);
    add_bind(&racer, volume.path(), "/vol");
    let swap = format!(
        "cd /vol && mkdir -p x.d && ln -sfn '{}' x.l && echo ready > ready && \
         while :; do mv x.d x; mv x x.d; mv x.l x; mv x x.l; done",
        climbing_target(victim.path())
    );
    racer.set_args(&["sh", "-c", &swap]);
    let rid = unique_id("racer");
    let _rg = copy.guard(&rt, &rid);
    assert_success(
        &rt.run_to_files(["run", "-d", "--bundle", &bundle_arg(&racer), &rid]),
        "run -d the racer",
    );
    assert!(
        wait_until(ATTACK_WAIT, || volume.path().join("ready").exists()),
        "the racer never started"
    );

    let target = Bundle::busybox_with_runtime(&copy.bin);
    add_bind(&target, volume.path(), "/vol");
    target.update_config(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/vol/x/sub",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "nodev"]
        }))
    });
    target.set_args(&["true"]);
    let mut created = 0;
    for _ in 0..60 {
        let id = unique_id("race-target");
        let _g = copy.guard(&rt, &id);
        let out = rt.run(["run", "--bundle", &bundle_arg(&target), &id]);
        if out.status.success() {
            created += 1;
        }
        victim.assert_untouched();
    }
    eprintln!("{created} of 60 racing creates succeeded");
    victim.assert_untouched();
    assert_eq!(mounts_under(target.path()), Vec::<String>::new());
}

// -------------------------------------------------- (d) procfs and sysfs

/// An image whose /proc is a symlink: procfs would land wherever it points
/// (here a directory a later tmpfs hides), out of reach of the masks and
/// checks that rely on /proc. Refused with a clear error.
/// Previous runtime: create succeeded ("a symlinked /proc was accepted").
/// Weakened build: create failed, but for an unrelated reason (its naive
/// lookup followed the absolute link to the host's /tmp/fakeproc, which
/// didn't exist), so the test failed on the error not naming the symlink.
#[test]
fn proc_symlink_in_image_is_refused() {
    require_root!();
    let copy = RuntimeCopy::new();
    let rt = Runtime::with_bin(&copy.bin);
    let bundle = Bundle::busybox_with_runtime(&copy.bin);
    fs::remove_dir(bundle.rootfs().join("proc")).unwrap();
    fs::create_dir_all(bundle.rootfs().join("tmp/fakeproc")).unwrap();
    symlink("/tmp/fakeproc", bundle.rootfs().join("proc")).unwrap();
    bundle.set_args(&["true"]);
    let id = unique_id("proc-link");
    let _g = copy.guard(&rt, &id);
    let out = rt.run(["run", "--bundle", &bundle_arg(&bundle), &id]);
    let err = stderr_str(&out);
    assert!(!out.status.success(), "a symlinked /proc was accepted");
    assert!(err.contains("proc") && err.contains("symlink"), "{err}");
    assert!(!rt.root().join(&id).exists(), "state left behind");
    assert_eq!(mounts_under(bundle.path()), Vec::<String>::new());
}

/// A config mount over /proc after procfs (a tmpfs, or a bind of a fake
/// tree) would hide the real procfs from the masks: refused.
/// Previous runtime and weakened build: "a tmpfs over /proc was accepted".
#[test]
fn mount_over_proc_is_refused() {
    require_root!();
    let copy = RuntimeCopy::new();
    let rt = Runtime::with_bin(&copy.bin);
    for dest in ["/proc", "/proc/sys"] {
        let bundle = Bundle::busybox_with_runtime(&copy.bin);
        bundle.update_config(|c| {
            c["mounts"].as_array_mut().unwrap().push(json!({
                "destination": dest,
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid"]
            }))
        });
        bundle.set_args(&["true"]);
        let id = unique_id("proc-over");
        let _g = copy.guard(&rt, &id);
        let out = rt.run(["run", "--bundle", &bundle_arg(&bundle), &id]);
        let err = stderr_str(&out);
        assert!(!out.status.success(), "a tmpfs over {dest} was accepted");
        assert!(err.contains("procfs"), "{err}");
        assert_eq!(mounts_under(bundle.path()), Vec::<String>::new());
    }
}

/// From inside a default container: masked paths read empty, read-only
/// /proc paths refuse writes, and neither can be unmounted; a sysctl from
/// the config was applied through the real procfs.
/// Weakened build (no masked or read-only paths): "keys=554",
/// "timer_list=8918". The previous runtime passed: it had masks, without
/// the filesystem checks.
#[test]
fn masked_and_readonly_paths_hold_from_inside() {
    require_root!();
    let copy = RuntimeCopy::new();
    let rt = Runtime::with_bin(&copy.bin);
    let bundle = Bundle::busybox_with_runtime(&copy.bin);
    bundle.update_config(|c| {
        c["linux"]["sysctl"] = json!({"kernel.msgmax": "12345"});
    });
    let script = r#"
        printf 'keys=%s\n' "$(cat /proc/keys 2>&1 | wc -c)"
        printf 'timer_list=%s\n' "$(cat /proc/timer_list 2>&1 | wc -c)"
        v=$(cat /proc/sys/kernel/sysrq)
        if echo "$v" > /proc/sys/kernel/sysrq 2>/dev/null; then echo sysctl-write=ok; else echo sysctl-write=refused; fi
        if echo h > /proc/sysrq-trigger 2>/dev/null; then echo sysrq=ok; else echo sysrq=refused; fi
        if umount /proc/keys 2>/dev/null; then echo umount=ok; else echo umount=refused; fi
        printf 'msgmax=%s\n' "$(cat /proc/sys/kernel/msgmax)"
    "#;
    bundle.set_args(&["sh", "-c", script]);
    let id = unique_id("masks");
    let _g = copy.guard(&rt, &id);
    let out = rt.run(["run", "--bundle", &bundle_arg(&bundle), &id]);
    assert_success(&out, "run");
    let text = stdout_str(&out);
    eprintln!("{text}");
    for want in [
        "keys=0",
        "timer_list=0",
        "sysctl-write=refused",
        "sysrq=refused",
        "umount=refused",
        "msgmax=12345",
    ] {
        assert!(text.lines().any(|l| l == want), "expected {want}:\n{text}");
    }
}

// ------------------------------------------------------ (e) /dev nodes

/// The image's /dev/null is a symlink into a host directory bound into the
/// container: the runtime must not replace the file the link names with a
/// device node (or use it to mask /proc paths); it refuses the symlink.
/// Previous runtime and weakened build (both resolved /dev/null through
/// the link): the host's file was removed and a 1:3 character device made
/// in its place; the test failed on "the host's marker file was replaced".
#[test]
fn dev_null_symlink_in_image_cannot_touch_the_host() {
    require_root!();
    let copy = RuntimeCopy::new();
    let rt = Runtime::with_bin(&copy.bin);
    let victim = Victim::new();
    let bundle = Bundle::busybox_with_runtime(&copy.bin);
    // the image's own /dev, not a tmpfs, so its /dev/null counts
    bundle.update_config(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["destination"] != "/dev");
    });
    add_bind(&bundle, victim.path(), "/hostvol");
    symlink(
        format!("/hostvol/{}", victim.marker),
        bundle.rootfs().join("dev/null"),
    )
    .unwrap();
    bundle.set_args(&["sh", "-c", "ls -l /dev/null; cat /proc/keys | wc -c"]);
    let id = unique_id("devnull-link");
    let _g = copy.guard(&rt, &id);
    let out = rt.run(["run", "--bundle", &bundle_arg(&bundle), &id]);
    eprintln!("{} {}{}", out.status, stdout_str(&out), stderr_str(&out));
    victim.assert_untouched();
    assert!(!out.status.success(), "a symlinked /dev/null was accepted");
    assert!(
        stderr_str(&out).contains("/dev/null"),
        "{}",
        stderr_str(&out)
    );
    assert_eq!(mounts_under(bundle.path()), Vec::<String>::new());
}
