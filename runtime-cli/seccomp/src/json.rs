//! Reading a `linux.seccomp` object from JSON with errors that name the field.
//!
//! oci-spec's typed profile cannot even hold an unknown action, architecture,
//! operator or flag: serde stops at the first one with "unknown variant" and a
//! line/column. runc reports such mistakes by field and syscall, so the names
//! are checked here on the raw JSON first and only then decoded.

use oci_spec::runtime::LinuxSeccomp;
use serde_json::Value;

use crate::convert::{ACTIONS, ARCHES, FLAGS, OPERATORS};
use crate::Error;

/// Decodes a `linux.seccomp` JSON object into oci-spec's profile type,
/// reporting unknown names the way runc does.
///
/// The runtime can call this on `config.json`'s `linux.seccomp` value (before
/// decoding the whole spec) to turn a typo into
/// `seccomp: unknown action "SCMP_ACT_FOO" for syscall "read"` rather than a
/// serde message. Values of the wrong type and other structural problems are
/// left to serde and reported as [`Error::InvalidProfile`].
pub fn profile_from_json(value: &Value) -> Result<LinuxSeccomp, Error> {
    check_names(value)?;
    serde_json::from_value(value.clone()).map_err(|e| Error::InvalidProfile {
        reason: e.to_string(),
    })
}

fn known(table: impl IntoIterator<Item = &'static str>, name: &str) -> bool {
    table.into_iter().any(|known| known == name)
}

fn check_names(value: &Value) -> Result<(), Error> {
    if let Some(action) = value.get("defaultAction").and_then(Value::as_str) {
        if !known(ACTIONS.iter().map(|(n, _)| *n), action) {
            return Err(Error::UnknownDefaultAction {
                action: action.to_owned(),
            });
        }
    }
    for arch in strings(value.get("architectures")) {
        if !known(ARCHES.iter().map(|(n, _, _)| *n), arch) {
            return Err(Error::UnknownArch {
                arch: arch.to_owned(),
            });
        }
    }
    for flag in strings(value.get("flags")) {
        if !known(FLAGS.iter().map(|(n, _)| *n), flag) {
            return Err(Error::UnknownFlag {
                flag: flag.to_owned(),
            });
        }
    }
    let entries = value.get("syscalls").and_then(Value::as_array);
    for entry in entries.into_iter().flatten() {
        let syscall = || strings(entry.get("names")).collect::<Vec<_>>().join(", ");
        if let Some(action) = entry.get("action").and_then(Value::as_str) {
            if !known(ACTIONS.iter().map(|(n, _)| *n), action) {
                return Err(Error::UnknownAction {
                    action: action.to_owned(),
                    syscall: syscall(),
                });
            }
        }
        let args = entry.get("args").and_then(Value::as_array);
        for op in args.into_iter().flatten().filter_map(|a| a.get("op")) {
            if let Some(op) = op.as_str() {
                if !known(OPERATORS.iter().map(|(n, _)| *n), op) {
                    return Err(Error::UnknownOperator {
                        op: op.to_owned(),
                        syscall: syscall(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// The string items of an optional JSON array; anything else yields nothing
/// here and is left for serde to reject with its own message.
fn strings(value: Option<&Value>) -> impl Iterator<Item = &str> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{Arch, LinuxSeccompAction, LinuxSeccompOperator};
    use serde_json::json;

    fn err(value: Value) -> String {
        profile_from_json(&value).unwrap_err().to_string()
    }

    #[test]
    fn decodes_a_full_profile() {
        let p = profile_from_json(&json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "listenerPath": "/run/agent.sock",
            "listenerMetadata": "meta",
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 4294967295u64, "op": "SCMP_CMP_EQ"}]}
            ]
        }))
        .unwrap();
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(38));
        assert_eq!(
            p.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86][..])
        );
        let syscalls = p.syscalls().as_ref().unwrap();
        assert_eq!(syscalls[0].names(), &["read", "write"]);
        let args = syscalls[1].args().as_ref().unwrap();
        assert_eq!(args[0].op(), LinuxSeccompOperator::ScmpCmpEq);
        assert_eq!(args[0].value(), 0xffff_ffff);
    }

    #[test]
    fn unknown_action_names_the_syscall() {
        assert_eq!(
            err(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_FOO"}]
            })),
            "seccomp: unknown action \"SCMP_ACT_FOO\" for syscall \"read\""
        );
        assert_eq!(
            err(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["read", "pread64"], "action": "allow"}]
            })),
            "seccomp: unknown action \"allow\" for syscall \"read, pread64\""
        );
    }

    #[test]
    fn unknown_default_action() {
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_DENY"})),
            "seccomp: unknown defaultAction \"SCMP_ACT_DENY\""
        );
    }

    #[test]
    fn unknown_arch() {
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_AMD64"]})),
            "seccomp: unknown architecture \"SCMP_ARCH_AMD64\""
        );
    }

    #[test]
    fn unknown_operator() {
        assert_eq!(
            err(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                              "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_APPROX"}]}]
            })),
            "seccomp: unknown operator \"SCMP_CMP_APPROX\" for syscall \"personality\""
        );
    }

    #[test]
    fn unknown_flag() {
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"]})),
            "seccomp: unknown flag \"SECCOMP_FILTER_FLAG_FAST\""
        );
    }

    #[test]
    fn structural_errors_come_from_serde() {
        let msg = err(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}),
        );
        assert!(msg.starts_with("seccomp: invalid profile: "), "{msg}");
        assert!(msg.contains("names"), "{msg}");
        let msg = err(json!({"defaultAction": 3}));
        assert!(msg.starts_with("seccomp: invalid profile: "), "{msg}");
    }
}
