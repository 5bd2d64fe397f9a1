//! `berth volume …` and volumes in `run`/`create` end to end: docker's
//! output shapes and errors, copy-up of image content (files, owners,
//! modes, only into an empty volume), sharing between containers, `ro`,
//! `--volumes-from`, `--read-only`, refusal to remove a volume in use,
//! `rm -v`, anonymous volumes for an image's VOLUME, device volumes (tmpfs),
//! bad input that changes nothing, and volume data and records surviving
//! `kill -9` of the manager. Every test has its own berth (root, state,
//! manager) whose guard removes containers, mounts and dirs even on failure.

mod cli_support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use berth_fixture::{mounts_under, require_root, unique_id, wait_until};
use cli_support::{run_cmd, sha256_hex, tar_oci_layout, Berth, Out};

fn volume_names(b: &Berth) -> Vec<String> {
    let mut v: Vec<String> = b
        .run(&["volume", "ls", "-q"])
        .ok()
        .stdout
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

fn one_line_error(out: &Out, code: i32, needle: &str) {
    assert_eq!(out.code(), code, "{out}");
    let lines = out.err_lines();
    assert_eq!(lines.len(), 1, "want one error line: {out}");
    assert!(lines[0].contains(needle), "want {needle:?}: {out}");
}

#[test]
fn volume_commands_read_like_docker() {
    require_root!();
    let b = Berth::new();
    let (v1, v2) = (unique_id("vol"), unique_id("lab"));
    assert_eq!(b.run(&["volume", "create", &v1]).ok().out(), v1);
    // create is idempotent
    assert_eq!(b.run(&["volume", "create", &v1]).ok().out(), v1);
    assert_eq!(
        b.run(&["volume", "create", "--label", "a=b", "--label", "c", "--name", &v2])
            .ok()
            .out(),
        v2
    );
    let anon = b.run(&["volume", "create"]).ok().out().to_string();
    assert_eq!(
        anon.len(),
        64,
        "an unnamed volume gets a 64-hex name: {anon}"
    );

    let ls = b.run(&["volume", "ls"]).ok();
    let lines: Vec<&str> = ls.stdout.lines().collect();
    assert_eq!(lines[0], "DRIVER    VOLUME NAME", "{ls}");
    assert!(lines.contains(&format!("local     {v1}").as_str()), "{ls}");
    assert_eq!(lines.len(), 4, "{ls}");

    let js = b
        .run(&["volume", "ls", "--format", "json", "-f", "label=a"])
        .ok();
    let v: serde_json::Value = serde_json::from_str(js.out()).expect("one JSON line");
    assert_eq!(v["Name"], v2.as_str(), "{js}");
    assert_eq!(v["Labels"], "a=b,c=", "{js}");
    assert_eq!(v["Driver"], "local", "{js}");
    let mountpoint = b.root().join("volumes").join(&v2).join("_data");
    assert_eq!(v["Mountpoint"], mountpoint.to_str().unwrap(), "{js}");
    assert!(mountpoint.is_dir());

    let by_name = b
        .run(&["volume", "ls", "-q", "-f", &format!("name={v1}")])
        .ok();
    assert_eq!(by_name.out(), v1, "{by_name}");

    let insp = b.run(&["volume", "inspect", &v2]).ok();
    let arr: serde_json::Value = serde_json::from_str(&insp.stdout).unwrap();
    let o = &arr[0];
    assert_eq!(o["Name"], v2.as_str());
    assert_eq!(o["Labels"], serde_json::json!({"a": "b", "c": ""}));
    assert_eq!(o["Options"], serde_json::Value::Null);
    assert_eq!(o["Scope"], "local");
    let created = o["CreatedAt"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 20, "{insp}");
    assert_eq!(
        b.run(&["volume", "inspect", "-f", "{{.Mountpoint}}", &v2])
            .ok()
            .out(),
        mountpoint.to_str().unwrap()
    );

    let missing = b.run(&["volume", "inspect", "nosuchvol"]);
    assert_eq!(missing.out(), "[]", "{missing}");
    one_line_error(&missing, 1, "get nosuchvol: no such volume");
    one_line_error(&b.run(&["volume", "rm", "nosuchvol"]), 1, "no such volume");
    b.run(&["volume", "rm", "-f", "nosuchvol"]).ok();

    // bad input: one line, nothing made
    one_line_error(
        &b.run(&["volume", "create", "bad/name"]),
        1,
        "includes invalid characters for a local volume name",
    );
    one_line_error(
        &b.run(&["volume", "create", "-d", "nodriver", "xx"]),
        1,
        "plugin \"nodriver\" not found",
    );
    one_line_error(
        &b.run(&["volume", "create", "-o", "bogus=1", "yy"]),
        1,
        "invalid option key",
    );
    one_line_error(
        &b.run(&["volume", "ls", "-f", "bogus=1"]),
        1,
        "Invalid filter 'bogus'",
    );
    let mut want = vec![anon.clone(), v1.clone(), v2.clone()];
    want.sort();
    assert_eq!(volume_names(&b), want);
    let dirs = std::fs::read_dir(b.root().join("volumes")).unwrap().count();
    assert_eq!(dirs, 3, "a refused create left a directory");

    let rm = b.run(&["volume", "rm", &v1]).ok();
    assert_eq!(rm.out(), v1);
    assert!(!b.root().join("volumes").join(&v1).exists());

    let prune = b.run(&["volume", "prune", "-f"]).ok();
    assert!(prune.stdout.starts_with("Deleted Volumes:\n"), "{prune}");
    assert!(
        prune.stdout.contains(&v2) && prune.stdout.contains(&anon),
        "{prune}"
    );
    assert!(prune.stdout.contains("Total reclaimed space:"), "{prune}");
    assert!(volume_names(&b).is_empty());
}

#[test]
fn copy_up_fills_only_an_empty_volume() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let (etc, tmp) = (unique_id("etc"), unique_id("tmp"));
    let out = b
        .run(&[
            "run",
            "--rm",
            "-v",
            &format!("{etc}:/etc"),
            "busybox",
            "cat",
            "/etc/passwd",
        ])
        .ok();
    assert!(out.stdout.starts_with("root:"), "{out}");
    let data = b.root().join("volumes").join(&etc).join("_data");
    let passwd = data.join("passwd");
    assert!(
        passwd.is_file(),
        "image /etc was not copied into the volume"
    );
    assert_eq!(passwd.metadata().unwrap().mode() & 0o7777, 0o644);
    assert_eq!(data.metadata().unwrap().mode() & 0o7777, 0o755);

    // the volume's own content wins from now on: nothing is copied again
    std::fs::remove_file(&passwd).unwrap();
    std::fs::write(data.join("mine"), "kept\n").unwrap();
    let out = b
        .run(&[
            "run",
            "--rm",
            "-v",
            &format!("{etc}:/etc"),
            "busybox",
            "ls",
            "/etc",
        ])
        .ok();
    assert!(out.stdout.contains("mine"), "{out}");
    assert!(
        !out.stdout.contains("passwd"),
        "copied into a non-empty volume: {out}"
    );

    // the directory's own mode comes with it (/tmp is 1777)
    b.run(&[
        "run",
        "--rm",
        "-v",
        &format!("{tmp}:/tmp"),
        "busybox",
        "true",
    ])
    .ok();
    let tmp_data = b.root().join("volumes").join(&tmp).join("_data");
    assert_eq!(tmp_data.metadata().unwrap().mode() & 0o7777, 0o1777);

    // nocopy: an empty volume stays empty
    let bare = unique_id("bare");
    let out = b
        .run(&[
            "run",
            "--rm",
            "-v",
            &format!("{bare}:/etc:nocopy"),
            "busybox",
            "sh",
            "-c",
            // hostname, hosts and resolv.conf are the container's own, bound
            // over whatever holds /etc, as docker does
            "ls -A /etc | grep -vxE 'hostname|hosts|resolv.conf'; true",
        ])
        .ok();
    assert_eq!(out.out(), "", "{out}");

    // a volume over a path the image lacks stays empty, and the path is made
    let none = unique_id("none");
    let out = b
        .run(&[
            "run",
            "--rm",
            "-v",
            &format!("{none}:/no/such"),
            "busybox",
            "ls",
            "-a",
            "/no/such",
        ])
        .ok();
    assert_eq!(out.stdout.split_whitespace().count(), 2, "{out}");
    b.assert_all_gone(&[]);
}

