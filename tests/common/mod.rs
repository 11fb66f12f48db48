//! Test harness: each `Env` is a private mydocker installation (its own state
//! root and data root in temp dirs) driving the real binary as root. `finish`
//! removes every container and asserts nothing is left behind: no state dir,
//! no mount, no cgroup, no process.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_mydocker");

pub struct Env {
    pub root: tempfile::TempDir,
    pub data: tempfile::TempDir,
    /// Every (id, pids) this env has seen, to check they are gone at the end.
    seen: std::cell::RefCell<Vec<(String, Vec<i32>)>>,
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Out {
    fn from(o: Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Env {
    pub fn new() -> Env {
        Env {
            root: tempfile::Builder::new().prefix("mdroot").tempdir().expect("temp root"),
            data: tempfile::Builder::new().prefix("mddata").tempdir().expect("temp data"),
            seen: Default::default(),
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--root").arg(self.root.path()).arg("--data-root").arg(self.data.path()).args(args);
        c.env_remove("MYDOCKER_LOG").env_remove("MYDOCKER_SCRIPTS");
        // Registries: short names go where nothing listens (no test reaches
        // the internet), and no credentials of the host's are read.
        c.env(
            "CONTAINERS_REGISTRIES_CONF",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/registries-offline.conf"),
        );
        c.env("DOCKER_CONFIG", self.data.path().join(".docker-config"));
        c.env_remove("REGISTRY_AUTH_FILE").env_remove("XDG_RUNTIME_DIR");
        // Never the host's network: tests/network.rs runs bridges in namespaces of its own.
        c.env("MYDOCKER_NETWORK", "none");
        c.stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        let out: Out = self.command(args).output().expect("spawn mydocker").into();
        self.remember();
        out
    }

    /// Run and require exit 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.code, 0, "mydocker {args:?} failed\nstdout: {}\nstderr: {}", o.stdout, o.stderr);
        o.stdout
    }

    /// Run and require failure; returns the output.
    pub fn fails(&self, args: &[&str]) -> Out {
        let o = self.run(args);
        assert_ne!(o.code, 0, "mydocker {args:?} should have failed\nstdout: {}", o.stdout);
        o
    }

    /// `ps --format records` (the full records) as parsed JSON.
    /// The top layer dir of image `name` in the store: a one-layer image's
    /// root (the default busybox, an imported rootfs).
    pub fn image_root(&self, name: &str) -> PathBuf {
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(&["image", "inspect", name])).expect("image inspect json");
        let top = v[0]["layers"].as_array().and_then(|l| l.last()).and_then(|d| d.as_str()).expect("a layer");
        self.data.path().join("layers").join(top.trim_start_matches("sha256:")).join("diff")
    }

    pub fn ps_json(&self) -> Vec<serde_json::Value> {
        let text = self.ok(&["ps", "--format", "records"]);
        match serde_json::from_str(&text) {
            Ok(serde_json::Value::Array(a)) => a,
            other => panic!("ps --format json: {other:?}\n{text}"),
        }
    }

    pub fn record(&self, name: &str) -> serde_json::Value {
        let text =
            std::fs::read_to_string(self.root.path().join(name).join("config.json")).expect("config.json");
        serde_json::from_str(&text).expect("config.json is JSON")
    }

    /// The ps row (as words) for a container name.
    pub fn ps_row(&self, name: &str) -> Option<String> {
        self.ok(&["ps"]).lines().find(|l| l.split_whitespace().nth(1) == Some(name)).map(String::from)
    }

    /// Note the ids and pids of current containers so `finish` can check they are gone.
    fn remember(&self) {
        let Ok(entries) = std::fs::read_dir(self.root.path()) else { return };
        let mut seen = self.seen.borrow_mut();
        for e in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(e.path().join("config.json")) else { continue };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
            let id = v["id"].as_str().unwrap_or("").to_string();
            let pids: Vec<i32> = ["pid", "monitor_pid"]
                .iter()
                .filter_map(|k| v[k].as_i64())
                .filter(|p| *p > 0)
                .map(|p| p as i32)
                .collect();
            match seen.iter_mut().find(|(i, _)| *i == id) {
                Some((_, ps)) => ps.extend(pids),
                None => seen.push((id, pids)),
            }
        }
    }

    /// Remove every container, then assert that nothing is left behind.
    pub fn finish(self) {
        self.remember();
        let names = self.container_dirs();
        if !names.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(names.iter().map(String::as_str));
            let o = self.run(&args);
            assert_eq!(o.code, 0, "rm -f {names:?}: {}", o.stderr);
        }
        self.assert_clean();
    }

