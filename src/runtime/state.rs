//! The container state store: one directory per container, `<root>/<name>/`,
//! holding `config.json` (the seed's layout) and the container's log.
//!
//! - The name is reserved by `mkdir`: it fails with EEXIST for all but one of
//!   any number of concurrent creators, so the race has exactly one winner.
//! - `config.json` is only ever replaced whole (temp file, rename), so a
//!   reader never sees half a record, even without taking the lock, and a
//!   killed mydocker leaves the old record or the new one.
//! - No fsync, as runc and crun: the store describes live containers, which a
//!   power loss ends anyway (and the state root is normally the tmpfs /run). A
//!   record a power loss did damage reads as a bad record, which `ps` reports
//!   and `rm -f` removes. An fsync cost 0.2-6.5 ms per write on this
//!   machine's disk-backed /run, four times per `run`.
//! - Read-modify-write happens under `flock` on the container's directory.
//!
//! Records are JSON objects: the scripts decide what goes in them; the store
//! only relies on `name` and `id`.

use super::error::{Context, Error, Kind, Result};
use super::remove_tree::remove_tree;
use nix::fcntl::{Flock, FlockArg};
use serde_json::{Map, Value};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub type Record = Map<String, Value>;

pub const CONFIG: &str = "config.json";
/// The container's id alone, written once at creation where the state root
/// has no xattrs (see `Store::create`).
pub const ID_FILE: &str = "id";
/// A renamed container's new record, between moving its directory and
/// putting the record in place (see `Store::rename`).
const RENAMED: &str = "config.json.renamed";

/// Names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, as Docker; this also keeps `..` and `/` out of paths.
pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
        _ => false,
    };
    if ok && name.len() <= 128 {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid container name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-]* is allowed"
        )))
    }
}

pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Reserve `record.name` and write the record. Fails with `Conflict` when taken.
    /// The directory is filled under a hidden temp name and renamed into place
    /// without replacing anything, so a reader never sees a record half made.
    pub fn create(&self, record: &Record) -> Result<()> {
        let name = str_field(record, "name")?;
        validate_name(name)?;
        super::sys::private_dir(&self.root)?;
        let dir = self.dir(name);
        if dir.exists() {
            return Err(self.conflict(name));
        }
        let tmp = self.root.join(format!(".new-{name}-{}-{}", unique(), std::process::id()));
        // The id is also kept apart from the record, never rewritten: `rm -f`
        // can then find the container's cgroup and layer even when the record
        // is lost (truncated by a full disk, corrupted). As an xattr of the
        // directory (no inode to make and discard), else in a file.
        let id = record.get("id").and_then(Value::as_str).unwrap_or("");
        let staged = super::sys::private_dir(&tmp)
            .and_then(|_| match set_id_xattr(&tmp, id) {
                Ok(()) => Ok(()),
                Err(_) => write_private(&tmp.join(ID_FILE), id.as_bytes()),
            })
            .and_then(|_| write_atomic(&tmp.join(CONFIG), record));
        if let Err(e) = staged {
            let _ = remove_tree(&tmp);
            return Err(e);
        }
        // renameat2(RENAME_NOREPLACE): of concurrent creators exactly one wins.
        let r = nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            &tmp,
            nix::fcntl::AT_FDCWD,
            &dir,
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        );
        match r {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = remove_tree(&tmp);
                if e == nix::errno::Errno::EEXIST || e == nix::errno::Errno::ENOTEMPTY {
                    Err(self.conflict(name))
                } else {
                    Err(Error::os(format!("create {}: {}", dir.display(), e.desc())))
                }
            }
        }
    }

    fn conflict(&self, name: &str) -> Error {
        let owner = self
            .load(name)
            .ok()
            .and_then(|r| r.get("id").and_then(Value::as_str).map(short_id))
            .unwrap_or_default();
        let by = if owner.is_empty() { String::new() } else { format!(" by container {owner}") };
        Error::new(Kind::Conflict, format!("container name {name:?} is already in use{by}"))
    }

    pub fn load(&self, name: &str) -> Result<Record> {
        match self.read_record(name)? {
            Ok(rec) => Ok(rec),
            // A `rename` moves the directory, then its record: between the
            // two it holds the lock. Wait for it, or finish a crashed one.
            Err(_) => {
                let _lock = self.lock(name)?;
                self.finish_rename(name);
                self.read_record(name)?.map_err(|other| self.misnamed(name, &other))
            }
        }
    }

    fn misnamed(&self, name: &str, rec: &Record) -> Error {
        Error::os(format!(
            "{}: corrupt record: it names another container ({})",
            self.dir(name).join(CONFIG).display(),
            name_of(rec)
        ))
    }

    /// The record of `name`; `Err(record)` inside when the record names
    /// another container.
    fn read_record(&self, name: &str) -> Result<std::result::Result<Record, Record>> {
        validate_name(name)?;
        let path = self.dir(name).join(CONFIG);
        let text = match super::sys::read_small(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::not_found(format!("no such container: {name}")));
            }
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(Error::os(format!("{}: corrupt record: a symbolic link", path.display())));
            }
            Err(e) => return Err(Error::os(format!("read {}: {e}", path.display()))),
        };
        match serde_json::from_slice::<Value>(&text) {
            Ok(Value::Object(map)) => {
                check_types(&map)
                    .map_err(|why| Error::os(format!("{}: corrupt record: {why}", path.display())))?;
                // A record copied (or a directory linked) from another container
                // must not make us act on that one.
                if map.get("name").and_then(Value::as_str) != Some(name) {
                    return Ok(Err(map));
                }
                Ok(Ok(map))
            }
            Ok(_) => Err(Error::os(format!("{}: not a JSON object", path.display()))),
            Err(e) => Err(Error::os(format!("{}: corrupt record: {e}", path.display()))),
        }
    }

    /// Rename container `old` to `new`, merging `patch` (the record's paths
    /// that hold its name) into its record, under its lock: the new record is
    /// staged in its directory, the directory renamed without replacing
    /// anything (a taken name is a `Conflict`), then the record put in place.
    /// Its id (the directory's xattr) and open files move with it.
    pub fn rename(&self, old: &str, new: &str, patch: &Record) -> Result<Record> {
        validate_name(new)?;
        let _lock = self.lock(old)?;
        let mut rec = self.read_record(old)?.map_err(|other| self.misnamed(old, &other))?;
        for (k, v) in patch {
            rec.insert(k.clone(), v.clone());
        }
        rec.insert("name".into(), new.into());
        let (from, to) = (self.dir(old), self.dir(new));
        let staged = from.join(RENAMED);
        write_atomic(&staged, &rec)?;
        let moved = nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            &from,
            nix::fcntl::AT_FDCWD,
            &to,
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        );
        if let Err(e) = moved {
            let _ = fs::remove_file(&staged);
            return Err(if e == nix::errno::Errno::EEXIST || e == nix::errno::Errno::ENOTEMPTY {
                self.conflict(new)
            } else {
                Error::os(format!("rename {} to {}: {}", from.display(), to.display(), e.desc()))
            });
        }
        super::sys::crash_point("rename:moved");
        fs::rename(to.join(RENAMED), to.join(CONFIG))
            .ctx(|| format!("rename {} into place", to.join(RENAMED).display()))?;
        Ok(rec)
    }

    /// A rename that crashed between moving the directory and its record:
    /// put the staged record in place if it names this directory.
    fn finish_rename(&self, name: &str) {
        let staged = self.dir(name).join(RENAMED);
        let Ok(text) = super::sys::read_small(&staged) else { return };
        let names_it = serde_json::from_slice::<Value>(&text)
            .ok()
            .is_some_and(|v| v.get("name").and_then(Value::as_str) == Some(name));
        if names_it {
            let _ = fs::rename(&staged, self.dir(name).join(CONFIG));
        }
    }

    /// Merge `patch` into the stored record under the container's lock and return the result.
    pub fn update(&self, name: &str, patch: &Record) -> Result<Record> {
        self.modify(name, |rec| {
            for (k, v) in patch {
                rec.insert(k.clone(), v.clone());
            }
        })
    }

    /// Merge `patch` only if the record's status is still `from` (under the lock);
    /// true when it was applied. Keeps a late "Running" from hiding an exit the
    /// monitor already recorded.
    pub fn transition(&self, name: &str, from: &str, patch: &Record) -> Result<bool> {
        let mut applied = false;
        self.modify(name, |rec| {
            if rec.get("status").and_then(Value::as_str) == Some(from) {
                for (k, v) in patch {
                    rec.insert(k.clone(), v.clone());
                }
                applied = true;
            }
        })?;
        Ok(applied)
    }

    /// Read-modify-write under the container's lock.
    pub fn modify(&self, name: &str, f: impl FnOnce(&mut Record)) -> Result<Record> {
        let _lock = self.lock(name)?;
        // Not `load`: it would wait for the lock held here.
        self.finish_rename(name);
        let mut rec = self.read_record(name)?.map_err(|other| self.misnamed(name, &other))?;
        f(&mut rec);
        write_atomic(&self.dir(name).join(CONFIG), &rec)?;
        Ok(rec)
    }

    /// Exclusive lock on a container's directory, held until the guard drops.
    pub fn lock(&self, name: &str) -> Result<Flock<File>> {
        validate_name(name)?;
        let dir = self.dir(name);
        let opened =
            OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW).open(&dir);
        let f = match opened {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::not_found(format!("no such container: {name}")));
            }
            Err(e) => return Err(Error::os(format!("open {}: {e}", dir.display()))),
        };
        Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::os(format!("lock {}: {}", dir.display(), e.desc())))
    }

    /// The id written when container `name` was created (see `create`), when
    /// it can be read and looks like an id: for a container whose record is lost.
    pub fn recorded_id(&self, name: &str) -> Option<String> {
        validate_name(name).ok()?;
        let dir = self.dir(name);
        let bytes = get_id_xattr(&dir).or_else(|| super::sys::read_small(&dir.join(ID_FILE)).ok())?;
        let id = std::str::from_utf8(&bytes).ok()?.trim();
        (!id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| id.to_string())
    }

    /// Every container directory, sorted by creation time. An unreadable record
    /// comes back as `{name, status: "Unknown", error}` so callers can warn and
    /// `rm -f` can still remove it.
    pub fn list(&self) -> Result<Vec<Record>> {
        self.list_fields(None)
    }

    /// `list`, each record cut down to the fields in `keep` (and `name`,
    /// `created` and `error`) as soon as it is read: with hundreds of
    /// containers, what is held is what the caller shows, not every record.
    pub fn list_fields(&self, keep: Option<&[String]>) -> Result<Vec<Record>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::os(format!("read {}: {e}", self.root.display()))),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') {
                self.sweep(&entry);
                continue;
            }
            // d_type from getdents: no stat per container.
            if validate_name(&name).is_err() || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            match self.load(&name) {
                Ok(mut rec) => {
                    if let Some(keep) = keep {
                        rec.retain(|k, _| {
                            matches!(k.as_str(), "name" | "created" | "error") || keep.iter().any(|f| f == k)
                        });
                    }
                    out.push(rec)
                }
                Err(e) => {
                    let mut rec = Record::new();
                    rec.insert("name".into(), name.clone().into());
                    rec.insert("id".into(), self.recorded_id(&name).unwrap_or_default().into());
                    rec.insert("status".into(), "Unknown".into());
                    let why =
                        if e.kind == Kind::NotFound { "missing config.json".to_string() } else { e.message };
                    rec.insert("error".into(), why.into());
                    out.push(rec);
                }
            }
        }
        out.sort_by(|a, b| {
            let key = |r: &Record| r.get("created").and_then(Value::as_str).unwrap_or("").to_string();
            key(a).cmp(&key(b)).then_with(|| name_of(a).cmp(name_of(b)))
        });
        Ok(out)
    }

    /// Resolve a reference (name, full id, or unique id prefix) to a container name.
    pub fn resolve(&self, reference: &str) -> Result<String> {
        if reference.is_empty() {
            return Err(Error::invalid("empty container name or id"));
        }
        validate_name(reference).map_err(|_| Error::not_found(format!("no such container: {reference}")))?;
        if self.dir(reference).is_dir() {
            return Ok(reference.to_string());
        }
        let mut matches: Vec<String> = Vec::new();
        for rec in self.list()? {
            let id = rec.get("id").and_then(Value::as_str).unwrap_or("");
            if id == reference {
                return Ok(name_of(&rec).to_string());
            }
            if !id.is_empty() && id.starts_with(reference) {
                matches.push(name_of(&rec).to_string());
            }
        }
        match matches.len() {
            0 => Err(Error::not_found(format!("no such container: {reference}"))),
            1 => Ok(matches.remove(0)),
            _ => Err(Error::new(
                Kind::Ambiguous,
                format!("id prefix {reference:?} is ambiguous: matches {}", matches.join(", ")),
            )),
        }
    }

    /// Remove the container's directory; removing a missing one is not an error.
    /// It is renamed to a hidden name first, so it vanishes from listings at once.
    pub fn remove(&self, name: &str) -> Result<()> {
        validate_name(name)?;
        let dir = self.dir(name);
        let doomed = self.root.join(format!(".rm-{name}-{}-{}", unique(), std::process::id()));
        match fs::rename(&dir, &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::os(format!("remove {}: {e}", dir.display()))),
        }
        remove_tree(&doomed)
    }

    /// Delete the hidden temp dirs (`.new-NAME-N-PID`, `.rm-NAME-N-PID`) of processes
    /// that died before finishing with them.
    fn sweep(&self, entry: &fs::DirEntry) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rest = name.strip_prefix(".new-").or_else(|| name.strip_prefix(".rm-"));
        let pid = rest.and_then(|r| r.rsplit('-').next()).and_then(|p| p.parse::<i32>().ok());
        if let Some(pid) = pid
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = remove_tree(&entry.path());
        }
    }

    /// Record that the container's init ended with `code` (128+N for signal N).
    /// A container whose record says a stop was requested ends `Stopped`, else `Exited`.
    pub fn record_exit(&self, name: &str, code: i32) -> Result<Record> {
        let now = super::clock::now_ns();
        let rec = self.modify(name, |rec| {
            let stopping = rec.get("stop_requested").and_then(Value::as_bool).unwrap_or(false);
            rec.insert("status".into(), if stopping { "Stopped" } else { "Exited" }.into());
            rec.insert("exit_code".into(), code.into());
            rec.insert("finished".into(), super::clock::format(now, 3).into());
            rec.insert("pid".into(), 0.into());
        })?;
        let mut extra = Map::new();
        extra.insert("exitCode".into(), code.to_string().into());
        super::events::record(&self.root, &super::events::container(&rec, "die", extra, now));
        Ok(rec)
    }
}

