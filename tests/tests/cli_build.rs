//! `berth build` end to end, against busybox loaded from the local archive:
//! the classic seven-step Dockerfile built, rebuilt from the cache, rebuilt
//! after one file changed, and run; a multi-stage build; .dockerignore;
//! build args and a Dockerfile on stdin; the cache after a killed manager;
//! ctrl-c in a RUN step; and every kind of bad input, each leaving no
//! container and no tag behind.

mod cli_support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use berth_fixture::{require_root, unique_id, wait_until};
use cli_support::{Berth, Out};

/// Writes `files` (path, contents) under a fresh context dir.
fn context(b: &Berth, files: &[(&str, &str)]) -> PathBuf {
    let dir = b.scratch(&unique_id("ctx"));
    for (p, text) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn build(b: &Berth, args: &[&str], ctx: &Path) -> Out {
    let mut a: Vec<&str> = vec!["build"];
    a.extend_from_slice(args);
    a.push(ctx.to_str().unwrap());
    b.run(&a)
}

fn using_cache(out: &Out) -> usize {
    out.stdout.matches(" ---> Using cache").count()
}

/// The step headers and results in order, RUN output left out.
fn step_lines(out: &Out) -> Vec<&str> {
    out.stdout
        .lines()
        .filter(|l| l.starts_with("Step ") || l.starts_with(" ---> "))
        .collect()
}

fn has_tag(b: &Berth, repo: &str) -> bool {
    b.run(&["images"])
        .ok()
        .stdout
        .lines()
        .any(|l| l.split_whitespace().next() == Some(repo))
}

/// Starts `berth build ARGS` and returns once its RUN step printed
/// `started`.
fn build_until_started(b: &Berth, args: &[&str]) -> std::process::Child {
    let mut child = b
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        let started = line == "started";
        seen.push(line);
        if started {
            return child;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the RUN step never printed `started`: {seen:?}");
}

/// Waits (20s at most) for `child` to exit; kills it and fails with `why`
/// if it does not.
fn exit_within(child: &mut std::process::Child, why: &str) -> std::process::ExitStatus {
    let done = wait_until(Duration::from_secs(20), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !done {
        let _ = child.kill();
    }
    assert!(done, "{why}");
    child.wait().unwrap()
}

const SEVEN: &str = "FROM busybox
RUN echo built > /built
COPY greeting.txt /app/
RUN cat /app/greeting.txt > /app/copied
COPY src /app/src
WORKDIR /app
CMD [\"sh\", \"-c\", \"cat /built copied src/main.txt\"]
";

#[test]
fn seven_steps_cached_then_one_file_changed() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let ctx = context(
        &b,
        &[
            ("Dockerfile", SEVEN),
            ("greeting.txt", "hello\n"),
            ("src/main.txt", "v1\n"),
        ],
    );

    let first = build(&b, &["-t", "seven"], &ctx).ok();
    let lines = step_lines(&first);
    assert_eq!(lines[0], "Step 1/7 : FROM busybox", "{first}");
    assert_eq!(lines[2], "Step 2/7 : RUN echo built > /built", "{first}");
    assert!(lines[3].starts_with(" ---> Running in "), "{first}");
    assert_eq!(lines[3].len(), " ---> Running in ".len() + 12, "{first}");
    assert!(first
        .stdout
        .contains("Step 7/7 : CMD [\"sh\", \"-c\", \"cat /built copied src/main.txt\"]"));
    assert_eq!(
        first
            .stdout
            .matches("Removing intermediate container ")
            .count(),
        2
    );
    assert_eq!(using_cache(&first), 0, "{first}");
    let built = first
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Successfully built "))
        .expect("Successfully built")
        .to_string();
    assert_eq!(built.len(), 12);
    assert!(
        first.stdout.ends_with("Successfully tagged seven:latest\n"),
        "{first}"
    );

    let run = b.run(&["run", "--rm", "seven"]).ok();
    assert_eq!(run.stdout, "built\nhello\nv1\n", "{run}");

    // the second build takes every step from the cache
    let second = build(&b, &["-t", "seven"], &ctx).ok();
    assert_eq!(using_cache(&second), 6, "{second}");
    assert!(!second.stdout.contains("Running in"), "{second}");
    assert!(
        second
            .stdout
            .contains(&format!("Successfully built {built}")),
        "{second}"
    );

    // one file changed: the steps before its COPY come from the cache
    std::fs::write(ctx.join("src/main.txt"), "v2\n").unwrap();
    let third = build(&b, &["-t", "seven"], &ctx).ok();
    assert_eq!(using_cache(&third), 3, "{third}");
    let step5 = third.stdout.find("Step 5/7").unwrap();
    assert!(!third.stdout[step5..].contains("Using cache"), "{third}");
    assert!(!third
        .stdout
        .contains(&format!("Successfully built {built}")));
    let run = b.run(&["run", "--rm", "seven"]).ok();
    assert_eq!(run.stdout, "built\nhello\nv2\n", "{run}");

    // --no-cache builds every step again
    let fresh = build(&b, &["--no-cache", "-q"], &ctx).ok();
    assert!(
        fresh.out().starts_with("sha256:") && fresh.out().len() == 71,
        "{fresh}"
    );

    b.assert_all_gone(&[]);
}

#[test]
fn cache_survives_a_killed_manager() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let ctx = context(
        &b,
        &[
            (
                "Dockerfile",
                "FROM busybox\nRUN echo a > /a\nCOPY f /f\nENV X=1\n",
            ),
            ("f", "data"),
        ],
    );
    build(&b, &[], &ctx).ok();
    b.kill_manager();
    let again = build(&b, &[], &ctx).ok();
    assert_eq!(using_cache(&again), 3, "{again}");
}

#[test]
fn multi_stage_final_image_holds_only_the_artifact() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let df = "FROM busybox AS build
RUN mkdir /out && echo artifact > /out/app && echo junk > /junk
FROM scratch AS bare
COPY --from=build /out/app /app
FROM busybox
COPY --from=build /out/app /srv/app
CMD [\"cat\", \"/srv/app\"]
";
    let ctx = context(&b, &[("Dockerfile", df)]);
    let out = build(&b, &["-t", "final"], &ctx).ok();
    assert!(
        out.stdout
            .contains("Step 3/7 : FROM scratch AS bare\n ---> \n"),
        "{out}"
    );
    let run = b.run(&["run", "--rm", "final"]).ok();
    assert_eq!(run.stdout, "artifact\n", "{run}");
    let junk = b.run(&["run", "--rm", "final", "ls", "/junk"]);
    assert_ne!(junk.code(), 0, "{junk}");

    // the scratch stage: one layer holding the artifact alone
    build(&b, &["--target", "bare", "-t", "bare"], &ctx).ok();
    let saved = b.scratch("saved").join("bare.tar");
    b.run(&["save", "-o", saved.to_str().unwrap(), "bare"]).ok();
    let unpacked = b.scratch("bare");
    let tar = std::process::Command::new("tar")
        .arg("-xf")
        .arg(&saved)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap();
    assert!(tar.success());
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(unpacked.join("manifest.json")).unwrap()).unwrap();
    let layers = index[0]["Layers"].as_array().unwrap().clone();
    assert_eq!(layers.len(), 1, "{index}");
    let listing = std::process::Command::new("tar")
        .arg("-tzf")
        .arg(unpacked.join(layers[0].as_str().unwrap()))
        .output()
        .unwrap();
    let names: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(|l| l.trim_start_matches("./").to_string())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(names, vec!["app"], "{listing:?}");

    let bad = build(&b, &["--target", "nope"], &ctx);
    assert_eq!(bad.code(), 1, "{bad}");
    assert!(
        bad.stderr.contains("failed to reach build target nope"),
        "{bad}"
    );
    b.assert_all_gone(&[]);
}

#[test]
fn dockerignore_leaves_files_out() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let ctx = context(
        &b,
        &[
            (
                "Dockerfile",
                "FROM busybox\nCOPY . /ctx/\nCMD [\"find\", \"/ctx\"]\n",
            ),
            (
                ".dockerignore",
                "# logs and secrets\n*.log\n/secret\n!secret/keep\n**/*.tmp\n",
            ),
            ("a.txt", "a"),
            ("x.log", "log"),
            ("sub/deep.tmp", "tmp"),
            ("sub/kept", "kept"),
            ("secret/other", "no"),
            ("secret/keep", "yes"),
        ],
    );
    build(&b, &["-t", "ignored"], &ctx).ok();
    let run = b.run(&["run", "--rm", "ignored"]).ok();
    let mut found: Vec<&str> = run.stdout.lines().collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            "/ctx",
            "/ctx/.dockerignore",
            "/ctx/Dockerfile",
            "/ctx/a.txt",
            "/ctx/secret",
            "/ctx/secret/keep",
            "/ctx/sub",
            "/ctx/sub/kept"
        ],
        "{run}"
    );
    // an ignored file is not there for COPY either
    let ctx2 = context(
        &b,
        &[
            ("Dockerfile", "FROM busybox\nCOPY x.log /\n"),
            (".dockerignore", "*.log\n"),
            ("x.log", "log"),
        ],
    );
    let out = build(&b, &[], &ctx2);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr
            .contains("Dockerfile:2: COPY failed: file not found in build context or excluded by .dockerignore"),
        "{out}"
    );
}

