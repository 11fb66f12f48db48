//! Networks and their address leases, under `<data-root>/networks/`:
//!
//! - `<name>/network.json`: the network (replaced whole: temp file, rename);
//! - `<name>/leases/<ip>`: one file per address in use, naming the
//!   container. A lease is made by `link(2)` of a complete temp file to the
//!   address's name: of concurrent allocations of one address exactly one
//!   wins, and no reader ever sees half a lease;
//! - `.lock`: one lock for changes that span several files (a bridge and its
//!   ports, the NAT table, the members' /etc/hosts), taken by the scripts.
//!
//! Directories 0700, files 0600. Here, not in the state root: a network
//! outlives its containers, and the state root holds only containers.

use super::super::error::{Context, Error, Kind, Result};
use super::cidr::{Cidr, parse_ip};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub id: String,
    #[serde(default = "bridge_driver")]
    pub driver: String,
    /// The Linux bridge's name.
    pub bridge: String,
    pub subnet: String,
    pub gateway: String,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub mtu: u32,
    #[serde(default)]
    pub created: String,
    /// mydocker made the bridge (so may remove it); false for one that was there.
    #[serde(default)]
    pub bridge_made: bool,
}

fn bridge_driver() -> String {
    "bridge".into()
}

/// A published port: `host_ip` empty for every local address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Port {
    pub proto: String,
    #[serde(default)]
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
}

/// An address a container holds on a network, and how it is plugged in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lease {
    pub network: String,
    pub container_id: String,
    /// The container's name and aliases: what other members resolve.
    pub container: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub ip: String,
    pub prefix: u8,
    pub gateway: String,
    pub mac: String,
    pub bridge: String,
    /// The veth end on the host, and the interface in the container.
    pub host_if: String,
    pub ifname: String,
    #[serde(default)]
    pub mtu: u32,
    #[serde(default)]
    pub ports: Vec<Port>,
}

/// What a container asks of a network.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LeaseRequest {
    pub container_id: String,
    pub container: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// A fixed address (`--ip`), else the lowest free one.
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub mac: Option<String>,
    #[serde(default)]
    pub ifname: Option<String>,
    #[serde(default)]
    pub ports: Vec<Port>,
}

pub struct NetStore {
    dir: PathBuf,
}

/// Network names: as container names, and short enough for messages.
pub fn validate_network_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid network name {name:?}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 64"
        )))
    }
}

fn private_dir(p: &Path) -> Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).ctx(|| format!("create {}", p.display())),
    }
}

fn write_new(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .ctx(|| format!("create {}", path.display()))?;
    f.write_all(data).ctx(|| format!("write {}", path.display()))
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| Error::os(format!("encode: {e}")))
}

impl NetStore {
    pub fn new(data_root: &Path) -> NetStore {
        NetStore { dir: data_root.join("networks") }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn net_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn leases_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("leases")
    }

    fn ensure_root(&self) -> Result<()> {
        if let Some(parent) = self.dir.parent() {
            fs::create_dir_all(parent).ctx(|| format!("create {}", parent.display()))?;
        }
        private_dir(&self.dir)
    }

