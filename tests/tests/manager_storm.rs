//! The manager's promises under `kill -9`, through the `berth` CLI: a stop
//! once accepted completes, `run --rm` removes its container even when its
//! client or the manager died meanwhile, a command whose manager went away
//! says so and exits non-zero, a fresh manager answers at once while it
//! recovers, a killed shim is recorded and cleaned up — and a storm of
//! kills during a mix of commands loses, mixes up and leaks nothing.
//!
//! Each test has a private berth (cli_support's `Berth`: its own root,
//! state dir and manager, removed with everything it started on drop).

mod cli_support;

use std::process::{Child, Stdio};
use std::time::Duration;

use berth_fixture::{require_root, wait_until};
use cli_support::{Berth, Out};

/// Long enough for anything a healthy system does; reaching the condition
/// is what is checked, never how fast.
const PATIENCE: Duration = Duration::from_secs(30);

fn inspect(b: &Berth, name: &str, field: &str) -> Option<String> {
    let out = b.run(&["inspect", "-f", &format!("{{{{{field}}}}}"), name]);
    (out.code() == 0).then(|| out.out().trim().to_string())
}

fn status(b: &Berth, name: &str) -> Option<String> {
    inspect(b, name, ".State.Status")
}

/// `berth ARGS` started in the background, its output discarded.
fn spawn(b: &Berth, args: &[&str]) -> Child {
    b.command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn berth")
}

fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn run_ok(b: &Berth, args: &[&str]) -> Out {
    b.run(args).ok()
}

/// A stop accepted by a manager that is killed before it escalates is
/// finished by the next one: SIGKILL at the recorded deadline (sleep as
/// pid 1 ignores SIGTERM), exit 137, and `rm` works.
#[test]
fn stop_completes_across_a_manager_kill() {
    require_root!("manager_storm::stop_completes_across_a_manager_kill");
    let b = Berth::new();
    b.load_busybox();
    run_ok(
        &b,
        &["run", "-d", "--name", "stopme", "busybox", "sleep", "1000"],
    );
    let mut stop = spawn(&b, &["stop", "-t", "2", "stopme"]);
    // the stop is recorded, its SIGTERM ignored; then both die
    std::thread::sleep(Duration::from_millis(700));
    b.kill_manager();
    kill9(&mut stop);
    assert_eq!(
        status(&b, "stopme").as_deref(),
        Some("running"),
        "too early"
    );
    assert!(
        wait_until(PATIENCE, || status(&b, "stopme").as_deref()
            == Some("exited")),
        "the stop was not finished: {:?}",
        status(&b, "stopme")
    );
    assert_eq!(
        inspect(&b, "stopme", ".State.ExitCode").as_deref(),
        Some("137")
    );
    run_ok(&b, &["rm", "stopme"]);
    b.assert_all_gone(&[]);
}

/// `run --rm` whose client is killed while the container runs: the
/// container is removed once it exits — also when the manager was killed
/// too and a new one recovered it.
#[test]
fn run_rm_is_kept_when_the_client_dies() {
    require_root!("manager_storm::run_rm_is_kept_when_the_client_dies");
    let b = Berth::new();
    b.load_busybox();
    for kill_manager in [false, true] {
        let name = format!("rm-{kill_manager}");
        let mut client = spawn(
            &b,
            &["run", "--rm", "--name", &name, "busybox", "sleep", "2"],
        );
        assert!(
            wait_until(PATIENCE, || status(&b, &name).as_deref() == Some("running")),
            "{name} never ran"
        );
        kill9(&mut client);
        if kill_manager {
            b.kill_manager();
            // a new manager recovers it (started by this command)
            let _ = b.run(&["ps"]);
        }
        assert!(
            wait_until(PATIENCE, || status(&b, &name).is_none()),
            "{name} was not removed: {:?}",
            status(&b, &name)
        );
    }
    b.assert_all_gone(&[]);
}

/// Output of a quick `run --rm` is whole: the manager removes the container
/// at once, the client reads the log it opened before the start.
#[test]
fn run_rm_output_survives_the_removal() {
    require_root!("manager_storm::run_rm_output_survives_the_removal");
    let b = Berth::new();
    b.load_busybox();
    for i in 0..5 {
        let out = run_ok(&b, &["run", "--rm", "busybox", "sh", "-c", "seq 1 200"]);
        assert_eq!(out.out().lines().count(), 200, "run {i}: {out}");
        let out = b.run(&["run", "--rm", "busybox", "sh", "-c", "echo x; exit 3"]);
        assert_eq!((out.code(), out.out().trim()), (3, "x"), "run {i}: {out}");
    }
    b.assert_all_gone(&[]);
}

/// The shim of container `id` (its arguments name the id).
fn shim_pid(id: &str) -> i32 {
    let pids: Vec<i32> = berth_fixture::processes_with_arg(id)
        .into_iter()
        .filter(|p| cli_support::cmdline_of(*p).contains("containerd-shim"))
        .collect();
    assert_eq!(pids.len(), 1, "shims of {id}: {pids:?}");
    pids[0]
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill has no memory-safety preconditions; pid is this test's.
    unsafe { libc::kill(pid, sig) };
}