#[test]
fn build_args_stdin_dockerfile_and_labels() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let ctx = context(&b, &[("f.txt", "file\n")]);
    let df = "ARG BASE=busybox\nFROM ${BASE}\nARG WHO=nobody\nENV GREETING=\"hello ${WHO}\"\nRUN echo \"$WHO\" > /who\nCOPY f.txt /\nUSER 1000:1000\nCMD [\"sh\", \"-c\", \"echo $GREETING; cat /who /f.txt; id -u\"]\n";
    let out = b
        .run_input(
            &[
                "build",
                "-f",
                "-",
                "--build-arg",
                "WHO=berth",
                "--build-arg",
                "UNUSED=1",
                "--label",
                "stage=test",
                "-t",
                "args:v1",
                ctx.to_str().unwrap(),
            ],
            df.as_bytes(),
        )
        .ok();
    assert!(out.stdout.contains("Step 1/9 : ARG BASE=busybox"), "{out}");
    assert!(out.stdout.contains("Step 9/9 : LABEL stage=test"), "{out}");
    assert!(
        out.stdout
            .contains("[Warning] One or more build-args [UNUSED] were not consumed"),
        "{out}"
    );
    assert!(
        out.stdout.ends_with("Successfully tagged args:v1\n"),
        "{out}"
    );
    let run = b.run(&["run", "--rm", "args:v1"]).ok();
    assert_eq!(run.stdout, "hello berth\nberth\nfile\n1000\n", "{run}");
    let inspect = b.run(&["inspect", "args:v1"]).ok();
    let v: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(v[0]["Config"]["Labels"]["stage"], "test", "{inspect}");
    assert_eq!(v[0]["Config"]["User"], "1000:1000", "{inspect}");
    assert!(
        !inspect.stdout.contains("WHO=berth"),
        "build args stay out of the image: {inspect}"
    );

    // no context at all: COPY has nothing to copy from
    let out = b.run_input(&["build", "-"], b"FROM busybox\nCOPY a /a\n");
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("there is no build context"), "{out}");
    let out = b
        .run_input(&["build", "-q", "-"], b"FROM busybox\nRUN true\n")
        .ok();
    assert!(out.out().starts_with("sha256:"), "{out}");
    assert_eq!(out.out().lines().count(), 1, "{out}");

    // a whole context as a tar on stdin
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nCOPY f.txt /from-tar\nCMD [\"cat\", \"/from-tar\"]\n",
    )
    .unwrap();
    let tar = std::process::Command::new("tar")
        .arg("-C")
        .arg(&ctx)
        .args(["-cf", "-", "."])
        .output()
        .unwrap();
    assert!(tar.status.success());
    b.run_input(&["build", "-t", "tarctx", "-"], &tar.stdout)
        .ok();
    let run = b.run(&["run", "--rm", "tarctx"]).ok();
    assert_eq!(run.stdout, "file\n", "{run}");
}

