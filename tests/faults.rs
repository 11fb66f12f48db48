//! Fault tolerance: crashes at each step, races, corrupt records, a full or
//! read-only state root, and signals to the CLI. After each: `ps` is honest and
//! `rm -f` (or the command itself) leaves nothing behind.

mod common;
use common::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn crash(env: &Env, point: &str, args: &[&str]) -> Out {
    env.command(args).env("MYDOCKER_CRASH_AT", point).output().expect("run").into()
}

#[test]
fn a_crash_at_any_step_of_run_is_cleaned_by_rm_f() {
    let env = Env::new();
    env.ok(&["run", "--rm", "true"]); // the image
    let points = [
        "run:reserved",
        "launch:mounted",
        "launch:cgroup",
        "launch:created",
        "launch:recorded",
        "launch:started",
    ];
    for (i, point) in points.iter().enumerate() {
        for detach in [true, false] {
            let name = format!("c{i}{}", if detach { "d" } else { "f" });
            let mut args = vec!["run", "--name", &name];
            if detach {
                args.push("-d");
            }
            args.extend(["sleep", "100"]);
            let o = crash(&env, point, &args);
            assert_eq!(o.code, -1, "{point}: mydocker was killed: {}", o.stderr);
            // ps tells the truth and does not fail.
            let ps = env.run(&["ps"]);
            assert_eq!(ps.code, 0, "{point}: {}", ps.stderr);
            let row = env.ps_row(&name).unwrap_or_default();
            assert!(!row.is_empty(), "{point}: the half-made container is listed");
            let json = env.ps_json();
            let rec = json.iter().find(|r| r["name"] == name.as_str()).cloned().unwrap_or_default();
            let status = rec["status"].as_str().unwrap_or("");
            if status == "Running" {
                let pid = rec["pid"].as_i64().unwrap_or(0) as i32;
                assert!(alive(pid), "{point}: shown Running, so its init is alive");
            }
            env.ok(&["rm", "-f", &name]);
        }
        env.assert_clean();
    }
    env.finish();
}

#[test]
fn a_crash_during_stop_or_rm_is_finished_by_rm_f() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "s", "sleep", "100"]);
    let o = crash(&env, "stop:requested", &["stop", "-t", "1", "s"]);
    assert_eq!(o.code, -1);
    assert!(env.ps_row("s").unwrap_or_default().contains("Running"), "the stop never signalled");
    env.ok(&["stop", "-t", "1", "s"]);
    assert!(env.ps_row("s").unwrap_or_default().contains("Stopped"));

    for point in ["rm:killed", "cleanup:rootfs", "cleanup:cgroup"] {
        env.ok(&["run", "-d", "--name", "r", "sleep", "100"]);
        let o = crash(&env, point, &["rm", "-f", "r"]);
        assert_eq!(o.code, -1, "{point}");
        let ps = env.run(&["ps"]);
        assert_eq!(ps.code, 0, "{point}: {}", ps.stderr);
        if let Some(row) = env.ps_row("r") {
            assert!(!row.contains("Running"), "{point}: killed before the crash: {row}");
        }
        env.ok(&["rm", "-f", "r"]);
        assert!(env.ps_row("r").is_none());
    }
    env.ok(&["rm", "-f", "s"]);
    env.finish();
}

/// Start `n` copies of `mydocker ARGS` at once; their outputs.
fn in_parallel(env: &Env, n: usize, args: &[&str]) -> Vec<Out> {
    let children: Vec<_> = (0..n)
        .map(|_| env.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn"))
        .collect();
    children.into_iter().filter_map(|c| c.wait_with_output().ok()).map(Out::from).collect()
}

#[test]
fn twenty_parallel_runs_with_one_name_make_one_container() {
    let env = Env::new();
    env.ok(&["run", "--rm", "true"]);
    let outs = in_parallel(&env, 20, &["run", "-d", "--name", "same", "sleep", "100"]);
    assert_eq!(outs.iter().filter(|o| o.code == 0).count(), 1, "exactly one winner");
    for o in outs.iter().filter(|o| o.code != 0) {
        assert!(o.stderr.contains("already in use"), "losers say why: {}", o.stderr);
    }
    assert_eq!(env.ps_json().len(), 1);
    // Nothing of the losers: one layer.
    assert_eq!(std::fs::read_dir(env.data.path().join("containers")).map(|d| d.count()).unwrap_or(0), 1);
    env.finish();
}

#[test]
fn twenty_parallel_rm_f_remove_once_and_all_exit_cleanly() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "victim", "sleep", "100"]);
    let outs = in_parallel(&env, 20, &["rm", "-f", "victim"]);
    assert!(outs.iter().all(|o| o.code == 0), "{:?}", outs.iter().map(|o| &o.stderr).collect::<Vec<_>>());
    assert_eq!(outs.iter().filter(|o| o.stdout.trim() == "victim").count(), 1, "removed exactly once");
    assert!(env.ps_json().is_empty());
    env.finish();
}

