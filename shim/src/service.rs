//! The task service: containerd's Task API over the runtime.

use std::collections::HashMap;
use std::fmt::Display;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use berth_proto::containerd::api;
use berth_proto::containerd::events::task as ev;
use berth_proto::containerd::protobuf::well_known_types::empty::Empty;
use berth_proto::containerd::protobuf::Message;
use berth_proto::containerd::shim_sync::Task;
use berth_proto::containerd::types::task::ProcessInfo;
use berth_proto::ttrpc::proto::ResponseInit;
use berth_proto::ttrpc::{self, Code, TtrpcContext};

use crate::console::{self, ConsoleSocket};
use crate::events::Publisher;
use crate::mount::{self, MountSpec};
use crate::options::RuntimeOptions;
use crate::process::{Container, Io, Process, Status};
use crate::reactor::Reactor;
use crate::reaper::{Exit, Reaper};
use crate::rpc::Replier;
use crate::runtime::{ProcessIo, Runtime, RuntimeError};
use crate::state::BundleState;
use crate::stdio::{Plumbing, StdioSpec};
use crate::{stats, timestamp, version};

/// How long Delete waits for a process's output to be written out (a
/// child of the process may hold it open forever).
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);
/// How long Delete of a created-but-never-started task waits for its init
/// to die after the runtime's `delete --force`.
const CREATED_KILL_WAIT: Duration = Duration::from_secs(5);

type Result<T> = ttrpc::Result<T>;

fn err(code: Code, msg: impl Display) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, msg.to_string()))
}

/// A runtime failure as the task API reports it: NOT_FOUND when the runtime
/// had no such container (told by its state, not by its wording).
fn runtime_err(e: RuntimeError) -> ttrpc::Error {
    let code = match e {
        RuntimeError::NotFound { .. } => Code::NOT_FOUND,
        _ => Code::UNKNOWN,
    };
    err(code, e)
}

fn status_of(s: Status) -> api::Status {
    match s {
        Status::Pending | Status::Created => api::Status::CREATED,
        Status::Running => api::Status::RUNNING,
        Status::Paused => api::Status::PAUSED,
        Status::Stopped => api::Status::STOPPED,
    }
}

/// The shim's task service.
pub struct Service {
    namespace: String,
    reaper: Arc<Reaper>,
    events: Arc<Publisher>,
    reactor: Arc<Reactor>,
    containers: Mutex<HashMap<String, Arc<Container>>>,
    shim_exe: Option<PathBuf>,
    on_shutdown: Box<dyn Fn() + Send + Sync>,
}

impl Service {
    /// A service with no containers; `on_shutdown` is called when Shutdown
    /// finds nothing left to serve.
    pub fn new(
        namespace: String,
        reaper: Arc<Reaper>,
        events: Arc<Publisher>,
        reactor: Arc<Reactor>,
        on_shutdown: Box<dyn Fn() + Send + Sync>,
    ) -> Service {
        Service {
            namespace,
            reaper,
            events,
            reactor,
            containers: Mutex::new(HashMap::new()),
            shim_exe: std::env::current_exe().ok(),
            on_shutdown,
        }
    }

    /// The event publisher (flushed by the caller at exit).
    pub fn events(&self) -> &Publisher {
        &self.events
    }

    fn containers(&self) -> MutexGuard<'_, HashMap<String, Arc<Container>>> {
        self.containers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn container(&self, id: &str) -> Result<Arc<Container>> {
        self.containers()
            .get(id)
            .cloned()
            .ok_or_else(|| err(Code::NOT_FOUND, format!("container {id:?} not found")))
    }

    fn process(&self, id: &str, exec_id: &str) -> Result<(Arc<Container>, Arc<Process>)> {
        let c = self.container(id)?;
        let p = c.process(exec_id).ok_or_else(|| {
            err(
                Code::NOT_FOUND,
                format!("exec {exec_id:?} of container {id:?} not found"),
            )
        })?;
        Ok((c, p))
    }

