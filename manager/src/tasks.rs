//! A container's task: started through a fresh shim, watched until it
//! exits, then reaped (task delete, shim shutdown, bundle removal) and its
//! exit recorded; the restart policy and auto-remove act on that exit.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use berth_proto::containerd::api;
use berth_proto::containerd::shim::oci::Options as RuncOptions;
use berth_proto::manager::{AttachResponse, WaitResponse};
use protobuf::well_known_types::any::Any;
use protobuf::{Message, MessageField};

use crate::bundle;
use crate::error::{ManagerError, Result};
use crate::manager::{Manager, Task};
use crate::record::{nanos_of, now_nanos, timestamp, ContainerRecord, ShimRecord, Status};
use crate::shim::{ShimAddress, ShimClient};

/// The exit recorded for a container whose shim died under it: the shim's
/// `delete` kills what is left with SIGKILL, so 128 + 9, as docker records.
pub const LOST_SHIM_EXIT: i32 = 137;

/// How long `release_shim` waits for a shut down shim to go.
const SHIM_EXIT_WAIT: Duration = Duration::from_secs(5);

/// How long `release_shim` waits for a killed leftover task.
const LEFTOVER_KILL_WAIT: Duration = Duration::from_secs(10);

pub const RUNC_OPTIONS_URL: &str = "containerd.runc.v1.Options";
pub const RESOURCES_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";

pub fn stdin_fifo(bundle: &Path) -> std::path::PathBuf {
    bundle.join("init-stdin")
}

/// docker's restart delay: 100ms doubling per restart, at most ~25s.
pub fn restart_delay(restart_count: u32) -> Duration {
    Duration::from_millis(100u64 << restart_count.min(8))
}

/// Whether a container's policy restarts it after this exit.
pub fn should_restart(rec: &ContainerRecord) -> bool {
    if rec.stop_requested {
        return false;
    }
    match rec.restart_policy.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            rec.exit_code != 0
                && (rec.restart_max_retries == 0 || rec.restart_count < rec.restart_max_retries)
        }
        _ => false,
    }
}

/// Copies what the shim writes to its log FIFO into the manager's stderr.
pub(crate) fn spawn_log_copier(id: &str, fifo: &Path) -> Option<tokio::task::JoinHandle<()>> {
    // read-write, so the reader never sees EOF between shim writers
    let rx = tokio::net::unix::pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(fifo)
        .ok()?;
    let short: String = id.chars().take(12).collect();
    // No buffer is kept while the shim is quiet, as it nearly always is:
    // one per container would be resident a thousand times over. A read
    // borrows one, and only an unfinished line stays.
    Some(tokio::spawn(async move {
        let mut partial = Vec::new();
        loop {
            if rx.readable().await.is_err() {
                return;
            }
            let mut buf = vec![0u8; 4096];
            let n = match rx.try_read(&mut buf) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return,
            };
            partial.extend_from_slice(&buf[..n]);
            while let Some(end) = partial.iter().position(|&b| b == b'\n') {
                let line = String::from_utf8_lossy(&partial[..end]);
                crate::log_line!("shim {short}: {}", line.trim_end_matches('\r'));
                partial.drain(..=end);
            }
            if partial.is_empty() {
                partial = Vec::new();
            }
        }
    }))
}

impl Manager {
    pub async fn start_task(self: &Arc<Self>, key: &str) -> Result<u32> {
        let rec = self.resolve(key)?;
        let _g = self.lock_container(&rec.id).await;
        let rec = self
            .store
            .get(&rec.id)?
            .ok_or_else(|| ManagerError::NotFound(format!("no such container: {key}")))?;
        self.start_locked(rec, false).await
    }

