//! Which namespace scopes a sysctl key. A container may set only sysctls
//! that its own namespaces scope: the runtime checks a spec's
//! `linux.sysctl` against the namespaces it creates, and the CLI checks
//! `--sysctl` against docker's rules. Both read this one table, so the two
//! tiers never disagree about a key.

/// The namespace that scopes a sysctl key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// System V IPC and POSIX message queues (`kernel.msg*`, `kernel.sem`,
    /// `kernel.shm*`, `fs.mqueue.*`)
    Ipc,
    /// `net.*`
    Network,
    /// `kernel.hostname`, `kernel.domainname`
    Uts,
}

/// The IPC keys outside `fs.mqueue.*`.
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

/// The namespace `key` belongs to; `None`: the key is not namespaced (it
/// would change the host) and no container may set it.
pub fn scope_of(key: &str) -> Option<Scope> {
    if IPC_KEYS.contains(&key) || key.starts_with("fs.mqueue.") {
        Some(Scope::Ipc)
    } else if key.starts_with("net.") {
        Some(Scope::Network)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(Scope::Uts)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fall_in_their_namespaces() {
        assert_eq!(scope_of("kernel.shmmax"), Some(Scope::Ipc));
        assert_eq!(scope_of("fs.mqueue.msg_max"), Some(Scope::Ipc));
        assert_eq!(scope_of("net.core.somaxconn"), Some(Scope::Network));
        assert_eq!(scope_of("kernel.hostname"), Some(Scope::Uts));
        assert_eq!(scope_of("vm.swappiness"), None);
        assert_eq!(scope_of("kernel.shm"), None);
    }
}
