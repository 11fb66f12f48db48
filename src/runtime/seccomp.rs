//! A seccomp-BPF filter equal to Docker's default profile (moby
//! `profiles/seccomp/default.json`) for x86_64, built in Rust without libseccomp.
//!
//! The profile is an allow list: anything not named fails with EPERM, some
//! syscalls are allowed only for certain argument values, and some only when
//! the container holds a capability (CAP_SYS_ADMIN unlocks mount, unshare...).
//! Build the program with `docker_default` before forking; the container child
//! then only calls `install`.
//!
//! The program: check the architecture, reject x32 numbers, answer ENOSYS for
//! numbers newer than any this table knows (as runc does, so a libc probing a
//! new syscall falls back instead of failing on EPERM), then a binary search
//! over ranges of syscall numbers with the same action, ending in a return or
//! in a short argument check.
//!
//! x86_64 only: the numbers are libc's x86_64 `SYS_*` constants (other
//! architectures lack some, e.g. `SYS_open`, and fail to compile).

// Nothing calls this module until process.rs wires it in; drop this then.

use super::caps;
use super::error::{Error, Result};
use libc::sock_filter;
use nix::errno::Errno;
use std::collections::BTreeMap;

/// What the filter does with one syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    /// Fail with this errno without running the syscall.
    Errno(u16),
    /// Allow when the arguments pass the check, else the filter's default errno.
    AllowIf(Cond),
}

/// A check on one syscall argument (0-5), for `Action::AllowIf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    /// None of `mask`'s bits are set in the low 32 bits of the argument (clone's flags).
    MaskClear { arg: u8, mask: u32 },
    /// The argument, all 64 bits, is one of `values` (at most 60).
    OneOf { arg: u8, values: &'static [u64] },
    /// The low 32 bits of the argument are not `value`: for int arguments,
    /// where the kernel ignores the high half.
    Not { arg: u8, value: u32 },
}

/// A syscall filter for x86_64: rules by syscall number, a default errno for
/// every other number, and ENOSYS above `last_known`.
#[derive(Debug, Clone)]
pub struct Filter {
    rules: BTreeMap<u32, Action>,
    default_errno: u16,
    last_known: u32,
}

/// `AUDIT_ARCH_X86_64`: EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.
pub const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
/// Syscall numbers with this bit set come from the x32 ABI.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// Offsets into struct seccomp_data (little-endian).
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
fn arg_lo(arg: u8) -> u32 {
    16 + 8 * u32::from(arg)
}
fn arg_hi(arg: u8) -> u32 {
    arg_lo(arg) + 4
}

fn stmt(code: u32, k: u32) -> sock_filter {
    sock_filter { code: code as u16, jt: 0, jf: 0, k }
}
fn jump(op: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code: (libc::BPF_JMP | op | libc::BPF_K) as u16, jt, jf, k }
}
fn load(offset: u32) -> sock_filter {
    stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset)
}
fn ret(value: u32) -> sock_filter {
    stmt(libc::BPF_RET | libc::BPF_K, value)
}
fn ret_errno(errno: u16) -> sock_filter {
    ret(libc::SECCOMP_RET_ERRNO | u32::from(errno))
}

impl Filter {
    /// An empty filter: every syscall up to `last_known` fails with
    /// `default_errno`, every later one with ENOSYS.
    pub fn new(default_errno: u16, last_known: u32) -> Filter {
        Filter { rules: BTreeMap::new(), default_errno, last_known: last_known.min(X32_SYSCALL_BIT - 1) }
    }

    /// Set the action for syscall `nr`, replacing any earlier one.
    pub fn set(&mut self, nr: u32, action: Action) -> &mut Filter {
        self.rules.insert(nr, action);
        self
    }

    /// The action for syscall `nr` (x86_64 numbering).
    pub fn action(&self, nr: u32) -> Action {
        if nr & X32_SYSCALL_BIT != 0 {
            Action::Errno(self.default_errno)
        } else if nr > self.last_known {
            Action::Errno(libc::ENOSYS as u16)
        } else {
            self.rules.get(&nr).copied().unwrap_or(Action::Errno(self.default_errno))
        }
    }

    /// The BPF program. It can exceed the kernel's 4096 instructions only for
    /// a filter far more fragmented than Docker's; `install` checks.
    pub fn compile(&self) -> Vec<sock_filter> {
        let deny = ret_errno(self.default_errno);
        let mut prog = vec![
            load(OFF_ARCH),
            jump(libc::BPF_JEQ, AUDIT_ARCH_X86_64, 1, 0),
            deny,
            load(OFF_NR),
            jump(libc::BPF_JGE, X32_SYSCALL_BIT, 0, 1),
            deny,
            jump(libc::BPF_JGT, self.last_known, 0, 1),
            ret_errno(libc::ENOSYS as u16),
        ];
        prog.extend(self.tree(&self.ranges()));
        prog
    }

    /// Runs of syscall numbers in 0..=last_known with the same action, as (first, action).
    fn ranges(&self) -> Vec<(u32, Action)> {
        let mut out: Vec<(u32, Action)> = Vec::new();
        for nr in 0..=self.last_known {
            let a = self.action(nr);
            if out.last().is_none_or(|&(_, prev)| prev != a) {
                out.push((nr, a));
            }
        }
        out
    }