#[test]
fn bad_inputs_name_the_line_and_leave_nothing() {
    require_root!();
    let b = Berth::new();
    // bad flags are refused before a manager is even started
    let ctx = context(&b, &[("Dockerfile", "FROM busybox\n")]);
    for args in [
        vec!["--network", "bridge9"],
        vec!["-t", "Upper"],
        vec!["-t", "a:"],
    ] {
        let out = build(&b, &args, &ctx);
        assert_eq!(out.code(), 1, "{out}");
        assert!(out.stderr.starts_with("berth: "), "{out}");
    }
    let out = b.run(&["build", "/nonexistent-context"]);
    assert!(
        out.stderr
            .contains("path \"/nonexistent-context\" not found"),
        "{out}"
    );
    assert!(b.manager_pids().is_empty(), "a manager was started");
    b.load_busybox();

    let ctx = context(&b, &[("Dockerfile", "FROM busybox\n# fine\nFROB x\n")]);
    let out = build(&b, &["-t", "bad1"], &ctx);
    assert_eq!(out.code(), 1, "{out}");
    assert_eq!(
        out.stderr.trim(),
        "Dockerfile:3: unknown instruction: FROB",
        "{out}"
    );

    let ctx = context(&b, &[("Dockerfile", "FROM busybox\nCOPY missing.txt /\n")]);
    let out = build(&b, &["-t", "bad2"], &ctx);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr
            .contains("Dockerfile:2: COPY failed: file not found in build context"),
        "{out}"
    );

    let ctx = context(&b, &[("Dockerfile", "FROM busybox\nCOPY ../outside /\n")]);
    let out = build(&b, &["-t", "bad3"], &ctx);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr
            .contains("COPY failed: forbidden path outside the build context: ../outside"),
        "{out}"
    );

    let ctx = context(
        &b,
        &[("Dockerfile", "FROM 127.0.0.1:9/nothere:1\nRUN true\n")],
    );
    let out = build(&b, &["-t", "bad4"], &ctx);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("Dockerfile:1:"), "{out}");
    assert!(out.stderr.contains("127.0.0.1:9/nothere"), "{out}");

    let ctx = context(
        &b,
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo before\nRUN echo failing; exit 3\nCMD x\n",
        )],
    );
    let out = build(&b, &["-t", "bad5"], &ctx);
    assert_eq!(out.code(), 3, "{out}");
    assert!(
        out.stdout.contains("Step 3/4 : RUN echo failing; exit 3"),
        "{out}"
    );
    assert!(out.stdout.contains("failing\n"), "{out}");
    assert!(
        out.stderr.contains(
            "Dockerfile:3: The command '/bin/sh -c echo failing; exit 3' returned a non-zero code: 3"
        ),
        "{out}"
    );
    assert!(!out.stdout.contains("Successfully"), "{out}");

    for t in ["bad1", "bad2", "bad3", "bad4", "bad5"] {
        assert!(!has_tag(&b, t), "{t} was tagged");
    }
    b.assert_all_gone(&[]);
}

