//! The pure part of turning config.json into system calls: flag words,
//! option parsing, name tables. No I/O here, so it is tested without root.

use oci_spec::runtime::{
    LinuxIdMapping, LinuxNamespace, LinuxNamespaceType, LinuxPersonality, LinuxPersonalityDomain,
    PosixRlimitType,
};
use std::path::PathBuf;

/// Namespace type → the clone flag that makes one (a raw flag word: nix's
/// CloneFlags has no CLONE_NEWTIME).
pub fn clone_flag(t: LinuxNamespaceType) -> libc::c_int {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

/// unshare(2) with a raw flag word.
pub fn unshare(flags: libc::c_int) -> Result<(), nix::Error> {
    // SAFETY: unshare takes a flag word and touches no memory of ours.
    if unsafe { libc::unshare(flags) } != 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}

/// setns(2) into the namespace behind `fd`.
pub fn setns(fd: std::os::fd::RawFd, t: LinuxNamespaceType) -> Result<(), nix::Error> {
    // SAFETY: setns takes a descriptor and a flag word.
    if unsafe { libc::setns(fd, clone_flag(t)) } != 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}

/// `/proc/<pid>/ns/<name>` for a namespace type.
pub fn proc_ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// The order namespaces are joined in: user first, so the joins after it
/// have its capabilities; mount last but one so paths opened before it
/// still resolve on the host.
pub const JOIN_ORDER: &[LinuxNamespaceType] = &[
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Mount,
];

/// What to do with namespaces: which to create, which to join.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct NamespacePlan {
    /// namespaces to unshare (clone flags), except the user namespace
    pub new: libc::c_int,
    pub new_user: bool,
    /// (type, path) to setns into, in JOIN_ORDER
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
}

impl NamespacePlan {
    pub fn from_spec(namespaces: &[LinuxNamespace]) -> Self {
        let mut plan = NamespacePlan::default();
        for t in JOIN_ORDER {
            let Some(ns) = namespaces.iter().find(|n| n.typ() == *t) else {
                continue;
            };
            match ns.path() {
                Some(p) => plan.join.push((*t, p.clone())),
                None if *t == LinuxNamespaceType::User => plan.new_user = true,
                None => plan.new |= clone_flag(*t),
            }
        }
        plan
    }

    pub fn creates(&self, t: LinuxNamespaceType) -> bool {
        if t == LinuxNamespaceType::User {
            self.new_user
        } else {
            self.new & clone_flag(t) != 0
        }
    }

    pub fn joins(&self, t: LinuxNamespaceType) -> bool {
        self.join.iter().any(|(j, _)| *j == t)
    }

    /// Whether the container lives in a user namespace other than the runtime's.
    pub fn has_user(&self) -> bool {
        self.new_user || self.joins(LinuxNamespaceType::User)
    }
}

/// Formats id mappings as `/proc/<pid>/uid_map` wants them.
pub fn id_map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Maps a container uid to its host uid through the mappings.
pub fn map_to_host(maps: &[LinuxIdMapping], id: u32) -> Option<u32> {
    maps.iter().find_map(|m| {
        let off = id.checked_sub(m.container_id())?;
        (off < m.size()).then(|| m.host_id() + off)
    })
}

/// Checks a sysctl may be set in the container: only namespaced keys, and
/// only when the container has the namespace that scopes them.
pub fn check_sysctl(key: &str, has_ns: &dyn Fn(LinuxNamespaceType) -> bool) -> Result<(), String> {
    const IPC_KEYS: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let need = if IPC_KEYS.contains(&key) || key.starts_with("fs.mqueue.") {
        LinuxNamespaceType::Ipc
    } else if key.starts_with("net.") {
        LinuxNamespaceType::Network
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        LinuxNamespaceType::Uts
    } else {
        return Err(format!(
            "sysctl {key} is not namespaced and can't be set in a container"
        ));
    };
    if has_ns(need) {
        Ok(())
    } else {
        Err(format!(
            "sysctl {key} needs a private {} namespace",
            proc_ns_name(need)
        ))
    }
}

/// `/proc/sys` path of a sysctl key.
pub fn sysctl_path(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key.replace('.', "/"))
}

