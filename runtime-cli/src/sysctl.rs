//! Sysctls a spec may set: only namespaced keys, and only when the
//! container has the namespace that scopes them; where each is written.

use crate::namespaces::proc_ns_name;
use berth_sysctl_scope::Scope;
use oci_spec::runtime::LinuxNamespaceType;
use std::path::PathBuf;

/// Checks a sysctl may be set in the container: only namespaced keys, and
/// only when the container has the namespace that scopes them.
pub fn check_sysctl(key: &str, has_ns: &dyn Fn(LinuxNamespaceType) -> bool) -> Result<(), String> {
    let need = match berth_sysctl_scope::scope_of(key) {
        Some(Scope::Ipc) => LinuxNamespaceType::Ipc,
        Some(Scope::Network) => LinuxNamespaceType::Network,
        Some(Scope::Uts) => LinuxNamespaceType::Uts,
        None => {
            return Err(format!(
                "sysctl {key} is not namespaced and can't be set in a container"
            ))
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
