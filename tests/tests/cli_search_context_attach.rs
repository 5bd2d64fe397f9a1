//! `berth search` with no index reachable (run in a network namespace of
//! its own, so it never leaves the machine) and its filter errors;
//! `berth context` with its one default context; `run -a` attaching only
//! the streams asked for, and its bad values refused before anything is
//! created.

mod cli_support;

use std::process::Command;
use std::time::Duration;

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
            "valid streams are STDIN, STDOUT, STDERR",
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
