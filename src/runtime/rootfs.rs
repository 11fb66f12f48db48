//! What the init does to its mount namespace: the spec's root, mounts and
//! devices, then `pivot_root` into it and detach the old root so no host path
//! stays reachable; then what the spec makes read-only or hides. Runs in the
//! child. (The overlay it usually is lives on the host side: `overlay.rs`.)

use super::error::{Context, Error, Result};
use super::spec::{Device, Spec};
use super::{inroot, mounts};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::unistd::{chdir, pivot_root};
use std::ffi::CString;
use std::fs;
use std::io::ErrorKind;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// The root's path: `root.path`, relative to the bundle unless absolute.
pub fn root_path(spec: &Spec, bundle: &Path) -> PathBuf {
    let path = spec.root.as_ref().map(|r| r.path.as_str()).unwrap_or("rootfs");
    if path.starts_with('/') { PathBuf::from(path) } else { bundle.join(path) }
}

/// Before pivot_root: the root bound onto itself (pivot_root needs a mount
/// point), every mount of the spec inside it, the devices in its /dev.
pub fn prepare(root: &Path, spec: &Spec, cx: &mounts::Context) -> Result<()> {
    let linux = spec.linux.as_ref();
    // Nothing we mount may propagate back to the host (rprivate unless the spec asks otherwise).
    let prop = linux
        .and_then(|l| l.rootfs_propagation.as_deref())
        .and_then(mounts::propagation_flag)
        .unwrap_or(MsFlags::MS_PRIVATE | MsFlags::MS_REC);
    let first = if prop.contains(MsFlags::MS_SHARED) {
        MsFlags::MS_SLAVE | MsFlags::MS_REC
    } else {
        prop | MsFlags::MS_REC
    };
    mount(None::<&str>, "/", None::<&str>, first, None::<&str>).ctx(|| "make / private")?;
    mount(Some(root), root, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .ctx(|| format!("bind {}", root.display()))?;
    // The bind inherits the host mount's nosuid,nodev; inside, the image's
    // setuid programs work and device nodes are governed by the device
    // cgroup, as under Docker.
    mount(None::<&str>, root, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REMOUNT, None::<&str>)
        .ctx(|| format!("remount {} suid,dev", root.display()))?;
    let plan = mounts::plan(&spec.mounts)?;
    mounts::apply(root, &plan, cx)?;
    let rootdir = fs::File::open(root).ctx(|| format!("open {}", root.display()))?;
    let devices = linux.map_or(&[][..], |l| &l.devices);
    let dev_is_ours = spec
        .mounts
        .iter()
        .any(|m| m.destination.trim_end_matches('/') == "/dev" && m.kind.as_deref() != Some("bind"));
    if dev_is_ours {
        default_devices(rootdir.as_fd())?;
    }
    for d in devices {
        make_device(rootdir.as_fd(), d)?;
    }
    if prop.contains(MsFlags::MS_SHARED) {
        mount(None::<&str>, root, None::<&str>, prop, None::<&str>).ctx(|| "set the root's propagation")?;
    }
    Ok(())
}

/// pivot_root into `root` and detach the old root.
pub fn pivot(root: &Path) -> Result<()> {
    chdir(root).ctx(|| format!("chdir {}", root.display()))?;
    // pivot_root(".", ".") stacks the old root under the new one; detaching it
    // leaves no path to the host's filesystem.
    pivot_root(".", ".").ctx(|| "pivot_root")?;
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "detach old root")?;
    chdir("/").ctx(|| "chdir /")
}

/// After pivot_root: a read-only root, sysctls, the masked and read-only paths.
pub fn finish(spec: &Spec) -> Result<()> {
    if spec.root.as_ref().is_some_and(|r| r.readonly) {
        let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount(None::<&str>, "/", None::<&str>, ro, None::<&str>).ctx(|| "remount / read-only")?;
    }
    let Some(l) = &spec.linux else { return Ok(()) };
    // Before /proc/sys becomes read-only.
    for (key, value) in &l.sysctl {
        let file = format!("/proc/sys/{}", key.replace('.', "/"));
        fs::write(&file, value).ctx(|| format!("sysctl {key}={value}"))?;
    }
    for path in &l.masked_paths {
        mask(path)?;
    }
    for path in &l.readonly_paths {
        make_readonly(path)?;
    }
    Ok(())
}

