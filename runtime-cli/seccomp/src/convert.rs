//! Pure conversions from OCI `linux.seccomp` fields to libseccomp values.
//!
//! Nothing here talks to libseccomp's filter state or the kernel, so every
//! rule of the translation can be unit-tested on its own.

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp};
use oci_spec::runtime::{
    Arch, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};

use crate::Error;

/// The errno used when ERRNO or TRACE come without `errnoRet`: the runtime
/// spec says EPERM, and runc uses it for TRACE too.
pub(crate) const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

/// libseccomp rejects `SCMP_ACT_ERRNO(n)` unless `n < MAX_ERRNO` (4095); the
/// kernel would clamp larger values anyway.
pub(crate) const MAX_ERRNO_RET: u32 = 4094;

/// `SCMP_ACT_TRACE(n)` carries `n` in the 16-bit data field of the return value.
pub(crate) const MAX_TRACE_RET: u32 = u16::MAX as u32;

/// A syscall has at most six arguments.
pub(crate) const MAX_ARGS: usize = 6;

/// Every OCI action with its spec name, in the order `berth-runtime features` lists them.
pub(crate) const ACTIONS: &[(&str, LinuxSeccompAction)] = &[
    ("SCMP_ACT_ALLOW", LinuxSeccompAction::ScmpActAllow),
    ("SCMP_ACT_ERRNO", LinuxSeccompAction::ScmpActErrno),
    ("SCMP_ACT_KILL", LinuxSeccompAction::ScmpActKill),
    (
        "SCMP_ACT_KILL_PROCESS",
        LinuxSeccompAction::ScmpActKillProcess,
    ),
    (
        "SCMP_ACT_KILL_THREAD",
        LinuxSeccompAction::ScmpActKillThread,
    ),
    ("SCMP_ACT_LOG", LinuxSeccompAction::ScmpActLog),
    ("SCMP_ACT_NOTIFY", LinuxSeccompAction::ScmpActNotify),
    ("SCMP_ACT_TRACE", LinuxSeccompAction::ScmpActTrace),
    ("SCMP_ACT_TRAP", LinuxSeccompAction::ScmpActTrap),
];

/// Every OCI architecture with its spec name and libseccomp token.
pub(crate) const ARCHES: &[(&str, Arch, ScmpArch)] = &[
    (
        "SCMP_ARCH_AARCH64",
        Arch::ScmpArchAarch64,
        ScmpArch::Aarch64,
    ),
    ("SCMP_ARCH_ARM", Arch::ScmpArchArm, ScmpArch::Arm),
    (
        "SCMP_ARCH_LOONGARCH64",
        Arch::ScmpArchLoongarch64,
        ScmpArch::Loongarch64,
    ),
    ("SCMP_ARCH_M68K", Arch::ScmpArchM68k, ScmpArch::M68k),
    ("SCMP_ARCH_MIPS", Arch::ScmpArchMips, ScmpArch::Mips),
    ("SCMP_ARCH_MIPS64", Arch::ScmpArchMips64, ScmpArch::Mips64),
    (
        "SCMP_ARCH_MIPS64N32",
        Arch::ScmpArchMips64n32,
        ScmpArch::Mips64N32,
    ),
    ("SCMP_ARCH_MIPSEL", Arch::ScmpArchMipsel, ScmpArch::Mipsel),
    (
        "SCMP_ARCH_MIPSEL64",
        Arch::ScmpArchMipsel64,
        ScmpArch::Mipsel64,
    ),
    (
        "SCMP_ARCH_MIPSEL64N32",
        Arch::ScmpArchMipsel64n32,
        ScmpArch::Mipsel64N32,
    ),
    ("SCMP_ARCH_NATIVE", Arch::ScmpArchNative, ScmpArch::Native),
    ("SCMP_ARCH_PARISC", Arch::ScmpArchParisc, ScmpArch::Parisc),
    (
        "SCMP_ARCH_PARISC64",
        Arch::ScmpArchParisc64,
        ScmpArch::Parisc64,
    ),
    ("SCMP_ARCH_PPC", Arch::ScmpArchPpc, ScmpArch::Ppc),
    ("SCMP_ARCH_PPC64", Arch::ScmpArchPpc64, ScmpArch::Ppc64),
    (
        "SCMP_ARCH_PPC64LE",
        Arch::ScmpArchPpc64le,
        ScmpArch::Ppc64Le,
    ),
    (
        "SCMP_ARCH_RISCV64",
        Arch::ScmpArchRiscv64,
        ScmpArch::Riscv64,
    ),
    ("SCMP_ARCH_S390", Arch::ScmpArchS390, ScmpArch::S390),
    ("SCMP_ARCH_S390X", Arch::ScmpArchS390x, ScmpArch::S390X),
    ("SCMP_ARCH_SH", Arch::ScmpArchSh, ScmpArch::Sh),
    ("SCMP_ARCH_SHEB", Arch::ScmpArchSheb, ScmpArch::Sheb),
    ("SCMP_ARCH_X32", Arch::ScmpArchX32, ScmpArch::X32),
    ("SCMP_ARCH_X86", Arch::ScmpArchX86, ScmpArch::X86),
    ("SCMP_ARCH_X86_64", Arch::ScmpArchX86_64, ScmpArch::X8664),
];

