//! The OCI runtime CLI's contract, driven directly as conmon and containerd's
//! shim drive it: create waits for start, the pid file, the state JSON, the
//! errors callers parse, the console socket, preserved fds, hooks in the
//! spec's order. This test process is a child subreaper (as those callers
//! are) and reaps each container's init itself.

mod common;

use common::{BIN, wait_dead};
use serde_json::{Value, json};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Once;
use std::time::Duration;

/// A private OCI installation: its `--root`, a bundle with a busybox rootfs.
struct Oci {
    dir: tempfile::TempDir,
    runtime: PathBuf,
    ids: std::cell::RefCell<Vec<String>>,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    });
}

static ROOTFS: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// At the test binary's exit: the shared rootfs goes (it was left in /tmp, one per run).
extern "C" fn remove_rootfs() {
    if let Some(dir) = ROOTFS.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A busybox rootfs made once per test binary (from the host's static busybox),
/// removed when the binary exits.
fn busybox_rootfs() -> PathBuf {
    static ONCE: Once = Once::new();
    let dir = ROOTFS
        .get_or_init(|| std::env::temp_dir().join(format!("mydocker-oci-rootfs-{}", std::process::id())))
        .clone();
    ONCE.call_once(|| {
        unsafe {
            libc::atexit(remove_rootfs);
        }
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).expect("rootfs");
        let busybox = std::env::var("MYDOCKER_BUSYBOX").unwrap_or_else(|_| "/bin/busybox".into());
        std::fs::copy(&busybox, bin.join("busybox")).expect("copy busybox");
        for applet in ["sh", "echo", "cat", "sleep", "id", "ls", "tty", "test", "[", "true"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("applet");
        }
        for d in ["proc", "dev", "sys", "tmp", "etc"] {
            std::fs::create_dir_all(dir.join(d)).expect("dir");
        }
    });
    dir
}

impl Oci {
    fn new() -> Oci {
        subreaper();
        let dir = tempfile::Builder::new().prefix("mdoci").tempdir().expect("tmp");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        let runtime = bin.join("mydocker-runc");
        std::os::unix::fs::symlink(BIN, &runtime).expect("link");
        Oci { dir, runtime, ids: Default::default() }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A bundle `name` whose process runs `args`; `edit` may change the spec.
    fn bundle(&self, name: &str, args: &[&str], edit: impl FnOnce(&mut Value)) -> PathBuf {
        let b = self.dir.path().join(name);
        let rootfs = b.join("rootfs");
        std::fs::create_dir_all(&b).expect("bundle");
        let st = Command::new("cp").arg("-a").arg(busybox_rootfs()).arg(&rootfs).status().expect("cp");
        assert!(st.success());
        let st = Command::new(&self.runtime).args(["spec", "--bundle"]).arg(&b).status().expect("spec");
        assert!(st.success(), "spec");
        let mut spec: Value =
            serde_json::from_str(&std::fs::read_to_string(b.join("config.json")).expect("read"))
                .expect("json");
        spec["process"]["terminal"] = json!(false);
        spec["process"]["args"] = json!(args);
        spec["root"]["readonly"] = json!(false);
        spec["linux"]["cgroupsPath"] = json!(format!("/mydocker-oci-test/{name}-{}", std::process::id()));
        edit(&mut spec);
        std::fs::write(b.join("config.json"), spec.to_string()).expect("write");
        b
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.runtime);
        c.arg("--root").arg(self.root()).args(args).stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Out {
        let o = self.cmd(args).output().expect("spawn");
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
        o.stdout
    }

    /// create ID from `bundle`, its stdout and stderr to `out` (a file); the init's pid.
    fn create(&self, id: &str, bundle: &Path, out: &Path) -> i32 {
        self.ids.borrow_mut().push(id.to_string());
        let f = std::fs::File::create(out).expect("out");
        let pid_file = bundle.join("pid");
        let st = self
            .cmd(&["create", "--bundle"])
            .arg(bundle)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(id)
            .stdout(f.try_clone().expect("clone"))
            .stderr(f)
            .status()
            .expect("create");
        assert!(st.success(), "create {id}: {}", std::fs::read_to_string(out).unwrap_or_default());
        let text = std::fs::read_to_string(&pid_file).expect("pid file");
        assert!(!text.ends_with('\n'), "the pid file has no newline: {text:?}");
        text.parse().expect("pid")
    }

    fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).expect("state json")
    }

    /// Delete everything and assert nothing is left: state, cgroup, processes.
    fn finish(self) {
        for id in self.ids.borrow().iter() {
            let o = self.run(&["delete", "--force", id]);
            assert_eq!(o.code, 0, "delete --force {id}: {}", o.stderr);
        }
        let left: Vec<_> = std::fs::read_dir(self.root())
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "state left: {left:?}");
        for h in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
            for id in self.ids.borrow().iter() {
                let p = h.path().join("mydocker-oci-test").join(format!("{id}-{}", std::process::id()));
                assert!(!p.exists(), "cgroup left: {}", p.display());
            }
            // The parent the specs name, once no test uses it (as a caller would).
            let _ = std::fs::remove_dir(h.path().join("mydocker-oci-test"));
        }
    }
}

