//! `berth run -it` driven through a real pty: the test is the terminal.
//! Commands typed reach the container's shell, its output comes back, the
//! exit code is the shell's, ctrl-p ctrl-q detaches, and the terminal is out
//! of raw mode again once berth exits.

mod cli_support;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use berth_fixture::{require_root, unique_id, wait_until};
use cli_support::Berth;

/// A pty pair; the test holds the master.
struct Pty {
    master: File,
    slave: File,
}

fn openpty() -> Pty {
    let (mut m, mut s) = (0, 0);
    let ws = libc::winsize {
        ws_row: 30,
        ws_col: 100,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty fills two fds we then own; no name, no termios.
    let r = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just returned by openpty and are owned here.
    let (master, slave) = unsafe { (File::from_raw_fd(m), File::from_raw_fd(s)) };
    // SAFETY: F_SETFL on our own fd.
    unsafe {
        let fl = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(master.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    Pty { master, slave }
}

/// `berth ARGS` with the pty's slave as its controlling terminal and stdio.
fn spawn_on_pty(b: &Berth, pty: &Pty, args: &[&str]) -> Child {
    let mut cmd = b.command(args);
    let fd = pty.slave.as_raw_fd();
    cmd.stdin(Stdio::from(pty.slave.try_clone().unwrap()))
        .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
        .stderr(Stdio::from(pty.slave.try_clone().unwrap()));
    // SAFETY: setsid and ioctl(TIOCSCTTY) are async-signal-safe; the child
    // makes the pty its controlling terminal before exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 || libc::ioctl(fd, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().expect("spawn berth on the pty")
}

/// Reads the master until `want` shows up; panics with what came after `limit`.
fn read_until(master: &mut File, seen: &mut String, want: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    while !seen.contains(want) {
        match master.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.raw_os_error() == Some(libc::EIO) => {} // no slave open yet/anymore
            Err(e) => panic!("read pty: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "never saw {want:?}; terminal showed:\n{seen}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_child(child: &mut Child, limit: Duration) -> i32 {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("berth did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills the berth client if the test fails midway.
struct ChildGuard(Child);
impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `berth run -it --name NAME busybox sh` on `pty`, once the shell has
/// answered `probe` with `want`; returns the client and what the terminal
/// showed so far.
fn attached_shell(
    b: &Berth,
    pty: &mut Pty,
    name: &str,
    probe: &str,
    want: &str,
) -> (ChildGuard, String) {
    let child = ChildGuard(spawn_on_pty(
        b,
        pty,
        &["run", "-it", "--name", name, "busybox", "sh"],
    ));
    let mut seen = String::new();
    pty.master
        .write_all(format!("{probe}\r").as_bytes())
        .unwrap();
    read_until(&mut pty.master, &mut seen, want, Duration::from_secs(30));
    (child, seen)
}

fn local_flags(f: &File) -> libc::tcflag_t {
    // SAFETY: tcgetattr writes one termios we own.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(f.as_raw_fd(), &mut t), 0);
        t.c_lflag
    }
}

#[test]
fn run_it_drives_a_shell_and_restores_the_terminal() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let mut pty = openpty();
    let before = local_flags(&pty.slave);
    assert_ne!(before & libc::ECHO, 0);
    let mut child = ChildGuard(spawn_on_pty(
        &b,
        &pty,
        &["run", "-it", "--rm", "busybox", "sh"],
    ));
    let mut seen = String::new();
    // the container's shell sees a terminal of our size
    pty.master
        .write_all(b"stty size; echo \"sum=$((6*7))\"\r")
        .unwrap();
    read_until(
        &mut pty.master,
        &mut seen,
        "sum=42",
        Duration::from_secs(30),
    );
    assert!(
        seen.contains("30 100"),
        "terminal size not passed on:\n{seen}"
    );
    pty.master.write_all(b"tty; exit 5\r").unwrap();
    read_until(
        &mut pty.master,
        &mut seen,
        "/dev/pts/",
        Duration::from_secs(10),
    );
    let code = wait_child(&mut child.0, Duration::from_secs(30));
    assert_eq!(code, 5, "terminal showed:\n{seen}");
    let after = local_flags(&pty.slave);
    assert_eq!(after, before, "berth left the terminal in raw mode");
    assert!(
        b.container_ids().is_empty(),
        "--rm left {:?}",
        b.container_ids()
    );
}

#[test]
fn ctrl_p_ctrl_q_detaches_and_the_container_keeps_running() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let name = unique_id("detach");
    let mut pty = openpty();
    let before = local_flags(&pty.slave);
    let (mut child, seen) = attached_shell(&b, &mut pty, &name, "echo ready-$((1+1))", "ready-2");
    pty.master.write_all(&[0x10, 0x11]).unwrap();
    let code = wait_child(&mut child.0, Duration::from_secs(30));
    assert_eq!(code, 0, "terminal showed:\n{seen}");
    assert_eq!(
        local_flags(&pty.slave),
        before,
        "berth left the terminal in raw mode"
    );
    let st = b.run(&["inspect", "-f", "{{.State.Status}}", &name]).ok();
    assert_eq!(st.out(), "running", "{st}");
    // still usable after the detach
    let ex = b.run(&["exec", &name, "echo", "alive"]).ok();
    assert_eq!(ex.out(), "alive");
    b.run(&["rm", "-f", &name]).ok();
    assert!(wait_until(Duration::from_secs(5), || b
        .container_ids()
        .is_empty()));
}

#[test]
fn sigterm_to_an_it_client_restores_the_terminal() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let name = unique_id("term");
    let mut pty = openpty();
    let before = local_flags(&pty.slave);
    let (mut child, seen) = attached_shell(&b, &mut pty, &name, "echo up-$((2+3))", "up-5");
    assert_ne!(
        local_flags(&pty.slave),
        before,
        "not in raw mode while attached"
    );
    // SAFETY: kill has no memory effects; the pid is our berth child.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let code = wait_child(&mut child.0, Duration::from_secs(30));
    assert_eq!(code, 128 + libc::SIGTERM, "terminal showed:\n{seen}");
    assert_eq!(
        local_flags(&pty.slave),
        before,
        "berth left the terminal in raw mode"
    );
    b.run(&["rm", "-f", &name]).ok();
}
