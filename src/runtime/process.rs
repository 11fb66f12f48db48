//! The container's init process, from clone to exec, and the host-side view of
//! processes (liveness by start time, signals, waiting).
//!
//! Lifecycle, as in OCI: `create` clones the init into new pid, mount, uts, ipc
//! and net namespaces, where it blocks on a SOCK_SEQPACKET socketpair; the
//! caller then puts it in its cgroups and calls `start`, which releases it to
//! set up its root and exec the command. The socket is close-on-exec in the
//! child, so a successful exec reads as EOF and a failure arrives as a message
//! naming the cause. No re-exec and no threads: the child is a clone of this
//! process continuing on a copy of its stack.
//!
//! Detached containers get a monitor: a process in its own session that is the
//! init's parent, writes its output to the log (from a pipe, so it can rotate
//! it), waits for it and records its exit in the state store. The
//! monitor re-execs this binary (`__monitor`) right after cloning the init, so
//! it keeps none of the CLI's memory.

use super::error::{Context, Error, Kind, Result};
use super::rootfs::ContainerRoot;
use super::state::Store;
use super::tty;
use super::{caps, exec_helper, seccomp};
use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use serde::Deserialize;
use std::ffi::CString;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The process to run and its stdio; shared by a container's init and `exec`.
#[derive(Debug, Clone, Deserialize)]
pub struct Proc {
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default = "default_cwd")]
    pub cwd: String,
    /// Keep the caller's stdin (`-i`); otherwise stdin is /dev/null.
    #[serde(default)]
    pub stdin: bool,
    /// Give the process a pseudo-terminal (`-t`); the caller relays it in `wait`.
    #[serde(default)]
    pub tty: bool,
    /// Send stdout and stderr to this file (detached containers: through a
    /// pipe to the monitor, which writes the file).
    #[serde(default)]
    pub log: Option<PathBuf>,
    /// Capabilities to keep (numbers); `None` keeps what we have.
    #[serde(default)]
    pub caps: Option<Vec<u32>>,
    /// The seccomp filter: `true` Docker's default profile, `false` none, or a
    /// profile's text in Docker's JSON format.
    #[serde(default)]
    pub seccomp: Seccomp,
    /// Set no_new_privs: no execve can gain privileges (setuid, file caps).
    #[serde(default)]
    pub no_new_privileges: bool,
    /// `UID[:GID]` or `NAME[:GROUP]`, resolved in the container's /etc/passwd and /etc/group.
    #[serde(default)]
    pub user: Option<String>,
    /// The cgroup (e.g. `mydocker/ID`, already created) the process is born into.
    #[serde(default)]
    pub cgroup: Option<String>,
}

/// `Proc::seccomp`: on, off, or a profile of one's own.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Seccomp {
    /// `true`: Docker's default profile (embedded); `false`: no filter.
    Enabled(bool),
    /// A profile's text in Docker's JSON format.
    Profile(String),
}

impl Default for Seccomp {
    fn default() -> Seccomp {
        Seccomp::Enabled(false)
    }
}

/// A new container: its init process, root and hostname; built by the script.
#[derive(Debug, Clone, Deserialize)]
pub struct Spec {
    #[serde(flatten)]
    pub process: Proc,
    /// The mounted root filesystem (the overlay's merged dir).
    pub rootfs: PathBuf,
    #[serde(default)]
    pub hostname: String,
    /// Mount the root filesystem read-only.
    #[serde(default)]
    pub readonly_rootfs: bool,
    /// Paths hidden from the container (a file gets /dev/null, a dir an empty read-only tmpfs).
    #[serde(default)]
    pub masked_paths: Vec<String>,
    /// Paths made read-only inside the container.
    #[serde(default)]
    pub readonly_paths: Vec<String>,
    /// Detach: a monitor process becomes the init's parent and records its exit.
    #[serde(default)]
    pub monitor: Option<MonitorSpec>,
    /// Files from the container's state bound into it (/etc/hosts, /etc/hostname, /etc/resolv.conf).
    #[serde(default)]
    pub etc_files: Vec<super::etc_files::FileMount>,
}

/// A process to run inside a running container (`exec`).
#[derive(Debug, Clone, Deserialize)]
pub struct ExecSpec {
    #[serde(flatten)]
    pub process: Proc,
    /// The container's init, identified by pid and start time.
    pub pid: i32,
    pub start_time: u64,
}

fn default_cwd() -> String {
    "/".into()
}

#[derive(Debug, Clone, Deserialize)]
pub struct MonitorSpec {
    pub state_root: PathBuf,
    pub data_root: PathBuf,
    pub name: String,
    /// `--rm`: when the container ends, the monitor runs `mydocker rm -f NAME`.
    #[serde(default)]
    pub auto_remove: bool,
    /// Rotate the log (`Proc::log`) before it passes this many bytes (none: no cap).
    #[serde(default)]
    pub log_max_size: Option<u64>,
    /// How many log files rotation keeps, the current one included (default 1).
    #[serde(default)]
    pub log_max_file: Option<u64>,
}

/// A created, not yet started, container init.
#[derive(Debug)]
pub struct Created {
    pub pid: i32,
    pub monitor_pid: i32,
    sock: Option<OwnedFd>,
    pty_master: Option<OwnedFd>,
    /// Signals we blocked for the foreground wait loop, restored when done.
    blocked: Option<SigSet>,
}

/// Signals the foreground `wait` forwards to the container (plus SIGCHLD and SIGWINCH it handles).
fn forwarded_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGCHLD,
        Signal::SIGWINCH,
    ] {
        set.add(s);
    }
    set
}

/// The fds a new process needs from its creator: the sync socket pair and a log file.
struct Channels {
    parent_sock: OwnedFd,
    child_sock: OwnedFd,
    log: Option<fs::File>,
    cgroup: CgroupJoin,
    helper: Option<OwnedFd>,
}

/// The cgroup a new process joins, prepared before clone (see `Cgroups::join_plan`).
#[derive(Default)]
struct CgroupJoin {
    /// v1 `tasks` files the child writes "0" to.
    v1_tasks: Vec<CString>,
    /// The v2 cgroup directory, for clone3's CLONE_INTO_CGROUP.
    v2_dir: Option<OwnedFd>,
    /// The v2 directory's path, for the fallback when clone3 cannot place us.
    v2_procs: Option<PathBuf>,
    /// Other v2 hierarchies' `cgroup.procs`, written by the parent.
    other_procs: Vec<PathBuf>,
}

