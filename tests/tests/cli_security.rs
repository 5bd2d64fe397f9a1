//! docker's security defaults and flags through `berth run`: the default
//! seccomp profile (a syscall it blocks fails with EPERM, `unconfined`
//! lifts it, a capability-conditioned rule follows `--cap-add`), a profile
//! from a file, `--cap-add`/`--cap-drop`, `--privileged`, `--security-opt
//! no-new-privileges`, `--read-only`, `--device`, `--ulimit`, `--sysctl`,
//! `--shm-size`; exec keeps the container's capabilities; bad values are
//! one-line errors with exit 125 that create nothing.

mod cli_support;

use berth_fixture::require_root;
use cli_support::Berth;

/// `run --rm FLAGS busybox sh -c SCRIPT`: (exit code, stdout, stderr).
fn sh(b: &Berth, flags: &[&str], script: &str) -> (i32, String, String) {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend(["busybox", "sh", "-c", script]);
    let out = b.run(&args);
    (out.code(), out.stdout.clone(), out.stderr.clone())
}

fn status_line(out: &str, key: &str) -> String {
    out.lines()
        .find(|l| l.starts_with(key))
        .map(|l| l[key.len()..].trim().to_string())
        .unwrap_or_default()
}

const PROBE: &str = "unshare -U true 2>&1; echo userns=$?; unshare -m true 2>&1; echo mntns=$?; \
                     grep -E 'CapBnd|NoNewPrivs|Seccomp:' /proc/self/status";

#[test]
fn seccomp_default_profile_unconfined_and_capability_conditions() {
    require_root!("cli_security::seccomp_default_profile_unconfined_and_capability_conditions");
    let b = Berth::new();
    b.load_busybox();

    // unshare(CLONE_NEWUSER) needs no capability: only the profile stops it
    let (code, out, _) = sh(&b, &[], PROBE);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("userns=1"), "{out}");
    assert!(
        out.contains("unshare(0x10000000): Operation not permitted"),
        "{out}"
    );
    assert!(out.contains("mntns=1"), "{out}");
    assert_eq!(status_line(&out, "Seccomp:"), "2", "{out}");
    assert_eq!(status_line(&out, "CapBnd:"), "00000000a80425fb", "{out}");

    // the runtime kept the compiled profile; a start that reads it back, and
    // one that finds it torn and compiles again, confine the same
    let cached = seccomp_cache_entries(&b);
    assert_eq!(cached.len(), 1, "one compiled profile kept: {cached:?}");
    let (_, out, _) = sh(&b, &[], PROBE);
    assert!(out.contains("userns=1"), "from the cache: {out}");
    let whole = std::fs::read(&cached[0]).unwrap();
    std::fs::write(&cached[0], &whole[..whole.len() / 2]).unwrap();
    let (_, out, _) = sh(&b, &[], PROBE);
    assert!(out.contains("userns=1"), "torn entry: {out}");
    assert_eq!(std::fs::read(&cached[0]).unwrap(), whole, "entry rewritten");

    let (_, out, _) = sh(&b, &["--security-opt", "seccomp=unconfined"], PROBE);
    assert!(out.contains("userns=0"), "unconfined lifts it: {out}");
    assert!(
        out.contains("mntns=1"),
        "CAP_SYS_ADMIN is still missing: {out}"
    );
    assert_eq!(status_line(&out, "Seccomp:"), "0", "{out}");

    // unshare is allowed by a rule that includes CAP_SYS_ADMIN
    let (_, out, _) = sh(&b, &["--cap-add", "SYS_ADMIN"], PROBE);
    assert!(out.contains("userns=0") && out.contains("mntns=0"), "{out}");
    assert_eq!(status_line(&out, "Seccomp:"), "2", "{out}");
    assert_eq!(status_line(&out, "CapBnd:"), "00000000a82425fb", "{out}");

    // a profile from a file, in docker's format
    let profile = b.scratch("profiles").join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW",
            "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}],
            "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let (code, out, err) = sh(
        &b,
        &["--security-opt", &opt],
        "mkdir /tmp/d; echo rc=$?; unshare -U true && echo userns=0",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("rc=1") && out.contains("userns=0"),
        "{out}{err}"
    );
    assert!(err.contains("Operation not permitted"), "{err}");
    b.assert_all_gone(&[]);
}

/// The files of the runtime's compiled-seccomp caches under the test's state.
fn seccomp_cache_entries(b: &Berth) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![b.state()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if e.file_name() == "@seccomp-cache" {
                found.extend(std::fs::read_dir(&p).unwrap().flatten().map(|f| f.path()));
            } else if p.components().count() < b.state().components().count() + 3 {
                dirs.push(p);
            }
        }
    }
    found
}

