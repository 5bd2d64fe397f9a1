//! The manager's shared state: the metadata store, the image store, live
//! shim connections, the event bus, and per-container serialization.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_image_store::ImageStore;
use berth_proto::manager::WaitResponse;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::error::{ManagerError, Result};
use crate::events::EventBus;
use crate::record::{timestamp, ContainerRecord};
use crate::recovering::RecoveryGate;
use crate::shim::{ShimClient, ShimLauncher};
use crate::store::{Store, StoreError};

/// A live connection to a container's shim.
pub struct Task {
    pub client: ShimClient,
    /// `started_at` of the run this task belongs to: a late exit of an older
    /// run must not end a newer one.
    pub generation: u64,
    /// Copies the shim's log FIFO to the manager's stderr.
    pub log_copier: Option<JoinHandle<()>>,
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(h) = self.log_copier.take() {
            h.abort();
        }
    }
}

/// An exec'd process the manager started, keyed by exec id.
#[derive(Debug, Clone)]
pub struct ExecInfo {
    pub container_id: String,
    pub dir: PathBuf,
}

pub struct Manager {
    pub cfg: Config,
    pub store: Store,
    pub images: Arc<ImageStore>,
    pub events: EventBus,
    pub launcher: ShimLauncher,
    tasks: Mutex<HashMap<String, Arc<Task>>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub execs: Mutex<HashMap<String, ExecInfo>>,
    pub exec_exits: Mutex<HashMap<String, WaitResponse>>,
    /// Last exit of containers that may be gone already (auto-remove), for
    /// waiters that see the record vanish.
    recent_exits: Mutex<HashMap<String, WaitResponse>>,
    /// Bumped on every exit, so waiters re-read records.
    changes: watch::Sender<u64>,
    /// Containers a fresh manager is still recovering.
    pub recovering: RecoveryGate,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Manager {
    pub fn new(cfg: Config, store: Store, images: ImageStore) -> Manager {
        let launcher = ShimLauncher {
            shim_bin: cfg.shim.clone(),
            manager_socket: cfg.socket(),
            publish_binary: cfg.manager_bin.clone(),
            debug: cfg.debug,
            spawner: crate::spawner::Spawner::start(),
        };
        Manager {
            cfg,
            store,
            images: Arc::new(images),
            events: EventBus::new(),
            launcher,
            tasks: Mutex::new(HashMap::new()),
            locks: Mutex::new(HashMap::new()),
            execs: Mutex::new(HashMap::new()),
            exec_exits: Mutex::new(HashMap::new()),
            recent_exits: Mutex::new(HashMap::new()),
            changes: watch::channel(0).0,
            recovering: RecoveryGate::default(),
        }
    }

    /// Serializes state changes of one container.
    pub async fn lock_container(&self, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = lock(&self.locks)
            .entry(id.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
            .clone();
        m.lock_owned().await
    }

    pub fn forget_lock(&self, id: &str) {
        lock(&self.locks).remove(id);
    }

    /// Finds a container by id, id prefix or name.
    pub fn resolve(&self, key: &str) -> Result<ContainerRecord> {
        self.store.resolve(key).map_err(|e| match e {
            StoreError::NotFound(_) => ManagerError::NotFound(format!("no such container: {key}")),
            StoreError::Ambiguous(_) => ManagerError::InvalidArgument(e.to_string()),
            e => e.into(),
        })
    }

    /// Returns once the container `key` names is not being recovered (at
    /// once for one that is not, or does not exist).
    pub async fn recovered(&self, key: &str) {
        if !self.recovering.any() {
            return;
        }
        if let Ok(rec) = self.store.resolve(key) {
            self.recovering.wait(&rec.id).await;
        }
    }

    pub fn task(&self, id: &str) -> Option<Arc<Task>> {
        lock(&self.tasks).get(id).cloned()
    }

    pub fn set_task(&self, id: &str, task: Task) -> Arc<Task> {
        let t = Arc::new(task);
        lock(&self.tasks).insert(id.to_string(), t.clone());
        t
    }

    pub fn take_task(&self, id: &str) -> Option<Arc<Task>> {
        lock(&self.tasks).remove(id)
    }

    /// The shim client of a container that has a task, or the docker-like
    /// "not running" error.
    pub fn running_client(&self, rec: &ContainerRecord) -> Result<ShimClient> {
        if !rec.status.has_task() {
            return Err(ManagerError::FailedPrecondition(format!(
                "container {} is not running",
                rec.id
            )));
        }
        self.task(&rec.id).map(|t| t.client.clone()).ok_or_else(|| {
            ManagerError::Unavailable(format!("shim of container {} is not connected", rec.id))
        })
    }

    pub fn note_exit(&self, rec: &ContainerRecord) {
        let w = WaitResponse {
            exit_code: rec.exit_code,
            exited_at: timestamp(rec.finished_at),
            oom_killed: rec.oom_killed,
            ..Default::default()
        };
        lock(&self.recent_exits).insert(rec.id.clone(), w);
        self.changes.send_modify(|n| *n += 1);
    }

    pub fn recent_exit(&self, id: &str) -> Option<WaitResponse> {
        lock(&self.recent_exits).get(id).cloned()
    }

    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Wakes waiters without an exit (e.g. a record was removed).
    pub fn bump(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Publishes a container event with docker's attributes.
    pub fn container_event(&self, rec: &ContainerRecord, action: &str, extra: &[(&str, String)]) {
        let mut attrs: Vec<(&str, String)> =
            vec![("name", rec.name.clone()), ("image", rec.image.clone())];
        for (k, v) in &rec.labels {
            attrs.push((k.as_str(), v.clone()));
        }
        attrs.extend(extra.iter().cloned());
        self.events.publish("container", action, &rec.id, &attrs);
    }
}

/// 64 random hex digits (a container id), or `n` of them.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n.div_ceil(2)];
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if filled.is_err() {
        // /dev/urandom missing: time and pid still make ids unique per host
        let seed = crate::record::now_nanos() ^ ((std::process::id() as u64) << 32);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed.rotate_left((i * 8) as u32) & 0xff) as u8 ^ i as u8;
        }
    }
    let mut s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    s.truncate(n);
    s
}
