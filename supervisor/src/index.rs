//! docker's v1 index search: `GET <index>/v1/search?q=TERM&n=LIMIT`, the
//! index being Docker Hub's (`index.docker.io`) or the registry a term
//! names (`host:port/term`). Written once for `berth search` and the Docker
//! API's `GET /images/search`: the filters are checked before anything is
//! asked, and applied to the results as docker's daemon applies them.
//! Credentials are the login config's for that index (basic auth). An
//! index on a loopback address is tried over HTTPS, then plain HTTP, as
//! docker treats loopback registries as insecure ones.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Docker Hub's index.
pub const DEFAULT_INDEX: &str = "index.docker.io";

/// Why a search was refused or failed; worded as docker's daemon words it.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// `--filter` with a key search does not take, or a bad value.
    #[error("Invalid filter '{0}'")]
    Filter(String),
    #[error("Limit {0} is outside the range of [1, 100]")]
    Limit(i64),
    /// Nothing answered at the index's address.
    #[error("no index reachable: {0}")]
    Unreachable(String),
    /// The index answered, but not with search results.
    #[error("{index} answered the search with {what}")]
    Answer { index: String, what: String },
}

/// One search result, as the index and the Docker API spell it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub star_count: u64,
    #[serde(default)]
    pub is_official: bool,
    #[serde(default)]
    pub is_automated: bool,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<SearchResult>,
}

/// Checked `--filter` values: `stars=N`, `is-official=BOOL`,
/// `is-automated=BOOL` (each value of a key must hold).
#[derive(Debug, Default, Clone)]
pub struct SearchFilter {
    stars: Vec<u64>,
    official: Vec<bool>,
    automated: Vec<bool>,
}

impl SearchFilter {
    /// From `(key, value)` pairs.
    pub fn new<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<SearchFilter, IndexError> {
        let mut f = SearchFilter::default();
        for (k, v) in pairs {
            let bad = || IndexError::Filter(format!("{k}={v}"));
            match k {
                "stars" => f.stars.push(v.parse().map_err(|_| bad())?),
                "is-official" => f.official.push(parse_bool(v).ok_or_else(bad)?),
                "is-automated" => f.automated.push(parse_bool(v).ok_or_else(bad)?),
                _ => return Err(IndexError::Filter(k.to_string())),
            }
        }
        Ok(f)
    }

    fn keeps(&self, r: &SearchResult) -> bool {
        self.stars.iter().all(|&s| r.star_count >= s)
            && self.official.iter().all(|&o| r.is_official == o)
            && self.automated.iter().all(|&a| r.is_automated == a)
    }
}

/// Go's strconv.ParseBool.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Checks docker's limit range.
pub fn check_limit(limit: i64) -> Result<(), IndexError> {
    if (1..=100).contains(&limit) {
        Ok(())
    } else {
        Err(IndexError::Limit(limit))
    }
}

/// `host:port/term` → (`host:port`, `term`); a term naming no registry
/// searches Docker Hub's index.
pub fn split_term(term: &str) -> (&str, &str) {
    match term.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            match first {
                "docker.io" | "index.docker.io" => (DEFAULT_INDEX, rest),
                _ => (first, rest),
            }
        }
        _ => (DEFAULT_INDEX, term),
    }
}

fn is_loopback(index: &str) -> bool {
    let host = match index.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => index,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Searches the index `term` names for it, at most `limit` results, the
/// filter applied.
pub async fn search(
    term: &str,
    limit: i64,
    filter: &SearchFilter,
) -> Result<Vec<SearchResult>, IndexError> {
    check_limit(limit)?;
    let (index, remote) = split_term(term);
    let key = crate::auth::config::server_key(index);
    let creds = crate::auth::config::credentials(&key).ok().flatten();
    // reqwest is built without a default TLS provider; ring is the one
    // the image store installs too (a no-op when one is in place)
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| IndexError::Unreachable(e.to_string()))?;
    let schemes: &[&str] = if is_loopback(index) {
        &["https", "http"]
    } else {
        &["https"]
    };
    let mut why = Vec::new();
    for scheme in schemes {
        let url = format!("{scheme}://{index}/v1/search");
        let mut req = client
            .get(&url)
            .query(&[("q", remote), ("n", &limit.to_string())])
            .header("X-Docker-Token", "true");
        if let Some((user, password)) = &creds {
            req = req.basic_auth(user, Some(password));
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                why.push(format!("{url}: {}", error_chain(&e)));
                continue;
            }
        };
        let status = resp.status();
        let answer = |what: String| IndexError::Answer {
            index: index.to_string(),
            what,
        };
        if !status.is_success() {
            return Err(answer(format!("HTTP status {status}")));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| answer(format!("a broken body ({})", error_chain(&e))))?;
        let a: Answer = serde_json::from_slice(&body)
            .map_err(|e| answer(format!("something other than search results ({e})")))?;
        // the index limits the results (`n`); docker's daemon only filters
        return Ok(a.results.into_iter().filter(|r| filter.keeps(r)).collect());
    }
    Err(IndexError::Unreachable(why.join("; ")))
}

/// An error and its sources on one line (reqwest's own message is terse).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(stars: u64, official: bool, automated: bool) -> SearchResult {
        SearchResult {
            name: "x".into(),
            description: String::new(),
            star_count: stars,
            is_official: official,
            is_automated: automated,
        }
    }

    #[test]
    fn terms_name_their_index() {
        assert_eq!(split_term("busybox"), (DEFAULT_INDEX, "busybox"));
        assert_eq!(split_term("user/app"), (DEFAULT_INDEX, "user/app"));
        assert_eq!(
            split_term("127.0.0.1:5000/busy"),
            ("127.0.0.1:5000", "busy")
        );
        assert_eq!(split_term("docker.io/busybox"), (DEFAULT_INDEX, "busybox"));
        assert!(is_loopback("127.0.0.1:5000") && is_loopback("localhost"));
        assert!(!is_loopback(DEFAULT_INDEX));
    }

    #[test]
    fn filters_as_the_daemon_applies_them() {
        let f = SearchFilter::new([("stars", "5"), ("is-official", "false")]).unwrap();
        assert!(f.keeps(&r(5, false, true)));
        assert!(!f.keeps(&r(4, false, false)));
        assert!(!f.keeps(&r(50, true, false)));
        assert_eq!(
            SearchFilter::new([("bogus", "1")]).unwrap_err().to_string(),
            "Invalid filter 'bogus'"
        );
        assert_eq!(
            SearchFilter::new([("stars", "x")]).unwrap_err().to_string(),
            "Invalid filter 'stars=x'"
        );
        assert!(SearchFilter::new([("is-automated", "maybe")]).is_err());
        assert_eq!(
            check_limit(0).unwrap_err().to_string(),
            "Limit 0 is outside the range of [1, 100]"
        );
    }
}
