//! Default limits (issue 10, item 7): a container's log is capped and rotated
//! by its monitor, `logs` reads across the rotated files (`--tail` from the
//! end, in bounded memory; `-f` across a rotation), a pids limit applies by
//! default, and `stop` stops a container even when the state root is full.

mod common;
use common::*;
use std::io::Read;
use std::time::{Duration, Instant};

/// The log files of container `name`, newest first, with their sizes.
fn log_files(env: &Env, name: &str) -> Vec<(String, u64)> {
    let dir = env.root().join(name);
    let mut out: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let len = e.metadata().ok()?.len();
                    n.starts_with("container.log").then_some((n, len))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Lines `line<FROM>` .. `line<TO-1>`, as a shell loop prints them.
fn numbered(from: usize, to: usize) -> String {
    (from..to).map(|i| format!("line{i}\n")).collect()
}

#[test]
fn logs_rotate_at_max_size_and_logs_reads_across_the_files() {
    let env = Env::new();
    let script = "i=0; while [ $i -lt 30000 ]; do echo line$i; i=$((i+1)); done";
    let opts = ["--log-opt", "max-size=64k", "--log-opt", "max-file=3"];
    let mut args = vec!["run", "-d", "--name", "chatty"];
    args.extend(opts);
    args.extend(["sh", "-c", script]);
    env.ok(&args);
    assert_eq!(env.ok(&["wait", "chatty"]).trim(), "0");
    let files = log_files(&env, "chatty");
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["container.log", "container.log.1", "container.log.2"], "max-file=3 keeps 3 files");
    for (n, len) in &files {
        // A file ends at a record boundary, at most max-size.
        assert!(*len <= 64 * 1024, "{n} is {len} bytes");
        let text = std::fs::read_to_string(env.root().join("chatty").join(n)).unwrap_or_default();
        assert!(text.ends_with('\n'), "{n} ends with a whole record");
        assert!(
            text.lines().all(|l| l.len() > 40 && l[30..].starts_with(" stdout F line")),
            "{n}: a full record per line"
        );
    }
    // Oldest first, every line whole and in order, ending with the newest.
    let out = env.ok(&["logs", "chatty"]);
    let first: usize =
        out.lines().next().and_then(|l| l.strip_prefix("line")).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(first > 0, "the oldest output was dropped");
    assert_eq!(out, numbered(first, 30000), "logs prints the kept lines in order");
    assert_eq!(env.record("chatty")["log_opts"]["max_size"], 64 * 1024, "the choice is recorded");
    // Tail across files, and the default cap is recorded for a container without options.
    assert_eq!(env.ok(&["logs", "--tail", "2", "chatty"]), numbered(29998, 30000));
    let n = first + 3;
    let all = env.ok(&["logs", "--tail", &(30000 - n).to_string(), "chatty"]);
    assert_eq!(all, numbered(n, 30000), "a tail reaching into the oldest file");
    env.ok(&["run", "-d", "--name", "quiet", "true"]);
    let rec = env.record("quiet");
    assert_eq!(
        (rec["log_opts"]["max_size"].as_i64(), rec["log_opts"]["max_file"].as_i64()),
        (Some(10 << 20), Some(3))
    );
    env.finish();
}

#[test]
fn bad_log_opts_are_refused_with_one_line() {
    let env = Env::new();
    env.ok(&["run", "--rm", "true"]);
    for (opt, needle) in [
        ("max-size=12q", "12q"),
        ("max-size=0", "max-size"),
        ("max-file=0", "max-file"),
        ("max-file=x", "\"x\""),
        ("colour=blue", "colour"),
        ("max-size", "max-size"),
    ] {
        let o = env.fails(&["run", "-d", "--log-opt", opt, "true"]);
        assert_eq!(o.code, 125, "{opt}");
        assert_eq!(o.stderr.lines().count(), 1, "{opt}: {}", o.stderr);
        assert!(o.stderr.contains(needle), "{opt}: {}", o.stderr);
    }
    assert!(env.ps_json().is_empty(), "nothing created");
    env.finish();
}

/// Its stdout and peak resident memory (KiB, from its own rusage) of `cmd`;
/// `capture` false sends stdout to /dev/null.
#[allow(clippy::zombie_processes)] // reaped by wait4, which also gives its rusage
fn peak_rss_kb(mut cmd: std::process::Command, capture: bool) -> (String, i64) {
    let out = if capture { std::process::Stdio::piped() } else { std::process::Stdio::null() };
    let mut child = cmd.stdout(out).spawn().expect("spawn");
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    assert_eq!(r, child.id() as i32, "wait4");
    (out, ru.ru_maxrss)
}

