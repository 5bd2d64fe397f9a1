//! `berth search`: docker's filters checked as docker checks them, then
//! the index (index.docker.io) asked for. berth has no index client yet, so
//! an index that cannot be reached is reported as such (the usual case for
//! an offline host) and a reachable one is refused plainly; either way the
//! exit is docker's 1 and nothing changes. No manager is needed.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use clap::Args;

/// The index docker searches.
const INDEX: &str = "index.docker.io:443";

/// `berth search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Filter output based on conditions provided (is-official, is-automated, stars)
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Max number of search results
    #[arg(long, default_value_t = 25)]
    pub limit: u32,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// The term to search for
    pub term: String,
}

/// Checks `--filter`s: docker's keys and value types.
fn check_filters(filters: &[String]) -> Result<(), String> {
    for f in filters {
        let (k, v) = f.split_once('=').unwrap_or((f.as_str(), ""));
        let ok = match k {
            "is-official" | "is-automated" => matches!(v, "true" | "false"),
            "stars" => v.parse::<u32>().is_ok(),
            _ => return Err(format!("Error response from daemon: Invalid filter '{k}'")),
        };
        if !ok {
            return Err(format!("Error response from daemon: Invalid filter '{f}'"));
        }
    }
    Ok(())
}

/// Why the index cannot be asked (`None`: it answers on its port).
fn unreachable(index: &str) -> Option<String> {
    let addrs = match index.to_socket_addrs() {
        Ok(a) => a.collect::<Vec<_>>(),
        Err(e) => return Some(format!("lookup {index}: {e}")),
    };
    let mut last = format!("lookup {index}: no addresses");
    for a in addrs {
        match TcpStream::connect_timeout(&a, Duration::from_secs(5)) {
            Ok(_) => return None,
            Err(e) => last = format!("dial tcp {a}: {e}"),
        }
    }
    Some(last)
}

/// `berth search`.
pub fn search(a: &SearchArgs) -> i32 {
    if let Err(e) = check_filters(&a.filter) {
        eprintln!("{e}");
        return 1;
    }
    if a.limit == 0 || a.limit > 100 {
        eprintln!(
            "Error response from daemon: limit {} is outside the range of [1, 100]",
            a.limit
        );
        return 1;
    }
    match unreachable(INDEX) {
        Some(why) => eprintln!("Error response from daemon: no index reachable: {why}"),
        None => eprintln!(
            "Error response from daemon: berth cannot search {INDEX} yet (no index client); search on the registry's web site"
        ),
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_docker_s() {
        assert!(check_filters(&["is-official=true".into(), "stars=3".into()]).is_ok());
        assert_eq!(
            check_filters(&["bogus=1".into()]).unwrap_err(),
            "Error response from daemon: Invalid filter 'bogus'"
        );
        assert_eq!(
            check_filters(&["stars=x".into()]).unwrap_err(),
            "Error response from daemon: Invalid filter 'stars=x'"
        );
        assert!(check_filters(&["is-automated=maybe".into()]).is_err());
    }
}
