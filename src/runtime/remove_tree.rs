//! Removing a directory tree at any depth with a bounded number of fds.
//!
//! `std::fs::remove_dir_all` holds one fd per level, so a container that made a
//! 1500-deep tree in its layer made it unremovable under `ulimit -n 1024`. This
//! walks down with `openat` and back up through `..`, checked against the device
//! and inode it left, so it holds at most three fds at any depth and remembers
//! only names. It never follows a symlink (`O_NOFOLLOW`; links are unlinked) and
//! never enters another mount (a mount root or another device is an error).

use super::error::{Error, Result};
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Delete `path` and everything under it; a missing `path` is not an error.
/// The leading directories of `path` may be symlinks; nothing at or below it is followed.
pub fn remove_tree(path: &Path) -> Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Error::invalid(format!("refusing to remove {}", path.display())));
    };
    let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
    let name = cstring(name.as_bytes(), path)?;
    let parent_c = cstring(parent.as_os_str().as_bytes(), parent)?;
    let fd = unsafe { libc::open(parent_c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    let parent_fd = match if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    } {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(os_error("open", parent, e)),
    };
    let top = match open_dir(parent_fd.as_raw_fd(), &name) {
        Ok(fd) => fd,
        Err(e) => {
            return match e.raw_os_error() {
                Some(libc::ENOENT) => Ok(()),
                // A file, or a symlink: unlinked, never followed.
                Some(libc::ENOTDIR) | Some(libc::ELOOP) => {
                    unlink(parent_fd.as_raw_fd(), &name, 0).map_err(|e| os_error("remove", path, e))
                }
                _ => Err(os_error("open", path, e)),
            };
        }
    };
    // Something may appear while we empty it (a writer that has not stopped yet): a few rounds.
    for _ in 0..5 {
        empty_dir(top.try_clone().map_err(|e| os_error("dup", path, e))?, path)?;
        match unlink(parent_fd.as_raw_fd(), &name, libc::AT_REMOVEDIR) {
            Err(e) if not_empty(&e) => continue,
            other => return other.map_err(|e| os_error("remove", path, e)),
        }
    }
    Err(Error::os(format!("remove {}: it keeps being filled", path.display())))
}

/// A directory on the way down: its name in its parent, the subdirectories still
/// to remove, and its identity to check on the way back up.
struct Level {
    name: CString,
    pending: Vec<CString>,
    id: Identity,
}

#[derive(PartialEq, Eq, Clone, Copy)]
struct Identity {
    dev: (u32, u32),
    ino: u64,
}

/// Remove everything inside the directory `top` (at `top_path`, for messages).
fn empty_dir(top: OwnedFd, top_path: &Path) -> Result<()> {
    let (top_id, mount_root) = identity(&top).map_err(|e| os_error("stat", top_path, e))?;
    if mount_root {
        return Err(mount_error(top_path));
    }
    let mut path = top_path.to_path_buf();
    let pending = scan(&top, &path)?;
    let mut cur = top;
    let mut levels = vec![Level { name: CString::default(), pending, id: top_id }];
    loop {
        let depth = levels.len();
        let Some(level) = levels.last_mut() else { return Ok(()) };
        if let Some(child) = level.pending.pop() {
            let child_path = path.join(OsStr::from_bytes(child.as_bytes()));
            match open_dir(cur.as_raw_fd(), &child) {
                Ok(fd) => {
                    let (id, mount_root) = identity(&fd).map_err(|e| os_error("stat", &child_path, e))?;
                    if mount_root || id.dev != top_id.dev {
                        return Err(mount_error(&child_path));
                    }
                    let pending = scan(&fd, &child_path)?;
                    levels.push(Level { name: child, pending, id });
                    cur = fd;
                    path = child_path;
                }
                Err(e) => match e.raw_os_error() {
                    Some(libc::ENOENT) => {}
                    // Replaced by a file or a symlink since the scan.
                    Some(libc::ENOTDIR) | Some(libc::ELOOP) => {
                        unlink(cur.as_raw_fd(), &child, 0).map_err(|e| os_error("remove", &child_path, e))?
                    }
                    _ => return Err(os_error("open", &child_path, e)),
                },
            }
            continue;
        }
        if depth == 1 {
            // Back at the top: done unless something appeared meanwhile.
            level.pending = scan(&cur, &path)?;
            if level.pending.is_empty() {
                return Ok(());
            }
            continue;
        }
        let Some(done) = levels.pop() else { return Ok(()) };
        let up = open_dir(cur.as_raw_fd(), c"..").map_err(|e| os_error("open", &path, e))?;
        let (up_id, _) = identity(&up).map_err(|e| os_error("stat", &path, e))?;
        let Some(parent) = levels.last_mut() else { return Ok(()) };
        if up_id != parent.id {
            return Err(Error::os(format!("remove {}: it was moved during the removal", path.display())));
        }
        cur = up;
        match unlink(cur.as_raw_fd(), &done.name, libc::AT_REMOVEDIR) {
            Ok(()) => {}
            // Filled again since its scan: go back in.
            Err(e) if not_empty(&e) => parent.pending.push(done.name),
            Err(e) => return Err(os_error("remove", &path, e)),
        }
        path.pop();
    }
}

