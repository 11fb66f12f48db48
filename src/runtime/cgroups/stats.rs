//! What a cgroup's processes use, as `stats` shows it: CPU time, memory,
//! block I/O, pids. One reader per layout (`v1`, `v2`); a hybrid host reads
//! each controller from the hierarchy that has its files.

use serde::Serialize;
use std::fs;
use std::path::Path;

/// Counters of one cgroup; `None` where this host has no such file.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    /// CPU time used, in nanoseconds.
    pub cpu_ns: Option<i64>,
    /// Memory charged, page cache included (`memory.usage_in_bytes`, `memory.current`).
    pub memory_usage: Option<i64>,
    /// The page cache that can be dropped (inactive file pages): Docker
    /// shows usage less this.
    pub memory_inactive_file: Option<i64>,
    /// The limit; `None` when unlimited.
    pub memory_limit: Option<i64>,
    pub io_read_bytes: Option<i64>,
    pub io_write_bytes: Option<i64>,
    pub pids: Option<i64>,
    /// `None` when unlimited.
    pub pids_limit: Option<i64>,
}

fn read_num(path: &Path) -> Option<i64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A limit file: a number, or "max" (v2), or v1's "unlimited" (a huge number).
fn read_limit(path: &Path) -> Option<Option<i64>> {
    let text = fs::read_to_string(path).ok()?;
    let t = text.trim();
    if t == "max" {
        return Some(None);
    }
    let n: i64 = t.parse().ok()?;
    // v1 says "no limit" with the largest page-aligned i64.
    Some(if n >= 0x7fff_ffff_ffff_f000 { None } else { Some(n) })
}

/// `KEY VALUE` lines (memory.stat, cpu.stat): the value of `key`.
fn stat_field(text: &str, key: &str) -> Option<i64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key)).then(|| it.next()?.parse().ok()).flatten()
    })
}

/// v1 blkio's `MAJ:MIN Read N` / `MAJ:MIN Write N` lines, summed over devices.
pub fn blkio_bytes(text: &str) -> (i64, i64) {
    let (mut read, mut write) = (0, 0);
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if let [_, op, n] = f[..] {
            let n: i64 = n.parse().unwrap_or(0);
            match op {
                "Read" => read += n,
                "Write" => write += n,
                _ => {}
            }
        }
    }
    (read, write)
}

/// v2 io.stat's `MAJ:MIN rbytes=N wbytes=N ...` lines, summed over devices.
pub fn io_stat_bytes(text: &str) -> (i64, i64) {
    let (mut read, mut write) = (0, 0);
    for l in text.lines() {
        for kv in l.split_whitespace().skip(1) {
            match kv.split_once('=') {
                Some(("rbytes", n)) => read += n.parse::<i64>().unwrap_or(0),
                Some(("wbytes", n)) => write += n.parse::<i64>().unwrap_or(0),
                _ => {}
            }
        }
    }
    (read, write)
}

/// Fill what `s` still lacks from the v1 cgroup at `dir` (one hierarchy: the
/// files of its controllers are there).
pub fn v1(dir: &Path, s: &mut Stats) {
    if s.cpu_ns.is_none() {
        s.cpu_ns = read_num(&dir.join("cpuacct.usage"));
    }
    if s.memory_usage.is_none()
        && let Some(usage) = read_num(&dir.join("memory.usage_in_bytes"))
    {
        s.memory_usage = Some(usage);
        s.memory_limit = read_limit(&dir.join("memory.limit_in_bytes")).flatten();
        let stat = fs::read_to_string(dir.join("memory.stat")).unwrap_or_default();
        s.memory_inactive_file = stat_field(&stat, "total_inactive_file");
    }
    if s.io_read_bytes.is_none() {
        // The throttle files count every device (the CFQ ones only some schedulers').
        let text = ["blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_service_bytes"]
            .iter()
            .find_map(|f| fs::read_to_string(dir.join(f)).ok());
        if let Some(text) = text {
            let (r, w) = blkio_bytes(&text);
            (s.io_read_bytes, s.io_write_bytes) = (Some(r), Some(w));
        }
    }
    pids(dir, s);
}

