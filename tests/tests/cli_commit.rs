//! Images made from containers, end to end: `berth commit` of a container
//! that wrote, deleted and replaced files, then `run` of the new image,
//! `history`, `diff`, `image inspect`; commit of a running container; bad
//! input; a committed image through `save` into podman; and the build cache
//! of the manager's Layers API surviving `kill -9` of the manager.

mod cli_support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use berth_fixture::{require_root, unique_id, wait_until};
use berth_proto::layers::{BuildCacheEntry, BuildCacheKey, CreateImageRequest};
use berth_proto::layers_ttrpc::LayersClient;
use berth_proto::ttrpc;
use cli_support::{conformance_script, run_cmd, Berth, CMD_TIMEOUT};

/// What the container does to busybox's filesystem: adds a file, deletes
/// one, replaces a directory with a new one holding one file, and makes a
/// hard link pair with odd mode, owner and mtime, and a fifo.
const CHANGES: &str = "echo hi > /tmp/x; rm /bin/ls; rm -rf /etc; mkdir /etc; echo new > /etc/f; \
    echo l > /tmp/l1; ln /tmp/l1 /tmp/l2; chown 12:34 /tmp/l1; chmod 4711 /tmp/l1; \
    touch -d @1000000000 /tmp/l1; mkfifo /tmp/fifo";

