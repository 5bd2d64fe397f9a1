//! `berth network create|ls|inspect|rm|prune|connect|disconnect`, `berth
//! port`, and the network parts of `ps` (PORTS) and `inspect`
//! (NetworkSettings), in docker's shapes.

use std::collections::HashMap;
use std::io::{BufRead, Write};

use berth_proto::networks::{
    ConnectRequest, CreateNetworkRequest, DisconnectRequest, EndpointInfo, GetNetworkRequest,
    ListEndpointsRequest, ListNetworksRequest, NetworkInfo, PortMapping, PruneNetworksRequest,
    RemoveNetworkRequest,
};
use berth_proto::prune_filter::PruneFilter;
use chrono::DateTime;
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use crate::client::Manager;
use crate::error::CliError;
use crate::format::{self, short_id};
use crate::prune_filters::PruneKind;
use crate::render::{Columns, ListFormat};

#[derive(Debug, Args)]
pub struct NetworkArgs {
    #[command(subcommand)]
    pub command: NetworkCommand,
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network
    Create {
        /// Driver to manage the Network
        #[arg(short = 'd', long, default_value = "bridge")]
        driver: String,
        /// Subnet in CIDR format that represents a network segment
        #[arg(long)]
        subnet: Option<String>,
        /// IPv4 Gateway for the master subnet
        #[arg(long)]
        gateway: Option<String>,
        /// Restrict external access to the network
        #[arg(long)]
        internal: bool,
        /// Set driver specific options
        #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE")]
        opt: Vec<String>,
        /// Set metadata on a network
        #[arg(long)]
        label: Vec<String>,
        name: String,
    },
    /// List networks
    #[command(alias = "list")]
    Ls {
        /// Only display network IDs
        #[arg(short, long)]
        quiet: bool,
        /// Do not truncate the output
        #[arg(long = "no-trunc")]
        no_trunc: bool,
        /// Provide filter values (e.g. name=bridge)
        #[arg(short, long)]
        filter: Vec<String>,
        /// Format output: table or json
        #[arg(long)]
        format: Option<String>,
    },
    /// Display detailed information on one or more networks
    Inspect {
        /// Format output: json, or a Go template ({{.IPAM.Config}})
        #[arg(short = 'f', long)]
        format: Option<String>,
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove all unused networks
    Prune {
        /// Do not prompt for confirmation
        #[arg(short, long)]
        force: bool,
        /// Provide filter values (e.g. "until=<timestamp>", "label=<key>=<value>")
        #[arg(long = "filter")]
        filter: Vec<String>,
    },
    /// Connect a container to a network
    Connect {
        /// Add network-scoped alias for the container
        #[arg(long)]
        alias: Vec<String>,
        /// IPv4 address (e.g., 172.30.100.104)
        #[arg(long)]
        ip: Option<String>,
        network: String,
        container: String,
    },
    /// Disconnect a container from a network
    Disconnect {
        /// Force the container to disconnect from a network
        #[arg(short, long)]
        force: bool,
        network: String,
        container: String,
    },
}

#[derive(Debug, Args)]
pub struct PortArgs {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

fn fail(e: CliError) -> i32 {
    eprintln!("berth: {e}");
    1
}

fn kv(items: &[String]) -> HashMap<String, String> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (s.clone(), String::new()),
        })
        .collect()
}

fn created(n: &NetworkInfo) -> String {
    let t = DateTime::from_timestamp(
        n.created.div_euclid(1_000_000_000),
        n.created.rem_euclid(1_000_000_000) as u32,
    );
    format::rfc3339(t)
}

fn driver(n: &NetworkInfo) -> &str {
    &n.driver
}

