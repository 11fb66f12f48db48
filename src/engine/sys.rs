//! `sys::` and `log::` — facts about the host and the invocation, and logging.

use super::{RhaiResult, at, context, rt};
use crate::runtime::{sys, tty};
use rhai::Map;
use rhai::plugin::*;

#[export_module]
mod api {
    use super::*;

    /// Current time, RFC 3339 UTC with milliseconds.
    pub fn now() -> String {
        sys::now_rfc3339()
    }

    /// A new random 64-hex-digit id.
    #[rhai_fn(return_raw)]
    pub fn new_id(ctx: NativeCallContext) -> RhaiResult<String> {
        at(&ctx, || rt(sys::new_id()))
    }

    /// Bytes in a size like "32m", "1g", "4096"; throws kind `invalid`.
    #[rhai_fn(return_raw)]
    pub fn parse_size(ctx: NativeCallContext, text: &str) -> RhaiResult<i64> {
        at(&ctx, || rt(sys::parse_size(text)))
    }

    /// How many CPUs this host has for us.
    pub fn cpu_count() -> i64 {
        sys::cpu_count() as i64
    }

    /// The effective user id of mydocker.
    pub fn euid() -> i64 {
        nix::unistd::geteuid().as_raw() as i64
    }

    /// An environment variable of mydocker, or `()` when unset.
    pub fn env(name: &str) -> Dynamic {
        std::env::var(name).map(Dynamic::from).unwrap_or(Dynamic::UNIT)
    }

    /// Is file descriptor `fd` (0, 1, 2) a terminal?
    pub fn isatty(fd: i64) -> bool {
        tty::isatty(fd as i32)
    }

    /// The state root (`--root`).
    pub fn root() -> String {
        context().root.display().to_string()
    }

    /// The data root for images and layers (`--data-root`).
    pub fn data_root() -> String {
        context().data_root.display().to_string()
    }

    /// A value as pretty-printed JSON.
    #[rhai_fn(return_raw)]
    pub fn to_json(ctx: NativeCallContext, value: Dynamic) -> RhaiResult<String> {
        at(&ctx, || {
            let v: serde_json::Value = rhai::serde::from_dynamic(&value)?;
            serde_json::to_string_pretty(&v).map_err(|e| e.to_string().into())
        })
    }

    /// A value as JSON on one line (JSON Lines: one record per line).
    #[rhai_fn(return_raw)]
    pub fn to_json_line(ctx: NativeCallContext, value: Dynamic) -> RhaiResult<String> {
        at(&ctx, || {
            let v: serde_json::Value = rhai::serde::from_dynamic(&value)?;
            serde_json::to_string(&v).map_err(|e| e.to_string().into())
        })
    }