    /// Binary search over `ranges` with the syscall number in A. The left half
    /// follows the comparison inline; when it is too long for an 8-bit jump, a
    /// `ja` (32-bit offset) carries the jump to the right half.
    fn tree(&self, ranges: &[(u32, Action)]) -> Vec<sock_filter> {
        if let [(_, action)] = ranges {
            return self.leaf(*action);
        }
        let mid = ranges.len() / 2;
        let left = self.tree(&ranges[..mid]);
        let right = self.tree(&ranges[mid..]);
        let mut out = Vec::with_capacity(left.len() + right.len() + 2);
        match u8::try_from(left.len()) {
            Ok(skip) => out.push(jump(libc::BPF_JGE, ranges[mid].0, skip, 0)),
            Err(_) => {
                out.push(jump(libc::BPF_JGE, ranges[mid].0, 0, 1));
                out.push(stmt(libc::BPF_JMP | libc::BPF_JA, left.len() as u32));
            }
        }
        out.extend(left);
        out.extend(right);
        out
    }

    fn leaf(&self, action: Action) -> Vec<sock_filter> {
        let allow = ret(libc::SECCOMP_RET_ALLOW);
        let deny = ret_errno(self.default_errno);
        match action {
            Action::Allow => vec![allow],
            Action::Errno(e) => vec![ret_errno(e)],
            Action::AllowIf(Cond::MaskClear { arg, mask }) => {
                vec![load(arg_lo(arg)), jump(libc::BPF_JSET, mask, 1, 0), allow, deny]
            }
            Action::AllowIf(Cond::Not { arg, value }) => {
                vec![load(arg_lo(arg)), jump(libc::BPF_JEQ, value, 1, 0), allow, deny]
            }
            Action::AllowIf(Cond::OneOf { arg, values }) => {
                // Per value: high half equal, else on to the next value; low half equal → allow.
                assert!(values.len() <= 60, "too many values for 8-bit jumps");
                let n = values.len();
                let mut out = Vec::with_capacity(4 * n + 2);
                for (i, &v) in values.iter().enumerate() {
                    out.push(load(arg_hi(arg)));
                    out.push(jump(libc::BPF_JEQ, (v >> 32) as u32, 0, 2));
                    out.push(load(arg_lo(arg)));
                    out.push(jump(libc::BPF_JEQ, v as u32, (4 * (n - i) - 3) as u8, 0));
                }
                out.push(deny);
                out.push(allow);
                out
            }
        }
    }
}

/// (name, number) pairs from constant paths, so a misspelt syscall is a compile error.
macro_rules! syscalls {
    ($($m:ident :: $n:ident),* $(,)?) => {
        &[$((stringify!($n), $m::$n as u32)),*]
    };
}

type Table = &'static [(&'static str, u32)];

/// x86_64 numbers libc does not name yet (arch/x86/entry/syscalls/syscall_64.tbl).
#[allow(non_upper_case_globals)]
mod newer {
    pub const SYS_io_pgetevents: i64 = 333;
    pub const SYS_uretprobe: i64 = 335;
    pub const SYS_cachestat: i64 = 451;
    pub const SYS_map_shadow_stack: i64 = 453;
    pub const SYS_futex_wake: i64 = 454;
    pub const SYS_futex_wait: i64 = 455;
    pub const SYS_futex_requeue: i64 = 456;
    pub const SYS_statmount: i64 = 457;
    pub const SYS_listmount: i64 = 458;
    pub const SYS_lsm_get_self_attr: i64 = 459;
    pub const SYS_lsm_set_self_attr: i64 = 460;
    pub const SYS_lsm_list_modules: i64 = 461;
    pub const SYS_setxattrat: i64 = 463;
    pub const SYS_getxattrat: i64 = 464;
    pub const SYS_listxattrat: i64 = 465;
    pub const SYS_removexattrat: i64 = 466;
}

