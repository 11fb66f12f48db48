//! The mounts plan: the spec's mounts (Docker's fixed ones, Podman's or
//! containerd's, later volumes) as data, then one function that applies them
//! inside the container's root before pivot_root.
//!
//! `plan` is pure (options parsed into flags, propagation and fs data) and is
//! tested without root. `apply` resolves every destination inside the root
//! (`inroot`: the image controls every path there, links included) and
//! mounts on the opened fd, never on a path resolved again.

use super::error::{Error, Result};
use super::inroot;
use super::spec;
use nix::mount::{MsFlags, mount};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A bind of a host path (`bind`, or `rbind`: with the mounts below it).
    Bind { recursive: bool },
    /// A filesystem of this type (proc, tmpfs, sysfs, devpts, mqueue, …).
    Fs(String),
    /// The container's own cgroup, read-only (`type: cgroup` or `cgroup2`).
    Cgroup,
}

/// One mount, ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct MountOp {
    pub destination: String,
    pub source: String,
    pub kind: Kind,
    /// Flags of the mount call (for a bind: applied by a remount after it).
    pub flags: MsFlags,
    /// Propagation changes, applied in order after the mount.
    pub propagation: Vec<MsFlags>,
    /// Options the filesystem reads (`mode=755,size=65536k`).
    pub data: String,
}

/// A propagation option's flags (`rprivate` → MS_PRIVATE|MS_REC).
pub fn propagation_flag(opt: &str) -> Option<MsFlags> {
    let rec = MsFlags::MS_REC;
    Some(match opt {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | rec,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | rec,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | rec,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | rec,
        _ => return None,
    })
}

/// (flag, set?) for the options mount(8) knows.
fn flag_option(opt: &str) -> Option<(MsFlags, bool)> {
    Some(match opt {
        "ro" => (MsFlags::MS_RDONLY, true),
        "rw" => (MsFlags::MS_RDONLY, false),
        "nosuid" => (MsFlags::MS_NOSUID, true),
        "suid" => (MsFlags::MS_NOSUID, false),
        "nodev" => (MsFlags::MS_NODEV, true),
        "dev" => (MsFlags::MS_NODEV, false),
        "noexec" => (MsFlags::MS_NOEXEC, true),
        "exec" => (MsFlags::MS_NOEXEC, false),
        "sync" => (MsFlags::MS_SYNCHRONOUS, true),
        "async" => (MsFlags::MS_SYNCHRONOUS, false),
        "dirsync" => (MsFlags::MS_DIRSYNC, true),
        "mand" => (MsFlags::MS_MANDLOCK, true),
        "nomand" => (MsFlags::MS_MANDLOCK, false),
        "noatime" => (MsFlags::MS_NOATIME, true),
        "atime" => (MsFlags::MS_NOATIME, false),
        "nodiratime" => (MsFlags::MS_NODIRATIME, true),
        "diratime" => (MsFlags::MS_NODIRATIME, false),
        "relatime" => (MsFlags::MS_RELATIME, true),
        "norelatime" => (MsFlags::MS_RELATIME, false),
        "strictatime" => (MsFlags::MS_STRICTATIME, true),
        "nostrictatime" => (MsFlags::MS_STRICTATIME, false),
        "remount" => (MsFlags::MS_REMOUNT, true),
        _ => return None,
    })
}

/// Options that only tell other tools something (Podman's copy-up, fstab's).
fn ignored_option(opt: &str) -> bool {
    matches!(
        opt,
        "tmpcopyup"
            | "notmpcopyup"
            | "defaults"
            | "auto"
            | "noauto"
            | "nofail"
            | "_netdev"
            | "z"
            | "Z"
            | "U"
            | "copy"
            | "nocopy"
    ) || opt.starts_with("x-")
}

/// The plan for the spec's mounts, in their order. Errors name the mount.
pub fn plan(mounts: &[spec::Mount]) -> Result<Vec<MountOp>> {
    mounts.iter().map(plan_one).collect()
}

