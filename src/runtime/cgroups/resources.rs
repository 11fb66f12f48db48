//! The OCI runtime spec's `linux.resources` (config-linux.md, "Control
//! groups"): its types, every field parsed and kept (unknown ones too, so a
//! spec round-trips), and the pure conversions the v1 and v2 writers share.
//! What each version writes is in `v1.rs` and `v2.rs`.

use super::Limits;
use crate::runtime::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

fn null_as_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> std::result::Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `linux.resources`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxResources {
    /// Device rules, applied in order as cgroup v1's devices.allow/deny would.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub devices: Vec<LinuxDeviceCgroup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<LinuxMemory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<LinuxCpu>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<LinuxPids>,
    #[serde(default, rename = "blockIO", skip_serializing_if = "Option::is_none")]
    pub block_io: Option<LinuxBlockIo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub hugepage_limits: Vec<LinuxHugepageLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<LinuxNetwork>,
    /// By RDMA device name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdma: Option<BTreeMap<String, LinuxRdma>>,
    /// cgroup v2 interface files by name (`memory.high`), written as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unified: Option<BTreeMap<String, String>>,
    /// Fields this runtime does not know, kept so a spec round-trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One device rule: `type` "a" (all, the default), "b" or "c"; a missing or
/// -1 major/minor matches any; `access` some of "rwm" (default all).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxDeviceCgroup {
    pub allow: bool,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub dev_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxMemory {
    /// Bytes; -1 unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The soft limit, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<i64>,
    /// Memory plus swap, bytes; -1 unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<i64>,
    /// Deprecated in the spec, unsupported by kernels since 5.4: ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<i64>,
    #[serde(default, rename = "kernelTCP", skip_serializing_if = "Option::is_none")]
    pub kernel_tcp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swappiness: Option<u64>,
    #[serde(default, rename = "disableOOMKiller", skip_serializing_if = "Option::is_none")]
    pub disable_oom_killer: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_hierarchy: Option<bool>,
    /// On update: refuse a limit below the current usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_before_update: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxCpu {
    /// Relative weight, 2..262144 (cgroup v1's scale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<u64>,
    /// Microseconds per period; -1 unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime_runtime: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime_period: Option<u64>,
    /// cpuset, e.g. "0-1".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
    /// cpuset memory nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mems: Option<String>,
    /// 1: SCHED_IDLE for the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxPids {
    /// Tasks; 0 or -1: no limit.
    pub limit: i64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxBlockIo {
    /// 10..1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_weight: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub weight_device: Vec<LinuxWeightDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub throttle_read_bps_device: Vec<LinuxThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub throttle_write_bps_device: Vec<LinuxThrottleDevice>,
    #[serde(
        default,
        rename = "throttleReadIOPSDevice",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub throttle_read_iops_device: Vec<LinuxThrottleDevice>,
    #[serde(
        default,
        rename = "throttleWriteIOPSDevice",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub throttle_write_iops_device: Vec<LinuxThrottleDevice>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxWeightDevice {
    pub major: i64,
    pub minor: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_weight: Option<u16>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxThrottleDevice {
    pub major: i64,
    pub minor: i64,
    /// Bytes or operations per second.
    pub rate: u64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxHugepageLimit {
    /// "2MB", "1GB", "64KB".
    pub page_size: String,
    /// Bytes.
    pub limit: u64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxNetwork {
    #[serde(default, rename = "classID", skip_serializing_if = "Option::is_none")]
    pub class_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub priorities: Vec<LinuxInterfacePriority>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxInterfacePriority {
    pub name: String,
    pub priority: u32,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxRdma {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hca_handles: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hca_objects: Option<u32>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A controller a resource needs, by its v1 and v2 names (`None`: v2 has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Controller {
    pub v1: &'static str,
    pub v2: Option<&'static str>,
}

pub const MEMORY: Controller = Controller { v1: "memory", v2: Some("memory") };
pub const CPU: Controller = Controller { v1: "cpu", v2: Some("cpu") };
pub const CPUSET: Controller = Controller { v1: "cpuset", v2: Some("cpuset") };
pub const PIDS: Controller = Controller { v1: "pids", v2: Some("pids") };
pub const HUGETLB: Controller = Controller { v1: "hugetlb", v2: Some("hugetlb") };
pub const BLKIO: Controller = Controller { v1: "blkio", v2: Some("io") };
pub const NET_CLS: Controller = Controller { v1: "net_cls", v2: None };
pub const NET_PRIO: Controller = Controller { v1: "net_prio", v2: None };
pub const RDMA: Controller = Controller { v1: "rdma", v2: Some("rdma") };
/// Every controller `Cgroups::apply` writes, in the order it writes them.
pub const ALL: [Controller; 9] = [MEMORY, CPU, CPUSET, PIDS, HUGETLB, BLKIO, NET_CLS, NET_PRIO, RDMA];

impl LinuxResources {
    /// The controllers the set fields need (devices and unified aside), with
    /// a field's name for messages.
    pub fn wanted(&self) -> Vec<(Controller, &'static str)> {
        let mut out = Vec::new();
        if let Some(m) = &self.memory
            && (m.limit.is_some()
                || m.reservation.is_some()
                || m.swap.is_some()
                || m.kernel_tcp.is_some()
                || m.swappiness.is_some()
                || m.disable_oom_killer == Some(true))
        {
            out.push((MEMORY, "memory"));
        }
        if let Some(c) = &self.cpu {
            let any = c.shares.is_some()
                || c.quota.is_some()
                || c.period.is_some()
                || c.burst.is_some()
                || c.realtime_runtime.is_some()
                || c.realtime_period.is_some()
                || c.idle.is_some();
            if any {
                out.push((CPU, "cpu"));
            }
            if c.cpus.is_some() || c.mems.is_some() {
                out.push((CPUSET, "cpuset"));
            }
        }
        if self.pids.is_some() {
            out.push((PIDS, "pids"));
        }
        if !self.hugepage_limits.is_empty() {
            out.push((HUGETLB, "hugepageLimits"));
        }
        if let Some(b) = &self.block_io
            && (b.weight.is_some()
                || b.leaf_weight.is_some()
                || !b.weight_device.is_empty()
                || !b.throttle_read_bps_device.is_empty()
                || !b.throttle_write_bps_device.is_empty()
                || !b.throttle_read_iops_device.is_empty()
                || !b.throttle_write_iops_device.is_empty())
        {
            out.push((BLKIO, "blockIO"));
        }
        if let Some(n) = &self.network {
            if n.class_id.is_some() {
                out.push((NET_CLS, "network.classID"));
            }
            if !n.priorities.is_empty() {
                out.push((NET_PRIO, "network.priorities"));
            }
        }
        if self.rdma.as_ref().is_some_and(|r| !r.is_empty()) {
            out.push((RDMA, "rdma"));
        }
        out
    }
}

impl Limits {
    /// The Docker-style limits as OCI resources, as Docker builds a spec:
    /// `cpus` a quota over a 100 ms period, and device rules after a deny-all.
    pub fn to_resources(&self) -> Result<LinuxResources> {
        let mut r = LinuxResources::default();
        if let Some(bytes) = self.memory {
            r.memory = Some(LinuxMemory { limit: Some(bytes), ..Default::default() });
        }
        if self.cpus.is_some() || self.cpu_shares.is_some() || self.cpuset_cpus.is_some() {
            let mut cpu = LinuxCpu { cpus: self.cpuset_cpus.clone(), ..Default::default() };
            if let Some(cpus) = self.cpus {
                cpu.quota = Some((cpus * 100_000.0).round() as i64);
                cpu.period = Some(100_000);
            }
            if let Some(shares) = self.cpu_shares {
                let shares = u64::try_from(shares)
                    .map_err(|_| Error::invalid(format!("invalid cpu_shares {shares}: must be positive")))?;
                cpu.shares = Some(shares);
            }
            r.cpu = Some(cpu);
        }
        if let Some(max) = self.pids {
            r.pids = Some(LinuxPids { limit: max, ..Default::default() });
        }
        if let Some(rules) = &self.devices {
            r.devices.push(LinuxDeviceCgroup {
                allow: false,
                access: Some("rwm".into()),
                ..Default::default()
            });
            for rule in rules {
                r.devices.push(LinuxDeviceCgroup::parse(rule)?);
            }
        }
        Ok(r)
    }
}

/// A device access rule, checked: type 'a', 'b' or 'c'; `None` matches any
/// number; access bits mknod 1, read 2, write 4 (BPF_DEVCG_ACC_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub dev_type: char,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
}

impl DeviceRule {
    /// Everything: a rule that resets the default.
    pub fn is_all(&self) -> bool {
        self.dev_type == 'a'
    }

    /// cgroup v1's form: `c 1:3 rwm`, `b *:* m`, `a`.
    pub fn v1(&self) -> String {
        if self.is_all() {
            return "a".into();
        }
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        let access: String = [(2, 'r'), (4, 'w'), (1, 'm')]
            .iter()
            .filter(|(b, _)| self.access & b != 0)
            .map(|(_, c)| *c)
            .collect();
        format!("{} {}:{} {access}", self.dev_type, num(self.major), num(self.minor))
    }
}

impl LinuxDeviceCgroup {
    /// A Docker-style rule ("c 1:3 rwm", "b *:* m", "a"), allowing.
    pub fn parse(rule: &str) -> Result<LinuxDeviceCgroup> {
        let bad = || Error::invalid(format!("bad device rule {rule:?}: use e.g. \"c 1:3 rwm\""));
        let mut parts = rule.split_whitespace();
        let dev_type = parts.next().ok_or_else(bad)?;
        if dev_type == "a" {
            return Ok(LinuxDeviceCgroup { allow: true, dev_type: Some("a".into()), ..Default::default() });
        }
        let (major, minor) = parts.next().and_then(|n| n.split_once(':')).ok_or_else(bad)?;
        let number = |s: &str| -> Result<Option<i64>> {
            if s == "*" { Ok(None) } else { s.parse::<u32>().map(|n| Some(i64::from(n))).map_err(|_| bad()) }
        };
        let d = LinuxDeviceCgroup {
            allow: true,
            dev_type: Some(dev_type.into()),
            major: number(major)?,
            minor: number(minor)?,
            access: Some(parts.next().ok_or_else(bad)?.into()),
            ..Default::default()
        };
        d.check().map_err(|_| bad())?;
        Ok(d)
    }

    /// The checked rule; the error names the rule.
    pub fn check(&self) -> Result<DeviceRule> {
        let bad = |why: &str| Error::invalid(format!("device rule {}: {why}", self.describe()));
        let dev_type = match self.dev_type.as_deref().unwrap_or("a") {
            "a" => 'a',
            "b" => 'b',
            "c" => 'c',
            other => return Err(bad(&format!("type {other:?} is not a, b or c"))),
        };
        let number = |n: Option<i64>, what: &str| -> Result<Option<u32>> {
            match n {
                None | Some(-1) => Ok(None),
                Some(n) => {
                    u32::try_from(n).map(Some).map_err(|_| bad(&format!("{what} {n} is out of range")))
                }
            }
        };
        let mut access = 0;
        for ch in self.access.as_deref().unwrap_or("rwm").chars() {
            access |= match ch {
                'm' => 1,
                'r' => 2,
                'w' => 4,
                _ => return Err(bad(&format!("access {ch:?} is not r, w or m"))),
            };
        }
        if access == 0 {
            return Err(bad("empty access"));
        }
        Ok(DeviceRule {
            allow: self.allow,
            dev_type,
            major: number(self.major, "major")?,
            minor: number(self.minor, "minor")?,
            access,
        })
    }

    fn describe(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What a sequence of rules leaves, as cgroup v1's devices controller keeps
/// it: a default, and exceptions that all say the opposite (an allow list
/// after a deny-all, a deny list after an allow-all). A specific rule adds an
/// exception, or takes access away from an exception of the same type and
/// numbers, as the kernel does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAccess {
    pub default_allow: bool,
    pub exceptions: Vec<DeviceRule>,
}

/// `rules` in order, starting from allow-all (a new cgroup's state).
pub fn device_access(rules: &[LinuxDeviceCgroup]) -> Result<DeviceAccess> {
    let mut acc = DeviceAccess { default_allow: true, exceptions: Vec::new() };
    for r in rules {
        let r = r.check()?;
        if r.is_all() {
            acc = DeviceAccess { default_allow: r.allow, exceptions: Vec::new() };
        } else if r.allow != acc.default_allow {
            let same = acc
                .exceptions
                .iter_mut()
                .find(|e| (e.dev_type, e.major, e.minor) == (r.dev_type, r.major, r.minor));
            match same {
                Some(e) => e.access |= r.access,
                None => acc.exceptions.push(DeviceRule { allow: r.allow, ..r }),
            }
        } else {
            for e in acc.exceptions.iter_mut() {
                if (e.dev_type, e.major, e.minor) == (r.dev_type, r.major, r.minor) {
                    e.access &= !r.access;
                }
            }
            acc.exceptions.retain(|e| e.access != 0);
        }
    }
    Ok(acc)
}

/// Docker's and runc's conversion of cpu shares (2..262144) to a v2 weight (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

/// runc's conversion of a blkio weight (10..1000) to a v2 io weight (1..10000).
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    let w = u64::from(weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// A limit in bytes as a v1 file takes it: -1 for none.
pub fn v1_limit(n: i64) -> String {
    if n < 0 { "-1".into() } else { n.to_string() }
}

/// A limit as v2's `.max` files take it.
pub fn v2_limit(n: i64) -> String {
    if n < 0 { "max".into() } else { n.to_string() }
}

/// v2's memory.swap.max from the spec's memory+swap total, as runc converts
/// it: `None` leaves the file alone.
pub fn v2_swap(swap: Option<i64>, limit: Option<i64>) -> Result<Option<String>> {
    let limit = limit.unwrap_or(0);
    match swap.unwrap_or(0) {
        // Unlimited memory with swap unset: both unlimited (v1's reading).
        0 if limit == -1 => Ok(Some("max".into())),
        0 => Ok(None),
        -1 => Ok(Some("max".into())),
        s if limit <= 0 => Err(Error::invalid(format!("memory swap {s} needs a memory limit"))),
        s if s < limit => {
            Err(Error::invalid(format!("memory swap {s} is below the memory limit {limit}: it counts both")))
        }
        s => Ok(Some((s - limit).to_string())),
    }
}

/// A `pageSize` ("2MB") checked as the file-name part it is.
pub fn page_size(s: &str) -> Result<&str> {
    let digits = s.trim_end_matches(['K', 'M', 'G', 'B']);
    let ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && matches!(&s[digits.len()..], "KB" | "MB" | "GB");
    if ok { Ok(s) } else { Err(Error::invalid(format!("invalid hugepage size {s:?}: use e.g. 2MB"))) }
}

/// The pids.max value: 0 and -1 mean no limit (runc's reading of the spec).
pub fn pids_max(limit: i64) -> String {
    if limit <= 0 { "max".into() } else { limit.to_string() }
}

/// A `unified` key checked as the name of one file in the cgroup directory.
pub fn unified_file(key: &str) -> Result<&str> {
    if key.is_empty() || key.contains('/') || key == "." || key == ".." || key.contains('\0') {
        return Err(Error::invalid(format!(
            "invalid unified key {key:?}: it must name a file of the cgroup"
        )));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(allow: bool, t: &str, major: Option<i64>, minor: Option<i64>, access: &str) -> LinuxDeviceCgroup {
        LinuxDeviceCgroup {
            allow,
            dev_type: Some(t.into()),
            major,
            minor,
            access: Some(access.into()),
            ..Default::default()
        }
    }

    #[test]
    fn real_specs_round_trip() {
        for json in [
            include_str!("../../../tests/data/oci/resources-podman.json"),
            include_str!("../../../tests/data/oci/resources-containerd.json"),
        ] {
            let r: LinuxResources = serde_json::from_str(json).expect("parses");
            assert_eq!(serde_json::to_value(&r).unwrap(), serde_json::from_str::<Value>(json).unwrap());
        }
    }

    #[test]
    fn every_field_parses_and_round_trips() {
        let json = r#"{
            "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
            "memory": {"limit": 1, "reservation": 2, "swap": 3, "kernel": 4, "kernelTCP": 5, "swappiness": 6,
                       "disableOOMKiller": true, "useHierarchy": true, "checkBeforeUpdate": false, "future": 1},
            "cpu": {"shares": 1, "quota": 2, "burst": 3, "period": 4, "realtimeRuntime": 5, "realtimePeriod": 6,
                    "cpus": "0", "mems": "0", "idle": 1},
            "pids": {"limit": 7},
            "blockIO": {"weight": 10, "leafWeight": 11,
                        "weightDevice": [{"major": 8, "minor": 0, "weight": 12, "leafWeight": 13}],
                        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1}],
                        "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2}],
                        "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 3}],
                        "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 4}]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
            "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
            "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
            "unified": {"memory.high": "max", "io.max": "8:0 rbps=1"},
            "newThing": [1, 2]
        }"#;
        let r: LinuxResources = serde_json::from_str(json).unwrap();
        assert_eq!(r.memory.as_ref().unwrap().kernel_tcp, Some(5));
        assert_eq!(r.block_io.as_ref().unwrap().throttle_write_iops_device[0].rate, 4);
        assert_eq!(r.rdma.as_ref().unwrap()["mlx5_1"].hca_objects, Some(10000));
        assert_eq!(r.extra["newThing"], serde_json::json!([1, 2]));
        assert_eq!(serde_json::to_value(&r).unwrap(), serde_json::from_str::<Value>(json).unwrap());
        let wanted: Vec<&str> = r.wanted().iter().map(|(_, what)| *what).collect();
        assert_eq!(
            wanted,
            [
                "memory",
                "cpu",
                "cpuset",
                "pids",
                "hugepageLimits",
                "blockIO",
                "network.classID",
                "network.priorities",
                "rdma"
            ]
        );
    }

    #[test]
    fn docker_limits_convert() {
        let l = Limits {
            memory: Some(32 << 20),
            cpus: Some(0.5),
            cpu_shares: Some(512),
            cpuset_cpus: Some("1".into()),
            pids: Some(20),
            devices: Some(vec!["c 1:3 rwm".into(), "c 136:* rw".into()]),
        };
        let r = l.to_resources().unwrap();
        let m = r.memory.as_ref().unwrap();
        assert_eq!(m.limit, Some(32 << 20));
        let c = r.cpu.as_ref().unwrap();
        assert_eq!(
            (c.quota, c.period, c.shares, c.cpus.as_deref()),
            (Some(50_000), Some(100_000), Some(512), Some("1"))
        );
        assert_eq!(r.pids.as_ref().unwrap().limit, 20);
        assert_eq!(
            r.devices[0],
            LinuxDeviceCgroup { allow: false, access: Some("rwm".into()), ..Default::default() }
        );
        assert_eq!(r.devices[1], dev(true, "c", Some(1), Some(3), "rwm"));
        assert_eq!(r.devices[2], dev(true, "c", Some(136), None, "rw"));
        assert!(Limits::default().to_resources().unwrap() == LinuxResources::default());
        for bad in ["", "x 1:3 r", "c 1 r", "c 1:3 q", "c a:3 r", "c 1:3"] {
            let l = Limits { devices: Some(vec![bad.into()]), ..Default::default() };
            assert!(l.to_resources().is_err(), "{bad:?}");
        }
        let l = Limits { cpu_shares: Some(-1), ..Default::default() };
        assert!(l.to_resources().unwrap_err().message.contains("cpu_shares"));
    }

    #[test]
    fn device_rules_check_and_print_as_v1() {
        let r = dev(true, "c", Some(1), Some(3), "rw").check().unwrap();
        assert_eq!(r.v1(), "c 1:3 rw");
        assert_eq!(dev(false, "b", None, Some(-1), "m").check().unwrap().v1(), "b *:* m");
        let all = LinuxDeviceCgroup { allow: false, ..Default::default() }.check().unwrap();
        assert!(all.is_all());
        assert_eq!((all.v1(), all.access), ("a".to_string(), 7));
        for (bad, why) in [
            (dev(true, "u", None, None, "r"), "type"),
            (dev(true, "c", Some(-2), None, "r"), "major -2"),
            (dev(true, "c", Some(1), Some(1 << 40), "r"), "minor"),
            (dev(true, "c", Some(1), Some(3), "rx"), "access"),
            (dev(true, "c", Some(1), Some(3), ""), "empty"),
        ] {
            let e = bad.check().unwrap_err().message;
            assert!(e.contains(why) && e.starts_with("device rule {"), "{e}");
        }
    }

    #[test]
    fn device_rules_fold_as_v1_does() {
        let deny_all = LinuxDeviceCgroup { allow: false, access: Some("rwm".into()), ..Default::default() };
        let allow_all = LinuxDeviceCgroup { allow: true, ..Default::default() };
        // Nothing: a new cgroup allows everything.
        assert_eq!(device_access(&[]).unwrap(), DeviceAccess { default_allow: true, exceptions: vec![] });
        // Podman's: deny all, then allow /dev/null read-write.
        let a = device_access(&[deny_all.clone(), dev(true, "c", Some(1), Some(3), "rw")]).unwrap();
        assert!(!a.default_allow);
        assert_eq!(a.exceptions, [dev(true, "c", Some(1), Some(3), "rw").check().unwrap()]);
        // Access merges on the same device, and a deny takes bits away.
        let a = device_access(&[
            deny_all.clone(),
            dev(true, "c", Some(1), Some(3), "r"),
            dev(true, "c", Some(1), Some(3), "w"),
            dev(true, "c", Some(1), Some(5), "rwm"),
            dev(false, "c", Some(1), Some(5), "rwm"),
            dev(false, "c", Some(1), Some(3), "w"),
        ])
        .unwrap();
        assert_eq!(a.exceptions.len(), 1);
        assert_eq!((a.exceptions[0].minor, a.exceptions[0].access), (Some(3), 2));
        // An allow-all resets; later denies make a deny list.
        let a = device_access(&[
            deny_all,
            dev(true, "c", Some(1), Some(3), "r"),
            allow_all,
            dev(false, "b", Some(8), None, "w"),
        ])
        .unwrap();
        assert!(a.default_allow);
        assert_eq!(a.exceptions, [dev(false, "b", Some(8), None, "w").check().unwrap()]);
    }

    #[test]
    fn conversions() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(0), 1, "clamped");
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!((v1_limit(-1), v1_limit(5)), ("-1".to_string(), "5".to_string()));
        assert_eq!((v2_limit(-1), v2_limit(5)), ("max".to_string(), "5".to_string()));
        assert_eq!(v2_swap(Some(300), Some(100)).unwrap().as_deref(), Some("200"));
        assert_eq!(v2_swap(Some(-1), Some(100)).unwrap().as_deref(), Some("max"));
        assert_eq!(v2_swap(None, Some(-1)).unwrap().as_deref(), Some("max"));
        assert_eq!(v2_swap(None, Some(100)).unwrap(), None);
        assert_eq!(v2_swap(Some(100), Some(100)).unwrap().as_deref(), Some("0"));
        assert!(v2_swap(Some(50), Some(100)).unwrap_err().message.contains("below"));
        assert!(v2_swap(Some(50), None).unwrap_err().message.contains("needs a memory limit"));
        assert_eq!((pids_max(0), pids_max(-1), pids_max(9)), ("max".into(), "max".into(), "9".to_string()));
        assert!(page_size("2MB").is_ok() && page_size("1GB").is_ok() && page_size("64KB").is_ok());
        for bad in ["", "MB", "2M", "2mb", "2MB/", "../2MB", "2TB"] {
            assert!(page_size(bad).is_err(), "{bad:?}");
        }
        assert!(unified_file("memory.high").is_ok());
        for bad in ["", "a/b", "..", ".", "../memory.max"] {
            assert!(unified_file(bad).is_err(), "{bad:?}");
        }
    }
}
