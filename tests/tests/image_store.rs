//! berth-image-store against real images: the OCI layout and archive from
//! `make-busybox-image.sh`, a real registry on loopback (`registry-env.sh`),
//! real overlay mounts, and hostile archives built here.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_fixture::{require_root, unique_id};
use berth_image_store::{
    Digest, Error, ImageStore, Progress, ProgressAction, RegistryOptions, RootfsMounts,
};
use tempfile::TempDir;

const BUSYBOX: &str = "docker.io/library/busybox:latest";
const REGISTRY: &str = "127.0.0.1:5000";

fn conformance(script: &str) -> PathBuf {
    berth_fixture::workspace_root()
        .join("..")
        .join("shared/conformance")
        .join(script)
}

/// The busybox images `make-busybox-image.sh` builds, in a private dir.
struct Images {
    dir: TempDir,
}

impl Images {
    fn build() -> Images {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(conformance("make-busybox-image.sh"))
            .arg(dir.path())
            .output()
            .expect("run make-busybox-image.sh (from /work/shared/conformance)");
        assert!(
            out.status.success(),
            "make-busybox-image.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Images { dir }
    }
    fn oci_archive(&self) -> PathBuf {
        self.dir.path().join("busybox-oci.tar")
    }
    fn oci_layout(&self) -> PathBuf {
        self.dir.path().join("busybox-oci")
    }
    fn rootfs_tar(&self) -> PathBuf {
        self.dir.path().join("busybox-rootfs.tar")
    }
}

struct Store {
    // Field order: the store closes before its directory goes.
    store: ImageStore,
    dir: TempDir,
}

impl Store {
    fn new() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&dir.path().join("images")).unwrap();
        Store { store, dir }
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("images")
    }
    fn blob_count(&self) -> usize {
        fs::read_dir(self.root().join("blobs/sha256"))
            .unwrap()
            .count()
    }
    /// Unpacked layer dirs (everything in snapshots/ but the fixed entries).
    fn layer_dirs(&self) -> Vec<String> {
        fs::read_dir(self.root().join("snapshots"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "containers" && n != "empty")
            .collect()
    }
    fn assert_empty(&self) {
        assert!(self.store.list().unwrap().is_empty());
        assert_eq!(self.blob_count(), 0, "blobs left behind");
        assert_eq!(
            self.layer_dirs(),
            Vec::<String>::new(),
            "layer dirs left behind"
        );
        assert_eq!(
            fs::read_dir(self.root().join("snapshots/containers"))
                .unwrap()
                .count(),
            0
        );
    }
}

/// Unmounts on drop, even when the test fails.
struct MountGuard(PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = RootfsMounts::unmount_at(&self.0);
    }
}

/// Deletes a container snapshot on drop.
struct SnapshotGuard<'a>(&'a ImageStore, String);

impl Drop for SnapshotGuard<'_> {
    fn drop(&mut self) {
        let _ = self.0.remove_snapshot(&self.1);
    }
}

#[test]
fn oci_archive_and_layout_import_then_save_and_reimport() {
    require_root!();
    let images = Images::build();
    let s = Store::new();
    let mut events: Vec<Progress> = Vec::new();
    let loaded = s
        .store
        .import_archive(&images.oci_archive(), |p| events.push(p))
        .unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].name.as_deref(), Some(BUSYBOX));
    assert!(events
        .iter()
        .any(|e| e.action == ProgressAction::Extracting));
    assert!(events.iter().any(|e| e.action == ProgressAction::Done));

    // The layout holds the same image: same manifest, nothing new stored.
    let blobs = s.blob_count();
    let from_layout = s.store.import_layout(&images.oci_layout(), |_| {}).unwrap();
    assert_eq!(from_layout[0].manifest_digest, loaded[0].manifest_digest);
    assert_eq!(s.blob_count(), blobs);
    assert_eq!(s.layer_dirs().len(), 1, "one layer, unpacked once");

    let info = s.store.get("busybox").unwrap();
    assert_eq!(info.reference.as_deref(), Some(BUSYBOX));
    assert_eq!(info.id, loaded[0].id);
    assert_eq!(info.os, "linux");
    assert_eq!(info.architecture, "amd64");
    assert_eq!(info.diff_ids.len(), 1);
    assert_eq!(s.store.get(&info.id.short()[..8]).unwrap().id, info.id);

    // save, then load into a fresh store: same image, same name.
    s.store.tag("busybox", "example.com/copy:v2").unwrap();
    let out = s.dir.path().join("saved.tar");
    s.store
        .save(&["busybox", "example.com/copy:v2"], &out)
        .unwrap();
    let listing = Command::new("tar").arg("-tf").arg(&out).output().unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    for want in ["oci-layout", "index.json", "manifest.json", "blobs/sha256/"] {
        assert!(
            listing.lines().any(|l| l == want),
            "{want} missing: {listing}"
        );
    }
    let s2 = Store::new();
    let mut again = s2.store.import_archive(&out, |_| {}).unwrap();
    again.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<_> = again.iter().map(|i| i.name.clone().unwrap()).collect();
    assert_eq!(
        names,
        vec![BUSYBOX.to_string(), "example.com/copy:v2".to_string()]
    );
    assert!(again
        .iter()
        .all(|i| i.manifest_digest == loaded[0].manifest_digest));

    // save of an unknown image: a one-line error and no file.
    let bad = s.dir.path().join("bad.tar");
    let e = s.store.save(&["busybox", "nosuch:1"], &bad).unwrap_err();
    assert_eq!(e.to_string(), "no such image: nosuch:1");
    assert!(!bad.exists());
}

