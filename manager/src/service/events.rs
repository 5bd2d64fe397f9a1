//! `berth.manager.v1.Events`: a stream of the bus, filtered per subscriber.

use std::sync::Arc;

use async_trait::async_trait;
use berth_proto::manager as pb;
use berth_proto::manager_ttrpc::Events;
use tokio::sync::broadcast::error::RecvError;
use ttrpc::r#async::{ServerStreamSender, TtrpcContext};

use crate::error::ManagerError;
use crate::events::EventFilter;
use crate::manager::Manager;

pub struct EventsService(pub Arc<Manager>);

#[async_trait]
impl Events for EventsService {
    async fn subscribe(
        &self,
        _ctx: &TtrpcContext,
        req: pb::SubscribeRequest,
        sink: ServerStreamSender<pb::Event>,
    ) -> ttrpc::Result<()> {
        let filter = EventFilter::parse(&req.filters)
            .map_err(|e| ManagerError::InvalidArgument(e.to_string()))?;
        let mut rx = self.0.events.subscribe();
        loop {
            match rx.recv().await {
                Ok((_, e)) => {
                    if filter.matches(&e) && sink.send(&e).await.is_err() {
                        return Ok(());
                    }
                }
                // a slow subscriber misses events rather than stalling others
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return Ok(()),
            }
        }
    }
}
