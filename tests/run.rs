//! `run`, `ps`, images: real containers on a busybox image, as root.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn detached_container_outlives_the_cli_and_ps_shows_it_running() {
    let env = Env::new();
    let out = env.ok(&["run", "-d", "--name", "bird", "top"]);
    let id = out.trim();
    assert_eq!(id.len(), 64, "run -d prints the full id: {out:?}");
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));

    // The seed's state layout.
    let rec = env.record("bird");
    assert_eq!(rec["id"], id);
    assert_eq!(rec["name"], "bird");
    assert_eq!(rec["command"], serde_json::json!(["top"]));
    let pid = rec["pid"].as_i64().expect("pid") as i32;
    assert!(alive(pid), "container init {pid} is not running after the CLI exited");
    assert_eq!(cmdline(pid), "top");
    // Not a child of the CLI that exited: its parent is the monitor.
    assert_eq!(rec["monitor_pid"].as_i64().map(|p| p as i32), parent_of(pid));

    let header = env.ok(&["ps"]);
    let first = header.lines().next().unwrap_or("");
    assert_eq!(
        first.split_whitespace().collect::<Vec<_>>(),
        ["ID", "NAME", "PID", "STATUS", "COMMAND", "CREATED", "IMAGE"]
    );
    let row = env.ps_row("bird").expect("bird in ps");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[0], &id[..12]);
    assert_eq!(cols[2], pid.to_string());
    assert_eq!(cols[3], "Running");
    assert_eq!(cols[4], "top");
    assert_eq!(env.ok(&["ps", "-q"]).trim(), &id[..12]);
    let json = env.ps_json();
    assert_eq!(json[0]["status"], "Running");
    env.finish();
    assert!(!alive(pid));
}

fn parent_of(pid: i32) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit(')').next()?.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn default_name_is_the_short_id_and_first_run_builds_the_image() {
    let env = Env::new();
    let o = env.run(&["run", "-d", "top"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("building it"), "says it builds the default image: {}", o.stderr);
    let id = o.stdout.trim().to_string();
    assert!(env.root().join(&id[..12]).join("config.json").is_file());
    let images = env.ok(&["images"]);
    assert!(images.lines().any(|l| l.starts_with("busybox ")), "{images}");
    // Second run: image exists, nothing said.
    let o = env.run(&["run", "--rm", "true"]);
    assert_eq!(o.code, 0);
    assert_eq!(o.stderr, "");
    env.finish();
}

#[test]
fn inside_the_container() {
    let env = Env::new();
    let root = env.root().display().to_string();
    let script = format!("echo pid=$$; hostname; ls /; test -e {root} && echo SEES_HOST''_ROOT; ls /dev");
    let out = env.ok(&["run", "--rm", "--hostname", "box1", "sh", "-c", &script]);
    assert!(out.contains("pid=1\n"), "the command is PID 1: {out}");
    assert!(out.contains("\nbox1\n"), "hostname: {out}");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
        assert!(out.lines().any(|l| l == d), "/{d} in the image root: {out}");
    }
    assert!(!out.contains("SEES_HOST_ROOT"), "the host's state root is visible inside");
    for dev in ["null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm"] {
        assert!(out.lines().any(|l| l == dev), "/dev/{dev}: {out}");
    }
    // default hostname: the short id
    let out = env.ok(&["run", "--name", "h", "hostname"]);
    let id = env.record("h")["id"].as_str().unwrap_or("").to_string();
    assert_eq!(out.trim(), &id[..12]);
    env.finish();
}

/// A --rm container's overlay is volatile (no host-wide sync when it goes, as
/// Podman does for --rm); a kept container's is not: its files may be wanted.
#[test]
fn only_a_rm_containers_overlay_is_volatile() {
    let env = Env::new();
    let root_line =
        |out: &str| out.lines().find(|l| l.split(' ').nth(4) == Some("/")).unwrap_or_default().to_string();
    let out = env.ok(&["run", "--rm", "cat", "/proc/self/mountinfo"]);
    assert!(root_line(&out).contains("overlay") && root_line(&out).contains("volatile"), "{out}");
    let out = env.ok(&["run", "--name", "kept", "cat", "/proc/self/mountinfo"]);
    assert!(root_line(&out).contains("overlay") && !root_line(&out).contains("volatile"), "{out}");
    env.ok(&["rm", "kept"]);
    env.finish();
}

