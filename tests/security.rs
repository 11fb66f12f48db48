//! Default confinement: each protection has a test that fails without it.

mod common;
use common::*;
use std::time::Duration;

const DOCKER_CAPS: &str = "00000000a80425fb";

#[test]
fn capabilities_are_dockers_default_and_adjustable() {
    let env = Env::new();
    let st = env.ok(&["run", "--rm", "cat", "/proc/self/status"]);
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status_field(&st, set), DOCKER_CAPS, "{set}: {st}");
    }
    for set in ["CapInh", "CapAmb"] {
        assert_eq!(status_field(&st, set), "0000000000000000", "{set}: {st}");
    }
    let st = env.ok(&["run", "--rm", "--cap-drop", "ALL", "cat", "/proc/self/status"]);
    assert_eq!(status_field(&st, "CapEff"), "0000000000000000");
    assert_eq!(status_field(&st, "CapBnd"), "0000000000000000");
    let st =
        env.ok(&["run", "--rm", "--cap-add", "SYS_ADMIN", "--cap-drop", "CHOWN", "cat", "/proc/self/status"]);
    let eff = u64::from_str_radix(&status_field(&st, "CapEff"), 16).unwrap_or(0);
    assert_ne!(eff & (1 << 21), 0, "SYS_ADMIN added");
    assert_eq!(eff & 1, 0, "CHOWN dropped");
    let o = env.fails(&["run", "--rm", "--cap-add", "NOPE", "true"]);
    assert!(o.stderr.contains("NOPE"), "{}", o.stderr);

    // exec gets the same confinement as the container.
    env.ok(&["run", "-d", "--name", "c", "sleep", "100"]);
    let st = env.ok(&["exec", "c", "cat", "/proc/self/status"]);
    assert_eq!(status_field(&st, "CapEff"), DOCKER_CAPS);
    assert_eq!(status_field(&st, "Seccomp"), "2");
    env.finish();
}

#[test]
fn proc_and_sys_are_masked_and_read_only() {
    let env = Env::new();
    let host_timer_list = std::fs::read_to_string("/proc/timer_list").unwrap_or_default();
    let script = "wc -c < /proc/keys; wc -c < /proc/timer_list; \
                  echo x > /proc/sys/kernel/domainname && echo WROTE_PROC_SYS; \
                  echo h > /proc/sysrq-trigger && echo WROTE_SYSRQ; \
                  echo x > /sys/fs/cgroup/x && echo WROTE_CGROUP; \
                  echo 1 > /sys/kernel/uevent_helper && echo WROTE_SYS; \
                  grep -E ' /proc | /sys ' /proc/mounts";
    let out = env.run(&["run", "--rm", "sh", "-c", script]).stdout;
    let mut lines = out.lines();
    assert_eq!(lines.next().map(str::trim), Some("0"), "/proc/keys is masked: {out}");
    assert_eq!(lines.next().map(str::trim), Some("0"), "/proc/timer_list is masked: {out}");
    assert!(!host_timer_list.is_empty(), "the host's timer_list is not empty, so masking is what hides it");
    for w in ["WROTE_PROC_SYS", "WROTE_SYSRQ", "WROTE_CGROUP", "WROTE_SYS"] {
        assert!(!out.contains(w), "{w}: {out}");
    }
    let proc_line = out.lines().find(|l| l.split_whitespace().nth(1) == Some("/proc")).unwrap_or("");
    for opt in ["nosuid", "nodev", "noexec"] {
        assert!(proc_line.contains(opt), "proc mounted {opt}: {proc_line}");
    }
    let sys_line = out.lines().find(|l| l.split_whitespace().nth(1) == Some("/sys")).unwrap_or("");
    assert!(sys_line.contains(" ro,"), "/sys read-only: {sys_line}");
    env.finish();
}

#[test]
fn seccomp_denies_unshare_unless_unconfined() {
    let env = Env::new();
    // A user namespace needs no capability, so only seccomp stands in the way.
    let o = env.run(&["run", "--rm", "unshare", "-U", "true"]);
    assert_ne!(o.code, 0, "unshare of a user namespace must be denied by seccomp");
    assert!(o.stderr.contains("Operation not permitted"), "{}", o.stderr);
    env.ok(&["run", "--rm", "--security-opt", "seccomp=unconfined", "unshare", "-U", "true"]);
    // mount is denied (no CAP_SYS_ADMIN, and seccomp).
    let o = env.run(&["run", "--rm", "mount", "-t", "tmpfs", "t", "/mnt"]);
    assert_ne!(o.code, 0);
    let st = env.ok(&["run", "--rm", "cat", "/proc/self/status"]);
    assert_eq!(status_field(&st, "Seccomp"), "2");
    assert_eq!(status_field(&st, "NoNewPrivs"), "0");
    let st = env.ok(&["run", "--rm", "--security-opt", "no-new-privileges", "cat", "/proc/self/status"]);
    assert_eq!(status_field(&st, "NoNewPrivs"), "1");
    env.fails(&["run", "--rm", "--security-opt", "apparmor=x", "true"]);
    env.finish();
}

