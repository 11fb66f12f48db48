//! The cgroup v2 device filter: cgroup v2 has no devices controller, so access
//! to device nodes is decided by a BPF_PROG_TYPE_CGROUP_DEVICE program attached
//! to the cgroup. It is built from the OCI device rules folded as cgroup v1
//! folds them (`resources::device_access`): a default, and exceptions that
//! say the opposite.

use super::resources::{DeviceAccess, DeviceRule, LinuxDeviceCgroup, device_access};
use crate::runtime::error::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// One eBPF instruction (struct bpf_insn).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: (src << 4) | dst, off, imm }
}

// Opcodes (linux/bpf.h).
const LDX_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const MOV64_REG: u8 = 0xbf;
const MOV64_IMM: u8 = 0xb7;
const AND64_IMM: u8 = 0x57;
const RSH64_IMM: u8 = 0x77;
const JNE_IMM: u8 = 0x55;
const EXIT: u8 = 0x95;

/// The program: r2 = type, r3 = access, r4 = major, r5 = minor (from struct
/// bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }), then per
/// exception a block that returns its verdict when everything matches and
/// jumps past itself otherwise; the default at the end.
pub fn program(acc: &DeviceAccess) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(MOV64_REG, 3, 2, 0, 0),
        insn(AND64_IMM, 2, 0, 0, 0xffff),
        insn(RSH64_IMM, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in &acc.exceptions {
        p.extend(block(r));
    }
    p.push(insn(MOV64_IMM, 0, 0, 0, i32::from(acc.default_allow)));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

/// One exception: each check is a "jump if not equal" to the end of the
/// block, filled in once the block's length is known.
fn block(r: &DeviceRule) -> Vec<Insn> {
    let mut block: Vec<Insn> = Vec::new();
    match r.dev_type {
        'b' => block.push(insn(JNE_IMM, 2, 0, 0, 1)),
        'c' => block.push(insn(JNE_IMM, 2, 0, 0, 2)),
        _ => {}
    }
    if r.access != 7 {
        // Asked-for access must be a subset of the rule's.
        block.push(insn(MOV64_REG, 6, 3, 0, 0));
        block.push(insn(AND64_IMM, 6, 0, 0, !i32::from(r.access) & 7));
        block.push(insn(JNE_IMM, 6, 0, 0, 0));
    }
    if let Some(m) = r.major {
        block.push(insn(JNE_IMM, 4, 0, 0, m as i32));
    }
    if let Some(m) = r.minor {
        block.push(insn(JNE_IMM, 5, 0, 0, m as i32));
    }
    block.push(insn(MOV64_IMM, 0, 0, 0, i32::from(r.allow)));
    block.push(insn(EXIT, 0, 0, 0, 0));
    let len = block.len();
    for (i, ins) in block.iter_mut().enumerate() {
        if ins.code == JNE_IMM {
            ins.off = (len - i - 1) as i16;
        }
    }
    block
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

fn bpf(cmd: libc::c_long, attr: &mut [u8; 128]) -> std::result::Result<i64, nix::errno::Errno> {
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len() as u32) };
    if r < 0 { Err(nix::errno::Errno::last()) } else { Ok(r) }
}

fn put(attr: &mut [u8; 128], offset: usize, bytes: &[u8]) {
    attr[offset..offset + bytes.len()].copy_from_slice(bytes);
}

const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_QUERY: libc::c_long = 16;

/// The ids of the device programs attached to the cgroup `cgroup` itself.
fn attached(cgroup: &std::fs::File, dir: &Path) -> Result<Vec<u32>> {
    let mut ids = [0u32; 64];
    let mut attr = [0u8; 128];
    put(&mut attr, 0, &(cgroup.as_raw_fd() as u32).to_ne_bytes());
    put(&mut attr, 4, &BPF_CGROUP_DEVICE.to_ne_bytes());
    put(&mut attr, 16, &(ids.as_mut_ptr() as u64).to_ne_bytes());
    put(&mut attr, 24, &(ids.len() as u32).to_ne_bytes());
    bpf(BPF_PROG_QUERY, &mut attr)
        .map_err(|e| Error::os(format!("query the device filters of {}: {}", dir.display(), e.desc())))?;
    let count = u32::from_ne_bytes([attr[24], attr[25], attr[26], attr[27]]) as usize;
    Ok(ids[..count.min(ids.len())].to_vec())
}

