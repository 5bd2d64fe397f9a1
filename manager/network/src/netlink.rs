//! Links, addresses and routes over a synchronous rtnetlink socket.  A
//! socket talks to the network namespace it was opened in, so a caller
//! opens one per namespace (see [`crate::netns`]).

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::RawFd;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::{NetworkError, Result};

/// An rtnetlink socket in the namespace it was opened in.
pub struct Netlink {
    sock: Socket,
    seq: u32,
}

fn nl_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> NetworkError {
    let what = what.into();
    move |source| NetworkError::Netlink { what, source }
}

fn link_by_name(name: &str) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    m
}

impl Netlink {
    pub fn open() -> Result<Netlink> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(nl_err("open socket"))?;
        sock.bind_auto().map_err(nl_err("bind socket"))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(nl_err("connect socket"))?;
        Ok(Netlink { sock, seq: 0 })
    }

    /// Sends one request and collects the replies until the kernel's ack.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        let mut results = self.request_all(vec![(msg, flags)])?;
        results.pop().expect("one result per request")
    }

    /// Sends several requests in one write (the kernel handles them in
    /// order, each on its own) and collects each one's replies or error.
    #[allow(clippy::type_complexity)]
    fn request_all(
        &mut self,
        msgs: Vec<(RouteNetlinkMessage, u16)>,
    ) -> io::Result<Vec<io::Result<Vec<RouteNetlinkMessage>>>> {
        let first = self.seq.wrapping_add(1);
        let mut buf = Vec::new();
        for (msg, flags) in msgs {
            self.seq = self.seq.wrapping_add(1);
            let mut header = NetlinkHeader::default();
            header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
            header.sequence_number = self.seq;
            let mut req = NetlinkMessage::new(header, NetlinkPayload::from(msg));
            req.finalize();
            let at = buf.len();
            buf.resize(at + req.buffer_len(), 0);
            req.serialize(&mut buf[at..]);
        }
        let count = self.seq.wrapping_sub(first).wrapping_add(1) as usize;
        self.sock.send(&buf, 0)?;
        let mut results: Vec<Option<io::Result<Vec<RouteNetlinkMessage>>>> =
            (0..count).map(|_| None).collect();
        let mut replies: Vec<Vec<RouteNetlinkMessage>> = vec![Vec::new(); count];
        let mut open = count;
        while open > 0 {
            let (data, _) = self.sock.recv_from_full()?;
            let mut off = 0;
            while off < data.len() {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[off..])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = msg.header.length as usize;
                let i = msg.header.sequence_number.wrapping_sub(first) as usize;
                if i < count && results[i].is_none() {
                    let done = match msg.payload {
                        NetlinkPayload::Error(e) => Some(match e.code {
                            Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                            None => Ok(std::mem::take(&mut replies[i])),
                        }),
                        NetlinkPayload::Done(_) => Some(Ok(std::mem::take(&mut replies[i]))),
                        NetlinkPayload::InnerMessage(m) => {
                            replies[i].push(m);
                            None
                        }
                        _ => None,
                    };
                    if done.is_some() {
                        results[i] = done;
                        open -= 1;
                    }
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every request answered"))
            .collect())
    }

    /// The index of the link called `name`, if there is one.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>> {
        match self.request(RouteNetlinkMessage::GetLink(link_by_name(name)), 0) {
            Ok(replies) => Ok(replies.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(nl_err(format!("look up link {name}"))(e)),
        }
    }

    fn add_link(&mut self, m: LinkMessage, what: String) -> Result<()> {
        self.request(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
            .map(drop)
            .map_err(nl_err(what))
    }

    /// Creates a bridge (an existing one of that name is kept).
    pub fn create_bridge(&mut self, name: &str) -> Result<u32> {
        if let Some(i) = self.link_index(name)? {
            return Ok(i);
        }
        let mut m = link_by_name(name);
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.add_link(m, format!("create bridge {name}"))?;
        self.link_index(name)?.ok_or_else(|| {
            nl_err(format!("create bridge {name}"))(io::Error::from_raw_os_error(libc::ENODEV))
        })
    }

    /// Creates a veth pair in one request: `host` here, up and under the
    /// bridge `controller`, and `peer_name` (with `peer_mac`, up) made
    /// right inside the namespace open at `peer_netns`, down.  A pair of that
    /// name left by an attach a crash cut short is replaced.
    pub fn create_veth(
        &mut self,
        host: &str,
        controller: u32,
        peer_name: &str,
        peer_mac: [u8; 6],
        peer_netns: RawFd,
    ) -> Result<()> {
        // the peer cannot be set up in the same request (the kernel opens
        // it before pairing it: ENOTCONN); see [`Netlink::configure`]
        let mut peer = link_by_name(peer_name);
        peer.attributes
            .push(LinkAttribute::Address(peer_mac.to_vec()));
        peer.attributes.push(LinkAttribute::NetNsFd(peer_netns));
        let mut m = link_by_name(host);
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        m.attributes.push(LinkAttribute::Controller(controller));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        let flags = NLM_F_CREATE | NLM_F_EXCL;
        match self.request(RouteNetlinkMessage::NewLink(m.clone()), flags) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                self.delete_link(host)?;
                self.request(RouteNetlinkMessage::NewLink(m), flags)
            }
            other => other,
        }
        .map(drop)
        .map_err(nl_err(format!("create veth {host}")))
    }

    /// Sets a link up, and under `controller` (a bridge) when given.
    pub fn set_up(&mut self, index: u32, controller: Option<u32>) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        if let Some(c) = controller {
            m.attributes.push(LinkAttribute::Controller(c));
        }
        self.request(RouteNetlinkMessage::SetLink(m), 0)
            .map(drop)
            .map_err(nl_err(format!("set link {index} up")))
    }

    /// Deletes the link called `name`; a missing one is not an error.
    pub fn delete_link(&mut self, name: &str) -> Result<()> {
        match self.request(RouteNetlinkMessage::DelLink(link_by_name(name)), 0) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(nl_err(format!("delete link {name}"))(e)),
        }
    }

    /// Adds `ip/prefix` to a link; an address already there is fine.
    pub fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> Result<()> {
        match self.request(
            RouteNetlinkMessage::NewAddress(address_message(index, ip, prefix)),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(nl_err(format!("add address {ip}/{prefix}"))(e)),
        }
    }

    /// Link `index` up, `ip/prefix` on it and, with `gateway`, a default
    /// route through it: all in one write.  An address or route already
    /// there is fine.
    pub fn configure(
        &mut self,
        index: u32,
        ip: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
    ) -> Result<()> {
        let mut up = LinkMessage::default();
        up.header.index = index;
        up.header.flags = LinkFlags::Up;
        up.header.change_mask = LinkFlags::Up;
        let mut msgs = vec![
            (RouteNetlinkMessage::SetLink(up), 0),
            (
                RouteNetlinkMessage::NewAddress(address_message(index, ip, prefix)),
                NLM_F_CREATE | NLM_F_EXCL,
            ),
        ];
        if let Some(gw) = gateway {
            msgs.push((
                RouteNetlinkMessage::NewRoute(default_route_message(index, gw)),
                NLM_F_CREATE | NLM_F_EXCL,
            ));
        }
        let results = self
            .request_all(msgs)
            .map_err(nl_err(format!("configure link {index}")))?;
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                Err(e) if i == 0 => return Err(nl_err(format!("set link {index} up"))(e)),
                Err(e) if i == 1 => return Err(nl_err(format!("add address {ip}/{prefix}"))(e)),
                Err(e) => {
                    let gw = gateway.expect("a route was asked for");
                    return Err(nl_err(format!("add default route via {gw}"))(e));
                }
            }
        }
        Ok(())
    }
}

fn address_message(index: u32, ip: Ipv4Addr, prefix: u8) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = AddressFamily::Inet;
    m.header.prefix_len = prefix;
    m.header.index = index;
    m.attributes.push(AddressAttribute::Local(IpAddr::V4(ip)));
    m.attributes.push(AddressAttribute::Address(IpAddr::V4(ip)));
    if prefix < 31 {
        let bcast = crate::Subnet::new(ip, prefix).broadcast();
        m.attributes.push(AddressAttribute::Broadcast(bcast));
    }
    m
}

fn default_route_message(index: u32, gateway: Ipv4Addr) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = AddressFamily::Inet;
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m.header.protocol = RouteProtocol::Boot;
    m.header.scope = RouteScope::Universe;
    m.header.kind = RouteType::Unicast;
    m.attributes = vec![
        RouteAttribute::Gateway(RouteAddress::Inet(gateway)),
        RouteAttribute::Oif(index),
    ];
    m
}