/// Docker's unconditional allow list, the entries that exist on x86_64 (the
/// 32-bit-only names such as `fstat64` or `socketcall` have no number here),
/// plus the amd64-only `arch_prctl` and `modify_ldt`, and `ptrace`,
/// `process_vm_readv`/`writev`, which Docker allows on kernels from 4.8 (this
/// runtime needs 5.3 for pidfds anyway).
const ALWAYS: Table = syscalls![
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_access,
    libc::SYS_adjtimex,
    libc::SYS_alarm,
    libc::SYS_arch_prctl,
    libc::SYS_bind,
    libc::SYS_brk,
    newer::SYS_cachestat,
    libc::SYS_capget,
    libc::SYS_capset,
    libc::SYS_chdir,
    libc::SYS_chmod,
    libc::SYS_chown,
    libc::SYS_clock_adjtime,
    libc::SYS_clock_getres,
    libc::SYS_clock_gettime,
    libc::SYS_clock_nanosleep,
    libc::SYS_close,
    libc::SYS_close_range,
    libc::SYS_connect,
    libc::SYS_copy_file_range,
    libc::SYS_creat,
    libc::SYS_dup,
    libc::SYS_dup2,
    libc::SYS_dup3,
    libc::SYS_epoll_create,
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_ctl_old,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
    libc::SYS_epoll_wait,
    libc::SYS_epoll_wait_old,
    libc::SYS_eventfd,
    libc::SYS_eventfd2,
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_fadvise64,
    libc::SYS_fallocate,
    libc::SYS_fanotify_mark,
    libc::SYS_fchdir,
    libc::SYS_fchmod,
    libc::SYS_fchmodat,
    libc::SYS_fchmodat2,
    libc::SYS_fchown,
    libc::SYS_fchownat,
    libc::SYS_fcntl,
    libc::SYS_fdatasync,
    libc::SYS_fgetxattr,
    libc::SYS_flistxattr,
    libc::SYS_flock,
    libc::SYS_fork,
    libc::SYS_fremovexattr,
    libc::SYS_fsetxattr,
    libc::SYS_fstat,
    libc::SYS_fstatfs,
    libc::SYS_fsync,
    libc::SYS_ftruncate,
    libc::SYS_futex,
    newer::SYS_futex_requeue,
    newer::SYS_futex_wait,
    libc::SYS_futex_waitv,
    newer::SYS_futex_wake,
    libc::SYS_futimesat,
    libc::SYS_get_robust_list,
    libc::SYS_get_thread_area,
    libc::SYS_getcpu,
    libc::SYS_getcwd,
    libc::SYS_getdents,
    libc::SYS_getdents64,
    libc::SYS_getegid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getgroups,
    libc::SYS_getitimer,
    libc::SYS_getpeername,
    libc::SYS_getpgid,
    libc::SYS_getpgrp,
    libc::SYS_getpid,
    libc::SYS_getppid,
    libc::SYS_getpriority,
    libc::SYS_getrandom,
    libc::SYS_getresgid,
    libc::SYS_getresuid,
    libc::SYS_getrlimit,
    libc::SYS_getrusage,
    libc::SYS_getsid,
    libc::SYS_getsockname,
    libc::SYS_getsockopt,
    libc::SYS_gettid,
    libc::SYS_gettimeofday,
    libc::SYS_getuid,
    libc::SYS_getxattr,
    newer::SYS_getxattrat,
    libc::SYS_inotify_add_watch,
    libc::SYS_inotify_init,
    libc::SYS_inotify_init1,
    libc::SYS_inotify_rm_watch,
    libc::SYS_io_cancel,
    libc::SYS_io_destroy,
    libc::SYS_io_getevents,
    newer::SYS_io_pgetevents,
    libc::SYS_io_setup,
    libc::SYS_io_submit,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_io_uring_setup,
    libc::SYS_ioctl,
    libc::SYS_ioprio_get,
    libc::SYS_ioprio_set,
    libc::SYS_kill,
    libc::SYS_landlock_add_rule,
    libc::SYS_landlock_create_ruleset,
    libc::SYS_landlock_restrict_self,
    libc::SYS_lchown,
    libc::SYS_lgetxattr,
    libc::SYS_link,
    libc::SYS_linkat,
    libc::SYS_listen,
    newer::SYS_listmount,
    libc::SYS_listxattr,
    newer::SYS_listxattrat,
    libc::SYS_llistxattr,
    libc::SYS_lremovexattr,
    libc::SYS_lseek,
    libc::SYS_lsetxattr,
    libc::SYS_lstat,
    libc::SYS_madvise,
    newer::SYS_map_shadow_stack,
    libc::SYS_membarrier,
    libc::SYS_memfd_create,
    libc::SYS_memfd_secret,
    libc::SYS_mincore,
    libc::SYS_mkdir,
    libc::SYS_mkdirat,
    libc::SYS_mknod,
    libc::SYS_mknodat,
    libc::SYS_mlock,
    libc::SYS_mlock2,
    libc::SYS_mlockall,
    libc::SYS_mmap,
    libc::SYS_modify_ldt,
    libc::SYS_mprotect,
    libc::SYS_mq_getsetattr,
    libc::SYS_mq_notify,
    libc::SYS_mq_open,
    libc::SYS_mq_timedreceive,
    libc::SYS_mq_timedsend,
    libc::SYS_mq_unlink,
    libc::SYS_mremap,
    libc::SYS_mseal,
    libc::SYS_msgctl,
    libc::SYS_msgget,
    libc::SYS_msgrcv,
    libc::SYS_msgsnd,
    libc::SYS_msync,
    libc::SYS_munlock,
    libc::SYS_munlockall,
    libc::SYS_munmap,
    libc::SYS_name_to_handle_at,
    libc::SYS_nanosleep,
    libc::SYS_newfstatat,
    libc::SYS_open,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_pause,
    libc::SYS_pidfd_open,
    libc::SYS_pidfd_send_signal,
    libc::SYS_pipe,
    libc::SYS_pipe2,
    libc::SYS_pkey_alloc,
    libc::SYS_pkey_free,
    libc::SYS_pkey_mprotect,
    libc::SYS_poll,
    libc::SYS_ppoll,
    libc::SYS_prctl,
    libc::SYS_pread64,
    libc::SYS_preadv,
    libc::SYS_preadv2,
    libc::SYS_prlimit64,
    libc::SYS_process_mrelease,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pselect6,
    libc::SYS_ptrace,
    libc::SYS_pwrite64,
    libc::SYS_pwritev,
    libc::SYS_pwritev2,
    libc::SYS_read,
    libc::SYS_readahead,
    libc::SYS_readlink,
    libc::SYS_readlinkat,
    libc::SYS_readv,
    libc::SYS_recvfrom,
    libc::SYS_recvmmsg,
    libc::SYS_recvmsg,
    libc::SYS_remap_file_pages,
    libc::SYS_removexattr,
    newer::SYS_removexattrat,
    libc::SYS_rename,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_restart_syscall,
    libc::SYS_rmdir,
    libc::SYS_rseq,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigpending,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigqueueinfo,
    libc::SYS_rt_sigreturn,
    libc::SYS_rt_sigsuspend,
    libc::SYS_rt_sigtimedwait,
    libc::SYS_rt_tgsigqueueinfo,
    libc::SYS_sched_get_priority_max,
    libc::SYS_sched_get_priority_min,
    libc::SYS_sched_getaffinity,
    libc::SYS_sched_getattr,
    libc::SYS_sched_getparam,
    libc::SYS_sched_getscheduler,
    libc::SYS_sched_rr_get_interval,
    libc::SYS_sched_setaffinity,
    libc::SYS_sched_setattr,
    libc::SYS_sched_setparam,
    libc::SYS_sched_setscheduler,
    libc::SYS_sched_yield,
    libc::SYS_seccomp,
    libc::SYS_select,
    libc::SYS_semctl,
    libc::SYS_semget,
    libc::SYS_semop,
    libc::SYS_semtimedop,
    libc::SYS_sendfile,
    libc::SYS_sendmmsg,
    libc::SYS_sendmsg,
    libc::SYS_sendto,
    libc::SYS_set_robust_list,
    libc::SYS_set_thread_area,
    libc::SYS_set_tid_address,
    libc::SYS_setfsgid,
    libc::SYS_setfsuid,
    libc::SYS_setgid,
    libc::SYS_setgroups,
    libc::SYS_setitimer,
    libc::SYS_setpgid,
    libc::SYS_setpriority,
    libc::SYS_setregid,
    libc::SYS_setresgid,
    libc::SYS_setresuid,
    libc::SYS_setreuid,
    libc::SYS_setrlimit,
    libc::SYS_setsid,
    libc::SYS_setsockopt,
    libc::SYS_setuid,
    libc::SYS_setxattr,
    newer::SYS_setxattrat,
    libc::SYS_shmat,
    libc::SYS_shmctl,
    libc::SYS_shmdt,
    libc::SYS_shmget,
    libc::SYS_shutdown,
    libc::SYS_sigaltstack,
    libc::SYS_signalfd,
    libc::SYS_signalfd4,
    libc::SYS_socketpair,
    libc::SYS_splice,
    libc::SYS_stat,
    libc::SYS_statfs,
    newer::SYS_statmount,
    libc::SYS_statx,
    libc::SYS_symlink,
    libc::SYS_symlinkat,
    libc::SYS_sync,
    libc::SYS_sync_file_range,
    libc::SYS_syncfs,
    libc::SYS_sysinfo,
    libc::SYS_tee,
    libc::SYS_tgkill,
    libc::SYS_time,
    libc::SYS_timer_create,
    libc::SYS_timer_delete,
    libc::SYS_timer_getoverrun,
    libc::SYS_timer_gettime,
    libc::SYS_timer_settime,
    libc::SYS_timerfd_create,
    libc::SYS_timerfd_gettime,
    libc::SYS_timerfd_settime,
    libc::SYS_times,
    libc::SYS_tkill,
    libc::SYS_truncate,
    libc::SYS_umask,
    libc::SYS_uname,
    libc::SYS_unlink,
    libc::SYS_unlinkat,
    newer::SYS_uretprobe,
    libc::SYS_utime,
    libc::SYS_utimensat,
    libc::SYS_utimes,
    libc::SYS_vfork,
    libc::SYS_vmsplice,
    libc::SYS_wait4,
    libc::SYS_waitid,
    libc::SYS_write,
    libc::SYS_writev,
];