fn image_ids(b: &Berth) -> Vec<String> {
    let mut ids: Vec<String> = b
        .run(&["images", "-q", "--no-trunc"])
        .ok()
        .stdout
        .lines()
        .map(str::to_string)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[test]
fn commit_keeps_the_container_changes_and_only_in_the_new_image() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let name = unique_id("commit");
    b.run(&["run", "--name", &name, "busybox", "sh", "-c", CHANGES])
        .ok();

    let diff = b.run(&["diff", &name]).ok();
    let lines: Vec<&str> = diff.stdout.lines().collect();
    for want in [
        "A /tmp/x",
        "C /tmp",
        "D /bin/ls",
        "C /bin",
        "A /etc/f",
        "C /etc",
    ] {
        assert!(lines.contains(&want), "{want:?} missing: {diff}");
    }
    // the replaced /etc lost busybox's files, as docker lists them
    assert!(lines.contains(&"D /etc/passwd"), "{diff}");
    // a changed directory comes before what changed inside it
    let etc = lines.iter().position(|l| *l == "C /etc").unwrap();
    assert!(
        etc < lines.iter().position(|l| *l == "A /etc/f").unwrap(),
        "{diff}"
    );

    let tag = format!("committed-{name}:v1");
    let out = b
        .run(&[
            "commit",
            "-m",
            "made by a test",
            "-a",
            "tester",
            "-c",
            r#"CMD ["cat", "/tmp/x"]"#,
            "-c",
            "ENV ADDED=yes",
            &name,
            &tag,
        ])
        .ok();
    let id = out.out().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");

    // the new image has the changes, with the new CMD and ENV
    let run = b.run(&["run", "--rm", &tag]).ok();
    assert_eq!(run.out(), "hi");
    let run = b
        .run(&[
            "run", "--rm", &tag, "sh", "-c",
            // hostname, hosts and resolv.conf are the container's own,
            // bound over the image's /etc as docker does
            "ls /etc | grep -vxE 'hostname|hosts|resolv.conf'; test -e /bin/ls && echo has-ls; test -e /bin/cat && echo has-cat; echo $ADDED",
        ])
        .ok();
    assert_eq!(run.out(), "f\nhas-cat\nyes", "{run}");
    // hard links, modes, ownership, mtimes and fifos come through
    let run = b
        .run(&[
            "run", "--rm", &tag, "sh", "-c",
            "stat -c '%h %a %u:%g %Y' /tmp/l1 /tmp/l2; [ /tmp/l1 -ef /tmp/l2 ] && echo same; test -p /tmp/fifo && echo fifo",
        ])
        .ok();
    assert_eq!(
        run.out(),
        "2 4711 12:34 1000000000\n2 4711 12:34 1000000000\nsame\nfifo",
        "{run}"
    );
    // the old one does not
    let run = b
        .run(&[
            "run", "--rm", "busybox", "sh", "-c",
            "test -e /tmp/x || echo no-x; test -e /bin/ls && echo has-ls; test -e /etc/passwd && echo has-passwd",
        ])
        .ok();
    assert_eq!(run.out(), "no-x\nhas-ls\nhas-passwd", "{run}");

    // history: the new layer on top, with its comment and the container's command
    let base_rows = b
        .run(&["history", "-q", "busybox"])
        .ok()
        .stdout
        .lines()
        .count();
    let hist = b.run(&["history", "--no-trunc", &tag]).ok();
    let rows: Vec<&str> = hist.stdout.lines().collect();
    assert_eq!(rows.len(), 1 + base_rows + 1, "{hist}");
    assert!(rows[0].starts_with("IMAGE "), "{hist}");
    assert!(rows[1].starts_with(&id), "{hist}");
    assert!(rows[1].contains("made by a test"), "{hist}");
    assert!(rows[1].contains("sh -c echo hi > /tmp/x"), "{hist}");
    let json = b.run(&["history", "--format", "json", &tag]).ok();
    let top: serde_json::Value = serde_json::from_str(json.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(top["ID"], id[7..19]);
    assert_eq!(top["Comment"], "made by a test");

    // image inspect: one more layer, the config as committed
    let base_layers = b
        .run(&[
            "image",
            "inspect",
            "-f",
            "{{len .RootFS.Layers}}",
            "busybox",
        ])
        .ok();
    let layers = b
        .run(&["image", "inspect", "-f", "{{len .RootFS.Layers}}", &tag])
        .ok();
    assert_eq!(
        layers.out().parse::<usize>().unwrap(),
        base_layers.out().parse::<usize>().unwrap() + 1
    );
    let cmd = b
        .run(&[
            "image",
            "inspect",
            "-f",
            "{{.Config.Cmd}} {{.Author}} {{.Comment}}",
            &tag,
        ])
        .ok();
    assert_eq!(cmd.out(), "[cat /tmp/x] tester made by a test");
    let cfg = b
        .run(&["image", "inspect", "-f", "{{json .Config}}", &tag])
        .ok();
    let cfg: serde_json::Value = serde_json::from_str(cfg.out()).unwrap();
    assert!(
        cfg["Env"].as_array().unwrap().contains(&"ADDED=yes".into()),
        "{cfg}"
    );

    // an ordinary image: rmi works, the container's image is untouched
    b.run(&["rm", &name]).ok();
    b.run(&["rmi", &tag]).ok();
    b.run(&["run", "--rm", "busybox", "true"]).ok();
    let ids = b.container_ids();
    b.assert_all_gone(&ids);
}

#[test]
fn commit_of_a_running_container_leaves_it_running() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let name = unique_id("commit-live");
    b.run(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo live > /live; exec sleep 1000",
    ])
    .ok();
    assert!(
        wait_until(Duration::from_secs(10), || b
            .run(&["diff", &name])
            .stdout
            .contains("A /live")),
        "the container never wrote /live"
    );
    let out = b.run(&["commit", &name]).ok();
    let id = out.out().to_string();
    let state = b.run(&["inspect", "-f", "{{.State.Status}}", &name]).ok();
    assert_eq!(state.out(), "running");
    // untagged, runnable by id
    let run = b.run(&["run", "--rm", &id, "cat", "/live"]).ok();
    assert_eq!(run.out(), "live");
    // --pause=false is accepted too
    b.run(&["commit", "--pause=false", &name]).ok();
    b.run(&["rm", "-f", &name]).ok();
    let ids = b.container_ids();
    b.assert_all_gone(&ids);
}

