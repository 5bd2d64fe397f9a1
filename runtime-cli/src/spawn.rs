//! How the runtime starts a container process.
//!
//! Where it only creates namespaces ([`clone_direct`]), one clone3 makes the
//! process in its new namespaces (and, on cgroup2, in its cgroup); the
//! runtime writes its id maps while it waits, then it joins the v1
//! hierarchies through files the runtime opened for it and unshares its
//! cgroup namespace. Where it must join existing namespaces (setns of a
//! pid namespace only affects children), an intermediate process joins the
//! container's cgroup and namespaces (creating a user namespace first where
//! asked, then the others), and clones the container process as the
//! runtime's own child (CLONE_PARENT) so the runtime can wait for it.

use crate::sync::{Channel, Message};
use berth_cgroups::Cgroup;
use oci_spec::runtime::LinuxNamespaceType;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set in a child that [`fork_into`] created inside the cgroup2 directory,
/// so [`intermediate`] does not move it there again.
static JOINED_UNIFIED: AtomicBool = AtomicBool::new(false);

/// Which side of [`fork_into`] we are on.
pub enum Forked {
    Child,
    Parent(i32),
}

/// fork(2); with `cgroup2_dir`, through `clone3(CLONE_INTO_CGROUP)` so the
/// child starts in that cgroup: moving it there later would take the kernel's
/// global cgroup lock and wait out an RCU grace period. Falls back to a plain
/// fork where clone3 or CLONE_INTO_CGROUP is refused (kernels before 5.7,
/// seccomp filters); the child then joins by writing `cgroup.procs`.
///
/// # Safety
/// As for fork: the caller must be single-threaded, since the child runs
/// on with a copy of its memory.
pub unsafe fn fork_into(cgroup2_dir: Option<&OwnedFd>) -> Result<Forked, nix::Error> {
    if let Some(dir) = cgroup2_dir {
        // SAFETY: the caller guarantees a single-threaded process.
        match unsafe { clone3(CLONE_INTO_CGROUP, Some(dir)) } {
            Ok(Forked::Child) => {
                JOINED_UNIFIED.store(true, Ordering::Relaxed);
                return Ok(Forked::Child);
            }
            Ok(parent) => return Ok(parent),
            Err(_) => {}
        }
    }
    // SAFETY: the caller guarantees a single-threaded process.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => Ok(Forked::Child),
        nix::unistd::ForkResult::Parent { child } => Ok(Forked::Parent(child.as_raw())),
    }
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// fork(2) through clone3 with extra `flags` (namespaces, CLONE_INTO_CGROUP
/// with `cgroup_dir`).
///
/// # Safety
/// As for fork: the caller must be single-threaded.
unsafe fn clone3(flags: u64, cgroup_dir: Option<&OwnedFd>) -> Result<Forked, nix::Error> {
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    let args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup_dir.map_or(0, |d| d.as_raw_fd() as u64),
        ..Default::default()
    };
    // SAFETY: clone3 without CLONE_VM and without a stack is fork: the child
    // continues here on a copy of our memory; the kernel only reads `args`,
    // which lives across the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match rc {
        0 => Ok(Forked::Child),
        pid if pid > 0 => Ok(Forked::Parent(pid as i32)),
        _ => Err(nix::Error::last()),
    }
}

/// A container process cloned straight into its new namespaces.
pub enum Direct {
    /// whether it started in the cgroup2 directory
    Child {
        in_unified: bool,
    },
    Parent(i32),
}

