//! The fixture itself: bundle shape, id generation, runtime selection and the
//! leftover-state probes the bad-input tests rely on.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_fixture::*;

#[test]
fn busybox_bundle_has_rootfs_and_config() {
    let b = Bundle::busybox();
    let r = b.rootfs();
    assert!(b.path().join("rootfs").is_dir());

    let bb = r.join("bin/busybox");
    let meta = std::fs::metadata(&bb).expect("rootfs/bin/busybox");
    assert!(meta.is_file() && meta.permissions().mode() & 0o111 != 0);
    for applet in ["bin/sh", "bin/echo", "bin/cat", "bin/sleep", "bin/ls"] {
        let target = std::fs::read_link(r.join(applet)).unwrap_or_else(|e| panic!("{applet}: {e}"));
        assert_eq!(target, Path::new("/bin/busybox"), "{applet}");
    }
    let passwd = std::fs::read_to_string(r.join("etc/passwd")).unwrap();
    assert!(
        passwd.lines().any(|l| l.starts_with("root:x:0:0:")),
        "{passwd}"
    );
    assert!(
        passwd
            .lines()
            .any(|l| l.starts_with("nobody:x:65534:65534:")),
        "{passwd}"
    );
    let group = std::fs::read_to_string(r.join("etc/group")).unwrap();
    assert!(group.contains("root:x:0:") && group.contains("nobody:x:65534:"));
    let tmp = std::fs::metadata(r.join("tmp")).unwrap();
    assert_eq!(tmp.permissions().mode() & 0o7777, 0o1777);
    for d in ["proc", "sys", "dev"] {
        assert!(r.join(d).is_dir(), "rootfs/{d}");
    }

    let c = b.config();
    assert!(
        c["ociVersion"].as_str().is_some_and(|v| v.starts_with('1')),
        "ociVersion: {c}"
    );
    assert_eq!(c["process"]["terminal"], false);
    assert_eq!(c["root"]["path"], "rootfs");
    assert!(c["process"]["args"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
    assert!(c["mounts"]
        .as_array()
        .is_some_and(|m| m.iter().any(|m| m["destination"] == "/proc")));
    assert!(c["linux"]["namespaces"].is_array());

    b.set_args(&["sh", "-c", "echo hi"]);
    assert_eq!(
        b.config()["process"]["args"],
        serde_json::json!(["sh", "-c", "echo hi"])
    );
    b.update_config(|c| c["hostname"] = "fixture".into());
    let c = b.config();
    assert_eq!(c["hostname"], "fixture");
    assert_eq!(
        c["process"]["terminal"], false,
        "update_config keeps the rest"
    );
    b.set_config(&c);
    assert_eq!(b.config(), c);

    let dir = b.path().to_path_buf();
    drop(b);
    assert!(!dir.exists(), "bundle dir removed on drop");
}

#[test]
fn bundles_are_independent() {
    let a = Bundle::busybox();
    let b = Bundle::busybox();
    assert_ne!(a.path(), b.path());
    a.set_args(&["true"]);
    assert_ne!(a.config()["process"]["args"], b.config()["process"]["args"]);
}

#[test]
fn unique_ids_differ() {
    let ids: std::collections::HashSet<String> = (0..100).map(|_| unique_id("smoke")).collect();
    assert_eq!(ids.len(), 100);
    assert!(ids.iter().all(|i| i.starts_with("smoke-") && i.len() <= 40));
}

#[test]
fn runtime_bin_is_selected() {
    let bin = runtime_bin();
    match std::env::var_os("BERTH_RUNTIME").filter(|v| !v.is_empty()) {
        Some(v) => assert_eq!(bin, Path::new(&v)),
        None => assert!(bin.ends_with("berth-runtime"), "{}", bin.display()),
    }
    let rt = Runtime::new();
    assert_eq!(rt.bin(), bin);
    assert!(rt.root().is_dir());
    let rt2 = Runtime::new();
    assert_ne!(rt.root(), rt2.root(), "each Runtime has its own --root");
}

#[test]
fn mounts_under_sees_mounts() {
    assert!(mounts_under("/").iter().any(|m| m == "/"));
    assert!(mounts_under("/proc").iter().any(|m| m == "/proc"));
    let d = tempfile::tempdir().unwrap();
    assert!(mounts_under(d.path()).is_empty());
    if !root_or_skip("mounts_under_sees_mounts (tmpfs part)") {
        return;
    }
    let sub = d.path().join("a b");
    std::fs::create_dir(&sub).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "fixture-smoke"])
        .arg(&sub)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mount tmpfs");
    let seen = mounts_under(d.path());
    let _ = Command::new("umount").arg(&sub).status();
    assert_eq!(seen, vec![sub.to_string_lossy().into_owned()]);
    assert!(mounts_under(d.path()).is_empty());
}

