//! The last steps before the container's program runs, shared by `create`
//! and `exec`: rlimits, identity, capabilities, no_new_privs, seccomp,
//! descriptor hygiene and execve.

use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{LinuxCapabilities, LinuxSeccomp, Process};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotFound(String),
    #[error("exec: {0:?}: no such file or directory")]
    NoSuchFile(String),
    #[error("exec: {path:?}: {source}")]
    Exec { path: String, source: nix::Error },
    #[error("setrlimit {resource:?}: {source}")]
    Rlimit {
        resource: String,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Sys {
        what: &'static str,
        source: nix::Error,
    },
    #[error("capabilities: {0}")]
    Caps(String),
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error("chdir to cwd ({path}) set in config.json failed: {source}")]
    Cwd { path: String, source: nix::Error },
    #[error("cwd {0} set in config.json resolves outside the container's root")]
    CwdOutsideRoot(String),
    #[error("argument or environment string contains a NUL byte")]
    Nul,
}

fn sys(what: &'static str) -> impl FnOnce(nix::Error) -> Error {
    move |source| Error::Sys { what, source }
}

/// The resolved program and its argv/envp, ready for execve.
pub struct ExecPlan {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

/// Finds the program in the container (the current root) and builds argv
/// and envp; a missing program is reported before the container starts.
pub fn plan_exec(process: &Process, uid: u32) -> Result<ExecPlan, Error> {
    let args = process.args().clone().unwrap_or_default();
    let argv0 = args.first().cloned().unwrap_or_default();
    let mut env = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home_of(uid)));
    }
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .to_string();
    let path = find_executable(&argv0, &path_var, process.cwd()).ok_or_else(|| {
        if argv0.contains('/') {
            Error::NoSuchFile(argv0.clone())
        } else {
            Error::NotFound(argv0.clone())
        }
    })?;
    let cs = |s: &[u8]| CString::new(s).map_err(|_| Error::Nul);
    Ok(ExecPlan {
        path: cs(path.as_os_str().as_bytes())?,
        argv: args
            .iter()
            .map(|a| cs(a.as_bytes()))
            .collect::<Result<_, _>>()?,
        envp: env
            .iter()
            .map(|a| cs(a.as_bytes()))
            .collect::<Result<_, _>>()?,
    })
}

fn find_executable(name: &str, path_var: &str, cwd: &Path) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        let p = if Path::new(name).is_absolute() {
            PathBuf::from(name)
        } else {
            cwd.join(name)
        };
        // a missing program is reported at create; a present one that can't
        // be run (permissions, format) gets execve's own error at start
        return p.exists().then_some(p);
    }
    path_var
        .split(':')
        .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The user's home from the container's /etc/passwd, else `/`.
fn home_of(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
            })
        })
        .unwrap_or_else(|| "/".into())
}

pub fn set_rlimits(process: &Process) -> Result<(), Error> {
    for r in process.rlimits().iter().flatten() {
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: setrlimit reads the rlimit struct we pass by reference.
        let rc = unsafe { libc::setrlimit(rlimit_resource(r.typ()), &lim) };
        if rc != 0 {
            return Err(Error::Rlimit {
                resource: format!("{:?}", r.typ()),
                source: std::io::Error::last_os_error(),
            });
        }
    }
    Ok(())
}

/// Enters `process.cwd` in the container's root. The kernel walks the path
/// refusing magic links, so a cwd such as `/proc/self/fd/N` can't follow a
/// descriptor still open at this point out of the container
/// (CVE-2024-21626).
pub fn chdir_cwd(process: &Process) -> Result<(), Error> {
    let cwd = process.cwd();
    let err = |source| Error::Cwd {
        path: cwd.display().to_string(),
        source,
    };
    match crate::safe_open::openat2(
        libc::AT_FDCWD,
        cwd,
        libc::O_PATH | libc::O_DIRECTORY,
        libc::RESOLVE_NO_MAGICLINKS,
    ) {
        Ok(fd) => nix::unistd::fchdir(std::os::fd::AsRawFd::as_raw_fd(&fd)).map_err(err)?,
        Err(nix::Error::ELOOP) if cwd.starts_with("/proc") => {
            return Err(Error::CwdOutsideRoot(cwd.display().to_string()))
        }
        Err(nix::Error::ENOSYS) => nix::unistd::chdir(cwd).map_err(err)?,
        Err(e) => return Err(err(e)),
    }
    // a cwd such as /proc/self/fd/N can lead through a descriptor still
    // open at this point to a directory outside the container's root; the
    // kernel then reports the cwd as unreachable (getcwd fails with ENOENT)
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(()),
        Ok(_) | Err(_) => Err(Error::CwdOutsideRoot(process.cwd().display().to_string())),
    }
}

