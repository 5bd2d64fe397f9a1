//! Publishing task events to containerd, as containerd's own shims do:
//! `containerd.services.events.ttrpc.v1.Events/Forward` on the ttrpc
//! socket containerd names in `TTRPC_ADDRESS`, with an envelope holding the
//! namespace, topic and the event as an Any (`containerd.events.TaskExit`,
//! ...). One thread sends them in order; it is started when there is
//! something to send and ends, hanging up, when the queue is empty, so an
//! idle shim holds no connection and no threads for events.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use berth_proto::containerd::events::task as ev;
use berth_proto::containerd::protobuf::well_known_types::any::Any;
use berth_proto::containerd::protobuf::Message;
use berth_proto::containerd::shim::event::Envelope;
use berth_proto::containerd::shim::events::ForwardRequest;
use berth_proto::containerd::topics;

use crate::call::Caller;
use crate::timestamp;

/// Attempts per event before it is dropped (containerd restarting).
const ATTEMPTS: u32 = 5;
/// Timeout of one Forward call.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);
/// containerd's events service, and its method shims send events with.
const EVENTS_SERVICE: &str = "containerd.services.events.ttrpc.v1.Events";
const FORWARD: &str = "Forward";

/// An event of the task API with its topic.
pub trait TaskEvent: Message {
    /// The topic containerd files it under.
    const TOPIC: &'static str;
    /// The Any type URL: containerd registers its events under their proto
    /// names. Spelled out rather than read from the message descriptor,
    /// which would build protobuf reflection tables in an idle shim.
    const TYPE_URL: &'static str;
}

macro_rules! topic {
    ($($t:ident => $topic:expr),* $(,)?) => {
        $(impl TaskEvent for ev::$t {
            const TOPIC: &'static str = $topic;
            const TYPE_URL: &'static str = concat!("containerd.events.", stringify!($t));
        })*
    };
}

topic! {
    TaskCreate => topics::TASK_CREATE_EVENT_TOPIC,
    TaskStart => topics::TASK_START_EVENT_TOPIC,
    TaskExit => topics::TASK_EXIT_EVENT_TOPIC,
    TaskDelete => topics::TASK_DELETE_EVENT_TOPIC,
    TaskOOM => topics::TASK_OOM_EVENT_TOPIC,
    TaskExecAdded => topics::TASK_EXEC_ADDED_EVENT_TOPIC,
    TaskExecStarted => topics::TASK_EXEC_STARTED_EVENT_TOPIC,
    TaskPaused => topics::TASK_PAUSED_EVENT_TOPIC,
    TaskResumed => topics::TASK_RESUMED_EVENT_TOPIC,
}

/// The event queue and the thread that drains it.
pub struct Publisher {
    namespace: String,
    url: Option<String>,
    inner: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    /// Waiting to be sent.
    pending: VecDeque<Envelope>,
    /// The sending thread, while it runs.
    sender: Option<JoinHandle<()>>,
    /// Whether the sending thread is still taking from `pending`.
    draining: bool,
}

impl Publisher {
    /// A publisher to containerd at `ttrpc_address`; with none, events are
    /// dropped.
    pub fn new(ttrpc_address: Option<String>, namespace: String) -> Publisher {
        Publisher {
            namespace,
            url: ttrpc_address
                .filter(|a| !a.is_empty())
                .map(|a| berth_proto::ttrpc_url(&a)),
            inner: Mutex::new(Queue::default()),
        }
    }

    /// Queues `event` for containerd.
    pub fn publish<E: TaskEvent>(self: &Arc<Self>, event: &E) {
        let Some(url) = &self.url else { return };
        let value = match event.write_to_bytes() {
            Ok(v) => v,
            Err(e) => {
                crate::log_line!("encode {}: {e}", E::TYPE_URL);
                return;
            }
        };
        let mut any = Any::new();
        any.type_url = E::TYPE_URL.to_string();
        any.value = value;
        let mut env = Envelope::new();
        env.timestamp = Some(timestamp(SystemTime::now())).into();
        env.namespace = self.namespace.clone();
        env.topic = E::TOPIC.to_string();
        env.event = Some(any).into();

        let mut q = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        q.pending.push_back(env);
        if q.draining {
            return;
        }
        if let Some(old) = q.sender.take() {
            // It has stopped draining; it only has to exit.
            let _ = old.join();
        }
        let me = self.clone();
        let url = url.clone();
        let spawned = std::thread::Builder::new()
            .name("events".into())
            .stack_size(256 * 1024)
            .spawn(move || me.drain(&url));
        match spawned {
            Ok(t) => {
                q.draining = true;
                q.sender = Some(t);
            }
            Err(e) => crate::log_line!("publish: cannot start the event thread: {e}"),
        }
    }

    fn next(&self) -> Option<Envelope> {
        let mut q = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let env = q.pending.pop_front();
        if env.is_none() {
            q.draining = false;
        }
        env
    }

    fn drain(&self, url: &str) {
        let mut client: Option<Caller> = None;
        while let Some(env) = self.next() {
            send(url, &mut client, env);
        }
        // the connection and its buffers go before the heap is trimmed
        drop(client);
        crate::heap::release_free();
    }

    /// Waits until everything queued was sent (or given up on).
    pub fn close(&self) {
        let sender = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sender
            .take();
        if let Some(t) = sender {
            let _ = t.join();
        }
    }
}

fn send(url: &str, client: &mut Option<Caller>, env: Envelope) {
    let topic = env.topic.clone();
    let mut req = ForwardRequest::new();
    req.envelope = Some(env).into();
    let payload = match req.write_to_bytes() {
        Ok(p) => p,
        Err(e) => {
            crate::log_line!("publish {topic}: encode: {e}");
            return;
        }
    };
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(200 << attempt));
        }
        let mut c = match client.take() {
            Some(c) => c,
            None => match Caller::connect(url) {
                Ok(c) => c,
                Err(e) => {
                    crate::log_line!("publish {topic}: connect {url}: {e}");
                    continue;
                }
            },
        };
        match c.call(EVENTS_SERVICE, FORWARD, payload.clone(), FORWARD_TIMEOUT) {
            Ok(_) => {
                *client = Some(c);
                return;
            }
            Err(e) => crate::log_line!("publish {topic}: {e}"),
        }
    }
    crate::log_line!("publish {topic}: dropped after {ATTEMPTS} attempts");
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_proto::containerd::protobuf::MessageFull;

    #[test]
    fn type_urls_are_the_proto_names() {
        assert_eq!(
            ev::TaskExit::TYPE_URL,
            ev::TaskExit::descriptor().full_name()
        );
        assert_eq!(ev::TaskOOM::TYPE_URL, ev::TaskOOM::descriptor().full_name());
        assert_eq!(berth_proto::ttrpc_url("/run/c.sock"), "unix:///run/c.sock");
    }
}
