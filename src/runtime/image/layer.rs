//! Image layers. `unpack` turns a layer tar (plain, gzip or zstd) into an
//! overlay lower dir by the OCI image-spec layer rules; `pack` turns an overlay
//! upper dir back into a layer tar (`commit`). Both return the layer's diff id,
//! the sha256 of the uncompressed tar.
//!
//! Every write is fd-relative: each directory on the way to an entry is opened
//! from its parent with O_NOFOLLOW, so a symlink from the layer is never
//! followed when deciding where to write, and `..` is refused outright.
// The image store (issue 12) is its first caller; until it lands, only tests call it.

use crate::runtime::error::{Error, Result};
use crate::runtime::remove_tree::remove_tree;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};

#[derive(Debug, Clone)]
pub struct UnpackStats {
    /// "sha256:<hex>" of the uncompressed tar stream.
    pub diff_id: String,
    /// Bytes of file content written.
    pub size: u64,
    /// Tar members read.
    #[allow(dead_code)] // for callers that report it; the tests check it
    pub entries: u64,
}

#[derive(Debug, Clone)]
pub struct PackStats {
    /// "sha256:<hex>" of the tar written.
    pub diff_id: String,
    /// Bytes of tar written.
    pub size: u64,
}

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &CStr = c"trusted.overlay.opaque";
/// Copy buffer: large enough that a big file costs few syscalls.
const BUF_SIZE: usize = 512 << 10;

/// Unpack the layer read from `reader` into `dest`, an existing empty directory.
pub fn unpack(reader: impl Read, dest: &Path) -> Result<UnpackStats> {
    let root = open_path_dir(dest)?;
    let root_st = fstat(root.as_raw_fd()).map_err(|e| os_err(format!("stat {}", dest.display()), e))?;
    if !dir_names(root.as_raw_fd()).map_err(|e| os_err(format!("read {}", dest.display()), e))?.is_empty() {
        return Err(Error::invalid(format!(
            "unpack a layer into {}: the directory is not empty",
            dest.display()
        )));
    }
    let stream = LayerStream::new(reader)?;
    let mut archive = tar::Archive::new(stream);
    let mut unpacker = Unpacker::new(root, dest, root_st.st_mode & libc::S_ISGID == 0);
    let mut last = String::from("(none)");
    for entry in archive.entries().map_err(|e| os_err("read the layer", e))? {
        let mut entry = entry.map_err(|e| os_err(format!("read the layer after entry {last}"), e))?;
        last = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        unpacker.entry(&mut entry, &last)?;
    }
    unpacker.finish()?;
    let mut stream = archive.into_inner();
    // The end-of-archive blocks and any padding after them are part of the
    // diff id; reading to the end also checks gzip's CRC and length.
    io::copy(&mut stream, &mut io::sink()).map_err(|e| os_err("read the end of the layer", e))?;
    let diff_id = stream.finish()?;
    Ok(UnpackStats { diff_id, size: unpacker.size, entries: unpacker.entries })
}

/// How a layer is compressed, by its magic.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Compression {
    Plain,
    Gzip,
    Zstd,
}

impl Compression {
    fn sniff(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            _ => Compression::Plain,
        }
    }
}

/// A buffer of CHUNK bytes, the first `len` of them filled (reused without zeroing).
struct Chunk {
    buf: Vec<u8>,
    len: usize,
}

const CHUNK: usize = 1 << 20;
/// Decompressed chunks queued for the unpacker: bounds the memory a layer takes.
const CHUNKS_QUEUED: usize = 4;

/// Buffers handed back once read, so the steady state allocates nothing.
#[derive(Clone, Default)]
struct Pool(Arc<Mutex<Vec<Vec<u8>>>>);

impl Pool {
    fn get(&self) -> Vec<u8> {
        self.0.lock().ok().and_then(|mut p| p.pop()).unwrap_or_else(|| vec![0; CHUNK])
    }
    fn put(&self, buf: Vec<u8>) {
        if let Ok(mut p) = self.0.lock()
            && p.len() < 2 * CHUNKS_QUEUED + 2
        {
            p.push(buf);
        }
    }
}

/// Read into `buf` until it holds at least a quarter chunk or the stream ends.
fn fill(src: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() / 4 {
        match src.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

enum FromWorker {
    Data(Chunk),
    /// The decoder wants more of the layer's bytes.
    NeedInput,
    End(Sha256),
    Failed(io::Error),
}

/// The uncompressed layer stream. A worker thread decompresses and hashes
/// while this thread writes files (as `tar -xz` runs gzip beside tar): on a
/// plain tar sha256 alone costs about as much CPU as the writes. The caller's
/// reader is read here, not on the worker, so it need not be `Send`; the
/// worker asks for each compressed chunk.
struct LayerStream<R> {
    source: R,
    /// The magic bytes sniffed, given back before the rest of `source`.
    head: Vec<u8>,
    pool: Pool,
    to_worker: Option<mpsc::Sender<io::Result<Chunk>>>,
    from_worker: Option<mpsc::Receiver<FromWorker>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    current: Option<Chunk>,
    pos: usize,
    digest: Option<Sha256>,
}

impl<R: Read> LayerStream<R> {
    fn new(mut source: R) -> Result<Self> {
        let mut head = vec![0u8; 4];
        let mut got = 0;
        while got < head.len() {
            match source.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(os_err("read the layer", e)),
            }
        }
        head.truncate(got);
        let compression = Compression::sniff(&head);
        let pool = Pool::default();
        let (to_worker, input) = mpsc::channel();
        let (output, mut from_worker) = mpsc::sync_channel(CHUNKS_QUEUED);
        let worker_pool = pool.clone();
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| os_err("start a layer thread", e))
        };
        let mut workers = Vec::new();
        // Decoding and sha256 each take about what the writes take: on a
        // compressed layer they get a thread each.
        let hash_apart = compression != Compression::Plain;
        workers.push(spawn(
            "layer-decode",
            Box::new(move || decode(compression, input, output, worker_pool, !hash_apart)),
        )?);
        if hash_apart {
            let (hashed, from_hasher) = mpsc::sync_channel(CHUNKS_QUEUED);
            let decoded = std::mem::replace(&mut from_worker, from_hasher);
            workers.push(spawn("layer-digest", Box::new(move || hash_stage(decoded, hashed)))?);
        }
        Ok(LayerStream {
            source,
            head,
            pool,
            to_worker: Some(to_worker),
            from_worker: Some(from_worker),
            workers,
            current: None,
            pos: 0,
            digest: None,
        })
    }

    /// The next compressed chunk from the caller's reader (len 0: its end).
    fn input(&mut self) -> io::Result<Chunk> {
        let mut buf = self.pool.get();
        let head = std::mem::take(&mut self.head);
        buf[..head.len()].copy_from_slice(&head);
        let len = head.len() + fill(&mut self.source, &mut buf[head.len()..])?;
        Ok(Chunk { buf, len })
    }

    /// "sha256:<hex>" of the uncompressed stream, once it was read to its end.
    fn finish(mut self) -> Result<String> {
        match self.digest.take() {
            Some(h) => Ok(digest_id(h)),
            None => Err(Error::os("the layer's digest is missing: its stream was not read to the end")),
        }
    }
}

impl<R: Read> Read for LayerStream<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(chunk) = &self.current {
                if self.pos < chunk.len {
                    let n = out.len().min(chunk.len - self.pos);
                    out[..n].copy_from_slice(&chunk.buf[self.pos..self.pos + n]);
                    self.pos += n;
                    return Ok(n);
                }
                if let Some(done) = self.current.take() {
                    self.pool.put(done.buf);
                }
            }
            if self.digest.is_some() {
                return Ok(0);
            }
            let Some(from_worker) = &self.from_worker else {
                return Err(io::Error::other("the layer's decoder stopped"));
            };
            match from_worker.recv() {
                Ok(FromWorker::Data(chunk)) => {
                    self.current = Some(chunk);
                    self.pos = 0;
                }
                Ok(FromWorker::NeedInput) => {
                    let chunk = self.input();
                    // A worker that asked ahead may have ended since: its End or
                    // Failed, or the closed channel, comes next.
                    if let Some(tx) = &self.to_worker {
                        let _ = tx.send(chunk);
                    }
                }
                Ok(FromWorker::End(h)) => self.digest = Some(h),
                Ok(FromWorker::Failed(e)) => {
                    self.from_worker = None;
                    return Err(e);
                }
                Err(_) => {
                    self.from_worker = None;
                    return Err(io::Error::other("the layer's decoder stopped"));
                }
            }
        }
    }
}

