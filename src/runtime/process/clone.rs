//! Making the new process: clone (or clone3 into its v2 cgroup) and joining
//! the cgroups it was not born into.

use super::ChildSetup;
use crate::runtime::cgroups::Cgroups;
use crate::runtime::error::{Context, Error, Result};
use nix::errno::Errno;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::ffi::CString;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

/// The cgroup a new process joins, prepared before clone (see `Cgroups::join_plan`).
#[derive(Default)]
pub struct CgroupJoin {
    /// v1 `tasks` files the child writes "0" to.
    pub v1_tasks: Vec<CString>,
    /// The v2 cgroup directory, for clone3's CLONE_INTO_CGROUP.
    pub v2_dir: Option<OwnedFd>,
    /// The v2 directory's path, for the fallback when clone3 cannot place us.
    pub v2_procs: Option<PathBuf>,
    /// Other v2 hierarchies' `cgroup.procs`, written by the parent.
    pub other_procs: Vec<PathBuf>,
}

impl CgroupJoin {
    pub fn prepare(name: Option<&str>) -> Result<CgroupJoin> {
        let Some(name) = name else { return Ok(CgroupJoin::default()) };
        let plan = Cgroups::host()?.join_plan(name)?;
        let mut join = CgroupJoin { other_procs: plan.other_procs, ..Default::default() };
        for p in plan.v1_tasks {
            join.v1_tasks.push(
                CString::new(p.as_os_str().as_encoded_bytes())
                    .map_err(|_| Error::invalid(format!("bad cgroup path {}", p.display())))?,
            );
        }
        if let Some(dir) = plan.v2_dir {
            let f = fs::File::open(&dir).ctx(|| format!("open cgroup {}", dir.display()))?;
            join.v2_dir = Some(f.into());
            join.v2_procs = Some(dir.join("cgroup.procs"));
        }
        Ok(join)
    }

    /// After clone, in the parent: the hierarchies the child could not join itself.
    pub fn finish_in_parent(&self, pid: i32, cloned_into_v2: bool) -> Result<()> {
        let extra = if cloned_into_v2 { None } else { self.v2_procs.as_ref() };
        for procs in extra.into_iter().chain(self.other_procs.iter()) {
            fs::write(procs, pid.to_string()).ctx(|| format!("write {pid} to {}", procs.display()))?;
        }
        Ok(())
    }

    /// In the child: join the v1 hierarchies by moving this (only) thread,
    /// which skips the global lock a `cgroup.procs` write takes (~10 ms here).
    pub fn join_v1(&self) -> Result<()> {
        for tasks in &self.v1_tasks {
            write_zero_at(libc::AT_FDCWD, tasks)
                .map_err(|e| Error::os(format!("join cgroup {}: {}", tasks.to_string_lossy(), e.desc())))?;
        }
        Ok(())
    }
}

/// clone3's argument block (linux/sched.h), up to the `cgroup` field.
#[repr(C)]
#[derive(Default)]
pub struct CloneArgs {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    pub exit_signal: u64,
    pub stack: u64,
    pub stack_size: u64,
    pub tls: u64,
    pub set_tid: u64,
    pub set_tid_size: u64,
    pub cgroup: u64,
}

pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

pub fn clone3(args: &CloneArgs) -> libc::c_long {
    unsafe { libc::syscall(libc::SYS_clone3, args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) }
}

/// Clone the child with `flags`, born into its v2 cgroup where the kernel
/// allows (clone3 + CLONE_INTO_CGROUP), else placed there by us right after.
pub fn clone_child(child: &ChildSetup, flags: libc::c_int) -> Result<i32> {
    // Without a new stack, clone behaves like fork: the child continues here on
    // a copy-on-write copy of our stack. We are single-threaded, so that is safe.
    let mut into_v2 = false;
    let mut ret = -1;
    if let Some(dir) = &child.cgroup.v2_dir {
        let args = CloneArgs {
            flags: flags as u64 | CLONE_INTO_CGROUP,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: dir.as_raw_fd() as u64,
            ..Default::default()
        };
        ret = clone3(&args);
        into_v2 = ret >= 0;
    }
    if ret < 0 {
        ret = unsafe {
            libc::syscall(
                libc::SYS_clone,
                (flags | libc::SIGCHLD) as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
    }
    match ret {
        -1 => Err(Error::os(format!("clone: {}", Errno::last().desc()))),
        0 => super::init::child_main(child),
        pid => {
            let pid = pid as i32;
            if let Err(e) = child.cgroup.finish_in_parent(pid, into_v2) {
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
                let _ = waitpid(Pid::from_raw(pid), None);
                return Err(e);
            }
            Ok(pid)
        }
    }
}

/// Write "0" to a cgroup file (at `dir`, or absolute): moves the writer into
/// that cgroup. Raw calls: it runs in a freshly cloned child.
pub fn write_zero_at(dir: RawFd, file: &std::ffi::CStr) -> std::result::Result<(), Errno> {
    let fd = unsafe { libc::openat(dir, file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    let ok = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } == 1;
    let err = Errno::last();
    unsafe {
        libc::close(fd);
    }
    if ok { Ok(()) } else { Err(err) }
}