#[test]
fn user_read_only_root_and_devices() {
    let env = Env::new();
    let out =
        env.ok(&["run", "--rm", "-u", "nobody", "sh", "-c", "id -u; id -g; grep CapEff /proc/self/status"]);
    assert_eq!(out.lines().take(2).collect::<Vec<_>>(), ["65534", "65534"], "{out}");
    assert!(out.contains("0000000000000000"), "a non-root user has no effective capabilities: {out}");
    assert_eq!(env.ok(&["run", "--rm", "-u", "1234:5", "id", "-u"]).trim(), "1234");
    let o = env.fails(&["run", "--rm", "-u", "nosuchuser", "true"]);
    assert!(o.stderr.contains("nosuchuser"), "{}", o.stderr);

    let o = env.run(&[
        "run",
        "--rm",
        "--read-only",
        "sh",
        "-c",
        "touch /x && echo WROTE; touch /dev/shm/ok && echo SHM",
    ]);
    assert!(!o.stdout.contains("WROTE") && o.stderr.contains("Read-only"), "{} {}", o.stdout, o.stderr);
    assert!(o.stdout.contains("SHM"), "/dev/shm stays writable");

    // A block device node can be made but not opened; the standard nodes work.
    let o = env.run(&[
        "run",
        "--rm",
        "sh",
        "-c",
        "mknod /tmp/sda b 8 0 && head -c1 /tmp/sda; echo ok > /dev/null && echo NULL_OK",
    ]);
    assert!(o.stderr.contains("Operation not permitted"), "{}", o.stderr);
    assert!(o.stdout.contains("NULL_OK"));
    env.finish();
}

#[test]
fn no_runtime_fd_reaches_the_container() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "fds", "sleep", "100"]);
    let pid = env.record("fds")["pid"].as_i64().unwrap_or(0);
    let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    fds.sort();
    assert_eq!(fds, ["0", "1", "2"], "the init holds only stdio");
    // An exec'd process likewise: ls's own directory fd is the only extra one.
    let out = env.ok(&["exec", "fds", "ls", "/proc/self/fd"]);
    let listed: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(listed, ["0", "1", "2", "3"], "{out}");
    // A working directory through a file descriptor is refused.
    for n in 3..8 {
        let wd = format!("/proc/self/fd/{n}");
        let o = env.fails(&["run", "--rm", "-w", &wd, "true"]);
        assert!(o.stderr.contains("working directory"), "{}", o.stderr);
    }
    env.finish();
}

/// CVE-2019-5736: a process in the container opens /proc/PID/exe of a
/// mydocker process that has joined the container (an `exec` before it execs,
/// or mydocker itself run as an interpreter via `#!/proc/self/exe`) and writes
/// through it later. We run a copy of mydocker, hold each exec in the container
/// for a while (a debug-build hook), and check the copy is untouched, the
/// attacker never even opened it — the only executable not from the image it
/// can reach is the sealed exec trampoline — and could not write what it did open.
#[test]
fn container_cannot_overwrite_the_host_binary() {
    let env = Env::new();
    let dir = tempfile::tempdir().expect("tmp");
    let copy = dir.path().join("mydocker");
    std::fs::copy(BIN, &copy).expect("copy binary");
    let before = std::fs::read(&copy).unwrap_or_default();
    let run = |args: &[&str]| -> Out {
        std::process::Command::new(&copy)
            .arg("--root")
            .arg(env.root())
            .arg("--data-root")
            .arg(env.data.path())
            .args(args)
            .env("MYDOCKER_TEST_EXEC_DELAY_MS", "700")
            .env("MYDOCKER_NETWORK", "none")
            .output()
            .expect("run copy")
            .into()
    };
    let attacker = "printf '#!/proc/self/exe\\nsys::sleep(1500);\\n' > /evil; chmod +x /evil; \
        while :; do for p in /proc/[0-9]*; do \
          t=$(readlink $p/exe 2>/dev/null); case \"$t\" in */busybox|'') continue;; esac; \
          exec 3<$p/exe || continue; echo \"OPENED $t\" >>/tmp/log; \
          for i in $(seq 40); do echo EVIL 2>/dev/null >/proc/self/fd/3 && { echo OVERWROTE >>/tmp/log; break; }; sleep 0.1; done; \
          exec 3<&-; \
        done; done";
    let o = run(&["run", "-d", "--name", "att", "sh", "-c", attacker]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..3 {
        run(&["exec", "att", "true"]);
        // The kernel may refuse /proc/self/exe as an interpreter; either way nothing may leak.
        run(&["exec", "att", "/evil"]);
    }
    std::thread::sleep(Duration::from_millis(500));
    let log = run(&["exec", "att", "sh", "-c", "cat /tmp/log 2>/dev/null; true"]);
    let after = std::fs::read(&copy).unwrap_or_default();
    assert!(before == after, "the host binary was modified");
    assert!(!log.stdout.contains("OVERWROTE"), "the container wrote an executable: {}", log.stdout);
    for line in log.stdout.lines().filter(|l| l.starts_with("OPENED")) {
        assert!(
            line.starts_with("OPENED /memfd:mydocker-exec"),
            "the container opened mydocker's executable: {line}"
        );
    }
    env.finish();
}

fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0)
}