impl<R> Drop for LayerStream<R> {
    fn drop(&mut self) {
        // Closing both channels ends the worker wherever it waits; wait for
        // it so none outlives an unpack.
        self.to_worker = None;
        self.from_worker = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// The worker's view of the compressed bytes: chunks it asks the unpacking thread for.
struct Input {
    rx: mpsc::Receiver<io::Result<Chunk>>,
    ask: mpsc::SyncSender<FromWorker>,
    pool: Pool,
    current: Option<Chunk>,
    pos: usize,
    ended: bool,
    /// Chunks asked for and not yet received.
    asked: usize,
}

/// Compressed chunks asked for ahead, so the reading thread never waits on the worker.
const INPUT_AHEAD: usize = 3;

impl Input {
    /// The next chunk, or None at the end of the layer.
    fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        if self.ended {
            return Ok(None);
        }
        let gone = || io::Error::other("the unpacker stopped");
        while self.asked < INPUT_AHEAD {
            self.ask.send(FromWorker::NeedInput).map_err(|_| gone())?;
            self.asked += 1;
        }
        let chunk = self.rx.recv().map_err(|_| gone())??;
        self.asked -= 1;
        if chunk.len == 0 {
            self.ended = true;
            self.pool.put(chunk.buf);
            return Ok(None);
        }
        Ok(Some(chunk))
    }
}

impl Read for Input {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.current.as_ref().is_none_or(|c| self.pos == c.len) {
            if let Some(done) = self.current.take() {
                self.pool.put(done.buf);
            }
            self.current = self.next_chunk()?;
            self.pos = 0;
        }
        let Some(chunk) = &self.current else { return Ok(0) };
        let n = out.len().min(chunk.len - self.pos);
        out[..n].copy_from_slice(&chunk.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Between the decoder and the unpacker: hash each chunk on the way.
fn hash_stage(rx: mpsc::Receiver<FromWorker>, out: mpsc::SyncSender<FromWorker>) {
    let mut hasher = Sha256::new();
    for msg in rx {
        let msg = match msg {
            FromWorker::Data(chunk) => {
                hasher.update(&chunk.buf[..chunk.len]);
                FromWorker::Data(chunk)
            }
            FromWorker::End(_) => FromWorker::End(std::mem::replace(&mut hasher, Sha256::new())),
            other => other,
        };
        if out.send(msg).is_err() {
            return;
        }
    }
}

/// The worker: decompress, hash unless `hash_stage` does, and hand the uncompressed chunks over.
fn decode(
    compression: Compression,
    rx: mpsc::Receiver<io::Result<Chunk>>,
    out: mpsc::SyncSender<FromWorker>,
    pool: Pool,
    hash: bool,
) {
    let mut input =
        Input { rx, ask: out.clone(), pool: pool.clone(), current: None, pos: 0, ended: false, asked: 0 };
    let mut hasher = Sha256::new();
    let result = (|| -> io::Result<()> {
        let mut decoder: Box<dyn Read> = match compression {
            Compression::Plain => {
                // Nothing to decode: the input chunks go back as they are.
                while let Some(chunk) = input.next_chunk()? {
                    hasher.update(&chunk.buf[..chunk.len]);
                    out.send(FromWorker::Data(chunk))
                        .map_err(|_| io::Error::other("the unpacker stopped"))?;
                }
                return Ok(());
            }
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&mut input)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(&mut input)?),
        };
        loop {
            let mut buf = pool.get();
            let len = fill(&mut decoder, &mut buf)?;
            if len == 0 {
                return Ok(());
            }
            if hash {
                hasher.update(&buf[..len]);
            }
            out.send(FromWorker::Data(Chunk { buf, len }))
                .map_err(|_| io::Error::other("the unpacker stopped"))?;
        }
    })();
    let _ = out.send(match result {
        Ok(()) => FromWorker::End(hasher),
        Err(e) => FromWorker::Failed(e),
    });
}

/// A writer that hashes and counts the bytes passing through.
struct Hashing<T> {
    inner: T,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn digest_id(hasher: Sha256) -> String {
    let mut id = String::with_capacity(7 + 64);
    id.push_str("sha256:");
    for b in hasher.finalize().iter() {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// What a tar member says about the thing it makes.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: libc::timespec,
    xattrs: Vec<(CString, Vec<u8>)>,
}

/// A directory's mode and mtime, set once everything inside it is written.
struct DirMeta {
    path: Vec<u8>,
    mode: u32,
    mtime: libc::timespec,
}

struct Unpacker<'d> {
    dest: &'d Path,
    dirs: DirStack,
    deferred: Vec<DirMeta>,
    buf: Vec<u8>,
    size: u64,
    entries: u64,
    /// (euid, egid) when what we create is already owned that way: nothing
    /// here is setgid until the end, unless `dest` itself is.
    own_ids: Option<(u32, u32)>,
}

impl<'d> Unpacker<'d> {
    fn new(root: OwnedFd, dest: &'d Path, no_setgid_root: bool) -> Self {
        let ids = unsafe { (libc::geteuid(), libc::getegid()) };
        Unpacker {
            dest,
            dirs: DirStack { root, open: Vec::new() },
            deferred: Vec::new(),
            buf: vec![0; BUF_SIZE],
            size: 0,
            entries: 0,
            own_ids: no_setgid_root.then_some(ids),
        }
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>, name: &str) -> Result<()> {
        self.entries += 1;
        let raw_type = entry.header().as_bytes()[156];
        let mut kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let raw_path = entry.path_bytes().into_owned();
        // Pre-POSIX tars mark a directory only by the trailing slash.
        if raw_type == 0 && raw_path.ends_with(b"/") {
            kind = tar::EntryType::Directory;
        }
        let comps = components(&raw_path).map_err(|why| invalid(name, why))?;
        let meta = self.meta(entry, name)?;
        let Some((base, parents)) = comps.split_last() else {
            if !kind.is_dir() {
                return Err(invalid(name, "the layer's root can only be a directory"));
            }
            return self.root_dir(meta, name);
        };
        if let Some(rest) = base.strip_prefix(WHITEOUT_PREFIX) {
            return self.whiteout(parents, base, rest, name);
        }
        let parent = self.dirs.enter(parents, name)?;
        let base_c = cname(base, name)?;
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                self.regular(entry, parent, &comps, &base_c, meta, name)
            }
            tar::EntryType::Directory => self.directory(parent, &comps, &base_c, meta, name),
            tar::EntryType::Symlink => {
                let target =
                    entry.link_name_bytes().ok_or_else(|| invalid(name, "a symlink without a target"))?;
                let target = CString::new(target.into_owned())
                    .map_err(|_| invalid(name, "the symlink target contains a NUL byte"))?;
                self.create(parent, &comps, &base_c, name, "create the symlink", || {
                    cvt(unsafe { libc::symlinkat(target.as_ptr(), parent, base_c.as_ptr()) })
                })?;
                self.finish_node(parent, &base_c, &meta, false, name)
            }
            tar::EntryType::Link => {
                let target =
                    entry.link_name_bytes().ok_or_else(|| invalid(name, "a hardlink without a target"))?;
                self.hardlink(parent, &comps, &base_c, &target, name)
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let fmt = match kind {
                    tar::EntryType::Char => libc::S_IFCHR,
                    tar::EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let dev = if fmt == libc::S_IFIFO {
                    // Writers leave a FIFO's device fields blank.
                    0
                } else {
                    let header = entry.header();
                    let bad = |e: io::Error| invalid(name, format!("bad device number in the header: {e}"));
                    let major = header.device_major().map_err(bad)?.unwrap_or(0);
                    let minor = header.device_minor().map_err(bad)?.unwrap_or(0);
                    libc::makedev(major, minor)
                };
                self.create(parent, &comps, &base_c, name, "create the node", || {
                    cvt(unsafe { libc::mknodat(parent, base_c.as_ptr(), fmt | 0o600, dev) })
                })?;
                self.finish_node(parent, &base_c, &meta, true, name)
            }
            other => Err(invalid(name, format!("unsupported entry type {:?}", other.as_byte() as char))),
        }
    }

    /// Mode, owner, mtime and the xattrs to keep, from the header and its PAX records.
    fn meta<R: Read>(&self, entry: &mut tar::Entry<R>, name: &str) -> Result<Meta> {
        let header = entry.header();
        let bad = |what: &str, e: io::Error| invalid(name, format!("bad {what} in the header: {e}"));
        let mode = header.mode().map_err(|e| bad("mode", e))? & 0o7777;
        let id = |v: u64, what: &str| {
            u32::try_from(v).map_err(|_| invalid(name, format!("{what} {v} is too large")))
        };
        let uid = id(header.uid().map_err(|e| bad("uid", e))?, "uid")?;
        let gid = id(header.gid().map_err(|e| bad("gid", e))?, "gid")?;
        let secs = header.mtime().map_err(|e| bad("mtime", e))?;
        let mut mtime = libc::timespec { tv_sec: secs.min(i64::MAX as u64) as i64, tv_nsec: 0 };
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().map_err(|e| bad("PAX header", e))? {
            for record in pax {
                let record = record.map_err(|e| bad("PAX record", e))?;
                let key = record.key_bytes();
                if key == b"mtime" {
                    mtime = pax_time(record.value_bytes()).ok_or_else(|| invalid(name, "bad PAX mtime"))?;
                } else if let Some(xname) = key.strip_prefix(b"SCHILY.xattr.") {
                    if xattr_class(xname) == XattrClass::Drop {
                        log::debug!("layer entry {name}: xattr {} dropped", String::from_utf8_lossy(xname));
                        continue;
                    }
                    let xname =
                        CString::new(xname).map_err(|_| invalid(name, "an xattr name with a NUL byte"))?;
                    xattrs.push((xname, record.value_bytes().to_vec()));
                }
            }
        }
        Ok(Meta { mode, uid, gid, mtime, xattrs })
    }

