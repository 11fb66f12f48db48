//! The log relay of mydocker's own `__monitor` mode, the fallback when the
//! tiny `mydocker-monitor` cannot be exec'd: the same job, with std. It reads
//! until every writer of the pipe is gone — they are the container's
//! processes, which all die with its init — then the caller reaps the init.

use super::log_split;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A container's log being written: the current file and how to rotate it.
pub struct LogFile {
    file: Option<File>,
    path: PathBuf,
    size: u64,
    max_size: u64,
    max_file: u64,
    at_line_start: bool,
}

impl LogFile {
    /// Continue the open log `file` at `path`.
    pub fn new(mut file: File, path: &Path, max_size: u64, max_file: u64) -> LogFile {
        let size = file.seek(SeekFrom::End(0)).unwrap_or(0);
        LogFile { file: Some(file), path: path.into(), size, max_size, max_file, at_line_start: true }
    }

    /// Append `data`, rotating where `log_split` says; what cannot be written is dropped.
    pub fn write(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let (n, rotate) = log_split::next_write(data, self.size, self.max_size, self.at_line_start);
            if n > 0 {
                if self.file.is_none() {
                    self.file = self.open();
                }
                if let Some(f) = &mut self.file
                    && f.write_all(&data[..n]).is_ok()
                {
                    self.size += n as u64;
                    self.at_line_start = data[n - 1] == b'\n';
                }
            }
            data = &data[n..];
            if rotate {
                self.rotate();
            }
        }
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
        self.at_line_start = true;
    }
}

/// Copy `pipe` into `log` until its writers are all gone.
pub fn relay(mut pipe: File, log: &mut LogFile) {
    let mut buf = vec![0u8; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => log.write(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return,
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
        let data: Vec<u8> = (0..100).flat_map(|i| format!("line{i:03}\n").into_bytes()).collect();
        for chunk in data.chunks(33) {
            log.write(chunk);
        }
        let read = |p: &Path| std::fs::read(p).unwrap_or_default();
        let kept = [
            read(&dir.path().join("container.log.2")),
            read(&dir.path().join("container.log.1")),
            read(&path),
        ];
        assert!(!dir.path().join("container.log.3").exists());
        assert!(kept.iter().all(|k| k.len() <= 100));
        let joined = kept.concat();
        assert!(data.ends_with(&joined), "the newest output, whole lines, in order");
        assert!(joined.starts_with(b"line"));
    }
}
