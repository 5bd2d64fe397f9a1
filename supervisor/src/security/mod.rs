//! docker's security defaults and flags for `run`/`create`: the default
//! seccomp profile (unless `--security-opt seccomp=unconfined|PATH`),
//! `--cap-add`/`--cap-drop`, `--privileged`, `--security-opt
//! no-new-privileges`, `--read-only`, `--device`, `--ulimit`, `--sysctl`,
//! `--shm-size`. [`SecurityFlags::parse`] checks everything before anything
//! is asked of the manager; [`SecurityOptions::apply`] edits the spec.

pub mod caps;
pub mod devices;
pub mod seccomp;

use clap::Args;
use serde_json::{json, Value};

/// Bad security flags: one line naming the flag and the value.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("invalid {flag}: unknown capability: \"{name}\"")]
    UnknownCapability { flag: String, name: String },
    #[error("Invalid --security-opt: \"{0}\"")]
    SecurityOpt(String),
    #[error("opening seccomp profile ({path}) failed: {why}")]
    ProfileFile { path: String, why: String },
    #[error("seccomp profile {origin}: {why}")]
    Profile { origin: String, why: String },
    #[error("invalid argument \"{value}\" for \"--ulimit\" flag: {why}")]
    Ulimit { value: String, why: String },
    #[error("invalid argument \"{0}\" for \"--sysctl\" flag: sysctl '{0}' is not allowed")]
    Sysctl(String),
    #[error("invalid argument \"{0}\" for \"--shm-size\" flag: invalid size: '{0}'")]
    ShmSize(String),
    #[error("error gathering device information while adding custom device \"{path}\": {why}")]
    Device { path: String, why: String },
}

/// The security flags of `run` and `create`.
#[derive(Debug, Args, Default, Clone)]
pub struct SecurityFlags {
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Security Options (seccomp=unconfined|PROFILE.json, no-new-privileges)
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Add a host device to the container (HOST[:CONTAINER[:rwm]])
    #[arg(long = "device")]
    pub device: Vec<String>,
    /// Ulimit options (NAME=SOFT[:HARD])
    #[arg(long = "ulimit")]
    pub ulimit: Vec<String>,
    /// Sysctl options (NAME=VALUE)
    #[arg(long = "sysctl")]
    pub sysctl: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Add additional groups to join (ids or names in the container)
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
}

/// Where the seccomp profile comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Seccomp {
    /// docker's default profile.
    Default,
    /// `seccomp=unconfined`.
    Unconfined,
    /// `seccomp=PATH`: the file's text, read here as docker's CLI does.
    Profile { path: String, text: String },
}

/// The security flags, checked.
#[derive(Debug, Clone)]
pub struct SecurityOptions {
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub seccomp: Seccomp,
    pub no_new_privileges: bool,
    pub read_only: bool,
    pub devices: Vec<devices::Device>,
    pub rlimits: Vec<Value>,
    pub sysctl: Vec<(String, String)>,
    pub shm_size: Option<i64>,
}

/// `--ulimit` names and their rlimit types.
const ULIMITS: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

fn parse_ulimit(v: &str) -> Result<Value, SecurityError> {
    let bad = |why: String| SecurityError::Ulimit {
        value: v.to_string(),
        why,
    };
    let (name, limits) = v
        .split_once('=')
        .ok_or_else(|| bad(format!("invalid ulimit argument: {v}")))?;
    if !ULIMITS.contains(&name) {
        return Err(bad(format!("invalid ulimit type: {name}")));
    }
    let num = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| bad(format!("invalid ulimit value: {s}")))
    };
    let (soft, hard) = match limits.split_once(':') {
        Some((s, h)) => (num(s)?, num(h)?),
        None => (num(limits)?, num(limits)?),
    };
    if soft > hard {
        return Err(bad(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )));
    }
    // -1 is unlimited, as the kernel's RLIM_INFINITY
    let raw = |n: i64| if n < 0 { u64::MAX } else { n as u64 };
    Ok(json!({
        "type": format!("RLIMIT_{}", name.to_ascii_uppercase()),
        "soft": raw(soft),
        "hard": raw(hard),
    }))
}

/// docker's namespaced sysctls: IPC ones and `net.*` (the container has
/// its own network namespace unless `--network host`); the UTS keys are
/// `--hostname`'s and `--domainname`'s.
fn sysctl_allowed(key: &str, host_network: bool) -> bool {
    use berth_sysctl_scope::Scope;
    match berth_sysctl_scope::scope_of(key) {
        Some(Scope::Ipc) => true,
        Some(Scope::Network) => !host_network,
        Some(Scope::Uts) | None => false,
    }
}