    fn regular<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        parent: RawFd,
        comps: &[&[u8]],
        base: &CStr,
        meta: Meta,
        name: &str,
    ) -> Result<()> {
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        let fd = self
            .create(parent, comps, base, name, "create the file", || open_at(parent, base, flags, 0o600))?;
        let mut file = File::from(fd);
        let expected = entry.size();
        let mut written = 0u64;
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(fail(name, "read its content", e)),
            };
            file.write_all(&self.buf[..n]).map_err(|e| fail(name, "write", e))?;
            written += n as u64;
        }
        if written != expected {
            return Err(invalid(name, format!("truncated: {written} of {expected} bytes")));
        }
        self.size += written;
        let fd = file.as_raw_fd();
        // Owner first: chown clears setuid/setgid, and xattrs last: chown
        // clears security.capability too.
        if self.own_ids != Some((meta.uid, meta.gid)) {
            cvt(unsafe { libc::fchown(fd, meta.uid, meta.gid) }).map_err(|e| fail(name, "chown", e))?;
        }
        cvt(unsafe { libc::fchmod(fd, meta.mode) }).map_err(|e| fail(name, "chmod", e))?;
        set_xattrs(XattrOn::Fd(fd), &meta.xattrs, true, name)?;
        let times = [meta.mtime, meta.mtime];
        cvt(unsafe { libc::futimens(fd, times.as_ptr()) }).map_err(|e| fail(name, "set its times", e))?;
        Ok(())
    }

    fn directory(
        &mut self,
        parent: RawFd,
        comps: &[&[u8]],
        base: &CStr,
        meta: Meta,
        name: &str,
    ) -> Result<()> {
        let mut fresh = true;
        match cvt(unsafe { libc::mkdirat(parent, base.as_ptr(), 0o700) }) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                let st = stat_at(parent, base).map_err(|e| fail(name, "stat", e))?;
                fresh = st.st_mode & libc::S_IFMT != libc::S_IFDIR;
                if fresh {
                    let was_whiteout = is_whiteout(&st);
                    self.make_room(parent, comps, base, name)?;
                    cvt(unsafe { libc::mkdirat(parent, base.as_ptr(), 0o700) })
                        .map_err(|e| fail(name, "create the directory", e))?;
                    // Deleted from lower layers, then made again: it hides their directory's children.
                    if was_whiteout {
                        set_opaque(parent, base, name)?;
                    }
                }
            }
            Err(e) => return Err(fail(name, "create the directory", e)),
        }
        self.chown_at(parent, base, &meta, fresh, name)?;
        set_xattrs(XattrOn::At(parent, base), &meta.xattrs, true, name)?;
        self.deferred.push(DirMeta { path: comps.join(&b'/'), mode: meta.mode, mtime: meta.mtime });
        Ok(())
    }

    fn root_dir(&mut self, meta: Meta, name: &str) -> Result<()> {
        let fd = self.dirs.root.as_raw_fd();
        cvt(unsafe { libc::fchown(fd, meta.uid, meta.gid) }).map_err(|e| fail(name, "chown", e))?;
        set_xattrs(XattrOn::Fd(fd), &meta.xattrs, true, name)?;
        self.deferred.push(DirMeta { path: Vec::new(), mode: meta.mode, mtime: meta.mtime });
        Ok(())
    }

    /// `.wh.NAME` deletes NAME from the lower layers: overlay's form is a char
    /// device 0:0; `.wh..wh..opq` makes its directory hide theirs (opaque).
    fn whiteout(&mut self, parents: &[&[u8]], base: &[u8], hidden: &[u8], name: &str) -> Result<()> {
        let parent = self.dirs.enter(parents, name)?;
        if base == OPAQUE_MARKER {
            // Hides only the lower layers' children: siblings in this layer stay, whatever their order.
            return cvt(unsafe {
                libc::fsetxattr(parent, OPAQUE_XATTR.as_ptr(), b"y".as_ptr().cast(), 1, 0)
            })
            .map(drop)
            .map_err(|e| fail(name, "mark the directory opaque", e));
        }
        if hidden.starts_with(WHITEOUT_PREFIX) {
            // aufs's own metadata (.wh..wh.plnk, .wh..wh.aufs): nothing for overlay.
            log::debug!("layer entry {name}: aufs metadata skipped");
            return Ok(());
        }
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(invalid(name, "a whiteout that names nothing"));
        }
        let hidden_c = cname(hidden, name)?;
        match stat_at(parent, &hidden_c) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                cvt(unsafe { libc::mknodat(parent, hidden_c.as_ptr(), libc::S_IFCHR, libc::makedev(0, 0)) })
                    .map(drop)
                    .map_err(|e| fail(name, "create the whiteout", e))
            }
            Err(e) => Err(fail(name, "stat what it deletes", e)),
            // This layer's own entry already replaces the lower one; a
            // directory of this layer must then not show the lower one's children.
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => set_opaque(parent, &hidden_c, name),
            Ok(_) => Ok(()),
        }
    }

    fn hardlink(
        &mut self,
        parent: RawFd,
        comps: &[&[u8]],
        base: &CStr,
        target: &[u8],
        name: &str,
    ) -> Result<()> {
        let shown = String::from_utf8_lossy(target).into_owned();
        let tcomps =
            components(target).map_err(|why| invalid(name, format!("hardlink target {shown}: {why}")))?;
        let Some((tbase, tparents)) = tcomps.split_last() else {
            return Err(invalid(name, "a hardlink to the layer's root"));
        };
        if tcomps == comps {
            return Err(invalid(name, "a hardlink to itself"));
        }
        let tparent =
            open_chain(self.dirs.root.as_raw_fd(), tparents).map_err(|e| link_error(name, &shown, e))?;
        let tbase = cname(tbase, name)?;
        let tfd = tparent.as_ref().map_or(self.dirs.root.as_raw_fd(), |fd| fd.as_raw_fd());
        // Flags 0: a link to a symlink is to the symlink itself, never its target.
        let link = || cvt(unsafe { libc::linkat(tfd, tbase.as_ptr(), parent, base.as_ptr(), 0) });
        match link() {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                self.make_room(parent, comps, base, name)?;
                link().map(drop).map_err(|e| link_error(name, &shown, e))
            }
            r => r.map(drop).map_err(|e| link_error(name, &shown, e)),
        }
    }

    /// Owner, mode, xattrs and times of a node made by name (symlink, device, FIFO).
    fn finish_node(
        &mut self,
        parent: RawFd,
        base: &CStr,
        meta: &Meta,
        chmod: bool,
        name: &str,
    ) -> Result<()> {
        self.chown_at(parent, base, meta, true, name)?;
        if chmod {
            // fchmodat follows symlinks, but this name is the node just made.
            cvt(unsafe { libc::fchmodat(parent, base.as_ptr(), meta.mode, 0) })
                .map_err(|e| fail(name, "chmod", e))?;
        }
        set_xattrs(XattrOn::At(parent, base), &meta.xattrs, false, name)?;
        let times = [meta.mtime, meta.mtime];
        cvt(unsafe { libc::utimensat(parent, base.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) })
            .map(drop)
            .map_err(|e| fail(name, "set its times", e))
    }

    /// `fresh`: just made, so already owned by our ids.
    fn chown_at(&self, parent: RawFd, base: &CStr, meta: &Meta, fresh: bool, name: &str) -> Result<()> {
        if fresh && self.own_ids == Some((meta.uid, meta.gid)) {
            return Ok(());
        }
        cvt(unsafe { libc::fchownat(parent, base.as_ptr(), meta.uid, meta.gid, libc::AT_SYMLINK_NOFOLLOW) })
            .map(drop)
            .map_err(|e| fail(name, "chown", e))
    }

    /// Run `op` (which creates `base` in `parent`); if something is already
    /// there, an earlier entry for the same path: remove it and try again.
    fn create<T>(
        &mut self,
        parent: RawFd,
        comps: &[&[u8]],
        base: &CStr,
        name: &str,
        what: &str,
        op: impl Fn() -> io::Result<T>,
    ) -> Result<T> {
        match op() {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                self.make_room(parent, comps, base, name)?;
                op().map_err(|e| fail(name, what, e))
            }
            r => r.map_err(|e| fail(name, what, e)),
        }
    }

    /// Remove what an earlier entry put at `comps` (a directory with its contents).
    fn make_room(&mut self, parent: RawFd, comps: &[&[u8]], base: &CStr, name: &str) -> Result<()> {
        let st = match stat_at(parent, base) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            r => r.map_err(|e| fail(name, "stat what is there", e))?,
        };
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return cvt(unsafe { libc::unlinkat(parent, base.as_ptr(), 0) })
                .map(drop)
                .map_err(|e| fail(name, "replace what is there", e));
        }
        // Its leading directories are real ones, just opened without following links.
        let rel = comps.join(&b'/');
        remove_tree(&self.dest.join(OsStr::from_bytes(&rel)))?;
        self.deferred.retain(|d| {
            !(d.path == rel || (d.path.starts_with(&rel) && d.path.get(rel.len()) == Some(&b'/')))
        });
        Ok(())
    }

    /// Directories' modes and mtimes, now that nothing more is written inside them.
    fn finish(&mut self) -> Result<()> {
        for d in std::mem::take(&mut self.deferred) {
            let shown = String::from_utf8_lossy(&d.path).into_owned();
            let comps: Vec<&[u8]> = d.path.split(|b| *b == b'/').filter(|c| !c.is_empty()).collect();
            let held;
            let fd = match comps.split_last() {
                None => self.dirs.root.as_raw_fd(),
                Some((base, parents)) => {
                    let parent = self.dirs.enter(parents, &shown)?;
                    held = open_dir(parent, &cname(base, &shown)?).map_err(|e| fail(&shown, "open", e))?;
                    held.as_raw_fd()
                }
            };
            cvt(unsafe { libc::fchmod(fd, d.mode) }).map_err(|e| fail(&shown, "chmod", e))?;
            let times = [d.mtime, d.mtime];
            cvt(unsafe { libc::futimens(fd, times.as_ptr()) })
                .map_err(|e| fail(&shown, "set its times", e))?;
        }
        Ok(())
    }
}

/// The open directories from the root to the previous entry's parent: the
/// next entry in the same directory (the common case) reuses them.
struct DirStack {
    root: OwnedFd,
    open: Vec<(Vec<u8>, OwnedFd)>,
}

impl DirStack {
    /// The directory `parents` under the root, opened one component at a time
    /// without following links; missing ones are made (0755, as tar does).
    fn enter(&mut self, parents: &[&[u8]], name: &str) -> Result<RawFd> {
        let keep =
            self.open.iter().zip(parents).take_while(|((have, _), want)| have.as_slice() == **want).count();
        self.open.truncate(keep);
        for (i, comp) in parents.iter().enumerate().skip(keep) {
            let c = cname(comp, name)?;
            let fd = open_or_make_dir(self.top(), &c).map_err(|e| {
                let link = stat_at(self.top(), &c).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK);
                walk_error(name, &parents[..=i], e, link)
            })?;
            self.open.push((comp.to_vec(), fd));
        }
        Ok(self.top())
    }

    fn top(&self) -> RawFd {
        self.open.last().map_or(self.root.as_raw_fd(), |(_, fd)| fd.as_raw_fd())
    }
}

fn open_or_make_dir(at: RawFd, name: &CStr) -> io::Result<OwnedFd> {
    match open_dir(at, name) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            cvt(unsafe { libc::mkdirat(at, name.as_ptr(), 0o755) })?;
            let fd = open_dir(at, name)?;
            // Not left to the umask.
            cvt(unsafe { libc::fchmod(fd.as_raw_fd(), 0o755) })?;
            Ok(fd)
        }
        r => r,
    }
}

