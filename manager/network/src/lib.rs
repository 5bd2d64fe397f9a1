//! berth's container networking, docker's model: bridge networks with a
//! subnet and a gateway on the host, one veth pair per container endpoint,
//! NAT to the outside, published ports (DNAT, the host's loopback included),
//! isolation between networks, and name resolution on user networks.
//!
//! The manager owns the state (which network, which address, which ports) in
//! its store; this crate only turns that state into kernel objects and back,
//! through the [`Backend`] trait so another plumbing (a CNI plugin chain) can
//! take the bridge's place.  Every kernel object is named after the network
//! or the container, so teardown needs nothing but the stored state and is
//! safe to repeat after a crash.

pub mod bridge;
pub mod dns;
pub mod files;
pub mod ipam;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod nft_elements;

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use ipam::Subnet;

/// One failure of the network plumbing.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("netlink: {what}: {source}")]
    Netlink {
        what: String,
        source: std::io::Error,
    },
    #[error("network namespace {path}: {what}: {source}")]
    Netns {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("nftables: {0}")]
    Nft(String),
    #[error("name resolver: {0}")]
    Dns(String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, NetworkError>;

/// A bridge network as the backend needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// docker's network name (`bridge` for the default one)
    pub name: String,
    /// 64 hex chars
    pub id: String,
    /// the host-side bridge interface
    pub bridge: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    /// `--internal`: no way out, no published ports
    pub internal: bool,
    /// user networks resolve container names; the default bridge does not
    pub dns: bool,
}

/// `tcp` or `udp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    pub fn parse(s: &str) -> Option<Proto> {
        match s {
            "tcp" | "" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            _ => None,
        }
    }
}

/// A published port: `host_ip:host_port -> container_port/proto`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    /// 0.0.0.0: every host address
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

/// One container's place on one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub container_id: String,
    /// the container's network namespace (a bind-mounted nsfs file)
    pub netns: PathBuf,
    /// the interface inside the namespace: eth0, eth1, …
    pub ifname: String,
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
    /// whether this endpoint carries the default route
    pub default_route: bool,
    pub ports: Vec<PortBinding>,
}

impl Endpoint {
    /// The host side of the veth pair: a name from the container id and the
    /// network, so teardown finds it without asking the kernel.
    pub fn host_veth(&self, network_id: &str) -> String {
        Endpoint::host_veth_name(&self.container_id, network_id)
    }

    /// The host-side veth of `container_id` on `network_id`.
    pub fn host_veth_name(container_id: &str, network_id: &str) -> String {
        let c = container_id.get(..7).unwrap_or(container_id);
        let n = network_id.get(..6).unwrap_or(network_id);
        format!("vb{c}{n}")
    }

    /// docker's MAC scheme: 02:42 then the IPv4 address.
    pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
        let o = ip.octets();
        [0x02, 0x42, o[0], o[1], o[2], o[3]]
    }
}

/// Turns networks and endpoints into kernel state.  Every method is safe to
/// repeat: setting up what exists, or tearing down what is gone, succeeds.
pub trait Backend: Send + Sync {
    /// The network's bridge, gateway address, NAT and isolation rules.
    fn create_network(&self, net: &NetworkConfig) -> Result<()>;
    /// Removes what `create_network` made.
    fn remove_network(&self, net: &NetworkConfig) -> Result<()>;
    /// Connects a container's namespace to the network, with its ports.
    fn attach(&self, net: &NetworkConfig, ep: &Endpoint) -> Result<()>;
    /// Removes the container's interface and ports from the network.
    fn detach(&self, net: &NetworkConfig, ep: &Endpoint) -> Result<()>;
    /// Removes what would outlive the endpoint's namespace, which its
    /// caller is about to let go: the kernel drops the interfaces in it
    /// with it.  By default, all of [`Backend::detach`].
    fn release(&self, net: &NetworkConfig, ep: &Endpoint) -> Result<()> {
        self.detach(net, ep)
    }
}
