//! Container logs: print `container.log` and the files rotated from it
//! (`container.log.N` … `.1`, oldest first), their last lines, or follow them
//! while the container runs. Memory stays bounded by one buffer whatever the
//! size of the log: the whole log is streamed, a tail is found by reading
//! backwards from the end.

use super::error::{Error, Result};
use super::host_process as process;
use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

const BLOCK: usize = 64 * 1024;

/// `PATH.n`, the n-th newest rotated file.
fn rotated(path: &Path, n: usize) -> PathBuf {
    PathBuf::from(format!("{}.{n}", path.display()))
}

/// The log's files that exist, oldest first, open.
fn open_chain(path: &Path) -> Result<Vec<File>> {
    let mut files = Vec::new();
    for n in 0.. {
        let p = if n == 0 { path.to_path_buf() } else { rotated(path, n) };
        match File::open(&p) {
            Ok(f) => files.push(f),
            // A missing current file (between a rotation's rename and create) is not the end.
            Err(e) if e.kind() == ErrorKind::NotFound && n == 0 => {}
            Err(e) if e.kind() == ErrorKind::NotFound => break,
            Err(e) => return Err(Error::os(format!("open {}: {e}", p.display()))),
        }
    }
    files.reverse();
    Ok(files)
}

/// Where the last `n` lines of the files (in order) begin: (file index, offset).
/// Reads backwards one block at a time.
fn tail_start(files: &[File], n: usize) -> std::io::Result<(usize, u64)> {
    let Some(last) = files.len().checked_sub(1) else { return Ok((0, 0)) };
    if n == 0 {
        return Ok((last, files[last].metadata()?.len()));
    }
    let mut buf = vec![0u8; BLOCK];
    let mut seen = 0;
    // A final newline ends the last line; it does not start a new one.
    let mut final_byte = true;
    for (i, f) in files.iter().enumerate().rev() {
        let mut end = f.metadata()?.len();
        while end > 0 {
            let start = end.saturating_sub(BLOCK as u64);
            let chunk = &mut buf[..(end - start) as usize];
            f.read_exact_at(chunk, start)?;
            for j in (0..chunk.len()).rev() {
                let newline = chunk[j] == b'\n';
                if std::mem::take(&mut final_byte) && newline {
                    continue;
                }
                if newline {
                    seen += 1;
                    if seen == n {
                        return Ok((i, start + j as u64 + 1));
                    }
                }
            }
            end = start;
        }
    }
    Ok((0, 0))
}

/// Copy the rest of `f` to `out`; false when `out` is gone (e.g. piped into `head`).
fn copy(f: &mut File, out: &mut impl Write, buf: &mut [u8]) -> Result<bool> {
    loop {
        match f.read(buf) {
            Ok(0) => return Ok(out.flush().is_ok()),
            Ok(n) => {
                if out.write_all(&buf[..n]).is_err() {
                    return Ok(false);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::os(format!("read log: {e}"))),
        }
    }
}

fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Print the log at `path`: all of it or its last `tail` lines; with `follow`
/// (a process's pid and start time: the writer of the log), keep printing what
/// is appended, across rotations, until that process ends.
pub fn print(path: &Path, tail: Option<usize>, follow: Option<(i32, u64)>) -> Result<()> {
    let mut files = open_chain(path)?;
    let (first, offset) = match tail {
        Some(n) => tail_start(&files, n).map_err(|e| Error::os(format!("read {}: {e}", path.display())))?,
        None => (0, 0),
    };
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; BLOCK];
    let newest = files.len().checked_sub(1);
    for (i, f) in files.iter_mut().enumerate().skip(first) {
        if i == first {
            f.seek(SeekFrom::Start(offset))
                .map_err(|e| Error::os(format!("seek {}: {e}", path.display())))?;
        }
        // The current file is only read once it is known not to have rotated meanwhile (below).
        if Some(i) != newest && !copy(f, &mut out, &mut buf)? {
            return Ok(());
        }
    }
    // Only the current file (the newest) can still grow.
    let mut current = match files.pop() {
        Some(f) if open_chain_is_current(path, &f) => Some(f),
        Some(mut f) => {
            // Rotated since we opened it: it is complete.
            if !copy(&mut f, &mut out, &mut buf)? {
                return Ok(());
            }
            follow.is_some().then_some(f)
        }
        None => None,
    };
    loop {
        let gone = match follow {
            Some((pid, start_time)) => process::wait_gone(pid, start_time, 100)?,
            None => true,
        };
        // Drain the current file and any that replaced it since.
        loop {
            if let Some(f) = &mut current
                && !copy(f, &mut out, &mut buf)?
            {
                return Ok(());
            }
            if follow.is_none() {
                return Ok(());
            }
            match next_after_rotation(path, current.as_ref(), &mut out, &mut buf)? {
                Some(next) => current = Some(next),
                None => break,
            }
        }
        if gone {
            return Ok(());
        }
    }
}

