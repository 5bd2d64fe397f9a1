//! `Filter::build` on good and bad profiles; nothing is loaded here.

use berth_seccomp::{Error, Filter};
use oci_spec::runtime::{
    Arch, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompBuilder, LinuxSeccompOperator,
    LinuxSyscallBuilder,
};
use serde_json::json;

fn build(value: serde_json::Value) -> Result<Filter, Error> {
    Filter::build(&berth_seccomp::profile_from_json(&value).expect("test profile decodes"))
}

fn build_err(value: serde_json::Value) -> String {
    build(value)
        .expect_err("profile must be refused")
        .to_string()
}

#[test]
fn empty_allow_profile() {
    let filter = build(json!({"defaultAction": "SCMP_ACT_ALLOW"})).unwrap();
    assert!(!filter.uses_notify());
    assert!(filter.skipped_syscalls().is_empty());
    assert_eq!(filter.listener_path(), None);
}

#[test]
fn every_action_as_default_and_rule() {
    for default in [
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_LOG",
    ] {
        let filter = build(json!({
            "defaultAction": default,
            "listenerPath": "/run/agent.sock",
            "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["ptrace"], "action": "SCMP_ACT_KILL"},
                {"names": ["kexec_load"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["reboot"], "action": "SCMP_ACT_KILL_THREAD"},
                {"names": ["swapon"], "action": "SCMP_ACT_TRAP"},
                {"names": ["swapoff"], "action": "SCMP_ACT_TRACE", "errnoRet": 1234},
                {"names": ["acct"], "action": "SCMP_ACT_LOG"},
                {"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}
            ]
        }))
        .unwrap_or_else(|e| panic!("default {default}: {e}"));
        assert!(filter.uses_notify(), "default {default}");
    }
}

#[test]
fn rules_equal_to_the_default_are_dropped() {
    // libseccomp refuses such rules; runc skips them, conditions or not.
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}
        ]
    }));
    assert!(filter.is_ok(), "{:?}", filter.err());
    // Same action with a different errno is a real rule.
    build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    }))
    .unwrap();
}

#[test]
fn unknown_syscalls_are_skipped_once() {
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["read", "made_up_syscall", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["made_up_syscall", "another_one"], "action": "SCMP_ACT_LOG"}
        ]
    }))
    .unwrap();
    assert_eq!(
        filter.skipped_syscalls(),
        ["made_up_syscall", "another_one"]
    );
}

#[test]
fn notify_only_on_skipped_syscalls_gives_no_listener() {
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/agent.sock",
        "syscalls": [{"names": ["made_up_syscall"], "action": "SCMP_ACT_NOTIFY"}]
    }))
    .unwrap();
    assert!(!filter.uses_notify());
}

#[test]
fn listener_fields_are_kept() {
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/agent.sock",
        "listenerMetadata": "opaque",
        "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}]
    }))
    .unwrap();
    assert!(filter.uses_notify());
    assert_eq!(
        filter.listener_path(),
        Some(std::path::Path::new("/run/agent.sock"))
    );
    assert_eq!(filter.listener_metadata(), Some("opaque"));
}

#[test]
fn docker_like_profile() {
    // The shapes Docker's default profile uses: huge allow-list, personality
    // with several values on arg 0, clone with a masked flag check.
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["accept", "accept4", "access", "arch_prctl", "bind", "brk",
                       "close", "execve", "exit", "exit_group", "futex", "getpid", "mmap",
                       "openat", "read", "rt_sigreturn", "socketcall", "write"],
             "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 4294967295u64, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288u64, "valueTwo": 0,
                       "op": "SCMP_CMP_MASKED_EQ"}]}
        ]
    }));
    let filter = filter.unwrap();
    assert!(
        filter.skipped_syscalls().is_empty(),
        "{:?}",
        filter.skipped_syscalls()
    );
}

