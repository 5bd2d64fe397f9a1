//! `berth.manager.v1.Tasks`.

use std::sync::Arc;

use async_trait::async_trait;
use berth_proto::manager as pb;
use berth_proto::manager_ttrpc::Tasks;
use protobuf::well_known_types::empty::Empty;
use ttrpc::r#async::TtrpcContext;

use crate::manager::Manager;

pub struct TasksService(pub Arc<Manager>);

#[async_trait]
impl Tasks for TasksService {
    async fn start_task(
        &self,
        _ctx: &TtrpcContext,
        req: pb::StartTaskRequest,
    ) -> ttrpc::Result<pb::StartTaskResponse> {
        self.0.recovered(&req.container_id).await;
        let pid = self.0.start_task(&req.container_id).await?;
        Ok(pb::StartTaskResponse {
            pid,
            ..Default::default()
        })
    }

    async fn kill_task(&self, _ctx: &TtrpcContext, req: pb::KillRequest) -> ttrpc::Result<Empty> {
        self.0.recovered(&req.container_id).await;
        self.0
            .kill_task(&req.container_id, &req.signal, req.all, &req.exec_id)
            .await?;
        Ok(Empty::new())
    }

    async fn stop_task(&self, _ctx: &TtrpcContext, req: pb::StopRequest) -> ttrpc::Result<Empty> {
        self.0.recovered(&req.container_id).await;
        self.0.stop_task(&req.container_id, req.timeout).await?;
        Ok(Empty::new())
    }

    async fn pause_task(&self, _ctx: &TtrpcContext, req: pb::TaskRequest) -> ttrpc::Result<Empty> {
        self.0.recovered(&req.container_id).await;
        self.0.pause_task(&req.container_id, true).await?;
        Ok(Empty::new())
    }

    async fn resume_task(&self, _ctx: &TtrpcContext, req: pb::TaskRequest) -> ttrpc::Result<Empty> {
        self.0.recovered(&req.container_id).await;
        self.0.pause_task(&req.container_id, false).await?;
        Ok(Empty::new())
    }

    async fn wait_task(
        &self,
        _ctx: &TtrpcContext,
        req: pb::TaskRequest,
    ) -> ttrpc::Result<pb::WaitResponse> {
        self.0.recovered(&req.container_id).await;
        Ok(self.0.wait_task(&req.container_id).await?)
    }

    async fn exec(
        &self,
        _ctx: &TtrpcContext,
        req: pb::ExecRequest,
    ) -> ttrpc::Result<pb::ExecResponse> {
        self.0.recovered(&req.container_id).await;
        Ok(self
            .0
            .exec(
                &req.container_id,
                &req.process_json,
                &req.user,
                req.stdin,
                req.tty,
            )
            .await?)
    }

    async fn start_exec(
        &self,
        _ctx: &TtrpcContext,
        req: pb::ExecProcessRequest,
    ) -> ttrpc::Result<Empty> {
        self.0.recovered(&req.container_id).await;
        self.0.start_exec(&req.container_id, &req.exec_id).await?;
        Ok(Empty::new())
    }

    async fn wait_exec(
        &self,
        _ctx: &TtrpcContext,
        req: pb::ExecProcessRequest,
    ) -> ttrpc::Result<pb::WaitResponse> {
        self.0.recovered(&req.container_id).await;
        Ok(self.0.wait_exec(&req.container_id, &req.exec_id).await?)
    }

    async fn resize_pty(
        &self,
        _ctx: &TtrpcContext,
        req: pb::ResizePtyRequest,
    ) -> ttrpc::Result<Empty> {
        self.0.recovered(&req.container_id).await;
        self.0.resize_pty(&req).await?;
        Ok(Empty::new())
    }

    async fn close_stdin(
        &self,
        _ctx: &TtrpcContext,
        req: pb::ExecProcessRequest,
    ) -> ttrpc::Result<Empty> {
        self.0.recovered(&req.container_id).await;
        self.0.close_stdin(&req.container_id, &req.exec_id).await?;
        Ok(Empty::new())
    }

    async fn attach_task(
        &self,
        _ctx: &TtrpcContext,
        req: pb::TaskRequest,
    ) -> ttrpc::Result<pb::AttachResponse> {
        self.0.recovered(&req.container_id).await;
        Ok(self.0.attach_task(&req.container_id)?)
    }

    async fn top_task(
        &self,
        _ctx: &TtrpcContext,
        req: pb::TaskRequest,
    ) -> ttrpc::Result<pb::TopResponse> {
        self.0.recovered(&req.container_id).await;
        Ok(self.0.top_task(&req.container_id).await?)
    }

    async fn task_stats(
        &self,
        _ctx: &TtrpcContext,
        req: pb::TaskRequest,
    ) -> ttrpc::Result<pb::StatsResponse> {
        self.0.recovered(&req.container_id).await;
        Ok(self.0.task_stats(&req.container_id).await?)
    }

    async fn update_task(
        &self,
        _ctx: &TtrpcContext,
        req: pb::UpdateRequest,
    ) -> ttrpc::Result<Empty> {
        self.0.recovered(&req.container_id).await;
        self.0
            .update_task(&req.container_id, &req.resources_json)
            .await?;
        if let Some(p) = req.restart_policy.as_ref() {
            self.0
                .update_restart_policy(&req.container_id, &p.name, p.max_retries)
                .await?;
        }
        Ok(Empty::new())
    }
}
