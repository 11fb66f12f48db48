//! Terminals: the pseudo-terminal a `-t` container gets, and the foreground
//! loop that relays it and forwards signals until the container's init ends.

use super::error::{Context, Error, Result};
use super::host_process::try_reap;
use super::log_relay::{LogFile, read_some};
use super::log_split::Stream;
use super::process::ForegroundLog;
use nix::errno::Errno;
use nix::sys::signal::SigSet;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

pub(crate) fn winsize(fd: RawFd) -> Option<libc::winsize> {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    (unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0).then_some(ws)
}

/// The terminal's width in columns on `fd`, if it is one.
pub fn columns(fd: RawFd) -> Option<usize> {
    winsize(fd).map(|ws| ws.ws_col as usize).filter(|c| *c > 0)
}

pub(crate) fn set_winsize(fd: RawFd, ws: &libc::winsize) {
    unsafe {
        libc::ioctl(fd, libc::TIOCSWINSZ, ws);
    }
}

pub fn isatty(fd: RawFd) -> bool {
    unsafe { libc::isatty(fd) == 1 }
}

/// Print `text` to stderr and read a line from stdin; with `echo` false and
/// stdin a terminal, what is typed is not shown (a password). The line's end
/// is not part of the answer.
pub fn prompt(text: &str, echo: bool) -> Result<String> {
    use std::io::{BufRead, Write};
    eprint!("{text}");
    let _ = std::io::stderr().flush();
    let stdin = std::io::stdin();
    let fd = unsafe { BorrowedFd::borrow_raw(0) };
    let saved = if !echo && isatty(0) { termios::tcgetattr(fd).ok() } else { None };
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_flags.remove(termios::LocalFlags::ECHO);
        let _ = termios::tcsetattr(fd, SetArg::TCSANOW, &quiet);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(t) = &saved {
        let _ = termios::tcsetattr(fd, SetArg::TCSANOW, t);
        eprintln!();
    }
    read.ctx(|| "read stdin")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Give terminal `to` the window size of terminal `from`, if it has one.
pub fn copy_winsize(from: RawFd, to: RawFd) {
    if let Some(ws) = winsize(from) {
        set_winsize(to, &ws);
    }
}

/// In a new container, after pivot_root, with its terminal on stdin: bind that
/// terminal onto /dev/console (a file made in the /dev tmpfs), as runc does.
pub fn bind_console_to_stdin() -> Result<()> {
    let mut name = [0 as libc::c_char; 128];
    if unsafe { libc::ttyname_r(0, name.as_mut_ptr(), name.len()) } != 0 {
        return Err(Error::os("the container's terminal has no name"));
    }
    let slave = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }.to_string_lossy().into_owned();
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/dev/console")
        .ctx(|| "create /dev/console")?;
    nix::mount::mount(
        Some(slave.as_str()),
        "/dev/console",
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .ctx(|| format!("bind {slave} on /dev/console"))
}

/// Give the terminal on stdin to `uid` (its group stays tty), so a `-u USER`
/// process owns its terminal as under Docker.
pub fn give_stdin_terminal_to(uid: u32) -> Result<()> {
    if unsafe { libc::fchown(0, uid, u32::MAX) } < 0 {
        return Err(Error::os(format!("give the terminal to uid {uid}: {}", Errno::last().desc())));
    }
    Ok(())
}

/// Puts a terminal in raw mode and restores it when dropped.
pub(crate) struct RawMode {
    fd: RawFd,
    saved: Termios,
}

impl RawMode {
    pub(crate) fn enter(fd: RawFd) -> Result<RawMode> {
        let bfd = unsafe { BorrowedFd::borrow_raw(fd) };
        let saved = termios::tcgetattr(bfd).ctx(|| "read terminal settings")?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(bfd, SetArg::TCSANOW, &raw).ctx(|| "set raw mode")?;
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let bfd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let _ = termios::tcsetattr(bfd, SetArg::TCSANOW, &self.saved);
    }
}

pub(crate) fn write_all(fd: RawFd, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            return false;
        }
        data = &data[n as usize..];
    }
    true
}

