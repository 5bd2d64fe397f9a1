//! The build driver's [`Backend`] over the manager connection: images and
//! the build cache through `Images` and `Layers`, RUN steps as ordinary
//! containers through `Containers` and `Tasks`, and read-only views of an
//! image's filesystem for COPY.  It remembers what it made so that an
//! interrupted build leaves no container or mount behind ([`cleanup`]).
//!
//! [`cleanup`]: ManagerBackend::cleanup

use std::collections::BTreeSet;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth_build::{Backend, BackendError, Image, MountedImage, NewImage, Output, RunStep};
use berth_proto::layers::{BuildCacheEntry, BuildCacheKey, CommitRequest, CreateImageRequest};
use berth_proto::manager::{
    CreateContainerRequest, DeleteContainerRequest, GetImageRequest, ImageInfo, PullRequest,
    TagRequest, TaskRequest,
};
use serde_json::{json, Value};

use crate::client::Manager;
use crate::error::CliError;
use crate::logs::{Reader, Stream};
use crate::spec::{self, ImageConfig, Network, RunOptions};

/// Every container a build makes carries the build's id…
const BUILD_LABEL: &str = "berth.build";
/// …and the pid of the `berth build` that made it, so a later build can
/// tell the leftovers of a killed one from the containers of a live one.
const BUILD_PID_LABEL: &str = "berth.build.pid";

/// Set on the containers of `--rm=false` builds, which stay.
const KEEP_LABEL: &str = "berth.build.keep";

/// True while `pid` is a running `berth` process.
fn berth_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim() == "berth")
        .unwrap_or(false)
}

/// The manager, as `berth build` uses it.
pub struct ManagerBackend {
    m: Manager,
    build_id: String,
    /// containers made and not yet removed
    live: Mutex<BTreeSet<String>>,
    /// image views mounted and not yet released (mount point, container)
    mounts: Mutex<Vec<(PathBuf, String)>>,
}

fn backend_err(e: CliError) -> BackendError {
    if e.is_not_found() {
        BackendError::not_found(e.to_string())
    } else {
        BackendError::new(e.to_string())
    }
}

/// The image's `config` object from `ImageInfo.config_json` (which may be
/// the whole image config or just its `config` member).
fn config_of(info: &ImageInfo) -> Value {
    let v: Value = serde_json::from_str(&info.config_json).unwrap_or_else(|_| json!({}));
    match v.get("config") {
        Some(c) if c.is_object() => c.clone(),
        Some(_) => json!({}),
        None if v.is_object() => v,
        None => json!({}),
    }
}

fn image_of(info: ImageInfo) -> Image {
    Image {
        config: config_of(&info),
        id: info.id,
    }
}

impl ManagerBackend {
    pub fn new(m: &Manager, build_id: &str) -> ManagerBackend {
        ManagerBackend {
            m: m.clone(),
            build_id: build_id.to_string(),
            live: Mutex::new(BTreeSet::new()),
            mounts: Mutex::new(Vec::new()),
        }
    }

    async fn get_image(&self, reference: &str) -> Result<ImageInfo, CliError> {
        let mut req = GetImageRequest::new();
        req.reference = reference.to_string();
        self.m
            .images
            .get_image(self.m.ctx(), &req)
            .await
            .map_err(|e| self.m.err(e))
    }

