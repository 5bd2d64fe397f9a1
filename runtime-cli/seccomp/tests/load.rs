//! Loads real filters into forked children and watches what the kernel does.
//!
//! Each test builds its [`Filter`] in the parent, forks, and in the child
//! sets no_new_privs, loads the filter, makes the syscall under test and
//! `_exit`s with a code that reports the outcome. The test harness is
//! multi-threaded, so the child sticks to async-signal-safe calls apart from
//! the filter load itself (which allocates; glibc's malloc survives fork).
//! Probes use `libc::syscall` so the exact argument registers are known and
//! errno comes straight from the kernel.

use std::os::fd::AsRawFd;

use berth_seccomp::Filter;
use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags, ScmpSyscall};
use oci_spec::runtime::LinuxSeccomp;
use serde_json::json;

/// Exit code of a child whose filter failed to load.
const LOAD_FAILED: i32 = 250;
/// Exit code of a child that could not set no_new_privs.
const NNP_FAILED: i32 = 251;
/// Exit code of a child whose probe panicked.
const PANICKED: i32 = 252;

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Exited(i32),
    Signaled(i32),
}

fn profile(value: serde_json::Value) -> LinuxSeccomp {
    berth_seccomp::profile_from_json(&value).expect("test profile decodes")
}

fn build(value: serde_json::Value) -> Filter {
    Filter::build(&profile(value)).expect("test profile builds")
}

/// Forks; the child loads `filter`, runs `probe` with the notify fd (if any)
/// and exits with its result. Returns how the child ended.
fn run_in_child(
    filter: Filter,
    probe: impl FnOnce(Option<std::os::fd::OwnedFd>) -> i32,
) -> Outcome {
    run_loaded(move || filter.load(), probe)
}

/// Forks; the child calls `load`, runs `probe` with the notify fd it gave
/// (if any) and exits with its result. Returns how the child ended.
fn run_loaded(
    load: impl FnOnce() -> Result<Option<std::os::fd::OwnedFd>, berth_seccomp::Error>,
    probe: impl FnOnce(Option<std::os::fd::OwnedFd>) -> i32,
) -> Outcome {
    // SAFETY: fork in a multi-threaded process is fine as long as the child
    // only uses async-signal-safe functions; it does, apart from the libseccomp
    // load (malloc/free, which glibc makes fork-safe). It never returns into
    // the test harness: every path ends in _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // No core files from the SIGSYS tests.
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: setrlimit reads a valid rlimit struct; prctl with
            // PR_SET_NO_NEW_PRIVS takes plain integers.
            unsafe {
                libc::setrlimit(libc::RLIMIT_CORE, &no_core);
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    return NNP_FAILED;
                }
            }
            match load() {
                Ok(fd) => probe(fd),
                Err(_) => LOAD_FAILED,
            }
        }))
        .unwrap_or(PANICKED);
        // SAFETY: _exit ends the child at once without running the parent's
        // atexit handlers or destructors.
        unsafe { libc::_exit(code) };
    }
    // The parent's copy of the filter was never loaded; freeing it is all
    // that is left to do.
    drop(load);
    wait_for(pid)
}

fn wait_for(pid: libc::pid_t) -> Outcome {
    let mut status = 0;
    // SAFETY: waitpid writes the status into a valid local.
    let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(rc, pid, "waitpid: {}", std::io::Error::last_os_error());
    if libc::WIFEXITED(status) {
        Outcome::Exited(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Outcome::Signaled(libc::WTERMSIG(status))
    } else {
        panic!("unexpected wait status {status:#x}");
    }
}

/// Makes a raw syscall and reports 0 on success or the errno on failure.
fn errno_of(nr: libc::c_long, args: [u64; 3]) -> i32 {
    // SAFETY: only called with syscalls whose arguments are integers (or a
    // buffer the caller owns), see each call site.
    let rc = unsafe { libc::syscall(nr, args[0], args[1], args[2]) };
    if rc == -1 {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(255)
    } else {
        0
    }
}

/// getcwd into a stack buffer: harmless and always succeeds unfiltered.
fn getcwd_errno() -> i32 {
    let mut buf = [0u8; 4096];
    errno_of(
        libc::SYS_getcwd,
        [buf.as_mut_ptr() as u64, buf.len() as u64, 0],
    )
}

#[test]
fn unfiltered_probe_succeeds() {
    // Baseline: an allow-everything filter loads and getcwd works, so the
    // other tests' errnos really come from their rules.
    let filter = build(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    assert_eq!(run_in_child(filter, |_| getcwd_errno()), Outcome::Exited(0));
}

#[test]
fn a_compiled_program_loads_without_libseccomp_and_filters_the_same() {
    let profile = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [
            {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTSUP},
            {"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}
        ]
    }));
    let program = Filter::build(&profile)
        .unwrap()
        .compile()
        .unwrap()
        .expect("no NOTIFY rule");
    assert_eq!(program.flags(), 2, "SECCOMP_FILTER_FLAG_LOG");
    let p = program.clone();
    let outcome = run_loaded(move || p.load().map(|()| None), |_| getcwd_errno());
    assert_eq!(outcome, Outcome::Exited(libc::ENOTSUP));
    let outcome = run_loaded(
        move || program.load().map(|()| None),
        |_| errno_of(libc::SYS_getppid, [0; 3]),
    );
    assert_eq!(outcome, Outcome::Signaled(libc::SIGSYS));
}