    /// Starts the task; the caller holds the container's lock.
    async fn start_locked(self: &Arc<Self>, rec: ContainerRecord, restart: bool) -> Result<u32> {
        match rec.status {
            s if s.has_task() => {
                return Err(ManagerError::FailedPrecondition(format!(
                    "container {} is already running",
                    rec.name
                )))
            }
            Status::Dead => {
                return Err(ManagerError::FailedPrecondition(format!(
                    "container {} is marked for removal and cannot be started",
                    rec.name
                )))
            }
            _ => {}
        }
        if rec.rootfs.is_empty() {
            return Err(ManagerError::Internal(format!(
                "container {} has no rootfs snapshot",
                rec.name
            )));
        }
        let spec = bundle::validate_spec(&rec.spec_json)?;
        let spec = bundle::runtime_spec(&spec, &rec.id, rec.tty);
        let dir = self.cfg.bundle_dir(&rec.id);
        // a `cp` writing into the stopped container's snapshot finishes
        // first; the hold lasts until the task runs on it
        let _hold = {
            let d = dir.clone();
            tokio::task::spawn_blocking(move || berth_proto::hold::hold(&d))
                .await
                .map_err(|e| ManagerError::Internal(format!("wait for a cp: {e}")))?
                .map_err(|e| {
                    ManagerError::Internal(format!(
                        "hold container {} for its start: {e}",
                        rec.name
                    ))
                })?
        };
        bundle::remove_bundle(&dir)?;
        bundle::write_bundle(&dir, &spec)?;
        bundle::make_dir(&self.cfg.container_root(&rec.id), 0o700)?;
        let stdin = if rec.open_stdin {
            let p = stdin_fifo(&dir);
            bundle::make_fifo(&p)?;
            p.display().to_string()
        } else {
            String::new()
        };
        // a shim may exist from here on: recovery looks for it
        let rec = self.store.update(&rec.id, |r| {
            r.shim = Some(ShimRecord {
                address: String::new(),
                version: 0,
            });
            r.error.clear();
            r.stop_deadline = 0;
            if !restart {
                r.stop_requested = false;
            }
        })?;
        match self.launch(&rec, &dir, stdin).await {
            Ok((client, pid, log_copier, addr)) => {
                let started = now_nanos();
                // the address joins the record with the start, in one
                // commit: until then recovery reads the bundle's address file
                let rec = self.store.update(&rec.id, |r| {
                    r.shim = Some(ShimRecord {
                        address: addr.address.clone(),
                        version: addr.version,
                    });
                    r.status = Status::Running;
                    r.pid = pid;
                    r.started_at = started;
                    r.exit_code = 0;
                    r.oom_killed = false;
                    if restart {
                        r.restart_count += 1;
                    }
                })?;
                self.set_task(
                    &rec.id,
                    Task {
                        client: client.clone(),
                        generation: started,
                        log_copier,
                    },
                );
                self.watch_task(&rec.id, client, started);
                self.container_event(&rec, "start", &[]);
                Ok(pid)
            }
            Err(e) => {
                let rec = self.store.update(&rec.id, |r| r.error = e.to_string())?;
                self.release_shim(&rec).await;
                Err(e)
            }
        }
    }

