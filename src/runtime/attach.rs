//! A detached container with a terminal (`run -dit`), and `attach`.
//!
//! The container's monitor holds the terminal's master: it writes what the
//! container prints to the log, and serves `attach.sock` in the container's
//! state directory. The creator hands it the master through that socket (the
//! OCI console-socket message), then each `attach` connects, says `attach`,
//! and gets the master itself (to type into and resize) plus, from then on,
//! a copy of the output. Ctrl-P Ctrl-Q in `attach` detaches: the container
//! runs on. This monitor is mydocker's own binary (`__monitor-tty`): a
//! terminal container costs the host that much more than the tiny monitor.

use super::error::{Error, Result};
use super::log_relay::LogFile;
use super::tty;
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

/// What an `attach` client says first (the creator's message carries a fd instead).
const HELLO: &[u8] = b"attach";

/// The socket a detached terminal is attached through.
pub fn socket_path(state_dir: &Path) -> std::path::PathBuf {
    state_dir.join("attach.sock")
}

/// Bind the attach socket (owner-only) before the container exists.
pub fn listen(path: &Path) -> Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path).map_err(|e| Error::os(format!("bind {}: {e}", path.display())))?;
    let _ = std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600));
    Ok(l)
}

/// One message and the fd it may carry.
fn recv_with_fd(sock: RawFd, buf: &mut [u8]) -> Result<(usize, Option<OwnedFd>)> {
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(|e| Error::os(format!("recvmsg: {}", e.desc())))?;
    let mut fd = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for (i, f) in fds.into_iter().enumerate() {
                    let owned = unsafe { OwnedFd::from_raw_fd(f) };
                    if i == 0 && fd.is_none() {
                        fd = Some(owned);
                    }
                }
            }
        }
    }
    Ok((msg.bytes, fd))
}

