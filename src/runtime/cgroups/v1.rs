//! cgroup v1 files: one hierarchy per controller (or co-mounted group).

use super::resources::{
    self, DeviceAccess, LinuxDeviceCgroup, LinuxResources, page_size, pids_max, v1_limit,
};
use super::{mkdir_all, read_trimmed, write};
use crate::runtime::error::{Context, Error, Result};
use std::fs;
use std::path::Path;

pub fn create(mount: &Path, name: &str, controllers: &[String]) -> Result<()> {
    mkdir_all(mount, name, |_| Ok(()))?;
    // A new v1 cpuset starts empty and refuses tasks: every level inherits its
    // parent's, top down. Also for levels another process just made and has
    // not filled yet, so check them all.
    if controllers.iter().any(|c| c == "cpuset") {
        let mut dir = mount.to_path_buf();
        for comp in name.split('/') {
            dir.push(comp);
            inherit_cpuset(&dir)?;
        }
    }
    Ok(())
}

fn inherit_cpuset(dir: &Path) -> Result<()> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mine = fs::read_to_string(dir.join(file)).unwrap_or_default();
        if mine.trim().is_empty() {
            let theirs = fs::read_to_string(parent.join(file))
                .ctx(|| format!("read {}", parent.join(file).display()))?;
            write(&dir.join(file), theirs.trim())?;
        }
    }
    Ok(())
}