/// An OCI archive of busybox plus a layer with `/data/hello` (uid 1000,
/// gid 2000, mode 0640) whose config declares `VOLUME /data`.
fn image_with_volume(b: &Berth, name: &str) -> std::path::PathBuf {
    let images = b.scratch("images");
    let bb = images.join("busybox-oci");
    let work = b.scratch("volimg");
    let layer_dir = work.join("layer");
    std::fs::create_dir_all(layer_dir.join("data")).unwrap();
    std::fs::write(layer_dir.join("data/hello"), "from the image\n").unwrap();
    let layer = work.join("layer.tar");
    let out = run_cmd(
        Command::new("tar")
            .args(["--owner=1000", "--group=2000", "--mode=u=rw,g=r,o=", "-cf"])
            .arg(&layer)
            .arg("-C")
            .arg(&layer_dir)
            .arg("data/hello"),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{out}");
    let layer_bytes = std::fs::read(&layer).unwrap();
    let layer_digest = sha256_hex(&layer_bytes);

    let blob = |d: &str| {
        bb.join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bb.join("index.json")).unwrap()).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let mut config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(blob(manifest["config"]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    config["config"]["Volumes"] = serde_json::json!({"/data": {}});
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .unwrap()
        .push(format!("sha256:{layer_digest}").into());
    let config = config.to_string();
    let config_digest = sha256_hex(config.as_bytes());
    let mut manifest = manifest.clone();
    manifest["config"]["digest"] = format!("sha256:{config_digest}").into();
    manifest["config"]["size"] = config.len().into();
    manifest["layers"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
        "mediaType": "application/vnd.oci.image.layer.v1.tar",
        "digest": format!("sha256:{layer_digest}"), "size": layer_bytes.len()}));
    let manifest = manifest.to_string();
    let manifest_digest = sha256_hex(manifest.as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": format!("sha256:{manifest_digest}"), "size": manifest.len(),
                       "annotations": {"io.containerd.image.name": format!("docker.io/library/{name}:latest"),
                                       "org.opencontainers.image.ref.name": "latest"}}],
    });

    let layout = work.join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(blobs.join(&config_digest), &config).unwrap();
    std::fs::write(blobs.join(&manifest_digest), &manifest).unwrap();
    std::fs::write(blobs.join(&layer_digest), &layer_bytes).unwrap();
    let base = manifest_layers_of(&bb);
    for d in base {
        std::fs::copy(blob(&d), blobs.join(d.trim_start_matches("sha256:"))).unwrap();
    }
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    let tar = work.join("volimg.tar");
    tar_oci_layout(&layout, &tar);
    tar
}

