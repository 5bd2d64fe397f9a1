//! A full disk, end to end: a private berth whose root (images, container
//! layers, volumes, logs, both redb stores) is a 64 MiB tmpfs. Loading or
//! pulling an image too big for it, a container filling a volume, log
//! writes while the disk is full, a commit and a build that do not fit, a
//! create whose record does not fit the manager's own store: each fails
//! with a one-line error naming the lack of space, nothing is left
//! half-written, and once the fillers are removed everything works again
//! without a manager restart. An attached client still gets the output its
//! log could not take (through the CLI and the Docker API), and a removal cut short (a full disk, a busy mount)
//! is finished later, never leaked. The tmpfs lies under the berth's temp
//! dir, so the Berth guard unmounts it even when the test fails.

mod cli_support;

use std::ffi::CString;
use std::path::Path;
use std::time::Duration;

use berth_fixture::registry::Registry;
use berth_fixture::{require_root, unique_id, wait_until};
use cli_support::{docker_clients, oci_archive, ApiService, Berth, Out, Tar};

const TMPFS_SIZE: &str = "size=64m";

fn mount_tmpfs(at: &Path) {
    let src = CString::new("tmpfs").unwrap();
    let target = CString::new(at.to_str().unwrap()).unwrap();
    let data = CString::new(TMPFS_SIZE).unwrap();
    // SAFETY: valid C strings; a fresh tmpfs on the test's own empty dir.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            src.as_ptr(),
            0,
            data.as_ptr().cast(),
        )
    };
    assert_eq!(rc, 0, "mount tmpfs: {}", std::io::Error::last_os_error());
}

/// Failed, with one line on stderr that says the disk is full.
fn assert_no_space(out: &Out, what: &str) {
    assert_ne!(out.code(), 0, "{what} succeeded on a full disk: {out}");
    let err = out.stderr.trim();
    assert_eq!(err.lines().count(), 1, "{what}: not one line: {out}");
    assert!(
        err.to_lowercase().contains("no space left on device"),
        "{what}: {out}"
    );
}

/// `ps -a`: each container's name and whether it is up.
fn containers(b: &Berth) -> Vec<String> {
    let out = b.run(&["ps", "-a"]).ok();
    out.stdout
        .lines()
        .skip(1)
        .map(|l| {
            let name = l.split_whitespace().last().unwrap_or_default();
            format!("{name} {}", if l.contains(" Up ") { "up" } else { "down" })
        })
        .collect()
}

fn free_bytes(dir: &Path) -> u64 {
    let c = CString::new(dir.to_str().unwrap()).unwrap();
    // SAFETY: statvfs fills the zeroed struct it is given.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid path, st a valid out pointer.
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
    st.f_bavail * st.f_frsize
}

