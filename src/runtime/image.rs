//! The read-only image store: `<data-root>/images/<name>/rootfs` plus
//! `image.json`. Images are built or unpacked into a temp dir beside their
//! final place and renamed into it, so a crash never leaves half an image under
//! a real name, and concurrent builders of one image agree on one result.

use super::error::{Context, Error, Kind, Result};
use super::remove_tree::remove_tree;
use serde_json::{Map, Value, json};
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-:".contains(c))
        && name.len() <= 128;
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid image name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.:-]* is allowed"
        )))
    }
}

/// The applets of the busybox binary at `busybox` (`busybox --list`).
pub fn busybox_applets(busybox: &Path) -> Result<Vec<String>> {
    let out = Command::new(busybox).arg("--list").output().map_err(|e| {
        Error::not_found(format!("busybox binary {}: {e} (install busybox-static)", busybox.display()))
    })?;
    if !out.status.success() {
        return Err(Error::os(format!("{} --list failed: is it busybox?", busybox.display())));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

pub struct ImageStore {
    dir: PathBuf,
}

impl ImageStore {
    pub fn new(data_root: &Path) -> ImageStore {
        ImageStore { dir: data_root.join("images") }
    }

    fn image_dir(&self, name: &str) -> Result<PathBuf> {
        validate_name(name)?;
        Ok(self.dir.join(name))
    }

    pub fn rootfs(&self, name: &str) -> Result<PathBuf> {
        let dir = self.image_dir(name)?;
        if dir.join("image.json").is_file() {
            Ok(dir.join("rootfs"))
        } else {
            Err(Error::not_found(format!("no such image: {name}")))
        }
    }

    /// The image's config (OCI image config's `config`: Entrypoint, Cmd,
    /// Env, WorkingDir, User, StopSignal…); empty for an image without one
    /// (a rootfs built or imported here).
    pub fn config(&self, name: &str) -> Result<Value> {
        let dir = self.image_dir(name)?;
        let meta: Value = serde_json::from_slice(
            &fs::read(dir.join("image.json")).ctx(|| format!("no such image: {name}"))?,
        )
        .map_err(|e| Error::invalid(format!("image {name}: bad image.json: {e}")))?;
        Ok(meta.get("config").and_then(|c| c.get("config")).cloned().unwrap_or_else(|| json!({})))
    }

    pub fn exists(&self, name: &str) -> bool {
        self.rootfs(name).is_ok()
    }

    pub fn list(&self) -> Result<Vec<Map<String, Value>>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::os(format!("read {}: {e}", self.dir.display()))),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let meta = entry.path().join("image.json");
            if let Ok(Value::Object(m)) =
                fs::read(&meta).map_err(|_| ()).and_then(|b| serde_json::from_slice(&b).map_err(|_| ()))
            {
                out.push(m);
            }
        }
        out.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        Ok(out)
    }

    /// Is `cmd` present in the image (as a path, or in the usual bin dirs)? Used to
    /// tell "unknown image" from "unknown command" in `run`.
    pub fn has_command(&self, name: &str, cmd: &str) -> bool {
        let Ok(root) = self.rootfs(name) else {
            return false;
        };
        if cmd.contains('/') {
            return fs::symlink_metadata(root.join(cmd.trim_start_matches('/'))).is_ok();
        }
        ["usr/local/sbin", "usr/local/bin", "usr/sbin", "usr/bin", "sbin", "bin"]
            .iter()
            .any(|d| fs::symlink_metadata(root.join(d).join(cmd)).is_ok())
    }

    /// Build an image from a static busybox binary: the usual directories, the
    /// binary, a link per applet, and minimal /etc files.
    pub fn build_busybox(&self, name: &str, busybox: &Path) -> Result<Value> {
        let meta = fs::metadata(busybox).map_err(|e| {
            Error::not_found(format!("busybox binary {}: {e} (install busybox-static)", busybox.display()))
        })?;
        if !meta.is_file() {
            return Err(Error::invalid(format!("{} is not a file", busybox.display())));
        }
        let list = Command::new(busybox)
            .arg("--list-full")
            .output()
            .ctx(|| format!("run {} --list-full", busybox.display()))?;
        if !list.status.success() {
            return Err(Error::os(format!("{} --list-full failed: is it busybox?", busybox.display())));
        }
        let applets = String::from_utf8_lossy(&list.stdout).into_owned();
        self.install(name, json!({"source": busybox.display().to_string()}), |root| {
            for d in [
                "bin", "sbin", "usr/bin", "usr/sbin", "dev", "etc", "home", "proc", "root", "sys", "tmp",
                "var/tmp",
            ] {
                fs::create_dir_all(root.join(d)).ctx(|| format!("create /{d}"))?;
            }
            for (d, mode) in [("tmp", 0o1777), ("var/tmp", 0o1777), ("root", 0o700)] {
                fs::set_permissions(root.join(d), fs::Permissions::from_mode(mode))
                    .ctx(|| format!("chmod /{d}"))?;
            }
            fs::copy(busybox, root.join("bin/busybox")).ctx(|| format!("copy {}", busybox.display()))?;
            fs::set_permissions(root.join("bin/busybox"), fs::Permissions::from_mode(0o755))
                .ctx(|| "chmod busybox")?;
            for applet in applets.lines().map(str::trim).filter(|l| !l.is_empty() && !l.contains("..")) {
                let link = root.join(applet);
                if applet == "bin/busybox" || link.exists() {
                    continue;
                }
                symlink("/bin/busybox", &link).ctx(|| format!("link {applet}"))?;
            }
            let files = [
                (
                    "etc/passwd",
                    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
                ),
                ("etc/group", "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n"),
                ("etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
                // Mount points for the container's own files: none is then made in each layer.
                ("etc/hostname", ""),
                ("etc/resolv.conf", ""),
            ];
            for (path, text) in files {
                fs::write(root.join(path), text).ctx(|| format!("write /{path}"))?;
            }
            Ok(())
        })
    }

    /// Import a rootfs tarball (e.g. `docker export` output) as image `name`.
    pub fn import(&self, tarball: &Path, name: &str) -> Result<Value> {
        let file = fs::File::open(tarball).map_err(|e| {
            let kind = if e.kind() == ErrorKind::NotFound { Kind::NotFound } else { Kind::Os };
            Error::new(kind, format!("open {}: {e}", tarball.display()))
        })?;
        self.install(name, json!({"source": tarball.display().to_string()}), |root| {
            let mut archive = tar::Archive::new(file);
            archive.set_preserve_permissions(true);
            archive.set_preserve_ownerships(true);
            archive.set_overwrite(true);
            // unpack() refuses entries that would land outside `root`.
            archive.unpack(root).map_err(|e| Error::invalid(format!("unpack {}: {e}", tarball.display())))
        })
    }

    /// Build into a temp dir, then rename into place. An image that appeared in
    /// the meantime (a concurrent builder) wins and is kept.
    fn install(&self, name: &str, mut meta: Value, fill: impl FnOnce(&Path) -> Result<()>) -> Result<Value> {
        let dest = self.image_dir(name)?;
        if dest.exists() {
            return Err(Error::new(Kind::Conflict, format!("image {name} already exists")));
        }
        if let Some(data_root) = self.dir.parent() {
            super::sys::private_dir(data_root)?;
        }
        super::sys::private_dir(&self.dir)?;
        let tmp = self.dir.join(format!(".tmp-{name}-{}", std::process::id()));
        let _ = remove_tree(&tmp);
        let result = (|| {
            fs::create_dir_all(tmp.join("rootfs")).ctx(|| format!("create {}", tmp.display()))?;
            fill(&tmp.join("rootfs"))?;
            meta["name"] = name.into();
            meta["created"] = super::sys::now_rfc3339().into();
            meta["size"] = dir_size(&tmp.join("rootfs")).into();
            let text = serde_json::to_vec_pretty(&meta).map_err(|e| Error::os(e.to_string()))?;
            fs::write(tmp.join("image.json"), text).ctx(|| "write image.json")?;
            match fs::rename(&tmp, &dest) {
                Ok(()) => Ok(meta.clone()),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST) | Some(libc::ENOTEMPTY)) => {
                    Err(Error::new(Kind::Conflict, format!("image {name} already exists")))
                }
                Err(e) => Err(Error::os(format!("rename {} to {}: {e}", tmp.display(), dest.display()))),
            }
        })();
        let _ = remove_tree(&tmp);
        result
    }

    pub fn remove(&self, name: &str) -> Result<()> {
        let dir = self.image_dir(name)?;
        if !dir.exists() {
            return Err(Error::not_found(format!("no such image: {name}")));
        }
        // Rename first so the image vanishes at once, then delete at leisure.
        let doomed = self.dir.join(format!(".rm-{name}-{}", std::process::id()));
        fs::rename(&dir, &doomed).ctx(|| format!("remove image {name}"))?;
        remove_tree(&doomed)
    }
}

/// Bytes used by regular files under `dir` (symlinks not followed).
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                total += m.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_tarball_and_list() {
        let data = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        fs::create_dir_all(src.path().join("bin")).unwrap();
        fs::write(src.path().join("bin/hello"), "#!/bin/sh\n").unwrap();
        let tarball = data.path().join("img.tar");
        let mut b = tar::Builder::new(fs::File::create(&tarball).unwrap());
        b.append_dir_all(".", src.path()).unwrap();
        b.finish().unwrap();
        drop(b);

        let store = ImageStore::new(data.path());
        store.import(&tarball, "hello").unwrap();
        assert!(store.exists("hello"));
        assert!(store.has_command("hello", "hello"));
        assert!(!store.has_command("hello", "nope"));
        assert_eq!(store.list().unwrap()[0]["name"], "hello");
        assert_eq!(store.import(&tarball, "hello").unwrap_err().kind, Kind::Conflict);
        assert_eq!(store.import(Path::new("/nonexistent.tar"), "x").unwrap_err().kind, Kind::NotFound);
        store.remove("hello").unwrap();
        assert!(!store.exists("hello"));
        assert!(validate_name("../x").is_err());
    }
}