/// Open the existing directory `comps` under `root` (None: the root itself).
fn open_chain(root: RawFd, comps: &[&[u8]]) -> io::Result<Option<OwnedFd>> {
    let mut cur: Option<OwnedFd> = None;
    for comp in comps {
        let c = CString::new(*comp).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let at = cur.as_ref().map_or(root, |fd| fd.as_raw_fd());
        cur = Some(open_dir(at, &c)?);
    }
    Ok(cur)
}

/// An entry's path as components under the layer root: a leading `/` and
/// `.` components dropped, `..` refused.
fn components(path: &[u8]) -> std::result::Result<Vec<&[u8]>, &'static str> {
    let mut out = Vec::new();
    for comp in path.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => return Err("`..` in the path"),
            _ => out.push(comp),
        }
    }
    Ok(out)
}

#[derive(PartialEq, Eq, Debug)]
enum XattrClass {
    /// Overlay's own: a tar must not forge whiteouts, redirects or origins.
    Drop,
    /// Kept, and an error if the kernel refuses it on a file or directory.
    Keep,
    /// Kept if the kernel accepts it (security.selinux and the like).
    Try,
}

fn xattr_class(name: &[u8]) -> XattrClass {
    if name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.") {
        XattrClass::Drop
    } else if name == b"security.capability" || name.starts_with(b"user.") {
        XattrClass::Keep
    } else {
        XattrClass::Try
    }
}

enum XattrOn<'a> {
    Fd(RawFd),
    /// A name in a directory: set through /proc/self/fd/<dir>/<name>, whose
    /// last component lsetxattr does not follow.
    At(RawFd, &'a CStr),
}

fn set_xattrs(on: XattrOn, xattrs: &[(CString, Vec<u8>)], file_or_dir: bool, name: &str) -> Result<()> {
    if xattrs.is_empty() {
        return Ok(());
    }
    let path = match on {
        XattrOn::At(dir, base) => proc_path(dir, base),
        XattrOn::Fd(_) => CString::default(),
    };
    for (xname, value) in xattrs {
        let (v, len) = (value.as_ptr().cast(), value.len());
        let r = match on {
            XattrOn::At(..) => unsafe { libc::lsetxattr(path.as_ptr(), xname.as_ptr(), v, len, 0) },
            XattrOn::Fd(fd) => unsafe { libc::fsetxattr(fd, xname.as_ptr(), v, len, 0) },
        };
        if r == 0 {
            continue;
        }
        let e = io::Error::last_os_error();
        let shown = xname.to_string_lossy();
        if file_or_dir && xattr_class(xname.to_bytes()) == XattrClass::Keep {
            return Err(fail(name, &format!("set xattr {shown}"), e));
        }
        log::debug!("layer entry {name}: xattr {shown} not kept: {e}");
    }
    Ok(())
}

fn set_opaque(parent: RawFd, base: &CStr, name: &str) -> Result<()> {
    let p = proc_path(parent, base);
    cvt(unsafe { libc::lsetxattr(p.as_ptr(), OPAQUE_XATTR.as_ptr(), b"y".as_ptr().cast(), 1, 0) })
        .map(drop)
        .map_err(|e| fail(name, "mark the directory opaque", e))
}

fn proc_path(dir: RawFd, base: &CStr) -> CString {
    let mut p = format!("/proc/self/fd/{dir}/").into_bytes();
    p.extend_from_slice(base.to_bytes());
    // `base` is a CStr: no NUL inside.
    CString::new(p).unwrap_or_default()
}

/// A PAX time, "secs[.fraction]".
fn pax_time(v: &[u8]) -> Option<libc::timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let tv_sec: i64 = secs.parse().ok().filter(|s: &i64| *s >= 0)?;
    let digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut tv_nsec: i64 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
    for _ in digits.len()..9 {
        tv_nsec *= 10;
    }
    if !negative {
        return Some(libc::timespec { tv_sec, tv_nsec });
    }
    // "-1.5" is 1.5 s before the epoch: -2 s + 0.5 s.
    Some(match tv_nsec {
        0 => libc::timespec { tv_sec: -tv_sec, tv_nsec: 0 },
        n => libc::timespec { tv_sec: -tv_sec - 1, tv_nsec: 1_000_000_000 - n },
    })
}

fn is_whiteout(st: &libc::stat64) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0
}

// ---- pack ----

/// Write `dir`, an overlay upper dir, as an uncompressed layer tar to `out`.
/// `exclude`: paths relative to `dir` left out (with what is under them).
pub fn pack(dir: &Path, out: impl Write, exclude: &[&str]) -> Result<PackStats> {
    let root = open_path_dir(dir)?;
    let root_st = fstat(root.as_raw_fd()).map_err(|e| os_err(format!("stat {}", dir.display()), e))?;
    let exclude: Vec<Vec<u8>> = exclude
        .iter()
        .map(|p| components(p.as_bytes()).map(|c| c.join(&b'/')))
        .collect::<std::result::Result<_, _>>()
        .map_err(|why| Error::invalid(format!("pack {}: an excluded path has {why}", dir.display())))?;
    let sink =
        Hashing { inner: BufWriter::with_capacity(BUF_SIZE / 2, out), hasher: Sha256::new(), bytes: 0 };
    let mut packer = Packer {
        dir,
        builder: tar::Builder::new(sink),
        links: HashMap::new(),
        buf: vec![0; BUF_SIZE],
        exclude,
    };
    packer.walk(root, &root_st)?;
    let mut sink = packer.builder.into_inner().map_err(|e| os_err("write the layer's end", e))?;
    sink.flush().map_err(|e| os_err("write the layer", e))?;
    Ok(PackStats { diff_id: digest_id(sink.hasher), size: sink.bytes })
}

/// Directories held open while walking; deeper ones are reopened through `..`.
const MAX_OPEN_DIRS: usize = 64;

struct Level {
    fd: Option<OwnedFd>,
    id: (u64, u64),
    /// Its path under the packed dir, with a trailing '/' (empty for the root).
    prefix: Vec<u8>,
    names: Vec<CString>,
    next: usize,
}

struct Packer<'d, W: Write> {
    dir: &'d Path,
    builder: tar::Builder<Hashing<BufWriter<W>>>,
    /// (dev, ino) of files seen with more than one link → their first path.
    links: HashMap<(u64, u64), Vec<u8>>,
    buf: Vec<u8>,
    exclude: Vec<Vec<u8>>,
}

