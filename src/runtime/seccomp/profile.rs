//! Seccomp profiles in Docker's JSON format (moby's `profiles/seccomp/default.json`):
//! parsed and checked whole, then turned into a `Filter` for one container's
//! capabilities on this host, as moby does before handing a spec to runc.
//!
//! A syscall entry applies unless its `excludes` match (an arch equal to this
//! host's, a capability the container holds, a kernel at least `minKernel`)
//! or its `includes` do not (this host's arch listed, every capability held,
//! a kernel at least `minKernel`). Arches in conditions are moby's names
//! (`amd64`, `x32`, `x86`, …), and this host is `amd64`. Names this ABI has
//! no number for (`fstat64`, `socketcall`) are skipped, as libseccomp does.
//! Per syscall, entries with argument checks are tried in file order, the
//! first that matches decides; else an entry without checks (the last one);
//! else the default action.

#[cfg(test)]
use super::Filter;
use super::oci::{self, LinuxSeccomp, LinuxSeccompArg, LinuxSyscall};
use super::{Action, Rule, x86_64};
use crate::runtime::caps;
use crate::runtime::error::{Error, Result};
use serde::Deserialize;
use std::borrow::Cow;

/// Docker's default profile for x86_64, minus io_uring (as Docker 25+).
pub const DEFAULT_PROFILE: &str = include_str!("../../../stdlib/seccomp/default.json");

/// This host's name in `includes.arches` / `excludes.arches`.
const NATIVE_ARCH: &str = "amd64";
/// This host's entry in `archMap`.
const NATIVE_SCMP_ARCH: &str = "SCMP_ARCH_X86_64";

// The file's shape. Unknown fields (comment) are ignored, as Docker does.
// Strings borrow from the text where they can: the default profile is parsed on every run.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct File<'a> {
    #[serde(borrow)]
    default_action: Cow<'a, str>,
    default_errno_ret: Option<u32>,
    #[serde(default, borrow)]
    architectures: Vec<Cow<'a, str>>,
    #[serde(default, borrow)]
    arch_map: Vec<ArchMap<'a>>,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    listener_path: Option<String>,
    #[serde(default)]
    listener_metadata: Option<String>,
    #[serde(default, borrow)]
    syscalls: Vec<Entry<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap<'a> {
    #[serde(borrow)]
    architecture: Cow<'a, str>,
    #[serde(default, borrow)]
    sub_architectures: Option<Vec<Cow<'a, str>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    #[serde(default, borrow)]
    names: Vec<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    action: Cow<'a, str>,
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    includes: Cond,
    #[serde(default)]
    excludes: Cond,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Cond {
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// A checked profile: every action, operator and version is valid, names are
/// x86_64 numbers. It borrows names from the profile's text.
#[derive(Debug)]
pub struct Profile<'a> {
    #[cfg_attr(not(test), allow(dead_code))]
    default: Action,
    default_action: Cow<'a, str>,
    default_errno_ret: Option<u32>,
    /// For this host: `architectures`, or the native entry of `archMap`.
    architectures: Vec<Cow<'a, str>>,
    flags: Vec<String>,
    listener_path: Option<String>,
    listener_metadata: Option<String>,
    entries: Vec<Checked<'a>>,
}

#[derive(Debug)]
struct Checked<'a> {
    names: Vec<Cow<'a, str>>,
    // The x86_64 numbers: parsing checks the names; the old Docker path (tests) reads them.
    #[cfg_attr(not(test), allow(dead_code))]
    numbers: Vec<u32>,
    action: Cow<'a, str>,
    errno_ret: Option<u32>,
    args: Vec<LinuxSeccompArg>,
    #[cfg_attr(not(test), allow(dead_code))]
    rule: Rule,
    includes: When,
    excludes: When,
}

/// A checked `includes` or `excludes`.
#[derive(Debug, Default)]
struct When {
    caps: Vec<String>,
    arches: Vec<String>,
    min_kernel: Option<(u32, u32, u32)>,
}

/// `4.8`, `5.10.0`, `6.18.0-1-amd64`: (major, minor, patch).
fn kernel_version(s: &str) -> Option<(u32, u32, u32)> {
    let core = s.split(['-', '+', ' ']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u32>());
    let major = parts.next()?.ok()?;
    let minor = parts.next().unwrap_or(Ok(0)).ok()?;
    let patch = parts.next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, patch))
}

fn running_kernel() -> Result<(u32, u32, u32)> {
    let release = crate::runtime::sys::uname()?.release;
    kernel_version(&release).ok_or_else(|| Error::os(format!("cannot read the kernel version \"{release}\"")))
}

