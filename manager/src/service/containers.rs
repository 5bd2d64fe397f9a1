//! `berth.manager.v1.Containers`.

use std::sync::Arc;

use async_trait::async_trait;
use berth_proto::manager as pb;
use berth_proto::manager_ttrpc::Containers;
use protobuf::well_known_types::empty::Empty;
use ttrpc::r#async::TtrpcContext;

use crate::manager::Manager;

pub struct ContainersService(pub Arc<Manager>);

#[async_trait]
impl Containers for ContainersService {
    async fn create_container(
        &self,
        _ctx: &TtrpcContext,
        req: pb::CreateContainerRequest,
    ) -> ttrpc::Result<pb::ContainerInfo> {
        Ok(self.0.create_container(req).await?)
    }

    async fn get_container(
        &self,
        _ctx: &TtrpcContext,
        req: pb::GetContainerRequest,
    ) -> ttrpc::Result<pb::ContainerInfo> {
        self.0.recovered(&req.id).await;
        Ok(self.0.get_container(&req.id)?)
    }

    async fn list_containers(
        &self,
        _ctx: &TtrpcContext,
        req: pb::ListContainersRequest,
    ) -> ttrpc::Result<pb::ListContainersResponse> {
        self.0.recovering.wait_all().await;
        Ok(pb::ListContainersResponse {
            containers: if req.rows {
                self.0.list_container_rows(req.all)?
            } else {
                self.0.list_containers(req.all)?
            },
            ..Default::default()
        })
    }

    async fn delete_container(
        &self,
        _ctx: &TtrpcContext,
        req: pb::DeleteContainerRequest,
    ) -> ttrpc::Result<Empty> {
        self.0.recovered(&req.id).await;
        self.0.delete_container(&req.id, req.force).await?;
        Ok(Empty::new())
    }

    async fn rename_container(
        &self,
        _ctx: &TtrpcContext,
        req: pb::RenameContainerRequest,
    ) -> ttrpc::Result<Empty> {
        self.0.recovered(&req.id).await;
        self.0.rename_container(&req.id, &req.new_name).await?;
        Ok(Empty::new())
    }
}
