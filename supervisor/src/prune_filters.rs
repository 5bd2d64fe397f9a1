//! docker's `--filter` of the prune commands, read once for the CLI and the
//! Docker API's prune endpoints: which keys each prune takes, and the
//! manager's [`PruneFilter`] they make (`until=` a time or a duration back
//! from now, `label=k[=v]`, `label!=k[=v]`).

use berth_proto::protobuf::well_known_types::timestamp::Timestamp;
use berth_proto::prune_filter::PruneFilter;
use chrono::{DateTime, Utc};

use crate::filters::{FilterError, Filters};

/// What is pruned; each takes docker's keys for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneKind {
    Containers,
    Images,
    Networks,
    Volumes,
    /// `system prune`: containers, networks and images alike
    System,
    /// `builder prune`: the build cache (untagged images)
    Builder,
}

impl PruneKind {
    fn keys(self) -> &'static [&'static str] {
        match self {
            PruneKind::Volumes => &["label", "label!"],
            PruneKind::Images => &["until", "label", "label!", "dangling"],
            _ => &["until", "label", "label!"],
        }
    }
}

/// The manager's filter for `f` on a prune of `kind`; `now` anchors
/// durations. Keys the prune does not take are refused as docker does.
pub fn prune_filter(
    f: &Filters,
    kind: PruneKind,
    now: DateTime<Utc>,
) -> Result<PruneFilter, FilterError> {
    f.only(kind.keys())?;
    let mut out = PruneFilter::new();
    // docker takes the last `until` given
    if let Some(v) = f.get("until").last() {
        let t =
            crate::since::parse_time("until", v, now).map_err(|_| FilterError::Time(v.clone()))?;
        let mut ts = Timestamp::new();
        ts.seconds = t.timestamp();
        ts.nanos = t.timestamp_subsec_nanos() as i32;
        out.until = Some(ts).into();
    }
    out.labels = f.get("label").to_vec();
    out.labels_not = f.get("label!").to_vec();
    Ok(out)
}

/// The CLI's reading of `--filter` flags: the manager's filter, or the exit
/// code after docker's one-line error.
pub fn from_flags(flags: &[String], kind: PruneKind) -> Result<PruneFilter, i32> {
    Filters::from_flags(flags)
        .and_then(|f| prune_filter(&f, kind, Utc::now()))
        .map_err(|e| {
            eprintln!("{}", e.cli_message());
            e.exit_code()
        })
}

/// The Docker API's reading of a prune's `filters` query (JSON; absent or
/// empty: no filter).
pub fn from_query(json: Option<&str>, kind: PruneKind) -> Result<PruneFilter, FilterError> {
    let f = match json.map(str::trim).filter(|j| !j.is_empty()) {
        Some(j) => Filters::from_json(j)?,
        None => Filters::default(),
    };
    prune_filter(&f, kind, Utc::now())
}

/// `image prune`'s `dangling=false`: every unused image, as `-a`.
pub fn all_images(f: &Filters, all_flag: bool) -> bool {
    all_flag
        || f.get("dangling")
            .last()
            .is_some_and(|v| matches!(v.as_str(), "false" | "0"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn flags(v: &[&str]) -> Filters {
        Filters::from_flags(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn keys_per_prune_like_docker() {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let f = prune_filter(
            &flags(&["until=10m", "label=a", "label!=b=c"]),
            PruneKind::Containers,
            now,
        )
        .unwrap();
        assert_eq!(f.until.seconds, 1_700_000_000 - 600);
        assert_eq!(f.labels, ["a"]);
        assert_eq!(f.labels_not, ["b=c"]);
        let e = prune_filter(&flags(&["until=1h"]), PruneKind::Volumes, now).unwrap_err();
        assert_eq!(
            e.cli_message(),
            "Error response from daemon: Invalid filter 'until'"
        );
        let e = prune_filter(&flags(&["bogus=1"]), PruneKind::System, now).unwrap_err();
        assert_eq!(e.to_string(), "Invalid filter 'bogus'");
        let e = prune_filter(&flags(&["until=abc"]), PruneKind::Networks, now).unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to parse value as time or duration: \"abc\""
        );
        assert!(all_images(&flags(&["dangling=false"]), false));
        assert!(!all_images(&flags(&["dangling=true"]), false));
    }
}
