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
}
