//! rtnetlink, synchronously: one NETLINK_ROUTE socket per network namespace,
//! one request at a time, each acknowledged before the next (no async
//! runtime, no threads). A socket belongs to the namespace it was opened in,
//! so `Netlink::open_in(pid)` enters the container's namespace only to open
//! the socket, and returns at once.

use super::super::error::{Context, Error, Result};
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute, LinkFlags,
    LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd};

/// An interface as a dump reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mtu: u32,
    pub mac: String,
    pub up: bool,
    /// The bridge it is a port of (its index), 0 for none.
    pub master: u32,
    pub kind: String,
    pub alias: String,
}

/// An IPv4 address on an interface.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Addr {
    pub index: u32,
    pub address: String,
    pub prefix: u8,
}

/// A route of the main table (IPv4).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Route {
    pub destination: String,
    pub prefix: u8,
    pub gateway: String,
    pub oif: u32,
}

pub struct Netlink {
    socket: Socket,
    seq: u32,
}

/// Enter the network namespace of `pid`, run `f`, come back; `f` runs on
/// this thread only (setns of a network namespace is per thread).
pub fn in_netns<T>(pid: i32, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let own = File::open("/proc/thread-self/ns/net").ctx(|| "open /proc/thread-self/ns/net")?;
    let target = File::open(format!("/proc/{pid}/ns/net")).ctx(|| format!("open /proc/{pid}/ns/net"))?;
    nix::sched::setns(target.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
        .ctx(|| format!("enter the network namespace of process {pid}"))?;
    let out = f();
    // Not coming back would leave every later step in the container's namespace.
    if let Err(e) = nix::sched::setns(own.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET) {
        eprintln!("mydocker: cannot return to the own network namespace: {}", e.desc());
        std::process::abort();
    }
    out
}

fn mac_bytes(mac: &str) -> Result<Vec<u8>> {
    let bytes: Vec<u8> = mac.split(':').filter_map(|b| u8::from_str_radix(b, 16).ok()).collect();
    if bytes.len() != 6 || mac.split(':').count() != 6 {
        return Err(Error::invalid(format!(
            "invalid MAC address {mac:?}: use six hex bytes like 02:42:ac:11:00:02"
        )));
    }
    if bytes[0] & 1 == 1 {
        return Err(Error::invalid(format!(
            "invalid MAC address {mac}: a multicast address cannot be an interface's"
        )));
    }
    Ok(bytes)
}

/// Parse a MAC address (`aa:bb:cc:dd:ee:ff`) for an interface.
pub fn parse_mac(mac: &str) -> Result<()> {
    mac_bytes(mac).map(|_| ())
}

fn mac_text(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE).ctx(|| "open a netlink socket")?;
        socket.bind_auto().ctx(|| "bind the netlink socket")?;
        socket.connect(&SocketAddr::new(0, 0)).ctx(|| "connect the netlink socket")?;
        // Without it a failed request's reason is only an errno.
        let _ = socket.set_ext_ack(true);
        Ok(Netlink { socket, seq: 0 })
    }

    /// A socket in the network namespace of process `pid`.
    pub fn open_in(pid: i32) -> Result<Netlink> {
        in_netns(pid, Netlink::open)
    }

    /// Send one request; collect the replies until its ack (or the end of a dump).
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: &str,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        self.seq += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0).ctx(|| format!("{what}: send"))?;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut out = Vec::new();
        let mut rx = vec![0u8; 64 * 1024];
        loop {
            let n = self.socket.recv(&mut &mut rx[..], 0).ctx(|| format!("{what}: receive"))?;
            let mut offset = 0;
            while offset < n {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rx[offset..n])
                    .map_err(|e| Error::os(format!("{what}: bad netlink reply: {e}")))?;
                let len = reply.header.length as usize;
                if len == 0 {
                    return Err(Error::os(format!("{what}: empty netlink reply")));
                }
                offset += len;
                if reply.header.sequence_number != self.seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(out),
                            Some(code) => {
                                let errno = -code.get();
                                let desc = nix::errno::Errno::from_raw(errno).desc();
                                Err(Error::os(format!("{what}: {desc}")).with_errno(errno))
                            }
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::InnerMessage(m) => {
                        out.push(m);
                        if !dump && flags & NLM_F_ACK == 0 {
                            return Ok(out);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn ack(&mut self, msg: RouteNetlinkMessage, flags: u16, what: &str) -> Result<()> {
        self.request(msg, NLM_F_ACK | flags, what).map(|_| ())
    }

    /// Every interface.
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let replies = self.request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
            "list interfaces",
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_of(&l)),
                _ => None,
            })
            .collect())
    }

    /// The interface called `name`, if there is one.
    pub fn link(&mut self, name: &str) -> Result<Option<Link>> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(m), NLM_F_ACK, &format!("look up interface {name}")) {
            Ok(replies) => Ok(replies.iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(link_of(l)),
                _ => None,
            })),
            Err(e) if e.errno == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every IPv4 address.
    pub fn addresses(&mut self) -> Result<Vec<Addr>> {
        let mut q = AddressMessage::default();
        q.header.family = AddressFamily::Inet;
        let replies = self.request(RouteNetlinkMessage::GetAddress(q), NLM_F_DUMP, "list addresses")?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => {
                    let ip = a.attributes.iter().find_map(|x| match x {
                        AddressAttribute::Local(ip) | AddressAttribute::Address(ip) => Some(ip.to_string()),
                        _ => None,
                    })?;
                    Some(Addr { index: a.header.index, address: ip, prefix: a.header.prefix_len })
                }
                _ => None,
            })
            .collect())
    }

    /// The IPv4 routes of the main table.
    pub fn routes(&mut self) -> Result<Vec<Route>> {
        let mut q = RouteMessage::default();
        q.header.address_family = AddressFamily::Inet;
        let replies = self.request(RouteNetlinkMessage::GetRoute(q), NLM_F_DUMP, "list routes")?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) if r.header.table == RouteHeader::RT_TABLE_MAIN => {
                    let mut route = Route {
                        destination: "0.0.0.0".into(),
                        prefix: r.header.destination_prefix_length,
                        gateway: String::new(),
                        oif: 0,
                    };
                    for a in &r.attributes {
                        match a {
                            RouteAttribute::Destination(RouteAddress::Inet(ip)) => {
                                route.destination = ip.to_string()
                            }
                            RouteAttribute::Gateway(RouteAddress::Inet(ip)) => route.gateway = ip.to_string(),
                            RouteAttribute::Oif(i) => route.oif = *i,
                            _ => {}
                        }
                    }
                    Some(route)
                }
                _ => None,
            })
            .collect())
    }

    /// Make a bridge (down; `set_up` it once it has its address), with a
    /// fixed MAC so that ports coming and going do not change it.
    /// `alias` marks it as ours on the interface itself (`ip link` shows it;
    /// the kernel takes an alias only on a link that exists: a second request).
    pub fn create_bridge(&mut self, name: &str, mtu: u32, mac: &str, alias: &str) -> Result<()> {
        self.create_bridge_link(name, mtu, mac)?;
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes.push(LinkAttribute::IfAlias(alias.to_string()));
        let set = self.ack(RouteNetlinkMessage::SetLink(m), 0, &format!("mark bridge {name} as mydocker's"));
        if set.is_err() {
            let _ = self.delete_link(name);
        }
        set
    }

    fn create_bridge_link(&mut self, name: &str, mtu: u32, mac: &str) -> Result<()> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes.push(LinkAttribute::Address(mac_bytes(mac)?));
        if mtu > 0 {
            m.attributes.push(LinkAttribute::Mtu(mtu));
        }
        m.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]));
        self.ack(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL, &format!("create bridge {name}"))
    }

    /// A veth pair in one message: `host` here, attached to the bridge
    /// `master` and up; its peer `peer` made straight in the namespace `netns`
    /// (an open /proc/PID/ns/net), with `mac` when given.
    pub fn create_veth(
        &mut self,
        host: &str,
        master: u32,
        peer: &str,
        netns: &File,
        mtu: u32,
        mac: Option<&str>,
    ) -> Result<()> {
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.to_string()));
        p.attributes.push(LinkAttribute::NetNsFd(netns.as_raw_fd()));
        if mtu > 0 {
            p.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(mac) = mac {
            p.attributes.push(LinkAttribute::Address(mac_bytes(mac)?));
        }
        let mut m = LinkMessage::default();
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        m.attributes.push(LinkAttribute::IfName(host.to_string()));
        if mtu > 0 {
            m.attributes.push(LinkAttribute::Mtu(mtu));
        }
        m.attributes.push(LinkAttribute::Controller(master));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.ack(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("create veth pair {host}/{peer}"),
        )
    }

    /// Hairpin mode on bridge port `name`: a frame may leave by the port it
    /// came in on, so a container reaches its own published port.
    pub fn set_hairpin(&mut self, name: &str) -> Result<()> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(true)])),
        ]));
        self.ack(RouteNetlinkMessage::NewLink(m), 0, &format!("hairpin mode on {name}"))
    }

    /// Bring interface `index` up.
    pub fn set_up(&mut self, index: u32) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.ack(RouteNetlinkMessage::SetLink(m), 0, &format!("bring interface {index} up"))
    }

    /// Delete interface `name`; one that is not there is not an error.
    pub fn delete_link(&mut self, name: &str) -> Result<()> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.ack(RouteNetlinkMessage::DelLink(m), 0, &format!("delete interface {name}")) {
            Err(e) if e.errno == Some(libc::ENODEV) => Ok(()),
            other => other,
        }
    }

    /// Add `ip/prefix` to interface `index`.
    pub fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(ip.into()));
        m.attributes.push(AddressAttribute::Address(ip.into()));
        if prefix < 31 {
            let bcast = u32::from(ip) | (u32::MAX >> prefix);
            m.attributes.push(AddressAttribute::Broadcast(Ipv4Addr::from(bcast)));
        }
        self.ack(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("add address {ip}/{prefix}"),
        )
    }

    /// The default route through `gateway`, out of interface `index`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr, index: u32) -> Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Static;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        m.attributes.push(RouteAttribute::Oif(index));
        self.ack(
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("add the default route via {gateway}"),
        )
    }
}

fn link_of(l: &LinkMessage) -> Link {
    let mut link = Link {
        index: l.header.index,
        name: String::new(),
        mtu: 0,
        mac: String::new(),
        up: l.header.flags.contains(LinkFlags::Up),
        master: 0,
        kind: String::new(),
        alias: String::new(),
    };
    for a in &l.attributes {
        match a {
            LinkAttribute::IfName(n) => link.name = n.clone(),
            LinkAttribute::Mtu(m) => link.mtu = *m,
            LinkAttribute::Address(b) => link.mac = mac_text(b),
            LinkAttribute::Controller(m) => link.master = *m,
            LinkAttribute::IfAlias(a) => link.alias = a.clone(),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        link.kind = k.to_string();
                    }
                }
            }
            _ => {}
        }
    }
    link
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_addresses_are_checked() {
        assert!(parse_mac("02:42:ac:11:00:02").is_ok());
        assert!(parse_mac("02:42:ac:11:00").is_err());
        assert!(parse_mac("02:42:ac:11:00:zz").is_err());
        assert!(parse_mac("01:00:5e:00:00:01").is_err());
        assert_eq!(mac_text(&[2, 0x42, 0xac, 0x11, 0, 2]), "02:42:ac:11:00:02");
    }
}
