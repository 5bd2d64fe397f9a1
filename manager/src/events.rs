//! The manager's event bus: container and image events, docker-worded,
//! fanned out to every Subscribe stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_proto::manager::Event;
use tokio::sync::{broadcast, watch, Notify};

use crate::record::{now_nanos, timestamp};

/// How many events a slow subscriber may fall behind before it misses some.
const BACKLOG: usize = 1024;

/// An event with its place in the manager's history: numbers grow by one
/// per event published, across restarts (the history carries them on).
pub type Numbered = (u64, Event);

#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Numbered>,
    shared: Arc<Shared>,
}

struct Shared {
    /// The next event's number and the events not yet in the store (the
    /// history writer takes them); one lock, so a subscriber sees every
    /// event either in its replay or live, never both, never neither.
    queue: Mutex<Queue>,
    /// Wakes the history writer.
    wake: Notify,
    /// The number of the newest event the writer is done with (stored, or
    /// given up on); replays wait for it to reach their start.
    written: watch::Sender<u64>,
}

#[derive(Default)]
struct Queue {
    next: u64,
    pending: Vec<Numbered>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

impl EventBus {
    pub fn new() -> EventBus {
        EventBus {
            tx: broadcast::channel(BACKLOG).0,
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue {
                    next: 1,
                    pending: Vec::new(),
                }),
                wake: Notify::new(),
                written: watch::channel(0).0,
            }),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Numbered> {
        self.tx.subscribe()
    }

    /// A live subscription and the number of the last event before it:
    /// every later event comes on the receiver, every earlier one is in
    /// the history once [`EventBus::written_through`] reaches the number.
    pub fn subscribe_after(&self) -> (broadcast::Receiver<Numbered>, u64) {
        let q = lock(&self.shared.queue);
        (self.tx.subscribe(), q.next - 1)
    }

    /// Numbers new events after `last` (the newest stored one) at start.
    pub fn continue_after(&self, last: u64) {
        {
            let mut q = lock(&self.shared.queue);
            q.next += last;
            for (n, _) in q.pending.iter_mut() {
                *n += last;
            }
        }
        self.mark_written(last);
    }

    /// Takes the events the history writer has not stored yet.
    pub fn take_pending(&self) -> Vec<Numbered> {
        std::mem::take(&mut lock(&self.shared.queue).pending)
    }

    /// Waits until there may be events to take.
    pub async fn pending_wake(&self) {
        self.shared.wake.notified().await
    }

    /// Marks events through `n` as stored (or lost, if storing failed).
    pub fn mark_written(&self, n: u64) {
        self.shared.written.send_if_modified(|w| {
            let moved = n > *w;
            *w = (*w).max(n);
            moved
        });
    }

    /// Waits until every event through `n` is stored.
    pub async fn written_through(&self, n: u64) {
        let mut rx = self.shared.written.subscribe();
        let _ = rx.wait_for(|w| *w >= n).await;
    }

    pub fn publish(&self, kind: &str, action: &str, id: &str, attributes: &[(&str, String)]) {
        let event = Event {
            time: timestamp(now_nanos()),
            type_: kind.to_string(),
            action: action.to_string(),
            id: id.to_string(),
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<HashMap<_, _>>(),
            ..Default::default()
        };
        {
            let mut q = lock(&self.shared.queue);
            let n = q.next;
            q.next += 1;
            // without a writer (yet) the queue keeps what the history would
            if q.pending.len() >= crate::event_history::KEPT {
                q.pending.remove(0);
            }
            q.pending.push((n, event.clone()));
            // no subscriber is not an error
            let _ = self.tx.send((n, event));
        }
        self.shared.wake.notify_one();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("invalid filter {0:?}: want key=value")]
    Syntax(String),
    #[error("invalid filter {0:?}: unknown key (container, type, event, image, label)")]
    Key(String),
}