fn plan_one(m: &spec::Mount) -> Result<MountOp> {
    let bad = |why: String| Error::invalid(format!("mount on {}: {why}", m.destination));
    if !m.destination.starts_with('/') {
        return Err(bad("the destination is not an absolute path".into()));
    }
    let mut flags = MsFlags::empty();
    let mut propagation = Vec::new();
    let mut data = Vec::new();
    let mut bind = None;
    for opt in &m.options {
        if opt == "bind" {
            bind = Some(bind.unwrap_or(false));
        } else if opt == "rbind" {
            bind = Some(true);
        } else if let Some(p) = propagation_flag(opt) {
            propagation.push(p);
        } else if let Some((f, set)) = flag_option(opt) {
            flags.set(f, set);
        } else if ignored_option(opt) {
        } else if opt.is_empty() {
            return Err(bad("an empty option".into()));
        } else {
            data.push(opt.as_str());
        }
    }
    let fstype = m.kind.clone().unwrap_or_default();
    let kind = if fstype == "bind" || bind.is_some() {
        Kind::Bind { recursive: bind.unwrap_or(false) }
    } else if fstype == "cgroup" || fstype == "cgroup2" {
        Kind::Cgroup
    } else if fstype.is_empty() {
        return Err(bad("no type, and not a bind mount".into()));
    } else {
        Kind::Fs(fstype)
    };
    let source = m.source.clone().unwrap_or_default();
    if matches!(kind, Kind::Bind { .. }) && source.is_empty() {
        return Err(bad("a bind mount without a source".into()));
    }
    if matches!(kind, Kind::Bind { .. }) && !data.is_empty() {
        return Err(bad(format!("unknown option {:?} for a bind mount", data[0])));
    }
    Ok(MountOp { destination: m.destination.clone(), source, kind, flags, propagation, data: data.join(",") })
}

/// What `apply` needs besides the plan.
pub struct Context<'a> {
    /// Relative bind sources are relative to the bundle.
    pub bundle: &'a Path,
    /// The container's cgroup (for `Kind::Cgroup`).
    pub cgroup: Option<&'a str>,
}

/// Apply `ops` inside `root` (before pivot_root, in the container's mount
/// namespace). A missing destination is made: a file for a bind of a file,
/// a directory otherwise.
pub fn apply(root: &Path, ops: &[MountOp], cx: &Context) -> Result<()> {
    if ops.is_empty() {
        return Ok(());
    }
    let rootdir =
        std::fs::File::open(root).map_err(|e| Error::os(format!("open {}: {e}", root.display())))?;
    let rootfd = rootdir.as_fd();
    for op in ops {
        apply_one(root, rootfd, op, cx)
            .map_err(|e| Error { message: format!("mount on {}: {}", op.destination, e.message), ..e })?;
    }
    Ok(())
}