/// Hide `path` (inside the container): a missing path needs no hiding.
fn mask(path: &str) -> Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::os(format!("mask {path}: {e}"))),
    };
    let r = if meta.is_dir() {
        mount(Some("tmpfs"), path, Some("tmpfs"), MsFlags::MS_RDONLY, Some("size=0"))
    } else {
        mount(Some("/dev/null"), path, None::<&str>, MsFlags::MS_BIND, None::<&str>)
    };
    r.ctx(|| format!("mask {path}"))
}

/// The flags that make a bind mount read-only, nosuid, nodev and noexec.
pub const READ_ONLY_REMOUNT: MsFlags = MsFlags::MS_BIND
    .union(MsFlags::MS_REMOUNT)
    .union(MsFlags::MS_RDONLY)
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// Bind `path` over itself, then remount that bind read-only.
fn make_readonly(path: &str) -> Result<()> {
    if let Err(e) = fs::symlink_metadata(path)
        && e.kind() == ErrorKind::NotFound
    {
        return Ok(());
    }
    mount(Some(path), path, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .ctx(|| format!("bind {path}"))?;
    mount(None::<&str>, path, None::<&str>, READ_ONLY_REMOUNT, None::<&str>)
        .ctx(|| format!("make {path} read-only"))
}

/// The devices every container gets (the runtime spec's defaults) and the
/// standard links, in a /dev the spec mounted.
fn default_devices(root: BorrowedFd) -> Result<()> {
    const NODES: [(&str, i64, i64); 6] =
        [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];
    let dev = inroot::open(root, "/dev", libc::O_PATH | libc::O_DIRECTORY)?;
    for (name, major, minor) in NODES {
        let d = Device {
            kind: "c".into(),
            path: format!("/dev/{name}"),
            major,
            minor,
            file_mode: Some(0o666),
            uid: None,
            gid: None,
        };
        make_node(dev.as_fd(), name, &d)?;
    }
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let (l, t) = (cstr(link)?, cstr(target)?);
        if unsafe { libc::symlinkat(t.as_ptr(), dev.as_raw_fd(), l.as_ptr()) } < 0
            && Errno::last() != Errno::EEXIST
        {
            return Err(Error::os(format!("symlink /dev/{link}: {}", Errno::last().desc())));
        }
    }
    Ok(())
}

fn cstr(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid(format!("{s:?} contains a NUL byte")))
}

/// mknod a device of the spec inside the root, with its mode and owner; an
/// existing node is replaced.
fn make_device(root: BorrowedFd, d: &Device) -> Result<()> {
    let (parent, name) =
        d.path.rsplit_once('/').ok_or_else(|| Error::invalid(format!("bad device path {}", d.path)))?;
    let dir = inroot::mkdir_all(root, parent, 0o755)?;
    make_node(dir.as_fd(), name, d)
}

/// mknod `name` in `dir` as `d` says.
fn make_node(dir: BorrowedFd, name: &str, d: &Device) -> Result<()> {
    let kind = match d.kind.as_str() {
        "b" => libc::S_IFBLK,
        "p" => libc::S_IFIFO,
        _ => libc::S_IFCHR,
    };
    let cname = cstr(name)?;
    let mode = d.file_mode.unwrap_or(0o666) & 0o7777;
    let dev = libc::makedev(d.major.max(0) as u32, d.minor.max(0) as u32);
    unsafe {
        libc::unlinkat(dir.as_raw_fd(), cname.as_ptr(), 0);
        if libc::mknodat(dir.as_raw_fd(), cname.as_ptr(), kind | mode, dev) < 0 {
            return Err(Error::os(format!("mknod {}: {}", d.path, Errno::last().desc())));
        }
        // mknod is subject to the umask; make the mode and owner exact.
        if libc::fchmodat(dir.as_raw_fd(), cname.as_ptr(), mode, 0) < 0 {
            return Err(Error::os(format!("set the mode of {}: {}", d.path, Errno::last().desc())));
        }
        if (d.uid.is_some() || d.gid.is_some())
            && libc::fchownat(
                dir.as_raw_fd(),
                cname.as_ptr(),
                d.uid.unwrap_or(0),
                d.gid.unwrap_or(0),
                libc::AT_SYMLINK_NOFOLLOW,
            ) < 0
        {
            return Err(Error::os(format!("set the owner of {}: {}", d.path, Errno::last().desc())));
        }
    }
    Ok(())
}
