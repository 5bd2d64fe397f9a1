//! The networking flags of `run`/`create` (docker's `--network`, `-p`,
//! `--ip`, …) and what they become: the `ContainerNetwork` part of the
//! create request.  Pure: no I/O, so bad input fails before anything is
//! asked of the manager.

use std::net::Ipv4Addr;

use berth_proto::networks::{ContainerNetwork, PortMapping};
use clap::Args;
use serde_json::Value;

/// Networking flags shared by `run` and `create`.
#[derive(Debug, Args, Default, Clone)]
pub struct NetworkFlags {
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", value_name = "ALIAS")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip")]
    pub ip: Option<String>,
    /// Set custom DNS servers
    #[arg(long = "dns")]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub add_host: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(
        short = 'p',
        long = "publish",
        value_name = "[IP:][HOSTPORT:]PORT[/PROTO]"
    )]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long = "expose")]
    pub expose: Vec<String>,
}

/// A port spec as docker spells its errors.
fn parse_port(s: &str, what: &str) -> Result<u16, String> {
    s.parse::<u16>()
        .ok()
        .filter(|p| *p != 0 || what == "hostPort")
        .ok_or_else(|| format!("invalid {what}: {s}"))
}

/// `80`, `80-82`, each with an optional `/tcp|udp`.
fn parse_port_range(s: &str, what: &str) -> Result<(u16, u16), String> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse_port(a, what)?, parse_port(b, what)?);
            if b < a {
                return Err(format!("invalid range specified for {what}: {s}"));
            }
            Ok((a, b))
        }
        None => {
            let p = parse_port(s, what)?;
            Ok((p, p))
        }
    }
}

fn split_proto(s: &str) -> Result<(&str, &str), String> {
    match s.rsplit_once('/') {
        Some((rest, proto)) if matches!(proto, "tcp" | "udp") => Ok((rest, proto)),
        Some((_, proto)) => Err(format!("invalid proto: {proto}")),
        None => Ok((s, "tcp")),
    }
}

/// One `-p`: `[ip:][hostPort:]containerPort[/proto]`, ports may be ranges
/// of equal length (or one host port range for a single container port).
pub fn parse_publish(spec: &str) -> Result<Vec<PortMapping>, String> {
    let (rest, proto) = split_proto(spec)?;
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [i, h, c] => (*i, *h, *c),
        _ => return Err(format!("invalid port format: {spec}")),
    };
    if !ip.is_empty() {
        ip.parse::<Ipv4Addr>()
            .map_err(|_| format!("invalid IP address: {ip}"))?;
    }
    if ctr.is_empty() {
        return Err(format!("no port specified: {spec}<empty>"));
    }
    let (c0, c1) = parse_port_range(ctr, "containerPort")?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(parse_port_range(host, "hostPort")?)
    };
    if let Some((h0, h1)) = host_range {
        if h1 - h0 != c1 - c0 && c0 != c1 {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {ctr} and {host}"
            ));
        }
    }
    Ok((c0..=c1)
        .enumerate()
        .map(|(i, c)| PortMapping {
            host_ip: ip.to_string(),
            host_port: host_range.map_or(0, |(h0, _)| u32::from(h0) + i as u32),
            container_port: c.into(),
            protocol: proto.into(),
            ..Default::default()
        })
        .collect())
}

/// `--expose 80`, `--expose 8000-8002/udp`: `(port, proto)` pairs.
pub fn parse_expose(spec: &str) -> Result<Vec<(u16, String)>, String> {
    let (rest, proto) = split_proto(spec)?;
    let (a, b) = parse_port_range(rest, "port")
        .map_err(|_| format!("invalid range format for --expose: {spec}"))?;
    Ok((a..=b).map(|p| (p, proto.to_string())).collect())
}

/// The image's `ExposedPorts` (`{"80/tcp": {}}`).
pub fn image_exposed(config_json: &str) -> Vec<(u16, String)> {
    let v: Value = serde_json::from_str(config_json).unwrap_or(Value::Null);
    let inner = v.get("config").unwrap_or(&v);
    let Some(ports) = inner.get("ExposedPorts").and_then(Value::as_object) else {
        return Vec::new();
    };
    ports
        .keys()
        .filter_map(|k| parse_expose(k).ok())
        .flatten()
        .collect()
}