fn open_chain_is_current(path: &Path, f: &File) -> bool {
    match (std::fs::metadata(path), f.metadata()) {
        (Ok(p), Ok(m)) => same_file(&p, &m),
        _ => false,
    }
}

/// When `path` is no longer the file we read (it was rotated and `current` was
/// drained), print the whole of any file rotated in between and return the new
/// current file. None while nothing changed (or the new file is not made yet).
fn next_after_rotation(
    path: &Path,
    current: Option<&File>,
    out: &mut impl Write,
    buf: &mut [u8],
) -> Result<Option<File>> {
    let Ok(now) = std::fs::metadata(path) else { return Ok(None) };
    let old = current.and_then(|f| f.metadata().ok());
    if let Some(old) = &old {
        if same_file(old, &now) {
            return Ok(None);
        }
        // Ours is now PATH.k: PATH.(k-1) … PATH.1 came after it.
        let mut k = 1;
        while let Ok(m) = std::fs::metadata(rotated(path, k)) {
            if same_file(old, &m) {
                for n in (1..k).rev() {
                    if let Ok(mut f) = File::open(rotated(path, n))
                        && !copy(&mut f, out, buf)?
                    {
                        return Ok(None);
                    }
                }
                break;
            }
            k += 1;
        }
    }
    Ok(File::open(path).ok())
}

#[cfg(test)]
mod tests {
    use super::tail_start;
    use std::io::Write;

    fn files(parts: &[&[u8]]) -> (tempfile::TempDir, Vec<std::fs::File>) {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let path = dir.path().join(i.to_string());
            std::fs::File::create(&path).unwrap().write_all(p).unwrap();
            out.push(std::fs::File::open(&path).unwrap());
        }
        (dir, out)
    }

    #[test]
    fn tail_finds_line_starts_across_files() {
        let (_d, f) = files(&[b"a\nb\n", b"c\n", b""]);
        assert_eq!(tail_start(&f, 1).unwrap(), (0, 4)); // the end of the first file: "c\n"
        assert_eq!(tail_start(&f, 2).unwrap(), (0, 2));
        assert_eq!(tail_start(&f, 9).unwrap(), (0, 0));
        assert_eq!(tail_start(&f, 0).unwrap(), (2, 0));
        let (_d, f) = files(&[b"a\nb"]);
        assert_eq!(tail_start(&f, 1).unwrap(), (0, 2));
        // A line split across files is one line.
        let (_d, f) = files(&[b"x\nhel", b"lo\n"]);
        assert_eq!(tail_start(&f, 1).unwrap(), (0, 2));
        // Across block boundaries.
        let big: Vec<u8> = (0..50_000).flat_map(|i| format!("{i}\n").into_bytes()).collect();
        let (_d, f) = files(&[&big]);
        let (_, off) = tail_start(&f, 3).unwrap();
        assert_eq!(&big[off as usize..], b"49997\n49998\n49999\n");
    }
}
