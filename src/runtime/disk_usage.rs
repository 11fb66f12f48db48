//! How many bytes a directory tree holds, as Docker counts a container's
//! SIZE and a volume's: the sizes of its files, a hardlinked file once, links
//! not followed, other filesystems (mounts below) not entered.

use super::error::{Error, Result};
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Bytes under `path`; 0 when it does not exist. Entries that vanish while
/// the tree is walked (a running container's files) are skipped.
pub fn usage(path: &Path) -> Result<u64> {
    let top = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::os(format!("stat {}: {e}", path.display()))),
    };
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![path.to_path_buf()];
    if !top.is_dir() {
        return Ok(top.len());
    }
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(m) = entry.metadata() else { continue };
            if m.dev() != top.dev() {
                continue;
            }
            if m.is_dir() {
                stack.push(entry.path());
            } else if m.nlink() <= 1 || seen.insert((m.dev(), m.ino())) {
                total += m.len();
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_files_once_and_links_not_followed() {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        std::fs::create_dir(d.join("sub")).expect("mkdir");
        std::fs::write(d.join("a"), vec![0u8; 1000]).expect("a");
        std::fs::write(d.join("sub/b"), vec![0u8; 24]).expect("b");
        std::fs::hard_link(d.join("a"), d.join("sub/a2")).expect("link");
        std::os::unix::fs::symlink("/usr", d.join("usr")).expect("symlink");
        let link_len = std::fs::symlink_metadata(d.join("usr")).expect("meta").len();
        assert_eq!(usage(d).expect("usage"), 1024 + link_len);
        assert_eq!(usage(&d.join("missing")).expect("missing"), 0);
        assert_eq!(usage(&d.join("a")).expect("file"), 1000);
    }
}
