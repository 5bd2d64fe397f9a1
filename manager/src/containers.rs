//! Container records: create (record, then snapshot, compensated on
//! failure), lookup, rename and removal.

use std::sync::Arc;
use std::time::Duration;

use berth_proto::manager::{ContainerInfo, CreateContainerRequest};

use crate::bundle;
use crate::error::{ManagerError, Result};
use crate::manager::{random_hex, Manager};
use crate::names;
use crate::record::{now_nanos, ContainerRecord, MountRecord, Status};
use crate::store::StoreError;

const POLICIES: &[&str] = &["", "no", "on-failure", "always", "unless-stopped"];

fn image_error(image: &str, e: berth_image_store::Error) -> ManagerError {
    match e {
        berth_image_store::Error::NotFound(_) => {
            ManagerError::NotFound(format!("no such image: {image}"))
        }
        berth_image_store::Error::Reference(e) => ManagerError::InvalidArgument(e.to_string()),
        e => ManagerError::Internal(e.to_string()),
    }
}

impl Manager {
    pub async fn create_container(
        self: &Arc<Self>,
        req: CreateContainerRequest,
    ) -> Result<ContainerInfo> {
        // every check before anything is stored
        let spec = bundle::validate_spec(&req.spec_json)?;
        if req.image.is_empty() {
            return Err(ManagerError::InvalidArgument(
                "image: empty reference".into(),
            ));
        }
        let policy = req
            .restart_policy
            .as_ref()
            .map(|p| (p.name.clone(), p.max_retries))
            .unwrap_or_default();
        if !POLICIES.contains(&policy.0.as_str()) {
            return Err(ManagerError::InvalidArgument(format!(
                "invalid restart policy {:?}: want no, on-failure, always or unless-stopped",
                policy.0
            )));
        }
        if req.auto_remove && !matches!(policy.0.as_str(), "" | "no") {
            return Err(ManagerError::InvalidArgument(
                "conflicting options: restart policy and auto-remove".into(),
            ));
        }
        let stop_signal = if req.stop_signal.is_empty() {
            "SIGTERM".to_string()
        } else {
            crate::signal::parse(&req.stop_signal).map_err(ManagerError::InvalidArgument)?;
            req.stop_signal.clone()
        };
        let given_name = if req.name.is_empty() {
            None
        } else {
            Some(
                names::validate(&req.name)
                    .map_err(ManagerError::InvalidArgument)?
                    .to_string(),
            )
        };
        if let Some(n) = &given_name {
            if self.store.resolve(n).is_ok_and(|r| r.name == *n) {
                return Err(StoreError::NameInUse(n.clone()).into_manager());
            }
        }
        let images = self.images.clone();
        let image_ref = req.image.clone();
        let info = tokio::task::spawn_blocking(move || images.get(&image_ref))
            .await
            .map_err(ManagerError::internal)?
            .map_err(|e| image_error(&req.image, e))?;

        let id = random_hex(64);
        let mut rec = ContainerRecord {
            id: id.clone(),
            name: given_name.clone().unwrap_or_else(|| names::random(0)),
            image: req.image.clone(),
            image_id: info.id.to_string(),
            spec_json: serde_json::to_string(&spec).expect("a JSON value always serializes"),
            labels: req.labels.into_iter().collect(),
            restart_policy: if policy.0.is_empty() {
                "no".into()
            } else {
                policy.0
            },
            restart_max_retries: policy.1,
            auto_remove: req.auto_remove,
            tty: req.tty,
            open_stdin: req.open_stdin,
            created: now_nanos(),
            status: Status::Created,
            pid: 0,
            exit_code: 0,
            started_at: 0,
            finished_at: 0,
            restart_count: 0,
            oom_killed: false,
            log_path: self.cfg.log_path(&id).display().to_string(),
            bundle: self.cfg.bundle_dir(&id).display().to_string(),
            stop_signal,
            stop_timeout: if req.stop_timeout == 0 {
                10
            } else {
                req.stop_timeout
            },
            rootfs: vec![],
            error: String::new(),
            snapshot: id.clone(),
            shim: None,
            stop_requested: false,
            stop_deadline: 0,
        };
        // the record comes first (with no rootfs yet: recovery drops such a
        // record and its snapshot), then the snapshot, then the mounts
        let mut attempt = 0;
        loop {
            match self.store.insert(&rec) {
                Ok(()) => break,
                Err(StoreError::NameInUse(n)) if given_name.is_none() && attempt < 10 => {
                    attempt += 1;
                    let _ = n;
                    rec.name = names::random(attempt);
                }
                Err(e) => return Err(e.into_manager()),
            }
        }
        let _guard = self.lock_container(&id).await;
        let prepared = async {
            bundle::make_dir(&self.cfg.container_root(&id), 0o700)?;
            // an attached `run --rm` opens the log before the start, so
            // auto-remove after a quick exit cannot take the output first
            make_log(&self.cfg.log_path(&id))?;
            let images = self.images.clone();
            let (key, image) = (id.clone(), rec.image.clone());
            let mounts = tokio::task::spawn_blocking(move || images.prepare(&key, &image))
                .await
                .map_err(ManagerError::internal)?
                .map_err(|e| image_error(&rec.image, e))?;
            let rootfs: Vec<MountRecord> = mounts
                .mounts
                .into_iter()
                .map(|m| MountRecord {
                    kind: m.kind,
                    source: m.source,
                    target: m.target,
                    options: m.options,
                })
                .collect();
            // user and group names come from the container's own files
            let spec_json = crate::users::resolve(&rec.spec_json, &rootfs)
                .map_err(|e| ManagerError::InvalidArgument(e.to_string()))?;
            let spec = if spec_json == rec.spec_json {
                spec
            } else {
                bundle::validate_spec(&spec_json)?
            };
            // networking before the rootfs is recorded: a record without
            // rootfs is discarded whole by recovery, network included
            let spec = self
                .setup_container_network(&id, &rec.name, req.network.as_ref(), spec)
                .await?;
            let spec_json = serde_json::to_string(&spec).expect("a JSON value always serializes");
            self.copy_up_volumes(&id, &spec_json, &rootfs).await?;
            Ok::<_, ManagerError>(self.store.update(&id, |r| {
                r.rootfs = rootfs;
                r.spec_json = spec_json;
            })?)
        }
        .await;
        match prepared {
            Ok(rec) => {
                self.container_event(&rec, "create", &[]);
                Ok(rec.to_info())
            }
            Err(e) => {
                if self.discard(&id).await.is_err() {
                    self.finish_removal_later(&id);
                }
                Err(e)
            }
        }
    }

