//! `ports:` entries: the short syntax `[ip:][host:]container[/protocol]`
//! with ranges on either side, and the long syntax's fields, into
//! [`Port`]s, one per container port.

use crate::model::Port;
use crate::raw::RawPort;

/// Parses `8080` or `8000-8010` into an inclusive range.
pub fn parse_range(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("invalid port or port range {s:?}");
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a, b),
        None => (s, s),
    };
    let a: u16 = a.trim().parse().map_err(|_| bad())?;
    let b: u16 = b.trim().parse().map_err(|_| bad())?;
    if b < a {
        return Err(bad());
    }
    Ok((a, b))
}

fn protocol(p: &str) -> Result<String, String> {
    match p.to_ascii_lowercase().as_str() {
        p @ ("tcp" | "udp" | "sctp") => Ok(p.to_string()),
        _ => Err(format!(
            "invalid protocol {p:?}: it must be tcp, udp or sctp"
        )),
    }
}

/// Parses one short-syntax entry.
pub fn parse_short(spec: &str) -> Result<Vec<Port>, String> {
    let (addr, proto) = match spec.rsplit_once('/') {
        Some((a, p)) => (a, protocol(p)?),
        None => (spec, "tcp".to_string()),
    };
    // an IPv6 host address is written in brackets: [::1]:8080:80
    let (ip, rest) = if let Some(r) = addr.strip_prefix('[') {
        let (ip, rest) = r
            .split_once(']')
            .ok_or_else(|| format!("invalid port {spec:?}: unclosed ["))?;
        let rest = rest
            .strip_prefix(':')
            .ok_or_else(|| format!("invalid port {spec:?}"))?;
        (Some(ip.to_string()), rest)
    } else {
        (None, addr)
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, ctr) = match (ip, parts.as_slice()) {
        (None, [c]) => (None, None, *c),
        (None, [h, c]) => (None, Some(*h), *c),
        (None, [i, h, c]) => (Some(i.to_string()), Some(*h), *c),
        (Some(ip), [h, c]) => (Some(ip), Some(*h), *c),
        _ => return Err(format!("invalid port {spec:?}")),
    };
    let host = host.filter(|h| !h.is_empty());
    let ip = ip.filter(|i| !i.is_empty());
    let (c0, c1) = parse_range(ctr).map_err(|e| format!("{e} in {spec:?}"))?;
    let host_range = host
        .map(|h| parse_range(h).map_err(|e| format!("{e} in {spec:?}")))
        .transpose()?;
    let count = (c1 - c0) as usize + 1;
    let published: Vec<Option<String>> = match host_range {
        None => vec![None; count],
        Some((h0, h1)) if count == 1 => vec![Some(if h0 == h1 {
            h0.to_string()
        } else {
            format!("{h0}-{h1}")
        })],
        Some((h0, h1)) if (h1 - h0) as usize + 1 == count => {
            (h0..=h1).map(|h| Some(h.to_string())).collect()
        }
        Some(_) => {
            return Err(format!(
                "invalid port {spec:?}: the host and container ranges differ in size"
            ))
        }
    };
    Ok((c0..=c1)
        .zip(published)
        .map(|(target, published)| Port {
            target,
            published,
            host_ip: ip.clone(),
            protocol: proto.clone(),
            mode: "ingress".into(),
        })
        .collect())
}

/// Checks a long-syntax entry.
pub fn from_long(raw: &RawPort) -> Result<Port, String> {
    let target = raw
        .target
        .as_ref()
        .ok_or("target is required in the long syntax")?;
    let target: u16 = target
        .0
        .trim()
        .parse()
        .map_err(|_| format!("invalid target port {:?}", target.0))?;
    let published = match &raw.published {
        Some(p) if !p.0.is_empty() => {
            parse_range(&p.0)?;
            Some(p.0.clone())
        }
        _ => None,
    };
    let mode = match raw.mode.as_ref().map(|m| m.0.as_str()) {
        None => "ingress".to_string(),
        Some(m @ ("ingress" | "host")) => m.to_string(),
        Some(m) => return Err(format!("invalid mode {m:?}: it must be ingress or host")),
    };
    Ok(Port {
        target,
        published,
        host_ip: raw
            .host_ip
            .as_ref()
            .map(|s| s.0.clone())
            .filter(|s| !s.is_empty()),
        protocol: match &raw.protocol {
            Some(p) => protocol(&p.0)?,
            None => "tcp".into(),
        },
        mode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Port {
        let mut v = parse_short(s).unwrap();
        assert_eq!(v.len(), 1, "{s}");
        v.remove(0)
    }

    #[test]
    fn short_forms() {
        let p = one("80");
        assert_eq!((p.target, p.published, p.host_ip), (80, None, None));
        let p = one("8080:80");
        assert_eq!((p.target, p.published.as_deref()), (80, Some("8080")));
        let p = one("127.0.0.1:8080:80/udp");
        assert_eq!(p.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(p.protocol, "udp");
        let p = one("127.0.0.1::80");
        assert_eq!(
            (p.published, p.host_ip.as_deref()),
            (None, Some("127.0.0.1"))
        );
        let p = one("[::1]:8080:80");
        assert_eq!(p.host_ip.as_deref(), Some("::1"));
        assert_eq!(p.published_range(), Some((8080, 8080)));
    }

    #[test]
    fn ranges_expand_per_container_port() {
        let v = parse_short("8000-8001:80-81").unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!((v[1].target, v[1].published.as_deref()), (81, Some("8001")));
        let v = parse_short("3000-3002").unwrap();
        assert_eq!(
            v.iter().map(|p| p.target).collect::<Vec<_>>(),
            [3000, 3001, 3002]
        );
        let p = one("9000-9010:80");
        assert_eq!(p.published_range(), Some((9000, 9010)));
    }

    #[test]
    fn bad_short_forms() {
        for bad in [
            "",
            "abc",
            "80/xdp",
            "8000-8002:80-81",
            "70000",
            "1:2:3:4",
            "90-80",
            "[::1:80",
        ] {
            assert!(parse_short(bad).is_err(), "{bad}");
        }
    }
}
