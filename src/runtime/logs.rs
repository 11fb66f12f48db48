//! Container logs: print `container.log` and the files rotated from it
//! (`container.log.N` … `.1`, oldest first), their last records, or follow
//! them while the container runs. Each record (`log_split`) goes back to the
//! stream it came from, optionally with its time and the container's log
//! attributes, filtered by time; a line that is not a record (a log of an
//! older mydocker) goes to stdout as it is. Memory stays bounded by one
//! buffer whatever the size of the log: the whole log is streamed, a tail is
//! found by reading backwards from the end.

use super::clock;
use super::error::{Error, Result};
use super::host_process as process;
use super::log_split::{self, Stream};
use std::fs::File;
use std::io::{BufWriter, ErrorKind, Read, Seek, SeekFrom, Write};
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

/// What to print of a log, as `docker logs` takes it.
#[derive(Debug, Default, Clone)]
pub struct PrintOpts {
    /// Only the last N records.
    pub tail: Option<usize>,
    /// Keep printing until this process (pid, start time: the log's writer) ends.
    pub follow: Option<(i32, u64)>,
    /// Only records from this time on, up to that one (Unix nanoseconds).
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// `-t`: each line begins with its record's time.
    pub timestamps: bool,
    /// `--details`: each line begins with these attributes (`k=v,k2=v2`) and a space.
    pub details: Option<String>,
}

/// Writes records back to their streams. Lines come whole: what is left
/// of a read without its newline waits for the next read.
struct Printer<'a> {
    opts: &'a PrintOpts,
    out: BufWriter<std::io::StdoutLock<'static>>,
    err: BufWriter<std::io::StderrLock<'static>>,
    /// The stream written last: the other is flushed first, so both keep
    /// their order when they go to the same place.
    last: Stream,
    /// Per stream: the last record ended its line.
    at_line_start: [bool; 2],
    partial: Vec<u8>,
}

impl Printer<'_> {
    fn new(opts: &PrintOpts) -> Printer<'_> {
        Printer {
            opts,
            out: BufWriter::with_capacity(BLOCK, std::io::stdout().lock()),
            err: BufWriter::with_capacity(BLOCK, std::io::stderr().lock()),
            last: Stream::Stdout,
            at_line_start: [true; 2],
            partial: Vec::new(),
        }
    }

    /// Print the lines of `data`; false when our output is gone (e.g. piped into `head`).
    fn feed(&mut self, mut data: &[u8]) -> bool {
        while let Some(i) = data.iter().position(|&c| c == b'\n') {
            let ok = if self.partial.is_empty() {
                self.line(&data[..i])
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&data[..i]);
                let ok = self.line(&line);
                line.clear();
                self.partial = line;
                ok
            };
            if !ok {
                return false;
            }
            data = &data[i + 1..];
        }
        self.partial.extend_from_slice(data);
        // No record is that long: a line of an old log, printed as it comes.
        if self.partial.len() > BLOCK {
            let long = std::mem::take(&mut self.partial);
            return self.write(Stream::Stdout, &long);
        }
        true
    }

    /// The end of a file: a line left without its newline is printed as it is.
    fn end_of_file(&mut self) -> bool {
        if self.partial.is_empty() {
            return true;
        }
        let rest = std::mem::take(&mut self.partial);
        self.line_without_newline(&rest)
    }

    fn line_without_newline(&mut self, line: &[u8]) -> bool {
        match log_split::parse(line) {
            Some(_) => self.line(line),
            None => {
                self.opts.since.is_some() || self.opts.until.is_some() || self.write(Stream::Stdout, line)
            }
        }
    }

    fn line(&mut self, line: &[u8]) -> bool {
        let Some(r) = log_split::parse(line) else {
            // Not a record: no time to filter it by.
            if self.opts.since.is_some() || self.opts.until.is_some() {
                return true;
            }
            return self.write(Stream::Stdout, line) && self.write(Stream::Stdout, b"\n");
        };
        if self.opts.since.is_some() || self.opts.until.is_some() {
            let Some(t) = std::str::from_utf8(r.time).ok().and_then(clock::parse_rfc3339) else {
                return true;
            };
            if self.opts.since.is_some_and(|s| t < s) || self.opts.until.is_some_and(|u| t > u) {
                return true;
            }
        }
        let i = r.stream as usize;
        if self.at_line_start[i] {
            if self.opts.timestamps && !(self.write(r.stream, r.time) && self.write(r.stream, b" ")) {
                return false;
            }
            if let Some(d) = &self.opts.details
                && !(self.write(r.stream, d.as_bytes()) && self.write(r.stream, b" "))
            {
                return false;
            }
        }
        self.at_line_start[i] = r.full;
        self.write(r.stream, r.text) && (!r.full || self.write(r.stream, b"\n"))
    }

    fn write(&mut self, stream: Stream, data: &[u8]) -> bool {
        if stream != self.last {
            let flushed = match self.last {
                Stream::Stdout => self.out.flush(),
                Stream::Stderr => self.err.flush(),
            };
            if flushed.is_err() {
                return false;
            }
            self.last = stream;
        }
        match stream {
            Stream::Stdout => self.out.write_all(data).is_ok(),
            Stream::Stderr => self.err.write_all(data).is_ok(),
        }
    }

    fn flush(&mut self) -> bool {
        self.out.flush().is_ok() && self.err.flush().is_ok()
    }
}

