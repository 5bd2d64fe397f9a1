//! docker's spellings berth accepts: the management groups (`container …`,
//! `image …`, `system …`, `builder …`) as aliases of the top-level
//! commands, `rename`, and the `run`/`create`/`logs` flags docker users
//! type (`--env-file`, `--label-file`, `--pull`, `--platform`,
//! `--cidfile`, `logs --since/--until`). Each bad input is one line,
//! docker's exit code, and changes nothing.

mod cli_support;

use berth_fixture::{require_root, unique_id};
use cli_support::{Berth, Out};

fn one_line_error(out: &Out, code: i32) {
    assert_eq!(out.code(), code, "{out}");
    assert_eq!(out.err_lines().len(), 1, "not one line: {out}");
}

fn lines(out: &Out) -> Vec<String> {
    out.stdout.lines().map(str::to_string).collect()
}

#[test]
fn container_group_verbs_are_the_top_level_commands() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let name = unique_id("grp");
    let id = b
        .run(&[
            "container",
            "create",
            "--name",
            &name,
            "busybox",
            "echo",
            "hi",
        ])
        .ok()
        .out()
        .to_string();
    // every spelling of ls lists the same thing as ps
    let ps = b.run(&["ps", "-a", "--no-trunc", "-q"]).ok();
    for ls in ["ls", "list", "ps"] {
        let out = b.run(&["container", ls, "-a", "--no-trunc", "-q"]).ok();
        assert_eq!(out.stdout, ps.stdout, "container {ls}");
        assert_eq!(out.out(), id);
    }
    // container inspect is inspect restricted to containers
    let out = b
        .run(&["container", "inspect", "-f", "{{.Id}}", &name])
        .ok();
    assert_eq!(out.out(), id);
    let out = b.run(&["container", "inspect", "busybox"]);
    one_line_error(&out, 1);

    // rename, both spellings; a bad or taken name changes nothing
    let renamed = unique_id("ren");
    b.run(&["container", "rename", &name, &renamed]).ok();
    b.run(&["rename", &renamed, &name]).ok();
    let out = b.run(&["rename", &name, "bad/name"]);
    one_line_error(&out, 1);
    let out = b.run(&["rename", "no-such-container", &renamed]);
    one_line_error(&out, 1);
    let other = unique_id("other");
    let other_id = b
        .run(&["create", "--name", &other, "busybox", "true"])
        .ok()
        .out()
        .to_string();
    let out = b.run(&["rename", &other, &name]);
    one_line_error(&out, 1);
    let out = b.run(&["inspect", "-f", "{{.Id}}", &name]).ok();
    assert_eq!(out.out(), id, "the name still names the first container");
    let out = b.run(&["rename", &name]);
    one_line_error(&out, 125);

    b.run(&["container", "start", &name]).ok();
    let out = b.run(&["container", "wait", &name]).ok();
    assert_eq!(out.out(), "0");
    let out = b.run(&["container", "logs", &name]).ok();
    assert_eq!(out.out(), "hi");
    let out = b.run(&["container", "diff", &name]);
    assert_eq!(out.code(), 0, "{out}");
    // stop's timeout, in docker's current and older spellings
    let sleeper = b
        .run(&["run", "-d", "busybox", "sleep", "600"])
        .ok()
        .out()
        .to_string();
    b.run(&["container", "restart", "--timeout", "0", &sleeper])
        .ok();
    b.run(&["container", "stop", "--timeout", "0", &sleeper])
        .ok();
    b.run(&["container", "start", &sleeper]).ok();
    b.run(&["stop", "--time", "0", &sleeper]).ok();
    let out = b
        .run(&["inspect", "-f", "{{.State.Status}}", &sleeper])
        .ok();
    assert_eq!(out.out(), "exited");
    b.run(&["rm", &sleeper]).ok();

    // container prune removes the stopped containers and no image
    let images = b.run(&["image", "ls", "-q"]).ok();
    let out = b.run(&["container", "prune", "-f"]).ok();
    assert!(out.stdout.starts_with("Deleted Containers:\n"), "{out}");
    assert!(
        out.stdout.contains(&id) && out.stdout.contains(&other_id),
        "{out}"
    );
    assert!(out.stdout.contains("Total reclaimed space:"), "{out}");
    assert!(b.container_ids().is_empty(), "{:?}", b.container_ids());
    assert_eq!(b.run(&["image", "ls", "-q"]).ok().stdout, images.stdout);
    // without -f it asks, and "no" keeps everything
    let kept = b.run(&["create", "busybox", "true"]).ok().out().to_string();
    let out = b.run_input(&["container", "prune"], b"n\n").ok();
    assert!(
        out.stdout
            .starts_with("WARNING! This will remove all stopped containers.\n"),
        "{out}"
    );
    assert_eq!(b.container_ids(), [kept.as_str()]);
    b.run(&["container", "remove", &kept]).ok();
    assert!(b.container_ids().is_empty());

    // bad input: an unknown verb, a missing operand
    let out = b.run(&["container", "frobnicate"]);
    one_line_error(&out, 125);
    let out = b.run(&["container", "rm"]);
    one_line_error(&out, 125);
}

