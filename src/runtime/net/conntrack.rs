//! Forgetting a container's connections: the conntrack entries that name its
//! address (its own, NATed ones, a published port's), deleted over
//! ctnetlink, so a later container given the same address inherits no NAT
//! state. The scripts call it for addresses that had published ports (a
//! dump walks the kernel's whole table). The messages are few and small, so
//! they are encoded here (no crate covers ctnetlink deletes).

use super::super::error::{Context, Error, Result};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};
use std::net::Ipv4Addr;

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_TUPLE_IP: u16 = 1;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const NLA_TYPE_MASK: u16 = 0x3fff;

fn message(kind: u16, flags: u16, seq: u32, attrs: &[u8]) -> Vec<u8> {
    let len = 16 + 4 + attrs.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&((NFNL_SUBSYS_CTNETLINK << 8) | kind).to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    // nfgenmsg: AF_INET, version 0, resource id 0.
    m.extend_from_slice(&[libc::AF_INET as u8, 0, 0, 0]);
    m.extend_from_slice(attrs);
    m
}

/// The attributes in `buf`: (type, the whole attribute, its payload).
fn attrs(buf: &[u8]) -> Vec<(u16, &[u8], &[u8])> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 4 <= buf.len() {
        let len = u16::from_ne_bytes([buf[off], buf[off + 1]]) as usize;
        let kind = u16::from_ne_bytes([buf[off + 2], buf[off + 3]]) & NLA_TYPE_MASK;
        if len < 4 || off + len > buf.len() {
            break;
        }
        out.push((kind, &buf[off..off + len], &buf[off + 4..off + len]));
        off += (len + 3) & !3;
    }
    out
}

/// Does a tuple attribute's payload name `ip` as source or destination?
fn tuple_names(tuple: &[u8], ip: [u8; 4]) -> bool {
    attrs(tuple).into_iter().filter(|(k, _, _)| *k == CTA_TUPLE_IP).any(|(_, _, inner)| {
        attrs(inner).into_iter().any(|(k, _, v)| (k == CTA_IP_V4_SRC || k == CTA_IP_V4_DST) && v == ip)
    })
}

/// From a dump reply's attributes: the original tuple (whole) if the entry names `ip`.
fn matching_tuple(entry: &[u8], ip: [u8; 4]) -> Option<Vec<u8>> {
    let all = attrs(entry);
    let orig = all.iter().find(|(k, _, _)| *k == CTA_TUPLE_ORIG)?;
    let names =
        all.iter().any(|(k, _, v)| (*k == CTA_TUPLE_ORIG || *k == CTA_TUPLE_REPLY) && tuple_names(v, ip));
    names.then(|| orig.1.to_vec())
}

/// The messages in a receive buffer: (type, payload after the netlink header).
fn messages(buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 16 <= buf.len() {
        let len = u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]) as usize;
        let kind = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
        if len < 16 || off + len > buf.len() {
            break;
        }
        out.push((kind, &buf[off + 16..off + len]));
        off += (len + 3) & !3;
    }
    out
}

/// Delete every conntrack entry of this namespace that names `ip`; how many.
pub fn forget(ip: Ipv4Addr) -> Result<usize> {
    let mut socket = match Socket::new(NETLINK_NETFILTER) {
        Ok(s) => s,
        // No netfilter in this kernel: nothing is tracked.
        Err(e) if e.raw_os_error() == Some(libc::EPROTONOSUPPORT) => return Ok(0),
        Err(e) => return Err(e).ctx(|| "open a ctnetlink socket"),
    };
    socket.bind_auto().ctx(|| "bind the ctnetlink socket")?;
    socket.connect(&SocketAddr::new(0, 0)).ctx(|| "connect the ctnetlink socket")?;
    let octets = ip.octets();
    socket.send(&message(IPCTNL_MSG_CT_GET, NLM_F_DUMP, 1, &[]), 0).ctx(|| "list conntrack entries")?;
    let mut doomed = Vec::new();
    let mut rx = vec![0u8; 64 * 1024];
    'dump: loop {
        let n = socket.recv(&mut &mut rx[..], 0).ctx(|| "read conntrack entries")?;
        for (kind, payload) in messages(&rx[..n]) {
            match kind {
                NLMSG_DONE => break 'dump,
                NLMSG_ERROR => {
                    let code =
                        payload.get(..4).map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(0);
                    if code == 0 {
                        break 'dump;
                    }
                    return Err(Error::os(format!(
                        "list conntrack entries: {}",
                        nix::errno::Errno::from_raw(-code).desc()
                    )));
                }
                _ if payload.len() >= 4 => {
                    if let Some(t) = matching_tuple(&payload[4..], octets) {
                        doomed.push(t);
                    }
                }
                _ => {}
            }
        }
    }
    let mut deleted = 0;
    for (i, tuple) in doomed.iter().enumerate() {
        let seq = i as u32 + 2;
        socket
            .send(&message(IPCTNL_MSG_CT_DELETE, NLM_F_ACK, seq, tuple), 0)
            .ctx(|| "delete a conntrack entry")?;
        let n = socket.recv(&mut &mut rx[..], 0).ctx(|| "read the conntrack ack")?;
        for (kind, payload) in messages(&rx[..n]) {
            if kind == NLMSG_ERROR {
                let code =
                    payload.get(..4).map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(0);
                // ENOENT: it expired meanwhile.
                if code == 0 {
                    deleted += 1;
                } else if code != -libc::ENOENT {
                    return Err(Error::os(format!(
                        "delete a conntrack entry of {ip}: {}",
                        nix::errno::Errno::from_raw(-code).desc()
                    )));
                }
            }
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nla(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = ((4 + payload.len()) as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(payload);
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
        v
    }

    #[test]
    fn entries_naming_the_address_are_picked_by_either_tuple() {
        let tuple = |src: [u8; 4], dst: [u8; 4]| {
            nla(CTA_TUPLE_IP | 0x8000, &[nla(CTA_IP_V4_SRC, &src), nla(CTA_IP_V4_DST, &dst)].concat())
        };
        let host = [10, 0, 0, 1];
        let ctr = [172, 18, 0, 2];
        // A published port: the original tuple names the host, the reply the container.
        let entry = [
            nla(CTA_TUPLE_ORIG | 0x8000, &tuple(host, host)),
            nla(CTA_TUPLE_REPLY | 0x8000, &tuple(ctr, host)),
        ]
        .concat();
        let got = matching_tuple(&entry, ctr).expect("matches by the reply tuple");
        assert_eq!(got, nla(CTA_TUPLE_ORIG | 0x8000, &tuple(host, host)));
        assert!(matching_tuple(&entry, [172, 18, 0, 3]).is_none());
    }
}
