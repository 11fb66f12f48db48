//! Seccomp for x86_64 without libseccomp. Two inputs: profiles in Docker's
//! JSON format (`profile.rs`; the default is `stdlib/seccomp/default.json`,
//! embedded), and the OCI runtime spec's `linux.seccomp` (`oci.rs`), which a
//! Docker profile also resolves to. Both compile here into one BPF program.
//!
//! `program` / `oci::compile_oci` run in the CLI before clone; the container
//! child then only calls `install` / `install_with_flags`.
//!
//! The program: check the architecture, then per ABI (x86_64, and for OCI
//! specs that list them i386 and x32) answer ENOSYS for numbers newer than any
//! the profile names when its default denies (as runc does, so a libc probing
//! a new syscall falls back instead of failing on EPERM), then a binary
//! search over ranges of syscall numbers with the same rules, ending in a
//! return or in the argument checks of one syscall.
//!
//! A Docker profile filters only the native x86_64 ABI by name: i386 (`int
//! 0x80`) and x32 calls get the profile's default action when it denies, else
//! EPERM, so no rule can be bypassed through another ABI's numbering. An OCI
//! spec filters each ABI its `architectures` list by name, as libseccomp does,
//! and kills the calling thread for the others (libseccomp's bad-arch action).

mod i386;
pub mod oci;
mod profile;
mod x32;
mod x86_64;

pub use oci::{
    ContainerProcessState, LinuxSeccomp, compile_oci, install_flags, resolve_docker, send_to_agent,
};
pub use profile::{DEFAULT_PROFILE, Profile};

use super::error::{Error, Result};
use libc::sock_filter;
use nix::errno::Errno;
use std::collections::BTreeMap;
use std::os::fd::{FromRawFd, OwnedFd};

/// What the filter does with a syscall (the kernel's SECCOMP_RET_* actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    /// Fail with this errno without running the syscall.
    Errno(u16),
    KillThread,
    KillProcess,
    /// Send SIGSYS.
    Trap,
    /// Notify a ptrace tracer with this value (ENOSYS without one).
    Trace(u16),
    /// Allow and log.
    Log,
    /// Ask the seccomp agent that holds the filter's listener (ENOSYS without one).
    Notify,
}

impl Action {
    /// The filter's return value.
    pub fn ret(self) -> u32 {
        match self {
            Action::Allow => libc::SECCOMP_RET_ALLOW,
            Action::Errno(e) => libc::SECCOMP_RET_ERRNO | u32::from(e),
            Action::KillThread => libc::SECCOMP_RET_KILL_THREAD,
            Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
            Action::Trap => libc::SECCOMP_RET_TRAP,
            Action::Trace(v) => libc::SECCOMP_RET_TRACE | u32::from(v),
            Action::Log => libc::SECCOMP_RET_LOG,
            Action::Notify => libc::SECCOMP_RET_USER_NOTIF,
        }
    }

    /// Does the syscall run (perhaps logged)?
    #[cfg(test)]
    fn runs(self) -> bool {
        matches!(self, Action::Allow | Action::Log)
    }
}

/// A 64-bit comparison of a syscall argument, as libseccomp's SCMP_CMP_*.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `arg & mask == value`.
    MaskedEq(u64),
}

/// `args[arg] <op> value`, unsigned, all 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgCmp {
    pub arg: u8,
    pub op: Op,
    pub value: u64,
}

impl ArgCmp {
    #[cfg(test)]
    pub fn holds(&self, args: &[u64; 6]) -> bool {
        let a = args[usize::from(self.arg)];
        match self.op {
            Op::Eq => a == self.value,
            Op::Ne => a != self.value,
            Op::Lt => a < self.value,
            Op::Le => a <= self.value,
            Op::Gt => a > self.value,
            Op::Ge => a >= self.value,
            Op::MaskedEq(mask) => a & mask == self.value,
        }
    }
}

/// `action` when every comparison holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub when: Vec<ArgCmp>,
    pub action: Action,
}

/// One syscall's rules: the first rule whose comparisons hold decides, else
/// `otherwise`, else the filter's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Syscall {
    rules: Vec<Rule>,
    otherwise: Option<Action>,
}

/// A syscall filter for x86_64: rules by syscall number and a default action.
#[derive(Debug, Clone)]
pub struct Filter {
    syscalls: BTreeMap<u32, Syscall>,
    default: Action,
    enosys_above: Option<u32>,
}

/// `AUDIT_ARCH_X86_64`: EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.
pub const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
/// `AUDIT_ARCH_I386`: EM_386 | __AUDIT_ARCH_LE.
pub const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;
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

/// A jump target inside one rule's code: `n` instructions ahead, or the rule's
/// end (on to the next rule) when a comparison fails.
#[derive(Clone, Copy)]
enum To {
    Ahead(u8),
    Fail,
}
use To::{Ahead, Fail};

/// An instruction of a rule, its jumps not yet resolved.
struct Ins {
    code: u32,
    k: u32,
    jt: To,
    jf: To,
}

fn ld(offset: u32) -> Ins {
    Ins { code: libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, k: offset, jt: Ahead(0), jf: Ahead(0) }
}
fn and(mask: u32) -> Ins {
    Ins { code: libc::BPF_ALU | libc::BPF_AND | libc::BPF_K, k: mask, jt: Ahead(0), jf: Ahead(0) }
}
fn j(op: u32, k: u32, jt: To, jf: To) -> Ins {
    Ins { code: libc::BPF_JMP | op | libc::BPF_K, k, jt, jf }
}