impl CgroupJoin {
    fn prepare(name: Option<&str>) -> Result<CgroupJoin> {
        let Some(name) = name else { return Ok(CgroupJoin::default()) };
        let plan = super::cgroups::Cgroups::host()?.join_plan(name)?;
        let mut join = CgroupJoin { other_procs: plan.other_procs, ..Default::default() };
        for p in plan.v1_tasks {
            join.v1_tasks.push(
                CString::new(p.as_os_str().as_encoded_bytes())
                    .map_err(|_| Error::invalid(format!("bad cgroup path {}", p.display())))?,
            );
        }
        if let Some(dir) = plan.v2_dir {
            let f = fs::File::open(&dir).ctx(|| format!("open cgroup {}", dir.display()))?;
            join.v2_dir = Some(f.into());
            join.v2_procs = Some(dir.join("cgroup.procs"));
        }
        Ok(join)
    }

    /// After clone, in the parent: the hierarchies the child could not join itself.
    fn finish_in_parent(&self, pid: i32, cloned_into_v2: bool) -> Result<()> {
        let extra = if cloned_into_v2 { None } else { self.v2_procs.as_ref() };
        for procs in extra.into_iter().chain(self.other_procs.iter()) {
            fs::write(procs, pid.to_string()).ctx(|| format!("write {pid} to {}", procs.display()))?;
        }
        Ok(())
    }
}

impl Channels {
    fn open(p: &Proc) -> Result<Channels> {
        if p.args.is_empty() || p.args[0].is_empty() {
            return Err(Error::invalid("no command given"));
        }
        let (parent_sock, child_sock) =
            socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
                .ctx(|| "socketpair")?;
        let log = match &p.log {
            Some(path) => Some(
                fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(path)
                    .ctx(|| format!("open log {}", path.display()))?,
            ),
            None => None,
        };
        let cgroup = CgroupJoin::prepare(p.cgroup.as_deref())?;
        let helper = match exec_helper::load() {
            Ok(fd) => Some(fd),
            Err(e) => {
                // Only where memfds cannot be made or sealed (vm.memfd_noexec=2, a
                // host seccomp policy): say so, the container could then reach us.
                log::warn!("exec trampoline unavailable ({e}): the command is exec'd directly");
                None
            }
        };
        Ok(Channels { parent_sock, child_sock, log, cgroup, helper })
    }

    fn child_setup<'a>(
        &mut self,
        process: &'a Proc,
        enter: Enter<'a>,
        filter: Option<&'a [libc::sock_filter]>,
    ) -> ChildSetup<'a> {
        ChildSetup {
            process,
            enter,
            filter,
            die_with_parent: false,
            sock: self.child_sock.as_raw_fd(),
            parent_sock: self.parent_sock.as_raw_fd(),
            log: self.log.as_ref().map(|f| f.as_raw_fd()),
            cgroup: std::mem::take(&mut self.cgroup),
            helper: self.helper.as_ref().map(|f| f.as_raw_fd()),
        }
    }
}

/// The seccomp program for `p`, compiled before clone so the child only installs it.
fn seccomp_program(p: &Proc) -> Result<Option<Vec<libc::sock_filter>>> {
    let profile = match &p.seccomp {
        Seccomp::Enabled(false) => return Ok(None),
        Seccomp::Enabled(true) => None,
        Seccomp::Profile(json) => Some(json.as_str()),
    };
    let all: Vec<u32> = (0..=caps::LAST).collect();
    let prog = seccomp::program(profile, p.caps.as_deref().unwrap_or(&all))
        .map_err(|e| Error::new(e.kind, format!("seccomp profile: {}", e.message)))?;
    Ok(Some(prog))
}

pub fn create(spec: &Spec) -> Result<Created> {
    let mut ch = Channels::open(&spec.process)?;
    let enter = Enter::NewRoot { spec };
    let filter = seccomp_program(&spec.process)?;
    let mut child = ch.child_setup(&spec.process, enter, filter.as_deref());
    // A foreground container must not outlive the mydocker that relays it.
    child.die_with_parent = spec.monitor.is_none();
    if let Some(mon) = &spec.monitor {
        let monitor_pid = spawn_monitor(&mut child, mon)?;
        // Only the monitor and the init may hold the child's end, or a failed
        // monitor would leave us waiting forever.
        let Channels { parent_sock, child_sock, log, .. } = ch;
        drop((child_sock, log));
        let pid = match recv_message(&parent_sock)? {
            Some(msg) if msg.starts_with("pid ") => {
                msg[4..].parse::<i32>().map_err(|_| Error::os(format!("monitor sent a bad pid: {msg}")))?
            }
            Some(msg) => return Err(decode_error(&msg)),
            None => return Err(Error::os("the monitor exited before reporting the container's pid")),
        };
        log::info!("container init is pid {pid}, monitor pid {monitor_pid}");
        return Ok(Created { pid, monitor_pid, sock: Some(parent_sock), pty_master: None, blocked: None });
    }
    // Foreground: this process is the parent and forwards signals while it waits.
    clone_foreground(ch, || clone_child(&child, INIT_NAMESPACES))
}

const INIT_NAMESPACES: libc::c_int =
    libc::CLONE_NEWPID | libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC | libc::CLONE_NEWNET;

/// The namespaces `exec` joins besides pid, in one setns call on the init's pidfd.
const EXEC_NAMESPACES: libc::c_int =
    libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC | libc::CLONE_NEWNET | libc::CLONE_NEWCGROUP;