fn image_names(b: &Berth) -> Vec<String> {
    let out = b.run(&["images"]).ok();
    let mut v: Vec<String> = out
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some(format!("{}:{}", w.next()?, w.next()?))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_full_disk_fails_cleanly_and_work_resumes_once_freed() {
    require_root!();
    let b = Berth::new();
    mount_tmpfs(&b.root());
    b.load_busybox();
    let images = image_names(&b);
    assert_eq!(images, ["busybox:latest"]);
    let ingest = b.root().join("images/ingest");

    // an image bigger than the whole disk
    let big = b.scratch("big").join("big.tar");
    let layer = Tar::default().file("big", &vec![0u8; 80 << 20]).finish();
    oci_archive(&big, "docker.io/library/big:latest", &layer, false);
    drop(layer);
    let out = b.run(&["load", "-i", big.to_str().unwrap()]);
    assert_no_space(&out, "load");
    assert_eq!(image_names(&b), images, "a failed load left an image");
    assert_eq!(
        std::fs::read_dir(&ingest).unwrap().count(),
        0,
        "a failed load left a partial blob"
    );

    // a container that logs all along, then one that fills a volume
    b.run(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "busybox",
        "sh",
        "-c",
        "i=0; while :; do echo line $i; i=$((i+1)); sleep 0.01; done",
    ])
    .ok();
    let out = b.run(&[
        "run",
        "--rm",
        "-v",
        "fill:/data",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/data/f bs=1M count=100 2>/dev/null; echo dd=$?",
    ]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        free_bytes(&b.root()) < 1 << 20,
        "the volume did not fill the disk"
    );
    // log lines are lost while it is full, the container is not
    std::thread::sleep(Duration::from_millis(500));
    let out = b.run(&["run", "--rm", "busybox", "true"]);
    assert_no_space(&out, "run on a full disk");
    assert_eq!(out.code(), 125, "{out}");
    // removals the full disk cut short are listed, dead, until finished
    let listed = containers(&b);
    assert!(
        listed
            .iter()
            .filter(|c| c.ends_with(" up"))
            .eq(["chatty up"].iter()),
        "{listed:?}"
    );

    // free the volume: logs are whole lines again and keep coming, and
    // the removals cut short finish by themselves
    b.run(&["volume", "rm", "fill"]).ok();
    assert!(
        wait_until(Duration::from_secs(20), || containers(&b) == ["chatty up"]),
        "removals not finished: {:?}",
        containers(&b)
    );
    std::thread::sleep(Duration::from_millis(500));
    let before = b.run(&["logs", "chatty"]).ok().stdout.lines().count();
    assert!(
        wait_until(Duration::from_secs(10), || {
            b.run(&["logs", "chatty"]).ok().stdout.lines().count() > before + 10
        }),
        "logging did not resume"
    );
    let logs = b.run(&["logs", "chatty"]).ok();
    assert!(
        logs.stdout.lines().all(|l| l.starts_with("line ")),
        "a log line was cut: {logs}"
    );
    b.run(&["rm", "-f", "chatty"]).ok();

    // a commit that does not fit
    b.run(&[
        "run",
        "-d",
        "--name",
        "filler",
        "busybox",
        "sh",
        "-c",
        "head -c 40000000 /dev/urandom >/big.tmp && mv /big.tmp /big; sleep 300",
    ])
    .ok();
    assert!(
        wait_until(Duration::from_secs(60), || {
            b.run(&["exec", "filler", "test", "-f", "/big"]).code() == 0
        }),
        "the filler never wrote its file"
    );
    let out = b.run(&["commit", "filler", "filled:1"]);
    assert_no_space(&out, "commit");
    assert_eq!(image_names(&b), images, "a failed commit left an image");

    // a build whose RUN step does not fit
    let ctx = b.scratch("ctx");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN head -c 30000000 /dev/urandom >/big2\n",
    )
    .unwrap();
    let out = b.run(&["build", "-t", "filled:2", ctx.to_str().unwrap()]);
    assert_ne!(out.code(), 0, "{out}");
    assert_eq!(out.stderr.trim().lines().count(), 1, "{out}");
    assert_eq!(image_names(&b), images, "a failed build left an image");
    assert_eq!(
        containers(&b),
        ["filler up"],
        "a failed build left a container"
    );

    // free it all: the space comes back and everything works again
    b.run(&["rm", "-f", "filler"]).ok();
    assert!(
        free_bytes(&b.root()) > 40 << 20,
        "removed containers left their files: {} bytes free",
        free_bytes(&b.root())
    );
    let out = b.run(&["run", "--rm", "busybox", "echo", "ok"]).ok();
    assert_eq!(out.out(), "ok", "{out}");
    let small = b.scratch("small").join("small.tar");
    let layer = Tar::default().file("hello", b"hi\n").finish();
    oci_archive(&small, "docker.io/library/small:latest", &layer, false);
    b.run(&["load", "-i", small.to_str().unwrap()]).ok();
    assert_eq!(image_names(&b), ["busybox:latest", "small:latest"]);
    assert!(b.container_ids().is_empty());
    let ours = format!("mount {}", b.root().display());
    let left: Vec<String> = b
        .leftovers(&[])
        .into_iter()
        .filter(|l| *l != ours)
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Fills the file system of `dir` with one file, `dir/filler`.
fn fill(dir: &Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    for chunk in [1 << 20, 4096, 512] {
        while f.write_all(&vec![0u8; chunk]).is_ok() {}
    }
    let _ = f.sync_all();
    path
}

