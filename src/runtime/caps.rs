//! Linux capabilities for the container process: Docker's default set, the
//! `--cap-add`/`--cap-drop` arithmetic, and applying the result in the child.
//!
//! `resolve` runs in the CLI; `apply` runs in the container child after fork
//! (single-threaded, still uid 0, before execve), so it sticks to raw syscalls
//! and stack buffers.

// Nothing calls this module until process.rs wires it in; drop this then.

use super::error::{Error, Result};
use nix::errno::Errno;

/// Every capability the runtime knows, indexed by number (`include/uapi/linux/capability.h`).
pub const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The highest capability number in `NAMES`.
pub const LAST: u32 = NAMES.len() as u32 - 1;

// Numbers the tests name (here and in seccomp's); the profiles name capabilities as strings.
#[cfg(test)]
pub const DAC_READ_SEARCH: u32 = 2;
#[cfg(test)]
pub const SYS_MODULE: u32 = 16;
#[cfg(test)]
pub const SYS_RAWIO: u32 = 17;
#[cfg(test)]
pub const SYS_CHROOT: u32 = 18;
#[cfg(test)]
pub const SYS_PTRACE: u32 = 19;
#[cfg(test)]
pub const SYS_PACCT: u32 = 20;
#[cfg(test)]
pub const SYS_ADMIN: u32 = 21;
#[cfg(test)]
pub const SYS_BOOT: u32 = 22;
#[cfg(test)]
pub const SYS_NICE: u32 = 23;
#[cfg(test)]
pub const SYS_TIME: u32 = 25;
#[cfg(test)]
pub const SYS_TTY_CONFIG: u32 = 26;
#[cfg(test)]
pub const SYSLOG: u32 = 34;
#[cfg(test)]
pub const PERFMON: u32 = 38;
#[cfg(test)]
pub const BPF: u32 = 39;

/// Docker's default capabilities (moby `oci/caps/defaults.go`), for the
/// tests: the scripts' copy is data, `security::default_capabilities()`.
#[cfg(test)]
pub const DOCKER_DEFAULT: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// A capability's number from its name: `NET_ADMIN`, `cap_net_admin`, any case.
/// `ALL` is not a capability; `resolve` handles it.
pub fn parse(name: &str) -> Result<u32> {
    let trimmed = name.trim();
    let bare = match trimmed.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("CAP_") => &trimmed[4..],
        _ => trimmed,
    };
    NAMES
        .iter()
        .position(|n| n[4..].eq_ignore_ascii_case(bare))
        .map(|i| i as u32)
        .ok_or_else(|| Error::invalid(format!("unknown capability {name:?}")))
}

/// The kernel name of capability `cap` (`CAP_CHOWN`), if we know it.
pub fn name(cap: u32) -> Option<&'static str> {
    NAMES.get(cap as usize).copied()
}

fn is_all(name: &str) -> bool {
    name.trim().eq_ignore_ascii_case("ALL")
}

/// The container's capabilities from a default set `base` and `--cap-add`
/// and `--cap-drop`, as Docker computes them (moby
/// `oci/caps.TweakCapabilities`): adding ALL gives every capability but the
/// dropped ones; dropping ALL gives exactly the added ones; otherwise `base`
/// minus drops, plus adds (an add beats a drop). Sorted, without duplicates.
pub fn resolve(base: &[String], add: &[String], drop: &[String]) -> Result<Vec<u32>> {
    // Validate every name first, so a typo fails whichever branch applies.
    let parse_list = |names: &[String]| -> Result<Vec<u32>> {
        names.iter().filter(|n| !is_all(n)).map(|n| parse(n)).collect()
    };
    let adds = parse_list(add)?;
    let drops = parse_list(drop)?;
    let base = parse_list(base)?;
    let mut caps: Vec<u32> = if add.iter().any(|n| is_all(n)) {
        (0..=LAST).filter(|c| !drops.contains(c)).collect()
    } else if drop.iter().any(|n| is_all(n)) {
        adds
    } else {
        let mut caps: Vec<u32> = base.into_iter().filter(|c| !drops.contains(c)).collect();
        caps.extend(adds);
        caps
    };
    caps.sort_unstable();
    caps.dedup();
    Ok(caps)
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// prctl is variadic and reads unsigned longs; some options insist the unused ones are 0.
const ZERO: libc::c_ulong = 0;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The calling thread's permitted set, as a bit mask.
fn permitted() -> Result<u64> {
    let mut hdr = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let mut data = [CapData::default(); 2];
    if unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) } < 0 {
        return Err(Error::os(format!("capget: {}", Errno::last().desc())));
    }
    Ok(u64::from(data[0].permitted) | u64::from(data[1].permitted) << 32)
}

