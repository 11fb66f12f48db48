//! The events journal: what `mydocker events` shows without a daemon to keep
//! events in memory. Every command appends one JSON line per lifecycle event
//! (Docker's event shape: Type, Action, Actor{ID, Attributes}, time,
//! timeNano) to `<root>/.events.log`; the state root is the tmpfs /run, so
//! the journal, like Docker's, does not outlive a reboot.
//!
//! - An event is one `write` on an `O_APPEND` file: concurrent writers never
//!   interleave inside a line, and a killed writer leaves a whole line or
//!   none (a torn last line is skipped by readers).
//! - The journal is capped: past `MAX_BYTES` the writer that notices renames
//!   it to `.events.log.1` (under an flock, so one rotation happens) and the
//!   next event begins a new file. Readers read `.1` first.
//! - Recording an event never fails a command: the caller logs and goes on.

use super::error::{Error, Result};
use nix::fcntl::{Flock, FlockArg};
use serde_json::{Map, Value, json};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const JOURNAL: &str = ".events.log";
const MAX_BYTES: u64 = 1 << 20;

fn journal(root: &Path) -> PathBuf {
    root.join(JOURNAL)
}

fn rotated(root: &Path) -> PathBuf {
    root.join(format!("{JOURNAL}.1"))
}

/// One event as Docker's API spells it, with the legacy `status`/`id`/`from`
/// of container events.
pub fn event(typ: &str, action: &str, id: &str, attributes: Map<String, Value>, now_ns: i64) -> Value {
    let mut e = json!({
        "Type": typ,
        "Action": action,
        "Actor": {"ID": id, "Attributes": attributes},
        "scope": "local",
        "time": now_ns.div_euclid(1_000_000_000),
        "timeNano": now_ns,
    });
    if typ == "container"
        && let Some(m) = e.as_object_mut()
    {
        let image = m["Actor"]["Attributes"].get("image").cloned().unwrap_or(Value::Null);
        m.insert("status".into(), action.into());
        m.insert("id".into(), id.into());
        if !image.is_null() {
            m.insert("from".into(), image);
        }
    }
    e
}

/// A container event from its record: Docker's attributes `name`, `image`
/// and the container's labels, then `extra` (`exitCode`, `signal`, …).
pub fn container(record: &Map<String, Value>, action: &str, extra: Map<String, Value>, now_ns: i64) -> Value {
    let text = |k: &str| record.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let mut attrs = Map::new();
    if let Some(labels) = record.get("labels").and_then(Value::as_object) {
        for (k, v) in labels {
            attrs.insert(k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()).into());
        }
    }
    attrs.insert("name".into(), text("name").into());
    attrs.insert("image".into(), text("image").into());
    for (k, v) in extra {
        attrs.insert(k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()).into());
    }
    event("container", action, &text("id"), attrs, now_ns)
}

/// Record `event` under `root`, or say why not: an event never fails a command.
pub fn record(root: &Path, event: &Value) {
    if let Err(e) = append(root, event) {
        log::warn!("event {} {} not recorded: {e}", event["Type"], event["Action"]);
    }
}

/// Append `event` to the journal under `root` (made if missing, 0600).
pub fn append(root: &Path, event: &Value) -> Result<()> {
    let path = journal(root);
    let mut line = serde_json::to_vec(event).map_err(|e| Error::os(format!("encode event: {e}")))?;
    line.push(b'\n');
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| Error::os(format!("open {}: {e}", path.display())))?;
    f.write_all(&line).map_err(|e| Error::os(format!("write {}: {e}", path.display())))?;
    if f.metadata().map(|m| m.len()).unwrap_or(0) > MAX_BYTES {
        rotate(root, &f);
    }
    Ok(())
}

/// Move a full journal aside, once: whoever holds the lock and still finds
/// the same big file at the path renames it.
fn rotate(root: &Path, written: &File) {
    let Ok(lock) = File::open(root) else { return };
    let Ok(_held) = Flock::lock(lock, FlockArg::LockExclusive) else { return };
    let (Ok(ours), Ok(now)) = (written.metadata(), fs::symlink_metadata(journal(root))) else { return };
    if ours.ino() == now.ino() && now.len() > MAX_BYTES {
        let _ = fs::rename(journal(root), rotated(root));
    }
}

/// Where a reader is: the journal file (by inode) and the offset read to.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cursor {
    pub ino: u64,
    pub offset: u64,
}

fn parse_lines(data: &[u8], out: &mut Vec<Value>) -> usize {
    // Only whole lines: a line still being written is read next time.
    let Some(end) = data.iter().rposition(|&b| b == b'\n') else { return 0 };
    for line in data[..end].split(|&b| b == b'\n') {
        if let Ok(v) = serde_json::from_slice::<Value>(line) {
            out.push(v);
        }
    }
    end + 1
}

