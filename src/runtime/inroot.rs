//! Paths resolved inside a container's root, never through a link out of it.
//!
//! A container controls every path under its root: any component may be a
//! symlink to `/` or `..`, or a magic link like `/proc/self/fd/N` that points
//! at a host file the runtime holds open (CVE-2024-21626). `openat2` with
//! `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` makes the kernel resolve every
//! component as if `root` were `/`, so `..` and absolute symlinks stay inside
//! and `/proc/*/fd` links fail with ELOOP. What we then act on is the opened
//! fd, never the path again, so a component swapped meanwhile changes nothing.

use super::error::{Error, Kind, Result};
use nix::errno::Errno;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

const RESOLVE: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// Open `path` (absolute or relative, both taken from `root`) inside `root`.
pub fn open(root: BorrowedFd, path: &str, flags: libc::c_int) -> Result<OwnedFd> {
    open_raw(root, path, flags).map_err(|e| resolve_error(path, e))
}

fn open_raw(root: BorrowedFd, path: &str, flags: libc::c_int) -> std::result::Result<OwnedFd, Errno> {
    let rel = path.trim_start_matches('/');
    let cpath = CString::new(if rel.is_empty() { "." } else { rel }).map_err(|_| Errno::EINVAL)?;
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = RESOLVE;
    loop {
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root.as_raw_fd(),
                cpath.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd >= 0 {
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
        match Errno::last() {
            // The kernel retries renames racing the lookup a few times, then gives up.
            Errno::EAGAIN | Errno::EINTR => continue,
            e => return Err(e),
        }
    }
}

fn resolve_error(path: &str, e: Errno) -> Error {
    match e {
        Errno::ELOOP | Errno::EXDEV => {
            Error::invalid(format!("{path}: leads outside the container (through a link it may not follow)"))
        }
        Errno::ENOENT => Error::not_found(format!("{path}: no such file or directory in the container")),
        e => Error::os(format!("{path}: {}", e.desc())).with_errno(e as i32),
    }
}

/// Create `path` and its missing parents inside `root` (as `mkdir -p`, with
/// `mode` before the umask), and return it opened as a directory. The walk
/// holds each level's fd and goes down from it with O_NOFOLLOW; only a
/// component that is a link is looked up again, inside the root (where the
/// link leads, resolved as if the root were `/`). A container swapping a
/// component meanwhile can make this fail, never lead it out of the root.
pub fn mkdir_all(root: BorrowedFd, path: &str, mode: u32) -> Result<OwnedFd> {
    mkdir_all_at(root, path, mode, 0)
}

/// `mkdir_all`, `links` deep in dangling links (whose targets it makes, in the root).
fn mkdir_all_at(root: BorrowedFd, path: &str, mode: u32, links: u32) -> Result<OwnedFd> {
    if links > 40 {
        return Err(Error::invalid(format!("{path}: too many levels of links in the container")));
    }
    // Usually it is there already: one lookup instead of one per component.
    if let Ok(fd) = open_raw(root, path, libc::O_RDONLY | libc::O_DIRECTORY) {
        return Ok(fd);
    }
    let dir_flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    let mut cur = open(root, "/", dir_flags)?;
    let mut done = String::new();
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        done.push('/');
        done.push_str(part);
        let name = CString::new(part).map_err(|_| Error::invalid(format!("{path}: contains a NUL byte")))?;
        let down = |dir: &OwnedFd| {
            let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), dir_flags | libc::O_NOFOLLOW) };
            if fd >= 0 { Ok(unsafe { OwnedFd::from_raw_fd(fd) }) } else { Err(Errno::last()) }
        };
        // `..` from the root's fd would leave it: only ever resolved in the root.
        let first = if part == ".." { Err(Errno::ELOOP) } else { down(&cur) };
        let next = match first {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                if unsafe { libc::mkdirat(cur.as_raw_fd(), name.as_ptr(), mode) } < 0
                    && Errno::last() != Errno::EEXIST
                {
                    let e = Errno::last();
                    return Err(Error::os(format!("create {done} in the container: {}", e.desc()))
                        .with_errno(e as i32));
                }
                match down(&cur) {
                    Ok(fd) => fd,
                    Err(_) => open(root, &done, dir_flags)?,
                }
            }
            // A link (ELOOP), `..`, or not a directory: resolved inside the root.
            Err(first) => match open(root, &done, dir_flags) {
                Ok(fd) => fd,
                // A dangling link: make where it points, inside the root (as runc does).
                Err(e) if e.kind == Kind::NotFound && first != Errno::ENOENT => {
                    let link = open_raw(cur.as_fd(), part, libc::O_PATH | libc::O_NOFOLLOW)
                        .map_err(|e| resolve_error(&done, e))?;
                    // Not a link after all (swapped meanwhile): what the lookup said.
                    let to = read_link(link.as_fd(), &done).map_err(|_| e)?;
                    let base = done.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                    let target = if to.starts_with('/') { to } else { format!("{base}/{to}") };
                    mkdir_all_at(root, &target, mode, links + 1)?
                }
                Err(e) if e.kind == Kind::Os => {
                    return Err(Error::os(format!("{path}: not a directory ({})", e.message)));
                }
                Err(e) => return Err(e),
            },
        };
        cur = next;
    }
    Ok(cur)
}

