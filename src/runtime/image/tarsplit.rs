//! A layer's tar stream, less its file contents, kept beside the unpacked layer
//! so `save` gives back the very bytes that were loaded: the config's
//! `rootfs.diff_ids` are digests of those bytes, and repacking a directory
//! (another header format, order, padding) would give other digests, so
//! another image id. The same idea as tar-split in containers/storage; the
//! format is our own:
//!
//! zstd of: `MDTS1\n`, then records `R` u32-le len + bytes (verbatim tar
//! headers, padding, PAX/GNU metadata), `F` u64-le size + u32-le len + path
//! (that many bytes read from the layer's file at path), and `E` u64-le total.

// Until the Rhai bindings (issue 12) use it; the lead removes this when wiring.

use crate::runtime::error::{Context, Error, Result};
use sha2::{Digest, Sha256};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "tar-split.zst";
const MAGIC: &[u8] = b"MDTS1\n";
const BLOCK: usize = 512;
/// Raw bytes are flushed as one record at this size.
const RAW_CHUNK: usize = 1 << 20;

/// The uncompressed stream of a layer blob: gzip (1f 8b) and zstd (28 b5 2f fd) sniffed.
pub fn decompressed<'a>(raw: &'a mut dyn Read) -> Result<Box<dyn Read + 'a>> {
    let mut buffered = BufReader::with_capacity(256 << 10, raw);
    let magic = buffered.fill_buf().ctx(|| "read layer")?;
    Ok(if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(buffered))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(buffered).ctx(|| "start zstd")?)
    } else {
        Box::new(buffered)
    })
}

enum State {
    Header,
    /// PAX or GNU long-name data: kept verbatim and parsed.
    Meta {
        left: u64,
        kind: u8,
        pad: u64,
    },
    /// A regular file's content: not kept (it is in the unpacked layer).
    Content {
        left: u64,
        pad: u64,
    },
    Padding {
        left: u64,
    },
    /// After the end-of-archive block: everything verbatim.
    Trailer,
}

/// Passes a tar stream through unchanged while recording all but file contents.
pub struct Recorder<R> {
    inner: R,
    out: zstd::stream::write::Encoder<'static, BufWriter<File>>,
    state: State,
    header: Vec<u8>,
    raw: Vec<u8>,
    meta: Vec<u8>,
    next_path: Option<Vec<u8>>,
    next_size: Option<u64>,
    total: u64,
}

