//! cgroup v2 files: one tree; controllers are enabled per level through
//! `cgroup.subtree_control`.

use super::resources::{
    LinuxResources, blkio_to_io_weight, page_size, pids_max, shares_to_weight, unified_file, v2_limit,
    v2_swap,
};
use super::{mkdir_all, write};
use crate::runtime::error::{Error, Result};
use std::fs;
use std::path::Path;

pub fn available_controllers(mount: &Path) -> Vec<String> {
    fs::read_to_string(mount.join("cgroup.controllers"))
        .map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

/// Create `name`, enabling `controllers` on every level above the leaf.
pub fn create(mount: &Path, name: &str, controllers: &[&str]) -> Result<()> {
    mkdir_all(mount, name, |_| Ok(()))?;
    if !controllers.is_empty() {
        let enable = controllers.iter().map(|c| format!("+{c}")).collect::<Vec<_>>().join(" ");
        let mut dir = mount.to_path_buf();
        write(&dir.join("cgroup.subtree_control"), &enable)?;
        let comps: Vec<&str> = name.split('/').collect();
        for comp in &comps[..comps.len() - 1] {
            dir.push(comp);
            write(&dir.join("cgroup.subtree_control"), &enable)?;
        }
    }
    Ok(())
}

/// The controllers `unified` keys name (`memory.high` → memory) that this
/// hierarchy offers: they must be enabled for the files to exist.
pub fn unified_controllers<'a>(r: &'a LinuxResources, available: &[String]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for key in r.unified.iter().flat_map(|u| u.keys()) {
        if let Some((ctrl, _)) = key.split_once('.')
            && available.iter().any(|a| a == ctrl)
            && !out.contains(&ctrl)
        {
            out.push(ctrl);
        }
    }
    out
}

/// Write what `r` sets for `controller` (v2's name) into the cgroup at `dir`.
pub fn apply(dir: &Path, controller: &str, r: &LinuxResources) -> Result<()> {
    match controller {
        "memory" => memory(dir, r),
        "cpu" => cpu(dir, r),
        "cpuset" => {
            if let Some(c) = &r.cpu {
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
                write(&dir.join(format!("hugetlb.{size}.max")), &h.limit.to_string())?;
                let rsvd = dir.join(format!("hugetlb.{size}.rsvd.max"));
                if rsvd.exists() {
                    write(&rsvd, &h.limit.to_string())?;
                }
            }
            Ok(())
        }
        "io" => io(dir, r),
        "rdma" => {
            for (dev, l) in r.rdma.iter().flatten() {
                write(&dir.join("rdma.max"), &super::v1::rdma_line(dev, l.hca_handles, l.hca_objects))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn memory(dir: &Path, r: &LinuxResources) -> Result<()> {
    let Some(m) = &r.memory else { return Ok(()) };
    // Checked before anything is written.
    let swap = v2_swap(m.swap, m.limit)?;
    if let Some(sw) = &swap {
        write(&dir.join("memory.swap.max"), sw)?;
    }
    if let Some(limit) = m.limit {
        write(&dir.join("memory.max"), &v2_limit(limit))?;
    }
    if let Some(res) = m.reservation {
        write(&dir.join("memory.low"), &v2_limit(res))?;
    }
    // v2 has no per-cgroup swappiness, OOM-killer switch or TCP/kernel limits.
    if m.kernel.is_some()
        || m.kernel_tcp.is_some()
        || m.swappiness.is_some()
        || m.disable_oom_killer.is_some()
    {
        log::debug!(
            "memory kernel, kernelTCP, swappiness and disableOOMKiller have no cgroup v2 file: ignored"
        );
    }
    Ok(())
}

fn cpu(dir: &Path, r: &LinuxResources) -> Result<()> {
    let Some(c) = &r.cpu else { return Ok(()) };
    if let Some(shares) = c.shares {
        write(&dir.join("cpu.weight"), &shares_to_weight(shares).to_string())?;
    }
    if c.quota.is_some() || c.period.is_some() {
        // "QUOTA PERIOD"; without a period the kernel keeps its own.
        let quota = c.quota.filter(|q| *q > 0).map_or("max".to_string(), |q| q.to_string());
        let value = match c.period {
            Some(p) => format!("{quota} {p}"),
            None => quota,
        };
        write(&dir.join("cpu.max"), &value)?;
    }
    if let Some(b) = c.burst {
        write(&dir.join("cpu.max.burst"), &b.to_string())?;
    }
    if c.realtime_runtime.is_some() || c.realtime_period.is_some() {
        return Err(Error::invalid(
            "cpu realtimeRuntime and realtimePeriod need cgroup v1: v2 has no rt files",
        ));
    }
    if let Some(idle) = c.idle {
        write(&dir.join("cpu.idle"), &idle.to_string())?;
    }
    Ok(())
}

fn io(dir: &Path, r: &LinuxResources) -> Result<()> {
    let Some(b) = &r.block_io else { return Ok(()) };
    // io.weight where the kernel has it, else BFQ's io.bfq.weight (blkio's own scale).
    let weight = dir.join("io.weight");
    if let Some(w) = b.weight {
        if weight.exists() {
            write(&weight, &format!("default {}", blkio_to_io_weight(w)))?;
        } else {
            write(&dir.join("io.bfq.weight"), &w.to_string())?;
        }
    }
    if b.leaf_weight.is_some() {
        log::debug!("blockIO leafWeight has no cgroup v2 file: ignored");
    }
    for d in &b.weight_device {
        if let Some(w) = d.weight {
            if weight.exists() {
                write(&weight, &format!("{}:{} {}", d.major, d.minor, blkio_to_io_weight(w)))?;
            } else {
                write(&dir.join("io.bfq.weight"), &format!("{}:{} {w}", d.major, d.minor))?;
            }
        }
    }
    for (key, devs) in [
        ("rbps", &b.throttle_read_bps_device),
        ("wbps", &b.throttle_write_bps_device),
        ("riops", &b.throttle_read_iops_device),
        ("wiops", &b.throttle_write_iops_device),
    ] {
        for d in devs {
            // 0 means no limit, as v1's files read it.
            let rate = if d.rate == 0 { "max".to_string() } else { d.rate.to_string() };
            write(&dir.join("io.max"), &format!("{}:{} {key}={rate}", d.major, d.minor))?;
        }
    }
    Ok(())
}

/// The `unified` map, each key a file of the cgroup at `dir`, written as given.
pub fn apply_unified(dir: &Path, r: &LinuxResources) -> Result<()> {
    for (key, value) in r.unified.iter().flatten() {
        let file = dir.join(unified_file(key)?);
        if !file.exists() {
            return Err(Error::invalid(format!(
                "unified: {} does not exist (is its controller available?)",
                file.display()
            )));
        }
        write(&file, value)?;
    }
    Ok(())
}