/// One 64-bit comparison with 32-bit loads: the high halves decide unless equal.
/// Falls through when it holds, jumps to `Fail` when not.
fn compare(c: &ArgCmp) -> Vec<Ins> {
    let (hi, lo) = (ld(arg_hi(c.arg)), ld(arg_lo(c.arg)));
    let (vh, vl) = ((c.value >> 32) as u32, c.value as u32);
    let (jeq, jgt, jge) = (libc::BPF_JEQ, libc::BPF_JGT, libc::BPF_JGE);
    match c.op {
        Op::Eq => vec![hi, j(jeq, vh, Ahead(0), Fail), lo, j(jeq, vl, Ahead(0), Fail)],
        // High halves differ: holds (skip the low check).
        Op::Ne => vec![hi, j(jeq, vh, Ahead(0), Ahead(2)), lo, j(jeq, vl, Fail, Ahead(0))],
        Op::Gt => vec![
            hi,
            j(jgt, vh, Ahead(3), Ahead(0)),
            j(jeq, vh, Ahead(0), Fail),
            lo,
            j(jgt, vl, Ahead(0), Fail),
        ],
        Op::Ge => vec![
            hi,
            j(jgt, vh, Ahead(3), Ahead(0)),
            j(jeq, vh, Ahead(0), Fail),
            lo,
            j(jge, vl, Ahead(0), Fail),
        ],
        Op::Lt => vec![
            hi,
            j(jgt, vh, Fail, Ahead(0)),
            j(jeq, vh, Ahead(0), Ahead(2)),
            lo,
            j(jge, vl, Fail, Ahead(0)),
        ],
        Op::Le => vec![
            hi,
            j(jgt, vh, Fail, Ahead(0)),
            j(jeq, vh, Ahead(0), Ahead(2)),
            lo,
            j(jgt, vl, Fail, Ahead(0)),
        ],
        Op::MaskedEq(mask) => {
            let (mh, ml) = ((mask >> 32) as u32, mask as u32);
            let mut out = Vec::with_capacity(6);
            // A zero high mask with a zero high value always holds (clone's flags).
            if mh != 0 || vh != 0 {
                out.extend([hi, and(mh), j(jeq, vh, Ahead(0), Fail)]);
            }
            out.extend([lo, and(ml), j(jeq, vl, Ahead(0), Fail)]);
            out
        }
    }
}

/// A rule's code: its comparisons, then the return of its action; a failed
/// comparison jumps past the return.
fn rule_code(rule: &Rule) -> Result<Vec<sock_filter>> {
    let mut ins: Vec<Ins> = rule.when.iter().flat_map(compare).collect();
    ins.push(Ins { code: libc::BPF_RET | libc::BPF_K, k: rule.action.ret(), jt: Ahead(0), jf: Ahead(0) });
    let len = ins.len();
    let resolve = |t: To, at: usize| -> Result<u8> {
        match t {
            Ahead(n) => Ok(n),
            Fail => u8::try_from(len - at - 1).map_err(|_| {
                Error::invalid(format!("a rule with {} argument checks is too long", rule.when.len()))
            }),
        }
    };
    ins.iter()
        .enumerate()
        .map(|(at, i)| {
            Ok(sock_filter { code: i.code as u16, jt: resolve(i.jt, at)?, jf: resolve(i.jf, at)?, k: i.k })
        })
        .collect()
}

impl Filter {
    /// An empty filter: every syscall gets `default`.
    pub fn new(default: Action) -> Filter {
        Filter { syscalls: BTreeMap::new(), default, enosys_above: None }
    }

    /// Add a rule for syscall `nr`. Rules with argument checks are tried in
    /// the order added; one without decides when none of them matched (a
    /// later one replaces it).
    pub fn add(&mut self, nr: u32, rule: Rule) -> &mut Filter {
        let s = self.syscalls.entry(nr).or_default();
        if rule.when.is_empty() {
            s.otherwise = Some(rule.action);
        } else {
            s.rules.push(rule);
        }
        self
    }

    /// Answer ENOSYS for every number above `last` (syscalls newer than the profile).
    pub fn enosys_above(&mut self, last: u32) -> &mut Filter {
        self.enosys_above = Some(last.min(X32_SYSCALL_BIT - 1));
        self
    }

    /// What another ABI (i386, x32) gets: never allowed.
    #[cfg(test)]
    fn other_abi(&self) -> Action {
        if self.default.runs() { Action::Errno(libc::EPERM as u16) } else { self.default }
    }

    /// The rules of `nr` with the default folded in, to compare numbers.
    fn resolved(&self, nr: u32) -> (&[Rule], Action) {
        match self.syscalls.get(&nr) {
            Some(s) => (&s.rules, s.otherwise.unwrap_or(self.default)),
            None => (&[], self.default),
        }
    }

    /// The action for a call, by the rules (what `compile`'s program must return).
    #[cfg(test)]
    pub fn decide(&self, arch: u32, nr: u32, args: &[u64; 6]) -> Action {
        if arch != AUDIT_ARCH_X86_64 || nr & X32_SYSCALL_BIT != 0 {
            return self.other_abi();
        }
        self.decide_number(nr, args)
    }

    /// The action for syscall `nr` of this filter's ABI.
    #[cfg(test)]
    fn decide_number(&self, nr: u32, args: &[u64; 6]) -> Action {
        if self.enosys_above.is_some_and(|last| nr > last) {
            return Action::Errno(libc::ENOSYS as u16);
        }
        let (rules, otherwise) = self.resolved(nr);
        rules.iter().find(|r| r.when.iter().all(|c| c.holds(args))).map_or(otherwise, |r| r.action)
    }

    /// The BPF program for the x86_64 ABI alone (other ABIs are refused, see
    /// `other_abi`); an error if it exceeds the kernel's 4096 instructions or
    /// a rule is too long for BPF's 8-bit jumps.
    #[cfg(test)]
    pub fn compile(&self) -> Result<Vec<sock_filter>> {
        assemble(self, None, None, self.other_abi())
    }