impl Store {
    /// Write `text` to `file` in container `name`'s directory, in place (mode
    /// 0644: it may be bound into the container and read by any user there)
    /// and return its path. In place, not by rename: a bind mount holds the
    /// file itself, so a rewrite (say, of /etc/hosts) must reach that file.
    /// `file` is a plain name other than the record's.
    pub fn write_file(&self, name: &str, file: &str, text: &str) -> Result<PathBuf> {
        validate_name(name)?;
        if file.is_empty()
            || file.contains('/')
            || file.starts_with('.')
            || file == CONFIG
            || file == ID_FILE
            || file == RENAMED
        {
            return Err(Error::invalid(format!("invalid state file name {file:?}")));
        }
        let dir = self.dir(name);
        if !dir.is_dir() {
            return Err(Error::not_found(format!("no such container: {name}")));
        }
        let path = dir.join(file);
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .and_then(|mut f| {
                f.write_all(text.as_bytes())?;
                // Whatever the umask: any user in the container reads it.
                f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            })
            .map_err(|e| Error::os(format!("write {}: {e}", path.display())))?;
        Ok(path)
    }
}

/// A number unique within this process, for temp names (the pid goes last: `sweep` reads it).
fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The fields every command relies on must have their types, or the record is corrupt.
fn check_types(rec: &Record) -> std::result::Result<(), String> {
    for key in ["id", "name", "status", "created", "image"] {
        match rec.get(key) {
            None | Some(Value::String(_)) => {}
            Some(_) => return Err(format!("{key} is not a string")),
        }
    }
    for key in ["pid", "start_time", "monitor_pid", "monitor_start_time", "exit_code"] {
        match rec.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.is_i64() => {}
            Some(_) => return Err(format!("{key} is not an integer")),
        }
    }
    match rec.get("command") {
        None => Ok(()),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Ok(()),
        Some(_) => Err("command is not an array of strings".into()),
    }
}

