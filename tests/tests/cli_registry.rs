//! `berth push` and `berth pull` against a real registry on loopback
//! (../shared/conformance/registry-env.sh: Debian's docker-registry), then a
//! container from the pulled image.

mod cli_support;

use std::process::Command;
use std::time::Duration;

use berth_fixture::{require_root, unique_id};
use cli_support::{conformance_script, run_cmd, Berth};

/// A private registry (own base dir and port), stopped and purged on drop.
struct Registry {
    base: tempfile::TempDir,
    port: u16,
}

impl Registry {
    fn script(&self, cmd: &str, images: &std::path::Path) -> Command {
        let mut c = Command::new("bash");
        c.arg(conformance_script("registry-env.sh"))
            .arg(cmd)
            .env("RC_REGISTRY_BASE", self.base.path())
            .env("RC_REGISTRY_PORT", self.port.to_string())
            .env("RC_IMAGES", images);
        c
    }

    fn start(images: &std::path::Path) -> Registry {
        // a port of our own so a registry someone else runs (or this file's
        // other test, running beside) is never touched
        static STARTED: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
        let nth = STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let port = 20000 + (std::process::id() % 10000) as u16 * 2 + nth % 2;
        let r = Registry {
            base: tempfile::Builder::new()
                .prefix("berth-registry-")
                .tempdir_in("/var/tmp")
                .unwrap(),
            port,
        };
        let out = run_cmd(&mut r.script("start", images), Duration::from_secs(600));
        assert!(out.status.success(), "{out}");
        r
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = run_cmd(
            &mut self.script("stop", std::path::Path::new("/nonexistent")),
            Duration::from_secs(60),
        );
    }
}

#[test]
fn push_then_pull_round_trip_through_a_loopback_registry() {
    require_root!();
    let b = Berth::new();
    let archive = b.load_busybox();
    let reg = Registry::start(archive.parent().unwrap());
    let repo = format!(
        "127.0.0.1:{}/berth-test/{}",
        reg.port,
        unique_id("bb").to_lowercase()
    );
    let tagged = format!("{repo}:v1");

    b.run(&["tag", "busybox", &tagged]).ok();
    let push = b.run(&["push", &tagged]).ok();
    assert!(!push.stdout.is_empty(), "{push}");
    let rmi = b.run(&["rmi", &tagged]).ok();
    assert!(rmi.stdout.contains("Untagged:"), "{rmi}");
    let listed = b.run(&["images"]).ok();
    assert!(!listed.stdout.contains(&repo), "{listed}");

    let pull = b.run(&["pull", &tagged]).ok();
    assert!(!pull.stdout.is_empty(), "{pull}");
    let listed = b.run(&["images"]).ok();
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.starts_with(&repo) && l.contains("v1")),
        "{listed}"
    );

    let out = b.run(&["run", "--rm", &tagged, "echo", "from-the-registry"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.out(), "from-the-registry");

    // a tag the registry does not have: one-line error, nothing stored
    let out = b.run(&["pull", &format!("{repo}:nope")]);
    assert_eq!(out.code(), 1, "{out}");
    assert_eq!(out.err_lines().len(), 1, "{out}");
    let images_after = b.run(&["images", "-q"]).ok();
    assert_eq!(images_after.stdout.lines().count(), 1, "{images_after}");
}

#[test]
fn committed_image_pushes_and_pulls_back() {
    require_root!();
    let b = Berth::new();
    let archive = b.load_busybox();
    let reg = Registry::start(archive.parent().unwrap());
    let name = unique_id("pushed");
    b.run(&[
        "run",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo pushed > /made; rm /bin/ls",
    ])
    .ok();
    let tagged = format!(
        "127.0.0.1:{}/berth-test/{}:v1",
        reg.port,
        name.to_lowercase()
    );
    b.run(&["commit", &name, &tagged]).ok();
    b.run(&["rm", &name]).ok();
    b.run(&["push", &tagged]).ok();

    // a berth that never saw it pulls it and runs it
    let other = Berth::new();
    other.run(&["pull", &tagged]).ok();
    let out = other
        .run(&[
            "run",
            "--rm",
            &tagged,
            "sh",
            "-c",
            "cat /made; test -e /bin/ls || echo no-ls",
        ])
        .ok();
    assert_eq!(out.out(), "pushed\nno-ls");
    let hist = other.run(&["history", "-q", &tagged]).ok();
    assert!(hist.stdout.lines().count() >= 2, "{hist}");
}
