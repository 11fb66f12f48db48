//! Container networking, by concern:
//!
//! - `netlink.rs`: rtnetlink requests, synchronously, in any namespace;
//! - `cidr.rs`: IPv4 subnets;
//! - `store.rs`: the networks and their address leases (IPAM);
//! - `nat.rs`: the one nftables table of ours;
//! - `conntrack.rs`: forgetting a released address's connections;
//! - here: bridges, a container's veth (setup and teardown as mirror images),
//!   the sysctls they need.
//!
//! The order (allocate, bridge, veth, NAT, /etc/hosts) is the scripts'
//! (`stdlib/network.rhai`).

pub mod cidr;
pub mod conntrack;
pub mod nat;
pub mod netlink;
pub mod store;

use super::error::{Context, Error, Result};
use cidr::{Cidr, parse_ip};
use netlink::Netlink;
use std::fs;
use store::{Lease, NetStore, Network};

fn write_sysctl(path: &str, value: &str) -> Result<()> {
    fs::write(path, value).ctx(|| format!("write {value} to {path}"))
}

fn read_sysctl(path: &str) -> Result<String> {
    fs::read_to_string(path).map(|s| s.trim().to_string()).ctx(|| format!("read {path}"))
}

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
/// Present while ip_forward is 1 because we set it (it was 0).
const FORWARD_MARK: &str = ".ip_forward_was_0";

/// The alias that marks a bridge as network `net`'s, made by mydocker: on
/// the interface itself, so a crash between making it and recording it
/// cannot make ours look foreign (or the reverse).
fn owner_alias(net: &Network) -> String {
    format!("mydocker network {}", net.id)
}

