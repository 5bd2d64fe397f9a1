//! `berth.manager.v1.EventHistory`: the stored events from a point in time,
//! then (if asked) the live ones, filtered per subscriber.

use std::sync::Arc;

use async_trait::async_trait;
use berth_proto::event_history::ReplayRequest;
use berth_proto::event_history_ttrpc::EventHistory;
use berth_proto::manager as pb;
use berth_proto::protobuf::well_known_types::timestamp::Timestamp;
use berth_proto::protobuf::MessageField;
use tokio::sync::broadcast::error::RecvError;
use ttrpc::r#async::{ServerStreamSender, TtrpcContext};

use crate::error::ManagerError;
use crate::events::EventFilter;
use crate::manager::Manager;

pub struct EventHistoryService(pub Arc<Manager>);

/// Nanoseconds since the epoch of a set stamp.
fn nanos(t: &MessageField<Timestamp>) -> Option<i128> {
    t.as_ref()
        .map(|t| t.seconds as i128 * 1_000_000_000 + t.nanos as i128)
}

/// Whether `e` is stamped within [since, until] (an unset bound holds).
fn within(e: &pb::Event, since: Option<i128>, until: Option<i128>) -> bool {
    let t = nanos(&e.time).unwrap_or(0);
    since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u)
}

#[async_trait]
impl EventHistory for EventHistoryService {
    async fn replay(
        &self,
        _ctx: &TtrpcContext,
        req: ReplayRequest,
        sink: ServerStreamSender<pb::Event>,
    ) -> ttrpc::Result<()> {
        let filter = EventFilter::parse(&req.filters)
            .map_err(|e| ManagerError::InvalidArgument(e.to_string()))?;
        let (since, until) = (nanos(&req.since), nanos(&req.until));
        let events = &self.0.events;
        // live events from here on come on rx; the ones before are stored
        // once the writer is through them
        let (mut rx, before) = events.subscribe_after();
        events.written_through(before).await;
        let db = self
            .0
            .store
            .db()
            .map_err(|e| ManagerError::Internal(e.to_string()))?;
        let stored = crate::event_history::read(&db, before)
            .map_err(|e| ManagerError::Internal(e.to_string()))?;
        for (_, e) in stored {
            if within(&e, since, until) && filter.matches(&e) && sink.send(&e).await.is_err() {
                return Ok(());
            }
        }
        if !req.follow {
            return Ok(());
        }
        loop {
            match rx.recv().await {
                Ok((_, e)) => {
                    if within(&e, since, until)
                        && filter.matches(&e)
                        && sink.send(&e).await.is_err()
                    {
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
