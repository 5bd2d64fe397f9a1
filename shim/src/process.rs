//! One process of a task (the container's init or an exec) and the
//! container that groups them.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::reaper::Exit;
use crate::runtime::Runtime;
use crate::stdio::{Copies, StdioSpec};

/// Where a process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Exec recorded, not started yet.
    Pending,
    /// Created by the runtime, waiting for start.
    Created,
    /// Running.
    Running,
    /// Frozen (the container's init only).
    Paused,
    /// Exited.
    Stopped,
}

/// The host side of a started process's stdio.
#[derive(Default, Clone)]
pub struct Io {
    /// The pty master of a terminal process.
    pub console: Option<Arc<File>>,
    /// The process's stdin; CloseIO drops it.
    pub stdin: Arc<Mutex<Option<File>>>,
    /// Output copies in flight.
    pub copies: Arc<Copies>,
}

#[derive(Default)]
struct Inner {
    /// Between the start request and its event: an exit seen meanwhile
    /// waits in `deferred`, so TaskStart is always published before
    /// TaskExit.
    starting: bool,
    deferred: Option<Exit>,
    pid: i32,
    status: Option<Status>,
    exit: Option<Exit>,
    io: Io,
    /// Called once with the exit (deferred Wait answers).
    on_exit: Vec<Box<dyn FnOnce(Exit) + Send>>,
}

/// A process of a task.
pub struct Process {
    /// The exec id; empty for the container's init.
    pub exec_id: String,
    /// The stdio it asked for.
    pub stdio: StdioSpec,
    /// An exec's OCI process spec (JSON).
    pub spec: Vec<u8>,
    inner: Mutex<Inner>,
    exited: Condvar,
}

impl Process {
    /// A process not started yet.
    pub fn new(exec_id: String, stdio: StdioSpec, spec: Vec<u8>, status: Status) -> Process {
        Process {
            exec_id,
            stdio,
            spec,
            inner: Mutex::new(Inner {
                status: Some(status),
                ..Default::default()
            }),
            exited: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The pid, 0 before it was created.
    pub fn pid(&self) -> i32 {
        self.lock().pid
    }

    /// The status.
    pub fn status(&self) -> Status {
        self.lock().status.unwrap_or(Status::Pending)
    }

    /// The exit, once it exited.
    pub fn exit(&self) -> Option<Exit> {
        self.lock().exit
    }

    /// Its stdio handles.
    pub fn io(&self) -> Io {
        self.lock().io.clone()
    }

    /// Records the pid and stdio of a created process.
    pub fn set_created(&self, pid: i32, io: Io, status: Status) {
        let mut i = self.lock();
        i.pid = pid;
        i.io = io;
        if i.exit.is_none() {
            i.status = Some(status);
        }
    }

    /// Moves a live process to `status` (running, paused); an exited one
    /// stays stopped.
    pub fn set_status(&self, status: Status) {
        let mut i = self.lock();
        if i.exit.is_none() {
            i.status = Some(status);
        }
    }

    /// Marks the start in progress (see [`Process::defer_exit`]).
    pub fn begin_start(&self) {
        self.lock().starting = true;
    }

    /// Puts `exit` aside if a start is in progress; true if it did.
    pub fn defer_exit(&self, exit: Exit) -> bool {
        let mut i = self.lock();
        if i.starting {
            i.deferred = Some(exit);
        }
        i.starting
    }

    /// Ends the start; returns an exit that was put aside meanwhile.
    pub fn end_start(&self) -> Option<Exit> {
        let mut i = self.lock();
        i.starting = false;
        i.deferred.take()
    }

    /// Records the exit and wakes the waiters.
    pub fn set_exited(&self, exit: Exit) {
        let mut i = self.lock();
        i.exit = Some(exit);
        i.status = Some(Status::Stopped);
        let callbacks = std::mem::take(&mut i.on_exit);
        drop(i);
        self.exited.notify_all();
        for f in callbacks {
            f(exit);
        }
    }

    /// Calls `f` with the exit: now if the process has exited, else once
    /// it does (from the thread that records it). No thread waits meanwhile.
    pub fn on_exit(&self, f: impl FnOnce(Exit) + Send + 'static) {
        let mut i = self.lock();
        match i.exit {
            Some(exit) => {
                drop(i);
                f(exit);
            }
            None => i.on_exit.push(Box::new(f)),
        }
    }

    /// Blocks until the process exited.
    pub fn wait(&self) -> Exit {
        let mut i = self.lock();
        loop {
            if let Some(e) = i.exit {
                return e;
            }
            i = self.exited.wait(i).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Like [`Process::wait`], giving up after `limit`.
    pub fn wait_for(&self, limit: Duration) -> Option<Exit> {
        let i = self.lock();
        let (i, _) = self
            .exited
            .wait_timeout_while(i, limit, |i| i.exit.is_none())
            .unwrap_or_else(|p| p.into_inner());
        i.exit
    }
}

/// A container: its bundle, runtime, init and execs.
pub struct Container {
    /// The container id.
    pub id: String,
    /// Its bundle.
    pub bundle: PathBuf,
    /// The runtime that runs it.
    pub runtime: Runtime,
    /// The init process.
    pub init: Arc<Process>,
    /// Whether the shim mounted the rootfs (and must unmount it).
    pub mounted_rootfs: bool,
    execs: Mutex<HashMap<String, Arc<Process>>>,
}

impl Container {
    /// A container around a created init.
    pub fn new(
        id: String,
        bundle: PathBuf,
        runtime: Runtime,
        init: Arc<Process>,
        mounted_rootfs: bool,
    ) -> Container {
        Container {
            id,
            bundle,
            runtime,
            init,
            mounted_rootfs,
            execs: Mutex::new(HashMap::new()),
        }
    }

    fn execs(&self) -> MutexGuard<'_, HashMap<String, Arc<Process>>> {
        self.execs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The init (empty id) or the exec `exec_id`.
    pub fn process(&self, exec_id: &str) -> Option<Arc<Process>> {
        if exec_id.is_empty() {
            Some(self.init.clone())
        } else {
            self.execs().get(exec_id).cloned()
        }
    }

    /// Adds an exec; false if the id is taken.
    pub fn add_exec(&self, p: Arc<Process>) -> bool {
        let mut execs = self.execs();
        if execs.contains_key(&p.exec_id) {
            return false;
        }
        execs.insert(p.exec_id.clone(), p);
        true
    }

    /// Removes an exec.
    pub fn remove_exec(&self, exec_id: &str) -> Option<Arc<Process>> {
        self.execs().remove(exec_id)
    }

    /// The process (init or exec) with `pid`, if it is one of ours.
    pub fn by_pid(&self, pid: i32) -> Option<Arc<Process>> {
        if self.init.pid() == pid {
            return Some(self.init.clone());
        }
        self.execs().values().find(|p| p.pid() == pid).cloned()
    }

    /// The exec ids by pid, for `Pids`.
    pub fn exec_pids(&self) -> HashMap<i32, String> {
        self.execs()
            .values()
            .map(|p| (p.pid(), p.exec_id.clone()))
            .collect()
    }
}