/// Hides this process from /proc/<pid>/exe, /proc/<pid>/fd and ptrace by
/// other users of its namespaces until it execs: it is a copy of the
/// runtime, whose binary and descriptors are the host's.
pub fn set_non_dumpable() {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
}

fn cap_set(names: &Option<CapsHashSet>) -> CapsHashSet {
    names.clone().unwrap_or_default()
}

fn to_caps(
    list: &Option<std::collections::HashSet<oci_spec::runtime::Capability>>,
) -> Option<CapsHashSet> {
    list.as_ref().map(|l| {
        l.iter()
            .filter_map(|c| parse_capability(&c.to_string()).ok())
            .collect()
    })
}

/// The seccomp filter a process gets, made ready before the fork.
pub enum Seccomp {
    /// compiled (or read from the runtime's cache), loaded with seccomp(2)
    Compiled(berth_seccomp::Program),
    /// a NOTIFY profile: built and loaded in the process itself, since
    /// that load makes the listener fd the agent is sent
    Notify(LinuxSeccomp),
}

impl Seccomp {
    /// The filter `profile` asks for, validated: compiled now, or taken
    /// from the cache in `cache_dir`, unless it is a NOTIFY profile.
    pub fn prepare(
        cache_dir: &Path,
        profile: &LinuxSeccomp,
    ) -> Result<Seccomp, berth_seccomp::Error> {
        Ok(
            match berth_seccomp::Cache::new(cache_dir).program(profile)? {
                Some(p) => Seccomp::Compiled(p),
                None => Seccomp::Notify(profile.clone()),
            },
        )
    }

    fn load(&self, listener: Option<&NotifyListener>) -> Result<(), Error> {
        let seccomp = |e: berth_seccomp::Error| Error::Seccomp(e.to_string());
        let profile = match self {
            Seccomp::Compiled(p) => return p.load().map_err(seccomp),
            Seccomp::Notify(profile) => profile,
        };
        let filter = berth_seccomp::Filter::build(profile).map_err(seccomp)?;
        match (filter.load().map_err(seccomp)?, listener) {
            (Some(fd), Some(l)) => l.send(&fd),
            (Some(_), None) => Err(Error::Seccomp(
                "SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath".into(),
            )),
            (None, _) => Ok(()),
        }
    }
}

/// Identity, capabilities, no_new_privs and seccomp, in the order that keeps
/// each step possible: the bounding set while still privileged, keep-caps
/// across setuid, then the final sets; seccomp last unless it needs
/// CAP_SYS_ADMIN (no no_new_privs), then first.
pub fn finalize(
    process: &Process,
    seccomp: Option<&Seccomp>,
    listener: Option<&NotifyListener>,
    can_setgroups: bool,
) -> Result<(), Error> {
    let nnp = process.no_new_privileges().unwrap_or(false);
    if !nnp {
        if let Some(s) = seccomp {
            s.load(listener)?;
        }
    }
    let caps = process.capabilities().clone();
    if let Some(c) = &caps {
        apply_bounding(c)?;
    }
    set_keep_caps(true)?;
    let user = process.user();
    if can_setgroups {
        let gids: Vec<Gid> = user
            .additional_gids()
            .iter()
            .flatten()
            .map(|g| Gid::from_raw(*g))
            .collect();
        nix::unistd::setgroups(&gids).map_err(sys("setgroups"))?;
    }
    let gid = Gid::from_raw(user.gid());
    let uid = Uid::from_raw(user.uid());
    nix::unistd::setresgid(gid, gid, gid).map_err(sys("setgid"))?;
    nix::unistd::setresuid(uid, uid, uid).map_err(sys("setuid"))?;
    set_keep_caps(false)?;
    match &caps {
        Some(c) => apply_caps(c)?,
        None => {
            for set in [CapSet::Effective, CapSet::Permitted, CapSet::Inheritable] {
                caps::clear(None, set).map_err(|e| Error::Caps(e.to_string()))?;
            }
        }
    }
    if let Some(mask) = user.umask() {
        // SAFETY: umask only swaps the process' file mode mask.
        unsafe { libc::umask(mask as libc::mode_t) };
    }
    if nnp {
        // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(sys("prctl(PR_SET_NO_NEW_PRIVS)")(nix::Error::last()));
        }
    }
    if nnp {
        if let Some(s) = seccomp {
            s.load(listener)?;
        }
    }
    Ok(())
}

