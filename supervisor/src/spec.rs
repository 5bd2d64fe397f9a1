//! dockerd's work in the front end: the OCI runtime spec (config.json) for a
//! container, from the image's config plus the run flags.  Pure: no I/O.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::flags::{parse_user, Bind, FlagError, Tmpfs, User, CPU_PERIOD};

/// What `berth run` takes from the image (OCI image-spec `config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ImageConfig {
    #[serde(rename = "Env", deserialize_with = "null_as_default")]
    pub env: Vec<String>,
    #[serde(rename = "Entrypoint", deserialize_with = "null_as_default")]
    pub entrypoint: Vec<String>,
    #[serde(rename = "Cmd", deserialize_with = "null_as_default")]
    pub cmd: Vec<String>,
    #[serde(rename = "WorkingDir", deserialize_with = "null_as_default")]
    pub working_dir: String,
    #[serde(rename = "User", deserialize_with = "null_as_default")]
    pub user: String,
    #[serde(rename = "StopSignal", deserialize_with = "null_as_default")]
    pub stop_signal: String,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The spec could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("image config is not valid JSON: {0}")]
    ImageConfig(String),
    #[error("No command specified")]
    NoCommand,
    #[error("image user: {0}")]
    ImageUser(FlagError),
}

impl ImageConfig {
    /// Accepts either a whole image config object (`{"config": {...}}`) or
    /// just its `config` member; empty input is an image with no config.
    pub fn from_json(s: &str) -> Result<ImageConfig, SpecError> {
        if s.trim().is_empty() {
            return Ok(ImageConfig::default());
        }
        let v: Value =
            serde_json::from_str(s).map_err(|e| SpecError::ImageConfig(e.to_string()))?;
        let inner = match v.get("config") {
            Some(c) if c.is_object() => c.clone(),
            Some(Value::Null) => return Ok(ImageConfig::default()),
            _ => v,
        };
        serde_json::from_value(inner).map_err(|e| SpecError::ImageConfig(e.to_string()))
    }
}

/// `--network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// a new network namespace with only loopback (berth's default: it has
    /// no bridge network)
    #[default]
    None,
    /// the host's network namespace
    Host,
}

/// Everything from the command line that shapes the spec.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--entrypoint`: `Some("")` clears the image's
    pub entrypoint: Option<String>,
    /// arguments after the image name
    pub command: Vec<String>,
    /// `-e`, already `KEY=VALUE`
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<User>,
    pub tty: bool,
    pub open_stdin: bool,
    pub binds: Vec<Bind>,
    pub tmpfs: Vec<Tmpfs>,
    pub network: Network,
    pub memory: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub pids_limit: Option<i64>,
    pub hostname: Option<String>,
}

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The process's argv: docker's entrypoint/cmd rules.
pub fn process_args(image: &ImageConfig, opts: &RunOptions) -> Result<Vec<String>, SpecError> {
    let mut args: Vec<String> = match &opts.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => image.entrypoint.clone(),
    };
    if !opts.command.is_empty() {
        args.extend(opts.command.iter().cloned());
    } else if opts.entrypoint.is_none() {
        // an overridden entrypoint drops the image's Cmd, as docker does
        args.extend(image.cmd.iter().cloned());
    }
    if args.is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(args)
}

/// The environment: the image's, then `-e` (same key replaces), then the
/// defaults docker adds when missing.
pub fn process_env(image: &ImageConfig, extra: &[String], tty: bool, uid: u32) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    for kv in image.env.iter().chain(extra) {
        let key = kv.split_once('=').map(|(k, _)| k).unwrap_or(kv);
        env.retain(|e| e.split_once('=').map(|(k, _)| k).unwrap_or(e) != key);
        env.push(kv.clone());
    }
    let has = |env: &Vec<String>, k: &str| env.iter().any(|e| e.starts_with(&format!("{k}=")));
    if !has(&env, "PATH") {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    if tty && !has(&env, "TERM") {
        env.push("TERM=xterm".into());
    }
    if !has(&env, "HOME") {
        env.push(if uid == 0 { "HOME=/root" } else { "HOME=/" }.into());
    }
    env
}

