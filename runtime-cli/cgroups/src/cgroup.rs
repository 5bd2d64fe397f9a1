//! A container's cgroup across all hierarchies: resolving, creating, joining,
//! freezing and destroying it.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::hierarchy::{join_cgroup, Mount};
use crate::{fs, Error, Hierarchies};

/// How long freezing (and waiting for a stable freezer state) may take.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// A cgroup's join files, opened by the runtime: see [`Cgroup::open_join_files`].
#[derive(Debug)]
pub struct JoinFiles {
    files: Vec<(PathBuf, std::fs::File)>,
}

impl JoinFiles {
    /// [`Cgroup::add_self`] through the opened files.
    pub fn add_self(&self, unified_joined: bool) -> Result<(), Error> {
        use std::io::Write;
        for (path, file) in &self.files {
            if unified_joined && path.ends_with("cgroup.procs") {
                continue;
            }
            // one write(2) per file: cgroupfs takes each write as one command
            let mut file: &std::fs::File = file;
            file.write_all(b"0").map_err(|source| Error::Write {
                path: path.clone(),
                value: "0".into(),
                source,
            })?;
        }
        Ok(())
    }
}

/// A cgroup directory and the mountpoint of its hierarchy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dir {
    pub(crate) path: PathBuf,
    pub(crate) mountpoint: PathBuf,
}

/// The container's cgroup across all hierarchies.
///
/// It only holds paths, so the runtime can store it in its state file and act on
/// the cgroup from later invocations (`update`, `pause`, `delete`, ...).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Cgroup {
    /// cgroup v1: controller (or named hierarchy such as `name=systemd`) to its
    /// directory. Controllers co-mounted (`cpu,cpuacct`) share a directory.
    #[serde(default)]
    v1: BTreeMap<String, Dir>,
    /// The directory in the cgroup2 hierarchy (v2 and hybrid hosts).
    #[serde(default)]
    unified: Option<Dir>,
    /// Controllers used through `unified`: all of them on a v2 host, the ones not
    /// bound to any v1 hierarchy on a hybrid host.
    #[serde(default)]
    unified_controllers: Vec<String>,
}

/// Where a controller's files live for this cgroup.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

/// The state of the cgroup freezer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FreezerState {
    /// Processes run.
    Thawed,
    /// Freezing was requested but has not completed (or got stuck).
    Freezing,
    /// All processes are frozen.
    Frozen,
    /// The host has no usable freezer for this cgroup.
    Undefined,
}

impl Cgroup {
    /// Works out the container's cgroup directories from the OCI `cgroupsPath`.
    ///
    /// * absolute (`/foo/bar`): below each hierarchy's mountpoint;
    /// * relative (`foo/bar`): below this process's own cgroup in each hierarchy
    ///   (from /proc/self/cgroup, translated through the mount's root);
    /// * `None` or empty: `/<container_id>`.
    ///
    /// `..` components cannot climb above the hierarchy root (or, for relative
    /// paths, above our own cgroup).
    pub fn resolve(
        h: &Hierarchies,
        cgroups_path: Option<&str>,
        container_id: &str,
    ) -> Result<Cgroup, Error> {
        let (absolute, inner) = match cgroups_path.filter(|p| !p.is_empty()) {
            Some(p) => (p.starts_with('/'), clean(p)),
            None => (true, clean(container_id)),
        };
        if inner.is_empty() {
            return Err(Error::InvalidPath(
                cgroups_path.unwrap_or(container_id).to_string(),
            ));
        }
        let dir = |m: &Mount| -> Result<Dir, Error> {
            let base = if absolute {
                m.mountpoint.clone()
            } else {
                m.own_dir()?
            };
            Ok(Dir {
                path: join_cgroup(&base, &inner),
                mountpoint: m.mountpoint.clone(),
            })
        };
        let mut v1 = BTreeMap::new();
        for m in h.v1_mounts() {
            let d = dir(m)?;
            for c in &m.controllers {
                v1.insert(c.clone(), d.clone());
            }
        }
        let (unified, unified_controllers) = match h.unified() {
            Some(m) => (Some(dir(m)?), m.controllers.clone()),
            None => (None, Vec::new()),
        };
        Ok(Cgroup {
            v1,
            unified,
            unified_controllers,
        })
    }

    /// The directory holding `controller`'s files (v1 name such as `blkio`, or
    /// the v2 name), if the host has that controller.
    pub fn path(&self, controller: &str) -> Option<&Path> {
        if let Some(d) = self.v1.get(controller) {
            return Some(&d.path);
        }
        let v2_name = if controller == "blkio" {
            "io"
        } else {
            controller
        };
        match &self.unified {
            Some(u) if self.unified_controllers.iter().any(|c| c == v2_name) => Some(&u.path),
            _ => None,
        }
    }

    /// The directory in the cgroup2 hierarchy (v2 and hybrid hosts).
    pub fn unified_path(&self) -> Option<&Path> {
        self.unified.as_ref().map(|d| d.path.as_path())
    }

    /// Whether everything goes through a single cgroup2 directory.
    pub fn is_v2_only(&self) -> bool {
        self.v1.is_empty() && self.unified.is_some()
    }

    /// Every distinct directory of this cgroup, v1 hierarchies first.
    pub fn paths(&self) -> Vec<&Path> {
        let mut seen = BTreeSet::new();
        self.v1
            .values()
            .chain(self.unified.as_ref())
            .map(|d| d.path.as_path())
            .filter(|p| seen.insert(*p))
            .collect()
    }

