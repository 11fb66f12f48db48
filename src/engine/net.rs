//! `net::` — networks, address leases, bridges, veths and NAT (runtime/net/).
//! The defaults (the `bridge` network, the subnet pool, names) and the order
//! are `stdlib/network.rhai`'s. Functions that change a bridge, the NAT
//! table or members' files expect the caller to hold `net::lock()`.

use super::{RhaiResult, at, context, from_dyn, rt, to_dyn};
use crate::runtime::net::{self, store::Lease, store::LeaseRequest, store::NetStore, store::Network};
use rhai::Map;
use rhai::plugin::*;

/// The held network lock; released when the last copy is dropped.
#[derive(Clone)]
pub struct NetLock(#[allow(dead_code)] std::rc::Rc<nix::fcntl::Flock<std::fs::File>>);

fn store() -> NetStore {
    NetStore::new(&context().data_root)
}

fn lease(m: Map) -> RhaiResult<Lease> {
    from_dyn("lease", Dynamic::from_map(m))
}

#[export_module]
mod api {
    use super::*;

    /// Where networks and leases are kept: `<data-root>/networks`.
    pub fn store_dir() -> String {
        store().dir().display().to_string()
    }

    /// Take the lock over bridges, the NAT table and members' /etc/hosts.
    #[rhai_fn(return_raw)]
    pub fn lock(ctx: NativeCallContext) -> RhaiResult<NetLock> {
        at(&ctx, || Ok(NetLock(std::rc::Rc::new(rt(store().lock())?))))
    }

    /// Every network record, by name.
    #[rhai_fn(return_raw)]
    pub fn networks(ctx: NativeCallContext) -> RhaiResult<Dynamic> {
        at(&ctx, || to_dyn(&rt(store().list())?))
    }

    /// The record of network `name`; throws kind `not_found`.
    #[rhai_fn(return_raw)]
    pub fn network(ctx: NativeCallContext, name: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || to_dyn(&rt(store().load(name))?))
    }

    /// Record a network `#{name, bridge, subnet, gateway, internal, labels,
    /// mtu}` (a new id and the time are added); throws kind `conflict` when
    /// the name is taken, `invalid` for a bad subnet or a gateway outside it.
    #[rhai_fn(return_raw)]
    pub fn create(ctx: NativeCallContext, spec: Map) -> RhaiResult<Dynamic> {
        at(&ctx, || {
            let mut m = spec;
            m.insert("id".into(), rt(crate::runtime::sys::new_id())?.into());
            m.insert("created".into(), crate::runtime::sys::now_rfc3339().into());
            if !m.contains_key("driver") {
                m.insert("driver".into(), "bridge".into());
            }
            let n: Network = from_dyn("network", Dynamic::from_map(m))?;
            let subnet = rt(net::cidr::Cidr::parse(&n.subnet))?;
            let gw = rt(net::cidr::parse_ip("gateway", &n.gateway))?;
            if !subnet.is_host(gw) {
                return Err(format!("invalid gateway {gw}: not a host address of the subnet {subnet}").into());
            }
            if n.bridge.is_empty() || n.bridge.len() > 15 {
                return Err(format!("invalid bridge name {:?}: 1 to 15 characters", n.bridge).into());
            }
            let st = store();
            for other in rt(st.list())? {
                if rt(net::cidr::Cidr::parse(&other.subnet))?.overlaps(&subnet) {
                    return Err(crate::engine::to_rhai(crate::runtime::error::Error::new(
                        crate::runtime::error::Kind::Conflict,
                        format!("subnet {subnet} overlaps network {} ({})", other.name, other.subnet),
                    )));
                }
            }
            rt(st.create(&n))?;
            to_dyn(&n)
        })
    }

    /// Forget network `name`; throws kind `conflict` while containers use it.
    #[rhai_fn(return_raw)]
    pub fn remove(ctx: NativeCallContext, name: &str) -> RhaiResult<()> {
        at(&ctx, || rt(store().remove(name)))
    }

    /// The first subnet of `pool` (CIDRs) that overlaps no route or address
    /// here and no network; throws kind `conflict` when none is free.
    #[rhai_fn(return_raw)]
    pub fn free_subnet(ctx: NativeCallContext, pool: rhai::Array) -> RhaiResult<String> {
        at(&ctx, || {
            let pool: Vec<String> = pool.into_iter().map(|p| p.to_string()).collect();
            rt(net::free_subnet(&store(), &pool))
        })
    }

    /// Check a subnet (`10.89.0.0/24`); returns it, throws kind `invalid`.
    #[rhai_fn(return_raw)]
    pub fn parse_subnet(ctx: NativeCallContext, s: &str) -> RhaiResult<String> {
        at(&ctx, || rt(net::cidr::Cidr::parse(s)).map(|c| c.to_string()))
    }

    /// The `n`-th address of a subnet (1: the usual gateway).
    #[rhai_fn(return_raw)]
    pub fn nth_address(ctx: NativeCallContext, subnet: &str, n: i64) -> RhaiResult<String> {
        at(&ctx, || {
            let c = rt(net::cidr::Cidr::parse(subnet))?;
            if n < 0 || n as u64 >= c.size() {
                return Err(format!("subnet {subnet} has no address number {n}").into());
            }
            Ok(c.nth(n as u64).to_string())
        })
    }

    /// Check an IPv4 address; throws kind `invalid` naming `what`.
    #[rhai_fn(return_raw)]
    pub fn parse_ip(ctx: NativeCallContext, what: &str, s: &str) -> RhaiResult<String> {
        at(&ctx, || rt(net::cidr::parse_ip(what, s)).map(|i| i.to_string()))
    }

    /// Check a MAC address for an interface; throws kind `invalid`.
    #[rhai_fn(return_raw)]
    pub fn parse_mac(ctx: NativeCallContext, s: &str) -> RhaiResult<String> {
        at(&ctx, || rt(net::netlink::parse_mac(s)).map(|_| s.to_lowercase()))
    }

    /// An address on network `name` for `#{container_id, container,
    /// aliases, ip, mac, ifname, ports}`: the lease (`#{ip, prefix, gateway,
    /// mac, bridge, host_if, ifname, ...}`). Race-free without the lock.
    #[rhai_fn(return_raw)]
    pub fn allocate(ctx: NativeCallContext, name: &str, request: Map) -> RhaiResult<Dynamic> {
        at(&ctx, || {
            let req: LeaseRequest = from_dyn("lease request", Dynamic::from_map(request))?;
            to_dyn(&rt(store().allocate(name, &req))?)
        })
    }

    /// Give up container `container_id`'s address on network `name`; the
    /// lease it had, or `()`. Idempotent.
    #[rhai_fn(return_raw)]
    pub fn release(ctx: NativeCallContext, name: &str, container_id: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || match rt(store().release(name, container_id))? {
            Some(l) => to_dyn(&l),
            None => Ok(Dynamic::UNIT),
        })
    }

    /// Name container `container_id`'s lease on network `name` after
    /// `container` (its new name); the lease, or `()`. Hold `net::lock()`.
    #[rhai_fn(return_raw)]
    pub fn rename_lease(
        ctx: NativeCallContext,
        name: &str,
        container_id: &str,
        container: &str,
    ) -> RhaiResult<Dynamic> {
        at(&ctx, || match rt(store().rename_lease(name, container_id, container))? {
            Some(l) => to_dyn(&l),
            None => Ok(Dynamic::UNIT),
        })
    }

    /// The leases on network `name` (its members), by address.
    #[rhai_fn(return_raw)]
    pub fn leases(ctx: NativeCallContext, name: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || to_dyn(&rt(store().leases(name))?))
    }

    /// Make network `name`'s bridge unless it is there (address, up,
    /// route_localnet, ip_forward); returns the network record.
    #[rhai_fn(return_raw)]
    pub fn ensure_bridge(ctx: NativeCallContext, name: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || to_dyn(&rt(net::ensure_bridge(&store(), name))?))
    }

    /// Remove network `name`'s bridge if mydocker made it and nothing is
    /// attached; true when it is gone.
    #[rhai_fn(return_raw)]
    pub fn remove_bridge(ctx: NativeCallContext, name: &str) -> RhaiResult<bool> {
        at(&ctx, || rt(net::remove_bridge(&store(), name)))
    }

    /// Plug process `pid`'s network namespace into `lease`'s bridge: a veth
    /// pair (peer made in the namespace), address, up, and with
    /// `default_route` the route through the gateway.
    #[rhai_fn(return_raw)]
    pub fn attach(ctx: NativeCallContext, pid: i64, lease: Map, default_route: bool) -> RhaiResult<()> {
        at(&ctx, || rt(net::attach(pid as i32, &super::lease(lease)?, default_route)))
    }

    /// Unplug `lease`'s veth; idempotent.
    #[rhai_fn(return_raw)]
    pub fn detach(ctx: NativeCallContext, lease: Map) -> RhaiResult<()> {
        at(&ctx, || rt(net::detach(&super::lease(lease)?)))
    }

    /// A free port of this namespace for `proto` (`tcp`, `udp`), as the
    /// kernel picks an ephemeral one.
    #[rhai_fn(return_raw)]
    pub fn free_port(ctx: NativeCallContext, proto: &str) -> RhaiResult<i64> {
        at(&ctx, || {
            let port = match proto {
                "udp" => std::net::UdpSocket::bind("0.0.0.0:0").and_then(|s| s.local_addr()),
                _ => std::net::TcpListener::bind("0.0.0.0:0").and_then(|s| s.local_addr()),
            };
            port.map(|a| a.port() as i64).map_err(|e| format!("find a free {proto} port: {e}").into())
        })
    }

    /// Delete the conntrack entries naming address `ip` (a released lease's);
    /// returns how many.
    #[rhai_fn(return_raw)]
    pub fn forget_connections(ctx: NativeCallContext, ip: &str) -> RhaiResult<i64> {
        at(&ctx, || {
            let ip = rt(net::cidr::parse_ip("address", ip))?;
            rt(net::conntrack::forget(ip)).map(|n| n as i64)
        })
    }

    /// Load the NAT table rendered from the networks and leases, if it changed.
    #[rhai_fn(return_raw)]
    pub fn sync_nat(ctx: NativeCallContext) -> RhaiResult<()> {
        at(&ctx, || rt(net::sync_nat(&store())))
    }

    /// The interfaces in process `pid`'s network namespace (0: mydocker's):
    /// `[#{index, name, mtu, mac, up, master, kind, addresses: ["ip/prefix"]}]`.
    #[rhai_fn(return_raw)]
    pub fn interfaces(ctx: NativeCallContext, pid: i64) -> RhaiResult<Dynamic> {
        at(&ctx, || {
            let mut out = rhai::Array::new();
            for (l, addrs) in rt(net::interfaces(pid as i32))? {
                let mut m: Map = to_dyn(&l)?.cast::<Map>();
                let a: rhai::Array =
                    addrs.iter().map(|a| Dynamic::from(format!("{}/{}", a.address, a.prefix))).collect();
                m.insert("addresses".into(), Dynamic::from_array(a));
                out.push(Dynamic::from_map(m));
            }
            Ok(Dynamic::from_array(out))
        })
    }
}

pub fn module() -> Module {
    exported_module!(api)
}
