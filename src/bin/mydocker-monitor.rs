//! mydocker-monitor: the parent of a detached container's init, and the last
//! step of every exec into a container.
//!
//! `mydocker-monitor MYDOCKER PID OUT ERR FILE MAX_SIZE MAX_FILE PATH ARGS...`
//! waits for child PID to end, then execs `MYDOCKER __monitor-exit CODE
//! ARGS...`, which records the exit (and removes the container for `--rm`).
//! `mydocker` re-execs this right after cloning the init, so the init stays
//! its child. Meanwhile it relays the container's stdout and stderr from
//! pipes OUT and ERR to its log, a record per line with its stream and time
//! (`runtime/log_split.rs`): FILE is the open log at PATH; when a record
//! would take it past MAX_SIZE bytes it is renamed PATH.1 (PATH.1 to PATH.2,
//! … keeping MAX_FILE files) and a new PATH begun. A write that fails (disk
//! full) drops its data and the relay goes on: the container never blocks on
//! a full pipe. OUT `-`: no log to relay.
//!
//! Called `mydocker-exec` (argv[0]), it is the exec trampoline (see
//! `runtime::exec_helper`): `mydocker-exec SOCK N PATH1..PATHN ARGV...` runs
//! from a sealed memfd inside the container and execs the first PATH that the
//! kernel accepts with ARGV, exactly as mydocker's own PATH search would; on
//! failure it sends the error to mydocker over SOCK and exits 126 or 127.
//! Because the container's command is exec'd by this sealed copy, never by the
//! host's mydocker binary, `#!/proc/self/exe` in the container cannot reach a
//! host file (CVE-2019-5736). Called `mydocker-init` (`run --init`), it
//! forks that exec and stays as the container's PID 1: it forwards signals to
//! the command and reaps orphaned zombies (see `init_mode`).
//!
//! It sleeps in poll (or wait4) for the container's whole life, so what it keeps resident
//! is what each running container costs the host: it uses no std and no libc —
//! a few raw system calls from its own entry point — and links statically,
//! which keeps it to a few pages.
#![no_std]
#![no_main]

use core::arch::{asm, naked_asm};

#[allow(dead_code)] // the monitor only formats dates
#[path = "../runtime/civil.rs"]
mod civil;
#[allow(dead_code)] // the reader's half is not needed here
#[path = "../runtime/log_split.rs"]
mod log_split;

use log_split::{Stream, TAG_AT};

const SYS_READ: usize = 0;
const SYS_WRITE: usize = 1;
const SYS_OPEN: usize = 2;
const SYS_CLOSE: usize = 3;
const SYS_POLL: usize = 7;
const SYS_LSEEK: usize = 8;
const SYS_RENAME: usize = 82;
const SYS_UNLINK: usize = 87;
const SYS_PIDFD_OPEN: usize = 434;
const SYS_WRITEV: usize = 20;
const SYS_CLOCK_GETTIME: usize = 228;
const CLOCK_REALTIME: usize = 0;
const O_WRONLY_CREAT_TRUNC_APPEND_CLOEXEC: usize = 0o1 | 0o100 | 0o1000 | 0o2000 | 0o2000000;
const SEEK_END: usize = 2;
const POLLIN: i16 = 1;
const WNOHANG: usize = 1;
const SYS_EXECVE: usize = 59;
const SYS_FCNTL: usize = 72;
const F_SETFD: usize = 2;
const FD_CLOEXEC: usize = 1;
const SYS_WAIT4: usize = 61;
const SYS_EXIT_GROUP: usize = 231;
const EINTR: isize = 4;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(255)
}

/// The precompiled core refers to the unwinding personality even though this
/// binary aborts on panic; it is never called.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

// Without libc, the compiler's calls for block operations need definitions;
// volatile stores keep these from being turned back into calls to themselves.
/// # Safety
/// `s` must be valid for `n` bytes of writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(s: *mut u8, c: i32, n: usize) -> *mut u8 {
    for i in 0..n {
        unsafe { core::ptr::write_volatile(s.add(i), c as u8) };
    }
    s
}

/// # Safety
/// `d` and `s` must be valid for `n` bytes and not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(d: *mut u8, s: *const u8, n: usize) -> *mut u8 {
    for i in 0..n {
        unsafe { core::ptr::write_volatile(d.add(i), *s.add(i)) };
    }
    d
}

