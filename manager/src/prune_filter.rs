//! docker's prune filters in the manager: of the objects a prune would
//! remove (stopped containers, unused networks, volumes, images) only those
//! created before `until` whose labels pass `label=` and `label!=`.

use std::collections::BTreeMap;

use berth_proto::prune_filter::PruneFilter;

/// A prune filter read once; the default admits everything.
#[derive(Debug, Default, Clone)]
pub struct PruneSelector {
    /// Unix nanoseconds.
    until: Option<i128>,
    labels: Vec<String>,
    labels_not: Vec<String>,
}

/// Whether `label` ("k" or "k=v") holds for `labels`.
fn holds(label: &str, labels: &BTreeMap<String, String>) -> bool {
    match label.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(label),
    }
}

impl PruneSelector {
    pub fn of(f: &PruneFilter) -> PruneSelector {
        PruneSelector {
            until: f
                .until
                .as_ref()
                .map(|t| t.seconds as i128 * 1_000_000_000 + t.nanos as i128),
            labels: f.labels.clone(),
            labels_not: f.labels_not.clone(),
        }
    }

    /// Whether an object with `labels`, created at `created` (Unix
    /// nanoseconds), may be pruned.
    pub fn admits(&self, labels: &BTreeMap<String, String>, created: i128) -> bool {
        self.until.is_none_or(|u| created < u)
            && self.labels.iter().all(|l| holds(l, labels))
            // docker keeps an object every label!= names
            && (self.labels_not.is_empty() || !self.labels_not.iter().all(|l| holds(l, labels)))
    }
}

/// Unix nanoseconds of an RFC 3339 stamp; an unknown time counts as the
/// epoch (older than any `until`).
pub fn nanos_of_rfc3339(t: Option<&str>) -> i128 {
    t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0) as i128
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_proto::protobuf::well_known_types::timestamp::Timestamp;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn labels_and_until_like_docker() {
        let mut f = PruneFilter::new();
        f.labels = vec!["tier".into(), "env=test".into()];
        let s = PruneSelector::of(&f);
        assert!(s.admits(&labels(&[("tier", "x"), ("env", "test")]), 0));
        assert!(!s.admits(&labels(&[("tier", "x"), ("env", "prod")]), 0));
        assert!(!s.admits(&labels(&[("env", "test")]), 0));

        let mut f = PruneFilter::new();
        f.labels_not = vec!["keep".into()];
        let mut t = Timestamp::new();
        t.seconds = 10;
        f.until = Some(t).into();
        let s = PruneSelector::of(&f);
        assert!(s.admits(&labels(&[]), 9_999_999_999));
        assert!(!s.admits(&labels(&[]), 10_000_000_000));
        assert!(!s.admits(&labels(&[("keep", "")]), 0));
        assert!(PruneSelector::default().admits(&labels(&[("keep", "")]), i128::MAX));
    }
}
