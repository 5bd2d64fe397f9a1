//! The files every container with a network gets, as docker writes them:
//! `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`.  Pure text; the
//! manager writes them beside the container and bind-mounts them.

use std::net::Ipv4Addr;

/// docker's fixed head of `/etc/hosts`.
const HOSTS_HEAD: &str = "127.0.0.1\tlocalhost\n\
::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\n\
ff00::0\tip6-mcastprefix\n\
ff02::1\tip6-allnodes\n\
ff02::2\tip6-allrouters\n";

/// `/etc/hosts`: localhost, then `--add-host` entries, then the
/// container's own address and hostname.
pub fn hosts(hostname: &str, own_ip: Option<Ipv4Addr>, extra: &[(String, String)]) -> String {
    let mut s = HOSTS_HEAD.to_string();
    for (name, ip) in extra {
        s += &format!("{ip}\t{name}\n");
    }
    if let Some(ip) = own_ip {
        s += &format!("{ip}\t{hostname}\n");
    }
    s
}

/// `/etc/hostname`.
pub fn hostname(name: &str) -> String {
    format!("{name}\n")
}

/// What `--dns`, `--dns-search` and `--dns-option` asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsOptions {
    pub servers: Vec<String>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// `/etc/resolv.conf`.  On a user network the nameserver is the network's
/// resolver (`resolver`); elsewhere the host's nameservers, minus loopback
/// ones a container cannot reach (docker's fallback is Google's when none
/// is left).  The flags replace what they name; `--dns-search .` clears the
/// search list.
pub fn resolv_conf(host: &str, resolver: Option<Ipv4Addr>, opts: &DnsOptions) -> String {
    let mut servers: Vec<String> = Vec::new();
    let mut search: Vec<String> = Vec::new();
    let mut options: Vec<String> = Vec::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ip) = words.next() {
                    let loopback = ip.starts_with("127.") || ip == "::1";
                    if !loopback && !ip.contains(':') {
                        servers.push(ip.to_string());
                    }
                }
            }
            Some("search") | Some("domain") => search = words.map(str::to_string).collect(),
            Some("options") => options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    if let Some(r) = resolver {
        servers = vec![r.to_string()];
    } else if servers.is_empty() {
        servers = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    if !opts.servers.is_empty() {
        servers = opts.servers.clone();
    }
    if !opts.search.is_empty() {
        search = opts.search.iter().filter(|s| *s != ".").cloned().collect();
    }
    if !opts.options.is_empty() {
        options = opts.options.clone();
    }
    let mut s = String::new();
    if !search.is_empty() {
        s += &format!("search {}\n", search.join(" "));
    }
    for ns in servers {
        s += &format!("nameserver {ns}\n");
    }
    if !options.is_empty() {
        s += &format!("options {}\n", options.join(" "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_end_with_own_entry() {
        let h = hosts(
            "abc",
            Some("172.17.0.2".parse().unwrap()),
            &[("db".into(), "10.0.0.9".into())],
        );
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("10.0.0.9\tdb\n172.17.0.2\tabc\n"), "{h}");
    }

    #[test]
    fn resolv_conf_filters_loopback_and_applies_flags() {
        let host = "nameserver 127.0.0.53\nnameserver 10.1.1.1\nsearch corp\noptions edns0\n";
        let d = DnsOptions::default();
        assert_eq!(
            resolv_conf(host, None, &d),
            "search corp\nnameserver 10.1.1.1\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf("nameserver 127.0.0.1\n", None, &d),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        let user = resolv_conf(host, Some("172.18.0.1".parse().unwrap()), &d);
        assert!(user.contains("nameserver 172.18.0.1\n") && !user.contains("10.1.1.1"));
        let o = DnsOptions {
            servers: vec!["9.9.9.9".into()],
            search: vec![".".into()],
            options: vec![],
        };
        assert_eq!(
            resolv_conf(host, None, &o),
            "nameserver 9.9.9.9\noptions edns0\n"
        );
    }
}