/// # Safety
/// `s` must point to a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    while unsafe { core::ptr::read_volatile(s.add(n)) } != 0 {
        n += 1;
    }
    n
}

unsafe fn syscall4(n: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> isize {
    let ret: isize;
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a1, in("rsi") a2, in("rdx") a3,
             in("r10") a4, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

fn exit(code: i32) -> ! {
    unsafe {
        syscall4(SYS_EXIT_GROUP, code as usize, 0, 0, 0);
        // exit_group does not return.
        core::hint::unreachable_unchecked()
    }
}

/// The kernel starts us here with argc, argv[], NULL, envp[], NULL on the stack.
///
/// # Safety
/// Only the kernel calls it, as the process entry point.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _start() -> ! {
    naked_asm!("mov rdi, rsp", "and rsp, -16", "call {entry}", "ud2", entry = sym entry)
}

fn parse_pid(s: *const u8) -> Option<i32> {
    parse_u64(s).and_then(|n| i32::try_from(n).ok())
}

fn parse_u64(s: *const u8) -> Option<u64> {
    let mut n: u64 = 0;
    let mut p = s;
    unsafe {
        if p.is_null() || *p == 0 {
            return None;
        }
        while *p != 0 {
            let d = *p;
            if !d.is_ascii_digit() {
                return None;
            }
            n = n.checked_mul(10)?.checked_add((d - b'0') as u64)?;
            p = p.add(1);
        }
    }
    Some(n)
}

/// The exit code as a NUL-terminated decimal string in `buf`.
fn format_code(code: i32, buf: &mut [u8; 12]) -> *const u8 {
    let mut n = code.clamp(0, 255) as u32;
    let mut i = buf.len() - 1;
    buf[i] = 0;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf[i..].as_ptr()
}

/// The bytes of a NUL-terminated string, without the NUL.
fn c_bytes<'a>(s: *const u8) -> &'a [u8] {
    unsafe { core::slice::from_raw_parts(s, strlen(s)) }
}

/// A message assembled in a fixed buffer (longer ones are cut).
struct Msg {
    buf: [u8; 1024],
    len: usize,
}

impl Msg {
    fn push(&mut self, b: &[u8]) -> &mut Self {
        for &c in b {
            if self.len < self.buf.len() {
                self.buf[self.len] = c;
                self.len += 1;
            }
        }
        self
    }
}

/// What nix's `Errno::desc` says for the errors execve gives.
fn errno_desc(e: isize) -> &'static [u8] {
    match e {
        1 => b"Operation not permitted",
        2 => b"No such file or directory",
        7 => b"Argument list too long",
        8 => b"Exec format error",
        12 => b"Cannot allocate memory",
        13 => b"Permission denied",
        14 => b"Bad address",
        20 => b"Not a directory",
        21 => b"Is a directory",
        22 => b"Invalid argument",
        26 => b"Text file busy",
        36 => b"File name too long",
        40 => b"Too many levels of symbolic links",
        _ => b"Unknown error",
    }
}