/// Files left in the state dir's shim socket directory.
fn shim_sockets(b: &Berth) -> Vec<String> {
    std::fs::read_dir(b.state().join("s"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path().display().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// `berth ARGS` in the background with its output kept.
fn spawn_kept(b: &Berth, args: &[&str]) -> std::thread::JoinHandle<Out> {
    let mut cmd = b.command(args);
    std::thread::spawn(move || cli_support::run_cmd(&mut cmd, cli_support::CMD_TIMEOUT))
}

/// `kill -9` of a shim under a running manager: the container is recorded
/// exited with 137 as docker does, its shim socket and bundle are gone, and
/// `start` runs it again.
#[test]
fn a_killed_shim_is_recorded_and_cleaned_up() {
    require_root!("manager_storm::a_killed_shim_is_recorded_and_cleaned_up");
    let b = Berth::new();
    b.load_busybox();
    let id = run_ok(
        &b,
        &["run", "-d", "--name", "victim", "busybox", "sleep", "1000"],
    )
    .out()
    .trim()
    .to_string();
    assert_eq!(
        shim_sockets(&b).len(),
        1,
        "the shim's socket is under the state dir"
    );
    signal(shim_pid(&id), libc::SIGKILL);
    assert!(
        wait_until(PATIENCE, || status(&b, "victim").as_deref()
            == Some("exited")),
        "not recorded: {:?}",
        status(&b, "victim")
    );
    assert_eq!(
        inspect(&b, "victim", ".State.ExitCode").as_deref(),
        Some("137")
    );
    assert!(
        wait_until(PATIENCE, || shim_sockets(&b).is_empty()
            && !b.state().join("containers").join(&id).exists()
            && b.leftovers(std::slice::from_ref(&id)).is_empty()),
        "left: {:?} {:?}",
        shim_sockets(&b),
        b.leftovers(std::slice::from_ref(&id))
    );
    run_ok(&b, &["start", "victim"]);
    assert_eq!(status(&b, "victim").as_deref(), Some("running"));
    run_ok(&b, &["rm", "-f", "victim"]);
    b.assert_all_gone(&[id]);
    assert!(shim_sockets(&b).is_empty(), "{:?}", shim_sockets(&b));
}

/// A command whose manager is killed under it says so and fails: exec
/// exits 1 (not 126: the program ran); a foreground `run` waits for its
/// container through the next manager and exits with its code.
#[test]
fn a_command_that_loses_its_manager_says_so() {
    require_root!("manager_storm::a_command_that_loses_its_manager_says_so");
    let b = Berth::new();
    b.load_busybox();
    run_ok(
        &b,
        &["run", "-d", "--name", "ex", "busybox", "sleep", "1000"],
    );
    let exec = spawn_kept(&b, &["exec", "ex", "sleep", "3"]);
    let run = spawn_kept(
        &b,
        &[
            "run",
            "--rm",
            "--name",
            "rr",
            "busybox",
            "sh",
            "-c",
            "sleep 3; echo done; exit 4",
        ],
    );
    assert!(
        wait_until(PATIENCE, || status(&b, "rr").as_deref() == Some("running")),
        "rr never ran"
    );
    std::thread::sleep(Duration::from_millis(500));
    b.kill_manager();
    let exec = exec.join().unwrap();
    assert_eq!(exec.code(), 1, "exec that lost its manager: {exec}");
    assert!(exec.stderr.contains("manager"), "{exec}");
    let run = run.join().unwrap();
    assert_eq!((run.code(), run.out().trim()), (4, "done"), "{run}");
    assert!(status(&b, "rr").is_none(), "run --rm left rr");
    run_ok(&b, &["rm", "-f", "ex"]);
    b.assert_all_gone(&[]);
}

/// A fresh manager answers its first request at once, whatever it has to
/// recover: here 50 containers, one of whose shim sockets answers nothing
/// (a dead shim's socket something still listens on), which holds up that
/// container's recovery, and requests for it, alone.
#[test]
fn a_fresh_manager_answers_at_once_while_it_recovers() {
    require_root!("manager_storm::a_fresh_manager_answers_at_once_while_it_recovers");
    let b = Berth::new();
    b.load_busybox();
    let ids: Vec<String> = (0..50)
        .map(|_| {
            run_ok(&b, &["run", "-d", "busybox", "sleep", "1000"])
                .out()
                .trim()
                .to_string()
        })
        .collect();
    let victim = &ids[0];
    let shim = shim_pid(victim);
    b.kill_manager();
    let before: std::collections::BTreeSet<String> = shim_sockets(&b).into_iter().collect();
    signal(shim, libc::SIGKILL);
    assert!(wait_until(PATIENCE, || berth_fixture::processes_with_arg(
        victim
    )
    .iter()
    .all(|p| !cli_support::cmdline_of(*p).contains("containerd-shim"))));
    // the dead shim's socket path, listened on by nobody who answers
    let gone: Vec<String> = before
        .iter()
        .filter(|p| std::os::unix::net::UnixStream::connect(p).is_err())
        .cloned()
        .collect();
    assert_eq!(gone.len(), 1, "dead sockets: {gone:?}");
    let _ = std::fs::remove_file(&gone[0]);
    let silent = std::os::unix::net::UnixListener::bind(&gone[0]).expect("bind");

    let t = std::time::Instant::now();
    let ps = b.run(&["ps", "-q"]);
    let first = t.elapsed();
    assert_eq!(ps.code(), 0, "{ps}");
    assert!(
        first < Duration::from_secs(1),
        "the first request took {first:?} with 50 containers to recover"
    );
    let t = std::time::Instant::now();
    assert_eq!(status(&b, &ids[1]).as_deref(), Some("running"));
    let other = t.elapsed();
    // the victim's recovery waits out a 10 s call on the silent socket
    assert!(
        other < Duration::from_secs(5),
        "a request for another container waited {other:?}"
    );
    assert_eq!(
        status(&b, victim).as_deref(),
        Some("exited"),
        "the victim's request did not wait for its recovery"
    );
    drop(silent);
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.iter().map(String::as_str));
    run_ok(&b, &rm);
    b.assert_all_gone(&ids);
    let _ = std::fs::remove_file(&gone[0]);
    assert!(shim_sockets(&b).is_empty(), "{:?}", shim_sockets(&b));
}
