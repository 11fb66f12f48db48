//! Where a container's log is cut into files: the one rule shared by the
//! per-container monitor (src/bin/mydocker-monitor.rs, no std) and mydocker's
//! fallback relay (`log_relay`). Pure, `core` only.
//!
//! A file ends at a line boundary: when a chunk would take the current file
//! past max-size, the complete lines that fit are written and the file is
//! rotated. A line already begun in a file is finished there, even past
//! max-size, by at most `slack` bytes (16 KiB, or max-size if smaller); a line
//! longer than that, or a line longer than max-size in a file of its own, is
//! split.

/// The most a file grows past max-size to finish the line in progress.
pub const SLACK: u64 = 16 * 1024;

/// Of `data`, how many bytes go to the current file (`size` bytes long,
/// `at_line_start` when it is empty or ends with a newline), and whether the
/// file is rotated after them. Always makes progress: it returns a non-zero
/// count, or a rotation.
pub fn next_write(data: &[u8], size: u64, max: u64, at_line_start: bool) -> (usize, bool) {
    let max = if max == 0 { 1 } else { max };
    if size.saturating_add(data.len() as u64) <= max {
        return (data.len(), false);
    }
    let room = clamp(max.saturating_sub(size), data.len());
    if let Some(i) = last_newline(&data[..room]) {
        return (i + 1, true);
    }
    if at_line_start && size > 0 {
        return (0, true); // the next line starts the next file
    }
    // Mid-line: finish the line here within the slack. A fresh file has no
    // slack: its line is longer than max-size and is split at max-size.
    let slack = if size == 0 { 0 } else { SLACK.min(max) };
    let hard = clamp(max.saturating_add(slack).saturating_sub(size), data.len());
    match first_newline(&data[..hard]) {
        Some(i) => (i + 1, true),
        None if size.saturating_add(data.len() as u64) < max.saturating_add(slack) => (data.len(), false),
        None if hard == 0 => (0, true),
        None => (hard, true),
    }
}

fn clamp(n: u64, len: usize) -> usize {
    if n < len as u64 { n as usize } else { len }
}

fn last_newline(d: &[u8]) -> Option<usize> {
    let mut i = d.len();
    while i > 0 {
        i -= 1;
        if d[i] == b'\n' {
            return Some(i);
        }
    }
    None
}

fn first_newline(d: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < d.len() {
        if d[i] == b'\n' {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `chunks` through the rule; the files it makes, oldest first.
    fn files(chunks: &[&[u8]], max: u64) -> Vec<Vec<u8>> {
        let mut out = vec![Vec::new()];
        for chunk in chunks {
            let mut d: &[u8] = chunk;
            loop {
                let cur = out.last_mut().unwrap();
                let (n, rotate) =
                    next_write(d, cur.len() as u64, max, cur.is_empty() || cur.ends_with(b"\n"));
                cur.extend_from_slice(&d[..n]);
                d = &d[n..];
                if rotate {
                    out.push(Vec::new());
                }
                if d.is_empty() {
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn files_end_at_line_boundaries() {
        let f = files(&[b"aaa\nbbb\n", b"ccc\nddd\n"], 10);
        assert_eq!(f, [b"aaa\nbbb\n".to_vec(), b"ccc\nddd\n".to_vec()]);
        // A line begun in one read and ended in the next stays in one file.
        let f = files(&[b"aaa\nbb", b"b\nccc\n"], 6);
        assert_eq!(f, [b"aaa\nbbb\n".to_vec(), b"ccc\n".to_vec()]);
        // A line longer than max-size is split at max-size.
        let f = files(&[b"0123456789\nab\n"], 4);
        assert_eq!(f, [b"0123".to_vec(), b"4567".to_vec(), b"89\n".to_vec(), b"ab\n".to_vec()]);
        // Every byte arrives once, in order.
        let data: Vec<u8> = (0..5000).flat_map(|i| format!("line{i}\n").into_bytes()).collect();
        let chunks: Vec<&[u8]> = data.chunks(777).collect();
        let f = files(&chunks, 1000);
        assert_eq!(f.concat(), data);
        for file in &f[..f.len() - 1] {
            assert!(file.len() <= 1000 + 10 && file.ends_with(b"\n"), "{}", file.len());
        }
    }
}