    /// The lock over every network's bridge, NAT rules and members' files.
    pub fn lock(&self) -> Result<Flock<File>> {
        self.ensure_root()?;
        let path = self.dir.join(".lock");
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&path)
            .ctx(|| format!("open {}", path.display()))?;
        Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::os(format!("lock {}: {}", path.display(), e.desc())))
    }

    /// Record a new network; kind `conflict` if the name is taken.
    pub fn create(&self, net: &Network) -> Result<()> {
        validate_network_name(&net.name)?;
        self.ensure_root()?;
        // Filled under a hidden name, renamed into place: never half a network.
        let tmp = self.dir.join(format!(".new-{}-{}", net.name, std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        private_dir(&tmp)?;
        let filled = write_new(&tmp.join("network.json"), &to_json(net)?)
            .and_then(|_| private_dir(&tmp.join("leases")));
        let placed = filled.and_then(|_| {
            nix::fcntl::renameat2(
                nix::fcntl::AT_FDCWD,
                &tmp,
                nix::fcntl::AT_FDCWD,
                &self.net_dir(&net.name),
                nix::fcntl::RenameFlags::RENAME_NOREPLACE,
            )
            .map_err(|e| {
                if e == nix::errno::Errno::EEXIST {
                    Error::new(Kind::Conflict, format!("network with name {} already exists", net.name))
                } else {
                    Error::os(format!("create network {}: {}", net.name, e.desc()))
                }
            })
        });
        if placed.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        placed
    }

    pub fn load(&self, name: &str) -> Result<Network> {
        validate_network_name(name)?;
        let path = self.net_dir(name).join("network.json");
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::not_found(format!("network {name} not found")));
            }
            Err(e) => return Err(e).ctx(|| format!("read {}", path.display())),
        };
        serde_json::from_slice(&text)
            .map_err(|e| Error::os(format!("bad network record {}: {e}", path.display())))
    }

    /// Replace a network's record (its name is its place).
    pub fn save(&self, net: &Network) -> Result<()> {
        let path = self.net_dir(&net.name).join("network.json");
        let tmp = path.with_extension(format!("json.tmp.{}", std::process::id()));
        let r = write_new(&tmp, &to_json(net)?).and_then(|_| {
            fs::rename(&tmp, &path).ctx(|| format!("rename {} to {}", tmp.display(), path.display()))
        });
        if r.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        r
    }

    /// Every network, by name.
    pub fn list(&self) -> Result<Vec<Network>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).ctx(|| format!("read {}", self.dir.display())),
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            match self.load(&name) {
                Ok(n) => out.push(n),
                Err(e) if e.kind == Kind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Forget a network; refused (kind `conflict`) while a container holds an address on it.
    pub fn remove(&self, name: &str) -> Result<()> {
        self.load(name)?;
        let users = self.leases(name)?;
        if let Some(l) = users.first() {
            return Err(Error::new(
                Kind::Conflict,
                format!("network {name} has active endpoints (container {})", l.container),
            ));
        }
        let dir = self.net_dir(name);
        let doomed = self.dir.join(format!(".rm-{name}-{}", std::process::id()));
        fs::rename(&dir, &doomed).ctx(|| format!("rename {}", dir.display()))?;
        fs::remove_dir_all(&doomed).ctx(|| format!("remove {}", doomed.display()))
    }

    /// The leases on network `name`, by address.
    pub fn leases(&self, name: &str) -> Result<Vec<Lease>> {
        validate_network_name(name)?;
        let dir = self.leases_dir(name);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).ctx(|| format!("read {}", dir.display())),
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let fname = e.file_name().to_string_lossy().into_owned();
            if fname.starts_with('.') {
                continue;
            }
            let Ok(text) = fs::read(e.path()) else { continue };
            if let Ok(l) = serde_json::from_slice::<Lease>(&text) {
                out.push(l);
            }
        }
        out.sort_by_key(|l| l.ip.parse::<std::net::Ipv4Addr>().map(u32::from).unwrap_or(0));
        Ok(out)
    }

    /// An address on network `name` for a container: the requested one, or
    /// the lowest free host address. Race-free without the lock.
    pub fn allocate(&self, name: &str, req: &LeaseRequest) -> Result<Lease> {
        let net = self.load(name)?;
        let subnet = Cidr::parse(&net.subnet)?;
        let gateway = parse_ip("gateway", &net.gateway)?;
        let existing = self.leases(name)?;
        if let Some(l) = existing.iter().find(|l| l.container_id == req.container_id) {
            return Err(Error::new(
                Kind::Conflict,
                format!("container {} is already connected to network {name}", l.container),
            ));
        }
        let idx = existing.len();
        let host_if = format!("v{}{}", &short(&req.container_id, 10), short(&net.id, 4));
        let mut lease = Lease {
            network: name.to_string(),
            container_id: req.container_id.clone(),
            container: req.container.clone(),
            aliases: req.aliases.clone(),
            ip: String::new(),
            prefix: subnet.prefix,
            gateway: net.gateway.clone(),
            mac: String::new(),
            bridge: net.bridge.clone(),
            host_if,
            ifname: req.ifname.clone().unwrap_or_else(|| "eth0".into()),
            mtu: net.mtu,
            ports: req.ports.clone(),
        };
        let _ = idx;
        let dir = self.leases_dir(name);
        let try_take = |ip: std::net::Ipv4Addr, lease: &mut Lease| -> Result<bool> {
            lease.ip = ip.to_string();
            let o = ip.octets();
            lease.mac = req
                .mac
                .clone()
                .unwrap_or_else(|| format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3]));
            let tmp = dir.join(format!(".{}-{}", ip, std::process::id()));
            let _ = fs::remove_file(&tmp);
            write_new(&tmp, &to_json(lease)?)?;
            let r = fs::hard_link(&tmp, dir.join(ip.to_string()));
            let _ = fs::remove_file(&tmp);
            match r {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(e).ctx(|| format!("lease {ip} on network {name}")),
            }
        };
        if let Some(want) = &req.ip {
            let ip = parse_ip("--ip address", want)?;
            if !subnet.is_host(ip) || ip == gateway {
                return Err(Error::invalid(format!(
                    "--ip {ip} is not a free host address of network {name} ({subnet}, gateway {gateway})"
                )));
            }
            if !try_take(ip, &mut lease)? {
                return Err(Error::new(
                    Kind::Conflict,
                    format!("address {ip} is already in use on network {name}"),
                ));
            }
            return Ok(lease);
        }
        let taken: std::collections::HashSet<String> = existing.iter().map(|l| l.ip.clone()).collect();
        for n in 1..subnet.size().saturating_sub(1).max(1) {
            let ip = subnet.nth(n);
            if ip == gateway || taken.contains(&ip.to_string()) || !subnet.is_host(ip) {
                continue;
            }
            if try_take(ip, &mut lease)? {
                return Ok(lease);
            }
        }
        Err(Error::new(Kind::Conflict, format!("no free address left on network {name} ({subnet})")))
    }

    /// Name container `container_id`'s lease on network `name` after
    /// `container` (a `rename`): the lease file is replaced whole. The lease,
    /// if it has one. Hold the lock.
    pub fn rename_lease(&self, name: &str, container_id: &str, container: &str) -> Result<Option<Lease>> {
        let dir = self.leases_dir(name);
        for mut l in self.leases(name)? {
            if l.container_id == container_id {
                l.container = container.to_string();
                let tmp = dir.join(format!(".{}-{}-rename", l.ip, std::process::id()));
                let _ = fs::remove_file(&tmp);
                write_new(&tmp, &to_json(&l)?)?;
                let path = dir.join(&l.ip);
                fs::rename(&tmp, &path).ctx(|| format!("rename {}", path.display())).inspect_err(|_| {
                    let _ = fs::remove_file(&tmp);
                })?;
                return Ok(Some(l));
            }
        }
        Ok(None)
    }

    /// Give up container `container_id`'s address on `name`; the lease it
    /// had, if any. Idempotent.
    pub fn release(&self, name: &str, container_id: &str) -> Result<Option<Lease>> {
        let dir = self.leases_dir(name);
        for l in self.leases(name)? {
            if l.container_id == container_id {
                let p = dir.join(&l.ip);
                match fs::remove_file(&p) {
                    Ok(()) => return Ok(Some(l)),
                    Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e).ctx(|| format!("remove {}", p.display())),
                }
            }
        }
        Ok(None)
    }
}

