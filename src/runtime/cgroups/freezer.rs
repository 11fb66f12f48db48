//! Pausing a cgroup's processes: v1's freezer controller (`freezer.state`)
//! or v2's `cgroup.freeze`, waiting until the kernel says every task stopped.

use super::{read_trimmed, write};
use crate::runtime::error::{Error, Result};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a freeze may take before it is given up (and undone).
const FREEZE_TIMEOUT: Duration = Duration::from_secs(10);

/// What `state` says, as `runc state` and `ps` name it.
pub fn state_name(paused: bool, settled: bool) -> &'static str {
    match (paused, settled) {
        (false, _) => "running",
        (true, true) => "paused",
        (true, false) => "pausing",
    }
}

/// Freeze the v1 cgroup at `dir`. A task in an uninterruptible wait (a vfork
/// parent) can keep the cgroup FREEZING: the request is repeated, and now and
/// then thawed and made again, which gets it through (runc's remedy).
pub fn freeze_v1(dir: &Path) -> Result<()> {
    let file = dir.join("freezer.state");
    let deadline = Instant::now() + FREEZE_TIMEOUT;
    for attempt in 0u32.. {
        if attempt % 50 == 49 {
            write(&file, "THAWED")?;
            std::thread::sleep(Duration::from_millis(10));
        }
        write(&file, "FROZEN")?;
        if attempt % 25 == 24 {
            std::thread::sleep(Duration::from_millis(10));
        }
        match read_trimmed(&file)?.as_str() {
            "FROZEN" => return Ok(()),
            "FREEZING" if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
            "FREEZING" => break,
            other => return Err(Error::os(format!("{}: unexpected state {other:?}", file.display()))),
        }
    }
    let _ = write(&file, "THAWED");
    Err(Error::os(format!("freeze {}: still FREEZING after {FREEZE_TIMEOUT:?}; thawed again", dir.display())))
}

pub fn thaw_v1(dir: &Path) -> Result<()> {
    let file = dir.join("freezer.state");
    write(&file, "THAWED")?;
    match read_trimmed(&file)?.as_str() {
        "THAWED" => Ok(()),
        // A frozen parent keeps it frozen: say so rather than pretend.
        other => Err(Error::os(format!("thaw {}: it is still {other} (a frozen parent?)", dir.display()))),
    }
}

pub fn state_v1(dir: &Path) -> Result<&'static str> {
    let file = dir.join("freezer.state");
    match read_trimmed(&file)?.as_str() {
        "THAWED" => Ok(state_name(false, true)),
        "FROZEN" => Ok(state_name(true, true)),
        "FREEZING" => Ok(state_name(true, false)),
        other => Err(Error::os(format!("{}: unexpected state {other:?}", file.display()))),
    }
}

/// `frozen` from a v2 cgroup's `cgroup.events`.
fn frozen_v2(dir: &Path) -> Result<bool> {
    let events = read_trimmed(&dir.join("cgroup.events"))?;
    Ok(events.lines().any(|l| l.trim() == "frozen 1"))
}

/// Write `cgroup.freeze` and wait until `cgroup.events` agrees.
fn set_v2(dir: &Path, freeze: bool) -> Result<()> {
    write(&dir.join("cgroup.freeze"), if freeze { "1" } else { "0" })?;
    let deadline = Instant::now() + FREEZE_TIMEOUT;
    let mut pause = Duration::from_micros(200);
    while frozen_v2(dir)? != freeze {
        if Instant::now() > deadline {
            if freeze {
                let _ = write(&dir.join("cgroup.freeze"), "0");
            }
            let what = if freeze { "freeze" } else { "thaw" };
            return Err(Error::os(format!("{what} {}: not done after {FREEZE_TIMEOUT:?}", dir.display())));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
    Ok(())
}

pub fn freeze_v2(dir: &Path) -> Result<()> {
    set_v2(dir, true)
}

pub fn thaw_v2(dir: &Path) -> Result<()> {
    set_v2(dir, false)
}

pub fn state_v2(dir: &Path) -> Result<&'static str> {
    let wanted = read_trimmed(&dir.join("cgroup.freeze"))? == "1";
    Ok(state_name(wanted, !wanted || frozen_v2(dir)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// v2's files in a temp dir: the "kernel" has frozen when the events say so.
    #[test]
    fn v2_state_from_files() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("cgroup.freeze"), "0\n").unwrap();
        fs::write(d.path().join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        assert_eq!(state_v2(d.path()).unwrap(), "running");
        fs::write(d.path().join("cgroup.freeze"), "1\n").unwrap();
        assert_eq!(state_v2(d.path()).unwrap(), "pausing");
        fs::write(d.path().join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        assert_eq!(state_v2(d.path()).unwrap(), "paused");
        // A plain file takes the write; the events already say frozen.
        freeze_v2(d.path()).unwrap();
        assert_eq!(fs::read_to_string(d.path().join("cgroup.freeze")).unwrap(), "1");
    }

    #[test]
    fn v1_state_from_files() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("freezer.state");
        for (text, want) in [("THAWED\n", "running"), ("FREEZING\n", "pausing"), ("FROZEN\n", "paused")] {
            fs::write(&f, text).unwrap();
            assert_eq!(state_v1(d.path()).unwrap(), want);
        }
        fs::write(&f, "WEIRD").unwrap();
        assert!(state_v1(d.path()).unwrap_err().message.contains("WEIRD"));
        // A plain file reads back what was written: FROZEN at once.
        freeze_v1(d.path()).unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "FROZEN");
        thaw_v1(d.path()).unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "THAWED");
    }
}