/// The agent at `linux.seccomp.listenerPath` that receives a NOTIFY
/// profile's listener fd, connected before pivot_root (the path is the
/// host's), and the container process state sent along with the fd.
pub struct NotifyListener {
    socket: std::os::unix::net::UnixStream,
    /// the profile's `listenerMetadata`, passed on as is
    metadata: String,
    message: Vec<u8>,
}

impl NotifyListener {
    /// Connects to the profile's listener, if it names one.
    pub fn connect(seccomp: Option<&LinuxSeccomp>) -> Result<Option<NotifyListener>, Error> {
        let Some(path) = seccomp.and_then(|s| s.listener_path().as_ref()) else {
            return Ok(None);
        };
        let socket = std::os::unix::net::UnixStream::connect(path).map_err(|e| {
            Error::Seccomp(format!("connect to listenerPath {}: {e}", path.display()))
        })?;
        Ok(Some(NotifyListener {
            socket,
            metadata: seccomp
                .and_then(|s| s.listener_metadata().clone())
                .unwrap_or_default(),
            message: Vec::new(),
        }))
    }

    /// Sets the spec's ContainerProcessState sent with the fd.
    pub fn describe(&mut self, pid: i32, state: serde_json::Value) {
        self.message = serde_json::to_vec(&serde_json::json!({
            "ociVersion": crate::state::OCI_VERSION,
            "fds": ["seccompFd"],
            "pid": pid,
            "metadata": self.metadata,
            "state": state,
        }))
        .expect("serializes");
    }

    fn send(&self, fd: &std::os::fd::OwnedFd) -> Result<(), Error> {
        use std::os::fd::AsRawFd;
        let iov = [std::io::IoSlice::new(&self.message)];
        let fds = [fd.as_raw_fd()];
        nix::sys::socket::sendmsg::<()>(
            self.socket.as_raw_fd(),
            &iov,
            &[nix::sys::socket::ControlMessage::ScmRights(&fds)],
            nix::sys::socket::MsgFlags::empty(),
            None,
        )
        .map_err(|e| Error::Seccomp(format!("send listener fd: {e}")))?;
        Ok(())
    }
}

fn set_keep_caps(on: bool) -> Result<(), Error> {
    // SAFETY: prctl with PR_SET_KEEPCAPS takes integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, on as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(sys("prctl(PR_SET_KEEPCAPS)")(nix::Error::last()));
    }
    Ok(())
}

/// The capabilities this kernel knows (read from procfs once per process).
fn supported_caps() -> &'static CapsHashSet {
    static SUPPORTED: std::sync::OnceLock<CapsHashSet> = std::sync::OnceLock::new();
    SUPPORTED
        .get_or_init(|| caps::runtime::procfs_all_supported(None).unwrap_or_else(|_| caps::all()))
}

fn apply_bounding(c: &LinuxCapabilities) -> Result<(), Error> {
    let keep = cap_set(&to_caps(c.bounding()));
    for &cap in supported_caps() {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| Error::Caps(e.to_string()))?;
        }
    }
    Ok(())
}

