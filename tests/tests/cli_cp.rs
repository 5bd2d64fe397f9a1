//! `berth cp` end to end, both ways, on a running and a stopped container:
//! docker's path rules (a directory that exists or not, `/.`, a trailing
//! `/`), `-` tar streams, `-a` and `-L`, a copy into a volume landing in the
//! volume, a container's symlinks never leading outside its root on either
//! side, and bad inputs that are one line, exit 1 and change nothing. A
//! start that comes while a copy into the stopped container runs waits for
//! the copy, as docker's container lock makes it wait.

mod cli_support;

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use berth_fixture::{require_root, unique_id};
use cli_support::{Berth, Tar};

/// A berth process this test started, killed if the test fails first.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Its exit code, waiting at most `limit`.
    fn exit_within(&mut self, limit: Duration) -> Option<i32> {
        let mut code = None;
        berth_fixture::wait_until(limit, || {
            code = self.0.try_wait().unwrap().map(|s| s.code().unwrap_or(-1));
            code.is_some()
        });
        code
    }
}

#[test]
fn start_waits_for_a_cp_into_the_stopped_container() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let name = unique_id("cphold");
    let id = b
        .run(&["create", "--name", &name, "busybox", "cat", "/landed"])
        .ok()
        .out()
        .to_string();
    let tar = Tar::default().file("landed", b"whole\n").finish();
    let mut cp = b.command(["cp", "-", &format!("{name}:/")]);
    cp.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut cp = Running(cp.spawn().unwrap());
    let mut feed = cp.0.stdin.take().unwrap();
    // the entry's header only: the copy holds the container for the rest
    feed.write_all(&tar[..512]).unwrap();
    let hold = b.state().join("containers").join(format!("{id}.hold"));
    assert!(
        berth_fixture::wait_until(Duration::from_secs(20), || {
            std::fs::File::open(&hold).is_ok_and(|f| f.try_lock().is_err())
        }),
        "the copy never held {}",
        hold.display()
    );
    let mut start = b.command(["start", &name]);
    start.stdout(Stdio::null()).stderr(Stdio::null());
    let mut start = Running(start.spawn().unwrap());
    assert_eq!(
        start.exit_within(Duration::from_secs(2)),
        None,
        "start did not wait"
    );
    let status = b.run(&["inspect", "-f", "{{.State.Status}}", &name]).ok();
    assert_eq!(status.out(), "created");
    // the rest of the archive: the copy ends, then the start runs on it
    feed.write_all(&tar[512..]).unwrap();
    drop(feed);
    assert_eq!(cp.exit_within(Duration::from_secs(30)), Some(0));
    assert_eq!(start.exit_within(Duration::from_secs(30)), Some(0));
    b.run(&["wait", &name]).ok();
    assert_eq!(b.run(&["logs", &name]).ok().stdout, "whole\n");
}

fn exec(b: &Berth, name: &str, script: &str) -> String {
    b.run(&["exec", name, "sh", "-c", script]).ok().stdout
}

