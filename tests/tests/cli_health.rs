//! Health checks end to end: `--health-*` flags and an image's
//! `HEALTHCHECK`, run by the manager as execs in the container: `starting`
//! before the first check, `healthy`, `unhealthy` after the retries, the
//! state in `inspect` (status, failing streak, last results) and `ps`,
//! `health_status` events, `--no-healthcheck`, checks picked up again by a
//! new manager after `kill -9`, and bad flags refused with nothing made.

mod cli_support;

use std::io::Read;
use std::process::Stdio;

use std::time::Duration;

use berth_fixture::{require_root, unique_id, wait_until};
use cli_support::{sha256_hex, tar_oci_layout, Berth};

fn health(b: &Berth, name: &str) -> serde_json::Value {
    let out = b.run(&["inspect", "-f", "{{json .State}}", name]).ok();
    let state: serde_json::Value = serde_json::from_str(out.out()).expect("State as JSON");
    state["Health"].clone()
}

fn status(b: &Berth, name: &str) -> String {
    health(b, name)["Status"].as_str().unwrap_or("").to_string()
}

fn ps_row(b: &Berth, name: &str) -> String {
    let ps = b.run(&["ps"]).ok();
    ps.stdout
        .lines()
        .find(|l| l.trim_end().ends_with(name))
        .unwrap_or_else(|| panic!("{name} not in {ps}"))
        .to_string()
}

fn wait_status(b: &Berth, name: &str, want: &str, within: Duration) {
    assert!(
        wait_until(within, || status(b, name) == want),
        "{name} never became {want}: {}",
        health(b, name)
    );
}

