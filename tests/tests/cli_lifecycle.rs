//! `berth` end to end: load the busybox archive, `run --rm` with output and
//! exit code, `run -d` that outlives a `kill -9` of the manager, then ps,
//! exec, logs, stop and rm -f through a new manager, and nothing left behind.

mod cli_support;

use std::time::Duration;

use berth_fixture::{require_root, unique_id, wait_until};
use cli_support::Berth;

#[test]
fn load_then_run_rm_gives_output_and_exit_code() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let images = b.run(&["images"]).ok();
    let mut lines = images.stdout.lines();
    let header = lines.next().unwrap_or_default();
    for col in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(col), "{images}");
    }
    assert!(
        lines.any(|l| l.starts_with("busybox ") && l.contains("latest")),
        "{images}"
    );

    let out = b.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo to-out; echo to-err >&2; exit 3",
    ]);
    assert_eq!(out.code(), 3, "{out}");
    assert_eq!(out.stdout, "to-out\n", "{out}");
    assert_eq!(out.stderr, "to-err\n", "{out}");

    let out = b.run(&[
        "run",
        "--rm",
        "-e",
        "GREETING=hi",
        "-w",
        "/tmp",
        "busybox",
        "sh",
        "-c",
        "echo $GREETING $(pwd) $(id -u)",
    ]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.out(), "hi /tmp 0", "{out}");

    // --rm left nothing: no container, no mounts
    b.assert_all_gone(&[]);
}

#[test]
fn detached_container_outlives_a_killed_manager() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let name = unique_id("web");
    let out = b
        .run(&[
            "run",
            "-d",
            "--name",
            &name,
            "busybox",
            "sh",
            "-c",
            "echo started; while true; do sleep 1; done",
        ])
        .ok();
    let id = out.out().to_string();
    assert_eq!(id.len(), 64, "{out}");
    let pid: i32 = b
        .run(&["inspect", "-f", "{{.State.Pid}}", &name])
        .ok()
        .out()
        .parse()
        .expect("pid");
    assert!(pid > 0);

    b.kill_manager();
    // SAFETY: signal 0 only checks the process exists.
    let alive = unsafe { libc::kill(pid, 0) };
    assert_eq!(alive, 0, "container died with the manager");

    // the next command starts a new manager, which finds the live container
    let ps = b.run(&["ps"]).ok();
    let row = ps
        .stdout
        .lines()
        .find(|l| l.contains(&name))
        .unwrap_or_else(|| panic!("{ps}"));
    assert!(row.starts_with(&id[..12]), "{ps}");
    assert!(row.contains("Up "), "{ps}");
    assert!(
        row.contains("\"sh -c 'echo started") || row.contains("\"sh -c echo started"),
        "{ps}"
    );
    assert_eq!(b.manager_pids().len(), 1);

    let ps_json = b.run(&["ps", "--format", "json"]).ok();
    let v: serde_json::Value =
        serde_json::from_str(ps_json.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(v["Names"], name.as_str(), "{ps_json}");
    assert_eq!(v["State"], "running", "{ps_json}");

    let ex = b.run(&[
        "exec",
        &name,
        "sh",
        "-c",
        "echo in-$HOSTNAME-ok; cat /proc/1/cmdline | tr '\\0' ' '",
    ]);
    assert_eq!(ex.code(), 0, "{ex}");
    assert!(ex.stdout.contains("-ok"), "{ex}");
    assert!(ex.stdout.contains("sh -c echo started"), "{ex}");
    let ex = b.run(&["exec", &name, "sh", "-c", "echo oops >&2; exit 7"]);
    assert_eq!(ex.code(), 7, "{ex}");
    assert_eq!(ex.stderr, "oops\n", "{ex}");
    let ex = b.run(&["exec", &name, "/no/such/program"]);
    assert!(ex.code() == 126 || ex.code() == 127, "{ex}");

    let logs = b.run(&["logs", &name]).ok();
    assert_eq!(logs.stdout, "started\n", "{logs}");
    let logs = b.run(&["logs", "-t", "--tail", "1", &name]).ok();
    assert!(logs.stdout.ends_with("Z started\n"), "{logs}");

    let stop = b.run(&["stop", "-t", "1", &name]).ok();
    assert_eq!(stop.out(), name, "{stop}");
    assert!(wait_until(Duration::from_secs(10), || {
        // SAFETY: signal 0 only checks the process exists.
        unsafe { libc::kill(pid, 0) != 0 }
    }));
    let ps = b.run(&["ps", "-a"]).ok();
    let row = ps
        .stdout
        .lines()
        .find(|l| l.contains(&name))
        .unwrap_or_else(|| panic!("{ps}"));
    assert!(row.contains("Exited ("), "{ps}");
    assert!(!b.run(&["ps"]).ok().stdout.contains(&name));

    let rm = b.run(&["rm", "-f", &name]).ok();
    assert_eq!(rm.out(), name, "{rm}");
    b.assert_all_gone(&[id]);
}

#[test]
fn rm_force_kills_a_running_container_and_cleans_up() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let id = b
        .run(&["run", "-d", "busybox", "sleep", "1000"])
        .ok()
        .out()
        .to_string();
    let no_force = b.run(&["rm", &id]);
    assert_eq!(no_force.code(), 1, "{no_force}");
    assert_eq!(no_force.err_lines().len(), 1, "{no_force}");
    assert!(
        no_force.stderr.starts_with("Error response from daemon: "),
        "{no_force}"
    );
    b.run(&["rm", "-f", &id]).ok();
    b.assert_all_gone(&[id]);
}

