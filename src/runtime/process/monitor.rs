//! The monitor of a detached Docker-style container: a process in its own
//! session that is the init's parent, writes its output to the log (from a
//! pipe, so it can rotate it), waits for it and records its exit in the state
//! store. It re-execs (the tiny `mydocker-monitor`, or this binary's
//! `__monitor`) right after cloning the init, so it keeps none of the CLI's
//! memory. The OCI CLI has none: its callers (conmon, containerd's shim) are
//! the monitors.

use super::ChildSetup;
use super::clone::clone_child;
use super::message::{self, Msg};
use crate::runtime::error::{Context, Error, Result};
use crate::runtime::state::Store;
use nix::sys::wait::waitpid;
use serde::Deserialize;
use std::ffi::CString;
use std::fs;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
pub struct MonitorSpec {
    pub state_root: PathBuf,
    pub data_root: PathBuf,
    pub name: String,
    /// `--rm`: when the container ends, the monitor runs `mydocker rm -f NAME`.
    #[serde(default)]
    pub auto_remove: bool,
}

/// The monitor: double-fork so it belongs to no CLI, clone the init, report its
/// pid, then become `mydocker __monitor` and wait.
pub(super) fn spawn(child: &mut ChildSetup, mon: &MonitorSpec, flags: libc::c_int) -> Result<i32> {
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
                    monitor_main(child, mon, flags)
                }
                Err(_) => 1,
            };
            unsafe { libc::_exit(code) }
        }
    }
}

