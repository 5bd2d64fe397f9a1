//! Bad input to `berth-runtime create` (and to the commands that act on a
//! container id): each case gets a one-line error naming the problem, a
//! non-zero exit status, and leaves no state dir, cgroup, mount or process
//! behind.
//!
//! Every test skips (with a message) unless run as root, uses its own
//! `--root` and unique container ids, and force-deletes what it made even
//! when it fails.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use berth_fixture::*;
use serde_json::json;

/// How long leftover checks wait for a process or cgroup that is on its way out.
const SETTLE: Duration = Duration::from_secs(2);

/// `berth-runtime --root <root> create --bundle <bundle> [extra...] <id>`.
fn create(rt: &Runtime, bundle: &Path, id: &str, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec![
        "create".into(),
        "--bundle".into(),
        bundle.to_string_lossy().into_owned(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(id.into());
    rt.run_to_files(&args)
}

/// Asserts a failed command: non-zero exit, stderr exactly one non-empty
/// line, containing every one of `needles` (case-insensitively).
fn assert_one_line_error(out: &Output, what: &str, needles: &[&str]) -> String {
    let stderr = stderr_str(out);
    assert!(
        !out.status.success(),
        "{what}: expected a non-zero exit status, got {}\nstdout: {}\nstderr: {stderr}",
        out.status,
        stdout_str(out)
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines.len() == 1 && !lines[0].trim().is_empty(),
        "{what}: expected exactly one line on stderr, got {}:\n{stderr}",
        lines.len()
    );
    eprintln!("{what}: {}", stderr.trim_end());
    let lower = stderr.to_lowercase();
    for n in needles {
        assert!(
            lower.contains(&n.to_lowercase()),
            "{what}: stderr does not mention {n:?}: {stderr}"
        );
    }
    stderr
}

/// The four leftover checks: no state dir, no cgroup, no mount under the
/// bundle, no process naming the id or the bundle.
fn assert_no_leftovers(rt: &Runtime, id: &str, bundle: &Path) {
    let state_dir = rt.root().join(id);
    assert!(
        !state_dir.exists(),
        "state dir {} was left behind",
        state_dir.display()
    );
    wait_until(SETTLE, || cgroup_dirs_named(id).is_empty());
    assert_eq!(
        cgroup_dirs_named(id),
        Vec::<PathBuf>::new(),
        "cgroup dirs named {id} were left behind"
    );
    assert_eq!(
        mounts_under(bundle),
        Vec::<String>::new(),
        "mounts under the bundle {} were left behind",
        bundle.display()
    );
    assert_no_processes(id, bundle);
}

fn assert_no_processes(id: &str, bundle: &Path) {
    let bundle_s = bundle.to_string_lossy().into_owned();
    wait_until(SETTLE, || {
        processes_with_arg(id).is_empty() && processes_with_arg(&bundle_s).is_empty()
    });
    let by_id = processes_with_arg(id);
    assert!(
        by_id.is_empty(),
        "processes naming {id} were left behind: {}",
        describe(&by_id)
    );
    let by_bundle = processes_with_arg(&bundle_s);
    assert!(
        by_bundle.is_empty(),
        "processes naming the bundle {bundle_s} were left behind: {}",
        describe(&by_bundle)
    );
}

/// `pid: cmdline` for each pid, for failure messages.
fn describe(pids: &[i32]) -> String {
    pids.iter()
        .map(|p| {
            let cmd = fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .unwrap_or_default();
            format!("{p}: {cmd}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A busybox bundle whose container just sleeps (nothing in these tests
/// should ever get that far).
fn sleeping_bundle() -> Bundle {
    let b = Bundle::busybox();
    b.set_args(&["sleep", "100"]);
    b
}

/// Creates a bad bundle, runs `create`, checks the error and the leftovers.
fn expect_create_rejected(bundle: &Bundle, prefix: &str, needles: &[&str]) -> String {
    let rt = Runtime::new();
    let id = unique_id(prefix);
    let _guard = rt.guard(&id);
    let out = create(&rt, bundle.path(), &id, &[]);
    let msg = assert_one_line_error(&out, &format!("create {prefix}"), needles);
    assert_no_leftovers(&rt, &id, bundle.path());
    msg
}

#[test]
fn missing_config_json() {
    require_root!("missing_config_json");
    let b = sleeping_bundle();
    fs::remove_file(b.config_path()).unwrap();
    let msg = expect_create_rejected(&b, "noconfig", &["config.json"]);
    let lower = msg.to_lowercase();
    assert!(
        lower.contains("not found")
            || lower.contains("does not exist")
            || lower.contains("missing"),
        "the error should say config.json is missing: {msg}"
    );
}

#[test]
fn malformed_config_json() {
    require_root!("malformed_config_json");
    let b = sleeping_bundle();
    fs::write(b.config_path(), "{\"ociVersion\": ").unwrap();
    expect_create_rejected(&b, "malformed", &["config.json", "malformed"]);
}

#[test]
fn config_json_with_wrong_types() {
    require_root!("config_json_with_wrong_types");
    let b = sleeping_bundle();
    b.update_config(|c| c["process"] = json!(5));
    // the message names the file and the field (or its type) that is wrong
    expect_create_rejected(&b, "wrongtype", &["config.json", "process"]);
}

/// DESIGN.md: a bad input "gets a clear error that says what and where":
/// a field of the wrong type deep in config.json is named, not just its
/// expected type.
#[test]
fn wrong_type_error_names_the_field() {
    require_root!("wrong_type_error_names_the_field");
    let b = sleeping_bundle();
    b.update_config(|c| c["process"]["args"] = json!("sleep 100"));
    expect_create_rejected(&b, "wrongfield", &["config.json", "args"]);
}

#[test]
fn unknown_namespace_type() {
    require_root!("unknown_namespace_type");
    let b = sleeping_bundle();
    b.update_config(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .expect("linux.namespaces")
            .push(json!({"type": "bogus"}))
    });
    expect_create_rejected(&b, "badns", &["unknown namespace type", "bogus"]);
}

fn add_mount(b: &Bundle, destination: &str) {
    b.update_config(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": destination,
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "nodev", "size=1m"],
        }))
    });
}

