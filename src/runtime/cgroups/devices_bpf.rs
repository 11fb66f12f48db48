//! The cgroup v2 device filter: cgroup v2 has no devices controller, so access
//! to device nodes is decided by a BPF_PROG_TYPE_CGROUP_DEVICE program attached
//! to the cgroup. It is built here from the same rules v1 writes to
//! `devices.allow` ("c 1:3 rwm", "b *:* m", "a"): allow what a rule matches,
//! deny the rest.

use crate::runtime::error::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// One allow rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// `Some(1)` block, `Some(2)` char (BPF_DEVCG_DEV_*), `None` both.
    dev_type: Option<u32>,
    major: Option<u32>,
    minor: Option<u32>,
    /// BPF_DEVCG_ACC_*: mknod 1, read 2, write 4.
    access: u32,
}

fn number(s: &str, rule: &str) -> Result<Option<u32>> {
    if s == "*" {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| Error::invalid(format!("bad device rule {rule:?}")))
}

/// Parse a v1-style rule: `TYPE MAJOR:MINOR ACCESS`, or `a` for everything.
pub fn parse_rule(rule: &str) -> Result<Rule> {
    let bad = || Error::invalid(format!("bad device rule {rule:?}: use e.g. \"c 1:3 rwm\""));
    let mut parts = rule.split_whitespace();
    let dev_type = match parts.next() {
        Some("a") => return Ok(Rule { dev_type: None, major: None, minor: None, access: 7 }),
        Some("b") => Some(1),
        Some("c") => Some(2),
        _ => return Err(bad()),
    };
    let (major, minor) = parts.next().and_then(|n| n.split_once(':')).ok_or_else(bad)?;
    let mut access = 0;
    for ch in parts.next().ok_or_else(bad)?.chars() {
        access |= match ch {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => return Err(bad()),
        };
    }
    Ok(Rule { dev_type, major: number(major, rule)?, minor: number(minor, rule)?, access })
}

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
/// rule a block that returns 1 when everything matches and jumps past itself
/// otherwise; 0 at the end.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(MOV64_REG, 3, 2, 0, 0),
        insn(AND64_IMM, 2, 0, 0, 0xffff),
        insn(RSH64_IMM, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules {
        // Each check is a "jump if not equal" to the end of the block; the
        // offsets are filled in once the block's length is known.
        let mut block: Vec<Insn> = Vec::new();
        if let Some(t) = r.dev_type {
            block.push(insn(JNE_IMM, 2, 0, 0, t as i32));
        }
        if r.access != 7 {
            // Asked-for access must be a subset of the rule's.
            block.push(insn(MOV64_REG, 6, 3, 0, 0));
            block.push(insn(AND64_IMM, 6, 0, 0, !(r.access as i32) & 7));
            block.push(insn(JNE_IMM, 6, 0, 0, 0));
        }
        if let Some(m) = r.major {
            block.push(insn(JNE_IMM, 4, 0, 0, m as i32));
        }
        if let Some(m) = r.minor {
            block.push(insn(JNE_IMM, 5, 0, 0, m as i32));
        }
        block.push(insn(MOV64_IMM, 0, 0, 0, 1));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JNE_IMM {
                ins.off = (len - i - 1) as i16;
            }
        }
        p.extend(block);
    }
    p.push(insn(MOV64_IMM, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
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

/// Load the filter for `rules` and attach it to the v2 cgroup at `dir`. The
/// cgroup keeps the program; it goes when the cgroup is removed.
pub fn attach(dir: &Path, rules: &[String]) -> Result<()> {
    let rules = rules.iter().map(|r| parse_rule(r)).collect::<Result<Vec<_>>>()?;
    let prog = program(&rules);
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
    let mut attr = [0u8; 128];
    put(&mut attr, 0, &(cgroup.as_raw_fd() as u32).to_ne_bytes());
    put(&mut attr, 4, &(prog_fd.as_raw_fd() as u32).to_ne_bytes());
    put(&mut attr, 8, &BPF_CGROUP_DEVICE.to_ne_bytes());
    put(&mut attr, 12, &BPF_F_ALLOW_MULTI.to_ne_bytes());
    bpf(BPF_PROG_ATTACH, &mut attr)
        .map_err(|e| Error::os(format!("attach the device filter to {}: {}", dir.display(), e.desc())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse() {
        assert_eq!(
            parse_rule("c 1:3 rwm").unwrap(),
            Rule { dev_type: Some(2), major: Some(1), minor: Some(3), access: 7 }
        );
        assert_eq!(
            parse_rule("b *:* m").unwrap(),
            Rule { dev_type: Some(1), major: None, minor: None, access: 1 }
        );
        assert_eq!(parse_rule("c 136:* rw").unwrap().minor, None);
        assert_eq!(parse_rule("a").unwrap().dev_type, None);
        for bad in ["", "x 1:3 r", "c 1 r", "c 1:3 q", "c a:3 r"] {
            assert!(parse_rule(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn jumps_land_on_the_next_block() {
        let p = program(&[parse_rule("c 1:3 rw").unwrap()]);
        // header 6, block: type, mov, and, jne, major, minor, mov, exit = 8, tail 2
        assert_eq!(p.len(), 16);
        let first_jump = &p[6];
        assert_eq!(first_jump.code, JNE_IMM);
        assert_eq!(6 + 1 + first_jump.off as usize, 14, "skips to the final deny");
    }

    /// For real on this host's cgroup2 mount: a process in a cgroup whose filter
    /// allows only /dev/null cannot open /dev/zero.
    #[test]
    fn filter_denies_other_devices_for_real() {
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
        attach(&dir, &["c 1:3 rwm".to_string()]).unwrap();
        let procs = dir.join("cgroup.procs");
        let script = format!(
            "echo $$ > {}; echo ok > /dev/null && echo NULL_OK; head -c1 /dev/zero >/dev/null && echo ZERO_OK; true",
            procs.display()
        );
        let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let _ = std::fs::remove_dir(&dir);
        assert!(stdout.contains("NULL_OK"), "{stdout}");
        assert!(!stdout.contains("ZERO_OK"), "/dev/zero must be denied: {stdout}");
    }
}
