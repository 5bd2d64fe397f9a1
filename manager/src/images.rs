//! Images behind the manager: loads, imports, saves, registry pulls and
//! pushes, listings and removals through `berth-image-store`, each
//! publishing its image event. Long operations stream progress lines to the
//! caller while they run. `service::images` is the ttrpc face of this.

use std::path::Path;
use std::sync::Arc;

use berth_image_store::{
    Error as StoreError, ImageConfig, ImageStore, ImageSummary, Progress as StoreProgress,
    Reference, RegistryOptions,
};
use berth_proto::manager::{self as pb, Progress};
use tokio::sync::mpsc;
use ttrpc::r#async::ServerStreamSender;

use crate::error::ManagerError;
use crate::manager::Manager;
use crate::timefmt::parse_rfc3339;

/// An image-store error as the API reports it.
pub fn image_error(e: StoreError) -> ManagerError {
    let msg = e.to_string();
    match e {
        StoreError::NotFound(_) => ManagerError::NotFound(msg),
        StoreError::InUse { .. } => ManagerError::FailedPrecondition(msg),
        StoreError::Reference(_)
        | StoreError::Digest(_)
        | StoreError::Archive(_)
        | StoreError::Oci(_)
        | StoreError::Unpack(_) => ManagerError::InvalidArgument(msg),
        StoreError::Registry(_) => ManagerError::Unavailable(msg),
        _ => ManagerError::Internal(msg),
    }
}

/// Runs a registry transfer on a task of its own and streams the progress
/// lines it sends to `sink` until it ends.
async fn with_progress<T, Job, Fut>(
    sink: &ServerStreamSender<Progress>,
    job: Job,
) -> Result<T, ManagerError>
where
    Job: FnOnce(mpsc::UnboundedSender<Progress>) -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    T: Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel();
    let job = tokio::spawn(job(tx));
    while let Some(p) = rx.recv().await {
        let _ = sink.send(&p).await;
    }
    job.await
        .map_err(ManagerError::internal)?
        .map_err(image_error)
}

fn progress_line(p: StoreProgress) -> Progress {
    Progress {
        id: p.id,
        action: p.action.as_str().to_ascii_lowercase(),
        current: p.current,
        total: p.total.unwrap_or(0),
        ..Default::default()
    }
}

fn summary_line(id: &str, action: &str, message: String) -> Progress {
    Progress {
        id: id.to_string(),
        action: action.to_string(),
        done: true,
        message,
        ..Default::default()
    }
}

/// The image config as OCI JSON (the part a front end builds a spec from).
pub fn config_json(c: &ImageConfig) -> String {
    let set = |v: &[String]| {
        serde_json::Value::Object(
            v.iter()
                .map(|k| (k.clone(), serde_json::json!({})))
                .collect(),
        )
    };
    let mut o = serde_json::Map::new();
    o.insert("Env".into(), serde_json::json!(c.env));
    if let Some(e) = &c.entrypoint {
        o.insert("Entrypoint".into(), serde_json::json!(e));
    }
    if let Some(cmd) = &c.cmd {
        o.insert("Cmd".into(), serde_json::json!(cmd));
    }
    if let Some(w) = &c.working_dir {
        o.insert("WorkingDir".into(), serde_json::json!(w));
    }
    if let Some(u) = &c.user {
        o.insert("User".into(), serde_json::json!(u));
    }
    if !c.labels.is_empty() {
        o.insert("Labels".into(), serde_json::json!(c.labels));
    }
    if let Some(h) = c
        .healthcheck
        .as_deref()
        .and_then(|h| serde_json::from_str::<serde_json::Value>(h).ok())
    {
        o.insert("Healthcheck".into(), h);
    }
    if let Some(s) = &c.stop_signal {
        o.insert("StopSignal".into(), serde_json::json!(s));
    }
    if !c.exposed_ports.is_empty() {
        o.insert("ExposedPorts".into(), set(&c.exposed_ports));
    }
    if !c.volumes.is_empty() {
        o.insert("Volumes".into(), set(&c.volumes));
    }
    serde_json::Value::Object(o).to_string()
}

fn summary_info(s: &ImageSummary) -> pb::ImageInfo {
    pb::ImageInfo {
        reference: s.name.clone().unwrap_or_default(),
        references: s.name.iter().cloned().collect(),
        id: s.id.to_string(),
        manifest_digest: s.manifest_digest.to_string(),
        size: s.size,
        created: crate::record::timestamp(
            s.created.as_deref().and_then(parse_rfc3339).unwrap_or(0),
        ),
        ..Default::default()
    }
}

/// Registry options: plain HTTP when asked, and always for loopback hosts.
fn registry_options(reference: &str, plain_http: bool) -> RegistryOptions {
    let mut opts = RegistryOptions {
        plain_http,
        ..Default::default()
    };
    if let Ok(r) = Reference::parse(reference) {
        let host = r
            .domain()
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(r.domain());
        if matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
            opts.insecure_http_hosts.push(r.domain().to_string());
        }
    }
    opts
}

