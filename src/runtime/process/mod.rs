//! A container's processes, from clone to exec, by role:
//!
//! - `mod.rs` (here): what callers use — `create` a container's init from an
//!   OCI spec, `create_exec` a process in a running one, `start`, `wait`.
//! - `clone.rs`: making the process, born into its cgroup.
//! - `init.rs`: what the new process does before exec (root, terminal, user,
//!   confinement) — in the child.
//! - `exec.rs`: joining a running container.
//! - `message.rs`: the typed messages over the sync socket.
//! - `monitor.rs`: the per-container monitor of detached Docker-style containers.
//! - `hooks.rs`: the spec's hooks.
//!
//! Lifecycle, as in OCI: `create` clones the init into its namespaces; it sets
//! up its root, terminal and working directory, reports `Ready` and waits. A
//! failure up to there (a bad mount, a command not in PATH) fails `create`.
//! `start` releases it: over the socket (`mydocker run`), or through a FIFO in
//! the state directory for the OCI CLI, whose `create` and `start` are
//! separate processes. No re-exec and no threads: the child is a clone of this
//! process continuing on a copy of its stack.

mod clone;
pub mod exec;
mod hooks;
mod init;
pub mod message;
pub mod monitor;

pub use exec::{ExecSpec, create_exec, exec_capture};
pub use hooks::{run_hooks, state_json};
pub use monitor::{MonitorLog, MonitorSpec, record_exit, run_monitor, run_tty_monitor};

use super::error::{Context, Error, Result};
use super::spec::{self, Spec};
use super::{exec_helper, seccomp, tty};
use clone::CgroupJoin;
use message::Msg;
use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use serde::Deserialize;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// How this runtime runs a spec — what is not the container's description:
/// where its output goes, who waits for it, how it is started.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Launch {
    /// The container's id (for the hooks' state).
    #[serde(default)]
    pub id: String,
    /// The bundle: relative root and bind paths are relative to it.
    #[serde(default)]
    pub bundle: PathBuf,
    /// The cgroup (e.g. `mydocker/ID`, already created) the init is born into.
    #[serde(default)]
    pub cgroup: Option<String>,
    /// Keep the caller's stdin (`-i`, and always for the OCI CLI); otherwise
    /// stdin is /dev/null.
    #[serde(default)]
    pub stdin: bool,
    /// The container's log: stdout and stderr as records (`log_split`),
    /// through pipes to whoever writes it — a detached container's monitor,
    /// or this process, which also prints them (`wait`). With a terminal,
    /// what the terminal shows, as stdout.
    #[serde(default)]
    pub log: Option<PathBuf>,
    /// Rotate the log before it passes this many bytes (none: no cap).
    #[serde(default)]
    pub log_max_size: Option<u64>,
    /// How many log files rotation keeps, the current one included (default 1).
    #[serde(default)]
    pub log_max_file: Option<u64>,
    /// Send stdout and stderr, as they are, to this file (`exec_capture`).
    #[serde(default)]
    pub output: Option<PathBuf>,
    /// Detach: a monitor process becomes the init's parent and records its exit.
    #[serde(default)]
    pub monitor: Option<MonitorSpec>,
    /// The OCI CLI: the init waits for `start` on this FIFO, and the creator
    /// may exit meanwhile (a subreaper such as conmon adopts the init).
    #[serde(default)]
    pub start_fifo: Option<PathBuf>,
    /// The OCI CLI: the terminal's master goes to this socket.
    #[serde(default)]
    pub console_socket: Option<PathBuf>,
    /// `run --init`: the exec trampoline stays as PID 1, forwarding signals
    /// to the command and reaping zombies.
    #[serde(default)]
    pub init: bool,
    /// Descriptors 3 to 3+N-1 the caller passes on (socket activation).
    #[serde(default)]
    pub preserve_fds: u32,
}

/// A created, not yet started, container process.
#[derive(Debug)]
pub struct Created {
    pub pid: i32,
    pub monitor_pid: i32,
    sock: Option<OwnedFd>,
    pty_master: Option<OwnedFd>,
    /// Signals we blocked for the foreground wait loop, restored when done.
    blocked: Option<SigSet>,
    /// A foreground container's log, which `wait` writes.
    log: Option<ForegroundLog>,
    /// What is left to do while the process sets up (see `ready`).
    setup: Option<SetUp>,
}

