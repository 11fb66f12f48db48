//! Files a container gets from its runtime rather than its image, as with
//! Docker: /etc/hosts, /etc/hostname, /etc/resolv.conf. The script writes them
//! into the container's state directory; the init binds each onto its path in
//! the root before pivot_root. Nothing is written into the image or the layer,
//! except an empty file as mount point when the image has none.
//!
//! The image controls every path under the root: /etc/hosts may be a link to
//! `/etc/shadow` or `../../../../etc/passwd`. Targets are resolved inside the
//! root (`inroot`), links included, so a mount can only land inside the
//! container; it is made on the opened fd, not on a path resolved again.

use super::error::{Error, Kind, Result};
use super::inroot;
use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use serde::Deserialize;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A host file bound onto a path inside the container.
#[derive(Debug, Clone, Deserialize)]
pub struct FileMount {
    /// The host file (in the container's state directory).
    pub source: PathBuf,
    /// Its path inside the container, e.g. `/etc/hosts`.
    pub target: String,
}

/// Bind every file onto its target inside `root` (before pivot_root).
pub fn bind_all(root: &Path, files: &[FileMount]) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let rootdir =
        std::fs::File::open(root).map_err(|e| Error::os(format!("open {}: {e}", root.display())))?;
    for f in files {
        let target = open_or_create(rootdir.as_fd(), &f.target)?;
        mount(
            Some(&f.source),
            &inroot::proc_fd_path(target.as_fd()),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| {
            Error::os(format!("bind {} on {} in the container: {}", f.source.display(), f.target, e.desc()))
        })?;
    }
    Ok(())
}

/// Open `path` in the root, following links inside it; when it (or what its
/// last link names) is missing, create an empty file there, parents included.
fn open_or_create(root: BorrowedFd, path: &str) -> Result<OwnedFd> {
    let mut path = path.to_string();
    // As many links as the kernel follows in one lookup.
    for _ in 0..40 {
        match inroot::open(root, &path, libc::O_PATH) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.kind != Kind::NotFound => return Err(e),
            Err(_) => {}
        }
        let (parent, name) = split(&path)?;
        match inroot::open(root, &path, libc::O_PATH | libc::O_NOFOLLOW) {
            // A dangling link: go where it points, still inside the root.
            Ok(link) => {
                let to = read_link(link.as_fd(), &path)?;
                path = if to.starts_with('/') { to } else { format!("{parent}/{to}") };
            }
            Err(e) if e.kind == Kind::NotFound => {
                let dir = inroot::mkdir_all(root, parent, 0o755)?;
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
    use std::os::unix::fs::symlink;

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
            let fd = open_or_create(rootfd.as_fd(), p).expect(p);
            std::fs::read_link(inroot::proc_fd_path(fd.as_fd())).expect("fd path")
        };
        let host_in_root = root.join(host.strip_prefix("/").unwrap_or(&host));
        assert_eq!(inside("/etc/hosts"), host_in_root);
        assert_eq!(inside("/etc/hostname"), root.join("host-file"));
        assert_eq!(inside("/etc/resolv.conf"), root.join("run/real"));
        assert_eq!(inside("/etc/new"), root.join("etc/new"));
        assert_eq!(std::fs::read_to_string(&host).expect("host"), "host", "the host file is untouched");
        assert_eq!(std::fs::read_to_string(root.join("etc/new")).expect("made"), "", "an empty mount point");
        assert!(open_or_create(rootfd.as_fd(), "/nothere/..").is_err(), "names no file");
    }
}
