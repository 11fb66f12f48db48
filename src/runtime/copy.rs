//! Files into and out of a container (`cp`), and a new volume's copy-up from
//! the image.
//!
//! Every path inside the container is resolved in its root (`inroot`), and
//! every file below the one resolved is reached from its parent's fd with
//! O_NOFOLLOW: a link the container made (to `/etc/shadow`, to `/`) is
//! copied as a link, never followed out of the root, and a directory the
//! container swaps for a link while we copy makes the copy fail, not escape.
//! Objects are held as O_PATH fds; a regular file's content is read through
//! the fd (`/proc/self/fd`), never through its path again.

use super::error::{Error, Result};
use super::inroot;
use nix::errno::Errno;
use std::collections::HashMap;
use std::ffi::{CStr, CString, OsStr};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// How to copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Opts {
    /// Keep owners (`cp -a`, copy-up); otherwise what we create is ours (root's).
    pub keep_owner: bool,
    /// Follow a link that is the source itself (`cp -L`); links below it are copied as links.
    pub follow: bool,
    /// Copying out of a container onto the host: no device nodes, no setuid
    /// or setgid bits (made by root here, either would hand a host user what
    /// the container's author chose: a disk, a root shell).
    pub to_host: bool,
}

fn cstr(b: &[u8]) -> Result<CString> {
    CString::new(b)
        .map_err(|_| Error::invalid(format!("{:?}: contains a NUL byte", String::from_utf8_lossy(b))))
}

fn errno_err(what: impl std::fmt::Display, e: Errno) -> Error {
    Error::os(format!("{what}: {}", e.desc())).with_errno(e as i32)
}

fn check(r: libc::c_int) -> std::result::Result<libc::c_int, Errno> {
    if r < 0 { Err(Errno::last()) } else { Ok(r) }
}

fn open_at(
    dir: RawFd,
    name: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> std::result::Result<OwnedFd, Errno> {
    let fd =
        check(unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) })?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An O_PATH fd's own stat (not a link's target).
fn stat_fd(fd: RawFd) -> std::result::Result<libc::stat64, Errno> {
    let mut st: libc::stat64 = unsafe { std::mem::zeroed() };
    check(unsafe {
        libc::fstatat64(fd, c"".as_ptr(), &mut st, libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW)
    })?;
    Ok(st)
}

fn fmt(st: &libc::stat64) -> libc::mode_t {
    st.st_mode & libc::S_IFMT
}