/// Syscalls Docker allows only to containers holding a capability. `clone`
/// and `clone3` are handled apart: without CAP_SYS_ADMIN they are restricted,
/// not denied.
const GATED: &[(u32, Table)] = &[
    (caps::DAC_READ_SEARCH, syscalls![libc::SYS_open_by_handle_at]),
    (
        caps::SYS_ADMIN,
        syscalls![
            libc::SYS_bpf,
            libc::SYS_fanotify_init,
            libc::SYS_fsconfig,
            libc::SYS_fsmount,
            libc::SYS_fsopen,
            libc::SYS_fspick,
            libc::SYS_lookup_dcookie,
            newer::SYS_lsm_get_self_attr,
            newer::SYS_lsm_list_modules,
            newer::SYS_lsm_set_self_attr,
            libc::SYS_mount,
            libc::SYS_mount_setattr,
            libc::SYS_move_mount,
            libc::SYS_open_tree,
            libc::SYS_perf_event_open,
            libc::SYS_quotactl,
            libc::SYS_quotactl_fd,
            libc::SYS_setdomainname,
            libc::SYS_sethostname,
            libc::SYS_setns,
            libc::SYS_syslog,
            libc::SYS_umount2,
            libc::SYS_unshare,
        ],
    ),
    (caps::SYS_BOOT, syscalls![libc::SYS_reboot]),
    (caps::SYS_CHROOT, syscalls![libc::SYS_chroot]),
    (caps::SYS_MODULE, syscalls![libc::SYS_delete_module, libc::SYS_init_module, libc::SYS_finit_module]),
    (caps::SYS_PACCT, syscalls![libc::SYS_acct]),
    (
        caps::SYS_PTRACE,
        syscalls![
            libc::SYS_kcmp,
            libc::SYS_pidfd_getfd,
            libc::SYS_process_madvise,
            libc::SYS_process_vm_readv,
            libc::SYS_process_vm_writev,
            libc::SYS_ptrace,
        ],
    ),
    (caps::SYS_RAWIO, syscalls![libc::SYS_iopl, libc::SYS_ioperm]),
    (caps::SYS_TIME, syscalls![libc::SYS_settimeofday, libc::SYS_clock_settime]),
    (caps::SYS_TTY_CONFIG, syscalls![libc::SYS_vhangup]),
    (
        caps::SYS_NICE,
        syscalls![
            libc::SYS_get_mempolicy,
            libc::SYS_mbind,
            libc::SYS_set_mempolicy,
            libc::SYS_set_mempolicy_home_node,
        ],
    ),
    (caps::SYSLOG, syscalls![libc::SYS_syslog]),
    (caps::BPF, syscalls![libc::SYS_bpf]),
    (caps::PERFMON, syscalls![libc::SYS_perf_event_open]),
];