/// Create a process inside the running container `spec.pid`. It must not be
/// seen from inside while it is still in the host's namespaces (a process
/// there could read the host's mounts and sockets through /proc/N, or stop
/// it), so, as runc does, an intermediate process on the host joins the
/// container's cgroups and then all its namespaces, pid included (for its
/// children), and clones the final process with CLONE_PARENT: it is born
/// inside, already in every namespace, as *our* child, so we relay and reap
/// it as any foreground process. This process keeps its own namespaces and
/// can still reach the state store.
pub fn create_exec(spec: &ExecSpec) -> Result<Created> {
    let pidfd = open_pidfd(spec.pid, spec.start_time)?;
    let mut ch = Channels::open(&spec.process)?;
    let filter = seccomp_program(&spec.process)?;
    let mut child = ch.child_setup(&spec.process, Enter::Joined, filter.as_deref());
    child.die_with_parent = true;
    clone_foreground(ch, || spawn_joined(&mut child, pidfd.as_raw_fd()))
}

/// The intermediate of `create_exec`: returns the final process's pid.
fn spawn_joined(child: &mut ChildSetup, pidfd: RawFd) -> Result<i32> {
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ctx(|| "pipe")?;
    match unsafe { nix::unistd::fork() }.ctx(|| "fork")? {
        nix::unistd::ForkResult::Parent { child: mid } => {
            drop(wr);
            let report = recv_message(&rd);
            let _ = waitpid(mid, None);
            match report? {
                Some(msg) if msg.starts_with("pid ") => msg[4..]
                    .parse::<i32>()
                    .map_err(|_| Error::os(format!("exec: bad pid from the intermediate process: {msg}"))),
                Some(msg) => Err(decode_error(&msg)),
                None => Err(Error::os("exec: the intermediate process died before creating the process")),
            }
        }
        nix::unistd::ForkResult::Child => {
            drop(rd);
            let msg = match join_and_clone(child, pidfd) {
                Ok(pid) => format!("pid {pid}"),
                Err(e) => encode_error(&e),
            };
            let _ = nix::unistd::write(&wr, msg.as_bytes());
            unsafe { libc::_exit(0) }
        }
    }
}

fn join_and_clone(child: &mut ChildSetup, pidfd: RawFd) -> Result<i32> {
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    // Cgroups by host path, so before the mount namespace changes; the final
    // process inherits them.
    // The v2 cgroup is joined at birth (clone3 CLONE_INTO_CGROUP, on the dir
    // opened before): writing cgroup.procs costs ~10 ms of RCU grace periods.
    let join = std::mem::take(&mut child.cgroup);
    join_v1_cgroups(&join)?;
    for procs in join.other_procs.iter() {
        fs::write(procs, "0").ctx(|| format!("join cgroup {}", procs.display()))?;
    }
    if unsafe { libc::setns(pidfd, EXEC_NAMESPACES | libc::CLONE_NEWPID) } < 0 {
        return Err(Error::os(format!("join the container's namespaces: {}", Errno::last().desc())));
    }
    let mut ret = -1;
    if let Some(dir) = &join.v2_dir {
        // With CLONE_PARENT the exit signal is the parent's (clone3 wants 0 here).
        let args = CloneArgs {
            flags: libc::CLONE_PARENT as u64 | CLONE_INTO_CGROUP,
            cgroup: dir.as_raw_fd() as u64,
            ..Default::default()
        };
        ret = unsafe {
            libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>())
        };
    }
    if ret < 0 {
        if let (Some(dir), Some(procs)) = (&join.v2_dir, &join.v2_procs) {
            // Relative to the dir's fd: the mount namespace is the container's by now.
            write_zero_at(dir.as_raw_fd(), c"cgroup.procs")
                .map_err(|e| Error::os(format!("join cgroup {}: {}", procs.display(), e.desc())))?;
        }
        let flags = (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong;
        ret = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    }
    match ret {
        -1 => Err(Error::os(format!("clone: {}", Errno::last().desc()))),
        0 => child_main(child),
        pid => Ok(pid as i32),
    }
}

/// Make our direct child with `spawn` (which returns its pid), with the
/// forwarded signals blocked first (the child unblocks them before exec) so
/// none is lost.
fn clone_foreground(ch: Channels, spawn: impl FnOnce() -> Result<i32>) -> Result<Created> {
    let mut old = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded_signals()), Some(&mut old)).ctx(|| "block signals")?;
    let pid = match spawn() {
        Ok(pid) => pid,
        Err(e) => {
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
            return Err(e);
        }
    };
    log::info!("process is pid {pid}");
    let Channels { parent_sock, child_sock, log, .. } = ch;
    drop((child_sock, log));
    Ok(Created { pid, monitor_pid: 0, sock: Some(parent_sock), pty_master: None, blocked: Some(old) })
}

/// Release the init to set up its root and exec; returns once exec succeeded or failed.
pub fn start(c: &mut Created) -> Result<()> {
    let sock = c.sock.take().ok_or_else(|| Error::invalid("container already started"))?;
    match nix::unistd::write(&sock, b"start") {
        Ok(_) => {}
        Err(Errno::EPIPE) | Err(Errno::ECONNRESET) => {
            // It may have failed before waiting for us and said why.
            if let Ok((Some(msg), _)) = recv_message_with_fd(&sock) {
                return Err(decode_error(&msg));
            }
            return Err(Error::os("the container's init exited before it was started"));
        }
        Err(e) => return Err(Error::os(format!("release container init: {}", e.desc()))),
    }
    loop {
        match recv_message_with_fd(&sock)? {
            (None, _) => return Ok(()),
            (Some(msg), Some(fd)) if msg == "pty" => {
                // The child's terminal lives in the container's devpts; we relay its master.
                tty::copy_winsize(0, fd.as_raw_fd());
                c.pty_master = Some(fd);
            }
            (Some(msg), _) => return Err(decode_error(&msg)),
        }
    }
}