/// Print the rest of `f`; false when our output is gone.
fn copy(mut f: &File, out: &mut Printer, buf: &mut [u8]) -> Result<bool> {
    loop {
        match f.read(buf) {
            Ok(0) => return Ok(out.flush()),
            Ok(n) => {
                if !out.feed(&buf[..n]) {
                    return Ok(false);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::os(format!("read log: {e}"))),
        }
    }
}

/// `copy` of a file that is complete (rotated, or not followed).
fn copy_whole(f: &File, out: &mut Printer, buf: &mut [u8]) -> Result<bool> {
    Ok(copy(f, out, buf)? && out.end_of_file() && out.flush())
}

fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Print the log at `path` as `opts` say: all of it or its last `tail`
/// records; with `follow` (a process's pid and start time: the writer of the
/// log), keep printing what is appended, across rotations, until that
/// process ends (or `until` has passed).
pub fn print(path: &Path, opts: &PrintOpts) -> Result<()> {
    let follow = opts.follow;
    let mut files = open_chain(path)?;
    let (first, offset) = match opts.tail {
        Some(n) => tail_start(&files, n).map_err(|e| Error::os(format!("read {}: {e}", path.display())))?,
        None => (0, 0),
    };
    let mut out = Printer::new(opts);
    let mut buf = vec![0u8; BLOCK];
    let newest = files.len().checked_sub(1);
    for (i, f) in files.iter_mut().enumerate().skip(first) {
        if i == first {
            f.seek(SeekFrom::Start(offset))
                .map_err(|e| Error::os(format!("seek {}: {e}", path.display())))?;
        }
        // The current file is only read once it is known not to have rotated meanwhile (below).
        if Some(i) != newest && !copy_whole(f, &mut out, &mut buf)? {
            return Ok(());
        }
    }
    // Only the current file (the newest) can still grow.
    let mut current = match files.pop() {
        Some(f) if open_chain_is_current(path, &f) => Some(f),
        Some(f) => {
            // Rotated since we opened it: it is complete.
            if !copy_whole(&f, &mut out, &mut buf)? {
                return Ok(());
            }
            follow.is_some().then_some(f)
        }
        None => None,
    };
    loop {
        let gone = match follow {
            Some((pid, start_time)) => {
                process::wait_gone(pid, start_time, 100)? || opts.until.is_some_and(|u| clock::now_ns() > u)
            }
            None => true,
        };
        // Drain the current file and any that replaced it since.
        loop {
            if let Some(f) = &current
                && !copy(f, &mut out, &mut buf)?
            {
                return Ok(());
            }
            if follow.is_none() {
                out.end_of_file();
                out.flush();
                return Ok(());
            }
            match next_after_rotation(path, current.as_ref(), &mut out, &mut buf)? {
                Some(next) => current = Some(next),
                None => break,
            }
        }
        if gone {
            out.end_of_file();
            out.flush();
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
    out: &mut Printer,
    buf: &mut [u8],
) -> Result<Option<File>> {
    let Ok(now) = std::fs::metadata(path) else { return Ok(None) };
    let old = current.and_then(|f| f.metadata().ok());
    if let Some(old) = &old {
        if same_file(old, &now) {
            return Ok(None);
        }
        // Ours is complete: what was written to it since we read it, then its end.
        if let Some(f) = current
            && !copy_whole(f, out, buf)?
        {
            return Ok(None);
        }
        // Ours is now PATH.k: PATH.(k-1) … PATH.1 came after it.
        let mut k = 1;
        while let Ok(m) = std::fs::metadata(rotated(path, k)) {
            if same_file(old, &m) {
                for n in (1..k).rev() {
                    if let Ok(f) = File::open(rotated(path, n))
                        && !copy_whole(&f, out, buf)?
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
