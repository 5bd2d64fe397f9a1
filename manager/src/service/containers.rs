//! `berth.manager.v1.Containers`. ListContainers has a handler of its own
//! in place of the generated one: rows are kept encoded (see `listing`)
//! and are answered as they are kept, not decoded into messages that the
//! generated handler would encode again.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use berth_proto::manager as pb;
use berth_proto::manager_ttrpc::{create_containers, Containers};
use protobuf::well_known_types::empty::Empty;
use protobuf::Message;
use ttrpc::proto::ResponseInit;
use ttrpc::r#async::{MethodHandler, Service, TtrpcContext};

use crate::error::ManagerError;
use crate::manager::Manager;

pub struct ContainersService(pub Arc<Manager>);

/// The service's methods, ListContainers answered by [`ListContainers`].
pub fn create(mgr: Arc<Manager>) -> HashMap<String, Service> {
    let mut services = create_containers(Arc::new(ContainersService(mgr.clone())));
    for s in services.values_mut() {
        s.methods.insert(
            "ListContainers".to_string(),
            Box::new(ListContainers(mgr.clone())),
        );
    }
    services
}

/// ListContainers: rows as kept encoded, the brief list encoded here.
struct ListContainers(Arc<Manager>);

impl ListContainers {
    async fn payload(&self, req: pb::ListContainersRequest) -> Result<Vec<u8>, ManagerError> {
        self.0.recovering.wait_all().await;
        if req.rows {
            return self
                .0
                .list_container_rows(req.all, !req.rows_without_mounts);
        }
        pb::ListContainersResponse {
            containers: self.0.list_containers(req.all)?,
            ..Default::default()
        }
        .write_to_bytes()
        .map_err(ManagerError::internal)
    }
}

#[async_trait]
impl MethodHandler for ListContainers {
    async fn handler(
        &self,
        _ctx: TtrpcContext,
        req: ttrpc::Request,
    ) -> ttrpc::Result<ttrpc::Response> {
        // as the generated handlers do: a request that does not decode is
        // the connection's error, a failed call the response's status
        let req = pb::ListContainersRequest::parse_from_bytes(&req.payload)
            .map_err(|e| ttrpc::Error::Others(format!("Unpack request error {e}")))?;
        Ok(match self.payload(req).await {
            Ok(payload) => {
                let mut res = ttrpc::Response::init_status(ttrpc::get_status(ttrpc::Code::OK, ""));
                res.set_payload(payload);
                res
            }
            Err(e) => ttrpc::Response::init_status(ttrpc::get_status(e.code(), e.to_string())),
        })
    }
}

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