fn manifest_layers_of(layout: &Path) -> Vec<String> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let d = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            layout
                .join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
        )
        .unwrap(),
    )
    .unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn image_volume_is_anonymous_copied_up_and_removed_by_rm_v() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let img = unique_id("volimg");
    let tar = image_with_volume(&b, &img);
    b.run(&["load", "-i", tar.to_str().unwrap()]).ok();

    let name = unique_id("iv");
    let named = unique_id("keep");
    let out = b
        .run(&[
            "run",
            "--name",
            &name,
            "-v",
            &format!("{named}:/named"),
            &img,
            "sh",
            "-c",
            "cat /data/hello; stat -c '%u:%g %a' /data/hello; echo x > /named/f",
        ])
        .ok();
    assert_eq!(out.stdout, "from the image\n1000:2000 640\n", "{out}");
    let vols = volume_names(&b);
    assert_eq!(vols.len(), 2, "{vols:?}");
    let anon = vols.iter().find(|v| **v != named).unwrap().clone();
    assert_eq!(anon.len(), 64);
    let hello = b.root().join("volumes").join(&anon).join("_data/hello");
    let md = hello.metadata().unwrap();
    assert_eq!(
        (md.uid(), md.gid(), md.mode() & 0o7777),
        (1000, 2000, 0o640)
    );

    // an explicit mount at the image's VOLUME path replaces the anonymous one
    let over = unique_id("over");
    let out = b
        .run(&[
            "run",
            "--rm",
            "-v",
            &format!("{over}:/data"),
            &img,
            "cat",
            "/data/hello",
        ])
        .ok();
    assert_eq!(out.out(), "from the image", "{out}");
    assert_eq!(volume_names(&b).len(), 3);
    b.run(&["volume", "rm", &over]).ok();

    // rm -v takes the anonymous volume, never a named one
    b.run(&["rm", "-v", &name]).ok();
    assert_eq!(volume_names(&b), vec![named.clone()]);
    assert!(!b.root().join("volumes").join(&anon).exists());

    // run --rm removes its anonymous volumes too
    b.run(&["run", "--rm", &img, "true"]).ok();
    assert_eq!(volume_names(&b), vec![named]);
    b.assert_all_gone(&[]);
}