/// `mydocker-exec SOCK N PATH1..PATHN ARGV...`: the PATH search of mydocker's
/// `exec_in_path`, errors sorted the same way into 127 (not found) and 126.
fn exec_mode(argc: usize, argv: *const *const u8, envp: *const *const u8) -> ! {
    let arg = |i: usize| unsafe { *argv.add(i) };
    if argc < 4 {
        exit(2);
    }
    let (Some(sock), Some(n)) = (parse_pid(arg(1)), parse_pid(arg(2))) else { exit(2) };
    let n = n as usize;
    if n == 0 || argc < 3 + n + 1 {
        exit(2);
    }
    let cmd_argv = unsafe { argv.add(3 + n) };
    // Success closes the socket, which tells mydocker the command runs.
    unsafe { syscall4(SYS_FCNTL, sock as usize, F_SETFD, FD_CLOEXEC, 0) };
    let mut denied: Option<(usize, isize)> = None;
    let mut msg = Msg { buf: [0; 1024], len: 0 };
    for i in 0..n {
        let path = arg(3 + i);
        let e = -unsafe { syscall4(SYS_EXECVE, path as usize, cmd_argv as usize, envp as usize, 0) };
        match e {
            2 | 20 => continue, // ENOENT, ENOTDIR
            13 | 21 | 8 | 1 => {
                // EACCES, EISDIR, ENOEXEC, EPERM
                denied.get_or_insert((i, e));
            }
            _ => {
                msg.push(b"err not_executable\texec ").push(c_bytes(path)).push(b": ").push(errno_desc(e));
                fail(sock, &msg, 126);
            }
        }
    }
    let cmd = c_bytes(unsafe { *cmd_argv });
    match denied {
        Some((i, e)) => {
            msg.push(b"err not_executable\t").push(c_bytes(arg(3 + i)));
            msg.push(b": permission denied: not executable (").push(errno_desc(e)).push(b")");
            fail(sock, &msg, 126)
        }
        None if cmd.contains(&b'/') => {
            msg.push(b"err command_not_found\t").push(cmd).push(b": no such file or directory");
            fail(sock, &msg, 127)
        }
        None => {
            msg.push(b"err command_not_found\t").push(cmd).push(b": executable file not found in $PATH");
            fail(sock, &msg, 127)
        }
    }
}

const SYS_RT_SIGPROCMASK: usize = 14;
const SYS_IOCTL: usize = 16;
const SYS_GETPID: usize = 39;
const SYS_FORK: usize = 57;
const SYS_KILL: usize = 62;
const SYS_SETPGID: usize = 109;
const SYS_RT_SIGTIMEDWAIT: usize = 128;
const SIG_SETMASK: usize = 2;
const SIGCHLD: isize = 17;
const TIOCSPGRP: usize = 0x5410;

/// `mydocker-init SOCK N PATH1..PATHN ARGV...` (`run --init`): stay the
/// container's PID 1 (tini's job). The command is forked and exec'd as in
/// `exec_mode`, in its own process group in the terminal's foreground (so a
/// Ctrl-C reaches it once); every signal we get is forwarded to it, every
/// zombie re-parented to us is reaped, and we exit with its code when it ends.
fn init_mode(argc: usize, argv: *const *const u8, envp: *const *const u8) -> ! {
    // Every signal but KILL, STOP and the ones a fault raises (ILL, TRAP,
    // ABRT, BUS, FPE, SEGV, SYS) waits for sigtimedwait. A blocked signal is
    // never dropped, even by a namespace's PID 1 without a handler.
    let faults: u64 = [4u32, 5, 6, 7, 8, 9, 11, 19, 31].iter().fold(0, |m, s| m | 1 << (s - 1));
    let all: u64 = !faults;
    let mut before: u64 = 0;
    unsafe {
        syscall4(
            SYS_RT_SIGPROCMASK,
            SIG_SETMASK,
            &all as *const u64 as usize,
            &mut before as *mut u64 as usize,
            8,
        )
    };
    let child = unsafe { syscall4(SYS_FORK, 0, 0, 0, 0) };
    if child == 0 {
        unsafe {
            syscall4(SYS_SETPGID, 0, 0, 0, 0);
            let me = syscall4(SYS_GETPID, 0, 0, 0, 0) as i32;
            // Fails harmlessly without a terminal; SIGTTOU is blocked meanwhile.
            syscall4(SYS_IOCTL, 0, TIOCSPGRP, &me as *const i32 as usize, 0);
            syscall4(SYS_RT_SIGPROCMASK, SIG_SETMASK, &before as *const u64 as usize, 0, 8);
        }
        exec_mode(argc, argv, envp);
    }
    let sock = if argc > 1 { parse_pid(unsafe { *argv.add(1) }) } else { None };
    if child < 0 {
        let mut msg = Msg { buf: [0; 1024], len: 0 };
        msg.push(b"err not_executable\t--init: fork: ").push(errno_desc(-child));
        fail(sock.unwrap_or(-1), &msg, 126);
    }
    // Ours is closed at once: the command's exec (or its error) is what mydocker hears.
    if let Some(fd) = sock {
        unsafe { syscall4(SYS_CLOSE, fd as usize, 0, 0, 0) };
    }
    let child = child as i32;
    let mut info = [0u64; 16];
    loop {
        let sig = unsafe {
            syscall4(SYS_RT_SIGTIMEDWAIT, &all as *const u64 as usize, info.as_mut_ptr() as usize, 0, 8)
        };
        if sig == SIGCHLD {
            loop {
                let mut status: i32 = 0;
                let r =
                    unsafe { syscall4(SYS_WAIT4, usize::MAX, &mut status as *mut i32 as usize, WNOHANG, 0) };
                if r <= 0 {
                    break;
                }
                if r == child as isize
                    && let Some(code) = decode(status)
                {
                    exit(code);
                }
            }
        } else if sig > 0 {
            unsafe { syscall4(SYS_KILL, child as usize, sig as usize, 0, 0) };
        }
    }
}