/// rlimit type → resource number for setrlimit.
pub fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Personality domain → persona value.
pub fn personality(p: &LinuxPersonality) -> Result<libc::c_ulong, String> {
    let base: libc::c_ulong = match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err("linux.personality.flags are not supported".into());
    }
    Ok(base)
}

/// Parses exec's `--user uid[:gid]`.
pub fn parse_user(s: &str) -> Result<(u32, Option<u32>), String> {
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let uid = u
        .parse()
        .map_err(|_| format!("invalid user {s:?}: want uid[:gid] as numbers"))?;
    let gid = g
        .map(|g| {
            g.parse()
                .map_err(|_| format!("invalid user {s:?}: want uid[:gid] as numbers"))
        })
        .transpose()?;
    Ok((uid, gid))
}

/// Parses a capability name as config.json spells it.
pub fn parse_capability(name: &str) -> Result<caps::Capability, String> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    full.parse::<caps::Capability>()
        .map_err(|_| format!("unknown capability {name:?}"))
}

/// Parses a Go-style duration (`5s`, `500ms`, `1m`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let err = || format!("invalid duration {s:?}");
    let split = s.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(err)?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| err())?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(err()),
    };
    if secs <= 0.0 {
        return Err(err());
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIdMappingBuilder;

    #[test]
    fn namespace_plan_splits_new_and_joined() {
        let ns: Vec<LinuxNamespace> = serde_json::from_str(
            r#"[{"type":"pid"},{"type":"network","path":"/proc/1/ns/net"},{"type":"user"},{"type":"mount"}]"#,
        )
        .unwrap();
        let p = NamespacePlan::from_spec(&ns);
        assert!(p.new_user);
        assert_eq!(p.new, libc::CLONE_NEWPID | libc::CLONE_NEWNS);
        assert_eq!(
            p.join,
            vec![(LinuxNamespaceType::Network, PathBuf::from("/proc/1/ns/net"))]
        );
        assert!(p.creates(LinuxNamespaceType::User));
        assert!(p.joins(LinuxNamespaceType::Network));
        assert!(!p.creates(LinuxNamespaceType::Network));
    }

    #[test]
    fn id_maps_format_and_translate() {
        let maps = vec![
            LinuxIdMappingBuilder::default()
                .container_id(0u32)
                .host_id(1000u32)
                .size(1u32)
                .build()
                .unwrap(),
            LinuxIdMappingBuilder::default()
                .container_id(1u32)
                .host_id(100000u32)
                .size(65536u32)
                .build()
                .unwrap(),
        ];
        assert_eq!(id_map_text(&maps), "0 1000 1\n1 100000 65536\n");
        assert_eq!(map_to_host(&maps, 0), Some(1000));
        assert_eq!(map_to_host(&maps, 5), Some(100004));
        assert_eq!(map_to_host(&maps, 70000), None);
    }

    #[test]
    fn sysctls_are_scoped() {
        let all = |_| true;
        let none = |_| false;
        assert!(check_sysctl("net.core.somaxconn", &all).is_ok());
        assert!(check_sysctl("net.core.somaxconn", &none).is_err());
        assert!(check_sysctl("fs.mqueue.msg_max", &all).is_ok());
        assert!(check_sysctl("vm.swappiness", &all).is_err());
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward"),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
    }

    #[test]
    fn users_and_caps_and_durations() {
        assert_eq!(parse_user("1000:100"), Ok((1000, Some(100))));
        assert_eq!(parse_user("7"), Ok((7, None)));
        assert!(parse_user("bob").is_err());
        assert_eq!(
            parse_capability("CAP_CHOWN"),
            Ok(caps::Capability::CAP_CHOWN)
        );
        assert_eq!(
            parse_capability("net_raw"),
            Ok(caps::Capability::CAP_NET_RAW)
        );
        assert!(parse_capability("CAP_BOGUS").is_err());
        assert_eq!(parse_duration("5s"), Ok(std::time::Duration::from_secs(5)));
        assert_eq!(
            parse_duration("250ms"),
            Ok(std::time::Duration::from_millis(250))
        );
        assert!(parse_duration("5").is_err());
    }
}
