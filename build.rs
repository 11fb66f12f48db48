// The per-container monitor (src/bin/mydocker-monitor.rs) brings its own entry
// point and makes raw system calls: link it with no C runtime, statically.
fn main() {
    for arg in ["-nostartfiles", "-nostdlib", "-static", "-no-pie"] {
        println!("cargo:rustc-link-arg-bin=mydocker-monitor={arg}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
