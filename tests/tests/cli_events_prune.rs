//! `berth events --since/--until` replaying the manager's recorded events
//! (also after a `kill -9` of the manager) and following live ones with no
//! gap or duplicate; `--filter` on the prune commands.

mod cli_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use berth_fixture::{require_root, unique_id};
use cli_support::{ApiService, Berth};

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
        &[
            "--since",
            "10m",
            "--until",
            "0s",
            "-f",
            &filter,
            "-f",
            "event=die",
        ],
    );
    assert_eq!(dies, ["die"]);
    // with --until alone the replay starts at the oldest recorded event
    assert_eq!(actions(&b, &["--until", "0s", "-f", &filter]), life);

    // a window holding the start alone
    let out = b
        .run(&[
            "events",
            "--since",
            "10m",
            "--until",
            "0s",
            "-f",
            &filter,
            "-f",
            "event=start",
        ])
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
    b.run(&["run", "--rm", "--name", &second, "busybox", "true"])
        .ok();
    let both = actions(
        &b,
        &[
            "--since",
            "10m",
            "--until",
            "0s",
            "-f",
            &filter,
            "-f",
            &format!("container={second}"),
        ],
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
        out.stderr.contains("`since` time (")
            && out.stderr.contains("cannot be after `until` time"),
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
    b.run(&[
        "run", "--rm", "--name", &first, "--label", &label, "busybox", "true",
    ])
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
    b.run(&[
        "run", "--rm", "--name", &second, "--label", &label, "busybox", "true",
    ])
    .ok();
    let live: Vec<String> = (0..4).map(|_| next()).collect();
    assert_eq!(
        live,
        ["create", "start", "die", "destroy"].map(|a| format!("{a} {second}"))
    );
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());
}

