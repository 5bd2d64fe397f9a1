//! OCI seccomp profiles compiled to BPF through libseccomp.
//!
//! [`Filter::build`] turns an OCI `linux.seccomp` section into a libseccomp
//! filter with the semantics of runc and crun; [`Filter::load`] installs it.
//!
//! # How the runtime uses it
//!
//! * Before forking, call [`Filter::build`] once and drop the result: it has
//!   no side effects (it only allocates and asks the kernel which seccomp
//!   features exist), so it validates the profile with a clear error. For a
//!   raw `config.json` value, [`profile_from_json`] gives runc-style errors for
//!   unknown action, architecture, operator and flag names, which oci-spec's
//!   typed profile cannot represent.
//! * In the container's init process, call [`Filter::build`] again and
//!   [`Filter::load`] immediately before `execve`. Everything the process does
//!   after loading is subject to the filter, so keep that stretch short; a
//!   profile that kills on unknown syscalls must allow `execve` itself.
//! * When [`Filter::load`] returns a notify fd (the profile uses
//!   SCMP_ACT_NOTIFY), the runtime sends it to the agent at `listenerPath`
//!   together with the container state and `listenerMetadata`. Sending it is
//!   the runtime's job; this crate refuses NOTIFY as the default action and on
//!   `write` (as runc does) so that the hand-over itself cannot block.
//!
//! # Privileges
//!
//! The filter is built with libseccomp's NNP attribute off, so loading does
//! not set no_new_privs behind the runtime's back: `process.noNewPrivileges`
//! stays the runtime's decision. The kernel then only accepts the filter if
//! the process has no_new_privs set *or* CAP_SYS_ADMIN in its user namespace;
//! with `noNewPrivileges: false`, load before dropping capabilities.
//!
//! # Semantics (as runc)
//!
//! * SCMP_ACT_KILL means SCMP_ACT_KILL_THREAD. ERRNO and TRACE without
//!   `errnoRet` return EPERM; `errnoRet` with any other action is an error.
//! * Syscall names libseccomp cannot resolve for this architecture are
//!   skipped, not errors ([`Filter::skipped_syscalls`] lists them).
//! * A rule whose action equals the default action is dropped: it changes
//!   nothing and libseccomp refuses it.
//! * `args`: conditions on different argument indexes form one rule (all must
//!   match); if any index appears twice, each condition becomes its own rule
//!   (any may match). SCMP_CMP_MASKED_EQ uses `value` as the mask and
//!   `valueTwo` as the expected result.
//! * `architectures` are added next to the native one. Syscalls made through
//!   any other architecture's ABI are killed (libseccomp's bad-arch action).
//! * `flags` map to libseccomp attributes: TSYNC to CTL_TSYNC, LOG to
//!   CTL_LOG, SPEC_ALLOW to CTL_SSB, WAIT_KILLABLE_RECV to CTL_WAITKILL
//!   (libseccomp 2.6 or later).

#![warn(missing_docs)]

mod cache;
mod convert;
mod error;
mod features;
mod json;
mod program;

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use libseccomp::{ScmpAction, ScmpFilterContext, ScmpSyscall, ScmpVersion};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag};

pub use cache::Cache;
use convert::{
    action_name, arch_name, flag_name, rule_conditions, scmp_action_name, to_scmp_action,
    to_scmp_arch, Site,
};
pub use error::Error;
pub use features::{
    known_flags, libseccomp_version, supported_actions, supported_archs, supported_flags,
    supported_operators,
};
pub use json::profile_from_json;
pub use program::Program;

/// A compiled seccomp filter, ready to load.
///
/// Holds a libseccomp filter context, which is not thread-safe, so a
/// `Filter` stays on the thread that built it (it is neither `Send` nor `Sync`).
#[derive(Debug)]
pub struct Filter {
    ctx: ScmpFilterContext,
    uses_notify: bool,
    skipped: Vec<String>,
    listener_path: Option<PathBuf>,
    listener_metadata: Option<String>,
}