    /// A created (never started) container of `image`, for its snapshot.
    async fn container(
        &self,
        image: &str,
        mut cfg: ImageConfig,
        opts: RunOptions,
        labels: &[(String, String)],
    ) -> Result<String, BackendError> {
        // a user name (`USER app`) is the manager's to resolve from the
        // image's own /etc/passwd, as for `berth run`
        let named = crate::users::is_named(&cfg.user).then(|| std::mem::take(&mut cfg.user));
        let mut spec = spec::build(&cfg, &opts).map_err(|e| BackendError::new(e.to_string()))?;
        // RUN steps are confined as `berth run`'s containers are by default:
        // docker's capabilities and its default seccomp profile
        crate::security::SecurityFlags::default()
            .parse(false)
            .and_then(|s| s.apply(&mut spec))
            .map_err(|e| BackendError::new(e.to_string()))?;
        crate::users::annotate(&mut spec, named.as_deref(), &[]);
        let mut req = CreateContainerRequest::new();
        req.image = image.to_string();
        req.spec_json = spec.to_string();
        req.labels.extend(labels.iter().cloned());
        req.labels
            .insert(BUILD_LABEL.to_string(), self.build_id.clone());
        req.labels
            .insert(BUILD_PID_LABEL.to_string(), std::process::id().to_string());
        req.stop_signal = "SIGKILL".into();
        req.stop_timeout = 0;
        let c = self
            .m
            .containers
            .create_container(self.m.ctx(), &req)
            .await
            .map_err(|e| backend_err(self.m.err(e)))?;
        self.live.lock().expect("live lock").insert(c.id.clone());
        Ok(c.id)
    }

    async fn delete(&self, id: &str) -> Result<(), BackendError> {
        let mut d = DeleteContainerRequest::new();
        d.id = id.to_string();
        d.force = true;
        let r = match self.m.containers.delete_container(self.m.ctx(), &d).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = self.m.err(e);
                if e.is_not_found() {
                    Ok(())
                } else {
                    Err(backend_err(e))
                }
            }
        };
        if r.is_ok() {
            self.live.lock().expect("live lock").remove(id);
        }
        r
    }

    /// Removes the containers of builds whose `berth build` is gone (killed,
    /// or cut off by a `kill -9` of the manager) before they cleaned up.
    pub async fn sweep_leftovers(&self) {
        let mut req = berth_proto::manager::ListContainersRequest::new();
        req.all = true;
        let Ok(list) = self.m.containers.list_containers(self.m.ctx(), &req).await else {
            return;
        };
        for c in list.containers {
            if !c.labels.contains_key(BUILD_LABEL) || c.labels.contains_key(KEEP_LABEL) {
                continue;
            }
            let owner = c
                .labels
                .get(BUILD_PID_LABEL)
                .and_then(|p| p.parse::<u32>().ok());
            if owner.is_some_and(|p| p != std::process::id() && berth_alive(p)) {
                continue;
            }
            let _ = self.delete(&c.id).await;
        }
    }

    /// Removes every container and mount this build still holds: after
    /// ctrl-c or a failure half-way through a step.
    pub async fn cleanup(&self) {
        let mounts: Vec<_> = std::mem::take(&mut *self.mounts.lock().expect("mounts lock"));
        for (path, _) in &mounts {
            unmount(path);
            let _ = std::fs::remove_dir(path);
        }
        let live: Vec<_> = self
            .live
            .lock()
            .expect("live lock")
            .iter()
            .cloned()
            .collect();
        for id in live {
            let _ = self.delete(&id).await;
        }
    }
}

/// Detaches the mount at `path` (nothing there is fine).
fn unmount(path: &Path) {
    if let Ok(c) = CString::new(path.as_os_str().as_encoded_bytes()) {
        // SAFETY: a valid NUL-terminated path; umount2 only reads it.
        unsafe {
            libc::umount2(c.as_ptr(), libc::MNT_DETACH);
        }
    }
}

/// The options of the container's overlay mount, from its
/// `rootfs_mounts` line: `overlay overlay on / (lowerdir=…,upperdir=…,workdir=…)`.
fn overlay_layers(described: &str) -> Option<(String, String)> {
    let opts = described.rsplit_once('(')?.1.strip_suffix(')')?;
    let mut lower = None;
    let mut upper = None;
    for o in opts.split(',') {
        if let Some(v) = o.strip_prefix("lowerdir=") {
            lower = Some(v.to_string());
        } else if let Some(v) = o.strip_prefix("upperdir=") {
            upper = Some(v.to_string());
        }
    }
    Some((lower?, upper?))
}

