//! The time window of `events --since/--until`, one reading for the CLI
//! and the Docker API's `/events?since=&until=`: docker's time forms (see
//! [`crate::since`]), then which manager stream serves it — the live one
//! alone, or the recorded history replayed first — and when it ends.

use std::time::Duration;

use berth_proto::event_history::ReplayRequest;
use berth_proto::manager::{Event, SubscribeRequest};
use berth_proto::protobuf::well_known_types::timestamp::Timestamp;
use berth_proto::protobuf::MessageField;
use berth_proto::ttrpc::r#async::ClientStreamReceiver;
use chrono::{DateTime, Utc};

use crate::client::Manager;
use crate::error::CliError;

/// `[since, until]`, either end open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Why a window was refused; each message is docker's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WindowError {
    #[error("{0}")]
    Time(String),
    #[error("`since` time ({0}) cannot be after `until` time ({1})")]
    Inverted(i64, i64),
}

impl Window {
    /// Reads `since` and `until` as docker does, durations counted back
    /// from `now`.
    pub fn parse(
        since: Option<&str>,
        until: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Window, WindowError> {
        let when = |flag, v: Option<&str>| {
            v.filter(|v| !v.is_empty())
                .map(|v| crate::since::parse_time(flag, v, now))
                .transpose()
                .map_err(WindowError::Time)
        };
        let w = Window {
            since: when("since", since)?,
            until: when("until", until)?,
        };
        if let (Some(s), Some(u)) = (w.since, w.until) {
            if s > u {
                return Err(WindowError::Inverted(s.timestamp(), u.timestamp()));
            }
        }
        Ok(w)
    }

    /// Whether events still to come can fall in the window.
    pub fn follows(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|u| u > now)
    }

    /// When a stream following from `now` stops (its `until`), on tokio's
    /// clock.
    fn deadline(&self, now: DateTime<Utc>) -> Option<tokio::time::Instant> {
        self.until.map(|u| {
            let left = (u - now).to_std().unwrap_or(Duration::ZERO);
            tokio::time::Instant::now() + left
        })
    }

    /// Whether an event stamped `t` is in the window.
    pub fn holds(&self, t: Option<DateTime<Utc>>) -> bool {
        t.is_none_or(|t| self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t <= u))
    }
}

fn stamp(t: Option<DateTime<Utc>>) -> MessageField<Timestamp> {
    MessageField::from_option(t.map(|t| {
        let mut s = Timestamp::new();
        s.seconds = t.timestamp();
        s.nanos = t.timestamp_subsec_nanos() as i32;
        s
    }))
}

/// The manager's events in a window, as they come.
pub struct EventStream {
    pub rx: ClientStreamReceiver<Event>,
    /// When the reader stops: the `until` of a stream that follows live
    /// events (a replay alone ends by itself).
    pub deadline: Option<tokio::time::Instant>,
}

/// The manager's events matching `filters` in `w`: with no bound only the
/// live ones; with a bound the recorded ones first, then (while `until` is
/// ahead) the live ones.
pub async fn open(m: &Manager, filters: Vec<String>, w: &Window) -> Result<EventStream, CliError> {
    let now = Utc::now();
    if w.since.is_none() && w.until.is_none() {
        let mut req = SubscribeRequest::new();
        req.filters = filters;
        let rx = m
            .events
            .subscribe(m.ctx(), &req)
            .await
            .map_err(|e| m.err(e))?;
        return Ok(EventStream { rx, deadline: None });
    }
    let mut req = ReplayRequest::new();
    req.filters = filters;
    req.since = stamp(w.since);
    req.until = stamp(w.until);
    req.follow = w.follows(now);
    let rx = m
        .event_history
        .replay(m.ctx(), &req)
        .await
        .map_err(|e| m.err(e))?;
    let deadline = if req.follow { w.deadline(now) } else { None };
    Ok(EventStream { rx, deadline })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn windows_like_docker() {
        let w = Window::parse(Some("10m"), Some("0s"), now()).unwrap();
        assert_eq!(w.since.unwrap().timestamp(), 1_700_000_000 - 600);
        assert_eq!(w.until, Some(now()));
        assert!(!w.follows(now()));
        let open = Window::parse(None, None, now()).unwrap();
        assert!(open.follows(now()));
        let ahead = Window::parse(Some("1699999999"), Some("1700000100"), now()).unwrap();
        assert!(ahead.follows(now()));
        assert!(ahead.holds(Some(now())));
        assert!(!ahead.holds(Some(Utc.timestamp_opt(1_700_000_101, 0).unwrap())));
    }

    #[test]
    fn since_after_until_is_refused() {
        let e = Window::parse(Some("0s"), Some("10m"), now()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`since` time (1700000000) cannot be after `until` time (1699999400)"
        );
        assert!(matches!(
            Window::parse(Some("abc"), None, now()),
            Err(WindowError::Time(_))
        ));
    }
}