    async fn launch(
        &self,
        rec: &ContainerRecord,
        dir: &Path,
        stdin: String,
    ) -> Result<(
        ShimClient,
        u32,
        Option<tokio::task::JoinHandle<()>>,
        ShimAddress,
    )> {
        // the record's empty shim address (see `start_locked`) sends
        // recovery to the address file the shim writes at `start`
        let addr = self.launcher.start(&rec.id, dir).await?;
        let log_copier = spawn_log_copier(&rec.id, &dir.join("log"));
        let abort = |h: Option<tokio::task::JoinHandle<()>>| {
            if let Some(h) = h {
                h.abort();
            }
        };
        let client = match ShimClient::connect(&addr).await {
            Ok(c) => c,
            Err(e) => {
                abort(log_copier);
                return Err(e.into());
            }
        };
        let stdio = crate::container_log::stdio_uri(&rec.log_path, &rec.spec_json);
        // the runtime's state stays under the manager's state dir too
        let options = RuncOptions {
            binary_name: self.cfg.runtime.display().to_string(),
            root: self.cfg.runtime_root().display().to_string(),
            ..Default::default()
        };
        let req = api::CreateTaskRequest {
            id: rec.id.clone(),
            bundle: dir.display().to_string(),
            rootfs: rec
                .rootfs
                .iter()
                .map(|m| api::Mount {
                    type_: m.kind.clone(),
                    source: m.source.clone(),
                    target: m.target.clone(),
                    options: crate::scratch_rootfs::mount_options(
                        &m.kind,
                        &m.options,
                        rec.auto_remove,
                    ),
                    ..Default::default()
                })
                .collect(),
            terminal: rec.tty,
            stdin,
            stdout: stdio.clone(),
            stderr: if rec.tty { String::new() } else { stdio },
            options: MessageField::some(Any {
                type_url: RUNC_OPTIONS_URL.into(),
                value: options.write_to_bytes().map_err(ManagerError::internal)?,
                ..Default::default()
            }),
            ..Default::default()
        };
        let started = async {
            client.create(&req).await?;
            client.start(&rec.id, "").await
        }
        .await;
        match started {
            Ok(s) => Ok((client, s.pid, log_copier, addr)),
            Err(e) => {
                abort(log_copier);
                Err(e.into())
            }
        }
    }