#[test]
fn docker_save_archive_from_our_save_without_oci_index() {
    require_root!();
    let images = Images::build();
    let s = Store::new();
    s.store
        .import_archive(&images.oci_archive(), |_| {})
        .unwrap();
    let out = s.dir.path().join("saved.tar");
    s.store.save(&["busybox"], &out).unwrap();
    // Strip the OCI half so only docker's manifest.json names the image.
    let x = s.dir.path().join("x");
    fs::create_dir(&x).unwrap();
    let st = Command::new("tar")
        .arg("-xf")
        .arg(&out)
        .arg("-C")
        .arg(&x)
        .status()
        .unwrap();
    assert!(st.success());
    fs::remove_file(x.join("index.json")).unwrap();
    fs::remove_file(x.join("oci-layout")).unwrap();
    let docker = s.dir.path().join("docker.tar");
    let st = Command::new("tar")
        .arg("-cf")
        .arg(&docker)
        .arg("-C")
        .arg(&x)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let s2 = Store::new();
    let got = s2.store.import_archive(&docker, |_| {}).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].name.as_deref(), Some(BUSYBOX));
    assert_eq!(got[0].id, s.store.get("busybox").unwrap().id);
}

#[test]
fn snapshot_overlay_mount_has_busybox_and_private_upper() {
    require_root!();
    let images = Images::build();
    let s = Store::new();
    s.store
        .import_archive(&images.oci_archive(), |_| {})
        .unwrap();
    let key = unique_id("snap");
    let mounts = s.store.prepare(&key, "busybox").unwrap();
    let _snap = SnapshotGuard(&s.store, key.clone());
    assert_eq!(mounts.mounts.len(), 1);
    let m = &mounts.mounts[0];
    assert_eq!((m.kind.as_str(), m.source.as_str()), ("overlay", "overlay"));
    assert!(m.options[0].starts_with("lowerdir="));
    assert!(m.options[1].starts_with("upperdir="));
    assert!(m.options[2].starts_with("workdir="));
    assert_eq!(s.store.mounts(&key).unwrap(), mounts);
    let e = s.store.prepare(&key, "busybox").unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");

    let target = s.dir.path().join("rootfs");
    fs::create_dir(&target).unwrap();
    mounts.mount_at(&target).unwrap();
    let _mnt = MountGuard(target.clone());
    let bb = fs::metadata(target.join("bin/busybox")).unwrap();
    assert!(bb.is_file() && bb.len() > 100_000);
    assert_eq!(
        fs::read_link(target.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    // Writes land in this container's upper dir only.
    fs::write(target.join("hello"), b"hi").unwrap();
    let upper = s.store.snapshots().unwrap()[0].upper_dir.clone();
    assert_eq!(fs::read(upper.join("hello")).unwrap(), b"hi");
    let lower = m.options[0].trim_start_matches("lowerdir=");
    assert!(!Path::new(lower).join("hello").exists());

    // The image is in use: rmi refuses, naming the container.
    let e = s.store.remove("busybox", false).unwrap_err();
    assert!(matches!(e, Error::InUse { .. }));
    assert!(e.to_string().contains(&key), "{e}");
    assert_eq!(
        s.store.snapshot_in_use("busybox").unwrap(),
        vec![key.clone()]
    );

    RootfsMounts::unmount_at(&target).unwrap();
    s.store.remove_snapshot(&key).unwrap();
    assert!(!upper.exists());
    let report = s.store.remove("busybox", false).unwrap();
    assert_eq!(report.untagged, vec![BUSYBOX.to_string()]);
    assert_eq!(report.deleted.len(), 1);
    s.assert_empty();
}

#[test]
fn rootfs_tarball_import_and_prune() {
    require_root!();
    let images = Images::build();
    let s = Store::new();
    let img = s
        .store
        .import_rootfs(&images.rootfs_tar(), Some("imported/busybox:1"), |_| {})
        .unwrap();
    assert_eq!(img.name.as_deref(), Some("docker.io/imported/busybox:1"));
    let info = s.store.get("imported/busybox:1").unwrap();
    assert_eq!(info.diff_ids.len(), 1);
    assert!(info.config.cmd.is_none());
    // Re-importing the same tar under the same name leaves the first one dangling.
    let again = s
        .store
        .import_rootfs(&images.rootfs_tar(), Some("imported/busybox:1"), |_| {})
        .unwrap();
    assert_ne!(again.id, img.id, "a new created time makes a new config");
    let list = s.store.list().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list.iter().filter(|i| i.name.is_none()).count(), 1);
    let pruned = s.store.prune(false).unwrap();
    assert_eq!(pruned.images_deleted, vec![img.id.clone()]);
    assert_eq!(s.store.list().unwrap().len(), 1);
    // Both share the layer: still unpacked once, still there.
    assert_eq!(s.layer_dirs().len(), 1);
    let pruned = s.store.prune(true).unwrap();
    assert_eq!(pruned.images_deleted, vec![again.id]);
    s.assert_empty();
}

/// Starts the loopback registry unless it runs; stops it on drop only if
/// this test started it.
struct Registry {
    started: bool,
}

impl Registry {
    fn up() -> Registry {
        let script = conformance("registry-env.sh");
        let running = Command::new(&script)
            .arg("status")
            .output()
            .unwrap()
            .status
            .success();
        if !running {
            let out = Command::new(&script).arg("start").output().unwrap();
            assert!(
                out.status.success(),
                "registry-env.sh start failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Registry { started: !running }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if self.started {
            let _ = Command::new(conformance("registry-env.sh"))
                .arg("stop")
                .output();
        }
    }
}

/// Deletes a pushed manifest from the registry on drop.
struct RemoteManifest {
    repo: String,
    digest: Option<Digest>,
}

impl Drop for RemoteManifest {
    fn drop(&mut self) {
        if let Some(d) = &self.digest {
            let _ = Command::new("curl")
                .args(["-fsS", "-X", "DELETE"])
                .arg(format!("http://{REGISTRY}/v2/{}/manifests/{d}", self.repo))
                .output();
        }
    }
}

#[test]
fn registry_pull_push_and_pull_back() {
    require_root!();
    let _registry = Registry::up();
    let opts = RegistryOptions {
        insecure_http_hosts: vec![REGISTRY.to_string()],
        ..Default::default()
    };
    let s = Store::new();
    let src = format!("{REGISTRY}/library/busybox:latest");
    let mut events: Vec<Progress> = Vec::new();
    let pulled = s
        .store
        .pull_blocking(&src, &opts, |p| events.push(p))
        .unwrap();
    assert_eq!(pulled.name.as_deref(), Some(src.as_str()));
    let layer_events: Vec<ProgressAction> = events.iter().map(|e| e.action).collect();
    for want in [
        ProgressAction::Waiting,
        ProgressAction::Downloading,
        ProgressAction::Verifying,
        ProgressAction::Extracting,
        ProgressAction::Done,
    ] {
        assert!(
            layer_events.contains(&want),
            "{want:?} missing: {layer_events:?}"
        );
    }
    let last = events
        .iter()
        .rev()
        .find(|e| e.action == ProgressAction::Downloading)
        .unwrap();
    assert_eq!(Some(last.current), last.total);

    // A second pull finds every layer already there.
    let mut again: Vec<Progress> = Vec::new();
    s.store
        .pull_blocking(&src, &opts, |p| again.push(p))
        .unwrap();
    assert!(again
        .iter()
        .any(|e| e.action == ProgressAction::AlreadyExists));
    assert!(!again
        .iter()
        .any(|e| e.action == ProgressAction::Downloading));

    // Push under a new repository, then pull it back into a fresh store.
    let repo = format!("berth-test/{}", unique_id("push").to_lowercase());
    let dst = format!("{REGISTRY}/{repo}:v1");
    s.store.tag(&src, &dst).unwrap();
    let mut remote = RemoteManifest {
        repo: repo.clone(),
        digest: None,
    };
    let mut pushed_events: Vec<Progress> = Vec::new();
    let digest = s
        .store
        .push_blocking(&dst, &opts, |p| pushed_events.push(p))
        .unwrap();
    remote.digest = Some(digest.clone());
    assert_eq!(digest, pulled.manifest_digest);
    assert!(pushed_events
        .iter()
        .any(|e| e.action == ProgressAction::Pushed || e.action == ProgressAction::AlreadyExists));
    let s2 = Store::new();
    let back = s2.store.pull_blocking(&dst, &opts, |_| {}).unwrap();
    assert_eq!(back.manifest_digest, digest);
    assert_eq!(back.id, pulled.id);

    // Unknown tag: an error naming the reference, nothing stored.
    let s3 = Store::new();
    let missing = format!("{REGISTRY}/{repo}:nosuch");
    let e = s3.store.pull_blocking(&missing, &opts, |_| {}).unwrap_err();
    assert!(e.to_string().contains(&missing), "{e}");
    s3.assert_empty();
}

// ---- hostile archives, built byte by byte ----

/// One ustar entry: `kind` b'0' file, b'2' symlink, b'5' dir.
fn tar_entry(out: &mut Vec<u8>, name: &str, kind: u8, data: &[u8], link: &str) {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let mode = if kind == b'5' {
        "0000755\0"
    } else {
        "0000644\0"
    };
    h[100..108].copy_from_slice(mode.as_bytes());
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[148..156].copy_from_slice(b"        ");
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    let sum: u32 = h.iter().map(|b| *b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn tar_end(mut out: Vec<u8>) -> Vec<u8> {
    out.resize(out.len() + 1024, 0);
    out
}

/// An OCI archive of one image with `layer` as its only (plain tar) layer;
/// `cut` drops that many bytes off the stored layer blob.
fn oci_archive(layer: &[u8], cut: usize) -> Vec<u8> {
    let ld = Digest::of(layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{ld}"]}}}}"#
    );
    let cd = Digest::of(config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{ld}","size":{}}}]}}"#,
        config.len(),
        layer.len()
    );
    let md = Digest::of(manifest.as_bytes());
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{md}","size":{},"annotations":{{"io.containerd.image.name":"docker.io/library/hostile:1"}}}}]}}"#,
        manifest.len()
    );
    let mut t = Vec::new();
    tar_entry(
        &mut t,
        "oci-layout",
        b'0',
        br#"{"imageLayoutVersion":"1.0.0"}"#,
        "",
    );
    tar_entry(&mut t, "index.json", b'0', index.as_bytes(), "");
    tar_entry(
        &mut t,
        &format!("blobs/sha256/{}", md.hex()),
        b'0',
        manifest.as_bytes(),
        "",
    );
    tar_entry(
        &mut t,
        &format!("blobs/sha256/{}", cd.hex()),
        b'0',
        config.as_bytes(),
        "",
    );
    tar_entry(
        &mut t,
        &format!("blobs/sha256/{}", ld.hex()),
        b'0',
        &layer[..layer.len() - cut],
        "",
    );
    tar_end(t)
}

#[test]
fn hostile_archives_are_refused_and_leave_nothing() {
    require_root!();
    let s = Store::new();
    let outside = s.dir.path().join("outside");
    fs::create_dir(&outside).unwrap();

    let mut dotdot = Vec::new();
    tar_entry(&mut dotdot, "../../etc/x", b'0', b"pwned", "");
    let mut through_link = Vec::new();
    tar_entry(
        &mut through_link,
        "evil",
        b'2',
        b"",
        outside.to_str().unwrap(),
    );
    tar_entry(&mut through_link, "evil/x", b'0', b"pwned", "");
    let mut fine = Vec::new();
    tar_entry(&mut fine, "etc/", b'5', b"", "");
    tar_entry(&mut fine, "etc/hostname", b'0', b"berth\n", "");

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            oci_archive(&tar_end(dotdot), 0),
            "escapes the layer root",
        ),
        (
            "symlink",
            oci_archive(&tar_end(through_link), 0),
            "written through a symlink",
        ),
        (
            "truncated",
            oci_archive(&tar_end(fine.clone()), 100),
            "refused",
        ),
    ];
    for (what, archive, want) in cases {
        let path = s.dir.path().join(format!("{what}.tar"));
        fs::write(&path, archive).unwrap();
        let e = s.store.import_archive(&path, |_| {}).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(want), "{what}: {msg}");
        assert!(!msg.contains('\n'), "{what}: one line: {msg}");
        s.assert_empty();
        assert_eq!(
            fs::read_dir(&outside).unwrap().count(),
            0,
            "{what} wrote outside"
        );
        assert!(!s.root().join("etc").exists() && !s.root().join("snapshots/etc").exists());
    }
    // The same archive, intact, loads.
    let path = s.dir.path().join("fine.tar");
    fs::write(&path, oci_archive(&tar_end(fine), 0)).unwrap();
    let got = s.store.import_archive(&path, |_| {}).unwrap();
    assert_eq!(got[0].name.as_deref(), Some("docker.io/library/hostile:1"));
}