    /// The code that decides a call of this filter's ABI, its number in A.
    fn section(&self) -> Result<Vec<sock_filter>> {
        let mut out = Vec::new();
        if let Some(last) = self.enosys_above {
            out.push(jump(libc::BPF_JGT, last, 0, 1));
            out.push(ret(Action::Errno(libc::ENOSYS as u16).ret()));
        }
        out.extend(self.tree(&self.ranges())?);
        Ok(out)
    }

    /// Runs of syscall numbers with the same rules, as (first number, rules,
    /// otherwise); the last run extends to every higher number.
    fn ranges(&self) -> Vec<(u32, &[Rule], Action)> {
        let named = self.syscalls.keys().next_back().copied().unwrap_or(0);
        let top = self.enosys_above.unwrap_or(0).max(named);
        let mut out: Vec<(u32, &[Rule], Action)> = Vec::new();
        for nr in 0..=top.saturating_add(1) {
            let (rules, otherwise) = self.resolved(nr);
            if out.last().is_none_or(|&(_, r, o)| (r, o) != (rules, otherwise)) {
                out.push((nr, rules, otherwise));
            }
        }
        out
    }

    /// Binary search over `ranges` with the syscall number in A. The left half
    /// follows the comparison inline; when it is too long for an 8-bit jump, a
    /// `ja` (32-bit offset) carries the jump to the right half.
    fn tree(&self, ranges: &[(u32, &[Rule], Action)]) -> Result<Vec<sock_filter>> {
        if let [(_, rules, otherwise)] = ranges {
            let mut out = Vec::new();
            for r in rules.iter() {
                out.extend(rule_code(r)?);
            }
            out.push(ret(otherwise.ret()));
            return Ok(out);
        }
        let mid = ranges.len() / 2;
        let left = self.tree(&ranges[..mid])?;
        let right = self.tree(&ranges[mid..])?;
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
        Ok(out)
    }
}

/// A `ja` over `n` instructions (32-bit offset).
fn skip(n: usize) -> sock_filter {
    stmt(libc::BPF_JMP | libc::BPF_JA, n as u32)
}

/// One program for the ABIs of an x86_64 kernel: dispatch on the architecture
/// (and, for x86_64, on the x32 bit) to each ABI's section; a call through an
/// ABI without a filter gets `other`.
fn assemble(
    x86_64: &Filter,
    i386: Option<&Filter>,
    x32: Option<&Filter>,
    other: Action,
) -> Result<Vec<sock_filter>> {
    let other = ret(other.ret());
    let native = x86_64.section()?;
    let mut x86_64_body = vec![load(OFF_NR), jump(libc::BPF_JGE, X32_SYSCALL_BIT, 0, 1)];
    match x32 {
        Some(f) => {
            // Past the native section to the x32 one, which sees the number without the x32 bit.
            x86_64_body.push(skip(native.len()));
            x86_64_body.extend(native);
            x86_64_body.push(stmt(libc::BPF_ALU | libc::BPF_AND | libc::BPF_K, !X32_SYSCALL_BIT));
            x86_64_body.extend(f.section()?);
        }
        None => {
            x86_64_body.push(other);
            x86_64_body.extend(native);
        }
    }
    let mut bodies = vec![(AUDIT_ARCH_X86_64, x86_64_body)];
    if let Some(f) = i386 {
        let mut body = vec![load(OFF_NR)];
        body.extend(f.section()?);
        bodies.push((AUDIT_ARCH_I386, body));
    }
    // load arch; per ABI `jeq ARCH` then `ja BODY`; the return for the others.
    let dispatch = 2 * bodies.len() + 1;
    let mut prog = vec![load(OFF_ARCH)];
    let mut before = 0;
    for (i, (arch, body)) in bodies.iter().enumerate() {
        prog.push(jump(libc::BPF_JEQ, *arch, 0, 1));
        prog.push(skip(dispatch - 2 * (i + 1) + before));
        before += body.len();
    }
    prog.push(other);
    for (_, body) in bodies {
        prog.extend(body);
    }
    if prog.len() > libc::BPF_MAXINSNS as usize {
        return Err(Error::invalid(format!(
            "the seccomp program has {} instructions; the kernel takes at most {}",
            prog.len(),
            libc::BPF_MAXINSNS
        )));
    }
    Ok(prog)
}

/// One filter per ABI of an x86_64 kernel, compiled into one program: a
/// process can call through the x86_64, the i386 (`int 0x80`) and the x32
/// ABI, each numbering syscalls its own way.
#[derive(Debug, Clone)]
#[allow(dead_code)] // built by oci.rs
pub struct Filters {
    pub x86_64: Filter,
    /// `None`: i386 calls get `other`.
    pub i386: Option<Filter>,
    /// Numbered without the x32 bit; `None`: x32 calls get `other`.
    pub x32: Option<Filter>,
    /// What a call through an ABI without a filter gets.
    pub other: Action,
}

#[allow(dead_code)] // used by oci.rs
impl Filters {
    pub fn compile(&self) -> Result<Vec<sock_filter>> {
        assemble(&self.x86_64, self.i386.as_ref(), self.x32.as_ref(), self.other)
    }

    /// The action for a call, by the rules (what `compile`'s program must return).
    #[cfg(test)]
    pub fn decide(&self, arch: u32, nr: u32, args: &[u64; 6]) -> Action {
        let by = |f: Option<&Filter>, nr: u32| f.map_or(self.other, |f| f.decide_number(nr, args));
        match arch {
            AUDIT_ARCH_X86_64 if nr & X32_SYSCALL_BIT == 0 => self.x86_64.decide_number(nr, args),
            AUDIT_ARCH_X86_64 => by(self.x32.as_ref(), nr & !X32_SYSCALL_BIT),
            AUDIT_ARCH_I386 => by(self.i386.as_ref(), nr),
            _ => self.other,
        }
    }
}

