//! containerd's `containerd.services.events.ttrpc.v1.Events`: shims publish
//! their task events here (TTRPC_ADDRESS). Init exits are learned through
//! the shim's Wait; this adds OOM kills and exec exits to the bus.

use std::sync::Arc;

use async_trait::async_trait;
use berth_proto::containerd::events::task::{TaskExit, TaskOOM};
use berth_proto::containerd::shim::events::ForwardRequest;
use berth_proto::containerd::shim_async::Events;
use protobuf::well_known_types::empty::Empty;
use protobuf::Message;
use ttrpc::r#async::TtrpcContext;

use crate::manager::Manager;

pub struct ForwardService(pub Arc<Manager>);

#[async_trait]
impl Events for ForwardService {
    async fn forward(&self, _ctx: &TtrpcContext, req: ForwardRequest) -> ttrpc::Result<Empty> {
        let Some(env) = req.envelope.as_ref() else {
            return Ok(Empty::new());
        };
        let Some(any) = env.event.as_ref() else {
            return Ok(Empty::new());
        };
        match env.topic.as_str() {
            "/tasks/oom" => {
                if let Ok(e) = TaskOOM::parse_from_bytes(&any.value) {
                    if let Ok(rec) = self
                        .0
                        .store
                        .update(&e.container_id, |r| r.oom_killed = true)
                    {
                        self.0.container_event(&rec, "oom", &[]);
                    }
                }
            }
            "/tasks/exit" => {
                if let Ok(e) = TaskExit::parse_from_bytes(&any.value) {
                    // the init's exit comes through Wait, with the record update
                    if e.id != e.container_id && !e.id.is_empty() {
                        if let Ok(Some(rec)) = self.0.store.get(&e.container_id) {
                            self.0.container_event(
                                &rec,
                                "exec_die",
                                &[
                                    ("execID", e.id.clone()),
                                    ("exitCode", e.exit_status.to_string()),
                                ],
                            );
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(Empty::new())
    }
}