    /// Wait without a thread: answers `replier` once the process exited
    /// (at once if it has).
    pub fn wait_deferred(&self, req: ttrpc::Request, replier: Replier) {
        let wait = match api::WaitRequest::parse_from_bytes(&req.payload) {
            Ok(w) => w,
            Err(e) => {
                return replier.fail(Code::INVALID_ARGUMENT, format!("bad Wait request: {e}"))
            }
        };
        let p = match self.process(&wait.id, &wait.exec_id) {
            Ok((_, p)) => p,
            Err(ttrpc::Error::RpcStatus(s)) => return replier.fail(s.code(), s.message),
            Err(e) => return replier.fail(Code::INTERNAL, e.to_string()),
        };
        p.on_exit(move |exit| {
            let mut resp = api::WaitResponse::new();
            resp.exit_status = exit.status;
            resp.exited_at = Some(timestamp(exit.at)).into();
            match resp.write_to_bytes() {
                Ok(payload) => {
                    let mut res = ttrpc::Response::init_status(ttrpc::get_status(Code::OK, ""));
                    res.set_payload(payload);
                    replier.send(res);
                }
                Err(e) => replier.fail(Code::INTERNAL, format!("encode Wait answer: {e}")),
            }
        });
    }

    /// Called by the reaper for every watched pid that exited.
    pub fn on_exit(&self, exit: Exit) {
        let found = self
            .containers()
            .values()
            .find_map(|c| c.by_pid(exit.pid).map(|p| (c.clone(), p)));
        let Some((c, p)) = found else { return };
        self.exited(&c, &p, exit);
    }

    fn exited(&self, c: &Container, p: &Process, exit: Exit) {
        if p.defer_exit(exit) {
            return;
        }
        p.set_exited(exit);
        let mut e = ev::TaskExit::new();
        e.container_id = c.id.clone();
        e.id = if p.exec_id.is_empty() {
            c.id.clone()
        } else {
            p.exec_id.clone()
        };
        e.pid = exit.pid as u32;
        e.exit_status = exit.status;
        e.exited_at = Some(timestamp(exit.at)).into();
        self.events.publish(&e);
    }

    /// Watches a process the runtime just created; if it already exited,
    /// records that now.
    fn watch(&self, c: &Container, p: &Process) {
        if let Some(exit) = self.reaper.watch(p.pid()) {
            self.exited(c, p, exit);
        }
    }

    /// Publishes TaskOOM for every OOM kill in the container's cgroup. A
    /// host without a usable memory controller only loses the events.
    fn watch_oom(&self, id: &str, bundle: &Path) {
        let events = self.events.clone();
        let container_id = id.to_string();
        let watched = stats::memory_dir(bundle, id)
            .map_err(|e| e.to_string())
            .and_then(|dir| {
                crate::oom::watch(&self.reactor, dir, move || {
                    let mut e = ev::TaskOOM::new();
                    e.container_id = container_id.clone();
                    events.publish(&e);
                })
                .map_err(|e| e.to_string())
            });
        if let Err(e) = watched {
            crate::log_line!("oom events of {id}: {e}");
        }
    }

    /// Plumbs stdio, runs `spawn` (the runtime's create or exec) and
    /// returns the new process's pid and stdio.
    fn launch(
        &self,
        container_id: &str,
        spec: &StdioSpec,
        pid_file: &Path,
        spawn: impl FnOnce(Option<&Path>, ProcessIo) -> std::result::Result<(), RuntimeError>,
    ) -> Result<(i32, Io)> {
        let mut plumbing = Plumbing::new(spec, container_id, &self.namespace, &self.reactor)
            .map_err(|e| err(Code::INVALID_ARGUMENT, e))?;
        let socket = if spec.terminal {
            Some(ConsoleSocket::new().map_err(|e| err(Code::INTERNAL, e))?)
        } else {
            None
        };
        let _ = fs::remove_file(pid_file);
        let process_io = std::mem::take(&mut plumbing.io);
        spawn(socket.as_ref().map(|s| s.path()), process_io).map_err(runtime_err)?;
        let pid = read_pid(pid_file)?;
        let console = match &socket {
            Some(s) => {
                let master = s.receive().map_err(|e| err(Code::INTERNAL, e))?;
                Some(
                    plumbing
                        .start_console(master)
                        .map_err(|e| err(Code::INTERNAL, e))?,
                )
            }
            None => None,
        };
        Ok((
            pid,
            Io {
                console,
                stdin: plumbing.stdin.clone(),
                copies: plumbing.copies.clone(),
            },
        ))
    }