fn apply_one(root: &Path, rootfd: BorrowedFd, op: &MountOp, cx: &Context) -> Result<()> {
    let mounted = match &op.kind {
        Kind::Cgroup => {
            if let Some(name) = cx.cgroup {
                super::cgroups::in_container::mount_in_container(root, name)?;
            }
            return Ok(());
        }
        Kind::Bind { recursive } => {
            let source = if op.source.starts_with('/') {
                op.source.clone().into()
            } else {
                cx.bundle.join(&op.source)
            };
            let meta = std::fs::metadata(&source)
                .map_err(|e| Error::os(format!("bind source {}: {e}", source.display())))?;
            let target = destination(rootfd, &op.destination, !meta.is_dir())?;
            // The bind as a mount we hold (open_tree), attached onto the fd
            // resolved in the root (move_mount): neither step looks the
            // destination up again, so a container swapping a component for
            // a link meanwhile changes nothing (CVE-2021-30465). Its flags
            // are then set on that same mount, not on a path.
            let tree = match clone_tree(&source, *recursive) {
                Ok(tree) => {
                    attach(tree.as_fd(), target.as_fd()).map_err(|e| {
                        Error::os(format!("attach the bind of {}: {}", source.display(), e.desc()))
                    })?;
                    tree
                }
                // No new mount API (before 5.2): mount(2) onto the fd, then hold what was mounted.
                Err(nix::errno::Errno::ENOSYS) => {
                    let mut f = MsFlags::MS_BIND;
                    if *recursive {
                        f |= MsFlags::MS_REC;
                    }
                    mount(
                        Some(&source),
                        &inroot::proc_fd_path(target.as_fd()),
                        None::<&str>,
                        f,
                        None::<&str>,
                    )
                    .map_err(|e| {
                        Error::os(format!("bind {}: {}", source.display(), e.desc())).with_errno(e as i32)
                    })?;
                    inroot::open(rootfd, &op.destination, libc::O_PATH)?
                }
                Err(e) => {
                    return Err(
                        Error::os(format!("bind {}: {}", source.display(), e.desc())).with_errno(e as i32)
                    );
                }
            };
            let path = inroot::proc_fd_path(tree.as_fd());
            let remount = op.flags - MsFlags::MS_REMOUNT;
            if !remount.is_empty() {
                // The bind's own flags take a second call; flags locked on the
                // source's mount (nosuid on a host mount, say) must be kept.
                let f = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | remount;
                if let Err(e) = mount(None::<&str>, &path, None::<&str>, f, None::<&str>) {
                    let locked = locked_flags(&path);
                    mount(None::<&str>, &path, None::<&str>, f | locked, None::<&str>).map_err(|_| {
                        Error::os(format!("remount with {remount:?}: {}", e.desc())).with_errno(e as i32)
                    })?;
                }
            }
            for p in &op.propagation {
                mount(None::<&str>, &path, None::<&str>, *p, None::<&str>)
                    .map_err(|e| Error::os(format!("set propagation: {}", e.desc())).with_errno(e as i32))?;
            }
            return Ok(());
        }
        Kind::Fs(fstype) => {
            let target = destination(rootfd, &op.destination, false)?;
            let data = (!op.data.is_empty()).then_some(op.data.as_str());
            let source = if op.source.is_empty() { fstype.as_str() } else { op.source.as_str() };
            // With a propagation to set, the filesystem is made as a mount we
            // hold (fsopen/fsmount) and attached onto the fd: its propagation
            // is then set on that mount, not on a path looked up again.
            if !op.propagation.is_empty()
                && let Ok(m) = new_fs_mount(fstype, source, &op.data, op.flags)
            {
                attach(m.as_fd(), target.as_fd())
                    .map_err(|e| Error::os(format!("attach {fstype}: {}", e.desc())).with_errno(e as i32))?;
                for p in &op.propagation {
                    mount(None::<&str>, &inroot::proc_fd_path(m.as_fd()), None::<&str>, *p, None::<&str>)
                        .map_err(|e| {
                            Error::os(format!("set propagation: {}", e.desc())).with_errno(e as i32)
                        })?;
                }
                return Ok(());
            }
            mount(Some(source), &inroot::proc_fd_path(target.as_fd()), Some(fstype.as_str()), op.flags, data)
                .map_err(|e| Error::os(format!("mount {fstype}: {}", e.desc())).with_errno(e as i32))?;
            true
        }
    };
    if mounted && !op.propagation.is_empty() {
        let fd = inroot::open(rootfd, &op.destination, libc::O_PATH)?;
        for p in &op.propagation {
            mount(None::<&str>, &inroot::proc_fd_path(fd.as_fd()), None::<&str>, *p, None::<&str>)
                .map_err(|e| Error::os(format!("set propagation: {}", e.desc())).with_errno(e as i32))?;
        }
    }
    Ok(())
}

