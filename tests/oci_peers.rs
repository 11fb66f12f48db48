//! The OCI face as its peers use it: real Podman (through conmon) and a real
//! containerd (through the runc v2 shim) driving `mydocker-runc`, or the
//! runtime in MYDOCKER_TEST_OCI_RUNTIME (`=/usr/bin/runc` checks the harness).
//! Each test skips, saying why, when the peer is not installed.

mod common;
#[path = "common/peers.rs"]
mod peers;

use common::*;
use peers::*;
use std::time::Duration;

/// Lines of `podman logs NAME`.
fn log_lines(p: &Podman, name: &str) -> usize {
    p.ok(&["logs", name]).lines().count()
}

// ---------------------------------------------------------------------------
// Podman

#[test]
fn podman_run_rm_echo_prints_hi() {
    let Some(p) = Podman::new("podman_run_rm_echo_prints_hi") else { return };
    let out = p.ok(&p.run_args(&["--rm", "busybox", "echo", "hi"]));
    assert_eq!(out, "hi\n");
    assert_eq!(p.ok(&["ps", "-aq"]), "", "--rm removed the container");
    p.finish();
}

#[test]
fn podman_run_exit_codes_propagate() {
    let Some(p) = Podman::new("podman_run_exit_codes_propagate") else { return };
    assert_eq!(p.run(&p.run_args(&["--rm", "busybox", "true"])).code, 0);
    assert_eq!(p.run(&p.run_args(&["--rm", "busybox", "sh", "-c", "exit 1"])).code, 1);
    assert_eq!(p.run(&p.run_args(&["--rm", "busybox", "sh", "-c", "exit 42"])).code, 42);
    // Podman maps the runtime's "executable file not found" to 127 (its regex
    // on the runtime's error text), and shows the error.
    let o = p.run(&p.run_args(&["--rm", "busybox", "nosuchcmd"]));
    assert_eq!(o.code, 127, "stderr: {}", o.stderr);
    assert!(o.stderr.contains("nosuchcmd"), "the error names the command: {}", o.stderr);
    assert_eq!(p.ok(&["ps", "-aq"]), "", "--rm removed the failed container too");
    p.finish();
}

#[test]
fn podman_detached_logs_exec_exec_tty_stop_rm() {
    let Some(p) = Podman::new("podman_detached_logs_exec_exec_tty_stop_rm") else { return };
    // The trap answers stop's SIGTERM at once (sh as PID 1 ignores an untrapped TERM).
    let script = "trap 'echo got TERM; exit 0' TERM; echo started; while true; do sleep 0.1; done";
    let id = p.ok(&p.run_args(&["-d", "--name", "c1", "busybox", "sh", "-c", script])).trim().to_string();
    assert_eq!(id.len(), 64, "run -d prints the id: {id:?}");
    assert_eq!(p.inspect("c1", "{{.State.Status}}"), "running");
    let pid: i32 = p.inspect("c1", "{{.State.Pid}}").parse().expect("pid");
    assert!(alive(pid));

    assert!(
        eventually(Duration::from_secs(5), || p.ok(&["logs", "c1"]).contains("started")),
        "logs show the output"
    );

    assert_eq!(p.ok(&["exec", "c1", "echo", "fromexec"]), "fromexec\n");
    assert_eq!(p.run(&["exec", "c1", "sh", "-c", "exit 3"]).code, 3, "exec's exit code");
    let o = p.run(&["exec", "c1", "nosuchcmd"]);
    assert_eq!(o.code, 127, "exec of a missing command: {}", o.stderr);
    // Exec sees the container: its PID 1 is the script.
    assert!(p.ok(&["exec", "c1", "cat", "/proc/1/cmdline"]).contains("trap"));

    let (out, code) = through_pty(p.command(&["exec", "-it", "c1", "tty"]), &[], Duration::from_secs(20));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("/dev/pts/"), "exec -t gets a terminal: {out:?}");

    p.ok(&["stop", "-t", "10", "c1"]);
    assert_eq!(p.inspect("c1", "{{.State.Status}}"), "exited");
    assert_eq!(p.inspect("c1", "{{.State.ExitCode}}"), "0", "the trap exited 0");
    assert!(p.ok(&["logs", "c1"]).contains("got TERM"), "stop sent SIGTERM");
    assert!(wait_dead(pid, Duration::from_secs(5)));

    assert_eq!(p.ok(&["rm", "c1"]).trim(), "c1");
    assert_eq!(p.ok(&["ps", "-aq"]), "");
    p.finish();
}