/// The last capability the running kernel knows; 63 if it will not say.
fn kernel_last_cap() -> u32 {
    // Read with raw calls into a stack buffer: this runs after fork.
    let mut buf = [0u8; 16];
    let n = unsafe {
        let fd = libc::open(c"/proc/sys/kernel/cap_last_cap".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return 63;
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        n
    };
    if n <= 0 {
        return 63;
    }
    std::str::from_utf8(&buf[..n as usize]).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(63).min(63)
}

/// The five capability sets of a spec's process, as numbers; `None` where
/// the spec leaves a set out.
#[derive(Debug, Clone, Default)]
pub struct Sets {
    pub bounding: Option<Vec<u32>>,
    pub effective: Option<Vec<u32>>,
    pub permitted: Option<Vec<u32>>,
    pub inheritable: Option<Vec<u32>>,
    pub ambient: Option<Vec<u32>>,
}

impl Sets {
    /// From the spec's names; no `capabilities` at all keeps what we have.
    pub fn from_spec(c: Option<&super::spec::Capabilities>) -> Result<Sets> {
        let Some(c) = c else { return Ok(Sets::default()) };
        let nums = |v: &Option<Vec<String>>| -> Result<Option<Vec<u32>>> {
            v.as_ref().map(|names| names.iter().map(|n| parse(n)).collect()).transpose()
        };
        Ok(Sets {
            bounding: nums(&c.bounding)?,
            effective: nums(&c.effective)?,
            permitted: nums(&c.permitted)?,
            inheritable: nums(&c.inheritable)?,
            ambient: nums(&c.ambient)?,
        })
    }

    /// The spec's sets for Docker's way: `keep` bounding, effective and
    /// permitted; inheritable and ambient empty (since CVE-2022-24769, a file
    /// with `+ei` capabilities must grant a non-root user nothing).
    #[cfg(test)]
    pub fn keep(keep: &[u32]) -> Sets {
        Sets {
            bounding: Some(keep.to_vec()),
            effective: Some(keep.to_vec()),
            permitted: Some(keep.to_vec()),
            inheritable: Some(vec![]),
            ambient: Some(vec![]),
        }
    }
}

fn mask_of(caps: &[u32]) -> Result<u64> {
    let mut m: u64 = 0;
    for &c in caps {
        if c > 63 {
            return Err(Error::invalid(format!("capability number {c} out of range")));
        }
        m |= 1 << c;
    }
    Ok(m)
}

/// Reduce this process to `sets`, for good, switching user on the way with
/// `switch_user` (as runc does): drop the rest of the bounding set (so no
/// execve of a setuid or file-capability binary can regain them), keep the
/// permitted set across the uid change, then set effective, permitted and
/// inheritable, then raise the ambient ones. Call in the container child,
/// before execve.
///
/// A capability this process does not hold itself (the runtime may run with
/// fewer than all, e.g. inside another container) cannot be granted and is
/// left out rather than failing the container, so `--cap-add ALL` means "all
/// we have". No allocation except for an error message.
pub fn apply(sets: &Sets, switch_user: impl FnOnce() -> Result<()>) -> Result<()> {
    let have = permitted()?;
    if let Some(bounding) = &sets.bounding {
        let keep = mask_of(bounding)?;
        // The bounding set first: dropping needs CAP_SETPCAP, which capset may remove.
        for cap in 0..=kernel_last_cap() {
            if keep & (1 << cap) != 0 {
                continue;
            }
            let cap = libc::c_ulong::from(cap);
            // Only drop what is still there: dropping needs CAP_SETPCAP even when a no-op.
            if unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap, ZERO, ZERO, ZERO) } <= 0 {
                continue;
            }
            if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, ZERO, ZERO, ZERO) } < 0 {
                match Errno::last() {
                    // A capability newer than this kernel: nothing to drop.
                    Errno::EINVAL => {}
                    e => {
                        return Err(Error::os(format!(
                            "drop {} from the bounding set: {}",
                            cap_label(cap),
                            e.desc()
                        )));
                    }
                }
            }
        }
    }
    // Ambient capabilities survive execve for non-root users; only the spec's stay.
    let clear_all = libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong;
    let rc = unsafe { libc::prctl(libc::PR_CAP_AMBIENT, clear_all, ZERO, ZERO, ZERO) };
    if rc < 0 && Errno::last() != Errno::EINVAL {
        return Err(Error::os(format!("clear ambient capabilities: {}", Errno::last().desc())));
    }
    // setuid away from 0 clears the permitted set unless told to keep it.
    unsafe {
        libc::prctl(libc::PR_SET_KEEPCAPS, 1 as libc::c_ulong, ZERO, ZERO, ZERO);
    }
    switch_user()?;
    unsafe {
        libc::prctl(libc::PR_SET_KEEPCAPS, ZERO, ZERO, ZERO, ZERO);
    }
    let set = |s: &Option<Vec<u32>>| -> Result<u64> {
        Ok(match s {
            Some(v) => mask_of(v)? & have,
            None => have,
        })
    };
    let (eff, perm, inh) = (
        set(&sets.effective)?,
        set(&sets.permitted)?,
        match &sets.inheritable {
            Some(v) => mask_of(v)? & have,
            None => 0,
        },
    );
    let mut hdr = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let data = [
        CapData { effective: eff as u32, permitted: perm as u32, inheritable: inh as u32 },
        CapData {
            effective: (eff >> 32) as u32,
            permitted: (perm >> 32) as u32,
            inheritable: (inh >> 32) as u32,
        },
    ];
    if unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) } < 0 {
        return Err(Error::os(format!("capset: {}", Errno::last().desc())));
    }
    // Raising needs the capability in the permitted and inheritable sets: a
    // spec that lists it as ambient only (`runc spec`'s does) gets nothing,
    // as under runc, which ignores these errors too.
    for &cap in sets.ambient.as_deref().unwrap_or(&[]) {
        let raise = libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong;
        let _ = unsafe { libc::prctl(libc::PR_CAP_AMBIENT, raise, libc::c_ulong::from(cap), ZERO, ZERO) };
    }
    Ok(())
}