#[test]
fn image_group_verbs_and_prunes() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    for ls in ["ls", "list"] {
        let out = b.run(&["image", ls]).ok();
        assert_eq!(out.stdout, b.run(&["images"]).ok().stdout, "image {ls}");
        // -a is accepted: every image is listed anyway
        let out = b.run(&["image", ls, "-a"]).ok();
        assert_eq!(out.stdout, b.run(&["images", "--all"]).ok().stdout);
        assert_eq!(out.stdout, b.run(&["images"]).ok().stdout);
    }
    let tag = format!("{}:v1", unique_id("tagged"));
    b.run(&["image", "tag", "busybox", &tag]).ok();
    let out = b.run(&["image", "ls", "--format", "json"]).ok();
    assert!(out.stdout.contains("tagged"), "{out}");
    let out = b.run(&["image", "history", "-q", &tag]).ok();
    assert!(!out.out().is_empty(), "{out}");
    let out = b.run(&["image", "inspect", "-f", "{{.Id}}", &tag]).ok();
    let busybox_id = out.out().to_string();
    assert!(busybox_id.starts_with("sha256:"), "{out}");
    let saved = b.scratch("saved").join("img.tar");
    b.run(&["image", "save", "-o", saved.to_str().unwrap(), &tag])
        .ok();
    b.run(&["image", "rm", &tag]).ok();
    assert!(!b.run(&["images"]).ok().stdout.contains("tagged"));
    let out = b
        .run(&["image", "load", "-q", "-i", saved.to_str().unwrap()])
        .ok();
    assert!(out.stdout.contains("tagged"), "{out}");
    b.run(&["image", "remove", &tag]).ok();

    // a dangling image (an untagged commit) and a container using busybox
    let user = b.run(&["create", "busybox", "true"]).ok().out().to_string();
    let dangling = b.run(&["commit", &user]).ok().out().to_string();
    assert!(dangling.starts_with("sha256:"), "{dangling}");
    let all_ids = |b: &Berth| lines(&b.run(&["image", "ls", "-q", "--no-trunc"]).ok());
    assert!(all_ids(&b).contains(&dangling));

    // without -f it asks; "no" keeps everything
    let out = b.run_input(&["image", "prune"], b"n\n").ok();
    assert!(
        out.stdout
            .starts_with("WARNING! This will remove all dangling images.\n"),
        "{out}"
    );
    assert!(all_ids(&b).contains(&dangling));
    // image prune: the dangling image goes, containers and tagged images stay
    let out = b.run(&["image", "prune", "-f"]).ok();
    assert!(out.stdout.contains(&dangling), "{out}");
    assert!(!all_ids(&b).contains(&dangling));
    assert!(all_ids(&b).contains(&busybox_id));
    assert_eq!(b.container_ids(), [user.as_str()]);
    // -a: busybox stays while a container uses it, goes once none does
    b.run(&["image", "tag", "busybox", &tag]).ok();
    b.run(&["image", "prune", "-a", "-f"]).ok();
    assert!(all_ids(&b).contains(&busybox_id));
    b.run(&["rm", &user]).ok();
    let out = b.run(&["image", "prune", "-af"]).ok();
    assert!(out.stdout.contains("Deleted Images:"), "{out}");
    assert!(all_ids(&b).is_empty(), "{:?}", all_ids(&b));

    // builder prune: the untagged images a build leaves
    b.load_busybox();
    let user = b.run(&["create", "busybox", "true"]).ok().out().to_string();
    let dangling = b.run(&["commit", &user]).ok().out().to_string();
    b.run(&["rm", &user]).ok();
    let out = b.run(&["builder", "prune", "-f"]).ok();
    assert!(out.stdout.contains(&dangling), "{out}");
    assert!(!all_ids(&b).contains(&dangling));
    assert!(all_ids(&b).contains(&busybox_id));

    // bad input: one line, exit 1 for a missing image, 125 for flags
    let out = b.run(&["image", "rm", "no-such-image"]);
    one_line_error(&out, 1);
    let out = b.run(&["image", "prune", "--bogus"]);
    one_line_error(&out, 125);
    assert!(all_ids(&b).contains(&busybox_id));
}