fn when(c: Cond) -> std::result::Result<When, String> {
    let min_kernel = match c.min_kernel {
        Some(v) => Some(
            kernel_version(&v).ok_or_else(|| format!("invalid minKernel \"{v}\": use a version like 4.8"))?,
        ),
        None => None,
    };
    Ok(When { caps: c.caps.unwrap_or_default(), arches: c.arches.unwrap_or_default(), min_kernel })
}

/// The errno an action keeps: ERRNO's and TRACE's; the others ignore it (Docker too).
fn errno_for(action: &str, errno: Option<u32>) -> Option<u32> {
    errno.filter(|_| oci::takes_errno(action))
}

impl<'a> Profile<'a> {
    /// Parse and check a profile; the error is one line naming the problem.
    pub fn parse(json: &'a str) -> Result<Profile<'a>> {
        Profile::parse_file(json).map_err(Error::invalid)
    }

    fn parse_file(json: &'a str) -> std::result::Result<Profile<'a>, String> {
        let f: File<'a> = serde_json::from_str(json).map_err(|e| e.to_string())?;
        if !f.architectures.is_empty() && !f.arch_map.is_empty() {
            return Err("\"architectures\" and \"archMap\" are both set: use one".into());
        }
        for a in &f.architectures {
            oci::check_arch(a)?;
        }
        let mut architectures = f.architectures;
        for m in f.arch_map {
            oci::check_arch(&m.architecture)?;
            for a in m.sub_architectures.iter().flatten() {
                oci::check_arch(a)?;
            }
            // Docker keeps the entry of the host's architecture only.
            if m.architecture == NATIVE_SCMP_ARCH {
                architectures.push(m.architecture);
                architectures.extend(m.sub_architectures.into_iter().flatten());
            }
        }
        let default = oci::action(&f.default_action, f.default_errno_ret)?;
        if default == Action::Notify {
            return Err("action \"SCMP_ACT_NOTIFY\" is not supported as the default action".into());
        }
        let mut entries = Vec::with_capacity(f.syscalls.len());
        for e in f.syscalls {
            let names = match e.name {
                Some(_) if !e.names.is_empty() => {
                    return Err("a syscall entry sets both \"name\" and \"names\"".into());
                }
                Some(n) => vec![n],
                None => e.names,
            };
            let args = e.args.unwrap_or_default();
            let rule = Rule {
                when: args.iter().map(oci::compare).collect::<std::result::Result<_, _>>()?,
                action: oci::action(&e.action, e.errno_ret)?,
            };
            // Names of other architectures' syscalls have no number here.
            let numbers = names.iter().filter_map(|n| x86_64::number(n)).collect();
            entries.push(Checked {
                names,
                numbers,
                errno_ret: errno_for(&e.action, e.errno_ret),
                action: e.action,
                args,
                rule,
                includes: when(e.includes)?,
                excludes: when(e.excludes)?,
            });
        }
        Ok(Profile {
            default,
            default_errno_ret: errno_for(&f.default_action, f.default_errno_ret),
            default_action: f.default_action,
            architectures,
            flags: f.flags,
            listener_path: f.listener_path,
            listener_metadata: f.listener_metadata,
            entries,
        })
    }

    /// The entries that apply to a container holding `caps` on this host, in order.
    fn applicable(&self, caps: &[u32]) -> Result<Vec<&Checked<'a>>> {
        let held: Vec<&str> = caps.iter().filter_map(|&c| caps::name(c)).collect();
        let mut kernel = None;
        let mut kernel_at_least = |v: (u32, u32, u32)| -> Result<bool> {
            let k = match kernel {
                Some(k) => k,
                None => *kernel.insert(running_kernel()?),
            };
            Ok(k >= v)
        };
        let mut out = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            let (inc, exc) = (&e.includes, &e.excludes);
            let excluded = exc.arches.iter().any(|a| a == NATIVE_ARCH)
                || exc.caps.iter().any(|c| held.contains(&c.as_str()))
                || match exc.min_kernel {
                    Some(v) => kernel_at_least(v)?,
                    None => false,
                };
            let included = (inc.arches.is_empty() || inc.arches.iter().any(|a| a == NATIVE_ARCH))
                && inc.caps.iter().all(|c| held.contains(&c.as_str()))
                && match inc.min_kernel {
                    Some(v) => kernel_at_least(v)?,
                    None => true,
                };
            if included && !excluded {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// The rules that apply to a container holding `caps` on this host.
    /// (The Docker path of old, kept to check `resolve` + `compile_oci` against.)
    #[cfg(test)]
    pub fn filter(&self, caps: &[u32]) -> Result<Filter> {
        let mut f = Filter::new(self.default);
        for e in self.applicable(caps)? {
            if e.rule.action == Action::Notify {
                return Err(Error::invalid(
                    "action \"SCMP_ACT_NOTIFY\" is not supported here: it needs a seccomp agent (an OCI spec's listenerPath)",
                ));
            }
            for &nr in &e.numbers {
                f.add(nr, e.rule.clone());
            }
        }
        // A denying default: syscalls newer than any the profile names get ENOSYS.
        if !self.default.runs() {
            let last = self.entries.iter().flat_map(|e| e.numbers.iter().copied()).max().unwrap_or(0);
            f.enosys_above(last);
        }
        Ok(f)
    }

    /// What Docker and Podman put in the OCI spec for a container holding
    /// `caps` on this host: the entries that apply, conditions dropped, names
    /// as written (the runtime skips other architectures'), `archMap`
    /// resolved to this host's `architectures`.
    pub fn resolve(&self, caps: &[u32]) -> Result<LinuxSeccomp> {
        let syscalls = self
            .applicable(caps)?
            .into_iter()
            .map(|e| LinuxSyscall {
                names: e.names.iter().map(|n| n.to_string()).collect(),
                action: e.action.to_string(),
                errno_ret: e.errno_ret,
                args: e.args.clone(),
                extra: Default::default(),
            })
            .collect();
        Ok(LinuxSeccomp {
            default_action: self.default_action.to_string(),
            default_errno_ret: self.default_errno_ret,
            architectures: self.architectures.iter().map(|a| a.to_string()).collect(),
            flags: self.flags.clone(),
            listener_path: self.listener_path.clone(),
            listener_metadata: self.listener_metadata.clone(),
            syscalls,
            extra: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::seccomp::AUDIT_ARCH_X86_64;

    fn err(json: &str) -> String {
        Profile::parse(json).unwrap_err().message
    }

    fn decide(json: &str, caps: &[u32], name: &str, args: [u64; 6]) -> Action {
        let f = Profile::parse(json).unwrap().filter(caps).unwrap();
        f.decide(AUDIT_ARCH_X86_64, x86_64::number(name).unwrap(), &args)
    }

    fn one(entry: &str) -> String {
        format!(r#"{{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"syscalls":[{entry}]}}"#)
    }

    #[test]
    fn bad_profiles_name_the_problem() {
        assert_eq!(err(r#"{"defaultAction":"SCMP_ACT_FOO"}"#), r#"unknown action "SCMP_ACT_FOO""#);
        assert!(err("{}").contains("missing field `defaultAction`"), "{}", err("{}"));
        assert!(err("[").contains("line 1"));
        let bad_op = one(
            r#"{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_X"}]}"#,
        );
        assert_eq!(err(&bad_op), r#"unknown operator "SCMP_CMP_X""#);
        let bad_index = one(
            r#"{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}"#,
        );
        assert_eq!(err(&bad_index), "argument index 6 is out of range (0 to 5)");
        let errno = one(r#"{"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":5000}"#);
        assert_eq!(err(&errno), "errno 5000 is out of range (0 to 4095)");
        let both = one(r#"{"name":"read","names":["write"],"action":"SCMP_ACT_ALLOW"}"#);
        assert!(err(&both).contains("both"));
        let kernel = one(r#"{"names":["read"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"four"}}"#);
        assert!(err(&kernel).contains(r#"invalid minKernel "four""#));
        let arch = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_Z80"]}"#;
        assert_eq!(err(arch), r#"unknown architecture "SCMP_ARCH_Z80""#);
        let arch_both = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
            "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":null}]}"#;
        assert!(err(arch_both).contains("use one"));
        assert!(err(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#).contains("not supported"));
        // Every error is one line.
        for e in [err("[\n"), err(&bad_op)] {
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn actions_and_errnos() {
        let p =
            |action: &str, errno: &str| one(&format!(r#"{{"names":["read"],"action":"{action}"{errno}}}"#));
        assert_eq!(
            decide(&p("SCMP_ACT_ERRNO", ""), &[], "read", [0; 6]),
            Action::Errno(1),
            "EPERM by default"
        );
        assert_eq!(decide(&p("SCMP_ACT_ERRNO", r#","errnoRet":28"#), &[], "read", [0; 6]), Action::Errno(28));
        assert_eq!(decide(&p("SCMP_ACT_KILL", ""), &[], "read", [0; 6]), Action::KillThread);
        assert_eq!(decide(&p("SCMP_ACT_KILL_THREAD", ""), &[], "read", [0; 6]), Action::KillThread);
        assert_eq!(decide(&p("SCMP_ACT_KILL_PROCESS", ""), &[], "read", [0; 6]), Action::KillProcess);
        assert_eq!(decide(&p("SCMP_ACT_TRAP", ""), &[], "read", [0; 6]), Action::Trap);
        assert_eq!(decide(&p("SCMP_ACT_TRACE", r#","errnoRet":7"#), &[], "read", [0; 6]), Action::Trace(7));
        assert_eq!(decide(&p("SCMP_ACT_LOG", ""), &[], "read", [0; 6]), Action::Log);
        // defaultErrnoRet is the default action's errno.
        let d = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38}"#;
        assert_eq!(decide(d, &[], "write", [0; 6]), Action::Errno(38));
    }

    #[test]
    fn conditions_by_caps_arches_and_kernel() {
        let admin = caps::parse("SYS_ADMIN").unwrap();
        let ptrace = caps::parse("SYS_PTRACE").unwrap();
        let json = |cond: &str| one(&format!(r#"{{"names":["mount"],"action":"SCMP_ACT_ALLOW",{cond}}}"#));
        let inc_caps = json(r#""includes":{"caps":["CAP_SYS_ADMIN","CAP_SYS_PTRACE"]}"#);
        assert_eq!(decide(&inc_caps, &[admin, ptrace], "mount", [0; 6]), Action::Allow, "every cap held");
        assert_eq!(decide(&inc_caps, &[admin], "mount", [0; 6]), Action::Errno(1), "one missing");
        let exc_caps = json(r#""excludes":{"caps":["CAP_SYS_ADMIN","CAP_SYS_PTRACE"]}"#);
        assert_eq!(decide(&exc_caps, &[], "mount", [0; 6]), Action::Allow);
        assert_eq!(decide(&exc_caps, &[ptrace], "mount", [0; 6]), Action::Errno(1), "any held excludes");
        for (cond, want) in [
            (r#""includes":{"arches":["amd64","x32"]}"#, Action::Allow),
            (r#""includes":{"arches":["arm64"]}"#, Action::Errno(1)),
            (r#""excludes":{"arches":["s390x"]}"#, Action::Allow),
            (r#""excludes":{"arches":["amd64"]}"#, Action::Errno(1)),
            (r#""includes":{"minKernel":"3.10"}"#, Action::Allow),
            (r#""includes":{"minKernel":"999.0"}"#, Action::Errno(1)),
            (r#""excludes":{"minKernel":"999.0"}"#, Action::Allow),
            (r#""excludes":{"minKernel":"4.8"}"#, Action::Errno(1)),
        ] {
            assert_eq!(decide(&json(cond), &[], "mount", [0; 6]), want, "{cond}");
        }
    }

    #[test]
    fn names_other_arches_have_are_skipped() {
        let json = one(r#"{"names":["fstat64","socketcall","_llseek","read"],"action":"SCMP_ACT_ALLOW"}"#);
        assert_eq!(decide(&json, &[], "read", [0; 6]), Action::Allow);
        // The newest named syscall bounds the ENOSYS answer; an ALLOW default has none.
        let f = Profile::parse(&json).unwrap().filter(&[]).unwrap();
        // read is 0: everything above is newer than this profile.
        assert_eq!(f.decide(AUDIT_ARCH_X86_64, 1, &[0; 6]), Action::Errno(38));
        let allow = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["uname"],"action":"SCMP_ACT_ERRNO"}]}"#;
        let f = Profile::parse(allow).unwrap().filter(&[]).unwrap();
        assert_eq!(f.decide(AUDIT_ARCH_X86_64, 500, &[0; 6]), Action::Allow);
        assert_eq!(f.decide(AUDIT_ARCH_X86_64, 63, &[0; 6]), Action::Errno(1), "uname");
        // Other ABIs never get through an allowing default.
        assert_eq!(f.decide(3 | 0x4000_0000, 122, &[0; 6]), Action::Errno(1), "i386 uname");
    }

    #[test]
    fn args_and_masked_eq_use_value_two() {
        let json = one(
            r#"{"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]},
               {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
               {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"}]}"#,
        );
        assert_eq!(decide(&json, &[], "clone", [0x11, 0, 0, 0, 0, 0]), Action::Allow);
        assert_eq!(decide(&json, &[], "clone", [0x1000_0011, 0, 0, 0, 0, 0]), Action::Errno(1));
        for (v, want) in [(0, Action::Allow), (8, Action::Allow), (9, Action::Errno(1))] {
            assert_eq!(decide(&json, &[], "personality", [v, 0, 0, 0, 0, 0]), want, "{v}");
        }
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("4.8"), Some((4, 8, 0)));
        assert_eq!(kernel_version("6.18.0-1-amd64"), Some((6, 18, 0)));
        assert_eq!(kernel_version("5.10.123+"), Some((5, 10, 123)));
        assert_eq!(kernel_version("x"), None);
        assert!(running_kernel().unwrap() >= (5, 3, 0));
    }
}
