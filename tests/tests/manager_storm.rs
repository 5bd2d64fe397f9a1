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