/// Foreground wait: relay the terminal (if any), forward signals, reap the init.
/// Returns the exit code, 128+N when killed by signal N.
pub fn wait(c: &mut Created) -> Result<i32> {
    let old = c.blocked.take();
    let result = tty::relay_until_exit(c.pid, c.pty_master.take(), &forwarded_signals());
    if let Some(old) = old {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
    result
}

/// Abandon a created container: kill its init (and monitor) and reap what is ours.
pub fn abort(c: &mut Created) {
    c.sock.take();
    unsafe {
        libc::kill(c.pid, libc::SIGKILL);
    }
    if c.monitor_pid == 0 {
        let _ = waitpid(Pid::from_raw(c.pid), None);
    }
    if let Some(old) = c.blocked.take() {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
}

/// How the child gets into its container.
#[derive(Clone, Copy)]
enum Enter<'a> {
    /// A new container: set up the root filesystem and hostname.
    NewRoot { spec: &'a Spec },
    /// An existing container, whose namespaces and cgroups were joined before
    /// this process was cloned (`create_exec`).
    Joined,
}

/// Everything the child needs, as raw fds so the post-clone code allocates little.
struct ChildSetup<'a> {
    process: &'a Proc,
    enter: Enter<'a>,
    filter: Option<&'a [libc::sock_filter]>,
    die_with_parent: bool,
    cgroup: CgroupJoin,
    sock: RawFd,
    parent_sock: RawFd,
    log: Option<RawFd>,
    /// The sealed exec trampoline (`exec_helper`), when it could be loaded.
    helper: Option<RawFd>,
}

/// clone3's argument block (linux/sched.h), up to the `cgroup` field.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Clone the child with `flags`, born into its v2 cgroup where the kernel
/// allows (clone3 + CLONE_INTO_CGROUP), else placed there by us right after.
fn clone_child(child: &ChildSetup, flags: libc::c_int) -> Result<i32> {
    // Without a new stack, clone behaves like fork: the child continues here on
    // a copy-on-write copy of our stack. We are single-threaded, so that is safe.
    let mut into_v2 = false;
    let mut ret = -1;
    if let Some(dir) = &child.cgroup.v2_dir {
        let args = CloneArgs {
            flags: flags as u64 | CLONE_INTO_CGROUP,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: dir.as_raw_fd() as u64,
            ..Default::default()
        };
        ret = unsafe {
            libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>())
        };
        into_v2 = ret >= 0;
    }
    if ret < 0 {
        ret = unsafe {
            libc::syscall(
                libc::SYS_clone,
                (flags | libc::SIGCHLD) as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
    }
    match ret {
        -1 => Err(Error::os(format!("clone: {}", Errno::last().desc()))),
        0 => child_main(child),
        pid => {
            let pid = pid as i32;
            if let Err(e) = child.cgroup.finish_in_parent(pid, into_v2) {
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
                let _ = waitpid(Pid::from_raw(pid), None);
                return Err(e);
            }
            Ok(pid)
        }
    }
}

/// Write "0" to a cgroup file (at `dir`, or absolute): moves the writer into
/// that cgroup. Raw calls: it runs in a freshly cloned child.
fn write_zero_at(dir: RawFd, file: &std::ffi::CStr) -> std::result::Result<(), Errno> {
    let fd = unsafe { libc::openat(dir, file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    let ok = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } == 1;
    let err = Errno::last();
    unsafe {
        libc::close(fd);
    }
    if ok { Ok(()) } else { Err(err) }
}

/// In the child: join the v1 hierarchies by moving this (only) thread.
fn join_v1_cgroups(join: &CgroupJoin) -> Result<()> {
    for tasks in &join.v1_tasks {
        write_zero_at(libc::AT_FDCWD, tasks)
            .map_err(|e| Error::os(format!("join cgroup {}: {}", tasks.to_string_lossy(), e.desc())))?;
    }
    Ok(())
}

/// The monitor: double-fork so it belongs to no CLI, clone the init, report its
/// pid, then become `mydocker __monitor` and wait.
fn spawn_monitor(child: &mut ChildSetup, mon: &MonitorSpec) -> Result<i32> {
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ctx(|| "pipe")?;
    match unsafe { nix::unistd::fork() }.ctx(|| "fork monitor")? {
        nix::unistd::ForkResult::Parent { child: mid } => {
            drop(wr);
            let _ = waitpid(mid, None);
            let mut buf = [0u8; 16];
            let n = nix::unistd::read(&rd, &mut buf).unwrap_or(0);
            let pid = std::str::from_utf8(&buf[..n]).ok().and_then(|s| s.parse::<i32>().ok());
            pid.ok_or_else(|| Error::os("could not start the container's monitor"))
        }
        nix::unistd::ForkResult::Child => {
            drop(rd);
            let code = match unsafe { nix::unistd::fork() } {
                Ok(nix::unistd::ForkResult::Parent { child }) => {
                    let _ = nix::unistd::write(&wr, child.as_raw().to_string().as_bytes());
                    0
                }
                Ok(nix::unistd::ForkResult::Child) => {
                    drop(wr);
                    monitor_main(child, mon)
                }
                Err(_) => 1,
            };
            unsafe { libc::_exit(code) }
        }
    }
}

fn monitor_main(child: &mut ChildSetup, mon: &MonitorSpec) -> ! {
    unsafe {
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::dup2(null, 1);
            libc::dup2(null, 2);
            libc::close(null);
        }
    }
    // The container writes into a pipe and we write its log, so the log can be
    // capped and rotated (without a pipe, it writes the file itself, uncapped).
    let mut relay: Option<(RawFd, RawFd)> = None;
    if let Some(file) = child.log {
        let mut fds = [0; 2];
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == 0 {
            child.log = Some(fds[1]);
            relay = Some((fds[0], file));
        }
    }
    let pid = match clone_child(child, INIT_NAMESPACES) {
        Ok(pid) => pid,
        Err(e) => {
            send_message(child.sock, &encode_error(&e));
            unsafe { libc::_exit(1) }
        }
    };
    send_message(child.sock, &format!("pid {pid}"));
    unsafe {
        libc::close(child.sock);
        libc::close(child.parent_sock);
        if let Some(fd) = child.log {
            libc::close(fd);
        }
        if let Some((rd, file)) = relay {
            libc::fcntl(rd, libc::F_SETFD, 0);
            libc::fcntl(file, libc::F_SETFD, 0);
        }
    }
    // Re-exec so the monitor keeps none of the CLI's memory; the init stays our
    // child. The tiny static `mydocker-monitor` beside us is preferred; this
    // binary's own `__monitor` mode is the fallback.
    let dash = || "-".to_string();
    let mut tail = match (relay, &child.process.log) {
        (Some((rd, file)), Some(path)) => vec![
            rd.to_string(),
            file.to_string(),
            mon.log_max_size.unwrap_or(u64::MAX).to_string(),
            mon.log_max_file.unwrap_or(1).max(1).to_string(),
            path.display().to_string(),
        ],
        _ => vec![dash(), dash(), dash(), dash(), dash()],
    };
    tail.extend([
        mon.state_root.display().to_string(),
        mon.data_root.display().to_string(),
        mon.name.clone(),
    ]);
    if mon.auto_remove {
        tail.push("--rm".into());
    }
    let to_c =
        |v: &[String]| v.iter().map(|a| CString::new(a.as_str())).collect::<std::result::Result<Vec<_>, _>>();
    if let Ok(exe) = fs::read_link("/proc/self/exe") {
        let tiny = exe.with_file_name("mydocker-monitor");
        let mut argv = vec![tiny.display().to_string(), exe.display().to_string(), pid.to_string()];
        argv.extend(tail.iter().cloned());
        if let (Ok(path), Ok(cargs)) = (CString::new(tiny.display().to_string()), to_c(&argv)) {
            let _ = nix::unistd::execv(&path, &cargs);
        }
    }
    let mut argv = vec!["mydocker".to_string(), "__monitor".into(), pid.to_string()];
    argv.extend(tail);
    if let Ok(cargs) = to_c(&argv) {
        let _ = nix::unistd::execv(c"/proc/self/exe", &cargs);
    }
    // exec failed: do the monitor's job from here.
    let log = relay.zip(child.process.log.as_ref()).map(|((rd, file), path)| MonitorLog {
        pipe: rd,
        file,
        path: path.clone(),
        max_size: mon.log_max_size.unwrap_or(u64::MAX),
        max_file: mon.log_max_file.unwrap_or(1).max(1),
    });
    let code = run_monitor(&mon.state_root, &mon.data_root, &mon.name, pid, mon.auto_remove, log);
    unsafe { libc::_exit(code) }
}

/// The log a monitor relays: the pipe the container writes, the open log file.
pub struct MonitorLog {
    pub pipe: RawFd,
    pub file: RawFd,
    pub path: PathBuf,
    pub max_size: u64,
    pub max_file: u64,
}

/// The monitor's job: relay the log, reap the init, then record its exit (see `record_exit`).
pub fn run_monitor(
    state_root: &std::path::Path,
    data_root: &std::path::Path,
    name: &str,
    pid: i32,
    auto_remove: bool,
    log: Option<MonitorLog>,
) -> i32 {
    if let Some(l) = log {
        // Safety: the caller hands these fds over to us.
        let (pipe, file) = unsafe { (fs::File::from_raw_fd(l.pipe), fs::File::from_raw_fd(l.file)) };
        let mut out = super::log_relay::LogFile::new(file, &l.path, l.max_size, l.max_file);
        super::log_relay::relay(pipe, &mut out);
    }
    let code = reap(pid);
    record_exit(state_root, data_root, name, code, auto_remove)
}

/// After the init ended with `code`: record it, and with `--rm` become
/// `mydocker rm -f NAME`.
pub fn record_exit(
    state_root: &std::path::Path,
    data_root: &std::path::Path,
    name: &str,
    code: i32,
    auto_remove: bool,
) -> i32 {
    let store = Store::new(state_root);
    let id = match store.record_exit(name, code) {
        Ok(rec) => rec.get("id").and_then(|v| v.as_str()).map(str::to_string),
        Err(e) => {
            log::warn!("monitor: recording the exit of {name}: {e}");
            None
        }
    };
    // An ended container holds no mount (as with Docker): its files stay in the
    // layer and `start`/`restart` mount it again; `rm` need not pay the
    // unmount's sync of the host filesystem. A --rm container goes entirely.
    if !auto_remove
        && let Some(id) = id
        && let Err(e) = super::rootfs::unmount_layer(data_root, &id)
    {
        log::warn!("monitor: unmounting the root of {name}: {e}");
    }
    if auto_remove {
        let root = state_root.display().to_string();
        let data = data_root.display().to_string();
        let args = ["mydocker", "--root", &root, "--data-root", &data, "rm", "-f", name];
        if let Ok(cargs) = args.iter().map(|a| CString::new(*a)).collect::<std::result::Result<Vec<_>, _>>() {
            let _ = nix::unistd::execv(c"/proc/self/exe", &cargs);
        }
        return 1;
    }
    0
}

/// Wait for our child `pid` to end; its exit code, or 128+N for signal N.
pub fn reap(pid: i32) -> i32 {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(status) => {
                if let Some(code) = exit_code(status) {
                    return code;
                }
            }
            Err(Errno::EINTR) => continue,
            Err(_) => return 255,
        }
    }
}

pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Non-blocking reap of our child; `Some(code)` once it has ended.
pub fn try_reap(pid: i32) -> Result<Option<i32>> {
    match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(status) => Ok(exit_code(status)),
        Err(Errno::EINTR) => Ok(None),
        Err(e) => Err(Error::os(format!("wait for pid {pid}: {}", e.desc()))),
    }
}

// ---- the child side -------------------------------------------------------

#[derive(Debug)]
struct ChildError {
    kind: Kind,
    message: String,
}

impl From<Error> for ChildError {
    fn from(e: Error) -> Self {
        ChildError { kind: e.kind, message: e.message }
    }
}

fn child_main(c: &ChildSetup) -> ! {
    unsafe {
        libc::close(c.parent_sock);
        // Non-dumpable until exec: the container cannot ptrace us or open our
        // /proc/PID/exe (the host binary) or fds while we hold host resources.
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        if c.die_with_parent {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        }
    }
    // Tests hold an exec'd process right after it is born, to show what the
    // container can see of it then (debug builds only).
    if cfg!(debug_assertions)
        && matches!(c.enter, Enter::Joined)
        && let Some(ms) =
            std::env::var("MYDOCKER_TEST_EXEC_BORN_DELAY_MS").ok().and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    let err = match child_setup_and_exec(c) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    send_message(c.sock, &encode_error(&Error::new(err.kind, err.message)));
    let code = match err.kind {
        Kind::CommandNotFound => 127,
        Kind::NotExecutable => 126,
        _ => 1,
    };
    unsafe { libc::_exit(code) }
}

