//! docker's networks, kept by the manager: the built-in `bridge`, `host`
//! and `none`, user bridge networks, and each container's endpoints
//! (address, aliases, published ports) in the store; the kernel side is
//! `berth-network`'s bridge backend.
//!
//! Crash-only order: an endpoint is stored before any kernel object is made
//! for it and removed only after they are gone, and every kernel object is
//! named after the container or network, so a removal cut short by a crash
//! is finished by repeating it.  A container's network namespace is pinned
//! at `<state>/netns/<id>` from create to rm, so its address survives stop,
//! start and restart, and its traffic, ports and names keep working while
//! no manager runs.

pub mod store;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_network::bridge::BridgeBackend;
use berth_network::dns::{Record, Resolver};
use berth_network::files::{self, DnsOptions};
use berth_network::netlink::Netlink;
use berth_network::{netns, Backend, Endpoint, PortBinding, Proto, Subnet};
use berth_proto::networks as pb;
use serde_json::{json, Value};

use crate::bundle;
use crate::error::{ManagerError, Result};
use crate::manager::{random_hex, Manager};
use crate::record::now_nanos;
use store::{EndpointRecord, NetStore, NetworkRecord};

/// How long a removed container's veth may outlive it: the kernel drops
/// it within milliseconds when nothing else holds the namespace; past
/// this, berth deletes it itself.
const RELEASE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// How [`Manager::released_gone`] frees released endpoints' addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Release {
    /// those whose veth is gone
    Gone,
    /// all, their veths deleted first
    Force,
}

/// Network changes one at a time: address and port claims are already
/// atomic in the store, this keeps resolver files and bridges in step.
static NET_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The default bridge's interface.
pub const DEFAULT_BRIDGE: &str = "berth0";

/// `BERTH_BRIDGE=none` in the manager's environment is dockerd's
/// `--bridge=none`: no default bridge network, containers default to none.
fn bridge_enabled() -> bool {
    std::env::var("BERTH_BRIDGE").map_or(true, |v| v != "none")
}

fn backend() -> BridgeBackend {
    BridgeBackend
}

fn net_err(e: berth_network::NetworkError) -> ManagerError {
    ManagerError::Internal(e.to_string())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> berth_network::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ManagerError::internal)?
        .map_err(net_err)
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// How a container is networked, from its request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    None,
    Host,
    Container(String),
    Network(String),
    Bridge(Box<NetworkRecord>),
}

fn parse_mode(mode: &str) -> Mode {
    match mode {
        "" | "default" if bridge_enabled() => Mode::Network("bridge".into()),
        "" | "default" | "none" => Mode::None,
        "host" => Mode::Host,
        m => match m.strip_prefix("container:") {
            Some(c) => Mode::Container(c.to_string()),
            None => Mode::Network(m.to_string()),
        },
    }
}

fn port_from_pb(p: &pb::PortMapping) -> Result<PortBinding> {
    let bad = |what: String| ManagerError::InvalidArgument(what);
    let host_ip = if p.host_ip.is_empty() {
        Ipv4Addr::UNSPECIFIED
    } else {
        p.host_ip
            .parse()
            .map_err(|_| bad(format!("invalid IP address: {}", p.host_ip)))?
    };
    let proto =
        Proto::parse(&p.protocol).ok_or_else(|| bad(format!("invalid proto: {}", p.protocol)))?;
    let port =
        |v: u32, what: &str| u16::try_from(v).map_err(|_| bad(format!("invalid {what}: {v}")));
    let container_port = port(p.container_port, "containerPort")?;
    if container_port == 0 {
        return Err(bad("invalid containerPort: 0".into()));
    }
    Ok(PortBinding {
        host_ip,
        host_port: port(p.host_port, "hostPort")?,
        container_port,
        proto,
    })
}

fn port_to_pb(p: &PortBinding) -> pb::PortMapping {
    pb::PortMapping {
        host_ip: p.host_ip.to_string(),
        host_port: p.host_port.into(),
        container_port: p.container_port.into(),
        protocol: p.proto.as_str().into(),
        ..Default::default()
    }
}

