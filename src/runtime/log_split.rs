//! A container's log as records, and where it is cut into records and files:
//! the one rule shared by the per-container monitor (src/bin/mydocker-monitor.rs,
//! no std), mydocker's own relays (`log_relay`) and the reader (`logs`).
//! Pure, `core` only.
//!
//! Each line the container prints is a record, in the CRI format of
//! Kubernetes and Podman's k8s-file:
//! `2026-12-02T13:57:02.123456789Z stdout F text` — the time it was read
//! (UTC, nanoseconds, fixed width), the stream (`stdout`, `stderr`), `F` for
//! a full line or `P` for part of one, and the text without its newline. A
//! line is cut into `P` records, ended by an `F`, when it does not arrive in
//! one read (a write without newline: output that ends without one ends with
//! a `P`) or when it would not fit in a file of its own.
//!
//! A file ends at a record boundary: a record that would take a non-empty file
//! past max-size starts the next file, so no file passes max-size.

use super::civil::civil_from_days;

/// `2026-12-02T13:57:02.123456789Z`
pub const TIME_LEN: usize = 30;
/// `TIME stdout F `: the time, the stream, the tag, and a space each.
pub const HEADER_LEN: usize = TIME_LEN + 10;
/// Where the tag (`F` or `P`) is in a header.
pub const TAG_AT: usize = HEADER_LEN - 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static [u8] {
        match self {
            Stream::Stdout => b"stdout",
            Stream::Stderr => b"stderr",
        }
    }
}

/// The header of the records of one read, made at `secs`.`nanos` since the
/// epoch: its tag is `F`; set `[TAG_AT]` to `P` for a part.
pub fn header(secs: i64, nanos: u32, stream: Stream) -> [u8; HEADER_LEN] {
    let mut h = [b' '; HEADER_LEN];
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400) as u32;
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (0..width).rev() {
            h[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y.clamp(0, 9999) as u32);
    put(5, 2, mo);
    put(8, 2, d);
    put(11, 2, s / 3600);
    put(14, 2, s / 60 % 60);
    put(17, 2, s % 60);
    put(20, 9, nanos.min(999_999_999));
    for (at, c) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (19, b'.'), (29, b'Z')] {
        h[at] = c;
    }
    h[TIME_LEN + 1..TIME_LEN + 7].copy_from_slice(stream.name());
    h[TAG_AT] = b'F';
    h
}

/// The next record of `data` (what one read of one stream gave, or its rest).
#[derive(Debug, PartialEq, Eq)]
pub struct Cut {
    /// The record's text: `data[..text]`.
    pub text: usize,
    /// How much of `data` it uses (the text, and its newline when `full`).
    pub used: usize,
    /// A whole line (`F`), or part of one (`P`).
    pub full: bool,
    /// The current file (`size` bytes) is rotated before this record.
    pub rotate_first: bool,
}

/// Where the next record of `data` ends, for a file of `size` bytes capped
/// at `max`. A record is `HEADER_LEN + text + 1` bytes; one that could not
/// fit in a file of its own is cut to fit. Uses at least one byte of a
/// non-empty `data`.
pub fn next_record(data: &[u8], size: u64, max: u64) -> Cut {
    let (mut text, mut full) = match first_newline(data) {
        Some(i) => (i, true),
        None => (data.len(), false),
    };
    let room = max.saturating_sub(HEADER_LEN as u64 + 1).max(1);
    if text as u64 > room {
        (text, full) = (room as usize, false);
    }
    let len = (HEADER_LEN + text + 1) as u64;
    Cut {
        text,
        used: text + usize::from(full),
        full,
        rotate_first: size > 0 && size.saturating_add(len) > max,
    }
}

/// A record read back: `line` without its newline.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub time: &'a [u8],
    pub stream: Stream,
    pub full: bool,
    pub text: &'a [u8],
}

/// `line` as a record, or None when it is not one (a log of an older mydocker).
pub fn parse(line: &[u8]) -> Option<Record<'_>> {
    let sp = first_space(line)?;
    let time = &line[..sp];
    if time.len() < 20 || !time[0].is_ascii_digit() || time[10] != b'T' {
        return None;
    }
    let rest = &line[sp + 1..];
    let stream = match rest.get(..7)? {
        b"stdout " => Stream::Stdout,
        b"stderr " => Stream::Stderr,
        _ => return None,
    };
    let full = match rest.get(7)? {
        b'F' => true,
        b'P' => false,
        _ => return None,
    };
    let text = match rest.get(8) {
        None => &rest[8..8],
        Some(b' ') => &rest[9..],
        Some(_) => return None,
    };
    Some(Record { time, stream, full, text })
}

