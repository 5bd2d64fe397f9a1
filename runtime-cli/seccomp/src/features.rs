//! What this build of berth can do with seccomp, for `berth-runtime features`.
//!
//! The lists follow the runtime spec's features document: names are the
//! profile spellings, sorted. Support depends on the libseccomp found at run
//! time and, for flags, on the kernel, so these functions probe rather than
//! return constants. Probing never installs a filter.

use libseccomp::{check_api, get_api, ScmpAction, ScmpFilterContext, ScmpVersion};

use crate::convert::{ACTIONS, ARCHES, FLAGS, OPERATORS};

/// The libseccomp API level and version `SCMP_ACT_NOTIFY` needs; libseccomp-rs
/// refuses to hand out the notify fd below it.
pub(crate) const NOTIFY_API: (u32, (u32, u32, u32)) = (6, (2, 5, 0));

/// The libseccomp in use, as `major.minor.micro` (`unknown` if it cannot tell).
pub fn libseccomp_version() -> String {
    ScmpVersion::current()
        .map(|v| v.to_string())
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn api_at_least(level: u32, version: (u32, u32, u32)) -> bool {
    check_api(level, ScmpVersion::from(version)).unwrap_or(false)
}

/// The `SCMP_ACT_*` names a profile may use on this host.
///
/// SCMP_ACT_LOG and SCMP_ACT_KILL_PROCESS need libseccomp API level 3,
/// SCMP_ACT_NOTIFY needs level 6; the others always work.
pub fn supported_actions() -> Vec<&'static str> {
    let api = get_api();
    ACTIONS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| match *name {
            "SCMP_ACT_LOG" | "SCMP_ACT_KILL_PROCESS" => api >= 3,
            "SCMP_ACT_NOTIFY" => api_at_least(NOTIFY_API.0, NOTIFY_API.1),
            _ => true,
        })
        .collect()
}

/// The `SCMP_CMP_*` names a profile may use (all of them).
pub fn supported_operators() -> Vec<&'static str> {
    OPERATORS.iter().map(|(name, _)| *name).collect()
}

/// The `SCMP_ARCH_*` names the libseccomp in use knows.
///
/// Asked of libseccomp by adding each architecture to a throwaway filter,
/// which only touches memory.
pub fn supported_archs() -> Vec<&'static str> {
    let Ok(mut ctx) = ScmpFilterContext::new(ScmpAction::Allow) else {
        return Vec::new();
    };
    ARCHES
        .iter()
        .filter(|(_, _, token)| ctx.add_arch(*token).is_ok())
        .map(|(name, _, _)| *name)
        .collect()
}

/// Every `SECCOMP_FILTER_FLAG_*` name berth understands (the spec's
/// `knownFlags`), whether or not this host supports it.
pub fn known_flags() -> Vec<&'static str> {
    FLAGS.iter().map(|(name, _)| *name).collect()
}

/// The `SECCOMP_FILTER_FLAG_*` names that both the libseccomp in use and the
/// running kernel support (the spec's `supportedFlags`).
pub fn supported_flags() -> Vec<&'static str> {
    FLAGS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| {
            // libseccomp's API level for the matching filter attribute, then
            // the kernel bit it turns into.
            let (api, version, kernel_flag) = match *name {
                "SECCOMP_FILTER_FLAG_TSYNC" => (2, (2, 2, 0), libc::SECCOMP_FILTER_FLAG_TSYNC),
                "SECCOMP_FILTER_FLAG_LOG" => (3, (2, 4, 0), libc::SECCOMP_FILTER_FLAG_LOG),
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => {
                    (4, (2, 5, 0), libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW)
                }
                // The kernel only accepts WAIT_KILLABLE_RECV together with
                // NEW_LISTENER, so probe the pair.
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => (
                    7,
                    (2, 6, 0),
                    libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
                        | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
                ),
                _ => return false,
            };
            api_at_least(api, version) && kernel_supports_flags(kernel_flag)
        })
        .collect()
}

/// Asks the kernel whether it knows these `seccomp(2)` filter flags.
fn kernel_supports_flags(flags: libc::c_ulong) -> bool {
    // SAFETY: SECCOMP_SET_MODE_FILTER with a NULL program cannot install
    // anything: the kernel rejects unknown flags with EINVAL first, then fails
    // to copy the program from address 0 with EFAULT. The same probe is used by
    // libseccomp and runc. No memory of ours is read or written.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            std::ptr::null::<libc::c_void>(),
        )
    };
    rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_looks_like_a_version() {
        let v = libseccomp_version();
        assert_eq!(v.split('.').count(), 3, "{v}");
        assert!(v.split('.').all(|p| p.parse::<u32>().is_ok()), "{v}");
    }

    #[test]
    fn actions_always_include_the_basics() {
        let actions = supported_actions();
        for basic in [
            "SCMP_ACT_ALLOW",
            "SCMP_ACT_ERRNO",
            "SCMP_ACT_KILL",
            "SCMP_ACT_KILL_THREAD",
            "SCMP_ACT_TRACE",
            "SCMP_ACT_TRAP",
        ] {
            assert!(actions.contains(&basic), "{basic} missing from {actions:?}");
        }
        let mut sorted = actions.clone();
        sorted.sort_unstable();
        assert_eq!(actions, sorted);
    }

    #[test]
    fn operators_are_all_seven() {
        assert_eq!(supported_operators().len(), 7);
    }

    #[test]
    fn archs_include_native_family() {
        let archs = supported_archs();
        assert!(archs.contains(&"SCMP_ARCH_NATIVE"));
        #[cfg(target_arch = "x86_64")]
        for a in ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"] {
            assert!(archs.contains(&a), "{a} missing from {archs:?}");
        }
        #[cfg(target_arch = "aarch64")]
        assert!(archs.contains(&"SCMP_ARCH_AARCH64"));
    }

    #[test]
    fn supported_flags_are_known() {
        let known = known_flags();
        assert_eq!(known.len(), 4);
        let supported = supported_flags();
        assert!(supported.iter().all(|f| known.contains(f)));
        // TSYNC dates from Linux 3.17 and libseccomp 2.2.
        assert!(
            supported.contains(&"SECCOMP_FILTER_FLAG_TSYNC"),
            "{supported:?}"
        );
    }
}