impl<R: Read> Recorder<R> {
    pub fn new(inner: R, out: &Path) -> Result<Recorder<R>> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(out)
            .ctx(|| format!("create {}", out.display()))?;
        let mut out = zstd::stream::write::Encoder::new(BufWriter::new(file), 3).ctx(|| "start zstd")?;
        out.write_all(MAGIC).ctx(|| "write tar-split")?;
        Ok(Recorder {
            inner,
            out,
            state: State::Header,
            header: Vec::with_capacity(BLOCK),
            raw: Vec::new(),
            meta: Vec::new(),
            next_path: None,
            next_size: None,
            total: 0,
        })
    }

    /// Read the rest of the stream, write the end record; the stream's length.
    pub fn finish(mut self) -> Result<u64> {
        io::copy(&mut self, &mut io::sink()).ctx(|| "read layer")?;
        let total = self.total;
        (|| {
            self.flush_raw()?;
            self.out.write_all(b"E")?;
            self.out.write_all(&total.to_le_bytes())?;
            self.out.finish()?.flush()
        })()
        .ctx(|| "write tar-split")?;
        Ok(total)
    }

    fn flush_raw(&mut self) -> io::Result<()> {
        if !self.raw.is_empty() {
            self.out.write_all(b"R")?;
            self.out.write_all(&(self.raw.len() as u32).to_le_bytes())?;
            self.out.write_all(&self.raw)?;
            self.raw.clear();
        }
        Ok(())
    }

    fn keep(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.raw.extend_from_slice(bytes);
        if self.raw.len() >= RAW_CHUNK {
            self.flush_raw()?;
        }
        Ok(())
    }

    fn feed(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            match self.state {
                State::Header => {
                    let take = (BLOCK - self.header.len()).min(data.len());
                    self.header.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.header.len() == BLOCK {
                        let header = std::mem::take(&mut self.header);
                        self.keep(&header)?;
                        self.on_header(&header)?;
                        self.header = header;
                        self.header.clear();
                    }
                }
                State::Meta { left, kind, pad } => {
                    let take = (left.min(data.len() as u64)) as usize;
                    self.keep(&data[..take])?;
                    self.meta.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    let left = left - take as u64;
                    self.state = State::Meta { left, kind, pad };
                    if left == 0 {
                        self.on_meta(kind);
                        self.state = State::Padding { left: pad };
                    }
                }
                State::Content { left, pad } => {
                    let take = (left.min(data.len() as u64)) as usize;
                    data = &data[take..];
                    let left = left - take as u64;
                    self.state =
                        if left == 0 { State::Padding { left: pad } } else { State::Content { left, pad } };
                }
                State::Padding { left } => {
                    let take = (left.min(data.len() as u64)) as usize;
                    self.keep(&data[..take])?;
                    data = &data[take..];
                    let left = left - take as u64;
                    self.state = if left == 0 { State::Header } else { State::Padding { left } };
                }
                State::Trailer => {
                    self.keep(data)?;
                    data = &[];
                }
            }
        }
        Ok(())
    }

    fn on_header(&mut self, h: &[u8]) -> io::Result<()> {
        // A zero block ends the archive for the unpacker too; anything unparsable
        // is kept verbatim (the unpacker refuses it anyway).
        let Some(size) = (if h.iter().all(|&b| b == 0) { None } else { header_size(h) }) else {
            self.state = State::Trailer;
            return Ok(());
        };
        let size = self.next_size.take().unwrap_or(size);
        let pad = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
        let kind = h[156];
        self.state = match kind {
            b'x' | b'L' | b'g' | b'K' => {
                self.meta.clear();
                if size == 0 { State::Padding { left: pad } } else { State::Meta { left: size, kind, pad } }
            }
            b'0' | 0 | b'7' => {
                let path = self.next_path.take().unwrap_or_else(|| ustar_name(h));
                if size == 0 {
                    State::Padding { left: pad }
                } else {
                    self.flush_raw()?;
                    self.out.write_all(b"F")?;
                    self.out.write_all(&size.to_le_bytes())?;
                    self.out.write_all(&(path.len() as u32).to_le_bytes())?;
                    self.out.write_all(&path)?;
                    State::Content { left: size, pad }
                }
            }
            _ => {
                self.next_path = None;
                // Anything else with data (GNU sparse maps, odd links) is kept verbatim.
                if size == 0 {
                    State::Padding { left: pad }
                } else {
                    State::Meta { left: size, kind: 0, pad }
                }
            }
        };
        Ok(())
    }

    fn on_meta(&mut self, kind: u8) {
        match kind {
            b'L' => {
                let end = self.meta.iter().position(|&b| b == 0).unwrap_or(self.meta.len());
                self.next_path = Some(self.meta[..end].to_vec());
            }
            b'x' => {
                for (key, value) in pax_records(&self.meta) {
                    match key {
                        b"path" => self.next_path = Some(value.to_vec()),
                        b"size" => {
                            self.next_size = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok())
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

impl<R: Read> Read for Recorder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.total += n as u64;
        self.feed(&buf[..n])?;
        Ok(n)
    }
}

/// `len key=value\n` records of a PAX extended header.
fn pax_records(mut data: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut out = Vec::new();
    while let Some(space) = data.iter().position(|&b| b == b' ') {
        let Some(len) = std::str::from_utf8(&data[..space]).ok().and_then(|s| s.parse::<usize>().ok()) else {
            break;
        };
        if len <= space + 1 || len > data.len() {
            break;
        }
        let record = &data[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            out.push((&record[..eq], &record[eq + 1..]));
        }
        data = &data[len..];
    }
    out
}

fn header_size(h: &[u8]) -> Option<u64> {
    let field = &h[124..136];
    if field[0] & 0x80 != 0 {
        // base-256, as GNU tar writes sizes of 8 GiB and more
        return Some(field[1..].iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)));
    }
    let text: Vec<u8> = field.iter().copied().filter(|&b| b != 0 && b != b' ').collect();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&text).ok()?, 8).ok()
}