/// The OCI `process` object (also what `exec` sends).
pub fn process(args: Vec<String>, env: Vec<String>, cwd: &str, user: User, tty: bool) -> Value {
    json!({
        "terminal": tty,
        "user": {"uid": user.uid, "gid": user.gid},
        "args": args,
        "env": env,
        "cwd": if cwd.is_empty() { "/" } else { cwd },
        "capabilities": {
            "bounding": DEFAULT_CAPS,
            "effective": DEFAULT_CAPS,
            "permitted": DEFAULT_CAPS,
        },
        "noNewPrivileges": false,
    })
}

/// The user the process runs as: `-u`, else the image's `User`, else root.
pub fn effective_user(image: &ImageConfig, opts: &RunOptions) -> Result<User, SpecError> {
    if let Some(u) = opts.user {
        return Ok(u);
    }
    if image.user.is_empty() {
        return Ok(User { uid: 0, gid: 0 });
    }
    parse_user(&image.user).map_err(SpecError::ImageUser)
}

fn default_mounts() -> Vec<Value> {
    vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["ro", "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]}),
    ]
}

/// docker's device cgroup rules: deny all, then the usual character devices.
fn device_rules() -> Vec<Value> {
    let mut v = vec![json!({"allow": false, "access": "rwm"})];
    for (t, major, minor, access) in [
        ("c", None, None, "m"),
        ("b", None, None, "m"),
        ("c", Some(1), Some(3), "rwm"),
        ("c", Some(1), Some(8), "rwm"),
        ("c", Some(1), Some(7), "rwm"),
        ("c", Some(5), Some(0), "rwm"),
        ("c", Some(1), Some(5), "rwm"),
        ("c", Some(1), Some(9), "rwm"),
        ("c", Some(5), Some(1), "rwm"),
        ("c", Some(136), None, "rwm"),
        ("c", Some(5), Some(2), "rwm"),
        ("c", Some(10), Some(200), "rwm"),
    ] {
        let mut r = json!({"allow": true, "type": t, "access": access});
        if let Some(m) = major {
            r["major"] = json!(m);
        }
        if let Some(m) = minor {
            r["minor"] = json!(m);
        }
        v.push(r);
    }
    v
}