/// The monitor's loop: until the init (our child `pid`) ends, copy the
/// terminal to the log and to every attached client, and take new clients.
/// `stdin`: whether clients may type (`-i`). Returns the init's exit code.
pub fn serve(pid: i32, listener: UnixListener, mut log: Option<LogFile>, stdin: bool) -> i32 {
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as RawFd;
    let mut master: Option<OwnedFd> = None;
    let mut clients: Vec<UnixStream> = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let lfd = listener.as_raw_fd();
    let code = loop {
        let mut fds = vec![libc::pollfd { fd: lfd, events: libc::POLLIN, revents: 0 }];
        if pidfd >= 0 {
            fds.push(libc::pollfd { fd: pidfd, events: libc::POLLIN, revents: 0 });
        }
        if let Some(m) = &master {
            fds.push(libc::pollfd { fd: m.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        }
        let timeout = if pidfd >= 0 { -1 } else { 200 };
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if r < 0 && nix::errno::Errno::last() != nix::errno::Errno::EINTR {
            break super::host_process::reap(pid);
        }
        if let Ok(Some(code)) = super::host_process::try_reap(pid) {
            if let Some(m) = &master {
                pump(m.as_raw_fd(), &mut buf, &mut log, &mut clients, true);
            }
            break code;
        }
        for p in &fds {
            if p.revents == 0 {
                continue;
            }
            if p.fd == lfd {
                if let Ok((conn, _)) = listener.accept() {
                    accept(conn, &mut master, &mut clients, stdin);
                }
            } else if master.as_ref().is_some_and(|m| m.as_raw_fd() == p.fd) {
                let open = master
                    .as_ref()
                    .is_some_and(|m| pump(m.as_raw_fd(), &mut buf, &mut log, &mut clients, false));
                if !open {
                    // Every slave closed (a hangup): the init is ending; keep the fd, stop polling it.
                    master = None;
                }
            }
        }
    };
    if pidfd >= 0 {
        unsafe { libc::close(pidfd) };
    }
    // Clients see the end of the stream and read the exit code from the record.
    drop(clients);
    code
}

/// A new connection: the creator handing over the master, or a client.
fn accept(conn: UnixStream, master: &mut Option<OwnedFd>, clients: &mut Vec<UnixStream>, stdin: bool) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let mut hello = [0u8; 64];
    let Ok((n, fd)) = recv_with_fd(conn.as_raw_fd(), &mut hello) else { return };
    match fd {
        Some(fd) if master.is_none() => *master = Some(fd),
        None if &hello[..n] == HELLO => {
            let Some(m) = master.as_ref() else { return };
            let mode = if stdin { b"i" } else { b"o" };
            let fds = [m.as_raw_fd()];
            let ok = sendmsg::<()>(
                conn.as_raw_fd(),
                &[IoSlice::new(mode)],
                &[ControlMessage::ScmRights(&fds)],
                MsgFlags::empty(),
                None,
            );
            if ok.is_ok() && conn.set_nonblocking(true).is_ok() {
                clients.push(conn);
            }
        }
        _ => {}
    }
}

/// Copy what the terminal has to the log and the clients; false at its end.
/// A client that cannot take the output now misses it (the container never
/// waits for a slow reader); one that went away is dropped.
fn pump(
    m: RawFd,
    buf: &mut [u8],
    log: &mut Option<LogFile>,
    clients: &mut Vec<UnixStream>,
    drain: bool,
) -> bool {
    if drain {
        unsafe {
            let flags = libc::fcntl(m, libc::F_GETFL);
            libc::fcntl(m, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
    loop {
        let n = unsafe { libc::read(m, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            let e = nix::errno::Errno::last();
            return n < 0 && (e == nix::errno::Errno::EINTR || e == nix::errno::Errno::EAGAIN);
        }
        let data = &buf[..n as usize];
        if let Some(l) = log {
            // A terminal has one stream: what it shows.
            l.write(super::log_split::Stream::Stdout, data);
        }
        clients.retain_mut(|c| {
            use std::io::Write;
            match c.write_all(data) {
                Ok(()) => true,
                Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
            }
        });
        if !drain {
            return true;
        }
    }
}

/// How an attach ended.
#[derive(Debug, PartialEq)]
pub enum Ended {
    /// Ctrl-P Ctrl-Q: the container runs on.
    Detached,
    /// The container's terminal closed: it ended.
    Closed,
}

/// `attach`: connect to the socket at `path`, relay our terminal to the
/// container's until it ends or the detach keys are typed.
pub fn attach(path: &Path) -> Result<Ended> {
    let conn = UnixStream::connect(path).map_err(|e| {
        Error::os(format!("attach: {e}: the container has no terminal to attach to (run -t -d), or it ended"))
    })?;
    sendmsg::<()>(conn.as_raw_fd(), &[IoSlice::new(HELLO)], &[], MsgFlags::empty(), None)
        .map_err(|e| Error::os(format!("attach: {}", e.desc())))?;
    let mut mode = [0u8; 8];
    let (n, master) = recv_with_fd(conn.as_raw_fd(), &mut mode)?;
    let Some(master) = master else {
        return Err(Error::os("attach: the container's monitor sent no terminal"));
    };
    let typing = n == 1 && mode[0] == b'i';
    let m = master.as_raw_fd();
    let mut last_size = tty::winsize(0);
    if let Some(ws) = &last_size {
        tty::set_winsize(m, ws);
    }
    let _raw = if tty::isatty(0) { Some(tty::RawMode::enter(0)?) } else { None };
    let mut buf = vec![0u8; 16 * 1024];
    // A Ctrl-P waits to see whether Ctrl-Q follows.
    let mut held_ctrl_p = false;
    let mut stdin_open = true;
    let c = conn.as_raw_fd();
    loop {
        let mut fds = vec![libc::pollfd { fd: c, events: libc::POLLIN, revents: 0 }];
        if stdin_open {
            fds.push(libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 });
        }
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 250) };
        if r < 0 && nix::errno::Errno::last() != nix::errno::Errno::EINTR {
            return Err(Error::os(format!("poll: {}", nix::errno::Errno::last().desc())));
        }
        // A resized terminal is passed on (polled: no signal handler needed).
        let now = tty::winsize(0);
        if let Some(ws) = &now
            && last_size.as_ref().is_none_or(|l| l.ws_row != ws.ws_row || l.ws_col != ws.ws_col)
        {
            tty::set_winsize(m, ws);
            last_size = now;
        }
        if fds[0].revents != 0 {
            let n = unsafe { libc::read(c, buf.as_mut_ptr().cast(), buf.len()) };
            if n == 0 || (n < 0 && nix::errno::Errno::last() != nix::errno::Errno::EINTR) {
                return Ok(Ended::Closed);
            }
            if n > 0 && !tty::write_all(1, &buf[..n as usize]) {
                return Ok(Ended::Closed);
            }
        }
        if fds.len() > 1 && fds[1].revents != 0 {
            let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                stdin_open = n < 0 && nix::errno::Errno::last() == nix::errno::Errno::EINTR;
                continue;
            }
            let mut out = Vec::with_capacity(n as usize + 1);
            for &b in &buf[..n as usize] {
                if held_ctrl_p {
                    held_ctrl_p = false;
                    if b == 0x11 {
                        return Ok(Ended::Detached);
                    }
                    out.push(0x10);
                }
                if b == 0x10 {
                    held_ctrl_p = true;
                } else {
                    out.push(b);
                }
            }
            if typing && !out.is_empty() {
                tty::write_all(m, &out);
            }
        }
    }
}