fn network_info(rec: &NetworkRecord, eps: &[EndpointRecord]) -> pb::NetworkInfo {
    pb::NetworkInfo {
        id: rec.id.clone(),
        name: rec.name.clone(),
        driver: rec.driver.clone(),
        subnet: rec.subnet.map(|s| s.to_string()).unwrap_or_default(),
        gateway: rec.gateway.map(|g| g.to_string()).unwrap_or_default(),
        internal: rec.internal,
        options: rec.options.clone().into_iter().collect(),
        labels: rec.labels.clone().into_iter().collect(),
        created: rec.created,
        bridge: rec.bridge.clone(),
        endpoints: eps.iter().map(|e| endpoint_info(rec, e)).collect(),
        ..Default::default()
    }
}

fn endpoint_info(net: &NetworkRecord, e: &EndpointRecord) -> pb::EndpointInfo {
    pb::EndpointInfo {
        container_id: e.container_id.clone(),
        container_name: e.container_name.clone(),
        network_id: net.id.clone(),
        network_name: net.name.clone(),
        ip_address: e.ip.to_string(),
        prefix_len: net.subnet.map_or(0, |s| s.prefix.into()),
        gateway: net.gateway.map(|g| g.to_string()).unwrap_or_default(),
        mac_address: Endpoint::mac_for(e.ip)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
        aliases: e.aliases.clone(),
        ports: e.ports.iter().map(port_to_pb).collect(),
        endpoint_id: e.endpoint_id.clone(),
        ..Default::default()
    }
}

fn builtin(name: &str, driver: &str) -> NetworkRecord {
    let bridge = driver == "bridge";
    NetworkRecord {
        id: random_hex(64),
        name: name.into(),
        driver: driver.into(),
        subnet: bridge.then_some(berth_network::ipam::DEFAULT_BRIDGE_SUBNET),
        gateway: bridge.then(|| berth_network::ipam::DEFAULT_BRIDGE_SUBNET.first_host()),
        internal: false,
        bridge: if bridge {
            DEFAULT_BRIDGE.into()
        } else {
            String::new()
        },
        options: BTreeMap::new(),
        labels: BTreeMap::new(),
        created: now_nanos() as i64,
    }
}

/// A new endpoint of a container on `net`, its address not chosen yet.
fn new_endpoint(
    net: &NetworkRecord,
    container_id: &str,
    container_name: &str,
    aliases: Vec<String>,
    ports: Vec<PortBinding>,
    ifname: &str,
) -> EndpointRecord {
    EndpointRecord {
        endpoint_id: random_hex(64),
        container_id: container_id.into(),
        container_name: container_name.into(),
        network_id: net.id.clone(),
        default_route: ifname == "eth0",
        ifname: ifname.into(),
        ip: Ipv4Addr::UNSPECIFIED,
        aliases,
        ports,
    }
}

/// Puts the network namespace and the network files into a spec.
fn patch_spec(spec: &mut Value, ns_path: Option<&Path>, files: &[(&str, PathBuf)]) {
    if let Some(namespaces) = spec
        .pointer_mut("/linux/namespaces")
        .and_then(Value::as_array_mut)
    {
        namespaces.retain(|n| n["type"] != "network");
        if let Some(p) = ns_path {
            namespaces.push(json!({"type": "network", "path": p}));
        }
    }
    if let Some(mounts) = spec.get_mut("mounts").and_then(Value::as_array_mut) {
        for (dest, src) in files {
            // a user's own bind mount on the same place wins, as in docker
            if mounts.iter().any(|m| m["destination"] == *dest) {
                continue;
            }
            mounts.push(json!({"destination": dest, "type": "bind", "source": src,
                               "options": ["rbind", "rprivate"]}));
        }
    }
}

impl Manager {
    fn nets(&self) -> std::result::Result<NetStore, crate::store::StoreError> {
        Ok(NetStore {
            db: self.store.db()?,
        })
    }