/// Every OCI comparison operator with its spec name.
pub(crate) const OPERATORS: &[(&str, LinuxSeccompOperator)] = &[
    ("SCMP_CMP_EQ", LinuxSeccompOperator::ScmpCmpEq),
    ("SCMP_CMP_GE", LinuxSeccompOperator::ScmpCmpGe),
    ("SCMP_CMP_GT", LinuxSeccompOperator::ScmpCmpGt),
    ("SCMP_CMP_LE", LinuxSeccompOperator::ScmpCmpLe),
    ("SCMP_CMP_LT", LinuxSeccompOperator::ScmpCmpLt),
    ("SCMP_CMP_MASKED_EQ", LinuxSeccompOperator::ScmpCmpMaskedEq),
    ("SCMP_CMP_NE", LinuxSeccompOperator::ScmpCmpNe),
];

/// Every OCI filter flag with its spec name.
pub(crate) const FLAGS: &[(&str, LinuxSeccompFilterFlag)] = &[
    (
        "SECCOMP_FILTER_FLAG_LOG",
        LinuxSeccompFilterFlag::SeccompFilterFlagLog,
    ),
    (
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
    ),
    (
        "SECCOMP_FILTER_FLAG_TSYNC",
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
    ),
    (
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
    ),
];

/// The spec name of an action.
pub(crate) fn action_name(action: LinuxSeccompAction) -> &'static str {
    ACTIONS
        .iter()
        .find(|(_, a)| *a == action)
        .map(|(name, _)| *name)
        .unwrap_or("SCMP_ACT_?")
}

/// The spec name of an architecture.
pub(crate) fn arch_name(arch: Arch) -> &'static str {
    ARCHES
        .iter()
        .find(|(_, a, _)| *a == arch)
        .map(|(name, _, _)| *name)
        .unwrap_or("SCMP_ARCH_?")
}

/// The spec name of a filter flag.
pub(crate) fn flag_name(flag: LinuxSeccompFilterFlag) -> &'static str {
    FLAGS
        .iter()
        .find(|(_, f)| *f == flag)
        .map(|(name, _)| *name)
        .unwrap_or("SECCOMP_FILTER_FLAG_?")
}

/// The libseccomp token of an architecture.
pub(crate) fn to_scmp_arch(arch: Arch) -> ScmpArch {
    ARCHES
        .iter()
        .find(|(_, a, _)| *a == arch)
        .map(|(_, _, s)| *s)
        // Unreachable while ARCHES covers every variant (a unit test checks
        // that); native is the harmless answer, the filter has it anyway.
        .unwrap_or(ScmpArch::Native)
}

/// The spec name of a libseccomp action, for error messages.
pub(crate) fn scmp_action_name(action: ScmpAction) -> &'static str {
    match action {
        ScmpAction::KillProcess => "SCMP_ACT_KILL_PROCESS",
        ScmpAction::KillThread => "SCMP_ACT_KILL_THREAD",
        ScmpAction::Trap => "SCMP_ACT_TRAP",
        ScmpAction::Notify => "SCMP_ACT_NOTIFY",
        ScmpAction::Errno(_) => "SCMP_ACT_ERRNO",
        ScmpAction::Trace(_) => "SCMP_ACT_TRACE",
        ScmpAction::Log => "SCMP_ACT_LOG",
        ScmpAction::Allow => "SCMP_ACT_ALLOW",
        _ => "SCMP_ACT_?",
    }
}

/// Where an action comes from, so errors can name the field.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Site<'a> {
    /// `defaultAction` / `defaultErrnoRet`.
    Default,
    /// A `syscalls` entry, by its names joined with `", "`.
    Syscall(&'a str),
}