/// Write what `r` sets for `controller` into the cgroup at `dir`.
pub fn apply(dir: &Path, controller: &str, r: &LinuxResources) -> Result<()> {
    match controller {
        "memory" => memory(dir, r),
        "cpu" => cpu(dir, r),
        "cpuset" => {
            if let Some(c) = &r.cpu {
                // mems before cpus: either may be what makes the other valid; runc's order.
                if let Some(mems) = &c.mems {
                    write(&dir.join("cpuset.mems"), mems)?;
                }
                if let Some(cpus) = &c.cpus {
                    write(&dir.join("cpuset.cpus"), cpus)?;
                }
            }
            Ok(())
        }
        "pids" => match &r.pids {
            Some(p) => write(&dir.join("pids.max"), &pids_max(p.limit)),
            None => Ok(()),
        },
        "hugetlb" => {
            for h in &r.hugepage_limits {
                let size = page_size(&h.page_size)?;
                write(&dir.join(format!("hugetlb.{size}.limit_in_bytes")), &h.limit.to_string())?;
                // Reservations where the kernel has them (5.7+): what the spec means by default.
                let rsvd = dir.join(format!("hugetlb.{size}.rsvd.limit_in_bytes"));
                if rsvd.exists() {
                    write(&rsvd, &h.limit.to_string())?;
                }
            }
            Ok(())
        }
        "blkio" => blkio(dir, r),
        "net_cls" => match r.network.as_ref().and_then(|n| n.class_id) {
            Some(id) => write(&dir.join("net_cls.classid"), &id.to_string()),
            None => Ok(()),
        },
        "net_prio" => {
            for p in r.network.iter().flat_map(|n| &n.priorities) {
                write(&dir.join("net_prio.ifpriomap"), &format!("{} {}", p.name, p.priority))?;
            }
            Ok(())
        }
        "rdma" => {
            for (dev, l) in r.rdma.iter().flatten() {
                write(&dir.join("rdma.max"), &rdma_line(dev, l.hca_handles, l.hca_objects))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `mlx5_1 hca_handle=3 hca_object=max`, as both versions' rdma.max take it.
pub fn rdma_line(dev: &str, handles: Option<u32>, objects: Option<u32>) -> String {
    let v = |n: Option<u32>| n.map_or("max".to_string(), |n| n.to_string());
    format!("{dev} hca_handle={} hca_object={}", v(handles), v(objects))
}

fn memory(dir: &Path, r: &LinuxResources) -> Result<()> {
    let Some(m) = &r.memory else { return Ok(()) };
    let limit_file = dir.join("memory.limit_in_bytes");
    let swap_file = dir.join("memory.memsw.limit_in_bytes");
    // Unlimited memory with swap unset: unlimited swap too, where the kernel accounts it (runc).
    let swap = match (m.limit, m.swap) {
        (Some(-1), None) if swap_file.exists() => Some(-1),
        (_, s) => s,
    };
    if let Some(s) = swap
        && !swap_file.exists()
    {
        return Err(Error::invalid(format!(
            "cannot apply memory swap {s}: {} is missing (swap accounting is off: swapaccount=1)",
            swap_file.display()
        )));
    }
    match (m.limit, swap) {
        // memsw must stay >= memory: when raising, swap goes first.
        (Some(limit), Some(swap)) => {
            let current: i64 = read_trimmed(&limit_file)?.parse().unwrap_or(i64::MAX);
            if swap == -1 || current < swap {
                write(&swap_file, &v1_limit(swap))?;
                write(&limit_file, &v1_limit(limit))?;
            } else {
                write(&limit_file, &v1_limit(limit))?;
                write(&swap_file, &v1_limit(swap))?;
            }
        }
        (Some(limit), None) => write(&limit_file, &v1_limit(limit))?,
        (None, Some(swap)) => write(&swap_file, &v1_limit(swap))?,
        (None, None) => {}
    }
    if let Some(res) = m.reservation {
        write(&dir.join("memory.soft_limit_in_bytes"), &v1_limit(res))?;
    }
    if m.kernel.is_some() {
        log::debug!("memory.kernel ignored: kernel memory limits are gone since Linux 5.4");
    }
    if let Some(tcp) = m.kernel_tcp {
        write(&dir.join("memory.kmem.tcp.limit_in_bytes"), &v1_limit(tcp))?;
    }
    if let Some(sw) = m.swappiness {
        if sw > 100 {
            return Err(Error::invalid(format!("invalid memory swappiness {sw}: 0 to 100")));
        }
        write(&dir.join("memory.swappiness"), &sw.to_string())?;
    }
    if let Some(off) = m.disable_oom_killer {
        write(&dir.join("memory.oom_control"), if off { "1" } else { "0" })?;
    }
    if let Some(h) = m.use_hierarchy {
        write(&dir.join("memory.use_hierarchy"), if h { "1" } else { "0" })?;
    }
    Ok(())
}

fn cpu(dir: &Path, r: &LinuxResources) -> Result<()> {
    let Some(c) = &r.cpu else { return Ok(()) };
    if let Some(shares) = c.shares {
        write(&dir.join("cpu.shares"), &shares.to_string())?;
    }
    let (period_file, quota_file) = (dir.join("cpu.cfs_period_us"), dir.join("cpu.cfs_quota_us"));
    match (c.period, c.quota) {
        (Some(period), quota) => {
            // A period the current quota does not fit is refused: then the quota first.
            if fs::write(&period_file, period.to_string()).is_err() {
                if let Some(q) = quota {
                    write(&quota_file, &q.to_string())?;
                }
                write(&period_file, &period.to_string())?;
            } else if let Some(q) = quota {
                write(&quota_file, &q.to_string())?;
            }
        }
        (None, Some(q)) => write(&quota_file, &q.to_string())?,
        (None, None) => {}
    }
    if let Some(b) = c.burst {
        write(&dir.join("cpu.cfs_burst_us"), &b.to_string())?;
    }
    // The period first: a runtime is checked against it.
    if let Some(p) = c.realtime_period {
        write(&dir.join("cpu.rt_period_us"), &p.to_string())?;
    }
    if let Some(rt) = c.realtime_runtime {
        write(&dir.join("cpu.rt_runtime_us"), &rt.to_string())?;
    }
    if let Some(idle) = c.idle {
        write(&dir.join("cpu.idle"), &idle.to_string())?;
    }
    Ok(())
}

fn blkio(dir: &Path, r: &LinuxResources) -> Result<()> {
    let Some(b) = &r.block_io else { return Ok(()) };
    // CFQ's files, or BFQ's (blkio.bfq.*) on kernels without CFQ.
    let bfq = !dir.join("blkio.weight").exists() && dir.join("blkio.bfq.weight").exists();
    let weight_file =
        |name: &str| dir.join(if bfq { format!("blkio.bfq.{name}") } else { format!("blkio.{name}") });
    if let Some(w) = b.weight {
        write(&weight_file("weight"), &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight {
        write(&dir.join("blkio.leaf_weight"), &w.to_string())?;
    }
    for d in &b.weight_device {
        if let Some(w) = d.weight {
            write(&weight_file("weight_device"), &format!("{}:{} {w}", d.major, d.minor))?;
        }
        if let Some(w) = d.leaf_weight {
            write(&dir.join("blkio.leaf_weight_device"), &format!("{}:{} {w}", d.major, d.minor))?;
        }
    }
    for (file, devs) in [
        ("blkio.throttle.read_bps_device", &b.throttle_read_bps_device),
        ("blkio.throttle.write_bps_device", &b.throttle_write_bps_device),
        ("blkio.throttle.read_iops_device", &b.throttle_read_iops_device),
        ("blkio.throttle.write_iops_device", &b.throttle_write_iops_device),
    ] {
        for d in devs {
            write(&dir.join(file), &format!("{}:{} {}", d.major, d.minor, d.rate))?;
        }
    }
    Ok(())
}

/// The device access `rules` leave, into the devices controller at `dir`.
/// Between two allow lists (an update of a running container) only the
/// differences are written, so no device is denied in passing; otherwise the
/// default is reset first.
pub fn restrict_devices(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let target = resources::device_access(rules)?;
    let current = current_allow_list(dir)?;
    let (allow, deny) = (dir.join("devices.allow"), dir.join("devices.deny"));
    match current {
        Some(cur) if !target.default_allow => {
            for e in &target.exceptions {
                write(&allow, &e.v1())?;
            }
            for c in &cur.exceptions {
                let kept = target
                    .exceptions
                    .iter()
                    .find(|t| (t.dev_type, t.major, t.minor) == (c.dev_type, c.major, c.minor))
                    .map_or(0, |t| t.access);
                if c.access & !kept != 0 {
                    write(&deny, &resources::DeviceRule { access: c.access & !kept, ..*c }.v1())?;
                }
            }
        }
        _ => {
            write(if target.default_allow { &allow } else { &deny }, "a")?;
            let file = if target.default_allow { &deny } else { &allow };
            for e in &target.exceptions {
                write(file, &e.v1())?;
            }
        }
    }
    Ok(())
}

/// The cgroup's allow list from devices.list; `None` when it allows by
/// default (v1 then shows "a *:* rwm" and hides its deny list).
fn current_allow_list(dir: &Path) -> Result<Option<DeviceAccess>> {
    let list = read_trimmed(&dir.join("devices.list"))?;
    let mut rules = vec![LinuxDeviceCgroup { allow: false, ..Default::default() }];
    for line in list.lines() {
        let line = line.trim();
        if line.starts_with("a ") || line == "a" {
            return Ok(None);
        }
        rules.push(LinuxDeviceCgroup::parse(line)?);
    }
    resources::device_access(&rules).map(Some)
}
