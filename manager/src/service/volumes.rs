//! `berth.manager.v1.Volumes`.

use std::sync::Arc;

use async_trait::async_trait;
use berth_proto::volumes as pb;
use berth_proto::volumes_ttrpc::Volumes;
use ttrpc::r#async::TtrpcContext;

use crate::manager::Manager;

pub struct VolumesService(pub Arc<Manager>);

#[async_trait]
impl Volumes for VolumesService {
    async fn create_volume(
        &self,
        _ctx: &TtrpcContext,
        req: pb::CreateVolumeRequest,
    ) -> ttrpc::Result<pb::VolumeInfo> {
        Ok(self
            .0
            .create_volume(
                &req.name,
                &req.driver,
                req.options.into_iter().collect(),
                req.labels.into_iter().collect(),
            )
            .await?)
    }

    async fn get_volume(
        &self,
        _ctx: &TtrpcContext,
        req: pb::GetVolumeRequest,
    ) -> ttrpc::Result<pb::VolumeInfo> {
        Ok(self.0.get_volume(&req.name)?)
    }

    async fn list_volumes(
        &self,
        _ctx: &TtrpcContext,
        req: pb::ListVolumesRequest,
    ) -> ttrpc::Result<pb::ListVolumesResponse> {
        Ok(pb::ListVolumesResponse {
            volumes: self.0.list_volumes(req.sizes).await?,
            ..Default::default()
        })
    }

    async fn remove_volume(
        &self,
        _ctx: &TtrpcContext,
        req: pb::RemoveVolumeRequest,
    ) -> ttrpc::Result<pb::RemoveVolumeResponse> {
        Ok(pb::RemoveVolumeResponse {
            space_reclaimed: self.0.remove_volume(&req.name, req.force).await?,
            ..Default::default()
        })
    }

    async fn prune_volumes(
        &self,
        _ctx: &TtrpcContext,
        req: pb::PruneVolumesRequest,
    ) -> ttrpc::Result<pb::PruneVolumesResponse> {
        let filter = crate::prune_filter::PruneSelector::of(&req.filter);
        let (deleted, reclaimed) = self.0.prune_volumes(&filter).await?;
        Ok(pb::PruneVolumesResponse {
            volumes_deleted: deleted,
            space_reclaimed: reclaimed,
            ..Default::default()
        })
    }
}
