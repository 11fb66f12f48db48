//! `container::` — the container's init process and the host's view of processes.

use super::{RhaiResult, at, from_dyn, rt};
use crate::runtime::error::Context;
use crate::runtime::process::{self, Created, ExecSpec, Spec};
use crate::runtime::{caps, logs, seccomp};
use rhai::Array;
use rhai::Map;
use rhai::plugin::*;
use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

/// A created container init, between `create` and its end.
#[derive(Clone)]
pub struct Handle(pub Rc<RefCell<Created>>);

impl Handle {
    fn new(created: Created) -> Handle {
        Handle(Rc::new(RefCell::new(created)))
    }
}

/// A signal given as a number or a name ("TERM", "SIGKILL").
fn signal_number(sig: &Dynamic) -> RhaiResult<i32> {
    match sig.as_int() {
        Ok(n) => Ok(n as i32),
        Err(_) => rt(process::parse_signal(&sig.to_string())),
    }
}

#[export_module]
mod api {
    use super::*;
    /// Clone the init process of a container into new pid, mount, uts, ipc and
    /// net namespaces. It waits until `start`. `spec` is a map: `args` (array),
    /// `rootfs` (mounted root), and optionally `env` (array of "K=V"), `cwd`,
    /// `hostname`, `stdin` (bool), `tty` (bool), `log` (file for stdout and
    /// stderr), `cgroup` (a cgroup made by `cgroup::create`: the init is born
    /// in it), `caps` (capability numbers to keep), `seccomp` (`true`:
    /// Docker's default profile, `false`: none, or a profile's JSON text),
    /// `no_new_privileges`, `user`, `readonly_rootfs`, `masked_paths`,
    /// `readonly_paths`, `etc_files` (`[#{source, target}]`: host files bound
    /// onto paths resolved inside the root, e.g. its /etc/hosts), `monitor`
    /// (`#{state_root, data_root, name, auto_remove, log_max_size,
    /// log_max_file}`: detach, with a monitor process as the init's parent; it
    /// writes `log` from a pipe and rotates it at `log_max_size` bytes keeping
    /// `log_max_file` files). The init brings loopback up, mounts /dev/mqueue
    /// and its own cgroup read-only at /sys/fs/cgroup; without a HOME in
    /// `env`, HOME is the user's home from the image's /etc/passwd.
    #[rhai_fn(return_raw)]
    pub fn create(ctx: NativeCallContext, spec: Map) -> RhaiResult<Handle> {
        at(&ctx, || {
            let spec: Spec = from_dyn("container spec", Dynamic::from_map(spec))?;
            rt(process::create(&spec)).map(Handle::new)
        })
    }

    /// Create a process inside running container: `spec` has `pid` and
    /// `start_time` (the container's init), `args`, and optionally `env`, `cwd`,
    /// `stdin`, `tty`, `cgroup`, `caps`, `seccomp`, `no_new_privileges`, `user`. It is born in the container's pid namespace and waits
    /// until `start`, which joins the other namespaces and execs; then `wait`.
    #[rhai_fn(return_raw)]
    pub fn exec(ctx: NativeCallContext, spec: Map) -> RhaiResult<Handle> {
        at(&ctx, || {
            let spec: ExecSpec = from_dyn("exec spec", Dynamic::from_map(spec))?;
            rt(process::create_exec(&spec)).map(Handle::new)
        })
    }

    /// Print a container log file and the files rotated from it (`PATH.N` …
    /// `PATH.1`, oldest first): `opts` may have `tail` (last N lines, read from
    /// the end) and `follow: #{pid, start_time}` (keep printing, across
    /// rotations, until that process ends).
    #[rhai_fn(return_raw)]
    pub fn print_log(ctx: NativeCallContext, path: &str, opts: Map) -> RhaiResult<()> {
        at(&ctx, || {
            let tail = opts.get("tail").and_then(|v| v.as_int().ok()).map(|n| n.max(0) as usize);
            let follow = opts.get("follow").and_then(|f| f.read_lock::<Map>().map(|m| m.clone())).map(|m| {
                let int = |k: &str| m.get(k).and_then(|v| v.as_int().ok()).unwrap_or(0);
                (int("pid") as i32, int("start_time") as u64)
            });
            rt(logs::print(Path::new(path), tail, follow))
        })
    }

