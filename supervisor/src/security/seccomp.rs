//! docker's seccomp profile format turned into an OCI `linux.seccomp`: the
//! architectures of this machine from `archMap`, and each rule kept only
//! when its `includes`/`excludes` (architectures, capabilities, minimum
//! kernel) match this container. The default profile is data: docker's own
//! JSON, embedded as it is.

use serde::Deserialize;
use serde_json::{json, Value};

use super::SecurityError;

/// docker's default profile (its `profiles/seccomp/default.json`).
pub const DEFAULT_PROFILE: &str = include_str!("default_seccomp.json");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    arch_map: Vec<ArchMap>,
    /// A profile may name its architectures plainly, as OCI does.
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    syscalls: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    names: Vec<String>,
    /// The old single-name form.
    #[serde(default)]
    name: Option<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Value>>,
    #[serde(default)]
    includes: Filter,
    #[serde(default)]
    excludes: Filter,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// What a profile's conditions are matched against.
pub struct Target<'a> {
    /// Go's name of the machine's architecture (`amd64`, `arm64`, …).
    pub arch: &'a str,
    /// The container's bounding capabilities.
    pub caps: &'a [String],
    /// The running kernel's (major, minor).
    pub kernel: (u32, u32),
}

impl Target<'_> {
    /// libseccomp's name of the native architecture.
    fn scmp_arch(&self) -> String {
        let a = match self.arch {
            "amd64" => "X86_64",
            "386" => "X86",
            "arm64" => "AARCH64",
            "arm" => "ARM",
            "ppc64le" => "PPC64LE",
            "s390x" => "S390X",
            "riscv64" => "RISCV64",
            other => other,
        };
        format!("SCMP_ARCH_{}", a.to_ascii_uppercase())
    }
}

/// The machine as seen from here: Go's architecture name, the kernel.
pub fn this_machine() -> (&'static str, (u32, u32)) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    };
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    (arch, parse_kernel(&release).unwrap_or((0, 0)))
}

fn parse_kernel(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Converts a docker-format profile (`source` names it in errors) into the
/// OCI `linux.seccomp` for `target`.
pub fn to_oci(text: &str, source: &str, target: &Target) -> Result<Value, SecurityError> {
    let p: Profile = serde_json::from_str(text).map_err(|e| SecurityError::Profile {
        origin: source.to_string(),
        why: e.to_string(),
    })?;
    let native = target.scmp_arch();
    let mut architectures = p.architectures.clone();
    for m in &p.arch_map {
        if m.architecture == native {
            architectures.push(m.architecture.clone());
            architectures.extend(m.sub_architectures.clone().unwrap_or_default());
        }
    }
    let mut syscalls = Vec::new();
    for r in &p.syscalls {
        if !applies(r, target) {
            continue;
        }
        let mut names = r.names.clone();
        names.extend(r.name.clone());
        if names.is_empty() {
            continue;
        }
        let mut rule = json!({"names": names, "action": r.action});
        if let Some(e) = r.errno_ret {
            rule["errnoRet"] = json!(e);
        }
        if let Some(a) = &r.args {
            rule["args"] = json!(a);
        }
        syscalls.push(rule);
    }
    let mut out = json!({
        "defaultAction": p.default_action,
        "architectures": architectures,
        "syscalls": syscalls,
    });
    if let Some(e) = p.default_errno_ret {
        out["defaultErrnoRet"] = json!(e);
    }
    if !p.flags.is_empty() {
        out["flags"] = json!(p.flags);
    }
    Ok(out)
}

/// A rule applies when every included architecture list, capability and
/// kernel minimum matches and no excluded one does.
fn applies(r: &Rule, t: &Target) -> bool {
    let has_cap = |c: &String| t.caps.contains(c);
    let inc = &r.includes;
    if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == t.arch) {
        return false;
    }
    if !inc.caps.iter().all(has_cap) {
        return false;
    }
    if let Some(min) = &inc.min_kernel {
        if parse_kernel(min).is_some_and(|m| t.kernel < m) {
            return false;
        }
    }
    let exc = &r.excludes;
    if exc.arches.iter().any(|a| a == t.arch) || exc.caps.iter().any(has_cap) {
        return false;
    }
    if let Some(min) = &exc.min_kernel {
        if parse_kernel(min).is_some_and(|m| t.kernel >= m) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &Value) -> Vec<String> {
        v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["names"].as_array().unwrap().clone())
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn the_default_profile_follows_arch_caps_and_kernel() {
        let caps = vec!["CAP_CHOWN".to_string()];
        let t = Target {
            arch: "amd64",
            caps: &caps,
            kernel: (5, 10),
        };
        let p = to_oci(DEFAULT_PROFILE, "default", &t).unwrap();
        assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(p["defaultErrnoRet"], 1);
        assert_eq!(
            p["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        let n = names(&p);
        assert!(n.contains(&"arch_prctl".to_string()));
        assert!(
            !n.contains(&"mount".to_string()),
            "mount needs CAP_SYS_ADMIN"
        );
        assert!(!n.contains(&"cacheflush".to_string()), "an arm syscall");
        assert!(n.contains(&"ptrace".to_string()), "4.8 or later");
        // clone3 answers ENOSYS without CAP_SYS_ADMIN
        assert!(p["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["names"] == json!(["clone3"]) && r["errnoRet"] == 38));

        let admin = vec!["CAP_SYS_ADMIN".to_string()];
        let t = Target {
            arch: "amd64",
            caps: &admin,
            kernel: (4, 4),
        };
        let p = to_oci(DEFAULT_PROFILE, "default", &t).unwrap();
        let n = names(&p);
        assert!(n.contains(&"mount".to_string()));
        assert!(n.contains(&"unshare".to_string()));
        assert!(!n.contains(&"ptrace".to_string()), "before 4.8");
        assert!(!p["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["errnoRet"] == 38));
    }

    #[test]
    fn bad_profiles_say_where() {
        let caps = Vec::new();
        let t = Target {
            arch: "amd64",
            caps: &caps,
            kernel: (5, 10),
        };
        let e = to_oci("{", "/x.json", &t).unwrap_err();
        assert!(e.to_string().contains("/x.json"), "{e}");
        assert_eq!(parse_kernel("5.10.0-23-amd64"), Some((5, 10)));
    }
}