/// Builds the whole spec.  `root.path` is a placeholder: the manager points
/// it at the container's snapshot.
pub fn build(image: &ImageConfig, opts: &RunOptions) -> Result<Value, SpecError> {
    let args = process_args(image, opts)?;
    let user = effective_user(image, opts)?;
    let env = process_env(image, &opts.env, opts.tty, user.uid);
    let cwd = opts
        .workdir
        .clone()
        .unwrap_or_else(|| image.working_dir.clone());

    let mut mounts = default_mounts();
    for b in &opts.binds {
        let mut options = vec!["rbind".to_string(), b.propagation.clone()];
        options.push(if b.read_only { "ro" } else { "rw" }.to_string());
        mounts.push(json!({"destination": b.destination, "type": "bind",
                           "source": b.source, "options": options}));
    }
    for t in &opts.tmpfs {
        mounts.push(json!({"destination": t.destination, "type": "tmpfs",
                           "source": "tmpfs", "options": t.options}));
    }

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if opts.network == Network::None {
        namespaces.push(json!({"type": "network"}));
    }

    let mut resources = json!({"devices": device_rules()});
    if let Some(m) = opts.memory {
        resources["memory"] = json!({"limit": m});
    }
    if let Some(q) = opts.cpu_quota {
        resources["cpu"] = json!({"quota": q, "period": CPU_PERIOD});
    }
    if let Some(p) = opts.pids_limit {
        resources["pids"] = json!({"limit": p});
    }

    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": process(args, env, &cwd, user, opts.tty),
        "root": {"path": "rootfs", "readonly": false},
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "resources": resources,
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
        },
    });
    if let Some(h) = &opts.hostname {
        spec["hostname"] = json!(h);
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busybox() -> ImageConfig {
        ImageConfig::from_json(
            r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin","A=1"],"Cmd":["sh"],"WorkingDir":"","Entrypoint":null}}"#,
        )
        .unwrap()
    }

    #[test]
    fn image_config_whole_or_inner() {
        let img = busybox();
        assert_eq!(img.cmd, ["sh"]);
        assert!(img.entrypoint.is_empty());
        let inner = ImageConfig::from_json(r#"{"Cmd":["x"],"User":"1:2"}"#).unwrap();
        assert_eq!(inner.cmd, ["x"]);
        assert_eq!(inner.user, "1:2");
        assert_eq!(ImageConfig::from_json("").unwrap(), ImageConfig::default());
        assert!(ImageConfig::from_json("{").is_err());
    }

    #[test]
    fn entrypoint_and_cmd_rules() {
        let mut img = busybox();
        let mut o = RunOptions::default();
        assert_eq!(process_args(&img, &o).unwrap(), ["sh"]);
        o.command = vec!["echo".into(), "hi".into()];
        assert_eq!(process_args(&img, &o).unwrap(), ["echo", "hi"]);
        img.entrypoint = vec!["/init".into()];
        assert_eq!(process_args(&img, &o).unwrap(), ["/init", "echo", "hi"]);
        o.command.clear();
        assert_eq!(process_args(&img, &o).unwrap(), ["/init", "sh"]);
        o.entrypoint = Some("/other".into());
        assert_eq!(process_args(&img, &o).unwrap(), ["/other"]);
        o.entrypoint = Some(String::new());
        assert!(matches!(process_args(&img, &o), Err(SpecError::NoCommand)));
    }

    #[test]
    fn env_merging() {
        let img = busybox();
        let env = process_env(&img, &["A=2".into(), "B=3".into()], true, 0);
        assert_eq!(env, ["PATH=/bin", "A=2", "B=3", "TERM=xterm", "HOME=/root"]);
        let env = process_env(&ImageConfig::default(), &[], false, 5);
        assert_eq!(env, [DEFAULT_PATH, "HOME=/"]);
    }

    #[test]
    fn full_spec_from_flags() {
        let img = busybox();
        let dir = std::env::temp_dir();
        let o = RunOptions {
            command: vec!["true".into()],
            workdir: Some("/w".into()),
            user: Some(User { uid: 7, gid: 8 }),
            tty: true,
            binds: vec![
                crate::flags::parse_volume(&format!("{}:/data:ro", dir.display())).unwrap(),
            ],
            tmpfs: vec![crate::flags::parse_tmpfs("/scratch").unwrap()],
            network: Network::Host,
            memory: Some(1 << 20),
            cpu_quota: Some(50_000),
            pids_limit: Some(10),
            ..Default::default()
        };
        let s = build(&img, &o).unwrap();
        assert_eq!(s["process"]["args"], json!(["true"]));
        assert_eq!(s["process"]["cwd"], "/w");
        assert_eq!(s["process"]["user"], json!({"uid": 7, "gid": 8}));
        assert_eq!(s["process"]["terminal"], true);
        assert_eq!(
            s["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            14
        );
        let mounts = s["mounts"].as_array().unwrap();
        let dests: Vec<&str> = mounts
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm",
                "/data",
                "/scratch"
            ]
        );
        assert_eq!(mounts[7]["options"], json!(["rbind", "rprivate", "ro"]));
        assert_eq!(mounts[8]["type"], "tmpfs");
        let ns: Vec<&str> = s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "ipc", "uts", "mount"]);
        let r = &s["linux"]["resources"];
        assert_eq!(r["memory"]["limit"], 1 << 20);
        assert_eq!(r["cpu"], json!({"quota": 50_000, "period": 100_000}));
        assert_eq!(r["pids"]["limit"], 10);
        assert_eq!(r["devices"][0], json!({"allow": false, "access": "rwm"}));
        assert!(s["linux"]["maskedPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/kcore")));
        assert!(s["linux"]["readonlyPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/sys")));
    }

    #[test]
    fn network_none_gets_its_own_netns_and_defaults_hold() {
        let s = build(&busybox(), &RunOptions::default()).unwrap();
        let ns = s["linux"]["namespaces"].as_array().unwrap();
        assert!(ns.contains(&json!({"type": "network"})));
        assert_eq!(s["process"]["cwd"], "/");
        assert_eq!(s["process"]["user"], json!({"uid": 0, "gid": 0}));
        assert!(s["linux"]["resources"].get("memory").is_none());
        assert!(s.get("hostname").is_none());
    }

    #[test]
    fn image_user_names_are_refused_clearly() {
        let img = ImageConfig {
            user: "nobody".into(),
            cmd: vec!["x".into()],
            ..Default::default()
        };
        let e = build(&img, &RunOptions::default()).unwrap_err();
        assert!(e.to_string().contains("nobody"));
    }
}
