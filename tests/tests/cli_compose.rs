//! `berth compose` end to end: a three-service project (a web server built
//! from a Dockerfile in the project, a database-like service with a named
//! volume and a health check, a client that waits for the web server to be
//! healthy and fetches its page by service name) comes up, shows its health
//! in `ps`, logs per service with docker compose's prefixes, survives a
//! `kill -9` of the manager, keeps its volume across `down` and `up`, and
//! leaves nothing behind after `down -v`; `up` converges (unchanged
//! services stay, an edited one alone is recreated); bad compose files are
//! one clear error each, with nothing made.
//!
//! Every test runs its berth, so its manager and containers, in a network
//! namespace of its own (berth_fixture::netns): nothing here touches the
//! host's network.

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use berth_fixture::netns::NetNs;
use berth_fixture::{busybox_bin, require_root, wait_until};
use cli_support::{run_cmd, Berth, Out};

/// How long a compose command may take (an `up` builds and waits for health).
const COMPOSE_TIMEOUT: Duration = Duration::from_secs(120);

/// The namespace first (dropped last), then the berth inside it.
fn setup() -> (NetNs, Berth) {
    let ns = NetNs::new();
    let b = Berth::in_netns(&ns.path());
    b.load_busybox();
    (ns, b)
}

/// `berth compose ARGS` run in `dir`, so the compose file is found there
/// and the project is named after the directory.
fn compose(b: &Berth, dir: &Path, args: &[&str]) -> Out {
    let mut c = b.command(std::iter::once("compose").chain(args.iter().copied()));
    c.current_dir(dir);
    run_cmd(&mut c, COMPOSE_TIMEOUT)
}

/// Writes `files` (path, content) under a new project dir `name`.
fn project(b: &Berth, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = b.scratch(name);
    for (path, content) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    dir
}