/// Fill what `s` still lacks from the v2 cgroup at `dir`.
pub fn v2(dir: &Path, s: &mut Stats) {
    if s.cpu_ns.is_none()
        && let Ok(stat) = fs::read_to_string(dir.join("cpu.stat"))
    {
        s.cpu_ns = stat_field(&stat, "usage_usec").map(|us| us * 1000);
    }
    if s.memory_usage.is_none()
        && let Some(usage) = read_num(&dir.join("memory.current"))
    {
        s.memory_usage = Some(usage);
        s.memory_limit = read_limit(&dir.join("memory.max")).flatten();
        let stat = fs::read_to_string(dir.join("memory.stat")).unwrap_or_default();
        s.memory_inactive_file = stat_field(&stat, "inactive_file");
    }
    if s.io_read_bytes.is_none()
        && let Ok(text) = fs::read_to_string(dir.join("io.stat"))
    {
        let (r, w) = io_stat_bytes(&text);
        (s.io_read_bytes, s.io_write_bytes) = (Some(r), Some(w));
    }
    pids(dir, s);
}

fn pids(dir: &Path, s: &mut Stats) {
    if s.pids.is_none()
        && let Some(n) = read_num(&dir.join("pids.current"))
    {
        s.pids = Some(n);
        s.pids_limit = read_limit(&dir.join("pids.max")).flatten();
    }
}

/// Bytes received and sent on every interface but loopback, from a
/// `/proc/PID/net/dev` text (the process's network namespace).
pub fn net_dev_bytes(text: &str) -> (i64, i64) {
    let (mut rx, mut tx) = (0, 0);
    for l in text.lines().skip(2) {
        let Some((iface, rest)) = l.split_once(':') else { continue };
        if iface.trim() == "lo" {
            continue;
        }
        let f: Vec<i64> = rest.split_whitespace().map(|n| n.parse().unwrap_or(0)).collect();
        if f.len() >= 9 {
            rx += f[0];
            tx += f[8];
        }
    }
    (rx, tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_files() {
        let d = tempfile::tempdir().unwrap();
        let w = |f: &str, t: &str| fs::write(d.path().join(f), t).unwrap();
        w("cpuacct.usage", "123456789\n");
        w("memory.usage_in_bytes", "10485760\n");
        w("memory.limit_in_bytes", "9223372036854771712\n");
        w("memory.stat", "cache 4096\ntotal_inactive_file 4096\n");
        w(
            "blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 100\n8:0 Write 50\n8:0 Total 150\n8:16 Read 1\nTotal 151\n",
        );
        w("pids.current", "3\n");
        w("pids.max", "max\n");
        let mut s = Stats::default();
        v1(d.path(), &mut s);
        assert_eq!(s.cpu_ns, Some(123456789));
        assert_eq!(
            (s.memory_usage, s.memory_limit, s.memory_inactive_file),
            (Some(10485760), None, Some(4096))
        );
        assert_eq!((s.io_read_bytes, s.io_write_bytes), (Some(101), Some(50)));
        assert_eq!((s.pids, s.pids_limit), (Some(3), None));
        w("memory.limit_in_bytes", "33554432\n");
        let mut s = Stats::default();
        v1(d.path(), &mut s);
        assert_eq!(s.memory_limit, Some(33554432));
    }

    #[test]
    fn v2_files() {
        let d = tempfile::tempdir().unwrap();
        let w = |f: &str, t: &str| fs::write(d.path().join(f), t).unwrap();
        w("cpu.stat", "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n");
        w("memory.current", "8192\n");
        w("memory.max", "max\n");
        w("memory.stat", "anon 4096\ninactive_file 1024\n");
        w("io.stat", "8:0 rbytes=10 wbytes=20 rios=1 wios=2\n8:16 rbytes=5 wbytes=0\n");
        w("pids.current", "1\n");
        w("pids.max", "2048\n");
        let mut s = Stats::default();
        v2(d.path(), &mut s);
        assert_eq!(s.cpu_ns, Some(2_500_000));
        assert_eq!((s.memory_usage, s.memory_limit, s.memory_inactive_file), (Some(8192), None, Some(1024)));
        assert_eq!((s.io_read_bytes, s.io_write_bytes), (Some(15), Some(20)));
        assert_eq!((s.pids, s.pids_limit), (Some(1), Some(2048)));
        // What a v1 hierarchy filled first stays.
        let mut s = Stats { cpu_ns: Some(7), ..Default::default() };
        v2(d.path(), &mut s);
        assert_eq!(s.cpu_ns, Some(7));
    }

    #[test]
    fn net_dev() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
                    face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
                    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  \
                    eth0:    2000      10    0    0    0     0          0         0      300       3    0    0    0     0       0          0\n";
        assert_eq!(net_dev_bytes(text), (2000, 300));
    }
}