/// The creator's part of the set-up, done by `ready`: the runtime's hooks,
/// the terminal, the seccomp agent. Kept apart from `create` so the caller
/// can do its own work (write its records) while the init sets up.
#[derive(Debug, Default)]
struct SetUp {
    /// Messages that came before the monitor's pid.
    pending: Vec<(Msg, Option<OwnedFd>)>,
    /// The state the hooks read.
    state: String,
    /// prestart and createRuntime, run when the init has made its mounts.
    runtime_hooks: Vec<(&'static str, Vec<spec::Hook>)>,
    console_socket: Option<PathBuf>,
    /// The seccomp agent's socket and metadata, and the state it is sent.
    listener: Option<(PathBuf, Option<String>)>,
    agent_state: serde_json::Value,
}

impl SetUp {
    fn new(pid: i32, spec: Option<&Spec>, launch: &Launch, filter: Option<&SeccompPlan>) -> SetUp {
        let mut s = SetUp { console_socket: launch.console_socket.clone(), ..Default::default() };
        if let Some(spec) = spec {
            s.state = state_json(spec, launch, "creating", pid);
            if let Some(h) = &spec.hooks {
                s.runtime_hooks =
                    vec![("prestart", h.prestart.clone()), ("createRuntime", h.create_runtime.clone())];
            }
        }
        if let Some(l) = filter.and_then(|f| f.listener.clone()) {
            s.listener = Some(l);
            s.agent_state = serde_json::json!({"ociVersion": "1.0.2", "id": launch.id, "status": "creating", "pid": pid, "bundle": launch.bundle});
        }
        s
    }
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

/// The log of a foreground container, written by its creator while it waits.
#[derive(Debug)]
pub struct ForegroundLog {
    pub file: crate::runtime::log_relay::LogFile,
    /// The read ends of the container's stdout and stderr (none with a terminal).
    pub pipes: Option<[OwnedFd; 2]>,
}

/// The fds a new process needs from its creator.
struct Channels {
    parent_sock: OwnedFd,
    child_sock: OwnedFd,
    /// The container's log (see `Launch::log`).
    log: Option<fs::File>,
    /// A foreground container's stdout and stderr pipes: (read, write) each.
    pipes: Option<[(OwnedFd, OwnedFd); 2]>,
    /// `Launch::output`.
    output: Option<fs::File>,
    cgroup: CgroupJoin,
    helper: Option<OwnedFd>,
    fifo: Option<OwnedFd>,
}

impl Channels {
    fn open(launch: &Launch, terminal: bool) -> Result<Channels> {
        let (parent_sock, child_sock) =
            socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
                .ctx(|| "socketpair")?;
        let append = |path: &std::path::Path| {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .ctx(|| format!("open log {}", path.display()))
        };
        let log = launch.log.as_deref().map(append).transpose()?;
        let output = launch.output.as_deref().map(append).transpose()?;
        // A foreground container's output comes through us (a detached one's
        // monitor makes its own pipes; a terminal is relayed already).
        let pipes = if log.is_some() && launch.monitor.is_none() && !terminal {
            let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ctx(|| "pipe");
            Some([pipe()?, pipe()?])
        } else {
            None
        };
        let cgroup = CgroupJoin::prepare(launch.cgroup.as_deref())?;
        let helper = match exec_helper::load() {
            Ok(fd) => Some(fd),
            Err(e) => {
                // Only where memfds cannot be made or sealed (vm.memfd_noexec=2, a
                // host seccomp policy): say so, the container could then reach us.
                log::warn!("exec trampoline unavailable ({e}): the command is exec'd directly");
                None
            }
        };
        // Opened now, by its host path: the init reopens it for writing once
        // it is inside its root, where this path means nothing.
        let fifo = match &launch.start_fifo {
            Some(path) => Some(
                fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
                    .open(path)
                    .ctx(|| format!("open {}", path.display()))?
                    .into(),
            ),
            None => None,
        };
        Ok(Channels { parent_sock, child_sock, log, pipes, output, cgroup, helper, fifo })
    }

    fn child_setup<'a>(
        &mut self,
        process: &'a spec::Process,
        launch: &'a Launch,
        enter: Enter<'a>,
        filter: Option<&'a SeccompPlan>,
    ) -> ChildSetup<'a> {
        ChildSetup {
            process,
            launch,
            enter,
            filter,
            die_with_parent: false,
            sock: self.child_sock.as_raw_fd(),
            parent_sock: self.parent_sock.as_raw_fd(),
            log: self.log.as_ref().map(|f| f.as_raw_fd()),
            stdout: self
                .pipes
                .as_ref()
                .map(|p| p[0].1.as_raw_fd())
                .or(self.output.as_ref().map(|f| f.as_raw_fd())),
            stderr: self
                .pipes
                .as_ref()
                .map(|p| p[1].1.as_raw_fd())
                .or(self.output.as_ref().map(|f| f.as_raw_fd())),
            cgroup: std::mem::take(&mut self.cgroup),
            helper: self.helper.as_ref().map(|f| f.as_raw_fd()),
            fifo: self.fifo.as_ref().map(|f| f.as_raw_fd()),
        }
    }
}

