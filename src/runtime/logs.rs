//! Container logs: print `container.log`, its last lines, or follow it while
//! the container runs.

use super::error::{Error, Result};
use super::process;
use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Byte offset where the last `n` lines of `data` begin.
fn tail_start(data: &[u8], n: usize) -> usize {
    if n == 0 {
        return data.len();
    }
    // A final newline ends the last line; it does not start a new one.
    let end = if data.ends_with(b"\n") { data.len() - 1 } else { data.len() };
    let mut seen = 0;
    for i in (0..end).rev() {
        if data[i] == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    0
}

/// Copy to stdout; false when stdout is gone (e.g. piped into `head`).
fn emit(out: &mut impl Write, data: &[u8]) -> bool {
    out.write_all(data).and_then(|_| out.flush()).is_ok()
}

/// Print the log at `path`: all of it or its last `tail` lines; with `follow`
/// (the init's pid and start time), keep printing what is appended until the
/// container ends.
pub fn print(path: &Path, tail: Option<usize>, follow: Option<(i32, u64)>) -> Result<()> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::os(format!("open {}: {e}", path.display()))),
    };
    let mut data = Vec::new();
    file.read_to_end(&mut data).map_err(|e| Error::os(format!("read {}: {e}", path.display())))?;
    let start = tail.map(|n| tail_start(&data, n)).unwrap_or(0);
    let mut out = std::io::stdout().lock();
    if !emit(&mut out, &data[start..]) {
        return Ok(());
    }
    let Some((pid, start_time)) = follow else { return Ok(()) };
    let mut pos = data.len() as u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Waiting on the process doubles as the poll interval.
        let gone = process::wait_gone(pid, start_time, 100)?;
        let _ = file.seek(SeekFrom::Start(pos));
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    pos += n as u64;
                    if !emit(&mut out, &buf[..n]) {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::os(format!("read {}: {e}", path.display()))),
            }
        }
        if gone {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tail_start;

    #[test]
    fn tail_finds_line_starts() {
        let d = b"a\nb\nc\n";
        assert_eq!(&d[tail_start(d, 1)..], b"c\n");
        assert_eq!(&d[tail_start(d, 2)..], b"b\nc\n");
        assert_eq!(&d[tail_start(d, 9)..], d);
        assert_eq!(&d[tail_start(d, 0)..], b"");
        let partial = b"a\nb";
        assert_eq!(&partial[tail_start(partial, 1)..], b"b");
    }
}
