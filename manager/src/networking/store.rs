//! Networks and endpoints in the manager's redb store.  An address or a
//! host port is taken by writing the endpoint that holds it, in the same
//! write transaction that checked it was free, so no crash or race ever
//! gives one to two containers; it is freed only after the kernel objects
//! made for it are gone.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use berth_network::ipam::{self, Subnet};
use berth_network::{NetworkConfig, PortBinding};
use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::error::{ManagerError, Result};

/// network id → JSON [`NetworkRecord`].
const NETWORKS: TableDefinition<&str, &[u8]> = TableDefinition::new("networks");
/// network name → id.
const NETWORK_NAMES: TableDefinition<&str, &str> = TableDefinition::new("network_names");
/// `<container id>/<network id>` → JSON [`EndpointRecord`].
const ENDPOINTS: TableDefinition<&str, &[u8]> = TableDefinition::new("endpoints");
/// `<container id>/<network id>` → JSON [`EndpointRecord`] of a removed
/// container whose interface the kernel has not dropped yet: its address
/// stays taken until the interface is seen gone, its ports are free.
const RELEASING: TableDefinition<&str, &[u8]> = TableDefinition::new("releasing_endpoints");

/// The lowest and highest host port given to `-p CONTAINER_PORT`.
pub const EPHEMERAL_PORTS: (u16, u16) = (32768, 60999);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    /// bridge | host | null
    pub driver: String,
    pub subnet: Option<Subnet>,
    pub gateway: Option<Ipv4Addr>,
    pub internal: bool,
    /// the host's bridge interface (bridge driver)
    pub bridge: String,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub created: i64,
}

impl NetworkRecord {
    /// What the backend needs, for bridge networks.
    pub fn config(&self) -> Option<NetworkConfig> {
        (self.driver == "bridge").then(|| NetworkConfig {
            name: self.name.clone(),
            id: self.id.clone(),
            bridge: self.bridge.clone(),
            subnet: self.subnet.expect("a bridge network has a subnet"),
            gateway: self.gateway.expect("a bridge network has a gateway"),
            internal: self.internal,
            dns: self.name != "bridge",
        })
    }

    pub fn is_builtin(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub endpoint_id: String,
    pub container_id: String,
    pub container_name: String,
    pub network_id: String,
    pub ifname: String,
    pub ip: Ipv4Addr,
    pub aliases: Vec<String>,
    pub ports: Vec<PortBinding>,
    pub default_route: bool,
}

impl EndpointRecord {
    pub fn key(&self) -> String {
        format!("{}/{}", self.container_id, self.network_id)
    }
}

fn db<E: Into<redb::Error>>(e: E) -> ManagerError {
    ManagerError::Internal(format!("metadata store: {}", e.into()))
}

fn decode<T: for<'a> Deserialize<'a>>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        ManagerError::Internal(format!("metadata store: record {key} is corrupt: {e}"))
    })
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("a record always serializes")
}

/// Whether two bindings want the same host socket.
fn clash(a: &PortBinding, b: &PortBinding) -> bool {
    a.proto == b.proto
        && a.host_port == b.host_port
        && (a.host_ip == b.host_ip || a.host_ip.is_unspecified() || b.host_ip.is_unspecified())
}

/// Whether some other program holds `host_ip:port` (berth's own bindings
/// are DNAT rules, not sockets, so this sees only others).
pub fn port_busy(p: &PortBinding) -> bool {
    let addr = (p.host_ip, p.host_port);
    match p.proto {
        berth_network::Proto::Tcp => std::net::TcpListener::bind(addr).is_err(),
        berth_network::Proto::Udp => std::net::UdpSocket::bind(addr).is_err(),
    }
}

/// The network tables, inside the manager's database.
pub struct NetStore {
    pub db: std::sync::Arc<Database>,
}

impl NetStore {
    pub fn open_tables(&self) -> Result<()> {
        let txn = self.db.begin_write().map_err(db)?;
        txn.open_table(NETWORKS).map_err(db)?;
        txn.open_table(NETWORK_NAMES).map_err(db)?;
        txn.open_table(ENDPOINTS).map_err(db)?;
        txn.open_table(RELEASING).map_err(db)?;
        txn.commit().map_err(db)
    }

