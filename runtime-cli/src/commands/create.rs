//! `create`: from a bundle to an init process waiting in its namespaces.
//!
//! The runtime forks an intermediate child that joins and creates the
//! namespaces (asking the runtime to write its id maps after it unshares a
//! user namespace), then clones the container's init as a sibling
//! (CLONE_PARENT), so init is the runtime's child and lives in the new pid
//! namespace. Anything that fails leaves no state dir, cgroup or process.

use crate::config::{self, Bundle};
use crate::init::{self, InitContext};
use crate::namespaces::NamespacePlan;
use crate::state::{self, ContainerState};
use crate::sync::{self, Message};
use crate::{console, hooks, idmap, spawn};
use berth_cgroups::{Cgroup, Hierarchies};
use oci_spec::runtime::{
    LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxNamespaceType, LinuxResources,
};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::Error),
    #[error(transparent)]
    State(#[from] state::Error),
    #[error("cgroup: {0}")]
    Cgroup(#[from] berth_cgroups::Error),
    #[error(transparent)]
    Console(#[from] console::Error),
    #[error(transparent)]
    Hook(#[from] hooks::Error),
    #[error(transparent)]
    Sync(#[from] sync::Error),
    #[error(transparent)]
    IdMap(#[from] idmap::Error),
    #[error("uid {0} is not root: config.json needs a user namespace (linux.namespaces type user, as `spec --rootless` writes)")]
    RootlessNeedsUserns(u32),
    #[error(
        "config.json sets linux.resources, which need cgroups that uid {uid} may not use: {why}"
    )]
    RootlessLimits { uid: u32, why: String },
    #[error("container init failed: {0}")]
    Child(String),
    #[error("{what}: {source}")]
    Sys { what: String, source: nix::Error },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot allocate a terminal when the runtime detaches without --console-socket")]
    NeedConsoleSocket,
    #[error("systemd cgroup driver requested but systemd is not running on this host; drop --systemd-cgroup")]
    NoSystemd,
}

impl From<sync::ChildError> for Error {
    fn from(e: sync::ChildError) -> Self {
        match e {
            sync::ChildError::Reported(s) => Error::Child(s),
            sync::ChildError::Sync(sync::Error::Closed) => {
                Error::Child("init exited before finishing setup".into())
            }
            sync::ChildError::Sync(e) => Error::Sync(e),
        }
    }
}

fn sys(what: impl Into<String>) -> impl FnOnce(nix::Error) -> Error {
    let what = what.into();
    move |source| Error::Sys { what, source }
}

pub struct CreateOptions<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub console_socket: Option<&'a Path>,
    pub pid_file: Option<&'a Path>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// a foreground `run`: a terminal's master comes back to the runtime
    pub foreground: bool,
}

pub struct Created {
    pub state: ContainerState,
    /// the pty master when the runtime itself holds the terminal
    pub console: Option<OwnedFd>,
}

/// Undoes a half-made container unless disarmed.
struct Cleanup {
    dir: Option<PathBuf>,
    cgroup: Option<Cgroup>,
    pids: Vec<i32>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for pid in &self.pids {
            // SAFETY: kill and waitpid on pids we forked; at worst ESRCH/ECHILD.
            unsafe {
                libc::kill(*pid, libc::SIGKILL);
                libc::waitpid(*pid, std::ptr::null_mut(), 0);
            }
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.destroy();
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub fn create(opts: &CreateOptions) -> Result<Created, Error> {
    // 1. the bundle, checked: nothing exists yet if it is bad
    let bundle = config::load(opts.bundle)?;
    let spec = &bundle.spec;
    check_console(opts, spec)?;
    let linux = spec.linux().clone().unwrap_or_default();
    let plan = NamespacePlan::from_spec(linux.namespaces().as_deref().unwrap_or(&[]));
    let caller = idmap::Caller::current();
    let id_maps = check_id_maps(&caller, &plan, &linux)?;
    let seccomp = config::seccomp(opts.root, spec)?;

    // 2. host handles: the console socket and namespace paths are resolved on the host,
    // before anything is created, so a bad one changes nothing
    let console_sock = opts.console_socket.map(console::connect).transpose()?;
    let join_fds: Vec<(LinuxNamespaceType, OwnedFd)> = plan
        .join
        .iter()
        .map(|(t, p)| open_ns(p).map(|fd| (*t, fd)))
        .collect::<Result<_, _>>()?;

    // 3. the state dir (the id is taken), the cgroup, the exec FIFO
    let dir = state::create_dir(opts.root, opts.id)?;
    let mut cleanup = Cleanup {
        dir: Some(dir.clone()),
        cgroup: None,
        pids: Vec::new(),
    };

    // found once: the cgroup setup and init's cgroup mount both need them
    let hierarchies = Hierarchies::detect()?;
    let cgroup = setup_cgroup(&bundle, opts.id, caller.uid, &hierarchies)?;
    cleanup.cgroup = cgroup.clone();

    make_exec_fifo(&dir)?;

    // 4. the container's init, cloned into its namespaces (directly, or
    // through an intermediate child that joins namespaces first)
    let (parent, child) = sync::pair()?;
    let mut ctx = InitContext {
        id: opts.id,
        bundle: &bundle,
        plan: &plan,
        state_dir: dir.clone(),
        no_pivot: opts.no_pivot,
        no_new_keyring: opts.no_new_keyring,
        preserve_fds: opts.preserve_fds,
        console_socket: console_sock.as_ref().map(|s| s.as_raw_fd()),
        host_cgroups: plan
            .creates(LinuxNamespaceType::Mount)
            .then_some(&hierarchies),
        seccomp: seccomp.as_ref(),
        direct: None,
    };

    // a cgroup2 directory we can't open is joined by a write instead
    let cgroup2_dir = cgroup
        .as_ref()
        .and_then(|c| c.open_unified())
        .and_then(Result::ok);
    // with nothing to join, the container process is cloned straight into
    // its new namespaces: no intermediate process to fork, run and reap
    // (the child joins its v1 cgroups itself: a write of `0` to `tasks` moves
    // a thread without the kernel's global cgroup lock, a write of its pid
    // from here would take it and wait out an RCU grace period)
    let may_go_direct = join_fds.is_empty() && plan.new & libc::CLONE_NEWTIME == 0;
    let join_files = match &cgroup {
        Some(cg) if may_go_direct => Some(cg.open_join_files()?),
        _ => None,
    };
    let direct = if may_go_direct {
        // SAFETY: the runtime is single-threaded, so the child may run Rust
        // code (allocation included) until it execs or exits.
        unsafe { spawn::clone_direct(plan.new, plan.new_user, cgroup2_dir.as_ref()) }
    } else {
        None
    };
    // the first message, when the runtime knows it without asking
    let mut first = None;
    let intermediate = match direct {
        Some(spawn::Direct::Child { in_unified }) => {
            drop(parent);
            drop(cgroup2_dir);
            // an unprivileged runtime (or newuidmap) may open our /proc files
            // to write the id maps only while we are dumpable; init drops it
            if !id_maps.as_ref().is_some_and(|m| m.needs_dumpable()) {
                crate::process_setup::set_non_dumpable();
            }
            ctx.direct = Some(init::Direct {
                cgroup: join_files.as_ref(),
                in_unified,
                new_cgroup_ns: plan.creates(LinuxNamespaceType::Cgroup),
            });
            init::main(&child, &ctx)
        }
        Some(spawn::Direct::Parent(pid)) => {
            cleanup.pids.push(pid);
            if let Some(maps) = &id_maps {
                maps.write(pid)?;
            }
            first = Some(Message::Pid(pid));
            None
        }
        // SAFETY: as for clone_direct above.
        None => match unsafe { spawn::fork_into(cgroup2_dir.as_ref()) }.map_err(sys("fork"))? {
            spawn::Forked::Child => {
                drop(parent);
                drop(cgroup2_dir);
                let placement = spawn::Placement {
                    cgroup: cgroup.as_ref(),
                    join: &join_fds,
                    new_user: plan.new_user,
                    new: plan.new,
                };
                spawn::intermediate(child, &placement, |ch| init::main(ch, &ctx))
            }
            spawn::Forked::Parent(pid) => {
                cleanup.pids.push(pid);
                Some(pid)
            }
        },
    };
    drop(cgroup2_dir);
    drop(join_files);
    drop(child);
    drop(console_sock);

    // 5. follow init's setup: id maps, its pid (then the state is staged),
    // the createRuntime hooks, the console, until it waits on the FIFO
    let mut init_pid = 0;
    let mut console = None;
    let mut st: Option<ContainerState> = None;
    // declared after `cleanup`, so dropped (joined) before it removes the dir
    let mut staging = StagingState(None);
    loop {
        let next = match first.take() {
            Some(m) => Ok((m, None)),
            None => parent.recv(),
        };
        let (msg, fd) = match next {
            Ok(m) => m,
            Err(sync::Error::Closed) => {
                return Err(Error::Child(
                    "container setup processes exited before finishing".into(),
                ))
            }
            Err(e) => return Err(e.into()),
        };
        match msg {
            Message::IdMapRequest => {
                let (Some(maps), Some(pid)) = (&id_maps, intermediate) else {
                    return Err(Error::Child(
                        "id maps requested without a new user namespace".into(),
                    ));
                };
                maps.write(pid)?;
                parent.send(&Message::IdMapDone)?;
            }
            Message::Pid(pid) => {
                init_pid = pid;
                if let Some(intermediate) = intermediate {
                    cleanup.pids.push(pid);
                    // SAFETY: reaping the intermediate child we forked.
                    unsafe { libc::waitpid(intermediate, std::ptr::null_mut(), 0) };
                    cleanup.pids.retain(|p| *p != intermediate);
                }
                parent.send(&Message::Go { host_pid: pid })?;
                st = Some(container_state(
                    opts,
                    &bundle,
                    &caller,
                    cgroup.clone(),
                    init_pid,
                )?);
                // the fsync is slow on some disks: it runs while init sets up
                let copy = st.clone();
                let root = opts.root.to_path_buf();
                staging.0 = Some(std::thread::spawn(move || {
                    copy.expect("state was just built").stage(&root)
                }));
            }
            Message::RunCreateRuntimeHooks => {
                run_create_runtime_hooks(&bundle, opts.id, init_pid)?;
                parent.send(&Message::HooksDone)?;
            }
            Message::ConsoleMaster => console = fd,
            Message::Ready => break,
            Message::Error(e) => return Err(Error::Child(e)),
            other => return Err(Error::Child(format!("unexpected message {other:?}"))),
        }
    }

    // 6. the state installed, the pid file written: the container exists
    let st = st.ok_or_else(|| Error::Child("init reported ready before its pid".into()))?;
    staging.install()?;
    if let Some(p) = opts.pid_file {
        write_pid_file(p, init_pid)?;
    }
    cleanup.dir = None;
    cleanup.cgroup = None;
    cleanup.pids.clear();
    Ok(Created { state: st, console })
}

/// A terminal needs somewhere to send its master: a console socket, or
/// `run` in the foreground.
fn check_console(opts: &CreateOptions, spec: &oci_spec::runtime::Spec) -> Result<(), Error> {
    let process = spec.process().as_ref();
    let terminal = process.and_then(|p| p.terminal()).unwrap_or(false);
    if terminal && opts.console_socket.is_none() && !opts.foreground {
        return Err(Error::NeedConsoleSocket);
    }
    Ok(())
}

/// The id maps a new user namespace gets, checked against what the caller
/// may map; a caller other than root needs a user namespace.
fn check_id_maps(
    caller: &idmap::Caller,
    plan: &NamespacePlan,
    linux: &oci_spec::runtime::Linux,
) -> Result<Option<idmap::Plan>, Error> {
    if caller.uid != 0 && !plan.has_user() {
        return Err(Error::RootlessNeedsUserns(caller.uid));
    }
    if !plan.new_user {
        return Ok(None);
    }
    Ok(Some(idmap::check(
        caller,
        linux.uid_mappings().as_deref().unwrap_or(&[]),
        linux.gid_mappings().as_deref().unwrap_or(&[]),
    )?))
}

/// The FIFO init blocks on until `start` opens it.
fn make_exec_fifo(dir: &Path) -> Result<(), Error> {
    let fifo = dir.join(state::EXEC_FIFO);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .map_err(sys(format!("mkfifo {}", fifo.display())))?;
    // the umask trimmed the mode; init may run as a mapped or non-root user
    std::fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622)).map_err(
        |source| Error::Io {
            what: format!("chmod {}", fifo.display()),
            source,
        },
    )
}

/// The container's record once init has its pid.
fn container_state(
    opts: &CreateOptions,
    bundle: &config::Bundle,
    caller: &idmap::Caller,
    cgroup: Option<berth_cgroups::Cgroup>,
    init_pid: i32,
) -> Result<ContainerState, Error> {
    let spec = &bundle.spec;
    let (start_time, _) = crate::procfs::stat(init_pid)
        .ok_or_else(|| Error::Child("init exited right after it was cloned".into()))?;
    Ok(ContainerState {
        id: opts.id.to_string(),
        pid: init_pid,
        pid_start_time: start_time,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: state::rfc3339_now(),
        // `list` shows who runs a rootless container; root's stays empty
        owner: match (caller.uid, &caller.name) {
            (0, _) => String::new(),
            (_, Some(name)) => name.clone(),
            (uid, None) => uid.to_string(),
        },
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup,
        config: spec.clone(),
    })
}

/// The prestart and createRuntime hooks, run by the runtime in the host's
/// namespaces while init waits.
fn run_create_runtime_hooks(bundle: &config::Bundle, id: &str, init_pid: i32) -> Result<(), Error> {
    let st = bundle.state_json(id, init_pid, "created");
    if let Some(h) = bundle.spec.hooks() {
        #[allow(deprecated)]
        hooks::run("prestart", h.prestart().as_deref().unwrap_or(&[]), &st)?;
        hooks::run(
            "createRuntime",
            h.create_runtime().as_deref().unwrap_or(&[]),
            &st,
        )?;
    }
    Ok(())
}

/// The state file being written and fsynced on another thread; joined
/// (and its temporary file removed, unless installed) when dropped.
struct StagingState(Option<std::thread::JoinHandle<Result<state::Staged, state::Error>>>);

impl StagingState {
    fn install(&mut self) -> Result<(), Error> {
        let handle = self
            .0
            .take()
            .ok_or_else(|| Error::Child("no state file was staged".into()))?;
        let staged = handle
            .join()
            .map_err(|_| Error::Child("the state writer panicked".into()))??;
        Ok(staged.install()?)
    }
}

impl Drop for StagingState {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

pub fn write_pid_file(path: &Path, pid: i32) -> Result<(), Error> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    state::write_atomic(&path, pid.to_string().as_bytes(), 0o644).map_err(Error::State)
}

fn open_ns(path: &Path) -> Result<OwnedFd, Error> {
    let fd = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys(format!("open namespace {}", path.display())))?;
    // SAFETY: open returned a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn setup_cgroup(
    bundle: &Bundle,
    id: &str,
    uid: u32,
    h: &Hierarchies,
) -> Result<Option<Cgroup>, Error> {
    let linux = bundle.spec.linux().clone().unwrap_or_default();
    let path = linux
        .cgroups_path()
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());
    let cg = Cgroup::resolve(h, path.as_deref(), id)?;
    let mut resources = effective_resources(&linux);
    if uid != 0 {
        let (cg, skipped) = cg.create_permitted()?;
        // device rules need CAP_SYS_ADMIN on the host: the container's /dev
        // holds only bind-mounted host nodes the user may open anyway
        resources.set_devices(None);
        if let Some(first) = skipped.first() {
            if has_limits(&resources) {
                if let Some(cg) = &cg {
                    let _ = cg.destroy();
                }
                return Err(Error::RootlessLimits {
                    uid,
                    why: first.to_string(),
                });
            }
            let total = skipped.len() + cg.as_ref().map_or(0, |c| c.paths().len());
            let which = if cg.is_none() {
                "cgroups".to_string()
            } else {
                format!("{} of {total} cgroup hierarchies", skipped.len())
            };
            crate::logging::warn(&format!(
                "running without {which}: uid {uid} may not use them ({first})"
            ));
        }
        let Some(cg) = cg else { return Ok(None) };
        if let Err(e) = cg.apply(&resources) {
            let _ = cg.destroy();
            return Err(e.into());
        }
        return Ok(Some(cg));
    }
    cg.create()?;
    if let Err(e) = cg.apply(&resources) {
        let _ = cg.destroy();
        return Err(e.into());
    }
    Ok(Some(cg))
}