fn fail(sock: i32, msg: &Msg, code: i32) -> ! {
    unsafe { syscall4(SYS_WRITE, sock as usize, msg.buf.as_ptr() as usize, msg.len, 0) };
    exit(code)
}

/// The container's log: the open file, its size, and how to rotate it.
struct Log {
    fd: isize,
    size: u64,
    max: u64,
    files: u64,
    /// The log's path, NUL-terminated.
    path: *const u8,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct IoVec {
    base: *const u8,
    len: usize,
}

/// The records of one read, written with one writev (16 records at a time).
struct Batch {
    iov: [IoVec; 48],
    n: usize,
    /// Their bytes.
    len: u64,
}

impl Batch {
    fn push(&mut self, d: &[u8]) {
        self.iov[self.n] = IoVec { base: d.as_ptr(), len: d.len() };
        self.n += 1;
        self.len += d.len() as u64;
    }
}

/// The wall-clock time: seconds and nanoseconds since the epoch.
fn realtime() -> (i64, u32) {
    let mut ts = [0i64; 2];
    unsafe { syscall4(SYS_CLOCK_GETTIME, CLOCK_REALTIME, ts.as_mut_ptr() as usize, 0, 0) };
    (ts[0], ts[1].clamp(0, 999_999_999) as u32)
}

/// `path` followed by `.N` and a NUL, in `buf`; None when it does not fit.
fn suffixed(path: *const u8, n: u64, buf: &mut [u8; 4096]) -> Option<*const u8> {
    let p = c_bytes(path);
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let d = &digits[i..];
    if p.len() + 1 + d.len() + 1 > buf.len() {
        return None;
    }
    buf[..p.len()].copy_from_slice(p);
    buf[p.len()] = b'.';
    buf[p.len() + 1..p.len() + 1 + d.len()].copy_from_slice(d);
    buf[p.len() + 1 + d.len()] = 0;
    Some(buf.as_ptr())
}

impl Log {
    /// Append what `stream` printed, a record per line (see `log_split`).
    /// `hold`: more is coming at once (the read filled the buffer), so a
    /// line begun at the end is kept for the next read rather than cut into
    /// parts; how many bytes were kept.
    fn relay(&mut self, stream: Stream, mut d: &[u8], hold: bool) -> usize {
        let whole = d.len();
        let (secs, nanos) = realtime();
        let full = log_split::header(secs, nanos, stream);
        let mut part = full;
        part[TAG_AT] = b'P';
        let mut batch = Batch { iov: [IoVec { base: core::ptr::null(), len: 0 }; 48], n: 0, len: 0 };
        while !d.is_empty() {
            let cut = log_split::next_record(d, self.size + batch.len, self.max);
            if hold && !cut.full && cut.used == d.len() && d.len() < whole {
                break;
            }
            if cut.rotate_first {
                self.write(&mut batch);
                self.rotate();
            }
            if batch.n + 3 > batch.iov.len() {
                self.write(&mut batch);
            }
            if cut.full {
                // The text and its newline, as they came.
                batch.push(&full);
                batch.push(&d[..cut.used]);
            } else {
                batch.push(&part);
                batch.push(&d[..cut.text]);
                batch.push(b"\n");
            }
            d = &d[cut.used..];
        }
        self.write(&mut batch);
        d.len()
    }