    fn create_task(&self, req: &api::CreateTaskRequest) -> Result<api::CreateTaskResponse> {
        let id = req.id.as_str();
        if id.is_empty() {
            return Err(err(Code::INVALID_ARGUMENT, "create: empty container id"));
        }
        if self.containers().contains_key(id) {
            return Err(err(
                Code::ALREADY_EXISTS,
                format!("container {id:?} already exists"),
            ));
        }
        if !req.checkpoint.is_empty() || !req.parent_checkpoint.is_empty() {
            return Err(err(
                Code::UNIMPLEMENTED,
                "create: restoring from a checkpoint is not supported",
            ));
        }
        let bundle = PathBuf::from(&req.bundle);
        if !bundle.is_absolute() || !bundle.join("config.json").is_file() {
            return Err(err(
                Code::NOT_FOUND,
                format!(
                    "bundle {:?} does not exist or has no config.json",
                    req.bundle
                ),
            ));
        }
        let opts = RuntimeOptions::decode(req.options.as_ref())
            .map_err(|e| err(Code::INVALID_ARGUMENT, e))?;
        let runtime = Runtime::new(
            opts.binary(self.shim_exe.as_deref()),
            opts.root(&self.namespace),
            bundle.join("log.json"),
            Some(self.reaper.clone()),
        );
        let stdio = StdioSpec {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        };
        let rootfs = bundle.join("rootfs");
        let mounts: Vec<MountSpec> = req
            .rootfs
            .iter()
            .map(|m| MountSpec {
                kind: m.type_.clone(),
                source: m.source.clone(),
                options: m.options.clone(),
            })
            .collect();
        if !mounts.is_empty() {
            fs::create_dir_all(&rootfs)
                .map_err(|e| err(Code::INTERNAL, format!("create {}: {e}", rootfs.display())))?;
        }
        for m in &mounts {
            if let Err(e) = m.mount(&rootfs) {
                let _ = mount::unmount_all(&rootfs);
                return Err(err(Code::INTERNAL, e));
            }
        }
        let undo = |e: ttrpc::Error| {
            let _ = runtime.delete(id, true);
            if !mounts.is_empty() {
                let _ = mount::unmount_all(&rootfs);
            }
            let _ = fs::remove_file(bundle.join(crate::state::FILE));
            e
        };
        let mut state = BundleState {
            runtime: runtime.binary().to_path_buf(),
            root: runtime.root().to_path_buf(),
            pid: 0,
        };
        state
            .save(&bundle)
            .map_err(|e| err(Code::INTERNAL, e))
            .map_err(undo)?;
        let pid_file = bundle.join("init.pid");
        let (pid, io) = self
            .launch(id, &stdio, &pid_file, |socket, pio| {
                runtime.create(id, &bundle, &pid_file, socket, pio)
            })
            .map_err(undo)?;
        state.pid = pid;
        state
            .save(&bundle)
            .map_err(|e| err(Code::INTERNAL, e))
            .map_err(undo)?;

        let init = Arc::new(Process::new(
            String::new(),
            stdio,
            Vec::new(),
            Status::Created,
        ));
        init.set_created(pid, io, Status::Created);
        let c = Arc::new(Container::new(
            id.to_string(),
            bundle.clone(),
            runtime.clone(),
            init.clone(),
            !mounts.is_empty(),
        ));
        self.containers().insert(id.to_string(), c.clone());
        self.watch(&c, &init);
        self.watch_oom(id, &bundle);

        let mut e = ev::TaskCreate::new();
        e.container_id = id.to_string();
        e.bundle = req.bundle.clone();
        e.rootfs = req.rootfs.clone();
        let mut tio = ev::TaskIO::new();
        tio.stdin = req.stdin.clone();
        tio.stdout = req.stdout.clone();
        tio.stderr = req.stderr.clone();
        tio.terminal = req.terminal;
        e.io = Some(tio).into();
        e.pid = pid as u32;
        self.events.publish(&e);

        let mut resp = api::CreateTaskResponse::new();
        resp.pid = pid as u32;
        Ok(resp)
    }

