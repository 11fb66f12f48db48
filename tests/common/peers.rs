//! Podman and containerd driving an OCI runtime: mydocker itself, installed as
//! `mydocker-runc` (a symlink to the built binary, which picks its face by
//! argv[0]), or the runtime named by MYDOCKER_TEST_OCI_RUNTIME (e.g.
//! /usr/bin/runc, which checks the harness itself). Each `Podman` and
//! `Containerd` is a private installation in a temp dir; `finish` removes what
//! it made and asserts nothing is left: no container known to the runtime, no
//! mount, no process, no cgroup.
#![allow(dead_code)]

use crate::common::{Out, alive, eventually, tar_dir, wait_dead};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Where the runtime under test lives: MYDOCKER_TEST_OCI_RUNTIME, else the built mydocker.
pub fn runtime_target() -> PathBuf {
    match std::env::var_os("MYDOCKER_TEST_OCI_RUNTIME") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_mydocker")),
    }
}

/// Is `cmd` an executable in PATH?
pub fn have(cmd: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else { return false };
    std::env::split_paths(&path).any(|d| {
        let p = d.join(cmd);
        std::fs::metadata(&p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// The tools a peer needs, or why the test is skipped (printed, so a skip is visible).
fn missing(tools: &[&str], what: &str) -> bool {
    let absent: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    if absent.is_empty() {
        return false;
    }
    eprintln!("SKIP {what}: not installed: {}", absent.join(", "));
    true
}

/// A name no other test (or test binary) uses at the same time: cgroup parents
/// and containerd namespaces are host-wide.
pub fn unique(prefix: &str) -> String {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

/// `dir/bin/mydocker-runc` → the runtime under test: the name Podman looks up in
/// `runtime_supports_json` and the one mydocker's argv[0] dispatch expects.
fn link_runtime(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let link = bin.join("mydocker-runc");
    symlink(runtime_target(), &link).expect("symlink mydocker-runc");
    link
}

/// A busybox rootfs from the host's static /bin/busybox: the binary, its applet
/// links, root in /etc/passwd. The peers get it as an image named localhost/busybox.
fn busybox_rootfs(dir: &Path) {
    let bin = dir.join("bin");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
        std::fs::create_dir_all(dir.join(d)).expect("rootfs dir");
    }
    std::fs::copy("/bin/busybox", bin.join("busybox")).expect("copy /bin/busybox (busybox-static)");
    let list = Command::new("/bin/busybox").arg("--list").output().expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        if applet != "busybox" {
            symlink("busybox", bin.join(applet)).expect("applet link");
        }
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    std::fs::write(dir.join("etc/group"), "root:x:0:\n").expect("group");
}

fn output(mut cmd: Command) -> Out {
    cmd.output().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")).into()
}

/// Mount points under `dir` (deepest first, so they can be unmounted in order).
fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<String> = info
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(|p| p.replace("\\040", " "))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.len()));
    out
}

/// Live processes whose command line mentions `needle` (conmon, shims, podman cleanup).
fn processes_naming(needle: &str) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else { return out };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if pid == me || !alive(pid) {
            continue;
        }
        let cmd = crate::common::cmdline(pid);
        if cmd.contains(needle) {
            out.push((pid, cmd));
        }
    }
    out
}

/// The cgroup directory `rel` (e.g. "/mdt-1-2") in every mounted hierarchy where it exists.
fn cgroup_dirs_named(rel: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(hs) = std::fs::read_dir("/sys/fs/cgroup") {
        for h in hs.flatten() {
            let p = h.path().join(rel.trim_start_matches('/'));
            if p.is_dir() {
                out.push(p);
            }
        }
    }
    out
}

/// Remove the cgroup tree `rel` in every hierarchy, deepest first; returns what
/// could not be removed (still has processes). Retries: a process that just
/// exited may still be counted for a moment.
fn remove_cgroup_tree(rel: &str) -> Vec<String> {
    let mut left = Vec::new();
    for top in cgroup_dirs_named(rel) {
        let mut dirs = vec![top.clone()];
        let mut i = 0;
        while i < dirs.len() {
            if let Ok(sub) = std::fs::read_dir(&dirs[i]) {
                dirs.extend(sub.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
            }
            i += 1;
        }
        for d in dirs.iter().rev() {
            let gone = eventually(Duration::from_secs(3), || match std::fs::remove_dir(d) {
                Ok(()) => true,
                Err(e) => e.kind() == std::io::ErrorKind::NotFound,
            });
            if !gone {
                let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
                left.push(format!(
                    "{} (procs: {})",
                    d.display(),
                    procs.split_whitespace().collect::<Vec<_>>().join(" ")
                ));
            }
        }
    }
    left
}

/// Child cgroups of `rel` in any hierarchy, except those named in `allowed`.
fn child_cgroups(rel: &str, allowed: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for top in cgroup_dirs_named(rel) {
        if let Ok(sub) = std::fs::read_dir(&top) {
            for e in sub.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if e.path().is_dir() && !allowed.contains(&name.as_str()) {
                    out.push(e.path());
                }
            }
        }
    }
    out
}