fn short(id: &str, n: usize) -> String {
    id.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(name: &str) -> Network {
        Network {
            name: name.into(),
            id: "abcdef0123456789".into(),
            driver: "bridge".into(),
            bridge: "mdtest0".into(),
            subnet: "10.250.0.0/29".into(),
            gateway: "10.250.0.1".into(),
            internal: false,
            labels: BTreeMap::new(),
            mtu: 1500,
            created: String::new(),
            bridge_made: false,
        }
    }

    #[test]
    fn leases_are_distinct_released_and_run_out() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let s = NetStore::new(tmp.path());
        s.create(&net("n1")).expect("create");
        assert_eq!(s.create(&net("n1")).map_err(|e| e.kind), Err(Kind::Conflict));
        let req =
            |id: &str| LeaseRequest { container_id: id.into(), container: id.into(), ..Default::default() };
        let ips: Vec<String> =
            (0..5).map(|i| s.allocate("n1", &req(&format!("c{i}"))).expect("allocate").ip).collect();
        assert_eq!(ips, ["10.250.0.2", "10.250.0.3", "10.250.0.4", "10.250.0.5", "10.250.0.6"]);
        assert_eq!(s.allocate("n1", &req("c9")).map_err(|e| e.kind).err(), Some(Kind::Conflict));
        assert_eq!(s.allocate("n1", &req("c0")).map_err(|e| e.kind).err(), Some(Kind::Conflict));
        assert!(s.release("n1", "c1").expect("release").is_some());
        assert!(s.release("n1", "c1").expect("release again").is_none());
        assert_eq!(s.allocate("n1", &req("c7")).expect("reuse").ip, "10.250.0.3");
        let fixed = LeaseRequest { ip: Some("10.250.0.1".into()), ..req("c8") };
        assert_eq!(s.allocate("n1", &fixed).map_err(|e| e.kind).err(), Some(Kind::Invalid));
        assert_eq!(s.remove("n1").map_err(|e| e.kind), Err(Kind::Conflict));
        for c in ["c0", "c2", "c3", "c4", "c7"] {
            s.release("n1", c).expect("release");
        }
        s.remove("n1").expect("remove");
        assert!(s.list().expect("list").is_empty());
    }
}
