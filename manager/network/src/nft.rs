//! NAT, published ports and isolation with nftables: one table per network
//! (`ip berth-<bridge>`), written with the `nft` binary as one atomic batch
//! when the network is made (once, not per container).  Published ports are
//! elements of the table's DNAT maps, so adding or removing a container's
//! ports never rewrites a rule; they go over nfnetlink
//! ([`crate::nft_elements`]), with no process started.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::{NetworkConfig, NetworkError, Result};

/// The `nft` binary (Debian's nftables).
const NFT: &str = "nft";

pub fn table(net: &NetworkConfig) -> String {
    format!("berth-{}", net.bridge)
}

/// Runs `script` as one nft transaction: all of it applies or none.
pub fn apply(script: &str) -> Result<()> {
    let mut child = Command::new(NFT)
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            NetworkError::Nft(format!("run {NFT}: {e} (is Debian's nftables installed?)"))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| NetworkError::Nft(format!("write to {NFT}: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetworkError::Nft(format!("wait for {NFT}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        Err(NetworkError::Nft(first.trim().to_string()))
    }
}

/// The network's table: masquerade out (unless internal), masquerade for
/// loopback and hairpin traffic to published ports, DNAT through the port
/// maps, and a forward filter that lets into the bridge only its own
/// traffic, replies and published ports (isolation between networks).
/// Repeating it keeps the port maps.
pub fn network_script(net: &NetworkConfig) -> String {
    let t = table(net);
    let br = &net.bridge;
    let subnet = net.subnet;
    let mut s = format!(
        "add table ip {t}\n\
         add map ip {t} ports_any {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}\n\
         add map ip {t} ports_ip {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}\n"
    );
    let chains = [
        (
            "prerouting",
            "type nat hook prerouting priority dstnat; policy accept;",
        ),
        (
            "output",
            "type nat hook output priority -100; policy accept;",
        ),
        (
            "postrouting",
            "type nat hook postrouting priority srcnat; policy accept;",
        ),
        (
            "forward",
            "type filter hook forward priority filter; policy accept;",
        ),
    ];
    for (name, hook) in chains {
        s += &format!("add chain ip {t} {name} {{ {hook} }}\nflush chain ip {t} {name}\n");
    }
    for chain in ["prerouting", "output"] {
        s += &format!(
            "add rule ip {t} {chain} fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports_ip\n\
             add rule ip {t} {chain} fib daddr type local dnat ip to meta l4proto . th dport map @ports_any\n"
        );
    }
    if !net.internal {
        s += &format!(
            "add rule ip {t} postrouting ip saddr {subnet} oifname != \"{br}\" masquerade\n"
        );
    }
    s += &format!(
        "add rule ip {t} postrouting oifname \"{br}\" ip saddr 127.0.0.0/8 masquerade\n\
         add rule ip {t} postrouting oifname \"{br}\" ct status dnat ip saddr {subnet} masquerade\n\
         add rule ip {t} forward oifname \"{br}\" ct state established,related accept\n\
         add rule ip {t} forward oifname \"{br}\" iifname \"{br}\" accept\n"
    );
    if !net.internal {
        s += &format!("add rule ip {t} forward oifname \"{br}\" ct status dnat accept\n");
    }
    s += &format!("add rule ip {t} forward oifname \"{br}\" drop\n");
    if net.internal {
        s += &format!("add rule ip {t} forward iifname \"{br}\" oifname != \"{br}\" drop\n");
    }
    s
}

/// Removes the network's table; a missing one is fine.
pub fn remove_network_script(net: &NetworkConfig) -> String {
    let t = table(net);
    format!("add table ip {t}\ndelete table ip {t}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(internal: bool) -> NetworkConfig {
        NetworkConfig {
            name: "n".into(),
            id: "0".repeat(64),
            bridge: "br-x".into(),
            subnet: "10.5.0.0/16".parse().unwrap(),
            gateway: "10.5.0.1".parse().unwrap(),
            internal,
            dns: true,
        }
    }

    #[test]
    fn scripts_name_table_bridge_and_subnet() {
        let s = network_script(&net(false));
        assert!(s.contains("add table ip berth-br-x"));
        assert!(s.contains("ip saddr 10.5.0.0/16 oifname != \"br-x\" masquerade"));
        assert!(!network_script(&net(true)).contains("oifname != \"br-x\" masquerade"));
    }
}
