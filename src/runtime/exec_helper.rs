//! The exec trampoline (CVE-2019-5736): the container's command is exec'd by a
//! sealed in-memory copy of the tiny `mydocker-monitor` program (compiled by
//! build.rs and embedded here), run as `mydocker-exec` (see
//! src/bin/mydocker-monitor.rs), not by mydocker itself.
//!
//! A file in the container whose interpreter is `/proc/self/exe` runs the
//! binary of the process that execs it. Were that the host's mydocker, the
//! container could open it through /proc/PID/exe in the instant before the new
//! process makes itself non-dumpable, and overwrite it once no process runs it.
//! With the trampoline, /proc/self/exe is a memfd sealed against writes: there
//! is no host file to reach. Costs one exec of a 2 KiB static binary.

/// src/bin/mydocker-monitor.rs, built by build.rs.
const HELPER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/mydocker-exec"));

use super::error::{Error, Result};
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A sealed memfd holding the helper; close-on-exec, so it reaches nothing but
/// the `execveat` that runs it.
pub fn load() -> Result<OwnedFd> {
    sealed_copy(HELPER)
}

fn sealed_copy(bytes: &[u8]) -> Result<OwnedFd> {
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // MFD_EXEC (Linux 6.3) keeps the copy executable where vm.memfd_noexec
    // would otherwise forbid it; older kernels reject the flag.
    let mut fd = unsafe { libc::memfd_create(c"mydocker-exec".as_ptr(), flags | libc::MFD_EXEC) };
    if fd < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        fd = unsafe { libc::memfd_create(c"mydocker-exec".as_ptr(), flags) };
    }
    if fd < 0 {
        return Err(Error::os(format!("memfd_create: {}", std::io::Error::last_os_error())));
    }
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    std::fs::File::from(fd.try_clone().map_err(|e| Error::os(format!("dup: {e}")))?)
        .write_all(bytes)
        .map_err(|e| Error::os(format!("write memfd: {e}")))?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(Error::os(format!("seal memfd: {}", std::io::Error::last_os_error())));
    }
    Ok(fd)
}

/// In the container, as the last step: exec the helper with the PATH
/// `candidates` for `args[0]`; it reports failure over `sock`. `as_init`: it
/// stays as PID 1 and forks the command (`run --init`). Returns only if the
/// helper itself could not be exec'd (the caller then execs directly).
pub fn exec(
    helper: RawFd,
    sock: RawFd,
    candidates: &[CString],
    args: &[CString],
    env: &[CString],
    as_init: bool,
) {
    let role = if as_init { c"mydocker-init" } else { c"mydocker-exec" };
    let head = [role.to_owned(), num(sock), num(candidates.len() as i32)];
    let argv: Vec<*const libc::c_char> = head
        .iter()
        .chain(candidates)
        .chain(args)
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp: Vec<*const libc::c_char> =
        env.iter().map(|e| e.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    unsafe {
        // The helper reports over the socket, then closes it by exec'ing.
        libc::fcntl(sock, libc::F_SETFD, 0);
        libc::syscall(
            libc::SYS_execveat,
            helper,
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
        libc::fcntl(sock, libc::F_SETFD, libc::FD_CLOEXEC);
    }
}

fn num(n: i32) -> CString {
    CString::new(n.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_helper_is_a_small_static_binary() {
        assert!(HELPER.starts_with(b"\x7fELF"));
        assert!(HELPER.len() < 64 * 1024, "{} bytes", HELPER.len());
    }

    #[test]
    fn the_copy_is_sealed_against_writes() {
        let fd = load().expect("load");
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        assert_ne!(seals & libc::F_SEAL_WRITE, 0);
        let mut f = std::fs::File::from(fd);
        assert!(f.write_all(b"x").is_err());
    }
}