fn kill_pid(pid: i32) {
    // Only processes this harness started (found by our private paths).
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

// ---------------------------------------------------------------------------
// Podman

/// A private Podman: its own root, runroot, tmpdir, network config and
/// containers.conf in a temp dir; `--runtime` the runtime under test; every
/// container under a cgroup parent of its own; the image `localhost/busybox`.
pub struct Podman {
    pub dir: tempfile::TempDir,
    pub runtime: PathBuf,
    pub cgroup_parent: String,
    done: bool,
}

impl Podman {
    /// None (after saying why) when Podman is not installed.
    pub fn new(test: &str) -> Option<Podman> {
        if missing(&["podman", "conmon"], test) {
            return None;
        }
        // Short: Podman refuses a runroot path near 50 characters.
        let dir = tempfile::Builder::new().prefix("pd").tempdir_in("/tmp").expect("temp dir");
        let runtime = link_runtime(dir.path());
        // runtime_supports_json: Podman passes `--log-format=json --log FILE` only
        // to runtimes named there; the README tells users to add mydocker-runc.
        // TMPDIR for conmon: its console sockets (conmon-term.*) stay behind
        // when a runtime never connects; keep them in our dir.
        let conmon_tmp = dir.path().join("conmon-tmp");
        std::fs::create_dir_all(&conmon_tmp).expect("conmon tmp dir");
        let conf = format!(
            "[engine]\nruntime_supports_json = [\"crun\", \"runc\", \"kata\", \"mydocker-runc\"]\n\
             conmon_env_vars = [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", \"TMPDIR={}\"]\n",
            conmon_tmp.display()
        );
        std::fs::write(dir.path().join("containers.conf"), conf).expect("containers.conf");
        let p = Podman { dir, runtime, cgroup_parent: format!("/{}", unique("mdtp")), done: false };
        let rootfs = p.dir.path().join("rootfs");
        busybox_rootfs(&rootfs);
        let tarball = p.dir.path().join("busybox.tar");
        tar_dir(&rootfs, &tarball);
        p.ok(&["import", &tarball.to_string_lossy(), "localhost/busybox"]);
        Some(p)
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// `podman` with this installation's global flags, then `args`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        c.args(["--root", &self.path("root"), "--runroot", &self.path("run"), "--tmpdir", &self.path("tmp")])
            .args(["--network-config-dir", &self.path("net"), "--storage-driver", "overlay"])
            .arg("--runtime")
            .arg(&self.runtime)
            // This host: no systemd, no journald.
            .args(["--cgroup-manager=cgroupfs", "--events-backend=file"])
            .args(args)
            .env("CONTAINERS_CONF", self.path("containers.conf"))
            .stdin(Stdio::null());
        c
    }

    /// `podman run` with the flags every container here needs, then `args`
    /// (options, image, command). `--network none`: the default network works but
    /// leaves netavark's firewall chains on the host; the ulimits: Podman's
    /// default nofile hard limit is above this host's, and raising it fails.
    pub fn run_args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec![
            "run",
            "--network",
            "none",
            "--ulimit",
            "nofile=20000:20000",
            "--ulimit",
            "nproc=32768:32768",
            "--cgroup-parent",
            &self.cgroup_parent,
            "--pull",
            "never",
        ];
        v.extend_from_slice(args);
        v
    }

    pub fn run(&self, args: &[&str]) -> Out {
        output(self.command(args))
    }

    /// Run and require exit 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.code, 0, "podman {args:?} failed\nstdout: {}\nstderr: {}", o.stdout, o.stderr);
        o.stdout
    }

    /// `podman inspect -f FORMAT name`, trimmed.
    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "-f", format, name]).trim().to_string()
    }

    /// Containers the runtime under test still knows whose bundle is ours.
    /// Podman gives the runtime no --root: it is the runtime's default.
    fn runtime_leftovers(&self) -> Result<Vec<String>, String> {
        runtime_containers(&self.runtime, None, self.dir.path())
    }

    /// Remove every container and check that nothing is left behind.
    pub fn finish(mut self) {
        let problems = self.cleanup();
        self.done = true;
        assert!(problems.is_empty(), "podman left things behind:\n  {}", problems.join("\n  "));
    }

    fn cleanup(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        let o = self.run(&["rm", "--all", "--force", "--time", "0"]);
        if o.code != 0 {
            problems.push(format!("podman rm -af: {}", o.stderr.trim()));
        }
        // conmon and its exit command (`podman container cleanup`) outlive `rm`
        // for a moment; anything still there after that is a leak.
        let marker = self.dir.path().to_string_lossy().into_owned();
        if !eventually(Duration::from_secs(10), || processes_naming(&marker).is_empty()) {
            for (pid, cmd) in processes_naming(&marker) {
                problems.push(format!("process {pid} still running: {cmd}"));
                kill_pid(pid);
            }
        }
        // Podman's exit command deletes the container a moment after `rm` returns.
        let mut left = self.runtime_leftovers();
        if left.as_ref().is_ok_and(|ids| !ids.is_empty()) {
            let _ = eventually(Duration::from_secs(5), || {
                left = self.runtime_leftovers();
                left.as_ref().is_ok_and(|ids| ids.is_empty())
            });
        }
        match left {
            Ok(ids) => {
                for id in ids {
                    problems.push(format!("the runtime still has container {id}"));
                    let _ = Command::new(&self.runtime).args(["delete", "--force", &id]).output();
                }
            }
            Err(e) => problems.push(e),
        }
        // Podman leaves <parent>/conmon (conmon's own cgroup); a container's is a leak.
        for d in child_cgroups(&self.cgroup_parent, &["conmon"]) {
            problems.push(format!("cgroup left: {}", d.display()));
        }
        problems
            .extend(remove_cgroup_tree(&self.cgroup_parent).into_iter().map(|d| format!("cgroup busy: {d}")));
        for m in mounts_under(self.dir.path()) {
            // containers/storage's overlay driver keeps its home bound privately
            // (`<root>/overlay`) and may not have let go of it yet: ours to undo, not a leak.
            if !m.ends_with("/root/overlay") {
                problems.push(format!("mount left: {m}"));
            }
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        problems
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // A test that failed before `finish`: still leave nothing running.
        if !self.done {
            let _ = self.cleanup();
        }
    }
}