/// Reap our (adopted) child `pid`: its exit code, 128+N for a signal.
fn reap(pid: i32) -> i32 {
    let mut status = 0;
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid, "waitpid {pid}");
    if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 + libc::WTERMSIG(status) }
}

#[test]
fn create_waits_for_start_then_runs_with_our_stdio() {
    let oci = Oci::new();
    let b = oci.bundle("life", &["sh", "-c", "echo started; exit 3"], |_| {});
    let out = b.join("out");
    let pid = oci.create("life", &b, &out);
    let s = oci.state("life");
    assert_eq!(s["status"], "created");
    assert_eq!(s["pid"], pid);
    assert_eq!(s["bundle"], b.display().to_string());
    assert!(s["created"].as_str().is_some_and(|t| t.ends_with('Z') && t.contains('T')), "RFC 3339: {s}");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(std::fs::read_to_string(&out).expect("out"), "", "nothing runs before start");
    assert!(oci.root().join("life/exec.fifo").exists());
    oci.ok(&["start", "life"]);
    assert!(!oci.root().join("life/exec.fifo").exists(), "start removes the FIFO, as runc");
    assert_eq!(reap(pid), 3, "the init's exit code reaches its reaper");
    assert!(
        std::fs::read_to_string(&out).expect("out").contains("started"),
        "create's stdio is the container's"
    );
    assert_eq!(oci.state("life")["status"], "stopped");
    let o = oci.run(&["start", "life"]);
    assert!(o.code != 0 && o.stderr.contains("cannot start a container that has stopped"), "{}", o.stderr);
    oci.ok(&["delete", "life"]);
    oci.finish();
}

