//! The new process's side, from clone to exec: namespaces, root, terminal,
//! working directory, then `Ready`; after `start`, confinement and exec.

use super::message::{self, Msg};
use super::{ChildSetup, Enter};
use crate::runtime::error::{Context, Error, Kind, Result};
use crate::runtime::spec::{self, Spec};
use crate::runtime::{caps, exec_helper, mounts, network, rootfs, seccomp, tty, user};
use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use std::ffi::CString;
use std::fs;
use std::os::fd::RawFd;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub(super) fn child_main(c: &ChildSetup) -> ! {
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
    let err = match setup_and_exec(c) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    message::send(c.sock, &Msg::Failed(err.clone()));
    let code = match err.kind {
        Kind::CommandNotFound => 127,
        Kind::NotExecutable => 126,
        _ => 1,
    };
    unsafe { libc::_exit(code) }
}

fn setup_and_exec(c: &ChildSetup) -> Result<std::convert::Infallible> {
    let p = c.process;
    c.cgroup.join_v1()?;
    setup_stdio(c)?;
    // Before any path of the container is touched: no descriptor of the host
    // (a cgroup dir, the log, a pidfd) may be reachable through
    // /proc/self/fd (CVE-2024-21626). Only stdio, the fds passed on, the sync
    // socket, the trampoline, the start FIFO and the namespaces to join stay.
    let mut keep = vec![Some(c.sock), c.helper, c.fifo];
    if let Enter::NewRoot { ns_joins, .. } = c.enter {
        keep.extend(ns_joins.iter().map(|(_, fd)| Some(*fd)));
    }
    close_fds_except(&keep, c.launch.preserve_fds);
    let new_root = match c.enter {
        Enter::NewRoot { spec, ns_joins } => {
            enter_new_root(c, spec, ns_joins)?;
            Some(spec)
        }
        Enter::Joined => {
            if p.terminal {
                open_console(c.sock, p.console_size)?;
            }
            None
        }
    };
    set_rlimits(&p.rlimits)?;
    if let Some(adj) = p.oom_score_adj {
        fs::write("/proc/self/oom_score_adj", adj.to_string()).ctx(|| format!("set oom_score_adj {adj}"))?;
    }
    enter_workdir(&p.cwd, new_root.is_some())?;
    let (uid, gid) = (p.user.uid, p.user.gid);
    let env = with_home(&p.env, uid);
    if p.terminal && uid != 0 {
        tty::give_stdin_terminal_to(uid)?;
    }
    // A working directory reached through a leaked host fd would be outside our
    // root (CVE-2024-21626): the kernel then reports it as unreachable.
    match nix::unistd::getcwd() {
        Ok(cwd) if cwd.is_absolute() => {}
        _ => return Err(Error::invalid(format!("working directory {} is outside the container", p.cwd))),
    }
    // Found now, so a command that is not there fails `create`, as runc's.
    let candidates = find_command(&p.args[0], &env)?;
    // A filter whose notifications go to an agent is installed now, while
    // the creator is there to hand the listener on (as runc does); the
    // rest of the set-up must then pass it.
    let mut filter = c.filter;
    if let Some(plan) = filter
        && plan.listener.is_some()
    {
        if let Some(fd) = seccomp::install_with_flags(&plan.prog, plan.flags)? {
            message::send_with_fd(c.sock, &Msg::Seccomp, std::os::fd::AsRawFd::as_raw_fd(&fd))?;
        }
        filter = None;
    }
    message::send(c.sock, &Msg::Ready);
    wait_for_start(c)?;
    if let Some(spec) = new_root
        && let Some(h) = &spec.hooks
        && !h.start_container.is_empty()
    {
        let state = super::state_json(spec, c.launch, "created", std::process::id() as i32);
        super::run_hooks("startContainer", &h.start_container, &state)?;
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
    unsafe {
        libc::umask(p.user.umask.unwrap_or(0o022) as libc::mode_t);
    }
    confine(p, filter, uid, gid)?;
    // Tests widen the window between entering the container and exec, to show
    // nothing in the container can open this process meanwhile (debug builds only).
    if cfg!(debug_assertions)
        && let Some(ms) =
            std::env::var("MYDOCKER_TEST_EXEC_DELAY_MS").ok().and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    // Nothing the runtime holds may reach the command: every fd above those
    // passed on is close-on-exec.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3 + c.launch.preserve_fds, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
    }
    if c.launch.init && c.helper.is_none() {
        return Err(Error::invalid("--init needs the exec trampoline, which this host cannot load (memfd)"));
    }
    exec_in_path(&candidates, &p.args, &env, c.helper.map(|h| (h, c.sock)), c.launch.init)
}