    /// Removes everything a container may own: snapshot, bundle, log dir,
    /// record. Each step tolerates the thing being gone already. When the
    /// snapshot or the bundle cannot be removed (a busy mount, a full
    /// disk), the record stays, marked dead, so nothing is leaked: the
    /// next `rm`, `container prune` or a restart's recovery finishes it.
    pub async fn discard(&self, id: &str) -> Result<()> {
        self.teardown_container_network(id).await;
        let images = self.images.clone();
        let key = id.to_string();
        let snap = tokio::task::spawn_blocking(move || images.remove_snapshot(&key))
            .await
            .map_err(ManagerError::internal)
            .and_then(|r| match r {
                Err(berth_image_store::Error::Snapshot(
                    berth_image_store::SnapshotError::NotFound(_),
                )) => Ok(()),
                r => r.map_err(|e| ManagerError::Internal(e.to_string())),
            });
        let _ = std::fs::remove_file(berth_proto::hold::path(&self.cfg.bundle_dir(id)));
        let left = snap.and_then(|()| {
            bundle::remove_bundle(&self.cfg.bundle_dir(id))
                .map_err(|e| ManagerError::Internal(e.to_string()))
        });
        if let Err(e) = left {
            crate::log_line!("berth-manager: remove {id}: {e}");
            let _ = self.store.update(id, |r| r.status = Status::Dead);
            self.bump();
            return Err(ManagerError::Internal(format!(
                "unable to remove filesystem for {id}: {e}"
            )));
        }
        let _ = std::fs::remove_dir_all(self.cfg.container_root(id));
        let removed = self.store.remove(id);
        self.bump();
        removed.map_err(|e| {
            crate::log_line!("berth-manager: remove record of {id}: {e}");
            ManagerError::Internal(format!("remove container {id}: {e}"))
        })
    }

    pub fn get_container(&self, key: &str) -> Result<ContainerInfo> {
        Ok(self.resolve(key)?.to_info())
    }

    /// Containers newest first, each with a brief spec (see `listing`).
    pub fn list_containers(&self, all: bool) -> Result<Vec<ContainerInfo>> {
        let listed = crate::listing::list(&self.store, listed_as_running)?;
        Ok(listed
            .into_iter()
            .filter(|(running, _)| all || *running)
            .map(|(_, info)| info)
            .collect())
    }

