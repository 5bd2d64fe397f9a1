//! The bridge backend: docker's `bridge` driver with netlink and nftables.
//! A network is a Linux bridge holding the gateway address plus its nft
//! table; an endpoint is a veth pair, host side on the bridge, container
//! side in the container's namespace with its address and default route,
//! plus its published ports as DNAT map elements.
//!
//! Removing a container does not delete its veth: the kernel deletes both
//! ends when the container's namespace goes, off the caller's path (a veth
//! deleted by hand makes the caller wait out RCU grace periods, tens of
//! milliseconds).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::netlink::Netlink;
use crate::nft_elements::Nfnetlink;
use crate::{netns, nft, Backend, Endpoint, NetworkConfig, NetworkError, Result};

/// The bridge backend; it keeps no state of its own.
#[derive(Debug, Default, Clone, Copy)]
pub struct BridgeBackend;

fn sysctl(path: &str, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|source| NetworkError::Io {
        what: "write sysctl",
        path: Path::new(path).to_path_buf(),
        source,
    })
}

impl BridgeBackend {
    fn ensure_bridge(&self, nl: &mut Netlink, net: &NetworkConfig) -> Result<u32> {
        let index = nl.create_bridge(&net.bridge)?;
        nl.add_address(index, net.gateway, net.subnet.prefix)?;
        nl.set_up(index, None)?;
        Ok(index)
    }
}

impl Backend for BridgeBackend {
    fn create_network(&self, net: &NetworkConfig) -> Result<()> {
        let mut nl = Netlink::open()?;
        self.ensure_bridge(&mut nl, net)?;
        // routing between the bridge and the outside, and DNAT of the
        // host's loopback to containers (docker without its userland proxy)
        sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
        sysctl(
            &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", net.bridge),
            "1",
        )?;
        nft::apply(&nft::network_script(net))
    }

    fn remove_network(&self, net: &NetworkConfig) -> Result<()> {
        Netlink::open()?.delete_link(&net.bridge)?;
        nft::apply(&nft::remove_network_script(net))
    }

    fn attach(&self, net: &NetworkConfig, ep: &Endpoint) -> Result<()> {
        let mut nl = Netlink::open()?;
        let bridge = match nl.link_index(&net.bridge)? {
            Some(i) => i,
            None => {
                self.create_network(net)?;
                self.ensure_bridge(&mut nl, net)?
            }
        };
        let host = ep.host_veth(&net.id);
        let ns = File::open(&ep.netns).map_err(|source| NetworkError::Netns {
            path: ep.netns.clone(),
            what: "open",
            source,
        })?;
        // one request: both ends made, up, the host's on the bridge and
        // the container's already in its namespace
        nl.create_veth(&host, bridge, &ep.ifname, ep.mac, ns.as_raw_fd())?;
        let (ifname, ip, prefix) = (ep.ifname.clone(), ep.ip, net.subnet.prefix);
        let gateway = ep.default_route.then_some(net.gateway);
        netns::run_in(&ep.netns, move || {
            let mut nl = Netlink::open()?;
            let index = nl
                .link_index(&ifname)?
                .ok_or_else(|| NetworkError::Netlink {
                    what: format!("find {ifname} in the container"),
                    source: std::io::Error::from_raw_os_error(libc::ENODEV),
                })?;
            nl.configure(index, ip, prefix, gateway)
        })?;
        if !ep.ports.is_empty() {
            Nfnetlink::open()?.add_ports(net, ep.ip, &ep.ports)?;
        }
        Ok(())
    }

    fn detach(&self, net: &NetworkConfig, ep: &Endpoint) -> Result<()> {
        if !ep.ports.is_empty() {
            Nfnetlink::open()?.remove_ports(net, &ep.ports)?;
        }
        // deleting one end of a veth pair deletes both
        Netlink::open()?.delete_link(&ep.host_veth(&net.id))
    }

    fn release(&self, net: &NetworkConfig, ep: &Endpoint) -> Result<()> {
        if !ep.ports.is_empty() {
            Nfnetlink::open()?.remove_ports(net, &ep.ports)?;
        }
        Ok(())
    }
}
