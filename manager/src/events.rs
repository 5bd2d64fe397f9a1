//! The manager's event bus: container and image events, docker-worded,
//! fanned out to every Subscribe stream.

use std::collections::HashMap;

use berth_proto::manager::Event;
use tokio::sync::broadcast;

use crate::record::{now_nanos, timestamp};

/// How many events a slow subscriber may fall behind before it misses some.
const BACKLOG: usize = 1024;

#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
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
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
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
        // no subscriber is not an error
        let _ = self.tx.send(event);
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
    async fn subscribers_get_published_events() {
        let bus = EventBus::new();
        let mut rx = bus.subscribe();
        bus.publish("container", "start", "abc", &[("name", "web".into())]);
        let e = rx.recv().await.unwrap();
        assert_eq!((e.action.as_str(), e.id.as_str()), ("start", "abc"));
        assert_eq!(e.attributes["name"], "web");
    }
}