/// Load the filter for `rules` and attach it to the v2 cgroup at `dir`,
/// replacing any it had (an update): the new one is attached before the old
/// ones go, so no access is allowed in between that both would deny. The
/// cgroup keeps the program; it goes when the cgroup is removed.
pub fn attach(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let prog = program(&device_access(rules)?);
    let license = c"Apache-2.0";
    let mut attr = [0u8; 128];
    put(&mut attr, 0, &BPF_PROG_TYPE_CGROUP_DEVICE.to_ne_bytes());
    put(&mut attr, 4, &(prog.len() as u32).to_ne_bytes());
    put(&mut attr, 8, &(prog.as_ptr() as u64).to_ne_bytes());
    put(&mut attr, 16, &(license.as_ptr() as u64).to_ne_bytes());
    let fd = bpf(BPF_PROG_LOAD, &mut attr)
        .map_err(|e| Error::os(format!("load the device filter: {}", e.desc())))?;
    let prog_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let cgroup = std::fs::File::open(dir).map_err(|e| Error::os(format!("open {}: {e}", dir.display())))?;
    let old = attached(&cgroup, dir)?;
    let mut attr = [0u8; 128];
    put(&mut attr, 0, &(cgroup.as_raw_fd() as u32).to_ne_bytes());
    put(&mut attr, 4, &(prog_fd.as_raw_fd() as u32).to_ne_bytes());
    put(&mut attr, 8, &BPF_CGROUP_DEVICE.to_ne_bytes());
    put(&mut attr, 12, &BPF_F_ALLOW_MULTI.to_ne_bytes());
    bpf(BPF_PROG_ATTACH, &mut attr)
        .map_err(|e| Error::os(format!("attach the device filter to {}: {}", dir.display(), e.desc())))?;
    for id in old {
        let mut attr = [0u8; 128];
        put(&mut attr, 0, &id.to_ne_bytes());
        let Ok(old_fd) = bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) else {
            continue; // gone meanwhile
        };
        let old_fd = unsafe { OwnedFd::from_raw_fd(old_fd as i32) };
        let mut attr = [0u8; 128];
        put(&mut attr, 0, &(cgroup.as_raw_fd() as u32).to_ne_bytes());
        put(&mut attr, 4, &(old_fd.as_raw_fd() as u32).to_ne_bytes());
        put(&mut attr, 8, &BPF_CGROUP_DEVICE.to_ne_bytes());
        bpf(BPF_PROG_DETACH, &mut attr).map_err(|e| {
            Error::os(format!("detach the old device filter {id} from {}: {}", dir.display(), e.desc()))
        })?;
    }
    Ok(())
}