/// Make network `name`'s bridge unless it is there: its gateway address, up,
/// `route_localnet` (published ports reached on 127.0.0.1), forwarding on.
/// A bridge of that name that is not ours is used as it is, never changed.
/// One of ours whose set-up was cut short is set up again. Hold the network lock.
pub fn ensure_bridge(store: &NetStore, name: &str) -> Result<Network> {
    let mut net = store.load(name)?;
    let alias = owner_alias(&net);
    let mut nl = Netlink::open()?;
    let fresh = match nl.link(&net.bridge)? {
        Some(l) if l.alias != alias || net.bridge_made => return Ok(net),
        Some(_) => false,
        None => {
            // A locally administered MAC from the network's id.
            let hex: Vec<String> =
                (0..5).map(|i| net.id.get(2 * i..2 * i + 2).unwrap_or("00").to_string()).collect();
            nl.create_bridge(&net.bridge, net.mtu, &format!("02:{}", hex.join(":")), &alias)?;
            true
        }
    };
    let subnet = Cidr::parse(&net.subnet)?;
    let gateway = parse_ip("gateway", &net.gateway)?;
    net.bridge_made = true;
    let configured = (|| {
        let link =
            nl.link(&net.bridge)?.ok_or_else(|| Error::os(format!("bridge {} vanished", net.bridge)))?;
        match nl.add_address(link.index, gateway, subnet.prefix) {
            Err(e) if !fresh && e.errno == Some(libc::EEXIST) => {}
            other => other?,
        }
        write_sysctl(&format!("/proc/sys/net/ipv4/conf/{}/route_localnet", net.bridge), "1")?;
        // IPv4 only: no link-local address or router solicitations on it
        // (best effort: a kernel without IPv6 has no such file).
        let _ = write_sysctl(&format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", net.bridge), "1");
        nl.set_up(link.index)?;
        if read_sysctl(IP_FORWARD)? == "0" {
            fs::write(store.dir().join(FORWARD_MARK), "").ctx(|| "record the ip_forward change")?;
            write_sysctl(IP_FORWARD, "1")?;
        }
        store.save(&net)
    })();
    if let Err(e) = configured {
        if fresh {
            let _ = nl.delete_link(&net.bridge);
        }
        return Err(e);
    }
    sync_nat(store)?;
    Ok(net)
}

/// Remove network `name`'s bridge if mydocker made it and nothing is
/// attached to it; then ip_forward back to 0 if we set it and no bridge of
/// ours is left. True when the bridge is gone. Hold the network lock.
pub fn remove_bridge(store: &NetStore, name: &str) -> Result<bool> {
    let mut net = store.load(name)?;
    let mut nl = Netlink::open()?;
    let links = nl.links()?;
    if let Some(br) = links.iter().find(|l| l.name == net.bridge) {
        if br.alias != owner_alias(&net) {
            return Ok(false);
        }
        // A veth of an ended container may still be here a moment: its
        // namespace is torn down in the background. No lease: it is stale.
        let mut held = std::collections::HashSet::new();
        for n in store.list()? {
            held.extend(store.leases(&n.name)?.into_iter().map(|l| l.host_if));
        }
        let ports: Vec<&netlink::Link> = links.iter().filter(|l| l.master == br.index).collect();
        if ports.iter().any(|p| !is_our_veth(&p.name) || held.contains(&p.name)) {
            return Ok(false);
        }
        for p in ports {
            nl.delete_link(&p.name)?;
        }
        nl.delete_link(&net.bridge)?;
    }
    if net.bridge_made {
        net.bridge_made = false;
        store.save(&net)?;
    }
    sync_nat(store)?;
    let ours_left = store.list()?.iter().any(|n| n.bridge_made);
    let mark = store.dir().join(FORWARD_MARK);
    if !ours_left && mark.exists() {
        write_sysctl(IP_FORWARD, "0")?;
        fs::remove_file(&mark).ctx(|| format!("remove {}", mark.display()))?;
    }
    Ok(true)
}

/// Named as `store::allocate` names a container's veth: `v` and 14 hex digits.
fn is_our_veth(name: &str) -> bool {
    name.len() == 15 && name.starts_with('v') && name[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Render the NAT table from the networks whose bridge mydocker made and
/// their leases; load it when it differs from what was last loaded.
pub fn sync_nat(store: &NetStore) -> Result<()> {
    let nets: Vec<Network> = store.list()?.into_iter().filter(|n| n.bridge_made).collect();
    let mut leases = Vec::new();
    for n in &nets {
        leases.extend(store.leases(&n.name)?);
    }
    let text = nat::render(&nets, &leases);
    let cache = store.dir().join(".nat");
    let last = fs::read_to_string(&cache).ok();
    if last.as_deref() == Some(text.as_str()) || (last.is_none() && nets.is_empty()) {
        return Ok(());
    }
    // Forget the cache first: a crash between the two never leaves it lying.
    let _ = fs::remove_file(&cache);
    nat::apply(&text)?;
    if nets.is_empty() {
        return Ok(());
    }
    fs::write(&cache, &text).ctx(|| format!("write {}", cache.display()))
}

/// Plug the container of process `pid` into its lease's bridge: a veth pair
/// made in one message with the peer straight in the container's namespace,
/// then (over a socket opened there) its address, up, and the default route
/// through the gateway when `default_route`. On failure nothing is left.
pub fn attach(pid: i32, lease: &Lease, default_route: bool) -> Result<()> {
    let ip = parse_ip("address", &lease.ip)?;
    let gateway = parse_ip("gateway", &lease.gateway)?;
    let mut nl = Netlink::open()?;
    let bridge = nl.link(&lease.bridge)?.ok_or_else(|| {
        Error::not_found(format!("bridge {} of network {} is not there", lease.bridge, lease.network))
    })?;
    let netns = fs::File::open(format!("/proc/{pid}/ns/net")).ctx(|| format!("open /proc/{pid}/ns/net"))?;
    let mac = (!lease.mac.is_empty()).then_some(lease.mac.as_str());
    match nl.create_veth(&lease.host_if, bridge.index, &lease.ifname, &netns, lease.mtu, mac) {
        // The same container's previous veth (a restart), its old namespace
        // still being torn down in the background: ours by name, so go on.
        Err(e) if e.errno == Some(libc::EEXIST) => {
            nl.delete_link(&lease.host_if)?;
            nl.create_veth(&lease.host_if, bridge.index, &lease.ifname, &netns, lease.mtu, mac)?;
        }
        other => other?,
    }
    let inside = (|| {
        nl.set_hairpin(&lease.host_if)?;
        let mut cn = Netlink::open_in(pid)?;
        let link = cn
            .link(&lease.ifname)?
            .ok_or_else(|| Error::os(format!("{} did not appear in the container", lease.ifname)))?;
        cn.add_address(link.index, ip, lease.prefix)?;
        cn.set_up(link.index)?;
        if default_route {
            cn.add_default_route(gateway, link.index)?;
        }
        Ok(())
    })();
    if inside.is_err() {
        let _ = nl.delete_link(&lease.host_if);
    }
    inside
}

/// Unplug a lease's veth (its peer goes with it); idempotent. Only an
/// interface named after the lease's container (`v` and the start of its
/// id): a record must never make us delete another interface.
pub fn detach(lease: &Lease) -> Result<()> {
    let own = lease.container_id.len() >= 10
        && lease.host_if.len() <= 15
        && lease
            .host_if
            .strip_prefix('v')
            .is_some_and(|rest| lease.container_id.get(..10).is_some_and(|p| rest.starts_with(p)));
    if !own {
        return Err(Error::invalid(format!(
            "refusing to delete interface {:?}: not the veth of container {}",
            lease.host_if, lease.container_id
        )));
    }
    Netlink::open()?.delete_link(&lease.host_if)
}

/// The first subnet of `pool` that overlaps no route or address of this
/// namespace and no network in `store`.
pub fn free_subnet(store: &NetStore, pool: &[String]) -> Result<String> {
    let mut nl = Netlink::open()?;
    let mut used: Vec<Cidr> = Vec::new();
    for r in nl.routes()? {
        if r.prefix > 0
            && let Ok(ip) = r.destination.parse()
        {
            used.push(Cidr { network: ip, prefix: r.prefix });
        }
    }
    for a in nl.addresses()? {
        if let Ok(ip) = a.address.parse::<std::net::Ipv4Addr>() {
            let m = if a.prefix == 0 { 0 } else { u32::MAX << (32 - a.prefix) };
            used.push(Cidr { network: (u32::from(ip) & m).into(), prefix: a.prefix });
        }
    }
    for n in store.list()? {
        used.push(Cidr::parse(&n.subnet)?);
    }
    for s in pool {
        let c = Cidr::parse(s)?;
        if !used.iter().any(|u| u.overlaps(&c)) {
            return Ok(c.to_string());
        }
    }
    Err(Error::new(
        super::error::Kind::Conflict,
        "no free subnet in the pool: every one overlaps a route or a network; use --subnet",
    ))
}

/// The interfaces of process `pid`'s network namespace (0: our own), each
/// with its IPv4 addresses.
pub fn interfaces(pid: i32) -> Result<Vec<(netlink::Link, Vec<netlink::Addr>)>> {
    let mut nl = if pid == 0 { Netlink::open()? } else { Netlink::open_in(pid)? };
    let addrs = nl.addresses()?;
    Ok(nl
        .links()?
        .into_iter()
        .map(|l| {
            let a = addrs.iter().filter(|a| a.index == l.index).cloned().collect();
            (l, a)
        })
        .collect())
}
