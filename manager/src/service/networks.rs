//! `berth.manager.v1.Networks`.

use std::sync::Arc;

use async_trait::async_trait;
use berth_proto::networks as pb;
use berth_proto::networks_ttrpc::Networks;
use protobuf::well_known_types::empty::Empty;
use ttrpc::r#async::TtrpcContext;

use crate::manager::Manager;

pub struct NetworksService(pub Arc<Manager>);

#[async_trait]
impl Networks for NetworksService {
    async fn create_network(
        &self,
        _ctx: &TtrpcContext,
        req: pb::CreateNetworkRequest,
    ) -> ttrpc::Result<pb::NetworkInfo> {
        Ok(self.0.create_network(req).await?)
    }

    async fn list_networks(
        &self,
        _ctx: &TtrpcContext,
        _req: pb::ListNetworksRequest,
    ) -> ttrpc::Result<pb::ListNetworksResponse> {
        Ok(pb::ListNetworksResponse {
            networks: self.0.list_networks()?,
            ..Default::default()
        })
    }

    async fn get_network(
        &self,
        _ctx: &TtrpcContext,
        req: pb::GetNetworkRequest,
    ) -> ttrpc::Result<pb::NetworkInfo> {
        Ok(self.0.get_network(&req.name)?)
    }

    async fn remove_network(
        &self,
        _ctx: &TtrpcContext,
        req: pb::RemoveNetworkRequest,
    ) -> ttrpc::Result<Empty> {
        self.0.remove_network(&req.name).await?;
        Ok(Empty::new())
    }

    async fn prune_networks(
        &self,
        _ctx: &TtrpcContext,
        req: pb::PruneNetworksRequest,
    ) -> ttrpc::Result<pb::PruneNetworksResponse> {
        Ok(pb::PruneNetworksResponse {
            deleted: self
                .0
                .prune_networks(&crate::prune_filter::PruneSelector::of(&req.filter))
                .await?,
            ..Default::default()
        })
    }

    async fn connect_container(
        &self,
        _ctx: &TtrpcContext,
        req: pb::ConnectRequest,
    ) -> ttrpc::Result<Empty> {
        self.0.connect_container(req).await?;
        Ok(Empty::new())
    }

    async fn disconnect_container(
        &self,
        _ctx: &TtrpcContext,
        req: pb::DisconnectRequest,
    ) -> ttrpc::Result<Empty> {
        self.0.disconnect_container(req).await?;
        Ok(Empty::new())
    }

    async fn list_endpoints(
        &self,
        _ctx: &TtrpcContext,
        req: pb::ListEndpointsRequest,
    ) -> ttrpc::Result<pb::ListEndpointsResponse> {
        Ok(pb::ListEndpointsResponse {
            endpoints: self.0.list_endpoints(&req.container)?,
            ..Default::default()
        })
    }
}