fn child_setup_and_exec(c: &ChildSetup) -> std::result::Result<std::convert::Infallible, ChildError> {
    let p = c.process;
    join_v1_cgroups(&c.cgroup)?;
    setup_stdio(c)?;
    // Wait for `start`; EOF means the creator went away: never run the command.
    let mut buf = [0u8; 16];
    match nix::unistd::read(unsafe { std::os::fd::BorrowedFd::borrow_raw(c.sock) }, &mut buf) {
        Ok(n) if n > 0 => {}
        _ => unsafe { libc::_exit(1) },
    }
    // Before any path of the container is touched: no descriptor of the host
    // (a cgroup dir, the log, a pidfd) may be reachable through
    // /proc/self/fd (CVE-2024-21626). Only stdio, the sync socket and the
    // sealed trampoline stay.
    let keep = [Some(c.sock), c.helper];
    match c.enter {
        Enter::NewRoot { spec } => {
            close_fds_except(&keep);
            let hostname = spec.hostname.as_str();
            // Now that the script has placed us in our cgroup, its view becomes our root.
            unsafe {
                libc::unshare(libc::CLONE_NEWCGROUP);
            }
            ContainerRoot {
                rootfs: &spec.rootfs,
                readonly: spec.readonly_rootfs,
                masked_paths: &spec.masked_paths,
                readonly_paths: &spec.readonly_paths,
                etc_files: &spec.etc_files,
                cgroup: p.cgroup.as_deref(),
            }
            .enter()?;
            super::network::loopback_up()?;
            if !hostname.is_empty() {
                nix::unistd::sethostname(hostname).ctx(|| format!("set hostname {hostname:?}"))?;
            }
            enter_workdir(&p.cwd, true)?;
            if p.tty {
                open_console(c.sock)?;
                tty::bind_console_to_stdin()?;
            }
        }
        Enter::Joined => {
            close_fds_except(&keep);
            enter_workdir(&p.cwd, false)?;
            if p.tty {
                open_console(c.sock)?;
            }
        }
    }
    let user = match &p.user {
        Some(u) => Some(super::user::resolve(u)?),
        None => None,
    };
    let env = super::user::env_with_home(&p.env, user.as_ref());
    if p.tty
        && let Some(u) = &user
    {
        tty::give_stdin_terminal_to(u.uid)?;
    }
    // A working directory reached through a leaked host fd would be outside our
    // root (CVE-2024-21626): the kernel then reports it as unreachable.
    match nix::unistd::getcwd() {
        Ok(cwd) if cwd.is_absolute() => {}
        _ => {
            return Err(
                Error::invalid(format!("working directory {} is outside the container", p.cwd)).into()
            );
        }
    }
    // Signals blocked or ignored by the runtime must not leak into the container.
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    for sig in Signal::iterator() {
        if sig != Signal::SIGKILL && sig != Signal::SIGSTOP {
            unsafe {
                let _ = nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigDfl);
            }
        }
    }
    confine(p, c.filter, user.map(|u| (u.uid, u.gid, u.groups)))?;
    // Tests widen the window between entering the container and exec, to show
    // nothing in the container can open this process meanwhile (debug builds only).
    if cfg!(debug_assertions)
        && let Some(ms) =
            std::env::var("MYDOCKER_TEST_EXEC_DELAY_MS").ok().and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    // Nothing the runtime holds may reach the command: every fd above stderr is close-on-exec.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
    }
    exec_in_path(&p.args, &env, c.helper.map(|h| (h, c.sock)))
}

/// Close every descriptor above stderr but `keep`.
fn close_fds_except(keep: &[Option<RawFd>]) {
    let mut keep: Vec<u32> = keep.iter().flatten().filter(|fd| **fd > 2).map(|fd| *fd as u32).collect();
    keep.sort_unstable();
    let mut from = 3u32;
    for fd in keep {
        if fd > from {
            unsafe {
                libc::syscall(libc::SYS_close_range, from, fd - 1, 0u32);
            }
        }
        from = from.max(fd + 1);
    }
    unsafe {
        libc::syscall(libc::SYS_close_range, from, u32::MAX, 0u32);
    }
}

/// chdir to the working directory, resolved inside the container's root
/// (which is `/` by now) without following a link out of it or a magic link
/// like /proc/self/fd/N; with `create`, missing directories are made there.
fn enter_workdir(cwd: &str, create: bool) -> Result<()> {
    let outside = |e: Error| Error::new(e.kind, format!("working directory {cwd}: {}", e.message));
    let root = fs::File::open("/").ctx(|| "open the container's root")?;
    let root = std::os::fd::AsFd::as_fd(&root);
    let dir = if create {
        super::inroot::mkdir_all(root, cwd, 0o755)
    } else {
        super::inroot::open(root, cwd, libc::O_RDONLY | libc::O_DIRECTORY)
    }
    .map_err(outside)?;
    nix::unistd::fchdir(&dir).ctx(|| format!("working directory {cwd}"))
}

/// The last steps before exec, in the order the kernel allows: no_new_privs,
/// the seccomp filter (installing it needs CAP_SYS_ADMIN or no_new_privs),
/// capabilities, then the user (setuid from root clears the effective set).
fn confine(p: &Proc, filter: Option<&[libc::sock_filter]>, user: Option<(u32, u32, Vec<u32>)>) -> Result<()> {
    if p.no_new_privileges && unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } < 0 {
        return Err(Error::os(format!("set no_new_privs: {}", Errno::last().desc())));
    }
    if let Some(prog) = filter {
        seccomp::install(prog)?;
    }
    if let Some(keep) = &p.caps {
        caps::apply(keep)?;
    }
    if let Some((uid, gid, groups)) = user {
        let gids: Vec<nix::unistd::Gid> = groups.iter().map(|g| nix::unistd::Gid::from_raw(*g)).collect();
        nix::unistd::setgroups(&gids).ctx(|| "setgroups")?;
        nix::unistd::setgid(nix::unistd::Gid::from_raw(gid)).ctx(|| format!("setgid {gid}"))?;
        nix::unistd::setuid(nix::unistd::Uid::from_raw(uid)).ctx(|| format!("setuid {uid}"))?;
    }
    Ok(())
}