    /// Where `v1`/`v2`'s files are, or `None` if the host has neither.
    pub(crate) fn target(&self, v1: &str, v2: &str) -> Option<Target<'_>> {
        if let Some(d) = self.v1.get(v1) {
            return Some(Target::V1(&d.path));
        }
        match &self.unified {
            Some(u) if self.unified_controllers.iter().any(|c| c == v2) => {
                Some(Target::V2(&u.path))
            }
            _ => None,
        }
    }

    /// Like [`Self::target`] but a missing controller is an error naming it.
    pub(crate) fn require(&self, v1: &str, v2: &str) -> Result<Target<'_>, Error> {
        self.target(v1, v2).ok_or_else(|| {
            let name = if self.v1.is_empty() { v2 } else { v1 };
            Error::ControllerUnavailable(name.to_string())
        })
    }

    pub(crate) fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.v1.get(controller).map(|d| d.path.as_path())
    }

    pub(crate) fn unified_controllers(&self) -> &[String] {
        &self.unified_controllers
    }

    /// Creates the cgroup directories (like `mkdir -p`) in every hierarchy.
    ///
    /// On cgroup v1, `cpuset.cpus`/`cpuset.mems` of each new (or empty) directory
    /// between the cpuset mount and the leaf are copied from the parent, since the
    /// kernel refuses tasks in a cpuset with no CPUs or memory nodes. On cgroup2,
    /// the unified controllers are enabled in `cgroup.subtree_control` of every
    /// ancestor; failures there are ignored (as runc does) because they surface as
    /// clear errors when a resource for that controller is applied.
    ///
    /// If creation fails, the directories made so far are removed again.
    pub fn create(&self) -> Result<(), Error> {
        let mut created = Vec::new();
        let res = self.create_inner(&mut created);
        if res.is_err() {
            for d in created.iter().rev() {
                let _ = std::fs::remove_dir(d);
            }
        }
        res
    }

    fn create_inner(&self, created: &mut Vec<PathBuf>) -> Result<(), Error> {
        let mut done = BTreeSet::new();
        // cpuset first so a co-mounted `cpuset,cpu` dir gets the inheritance walk.
        let ordered = self
            .v1
            .iter()
            .filter(|(c, _)| *c == "cpuset")
            .chain(self.v1.iter().filter(|(c, _)| *c != "cpuset"));
        for (controller, d) in ordered {
            if !done.insert(&d.path) {
                continue;
            }
            if controller == "cpuset" {
                create_cpuset(d, created)?;
            } else {
                created.extend(fs::mkdir_all(&d.path)?);
            }
        }
        if let Some(u) = &self.unified {
            if done.insert(&u.path) {
                created.extend(fs::mkdir_all(&u.path)?);
                // on a hybrid host a controller enabled in cgroup2 can no longer
                // be bound to a v1 hierarchy, so only what a limit needs is
                // enabled, when it is applied (see `enable_unified`)
                if self.is_v2_only() {
                    enable_controllers(u, &self.unified_controllers);
                }
            }
        }
        Ok(())
    }

    /// Like [`Self::create`] for a runtime that may lack the rights to some or
    /// all hierarchies (an unprivileged user with part of the tree delegated):
    /// the directories it may not create, or whose `cgroup.procs` it could not
    /// write, are left out instead of failing. Returns the cgroup of what was
    /// created (`None` when nothing was) and why each left-out directory was.
    /// Errors other than missing permission still fail, undoing everything.
    pub fn create_permitted(&self) -> Result<(Option<Cgroup>, Vec<Error>), Error> {
        let mut kept: Vec<PathBuf> = Vec::new();
        let mut skipped = Vec::new();
        for dir in self.paths() {
            let one = self.only(|p| p == dir);
            match one.create().and_then(|()| check_joinable(dir)) {
                Ok(()) => kept.push(dir.to_path_buf()),
                Err(e) if e.is_permission() => {
                    let _ = one.destroy();
                    skipped.push(e);
                }
                Err(e) => {
                    let _ = one.destroy();
                    let _ = self.only(|p| kept.iter().any(|k| k == p)).destroy();
                    return Err(e);
                }
            }
        }
        if kept.is_empty() {
            return Ok((None, skipped));
        }
        Ok((Some(self.only(|p| kept.iter().any(|k| k == p))), skipped))
    }

    /// This cgroup restricted to the directories `keep` accepts.
    fn only(&self, keep: impl Fn(&Path) -> bool) -> Cgroup {
        Cgroup {
            v1: self
                .v1
                .iter()
                .filter(|(_, d)| keep(&d.path))
                .map(|(c, d)| (c.clone(), d.clone()))
                .collect(),
            unified: self.unified.clone().filter(|d| keep(&d.path)),
            unified_controllers: if self.unified.as_ref().is_some_and(|d| keep(&d.path)) {
                self.unified_controllers.clone()
            } else {
                Vec::new()
            },
        }
    }

    /// Enables one unified controller along the path to the leaf (hybrid
    /// hosts enable them only when a limit needs them).
    pub(crate) fn enable_unified(&self, controller: &str) {
        if let Some(u) = &self.unified {
            enable_controllers(u, &[controller.to_string()]);
        }
    }

    /// Moves process `pid` (and its threads) into the cgroup in every hierarchy,
    /// including named ones such as `name=systemd` and, on hybrid hosts, the
    /// unified one.
    pub fn add_process(&self, pid: i32) -> Result<(), Error> {
        for dir in self.paths() {
            let value = pid.to_string();
            let mut attempt = 0;
            loop {
                match fs::write(dir, "cgroup.procs", &value) {
                    // EINVAL: the task may still be in TASK_NEW right after
                    // clone(2); retry briefly.
                    Err(Error::Write { source, .. })
                        if source.raw_os_error() == Some(libc::EINVAL) && attempt < 5 =>
                    {
                        attempt += 1;
                        sleep(Duration::from_millis(30));
                    }
                    r => break r?,
                }
            }
        }
        Ok(())
    }

    /// Moves the calling process, which must be single-threaded, into the
    /// cgroup in every hierarchy; `unified_joined` says it already sits in
    /// the cgroup2 directory (created there by `clone3(CLONE_INTO_CGROUP)`).
    ///
    /// Writing a pid to `cgroup.procs` takes the kernel's global
    /// `cgroup_threadgroup_rwsem` for writing, and that waits for an RCU grace
    /// period (8-16 ms) unless another writer took it just before. Writing `0`
    /// to a v1 hierarchy's `tasks` moves only the calling thread, which the
    /// kernel does without that lock (upstream commit 9a3284fad42f, "cgroup:
    /// Optimize single thread migration", 2022; older kernels take it and
    /// still do the right thing); for a single-threaded process that is the
    /// whole process. cgroup2 refuses to move one thread of a process to another
    /// domain, so there `cgroup.procs` stays the way in.
    pub fn add_self(&self, unified_joined: bool) -> Result<(), Error> {
        for (dir, file) in self.join_files() {
            if file == "tasks" || !unified_joined {
                fs::write(dir, file, "0")?;
            }
        }
        Ok(())
    }

    /// Opens the files [`Self::add_self`] writes, for a process that can't
    /// open them itself any more (one already in new namespaces): the kernel
    /// checks the credentials of whoever opened them.
    pub fn open_join_files(&self) -> Result<JoinFiles, Error> {
        let mut files = Vec::new();
        for (dir, file) in self.join_files() {
            let path = dir.join(file);
            match std::fs::OpenOptions::new().write(true).open(&path) {
                Ok(f) => files.push((path, f)),
                Err(source) => {
                    return Err(Error::Write {
                        path,
                        value: "0".into(),
                        source,
                    })
                }
            }
        }
        Ok(JoinFiles { files })
    }

    /// Each distinct directory once, with the file a process joins it by:
    /// `tasks` in v1 hierarchies, `cgroup.procs` in the cgroup2 one (last).
    fn join_files(&self) -> Vec<(&Path, &'static str)> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for d in self.v1.values() {
            if seen.insert(d.path.as_path()) {
                out.push((d.path.as_path(), "tasks"));
            }
        }
        if let Some(u) = &self.unified {
            if seen.insert(u.path.as_path()) {
                out.push((u.path.as_path(), "cgroup.procs"));
            }
        }
        out
    }

    /// The cgroup2 directory opened for `clone3(CLONE_INTO_CGROUP)`, which
    /// places a new process without the lock [`Self::add_self`] describes.
    pub fn open_unified(&self) -> Option<Result<std::os::fd::OwnedFd, Error>> {
        let u = self.unified.as_ref()?;
        Some(
            std::fs::File::open(&u.path)
                .map(std::os::fd::OwnedFd::from)
                .map_err(|source| Error::Read {
                    path: u.path.clone(),
                    source,
                }),
        )
    }

    /// All processes in the cgroup, including those in sub-cgroups, sorted.
    /// A cgroup that does not exist has no processes.
    pub fn pids(&self) -> Result<Vec<i32>, Error> {
        let Some(dir) = self.procs_dir() else {
            return Ok(Vec::new());
        };
        let mut pids = Vec::new();
        collect_pids(dir, &mut pids)?;
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// The directory whose `cgroup.procs` lists the container's processes: a v1
    /// hierarchy that every runtime joins, else the unified one.
    fn procs_dir(&self) -> Option<&Path> {
        [
            "pids", "memory", "devices", "freezer", "cpu", "cpuacct", "cpuset", "blkio",
        ]
        .iter()
        .find_map(|c| self.v1_dir(c))
        .or(self.unified_path())
        .or_else(|| self.v1.values().next().map(|d| d.path.as_path()))
    }

    /// The freezer to use: the v1 `freezer` hierarchy, else cgroup2's
    /// `cgroup.freeze` (part of the cgroup2 core, so it also works on hybrid hosts).
    fn freezer(&self) -> Option<Target<'_>> {
        self.v1_dir("freezer")
            .map(Target::V1)
            .or(self.unified_path().map(Target::V2))
    }

    /// Freezes every process in the cgroup and waits until the kernel reports it
    /// frozen. On failure the cgroup is thawed again, never left half-frozen.
    pub fn freeze(&self) -> Result<(), Error> {
        match self.freezer() {
            Some(Target::V1(dir)) => freeze_v1(dir),
            Some(Target::V2(dir)) => freeze_v2(dir),
            None => Err(Error::ControllerUnavailable("freezer".into())),
        }
    }

    /// Thaws the cgroup.
    pub fn thaw(&self) -> Result<(), Error> {
        match self.freezer() {
            Some(Target::V1(dir)) => fs::write(dir, "freezer.state", "THAWED"),
            Some(Target::V2(dir)) => fs::write(dir, "cgroup.freeze", "0"),
            None => Err(Error::ControllerUnavailable("freezer".into())),
        }
    }

    /// Whether the cgroup itself is frozen (see [`Self::freezer_state`]).
    pub fn is_frozen(&self) -> Result<bool, Error> {
        Ok(self.freezer_state()? == FreezerState::Frozen)
    }

    /// The cgroup's own freezer state. A cgroup frozen only because an ancestor
    /// is frozen reads as thawed, as in runc.
    pub fn freezer_state(&self) -> Result<FreezerState, Error> {
        match self.freezer() {
            Some(Target::V1(dir)) => freezer_state_v1(dir),
            Some(Target::V2(dir)) => freezer_state_v2(dir),
            None => Ok(FreezerState::Undefined),
        }
    }

    /// The number of processes the OOM killer killed in this cgroup
    /// (`oom_kill` in memory.events on v2, memory.oom_control on v1), 0 if the
    /// kernel does not report it.
    pub fn oom_kill_count(&self) -> Result<u64, Error> {
        match self.target("memory", "memory") {
            Some(Target::V1(dir)) => fs::read_keyed(dir, "memory.oom_control", "oom_kill"),
            Some(Target::V2(dir)) => fs::read_keyed(dir, "memory.events", "oom_kill"),
            None => Ok(0),
        }
    }

    /// Removes the cgroup's directories (and any sub-cgroups) in every hierarchy,
    /// deepest first. Processes are not killed: a populated cgroup fails with
    /// EBUSY after a few retries. Directories already gone are fine. Every
    /// hierarchy is attempted; the first error is returned.
    pub fn destroy(&self) -> Result<(), Error> {
        let mut first = None;
        for dir in self.paths() {
            if let Err(e) = fs::remove_cgroup_dir(dir) {
                first.get_or_insert(e);
            }
        }
        if first.is_none() && !self.is_v2_only() {
            self.release_unified_controllers();
        }
        first.map_or(Ok(()), Err)
    }

    /// On a hybrid host, takes back what `enable_unified` turned on along the
    /// path, where nothing else lives below: while a controller stays enabled
    /// in cgroup2 it can't be bound to a v1 hierarchy by anyone.
    fn release_unified_controllers(&self) {
        let Some(u) = &self.unified else { return };
        if self.unified_controllers.is_empty() {
            return;
        }
        let mut dir = u.path.clone();
        while dir.pop() && dir.starts_with(&u.mountpoint) {
            let has_children = std::fs::read_dir(&dir)
                .map(|entries| entries.flatten().any(|e| e.path().is_dir()))
                .unwrap_or(true);
            if has_children {
                return;
            }
            let enabled = fs::read_opt(&dir, "cgroup.subtree_control")
                .ok()
                .flatten()
                .unwrap_or_default();
            for c in &self.unified_controllers {
                if enabled.split_whitespace().any(|e| e == c) {
                    let _ = fs::write(&dir, "cgroup.subtree_control", &format!("-{c}"));
                }
            }
        }
    }

    /// Whether any of the cgroup's directories exists.
    pub fn exists(&self) -> bool {
        self.paths().iter().any(|p| p.is_dir())
    }
}