impl SecurityFlags {
    /// Checks every flag; reads a `seccomp=PATH` profile and stats devices.
    pub fn parse(&self, host_network: bool) -> Result<SecurityOptions, SecurityError> {
        let mut seccomp = Seccomp::Default;
        let mut no_new_privileges = false;
        for opt in &self.security_opt {
            // docker also takes the old `key:value` form
            let (key, value) = opt
                .split_once('=')
                .or_else(|| opt.split_once(':'))
                .map(|(k, v)| (k, Some(v)))
                .unwrap_or((opt.as_str(), None));
            match (key, value) {
                ("no-new-privileges", None) => no_new_privileges = true,
                ("no-new-privileges", Some(v)) => {
                    no_new_privileges = v
                        .parse()
                        .map_err(|_| SecurityError::SecurityOpt(opt.clone()))?
                }
                ("seccomp", Some("unconfined")) => seccomp = Seccomp::Unconfined,
                ("seccomp", Some(path)) if !path.is_empty() => {
                    let text =
                        std::fs::read_to_string(path).map_err(|e| SecurityError::ProfileFile {
                            path: path.to_string(),
                            why: e.to_string(),
                        })?;
                    seccomp = Seccomp::Profile {
                        path: path.to_string(),
                        text,
                    };
                }
                // no AppArmor or SELinux here: only turning them off is meaningful
                ("apparmor", Some("unconfined")) | ("label", Some("disable")) => {}
                _ => return Err(SecurityError::SecurityOpt(opt.clone())),
            }
        }
        let rlimits = self
            .ulimit
            .iter()
            .map(|u| parse_ulimit(u))
            .collect::<Result<_, _>>()?;
        let mut sysctl = Vec::new();
        for s in &self.sysctl {
            match s.split_once('=') {
                Some((k, v)) if sysctl_allowed(k, host_network) => {
                    sysctl.push((k.to_string(), v.to_string()))
                }
                _ => return Err(SecurityError::Sysctl(s.clone())),
            }
        }
        let shm_size = match &self.shm_size {
            Some(s) => Some(
                crate::flags::parse_size(s)
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| SecurityError::ShmSize(s.clone()))?,
            ),
            None => None,
        };
        let opts = SecurityOptions {
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            privileged: self.privileged,
            seccomp,
            no_new_privileges,
            read_only: self.read_only,
            devices: self
                .device
                .iter()
                .map(|d| devices::parse(d))
                .collect::<Result<_, _>>()?,
            rlimits,
            sysctl,
            shm_size,
        };
        // the capability names and a given profile are checked here too
        let caps = caps::effective(
            crate::spec::DEFAULT_CAPS,
            &opts.cap_add,
            &opts.cap_drop,
            opts.privileged,
        )?;
        if let Seccomp::Profile { path, text } = &opts.seccomp {
            let (arch, kernel) = seccomp::this_machine();
            let target = seccomp::Target {
                arch,
                caps: &caps,
                kernel,
            };
            seccomp::to_oci(text, path, &target)?;
        }
        Ok(opts)
    }
}

