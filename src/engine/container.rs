//! `container::` — the container's init process and the host's view of processes.

use super::{RhaiResult, at, from_dyn, rt};
use crate::runtime::error::Context;
use crate::runtime::host_process as procs;
use crate::runtime::process::{self, Created, ExecSpec, Launch};
use crate::runtime::spec::{Hook, Spec};
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

/// Capability names (or numbers) as numbers.
fn cap_numbers(caps: &Array) -> RhaiResult<Vec<u32>> {
    caps.iter()
        .map(|c| match c.as_int() {
            Ok(n) => Ok(n as u32),
            Err(_) => rt(caps::parse(&c.to_string())),
        })
        .collect()
}

/// A signal given as a number or a name ("TERM", "SIGKILL").
fn signal_number(sig: &Dynamic) -> RhaiResult<i32> {
    match sig.as_int() {
        Ok(n) => Ok(n as i32),
        Err(_) => rt(procs::parse_signal(&sig.to_string())),
    }
}

#[export_module]
mod api {
    use super::*;
    /// Create a container's init from `spec`, an OCI runtime spec (config.json)
    /// as a map, validated first; `launch` says how this runtime runs it:
    /// `id`, `bundle` (relative paths in the spec are relative to it),
    /// `cgroup` (made by `cgroup::create`: the init is born in it), `stdin`
    /// (keep ours, else /dev/null), `log` (the container's log: a record per
    /// line of stdout and stderr, rotated at `log_max_size` bytes keeping
    /// `log_max_file` files; written by the monitor, or in the foreground by
    /// `wait`, which also prints the output), `output` (a file for stdout and
    /// stderr as they are), `monitor` (`#{state_root, data_root, name,
    /// auto_remove}`: detach, with a monitor process as the init's parent;
    /// it writes `log` from pipes), `start_fifo` (the OCI CLI:
    /// `start_fifo` starts it, from another process), `console_socket` (the
    /// OCI CLI: where the terminal's master goes), `preserve_fds`. Returns once
    /// the init is cloned; it sets up its root, terminal and working directory
    /// meanwhile: `ready` waits for that (a command not in PATH fails there,
    /// kind `command_not_found`), and `start` does first.
    #[rhai_fn(return_raw)]
    pub fn create(ctx: NativeCallContext, spec: Map, launch: Map) -> RhaiResult<Handle> {
        at(&ctx, || {
            let spec: Spec = from_dyn("container spec", Dynamic::from_map(spec))?;
            let launch: Launch = from_dyn("launch options", Dynamic::from_map(launch))?;
            rt(process::create(&spec, &launch)).map(Handle::new)
        })
    }

