//! The log writer of mydocker's own relays: `__monitor`, the fallback when
//! the tiny `mydocker-monitor` cannot be exec'd (the same job, with std: it
//! reads until every writer of the pipes is gone — they are the container's
//! processes, which all die with its init — then the caller reaps the init);
//! the terminal's monitor (`attach::serve`); and a foreground `run`, which
//! also prints what it logs (`tty::relay_until_exit`). Records and rotation
//! as `log_split` says.

use super::clock;
use super::log_split::{self, Stream, TAG_AT};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A container's log being written: the current file and how to rotate it.
#[derive(Debug)]
pub struct LogFile {
    file: Option<File>,
    path: PathBuf,
    size: u64,
    max_size: u64,
    max_file: u64,
    /// The records of one `write`, written at once.
    buf: Vec<u8>,
}

impl LogFile {
    /// Continue the open log `file` at `path`.
    pub fn new(mut file: File, path: &Path, max_size: u64, max_file: u64) -> LogFile {
        let size = file.seek(SeekFrom::End(0)).unwrap_or(0);
        LogFile { file: Some(file), path: path.into(), size, max_size, max_file, buf: Vec::new() }
    }

    /// Append what `stream` printed, as records of now.
    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        self.write_at(stream, data, clock::now_ns(), false);
    }

    /// Append what `stream` printed as records of time `ns`, rotating where
    /// `log_split` says; what cannot be written is dropped. `hold`: more is
    /// coming at once, so a line begun at the end (after a whole one) is
    /// kept for then; how many bytes were kept.
    pub fn write_at(&mut self, stream: Stream, mut data: &[u8], ns: i64, hold: bool) -> usize {
        let whole = data.len();
        let header =
            log_split::header(ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000) as u32, stream);
        while !data.is_empty() {
            let cut = log_split::next_record(data, self.size + self.buf.len() as u64, self.max_size);
            if hold && !cut.full && cut.used == data.len() && data.len() < whole {
                break;
            }
            if cut.rotate_first {
                self.flush();
                self.rotate();
            }
            self.buf.extend_from_slice(&header[..TAG_AT]);
            self.buf.extend_from_slice(if cut.full { b"F " } else { b"P " });
            self.buf.extend_from_slice(&data[..cut.text]);
            self.buf.push(b'\n');
            data = &data[cut.used..];
        }
        self.flush();
        data.len()
    }

    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        if self.file.is_none() {
            self.file = self.open();
        }
        if let Some(f) = &mut self.file
            && f.write_all(&self.buf).is_ok()
        {
            self.size += self.buf.len() as u64;
        }
        self.buf.clear();
    }

    fn open(&self) -> Option<File> {
        OpenOptions::new().create(true).append(true).truncate(false).mode(0o600).open(&self.path).ok()
    }

    fn rotate(&mut self) {
        self.file = None;
        let nth = |i: u64| PathBuf::from(format!("{}.{i}", self.path.display()));
        if self.max_file > 1 {
            for i in (1..self.max_file - 1).rev() {
                let _ = std::fs::rename(nth(i), nth(i + 1));
            }
            let _ = std::fs::rename(&self.path, nth(1));
        } else {
            let _ = std::fs::remove_file(&self.path);
        }
        self.file = self.open();
        self.size = 0;
    }
}

/// Read what is there of `fd` into `buf`: Some(n) (0 at its end), None when
/// nothing is there now.
pub fn read_some(fd: RawFd, buf: &mut [u8]) -> Option<usize> {
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n >= 0 {
        return Some(n as usize);
    }
    match std::io::Error::last_os_error().kind() {
        ErrorKind::Interrupted | ErrorKind::WouldBlock => None,
        _ => Some(0),
    }
}

/// Copy the container's `stdout` and `stderr` pipes into `log` until their
/// writers are all gone.
pub fn relay(stdout: OwnedFd, stderr: OwnedFd, log: &mut LogFile) {
    // Per stream: its buffer, and the start of a line kept from the last read.
    let mut bufs = [vec![0u8; 8192], vec![0u8; 8192]];
    let mut kept = [0usize; 2];
    let mut open = [Some((stdout, Stream::Stdout)), Some((stderr, Stream::Stderr))];
    while open.iter().any(Option::is_some) {
        let mut fds: Vec<libc::pollfd> = open
            .iter()
            .map(|p| libc::pollfd {
                fd: p.as_ref().map_or(-1, |(f, _)| f.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            if std::io::Error::last_os_error().kind() == ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        for (i, (p, slot)) in fds.iter_mut().zip(open.iter_mut()).enumerate() {
            let Some((fd, stream)) = slot.as_ref() else { continue };
            if p.revents == 0 {
                continue;
            }
            let (buf, k) = (&mut bufs[i], kept[i]);
            match read_some(fd.as_raw_fd(), &mut buf[k..]) {
                Some(0) => {
                    log.write(*stream, &buf[..k]);
                    kept[i] = 0;
                    *slot = None;
                }
                Some(n) => {
                    let len = k + n;
                    let held = log.write_at(*stream, &buf[..len], clock::now_ns(), len == buf.len());
                    buf.copy_within(len - held..len, 0);
                    kept[i] = held;
                }
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_and_keeps_max_file_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("container.log");
        let f = OpenOptions::new().create(true).append(true).open(&path).unwrap();
        let mut log = LogFile::new(f, &path, 100, 3);
        // 100 bytes: two records of 8-byte lines a file.
        let data: Vec<u8> = (0..100).flat_map(|i| format!("line{i:03}\n").into_bytes()).collect();
        for chunk in data.chunks(33) {
            log.write(Stream::Stdout, chunk);
        }
        let read = |p: &Path| std::fs::read(p).unwrap_or_default();
        let kept = [
            read(&dir.path().join("container.log.2")),
            read(&dir.path().join("container.log.1")),
            read(&path),
        ];
        assert!(!dir.path().join("container.log.3").exists());
        assert!(kept.iter().all(|k| k.len() <= 100));
        let joined: Vec<u8> = kept
            .concat()
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .flat_map(|l| {
                let r = log_split::parse(l).expect("a record");
                assert!(r.full, "every line whole");
                [r.text, b"\n"].concat()
            })
            .collect();
        assert!(data.ends_with(&joined), "the newest output, whole lines, in order");
        assert!(joined.starts_with(b"line"));
    }
}
