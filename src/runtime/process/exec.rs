//! A new process in a running container (`exec`).
//!
//! It must not be seen from inside while it is still in the host's
//! namespaces (a process there could read the host's mounts and sockets
//! through /proc/N, or stop it), so, as runc does, an intermediate process on
//! the host joins the container's cgroups and then all its namespaces, pid
//! included (for its children), and clones the final process with
//! CLONE_PARENT: it is born inside, already in every namespace, as *our*
//! child, so we relay and reap it as any foreground process. This process
//! keeps its own namespaces and can still reach the state store.

use super::clone::{CLONE_INTO_CGROUP, CloneArgs, clone3, write_zero_at};
use super::message::{self, Msg};
use super::{Channels, ChildSetup, Created, Enter, Launch, SetUp, clone_foreground, seccomp_program};
use crate::runtime::error::{Context, Error, Result};
use crate::runtime::host_process::open_pidfd;
use crate::runtime::spec;
use nix::errno::Errno;
use nix::sys::wait::waitpid;
use serde::Deserialize;
use std::fs;
use std::os::fd::{AsRawFd, RawFd};

/// The namespaces `exec` joins besides pid, in one setns call on the init's pidfd.
const EXEC_NAMESPACES: libc::c_int =
    libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC | libc::CLONE_NEWNET | libc::CLONE_NEWCGROUP;

/// A process to run inside a running container.
#[derive(Debug, Clone, Deserialize)]
pub struct ExecSpec {
    /// As in the spec (`exec --process FILE` reads exactly this).
    pub process: spec::Process,
    /// The container's init, identified by pid and start time.
    pub pid: i32,
    pub start_time: u64,
    /// The container's seccomp profile (`linux.seccomp` of its spec).
    #[serde(default)]
    pub seccomp: Option<serde_json::Value>,
    /// Its cgroup, stdio and terminal (`Launch`'s fields that apply).
    #[serde(default)]
    pub launch: Launch,
    /// Do not wait: the process is started and left to whoever reaps it
    /// (conmon, containerd's shim: subreapers).
    #[serde(default)]
    pub detach: bool,
}

/// Create the process; it sets up and waits for `start` (`ready` waits for that).
pub fn create_exec(spec: &ExecSpec) -> Result<Created> {
    if spec.process.args.is_empty() || spec.process.args[0].is_empty() {
        return Err(Error::invalid("no command given"));
    }
    let pidfd = open_pidfd(spec.pid, spec.start_time)?;
    let mut ch = Channels::open(&spec.launch, spec.process.terminal)?;
    let filter = seccomp_program(spec.seccomp.as_ref())?;
    let mut child = ch.child_setup(&spec.process, &spec.launch, Enter::Joined, filter.as_ref());
    child.die_with_parent = !spec.detach;
    let mut c = clone_foreground(ch, &spec.launch, || spawn_joined(&mut child, pidfd.as_raw_fd()))?;
    c.setup = Some(SetUp::new(c.pid, None, &spec.launch, filter.as_ref()));
    Ok(c)
}

/// The intermediate: returns the final process's pid.
fn spawn_joined(child: &mut ChildSetup, pidfd: RawFd) -> Result<i32> {
    let (rd, wr) = nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::SeqPacket,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
    .ctx(|| "socketpair")?;
    match unsafe { nix::unistd::fork() }.ctx(|| "fork")? {
        nix::unistd::ForkResult::Parent { child: mid } => {
            drop(wr);
            let report = message::recv_msg(&rd);
            let _ = waitpid(mid, None);
            match report? {
                Some(Msg::Pid(pid)) => Ok(pid),
                Some(Msg::Failed(e)) => Err(e),
                _ => Err(Error::os("exec: the intermediate process died before creating the process")),
            }
        }
        nix::unistd::ForkResult::Child => {
            drop(rd);
            let msg = match join_and_clone(child, pidfd) {
                Ok(pid) => Msg::Pid(pid),
                Err(e) => Msg::Failed(e),
            };
            message::send(wr.as_raw_fd(), &msg);
            unsafe { libc::_exit(0) }
        }
    }
}

fn join_and_clone(child: &mut ChildSetup, pidfd: RawFd) -> Result<i32> {
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    // Cgroups by host path, so before the mount namespace changes; the final
    // process inherits them.
    // The v2 cgroup is joined at birth (clone3 CLONE_INTO_CGROUP, on the dir
    // opened before): writing cgroup.procs costs ~10 ms of RCU grace periods.
    let join = std::mem::take(&mut child.cgroup);
    join.join_v1()?;
    for procs in join.other_procs.iter() {
        fs::write(procs, "0").ctx(|| format!("join cgroup {}", procs.display()))?;
    }
    if unsafe { libc::setns(pidfd, EXEC_NAMESPACES | libc::CLONE_NEWPID) } < 0 {
        return Err(Error::os(format!("join the container's namespaces: {}", Errno::last().desc())));
    }
    let mut ret = -1;
    if let Some(dir) = &join.v2_dir {
        // With CLONE_PARENT the exit signal is the parent's (clone3 wants 0 here).
        let args = CloneArgs {
            flags: libc::CLONE_PARENT as u64 | CLONE_INTO_CGROUP,
            cgroup: dir.as_raw_fd() as u64,
            ..Default::default()
        };
        ret = clone3(&args);
    }
    if ret < 0 {
        if let (Some(dir), Some(procs)) = (&join.v2_dir, &join.v2_procs) {
            // Relative to the dir's fd: the mount namespace is the container's by now.
            write_zero_at(dir.as_raw_fd(), c"cgroup.procs")
                .map_err(|e| Error::os(format!("join cgroup {}: {}", procs.display(), e.desc())))?;
        }
        let flags = (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong;
        ret = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    }
    match ret {
        -1 => Err(Error::os(format!("clone: {}", Errno::last().desc()))),
        0 => super::init::child_main(child),
        pid => Ok(pid as i32),
    }
}

/// Run the exec `spec` to its end with stdout and stderr in an unlinked temp
/// file (its `launch.output`): its exit code and the first `max`
/// bytes it wrote, as text.
pub fn exec_capture(spec: &mut ExecSpec, max: u64) -> Result<(i32, String)> {
    use std::io::{Read, Seek};
    use std::os::fd::{AsRawFd, FromRawFd};
    let fd = unsafe { libc::open(c"/tmp".as_ptr(), libc::O_TMPFILE | libc::O_RDWR | libc::O_CLOEXEC, 0o600) };
    if fd < 0 {
        return Err(Error::os(format!("temp file in /tmp: {}", std::io::Error::last_os_error())));
    }
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    spec.launch.output = Some(format!("/proc/self/fd/{}", file.as_raw_fd()).into());
    spec.launch.log = None;
    spec.launch.stdin = false;
    spec.process.terminal = false;
    spec.detach = false;
    let mut c = create_exec(spec)?;
    if let Err(e) = super::start(&mut c) {
        super::abort(&mut c);
        return Err(e);
    }
    let code = super::wait(&mut c)?;
    let mut out = Vec::new();
    file.rewind()
        .and_then(|_| (&mut file).take(max).read_to_end(&mut out))
        .map_err(|e| Error::os(format!("read the output: {e}")))?;
    Ok((code, String::from_utf8_lossy(&out).into_owned()))
}