    /// Read a bundle's `config.json` (`path`), check it as `create` would, and
    /// return it as a map. Errors name the file and the field.
    #[rhai_fn(return_raw)]
    pub fn load_spec(ctx: NativeCallContext, path: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || {
            let text = rt(std::fs::read_to_string(path).ctx(|| format!("cannot read {path}")))?;
            let spec = rt(Spec::parse(&text))?;
            rt(spec.validate())?;
            crate::engine::to_dyn(&spec)
        })
    }

    /// Check an OCI spec (a map) as `create` would, without creating anything.
    #[rhai_fn(return_raw)]
    pub fn validate(ctx: NativeCallContext, spec: Map) -> RhaiResult<()> {
        at(&ctx, || {
            let spec: Spec = from_dyn("container spec", Dynamic::from_map(spec))?;
            rt(spec.validate())
        })
    }

    /// Create a process inside a running container: `spec` has `process` (as
    /// in an OCI spec), `pid` and `start_time` (the container's init), and
    /// optionally `seccomp` (the container's `linux.seccomp`), `launch`
    /// (`cgroup`, `stdin`, `console_socket`, `preserve_fds`) and `detach`
    /// (no process of ours waits for it). It is born in every namespace of
    /// the container and waits until `start`.
    #[rhai_fn(return_raw)]
    pub fn exec(ctx: NativeCallContext, spec: Map) -> RhaiResult<Handle> {
        at(&ctx, || {
            let spec: ExecSpec = from_dyn("exec spec", Dynamic::from_map(spec))?;
            rt(process::create_exec(&spec)).map(Handle::new)
        })
    }

    /// Run a process as `exec` does (the same `spec`) and wait for it:
    /// `#{code, output}`, its exit code and what it wrote to stdout and
    /// stderr (interleaved as written, at most 16 MiB kept) — how a script
    /// reads a command's answer from inside a container.
    #[rhai_fn(return_raw)]
    pub fn exec_output(ctx: NativeCallContext, spec: Map) -> RhaiResult<Map> {
        at(&ctx, || {
            let mut spec: ExecSpec = from_dyn("exec spec", Dynamic::from_map(spec))?;
            let (code, output) = rt(process::exec_capture(&mut spec, 16 << 20))?;
            let mut m = Map::new();
            m.insert("code".into(), Dynamic::from(code as i64));
            m.insert("output".into(), Dynamic::from(output));
            Ok(m)
        })
    }

    /// Attach our terminal to a detached container's (`run -dit`) through
    /// the socket its monitor serves (`state::dir(NAME) + "/attach.sock"`)
    /// until it ends (`"closed"`) or Ctrl-P Ctrl-Q is typed (`"detached"`).
    /// Throws kind `os` when nothing serves the socket (no terminal, or ended).
    #[rhai_fn(return_raw)]
    pub fn attach(ctx: NativeCallContext, socket: &str) -> RhaiResult<String> {
        at(&ctx, || {
            rt(crate::runtime::attach::attach(Path::new(socket))).map(|e| match e {
                crate::runtime::attach::Ended::Detached => "detached".to_string(),
                crate::runtime::attach::Ended::Closed => "closed".to_string(),
            })
        })
    }

    /// The OCI `start`: release the init waiting on `fifo` (the init is `pid`,
    /// started at `start_time`); fails with kind `not_running` if it ended.
    #[rhai_fn(return_raw)]
    pub fn start_fifo(ctx: NativeCallContext, fifo: &str, pid: i64, start_time: i64) -> RhaiResult<()> {
        at(&ctx, || rt(process::start_by_fifo(Path::new(fifo), pid as i32, start_time as u64)))
    }

    /// Run a spec's hooks of one kind (`kind` names them in errors: "poststart")
    /// with `state` (a map: the runtime-spec state) on their stdin, in order;
    /// throws at the first that fails or times out.
    #[rhai_fn(return_raw)]
    pub fn run_hooks(ctx: NativeCallContext, kind: &str, hooks: Array, state: Map) -> RhaiResult<()> {
        at(&ctx, || {
            let hooks: Vec<Hook> = from_dyn("hooks", Dynamic::from_array(hooks))?;
            let state: serde_json::Value = from_dyn("state", Dynamic::from_map(state))?;
            rt(process::run_hooks(kind, &hooks, &state.to_string()))
        })
    }

    /// Print a container log file and the files rotated from it (`PATH.N` …
    /// `PATH.1`, oldest first), each line to the stream it came from (stderr
    /// lines to stderr): `opts` may have `tail` (last N records, read from
    /// the end), `follow: #{pid, start_time}` (keep printing, across
    /// rotations, until that process ends), `since` and `until` (Unix
    /// nanoseconds: only records in between), `timestamps` (each line begins
    /// with its time) and `details` (a string each line begins with, and a space).
    #[rhai_fn(return_raw)]
    pub fn print_log(ctx: NativeCallContext, path: &str, opts: Map) -> RhaiResult<()> {
        at(&ctx, || {
            let int = |k: &str| opts.get(k).and_then(|v| v.as_int().ok());
            let follow = opts.get("follow").and_then(|f| f.read_lock::<Map>().map(|m| m.clone())).map(|m| {
                let int = |k: &str| m.get(k).and_then(|v| v.as_int().ok()).unwrap_or(0);
                (int("pid") as i32, int("start_time") as u64)
            });
            let print = logs::PrintOpts {
                tail: int("tail").map(|n| n.max(0) as usize),
                follow,
                since: int("since"),
                until: int("until"),
                timestamps: opts.get("timestamps").and_then(|v| v.as_bool().ok()).unwrap_or(false),
                details: opts.get("details").and_then(|v| v.clone().into_string().ok()),
            };
            rt(logs::print(Path::new(path), &print))
        })
    }

    /// Read a seccomp profile in Docker's JSON format from `path`, check it and
    /// that it compiles for a container holding `caps` (names), and return its
    /// text: the container's record keeps the text, so `exec` applies the same
    /// profile whatever becomes of the file. The error names the problem, not the file.
    #[rhai_fn(return_raw)]
    pub fn seccomp_profile(ctx: NativeCallContext, path: &str, caps: Array) -> RhaiResult<String> {
        at(&ctx, || {
            let text = rt(std::fs::read_to_string(path).ctx(|| "cannot read"))?;
            let resolved = rt(seccomp::resolve_docker(Some(&text), &cap_numbers(&caps)?))?;
            rt(seccomp::compile_oci(&resolved))?;
            Ok(text)
        })
    }

    /// The capabilities a container keeps, Docker's way: `base` (e.g.
    /// `security::default_capabilities()`), plus `add`, minus `drop` ("ALL"
    /// allowed in both; names with or without CAP_). Returns kernel names
    /// ("CAP_CHOWN"), as a spec lists them.
    #[rhai_fn(return_raw)]
    pub fn capabilities(ctx: NativeCallContext, base: Array, add: Array, drop: Array) -> RhaiResult<Array> {
        at(&ctx, || {
            let names = |a: Array| a.into_iter().map(|v| v.to_string()).collect::<Vec<_>>();
            let keep = rt(caps::resolve(&names(base), &names(add), &names(drop)))?;
            Ok(keep.into_iter().filter_map(caps::name).map(Dynamic::from).collect())
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

    /// Wait until a created process has set up (root, terminal, working
    /// directory; the command found) and waits for `start`; `start` does this
    /// first, so a caller may do its own work meanwhile. Throws what failed
    /// (e.g. kind `command_not_found`), the process then killed.
    #[rhai_fn(return_raw)]
    pub fn ready(ctx: NativeCallContext, c: Handle) -> RhaiResult<()> {
        at(&ctx, || rt(process::ready(&mut c.0.borrow_mut())))
    }

    /// Release the process (once `ready`) to exec its command. Fails with
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
        procs::alive(pid as i32, start_time as u64)
    }

    /// The start time of `pid` (field 22 of /proc/PID/stat).
    #[rhai_fn(return_raw)]
    pub fn start_time(ctx: NativeCallContext, pid: i64) -> RhaiResult<i64> {
        at(&ctx, || rt(procs::start_time(pid as i32)).map(|t| t as i64))
    }

    /// Send a signal (number, or name like "TERM") to `pid`, only if it is still
    /// the process that started at `start_time`.
    #[rhai_fn(return_raw)]
    pub fn signal(ctx: NativeCallContext, pid: i64, start_time: i64, sig: Dynamic) -> RhaiResult<()> {
        at(&ctx, || rt(procs::signal(pid as i32, start_time as u64, signal_number(&sig)?)))
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
        at(&ctx, || rt(procs::signal_in_cgroup(pid as i32, start_time as u64, cgroup, signal_number(&sig)?)))
    }

    /// Wait up to `timeout_ms` (negative: forever) for the process to end; true when it has.
    #[rhai_fn(return_raw)]
    pub fn wait_gone(ctx: NativeCallContext, pid: i64, start_time: i64, timeout_ms: i64) -> RhaiResult<bool> {
        at(&ctx, || rt(procs::wait_gone(pid as i32, start_time as u64, timeout_ms)))
    }

    /// Bytes received and sent by process `pid`'s network namespace, on every
    /// interface but loopback: `#{rx, tx}`.
    #[rhai_fn(return_raw)]
    pub fn net_io(ctx: NativeCallContext, pid: i64) -> RhaiResult<Dynamic> {
        at(&ctx, || {
            let path = format!("/proc/{pid}/net/dev");
            let text = rt(std::fs::read_to_string(&path)
                .map_err(|e| crate::runtime::error::Error::os(format!("read {path}: {e}"))))?;
            let (rx, tx) = crate::runtime::cgroups::stats::net_dev_bytes(&text);
            let mut m = Map::new();
            m.insert("rx".into(), Dynamic::from(rx));
            m.insert("tx".into(), Dynamic::from(tx));
            Ok(Dynamic::from_map(m))
        })
    }

    /// Signal number for a name ("TERM", "SIGKILL") or number string.
    #[rhai_fn(return_raw)]
    pub fn parse_signal(ctx: NativeCallContext, name: &str) -> RhaiResult<i64> {
        at(&ctx, || rt(procs::parse_signal(name)).map(i64::from))
    }
}

pub fn module() -> Module {
    exported_module!(api)
}