/// Names of the networks, volumes and containers berth has.
fn inventory(b: &Berth) -> (Vec<String>, Vec<String>, Vec<String>) {
    let lines = |out: Out| -> Vec<String> {
        out.stdout
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    };
    let nets = lines(b.run(&["network", "ls", "--format", "json"]).ok())
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["Name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .filter(|n| !["bridge", "host", "none"].contains(&n.as_str()))
        .collect();
    let vols = lines(b.run(&["volume", "ls", "-q"]).ok());
    (nets, vols, b.container_ids())
}

const WEB_DOCKERFILE: &str = "FROM busybox\n\
RUN mkdir -p /www && echo 'hello from web' > /www/index.html\n\
CMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n";

/// The three-service project of the acceptance test.
const APP: &str = r#"
services:
  web:
    build: ./web
    ports:
      - "18080:80"
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/index.html"]
      interval: 1s
      timeout: 2s
      retries: 20
  db:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; echo db ready; sleep 3600 & wait"]
    volumes:
      - data:/data
    healthcheck:
      test: ["CMD-SHELL", "test -d /data"]
      interval: 1s
      retries: 20
  client:
    image: busybox
    depends_on:
      web:
        condition: service_healthy
      db:
        condition: service_started
    command: ["sh", "-c", "wget -q -O - http://web/index.html; trap 'exit 0' TERM; sleep 3600 & wait"]
volumes:
  data:
"#;

/// `compose ps` until every line of `services` says healthy.
fn wait_healthy(b: &Berth, dir: &Path, services: &[&str]) -> Out {
    let mut last = None;
    let ok = wait_until(Duration::from_secs(60), || {
        let out = compose(b, dir, &["ps"]);
        let ok = out.status.success()
            && services.iter().all(|s| {
                out.stdout
                    .lines()
                    .any(|l| l.starts_with(&format!("app-{s}-1 ")) && l.contains("(healthy)"))
            });
        last = Some(out);
        ok
    });
    let out = last.unwrap();
    assert!(ok, "never healthy: {out}");
    out
}

#[test]
fn three_services_up_health_logs_kill9_volume_and_down() {
    require_root!();
    let (ns, b) = setup();
    let dir = project(
        &b,
        "app",
        &[("compose.yaml", APP), ("web/Dockerfile", WEB_DOCKERFILE)],
    );

    let up = compose(&b, &dir, &["up", "-d"]);
    assert!(up.status.success(), "{up}");
    for name in ["app-web-1", "app-db-1", "app-client-1"] {
        assert!(
            up.stderr.contains(&format!("Container {name}  Started")),
            "{up}"
        );
    }
    assert!(up.stderr.contains("Network app_default  Created"), "{up}");
    assert!(up.stderr.contains("Volume app_data  Created"), "{up}");

    // ps: the compose columns, health in the status
    let ps = wait_healthy(&b, &dir, &["web", "db"]);
    let header = ps.stdout.lines().next().unwrap();
    for col in [
        "NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS",
    ] {
        assert!(header.contains(col), "{ps}");
    }
    assert_eq!(ps.stdout.lines().count(), 4, "{ps}");
    let web_line = ps
        .stdout
        .lines()
        .find(|l| l.starts_with("app-web-1 "))
        .unwrap();
    assert!(
        web_line.contains("app-web"),
        "built image named <project>-<service>: {ps}"
    );
    assert!(web_line.contains("0.0.0.0:18080->80/tcp"), "{ps}");
    let json = compose(&b, &dir, &["ps", "--format", "json"]);
    assert!(json.status.success(), "{json}");
    for l in json.stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["Project"], "app", "{json}");
        assert!(
            ["web", "db", "client"].contains(&v["Service"].as_str().unwrap()),
            "{json}"
        );
    }

    // the client found web by its service name; each service's logs
    // behind its container's name, padded to the longest
    let mut logs = None;
    let fetched = wait_until(Duration::from_secs(30), || {
        let out = compose(&b, &dir, &["logs", "client"]);
        let ok = out.stdout.contains("app-client-1  | hello from web");
        logs = Some(out);
        ok
    });
    assert!(fetched, "{}", logs.unwrap());
    let all = compose(&b, &dir, &["logs"]);
    assert!(all.status.success(), "{all}");
    assert!(all.stdout.contains("app-db-1      | db ready"), "{all}");
    assert!(
        all.stdout.contains("app-client-1  | hello from web"),
        "{all}"
    );
    let db_only = compose(&b, &dir, &["logs", "--tail", "1", "db"]);
    assert_eq!(db_only.stdout.trim(), "app-db-1  | db ready", "{db_only}");

    // the labels docker compose's tools look for
    let labels = b
        .run(&["inspect", "-f", "{{json .Config.Labels}}", "app-db-1"])
        .ok();
    let l: serde_json::Value = serde_json::from_str(labels.out()).unwrap();
    assert_eq!(l["com.docker.compose.project"], "app", "{labels}");
    assert_eq!(l["com.docker.compose.service"], "db", "{labels}");
    assert_eq!(l["com.docker.compose.container-number"], "1", "{labels}");
    assert_eq!(l["com.docker.compose.oneoff"], "False", "{labels}");
    assert!(!l["com.docker.compose.config-hash"]
        .as_str()
        .unwrap()
        .is_empty());

    // data into the named volume
    let w = compose(
        &b,
        &dir,
        &["exec", "-T", "db", "sh", "-c", "echo kept > /data/file"],
    );
    assert!(w.status.success(), "{w}");

    // kill -9 of the manager: still served, names still resolve, ps right after
    let client_id = compose(&b, &dir, &["ps", "-q", "client"])
        .ok()
        .out()
        .to_string();
    assert_eq!(client_id.len(), 64, "{client_id}");
    let web_ip = b
        .run(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.app_default.IPAddress}}",
            "app-web-1",
        ])
        .ok()
        .out()
        .to_string();
    let net = b.run(&["network", "inspect", "app_default"]).ok();
    let net: serde_json::Value = serde_json::from_str(&net.stdout).unwrap();
    let gateway = net[0]["IPAM"]["Config"][0]["Gateway"]
        .as_str()
        .unwrap()
        .to_string();
    b.kill_manager();
    assert_eq!(
        ns.wget("http://127.0.0.1:18080/index.html").out(),
        "hello from web"
    );
    let client_ns = b.state().join("netns").join(&client_id);
    let bb = busybox_bin();
    let lookup = run_cmd(
        Command::new("nsenter")
            .arg(format!("--net={}", client_ns.display()))
            .arg("--")
            .args([bb.to_str().unwrap(), "nslookup", "web", &gateway]),
        Duration::from_secs(20),
    );
    assert!(lookup.stdout.contains(&web_ip), "{lookup}");
    assert!(b.manager_pids().is_empty());
    let ps = compose(&b, &dir, &["ps"]);
    assert!(ps.status.success(), "{ps}");
    assert_eq!(ps.stdout.lines().count(), 4, "{ps}");
    assert!(
        ps.stdout.lines().skip(1).all(|l| l.contains(" Up ")),
        "{ps}"
    );
    let from_client = compose(
        &b,
        &dir,
        &[
            "exec",
            "-T",
            "client",
            "wget",
            "-q",
            "-O",
            "-",
            "http://web/index.html",
        ],
    );
    assert_eq!(from_client.out(), "hello from web", "{from_client}");

    // down keeps the named volume; the next up finds the data
    let ids = b.container_ids();
    let down = compose(&b, &dir, &["down"]);
    assert!(down.status.success(), "{down}");
    let (nets, vols, ctrs) = inventory(&b);
    assert!(nets.is_empty() && ctrs.is_empty(), "{nets:?} {ctrs:?}");
    assert_eq!(vols, ["app_data"]);
    let up = compose(&b, &dir, &["up", "-d"]);
    assert!(up.status.success(), "{up}");
    let read = compose(&b, &dir, &["exec", "-T", "db", "cat", "/data/file"]);
    assert_eq!(read.out(), "kept", "{read}");

    // down -v: no container, network, volume or mount left
    let mut ids2 = b.container_ids();
    ids2.extend(ids);
    let down = compose(&b, &dir, &["down", "-v"]);
    assert!(down.status.success(), "{down}");
    let (nets, vols, ctrs) = inventory(&b);
    assert!(
        nets.is_empty() && vols.is_empty() && ctrs.is_empty(),
        "{nets:?} {vols:?} {ctrs:?}"
    );
    let left = b.leftovers(&ids2);
    assert!(left.is_empty(), "left behind: {left:?}");
}

