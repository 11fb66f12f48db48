//! The container's root filesystem.
//!
//! Host side: an overlay per container — the image as the read-only lower dir,
//! and `upper`, `work`, `merged` under `<data-root>/containers/<id>/`.
//! Container side (run by the init process in its new mount namespace): make
//! every mount private, mount /proc, /dev, /sys inside the overlay, then
//! `pivot_root` into it and detach the old root so no host path stays reachable.

use super::error::{Context, Error, Result};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use nix::unistd::{chdir, pivot_root};
use serde::Serialize;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct Layer {
    pub dir: PathBuf,
    pub lower: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
}

/// Where the layer of container `id` lives.
pub fn layer_dir(data_root: &Path, id: &str) -> PathBuf {
    data_root.join("containers").join(id)
}

/// Create the container's upper/work/merged dirs and mount the overlay on `merged`.
pub fn mount_overlay(data_root: &Path, id: &str, image_rootfs: &Path, volatile: bool) -> Result<Layer> {
    let dir = layer_dir(data_root, id);
    let layer = Layer {
        lower: image_rootfs.to_path_buf(),
        upper: dir.join("upper"),
        work: dir.join("work"),
        merged: dir.join("merged"),
        dir,
    };
    // Private from the data root down (see `sys::private_dir`); `upper` is
    // the container's `/`, whose mode overlay shows inside, so it is 0755.
    for d in [data_root.to_path_buf(), data_root.join("containers"), layer.dir.clone(), layer.work.clone()] {
        super::sys::private_dir(&d)?;
    }
    for d in [&layer.upper, &layer.merged] {
        match fs::DirBuilder::new().mode(0o755).create(d) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::os(format!("create {}: {e}", d.display()))),
        }
    }
    if !is_mounted(&layer.merged)? {
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            layer.lower.display(),
            layer.upper.display(),
            layer.work.display()
        );
        let volatile_opts = format!("{opts},volatile");
        // nosuid,nodev on the host: a setuid file or device node made inside
        // the container is inert through this path (the container's own bind
        // of its root clears both again, see `ContainerRoot::enter`).
        let host_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
        let mount_with =
            |o: &str| mount(Some("overlay"), &layer.merged, Some("overlay"), host_flags, Some(o));
        match if volatile { mount_with(&volatile_opts) } else { mount_with(&opts) } {
            // A kernel older than 5.10 does not know `volatile`: mount as usual.
            Err(Errno::EINVAL) if volatile => mount_with(&opts),
            other => other,
        }
        .ctx(|| format!("mount overlay on {}", layer.merged.display()))?;
    }
    log::info!("mounted overlay {} (lower {})", layer.merged.display(), layer.lower.display());
    Ok(layer)
}

/// Unmount container `id`'s overlay, keeping its files (upper dir). Idempotent.
/// Unmounting a non-volatile overlay syncs the host filesystem under it: 1-3 ms here.
pub fn unmount_layer(data_root: &Path, id: &str) -> Result<()> {
    let merged = layer_dir(data_root, checked_id(id)?).join("merged");
    if is_mounted(&merged)? {
        umount2(&merged, MntFlags::MNT_DETACH).ctx(|| format!("unmount {}", merged.display()))?;
        log::info!("unmounted {}", merged.display());
    }
    Ok(())
}

fn checked_id(id: &str) -> Result<&str> {
    if id.is_empty() || id.contains('/') || id.starts_with('.') {
        return Err(Error::invalid(format!("invalid container id {id:?}")));
    }
    Ok(id)
}

/// Unmount the overlay (if mounted) and delete the layer. Idempotent.
pub fn remove_layer(data_root: &Path, id: &str) -> Result<()> {
    unmount_layer(data_root, id)?;
    // A container can make its layer as deep as it likes: removed with bounded fds.
    super::remove_tree::remove_tree(&layer_dir(data_root, id))
}

/// Is `path` a mount point in this process's mount namespace?
///
/// One `statx` (STATX_ATTR_MOUNT_ROOT, Linux 5.8): reading /proc/self/mountinfo
/// instead costs more with every container, as each overlay prints its three
/// paths there, and `run` and `rm` both ask.
pub fn is_mounted(path: &Path) -> Result<bool> {
    let cpath = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::invalid(format!("path contains a NUL byte: {}", path.display())))?;
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::statx(libc::AT_FDCWD, cpath.as_ptr(), libc::AT_SYMLINK_NOFOLLOW, libc::STATX_TYPE, &mut stx)
    };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == ErrorKind::NotFound {
            return Ok(false);
        }
        return Err(Error::os(format!("statx {}: {e}", path.display())));
    }
    let root = libc::STATX_ATTR_MOUNT_ROOT as u64;
    if stx.stx_attributes_mask & root != 0 {
        return Ok(stx.stx_attributes & root != 0);
    }
    is_mounted_by_mountinfo(path)
}

