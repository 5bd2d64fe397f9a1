//! The intermediate process between the runtime and a container process:
//! it joins the container's cgroup and namespaces (creating a user namespace
//! first where asked, then the others), and clones the container process as
//! the runtime's own child (CLONE_PARENT) so the runtime can wait for it.

use crate::plan;
use crate::sync::{Channel, Message};
use berth_cgroups::Cgroup;
use oci_spec::runtime::LinuxNamespaceType;
use std::os::fd::{AsRawFd, OwnedFd};

/// Where the container process goes: cgroup and namespaces.
pub struct Placement<'a> {
    pub cgroup: Option<&'a Cgroup>,
    /// namespaces to join, in `plan::JOIN_ORDER`
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
    crate::process::set_non_dumpable();
    let result = (|| -> Result<(), String> {
        if let Some(cg) = placement.cgroup {
            cg.add_process(std::process::id() as i32)
                .map_err(|e| format!("join cgroup: {e}"))?;
        }
        for (t, fd) in placement.join {
            plan::setns(fd.as_raw_fd(), *t)
                .map_err(|e| format!("join {} namespace: {e}", plan::proc_ns_name(*t)))?;
        }
        if placement.new_user {
            plan::unshare(libc::CLONE_NEWUSER)
                .map_err(|e| format!("create user namespace: {e}"))?;
            ch.send(&Message::IdMapRequest).map_err(|e| e.to_string())?;
            match ch.reply() {
                Ok(Message::IdMapDone) => {}
                Ok(m) => return Err(format!("unexpected message {m:?}")),
                Err(e) => return Err(e.to_string()),
            }
        }
        if placement.new != 0 {
            plan::unshare(placement.new).map_err(|e| format!("create namespaces: {e}"))?;
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