#[test]
fn system_group_verbs() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let out = b.run(&["system", "info"]).ok();
    assert!(out.stdout.contains("Images: 1"), "{out}");
    assert_eq!(b.run(&["info"]).ok().stdout, out.stdout);
    // builder build is build
    let ctx = b.scratch("ctx");
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nLABEL compat=yes\n").unwrap();
    let tag = unique_id("built");
    b.run(&["builder", "build", "-q", "-t", &tag, ctx.to_str().unwrap()])
        .ok();
    let out = b
        .run(&["image", "inspect", "-f", "{{json .Config.Labels}}", &tag])
        .ok();
    assert!(out.stdout.contains("\"compat\":\"yes\""), "{out}");
    let out = b.run(&["system", "df"]).ok();
    assert!(out.stdout.starts_with("TYPE"), "{out}");
    let out = b.run(&["system", "prune", "-f"]).ok();
    assert!(out.stdout.contains("Total reclaimed space:"), "{out}");
    let out = b.run(&["system", "events", "--bogus"]);
    one_line_error(&out, 125);
    let out = b.run(&["system", "frobnicate"]);
    one_line_error(&out, 125);
}

#[test]
fn run_env_file_label_file_pull_platform_cidfile() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let dir = b.scratch("files");
    let env = dir.join("env");
    std::fs::write(&env, "# a comment\n\nA=1\nB=two words\n").unwrap();
    let env = env.to_str().unwrap();
    let out = b
        .run(&[
            "container",
            "run",
            "--rm",
            "--env-file",
            env,
            "-e",
            "A=2",
            "busybox",
            "env",
        ])
        .ok();
    assert!(out.stdout.lines().any(|l| l == "A=2"), "{out}");
    assert!(out.stdout.lines().any(|l| l == "B=two words"), "{out}");
    assert!(!out.stdout.lines().any(|l| l == "A=1"), "-e wins: {out}");

    // exec takes --env-file too
    let sleeper = b
        .run(&["run", "-d", "busybox", "sleep", "600"])
        .ok()
        .out()
        .to_string();
    let out = b.run(&["exec", "--env-file", env, &sleeper, "env"]).ok();
    assert!(out.stdout.lines().any(|l| l == "B=two words"), "{out}");
    let out = b.run(&["exec", "--env-file", "/no/such/env-file", &sleeper, "env"]);
    one_line_error(&out, 1);
    b.run(&["rm", "-f", &sleeper]).ok();

    let labels = dir.join("labels");
    std::fs::write(&labels, "a=1\n# no\nb\n").unwrap();
    let labels = labels.to_str().unwrap();
    let id = b
        .run(&[
            "create",
            "--label-file",
            labels,
            "-l",
            "c=3",
            "busybox",
            "true",
        ])
        .ok()
        .out()
        .to_string();
    let out = b.run(&["inspect", &id]).ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let got = &v[0]["Config"]["Labels"];
    assert_eq!(got["a"], "1", "{out}");
    assert_eq!(got["b"], "", "{out}");
    assert_eq!(got["c"], "3", "{out}");
    b.run(&["rm", &id]).ok();

    // --platform: this host's is accepted, others refused
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    let here = format!("linux/{arch}");
    b.run(&["run", "--rm", "--platform", &here, "busybox", "true"])
        .ok();
    let other = if arch == "amd64" {
        "linux/arm64"
    } else {
        "linux/amd64"
    };

    // --cidfile: the id, written once; a second run naming it is refused
    let cid = dir.join("cid");
    let cid_s = cid.to_str().unwrap();
    let id = b
        .run(&["create", "--cidfile", cid_s, "busybox", "true"])
        .ok()
        .out()
        .to_string();
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id);

    let bad_env = dir.join("bad-env");
    std::fs::write(&bad_env, "A=1\nbad key=2\n").unwrap();
    let missing_cid = dir.join("never-written");
    let missing_cid = missing_cid.to_str().unwrap();
    // a tag on a registry nobody serves: `always` must try to pull it
    let unreachable = "127.0.0.1:1/berth-compat:latest";
    b.run(&["tag", "busybox", unreachable]).ok();
    for args in [
        &[
            "run",
            "--rm",
            "--env-file",
            "/no/such/env-file",
            "busybox",
            "true",
        ][..],
        &[
            "run",
            "--rm",
            "--env-file",
            bad_env.to_str().unwrap(),
            "busybox",
            "true",
        ],
        &["create", "--label-file", "/no/such/label-file", "busybox"],
        &["create", "--pull", "sometimes", "busybox"],
        &["create", "--pull", "never", "no-such-image-here"],
        &["run", "--rm", "--pull", "always", unreachable, "true"],
        &["create", "--platform", other, "busybox"],
        &["create", "--platform", "linux/amd64/v1/extra", "busybox"],
        &["create", "--cidfile", cid_s, "busybox"],
        &[
            "create",
            "--cidfile",
            missing_cid,
            "--pull",
            "never",
            "no-such-image-here",
        ],
    ] {
        let out = b.run(args);
        one_line_error(&out, 125);
        assert!(out.stderr.starts_with("berth: "), "{out}");
    }
    assert_eq!(
        b.container_ids(),
        [id.as_str()],
        "bad input made containers"
    );
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id);
    assert!(!std::path::Path::new(missing_cid).exists());
    // never and missing use the stored image without a registry
    for pull in ["never", "missing"] {
        b.run(&["run", "--rm", "--pull", pull, unreachable, "true"])
            .ok();
    }
    b.run(&["rm", &id]).ok();
}