/// A copy of the mount tree at `source` (with its submounts when
/// `recursive`), detached: a mount we hold by fd.
fn clone_tree(source: &Path, recursive: bool) -> std::result::Result<OwnedFd, nix::errno::Errno> {
    use std::os::fd::FromRawFd;
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    let c = std::ffi::CString::new(source.as_os_str().as_encoded_bytes())
        .map_err(|_| nix::errno::Errno::EINVAL)?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    if fd < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// A new, detached mount of `fstype` (fsopen, fsconfig, fsmount) with the
/// filesystem options `data` and the per-mount `flags`. Flags the new API
/// has no mount attribute for are an error (EINVAL): the caller uses mount(2).
fn new_fs_mount(
    fstype: &str,
    source: &str,
    data: &str,
    flags: MsFlags,
) -> std::result::Result<OwnedFd, nix::errno::Errno> {
    use nix::errno::Errno;
    let attrs: [(MsFlags, libc::c_uint); 6] = [
        (MsFlags::MS_RDONLY, 0x1),
        (MsFlags::MS_NOSUID, 0x2),
        (MsFlags::MS_NODEV, 0x4),
        (MsFlags::MS_NOEXEC, 0x8),
        (MsFlags::MS_NOATIME, 0x10),
        (MsFlags::MS_STRICTATIME, 0x20),
    ];
    let mut attr = 0;
    let mut rest = flags - MsFlags::MS_RELATIME - MsFlags::MS_NODIRATIME;
    for (f, a) in attrs {
        if flags.contains(f) {
            attr |= a;
            rest -= f;
        }
    }
    if flags.contains(MsFlags::MS_NODIRATIME) {
        attr |= 0x80;
    }
    if !rest.is_empty() {
        return Err(Errno::EINVAL);
    }
    let fs = super::fs_context::FsContext::open(fstype)?;
    fs.set("source", Some(source))?;
    for opt in data.split(',').filter(|o| !o.is_empty()) {
        match opt.split_once('=') {
            Some((k, v)) => fs.set(k, Some(v))?,
            None => fs.set(opt, None)?,
        }
    }
    fs.mount(attr)
}

/// Attach the detached mount `tree` onto the object `target` is open on.
fn attach(tree: BorrowedFd, target: BorrowedFd) -> std::result::Result<(), nix::errno::Errno> {
    use std::os::fd::AsRawFd;
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if r < 0 { Err(nix::errno::Errno::last()) } else { Ok(()) }
}

/// The destination opened inside the root, made when missing.
fn destination(root: BorrowedFd, path: &str, file: bool) -> Result<OwnedFd> {
    if file { inroot::open_or_create_file(root, path) } else { inroot::mkdir_all(root, path, 0o755) }
}

/// The flags a bind inherits that an unprivileged remount may not clear.
fn locked_flags(path: &Path) -> MsFlags {
    let Ok(st) = nix::sys::statvfs::statvfs(path) else { return MsFlags::empty() };
    use nix::sys::statvfs::FsFlags;
    let mut f = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if st.flags().contains(fs) {
            f |= ms;
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(dest: &str, kind: Option<&str>, source: Option<&str>, opts: &[&str]) -> spec::Mount {
        spec::Mount {
            destination: dest.into(),
            kind: kind.map(Into::into),
            source: source.map(Into::into),
            options: opts.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn options_become_flags_propagation_and_data() {
        let ops = plan(&[
            m("/proc", Some("proc"), Some("proc"), &["nosuid", "noexec", "nodev"]),
            m("/dev", Some("tmpfs"), Some("tmpfs"), &["nosuid", "strictatime", "mode=755", "size=65536k"]),
            m("/etc/hosts", Some("bind"), Some("/run/x/hosts"), &["rbind", "ro", "rprivate"]),
            m("/data", None, Some("/srv"), &["bind", "rw", "tmpcopyup"]),
            m("/sys/fs/cgroup", Some("cgroup"), Some("cgroup"), &["ro", "nosuid"]),
        ])
        .expect("plan");
        assert_eq!(ops[0].kind, Kind::Fs("proc".into()));
        assert_eq!(ops[0].flags, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV);
        assert_eq!(ops[1].data, "mode=755,size=65536k");
        assert_eq!(ops[1].flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(ops[2].kind, Kind::Bind { recursive: true });
        assert_eq!(ops[2].flags, MsFlags::MS_RDONLY);
        assert_eq!(ops[2].propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
        assert_eq!(ops[3].kind, Kind::Bind { recursive: false });
        assert_eq!(ops[3].flags, MsFlags::empty());
        assert_eq!(ops[4].kind, Kind::Cgroup);
    }

    #[test]
    fn bad_mounts_are_refused_naming_them() {
        for (mount, want) in [
            (m("rel", Some("tmpfs"), None, &[]), "not an absolute path"),
            (m("/x", None, Some("/a"), &[]), "no type"),
            (m("/x", Some("bind"), None, &["bind"]), "without a source"),
            (m("/x", Some("bind"), Some("/a"), &["bind", "size=1"]), "unknown option \"size=1\""),
        ] {
            let e = plan(&[mount]).expect_err(want);
            assert!(e.message.contains(want) && e.message.contains("mount on"), "{}", e.message);
        }
    }
}