/// A spec's `linux.seccomp`, compiled before clone so the child only
/// installs it; with a `listenerPath`, where its notifications go.
pub struct SeccompPlan {
    prog: Vec<libc::sock_filter>,
    flags: u32,
    listener: Option<(PathBuf, Option<String>)>,
}

fn seccomp_program(seccomp: Option<&serde_json::Value>) -> Result<Option<SeccompPlan>> {
    let Some(v) = seccomp else { return Ok(None) };
    let s: seccomp::LinuxSeccomp =
        serde_json::from_value(v.clone()).map_err(|e| Error::invalid(format!("linux.seccomp: {e}")))?;
    let prog =
        seccomp::compile_oci(&s).map_err(|e| Error::new(e.kind, format!("linux.seccomp: {}", e.message)))?;
    let flags = seccomp::install_flags(&s)?;
    let listener = s.listener_path.as_ref().map(|p| (PathBuf::from(p), s.listener_metadata.clone()));
    Ok(Some(SeccompPlan { prog, flags, listener }))
}

/// Create the container's init from `spec` (validated first), as `launch`
/// says. Returns once it is cloned; it sets up meanwhile: `ready` waits for
/// that (and `start` does, first).
pub fn create(spec: &Spec, launch: &Launch) -> Result<Created> {
    spec.validate()?;
    if !spec.namespaces().iter().any(|n| n.kind == "mount" && n.path.is_none()) {
        return Err(Error::invalid("the container needs a new mount namespace (linux.namespaces: mount)"));
    }
    let process = spec.process()?;
    let mut ch = Channels::open(launch, process.terminal)?;
    let filter = seccomp_program(spec.linux.as_ref().and_then(|l| l.seccomp.as_ref()))?;
    // Namespaces given by path are opened now, while their paths mean what the caller meant.
    let mut joins = Vec::new();
    for ns in spec.namespaces() {
        if let (Some(path), Some(flag)) = (&ns.path, spec::namespace_flag(&ns.kind)) {
            let f = fs::File::open(path).ctx(|| format!("open the {} namespace {path}", ns.kind))?;
            joins.push((flag, OwnedFd::from(f)));
        }
    }
    // A pid namespace is joined by the parent: it applies to the children it makes.
    if let Some((_, fd)) = joins.iter().find(|(f, _)| *f == libc::CLONE_NEWPID)
        && unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWPID) } < 0
    {
        return Err(Error::os(format!("join the pid namespace: {}", Errno::last().desc())));
    }
    let ns_joins: Vec<(libc::c_int, RawFd)> =
        joins.iter().filter(|(f, _)| *f != libc::CLONE_NEWPID).map(|(f, fd)| (*f, fd.as_raw_fd())).collect();
    // A new cgroup namespace is made by the child once it is in its cgroup.
    let flags = spec.new_namespace_flags() & !libc::CLONE_NEWCGROUP;
    let enter = Enter::NewRoot { spec, ns_joins: &ns_joins };
    let mut child = ch.child_setup(process, launch, enter, filter.as_ref());
    // A foreground container must not outlive the mydocker that relays it.
    child.die_with_parent = launch.monitor.is_none() && launch.start_fifo.is_none();
    let mut pending = Vec::new();
    let (pid, monitor_pid, parent_sock) = if let Some(mon) = &launch.monitor {
        let monitor_pid = monitor::spawn(&mut child, mon, flags)?;
        // Only the monitor and the init may hold the child's end, or a failed
        // monitor would leave us waiting forever.
        let Channels { parent_sock, child_sock, log, .. } = ch;
        drop((child_sock, log));
        // The init starts its set-up at once: its first messages may come
        // before the monitor's; they are handled once the pid is known.
        let pid = loop {
            match message::recv(&parent_sock)? {
                Some((Msg::Pid(pid), _)) => break pid,
                Some((Msg::Failed(e), _)) => return Err(e),
                Some(early) => pending.push(early),
                None => return Err(Error::os("the monitor exited before reporting the container's pid")),
            }
        };
        log::info!("container init is pid {pid}, monitor pid {monitor_pid}");
        (pid, monitor_pid, parent_sock)
    } else if launch.start_fifo.is_some() {
        let pid = clone::clone_child(&child, flags)?;
        let Channels { parent_sock, child_sock, log, .. } = ch;
        drop((child_sock, log));
        (pid, 0, parent_sock)
    } else {
        // Foreground: this process is the parent and forwards signals while it waits.
        let mut c = clone_foreground(ch, launch, || clone::clone_child(&child, flags))?;
        c.setup = Some(SetUp::new(c.pid, Some(spec), launch, filter.as_ref()));
        return Ok(c);
    };
    let mut setup = SetUp::new(pid, Some(spec), launch, filter.as_ref());
    setup.pending = pending;
    // A detached terminal goes to its monitor, through the socket it serves `attach` on.
    if launch.monitor.is_some() && process.terminal && setup.console_socket.is_none() {
        setup.console_socket = Some(crate::runtime::attach::socket_path(&launch.bundle));
    }
    Ok(Created {
        pid,
        monitor_pid,
        sock: Some(parent_sock),
        pty_master: None,
        blocked: None,
        log: None,
        setup: Some(setup),
    })
}