#[test]
fn foreground_exit_code_env_and_workdir() {
    let env = Env::new();
    let o = env.run(&["run", "--rm", "sh", "-c", "exit 3"]);
    assert_eq!(o.code, 3);
    let out = env.ok(&[
        "run",
        "--rm",
        "-e",
        "GREETING=hi there",
        "-e",
        "X=1",
        "-w",
        "/tmp/work",
        "sh",
        "-c",
        "echo $GREETING $X; pwd",
    ]);
    assert_eq!(out, "hi there 1\n/tmp/work\n");
    // An image may be named before the command.
    let out = env.ok(&["run", "--rm", "busybox", "echo", "-n", "a b"]);
    assert_eq!(out, "a b");
    env.finish();
}

#[test]
fn command_not_found_is_127_and_not_executable_is_126() {
    let env = Env::new();
    env.ok(&["run", "--rm", "true"]); // build the image first
    let o = env.fails(&["run", "--rm", "nosuchcmd"]);
    assert_eq!(o.code, 127);
    assert!(o.stderr.contains("nosuchcmd"), "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "one line: {}", o.stderr);
    let o = env.fails(&["run", "--rm", "/etc/passwd"]);
    assert_eq!(o.code, 126);
    assert!(o.stderr.contains("/etc/passwd"), "{}", o.stderr);
    // Detached, too: nothing is left of the failed container.
    let o = env.fails(&["run", "-d", "--name", "nf", "nosuchcmd"]);
    assert_eq!(o.code, 127);
    assert!(env.ps_json().is_empty());
    env.finish();
}

#[test]
fn memory_limit_kills_a_big_allocation() {
    let env = Env::new();
    let o = env.run(&["run", "--rm", "-m", "32m", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]);
    assert_eq!(o.code, 137, "dd should be OOM-killed (SIGKILL): {}", o.stderr);
    // Without the limit it succeeds.
    env.ok(&["run", "--rm", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]);
    env.finish();
}

#[test]
fn limits_land_in_the_cgroup() {
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "lim",
        "-m",
        "48m",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "33",
        "sleep",
        "100",
    ]);
    let id = env.record("lim")["id"].as_str().unwrap_or("").to_string();
    let pid = env.record("lim")["pid"].as_i64().unwrap_or(0);
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    assert!(cg.contains(&format!("mydocker/{id}")), "init is in its cgroup: {cg}");
    let read = |ctrl: &str, file: &str| {
        cgroup_dirs(&id)
            .into_iter()
            .map(|d| d.join(file))
            .find(|p| p.exists() && p.to_string_lossy().contains(ctrl))
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|s| s.trim().to_string())
    };
    if std::path::Path::new("/sys/fs/cgroup/memory").is_dir() {
        assert_eq!(read("memory", "memory.limit_in_bytes").as_deref(), Some("50331648"));
        assert_eq!(read("cpu", "cpu.cfs_quota_us").as_deref(), Some("50000"));
        assert_eq!(read("cpu", "cpu.shares").as_deref(), Some("512"));
        assert_eq!(read("cpuset", "cpuset.cpus").as_deref(), Some("0"));
        assert_eq!(read("pids", "pids.max").as_deref(), Some("33"));
    } else {
        assert_eq!(read("", "memory.max").as_deref(), Some("50331648"));
        assert_eq!(read("", "pids.max").as_deref(), Some("33"));
    }
    env.finish();
    assert!(cgroup_dirs(&id).is_empty());
}

#[test]
fn pids_limit_stops_a_fork_loop() {
    let env = Env::new();
    // ash exits when fork fails; the last number it printed is how many forks succeeded.
    let o = env.run(&[
        "run",
        "--rm",
        "--pids-limit",
        "10",
        "sh",
        "-c",
        "n=0; while [ $n -lt 50 ]; do sleep 5 & n=$((n+1)); echo $n; done",
    ]);
    let last: i64 = o.stdout.lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or(0);
    assert!(
        last > 0 && last < 10,
        "pids limit 10 should stop the fork loop after a few forks, got {last}: {}",
        o.stderr
    );
    assert_ne!(o.code, 0, "the shell died of the failed fork");
    env.finish();
}

