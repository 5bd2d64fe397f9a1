//! `berth.manager.v1.Health`.

use std::sync::Arc;

use async_trait::async_trait;
use berth_proto::health as pb;
use berth_proto::health_ttrpc::Health;
use ttrpc::r#async::TtrpcContext;

use crate::manager::Manager;

pub struct HealthService(pub Arc<Manager>);

#[async_trait]
impl Health for HealthService {
    async fn get_health(
        &self,
        _ctx: &TtrpcContext,
        req: pb::GetHealthRequest,
    ) -> ttrpc::Result<pb::GetHealthResponse> {
        Ok(pb::GetHealthResponse {
            healths: self.0.get_health(&req.container_ids)?,
            ..Default::default()
        })
    }
}
