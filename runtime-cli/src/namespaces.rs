//! Namespaces as the spec asks for them: which to create (clone flags) and
//! which to join (paths), in the order they are joined, and the raw
//! unshare(2)/setns(2) calls that act on them.

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