    /// The entries of the state root but the events journal (`.events.log`
    /// and its rotated `.1`), which outlives the containers it tells of.
    pub fn container_dirs(&self) -> Vec<String> {
        std::fs::read_dir(self.root.path())
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with(".events.log"))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn assert_clean(&self) {
        let left = self.container_dirs();
        assert!(left.is_empty(), "state dirs left: {left:?}");
        let data = self.data.path().to_string_lossy().into_owned();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let leaked: Vec<&str> = mounts.lines().filter(|l| l.contains(&data)).collect();
        assert!(leaked.is_empty(), "mounts left: {leaked:?}");
        let layers = self.data.path().join("containers");
        let left: Vec<_> = std::fs::read_dir(&layers).map(|d| d.flatten().collect()).unwrap_or_default();
        assert!(left.is_empty(), "layers left in {}", layers.display());
        for (id, pids) in self.seen.borrow().iter() {
            if id.is_empty() {
                continue;
            }
            let cgs = cgroup_dirs(id);
            assert!(cgs.is_empty(), "cgroups left: {cgs:?}");
            for pid in pids {
                assert!(
                    wait_dead(*pid, Duration::from_secs(5)),
                    "process {pid} of container {id} still running"
                );
            }
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Best effort when a test failed before `finish`: never leave containers running.
        if std::thread::panicking() {
            let names = self.container_dirs();
            if !names.is_empty() {
                let _ = self.command(&["rm", "-f"]).args(&names).output();
            }
        }
    }
}

/// The cgroup directories named after container `id`, in any hierarchy.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(hs) = std::fs::read_dir("/sys/fs/cgroup") {
        for h in hs.flatten() {
            let p = h.path().join("mydocker").join(id);
            if p.exists() {
                out.push(p);
            }
        }
    }
    out
}

/// `tar -cf TARBALL -C DIR .`: a rootfs tarball for `image import`.
pub fn tar_dir(dir: &Path, tarball: &Path) {
    let st = Command::new("tar").arg("-cf").arg(tarball).arg("-C").arg(dir).arg(".").status();
    assert!(st.is_ok_and(|s| s.success()), "tar -cf {} -C {} .", tarball.display(), dir.display());
}

/// Is `pid` a live (non-zombie) process?
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s.rsplit(')').next().and_then(|r| r.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}

pub fn wait_dead(pid: i32, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !alive(pid)
}

/// Poll `f` until it is true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    f()
}

/// The value of `field` in a /proc/PID/status text, e.g. "CapEff" or "VmRSS".
pub fn status_field(status: &str, field: &str) -> String {
    status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("")
        .to_string()
}

pub fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " ").trim().to_string())
        .unwrap_or_default()
}

/// Drive `cmd` through a pseudo-terminal: send `input` (after a short pause per
/// line), return everything it printed and its exit code.
pub fn through_pty(mut cmd: Command, input: &[&str], timeout: Duration) -> (String, i32) {
    use std::io::{Read, Write};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave_fd = pty.slave.as_raw_fd();
    let dup = |fd: i32| unsafe { Stdio::from(OwnedFd::from_raw_fd(libc::dup(fd))) };
    cmd.stdin(dup(slave_fd)).stdout(dup(slave_fd)).stderr(dup(slave_fd));
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn through pty");
    // Only the child may hold the slave, or the master never sees EOF.
    drop(cmd);
    drop(pty.slave);
    let master: std::fs::File = pty.master.into();
    let mut reader = master.try_clone().expect("clone master");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut all = Vec::new();
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
        let _ = tx.send(all);
    });
    let mut writer = master;
    for line in input {
        std::thread::sleep(Duration::from_millis(400));
        // "@wait" is a pause, not input: e.g. to let a statement start running.
        if *line == "@wait" {
            std::thread::sleep(Duration::from_millis(1000));
            continue;
        }
        let _ = writer.write_all(line.as_bytes());
    }
    let end = Instant::now() + timeout;
    let code = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status.code().unwrap_or(-1);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("command through pty did not finish in {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(writer);
    let out = rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
    (String::from_utf8_lossy(&out).into_owned(), code)
}
