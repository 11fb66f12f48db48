//! Bugs users hit (issue 10, "Trust"): each test failed on the code before its fix.

mod common;
use common::*;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// A container's 1500-deep directory tree is removed by `rm -f` even when
/// mydocker may hold only 256 fds (removal used to hold one fd per level: EMFILE).
#[test]
fn rm_f_removes_a_1500_deep_tree_under_a_low_fd_limit() {
    let env = Env::new();
    let deep = "for i in $(seq 1500); do mkdir d; cd d; done; echo leaf > f; cd /; echo made";
    assert_eq!(env.ok(&["run", "--name", "deep", "sh", "-c", deep]), "made\n");
    let id = env.record("deep")["id"].as_str().unwrap_or_default().to_string();
    assert!(env.data.path().join("containers").join(&id).join("upper/d/d/d").is_dir());
    let mut rm = env.command(&["rm", "-f", "deep"]);
    unsafe {
        rm.pre_exec(|| {
            let lim = libc::rlimit { rlim_cur: 256, rlim_max: 256 };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o: Out = rm.output().expect("spawn rm").into();
    assert_eq!(o.code, 0, "rm -f of a deep tree: {}", o.stderr);
    assert!(!env.data.path().join("containers").join(&id).exists(), "the layer is gone");
    env.finish();
}

/// The short id of container `name`, as messages show it.
fn short_id(env: &Env, name: &str) -> String {
    env.record(name)["id"].as_str().unwrap_or_default().chars().take(12).collect()
}

/// `image rm` of an image a container uses is refused, naming the container; `-f`
/// removes it only when no running container uses it.
#[test]
fn image_rm_refuses_an_image_in_use() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "user", "sleep", "100"]);
    let short = short_id(&env, "user");
    let o = env.fails(&["image", "rm", "busybox"]);
    assert_eq!(
        o.stderr,
        format!("mydocker: unable to remove image busybox: image is being used by container {short}\n")
    );
    let o = env.fails(&["image", "rm", "-f", "busybox"]);
    assert!(
        o.stderr.contains(&format!("(cannot be forced): image is being used by running container {short}")),
        "{}",
        o.stderr
    );
    // The container still works.
    assert_eq!(env.ok(&["exec", "user", "ls", "/bin/busybox"]), "/bin/busybox\n");
    env.ok(&["stop", "-t", "0", "user"]);
    // Stopped, it still holds the image without -f…
    let o = env.fails(&["image", "rm", "busybox"]);
    assert!(o.stderr.contains(&format!("being used by container {short}")), "{}", o.stderr);
    // …and -f removes it, as Docker's does; the container can still be removed.
    let out = env.ok(&["image", "rm", "-f", "busybox"]);
    assert!(out.starts_with("Untagged: busybox:latest\nDeleted: sha256:"), "as Docker words it: {out}");
    assert!(!env.ok(&["images"]).contains("busybox"));
    env.ok(&["rm", "user"]);
    env.finish();
}

/// An unknown image is an error that builds and creates nothing.
#[test]
fn run_with_an_unknown_image_builds_nothing() {
    let env = Env::new();
    for args in [
        &["run", "--pull=never", "--rm", "nosuchimage", "true"][..],
        &["run", "--pull", "never", "nosuchimage"],
    ] {
        let o = env.run(args);
        assert_eq!(o.code, 125, "{args:?}: {}", o.stderr);
        assert_eq!(o.stderr, "mydocker: no such image: nosuchimage (and --pull=never)\n", "{args:?}");
    }
    // By default it is pulled, as Docker does: from the search registry (the
    // harness's, where nothing listens), and the error names it.
    for args in [&["run", "--rm", "nosuchimage", "true"][..], &["run", "nosuchimage"]] {
        let o = env.run(args);
        assert_eq!(o.code, 125, "{args:?}: {}", o.stderr);
        let lines: Vec<&str> = o.stderr.lines().collect();
        assert_eq!(lines[0], "Unable to find image 'nosuchimage' locally", "{args:?}: {}", o.stderr);
        let last = lines.last().copied().unwrap_or_default();
        assert!(last.starts_with("mydocker: 127.0.0.1:1: "), "{args:?}: names the registry: {}", o.stderr);
    }
    let images = env.data.path().join("images");
    let left: Vec<_> =
        std::fs::read_dir(&images).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "nothing built: {left:?}");
    // A command of the default image still builds it on first use.
    let o = env.run(&["run", "--rm", "sh", "-c", "exit 3"]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.contains("building it"), "{}", o.stderr);
    env.finish();
}

