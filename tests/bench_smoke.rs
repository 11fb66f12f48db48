//! A few iterations of the side-by-side benchmark, so it cannot rot. Not a
//! timed test: it checks the benchmark runs and cleans up, never how fast.

mod common;
use common::*;

#[test]
fn benchmark_smoke() {
    let bridge_before = std::path::Path::new("/sys/class/net/mydocker0").exists();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/compare.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .arg("--quick")
        .env("MYDOCKER_BIN", BIN)
        .output()
        .expect("run benches/compare.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "benches/compare.sh --quick failed\n{stdout}\n{stderr}");
    for section in [
        "full lifecycle of `true`",
        "exec `true` in a running container",
        "ps with 1 running container",
        "run --rm true with 0, 1 and 10 read-only bind mounts",
        "cp of a 32 MiB tree into a running container vs tar | tar on the host (the floor)",
    ] {
        assert!(stdout.contains(&format!("== {section}")), "missing {section:?} in\n{stdout}");
    }
    // The ops that are not about networking leave the host's network alone.
    if !bridge_before {
        assert!(
            !std::path::Path::new("/sys/class/net/mydocker0").exists(),
            "the bench made mydocker0 on the host"
        );
    }
    // mydocker itself ran and was measured in every table.
    let rows = stdout.lines().filter(|l| l.starts_with("mydocker ") && l.contains("1.00x")).count();
    assert!(rows >= 3, "{stdout}");
}