/// `network ls`'s fields and headers, as docker's network context names
/// them.
pub const NETWORK_COLUMNS: Columns = Columns {
    context: "*formatter.networkContext",
    default: "table {{.ID}}\\t{{.Name}}\\t{{.Driver}}\\t{{.Scope}}",
    headers: &[
        ("ID", "NETWORK ID"),
        ("Name", "NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("IPv4", "IPV4"),
        ("IPv6", "IPV6"),
        ("Internal", "INTERNAL"),
        ("Labels", "LABELS"),
        ("CreatedAt", "CREATED AT"),
    ],
    older_errors: false,
};

/// One network as `network inspect` shows it.
pub fn network_json(n: &NetworkInfo) -> Value {
    let mut containers = Map::new();
    for e in &n.endpoints {
        containers.insert(
            e.container_id.clone(),
            json!({
                "Name": e.container_name,
                "EndpointID": e.endpoint_id,
                "MacAddress": e.mac_address,
                "IPv4Address": format!("{}/{}", e.ip_address, e.prefix_len),
                "IPv6Address": "",
            }),
        );
    }
    let config = if n.subnet.is_empty() {
        json!([])
    } else {
        json!([{"Subnet": n.subnet, "Gateway": n.gateway}])
    };
    let mut options: Map<String, Value> = n
        .options
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    if !n.bridge.is_empty() {
        options
            .entry("com.docker.network.bridge.name")
            .or_insert(json!(n.bridge));
    }
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": created(n),
        "Scope": "local",
        "Driver": driver(n),
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": config},
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": n.labels,
    })
}

/// docker's network filters (`network ls -f`, the API's `GET /networks`):
/// values of one key are alternatives, different keys (and every `label`)
/// must all hold.
pub fn matches_filters(n: &NetworkInfo, filters: &[String]) -> Result<bool, CliError> {
    let builtin = matches!(n.name.as_str(), "bridge" | "host" | "none");
    let mut by_key: Vec<(&str, Vec<bool>)> = Vec::new();
    for f in filters {
        let (k, v) = f.split_once('=').ok_or_else(|| {
            CliError::Invalid(format!("bad format of filter (expected name=value): {f}"))
        })?;
        let ok = match k {
            "name" => n.name.contains(v),
            "id" => n.id.starts_with(v),
            "driver" => n.driver == v,
            "label" => match v.split_once('=') {
                Some((lk, lv)) => n.labels.get(lk).is_some_and(|x| x == lv),
                None => n.labels.contains_key(v),
            },
            "type" => match v {
                "builtin" => builtin,
                "custom" => !builtin,
                _ => return Err(CliError::Invalid(format!("invalid filter: 'type'='{v}'"))),
            },
            // every berth network is local to this host
            "scope" => match v {
                "local" => true,
                "swarm" | "global" => false,
                _ => return Err(CliError::Invalid(format!("invalid filter: 'scope'='{v}'"))),
            },
            // in use by no container (the predefined networks never are)
            "dangling" => {
                let unused = !builtin && n.endpoints.is_empty();
                match v {
                    "true" | "1" => unused,
                    "false" | "0" => !unused,
                    _ => {
                        return Err(CliError::Invalid(format!(
                            "invalid filter: 'dangling'='{v}'"
                        )))
                    }
                }
            }
            _ => return Err(CliError::Invalid(format!("invalid filter '{k}'"))),
        };
        match by_key.iter_mut().find(|(key, _)| *key == k) {
            Some((_, oks)) => oks.push(ok),
            None => by_key.push((k, vec![ok])),
        }
    }
    Ok(by_key.iter().all(|(k, oks)| {
        if *k == "label" {
            oks.iter().all(|&o| o)
        } else {
            oks.iter().any(|&o| o)
        }
    }))
}

async fn list(m: &Manager) -> Result<Vec<NetworkInfo>, CliError> {
    Ok(m.networks
        .list_networks(m.ctx(), &ListNetworksRequest::new())
        .await
        .map_err(|e| m.err(e))?
        .networks)
}