fn first_space(d: &[u8]) -> Option<usize> {
    d.iter().position(|&c| c == b' ')
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

    /// Feed `chunks` (all stdout) through the rule; the files it makes, oldest first.
    fn files(chunks: &[&[u8]], max: u64) -> Vec<Vec<u8>> {
        let mut out = vec![Vec::new()];
        for chunk in chunks {
            let mut d: &[u8] = chunk;
            let h = header(0, 0, Stream::Stdout);
            while !d.is_empty() {
                let cut = next_record(d, out.last().map_or(0, |f| f.len()) as u64, max);
                if cut.rotate_first {
                    out.push(Vec::new());
                }
                let cur = out.last_mut().unwrap();
                cur.extend_from_slice(&h[..TAG_AT]);
                cur.extend_from_slice(if cut.full { b"F " } else { b"P " });
                cur.extend_from_slice(&d[..cut.text]);
                cur.push(b'\n');
                d = &d[cut.used..];
            }
        }
        out
    }

    /// The texts of the records of a file, with their tags.
    fn texts(file: &[u8]) -> Vec<String> {
        file.split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let r = parse(l).unwrap();
                format!("{}{}", if r.full { "F:" } else { "P:" }, String::from_utf8_lossy(r.text))
            })
            .collect()
    }

    #[test]
    fn headers_are_rfc3339_utc_with_nanoseconds() {
        let h = header(1_796_219_822, 123_456_789, Stream::Stderr);
        assert_eq!(&h, b"2026-12-02T13:57:02.123456789Z stderr F ");
        assert_eq!(&header(0, 5, Stream::Stdout)[..], b"1970-01-01T00:00:00.000000005Z stdout F ");
    }

    #[test]
    fn records_parse_back() {
        let r = parse(b"2026-12-02T13:57:02.123456789Z stderr P some text").unwrap();
        assert_eq!(
            (r.time, r.stream, r.full, r.text),
            (&b"2026-12-02T13:57:02.123456789Z"[..], Stream::Stderr, false, &b"some text"[..])
        );
        assert_eq!(parse(b"2026-12-02T13:57:02.1Z stdout F").unwrap().text, b"");
        assert_eq!(parse(b"2026-12-02T13:57:02+01:00 stdout F x").unwrap().text, b"x");
        for not in
            [&b"hello world"[..], b"", b"2026-12-02T13:57:02Z stdin F x", b"2026-12-02T13:57:02Z stdout X x"]
        {
            assert_eq!(parse(not), None, "{}", String::from_utf8_lossy(not));
        }
    }

    #[test]
    fn lines_become_records_and_files_end_at_records() {
        let rec = HEADER_LEN as u64 + 4; // a record of a 3-letter line
        let f = files(&[b"aaa\nbbb\n", b"ccc\nddd\n"], 2 * rec);
        assert_eq!(f.iter().map(|f| texts(f)).collect::<Vec<_>>(), [["F:aaa", "F:bbb"], ["F:ccc", "F:ddd"]]);
        // A line in two reads is two records: P, then F.
        let f = files(&[b"aaa\nbb", b"b\nccc\n"], 100 * rec);
        assert_eq!(texts(&f[0]), ["F:aaa", "P:bb", "F:b", "F:ccc"]);
        // Output that ends without a newline ends with a P.
        assert_eq!(texts(&files(&[b"x\ny"], 1000)[0]), ["F:x", "P:y"]);
        // An empty line is a record.
        assert_eq!(texts(&files(&[b"\n"], 1000)[0]), ["F:"]);
        // A line that cannot fit in a file of its own is cut into parts that do.
        let f = files(&[b"0123456789\nab\n"], HEADER_LEN as u64 + 5);
        let all: Vec<String> = f.iter().flat_map(|f| texts(f)).collect();
        assert_eq!(all, ["P:0123", "P:4567", "F:89", "F:ab"]);
        assert!(f.iter().all(|f| f.len() as u64 <= HEADER_LEN as u64 + 5));
        // Every line arrives once, in order, and no file passes max-size.
        let data: Vec<u8> = (0..5000).flat_map(|i| format!("line{i}\n").into_bytes()).collect();
        let chunks: Vec<&[u8]> = data.chunks(777).collect();
        let f = files(&chunks, 1000);
        let mut joined = Vec::new();
        for file in &f {
            assert!(file.len() <= 1000, "{}", file.len());
            for l in file.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
                let r = parse(l).unwrap();
                joined.extend_from_slice(r.text);
                if r.full {
                    joined.push(b'\n');
                }
            }
        }
        assert_eq!(joined, data);
    }
}
