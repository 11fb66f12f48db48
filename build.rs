// The per-container monitor (src/bin/mydocker-monitor.rs) brings its own entry
// point and makes raw system calls: link it with no C runtime, statically.
//
// The same program is also compiled here into OUT_DIR and embedded in
// mydocker as its exec trampoline (runtime::exec_helper): a security
// measure must not depend on a file beside the binary being present.
use std::path::PathBuf;
use std::process::Command;

const LINK_ARGS: [&str; 4] = ["-nostartfiles", "-nostdlib", "-static", "-no-pie"];
const SOURCE: &str = "src/bin/mydocker-monitor.rs";

fn main() {
    for arg in LINK_ARGS {
        println!("cargo:rustc-link-arg-bin=mydocker-monitor={arg}");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("mydocker-exec");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    let mut cmd = Command::new(rustc);
    cmd.args(["--edition=2024", "--crate-type=bin", "--crate-name=mydocker_exec", "--target", &target]);
    cmd.args([
        "-C",
        "panic=abort",
        "-C",
        "opt-level=s",
        "-C",
        "relocation-model=static",
        "-C",
        "strip=symbols",
    ]);
    for arg in LINK_ARGS {
        cmd.arg("-C").arg(format!("link-arg={arg}"));
    }
    cmd.arg("-o").arg(&out).arg(SOURCE);
    let status = cmd.status().expect("run rustc for the exec trampoline");
    assert!(status.success(), "compiling {SOURCE} as the exec trampoline failed");
    println!("cargo:rerun-if-changed={SOURCE}");
    println!("cargo:rerun-if-changed=src/runtime/log_split.rs");
    println!("cargo:rerun-if-changed=build.rs");
    version_facts();
}

/// What `mydocker version` reports of its build: the compiler, the Rhai
/// crate (from Cargo.lock) and the git commit, when there is one.
fn version_facts() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = |cmd: &mut Command| {
        cmd.output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let rustc_version = out(Command::new(rustc).arg("--version"));
    println!("cargo:rustc-env=MYDOCKER_RUSTC={rustc_version}");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let mut lines = lock.lines();
    let mut rhai = String::new();
    while let Some(l) = lines.next() {
        if l == "name = \"rhai\"" {
            rhai = lines
                .next()
                .and_then(|v| v.strip_prefix("version = "))
                .unwrap_or("")
                .trim_matches('"')
                .to_string();
            break;
        }
    }
    println!("cargo:rustc-env=MYDOCKER_RHAI={rhai}");
    let commit = out(Command::new("git").args(["rev-parse", "--short=12", "HEAD"]));
    println!("cargo:rustc-env=MYDOCKER_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}
