//! Named volumes: `<data-root>/volumes/<name>/` holding `volume.json` (its
//! record, 0600) and `_data/` (what containers mount).
//!
//! - `volumes/` and each volume's directory are 0700, as the data root: a
//!   setuid file a container leaves in a volume is no use to another host user.
//! - A volume is made under a hidden temp name and renamed into place with
//!   RENAME_NOREPLACE, so of concurrent first uses exactly one creates it and
//!   none sees half a volume.
//! - Removal, copy-up and first use take `volumes/.lock`: a volume found
//!   unused is removed before any container can start using it, and two
//!   containers starting on a new volume copy the image's files into it once.

use super::error::{Context, Error, Kind, Result};
use super::remove_tree::remove_tree;
use super::state::{Record, write_atomic};
use nix::fcntl::{Flock, FlockArg};
use serde_json::Value;
use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const RECORD: &str = "volume.json";
pub const DATA: &str = "_data";

/// Docker's rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
        _ => false,
    };
    if ok && name.len() >= 2 && name.len() <= 255 {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid volume name {name:?}: use [a-zA-Z0-9][a-zA-Z0-9_.-]+ (two characters at least)"
        )))
    }
}

pub struct Volumes {
    dir: PathBuf,
}

impl Volumes {
    pub fn new(data_root: &Path) -> Volumes {
        Volumes { dir: data_root.join("volumes") }
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The directory containers mount.
    pub fn data(&self, name: &str) -> Result<PathBuf> {
        validate_name(name)?;
        Ok(self.dir(name).join(DATA))
    }

    /// The store's lock, held until the guard drops.
    pub fn lock(&self) -> Result<Flock<File>> {
        super::sys::private_dir(&self.dir)?;
        let path = self.dir.join(".lock");
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .ctx(|| format!("open {}", path.display()))?;
        Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::os(format!("lock {}: {}", path.display(), e.desc())))
    }

    /// Create volume `name` with `labels` and `options`; `anonymous` marks one
    /// a container made for itself (removed with it by `rm -v`, `--rm`).
    /// An existing volume is a `conflict`.
    pub fn create(&self, name: &str, labels: &Record, options: &Record, anonymous: bool) -> Result<Record> {
        validate_name(name)?;
        super::sys::private_dir(&self.dir)?;
        let tmp = self.dir.join(format!(".new-{name}-{}", std::process::id()));
        let made = (|| {
            fs::DirBuilder::new().mode(0o700).create(&tmp).ctx(|| format!("create {}", tmp.display()))?;
            // _data is the volume's `/` inside a container: its mode shows there.
            fs::DirBuilder::new()
                .mode(0o755)
                .create(tmp.join(DATA))
                .ctx(|| format!("create {}", tmp.display()))?;
            let mut rec = Record::new();
            rec.insert("Name".into(), name.into());
            rec.insert("Driver".into(), "local".into());
            rec.insert("Mountpoint".into(), self.dir(name).join(DATA).display().to_string().into());
            rec.insert("CreatedAt".into(), super::sys::now_rfc3339().into());
            rec.insert("Labels".into(), Value::Object(labels.clone()));
            rec.insert("Options".into(), Value::Object(options.clone()));
            rec.insert("Scope".into(), "local".into());
            rec.insert("Anonymous".into(), anonymous.into());
            write_atomic(&tmp.join(RECORD), &rec)?;
            let r = nix::fcntl::renameat2(
                nix::fcntl::AT_FDCWD,
                &tmp,
                nix::fcntl::AT_FDCWD,
                &self.dir(name),
                nix::fcntl::RenameFlags::RENAME_NOREPLACE,
            );
            match r {
                Ok(()) => Ok(rec),
                Err(nix::errno::Errno::EEXIST) | Err(nix::errno::Errno::ENOTEMPTY) => {
                    Err(Error::new(Kind::Conflict, format!("volume {name} exists already")))
                }
                Err(e) => Err(Error::os(format!("create volume {name}: {}", e.desc()))),
            }
        })();
        if made.is_err() {
            let _ = remove_tree(&tmp);
        }
        made
    }

    /// Volume `name`, created (without labels) when missing: a first use.
    pub fn ensure(&self, name: &str, anonymous: bool) -> Result<Record> {
        match self.create(name, &Record::new(), &Record::new(), anonymous) {
            Err(e) if e.kind == Kind::Conflict => self.load(name),
            other => other,
        }
    }

