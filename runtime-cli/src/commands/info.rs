//! `ps`, `events`, `update` and `features`: reading and tuning a
//! container's cgroup, and describing the runtime.

use crate::cli::{EventsArgs, UpdateArgs};

use crate::state::{self, ContainerState, Status};
use oci_spec::runtime::LinuxResources;
use std::io::Write;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    State(#[from] state::Error),
    #[error("container not running")]
    NotRunning,
    #[error("container {0} has no cgroup")]
    NoCgroup(String),
    #[error("cgroup: {0}")]
    Cgroup(#[from] berth_cgroups::Error),
    #[error("ps: {0}")]
    Ps(String),
    #[error("{0}")]
    Invalid(String),
    #[error("resources {path}: {msg}")]
    Resources { path: String, msg: String },
}

fn cgroup_of(st: &ContainerState) -> Result<&berth_cgroups::Cgroup, Error> {
    st.cgroup
        .as_ref()
        .ok_or_else(|| Error::NoCgroup(st.id.clone()))
}

/// `ps`: pids in JSON, or `ps` output filtered to the container's processes.
pub fn ps(root: &Path, id: &str, json: bool, ps_args: &[String]) -> Result<String, Error> {
    let st = ContainerState::load(root, id)?;
    let pids = match &st.cgroup {
        Some(cg) => cg.pids()?,
        None if st.status(root) != Status::Stopped => vec![st.pid],
        None => vec![],
    };
    if json {
        return Ok(serde_json::to_string(&pids).expect("serializes") + "\n");
    }
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| Error::Ps(e.to_string()))?;
    if !out.status.success() {
        return Err(Error::Ps(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let pid_col = header
        .split_whitespace()
        .position(|c| c == "PID")
        .ok_or_else(|| Error::Ps("couldn't find PID field in ps output".into()))?;
    let mut result = format!("{header}\n");
    for l in lines {
        let pid: Option<i32> = l
            .split_whitespace()
            .nth(pid_col)
            .and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            result.push_str(l);
            result.push('\n');
        }
    }
    Ok(result)
}

/// `events`: stats once (`--stats`) or every interval, with OOM notices,
/// until the container stops.
pub fn events(root: &Path, args: &EventsArgs, out: &mut dyn Write) -> Result<(), Error> {
    let st = ContainerState::load(root, &args.id)?;
    if st.status(root) == Status::Stopped {
        return Err(Error::NotRunning);
    }
    let cg = cgroup_of(&st)?;
    let stats_event = || -> Result<String, Error> {
        let stats = cg.stats()?;
        Ok(serde_json::to_string(&serde_json::json!({
            "type": "stats", "id": st.id, "data": stats,
        }))
        .expect("serializes"))
    };
    if args.stats {
        writeln!(out, "{}", stats_event()?).ok();
        return Ok(());
    }
    let interval = crate::cli::parse_duration(&args.interval).map_err(Error::Invalid)?;
    let mut ooms = cg.oom_kill_count().unwrap_or(0);
    while st.status(root) != Status::Stopped {
        let now = cg.oom_kill_count().unwrap_or(ooms);
        if now > ooms {
            ooms = now;
            writeln!(out, "{}", serde_json::json!({"type": "oom", "id": st.id})).ok();
        }
        match stats_event() {
            Ok(e) => writeln!(out, "{e}").ok(),
            Err(_) => break,
        };
        out.flush().ok();
        std::thread::sleep(interval);
    }
    Ok(())
}

/// `update`: new resource limits from `--resources` JSON and/or flags.
pub fn update(root: &Path, args: &UpdateArgs) -> Result<(), Error> {
    let st = ContainerState::load(root, &args.id)?;
    if st.status(root) == Status::Stopped {
        return Err(Error::NotRunning);
    }
    let cg = cgroup_of(&st)?;
    let mut v: serde_json::Value = match &args.resources {
        Some(p) => {
            let (name, data) = if p.as_os_str() == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| {
                    Error::Resources {
                        path: "-".into(),
                        msg: e.to_string(),
                    }
                })?;
                ("-".to_string(), s)
            } else {
                (
                    p.display().to_string(),
                    std::fs::read_to_string(p).map_err(|e| Error::Resources {
                        path: p.display().to_string(),
                        msg: e.to_string(),
                    })?,
                )
            };
            serde_json::from_str(&data).map_err(|e| Error::Resources {
                path: name,
                msg: e.to_string(),
            })?
        }
        None => serde_json::json!({}),
    };
    let bytes = |s: &Option<String>| -> Result<Option<i64>, Error> {
        s.as_deref()
            .map(parse_bytes)
            .transpose()
            .map_err(Error::Invalid)
    };
    let set = |v: &mut serde_json::Value, section: &str, key: &str, val: serde_json::Value| {
        if !v[section].is_object() {
            v[section] = serde_json::json!({});
        }
        v[section][key] = val;
    };
    if let Some(x) = bytes(&args.memory)? {
        set(&mut v, "memory", "limit", x.into());
    }
    if let Some(x) = bytes(&args.memory_reservation)? {
        set(&mut v, "memory", "reservation", x.into());
    }
    if let Some(x) = bytes(&args.memory_swap)? {
        set(&mut v, "memory", "swap", x.into());
    }
    if let Some(x) = bytes(&args.kernel_memory)? {
        set(&mut v, "memory", "kernel", x.into());
    }
    if let Some(x) = bytes(&args.kernel_memory_tcp)? {
        set(&mut v, "memory", "kernelTCP", x.into());
    }
    if let Some(x) = args.cpu_share {
        set(&mut v, "cpu", "shares", x.into());
    }
    if let Some(x) = args.cpu_period {
        set(&mut v, "cpu", "period", x.into());
    }
    if let Some(x) = args.cpu_quota {
        set(&mut v, "cpu", "quota", x.into());
    }
    if let Some(x) = args.cpu_rt_period {
        set(&mut v, "cpu", "realtimePeriod", x.into());
    }
    if let Some(x) = args.cpu_rt_runtime {
        set(&mut v, "cpu", "realtimeRuntime", x.into());
    }
    if let Some(x) = &args.cpuset_cpus {
        set(&mut v, "cpu", "cpus", x.clone().into());
    }
    if let Some(x) = &args.cpuset_mems {
        set(&mut v, "cpu", "mems", x.clone().into());
    }
    if let Some(x) = args.pids_limit {
        set(&mut v, "pids", "limit", x.into());
    }
    if let Some(x) = args.blkio_weight {
        set(&mut v, "blockIO", "weight", x.into());
    }
    let resources: LinuxResources = serde_json::from_value(v).map_err(|e| Error::Resources {
        path: "update".into(),
        msg: e.to_string(),
    })?;
    cg.apply(&resources)?;
    Ok(())
}