/// A new container: its namespaces, its root (with the runtime's hooks in
/// between), pivot_root, hostname, loopback, terminal.
fn enter_new_root(c: &ChildSetup, spec: &Spec, ns_joins: &[(libc::c_int, RawFd)]) -> Result<()> {
    for (flag, fd) in ns_joins {
        if unsafe { libc::setns(*fd, *flag) } < 0 {
            return Err(Error::os(format!("join namespace {flag:#x}: {}", Errno::last().desc())));
        }
        unsafe {
            libc::close(*fd);
        }
    }
    // Made now that we are in our cgroup: its view becomes our root.
    if spec.namespaces().iter().any(|n| n.kind == "cgroup" && n.path.is_none()) {
        unsafe {
            libc::unshare(libc::CLONE_NEWCGROUP);
        }
    }
    if let Some(h) = spec.hostname.as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).ctx(|| format!("set hostname {h:?}"))?;
    }
    if let Some(d) = spec.domainname.as_deref().filter(|d| !d.is_empty()) {
        let r = unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) };
        if r < 0 {
            return Err(Error::os(format!("set domainname {d:?}: {}", Errno::last().desc())));
        }
    }
    let root = rootfs::root_path(spec, &c.launch.bundle);
    let cx = mounts::Context { bundle: &c.launch.bundle, cgroup: c.launch.cgroup.as_deref() };
    rootfs::prepare(&root, spec, &cx)?;
    if let Some(h) = &spec.hooks {
        if !h.prestart.is_empty() || !h.create_runtime.is_empty() {
            message::send(c.sock, &Msg::Hooks);
            match message::wait_for(c.sock) {
                Some(Msg::Go) => {}
                _ => unsafe { libc::_exit(1) },
            }
        }
        if !h.create_container.is_empty() {
            let state = super::state_json(spec, c.launch, "creating", std::process::id() as i32);
            super::run_hooks("createContainer", &h.create_container, &state)?;
        }
    }
    rootfs::pivot(&root)?;
    rootfs::finish(spec)?;
    if spec.namespaces().iter().any(|n| n.kind == "network" && n.path.is_none()) {
        network::loopback_up()?;
    }
    if c.process.terminal {
        open_console(c.sock, c.process.console_size)?;
        if spec.mounts.iter().any(|m| m.destination == "/dev") {
            tty::bind_console_to_stdin()?;
        }
    }
    Ok(())
}

/// Block until `start`: on the FIFO (OCI CLI: open for writing blocks until
/// `start` opens it for reading) or on the socket; EOF there means the
/// creator went away: never run the command.
fn wait_for_start(c: &ChildSetup) -> Result<()> {
    if let Some(fifo) = c.fifo {
        let path = CString::new(format!("/proc/self/fd/{fifo}")).map_err(|_| Error::os("fifo path"))?;
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(Error::os(format!("open the start FIFO: {}", Errno::last().desc())));
        }
        unsafe {
            libc::write(fd, b"0".as_ptr().cast(), 1);
            libc::close(fd);
            libc::close(fifo);
        }
        return Ok(());
    }
    match message::wait_for(c.sock) {
        Some(Msg::Start) => Ok(()),
        _ => unsafe { libc::_exit(1) },
    }
}

