//! Seccomp profiles: the embedded default (Docker's, as JSON) and
//! `--security-opt seccomp=FILE.json`, for `run` and `exec`.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Calls io_uring_setup(0, NULL), io_uring_enter(-1, …) and io_uring_register(-1, …)
/// and prints the three errnos. Past seccomp the kernel rejects the bad arguments
/// (EFAULT, EBADF, EINVAL here; setup may be EPERM where the host disables
/// io_uring, so only enter and register tell); seccomp's answer is EPERM.
const IO_URING_PROBE: &str = r#"
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
static int err(long r) { return r < 0 ? errno : 0; }
int main(void) {
    int setup = err(syscall(425, 0L, 0L));
    int enter = err(syscall(426, -1L, 0L, 0L, 0L, 0L, 0L));
    int reg = err(syscall(427, -1L, 0L, 0L, 0L));
    printf("%d %d %d\n", setup, enter, reg);
    return 0;
}
"#;

/// An image `name` with busybox plus the io_uring probe at /probe.
fn image_with_probe(env: &Env, name: &str) {
    env.ok(&["run", "--rm", "true"]); // builds the busybox image
    let dir = env.data.path().join("probe-src");
    std::fs::create_dir_all(&dir).expect("mkdir probe-src");
    std::fs::write(dir.join("probe.c"), IO_URING_PROBE).expect("write probe.c");
    let st = Command::new("cc")
        .args(["-static", "-O", "-o"])
        .arg(dir.join("probe"))
        .arg(dir.join("probe.c"))
        .status()
        .expect("run cc");
    assert!(st.success(), "cc -static probe.c (needs gcc and libc6-dev)");
    let tarball = dir.join("image.tar");
    let st = Command::new("tar")
        .arg("-cf")
        .arg(&tarball)
        .arg("-C")
        .arg(env.image_root("busybox"))
        .arg(".")
        .arg("-C")
        .arg(&dir)
        .arg("probe")
        .status()
        .expect("tar");
    assert!(st.success());
    env.ok(&["image", "import", tarball.to_str().unwrap_or(""), name]);
}

fn errnos(out: &str) -> Vec<i32> {
    out.split_whitespace().filter_map(|w| w.parse().ok()).collect()
}

#[test]
fn io_uring_is_denied_by_the_default_profile() {
    let env = Env::new();
    image_with_probe(&env, "probe");
    let eperm = libc::EPERM;
    let out = env.ok(&["run", "--rm", "probe", "/probe"]);
    assert_eq!(errnos(&out), vec![eperm, eperm, eperm], "io_uring_setup/enter/register: {out}");
    // The same binary gets past seccomp when unconfined: enter and register reach the kernel.
    let out = env.ok(&["run", "--rm", "--security-opt", "seccomp=unconfined", "probe", "/probe"]);
    let e = errnos(&out);
    assert_eq!(e.len(), 3, "{out}");
    assert!(e[1] != eperm && e[1] != 0 && e[2] != eperm && e[2] != 0, "unconfined: {out}");
    // And in exec.
    env.ok(&["run", "-d", "--name", "p", "probe", "sleep", "100"]);
    let out = env.ok(&["exec", "p", "/probe"]);
    assert_eq!(errnos(&out), vec![eperm, eperm, eperm], "exec: {out}");
    env.finish();
}

fn write_profile(dir: &Path, name: &str, json: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, json).expect("write profile");
    p
}

/// Everything allowed except mkdir/mkdirat, which fail with ENOSPC (an errno
/// nothing else would give here).
const NO_MKDIR: &str = r#"{
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [
        { "names": ["mkdir", "mkdirat", "no_such_syscall_anywhere"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28 }
    ]
}"#;

#[test]
fn a_profile_file_confines_run_and_exec() {
    let env = Env::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = write_profile(dir.path(), "no-mkdir.json", NO_MKDIR);
    let opt = format!("seccomp={}", profile.display());
    env.ok(&["run", "--rm", "mkdir", "/x"]);
    let o = env.fails(&["run", "--rm", "--security-opt", &opt, "mkdir", "/x"]);
    assert!(o.stderr.contains("No space left on device"), "{}", o.stderr);
    // Docker's other spelling; everything else still works (the default allows).
    let colon = format!("seccomp:{}", profile.display());
    let out =
        env.ok(&["run", "--rm", "--security-opt", &colon, "sh", "-c", "uname -s; unshare -U true && echo U"]);
    assert_eq!(out, "Linux\nU\n", "only mkdir is denied by this profile");

    // exec gets the container's profile, even once the file has changed.
    env.ok(&["run", "-d", "--name", "c", "--security-opt", &opt, "sleep", "100"]);
    std::fs::write(&profile, "not json").expect("overwrite profile");
    let o = env.fails(&["exec", "c", "mkdir", "/y"]);
    assert!(o.stderr.contains("No space left on device"), "exec: {}", o.stderr);
    std::fs::remove_file(&profile).expect("remove profile");
    let st = env.ok(&["exec", "c", "cat", "/proc/self/status"]);
    assert_eq!(status_field(&st, "Seccomp"), "2");
    env.ok(&["exec", "c", "unshare", "-U", "true"]);
    env.finish();
}

#[test]
fn a_bad_profile_is_one_line_and_creates_nothing() {
    let env = Env::new();
    env.ok(&["run", "--rm", "true"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("action.json", r#"{"defaultAction":"SCMP_ACT_FOO"}"#, r#"unknown action "SCMP_ACT_FOO""#),
        (
            "op.json",
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_ABOUT"}]}]}"#,
            r#"unknown operator "SCMP_CMP_ABOUT""#,
        ),
        (
            "index.json",
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
            "argument index 6",
        ),
        ("syntax.json", "{\"defaultAction\": ", "line 1"),
        ("type.json", r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":"read"}]}"#, "invalid type"),
    ];
    for (file, json, problem) in cases {
        let p = write_profile(dir.path(), file, json);
        let opt = format!("seccomp={}", p.display());
        let o = env.fails(&["run", "--rm", "--name", "bad", "--security-opt", &opt, "true"]);
        assert_eq!(o.code, 125, "{file}: {}", o.stderr);
        let want = format!("mydocker: --security-opt {opt}: ");
        assert!(o.stderr.starts_with(&want), "{file}: names the option and file: {}", o.stderr);
        assert!(o.stderr.contains(problem), "{file}: names the problem ({problem}): {}", o.stderr);
        assert_eq!(o.stderr.trim_end().lines().count(), 1, "{file}: one line: {}", o.stderr);
        env.assert_clean();
    }
    let o = env.fails(&["run", "--rm", "--security-opt", "seccomp=/nonexistent/p.json", "true"]);
    assert!(o.stderr.contains("seccomp=/nonexistent/p.json: "), "{}", o.stderr);
    assert_eq!(o.stderr.trim_end().lines().count(), 1, "{}", o.stderr);
    assert!(env.ps_json().is_empty());
    env.finish();
}