#[test]
fn errno_with_errno_ret() {
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTSUP},
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}
        ]
    }));
    let outcome = run_in_child(filter, |_| {
        let cwd = getcwd_errno();
        if cwd != libc::ENOTSUP {
            return 100 + cwd.min(100);
        }
        // No errnoRet means EPERM, and the directory is not created.
        let path = c"/tmp/berth-seccomp-must-not-exist";
        // SAFETY: mkdir reads a NUL-terminated string that outlives the call.
        let rc = unsafe { libc::mkdir(path.as_ptr(), 0o700) };
        if rc == -1 {
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(255)
        } else {
            0
        }
    });
    assert_eq!(outcome, Outcome::Exited(libc::EPERM));
}

#[test]
fn argument_condition_match_and_no_match() {
    // Docker's rule the other way round: personality(0xffffffff) (the
    // "query" form) is denied, every other persona allowed.
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{
            "names": ["personality"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": libc::EACCES,
            "args": [{"index": 0, "value": 0xffff_ffffu64, "op": "SCMP_CMP_EQ"}]
        }]
    }));
    let outcome = run_in_child(filter, |_| {
        // Matching argument: denied with the rule's errno.
        let denied = errno_of(libc::SYS_personality, [0xffff_ffff, 0, 0]);
        // PER_LINUX (0): allowed, and harmless (it is the current persona).
        let allowed = errno_of(libc::SYS_personality, [0, 0, 0]);
        denied * 10 + allowed
    });
    assert_eq!(outcome, Outcome::Exited(libc::EACCES * 10));
}

#[test]
fn same_index_conditions_are_alternatives() {
    // getpriority(PRIO_PROCESS, who) denied for who == 111 or who == 222.
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{
            "names": ["getpriority"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": libc::EBADSLT,
            "args": [
                {"index": 1, "value": 111, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 222, "op": "SCMP_CMP_EQ"}
            ]
        }]
    }));
    let outcome = run_in_child(filter, |_| {
        let prio = libc::PRIO_PROCESS as u64;
        let a = errno_of(libc::SYS_getpriority, [prio, 111, 0]) == libc::EBADSLT;
        let b = errno_of(libc::SYS_getpriority, [prio, 222, 0]) == libc::EBADSLT;
        // who == 0 is the caller itself: allowed and succeeds.
        let c = errno_of(libc::SYS_getpriority, [prio, 0, 0]) == 0;
        i32::from(a) | i32::from(b) << 1 | i32::from(c) << 2
    });
    assert_eq!(outcome, Outcome::Exited(0b111));
}

#[test]
fn different_index_conditions_must_all_match() {
    // getpriority denied only when which == PRIO_PROCESS and who == 0.
    let prio = libc::PRIO_PROCESS as u64;
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{
            "names": ["getpriority"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": libc::EBADSLT,
            "args": [
                {"index": 0, "value": prio, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}
            ]
        }]
    }));
    let outcome = run_in_child(filter, |_| {
        let both = errno_of(libc::SYS_getpriority, [prio, 0, 0]) == libc::EBADSLT;
        // Only the first condition holds: not denied by the filter.
        let first_only = errno_of(libc::SYS_getpriority, [prio, 1, 0]) != libc::EBADSLT;
        // Only the second holds (PRIO_PGRP, 0 = own group): allowed.
        let second_only = errno_of(libc::SYS_getpriority, [libc::PRIO_PGRP as u64, 0, 0]) == 0;
        i32::from(both) | i32::from(first_only) << 1 | i32::from(second_only) << 2
    });
    assert_eq!(outcome, Outcome::Exited(0b111));
}