#[test]
fn bad_commit_input_is_one_line_and_makes_nothing() {
    require_root!();
    // a bad -c line is refused before any manager is started
    let fresh = Berth::new();
    let out = fresh.run(&["commit", "-c", "FROM busybox", "some-container"]);
    assert_eq!(out.code(), 1, "{out}");
    assert_eq!(out.err_lines().len(), 1, "{out}");
    assert!(fresh.manager_pids().is_empty(), "a manager was started");
    drop(fresh);

    let b = Berth::new();
    b.load_busybox();
    let name = unique_id("commit-bad");
    b.run(&["run", "--name", &name, "busybox", "touch", "/x"])
        .ok();
    let before = image_ids(&b);

    let out = b.run(&["commit", "no-such-container-here"]);
    assert_ne!(out.code(), 0, "{out}");
    assert_eq!(out.err_lines().len(), 1, "{out}");
    assert!(out.stderr.contains("no-such-container-here"), "{out}");

    for bad in ["RUN rm -rf /", "EXPOSE http", "ENV A=\"unterminated", "CMD"] {
        let out = b.run(&["commit", "-c", bad, &name, "bad:1"]);
        assert_ne!(out.code(), 0, "{out}");
        assert_eq!(out.err_lines().len(), 1, "{out}");
        assert!(out.stderr.contains("invalid change"), "{out}");
    }
    let out = b.run(&["commit", &name, "Bad Name:1"]);
    assert_ne!(out.code(), 0, "{out}");
    assert_eq!(out.err_lines().len(), 1, "{out}");

    let out = b.run(&["history", "no-such-image"]);
    assert_ne!(out.code(), 0, "{out}");
    assert_eq!(
        out.err_lines(),
        ["Error response from daemon: No such image: no-such-image"]
    );
    let out = b.run(&["diff", "no-such-container-here"]);
    assert_ne!(out.code(), 0, "{out}");
    assert_eq!(out.err_lines().len(), 1, "{out}");

    assert_eq!(image_ids(&b), before, "a failed commit left an image");
    b.run(&["rm", &name]).ok();
}

/// podman's private setup for this test file (not the interop tests').
const PODMAN_BASE: &str = "/var/tmp/berth-commit-podman";

fn podman_env(cmd: &str, images: &std::path::Path) -> Command {
    let mut c = Command::new(conformance_script("podman-env.sh"));
    c.arg(cmd)
        .env("RC_PODMAN_BASE", PODMAN_BASE)
        .env("RC_IMAGES", images);
    c
}

/// Stops the private podman (containers removed, storage unmounted) and
/// removes the image the test loaded, even when the test fails.
struct PodmanGuard {
    exports: Vec<(String, String)>,
    images: PathBuf,
    image: String,
    /// the private podman lives at one base dir: one test at a time uses it
    _serial: std::sync::MutexGuard<'static, ()>,
}

/// Serializes the tests that use the private podman.
static PODMAN: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl PodmanGuard {
    fn podman(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        c.args(args);
        for (k, v) in &self.exports {
            c.env(k, v);
        }
        c
    }
}

impl Drop for PodmanGuard {
    fn drop(&mut self) {
        let _ = run_cmd(&mut self.podman(&["rmi", "-f", &self.image]), CMD_TIMEOUT);
        let _ = run_cmd(
            &mut podman_env("stop", &self.images),
            Duration::from_secs(120),
        );
    }
}

/// A private podman (podman-env.sh under the test's scratch dir) that has
/// loaded `archive`; the guard removes the image and stops podman.
fn load_into_podman(b: &Berth, archive: &std::path::Path, tag: &str) -> (PodmanGuard, String) {
    let serial = PODMAN.lock().unwrap_or_else(|e| e.into_inner());
    let images = b.scratch("podman-images");
    let start = run_cmd(&mut podman_env("start", &images), Duration::from_secs(600));
    let mut guard = PodmanGuard {
        exports: Vec::new(),
        images,
        image: format!("localhost/{tag}"),
        _serial: serial,
    };
    assert!(start.status.success(), "podman-env.sh start: {start}");
    guard.exports = start
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect();
    let load = run_cmd(
        &mut guard.podman(&["load", "-i", archive.to_str().unwrap()]),
        Duration::from_secs(120),
    );
    assert!(load.status.success(), "{load}");
    let loaded = load
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Loaded image: "))
        .unwrap_or_else(|| panic!("no image loaded: {load}"))
        .trim()
        .to_string();
    guard.image = loaded.clone();
    (guard, loaded)
}