    fn start_exec(&self, c: &Arc<Container>, p: &Arc<Process>) -> Result<i32> {
        if p.status() != Status::Pending {
            return Err(err(
                Code::FAILED_PRECONDITION,
                format!("exec {:?} was already started", p.exec_id),
            ));
        }
        let process_json = c.bundle.join(format!(".exec-{}.json", p.exec_id));
        let pid_file = c.bundle.join(format!(".exec-{}.pid", p.exec_id));
        fs::write(&process_json, &p.spec).map_err(|e| {
            err(
                Code::INTERNAL,
                format!("write {}: {e}", process_json.display()),
            )
        })?;
        let launched = self.launch(&c.id, &p.stdio, &pid_file, |socket, pio| {
            c.runtime.exec(&c.id, &process_json, &pid_file, socket, pio)
        });
        let _ = fs::remove_file(&process_json);
        let _ = fs::remove_file(&pid_file);
        let (pid, io) = launched?;
        p.begin_start();
        p.set_created(pid, io, Status::Running);
        self.watch(c, p);
        let mut e = ev::TaskExecStarted::new();
        e.container_id = c.id.clone();
        e.exec_id = p.exec_id.clone();
        e.pid = pid as u32;
        self.events.publish(&e);
        if let Some(exit) = p.end_start() {
            self.exited(c, p, exit);
        }
        Ok(pid)
    }

    fn delete_task(&self, c: &Arc<Container>) -> Result<api::DeleteResponse> {
        let init = &c.init;
        match init.status() {
            Status::Running | Status::Paused => {
                return Err(err(
                    Code::FAILED_PRECONDITION,
                    format!("container {:?} is still running: kill it first", c.id),
                ))
            }
            Status::Created | Status::Pending => {
                c.runtime.delete(&c.id, true).map_err(runtime_err)?;
                let _ = init.wait_for(CREATED_KILL_WAIT);
            }
            Status::Stopped => {
                if let Err(e) = c.runtime.delete(&c.id, true) {
                    crate::log_line!("delete {}: {e}", c.id);
                }
            }
        }
        init.io().copies.wait(OUTPUT_DRAIN);
        if c.mounted_rootfs {
            mount::unmount_all(&c.bundle.join("rootfs")).map_err(|e| err(Code::INTERNAL, e))?;
        }
        let _ = fs::remove_file(c.bundle.join(crate::state::FILE));
        self.containers().remove(&c.id);

        let exit = init.exit();
        let mut resp = api::DeleteResponse::new();
        resp.pid = init.pid() as u32;
        if let Some(exit) = exit {
            resp.exit_status = exit.status;
            resp.exited_at = Some(timestamp(exit.at)).into();
        }
        let mut e = ev::TaskDelete::new();
        e.container_id = c.id.clone();
        e.id = c.id.clone();
        e.pid = resp.pid;
        e.exit_status = resp.exit_status;
        e.exited_at = resp.exited_at.clone();
        self.events.publish(&e);
        Ok(resp)
    }
}

fn read_pid(path: &Path) -> Result<i32> {
    let text = fs::read_to_string(path).map_err(|e| {
        err(
            Code::INTERNAL,
            format!("runtime left no pid file {}: {e}", path.display()),
        )
    })?;
    text.trim().parse().map_err(|_| {
        err(
            Code::INTERNAL,
            format!("pid file {}: not a pid: {text:?}", path.display()),
        )
    })
}

impl Task for Service {
    fn state(&self, _: &TtrpcContext, req: api::StateRequest) -> Result<api::StateResponse> {
        let (c, p) = self.process(&req.id, &req.exec_id)?;
        let mut r = api::StateResponse::new();
        r.id = if req.exec_id.is_empty() {
            c.id.clone()
        } else {
            req.exec_id.clone()
        };
        r.exec_id = req.exec_id.clone();
        r.bundle = c.bundle.display().to_string();
        r.pid = p.pid() as u32;
        r.status = status_of(p.status()).into();
        r.stdin = p.stdio.stdin.clone();
        r.stdout = p.stdio.stdout.clone();
        r.stderr = p.stdio.stderr.clone();
        r.terminal = p.stdio.terminal;
        if let Some(exit) = p.exit() {
            r.exit_status = exit.status;
            r.exited_at = Some(timestamp(exit.at)).into();
        }
        Ok(r)
    }

    fn create(
        &self,
        _: &TtrpcContext,
        req: api::CreateTaskRequest,
    ) -> Result<api::CreateTaskResponse> {
        self.create_task(&req)
    }

