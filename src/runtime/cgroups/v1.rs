//! cgroup v1 files: one hierarchy per controller (or co-mounted group).

use super::{Limits, mkdir_all, write};
use crate::runtime::error::{Context, Result};
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

pub fn apply(dir: &Path, limit: &str, l: &Limits) -> Result<()> {
    match limit {
        "memory" => {
            if let Some(bytes) = l.memory {
                write(&dir.join("memory.limit_in_bytes"), &bytes.to_string())?;
            }
        }
        "cpus" => {
            if let Some(cpus) = l.cpus {
                write(&dir.join("cpu.cfs_period_us"), "100000")?;
                write(&dir.join("cpu.cfs_quota_us"), &((cpus * 100_000.0).round() as i64).to_string())?;
            }
        }
        "cpu_shares" => {
            if let Some(shares) = l.cpu_shares {
                write(&dir.join("cpu.shares"), &shares.to_string())?;
            }
        }
        "cpuset_cpus" => {
            if let Some(cpus) = &l.cpuset_cpus {
                write(&dir.join("cpuset.cpus"), cpus)?;
            }
        }
        "pids" => {
            if let Some(max) = l.pids {
                write(&dir.join("pids.max"), &max.to_string())?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Deny all devices, then allow each rule ("c 1:3 rwm").
pub fn restrict_devices(dir: &Path, rules: &[String]) -> Result<()> {
    write(&dir.join("devices.deny"), "a")?;
    for rule in rules {
        write(&dir.join("devices.allow"), rule)?;
    }
    Ok(())
}