/// `berth network …`.
pub async fn network(m: &Manager, a: NetworkArgs) -> i32 {
    match a.command {
        NetworkCommand::Create {
            driver,
            subnet,
            gateway,
            internal,
            opt,
            label,
            name,
        } => {
            let req = CreateNetworkRequest {
                name,
                driver,
                subnet: subnet.unwrap_or_default(),
                gateway: gateway.unwrap_or_default(),
                internal,
                options: kv(&opt),
                labels: kv(&label),
                ..Default::default()
            };
            match m.networks.create_network(m.ctx(), &req).await {
                Ok(n) => {
                    println!("{}", n.id);
                    0
                }
                Err(e) => fail(m.err(e)),
            }
        }
        NetworkCommand::Ls {
            quiet,
            no_trunc,
            filter,
            format: fmt,
        } => {
            let list_fmt = match ListFormat::from_flag(fmt.as_deref(), &NETWORK_COLUMNS) {
                Ok(f) => f,
                Err(code) => return code,
            };
            let mut nets = match list(m).await {
                Ok(n) => n,
                Err(e) => return fail(e),
            };
            let mut kept = Vec::new();
            for n in nets.drain(..) {
                match matches_filters(&n, &filter) {
                    Ok(true) => kept.push(n),
                    Ok(false) => {}
                    Err(e) => return fail(e),
                }
            }
            let id = |n: &NetworkInfo| {
                if no_trunc {
                    n.id.clone()
                } else {
                    short_id(&n.id).to_string()
                }
            };
            if quiet {
                for n in &kept {
                    println!("{}", id(n));
                }
                return 0;
            }
            let rows: Vec<Value> = kept
                .iter()
                .map(|n| {
                    let mut labels: Vec<String> =
                        n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    labels.sort();
                    json!({
                        "CreatedAt": created(n),
                        "Driver": driver(n),
                        "ID": id(n),
                        "IPv4": "true",
                        "IPv6": "false",
                        "Internal": n.internal.to_string(),
                        "Labels": labels.join(","),
                        "Name": n.name,
                        "Scope": "local",
                    })
                })
                .collect();
            list_fmt.print(&rows, &NETWORK_COLUMNS)
        }
        NetworkCommand::Inspect { networks, format } => {
            if let Err(e) = crate::render::check_inspect(format.as_deref()) {
                eprintln!("{e}");
                return e.exit_code();
            }
            let mut out = Vec::new();
            let mut code = 0;
            for name in networks {
                let req = GetNetworkRequest {
                    name: name.clone(),
                    ..Default::default()
                };
                match m.networks.get_network(m.ctx(), &req).await {
                    Ok(n) => out.push(network_json(&n)),
                    Err(e) => {
                        let e = m.err(e);
                        if e.is_not_found() {
                            eprintln!("Error: No such network: {name}");
                        } else {
                            eprintln!("berth: {e}");
                        }
                        code = 1;
                    }
                }
            }
            match crate::render::print_inspect(&out, format.as_deref()) {
                0 => code,
                c => c,
            }
        }
        NetworkCommand::Rm { networks } => {
            let mut code = 0;
            for name in networks {
                let req = RemoveNetworkRequest {
                    name: name.clone(),
                    ..Default::default()
                };
                match m.networks.remove_network(m.ctx(), &req).await {
                    Ok(_) => println!("{name}"),
                    Err(e) => code = fail(m.err(e)),
                }
            }
            code
        }
        NetworkCommand::Prune { force, filter } => {
            let filter = match crate::prune_filters::from_flags(&filter, PruneKind::Networks) {
                Ok(f) => f,
                Err(code) => return code,
            };
            if !force {
                println!("WARNING! This will remove all custom networks not used by at least one container.");
                print!("Are you sure you want to continue? [y/N] ");
                let _ = std::io::stdout().flush();
                let mut answer = String::new();
                let _ = std::io::stdin().lock().read_line(&mut answer);
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    return 0;
                }
            }
            match prune_networks(m, filter).await {
                Ok(deleted) => {
                    if !deleted.is_empty() {
                        println!("Deleted Networks:");
                        for n in &deleted {
                            println!("{n}");
                        }
                    }
                    0
                }
                Err(e) => fail(e),
            }
        }
        NetworkCommand::Connect {
            alias,
            ip,
            network,
            container,
        } => {
            if let Some(ip) = &ip {
                if ip.parse::<std::net::Ipv4Addr>().is_err() {
                    return fail(CliError::Invalid(format!("invalid IPv4 address: {ip}")));
                }
            }
            let req = ConnectRequest {
                network,
                container,
                aliases: alias,
                ipv4_address: ip.unwrap_or_default(),
                ..Default::default()
            };
            match m.networks.connect_container(m.ctx(), &req).await {
                Ok(_) => 0,
                Err(e) => fail(m.err(e)),
            }
        }
        NetworkCommand::Disconnect {
            force,
            network,
            container,
        } => {
            let req = DisconnectRequest {
                network,
                container,
                force,
                ..Default::default()
            };
            match m.networks.disconnect_container(m.ctx(), &req).await {
                Ok(_) => 0,
                Err(e) => fail(m.err(e)),
            }
        }
    }
}