    /// Containers newest first, each as a list view's row, as an encoded
    /// `ListContainersResponse` (see `listing`).
    pub fn list_container_rows(&self, all: bool, with_mounts: bool) -> Result<Vec<u8>> {
        Ok(crate::listing::rows(
            &self.store,
            listed_as_running,
            all,
            with_mounts,
        )?)
    }

    pub async fn rename_container(&self, key: &str, new_name: &str) -> Result<()> {
        let new_name = names::validate(new_name)
            .map_err(ManagerError::InvalidArgument)?
            .to_string();
        let rec = self.resolve(key)?;
        let _g = self.lock_container(&rec.id).await;
        let old = rec.name.clone();
        let rec = self
            .store
            .rename(&rec.id, &new_name)
            .map_err(StoreError::into_manager)?;
        self.container_event(&rec, "rename", &[("oldName", old)]);
        Ok(())
    }

    /// Deletes a container; a running one only with `force` (killed first).
    pub async fn delete_container(self: &Arc<Self>, key: &str, force: bool) -> Result<()> {
        let rec = self.resolve(key)?;
        if rec.status.has_task() || rec.status == Status::Restarting {
            if !force {
                return Err(ManagerError::FailedPrecondition(format!(
                    "cannot remove container {}: container is {}: stop the container before removing or force remove",
                    rec.name,
                    rec.status.as_str()
                )));
            }
            self.store.update(&rec.id, |r| r.stop_requested = true)?;
            if rec.status.has_task() {
                self.kill_and_reap(&rec.id, Duration::from_secs(30)).await?;
            }
        }
        let _g = self.lock_container(&rec.id).await;
        let Some(rec) = self.store.get(&rec.id)? else {
            return Ok(());
        };
        if rec.status.has_task() {
            return Err(ManagerError::FailedPrecondition(format!(
                "container {} started again while being removed",
                rec.name
            )));
        }
        // "removal in progress": recovery finishes a removal a crash cut short
        // (an auto-remove container's exit marked it so already)
        let rec = if rec.status == Status::Dead {
            rec
        } else {
            self.store.update(&rec.id, |r| r.status = Status::Dead)?
        };
        if rec.shim.is_some() {
            self.release_shim(&rec).await;
        }
        if let Err(e) = self.discard(&rec.id).await {
            self.finish_removal_later(&rec.id);
            return Err(e);
        }
        // docker's `--rm` takes the container's anonymous volumes with it,
        // whoever deletes it: the exit watcher, or a client that came first
        if rec.auto_remove {
            self.remove_anonymous_volumes(&rec.spec_json).await;
        }
        self.forget_lock(&rec.id);
        self.container_event(&rec, "destroy", &[]);
        Ok(())
    }

    /// `container prune`: every container without a task that `filter`
    /// admits.
    pub async fn prune_containers(
        self: &Arc<Self>,
        filter: &crate::prune_filter::PruneSelector,
    ) -> Result<Vec<String>> {
        let mut deleted = Vec::new();
        for rec in self.store.list()? {
            if matches!(rec.status, Status::Created | Status::Exited | Status::Dead)
                && filter.admits(&rec.labels, rec.created as i128)
                && self.delete_container(&rec.id, false).await.is_ok()
            {
                deleted.push(rec.id);
            }
        }
        Ok(deleted)
    }
}

/// Creates an empty container log (the shim appends to it).
fn make_log(path: &std::path::Path) -> Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(drop)
        .map_err(|e| ManagerError::Internal(format!("create log {}: {e}", path.display())))
}

impl StoreError {
    /// Store errors as the front end sees them.
    pub fn into_manager(self) -> ManagerError {
        match self {
            StoreError::NameInUse(_) | StoreError::IdInUse(_) => {
                ManagerError::AlreadyExists(self.to_string())
            }
            StoreError::NotFound(_) => ManagerError::NotFound(self.to_string()),
            StoreError::Ambiguous(_) => ManagerError::InvalidArgument(self.to_string()),
            e => ManagerError::Internal(e.to_string()),
        }
    }
}

/// Whether `ps` without `-a` lists a container.
fn listed_as_running(r: &ContainerRecord) -> bool {
    matches!(
        r.status,
        Status::Running | Status::Paused | Status::Restarting
    )
}
