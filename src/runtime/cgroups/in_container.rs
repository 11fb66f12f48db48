//! The container's own cgroup, read-only at /sys/fs/cgroup inside it, so that
//! programs (JVMs, Go, Python) can read their limits, as under Docker.
//!
//! The host's layout, mirrored: on a v1 or hybrid host a tmpfs with one
//! mount per hierarchy, named as on the host (`memory`, `cpu,cpuacct` with
//! `cpu` and `cpuacct` links to it, `systemd`, `unified`); on a pure v2 host one
//! mount at /sys/fs/cgroup. Each is a bind of the container's own cgroup
//! directory, so nothing above it — the host's or other containers' cgroups —
//! is reachable, and the init's cgroup namespace makes its paths read `/`.
//! Everything is read-only, nosuid, nodev, noexec.

use super::Cgroups;
use crate::runtime::error::{Error, Result};
use crate::runtime::inroot;
use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

const MOUNT_POINT: &str = "sys/fs/cgroup";

/// One hierarchy inside the container.
#[derive(Debug, Clone, PartialEq)]
pub struct CgroupMount {
    /// The container's cgroup directory on the host.
    pub source: PathBuf,
    /// Under /sys/fs/cgroup; empty for the whole of it (pure v2).
    pub target: String,
    /// Names linked to `target` (the controllers of a co-mounted hierarchy).
    pub links: Vec<String>,
}

impl Cgroups {
    /// What `mount_in_container` mounts for cgroup `name`.
    pub fn container_mounts(&self, name: &str) -> Result<Vec<CgroupMount>> {
        let dirs = self.paths(name)?;
        if self.layout == "v2" && self.hierarchies.len() == 1 {
            return Ok(vec![CgroupMount { source: dirs[0].clone(), target: String::new(), links: vec![] }]);
        }
        let mut out: Vec<CgroupMount> = Vec::new();
        for (h, source) in self.hierarchies.iter().zip(dirs) {
            let Some(target) = h.mount.file_name().and_then(|n| n.to_str()).map(String::from) else {
                continue;
            };
            if out.iter().any(|m| m.target == target || m.links.contains(&target)) {
                continue;
            }
            let links = if target.contains(',') {
                target.split(',').filter(|c| !c.is_empty()).map(String::from).collect()
            } else {
                vec![]
            };
            out.push(CgroupMount { source, target, links });
        }
        Ok(out)
    }
}

/// Mount the container's cgroup `name` read-only at /sys/fs/cgroup in `root`
/// (after /sys, before pivot_root). Paths in the root are resolved inside it.
pub fn mount_in_container(root: &Path, name: &str) -> Result<()> {
    let mounts = Cgroups::host()?.container_mounts(name)?;
    let rootdir =
        std::fs::File::open(root).map_err(|e| Error::os(format!("open {}: {e}", root.display())))?;
    let rootfd = rootdir.as_fd();
    let hidden = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let whole = mounts.len() == 1 && mounts[0].target.is_empty();
    // The fresh tmpfs holding one directory per hierarchy (none on pure v2).
    let tmpfs = if whole {
        None
    } else {
        mount_on(rootfd, MOUNT_POINT, Some("tmpfs"), Some("tmpfs"), hidden, Some("mode=755"))?;
        Some(inroot::open(rootfd, MOUNT_POINT, libc::O_PATH | libc::O_DIRECTORY)?)
    };
    for m in &mounts {
        let rel = if let Some(dir) = &tmpfs {
            at_tmpfs(dir.as_fd(), &m.target, |d, n| unsafe { libc::mkdirat(d, n, 0o555) })?;
            format!("{MOUNT_POINT}/{}", m.target)
        } else {
            MOUNT_POINT.to_string()
        };
        let source = m
            .source
            .to_str()
            .ok_or_else(|| Error::invalid(format!("bad cgroup path {}", m.source.display())))?;
        mount_on(rootfd, &rel, Some(source), None, MsFlags::MS_BIND, None)?;
        if let Some(dir) = &tmpfs {
            let target = CString::new(m.target.as_str())
                .map_err(|_| Error::invalid(format!("bad cgroup name {:?}", m.target)))?;
            for link in m.links.iter().filter(|l| **l != m.target) {
                at_tmpfs(dir.as_fd(), link, |d, n| unsafe { libc::symlinkat(target.as_ptr(), d, n) })?;
            }
        }
    }
    // One call makes the tmpfs and every bind under it read-only (Linux 5.12);
    // older kernels get a remount per mount.
    let top = inroot::open(rootfd, MOUNT_POINT, libc::O_PATH | libc::O_DIRECTORY)?;
    if !set_read_only_recursively(top.as_fd())? {
        for m in mounts.iter().filter(|m| !m.target.is_empty()) {
            remount_read_only(rootfd, &format!("{MOUNT_POINT}/{}", m.target))?;
        }
        remount_read_only(rootfd, MOUNT_POINT)?;
    }
    Ok(())
}