/// Entries of `dir` (none if it does not exist).
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The manager's own store on a full disk: a `create` whose record does
/// not fit (a 2 MB environment) and a `run -d` fail with exit 125 and a
/// one-line error, nothing is half-created (no record, bundle, snapshot
/// or log dir), and once space is freed the same manager, not restarted,
/// serves them again: its store handle, poisoned by the failed commit, is
/// opened again.
#[test]
fn the_manager_store_works_again_after_a_full_disk() {
    require_root!();
    let b = Berth::new();
    mount_tmpfs(&b.root());
    b.load_busybox();
    b.run(&["run", "-d", "--name", "keep", "busybox", "sleep", "300"])
        .ok();
    let keep = b.container_ids();
    let manager = b.manager_pids();
    let dirs = [
        b.state().join("containers"),
        b.root().join("containers"),
        b.root().join("images/snapshots/containers"),
    ];
    let before: Vec<Vec<String>> = dirs.iter().map(|d| entries(d)).collect();

    let env = b.scratch("env").join("big.env");
    let lines: Vec<String> = (0..2000)
        .map(|i| format!("V{i}={}", "x".repeat(1000)))
        .collect();
    std::fs::write(&env, lines.join("\n")).unwrap();
    let env = env.to_str().unwrap();

    let filler = fill(&b.root());
    for args in [
        &[
            "create",
            "--env-file",
            env,
            "--name",
            "c1",
            "busybox",
            "true",
        ][..],
        &["run", "-d", "--name", "c2", "busybox", "sleep", "300"],
    ] {
        let out = b.run(args);
        assert_no_space(&out, args[0]);
        assert_eq!(out.code(), 125, "{out}");
    }
    assert_eq!(containers(&b), ["keep up"]);
    let after: Vec<Vec<String>> = dirs.iter().map(|d| entries(d)).collect();
    assert_eq!(after, before, "a failed create left files behind");

    std::fs::remove_file(&filler).unwrap();
    b.run(&["rename", "keep", "kept"]).ok();
    b.run(&[
        "create",
        "--env-file",
        env,
        "--name",
        "c1",
        "busybox",
        "true",
    ])
    .ok();
    b.run(&["rm", "c1"]).ok();
    b.run(&["run", "-d", "--name", "c2", "busybox", "sleep", "300"])
        .ok();
    let out = b.run(&["run", "--rm", "busybox", "echo", "ok"]).ok();
    assert_eq!(out.out(), "ok", "{out}");
    assert_eq!(containers(&b), ["c2 up", "kept up"]);
    assert_eq!(b.manager_pids(), manager, "the manager was restarted");
    let log = std::fs::read_to_string(b.state().join("manager.log")).unwrap_or_default();
    assert!(
        log.contains("manager.redb reopened"),
        "the full disk never reached the manager's store: {log}"
    );
    let ids = b.container_ids();
    b.run(&["rm", "-f", "kept", "c2"]).ok();
    assert!(b.container_ids().is_empty());
    let ours = format!("mount {}", b.root().display());
    let left: Vec<String> = b
        .leftovers(&[ids, keep].concat())
        .into_iter()
        .filter(|l| *l != ours)
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Bind-mounts `dir` onto itself: a mount point its removal cannot take.
fn bind_self(dir: &Path) {
    let p = CString::new(dir.to_str().unwrap()).unwrap();
    // SAFETY: valid C strings; a bind of the test's own dir onto itself.
    let rc = unsafe {
        libc::mount(
            p.as_ptr(),
            p.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "bind {dir:?}: {}", std::io::Error::last_os_error());
}

fn unmount(dir: &Path) {
    let p = CString::new(dir.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string naming the test's own mount.
    assert_eq!(unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) }, 0);
}

/// A removal that fails half-way (a busy mount in a container's
/// snapshot) fails with one line and leaves the container listed, dead,
/// instead of a snapshot nobody owns; the manager finishes it by itself
/// once the mount is gone, or a restarted manager's recovery does, and
/// nothing is left.
#[test]
fn a_removal_that_fails_is_finished_later() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let snapshots = b.root().join("images/snapshots/containers");
    let mut ids = Vec::new();
    let mut busy = Vec::new();
    for name in ["r1", "r2"] {
        b.run(&["create", "--name", name, "busybox", "true"]).ok();
        let id = b
            .run(&["inspect", "-f", "{{.Id}}", name])
            .ok()
            .out()
            .to_string();
        let dir = snapshots.join(&id).join("fs/busy");
        std::fs::create_dir_all(&dir).unwrap();
        bind_self(&dir);
        let out = b.run(&["rm", name]);
        assert_ne!(out.code(), 0, "rm of a busy snapshot succeeded: {out}");
        assert_eq!(out.stderr.trim().lines().count(), 1, "{out}");
        assert!(out.stderr.contains("busy"), "{out}");
        ids.push(id);
        busy.push(dir);
    }
    // retried meanwhile, and failing again while the mounts stay
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(containers(&b), ["r2 down", "r1 down"]);
    let out = b.run(&["ps", "-a", "--format", "{{.Status}}"]).ok();
    assert!(out.stdout.lines().all(|l| l == "Dead"), "{out}");

    // the manager finishes one by itself, a restart's recovery the other
    unmount(&busy[0]);
    assert!(
        wait_until(Duration::from_secs(20), || containers(&b) == ["r2 down"]),
        "the removal was not finished: {:?}",
        containers(&b)
    );
    b.kill_manager();
    unmount(&busy[1]);
    assert!(
        wait_until(Duration::from_secs(20), || b.container_ids().is_empty()),
        "recovery did not finish the removal"
    );
    assert_eq!(entries(&snapshots), Vec::<String>::new(), "snapshots left");
    assert_eq!(entries(&b.state().join("containers")), Vec::<String>::new());
    assert_eq!(entries(&b.root().join("containers")), Vec::<String>::new());
    b.assert_all_gone(&ids);
}