    /// Parse JSON text into maps, arrays and values.
    #[rhai_fn(return_raw)]
    pub fn parse_json(ctx: NativeCallContext, text: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || {
            let v: serde_json::Value =
                serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
            Ok(crate::engine::json_to_dyn(v))
        })
    }

    /// Bytes as Docker shows them: "4.3MB", "512B" (powers of 1000).
    pub fn format_size(bytes: i64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"];
        let mut v = bytes as f64;
        let mut i = 0;
        while v >= 1000.0 && i < units.len() - 1 {
            v /= 1000.0;
            i += 1;
        }
        if i == 0 {
            format!("{bytes}B")
        } else {
            format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_string() + units[i]
        }
    }

    /// Fault injection for tests: in debug builds, when `MYDOCKER_CRASH_AT` equals
    /// `point`, mydocker kills itself here with SIGKILL. Release builds ignore it.
    pub fn crash_point(point: &str) {
        sys::crash_point(point);
    }

    /// Align rows of cells into columns: each cell padded to its column's width
    /// plus three spaces, trailing space trimmed. The first row is usually the header.
    pub fn align(rows: rhai::Array) -> rhai::Array {
        let cells: Vec<Vec<String>> = rows
            .into_iter()
            .map(|r| match r.try_cast::<rhai::Array>() {
                Some(a) => a.into_iter().map(|c| c.to_string()).collect(),
                None => Vec::new(),
            })
            .collect();
        let mut widths: Vec<usize> = Vec::new();
        for row in &cells {
            for (i, c) in row.iter().enumerate() {
                let n = c.chars().count();
                match widths.get_mut(i) {
                    Some(w) => *w = (*w).max(n),
                    None => widths.push(n),
                }
            }
        }
        cells
            .into_iter()
            .map(|row| {
                let mut line = String::new();
                let last = row.len().saturating_sub(1);
                for (i, c) in row.iter().enumerate() {
                    line.push_str(c);
                    if i < last {
                        let pad = widths[i] + 3 - c.chars().count();
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                }
                Dynamic::from(line.trim_end().to_string())
            })
            .collect()
    }

    /// Sleep for `ms` milliseconds (Ctrl-C in the REPL ends it).
    #[rhai_fn(return_raw)]
    pub fn sleep(ctx: NativeCallContext, ms: i64) -> RhaiResult<()> {
        at(&ctx, || rt(sys::sleep_ms(ms.max(0) as u64)))
    }

    /// Milliseconds since some fixed point: differences measure elapsed time.
    pub fn monotonic_ms() -> i64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        unsafe {
            libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
        }
        ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000
    }

    /// The text of a host file, or `()` when it does not exist; throws kind
    /// `os` when it cannot be read.
    #[rhai_fn(return_raw)]
    pub fn read_file(ctx: NativeCallContext, path: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || match sys::read_small(std::path::Path::new(path)) {
            Ok(bytes) => Ok(Dynamic::from(String::from_utf8_lossy(&bytes).into_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Dynamic::UNIT),
            Err(e) => rt(Err(crate::runtime::error::Error::os(format!("read {path}: {e}")))),
        })
    }

    /// Write `text` to the host file `path` whole: a temp file beside it,
    /// renamed over it, so a reader (conmon, containerd's shim reading a pid
    /// file) never sees half of it.
    #[rhai_fn(return_raw)]
    pub fn write_file(ctx: NativeCallContext, path: &str, text: &str) -> RhaiResult<()> {
        at(&ctx, || rt(sys::write_whole(std::path::Path::new(path), text.as_bytes())))
    }

    /// Append `text` to the host file `path` (made 0600 if missing).
    #[rhai_fn(return_raw)]
    pub fn append_file(ctx: NativeCallContext, path: &str, text: &str) -> RhaiResult<()> {
        at(&ctx, || rt(sys::append(std::path::Path::new(path), text.as_bytes())))
    }

    /// All of stdin, as text.
    #[rhai_fn(return_raw)]
    pub fn read_stdin(ctx: NativeCallContext) -> RhaiResult<String> {
        at(&ctx, || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(|e| format!("read stdin: {e}"))?;
            Ok(text)
        })
    }

    /// Ask on the terminal: print `text` to stderr and read one line from
    /// stdin, without echoing it when `echo` is false (a password).
    #[rhai_fn(return_raw)]
    pub fn prompt(ctx: NativeCallContext, text: &str, echo: bool) -> RhaiResult<String> {
        at(&ctx, || rt(tty::prompt(text, echo)))
    }

    /// `path` made absolute against the current directory (not resolving links).
    pub fn absolute(path: &str) -> String {
        std::path::absolute(path).map(|p| p.display().to_string()).unwrap_or_else(|_| path.to_string())
    }

    /// Run mydocker `args` (a command line after `mydocker`, the roots of this
    /// invocation added) in the background, detached from this command and its
    /// terminal: how a foreground `run` hands its container to `on-exit`.
    #[rhai_fn(return_raw)]
    pub fn spawn_mydocker(ctx: NativeCallContext, args: rhai::Array) -> RhaiResult<()> {
        at(&ctx, || {
            let c = context();
            let mut argv = vec![
                "--root".to_string(),
                c.root.display().to_string(),
                "--data-root".to_string(),
                c.data_root.display().to_string(),
            ];
            argv.extend(args.into_iter().map(|a| a.to_string()));
            rt(sys::spawn_detached(&argv))
        })
    }

    /// The host device node at `path` (links followed) as a spec device:
    /// `#{path, "type", major, minor, fileMode, uid, gid}`; throws kind
    /// `invalid` when it is missing or not a device.
    #[rhai_fn(return_raw)]
    pub fn device(ctx: NativeCallContext, path: &str) -> RhaiResult<Map> {
        at(&ctx, || rt(sys::device_node(path)).map(device_map))
    }

    /// Every device node under the host's /dev but pts, shm, mqueue and
    /// console, as `device` describes one (what `--privileged` gives).
    pub fn host_devices() -> rhai::Array {
        sys::host_devices().into_iter().map(|d| Dynamic::from_map(device_map(d))).collect()
    }

    /// Facts about the host for `info`: `#{os_type, hostname, kernel,
    /// kernel_build, arch, cpus}` (`uname` and the CPUs we may use).
    #[rhai_fn(return_raw)]
    pub fn host(ctx: NativeCallContext) -> RhaiResult<Map> {
        at(&ctx, || {
            let u = rt(sys::uname())?;
            let mut m = Map::new();
            m.insert("os_type".into(), u.sysname.to_lowercase().into());
            m.insert("hostname".into(), u.nodename.into());
            m.insert("kernel".into(), u.release.into());
            m.insert("kernel_build".into(), u.version.into());
            m.insert("arch".into(), u.machine.into());
            m.insert("cpus".into(), Dynamic::from_int(sys::cpu_count() as i64));
            Ok(m)
        })
    }

    /// The kind of filesystem `path` is on (`extfs`, `xfs`, `tmpfs`, …).
    #[rhai_fn(return_raw)]
    pub fn fs_type(ctx: NativeCallContext, path: &str) -> RhaiResult<String> {
        at(&ctx, || rt(sys::fs_type(std::path::Path::new(path))))
    }

    /// How this mydocker was built: `#{version, rhai, rustc, git_commit,
    /// target}` (`git_commit` empty when built outside a git checkout).
    pub fn version() -> Map {
        let mut m = Map::new();
        m.insert("version".into(), env!("CARGO_PKG_VERSION").into());
        m.insert("rhai".into(), env!("MYDOCKER_RHAI").into());
        m.insert("rustc".into(), env!("MYDOCKER_RUSTC").into());
        m.insert("git_commit".into(), env!("MYDOCKER_GIT_COMMIT").into());
        m.insert("target".into(), format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH).into());
        m
    }

    /// Does `path` exist on the host?
    pub fn exists(path: &str) -> bool {
        std::path::Path::new(path).exists()
    }

    /// Make the host file `path` holding `text` (mode 0644), only if it does
    /// not exist: throws kind `conflict` when it does (`--cidfile`).
    #[rhai_fn(return_raw)]
    pub fn create_file(ctx: NativeCallContext, path: &str, text: &str) -> RhaiResult<()> {
        at(&ctx, || rt(sys::create_new(std::path::Path::new(path), text.as_bytes())))
    }

    /// Remove the host file `path`; a missing one is no error.
    #[rhai_fn(return_raw)]
    pub fn remove_file(ctx: NativeCallContext, path: &str) -> RhaiResult<()> {
        at(&ctx, || match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => rt(Err(crate::runtime::error::Error::os(format!("remove {path}: {e}")))),
        })
    }

    /// Run a host program, `argv[0]` looked up in PATH, with stdin from
    /// /dev/null, and wait: `#{code, stdout, stderr}` (code 128+N when killed
    /// by signal N). Throws kind `not_found` when there is no such program.
    #[rhai_fn(return_raw)]
    pub fn command(ctx: NativeCallContext, argv: rhai::Array) -> RhaiResult<Dynamic> {
        at(&ctx, || {
            let argv: Vec<String> = argv.into_iter().map(|a| a.to_string()).collect();
            let out = rt(sys::run_host(&argv))?;
            let mut m = rhai::Map::new();
            m.insert("code".into(), Dynamic::from(out.0 as i64));
            m.insert("stdout".into(), Dynamic::from(out.1));
            m.insert("stderr".into(), Dynamic::from(out.2));
            Ok(Dynamic::from_map(m))
        })
    }
}

