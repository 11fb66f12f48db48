//! OCI `linux.resources` on this host's real cgroups, through the `cgroup::`
//! bindings: a cgroup made with Docker-style limits, updated with a full
//! resources map (every file read back), device rules enforced on a real
//! process, a busy process frozen and thawed, and nothing left at the end.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

const SCRIPT: &str = r#"
let mode = ARGS[0];
let name = ARGS[1];
if mode == "create" {
    cgroup::create(name, cgroup::resources(#{ memory: 33554432, pids: 50, devices: ["c 1:3 rwm"] }));
    cgroup::add(name, parse_int(ARGS[2]));
    cgroup::update(name, #{
        devices: [
            #{ allow: false, access: "rwm" },
            #{ allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
            #{ allow: true, type: "c", major: 1, minor: 5, access: "r" },
            #{ allow: true, type: "c", major: 136, access: "rw" },
        ],
        memory: #{ limit: 67108864, reservation: 33554432, swap: 134217728, kernel: 1, kernelTCP: 16777216,
                   swappiness: 10, disableOOMKiller: true, useHierarchy: true },
        cpu: #{ shares: 512, quota: 50000, burst: 1000, period: 100000, realtimeRuntime: 0,
                realtimePeriod: 1000000, cpus: "0", mems: "0", idle: 0 },
        pids: #{ limit: 100 },
        blockIO: #{ throttleReadBpsDevice: [#{ major: 254, minor: 0, rate: 1048576 }],
                    throttleWriteIOPSDevice: [#{ major: 254, minor: 0, rate: 100 }] },
        hugepageLimits: [#{ pageSize: "2MB", limit: 4194304 }],
        unified: #{ "cgroup.max.descendants": "5", "cgroup.max.depth": "3" },
    });
    for f in ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes",
              "memory.kmem.tcp.limit_in_bytes", "memory.swappiness", "memory.oom_control", "memory.use_hierarchy",
              "cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.cfs_burst_us", "cpu.rt_runtime_us",
              "cpu.rt_period_us", "cpu.idle", "cpuset.cpus", "cpuset.mems", "pids.max", "devices.list",
              "blkio.throttle.read_bps_device", "blkio.throttle.write_iops_device", "hugetlb.2MB.max",
              "cgroup.max.descendants", "cgroup.max.depth"] {
        let v = cgroup::read(name, f);
        v.replace("\n", ";");
        print(`${f}=${v}`);
    }
    for p in cgroup::paths(name) { print(`path=${p}`); }
} else if mode == "check" {
    cgroup::update(name, #{ cpu: #{ idle: 1 } });
    print(`idle=${cgroup::read(name, "cpu.idle")}`);
    try { cgroup::update(name, #{ memory: #{ limit: 4096, checkBeforeUpdate: true } }); print("low limit taken"); }
    catch (e) { print(`refused=${e.kind}: ${e.message}`); }
    try { cgroup::update(name, #{ network: #{ classID: 1 } }); print("classID taken"); }
    catch (e) { print(`refused=${e.kind}: ${e.message}`); }
    print(`memory.limit_in_bytes after=${cgroup::read(name, "memory.limit_in_bytes")}`);
    print(`name=${cgroup::name_for("machine.slice:libpod:x1", "x1", true)}`);
} else if mode == "freeze" {
    cgroup::freeze(name);
    print(cgroup::freezer_state(name));
} else if mode == "thaw" {
    cgroup::thaw(name);
    print(cgroup::freezer_state(name));
} else if mode == "remove" {
    cgroup::remove(name);
}
"#;

/// CPU time (utime + stime, in ticks) of `pid`.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 overall; 12 and 13 after "pid (comm)".
    f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0)
}

/// A file removed whatever happens.
struct Shm(PathBuf);

impl Drop for Shm {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Kills and reaps the busy process whatever happens; thawed first, as a
/// frozen v1 task does not die until it runs.
struct Busy(Child, PathBuf);

impl Drop for Busy {
    fn drop(&mut self) {
        let _ = std::fs::write(self.1.join("freezer.state"), "THAWED");
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Removes the test's cgroups (the leaf, then its parent, in every
/// hierarchy) and turns hugetlb off again at the cgroup2 root if the test
/// turned it on, whatever happens.
struct Leftovers {
    parent: String,
    hugetlb_before: Option<bool>,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        for h in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
            let dir = h.path().join(&self.parent);
            for _ in 0..50 {
                let _ = std::fs::remove_dir(dir.join("c1"));
                if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if self.hugetlb_before == Some(false) {
            let _ = std::fs::write("/sys/fs/cgroup/unified/cgroup.subtree_control", "-hugetlb");
        }
    }
}

fn hugetlb_enabled_at_root() -> Option<bool> {
    std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.subtree_control")
        .ok()
        .map(|s| s.contains("hugetlb"))
}

#[test]
fn full_resources_on_real_cgroups_then_freeze_thaw_and_remove() {
    if !nix::unistd::geteuid().is_root() || !Path::new("/sys/fs/cgroup/freezer").is_dir() {
        eprintln!("skipped: needs root and this CI host's hybrid layout (a v1 freezer)");
        return;
    }
    let env = Env::new();
    let dir = tempfile::tempdir().expect("tmp");
    let script = dir.path().join("res.rhai");
    std::fs::write(&script, SCRIPT).expect("script");
    let script = script.display().to_string();
    let parent = format!("mydocker-ocitest-{}", std::process::id());
    let name = format!("{parent}/c1");
    let _leftovers = Leftovers { parent: parent.clone(), hugetlb_before: hugetlb_enabled_at_root() };
    let freezer = Path::new("/sys/fs/cgroup/freezer").join(&name);
    let busy = Busy(Command::new("sh").arg("-c").arg("while :; do :; done").spawn().expect("spawn"), freezer);
    let pid = busy.0.id();
    let o = env.run(&[&script, "create", &name, &pid.to_string()]);
    let lines: Vec<&str> = o.stdout.lines().collect();
    let value = |key: &str| -> String {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key} in {}\n{}", o.stdout, o.stderr))
            .to_string()
    };
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    for (file, want) in [
        ("memory.limit_in_bytes", "67108864"),
        ("memory.memsw.limit_in_bytes", "134217728"),
        ("memory.soft_limit_in_bytes", "33554432"),
        ("memory.kmem.tcp.limit_in_bytes", "16777216"),
        ("memory.swappiness", "10"),
        ("memory.use_hierarchy", "1"),
        ("cpu.shares", "512"),
        ("cpu.cfs_quota_us", "50000"),
        ("cpu.cfs_period_us", "100000"),
        ("cpu.cfs_burst_us", "1000"),
        ("cpu.rt_runtime_us", "0"),
        ("cpu.rt_period_us", "1000000"),
        ("cpu.idle", "0"),
        ("cpuset.cpus", "0"),
        ("cpuset.mems", "0"),
        ("pids.max", "100"),
        ("devices.list", "c 1:3 rwm;c 1:5 r;c 136:* rw"),
        ("blkio.throttle.read_bps_device", "254:0 1048576"),
        ("blkio.throttle.write_iops_device", "254:0 100"),
        ("hugetlb.2MB.max", "4194304"),
        ("cgroup.max.descendants", "5"),
        ("cgroup.max.depth", "3"),
    ] {
        assert_eq!(value(file), want, "{file}");
    }
    assert!(value("memory.oom_control").contains("oom_kill_disable 1"));
    let paths: Vec<PathBuf> =
        lines.iter().filter_map(|l| l.strip_prefix("path=")).map(PathBuf::from).collect();
    assert!(paths.len() >= 10, "every hierarchy: {paths:?}");
    for p in &paths {
        let procs = std::fs::read_to_string(p.join("cgroup.procs")).unwrap_or_default();
        assert!(procs.lines().any(|l| l == pid.to_string()), "{pid} in {}", p.display());
    }

    // The device rules for real (v1 devices controller and the v2 BPF filter):
    // /dev/null rw, /dev/zero read only, /dev/full not at all.
    let join: String = paths.iter().map(|p| format!("echo $$ > {}/cgroup.procs; ", p.display())).collect();
    // A 1 MiB tmpfs file written from inside stays charged to the cgroup: its usage for checkBeforeUpdate.
    let shm = Shm(PathBuf::from(format!("/dev/shm/{parent}")));
    let probe = format!(
        "{join} head -c1 /dev/zero >/dev/null && echo ZERO_READ; (echo x > /dev/zero) 2>/dev/null && echo ZERO_WRITE; \
         head -c1 /dev/full >/dev/null 2>&1 && echo FULL_READ; echo x > /dev/null && echo NULL_WRITE; \
         head -c 1048576 /dev/zero > {}; true",
        shm.0.display()
    );
    let out = Command::new("sh").arg("-c").arg(&probe).output().expect("probe");
    let seen = String::from_utf8_lossy(&out.stdout);
    assert!(seen.contains("ZERO_READ") && seen.contains("NULL_WRITE"), "{seen}");
    assert!(!seen.contains("ZERO_WRITE") && !seen.contains("FULL_READ"), "{seen}");

    // Updates: what they set changes; refused ones change nothing.
    let o = env.run(&[&script, "check", &name]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let lines: Vec<&str> = o.stdout.lines().collect();
    let refused: Vec<&&str> = lines.iter().filter(|l| l.starts_with("refused=")).collect();
    assert_eq!(refused.len(), 2, "{}", o.stdout);
    assert!(
        refused[0].contains("invalid") && refused[0].contains("below the cgroup's current usage"),
        "{}",
        refused[0]
    );
    assert!(refused[1].contains("no net_cls cgroup controller"), "{}", refused[1]);
    for (line, want) in [
        ("idle=", "1"),
        ("memory.limit_in_bytes after=", "67108864"),
        ("name=", "machine.slice/libpod-x1.scope"),
    ] {
        assert_eq!(lines.iter().find_map(|l| l.strip_prefix(line)), Some(want), "{line} in {}", o.stdout);
    }
    drop(shm);

    // Frozen, the busy loop gets no CPU; thawed, it runs again.
    assert!(eventually(Duration::from_secs(5), || cpu_ticks(pid) > 0), "the loop runs");
    let o = env.run(&[&script, "freeze", &name]);
    assert_eq!((o.code, o.stdout.trim()), (0, "paused"), "{}", o.stderr);
    let frozen_at = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cpu_ticks(pid), frozen_at, "no CPU while frozen");
    let o = env.run(&[&script, "thaw", &name]);
    assert_eq!((o.code, o.stdout.trim()), (0, "running"), "{}", o.stderr);
    assert!(eventually(Duration::from_secs(5), || cpu_ticks(pid) > frozen_at), "runs again after thaw");

    drop(busy);
    let o = env.run(&[&script, "remove", &name]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    for p in &paths {
        assert!(!p.exists(), "{} left", p.display());
        let parent_dir = p.parent().expect("parent");
        assert!(!parent_dir.exists(), "{} left", parent_dir.display());
    }
    env.finish();
}