/// Syscalls with argument rules or special handling, named here so `last_known` covers them.
const SPECIAL: Table = syscalls![libc::SYS_clone, libc::SYS_clone3, libc::SYS_personality, libc::SYS_socket];

/// The namespace flags a container without CAP_SYS_ADMIN may not pass to clone:
/// CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP.
pub const CLONE_NAMESPACES: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u32;

/// personality(2) values Docker allows: PER_LINUX, PER_LINUX32, UNAME26,
/// UNAME26|PER_LINUX32, and 0xffffffff (query the current persona).
const PERSONALITIES: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// The highest syscall number this module names; later ones get ENOSYS.
pub fn last_known() -> u32 {
    ALWAYS
        .iter()
        .chain(SPECIAL)
        .chain(GATED.iter().flat_map(|(_, t)| t.iter()))
        .map(|&(_, nr)| nr)
        .max()
        .unwrap_or(0)
}

/// The number of an x86_64 syscall this module knows by name (`"mount"`), for tests and messages.
#[cfg(test)]
pub fn syscall_number(name: &str) -> Option<u32> {
    ALWAYS
        .iter()
        .chain(SPECIAL)
        .chain(GATED.iter().flat_map(|(_, t)| t.iter()))
        .find(|(n, _)| n.strip_prefix("SYS_") == Some(name))
        .map(|&(_, nr)| nr)
}

/// Docker's default profile for a container holding capabilities `caps`
/// (numbers as in `caps::NAMES`), as rules.
pub fn docker_filter(caps: &[u32]) -> Filter {
    let has = |c: u32| caps.contains(&c);
    let mut f = Filter::new(libc::EPERM as u16, last_known());
    for &(_, nr) in ALWAYS {
        f.set(nr, Action::Allow);
    }
    // AF_VSOCK would reach the host's hypervisor sockets.
    f.set(libc::SYS_socket as u32, Action::AllowIf(Cond::Not { arg: 0, value: libc::AF_VSOCK as u32 }));
    f.set(libc::SYS_personality as u32, Action::AllowIf(Cond::OneOf { arg: 0, values: PERSONALITIES }));
    if has(caps::SYS_ADMIN) {
        f.set(libc::SYS_clone as u32, Action::Allow);
        f.set(libc::SYS_clone3 as u32, Action::Allow);
    } else {
        // fork and threads, but no new namespaces (clone's flags are its first argument on x86_64).
        f.set(libc::SYS_clone as u32, Action::AllowIf(Cond::MaskClear { arg: 0, mask: CLONE_NAMESPACES }));
        // clone3 passes its flags in memory, out of BPF's reach; ENOSYS makes libc fall back to clone.
        f.set(libc::SYS_clone3 as u32, Action::Errno(libc::ENOSYS as u16));
    }
    for &(cap, table) in GATED {
        if has(cap) {
            for &(_, nr) in table {
                f.set(nr, Action::Allow);
            }
        }
    }
    f
}

/// Docker's default profile for a container holding `caps`, compiled. Build it
/// before forking; it stays well under the kernel's 4096-instruction limit.
pub fn docker_default(caps: &[u32]) -> Vec<sock_filter> {
    docker_filter(caps).compile()
}