#[test]
fn stdin_reaches_run_i_and_exec_i_and_start_a_gives_the_exit_code() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let out = b.run_input(
        &[
            "run",
            "-i",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "tr a-z A-Z; echo end",
        ],
        b"piped in\n",
    );
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "PIPED IN\nend\n", "{out}");

    let name = unique_id("stdin");
    b.run(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"])
        .ok();
    let out = b.run_input(&["exec", "-i", &name, "sh", "-c", "wc -l"], b"a\nb\nc\n");
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.out(), "3", "{out}");
    b.run(&["rm", "-f", &name]).ok();

    let name = unique_id("starta");
    b.run(&[
        "create",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo from-start; exit 4",
    ])
    .ok();
    let out = b.run(&["start", "-a", &name]);
    assert_eq!(out.code(), 4, "{out}");
    assert_eq!(out.stdout, "from-start\n", "{out}");
    let wait = b.run(&["wait", &name]).ok();
    assert_eq!(wait.out(), "4");
    b.run(&["rm", &name]).ok();
    assert!(b.container_ids().is_empty());
}

#[test]
fn top_stats_pause_events_and_logs_follow() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let name = unique_id("watch");

    // events first, so it sees the whole life of the container
    let mut events = b
        .command(["events", "--filter", &format!("container={name}")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("berth events");
    struct KillEvents<'a>(&'a mut std::process::Child);
    impl Drop for KillEvents<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut ev_stdout = events.stdout.take().unwrap();
    let _events = KillEvents(&mut events);
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut s = String::new();
        let mut buf = [0u8; 4096];
        // until the container's destroy, or the stream closes
        while !s.contains(" destroy ") {
            match ev_stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => s.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        s
    });
    // a subscription made before the container exists needs the manager up
    assert!(wait_until(Duration::from_secs(10), || !b
        .manager_pids()
        .is_empty()));

    b.run(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"])
        .ok();
    let top = b.run(&["top", &name]).ok();
    assert!(
        top.stdout.lines().next().unwrap_or("").contains("PID"),
        "{top}"
    );
    assert!(top.stdout.contains("sleep 1000"), "{top}");
    let stats = b.run(&["stats", "--no-stream", &name]).ok();
    let row = stats
        .stdout
        .lines()
        .find(|l| l.contains(&name))
        .unwrap_or_else(|| panic!("{stats}"));
    assert!(row.trim_end().ends_with(" 1"), "one process: {stats}");

    b.run(&["pause", &name]).ok();
    let ps = b.run(&["ps"]).ok();
    assert!(ps.stdout.contains("(Paused)"), "{ps}");
    b.run(&["unpause", &name]).ok();
    let ps = b.run(&["ps"]).ok();
    assert!(
        !ps.stdout.contains("(Paused)") && ps.stdout.contains(&name),
        "{ps}"
    );
    b.run(&["rm", "-f", &name]).ok();

    let seen = reader.join().unwrap();
    let actions: Vec<&str> = seen
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    for want in ["create", "start", "pause", "unpause", "die", "destroy"] {
        assert!(actions.contains(&want), "no {want} event in:\n{seen}");
    }

    // logs -f follows until the container exits, then returns
    let name = unique_id("follow");
    b.run(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo first; sleep 1; echo second",
    ])
    .ok();
    let logs = b.run(&["logs", "-f", &name]).ok();
    assert_eq!(logs.stdout, "first\nsecond\n", "{logs}");
    b.run(&["rm", &name]).ok();
}

#[test]
fn a_running_containers_rootfs_is_mounted_for_its_shim_not_for_the_host() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let id = b
        .run(&["run", "-d", "busybox", "sleep", "60"])
        .ok()
        .stdout
        .trim()
        .to_string();
    // every container start copies the host's mount table into its new
    // namespace: a container's rootfs must not add to it
    let on_host: Vec<String> = [b.root(), b.state()]
        .iter()
        .flat_map(berth_fixture::mounts_under)
        .collect();
    assert!(on_host.is_empty(), "mounted on the host: {on_host:?}");
    // the shim, which runs the runtime, has it
    let rootfs = b.state().join("containers").join(&id).join("rootfs");
    let shim = berth_fixture::processes_with_arg(&id)
        .into_iter()
        .find(|p| berth_fixture::cli::cmdline_of(*p).contains("containerd-shim-berth-v2"))
        .expect("the container's shim");
    let seen = std::fs::read_to_string(format!("/proc/{shim}/mountinfo")).unwrap();
    assert!(
        seen.contains(&format!(" {} ", rootfs.display())),
        "{} not in the shim's mounts:\n{seen}",
        rootfs.display()
    );
    // and the container works as ever: exec, stop, start, cp
    b.run(&["exec", &id, "sh", "-c", "echo kept > /kept"]).ok();
    b.run(&["stop", "-t", "1", &id]).ok();
    b.run(&["start", &id]).ok();
    let out = b.run(&["exec", &id, "cat", "/kept"]).ok();
    assert_eq!(out.stdout, "kept\n", "{out}");
    b.run(&["rm", "-f", &id]).ok();
    b.assert_all_gone(&[id]);
}