/// A private podman (own config and storage) purged on drop.
struct Podman {
    base: TempDir,
    env: Vec<(String, String)>,
}

impl Podman {
    fn start(images: &Images) -> Podman {
        let base = tempfile::tempdir().unwrap();
        let out = Command::new(conformance("podman-env.sh"))
            .arg("start")
            .env("RC_PODMAN_BASE", base.path())
            .env("RC_IMAGES", images.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "podman-env.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Podman { base, env }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let out = Command::new("podman")
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = Command::new(conformance("podman-env.sh"))
            .arg("purge")
            .env("RC_PODMAN_BASE", self.base.path())
            .output();
    }
}

#[test]
fn podman_loads_our_save_and_we_load_podmans_docker_archive() {
    require_root!();
    let images = Images::build();
    let s = Store::new();
    s.store
        .import_archive(&images.oci_archive(), |_| {})
        .unwrap();
    let name = "example.com/berth/saved:1";
    s.store.tag("busybox", name).unwrap();
    let ours = s.dir.path().join("ours.tar");
    s.store.save(&[name], &ours).unwrap();

    let podman = Podman::start(&images);
    podman.run(&["load", "-q", "-i", ours.to_str().unwrap()]);
    podman.run(&["image", "exists", name]);
    let theirs = s.dir.path().join("theirs.tar");
    podman.run(&[
        "save",
        "--format",
        "docker-archive",
        "-o",
        theirs.to_str().unwrap(),
        name,
    ]);

    let s2 = Store::new();
    let got = s2.store.import_archive(&theirs, |_| {}).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].name.as_deref(), Some(name));
    let info = s2.store.get(name).unwrap();
    assert_eq!(info.diff_ids, s.store.get(name).unwrap().diff_ids);
}