fn monitor_main(child: &mut ChildSetup, mon: &MonitorSpec, flags: libc::c_int) -> ! {
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
    // A terminal's master is served to `attach` from a socket bound before the
    // init exists (the creator hands the master over through it).
    let attach = if child.process.terminal {
        match crate::runtime::attach::listen(&crate::runtime::attach::socket_path(&child.launch.bundle)) {
            Ok(l) => Some(l),
            Err(e) => {
                message::send(child.sock, &Msg::Failed(e));
                unsafe { libc::_exit(1) }
            }
        }
    } else {
        None
    };
    // The container writes into a pipe per stream and we write its log: a
    // record per line, with its stream, capped and rotated.
    let mut relay: Option<([RawFd; 2], RawFd)> = None;
    if let Some(file) = child.log
        && attach.is_none()
    {
        let (mut out, mut err) = ([0; 2], [0; 2]);
        if unsafe { libc::pipe2(out.as_mut_ptr(), libc::O_CLOEXEC) } == 0 {
            if unsafe { libc::pipe2(err.as_mut_ptr(), libc::O_CLOEXEC) } == 0 {
                child.stdout = Some(out[1]);
                child.stderr = Some(err[1]);
                relay = Some(([out[0], err[0]], file));
            } else {
                unsafe { libc::close(out[0]) };
                unsafe { libc::close(out[1]) };
            }
        }
    }
    let pid = match clone_child(child, flags) {
        Ok(pid) => pid,
        Err(e) => {
            message::send(child.sock, &Msg::Failed(e));
            unsafe { libc::_exit(1) }
        }
    };
    message::send(child.sock, &Msg::Pid(pid));
    unsafe {
        libc::close(child.sock);
        libc::close(child.parent_sock);
        // The write ends are the container's.
        for fd in [child.stdout, child.stderr].into_iter().flatten() {
            libc::close(fd);
        }
        if let Some((pipes, file)) = relay {
            libc::fcntl(pipes[0], libc::F_SETFD, 0);
            libc::fcntl(pipes[1], libc::F_SETFD, 0);
            libc::fcntl(file, libc::F_SETFD, 0);
        }
    }
    if let Some(listener) = attach {
        tty_monitor(child, mon, pid, listener);
    }
    // Re-exec so the monitor keeps none of the CLI's memory; the init stays our
    // child. The tiny static `mydocker-monitor` beside us is preferred; this
    // binary's own `__monitor` mode is the fallback.
    let dash = || "-".to_string();
    let (max_size, max_file) = log_cap(child.launch);
    let mut tail = match (relay, &child.launch.log) {
        (Some((pipes, file)), Some(path)) => vec![
            pipes[0].to_string(),
            pipes[1].to_string(),
            file.to_string(),
            max_size.to_string(),
            max_file.to_string(),
            path.display().to_string(),
        ],
        _ => vec![dash(), dash(), dash(), dash(), dash(), dash()],
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
    let log = relay.zip(child.launch.log.as_ref()).map(|((pipes, file), path)| MonitorLog {
        pipes,
        file,
        path: path.clone(),
        max_size,
        max_file,
    });
    let code = run_monitor(&mon.state_root, &mon.data_root, &mon.name, pid, mon.auto_remove, log);
    unsafe { libc::_exit(code) }
}

/// The monitor of a container with a terminal: re-exec as `__monitor-tty PID
/// LISTEN_FD LOG_FD MAX_SIZE MAX_FILE LOG_PATH STDIN STATE_ROOT DATA_ROOT NAME
/// [--rm]` (`runtime::attach::serve`), else serve from here.
fn tty_monitor(
    child: &mut ChildSetup,
    mon: &MonitorSpec,
    pid: i32,
    listener: std::os::unix::net::UnixListener,
) -> ! {
    use std::os::fd::AsRawFd;
    let lfd = listener.as_raw_fd();
    let log = child.log.unwrap_or(-1);
    unsafe {
        libc::fcntl(lfd, libc::F_SETFD, 0);
        if log >= 0 {
            libc::fcntl(log, libc::F_SETFD, 0);
        }
    }
    let path = child.launch.log.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "-".into());
    let (max_size, max_file) = log_cap(child.launch);
    let mut argv = vec![
        "mydocker".to_string(),
        "__monitor-tty".into(),
        pid.to_string(),
        lfd.to_string(),
        log.to_string(),
        max_size.to_string(),
        max_file.to_string(),
        path,
        // Typing allowed (-i), and the socket to remove at the end.
        format!(
            "{}:{}",
            u8::from(child.launch.stdin),
            crate::runtime::attach::socket_path(&child.launch.bundle).display()
        ),
        mon.state_root.display().to_string(),
        mon.data_root.display().to_string(),
        mon.name.clone(),
    ];
    if mon.auto_remove {
        argv.push("--rm".into());
    }
    if let Ok(cargs) =
        argv.iter().map(|a| CString::new(a.as_str())).collect::<std::result::Result<Vec<_>, _>>()
    {
        let _ = nix::unistd::execv(c"/proc/self/exe", &cargs);
    }
    let code = run_tty_monitor(&argv[2..]);
    unsafe { libc::_exit(code) }
}

/// `__monitor-tty`'s job (arguments as `tty_monitor` passes them): serve the
/// terminal until the init ends, then record its exit.
pub fn run_tty_monitor(args: &[String]) -> i32 {
    use std::os::fd::FromRawFd;
    let num = |i: usize| args.get(i).and_then(|a| a.parse::<i64>().ok());
    let (Some(pid), Some(lfd), Some(log), Some(max_size), Some(max_file)) =
        (num(0), num(1), num(2), num(3), num(4))
    else {
        return 2;
    };
    let (Some(path), Some(stdin), Some(state), Some(data), Some(name)) =
        (args.get(5), args.get(6), args.get(7), args.get(8), args.get(9))
    else {
        return 2;
    };
    let rm = args.get(10).map(String::as_str) == Some("--rm");
    let listener = unsafe { std::os::unix::net::UnixListener::from_raw_fd(lfd as RawFd) };
    let log = (log >= 0).then(|| {
        let file = unsafe { fs::File::from_raw_fd(log as RawFd) };
        crate::runtime::log_relay::LogFile::new(
            file,
            std::path::Path::new(path),
            max_size as u64,
            max_file as u64,
        )
    });
    let (typing, socket) = stdin.split_once(':').unwrap_or((stdin.as_str(), ""));
    let code = crate::runtime::attach::serve(pid as i32, listener, log, typing == "1");
    if !socket.is_empty() {
        let _ = fs::remove_file(socket);
    }
    record_exit(state.as_ref(), data.as_ref(), name, code, rm)
}