#[test]
fn bad_input_gets_one_line_and_changes_nothing() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "taken", "sleep", "100"]);
    let before = env.ok(&["ps"]);
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--name", "taken", "true"], "already in use"),
        (&["run", "--name", "../x", "true"], "invalid container name"),
        (&["run", "--name", "", "true"], "invalid container name"),
        (&["run", "-m", "12q", "true"], "invalid size \"12q\""),
        (&["run", "--cpus", "lots", "true"], "--cpus"),
        (&["run", "--cpus", "64", "true"], "out of range"),
        (&["run", "--pids-limit", "0", "true"], "--pids-limit"),
        (&["run", "-w", "relative", "true"], "absolute"),
        (&["run", "--pull=never", "nosuchimage", "sh"], "no such image: nosuchimage"),
        (&["run", "--pull=sometimes", "true"], "--pull: invalid value \"sometimes\""),
        (&["run"], "no command"),
        (&["run", ""], "no command"),
        (&["run", "--bogus", "true"], "--bogus"),
        (&["frobnicate"], "unknown command"),
    ];
    for (args, needle) in cases {
        let o = env.fails(args);
        let first = o.stderr.lines().next().unwrap_or("");
        assert!(first.contains(needle), "mydocker {args:?}: expected {needle:?} in {:?}", o.stderr);
        assert!(first.starts_with("mydocker: "), "{first}");
        // Usage errors are clap's whole message (what, a tip, the usage line).
        assert!(o.stderr.lines().count() <= 2 || o.stderr.contains("Usage:"), "short error: {}", o.stderr);
    }
    assert_eq!(env.ok(&["ps"]), before, "bad input changed the state");
    // exactly one container dir, no stray layers
    assert_eq!(env.container_dirs().len(), 1);
    assert_eq!(std::fs::read_dir(env.data.path().join("containers")).map(|d| d.count()).unwrap_or(0), 1);
    env.finish();
}

#[test]
fn not_root_is_refused() {
    let env = Env::new();
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
        .arg("--root")
        .arg(env.root())
        .arg("--data-root")
        .arg(env.data.path())
        .args(["run", "true"]);
    let o: Out = cmd.output().expect("setpriv").into();
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("root"), "{}", o.stderr);
    env.finish();
}

#[test]
fn concurrent_runs_with_one_name_have_one_winner() {
    let env = Env::new();
    env.ok(&["run", "--rm", "true"]); // build the image first
    let handles: Vec<_> = (0..6)
        .map(|_| env.command(&["run", "-d", "--name", "same", "sleep", "100"]).spawn().expect("spawn"))
        .collect();
    let codes: Vec<i32> = handles
        .into_iter()
        .map(|h| h.wait_with_output().map(|o| o.status.code().unwrap_or(-1)).unwrap_or(-1))
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 1, "exactly one winner: {codes:?}");
    assert_eq!(env.ps_json().len(), 1);
    env.finish();
}

#[test]
fn import_a_rootfs_tarball_and_run_it() {
    let env = Env::new();
    env.ok(&["run", "--rm", "true"]);
    // Make a tarball of the busybox image, as the seed's busybox.tar.
    let tarball = env.data.path().join("busybox.tar");
    let rootfs = env.image_root("busybox");
    tar_dir(&rootfs, &tarball);
    assert_eq!(env.ok(&["image", "import", tarball.to_str().unwrap_or(""), "bb2"]).trim(), "bb2");
    assert!(env.ok(&["images"]).lines().any(|l| l.starts_with("bb2 ")));
    assert_eq!(env.ok(&["run", "--rm", "bb2", "echo", "from bb2"]), "from bb2\n");
    let o = env.fails(&["image", "import", "/nonexistent.tar", "x"]);
    assert!(o.stderr.contains("/nonexistent.tar"));
    env.ok(&["image", "rm", "bb2"]);
    assert!(!env.ok(&["images"]).contains("bb2"));
    env.finish();
}

