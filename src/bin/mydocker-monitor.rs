//! mydocker-monitor: the parent of a detached container's init.
//!
//! `mydocker-monitor MYDOCKER PID ARGS...` waits for child PID to end, then
//! execs `MYDOCKER __monitor-exit CODE ARGS...`, which records the exit (and
//! removes the container for `--rm`). `mydocker` re-execs this right after
//! cloning the init, so the init stays its child.
//!
//! It sleeps in wait4 for the container's whole life, so what it keeps resident
//! is what each running container costs the host: it uses no std and no libc —
//! three raw system calls from its own entry point — and links statically,
//! which keeps it to a few pages.
#![no_std]
#![no_main]

use core::arch::{asm, naked_asm};

const SYS_EXECVE: usize = 59;
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

extern "C" fn entry(sp: *const usize) -> ! {
    let argc = unsafe { *sp };
    let argv = unsafe { sp.add(1) } as *const *const u8;
    let envp = unsafe { argv.add(argc + 1) };
    if !(3..=24).contains(&argc) {
        exit(2);
    }
    let arg = |i: usize| unsafe { *argv.add(i) };
    let Some(pid) = parse_pid(arg(2)) else { exit(2) };
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