#[test]
fn open_removes_what_a_crash_left_and_keeps_committed_images() {
    require_root!();
    let images = Images::build();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("images");
    let manifest = {
        let store = ImageStore::open(&root).unwrap();
        store.import_archive(&images.oci_archive(), |_| {}).unwrap()[0]
            .manifest_digest
            .clone()
    };
    // What a kill -9 mid-unpack, mid-prepare or mid-download leaves.
    // (created, what open() must remove)
    let leftovers = [
        ("snapshots/.tmp-99/fs/bin", "snapshots/.tmp-99"),
        ("snapshots/4242/fs/etc", "snapshots/4242"),
        (
            "snapshots/containers/.tmp-c1/fs",
            "snapshots/containers/.tmp-c1",
        ),
        (
            "snapshots/containers/orphan/work",
            "snapshots/containers/orphan",
        ),
        ("tmp/x", "tmp/x"),
    ];
    for (made, _) in leftovers {
        fs::create_dir_all(root.join(made)).unwrap();
    }
    fs::write(root.join("ingest/partial"), b"half a blob").unwrap();
    let store = ImageStore::open(&root).unwrap();
    for (_, gone) in leftovers {
        assert!(!root.join(gone).exists(), "{gone} survived open");
    }
    assert_eq!(fs::read_dir(root.join("ingest")).unwrap().count(), 0);
    assert_eq!(store.get("busybox").unwrap().manifest_digest, manifest);
    let key = unique_id("after-crash");
    store.prepare(&key, "busybox").unwrap();
    let _snap = SnapshotGuard(&store, key);
}
