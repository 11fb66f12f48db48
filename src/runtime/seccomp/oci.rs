//! The OCI runtime spec's `linux.seccomp` (config-linux.md, "Seccomp"): its
//! types, compiled into a BPF program by the same `Filter` machinery as
//! Docker's profiles, and the seccomp agent hand-over for SCMP_ACT_NOTIFY.
//!
//! As runc with libseccomp: names this kernel's ABIs lack are skipped (a
//! profile names syscalls of every architecture); `architectures` adds the
//! i386 and x32 ABIs, filtered by their own numbers, and other architectures'
//! names are accepted and ignored (this kernel never reports them); a call
//! through an ABI not listed kills the thread (libseccomp's bad-arch action);
//! a denying default (not ALLOW, LOG or TRACE) gets ENOSYS for numbers above
//! the newest the spec names, per ABI; SECCOMP_FILTER_FLAG_TSYNC is accepted
//! and ignored (the init is single-threaded). Unlike runc: per syscall the
//! first entry whose arguments match decides, in file order (libseccomp
//! orders rules its own way), so an entry equal to the default action still
//! counts; several checks of one argument must all hold (runc makes each one
//! a rule of its own).

use super::{Action, ArgCmp, Filter, Filters, Op, Rule, i386, x32, x86_64};
use crate::runtime::error::{Context, Error, Result};
use libc::sock_filter;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

/// `linux.seccomp`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxSeccomp {
    /// `SCMP_ACT_*`.
    pub default_action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    /// `SCMP_ARCH_*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub architectures: Vec<String>,
    /// `SECCOMP_FILTER_FLAG_*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub flags: Vec<String>,
    /// The seccomp agent's socket, for SCMP_ACT_NOTIFY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_metadata: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub syscalls: Vec<LinuxSyscall>,
    /// Fields this runtime does not know, kept so a spec round-trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One entry of `linux.seccomp.syscalls`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxSyscall {
    // Go writes `null` for an empty list here (no omitempty).
    #[serde(default, deserialize_with = "null_as_default")]
    pub names: Vec<String>,
    /// `SCMP_ACT_*`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub args: Vec<LinuxSeccompArg>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `args[index] <op> value`; for SCMP_CMP_MASKED_EQ, `value` is the mask and
/// `valueTwo` what the masked argument must equal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxSeccompArg {
    pub index: u32,
    /// A negative number is read as its 64-bit two's complement (Rhai has no u64).
    #[serde(deserialize_with = "u64_or_bits")]
    pub value: u64,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "some_u64_or_bits")]
    pub value_two: Option<u64>,
    /// `SCMP_CMP_*`.
    pub op: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn null_as_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> std::result::Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Bits {
    Unsigned(u64),
    Signed(i64),
}

fn u64_or_bits<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    Ok(match Bits::deserialize(d)? {
        Bits::Unsigned(v) => v,
        Bits::Signed(v) => v as u64,
    })
}

fn some_u64_or_bits<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    Ok(Option::<Bits>::deserialize(d)?.map(|b| match b {
        Bits::Unsigned(v) => v,
        Bits::Signed(v) => v as u64,
    }))
}