/// Names `ls`-style command `args` prints, one a line, sorted.
fn names(b: &Berth, args: &[&str]) -> Vec<String> {
    let out = b.run(args).ok();
    let mut v: Vec<String> = out
        .stdout
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

fn sorted(v: &[&String]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// A bad filter: one line, docker's exit code, and nothing removed.
fn refused(b: &Berth, args: &[&str], code: i32, line: &str, listing: &[&str], before: &[String]) {
    let out = b.run(args);
    assert_eq!(out.code(), code, "{out}");
    assert_eq!(out.err_lines(), [line], "{out}");
    assert_eq!(names(b, listing), before, "{out}");
}

#[test]
fn container_prune_filters_remove_exactly_the_matching() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let tag = unique_id("pr");
    let (a, c, plain) = (
        format!("{tag}-a"),
        format!("{tag}-c"),
        format!("{tag}-plain"),
    );
    b.run(&[
        "create", "--name", &a, "--label", "tier=web", "busybox", "true",
    ])
    .ok();
    b.run(&[
        "create", "--name", &c, "--label", "tier=db", "busybox", "true",
    ])
    .ok();
    b.run(&["create", "--name", &plain, "busybox", "true"]).ok();
    let ls = ["ps", "-a", "--format", "{{.Names}}"];
    let all = sorted(&[&a, &c, &plain]);
    assert_eq!(names(&b, &ls), all);

    let bad = ["container", "prune", "-f", "--filter"];
    let args = |f: &str| -> Vec<String> {
        bad.iter()
            .map(|s| s.to_string())
            .chain([f.to_string()])
            .collect()
    };
    for (f, code, line) in [
        (
            "bogus=1",
            1,
            "Error response from daemon: Invalid filter 'bogus'",
        ),
        (
            "until=abc",
            1,
            "Error response from daemon: failed to parse value as time or duration: \"abc\"",
        ),
    ] {
        let a = args(f);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        refused(&b, &a, code, line, &ls, &all);
    }
    let out = b.run(&["container", "prune", "-f", "--filter", "label"]);
    assert_eq!(out.code(), 125, "{out}");
    assert_eq!(out.err_lines().len(), 1, "{out}");
    assert_eq!(names(&b, &ls), all);

    // nothing was created an hour ago
    b.run(&["container", "prune", "-f", "--filter", "until=1h"])
        .ok();
    assert_eq!(names(&b, &ls), all);
    b.run(&["container", "prune", "-f", "--filter", "label=tier=web"])
        .ok();
    assert_eq!(names(&b, &ls), sorted(&[&c, &plain]));
    // label!= keeps what carries the label
    b.run(&["container", "prune", "-f", "--filter", "label!=tier"])
        .ok();
    assert_eq!(names(&b, &ls), vec![c.clone()]);
    b.run(&["container", "prune", "-f", "--filter", "until=0s"])
        .ok();
    assert!(names(&b, &ls).is_empty());
}

#[test]
fn volume_and_image_prune_filters() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let tag = unique_id("vp");
    let (keep, drop) = (format!("{tag}-keep"), format!("{tag}-drop"));
    b.run(&["volume", "create", "--label", "keep=yes", &keep])
        .ok();
    b.run(&["volume", "create", "--label", "keep=no", &drop])
        .ok();
    let ls = ["volume", "ls", "-q"];
    let all = sorted(&[&keep, &drop]);
    assert_eq!(names(&b, &ls), all);
    // volumes take no until, as docker's
    refused(
        &b,
        &["volume", "prune", "-f", "--filter", "until=1h"],
        1,
        "Error response from daemon: Invalid filter 'until'",
        &ls,
        &all,
    );
    b.run(&["volume", "prune", "-f", "--filter", "label=keep=no"])
        .ok();
    assert_eq!(names(&b, &ls), vec![keep.clone()]);
    b.run(&["volume", "prune", "-f", "--filter", "label!=keep=yes"])
        .ok();
    assert_eq!(names(&b, &ls), vec![keep.clone()]);

    // images: two made from a container, differing in one label
    let ctr = format!("{tag}-src");
    b.run(&["create", "--name", &ctr, "busybox", "true"]).ok();
    let (img_a, img_b) = (format!("{tag}-a:1"), format!("{tag}-b:1"));
    b.run(&["commit", "--change", "LABEL prune=a", &ctr, &img_a])
        .ok();
    b.run(&["commit", "--change", "LABEL prune=b", &ctr, &img_b])
        .ok();
    b.run(&["rm", &ctr]).ok();
    let images = ["images", "--format", "{{.Repository}}:{{.Tag}}"];
    let has = |b: &Berth, img: &str| names(b, &images).iter().any(|i| i == img);
    assert!(has(&b, &img_a) && has(&b, &img_b));
    let out = b.run(&["image", "prune", "-a", "-f", "--filter", "bogus=1"]);
    assert_eq!(out.code(), 1, "{out}");
    assert_eq!(
        out.err_lines(),
        ["Error response from daemon: Invalid filter 'bogus'"]
    );
    assert!(has(&b, &img_a) && has(&b, &img_b));
    b.run(&["image", "prune", "-a", "-f", "--filter", "label=prune=a"])
        .ok();
    assert!(!has(&b, &img_a) && has(&b, &img_b));
    assert!(has(&b, "busybox:latest"));
    // the new image is younger than an hour; busybox's archive has no
    // creation time, so it counts as old, as a long-built image would
    b.run(&["image", "prune", "-a", "-f", "--filter", "until=1h"])
        .ok();
    assert!(has(&b, &img_b));
    assert!(!has(&b, "busybox:latest"));
    // builder and system prune read the same filters
    let out = b.run(&["builder", "prune", "-f", "--filter", "bogus=1"]);
    assert_eq!(out.code(), 1, "{out}");
    let out = b.run(&["system", "prune", "-a", "-f", "--filter", "label=prune=b"]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(!has(&b, &img_b));
}

#[test]
fn network_prune_filters() {
    require_root!();
    let ns = berth_fixture::netns::NetNs::new();
    let b = Berth::in_netns(&ns.path());
    let tag = unique_id("np");
    let (web, db) = (format!("{tag}-web"), format!("{tag}-db"));
    b.run(&["network", "create", "--label", "tier=web", &web])
        .ok();
    b.run(&["network", "create", "--label", "tier=db", &db])
        .ok();
    let ls = ["network", "ls", "--format", "{{.Name}}"];
    let before = names(&b, &ls);
    assert!(before.contains(&web) && before.contains(&db));
    refused(
        &b,
        &["network", "prune", "-f", "--filter", "colour=red"],
        1,
        "Error response from daemon: Invalid filter 'colour'",
        &ls,
        &before,
    );
    b.run(&["network", "prune", "-f", "--filter", "until=1h"])
        .ok();
    assert_eq!(names(&b, &ls), before);
    b.run(&["network", "prune", "-f", "--filter", "label=tier=web"])
        .ok();
    let after = names(&b, &ls);
    assert!(!after.contains(&web) && after.contains(&db), "{after:?}");
    b.run(&["network", "prune", "-f", "--filter", "label!=tier=db"])
        .ok();
    assert!(names(&b, &ls).contains(&db));
    b.run(&["network", "prune", "-f", "--filter", "label=tier"])
        .ok();
    assert!(!names(&b, &ls).contains(&db));
}

/// `system prune` removes the user networks no container is on once its
/// stopped containers are gone, as docker's does; a network in use stays,
/// and so do `bridge`, `host` and `none`.
#[test]
fn system_prune_removes_networks_no_container_uses() {
    require_root!();
    let ns = berth_fixture::netns::NetNs::new();
    let b = Berth::in_netns(&ns.path());
    b.load_busybox();
    let tag = unique_id("sp");
    let (idle, used, freed) = (
        format!("{tag}-idle"),
        format!("{tag}-used"),
        format!("{tag}-freed"),
    );
    for n in [&idle, &used, &freed] {
        b.run(&["network", "create", n]).ok();
    }
    let runner = format!("{tag}-runs");
    b.run(&[
        "run",
        "-d",
        "--name",
        &runner,
        "--network",
        &used,
        "busybox",
        "sleep",
        "600",
    ])
    .ok();
    b.run(&[
        "create",
        "--name",
        &format!("{tag}-stopped"),
        "--network",
        &freed,
        "busybox",
        "true",
    ])
    .ok();
    let out = b.run(&["system", "prune", "-f"]).ok();
    let printed = out.out().to_string();
    assert!(printed.contains("Deleted Networks:"), "{printed}");
    let ls = ["network", "ls", "--format", "{{.Name}}"];
    let after = names(&b, &ls);
    for gone in [&idle, &freed] {
        assert!(
            printed.contains(gone.as_str()) && !after.contains(gone),
            "{gone}: {printed}\n{after:?}"
        );
    }
    for kept in [&used, "bridge", "host", "none"] {
        assert!(after.iter().any(|n| n == kept), "{kept} removed: {after:?}");
    }
    b.run(&["rm", "-f", &runner]).ok();
    b.run(&["network", "rm", &used]).ok();
}

/// `curl` of the Docker API on `sock` in `ns`: (HTTP status, body).
fn api(
    ns: &berth_fixture::netns::NetNs,
    sock: &std::path::Path,
    method: &str,
    url: &str,
) -> (u16, String) {
    let out = ns.try_exec(&[
        "curl",
        "-s",
        "-m",
        "30",
        "-w",
        "\n%{http_code}",
        "--unix-socket",
        sock.to_str().unwrap(),
        "-X",
        method,
        &format!("http://berth{url}"),
    ]);
    let (body, status) = out
        .stdout
        .trim_end()
        .rsplit_once('\n')
        .unwrap_or(("", out.stdout.trim()));
    (status.parse().unwrap_or(0), body.to_string())
}

#[test]
fn docker_api_events_window_and_prune_filters() {
    require_root!();
    let ns = berth_fixture::netns::NetNs::new();
    let b = Berth::in_netns(&ns.path());
    b.load_busybox();
    let service = ApiService::start(&b);
    let sock = service.sock.clone();

    let tag = unique_id("api");
    let (web, db) = (format!("{tag}-web"), format!("{tag}-db"));
    b.run(&[
        "create", "--name", &web, "--label", "tier=web", "busybox", "true",
    ])
    .ok();
    b.run(&[
        "create", "--name", &db, "--label", "tier=db", "busybox", "true",
    ])
    .ok();

    // a filter prune refuses changes nothing
    let (status, body) = api(
        &ns,
        &sock,
        "POST",
        "/containers/prune?filters=%7B%22bogus%22%3A%5B%221%22%5D%7D",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Invalid filter 'bogus'"), "{body}");
    let (status, body) = api(
        &ns,
        &sock,
        "POST",
        "/containers/prune?filters=%7B%22label%22%3A%5B%22tier%3Dweb%22%5D%7D",
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["ContainersDeleted"].as_array().unwrap().len(),
        1,
        "{body}"
    );
    let left = names(&b, &["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(left, vec![db.clone()]);

    // images/prune removes the image a second commit to the same tag left
    // untagged, and keeps the tagged one; build/prune answers its shape
    let image = format!("{}-img:v1", tag.to_lowercase());
    b.run(&["commit", &db, &image]).ok();
    let first = b
        .run(&["image", "inspect", "--format", "{{.Id}}", &image])
        .ok();
    b.run(&["commit", &db, &image]).ok();
    let (status, body) = api(
        &ns,
        &sock,
        "POST",
        "/images/prune?filters=%7B%22bogus%22%3A%5B%221%22%5D%7D",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Invalid filter 'bogus'"), "{body}");
    let (status, body) = api(&ns, &sock, "POST", "/images/prune");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let deleted = v["ImagesDeleted"].as_array().unwrap();
    let first_id = first.out().trim().trim_start_matches("sha256:").to_string();
    assert!(
        deleted.iter().any(|d| d["Deleted"]
            .as_str()
            .unwrap_or("")
            .contains(&first_id[..12])),
        "{first_id} not pruned: {body}"
    );
    b.run(&["image", "inspect", &image]).ok();
    let (status, body) = api(&ns, &sock, "POST", "/build/prune");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["CachesDeleted"].is_array() && v["SpaceReclaimed"].is_u64(),
        "{body}"
    );
    b.run(&["rmi", &image]).ok();

    // the replay of the last minutes ends by itself (until is now)
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let now = clock.as_secs();
    let url = format!(
        "/events?since={}&until={now}.{:09}&filters=%7B%22container%22%3A%5B%22{web}%22%5D%7D",
        now - 600,
        clock.subsec_nanos()
    );
    let (status, body) = api(&ns, &sock, "GET", &url);
    assert_eq!(status, 200, "{body}");
    let actions: Vec<String> = body
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["Action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(actions, ["create", "destroy"], "{body}");
    let (status, body) = api(
        &ns,
        &sock,
        "GET",
        &format!("/events?since={now}&until={}", now - 60),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("cannot be after"), "{body}");
}