#[test]
fn mount_destination_escaping_with_dotdot() {
    require_root!("mount_destination_escaping_with_dotdot");
    let b = sleeping_bundle();
    add_mount(&b, "/../../etc");
    let etc_before = mounts_under("/etc");
    expect_create_rejected(
        &b,
        "dotdot",
        &["escapes the container rootfs", "/../../etc"],
    );
    assert_eq!(
        mounts_under("/etc"),
        etc_before,
        "something got mounted on the host's /etc"
    );
}

#[test]
fn mount_destination_escaping_through_symlink() {
    require_root!("mount_destination_escaping_through_symlink");
    let b = sleeping_bundle();
    fs::create_dir_all(b.rootfs().join("mnt")).unwrap();
    symlink("../../../../etc", b.rootfs().join("mnt/evil")).unwrap();
    // a leaf name no one else uses, so a directory the runtime wrongly made
    // in the host's /etc is recognisable
    let leaf = unique_id("berth-escape");
    let dest = format!("/mnt/evil/{leaf}");
    add_mount(&b, &dest);
    let etc_before = mounts_under("/etc");
    expect_create_rejected(
        &b,
        "symlink",
        &["escapes the container rootfs", "/mnt/evil"],
    );
    let host_leaf = Path::new("/etc").join(&leaf);
    let made = host_leaf.exists();
    let _ = fs::remove_dir(&host_leaf);
    assert!(!made, "the runtime created {}", host_leaf.display());
    assert_eq!(
        mounts_under("/etc"),
        etc_before,
        "something got mounted on the host's /etc"
    );
}

