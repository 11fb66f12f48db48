//! STAND-IN for the layer helper's file (branch of helper "layer"): same
//! signatures, minimal behaviour (the tar crate's own unpack, no whiteout
//! conversion, no device nodes), only so the archive and store code compiles
//! and its tests run. The lead's merge takes the other branch's file.

// Until the Rhai bindings (issue 12) use it; the lead removes this when wiring.
#![allow(dead_code)]

use super::error::{Context, Error, Result};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

pub struct UnpackStats {
    pub diff_id: String,
    pub size: u64,
    pub entries: u64,
}

pub struct PackStats {
    pub diff_id: String,
    pub size: u64,
}

struct HashRead<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for HashRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unpack(reader: impl Read, dest: &Path) -> Result<UnpackStats> {
    let mut buffered = BufReader::new(reader);
    let magic = buffered.fill_buf().ctx(|| "read layer")?.to_vec();
    let plain: Box<dyn Read> = if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::new(buffered).ctx(|| "zstd")?)
    } else {
        Box::new(buffered)
    };
    let mut hashed = HashRead { inner: plain, hash: Sha256::new() };
    let mut entries = 0;
    let mut size = 0;
    {
        let mut archive = tar::Archive::new(&mut hashed);
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(true);
        archive.set_unpack_xattrs(true);
        for entry in archive.entries().map_err(|e| Error::invalid(format!("layer: {e}")))? {
            let mut entry = entry.map_err(|e| Error::invalid(format!("layer: {e}")))?;
            let name = entry.path().map(|p| p.display().to_string()).unwrap_or_default();
            if entry.header().entry_type().is_file() {
                size += entry.size();
            }
            entries += 1;
            entry.unpack_in(dest).map_err(|e| {
                let cause = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
                Error::invalid(format!("layer entry {name}: {e}{cause}"))
            })?;
        }
    }
    // The diff id covers the whole stream, end-of-archive padding included.
    std::io::copy(&mut hashed, &mut std::io::sink()).ctx(|| "read layer")?;
    Ok(UnpackStats { diff_id: format!("sha256:{}", hex(&hashed.hash.finalize())), size, entries })
}

struct HashWrite<W> {
    inner: W,
    hash: Sha256,
    len: u64,
}

impl<W: Write> Write for HashWrite<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

pub fn pack(dir: &Path, out: impl Write, exclude: &[&str]) -> Result<PackStats> {
    let mut hashed = HashWrite { inner: out, hash: Sha256::new(), len: 0 };
    {
        let mut builder = tar::Builder::new(&mut hashed);
        builder.follow_symlinks(false);
        let mut stack = vec![std::path::PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let mut names: Vec<_> = std::fs::read_dir(dir.join(&rel))
                .ctx(|| format!("read {}", dir.join(&rel).display()))?
                .filter_map(|e| e.ok().map(|e| e.file_name()))
                .collect();
            names.sort();
            // Depth first in sorted order: push in reverse so the smallest comes out first.
            let mut dirs = Vec::new();
            for name in names {
                let r = rel.join(&name);
                if exclude.iter().any(|x| Path::new(x) == r) {
                    continue;
                }
                let full = dir.join(&r);
                builder.append_path_with_name(&full, &r).ctx(|| format!("pack {}", r.display()))?;
                if full.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                    dirs.push(r);
                }
            }
            stack.extend(dirs.into_iter().rev());
        }
        builder.finish().ctx(|| "pack")?;
    }
    hashed.flush().ctx(|| "pack")?;
    Ok(PackStats { diff_id: format!("sha256:{}", hex(&hashed.hash.finalize())), size: hashed.len })
}
