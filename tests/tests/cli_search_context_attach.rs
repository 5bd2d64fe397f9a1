//! `berth search` with no index reachable (run in a network namespace of
//! its own, so it never leaves the machine) and its filter errors; `berth
//! search` against a stub v1 index this test serves on loopback (docker's
//! table, `--no-trunc`, `--format`, `--filter`, `--limit`, the login
//! config's credentials) and an index answering nonsense;
//! `berth context` with its one default context; `run -a` attaching only
//! the streams asked for, and its bad values refused before anything is
//! created.

mod cli_support;

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use berth_fixture::index_stub::{self, RESULTS};
use berth_fixture::require_root;
use cli_support::{run_cmd, Berth};

/// `berth ARGS` in a new, empty network namespace.
fn offline(b: &Berth, args: &[&str]) -> cli_support::Out {
    let mut c = Command::new("unshare");
    c.arg("-n")
        .arg(&b.bin)
        .args(args)
        .env("BERTH_ROOT", b.root())
        .env("BERTH_STATE", b.state());
    run_cmd(&mut c, Duration::from_secs(60))
}

#[test]
fn search_without_an_index_and_bad_filters() {
    require_root!();
    let b = Berth::new();
    let out = offline(&b, &["search", "busybox"]);
    assert_eq!(out.code(), 1, "{out}");
    assert_eq!(out.err_lines().len(), 1, "{out}");
    assert!(out.stderr.contains("no index reachable"), "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    for (filter, want) in [
        ("bogus=1", "Invalid filter 'bogus'"),
        ("stars=x", "Invalid filter 'stars=x'"),
        ("is-official=maybe", "Invalid filter 'is-official=maybe'"),
    ] {
        let out = offline(&b, &["search", "--filter", filter, "busybox"]);
        assert_eq!(out.code(), 1, "{out}");
        assert_eq!(out.err_lines().len(), 1, "{out}");
        assert!(out.stderr.contains(want), "{out}");
    }
    // search needs no manager: none was started
    assert!(b.manager_pids().is_empty());
}