    pub fn networks(&self) -> Result<Vec<NetworkRecord>> {
        let txn = self.db.begin_read().map_err(db)?;
        let t = txn.open_table(NETWORKS).map_err(db)?;
        let mut out = Vec::new();
        for e in t.iter().map_err(db)? {
            let (k, v) = e.map_err(db)?;
            out.push(decode(k.value(), v.value())?);
        }
        out.sort_by(|a: &NetworkRecord, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub fn network_by_id(&self, id: &str) -> Result<Option<NetworkRecord>> {
        let txn = self.db.begin_read().map_err(db)?;
        let t = txn.open_table(NETWORKS).map_err(db)?;
        let v = t.get(id).map_err(db)?;
        v.map(|v| decode(id, v.value())).transpose()
    }

    /// By exact name, exact id, or unique id prefix.
    pub fn resolve(&self, key: &str) -> Result<NetworkRecord> {
        let not_found = || ManagerError::NotFound(format!("network {key} not found"));
        if key.is_empty() {
            return Err(not_found());
        }
        let txn = self.db.begin_read().map_err(db)?;
        let names = txn.open_table(NETWORK_NAMES).map_err(db)?;
        let t = txn.open_table(NETWORKS).map_err(db)?;
        let id = match names.get(key).map_err(db)? {
            Some(id) => id.value().to_string(),
            None => key.to_string(),
        };
        if let Some(v) = t.get(id.as_str()).map_err(db)? {
            return decode(&id, v.value());
        }
        let mut found = None;
        for e in t.range(key..).map_err(db)? {
            let (k, v) = e.map_err(db)?;
            if !k.value().starts_with(key) {
                break;
            }
            if found.is_some() {
                return Err(ManagerError::InvalidArgument(format!(
                    "network {key} is ambiguous: several networks match"
                )));
            }
            found = Some(decode(k.value(), v.value())?);
        }
        found.ok_or_else(not_found)
    }

    /// Stores a new network unless its name is taken or its subnet overlaps
    /// another's; `subnet` None picks the first free default pool.
    pub fn insert_network(&self, mut rec: NetworkRecord, pick: bool) -> Result<NetworkRecord> {
        let txn = self.db.begin_write().map_err(db)?;
        {
            let mut names = txn.open_table(NETWORK_NAMES).map_err(db)?;
            let mut t = txn.open_table(NETWORKS).map_err(db)?;
            if names.get(rec.name.as_str()).map_err(db)?.is_some() {
                return Err(ManagerError::AlreadyExists(format!(
                    "network with name {} already exists",
                    rec.name
                )));
            }
            let mut used = Vec::new();
            for e in t.iter().map_err(db)? {
                let (k, v) = e.map_err(db)?;
                let other: NetworkRecord = decode(k.value(), v.value())?;
                used.extend(other.subnet);
            }
            if rec.driver == "bridge" {
                if pick && rec.subnet.is_none() {
                    let s = ipam::pick_subnet(&used)
                        .map_err(|e| ManagerError::FailedPrecondition(e.to_string()))?;
                    rec.subnet = Some(s);
                    rec.gateway = Some(s.first_host());
                }
                let s = rec.subnet.expect("a bridge network has a subnet");
                if used.iter().any(|u| u.overlaps(&s)) {
                    return Err(ManagerError::FailedPrecondition(
                        "Pool overlaps with other one on this address space".into(),
                    ));
                }
            }
            names
                .insert(rec.name.as_str(), rec.id.as_str())
                .map_err(db)?;
            t.insert(rec.id.as_str(), encode(&rec).as_slice())
                .map_err(db)?;
        }
        txn.commit().map_err(db)?;
        Ok(rec)
    }

    pub fn remove_network(&self, rec: &NetworkRecord) -> Result<()> {
        let txn = self.db.begin_write().map_err(db)?;
        {
            let mut names = txn.open_table(NETWORK_NAMES).map_err(db)?;
            let mut t = txn.open_table(NETWORKS).map_err(db)?;
            t.remove(rec.id.as_str()).map_err(db)?;
            let owned = names
                .get(rec.name.as_str())
                .map_err(db)?
                .is_some_and(|v| v.value() == rec.id);
            if owned {
                names.remove(rec.name.as_str()).map_err(db)?;
            }
        }
        txn.commit().map_err(db)
    }

    pub fn endpoints(&self) -> Result<Vec<EndpointRecord>> {
        let txn = self.db.begin_read().map_err(db)?;
        let t = txn.open_table(ENDPOINTS).map_err(db)?;
        let mut out = Vec::new();
        for e in t.iter().map_err(db)? {
            let (k, v) = e.map_err(db)?;
            out.push(decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    pub fn endpoints_of(&self, container_id: &str) -> Result<Vec<EndpointRecord>> {
        let mut v = self.endpoints()?;
        v.retain(|e| e.container_id == container_id);
        Ok(v)
    }

    pub fn endpoints_on(&self, network_id: &str) -> Result<Vec<EndpointRecord>> {
        let mut v = self.endpoints()?;
        v.retain(|e| e.network_id == network_id);
        Ok(v)
    }

    /// Claims an address (`ip`, or the lowest free one) on `net` and the
    /// host ports of `ep` (port 0: a free one), then stores the endpoint —
    /// all in one transaction, which also forgets the `released` endpoints
    /// (their interfaces are gone).  `names` names the owner of a clashing
    /// port.
    pub fn insert_endpoint(
        &self,
        net: &NetworkRecord,
        mut ep: EndpointRecord,
        ip: Option<Ipv4Addr>,
        names: &dyn Fn(&str) -> String,
        released: &[String],
    ) -> Result<EndpointRecord> {
        let subnet = net.subnet.expect("a bridge network has a subnet");
        let gateway = net.gateway.expect("a bridge network has a gateway");
        let txn = self.db.begin_write().map_err(db)?;
        {
            let mut t = txn.open_table(ENDPOINTS).map_err(db)?;
            let mut all: Vec<EndpointRecord> = Vec::new();
            for e in t.iter().map_err(db)? {
                let (k, v) = e.map_err(db)?;
                all.push(decode(k.value(), v.value())?);
            }
            if all.iter().any(|e| e.key() == ep.key()) {
                return Err(ManagerError::AlreadyExists(format!(
                    "endpoint with name {} already exists in network {}",
                    ep.container_name, net.name
                )));
            }
            let mut releasing = txn.open_table(RELEASING).map_err(db)?;
            for key in released {
                releasing.remove(key.as_str()).map_err(db)?;
            }
            let mut taken: BTreeSet<Ipv4Addr> = all
                .iter()
                .filter(|e| e.network_id == net.id)
                .map(|e| e.ip)
                .collect();
            for e in releasing.iter().map_err(db)? {
                let (k, v) = e.map_err(db)?;
                let gone: EndpointRecord = decode(k.value(), v.value())?;
                if gone.network_id == net.id {
                    taken.insert(gone.ip);
                }
            }
            ep.ip = match ip {
                Some(ip) => {
                    if !subnet.contains(ip) || ip == subnet.network() || ip == subnet.broadcast() {
                        return Err(ManagerError::InvalidArgument(format!(
                            "no configured subnet or ip-range contain the IP address {ip}"
                        )));
                    }
                    if ip == gateway || taken.contains(&ip) {
                        return Err(ManagerError::AlreadyExists(format!(
                            "Address already in use: {ip} is taken on network {}",
                            net.name
                        )));
                    }
                    ip
                }
                None => ipam::pick_address(&subnet, gateway, &taken)
                    .map_err(|e| ManagerError::FailedPrecondition(e.to_string()))?,
            };
            let mut held: Vec<(PortBinding, String)> = all
                .iter()
                .flat_map(|e| e.ports.iter().map(|p| (p.clone(), e.container_id.clone())))
                .collect();
            for p in ep.ports.iter_mut() {
                if p.host_port == 0 {
                    let free = (EPHEMERAL_PORTS.0..=EPHEMERAL_PORTS.1).find(|&port| {
                        let cand = PortBinding {
                            host_port: port,
                            ..p.clone()
                        };
                        !held.iter().any(|(h, _)| clash(h, &cand)) && !port_busy(&cand)
                    });
                    p.host_port = free.ok_or_else(|| {
                        ManagerError::FailedPrecondition("no free host port left".into())
                    })?;
                } else if let Some((_, owner)) = held.iter().find(|(h, _)| clash(h, p)) {
                    return Err(ManagerError::AlreadyExists(format!(
                        "Bind for {}:{} failed: port is already allocated (by container {})",
                        p.host_ip,
                        p.host_port,
                        names(owner)
                    )));
                } else if port_busy(p) {
                    return Err(ManagerError::AlreadyExists(format!(
                        "Bind for {}:{} failed: address already in use by a program outside berth",
                        p.host_ip, p.host_port
                    )));
                }
                held.push((p.clone(), ep.container_id.clone()));
            }
            t.insert(ep.key().as_str(), encode(&ep).as_slice())
                .map_err(db)?;
        }
        txn.commit().map_err(db)?;
        Ok(ep)
    }

    pub fn remove_endpoint(&self, key: &str) -> Result<()> {
        let txn = self.db.begin_write().map_err(db)?;
        txn.open_table(ENDPOINTS)
            .map_err(db)?
            .remove(key)
            .map_err(db)?;
        txn.commit().map_err(db)
    }

    /// Moves a removed container's endpoint to the releasing table in one
    /// transaction: its ports free at once, its address held until
    /// [`NetStore::forget_released`].
    pub fn release_endpoint(&self, ep: &EndpointRecord) -> Result<()> {
        let txn = self.db.begin_write().map_err(db)?;
        {
            txn.open_table(ENDPOINTS)
                .map_err(db)?
                .remove(ep.key().as_str())
                .map_err(db)?;
            let held = EndpointRecord {
                ports: vec![],
                ..ep.clone()
            };
            txn.open_table(RELEASING)
                .map_err(db)?
                .insert(ep.key().as_str(), encode(&held).as_slice())
                .map_err(db)?;
        }
        txn.commit().map_err(db)
    }

    /// The endpoints still being released (all networks).
    pub fn releasing(&self) -> Result<Vec<EndpointRecord>> {
        let txn = self.db.begin_read().map_err(db)?;
        let t = txn.open_table(RELEASING).map_err(db)?;
        let mut out = Vec::new();
        for e in t.iter().map_err(db)? {
            let (k, v) = e.map_err(db)?;
            out.push(decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    /// Frees a released endpoint's address: its interface is gone.
    pub fn forget_released(&self, key: &str) -> Result<()> {
        let txn = self.db.begin_write().map_err(db)?;
        txn.open_table(RELEASING)
            .map_err(db)?
            .remove(key)
            .map_err(db)?;
        txn.commit().map_err(db)
    }
}