    fn start(&self, _: &TtrpcContext, req: api::StartRequest) -> Result<api::StartResponse> {
        let (c, p) = self.process(&req.id, &req.exec_id)?;
        let mut resp = api::StartResponse::new();
        if !req.exec_id.is_empty() {
            resp.pid = self.start_exec(&c, &p)? as u32;
            return Ok(resp);
        }
        if p.status() != Status::Created {
            return Err(err(
                Code::FAILED_PRECONDITION,
                format!("container {:?} is not in the created state", c.id),
            ));
        }
        p.begin_start();
        let started = c.runtime.start(&c.id).map_err(runtime_err);
        if started.is_ok() {
            p.set_status(Status::Running);
            let mut e = ev::TaskStart::new();
            e.container_id = c.id.clone();
            e.pid = p.pid() as u32;
            self.events.publish(&e);
        }
        if let Some(exit) = p.end_start() {
            self.exited(&c, &p, exit);
        }
        started?;
        resp.pid = p.pid() as u32;
        Ok(resp)
    }

    fn delete(&self, _: &TtrpcContext, req: api::DeleteRequest) -> Result<api::DeleteResponse> {
        let c = self.container(&req.id)?;
        if req.exec_id.is_empty() {
            return self.delete_task(&c);
        }
        let p = c.process(&req.exec_id).ok_or_else(|| {
            err(
                Code::NOT_FOUND,
                format!("exec {:?} of container {:?} not found", req.exec_id, req.id),
            )
        })?;
        if matches!(p.status(), Status::Running | Status::Created) {
            return Err(err(
                Code::FAILED_PRECONDITION,
                format!("exec {:?} is still running: kill it first", req.exec_id),
            ));
        }
        p.io().copies.wait(OUTPUT_DRAIN);
        c.remove_exec(&req.exec_id);
        let mut resp = api::DeleteResponse::new();
        resp.pid = p.pid() as u32;
        if let Some(exit) = p.exit() {
            resp.exit_status = exit.status;
            resp.exited_at = Some(timestamp(exit.at)).into();
        }
        Ok(resp)
    }

    fn pids(&self, _: &TtrpcContext, req: api::PidsRequest) -> Result<api::PidsResponse> {
        let c = self.container(&req.id)?;
        let pids = c.runtime.ps(&c.id).map_err(runtime_err)?;
        let mut resp = api::PidsResponse::new();
        resp.processes = pids
            .into_iter()
            .map(|pid| {
                let mut info = ProcessInfo::new();
                info.pid = pid as u32;
                info
            })
            .collect();
        Ok(resp)
    }

    fn pause(&self, _: &TtrpcContext, req: api::PauseRequest) -> Result<Empty> {
        let c = self.container(&req.id)?;
        c.runtime.pause(&c.id).map_err(runtime_err)?;
        c.init.set_status(Status::Paused);
        let mut e = ev::TaskPaused::new();
        e.container_id = c.id.clone();
        self.events.publish(&e);
        Ok(Empty::new())
    }

    fn resume(&self, _: &TtrpcContext, req: api::ResumeRequest) -> Result<Empty> {
        let c = self.container(&req.id)?;
        c.runtime.resume(&c.id).map_err(runtime_err)?;
        c.init.set_status(Status::Running);
        let mut e = ev::TaskResumed::new();
        e.container_id = c.id.clone();
        self.events.publish(&e);
        Ok(Empty::new())
    }