fn set_rlimits(rlimits: &[spec::Rlimit]) -> Result<()> {
    for r in rlimits {
        let res = spec::rlimit_resource(&r.kind)?;
        let lim = libc::rlimit { rlim_cur: r.soft, rlim_max: r.hard };
        if unsafe { libc::setrlimit(res as _, &lim) } < 0 {
            return Err(Error::os(format!(
                "set {} to soft {} hard {}: {}",
                r.kind,
                r.soft,
                r.hard,
                Errno::last().desc()
            )));
        }
    }
    Ok(())
}

/// `env` with `HOME` from the container's /etc/passwd for `uid` (`/`
/// without an entry), unless it already sets HOME.
fn with_home(env: &[String], uid: u32) -> Vec<String> {
    let mut env = env.to_vec();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let home = user::resolve(&uid.to_string()).map(|u| u.home).unwrap_or_else(|_| "/".into());
        env.push(format!("HOME={home}"));
    }
    env
}

/// Close every descriptor above stderr but `keep` and the `preserve` passed on (3..3+N).
fn close_fds_except(keep: &[Option<RawFd>], preserve: u32) {
    let mut keep: Vec<u32> = keep
        .iter()
        .flatten()
        .filter(|fd| **fd > 2)
        .map(|fd| *fd as u32)
        .filter(|fd| *fd >= 3 + preserve)
        .collect();
    keep.sort_unstable();
    let mut from = 3u32 + preserve;
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
        crate::runtime::inroot::mkdir_all(root, cwd, 0o755)
    } else {
        crate::runtime::inroot::open(root, cwd, libc::O_RDONLY | libc::O_DIRECTORY)
    }
    .map_err(outside)?;
    nix::unistd::fchdir(&dir).ctx(|| format!("working directory {cwd}"))
}

/// The last steps before exec, in the order the kernel allows: no_new_privs,
/// the seccomp filter (installing it needs CAP_SYS_ADMIN or no_new_privs),
/// then capabilities with the user switched in between (setuid from root
/// clears the effective set).
fn confine(p: &spec::Process, filter: Option<&super::SeccompPlan>, uid: u32, gid: u32) -> Result<()> {
    if p.no_new_privileges && unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } < 0 {
        return Err(Error::os(format!("set no_new_privs: {}", Errno::last().desc())));
    }
    if let Some(plan) = filter {
        seccomp::install_with_flags(&plan.prog, plan.flags)?;
    }
    let sets = caps::Sets::from_spec(p.capabilities.as_ref())?;
    let groups = &p.user.additional_gids;
    caps::apply(&sets, || {
        let mut gids: Vec<nix::unistd::Gid> = vec![nix::unistd::Gid::from_raw(gid)];
        gids.extend(groups.iter().filter(|g| **g != gid).map(|g| nix::unistd::Gid::from_raw(*g)));
        nix::unistd::setgroups(&gids).ctx(|| "setgroups")?;
        nix::unistd::setgid(nix::unistd::Gid::from_raw(gid)).ctx(|| format!("setgid {gid}"))?;
        nix::unistd::setuid(nix::unistd::Uid::from_raw(uid)).ctx(|| format!("setuid {uid}"))
    })
}

fn setup_stdio(c: &ChildSetup) -> Result<()> {
    unsafe {
        if c.process.terminal {
            return Ok(()); // open_console sets all three once inside the container
        }
        if !c.launch.stdin || c.launch.monitor.is_some() {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
            if null < 0 {
                return Err(Error::os("open /dev/null"));
            }
            libc::dup2(null, 0);
            libc::close(null);
        }
        if let Some(fd) = c.stdout {
            libc::dup2(fd, 1);
        }
        if let Some(fd) = c.stderr {
            libc::dup2(fd, 2);
        }
    }
    Ok(())
}

