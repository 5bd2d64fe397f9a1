//! What the `berth` CLI end-to-end tests share: a private berth (its own
//! root and state dirs, so its own manager), the busybox archive from
//! ../shared/conformance/make-busybox-image.sh, commands with a deadline, and
//! a Drop guard that removes every container, kills the manager and its
//! shims, unmounts and deletes what the test made, even when it fails.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::{cgroup_dirs_named, mounts_under, processes_with_arg, wait_until};
use tempfile::TempDir;

/// How long one berth command may take before the test fails (a healthy one
/// takes well under a second; a first pull or load a few).
pub const CMD_TIMEOUT: Duration = Duration::from_secs(60);

pub use crate::interop::conformance_script;

/// The `berth` binary under test: `$BERTH_CLI`, else the one beside the
/// runtime under test (same profile), whose manager, shim and runtime sit
/// beside it too.
pub fn berth_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_CLI").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let rt = crate::runtime_bin();
    let dir = rt.parent().expect("runtime dir").to_path_buf();
    let bin = dir.join("berth");
    for b in [
        "berth",
        "berth-manager",
        "containerd-shim-berth-v2",
        "berth-runtime",
    ] {
        assert!(
            dir.join(b).exists(),
            "{} missing: build the workspace (cargo build --workspace, or make release)",
            dir.join(b).display()
        );
    }
    bin
}

/// What a finished command did.
#[derive(Debug)]
pub struct Out {
    pub cmdline: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// shown with a failure: the tail of the manager's log
    pub context: String,
}

impl Out {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// Panics with everything it printed unless it exited 0.
    pub fn ok(self) -> Out {
        assert!(self.status.success(), "{self}");
        self
    }

    pub fn out(&self) -> &str {
        self.stdout.trim()
    }

    /// stderr lines that are not empty.
    pub fn err_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` -> {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.cmdline,
            self.status,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )?;
        if !self.context.is_empty() {
            write!(
                f,
                "\n--- manager.log (last lines):\n{}",
                self.context.trim_end()
            )?;
        }
        Ok(())
    }
}

/// Runs `cmd` with stdin from /dev/null; kills it and panics after `timeout`.
/// Packs an OCI image layout dir (`oci-layout`, `index.json`, `blobs/`) into
/// the archive `tar`, for `berth load`: how tests make images with configs
/// of their own.
pub fn tar_oci_layout(layout: &Path, tar: &Path) {
    let out = run_cmd(
        Command::new("tar")
            .arg("-cf")
            .arg(tar)
            .arg("-C")
            .arg(layout)
            .args(["oci-layout", "index.json", "blobs"]),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{out}");
}

pub fn run_cmd(cmd: &mut Command, timeout: Duration) -> Out {
    run_cmd_input(cmd, None, timeout)
}

/// Runs `cmd` with `input` (then end of file) on its stdin, or /dev/null.
pub fn run_cmd_input(cmd: &mut Command, input: Option<&[u8]>, timeout: Duration) -> Out {
    let cmdline = format!("{cmd:?}");
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmdline}: {e}"));
    if let Some(data) = input {
        let mut stdin = child.stdin.take().unwrap();
        let data = data.to_vec();
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&data);
        });
    }
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let t2 = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmdline} did not finish within {}s", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Out {
        cmdline,
        status,
        stdout: t1.join().unwrap_or_default(),
        stderr: t2.join().unwrap_or_default(),
        context: String::new(),
    }
}

/// A private berth: its own root and state dirs, so its own manager.
pub struct Berth {
    pub bin: PathBuf,
    dir: TempDir,
    /// the network namespace every command (so the manager) runs in; none:
    /// the host's, with no default bridge (`BERTH_BRIDGE=none`) so no test
    /// but the network ones ever makes one
    netns: Option<PathBuf>,
}

impl Default for Berth {
    fn default() -> Self {
        Self::new()
    }
}

impl Berth {
    pub fn new() -> Berth {
        let dir = tempfile::Builder::new()
            .prefix("berth-cli-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        std::fs::create_dir_all(dir.path().join("root")).unwrap();
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        Berth {
            bin: berth_bin(),
            dir,
            netns: None,
        }
    }

    /// A private berth whose commands and manager run in the network
    /// namespace at `netns` (e.g. `/proc/<pid>/ns/net` of a holder the test
    /// made), with docker's default bridge.
    pub fn in_netns(netns: &Path) -> Berth {
        let mut b = Berth::new();
        b.netns = Some(netns.to_path_buf());
        b
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A scratch dir inside the test's temp dir (removed with it).
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={}", ns.display()))
                    .arg("--")
                    .arg(&self.bin);
                c
            }
            None => {
                let mut c = Command::new(&self.bin);
                c.env("BERTH_BRIDGE", "none");
                c
            }
        };
        c.args(args)
            .env("BERTH_ROOT", self.root())
            .env("BERTH_STATE", self.state());
        c
    }

    /// Runs `berth ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Out {
        self.with_log(run_cmd(&mut self.command(args), CMD_TIMEOUT))
    }