fn ustar_name(h: &[u8]) -> Vec<u8> {
    let cstr = |f: &[u8]| f[..f.iter().position(|&b| b == 0).unwrap_or(f.len())].to_vec();
    let name = cstr(&h[0..100]);
    // POSIX ustar has a prefix field; GNU's "ustar  " uses those bytes for other things.
    if &h[257..263] == b"ustar\0" {
        let prefix = cstr(&h[345..500]);
        if !prefix.is_empty() {
            let mut p = prefix;
            p.push(b'/');
            p.extend_from_slice(&name);
            return p;
        }
    }
    name
}

/// The path an entry name has under the layer dir (as the unpacker resolves it).
fn relative(name: &[u8]) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                return Err(Error::invalid(format!("tar-split: entry {:?} has ..", OsStr::from_bytes(name))));
            }
            p => out.push(OsStr::from_bytes(p)),
        }
    }
    Ok(out)
}

struct HashingWriter<'a> {
    out: &'a mut dyn Write,
    hash: Sha256,
    len: u64,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Write the recorded stream again, file contents read from `dir`; returns the
/// digest (`sha256:…`) and length of what was written.
pub fn reassemble(meta: &Path, dir: &Path, out: &mut dyn Write) -> Result<(String, u64)> {
    let file = File::open(meta).ctx(|| format!("open {}", meta.display()))?;
    let mut input = zstd::stream::read::Decoder::new(file).ctx(|| format!("read {}", meta.display()))?;
    let bad = |what: &str| Error::invalid(format!("{}: {what}", meta.display()));
    let mut w = HashingWriter { out, hash: Sha256::new(), len: 0 };
    let mut magic = [0u8; 6];
    input.read_exact(&mut magic).map_err(|_| bad("not a tar-split file"))?;
    if magic != MAGIC {
        return Err(bad("not a tar-split file"));
    }
    let mut buf = Vec::new();
    loop {
        let mut tag = [0u8; 1];
        input.read_exact(&mut tag).map_err(|_| bad("truncated"))?;
        match tag[0] {
            b'R' => {
                let len = read_u32(&mut input).map_err(|_| bad("truncated"))?;
                buf.resize(len as usize, 0);
                input.read_exact(&mut buf).map_err(|_| bad("truncated"))?;
                w.write_all(&buf).ctx(|| "write layer")?;
            }
            b'F' => {
                let size = read_u64(&mut input).map_err(|_| bad("truncated"))?;
                let len = read_u32(&mut input).map_err(|_| bad("truncated"))?;
                let mut name = vec![0u8; len as usize];
                input.read_exact(&mut name).map_err(|_| bad("truncated"))?;
                let path = dir.join(relative(&name)?);
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .ctx(|| format!("open {}", path.display()))?;
                let copied =
                    io::copy(&mut f.take(size), &mut w).ctx(|| format!("read {}", path.display()))?;
                if copied != size {
                    return Err(Error::invalid(format!(
                        "{}: {copied} bytes, the layer recorded {size}: the layer was changed",
                        path.display()
                    )));
                }
            }
            b'E' => {
                let total = read_u64(&mut input).map_err(|_| bad("truncated"))?;
                if total != w.len {
                    return Err(bad(&format!("wrote {} bytes, recorded {total}", w.len)));
                }
                let digest = w.hash.finalize();
                return Ok((format!("sha256:{}", crate::runtime::image::archive::hex(&digest)), total));
            }
            _ => return Err(bad("corrupt record")),
        }
    }
}