#[test]
fn security_flags_shape_the_container() {
    require_root!("cli_security::security_flags_shape_the_container");
    let b = Berth::new();
    b.load_busybox();

    let (_, out, _) = sh(&b, &["--cap-drop", "ALL", "--cap-add", "chown"], PROBE);
    assert_eq!(status_line(&out, "CapBnd:"), "0000000000000001", "{out}");
    let (_, out, _) = sh(
        &b,
        &["--cap-drop", "net_raw", "--cap-drop", "CAP_KILL"],
        PROBE,
    );
    assert_eq!(status_line(&out, "CapBnd:"), "00000000a80405db", "{out}");
    let (_, out, _) = sh(&b, &["--security-opt", "no-new-privileges"], PROBE);
    assert_eq!(status_line(&out, "NoNewPrivs:"), "1", "{out}");

    let (code, _, err) = sh(&b, &["--read-only"], "touch /x");
    assert_eq!(code, 1);
    assert!(err.contains("Read-only file system"), "{err}");

    let (code, out, err) = sh(
        &b,
        &[
            "--ulimit",
            "nofile=100:200",
            "--sysctl",
            "kernel.shmmax=1000000",
            "--shm-size",
            "1m",
        ],
        "ulimit -n; ulimit -Hn; cat /proc/sys/kernel/shmmax; df -k /dev/shm | tail -1",
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..3], ["100", "200", "1000000"], "{out}");
    assert!(lines[3].split_whitespace().nth(1) == Some("1024"), "{out}");

    let (code, out, err) = sh(
        &b,
        &["--device", "/dev/null:/dev/mynull:rw"],
        "ls -l /dev/mynull; echo x > /dev/mynull && echo wrote",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1,   3") && out.contains("wrote"), "{out}");

    // privileged: every capability the host has, no profile, nothing masked
    let host_bounding = status_line(
        &std::fs::read_to_string("/proc/self/status").unwrap(),
        "CapBnd:",
    );
    let (code, out, err) = sh(
        &b,
        &["--privileged"],
        &format!("{PROBE}; grep -c kcore /proc/mounts; true"),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(status_line(&out, "CapBnd:"), host_bounding, "{out}");
    assert_eq!(status_line(&out, "Seccomp:"), "0", "{out}");
    assert!(
        out.trim_end().ends_with('0'),
        "/proc/kcore is masked: {out}"
    );

    // exec'd processes keep the container's capabilities
    b.run(&[
        "run",
        "-d",
        "--name",
        "capped",
        "--cap-add",
        "SYS_ADMIN",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    let out = b
        .run(&["exec", "capped", "grep", "CapBnd", "/proc/self/status"])
        .ok();
    assert!(out.stdout.contains("00000000a82425fb"), "{out}");
    b.run(&["rm", "-f", "capped"]).ok();

    // bad values: docker's one-line errors, exit 125, nothing created
    for (flags, want) in [
        (
            &["--cap-add", "FOO"][..],
            "invalid CapAdd: unknown capability: \"CAP_FOO\"",
        ),
        (
            &["--security-opt", "foo"],
            "Invalid --security-opt: \"foo\"",
        ),
        (
            &["--security-opt", "seccomp=/nonexistent.json"],
            "opening seccomp profile",
        ),
        (&["--sysctl", "kernel.hostname=x"], "is not allowed"),
        (
            &["--ulimit", "nofile=10:5"],
            "ulimit soft limit must be less than or equal to hard limit",
        ),
        (&["--device", "/etc/passwd"], "not a device node"),
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend(["busybox", "true"]);
        let out = b.run(&args);
        assert_eq!(out.code(), 125, "{out}");
        assert_eq!(out.err_lines().len(), 1, "{out}");
        assert!(out.stderr.contains(want), "{out}");
    }
    b.assert_all_gone(&[]);
}

/// `-u NAME[:GROUP]`, `-u UID` and `--group-add` resolved from the
/// container's own /etc/passwd and /etc/group (busybox's: root, nobody;
/// root, nogroup), never the host's.
#[test]
fn users_and_groups_come_from_the_container() {
    require_root!("cli_security::users_and_groups_come_from_the_container");
    let b = Berth::new();
    b.load_busybox();
    for (flags, want) in [
        (
            &["-u", "nobody"][..],
            "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup) /nonexistent",
        ),
        (
            &["-u", "nobody:root"],
            "uid=65534(nobody) gid=0(root) groups=0(root) /nonexistent",
        ),
        (&["-u", "1000"], "uid=1000 gid=0(root) groups=0(root) /"),
        (
            &["--group-add", "1234", "--group-add", "nogroup"],
            "uid=0(root) gid=0(root) groups=0(root),1234,65534(nogroup) /root",
        ),
    ] {
        let (code, out, err) = sh(&b, flags, "echo $(id) $HOME");
        assert_eq!((code, out.trim()), (0, want), "{flags:?}: {err}");
    }
    // `daemon` is the host's (Debian's), not busybox's
    for (flags, want) in [
        (
            &["-u", "daemon"][..],
            "unable to find user daemon: no matching entries in passwd file",
        ),
        (
            &["-u", "nobody:nogrp"],
            "unable to find group nogrp: no matching entries in group file",
        ),
        (
            &["--group-add", "nosuch"],
            "Unable to find group nosuch: no matching entries in group file",
        ),
    ] {
        let (code, _, err) = sh(&b, flags, "id");
        assert_eq!(code, 125, "{flags:?}: {err}");
        assert!(err.contains(want), "{flags:?}: {err}");
    }
    b.assert_all_gone(&[]);
}

/// `exec -u NAME[:GROUP]`: names resolve in the running container's own
/// /etc/passwd and /etc/group as they are at exec time (a user added after
/// start is found; the host's are never read); a name the container lacks
/// is docker's error with exit 126, and nothing runs.
#[test]
fn exec_user_names_come_from_the_container() {
    require_root!("cli_security::exec_user_names_come_from_the_container");
    let b = Berth::new();
    b.load_busybox();
    b.run(&["run", "-d", "--name", "ex", "busybox", "sleep", "100"])
        .ok();
    b.run(&[
        "exec",
        "ex",
        "sh",
        "-c",
        "echo app:x:4242:4343::/home/app:/bin/sh >>/etc/passwd; \
         echo grp:x:4343: >>/etc/group; echo staff:x:50:app >>/etc/group",
    ])
    .ok();
    for (user, want) in [
        (
            "nobody",
            "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup) /nonexistent",
        ),
        (
            "nobody:root",
            "uid=65534(nobody) gid=0(root) groups=0(root) /nonexistent",
        ),
        (
            "app",
            "uid=4242(app) gid=4343(grp) groups=50(staff),4343(grp) /home/app",
        ),
        (
            "app:staff",
            "uid=4242(app) gid=50(staff) groups=50(staff) /home/app",
        ),
        (
            "4242",
            "uid=4242(app) gid=4343(grp) groups=50(staff),4343(grp) /home/app",
        ),
        ("1000:2000", "uid=1000 gid=2000 groups=2000 /"),
        ("root", "uid=0(root) gid=0(root) groups=0(root) /root"),
    ] {
        let out = b.run(&["exec", "-u", user, "ex", "sh", "-c", "echo $(id) $HOME"]);
        assert_eq!(
            (out.code(), out.stdout.trim()),
            (0, want),
            "-u {user}: {out}"
        );
    }
    // `daemon` is the host's (Debian's), not the container's
    for (user, want) in [
        (
            "daemon",
            "unable to find user daemon: no matching entries in passwd file",
        ),
        (
            "app:nogrp",
            "unable to find group nogrp: no matching entries in group file",
        ),
    ] {
        let out = b.run(&["exec", "-u", user, "ex", "touch", "/ran"]);
        assert_eq!(out.code(), 126, "-u {user}: {out}");
        assert!(out.stderr.contains(want), "-u {user}: {out}");
        assert_eq!(out.stderr.trim().lines().count(), 1, "-u {user}: {out}");
    }
    let out = b.run(&["exec", "ex", "ls", "/ran"]);
    assert_ne!(out.code(), 0, "a refused exec ran its command: {out}");
    b.run(&["rm", "-f", "ex"]).ok();
    b.assert_all_gone(&[]);
}

/// `--group-add` holds for exec'd processes too: an exec gets the
/// container's added groups, with its own user (`-u`) or the container's.
#[test]
fn exec_keeps_the_containers_added_groups() {
    require_root!("cli_security::exec_keeps_the_containers_added_groups");
    let b = Berth::new();
    b.load_busybox();
    b.run(&[
        "run",
        "-d",
        "--name",
        "ga",
        "--group-add",
        "1234",
        "--group-add",
        "nogroup",
        "-u",
        "nobody",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    for (user, want) in [
        (None, "65534 1234"),
        (Some("root"), "0 1234 65534"),
        (Some("1000:2000"), "2000 1234 65534"),
    ] {
        let mut args = vec!["exec"];
        if let Some(u) = user {
            args.extend(["-u", u]);
        }
        args.extend(["ga", "id", "-G"]);
        let out = b.run(&args);
        assert_eq!(
            (out.code(), out.stdout.trim()),
            (0, want),
            "-u {user:?}: {out}"
        );
    }
    b.run(&["rm", "-f", "ga"]).ok();
    b.assert_all_gone(&[]);
}

/// `--init`: docker-init (catatonit) is PID 1, the command's exit code
/// passes through, and `stop`'s SIGTERM reaches a command that would
/// ignore it as PID 1 (143, not the SIGKILL's 137).
#[test]
fn init_is_pid_1_and_forwards_signals() {
    require_root!("cli_security::init_is_pid_1_and_forwards_signals");
    let b = Berth::new();
    b.load_busybox();
    let (code, out, err) = sh(
        &b,
        &["--init"],
        "cat /proc/1/cmdline | tr '\\0' ' '; exit 3",
    );
    assert_eq!(code, 3, "{err}");
    assert!(out.starts_with("/sbin/docker-init -- sh -c"), "{out}");
    b.run(&[
        "run", "-d", "--name", "ini", "--init", "busybox", "sleep", "100",
    ])
    .ok();
    b.run(&["stop", "-t", "20", "ini"]).ok();
    let out = b.run(&["inspect", "-f", "{{.State.ExitCode}}", "ini"]).ok();
    assert_eq!(out.out(), "143", "{out}");
    b.run(&["rm", "ini"]).ok();
    b.assert_all_gone(&[]);
}