    /// Runs `berth ARGS` with `input` on its stdin.
    pub fn run_input(&self, args: &[&str], input: &[u8]) -> Out {
        self.with_log(run_cmd_input(
            &mut self.command(args),
            Some(input),
            CMD_TIMEOUT,
        ))
    }

    fn with_log(&self, mut out: Out) -> Out {
        let log = std::fs::read_to_string(self.state().join("manager.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        out.context = lines[lines.len().saturating_sub(20)..].join("\n");
        out
    }

    /// Loads the busybox OCI archive (built by make-busybox-image.sh into
    /// this test's own dir); returns the archive's path.
    pub fn load_busybox(&self) -> PathBuf {
        let images = busybox_images(&self.scratch("images"));
        let tar = images.join("busybox-oci.tar");
        let out = self.run(&["load", "-i", tar.to_str().unwrap()]).ok();
        assert!(out.stdout.contains("busybox"), "{out}");
        tar
    }

    /// Runs a detached busybox container `name`, its init `sh -c script`
    /// (busybox loaded already); returns its id.
    pub fn busybox_sh(&self, name: &str, script: &str) -> String {
        let out = self.run(&["run", "-d", "--name", name, "busybox", "sh", "-c", script]);
        out.ok().out().to_string()
    }

    /// Loads busybox and runs a detached container `name` with the named
    /// volume `vol` at /data, its init `sh -c script`.
    pub fn busybox_with_volume(&self, name: &str, vol: &str, script: &str) {
        self.load_busybox();
        let volume = format!("{vol}:/data");
        self.run(&[
            "run", "-d", "--name", name, "-v", &volume, "busybox", "sh", "-c", script,
        ])
        .ok();
    }

    /// The pid of the manager serving this berth, if one runs.
    pub fn manager_pids(&self) -> Vec<i32> {
        let state = self.state().display().to_string();
        processes_with_arg(&state)
            .into_iter()
            .filter(|pid| {
                // argv[0] only: shims name the manager binary in their flags
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| {
                        let argv0 = c.split(|&b| b == 0).next().unwrap_or_default();
                        String::from_utf8_lossy(argv0).ends_with("berth-manager")
                    })
                    .unwrap_or(false)
            })
            .collect()
    }

    /// Ids of every container this berth knows.
    pub fn container_ids(&self) -> Vec<String> {
        let out = run_cmd(&mut self.command(["ps", "-aq", "--no-trunc"]), CMD_TIMEOUT);
        out.stdout
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// What a finished test must not leave: mounts under root/state,
    /// processes naming the test's dirs (manager, shims), cgroups of `ids`.
    pub fn leftovers(&self, ids: &[String]) -> Vec<String> {
        let mut left = Vec::new();
        for p in [self.root(), self.state()] {
            left.extend(mounts_under(&p).into_iter().map(|m| format!("mount {m}")));
        }
        for id in ids {
            left.extend(
                cgroup_dirs_named(id)
                    .into_iter()
                    .map(|d| format!("cgroup {}", d.display())),
            );
            left.extend(
                processes_with_arg(id)
                    .into_iter()
                    .map(|p| format!("process {p} ({})", cmdline_of(p))),
            );
        }
        left
    }

    /// Asserts that no container is listed and nothing of `ids` (see
    /// [`Berth::leftovers`]) is left.
    pub fn assert_all_gone(&self, ids: &[String]) {
        let listed = self.container_ids();
        assert!(listed.is_empty(), "containers left: {listed:?}");
        let left = self.leftovers(ids);
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    /// Kills the manager (the test's own only).
    pub fn kill_manager(&self) {
        for pid in self.manager_pids() {
            // SAFETY: kill has no memory effects; the pid is this test's manager.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        assert!(
            wait_until(Duration::from_secs(10), || self.manager_pids().is_empty()),
            "manager did not die"
        );
    }
}

pub fn cmdline_of(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            String::from_utf8_lossy(&c)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

impl Drop for Berth {
    fn drop(&mut self) {
        let ids = self.container_ids();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = run_cmd(&mut self.command(&args), CMD_TIMEOUT);
        }
        let dir = self.dir.path().display().to_string();
        for pid in processes_with_arg(&dir) {
            // SAFETY: as in kill_manager; these processes name our temp dir.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        for id in &ids {
            for pid in processes_with_arg(id) {
                // SAFETY: a shim or container process of this test's container.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        wait_until(Duration::from_secs(5), || {
            processes_with_arg(&dir).is_empty()
        });
        let mut mounts = mounts_under(self.dir.path());
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let c = std::ffi::CString::new(m).unwrap();
            // SAFETY: c is a valid C string; a lazy unmount of our own mount.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        for id in &ids {
            for d in cgroup_dirs_named(id) {
                let _ = std::fs::remove_dir(d);
            }
        }
    }
}

/// Builds the busybox images into `dir` (make-busybox-image.sh DIR).
pub fn busybox_images(dir: &Path) -> PathBuf {
    let out = run_cmd(
        Command::new("bash")
            .arg(conformance_script("make-busybox-image.sh"))
            .arg(dir),
        Duration::from_secs(300),
    );
    assert!(out.status.success(), "{out}");
    dir.to_path_buf()
}

/// A ustar archive built in memory, for hostile layers.
#[derive(Default)]
pub struct Tar {
    data: Vec<u8>,
}

impl Tar {
    fn header(&mut self, name: &str, typeflag: u8, size: usize, link: &str, mode: u32) {
        let mut h = [0u8; 512];
        assert!(name.len() < 100 && link.len() < 100);
        h[..name.len()].copy_from_slice(name.as_bytes());
        let oct = |h: &mut [u8; 512], off: usize, len: usize, v: u64| {
            let s = format!("{:0w$o}\0", v, w = len - 1);
            h[off..off + len].copy_from_slice(s.as_bytes());
        };
        oct(&mut h, 100, 8, mode as u64);
        oct(&mut h, 108, 8, 0);
        oct(&mut h, 116, 8, 0);
        oct(&mut h, 124, 12, size as u64);
        oct(&mut h, 136, 12, 0);
        h[148..156].copy_from_slice(b"        ");
        h[156] = typeflag;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        self.data.extend_from_slice(&h);
    }

    pub fn file(mut self, name: &str, content: &[u8]) -> Tar {
        self.header(name, b'0', content.len(), "", 0o644);
        self.data.extend_from_slice(content);
        let pad = (512 - content.len() % 512) % 512;
        self.data.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn dir(mut self, name: &str) -> Tar {
        self.header(name, b'5', 0, "", 0o755);
        self
    }

    pub fn symlink(mut self, name: &str, target: &str) -> Tar {
        self.header(name, b'2', 0, target, 0o777);
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.data.extend(std::iter::repeat_n(0u8, 1024));
        self.data
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(data).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// An OCI archive (tar of an image layout) with one layer and the name
/// `reference`; `corrupt_layer` stores a blob shorter than its digest says.
pub fn oci_archive(path: &Path, reference: &str, layer: &[u8], corrupt_layer: bool) {
    let layer_digest = sha256_hex(layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_digest}")]},
    })
    .to_string();
    let config_digest = sha256_hex(config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{config_digest}"), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": format!("sha256:{layer_digest}"), "size": layer.len()}],
    })
    .to_string();
    let manifest_digest = sha256_hex(manifest.as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": format!("sha256:{manifest_digest}"), "size": manifest.len(),
                       "annotations": {"io.containerd.image.name": reference,
                                       "org.opencontainers.image.ref.name": "latest"}}],
    })
    .to_string();
    let stored_layer = if corrupt_layer {
        &layer[..layer.len() / 2]
    } else {
        layer
    };
    let tar = Tar::default()
        .file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
        .file("index.json", index.as_bytes())
        .dir("blobs/")
        .dir("blobs/sha256/")
        .file(&format!("blobs/sha256/{config_digest}"), config.as_bytes())
        .file(
            &format!("blobs/sha256/{manifest_digest}"),
            manifest.as_bytes(),
        )
        .file(&format!("blobs/sha256/{layer_digest}"), stored_layer)
        .finish();
    std::fs::write(path, tar).unwrap();
}

