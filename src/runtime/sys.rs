//! Small facts about the host: time, ids, sizes, CPUs.

use super::error::{Context, Error, Result};
use std::io::Read;

/// Current time as RFC 3339 in UTC with milliseconds, e.g. `2026-11-30T00:51:32.123Z`.
pub fn now_rfc3339() -> String {
    super::clock::format(super::clock::now_ns(), 3)
}

/// The kernel's `uname`: system name, host name, release, version, machine.
pub struct Uname {
    pub sysname: String,
    pub nodename: String,
    pub release: String,
    pub version: String,
    pub machine: String,
}

pub fn uname() -> Result<Uname> {
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return Err(Error::os(format!("uname: {}", nix::errno::Errno::last().desc())));
    }
    let field =
        |f: &[libc::c_char]| unsafe { std::ffi::CStr::from_ptr(f.as_ptr()) }.to_string_lossy().into_owned();
    Ok(Uname {
        sysname: field(&u.sysname),
        nodename: field(&u.nodename),
        release: field(&u.release),
        version: field(&u.version),
        machine: field(&u.machine),
    })
}

/// The kind of filesystem `path` is on, by its statfs magic, named as
/// Docker's "Backing Filesystem" names it (`extfs`, `xfs`, `tmpfs`, …).
pub fn fs_type(path: &std::path::Path) -> Result<String> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::invalid(format!("invalid path {}", path.display())))?;
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(Error::os(format!("statfs {}: {}", path.display(), nix::errno::Errno::last().desc())));
    }
    Ok(match st.f_type as u64 {
        0xEF53 => "extfs".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683E => "btrfs".into(),
        0x0102_1994 => "tmpfs".into(),
        0x794C_7630 => "overlayfs".into(),
        0x2FC1_2FC1 => "zfs".into(),
        0xF2F5_2010 => "f2fs".into(),
        0x6969 => "nfs".into(),
        0x858_458F6 => "ramfs".into(),
        other => format!("0x{other:x}"),
    })
}

/// Make `path` a directory only root can enter (0700), creating it and its
/// parents if needed; an existing one with group or other bits is tightened.
/// The data and state roots and everything of a container's under them are
/// private: a setuid file or device node made inside a container, or a `-e`
/// secret, must not be reachable by another host user through its path.
/// The mode is set explicitly, never left to the caller's umask.
pub fn private_dir(path: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let mode = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => m.permissions().mode() & 0o7777,
        Ok(_) => return Err(Error::invalid(format!("{} exists and is not a directory", path.display()))),
        Err(_) => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).ctx(|| format!("create {}", parent.display()))?;
            }
            match std::fs::DirBuilder::new().mode(0o700).create(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::os(format!("create {}: {e}", path.display()))),
            }
            std::fs::symlink_metadata(path).ctx(|| format!("stat {}", path.display()))?.permissions().mode()
                & 0o7777
        }
    };
    if mode != 0o700 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .ctx(|| format!("chmod 0700 {}", path.display()))?;
    }
    Ok(())
}

/// A 64-hex-digit random id, like Docker's.
pub fn new_id() -> Result<String> {
    let mut buf = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .ctx(|| "read /dev/urandom")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Parse a memory size as Docker does: bytes, or a number with b/k/m/g/t (any case, optional trailing b).
pub fn parse_size(text: &str) -> Result<i64> {
    let bad = || {
        Error::invalid(format!("invalid size {text:?}: use bytes or a number with k, m, g or t (e.g. 32m)"))
    };
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').filter(|r| !r.is_empty() && !r.ends_with('b')).unwrap_or(&t);
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let bytes = (n * mult).round();
    if !bytes.is_finite() || bytes < 1.0 || bytes > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as i64)
}

/// Number of CPUs this process may run on.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// The whole of a small file (a record, a /proc file): one open, reads into a
/// page-sized buffer, close — `fs::read` would also `statx` for a size hint,
/// which is a syscall per container on every `ps`. A final symlink is not
/// followed (ELOOP): records and /proc files are never links.
pub fn read_small(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path)?;
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    Ok(buf)
}