/// Copy what `fd` has to our `to` (1 or 2) and to the log as `stream`; false
/// at its end. `drain`: until nothing is left (the init ended).
fn pump(
    fd: RawFd,
    to: RawFd,
    stream: Stream,
    buf: &mut [u8],
    log: &mut Option<LogFile>,
    drain: bool,
) -> bool {
    if drain {
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
    loop {
        let n = match read_some(fd, buf) {
            None => return !drain,
            Some(0) => return false,
            Some(n) => n,
        };
        if let Some(l) = log {
            l.write(stream, &buf[..n]);
        }
        // Our stdout gone (`| head`): stop reading, so the container's next write fails as it would have.
        if !write_all(to, &buf[..n]) {
            return false;
        }
        if !drain {
            return true;
        }
    }
}

/// Wait for our child `pid` to end while relaying its terminal (if `master`) and
/// forwarding every signal in `signals` except SIGCHLD and SIGWINCH, which we handle.
/// With `log`, what it prints is also logged: the terminal's output, or its
/// stdout and stderr pipes, each copied to ours.
/// The signals must already be blocked. Returns the exit code (128+N for signal N).
pub fn relay_until_exit(
    pid: i32,
    master: Option<OwnedFd>,
    signals: &SigSet,
    log: Option<ForegroundLog>,
) -> Result<i32> {
    let sfd =
        SignalFd::with_flags(signals, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ctx(|| "signalfd")?;
    let _raw = match &master {
        Some(_) if isatty(0) => Some(RawMode::enter(0)?),
        _ => None,
    };
    let (mut log, pipes) = match log {
        Some(l) => (Some(l.file), l.pipes),
        None => (None, None),
    };
    let [out, err] = pipes.map_or([None, None], |[o, e]| [Some(o), Some(e)]);
    let mut outputs = [(out, 1, Stream::Stdout), (err, 2, Stream::Stderr)];
    let mut master_open = master.is_some();
    let mut stdin_open = master.is_some();
    let mfd = master.as_ref().map(|m| m.as_raw_fd()).unwrap_or(-1);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if let Some(code) = try_reap(pid)? {
            if master_open {
                pump(mfd, 1, Stream::Stdout, &mut buf, &mut log, true);
            }
            for (fd, to, stream) in &outputs {
                if let Some(fd) = fd {
                    pump(fd.as_raw_fd(), *to, *stream, &mut buf, &mut log, true);
                }
            }
            return Ok(code);
        }
        let mut fds = vec![libc::pollfd { fd: sfd.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        if master_open {
            fds.push(libc::pollfd { fd: mfd, events: libc::POLLIN, revents: 0 });
        }
        if stdin_open {
            fds.push(libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 });
        }
        for (fd, _, _) in &outputs {
            if let Some(fd) = fd {
                fds.push(libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            }
        }
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            return Err(Error::os(format!("poll: {}", Errno::last().desc())));
        }
        for p in &fds {
            if p.revents == 0 {
                continue;
            }
            if p.fd == sfd.as_raw_fd() {
                while let Ok(Some(info)) = sfd.read_signal() {
                    let sig = info.ssi_signo as i32;
                    match sig {
                        libc::SIGCHLD => {}
                        libc::SIGWINCH => {
                            if let (true, Some(ws)) = (master_open, winsize(0)) {
                                set_winsize(mfd, &ws);
                            }
                        }
                        _ => unsafe {
                            libc::kill(pid, sig);
                        },
                    }
                }
            } else if p.fd == mfd {
                if !pump(mfd, 1, Stream::Stdout, &mut buf, &mut log, false) {
                    master_open = false;
                }
            } else if p.fd == 0 {
                let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    if n == 0 || Errno::last() != Errno::EINTR {
                        // Our stdin ended: pass EOF on to the terminal's reader.
                        stdin_open = false;
                        let _ = write_all(mfd, &[4]);
                    }
                } else if !write_all(mfd, &buf[..n as usize]) {
                    stdin_open = false;
                }
            } else {
                for (fd, to, stream) in outputs.iter_mut() {
                    if fd.as_ref().is_some_and(|f| f.as_raw_fd() == p.fd)
                        && !pump(p.fd, *to, *stream, &mut buf, &mut log, false)
                    {
                        *fd = None;
                    }
                }
            }
        }
    }
}

/// The OCI CLI's `--console-socket`: connect to the caller's socket and send
/// it the terminal's master with one message (the pty's name, one fd), as
/// runc does; conmon and containerd's shim relay it from there.
pub fn send_to_console_socket(path: &std::path::Path, master: RawFd) -> Result<()> {
    use nix::sys::socket::{
        AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr, connect, sendmsg, socket,
    };
    let sock = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| Error::os(format!("console socket: {}", e.desc())))?;
    let addr = UnixAddr::new(path)
        .map_err(|e| Error::invalid(format!("console socket {}: {}", path.display(), e.desc())))?;
    connect(std::os::fd::AsRawFd::as_raw_fd(&sock), &addr)
        .map_err(|e| Error::os(format!("connect to the console socket {}: {}", path.display(), e.desc())))?;
    let name = pty_name(master).unwrap_or_else(|| "/dev/ptmx".into());
    let fds = [master];
    let iov = [std::io::IoSlice::new(name.as_bytes())];
    sendmsg::<()>(
        std::os::fd::AsRawFd::as_raw_fd(&sock),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| Error::os(format!("send the terminal to {}: {}", path.display(), e.desc())))?;
    Ok(())
}

fn pty_name(master: RawFd) -> Option<String> {
    let mut name = [0 as libc::c_char; 128];
    if unsafe { libc::ptsname_r(master, name.as_mut_ptr(), name.len()) } != 0 {
        return None;
    }
    Some(unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }.to_string_lossy().into_owned())
}