impl Filter {
    /// Validates `profile` and compiles it into a libseccomp filter.
    ///
    /// Has no side effects beyond memory: nothing is loaded, and the only
    /// kernel calls are libseccomp's read-only feature probes. Errors name the
    /// field or syscall and the offending value (see [`Error`]).
    pub fn build(profile: &LinuxSeccomp) -> Result<Filter, Error> {
        let default_action = profile.default_action();
        if default_action == LinuxSeccompAction::ScmpActNotify {
            return Err(Error::NotifyAsDefaultAction);
        }
        let default = to_scmp_action(default_action, profile.default_errno_ret(), Site::Default)?;

        // Check every entry before libseccomp sees any of it, so a profile's
        // mistakes are reported the same way whichever libseccomp the host has.
        let entries = profile.syscalls().as_deref().unwrap_or_default();
        let mut rules = Vec::with_capacity(entries.len());
        let mut first_notify: Option<String> = None;
        for (index, entry) in entries.iter().enumerate() {
            let label = entry.names().join(", ");
            let action = to_scmp_action(entry.action(), entry.errno_ret(), Site::Syscall(&label))?;
            if entry.names().iter().any(String::is_empty) {
                return Err(Error::EmptySyscallName { index });
            }
            let conditions = rule_conditions(entry.args().as_deref().unwrap_or_default(), &label)?;
            if action == ScmpAction::Notify {
                if entry.names().iter().any(|n| n == "write") {
                    return Err(Error::NotifyOnWrite);
                }
                first_notify.get_or_insert(label);
            }
            rules.push((entry.names(), action, conditions));
        }
        if let Some(syscall) = first_notify {
            if profile.listener_path().is_none() {
                return Err(Error::NotifyWithoutListener { syscall });
            }
            let (level, version) = features::NOTIFY_API;
            if !libseccomp::check_api(level, ScmpVersion::from(version)).unwrap_or(false) {
                return Err(Error::NotifyUnsupported {
                    syscall,
                    api: libseccomp::get_api(),
                    version: libseccomp_version(),
                });
            }
        }

        // libseccomp works out its API level lazily, with seccomp(2) probes.
        // Doing it now keeps those probes out of the window after load, where
        // the filter might forbid or kill them (get_notify_fd asks for it).
        libseccomp::get_api();

        let mut ctx = ScmpFilterContext::new(default).map_err(|e| Error::CreateFilter {
            action: action_name(default_action),
            cause: e.to_string(),
        })?;
        // libseccomp sets no_new_privs on load by default; whether the
        // container gets it is process.noNewPrivileges' call, not ours.
        ctx.set_ctl_nnp(false).map_err(|e| Error::Attribute {
            attr: "SCMP_FLTATR_CTL_NNP",
            cause: e.to_string(),
        })?;
        // With raw return codes a failed load reports the kernel's errno
        // (EACCES, EINVAL...) instead of a blanket ECANCELED. Older libseccomp
        // lacks the attribute; the load still works, only the message is vaguer.
        let _ = ctx.set_api_sysrawrc(true);

        for &arch in profile.architectures().as_deref().unwrap_or_default() {
            ctx.add_arch(to_scmp_arch(arch))
                .map_err(|e| Error::UnsupportedArch {
                    arch: arch_name(arch),
                    version: libseccomp_version(),
                    cause: e.to_string(),
                })?;
        }

        let mut uses_notify = false;
        let mut skipped: Vec<String> = Vec::new();
        for (names, action, conditions) in rules {
            if action == default {
                continue;
            }
            for name in names {
                // Unknown to libseccomp for this architecture: most likely a
                // syscall of another architecture or a newer kernel. runc skips
                // these so one profile serves every host.
                let Ok(syscall) = ScmpSyscall::from_name(name) else {
                    if !skipped.contains(name) {
                        skipped.push(name.clone());
                    }
                    continue;
                };
                for conds in &conditions {
                    ctx.add_rule_conditional(action, syscall, conds)
                        .map_err(|e| Error::AddRule {
                            action: scmp_action_name(action),
                            syscall: name.clone(),
                            cause: e.to_string(),
                        })?;
                }
                uses_notify |= action == ScmpAction::Notify;
            }
        }

        // Flags go last: libseccomp checks CTL_TSYNC against NOTIFY rules
        // already in the filter (the kernel only combines the two since 5.7).
        for &flag in profile.flags().as_deref().unwrap_or_default() {
            let set = match flag {
                LinuxSeccompFilterFlag::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true),
                LinuxSeccompFilterFlag::SeccompFilterFlagLog => ctx.set_ctl_log(true),
                LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true),
                LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                    ctx.set_ctl_waitkill(true)
                }
            };
            set.map_err(|e| Error::UnsupportedFlag {
                flag: flag_name(flag),
                version: libseccomp_version(),
                cause: e.to_string(),
            })?;
        }

        Ok(Filter {
            ctx,
            uses_notify,
            skipped,
            listener_path: profile.listener_path().clone(),
            listener_metadata: profile.listener_metadata().clone(),
        })
    }

    /// Whether the filter has SCMP_ACT_NOTIFY rules, so [`Filter::load`] will
    /// return a notify fd that the runtime must send to `listenerPath`.
    ///
    /// The default action is never NOTIFY ([`Filter::build`] refuses it), and
    /// NOTIFY entries whose syscalls all were skipped as unknown add no rule.
    pub fn uses_notify(&self) -> bool {
        self.uses_notify
    }

    /// Syscall names from the profile that libseccomp does not know on this
    /// architecture and that were therefore left out (worth a debug log).
    pub fn skipped_syscalls(&self) -> &[String] {
        &self.skipped
    }

    /// The profile's `listenerPath`: the agent's unix socket for the notify fd.
    pub fn listener_path(&self) -> Option<&Path> {
        self.listener_path.as_deref()
    }

    /// The profile's `listenerMetadata`, passed to the agent as is.
    pub fn listener_metadata(&self) -> Option<&str> {
        self.listener_metadata.as_deref()
    }

    /// The filter's BPF program and load flags ([`Program::load`] loads
    /// it without libseccomp); `None` for a filter with NOTIFY rules, whose
    /// listener fd only [`Filter::load`] makes.
    pub fn compile(&self) -> Result<Option<Program>, Error> {
        if self.uses_notify {
            return Ok(None);
        }
        Program::export(&self.ctx).map(Some)
    }

    /// Loads the filter into the kernel for the calling thread (every thread
    /// with SECCOMP_FILTER_FLAG_TSYNC), to be inherited across fork and exec.
    ///
    /// Returns the notify fd when [`Filter::uses_notify`], `None` otherwise.
    /// The fd is close-on-exec; the caller owns it and should close it once it
    /// has been sent. Fails with `EACCES` unless the process has no_new_privs
    /// or CAP_SYS_ADMIN.
    ///
    /// libseccomp remembers one notify fd per process, so load at most one
    /// NOTIFY filter per process (the container init loads exactly one).
    pub fn load(self) -> Result<Option<OwnedFd>, Error> {
        if self.uses_notify && self.ctx.get_notify_fd().is_ok() {
            // An earlier load in this process already made libseccomp create a
            // listener; it would not ask for another one, and handing out its
            // fd again would give two owners to one descriptor.
            return Err(Error::NotifyFd {
                cause:
                    "libseccomp already holds a notify fd from an earlier filter in this process"
                        .to_owned(),
            });
        }
        self.ctx.load().map_err(|e| {
            let cause = match e.sysrawrc() {
                Some(rc) if rc < 0 => std::io::Error::from_raw_os_error(-rc),
                _ => std::io::Error::other(e.to_string()),
            };
            Error::load(cause)
        })?;
        if !self.uses_notify {
            return Ok(None);
        }
        // No syscall happens here: libseccomp returns the fd it kept from the
        // seccomp(2) call above, and the API level was settled in build().
        let fd = self.ctx.get_notify_fd().map_err(|e| Error::NotifyFd {
            cause: e.to_string(),
        })?;
        // SAFETY: `fd` is the listener the kernel returned for the load just
        // done (the check at the top rules out an older one). Nothing else in
        // this process owns it: libseccomp only records the number and would
        // close it solely in seccomp_reset(NULL, ...), which this crate never
        // calls, so the OwnedFd is its single owner.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
    }
}