fn setup_stdio(c: &ChildSetup) -> Result<()> {
    let spec = c.process;
    unsafe {
        if spec.tty {
            return Ok(()); // open_console sets all three once inside the container
        }
        if !spec.stdin || c.log.is_some() {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
            if null < 0 {
                return Err(Error::os("open /dev/null"));
            }
            libc::dup2(null, 0);
            libc::close(null);
        }
        if let Some(log) = c.log {
            libc::dup2(log, 1);
            libc::dup2(log, 2);
            libc::close(log);
        }
    }
    Ok(())
}

/// execve `args[0]`, searched in the container's PATH like execvp, with errors
/// sorted into "not found" (127) and "not executable" (126). With `helper`
/// (trampoline fd, sync socket), the sealed trampoline does the same search
/// and reports errors itself; this process's exec of it rarely fails.
fn exec_in_path(
    args: &[String],
    env: &[String],
    helper: Option<(RawFd, RawFd)>,
) -> std::result::Result<std::convert::Infallible, ChildError> {
    let to_c =
        |s: &str| CString::new(s).map_err(|_| Error::invalid(format!("argument contains a NUL byte: {s:?}")));
    let cargs = args.iter().map(|a| to_c(a)).collect::<Result<Vec<_>>>()?;
    let cenv = env.iter().map(|e| to_c(e)).collect::<Result<Vec<_>>>()?;
    let cmd = &args[0];
    let candidates: Vec<String> = if cmd.contains('/') {
        vec![cmd.clone()]
    } else {
        let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
        path.split(':').filter(|d| !d.is_empty()).map(|d| format!("{d}/{cmd}")).collect()
    };
    if let Some((fd, sock)) = helper
        && !candidates.is_empty()
    {
        let cands = candidates.iter().map(|c| to_c(c)).collect::<Result<Vec<_>>>()?;
        exec_helper::exec(fd, sock, &cands, &cargs, &cenv);
    }
    let mut denied = None;
    for cand in &candidates {
        let c = to_c(cand)?;
        match nix::unistd::execve(&c, &cargs, &cenv) {
            Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => continue,
            Err(e @ (Errno::EACCES | Errno::EISDIR | Errno::ENOEXEC | Errno::EPERM)) => {
                denied.get_or_insert((cand.clone(), e));
            }
            Err(e) => {
                return Err(ChildError {
                    kind: Kind::NotExecutable,
                    message: format!("exec {cand}: {}", e.desc()),
                });
            }
        }
    }
    Err(match denied {
        Some((path, e)) => ChildError {
            kind: Kind::NotExecutable,
            message: format!("{path}: permission denied: not executable ({})", e.desc()),
        },
        None if cmd.contains('/') => {
            ChildError { kind: Kind::CommandNotFound, message: format!("{cmd}: no such file or directory") }
        }
        None => ChildError {
            kind: Kind::CommandNotFound,
            message: format!("{cmd}: executable file not found in $PATH"),
        },
    })
}

// ---- messages over the sync socket ----------------------------------------

fn encode_error(e: &Error) -> String {
    format!("err {}\t{}", e.kind.as_str(), e.message)
}

fn decode_error(msg: &str) -> Error {
    let body = msg.strip_prefix("err ").unwrap_or(msg);
    match body.split_once('\t') {
        Some((kind, message)) => Error::new(Kind::parse(kind), message),
        None => Error::os(body.to_string()),
    }
}

/// Inside the container: a pty from the container's own devpts (so `tty` and
/// ttyname work there), made our controlling terminal and stdio; its master
/// goes to the creator over the sync socket to relay.
fn open_console(sock: RawFd) -> Result<()> {
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if master < 0 || libc::grantpt(master) < 0 || libc::unlockpt(master) < 0 {
            return Err(Error::os(format!("open /dev/ptmx in the container: {}", Errno::last().desc())));
        }
        let mut name = [0 as libc::c_char; 128];
        if libc::ptsname_r(master, name.as_mut_ptr(), name.len()) != 0 {
            return Err(Error::os("ptsname"));
        }
        let slave = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        if slave < 0 {
            return Err(Error::os(format!("open the container's terminal: {}", Errno::last().desc())));
        }
        libc::setsid();
        if libc::ioctl(slave, libc::TIOCSCTTY, 0) < 0 {
            return Err(Error::os(format!("set controlling terminal: {}", Errno::last().desc())));
        }
        for fd in 0..3 {
            libc::dup2(slave, fd);
        }
        if slave > 2 {
            libc::close(slave);
        }
        let fds = [master];
        let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
        let iov = [std::io::IoSlice::new(b"pty")];
        nix::sys::socket::sendmsg::<()>(sock, &iov, &cmsg, nix::sys::socket::MsgFlags::empty(), None)
            .ctx(|| "send the terminal to mydocker")?;
        libc::close(master);
    }
    Ok(())
}

fn send_message(fd: RawFd, msg: &str) {
    unsafe {
        libc::send(fd, msg.as_ptr().cast(), msg.len(), libc::MSG_NOSIGNAL);
    }
}

/// One message, or None at EOF (every copy of the other end is closed).
fn recv_message(fd: &OwnedFd) -> Result<Option<String>> {
    let mut buf = vec![0u8; 4096];
    loop {
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => return Ok(None),
            Ok(n) => return Ok(Some(String::from_utf8_lossy(&buf[..n]).into_owned())),
            Err(Errno::EINTR) => continue,
            Err(Errno::ECONNRESET) => return Ok(None),
            Err(e) => return Err(Error::os(format!("read from container init: {}", e.desc()))),
        }
    }
}

/// One message and the fd it carries, if any; (None, None) at EOF.
fn recv_message_with_fd(sock: &OwnedFd) -> Result<(Option<String>, Option<OwnedFd>)> {
    let mut buf = vec![0u8; 4096];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    loop {
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let r = nix::sys::socket::recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC,
        );
        match r {
            Ok(msg) => {
                let mut fd = None;
                if let Ok(cmsgs) = msg.cmsgs() {
                    for c in cmsgs {
                        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
                            fd = fds.first().map(|f| unsafe { OwnedFd::from_raw_fd(*f) });
                        }
                    }
                }
                let n = msg.bytes;
                if n == 0 {
                    return Ok((None, None));
                }
                return Ok((Some(String::from_utf8_lossy(&buf[..n]).into_owned()), fd));
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::ECONNRESET) => return Ok((None, None)),
            Err(e) => return Err(Error::os(format!("read from container process: {}", e.desc()))),
        }
    }
}