/// `RUNTIME [--root ROOT] list --format json` → ids whose bundle is under `ours`.
fn runtime_containers(runtime: &Path, root: Option<&Path>, ours: &Path) -> Result<Vec<String>, String> {
    let mut c = Command::new(runtime);
    if let Some(r) = root {
        c.arg("--root").arg(r);
    }
    c.args(["list", "--format", "json"]).stdin(Stdio::null());
    let o = output(c);
    if o.code != 0 {
        return Err(format!(
            "{} list --format json: exit {}: {}",
            runtime.display(),
            o.code,
            o.stderr.trim()
        ));
    }
    // runc prints `null` when it has no container.
    let list: Vec<serde_json::Value> =
        match serde_json::from_str::<Option<Vec<serde_json::Value>>>(o.stdout.trim()) {
            Ok(l) => l.unwrap_or_default(),
            Err(e) => return Err(format!("list --format json is not a JSON array ({e}): {}", o.stdout)),
        };
    let ours = ours.to_string_lossy().into_owned();
    Ok(list
        .iter()
        .filter(|c| c["bundle"].as_str().is_some_and(|b| b.starts_with(&ours)))
        .filter_map(|c| c["id"].as_str().map(String::from))
        .collect())
}

// ---------------------------------------------------------------------------
// containerd

/// A private containerd daemon (own config, root, state, sockets; CRI and the
/// snapshotters we don't use disabled), a namespace of its own, and the image
/// `localhost/busybox:latest` imported from `podman save`. Containers are made
/// with `ctr run --runc-binary <runtime under test> --runc-root <ours>`: for
/// ctr these options come from the client (for CRI they are the daemon
/// config's `BinaryName` and `Root`).
pub struct Containerd {
    pub dir: tempfile::TempDir,
    pub runtime: PathBuf,
    pub ns: String,
    daemon: Option<Child>,
    done: bool,
}

pub const IMAGE: &str = "localhost/busybox:latest";

