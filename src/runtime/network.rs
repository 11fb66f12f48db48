//! The container's network namespace. No networking yet beyond loopback,
//! which is up in every container (as Docker and Podman have it), so that
//! programs can bind and connect to 127.0.0.1 and ::1.

use super::error::{Error, Result};
use nix::errno::Errno;

/// Bring `lo` up in the calling process's network namespace (needs
/// CAP_NET_ADMIN there): one ioctl on a datagram socket, no netlink and no
/// `ip` binary. The kernel adds 127.0.0.1/8 and ::1 itself when lo goes up.
pub fn loopback_up() -> Result<()> {
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::os(format!("socket for the loopback interface: {}", Errno::last().desc())));
    }
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    let result = unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            Err(Errno::last())
        } else {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) < 0 { Err(Errno::last()) } else { Ok(()) }
        }
    };
    unsafe {
        libc::close(fd);
    }
    result.map_err(|e| Error::os(format!("bring the loopback interface up: {}", e.desc())))
}