/// The docker clients on this machine: Debian's docker.io and a newer one.
pub fn docker_clients() -> Vec<PathBuf> {
    let found: Vec<PathBuf> = ["/usr/bin/docker", "/usr/local/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect();
    assert!(
        !found.is_empty(),
        "no docker client: install Debian's docker.io (its `docker` CLI is what these tests drive)"
    );
    found
}

/// `berth system service` of a private berth: its Docker API on
/// `state/docker.sock` for docker's own clients, stopped on drop.
pub struct ApiService {
    child: std::process::Child,
    /// The socket it serves.
    pub sock: PathBuf,
    /// A `DOCKER_CONFIG` of its own, so no client reads the host's.
    pub config: TempDir,
}

impl ApiService {
    /// Starts it and waits until `/_ping` answers 200.
    pub fn start(b: &Berth) -> ApiService {
        let sock = b.state().join("docker.sock");
        let log = std::fs::File::create(b.scratch("api").join("api.log")).unwrap();
        let child = b
            .command(["system", "service", "--time", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn berth system service");
        let s = ApiService {
            child,
            sock,
            config: tempfile::tempdir().unwrap(),
        };
        assert!(
            wait_until(Duration::from_secs(20), || s.pings()),
            "the service never answered /_ping on {}",
            s.sock.display()
        );
        s
    }

    fn pings(&self) -> bool {
        use std::io::Write;
        let Ok(mut c) = std::os::unix::net::UnixStream::connect(&self.sock) else {
            return false;
        };
        let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
        let mut reply = String::new();
        c.write_all(b"GET /_ping HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n")
            .is_ok()
            && c.read_to_string(&mut reply).is_ok()
            && reply.starts_with("HTTP/1.1 200")
    }

    /// The service's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `docker ARGS` with the docker client `client` against this service.
    pub fn docker(&self, client: &Path, args: &[&str]) -> Out {
        self.docker_input(client, args, None)
    }

    /// Like `docker`, with `input` on the client's stdin.
    pub fn docker_input(&self, client: &Path, args: &[&str], input: Option<&[u8]>) -> Out {
        run_cmd_input(
            Command::new(client)
                .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
                .env("DOCKER_CONFIG", self.config.path())
                .args(args),
            input,
            CMD_TIMEOUT,
        )
    }
}

impl Drop for ApiService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