fn is_mounted_by_mountinfo(path: &Path) -> Result<bool> {
    let info = fs::read_to_string("/proc/self/mountinfo").ctx(|| "read /proc/self/mountinfo")?;
    let want = path.to_string_lossy();
    Ok(info.lines().filter_map(|l| l.split(' ').nth(4)).any(|mp| unescape_mountinfo(mp) == want))
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
}

/// What the init process does to its mount namespace before exec.
pub struct ContainerRoot<'a> {
    pub rootfs: &'a Path,
    pub readonly: bool,
    /// Hidden: a file gets /dev/null bound over it, a directory an empty read-only tmpfs.
    pub masked_paths: &'a [String],
    /// Bound read-only over themselves.
    pub readonly_paths: &'a [String],
    /// Host files bound onto paths in the root (/etc/hosts, …).
    pub etc_files: &'a [super::etc_files::FileMount],
    /// The container's cgroup, shown read-only at /sys/fs/cgroup.
    pub cgroup: Option<&'a str>,
}

impl ContainerRoot<'_> {
    /// Set up the rootfs and pivot into it. Runs in the child, in its own mount namespace.
    pub fn enter(&self) -> Result<()> {
        let root = self.rootfs;
        // Nothing we mount may propagate back to the host.
        mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
            .ctx(|| "make / private")?;
        // pivot_root needs the new root to be a mount point.
        mount(Some(root), root, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
            .ctx(|| format!("bind {}", root.display()))?;
        // The bind inherits the host mount's nosuid,nodev; inside, the image's
        // setuid programs work and device nodes are governed by the device
        // cgroup, as under Docker.
        mount(None::<&str>, root, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REMOUNT, None::<&str>)
            .ctx(|| format!("remount {} suid,dev", root.display()))?;

        let nosuid_nodev_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount_at(root, "proc", "proc", nosuid_nodev_noexec, None)?;
        mount_at(
            root,
            "dev",
            "tmpfs",
            MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
            Some("mode=755,size=65536k"),
        )?;
        populate_dev(&root.join("dev"))?;
        mount_at(
            root,
            "dev/pts",
            "devpts",
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
        )?;
        mount_at(root, "dev/shm", "tmpfs", nosuid_nodev_noexec, Some("mode=1777,size=65536k"))?;
        mount_at(root, "dev/mqueue", "mqueue", nosuid_nodev_noexec, None)?;
        mount_at(root, "sys", "sysfs", nosuid_nodev_noexec | MsFlags::MS_RDONLY, None)?;
        if let Some(name) = self.cgroup {
            super::cgroups::in_container::mount_in_container(root, name)?;
        }
        super::etc_files::bind_all(root, self.etc_files)?;

        chdir(root).ctx(|| format!("chdir {}", root.display()))?;
        // pivot_root(".", ".") stacks the old root under the new one; detaching it
        // leaves no path to the host's filesystem.
        pivot_root(".", ".").ctx(|| "pivot_root")?;
        umount2(".", MntFlags::MNT_DETACH).ctx(|| "detach old root")?;
        chdir("/").ctx(|| "chdir /")?;
        if self.readonly {
            let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
            mount(None::<&str>, "/", None::<&str>, ro, None::<&str>).ctx(|| "remount / read-only")?;
        }
        for path in self.masked_paths {
            mask(path)?;
        }
        for path in self.readonly_paths {
            make_readonly(path)?;
        }
        Ok(())
    }
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

fn mount_at(root: &Path, rel: &str, fstype: &str, flags: MsFlags, data: Option<&str>) -> Result<()> {
    let target = root.join(rel);
    fs::create_dir_all(&target).ctx(|| format!("create /{rel} in the container"))?;
    mount(Some(fstype), &target, Some(fstype), flags, data).ctx(|| format!("mount {fstype} on /{rel}"))
}

/// The standard device nodes, as Docker provides them.
fn populate_dev(dev: &Path) -> Result<()> {
    const NODES: [(&str, u64, u64); 6] =
        [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];
    for (name, major, minor) in NODES {
        let path = dev.join(name);
        mknod(&path, SFlag::S_IFCHR, Mode::from_bits_truncate(0o666), makedev(major, minor))
            .ctx(|| format!("mknod /dev/{name}"))?;
        // mknod is subject to the umask; make the mode exact.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).ctx(|| format!("chmod /dev/{name}"))?;
    }
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(target, dev.join(link)).ctx(|| format!("symlink /dev/{link}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_told_by_statx_as_mountinfo_tells_them() {
        let tmp = tempfile::tempdir().expect("tmp");
        for (path, want) in [("/", true), ("/proc", true), ("/proc/self", false), ("/sys", true)] {
            assert_eq!(is_mounted(Path::new(path)).expect(path), want, "{path}");
            assert_eq!(is_mounted_by_mountinfo(Path::new(path)).expect(path), want, "{path} (mountinfo)");
        }
        assert!(!is_mounted(tmp.path()).expect("tmp"));
        assert!(!is_mounted(&tmp.path().join("missing")).expect("missing"));
    }
}
