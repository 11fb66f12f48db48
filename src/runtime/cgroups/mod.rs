//! cgroups: one cgroup per container, in every hierarchy the host has.
//!
//! The layout is read from /proc/self/mountinfo, not assumed: pure v2, pure v1,
//! or hybrid (v1 controllers plus a cgroup2 mount, as on this project's CI,
//! where the v2 tree at /sys/fs/cgroup/unified holds only hugetlb). The
//! container joins every hierarchy; each limit is written to the hierarchy that
//! owns its controller, in that version's file format (`v1.rs`, `v2.rs`).

mod devices_bpf;
pub mod in_container;
mod v1;
mod v2;

use super::error::{Context, Error, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct Hierarchy {
    pub mount: PathBuf,
    /// 1 or 2.
    pub version: u8,
    /// v1: the controllers bound to this mount; v2: those available at its root.
    pub controllers: Vec<String>,
}

/// The resource limits a container may have; each is optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Limits {
    /// Bytes.
    #[serde(default)]
    pub memory: Option<i64>,
    /// CPUs' worth of time, e.g. 0.5.
    #[serde(default)]
    pub cpus: Option<f64>,
    /// Relative weight, Docker's 2..262144 (default 1024).
    #[serde(default)]
    pub cpu_shares: Option<i64>,
    /// e.g. "0-1" or "0,2".
    #[serde(default)]
    pub cpuset_cpus: Option<String>,
    /// Maximum number of tasks.
    #[serde(default)]
    pub pids: Option<i64>,
    /// Device access rules ("c 1:3 rwm"): everything else is denied. Enforced
    /// by the v1 devices controller and, on cgroup v2, a BPF device filter.
    #[serde(default)]
    pub devices: Option<Vec<String>>,
}

/// Which controller a limit needs.
fn controller_of(limit: &str) -> &'static str {
    match limit {
        "memory" => "memory",
        "cpus" | "cpu_shares" => "cpu",
        "cpuset_cpus" => "cpuset",
        _ => "pids",
    }
}

/// See `Cgroups::join_plan`.
#[derive(Debug, Clone, Default)]
pub struct JoinPlan {
    pub v1_tasks: Vec<PathBuf>,
    pub v2_dir: Option<PathBuf>,
    pub other_procs: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cgroups {
    /// "v1", "v2" or "hybrid".
    pub layout: String,
    pub hierarchies: Vec<Hierarchy>,
}

impl Cgroups {
    /// The host's hierarchies, from this process's mountinfo.
    pub fn detect() -> Result<Cgroups> {
        let text = fs::read_to_string("/proc/self/mountinfo").ctx(|| "read /proc/self/mountinfo")?;
        Ok(Self::from_mountinfo(&text))
    }

    /// The host's hierarchies, read once per process: `cgroup::create` and the
    /// clone that places the init both need them.
    pub fn host() -> Result<&'static Cgroups> {
        static HOST: std::sync::OnceLock<Cgroups> = std::sync::OnceLock::new();
        if let Some(cg) = HOST.get() {
            return Ok(cg);
        }
        let detected = Self::detect()?;
        Ok(HOST.get_or_init(|| detected))
    }

