//! `run --restart`: Docker's restart policies carried out without a daemon —
//! by the container's monitor (`on-exit`), and by the next `ps` when the
//! monitor was killed.

mod common;
use common::*;
use std::time::Duration;

fn status(env: &Env, name: &str) -> String {
    env.record(name)["status"].as_str().unwrap_or("").to_string()
}

fn count(env: &Env, name: &str) -> i64 {
    env.record(name)["restart_count"].as_i64().unwrap_or(-1)
}

#[test]
fn on_failure_restarts_n_times_then_stays_exited() {
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:3",
        "sh",
        "-c",
        "echo run >> /runs; cat /runs | wc -l; exit 3",
    ]);
    assert!(
        eventually(Duration::from_secs(20), || count(&env, "flaky") == 3
            && status(&env, "flaky") == "Exited"),
        "three restarts, then Exited: {}",
        env.record("flaky")
    );
    // No fourth: the back-off after the third would be 800 ms.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count(&env, "flaky"), 3);
    assert_eq!(env.record("flaky")["exit_code"], 3);
    // Four runs of the same container: its files were kept between them, and its log too.
    let log = env.ok(&["logs", "flaky"]);
    assert_eq!(log.split_whitespace().collect::<Vec<_>>(), ["1", "2", "3", "4"], "{log}");
    assert!(env.ps_row("flaky").is_some_and(|r| r.contains("Exited (3)")));

    // A success is not a failure: no restart.
    env.ok(&["run", "-d", "--name", "fine", "--restart", "on-failure", "true"]);
    assert!(eventually(Duration::from_secs(10), || status(&env, "fine") == "Exited"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(&env, "fine"), 0);
    env.finish();
}

#[test]
fn always_restarts_any_exit_but_not_after_stop() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "loop", "--restart", "always", "sh", "-c", "echo up; sleep 0.2"]);
    assert!(
        eventually(Duration::from_secs(20), || count(&env, "loop") >= 2),
        "exit 0 restarted too: {}",
        env.record("loop")
    );
    env.ok(&["stop", "-t", "1", "loop"]);
    let after_stop = count(&env, "loop");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(status(&env, "loop"), "Stopped", "{}", env.record("loop"));
    assert_eq!(count(&env, "loop"), after_stop, "not restarted after stop");
    env.finish();
}

#[test]
fn always_survives_a_killed_monitor() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "svc", "--restart", "always", "sleep", "1000"]);
    let rec = env.record("svc");
    let (pid, monitor) =
        (rec["pid"].as_i64().unwrap_or(0) as i32, rec["monitor_pid"].as_i64().unwrap_or(0) as i32);
    assert!(pid > 0 && monitor > 0, "{rec}");
    // Nobody watches the container now; then it ends.
    unsafe {
        libc::kill(monitor, libc::SIGKILL);
    }
    assert!(wait_dead(monitor, Duration::from_secs(5)));
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    assert!(wait_dead(pid, Duration::from_secs(5)));
    // The next look notices, and the policy brings it back.
    env.ok(&["ps"]);
    assert!(
        eventually(Duration::from_secs(10), || {
            let r = env.record("svc");
            r["status"] == "Running" && r["pid"].as_i64().is_some_and(|p| p > 0 && p as i32 != pid)
        }),
        "restarted: {}",
        env.record("svc")
    );
    assert_eq!(count(&env, "svc"), 1);
    assert!(env.ps_row("svc").is_some_and(|r| r.contains("Running")));
    env.finish();
}

#[test]
fn a_foreground_run_hands_its_container_to_the_policy() {
    let env = Env::new();
    let o = env.run(&["run", "--name", "fg", "--restart", "on-failure:1", "sh", "-c", "echo out; exit 2"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(o.stdout, "out\n");
    assert!(
        eventually(Duration::from_secs(10), || count(&env, "fg") == 1 && status(&env, "fg") == "Exited"),
        "{}",
        env.record("fg")
    );
    env.finish();
}

#[test]
fn rm_f_of_a_restarting_container_leaves_nothing() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "crash", "--restart", "always", "sh", "-c", "exit 1"]);
    assert!(eventually(Duration::from_secs(10), || count(&env, "crash") >= 2));
    env.ok(&["rm", "-f", "crash"]);
    // Nothing comes back after the back-off either.
    std::thread::sleep(Duration::from_millis(1000));
    env.assert_clean();
    env.finish();
}

#[test]
fn bad_policies_are_refused_and_create_nothing() {
    let env = Env::new();
    for (args, needle) in [
        (vec!["--restart", "sometimes"], "invalid value \"sometimes\""),
        (vec!["--restart", "on-failure:x"], "invalid retry count \"x\""),
        (vec!["--restart", "always:3"], "only for on-failure"),
        (vec!["--restart", "always", "--rm"], "conflicting options"),
    ] {
        let mut a = vec!["run", "-d"];
        a.extend(args);
        a.push("true");
        let o = env.fails(&a);
        assert_eq!(o.code, 125);
        assert!(o.stderr.contains(needle) && o.stderr.lines().count() == 1, "{a:?}: {}", o.stderr);
    }
    assert!(env.ps_json().is_empty());
    env.finish();
}

#[test]
fn a_restarted_terminal_container_keeps_its_terminal() {
    let env = Env::new();
    env.ok(&[
        "run",
        "-dit",
        "--name",
        "term",
        "--restart",
        "on-failure:1",
        "sh",
        "-c",
        "test -e /again && exec sleep 100; touch /again; exit 1",
    ]);
    assert!(
        eventually(Duration::from_secs(10), || count(&env, "term") == 1 && status(&env, "term") == "Running"),
        "{}",
        env.record("term")
    );
    assert!(env.root().join("term/attach.sock").exists(), "its new monitor serves the terminal");
    assert_eq!(env.ok(&["exec", "term", "sh", "-c", "readlink /proc/1/fd/0"]).trim(), "/dev/pts/0");
    env.finish();
}