/// The endpoints of one container (`key` non-empty) or of all.
pub async fn endpoints(m: &Manager, key: &str) -> Result<Vec<EndpointInfo>, CliError> {
    let req = ListEndpointsRequest {
        container: key.to_string(),
        ..Default::default()
    };
    Ok(m.networks
        .list_endpoints(m.ctx(), &req)
        .await
        .map_err(|e| m.err(e))?
        .endpoints)
}

fn host_ip(p: &PortMapping) -> &str {
    if p.host_ip.is_empty() {
        "0.0.0.0"
    } else {
        &p.host_ip
    }
}

/// docker's PORTS cell: `127.0.0.1:8080->80/tcp, 0.0.0.0:9000->90/udp`.
pub fn ports_cell(eps: &[EndpointInfo]) -> String {
    let mut cells: Vec<String> = eps
        .iter()
        .flat_map(|e| e.ports.iter())
        .map(|p| {
            format!(
                "{}:{}->{}/{}",
                host_ip(p),
                p.host_port,
                p.container_port,
                p.protocol
            )
        })
        .collect();
    cells.sort();
    cells.join(", ")
}

/// container id → PORTS cell, for `ps`.
pub async fn ports_by_container(m: &Manager) -> HashMap<String, String> {
    let mut by: HashMap<String, Vec<EndpointInfo>> = HashMap::new();
    for e in endpoints(m, "").await.unwrap_or_default() {
        by.entry(e.container_id.clone()).or_default().push(e);
    }
    by.into_iter().map(|(k, v)| (k, ports_cell(&v))).collect()
}

/// docker's `NetworkSettings` of a container.
pub fn network_settings(eps: &[EndpointInfo], sandbox_key: &str) -> Value {
    let mut ports = Map::new();
    let mut networks = Map::new();
    for e in eps {
        for p in &e.ports {
            let key = format!("{}/{}", p.container_port, p.protocol);
            let entry = ports.entry(key).or_insert_with(|| json!([]));
            if let Some(a) = entry.as_array_mut() {
                a.push(json!({"HostIp": host_ip(p), "HostPort": p.host_port.to_string()}));
            }
        }
        networks.insert(
            e.network_name.clone(),
            json!({
                "IPAMConfig": null,
                "Links": null,
                "Aliases": e.aliases,
                "NetworkID": e.network_id,
                "EndpointID": e.endpoint_id,
                "Gateway": e.gateway,
                "IPAddress": e.ip_address,
                "IPPrefixLen": e.prefix_len,
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "MacAddress": e.mac_address,
                "DriverOpts": null,
            }),
        );
    }
    let first = eps.iter().find(|e| e.network_name == "bridge");
    let s = |f: fn(&EndpointInfo) -> String| first.map(f).unwrap_or_default();
    json!({
        "Bridge": "",
        "SandboxID": "",
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": ports,
        "SandboxKey": sandbox_key,
        "SecondaryIPAddresses": null,
        "SecondaryIPv6Addresses": null,
        "EndpointID": s(|e| e.endpoint_id.clone()),
        "Gateway": s(|e| e.gateway.clone()),
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": s(|e| e.ip_address.clone()),
        "IPPrefixLen": first.map_or(0, |e| e.prefix_len),
        "IPv6Gateway": "",
        "MacAddress": s(|e| e.mac_address.clone()),
        "Networks": networks,
    })
}