#[test]
fn masked_eq_condition() {
    // Deny getpriority when the low byte of who is 0x2a, whatever the rest.
    let prio = libc::PRIO_PROCESS as u64;
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{
            "names": ["getpriority"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": libc::EBADSLT,
            "args": [{"index": 1, "value": 0xff, "valueTwo": 0x2a, "op": "SCMP_CMP_MASKED_EQ"}]
        }]
    }));
    let outcome = run_in_child(filter, |_| {
        let hit = errno_of(libc::SYS_getpriority, [prio, 0x12a, 0]) == libc::EBADSLT;
        let miss = errno_of(libc::SYS_getpriority, [prio, 0x12b, 0]) != libc::EBADSLT;
        i32::from(hit) | i32::from(miss) << 1
    });
    assert_eq!(outcome, Outcome::Exited(0b11));
}

#[test]
fn kill_default_kills_with_sigsys() {
    // Only what the child needs after loading is allowed; getppid is not.
    let profile = json!({
        "defaultAction": "SCMP_ACT_KILL",
        "syscalls": [{
            "names": ["exit", "exit_group", "brk", "mmap", "munmap", "madvise", "mprotect",
                      "rt_sigreturn"],
            "action": "SCMP_ACT_ALLOW"
        }]
    });
    // Control: loading and exiting alone survive the filter, so the SIGSYS
    // below really comes from getppid.
    assert_eq!(
        run_in_child(build(profile.clone()), |_| 0),
        Outcome::Exited(0)
    );
    let filter = build(profile);
    let outcome = run_in_child(filter, |_| {
        errno_of(libc::SYS_getppid, [0, 0, 0]);
        // Not reached: the kernel kills the child in getppid.
        0
    });
    assert_eq!(outcome, Outcome::Signaled(libc::SIGSYS));
}

#[test]
fn kill_process_rule_kills_with_sigsys() {
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]
    }));
    let outcome = run_in_child(filter, |_| errno_of(libc::SYS_getppid, [0, 0, 0]));
    assert_eq!(outcome, Outcome::Signaled(libc::SIGSYS));
}

#[test]
fn trap_raises_sigsys() {
    // With SIGSYS at its default disposition the trap terminates the child.
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_TRAP"}]
    }));
    let outcome = run_in_child(filter, |_| errno_of(libc::SYS_getppid, [0, 0, 0]));
    assert_eq!(outcome, Outcome::Signaled(libc::SIGSYS));
}

#[test]
fn default_errno_ret() {
    // Deny by default with ENOSYS (as Docker's newer profiles do), allowing
    // just what the child needs to report back.
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::ENOSYS,
        "syscalls": [{
            "names": ["exit", "exit_group", "brk", "mmap", "munmap", "madvise", "mprotect",
                      "rt_sigreturn"],
            "action": "SCMP_ACT_ALLOW"
        }]
    }));
    let outcome = run_in_child(filter, |_| getcwd_errno());
    assert_eq!(outcome, Outcome::Exited(libc::ENOSYS));
}

#[test]
fn default_errno_without_errno_ret_is_eperm() {
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["exit", "exit_group", "brk", "munmap", "madvise"],
                      "action": "SCMP_ACT_ALLOW"}]
    }));
    let outcome = run_in_child(filter, |_| getcwd_errno());
    assert_eq!(outcome, Outcome::Exited(libc::EPERM));
}

#[test]
fn trace_without_tracer_fails_with_enosys() {
    // The kernel answers SECCOMP_RET_TRACE with ENOSYS when no tracer is
    // attached, whatever the trace value.
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_TRACE", "errnoRet": 7}]
    }));
    assert_eq!(
        run_in_child(filter, |_| getcwd_errno()),
        Outcome::Exited(libc::ENOSYS)
    );
}

#[test]
fn log_allows_the_syscall() {
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_LOG"}],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"]
    }));
    assert_eq!(run_in_child(filter, |_| getcwd_errno()), Outcome::Exited(0));
}

#[test]
fn unknown_syscalls_are_skipped_and_the_rest_applies() {
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{
            "names": ["no_such_syscall_in_any_arch", "getcwd"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": libc::ENOTSUP
        }]
    }));
    assert_eq!(filter.skipped_syscalls(), ["no_such_syscall_in_any_arch"]);
    assert_eq!(
        run_in_child(filter, |_| getcwd_errno()),
        Outcome::Exited(libc::ENOTSUP)
    );
}

