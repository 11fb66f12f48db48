//! `run` flags of Docker's daily use: --init, --ulimit, --shm-size,
//! --group-add, --device, --privileged — each seen from inside the container.

mod common;
use common::*;
use std::time::{Duration, Instant};

/// The states of the container's processes (`/proc/*/stat` field 3), by name.
fn process_states(env: &Env, name: &str) -> Vec<(String, String)> {
    let out = env.ok(&["exec", name, "sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null"]);
    out.lines()
        .filter_map(|l| {
            let (comm, rest) = (l.split_once(" (")?.1.rsplit_once(") ")?.0, l.rsplit_once(") ")?.1);
            Some((comm.to_string(), rest.split_whitespace().next()?.to_string()))
        })
        .collect()
}

#[test]
fn init_reaps_orphans_and_forwards_signals() {
    let env = Env::new();
    // An orphan: the subshell's sleep outlives its parent and is re-parented to PID 1.
    let orphan = "(sleep 0.2 &); exec sleep 1000";
    env.ok(&["run", "-d", "--name", "with", "--init", "sh", "-c", orphan]);
    env.ok(&["run", "-d", "--name", "without", "sh", "-c", orphan]);
    std::thread::sleep(Duration::from_millis(800));
    let with = process_states(&env, "with");
    assert!(!with.iter().any(|(_, s)| s == "Z"), "the init reaped the orphan: {with:?}");
    assert!(with.iter().any(|(c, _)| c == "sleep"), "{with:?}");
    // The regression this guards: without an init, PID 1 (sleep) never reaps.
    let without = process_states(&env, "without");
    assert!(without.iter().any(|(_, s)| s == "Z"), "a zombie without --init: {without:?}");

    // SIGTERM reaches the command (a PID 1 `sleep` would ignore it until SIGKILL).
    let t = Instant::now();
    env.ok(&["stop", "-t", "10", "with"]);
    assert!(t.elapsed() < Duration::from_secs(5), "stop took {:?}", t.elapsed());
    assert_eq!(env.record("with")["exit_code"], 143);

    // The command's exit code and its errors are the container's.
    assert_eq!(env.run(&["run", "--rm", "--init", "sh", "-c", "exit 7"]).code, 7);
    let o = env.run(&["run", "--rm", "--init", "no-such-command"]);
    assert_eq!(o.code, 127);
    assert!(o.stderr.contains("executable file not found"), "{}", o.stderr);
    env.finish();
}

#[test]
fn ulimit_shm_size_and_group_add_apply() {
    let env = Env::new();
    let out = env.ok(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=1000:2000",
        "--ulimit",
        "core=0",
        "--shm-size",
        "10m",
        "--group-add",
        "1234",
        "--group-add",
        "tty",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn; ulimit -c; df -k /dev/shm | tail -1; id -G",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..3], ["1000", "2000", "0"], "{out}");
    assert!(lines[3].split_whitespace().nth(1) == Some("10240"), "a 10 MiB /dev/shm: {out}");
    let groups: Vec<&str> = lines[4].split_whitespace().collect();
    assert!(groups.contains(&"1234") && groups.contains(&"5"), "{out}");
    env.finish();
}

#[test]
fn device_is_usable_as_granted_and_no_more() {
    let env = Env::new();
    // /dev/loop0 (block 7:0) as /dev/xloop, read-only by the cgroup rule.
    if !std::path::Path::new("/dev/loop0").exists() {
        eprintln!("skipped: no /dev/loop0");
        return;
    }
    let out = env.ok(&[
        "run", "--rm", "--device", "/dev/loop0:/dev/xloop:r", "sh", "-c",
        "ls -l /dev/xloop; head -c 1 /dev/xloop > /dev/null && echo read-ok; (echo x > /dev/xloop) 2>&1 || echo write-denied",
    ]);
    assert!(out.starts_with('b') && out.contains("7,   0"), "{out}");
    assert!(out.contains("read-ok") && out.contains("write-denied"), "{out}");
    // Without --device it is not there.
    let o = env.run(&["run", "--rm", "sh", "-c", "ls /dev/loop0"]);
    assert_ne!(o.code, 0);
    env.finish();
}

#[test]
fn privileged_lifts_the_confinement() {
    let env = Env::new();
    let status = |args: &[&str]| {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        a.extend([
            "sh",
            "-c",
            "grep -E '^(CapEff|Seccomp):' /proc/self/status; grep ' /sys ' /proc/mounts; ls /dev",
        ]);
        env.ok(&a)
    };
    let plain = status(&[]);
    let all = status(&["--privileged"]);
    assert!(plain.contains("Seccomp:\t2") && plain.contains("sysfs ro,"), "{plain}");
    assert!(all.contains("Seccomp:\t0") && all.contains("sysfs rw,"), "{all}");
    let eff = |s: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix("CapEff:\t"))
            .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
    };
    assert!(eff(&all).unwrap_or(0).count_ones() > eff(&plain).unwrap_or(u64::MAX).count_ones() + 20, "{all}");
    if std::path::Path::new("/dev/loop0").exists() {
        assert!(all.lines().any(|l| l == "loop0") && !plain.lines().any(|l| l == "loop0"), "{all}");
    }
    env.finish();
}

#[test]
fn bad_flags_are_refused_and_create_nothing() {
    let env = Env::new();
    env.ok(&["run", "--rm", "true"]); // the default image, so its build says nothing below
    for (args, needle) in [
        (vec!["--ulimit", "nofil=10"], "--ulimit: invalid value \"nofil=10\""),
        (vec!["--ulimit", "nofile=10:5"], "soft limit 10 is above the hard limit 5"),
        (vec!["--ulimit", "nofile=x"], "invalid limit \"x\""),
        (vec!["--shm-size", "lots"], "lots"),
        (vec!["--device", "/etc/passwd"], "--device /etc/passwd: not a device node"),
        (vec!["--device", "/dev/nope"], "--device /dev/nope"),
        (vec!["--device", "/dev/null:/x"], "must be under /dev/"),
        (vec!["--device", "/dev/null:/dev/n:rwz"], "invalid permissions \"rwz\""),
        (vec!["--group-add", "nosuchgroup"], "--group-add nosuchgroup"),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend(args);
        a.push("true");
        let o = env.fails(&a);
        assert_eq!(o.code, 125, "{a:?}");
        assert!(o.stderr.contains(needle) && o.stderr.lines().count() == 1, "{a:?}: {}", o.stderr);
    }
    assert!(env.ps_json().is_empty());
    env.finish();
}
