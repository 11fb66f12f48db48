//! `run -dit` and `attach`: a detached container keeps its terminal (held by
//! its monitor); attach types into it and sees it, Ctrl-P Ctrl-Q detaches,
//! and its end is attach's exit code.

mod common;
use common::*;
use std::time::Duration;

fn status(env: &Env, name: &str) -> String {
    env.ps_row(name).unwrap_or_default()
}

#[test]
fn attach_types_sees_detaches_and_ends() {
    let env = Env::new();
    let id = env.ok(&["run", "-dit", "--name", "shell", "sh"]);
    assert_eq!(id.trim().len(), 64, "run -dit prints the id: {id}");
    let attach = || env.command(&["attach", "shell"]);
    // Whoever connects gets the terminal's master: only root may.
    let mode = std::fs::metadata(env.root().join("shell/attach.sock"))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777);
    assert_eq!(mode.ok(), Some(0o600));

    // Type a command, see its output, detach: the shell runs on.
    let (out, code) = through_pty(
        attach(),
        &["@wait", "echo one-$((40+2))\r", "@wait", "\x10\x11"],
        Duration::from_secs(20),
    );
    assert_eq!(code, 0, "Ctrl-P Ctrl-Q detaches: {out}");
    assert!(out.contains("one-42"), "the command ran in the container's terminal: {out}");
    assert!(status(&env, "shell").contains("Running"));
    // The monitor logged the terminal meanwhile.
    assert!(env.ok(&["logs", "shell"]).contains("one-42"));

    // A lone Ctrl-P is passed on (here: a harmless ^P to the shell), then the container's end ends attach.
    let (out, code) =
        through_pty(attach(), &["@wait", "\x10", "echo two\r", "@wait", "exit 3\r"], Duration::from_secs(20));
    assert_eq!(code, 3, "attach exits with the container's code: {out}");
    assert!(
        eventually(Duration::from_secs(5), || status(&env, "shell").contains("Exited (3)")),
        "{}",
        status(&env, "shell")
    );
    // Its socket went with it.
    assert!(!env.root().join("shell/attach.sock").exists());
    env.finish();
}

#[test]
fn without_i_attach_only_watches() {
    let env = Env::new();
    env.ok(&["run", "-dt", "--name", "watch", "sh", "-c", "while true; do echo tick; sleep 0.2; done"]);
    let (out, code) = through_pty(
        env.command(&["attach", "watch"]),
        &["@wait", "echo typed-in\r", "\x10\x11"],
        Duration::from_secs(20),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("tick"), "{out}");
    // Without -i nothing reaches the container's terminal: no echo in its log.
    assert!(!env.ok(&["logs", "watch"]).contains("typed-in"));
    env.finish();
}

#[test]
fn attach_needs_a_running_container_with_a_terminal() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "plain", "sleep", "100"]);
    let o = env.fails(&["attach", "plain"]);
    assert!(o.stderr.contains("container plain has no terminal to attach to"), "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    env.ok(&["stop", "-t", "0", "plain"]);
    let o = env.fails(&["attach", "plain"]);
    assert!(o.stderr.contains("container plain is not running"), "{}", o.stderr);
    let o = env.fails(&["attach", "nosuch"]);
    assert!(o.stderr.contains("nosuch"), "{}", o.stderr);
    env.finish();
}
