//! A filesystem context of the new mount API (fsopen, fsconfig, fsmount):
//! options set one by one (no one-page limit on a mount's data, no comma
//! escaping), then a detached mount to attach where it belongs.

use nix::errno::Errno;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;

pub struct FsContext(OwnedFd);

fn cstr(s: &str) -> Result<CString, Errno> {
    CString::new(s).map_err(|_| Errno::EINVAL)
}

impl FsContext {
    /// A context for a new filesystem of type `fstype` (`overlay`, `tmpfs`…).
    pub fn open(fstype: &str) -> Result<FsContext, Errno> {
        let name = cstr(fstype)?;
        let fd = unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) };
        if fd < 0 {
            return Err(Errno::last());
        }
        Ok(FsContext(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }

    /// Option `key=value`, or the flag `key` when `value` is None.
    pub fn set(&self, key: &str, value: Option<&str>) -> Result<(), Errno> {
        let k = cstr(key)?;
        let v = value.map(cstr).transpose()?;
        let (cmd, vp) = match &v {
            Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
            None => (FSCONFIG_SET_FLAG, std::ptr::null()),
        };
        let r = unsafe { libc::syscall(libc::SYS_fsconfig, self.0.as_raw_fd(), cmd, k.as_ptr(), vp, 0) };
        if r < 0 { Err(Errno::last()) } else { Ok(()) }
    }

    /// Make the filesystem and a detached mount of it with `attrs`
    /// (`MOUNT_ATTR_*`), to attach with move_mount.
    pub fn mount(self, attrs: libc::c_uint) -> Result<OwnedFd, Errno> {
        let fs = self.0.as_raw_fd();
        let null = std::ptr::null::<u8>();
        if unsafe { libc::syscall(libc::SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, null, null, 0) } < 0 {
            return Err(Errno::last());
        }
        let m = unsafe { libc::syscall(libc::SYS_fsmount, fs, FSMOUNT_CLOEXEC, attrs) };
        if m < 0 {
            return Err(Errno::last());
        }
        Ok(unsafe { OwnedFd::from_raw_fd(m as i32) })
    }
}