/// Install `prog` as the calling thread's seccomp filter; it is inherited by
/// every process the thread creates and cannot be removed.
///
/// This does not set no_new_privs; the caller decides. Without it the kernel
/// requires CAP_SYS_ADMIN in the effective set, so in the container child
/// install the filter before `caps::apply` drops it (the profile allows the
/// capset and prctl calls that follow). Everything the child does after this
/// must pass the filter, so install it as late as possible before execve.
pub fn install(prog: &[sock_filter]) -> Result<()> {
    if prog.is_empty() || prog.len() > libc::BPF_MAXINSNS as usize {
        return Err(Error::invalid(format!(
            "seccomp program has {} instructions; the kernel takes 1 to {}",
            prog.len(),
            libc::BPF_MAXINSNS
        )));
    }
    let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr().cast_mut() };
    let fprog_ptr = &fprog as *const libc::sock_fprog;
    let mode = libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong;
    if unsafe { libc::syscall(libc::SYS_seccomp, mode, 0 as libc::c_ulong, fprog_ptr) } == 0 {
        return Ok(());
    }
    let mut err = Errno::last();
    if err == Errno::ENOSYS {
        // Kernels before 3.17 have no seccomp(2); this prctl is its older form.
        let mode = libc::SECCOMP_MODE_FILTER as libc::c_ulong;
        if unsafe { libc::prctl(libc::PR_SET_SECCOMP, mode, fprog_ptr) } == 0 {
            return Ok(());
        }
        err = Errno::last();
    }
    Err(Error::os(format!("install seccomp filter: {}", err.desc())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, fork};

    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

    fn nr(name: &str) -> u32 {
        syscall_number(name).unwrap_or_else(|| panic!("unknown syscall {name}"))
    }

    /// A BPF interpreter for the instructions `compile` emits; panics on
    /// anything else or on a jump out of the program.
    fn run(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u32; 16];
        data[0] = nr;
        data[1] = arch;
        for (i, a) in args.iter().enumerate() {
            data[4 + 2 * i] = *a as u32;
            data[5 + 2 * i] = (*a >> 32) as u32;
        }
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let ins = prog[pc];
            pc += 1;
            let code = u32::from(ins.code);
            let cond = |taken: bool| usize::from(if taken { ins.jt } else { ins.jf });
            match code {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                    assert!(ins.k.is_multiple_of(4) && ins.k < 64);
                    acc = data[(ins.k / 4) as usize];
                }
                c if c == libc::BPF_RET | libc::BPF_K => return ins.k,
                c if c == libc::BPF_JMP | libc::BPF_JA => pc += ins.k as usize,
                c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => pc += cond(acc == ins.k),
                c if c == libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K => pc += cond(acc >= ins.k),
                c if c == libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K => pc += cond(acc > ins.k),
                c if c == libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K => pc += cond(acc & ins.k != 0),
                c => panic!("unexpected BPF opcode {c:#x}"),
            }
        }
    }

    fn eval(prog: &[sock_filter], name: &str, args: [u64; 6]) -> u32 {
        run(prog, AUDIT_ARCH_X86_64, nr(name), args)
    }

    fn default_caps() -> Vec<u32> {
        caps::resolve(&[], &[]).unwrap()
    }

    fn expected(a: Action) -> Option<u32> {
        match a {
            Action::Allow => Some(ALLOW),
            Action::Errno(e) => Some(libc::SECCOMP_RET_ERRNO | u32::from(e)),
            Action::AllowIf(_) => None,
        }
    }

    #[test]
    fn tables_are_x86_64_numbers() {
        assert_eq!(nr("read"), 0);
        assert_eq!(nr("mount"), 165);
        assert_eq!(nr("clone"), 56);
        assert_eq!(nr("io_pgetevents"), 333);
        assert_eq!(nr("uretprobe"), 335);
        assert_eq!(nr("fchmodat2"), 452);
        assert_eq!(nr("mseal"), 462);
        assert_eq!(last_known(), 466);
        // No syscall is both always allowed and gated.
        for (cap, table) in GATED {
            for (name, n) in table.iter() {
                let always = ALWAYS.iter().any(|&(_, a)| a == *n);
                let ptrace_family = *cap == caps::SYS_PTRACE
                    && ["SYS_ptrace", "SYS_process_vm_readv", "SYS_process_vm_writev"].contains(name);
                assert!(!always || ptrace_family, "{name} is both always allowed and gated");
            }
        }
    }

    #[test]
    fn program_fits_the_kernel_limit() {
        for caps in [vec![], default_caps(), (0..=caps::LAST).collect()] {
            let prog = docker_default(&caps);
            assert!(prog.len() < 4096, "{} instructions", prog.len());
        }
        // A binary search: a few hundred instructions, not one per syscall pair.
        assert!(docker_default(&default_caps()).len() < 600);
    }

    #[test]
    fn program_matches_the_rules_for_every_number() {
        for caps in [vec![], default_caps(), (0..=caps::LAST).collect()] {
            let f = docker_filter(&caps);
            let prog = f.compile();
            for n in 0..1024 {
                let got = run(&prog, AUDIT_ARCH_X86_64, n, [0; 6]);
                match expected(f.action(n)) {
                    Some(want) => assert_eq!(got, want, "syscall {n}"),
                    // Conditional ones: with all-zero arguments each of Docker's checks passes.
                    None => assert_eq!(got, ALLOW, "syscall {n}"),
                }
            }
        }
    }

    #[test]
    fn default_profile_rules() {
        let p = docker_default(&default_caps());
        for &(name, n) in ALWAYS {
            assert_eq!(run(&p, AUDIT_ARCH_X86_64, n, [0; 6]), ALLOW, "{name}");
        }
        for name in
            ["keyctl", "add_key", "request_key", "unshare", "mount", "umount2", "setns", "bpf", "reboot"]
        {
            let n = match name {
                "keyctl" => libc::SYS_keyctl as u32,
                "add_key" => libc::SYS_add_key as u32,
                "request_key" => libc::SYS_request_key as u32,
                _ => nr(name),
            };
            assert_eq!(run(&p, AUDIT_ARCH_X86_64, n, [0; 6]), EPERM, "{name}");
        }
        // Denied although never named: kexec_load, pivot_root, userfaultfd.
        for n in [libc::SYS_kexec_load, libc::SYS_pivot_root, libc::SYS_userfaultfd] {
            assert_eq!(run(&p, AUDIT_ARCH_X86_64, n as u32, [0; 6]), EPERM, "{n}");
        }
        // chroot is gated by CAP_SYS_CHROOT, which Docker's default set has.
        assert_eq!(eval(&p, "chroot", [0; 6]), ALLOW);
        assert_eq!(eval(&p, "kcmp", [0; 6]), EPERM);
        assert_eq!(eval(&p, "ptrace", [0; 6]), ALLOW);

        let sigchld = libc::SIGCHLD as u64;
        let fork_flags = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID) as u64 | sigchld;
        let thread_flags = 0x3d0f00; // glibc's pthread_create clone flags
        assert_eq!(eval(&p, "clone", [fork_flags, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(eval(&p, "clone", [thread_flags, 0, 0, 0, 0, 0]), ALLOW);
        for ns in [libc::CLONE_NEWNS, libc::CLONE_NEWUSER, libc::CLONE_NEWNET, libc::CLONE_NEWCGROUP] {
            assert_eq!(eval(&p, "clone", [ns as u64 | sigchld, 0, 0, 0, 0, 0]), EPERM);
        }
        assert_eq!(eval(&p, "clone3", [0; 6]), ENOSYS);

        for ok in PERSONALITIES {
            assert_eq!(eval(&p, "personality", [*ok, 0, 0, 0, 0, 0]), ALLOW, "personality({ok:#x})");
        }
        for bad in [0x0040000u64, 0x1, 0xffff_ffff_ffff_ffff, 0x1_0000_0000] {
            assert_eq!(eval(&p, "personality", [bad, 0, 0, 0, 0, 0]), EPERM, "personality({bad:#x})");
        }
        assert_eq!(eval(&p, "socket", [libc::AF_INET as u64, 1, 0, 0, 0, 0]), ALLOW);
        assert_eq!(eval(&p, "socket", [libc::AF_VSOCK as u64, 1, 0, 0, 0, 0]), EPERM);
        assert_eq!(eval(&p, "socket", [(1 << 32) | libc::AF_VSOCK as u64, 1, 0, 0, 0, 0]), EPERM);
    }

    #[test]
    fn architecture_and_number_edges() {
        let p = docker_default(&default_caps());
        const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;
        assert_eq!(run(&p, AUDIT_ARCH_I386, 20, [0; 6]), EPERM, "i386 getpid");
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 39, [0; 6]), EPERM, "x32 getpid");
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, u32::MAX, [0; 6]), EPERM);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 467, [0; 6]), ENOSYS, "newer than the table");
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 1000, [0; 6]), ENOSYS);
        // Holes below last_known are simply denied.
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 400, [0; 6]), EPERM);
    }

    #[test]
    fn capabilities_unlock_syscalls() {
        let base = default_caps();
        let with = |cap: u32| {
            let mut c = base.clone();
            c.push(cap);
            docker_default(&c)
        };
        let admin = with(caps::SYS_ADMIN);
        for name in
            ["mount", "umount2", "unshare", "setns", "bpf", "sethostname", "fsopen", "perf_event_open"]
        {
            assert_eq!(eval(&admin, name, [0; 6]), ALLOW, "{name} with CAP_SYS_ADMIN");
        }
        let newns = (libc::CLONE_NEWNS | libc::SIGCHLD) as u64;
        assert_eq!(eval(&admin, "clone", [newns, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(eval(&admin, "clone3", [0; 6]), ALLOW);
        for (cap, names) in [
            (caps::SYS_PTRACE, &["kcmp", "pidfd_getfd", "process_madvise"][..]),
            (caps::SYS_MODULE, &["init_module", "finit_module", "delete_module"][..]),
            (caps::SYS_TIME, &["settimeofday", "clock_settime"][..]),
            (caps::SYS_BOOT, &["reboot"][..]),
            (caps::SYS_PACCT, &["acct"][..]),
            (caps::SYS_RAWIO, &["iopl", "ioperm"][..]),
            (caps::SYS_TTY_CONFIG, &["vhangup"][..]),
            (caps::SYS_NICE, &["mbind", "set_mempolicy", "get_mempolicy"][..]),
            (caps::SYSLOG, &["syslog"][..]),
            (caps::BPF, &["bpf"][..]),
            (caps::PERFMON, &["perf_event_open"][..]),
            (caps::DAC_READ_SEARCH, &["open_by_handle_at"][..]),
        ] {
            let p = with(cap);
            let plain = docker_default(&base);
            for name in names {
                assert_eq!(eval(&plain, name, [0; 6]), EPERM, "{name} without {:?}", caps::name(cap));
                assert_eq!(eval(&p, name, [0; 6]), ALLOW, "{name} with {:?}", caps::name(cap));
            }
            // One capability unlocks only its own syscalls.
            assert_eq!(eval(&p, "mount", [0; 6]), EPERM);
        }
        // Without CAP_SYS_CHROOT, chroot is denied.
        let no_chroot: Vec<u32> = base.iter().copied().filter(|&c| c != caps::SYS_CHROOT).collect();
        assert_eq!(eval(&docker_default(&no_chroot), "chroot", [0; 6]), EPERM);
    }

    #[test]
    fn long_left_branches_use_ja() {
        // Alternating actions make ~700 ranges: the top comparisons need `ja`.
        let mut f = Filter::new(libc::EPERM as u16, 1400);
        for n in (0..1400).step_by(2) {
            f.set(n, Action::Allow);
        }
        f.set(7, Action::Errno(libc::EACCES as u16));
        let prog = f.compile();
        assert!(prog.iter().any(|i| u32::from(i.code) == libc::BPF_JMP | libc::BPF_JA));
        for n in 0..1500 {
            let want = expected(f.action(n)).unwrap();
            assert_eq!(run(&prog, AUDIT_ARCH_X86_64, n, [0; 6]), want, "syscall {n}");
        }
    }

    #[test]
    fn install_rejects_bad_sizes() {
        assert!(install(&[]).is_err());
        let big = vec![ret(ALLOW); 4097];
        assert_eq!(install(&big).unwrap_err().kind, super::super::error::Kind::Invalid);
    }

    fn is_root() -> bool {
        if nix::unistd::geteuid().is_root() {
            return true;
        }
        eprintln!("skipped: needs root");
        false
    }

    /// Fork; in the child install `prog` and run `checks`, exiting with the
    /// number of the first failing check (0 if all pass).
    fn in_filtered_child(prog: &[sock_filter], checks: fn() -> i32) {
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code = if install(prog).is_err() { 100 } else { checks() };
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                let status = waitpid(child, None).expect("waitpid");
                assert_eq!(status, WaitStatus::Exited(child, 0), "check failed in the filtered child");
            }
        }
    }

    fn errno() -> i32 {
        Errno::last_raw()
    }

    /// The checks under the default profile; raw libc calls only (we are a
    /// fork of a multi-threaded test process).
    fn default_checks() -> i32 {
        unsafe {
            if libc::getpid() <= 0 {
                return 1;
            }
            if libc::unshare(libc::CLONE_NEWNS) != -1 || errno() != libc::EPERM {
                return 2;
            }
            // Unfiltered, this would fail with ENOENT instead (and mount nothing).
            let r = libc::mount(
                c"none".as_ptr(),
                c"/nonexistent-mydocker-test".as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            );
            if r != -1 || errno() != libc::EPERM {
                return 3;
            }
            let r =
                libc::syscall(libc::SYS_keyctl, 0 as libc::c_ulong, -3 as libc::c_long, 0 as libc::c_ulong);
            if r != -1 || errno() != libc::EPERM {
                return 4;
            }
            // fork() is clone(SIGCHLD|CLONE_CHILD_*): allowed.
            match libc::fork() {
                -1 => return 5,
                0 => libc::_exit(7),
                pid => {
                    let mut status = 0;
                    if libc::waitpid(pid, &mut status, 0) != pid
                        || !libc::WIFEXITED(status)
                        || libc::WEXITSTATUS(status) != 7
                    {
                        return 6;
                    }
                }
            }
            // clone with a namespace flag: EPERM (and no child).
            let flags = (libc::CLONE_NEWUTS | libc::SIGCHLD) as libc::c_ulong;
            let z = 0 as libc::c_ulong;
            match libc::syscall(libc::SYS_clone, flags, z, z, z, z) {
                0 => libc::_exit(0),
                -1 if errno() == libc::EPERM => {}
                -1 => return 7,
                pid => {
                    libc::waitpid(pid as i32, std::ptr::null_mut(), 0);
                    return 7;
                }
            }
            if libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), z) != -1 || errno() != libc::ENOSYS {
                return 8;
            }
            if libc::personality(0xffff_ffff) == -1 {
                return 9;
            }
            if libc::personality(0x0040000) != -1 || errno() != libc::EPERM {
                return 10;
            }
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            if fd < 0 {
                return 11;
            }
            libc::close(fd);
            if libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM, 0) != -1 || errno() != libc::EPERM {
                return 12;
            }
            // chroot passes the filter (CAP_SYS_CHROOT) and fails in the kernel.
            if libc::chroot(c"/nonexistent-mydocker-test".as_ptr()) != -1 || errno() != libc::ENOENT {
                return 13;
            }
            if libc::syscall(500 as libc::c_long) != -1 || errno() != libc::ENOSYS {
                return 14;
            }
            let me = libc::getpid() as libc::c_ulong;
            if libc::syscall(libc::SYS_kcmp, me, me, z, z, z) != -1 || errno() != libc::EPERM {
                return 15;
            }
        }
        0
    }

    #[test]
    fn default_filter_in_child() {
        if !is_root() {
            return;
        }
        in_filtered_child(&docker_default(&default_caps()), default_checks);
    }

    fn admin_checks() -> i32 {
        unsafe {
            // Passes the filter; as root with CAP_SYS_ADMIN the kernel allows it too.
            if libc::unshare(libc::CLONE_NEWUTS) != 0 {
                return 1;
            }
            let r = libc::mount(
                c"none".as_ptr(),
                c"/nonexistent-mydocker-test".as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            );
            if r != -1 || errno() != libc::ENOENT {
                return 2;
            }
            // clone3 reaches the kernel, which rejects a null argument.
            let z = 0 as libc::c_ulong;
            if libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), z) != -1 || errno() == libc::ENOSYS {
                return 3;
            }
            if libc::syscall(libc::SYS_keyctl, 0 as libc::c_ulong, -3 as libc::c_long, z) != -1
                || errno() != libc::EPERM
            {
                return 4;
            }
        }
        0
    }

    #[test]
    fn sys_admin_filter_in_child() {
        if !is_root() {
            return;
        }
        let mut caps = default_caps();
        caps.push(caps::SYS_ADMIN);
        in_filtered_child(&docker_default(&caps), admin_checks);
    }

    /// The container child's order: filter (needs CAP_SYS_ADMIN), then capabilities,
    /// then exec. A shell with pipes, subshells and background jobs must run.
    #[test]
    fn shell_runs_under_profile_and_default_caps() {
        if !is_root() || !std::path::Path::new("/bin/sh").exists() {
            return;
        }
        let caps = default_caps();
        let prog = docker_default(&caps);
        let script = c"ls / | wc -l >/dev/null && (date; id) >/dev/null && { sleep 0 & wait; } && \
            ! unshare -m true 2>/dev/null && ! grep -q 'Seccomp:.0' /proc/self/status";
        let argv = [c"sh".as_ptr(), c"-c".as_ptr(), script.as_ptr(), std::ptr::null()];
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code = if install(&prog).is_err() {
                    100
                } else if caps::apply(&caps).is_err() {
                    101
                } else {
                    unsafe { libc::execv(c"/bin/sh".as_ptr(), argv.as_ptr()) };
                    102
                };
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                let status = waitpid(child, None).expect("waitpid");
                assert_eq!(status, WaitStatus::Exited(child, 0), "sh under the default profile");
            }
        }
    }
}