/// docker's event filters: same key ORs, different keys AND.
#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    by_key: HashMap<String, Vec<String>>,
}

impl EventFilter {
    pub fn parse(filters: &[String]) -> Result<EventFilter, FilterError> {
        let mut by_key: HashMap<String, Vec<String>> = HashMap::new();
        for f in filters {
            let (k, v) = f
                .split_once('=')
                .ok_or_else(|| FilterError::Syntax(f.clone()))?;
            if !matches!(k, "container" | "type" | "event" | "image" | "label") {
                return Err(FilterError::Key(f.clone()));
            }
            by_key.entry(k.to_string()).or_default().push(v.to_string());
        }
        Ok(EventFilter { by_key })
    }

    pub fn matches(&self, e: &Event) -> bool {
        self.by_key.iter().all(|(k, values)| {
            values.iter().any(|v| match k.as_str() {
                "type" => e.type_ == *v,
                "event" => e.action == *v,
                "container" => {
                    e.type_ == "container"
                        && (e.id.starts_with(v.as_str())
                            || e.attributes.get("name").is_some_and(|n| n == v))
                }
                "image" => {
                    e.attributes.get("image").is_some_and(|i| i == v)
                        || (e.type_ == "image" && e.id == *v)
                }
                "label" => match v.split_once('=') {
                    Some((lk, lv)) => e.attributes.get(lk).is_some_and(|x| x == lv),
                    None => e.attributes.contains_key(v.as_str()),
                },
                _ => false,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, action: &str, id: &str, name: &str) -> Event {
        let mut e = Event::new();
        e.type_ = kind.into();
        e.action = action.into();
        e.id = id.into();
        e.attributes.insert("name".into(), name.into());
        e
    }

    #[test]
    fn filters_and_across_keys_or_within() {
        let f = EventFilter::parse(&[
            "container=web".into(),
            "event=die".into(),
            "event=start".into(),
        ])
        .unwrap();
        assert!(f.matches(&ev("container", "die", "abc", "web")));
        assert!(f.matches(&ev("container", "start", "abc", "web")));
        assert!(!f.matches(&ev("container", "create", "abc", "web")));
        assert!(!f.matches(&ev("container", "die", "abc", "db")));
        let by_id = EventFilter::parse(&["container=ab".into()]).unwrap();
        assert!(by_id.matches(&ev("container", "die", "abc", "x")));
    }

    #[test]
    fn bad_filters_are_refused() {
        assert!(EventFilter::parse(&["nokey".into()]).is_err());
        assert!(EventFilter::parse(&["colour=red".into()]).is_err());
        assert!(EventFilter::parse(&[])
            .unwrap()
            .matches(&ev("image", "pull", "x", "")));
    }

    #[tokio::test]
    async fn numbering_goes_on_from_the_history() {
        let bus = EventBus::new();
        bus.publish("image", "load", "early", &[]);
        bus.continue_after(41);
        // what the history holds counts as written
        tokio::time::timeout(std::time::Duration::from_secs(5), bus.written_through(41))
            .await
            .unwrap();
        bus.publish("container", "create", "late", &[]);
        let numbers: Vec<(u64, String)> = bus
            .take_pending()
            .into_iter()
            .map(|(n, e)| (n, e.id))
            .collect();
        assert_eq!(numbers, [(42, "early".into()), (43, "late".into())]);
        let (_rx, before) = bus.subscribe_after();
        assert_eq!(before, 43);
        assert!(bus.take_pending().is_empty());
    }

    #[tokio::test]
    async fn subscribers_get_published_events() {
        let bus = EventBus::new();
        let mut rx = bus.subscribe();
        bus.publish("container", "start", "abc", &[("name", "web".into())]);
        let (_, e) = rx.recv().await.unwrap();
        assert_eq!((e.action.as_str(), e.id.as_str()), ("start", "abc"));
        assert_eq!(e.attributes["name"], "web");
    }
}