/// `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`.
pub async fn port(m: &Manager, a: &PortArgs) -> i32 {
    let eps = match endpoints(m, &a.container).await {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let want = a.port.as_deref().map(|p| match p.split_once('/') {
        Some((n, proto)) => (n.to_string(), proto.to_string()),
        None => (p.to_string(), "tcp".to_string()),
    });
    let mut lines = Vec::new();
    for p in eps.iter().flat_map(|e| e.ports.iter()) {
        if let Some((n, proto)) = &want {
            if p.container_port.to_string() != *n || p.protocol != *proto {
                continue;
            }
            lines.push(format!("{}:{}", host_ip(p), p.host_port));
        } else {
            lines.push(format!(
                "{}/{} -> {}:{}",
                p.container_port,
                p.protocol,
                host_ip(p),
                p.host_port
            ));
        }
    }
    if lines.is_empty() {
        if let Some(p) = &a.port {
            eprintln!(
                "berth: Error: No public port '{}' published for {}",
                if p.contains('/') {
                    p.clone()
                } else {
                    format!("{p}/tcp")
                },
                a.container
            );
            return 1;
        }
    }
    for l in lines {
        println!("{l}");
    }
    0
}

/// The network files berth bind-mounts; `inspect` does not list them, as
/// docker does not.
const NETWORK_FILES: &[&str] = &["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"];

/// Adds `NetworkSettings` and the real `HostConfig.NetworkMode` to a
/// container's inspect JSON.
pub async fn add_network_settings(
    m: &Manager,
    c: &berth_proto::manager::ContainerInfo,
    v: &mut Value,
) {
    let eps = endpoints(m, &c.id).await.unwrap_or_default();
    let spec: Value = serde_json::from_str(&c.spec_json).unwrap_or(Value::Null);
    let ns = spec["linux"]["namespaces"]
        .as_array()
        .and_then(|n| n.iter().find(|x| x["type"] == "network"))
        .cloned();
    let ns_path = ns
        .as_ref()
        .and_then(|n| n["path"].as_str())
        .unwrap_or("")
        .to_string();
    let mode = match (&ns, eps.iter().find(|e| e.prefix_len > 0)) {
        (None, _) => "host".to_string(),
        (Some(_), Some(e)) if ns_path.ends_with(&c.id) => e.network_name.clone(),
        (Some(_), _) if !ns_path.is_empty() => {
            let other = ns_path.rsplit('/').next().unwrap_or("");
            format!("container:{other}")
        }
        _ => "none".to_string(),
    };
    v["HostConfig"]["NetworkMode"] = json!(mode);
    let bindings: Map<String, Value> = network_settings(&eps, "")["Ports"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    v["HostConfig"]["PortBindings"] = json!(bindings);
    v["NetworkSettings"] = network_settings(&eps, &ns_path);
    if let Some(mounts) = v["Mounts"].as_array_mut() {
        mounts.retain(|m| !NETWORK_FILES.contains(&m["Destination"].as_str().unwrap_or("")));
    }
}

/// Removes the user networks no container is on that `filter` admits
/// (`network prune`, and `system prune` after its containers); their names.
pub async fn prune_networks(m: &Manager, filter: PruneFilter) -> Result<Vec<String>, CliError> {
    let req = PruneNetworksRequest {
        filter: Some(filter).into(),
        ..Default::default()
    };
    match m.networks.prune_networks(m.ctx(), &req).await {
        Ok(r) => Ok(r.deleted),
        Err(e) => Err(m.err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_filters_like_docker() {
        let mut web = NetworkInfo::new();
        web.name = "web".into();
        web.id = "abc123".into();
        web.driver = "bridge".into();
        web.labels.insert("tier".into(), "front".into());
        let mut bridge = NetworkInfo::new();
        bridge.name = "bridge".into();
        bridge.driver = "bridge".into();
        let f = |n: &NetworkInfo, fs: &[&str]| {
            matches_filters(n, &fs.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        // one key's values are alternatives, keys all hold
        assert!(f(&web, &["name=web", "name=db"]).unwrap());
        assert!(!f(&web, &["name=web", "driver=host"]).unwrap());
        assert!(!f(&web, &["label=tier", "label=zone"]).unwrap());
        assert!(f(&web, &["scope=local", "dangling=true"]).unwrap());
        assert!(!f(&bridge, &["dangling=true"]).unwrap());
        assert!(f(&web, &["scope=galaxy"]).is_err());
        assert!(f(&web, &["dangling=maybe"]).is_err());
        assert!(f(&web, &["colour=red"]).is_err());
    }
}
