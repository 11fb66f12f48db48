//! NAT and isolation: one nftables table of our own, `ip mydocker`, never a
//! rule in another tool's chains. The table is rendered whole from the
//! networks and leases (a pure function, tested below) and replaced in one
//! `nft -f -` transaction: idempotent, self-healing after a crash, and no
//! rule handles to track. Rules carry the container id or network name as a
//! comment.
//!
//! Why `nft` is executed rather than spoken to over netlink: Rust has no
//! well-kept crate for nftables' netlink messages without libnftnl
//! (netavark too drives nftables through the `nft` program, with JSON), and
//! encoding expressions by hand is a project of its own. It runs only when
//! the table changes (a bridge made or removed, ports published), not for
//! every container.

use super::super::error::{Context, Error, Result};
use super::store::{Lease, Network};
use std::io::Write;
use std::process::{Command, Stdio};

pub const TABLE: &str = "mydocker";

/// The whole table for these networks (those whose bridge is up) and leases.
pub fn render(nets: &[Network], leases: &[Lease]) -> String {
    let mut t = format!("add table ip {TABLE}\ndelete table ip {TABLE}\n");
    if nets.is_empty() {
        return t;
    }
    t += &format!("table ip {TABLE} {{\n");
    t += "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump ports\n  }\n";
    t += "  chain output {\n    type nat hook output priority -100; policy accept;\n    fib daddr type local jump ports\n  }\n";
    // route_localnet lets the host take 127/8 from a bridge (for published
    // ports on 127.0.0.1); nothing but our own DNAT'd loopback traffic may
    // use that, or a container could reach the host's loopback services
    // (CVE-2020-8558). Before conntrack and NAT: raw priority.
    t += "  chain guard {\n    type filter hook prerouting priority raw; policy accept;\n";
    for n in nets {
        t += &format!(
            "    iifname \"{b}\" ip daddr 127.0.0.0/8 drop comment \"network {name}\"\n",
            b = n.bridge,
            name = n.name
        );
    }
    t += "  }\n";
    t += "  chain ports {\n";
    for l in leases {
        for p in &l.ports {
            let dst = if p.host_ip.is_empty() || p.host_ip == "0.0.0.0" {
                String::new()
            } else {
                format!("ip daddr {} ", p.host_ip)
            };
            t += &format!(
                "    {dst}{proto} dport {hp} dnat to {ip}:{cp} comment \"{id}\"\n",
                proto = p.proto,
                hp = p.host_port,
                ip = l.ip,
                cp = p.container_port,
                id = l.container_id
            );
        }
    }
    t += "  }\n";
    t += "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n";
    for n in nets {
        if !n.internal {
            t += &format!(
                "    ip saddr {s} oifname != \"{b}\" masquerade comment \"network {name}\"\n",
                s = n.subnet,
                b = n.bridge,
                name = n.name
            );
        }
        // A published port reached from the host's loopback, or from the
        // bridge itself (another container, or the container itself: hairpin).
        t += &format!(
            "    oifname \"{b}\" ip saddr 127.0.0.0/8 masquerade comment \"network {name}\"\n",
            b = n.bridge,
            name = n.name
        );
        t += &format!(
            "    oifname \"{b}\" ip saddr {s} ct status dnat masquerade comment \"network {name}\"\n",
            b = n.bridge,
            s = n.subnet,
            name = n.name
        );
    }
    t += "  }\n";
    t += "  chain forward {\n    type filter hook forward priority filter; policy accept;\n";
    for n in nets.iter().filter(|n| n.internal) {
        t += &format!(
            "    iifname \"{b}\" oifname != \"{b}\" drop comment \"network {name}\"\n    oifname \"{b}\" iifname != \"{b}\" drop comment \"network {name}\"\n",
            b = n.bridge,
            name = n.name
        );
    }
    t += "  }\n}\n";
    t
}

fn nft_path() -> &'static str {
    ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("nft")
}

/// Load `ruleset` with `nft -f -`: all of it or nothing.
pub fn apply(ruleset: &str) -> Result<()> {
    let mut child = Command::new(nft_path())
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .ctx(|| "run nft (nftables) for the NAT rules")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(ruleset.as_bytes()).ctx(|| "write the NAT rules to nft")?;
    }
    let out = child.wait_with_output().ctx(|| "wait for nft")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().find(|l| l.starts_with("Error")).unwrap_or(err.trim());
        return Err(Error::os(format!("nft: {first}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::store::Port;
    use super::*;

    fn net(internal: bool) -> Network {
        Network {
            name: "web".into(),
            id: "0123".into(),
            driver: "bridge".into(),
            bridge: "mydk-0123".into(),
            subnet: "10.89.3.0/24".into(),
            gateway: "10.89.3.1".into(),
            internal,
            labels: Default::default(),
            mtu: 1500,
            created: String::new(),
            bridge_made: true,
        }
    }

    #[test]
    fn the_table_is_replaced_whole_and_goes_when_empty() {
        let empty = render(&[], &[]);
        assert_eq!(empty, "add table ip mydocker\ndelete table ip mydocker\n");
        let lease = Lease {
            network: "web".into(),
            container_id: "c0ffee".into(),
            container: "srv".into(),
            aliases: vec![],
            ip: "10.89.3.2".into(),
            prefix: 24,
            gateway: "10.89.3.1".into(),
            mac: String::new(),
            bridge: "mydk-0123".into(),
            host_if: "vc0ffee".into(),
            ifname: "eth0".into(),
            mtu: 1500,
            ports: vec![
                Port { proto: "tcp".into(), host_ip: String::new(), host_port: 8080, container_port: 80 },
                Port {
                    proto: "udp".into(),
                    host_ip: "127.0.0.1".into(),
                    host_port: 53,
                    container_port: 5353,
                },
            ],
        };
        let t = render(&[net(false)], &[lease]);
        assert!(t.starts_with("add table ip mydocker\ndelete table ip mydocker\ntable ip mydocker {"));
        assert!(t.contains("    tcp dport 8080 dnat to 10.89.3.2:80 comment \"c0ffee\"\n"));
        assert!(
            t.contains("    ip daddr 127.0.0.1 udp dport 53 dnat to 10.89.3.2:5353 comment \"c0ffee\"\n")
        );
        assert!(t.contains("ip saddr 10.89.3.0/24 oifname != \"mydk-0123\" masquerade"));
        assert!(t.contains("iifname \"mydk-0123\" ip daddr 127.0.0.0/8 drop"));
        assert!(!t.contains("oifname != \"mydk-0123\" drop"));
        let internal = render(&[net(true)], &[]);
        assert!(!internal.contains("oifname != \"mydk-0123\" masquerade"));
        assert!(internal.contains("iifname \"mydk-0123\" oifname != \"mydk-0123\" drop"));
    }
}
