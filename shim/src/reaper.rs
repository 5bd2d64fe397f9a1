//! Child reaping for a subreaper that also runs commands.
//!
//! The shim is a child subreaper: container processes reparent to it when
//! the runtime that forked them exits. One thread (the shim's main thread)
//! reaps every child with `waitpid(-1)`, so nothing else may call `wait`:
//! a runtime command's exit is collected here and handed to whoever waits
//! for that pid, and a container process's exit goes to the service.

use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The process.
    pub pid: i32,
    /// Its exit code, or 128 + the signal that killed it (containerd's
    /// convention).
    pub status: u32,
    /// When the shim reaped it.
    pub at: SystemTime,
}

/// Exits nobody claimed are kept this long for a late waiter (a command
/// whose pid was read after it exited), then dropped: orphans that
/// reparented to the shim (the runtime's intermediate processes) are never
/// claimed.
const UNCLAIMED_TTL: Duration = Duration::from_secs(300);

#[derive(Default)]
struct State {
    /// Exits not (yet) claimed, with when they were seen.
    unclaimed: HashMap<i32, (Exit, Instant)>,
    /// Container processes: their exits go to the service.
    watched: HashSet<i32>,
}

/// The exit bookkeeping shared by the reaping thread and its waiters.
#[derive(Default)]
pub struct Reaper {
    state: Mutex<State>,
    exited: Condvar,
}

impl Reaper {
    /// A reaper with nothing recorded.
    pub fn new() -> Reaper {
        Reaper::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Blocks until `pid` (a command the caller spawned) has exited.
    pub fn wait(&self, pid: i32) -> Exit {
        let mut state = self.lock();
        loop {
            if let Some((exit, _)) = state.unclaimed.remove(&pid) {
                return exit;
            }
            state = self.exited.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Routes `pid`'s exit to [`Reaper::reap`]'s callback from now on; if it
    /// has already exited, returns that exit instead.
    pub fn watch(&self, pid: i32) -> Option<Exit> {
        let mut state = self.lock();
        if let Some((exit, _)) = state.unclaimed.remove(&pid) {
            return Some(exit);
        }
        state.watched.insert(pid);
        None
    }

    /// Reaps every child that has exited, without blocking; calls
    /// `on_watched` for watched processes (with no lock held).
    pub fn reap(&self, mut on_watched: impl FnMut(Exit)) {
        loop {
            let exit = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => Exit {
                    pid: pid.as_raw(),
                    status: code as u32,
                    at: SystemTime::now(),
                },
                Ok(WaitStatus::Signaled(pid, sig, _)) => Exit {
                    pid: pid.as_raw(),
                    status: 128 + sig as u32,
                    at: SystemTime::now(),
                },
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            let watched = {
                let mut state = self.lock();
                if state.watched.remove(&exit.pid) {
                    true
                } else {
                    let now = Instant::now();
                    state
                        .unclaimed
                        .retain(|_, (_, seen)| now.duration_since(*seen) < UNCLAIMED_TTL);
                    state.unclaimed.insert(exit.pid, (exit, now));
                    self.exited.notify_all();
                    false
                }
            };
            if watched {
                on_watched(exit);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    // One test: a second one running in parallel would reap this one's
    // children (waitpid(-1) takes any child of the test process). The
    // children are reaped by the reaper under test, not by `Child::wait`.
    #[test]
    #[allow(clippy::zombie_processes)]
    fn commands_reach_waiters_and_watched_exits_reach_the_callback() {
        let reaper = Reaper::new();
        let cmd = Command::new("/bin/sh")
            .args(["-c", "exit 7"])
            .spawn()
            .unwrap();
        let cmd = cmd.id() as i32;
        let watched = Command::new("/bin/sh")
            .args(["-c", "kill -9 $$"])
            .spawn()
            .unwrap();
        let watched = watched.id() as i32;
        assert_eq!(reaper.watch(watched), None);
        let late = Command::new("/bin/true").spawn().unwrap();
        let late = late.id() as i32;

        let mut seen = None;
        std::thread::scope(|s| {
            let waiter = s.spawn(|| reaper.wait(cmd));
            while !waiter.is_finished() || seen.is_none() {
                reaper.reap(|e| seen = Some(e));
                std::thread::sleep(Duration::from_millis(5));
            }
            assert_eq!(waiter.join().unwrap().status, 7);
        });
        assert_eq!(seen.map(|e| (e.pid, e.status)), Some((watched, 137)));
        // `late` exits unwatched; a watch after the fact gets its exit.
        let mut late_exit = None;
        while late_exit.is_none() {
            reaper.reap(|_| {});
            late_exit = reaper.watch(late).or_else(|| {
                reaper.lock().watched.remove(&late);
                None
            });
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(late_exit.unwrap().status, 0);
    }
}
