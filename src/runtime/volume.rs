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
//! - A volume made with the local driver's options (`--opt type=… device=…
//!   o=…`, as Docker's) has that filesystem mounted on its `_data` at its
//!   first use by a container (and again after a reboot); it stays mounted
//!   until `volume rm`, which unmounts it before removing anything (and never
//!   descends into a mount: a bind's source is not touched).

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

/// The local driver's options, as `volume create --opt` takes them.
const DRIVER_OPTIONS: &[&str] = &["type", "device", "o"];

/// What `--opt type= device= o=` asks to mount on the volume's `_data`.
#[derive(Debug, PartialEq)]
struct DriverMount {
    fstype: String,
    device: String,
    flags: nix::mount::MsFlags,
    data: String,
}

/// Check a volume's driver options; `None` when it has none (a plain directory).
fn driver_mount(options: &Record) -> Result<Option<DriverMount>> {
    use nix::mount::MsFlags;
    if let Some(k) = options.keys().find(|k| !DRIVER_OPTIONS.contains(&k.as_str())) {
        return Err(Error::invalid(format!(
            "volume option {k:?} is not one of the local driver's (type, device, o)"
        )));
    }
    let get = |k: &str| options.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let (fstype, device, o) = (get("type"), get("device"), get("o"));
    if fstype.is_empty() && device.is_empty() && o.is_empty() {
        return Ok(None);
    }
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in o.split(',').filter(|x| !x.is_empty()) {
        match opt {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => {}
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            other => data.push(other.to_string()),
        }
    }
    let bind = flags.contains(MsFlags::MS_BIND);
    if device.is_empty() {
        return Err(Error::invalid("volume options: device= is missing (what to mount)"));
    }
    if fstype.is_empty() && !bind {
        return Err(Error::invalid(
            "volume options: type= is missing (the filesystem, e.g. tmpfs, nfs; none with o=bind)",
        ));
    }
    if bind && !device.starts_with('/') {
        return Err(Error::invalid(format!(
            "volume options: a bind's device must be an absolute host path, not {device:?}"
        )));
    }
    Ok(Some(DriverMount { fstype, device, flags, data: data.join(",") }))
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
        driver_mount(options)?;
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

    /// Mount the filesystem volume `name`'s options ask for on its `_data`,
    /// unless it is mounted already (by an earlier use). False when it has no
    /// such options. Under the lock.
    pub fn mount(&self, name: &str) -> Result<bool> {
        use nix::mount::{MsFlags, mount};
        let _lock = self.lock()?;
        let rec = self.load(name)?;
        let options = rec.get("Options").and_then(Value::as_object).cloned().unwrap_or_default();
        let Some(m) = driver_mount(&options)? else { return Ok(false) };
        let data = self.data(name)?;
        if super::remove_tree::is_mount_root(&data).ctx(|| format!("stat {}", data.display()))? {
            return Ok(true);
        }
        let what = || format!("volume {name}: mount {} ({}) on {}", m.device, m.fstype, data.display());
        let fstype = if m.fstype.is_empty() || m.fstype == "none" { None } else { Some(m.fstype.as_str()) };
        let extra = if m.data.is_empty() { None } else { Some(m.data.as_str()) };
        mount(Some(m.device.as_str()), &data, fstype, m.flags, extra).ctx(what)?;
        // A bind ignores MS_RDONLY and the like until remounted.
        if m.flags.contains(MsFlags::MS_BIND) && !(m.flags - MsFlags::MS_BIND - MsFlags::MS_REC).is_empty() {
            let again = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | (m.flags - MsFlags::MS_REC);
            if let Err(e) = mount(None::<&str>, &data, None::<&str>, again, None::<&str>) {
                let _ = nix::mount::umount2(&data, nix::mount::MntFlags::MNT_DETACH);
                return Err(Error::os(format!("{}: remount with its flags: {}", what(), e.desc())));
            }
        }
        Ok(true)
    }

    /// Unmount whatever is mounted on volume `name`'s `_data` (stacked mounts too).
    fn unmount(&self, name: &str) -> Result<()> {
        let data = self.data(name)?;
        for _ in 0..16 {
            match super::remove_tree::is_mount_root(&data) {
                Ok(true) => nix::mount::umount2(&data, nix::mount::MntFlags::MNT_DETACH)
                    .ctx(|| format!("volume {name}: unmount {}", data.display()))?,
                Ok(false) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(Error::os(format!("stat {}: {e}", data.display()))),
            }
        }
        Err(Error::os(format!("volume {name}: {} stays mounted", data.display())))
    }

    /// Remove volume `name` unless `in_use` names a container using it; under the lock.
    pub fn remove(&self, name: &str, in_use: &dyn Fn(&str) -> Option<String>) -> Result<()> {
        validate_name(name)?;
        let _lock = self.lock()?;
        self.load(name)?;
        if let Some(c) = in_use(name) {
            return Err(Error::new(Kind::Conflict, format!("volume {name} is in use by container {c}")));
        }
        // Its driver's filesystem first: what is on it is not ours to delete.
        self.unmount(name)?;
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

    fn opts(pairs: &[(&str, &str)]) -> Record {
        pairs.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect()
    }

    #[test]
    fn driver_options_parse_as_dockers_local_driver() {
        use nix::mount::MsFlags;
        assert_eq!(driver_mount(&Record::new()).expect("none"), None);
        let m =
            driver_mount(&opts(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m,uid=1000,noexec")]))
                .expect("tmpfs")
                .expect("a mount");
        assert_eq!(
            (m.fstype.as_str(), m.device.as_str(), m.data.as_str()),
            ("tmpfs", "tmpfs", "size=1m,uid=1000")
        );
        assert_eq!(m.flags, MsFlags::MS_NOEXEC);
        let b = driver_mount(&opts(&[("type", "none"), ("device", "/srv/x"), ("o", "bind,ro")]))
            .expect("bind")
            .expect("a mount");
        assert_eq!(b.flags, MsFlags::MS_BIND | MsFlags::MS_RDONLY);
        for (bad, why) in [
            (opts(&[("type", "tmpfs")]), "device= is missing"),
            (opts(&[("device", "tmpfs")]), "type= is missing"),
            (opts(&[("type", "none"), ("device", "rel"), ("o", "bind")]), "absolute host path"),
            (opts(&[("size", "1m")]), "\"size\" is not one of"),
        ] {
            let e = driver_mount(&bad).expect_err(why);
            assert!(e.message.contains(why), "{}", e.message);
        }
    }
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
