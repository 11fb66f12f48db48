//! cgroup v2 files: one tree; controllers are enabled per level through
//! `cgroup.subtree_control`.

use super::{Limits, mkdir_all, write};
use crate::runtime::error::Result;
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

/// Docker's conversion of cpu shares (2..262144) to a v2 weight (1..10000).
fn shares_to_weight(shares: i64) -> i64 {
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

pub fn apply(dir: &Path, limit: &str, l: &Limits) -> Result<()> {
    match limit {
        "memory" => {
            if let Some(bytes) = l.memory {
                write(&dir.join("memory.max"), &bytes.to_string())?;
            }
        }
        "cpus" => {
            if let Some(cpus) = l.cpus {
                write(&dir.join("cpu.max"), &format!("{} 100000", (cpus * 100_000.0).round() as i64))?;
            }
        }
        "cpu_shares" => {
            if let Some(shares) = l.cpu_shares {
                write(&dir.join("cpu.weight"), &shares_to_weight(shares).to_string())?;
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