fn cap_label(cap: libc::c_ulong) -> String {
    match name(cap as u32) {
        Some(n) => n.to_string(),
        None => format!("capability {cap}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dd() -> Vec<String> {
        DOCKER_DEFAULT.iter().map(|s| s.to_string()).collect()
    }
    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, fork};

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn names(caps: &[u32]) -> Vec<&'static str> {
        caps.iter().map(|&c| &name(c).unwrap()[4..]).collect()
    }

    fn sorted(mut v: Vec<&'static str>) -> Vec<&'static str> {
        v.sort_unstable();
        v
    }

    #[test]
    fn table_matches_constants() {
        assert_eq!(NAMES[0], "CAP_CHOWN");
        assert_eq!(NAMES[40], "CAP_CHECKPOINT_RESTORE");
        for (c, n) in [
            (DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH"),
            (SYS_MODULE, "CAP_SYS_MODULE"),
            (SYS_RAWIO, "CAP_SYS_RAWIO"),
            (SYS_CHROOT, "CAP_SYS_CHROOT"),
            (SYS_PTRACE, "CAP_SYS_PTRACE"),
            (SYS_PACCT, "CAP_SYS_PACCT"),
            (SYS_ADMIN, "CAP_SYS_ADMIN"),
            (SYS_BOOT, "CAP_SYS_BOOT"),
            (SYS_NICE, "CAP_SYS_NICE"),
            (SYS_TIME, "CAP_SYS_TIME"),
            (SYS_TTY_CONFIG, "CAP_SYS_TTY_CONFIG"),
            (SYSLOG, "CAP_SYSLOG"),
            (PERFMON, "CAP_PERFMON"),
            (BPF, "CAP_BPF"),
        ] {
            assert_eq!(NAMES[c as usize], n);
        }
        // Kernel values for a few well-known ones.
        assert_eq!(parse("NET_ADMIN").unwrap(), 12);
        assert_eq!(parse("SYS_RESOURCE").unwrap(), 24);
        assert_eq!(parse("SETFCAP").unwrap(), 31);
    }

    #[test]
    fn parse_accepts_prefix_and_any_case() {
        assert_eq!(parse("NET_ADMIN").unwrap(), 12);
        assert_eq!(parse("CAP_NET_ADMIN").unwrap(), 12);
        assert_eq!(parse("cap_net_admin").unwrap(), 12);
        assert_eq!(parse("Net_Admin").unwrap(), 12);
        assert_eq!(parse("checkpoint_restore").unwrap(), 40);
        let e = parse("NET_ADMINS").unwrap_err();
        assert_eq!(e.kind, super::super::error::Kind::Invalid);
        assert_eq!(e.message, "unknown capability \"NET_ADMINS\"");
        assert!(parse("ALL").is_err());
        assert!(parse("CAP_").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn resolve_default_is_docker_14() {
        let caps = resolve(&dd(), &[], &[]).unwrap();
        assert_eq!(caps.len(), 14);
        assert_eq!(sorted(names(&caps)), sorted(DOCKER_DEFAULT.to_vec()));
        assert!(!caps.contains(&SYS_ADMIN));
        assert!(caps.contains(&SYS_CHROOT));
    }

    #[test]
    fn resolve_add_and_drop() {
        let caps =
            resolve(&dd(), &strings(&["NET_ADMIN", "cap_sys_ptrace"]), &strings(&["MKNOD", "CAP_NET_RAW"]))
                .unwrap();
        assert_eq!(caps.len(), 14);
        assert!(caps.contains(&12) && caps.contains(&SYS_PTRACE));
        assert!(!caps.contains(&parse("MKNOD").unwrap()) && !caps.contains(&parse("NET_RAW").unwrap()));
        // Adding one already present and dropping one absent change nothing.
        assert_eq!(
            resolve(&dd(), &strings(&["CHOWN"]), &strings(&["SYS_ADMIN"])).unwrap(),
            resolve(&dd(), &[], &[]).unwrap()
        );
        // Docker drops first, then adds: the add wins.
        assert!(resolve(&dd(), &strings(&["KILL"]), &strings(&["KILL"])).unwrap().contains(&5));
    }

    #[test]
    fn resolve_all() {
        let all = resolve(&dd(), &strings(&["ALL"]), &[]).unwrap();
        assert_eq!(all, (0..=LAST).collect::<Vec<_>>());
        let all_but = resolve(&dd(), &strings(&["all"]), &strings(&["SYS_ADMIN"])).unwrap();
        assert_eq!(all_but.len(), 40);
        assert!(!all_but.contains(&SYS_ADMIN));
        assert_eq!(resolve(&dd(), &[], &strings(&["ALL"])).unwrap(), Vec::<u32>::new());
        assert_eq!(
            resolve(&dd(), &strings(&["NET_ADMIN", "CHOWN"]), &strings(&["ALL"])).unwrap(),
            vec![0, 12]
        );
        // As in Docker, adding ALL wins over dropping ALL.
        assert_eq!(resolve(&dd(), &strings(&["ALL"]), &strings(&["ALL"])).unwrap().len(), 41);
    }

    #[test]
    fn resolve_rejects_unknown() {
        for (add, drop) in [(vec!["FOO"], vec![]), (vec![], vec!["CAP_BAR"]), (vec!["ALL"], vec!["NOPE"])] {
            let e = resolve(&dd(), &strings(&add), &strings(&drop)).unwrap_err();
            assert_eq!(e.kind, super::super::error::Kind::Invalid);
            assert!(e.message.starts_with("unknown capability \""), "{}", e.message);
        }
    }

    /// The CapInh/CapPrm/CapEff/CapBnd/CapAmb masks from /proc/self/status, read without allocating.
    fn status_caps() -> Option<[u64; 5]> {
        let mut buf = [0u8; 8192];
        let n = unsafe {
            let fd = libc::open(c"/proc/self/status".as_ptr(), libc::O_RDONLY);
            if fd < 0 {
                return None;
            }
            let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
            libc::close(fd);
            n
        };
        let text = std::str::from_utf8(buf.get(..usize::try_from(n).ok()?)?).ok()?;
        let mut out = [u64::MAX; 5];
        for line in text.lines() {
            let Some((key, val)) = line.split_once(':') else { continue };
            let i = match key {
                "CapInh" => 0,
                "CapPrm" => 1,
                "CapEff" => 2,
                "CapBnd" => 3,
                "CapAmb" => 4,
                _ => continue,
            };
            out[i] = u64::from_str_radix(val.trim(), 16).ok()?;
        }
        if out.contains(&u64::MAX) { None } else { Some(out) }
    }

    /// Fork, apply `keep` in the child and check its status against `expect`
    /// (inheritable = permitted = effective = bounding; ambient empty).
    fn apply_in_child(keep: &[u32], expect: u64) {
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code = match apply(&Sets::keep(keep), || Ok(())) {
                    Err(_) => 2,
                    Ok(()) => match status_caps() {
                        None => 3,
                        Some([inh, prm, eff, bnd, amb]) => {
                            if inh != 0 {
                                10
                            } else if prm != expect {
                                11
                            } else if eff != expect {
                                12
                            } else if bnd != expect {
                                13
                            } else if amb != 0 {
                                14
                            } else {
                                0
                            }
                        }
                    },
                };
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                let status = waitpid(child, None).expect("waitpid");
                assert_eq!(status, WaitStatus::Exited(child, 0), "apply({keep:?}) in the child");
            }
        }
    }

    fn is_root() -> bool {
        if nix::unistd::geteuid().is_root() {
            return true;
        }
        eprintln!("skipped: needs root");
        false
    }

    #[test]
    fn apply_small_set_in_child() {
        if !is_root() {
            return;
        }
        let keep = [0, 5, 10]; // CHOWN, KILL, NET_BIND_SERVICE
        apply_in_child(&keep, 1 | 1 << 5 | 1 << 10);
    }

    #[test]
    fn apply_default_and_empty_in_child() {
        if !is_root() {
            return;
        }
        let default = resolve(&dd(), &[], &[]).unwrap();
        let mask = default.iter().fold(0u64, |m, &c| m | 1 << c);
        apply_in_child(&default, mask);
        apply_in_child(&[], 0);
    }

    #[test]
    fn apply_all_keeps_what_we_hold() {
        if !is_root() {
            return;
        }
        // Everything we hold (a sandbox may withhold some capabilities from us).
        let held = permitted().unwrap() & ((1u64 << (kernel_last_cap().min(LAST) + 1)) - 1);
        apply_in_child(&resolve(&dd(), &strings(&["ALL"]), &[]).unwrap(), held);
    }

    #[test]
    fn apply_rejects_out_of_range() {
        assert_eq!(
            apply(&Sets::keep(&[64]), || Ok(())).unwrap_err().kind,
            super::super::error::Kind::Invalid
        );
    }
}
