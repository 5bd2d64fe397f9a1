//! A container's published ports as elements of its network's DNAT maps,
//! written straight to the kernel over nfnetlink: one batch (one nftables
//! transaction, all or nothing) per container and direction, on a socket
//! the caller keeps.  Only set elements go this way; the tables, chains and
//! rules that use the maps are written once per network by the `nft`
//! binary ([`crate::nft`]).  A port publish is thus a few hundred bytes to
//! the kernel instead of an `nft` process parsing a script (milliseconds).
//!
//! The wire format is the kernel's (linux/netfilter/nf_tables.h): a batch
//! begin message, one NEWSETELEM or DELSETELEM message per map, a batch end;
//! each element a key and a value, concatenations padded to 4-byte
//! registers as nft lays them out.

use std::io;
use std::net::Ipv4Addr;

use netlink_sys::{Socket, SocketAddr};

use crate::{NetworkConfig, NetworkError, PortBinding, Proto, Result};

const NETLINK_NETFILTER: isize = 12;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFPROTO_IPV4: u8 = 2;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_CREATE: u16 = 0x400;
const NLMSG_ERROR: u16 = 0x2;
const NLMSG_HDRLEN: usize = 16;
const NLA_F_NESTED: u16 = 0x8000;

const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;

/// The maps of [`crate::nft::network_script`].
const MAP_ANY: &str = "ports_any";
const MAP_IP: &str = "ports_ip";

fn proto_number(p: Proto) -> u8 {
    match p {
        Proto::Tcp => libc::IPPROTO_TCP as u8,
        Proto::Udp => libc::IPPROTO_UDP as u8,
    }
}

/// The map a binding lives in and its key: `proto . port` for every host
/// address, `addr . proto . port` for one.
pub fn element_key(p: &PortBinding) -> (&'static str, Vec<u8>) {
    let mut key = Vec::with_capacity(12);
    if !p.host_ip.is_unspecified() {
        key.extend_from_slice(&p.host_ip.octets());
    }
    key.extend_from_slice(&[proto_number(p.proto), 0, 0, 0]);
    key.extend_from_slice(&p.host_port.to_be_bytes());
    key.extend_from_slice(&[0, 0]);
    let map = if p.host_ip.is_unspecified() {
        MAP_ANY
    } else {
        MAP_IP
    };
    (map, key)
}