#[test]
fn volumes_are_shared_read_only_and_inherited() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let shared = unique_id("shared");
    let v = format!("{shared}:/s");
    b.run(&[
        "run",
        "--rm",
        "-v",
        &v,
        "busybox",
        "sh",
        "-c",
        "echo one > /s/f",
    ])
    .ok();
    let src = unique_id("src");
    b.run(&[
        "run", "-d", "--name", &src, "-v", &v, "-v", "/anon", "busybox", "sleep", "300",
    ])
    .ok();
    // a second container sees and extends what the first wrote
    b.run(&[
        "run",
        "--rm",
        "-v",
        &v,
        "busybox",
        "sh",
        "-c",
        "echo two >> /s/f",
    ])
    .ok();
    let out = b.run(&["exec", &src, "cat", "/s/f"]).ok();
    assert_eq!(out.stdout, "one\ntwo\n", "{out}");

    let out = b.run(&[
        "run",
        "--rm",
        "-v",
        &format!("{shared}:/s:ro"),
        "busybox",
        "sh",
        "-c",
        "cat /s/f; touch /s/g",
    ]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stdout.starts_with("one"), "{out}");
    assert!(out.stderr.contains("Read-only file system"), "{out}");
    let out = b.run(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=volume,source={shared},target=/m,readonly"),
        "busybox",
        "touch",
        "/m/g",
    ]);
    assert_ne!(out.code(), 0, "readonly --mount was writable: {out}");

    let mounts = b.run(&["inspect", "-f", "{{json .Mounts}}", &src]).ok();
    let mounts: serde_json::Value = serde_json::from_str(mounts.out()).unwrap();
    let named = mounts
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/s")
        .unwrap_or_else(|| panic!("{mounts}"));
    assert_eq!(named["Type"], "volume", "{mounts}");
    assert_eq!(named["Name"], shared.as_str(), "{mounts}");

    // --volumes-from: the same volumes at the same paths; :ro makes them read-only
    b.run(&["exec", &src, "sh", "-c", "echo anon > /anon/a"])
        .ok();
    let out = b
        .run(&[
            "run",
            "--rm",
            "--volumes-from",
            &src,
            "busybox",
            "sh",
            "-c",
            "cat /s/f /anon/a && echo three >> /s/f",
        ])
        .ok();
    assert_eq!(out.stdout, "one\ntwo\nanon\n", "{out}");
    let out = b.run(&[
        "run",
        "--rm",
        "--volumes-from",
        &format!("{src}:ro"),
        "busybox",
        "touch",
        "/s/h",
    ]);
    assert_ne!(out.code(), 0, "{out}");
    assert!(out.stderr.contains("Read-only file system"), "{out}");

    // --read-only: the rootfs is read-only, volumes stay writable
    let out = b.run(&[
        "run",
        "--rm",
        "--read-only",
        "-v",
        &v,
        "busybox",
        "sh",
        "-c",
        "echo four >> /s/f && touch /rootfile",
    ]);
    assert_ne!(out.code(), 0, "{out}");
    assert!(out.stderr.contains("Read-only file system"), "{out}");
    let out = b.run(&["exec", &src, "cat", "/s/f"]).ok();
    assert_eq!(out.stdout, "one\ntwo\nthree\nfour\n", "{out}");

    // a tmpfs through --mount
    let out = b
        .run(&[
            "run",
            "--rm",
            "--mount",
            "type=tmpfs,target=/t,tmpfs-size=1m",
            "busybox",
            "sh",
            "-c",
            "grep ' /t ' /proc/mounts",
        ])
        .ok();
    assert!(out.stdout.starts_with("tmpfs /t tmpfs"), "{out}");
    assert!(out.stdout.contains("size=1024k"), "{out}");
    b.run(&["rm", "-f", &src]).ok();
}