#[export_module]
mod log_api {
    /// Log at INFO (shown with `--log-level info`).
    pub fn info(message: &str) {
        log::info!("{message}");
    }
    /// Log at WARN (shown by default).
    pub fn warn(message: &str) {
        log::warn!("{message}");
    }
    /// Log at DEBUG.
    pub fn debug(message: &str) {
        log::debug!("{message}");
    }
}

fn device_map(d: sys::DeviceNode) -> Map {
    let mut m = Map::new();
    m.insert("path".into(), d.path.into());
    m.insert("type".into(), d.kind.into());
    m.insert("major".into(), (d.major as i64).into());
    m.insert("minor".into(), (d.minor as i64).into());
    m.insert("fileMode".into(), (d.mode as i64).into());
    m.insert("uid".into(), (d.uid as i64).into());
    m.insert("gid".into(), (d.gid as i64).into());
    m
}

pub fn module() -> Module {
    exported_module!(api)
}

pub fn log_module() -> Module {
    exported_module!(log_api)
}

/// Global functions: `eprint(x)` writes a line to stderr; `exit(n)` ends the
/// script (from any depth, uncatchable) with exit code n.
pub fn register_globals(engine: &mut Engine) {
    // Rhai's own exit() becomes the script's return value, which would lose the
    // code; termination carries it out intact.
    engine.register_fn("exit", |code: i64| -> Result<(), Box<EvalAltResult>> {
        Err(EvalAltResult::ErrorTerminated(Dynamic::from(code), Position::NONE).into())
    });
    engine.register_fn("exit", || -> Result<(), Box<EvalAltResult>> {
        Err(EvalAltResult::ErrorTerminated(Dynamic::from(0_i64), Position::NONE).into())
    });
    engine.register_fn("eprint", |s: &str| eprintln!("{s}"));
    engine.register_fn("eprint", |d: Dynamic| eprintln!("{d}"));
    engine.on_debug(|s, src, pos| {
        eprintln!("{}{pos:?}: {s}", src.map(|s| format!("{s}:")).unwrap_or_default())
    });
}