const PAIR: &str = r#"
services:
  a:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
  b:
    image: busybox
    environment:
      COLOUR: red
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
"#;

/// service → container id, from `ps --format json`.
fn ids_by_service(b: &Berth, dir: &Path) -> Vec<(String, String)> {
    let out = compose(b, dir, &["ps", "-a", "--format", "json"]);
    assert!(out.status.success(), "{out}");
    let mut v: Vec<(String, String)> = out
        .stdout
        .lines()
        .map(|l| {
            let j: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                j["Name"].as_str().unwrap().to_string(),
                j["ID"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn up_converges_unchanged_stays_edited_is_recreated_alone() {
    require_root!();
    let (_ns, b) = setup();
    let dir = project(&b, "pair", &[("compose.yaml", PAIR)]);
    compose(&b, &dir, &["up", "-d"]).ok();
    let first = ids_by_service(&b, &dir);
    assert_eq!(first.len(), 2, "{first:?}");

    // unchanged: nothing is touched
    let again = compose(&b, &dir, &["up", "-d"]);
    assert!(again.status.success(), "{again}");
    assert!(!again.stderr.contains("Created"), "{again}");
    assert!(!again.stderr.contains("Recreate"), "{again}");
    assert_eq!(ids_by_service(&b, &dir), first);

    // b edited: b alone is recreated, under the same name
    let edited = PAIR.replace("COLOUR: red", "COLOUR: blue");
    std::fs::write(dir.join("compose.yaml"), edited).unwrap();
    let up = compose(&b, &dir, &["up", "-d"]);
    assert!(up.status.success(), "{up}");
    let now = ids_by_service(&b, &dir);
    assert_eq!(now[0], first[0], "a kept");
    assert_eq!(now[1].0, "pair-b-1");
    assert_ne!(now[1].1, first[1].1, "b recreated");
    let env = compose(&b, &dir, &["exec", "-T", "b", "sh", "-c", "echo $COLOUR"]);
    assert_eq!(env.out(), "blue", "{env}");

    // --scale and --force-recreate
    let up = compose(&b, &dir, &["up", "-d", "--scale", "a=2"]);
    assert!(up.status.success(), "{up}");
    let scaled = ids_by_service(&b, &dir);
    assert_eq!(
        scaled.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["pair-a-1", "pair-a-2", "pair-b-1"]
    );
    let up = compose(&b, &dir, &["up", "-d", "--force-recreate", "b"]);
    assert!(up.status.success(), "{up}");
    let forced = ids_by_service(&b, &dir);
    assert_eq!(forced[0], scaled[0]);
    assert_ne!(forced[2].1, scaled[2].1);

    // one-off containers: the command's exit code, nothing left with --rm
    let run = compose(
        &b,
        &dir,
        &["run", "--rm", "-T", "b", "sh", "-c", "echo one-off; exit 3"],
    );
    assert_eq!(run.code(), 3, "{run}");
    assert_eq!(run.out(), "one-off", "{run}");
    assert_eq!(ids_by_service(&b, &dir).len(), 3);
    let config = compose(&b, &dir, &["config", "--services"]).ok();
    assert_eq!(config.out(), "a\nb", "{config}");
    let ls = compose(&b, &dir, &["ls"]).ok();
    assert!(
        ls.stdout.contains("pair") && ls.stdout.contains("running(3)"),
        "{ls}"
    );

    // the lifecycle commands
    compose(&b, &dir, &["stop"]).ok();
    let ps = compose(&b, &dir, &["ps"]).ok();
    assert_eq!(ps.stdout.lines().count(), 1, "{ps}");
    compose(&b, &dir, &["start", "b"]).ok();
    let ps = compose(&b, &dir, &["ps", "--services"]).ok();
    assert_eq!(ps.out(), "b", "{ps}");
    let down = compose(&b, &dir, &["down"]);
    assert!(down.status.success(), "{down}");
    assert!(b.container_ids().is_empty());
}

/// A bad project: one clear error line naming what is wrong, and nothing
/// made (no manager even started).
fn refused(b: &Berth, name: &str, yaml: &str, args: &[&str], says: &str) {
    let dir = project(b, name, &[("compose.yaml", yaml)]);
    let out = compose(b, &dir, args);
    assert_ne!(out.code(), 0, "{out}");
    assert_eq!(out.err_lines().len(), 1, "{out}");
    assert!(out.stderr.contains(says), "wanted {says:?}: {out}");
    assert!(
        b.manager_pids().is_empty(),
        "{name}: a manager was started: {out}"
    );
}

#[test]
fn bad_projects_are_one_clear_error_and_change_nothing() {
    require_root!();
    let ns = NetNs::new();
    let b = Berth::in_netns(&ns.path());
    refused(
        &b,
        "unknown-key",
        "services:\n  a:\n    image: busybox\n    imagee: x\n",
        &["up", "-d"],
        "imagee",
    );
    refused(
        &b,
        "wrong-type",
        "services:\n  a:\n    image: busybox\n    ports: 80\n",
        &["up", "-d"],
        "ports",
    );
    refused(
        &b,
        "missing-var",
        "services:\n  a:\n    image: \"${NEEDED_IMAGE:?set NEEDED_IMAGE}\"\n",
        &["up", "-d"],
        "set NEEDED_IMAGE",
    );
    refused(
        &b,
        "cycle",
        "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n",
        &["up", "-d"],
        "cycl",
    );
    refused(
        &b,
        "unknown-dependency",
        "services:\n  a:\n    image: busybox\n    depends_on: [nope]\n",
        &["up", "-d"],
        "nope",
    );
    refused(
        &b,
        "unknown-service",
        "services:\n  a:\n    image: busybox\n",
        &["up", "-d", "nope"],
        "nope",
    );
}