/// `run -h NAME` sets the hostname, as Docker's; `--help` still prints help.
#[test]
fn run_h_is_the_hostname() {
    let env = Env::new();
    assert_eq!(env.ok(&["run", "-h", "myhost", "--rm", "hostname"]), "myhost\n");
    let help = env.ok(&["run", "--help"]);
    assert!(help.contains("Usage: mydocker run"), "{help}");
    assert!(help.contains("-h, --hostname"), "{help}");
    env.finish();
}

/// A stray mount of a cgroup hierarchy elsewhere (here: hidden under another
/// mount, as a container rootfs's /sys/fs/cgroup left behind) does not break
/// `run`. The mounts live in a private mount namespace that dies with the
/// command, so nothing can be left mounted and parallel tests never see them.
#[test]
fn a_stray_cgroup_mount_does_not_break_run() {
    let env = Env::new();
    env.ok(&["run", "--rm", "true"]); // build the image outside the namespace
    let stray = tempfile::Builder::new().prefix("mdstray").tempdir().expect("temp");
    let script = r#"set -e
        mkdir -p "$1/cg"
        mount -t cgroup -o pids cgroup "$1/cg"
        mount -t tmpfs hide "$1"
        grep -q " $1/cg " /proc/self/mountinfo
        shift
        exec "$@" run --rm --hostname stray hostname"#;
    let o: Out = Command::new("unshare")
        .env("MYDOCKER_NETWORK", "none")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(stray.path())
        .arg(BIN)
        .arg("--root")
        .arg(env.root())
        .arg("--data-root")
        .arg(env.data.path())
        .output()
        .expect("unshare")
        .into();
    assert_eq!((o.code, o.stdout.as_str()), (0, "stray\n"), "{}", o.stderr);
    env.finish();
}

/// Usage errors print clap's whole message: what is missing, the usage line,
/// and the nearest command or flag for a typo.
#[test]
fn usage_errors_say_what_and_suggest() {
    let env = Env::new();
    let o = env.fails(&["rm"]);
    assert!(o.stderr.contains("the following required arguments were not provided"), "{}", o.stderr);
    assert!(o.stderr.contains("<CONTAINERS>"), "{}", o.stderr);
    assert!(o.stderr.contains("Usage: mydocker rm"), "{}", o.stderr);
    assert_eq!(o.code, 125);

    let o = env.fails(&["rnu", "true"]);
    assert!(o.stderr.starts_with("mydocker: unknown command \"rnu\""), "{}", o.stderr);
    assert!(o.stderr.contains("did you mean run?"), "{}", o.stderr);

    let o = env.fails(&["run", "--detatch", "top"]);
    assert!(o.stderr.contains("'--detatch'"), "{}", o.stderr);
    assert!(o.stderr.contains("similar argument exists: '--detach'"), "{}", o.stderr);
    assert!(o.stderr.contains("Usage: mydocker run"), "{}", o.stderr);

    let o = env.fails(&["ps", "--formt", "json"]);
    assert!(o.stderr.contains("'--format'"), "{}", o.stderr);

    // A user script of that name still runs.
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("rnu.rhai"), "print(\"mine\");").expect("write");
    let o: Out = env.command(&["rnu"]).env("MYDOCKER_SCRIPTS", dir.path()).output().expect("run").into();
    assert_eq!((o.code, o.stdout.as_str()), (0, "mine\n"), "{}", o.stderr);
    env.finish();
}