#[test]
fn search_an_index_on_loopback() {
    require_root!();
    let b = Berth::new();
    let (index, seen) = index_stub::serve(RESULTS, None);
    let cfg = b.scratch("docker-config");
    // the login config's credentials for this index go with the search
    std::fs::write(
        cfg.join("config.json"),
        format!(r#"{{"auths":{{"{index}":{{"auth":"dTpw"}}}}}}"#),
    )
    .unwrap();
    let search = |args: &[&str]| {
        let mut c = b.command(["search"].iter().chain(args));
        c.env("DOCKER_CONFIG", &cfg);
        run_cmd(&mut c, Duration::from_secs(60))
    };
    let term = format!("{index}/busy");
    let out = search(&["--limit", "2", &term]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(
        out.stdout,
        "NAME           DESCRIPTION                                     STARS     OFFICIAL   AUTOMATED\n\
         busybox        Busybox base image with a very long descript…   3000      [OK]       \n\
         someone/busy   a busy one                                      5                    [OK]\n\
         other/busy2                                                    0                    \n",
        "{out}"
    );
    let head = seen.lock().unwrap().last().cloned().unwrap();
    assert!(head.starts_with("GET /v1/search?q=busy&n=2 "), "{head}");
    let auth = head.to_lowercase();
    assert!(auth.contains("authorization: basic dtpw"), "{head}");

    let out = search(&["--no-trunc", "--format", "{{.Description}}", &term]);
    assert_eq!(
        out.stdout.lines().next(),
        Some("Busybox base image with a very long description that goes on and on"),
        "{out}"
    );
    let out = search(&[
        "--format",
        "{{.Name}}|{{.StarCount}}|{{.IsOfficial}}|{{.IsAutomated}}",
        &term,
    ]);
    assert_eq!(
        out.stdout, "busybox|3000|[OK]|\nsomeone/busy|5||[OK]\nother/busy2|0||\n",
        "{out}"
    );
    for (filter, want) in [
        ("stars=5", vec!["busybox", "someone/busy"]),
        ("is-official=true", vec!["busybox"]),
        ("is-automated=true", vec!["someone/busy"]),
        ("is-automated=false", vec!["busybox", "other/busy2"]),
    ] {
        let out = search(&["-f", filter, "--format", "{{.Name}}", &term]);
        assert_eq!(
            out.stdout.lines().collect::<Vec<_>>(),
            want,
            "{filter}: {out}"
        );
    }

    // bad inputs: one line, docker's exit code, the index never asked
    let asked = seen.lock().unwrap().len();
    for (args, code, want) in [
        (
            vec!["-f", "is-automated", term.as_str()],
            125,
            "bad format of filter",
        ),
        (
            vec!["--limit", "0", term.as_str()],
            1,
            "Limit 0 is outside the range of [1, 100]",
        ),
        (
            vec!["--limit", "101", term.as_str()],
            1,
            "Limit 101 is outside the range of [1, 100]",
        ),
        (
            vec!["--format", "{{.Name", term.as_str()],
            1,
            "template parsing error: ",
        ),
    ] {
        let out = search(&args);
        assert_eq!(out.code(), code, "{args:?}: {out}");
        assert_eq!(out.err_lines().len(), 1, "{out}");
        assert!(out.stderr.contains(want), "{out}");
        assert!(out.stdout.is_empty(), "{out}");
    }
    assert_eq!(seen.lock().unwrap().len(), asked);

    // a closed port: no index reachable
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!("{}/busy", closed.local_addr().unwrap());
    drop(closed);
    let out = search(&[&gone]);
    assert_eq!(out.code(), 1, "{out}");
    assert_eq!(out.err_lines().len(), 1, "{out}");
    assert!(out.stderr.contains("no index reachable"), "{out}");

    // an index answering something other than results
    let (odd, _) = index_stub::serve("<html>not an index</html>", None);
    let out = search(&[&format!("{odd}/busy")]);
    assert_eq!(out.code(), 1, "{out}");
    assert_eq!(out.err_lines().len(), 1, "{out}");
    assert!(
        out.stderr.contains("something other than search results"),
        "{out}"
    );
    assert!(b.manager_pids().is_empty());
}

#[test]
fn context_has_the_default_only() {
    require_root!();
    let b = Berth::new();
    let ls = b.run(&["context", "ls"]).ok();
    let lines: Vec<&str> = ls.stdout.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{ls}");
    assert!(lines[1].starts_with("default *"), "{ls}");
    let sock = format!("unix://{}", b.state().join("manager.sock").display());
    assert!(lines[1].contains(&sock), "{ls}");
    assert_eq!(b.run(&["context", "show"]).ok().out(), "default");
    let used = b.run(&["context", "use", "default"]).ok();
    assert_eq!(used.out(), "default");
    let inspect = b.run(&["context", "inspect", "default"]).ok();
    let v: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(v[0]["Name"], "default");
    assert_eq!(v[0]["Endpoints"]["docker"]["Host"], sock.as_str());
    for args in [["context", "use", "nope"], ["context", "inspect", "nope"]] {
        let out = b.run(&args);
        assert_eq!(out.code(), 1, "{out}");
        assert_eq!(out.stderr, "context \"nope\": context not found\n", "{out}");
    }
    assert!(b.manager_pids().is_empty());
}

#[test]
fn run_attach_selects_streams() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let script = "echo to-out; echo to-err >&2";
    let out = b.run(&["run", "--rm", "-a", "stdout", "busybox", "sh", "-c", script]);
    assert_eq!(
        (out.code(), out.stdout.as_str(), out.stderr.as_str()),
        (0, "to-out\n", ""),
        "{out}"
    );
    let out = b.run(&["run", "--rm", "-a", "STDERR", "busybox", "sh", "-c", script]);
    assert_eq!(
        (out.code(), out.stdout.as_str(), out.stderr.as_str()),
        (0, "", "to-err\n"),
        "{out}"
    );
    let out = b.run(&[
        "run", "--rm", "-a", "stdout", "-a", "stderr", "busybox", "sh", "-c", script,
    ]);
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("to-out\n", "to-err\n"),
        "{out}"
    );
    // -a stdin with -i feeds the container
    let out = b.run_input(
        &[
            "run", "--rm", "-i", "-a", "stdin", "-a", "stdout", "busybox", "cat",
        ],
        b"fed\n",
    );
    assert_eq!(out.stdout, "fed\n", "{out}");

    for (args, want) in [
        (
            vec!["run", "-a", "bogus", "busybox", "true"],
            "valid streams are STDIN, STDOUT and STDERR",
        ),
        (
            vec!["run", "-d", "-a", "stdout", "busybox", "true"],
            "Conflicting options: -a and -d",
        ),
    ] {
        let out = b.run(&args);
        assert_eq!(out.code(), 125, "{out}");
        assert_eq!(out.err_lines().len(), 1, "{out}");
        assert!(out.stderr.contains(want), "{out}");
    }
    b.assert_all_gone(&[]);
}