    /// Where a container's network namespace is pinned.
    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.cfg.state.join("netns").join(id)
    }

    /// What the backend needs of a stored endpoint.
    fn kernel_endpoint(&self, ep: &EndpointRecord) -> Endpoint {
        Endpoint {
            container_id: ep.container_id.clone(),
            netns: self.netns_path(&ep.container_id),
            ifname: ep.ifname.clone(),
            ip: ep.ip,
            mac: Endpoint::mac_for(ep.ip),
            default_route: ep.default_route,
            ports: ep.ports.clone(),
        }
    }

    fn resolver(&self) -> Resolver {
        Resolver::new(self.cfg.state.join("aardvark-dns"))
    }

    fn container_name(&self, id: &str) -> String {
        self.store
            .get(id)
            .ok()
            .flatten()
            .map_or_else(|| short(id).to_string(), |r| r.name)
    }

    /// At start: the tables, the built-in networks, and the endpoints of
    /// containers that are gone (a removal a crash cut short).
    pub async fn recover_networks(self: &Arc<Self>) {
        let nets = match self.nets() {
            Ok(n) => n,
            Err(e) => {
                crate::log_line!("berth-manager: networks: {e}");
                return;
            }
        };
        if let Err(e) = nets.open_tables() {
            crate::log_line!("berth-manager: networks: {e}");
            return;
        }
        let have: Vec<String> = nets
            .networks()
            .unwrap_or_default()
            .into_iter()
            .map(|n| n.name)
            .collect();
        let mut want = vec![("host", "host"), ("none", "null")];
        if bridge_enabled() {
            want.push(("bridge", "bridge"));
        }
        for (name, driver) in want {
            if !have.iter().any(|h| h == name) {
                if let Err(e) = nets.insert_network(builtin(name, driver), false) {
                    crate::log_line!("berth-manager: network {name}: {e}");
                }
            }
        }
        for ep in nets.endpoints().unwrap_or_default() {
            if matches!(self.store.get(&ep.container_id), Ok(None)) {
                self.teardown_container_network(&ep.container_id).await;
            }
        }
        // endpoints a crash left releasing: their veths go now
        for net in nets.networks().unwrap_or_default() {
            match self.released_gone(&net, Release::Force).await {
                Ok(keys) => {
                    for key in keys {
                        let _ = nets.forget_released(&key);
                    }
                }
                Err(e) => crate::log_line!("berth-manager: network {}: {e}", net.name),
            }
        }
    }

    pub async fn create_network(&self, req: pb::CreateNetworkRequest) -> Result<pb::NetworkInfo> {
        let bad = |m: String| ManagerError::InvalidArgument(m);
        crate::names::validate(&req.name).map_err(|e| bad(format!("network name: {e}")))?;
        if !matches!(req.driver.as_str(), "" | "bridge") {
            return Err(ManagerError::NotFound(format!(
                "plugin \"{}\" not found: berth networks use the bridge driver",
                req.driver
            )));
        }
        let subnet = if req.subnet.is_empty() {
            None
        } else {
            Some(
                req.subnet
                    .parse::<Subnet>()
                    .map_err(|e| bad(format!("Invalid subnet {} : {e}", req.subnet)))?,
            )
        };
        let gateway = match (req.gateway.is_empty(), subnet) {
            (true, s) => s.map(|s| s.first_host()),
            (false, None) => return Err(bad("--gateway needs a --subnet to go with it".into())),
            (false, Some(s)) => {
                let g: Ipv4Addr = req
                    .gateway
                    .parse()
                    .map_err(|_| bad(format!("invalid gateway address: {}", req.gateway)))?;
                if !s.contains(g) {
                    return Err(bad(format!(
                        "no matching subnet for gateway {g}: it is outside {s}"
                    )));
                }
                Some(g)
            }
        };
        let id = random_hex(64);
        let bridge = match req.options.get("com.docker.network.bridge.name") {
            Some(b) if !b.is_empty() => {
                if b.len() > 15 || b.contains('/') || b.contains(char::is_whitespace) {
                    return Err(bad(format!(
                        "invalid bridge name {b:?}: at most 15 characters, no '/' or spaces"
                    )));
                }
                b.clone()
            }
            _ => format!("br-{}", short(&id)),
        };
        let rec = NetworkRecord {
            id,
            name: req.name.clone(),
            driver: "bridge".into(),
            subnet,
            gateway,
            internal: req.internal,
            bridge,
            options: req.options.clone().into_iter().collect(),
            labels: req.labels.clone().into_iter().collect(),
            created: now_nanos() as i64,
        };
        let _g = NET_LOCK.lock().await;
        // stored first: a crash leaves a network whose bridge the first
        // container (or rm) makes or removes
        let rec = self.nets()?.insert_network(rec, true)?;
        let cfg = rec.config().expect("a bridge network");
        if let Err(e) = blocking(move || backend().create_network(&cfg)).await {
            let cfg = rec.config().expect("a bridge network");
            let _ = blocking(move || backend().remove_network(&cfg)).await;
            let _ = self.nets()?.remove_network(&rec);
            return Err(e);
        }
        Ok(network_info(&rec, &[]))
    }

    pub fn list_networks(&self) -> Result<Vec<pb::NetworkInfo>> {
        let nets = self.nets()?;
        let eps = nets.endpoints()?;
        Ok(nets
            .networks()?
            .iter()
            .map(|n| {
                let on: Vec<EndpointRecord> = eps
                    .iter()
                    .filter(|e| e.network_id == n.id)
                    .cloned()
                    .collect();
                network_info(n, &on)
            })
            .collect())
    }

    pub fn get_network(&self, key: &str) -> Result<pb::NetworkInfo> {
        let nets = self.nets()?;
        let rec = nets.resolve(key)?;
        Ok(network_info(&rec, &nets.endpoints_on(&rec.id)?))
    }

    pub async fn remove_network(&self, key: &str) -> Result<()> {
        let _g = NET_LOCK.lock().await;
        let nets = self.nets()?;
        let rec = nets.resolve(key)?;
        if rec.is_builtin() {
            return Err(ManagerError::FailedPrecondition(format!(
                "{} is a pre-defined network and cannot be removed",
                rec.name
            )));
        }
        let on = nets.endpoints_on(&rec.id)?;
        if !on.is_empty() {
            let names: Vec<String> = on.iter().map(|e| e.container_name.clone()).collect();
            return Err(ManagerError::FailedPrecondition(format!(
                "error while removing network: network {} has active endpoints ({})",
                rec.name,
                names.join(", ")
            )));
        }
        // kernel first, then the record: a crash in between leaves a
        // record whose removal is simply repeated
        for key in self.released_gone(&rec, Release::Force).await? {
            nets.forget_released(&key)?;
        }
        self.resolver().remove(&rec.name).map_err(net_err)?;
        if let Some(cfg) = rec.config() {
            blocking(move || backend().remove_network(&cfg)).await?;
        }
        nets.remove_network(&rec)
    }

    /// `network prune`: every user network without endpoints that
    /// `filter` admits.
    pub async fn prune_networks(
        &self,
        filter: &crate::prune_filter::PruneSelector,
    ) -> Result<Vec<String>> {
        let mut deleted = Vec::new();
        for n in self.nets()?.networks()? {
            if !n.is_builtin()
                && filter.admits(&n.labels, n.created as i128)
                && self.nets()?.endpoints_on(&n.id)?.is_empty()
                && self.remove_network(&n.id).await.is_ok()
            {
                deleted.push(n.name);
            }
        }
        Ok(deleted)
    }

    pub fn list_endpoints(&self, container: &str) -> Result<Vec<pb::EndpointInfo>> {
        let nets = self.nets()?;
        let eps = if container.is_empty() {
            nets.endpoints()?
        } else {
            nets.endpoints_of(&self.resolve(container)?.id)?
        };
        let mut out = Vec::new();
        for e in eps {
            if let Some(n) = nets.network_by_id(&e.network_id)? {
                out.push(endpoint_info(&n, &e));
            }
        }
        Ok(out)
    }

    /// Rewrites the resolver's file of a user network from the store.
    fn refresh_names(&self, net: &NetworkRecord) -> Result<()> {
        let Some(cfg) = net.config().filter(|c| c.dns) else {
            return Ok(());
        };
        let records: Vec<Record> = self
            .nets()?
            .endpoints_on(&net.id)?
            .into_iter()
            .map(|e| {
                let mut names = vec![e.container_name.clone()];
                names.extend(e.aliases.iter().cloned());
                names.push(short(&e.container_id).to_string());
                names.dedup();
                Record {
                    container_id: e.container_id,
                    ip: e.ip,
                    names,
                }
            })
            .collect();
        self.resolver().update(&cfg, &records).map_err(net_err)
    }

    /// Claims an address (`ip`, or a free one) and the ports of `ep` on
    /// `net` and plugs the container's namespace in.  On failure the
    /// endpoint is left stored for the caller's teardown to find.
    async fn join(
        &self,
        net: &NetworkRecord,
        ep: EndpointRecord,
        ip: Option<Ipv4Addr>,
    ) -> Result<EndpointRecord> {
        let nets = self.nets()?;
        let names = |id: &str| self.container_name(id);
        let gone = self.released_gone(net, Release::Gone).await?;
        let ep = nets.insert_endpoint(net, ep, ip, &names, &gone)?;
        let cfg = net.config().expect("a bridge network");
        let kernel_ep = self.kernel_endpoint(&ep);
        blocking(move || backend().attach(&cfg, &kernel_ep)).await?;
        self.refresh_names(net)?;
        Ok(ep)
    }

    /// At create: the container's namespace, endpoint and files, and the
    /// spec that joins them.  Nothing is done without a network request.
    pub async fn setup_container_network(
        &self,
        id: &str,
        name: &str,
        req: Option<&pb::ContainerNetwork>,
        mut spec: Value,
    ) -> Result<Value> {
        let Some(req) = req else {
            return Ok(spec);
        };
        let bad = |m: String| ManagerError::InvalidArgument(m);
        let mode = match parse_mode(&req.mode) {
            Mode::Network(n) => {
                let net = self.nets()?.resolve(&n)?;
                match net.driver.as_str() {
                    "host" => Mode::Host,
                    "null" => Mode::None,
                    _ => Mode::Bridge(Box::new(net)),
                }
            }
            m => m,
        };
        let ports = req
            .ports
            .iter()
            .map(port_from_pb)
            .collect::<Result<Vec<_>>>()?;
        let ip = match req.ipv4_address.as_str() {
            "" => None,
            s => Some(
                s.parse::<Ipv4Addr>()
                    .map_err(|_| bad(format!("invalid IPv4 address: {s}")))?,
            ),
        };
        let user_network = matches!(&mode, Mode::Bridge(n) if n.name != "bridge");
        if ip.is_some() && !user_network {
            return Err(bad(
                "user specified IP address is supported on user defined networks only".into(),
            ));
        }
        if !req.aliases.is_empty() && !user_network {
            return Err(bad(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
        if !ports.is_empty() && matches!(mode, Mode::Container(_)) {
            return Err(bad(
                "conflicting options: port publishing and the container type network mode".into(),
            ));
        }
        let mut extra_hosts = Vec::new();
        for h in &req.extra_hosts {
            let (n, a) = h
                .split_once(':')
                .filter(|(n, a)| !n.is_empty() && !a.is_empty())
                .ok_or_else(|| bad(format!("bad format for add-host: {h:?}")))?;
            extra_hosts.push((n.to_string(), a.to_string()));
        }
        let hostname = spec
            .get("hostname")
            .and_then(Value::as_str)
            .filter(|h| !h.is_empty())
            .unwrap_or(short(id))
            .to_string();
        let dir = self.cfg.container_root(id);
        let file_paths = [
            ("/etc/hosts", dir.join("hosts")),
            ("/etc/hostname", dir.join("hostname")),
            ("/etc/resolv.conf", dir.join("resolv.conf")),
        ];
        let dns = DnsOptions {
            servers: req.dns.clone(),
            search: req.dns_search.clone(),
            options: req.dns_options.clone(),
        };
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let write_files = |own_ip: Option<Ipv4Addr>, resolver: Option<Ipv4Addr>| -> Result<()> {
            bundle::make_dir(&dir, 0o700)?;
            let texts = [
                files::hosts(&hostname, own_ip, &extra_hosts),
                files::hostname(&hostname),
                files::resolv_conf(&host_resolv, resolver, &dns),
            ];
            let files: Vec<(&Path, &[u8])> = file_paths
                .iter()
                .zip(&texts)
                .map(|((_, path), text)| (path.as_path(), text.as_bytes()))
                .collect();
            bundle::atomic_write_all(&files, 0o644)?;
            Ok(())
        };
        match mode {
            Mode::Host => Ok(spec),
            Mode::None | Mode::Network(_) => {
                write_files(None, None)?;
                patch_spec(&mut spec, None, &file_paths);
                if let Some(ns) = spec
                    .pointer_mut("/linux/namespaces")
                    .and_then(Value::as_array_mut)
                {
                    ns.push(json!({"type": "network"}));
                }
                Ok(spec)
            }
            Mode::Container(other) => {
                let rec = self.resolve(&other)?;
                if !rec.status.has_task() {
                    return Err(ManagerError::FailedPrecondition(format!(
                        "cannot join network of a non running container: {}",
                        rec.name
                    )));
                }
                let pinned = self.netns_path(&rec.id);
                let ns = if netns::is_pinned(&pinned) {
                    pinned
                } else {
                    PathBuf::from(format!("/proc/{}/ns/net", rec.pid))
                };
                let their = self.cfg.container_root(&rec.id);
                let files: Vec<(&str, PathBuf)> = file_paths
                    .iter()
                    .map(|(d, p)| (*d, their.join(p.file_name().expect("file name"))))
                    .filter(|(_, p)| p.exists())
                    .collect();
                patch_spec(&mut spec, Some(&ns), &files);
                Ok(spec)
            }
            Mode::Bridge(net) => {
                if net.internal && !ports.is_empty() {
                    return Err(bad(format!(
                        "network {} is internal: ports cannot be published on it",
                        net.name
                    )));
                }
                let _g = NET_LOCK.lock().await;
                let ns = self.netns_path(id);
                let ns2 = ns.clone();
                blocking(move || netns::create(&ns2)).await?;
                let ep = new_endpoint(&net, id, name, req.aliases.clone(), ports, "eth0");
                let ep = self.join(&net, ep, ip).await?;
                let resolver = net.config().filter(|c| c.dns).map(|c| c.gateway);
                write_files(Some(ep.ip), resolver)?;
                patch_spec(&mut spec, Some(&ns), &file_paths);
                Ok(spec)
            }
        }
    }

    /// Everything a container's networking made: ports, namespace,
    /// endpoints (in that order), and its names in the resolvers.  Safe to
    /// repeat; errors are logged, the rest still goes.
    ///
    /// The veths are not deleted here: the kernel drops them with the
    /// namespace once its pin is gone, off this path.  Until one is seen
    /// gone its endpoint is kept as releasing (its address stays taken,
    /// its ports are free), and should something outside berth still hold
    /// the namespace, the veth is deleted after [`RELEASE_DEADLINE`].
    pub async fn teardown_container_network(&self, id: &str) {
        let _g = NET_LOCK.lock().await;
        let Ok(nets) = self.nets() else {
            return;
        };
        let eps = nets.endpoints_of(id).unwrap_or_default();
        let mut touched = Vec::new();
        let mut clean = true;
        for ep in &eps {
            let Ok(Some(net)) = nets.network_by_id(&ep.network_id) else {
                let _ = nets.remove_endpoint(&ep.key());
                continue;
            };
            if let Some(cfg) = net.config() {
                let kernel_ep = self.kernel_endpoint(ep);
                if let Err(e) = blocking(move || backend().release(&cfg, &kernel_ep)).await {
                    crate::log_line!("berth-manager: release {id}: {e}");
                    clean = false;
                }
            }
            touched.push((net, ep));
        }
        let ns = self.netns_path(id);
        if let Err(e) = blocking(move || netns::remove(&ns)).await {
            crate::log_line!("berth-manager: {e}");
            clean = false;
        }
        if !clean {
            // the endpoints stay stored, so the next removal tries again
            return;
        }
        for (net, ep) in &touched {
            if let Err(e) = nets.release_endpoint(ep) {
                crate::log_line!("berth-manager: {e}");
                continue;
            }
            let host = Endpoint::host_veth_name(&ep.container_id, &net.id);
            tokio::spawn(async move {
                tokio::time::sleep(RELEASE_DEADLINE).await;
                // a lookup first: it takes no rtnl lock, a delete does
                let _ = blocking(move || {
                    let mut nl = Netlink::open()?;
                    if nl.link_index(&host)?.is_some() {
                        nl.delete_link(&host)?;
                    }
                    Ok(())
                })
                .await;
            });
        }
        for (net, _) in touched {
            if let Err(e) = self.refresh_names(&net) {
                crate::log_line!("berth-manager: names of {}: {e}", net.name);
            }
        }
    }

    /// Which released endpoints on `net` to free (see [`Release`]);
    /// returns the keys to forget, for the caller's next transaction.
    async fn released_gone(&self, net: &NetworkRecord, how: Release) -> Result<Vec<String>> {
        let mine: Vec<(String, String)> = self
            .nets()?
            .releasing()?
            .into_iter()
            .filter(|e| e.network_id == net.id)
            .map(|e| (e.key(), Endpoint::host_veth_name(&e.container_id, &net.id)))
            .collect();
        if mine.is_empty() {
            return Ok(vec![]);
        }
        blocking(move || {
            let mut nl = Netlink::open()?;
            let mut gone = Vec::new();
            for (key, host) in mine {
                if how == Release::Force {
                    nl.delete_link(&host)?;
                } else if nl.link_index(&host)?.is_some() {
                    continue;
                }
                gone.push(key);
            }
            Ok(gone)
        })
        .await
    }

    /// `network connect`: a further interface in the container's namespace.
    pub async fn connect_container(&self, req: pb::ConnectRequest) -> Result<()> {
        let rec = self.resolve(&req.container)?;
        let net = self.nets()?.resolve(&req.network)?;
        if net.driver != "bridge" {
            return Err(ManagerError::FailedPrecondition(format!(
                "container cannot be disconnected from or connected to the {} network",
                net.name
            )));
        }
        if !netns::is_pinned(&self.netns_path(&rec.id)) {
            return Err(ManagerError::FailedPrecondition(format!(
                "container {} has no network namespace of its own to connect (its network mode is host, none or another container's)",
                rec.name
            )));
        }
        let ip = match req.ipv4_address.as_str() {
            "" => None,
            s => Some(s.parse::<Ipv4Addr>().map_err(|_| {
                ManagerError::InvalidArgument(format!("invalid IPv4 address: {s}"))
            })?),
        };
        let _g = NET_LOCK.lock().await;
        let have = self.nets()?.endpoints_of(&rec.id)?;
        if have.iter().any(|e| e.network_id == net.id) {
            return Err(ManagerError::AlreadyExists(format!(
                "endpoint with name {} already exists in network {}",
                rec.name, net.name
            )));
        }
        let ifname = (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !have.iter().any(|e| &e.ifname == n))
            .expect("some ethN is free");
        let ep = new_endpoint(
            &net,
            &rec.id,
            &rec.name,
            req.aliases.clone(),
            vec![],
            &ifname,
        );
        match self.join(&net, ep, ip).await {
            Ok(_) => Ok(()),
            Err(e) => {
                // undo this endpoint only
                if let Some(ep) = self
                    .nets()?
                    .endpoints_of(&rec.id)?
                    .into_iter()
                    .find(|e| e.network_id == net.id)
                {
                    self.detach_one(&net, &ep).await;
                }
                Err(e)
            }
        }
    }

    async fn detach_one(&self, net: &NetworkRecord, ep: &EndpointRecord) {
        if let Some(cfg) = net.config() {
            let kernel_ep = self.kernel_endpoint(ep);
            if let Err(e) = blocking(move || backend().detach(&cfg, &kernel_ep)).await {
                crate::log_line!("berth-manager: detach {}: {e}", ep.container_id);
                return;
            }
        }
        if let Ok(nets) = self.nets() {
            let _ = nets.remove_endpoint(&ep.key());
        }
        let _ = self.refresh_names(net);
    }

    /// `network disconnect`.
    pub async fn disconnect_container(&self, req: pb::DisconnectRequest) -> Result<()> {
        let rec = self.resolve(&req.container)?;
        let net = self.nets()?.resolve(&req.network)?;
        let _g = NET_LOCK.lock().await;
        let ep = self
            .nets()?
            .endpoints_of(&rec.id)?
            .into_iter()
            .find(|e| e.network_id == net.id)
            .ok_or_else(|| {
                ManagerError::FailedPrecondition(format!(
                    "container {} is not connected to network {}",
                    rec.name, net.name
                ))
            })?;
        self.detach_one(&net, &ep).await;
        Ok(())
    }
}