#[test]
fn flags_make_starting_healthy_and_unhealthy_containers() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let (good, bad) = (unique_id("good"), unique_id("bad"));
    let mut events = b
        .command([
            "events",
            "--format",
            "json",
            "-f",
            &format!("container={good}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ev_out = events.stdout.take().unwrap();
    // a first check 5 s away: the container is starting until it has run
    b.run(&[
        "run",
        "-d",
        "--name",
        &good,
        "--health-cmd",
        "echo checked; test -e /tmp/ready",
        "--health-interval",
        "5s",
        "--health-retries",
        "5",
        "busybox",
        "sh",
        "-c",
        "touch /tmp/ready; exec sleep 300",
    ])
    .ok();
    b.run(&[
        "run",
        "-d",
        "--name",
        &bad,
        "--health-cmd",
        "echo nope >&2; exit 3",
        "--health-interval",
        "300ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    assert!(
        ps_row(&b, &good).contains("(health: starting)"),
        "{}",
        ps_row(&b, &good)
    );
    assert_eq!(status(&b, &good), "starting");

    wait_status(&b, &good, "healthy", Duration::from_secs(30));
    assert!(
        ps_row(&b, &good).contains("(healthy)"),
        "{}",
        ps_row(&b, &good)
    );
    let h = health(&b, &good);
    assert_eq!(h["FailingStreak"], 0, "{h}");
    let last = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], 0, "{h}");
    assert_eq!(last["Output"], "checked\n", "{h}");

    wait_status(&b, &bad, "unhealthy", Duration::from_secs(15));
    assert!(
        ps_row(&b, &bad).contains("(unhealthy)"),
        "{}",
        ps_row(&b, &bad)
    );
    assert!(
        wait_until(Duration::from_secs(10), || health(&b, &bad)["Log"]
            .as_array()
            .is_some_and(|l| l.len() == 5)),
        "only the last 5 results are kept: {}",
        health(&b, &bad)
    );
    let h = health(&b, &bad);
    assert!(h["FailingStreak"].as_u64().unwrap() >= 2, "{h}");
    assert_eq!(h["Log"][4]["ExitCode"], 3, "{h}");
    assert_eq!(h["Log"][4]["Output"], "nope\n", "{h}");

    // a check that starts passing makes it healthy again
    let flip = unique_id("flip");
    b.run(&[
        "run",
        "-d",
        "--name",
        &flip,
        "--health-cmd",
        "test -e /tmp/ok",
        "--health-interval",
        "300ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    wait_status(&b, &flip, "unhealthy", Duration::from_secs(15));
    b.run(&["exec", &flip, "touch", "/tmp/ok"]).ok();
    wait_status(&b, &flip, "healthy", Duration::from_secs(15));

    let _ = events.kill();
    let _ = events.wait();
    let mut seen = String::new();
    let _ = ev_out.read_to_string(&mut seen);
    assert!(
        seen.contains("\"Action\":\"health_status: healthy\""),
        "no health_status event: {seen}"
    );

    // a container with no check shows no health
    let plain = unique_id("plain");
    b.run(&["run", "-d", "--name", &plain, "busybox", "sleep", "300"])
        .ok();
    let out = b.run(&["inspect", "-f", "{{json .State}}", &plain]).ok();
    assert!(!out.stdout.contains("Health"), "{out}");
    assert!(!ps_row(&b, &plain).contains('('), "{}", ps_row(&b, &plain));
    b.run(&["rm", "-f", &good, &bad, &flip, &plain]).ok();
}

#[test]
fn a_check_that_hangs_is_killed_at_its_timeout() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let c = unique_id("slow");
    b.run(&[
        "run",
        "-d",
        "--name",
        &c,
        "--health-cmd",
        "sleep 30",
        "--health-timeout",
        "200ms",
        "--health-interval",
        "300ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    wait_status(&b, &c, "unhealthy", Duration::from_secs(15));
    let h = health(&b, &c);
    let last = &h["Log"][0];
    assert_eq!(last["ExitCode"], -1, "{h}");
    assert_eq!(
        last["Output"], "Health check exceeded timeout (200ms)",
        "{h}"
    );
    // killed probes do not pile up: at most the one in flight runs
    for _ in 0..3 {
        let out = b.run(&["exec", &c, "sh", "-c", "ps -o args | grep -cx 'sleep 30'"]);
        let n: u32 = out.out().parse().unwrap_or(99);
        assert!(n <= 1, "probes left running: {out}");
        std::thread::sleep(Duration::from_millis(400));
    }
    // and are reaped: their FIFOs go (two belong to the probe in flight)
    let id = b
        .run(&["inspect", "-f", "{{.Id}}", &c])
        .ok()
        .out()
        .to_string();
    let exec_dir = b.state().join("containers").join(&id).join("exec");
    let left = std::fs::read_dir(&exec_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", exec_dir.display()))
        .count();
    assert!(
        left <= 4,
        "{left} exec FIFOs left in {}",
        exec_dir.display()
    );
    b.run(&["rm", "-f", &c]).ok();
}

#[test]
fn checks_resume_after_the_manager_is_killed() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let c = unique_id("resume");
    b.run(&[
        "run",
        "-d",
        "--name",
        &c,
        "--health-cmd",
        "test ! -e /tmp/broken",
        "--health-interval",
        "300ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    wait_status(&b, &c, "healthy", Duration::from_secs(15));
    b.kill_manager();
    // break the check after the kill: only a monitor the new manager
    // picked up can notice
    b.run(&["exec", &c, "touch", "/tmp/broken"]).ok();
    wait_status(&b, &c, "unhealthy", Duration::from_secs(15));
    assert!(ps_row(&b, &c).contains("(unhealthy)"));
    b.run(&["rm", "-f", &c]).ok();
}

/// An OCI archive of busybox whose config carries `healthcheck`.
fn image_with_healthcheck(
    b: &Berth,
    name: &str,
    healthcheck: serde_json::Value,
) -> std::path::PathBuf {
    let bb = b.scratch("images").join("busybox-oci");
    let read = |d: &str| {
        std::fs::read(
            bb.join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bb.join("index.json")).unwrap()).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let mut config: serde_json::Value =
        serde_json::from_slice(&read(manifest["config"]["digest"].as_str().unwrap())).unwrap();
    config["config"]["Healthcheck"] = healthcheck;
    let config = config.to_string();
    let config_digest = sha256_hex(config.as_bytes());
    let mut manifest2 = manifest.clone();
    manifest2["config"]["digest"] = format!("sha256:{config_digest}").into();
    manifest2["config"]["size"] = config.len().into();
    let manifest2 = manifest2.to_string();
    let manifest_digest = sha256_hex(manifest2.as_bytes());
    let layout = b.scratch(&format!("{name}-layout"));
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(blobs.join(&config_digest), &config).unwrap();
    std::fs::write(blobs.join(&manifest_digest), &manifest2).unwrap();
    for l in manifest["layers"].as_array().unwrap() {
        let d = l["digest"].as_str().unwrap();
        std::fs::write(blobs.join(d.trim_start_matches("sha256:")), read(d)).unwrap();
    }
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": format!("sha256:{manifest_digest}"), "size": manifest2.len(),
                       "annotations": {"io.containerd.image.name": format!("docker.io/library/{name}:latest"),
                                       "org.opencontainers.image.ref.name": "latest"}}],
    });
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    let tar = layout.with_extension("tar");
    tar_oci_layout(&layout, &tar);
    tar
}

#[test]
fn the_images_healthcheck_runs_unless_disabled() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let img = unique_id("hcimg");
    let tar = image_with_healthcheck(
        &b,
        &img,
        serde_json::json!({"Test": ["CMD", "false"], "Interval": 300_000_000u64, "Retries": 1}),
    );
    b.run(&["load", "-i", tar.to_str().unwrap()]).ok();
    let from_image = unique_id("img");
    b.run(&["run", "-d", "--name", &from_image, &img, "sleep", "300"])
        .ok();
    wait_status(&b, &from_image, "unhealthy", Duration::from_secs(15));
    // a flag replaces the image's command and keeps its other settings
    let overridden = unique_id("over");
    b.run(&[
        "run",
        "-d",
        "--name",
        &overridden,
        "--health-cmd",
        "true",
        &img,
        "sleep",
        "300",
    ])
    .ok();
    wait_status(&b, &overridden, "healthy", Duration::from_secs(15));
    let disabled = unique_id("off");
    b.run(&[
        "run",
        "-d",
        "--name",
        &disabled,
        "--no-healthcheck",
        &img,
        "sleep",
        "300",
    ])
    .ok();
    std::thread::sleep(Duration::from_secs(1));
    assert!(health(&b, &disabled).is_null(), "{}", health(&b, &disabled));
    b.run(&["rm", "-f", &from_image, &overridden, &disabled])
        .ok();
}

#[test]
fn bad_health_flags_change_nothing() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    for (args, needle) in [
        (
            vec!["--health-interval", "soon"],
            "invalid duration \"soon\"",
        ),
        (
            vec!["--health-timeout", "-1s"],
            "--health-timeout cannot be negative",
        ),
        (
            vec!["--health-retries", "-2"],
            "--health-retries cannot be negative",
        ),
        (
            vec!["--no-healthcheck", "--health-cmd", "true"],
            "conflicts with --health-*",
        ),
    ] {
        for cmd in ["run", "create"] {
            let mut full = vec![cmd];
            full.extend(args.iter().copied());
            full.extend(["busybox", "true"]);
            let out = b.run(&full);
            assert_eq!(out.code(), 125, "{out}");
            let lines = out.err_lines();
            assert_eq!(lines.len(), 1, "{out}");
            assert!(lines[0].contains(needle), "want {needle:?}: {out}");
        }
    }
    assert!(b.container_ids().is_empty());
}