/// mount_setattr(AT_RECURSIVE): ro, nosuid, nodev, noexec on the mount at
/// `dir` and all below it. False when the kernel lacks the call.
fn set_read_only_recursively(dir: BorrowedFd) -> Result<bool> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    // MOUNT_ATTR_RDONLY | NOSUID | NODEV | NOEXEC (linux/mount.h).
    let attr = MountAttr { attr_set: 0x1 | 0x2 | 0x4 | 0x8, attr_clr: 0, propagation: 0, userns_fd: 0 };
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dir.as_raw_fd(),
            c"".as_ptr(),
            (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    match r {
        0 => Ok(true),
        _ if Errno::last() == Errno::ENOSYS => Ok(false),
        _ => Err(Error::os(format!(
            "make /{MOUNT_POINT} read-only in the container: {}",
            Errno::last().desc()
        ))),
    }
}

/// Make `name` in the fresh tmpfs with `make` (mkdirat, symlinkat); one that
/// exists already (a name listed twice) is fine.
fn at_tmpfs(
    dir: BorrowedFd,
    name: &str,
    make: impl Fn(libc::c_int, *const libc::c_char) -> libc::c_int,
) -> Result<()> {
    let cname = CString::new(name).map_err(|_| Error::invalid(format!("bad cgroup name {name:?}")))?;
    if make(dir.as_raw_fd(), cname.as_ptr()) < 0 && Errno::last() != Errno::EEXIST {
        return Err(Error::os(format!(
            "create /{MOUNT_POINT}/{name} in the container: {}",
            Errno::last().desc()
        )));
    }
    Ok(())
}

/// Mount on `rel` in the root, opened (and so resolved) inside it just before.
fn mount_on(
    root: BorrowedFd,
    rel: &str,
    source: Option<&str>,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    let target = inroot::open(root, rel, libc::O_PATH | libc::O_DIRECTORY)?;
    mount(source, &inroot::proc_fd_path(target.as_fd()), fstype, flags, data).map_err(|e| {
        Error::os(format!("mount {} on /{rel} in the container: {}", source.unwrap_or(""), e.desc()))
    })
}

/// Make the mount at `rel` read-only (reopened, so it is the mount on top).
fn remount_read_only(root: BorrowedFd, rel: &str) -> Result<()> {
    mount_on(root, rel, None, None, crate::runtime::rootfs::READ_ONLY_REMOUNT, None)
}

#[cfg(test)]
mod tests {
    use super::super::Hierarchy;
    use super::*;

    fn h(mount: &str, version: u8, controllers: &[&str]) -> Hierarchy {
        Hierarchy {
            mount: mount.into(),
            version,
            controllers: controllers.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn the_hosts_layout_is_mirrored() {
        let hybrid = Cgroups {
            layout: "hybrid".into(),
            hierarchies: vec![
                h("/sys/fs/cgroup/memory", 1, &["memory"]),
                h("/sys/fs/cgroup/cpu,cpuacct", 1, &["cpu", "cpuacct"]),
                h("/sys/fs/cgroup/systemd", 1, &[]),
                h("/sys/fs/cgroup/unified", 2, &["hugetlb"]),
            ],
        };
        let m = hybrid.container_mounts("mydocker/abc").unwrap();
        let targets: Vec<&str> = m.iter().map(|m| m.target.as_str()).collect();
        assert_eq!(targets, ["memory", "cpu,cpuacct", "systemd", "unified"]);
        assert_eq!(m[0].source, PathBuf::from("/sys/fs/cgroup/memory/mydocker/abc"));
        assert_eq!(m[1].links, ["cpu", "cpuacct"]);
        assert!(m[0].links.is_empty());

        let v2 =
            Cgroups { layout: "v2".into(), hierarchies: vec![h("/sys/fs/cgroup", 2, &["memory", "pids"])] };
        let m = v2.container_mounts("mydocker/abc").unwrap();
        assert_eq!(
            m,
            [CgroupMount {
                source: "/sys/fs/cgroup/mydocker/abc".into(),
                target: String::new(),
                links: vec![]
            }]
        );
        assert!(v2.container_mounts("../x").is_err());
    }
}