/// Run `argv` on the host as uid/gid 65534 (nobody), no groups.
fn as_nobody(argv: &[&str]) -> Out {
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid", "65534", "--regid", "65534", "--clear-groups", "--"]).args(argv);
    cmd.output().expect("setpriv").into()
}

/// Issue 10, holes 1 and 2: a setuid-root file or a device node made inside a
/// container (or shipped in an image) must not be usable by another host user
/// from its path under the data root, and `-e` secrets and logs are private —
/// whatever the umask mydocker runs with. The roots are made by mydocker itself,
/// inside a world-readable directory, as /var/lib/mydocker would be.
#[test]
fn other_host_users_reach_nothing_under_the_roots() {
    let top = tempfile::tempdir().expect("tmp");
    std::fs::set_permissions(top.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let (state, data) = (top.path().join("state"), top.path().join("data"));
    let run = |args: &[&str]| -> Out {
        let mut c = std::process::Command::new(BIN);
        c.env("MYDOCKER_NETWORK", "none");
        c.arg("--root").arg(&state).arg("--data-root").arg(&data).args(args);
        c.stdin(std::process::Stdio::null());
        unsafe {
            use std::os::unix::process::CommandExt;
            c.pre_exec(|| {
                libc::umask(0);
                Ok(())
            });
        }
        c.output().expect("spawn mydocker").into()
    };
    let setup = "cp /bin/busybox /suid && chmod 4755 /suid && mknod /mem c 1 1 && chmod 666 /mem && \
                 echo ready; umask; sleep 100";
    let o = run(&["run", "-d", "--name", "s", "-e", "SECRET=hunter2", "sh", "-c", setup]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let id = o.stdout.trim().to_string();
    let layer = data.join("containers").join(&id);
    assert!(eventually(Duration::from_secs(5), || layer.join("upper/mem").exists()), "setup ran");
    assert!(
        eventually(Duration::from_secs(5), || std::fs::read_to_string(state.join("s/container.log"))
            .unwrap_or_default()
            .contains("ready")),
        "setup finished"
    );

    for (path, want) in [
        (state.clone(), 0o700),
        (state.join("s"), 0o700),
        (state.join("s/config.json"), 0o600),
        (state.join("s/container.log"), 0o600),
        (data.clone(), 0o700),
        (data.join("containers"), 0o700),
        (data.join("images"), 0o700),
        (data.join("layers"), 0o700),
        (layer.clone(), 0o700),
    ] {
        assert_eq!(mode_of(&path), want, "mode of {}", path.display());
    }
    // The container's processes get Docker's umask, not mydocker's.
    let log = std::fs::read_to_string(state.join("s/container.log")).unwrap_or_default();
    assert!(log.contains("0022"), "umask inside: {log}");

    for suid in [layer.join("upper/suid"), layer.join("merged/suid")] {
        let o = as_nobody(&[&suid.to_string_lossy(), "id", "-u"]);
        assert!(
            o.code != 0 && !o.stdout.contains('0'),
            "nobody ran {}: {} {}",
            suid.display(),
            o.stdout,
            o.stderr
        );
    }
    let o = as_nobody(&["head", "-c1", &layer.join("upper/mem").to_string_lossy()]);
    assert_ne!(o.code, 0, "nobody opened a device node made in the container");
    let o = as_nobody(&["cat", &state.join("s/config.json").to_string_lossy()]);
    assert!(o.code != 0 && !o.stdout.contains("hunter2"), "nobody read the container's environment");

    // And even for root on the host, the container's tree is nosuid,nodev.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let merged = layer.join("merged").to_string_lossy().into_owned();
    let line = mounts.lines().find(|l| l.split(' ').nth(4) == Some(merged.as_str())).unwrap_or("");
    for opt in ["nosuid", "nodev"] {
        assert!(line.split(' ').nth(5).unwrap_or("").contains(opt), "merged is mounted {opt}: {line}");
    }
    // Inside, the root is not nosuid: setuid programs of the image still work.
    let o = run(&["exec", "s", "sh", "-c", "grep ' / / ' /proc/self/mountinfo"]);
    assert!(!o.stdout.contains("nosuid"), "the container's / is not nosuid: {}", o.stdout);

    // A setuid-root file shipped in an imported image is as unreachable.
    let src = top.path().join("img");
    std::fs::create_dir_all(src.join("bin")).expect("img");
    std::fs::copy("/bin/busybox", src.join("bin/suid")).expect("copy busybox");
    std::fs::set_permissions(src.join("bin/suid"), std::os::unix::fs::PermissionsExt::from_mode(0o4755))
        .expect("chmod");
    let tarball = top.path().join("img.tar");
    tar_dir(&src, &tarball);
    let o = run(&["image", "import", &tarball.to_string_lossy(), "suidimg"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let inspect: serde_json::Value =
        serde_json::from_str(&run(&["image", "inspect", "suidimg"]).stdout).expect("image inspect");
    let top = inspect[0]["layers"][0].as_str().expect("layer").trim_start_matches("sha256:").to_string();
    let shipped = data.join("layers").join(top).join("diff/bin/suid");
    assert_ne!(mode_of(&shipped) & 0o4000, 0, "the image keeps its setuid bit");
    let o = as_nobody(&[&shipped.to_string_lossy(), "id", "-u"]);
    assert!(o.code != 0 && !o.stdout.contains('0'), "nobody ran the image's setuid file: {}", o.stdout);

    let o = run(&["rm", "-f", "s"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(cgroup_dirs(&id).is_empty());
    assert!(!layer.exists() && !state.join("s").exists());
}

/// Issue 10, hole 3 (the CVE-2024-21626 class): a working directory through
/// a descriptor the runtime holds (a host cgroup dir, the log, the sync
/// socket) must neither create anything on the host nor in a host cgroup,
/// and the failed run leaves nothing behind.
#[test]
fn workdir_through_a_runtime_fd_reaches_nothing_on_the_host() {
    let env = Env::new();
    let mark = format!("md-wd-{}", std::process::id());
    let host_dir = std::path::Path::new("/tmp").join(&mark);
    for detach in [false, true] {
        for n in 3..10 {
            for wd in [
                format!("/proc/self/fd/{n}/../../../../../../tmp/{mark}/y"),
                format!("/proc/self/fd/{n}/sub"),
            ] {
                let mut args = vec!["run", "--rm"];
                if detach {
                    args.push("-d");
                }
                args.extend(["-w", &wd, "true"]);
                let o = env.run(&args);
                assert_ne!(o.code, 0, "-w {wd} (detach {detach}) must fail: {}", o.stdout);
                assert!(o.stderr.contains("working directory"), "{}", o.stderr);
                assert!(!host_dir.exists(), "-w {wd} created {} on the host", host_dir.display());
            }
        }
    }
    // No sub-cgroup appeared anywhere under mydocker's cgroups.
    let subs: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
        .map(|hs| hs.flatten().filter(|h| h.path().join("mydocker").exists()).collect())
        .unwrap_or_default();
    for h in subs {
        for c in std::fs::read_dir(h.path().join("mydocker")).map(|d| d.flatten().collect()).unwrap_or(vec![])
        {
            assert!(!c.path().join("sub").exists(), "a sub-cgroup was made: {}", c.path().display());
        }
    }
    // exec resolves its working directory the same way (it must exist).
    env.ok(&["run", "-d", "--name", "wd", "sleep", "100"]);
    for n in 3..8 {
        let wd = format!("/proc/self/fd/{n}");
        let o = env.fails(&["exec", "-w", &wd, "wd", "true"]);
        assert!(o.stderr.contains("working directory"), "exec -w {wd}: {}", o.stderr);
    }
    assert_eq!(env.ok(&["exec", "-w", "/bin/../etc", "wd", "pwd"]).trim(), "/etc");
    // A working directory inside the container is still created as needed,
    // through links that stay inside it.
    let out = env.ok(&["run", "--rm", "-w", "/new/dir", "pwd"]);
    assert_eq!(out.trim(), "/new/dir");
    let out = env.ok(&["run", "--rm", "-w", "/bin/../etc/../x", "pwd"]);
    assert_eq!(out.trim(), "/x");
    env.finish();
    assert!(!host_dir.exists());
}

/// Issue 10, hole 5 (the CVE-2022-24769 class): a file with `+ei` file
/// capabilities grants a non-root user whatever the inheritable set holds,
/// so a container's inheritable (and ambient) sets are empty, and a non-root
/// process has no effective or permitted capabilities, in `run` and `exec`.
#[test]
fn file_capabilities_grant_a_non_root_user_nothing() {
    let env = Env::new();
    let id = env.ok(&["run", "-d", "--name", "caps", "sleep", "100"]).trim().to_string();
    // busybox picks its applet by name: this copy is `cat`.
    env.ok(&["exec", "caps", "sh", "-c", "mkdir /fc && cp /bin/busybox /fc/cat"]);
    // security.capability v2: effective flag, inheritable = every capability.
    let merged = env.data.path().join("containers").join(&id).join("merged/fc/cat");
    let mut xattr = Vec::new();
    for word in [0x0200_0001u32, 0, u32::MAX, 0, u32::MAX] {
        xattr.extend_from_slice(&word.to_le_bytes());
    }
    let path = std::ffi::CString::new(merged.to_string_lossy().as_bytes()).expect("path");
    let rc = unsafe {
        libc::setxattr(path.as_ptr(), c"security.capability".as_ptr(), xattr.as_ptr().cast(), xattr.len(), 0)
    };
    assert_eq!(rc, 0, "setxattr: {}", std::io::Error::last_os_error());
    for user in ["nobody", "1234"] {
        let st = env.ok(&["exec", "-u", user, "caps", "/fc/cat", "/proc/self/status"]);
        for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
            assert_eq!(status_field(&st, set), "0000000000000000", "{set} of a +ei file run by {user}: {st}");
        }
    }
    let st = env.ok(&["exec", "caps", "cat", "/proc/self/status"]);
    assert_eq!(status_field(&st, "CapInh"), "0000000000000000", "exec as root: {st}");
    let st = env.ok(&["run", "--rm", "-u", "nobody", "cat", "/proc/self/status"]);
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(status_field(&st, set), "0000000000000000", "{set} of run -u nobody: {st}");
    }
    env.finish();
}

/// Issue 10, hole 4: an exec'd process must not be visible in the container
/// while it is still in the host's mount or network namespace (a process
/// inside would read the host's mounts and sockets through /proc/N, or stop
/// it). A spy inside watches every process it can see during execs whose
/// start is held back (debug-build hook) right after the process is born.
#[test]
fn exec_is_invisible_until_it_has_joined_the_container() {
    let env = Env::new();
    // A mount only the host's namespace has (container mounts name host paths
    // in their options, as under Docker, so a path alone would not tell).
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let marker = tempfile::Builder::new().prefix("md-host-only").tempdir().expect("tmp");
    nix::mount::mount(
        Some("tmpfs"),
        marker.path(),
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=4k"),
    )
    .expect("mount marker");
    let _unmount = Unmount(marker.path().to_path_buf());
    let data = marker.path().to_string_lossy().into_owned();
    let host_if = std::fs::read_dir("/sys/class/net")
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).find(|n| n != "lo"))
        .ok()
        .flatten();
    let spy = format!(
        "while :; do for p in /proc/[0-9]*; do \
           grep -q '{data}' $p/mountinfo 2>/dev/null && echo \"MOUNTS $p\" >>/tmp/spy; \
           {net} \
         done; done",
        net = match &host_if {
            Some(i) => format!("grep -q '{i}:' $p/net/dev 2>/dev/null && echo \"NET $p\" >>/tmp/spy;"),
            None => String::new(),
        }
    );
    env.ok(&["run", "-d", "--name", "spied", "sh", "-c", &spy]);
    for _ in 0..6 {
        let o: Out = env
            .command(&["exec", "spied", "true"])
            .env("MYDOCKER_TEST_EXEC_BORN_DELAY_MS", "150")
            .output()
            .expect("exec")
            .into();
        assert_eq!(o.code, 0, "{}", o.stderr);
    }
    let seen = env.ok(&["exec", "spied", "sh", "-c", "cat /tmp/spy 2>/dev/null; true"]);
    assert!(seen.trim().is_empty(), "the spy saw host namespaces through an exec'd process:\n{seen}");
    env.finish();
}