impl<W: Write> Packer<'_, W> {
    fn walk(&mut self, root: OwnedFd, root_st: &libc::stat64) -> Result<()> {
        let names = self.sorted_names(root.as_raw_fd(), ".")?;
        if self.is_opaque(root.as_raw_fd(), c".", ".")? {
            self.marker(OPAQUE_MARKER.to_vec(), root_st, root_st.st_mode & 0o777)?;
        }
        let mut levels = vec![Level {
            fd: Some(root),
            id: (root_st.st_dev, root_st.st_ino),
            prefix: Vec::new(),
            names,
            next: 0,
        }];
        while let Some(level) = levels.last_mut() {
            if level.next == level.names.len() {
                let done = levels.pop();
                if let (Some(done), Some(up)) = (done, levels.last_mut())
                    && up.fd.is_none()
                {
                    up.fd = Some(self.reopen_parent(&done, up)?);
                }
                continue;
            }
            let name = level.names[level.next].clone();
            level.next += 1;
            let prefix = level.prefix.clone();
            let Some(fd) = level.fd.as_ref().map(|fd| fd.as_raw_fd()) else {
                return Err(Error::os(format!("pack {}: lost a directory fd", self.dir.display())));
            };
            let mut rel = prefix.clone();
            rel.extend_from_slice(name.to_bytes());
            if self.exclude.contains(&rel) {
                continue;
            }
            let shown = String::from_utf8_lossy(&rel).into_owned();
            let st = match stat_at(fd, &name) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                r => r.map_err(|e| fail_pack(&shown, "stat", e))?,
            };
            let fmt = st.st_mode & libc::S_IFMT;
            if fmt == libc::S_IFDIR {
                let child = open_dir(fd, &name).map_err(|e| fail_pack(&shown, "open", e))?;
                let mut dir_name = rel.clone();
                dir_name.push(b'/');
                let xattrs = self.xattrs(fd, &name, &shown)?;
                self.append(&dir_name, tar::EntryType::Directory, &st, None, &xattrs, None)?;
                if self.is_opaque(fd, &name, &shown)? {
                    let mut marker = dir_name.clone();
                    marker.extend_from_slice(OPAQUE_MARKER);
                    self.marker(marker, &st, st.st_mode & 0o777)?;
                }
                let names = self.sorted_names(child.as_raw_fd(), &shown)?;
                levels.push(Level {
                    fd: Some(child),
                    id: (st.st_dev, st.st_ino),
                    prefix: dir_name,
                    names,
                    next: 0,
                });
                let depth = levels.len();
                if depth > MAX_OPEN_DIRS {
                    levels[depth - MAX_OPEN_DIRS - 1].fd = None;
                }
                continue;
            }
            if is_whiteout(&st) {
                let mut wh = prefix.clone();
                wh.extend_from_slice(WHITEOUT_PREFIX);
                wh.extend_from_slice(name.to_bytes());
                self.marker(wh, &st, 0o600)?;
                continue;
            }
            if st.st_nlink > 1 {
                if let Some(first) = self.links.get(&(st.st_dev, st.st_ino)) {
                    let first = first.clone();
                    self.append(&rel, tar::EntryType::Link, &st, Some(&first), &[], None)?;
                    continue;
                }
                self.links.insert((st.st_dev, st.st_ino), rel.clone());
            }
            let xattrs = self.xattrs(fd, &name, &shown)?;
            match fmt {
                libc::S_IFREG => {
                    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
                    let file =
                        File::from(open_at(fd, &name, flags, 0).map_err(|e| fail_pack(&shown, "open", e))?);
                    let now = fstat(file.as_raw_fd()).map_err(|e| fail_pack(&shown, "stat", e))?;
                    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) {
                        return Err(Error::os(format!("pack: {shown} was replaced while packing")));
                    }
                    self.append(&rel, tar::EntryType::Regular, &st, None, &xattrs, Some(file))?;
                }
                libc::S_IFLNK => {
                    let target =
                        read_link_at(fd, &name).map_err(|e| fail_pack(&shown, "read the link", e))?;
                    self.append(&rel, tar::EntryType::Symlink, &st, Some(&target), &xattrs, None)?;
                }
                libc::S_IFCHR => self.append(&rel, tar::EntryType::Char, &st, None, &xattrs, None)?,
                libc::S_IFBLK => self.append(&rel, tar::EntryType::Block, &st, None, &xattrs, None)?,
                libc::S_IFIFO => self.append(&rel, tar::EntryType::Fifo, &st, None, &xattrs, None)?,
                _ => log::debug!("pack: {shown} skipped: a socket has no place in a layer"),
            }
        }
        Ok(())
    }

    /// The parent of `done` through its `..`, checked to be the directory we left.
    fn reopen_parent(&self, done: &Level, up: &Level) -> Result<OwnedFd> {
        let shown = String::from_utf8_lossy(&up.prefix).into_owned();
        let Some(fd) = done.fd.as_ref() else {
            return Err(Error::os(format!("pack {}: lost a directory fd", self.dir.display())));
        };
        let parent = open_dir(fd.as_raw_fd(), c"..").map_err(|e| fail_pack(&shown, "reopen", e))?;
        let st = fstat(parent.as_raw_fd()).map_err(|e| fail_pack(&shown, "stat", e))?;
        if (st.st_dev, st.st_ino) != up.id {
            return Err(Error::os(format!("pack: {shown} was moved while packing")));
        }
        Ok(parent)
    }

    fn sorted_names(&self, fd: RawFd, shown: &str) -> Result<Vec<CString>> {
        let mut names = dir_names(fd).map_err(|e| fail_pack(shown, "read", e))?;
        names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        Ok(names)
    }

    fn is_opaque(&self, dir: RawFd, name: &CStr, shown: &str) -> Result<bool> {
        let p = proc_path(dir, name);
        let mut v = [0u8; 2];
        let n = unsafe { libc::lgetxattr(p.as_ptr(), OPAQUE_XATTR.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENODATA) | Some(libc::ENOTSUP) | Some(libc::ERANGE) => Ok(false),
                _ => Err(fail_pack(shown, "read its xattrs", e)),
            };
        }
        Ok(&v[..n as usize] == b"y")
    }

    /// Its xattrs as PAX records, sorted, without overlay's own.
    fn xattrs(&self, dir: RawFd, name: &CStr, shown: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let p = proc_path(dir, name);
        let names = read_xattr_names(&p).map_err(|e| fail_pack(shown, "list its xattrs", e))?;
        let mut out = Vec::new();
        for xname in names {
            if xattr_class(xname.to_bytes()) == XattrClass::Drop {
                continue;
            }
            let Ok(key) = xname.to_str() else {
                log::debug!("pack: {shown}: xattr {} skipped: not UTF-8", xname.to_string_lossy());
                continue;
            };
            match read_xattr(&p, &xname) {
                Ok(Some(value)) => out.push((format!("SCHILY.xattr.{key}"), value)),
                Ok(None) => {}
                Err(e) => return Err(fail_pack(shown, &format!("read xattr {key}"), e)),
            }
        }
        out.sort();
        Ok(out)
    }

    /// An empty regular file standing for overlay metadata: `.wh.NAME` or the opaque marker.
    fn marker(&mut self, path: Vec<u8>, st: &libc::stat64, mode: u32) -> Result<()> {
        let mut st = *st;
        st.st_mode = libc::S_IFREG | mode;
        st.st_size = 0;
        self.append(&path, tar::EntryType::Regular, &st, None, &[], None)
    }

    fn append(
        &mut self,
        path: &[u8],
        kind: tar::EntryType,
        st: &libc::stat64,
        link: Option<&[u8]>,
        xattrs: &[(String, Vec<u8>)],
        data: Option<File>,
    ) -> Result<()> {
        let shown = String::from_utf8_lossy(path).into_owned();
        let size = if data.is_some() { st.st_size.max(0) as u64 } else { 0 };
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        let mut h = tar::Header::new_ustar();
        put(&mut h.as_old_mut().name, path, "path", &mut pax);
        if let Some(link) = link {
            put(&mut h.as_old_mut().linkname, link, "linkpath", &mut pax);
        }
        // Past what ustar's octal fields hold, PAX says it.
        for (key, v) in [("uid", st.st_uid), ("gid", st.st_gid)] {
            if u64::from(v) > 0o7777777 {
                pax.push((key.into(), v.to_string().into_bytes()));
            }
        }
        if size > 0o77777777777 {
            pax.push(("size".into(), size.to_string().into_bytes()));
        }
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(u64::from(st.st_uid));
        h.set_gid(u64::from(st.st_gid));
        h.set_size(size);
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_entry_type(kind);
        if matches!(kind, tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo) {
            let (major, minor) = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
            h.set_device_major(major).map_err(|e| fail_pack(&shown, "write its device", e))?;
            h.set_device_minor(minor).map_err(|e| fail_pack(&shown, "write its device", e))?;
        }
        h.set_cksum();
        pax.extend(xattrs.iter().cloned());
        if !pax.is_empty() {
            self.builder
                .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .map_err(|e| fail_pack(&shown, "write", e))?;
        }
        let out = self.builder.get_mut();
        out.write_all(h.as_bytes()).map_err(|e| fail_pack(&shown, "write", e))?;
        if let Some(mut file) = data {
            let mut left = size;
            while left > 0 {
                let want = left.min(self.buf.len() as u64) as usize;
                let n = match file.read(&mut self.buf[..want]) {
                    Ok(0) => return Err(Error::os(format!("pack: {shown} shrank while packing"))),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(fail_pack(&shown, "read", e)),
                };
                out.write_all(&self.buf[..n]).map_err(|e| fail_pack(&shown, "write", e))?;
                left -= n as u64;
            }
            let pad = (512 - size % 512) % 512;
            out.write_all(&[0u8; 512][..pad as usize]).map_err(|e| fail_pack(&shown, "write", e))?;
        }
        Ok(())
    }
}

/// Put `value` in a fixed header field; if it does not fit, a PAX record
/// carries it and the field keeps a truncated copy.
fn put(field: &mut [u8], value: &[u8], key: &str, pax: &mut Vec<(String, Vec<u8>)>) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
    if value.len() > field.len() {
        pax.push((key.into(), value.to_vec()));
    }
}

fn read_xattr_names(path: &CStr) -> io::Result<Vec<CString>> {
    loop {
        let size = unsafe { libc::llistxattr(path.as_ptr(), std::ptr::null_mut(), 0) };
        if size < 0 {
            let e = io::Error::last_os_error();
            return if e.raw_os_error() == Some(libc::ENOTSUP) { Ok(Vec::new()) } else { Err(e) };
        }
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; size as usize];
        let n = unsafe { libc::llistxattr(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ERANGE) {
                continue;
            }
            return Err(e);
        }
        buf.truncate(n as usize);
        return Ok(buf
            .split(|b| *b == 0)
            .filter(|n| !n.is_empty())
            .filter_map(|n| CString::new(n).ok())
            .collect());
    }
}

fn read_xattr(path: &CStr, name: &CStr) -> io::Result<Option<Vec<u8>>> {
    loop {
        let size = unsafe { libc::lgetxattr(path.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) };
        if size < 0 {
            let e = io::Error::last_os_error();
            return if e.raw_os_error() == Some(libc::ENODATA) { Ok(None) } else { Err(e) };
        }
        let mut buf = vec![0u8; size as usize];
        let n = unsafe { libc::lgetxattr(path.as_ptr(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ERANGE) {
                continue;
            }
            return if e.raw_os_error() == Some(libc::ENODATA) { Ok(None) } else { Err(e) };
        }
        buf.truncate(n as usize);
        return Ok(Some(buf));
    }
}

fn read_link_at(dir: RawFd, name: &CStr) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        let n = unsafe { libc::readlinkat(dir, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if (n as usize) < buf.len() {
            buf.truncate(n as usize);
            return Ok(buf);
        }
        buf.resize(buf.len() * 2, 0);
    }
}

// ---- small fd-relative helpers ----

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r) }
}

fn open_at(at: RawFd, name: &CStr, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    let fd = cvt(unsafe { libc::openat(at, name.as_ptr(), flags, mode) })?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn open_dir(at: RawFd, name: &CStr) -> io::Result<OwnedFd> {
    open_at(at, name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0)
}

/// The caller's directory itself: its own path may go through links.
fn open_path_dir(path: &Path) -> Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::invalid(format!("path contains a NUL byte: {}", path.display())))?;
    open_at(libc::AT_FDCWD, &c, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, 0)
        .map_err(|e| os_err(format!("open {}", path.display()), e))
}