/// The libseccomp architecture names a profile or spec may list.
pub(super) const ARCHES: &[&str] = &[
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

pub(super) fn check_arch(a: &str) -> std::result::Result<(), String> {
    if ARCHES.contains(&a) { Ok(()) } else { Err(format!("unknown architecture \"{a}\"")) }
}

/// Does this action take `errnoRet` (ERRNO's errno, TRACE's value)?
pub(super) fn takes_errno(name: &str) -> bool {
    matches!(name, "SCMP_ACT_ERRNO" | "SCMP_ACT_TRACE")
}

/// An action by name; without `errno`, ERRNO and TRACE mean EPERM (runc's
/// reading). Other actions ignore `errno`.
pub(super) fn action(name: &str, errno: Option<u32>) -> std::result::Result<Action, String> {
    let data = || match errno.unwrap_or(libc::EPERM as u32) {
        e if e <= 4095 => Ok(e as u16),
        e => Err(format!("errno {e} is out of range (0 to 4095)")),
    };
    Ok(match name {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(data()?),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_TRACE" => Action::Trace(data()?),
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_NOTIFY" => Action::Notify,
        other => return Err(format!("unknown action \"{other}\"")),
    })
}

/// The spec's form: an errno on an action that has none is an error.
fn strict_action(name: &str, errno: Option<u32>) -> std::result::Result<Action, String> {
    if errno.is_some() && !takes_errno(name) {
        return Err(format!("action \"{name}\" takes no errnoRet"));
    }
    action(name, errno)
}

pub(super) fn compare(a: &LinuxSeccompArg) -> std::result::Result<ArgCmp, String> {
    let arg = u8::try_from(a.index)
        .ok()
        .filter(|&i| i < 6)
        .ok_or_else(|| format!("argument index {} is out of range (0 to 5)", a.index))?;
    let (op, value) = match a.op.as_str() {
        "SCMP_CMP_EQ" => (Op::Eq, a.value),
        "SCMP_CMP_NE" => (Op::Ne, a.value),
        "SCMP_CMP_LT" => (Op::Lt, a.value),
        "SCMP_CMP_LE" => (Op::Le, a.value),
        "SCMP_CMP_GT" => (Op::Gt, a.value),
        "SCMP_CMP_GE" => (Op::Ge, a.value),
        "SCMP_CMP_MASKED_EQ" => (Op::MaskedEq(a.value), a.value_two.unwrap_or(0)),
        other => return Err(format!("unknown operator \"{other}\"")),
    };
    Ok(ArgCmp { arg, op, value })
}

/// Actions after which the syscall may still run: no ENOSYS for new numbers
/// (runc's list: a tracer should handle new syscalls itself).
fn lets_through(a: Action) -> bool {
    matches!(a, Action::Allow | Action::Log | Action::Trace(_))
}

/// The ABIs of this kernel, each with its name-to-number table.
#[derive(Clone, Copy)]
enum Abi {
    X86_64,
    I386,
    X32,
}

impl Abi {
    fn number(self, name: &str) -> Option<u32> {
        match self {
            Abi::X86_64 => x86_64::number(name),
            Abi::I386 => i386::number(name),
            Abi::X32 => x32::number(name),
        }
    }
}

/// The filters `s` asks for, checked.
pub(super) fn filters(s: &LinuxSeccomp) -> std::result::Result<Filters, String> {
    let default = strict_action(&s.default_action, s.default_errno_ret)?;
    if default == Action::Notify {
        // Every call, write included, would wait for an agent that has not got the listener yet.
        return Err("SCMP_ACT_NOTIFY cannot be the default action".into());
    }
    let (mut with_i386, mut with_x32) = (false, false);
    for a in &s.architectures {
        check_arch(a)?;
        with_i386 |= a == "SCMP_ARCH_X86";
        with_x32 |= a == "SCMP_ARCH_X32";
    }
    let mut abis = vec![(Abi::X86_64, Filter::new(default), None::<u32>)];
    if with_i386 {
        abis.push((Abi::I386, Filter::new(default), None));
    }
    if with_x32 {
        abis.push((Abi::X32, Filter::new(default), None));
    }
    for call in &s.syscalls {
        let act = strict_action(&call.action, call.errno_ret)?;
        if act == Action::Notify {
            if s.listener_path.as_deref().is_none_or(str::is_empty) {
                return Err("SCMP_ACT_NOTIFY needs listenerPath, the seccomp agent's socket".into());
            }
            if call.names.iter().any(|n| n == "write") {
                // The init reports the listener to the runtime with write(2).
                return Err("SCMP_ACT_NOTIFY cannot be used for the write syscall".into());
            }
        }
        let when = call.args.iter().map(compare).collect::<std::result::Result<Vec<_>, _>>()?;
        for name in &call.names {
            if name.is_empty() {
                return Err("a syscall entry names the empty string".into());
            }
            let mut known = false;
            for (abi, filter, last) in abis.iter_mut() {
                if let Some(nr) = abi.number(name) {
                    known = true;
                    filter.add(nr, Rule { when: when.clone(), action: act });
                    *last = Some(last.map_or(nr, |l: u32| l.max(nr)));
                }
            }
            if !known && [Abi::X86_64, Abi::I386, Abi::X32].iter().all(|a| a.number(name).is_none()) {
                log::debug!("seccomp: unknown syscall {name:?} ignored");
            }
        }
    }
    let mut out = Filters { x86_64: Filter::new(default), i386: None, x32: None, other: Action::KillThread };
    for (abi, mut filter, last) in abis {
        if let Some(last) = last.filter(|_| !lets_through(default)) {
            filter.enosys_above(last);
        }
        match abi {
            Abi::X86_64 => out.x86_64 = filter,
            Abi::I386 => out.i386 = Some(filter),
            Abi::X32 => out.x32 = Some(filter),
        }
    }
    Ok(out)
}

fn invalid(e: String) -> Error {
    Error::invalid(format!("seccomp: {e}"))
}

/// Compile `linux.seccomp` into the BPF program the container's init
/// installs (with `install_flags(s)`). Every action of the spec is supported;
/// SCMP_ACT_NOTIFY needs `listenerPath` and the init to hand the listener
/// over (`send_to_agent`). The error is one line naming the problem.
pub fn compile_oci(s: &LinuxSeccomp) -> Result<Vec<sock_filter>> {
    filters(s).map_err(invalid)?.compile()
}

/// The seccomp(2) flags for `install_with_flags`: the spec's `flags`, and
/// SECCOMP_FILTER_FLAG_NEW_LISTENER when an entry notifies.
pub fn install_flags(s: &LinuxSeccomp) -> Result<u32> {
    let notify = s.syscalls.iter().any(|c| c.action == "SCMP_ACT_NOTIFY");
    let mut flags = if notify { libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32 } else { 0 };
    for f in &s.flags {
        flags |= match f.as_str() {
            // runc's reading: the filter applies to the single-threaded init anyway.
            "SECCOMP_FILTER_FLAG_TSYNC" => 0,
            "SECCOMP_FILTER_FLAG_LOG" => libc::SECCOMP_FILTER_FLAG_LOG as u32,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32,
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" if notify => {
                libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32
            }
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => {
                return Err(invalid(
                    "flag SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs an SCMP_ACT_NOTIFY entry".into(),
                ));
            }
            other => return Err(invalid(format!("unknown flag \"{other}\""))),
        };
    }
    Ok(flags)
}

