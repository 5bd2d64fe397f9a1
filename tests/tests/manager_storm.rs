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
    // the stop is recorded, its SIGTERM ignored; then both die, the client
    // first: a client that outlives its manager starts a new one, which a
    // loaded machine lets it do before the test sees the old one gone
    std::thread::sleep(Duration::from_millis(700));
    kill9(&mut stop);
    b.kill_manager();
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

    // the first request is the client's ping (and its version call); a
    // request about all containers (ps) would wait for all of them
    let t = std::time::Instant::now();
    let version = b.run(&["version"]);
    let first = t.elapsed();
    assert_eq!(version.code(), 0, "{version}");
    println!("fresh manager: first request answered in {first:?} with 50 containers to recover");
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
    let ps = b.run(&["ps", "-q"]);
    assert_eq!(ps.out().lines().count(), 49, "{ps}");
    drop(silent);
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.iter().map(String::as_str));
    run_ok(&b, &rm);
    b.assert_all_gone(&ids);
    let _ = std::fs::remove_file(&gone[0]);
    assert!(shim_sockets(&b).is_empty(), "{:?}", shim_sockets(&b));
}

/// A small xorshift: the storm's choices, different each run.
struct Dice(u64);

impl Dice {
    fn new(salt: u64) -> Dice {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Dice((t ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// What the storm's commands said they did; a command that failed leaves
/// its container's fate open.
#[derive(Default)]
struct Ledger {
    /// `run -d` succeeded, not removed since: must exist at the end.
    alive: std::collections::BTreeMap<String, String>,
    /// `stop` succeeded (and nothing started it again): must not run.
    stopped: std::collections::BTreeSet<String>,
    /// `rm`/`rm -f` or a whole `run --rm` succeeded: must be gone.
    removed: std::collections::BTreeSet<String>,
    /// Every id seen.
    ids: std::collections::BTreeSet<String>,
    commands: u64,
    failed: u64,
    /// Containers the storm's `run`s asked for.
    runs: u64,
    /// A few failures, to show with the counts.
    failures: Vec<String>,
}

fn lock(l: &std::sync::Mutex<Ledger>) -> std::sync::MutexGuard<'_, Ledger> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}

/// One storm worker: run -d, run --rm, exec, stop, rm and rm -f on its own
/// containers until told to stop.
fn storm_worker(
    b: &Berth,
    w: u64,
    ledger: &std::sync::Mutex<Ledger>,
    done: &std::sync::atomic::AtomicBool,
) {
    let mut dice = Dice::new(w + 1);
    let mut n = 0;
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        n += 1;
        let pick = {
            let l = lock(ledger);
            let mine: Vec<&String> = l
                .alive
                .keys()
                .filter(|k| k.starts_with(&format!("s{w}x")))
                .collect();
            (!mine.is_empty()).then(|| mine[dice.below(mine.len() as u64) as usize].clone())
        };
        let op = if pick.is_none() {
            dice.below(2)
        } else {
            dice.below(6)
        };
        let name = format!("s{w}x{n}");
        let (out, target) = match (op, &pick) {
            (0, _) => (
                b.run(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"]),
                name.clone(),
            ),
            (1, _) => (
                b.run(&["run", "--rm", "--name", &name, "busybox", "sleep", "0.2"]),
                name.clone(),
            ),
            (2, Some(c)) => (b.run(&["exec", c, "true"]), c.clone()),
            (3, Some(c)) => (b.run(&["stop", "-t", "1", c]), c.clone()),
            (4, Some(c)) => (b.run(&["rm", c]), c.clone()),
            (_, Some(c)) => (b.run(&["rm", "-f", c]), c.clone()),
            (_, None) => unreachable!(),
        };
        let mut l = lock(ledger);
        l.commands += 1;
        let ok = out.code() == 0;
        if op < 2 {
            l.runs += 1;
        }
        if !ok {
            l.failed += 1;
            if l.failures.len() < 8 {
                let said = out
                    .err_lines()
                    .last()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                l.failures
                    .push(format!("{} -> {}: {said}", out.cmdline, out.code()));
            }
        }
        match op {
            0 if ok => {
                let id = out.out().trim().to_string();
                l.ids.insert(id.clone());
                l.alive.insert(target, id);
            }
            1 if ok => {
                l.removed.insert(target);
            }
            2 => {}
            3 if ok => {
                l.stopped.insert(target);
            }
            4 | 5 if ok => {
                l.alive.remove(&target);
                l.stopped.remove(&target);
                l.removed.insert(target);
            }
            // a failed stop or rm may have done its work: its container's
            // state is open, and it is not used again
            3..=5 => {
                l.alive.remove(&target);
                l.stopped.remove(&target);
            }
            _ => {}
        }
    }
}

/// True while `pid` runs (a zombie counts as gone).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

/// Entries of a directory (none when it does not exist).
fn entries(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path().display().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Four workers run, exec, stop and remove containers while the manager is
/// killed with SIGKILL at random instants (20+ kills). Afterwards nothing
/// is lost (every container a `run -d` reported is there unless a removal
/// of it succeeded), nothing is inconsistent (running ⇒ a live process,
/// not running ⇒ no shim; a stopped one does not run; a removed one and a
/// finished `run --rm` are gone), and after `rm -f` of all nothing is left:
/// no mount, cgroup, shim, shim socket, bundle, snapshot, log or runtime
/// state.
#[test]
fn kill_9_storm_loses_mixes_up_and_leaks_nothing() {
    use std::sync::atomic::{AtomicBool, Ordering};
    require_root!("manager_storm::kill_9_storm_loses_mixes_up_and_leaks_nothing");
    const KILLS: u32 = 24;
    const SHORTEST: Duration = Duration::from_secs(20);
    const LONGEST: Duration = Duration::from_secs(75);
    let b = Berth::new();
    b.load_busybox();
    let ledger = std::sync::Mutex::new(Ledger::default());
    let done = AtomicBool::new(false);
    let started = std::time::Instant::now();
    let mut kills = 0u32;
    std::thread::scope(|s| {
        for w in 0..4 {
            let (b, ledger, done) = (&b, &ledger, &done);
            s.spawn(move || storm_worker(b, w, ledger, done));
        }
        let mut dice = Dice::new(99);
        while (kills < KILLS || started.elapsed() < SHORTEST) && started.elapsed() < LONGEST {
            // bursts of fast kills among slower ones
            let pause = if dice.below(2) == 0 {
                5 + dice.below(145)
            } else {
                150 + dice.below(1000)
            };
            std::thread::sleep(Duration::from_millis(pause));
            let pids = b.manager_pids();
            for pid in &pids {
                signal(*pid, libc::SIGKILL);
            }
            if !pids.is_empty() {
                kills += 1;
            }
        }
        done.store(true, Ordering::Relaxed);
    });
    let storm = started.elapsed();

    // settle: a manager recovers everything; inspect waits for each one
    let listed = |b: &Berth| -> Vec<String> { b.container_ids() };
    let _ = b.run(&["ps"]);
    let mut l = lock(&ledger);
    // a finished `run --rm` leaves nothing once its auto-remove ran
    wait_until(PATIENCE, || {
        l.removed.iter().all(|n| status(&b, n).is_none())
    });
    let now = listed(&b);
    l.ids.extend(now.iter().cloned());
    let mut lost = Vec::new();
    let mut inconsistent = Vec::new();
    for (name, id) in &l.alive {
        if !now.contains(id) {
            lost.push(name.clone());
        } else if !l.stopped.contains(name) && status(&b, id).as_deref() != Some("running") {
            // run -d and never stopped: the storm must not have ended it
            lost.push(format!("{name} ({:?})", status(&b, id)));
        }
    }
    for n in &l.removed {
        if status(&b, n).is_some() {
            inconsistent.push(format!("{n}: removed, still there"));
        }
    }
    for n in &l.stopped {
        if status(&b, n).as_deref() == Some("running") {
            inconsistent.push(format!("{n}: stopped, running"));
        }
    }
    for id in &now {
        let Some(state) = inspect(&b, id, ".State.Status") else {
            continue;
        };
        let pid: i32 = inspect(&b, id, ".State.Pid")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let shims: Vec<i32> = berth_fixture::processes_with_arg(id)
            .into_iter()
            .filter(|p| cli_support::cmdline_of(*p).contains("containerd-shim"))
            .collect();
        match state.as_str() {
            "running" | "paused" if pid <= 0 || !alive(pid) => {
                inconsistent.push(format!("{id}: {state} without a live process ({pid})"))
            }
            "running" | "paused" => {}
            _ if !shims.is_empty() => {
                inconsistent.push(format!("{id}: {state} with shims {shims:?}"))
            }
            _ => {}
        }
    }

    // remove all; then nothing may be left
    if !now.is_empty() {
        let mut rm = vec!["rm", "-f"];
        rm.extend(now.iter().map(String::as_str));
        let out = b.run(&rm);
        assert_eq!(out.code(), 0, "{out}");
    }
    let ids: Vec<String> = l.ids.iter().cloned().collect();
    let mut leaked = b.leftovers(&ids);
    leaked.extend(listed(&b).into_iter().map(|id| format!("container {id}")));
    for dir in [
        b.state().join("s"),
        b.state().join("containers"),
        b.root().join("containers"),
        b.root().join("images/snapshots/containers"),
    ] {
        leaked.extend(entries(&dir));
    }
    let runtime = b.state().join("runtime");
    for ns in entries(&runtime) {
        // the runtime's compiled seccomp programs are shared, not a container's
        leaked.extend(
            entries(std::path::Path::new(&ns))
                .into_iter()
                .filter(|e| !e.ends_with("/@seccomp-cache")),
        );
    }
    println!(
        "storm: {kills} kills in {:.1}s, {} commands ({} failed), {} containers: \
         {} lost, {} inconsistent, {} leaked",
        storm.as_secs_f64(),
        l.commands,
        l.failed,
        l.runs,
        lost.len(),
        inconsistent.len(),
        leaked.len()
    );
    for f in &l.failures {
        println!("storm: failed: {f}");
    }
    assert!(kills >= 20, "only {kills} kills in {storm:?}");
    assert!(lost.is_empty(), "lost: {lost:?}");
    assert!(inconsistent.is_empty(), "inconsistent: {inconsistent:?}");
    assert!(leaked.is_empty(), "leaked: {leaked:?}");
}