/// A `pull` that does not fit: one line naming the lack of space, no
/// partial blob and no image stored, the store still readable; once space
/// is freed the same pull, from the same manager, succeeds.
#[test]
fn a_pull_that_does_not_fit_fails_cleanly_and_works_once_freed() {
    require_root!();
    // the image comes from another berth (a normal disk) through a
    // loopback registry
    let src = Berth::new();
    let archive = src.load_busybox();
    let reg = Registry::start(archive.parent().unwrap(), 3);
    let name = format!(
        "127.0.0.1:{}/berth-test/{}:v1",
        reg.port,
        unique_id("big").to_lowercase()
    );
    let big = src.scratch("big").join("big.tar");
    let layer = Tar::default().file("big", &vec![7u8; 20 << 20]).finish();
    oci_archive(&big, "docker.io/library/big:latest", &layer, false);
    drop(layer);
    src.run(&["load", "-i", big.to_str().unwrap()]).ok();
    src.run(&["tag", "big:latest", &name]).ok();
    src.run(&["push", &name]).ok();

    let b = Berth::new();
    mount_tmpfs(&b.root());
    b.load_busybox();
    let images = image_names(&b);
    let blobs = b.root().join("images/blobs/sha256");
    let blobs_before = entries(&blobs);
    // leave 8 MiB: less than the 20 MiB layer
    let filler = b.root().join("filler");
    let leave = 8u64 << 20;
    let take = free_bytes(&b.root()).saturating_sub(leave);
    std::fs::write(&filler, vec![0u8; take as usize]).unwrap();

    let out = b.run(&["pull", &name]);
    assert_no_space(&out, "pull");
    assert_eq!(image_names(&b), images, "a failed pull left an image");
    assert_eq!(
        entries(&b.root().join("images/ingest")),
        Vec::<String>::new(),
        "a failed pull left a partial blob"
    );
    assert_eq!(entries(&blobs), blobs_before, "a failed pull left blobs");
    // the store is whole: a container still runs in the space left
    let out = b.run(&["run", "--rm", "busybox", "echo", "still"]).ok();
    assert_eq!(out.out(), "still", "{out}");
    assert_eq!(b.run(&["images", "-q"]).ok().stdout.lines().count(), 1);

    std::fs::remove_file(&filler).unwrap();
    b.run(&["pull", &name]).ok();
    assert_eq!(image_names(&b).len(), 2, "{:?}", image_names(&b));
    // its layer unpacks: a container of it can be made
    b.run(&["create", "--name", "of-big", &name]).ok();
    b.run(&["rm", "of-big"]).ok();
    assert!(b.container_ids().is_empty());
    let ours = format!("mount {}", b.root().display());
    let left: Vec<String> = b
        .leftovers(&[])
        .into_iter()
        .filter(|l| *l != ours)
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A foreground `run` whose container fills the disk: its log cannot take
/// another line, yet the attached client gets all its output, stdout and
/// stderr apart, as docker delivers attach streams whatever becomes of the
/// log.
#[test]
fn attached_output_arrives_when_the_log_cannot_be_written() {
    attached_output_arrives_on_a_full_disk(false);
}

/// The same through the Docker API: `docker run` attaches through the
/// upgraded attach stream.
#[test]
fn api_attached_output_arrives_when_the_log_cannot_be_written() {
    attached_output_arrives_on_a_full_disk(true);
}

fn attached_output_arrives_on_a_full_disk(through_api: bool) {
    require_root!();
    let b = Berth::new();
    mount_tmpfs(&b.root());
    b.load_busybox();
    let api = through_api.then(|| ApiService::start(&b));
    let args = [
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "cat /dev/zero >/fill 2>/dev/null; \
         for i in 1 2 3; do echo out $i; echo err $i >&2; done",
    ];
    let out = match &api {
        Some(api) => api.docker(&docker_clients()[0], &args),
        None => b.run(&args),
    };
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "out 1\nout 2\nout 3\n", "{out}");
    assert_eq!(out.stderr, "err 1\nerr 2\nerr 3\n", "{out}");
    // the API's client is told of the exit before the removal ends
    assert!(wait_until(Duration::from_secs(10), || b
        .container_ids()
        .is_empty()));
    drop(api);
    assert!(
        free_bytes(&b.root()) > 40 << 20,
        "the removed container left its files"
    );
    let ours = format!("mount {}", b.root().display());
    let left: Vec<String> = b
        .leftovers(&[])
        .into_iter()
        .filter(|l| *l != ours)
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