/// Whether this process may move processes into `dir`: a directory someone
/// else created (delegation gone half-way) may refuse it.
fn check_joinable(dir: &Path) -> Result<(), Error> {
    let procs = dir.join("cgroup.procs");
    let c = std::ffi::CString::new(procs.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::InvalidPath(procs.display().to_string()))?;
    // SAFETY: access reads the NUL-terminated path and nothing else.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
        return Err(Error::Write {
            path: procs,
            value: String::new(),
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// Lexically cleans a cgroup path into its components: empty and `.` parts are
/// dropped and `..` can never climb above the start.
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// Creates the cpuset directories from the mount down to the leaf, giving each
/// empty `cpuset.cpus`/`cpuset.mems` its parent's value.
///
/// A parent below the mount whose new child had to be filled this way gets
/// `cgroup.clone_children`, so the kernel fills its next children at mkdir.
/// Each write of `cpus` or `mems` checks every sibling cpuset and rebuilds the
/// scheduler domains, which costs a start more with every container already
/// running beside it; the copy at mkdir gives the same values and does
/// neither. The mount's root is never changed.
fn create_cpuset(d: &Dir, created: &mut Vec<PathBuf>) -> Result<(), Error> {
    let rel = d.path.strip_prefix(&d.mountpoint).unwrap_or(Path::new(""));
    let mut parent = d.mountpoint.clone();
    for comp in rel.components() {
        let dir = parent.join(comp);
        created.extend(fs::mkdir_all(&dir)?);
        let mut filled = false;
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let Some(current) = fs::read_opt(&dir, file)? else {
                continue;
            };
            if current.trim().is_empty() {
                let from_parent = fs::read(&parent, file)?;
                fs::write(&dir, file, from_parent.trim())?;
                filled = true;
            }
        }
        if filled && parent != d.mountpoint {
            // best effort: without it the next child is filled as this one
            let _ = fs::write_if_exists(&parent, "cgroup.clone_children", "1");
        }
        parent = dir;
    }
    Ok(())
}

/// Enables `controllers` in `cgroup.subtree_control` of every ancestor of the
/// unified leaf, from the mount root down. Errors are ignored: an ancestor we do
/// not own may hold processes (EBUSY) or not be delegated to us.
fn enable_controllers(u: &Dir, controllers: &[String]) {
    if controllers.is_empty() {
        return;
    }
    let rel = u.path.strip_prefix(&u.mountpoint).unwrap_or(Path::new(""));
    let mut dir = u.mountpoint.clone();
    for comp in rel.components() {
        let enabled = fs::read_opt(&dir, "cgroup.subtree_control")
            .ok()
            .flatten()
            .unwrap_or_default();
        let missing: Vec<String> = controllers
            .iter()
            .filter(|c| !enabled.split_whitespace().any(|e| e == c.as_str()))
            .map(|c| format!("+{c}"))
            .collect();
        if !missing.is_empty()
            && fs::write(&dir, "cgroup.subtree_control", &missing.join(" ")).is_err()
        {
            // One bad controller fails the whole write; enable the rest one by one.
            for m in &missing {
                let _ = fs::write(&dir, "cgroup.subtree_control", m);
            }
        }
        dir.push(comp);
    }
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<(), Error> {
    let Some(procs) = fs::read_opt(dir, "cgroup.procs")? else {
        return Ok(());
    };
    out.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Read {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    for e in entries.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            collect_pids(&e.path(), out)?;
        }
    }
    Ok(())
}

/// cgroup v1 freezing. The v1 freezer can get stuck in FREEZING while new tasks
/// keep appearing (fork, exec joining the cgroup), so like runc we keep writing
/// FROZEN, now and then thaw briefly to let stragglers settle, and give up after
/// [`FREEZE_TIMEOUT`].
fn freeze_v1(dir: &Path) -> Result<(), Error> {
    let deadline = Instant::now() + FREEZE_TIMEOUT;
    let res = (|| {
        for i in 0u32.. {
            if i % 50 == 49 {
                fs::write(dir, "freezer.state", "THAWED")?;
                sleep(Duration::from_millis(10));
            }
            fs::write(dir, "freezer.state", "FROZEN")?;
            let state = fs::read(dir, "freezer.state")?;
            match state.trim() {
                "FROZEN" => return Ok(()),
                "FREEZING" if Instant::now() < deadline => {
                    if i % 10 == 9 {
                        sleep(Duration::from_millis(1));
                    }
                }
                s => {
                    return Err(Error::Freezer {
                        action: "freeze",
                        path: dir.to_path_buf(),
                        state: s.to_string(),
                    })
                }
            }
        }
        unreachable!("the freeze loop always returns")
    })();
    if res.is_err() {
        let _ = fs::write(dir, "freezer.state", "THAWED");
    }
    res
}

/// cgroup v2 freezing: request it and wait for cgroup.events to say `frozen 1`.
fn freeze_v2(dir: &Path) -> Result<(), Error> {
    fs::write(dir, "cgroup.freeze", "1")?;
    let deadline = Instant::now() + FREEZE_TIMEOUT;
    let mut delay = Duration::from_millis(1);
    loop {
        let Some(events) = fs::read_opt(dir, "cgroup.events")? else {
            // Kernels without cgroup.events give no way to wait.
            return Ok(());
        };
        if events_frozen(&events) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let _ = fs::write(dir, "cgroup.freeze", "0");
            return Err(Error::Freezer {
                action: "freeze",
                path: dir.to_path_buf(),
                state: "frozen 0".into(),
            });
        }
        sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

fn events_frozen(events: &str) -> bool {
    fs::parse_flat_keyed(events).any(|(k, v)| k == "frozen" && v == 1)
}

fn freezer_state_v1(dir: &Path) -> Result<FreezerState, Error> {
    let deadline = Instant::now() + FREEZE_TIMEOUT;
    loop {
        let Some(state) = fs::read_opt(dir, "freezer.state")? else {
            // The root cgroup (or an old kernel) has no freezer.state.
            return Ok(FreezerState::Undefined);
        };
        return match state.trim() {
            "THAWED" => Ok(FreezerState::Thawed),
            // FREEZING is transient: wait for a stable answer.
            "FREEZING" if Instant::now() < deadline => {
                sleep(Duration::from_millis(1));
                continue;
            }
            "FREEZING" => Ok(FreezerState::Freezing),
            "FROZEN" => match fs::read_opt(dir, "freezer.self_freezing")?
                .as_deref()
                .map(str::trim)
            {
                // Frozen only because an ancestor is.
                Some("0") => Ok(FreezerState::Thawed),
                _ => Ok(FreezerState::Frozen),
            },
            s => Err(Error::Parse {
                path: dir.join("freezer.state"),
                detail: format!("unknown state {s:?}"),
            }),
        };
    }
}

fn freezer_state_v2(dir: &Path) -> Result<FreezerState, Error> {
    let Some(want) = fs::read_opt(dir, "cgroup.freeze")? else {
        return Ok(FreezerState::Undefined);
    };
    if want.trim() != "1" {
        return Ok(FreezerState::Thawed);
    }
    match fs::read_opt(dir, "cgroup.events")? {
        Some(ev) if !events_frozen(&ev) => Ok(FreezerState::Freezing),
        _ => Ok(FreezerState::Frozen),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use std::fs as stdfs;

    #[test]
    fn resolve_paths_on_hybrid() {
        let h = Hierarchies::from_strings(
            &hybrid_mountinfo(Path::new("/sys/fs/cgroup")),
            HYBRID_PROC_CGROUP,
        )
        .unwrap();

        // Empty path: /<id> below each mount.
        let cg = Cgroup::resolve(&h, None, "ctr1").unwrap();
        assert_eq!(
            cg.path("memory").unwrap(),
            Path::new("/sys/fs/cgroup/memory/ctr1")
        );
        assert_eq!(
            cg.path("cpuacct").unwrap(),
            Path::new("/sys/fs/cgroup/cpuacct/ctr1")
        );
        assert_eq!(
            cg.path("name=systemd").unwrap(),
            Path::new("/sys/fs/cgroup/systemd/ctr1")
        );
        assert_eq!(
            cg.unified_path().unwrap(),
            Path::new("/sys/fs/cgroup/unified/ctr1")
        );
        assert_eq!(Cgroup::resolve(&h, Some(""), "ctr1").unwrap(), cg);

        // Absolute: below the mountpoint regardless of our own cgroup.
        let cg = Cgroup::resolve(&h, Some("/berth/ctr1"), "x").unwrap();
        assert_eq!(
            cg.path("memory").unwrap(),
            Path::new("/sys/fs/cgroup/memory/berth/ctr1")
        );

        // Relative: below our own cgroup, which differs per hierarchy.
        let cg = Cgroup::resolve(&h, Some("berth/ctr1"), "x").unwrap();
        assert_eq!(
            cg.path("memory").unwrap(),
            Path::new("/sys/fs/cgroup/memory/process_api/e93/berth/ctr1")
        );
        assert_eq!(
            cg.path("pids").unwrap(),
            Path::new("/sys/fs/cgroup/pids/berth/ctr1")
        );
        assert_eq!(
            cg.unified_path().unwrap(),
            Path::new("/sys/fs/cgroup/unified/berth/ctr1")
        );
        // Controllers with no hierarchy have no path (hugetlb is left out: this
        // fake mountinfo names the real cgroup2 mount, whose controllers vary).
        assert_eq!(cg.path("net_cls"), None);
    }

    #[test]
    fn resolve_cannot_escape() {
        let h = Hierarchies::from_strings(
            &hybrid_mountinfo(Path::new("/sys/fs/cgroup")),
            HYBRID_PROC_CGROUP,
        )
        .unwrap();
        let cg = Cgroup::resolve(&h, Some("../../../etc/x"), "x").unwrap();
        assert_eq!(
            cg.path("memory").unwrap(),
            Path::new("/sys/fs/cgroup/memory/process_api/e93/etc/x")
        );
        let cg = Cgroup::resolve(&h, Some("/a/../../b/./c"), "x").unwrap();
        assert_eq!(
            cg.path("memory").unwrap(),
            Path::new("/sys/fs/cgroup/memory/b/c")
        );
        let e = Cgroup::resolve(&h, Some("/.."), "x").unwrap_err();
        assert_eq!(e.to_string(), "invalid cgroups path \"/..\"");
        assert!(Cgroup::resolve(&h, None, "").is_err());
    }

    #[test]
    fn resolve_v2_nested() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        stdfs::write(root.join("cgroup.controllers"), "cpu memory pids").unwrap();
        let h = Hierarchies::from_strings(&v2_mountinfo(root), "0::/user.slice/u.scope\n").unwrap();
        let cg = Cgroup::resolve(&h, Some("ctr"), "x").unwrap();
        assert!(cg.is_v2_only());
        assert_eq!(
            cg.path("memory").unwrap(),
            root.join("user.slice/u.scope/ctr")
        );
        assert_eq!(cg.path("io"), None);
        assert_eq!(
            cg.paths(),
            vec![root.join("user.slice/u.scope/ctr").as_path()]
        );
    }

    #[test]
    fn serde_round_trip() {
        let h = Hierarchies::from_strings(
            &hybrid_mountinfo(Path::new("/sys/fs/cgroup")),
            HYBRID_PROC_CGROUP,
        )
        .unwrap();
        let cg = Cgroup::resolve(&h, None, "ctr1").unwrap();
        let json = serde_json::to_string(&cg).unwrap();
        let back: Cgroup = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cg);
    }

    #[test]
    fn destroy_gives_back_unified_controllers_where_unused() {
        let fake = FakeHybrid::new();
        let cg = Cgroup::resolve(&fake.h, Some("/berth/ctr"), "x").unwrap();
        cg.create().unwrap();
        let unified = fake.root.join("unified");
        // as after a hugepage limit was applied
        stdfs::write(unified.join("cgroup.subtree_control"), "hugetlb\n").unwrap();
        stdfs::write(unified.join("berth/cgroup.subtree_control"), "hugetlb\n").unwrap();
        fs::log::take();
        cg.destroy().unwrap();
        let writes = fs::log::take();
        // berth/ is empty now: hugetlb goes back; the root still has berth/
        // below it, which another container might use
        assert!(writes.contains(&(
            unified.join("berth/cgroup.subtree_control"),
            "-hugetlb".into()
        )));
        assert!(
            !writes.contains(&(unified.join("cgroup.subtree_control"), "-hugetlb".into())),
            "{writes:?}"
        );
    }

    #[test]
    fn create_add_pids_destroy_hybrid() {
        let fake = FakeHybrid::new();
        let cg = Cgroup::resolve(&fake.h, Some("/berth/ctr"), "x").unwrap();
        assert!(!cg.exists());
        fs::log::take();
        cg.create().unwrap();
        assert!(cg.exists());
        for dir in cg.paths() {
            assert!(dir.is_dir(), "{}", dir.display());
            // Tests write to cgroup.procs; the kernel would provide it.
            stdfs::write(dir.join("cgroup.procs"), "").unwrap();
            stdfs::write(dir.join("tasks"), "").unwrap();
        }
        // hugetlb lives only in cgroup2 here; create leaves it disabled (a
        // controller enabled in cgroup2 can't be bound to v1 any more) until a
        // hugepage limit needs it
        let writes = fs::log::take();
        assert!(
            !writes
                .iter()
                .any(|(p, _)| p.ends_with("cgroup.subtree_control")),
            "{writes:?}"
        );

        cg.add_self(false).unwrap();
        let writes = fs::log::take();
        // one write per distinct directory: `0` to v1 tasks, cgroup2 procs last
        assert_eq!(writes.len(), 10, "{writes:?}");
        assert!(writes[..9]
            .iter()
            .all(|(p, v)| p.ends_with("tasks") && v == "0"));
        assert!(writes[9].0.ends_with("cgroup.procs"));
        cg.add_self(true).unwrap();
        assert_eq!(fs::log::take().len(), 9);

        // the same writes through files opened beforehand
        let files = cg.open_join_files().unwrap();
        for dir in cg.paths() {
            stdfs::write(dir.join("cgroup.procs"), "").unwrap();
            stdfs::write(dir.join("tasks"), "").unwrap();
        }
        files.add_self(true).unwrap();
        let written: Vec<String> = cg
            .paths()
            .iter()
            .flat_map(|d| {
                ["tasks", "cgroup.procs"].map(|f| stdfs::read_to_string(d.join(f)).unwrap())
            })
            .collect();
        assert_eq!(
            written.iter().filter(|w| *w == "0").count(),
            9,
            "{written:?}"
        );
        files.add_self(false).unwrap();
        let unified = cg
            .paths()
            .into_iter()
            .find(|d| d.starts_with(fake.root.join("unified")));
        assert_eq!(
            stdfs::read_to_string(unified.unwrap().join("cgroup.procs")).unwrap(),
            "0"
        );

        cg.add_process(1234).unwrap();
        let writes = fs::log::take();
        // 9 v1 hierarchies (incl. name=systemd) + unified.
        assert_eq!(writes.len(), 10);
        assert!(writes
            .iter()
            .all(|(p, v)| p.ends_with("cgroup.procs") && v == "1234"));
        assert!(writes
            .iter()
            .any(|(p, _)| p.starts_with(fake.root.join("systemd"))));

        // pids() reads one hierarchy recursively.
        let pids_dir = cg.path("pids").unwrap();
        stdfs::write(pids_dir.join("cgroup.procs"), "12\n7\n").unwrap();
        stdfs::create_dir(pids_dir.join("sub")).unwrap();
        stdfs::write(pids_dir.join("sub/cgroup.procs"), "99\n7\n").unwrap();
        assert_eq!(cg.pids().unwrap(), vec![7, 12, 99]);

        cg.destroy().unwrap();
        assert!(!cg.exists());
        // The intermediate "berth" directory stays, like runc.
        assert!(fake.root.join("memory/berth").is_dir());
        cg.destroy().unwrap();
        assert_eq!(cg.pids().unwrap(), Vec::<i32>::new());
    }

    #[test]
    fn create_v2_enables_controllers_on_ancestors() {
        let fake = FakeV2::new("cpu memory pids");
        stdfs::write(fake.root.join("cgroup.subtree_control"), "memory\n").unwrap();
        let cg = Cgroup::resolve(&fake.h, Some("/a/ctr"), "x").unwrap();
        fs::log::take();
        cg.create().unwrap();
        let writes = fs::log::take();
        let ctl = |d: &str| fake.root.join(d).join("cgroup.subtree_control");
        assert_eq!(
            writes,
            [
                // Only what is missing at the root.
                (ctl(""), "+cpu +pids".to_string()),
                // The fake "a" has no subtree_control, so the combined write fails
                // and each controller is tried alone; the leaf is left alone.
                (ctl("a"), "+cpu +memory +pids".to_string()),
                (ctl("a"), "+cpu".to_string()),
                (ctl("a"), "+memory".to_string()),
                (ctl("a"), "+pids".to_string()),
            ]
        );
        assert!(fake.root.join("a/ctr").is_dir());
    }

    /// A cpuset directory of the fake tree (made if missing) with these
    /// `cpuset.cpus` and `cpuset.mems`; the kernel's new ones are "\n" and "".
    fn cpuset_dir(dir: &Path, cpus: &str, mems: &str) {
        if !dir.is_dir() {
            stdfs::create_dir(dir).unwrap();
        }
        stdfs::write(dir.join("cpuset.cpus"), cpus).unwrap();
        stdfs::write(dir.join("cpuset.mems"), mems).unwrap();
    }

    #[test]
    fn cpuset_inherits_from_parent() {
        let fake = FakeHybrid::new();
        let cpuset = fake.root.join("cpuset");
        cpuset_dir(&cpuset, "0-3\n", "0\n");
        // Simulate the kernel's empty files in the intermediate and leaf dirs.
        for d in ["a", "a/b"] {
            cpuset_dir(&cpuset.join(d), "\n", "");
        }
        stdfs::write(cpuset.join("a/cpuset.cpus"), "1\n").unwrap();
        let cg = Cgroup::resolve(&fake.h, Some("/a/b"), "x").unwrap();
        cg.create().unwrap();
        assert_eq!(read(&cpuset.join("a/cpuset.cpus")), "1\n");
        assert_eq!(read(&cpuset.join("a/cpuset.mems")), "0");
        assert_eq!(read(&cpuset.join("a/b/cpuset.cpus")), "1");
        assert_eq!(read(&cpuset.join("a/b/cpuset.mems")), "0");
    }

    #[test]
    fn a_cpuset_parent_clones_into_its_next_children() {
        let fake = FakeHybrid::new();
        let cpuset = fake.root.join("cpuset");
        cpuset_dir(&cpuset, "0-3\n", "0\n");
        stdfs::write(cpuset.join("cgroup.clone_children"), "0\n").unwrap();
        // the parent exists, filled, and does not clone yet
        cpuset_dir(&cpuset.join("a"), "0-3\n", "0\n");
        stdfs::write(cpuset.join("a/cgroup.clone_children"), "0\n").unwrap();
        // the kernel's empty files in a new child
        cpuset_dir(&cpuset.join("a/one"), "\n", "");
        fs::log::take();
        Cgroup::resolve(&fake.h, Some("/a/one"), "x")
            .unwrap()
            .create()
            .unwrap();
        let writes: Vec<(String, String)> = fs::log::take()
            .into_iter()
            .filter(|(p, _)| p.starts_with(&cpuset))
            .map(|(p, v)| (p.strip_prefix(&cpuset).unwrap().display().to_string(), v))
            .collect();
        assert_eq!(
            writes,
            [
                ("a/one/cpuset.cpus".to_string(), "0-3".to_string()),
                ("a/one/cpuset.mems".to_string(), "0".to_string()),
                ("a/cgroup.clone_children".to_string(), "1".to_string()),
            ]
        );
        // the mount's root is left as it was
        assert_eq!(read(&cpuset.join("cgroup.clone_children")), "0\n");
        // the kernel now fills the next child at mkdir: nothing is written
        cpuset_dir(&cpuset.join("a/two"), "0-3\n", "0\n");
        Cgroup::resolve(&fake.h, Some("/a/two"), "x")
            .unwrap()
            .create()
            .unwrap();
        assert!(fs::log::take().iter().all(|(p, _)| !p.starts_with(&cpuset)));
    }

    #[test]
    fn create_failure_cleans_up() {
        let fake = FakeHybrid::new();
        // A file where a directory must go makes mkdir fail in the memory hierarchy.
        stdfs::write(fake.root.join("memory/blocker"), "").unwrap();
        let cg = Cgroup::resolve(&fake.h, Some("/blocker/ctr"), "x").unwrap();
        assert!(cg.create().is_err());
        assert!(!fake.root.join("cpu/blocker").exists());
        assert!(!fake.root.join("cpuset/blocker").exists());
    }

    #[test]
    fn freeze_v1_and_state() {
        let fake = FakeHybrid::new();
        let cg = Cgroup::resolve(&fake.h, None, "ctr").unwrap();
        cg.create().unwrap();
        let fz = cg.path("freezer").unwrap().to_path_buf();
        stdfs::write(fz.join("freezer.state"), "THAWED\n").unwrap();
        assert_eq!(cg.freezer_state().unwrap(), FreezerState::Thawed);
        cg.freeze().unwrap();
        assert!(cg.is_frozen().unwrap());
        // Frozen only through an ancestor does not count.
        stdfs::write(fz.join("freezer.self_freezing"), "0\n").unwrap();
        assert!(!cg.is_frozen().unwrap());
        stdfs::write(fz.join("freezer.self_freezing"), "1\n").unwrap();
        cg.thaw().unwrap();
        assert_eq!(read(&fz.join("freezer.state")), "THAWED");
        assert!(!cg.is_frozen().unwrap());
    }

    #[test]
    fn freeze_v2_and_state() {
        let fake = FakeV2::new("cpu memory pids");
        let cg = Cgroup::resolve(&fake.h, None, "ctr").unwrap();
        cg.create().unwrap();
        let dir = cg.unified_path().unwrap().to_path_buf();
        stdfs::write(dir.join("cgroup.freeze"), "0\n").unwrap();
        assert_eq!(cg.freezer_state().unwrap(), FreezerState::Thawed);
        // The fake kernel reports frozen immediately.
        stdfs::write(dir.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        cg.freeze().unwrap();
        assert_eq!(read(&dir.join("cgroup.freeze")), "1");
        assert!(cg.is_frozen().unwrap());
        stdfs::write(dir.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        assert_eq!(cg.freezer_state().unwrap(), FreezerState::Freezing);
        cg.thaw().unwrap();
        assert_eq!(read(&dir.join("cgroup.freeze")), "0");
        assert_eq!(cg.freezer_state().unwrap(), FreezerState::Thawed);
    }

    #[test]
    fn oom_kill_count_v1_v2() {
        let fake = FakeHybrid::new();
        let cg = Cgroup::resolve(&fake.h, None, "ctr").unwrap();
        cg.create().unwrap();
        assert_eq!(cg.oom_kill_count().unwrap(), 0);
        stdfs::write(
            cg.path("memory").unwrap().join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        )
        .unwrap();
        assert_eq!(cg.oom_kill_count().unwrap(), 3);

        let fake = FakeV2::new("memory");
        let cg = Cgroup::resolve(&fake.h, None, "ctr").unwrap();
        cg.create().unwrap();
        stdfs::write(
            cg.unified_path().unwrap().join("memory.events"),
            "low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\noom_group_kill 0\n",
        )
        .unwrap();
        assert_eq!(cg.oom_kill_count().unwrap(), 2);
    }
}