    /// Read a seccomp profile in Docker's JSON format from `path`, check it and
    /// that it compiles for a container holding `caps`, and return its text:
    /// the container's record keeps the text, so `exec` applies the same
    /// profile whatever becomes of the file. The error names the problem, not the file.
    #[rhai_fn(return_raw)]
    pub fn seccomp_profile(ctx: NativeCallContext, path: &str, caps: Array) -> RhaiResult<String> {
        at(&ctx, || {
            let text = rt(std::fs::read_to_string(path).ctx(|| "cannot read"))?;
            let caps: Vec<u32> = caps.iter().filter_map(|c| c.as_int().ok()).map(|c| c as u32).collect();
            rt(seccomp::program(Some(&text), &caps))?;
            Ok(text)
        })
    }

    /// The capability numbers a container keeps, Docker's way: the default 14,
    /// plus `add`, minus `drop` ("ALL" allowed in both; names with or without CAP_).
    #[rhai_fn(return_raw)]
    pub fn capabilities(ctx: NativeCallContext, add: Array, drop: Array) -> RhaiResult<Array> {
        at(&ctx, || {
            let names = |a: Array| a.into_iter().map(|v| v.to_string()).collect::<Vec<_>>();
            let keep = rt(caps::resolve(&names(add), &names(drop)))?;
            Ok(keep.into_iter().map(|c| Dynamic::from(c as i64)).collect())
        })
    }

    /// The init's pid on the host.
    #[rhai_fn(get = "pid", pure)]
    pub fn pid(c: &mut Handle) -> i64 {
        c.0.borrow().pid as i64
    }

    /// The monitor's pid (0 for a foreground container).
    #[rhai_fn(get = "monitor_pid", pure)]
    pub fn monitor_pid(c: &mut Handle) -> i64 {
        c.0.borrow().monitor_pid as i64
    }

    /// Release the init to set up its root and exec its command. Fails with
    /// kind `command_not_found`, `not_executable` or `os`, naming the cause.
    #[rhai_fn(return_raw)]
    pub fn start(ctx: NativeCallContext, c: Handle) -> RhaiResult<()> {
        at(&ctx, || rt(process::start(&mut c.0.borrow_mut())))
    }

    /// Foreground: relay the terminal, forward signals, and wait for the init to
    /// end. Returns its exit code (128+N for signal N).
    #[rhai_fn(return_raw)]
    pub fn wait(ctx: NativeCallContext, c: Handle) -> RhaiResult<i64> {
        at(&ctx, || rt(process::wait(&mut c.0.borrow_mut())).map(i64::from))
    }

    /// Kill a created container's init (and reap it when it is our child).
    pub fn abort(c: Handle) {
        process::abort(&mut c.0.borrow_mut());
    }

    /// Is `pid` still the process that started at `start_time`? A reused pid is not.
    pub fn alive(pid: i64, start_time: i64) -> bool {
        process::alive(pid as i32, start_time as u64)
    }

    /// The start time of `pid` (field 22 of /proc/PID/stat).
    #[rhai_fn(return_raw)]
    pub fn start_time(ctx: NativeCallContext, pid: i64) -> RhaiResult<i64> {
        at(&ctx, || rt(process::start_time(pid as i32)).map(|t| t as i64))
    }

    /// Send a signal (number, or name like "TERM") to `pid`, only if it is still
    /// the process that started at `start_time`.
    #[rhai_fn(return_raw)]
    pub fn signal(ctx: NativeCallContext, pid: i64, start_time: i64, sig: Dynamic) -> RhaiResult<()> {
        at(&ctx, || rt(process::signal(pid as i32, start_time as u64, signal_number(&sig)?)))
    }

    /// `signal`, but only if `pid` is in cgroup `cgroup` (e.g. "mydocker/ID"):
    /// throws kind `not_running` when it ended, `os` for a process that is not the container's.
    #[rhai_fn(name = "signal", return_raw)]
    pub fn signal_in_cgroup(
        ctx: NativeCallContext,
        pid: i64,
        start_time: i64,
        sig: Dynamic,
        cgroup: &str,
    ) -> RhaiResult<()> {
        at(&ctx, || {
            rt(process::signal_in_cgroup(pid as i32, start_time as u64, cgroup, signal_number(&sig)?))
        })
    }

    /// Wait up to `timeout_ms` (negative: forever) for the process to end; true when it has.
    #[rhai_fn(return_raw)]
    pub fn wait_gone(ctx: NativeCallContext, pid: i64, start_time: i64, timeout_ms: i64) -> RhaiResult<bool> {
        at(&ctx, || rt(process::wait_gone(pid as i32, start_time as u64, timeout_ms)))
    }

    /// Signal number for a name ("TERM", "SIGKILL") or number string.
    #[rhai_fn(return_raw)]
    pub fn parse_signal(ctx: NativeCallContext, name: &str) -> RhaiResult<i64> {
        at(&ctx, || rt(process::parse_signal(name)).map(i64::from))
    }
}

pub fn module() -> Module {
    exported_module!(api)
}