#[test]
fn a_volume_in_use_is_not_removed() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let vol = unique_id("busy");
    let c = unique_id("user");
    let id = b
        .run(&[
            "create",
            "--name",
            &c,
            "-v",
            &format!("{vol}:/d"),
            "busybox",
            "true",
        ])
        .ok()
        .out()
        .to_string();
    // even a container that never ran holds its volumes
    let out = b.run(&["volume", "rm", &vol]);
    one_line_error(&out, 1, &format!("remove {vol}: volume is in use - [{id}]"));
    let out = b.run(&["volume", "rm", "-f", &vol]);
    assert_eq!(out.code(), 1, "-f does not remove a volume in use: {out}");
    let dangling = b.run(&["volume", "ls", "-q", "-f", "dangling=true"]).ok();
    assert!(!dangling.stdout.contains(&vol), "{dangling}");
    let prune = b.run(&["volume", "prune", "-f"]).ok();
    assert!(!prune.stdout.contains(&vol), "{prune}");
    assert_eq!(volume_names(&b), vec![vol.clone()]);

    b.run(&["rm", &c]).ok();
    // rm without -v keeps even anonymous volumes; named ones always stay
    assert_eq!(volume_names(&b), vec![vol.clone()]);
    b.run(&["volume", "rm", &vol]).ok();
    assert!(volume_names(&b).is_empty());
}

#[test]
fn device_volume_is_mounted_and_unmounted() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let vol = unique_id("tmpfsvol");
    b.run(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m",
        &vol,
    ])
    .ok();
    let insp = b
        .run(&["volume", "inspect", "-f", "{{json .Options}}", &vol])
        .ok();
    assert_eq!(
        insp.out(),
        r#"{"device":"tmpfs","o":"size=1m","type":"tmpfs"}"#,
        "{insp}"
    );
    let data = b.root().join("volumes").join(&vol).join("_data");
    assert_eq!(
        mounts_under(&data).len(),
        1,
        "tmpfs not mounted on {}",
        data.display()
    );
    let out = b
        .run(&[
            "run",
            "--rm",
            "-v",
            &format!("{vol}:/t"),
            "busybox",
            "sh",
            "-c",
            "echo x > /t/f && df -k /t | tail -1",
        ])
        .ok();
    assert!(out.stdout.contains(" 1024 "), "{out}");
    b.run(&["volume", "rm", &vol]).ok();
    assert!(mounts_under(&data).is_empty());
    let bad = b.run(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        "device=/no/such/dir",
        "-o",
        "o=bind",
        "badbind",
    ]);
    one_line_error(&bad, 1, "/no/such/dir");
    assert!(volume_names(&b).is_empty());
}

#[test]
fn bad_mount_flags_change_nothing() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let taken = unique_id("taken");
    b.run(&["create", "--name", &taken, "busybox", "true"]).ok();
    let fresh = unique_id("fresh");
    for (args, needle) in [
        (vec!["-v", "bad:name:/x"], "invalid mode: /x"),
        (vec!["-v", "vol:rel"], "mount path must be absolute"),
        (
            vec!["-v", "vol:/x", "-v", "other:/x"],
            "Duplicate mount point: /x",
        ),
        (
            vec!["--mount", "type=volume,target=/x,bogus=1"],
            "unexpected key 'bogus'",
        ),
        (
            vec!["--mount", "type=bind,source=/no/such/path,target=/x"],
            "bind source path does not exist",
        ),
        (
            vec!["--mount", "type=volume,source=v"],
            "field Target must not be empty",
        ),
        (
            vec!["--volumes-from", "nosuchcontainer"],
            "no such container",
        ),
        (vec!["--volumes-from", "x:bogus"], "--volumes-from"),
        // the container cannot be made (its name is taken): the volume made
        // for it goes again
        (
            vec!["--name", taken.as_str(), "-v", &format!("{fresh}:/x")],
            "already in use",
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
            assert!(
                lines[0].to_lowercase().contains(&needle.to_lowercase()),
                "want {needle:?}: {out}"
            );
        }
    }
    assert!(volume_names(&b).is_empty(), "{:?}", volume_names(&b));
    assert_eq!(b.container_ids().len(), 1);
    b.run(&["rm", &taken]).ok();
}

