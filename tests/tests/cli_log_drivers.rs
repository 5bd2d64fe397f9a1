//! `run --log-driver`/`--log-opt` end to end: a bounded json-file log keeps
//! at most max-size × max-file of a container's output, `logs` reads its
//! rotated files oldest first and `logs -f` follows across rotations;
//! `local` is bounded by default, `none` keeps nothing `logs` can read; bad
//! drivers and options are one line, exit 125, and create nothing.

mod cli_support;

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use berth_fixture::{require_root, unique_id, wait_until};
use cli_support::Berth;

/// The container's log and its rotated files, with their sizes.
fn log_files(b: &Berth, name: &str) -> Vec<(String, u64)> {
    let path = b.run(&["inspect", "-f", "{{.LogPath}}", name]).ok();
    let path = std::path::PathBuf::from(path.out());
    let dir = path.parent().unwrap();
    let base = path.file_name().unwrap().to_string_lossy().to_string();
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&base))
        .map(|e| {
            (
                e.file_name().to_string_lossy().to_string(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn ten_megabytes_keep_three_and_logs_shows_the_newest() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let name = unique_id("rot");
    // 100000 lines of 100 bytes: 10 MB of output
    let script = r#"awk 'BEGIN { for (i = 0; i < 100000; i++) printf "line %07d %090d\n", i, 0 }'"#;
    let out = b.run(&[
        "run",
        "-d",
        "--name",
        &name,
        "--log-opt",
        "max-size=1m",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(out.code(), 0, "{out}");
    let waited = b.run(&["wait", &name]);
    assert_eq!(waited.out(), "0", "{waited}");

    let files = log_files(&b, &name);
    let total: u64 = files.iter().map(|f| f.1).sum();
    assert!(files.len() <= 3, "{files:?}");
    assert!(total <= 3 << 20, "{total} bytes kept: {files:?}");
    assert!(total > 2 << 20, "too little kept: {files:?}");

    let tail = b.run(&["logs", "--tail", "2", &name]).ok();
    let want_last = format!("line 0099999 {:090}", 0);
    assert_eq!(
        tail.stdout.lines().collect::<Vec<_>>(),
        [format!("line 0099998 {:090}", 0), want_last.clone()],
        "{tail}"
    );
    // everything kept reads back in order, with no gap between the files
    let all = b.run(&["logs", &name]).ok();
    let numbers: Vec<u32> = all
        .stdout
        .lines()
        .map(|l| l[5..12].parse().unwrap())
        .collect();
    assert_eq!(numbers.last(), Some(&99_999));
    assert!(numbers[0] > 0, "the oldest output was dropped");
    for w in numbers.windows(2) {
        assert_eq!(w[1], w[0] + 1, "gap in the kept log");
    }

    let cfg = b
        .run(&["inspect", "-f", "{{json .HostConfig.LogConfig}}", &name])
        .ok();
    let v: serde_json::Value = serde_json::from_str(cfg.out()).unwrap();
    assert_eq!(v["Type"], "json-file", "{cfg}");
    assert_eq!(v["Config"]["max-size"], "1m", "{cfg}");
    assert_eq!(v["Config"]["max-file"], "3", "{cfg}");

    b.run(&["rm", &name]).ok();
    b.assert_all_gone(&[]);
}

#[test]
fn logs_follow_goes_on_across_rotations() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let name = unique_id("follow");
    // ~150 bytes a json line, one every 10 ms: a 4 KiB file rotates about
    // every 30 lines, so 300 lines cross about ten rotations
    let script = "sleep 2; i=0; while [ $i -lt 300 ]; do \
                  echo \"n $i $(printf %0100d 0)\"; i=$((i+1)); sleep 0.01; done";
    b.run(&[
        "run",
        "-d",
        "--name",
        &name,
        "--log-opt",
        "max-size=4k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "sh",
        "-c",
        script,
    ])
    .ok();
    let mut follower = b
        .command(["logs", "-f", &name])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = follower.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let ended = wait_until(Duration::from_secs(60), || {
        matches!(follower.try_wait(), Ok(Some(_)))
    });
    if !ended {
        let _ = follower.kill();
    }
    let _ = follower.wait();
    let followed = reader.join().unwrap();
    assert!(ended, "logs -f did not end with the container: {followed}");
    let numbers: Vec<u32> = followed
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(numbers, (0..300).collect::<Vec<u32>>(), "{followed}");
    assert!(log_files(&b, &name).len() <= 2);

    b.run(&["rm", &name]).ok();
    b.assert_all_gone(&[]);
}

#[test]
fn local_is_bounded_and_none_keeps_no_readable_log() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let local = unique_id("local");
    b.run(&[
        "create",
        "--name",
        &local,
        "--log-driver",
        "local",
        "busybox",
        "true",
    ])
    .ok();
    let cfg = b
        .run(&["inspect", "-f", "{{json .HostConfig.LogConfig}}", &local])
        .ok();
    let v: serde_json::Value = serde_json::from_str(cfg.out()).unwrap();
    assert_eq!(v["Type"], "local", "{cfg}");

    // `none`: the attached run still shows the output; `logs` refuses
    let none = unique_id("none");
    let out = b.run(&[
        "run",
        "--name",
        &none,
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "hi",
    ]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "hi\n", "{out}");
    let logs = b.run(&["logs", &none]);
    assert_eq!(logs.code(), 1, "{logs}");
    assert_eq!(
        logs.stderr,
        "Error response from daemon: configured logging driver does not support reading\n",
        "{logs}"
    );
    b.run(&["rm", &local, &none]).ok();
    b.assert_all_gone(&[]);
}

#[test]
fn bad_drivers_and_options_create_nothing() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let cases: [(&[&str], &str); 7] = [
        (
            &["--log-opt", "max-size=abc"],
            "failed to initialize logging driver: invalid size: 'abc'",
        ),
        (
            &["--log-opt", "max-size=0"],
            "failed to initialize logging driver: max-size must be a positive number",
        ),
        (
            &["--log-opt", "max-size=1m", "--log-opt", "max-file=0"],
            "failed to initialize logging driver: max-file cannot be less than 1",
        ),
        (
            &["--log-opt", "foo=bar"],
            "unknown log opt 'foo' for json-file log driver",
        ),
        (
            &["--log-driver", "bogus"],
            "error looking up logging plugin bogus: plugin \"bogus\" not found",
        ),
        (
            &["--log-driver", "none", "--log-opt", "max-size=1m"],
            "invalid logging opts for driver none",
        ),
        (
            &["--log-driver", "local", "--log-opt", "max-size=1x"],
            "failed to initialize logging driver: invalid value for max-size: 1x: invalid size: '1x'",
        ),
    ];
    for verb in ["run", "create"] {
        for (flags, want) in cases {
            let mut args = vec![verb];
            args.extend_from_slice(flags);
            args.extend(["busybox", "true"]);
            let out = b.run(&args);
            assert_eq!(out.code(), 125, "{args:?}: {out}");
            assert_eq!(out.err_lines().len(), 1, "{args:?}: {out}");
            assert!(out.stderr.contains(want), "{args:?}: {out}");
        }
    }
    assert!(b.container_ids().is_empty());
    b.assert_all_gone(&[]);
}