#[test]
fn duplicate_container_id() {
    require_root!("duplicate_container_id");
    let rt = Runtime::new();
    let id = unique_id("dup");
    let _guard = rt.guard(&id);
    let first = sleeping_bundle();
    let out = create(&rt, first.path(), &id, &[]);
    assert_success(&out, "create (first)");
    let before = rt.state(&id).expect("state of the first container");
    assert_eq!(before["status"], "created", "{before}");
    let cgroups_before = cgroup_dirs_named(&id);
    let state_files_before = dir_listing(&rt.root().join(&id));

    let second = sleeping_bundle();
    let out = create(&rt, second.path(), &id, &[]);
    assert_one_line_error(&out, "create (duplicate id)", &["exists", &id]);

    // the first container is untouched ...
    let after = rt
        .state(&id)
        .expect("state of the first container after the duplicate");
    assert_eq!(after["status"], "created", "{after}");
    assert_eq!(after["pid"], before["pid"], "{after}");
    assert_eq!(
        after["bundle"].as_str().map(PathBuf::from),
        Some(first.path().canonicalize().unwrap()),
        "{after}"
    );
    assert_eq!(dir_listing(&rt.root().join(&id)), state_files_before);
    assert_eq!(cgroup_dirs_named(&id), cgroups_before);
    // ... and the second bundle left nothing behind
    assert_eq!(mounts_under(second.path()), Vec::<String>::new());
    let second_s = second.path().to_string_lossy().into_owned();
    wait_until(SETTLE, || processes_with_arg(&second_s).is_empty());
    let left = processes_with_arg(&second_s);
    assert!(left.is_empty(), "left behind: {}", describe(&left));
    // until it execs, the first container's init still carries the
    // runtime's command line (and so the id): it is the only one allowed
    let first_init = before["pid"].as_i64().expect("pid") as i32;
    let left: Vec<i32> = processes_with_arg(&id)
        .into_iter()
        .filter(|p| *p != first_init)
        .collect();
    assert!(left.is_empty(), "left behind: {}", describe(&left));

    // ... and still works: start, kill, delete
    assert_success(&rt.run_to_files(["start", id.as_str()]), "start (first)");
    let st = rt.state(&id).expect("state after start");
    assert_eq!(st["status"], "running", "{st}");
    assert_success(&rt.run(["kill", id.as_str(), "KILL"]), "kill (first)");
    assert!(
        wait_until(Duration::from_secs(3), || rt
            .state(&id)
            .is_some_and(|s| s["status"] == "stopped")),
        "the first container did not stop: {:?}",
        rt.state(&id)
    );
    assert_success(&rt.run(["delete", id.as_str()]), "delete (first)");
    assert_no_leftovers(&rt, &id, first.path());
    assert_no_leftovers(&rt, &id, second.path());
}

/// Sorted file names in a directory (empty if it is missing).
fn dir_listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn bundle_path_does_not_exist() {
    require_root!("bundle_path_does_not_exist");
    let parent = tempfile::tempdir().unwrap();
    let missing = parent.path().join("no-such-bundle");
    let rt = Runtime::new();
    let id = unique_id("nobundle");
    let _guard = rt.guard(&id);
    let out = create(&rt, &missing, &id, &[]);
    assert_one_line_error(
        &out,
        "create (missing bundle)",
        &["does not exist", &missing.to_string_lossy()],
    );
    assert!(!missing.exists(), "the runtime created the missing bundle");
    assert_no_leftovers(&rt, &id, parent.path());
}

#[test]
fn pid_file_in_missing_directory() {
    require_root!("pid_file_in_missing_directory");
    let b = sleeping_bundle();
    let parent = tempfile::tempdir().unwrap();
    let pid_file = parent.path().join("no-such-dir").join("init.pid");
    let rt = Runtime::new();
    let id = unique_id("pidfile");
    let _guard = rt.guard(&id);
    let out = create(
        &rt,
        b.path(),
        &id,
        &["--pid-file", pid_file.to_str().unwrap()],
    );
    // runc fails here (after starting init) and tears the container down;
    // so must berth-runtime, naming the file it could not write
    assert_one_line_error(
        &out,
        "create --pid-file in a missing directory",
        &[&pid_file.to_string_lossy()],
    );
    assert!(!pid_file.exists());
    assert_no_leftovers(&rt, &id, b.path());
}

/// `start`/`kill`/`delete`/`state` of an id that was never created.
#[test]
fn commands_on_nonexistent_container() {
    require_root!("commands_on_nonexistent_container");
    let rt = Runtime::new();
    let id = unique_id("ghost");
    let _guard = rt.guard(&id);
    let cases: [&[&str]; 4] = [
        &["start", &id],
        &["kill", &id, "KILL"],
        &["delete", &id],
        &["state", &id],
    ];
    for args in cases {
        let out = rt.run(args);
        assert_one_line_error(&out, &args.join(" "), &["does not exist", &id]);
        assert!(
            !rt.root().join(&id).exists(),
            "{} made a state dir",
            args.join(" ")
        );
    }
    // `delete --force` of a missing container succeeds quietly, as runc's
    // does (callers use it to clean up after an aborted create)
    let out = rt.run(["delete", "--force", id.as_str()]);
    assert_success(&out, "delete --force of a missing container");
    assert!(!rt.root().join(&id).exists());
    assert!(cgroup_dirs_named(&id).is_empty());
    assert!(processes_with_arg(&id).is_empty());
}