#[test]
fn symlinks_are_copied_as_symlinks_and_never_followed_out() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let ctx = context(
        &b,
        &[
            ("Dockerfile", "FROM busybox\nCOPY dir /dir\n"),
            ("dir/real", "real\n"),
        ],
    );
    std::os::unix::fs::symlink("/etc/shadow", ctx.join("dir/shadow")).unwrap();
    std::os::unix::fs::symlink("real", ctx.join("dir/rel")).unwrap();
    build(&b, &["-t", "links"], &ctx).ok();
    let run = b
        .run(&[
            "run",
            "--rm",
            "links",
            "sh",
            "-c",
            "readlink /dir/shadow; readlink /dir/rel; cat /dir/rel",
        ])
        .ok();
    assert_eq!(run.stdout, "/etc/shadow\nreal\nreal\n", "{run}");

    // a symlink named as the source resolves inside the context: the
    // host's /etc/shadow is not found there
    let ctx = context(&b, &[("Dockerfile", "FROM busybox\nCOPY shadow /x\n")]);
    std::os::unix::fs::symlink("/etc/shadow", ctx.join("shadow")).unwrap();
    let out = build(&b, &["-t", "links2"], &ctx);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("COPY failed: file not found"), "{out}");
    assert!(!has_tag(&b, "links2"));
    b.assert_all_gone(&[]);
}

#[test]
fn ctrl_c_in_a_run_step_removes_its_container() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let ctx = context(
        &b,
        &[("Dockerfile", "FROM busybox\nRUN echo started; sleep 60\n")],
    );
    let mut child = build_until_started(&b, &["build", "-t", "interrupted", ctx.to_str().unwrap()]);
    assert_eq!(b.container_ids().len(), 1, "the RUN container is there");
    // SAFETY: kill has no memory effects; the pid is our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = exit_within(&mut child, "berth build did not stop on SIGINT");
    assert_eq!(status.code(), Some(130));
    assert!(!has_tag(&b, "interrupted"));
    b.assert_all_gone(&[]);
}

#[test]
fn killed_manager_mid_build_leaves_nothing_for_the_next_build() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let ctx = context(
        &b,
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo first > /first\nRUN echo started; sleep 60\n",
        )],
    );
    let mut child = build_until_started(&b, &["build", ctx.to_str().unwrap()]);
    b.kill_manager();
    let status = exit_within(&mut child, "berth build did not end with its manager gone");
    assert_ne!(status.code(), Some(0));

    // the next build (a new manager) reuses the step that finished and
    // removes the container the cut-off build left
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo first > /first\nRUN cat /first\n",
    )
    .unwrap();
    let out = build(&b, &["-t", "after"], &ctx).ok();
    assert_eq!(using_cache(&out), 1, "{out}");
    assert!(out.stdout.contains("first\n"), "{out}");
    b.assert_all_gone(&[]);
}

/// The shared docker peer (../shared/conformance/docker-env.sh; never
/// stopped here), and the image a test loaded into it, removed on drop.
struct DockerPeer {
    exports: Vec<(String, String)>,
    image: String,
}