/// Converts an OCI action and its optional errno to a libseccomp action.
///
/// SCMP_ACT_KILL is the legacy name of SCMP_ACT_KILL_THREAD (as in runc and
/// libseccomp). ERRNO and TRACE default to EPERM. The runtime spec says a
/// runtime MUST fail when `errnoRet` is given with an action that has no
/// errno, so that is an error rather than silently ignored.
pub(crate) fn to_scmp_action(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    site: Site<'_>,
) -> Result<ScmpAction, Error> {
    let name = action_name(action);
    let ranged = |max: u32| -> Result<u32, Error> {
        let value = errno_ret.unwrap_or(DEFAULT_ERRNO);
        if value <= max {
            return Ok(value);
        }
        Err(match site {
            Site::Default => Error::DefaultErrnoRetOutOfRange {
                value,
                action: name,
                max,
            },
            Site::Syscall(syscall) => Error::ErrnoRetOutOfRange {
                value,
                action: name,
                max,
                syscall: syscall.to_owned(),
            },
        })
    };
    let scmp = match action {
        LinuxSeccompAction::ScmpActErrno => {
            // In range, so the cast cannot truncate.
            return Ok(ScmpAction::Errno(ranged(MAX_ERRNO_RET)? as i32));
        }
        LinuxSeccompAction::ScmpActTrace => {
            return Ok(ScmpAction::Trace(ranged(MAX_TRACE_RET)? as u16));
        }
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    };
    if errno_ret.is_some() {
        return Err(match site {
            Site::Default => Error::DefaultErrnoRetNotAllowed { action: name },
            Site::Syscall(syscall) => Error::ErrnoRetNotAllowed {
                action: name,
                syscall: syscall.to_owned(),
            },
        });
    }
    Ok(scmp)
}

/// Converts one `args` condition to a libseccomp comparison.
///
/// For SCMP_CMP_MASKED_EQ the spec (and runc) use `value` as the mask and
/// `valueTwo` as the value the masked argument must equal; for the other
/// operators `valueTwo` is unused.
pub(crate) fn to_scmp_compare(
    arg: &LinuxSeccompArg,
    syscall: &str,
) -> Result<ScmpArgCompare, Error> {
    let index = arg.index();
    if index >= MAX_ARGS {
        return Err(Error::ArgIndexOutOfRange {
            index,
            syscall: syscall.to_owned(),
        });
    }
    let (op, datum) = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, arg.value()),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, arg.value()),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, arg.value()),
        LinuxSeccompOperator::ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(arg.value()),
            arg.value_two().unwrap_or(0),
        ),
    };
    // In range, so the cast cannot truncate.
    Ok(ScmpArgCompare::new(index as u32, op, datum))
}

