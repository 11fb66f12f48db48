//! cgroups: one cgroup per container, in every hierarchy the host has.
//!
//! The layout is read from /proc/self/mountinfo, not assumed: pure v2, pure v1,
//! or hybrid (v1 controllers plus a cgroup2 mount, as on this project's CI,
//! where the v2 tree at /sys/fs/cgroup/unified holds only hugetlb). The
//! container joins every hierarchy; each limit is written to the hierarchy that
//! owns its controller, in that version's file format (`v1.rs`, `v2.rs`).

mod devices_bpf;
mod freezer;
pub mod in_container;
pub mod resources;
pub mod stats;
mod v1;
mod v2;

// The spec's types, for the lead's spec.rs (issue 11).
#[allow(unused_imports)]
pub use resources::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxHugepageLimit, LinuxInterfacePriority, LinuxMemory,
    LinuxNetwork, LinuxPids, LinuxRdma, LinuxResources, LinuxThrottleDevice, LinuxWeightDevice,
};

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

/// The Docker-style limits the `run` script passes; each is optional.
/// `to_resources` turns them into the OCI form the cgroup code takes.
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

    /// The hierarchy that will enforce controller `c`: the v1 one bound to it,
    /// else a v2 one that offers it.
    fn owner_of(&self, c: resources::Controller) -> Option<&Hierarchy> {
        let has = |h: &Hierarchy, name: &str| h.controllers.iter().any(|x| x == name);
        self.hierarchies.iter().find(|h| h.version == 1 && has(h, c.v1)).or_else(|| {
            let v2 = c.v2?;
            self.hierarchies.iter().find(|h| h.version == 2 && has(h, v2))
        })
    }

    /// The v2 hierarchy `unified` keys are written to.
    fn unified_hierarchy(&self) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.version == 2)
    }

    /// The container's cgroup directory in every hierarchy.
    pub fn paths(&self, name: &str) -> Result<Vec<PathBuf>> {
        check_name(name)?;
        Ok(self.hierarchies.iter().map(|h| h.mount.join(name)).collect())
    }

    /// Check that every resource `r` sets can be enforced here, and its
    /// values, before anything is created or written.
    fn check(&self, r: &LinuxResources) -> Result<()> {
        for (c, what) in r.wanted() {
            if self.owner_of(c).is_none() {
                return Err(Error::invalid(format!(
                    "cannot apply the {what} limit: this host has no {} cgroup controller",
                    c.v1
                )));
            }
        }
        if r.unified.as_ref().is_some_and(|u| !u.is_empty()) {
            if self.unified_hierarchy().is_none() {
                return Err(Error::invalid(
                    "cannot apply unified resources: this host has no cgroup v2 mount",
                ));
            }
            for key in r.unified.iter().flat_map(|u| u.keys()) {
                resources::unified_file(key)?;
            }
        }
        for h in &r.hugepage_limits {
            resources::page_size(&h.page_size)?;
        }
        resources::device_access(&r.devices)?;
        Ok(())
    }

    /// The controllers to enable for `r` in the v2 hierarchy `h` (v2 names).
    fn v2_controllers<'a>(&self, h: &Hierarchy, r: &'a LinuxResources) -> Vec<&'a str> {
        let mut out: Vec<&str> = r
            .wanted()
            .into_iter()
            .filter(|(c, _)| self.owner_of(*c).is_some_and(|o| o.mount == h.mount))
            .filter_map(|(c, _)| c.v2)
            .collect();
        if self.unified_hierarchy().is_some_and(|u| u.mount == h.mount) {
            out.extend(v2::unified_controllers(r, &h.controllers));
        }
        out.dedup();
        out
    }

    /// Create cgroup `name` (e.g. `mydocker/<id>`) everywhere and apply `r`.
    pub fn create(&self, name: &str, r: &LinuxResources) -> Result<()> {
        check_name(name)?;
        self.check(r)?;
        for h in &self.hierarchies {
            let result = if h.version == 1 {
                v1::create(&h.mount, name, &h.controllers)
            } else {
                v2::create(&h.mount, name, &self.v2_controllers(h, r))
            };
            if let Err(e) = result {
                let _ = self.remove(name);
                return Err(e);
            }
        }
        if let Err(e) = self.apply(name, r).and_then(|_| self.restrict_devices(name, r)) {
            let _ = self.remove(name);
            return Err(e);
        }
        log::info!("created cgroup {name} ({} layout)", self.layout);
        Ok(())
    }

    /// Apply `r` to the existing cgroup `name` (`runc update`): what it sets
    /// changes, the rest stays. With `memory.checkBeforeUpdate`, a memory
    /// limit below the current usage is refused.
    pub fn update(&self, name: &str, r: &LinuxResources) -> Result<()> {
        check_name(name)?;
        self.check(r)?;
        for h in &self.hierarchies {
            if !h.mount.join(name).is_dir() {
                return Err(Error::not_found(format!("no cgroup {name} in {}", h.mount.display())));
            }
        }
        if let Some(m) = &r.memory
            && m.check_before_update == Some(true)
            && let Some(limit) = m.limit.filter(|l| *l > 0)
            && let Some(h) = self.owner_of(resources::MEMORY)
        {
            let file = if h.version == 1 { "memory.usage_in_bytes" } else { "memory.current" };
            let usage: i64 = read_trimmed(&h.mount.join(name).join(file))?.parse().unwrap_or(0);
            if limit < usage {
                return Err(Error::invalid(format!(
                    "memory limit {limit} is below the cgroup's current usage {usage}: refused (checkBeforeUpdate)"
                )));
            }
        }
        // Controllers this update needs and the cgroup was made without.
        for h in self.hierarchies.iter().filter(|h| h.version == 2) {
            v2::create(&h.mount, name, &self.v2_controllers(h, r))?;
        }
        self.apply(name, r)?;
        self.restrict_devices(name, r)
    }

    /// Write `r` into the existing cgroup `name`, each controller's part to
    /// the hierarchy that owns it, then the `unified` files.
    fn apply(&self, name: &str, r: &LinuxResources) -> Result<()> {
        for c in resources::ALL {
            let Some(h) = self.owner_of(c) else { continue };
            let dir = h.mount.join(name);
            match (h.version, c.v2) {
                (1, _) => v1::apply(&dir, c.v1, r)?,
                (_, Some(v2)) => v2::apply(&dir, v2, r)?,
                _ => {}
            }
        }
        if let Some(h) = self.unified_hierarchy() {
            v2::apply_unified(&h.mount.join(name), r)?;
        }
        Ok(())
    }

    /// The device rules, where there are any: the v1 devices controller where
    /// there is one, and a BPF device filter on every v2 hierarchy (v2 has no
    /// devices controller; on a hybrid host both apply).
    fn restrict_devices(&self, name: &str, r: &LinuxResources) -> Result<()> {
        if r.devices.is_empty() {
            return Ok(());
        }
        for h in &self.hierarchies {
            if h.version == 2 {
                devices_bpf::attach(&h.mount.join(name), &r.devices)?;
            } else if h.controllers.iter().any(|c| c == "devices") {
                v1::restrict_devices(&h.mount.join(name), &r.devices)?;
            }
        }
        Ok(())
    }

    /// Where cgroup `name` is frozen: the v1 freezer hierarchy, else the v2 one.
    fn freezer_dir(&self, name: &str) -> Result<(u8, PathBuf)> {
        check_name(name)?;
        let h = self
            .hierarchies
            .iter()
            .find(|h| h.version == 1 && h.controllers.iter().any(|c| c == "freezer"))
            .or_else(|| self.hierarchies.iter().find(|h| h.version == 2))
            .ok_or_else(|| {
                Error::invalid("this host has no freezer: no v1 freezer controller, no cgroup v2")
            })?;
        let dir = h.mount.join(name);
        if !dir.is_dir() {
            return Err(Error::not_found(format!("no cgroup {name} in {}", h.mount.display())));
        }
        Ok((h.version, dir))
    }

    /// Stop every process of cgroup `name` (`pause`); returns once all are frozen.
    pub fn freeze(&self, name: &str) -> Result<()> {
        match self.freezer_dir(name)? {
            (1, dir) => freezer::freeze_v1(&dir),
            (_, dir) => freezer::freeze_v2(&dir),
        }
    }

    /// Let the processes of cgroup `name` run again (`resume`).
    pub fn thaw(&self, name: &str) -> Result<()> {
        match self.freezer_dir(name)? {
            (1, dir) => freezer::thaw_v1(&dir),
            (_, dir) => freezer::thaw_v2(&dir),
        }
    }

    /// "running", "paused", or "pausing" (asked, not yet done).
    pub fn freezer_state(&self, name: &str) -> Result<&'static str> {
        match self.freezer_dir(name)? {
            (1, dir) => freezer::state_v1(&dir),
            (_, dir) => freezer::state_v2(&dir),
        }
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
            // A frozen (paused) process dies only once thawed.
            if self.freezer_state(name).is_ok_and(|s| s != "running") {
                let _ = self.thaw(name);
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

    /// What cgroup `name`'s processes use (`stats`): each counter from the
    /// hierarchy that has it, v1 ones first (on a hybrid host they own the
    /// controllers).
    pub fn stats(&self, name: &str) -> Result<stats::Stats> {
        check_name(name)?;
        let mut s = stats::Stats::default();
        for h in self.hierarchies.iter().filter(|h| h.version == 1) {
            stats::v1(&h.mount.join(name), &mut s);
        }
        for h in self.hierarchies.iter().filter(|h| h.version == 2) {
            stats::v2(&h.mount.join(name), &mut s);
        }
        Ok(s)
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

    /// Write `value` to the interface file `file` of cgroup `name`, in the
    /// hierarchy that has it (`cpu.cfs_quota_us`, `memory.max`, …).
    pub fn write_file(&self, name: &str, file: &str, value: &str) -> Result<()> {
        if file.is_empty() || file.contains('/') || file.starts_with('.') {
            return Err(Error::invalid(format!("invalid cgroup file {file:?}")));
        }
        for dir in self.paths(name)? {
            let p = dir.join(file);
            if p.exists() {
                return write(&p, value);
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

fn read_trimmed(path: &Path) -> Result<String> {
    fs::read_to_string(path).map(|s| s.trim().to_string()).ctx(|| format!("read {}", path.display()))
}

/// The name of the cgroup (as `Cgroups` takes it, relative to each
/// hierarchy's root) for a spec's `cgroupsPath` and container `id`:
///
/// - without systemd, a path: "/a/b" and "a/b" are both "a/b" (runc makes a
///   relative path relative to its own cgroup; a runtime in the root cgroup,
///   as on a host without systemd, gets the same). A ':' is a character.
/// - with systemd (`--systemd-cgroup`), "slice:prefix:name" as systemd would
///   lay it out in cgroupfs: "machine.slice:libpod:ID" is
///   "machine.slice/libpod-ID.scope", "a-b.slice:p:n" is
///   "a.slice/a-b.slice/p-n.scope"; an empty slice is system.slice, a name
///   ending in ".slice" is that slice itself.
/// - none: "mydocker/<id>" (with systemd: "system.slice/mydocker-<id>.scope"),
///   beside the Docker face's containers.
///
/// "..", "." and empty components are refused, as is the root itself.
pub fn cgroup_name(cgroups_path: Option<&str>, id: &str, systemd: bool) -> Result<String> {
    let component = |c: &str, whole: &str| -> Result<()> {
        if c.is_empty() || c == "." || c == ".." || c.contains('\0') {
            return Err(Error::invalid(format!("invalid cgroupsPath {whole:?}: empty, . or .. component")));
        }
        Ok(())
    };
    component(id, id).map_err(|_| Error::invalid(format!("invalid container id {id:?} for a cgroup")))?;
    if id.contains('/') {
        return Err(Error::invalid(format!("invalid container id {id:?} for a cgroup")));
    }
    let path = cgroups_path.filter(|p| !p.is_empty());
    let name = if systemd {
        let (slice, prefix, unit) = match path {
            None => ("system.slice", "mydocker", id),
            Some(p) => {
                let parts: Vec<&str> = p.split(':').collect();
                let [slice, prefix, unit] = parts[..] else {
                    return Err(Error::invalid(format!(
                        "invalid cgroupsPath {p:?}: with systemd it is \"slice:prefix:name\""
                    )));
                };
                (if slice.is_empty() { "system.slice" } else { slice }, prefix, unit)
            }
        };
        let whole = path.unwrap_or(id);
        let mut dir = expand_slice(slice, whole)?;
        component(unit, whole)?;
        if unit.contains('/') {
            return Err(Error::invalid(format!("invalid cgroupsPath {whole:?}: a unit name has no '/'")));
        }
        let leaf = if unit.ends_with(".slice") {
            // A slice of its own, nested in the parent slice (systemd's naming).
            expand_slice(unit, whole)?.rsplit('/').next().unwrap_or(unit).to_string()
        } else if prefix.is_empty() {
            format!("{unit}.scope")
        } else {
            format!("{prefix}-{unit}.scope")
        };
        if !dir.is_empty() {
            dir.push('/');
        }
        dir.push_str(&leaf);
        dir
    } else {
        match path {
            None => format!("mydocker/{id}"),
            Some(p) => {
                let rel = p.strip_prefix('/').unwrap_or(p);
                for c in rel.split('/') {
                    component(c, p)?;
                }
                rel.to_string()
            }
        }
    };
    check_name(&name)?;
    Ok(name)
}

/// A systemd slice as its cgroupfs path: "a-b-c.slice" is
/// "a.slice/a-b.slice/a-b-c.slice"; "-.slice" is the root ("").
fn expand_slice(slice: &str, whole: &str) -> Result<String> {
    let bad = || Error::invalid(format!("invalid cgroupsPath {whole:?}: bad slice name {slice:?}"));
    let base = slice.strip_suffix(".slice").ok_or_else(bad)?;
    if slice.contains('/') || base.is_empty() {
        return Err(bad());
    }
    if base == "-" {
        return Ok(String::new());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for part in base.split('-') {
        if part.is_empty() {
            return Err(bad());
        }
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(&format!("{prefix}{part}.slice"));
        prefix.push_str(part);
        prefix.push('-');
    }
    Ok(path)
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

    impl Cgroups {
        fn owner(&self, v1_name: &str) -> Option<&Hierarchy> {
            resources::ALL.iter().find(|c| c.v1 == v1_name).and_then(|c| self.owner_of(*c))
        }
    }

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
        let r = Limits { memory: Some(1 << 20), ..Default::default() }.to_resources().unwrap();
        let err = cg.create("x/y", &r).unwrap_err();
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
        cg.create("mydocker/abc", &limits.to_resources().unwrap()).unwrap();
        let read = |p: &str| fs::read_to_string(root.path().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
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
        cg.create("mydocker/abc", &limits.to_resources().unwrap()).unwrap();
        let read = |p: &str| fs::read_to_string(root.path().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
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
        cg.create(&name, &LinuxResources::default()).unwrap();
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

    #[test]
    fn cgroups_paths_become_names() {
        let name = |p: Option<&str>, systemd: bool| cgroup_name(p, "abc", systemd);
        assert_eq!(name(None, false).unwrap(), "mydocker/abc");
        assert_eq!(name(Some(""), false).unwrap(), "mydocker/abc");
        assert_eq!(name(Some("/libpod_parent/libpod-abc"), false).unwrap(), "libpod_parent/libpod-abc");
        assert_eq!(name(Some("/default/abc"), false).unwrap(), "default/abc", "containerd's");
        assert_eq!(name(Some("kubepods/pod1/abc"), false).unwrap(), "kubepods/pod1/abc");
        assert_eq!(name(Some("a:b:c"), false).unwrap(), "a:b:c", "without systemd a ':' is a character");
        for bad in ["/", "/a/../b", "a//b", "/a/", "./a", ".."] {
            assert!(name(Some(bad), false).is_err(), "{bad:?}");
        }
        assert_eq!(name(Some("machine.slice:libpod:abc"), true).unwrap(), "machine.slice/libpod-abc.scope");
        assert_eq!(name(Some("system.slice:docker:abc"), true).unwrap(), "system.slice/docker-abc.scope");
        assert_eq!(
            name(Some("kubepods-besteffort-pod1.slice:cri-containerd:abc"), true).unwrap(),
            "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-abc.scope"
        );
        assert_eq!(name(Some(":runc:abc"), true).unwrap(), "system.slice/runc-abc.scope", "default slice");
        assert_eq!(name(Some("-.slice::abc"), true).unwrap(), "abc.scope", "the root slice, no prefix");
        assert_eq!(name(Some("user.slice:p:user-1.slice"), true).unwrap(), "user.slice/user-1.slice");
        assert_eq!(name(None, true).unwrap(), "system.slice/mydocker-abc.scope");
        for bad in [
            "machine.slice:libpod",
            "a:b:c:d",
            "machine:libpod:abc",
            "a--b.slice:p:n",
            "-a.slice:p:n",
            "a.slice:p:..",
            "a/b.slice:p:n",
        ] {
            assert!(name(Some(bad), true).is_err(), "{bad:?}");
        }
        for id in ["", "..", "a/b"] {
            assert!(cgroup_name(None, id, false).is_err(), "{id:?}");
        }
    }

    /// Temp dirs standing in for v1 hierarchies, with the files the kernel
    /// would have made in the new cgroup.
    fn fake_v1(root: &Path, controllers: &[&str], name: &str) -> Cgroups {
        let mut hs = Vec::new();
        for c in controllers {
            let m = root.join(c);
            fs::create_dir_all(m.join(name)).unwrap();
            match *c {
                "cpuset" => {
                    fs::write(m.join("cpuset.cpus"), "0-1\n").unwrap();
                    fs::write(m.join("cpuset.mems"), "0\n").unwrap();
                }
                "memory" => {
                    fs::write(m.join(name).join("memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
                    fs::write(m.join(name).join("memory.memsw.limit_in_bytes"), "9223372036854771712\n")
                        .unwrap();
                    fs::write(m.join(name).join("memory.usage_in_bytes"), "1048576\n").unwrap();
                }
                "devices" => fs::write(m.join(name).join("devices.list"), "a *:* rwm\n").unwrap(),
                "blkio" => fs::write(m.join(name).join("blkio.weight"), "").unwrap(),
                "hugetlb" => fs::write(m.join(name).join("hugetlb.2MB.rsvd.limit_in_bytes"), "").unwrap(),
                _ => {}
            }
            hs.push(Hierarchy { mount: m, version: 1, controllers: vec![c.to_string()] });
        }
        Cgroups { layout: "v1".into(), hierarchies: hs }
    }

    fn full_resources() -> LinuxResources {
        serde_json::from_str(
            r#"{
            "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                        {"allow": true, "type": "c", "major": 136, "access": "rwm"}],
            "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728, "kernel": 1, "kernelTCP": 16777216,
                       "swappiness": 10, "disableOOMKiller": true, "useHierarchy": true},
            "cpu": {"shares": 512, "quota": 50000, "burst": 1000, "period": 100000, "realtimeRuntime": 0,
                    "realtimePeriod": 1000000, "cpus": "1", "mems": "0", "idle": 1},
            "pids": {"limit": 0},
            "blockIO": {"weight": 300, "weightDevice": [{"major": 254, "minor": 0, "weight": 200}],
                        "throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1048576}],
                        "throttleWriteIOPSDevice": [{"major": 254, "minor": 0, "rate": 100}]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
            "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
            "rdma": {"mlx5_1": {"hcaHandles": 3}}
            }"#,
        )
        .expect("resources")
    }

    #[test]
    fn every_resource_in_v1_files() {
        let root = tempfile::tempdir().unwrap();
        let all =
            ["memory", "cpu", "cpuset", "pids", "devices", "blkio", "hugetlb", "net_cls", "net_prio", "rdma"];
        let cg = fake_v1(root.path(), &all, "t/c");
        cg.create("t/c", &full_resources()).unwrap();
        let read = |p: &str| fs::read_to_string(root.path().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        for (file, want) in [
            ("memory/t/c/memory.limit_in_bytes", "67108864"),
            ("memory/t/c/memory.memsw.limit_in_bytes", "134217728"),
            ("memory/t/c/memory.soft_limit_in_bytes", "33554432"),
            ("memory/t/c/memory.kmem.tcp.limit_in_bytes", "16777216"),
            ("memory/t/c/memory.swappiness", "10"),
            ("memory/t/c/memory.oom_control", "1"),
            ("memory/t/c/memory.use_hierarchy", "1"),
            ("cpu/t/c/cpu.shares", "512"),
            ("cpu/t/c/cpu.cfs_period_us", "100000"),
            ("cpu/t/c/cpu.cfs_quota_us", "50000"),
            ("cpu/t/c/cpu.cfs_burst_us", "1000"),
            ("cpu/t/c/cpu.rt_period_us", "1000000"),
            ("cpu/t/c/cpu.rt_runtime_us", "0"),
            ("cpu/t/c/cpu.idle", "1"),
            ("cpuset/t/c/cpuset.cpus", "1"),
            ("cpuset/t/c/cpuset.mems", "0"),
            ("pids/t/c/pids.max", "max"),
            // A plain file keeps the last write: the last exception.
            ("devices/t/c/devices.allow", "c 136:* rwm"),
            ("devices/t/c/devices.deny", "a"),
            ("blkio/t/c/blkio.weight", "300"),
            ("blkio/t/c/blkio.weight_device", "254:0 200"),
            ("blkio/t/c/blkio.throttle.read_bps_device", "254:0 1048576"),
            ("blkio/t/c/blkio.throttle.write_iops_device", "254:0 100"),
            ("hugetlb/t/c/hugetlb.2MB.limit_in_bytes", "4194304"),
            ("hugetlb/t/c/hugetlb.2MB.rsvd.limit_in_bytes", "4194304"),
            ("net_cls/t/c/net_cls.classid", "1048577"),
            ("net_prio/t/c/net_prio.ifpriomap", "eth0 5"),
            ("rdma/t/c/rdma.max", "mlx5_1 hca_handle=3 hca_object=max"),
        ] {
            assert_eq!(read(file), want, "{file}");
        }
        assert!(!root.path().join("memory/t/c/memory.kmem.limit_in_bytes").exists(), "kernel is ignored");

        // Raising memory below the current swap: limit first; update keeps the rest.
        let r = LinuxResources {
            memory: Some(LinuxMemory { limit: Some(100 << 20), swap: Some(200 << 20), ..Default::default() }),
            pids: Some(LinuxPids { limit: 7, ..Default::default() }),
            ..Default::default()
        };
        cg.update("t/c", &r).unwrap();
        assert_eq!(read("memory/t/c/memory.limit_in_bytes"), (100u64 << 20).to_string());
        assert_eq!(read("memory/t/c/memory.memsw.limit_in_bytes"), (200u64 << 20).to_string());
        assert_eq!(read("pids/t/c/pids.max"), "7");
        assert_eq!(read("cpu/t/c/cpu.shares"), "512");
        // checkBeforeUpdate: below the usage (1 MiB here) is refused, nothing written.
        let low = LinuxResources {
            memory: Some(LinuxMemory {
                limit: Some(4096),
                check_before_update: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let e = cg.update("t/c", &low).unwrap_err();
        assert!(e.message.contains("below the cgroup's current usage 1048576"), "{}", e.message);
        assert_eq!(read("memory/t/c/memory.limit_in_bytes"), (100u64 << 20).to_string());
        // An update of a cgroup that is not there.
        assert_eq!(cg.update("t/none", &r).unwrap_err().kind, crate::runtime::error::Kind::NotFound);
        // Swap without swap accounting names the file.
        fs::remove_file(root.path().join("memory/t/c/memory.memsw.limit_in_bytes")).unwrap();
        let e = cg.update("t/c", &r).unwrap_err().message;
        assert!(e.contains("memory.memsw.limit_in_bytes"), "{e}");
        // Errors name the file and the value.
        fs::remove_dir_all(root.path().join("pids/t/c")).unwrap();
        fs::create_dir(root.path().join("pids/t/c")).unwrap();
        fs::create_dir(root.path().join("pids/t/c/pids.max")).unwrap();
        let pids =
            LinuxResources { pids: Some(LinuxPids { limit: 9, ..Default::default() }), ..Default::default() };
        let e = cg.update("t/c", &pids).unwrap_err().message;
        assert!(e.contains("\"9\"") && e.contains("pids/t/c/pids.max"), "{e}");
    }

    #[test]
    fn resources_without_a_controller_are_refused_before_anything_is_made() {
        let root = tempfile::tempdir().unwrap();
        let cg = fake_v1(root.path(), &["memory", "cpu"], "t/c");
        fs::remove_dir_all(root.path().join("memory/t")).unwrap();
        for (json, what) in [
            (r#"{"pids": {"limit": 5}}"#, "pids"),
            (r#"{"cpu": {"cpus": "0"}}"#, "cpuset"),
            (r#"{"network": {"classID": 1}}"#, "net_cls"),
            (r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}"#, "hugetlb"),
            (r#"{"unified": {"memory.high": "max"}}"#, "no cgroup v2"),
            (r#"{"devices": [{"allow": true, "type": "x"}]}"#, "device rule"),
        ] {
            let r: LinuxResources = serde_json::from_str(json).unwrap();
            let e = cg.create("t/c", &r).unwrap_err().message;
            assert!(e.contains(what), "{json}: {e}");
            assert!(!root.path().join("memory/t").exists(), "{json}: nothing made");
        }
    }

    #[test]
    fn every_resource_in_v2_files() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma\n")
            .unwrap();
        fs::write(root.path().join("cgroup.subtree_control"), "").unwrap();
        let leaf = root.path().join("t/c");
        fs::create_dir_all(&leaf).unwrap();
        for f in ["io.weight", "hugetlb.2MB.rsvd.max", "memory.high"] {
            fs::write(leaf.join(f), "").unwrap();
        }
        let cg = Cgroups::v2_at(root.path());
        let mut r = full_resources();
        r.network = None; // v1 only
        r.cpu.as_mut().unwrap().realtime_period = None;
        r.cpu.as_mut().unwrap().realtime_runtime = None;
        r.unified = Some([("memory.high".to_string(), "50000000".to_string())].into());
        // The device filter needs a real cgroup: rules are checked, the BPF part is tested for real elsewhere.
        r.devices.clear();
        cg.create("t/c", &r).unwrap();
        let read = |p: &str| fs::read_to_string(root.path().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        for (file, want) in [
            ("t/c/memory.max", "67108864"),
            ("t/c/memory.swap.max", "67108864"),
            ("t/c/memory.low", "33554432"),
            ("t/c/memory.high", "50000000"),
            ("t/c/cpu.weight", "20"),
            ("t/c/cpu.max", "50000 100000"),
            ("t/c/cpu.max.burst", "1000"),
            ("t/c/cpu.idle", "1"),
            ("t/c/cpuset.cpus", "1"),
            ("t/c/cpuset.mems", "0"),
            ("t/c/pids.max", "max"),
            ("t/c/io.weight", "254:0 1920"),
            ("t/c/io.max", "254:0 wiops=100"),
            ("t/c/hugetlb.2MB.max", "4194304"),
            ("t/c/hugetlb.2MB.rsvd.max", "4194304"),
            ("t/c/rdma.max", "mlx5_1 hca_handle=3 hca_object=max"),
        ] {
            assert_eq!(read(file), want, "{file}");
        }
        // Every controller the resources need is enabled above the leaf.
        let enabled = read("t/cgroup.subtree_control");
        for c in ["memory", "cpu", "cpuset", "pids", "hugetlb", "io", "rdma"] {
            assert!(enabled.contains(&format!("+{c}")), "{c} in {enabled}");
        }
        // Quota unlimited, period kept.
        let q = LinuxResources {
            cpu: Some(LinuxCpu { quota: Some(-1), ..Default::default() }),
            ..Default::default()
        };
        cg.update("t/c", &q).unwrap();
        assert_eq!(read("t/c/cpu.max"), "max");
        // v2 refuses what it has no file for, and a unified key that is not a file.
        let rt = LinuxResources {
            cpu: Some(LinuxCpu { realtime_runtime: Some(1), ..Default::default() }),
            ..Default::default()
        };
        assert!(cg.update("t/c", &rt).unwrap_err().message.contains("realtime"));
        for key in ["../x", "memory.nope"] {
            let u = LinuxResources {
                unified: Some([(key.to_string(), "1".to_string())].into()),
                ..Default::default()
            };
            let e = cg.update("t/c", &u).unwrap_err().message;
            assert!(e.contains(key), "{e}");
        }
        let swap_alone = LinuxResources {
            memory: Some(LinuxMemory { swap: Some(5), ..Default::default() }),
            ..Default::default()
        };
        assert!(cg.update("t/c", &swap_alone).unwrap_err().message.contains("needs a memory limit"));
    }

    #[test]
    fn freezer_through_fake_hierarchies() {
        let root = tempfile::tempdir().unwrap();
        let cg = fake_v1(root.path(), &["freezer"], "t/c");
        fs::write(root.path().join("freezer/t/c/freezer.state"), "THAWED\n").unwrap();
        assert_eq!(cg.freezer_state("t/c").unwrap(), "running");
        cg.freeze("t/c").unwrap();
        assert_eq!(cg.freezer_state("t/c").unwrap(), "paused");
        cg.thaw("t/c").unwrap();
        assert_eq!(cg.freezer_state("t/c").unwrap(), "running");
        assert_eq!(cg.freeze("t/none").unwrap_err().kind, crate::runtime::error::Kind::NotFound);
        let none = Cgroups { layout: "v1".into(), hierarchies: vec![] };
        assert!(none.freeze("t/c").unwrap_err().message.contains("no freezer"));
    }
}
