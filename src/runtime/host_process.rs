//! The host's view of any process: liveness by start time (a reused pid is
//! another process), pidfds, signals that never reach a stranger, waiting and
//! reaping. Used by the runtime, the monitor and the scripts alike.

use super::error::{Error, Kind, Result};
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

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
        super::sys::check_interrupt()?;
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
}
