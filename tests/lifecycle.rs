//! The seed's transcripts and the lifecycle commands: logs, exec, stop, rm,
//! inspect, wait, kill — with the monitor keeping status and exit codes true.

mod common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn seed_transcript_bird() {
    let env = Env::new();
    env.ok(&["run", "-d", "top"]);
    let id = env.ok(&["run", "-d", "--name", "bird", "top"]).trim().to_string();
    assert!(env.root().join("bird/config.json").is_file());
    let row = env.ps_row("bird").expect("bird listed");
    assert_eq!(row.split_whitespace().nth(3), Some("Running"));
    let pid = env.record("bird")["pid"].as_i64().unwrap_or(0) as i32;

    // logs: top's screen
    assert!(
        eventually(Duration::from_secs(5), || env.ok(&["logs", "bird"]).contains("Load average")),
        "logs bird shows top's output"
    );

    // exec bird sh, through a terminal: PID 1 is top, the shell is there too
    let (out, code) = through_pty(
        env.command(&["exec", "-it", "bird", "sh"]),
        &["ps -ef\n", "exit\n"],
        Duration::from_secs(20),
    );
    assert_eq!(code, 0, "{out}");
    let ps_lines: Vec<&str> =
        out.lines().filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit())).collect();
    assert!(
        ps_lines.iter().any(|l| l.split_whitespace().next() == Some("1") && l.contains("top")),
        "PID 1 is top: {out}"
    );
    assert!(
        ps_lines.iter().any(|l| l.trim_end().ends_with("sh")),
        "the exec'd shell is in the container: {out}"
    );

    // exec bird "ls -l": one quoted argument split into words
    let ls = env.ok(&["exec", "bird", "ls -l"]);
    assert!(ls.starts_with("total "), "{ls}");
    for d in ["bin", "etc", "proc", "tmp"] {
        assert!(ls.lines().any(|l| l.ends_with(&format!(" {d}"))), "{ls}");
    }

    // stop: Stopped, PID blank, process gone
    env.ok(&["stop", "bird"]);
    let row = env.ps_row("bird").expect("bird still listed");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[2], "Stopped", "PID column blank, then STATUS: {row}");
    assert!(wait_dead(pid, Duration::from_secs(2)));

    // rm: gone from ps, no state dir, no mount, no cgroup
    assert_eq!(env.ok(&["rm", "bird"]).trim(), "bird");
    assert!(env.ps_row("bird").is_none());
    assert!(!env.root().join("bird").exists());
    assert!(cgroup_dirs(&id).is_empty());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(!mounts.contains(&id), "overlay of bird still mounted");
    env.finish();
}

#[test]
fn exit_by_itself_shows_exited_and_wait_prints_the_code() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "three", "sh", "-c", "sleep 0.3; exit 3"]);
    assert_eq!(env.ok(&["wait", "three"]).trim(), "3");
    let row = env.ps_row("three").expect("listed");
    assert!(row.contains("Exited (3)"), "{row}");
    let rec = &env.ps_json()[0];
    assert_eq!(rec["exit_code"], 3);
    assert!(rec["finished"].is_string());
    // inspect shows the same
    let ins: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "three"])).unwrap_or_default();
    assert_eq!(ins[0]["status"], "Exited (3)");
    env.finish();
}