#[test]
fn errors_are_worded_and_logged_as_runc_s() {
    let oci = Oci::new();
    let log = oci.dir.path().join("log.json");
    let o = oci.run(&["--log", log.to_str().expect("utf8"), "--log-format", "json", "state", "nosuch"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("container does not exist"), "{}", o.stderr);
    assert_eq!(o.stdout, "", "nothing on stdout");
    let line: Value =
        serde_json::from_str(std::fs::read_to_string(&log).expect("log").trim()).expect("one JSON line");
    assert_eq!(line["level"], "error");
    assert_eq!(line["msg"], "container does not exist");
    assert!(line["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    for verb in [
        &["kill", "nosuch", "9"][..],
        &["delete", "nosuch"],
        &["start", "nosuch"],
        &["exec", "nosuch", "true"],
    ] {
        let o = oci.run(verb);
        assert!(o.code != 0 && o.stderr.contains("container does not exist"), "{verb:?}: {}", o.stderr);
    }
    assert_eq!(
        oci.run(&["delete", "--force", "nosuch"]).code,
        0,
        "delete --force of an unknown id is no error"
    );

    // A command that is not there fails create, and leaves nothing.
    let b = oci.bundle("missing", &["nosuchcommand"], |_| {});
    oci.ids.borrow_mut().push("missing".into());
    let o = oci.run(&["create", "--bundle", b.to_str().expect("utf8"), "missing"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("executable file not found in $PATH"), "{}", o.stderr);
    assert!(oci.run(&["state", "missing"]).stderr.contains("does not exist"));

    // A running container is not deleted without --force, nor created twice.
    let b = oci.bundle("busy", &["sleep", "100"], |_| {});
    let pid = oci.create("busy", &b, &b.join("out"));
    let o = oci.run(&["create", "--bundle", b.to_str().expect("utf8"), "busy"]);
    assert!(o.code != 0 && o.stderr.contains("container with id exists: busy"), "{}", o.stderr);
    oci.ok(&["start", "busy"]);
    let o = oci.run(&["start", "busy"]);
    assert!(o.code != 0 && o.stderr.contains("cannot start an already running container"), "{}", o.stderr);
    let o = oci.run(&["delete", "busy"]);
    assert!(
        o.code != 0 && o.stderr.contains("cannot delete container busy that is not stopped: running"),
        "{}",
        o.stderr
    );
    let o = oci.run(&["kill", "busy", "NOSIG"]);
    assert!(o.code != 0 && o.stderr.contains("invalid signal"), "{}", o.stderr);
    assert_eq!(oci.state("busy")["status"], "running", "bad input changed nothing");
    oci.ok(&["kill", "busy", "9"]);
    assert_eq!(reap(pid), 137);
    let o = oci.run(&["kill", "busy", "15"]);
    assert!(o.code != 0 && o.stderr.contains("container not running"), "{}", o.stderr);
    oci.ok(&["delete", "busy"]);
    oci.finish();
}

#[test]
fn exec_joins_the_container_detached_or_not() {
    let oci = Oci::new();
    let b = oci.bundle("ex", &["sleep", "100"], |_| {});
    let pid = oci.create("ex", &b, &b.join("out"));
    oci.ok(&["start", "ex"]);
    // The argv form waits and exits with the process's code.
    let o = oci.run(&["exec", "ex", "sh", "-c", "echo $$; exit 4"]);
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert_ne!(o.stdout.trim(), "1", "a process of its own in the container's pid namespace");
    // --process FILE --detach --pid-file: returns once it runs; we reap it.
    let proc_file = b.join("process.json");
    let process = json!({"args": ["sh", "-c", "echo exec > /tmp/proof; exit 5"], "cwd": "/tmp", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}});
    std::fs::write(&proc_file, process.to_string()).expect("process");
    let exec_pid = b.join("exec.pid");
    oci.ok(&[
        "exec",
        "--process",
        proc_file.to_str().expect("utf8"),
        "--detach",
        "--pid-file",
        exec_pid.to_str().expect("utf8"),
        "ex",
    ]);
    let epid: i32 = std::fs::read_to_string(&exec_pid).expect("exec pid").parse().expect("pid");
    assert_eq!(reap(epid), 5, "the detached process is its caller's to reap");
    assert_eq!(std::fs::read_to_string(b.join("rootfs/tmp/proof")).expect("proof"), "exec\n");
    let pids: Vec<i32> = serde_json::from_str(&oci.ok(&["ps", "--format", "json", "ex"])).expect("ps json");
    assert_eq!(pids, vec![pid]);
    let o = oci.run(&["exec", "ex", "nosuchcommand"]);
    assert!(o.code != 0 && o.stderr.contains("executable file not found in $PATH"), "{}", o.stderr);
    oci.ok(&["kill", "ex", "KILL"]);
    assert_eq!(reap(pid), 137);
    oci.ok(&["delete", "ex"]);
    oci.finish();
}

#[test]
fn hooks_run_in_the_spec_s_order_with_the_state() {
    let oci = Oci::new();
    let log = oci.dir.path().join("hooks.log");
    let host_hook = |kind: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("s=$(cat); echo \"{kind} $s\" >> {}", log.display())]});
    let b = oci.bundle("hk", &["true"], |s| {
        s["hooks"] = json!({
            "prestart": [host_hook("prestart")],
            "createRuntime": [host_hook("createRuntime")],
            "createContainer": [host_hook("createContainer")],
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /tmp/start-state"]}],
            "poststart": [host_hook("poststart")],
            "poststop": [host_hook("poststop")],
        });
    });
    let pid = oci.create("hk", &b, &b.join("out"));
    oci.ok(&["start", "hk"]);
    assert_eq!(reap(pid), 0);
    oci.ok(&["delete", "hk"]);
    let text = std::fs::read_to_string(&log).expect("hooks log");
    let kinds: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap_or("")).collect();
    assert_eq!(kinds, ["prestart", "createRuntime", "createContainer", "poststart", "poststop"], "{text}");
    for l in text.lines() {
        let state: Value =
            serde_json::from_str(l.split_once(' ').map(|x| x.1).unwrap_or("")).expect("state on stdin");
        assert_eq!(state["id"], "hk");
        assert_eq!(state["bundle"], b.display().to_string());
    }
    let start: Value = serde_json::from_str(
        &std::fs::read_to_string(b.join("rootfs/tmp/start-state")).expect("startContainer ran inside"),
    )
    .expect("json");
    assert_eq!(start["id"], "hk");
    // A failing hook fails create, and leaves nothing.
    let b = oci.bundle("badhook", &["true"], |s| {
        s["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 2"]}]});
    });
    oci.ids.borrow_mut().push("badhook".into());
    let o = oci.run(&["create", "--bundle", b.to_str().expect("utf8"), "badhook"]);
    assert!(
        o.code != 0 && o.stderr.contains("createRuntime hook #0") && o.stderr.contains("nope"),
        "{}",
        o.stderr
    );
    oci.finish();
}

