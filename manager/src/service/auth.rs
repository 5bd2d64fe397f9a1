//! `berth.manager.v1.Auth`: `berth login`'s check of credentials against a
//! registry (the image store's `login`, with the registry's CA).

use std::sync::Arc;

use async_trait::async_trait;
use berth_proto::auth as pb;
use berth_proto::auth_ttrpc::Auth;
use ttrpc::r#async::TtrpcContext;

use crate::manager::Manager;

pub struct AuthService(pub Arc<Manager>);

#[async_trait]
impl Auth for AuthService {
    async fn login(
        &self,
        _ctx: &TtrpcContext,
        req: pb::LoginRequest,
    ) -> ttrpc::Result<pb::LoginResponse> {
        let probe = format!("{}/berth-login-probe:latest", req.server);
        let opts = self
            .0
            .registry_options_for(&probe, false, &req.username, &req.password);
        match berth_image_store::login(&req.server, &opts).await {
            Ok(()) => Ok(pb::LoginResponse {
                status: "Login Succeeded".into(),
                ..Default::default()
            }),
            Err(e) => Err(ttrpc::Error::RpcStatus(ttrpc::get_status(
                ttrpc::Code::UNAUTHENTICATED,
                format!("login to {}: {e}", req.server),
            ))),
        }
    }
}
