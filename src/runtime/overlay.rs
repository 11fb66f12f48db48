//! The host side of a container's root filesystem: an overlay per container —
//! the image's layers as the read-only lower dirs, and `upper`, `work`,
//! `merged` under `<data-root>/containers/<id>/`. What the init does inside
//! it is `rootfs.rs`.
//!
//! The overlay is made with the new mount API, one `lowerdir+` per layer
//! (Linux 6.8): no limit on the number of layers, where the one-page options
//! string of mount(2) holds some 50 long paths. Older kernels get mount(2).

use super::error::{Context, Error, Result};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use serde::Serialize;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct Layer {
    pub dir: PathBuf,
    /// The lower dirs, top first.
    pub lower: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
}

/// Where the layer of container `id` lives.
pub fn layer_dir(data_root: &Path, id: &str) -> PathBuf {
    data_root.join("containers").join(id)
}

/// Create the container's upper/work/merged dirs and mount the overlay of
/// `lowers` (top first) on `merged`.
pub fn mount_overlay(data_root: &Path, id: &str, lowers: &[PathBuf], volatile: bool) -> Result<Layer> {
    if lowers.is_empty() {
        return Err(Error::invalid("an overlay needs at least one lower dir"));
    }
    let dir = layer_dir(data_root, id);
    let layer = Layer {
        lower: lowers.to_vec(),
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
        // A volatile overlay leaves `work/incompat/volatile`, and the kernel
        // refuses to mount over it again (its writes may not have reached the
        // disk before a crash). A layer mounted again here was unmounted
        // cleanly (a restarted `--rm` container): its files are whole.
        let _ = fs::remove_dir_all(layer.work.join("work/incompat"));
        match mount_with_fsconfig(&layer, volatile) {
            Ok(()) => Ok(()),
            // No new mount API or no `lowerdir+` (before 6.8): mount(2).
            Err(Errno::ENOSYS) | Err(Errno::EINVAL) => mount_classic(&layer, volatile),
            Err(e) => Err(e),
        }
        .ctx(|| format!("mount overlay on {}", layer.merged.display()))?;
    }
    log::info!("mounted overlay {} ({} lower dirs)", layer.merged.display(), layer.lower.len());
    Ok(layer)
}

// nosuid,nodev on the host: a setuid file or device node made inside the
// container is inert through this path (the container's own bind of its root
// clears both again, see `rootfs::prepare`).
const HOST_FLAGS: MsFlags = MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV);

fn mount_classic(layer: &Layer, volatile: bool) -> std::result::Result<(), Errno> {
    let lower: Vec<String> = layer.lower.iter().map(|p| p.display().to_string()).collect();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        layer.upper.display(),
        layer.work.display()
    );
    let mount_with = |o: &str| mount(Some("overlay"), &layer.merged, Some("overlay"), HOST_FLAGS, Some(o));
    match if volatile { mount_with(&format!("{opts},volatile")) } else { mount_with(&opts) } {
        // A kernel older than 5.10 does not know `volatile`: mount as usual.
        Err(Errno::EINVAL) if volatile => mount_with(&opts),
        other => other,
    }
}

/// fsopen/fsconfig/fsmount/move_mount, one `lowerdir+` per layer.
fn mount_with_fsconfig(layer: &Layer, volatile: bool) -> std::result::Result<(), Errno> {
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
    const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    let cstr = |s: &str| CString::new(s).map_err(|_| Errno::EINVAL);
    let fs = super::fs_context::FsContext::open("overlay")?;
    fs.set("source", Some("overlay"))?;
    for l in &layer.lower {
        fs.set("lowerdir+", Some(&l.display().to_string()))?;
    }
    fs.set("upperdir", Some(&layer.upper.display().to_string()))?;
    fs.set("workdir", Some(&layer.work.display().to_string()))?;
    if volatile {
        let _ = fs.set("volatile", None);
    }
    let mnt = fs.mount(MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)?;
    let target = cstr(&layer.merged.display().to_string())?;
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
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