/// An ended container holds no mount (as with Docker) but keeps its files;
/// the restart example mounts them again; rm deletes them.
#[test]
fn an_ended_container_keeps_its_files_but_no_mount() {
    let env = Env::new();
    let mounted = |id: &str| {
        std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default().contains(&format!("/{id}/merged"))
    };
    for (name, detach) in [("fg", false), ("bg", true)] {
        let mut args = vec!["run", "--name", name];
        if detach {
            args.push("-d");
        }
        args.extend(["sh", "-c", "echo kept > /note"]);
        env.ok(&args);
        if detach {
            assert_eq!(env.ok(&["wait", name]).trim(), "0");
        }
        let id = env.record(name)["id"].as_str().unwrap_or_default().to_string();
        let layer = env.data.path().join("containers").join(&id);
        assert!(!mounted(&id), "{name}: the ended container's overlay is still mounted");
        assert_eq!(std::fs::read_to_string(layer.join("upper/note")).unwrap_or_default(), "kept\n");
    }
    let out = env.run(&[concat!(env!("CARGO_MANIFEST_DIR"), "/examples/restart.rhai"), "bg"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let id = env.record("bg")["id"].as_str().unwrap_or_default().to_string();
    assert!(
        eventually(Duration::from_secs(5), || !mounted(&id)),
        "the restarted container ended and unmounted"
    );
    env.ok(&["rm", "fg", "bg"]);
    assert!(!env.data.path().join("containers").join(&id).exists());
    env.finish();
}

#[test]
fn detached_rm_leaves_nothing() {
    let env = Env::new();
    let id = env.ok(&["run", "-d", "--rm", "--name", "tmp1", "sh", "-c", "echo bye"]).trim().to_string();
    assert!(
        eventually(Duration::from_secs(5), || !env.root().join("tmp1").exists()),
        "--rm removed the container"
    );
    assert!(cgroup_dirs(&id).is_empty());
    env.ok(&["run", "--rm", "--name", "tmp2", "true"]);
    assert!(!env.root().join("tmp2").exists());
    env.finish();
}

#[test]
fn stop_escalates_to_sigkill_after_the_grace_period() {
    let env = Env::new();
    // As PID 1 with no handler, sh would ignore SIGTERM anyway; trap makes it explicit.
    env.ok(&["run", "-d", "--name", "stubborn", "sh", "-c", "trap '' TERM; while true; do sleep 1; done"]);
    let t = Instant::now();
    env.ok(&["stop", "-t", "1", "stubborn"]);
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(900), "waited for the grace period: {took:?}");
    assert!(took < Duration::from_secs(4), "killed soon after the grace period: {took:?}");
    assert!(env.ps_row("stubborn").unwrap_or_default().contains("Stopped"));
    // stopping an ended container is not an error
    env.ok(&["stop", "stubborn"]);
    env.finish();
}

#[test]
fn killed_monitor_does_not_make_ps_lie() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "orphan", "sleep", "100"]);
    let rec = env.record("orphan");
    let (pid, monitor) =
        (rec["pid"].as_i64().unwrap_or(0) as i32, rec["monitor_pid"].as_i64().unwrap_or(0) as i32);
    assert!(monitor > 0 && alive(monitor));
    unsafe {
        libc::kill(monitor, libc::SIGKILL);
    }
    assert!(wait_dead(monitor, Duration::from_secs(2)));
    assert!(
        env.ps_row("orphan").unwrap_or_default().contains("Running"),
        "still running without its monitor"
    );
    env.ok(&["stop", "-t", "1", "orphan"]);
    assert!(wait_dead(pid, Duration::from_secs(2)));
    assert!(env.ps_row("orphan").unwrap_or_default().contains("Stopped"));

    // And a container that ends while its monitor is dead is not shown Running.
    env.ok(&["run", "-d", "--name", "orphan2", "sleep", "100"]);
    let rec = env.record("orphan2");
    let (pid, monitor) =
        (rec["pid"].as_i64().unwrap_or(0) as i32, rec["monitor_pid"].as_i64().unwrap_or(0) as i32);
    unsafe {
        libc::kill(monitor, libc::SIGKILL);
        libc::kill(pid, libc::SIGKILL);
    }
    assert!(wait_dead(pid, Duration::from_secs(2)));
    let row = env.ps_row("orphan2").unwrap_or_default();
    assert!(!row.contains("Running") && row.contains("Exited"), "{row}");
    env.ok(&["rm", "orphan2"]);
    env.finish();
}

#[test]
fn reused_pid_is_not_the_container() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "ghost", "sh", "-c", "exit 0"]);
    env.ok(&["wait", "ghost"]);
    // A stranger process now holds a pid the record claims, with another start time.
    let mut stranger = std::process::Command::new("sleep").arg("100").spawn().expect("spawn sleep");
    let spid = stranger.id() as i32;
    let path = env.root().join("ghost/config.json");
    let mut rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default()).unwrap_or_default();
    rec["pid"] = spid.into();
    rec["start_time"] = 1.into();
    rec["status"] = "Running".into();
    std::fs::write(&path, serde_json::to_vec(&rec).unwrap_or_default()).expect("write record");

    let row = env.ps_row("ghost").unwrap_or_default();
    assert!(!row.contains("Running"), "a reused pid is not the container: {row}");
    env.ok(&["stop", "-t", "1", "ghost"]);
    env.fails(&["kill", "ghost"]);
    env.ok(&["rm", "ghost"]);
    assert!(alive(spid), "stop/kill/rm signalled a stranger");
    let _ = stranger.kill();
    let _ = stranger.wait();
    env.finish();
}

#[test]
fn logs_tail_and_follow() {
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; sleep 0.2; done; echo err >&2",
    ]);
    let t = Instant::now();
    let out = env.run(&["logs", "-f", "talker"]);
    assert_eq!(out.stdout, "line1\nline2\nline3\nline4\nline5\n", "follow prints until the end");
    assert_eq!(out.stderr, "err\n", "stderr lines go back to stderr");
    assert!(t.elapsed() < Duration::from_secs(5));
    let tail = env.run(&["logs", "--tail", "2", "talker"]);
    assert_eq!((tail.stdout.as_str(), tail.stderr.as_str()), ("line5\n", "err\n"));
    assert_eq!(env.ok(&["logs", "--tail", "all", "talker"]).lines().count(), 5);
    env.fails(&["logs", "--tail", "x", "talker"]);
    env.finish();
}