    fn kill(&self, _: &TtrpcContext, req: api::KillRequest) -> Result<Empty> {
        let (c, p) = self.process(&req.id, &req.exec_id)?;
        let finished = || err(Code::NOT_FOUND, "process already finished");
        if !req.exec_id.is_empty() {
            if p.exit().is_some() || p.pid() == 0 {
                return Err(finished());
            }
            let sig = nix::sys::signal::Signal::try_from(req.signal as i32)
                .map_err(|_| err(Code::INVALID_ARGUMENT, format!("bad signal {}", req.signal)))?;
            return nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.pid()), sig)
                .map(|_| Empty::new())
                .map_err(|_| finished());
        }
        if p.exit().is_some() && !req.all {
            return Err(finished());
        }
        match c.runtime.kill(&c.id, req.signal, req.all) {
            Ok(()) => Ok(Empty::new()),
            Err(_) if p.exit().is_some() => Err(finished()),
            Err(e) => Err(runtime_err(e)),
        }
    }

    fn exec(&self, _: &TtrpcContext, req: api::ExecProcessRequest) -> Result<Empty> {
        let c = self.container(&req.id)?;
        if req.exec_id.is_empty() {
            return Err(err(Code::INVALID_ARGUMENT, "exec: empty exec id"));
        }
        if c.init.exit().is_some() {
            return Err(err(
                Code::FAILED_PRECONDITION,
                format!("container {:?} is not running", c.id),
            ));
        }
        let spec = req
            .spec
            .as_ref()
            .map(|a| a.value.clone())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| err(Code::INVALID_ARGUMENT, "exec: no process spec"))?;
        serde_json::from_slice::<serde_json::Value>(&spec)
            .map_err(|e| err(Code::INVALID_ARGUMENT, format!("exec: process spec: {e}")))?;
        let stdio = StdioSpec {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        };
        for uri in [&stdio.stdin, &stdio.stdout, &stdio.stderr] {
            crate::uri::Target::parse(uri).map_err(|e| err(Code::INVALID_ARGUMENT, e))?;
        }
        let p = Arc::new(Process::new(
            req.exec_id.clone(),
            stdio,
            spec,
            Status::Pending,
        ));
        if !c.add_exec(p) {
            return Err(err(
                Code::ALREADY_EXISTS,
                format!("exec {:?} already exists", req.exec_id),
            ));
        }
        let mut e = ev::TaskExecAdded::new();
        e.container_id = c.id.clone();
        e.exec_id = req.exec_id.clone();
        self.events.publish(&e);
        Ok(Empty::new())
    }

    fn resize_pty(&self, _: &TtrpcContext, req: api::ResizePtyRequest) -> Result<Empty> {
        let (_, p) = self.process(&req.id, &req.exec_id)?;
        if let Some(master) = p.io().console {
            console::resize(&master, req.width, req.height).map_err(|e| err(Code::INTERNAL, e))?;
        }
        Ok(Empty::new())
    }

    fn close_io(&self, _: &TtrpcContext, req: api::CloseIORequest) -> Result<Empty> {
        let (_, p) = self.process(&req.id, &req.exec_id)?;
        if req.stdin {
            Plumbing::close_stdin(&p.io().stdin);
        }
        Ok(Empty::new())
    }

    fn update(&self, _: &TtrpcContext, req: api::UpdateTaskRequest) -> Result<Empty> {
        let c = self.container(&req.id)?;
        let resources = req
            .resources
            .as_ref()
            .map(|a| a.value.clone())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| err(Code::INVALID_ARGUMENT, "update: no resources"))?;
        serde_json::from_slice::<serde_json::Value>(&resources)
            .map_err(|e| err(Code::INVALID_ARGUMENT, format!("update: resources: {e}")))?;
        let file = c.bundle.join(".update-resources.json");
        fs::write(&file, &resources)
            .map_err(|e| err(Code::INTERNAL, format!("write {}: {e}", file.display())))?;
        let done = c.runtime.update(&c.id, &file);
        let _ = fs::remove_file(&file);
        done.map_err(runtime_err)?;
        Ok(Empty::new())
    }

    fn wait(&self, _: &TtrpcContext, req: api::WaitRequest) -> Result<api::WaitResponse> {
        let (_, p) = self.process(&req.id, &req.exec_id)?;
        let exit = p.wait();
        let mut resp = api::WaitResponse::new();
        resp.exit_status = exit.status;
        resp.exited_at = Some(timestamp(exit.at)).into();
        Ok(resp)
    }

    fn stats(&self, _: &TtrpcContext, req: api::StatsRequest) -> Result<api::StatsResponse> {
        let c = self.container(&req.id)?;
        let any = stats::metrics(&c.bundle, &c.id).map_err(|e| err(Code::INTERNAL, e))?;
        let mut resp = api::StatsResponse::new();
        resp.stats = Some(any).into();
        Ok(resp)
    }

    fn connect(&self, _: &TtrpcContext, req: api::ConnectRequest) -> Result<api::ConnectResponse> {
        let mut resp = api::ConnectResponse::new();
        resp.shim_pid = std::process::id();
        resp.version = version();
        if let Ok(c) = self.container(&req.id) {
            resp.task_pid = c.init.pid() as u32;
        }
        Ok(resp)
    }

    fn shutdown(&self, _: &TtrpcContext, req: api::ShutdownRequest) -> Result<Empty> {
        if req.now || self.containers().is_empty() {
            (self.on_shutdown)();
        }
        Ok(Empty::new())
    }
}
