//! `berth.manager.v1.Layers`: images made on this machine (commit, build
//! steps), `diff`, `history`, `image inspect` and the build cache index;
//! thin adapters to [`crate::layers`].

use std::sync::Arc;

use async_trait::async_trait;
use berth_proto::layers as lpb;
use berth_proto::layers_ttrpc::Layers;
use berth_proto::manager as pb;
use protobuf::well_known_types::empty::Empty;
use ttrpc::r#async::TtrpcContext;

use crate::manager::Manager;

pub struct LayersService(pub Arc<Manager>);

#[async_trait]
impl Layers for LayersService {
    async fn commit(
        &self,
        _ctx: &TtrpcContext,
        req: lpb::CommitRequest,
    ) -> ttrpc::Result<pb::ImageInfo> {
        Ok(self.0.commit_container(req).await?)
    }

    async fn create_image(
        &self,
        _ctx: &TtrpcContext,
        req: lpb::CreateImageRequest,
    ) -> ttrpc::Result<pb::ImageInfo> {
        Ok(self.0.create_image(req).await?)
    }

    async fn diff(
        &self,
        _ctx: &TtrpcContext,
        req: lpb::DiffRequest,
    ) -> ttrpc::Result<lpb::DiffResponse> {
        Ok(self.0.diff_container(req).await?)
    }

    async fn history(
        &self,
        _ctx: &TtrpcContext,
        req: lpb::HistoryRequest,
    ) -> ttrpc::Result<lpb::HistoryResponse> {
        Ok(self.0.image_history(req).await?)
    }

    async fn lookup_build_cache(
        &self,
        _ctx: &TtrpcContext,
        req: lpb::BuildCacheKey,
    ) -> ttrpc::Result<lpb::BuildCacheEntry> {
        Ok(self.0.lookup_build_cache(req).await?)
    }

    async fn store_build_cache(
        &self,
        _ctx: &TtrpcContext,
        req: lpb::BuildCacheEntry,
    ) -> ttrpc::Result<Empty> {
        self.0.store_build_cache(req).await?;
        Ok(Empty::new())
    }

    async fn inspect_image(
        &self,
        _ctx: &TtrpcContext,
        req: lpb::InspectImageRequest,
    ) -> ttrpc::Result<lpb::InspectImageResponse> {
        Ok(self.0.inspect_image(req).await?)
    }
}