#[test]
fn cp_both_ways_on_a_running_container() {
    require_root!();
    let b = Berth::new();
    let name = unique_id("cp");
    let vol = unique_id("cpvol");
    b.busybox_with_volume(
        &name,
        &vol,
        "mkdir -p /srv/tree/sub && echo one > /srv/tree/a && echo two > /srv/tree/sub/b && \
         ln -s /etc/hostname /srv/link && ln -s / /srv/esc && while true; do sleep 1; done",
    );
    let host = b.scratch("host");
    std::fs::write(host.join("file.txt"), "hello\n").unwrap();
    std::fs::create_dir_all(host.join("dir/inner")).unwrap();
    std::fs::write(host.join("dir/inner/x"), "x\n").unwrap();
    let h = |p: &str| host.join(p).display().to_string();
    let c = |p: &str| format!("{name}:{p}");
    // wait for the container's script to have made its tree
    assert!(berth_fixture::wait_until(
        std::time::Duration::from_secs(10),
        || { b.run(&["exec", &name, "test", "-L", "/srv/esc"]).code() == 0 }
    ));

    // host → container: into an existing dir, onto a new name, a new dir, /.
    b.run(&["cp", &h("file.txt"), &c("/tmp")]).ok();
    b.run(&["cp", &h("file.txt"), &c("/tmp/renamed")]).ok();
    b.run(&["cp", &h("dir"), &c("/newdir")]).ok();
    b.run(&["cp", &h("dir/."), &c("/tmp")]).ok();
    assert_eq!(
        exec(
            &b,
            &name,
            "cat /tmp/file.txt /tmp/renamed /newdir/inner/x /tmp/inner/x"
        ),
        "hello\nhello\nx\nx\n"
    );
    // without -a root owns what lands in the container; with -a the source's owner
    std::os::unix::fs::chown(host.join("file.txt"), Some(1234), Some(4321)).unwrap();
    b.run(&["cp", &h("file.txt"), &c("/tmp/plain")]).ok();
    b.run(&["cp", "-a", &h("file.txt"), &c("/tmp/kept")]).ok();
    assert_eq!(
        exec(&b, &name, "stat -c %u:%g /tmp/plain /tmp/kept"),
        "0:0\n1234:4321\n"
    );

    // into a volume: lands in the volume
    b.run(&["cp", &h("file.txt"), &c("/data/in-volume")]).ok();
    let mountpoint = b
        .run(&["volume", "inspect", "-f", "{{.Mountpoint}}", &vol])
        .ok();
    assert_eq!(
        std::fs::read_to_string(Path::new(mountpoint.out()).join("in-volume")).unwrap(),
        "hello\n"
    );

    // container → host: a dir to a new path, its contents with /., a file
    b.run(&["cp", &c("/srv/tree"), &h("out")]).ok();
    assert_eq!(
        std::fs::read_to_string(host.join("out/sub/b")).unwrap(),
        "two\n"
    );
    std::fs::create_dir(host.join("contents")).unwrap();
    b.run(&["cp", &c("/srv/tree/."), &h("contents")]).ok();
    assert_eq!(
        std::fs::read_to_string(host.join("contents/a")).unwrap(),
        "one\n"
    );
    b.run(&["cp", &c("/srv/tree/a"), &h("contents/a-copy")])
        .ok();
    assert_eq!(
        std::fs::read_to_string(host.join("contents/a-copy")).unwrap(),
        "one\n"
    );

    // -L: a symlink is copied as one, or followed
    b.run(&["cp", &c("/srv/link"), &h("link")]).ok();
    assert_eq!(
        std::fs::read_link(host.join("link")).unwrap(),
        Path::new("/etc/hostname")
    );
    b.run(&["cp", "-L", &c("/srv/link"), &h("followed")]).ok();
    let hostname = exec(&b, &name, "cat /etc/hostname");
    assert_eq!(
        std::fs::read_to_string(host.join("followed")).unwrap(),
        hostname
    );

    // the container's symlink to / stays inside its root both ways
    b.run(&["cp", &h("file.txt"), &c("/srv/esc/etc/berth-cp-escape")])
        .ok();
    assert!(!Path::new("/etc/berth-cp-escape").exists());
    assert_eq!(exec(&b, &name, "cat /etc/berth-cp-escape"), "hello\n");
    b.run(&["cp", &c("/srv/esc/etc/hostname"), &h("via-esc")])
        .ok();
    assert_eq!(
        std::fs::read_to_string(host.join("via-esc")).unwrap(),
        hostname
    );

    // - : a tar stream out and in
    let out = b.command(["cp", &c("/srv/tree"), "-"]).output().unwrap();
    assert!(out.status.success());
    let listed = std::process::Command::new("tar")
        .arg("-t")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut t| {
            use std::io::Write;
            t.stdin.take().unwrap().write_all(&out.stdout)?;
            t.wait_with_output()
        })
        .unwrap();
    let names = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(names.lines().any(|l| l == "tree/sub/b"), "{names}");
    let tar = Tar::default()
        .dir("fromtar")
        .file("fromtar/f", b"streamed\n")
        .finish();
    b.run_input(&["cp", "-", &c("/tmp")], &tar).ok();
    assert_eq!(exec(&b, &name, "cat /tmp/fromtar/f"), "streamed\n");

    b.run(&["rm", "-f", &name]).ok();
    b.run(&["volume", "rm", &vol]).ok();
    b.assert_all_gone(&[]);
}

#[test]
fn cp_on_a_stopped_container_and_bad_inputs() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let name = unique_id("cpstop");
    b.run(&["create", "--name", &name, "busybox", "cat", "/copied-in"])
        .ok();
    let host = b.scratch("host");
    std::fs::write(host.join("f"), "while stopped\n").unwrap();
    let h = |p: &str| host.join(p).display().to_string();
    let c = |p: &str| format!("{name}:{p}");
    b.run(&["cp", &h("f"), &c("/copied-in")]).ok();
    b.run(&["cp", &c("/copied-in"), &h("back")]).ok();
    assert_eq!(
        std::fs::read_to_string(host.join("back")).unwrap(),
        "while stopped\n"
    );
    let run = b.run(&["start", "-a", &name]);
    assert_eq!(run.stdout, "while stopped\n", "{run}");

    let bad: [(Vec<String>, &str); 6] = [
        (
            vec![h("f"), "nosuch-ctr:/tmp".into()],
            "No such container: nosuch-ctr",
        ),
        (
            vec![c("/nope"), h("x")],
            "Could not find the file /nope in container",
        ),
        (vec![h("missing"), c("/tmp")], "no such file or directory"),
        (vec![c("/etc"), h("f")], "cannot copy a directory to a file"),
        (
            vec![c("/etc/passwd"), h("nodir/deeper/x")],
            "does not exist",
        ),
        (
            vec![c("/etc/passwd"), c("/tmp")],
            "copying between containers is not supported",
        ),
    ];
    for (args, want) in &bad {
        let mut a = vec!["cp"];
        a.extend(args.iter().map(String::as_str));
        let out = b.run(&a);
        assert_eq!(out.code(), 1, "{a:?}: {out}");
        assert_eq!(out.err_lines().len(), 1, "{a:?}: {out}");
        // the manager words its not-found errors in lower case
        assert!(
            out.stderr.to_lowercase().contains(&want.to_lowercase()),
            "{a:?}: {out}"
        );
    }
    // nothing changed on the host: f is still a file, no x, no nodir
    assert_eq!(
        std::fs::read_to_string(host.join("f")).unwrap(),
        "while stopped\n"
    );
    assert!(!host.join("x").exists() && !host.join("nodir").exists());
    assert_eq!(std::fs::metadata(host.join("f")).unwrap().nlink(), 1);

    b.run(&["rm", &name]).ok();
    b.assert_all_gone(&[]);
}