#[test]
fn logs_since_and_until() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let id = b
        .run(&[
            "run",
            "-d",
            "busybox",
            "sh",
            "-c",
            "echo first; sleep 1.2; echo second",
        ])
        .ok()
        .out()
        .to_string();
    b.run(&["wait", &id]).ok();
    let out = b.run(&["container", "logs", "-t", &id]).ok();
    let stamped: Vec<(String, String)> = out
        .stdout
        .lines()
        .map(|l| {
            let (t, text) = l.split_once(' ').unwrap();
            (t.to_string(), text.to_string())
        })
        .collect();
    assert_eq!(stamped.len(), 2, "{out}");
    let (first, second) = (&stamped[0].0, &stamped[1].0);
    let logs = |extra: &[&str]| {
        let mut args = vec!["logs"];
        args.extend_from_slice(extra);
        args.push(&id);
        lines(&b.run(&args).ok())
    };
    assert_eq!(logs(&["--since", second]), ["second"]);
    assert_eq!(logs(&["--until", first]), ["first"]);
    assert_eq!(
        logs(&["--since", first, "--until", second]),
        ["first", "second"]
    );
    assert_eq!(logs(&["--since", "1h"]), ["first", "second"]);
    // --details: no attributes, so docker's single space before each line
    assert_eq!(logs(&["--details"]), [" first", " second"]);
    let detailed = logs(&["--details", "-t"]);
    assert_eq!(detailed[0], format!("{first}  first"));
    assert!(logs(&["--until", "1h"]).is_empty());
    let future = (std::time::SystemTime::now() + std::time::Duration::from_secs(3600))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    assert!(logs(&["--since", &future]).is_empty());
    assert_eq!(logs(&["--until", &future]), ["first", "second"]);
    for bad in ["bogus", "10x", "2023-13-40"] {
        let out = b.run(&["logs", "--since", bad, &id]);
        one_line_error(&out, 1);
        assert!(out.stderr.contains(bad), "{out}");
        let out = b.run(&["logs", "--until", bad, "no-such-container"]);
        one_line_error(&out, 1);
        assert!(out.stderr.contains("--until"), "{out}");
    }
    b.run(&["rm", &id]).ok();
}

#[test]
fn ps_last_and_latest() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let mut made = Vec::new();
    for _ in 0..3 {
        made.push(b.run(&["create", "busybox", "true"]).ok().out().to_string());
    }
    made.reverse(); // newest first, as ps lists them
    let q = |args: &[&str]| {
        let mut all = vec!["ps", "-q", "--no-trunc"];
        all.extend_from_slice(args);
        lines(&b.run(&all).ok())
    };
    assert!(q(&[]).is_empty(), "created containers are not running");
    assert_eq!(q(&["-n", "2"]), made[..2]);
    assert_eq!(q(&["--last", "5"]), made);
    assert_eq!(q(&["-l"]), made[..1]);
    assert_eq!(q(&["--latest", "-n", "3"]), made[..1]);
    assert_eq!(q(&["-n", "-1", "-a"]), made);
    assert_eq!(
        lines(
            &b.run(&["container", "ls", "-q", "--no-trunc", "--last", "1"])
                .ok()
        ),
        made[..1]
    );
    let out = b.run(&["ps", "-n", "two"]);
    one_line_error(&out, 125);
    assert!(
        out.stderr.starts_with("berth: ") && out.stderr.contains("'two'"),
        "{out}"
    );
    for id in &made {
        b.run(&["rm", id]).ok();
    }
}
