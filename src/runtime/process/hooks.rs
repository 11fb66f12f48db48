//! The spec's hooks: programs run at points of the lifecycle with the
//! container's state (JSON) on stdin. The runtime's own (prestart,
//! createRuntime, poststart, poststop) run in its namespaces; createContainer
//! and startContainer in the container's, from the init.

use super::Launch;
use crate::runtime::error::{Error, Result};
use crate::runtime::spec::{Hook, Spec};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The state a hook reads on stdin (runtime-spec's `state`).
pub fn state_json(spec: &Spec, launch: &Launch, status: &str, pid: i32) -> String {
    serde_json::json!({
        "ociVersion": if spec.oci_version.is_empty() { "1.0.2" } else { spec.oci_version.as_str() },
        "id": launch.id,
        "status": status,
        "pid": pid,
        "bundle": launch.bundle,
        "annotations": spec.annotations,
    })
    .to_string()
}

/// Run `hooks` in order; the first that fails (or outlives its timeout)
/// stops the rest, and its error names the kind, the index and the output.
pub fn run_hooks(kind: &str, hooks: &[Hook], state: &str) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        run_one(h, state)
            .map_err(|e| Error::os(format!("error running {kind} hook #{i} ({}): {}", h.path, e.message)))?;
    }
    Ok(())
}

fn run_one(h: &Hook, state: &str) -> Result<()> {
    let mut cmd = Command::new(&h.path);
    if h.args.len() > 1 {
        cmd.args(&h.args[1..]);
    }
    if let Some(arg0) = h.args.first() {
        std::os::unix::process::CommandExt::arg0(&mut cmd, arg0);
    }
    cmd.env_clear();
    for kv in &h.env {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| Error::os(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its state is no error.
        let _ = stdin.write_all(state.as_bytes());
    }
    let deadline = h.timeout.filter(|t| *t > 0).map(|t| Instant::now() + Duration::from_secs(t as u64));
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) => {}
            Err(e) => return Err(Error::os(format!("wait: {e}"))),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::os(format!("timed out after {} s", h.timeout.unwrap_or(0))));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let out = child.wait_with_output().map_err(|e| Error::os(format!("wait: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::os(format!(
        "{}, stdout: {}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_get_the_state_and_failures_say_which() {
        let tmp = tempfile::tempdir().expect("tmp");
        let out = tmp.path().join("state");
        let ok = Hook {
            path: "/bin/sh".into(),
            args: vec!["sh".into(), "-c".into(), format!("cat > {}", out.display())],
            env: vec![],
            timeout: None,
        };
        let bad = Hook {
            path: "/bin/sh".into(),
            args: vec!["sh".into(), "-c".into(), "echo no >&2; exit 3".into()],
            env: vec![],
            timeout: None,
        };
        let slow = Hook {
            path: "/bin/sh".into(),
            args: vec!["sh".into(), "-c".into(), "sleep 5".into()],
            env: vec![],
            timeout: Some(1),
        };
        run_hooks("poststart", std::slice::from_ref(&ok), r#"{"id":"x"}"#).expect("ok");
        assert_eq!(std::fs::read_to_string(&out).expect("state"), r#"{"id":"x"}"#);
        let e = run_hooks("poststart", &[ok.clone(), bad], "{}").expect_err("bad");
        assert!(e.message.contains("poststart hook #1") && e.message.contains("stderr: no"), "{}", e.message);
        let e = run_hooks("createRuntime", &[slow], "{}").expect_err("slow");
        assert!(e.message.contains("timed out"), "{}", e.message);
    }
}