    /// Waits on the shim for the init's exit, then records it.
    pub fn watch_task(self: &Arc<Self>, id: &str, client: ShimClient, generation: u64) {
        let mgr = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let mut client = client;
            loop {
                let err = match client.wait(&id, "").await {
                    // boxed, here and below: the task waits in `wait` for
                    // the container's life, and an unboxed future would
                    // keep room for these rare steps all that time
                    Ok(w) => {
                        let at = nanos_of(&w.exited_at);
                        return Box::pin(mgr.finish_exit(
                            &id,
                            generation,
                            w.exit_status as i32,
                            at,
                        ))
                        .await;
                    }
                    Err(e) => e,
                };
                // a broken connection is not an exit: ask the shim afresh
                // before ending a task that may still run
                let still_ours = mgr.task(&id).is_some_and(|t| t.generation == generation);
                if !still_ours {
                    return;
                }
                let Some(fresh) = Box::pin(mgr.reconnect(&id)).await else {
                    crate::log_line!("berth-manager: lost shim of {id}: {err}");
                    return Box::pin(mgr.finish_exit(&id, generation, LOST_SHIM_EXIT, now_nanos()))
                        .await;
                };
                match Box::pin(fresh.state(&id, "")).await {
                    Ok(st) if st.status.enum_value_or_default() == api::Status::STOPPED => {
                        let at = nanos_of(&st.exited_at);
                        return Box::pin(mgr.finish_exit(
                            &id,
                            generation,
                            st.exit_status as i32,
                            at,
                        ))
                        .await;
                    }
                    Ok(_) => client = fresh,
                    Err(e) => {
                        crate::log_line!("berth-manager: lost shim of {id}: {e}");
                        return Box::pin(mgr.finish_exit(
                            &id,
                            generation,
                            LOST_SHIM_EXIT,
                            now_nanos(),
                        ))
                        .await;
                    }
                }
            }
        });
    }

    /// A new connection to a container's shim, from its recorded address.
    async fn reconnect(&self, id: &str) -> Option<ShimClient> {
        let rec = self.store.get(id).ok()??;
        let addr = shim_address(&rec, &self.cfg.bundle_dir(id))?;
        ShimClient::connect(&addr).await.ok()
    }

    /// Records the exit of a container's init and reaps its task. A second
    /// report of the same exit (or of an older run) changes nothing.
    pub async fn finish_exit(self: &Arc<Self>, id: &str, generation: u64, code: i32, at: u64) {
        let guard = self.lock_container(id).await;
        let Ok(Some(rec)) = self.store.get(id) else {
            return;
        };
        if !rec.status.has_task() || (generation != 0 && rec.started_at != generation) {
            return;
        }
        let rec = match self.store.update(id, |r| {
            r.status = Status::Exited;
            r.exit_code = code;
            r.finished_at = if at == 0 { now_nanos() } else { at };
            r.pid = 0;
            r.stop_deadline = 0;
        }) {
            Ok(r) => r,
            Err(e) => {
                crate::log_line!("berth-manager: record exit of {id}: {e}");
                return;
            }
        };
        // an auto-remove container's removal is due from here: marked in
        // the commit that forgets the shim, which saves the removal its own
        self.release_shim_marking(&rec, rec.auto_remove).await;
        self.note_exit(&rec);
        self.container_event(&rec, "die", &[("exitCode", code.to_string())]);
        drop(guard);
        self.after_exit(rec);
    }

    /// Ends a container's shim, whatever state it is in: kills a task still
    /// there, deletes it (the shim unmounts the rootfs), shuts the shim down;
    /// with the shim process gone, runs the shim binary's `delete` instead.
    /// Then removes the bundle and forgets the shim.
    pub async fn release_shim(&self, rec: &ContainerRecord) {
        self.release_shim_marking(rec, false).await
    }

    /// [`Manager::release_shim`]; with `dead`, the record is marked for
    /// removal ([`Status::Dead`]) in the same commit that forgets the shim.
    async fn release_shim_marking(&self, rec: &ContainerRecord, dead: bool) {
        let id = rec.id.as_str();
        let dir = self.cfg.bundle_dir(id);
        let task = self.take_task(id);
        let addr = shim_address(rec, &dir);
        let mut client = task.as_ref().map(|t| t.client.clone());
        if client.is_none() {
            if let Some(addr) = &addr {
                client = ShimClient::connect(addr).await.ok();
            }
        }
        let mut reaped = false;
        if let Some(c) = &client {
            if let Ok(st) = c.state(id, "").await {
                if st.status.enum_value_or_default() != api::Status::STOPPED {
                    let _ = c.kill(id, "", libc::SIGKILL as u32, true).await;
                    let _ = tokio::time::timeout(LEFTOVER_KILL_WAIT, c.wait(id, "")).await;
                }
                reaped = c.delete(id, "").await.is_ok();
            }
            let _ = c.shutdown(id).await;
            // the socket's path is the container's own: a shim started
            // again while this one still listens would be handed over to it
            if let Some(addr) = &addr {
                wait_socket_gone(&addr.address, SHIM_EXIT_WAIT).await;
            }
        }
        drop(task);
        if !reaped && dir.join("config.json").exists() {
            if let Err(e) = self.launcher.cleanup(id, &dir).await {
                crate::log_line!("berth-manager: clean up after shim of {id}: {e}");
            }
        }
        if let Err(e) = bundle::remove_bundle(&dir) {
            crate::log_line!("berth-manager: {e}");
        }
        if let Some(addr) = &addr {
            remove_dead_socket(&addr.address).await;
        }
        if let Some(path) = crate::cgroups::cgroups_path(&rec.spec_json, id) {
            crate::cgroups::remove_empty(&path);
        }
        if let Err(e) = self.store.update(id, |r| {
            r.shim = None;
            if dead {
                r.status = Status::Dead;
            }
        }) {
            if !matches!(e, crate::store::StoreError::NotFound(_)) {
                crate::log_line!("berth-manager: forget shim of {id}: {e}");
            }
        }
    }

    /// Auto-remove or the restart policy, after an exit was recorded.
    pub fn after_exit(self: &Arc<Self>, rec: ContainerRecord) {
        let mgr = self.clone();
        let job: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            if rec.auto_remove {
                if let Err(e) = mgr.delete_container(&rec.id, true).await {
                    crate::log_line!("berth-manager: auto-remove {}: {e}", rec.id);
                }
                return;
            }
            if !should_restart(&rec) {
                return;
            }
            if mgr
                .store
                .update(&rec.id, |r| r.status = Status::Restarting)
                .is_err()
            {
                return;
            }
            mgr.bump();
            tokio::time::sleep(restart_delay(rec.restart_count)).await;
            let _g = mgr.lock_container(&rec.id).await;
            let Ok(Some(now)) = mgr.store.get(&rec.id) else {
                return;
            };
            if now.status != Status::Restarting || now.stop_requested {
                return;
            }
            if let Err(e) = mgr.start_locked(now, true).await {
                crate::log_line!("berth-manager: restart {}: {e}", rec.id);
                let _ = mgr.store.update(&rec.id, |r| {
                    r.status = Status::Exited;
                    r.error = e.to_string();
                });
                mgr.bump();
            }
        });
        tokio::spawn(job);
    }

    /// Blocks until the container has no task (or `limit` passes: `None`).
    pub async fn wait_for_exit(
        &self,
        id: &str,
        limit: Option<Duration>,
    ) -> Result<Option<WaitResponse>> {
        let deadline = limit.map(|l| tokio::time::Instant::now() + l);
        loop {
            let mut rx = self.changes();
            rx.borrow_and_update();
            let Some(rec) = self.store.get(id)? else {
                return self
                    .recent_exit(id)
                    .map(Some)
                    .ok_or_else(|| ManagerError::NotFound(format!("no such container: {id}")));
            };
            if matches!(
                rec.status,
                Status::Exited | Status::Dead | Status::Restarting
            ) {
                return Ok(Some(WaitResponse {
                    exit_code: rec.exit_code,
                    exited_at: timestamp(rec.finished_at),
                    oom_killed: rec.oom_killed,
                    ..Default::default()
                }));
            }
            match deadline {
                Some(d) => {
                    if tokio::time::timeout_at(d, rx.changed()).await.is_err() {
                        return Ok(None);
                    }
                }
                None => {
                    let _ = rx.changed().await;
                }
            }
        }
    }

    pub async fn wait_task(&self, key: &str) -> Result<WaitResponse> {
        // auto-remove may have taken the record before the waiter came
        let rec = match self.resolve(key) {
            Ok(rec) => rec,
            Err(e) => return self.recent_exit(key).ok_or(e),
        };
        Ok(self
            .wait_for_exit(&rec.id, None)
            .await?
            .expect("no deadline"))
    }

    /// SIGKILL to every process of the task, then waits for the exit to be
    /// recorded.
    pub async fn kill_and_reap(&self, id: &str, limit: Duration) -> Result<()> {
        let rec = self.resolve(id)?;
        if !rec.status.has_task() {
            return Ok(());
        }
        let client = self.running_client(&rec)?;
        if let Err(e) = client.kill(id, "", libc::SIGKILL as u32, true).await {
            // a task that exited meanwhile is fine
            if self.store.get(id)?.is_some_and(|r| r.status.has_task())
                && !crate::stopping::task_finished(&client, id).await
            {
                return Err(e.into());
            }
        }
        if rec.status == Status::Paused {
            let _ = client.resume(id).await;
        }
        match self.wait_for_exit(id, Some(limit)).await? {
            Some(_) => Ok(()),
            None => Err(ManagerError::Internal(format!(
                "container {} did not exit after SIGKILL",
                rec.name
            ))),
        }
    }

    pub async fn kill_task(&self, key: &str, signal: &str, all: bool, exec_id: &str) -> Result<()> {
        let rec = self.resolve(key)?;
        let sig = if signal.is_empty() {
            libc::SIGKILL as u32
        } else {
            crate::signal::parse(signal).map_err(ManagerError::InvalidArgument)?
        };
        let client = self.running_client(&rec)?;
        client.kill(&rec.id, exec_id, sig, all).await?;
        self.container_event(&rec, "kill", &[("signal", sig.to_string())]);
        Ok(())
    }

    pub async fn pause_task(&self, key: &str, pause: bool) -> Result<()> {
        let rec = self.resolve(key)?;
        let _g = self.lock_container(&rec.id).await;
        let rec = self.resolve(&rec.id)?;
        let client = self.running_client(&rec)?;
        match (pause, rec.status) {
            (true, Status::Paused) => {
                return Err(ManagerError::FailedPrecondition(format!(
                    "container {} is already paused",
                    rec.name
                )))
            }
            (false, Status::Running) => {
                return Err(ManagerError::FailedPrecondition(format!(
                    "container {} is not paused",
                    rec.name
                )))
            }
            _ => {}
        }
        if pause {
            client.pause(&rec.id).await?;
        } else {
            client.resume(&rec.id).await?;
        }
        let rec = self.store.update(&rec.id, |r| {
            r.status = if pause {
                Status::Paused
            } else {
                Status::Running
            }
        })?;
        self.container_event(&rec, if pause { "pause" } else { "unpause" }, &[]);
        Ok(())
    }

    pub fn attach_task(&self, key: &str) -> Result<AttachResponse> {
        let rec = self.resolve(key)?;
        Ok(AttachResponse {
            stdin_path: if rec.open_stdin {
                stdin_fifo(Path::new(&rec.bundle)).display().to_string()
            } else {
                String::new()
            },
            log_path: rec.log_path.clone(),
            tty: rec.tty,
            spill_path: Path::new(&rec.bundle)
                .join(berth_jsonlog::SPILL_FILE)
                .display()
                .to_string(),
            ..Default::default()
        })
    }

    /// New resource limits: applied to a live task, and kept in the spec for
    /// the next start.
    pub async fn update_task(&self, key: &str, resources_json: &str) -> Result<()> {
        if resources_json.is_empty() {
            return Ok(());
        }
        let resources: serde_json::Value = serde_json::from_str(resources_json)
            .map_err(|e| ManagerError::InvalidArgument(format!("invalid resources_json: {e}")))?;
        serde_json::from_value::<oci_spec::runtime::LinuxResources>(resources.clone())
            .map_err(|e| ManagerError::InvalidArgument(format!("invalid resources_json: {e}")))?;
        let rec = self.resolve(key)?;
        let _g = self.lock_container(&rec.id).await;
        let rec = self.resolve(&rec.id)?;
        if rec.status.has_task() {
            let client = self.running_client(&rec)?;
            let req = api::UpdateTaskRequest {
                id: rec.id.clone(),
                resources: MessageField::some(Any {
                    type_url: RESOURCES_URL.into(),
                    value: resources_json.as_bytes().to_vec(),
                    ..Default::default()
                }),
                ..Default::default()
            };
            client.update(&req).await?;
        }
        let mut spec: serde_json::Value =
            serde_json::from_str(&rec.spec_json).map_err(ManagerError::internal)?;
        let linux = spec
            .as_object_mut()
            .map(|o| o.entry("linux").or_insert_with(|| serde_json::json!({})));
        if let Some(serde_json::Value::Object(linux)) = linux {
            let res = linux
                .entry("resources")
                .or_insert_with(|| serde_json::json!({}));
            if let (Some(res), Some(new)) = (res.as_object_mut(), resources.as_object()) {
                for (k, v) in new {
                    res.insert(k.clone(), v.clone());
                }
            }
        }
        let spec_json = spec.to_string();
        let rec = self.store.update(&rec.id, |r| r.spec_json = spec_json)?;
        self.container_event(&rec, "update", &[]);
        Ok(())
    }

    /// `update --restart`: the policy the manager applies from the next exit.
    pub async fn update_restart_policy(&self, key: &str, name: &str, max: u32) -> Result<()> {
        if !matches!(name, "no" | "always" | "unless-stopped" | "on-failure") {
            return Err(ManagerError::InvalidArgument(format!(
                "invalid restart policy '{name}'"
            )));
        }
        let rec = self.resolve(key)?;
        let _g = self.lock_container(&rec.id).await;
        let rec = self.resolve(&rec.id)?;
        if rec.auto_remove && name != "no" {
            return Err(ManagerError::InvalidArgument(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
                    .into(),
            ));
        }
        let rec = self.store.update(&rec.id, |r| {
            r.restart_policy = name.to_string();
            r.restart_max_retries = if name == "on-failure" { max } else { 0 };
        })?;
        self.container_event(&rec, "update", &[]);
        Ok(())
    }
}