impl DockerPeer {
    fn start(image: &str) -> DockerPeer {
        let start = cli_support::run_cmd(
            std::process::Command::new("bash")
                .arg(cli_support::conformance_script("docker-env.sh"))
                .arg("start"),
            Duration::from_secs(600),
        );
        assert!(start.status.success(), "docker-env.sh start: {start}");
        let exports = start
            .stdout
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
            .collect();
        DockerPeer {
            exports,
            image: image.to_string(),
        }
    }

    fn docker(&self, args: &[&str]) -> Out {
        let mut c = std::process::Command::new("docker");
        c.args(args);
        for (k, v) in &self.exports {
            c.env(k, v);
        }
        cli_support::run_cmd(&mut c, Duration::from_secs(120))
    }
}

impl Drop for DockerPeer {
    fn drop(&mut self) {
        let _ = self.docker(&["rmi", "-f", &self.image]);
    }
}

#[test]
fn built_image_loads_into_docker() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let tag = format!("berth-built/{}:v1", unique_id("docker"));
    let ctx = context(
        &b,
        &[
            (
                "Dockerfile",
                "FROM busybox\nRUN echo from-run > /run.txt && rm /bin/ls\nCOPY f.txt /f.txt\nWORKDIR /srv\nCMD [\"sh\", \"-c\", \"cat /run.txt /f.txt; pwd; test -e /bin/ls || echo no-ls\"]\n",
            ),
            ("f.txt", "from-copy\n"),
        ],
    );
    build(&b, &["-t", &tag], &ctx).ok();
    let archive = b.scratch("out").join("built.tar");
    b.run(&["save", "-o", archive.to_str().unwrap(), &tag]).ok();

    let peer = DockerPeer::start(&tag);
    let load = peer.docker(&["load", "-i", archive.to_str().unwrap()]);
    assert!(load.status.success(), "{load}");
    let run = peer.docker(&["run", "--rm", "--network", "none", &tag]);
    assert!(run.status.success(), "{run}");
    assert_eq!(run.stdout, "from-run\nfrom-copy\n/srv\nno-ls\n", "{run}");
    let history = peer.docker(&["history", "--format", "{{.CreatedBy}}", &tag]);
    assert!(history.status.success(), "{history}");
    assert!(history.stdout.contains("WORKDIR /srv"), "{history}");
}

#[test]
fn rm_false_keeps_the_intermediate_container() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let ctx = context(&b, &[("Dockerfile", "FROM busybox\nRUN echo kept\n")]);
    let out = build(&b, &["--rm=false"], &ctx).ok();
    assert!(
        !out.stdout.contains("Removing intermediate container"),
        "{out}"
    );
    assert_eq!(b.container_ids().len(), 1, "{out}");
    // a later build leaves it alone: it was kept on purpose
    let ctx2 = context(&b, &[("Dockerfile", "FROM busybox\nRUN echo other\n")]);
    build(&b, &[], &ctx2).ok();
    assert_eq!(b.container_ids().len(), 1);
}

/// `USER name` in a Dockerfile: the RUN steps after it run as that user,
/// resolved from the image's own /etc/passwd, and the image keeps the name.
#[test]
fn run_steps_after_user_name_run_as_that_user() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let ctx = context(
        &b,
        &[(
            "Dockerfile",
            "FROM busybox\nUSER nobody\nRUN id -un > /tmp/who\nUSER 0\nCMD [\"cat\", \"/tmp/who\"]\n",
        )],
    );
    build(&b, &["-t", "named-user"], &ctx).ok();
    let run = b.run(&["run", "--rm", "named-user"]).ok();
    assert_eq!(run.out(), "nobody", "{run}");
}

/// RUN steps are confined by the default seccomp profile, as `berth run`'s
/// containers are: unshare(CLONE_NEWUSER), which needs no capability, fails
/// with EPERM in a RUN step (filter mode 2 in /proc/self/status).
#[test]
fn run_steps_get_the_default_seccomp_profile() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let ctx = context(
        &b,
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN unshare -U true 2>/probe; echo rc=$? >>/probe; grep Seccomp: /proc/self/status >>/probe\n\
             CMD [\"cat\", \"/probe\"]\n",
        )],
    );
    build(&b, &["-t", "confined"], &ctx).ok();
    let run = b.run(&["run", "--rm", "confined"]).ok();
    assert!(run.stdout.contains("Operation not permitted"), "{run}");
    assert!(run.stdout.contains("rc=1"), "{run}");
    assert!(run.stdout.contains("Seccomp:\t2"), "{run}");
}