/// The program for a container holding capabilities `caps` (numbers as in
/// `caps::NAMES`) under `profile` (Docker's JSON format; `None`: the
/// embedded default). Build it before forking.
#[cfg(test)]
pub fn program(profile: Option<&str>, caps: &[u32]) -> Result<Vec<sock_filter>> {
    Profile::parse(profile.unwrap_or(DEFAULT_PROFILE))?.filter(caps)?.compile()
}

/// Install `prog` as the calling thread's seccomp filter; it is inherited by
/// every process the thread creates and cannot be removed.
///
/// This does not set no_new_privs; the caller decides. Without it the kernel
/// requires CAP_SYS_ADMIN in the effective set, so in the container child
/// install the filter before `caps::apply` drops it (the profile allows the
/// capset and prctl calls that follow). Everything the child does after this
/// must pass the filter, so install it as late as possible before execve.
#[cfg(test)]
pub fn install(prog: &[sock_filter]) -> Result<()> {
    install_with_flags(prog, 0).map(drop)
}

/// `install` with seccomp(2) flags (`SECCOMP_FILTER_FLAG_*`, see
/// `oci::install_flags`). With SECCOMP_FILTER_FLAG_NEW_LISTENER the kernel
/// returns the listener for SCMP_ACT_NOTIFY, to hand to the seccomp agent
/// (`oci::send_to_agent`).
pub fn install_with_flags(prog: &[sock_filter], flags: u32) -> Result<Option<OwnedFd>> {
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
    let r = unsafe { libc::syscall(libc::SYS_seccomp, mode, libc::c_ulong::from(flags), fprog_ptr) };
    if r >= 0 {
        let listener = flags as libc::c_ulong & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0;
        // The listener is a new fd we own.
        return Ok(listener.then(|| unsafe { OwnedFd::from_raw_fd(r as i32) }));
    }
    let mut err = Errno::last();
    if err == Errno::ENOSYS && flags == 0 {
        // Kernels before 3.17 have no seccomp(2); this prctl is its older form.
        let mode = libc::SECCOMP_MODE_FILTER as libc::c_ulong;
        if unsafe { libc::prctl(libc::PR_SET_SECCOMP, mode, fprog_ptr) } == 0 {
            return Ok(None);
        }
        err = Errno::last();
    }
    if flags != 0 {
        return Err(Error::os(format!("install seccomp filter with flags {flags:#x}: {}", err.desc())));
    }
    Err(Error::os(format!("install seccomp filter: {}", err.desc())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::caps;
    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, fork};

    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

    fn nr(name: &str) -> u32 {
        x86_64::number(name).unwrap_or_else(|| panic!("unknown syscall {name}"))
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
                c if c == libc::BPF_ALU | libc::BPF_AND | libc::BPF_K => acc &= ins.k,
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
        caps::resolve(&caps::DOCKER_DEFAULT.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &[], &[])
            .unwrap()
    }

    fn all_caps() -> Vec<u32> {
        (0..=caps::LAST).collect()
    }

    fn docker_default(caps: &[u32]) -> Vec<sock_filter> {
        program(None, caps).expect("the default profile compiles")
    }

    fn default_filter(caps: &[u32]) -> Filter {
        Profile::parse(DEFAULT_PROFILE).expect("default.json parses").filter(caps).expect("filter")
    }

    /// Argument vectors that hit the edges of the default profile's checks.
    fn interesting_args() -> Vec<[u64; 6]> {
        let mut v: Vec<u64> =
            vec![0, 1, 8, 40, 41, 39, 0x20000, 0x20008, 0xffff_ffff, 0x1_0000_0000, u64::MAX];
        v.extend([(1 << 32) | 40, (1 << 32) | 0xffff_ffff, 0x3d0f00, 0x11 | 0x0120_0000]);
        for ns in [libc::CLONE_NEWNS, libc::CLONE_NEWUSER, libc::CLONE_NEWNET, libc::CLONE_NEWCGROUP] {
            v.push(ns as u64 | 0x11);
            v.push((1 << 40) | ns as u64);
        }
        v.iter().map(|&a| [a, a.wrapping_mul(3), 0, 0, 0, 0]).collect()
    }

    /// The cap sets the comparisons run over: none, Docker's, all, and Docker's plus each one.
    fn cap_sets() -> Vec<Vec<u32>> {
        let mut sets = vec![vec![], default_caps(), all_caps()];
        for c in 0..=caps::LAST {
            let mut s = default_caps();
            if !s.contains(&c) {
                s.push(c);
                sets.push(s);
            }
        }
        sets
    }

    #[test]
    fn program_fits_the_kernel_limit() {
        for caps in [vec![], default_caps(), all_caps()] {
            let prog = docker_default(&caps);
            assert!(prog.len() < 4096, "{} instructions", prog.len());
        }
        // A binary search: a few hundred instructions, not one per syscall pair.
        assert!(docker_default(&default_caps()).len() < 600);
    }

    /// The compiled program answers as the rules say, for every number and argument edge.
    #[test]
    fn program_matches_the_rules() {
        for caps in cap_sets() {
            let f = default_filter(&caps);
            let prog = f.compile().unwrap();
            for n in 0..1100 {
                for args in interesting_args() {
                    let want = f.decide(AUDIT_ARCH_X86_64, n, &args).ret();
                    assert_eq!(run(&prog, AUDIT_ARCH_X86_64, n, args), want, "syscall {n} {args:x?}");
                }
            }
        }
    }

    /// Each operator, 64 bits wide, around its value and across the halves.
    #[test]
    fn argument_operators_compare_64_bits() {
        let ops = [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge, Op::MaskedEq(0xff00_0000_0000_00ff)];
        let values = [0u64, 5, 0xffff_ffff, 0x1_0000_0000, 0x7_0000_0005, u64::MAX];
        for op in ops {
            for value in values {
                let mut f = Filter::new(Action::Errno(1));
                let when = vec![ArgCmp {
                    arg: 3,
                    op,
                    value: if let Op::MaskedEq(m) = op { value & m } else { value },
                }];
                f.add(7, Rule { when, action: Action::Allow });
                let prog = f.compile().unwrap();
                let mut probes = vec![0u64, u64::MAX, 0x8000_0000_0000_0000];
                for d in [0u64, 1, 1 << 32, 0xffff_ffff] {
                    probes.extend([value.wrapping_add(d), value.wrapping_sub(d), value ^ d]);
                }
                for a in probes {
                    let args = [0, 0, 0, a, 0, 0];
                    let want = f.decide(AUDIT_ARCH_X86_64, 7, &args).ret();
                    assert_eq!(run(&prog, AUDIT_ARCH_X86_64, 7, args), want, "{op:?} {value:#x} on {a:#x}");
                }
            }
        }
    }

    #[test]
    fn rules_are_tried_in_order_then_the_unconditional_one() {
        let eq = |arg, value| ArgCmp { arg, op: Op::Eq, value };
        let mut f = Filter::new(Action::Errno(1));
        f.add(3, Rule { when: vec![], action: Action::Allow });
        f.add(3, Rule { when: vec![eq(0, 1), eq(1, 2)], action: Action::Errno(13) });
        f.add(3, Rule { when: vec![eq(0, 1)], action: Action::Trap });
        let prog = f.compile().unwrap();
        let at = |a0, a1| run(&prog, AUDIT_ARCH_X86_64, 3, [a0, a1, 0, 0, 0, 0]);
        assert_eq!(at(1, 2), Action::Errno(13).ret());
        assert_eq!(at(1, 3), Action::Trap.ret());
        assert_eq!(at(0, 2), ALLOW);
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, 4, [0; 6]), Action::Errno(1).ret());
        // No ENOSYS stub unless asked: everything above keeps the default.
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, 999, [0; 6]), Action::Errno(1).ret());
    }

    #[test]
    fn default_profile_rules() {
        let p = docker_default(&default_caps());
        let profile: serde_json::Value = serde_json::from_str(DEFAULT_PROFILE).unwrap();
        let allowed = profile["syscalls"][0]["names"].as_array().unwrap();
        assert!(allowed.len() > 290, "the unconditional allow list comes first");
        for name in allowed.iter().filter_map(|n| n.as_str()) {
            assert_eq!(eval(&p, name, [0; 6]), ALLOW, "{name}");
        }
        // Docker 25+ denies io_uring.
        for name in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
            assert!(!allowed.iter().any(|n| n == name), "{name} listed");
            assert_eq!(eval(&p, name, [0; 6]), EPERM, "{name}");
        }
        for name in
            ["keyctl", "add_key", "request_key", "unshare", "mount", "umount2", "setns", "bpf", "reboot"]
        {
            assert_eq!(eval(&p, name, [0; 6]), EPERM, "{name}");
        }
        // Denied although never named: kexec_load, pivot_root, userfaultfd.
        for name in ["kexec_load", "pivot_root", "userfaultfd"] {
            assert_eq!(eval(&p, name, [0; 6]), EPERM, "{name}");
        }
        // chroot is gated by CAP_SYS_CHROOT, which Docker's default set has.
        assert_eq!(eval(&p, "chroot", [0; 6]), ALLOW);
        assert_eq!(eval(&p, "kcmp", [0; 6]), EPERM);
        // ptrace: allowed from kernel 4.8 (minKernel), whatever the caps.
        assert_eq!(eval(&p, "ptrace", [0; 6]), ALLOW);
        assert_eq!(eval(&docker_default(&[]), "ptrace", [0; 6]), ALLOW);
        assert_eq!(eval(&p, "arch_prctl", [0; 6]), ALLOW, "includes.arches amd64");
        assert_eq!(eval(&p, "modify_ldt", [0; 6]), ALLOW);

        let sigchld = libc::SIGCHLD as u64;
        let fork_flags = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID) as u64 | sigchld;
        let thread_flags = 0x3d0f00; // glibc's pthread_create clone flags
        assert_eq!(eval(&p, "clone", [fork_flags, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(eval(&p, "clone", [thread_flags, 0, 0, 0, 0, 0]), ALLOW);
        for ns in [libc::CLONE_NEWNS, libc::CLONE_NEWUSER, libc::CLONE_NEWNET, libc::CLONE_NEWCGROUP] {
            assert_eq!(eval(&p, "clone", [ns as u64 | sigchld, 0, 0, 0, 0, 0]), EPERM);
        }
        assert_eq!(eval(&p, "clone3", [0; 6]), ENOSYS);

        for ok in [0x0u64, 0x8, 0x20000, 0x20008, 0xffff_ffff] {
            assert_eq!(eval(&p, "personality", [ok, 0, 0, 0, 0, 0]), ALLOW, "personality({ok:#x})");
        }
        for bad in [0x0040000u64, 0x1, 0xffff_ffff_ffff_ffff, 0x1_0000_0000] {
            assert_eq!(eval(&p, "personality", [bad, 0, 0, 0, 0, 0]), EPERM, "personality({bad:#x})");
        }
        assert_eq!(eval(&p, "socket", [libc::AF_INET as u64, 1, 0, 0, 0, 0]), ALLOW);
        assert_eq!(eval(&p, "socket", [libc::AF_VSOCK as u64, 1, 0, 0, 0, 0]), EPERM);
        // The kernel reads the family as an int: high bits must not smuggle AF_VSOCK through.
        assert_eq!(eval(&p, "socket", [(1 << 32) | libc::AF_VSOCK as u64, 1, 0, 0, 0, 0]), EPERM);
    }

    #[test]
    fn architecture_and_number_edges() {
        let p = docker_default(&default_caps());
        const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;
        assert_eq!(run(&p, AUDIT_ARCH_I386, 20, [0; 6]), EPERM, "i386 getpid");
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 39, [0; 6]), EPERM, "x32 getpid");
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, u32::MAX, [0; 6]), EPERM);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 466, [0; 6]), ALLOW, "removexattrat, the newest named");
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 467, [0; 6]), ENOSYS, "newer than the profile");
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 1000, [0; 6]), ENOSYS);
        // Holes below the newest named are simply denied.
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
        let mut f = Filter::new(Action::Errno(libc::EPERM as u16));
        f.enosys_above(1400);
        for n in (0..1400).step_by(2) {
            f.add(n, Rule { when: vec![], action: Action::Allow });
        }
        f.add(7, Rule { when: vec![], action: Action::Errno(libc::EACCES as u16) });
        let prog = f.compile().unwrap();
        assert!(prog.iter().any(|i| u32::from(i.code) == libc::BPF_JMP | libc::BPF_JA));
        for n in 0..1500 {
            let want = f.decide(AUDIT_ARCH_X86_64, n, &[0; 6]).ret();
            assert_eq!(run(&prog, AUDIT_ARCH_X86_64, n, [0; 6]), want, "syscall {n}");
        }
    }

    #[test]
    fn too_big_or_too_long_is_an_error() {
        // Every number with its own argument check: more than the kernel takes.
        let mut f = Filter::new(Action::Errno(1));
        for n in 0..1000 {
            f.add(
                n,
                Rule {
                    when: vec![ArgCmp { arg: 0, op: Op::Eq, value: u64::from(n) }],
                    action: Action::Allow,
                },
            );
        }
        assert!(f.compile().unwrap_err().message.contains("instructions"));
        // A rule whose checks do not fit BPF's 8-bit jumps.
        let mut f = Filter::new(Action::Errno(1));
        let when = vec![ArgCmp { arg: 0, op: Op::Gt, value: 1 }; 60];
        f.add(0, Rule { when, action: Action::Allow });
        assert!(f.compile().unwrap_err().message.contains("too long"));
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
            // io_uring is denied (Docker 25+); unfiltered this would be EBADF.
            let bad_fd = -1 as libc::c_long;
            if libc::syscall(libc::SYS_io_uring_enter, bad_fd, z, z, z, z, z) != -1 || errno() != libc::EPERM
            {
                return 16;
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
                } else if caps::apply(&caps::Sets::keep(&caps), || Ok(())).is_err() {
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

    const PODMAN: &str = include_str!("../../../tests/data/oci/seccomp-podman.json");
    const PODMAN_SYS_ADMIN: &str = include_str!("../../../tests/data/oci/seccomp-podman-sys-admin.json");
    const CONTAINERD: &str = include_str!("../../../tests/data/oci/seccomp-containerd.json");

    fn oci_spec(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).expect("the spec parses")
    }

    /// The OCI path (a Docker profile resolved into a spec, then compiled)
    /// decides every x86_64 call exactly as the Docker path does.
    #[test]
    fn resolved_docker_profile_decides_as_the_docker_path() {
        for caps in cap_sets() {
            let docker = default_filter(&caps);
            let spec = resolve_docker(None, &caps).expect("resolves");
            assert_eq!(spec.architectures, ["SCMP_ARCH_X86_64"], "archMap resolved for amd64");
            assert!(spec.syscalls.iter().all(|c| c.extra.is_empty()), "no includes/excludes left");
            // What a spec carries must come back the same from its JSON.
            let json = serde_json::to_string(&spec).unwrap();
            assert_eq!(oci_spec(&json), spec);
            let prog = compile_oci(&spec).expect("compiles");
            for n in 0..1100 {
                for args in interesting_args() {
                    let want = docker.decide(AUDIT_ARCH_X86_64, n, &args).ret();
                    assert_eq!(
                        run(&prog, AUDIT_ARCH_X86_64, n, args),
                        want,
                        "syscall {n} {args:x?} caps {caps:?}"
                    );
                }
            }
        }
        // The capability conditions are resolved: SYS_ADMIN brings mount, drops clone's mask.
        let mut admin = default_caps();
        admin.push(caps::SYS_ADMIN);
        let has = |s: &LinuxSeccomp, name: &str| s.syscalls.iter().any(|c| c.names.iter().any(|n| n == name));
        assert!(has(&resolve_docker(None, &admin).unwrap(), "mount"));
        assert!(!has(&resolve_docker(None, &default_caps()).unwrap(), "mount"));
        // A user's profile; and errnoRet where the action has none is dropped, as Docker ignores it.
        let p = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
            "flags":["SECCOMP_FILTER_FLAG_LOG"],"syscalls":[{"name":"uname","action":"SCMP_ACT_ERRNO","errnoRet":5},
            {"names":["getpid"],"action":"SCMP_ACT_LOG","errnoRet":5,"comment":"x"}]}"#;
        let s = resolve_docker(Some(p), &[]).unwrap();
        assert_eq!(s.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
        assert_eq!(s.flags, ["SECCOMP_FILTER_FLAG_LOG"]);
        assert_eq!(
            (s.syscalls[0].names.as_slice(), s.syscalls[0].errno_ret),
            (&["uname".to_string()][..], Some(5))
        );
        assert_eq!(s.syscalls[1].errno_ret, None);
        assert!(resolve_docker(Some("{"), &[]).is_err());
    }

    /// A program for three ABIs answers as each ABI's rules say.
    #[test]
    fn multi_abi_program_matches_the_rules() {
        for json in [PODMAN, PODMAN_SYS_ADMIN, CONTAINERD] {
            let f = oci::filters(&oci_spec(json)).expect("filters");
            assert!(f.i386.is_some() && f.x32.is_some());
            let prog = f.compile().unwrap();
            assert!(prog.len() < 4096, "{} instructions", prog.len());
            for (arch, base) in
                [(AUDIT_ARCH_X86_64, 0), (AUDIT_ARCH_I386, 0), (AUDIT_ARCH_X86_64, X32_SYSCALL_BIT)]
            {
                for n in 0..700 {
                    for args in interesting_args() {
                        let want = f.decide(arch, base | n, &args).ret();
                        assert_eq!(
                            run(&prog, arch, base | n, args),
                            want,
                            "arch {arch:#x} syscall {:#x}",
                            base | n
                        );
                    }
                }
            }
            for (arch, nr) in [(0xc000_00b7, 0), (AUDIT_ARCH_X86_64, u32::MAX), (AUDIT_ARCH_I386, u32::MAX)] {
                assert_eq!(
                    run(&prog, arch, nr, [0; 6]),
                    f.decide(arch, nr, &[0; 6]).ret(),
                    "{arch:#x} {nr:#x}"
                );
            }
        }
    }

    /// Podman's and containerd's `linux.seccomp` as they wrote them into a
    /// config.json (tests/data/oci/): the JSON comes back unchanged, and it
    /// compiles to what those profiles mean.
    #[test]
    fn real_specs_round_trip_and_compile() {
        for json in [PODMAN, PODMAN_SYS_ADMIN, CONTAINERD] {
            let s = oci_spec(json);
            let back = serde_json::to_value(&s).unwrap();
            assert_eq!(back, serde_json::from_str::<serde_json::Value>(json).unwrap());
            assert_eq!(install_flags(&s).unwrap(), 0);
        }
        const EINVAL: u32 = libc::SECCOMP_RET_ERRNO | libc::EINVAL as u32;
        let podman = compile_oci(&oci_spec(PODMAN)).unwrap();
        assert_eq!(eval(&podman, "read", [0; 6]), ALLOW);
        // Podman's default leaves mount to the kernel (CAP_SYS_ADMIN), and answers ENOSYS by default.
        assert_eq!(eval(&podman, "mount", [0; 6]), ALLOW);
        assert_eq!(eval(&podman, "kexec_load", [0; 6]), EPERM);
        assert_eq!(eval(&podman, "bpf", [0; 6]), EPERM);
        assert_eq!(eval(&podman, "add_key", [0; 6]), ENOSYS, "not named: the default");
        assert_eq!(eval(&podman, "fchmodat2", [0; 6]), ENOSYS, "newer than podman 4.3");
        assert_eq!(run(&podman, AUDIT_ARCH_X86_64, 1000, [0; 6]), ENOSYS);
        // socket(AF_NETLINK, _, NETLINK_AUDIT): EINVAL; other families and protocols pass.
        assert_eq!(eval(&podman, "socket", [16, 3, 9, 0, 0, 0]), EINVAL);
        assert_eq!(eval(&podman, "socket", [16, 3, 0, 0, 0, 0]), ALLOW);
        assert_eq!(eval(&podman, "socket", [2, 1, 9, 0, 0, 0]), ALLOW);
        // The i386 ABI by its own numbers: 20 getpid, 283 kexec_load, 102 socketcall.
        for (nr, want) in [(20, ALLOW), (283, EPERM), (102, ALLOW), (600, ENOSYS)] {
            assert_eq!(run(&podman, AUDIT_ARCH_I386, nr, [0; 6]), want, "i386 {nr}");
        }
        assert_eq!(run(&podman, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 39, [0; 6]), ALLOW, "x32 getpid");
        let admin = compile_oci(&oci_spec(PODMAN_SYS_ADMIN)).unwrap();
        assert_eq!(eval(&admin, "bpf", [0; 6]), ALLOW);

        // containerd's: EPERM by default, clone3 ENOSYS, clone without namespace flags.
        let ctr = compile_oci(&oci_spec(CONTAINERD)).unwrap();
        assert_eq!(eval(&ctr, "read", [0; 6]), ALLOW);
        assert_eq!(eval(&ctr, "mount", [0; 6]), EPERM);
        assert_eq!(eval(&ctr, "clone3", [0; 6]), ENOSYS);
        assert_eq!(eval(&ctr, "clone", [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(eval(&ctr, "clone", [(libc::CLONE_NEWNS | libc::SIGCHLD) as u64, 0, 0, 0, 0, 0]), EPERM);
        assert_eq!(run(&ctr, AUDIT_ARCH_X86_64, 1000, [0; 6]), ENOSYS, "newer than the spec");
        assert_eq!(run(&ctr, 0xc000_00b7, 0, [0; 6]), libc::SECCOMP_RET_KILL_THREAD, "aarch64: bad arch");
    }

    /// An i386 call through `int 0x80` from this x86_64 process, its
    /// arguments whatever the registers hold (the checks need none).
    fn int80(nr: u32) -> i64 {
        let mut ret = nr as i64;
        unsafe {
            std::arch::asm!("int 0x80", inout("rax") ret, lateout("r8") _, lateout("r9") _,
                lateout("r10") _, lateout("r11") _);
        }
        // The kernel returns a 32-bit value in eax.
        ret as i32 as i64
    }

    fn podman_checks() -> i32 {
        unsafe {
            if libc::getpid() <= 0 {
                return 1;
            }
            let z = 0 as libc::c_ulong;
            if libc::syscall(libc::SYS_kexec_load, z, z, z, z) != -1 || errno() != libc::EPERM {
                return 2;
            }
            if libc::syscall(500 as libc::c_long) != -1 || errno() != libc::ENOSYS {
                return 3;
            }
            if libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_AUDIT) != -1
                || errno() != libc::EINVAL
            {
                return 4;
            }
            // i386: getpid passes, kexec_load is denied by its i386 number.
            if int80(20) != i64::from(libc::getpid()) {
                return 5;
            }
            if int80(283) != -i64::from(libc::EPERM) {
                return 6;
            }
        }
        0
    }

    /// Podman's spec, compiled and installed for real: x86_64 and i386 calls
    /// are filtered by their own numbers.
    #[test]
    fn podman_spec_in_child() {
        if !is_root() {
            return;
        }
        let s = oci_spec(PODMAN);
        let prog = compile_oci(&s).unwrap();
        in_filtered_child(&prog, podman_checks);
        // With a flag, through install_with_flags.
        let flags = libc::SECCOMP_FILTER_FLAG_LOG as u32;
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code = match install_with_flags(&prog, flags) {
                    Ok(None) => podman_checks(),
                    _ => 100,
                };
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                assert_eq!(waitpid(child, None).expect("waitpid"), WaitStatus::Exited(child, 0));
            }
        }
    }

    /// SCMP_ACT_NOTIFY for real: the child's getppid waits for the agent, which
    /// gets the listener from `send_to_agent` and answers 4242.
    #[test]
    fn notify_reaches_the_agent() {
        use std::os::fd::{AsFd, AsRawFd};
        if !is_root() {
            return;
        }
        let dir = tempfile::tempdir().expect("tmp");
        let sock = dir.path().join("agent.sock");
        let s = oci_spec(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"{}","listenerMetadata":"meta",
            "syscalls":[{{"names":["getppid"],"action":"SCMP_ACT_NOTIFY"}}]}}"#,
            sock.display()
        ));
        let prog = compile_oci(&s).unwrap();
        let flags = install_flags(&s).unwrap();
        let agent = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
        let answer = std::thread::spawn(move || {
            use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
            let (conn, _) = agent.accept().expect("accept");
            let mut buf = vec![0u8; 4096];
            let mut cmsg = nix::cmsg_space!(std::os::fd::RawFd);
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(conn.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())
                .expect("recvmsg");
            let fd = msg
                .cmsgs()
                .expect("cmsgs")
                .find_map(|c| match c {
                    ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                    _ => None,
                })
                .expect("the listener came with the message");
            let len = msg.bytes;
            let state: ContainerProcessState = serde_json::from_slice(&buf[..len]).expect("state JSON");
            let mut notif: libc::seccomp_notif = unsafe { std::mem::zeroed() };
            assert_eq!(
                unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_RECV as _, &mut notif) },
                0,
                "NOTIF_RECV"
            );
            assert_eq!(notif.data.nr, libc::SYS_getppid as i32);
            let mut resp = libc::seccomp_notif_resp { id: notif.id, val: 4242, error: 0, flags: 0 };
            assert_eq!(
                unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SEND as _, &mut resp) },
                0,
                "NOTIF_SEND"
            );
            unsafe { libc::close(fd) };
            (state, notif.pid)
        });
        let mut pipe = [0i32; 2];
        assert_eq!(unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code = match install_with_flags(&prog, flags) {
                    Ok(Some(listener)) => {
                        let n = listener.as_raw_fd();
                        std::mem::forget(listener);
                        unsafe { libc::write(pipe[1], (&n as *const i32).cast(), 4) };
                        if unsafe { libc::syscall(libc::SYS_getppid) } == 4242 { 0 } else { 1 }
                    }
                    _ => 100,
                };
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                unsafe { libc::close(pipe[1]) };
                let mut n = -1i32;
                let got = unsafe { libc::read(pipe[0], (&mut n as *mut i32).cast(), 4) };
                unsafe { libc::close(pipe[0]) };
                assert_eq!(got, 4, "the child reports its listener");
                // Take the listener from the child, as the runtime takes it from the init.
                let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.as_raw(), 0) } as i32;
                assert!(pidfd >= 0);
                let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, n, 0) } as i32;
                unsafe { libc::close(pidfd) };
                assert!(fd >= 0, "pidfd_getfd");
                let listener = unsafe { OwnedFd::from_raw_fd(fd) };
                let state = ContainerProcessState {
                    oci_version: "1.0.2".into(),
                    fds: vec!["seccompFd".into()],
                    pid: child.as_raw(),
                    metadata: s.listener_metadata.clone(),
                    state: serde_json::json!({"ociVersion": "1.0.2", "id": "c1", "status": "creating"}),
                };
                send_to_agent(&sock, &state, listener.as_fd()).expect("send");
                drop(listener);
                let (got, pid) = answer.join().expect("agent");
                assert_eq!(got, state);
                assert_eq!(pid as i32, child.as_raw());
                assert_eq!(waitpid(child, None).expect("waitpid"), WaitStatus::Exited(child, 0));
            }
        }
        assert!(
            send_to_agent(
                &dir.path().join("none"),
                &ContainerProcessState {
                    oci_version: "1.0.2".into(),
                    fds: vec![],
                    pid: 1,
                    metadata: None,
                    state: serde_json::Value::Null,
                },
                std::io::stdin().as_fd()
            )
            .unwrap_err()
            .message
            .contains("none")
        );
    }
}