/// Mounts `lowerdir` read-only (as an overlay with no upper) at `target`.
fn mount_overlay_ro(lowerdir: &str, target: &Path) -> std::io::Result<()> {
    let src = CString::new("overlay").expect("no NUL");
    let fstype = CString::new("overlay").expect("no NUL");
    let tgt = CString::new(target.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let data = CString::new(format!("lowerdir={lowerdir}"))
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: all pointers are valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            tgt.as_ptr(),
            fstype.as_ptr(),
            libc::MS_RDONLY | libc::MS_NODEV | libc::MS_NOSUID,
            data.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[async_trait::async_trait(?Send)]
impl Backend for ManagerBackend {
    async fn image(&self, reference: &str, pull: bool) -> Result<Image, BackendError> {
        if pull {
            let mut p = PullRequest::new();
            p.reference = reference.to_string();
            (p.username, p.password) = crate::auth::for_reference(reference);
            let pulled = crate::commands::images::stream_progress(
                &self.m,
                self.m.images.pull_image(self.m.ctx(), &p).await,
                true,
                true,
            )
            .await;
            if let Err(e) = pulled {
                // a local-only image is still a base: --pull only refreshes
                if self.get_image(reference).await.is_err() {
                    return Err(backend_err(e));
                }
            }
        }
        crate::commands::container::get_or_pull(&self.m, reference)
            .await
            .map(image_of)
            .map_err(backend_err)
    }

    async fn cached(&self, key: &str) -> Result<Option<String>, BackendError> {
        let mut k = BuildCacheKey::new();
        k.key = key.to_string();
        match self.m.layers.lookup_build_cache(self.m.ctx(), &k).await {
            Ok(e) => Ok(Some(e.image_id)),
            Err(e) => {
                let e = self.m.err(e);
                if e.is_not_found() {
                    Ok(None)
                } else {
                    Err(backend_err(e))
                }
            }
        }
    }

    async fn remember(&self, key: &str, image_id: &str) -> Result<(), BackendError> {
        let mut e = BuildCacheEntry::new();
        e.key = key.to_string();
        e.image_id = image_id.to_string();
        self.m
            .layers
            .store_build_cache(self.m.ctx(), &e)
            .await
            .map(|_| ())
            .map_err(|e| backend_err(self.m.err(e)))
    }

    async fn create_image(&self, req: NewImage) -> Result<Image, BackendError> {
        let mut r = CreateImageRequest::new();
        r.parent = req.parent;
        r.config_json = req.config.to_string();
        r.created_by = req.created_by;
        r.layer_tar_path = req
            .layer_tar
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        self.m
            .layers
            .create_image(self.m.ctx(), &r)
            .await
            .map(image_of)
            .map_err(|e| backend_err(self.m.err(e)))
    }

    async fn create_container(&self, step: &RunStep) -> Result<String, BackendError> {
        let cfg = ImageConfig {
            env: step.env.clone(),
            entrypoint: Vec::new(),
            cmd: step.args.clone(),
            working_dir: step.workdir.clone(),
            user: step.user.clone(),
            stop_signal: String::new(),
        };
        let opts = RunOptions {
            network: if step.network == "host" {
                Network::Host
            } else {
                Network::None
            },
            ..Default::default()
        };
        self.container(&step.image, cfg, opts, &step.labels).await
    }

    async fn run_container(&self, id: &str, out: &mut dyn Output) -> Result<i32, BackendError> {
        let m = &self.m;
        let mut req = TaskRequest::new();
        req.container_id = id.to_string();
        let att = m
            .tasks
            .attach_task(m.ctx(), &req)
            .await
            .map_err(|e| backend_err(m.err(e)))?;
        crate::session::start_task(m, id)
            .await
            .map_err(|(e, _)| backend_err(e))?;
        let wait = async {
            m.tasks
                .wait_task(m.ctx(), &req)
                .await
                .map_err(|e| backend_err(m.err(e)))
        };
        // the shim creates the log as the task starts
        let file = crate::session::open_log(&att.log_path)
            .await
            .map_err(backend_err)?;
        let waited = match file {
            Some(f) => Reader::new(f)
                .following(&att.log_path)
                .follow(|e| out.process(e.stream == Stream::Stderr, &e.text), wait)
                .await
                .map_err(|e| BackendError::new(format!("read log {}: {e}", att.log_path)))?,
            None => wait.await,
        };
        Ok(waited?.exit_code)
    }

    async fn commit(
        &self,
        id: &str,
        config: &Value,
        created_by: &str,
    ) -> Result<Image, BackendError> {
        let mut r = CommitRequest::new();
        r.container = id.to_string();
        r.config_json = config.to_string();
        r.created_by = created_by.to_string();
        self.m
            .layers
            .commit(self.m.ctx(), &r)
            .await
            .map(image_of)
            .map_err(|e| backend_err(self.m.err(e)))
    }

    async fn remove_container(&self, id: &str) -> Result<(), BackendError> {
        self.delete(id).await
    }

    async fn mount_image(&self, image_id: &str) -> Result<MountedImage, BackendError> {
        let cfg = ImageConfig {
            cmd: vec!["true".into()],
            ..Default::default()
        };
        let id = self
            .container(image_id, cfg, RunOptions::default(), &[])
            .await?;
        let fail = |msg: String| BackendError::new(format!("mount image {image_id}: {msg}"));
        let mounted = async {
            let mut g = berth_proto::manager::GetContainerRequest::new();
            g.id = id.clone();
            let c = self
                .m
                .containers
                .get_container(self.m.ctx(), &g)
                .await
                .map_err(|e| backend_err(self.m.err(e)))?;
            let (lower, upper) = c
                .rootfs_mounts
                .first()
                .and_then(|d| overlay_layers(d))
                .ok_or_else(|| fail("the container has no overlay rootfs".into()))?;
            let dir = tempfile::Builder::new()
                .prefix("berth-build-view-")
                .tempdir()
                .map_err(|e| fail(e.to_string()))?
                .keep();
            // the fresh (empty) upper dir on top keeps two lower dirs for a
            // one-layer image, which a read-only overlay needs
            if let Err(e) = mount_overlay_ro(&format!("{upper}:{lower}"), &dir) {
                let _ = std::fs::remove_dir(&dir);
                return Err(fail(e.to_string()));
            }
            Ok(dir)
        }
        .await;
        match mounted {
            Ok(path) => {
                self.mounts
                    .lock()
                    .expect("mounts lock")
                    .push((path.clone(), id.clone()));
                Ok(MountedImage { path, token: id })
            }
            Err(e) => {
                let _ = self.delete(&id).await;
                Err(e)
            }
        }
    }

    async fn release(&self, m: MountedImage) -> Result<(), BackendError> {
        unmount(&m.path);
        let _ = std::fs::remove_dir(&m.path);
        self.mounts
            .lock()
            .expect("mounts lock")
            .retain(|(p, _)| *p != m.path);
        self.delete(&m.token).await
    }

    async fn tag(&self, image_id: &str, reference: &str) -> Result<(), BackendError> {
        let mut t = TagRequest::new();
        t.source = image_id.to_string();
        t.target = reference.to_string();
        self.m
            .images
            .tag_image(self.m.ctx(), &t)
            .await
            .map(|_| ())
            .map_err(|e| backend_err(self.m.err(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_options_from_the_description() {
        assert_eq!(
            overlay_layers(
                "overlay overlay on / (lowerdir=/a/fs:/b/fs,upperdir=/c/fs,workdir=/c/work)"
            ),
            Some(("/a/fs:/b/fs".into(), "/c/fs".into()))
        );
        assert_eq!(overlay_layers("bind /x on / (rbind)"), None);
    }

    #[test]
    fn config_member_or_whole() {
        let mut i = ImageInfo::new();
        i.config_json = r#"{"config":{"Cmd":["sh"]}}"#.into();
        assert_eq!(config_of(&i), json!({"Cmd": ["sh"]}));
        i.config_json = r#"{"Cmd":["sh"]}"#.into();
        assert_eq!(config_of(&i), json!({"Cmd": ["sh"]}));
        i.config_json = String::new();
        assert_eq!(config_of(&i), json!({}));
    }
}