#[test]
fn podman_run_it_through_a_pty() {
    let Some(p) = Podman::new("podman_run_it_through_a_pty") else { return };
    let args = p.run_args(&["--rm", "-it", "busybox", "sh"]);
    let (out, code) =
        through_pty(p.command(&args), &["tty\n", "echo $((6*7))\n", "exit 3\n"], Duration::from_secs(30));
    assert_eq!(code, 3, "the shell's exit code: {out}");
    assert!(out.contains("/dev/pts/"), "a terminal inside: {out:?}");
    assert!(out.contains("42"), "the shell read input and answered: {out:?}");
    p.finish();
}

#[test]
fn podman_kill_signals_and_kills() {
    let Some(p) = Podman::new("podman_kill_signals_and_kills") else { return };
    let script = "trap 'echo got USR1' USR1; echo ready; while true; do sleep 0.1; done";
    p.ok(&p.run_args(&["-d", "--name", "k1", "busybox", "sh", "-c", script]));
    assert!(eventually(Duration::from_secs(5), || p.ok(&["logs", "k1"]).contains("ready")));
    // Podman passes the signal to the runtime as a number (`kill ID 10`).
    p.ok(&["kill", "-s", "USR1", "k1"]);
    assert!(
        eventually(Duration::from_secs(5), || p.ok(&["logs", "k1"]).contains("got USR1")),
        "USR1 delivered"
    );
    assert_eq!(p.inspect("k1", "{{.State.Status}}"), "running", "a trapped signal does not end it");
    p.ok(&["kill", "k1"]);
    assert_eq!(p.ok(&["wait", "k1"]).trim(), "137", "SIGKILL: 128 + 9");
    assert_eq!(p.inspect("k1", "{{.State.Status}}"), "exited");
    p.ok(&["rm", "k1"]);
    p.finish();
}

#[test]
fn podman_pause_freezes_a_counting_loop_until_unpause() {
    let Some(p) = Podman::new("podman_pause_freezes_a_counting_loop_until_unpause") else { return };
    let script = "i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done";
    p.ok(&p.run_args(&["-d", "--name", "z1", "busybox", "sh", "-c", script]));
    assert!(eventually(Duration::from_secs(5), || log_lines(&p, "z1") > 2));
    p.ok(&["pause", "z1"]);
    assert_eq!(p.inspect("z1", "{{.State.Status}}"), "paused");
    let frozen = log_lines(&p, "z1");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(log_lines(&p, "z1"), frozen, "no line while paused");
    p.ok(&["unpause", "z1"]);
    assert_eq!(p.inspect("z1", "{{.State.Status}}"), "running");
    assert!(
        eventually(Duration::from_secs(5), || log_lines(&p, "z1") > frozen + 2),
        "counts again after unpause"
    );
    p.ok(&["rm", "-f", "-t", "0", "z1"]);
    p.finish();
}

// ---------------------------------------------------------------------------
// containerd

#[test]
fn ctr_run_rm_echo_prints_hi() {
    let Some(c) = Containerd::new("ctr_run_rm_echo_prints_hi") else { return };
    let o: Out = c.run_command(&["--rm"], "hi1", &["echo", "hi"]).output().expect("ctr run").into();
    assert_eq!((o.code, o.stdout.as_str()), (0, "hi\n"), "stderr: {}", o.stderr);
    assert_eq!(c.ok(&["container", "ls", "-q"]), "", "--rm removed it");
    c.finish();
}

#[test]
fn ctr_run_exit_codes_propagate() {
    let Some(c) = Containerd::new("ctr_run_exit_codes_propagate") else { return };
    let code = |id: &str, cmd: &[&str]| -> Out {
        c.run_command(&["--rm"], id, cmd).output().expect("ctr run").into()
    };
    assert_eq!(code("x0", &["true"]).code, 0);
    assert_eq!(code("x1", &["sh", "-c", "exit 1"]).code, 1);
    assert_eq!(code("x42", &["sh", "-c", "exit 42"]).code, 42);
    // ctr has no 127: a create that fails is exit 1 with the runtime's last
    // error from its --log file.
    let o = code("xmissing", &["nosuchcmd"]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("nosuchcmd"), "the error names the command: {}", o.stderr);
    assert_eq!(c.ok(&["container", "ls", "-q"]), "", "--rm removed them all");
    c.finish();
}