#[test]
fn typed_profile_from_builders() {
    // The runtime passes oci-spec's typed profile straight from config.json.
    let profile = LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActErrno)
        .default_errno_ret(38u32)
        .architectures(vec![Arch::ScmpArchNative])
        .syscalls(vec![
            LinuxSyscallBuilder::default()
                .names(vec!["read".to_owned(), "write".to_owned()])
                .action(LinuxSeccompAction::ScmpActAllow)
                .build()
                .unwrap(),
            LinuxSyscallBuilder::default()
                .names(vec!["personality".to_owned()])
                .action(LinuxSeccompAction::ScmpActAllow)
                .args(vec![
                    LinuxSeccompArgBuilder::default()
                        .index(0usize)
                        .value(0u64)
                        .op(LinuxSeccompOperator::ScmpCmpEq)
                        .build()
                        .unwrap(),
                    LinuxSeccompArgBuilder::default()
                        .index(0usize)
                        .value(8u64)
                        .op(LinuxSeccompOperator::ScmpCmpEq)
                        .build()
                        .unwrap(),
                ])
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap();
    Filter::build(&profile).unwrap();
}

#[test]
fn supported_flags_build() {
    for flag in berth_seccomp::supported_flags() {
        build(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": [flag]}))
            .unwrap_or_else(|e| panic!("{flag}: {e}"));
    }
}

#[test]
fn tsync_with_notify_builds_where_supported() {
    // Linux 5.7+ with libseccomp 2.5 can sync threads and hand out a listener
    // for the same filter (API level 6, which NOTIFY needs anyway).
    build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/agent.sock",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}]
    }))
    .unwrap();
}

#[test]
fn unsupported_flag_is_named() {
    if berth_seccomp::supported_flags().contains(&"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") {
        return;
    }
    let err = build_err(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
    }));
    assert!(
        err.starts_with(
            "seccomp: flag SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV cannot be used with libseccomp "
        ),
        "{err}"
    );
}

#[test]
fn unsupported_arch_is_named() {
    // Arches newer than the host's libseccomp (LoongArch, m68k, SuperH came
    // with 2.6) must fail with the name; the supported ones must build.
    let supported = berth_seccomp::supported_archs();
    for name in [
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_RISCV64",
        "SCMP_ARCH_LOONGARCH64",
        "SCMP_ARCH_SH",
    ] {
        let result = build(json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": [name]}));
        if supported.contains(&name) {
            result.unwrap_or_else(|e| panic!("{name}: {e}"));
        } else {
            let err = result.expect_err(name).to_string();
            assert!(
                err.starts_with(&format!(
                    "seccomp: architecture {name} is not supported by libseccomp "
                )),
                "{err}"
            );
        }
    }
}

#[test]
fn refuses_errno_ret_on_other_actions() {
    assert_eq!(
        build_err(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]
        })),
        "seccomp: errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, \
         not with SCMP_ACT_KILL for syscall \"read\""
    );
    assert_eq!(
        build_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1})),
        "seccomp: defaultErrnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, \
         not with defaultAction SCMP_ACT_ALLOW"
    );
}

#[test]
fn refuses_out_of_range_errno() {
    assert_eq!(
        build_err(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000})),
        "seccomp: defaultErrnoRet 70000 is out of range for SCMP_ACT_ERRNO (at most 4094)"
    );
    assert_eq!(
        build_err(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4095}]
        })),
        "seccomp: errnoRet 4095 is out of range for SCMP_ACT_ERRNO (at most 4094) for syscall \"getcwd\""
    );
}

#[test]
fn refuses_bad_arg_index() {
    assert_eq!(
        build_err(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]
        })),
        "seccomp: args index 6 for syscall \"personality\" is out of range (0 to 5)"
    );
}

#[test]
fn refuses_empty_syscall_name() {
    assert_eq!(
        build_err(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["write", ""], "action": "SCMP_ACT_ERRNO"}
            ]
        })),
        "seccomp: syscalls[1] has an empty syscall name"
    );
}

#[test]
fn refuses_notify_as_default() {
    assert!(matches!(
        build(json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/run/a.sock"})),
        Err(Error::NotifyAsDefaultAction)
    ));
}

#[test]
fn refuses_notify_on_write() {
    assert_eq!(
        build_err(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/a.sock",
            "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]
        })),
        "seccomp: SCMP_ACT_NOTIFY cannot be used for syscall \"write\""
    );
}

#[test]
fn refuses_notify_without_listener_path() {
    assert_eq!(
        build_err(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mount", "umount2"], "action": "SCMP_ACT_NOTIFY"}]
        })),
        "seccomp: listenerPath is required because syscall \"mount, umount2\" uses SCMP_ACT_NOTIFY"
    );
}

#[test]
fn json_name_errors_reach_the_caller() {
    let err = berth_seccomp::profile_from_json(&json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_FOO"}]
    }))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "seccomp: unknown action \"SCMP_ACT_FOO\" for syscall \"read\""
    );
}