/// Whether resources set anything that needs a cgroup (devices aside).
fn has_limits(r: &LinuxResources) -> bool {
    r.memory().is_some()
        || r.cpu().is_some()
        || r.pids().is_some()
        || r.block_io().is_some()
        || r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty())
        || r.network().is_some()
        || r.rdma().as_ref().is_some_and(|m| !m.is_empty())
        || r.unified().as_ref().is_some_and(|m| !m.is_empty())
}

/// The container's resources with the device rules every container needs
/// (the standard nodes, ptys, mknod) and its own `linux.devices` allowed
/// after the config's rules, as runc does: a config that denies all
/// devices still gets a working /dev/null.
pub fn effective_resources(linux: &oci_spec::runtime::Linux) -> LinuxResources {
    let mut r = linux.resources().clone().unwrap_or_default();
    let mut rules = r.devices().clone().unwrap_or_default();
    let rule = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(typ)
            .access(access.to_string());
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build().expect("device rule")
    };
    use LinuxDeviceType::{B, C};
    rules.extend([
        rule(C, None, None, "m"),
        rule(B, None, None, "m"),
        rule(C, Some(1), Some(3), "rwm"),
        rule(C, Some(1), Some(8), "rwm"),
        rule(C, Some(1), Some(7), "rwm"),
        rule(C, Some(5), Some(0), "rwm"),
        rule(C, Some(1), Some(5), "rwm"),
        rule(C, Some(1), Some(9), "rwm"),
        rule(C, Some(136), None, "rwm"),
        rule(C, Some(5), Some(2), "rwm"),
        rule(C, Some(10), Some(200), "rwm"),
    ]);
    for d in linux.devices().iter().flatten() {
        rules.push(rule(d.typ(), Some(d.major()), Some(d.minor()), "rwm"));
    }
    r.set_devices(Some(rules));
    r
}