fn apply_caps(c: &LinuxCapabilities) -> Result<(), Error> {
    let supported = supported_caps();
    let only_supported = |s: CapsHashSet| -> CapsHashSet {
        s.into_iter().filter(|c| supported.contains(c)).collect()
    };
    let err = |e: caps::errors::CapsError| Error::Caps(e.to_string());
    let inheritable = only_supported(cap_set(&to_caps(c.inheritable())));
    let effective = only_supported(cap_set(&to_caps(c.effective())));
    let permitted = only_supported(cap_set(&to_caps(c.permitted())));
    // inheritable may only grow from permitted, and permitted must cover
    // effective at each step: inheritable, effective, then permitted
    caps::set(None, CapSet::Inheritable, &inheritable).map_err(err)?;
    caps::set(None, CapSet::Effective, &effective).map_err(err)?;
    caps::set(None, CapSet::Permitted, &permitted).map_err(err)?;
    caps::clear(None, CapSet::Ambient).map_err(err)?;
    for cap in only_supported(cap_set(&to_caps(c.ambient()))) {
        // ambient needs the cap in permitted and inheritable; runc skips others
        if permitted.contains(&cap) && inheritable.contains(&cap) {
            caps::raise(None, CapSet::Ambient, cap).map_err(err)?;
        }
    }
    Ok(())
}

/// Marks every descriptor from `3 + preserve` up close-on-exec, so nothing
/// of the runtime's leaks into the container.
pub fn close_leaked_fds(preserve: u32) -> Result<(), Error> {
    let first = 3 + preserve as i32;
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets descriptor flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    // kernels before 5.11: walk /proc/self/fd
    let entries = std::fs::read_dir("/proc/self/fd").map_err(|e| Error::Sys {
        what: "read /proc/self/fd",
        source: nix::errno::Errno::from_i32(e.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    let fds: Vec<i32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= first)
        .collect();
    for fd in fds {
        // SAFETY: F_SETFD on a descriptor number only changes its flags; a
        // stale number (the read_dir handle itself) just returns EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// Replaces this process with the container's program.
pub fn exec(plan: &ExecPlan) -> Error {
    // ignored signals and the blocked mask survive execve: Rust's runtime
    // ignores SIGPIPE, and the program must start with the defaults
    // SAFETY: resetting a disposition and the signal mask touches only
    // this (single-threaded) process' signal state.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
    match nix::unistd::execve(&plan.path, &plan.argv, &plan.envp) {
        Ok(never) => match never {},
        Err(source) => Error::Exec {
            path: plan.path.to_string_lossy().into_owned(),
            source,
        },
    }
}

/// Whether a user namespace lets this process call setgroups.
pub fn setgroups_allowed() -> bool {
    std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true)
}

/// `caps` capability from an oci-spec one (for exec's `--cap`).
pub fn oci_cap(c: Capability) -> Option<oci_spec::runtime::Capability> {
    c.to_string().parse().ok()
}

/// rlimit type → resource number for setrlimit.
pub fn rlimit_resource(t: oci_spec::runtime::PosixRlimitType) -> libc::__rlimit_resource_t {
    match t {
        oci_spec::runtime::PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        oci_spec::runtime::PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        oci_spec::runtime::PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        oci_spec::runtime::PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        oci_spec::runtime::PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        oci_spec::runtime::PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        oci_spec::runtime::PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        oci_spec::runtime::PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        oci_spec::runtime::PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        oci_spec::runtime::PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        oci_spec::runtime::PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        oci_spec::runtime::PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        oci_spec::runtime::PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        oci_spec::runtime::PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        oci_spec::runtime::PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        oci_spec::runtime::PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Personality domain → persona value.
pub fn personality(p: &oci_spec::runtime::LinuxPersonality) -> Result<libc::c_ulong, String> {
    let base: libc::c_ulong = match p.domain() {
        oci_spec::runtime::LinuxPersonalityDomain::PerLinux => 0x0000,
        oci_spec::runtime::LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err("linux.personality.flags are not supported".into());
    }
    Ok(base)
}

/// Parses a capability name as config.json spells it.
pub fn parse_capability(name: &str) -> Result<caps::Capability, String> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    full.parse::<caps::Capability>()
        .map_err(|_| format!("unknown capability {name:?}"))
}

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn capabilities_by_name() {
        assert_eq!(
            parse_capability("CAP_CHOWN"),
            Ok(caps::Capability::CAP_CHOWN)
        );
        assert_eq!(
            parse_capability("net_raw"),
            Ok(caps::Capability::CAP_NET_RAW)
        );
        assert!(parse_capability("CAP_BOGUS").is_err());
    }
}
