//! `berth export` (a container's own filesystem as a tar, running or
//! stopped, without its volumes; `-o` never leaves a partial file) and
//! `berth update` (limits of a running container through the runtime, kept
//! in the manager's store so inspect shows them and a restart keeps them;
//! `--restart` likewise), with their bad inputs: one line, exit 1, nothing
//! changed.

mod cli_support;

use std::time::Duration;

use berth_fixture::cgroups::{cpu_quota, memory_limit, pids_limit};
use berth_fixture::{require_root, unique_id, wait_until};
use cli_support::Berth;

fn tar_names(tar: &std::path::Path) -> Vec<String> {
    let out = std::process::Command::new("tar")
        .arg("-tf")
        .arg(tar)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end_matches('/').to_string())
        .collect()
}

#[test]
fn export_running_and_stopped_without_volumes() {
    require_root!();
    let b = Berth::new();
    let name = unique_id("exp");
    let vol = unique_id("expvol");
    b.busybox_with_volume(
        &name,
        &vol,
        "echo m > /marker && echo v > /data/in-volume && while true; do sleep 1; done",
    );
    assert!(wait_until(Duration::from_secs(10), || {
        b.run(&["exec", &name, "test", "-f", "/data/in-volume"])
            .code()
            == 0
    }));
    let dir = b.scratch("out");
    let tar = dir.join("running.tar");
    b.run(&["export", "-o", tar.to_str().unwrap(), &name]).ok();
    let names = tar_names(&tar);
    assert!(names.iter().any(|n| n == "marker"), "{names:?}");
    assert!(names.iter().any(|n| n == "bin/sh"), "{names:?}");
    assert!(!names.iter().any(|n| n == "data/in-volume"), "{names:?}");

    b.run(&["stop", "-t", "0", &name]).ok();
    let out = b.command(["container", "export", &name]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let tar2 = dir.join("stopped.tar");
    std::fs::write(&tar2, &out.stdout).unwrap();
    assert!(tar_names(&tar2).iter().any(|n| n == "marker"));

    // bad inputs: nothing written
    let missing = b.run(&["export", "-o", tar.to_str().unwrap(), "no-such-ctr"]);
    assert_eq!(missing.code(), 1, "{missing}");
    assert_eq!(missing.err_lines().len(), 1, "{missing}");
    let nodir = dir.join("nodir/x.tar");
    let bad = b.run(&["export", "-o", nodir.to_str().unwrap(), &name]);
    assert_eq!(bad.code(), 1, "{bad}");
    assert_eq!(bad.err_lines().len(), 1, "{bad}");
    assert!(!dir.join("nodir").exists());
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 2, "no temporary file left: {left:?}");

    b.run(&["rm", &name]).ok();
    b.run(&["volume", "rm", &vol]).ok();
    b.assert_all_gone(&[]);
}

#[test]
fn update_a_running_container_and_keep_it_across_a_restart() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let name = unique_id("upd");
    b.run(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"])
        .ok();
    let pid = |b: &Berth| {
        b.run(&["inspect", "-f", "{{.State.Pid}}", &name])
            .ok()
            .out()
            .to_string()
    };

    let out = b
        .run(&[
            "update",
            "--memory",
            "64m",
            "--memory-swap",
            "128m",
            "--cpus",
            "0.5",
            "--cpu-shares",
            "512",
            "--pids-limit",
            "50",
            "--restart",
            "on-failure:3",
            &name,
        ])
        .ok();
    assert_eq!(out.out(), name);
    let p = pid(&b);
    assert_eq!(memory_limit(&p), (64u64 << 20).to_string());
    assert_eq!(cpu_quota(&p), "50000");
    assert_eq!(pids_limit(&p), "50");

    let shown = b
        .run(&[
            "inspect", "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.CpuQuota}} {{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
            &name,
        ])
        .ok();
    assert_eq!(
        shown.out(),
        format!("{} {} 50000 512 50 on-failure:3", 64u64 << 20, 128u64 << 20),
        "{shown}"
    );

    // a restart starts the task from the stored spec
    b.run(&["restart", "-t", "0", &name]).ok();
    let p2 = pid(&b);
    assert_ne!(p, p2);
    assert_eq!(memory_limit(&p2), (64u64 << 20).to_string());
    assert_eq!(pids_limit(&p2), "50");

    // bad inputs: one line, exit 1, nothing changed
    for args in [
        vec!["update", &name],
        vec!["update", "--memory", "lots", &name],
        vec!["update", "--restart", "sometimes", &name],
        vec!["update", "--memory", "256m", "--memory-swap", "128m", &name],
        vec!["update", "--memory", "32m", "no-such-ctr"],
    ] {
        let out = b.run(&args);
        assert_eq!(out.code(), 1, "{args:?}: {out}");
        assert_eq!(out.err_lines().len(), 1, "{args:?}: {out}");
    }
    assert_eq!(memory_limit(&p2), (64u64 << 20).to_string());
    let mem = b
        .run(&["inspect", "-f", "{{.HostConfig.Memory}}", &name])
        .ok();
    assert_eq!(mem.out(), (64u64 << 20).to_string());

    b.run(&["rm", "-f", &name]).ok();
    b.assert_all_gone(&[]);
}