#[test]
fn ps_during_heavy_create_and_remove_never_fails_or_shows_half_records() {
    let env = Env::new();
    env.ok(&["run", "--rm", "true"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        let root = env.root().to_path_buf();
        let data = env.data.path().to_path_buf();
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && i < 40 {
                let name = format!("churn{}", i % 4);
                let base = |args: &[&str]| {
                    std::process::Command::new(BIN)
                        .env("MYDOCKER_NETWORK", "none")
                        .arg("--root")
                        .arg(&root)
                        .arg("--data-root")
                        .arg(&data)
                        .args(args)
                        .output()
                };
                let _ = base(&["run", "-d", "--name", &name, "true"]);
                let _ = base(&["rm", "-f", &name]);
                i += 1;
            }
        })
    };
    let end = Instant::now() + Duration::from_secs(4);
    let mut checks = 0;
    while Instant::now() < end {
        let o = env.run(&["ps", "--format", "records"]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert_eq!(o.stderr, "", "no warning about a half-written record");
        let v: serde_json::Value = serde_json::from_str(&o.stdout).expect("ps json");
        for r in v.as_array().cloned().unwrap_or_default() {
            assert!(r["id"].as_str().is_some_and(|s| s.len() == 64), "{r}");
        }
        checks += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = churn.join();
    assert!(checks > 10);
    env.finish();
}

#[test]
fn corrupt_records_are_reported_and_removable() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "good", "sleep", "100"]);
    let bad: [(&str, &str); 3] = [
        ("truncated", "{\"id\": \"ab"),
        ("notjson", "hello"),
        ("wrongtypes", "{\"id\": 5, \"name\": \"wrongtypes\", \"pid\": \"x\"}"),
    ];
    for (name, text) in bad {
        std::fs::create_dir(env.root().join(name)).expect("mkdir");
        std::fs::write(env.root().join(name).join("config.json"), text).expect("write");
    }
    let o = env.run(&["ps"]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("good"));
    for (name, _) in bad {
        assert!(o.stderr.contains(name), "warning names {name}: {}", o.stderr);
        env.ok(&["rm", "-f", name]);
    }
    assert_eq!(env.ok(&["ps", "-q"]).lines().count(), 1);
    env.finish();
}

/// A tmpfs of a few pages as the state root, unmounted when dropped.
struct SmallFs(tempfile::TempDir);

impl SmallFs {
    fn new(opts: &str) -> SmallFs {
        let dir = tempfile::tempdir().expect("tmp");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(dir.path())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "mount tmpfs");
        SmallFs(dir)
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn full_or_read_only_state_root_fails_clearly_and_leaves_nothing() {
    let env = Env::new();
    env.ok(&["run", "--rm", "true"]);
    for opts in ["size=8k", "ro,size=64k"] {
        let fs = SmallFs::new(opts);
        if opts.starts_with("size") {
            // Fill it.
            let _ = std::fs::write(fs.0.path().join("filler"), vec![0u8; 64 * 1024]);
        }
        let o: Out = std::process::Command::new(BIN)
            .env("MYDOCKER_NETWORK", "none")
            .arg("--root")
            .arg(fs.0.path())
            .arg("--data-root")
            .arg(env.data.path())
            .args(["run", "-d", "--name", "x", "sleep", "100"])
            .output()
            .expect("run")
            .into();
        assert_ne!(o.code, 0, "{opts}");
        assert!(
            o.stderr.contains("No space left") || o.stderr.contains("Read-only file system"),
            "{opts}: {}",
            o.stderr
        );
        assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
        let left: Vec<_> = std::fs::read_dir(fs.0.path())
            .map(|d| d.flatten().map(|e| e.file_name()).filter(|n| n != "filler").collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{opts}: left {left:?}");
        assert_eq!(std::fs::read_dir(env.data.path().join("containers")).map(|d| d.count()).unwrap_or(0), 0);
    }
    env.finish();
}

#[test]
fn signals_to_the_foreground_cli_reach_the_container() {
    let env = Env::new();
    env.ok(&["run", "--rm", "true"]);
    for (sig, code) in [(libc::SIGTERM, 7), (libc::SIGINT, 8), (libc::SIGHUP, 9)] {
        let name = format!("sig{sig}");
        let script = "trap 'exit 7' TERM; trap 'exit 8' INT; trap 'exit 9' HUP; while :; do sleep 0.1; done";
        let child =
            env.command(&["run", "--rm", "--name", &name, "sh", "-c", script]).spawn().expect("spawn");
        assert!(
            eventually(Duration::from_secs(5), || env.ps_row(&name).is_some_and(|r| r.contains("Running"))),
            "started"
        );
        std::thread::sleep(Duration::from_millis(200));
        unsafe {
            libc::kill(child.id() as i32, sig);
        }
        let out = child.wait_with_output().expect("wait");
        assert_eq!(
            out.status.code(),
            Some(code),
            "signal {sig} forwarded; the container's exit code returned"
        );
        assert!(env.ps_row(&name).is_none(), "--rm removed it after the signal");
    }
    // A killed CLI takes its foreground container with it (no orphan keeps running).
    let mut child = env.command(&["run", "--name", "orphan", "sleep", "100"]).spawn().expect("spawn");
    assert!(eventually(Duration::from_secs(5), || env
        .ps_row("orphan")
        .is_some_and(|r| r.contains("Running"))));
    let pid = env.record("orphan")["pid"].as_i64().unwrap_or(0) as i32;
    let _ = child.kill();
    let _ = child.wait();
    assert!(wait_dead(pid, Duration::from_secs(3)), "the container died with its CLI");
    assert!(!env.ps_row("orphan").unwrap_or_default().contains("Running"));
    env.finish();
}