/// Where `cmd` may be, searched in the container's PATH like execvp: the
/// paths that exist, in order. None exists: "not found" (127).
fn find_command(cmd: &str, env: &[String]) -> Result<Vec<String>> {
    let candidates: Vec<String> = if cmd.contains('/') {
        vec![cmd.to_string()]
    } else {
        let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
        path.split(':').filter(|d| !d.is_empty()).map(|d| format!("{d}/{cmd}")).collect()
    };
    // From the first that exists on: exec tries them in order (one may not be executable).
    let first = candidates.iter().position(|c| fs::metadata(c).is_ok());
    let found: Vec<String> = first.map(|i| candidates[i..].to_vec()).unwrap_or_default();
    if found.is_empty() {
        let message = if cmd.contains('/') {
            format!("exec: \"{cmd}\": stat {cmd}: no such file or directory")
        } else {
            format!("exec: \"{cmd}\": executable file not found in $PATH")
        };
        return Err(Error::new(Kind::CommandNotFound, message));
    }
    Ok(found)
}

/// execve the first of `candidates` that runs, with errors sorted into "not
/// found" (127) and "not executable" (126). With `helper` (trampoline fd,
/// sync socket), the sealed trampoline does the same and reports errors
/// itself; this process's exec of it rarely fails.
fn exec_in_path(
    candidates: &[String],
    args: &[String],
    env: &[String],
    helper: Option<(RawFd, RawFd)>,
    as_init: bool,
) -> Result<std::convert::Infallible> {
    let to_c =
        |s: &str| CString::new(s).map_err(|_| Error::invalid(format!("argument contains a NUL byte: {s:?}")));
    let cargs = args.iter().map(|a| to_c(a)).collect::<Result<Vec<_>>>()?;
    let cenv = env.iter().map(|e| to_c(e)).collect::<Result<Vec<_>>>()?;
    if let Some((fd, sock)) = helper {
        let cands = candidates.iter().map(|c| to_c(c)).collect::<Result<Vec<_>>>()?;
        exec_helper::exec(fd, sock, &cands, &cargs, &cenv, as_init);
    }
    let mut denied = None;
    for cand in candidates {
        let c = to_c(cand)?;
        match nix::unistd::execve(&c, &cargs, &cenv) {
            Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => continue,
            Err(e @ (Errno::EACCES | Errno::EISDIR | Errno::ENOEXEC | Errno::EPERM)) => {
                denied.get_or_insert((cand.clone(), e));
            }
            Err(e) => return Err(Error::new(Kind::NotExecutable, format!("exec {cand}: {}", e.desc()))),
        }
    }
    Err(match denied {
        Some((path, e)) => Error::new(
            Kind::NotExecutable,
            format!("{path}: permission denied: not executable ({})", e.desc()),
        ),
        None => Error::new(
            Kind::CommandNotFound,
            format!("exec: \"{}\": executable file not found in $PATH", args[0]),
        ),
    })
}

/// Inside the container: a pty from the container's own devpts (so `tty` and
/// ttyname work there), made our controlling terminal and stdio; its master
/// goes to the creator over the sync socket.
fn open_console(sock: RawFd, size: Option<spec::ConsoleSize>) -> Result<()> {
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if master < 0 || libc::grantpt(master) < 0 || libc::unlockpt(master) < 0 {
            return Err(Error::os(format!("open /dev/ptmx in the container: {}", Errno::last().desc())));
        }
        let mut name = [0 as libc::c_char; 128];
        if libc::ptsname_r(master, name.as_mut_ptr(), name.len()) != 0 {
            return Err(Error::os("ptsname"));
        }
        if let Some(s) = size {
            let ws = libc::winsize { ws_row: s.height, ws_col: s.width, ws_xpixel: 0, ws_ypixel: 0 };
            libc::ioctl(master, libc::TIOCSWINSZ, &ws);
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
        message::send_with_fd(sock, &Msg::Pty, master)?;
        libc::close(master);
    }
    Ok(())
}