/// The log's max-size (none: no cap) and max-file.
fn log_cap(launch: &super::Launch) -> (u64, u64) {
    (launch.log_max_size.unwrap_or(u64::MAX), launch.log_max_file.unwrap_or(1).max(1))
}

/// The log a monitor relays: the pipes the container writes (stdout,
/// stderr), the open log file.
pub struct MonitorLog {
    pub pipes: [RawFd; 2],
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
        let (out, err, file) = unsafe {
            (
                OwnedFd::from_raw_fd(l.pipes[0]),
                OwnedFd::from_raw_fd(l.pipes[1]),
                fs::File::from_raw_fd(l.file),
            )
        };
        let mut log = crate::runtime::log_relay::LogFile::new(file, &l.path, l.max_size, l.max_file);
        crate::runtime::log_relay::relay(out, err, &mut log);
    }
    let code = crate::runtime::host_process::reap(pid);
    record_exit(state_root, data_root, name, code, auto_remove)
}

/// After the init ended with `code`: record it, and with `--rm` become
/// `mydocker rm -f NAME`; with a restart policy, `mydocker on-exit NAME`.
pub fn record_exit(
    state_root: &std::path::Path,
    data_root: &std::path::Path,
    name: &str,
    code: i32,
    auto_remove: bool,
) -> i32 {
    let store = Store::new(state_root);
    // `name` may be the container's id, which a `rename` keeps; a rename in
    // progress can hide it for a moment: look again.
    let mut recorded = Err(crate::runtime::error::Error::not_found(format!("no such container: {name}")));
    for _ in 0..3 {
        recorded = store.resolve(name).and_then(|n| store.record_exit(&n, code));
        if recorded.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (id, policy, manual_restart, current) = match recorded {
        Ok(rec) => (
            rec.get("id").and_then(|v| v.as_str()).map(str::to_string),
            has_restart_policy(&rec),
            rec.get("manual_restart").and_then(|v| v.as_bool()).unwrap_or(false),
            rec.get("name").and_then(|v| v.as_str()).unwrap_or(name).to_string(),
        ),
        Err(e) => {
            log::warn!("monitor: recording the exit of {name}: {e}");
            (None, false, false, name.to_string())
        }
    };
    // `restart` of a --rm container: it is started again, not removed.
    let auto_remove = auto_remove && !manual_restart;
    let name = current.as_str();
    // An ended container holds no mount (as with Docker): its files stay in the
    // layer and `start`/`restart` mount it again; `rm` need not pay the
    // unmount's sync of the host filesystem. A --rm container goes entirely.
    if !auto_remove
        && let Some(id) = id
        && let Err(e) = crate::runtime::overlay::unmount_layer(data_root, &id)
    {
        log::warn!("monitor: unmounting the root of {name}: {e}");
    }
    // A restart policy is the `on-exit` script's to carry out (only then is
    // the script engine started: an exit without one costs nothing more).
    let verb: &[&str] = if auto_remove {
        &["rm", "-f"]
    } else if policy {
        &["on-exit"]
    } else {
        &[]
    };
    if !verb.is_empty() {
        let root = state_root.display().to_string();
        let data = data_root.display().to_string();
        let mut args = vec!["mydocker", "--root", &root, "--data-root", &data];
        args.extend_from_slice(verb);
        args.push(name);
        if let Ok(cargs) = args.iter().map(|a| CString::new(*a)).collect::<std::result::Result<Vec<_>, _>>() {
            let _ = nix::unistd::execv(c"/proc/self/exe", &cargs);
        }
        return 1;
    }
    0
}

/// Does the record carry a restart policy other than `no` (`run --restart`)?
fn has_restart_policy(rec: &crate::runtime::state::Record) -> bool {
    rec.get("restart").and_then(|p| p.get("name")).and_then(|n| n.as_str()).is_some_and(|n| n != "no")
}