impl SecurityOptions {
    /// Applies the options to a spec `spec::build` made.
    pub fn apply(&self, spec: &mut Value) -> Result<(), SecurityError> {
        let caps = caps::effective(
            crate::spec::DEFAULT_CAPS,
            &self.cap_add,
            &self.cap_drop,
            self.privileged,
        )?;
        let process = &mut spec["process"];
        process["capabilities"] = json!({
            "bounding": caps,
            "effective": caps,
            "permitted": caps,
        });
        process["noNewPrivileges"] = json!(self.no_new_privileges);
        if !self.rlimits.is_empty() {
            process["rlimits"] = json!(self.rlimits);
        }
        if self.read_only {
            spec["root"]["readonly"] = json!(true);
        }
        if let Some(size) = self.shm_size {
            set_shm_size(spec, size);
        }
        let linux = &mut spec["linux"];
        for (k, v) in &self.sysctl {
            linux["sysctl"][k] = json!(v);
        }
        let seccomp = if self.privileged {
            None
        } else {
            let (arch, kernel) = seccomp::this_machine();
            let target = seccomp::Target {
                arch,
                caps: &caps,
                kernel,
            };
            match &self.seccomp {
                Seccomp::Unconfined => None,
                Seccomp::Default => Some(seccomp::to_oci(
                    seccomp::DEFAULT_PROFILE,
                    "default",
                    &target,
                )?),
                Seccomp::Profile { path, text } => Some(seccomp::to_oci(text, path, &target)?),
            }
        };
        match seccomp {
            Some(s) => linux["seccomp"] = s,
            None => {
                if let Some(o) = linux.as_object_mut() {
                    o.remove("seccomp");
                }
            }
        }
        let mut devs = self.devices.clone();
        if self.privileged {
            // all of the host's devices, no device rules, nothing masked
            devs = devices::host_devices();
            linux["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
            linux["maskedPaths"] = json!([]);
            linux["readonlyPaths"] = json!([]);
            if let Some(mounts) = spec["mounts"].as_array_mut() {
                for m in mounts {
                    if matches!(m["type"].as_str(), Some("sysfs" | "cgroup")) {
                        if let Some(o) = m["options"].as_array_mut() {
                            o.retain(|x| x != "ro");
                        }
                    }
                }
            }
        }
        devices::add(spec, &devs, !self.privileged);
        Ok(())
    }
}

/// `size=` of the /dev/shm tmpfs.
fn set_shm_size(spec: &mut Value, size: i64) {
    let Some(mounts) = spec["mounts"].as_array_mut() else {
        return;
    };
    for m in mounts {
        if m["destination"] == "/dev/shm" {
            if let Some(o) = m["options"].as_array_mut() {
                o.retain(|x| !x.as_str().is_some_and(|s| s.starts_with("size=")));
                o.push(json!(format!("size={size}")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parts of `spec::build`'s spec these options touch.
    fn base_spec() -> Value {
        json!({
            "process": {"capabilities": {}, "noNewPrivileges": false},
            "root": {"path": "rootfs", "readonly": false},
            "mounts": [
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                 "options": ["nosuid", "size=67108864"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                 "options": ["nosuid", "ro"]},
            ],
            "linux": {"resources": {"devices": []}, "maskedPaths": ["/proc/kcore"],
                      "readonlyPaths": ["/proc/sys"]},
        })
    }

    fn flags(f: impl FnOnce(&mut SecurityFlags)) -> SecurityFlags {
        let mut s = SecurityFlags::default();
        f(&mut s);
        s
    }

    #[test]
    fn bad_flags_are_docker_errors() {
        let cases: Vec<(SecurityFlags, &str)> = vec![
            (
                flags(|f| f.security_opt = vec!["foo".into()]),
                "Invalid --security-opt: \"foo\"",
            ),
            (
                flags(|f| f.security_opt = vec!["seccomp=/nonexist".into()]),
                "opening seccomp profile (/nonexist) failed",
            ),
            (
                flags(|f| f.sysctl = vec!["kernel.hostname=x".into()]),
                "sysctl 'kernel.hostname=x' is not allowed",
            ),
            (
                flags(|f| f.ulimit = vec!["foo=1".into()]),
                "invalid ulimit type: foo",
            ),
            (
                flags(|f| f.ulimit = vec!["nofile=10:5".into()]),
                "ulimit soft limit must be less than or equal to hard limit: 10 > 5",
            ),
            (
                flags(|f| f.cap_add = vec!["FOO".into()]),
                "invalid CapAdd: unknown capability: \"CAP_FOO\"",
            ),
            (flags(|f| f.shm_size = Some("lots".into())), "--shm-size"),
        ];
        for (f, want) in cases {
            let e = f.parse(false).unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} lacks {want:?}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn flags_shape_the_spec() {
        let f = flags(|f| {
            f.cap_add = vec!["sys_admin".into()];
            f.cap_drop = vec!["NET_RAW".into()];
            f.security_opt = vec!["no-new-privileges".into()];
            f.read_only = true;
            f.ulimit = vec!["nofile=100:200".into()];
            f.sysctl = vec!["kernel.shmmax=1000000".into()];
            f.shm_size = Some("1m".into());
        });
        let o = f.parse(false).unwrap();
        let mut spec = base_spec();
        o.apply(&mut spec).unwrap();
        let bnd = spec["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap();
        assert!(bnd.contains(&json!("CAP_SYS_ADMIN")));
        assert!(!bnd.contains(&json!("CAP_NET_RAW")));
        assert_eq!(spec["process"]["noNewPrivileges"], true);
        assert_eq!(spec["root"]["readonly"], true);
        assert_eq!(
            spec["process"]["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}])
        );
        assert_eq!(spec["linux"]["sysctl"]["kernel.shmmax"], "1000000");
        assert_eq!(
            spec["mounts"][0]["options"],
            json!(["nosuid", "size=1048576"])
        );
        let seccomp = spec["linux"]["seccomp"].to_string();
        assert!(seccomp.contains("\"mount\""), "CAP_SYS_ADMIN allows mount");

        let o = flags(|f| f.security_opt = vec!["seccomp=unconfined".into()])
            .parse(false)
            .unwrap();
        let mut spec = base_spec();
        o.apply(&mut spec).unwrap();
        assert!(spec["linux"].get("seccomp").is_none());

        let o = flags(|f| f.privileged = true).parse(false).unwrap();
        let mut spec = base_spec();
        o.apply(&mut spec).unwrap();
        assert!(spec["linux"].get("seccomp").is_none());
        assert_eq!(spec["linux"]["maskedPaths"], json!([]));
        assert_eq!(spec["mounts"][1]["options"], json!(["nosuid"]));
        assert!(spec["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap()
            .contains(&json!("CAP_SYS_ADMIN")));
    }
}