#[test]
fn preserved_fds_pass_and_others_are_closed() {
    let oci = Oci::new();
    let b = oci.bundle(
        "fds",
        &["sh", "-c", "echo passed >&3; if [ -e /proc/self/fd/4 ]; then echo leaked >&3; fi"],
        |_| {},
    );
    let (rd, wr) = pipe();
    let (_rd4, wr4) = pipe();
    let out = std::fs::File::create(b.join("out")).expect("out");
    let mut cmd = oci.cmd(&[
        "create",
        "--bundle",
        b.to_str().expect("utf8"),
        "--pid-file",
        b.join("pid").to_str().expect("utf8"),
        "--preserve-fds",
        "1",
        "fds",
    ]);
    cmd.stdout(out.try_clone().expect("clone")).stderr(out);
    let (w3, w4) = (wr.as_raw_fd(), wr4.as_raw_fd());
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            if libc::dup2(w3, 3) < 0 || libc::dup2(w4, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    oci.ids.borrow_mut().push("fds".into());
    assert!(
        cmd.status().expect("create").success(),
        "{}",
        std::fs::read_to_string(b.join("out")).unwrap_or_default()
    );
    drop((wr, wr4));
    let pid: i32 = std::fs::read_to_string(b.join("pid")).expect("pid").parse().expect("pid");
    oci.ok(&["start", "fds"]);
    assert_eq!(reap(pid), 0);
    let mut got = String::new();
    std::fs::File::from(rd).read_to_string(&mut got).expect("read");
    assert_eq!(got, "passed\n", "fd 3 passed on, fd 4 closed");
    oci.ok(&["delete", "fds"]);
    oci.finish();
}

#[test]
fn the_terminal_goes_to_the_console_socket() {
    let oci = Oci::new();
    let b = oci.bundle("tty", &["sh", "-c", "tty; echo on-the-terminal"], |s| {
        s["process"]["terminal"] = json!(true)
    });
    let sock_path = oci.dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).expect("listen");
    let mut create = oci.cmd(&[
        "create",
        "--bundle",
        b.to_str().expect("utf8"),
        "--pid-file",
        b.join("pid").to_str().expect("utf8"),
        "--console-socket",
        sock_path.to_str().expect("utf8"),
        "tty",
    ]);
    oci.ids.borrow_mut().push("tty".into());
    let mut child = create.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("create");
    let (conn, _) = listener.accept().expect("accept");
    let (name, master) = recv_fd(&conn);
    let st = child.wait().expect("create");
    assert!(st.success(), "create");
    assert!(name.starts_with("/dev/pts/"), "the pty's name: {name:?}");
    let pid: i32 = std::fs::read_to_string(b.join("pid")).expect("pid").parse().expect("pid");
    oci.ok(&["start", "tty"]);
    assert_eq!(reap(pid), 0);
    let mut text = String::new();
    let mut f = std::fs::File::from(master);
    let mut buf = [0u8; 4096];
    // The slave is gone once the init exits: read until EIO.
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(text.contains("/dev/pts/0") && text.contains("on-the-terminal"), "{text:?}");
    oci.ok(&["delete", "tty"]);
    oci.finish();
}