fn read_from(path: &Path, offset: u64, out: &mut Vec<Value>) -> Result<Option<(u64, u64)>> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::os(format!("open {}: {e}", path.display()))),
    };
    let ino = f.metadata().map(|m| m.ino()).unwrap_or(0);
    f.seek(SeekFrom::Start(offset)).map_err(|e| Error::os(format!("seek {}: {e}", path.display())))?;
    let mut data = Vec::new();
    f.read_to_end(&mut data).map_err(|e| Error::os(format!("read {}: {e}", path.display())))?;
    let used = parse_lines(&data, out);
    Ok(Some((ino, offset + used as u64)))
}

/// Every event in the journal, oldest first.
pub fn all(root: &Path) -> Result<(Vec<Value>, Cursor)> {
    let mut out = Vec::new();
    read_from(&rotated(root), 0, &mut out)?;
    let cursor = match read_from(&journal(root), 0, &mut out)? {
        Some((ino, offset)) => Cursor { ino, offset },
        None => Cursor::default(),
    };
    Ok((out, cursor))
}

/// The end of the journal now: a follower starts here.
pub fn end(root: &Path) -> Cursor {
    match fs::metadata(journal(root)) {
        Ok(m) => Cursor { ino: m.ino(), offset: m.len() },
        Err(_) => Cursor::default(),
    }
}

/// The events appended since `cursor`, and the cursor after them. A journal
/// rotated meanwhile is finished from `.1` (when that is the file the cursor
/// was in) before the new one is read from its start.
pub fn since(root: &Path, cursor: Cursor) -> Result<(Vec<Value>, Cursor)> {
    let mut out = Vec::new();
    let current = fs::metadata(journal(root)).ok();
    if current.as_ref().is_some_and(|m| m.ino() == cursor.ino) {
        let (ino, offset) =
            read_from(&journal(root), cursor.offset, &mut out)?.unwrap_or((cursor.ino, cursor.offset));
        return Ok((out, Cursor { ino, offset }));
    }
    if cursor.ino != 0 && fs::metadata(rotated(root)).is_ok_and(|m| m.ino() == cursor.ino) {
        read_from(&rotated(root), cursor.offset, &mut out)?;
    }
    let cursor = match read_from(&journal(root), 0, &mut out)? {
        Some((ino, offset)) => Cursor { ino, offset },
        None => Cursor::default(),
    };
    Ok((out, cursor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: i64) -> Value {
        let mut a = Map::new();
        a.insert("name".into(), format!("c{n}").into());
        a.insert("image".into(), "busybox".into());
        event("container", "start", &format!("id{n}"), a, n)
    }

    #[test]
    fn events_have_dockers_shape() {
        let e = ev(1_500_000_000);
        assert_eq!(e["Type"], "container");
        assert_eq!(e["Action"], "start");
        assert_eq!(e["status"], "start");
        assert_eq!(e["from"], "busybox");
        assert_eq!(e["Actor"]["Attributes"]["name"], "c1500000000");
        assert_eq!(e["time"], 1);
        let v = event("volume", "create", "data", Map::new(), 0);
        assert!(v.get("status").is_none());
    }

    #[test]
    fn followers_see_appends_across_a_rotation() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        assert_eq!(all(root).expect("empty").0.len(), 0);
        append(root, &ev(1)).expect("append");
        let start = end(root);
        append(root, &ev(2)).expect("append");
        let (got, c) = since(root, start).expect("since");
        assert_eq!(got, vec![ev(2)]);
        // A torn last line is not read until it is whole.
        let mut f = OpenOptions::new().append(true).open(journal(root)).expect("open");
        f.write_all(b"{\"Type\":").expect("torn");
        let (got, c2) = since(root, c).expect("since");
        assert!(got.is_empty());
        assert_eq!(c2, c);
        f.write_all(b"\"x\"}\n").expect("rest");
        append(root, &ev(3)).expect("append");
        fs::rename(journal(root), rotated(root)).expect("rotate");
        append(root, &ev(4)).expect("append");
        let (got, _) = since(root, c2).expect("since");
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[2], ev(4));
        let (every, _) = all(root).expect("all");
        assert_eq!(every.len(), 5);
    }

    #[test]
    fn a_full_journal_is_rotated_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        let big = "x".repeat(4096);
        let mut a = Map::new();
        a.insert("pad".into(), big.into());
        let e = event("container", "start", "id", a, 0);
        for _ in 0..300 {
            append(root, &e).expect("append");
        }
        assert!(rotated(root).exists());
        assert!(fs::metadata(journal(root)).expect("current").len() <= MAX_BYTES);
        assert_eq!(all(root).expect("all").0.len(), 300);
        let mode = fs::metadata(journal(root)).expect("meta").mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
