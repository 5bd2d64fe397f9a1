//! `berth.manager.v1.Layers`: images made on this machine (commit, build
//! steps), `diff`, `history` and the build cache index.

use std::sync::Arc;

use async_trait::async_trait;
use berth_proto::layers as lpb;
use berth_proto::layers_ttrpc::Layers;
use berth_proto::manager as pb;
use protobuf::well_known_types::empty::Empty;
use ttrpc::r#async::TtrpcContext;

use crate::manager::Manager;

pub struct LayersService(pub Arc<Manager>);

fn unimplemented(method: &str) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(
        ttrpc::Code::UNIMPLEMENTED,
        format!("/berth.manager.v1.Layers/{method} is not implemented yet"),
    ))
}

#[async_trait]
impl Layers for LayersService {
    async fn commit(
        &self,
        _ctx: &TtrpcContext,
        _req: lpb::CommitRequest,
    ) -> ttrpc::Result<pb::ImageInfo> {
        Err(unimplemented("Commit"))
    }

    async fn create_image(
        &self,
        _ctx: &TtrpcContext,
        _req: lpb::CreateImageRequest,
    ) -> ttrpc::Result<pb::ImageInfo> {
        Err(unimplemented("CreateImage"))
    }

    async fn diff(
        &self,
        _ctx: &TtrpcContext,
        _req: lpb::DiffRequest,
    ) -> ttrpc::Result<lpb::DiffResponse> {
        Err(unimplemented("Diff"))
    }

    async fn history(
        &self,
        _ctx: &TtrpcContext,
        _req: lpb::HistoryRequest,
    ) -> ttrpc::Result<lpb::HistoryResponse> {
        Err(unimplemented("History"))
    }

    async fn lookup_build_cache(
        &self,
        _ctx: &TtrpcContext,
        _req: lpb::BuildCacheKey,
    ) -> ttrpc::Result<lpb::BuildCacheEntry> {
        Err(unimplemented("LookupBuildCache"))
    }

    async fn store_build_cache(
        &self,
        _ctx: &TtrpcContext,
        _req: lpb::BuildCacheEntry,
    ) -> ttrpc::Result<Empty> {
        Err(unimplemented("StoreBuildCache"))
    }
}