#[test]
fn exec_env_workdir_exit_code_and_cgroup() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "box", "-e", "FROM_RUN=1", "sleep", "100"]);
    let id = env.record("box")["id"].as_str().unwrap_or("").to_string();
    let out = env.ok(&[
        "exec",
        "-e",
        "EXTRA=2",
        "-w",
        "/tmp",
        "box",
        "sh",
        "-c",
        "echo $FROM_RUN $EXTRA; pwd; hostname; cat /proc/self/cgroup",
    ]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1 2"));
    assert_eq!(lines.next(), Some("/tmp"));
    assert_eq!(lines.next(), Some(&id[..12]));
    // In the container's cgroup namespace, its cgroup is the root.
    assert!(out.lines().skip(3).all(|l| l.ends_with(":/")), "{out}");
    let o = env.run(&["exec", "box", "sh", "-c", "exit 7"]);
    assert_eq!(o.code, 7);
    let o = env.fails(&["exec", "box", "nosuch"]);
    assert_eq!(o.code, 127);
    env.finish();
}

#[test]
fn bad_input_for_every_command() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "live", "sleep", "100"]);
    env.ok(&["run", "-d", "--name", "dead", "true"]);
    env.ok(&["wait", "dead"]);
    let before = env.ok(&["ps"]);
    let cases: &[(&[&str], &str)] = &[
        (&["logs", "nosuch"], "no such container: nosuch"),
        (&["exec", "nosuch", "true"], "no such container: nosuch"),
        (&["stop", "nosuch"], "no such container: nosuch"),
        (&["rm", "nosuch"], "no such container: nosuch"),
        (&["inspect", "nosuch"], "no such container: nosuch"),
        (&["wait", "nosuch"], "no such container: nosuch"),
        (&["kill", "nosuch"], "no such container: nosuch"),
        (&["rm", "../etc"], "no such container"),
        (&["rm", "live"], "is running"),
        (&["exec", "dead", "true"], "is not running"),
        (&["kill", "dead"], "is not running"),
        (&["kill", "-s", "NOPE", "live"], "invalid signal"),
    ];
    for (args, needle) in cases {
        let o = env.fails(args);
        assert!(o.stderr.contains(needle), "mydocker {args:?}: expected {needle:?} in {:?}", o.stderr);
        assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    }
    assert_eq!(env.ok(&["ps"]), before);

    // Ambiguous id prefix: two records whose ids share a prefix.
    for (name, id) in [
        ("amb1", "abcdef0000000000000000000000000000000000000000000000000000000001"),
        ("amb2", "abcdef0000000000000000000000000000000000000000000000000000000002"),
    ] {
        std::fs::create_dir(env.root().join(name)).expect("mkdir");
        let rec = serde_json::json!({"id": id, "name": name, "status": "Exited", "exit_code": 0, "command": ["true"], "created": "2026-01-01T00:00:00.000Z"});
        std::fs::write(env.root().join(name).join("config.json"), rec.to_string()).expect("write");
    }
    let o = env.fails(&["inspect", "abcdef"]);
    assert!(o.stderr.contains("ambiguous"), "{}", o.stderr);
    // A unique prefix works.
    let ins = env.ok(&["inspect", "abcdef0000000000000000000000000000000000000000000000000000000001"]);
    assert!(ins.contains("amb1"));
    env.finish();
}

#[test]
fn corrupt_record_is_reported_and_rm_f_removes_it() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "fine", "sleep", "100"]);
    std::fs::create_dir(env.root().join("broken")).expect("mkdir");
    std::fs::write(env.root().join("broken/config.json"), "{\"id\": \"12").expect("write");
    let o = env.run(&["ps"]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("fine"));
    assert!(o.stderr.contains("broken"), "warning names the bad record: {}", o.stderr);
    env.fails(&["rm", "broken"]);
    env.ok(&["rm", "-f", "broken"]);
    assert!(!env.root().join("broken").exists());
    env.finish();
}

#[test]
fn kill_sends_a_signal() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "k", "sleep", "100"]);
    env.ok(&["kill", "-s", "TERM", "k"]);
    // sleep as PID 1 ignores TERM (no handler); KILL works.
    std::thread::sleep(Duration::from_millis(200));
    assert!(env.ps_row("k").unwrap_or_default().contains("Running"));
    env.ok(&["kill", "k"]);
    assert_eq!(env.ok(&["wait", "k"]).trim(), "137");
    env.finish();
}

#[test]
fn the_monitor_is_small() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "mon", "sleep", "100"]);
    let monitor = env.record("mon")["monitor_pid"].as_i64().unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{monitor}/status")).unwrap_or_default();
    let rss_kb: u64 = status_field(&status, "VmRSS").parse().unwrap_or(u64::MAX);
    assert!(rss_kb < 1024, "a waiting monitor stays under 1 MiB resident, has {rss_kb} kB");
    assert!(cmdline(monitor as i32).contains("mydocker-monitor"), "{}", cmdline(monitor as i32));
    env.finish();
}

/// A command that ends at once must not be shown Running: the monitor's record
/// of its exit wins over the CLI's late "started" update.
#[test]
fn an_instant_exit_is_never_lost() {
    let env = Env::new();
    for i in 0..8 {
        let name = format!("fast{i}");
        env.ok(&["run", "-d", "--name", &name, "sh", "-c", "exit 4"]);
        assert_eq!(env.ok(&["wait", &name]).trim(), "4");
        let row = env.ps_row(&name).unwrap_or_default();
        assert!(row.contains("Exited (4)"), "{row}");
    }
    env.finish();
}