impl Manager {
    /// The options for a registry call to `reference`: credentials when
    /// given, and the registry's CA from `certs.d` (which also makes a
    /// loopback registry speak TLS).
    pub fn registry_options_for(
        &self,
        reference: &str,
        plain_http: bool,
        username: &str,
        password: &str,
    ) -> RegistryOptions {
        let mut opts = registry_options(reference, plain_http);
        if !username.is_empty() || !password.is_empty() {
            opts.auth = Some((username.to_string(), password.to_string()));
        }
        if let Ok(r) = Reference::parse(reference) {
            let pems = crate::registry_certs::ca_pems(&self.cfg.state, r.domain());
            if !pems.is_empty() {
                opts.insecure_http_hosts.retain(|h| h != r.domain());
                opts.ca_pems = pems;
            }
        }
        opts
    }
}

impl Manager {
    /// Runs a blocking store call, forwarding its progress to `sink`.
    async fn with_store_progress<T: Send + 'static>(
        &self,
        sink: &ServerStreamSender<Progress>,
        job: impl FnOnce(Arc<ImageStore>, &mut dyn FnMut(StoreProgress)) -> Result<T, StoreError>
            + Send
            + 'static,
    ) -> Result<T, ManagerError> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let store = self.images.clone();
        let handle = tokio::task::spawn_blocking(move || {
            let mut report = |p: StoreProgress| {
                let _ = tx.send(progress_line(p));
            };
            job(store, &mut report)
        });
        while let Some(p) = rx.recv().await {
            // a client gone mid-stream doesn't stop the import
            let _ = sink.send(&p).await;
        }
        let res = handle.await.map_err(ManagerError::internal)?;
        res.map_err(image_error)
    }

    /// Publishes one event and sends one summary line per loaded image.
    async fn announce_loaded(
        &self,
        sink: &ServerStreamSender<Progress>,
        images: &[ImageSummary],
        action: &str,
    ) {
        for s in images {
            let name = s.name.clone().unwrap_or_else(|| s.id.to_string());
            let msg = match &s.name {
                Some(n) => format!("Loaded image: {n}"),
                None => format!("Loaded image ID: {}", s.id),
            };
            self.events.publish("image", action, &name, &[]);
            let _ = sink.send(&summary_line(&name, "loaded", msg)).await;
        }
    }

    /// Loads a docker/OCI archive or an OCI layout directory, streaming progress.
    pub async fn load_images(
        &self,
        req: pb::LoadRequest,
        sink: &ServerStreamSender<Progress>,
    ) -> Result<(), ManagerError> {
        let path = Path::new(&req.path).to_path_buf();
        if req.path.is_empty() || !path.exists() {
            return Err(ManagerError::InvalidArgument(format!(
                "load: no such file or directory: {:?}",
                req.path
            )));
        }
        let images = self
            .with_store_progress(sink, move |store, report| {
                if path.is_dir() {
                    store.import_layout(&path, report)
                } else {
                    store.import_archive(&path, report)
                }
            })
            .await?;
        self.announce_loaded(sink, &images, "load").await;
        Ok(())
    }

    /// Imports a rootfs tarball as a one-layer image (`berth import`).
    pub async fn import_rootfs(
        &self,
        req: pb::ImportRootfsRequest,
    ) -> Result<pb::ImageInfo, ManagerError> {
        let path = Path::new(&req.path).to_path_buf();
        if req.path.is_empty() || !path.is_file() {
            return Err(ManagerError::InvalidArgument(format!(
                "import: no such file: {:?}",
                req.path
            )));
        }
        let reference = (!req.reference.is_empty()).then(|| req.reference.clone());
        let store = self.images.clone();
        let s = tokio::task::spawn_blocking(move || {
            store.import_rootfs(&path, reference.as_deref(), |_| {})
        })
        .await
        .map_err(ManagerError::internal)?
        .map_err(image_error)?;
        let info = summary_info(&s);
        self.events.publish(
            "image",
            "import",
            &info.reference,
            &[("id", info.id.clone())],
        );
        Ok(info)
    }

    /// Writes images to an archive (`berth save`).
    pub async fn save_images(&self, req: pb::SaveRequest) -> Result<(), ManagerError> {
        if req.references.is_empty() || req.output_path.is_empty() {
            return Err(ManagerError::InvalidArgument(
                "save: references and output_path are required".into(),
            ));
        }
        let store = self.images.clone();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = req.references.iter().map(String::as_str).collect();
            store.save(&refs, Path::new(&req.output_path))
        })
        .await
        .map_err(ManagerError::internal)?
        .map_err(image_error)?;
        Ok(())
    }

    /// Pulls from a registry, streaming progress.
    pub async fn pull_image(
        &self,
        req: pb::PullRequest,
        sink: &ServerStreamSender<Progress>,
    ) -> Result<(), ManagerError> {
        let opts =
            self.registry_options_for(&req.reference, req.plain_http, &req.username, &req.password);
        let store = self.images.clone();
        let reference = req.reference.clone();
        let s = with_progress(sink, move |tx| async move {
            store
                .pull(&reference, &opts, move |p| {
                    let _ = tx.send(progress_line(p));
                })
                .await
        })
        .await?;
        let name = s.name.clone().unwrap_or_else(|| req.reference.clone());
        self.events.publish("image", "pull", &name, &[]);
        let _ = sink
            .send(&summary_line(
                &name,
                "done",
                format!("Digest: {}", s.manifest_digest),
            ))
            .await;
        Ok(())
    }

    /// Pushes to a registry, streaming progress.
    pub async fn push_image(
        &self,
        req: pb::PushRequest,
        sink: &ServerStreamSender<Progress>,
    ) -> Result<(), ManagerError> {
        let opts =
            self.registry_options_for(&req.reference, req.plain_http, &req.username, &req.password);
        let store = self.images.clone();
        let reference = req.reference.clone();
        let digest = with_progress(sink, move |tx| async move {
            store
                .push(&reference, &opts, move |p| {
                    let _ = tx.send(progress_line(p));
                })
                .await
        })
        .await?;
        self.events.publish("image", "push", &req.reference, &[]);
        let _ = sink
            .send(&summary_line(
                &req.reference,
                "done",
                format!("Digest: {digest}"),
            ))
            .await;
        Ok(())
    }

    /// The images, as the CLI lists them: untagged parents of other images
    /// (build steps, commits) only with `all` (`images -a`).
    pub async fn list_images(
        &self,
        req: pb::ListImagesRequest,
    ) -> Result<pb::ListImagesResponse, ManagerError> {
        let store = self.images.clone();
        let list = tokio::task::spawn_blocking(move || {
            if req.all {
                store.list_all()
            } else {
                store.list()
            }
        })
        .await
        .map_err(ManagerError::internal)?
        .map_err(image_error)?;
        Ok(pb::ListImagesResponse {
            images: list.iter().map(summary_info).collect(),
            ..Default::default()
        })
    }

    /// One image with its config (what a front end builds a spec from).
    pub async fn get_image(&self, req: pb::GetImageRequest) -> Result<pb::ImageInfo, ManagerError> {
        let store = self.images.clone();
        let reference = req.reference.clone();
        let i = tokio::task::spawn_blocking(move || store.get(&reference))
            .await
            .map_err(ManagerError::internal)?
            .map_err(|e| match e {
                StoreError::NotFound(_) => {
                    ManagerError::NotFound(format!("no such image: {}", req.reference))
                }
                e => image_error(e),
            })?;
        Ok(pb::ImageInfo {
            reference: i
                .reference
                .clone()
                .or_else(|| i.names.first().cloned())
                .unwrap_or_default(),
            references: i.names.clone(),
            id: i.id.to_string(),
            manifest_digest: i.manifest_digest.to_string(),
            size: i.size,
            created: crate::record::timestamp(
                i.created.as_deref().and_then(parse_rfc3339).unwrap_or(0),
            ),
            config_json: config_json(&i.config),
            architecture: i.architecture.clone(),
            os: i.os.clone(),
            ..Default::default()
        })
    }

    /// Gives an image another name.
    pub async fn tag_image(&self, req: pb::TagRequest) -> Result<(), ManagerError> {
        let store = self.images.clone();
        let (src, dst) = (req.source.clone(), req.target.clone());
        let s = tokio::task::spawn_blocking(move || store.tag(&src, &dst))
            .await
            .map_err(ManagerError::internal)?
            .map_err(image_error)?;
        let name = s.name.unwrap_or(req.target);
        self.events.publish("image", "tag", &name, &[]);
        Ok(())
    }

    /// Untags (and, when nothing else names it, deletes) an image.
    pub async fn remove_image(
        &self,
        req: pb::RemoveImageRequest,
    ) -> Result<pb::RemoveImageResponse, ManagerError> {
        let store = self.images.clone();
        let reference = req.reference.clone();
        let r = tokio::task::spawn_blocking(move || store.remove(&reference, req.force))
            .await
            .map_err(ManagerError::internal)?
            .map_err(image_error)?;
        for u in &r.untagged {
            self.events.publish("image", "untag", u, &[]);
        }
        for d in &r.deleted {
            self.events.publish("image", "delete", &d.to_string(), &[]);
        }
        Ok(pb::RemoveImageResponse {
            untagged: r.untagged,
            deleted: r.deleted.iter().map(|d| d.to_string()).collect(),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_speak_plain_http() {
        let o = registry_options("127.0.0.1:5000/busybox:latest", false);
        assert_eq!(o.insecure_http_hosts, vec!["127.0.0.1:5000".to_string()]);
        assert!(registry_options("docker.io/library/busybox", false)
            .insecure_http_hosts
            .is_empty());
    }

    #[test]
    fn config_json_uses_oci_keys() {
        let c = ImageConfig {
            env: vec!["A=1".into()],
            cmd: Some(vec!["sh".into()]),
            exposed_ports: vec!["80/tcp".into()],
            ..Default::default()
        };
        let v: serde_json::Value = serde_json::from_str(&config_json(&c)).unwrap();
        assert_eq!(v["Cmd"][0], "sh");
        assert_eq!(v["Env"][0], "A=1");
        assert!(v["ExposedPorts"]["80/tcp"].is_object());
        assert!(v.get("Entrypoint").is_none());
    }
}