    /// The hierarchies mounted under /sys/fs/cgroup, as runc uses them: a stray
    /// mount elsewhere (a container rootfs's /sys/fs/cgroup left mounted, hidden
    /// or read-only) is ignored, and each hierarchy (one superblock, `major:minor`)
    /// is taken once. Without any under /sys/fs/cgroup, the first mount of each.
    pub fn from_mountinfo(text: &str) -> Cgroups {
        let standard = Path::new("/sys/fs/cgroup");
        let mut mounts = Vec::new();
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let Some(sep) = fields.iter().position(|f| *f == "-") else {
                continue;
            };
            let (Some(dev), Some(mount), Some(fstype), Some(opts)) =
                (fields.get(2), fields.get(4), fields.get(sep + 1), fields.get(sep + 3))
            else {
                continue;
            };
            if matches!(*fstype, "cgroup" | "cgroup2") {
                mounts.push((*dev, PathBuf::from(mount), *fstype, *opts));
            }
        }
        if mounts.iter().any(|(_, m, _, _)| m.starts_with(standard)) {
            mounts.retain(|(_, m, _, _)| m.starts_with(standard));
        }
        let mut seen = Vec::new();
        let mut hierarchies = Vec::new();
        for (dev, mount, fstype, opts) in mounts {
            if seen.contains(&dev) {
                continue;
            }
            seen.push(dev);
            if fstype == "cgroup" {
                let controllers = opts
                    .split(',')
                    .filter(|o| !matches!(*o, "rw" | "ro") && !o.contains('='))
                    .map(String::from)
                    .collect::<Vec<_>>();
                let named = opts.split(',').any(|o| o.starts_with("name="));
                if !controllers.is_empty() || named {
                    hierarchies.push(Hierarchy { mount, version: 1, controllers });
                }
            } else {
                let controllers = v2::available_controllers(&mount);
                hierarchies.push(Hierarchy { mount, version: 2, controllers });
            }
        }
        let has_v1 = hierarchies.iter().any(|h| h.version == 1);
        let has_v2 = hierarchies.iter().any(|h| h.version == 2);
        let layout = match (has_v1, has_v2) {
            (true, true) => "hybrid",
            (true, false) => "v1",
            _ => "v2",
        };
        Cgroups { layout: layout.into(), hierarchies }
    }

    /// A single v2 hierarchy rooted at `mount` (tests, or a private cgroup2 mount).
    #[cfg(test)]
    pub fn v2_at(mount: &Path) -> Cgroups {
        Cgroups {
            layout: "v2".into(),
            hierarchies: vec![Hierarchy {
                mount: mount.to_path_buf(),
                version: 2,
                controllers: v2::available_controllers(mount),
            }],
        }
    }

    /// The hierarchy that will enforce `controller`: the v1 one bound to it, else
    /// a v2 one that offers it.
    fn owner(&self, controller: &str) -> Option<&Hierarchy> {
        let has = |h: &&Hierarchy| h.controllers.iter().any(|c| c == controller);
        self.hierarchies
            .iter()
            .filter(|h| h.version == 1)
            .find(has)
            .or_else(|| self.hierarchies.iter().filter(|h| h.version == 2).find(has))
    }

    /// The container's cgroup directory in every hierarchy.
    pub fn paths(&self, name: &str) -> Result<Vec<PathBuf>> {
        check_name(name)?;
        Ok(self.hierarchies.iter().map(|h| h.mount.join(name)).collect())
    }

    /// Create cgroup `name` (e.g. `mydocker/<id>`) everywhere and apply `limits`.
    pub fn create(&self, name: &str, limits: &Limits) -> Result<()> {
        check_name(name)?;
        // Check every limit can be enforced before creating anything.
        let wanted: Vec<&str> = [
            ("memory", limits.memory.is_some()),
            ("cpus", limits.cpus.is_some()),
            ("cpu_shares", limits.cpu_shares.is_some()),
            ("cpuset_cpus", limits.cpuset_cpus.is_some()),
            ("pids", limits.pids.is_some()),
        ]
        .into_iter()
        .filter_map(|(l, set)| set.then_some(l))
        .collect();
        for limit in &wanted {
            let ctrl = controller_of(limit);
            if self.owner(ctrl).is_none() {
                return Err(Error::invalid(format!(
                    "cannot apply the {limit} limit: this host has no {ctrl} cgroup controller"
                )));
            }
        }
        for h in &self.hierarchies {
            let controllers: Vec<&str> = wanted
                .iter()
                .map(|l| controller_of(l))
                .filter(|c| self.owner(c).map(|o| o.mount == h.mount).unwrap_or(false))
                .collect();
            let result = if h.version == 1 {
                v1::create(&h.mount, name, &h.controllers)
            } else {
                v2::create(&h.mount, name, &controllers)
            };
            if let Err(e) = result {
                let _ = self.remove(name);
                return Err(e);
            }
        }
        if let Err(e) = self.apply(name, limits).and_then(|_| self.restrict_devices(name, limits)) {
            let _ = self.remove(name);
            return Err(e);
        }
        log::info!("created cgroup {name} ({} layout)", self.layout);
        Ok(())
    }

    /// Write `limits` into an existing cgroup.
    pub fn apply(&self, name: &str, limits: &Limits) -> Result<()> {
        for (limit, ctrl) in [
            ("memory", "memory"),
            ("cpus", "cpu"),
            ("cpu_shares", "cpu"),
            ("cpuset_cpus", "cpuset"),
            ("pids", "pids"),
        ] {
            let Some(h) = self.owner(ctrl) else { continue };
            let dir = h.mount.join(name);
            if h.version == 1 {
                v1::apply(&dir, limit, limits)?;
            } else {
                v2::apply(&dir, limit, limits)?;
            }
        }
        Ok(())
    }

    /// Deny every device but the allowed ones: the v1 devices controller where
    /// there is one, and a BPF device filter on every v2 hierarchy (v2 has no
    /// devices controller; on a hybrid host both apply).
    fn restrict_devices(&self, name: &str, limits: &Limits) -> Result<()> {
        let Some(rules) = &limits.devices else { return Ok(()) };
        for h in &self.hierarchies {
            if h.version == 2 {
                devices_bpf::attach(&h.mount.join(name), rules)?;
            } else if h.controllers.iter().any(|c| c == "devices") {
                v1::restrict_devices(&h.mount.join(name), rules)?;
            }
        }
        Ok(())
    }

    /// How a new process joins cgroup `name` cheaply: the v1 `tasks` files it
    /// writes "0" to itself (moving only the calling thread skips the kernel's
    /// global threadgroup lock, whose RCU sync costs ~10 ms per migration), and
    /// the v2 directory to clone it into (CLONE_INTO_CGROUP); any further v2
    /// hierarchy gets its `cgroup.procs` written by the parent.
    pub fn join_plan(&self, name: &str) -> Result<JoinPlan> {
        check_name(name)?;
        let mut plan = JoinPlan::default();
        for h in &self.hierarchies {
            let dir = h.mount.join(name);
            if h.version == 1 {
                plan.v1_tasks.push(dir.join("tasks"));
            } else if plan.v2_dir.is_none() {
                plan.v2_dir = Some(dir);
            } else {
                plan.other_procs.push(dir.join("cgroup.procs"));
            }
        }
        Ok(plan)
    }

    /// Move `pid` into the container's cgroup in every hierarchy.
    pub fn add_process(&self, name: &str, pid: i32) -> Result<()> {
        for dir in self.paths(name)? {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Every pid in the container's cgroup, in any hierarchy.
    pub fn processes(&self, name: &str) -> Result<Vec<i32>> {
        let mut pids = Vec::new();
        for dir in self.paths(name)? {
            if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
                pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// SIGKILL every process in cgroup `name` and wait (up to `timeout`) until
    /// none is left: the whole container, whatever its record says. Through
    /// `cgroup.kill` where a v2 hierarchy has it (atomic, no pid races), else
    /// pid by pid from `cgroup.procs`, each checked to be a member while its
    /// pidfd is held.
    /// True when there was something to kill.
    pub fn kill_all(&self, name: &str, timeout: std::time::Duration) -> Result<bool> {
        check_name(name)?;
        let deadline = std::time::Instant::now() + timeout;
        let killer =
            self.hierarchies.iter().map(|h| h.mount.join(name).join("cgroup.kill")).find(|p| p.exists());
        let mut killed = false;
        loop {
            let pids = self.processes(name)?;
            if pids.is_empty() {
                return Ok(killed);
            }
            killed = true;
            // Held before the kill, to wait for each to end without polling the cgroup.
            let ends: Vec<std::os::fd::OwnedFd> =
                pids.iter().filter_map(|p| crate::runtime::host_process::pidfd(*p)).collect();
            match &killer {
                Some(kill) => match fs::write(kill, "1") {
                    Ok(()) => {}
                    // Removed meanwhile (a concurrent `rm -f`): nothing is left in it.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(killed),
                    Err(e) => return Err(Error::os(format!("write \"1\" to {}: {e}", kill.display()))),
                },
                None => {
                    for pid in pids {
                        if let Ok(start) = crate::runtime::host_process::start_time(pid) {
                            let _ = crate::runtime::host_process::signal_in_cgroup(
                                pid,
                                start,
                                name,
                                libc::SIGKILL,
                            );
                        }
                    }
                }
            }
            if std::time::Instant::now() > deadline {
                return Err(Error::os(format!(
                    "cgroup {name} still has processes after SIGKILL: {:?}",
                    self.processes(name)?
                )));
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            crate::runtime::host_process::wait_all_ended(&ends, left);
        }
    }

    /// Read one interface file of the container's cgroup, e.g. `memory.usage_in_bytes`.
    pub fn read(&self, name: &str, file: &str) -> Result<String> {
        if file.contains('/') {
            return Err(Error::invalid(format!("invalid cgroup file {file:?}")));
        }
        for dir in self.paths(name)? {
            let p = dir.join(file);
            if p.exists() {
                return fs::read_to_string(&p)
                    .map(|s| s.trim().to_string())
                    .ctx(|| format!("read {}", p.display()));
            }
        }
        Err(Error::not_found(format!("no cgroup file {file} for {name}")))
    }

    /// Remove the cgroup everywhere, and its parent when that is left empty.
    /// Removing what is already gone is not an error.
    pub fn remove(&self, name: &str) -> Result<()> {
        let mut first_err = None;
        for h in &self.hierarchies {
            let dir = h.mount.join(name);
            if let Err(e) = rmdir_retry(&dir) {
                first_err.get_or_insert(e);
                continue;
            }
            // The shared parent (`mydocker`) goes when its last container does;
            // a concurrent create recreates it (see `mkdir_all`).
            if let Some(parent) = Path::new(name).parent().filter(|p| !p.as_os_str().is_empty()) {
                let _ = fs::remove_dir(h.mount.join(parent));
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('/')
        && name.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
    if ok { Ok(()) } else { Err(Error::invalid(format!("invalid cgroup name {name:?}"))) }
}

/// rmdir, retrying briefly while the kernel still counts exiting tasks.
fn rmdir_retry(dir: &Path) -> Result<()> {
    for attempt in 0..50 {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 49 => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(Error::os(format!("remove cgroup {}: {e}", dir.display()))),
        }
    }
    Ok(())
}

/// mkdir -p for cgroup trees, tolerating a concurrent `remove` of an empty parent.
fn mkdir_all(mount: &Path, name: &str, mut on_level: impl FnMut(&Path) -> Result<()>) -> Result<()> {
    for _ in 0..5 {
        let mut dir = mount.to_path_buf();
        let mut raced = false;
        for comp in name.split('/') {
            dir.push(comp);
            match fs::create_dir(&dir) {
                Ok(()) => on_level(&dir)?,
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    raced = true;
                    break;
                }
                Err(e) => return Err(Error::os(format!("create cgroup {}: {e}", dir.display()))),
            }
        }
        if !raced {
            return Ok(());
        }
    }
    Err(Error::os(format!("create cgroup {name} under {}: kept being removed", mount.display())))
}

fn write(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).ctx(|| format!("write {value:?} to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
30 23 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 30 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
35 30 0:31 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
36 30 0:32 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids";

    #[test]
    fn detects_hybrid_layout() {
        let cg = Cgroups::from_mountinfo(HYBRID);
        assert_eq!(cg.layout, "hybrid");
        assert_eq!(cg.hierarchies.len(), 5);
        let cpu = cg.owner("cpu").unwrap();
        assert_eq!(cpu.mount, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(cg.owner("memory").unwrap().version, 1);
        assert!(cg.owner("cpuset").is_none());
    }

    /// A stray mount of the pids hierarchy earlier in the table, another of memory
    /// later, and a hierarchy mounted only elsewhere: only /sys/fs/cgroup counts.
    #[test]
    fn stray_cgroup_mounts_elsewhere_are_ignored() {
        let stray = "\
20 1 0:32 / /tmp/ctr/rootfs/sys/fs/cgroup/pids ro,nosuid - cgroup cgroup ro,pids
21 1 0:40 / /tmp/other rw - cgroup cgroup rw,name=other";
        let late = "\n90 1 0:29 / /tmp/ctr/rootfs/sys/fs/cgroup/memory ro - cgroup cgroup ro,memory";
        let cg = Cgroups::from_mountinfo(&format!("{stray}\n{HYBRID}{late}"));
        let mounts: Vec<_> = cg.hierarchies.iter().map(|h| h.mount.display().to_string()).collect();
        assert_eq!(mounts.len(), 5, "{mounts:?}");
        assert!(mounts.iter().all(|m| m.starts_with("/sys/fs/cgroup/")), "{mounts:?}");
        assert_eq!(cg.owner("pids").unwrap().mount, PathBuf::from("/sys/fs/cgroup/pids"));
        // Nothing under /sys/fs/cgroup: the first mount of each hierarchy.
        let cg =
            Cgroups::from_mountinfo(&format!("{stray}\n20 1 0:32 / /mnt/pids rw - cgroup cgroup rw,pids"));
        assert_eq!(cg.hierarchies.len(), 2);
        assert_eq!(cg.owner("pids").unwrap().mount, PathBuf::from("/tmp/ctr/rootfs/sys/fs/cgroup/pids"));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("mydocker/abc").is_ok());
        for bad in ["", "/abs", "a/../b", "a//b", ".."] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn limits_without_controller_are_refused() {
        let cg = Cgroups { layout: "v1".into(), hierarchies: vec![] };
        let err = cg.create("x/y", &Limits { memory: Some(1 << 20), ..Default::default() }).unwrap_err();
        assert!(err.message.contains("memory"), "{}", err.message);
    }

    /// A temp dir standing in for a v1 /sys/fs/cgroup.
    #[test]
    fn v1_files_in_a_fake_tree() {
        let root = tempfile::tempdir().unwrap();
        let mut hs = Vec::new();
        for c in ["memory", "cpu", "cpuset", "pids"] {
            let m = root.path().join(c);
            fs::create_dir(&m).unwrap();
            if c == "cpuset" {
                fs::write(m.join("cpuset.cpus"), "0-1\n").unwrap();
                fs::write(m.join("cpuset.mems"), "0\n").unwrap();
            }
            hs.push(Hierarchy { mount: m, version: 1, controllers: vec![c.to_string()] });
        }
        let cg = Cgroups { layout: "v1".into(), hierarchies: hs };
        let limits = Limits {
            memory: Some(32 << 20),
            cpus: Some(0.5),
            cpu_shares: Some(512),
            cpuset_cpus: Some("1".into()),
            pids: Some(20),
            devices: Some(vec!["c 1:3 rwm".into()]),
        };
        cg.create("mydocker/abc", &limits).unwrap();
        let read = |p: &str| fs::read_to_string(root.path().join(p)).unwrap();
        assert_eq!(read("memory/mydocker/abc/memory.limit_in_bytes"), "33554432");
        assert_eq!(read("cpu/mydocker/abc/cpu.cfs_quota_us"), "50000");
        assert_eq!(read("cpu/mydocker/abc/cpu.cfs_period_us"), "100000");
        assert_eq!(read("cpu/mydocker/abc/cpu.shares"), "512");
        assert_eq!(read("cpuset/mydocker/cpuset.mems"), "0");
        assert_eq!(read("cpuset/mydocker/abc/cpuset.cpus"), "1");
        assert_eq!(read("cpuset/mydocker/abc/cpuset.mems"), "0");
        assert_eq!(read("pids/mydocker/abc/pids.max"), "20");
        // No devices hierarchy in this fake tree: nothing enforces the rules here.
    }

    /// A temp dir standing in for a v2 /sys/fs/cgroup.
    #[test]
    fn v2_files_in_a_fake_tree() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("cgroup.controllers"), "cpuset cpu memory pids\n").unwrap();
        fs::write(root.path().join("cgroup.subtree_control"), "").unwrap();
        let cg = Cgroups::v2_at(root.path());
        assert_eq!(cg.hierarchies[0].controllers, ["cpuset", "cpu", "memory", "pids"]);
        let limits = Limits {
            memory: Some(32 << 20),
            cpus: Some(1.5),
            cpu_shares: Some(1024),
            cpuset_cpus: Some("0".into()),
            pids: Some(7),
            devices: None,
        };
        cg.create("mydocker/abc", &limits).unwrap();
        let read = |p: &str| fs::read_to_string(root.path().join(p)).unwrap();
        // The real kernel keeps a set; in a plain file the last write is what remains.
        assert!(read("cgroup.subtree_control").starts_with('+'));
        assert!(read("mydocker/cgroup.subtree_control").starts_with('+'));
        assert_eq!(read("mydocker/abc/memory.max"), "33554432");
        assert_eq!(read("mydocker/abc/cpu.max"), "150000 100000");
        assert_eq!(read("mydocker/abc/cpu.weight"), "39");
        assert_eq!(read("mydocker/abc/cpuset.cpus"), "0");
        assert_eq!(read("mydocker/abc/pids.max"), "7");
    }

    /// The v2 code on a real cgroup2 mount (on a hybrid host, the one holding
    /// only the free controllers): create, move a process in, list, remove.
    #[test]
    fn v2_for_real_on_the_hosts_cgroup2_mount() {
        let Some(h) = Cgroups::detect().unwrap().hierarchies.into_iter().find(|h| h.version == 2) else {
            eprintln!("no cgroup2 mount on this host: skipped");
            return;
        };
        if nix::unistd::geteuid().as_raw() != 0 {
            return;
        }
        let cg = Cgroups::v2_at(&h.mount);
        let name = format!("mydocker-unit/{}", std::process::id());
        cg.create(&name, &Limits::default()).unwrap();
        let mut child = std::process::Command::new("sleep").arg("10").spawn().unwrap();
        let pid = child.id() as i32;
        cg.add_process(&name, pid).unwrap();
        assert_eq!(cg.processes(&name).unwrap(), vec![pid]);
        let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        assert!(own.lines().any(|l| l.starts_with("0::") && l.ends_with(&name)), "{own}");
        // Occupied: removal must fail rather than pretend.
        assert!(fs::remove_dir(h.mount.join(&name)).is_err());
        child.kill().unwrap();
        child.wait().unwrap();
        cg.remove(&name).unwrap();
        assert!(!h.mount.join(&name).exists());
        assert!(!h.mount.join("mydocker-unit").exists(), "the emptied parent is removed too");
    }
}