#[test]
fn ctr_detached_task_exec_with_and_without_tty_kill_delete() {
    let Some(c) = Containerd::new("ctr_detached_task_exec_with_and_without_tty_kill_delete") else { return };
    let log = c.dir.path().join("d1.log");
    let uri = format!("file://{}", log.display());
    let script = "trap 'echo got TERM; exit 7' TERM; echo started; while true; do sleep 0.1; done";
    let o: Out = c
        .run_command(&["-d", "--log-uri", &uri], "d1", &["sh", "-c", script])
        .output()
        .expect("ctr run -d")
        .into();
    assert_eq!(o.code, 0, "ctr run -d: {}", o.stderr);
    assert_eq!(c.task_status("d1").as_deref(), Some("RUNNING"));
    assert!(
        eventually(Duration::from_secs(5), || std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("started")),
        "the task's stdout reaches the log"
    );

    assert_eq!(c.ok(&["task", "exec", "--exec-id", "e1", "d1", "echo", "fromexec"]), "fromexec\n");
    assert_eq!(
        c.run(&["task", "exec", "--exec-id", "e2", "d1", "sh", "-c", "exit 5"]).code,
        5,
        "exec's exit code"
    );
    let o = c.run(&["task", "exec", "--exec-id", "e3", "d1", "nosuchcmd"]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("nosuchcmd"), "{}", o.stderr);
    let (out, code) = through_pty(
        c.ctr(&["task", "exec", "-t", "--exec-id", "e4", "d1", "tty"]),
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("/dev/pts/"), "exec -t gets a terminal: {out:?}");

    // task ps: the runtime's `ps --format json`, host pids; the init is one
    // (the loop's `sleep 0.1` may be gone by the time we look).
    let ps = c.ok(&["task", "ps", "d1"]);
    let pids: Vec<i32> =
        ps.lines().skip(1).filter_map(|l| l.split_whitespace().next()?.parse().ok()).collect();
    assert!(pids.iter().any(|p| alive(*p)), "task ps: {ps}");

    // task kill: SIGTERM by default, as a number to the runtime.
    c.ok(&["task", "kill", "d1"]);
    assert!(
        eventually(Duration::from_secs(5), || c.task_status("d1").as_deref() == Some("STOPPED")),
        "TERM ended it"
    );
    assert!(std::fs::read_to_string(&log).unwrap_or_default().contains("got TERM"));
    for p in &pids {
        assert!(wait_dead(*p, Duration::from_secs(5)), "pid {p} gone");
    }
    let o = c.run(&["task", "delete", "d1"]);
    assert_eq!(o.code, 0, "task delete: {}", o.stderr);
    assert_eq!(c.task_status("d1"), None);
    c.ok(&["container", "rm", "d1"]);
    c.finish();
}

#[test]
fn ctr_run_tty_through_a_pty() {
    let Some(c) = Containerd::new("ctr_run_tty_through_a_pty") else { return };
    let (out, code) = through_pty(
        c.run_command(&["--rm", "-t"], "t1", &["sh", "-c", "tty; exit 4"]),
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("/dev/pts/"), "{out:?}");
    c.finish();
}

#[test]
fn ctr_pause_resume_freezes_a_counting_loop() {
    let Some(c) = Containerd::new("ctr_pause_resume_freezes_a_counting_loop") else { return };
    let log = c.dir.path().join("z1.log");
    let uri = format!("file://{}", log.display());
    let lines = || std::fs::read_to_string(&log).unwrap_or_default().lines().count();
    let script = "i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done";
    let o: Out = c
        .run_command(&["-d", "--log-uri", &uri], "z1", &["sh", "-c", script])
        .output()
        .expect("ctr run -d")
        .into();
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(eventually(Duration::from_secs(5), || lines() > 2));
    c.ok(&["task", "pause", "z1"]);
    assert_eq!(c.task_status("z1").as_deref(), Some("PAUSED"));
    let frozen = lines();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(lines(), frozen, "no line while paused");
    c.ok(&["task", "resume", "z1"]);
    assert_eq!(c.task_status("z1").as_deref(), Some("RUNNING"));
    assert!(eventually(Duration::from_secs(5), || lines() > frozen + 2), "counts again after resume");
    c.ok(&["task", "kill", "-s", "SIGKILL", "z1"]);
    assert!(eventually(Duration::from_secs(5), || c.task_status("z1").as_deref() == Some("STOPPED")));
    c.ok(&["task", "delete", "z1"]);
    c.ok(&["container", "rm", "z1"]);
    c.finish();
}