/// How many device filters the cgroup at `dir` has (tests).
#[cfg(test)]
pub fn count_attached(dir: &Path) -> Result<usize> {
    let cgroup = std::fs::File::open(dir).map_err(|e| Error::os(format!("open {}: {e}", dir.display())))?;
    Ok(attached(&cgroup, dir)?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(allow: bool, t: &str, major: Option<i64>, minor: Option<i64>, access: &str) -> LinuxDeviceCgroup {
        LinuxDeviceCgroup {
            allow,
            dev_type: Some(t.into()),
            major,
            minor,
            access: Some(access.into()),
            ..Default::default()
        }
    }

    fn deny_all() -> LinuxDeviceCgroup {
        LinuxDeviceCgroup { allow: false, ..Default::default() }
    }

    /// An interpreter for the instructions `program` emits.
    fn run(p: &[Insn], dev_type: u32, access: u32, major: u32, minor: u32) -> i64 {
        let mut r = [0i64; 11];
        let ctx = [dev_type | (access << 16), major, minor];
        let mut pc = 0;
        loop {
            let i = p[pc];
            let (dst, src) = (usize::from(i.regs & 0xf), usize::from(i.regs >> 4));
            pc += 1;
            match i.code {
                LDX_W => r[dst] = i64::from(ctx[(i.off / 4) as usize]),
                MOV64_REG => r[dst] = r[src],
                MOV64_IMM => r[dst] = i64::from(i.imm),
                AND64_IMM => r[dst] &= i64::from(i.imm),
                RSH64_IMM => r[dst] >>= i.imm,
                JNE_IMM => {
                    if r[dst] != i64::from(i.imm) {
                        pc += i.off as usize;
                    }
                }
                EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    const BLOCK: u32 = 1;
    const CHAR: u32 = 2;
    const M: u32 = 1;
    const R: u32 = 2;
    const W: u32 = 4;

    #[test]
    fn program_decides_as_the_folded_rules() {
        let acc = device_access(&[
            deny_all(),
            rule(true, "c", Some(1), Some(3), "rw"),
            rule(true, "c", Some(136), None, "rwm"),
        ])
        .unwrap();
        let p = program(&acc);
        assert_eq!(run(&p, CHAR, R | W, 1, 3), 1, "/dev/null rw");
        assert_eq!(run(&p, CHAR, M, 1, 3), 0, "no mknod of /dev/null");
        assert_eq!(run(&p, BLOCK, R, 1, 3), 0, "a block device 1:3 is another device");
        assert_eq!(run(&p, CHAR, R, 1, 5), 0, "/dev/zero");
        assert_eq!(run(&p, CHAR, R | W | M, 136, 7), 1, "any pty");
        // An allow-all default with deny exceptions: a deny list.
        let acc = device_access(&[rule(false, "b", Some(8), None, "w"), rule(false, "c", None, None, "m")])
            .unwrap();
        let p = program(&acc);
        assert_eq!(run(&p, BLOCK, W, 8, 1), 0);
        assert_eq!(run(&p, BLOCK, R, 8, 1), 1);
        assert_eq!(run(&p, CHAR, M, 5, 0), 0);
        assert_eq!(run(&p, CHAR, R, 5, 0), 1);
        assert_eq!(run(&p, BLOCK, M, 7, 0), 1);
        // Nothing: allow everything (a new cgroup's state).
        assert_eq!(run(&program(&device_access(&[]).unwrap()), CHAR, R, 1, 1), 1);
    }

    #[test]
    fn jumps_land_on_the_next_block() {
        let p = program(&device_access(&[deny_all(), rule(true, "c", Some(1), Some(3), "rw")]).unwrap());
        // header 6, block: type, mov, and, jne, major, minor, mov, exit = 8, tail 2
        assert_eq!(p.len(), 16);
        let first_jump = &p[6];
        assert_eq!(first_jump.code, JNE_IMM);
        assert_eq!(6 + 1 + first_jump.off as usize, 14, "skips to the final deny");
    }

    /// For real on this host's cgroup2 mount: a process in a cgroup whose filter
    /// allows only /dev/null cannot open /dev/zero; an update replaces the
    /// filter (one attached), and then /dev/zero opens.
    #[test]
    fn filter_denies_other_devices_for_real_and_updates() {
        let Some(h) =
            super::super::Cgroups::detect().unwrap().hierarchies.into_iter().find(|h| h.version == 2)
        else {
            return;
        };
        if nix::unistd::geteuid().as_raw() != 0 {
            return;
        }
        let dir = h.mount.join(format!("mydocker-bpf-unit-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let probe = |dir: &Path| {
            let procs = dir.join("cgroup.procs");
            let script = format!(
                "echo $$ > {}; echo ok > /dev/null && echo NULL_OK; head -c1 /dev/zero >/dev/null && echo ZERO_OK; true",
                procs.display()
            );
            let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let null_only = [deny_all(), rule(true, "c", Some(1), Some(3), "rwm")];
        let first = attach(&dir, &null_only).and_then(|_| count_attached(&dir));
        let before = probe(&dir);
        let with_zero =
            [deny_all(), rule(true, "c", Some(1), Some(3), "rwm"), rule(true, "c", Some(1), Some(5), "r")];
        let second = attach(&dir, &with_zero).and_then(|_| count_attached(&dir));
        let after = probe(&dir);
        let _ = std::fs::remove_dir(&dir);
        assert_eq!(first.unwrap(), 1);
        assert!(before.contains("NULL_OK"), "{before}");
        assert!(!before.contains("ZERO_OK"), "/dev/zero must be denied: {before}");
        assert_eq!(second.unwrap(), 1, "the old filter is detached");
        assert!(after.contains("NULL_OK") && after.contains("ZERO_OK"), "{after}");
    }
}