/// Parses `512m`, `1g`, `1024`, `-1`.
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let err = || format!("invalid size {s:?}");
    if s == "-1" {
        return Ok(-1);
    }
    let lower = s.to_ascii_lowercase();
    let trimmed = lower.trim_end_matches('b');
    let (num, mult) = match trimmed.chars().last() {
        Some('k') => (&trimmed[..trimmed.len() - 1], 1i64 << 10),
        Some('m') => (&trimmed[..trimmed.len() - 1], 1 << 20),
        Some('g') => (&trimmed[..trimmed.len() - 1], 1 << 30),
        Some('t') => (&trimmed[..trimmed.len() - 1], 1 << 40),
        _ => (trimmed, 1),
    };
    let n: i64 = num.trim().parse().map_err(|_| err())?;
    n.checked_mul(mult).ok_or_else(err)
}

/// `features`: what this runtime supports, in runc's JSON shape.
pub fn features() -> String {
    let v = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": [
            "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec",
            "lazytime", "mand", "noatime", "nodev", "nodiratime", "noexec", "nolazytime",
            "nomand", "norelatime", "nostrictatime", "nosuid", "private", "rbind", "relatime",
            "remount", "ro", "rprivate", "rshared", "rslave", "runbindable", "rw", "shared",
            "slave", "strictatime", "suid", "sync", "unbindable", "rro", "rrw", "rnosuid",
            "rsuid", "rnodev", "rdev", "rnoexec", "rexec", "rnoatime", "rstrictatime",
            "rnodiratime"
        ],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps::all().iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {
                "enabled": true,
                "actions": berth_seccomp::supported_actions(),
                "operators": [
                    "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                    "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"
                ],
                "archs": berth_seccomp::supported_archs(),
                "supportedFlags": berth_seccomp::supported_flags()
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false}
        },
        "annotations": {
            "org.opencontainers.runtime-spec.features": "v1.0",
            "io.github.seccomp.libseccomp.version": berth_seccomp::libseccomp_version()
        }
    });
    serde_json::to_string_pretty(&v).expect("serializes") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("512m"), Ok(512 << 20));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert_eq!(parse_bytes("2kb"), Ok(2048));
        assert_eq!(parse_bytes("-1"), Ok(-1));
        assert!(parse_bytes("lots").is_err());
    }
}
