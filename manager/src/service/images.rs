//! `berth.manager.v1.Images`: the ttrpc face of the manager's images
//! (`crate::images`).

use std::sync::Arc;

use async_trait::async_trait;
use berth_proto::manager::{self as pb, Progress};
use berth_proto::manager_ttrpc::Images;
use protobuf::well_known_types::empty::Empty;
use ttrpc::r#async::{ServerStreamSender, TtrpcContext};

use crate::manager::Manager;

pub use crate::images::{config_json, image_error};

pub struct ImagesService(pub Arc<Manager>);

#[async_trait]
impl Images for ImagesService {
    async fn load_images(
        &self,
        _ctx: &TtrpcContext,
        req: pb::LoadRequest,
        sink: ServerStreamSender<Progress>,
    ) -> ttrpc::Result<()> {
        Ok(self.0.load_images(req, &sink).await?)
    }

    async fn import_rootfs(
        &self,
        _ctx: &TtrpcContext,
        req: pb::ImportRootfsRequest,
    ) -> ttrpc::Result<pb::ImageInfo> {
        Ok(self.0.import_rootfs(req).await?)
    }

    async fn save_images(&self, _ctx: &TtrpcContext, req: pb::SaveRequest) -> ttrpc::Result<Empty> {
        self.0.save_images(req).await?;
        Ok(Empty::new())
    }

    async fn pull_image(
        &self,
        _ctx: &TtrpcContext,
        req: pb::PullRequest,
        sink: ServerStreamSender<Progress>,
    ) -> ttrpc::Result<()> {
        Ok(self.0.pull_image(req, &sink).await?)
    }

    async fn push_image(
        &self,
        _ctx: &TtrpcContext,
        req: pb::PushRequest,
        sink: ServerStreamSender<Progress>,
    ) -> ttrpc::Result<()> {
        Ok(self.0.push_image(req, &sink).await?)
    }

    async fn list_images(
        &self,
        _ctx: &TtrpcContext,
        req: pb::ListImagesRequest,
    ) -> ttrpc::Result<pb::ListImagesResponse> {
        Ok(self.0.list_images(req).await?)
    }

    async fn get_image(
        &self,
        _ctx: &TtrpcContext,
        req: pb::GetImageRequest,
    ) -> ttrpc::Result<pb::ImageInfo> {
        Ok(self.0.get_image(req).await?)
    }

    async fn tag_image(&self, _ctx: &TtrpcContext, req: pb::TagRequest) -> ttrpc::Result<Empty> {
        self.0.tag_image(req).await?;
        Ok(Empty::new())
    }

    async fn remove_image(
        &self,
        _ctx: &TtrpcContext,
        req: pb::RemoveImageRequest,
    ) -> ttrpc::Result<pb::RemoveImageResponse> {
        Ok(self.0.remove_image(req).await?)
    }
}