/// The path through which the kernel reaches an fd we hold: for `mount`'s
/// target and `fchdir`-like uses where only a path is accepted.
pub fn proc_fd_path(fd: BorrowedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Open `path` in the root, following links inside it; when it (or what its
/// last link names) is missing, create an empty file there, parents included.
pub fn open_or_create_file(root: BorrowedFd, path: &str) -> Result<OwnedFd> {
    let mut path = path.to_string();
    // As many links as the kernel follows in one lookup.
    for _ in 0..40 {
        match open(root, &path, libc::O_PATH) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.kind != Kind::NotFound => return Err(e),
            Err(_) => {}
        }
        let (parent, name) = split(&path)?;
        match open(root, &path, libc::O_PATH | libc::O_NOFOLLOW) {
            // A dangling link: go where it points, still inside the root.
            Ok(link) => {
                let to = read_link(link.as_fd(), &path)?;
                path = if to.starts_with('/') { to } else { format!("{parent}/{to}") };
            }
            Err(e) if e.kind == Kind::NotFound => {
                let dir = mkdir_all(root, parent, 0o755)?;
                let cname =
                    CString::new(name).map_err(|_| Error::invalid(format!("{path}: contains a NUL byte")))?;
                let flags =
                    libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
                let fd = unsafe { libc::openat(dir.as_raw_fd(), cname.as_ptr(), flags, 0o644) };
                if fd >= 0 {
                    unsafe {
                        libc::close(fd);
                    }
                } else if Errno::last() != Errno::EEXIST {
                    return Err(Error::os(format!(
                        "create {path} in the container: {}",
                        Errno::last().desc()
                    )));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::invalid(format!("{path}: too many levels of links in the container")))
}

/// `/a/b/c` → (`/a/b`, `c`); the root's own name is no file to bind onto.
fn split(path: &str) -> Result<(&str, &str)> {
    let trimmed = path.trim_end_matches('/');
    let (parent, name) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
    if name.is_empty() || name == "." || name == ".." {
        return Err(Error::invalid(format!("{path:?} names no file in the container")));
    }
    Ok((if parent.is_empty() { "/" } else { parent }, name))
}

fn read_link(link: BorrowedFd, path: &str) -> Result<String> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    let n = unsafe { libc::readlinkat(link.as_raw_fd(), c"".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(Error::os(format!("read the link {path} in the container: {}", Errno::last().desc())));
    }
    buf.truncate(n as usize);
    String::from_utf8(buf).map_err(|_| Error::invalid(format!("{path}: the link's target is not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_out_of_the_root_stay_inside_or_fail() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root_dir = tmp.path().join("root");
        std::fs::create_dir_all(root_dir.join("etc")).expect("etc");
        std::fs::write(root_dir.join("etc/hosts"), "inside").expect("hosts");
        std::fs::write(tmp.path().join("outside"), "host").expect("outside");
        symlink("/etc", root_dir.join("abs")).expect("abs link");
        symlink("../../..", root_dir.join("up")).expect("up link");
        let root = std::fs::File::open(&root_dir).expect("open root");
        let root = root.as_fd();

        // An absolute link resolves against the container's root, not the host's.
        let fd = open(root, "/abs/hosts", libc::O_RDONLY).expect("abs/hosts");
        let text = std::fs::read_to_string(proc_fd_path(fd.as_fd())).expect("read");
        assert_eq!(text, "inside");
        // `..` past the root stops at the root.
        let fd = open(root, "up/outside", libc::O_RDONLY);
        assert!(fd.is_err(), "up/outside must not reach the host file");
        // A magic link to a host fd is refused.
        let host = std::fs::File::open(tmp.path()).expect("host dir");
        let magic = format!("/proc/self/fd/{}", host.as_raw_fd());
        std::fs::create_dir_all(root_dir.join("proc/self")).expect("fake proc");
        symlink(&magic, root_dir.join("magic")).expect("magic link");
        // (The link is an ordinary absolute symlink here; it resolves in the root, to nothing.)
        assert!(open(root, "magic/outside", libc::O_RDONLY).is_err());

        // A dangling link: its target is made, in the root (not on the host).
        symlink(tmp.path().join("nowhere"), root_dir.join("dangling")).expect("dangling link");
        drop(mkdir_all(root, "/dangling/sub", 0o755).expect("through a dangling link"));
        assert!(root_dir.join(tmp.path().strip_prefix("/").expect("abs")).join("nowhere/sub").is_dir());
        assert!(!tmp.path().join("nowhere").exists());
        // `..` past the root stays at the root.
        drop(mkdir_all(root, "/../../made-by-dotdot", 0o755).expect("dotdot"));
        assert!(root_dir.join("made-by-dotdot").is_dir());
        assert!(!tmp.path().join("made-by-dotdot").exists());
        // mkdir_all creates through in-root links, never on the host.
        let d = mkdir_all(root, "/up/abs/new/deeper", 0o755).expect("mkdir_all");
        drop(d);
        assert!(root_dir.join("etc/new/deeper").is_dir());
        assert!(!tmp.path().join("new").exists());
        assert!(mkdir_all(root, "/etc/hosts/x", 0o755).is_err(), "a file is not a directory");
    }

    /// Without mounting: the targets a bind would use, for links in and out of the root.
    #[test]
    fn targets_are_found_or_made_inside_the_root() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("etc")).expect("etc");
        let host = tmp.path().join("host-file");
        std::fs::write(&host, "host").expect("host file");
        symlink(&host, root.join("etc/hosts")).expect("absolute link");
        symlink("../../../../host-file", root.join("etc/hostname")).expect("climbing link");
        symlink("chain", root.join("etc/resolv.conf")).expect("relative link");
        symlink("/run/real", root.join("etc/chain")).expect("second link");
        let rootfd = std::fs::File::open(&root).expect("root");
        let inside = |p: &str| {
            let fd = open_or_create_file(rootfd.as_fd(), p).expect(p);
            std::fs::read_link(proc_fd_path(fd.as_fd())).expect("fd path")
        };
        let host_in_root = root.join(host.strip_prefix("/").unwrap_or(&host));
        assert_eq!(inside("/etc/hosts"), host_in_root);
        assert_eq!(inside("/etc/hostname"), root.join("host-file"));
        assert_eq!(inside("/etc/resolv.conf"), root.join("run/real"));
        assert_eq!(inside("/etc/new"), root.join("etc/new"));
        assert_eq!(std::fs::read_to_string(&host).expect("host"), "host", "the host file is untouched");
        assert_eq!(std::fs::read_to_string(root.join("etc/new")).expect("made"), "", "an empty mount point");
        assert!(open_or_create_file(rootfd.as_fd(), "/nothere/..").is_err(), "names no file");
    }
}