/// Wait until the process is set up and waiting for `start`, doing the
/// creator's part meanwhile (`SetUp`). A failure there kills it.
pub fn ready(c: &mut Created) -> Result<()> {
    let Some(setup) = c.setup.take() else { return Ok(()) };
    let Some(sock) = c.sock.as_ref() else { return Err(Error::invalid("the process was already started")) };
    match until_ready(sock, setup, c.pid) {
        Ok(pty) => {
            if pty.is_some() {
                c.pty_master = pty;
            }
            Ok(())
        }
        Err(e) => {
            let ours = c.monitor_pid == 0 && c.blocked.is_none();
            abort(c);
            if ours {
                let _ = waitpid(Pid::from_raw(c.pid), None);
            }
            Err(e)
        }
    }
}

/// The creator's side of the set-up: run the runtime's hooks when asked,
/// take the terminal, until the init is ready. Returns the terminal's master
/// when the caller relays it itself.
fn until_ready(sock: &OwnedFd, setup: SetUp, pid: i32) -> Result<Option<OwnedFd>> {
    let mut pty = None;
    let mut pending = setup.pending.into_iter();
    loop {
        let next = match pending.next() {
            Some(m) => Some(m),
            None => message::recv(sock)?,
        };
        match next {
            None => return Err(Error::os("the container's init exited during set-up")),
            Some((Msg::Ready, _)) => return Ok(pty),
            Some((Msg::Hooks, _)) => {
                for (kind, hooks) in &setup.runtime_hooks {
                    run_hooks(kind, hooks, &setup.state)?;
                }
                message::send(sock.as_raw_fd(), &Msg::Go);
            }
            Some((Msg::Pty, Some(fd))) => match &setup.console_socket {
                Some(path) => tty::send_to_console_socket(path, fd.as_raw_fd())?,
                None => {
                    tty::copy_winsize(0, fd.as_raw_fd());
                    pty = Some(fd);
                }
            },
            Some((Msg::Seccomp, Some(fd))) => {
                if let Some((path, metadata)) = &setup.listener {
                    let state = seccomp::ContainerProcessState {
                        oci_version: "1.0.2".into(),
                        fds: vec!["seccompFd".into()],
                        pid,
                        metadata: metadata.clone(),
                        state: setup.agent_state.clone(),
                    };
                    seccomp::send_to_agent(path, &state, std::os::fd::AsFd::as_fd(&fd))?;
                }
            }
            Some((Msg::Failed(e), _)) => return Err(e),
            Some((m, _)) => return Err(Error::os(format!("unexpected message from the init: {m:?}"))),
        }
    }
}

/// Make our direct child with `spawn` (which returns its pid), with the
/// forwarded signals blocked first (the child unblocks them before exec) so
/// none is lost.
fn clone_foreground(ch: Channels, launch: &Launch, spawn: impl FnOnce() -> Result<i32>) -> Result<Created> {
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
    let Channels { parent_sock, child_sock, log, pipes, output, .. } = ch;
    // The write ends are the container's now: its end closes them.
    let pipes = pipes.map(|[(out, _), (err, _)]| [out, err]);
    drop((child_sock, output));
    let log = log.zip(launch.log.as_ref()).map(|(f, path)| ForegroundLog {
        file: crate::runtime::log_relay::LogFile::new(
            f,
            path,
            launch.log_max_size.unwrap_or(u64::MAX),
            launch.log_max_file.unwrap_or(1).max(1),
        ),
        pipes,
    });
    Ok(Created {
        pid,
        monitor_pid: 0,
        sock: Some(parent_sock),
        pty_master: None,
        blocked: Some(old),
        log,
        setup: None,
    })
}

