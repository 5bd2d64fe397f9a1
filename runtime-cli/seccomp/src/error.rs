//! The one error type of this crate.
//!
//! Every message starts with `seccomp:`, is lower-case without a trailing
//! period, and names the profile field, syscall and value at fault. The
//! underlying libseccomp or OS error is written into the message rather than
//! exposed as a `source()`, so printing with `{}` or with anyhow's `{:#}`
//! gives the whole story exactly once.

/// Why a seccomp profile could not be validated, compiled or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `defaultAction` is not an `SCMP_ACT_*` name (only from [`crate::profile_from_json`]).
    #[error("seccomp: unknown defaultAction {action:?}")]
    UnknownDefaultAction {
        /// The name as written in the profile.
        action: String,
    },

    /// A syscall entry's `action` is not an `SCMP_ACT_*` name (only from [`crate::profile_from_json`]).
    #[error("seccomp: unknown action {action:?} for syscall {syscall:?}")]
    UnknownAction {
        /// The name as written in the profile.
        action: String,
        /// The entry's syscall names, joined with `", "`.
        syscall: String,
    },

    /// An `architectures` entry is not an `SCMP_ARCH_*` name (only from [`crate::profile_from_json`]).
    #[error("seccomp: unknown architecture {arch:?}")]
    UnknownArch {
        /// The name as written in the profile.
        arch: String,
    },

    /// An `args` entry's `op` is not an `SCMP_CMP_*` name (only from [`crate::profile_from_json`]).
    #[error("seccomp: unknown operator {op:?} for syscall {syscall:?}")]
    UnknownOperator {
        /// The name as written in the profile.
        op: String,
        /// The entry's syscall names, joined with `", "`.
        syscall: String,
    },

    /// A `flags` entry is not a `SECCOMP_FILTER_FLAG_*` name (only from [`crate::profile_from_json`]).
    #[error("seccomp: unknown flag {flag:?}")]
    UnknownFlag {
        /// The name as written in the profile.
        flag: String,
    },

    /// The profile is not a valid `linux.seccomp` object (wrong types, missing fields).
    #[error("seccomp: invalid profile: {reason}")]
    InvalidProfile {
        /// What the JSON decoder objected to.
        reason: String,
    },

    /// `defaultErrnoRet` was given with a default action that returns no errno.
    #[error(
        "seccomp: defaultErrnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, \
         not with defaultAction {action}"
    )]
    DefaultErrnoRetNotAllowed {
        /// The default action.
        action: &'static str,
    },

    /// `errnoRet` was given with an action that returns no errno.
    #[error(
        "seccomp: errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, \
         not with {action} for syscall {syscall:?}"
    )]
    ErrnoRetNotAllowed {
        /// The entry's action.
        action: &'static str,
        /// The entry's syscall names, joined with `", "`.
        syscall: String,
    },

    /// `defaultErrnoRet` does not fit the default action's 16-bit data field
    /// (errno values must also stay below 4095, the kernel's `MAX_ERRNO`).
    #[error("seccomp: defaultErrnoRet {value} is out of range for {action} (at most {max})")]
    DefaultErrnoRetOutOfRange {
        /// The value from the profile.
        value: u32,
        /// The default action.
        action: &'static str,
        /// The largest value the action accepts.
        max: u32,
    },

    /// `errnoRet` does not fit the action's 16-bit data field (errno values
    /// must also stay below 4095, the kernel's `MAX_ERRNO`).
    #[error("seccomp: errnoRet {value} is out of range for {action} (at most {max}) for syscall {syscall:?}")]
    ErrnoRetOutOfRange {
        /// The value from the profile.
        value: u32,
        /// The entry's action.
        action: &'static str,
        /// The largest value the action accepts.
        max: u32,
        /// The entry's syscall names, joined with `", "`.
        syscall: String,
    },

    /// `SCMP_ACT_NOTIFY` as the default action. Refused like runc does: the
    /// notify fd only exists once the filter is loaded, and handing it to the
    /// listener takes syscalls (write, sendmsg, ...) that would then wait for a
    /// listener that can never get the fd.
    #[error("seccomp: SCMP_ACT_NOTIFY cannot be used as defaultAction")]
    NotifyAsDefaultAction,

    /// `SCMP_ACT_NOTIFY` on `write`, refused like runc does for the same
    /// reason as [`Error::NotifyAsDefaultAction`].
    #[error("seccomp: SCMP_ACT_NOTIFY cannot be used for syscall \"write\"")]
    NotifyOnWrite,

    /// A syscall uses `SCMP_ACT_NOTIFY` but `listenerPath` is not set (the
    /// runtime spec requires it).
    #[error("seccomp: listenerPath is required because syscall {syscall:?} uses SCMP_ACT_NOTIFY")]
    NotifyWithoutListener {
        /// The first entry using NOTIFY, names joined with `", "`.
        syscall: String,
    },

    /// `SCMP_ACT_NOTIFY` needs libseccomp API level 6 (libseccomp 2.5 on Linux 5.7 or later).
    #[error(
        "seccomp: SCMP_ACT_NOTIFY for syscall {syscall:?} needs libseccomp api level 6 \
         (libseccomp >= 2.5.0, linux >= 5.7), this host has level {api} with libseccomp {version}"
    )]
    NotifyUnsupported {
        /// The first entry using NOTIFY, names joined with `", "`.
        syscall: String,
        /// The API level libseccomp reports on this host.
        api: u32,
        /// The libseccomp version in use.
        version: String,
    },

    /// A syscall entry has an empty string among its `names`.
    #[error("seccomp: syscalls[{index}] has an empty syscall name")]
    EmptySyscallName {
        /// Position of the entry in `syscalls`.
        index: usize,
    },

    /// An `args` entry's `index` is not one of a syscall's six arguments.
    #[error("seccomp: args index {index} for syscall {syscall:?} is out of range (0 to 5)")]
    ArgIndexOutOfRange {
        /// The index from the profile.
        index: usize,
        /// The entry's syscall names, joined with `", "`.
        syscall: String,
    },

    /// libseccomp refused to create a filter with this default action
    /// (e.g. SCMP_ACT_LOG or SCMP_ACT_KILL_PROCESS on a kernel older than 4.14).
    #[error("seccomp: cannot create a filter with defaultAction {action}: {cause}")]
    CreateFilter {
        /// The default action.
        action: &'static str,
        /// libseccomp's explanation.
        cause: String,
    },

    /// libseccomp does not know this architecture (it is newer than the
    /// libseccomp in use).
    #[error("seccomp: architecture {arch} is not supported by libseccomp {version}: {cause}")]
    UnsupportedArch {
        /// The `SCMP_ARCH_*` name.
        arch: &'static str,
        /// The libseccomp version in use.
        version: String,
        /// libseccomp's explanation.
        cause: String,
    },

    /// The flag needs a newer libseccomp or kernel, or conflicts with the rest
    /// of the profile.
    #[error(
        "seccomp: flag {flag} cannot be used with libseccomp {version} on this kernel: {cause}"
    )]
    UnsupportedFlag {
        /// The `SECCOMP_FILTER_FLAG_*` name.
        flag: &'static str,
        /// The libseccomp version in use.
        version: String,
        /// libseccomp's explanation.
        cause: String,
    },

    /// libseccomp refused a rule (e.g. SCMP_ACT_LOG on a kernel older than 4.14,
    /// or two unconditional rules with different actions for one syscall).
    #[error("seccomp: cannot add {action} rule for syscall {syscall:?}: {cause}")]
    AddRule {
        /// The rule's action.
        action: &'static str,
        /// The syscall name.
        syscall: String,
        /// libseccomp's explanation.
        cause: String,
    },

    /// libseccomp refused a filter attribute that berth always sets.
    #[error("seccomp: cannot set filter attribute {attr}: {cause}")]
    Attribute {
        /// The libseccomp attribute name.
        attr: &'static str,
        /// libseccomp's explanation.
        cause: String,
    },

    /// The kernel refused the filter. `EACCES` means the process has neither
    /// no_new_privs nor CAP_SYS_ADMIN in its user namespace.
    #[error("seccomp: cannot load the filter into the kernel: {cause}{hint}")]
    Load {
        /// The OS error (the real errno where libseccomp can report it).
        cause: std::io::Error,
        /// Extra advice for well-known causes, empty otherwise.
        hint: &'static str,
    },

    /// libseccomp could not write the compiled program out.
    #[error("seccomp: cannot export the compiled filter: {cause}")]
    Export {
        /// libseccomp's or the OS's explanation.
        cause: String,
    },

    /// The filter uses NOTIFY but libseccomp gave no listener fd.
    #[error("seccomp: cannot get the notify fd of the loaded filter: {cause}")]
    NotifyFd {
        /// libseccomp's explanation.
        cause: String,
    },
}

impl Error {
    /// [`Error::Load`] for the kernel's `cause`, with the advice for
    /// `EACCES`: one message whether libseccomp or seccomp(2) loaded.
    pub(crate) fn load(cause: std::io::Error) -> Error {
        let hint = if cause.raw_os_error() == Some(libc::EACCES) {
            " (loading needs no_new_privs or CAP_SYS_ADMIN)"
        } else {
            ""
        };
        Error::Load { cause, hint }
    }
}