/// Unlink every non-directory in `dir`; return the names of its subdirectories.
fn scan(dir: &OwnedFd, path: &Path) -> Result<Vec<CString>> {
    // A fresh open file description, so each scan reads from the start.
    let fd = open_dir(dir.as_raw_fd(), c".").map_err(|e| os_error("open", path, e))?;
    let stream = unsafe { libc::fdopendir(fd.as_raw_fd()) };
    if stream.is_null() {
        return Err(os_error("read", path, io::Error::last_os_error()));
    }
    // The stream owns the fd from here; closedir closes it.
    std::mem::forget(fd);
    let result = scan_stream(stream, dir.as_raw_fd(), path);
    unsafe { libc::closedir(stream) };
    result
}

fn scan_stream(stream: *mut libc::DIR, dir: RawFd, path: &Path) -> Result<Vec<CString>> {
    let mut subdirs = Vec::new();
    loop {
        unsafe { *libc::__errno_location() = 0 };
        let entry = unsafe { libc::readdir64(stream) };
        if entry.is_null() {
            let e = io::Error::last_os_error();
            if e.raw_os_error().unwrap_or(0) != 0 {
                return Err(os_error("read", path, e));
            }
            return Ok(subdirs);
        }
        let (name, d_type) = unsafe { (CStr::from_ptr((*entry).d_name.as_ptr()), (*entry).d_type) };
        if name == c"." || name == c".." {
            continue;
        }
        let is_dir = match d_type {
            libc::DT_DIR => true,
            libc::DT_UNKNOWN => is_dir_at(dir, name),
            _ => false,
        };
        if is_dir {
            subdirs.push(name.to_owned());
            continue;
        }
        if let Err(e) = unlink(dir, name, 0) {
            // Became a directory since readdir: remove it as one.
            if e.raw_os_error() == Some(libc::EISDIR) && is_dir_at(dir, name) {
                subdirs.push(name.to_owned());
            } else {
                return Err(os_error("remove", &path.join(OsStr::from_bytes(name.to_bytes())), e));
            }
        }
    }
}

