//! `berth events --since/--until` replaying the manager's recorded events
//! (also after a `kill -9` of the manager) and following live ones with no
//! gap or duplicate; `--filter` on the prune commands.

mod cli_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use berth_fixture::{require_root, unique_id};
use cli_support::Berth;

/// `events ARGS --format '{{.Action}}'`: one action a line.
fn actions(b: &Berth, args: &[&str]) -> Vec<String> {
    let mut all = vec!["events", "--format", "{{.Action}}"];
    all.extend_from_slice(args);
    let out = b.run(&all).ok();
    out.stdout.lines().map(String::from).collect()
}

/// A running `berth events` killed when the test is done with it.
struct Follower(Child);

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn events_replay_recorded_history_also_after_kill_9() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let name = unique_id("hist");
    let filter = format!("container={name}");
    b.run(&["run", "--name", &name, "busybox", "true"]).ok();
    b.run(&["rm", &name]).ok();

    // the whole life of the container, in order, then the command exits
    let life = actions(&b, &["--since", "10m", "--until", "0s", "-f", &filter]);
    assert_eq!(life, ["create", "start", "die", "destroy"]);
    // the usual filters apply to the replay
    let dies = actions(
        &b,
        &["--since", "10m", "--until", "0s", "-f", &filter, "-f", "event=die"],
    );
    assert_eq!(dies, ["die"]);
    // with --until alone the replay starts at the oldest recorded event
    assert_eq!(actions(&b, &["--until", "0s", "-f", &filter]), life);

    // a window holding the start alone
    let out = b
        .run(&["events", "--since", "10m", "--until", "0s", "-f", &filter, "-f", "event=start"])
        .ok();
    let stamp = out.stdout.split_whitespace().next().unwrap().to_string();
    let only_start = actions(&b, &["--since", &stamp, "--until", &stamp, "-f", &filter]);
    assert_eq!(only_start, ["start"]);
    // nothing happened in the last 0 seconds
    assert!(actions(&b, &["--since", "0s", "--until", "0s", "-f", &filter]).is_empty());

    // the history is the store's: a new manager replays the same
    b.kill_manager();
    assert_eq!(
        actions(&b, &["--since", "10m", "--until", "0s", "-f", &filter]),
        life
    );
    // and numbers its own events after the old ones
    let second = unique_id("hist2");
    b.run(&["run", "--rm", "--name", &second, "busybox", "true"]).ok();
    let both = actions(
        &b,
        &["--since", "10m", "--until", "0s", "-f", &filter, "-f", &format!("container={second}")],
    );
    assert_eq!(
        both,
        ["create", "start", "die", "destroy", "create", "start", "die", "destroy"]
    );
}

#[test]
fn events_bad_windows_are_one_line() {
    require_root!();
    let b = Berth::new();
    let out = b.run(&["events", "--since", "0s", "--until", "10m"]);
    assert_eq!(out.code(), 1, "{out}");
    assert_eq!(out.err_lines().len(), 1, "{out}");
    assert!(
        out.stderr.contains("`since` time (") && out.stderr.contains("cannot be after `until` time"),
        "{out}"
    );
    let out = b.run(&["events", "--since", "yesterday"]);
    assert_ne!(out.code(), 0, "{out}");
    assert_eq!(out.err_lines().len(), 1, "{out}");
    assert!(out.stderr.contains("yesterday"), "{out}");
}

#[test]
fn events_follow_after_the_replay_without_gap_or_duplicate() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let label = format!("evtest={}", unique_id("follow"));
    let first = unique_id("first");
    b.run(&["run", "--rm", "--name", &first, "--label", &label, "busybox", "true"])
        .ok();

    let mut child = b
        .command([
            "events",
            "--since",
            "10m",
            "-f",
            &format!("label={label}"),
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("berth events");
    let stdout = child.stdout.take().unwrap();
    let _follower = Follower(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(30))
            .expect("an event line")
    };
    let replayed: Vec<String> = (0..4).map(|_| next()).collect();
    assert_eq!(
        replayed,
        ["create", "start", "die", "destroy"].map(|a| format!("{a} {first}"))
    );

    // live events come after the replay, each once
    let second = unique_id("second");
    b.run(&["run", "--rm", "--name", &second, "--label", &label, "busybox", "true"])
        .ok();
    let live: Vec<String> = (0..4).map(|_| next()).collect();
    assert_eq!(
        live,
        ["create", "start", "die", "destroy"].map(|a| format!("{a} {second}"))
    );
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());
}