/// What Docker and Podman do when building a spec: `profile` (Docker's
/// format; `None`: the embedded default) evaluated for a container holding
/// capabilities `caps` (numbers as in `caps::NAMES`) on this host.
pub fn resolve_docker(profile: Option<&str>, caps: &[u32]) -> Result<LinuxSeccomp> {
    super::Profile::parse(profile.unwrap_or(super::DEFAULT_PROFILE))?.resolve(caps)
}

/// What the runtime sends the seccomp agent at `listenerPath` (runtime-spec
/// runtime.md, "Container process state"), with the listener as `seccompFd`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerProcessState {
    pub oci_version: String,
    /// The names of the fds sent with the message, in order: `["seccompFd"]`.
    pub fds: Vec<String>,
    pub pid: i32,
    /// `listenerMetadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// The container's state, as `state` prints it.
    pub state: Value,
}

/// Hand the seccomp listener to the agent at `listener_path`: one connection,
/// one message (the state as JSON, the fd as SCM_RIGHTS), then close.
pub fn send_to_agent(
    listener_path: &Path,
    state: &ContainerProcessState,
    listener: BorrowedFd<'_>,
) -> Result<()> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    use std::io::Write;
    let what = || format!("send the seccomp listener to {}", listener_path.display());
    let json = serde_json::to_vec(state).map_err(|e| Error::invalid(format!("{}: {e}", what())))?;
    let mut sock = std::os::unix::net::UnixStream::connect(listener_path).ctx(what)?;
    let fds = [listener.as_raw_fd()];
    let iov = [std::io::IoSlice::new(&json)];
    let sent =
        sendmsg::<()>(sock.as_raw_fd(), &iov, &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None)
            .ctx(what)?;
    // A stream socket may take part of the message; the fd went with the first byte.
    sock.write_all(&json[sent..]).ctx(what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::seccomp::{AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};

    fn spec(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).expect("spec parses")
    }

    fn err(json: &str) -> String {
        compile_oci(&spec(json)).unwrap_err().message
    }

    fn decide(s: &LinuxSeccomp, arch: u32, name_or_nr: &str, args: [u64; 6]) -> Action {
        let f = filters(s).expect("filters");
        let nr = match arch {
            AUDIT_ARCH_I386 => i386::number(name_or_nr),
            _ => x86_64::number(name_or_nr),
        }
        .or_else(|| name_or_nr.parse().ok())
        .expect("a syscall name or number");
        f.decide(arch, nr, &args)
    }

    #[test]
    fn round_trips_unknown_fields() {
        let json = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"futureField":{"a":1},
            "architectures":["SCMP_ARCH_X86_64"],"flags":["SECCOMP_FILTER_FLAG_LOG"],
            "listenerPath":"/run/agent.sock","listenerMetadata":"m",
            "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","comment":"kept",
              "args":[{"index":0,"value":1,"valueTwo":0,"op":"SCMP_CMP_EQ","note":true}]}]}"#;
        let s = spec(json);
        assert_eq!(s.extra["futureField"], serde_json::json!({"a":1}));
        assert_eq!(s.syscalls[0].args[0].value_two, Some(0), "an explicit 0 is kept");
        let back = serde_json::to_value(&s).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(json).unwrap());
        // Go's null for an empty list reads as empty.
        let s = spec(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":null,"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        assert!(s.syscalls[0].names.is_empty());
        // A negative value is its two's complement (what a Rhai map can hold).
        let s = spec(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW",
            "args":[{"index":0,"value":-1,"valueTwo":-2,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
        );
        assert_eq!(
            (s.syscalls[0].args[0].value, s.syscalls[0].args[0].value_two),
            (u64::MAX, Some(u64::MAX - 1))
        );
    }

    #[test]
    fn bad_specs_name_the_problem() {
        assert_eq!(err(r#"{"defaultAction":"SCMP_ACT_FOO"}"#), r#"seccomp: unknown action "SCMP_ACT_FOO""#);
        assert!(
            err(r#"{"defaultAction":"SCMP_ACT_ALLOW","defaultErrnoRet":1}"#).contains("takes no errnoRet")
        );
        let one = |entry: &str| format!(r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{entry}]}}"#);
        assert!(
            err(&one(r#"{"names":["read"],"action":"SCMP_ACT_KILL","errnoRet":1}"#))
                .contains("takes no errnoRet")
        );
        assert!(
            err(&one(r#"{"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":4096}"#))
                .contains("out of range")
        );
        let op = one(
            r#"{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_X"}]}"#,
        );
        assert_eq!(err(&op), r#"seccomp: unknown operator "SCMP_CMP_X""#);
        let idx = one(
            r#"{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}"#,
        );
        assert!(err(&idx).contains("argument index 6"));
        assert!(err(&one(r#"{"names":[""],"action":"SCMP_ACT_ALLOW"}"#)).contains("empty string"));
        assert!(
            err(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_Z80"]}"#)
                .contains("SCMP_ARCH_Z80")
        );
        assert!(err(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#).contains("default action"));
        assert!(err(&one(r#"{"names":["getppid"],"action":"SCMP_ACT_NOTIFY"}"#)).contains("listenerPath"));
        let write = r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/x",
            "syscalls":[{"names":["write"],"action":"SCMP_ACT_NOTIFY"}]}"#;
        assert!(err(write).contains("write"));
        // A missing field is serde's message.
        assert!(
            serde_json::from_str::<LinuxSeccomp>("{}").unwrap_err().to_string().contains("defaultAction")
        );
    }

    #[test]
    fn every_action_and_errno() {
        let s = |act: &str, errno: &str| {
            spec(&format!(
                r#"{{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"listenerPath":"/a",
                "syscalls":[{{"names":["getpid"],"action":"{act}"{errno}}}]}}"#
            ))
        };
        let at = |act: &str, errno: &str| decide(&s(act, errno), AUDIT_ARCH_X86_64, "getpid", [0; 6]);
        assert_eq!(at("SCMP_ACT_ALLOW", ""), Action::Allow);
        assert_eq!(at("SCMP_ACT_ERRNO", ""), Action::Errno(1), "EPERM without errnoRet");
        assert_eq!(at("SCMP_ACT_ERRNO", r#","errnoRet":13"#), Action::Errno(13));
        assert_eq!(at("SCMP_ACT_KILL", ""), Action::KillThread);
        assert_eq!(at("SCMP_ACT_KILL_THREAD", ""), Action::KillThread);
        assert_eq!(at("SCMP_ACT_KILL_PROCESS", ""), Action::KillProcess);
        assert_eq!(at("SCMP_ACT_TRAP", ""), Action::Trap);
        assert_eq!(at("SCMP_ACT_TRACE", r#","errnoRet":5"#), Action::Trace(5));
        assert_eq!(at("SCMP_ACT_LOG", ""), Action::Log);
        assert_eq!(at("SCMP_ACT_NOTIFY", ""), Action::Notify);
        assert_eq!(decide(&s("SCMP_ACT_ALLOW", ""), AUDIT_ARCH_X86_64, "read", [0; 6]), Action::Errno(38));
        let prog = compile_oci(&s("SCMP_ACT_NOTIFY", "")).unwrap();
        assert!(prog.iter().any(|i| i.k == libc::SECCOMP_RET_USER_NOTIF));
    }

    #[test]
    fn flags() {
        let s = |flags: &str, act: &str| {
            spec(&format!(
                r#"{{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/a","flags":[{flags}],
                "syscalls":[{{"names":["getppid"],"action":"{act}"}}]}}"#
            ))
        };
        let log = libc::SECCOMP_FILTER_FLAG_LOG as u32;
        let spec_allow = libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32;
        let listener = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
        let killable = libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32;
        assert_eq!(install_flags(&s("", "SCMP_ACT_ERRNO")).unwrap(), 0);
        let all = r#""SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW""#;
        assert_eq!(install_flags(&s(all, "SCMP_ACT_ERRNO")).unwrap(), log | spec_allow);
        assert_eq!(install_flags(&s("", "SCMP_ACT_NOTIFY")).unwrap(), listener);
        let wk = r#""SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV""#;
        assert_eq!(install_flags(&s(wk, "SCMP_ACT_NOTIFY")).unwrap(), listener | killable);
        assert!(
            install_flags(&s(wk, "SCMP_ACT_ERRNO")).unwrap_err().message.contains("needs an SCMP_ACT_NOTIFY")
        );
        assert!(install_flags(&s(r#""SECCOMP_FILTER_FLAG_X""#, "SCMP_ACT_ERRNO")).is_err());
    }

    #[test]
    fn names_are_per_abi_and_unknown_ones_skipped() {
        let s = spec(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32","SCMP_ARCH_AARCH64"],
            "syscalls":[{"names":["read","fstat64","socketcall","ioctl","no_such_syscall_at_all"],"action":"SCMP_ACT_ALLOW"},
                        {"names":["getpid"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
        );
        let f = filters(&s).unwrap();
        let nr64 = |n| x86_64::number(n).unwrap();
        let nr32 = |n| i386::number(n).unwrap();
        let args = [0; 6];
        assert_eq!(f.decide(AUDIT_ARCH_X86_64, nr64("read"), &args), Action::Allow);
        assert_eq!(f.decide(AUDIT_ARCH_X86_64, nr64("ioctl"), &args), Action::Allow);
        assert_eq!(f.decide(AUDIT_ARCH_I386, nr32("read"), &args), Action::Allow);
        assert_eq!(f.decide(AUDIT_ARCH_I386, nr32("fstat64"), &args), Action::Allow);
        assert_eq!(f.decide(AUDIT_ARCH_I386, nr32("socketcall"), &args), Action::Allow);
        assert_eq!(f.decide(AUDIT_ARCH_I386, nr32("getpid"), &args), Action::Errno(13));
        // x32: its own ioctl entry (514), read at 0, the bit set.
        assert_eq!(f.decide(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 514, &args), Action::Allow);
        assert_eq!(f.decide(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, &args), Action::Allow);
        assert_eq!(f.decide(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 39, &args), Action::Errno(13), "x32 getpid");
        // x86_64's 16 is ioctl; i386's 16 is lchown: each ABI by its own numbers.
        assert_eq!(f.decide(AUDIT_ARCH_I386, 16, &args), Action::Errno(1));
        // ENOSYS above each ABI's newest named number.
        assert_eq!(f.decide(AUDIT_ARCH_X86_64, 40, &args), Action::Errno(38), "above getpid (39)");
        assert_eq!(f.decide(AUDIT_ARCH_X86_64, 20, &args), Action::Errno(1));
        // Another architecture the kernel may report: killed, as libseccomp's bad-arch action.
        assert_eq!(f.decide(0xc000_00b7, 0, &args), Action::KillThread);
        // Without X86 and X32 listed, those ABIs are killed too.
        let native = spec(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
        let f = filters(&native).unwrap();
        assert_eq!(f.decide(AUDIT_ARCH_I386, 20, &args), Action::KillThread);
        assert_eq!(f.decide(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 39, &args), Action::KillThread);
        assert_eq!(f.decide(AUDIT_ARCH_X86_64, 1000, &args), Action::Allow, "no ENOSYS under ALLOW");
        // TRACE and LOG defaults let new syscalls through too (runc).
        let trace = spec(
            r#"{"defaultAction":"SCMP_ACT_TRACE","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        assert_eq!(filters(&trace).unwrap().decide(AUDIT_ARCH_X86_64, 1000, &args), Action::Trace(1));
    }
}