/// Waits (at most `limit`) until a shim that was asked to shut down has
/// removed its socket. The shim removes it right after its reply, so this
/// looks often: every `run --rm` waits here once.
async fn wait_socket_gone(address: &str, limit: Duration) {
    let Some(path) = address.strip_prefix("unix://") else {
        return;
    };
    let deadline = tokio::time::Instant::now() + limit;
    while Path::new(path).exists() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(SOCKET_GONE_POLL).await;
    }
}

/// How often `wait_socket_gone` looks.
const SOCKET_GONE_POLL: Duration = Duration::from_millis(1);

/// Removes the socket file of a shim that is gone: a shim killed outright
/// cannot remove it itself. A socket something still listens on is kept.
pub async fn remove_dead_socket(address: &str) {
    let Some(path) = address.strip_prefix("unix://") else {
        return;
    };
    if path.starts_with('@') || !Path::new(path).exists() {
        return;
    }
    if tokio::net::UnixStream::connect(path).await.is_err() {
        let _ = std::fs::remove_file(path);
    }
}

/// A shim's address: from the record, else the `address` file containerd's
/// shims write into the bundle at `start`.
pub fn shim_address(rec: &ContainerRecord, bundle: &Path) -> Option<ShimAddress> {
    let shim = rec.shim.as_ref()?;
    if !shim.address.is_empty() {
        return Some(ShimAddress {
            address: shim.address.clone(),
            version: shim.version.max(2),
        });
    }
    let text = std::fs::read_to_string(bundle.join("address")).ok()?;
    crate::shim::parse_bootstrap(text.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(policy: &str, max: u32, count: u32, code: i32) -> ContainerRecord {
        let mut r: ContainerRecord = serde_json::from_value(serde_json::json!({
            "id":"a","name":"n","image":"i","image_id":"","spec_json":"{}","labels":{},
            "restart_policy":policy,"restart_max_retries":max,"auto_remove":false,"tty":false,
            "open_stdin":false,"created":1,"status":"exited","pid":0,"exit_code":code,
            "started_at":0,"finished_at":0,"restart_count":count,"oom_killed":false,
            "log_path":"","bundle":"","stop_signal":"SIGTERM","stop_timeout":10,"rootfs":[],
            "error":"","snapshot":"a","shim":null,"stop_requested":false
        }))
        .unwrap();
        r.exit_code = code;
        r
    }

    #[test]
    fn restart_policies() {
        assert!(!should_restart(&rec("no", 0, 0, 1)));
        assert!(should_restart(&rec("always", 0, 5, 0)));
        assert!(should_restart(&rec("on-failure", 0, 5, 1)));
        assert!(!should_restart(&rec("on-failure", 0, 5, 0)));
        assert!(should_restart(&rec("on-failure", 3, 2, 1)));
        assert!(!should_restart(&rec("on-failure", 3, 3, 1)));
        let mut stopped = rec("always", 0, 0, 0);
        stopped.stop_requested = true;
        assert!(!should_restart(&stopped));
    }

    #[test]
    fn restart_delay_doubles_and_caps() {
        assert_eq!(restart_delay(0), Duration::from_millis(100));
        assert_eq!(restart_delay(1), Duration::from_millis(200));
        assert_eq!(restart_delay(50), restart_delay(8));
    }

    #[test]
    fn shim_address_falls_back_to_the_bundle_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = rec("no", 0, 0, 0);
        assert!(shim_address(&r, dir.path()).is_none());
        r.shim = Some(ShimRecord {
            address: String::new(),
            version: 0,
        });
        assert!(shim_address(&r, dir.path()).is_none());
        std::fs::write(dir.path().join("address"), "unix:///run/x.sock\n").unwrap();
        assert_eq!(
            shim_address(&r, dir.path()).unwrap().address,
            "unix:///run/x.sock"
        );
    }
}