/// Turns a syscall entry's `args` into the condition lists of the rules to add.
///
/// libseccomp ANDs the comparisons of one rule and allows each argument only
/// once per rule, so runc's rule applies: when no argument index repeats, all
/// conditions form a single rule (AND); as soon as any index appears twice,
/// every condition becomes a rule of its own (OR), which is the only way to
/// express "arg0 == 1 or arg0 == 2". No `args` gives one unconditional rule.
pub(crate) fn rule_conditions(
    args: &[LinuxSeccompArg],
    syscall: &str,
) -> Result<Vec<Vec<ScmpArgCompare>>, Error> {
    let conditions = args
        .iter()
        .map(|arg| to_scmp_compare(arg, syscall))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = [false; MAX_ARGS];
    // Indexes were checked above, so they are all below MAX_ARGS.
    let repeated = args
        .iter()
        .any(|arg| std::mem::replace(&mut seen[arg.index()], true));
    if repeated {
        Ok(conditions.into_iter().map(|c| vec![c]).collect())
    } else {
        Ok(vec![conditions])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxSeccompArgBuilder;

    fn arg(index: usize, op: LinuxSeccompOperator, value: u64) -> LinuxSeccompArg {
        LinuxSeccompArgBuilder::default()
            .index(index)
            .op(op)
            .value(value)
            .build()
            .unwrap()
    }

    #[test]
    fn tables_match_oci_spec_names() {
        // The tables are the names serde accepts in config.json; oci-spec's
        // Display uses the same strings, so any drift shows up here.
        for (name, action) in ACTIONS {
            assert_eq!(action.to_string(), *name);
        }
        for (name, arch, _) in ARCHES {
            assert_eq!(arch.to_string(), *name);
        }
        for (name, op) in OPERATORS {
            assert_eq!(op.to_string(), *name);
        }
        for (name, flag) in FLAGS {
            assert_eq!(flag.to_string(), *name);
        }
    }

    #[test]
    fn arch_tokens() {
        assert_eq!(to_scmp_arch(Arch::ScmpArchX86_64), ScmpArch::X8664);
        assert_eq!(to_scmp_arch(Arch::ScmpArchX86), ScmpArch::X86);
        assert_eq!(to_scmp_arch(Arch::ScmpArchX32), ScmpArch::X32);
        assert_eq!(to_scmp_arch(Arch::ScmpArchAarch64), ScmpArch::Aarch64);
        assert_eq!(to_scmp_arch(Arch::ScmpArchMips64n32), ScmpArch::Mips64N32);
        assert_eq!(to_scmp_arch(Arch::ScmpArchNative), ScmpArch::Native);
        assert_eq!(arch_name(Arch::ScmpArchS390x), "SCMP_ARCH_S390X");
        // Every spec arch maps to a distinct token.
        let mut tokens: Vec<_> = ARCHES.iter().map(|(_, _, s)| format!("{s:?}")).collect();
        tokens.sort();
        tokens.dedup();
        assert_eq!(tokens.len(), ARCHES.len());
    }

    #[test]
    fn actions_without_errno() {
        let cases = [
            (LinuxSeccompAction::ScmpActKill, ScmpAction::KillThread),
            (
                LinuxSeccompAction::ScmpActKillThread,
                ScmpAction::KillThread,
            ),
            (
                LinuxSeccompAction::ScmpActKillProcess,
                ScmpAction::KillProcess,
            ),
            (LinuxSeccompAction::ScmpActTrap, ScmpAction::Trap),
            (LinuxSeccompAction::ScmpActNotify, ScmpAction::Notify),
            (LinuxSeccompAction::ScmpActLog, ScmpAction::Log),
            (LinuxSeccompAction::ScmpActAllow, ScmpAction::Allow),
        ];
        for (oci, scmp) in cases {
            assert_eq!(to_scmp_action(oci, None, Site::Default).unwrap(), scmp);
            assert_eq!(
                to_scmp_action(oci, None, Site::Syscall("read")).unwrap(),
                scmp
            );
        }
    }

    #[test]
    fn errno_and_trace_values() {
        let errno = LinuxSeccompAction::ScmpActErrno;
        let trace = LinuxSeccompAction::ScmpActTrace;
        let site = Site::Syscall("mkdir");
        assert_eq!(
            to_scmp_action(errno, None, site).unwrap(),
            ScmpAction::Errno(libc::EPERM)
        );
        assert_eq!(
            to_scmp_action(errno, Some(libc::ENOSYS as u32), site).unwrap(),
            ScmpAction::Errno(libc::ENOSYS)
        );
        assert_eq!(
            to_scmp_action(errno, Some(0), site).unwrap(),
            ScmpAction::Errno(0)
        );
        assert_eq!(
            to_scmp_action(errno, Some(4094), site).unwrap(),
            ScmpAction::Errno(4094)
        );
        assert_eq!(
            to_scmp_action(trace, None, site).unwrap(),
            ScmpAction::Trace(libc::EPERM as u16)
        );
        assert_eq!(
            to_scmp_action(trace, Some(65535), site).unwrap(),
            ScmpAction::Trace(65535)
        );
    }

    #[test]
    fn errno_out_of_range() {
        let err = to_scmp_action(
            LinuxSeccompAction::ScmpActErrno,
            Some(4095),
            Site::Syscall("mkdir"),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "seccomp: errnoRet 4095 is out of range for SCMP_ACT_ERRNO (at most 4094) for syscall \"mkdir\""
        );
        let err = to_scmp_action(LinuxSeccompAction::ScmpActTrace, Some(65536), Site::Default)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "seccomp: defaultErrnoRet 65536 is out of range for SCMP_ACT_TRACE (at most 65535)"
        );
    }

    #[test]
    fn errno_ret_only_with_errno_or_trace() {
        let err = to_scmp_action(
            LinuxSeccompAction::ScmpActAllow,
            Some(1),
            Site::Syscall("read, write"),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "seccomp: errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, \
             not with SCMP_ACT_ALLOW for syscall \"read, write\""
        );
        let err =
            to_scmp_action(LinuxSeccompAction::ScmpActKill, Some(1), Site::Default).unwrap_err();
        assert!(matches!(
            err,
            Error::DefaultErrnoRetNotAllowed {
                action: "SCMP_ACT_KILL"
            }
        ));
    }

    #[test]
    fn compare_ops() {
        use LinuxSeccompOperator::*;
        let cases = [
            (ScmpCmpNe, ScmpCompareOp::NotEqual),
            (ScmpCmpLt, ScmpCompareOp::Less),
            (ScmpCmpLe, ScmpCompareOp::LessOrEqual),
            (ScmpCmpEq, ScmpCompareOp::Equal),
            (ScmpCmpGe, ScmpCompareOp::GreaterEqual),
            (ScmpCmpGt, ScmpCompareOp::Greater),
        ];
        for (oci, scmp) in cases {
            assert_eq!(
                to_scmp_compare(&arg(2, oci, 42), "x").unwrap(),
                ScmpArgCompare::new(2, scmp, 42)
            );
        }
    }

    #[test]
    fn masked_eq_uses_value_as_mask() {
        let a = LinuxSeccompArgBuilder::default()
            .index(0usize)
            .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
            .value(0x7e02_0000u64)
            .value_two(0u64)
            .build()
            .unwrap();
        assert_eq!(
            to_scmp_compare(&a, "clone").unwrap(),
            ScmpArgCompare::new(0, ScmpCompareOp::MaskedEqual(0x7e02_0000), 0)
        );
        // valueTwo missing means "masked bits all clear".
        let a = arg(1, LinuxSeccompOperator::ScmpCmpMaskedEq, 0xff);
        assert_eq!(
            to_scmp_compare(&a, "x").unwrap(),
            ScmpArgCompare::new(1, ScmpCompareOp::MaskedEqual(0xff), 0)
        );
    }

    #[test]
    fn arg_index_bounds() {
        assert!(to_scmp_compare(&arg(5, LinuxSeccompOperator::ScmpCmpEq, 1), "x").is_ok());
        let err = to_scmp_compare(&arg(6, LinuxSeccompOperator::ScmpCmpEq, 1), "personality")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "seccomp: args index 6 for syscall \"personality\" is out of range (0 to 5)"
        );
    }

    #[test]
    fn no_args_is_one_unconditional_rule() {
        assert_eq!(rule_conditions(&[], "x").unwrap(), vec![Vec::new()]);
    }

    #[test]
    fn different_indexes_share_one_rule() {
        use LinuxSeccompOperator::*;
        let args = [
            arg(0, ScmpCmpEq, 1),
            arg(1, ScmpCmpNe, 2),
            arg(3, ScmpCmpGt, 3),
        ];
        assert_eq!(
            rule_conditions(&args, "x").unwrap(),
            vec![vec![
                ScmpArgCompare::new(0, ScmpCompareOp::Equal, 1),
                ScmpArgCompare::new(1, ScmpCompareOp::NotEqual, 2),
                ScmpArgCompare::new(3, ScmpCompareOp::Greater, 3),
            ]]
        );
    }

    #[test]
    fn repeated_index_splits_every_condition() {
        use LinuxSeccompOperator::*;
        let args = [arg(0, ScmpCmpEq, 1), arg(0, ScmpCmpEq, 2)];
        assert_eq!(
            rule_conditions(&args, "x").unwrap(),
            vec![
                vec![ScmpArgCompare::new(0, ScmpCompareOp::Equal, 1)],
                vec![ScmpArgCompare::new(0, ScmpCompareOp::Equal, 2)],
            ]
        );
        // runc splits all of them, also the ones on an index that occurs once.
        let args = [
            arg(0, ScmpCmpEq, 1),
            arg(1, ScmpCmpEq, 7),
            arg(0, ScmpCmpEq, 2),
        ];
        assert_eq!(rule_conditions(&args, "x").unwrap().len(), 3);
        assert!(rule_conditions(&args, "x")
            .unwrap()
            .iter()
            .all(|rule| rule.len() == 1));
    }

    #[test]
    fn bad_index_fails_grouping() {
        let args = [arg(9, LinuxSeccompOperator::ScmpCmpEq, 1)];
        assert!(matches!(
            rule_conditions(&args, "x"),
            Err(Error::ArgIndexOutOfRange { index: 9, .. })
        ));
    }
}