fn stat_at(at: RawFd, name: &CStr) -> io::Result<libc::stat64> {
    let mut st: libc::stat64 = unsafe { std::mem::zeroed() };
    cvt(unsafe { libc::fstatat64(at, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

fn fstat(fd: RawFd) -> io::Result<libc::stat64> {
    let mut st: libc::stat64 = unsafe { std::mem::zeroed() };
    cvt(unsafe { libc::fstat64(fd, &mut st) })?;
    Ok(st)
}

/// The names in directory `fd` (without `.` and `..`).
fn dir_names(fd: RawFd) -> io::Result<Vec<CString>> {
    // A fresh open file description, so the listing starts at the beginning.
    let own = open_dir(fd, c".")?;
    let stream = unsafe { libc::fdopendir(own.as_raw_fd()) };
    if stream.is_null() {
        return Err(io::Error::last_os_error());
    }
    // The stream owns the fd from here; closedir closes it.
    std::mem::forget(own);
    let mut names = Vec::new();
    let result = loop {
        unsafe { *libc::__errno_location() = 0 };
        let entry = unsafe { libc::readdir64(stream) };
        if entry.is_null() {
            let e = io::Error::last_os_error();
            break if e.raw_os_error().unwrap_or(0) != 0 { Err(e) } else { Ok(()) };
        }
        let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
        if name != c"." && name != c".." {
            names.push(name.to_owned());
        }
    };
    unsafe { libc::closedir(stream) };
    result.map(|()| names)
}

fn cname(bytes: &[u8], name: &str) -> Result<CString> {
    CString::new(bytes).map_err(|_| invalid(name, "a NUL byte in the path"))
}

fn invalid(name: &str, why: impl std::fmt::Display) -> Error {
    Error::invalid(format!("layer entry {name}: {why}"))
}

fn fail(name: &str, what: &str, e: io::Error) -> Error {
    os_err(format!("layer entry {name}: {what}"), e)
}

fn fail_pack(name: &str, what: &str, e: io::Error) -> Error {
    os_err(format!("pack: {name}: {what}"), e)
}

fn os_err(what: impl std::fmt::Display, e: io::Error) -> Error {
    let err = Error::os(format!("{what}: {e}"));
    match e.raw_os_error() {
        Some(n) => err.with_errno(n),
        None => err,
    }
}

/// An error while opening the directories on the way to an entry.
fn walk_error(name: &str, upto: &[&[u8]], e: io::Error, symlink: bool) -> Error {
    let dir = String::from_utf8_lossy(&upto.join(&b'/')).into_owned();
    match e.raw_os_error() {
        _ if symlink => invalid(name, format!("{dir} is a symlink: refusing to write through it")),
        Some(libc::ELOOP) => invalid(name, format!("{dir} is a symlink: refusing to write through it")),
        Some(libc::ENOTDIR) => invalid(name, format!("{dir} is not a directory")),
        _ => fail(name, &format!("open {dir}"), e),
    }
}

fn link_error(name: &str, target: &str, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ENOENT) => {
            invalid(name, format!("hardlink target {target} is not an earlier entry of the layer"))
        }
        Some(libc::ELOOP) | Some(libc::ENOTDIR) => {
            invalid(name, format!("hardlink target {target} goes through a symlink or a file"))
        }
        _ => fail(name, &format!("link to {target}"), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use tar::EntryType;

    fn is_root() -> bool {
        unsafe { libc::geteuid() == 0 }
    }

    /// One tar member, built by hand so that names the tar crate refuses (`..`) can be written.
    #[derive(Clone)]
    struct E<'a> {
        path: &'a str,
        kind: EntryType,
        mode: u32,
        data: Vec<u8>,
        link: &'a str,
        dev: (u32, u32),
        owner: (u64, u64),
        mtime: u64,
        pax: Vec<(String, Vec<u8>)>,
    }

    fn e(path: &str, kind: EntryType) -> E<'_> {
        E {
            path,
            kind,
            mode: 0o644,
            data: Vec::new(),
            link: "",
            dev: (0, 0),
            owner: (0, 0),
            mtime: 1_600_000_000,
            pax: Vec::new(),
        }
    }
    fn reg<'a>(path: &'a str, data: &[u8]) -> E<'a> {
        E { data: data.to_vec(), ..e(path, EntryType::Regular) }
    }
    fn dir(path: &str) -> E<'_> {
        E { mode: 0o755, ..e(path, EntryType::Directory) }
    }
    fn sym<'a>(path: &'a str, target: &'a str) -> E<'a> {
        E { link: target, mode: 0o777, ..e(path, EntryType::Symlink) }
    }
    fn hard<'a>(path: &'a str, target: &'a str) -> E<'a> {
        E { link: target, ..e(path, EntryType::Link) }
    }
    fn node(path: &str, kind: EntryType, dev: (u32, u32)) -> E<'_> {
        E { dev, ..e(path, kind) }
    }
    impl<'a> E<'a> {
        fn mode(self, mode: u32) -> Self {
            E { mode, ..self }
        }
        fn owner(self, uid: u64, gid: u64) -> Self {
            E { owner: (uid, gid), ..self }
        }
        fn mtime(self, mtime: u64) -> Self {
            E { mtime, ..self }
        }
        fn link(self, link: &'a str) -> Self {
            E { link, ..self }
        }
        fn xattr(mut self, name: &str, value: &[u8]) -> Self {
            self.pax.push((format!("SCHILY.xattr.{name}"), value.to_vec()));
            self
        }
    }

    fn build(entries: &[E]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for en in entries {
            let mut pax = en.pax.clone();
            let mut h = tar::Header::new_ustar();
            put(&mut h.as_old_mut().name, en.path.as_bytes(), "path", &mut pax);
            put(&mut h.as_old_mut().linkname, en.link.as_bytes(), "linkpath", &mut pax);
            h.set_mode(en.mode);
            h.set_uid(en.owner.0);
            h.set_gid(en.owner.1);
            h.set_mtime(en.mtime);
            h.set_size(en.data.len() as u64);
            h.set_entry_type(en.kind);
            h.set_device_major(en.dev.0).unwrap();
            h.set_device_minor(en.dev.1).unwrap();
            h.set_cksum();
            if !pax.is_empty() {
                b.append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice()))).unwrap();
            }
            b.append(&h, en.data.as_slice()).unwrap();
        }
        let mut bytes = b.into_inner().unwrap();
        // GNU tar pads to a 10 KiB record: the digest covers that too.
        bytes.resize(bytes.len().div_ceil(10240) * 10240, 0);
        bytes
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn zstd(bytes: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(bytes, 3).unwrap()
    }

    fn sha256(bytes: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(bytes);
        digest_id(h)
    }

    fn xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
        let p = CString::new(path.as_os_str().as_bytes()).unwrap();
        read_xattr_names(&p)
            .unwrap()
            .into_iter()
            .map(|n| (n.to_string_lossy().into_owned(), read_xattr(&p, &n).unwrap().unwrap()))
            .collect()
    }

    fn set_xattr(path: &Path, name: &CStr, value: &[u8]) {
        let p = CString::new(path.as_os_str().as_bytes()).unwrap();
        let r = unsafe { libc::lsetxattr(p.as_ptr(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
        assert_eq!(r, 0, "setxattr {}: {}", path.display(), io::Error::last_os_error());
    }

    fn mknod(path: &Path, mode: u32, dev: libc::dev_t) {
        let p = CString::new(path.as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mknod(p.as_ptr(), mode, dev) }, 0, "mknod {}", path.display());
    }

    /// A v2 file capability: cap_net_bind_service, effective.
    fn capability() -> Vec<u8> {
        let mut v = Vec::new();
        for word in [0x0200_0001u32, 1 << 10, 0, 0, 0] {
            v.extend_from_slice(&word.to_le_bytes());
        }
        v
    }

    fn every_case() -> Vec<E<'static>> {
        let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let long: &'static str = Box::leak(format!("long/{}", "n".repeat(150)).into_boxed_str());
        vec![
            dir("./").mode(0o755).mtime(1_500_000_000),
            reg("file", b"hello").mode(0o640),
            reg("big", &big),
            dir("dir/").mode(0o750).mtime(1_000_000).xattr("user.d", b"dv"),
            reg("dir/inner", b"in"),
            sym("abs", "/etc/passwd"),
            sym("dir/rel", "../file"),
            hard("hardlink", "file"),
            dir("dev/"),
            node("dev/null", EntryType::Char, (1, 3)).mode(0o666),
            node("dev/loop0", EntryType::Block, (7, 0)).mode(0o660).owner(0, 6),
            node("fifo", EntryType::Fifo, (0, 0)).mode(0o620),
            dir("bin/"),
            reg("bin/su", b"#!suid")
                .mode(0o4755)
                .owner(1000, 1000)
                .xattr("security.capability", &capability()),
            reg("bin/sg", b"sgid").mode(0o2755).owner(1000, 50).xattr("user.x", b"1"),
            dir("forged/").xattr("trusted.overlay.opaque", b"y"),
            reg("forged/f", b"f")
                .xattr("trusted.overlay.redirect", b"/etc")
                .xattr("user.overlay.opaque", b"y"),
            reg(".wh.gone", b""),
            dir("opq/"),
            reg("opq/keep", b"before the marker"),
            reg("opq/.wh..wh..opq", b""),
            reg("opq/after", b"after the marker"),
            dir("whdir/"),
            reg("whdir/mine", b"m"),
            reg(".wh.whdir", b""),
            reg(".wh.wd2", b""),
            dir("wd2/"),
            reg("wd2/new", b"n"),
            reg("f2d", b"a file first"),
            dir("f2d/").mode(0o700),
            reg("f2d/x", b"x"),
            dir("d2f/"),
            reg("d2f/child", b"c"),
            reg("d2f", b"now a file"),
            sym("s2f", "/nowhere"),
            reg("s2f", b"was a symlink"),
            reg("/abs2/file", b"absolute name"),
            reg("implicit/sub/file", b"no parent entries"),
            reg("stale", b"regular, whatever the link name says").link("/etc/passwd"),
            reg(long, b"long name"),
            reg(".wh..wh.plnk", b""),
            // Kept when the kernel takes it, skipped (not an error) when it does not.
            reg("try", b"").xattr("trusted.kept", b"k").xattr("system.bogus", b"x"),
            // user.* is refused on symlinks by the kernel: not an error either.
            sym("userlink", "file").xattr("user.x", b"1"),
        ]
    }

    fn check_every_case(dest: &Path) {
        let md = |p: &str| fs_md(&dest.join(p));
        assert_eq!(std::fs::read(dest.join("file")).unwrap(), b"hello");
        assert_eq!(md("file").mode() & 0o7777, 0o640);
        assert_eq!(std::fs::read(dest.join("big")).unwrap().len(), 300_000);
        assert_eq!(md("dir").mode() & 0o7777, 0o750);
        assert_eq!(md("dir").mtime(), 1_000_000, "a directory's mtime is set after its contents");
        assert_eq!(md("").mtime(), 1_500_000_000, "the root entry applies to dest");
        assert_eq!(xattrs(&dest.join("dir")).get("user.d").map(Vec::as_slice), Some(&b"dv"[..]));
        assert_eq!(std::fs::read_link(dest.join("abs")).unwrap(), Path::new("/etc/passwd"));
        assert_eq!(std::fs::read_link(dest.join("dir/rel")).unwrap(), Path::new("../file"));
        assert_eq!(md("hardlink").ino(), md("file").ino());
        assert_eq!(md("file").nlink(), 2);
        let null = md("dev/null");
        assert_eq!(null.mode() & libc::S_IFMT, libc::S_IFCHR);
        assert_eq!(null.rdev(), libc::makedev(1, 3));
        assert_eq!(null.mode() & 0o7777, 0o666);
        let lp = md("dev/loop0");
        assert_eq!(lp.mode() & libc::S_IFMT, libc::S_IFBLK);
        assert_eq!((lp.rdev(), lp.gid(), lp.mode() & 0o7777), (libc::makedev(7, 0), 6, 0o660));
        assert_eq!(md("fifo").mode() & libc::S_IFMT, libc::S_IFIFO);
        assert_eq!(md("fifo").mode() & 0o7777, 0o620);
        let su = md("bin/su");
        assert_eq!(
            (su.mode() & 0o7777, su.uid(), su.gid()),
            (0o4755, 1000, 1000),
            "setuid survives the chown"
        );
        assert_eq!(xattrs(&dest.join("bin/su")).get("security.capability"), Some(&capability()));
        let sg = md("bin/sg");
        assert_eq!((sg.mode() & 0o7777, sg.gid()), (0o2755, 50));
        assert_eq!(xattrs(&dest.join("bin/sg")).get("user.x").map(Vec::as_slice), Some(&b"1"[..]));
        assert!(xattrs(&dest.join("forged")).is_empty(), "trusted.overlay.* from a tar is dropped");
        assert!(xattrs(&dest.join("forged/f")).is_empty(), "overlay xattrs are dropped");
        let gone = md("gone");
        assert_eq!((gone.mode() & libc::S_IFMT, gone.rdev()), (libc::S_IFCHR, 0), ".wh.gone is a whiteout");
        assert!(!dest.join(".wh.gone").exists());
        let opaque = |p: &str| xattrs(&dest.join(p)).get("trusted.overlay.opaque").cloned();
        assert_eq!(opaque("opq").as_deref(), Some(&b"y"[..]));
        assert!(dest.join("opq/keep").is_file(), "the marker does not hide this layer's entries");
        assert!(dest.join("opq/after").is_file());
        assert!(!dest.join("opq/.wh..wh..opq").exists());
        assert_eq!(opaque("whdir").as_deref(), Some(&b"y"[..]), "a whiteout of this layer's dir: opaque");
        assert!(dest.join("whdir/mine").is_file());
        assert_eq!(opaque("wd2").as_deref(), Some(&b"y"[..]), "deleted then made again: opaque");
        assert!(dest.join("wd2/new").is_file());
        assert_eq!(opaque("dir"), None);
        assert!(md("f2d").is_dir() && dest.join("f2d/x").is_file(), "a file turned into a dir");
        assert_eq!(md("f2d").mode() & 0o7777, 0o700);
        assert_eq!(std::fs::read(dest.join("d2f")).unwrap(), b"now a file", "a dir turned into a file");
        assert_eq!(std::fs::read(dest.join("s2f")).unwrap(), b"was a symlink");
        assert_eq!(std::fs::read(dest.join("abs2/file")).unwrap(), b"absolute name");
        assert_eq!(md("implicit/sub").mode() & 0o7777, 0o755);
        assert!(md("stale").is_file(), "the typeflag wins over a stale link name");
        assert_eq!(std::fs::read(dest.join(format!("long/{}", "n".repeat(150)))).unwrap(), b"long name");
        assert!(!dest.join(".wh..wh.plnk").exists() && !dest.join(".wh.plnk").exists());
        assert_eq!(xattrs(&dest.join("try")).keys().collect::<Vec<_>>(), ["trusted.kept"]);
        assert!(md("userlink").file_type().is_symlink());
    }

    fn fs_md(p: &Path) -> std::fs::Metadata {
        std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn unpacks_every_case_plain_gzip_and_zstd_with_the_diff_id_of_the_plain_tar() {
        if !is_root() {
            return;
        }
        let plain = build(&every_case());
        let want = sha256(&plain);
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("layer.tar"), &plain).unwrap();
        let out = std::process::Command::new("sha256sum").arg(tmp.path().join("layer.tar")).output().unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with(&want["sha256:".len()..]),
            "sha256sum agrees"
        );
        for (kind, bytes) in [("plain", plain.clone()), ("gzip", gzip(&plain)), ("zstd", zstd(&plain))] {
            let dest = tmp.path().join(kind);
            std::fs::create_dir(&dest).unwrap();
            let stats = unpack(bytes.as_slice(), &dest).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(stats.diff_id, want, "{kind}");
            assert_eq!(stats.entries, every_case().len() as u64, "{kind}");
            let content: usize = every_case()
                .iter()
                .filter(|e| e.kind == EntryType::Regular && !e.path.contains(".wh."))
                .map(|e| e.data.len())
                .sum();
            assert_eq!(stats.size, content as u64, "{kind}");
            check_every_case(&dest);
        }
    }

    /// Hands out at most 7 bytes a read: chunking must not depend on the caller's reads.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_slow_reader_and_an_empty_layer() {
        if !is_root() {
            return;
        }
        let plain = build(&[dir("a/"), reg("a/f", &[7u8; 5000]), reg("g", b"g")]);
        for bytes in [plain.clone(), gzip(&plain), zstd(&plain)] {
            let tmp = tempfile::tempdir().unwrap();
            let stats = unpack(Trickle(&bytes), tmp.path()).unwrap();
            assert_eq!(stats.diff_id, sha256(&plain));
            assert_eq!(std::fs::read(tmp.path().join("a/f")).unwrap(), [7u8; 5000]);
        }
        let empty = build(&[]);
        let tmp = tempfile::tempdir().unwrap();
        let stats = unpack(empty.as_slice(), tmp.path()).unwrap();
        assert_eq!((stats.diff_id, stats.entries), (sha256(&empty), 0));
        let stats = unpack(&[][..], tmp.path()).unwrap();
        assert_eq!(stats.diff_id, sha256(b""), "a zero-byte stream is an empty layer");
    }

    /// Unpack `entries` into a fresh dest under a fresh temp dir; the error it must give.
    fn refused(entries: &[E], setup: impl FnOnce(&Path)) -> (tempfile::TempDir, Error) {
        let tmp = tempfile::tempdir().unwrap();
        setup(tmp.path());
        let dest = tmp.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        let err = unpack(build(entries).as_slice(), &dest).expect_err("must be refused");
        (tmp, err)
    }

    #[test]
    fn refuses_dot_dot_and_writes_through_symlinks_naming_the_entry() {
        if !is_root() {
            return;
        }
        for name in ["../x", "a/../../x", "ok/../x"] {
            let (tmp, err) = refused(&[dir("ok/"), reg(name, b"escaped")], |_| {});
            assert!(err.message.contains(name) && err.message.contains(".."), "{}", err.message);
            assert!(!tmp.path().join("x").exists());
        }

        let passwd = std::fs::read("/etc/passwd").unwrap();
        let (_tmp, err) =
            refused(&[sym("evil", "/etc"), reg("evil/passwd", b"root::0:0::/:/bin/sh\n")], |_| {});
        assert!(err.message.contains("evil/passwd") && err.message.contains("symlink"), "{}", err.message);
        assert_eq!(std::fs::read("/etc/passwd").unwrap(), passwd, "/etc untouched");

        // Deeper, into a directory of ours: nothing appears there.
        let (tmp, err) =
            refused(&[sym("out", "../outside"), dir("out/sub/"), reg("out/sub/new", b"x")], |t| {
                std::fs::create_dir(t.join("outside")).unwrap()
            });
        assert!(err.message.contains("out/sub/") && err.message.contains("symlink"), "{}", err.message);
        assert_eq!(std::fs::read_dir(tmp.path().join("outside")).unwrap().count(), 0);

        // A symlink made after a directory of the same name replaced it: the cached fd is not used.
        let (tmp, err) =
            refused(&[dir("d/"), reg("d/a", b"a"), sym("d", "../outside"), reg("d/b", b"b")], |t| {
                std::fs::create_dir(t.join("outside")).unwrap()
            });
        assert!(err.message.contains("d/b"), "{}", err.message);
        assert_eq!(std::fs::read_dir(tmp.path().join("outside")).unwrap().count(), 0);

        // Through a file: not a directory.
        let (_tmp, err) = refused(&[reg("f", b""), reg("f/x", b"")], |_| {});
        assert!(err.message.contains("f/x") && err.message.contains("not a directory"), "{}", err.message);
    }

    #[test]
    fn refuses_hardlinks_out_of_the_layer() {
        if !is_root() {
            return;
        }
        let shadow_links = fs_md(Path::new("/etc/shadow")).nlink();
        let (tmp, err) = refused(&[hard("h", "/etc/shadow")], |_| {});
        assert!(err.message.contains("h:") && err.message.contains("/etc/shadow"), "{}", err.message);
        assert!(std::fs::symlink_metadata(tmp.path().join("dest/h")).is_err());
        assert_eq!(fs_md(Path::new("/etc/shadow")).nlink(), shadow_links);

        let (tmp, err) =
            refused(&[hard("h", "../outside")], |t| std::fs::write(t.join("outside"), "secret").unwrap());
        assert!(err.message.contains("../outside") && err.message.contains(".."), "{}", err.message);
        assert_eq!(fs_md(&tmp.path().join("outside")).nlink(), 1);

        let (_tmp, err) = refused(&[sym("evil", "/etc"), hard("h", "evil/shadow")], |_| {});
        assert!(err.message.contains("evil/shadow") && err.message.contains("symlink"), "{}", err.message);
        assert_eq!(fs_md(Path::new("/etc/shadow")).nlink(), shadow_links);

        // A link to a symlink is to the link itself, never through it.
        let tmp = tempfile::tempdir().unwrap();
        unpack(build(&[sym("evil", "/etc/shadow"), hard("h", "evil")]).as_slice(), tmp.path()).unwrap();
        assert!(fs_md(&tmp.path().join("h")).file_type().is_symlink());
        assert_eq!(fs_md(Path::new("/etc/shadow")).nlink(), shadow_links);
    }

    #[test]
    fn a_truncated_or_corrupt_stream_is_an_error() {
        if !is_root() {
            return;
        }
        let big: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let plain = build(&[reg("a", &big), reg("b", b"b")]);
        let gz = gzip(&plain);
        let zs = zstd(&plain);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("gzip cut in half", gz[..gz.len() / 2].to_vec()),
            ("gzip without its trailer", gz[..gz.len() - 4].to_vec()),
            ("zstd cut in half", zs[..zs.len() / 2].to_vec()),
            ("zstd cut at the end", zs[..zs.len() - 3].to_vec()),
            ("plain cut inside a file", plain[..100_000].to_vec()),
            ("gzip with garbage after", [gz.clone(), b"garbage!".to_vec()].concat()),
        ];
        for (what, bytes) in cases {
            let tmp = tempfile::tempdir().unwrap();
            assert!(unpack(bytes.as_slice(), tmp.path()).is_err(), "{what}");
        }
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("x"), "").unwrap();
        let err = unpack(plain.as_slice(), tmp.path()).unwrap_err();
        assert!(err.message.contains("not empty"), "{}", err.message);
    }

    // ---- pack ----

    #[derive(Debug, PartialEq)]
    struct Node {
        mode: u32,
        uid: u32,
        gid: u32,
        rdev: u64,
        mtime: i64,
        link: Option<std::path::PathBuf>,
        content: Option<Vec<u8>>,
        xattrs: BTreeMap<String, Vec<u8>>,
        /// The first path (sorted) with the same inode: hardlinks.
        same_as: String,
    }

    fn tree(root: &Path) -> BTreeMap<String, Node> {
        let mut out = BTreeMap::new();
        let mut inodes: BTreeMap<u64, String> = BTreeMap::new();
        let mut stack = vec![root.to_path_buf()];
        let mut all = Vec::new();
        while let Some(d) = stack.pop() {
            for ent in std::fs::read_dir(&d).unwrap() {
                let p = ent.unwrap().path();
                if fs_md(&p).is_dir() {
                    stack.push(p.clone());
                }
                all.push(p);
            }
        }
        all.sort();
        for p in all {
            let m = fs_md(&p);
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let same_as = inodes.entry(m.ino()).or_insert_with(|| rel.clone()).clone();
            let mut xattrs = xattrs(&p);
            xattrs.retain(|k, _| !k.starts_with("trusted.overlay.") || k == "trusted.overlay.opaque");
            out.insert(
                rel,
                Node {
                    mode: m.mode(),
                    uid: m.uid(),
                    gid: m.gid(),
                    rdev: m.rdev(),
                    mtime: m.mtime(),
                    link: m.file_type().is_symlink().then(|| std::fs::read_link(&p).unwrap()),
                    content: m.is_file().then(|| std::fs::read(&p).unwrap()),
                    xattrs,
                    same_as,
                },
            );
        }
        out
    }

    /// An overlay-style upper dir: a layer unpacked, then what a container did on top.
    fn upper(tmp: &Path) -> std::path::PathBuf {
        let up = tmp.join("upper");
        std::fs::create_dir(&up).unwrap();
        let mut cases = every_case();
        cases.retain(|e| e.path != "./");
        unpack(build(&cases).as_slice(), &up).unwrap();
        mknod(&up.join("deleted"), libc::S_IFCHR, 0);
        std::fs::create_dir(up.join("replaced")).unwrap();
        set_xattr(&up.join("replaced"), OPAQUE_XATTR, b"y");
        std::fs::write(up.join("replaced/new"), "new").unwrap();
        std::fs::write(up.join("origin"), "copied up").unwrap();
        set_xattr(&up.join("origin"), c"trusted.overlay.origin", b"\0\xfb\x21");
        std::fs::create_dir(up.join("etc")).unwrap();
        std::fs::write(up.join("etc/hosts"), "").unwrap();
        std::fs::write(up.join("etc/hostname"), "").unwrap();
        std::fs::hard_link(up.join("bin/su"), up.join("bin/su2")).unwrap();
        std::fs::set_permissions(up.join("etc"), std::fs::Permissions::from_mode(0o711)).unwrap();
        up
    }

    #[test]
    fn pack_turns_overlay_metadata_into_layer_entries() {
        if !is_root() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let up = upper(tmp.path());
        let mut tar_bytes = Vec::new();
        let stats = pack(&up, &mut tar_bytes, &["etc/hosts", "/etc/hostname/"]).unwrap();
        assert_eq!(stats.diff_id, sha256(&tar_bytes));
        assert_eq!(stats.size, tar_bytes.len() as u64);

        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let kind = entry.header().entry_type();
            let link = entry.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned());
            let h = entry.header();
            assert!(h.username_bytes().is_none_or(|u| u.is_empty()), "no user names");
            let keys: Vec<String> = entry
                .pax_extensions()
                .unwrap()
                .map(|p| p.map(|r| r.unwrap().key().unwrap().to_string()).collect())
                .unwrap_or_default();
            assert!(!keys.iter().any(|k| k.contains("overlay")), "{path}: {keys:?}");
            seen.push((path, kind, link, keys));
        }
        let find = |p: &str| seen.iter().position(|s| s.0 == p).unwrap_or_else(|| panic!("{p} not packed"));
        assert_eq!(seen[find(".wh.deleted")].1, EntryType::Regular);
        assert_eq!(seen[find(".wh.gone")].1, EntryType::Regular, "whiteouts of the unpacked layer too");
        let replaced = find("replaced/");
        assert_eq!(seen[replaced].1, EntryType::Directory);
        assert_eq!(seen[replaced + 1].0, "replaced/.wh..wh..opq", "the marker follows its dir");
        assert!(seen.iter().any(|s| s.0 == "opq/.wh..wh..opq"));
        assert!(!seen.iter().any(|s| s.0 == "forged/.wh..wh..opq"));
        assert!(!seen.iter().any(|s| s.0 == "etc/hosts" || s.0 == "etc/hostname"), "excluded");
        assert!(seen.iter().any(|s| s.0 == "etc/"));
        let su2 = &seen[find("bin/su2")];
        assert_eq!((su2.1, su2.2.as_deref()), (EntryType::Link, Some("bin/su")), "hardlinks as links");
        assert_eq!(seen[find("hardlink")].1, EntryType::Link);
        assert!(seen[find("bin/su")].3.contains(&"SCHILY.xattr.security.capability".to_string()));
        assert!(seen[find(&format!("long/{}", "n".repeat(150)))].3.contains(&"path".to_string()));
        assert_eq!(seen[find("dev/null")].1, EntryType::Char);
        assert_eq!(seen[find("fifo")].1, EntryType::Fifo);

        // Deterministic.
        let mut again = Vec::new();
        let stats2 = pack(&up, &mut again, &["etc/hosts", "etc/hostname"]).unwrap();
        assert_eq!(stats2.diff_id, stats.diff_id);
        assert_eq!(again, tar_bytes);
    }

    #[test]
    fn unpack_of_pack_reproduces_the_tree() {
        if !is_root() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let up = upper(tmp.path());
        let mut tar_bytes = Vec::new();
        let packed = pack(&up, &mut tar_bytes, &[]).unwrap();
        let copy = tmp.path().join("copy");
        std::fs::create_dir(&copy).unwrap();
        let stats = unpack(tar_bytes.as_slice(), &copy).unwrap();
        assert_eq!(stats.diff_id, packed.diff_id);
        let (a, b) = (tree(&up), tree(&copy));
        for (path, node) in &a {
            assert_eq!(Some(node), b.get(path), "{path}");
        }
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        assert_eq!(b["deleted"].rdev, 0);
        assert_eq!(b["replaced"].xattrs.get("trusted.overlay.opaque").map(Vec::as_slice), Some(&b"y"[..]));
    }

    #[test]
    fn packs_a_tree_deeper_than_the_open_directory_window() {
        if !is_root() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let up = tmp.path().join("deep");
        let mut p = up.clone();
        for i in 0..(MAX_OPEN_DIRS * 2 + 5) {
            p.push("d");
            std::fs::create_dir_all(&p).unwrap();
            std::fs::write(p.join(format!("f{i}")), format!("{i}")).unwrap();
        }
        std::fs::write(up.join("zz-after"), "after the deep part").unwrap();
        let mut tar_bytes = Vec::new();
        pack(&up, &mut tar_bytes, &[]).unwrap();
        let copy = tmp.path().join("copy");
        std::fs::create_dir(&copy).unwrap();
        unpack(tar_bytes.as_slice(), &copy).unwrap();
        assert_eq!(tree(&up), tree(&copy));
    }

    /// `LAYER_BENCH_DIR=dir LAYER_BENCH_OUT=out.tar cargo test --release image_layer::tests::bench -- --ignored`
    #[test]
    #[ignore]
    fn bench_pack() {
        let (Ok(dir), Ok(out)) = (std::env::var("LAYER_BENCH_DIR"), std::env::var("LAYER_BENCH_OUT")) else {
            return;
        };
        let file = File::create(&out).unwrap();
        let start = std::time::Instant::now();
        let stats = pack(Path::new(&dir), file, &[]).unwrap();
        println!("pack {dir}: {:?}, {} bytes, {}", start.elapsed(), stats.size, stats.diff_id);
    }

    /// `LAYER_BENCH_TAR=/path/to.tar cargo test --release image_layer::tests::bench -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn bench_unpack() {
        let Ok(path) = std::env::var("LAYER_BENCH_TAR") else { return };
        let dest = std::env::var("LAYER_BENCH_DEST").unwrap_or_else(|_| "/tmp/layer-bench".into());
        let _ = remove_tree(Path::new(&dest));
        std::fs::create_dir(&dest).unwrap();
        let file = File::open(&path).unwrap();
        let start = std::time::Instant::now();
        let stats = unpack(file, Path::new(&dest)).unwrap();
        println!(
            "unpack {path}: {:?}, {} entries, {} bytes, {}",
            start.elapsed(),
            stats.entries,
            stats.size,
            stats.diff_id
        );
    }
}