#[test]
fn interactive_tty_shell() {
    let env = Env::new();
    env.ok(&["run", "--rm", "true"]);
    let cmd = env.command(&["run", "--rm", "-it", "sh"]);
    let (out, code) =
        through_pty(cmd, &["echo hello $((6*7))\n", "tty\n", "exit 5\n"], Duration::from_secs(20));
    assert!(out.contains("hello 42"), "{out}");
    assert!(out.contains("/dev/pts/"), "stdin is a terminal: {out}");
    assert_eq!(code, 5);
    env.finish();
}

/// `export` writes a container's merged root as one tar, running or ended;
/// `image import` takes it back; `commit` and `history` without Podman.
#[test]
fn export_import_and_commit_without_peers() {
    let env = Env::new();
    env.ok(&["run", "--name", "ex", "sh", "-c", "echo mine > /mine; rm /bin/ls"]);
    let tarball = env.data.path().join("ex.tar");
    env.ok(&["export", "-o", tarball.to_str().unwrap_or(""), "ex"]);
    assert_eq!(env.ok(&["image", "import", tarball.to_str().unwrap_or(""), "exported"]).trim(), "exported");
    assert_eq!(env.ok(&["run", "--rm", "exported", "cat", "/mine"]), "mine\n", "the change is in the export");
    assert_eq!(env.fails(&["run", "--rm", "exported", "ls"]).code, 127, "so is the deletion");
    let id = env.ok(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/mine\"]",
        "-c",
        "ENV COLOR=blue",
        "-m",
        "note",
        "ex",
        "committed:1",
    ]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(env.ok(&["run", "--rm", "committed:1"]), "mine\n", "CMD from --change");
    assert_eq!(env.ok(&["run", "--rm", "committed:1", "sh", "-c", "echo $COLOR"]), "blue\n");
    let h = env.ok(&["history", "committed:1"]);
    assert!(h.lines().nth(1).is_some_and(|l| l.contains("note")), "{h}");
    let o = env.fails(&["commit", "-c", "FROM x", "ex"]);
    assert!(o.stderr.contains("unknown instruction \"FROM\""), "{}", o.stderr);
    let images = env.ok(&["images"]);
    assert!(images.contains("committed") && images.contains("exported"), "{images}");
    env.ok(&["rm", "ex"]);
    env.ok(&["rmi", "committed:1", "exported"]);
    env.finish();
}

/// `tag`, `rmi` of a name (untag) and of the last one (delete), `image prune`
/// of a nameless image, `images -q` and `--format json`, `save` to stdout.
#[test]
fn tag_rmi_prune_and_listing_as_docker() {
    let env = Env::new();
    env.ok(&["run", "--rm", "true"]);
    env.ok(&["tag", "busybox", "localhost/mine:2"]);
    let images = env.ok(&["images"]);
    assert!(images.lines().any(|l| l.starts_with("localhost/mine ") && l.contains(" 2 ")), "{images}");
    let ids = env.ok(&["images", "-q"]);
    assert_eq!(ids.lines().count(), 2, "a row per name, one id: {ids}");
    assert_eq!(ids.lines().next(), ids.lines().nth(1));
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["images", "--format", "json"])).expect("json");
    assert_eq!(json[0]["names"].as_array().map(|n| n.len()), Some(2));
    assert_eq!(env.ok(&["rmi", "localhost/mine:2"]), "Untagged: localhost/mine:2\n", "a name: untag only");
    let o = env.fails(&["tag", "busybox", "Bad:Name"]);
    assert!(o.stderr.contains("Bad:Name"), "{}", o.stderr);
    // An image that lost its names is dangling: prune deletes it.
    env.ok(&["run", "--name", "c", "sh", "-c", "echo x > /x"]);
    env.ok(&["commit", "c", "tmpimg:1"]);
    env.ok(&["rm", "c"]);
    env.ok(&["tag", "busybox", "tmpimg:1"]);
    let pruned = env.ok(&["image", "prune"]);
    assert!(pruned.starts_with("Deleted: sha256:"), "{pruned}");
    let mut save = env.command(&["save", "busybox"]);
    let out = save.output().expect("save");
    assert!(out.status.success() && out.stdout.len() > 1 << 20, "save to stdout");
    let o = env.fails(&["rmi", "nosuchimage"]);
    assert!(o.stderr.contains("no such image: nosuchimage"), "{}", o.stderr);
    env.finish();
}