#[test]
fn multi_arch_filter_loads() {
    #[cfg(target_arch = "x86_64")]
    let archs = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    #[cfg(target_arch = "aarch64")]
    let archs = json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let archs = json!(["SCMP_ARCH_NATIVE"]);
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": archs,
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [
            // socketcall only exists on 32-bit ABIs: a pseudo-syscall natively.
            {"names": ["getcwd", "socketcall"], "action": "SCMP_ACT_ERRNO",
             "errnoRet": libc::ENOTSUP}
        ]
    }));
    assert_eq!(
        run_in_child(filter, |_| getcwd_errno()),
        Outcome::Exited(libc::ENOTSUP)
    );
}

#[test]
fn notify_round_trip() {
    // The child loads a filter that hands getppid to a listener, forks a
    // grandchild (which inherits the filter) and answers the grandchild's
    // getppid with 42 through the notify fd returned by load().
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/berth-test-agent.sock",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    assert!(filter.uses_notify());
    let outcome = run_in_child(filter, |fd| {
        let Some(fd) = fd else { return 1 };
        // SAFETY: the child is single-threaded, so fork is unrestricted; the
        // grandchild only makes a raw syscall and _exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: getppid takes no arguments.
            let got = unsafe { libc::syscall(libc::SYS_getppid) };
            // SAFETY: see run_in_child.
            unsafe { libc::_exit(if got == 42 { 0 } else { 2 }) };
        }
        if pid < 0 {
            return 3;
        }
        let Ok(req) = ScmpNotifReq::receive(fd.as_raw_fd()) else {
            return 4;
        };
        let expected = ScmpSyscall::from_name("getppid").unwrap();
        if req.data.syscall != expected || req.pid != pid as u32 {
            return 5;
        }
        let resp = ScmpNotifResp::new_val(req.id, 42, ScmpNotifRespFlags::empty());
        if resp.respond(fd.as_raw_fd()).is_err() {
            return 6;
        }
        match wait_for(pid) {
            Outcome::Exited(code) => code,
            Outcome::Signaled(_) => 7,
        }
    });
    assert_eq!(outcome, Outcome::Exited(0));
}

#[test]
fn notify_without_listener_fd_fails_with_enosys() {
    // Once the listener fd is closed nobody can answer, and the kernel fails
    // NOTIFY syscalls with ENOSYS instead of hanging.
    let filter = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/berth-test-agent.sock",
        "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    let outcome = run_in_child(filter, |fd| {
        if fd.is_none() {
            return 1;
        }
        drop(fd);
        getcwd_errno()
    });
    assert_eq!(outcome, Outcome::Exited(libc::ENOSYS));
}

#[test]
fn loading_without_nnp_as_root_keeps_nnp_off() {
    // libseccomp would set no_new_privs on load by default; berth turns that
    // off, so after loading (allowed here thanks to CAP_SYS_ADMIN) the flag
    // is still clear. Skipped when not running as root.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs CAP_SYS_ADMIN");
        return;
    }
    let filter = build(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    // SAFETY: as in run_in_child, the child only makes plain syscalls, loads
    // the filter and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let code = match filter.load() {
            // SAFETY: PR_GET_NO_NEW_PRIVS takes no pointers.
            Ok(_) => unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) },
            Err(_) => LOAD_FAILED,
        };
        // SAFETY: see run_in_child.
        unsafe { libc::_exit(code) };
    }
    drop(filter);
    assert_eq!(wait_for(pid), Outcome::Exited(0));
}

#[test]
fn loading_without_nnp_or_cap_sys_admin_reports_eacces() {
    // Root can shed every capability by switching to an unprivileged uid;
    // without no_new_privs the kernel then refuses the filter with EACCES,
    // and the error must say so rather than libseccomp's generic ECANCELED.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to drop to an unprivileged uid");
        return;
    }
    let filter = build(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    // SAFETY: as in run_in_child, the child only makes plain syscalls, tries
    // the load and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: setgid/setuid take plain integers.
        let dropped = unsafe { libc::setgid(65534) == 0 && libc::setuid(65534) == 0 };
        let code = if !dropped {
            1
        } else {
            match filter.load() {
                Ok(_) => 2,
                Err(berth_seccomp::Error::Load { cause, .. })
                    if cause.raw_os_error() == Some(libc::EACCES) =>
                {
                    0
                }
                Err(_) => 3,
            }
        };
        // SAFETY: see run_in_child.
        unsafe { libc::_exit(code) };
    }
    drop(filter);
    assert_eq!(wait_for(pid), Outcome::Exited(0));
}
