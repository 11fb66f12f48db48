//! `diff`: what a container changed, from its overlay upper dir, as Docker
//! prints it: `A` added, `C` changed, `D` deleted (an overlay whiteout).
//!
//! The upper dir is the container's: it is walked fd by fd without following
//! its links, and a path is looked up in the image's layers inside each
//! layer's root, so neither can lead the walk onto the host.

use super::copy::names;
use super::error::{Error, Result};
use super::inroot;
use nix::errno::Errno;
use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub path: String,
    /// 'A', 'C' or 'D'.
    pub kind: char,
}

fn open_nofollow(dir: RawFd, name: &CStr, flags: libc::c_int) -> std::result::Result<OwnedFd, Errno> {
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
    if fd < 0 { Err(Errno::last()) } else { Ok(unsafe { OwnedFd::from_raw_fd(fd) }) }
}

fn lstat_at(dir: RawFd, name: &CStr) -> std::result::Result<libc::stat64, Errno> {
    let mut st: libc::stat64 = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatat64(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } < 0 {
        return Err(Errno::last());
    }
    Ok(st)
}

/// The changes in `upper` over `lowers` (top first), sorted by path.
/// `stubs`: paths made only as mount points (`/etc/hosts`, volumes' destinations),
/// left out when they are still an empty file or directory, and so is a
/// directory that holds nothing else that changed.
pub fn diff(upper: &Path, lowers: &[PathBuf], stubs: &[String]) -> Result<Vec<Change>> {
    let open_dir =
        |p: &Path| std::fs::File::open(p).map_err(|e| Error::os(format!("open {}: {e}", p.display())));
    let up = open_dir(upper)?;
    let lows: Vec<std::fs::File> = lowers.iter().map(|l| open_dir(l)).collect::<Result<_>>()?;
    let mut out = Vec::new();
    walk(up.as_raw_fd(), "", &lows, stubs, &mut out, upper)?;
    out.sort();
    Ok(out)
}

/// Walk directory `dir` (the upper dir's `prefix`); true when anything under it counts.
fn walk(
    dir: RawFd,
    prefix: &str,
    lows: &[std::fs::File],
    stubs: &[String],
    out: &mut Vec<Change>,
    upper: &Path,
) -> Result<bool> {
    let fail = |p: &str, e: Errno| Error::os(format!("read {}{p}: {}", upper.display(), e.desc()));
    let mut any = false;
    for name in names(dir).map_err(|e| fail(prefix, e))? {
        let path = format!("{prefix}/{}", name.to_string_lossy());
        let st = match lstat_at(dir, &name) {
            Ok(st) => st,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(fail(&path, e)),
        };
        let fmt = st.st_mode & libc::S_IFMT;
        if fmt == libc::S_IFCHR && st.st_rdev == 0 {
            out.push(Change { path, kind: 'D' });
            any = true;
            continue;
        }
        let in_lower =
            lows.iter().any(|l| inroot::open(l.as_fd(), &path, libc::O_PATH | libc::O_NOFOLLOW).is_ok());
        let kind = if in_lower { 'C' } else { 'A' };
        let stub = stubs.iter().any(|s| s.trim_end_matches('/') == path)
            && ((fmt == libc::S_IFREG && st.st_size == 0) || fmt == libc::S_IFDIR);
        if fmt == libc::S_IFDIR {
            let child =
                open_nofollow(dir, &name, libc::O_RDONLY | libc::O_DIRECTORY).map_err(|e| fail(&path, e))?;
            let mark = out.len();
            let inner = walk(child.as_raw_fd(), &path, lows, stubs, out, upper)?;
            // A new directory counts by itself; a copied-up one only for what changed in it.
            if inner || (kind == 'A' && !stub) {
                out.insert(mark, Change { path, kind });
                any = true;
            }
        } else if !stub {
            out.push(Change { path, kind });
            any = true;
        }
    }
    Ok(any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_changed_deleted_and_stubs_left_out() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
        for d in ["lower/etc", "lower/bin", "upper/etc", "upper/bin", "upper/new/deep"] {
            std::fs::create_dir_all(tmp.path().join(d)).expect("dir");
        }
        std::fs::write(lower.join("etc/passwd"), "root").expect("passwd");
        std::fs::write(upper.join("etc/passwd"), "root2").expect("changed");
        std::fs::write(upper.join("etc/hosts"), "").expect("stub");
        std::fs::write(upper.join("new/deep/f"), "x").expect("added");
        let whiteout = std::ffi::CString::new(upper.join("bin/sh").display().to_string()).expect("path");
        assert_eq!(unsafe { libc::mknod(whiteout.as_ptr(), libc::S_IFCHR, 0) }, 0, "whiteout");
        let d = diff(&upper, &[lower], &["/etc/hosts".into()]).expect("diff");
        let lines: Vec<String> = d.iter().map(|c| format!("{} {}", c.kind, c.path)).collect();
        assert_eq!(
            lines,
            ["C /bin", "D /bin/sh", "C /etc", "C /etc/passwd", "A /new", "A /new/deep", "A /new/deep/f"]
        );
    }
}