fn is_dir_at(dir: RawFd, name: &CStr) -> bool {
    let mut st: libc::stat64 = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::fstatat64(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    r == 0 && st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

fn open_dir(at: RawFd, name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let fd = unsafe { libc::openat(at, name.as_ptr(), flags) };
    if fd < 0 { Err(io::Error::last_os_error()) } else { Ok(unsafe { OwnedFd::from_raw_fd(fd) }) }
}

/// Is the directory at `path` (not following a final link) the root of a mount?
pub fn is_mount_root(path: &Path) -> io::Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let fd = open_dir(libc::AT_FDCWD, &c)?;
    Ok(identity(&fd)?.1)
}

/// The directory's device and inode, and whether it is the root of a mount.
fn identity(fd: &OwnedFd) -> io::Result<(Identity, bool)> {
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    let r =
        unsafe { libc::statx(fd.as_raw_fd(), c"".as_ptr(), libc::AT_EMPTY_PATH, libc::STATX_INO, &mut stx) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let root = libc::STATX_ATTR_MOUNT_ROOT as u64;
    let mount_root = stx.stx_attributes_mask & root != 0 && stx.stx_attributes & root != 0;
    Ok((Identity { dev: (stx.stx_dev_major, stx.stx_dev_minor), ino: stx.stx_ino }, mount_root))
}

/// unlinkat; a name already gone is not an error.
fn unlink(dir: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<()> {
    if unsafe { libc::unlinkat(dir, name.as_ptr(), flags) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENOENT) { Ok(()) } else { Err(e) }
}

fn not_empty(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EEXIST))
}

fn cstring(bytes: &[u8], path: &Path) -> Result<CString> {
    CString::new(bytes).map_err(|_| Error::invalid(format!("path contains a NUL byte: {}", path.display())))
}

fn os_error(what: &str, path: &Path, e: io::Error) -> Error {
    Error::os(format!("{what} {}: {e}", path.display()))
}

fn mount_error(path: &Path) -> Error {
    Error::os(format!("remove {}: it is a mount point; not removing what is mounted there", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn removes_files_links_and_dirs_but_never_follows_a_link() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir_all(outside.join("keep")).unwrap();
        fs::write(outside.join("keep/file"), "x").unwrap();
        let tree = tmp.path().join("tree");
        fs::create_dir_all(tree.join("a/b/c")).unwrap();
        fs::write(tree.join("a/b/c/f"), "x").unwrap();
        fs::write(tree.join("top"), "x").unwrap();
        symlink(&outside, tree.join("a/link-to-outside")).unwrap();
        symlink(outside.join("keep/file"), tree.join("a/b/file-link")).unwrap();
        nix::unistd::mkfifo(&tree.join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        remove_tree(&tree).unwrap();
        assert!(!tree.exists());
        assert!(outside.join("keep/file").is_file(), "a symlink's target survives");
        // Missing: fine. A symlink given as the tree: the link goes, its target stays.
        remove_tree(&tree).unwrap();
        let link = tmp.path().join("link");
        symlink(&outside, &link).unwrap();
        remove_tree(&link).unwrap();
        assert!(fs::symlink_metadata(&link).is_err());
        assert!(outside.join("keep/file").is_file());
        assert!(remove_tree(Path::new("/")).is_err());
    }

    #[test]
    fn removes_a_tree_deeper_than_any_fd_limit_with_few_fds() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("deep");
        fs::create_dir(&tree).unwrap();
        // Build 3000 levels holding one fd at a time (paths that long cannot be used).
        let mut fd = open_dir(libc::AT_FDCWD, &CString::new(tree.as_os_str().as_bytes()).unwrap()).unwrap();
        for _ in 0..3000 {
            assert_eq!(unsafe { libc::mkdirat(fd.as_raw_fd(), c"d".as_ptr(), 0o755) }, 0);
            fd = open_dir(fd.as_raw_fd(), c"d").unwrap();
        }
        drop(fd);
        remove_tree(&tree).unwrap();
        assert!(!tree.exists());
    }

    #[test]
    fn refuses_to_cross_a_mount_point() {
        if nix::unistd::geteuid().as_raw() != 0 {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let mnt = tmp.path().join("tree/mnt");
        fs::create_dir_all(&mnt).unwrap();
        nix::mount::mount(Some("tmpfs"), &mnt, Some("tmpfs"), nix::mount::MsFlags::empty(), None::<&str>)
            .unwrap();
        fs::write(mnt.join("precious"), "x").unwrap();
        let err = remove_tree(&tmp.path().join("tree")).unwrap_err();
        let kept = mnt.join("precious").is_file();
        nix::mount::umount2(&mnt, nix::mount::MntFlags::MNT_DETACH).unwrap();
        assert!(err.message.contains("mount point"), "{}", err.message);
        assert!(kept, "nothing under the mount was removed");
        remove_tree(&tmp.path().join("tree")).unwrap();
    }
}
