//! Capability names as `--cap-add`/`--cap-drop` take them (any case, with
//! or without `CAP_`, or `ALL`) and docker's rules for the resulting set.

use super::SecurityError;

/// Every capability this kernel generation knows, in number order.
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const ALL: &str = "ALL";

/// The capabilities "all" can mean here: those in this process's bounding
/// set (a runtime cannot grant more; asking for them fails the start).
fn available() -> Vec<String> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(bit, _)| bounding & (1u64 << bit) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// `sys_admin` → `CAP_SYS_ADMIN`; `all` → `ALL`; unknown names are docker's
/// error.
fn normalize(names: &[String], flag: &str) -> Result<Vec<String>, SecurityError> {
    names
        .iter()
        .map(|n| {
            let up = n.trim().to_ascii_uppercase();
            if up == ALL {
                return Ok(up);
            }
            let full = if up.starts_with("CAP_") {
                up
            } else {
                format!("CAP_{up}")
            };
            if ALL_CAPS.contains(&full.as_str()) {
                Ok(full)
            } else {
                Err(SecurityError::UnknownCapability {
                    flag: flag.to_string(),
                    name: full,
                })
            }
        })
        .collect()
}

/// The container's capabilities from `base` with `adds` and `drops`:
/// everything when privileged; `ALL` added gives all but the drops; `ALL`
/// dropped gives just the adds; else base minus drops plus adds.
pub fn effective(
    base: &[&str],
    adds: &[String],
    drops: &[String],
    privileged: bool,
) -> Result<Vec<String>, SecurityError> {
    let adds = normalize(adds, "CapAdd")?;
    let drops = normalize(drops, "CapDrop")?;
    if privileged {
        return Ok(available());
    }
    let has = |list: &[String], c: &str| list.iter().any(|x| x == c);
    let mut caps: Vec<String> = if has(&adds, ALL) {
        available()
            .into_iter()
            .filter(|c| !has(&drops, c))
            .collect()
    } else if has(&drops, ALL) {
        adds.clone()
    } else {
        let mut caps: Vec<String> = base
            .iter()
            .filter(|c| !has(&drops, c))
            .map(|c| c.to_string())
            .collect();
        caps.extend(adds.iter().cloned());
        caps
    };
    let mut seen = std::collections::HashSet::new();
    caps.retain(|c| c != ALL && seen.insert(c.clone()));
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn docker_cap_rules() {
        let base = ["CAP_CHOWN", "CAP_KILL"];
        assert_eq!(effective(&base, &[], &[], false).unwrap(), s(&base));
        assert_eq!(
            effective(&base, &s(&["sys_admin"]), &s(&["CAP_KILL"]), false).unwrap(),
            s(&["CAP_CHOWN", "CAP_SYS_ADMIN"])
        );
        assert_eq!(
            effective(&base, &s(&["chown"]), &s(&["all"]), false).unwrap(),
            s(&["CAP_CHOWN"])
        );
        let all_but = effective(&base, &s(&["ALL"]), &s(&["NET_RAW"]), false).unwrap();
        assert_eq!(all_but.len(), available().len() - 1);
        assert!(!all_but.contains(&"CAP_NET_RAW".to_string()));
        assert_eq!(effective(&base, &[], &[], true).unwrap(), available());
        let e = effective(&base, &s(&["FOO"]), &[], false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid CapAdd: unknown capability: \"CAP_FOO\""
        );
    }
}