    /// Write all of `b`, or drop what cannot be written (disk full, no file).
    fn write(&mut self, b: &mut Batch) {
        if b.n > 0 && self.fd < 0 {
            self.fd = self.open();
        }
        let mut i = 0;
        while i < b.n && self.fd >= 0 {
            let iov = b.iov[i..b.n].as_ptr() as usize;
            let r = unsafe { syscall4(SYS_WRITEV, self.fd as usize, iov, b.n - i, 0) };
            if r == -EINTR {
                continue;
            }
            if r <= 0 {
                break;
            }
            self.size += r as u64;
            let mut r = r as usize;
            while i < b.n && r >= b.iov[i].len {
                r -= b.iov[i].len;
                i += 1;
            }
            if i < b.n {
                b.iov[i].base = unsafe { b.iov[i].base.add(r) };
                b.iov[i].len -= r;
            }
        }
        b.n = 0;
        b.len = 0;
    }

    fn open(&self) -> isize {
        unsafe { syscall4(SYS_OPEN, self.path as usize, O_WRONLY_CREAT_TRUNC_APPEND_CLOEXEC, 0o600, 0) }
    }

    /// PATH.(N-2) -> PATH.(N-1) … PATH -> PATH.1 (with one file: drop it), then a new PATH.
    /// Not inlined: its path buffers touch stack pages only once a log rotates.
    #[inline(never)]
    fn rotate(&mut self) {
        if self.fd >= 0 {
            unsafe { syscall4(SYS_CLOSE, self.fd as usize, 0, 0, 0) };
        }
        let (mut from, mut to) = ([0u8; 4096], [0u8; 4096]);
        if self.files > 1 {
            let mut i = self.files - 1;
            while i > 1 {
                if let (Some(f), Some(t)) =
                    (suffixed(self.path, i - 1, &mut from), suffixed(self.path, i, &mut to))
                {
                    unsafe { syscall4(SYS_RENAME, f as usize, t as usize, 0, 0) };
                }
                i -= 1;
            }
            if let Some(t) = suffixed(self.path, 1, &mut to) {
                unsafe { syscall4(SYS_RENAME, self.path as usize, t as usize, 0, 0) };
            }
        } else {
            unsafe { syscall4(SYS_UNLINK, self.path as usize, 0, 0, 0) };
        }
        self.fd = self.open();
        self.size = 0;
    }
}

#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

/// The exit code in a wait status, or None if it is not an exit.
fn decode(status: i32) -> Option<i32> {
    let sig = status & 0x7f;
    if sig == 0 {
        Some((status >> 8) & 0xff) // exited
    } else if sig != 0x7f {
        Some(128 + sig) // killed by a signal
    } else {
        None
    }
}

/// Block until child `pid` ends; its exit code.
fn reap(pid: i32) -> i32 {
    loop {
        let mut status: i32 = 0;
        let r = unsafe { syscall4(SYS_WAIT4, pid as usize, &mut status as *mut i32 as usize, 0, 0) };
        if r == pid as isize {
            if let Some(code) = decode(status) {
                return code;
            }
        } else if r < 0 && r != -EINTR {
            return 255;
        }
    }
}

/// Relay the `pipes` (stdout, stderr) into `log` until the init has ended
/// and the pipes are drained (every writer gone, or a second without data
/// once the init is reaped); the init's exit code. One pipe buffer's worth
/// (4 KiB) per read keeps the monitor's stack, hence what each container
/// costs the host, to a couple of pages.
#[inline(never)]
fn relay(pid: i32, mut pipes: [i32; 2], log: &mut Log) -> i32 {
    let pidfd = unsafe { syscall4(SYS_PIDFD_OPEN, pid as usize, 0, 0, 0) } as i32;
    let mut bufs = [[0u8; 4096]; 2];
    // Per stream: the start of a line kept from the last read, at the start of its buffer.
    let mut kept = [0usize; 2];
    let mut code: Option<i32> = None;
    while pipes[0] >= 0 || pipes[1] >= 0 {
        // Without a pidfd, read until every writer is gone (they all die with the init).
        let watch = if code.is_none() { pidfd } else { -1 };
        let mut fds = [
            PollFd { fd: pipes[0], events: POLLIN, revents: 0 },
            PollFd { fd: pipes[1], events: POLLIN, revents: 0 },
            PollFd { fd: watch, events: POLLIN, revents: 0 },
        ];
        let timeout: isize = if code.is_some() { 1000 } else { -1 };
        let r = unsafe { syscall4(SYS_POLL, fds.as_mut_ptr() as usize, 3, timeout as usize, 0) };
        if r == 0 {
            break; // reaped, and a second of silence: a writer outlived the init
        }
        if r < 0 {
            continue;
        }
        for (i, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
            if fds[i].revents == 0 {
                continue;
            }
            let (buf, k) = (&mut bufs[i], kept[i]);
            let room = buf.len() - k;
            let n = unsafe { syscall4(SYS_READ, pipes[i] as usize, buf[k..].as_mut_ptr() as usize, room, 0) };
            if n > 0 {
                let len = k + n as usize;
                let held = log.relay(stream, &buf[..len], len == buf.len());
                for j in 0..held {
                    // Volatile: no call to a memmove this binary does not have.
                    unsafe { core::ptr::write_volatile(&mut buf[j], buf[len - held + j]) };
                }
                kept[i] = held;
            } else if n != -EINTR {
                unsafe { syscall4(SYS_CLOSE, pipes[i] as usize, 0, 0, 0) };
                pipes[i] = -1;
                kept[i] = log.relay(stream, &buf[..k], false);
            }
        }
        if fds[2].revents != 0 {
            let mut status: i32 = 0;
            let r =
                unsafe { syscall4(SYS_WAIT4, pid as usize, &mut status as *mut i32 as usize, WNOHANG, 0) };
            if r == pid as isize {
                code = decode(status);
            } else if r < 0 && r != -EINTR {
                code = Some(255);
            }
        }
    }
    for (i, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
        log.relay(stream, &bufs[i][..kept[i]], false);
    }
    for fd in [pipes[0] as isize, pipes[1] as isize, pidfd as isize, log.fd] {
        if fd >= 0 {
            unsafe { syscall4(SYS_CLOSE, fd as usize, 0, 0, 0) };
        }
    }
    match code {
        Some(c) => c,
        None => reap(pid),
    }
}

/// Arguments before the ones passed on to `__monitor-exit`.
const FIXED_ARGS: usize = 9;

extern "C" fn entry(sp: *const usize) -> ! {
    let argc = unsafe { *sp };
    let argv = unsafe { sp.add(1) } as *const *const u8;
    let envp = unsafe { argv.add(argc + 1) };
    if argc > 0 && c_bytes(unsafe { *argv }) == b"mydocker-exec" {
        exec_mode(argc, argv, envp);
    }
    if argc > 0 && c_bytes(unsafe { *argv }) == b"mydocker-init" {
        init_mode(argc, argv, envp);
    }
    let arg = |i: usize| unsafe { *argv.add(i) };
    let Some(pid) = (FIXED_ARGS + 1..=24).contains(&argc).then(|| parse_pid(arg(2))).flatten() else {
        // E.g. run as the interpreter of a `#!/proc/self/exe` script in a container.
        let msg = b"mydocker-monitor: only mydocker runs this helper\n";
        unsafe { syscall4(SYS_WRITE, 2, msg.as_ptr() as usize, msg.len(), 0) };
        exit(2)
    };
    let fds = (parse_pid(arg(3)), parse_pid(arg(4)), parse_pid(arg(5)));
    let code = match (fds, parse_u64(arg(6)), parse_u64(arg(7))) {
        ((Some(out), Some(err), Some(file)), Some(max), Some(files)) => {
            let size = unsafe { syscall4(SYS_LSEEK, file as usize, 0, SEEK_END, 0) };
            let mut log = Log {
                fd: file as isize,
                size: if size > 0 { size as u64 } else { 0 },
                max,
                files,
                path: arg(8),
            };
            relay(pid, [out, err], &mut log)
        }
        _ => reap(pid),
    };
    let mut buf = [0u8; 12];
    let mut args: [*const u8; 28] = [core::ptr::null(); 28];
    args[0] = c"mydocker".as_ptr().cast();
    args[1] = c"__monitor-exit".as_ptr().cast();
    args[2] = format_code(code, &mut buf);
    for i in FIXED_ARGS..argc {
        args[i - FIXED_ARGS + 3] = arg(i);
    }
    unsafe {
        syscall4(SYS_EXECVE, arg(1) as usize, args.as_ptr() as usize, envp as usize, 0);
    }
    exit(127)
}
