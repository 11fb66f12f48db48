//! mydocker-monitor: the parent of a detached container's init, and the last
//! step of every exec into a container.
//!
//! `mydocker-monitor MYDOCKER PID ARGS...` waits for child PID to end, then
//! execs `MYDOCKER __monitor-exit CODE ARGS...`, which records the exit (and
//! removes the container for `--rm`). `mydocker` re-execs this right after
//! cloning the init, so the init stays its child.
//!
//! Called `mydocker-exec` (argv[0]), it is the exec trampoline (see
//! `runtime::exec_helper`): `mydocker-exec SOCK N PATH1..PATHN ARGV...` runs
//! from a sealed memfd inside the container and execs the first PATH that the
//! kernel accepts with ARGV, exactly as mydocker's own PATH search would; on
//! failure it sends the error to mydocker over SOCK and exits 126 or 127.
//! Because the container's command is exec'd by this sealed copy, never by the
//! host's mydocker binary, `#!/proc/self/exe` in the container cannot reach a
//! host file (CVE-2019-5736).
//!
//! It sleeps in wait4 for the container's whole life, so what it keeps resident
//! is what each running container costs the host: it uses no std and no libc —
//! a few raw system calls from its own entry point — and links statically,
//! which keeps it to a few pages.
#![no_std]
#![no_main]

use core::arch::{asm, naked_asm};

const SYS_WRITE: usize = 1;
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
    let mut n: i32 = 0;
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
            n = n.checked_mul(10)?.checked_add((d - b'0') as i32)?;
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

fn fail(sock: i32, msg: &Msg, code: i32) -> ! {
    unsafe { syscall4(SYS_WRITE, sock as usize, msg.buf.as_ptr() as usize, msg.len, 0) };
    exit(code)
}

extern "C" fn entry(sp: *const usize) -> ! {
    let argc = unsafe { *sp };
    let argv = unsafe { sp.add(1) } as *const *const u8;
    let envp = unsafe { argv.add(argc + 1) };
    if argc > 0 && c_bytes(unsafe { *argv }) == b"mydocker-exec" {
        exec_mode(argc, argv, envp);
    }
    let arg = |i: usize| unsafe { *argv.add(i) };
    let Some(pid) = (3..=24).contains(&argc).then(|| parse_pid(arg(2))).flatten() else {
        // E.g. run as the interpreter of a `#!/proc/self/exe` script in a container.
        let msg = b"mydocker-monitor: only mydocker runs this helper\n";
        unsafe { syscall4(SYS_WRITE, 2, msg.as_ptr() as usize, msg.len(), 0) };
        exit(2)
    };
    let code = loop {
        let mut status: i32 = 0;
        let r = unsafe { syscall4(SYS_WAIT4, pid as usize, &mut status as *mut i32 as usize, 0, 0) };
        if r == pid as isize {
            let sig = status & 0x7f;
            if sig == 0 {
                break (status >> 8) & 0xff; // exited
            }
            if sig != 0x7f {
                break 128 + sig; // killed by a signal
            }
        } else if r < 0 && r != -EINTR {
            break 255;
        }
    };
    let mut buf = [0u8; 12];
    let mut args: [*const u8; 28] = [core::ptr::null(); 28];
    args[0] = c"mydocker".as_ptr().cast();
    args[1] = c"__monitor-exit".as_ptr().cast();
    args[2] = format_code(code, &mut buf);
    for (i, slot) in args.iter_mut().enumerate().take(argc).skip(3) {
        *slot = arg(i);
    }
    unsafe {
        syscall4(SYS_EXECVE, arg(1) as usize, args.as_ptr() as usize, envp as usize, 0);
    }
    exit(127)
}