/// The names in the directory `fd` (an O_PATH fd is fine), without `.` and `..`, sorted.
pub(crate) fn names(fd: RawFd) -> std::result::Result<Vec<CString>, Errno> {
    let own = open_at(fd, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let mut dir = nix::dir::Dir::from_fd(own)?;
    let mut out = Vec::new();
    for e in dir.iter() {
        let e = e?;
        let n = e.file_name();
        if n != c"." && n != c".." {
            out.push(n.to_owned());
        }
    }
    out.sort();
    Ok(out)
}

fn read_link_fd(fd: RawFd) -> std::result::Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    let n = unsafe { libc::readlinkat(fd, c"".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(Errno::last());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// The content of a regular file held as an O_PATH fd.
fn reopen_read(fd: RawFd) -> std::result::Result<std::fs::File, Errno> {
    let p = cstr(format!("/proc/self/fd/{fd}").as_bytes()).map_err(|_| Errno::EINVAL)?;
    // (The magic link is followed: it is our own fd.)
    let f = open_at(libc::AT_FDCWD, &p, libc::O_RDONLY, 0)?;
    Ok(std::fs::File::from(f))
}

/// What a walk of a tree hands to where it goes (a directory, a tar stream).
trait Sink {
    /// Enter directory `name` (relative to the current one); false to skip it.
    fn dir(&mut self, name: &CStr, st: &libc::stat64) -> Result<()>;
    /// Leave the directory entered last, setting its metadata.
    fn leave(&mut self, st: &libc::stat64) -> Result<()>;
    fn file(&mut self, name: &CStr, st: &libc::stat64, content: &mut std::fs::File) -> Result<()>;
    /// Link `name` to the copy of a file seen before (`first`, its path in the walk); false: copy it instead.
    fn hardlink(&mut self, name: &CStr, st: &libc::stat64, first: &[u8]) -> Result<bool>;
    fn symlink(&mut self, name: &CStr, st: &libc::stat64, target: &[u8]) -> Result<()>;
    fn node(&mut self, name: &CStr, st: &libc::stat64) -> Result<()>;
}

/// Walk the object `fd` (O_PATH, the object itself) into `sink` as `name`.
fn walk(fd: OwnedFd, name: &CStr, sink: &mut dyn Sink, shown: &str) -> Result<()> {
    let mut links: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    walk_one(fd, name, sink, shown, &mut Vec::new(), &mut links)
}

fn walk_one(
    fd: OwnedFd,
    name: &CStr,
    sink: &mut dyn Sink,
    shown: &str,
    rel: &mut Vec<u8>,
    links: &mut HashMap<(u64, u64), Vec<u8>>,
) -> Result<()> {
    let at = String::from_utf8_lossy(rel).into_owned();
    let st = stat_fd(fd.as_raw_fd()).map_err(|e| errno_err(format!("{shown}/{at}"), e))?;
    let mark = rel.len();
    if !rel.is_empty() {
        rel.push(b'/');
    }
    rel.extend_from_slice(name.to_bytes());
    let here = |e: Errno| {
        let sep = if at.is_empty() { "" } else { "/" };
        errno_err(format!("{shown}/{at}{sep}{}", name.to_string_lossy()), e)
    };
    let r = match fmt(&st) {
        libc::S_IFDIR => (|| {
            sink.dir(name, &st)?;
            for child in names(fd.as_raw_fd()).map_err(here)? {
                let cfd = match open_at(fd.as_raw_fd(), &child, libc::O_PATH | libc::O_NOFOLLOW, 0) {
                    Ok(f) => f,
                    Err(Errno::ENOENT) => continue,
                    Err(e) => return Err(here(e)),
                };
                walk_one(cfd, &child, sink, shown, rel, links)?;
            }
            sink.leave(&st)
        })(),
        libc::S_IFREG => (|| {
            if st.st_nlink > 1 {
                if let Some(first) = links.get(&(st.st_dev, st.st_ino)) {
                    let first = first.clone();
                    if sink.hardlink(name, &st, &first)? {
                        return Ok(());
                    }
                } else {
                    links.insert((st.st_dev, st.st_ino), rel.clone());
                }
            }
            let mut f = reopen_read(fd.as_raw_fd()).map_err(here)?;
            sink.file(name, &st, &mut f)
        })(),
        libc::S_IFLNK => match read_link_fd(fd.as_raw_fd()) {
            Ok(t) => sink.symlink(name, &st, &t),
            Err(e) => Err(here(e)),
        },
        libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => sink.node(name, &st),
        // A socket is no file to copy (Docker skips them too).
        _ => Ok(()),
    };
    rel.truncate(mark);
    r
}

/// Hard-linked files whose first copy is held open to link the others to.
const MAX_HELD_LINKS: usize = 256;

/// Creates what it is given under a directory, fd-relative, never following
/// a link. Metadata is set through the fd of what was created, never through
/// its name again: the directory may be the container's, which could swap
/// the name for a link to a host file meanwhile.
struct DirSink {
    /// Open directories, the destination's parent first.
    stack: Vec<OwnedFd>,
    /// The directory the walk began in.
    top: OwnedFd,
    /// The path of each entered level, for messages.
    rel: Vec<Vec<u8>>,
    opts: Opts,
    shown: String,
    /// Merge into an existing directory of the same name (copy-up, `cp` into a dir).
    merge: bool,
    /// Source (dev, ino) of a file with several links → its copy, to link the next ones to.
    held: HashMap<(u64, u64), OwnedFd>,
}

impl DirSink {
    fn new(dir: OwnedFd, opts: Opts, shown: &str) -> Result<DirSink> {
        let top = dir.try_clone().map_err(|e| Error::os(format!("dup: {e}")))?;
        Ok(DirSink {
            stack: vec![dir],
            top,
            rel: Vec::new(),
            opts,
            shown: shown.into(),
            merge: true,
            held: HashMap::new(),
        })
    }

    fn cur(&self) -> RawFd {
        self.stack.last().map(|f| f.as_raw_fd()).unwrap_or(self.top.as_raw_fd())
    }

    fn fail(&self, name: &CStr, what: &str, e: Errno) -> Error {
        let mut p = self.rel.last().cloned().unwrap_or_default();
        if !p.is_empty() {
            p.push(b'/');
        }
        p.extend_from_slice(name.to_bytes());
        errno_err(format!("{what} {}/{}", self.shown, String::from_utf8_lossy(&p)), e)
    }

    /// Remove a non-directory in the way (cp replaces files, as Docker's).
    fn clear(&self, name: &CStr) {
        unsafe { libc::unlinkat(self.cur(), name.as_ptr(), 0) };
    }

    /// What was just made as `name`, opened without following a link.
    fn made(&self, name: &CStr) -> Result<OwnedFd> {
        open_at(self.cur(), name, libc::O_PATH | libc::O_NOFOLLOW, 0).map_err(|e| self.fail(name, "open", e))
    }

    /// Owner (with `keep_owner`), mode and times of the object `fd` holds.
    fn meta(&self, fd: RawFd, name: &CStr, st: &libc::stat64) -> Result<()> {
        let own = stat_fd(fd).map_err(|e| self.fail(name, "stat", e))?;
        let link = fmt(&own) == libc::S_IFLNK;
        if self.opts.keep_owner
            && unsafe { libc::fchownat(fd, c"".as_ptr(), st.st_uid, st.st_gid, libc::AT_EMPTY_PATH) } < 0
        {
            return Err(self.fail(name, "set the owner of", Errno::last()));
        }
        if link {
            // A link has no mode, and no call sets its times through an fd.
            return Ok(());
        }
        // Not a link: its /proc/self/fd entry leads to the object itself.
        let p = cstr(format!("/proc/self/fd/{fd}").as_bytes())?;
        let mut mode = st.st_mode & 0o7777;
        if self.opts.to_host {
            mode &= !(libc::S_ISUID | libc::S_ISGID);
        }
        // After chown, which clears setuid bits.
        if unsafe { libc::chmod(p.as_ptr(), mode) } < 0 {
            return Err(self.fail(name, "set the mode of", Errno::last()));
        }
        let times = [
            libc::timespec { tv_sec: st.st_atime, tv_nsec: st.st_atime_nsec },
            libc::timespec { tv_sec: st.st_mtime, tv_nsec: st.st_mtime_nsec },
        ];
        unsafe { libc::utimensat(libc::AT_FDCWD, p.as_ptr(), times.as_ptr(), 0) };
        Ok(())
    }
}

impl Sink for DirSink {
    fn dir(&mut self, name: &CStr, _st: &libc::stat64) -> Result<()> {
        let cur = self.cur();
        if unsafe { libc::mkdirat(cur, name.as_ptr(), 0o700) } < 0 {
            let e = Errno::last();
            if e != Errno::EEXIST || !self.merge {
                return Err(self.fail(name, "create", e));
            }
        }
        let fd = open_at(cur, name, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)
            .map_err(|e| self.fail(name, "open", e))?;
        let mut rel = self.rel.last().cloned().unwrap_or_default();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(name.to_bytes());
        self.stack.push(fd);
        self.rel.push(rel);
        Ok(())
    }

    fn leave(&mut self, st: &libc::stat64) -> Result<()> {
        let fd = self.stack.pop().ok_or_else(|| Error::os("copy: left more directories than entered"))?;
        self.rel.pop();
        self.meta(fd.as_raw_fd(), c".", st)
    }

    fn file(&mut self, name: &CStr, st: &libc::stat64, content: &mut std::fs::File) -> Result<()> {
        self.clear(name);
        let out = open_at(
            self.cur(),
            name,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
            0o600,
        )
        .map_err(|e| self.fail(name, "create", e))?;
        let mut out = std::fs::File::from(out);
        std::io::copy(content, &mut out)
            .map_err(|e| self.fail(name, "write", Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))?;
        self.meta(out.as_raw_fd(), name, st)?;
        if self.opts.keep_owner {
            // After chown, which drops security.capability: a copied-up `ping` keeps its capability.
            copy_xattrs(content.as_raw_fd(), out.as_raw_fd(), self.opts.to_host)
                .map_err(|e| self.fail(name, "copy the xattrs of", e))?;
        }
        if st.st_nlink > 1 && self.held.len() < MAX_HELD_LINKS {
            self.held.insert((st.st_dev, st.st_ino), OwnedFd::from(out));
        }
        Ok(())
    }

    fn hardlink(&mut self, name: &CStr, st: &libc::stat64, _first: &[u8]) -> Result<bool> {
        let Some(first) = self.held.get(&(st.st_dev, st.st_ino)) else { return Ok(false) };
        self.clear(name);
        // Linked from the fd of the first copy: no path is looked up again.
        let r = unsafe {
            libc::linkat(first.as_raw_fd(), c"".as_ptr(), self.cur(), name.as_ptr(), libc::AT_EMPTY_PATH)
        };
        if r < 0 {
            return Err(self.fail(name, "link", Errno::last()));
        }
        Ok(true)
    }

    fn symlink(&mut self, name: &CStr, st: &libc::stat64, target: &[u8]) -> Result<()> {
        self.clear(name);
        let t = cstr(target)?;
        if unsafe { libc::symlinkat(t.as_ptr(), self.cur(), name.as_ptr()) } < 0 {
            return Err(self.fail(name, "create the link", Errno::last()));
        }
        let fd = self.made(name)?;
        self.meta(fd.as_raw_fd(), name, st)
    }

    fn node(&mut self, name: &CStr, st: &libc::stat64) -> Result<()> {
        if self.opts.to_host && fmt(st) != libc::S_IFIFO {
            let e = self.fail(name, "copy the device node", Errno::EPERM);
            return Err(Error::invalid(format!("{}: not copied out of a container", e.message)));
        }
        self.clear(name);
        if unsafe { libc::mknodat(self.cur(), name.as_ptr(), st.st_mode, st.st_rdev) } < 0 {
            return Err(self.fail(name, "create the node", Errno::last()));
        }
        let fd = self.made(name)?;
        self.meta(fd.as_raw_fd(), name, st)
    }
}

/// The extended attributes of open file `from` onto `to`, but overlay's own
/// and, onto the host, file capabilities (as setuid bits: a host user's root).
fn copy_xattrs(from: RawFd, to: RawFd, to_host: bool) -> std::result::Result<(), Errno> {
    let mut names = vec![0u8; 4096];
    let n = unsafe { libc::flistxattr(from, names.as_mut_ptr().cast(), names.len()) };
    if n < 0 {
        return match Errno::last() {
            Errno::ENOTSUP => Ok(()),
            e => Err(e),
        };
    }
    names.truncate(n as usize);
    let mut value = vec![0u8; 64 << 10];
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if name.starts_with(b"trusted.overlay.") || (to_host && name == b"security.capability") {
            continue;
        }
        let cname = CString::new(name).map_err(|_| Errno::EINVAL)?;
        let len = unsafe { libc::fgetxattr(from, cname.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
        if len < 0 {
            continue;
        }
        if unsafe { libc::fsetxattr(to, cname.as_ptr(), value.as_ptr().cast(), len as usize, 0) } < 0 {
            match Errno::last() {
                // A filesystem that does not take this namespace: what Docker does too.
                Errno::ENOTSUP => {}
                e => return Err(e),
            }
        }
    }
    Ok(())
}

/// Writes what it is given as a tar stream (`cp CONTAINER:SRC -`).
struct TarSink<W: Write> {
    tar: tar::Builder<W>,
    prefix: Vec<Vec<u8>>,
}

impl<W: Write> TarSink<W> {
    fn path(&self, name: &CStr) -> Vec<u8> {
        let mut p = self.prefix.last().cloned().unwrap_or_default();
        p.extend_from_slice(name.to_bytes());
        p
    }

    fn header(st: &libc::stat64, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(st.st_uid as u64);
        h.set_gid(st.st_gid as u64);
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        h
    }

    fn put(
        &mut self,
        mut h: tar::Header,
        path: &[u8],
        link: Option<&[u8]>,
        data: &mut dyn Read,
    ) -> Result<()> {
        let p = Path::new(OsStr::from_bytes(path));
        let r = match link {
            Some(t) => self.tar.append_link(&mut h, p, Path::new(OsStr::from_bytes(t))),
            None => self.tar.append_data(&mut h, p, data),
        };
        r.map_err(|e| Error::os(format!("write the tar entry {}: {e}", String::from_utf8_lossy(path))))
    }
}

impl<W: Write> Sink for TarSink<W> {
    fn dir(&mut self, name: &CStr, st: &libc::stat64) -> Result<()> {
        let mut p = self.path(name);
        p.push(b'/');
        self.put(Self::header(st, tar::EntryType::Directory), &p, None, &mut std::io::empty())?;
        self.prefix.push(p);
        Ok(())
    }
    fn leave(&mut self, _st: &libc::stat64) -> Result<()> {
        self.prefix.pop();
        Ok(())
    }
    fn file(&mut self, name: &CStr, st: &libc::stat64, content: &mut std::fs::File) -> Result<()> {
        let mut h = Self::header(st, tar::EntryType::Regular);
        h.set_size(st.st_size as u64);
        let p = self.path(name);
        self.put(h, &p, None, &mut content.take(st.st_size as u64))
    }
    fn hardlink(&mut self, name: &CStr, st: &libc::stat64, first: &[u8]) -> Result<bool> {
        let p = self.path(name);
        self.put(Self::header(st, tar::EntryType::Link), &p, Some(first), &mut std::io::empty())?;
        Ok(true)
    }
    fn symlink(&mut self, name: &CStr, st: &libc::stat64, target: &[u8]) -> Result<()> {
        let p = self.path(name);
        self.put(Self::header(st, tar::EntryType::Symlink), &p, Some(target), &mut std::io::empty())
    }
    fn node(&mut self, name: &CStr, st: &libc::stat64) -> Result<()> {
        let kind = match fmt(st) {
            libc::S_IFCHR => tar::EntryType::Char,
            libc::S_IFBLK => tar::EntryType::Block,
            _ => tar::EntryType::Fifo,
        };
        let mut h = Self::header(st, kind);
        let _ = h.set_device_major(libc::major(st.st_rdev));
        let _ = h.set_device_minor(libc::minor(st.st_rdev));
        let p = self.path(name);
        self.put(h, &p, None, &mut std::io::empty())
    }
}

/// `/a/b/` → ("/a", "b", trailing slash); `/a/b/.` → ("/a/b", ".", false).
fn split(path: &str) -> (&str, &str, bool) {
    let slash = path.ends_with('/') && path.len() > 1;
    let t = path.trim_end_matches('/');
    match t.rsplit_once('/') {
        Some(("", n)) => ("/", n, slash),
        Some((p, n)) => (p, n, slash),
        None if t.is_empty() => ("/", ".", slash),
        None => (".", t, slash),
    }
}

/// Where a copy goes, Docker's rules: into an existing directory under the
/// source's name; onto a path that does not exist (its parent must); over a
/// file with a file. `src_dir`: the source is a directory; `contents`: the
/// source ended in `/.` (copy what is in it, not it).
enum Place {
    /// Create `name` in directory `dir`.
    In(OwnedFd, CString),
    /// Merge the source directory's contents into `dir`.
    Into(OwnedFd),
}

/// Resolve a destination for a source named `src_name`. `open(path, flags)`
/// opens a path where the destination lives (in the container's root or on the host).
fn place(
    open: &dyn Fn(&str, libc::c_int) -> Result<OwnedFd>,
    dest: &str,
    src_name: &[u8],
    src_dir: bool,
    contents: bool,
) -> Result<Place> {
    match open(dest, libc::O_PATH) {
        Ok(fd) => {
            let st = stat_fd(fd.as_raw_fd()).map_err(|e| errno_err(dest, e))?;
            if fmt(&st) == libc::S_IFDIR {
                if contents {
                    return Ok(Place::Into(fd));
                }
                return Ok(Place::In(fd, cstr(src_name)?));
            }
            if src_dir {
                return Err(Error::invalid(format!("cannot copy a directory onto the file {dest}")));
            }
            let (parent, name, _) = split(dest);
            Ok(Place::In(open(parent, libc::O_PATH | libc::O_DIRECTORY)?, cstr(name.as_bytes())?))
        }
        Err(e) if e.kind == super::error::Kind::NotFound => {
            let (parent, name, slash) = split(dest);
            if slash && !src_dir {
                return Err(Error::not_found(format!("{dest}: no such directory")));
            }
            let dir = open(parent, libc::O_PATH | libc::O_DIRECTORY).map_err(|e| {
                if e.kind == super::error::Kind::NotFound {
                    Error::not_found(format!("{parent}: no such directory (the parent of {dest})"))
                } else {
                    e
                }
            })?;
            if contents {
                // `cp SRC/. NEW`: NEW is made and gets what is in SRC.
                let c = cstr(name.as_bytes())?;
                if unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o755) } < 0 {
                    return Err(errno_err(format!("create {dest}"), Errno::last()));
                }
                let fd = open_at(dir.as_raw_fd(), &c, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)
                    .map_err(|e| errno_err(dest, e))?;
                return Ok(Place::Into(fd));
            }
            Ok(Place::In(dir, cstr(name.as_bytes())?))
        }
        Err(e) => Err(e),
    }
}

/// Copy the object `src` (O_PATH) to `place`.
fn copy_to(src: OwnedFd, place: Place, opts: Opts, shown: &str) -> Result<()> {
    match place {
        Place::In(dir, name) => {
            let mut sink = DirSink::new(dir, opts, shown)?;
            walk(src, &name, &mut sink, shown)
        }
        Place::Into(dir) => {
            // The source's children go into `dir`, which keeps its own metadata.
            let mut sink = DirSink::new(dir, opts, shown)?;
            for child in names(src.as_raw_fd()).map_err(|e| errno_err(shown, e))? {
                let cfd = open_at(src.as_raw_fd(), &child, libc::O_PATH | libc::O_NOFOLLOW, 0)
                    .map_err(|e| errno_err(shown, e))?;
                walk(cfd, &child, &mut sink, shown)?;
            }
            Ok(())
        }
    }
}

fn open_host(path: &str, flags: libc::c_int) -> Result<OwnedFd> {
    let c = cstr(path.as_bytes())?;
    open_at(libc::AT_FDCWD, &c, flags, 0).map_err(|e| match e {
        Errno::ENOENT => Error::not_found(format!("{path}: no such file or directory")),
        e => errno_err(path, e),
    })
}

fn open_root(root: &str) -> Result<OwnedFd> {
    open_host(root, libc::O_PATH | libc::O_DIRECTORY)
}

/// The source, in the root or on the host, as an O_PATH fd of itself (its
/// last link followed only with `follow`), its name, and whether it is a dir.
fn source(
    open: &dyn Fn(&str, libc::c_int) -> Result<OwnedFd>,
    path: &str,
    follow: bool,
) -> Result<(OwnedFd, Vec<u8>, bool, bool)> {
    let (_, name, _) = split(path);
    let contents = name == "." && path.trim_end_matches('/').ends_with("/.");
    let flags = if follow || contents { libc::O_PATH } else { libc::O_PATH | libc::O_NOFOLLOW };
    let fd = open(path, flags)?;
    let st = stat_fd(fd.as_raw_fd()).map_err(|e| errno_err(path, e))?;
    let is_dir = fmt(&st) == libc::S_IFDIR;
    if path.ends_with('/') && !is_dir && !contents {
        return Err(Error::invalid(format!("{path}: not a directory")));
    }
    let name = if name == "." || name.is_empty() { b"root".to_vec() } else { name.as_bytes().to_vec() };
    Ok((fd, name, is_dir, contents))
}

/// `cp HOST_SRC CONTAINER:DEST` with `root` the container's root (its
/// `/proc/PID/root`, or its privately mounted layer). `src` "-": a tar on
/// stdin, unpacked into the directory `dest`.
pub fn into_container(root: &str, src: &str, dest: &str, opts: Opts) -> Result<()> {
    let rootfd = open_root(root)?;
    let in_root = |p: &str, flags: libc::c_int| inroot::open(rootfd.as_fd(), p, flags);
    if src == "-" {
        let dir = in_root(dest, libc::O_PATH | libc::O_DIRECTORY)?;
        return untar(std::io::stdin().lock(), dir.as_fd(), opts, dest);
    }
    let (fd, name, is_dir, contents) = source(&open_host, src, opts.follow)?;
    let place = place(&in_root, dest, &name, is_dir, contents)?;
    copy_to(fd, place, opts, dest)
}

/// `cp CONTAINER:SRC HOST_DEST`; `dest` "-": a tar of SRC on stdout.
pub fn out_of_container(root: &str, src: &str, dest: &str, opts: Opts) -> Result<()> {
    let rootfd = open_root(root)?;
    let in_root = |p: &str, flags: libc::c_int| inroot::open(rootfd.as_fd(), p, flags);
    let (fd, name, is_dir, contents) = source(&in_root, src, opts.follow)?;
    if dest == "-" {
        let out = std::io::BufWriter::with_capacity(256 << 10, std::io::stdout().lock());
        let mut sink = TarSink { tar: tar::Builder::new(out), prefix: Vec::new() };
        if contents {
            for child in names(fd.as_raw_fd()).map_err(|e| errno_err(src, e))? {
                let cfd = open_at(fd.as_raw_fd(), &child, libc::O_PATH | libc::O_NOFOLLOW, 0)
                    .map_err(|e| errno_err(src, e))?;
                walk(cfd, &child, &mut sink, src)?;
            }
        } else {
            walk(fd, &cstr(&name)?, &mut sink, src)?;
        }
        let mut out = sink.tar.into_inner().map_err(|e| Error::os(format!("write the tar: {e}")))?;
        return out.flush().map_err(|e| Error::os(format!("write the tar: {e}")));
    }
    let place = place(&open_host, dest, &name, is_dir, contents)?;
    copy_to(fd, place, Opts { to_host: true, ..opts }, dest)
}

/// Unpack a tar into `dir`, each entry's parents made fd-relative without following links.
fn untar(reader: impl Read, dir: BorrowedFd, opts: Opts, shown: &str) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| Error::invalid(format!("read the tar: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::invalid(format!("read the tar: {e}")))?;
        let raw = entry.path_bytes().into_owned();
        let parts: Vec<&[u8]> = raw.split(|b| *b == b'/').filter(|p| !p.is_empty() && *p != b".").collect();
        if parts.contains(&&b".."[..]) {
            return Err(Error::invalid(format!(
                "tar entry {:?} climbs out with ..",
                String::from_utf8_lossy(&raw)
            )));
        }
        let Some((last, parents)) = parts.split_last() else { continue };
        let mut cur = dir.try_clone_to_owned().map_err(|e| Error::os(format!("dup: {e}")))?;
        for p in parents {
            let c = cstr(p)?;
            unsafe { libc::mkdirat(cur.as_raw_fd(), c.as_ptr(), 0o755) };
            cur = open_at(cur.as_raw_fd(), &c, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)
                .map_err(|e| errno_err(format!("{shown}/{}", String::from_utf8_lossy(&raw)), e))?;
        }
        let h = entry.header().clone();
        let mut st: libc::stat64 = unsafe { std::mem::zeroed() };
        st.st_mode = h.mode().unwrap_or(0o644);
        st.st_uid = h.uid().unwrap_or(0) as u32;
        st.st_gid = h.gid().unwrap_or(0) as u32;
        st.st_mtime = h.mtime().unwrap_or(0) as i64;
        st.st_atime = st.st_mtime;
        let mut sink = DirSink::new(cur, opts, shown)?;
        let name = cstr(last)?;
        let kind = h.entry_type();
        if kind.is_dir() {
            sink.dir(&name, &st)?;
            st.st_mode |= libc::S_IFDIR;
            sink.leave(&st)?;
        } else if kind.is_symlink() || kind.is_hard_link() {
            let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
            if kind.is_symlink() {
                sink.symlink(&name, &st, &target)?;
            } else {
                // A hard link's target is a path in the archive: resolved under `dir`, never outside.
                let t = String::from_utf8_lossy(&target).into_owned();
                let old = inroot::open(dir, &t, libc::O_PATH | libc::O_NOFOLLOW)?;
                sink.clear(&name);
                // From the fd: the object itself, never a path looked up again.
                if unsafe {
                    libc::linkat(
                        old.as_raw_fd(),
                        c"".as_ptr(),
                        sink.cur(),
                        name.as_ptr(),
                        libc::AT_EMPTY_PATH,
                    )
                } < 0
                {
                    return Err(sink.fail(&name, "link", Errno::last()));
                }
            }
        } else if kind.is_file() {
            sink.clear(&name);
            let out = open_at(
                sink.cur(),
                &name,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                0o600,
            )
            .map_err(|e| sink.fail(&name, "create", e))?;
            let mut out = std::fs::File::from(out);
            std::io::copy(&mut entry, &mut out).map_err(|e| Error::os(format!("write {shown}: {e}")))?;
            sink.meta(out.as_raw_fd(), &name, &st)?;
        } else if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            st.st_mode |= if kind.is_character_special() {
                libc::S_IFCHR
            } else if kind.is_block_special() {
                libc::S_IFBLK
            } else {
                libc::S_IFIFO
            };
            st.st_rdev = libc::makedev(
                h.device_major().ok().flatten().unwrap_or(0),
                h.device_minor().ok().flatten().unwrap_or(0),
            );
            sink.node(&name, &st)?;
        }
    }
    Ok(())
}

/// Copy the contents of directory `src_dir` (any fd) into the empty
/// directory `dst` on the host, owners, modes and times kept, and give `dst`
/// the source directory's owner and mode: a new volume's copy-up.
pub fn copy_up(src_dir: BorrowedFd, dst: &Path) -> Result<()> {
    let shown = dst.display().to_string();
    let dstfd = open_host(&shown, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW)?;
    let src = open_at(src_dir.as_raw_fd(), c".", libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(|e| errno_err(&shown, e))?;
    let st = stat_fd(src.as_raw_fd()).map_err(|e| errno_err(&shown, e))?;
    copy_to(
        src,
        Place::Into(dstfd.try_clone().map_err(|e| Error::os(format!("dup: {e}")))?),
        Opts { keep_owner: true, ..Opts::default() },
        &shown,
    )?;
    let p = cstr(format!("/proc/self/fd/{}", dstfd.as_raw_fd()).as_bytes())?;
    unsafe {
        libc::chown(p.as_ptr(), st.st_uid, st.st_gid);
        libc::chmod(p.as_ptr(), st.st_mode & 0o7777);
    }
    Ok(())
}

/// The root of a stopped container, for `cp` and the like: this process
/// moves to a mount namespace of its own (nothing it mounts is seen by the
/// host, and all of it goes when it exits), mounts the container's overlay
/// there and applies its bind mounts (volumes, `-v`) by the same plan its
/// init uses. Returns the root's path. Call it once, single-threaded.
pub fn private_root(
    data_root: &Path,
    id: &str,
    lowers: &[std::path::PathBuf],
    binds: &[super::spec::Mount],
) -> Result<std::path::PathBuf> {
    use nix::mount::{MsFlags, mount};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| errno_err("a mount namespace of its own", e))?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_SLAVE, None::<&str>)
        .map_err(|e| errno_err("make / a slave", e))?;
    let layer = super::overlay::mount_overlay(data_root, id, lowers, false)?;
    let binds: Vec<super::spec::Mount> =
        binds.iter().filter(|m| m.kind.as_deref() == Some("bind")).cloned().collect();
    let plan = super::mounts::plan(&binds)?;
    super::mounts::apply(
        &layer.merged,
        &plan,
        &super::mounts::Context { bundle: Path::new("/"), cgroup: None },
    )?;
    Ok(layer.merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn destinations_follow_dockers_rules() {
        assert_eq!(split("/a/b"), ("/a", "b", false));
        assert_eq!(split("/a/b/"), ("/a", "b", true));
        assert_eq!(split("/a"), ("/", "a", false));
        assert_eq!(split("b"), (".", "b", false));
    }

    #[test]
    fn a_link_in_the_root_is_copied_as_a_link_or_followed_inside() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("etc")).expect("etc");
        std::fs::write(root.join("etc/shadow"), "container").expect("shadow");
        symlink("/etc/shadow", root.join("link")).expect("link");
        let r = root.display().to_string();
        let out = tmp.path().join("out");
        out_of_container(&r, "/link", &out.display().to_string(), Opts::default()).expect("cp link");
        assert_eq!(std::fs::read_link(&out).expect("a link"), Path::new("/etc/shadow"));
        let out2 = tmp.path().join("out2");
        out_of_container(&r, "/link", &out2.display().to_string(), Opts { follow: true, ..Opts::default() })
            .expect("cp -L");
        assert_eq!(std::fs::read_to_string(&out2).expect("read"), "container");
        // Into the root through a link to "/": lands in the root.
        symlink("/", root.join("up")).expect("up");
        let src = tmp.path().join("src");
        std::fs::write(&src, "x").expect("src");
        into_container(&r, &src.display().to_string(), "/up/etc/", Opts::default()).expect("cp in");
        assert_eq!(std::fs::read_to_string(root.join("etc/src")).expect("in root"), "x");
        // Hard links stay links, made from the first copy's fd.
        std::fs::create_dir_all(root.join("hl")).expect("hl");
        std::fs::write(root.join("hl/a"), "same").expect("a");
        std::fs::hard_link(root.join("hl/a"), root.join("hl/b")).expect("b");
        let attr = std::ffi::CString::new(root.join("hl/a").display().to_string()).expect("path");
        let set = unsafe { libc::setxattr(attr.as_ptr(), c"user.test".as_ptr(), b"v".as_ptr().cast(), 1, 0) };
        let archive = Opts { keep_owner: true, ..Opts::default() };
        out_of_container(&r, "/hl", &tmp.path().join("hl").display().to_string(), archive).expect("cp -a hl");
        use std::os::unix::fs::MetadataExt;
        let ino = |p: &str| std::fs::metadata(tmp.path().join(p)).expect("stat").ino();
        assert_eq!(ino("hl/a"), ino("hl/b"));
        if set == 0 {
            // With -a (and copy-up) xattrs come along.
            let copied = std::ffi::CString::new(tmp.path().join("hl/a").display().to_string()).expect("path");
            let mut v = [0u8; 4];
            let n = unsafe {
                libc::getxattr(copied.as_ptr(), c"user.test".as_ptr(), v.as_mut_ptr().cast(), v.len())
            };
            assert_eq!(n, 1, "the xattr was copied");
        }
    }
}