/// A create killed at any step leaves a record that `state` reads and
/// `delete --force` removes with everything else (the init, its cgroup).
#[test]
fn a_crash_at_any_step_of_create_is_cleaned_by_delete_force() {
    let oci = Oci::new();
    for (i, point) in ["oci-create:reserved", "oci-create:cgroup", "oci-create:cloned", "oci-create:recorded"]
        .iter()
        .enumerate()
    {
        let id = format!("crash{i}");
        let b = oci.bundle(&id, &["sleep", "100"], |_| {});
        oci.ids.borrow_mut().push(id.clone());
        let st = oci
            .cmd(&["create", "--bundle", b.to_str().expect("utf8"), &id])
            .env("MYDOCKER_CRASH_AT", point)
            .status()
            .expect("create");
        assert_eq!(st.code(), None, "{point}: killed");
        let s = oci.state(&id);
        assert!(matches!(s["status"].as_str(), Some("creating" | "created" | "stopped")), "{point}: {s}");
        let procs = format!("/sys/fs/cgroup/pids/mydocker-oci-test/{id}-{}/cgroup.procs", std::process::id());
        let pids: Vec<i32> = std::fs::read_to_string(&procs)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect();
        oci.ok(&["delete", "--force", &id]);
        for pid in pids {
            reap(pid);
        }
        assert!(oci.run(&["state", &id]).stderr.contains("does not exist"), "{point}");
    }
    oci.finish();
}

/// `runc spec`'s capabilities list ambient ones that are not inheritable: the
/// kernel refuses to raise them, and runc goes on without; so must we.
#[test]
fn runc_spec_capabilities_run() {
    let oci = Oci::new();
    let runc: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/oci/runc-spec.json"))
            .expect("runc spec"),
    )
    .expect("json");
    let b = oci.bundle("rcaps", &["sh", "-c", "grep CapEff /proc/self/status"], |s| {
        s["process"]["capabilities"] = runc["process"]["capabilities"].clone();
    });
    let out = b.join("out");
    let pid = oci.create("rcaps", &b, &out);
    oci.ok(&["start", "rcaps"]);
    assert_eq!(reap(pid), 0, "{}", std::fs::read_to_string(&out).unwrap_or_default());
    // AUDIT_WRITE, KILL, NET_BIND_SERVICE.
    assert!(std::fs::read_to_string(&out).expect("out").contains("0000000020000420"));
    oci.ok(&["delete", "rcaps"]);
    oci.finish();
}

#[test]
fn version_features_and_list() {
    let oci = Oci::new();
    let v = oci.ok(&["--version"]);
    let lines: Vec<&str> = v.lines().collect();
    assert_eq!(lines.len(), 3, "{v}");
    assert!(
        lines[0].starts_with("mydocker-runc version ")
            && lines[1].starts_with("commit: ")
            && lines[2].starts_with("spec: 1.")
    );
    let f: Value = serde_json::from_str(&oci.ok(&["features"])).expect("features json");
    assert!(f["hooks"].as_array().is_some_and(|h| h.len() == 6));
    assert!(f["linux"]["namespaces"].as_array().is_some_and(|n| n.contains(&json!("pid"))));
    let b = oci.bundle("ls", &["sleep", "100"], |_| {});
    let pid = oci.create("ls", &b, &b.join("out"));
    let all: Vec<Value> = serde_json::from_str(&oci.ok(&["list", "--format", "json"])).expect("list json");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["id"], "ls");
    assert_eq!(all[0]["status"], "created");
    assert!(oci.ok(&["list"]).contains("created"));
    // delete of a created container kills its waiting init.
    oci.ok(&["delete", "ls"]);
    assert_eq!(reap(pid), 137);
    assert!(wait_dead(pid, Duration::from_secs(1)));
    oci.finish();
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// One message with exactly one fd, as the console socket protocol has it.
fn recv_fd(conn: &std::os::unix::net::UnixStream) -> (String, OwnedFd) {
    let mut buf = [0u8; 4096];
    let mut cmsg = [0u8; 64];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    msg.msg_controllen = cmsg.len();
    let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut msg, 0) };
    assert!(n > 0, "recvmsg");
    let c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    assert!(!c.is_null(), "a control message");
    let (level, kind, len) = unsafe { ((*c).cmsg_level, (*c).cmsg_type, (*c).cmsg_len) };
    assert_eq!((level, kind), (libc::SOL_SOCKET, libc::SCM_RIGHTS));
    assert_eq!(len, unsafe { libc::CMSG_LEN(4) } as usize, "exactly one fd");
    let fd = unsafe { *(libc::CMSG_DATA(c) as *const i32) };
    (String::from_utf8_lossy(&buf[..n as usize]).into_owned(), unsafe { OwnedFd::from_raw_fd(fd) })
}
