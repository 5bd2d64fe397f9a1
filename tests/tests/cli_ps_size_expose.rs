//! What `create` records and `ps` shows of it: `create -a` sets docker's
//! `Config.AttachStdin/Stdout/Stderr` (and `start -a` still shows both
//! output streams, as docker's does); `ps -s` and `{{.Size}}` report the
//! writable layer and the virtual size; `ps -f expose=` matches the
//! exposed ports (the image's, `--expose` ranges, published ones);
//! `isolation=` and `is-task=` read as docker reads them on Linux;
//! `publish=` values are read as docker reads them (ranges, errors). Each bad
//! input is one line, docker's exit code, and changes nothing.

mod cli_support;

use std::time::Duration;

use berth_fixture::{require_root, unique_id, wait_until};
use cli_support::{Berth, Out};

fn one_line_error(out: &Out, code: i32, want: &str) {
    assert_eq!(out.code(), code, "{out}");
    assert_eq!(out.err_lines().len(), 1, "not one line: {out}");
    assert!(out.stderr.contains(want), "{out}");
    assert!(out.stdout.is_empty(), "printed something: {out}");
}

const ATTACHED: &str = "{{.Config.AttachStdin}} {{.Config.AttachStdout}} {{.Config.AttachStderr}}";

#[test]
fn create_attach_is_recorded_and_start_attach_shows_both_streams() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let name = unique_id("cra");
    let script = "echo to-out; echo to-err >&2";
    b.run(&[
        "create", "--name", &name, "-a", "stderr", "busybox", "sh", "-c", script,
    ])
    .ok();
    let recorded = |n: &str| {
        b.run(&["inspect", "-f", ATTACHED, n])
            .ok()
            .out()
            .to_string()
    };
    assert_eq!(recorded(&name), "false false true");
    // docker's start -a attaches stdout and stderr whatever create recorded
    let out = b.run(&["start", "-a", &name]);
    assert_eq!(
        (out.code(), out.stdout.as_str(), out.stderr.as_str()),
        (0, "to-out\n", "to-err\n"),
        "{out}"
    );
    for (flags, want) in [
        (vec![], "false true true"),
        (vec!["-i"], "true true true"),
        (vec!["-a", "stdin", "-a", "STDOUT"], "true true false"),
    ] {
        let n = unique_id("cra");
        let mut args = vec!["create", "--name", n.as_str()];
        args.extend(flags.iter().copied());
        args.extend(["busybox", "true"]);
        b.run(&args).ok();
        assert_eq!(recorded(&n), want, "{flags:?}");
    }
    let n = unique_id("cra");
    b.run(&["run", "-d", "--name", &n, "busybox", "true"]).ok();
    assert_eq!(recorded(&n), "false false false");

    let before = b.container_ids();
    let out = b.run(&["create", "-a", "bogus", "busybox", "true"]);
    one_line_error(&out, 125, "valid streams are STDIN, STDOUT and STDERR");
    assert_eq!(b.container_ids(), before);
}

#[test]
fn ps_size_shows_the_writable_layer_and_the_virtual_size() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let name = unique_id("size");
    b.busybox_sh(
        &name,
        "echo hello > /x && ln /x /x2 && while true; do sleep 1; done",
    );
    assert!(wait_until(Duration::from_secs(10), || {
        b.run(&["exec", &name, "test", "-f", "/x2"]).code() == 0
    }));
    let only = format!("name=^/{name}$");
    let table = b.run(&["ps", "-s", "-f", &only]).ok();
    let rows: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(
        rows[0].contains("   NAMES   ") && rows[0].ends_with("   SIZE"),
        "{table}"
    );
    // "hello\n" once, its hard link not counted again
    assert!(
        rows[1].contains(&format!("{name}   6B (virtual ")),
        "{table}"
    );
    assert!(rows[1].ends_with("MB)"), "{table}");
    // a template naming .Size gets sizes without -s, as docker's does
    let cell = b.run(&["ps", "-f", &only, "--format", "{{.Size}}"]).ok();
    assert!(cell.out().starts_with("6B (virtual "), "{cell}");
    let row = b.run(&["ps", "-f", &only, "--format", "{{json .}}"]).ok();
    let row: serde_json::Value = serde_json::from_str(row.out()).unwrap();
    assert!(
        row["Size"].as_str().unwrap().starts_with("6B (virtual "),
        "{row}"
    );
    let plain = b.run(&["ps", "-f", &only]).ok();
    assert!(!plain.stdout.contains("SIZE"), "{plain}");
    // a stopped container keeps its layer
    b.run(&["stop", "-t", "0", &name]).ok();
    let stopped = b
        .run(&["ps", "-a", "-s", "-f", &only, "--format", "{{.Size}}"])
        .ok();
    assert!(stopped.out().starts_with("6B (virtual "), "{stopped}");
}

#[test]
fn ps_filters_expose_isolation_and_is_task() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let web = unique_id("expose");
    let plain = unique_id("expose");
    let web_id = b
        .run(&[
            "create",
            "--name",
            &web,
            "--expose",
            "80",
            "--expose",
            "8000-8002/udp",
            "busybox",
            "true",
        ])
        .ok()
        .out()
        .to_string();
    b.run(&["create", "--name", &plain, "busybox", "true"]).ok();
    let exposed = b
        .run(&["inspect", "-f", "{{json .Config.ExposedPorts}}", &web])
        .ok();
    assert_eq!(
        exposed.out(),
        r#"{"80/tcp":{},"8000/udp":{},"8001/udp":{},"8002/udp":{}}"#
    );
    let ids = |filters: &[&str]| -> Vec<String> {
        let mut args = vec!["ps", "-a", "-q", "--no-trunc"];
        for f in filters {
            args.extend(["-f", f]);
        }
        b.run(&args).ok().stdout.lines().map(String::from).collect()
    };
    let web_only = vec![web_id.clone()];
    assert_eq!(ids(&["expose=80"]), web_only);
    assert_eq!(ids(&["expose=80/tcp"]), web_only);
    assert_eq!(ids(&["expose=8001/udp"]), web_only);
    assert_eq!(ids(&["expose=8000-8001/udp"]), web_only);
    assert!(ids(&["expose=8001"]).is_empty());
    assert!(ids(&["expose=81"]).is_empty());
    assert!(ids(&["expose=80/xyz"]).is_empty());
    // Linux has one isolation: any value matches every container
    assert_eq!(ids(&["isolation=hyperv", "name=expose"]).len(), 2);
    assert!(ids(&["is-task=true"]).is_empty());
    assert_eq!(ids(&["is-task=false", "name=expose"]).len(), 2);

    for (filter, want) in [
        (
            "expose=bad",
            "error while looking up for expose bad: strconv.ParseUint: parsing \"bad\": invalid syntax",
        ),
        (
            "expose=80-79",
            "Invalid range specified for the Port: 80-79",
        ),
        ("expose=1:2", "filter for 'expose' should not contain ':': 1:2"),
        (
            "publish=8080:80",
            "filter for 'publish' should not contain ':': 8080:80",
        ),
        (
            "publish=70000",
            "error while looking up for publish 70000: strconv.ParseUint: parsing \"70000\": value out of range",
        ),
        ("is-task=bogus", "Invalid filter 'is-task=bogus'"),
    ] {
        let out = b.run(&["ps", "-a", "-f", filter]);
        one_line_error(&out, 1, want);
    }
}
