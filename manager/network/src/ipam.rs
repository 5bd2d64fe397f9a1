//! Addresses: IPv4 subnets, docker's default address pools for new networks,
//! and picking a free address in a subnet.  Pure: the caller holds the set
//! of addresses already given out (the manager's store).

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IPv4 subnet, `a.b.c.d/len`, kept with its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

/// Why a subnet or address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("invalid CIDR address: {0}")]
    BadCidr(String),
    #[error("invalid IP address: {0}")]
    BadIp(String),
    #[error("no available address in subnet {0}")]
    Exhausted(Subnet),
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")]
    NoPool,
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    }
}

impl Subnet {
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Subnet {
        Subnet {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        }
    }

    /// Parses `a.b.c.d/len`; host bits are cleared, as docker does.
    pub fn parse_strict(s: &str) -> Result<Subnet, IpamError> {
        let (ip, len) = s
            .split_once('/')
            .ok_or_else(|| IpamError::BadCidr(s.to_string()))?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| IpamError::BadCidr(s.into()))?;
        let prefix: u8 = len
            .parse()
            .ok()
            .filter(|p| *p <= 32 && !len.starts_with('+'))
            .ok_or_else(|| IpamError::BadCidr(s.to_string()))?;
        Ok(Subnet::new(ip, prefix))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    pub fn network(&self) -> Ipv4Addr {
        self.addr
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !mask(self.prefix))
    }

    /// The first usable address: docker's default gateway.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + 1)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = IpamError;
    fn from_str(s: &str) -> Result<Subnet, IpamError> {
        Subnet::parse_strict(s)
    }
}

impl Serialize for Subnet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The default bridge's subnet, as docker's.
pub const DEFAULT_BRIDGE_SUBNET: Subnet = Subnet {
    addr: Ipv4Addr::new(172, 17, 0, 0),
    prefix: 16,
};

/// docker's default pools for user networks, in the order it tries them:
/// 172.17–31.0.0/16, then 192.168.0.0/16 in /20 pieces.
pub fn default_pools() -> impl Iterator<Item = Subnet> {
    let b16 = (17..=31).map(|b| Subnet::new(Ipv4Addr::new(172, b, 0, 0), 16));
    let c20 = (0..16).map(|i| Subnet::new(Ipv4Addr::new(192, 168, i * 16, 0), 20));
    b16.chain(c20)
}

/// The first default pool that overlaps none of `used`.
pub fn pick_subnet(used: &[Subnet]) -> Result<Subnet, IpamError> {
    default_pools()
        .find(|p| used.iter().all(|u| !u.overlaps(p)))
        .ok_or(IpamError::NoPool)
}

/// The lowest free host address in `subnet` after the gateway, skipping
/// `taken`; the network and broadcast addresses are never given out.
pub fn pick_address(
    subnet: &Subnet,
    gateway: Ipv4Addr,
    taken: &BTreeSet<Ipv4Addr>,
) -> Result<Ipv4Addr, IpamError> {
    let first = u32::from(subnet.addr) + 1;
    let last = u32::from(subnet.broadcast());
    (first..last)
        .map(Ipv4Addr::from)
        .find(|ip| *ip != gateway && !taken.contains(ip))
        .ok_or(IpamError::Exhausted(*subnet))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_compare() {
        let s: Subnet = "10.1.0.0/16".parse().unwrap();
        assert_eq!(s.to_string(), "10.1.0.0/16");
        assert!(s.contains("10.1.200.3".parse().unwrap()));
        assert!(!s.contains("10.2.0.1".parse().unwrap()));
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 1, 255, 255));
        assert!(s.overlaps(&"10.1.5.0/24".parse().unwrap()));
        assert!(!s.overlaps(&"10.2.0.0/16".parse().unwrap()));
        for bad in ["10.1.0.0", "10.1.0.0/33", "10.1.0/16", "x/8", "10.0.0.0/+8"] {
            assert!(bad.parse::<Subnet>().is_err(), "{bad}");
        }
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            "\"10.1.0.0/16\"".to_string()
        );
    }

    #[test]
    fn pools_skip_used_subnets() {
        let used = [DEFAULT_BRIDGE_SUBNET, "172.18.5.0/24".parse().unwrap()];
        assert_eq!(pick_subnet(&used).unwrap().to_string(), "172.19.0.0/16");
        let all: Vec<Subnet> = default_pools().collect();
        assert_eq!(pick_subnet(&all), Err(IpamError::NoPool));
    }

    #[test]
    fn addresses_skip_gateway_and_taken() {
        let s: Subnet = "10.0.0.0/30".parse().unwrap();
        let gw = s.first_host();
        let mut taken = BTreeSet::new();
        assert_eq!(
            pick_address(&s, gw, &taken).unwrap(),
            Ipv4Addr::new(10, 0, 0, 2)
        );
        taken.insert(Ipv4Addr::new(10, 0, 0, 2));
        assert!(matches!(
            pick_address(&s, gw, &taken),
            Err(IpamError::Exhausted(_))
        ));
    }
}