/// Clones the container process in new namespaces `new` (clone flags, the
/// cgroup namespace excluded: the child makes that one once it has joined
/// its cgroup) plus a user namespace where `new_user`, and
/// with `cgroup2_dir` straight into that cgroup. `None` where the kernel
/// refuses (no clone3 before 5.3, a seccomp filter, or the namespaces
/// themselves): the caller then goes through [`intermediate`], which either
/// gets there step by step or says which step failed.
///
/// # Safety
/// As for fork: the caller must be single-threaded.
pub unsafe fn clone_direct(
    new: libc::c_int,
    new_user: bool,
    cgroup2_dir: Option<&OwnedFd>,
) -> Option<Direct> {
    let mut flags = (new & !libc::CLONE_NEWCGROUP) as u64;
    if new_user {
        flags |= libc::CLONE_NEWUSER as u64;
    }
    let tries = [
        cgroup2_dir.map(|d| (flags | CLONE_INTO_CGROUP, Some(d))),
        Some((flags, None)),
    ];
    for (flags, dir) in tries.into_iter().flatten() {
        // SAFETY: the caller guarantees a single-threaded process.
        match unsafe { clone3(flags, dir) } {
            Ok(Forked::Child) => {
                return Some(Direct::Child {
                    in_unified: dir.is_some(),
                })
            }
            Ok(Forked::Parent(pid)) => return Some(Direct::Parent(pid)),
            Err(_) => {}
        }
    }
    None
}

/// Where the container process goes: cgroup and namespaces.
pub struct Placement<'a> {
    pub cgroup: Option<&'a Cgroup>,
    /// namespaces to join, in `crate::namespaces::JOIN_ORDER`
    pub join: &'a [(LinuxNamespaceType, OwnedFd)],
    /// unshare a user namespace (the runtime writes its id maps on request)
    pub new_user: bool,
    /// other namespaces to unshare, as clone flags
    pub new: libc::c_int,
}

/// Runs in the forked intermediate child: enters `placement`, clones the
/// container process (which runs `child` and never returns), reports its
/// pid and exits.
pub fn intermediate(
    ch: Channel,
    placement: &Placement,
    child: impl FnOnce(&Channel) -> std::convert::Infallible,
) -> ! {
    crate::process_setup::set_non_dumpable();
    let result = (|| -> Result<(), String> {
        if let Some(cg) = placement.cgroup {
            cg.add_self(JOINED_UNIFIED.load(Ordering::Relaxed))
                .map_err(|e| format!("join cgroup: {e}"))?;
        }
        for (t, fd) in placement.join {
            crate::namespaces::setns(fd.as_raw_fd(), *t).map_err(|e| {
                format!(
                    "join {} namespace: {e}",
                    crate::namespaces::proc_ns_name(*t)
                )
            })?;
        }
        if placement.new_user {
            // read before the unshare: until the maps exist, our euid in the
            // new namespace is the overflow id
            // SAFETY: geteuid has no failure mode.
            let unprivileged = unsafe { libc::geteuid() } != 0;
            crate::namespaces::unshare(libc::CLONE_NEWUSER)
                .map_err(|e| format!("create user namespace: {e}"))?;
            // an unprivileged runtime (or newuidmap) may open our /proc files
            // only while we are dumpable; the new credentials just reset that
            if unprivileged {
                set_dumpable(true);
            }
            ch.send(&Message::IdMapRequest).map_err(|e| e.to_string())?;
            let reply = ch.reply();
            set_dumpable(false);
            match reply {
                Ok(Message::IdMapDone) => {}
                Ok(m) => return Err(format!("unexpected message {m:?}")),
                Err(e) => return Err(e.to_string()),
            }
        }
        if placement.new != 0 {
            crate::namespaces::unshare(placement.new)
                .map_err(|e| format!("create namespaces: {e}"))?;
        }
        let pid = clone_parent()?;
        if pid == 0 {
            match child(&ch) {}
        }
        ch.send(&Message::Pid(pid)).map_err(|e| e.to_string())
    })();
    let code = match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = ch.send(&Message::Error(e));
            1
        }
    };
    // SAFETY: _exit ends the forked child without unwinding into the parent's state.
    unsafe { libc::_exit(code) }
}

fn set_dumpable(on: bool) {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, libc::c_ulong::from(on), 0, 0, 0) };
}

/// fork(2) with CLONE_PARENT: the child becomes the runtime's child, not ours.
fn clone_parent() -> Result<i32, String> {
    // SAFETY: a raw clone without CLONE_VM and with a null stack behaves like
    // fork: the child gets a copy of our address space and continues here.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if rc < 0 {
        return Err(format!("clone: {}", std::io::Error::last_os_error()));
    }
    Ok(rc as i32)
}
