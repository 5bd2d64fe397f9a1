//! Crash-only start: every stored container is brought back in line with
//! what is really there. Live shims are reconnected and watched again;
//! exits that happened while no manager ran are read from the shim; dead
//! shims are cleaned up with the shim binary's `delete`; half-done creates
//! and removals are finished; container snapshots no record owns are
//! removed.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_proto::containerd::api;

use crate::bundle;
use crate::manager::{Manager, Task};
use crate::record::{nanos_of, now_nanos, ContainerRecord, Status};
use crate::shim::{ShimClient, ShimError};
use crate::tasks::shim_address;

/// Longest recovery waits for a task create the last manager left in flight.
const CREATE_IN_FLIGHT_WAIT: Duration = Duration::from_secs(10);

/// True when something is mounted on the bundle's rootfs as the shim sees
/// it (`shim_root` is its `/proc/PID/root`: berth's shims mount in a mount
/// namespace of their own): the shim's `Create` mounts it before it runs
/// the runtime.
fn rootfs_mounted(shim_root: &Path, bundle: &Path) -> bool {
    let bundle = shim_root.join(bundle.strip_prefix("/").unwrap_or(bundle));
    match (
        std::fs::metadata(&bundle),
        std::fs::metadata(bundle.join("rootfs")),
    ) {
        (Ok(b), Ok(r)) => b.dev() != r.dev(),
        _ => false,
    }
}

