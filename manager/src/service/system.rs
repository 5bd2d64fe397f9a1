//! `berth.manager.v1.System`: ping, info and prune.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use berth_proto::manager as pb;
use berth_proto::manager_ttrpc::System;
use protobuf::well_known_types::empty::Empty;
use ttrpc::r#async::TtrpcContext;

use crate::error::ManagerError;
use crate::images::image_error;
use crate::manager::Manager;
use crate::record::Status;

pub struct SystemService(pub Arc<Manager>);

/// "2" on a pure cgroup v2 host, "hybrid" with v1 controllers and a
/// cgroup2 mount beside them, else "1".
pub fn cgroup_version(root: &Path) -> &'static str {
    if root.join("cgroup.controllers").exists() {
        "2"
    } else if root.join("unified").exists() {
        "hybrid"
    } else {
        "1"
    }
}

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[async_trait]
impl System for SystemService {
    async fn info(&self, _ctx: &TtrpcContext, _req: Empty) -> ttrpc::Result<pb::InfoResponse> {
        let m = &self.0;
        let recs = m.store.list().map_err(ManagerError::from)?;
        let count = |f: &dyn Fn(Status) -> bool| recs.iter().filter(|r| f(r.status)).count() as u32;
        let images = m.images.clone();
        let n_images = tokio::task::spawn_blocking(move || images.list())
            .await
            .map_err(ManagerError::internal)?
            .map_err(image_error)?
            .len() as u32;
        Ok(pb::InfoResponse {
            version: env!("CARGO_PKG_VERSION").to_string(),
            root: m.cfg.root.display().to_string(),
            state: m.cfg.state.display().to_string(),
            runtime: m.cfg.runtime.display().to_string(),
            shim: m.cfg.shim.display().to_string(),
            cgroup_version: cgroup_version(Path::new("/sys/fs/cgroup")).to_string(),
            storage_driver: "overlayfs".into(),
            containers: recs.len() as u32,
            containers_running: count(&|s| matches!(s, Status::Running | Status::Restarting)),
            containers_paused: count(&|s| s == Status::Paused),
            containers_stopped: count(&|s| {
                matches!(s, Status::Created | Status::Exited | Status::Dead)
            }),
            images: n_images,
            kernel_version: kernel_version(),
            ncpu: std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1),
            mem_total: crate::introspect::meminfo_total(),
            manager_pid: std::process::id(),
            ..Default::default()
        })
    }

    async fn prune(
        &self,
        _ctx: &TtrpcContext,
        req: pb::PruneRequest,
    ) -> ttrpc::Result<pb::PruneResponse> {
        self.0.recovering.wait_all().await;
        let containers = if req.keep_containers {
            Vec::new()
        } else {
            let filter = crate::prune_filter::PruneSelector::of(&req.filter);
            self.0.prune_containers(&filter).await?
        };
        let report = if req.keep_images {
            Default::default()
        } else {
            let images = self.0.images.clone();
            let filter = crate::prune_filter::PruneSelector::of(&req.filter);
            tokio::task::spawn_blocking(move || {
                images.prune_where(req.all_images, &|labels, created| {
                    filter.admits(labels, crate::prune_filter::nanos_of_rfc3339(created))
                })
            })
            .await
            .map_err(ManagerError::internal)?
            .map_err(image_error)?
        };
        Ok(pb::PruneResponse {
            containers_deleted: containers,
            images_deleted: report
                .images_deleted
                .iter()
                .map(|d| d.to_string())
                .collect(),
            space_reclaimed: report.bytes_reclaimed,
            ..Default::default()
        })
    }

    async fn ping(&self, _ctx: &TtrpcContext, _req: Empty) -> ttrpc::Result<pb::PingResponse> {
        Ok(pb::PingResponse {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_layouts() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(cgroup_version(d.path()), "1");
        std::fs::create_dir(d.path().join("unified")).unwrap();
        assert_eq!(cgroup_version(d.path()), "hybrid");
        std::fs::write(d.path().join("cgroup.controllers"), "").unwrap();
        assert_eq!(cgroup_version(d.path()), "2");
    }
}