    pub fn load(&self, name: &str) -> Result<Record> {
        validate_name(name)?;
        let path = self.dir(name).join(RECORD);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::not_found(format!("no such volume: {name}")));
            }
            Err(e) => return Err(Error::os(format!("read {}: {e}", path.display()))),
        };
        match serde_json::from_slice(&text) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(Error::invalid(format!("volume {name} has a bad record ({})", path.display()))),
        }
    }

    /// Every volume, by name. Hidden (half made, being removed) entries are skipped.
    pub fn list(&self) -> Result<Vec<Record>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::os(format!("read {}: {e}", self.dir.display()))),
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(String::from))
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names.iter().filter_map(|n| self.load(n).ok()).collect())
    }

    /// Remove volume `name` unless `in_use` names a container using it; under the lock.
    pub fn remove(&self, name: &str, in_use: &dyn Fn(&str) -> Option<String>) -> Result<()> {
        validate_name(name)?;
        let _lock = self.lock()?;
        self.load(name)?;
        if let Some(c) = in_use(name) {
            return Err(Error::new(Kind::Conflict, format!("volume {name} is in use by container {c}")));
        }
        // Hidden first: it leaves listings at once, and a crash leaves a name prune can finish.
        let doomed = self.dir.join(format!(".rm-{name}-{}", std::process::id()));
        fs::rename(self.dir(name), &doomed).ctx(|| format!("remove volume {name}"))?;
        remove_tree(&doomed)
    }

    /// Leftovers of crashed creations and removals.
    pub fn sweep(&self) {
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                let n = e.file_name();
                let n = n.to_string_lossy();
                if n.starts_with(".rm-") || n.starts_with(".new-") {
                    let _ = remove_tree(&e.path());
                }
            }
        }
    }

    /// Copy-up: when volume `name`'s data dir is empty, fill it with what
    /// `root` (a container's mounted layer) has at `dest`, resolved inside
    /// that root. True when something was copied.
    pub fn copy_up(&self, name: &str, root: &Path, dest: &str) -> Result<bool> {
        let data = self.data(name)?;
        let _lock = self.lock()?;
        let empty = fs::read_dir(&data).ctx(|| format!("read {}", data.display()))?.next().is_none();
        if !empty {
            return Ok(false);
        }
        let rootdir = File::open(root).ctx(|| format!("open {}", root.display()))?;
        let src = match super::inroot::open(rootdir.as_fd(), dest, libc::O_RDONLY | libc::O_DIRECTORY) {
            Ok(fd) => fd,
            // Nothing there (or not a directory): nothing to copy.
            Err(e) if e.kind == Kind::NotFound => return Ok(false),
            Err(e) if e.errno == Some(libc::ENOTDIR) => return Ok(false),
            Err(e) => return Err(e),
        };
        super::copy::copy_up(src.as_fd(), &data)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn volumes_are_private_made_once_and_removed_unless_used() {
        let tmp = tempfile::tempdir().expect("tmp");
        let v = Volumes::new(tmp.path());
        let rec = v.create("data1", &Record::new(), &Record::new(), false).expect("create");
        assert_eq!(rec["Name"], "data1");
        let mode = |p: &Path| fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&tmp.path().join("volumes")), 0o700);
        assert_eq!(mode(&v.dir("data1")), 0o700);
        assert_eq!(mode(&v.dir("data1").join(RECORD)), 0o600);
        let e = v.create("data1", &Record::new(), &Record::new(), false).expect_err("twice");
        assert_eq!(e.kind, Kind::Conflict);
        assert_eq!(v.ensure("data1", false).expect("ensure")["Name"], "data1");
        assert!(
            validate_name("a").is_err() && validate_name("../x").is_err() && validate_name(".x").is_err()
        );
        let e = v.remove("data1", &|_| Some("c1".into())).expect_err("in use");
        assert!(e.message.contains("in use by container c1"), "{}", e.message);
        v.remove("data1", &|_| None).expect("remove");
        assert!(v.list().expect("list").is_empty());
        let left: Vec<_> =
            fs::read_dir(tmp.path().join("volumes")).expect("dir").flatten().map(|e| e.file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from(".lock")]);
    }
}