/// The task's state once no `Create` is in flight: a shim answers "not
/// found" while it still creates the task, so with the rootfs already
/// mounted the answer is awaited, or the task would be created after its
/// cleanup and its cgroups left behind.
async fn settled_state(
    client: &ShimClient,
    id: &str,
    bundle: &Path,
) -> Result<api::StateResponse, ShimError> {
    let deadline = tokio::time::Instant::now() + CREATE_IN_FLIGHT_WAIT;
    let mut shim_root: Option<PathBuf> = None;
    loop {
        match client.state(id, "").await {
            Err(e) if is_not_found(&e) && tokio::time::Instant::now() < deadline => {
                let root = match &shim_root {
                    Some(r) => r,
                    None => {
                        // a shim that can't say its pid shares the host's view
                        let pid = client.connect_task(id).await.map_or(0, |r| r.shim_pid);
                        shim_root.insert(match pid {
                            0 => PathBuf::from("/"),
                            pid => PathBuf::from(format!("/proc/{pid}/root")),
                        })
                    }
                };
                if !rootfs_mounted(root, bundle) {
                    return Err(e);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

fn is_not_found(e: &ShimError) -> bool {
    matches!(
        e,
        ShimError::Rpc {
            source: ttrpc::Error::RpcStatus(s),
            ..
        } if s.code() == ttrpc::Code::NOT_FOUND
    )
}

/// Longest recovery spends on one container.
const RECOVER_ONE_TIMEOUT: Duration = Duration::from_secs(120);

/// How many containers are recovered at once: one slow shim must not hold
/// up the others.
const RECOVER_AT_ONCE: usize = 8;

impl Manager {
    /// Marks every stored container as being recovered and returns their
    /// records for [`Manager::recover`]; requests for them wait until then.
    pub fn begin_recovery(&self) -> Vec<ContainerRecord> {
        let records = match self.store.list() {
            Ok(r) => r,
            Err(e) => {
                crate::log_line!("berth-manager: recovery: {e}");
                return Vec::new();
            }
        };
        self.recovering.begin(records.iter().map(|r| r.id.as_str()));
        records
    }

    /// Recovers `records` (from [`Manager::begin_recovery`]) a few at a time,
    /// releasing each container's waiters as it is done.
    pub async fn recover(self: &Arc<Self>, records: Vec<ContainerRecord>) {
        let slots = Arc::new(tokio::sync::Semaphore::new(RECOVER_AT_ONCE));
        let mut running = tokio::task::JoinSet::new();
        for rec in records {
            let mgr = self.clone();
            let slots = slots.clone();
            running.spawn(async move {
                let _slot = slots.acquire_owned().await;
                let id = rec.id.clone();
                // one stuck shim must not keep the others waiting; the
                // container keeps its record and the next start tries again
                if tokio::time::timeout(RECOVER_ONE_TIMEOUT, mgr.recover_one(rec))
                    .await
                    .is_err()
                {
                    crate::log_line!("berth-manager: recovery of {id} timed out");
                }
                mgr.recovering.done(&id);
            });
        }
        while running.join_next().await.is_some() {}
    }

    /// Removes every container snapshot whose key no container record
    /// owns: nothing else ever would, and each pins its layers and disk.
    /// Create and removal never leave one, but an older manager, a lost
    /// store write or a crash somewhere unforeseen might. Runs on a
    /// blocking thread; errors are logged, never fatal.
    pub async fn sweep_snapshots(self: Arc<Self>) {
        if let Err(e) = tokio::task::spawn_blocking(move || self.sweep_snapshots_now()).await {
            crate::log_line!("berth-manager: snapshot sweep: {e}");
        }
    }

    fn sweep_snapshots_now(&self) {
        // Snapshots are listed before the records are read: create inserts
        // its record before it prepares the snapshot, so a snapshot listed
        // here already has its record stored, and one being created right
        // now can never be taken for an orphan.
        let snapshots = match self.images.snapshots() {
            Ok(s) => s,
            Err(e) => {
                crate::log_line!("berth-manager: snapshot sweep: {e}");
                return;
            }
        };
        let records = match self.store.list() {
            Ok(r) => r,
            Err(e) => {
                crate::log_line!("berth-manager: snapshot sweep: {e}");
                return;
            }
        };
        let owned: HashSet<&str> = records
            .iter()
            .flat_map(|r| [r.id.as_str(), r.snapshot.as_str()])
            .collect();
        for snap in snapshots.iter().filter(|s| !owned.contains(s.key.as_str())) {
            match self.images.remove_snapshot(&snap.key) {
                Ok(()) => crate::log_line!(
                    "berth-manager: removed snapshot {}: no container owns it",
                    snap.key
                ),
                // removed meanwhile by its own container's removal
                Err(berth_image_store::Error::Snapshot(
                    berth_image_store::SnapshotError::NotFound(_),
                )) => {}
                Err(e) => crate::log_line!("berth-manager: remove snapshot {}: {e}", snap.key),
            }
        }
    }

    async fn recover_one(self: &Arc<Self>, rec: ContainerRecord) {
        let id = rec.id.clone();
        // removal, or creation before its snapshot, cut short
        if rec.status == Status::Dead || (rec.status == Status::Created && rec.rootfs.is_empty()) {
            if rec.shim.is_some() {
                self.release_shim(&rec).await;
            }
            if self.discard(&id).await.is_err() {
                self.finish_removal_later(&id);
            }
            return;
        }
        if rec.shim.is_none() {
            if rec.status.has_task() {
                // cannot happen with the write order in tasks.rs; heal anyway
                self.record_lost(&rec, 255).await;
            } else if rec.status == Status::Restarting {
                self.after_exit(ContainerRecord {
                    status: Status::Exited,
                    ..rec
                });
            }
            return;
        }
        let dir = self.cfg.bundle_dir(&id);
        let client = match shim_address(&rec, &dir) {
            Some(addr) => connect_patiently(&addr).await,
            None => None,
        };
        let Some(client) = client else {
            crate::log_line!("berth-manager: recovery: shim of {id} is gone");
            self.shim_gone(&rec, &dir).await;
            return;
        };
        let state = match settled_state(&client, &id, &dir).await {
            Ok(s) => s,
            Err(e) => {
                crate::log_line!("berth-manager: recovery: shim of {id} has no task: {e}");
                self.release_shim(&rec).await;
                if rec.status.has_task() {
                    self.record_lost(&rec, 255).await;
                }
                return;
            }
        };
        let status = state.status.enum_value_or_default();
        crate::log_line!(
            "berth-manager: recovery: {id} is {} here, {status:?} in its shim",
            rec.status.as_str()
        );
        match status {
            api::Status::RUNNING | api::Status::PAUSED | api::Status::PAUSING
                if rec.status.has_task() =>
            {
                let paused = status != api::Status::RUNNING;
                let rec = match self.store.update(&id, |r| {
                    r.pid = state.pid;
                    r.status = if paused {
                        Status::Paused
                    } else {
                        Status::Running
                    };
                }) {
                    Ok(r) => r,
                    Err(e) => {
                        crate::log_line!("berth-manager: recovery of {id}: {e}");
                        return;
                    }
                };
                let log_copier = crate::tasks::spawn_log_copier(&id, &dir.join("log"));
                self.set_task(
                    &id,
                    Task {
                        client: client.clone(),
                        generation: rec.started_at,
                        log_copier,
                    },
                );
                self.watch_task(&id, client, rec.started_at);
                self.resume_stop(rec);
            }
            api::Status::STOPPED if rec.status.has_task() => {
                // the exit happened while no manager was running
                self.finish_exit(&id, 0, state.exit_status as i32, nanos_of(&state.exited_at))
                    .await;
            }
            _ => {
                // a start cut short (task created, never started), or a
                // shim left over after its exit was recorded
                self.release_shim(&rec).await;
                if rec.status.has_task() {
                    self.record_lost(&rec, 255).await;
                } else if rec.status == Status::Created {
                    let _ = self.store.update(&id, |r| {
                        r.error = "start interrupted: the manager restarted".into()
                    });
                }
            }
        }
    }

    /// The shim process is gone: its binary's `delete` cleans up and says
    /// how the task ended.
    async fn shim_gone(self: &Arc<Self>, rec: &ContainerRecord, dir: &Path) {
        if let Some(addr) = shim_address(rec, dir) {
            crate::tasks::remove_dead_socket(&addr.address).await;
        }
        let mut code = 255;
        if dir.join("config.json").exists() {
            match self.launcher.cleanup(&rec.id, dir).await {
                Ok(resp) => code = resp.exit_status as i32,
                Err(e) => crate::log_line!("berth-manager: clean up after shim of {}: {e}", rec.id),
            }
        }
        if let Err(e) = bundle::remove_bundle(dir) {
            crate::log_line!("berth-manager: {e}");
        }
        let _ = self.store.update(&rec.id, |r| r.shim = None);
        if rec.status.has_task() {
            self.record_lost(rec, code).await;
        }
    }

    /// Records an exit learned without the shim's word.
    async fn record_lost(self: &Arc<Self>, rec: &ContainerRecord, code: i32) {
        let Ok(rec) = self.store.update(&rec.id, |r| {
            r.status = Status::Exited;
            r.exit_code = code;
            r.finished_at = now_nanos();
            r.pid = 0;
            r.shim = None;
            r.stop_deadline = 0;
        }) else {
            return;
        };
        self.note_exit(&rec);
        self.container_event(&rec, "die", &[("exitCode", code.to_string())]);
        self.after_exit(rec);
    }
}

/// A shim is only given up as gone after several refused connects: on a
/// loaded host one attempt can fail while the shim lives (a full accept
/// backlog answers EAGAIN), and giving up on a live shim would kill its
/// container and lose the exit status it holds.
async fn connect_patiently(addr: &crate::shim::ShimAddress) -> Option<ShimClient> {
    const ATTEMPTS: u32 = 5;
    for attempt in 1..=ATTEMPTS {
        match ShimClient::connect(addr).await {
            Ok(client) => return Some(client),
            Err(_) if attempt < ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
            Err(_) => return None,
        }
    }
    None
}