#[test]
fn committed_image_loads_into_podman() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let name = unique_id("commit-podman");
    b.run(&["run", "--name", &name, "busybox", "sh", "-c", CHANGES])
        .ok();
    let tag = format!("berth-committed/{name}:v1");
    b.run(&["commit", "-c", r#"CMD ["cat", "/tmp/x"]"#, &name, &tag])
        .ok();
    let archive = b.scratch("out").join("committed.tar");
    b.run(&["save", "-o", archive.to_str().unwrap(), &tag]).ok();

    let (guard, loaded) = load_into_podman(&b, &archive, &tag);
    let run = run_cmd(
        &mut guard.podman(&["run", "--rm", &loaded]),
        Duration::from_secs(120),
    );
    assert!(run.status.success(), "{run}");
    assert_eq!(run.stdout.trim(), "hi");
    let run = run_cmd(
        &mut guard.podman(&[
            "run",
            "--rm",
            &loaded,
            "sh",
            "-c",
            "test -e /bin/ls || echo no-ls; cat /etc/f; test -e /etc/passwd || echo no-passwd",
        ]),
        Duration::from_secs(120),
    );
    assert!(run.status.success(), "{run}");
    assert_eq!(run.stdout.trim(), "no-ls\nnew\nno-passwd");
    b.run(&["rm", &name]).ok();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

async fn layers_client(b: &Berth) -> LayersClient {
    let addr = format!("unix://{}", b.state().join("manager.sock").display());
    let c = ttrpc::r#async::Client::connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    LayersClient::new(c)
}

fn ctx() -> ttrpc::context::Context {
    ttrpc::context::with_timeout(60_000_000_000)
}

fn code_of(e: &ttrpc::Error) -> ttrpc::Code {
    match e {
        ttrpc::Error::RpcStatus(s) => s.code(),
        other => panic!("not a status: {other}"),
    }
}

#[test]
fn build_cache_survives_kill_9_of_the_manager_and_forgets_removed_images() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    // a COPY-like step (a layer from a tar) and a config-only step, each
    // stored under a cache key in the transaction that names it
    let tar_dir = b.scratch("ctx");
    std::fs::create_dir_all(tar_dir.join("app")).unwrap();
    std::fs::write(tar_dir.join("app/hello"), b"cached\n").unwrap();
    let tar = b.scratch("tars").join("layer.tar");
    let made = run_cmd(
        Command::new("tar")
            .arg("-C")
            .arg(&tar_dir)
            .arg("-cf")
            .arg(&tar)
            .arg("app"),
        CMD_TIMEOUT,
    );
    assert!(made.status.success(), "{made}");
    let key_copy = "a".repeat(64);
    let key_cfg = "b".repeat(64);
    let (copy_id, cfg_id) = runtime().block_on(async {
        let l = layers_client(&b).await;
        let mut r = CreateImageRequest::new();
        r.parent = "busybox".into();
        r.layer_tar_path = tar.display().to_string();
        r.created_by = "COPY app /app".into();
        r.build_cache_key = key_copy.clone();
        let copy = l.create_image(ctx(), &r).await.unwrap();
        let mut r = CreateImageRequest::new();
        r.parent = copy.id.clone();
        r.config_json = r#"{"Cmd":["cat","/app/hello"],"Env":["PATH=/bin"]}"#.into();
        r.created_by = "CMD [\"cat\", \"/app/hello\"]".into();
        let cfg = l.create_image(ctx(), &r).await.unwrap();
        let mut e = BuildCacheEntry::new();
        e.key = key_cfg.clone();
        e.image_id = cfg.id.clone();
        l.store_build_cache(ctx(), &e).await.unwrap();
        (copy.id, cfg.id)
    });

    b.kill_manager();
    // the next command starts a fresh manager on the same store
    b.run(&["images"]).ok();
    // untagged images the cache points at survive a prune
    b.run(&["system", "prune", "-f"]).ok();
    runtime().block_on(async {
        let l = layers_client(&b).await;
        for (key, want) in [(&key_copy, &copy_id), (&key_cfg, &cfg_id)] {
            let mut k = BuildCacheKey::new();
            k.key = key.clone();
            let got = l.lookup_build_cache(ctx(), &k).await.unwrap();
            assert_eq!(&got.image_id, want);
        }
        let mut k = BuildCacheKey::new();
        k.key = "c".repeat(64);
        let e = l.lookup_build_cache(ctx(), &k).await.unwrap_err();
        assert_eq!(code_of(&e), ttrpc::Code::NOT_FOUND);
        let mut bad = BuildCacheEntry::new();
        bad.key = "d".repeat(64);
        bad.image_id = "sha256:0123456789".into();
        let e = l.store_build_cache(ctx(), &bad).await.unwrap_err();
        assert_eq!(code_of(&e), ttrpc::Code::NOT_FOUND);
    });
    // the intermediate image (a parent) is listed only with -a, the
    // untagged top one as <none>
    let listed = image_ids(&b);
    assert!(listed.contains(&cfg_id), "{listed:?}");
    assert!(!listed.contains(&copy_id), "{listed:?}");
    let all = b.run(&["images", "-a", "-q", "--no-trunc"]).ok();
    assert!(all.stdout.contains(&copy_id), "{all}");
    let run = b.run(&["run", "--rm", &cfg_id]).ok();
    assert_eq!(run.out(), "cached");
    let hist = b.run(&["history", &cfg_id]).ok();
    let rows: Vec<&str> = hist.stdout.lines().collect();
    assert!(
        rows[1].contains("CMD [\"cat\"") && rows[1].contains("0B"),
        "{hist}"
    );
    assert!(
        rows[2].starts_with(&copy_id[7..19]) && rows[2].contains("COPY app /app"),
        "{hist}"
    );

    // an image that is gone is no cache hit
    b.run(&["rmi", &cfg_id]).ok();
    runtime().block_on(async {
        let l = layers_client(&b).await;
        let mut k = BuildCacheKey::new();
        k.key = key_cfg.clone();
        let e = l.lookup_build_cache(ctx(), &k).await.unwrap_err();
        assert_eq!(code_of(&e), ttrpc::Code::NOT_FOUND);
    });
}

/// A built image (a RUN layer and a COPY layer on busybox) leaves berth
/// with `save` and runs under podman as built.
#[test]
fn built_image_loads_into_podman() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let ctx = b.scratch("ctx");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo ran > /ran\nCOPY msg /msg\nCMD [\"sh\", \"-c\", \"cat /ran /msg\"]\n",
    )
    .unwrap();
    std::fs::write(ctx.join("msg"), "copied\n").unwrap();
    let tag = format!("berth-built/{}:v1", unique_id("build-podman"));
    b.run(&["build", "-q", "-t", &tag, ctx.to_str().unwrap()])
        .ok();
    let archive = b.scratch("out").join("built.tar");
    b.run(&["save", "-o", archive.to_str().unwrap(), &tag]).ok();

    let (guard, loaded) = load_into_podman(&b, &archive, &tag);
    let run = run_cmd(
        &mut guard.podman(&["run", "--rm", &loaded]),
        Duration::from_secs(120),
    );
    assert!(run.status.success(), "{run}");
    assert_eq!(run.stdout.trim(), "ran\ncopied");
}