/// Checks every networking flag; `mode` is `--network`.
pub fn validate(mode: &str, f: &NetworkFlags) -> Result<(), String> {
    if mode.is_empty() {
        return Err("invalid network mode: it is empty".into());
    }
    if let Some(c) = mode.strip_prefix("container:") {
        if c.is_empty() {
            return Err("invalid network mode: container: needs a container name or id".into());
        }
    }
    if let Some(ip) = &f.ip {
        ip.parse::<Ipv4Addr>()
            .map_err(|_| format!("invalid IPv4 address: {ip}"))?;
    }
    for d in &f.dns {
        d.parse::<std::net::IpAddr>()
            .map_err(|_| format!("{d} is not an ip address"))?;
    }
    for h in &f.add_host {
        let ok = h
            .split_once(':')
            .is_some_and(|(n, ip)| !n.is_empty() && ip.parse::<std::net::IpAddr>().is_ok());
        if !ok {
            return Err(format!("invalid argument \"{h}\" for \"--add-host\" flag: invalid IP address in add-host: \"{}\"", h.split_once(':').map_or("", |(_, i)| i)));
        }
    }
    for p in &f.publish {
        parse_publish(p)?;
    }
    for e in &f.expose {
        parse_expose(e)?;
    }
    Ok(())
}

/// The request: validated flags, plus the image's exposed ports for `-P`.
pub fn request(
    mode: &str,
    f: &NetworkFlags,
    image_config_json: &str,
) -> Result<ContainerNetwork, String> {
    validate(mode, f)?;
    let mut ports = Vec::new();
    for p in &f.publish {
        ports.extend(parse_publish(p)?);
    }
    if f.publish_all {
        let mut exposed = image_exposed(image_config_json);
        for e in &f.expose {
            exposed.extend(parse_expose(e)?);
        }
        for (port, proto) in exposed {
            let taken = ports
                .iter()
                .any(|m| m.container_port == u32::from(port) && m.protocol == proto);
            if !taken {
                ports.push(PortMapping {
                    container_port: port.into(),
                    protocol: proto,
                    ..Default::default()
                });
            }
        }
    }
    Ok(ContainerNetwork {
        mode: mode.to_string(),
        aliases: f.network_alias.clone(),
        ipv4_address: f.ip.clone().unwrap_or_default(),
        ports,
        dns: f.dns.clone(),
        dns_search: f.dns_search.clone(),
        dns_options: f.dns_option.clone(),
        extra_hosts: f.add_host.clone(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> (String, u32, u32, String) {
        let v = parse_publish(s).unwrap();
        assert_eq!(v.len(), 1, "{s}");
        let m = &v[0];
        (
            m.host_ip.clone(),
            m.host_port,
            m.container_port,
            m.protocol.clone(),
        )
    }

    #[test]
    fn publish_forms() {
        assert_eq!(one("80"), ("".into(), 0, 80, "tcp".into()));
        assert_eq!(one("8080:80"), ("".into(), 8080, 80, "tcp".into()));
        assert_eq!(
            one("127.0.0.1:8080:80/udp"),
            ("127.0.0.1".into(), 8080, 80, "udp".into())
        );
        assert_eq!(
            one("127.0.0.1::80"),
            ("127.0.0.1".into(), 0, 80, "tcp".into())
        );
        assert_eq!(parse_publish("8000-8001:80-81").unwrap().len(), 2);
        assert_eq!(
            parse_publish("80x").unwrap_err(),
            "invalid containerPort: 80x"
        );
        assert_eq!(
            parse_publish("1.2.3:80:80").unwrap_err(),
            "invalid IP address: 1.2.3"
        );
        assert_eq!(parse_publish("80/sctp").unwrap_err(), "invalid proto: sctp");
        assert!(parse_publish("a:b:c:d").is_err());
        assert!(parse_publish("99999:80").is_err());
        assert!(parse_publish("0").is_err());
    }

    #[test]
    fn publish_all_takes_image_and_expose_ports() {
        let f = NetworkFlags {
            publish_all: true,
            expose: vec!["9000/udp".into()],
            ..Default::default()
        };
        let r = request("bridge", &f, r#"{"config":{"ExposedPorts":{"80/tcp":{}}}}"#).unwrap();
        let got: Vec<(u32, String)> = r
            .ports
            .iter()
            .map(|p| (p.container_port, p.protocol.clone()))
            .collect();
        assert_eq!(got, [(80, "tcp".into()), (9000, "udp".into())]);
    }

    #[test]
    fn bad_values_are_named() {
        let f = NetworkFlags {
            ip: Some("10.0.0.300".into()),
            ..Default::default()
        };
        assert!(validate("bridge", &f).unwrap_err().contains("10.0.0.300"));
        let f = NetworkFlags {
            add_host: vec!["db".into()],
            ..Default::default()
        };
        assert!(validate("bridge", &f).is_err());
        assert!(validate("container:", &NetworkFlags::default()).is_err());
    }
}