/// The value: `container address . container port`.
pub fn element_value(ip: Ipv4Addr, p: &PortBinding) -> Vec<u8> {
    let mut v = ip.octets().to_vec();
    v.extend_from_slice(&p.container_port.to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v
}

/// A netlink message under construction: header, then attributes.
struct Msg {
    buf: Vec<u8>,
    /// offsets of the nests still open
    nests: Vec<usize>,
}

impl Msg {
    fn new(kind: u16, flags: u16, seq: u32, family: u8, res_id: u16) -> Msg {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set in finish
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        // port id: the kernel's
        buf.extend_from_slice(&0u32.to_ne_bytes());
        // struct nfgenmsg: family, version, resource id (big endian)
        buf.push(family);
        buf.push(0);
        buf.extend_from_slice(&res_id.to_be_bytes());
        Msg { buf, nests: vec![] }
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn attr(&mut self, kind: u16, data: &[u8]) {
        let len = u16::try_from(4 + data.len()).expect("a small attribute");
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn attr_str(&mut self, kind: u16, s: &str) {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        self.attr(kind, &data);
    }

    fn open(&mut self, kind: u16) {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    }

    fn close(&mut self) {
        let start = self.nests.pop().expect("an open nest");
        let len = u16::try_from(self.buf.len() - start).expect("a small nest");
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn finish(mut self) -> Vec<u8> {
        debug_assert!(self.nests.is_empty());
        let len = u32::try_from(self.buf.len()).expect("a small message");
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// One map's elements to add (with values) or delete (keys only).
struct MapChange<'a> {
    map: &'static str,
    elements: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    table: &'a str,
}

fn set_elements_msg(change: &MapChange<'_>, add: bool, seq: u32) -> Vec<u8> {
    let (kind, flags) = if add {
        (NFT_MSG_NEWSETELEM, NLM_F_CREATE)
    } else {
        (NFT_MSG_DELSETELEM, 0)
    };
    let mut m = Msg::new(
        (NFNL_SUBSYS_NFTABLES << 8) | kind,
        NLM_F_REQUEST | NLM_F_ACK | flags,
        seq,
        NFPROTO_IPV4,
        0,
    );
    m.attr_str(NFTA_SET_ELEM_LIST_TABLE, change.table);
    m.attr_str(NFTA_SET_ELEM_LIST_SET, change.map);
    m.open(NFTA_SET_ELEM_LIST_ELEMENTS);
    for (key, value) in &change.elements {
        m.open(NFTA_LIST_ELEM);
        m.open(NFTA_SET_ELEM_KEY);
        m.attr(NFTA_DATA_VALUE, key);
        m.close();
        if let Some(v) = value {
            m.open(NFTA_SET_ELEM_DATA);
            m.attr(NFTA_DATA_VALUE, v);
            m.close();
        }
        m.close();
    }
    m.close();
    m.finish()
}

/// The changes of `ports`, grouped by map (one message per map).
fn changes<'a>(
    table: &'a str,
    ip: Ipv4Addr,
    ports: &[PortBinding],
    add: bool,
) -> Vec<MapChange<'a>> {
    let mut out: Vec<MapChange<'a>> = Vec::new();
    for p in ports {
        let (map, key) = element_key(p);
        let value = add.then(|| element_value(ip, p));
        match out.iter_mut().find(|c| c.map == map) {
            Some(c) => c.elements.push((key, value)),
            None => out.push(MapChange {
                map,
                elements: vec![(key, value)],
                table,
            }),
        }
    }
    out
}

/// A whole batch: begin, the map changes, end.
fn batch(changes: &[MapChange<'_>], add: bool, first_seq: u32) -> (Vec<u8>, Vec<u32>) {
    let res_id = NFNL_SUBSYS_NFTABLES;
    let mut buf = Msg::new(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, first_seq, 0, res_id).finish();
    let mut seqs = Vec::new();
    let mut seq = first_seq;
    for c in changes {
        seq = seq.wrapping_add(1);
        seqs.push(seq);
        buf.extend(set_elements_msg(c, add, seq));
    }
    seq = seq.wrapping_add(1);
    buf.extend(Msg::new(NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq, 0, res_id).finish());
    (buf, seqs)
}

/// An nfnetlink socket in the namespace it was opened in.
pub struct Nfnetlink {
    sock: Socket,
    seq: u32,
}

fn nft_err(what: &str, e: io::Error) -> NetworkError {
    NetworkError::Nft(format!("{what}: {e}"))
}

impl Nfnetlink {
    pub fn open() -> Result<Nfnetlink> {
        let mut sock = Socket::new(NETLINK_NETFILTER).map_err(|e| nft_err("open socket", e))?;
        sock.bind_auto().map_err(|e| nft_err("bind socket", e))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(|e| nft_err("connect socket", e))?;
        Ok(Nfnetlink { sock, seq: 0 })
    }

    /// Sends one batch and reads one ack per message; the first error is
    /// the batch's (the kernel applied none of it).
    fn send_batch(&mut self, changes: &[MapChange<'_>], add: bool) -> io::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let (buf, seqs) = batch(changes, add, self.seq.wrapping_add(1));
        self.seq = self
            .seq
            .wrapping_add(u32::try_from(seqs.len()).expect("few maps") + 2);
        self.sock.send(&buf, 0)?;
        let mut pending = seqs;
        let mut first_err = None;
        while !pending.is_empty() {
            let (data, _) = self.sock.recv_from_full()?;
            let mut off = 0;
            while off + NLMSG_HDRLEN <= data.len() {
                let word = |at: usize| {
                    u32::from_ne_bytes(data[at..at + 4].try_into().expect("four bytes"))
                };
                let len = word(off) as usize;
                let kind = u16::from_ne_bytes([data[off + 4], data[off + 5]]);
                let seq = word(off + 8);
                if kind == NLMSG_ERROR && off + NLMSG_HDRLEN + 4 <= data.len() {
                    let code = i32::from_ne_bytes(
                        data[off + NLMSG_HDRLEN..off + NLMSG_HDRLEN + 4]
                            .try_into()
                            .expect("four bytes"),
                    );
                    if let Some(i) = pending.iter().position(|&s| s == seq) {
                        pending.swap_remove(i);
                        if code < 0 && first_err.is_none() {
                            first_err = Some(io::Error::from_raw_os_error(-code));
                        }
                    }
                    // an error aborts the batch: later messages get no ack
                    if code < 0 {
                        pending.clear();
                    }
                }
                if len < NLMSG_HDRLEN {
                    break;
                }
                off += (len + 3) & !3;
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Adds a container's DNAT map elements in one transaction.  The same
    /// element again is fine (a repeat after a crash); a port mapped to
    /// another container fails it whole.
    pub fn add_ports(
        &mut self,
        net: &NetworkConfig,
        ip: Ipv4Addr,
        ports: &[PortBinding],
    ) -> Result<()> {
        let table = crate::nft::table(net);
        self.send_batch(&changes(&table, ip, ports, true), true)
            .map_err(|e| nft_err(&format!("add ports to table ip {table}"), e))
    }

    /// Removes a container's map elements: in one transaction, or, when
    /// some are gone already (a removal cut short, or the table itself),
    /// one by one; missing ones are fine.
    pub fn remove_ports(&mut self, net: &NetworkConfig, ports: &[PortBinding]) -> Result<()> {
        let table = crate::nft::table(net);
        let all = changes(&table, Ipv4Addr::UNSPECIFIED, ports, false);
        let gone = |e: &io::Error| e.raw_os_error() == Some(libc::ENOENT);
        match self.send_batch(&all, false) {
            Ok(()) => return Ok(()),
            Err(e) if gone(&e) => {}
            Err(e) => return Err(nft_err(&format!("remove ports of table ip {table}"), e)),
        }
        for p in ports {
            let one = changes(
                &table,
                Ipv4Addr::UNSPECIFIED,
                std::slice::from_ref(p),
                false,
            );
            match self.send_batch(&one, false) {
                Ok(()) => {}
                Err(e) if gone(&e) => {}
                Err(e) => return Err(nft_err(&format!("remove ports of table ip {table}"), e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(host_ip: &str, host_port: u16, container_port: u16) -> PortBinding {
        PortBinding {
            host_ip: host_ip.parse().unwrap(),
            host_port,
            container_port,
            proto: Proto::Tcp,
        }
    }

    #[test]
    fn keys_and_values_are_padded_registers() {
        let (map, key) = element_key(&binding("0.0.0.0", 8080, 80));
        assert_eq!(map, "ports_any");
        assert_eq!(key, [6, 0, 0, 0, 0x1f, 0x90, 0, 0]);
        let (map, key) = element_key(&binding("127.0.0.1", 8080, 80));
        assert_eq!(map, "ports_ip");
        assert_eq!(key, [127, 0, 0, 1, 6, 0, 0, 0, 0x1f, 0x90, 0, 0]);
        let v = element_value("10.5.0.2".parse().unwrap(), &binding("0.0.0.0", 8080, 80));
        assert_eq!(v, [10, 5, 0, 2, 0, 80, 0, 0]);
    }

    #[test]
    fn batch_groups_by_map_and_numbers_messages() {
        let ports = [
            binding("0.0.0.0", 1, 1),
            binding("127.0.0.1", 2, 2),
            binding("0.0.0.0", 3, 3),
        ];
        let c = changes("t", Ipv4Addr::LOCALHOST, &ports, true);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].elements.len(), 2);
        let (buf, seqs) = batch(&c, true, 7);
        assert_eq!(seqs, [8, 9]);
        // begin, two messages, end: each length word matches its message
        let mut off = 0;
        let mut kinds = Vec::new();
        while off < buf.len() {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            kinds.push(u16::from_ne_bytes([buf[off + 4], buf[off + 5]]));
            off += len;
        }
        assert_eq!(off, buf.len());
        let new = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM;
        assert_eq!(kinds, [NFNL_MSG_BATCH_BEGIN, new, new, NFNL_MSG_BATCH_END]);
    }
}
