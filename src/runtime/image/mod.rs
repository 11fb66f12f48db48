//! Root filesystems made here rather than loaded: the default image from the
//! host's static busybox, and `image import` of a flat rootfs tarball. Each is
//! made in a temp dir under the data root and handed to the image store
//! (`image_store::Store::import_rootfs_dir`) as a one-layer image.

pub mod archive;
pub mod layer;
pub mod reference;
pub mod store;
pub mod tarsplit;

use crate::runtime::error::{Context, Error, Kind, Result};
use crate::runtime::remove_tree::remove_tree;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Makes root filesystems in temp dirs under the data root.
pub struct RootfsBuilder {
    dir: PathBuf,
}

/// A temp dir that is removed unless kept.
struct Scratch(Option<PathBuf>);

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = remove_tree(&p);
        }
    }
}

impl RootfsBuilder {
    pub fn new(data_root: &Path) -> RootfsBuilder {
        RootfsBuilder { dir: data_root.join("tmp") }
    }

    fn scratch(&self, what: &str) -> Result<Scratch> {
        if let Some(root) = self.dir.parent() {
            crate::runtime::sys::private_dir(root)?;
        }
        crate::runtime::sys::private_dir(&self.dir)?;
        let p = self.dir.join(format!(
            "{what}-{}-{}",
            std::process::id(),
            crate::runtime::sys::new_id()?.get(..8).unwrap_or("0")
        ));
        fs::create_dir(&p).ctx(|| format!("create {}", p.display()))?;
        // The image's `/`: its mode shows inside.
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755))
            .ctx(|| format!("chmod {}", p.display()))?;
        Ok(Scratch(Some(p)))
    }

    /// A rootfs from a static busybox binary: the usual directories, the
    /// binary, a link per applet, and minimal /etc files. Returns its dir (the
    /// caller moves it into the store).
    pub fn build_busybox_dir(&self, busybox: &Path) -> Result<PathBuf> {
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
        let mut scratch = self.scratch("busybox")?;
        let root = scratch.0.clone().unwrap_or_default();
        let root = root.as_path();
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
            ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"),
            ("etc/group", "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n"),
            ("etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
            // Mount points for the container's own files: none is then made in each layer.
            ("etc/hostname", ""),
            ("etc/resolv.conf", ""),
        ];
        for (path, text) in files {
            fs::write(root.join(path), text).ctx(|| format!("write /{path}"))?;
        }
        Ok(scratch.0.take().unwrap_or_default())
    }

    /// A rootfs from a flat tarball (`docker export` output; plain, gzip or
    /// zstd; `-` for stdin), unpacked by the layer rules. An image archive
    /// (manifest.json, index.json, oci-layout at its top) is refused: it is
    /// `load`'s, and would otherwise become a root made of blobs.
    pub fn unpack_rootfs(&self, tarball: &str) -> Result<PathBuf> {
        let mut reader: Box<dyn Read> = if tarball == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            let f = fs::File::open(tarball).map_err(|e| {
                let kind = if e.kind() == std::io::ErrorKind::NotFound { Kind::NotFound } else { Kind::Os };
                Error::new(kind, format!("open {tarball}: {e}"))
            })?;
            if let Ok(Some(kind)) = crate::runtime::image::archive::detect(Path::new(tarball)) {
                return Err(Error::invalid(format!(
                    "{tarball} is an image archive ({}), not a root filesystem: use mydocker load -i {tarball}",
                    kind.as_str()
                )));
            }
            Box::new(f)
        };
        let mut scratch = self.scratch("import")?;
        let root = scratch.0.clone().unwrap_or_default();
        crate::runtime::image::layer::unpack(&mut reader, &root)
            .map_err(|e| Error::new(e.kind, format!("import {tarball}: {}", e.message)))?;
        Ok(scratch.0.take().unwrap_or_default())
    }
}
