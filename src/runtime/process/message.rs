//! The messages between a new process and its creator, over the sync socket
//! (SOCK_SEQPACKET: one message per datagram). Typed here, so neither side
//! parses ad-hoc strings.

use crate::runtime::error::{Error, Kind, Result};
use nix::errno::Errno;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

#[derive(Debug)]
pub enum Msg {
    /// Monitor → creator: the init's pid.
    Pid(i32),
    /// Init → creator: namespaces and mounts are made; run the runtime's
    /// hooks (prestart, createRuntime), then answer `Go`.
    Hooks,
    Go,
    /// Init → creator, with the terminal's master as the fd.
    Pty,
    /// Init → creator, with the seccomp listener as the fd: for the agent at
    /// the spec's `listenerPath`.
    Seccomp,
    /// Init → creator: set up, waiting for `start`.
    Ready,
    /// Creator → init: exec the command.
    Start,
    Failed(Error),
}

impl Msg {
    fn encode(&self) -> String {
        match self {
            Msg::Pid(pid) => format!("pid {pid}"),
            Msg::Hooks => "hooks".into(),
            Msg::Go => "go".into(),
            Msg::Pty => "pty".into(),
            Msg::Seccomp => "seccomp".into(),
            Msg::Ready => "ready".into(),
            Msg::Start => "start".into(),
            Msg::Failed(e) => match e.errno {
                Some(n) => format!("err {}:{n}\t{}", e.kind.as_str(), e.message),
                None => format!("err {}\t{}", e.kind.as_str(), e.message),
            },
        }
    }

    fn decode(text: &str) -> Msg {
        match text {
            "hooks" => return Msg::Hooks,
            "go" => return Msg::Go,
            "pty" => return Msg::Pty,
            "seccomp" => return Msg::Seccomp,
            "ready" => return Msg::Ready,
            "start" => return Msg::Start,
            _ => {}
        }
        if let Some(pid) = text.strip_prefix("pid ").and_then(|p| p.parse().ok()) {
            return Msg::Pid(pid);
        }
        let body = text.strip_prefix("err ").unwrap_or(text);
        Msg::Failed(match body.split_once('\t') {
            Some((kind, message)) => match kind.split_once(':') {
                Some((kind, n)) => match n.parse() {
                    Ok(n) => Error::new(Kind::parse(kind), message).with_errno(n),
                    Err(_) => Error::new(Kind::parse(kind), message),
                },
                None => Error::new(Kind::parse(kind), message),
            },
            None => Error::os(format!("unexpected message from the container's process: {body}")),
        })
    }
}

/// Send `msg`; a creator that went away is no error for the sender.
pub fn send(fd: RawFd, msg: &Msg) {
    let text = msg.encode();
    unsafe {
        libc::send(fd, text.as_ptr().cast(), text.len(), libc::MSG_NOSIGNAL);
    }
}

/// Send `msg` with `fd` attached (SCM_RIGHTS).
pub fn send_with_fd(sock: RawFd, msg: &Msg, fd: RawFd) -> Result<()> {
    let text = msg.encode();
    let fds = [fd];
    let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
    let iov = [std::io::IoSlice::new(text.as_bytes())];
    nix::sys::socket::sendmsg::<()>(sock, &iov, &cmsg, nix::sys::socket::MsgFlags::MSG_NOSIGNAL, None)
        .map(|_| ())
        .map_err(|e| Error::os(format!("send a descriptor: {}", e.desc())))
}

/// One message and the fd it carries, if any; None at EOF (every copy of the
/// other end is closed).
pub fn recv(sock: &OwnedFd) -> Result<Option<(Msg, Option<OwnedFd>)>> {
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
                    return Ok(None);
                }
                return Ok(Some((Msg::decode(&String::from_utf8_lossy(&buf[..n])), fd)));
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::ECONNRESET) => return Ok(None),
            Err(e) => return Err(Error::os(format!("read from the container's process: {}", e.desc()))),
        }
    }
}

/// Block for one message, ignoring fds.
pub fn recv_msg(sock: &OwnedFd) -> Result<Option<Msg>> {
    Ok(recv(sock)?.map(|(m, _)| m))
}

/// The child's side: block until the creator sends something; EOF is None.
pub fn wait_for(sock: RawFd) -> Option<Msg> {
    let mut buf = [0u8; 256];
    loop {
        let n = unsafe { libc::recv(sock, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 && Errno::last() == Errno::EINTR {
            continue;
        }
        if n <= 0 {
            return None;
        }
        return Some(Msg::decode(&String::from_utf8_lossy(&buf[..n as usize])));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_cross_the_socket() {
        let (a, b) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::SeqPacket,
            None,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        )
        .expect("socketpair");
        send(a.as_raw_fd(), &Msg::Failed(Error::new(Kind::CommandNotFound, "x: not found")));
        send(a.as_raw_fd(), &Msg::Failed(Error::os("mount: busy").with_errno(libc::EBUSY)));
        send(a.as_raw_fd(), &Msg::Pid(42));
        send(a.as_raw_fd(), &Msg::Ready);
        match recv_msg(&b).expect("recv") {
            Some(Msg::Failed(e)) => {
                assert_eq!(e.kind, Kind::CommandNotFound);
                assert_eq!(e.message, "x: not found");
            }
            m => panic!("{m:?}"),
        }
        match recv_msg(&b).expect("recv") {
            Some(Msg::Failed(e)) => {
                assert_eq!((e.kind, e.errno), (Kind::Os, Some(libc::EBUSY)), "the errno crosses too")
            }
            m => panic!("{m:?}"),
        }
        assert!(matches!(recv_msg(&b).expect("recv"), Some(Msg::Pid(42))));
        assert!(matches!(wait_for(b.as_raw_fd()), Some(Msg::Ready)));
        drop(a);
        assert!(recv_msg(&b).expect("eof").is_none());
    }
}