#[test]
fn volume_data_and_records_survive_manager_kill() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let vol = unique_id("durable");
    let w = unique_id("writer");
    b.run(&[
        "run", "-d", "--name", &w, "-v", &format!("{vol}:/d"), "busybox", "sh", "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /d/n.tmp; mv /d/n.tmp /d/n; echo $i >> /d/log; sync; done",
    ])
    .ok();
    let data = b.root().join("volumes").join(&vol).join("_data");
    assert!(wait_until(Duration::from_secs(10), || data
        .join("n")
        .exists()));

    // volume creates racing a kill -9 of the manager: each volume is there
    // whole (record and directory) or not at all
    let racing: Vec<String> = (0..6).map(|i| unique_id(&format!("race{i}"))).collect();
    let mut children: Vec<_> = racing
        .iter()
        .map(|n| {
            b.command(["volume", "create", n.as_str()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    let before: u64 = std::fs::read_to_string(data.join("n"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    b.kill_manager();
    for c in &mut children {
        let _ = c.wait();
    }

    // a new manager: the volume, its data and its user are all there
    let listed = volume_names(&b);
    assert!(listed.contains(&vol), "{listed:?}");
    for n in &racing {
        let dir = b.root().join("volumes").join(n).join("_data");
        assert_eq!(
            listed.contains(n),
            dir.is_dir(),
            "{n}: record and directory disagree"
        );
    }
    assert!(b
        .root()
        .join("volumes/.trash")
        .read_dir()
        .map_or(true, |mut d| d.next().is_none()));
    let out = b.run(&["volume", "rm", &vol]);
    assert_eq!(out.code(), 1, "the writer still uses it: {out}");
    assert!(
        wait_until(Duration::from_secs(10), || {
            std::fs::read_to_string(data.join("n"))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .is_some_and(|n| n > before + 10)
        }),
        "the writer stopped writing into the volume"
    );
    b.run(&["rm", "-f", &w]).ok();
    let out = b
        .run(&[
            "run",
            "--rm",
            "-v",
            &format!("{vol}:/d"),
            "busybox",
            "sh",
            "-c",
            "tail -n 1 /d/log; wc -l < /d/log",
        ])
        .ok();
    let mut nums = out
        .stdout
        .split_whitespace()
        .map(|s| s.parse::<u64>().unwrap());
    let (last, lines) = (nums.next().unwrap(), nums.next().unwrap());
    assert!(last > before, "{out}");
    assert!(lines >= last - 1, "log lost lines: {out}");
    b.run(&["volume", "rm", &vol]).ok();
}

#[test]
fn system_df_and_prune_know_volumes() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let (idle, used) = (unique_id("idle"), unique_id("used"));
    b.run(&[
        "run",
        "--rm",
        "-v",
        &format!("{idle}:/d"),
        "busybox",
        "sh",
        "-c",
        "head -c 5000 /dev/zero > /d/blob",
    ])
    .ok();
    let user = unique_id("user");
    b.run(&[
        "run",
        "-d",
        "--name",
        &user,
        "-v",
        &format!("{used}:/d"),
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let df = b.run(&["system", "df"]).ok();
    let lines: Vec<&str> = df.stdout.lines().collect();
    assert!(
        lines[0].starts_with("TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE"),
        "{df}"
    );
    let vols = lines
        .iter()
        .find(|l| l.starts_with("Local Volumes"))
        .unwrap_or_else(|| panic!("{df}"));
    let cells: Vec<&str> = vols.split_whitespace().collect();
    // Local Volumes TOTAL ACTIVE SIZE RECLAIMABLE (PCT)
    assert_eq!(&cells[2..6], ["2", "1", "5kB", "5kB"], "{df}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Containers      1         1")),
        "{df}"
    );

    let prune = b.run(&["system", "prune", "-f", "--volumes"]).ok();
    assert!(prune.stdout.contains("Deleted Volumes:"), "{prune}");
    assert!(
        prune.stdout.contains(&idle) && !prune.stdout.contains(&used),
        "{prune}"
    );
    assert!(
        prune.stdout.contains("Total reclaimed space: 5kB"),
        "{prune}"
    );
    assert_eq!(volume_names(&b), vec![used.clone()]);
    // without --volumes, volumes stay
    b.run(&["rm", "-f", &user]).ok();
    let prune = b.run(&["system", "prune", "-f"]).ok();
    assert!(!prune.stdout.contains("Deleted Volumes:"), "{prune}");
    assert_eq!(volume_names(&b), vec![used]);
}