fn name_of(rec: &Record) -> &str {
    rec.get("name").and_then(Value::as_str).unwrap_or("")
}

fn str_field<'a>(rec: &'a Record, key: &str) -> Result<&'a str> {
    rec.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid(format!("container record has no {key:?} string")))
}

pub fn short_id(id: &str) -> String {
    id.chars().take(12).collect()
}

/// The xattr of a state directory holding its container's id (only root may
/// read or write `trusted.*`).
const ID_XATTR: &std::ffi::CStr = c"trusted.mydocker.id";

fn set_id_xattr(dir: &Path, id: &str) -> std::io::Result<()> {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())?;
    let r = unsafe { libc::lsetxattr(path.as_ptr(), ID_XATTR.as_ptr(), id.as_ptr().cast(), id.len(), 0) };
    if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

fn get_id_xattr(dir: &Path) -> Option<Vec<u8>> {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    let mut buf = vec![0u8; 128];
    let n = unsafe { libc::lgetxattr(path.as_ptr(), ID_XATTR.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (n > 0).then(|| {
        buf.truncate(n as usize);
        buf
    })
}

/// Create `path` (0600) holding `data`.
fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .ctx(|| format!("create {}", path.display()))?;
    f.write_all(data).ctx(|| format!("write {}", path.display()))
}

/// Replace `path` with `value` as JSON: temp file in the same directory, rename.
pub fn write_atomic(path: &Path, value: &Record) -> Result<()> {
    let data = serde_json::to_vec_pretty(value).map_err(|e| Error::os(format!("encode record: {e}")))?;
    let tmp = path.with_extension(format!("json.tmp.{}", std::process::id()));
    let result = (|| {
        // 0600: a record holds the container's environment (`-e` secrets).
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .ctx(|| format!("create {}", tmp.display()))?;
        f.write_all(&data).ctx(|| format!("write {}", tmp.display()))?;
        fs::rename(&tmp, path).ctx(|| format!("rename {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, id: &str) -> Record {
        let mut r = Record::new();
        r.insert("name".into(), name.into());
        r.insert("id".into(), id.into());
        r
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name("bird").is_ok());
        assert!(validate_name("a.b_c-1").is_ok());
        for bad in ["", "../x", "x/y", ".hidden", "-x", "a b"] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn create_conflict_update_resolve_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store.create(&rec("bird", "abc123")).unwrap();
        let err = store.create(&rec("bird", "def456")).unwrap_err();
        assert_eq!(err.kind, Kind::Conflict);
        assert!(err.message.contains("abc123"), "{}", err.message);

        let mut patch = Record::new();
        patch.insert("status".into(), "Running".into());
        let r = store.update("bird", &patch).unwrap();
        assert_eq!(r["status"], "Running");
        assert_eq!(store.load("bird").unwrap()["id"], "abc123");

        store.create(&rec("fish", "abd999")).unwrap();
        assert_eq!(store.resolve("abc").unwrap(), "bird");
        assert_eq!(store.resolve("fish").unwrap(), "fish");
        assert_eq!(store.resolve("ab").unwrap_err().kind, Kind::Ambiguous);
        assert_eq!(store.resolve("zzz").unwrap_err().kind, Kind::NotFound);
        assert_eq!(store.resolve("../etc").unwrap_err().kind, Kind::NotFound);

        store.remove("bird").unwrap();
        store.remove("bird").unwrap();
        assert_eq!(store.load("bird").unwrap_err().kind, Kind::NotFound);
    }

    #[test]
    fn corrupt_record_is_listed_with_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store.create(&rec("good", "1111")).unwrap();
        fs::create_dir(dir.path().join("bad")).unwrap();
        fs::write(dir.path().join("bad").join(CONFIG), b"{\"name\": \"ba").unwrap();
        fs::create_dir(dir.path().join("half")).unwrap();
        let list = store.list().unwrap();
        assert_eq!(list.len(), 3);
        assert!(list.iter().filter(|r| r.contains_key("error")).all(|r| r["status"] == "Unknown"));
        let bad = list.iter().find(|r| r["name"] == "bad").unwrap();
        assert_eq!(bad["status"], "Unknown");
        assert!(bad["error"].as_str().unwrap().contains("corrupt"));
        fs::create_dir(dir.path().join("typed")).unwrap();
        fs::write(dir.path().join("typed").join(CONFIG), br#"{"name": "typed", "pid": "12"}"#).unwrap();
        let list = store.list().unwrap();
        let typed = list.iter().find(|r| r["name"] == "typed").unwrap();
        assert!(typed["error"].as_str().unwrap().contains("pid is not an integer"));
        let half = list.iter().find(|r| r["name"] == "half").unwrap();
        assert_eq!(half["error"], "missing config.json");
    }

    #[test]
    fn the_id_survives_a_lost_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store.create(&rec("a", "abc123")).unwrap();
        fs::write(dir.path().join("a").join(CONFIG), b"{\"na").unwrap();
        assert_eq!(store.recorded_id("a").as_deref(), Some("abc123"));
        // Where the xattr could not be set, the id file is read.
        fs::create_dir(dir.path().join("b")).unwrap();
        fs::write(dir.path().join("b").join(ID_FILE), b"def456").unwrap();
        assert_eq!(store.recorded_id("b").as_deref(), Some("def456"));
        fs::write(dir.path().join("b").join(ID_FILE), b"../x").unwrap();
        assert_eq!(store.recorded_id("b"), None, "not an id");
    }

    #[test]
    fn concurrent_create_has_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let root = root.clone();
                std::thread::spawn(move || Store::new(root).create(&rec("same", &format!("id{i}"))).is_ok())
            })
            .collect();
        let wins = handles.into_iter().filter_map(|h| h.join().ok()).filter(|ok| *ok).count();
        assert_eq!(wins, 1);
    }

    #[test]
    fn stale_temp_dirs_are_swept_and_never_listed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store.create(&rec("a", "1")).unwrap();
        // A dead process's leftovers (pid 0 never names a live process dir).
        fs::create_dir(dir.path().join(".new-b-999999999")).unwrap();
        fs::create_dir(dir.path().join(format!(".rm-c-0-{}", std::process::id()))).unwrap();
        assert_eq!(store.list().unwrap().len(), 1);
        assert!(!dir.path().join(".new-b-999999999").exists(), "stale temp dir swept");
        assert!(dir.path().join(format!(".rm-c-0-{}", std::process::id())).exists(), "a live one is kept");
        store.remove("a").unwrap();
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn transition_only_from_the_expected_status() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let mut r = rec("a", "1");
        r.insert("status".into(), "Created".into());
        store.create(&r).unwrap();
        store.record_exit("a", 0).unwrap();
        let mut running = Record::new();
        running.insert("status".into(), "Running".into());
        assert!(!store.transition("a", "Created", &running).unwrap());
        assert_eq!(store.load("a").unwrap()["status"], "Exited");
    }

    #[test]
    fn record_exit_respects_stop_request() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store.create(&rec("a", "1")).unwrap();
        assert_eq!(store.record_exit("a", 3).unwrap()["status"], "Exited");
        let mut patch = Record::new();
        patch.insert("stop_requested".into(), true.into());
        store.update("a", &patch).unwrap();
        let r = store.record_exit("a", 143).unwrap();
        assert_eq!(r["status"], "Stopped");
        assert_eq!(r["exit_code"], 143);
    }
}