impl Containerd {
    /// None (after saying why) when containerd, ctr, the runc shim or Podman
    /// (which makes the image) are not installed.
    pub fn new(test: &str) -> Option<Containerd> {
        if missing(&["containerd", "ctr", "containerd-shim-runc-v2", "podman", "conmon"], test) {
            return None;
        }
        let dir = tempfile::Builder::new().prefix("cd").tempdir_in("/tmp").expect("temp dir");
        let runtime = link_runtime(dir.path());
        let d = dir.path().display();
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{d}/c.sock"
[ttrpc]
  address = "{d}/c.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#
        );
        std::fs::write(dir.path().join("config.toml"), config).expect("config.toml");
        std::fs::create_dir_all(dir.path().join("runc-root")).expect("runc root");
        let log = std::fs::File::create(dir.path().join("containerd.log")).expect("containerd.log");
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let c = Containerd { dir, runtime, ns: unique("mdtc"), daemon: Some(daemon), done: false };
        let up = eventually(Duration::from_secs(10), || {
            c.dir.path().join("c.sock").exists()
                && c.ctr(&["version"]).output().is_ok_and(|o| o.status.success())
        });
        assert!(up, "containerd did not start: {}", c.daemon_log());
        // The image: Podman's busybox, saved as a docker archive.
        let archive = c.dir.path().join("busybox-image.tar");
        let mut podman = Podman::new(test).expect("podman checked above");
        podman.ok(&[
            "save",
            "--format",
            "docker-archive",
            "-o",
            &archive.to_string_lossy(),
            "localhost/busybox",
        ]);
        // It ran no container: its temp dir is all there is to remove.
        podman.done = true;
        drop(podman);
        c.ok(&["image", "import", &archive.to_string_lossy()]);
        Some(c)
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// `ctr -a SOCKET -n NAMESPACE args`.
    pub fn ctr(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.arg("-a")
            .arg(self.dir.path().join("c.sock"))
            .args(["-n", &self.ns])
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// `ctr run --runc-binary RUNTIME --runc-root OURS <options> IMAGE ID CMD...`.
    pub fn run_command(&self, options: &[&str], id: &str, cmd: &[&str]) -> Command {
        let mut c = self.ctr(&["run", "--runc-binary"]);
        c.arg(&self.runtime).arg("--runc-root").arg(self.dir.path().join("runc-root")).args(options);
        c.arg(IMAGE).arg(id).args(cmd);
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        output(self.ctr(args))
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.code, 0, "ctr {args:?} failed\nstdout: {}\nstderr: {}", o.stdout, o.stderr);
        o.stdout
    }

    /// The task's STATUS in `ctr task ls` (RUNNING, PAUSED, STOPPED), if listed.
    pub fn task_status(&self, id: &str) -> Option<String> {
        let ls = self.ok(&["task", "ls"]);
        ls.lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|w| w.first() == Some(&id))
            .and_then(|w| w.get(2).map(|s| s.to_string()))
    }

    pub fn finish(mut self) {
        let problems = self.cleanup();
        self.done = true;
        assert!(problems.is_empty(), "containerd left things behind:\n  {}", problems.join("\n  "));
    }

    fn cleanup(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.daemon.is_some() {
            let ids = self.run(&["container", "ls", "-q"]).stdout;
            for id in ids.split_whitespace() {
                if self.task_status(id).is_some_and(|s| s != "STOPPED") {
                    let _ = self.run(&["task", "kill", "-s", "SIGKILL", id]);
                    eventually(Duration::from_secs(5), || {
                        self.task_status(id).is_none_or(|s| s == "STOPPED")
                    });
                }
                if self.task_status(id).is_some() {
                    let o = self.run(&["task", "delete", "--force", id]);
                    if o.code != 0 {
                        problems.push(format!("ctr task delete {id}: {}", o.stderr.trim()));
                    }
                }
                let o = self.run(&["container", "rm", id]);
                if o.code != 0 {
                    problems.push(format!("ctr container rm {id}: {}", o.stderr.trim()));
                }
            }
        }
        if let Some(mut daemon) = self.daemon.take() {
            unsafe {
                libc::kill(daemon.id() as i32, libc::SIGTERM);
            }
            if !wait_dead(daemon.id() as i32, Duration::from_secs(10)) {
                problems.push("containerd did not stop on SIGTERM".into());
                let _ = daemon.kill();
            }
            let _ = daemon.wait();
        }
        // Shims name our socket in their arguments; they exit with their last task.
        let marker = self.dir.path().to_string_lossy().into_owned();
        if !eventually(Duration::from_secs(5), || processes_naming(&marker).is_empty()) {
            for (pid, cmd) in processes_naming(&marker) {
                problems.push(format!("process {pid} still running: {cmd}"));
                kill_pid(pid);
            }
        }
        let state = self.dir.path().join("runc-root").join(&self.ns);
        let left: Vec<_> = std::fs::read_dir(&state)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        if !left.is_empty() {
            problems.push(format!("runtime state left in {}: {left:?}", state.display()));
        }
        // cgroupsPath is /<namespace>/<id>: the runtime removes <id>, nobody removes <namespace>.
        for d in child_cgroups(&self.ns, &[]) {
            problems.push(format!("cgroup left: {}", d.display()));
        }
        problems.extend(remove_cgroup_tree(&self.ns).into_iter().map(|d| format!("cgroup busy: {d}")));
        for m in mounts_under(self.dir.path()) {
            // containers/storage's overlay driver keeps its home bound privately
            // (`<root>/overlay`) and may not have let go of it yet: ours to undo, not a leak.
            if !m.ends_with("/root/overlay") {
                problems.push(format!("mount left: {m}"));
            }
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        problems
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.cleanup();
        }
    }
}