/// In debug builds, die here (SIGKILL, no cleanup) when `MYDOCKER_CRASH_AT`
/// names this point: how the tests show that a killed command leaves nothing
/// a later one cannot recognise and clean up.
pub fn crash_point(point: &str) {
    if cfg!(debug_assertions) && std::env::var("MYDOCKER_CRASH_AT").is_ok_and(|p| p == point) {
        log::warn!("crash injected at {point}");
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// Write `bytes` to `path` whole (temp file beside it, then rename).
pub fn write_whole(path: &std::path::Path, bytes: &[u8]) -> super::error::Result<()> {
    use super::error::Context;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).ctx(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).ctx(|| format!("rename to {}", path.display())).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Append `bytes` to `path`, made 0600 when missing.
pub fn append(path: &std::path::Path, bytes: &[u8]) -> super::error::Result<()> {
    use super::error::Context;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .ctx(|| format!("open {}", path.display()))?;
    f.write_all(bytes).ctx(|| format!("write {}", path.display()))
}

/// Start this binary with `args` in the background, in its own session with
/// stdio on /dev/null, owned by no caller (a double fork: it is never our
/// zombie). Returns once it is exec'd or has failed to be.
pub fn spawn_detached(args: &[String]) -> super::error::Result<()> {
    use super::error::{Context, Error};
    let cargs = std::iter::once("mydocker")
        .chain(args.iter().map(String::as_str))
        .map(std::ffi::CString::new)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| Error::invalid("an argument holds a NUL byte"))?;
    // Everything the child needs is made before fork: after it, only raw calls.
    let argv: Vec<*const libc::c_char> =
        cargs.iter().map(|c| c.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    match unsafe { nix::unistd::fork() }.ctx(|| "fork")? {
        nix::unistd::ForkResult::Parent { child } => {
            let _ = nix::sys::wait::waitpid(child, None);
            Ok(())
        }
        nix::unistd::ForkResult::Child => unsafe {
            libc::setsid();
            if libc::fork() == 0 {
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                if null >= 0 {
                    libc::dup2(null, 0);
                    libc::dup2(null, 1);
                    libc::dup2(null, 2);
                }
                libc::execv(c"/proc/self/exe".as_ptr(), argv.as_ptr());
            }
            libc::_exit(0)
        },
    }
}

/// A host device node as the OCI spec's `linux.devices` describes one.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceNode {
    pub path: String,
    /// "c" or "b".
    pub kind: &'static str,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The device node at host `path` (links followed, as Docker's `--device`).
pub fn device_node(path: &str) -> super::error::Result<DeviceNode> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let md =
        std::fs::metadata(path).map_err(|e| super::error::Error::invalid(format!("--device {path}: {e}")))?;
    let kind = if md.file_type().is_char_device() {
        "c"
    } else if md.file_type().is_block_device() {
        "b"
    } else {
        return Err(super::error::Error::invalid(format!("--device {path}: not a device node")));
    };
    let rdev = md.rdev();
    Ok(DeviceNode {
        path: path.to_string(),
        kind,
        major: libc::major(rdev) as u64,
        minor: libc::minor(rdev) as u64,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
    })
}

/// Every device node under the host's /dev (`--privileged`), but the
/// per-container filesystems a container gets its own of (pts, shm, mqueue)
/// and the terminals of the host's sessions.
pub fn host_devices() -> Vec<DeviceNode> {
    fn walk(dir: &std::path::Path, out: &mut Vec<DeviceNode>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(ft) = e.file_type() else { continue };
            let name = path.display().to_string();
            if ft.is_dir() {
                if !["/dev/pts", "/dev/shm", "/dev/mqueue"].contains(&name.as_str()) {
                    walk(&path, out);
                }
            } else if !ft.is_symlink()
                && name != "/dev/console"
                && let Ok(d) = device_node(&name)
            {
                out.push(d);
            }
        }
    }
    let mut out = Vec::new();
    walk(std::path::Path::new("/dev"), &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Set by the REPL's SIGINT handler: a primitive that blocks (a wait, a
/// sleep, `logs -f`) checks it and gives up, so Ctrl-C reaches the prompt.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_interrupted(on: bool) {
    INTERRUPTED.store(on, std::sync::atomic::Ordering::SeqCst);
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// An error for a wait that Ctrl-C ended.
pub fn check_interrupt() -> super::error::Result<()> {
    if interrupted() { Err(super::error::Error::os("interrupted")) } else { Ok(()) }
}

/// Sleep for `ms`, in steps that notice an interrupt.
pub fn sleep_ms(ms: u64) -> super::error::Result<()> {
    let end = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    loop {
        check_interrupt()?;
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(std::time::Duration::from_millis(50)));
    }
}

/// Make `path` holding `bytes` (0644), failing with `Conflict` if it exists.
pub fn create_new(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::new(super::error::Kind::Conflict, format!("{} exists", path.display())));
        }
        Err(e) => return Err(Error::os(format!("create {}: {e}", path.display()))),
    };
    f.write_all(bytes).ctx(|| format!("write {}", path.display()))
}

/// Run host program `argv` (stdin /dev/null) to its end: (exit code, or
/// 128+N for signal N; stdout; stderr).
pub fn run_host(argv: &[String]) -> Result<(i32, String, String)> {
    use std::os::unix::process::ExitStatusExt;
    let Some((prog, args)) = argv.split_first() else {
        return Err(Error::invalid("no program given"));
    };
    let out = match std::process::Command::new(prog).args(args).stdin(std::process::Stdio::null()).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::not_found(format!("{prog}: no such program in PATH")));
        }
        Err(e) => return Err(Error::os(format!("run {prog}: {e}"))),
    };
    let code = out.status.code().unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0));
    Ok((
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("32m").unwrap(), 32 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("1GB").unwrap(), 1 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        for bad in ["12q", "", "m", "-1m", "0", "1bb", "abc"] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn time_format() {
        assert_eq!(super::super::clock::format(5_000_000, 3), "1970-01-01T00:00:00.005Z");
        assert_eq!(now_rfc3339().len(), 24);
    }

    #[test]
    fn ids_are_hex() {
        let id = new_id().unwrap();
        assert_eq!(id.len(), 64);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn small_files_are_read_whole_whatever_their_size() {
        let dir = tempfile::tempdir().expect("tmp");
        for len in [0usize, 10, 4096, 4097, 20000] {
            let path = dir.path().join(format!("f{len}"));
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            std::fs::write(&path, &data).expect("write");
            assert_eq!(read_small(&path).expect("read"), data);
        }
        assert!(read_small(&dir.path().join("missing")).is_err());
    }
}