/// The stream length recorded in a tar-split file (its records walked to the end one).
pub fn recorded_size(meta: &Path) -> Result<u64> {
    let file = File::open(meta).ctx(|| format!("open {}", meta.display()))?;
    let mut input = zstd::stream::read::Decoder::new(file).ctx(|| format!("read {}", meta.display()))?;
    let bad = || Error::invalid(format!("{}: corrupt tar-split file", meta.display()));
    let mut magic = [0u8; 6];
    input.read_exact(&mut magic).map_err(|_| bad())?;
    loop {
        let mut tag = [0u8; 1];
        input.read_exact(&mut tag).map_err(|_| bad())?;
        let skip = match tag[0] {
            b'R' => u64::from(read_u32(&mut input).map_err(|_| bad())?),
            b'F' => {
                read_u64(&mut input).map_err(|_| bad())?;
                u64::from(read_u32(&mut input).map_err(|_| bad())?)
            }
            b'E' => return read_u64(&mut input).map_err(|_| bad()),
            _ => return Err(bad()),
        };
        io::copy(&mut (&mut input).take(skip), &mut io::sink()).map_err(|_| bad())?;
    }
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar with PAX long names, GNU long names, a hardlink, an empty file,
    /// a file whose size is a multiple of 512, and a trailer longer than 1024 bytes.
    fn awkward_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |name: &str, data: &[u8], gnu: bool| {
            let mut h = if gnu { tar::Header::new_gnu() } else { tar::Header::new_ustar() };
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, data).expect("append");
        };
        add("a.txt", b"hello\n", false);
        add("empty", b"", false);
        add("block", &[7u8; 1024], false);
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(120));
        add(&long, b"long gnu name", true);
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Link);
        h.set_size(0);
        b.append_link(&mut h, "hard", "a.txt").expect("link");
        // Without the builder's end-of-archive blocks: more entries follow.
        let mut data = b.get_ref().clone();
        // A PAX-named entry by hand: tar's builder only writes GNU long names.
        let pax_name = format!("p/{}", "x".repeat(150));
        let record = format!("path={pax_name}\n");
        let mut len = record.len() + 3;
        if format!("{len} {record}").len() != len {
            len += 1;
        }
        let pax = format!("{len} {record}");
        let mut ph = tar::Header::new_ustar();
        ph.set_path("PaxHeader").expect("path");
        ph.set_entry_type(tar::EntryType::XHeader);
        ph.set_size(pax.len() as u64);
        ph.set_cksum();
        data.extend_from_slice(ph.as_bytes());
        data.extend_from_slice(pax.as_bytes());
        data.resize(data.len().div_ceil(512) * 512, 0);
        let mut fh = tar::Header::new_ustar();
        fh.set_path("short").expect("path");
        fh.set_size(3);
        fh.set_entry_type(tar::EntryType::Regular);
        fh.set_cksum();
        data.extend_from_slice(fh.as_bytes());
        data.extend_from_slice(b"pax");
        data.resize(data.len().div_ceil(512) * 512 + 10240 - 1024, 0);
        data.extend_from_slice(&[0u8; 1024]);
        data
    }

    #[test]
    fn reassembly_gives_back_the_same_bytes() {
        let tmp = tempfile::tempdir().expect("tmp");
        let tar_bytes = awkward_tar();
        let dir = tmp.path().join("diff");
        std::fs::create_dir(&dir).expect("mkdir");
        let meta = tmp.path().join(FILE_NAME);
        let mut rec = Recorder::new(&tar_bytes[..], &meta).expect("recorder");
        let mut archive = tar::Archive::new(&mut rec);
        archive.unpack(&dir).expect("unpack");
        assert_eq!(rec.finish().expect("finish"), tar_bytes.len() as u64);
        assert!(dir.join(format!("p/{}", "x".repeat(150))).is_file());

        let mut out = Vec::new();
        let (digest, len) = reassemble(&meta, &dir, &mut out).expect("reassemble");
        assert_eq!(len, tar_bytes.len() as u64);
        assert!(out == tar_bytes, "reassembled stream differs");
        let want = format!("sha256:{}", crate::runtime::image::archive::hex(&Sha256::digest(&tar_bytes)));
        assert_eq!(digest, want);
        assert_eq!(recorded_size(&meta).expect("size"), tar_bytes.len() as u64);
        // Metadata only: far smaller than the stream.
        assert!(std::fs::metadata(&meta).expect("stat").len() < 1024);

        // A changed file is noticed, not silently re-read.
        std::fs::write(dir.join("a.txt"), "hi\n").expect("write");
        let e = reassemble(&meta, &dir, &mut Vec::new()).expect_err("changed");
        assert!(e.message.contains("a.txt"), "{}", e.message);
    }
}
