//! IPv4 subnets: parsing `A.B.C.D/N`, overlap, the n-th host.

use super::super::error::{Error, Result};
use std::net::Ipv4Addr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    /// `10.1.0.0/24`; host bits must be zero (`10.1.0.1/24` names an address, not a subnet).
    pub fn parse(s: &str) -> Result<Cidr> {
        let bad = || Error::invalid(format!("invalid subnet {s:?}: use an IPv4 network like 10.89.0.0/24"));
        let (ip, prefix) = s.split_once('/').ok_or_else(bad)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        let c = Cidr { network: ip, prefix };
        if u32::from(ip) & !c.mask() != 0 {
            return Err(Error::invalid(format!(
                "invalid subnet {s}: it has host bits set (the network is {}/{prefix})",
                Ipv4Addr::from(u32::from(ip) & c.mask())
            )));
        }
        Ok(c)
    }

    pub fn mask(&self) -> u32 {
        if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network)
    }

    pub fn overlaps(&self, other: &Cidr) -> bool {
        let m = self.mask() & other.mask();
        u32::from(self.network) & m == u32::from(other.network) & m
    }

    /// Addresses in the subnet, the network and broadcast addresses included.
    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix as u32)
    }

    /// The `n`-th address (0 is the network address).
    pub fn nth(&self, n: u64) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network).wrapping_add(n as u32))
    }

    /// Can `ip` be a host's (not the network or broadcast address)?
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        if !self.contains(ip) {
            return false;
        }
        let off = (u32::from(ip) - u32::from(self.network)) as u64;
        self.prefix >= 31 || (off != 0 && off != self.size() - 1)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Parse an IPv4 address, naming `what` in the error.
pub fn parse_ip(what: &str, s: &str) -> Result<Ipv4Addr> {
    s.parse().map_err(|_| Error::invalid(format!("invalid {what} {s:?}: use an IPv4 address like 10.89.0.5")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_overlap() {
        let a = Cidr::parse("10.89.0.0/24").expect("parse");
        assert_eq!(a.size(), 256);
        assert_eq!(a.nth(1), Ipv4Addr::new(10, 89, 0, 1));
        assert!(a.contains(Ipv4Addr::new(10, 89, 0, 200)));
        assert!(!a.contains(Ipv4Addr::new(10, 89, 1, 1)));
        assert!(a.overlaps(&Cidr::parse("10.0.0.0/8").expect("parse")));
        assert!(!a.overlaps(&Cidr::parse("10.89.1.0/24").expect("parse")));
        assert!(a.is_host(Ipv4Addr::new(10, 89, 0, 1)));
        assert!(!a.is_host(Ipv4Addr::new(10, 89, 0, 255)));
        assert!(!a.is_host(Ipv4Addr::new(10, 89, 0, 0)));
        for bad in ["10.89.0.1/24", "10.89.0.0", "10.89.0.0/33", "x/8", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
