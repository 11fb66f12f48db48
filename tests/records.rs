//! Records are not trusted blindly (issue 10, hole 8): a record reached
//! through a link, naming another container, forging a pid, or truncated
//! never makes mydocker act on something that is not the container's own, and
//! `rm -f` always finds and removes what a container owns.

mod common;
use common::*;
use std::time::Duration;

fn live_pids(env: &Env, name: &str) -> Vec<i32> {
    let r = env.record(name);
    let id = r["id"].as_str().unwrap_or("").to_string();
    cgroup_dirs(&id)
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|t| t.lines().filter_map(|l| l.trim().parse::<i32>().ok()).collect::<Vec<_>>())
        .filter(|p| alive(*p))
        .collect()
}

#[test]
fn a_record_through_a_link_or_naming_another_container_is_not_followed() {
    let env = Env::new();
    for n in ["a", "b", "c"] {
        env.ok(&["run", "-d", "--name", n, "sleep", "100"]);
    }
    let b_pids = live_pids(&env, "b");
    assert!(!b_pids.is_empty());
    // a's record becomes a link to b's; c's a copy of b's (it names b).
    let cfg = |n: &str| env.root().join(n).join("config.json");
    std::fs::remove_file(cfg("a")).expect("rm a");
    std::os::unix::fs::symlink(cfg("b"), cfg("a")).expect("link");
    std::fs::copy(cfg("b"), cfg("c")).expect("copy");
    for n in ["a", "c"] {
        let o = env.run(&["inspect", n]);
        assert_ne!(o.code, 0, "inspect {n} read another container's record: {}", o.stdout);
        env.ok(&["rm", "-f", n]);
        assert!(!env.root().join(n).exists(), "{n} removed");
    }
    assert!(b_pids.iter().all(|p| alive(*p)), "rm -f of a or c killed b");
    let row = env.ps_row("b").unwrap_or_default();
    assert!(row.contains("Running"), "b still runs: {row}");
    env.finish();
}

#[test]
fn a_forged_pid_is_never_signalled() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "f", "sleep", "100"]);
    let mut victim = std::process::Command::new("sleep").arg("100").spawn().expect("host sleep");
    let vpid = victim.id() as i32;
    let stat = std::fs::read_to_string(format!("/proc/{vpid}/stat")).unwrap_or_default();
    let start: i64 =
        stat.rsplit(')').next().and_then(|r| r.split_whitespace().nth(19)?.parse().ok()).unwrap_or(0);
    assert!(start > 0);
    // The container's own init keeps running; the record now names the victim.
    let own = env.record("f")["pid"].as_i64().unwrap_or(0) as i32;
    let path = env.root().join("f/config.json");
    let mut rec = env.record("f");
    rec["pid"] = vpid.into();
    rec["start_time"] = start.into();
    std::fs::write(&path, serde_json::to_vec(&rec).unwrap_or_default()).expect("forge");
    env.run(&["kill", "f"]);
    env.run(&["stop", "-t", "1", "f"]);
    env.run(&["rm", "-f", "f"]);
    std::thread::sleep(Duration::from_millis(200));
    let survived = alive(vpid);
    let _ = victim.kill();
    let _ = victim.wait();
    assert!(survived, "a host process named by a forged record was killed");
    // rm -f still removed the container and its real processes.
    assert!(wait_dead(own, Duration::from_secs(5)), "the container's own init was killed");
    env.finish();
}

#[test]
fn rm_f_of_a_running_container_with_a_truncated_record_removes_everything() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "t", "sh", "-c", "sleep 100 & sleep 100"]);
    let pids = live_pids(&env, "t");
    assert!(pids.len() >= 2, "{pids:?}");
    let path = env.root().join("t/config.json");
    let text = std::fs::read(&path).unwrap_or_default();
    std::fs::write(&path, &text[..10]).expect("truncate");
    let ps = env.ok(&["ps", "-a"]);
    assert!(ps.contains("Unknown"), "{ps}");
    env.ok(&["rm", "-f", "t"]);
    for p in pids {
        assert!(wait_dead(p, Duration::from_secs(5)), "process {p} of the container survived rm -f");
    }
    env.finish();
}

/// `kill -9` of the CLI at any moment of `run -d` never leaves `ps` showing
/// `Created` beside a command that runs.
#[test]
fn ps_tells_the_truth_after_the_cli_is_killed_during_run() {
    let env = Env::new();
    // At each step (deterministic crash points, debug builds), then at random moments.
    for point in ["launch:created", "launch:recorded", "launch:started"] {
        let name = point.replace(':', "-");
        let o: Out = env
            .command(&["run", "-d", "--name", &name, "sleep", "100"])
            .env("MYDOCKER_CRASH_AT", point)
            .output()
            .expect("run")
            .into();
        assert_eq!(o.code, -1, "{point}: killed");
    }
    for i in 0..30u64 {
        let name = format!("k{i}");
        let mut child = env.command(&["run", "-d", "--name", &name, "sleep", "100"]).spawn().expect("spawn");
        std::thread::sleep(Duration::from_micros(500 * (i % 30)));
        let _ = child.kill();
        let _ = child.wait();
    }
    std::thread::sleep(Duration::from_millis(300));
    for row in env.ok(&["ps", "-a"]).lines().skip(1) {
        let name = row.split_whitespace().nth(1).unwrap_or("");
        if row.contains("Created") && !name.is_empty() {
            let running: Vec<i32> =
                live_pids(&env, name).into_iter().filter(|p| cmdline(*p).starts_with("sleep")).collect();
            assert!(running.is_empty(), "ps says Created while the command runs: {row}");
        }
    }
    env.finish();
}