#[test]
fn processes_with_arg_finds_a_child() {
    let marker = unique_id("fixture-marker");
    let mut child = Command::new("sh")
        .args(["-c", "sleep 30", &marker])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let found = wait_until(Duration::from_secs(5), || {
        processes_with_arg(&marker).contains(&pid)
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(found, "pid {pid} with arg {marker} not found");
    assert!(!processes_with_arg(&marker).contains(&pid));
}

#[test]
fn cgroup_dirs_named_finds_a_new_cgroup() {
    let name = unique_id("fixture-cg");
    assert!(cgroup_dirs_named(&name).is_empty());
    if !root_or_skip("cgroup_dirs_named_finds_a_new_cgroup") {
        return;
    }
    // the pids hierarchy (v1) or the unified one, whichever is mounted
    let base = [
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/unified",
        "/sys/fs/cgroup",
    ]
    .iter()
    .map(Path::new)
    .find(|p| p.join("cgroup.procs").exists());
    let Some(base) = base else {
        eprintln!("SKIPPED cgroup part: no writable cgroup hierarchy found");
        return;
    };
    let dir = base.join(&name).join("child");
    std::fs::create_dir_all(&dir).unwrap();
    let by_name = cgroup_dirs_named("child");
    let by_suffix = cgroup_dirs_named(&format!("{name}/child"));
    let _ = std::fs::remove_dir(&dir);
    let _ = std::fs::remove_dir(base.join(&name));
    assert!(by_name.contains(&dir), "{by_name:?}");
    assert_eq!(by_suffix, vec![dir.clone()]);
    assert!(cgroup_dirs_named(&name).is_empty());
}

/// The fixture's bundle and helpers against the reference runtime, so a
/// broken fixture is told apart from a broken berth-runtime.
fn runc() -> Option<&'static Path> {
    let p = Path::new("/usr/bin/runc");
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIPPED: /usr/bin/runc not installed (make deps)");
        None
    }
}

#[test]
fn bundle_runs_under_runc() {
    require_root!("bundle_runs_under_runc");
    let Some(runc) = runc() else { return };
    let b = Bundle::busybox_with_runtime(runc);
    b.set_args(&["sh", "-c", "echo hello from busybox; id -un; ls -d /tmp"]);
    let rt = Runtime::with_bin(runc);
    let id = unique_id("smoke-run");
    let _guard = rt.guard(&id);
    let out = rt.run(["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert_success(&out, "runc run");
    assert_eq!(stdout_str(&out), "hello from busybox\nroot\n/tmp\n");
}

#[test]
fn guard_force_deletes_a_running_container() {
    require_root!("guard_force_deletes_a_running_container");
    let Some(runc) = runc() else { return };
    let b = Bundle::busybox_with_runtime(runc);
    let marker = unique_id("guard-marker");
    // (a trailing command keeps sh from exec-ing sleep, so $0 = marker stays visible)
    b.set_args(&["sh", "-c", "sleep 1000; exit 0", &marker]);
    let rt = Runtime::with_bin(runc);
    let id = unique_id("smoke-guard");
    let guard = rt.guard(&id);
    // the container's stdio is inherited: keep it off pipes we would wait on
    let st = rt
        .command()
        .args(["create", "--bundle", b.path().to_str().unwrap(), &id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "runc create");
    assert_success(&rt.run(["start", &id]), "runc start");
    assert_eq!(rt.state(&id).expect("state")["status"], "running");
    assert!(wait_until(Duration::from_secs(5), || !processes_with_arg(
        &marker
    )
    .is_empty()));
    drop(guard);
    assert!(rt.state(&id).is_none(), "container deleted by the guard");
    assert!(wait_until(Duration::from_secs(5), || processes_with_arg(
        &marker
    )
    .is_empty()));
    assert!(mounts_under(b.rootfs()).is_empty());
}