#[test]
fn logs_tail_reads_a_big_log_from_the_end_in_little_memory() {
    let env = Env::new();
    // 48 MB of output (37-byte lines) across three files, then three short lines.
    let script =
        "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -n 1300000; echo last1; echo last2; echo last3";
    env.ok(&[
        "run",
        "-d",
        "--name",
        "big",
        "--log-opt",
        "max-size=20m",
        "--log-opt",
        "max-file=3",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(env.ok(&["wait", "big"]).trim(), "0");
    let total: u64 = log_files(&env, "big").iter().map(|(_, l)| l).sum();
    assert!(total > 40_000_000, "the log is big: {total}");
    let (out, kb) = peak_rss_kb(env.command(&["logs", "--tail", "3", "big"]), true);
    assert_eq!(out, "last1\nlast2\nlast3\n");
    assert!(kb < 16 * 1024, "logs --tail 3 of a {total}-byte log peaked at {kb} KiB");
    // The whole log streams through a small buffer too.
    let (_, kb) = peak_rss_kb(env.command(&["logs", "big"]), false);
    assert!(kb < 16 * 1024, "logs of a {total}-byte log peaked at {kb} KiB");
    env.finish();
}

#[test]
fn logs_follow_keeps_printing_across_rotations() {
    let env = Env::new();
    let script = "i=0; while [ $i -lt 3000 ]; do echo line$i; i=$((i+1)); [ $((i % 100)) = 0 ] && sleep 0.1; done; true";
    env.ok(&[
        "run",
        "-d",
        "--name",
        "stream",
        "--log-opt",
        "max-size=4k",
        "--log-opt",
        "max-file=5",
        "sh",
        "-c",
        script,
    ]);
    let t = Instant::now();
    let out = env.ok(&["logs", "-f", "stream"]);
    assert!(t.elapsed() < Duration::from_secs(30));
    assert_eq!(out, numbered(0, 3000), "every line once, in order, across about 6 rotations");
    env.finish();
}

#[test]
fn a_pids_limit_applies_by_default_and_exec_counts() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "box", "sleep", "100"]);
    let id = env.record("box")["id"].as_str().unwrap_or("").to_string();
    let pids_file = |f: &str| cgroup_dirs(&id).into_iter().map(|d| d.join(f)).find(|p| p.exists());
    let max = pids_file("pids.max").and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
    assert_eq!(max.trim(), "2048", "Podman's default pids limit");
    // A loop of background sleeps through exec stops at the limit (the shell
    // exits when fork fails); the container's processes count too.
    let o = env.run(&[
        "exec",
        "box",
        "sh",
        "-c",
        "n=0; while [ $n -lt 2100 ]; do sleep 60 >/dev/null 2>&1 & n=$((n+1)); done; echo reached $n",
    ]);
    assert!(!o.stdout.contains("reached 2100"), "2100 processes in a container limited to 2048");
    let current = pids_file("pids.current").and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
    let current: i64 = current.trim().parse().unwrap_or(0);
    assert!(current > 1000 && current <= 2048, "pids.current {current}");
    env.ok(&["rm", "-f", "box"]);
    // -1: no limit.
    env.ok(&["run", "-d", "--name", "free", "--pids-limit", "-1", "sleep", "100"]);
    let id = env.record("free")["id"].as_str().unwrap_or("").to_string();
    let max = cgroup_dirs(&id)
        .into_iter()
        .map(|d| d.join("pids.max"))
        .find(|p| p.exists())
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    assert_eq!(max.trim(), "max");
    env.finish();
}

/// A tmpfs mounted over the env's state root, unmounted when dropped.
struct FullRoot(std::path::PathBuf);

impl FullRoot {
    fn mount(env: &Env, size: &str) -> FullRoot {
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(env.root())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "mount tmpfs");
        FullRoot(env.root().to_path_buf())
    }
}

impl Drop for FullRoot {
    fn drop(&mut self) {
        // Lazily: after a failed assertion a container may still hold its log
        // open here (the env kills it afterwards); the mount must go anyway.
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_state_root_neither_blocks_the_container_nor_stops_stop() {
    let env = Env::new();
    env.ok(&["run", "--rm", "true"]); // the image, before the root is small
    let root = FullRoot::mount(&env, "1m");
    // 8 MB of output into a 1 MiB state root (after `run` has written the
    // record): the log fills it, the monitor drops the rest and keeps
    // draining, so the command goes on to sleep.
    env.ok(&["run", "-d", "--name", "flood", "sh", "-c", "sleep 2; yes | head -c 8000000; exec sleep 100"]);
    let pid = env.record("flood")["pid"].as_i64().unwrap_or(0) as i32;
    assert!(
        eventually(Duration::from_secs(20), || cmdline(pid) == "sleep 100"),
        "the container was not held up by its full log: {}",
        cmdline(pid)
    );
    let probe = env.root().join("probe");
    assert!(std::fs::write(&probe, vec![0u8; 64 * 1024]).is_err(), "the state root is full");
    let _ = std::fs::remove_file(&probe);
    let o = env.run(&["stop", "-t", "1", "flood"]);
    assert_eq!(o.code, 0, "stop on a full state root still stops: {}", o.stderr);
    assert!(wait_dead(pid, Duration::from_secs(3)), "the container is stopped");
    assert!(!env.ps_row("flood").unwrap_or_default().contains("Running"));
    // Once there is room again, the record is repaired: the next stop records
    // what the first could not.
    for f in std::fs::read_dir(env.root().join("flood")).map(|d| d.flatten().collect()).unwrap_or(vec![]) {
        if f.file_name().to_string_lossy().starts_with("container.log") {
            let _ = std::fs::remove_file(f.path());
        }
    }
    env.ok(&["stop", "flood"]);
    let row = env.ps_row("flood").unwrap_or_default();
    assert!(row.contains("Stopped"), "the record is repaired: {row}");
    env.ok(&["rm", "-f", "flood"]);
    env.assert_clean();
    drop(root);
    env.finish();
}