// ---- host view of any process ---------------------------------------------

/// Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), and the state letter.
pub fn stat(pid: i32) -> Option<(u64, char)> {
    if pid <= 0 {
        return None;
    }
    let bytes = super::sys::read_small(std::path::Path::new(&format!("/proc/{pid}/stat"))).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    // comm may contain spaces and parentheses: fields resume after the last ')'.
    let rest = text.get(text.rfind(')')? + 2..)?;
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, state))
}

pub fn start_time(pid: i32) -> Result<u64> {
    stat(pid).map(|(t, _)| t).ok_or_else(|| Error::new(Kind::NotRunning, format!("no such process: {pid}")))
}

/// Is `pid` still the process that started at `start_time` (and not a zombie)?
pub fn alive(pid: i32, start_time: u64) -> bool {
    matches!(stat(pid), Some((t, state)) if t == start_time && state != 'Z' && state != 'X')
}

/// A pidfd for `pid` as it is now, if it exists.
pub fn pidfd(pid: i32) -> Option<OwnedFd> {
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Wait until every process behind `fds` (pidfds) has ended, at most `timeout`.
pub fn wait_all_ended(fds: &[OwnedFd], timeout: std::time::Duration) {
    let deadline = std::time::Instant::now() + timeout;
    let mut polls: Vec<libc::pollfd> =
        fds.iter().map(|f| libc::pollfd { fd: f.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
    while !polls.is_empty() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return;
        }
        let r = unsafe {
            libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, left.as_millis().max(1) as i32)
        };
        if r < 0 && Errno::last() != Errno::EINTR {
            return;
        }
        polls.retain(|p| p.revents == 0);
    }
}

/// A pidfd for `pid`, but only if it is still the process that started at `start_time`:
/// once we hold the pidfd the pid cannot be reused under us.
pub fn open_pidfd(pid: i32, start_time: u64) -> Result<OwnedFd> {
    let not_running = || Error::new(Kind::NotRunning, format!("process {pid} is not running"));
    if pid <= 0 {
        return Err(not_running());
    }
    let fd = pidfd(pid).ok_or_else(not_running)?;
    if !alive(pid, start_time) {
        return Err(not_running());
    }
    Ok(fd)
}

/// Send `sig` to the process `pid` that started at `start_time`; never to a stranger reusing the pid.
pub fn signal(pid: i32, start_time: u64, sig: i32) -> Result<()> {
    send_signal(&open_pidfd(pid, start_time)?, pid, sig)
}

/// Is `pid` in cgroup `name` (e.g. `mydocker/ID`) in some hierarchy, as the host sees it?
pub fn in_cgroup(pid: i32, name: &str) -> bool {
    let Ok(bytes) = super::sys::read_small(std::path::Path::new(&format!("/proc/{pid}/cgroup"))) else {
        return false;
    };
    let want = format!("/{}", name.trim_matches('/'));
    String::from_utf8_lossy(&bytes).lines().any(|l| l.splitn(3, ':').nth(2) == Some(want.as_str()))
}

/// `signal`, but only to a member of cgroup `name`: a record that names
/// another process (forged, or stale) never gets a stranger signalled.
pub fn signal_in_cgroup(pid: i32, start_time: u64, cgroup: &str, sig: i32) -> Result<()> {
    let fd = open_pidfd(pid, start_time)?;
    // Checked while we hold the pidfd, so the pid cannot be reused meanwhile.
    if !in_cgroup(pid, cgroup) {
        return Err(Error::os(format!(
            "process {pid} named by the record is not in the container's cgroup {cgroup}: not signalled"
        )));
    }
    send_signal(&fd, pid, sig)
}

fn send_signal(fd: &OwnedFd, pid: i32, sig: i32) -> Result<()> {
    let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), sig, 0usize, 0u32) };
    if r < 0 {
        let e = Errno::last();
        if e == Errno::ESRCH {
            return Err(Error::new(Kind::NotRunning, format!("process {pid} is not running")));
        }
        return Err(Error::os(format!("signal {sig} to pid {pid}: {}", e.desc())));
    }
    Ok(())
}

/// Wait up to `timeout_ms` (negative: forever) for the process to end. True when it has.
pub fn wait_gone(pid: i32, start_time: u64, timeout_ms: i64) -> Result<bool> {
    let fd = match open_pidfd(pid, start_time) {
        Ok(fd) => fd,
        Err(_) => return Ok(true),
    };
    let deadline = (timeout_ms >= 0)
        .then(|| std::time::Instant::now() + std::time::Duration::from_millis(timeout_ms as u64));
    loop {
        // A pidfd polls readable when the process exits; a zombie counts as gone.
        if !alive(pid, start_time) {
            return Ok(true);
        }
        let wait = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Ok(false);
                }
                left.as_millis().min(100) as i32
            }
            None => 100,
        };
        let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let r = unsafe { libc::poll(&mut pfd, 1, wait) };
        if r < 0 && Errno::last() != Errno::EINTR {
            return Err(Error::os(format!("poll pidfd: {}", Errno::last().desc())));
        }
    }
}

/// Parse a signal given by name (`TERM`, `SIGTERM`) or number.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>()
        && (1..=64).contains(&n)
    {
        return Ok(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    name.parse::<Signal>().map(|sig| sig as i32).map_err(|_| Error::invalid(format!("invalid signal {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_of_self() {
        let me = std::process::id() as i32;
        let t = start_time(me).unwrap();
        assert!(alive(me, t));
        assert!(!alive(me, t + 1));
        assert!(!alive(0, 0));
    }

    #[test]
    fn signals_parse() {
        assert_eq!(parse_signal("TERM").unwrap(), 15);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
    }

    #[test]
    fn errors_cross_the_socket() {
        let e = decode_error(&encode_error(&Error::new(Kind::CommandNotFound, "x: not found")));
        assert_eq!(e.kind, Kind::CommandNotFound);
        assert_eq!(e.message, "x: not found");
    }
}