/// Release the process to exec; returns once exec succeeded or failed.
pub fn start(c: &mut Created) -> Result<()> {
    ready(c)?;
    let sock = c.sock.take().ok_or_else(|| Error::invalid("container already started"))?;
    match nix::unistd::write(&sock, b"start") {
        Ok(_) => {}
        Err(Errno::EPIPE) | Err(Errno::ECONNRESET) => {
            // It may have failed before waiting for us and said why.
            if let Ok(Some(Msg::Failed(e))) = message::recv_msg(&sock) {
                return Err(e);
            }
            return Err(Error::os("the container's init exited before it was started"));
        }
        Err(e) => return Err(Error::os(format!("release container init: {}", e.desc()))),
    }
    match message::recv_msg(&sock)? {
        None => Ok(()),
        Some(Msg::Failed(e)) => Err(e),
        Some(m) => Err(Error::os(format!("unexpected message from the container's process: {m:?}"))),
    }
}

/// The OCI `start`: open the init's FIFO for reading, which lets its blocked
/// open for writing return; it writes one byte and execs. Fails if the init
/// (`pid`, started at `start_time`) ends first.
pub fn start_by_fifo(fifo: &std::path::Path, pid: i32, start_time: u64) -> Result<()> {
    let pidfd = super::host_process::open_pidfd(pid, start_time)?;
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(fifo)
        .ctx(|| format!("open {}", fifo.display()))?;
    loop {
        // Before a writer has come, the FIFO polls neither readable nor hung up.
        let mut polls = [
            libc::pollfd { fd: f.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        ];
        let r = unsafe { libc::poll(polls.as_mut_ptr(), 2, -1) };
        if r < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            return Err(Error::os(format!("wait for the container's init: {}", Errno::last().desc())));
        }
        if polls[0].revents & libc::POLLIN != 0 {
            let mut b = [0u8; 1];
            if nix::unistd::read(&f, &mut b).unwrap_or(0) == 1 {
                return Ok(());
            }
        }
        if polls[1].revents != 0 {
            return Err(Error::new(
                super::error::Kind::NotRunning,
                "the container's init exited before it was started",
            ));
        }
        if polls[0].revents & libc::POLLHUP != 0 {
            return Err(Error::os("the container's init closed its start FIFO"));
        }
    }
}

/// Foreground wait: relay the terminal (if any), forward signals, reap the init.
/// Returns the exit code, 128+N when killed by signal N.
pub fn wait(c: &mut Created) -> Result<i32> {
    let old = c.blocked.take();
    let result = tty::relay_until_exit(c.pid, c.pty_master.take(), &forwarded_signals(), c.log.take());
    if let Some(old) = old {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
    result
}

/// Abandon a created process: kill it (and its monitor) and reap what is ours.
pub fn abort(c: &mut Created) {
    c.sock.take();
    unsafe {
        libc::kill(c.pid, libc::SIGKILL);
    }
    if c.monitor_pid == 0 && c.blocked.is_some() {
        let _ = waitpid(Pid::from_raw(c.pid), None);
    }
    if let Some(old) = c.blocked.take() {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
}

/// How the child gets into its container.
#[derive(Clone, Copy)]
enum Enter<'a> {
    /// A new container: join or make its namespaces, set up its root.
    NewRoot { spec: &'a Spec, ns_joins: &'a [(libc::c_int, RawFd)] },
    /// An existing container, whose namespaces and cgroups were joined before
    /// this process was cloned (`create_exec`).
    Joined,
}

/// Everything the child needs, as raw fds so the post-clone code allocates little.
struct ChildSetup<'a> {
    process: &'a spec::Process,
    launch: &'a Launch,
    enter: Enter<'a>,
    filter: Option<&'a SeccompPlan>,
    die_with_parent: bool,
    cgroup: CgroupJoin,
    sock: RawFd,
    parent_sock: RawFd,
    /// The log file (a monitor's to write).
    log: Option<RawFd>,
    /// What the init's stdout and stderr become (else: ours).
    stdout: Option<RawFd>,
    stderr: Option<RawFd>,
    /// The sealed exec trampoline (`exec_helper`), when it could be loaded.
    helper: Option<RawFd>,
    /// The start FIFO (O_PATH), for the OCI CLI.
    fifo: Option<RawFd>,
}
