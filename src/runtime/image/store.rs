//! The layered image store under the data root:
//!
//! ```text
//! layers/<diffid-hex>/diff/          an unpacked layer (an overlay lower dir), read-only by convention
//! layers/<diffid-hex>/link           its short name; l/<short> -> ../layers/<hex>/diff
//! layers/<diffid-hex>/layer.json     {diff_id, size, tar_size, created}
//! layers/<diffid-hex>/tar-split.zst  the loaded stream less file contents (image_tarsplit)
//! images/<id-hex>/image.json         {id, names, config, layers, created, size}
//! images/<id-hex>/config.json        the config's original bytes (their digest is the id)
//! images.lock                        flock held for every record write
//! ```
//!
//! A layer is unpacked into `layers/.tmp-<random>` and renamed to its diff id:
//! unpacked once, shared by every image that has it. Reference counts are
//! computed from the image records, never stored. Temp dirs are flocked by
//! their maker, so a sweep removes only those whose maker died.

// Until the Rhai bindings (issue 12) use it; the lead removes this when wiring.

use crate::runtime::error::{Context, Error, Kind, Result};
use crate::runtime::image::archive::{
    self as archive, Archive, LayerSource, Progress, SaveImage, SaveLayer, digest_of,
};
use crate::runtime::image::reference::{Reference, is_hex64};
use crate::runtime::image::tarsplit;
use crate::runtime::remove_tree::remove_tree;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageRecord {
    /// `sha256:<hex>` of the config bytes.
    pub id: String,
    /// Full references, each on one image only.
    pub names: Vec<String>,
    /// The OCI image config as loaded (config.json holds its exact bytes).
    pub config: Value,
    /// Diff ids, bottom layer first.
    pub layers: Vec<String>,
    /// The config's `created` when it has one, else when the image was stored.
    pub created: String,
    /// Bytes of the files of all its layers.
    pub size: u64,
    /// `repository@sha256:<manifest digest>` for each name it was loaded
    /// under: what `name@sha256:…` resolves to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub digests: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LayerRecord {
    pub diff_id: String,
    /// Bytes of the files written.
    pub size: u64,
    /// Bytes of the uncompressed tar stream (what `save` writes).
    #[serde(default)]
    pub tar_size: Option<u64>,
    pub created: String,
    /// Compressed blobs known to hold this layer (pulled, or pushed), so a
    /// push can skip what a registry has, or mount it from another repository.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blobs: Vec<BlobRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BlobRecord {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    /// `registry/repository` names known to hold it.
    #[serde(default)]
    pub sources: Vec<String>,
}

/// What a remove did, for `rmi`'s "Untagged:" and "Deleted:" lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Removed {
    pub untagged: Vec<String>,
    pub deleted: Option<String>,
    pub freed_layers: Vec<String>,
}

pub struct Store {
    data_root: PathBuf,
    /// The records as last read: one command asks `get` several times (run:
    /// exists, id, config, layers), and each read parses every record.
    /// Cleared by every change made through this store.
    cache: std::cell::RefCell<Option<Vec<ImageRecord>>>,
}

/// The shortest image id prefix that names an image.
const MIN_ID_PREFIX: usize = 3;

/// A pulled layer that failed to unpack is read to its end, to check its
/// digest, when at most this much of it is left.
const DRAIN_TO_DIAGNOSE: u64 = 256 << 20;

/// How often a load retries when a concurrent rmi/prune freed a layer it was about to use.
const LOAD_ATTEMPTS: usize = 3;

impl Store {
    pub fn new(data_root: &Path) -> Store {
        Store { data_root: data_root.to_path_buf(), cache: Default::default() }
    }

    pub fn data_root(&self) -> &Path {
        &self.data_root
    }

    fn layers_dir(&self) -> PathBuf {
        self.data_root.join("layers")
    }
    fn links_dir(&self) -> PathBuf {
        self.data_root.join("l")
    }
    fn images_dir(&self) -> PathBuf {
        self.data_root.join("images")
    }
    fn spool_dir(&self) -> PathBuf {
        self.data_root.join("tmp")
    }
    fn layer_dir(&self, diff_id: &str) -> Result<PathBuf> {
        Ok(self.layers_dir().join(hex_of(diff_id)?))
    }
    fn image_dir(&self, id: &str) -> Result<PathBuf> {
        Ok(self.images_dir().join(hex_of(id)?))
    }

    fn ensure_dirs(&self) -> Result<()> {
        for d in
            [self.data_root.clone(), self.layers_dir(), self.links_dir(), self.images_dir(), self.spool_dir()]
        {
            crate::runtime::sys::private_dir(&d)?;
        }
        Ok(())
    }

    /// The store's lock: every image record write happens under it.
    fn lock(&self) -> Result<Flock<File>> {
        let path = self.data_root.join("images.lock");
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .ctx(|| format!("open {}", path.display()))?;
        Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::os(format!("lock {}: {}", path.display(), e.desc())))
    }

    /// Remove temp dirs whose maker is gone (a crash) and links to removed layers.
    pub fn sweep(&self) -> Result<()> {
        for dir in [self.layers_dir(), self.images_dir()] {
            let Ok(entries) = fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                let name = e.file_name();
                if !name.to_string_lossy().starts_with(".tmp-") {
                    continue;
                }
                let path = e.path();
                let Ok(f) = OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
                    .open(&path)
                else {
                    continue;
                };
                // Best effort: a remover may be deleting the same dir.
                if let Ok(_held) = Flock::lock(f, FlockArg::LockExclusiveNonblock) {
                    let _ = remove_tree(&path);
                }
            }
        }
        if let Ok(entries) = fs::read_dir(self.links_dir()) {
            for e in entries.flatten() {
                if fs::metadata(e.path()).is_err() {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }

    // ---- reading records ----

    /// Every image, newest first.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        if let Some(all) = self.cache.borrow().as_ref() {
            return Ok(all.clone());
        }
        let all = self.read_images()?;
        *self.cache.borrow_mut() = Some(all.clone());
        Ok(all)
    }

    /// Forget the records read so far (after a change, or to see others').
    pub fn forget(&self) {
        self.cache.borrow_mut().take();
    }

    fn read_images(&self) -> Result<Vec<ImageRecord>> {
        let entries = match fs::read_dir(self.images_dir()) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::os(format!("read {}: {e}", self.images_dir().display()))),
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            // The flat images of the old store (images/<name>/rootfs) are not ours.
            if !is_hex64(&e.file_name().to_string_lossy()) {
                continue;
            }
            let path = e.path().join("image.json");
            let bytes = match crate::runtime::sys::read_small(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::os(format!("read {}: {e}", path.display()))),
            };
            let rec: ImageRecord = serde_json::from_slice(&bytes)
                .map_err(|e| Error::os(format!("{}: bad image record: {e}", path.display())))?;
            out.push(rec);
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// An image by name (`debian:12`, normalised), full id, or id prefix.
    pub fn get(&self, reference: &str) -> Result<ImageRecord> {
        Ok(self.resolve(reference)?.0)
    }

    /// The image and, when `reference` was a name, that name in full form.
    fn resolve(&self, reference: &str) -> Result<(ImageRecord, Option<String>)> {
        let all = self.images()?;
        let parsed = Reference::parse(reference);
        if let Ok(r) = &parsed {
            let full = r.to_string();
            if let Some(rec) = all.iter().find(|rec| rec.names.contains(&full)) {
                return Ok((rec.clone(), Some(full)));
            }
            // name@sha256:…: the manifest it was loaded from, or the image id itself.
            if let Some(d) = &r.digest {
                let by_manifest = format!("{}@{d}", r.name());
                if let Some(rec) = all.iter().find(|rec| rec.digests.contains(&by_manifest) || &rec.id == d) {
                    return Ok((rec.clone(), None));
                }
            }
        }
        let prefix = reference.strip_prefix("sha256:").unwrap_or(reference);
        // At least 3 digits: `dd`, `ed` and `bc` are commands (`run dd …`), not id prefixes.
        if prefix.len() >= MIN_ID_PREFIX
            && prefix.len() <= 64
            && prefix.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            let hits: Vec<&ImageRecord> =
                all.iter().filter(|rec| rec.id.trim_start_matches("sha256:").starts_with(prefix)).collect();
            match hits.len() {
                0 => {}
                1 => return Ok((hits[0].clone(), None)),
                _ => {
                    return Err(Error::new(
                        Kind::Ambiguous,
                        format!("image id prefix {reference:?} matches {} images", hits.len()),
                    ));
                }
            }
        }
        match parsed {
            Err(e) if !reference.bytes().all(|b| b.is_ascii_hexdigit()) => Err(e),
            _ => Err(Error::not_found(format!("no such image: {reference}"))),
        }
    }

    /// The config's exact bytes (its digest is the image id).
    pub fn config_bytes(&self, image: &ImageRecord) -> Result<Vec<u8>> {
        let path = self.image_dir(&image.id)?.join("config.json");
        fs::read(&path).ctx(|| format!("read {}", path.display()))
    }

    pub fn layer(&self, diff_id: &str) -> Result<LayerRecord> {
        let path = self.layer_dir(diff_id)?.join("layer.json");
        let bytes = match crate::runtime::sys::read_small(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::not_found(format!("layer {diff_id} is not in the store")));
            }
            Err(e) => return Err(Error::os(format!("read {}: {e}", path.display()))),
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::os(format!("{}: bad layer record: {e}", path.display())))
    }

    fn layer_present(&self, diff_id: &str) -> bool {
        self.layer_dir(diff_id).is_ok_and(|d| d.join("layer.json").is_file())
    }

    /// The image's layer dirs, top first, as overlay's lowerdir lists them.
    pub fn lower_dirs(&self, image: &ImageRecord) -> Result<Vec<PathBuf>> {
        image
            .layers
            .iter()
            .rev()
            .map(|d| {
                let diff = self.layer_dir(d)?.join("diff");
                if diff.is_dir() {
                    Ok(diff)
                } else {
                    Err(Error::not_found(format!("image {}: layer {d} is missing from the store", image.id)))
                }
            })
            .collect()
    }

    /// The same, as short names relative to the data root (`l/<26 chars>`) so
    /// that a mount of many layers stays within the one-page option limit;
    /// a link lost in a crash is made again.
    #[cfg(test)]
    pub fn layer_links(&self, image: &ImageRecord) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for d in image.layers.iter().rev() {
            let dir = self.layer_dir(d)?;
            let short = fs::read_to_string(dir.join("link")).map_err(|e| {
                Error::not_found(format!("image {}: layer {d} is missing from the store ({e})", image.id))
            })?;
            let short = short.trim();
            let link = self.links_dir().join(short);
            if fs::metadata(&link).is_err() {
                let _ = fs::remove_file(&link);
                std::os::unix::fs::symlink(Path::new("../layers").join(hex_of(d)?).join("diff"), &link)
                    .ctx(|| format!("link {}", link.display()))?;
            }
            out.push(format!("l/{short}"));
        }
        Ok(out)
    }

    // ---- adding images ----

    /// `load`: every image of the archive at `path` (tar, OCI layout dir, or
    /// `-`). Layers not yet stored are unpacked; names move to these images.
    pub fn load(&self, path: &Path, progress: &mut dyn FnMut(&Progress)) -> Result<Vec<ImageRecord>> {
        self.forget();
        self.ensure_dirs()?;
        self.sweep()?;
        let archive = Archive::open(path, &self.spool_dir())?;
        let mut installed = Vec::new();
        let result = self.load_from(&archive, &mut installed, progress);
        if result.is_err() {
            self.drop_unclaimed(&installed);
        }
        result
    }

    fn load_from(
        &self,
        archive: &Archive,
        installed: &mut Vec<String>,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Vec<ImageRecord>> {
        for _ in 0..LOAD_ATTEMPTS {
            let loaded = archive.images(|blob, raw| {
                if self.layer_present(&blob.diff_id) {
                    progress(&Progress {
                        action: "present",
                        diff_id: &blob.diff_id,
                        index: blob.index,
                        count: blob.count,
                        done: blob.size,
                        total: blob.size,
                    });
                    return Ok(None);
                }
                let mut counted =
                    CountingReader { inner: raw, done: 0, ended: false, blob, progress: &mut *progress };
                let layer = self.unpack_layer(&mut counted, Some(&blob.diff_id))?;
                installed.push(layer.diff_id.clone());
                Ok(Some(layer.diff_id))
            })?;
            let _lock = self.lock()?;
            // A concurrent rmi or prune may have freed a layer we found present: go again.
            if loaded.iter().all(|img| img.diff_ids.iter().all(|d| self.layer_present(d))) {
                return loaded
                    .into_iter()
                    .map(|img| {
                        let mut rec =
                            self.put_image(&img.config_bytes, img.config, img.diff_ids, &img.names)?;
                        if let Some(d) = &img.manifest_digest {
                            self.add_digests(&mut rec, &img.names, d)?;
                        }
                        Ok(rec)
                    })
                    .collect();
            }
        }
        Err(Error::os("load: layers kept being removed by a concurrent rmi or prune; try again"))
    }

    // ---- pulled images ----

    /// The config bytes of image `id` when it is stored with every layer: a
    /// pull of an image already here fetches neither.
    pub fn complete_image_config(&self, id: &str) -> Option<Vec<u8>> {
        let rec = self.read_record(id).ok()??;
        rec.layers.iter().all(|d| self.layer_present(d)).then(|| self.config_bytes(&rec).ok())?
    }

    /// Store a pulled image: each of `layers` not yet here is fetched with
    /// `fetch` (a reader of the blob as stored, its digest checked at its end)
    /// and unpacked, `jobs` at a time; then the image record, under the lock.
    /// A failure leaves none of the layers this call added. Returns the record
    /// and, per layer, whether it was downloaded.
    #[allow(clippy::too_many_arguments)]
    pub fn install_pulled<'f>(
        &self,
        image: &archive::LoadedImage,
        layers: &[archive::LayerBlob],
        source: &str,
        jobs: usize,
        fetch: &'f (dyn Fn(&archive::LayerBlob) -> Result<Box<dyn Read + Send + 'f>> + Sync),
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<(ImageRecord, Vec<bool>)> {
        use std::sync::Mutex;
        use std::sync::atomic::{AtomicBool, Ordering};
        self.forget();
        self.ensure_dirs()?;
        self.sweep()?;
        let mut fetched = vec![false; layers.len()];
        let mut todo: Vec<usize> = Vec::new();
        for (i, blob) in layers.iter().enumerate() {
            if self.layer_present(&blob.diff_id) {
                progress(&Progress {
                    action: "present",
                    diff_id: &blob.diff_id,
                    index: i,
                    count: layers.len(),
                    done: blob.size,
                    total: blob.size,
                });
            } else if !todo.iter().any(|j| layers[*j].diff_id == blob.diff_id) {
                todo.push(i);
                fetched[i] = true;
            }
        }
        let queue = Mutex::new(todo.clone());
        let installed: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let failure: Mutex<Option<Error>> = Mutex::new(None);
        let cancelled = AtomicBool::new(false);
        let root = self.data_root.clone();
        let worker = || {
            // A store per thread: its record cache is not shared.
            let store = Store::new(&root);
            loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
                let Some(i) = next else { break };
                if cancelled.load(Ordering::Relaxed) {
                    break;
                }
                let blob = archive::LayerBlob { index: i, count: layers.len(), ..layers[i].clone() };
                let result = fetch(&blob).and_then(|mut raw| {
                    let mut counted = SharedCountingReader {
                        inner: &mut *raw,
                        done: 0,
                        ended: false,
                        blob: &blob,
                        progress,
                        cancelled: &cancelled,
                    };
                    let unpacked = store.unpack_layer(&mut counted, Some(&blob.diff_id));
                    let left = blob.size.saturating_sub(counted.done);
                    match unpacked {
                        // A corrupt blob usually fails as a bad gzip or tar first: read
                        // the (bounded) rest, so the digest, the real cause, is named.
                        Err(e) if left <= DRAIN_TO_DIAGNOSE && !cancelled.load(Ordering::Relaxed) => {
                            match io::copy(&mut raw, &mut io::sink()) {
                                Err(d) if d.kind() == io::ErrorKind::InvalidData => {
                                    Err(Error::invalid(d.to_string()))
                                }
                                _ => Err(e),
                            }
                        }
                        other => other,
                    }
                });
                match result {
                    Ok(layer) => installed.lock().unwrap_or_else(|p| p.into_inner()).push(layer.diff_id),
                    Err(e) => {
                        cancelled.store(true, Ordering::Relaxed);
                        let mut f = failure.lock().unwrap_or_else(|p| p.into_inner());
                        // The first real error, not a worker's "cancelled".
                        if f.is_none() {
                            *f = Some(Error {
                                message: format!(
                                    "layer {}: {}",
                                    blob.digest.clone().unwrap_or_default(),
                                    e.message
                                ),
                                ..e
                            });
                        }
                    }
                }
            }
        };
        std::thread::scope(|s| {
            for _ in 1..jobs.clamp(1, 8).min(todo.len().max(1)) {
                s.spawn(worker);
            }
            worker();
        });
        let installed = installed.into_inner().unwrap_or_else(|p| p.into_inner());
        let failure = failure.into_inner().unwrap_or_else(|p| p.into_inner());
        let result = match failure {
            Some(e) => Err(e),
            None => {
                crate::runtime::sys::crash_point("pull:layers-stored");
                self.record_pulled(image, layers, source)
            }
        };
        if result.is_err() {
            self.drop_unclaimed(&installed);
        }
        result.map(|rec| (rec, fetched))
    }

    /// After a failed load or pull: the layers it added that no image took
    /// (another image may have claimed one meanwhile), best effort.
    fn drop_unclaimed(&self, installed: &[String]) {
        if installed.is_empty() {
            return;
        }
        let Ok(_lock) = self.lock() else { return };
        let used: HashSet<String> =
            self.images().unwrap_or_default().into_iter().flat_map(|r| r.layers).collect();
        for d in installed.iter().filter(|d| !used.contains(*d)) {
            let _ = self.free_layer(d);
        }
    }

    fn record_pulled(
        &self,
        image: &archive::LoadedImage,
        layers: &[archive::LayerBlob],
        source: &str,
    ) -> Result<ImageRecord> {
        let _lock = self.lock()?;
        if let Some(d) = image.diff_ids.iter().find(|d| !self.layer_present(d)) {
            return Err(Error::os(format!(
                "layer {d} was removed by a concurrent rmi or prune while pulling; pull again"
            )));
        }
        for blob in layers {
            if let Some(digest) = &blob.digest {
                self.note_blob_locked(&blob.diff_id, digest, &blob.media_type, blob.size, source)?;
            }
        }
        let mut rec =
            self.put_image(&image.config_bytes, image.config.clone(), image.diff_ids.clone(), &image.names)?;
        if let Some(d) = &image.manifest_digest {
            let repo_names: Vec<String> =
                if image.names.is_empty() { vec![source.to_string()] } else { image.names.clone() };
            self.add_digests(&mut rec, &repo_names, d)?;
        }
        Ok(rec)
    }

    /// Remember that `source` (`registry/repository`) holds layer `diff_id` as blob `digest`.
    pub fn note_blob(
        &self,
        diff_id: &str,
        digest: &str,
        media_type: &str,
        size: u64,
        source: &str,
    ) -> Result<()> {
        let _lock = self.lock()?;
        self.note_blob_locked(diff_id, digest, media_type, size, source)
    }

    fn note_blob_locked(
        &self,
        diff_id: &str,
        digest: &str,
        media_type: &str,
        size: u64,
        source: &str,
    ) -> Result<()> {
        let mut rec = self.layer(diff_id)?;
        let entry = match rec.blobs.iter().position(|b| b.digest == digest) {
            Some(i) => &mut rec.blobs[i],
            None => {
                rec.blobs.push(BlobRecord {
                    digest: digest.to_string(),
                    media_type: media_type.to_string(),
                    size,
                    sources: Vec::new(),
                });
                rec.blobs.last_mut().ok_or_else(|| Error::os("blob record"))?
            }
        };
        if entry.sources.iter().any(|s| s == source) {
            return Ok(());
        }
        entry.sources.push(source.to_string());
        write_json(&self.layer_dir(diff_id)?.join("layer.json"), &rec)
    }

    /// The layer's tar stream written to `out` (as `save` writes it); its size.
    pub fn write_layer_tar(&self, diff_id: &str, out: &mut dyn io::Write) -> Result<u64> {
        let dir = self.layer_dir(diff_id)?;
        let meta = dir.join(tarsplit::FILE_NAME);
        if meta.is_file() {
            Ok(tarsplit::reassemble(&meta, &dir.join("diff"), out)?.1)
        } else {
            Ok(crate::runtime::image::layer::pack(&dir.join("diff"), out, &[])?.size)
        }
    }

    /// The image `reference` names, for push: its record and config bytes.
    pub fn image_for_push(&self, reference: &str) -> Result<(ImageRecord, Vec<u8>)> {
        let (rec, _) = self.resolve(reference)?;
        let bytes = self.config_bytes(&rec)?;
        Ok((rec, bytes))
    }

    /// Record `name@digest` on image `id` after a push (what `name@sha256:…` resolves to).
    pub fn note_pushed(&self, id: &str, name: &str, digest: &str) -> Result<()> {
        let _lock = self.lock()?;
        self.forget();
        let Some(mut rec) = self.read_record(id)? else { return Ok(()) };
        self.add_digests(&mut rec, &[name.to_string()], digest)
    }

    /// Unpack one layer stream (compressed or not) into the store; `expected`
    /// is the diff id the config promises.
    fn unpack_layer(&self, raw: &mut dyn Read, expected: Option<&str>) -> Result<LayerRecord> {
        let tmp = TempDir::new(&self.layers_dir())?;
        let diff = tmp.path.join("diff");
        fs::DirBuilder::new().mode(0o755).create(&diff).ctx(|| format!("create {}", diff.display()))?;
        let (stats, tar_size) = {
            let plain = tarsplit::decompressed(raw)?;
            let mut recorder = tarsplit::Recorder::new(plain, &tmp.path.join(tarsplit::FILE_NAME))?;
            let stats = crate::runtime::image::layer::unpack(&mut recorder, &diff)?;
            (stats, recorder.finish()?)
        };
        // The blob's own digest is checked when its last byte is read.
        io::copy(raw, &mut io::sink()).map_err(|e| Error::invalid(e.to_string()))?;
        if let Some(want) = expected
            && stats.diff_id != want
        {
            return Err(Error::invalid(format!(
                "uncompressed content is {}, the config's rootfs.diff_ids say {want}",
                stats.diff_id
            )));
        }
        self.install_layer(tmp, &stats.diff_id, stats.size, Some(tar_size))
    }

    /// Rename a filled temp dir (`diff/` and maybe `tar-split.zst`) to its diff
    /// id; when that layer appeared meanwhile, ours is dropped.
    fn install_layer(
        &self,
        tmp: TempDir,
        diff_id: &str,
        size: u64,
        tar_size: Option<u64>,
    ) -> Result<LayerRecord> {
        let hex = hex_of(diff_id)?;
        let short = short_link_name()?;
        let record = LayerRecord {
            diff_id: diff_id.to_string(),
            size,
            tar_size,
            created: crate::runtime::sys::now_rfc3339(),
            blobs: Vec::new(),
        };
        fs::write(tmp.path.join("link"), &short).ctx(|| "write layer link")?;
        write_json(&tmp.path.join("layer.json"), &record)?;
        let dest = self.layers_dir().join(&hex);
        match fs::rename(&tmp.path, &dest) {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST) | Some(libc::ENOTEMPTY)) => {
                drop(tmp);
                return self.layer(diff_id);
            }
            Err(e) => {
                return Err(Error::os(format!("rename {} to {}: {e}", tmp.path.display(), dest.display())));
            }
        }
        let link = self.links_dir().join(&short);
        match std::os::unix::fs::symlink(Path::new("../layers").join(&hex).join("diff"), &link) {
            Err(e) if e.kind() != ErrorKind::AlreadyExists => {
                return Err(Error::os(format!("link {}: {e}", link.display())));
            }
            _ => {}
        }
        Ok(record)
    }

    /// Write (or extend) an image record under the lock, moving its names off
    /// any other image (as `docker load` and `tag` do).
    fn put_image(
        &self,
        config_bytes: &[u8],
        config: Value,
        layers: Vec<String>,
        names: &[String],
    ) -> Result<ImageRecord> {
        self.forget();
        let id = digest_of(config_bytes);
        let dir = self.image_dir(&id)?;
        let mut rec = match self.read_record(&id)? {
            Some(rec) => rec,
            None => {
                let size = layers.iter().map(|d| self.layer(d).map(|l| l.size)).sum::<Result<u64>>()?;
                let created = config["created"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(crate::runtime::sys::now_rfc3339);
                let rec = ImageRecord {
                    id: id.clone(),
                    names: Vec::new(),
                    config,
                    layers,
                    created,
                    size,
                    digests: Vec::new(),
                };
                let tmp = TempDir::new(&self.images_dir())?;
                fs::write(tmp.path.join("config.json"), config_bytes).ctx(|| "write config.json")?;
                write_json(&tmp.path.join("image.json"), &rec)?;
                self.forget();
                fs::rename(&tmp.path, &dir)
                    .ctx(|| format!("rename {} to {}", tmp.path.display(), dir.display()))?;
                rec
            }
        };
        for name in names {
            if !rec.names.contains(name) {
                rec.names.push(name.clone());
            }
        }
        write_json(&dir.join("image.json"), &rec)?;
        self.forget();
        self.take_names(&rec)?;
        Ok(rec)
    }

    /// Record `repository@digest` for each of `names` (the manifest it came in).
    fn add_digests(&self, rec: &mut ImageRecord, names: &[String], digest: &str) -> Result<()> {
        let mut changed = false;
        for n in names {
            if let Ok(r) = Reference::parse(n) {
                let d = format!("{}@{digest}", r.name());
                if !rec.digests.contains(&d) {
                    rec.digests.push(d);
                    changed = true;
                }
            }
        }
        if changed {
            write_json(&self.image_dir(&rec.id)?.join("image.json"), rec)?;
            self.forget();
        }
        Ok(())
    }

    fn read_record(&self, id: &str) -> Result<Option<ImageRecord>> {
        let path = self.image_dir(id)?.join("image.json");
        match crate::runtime::sys::read_small(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::os(format!("{}: bad image record: {e}", path.display()))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::os(format!("read {}: {e}", path.display()))),
        }
    }

    /// Drop `owner`'s names from every other image (left dangling if it had no other).
    fn take_names(&self, owner: &ImageRecord) -> Result<()> {
        self.forget();
        for mut other in self.images()? {
            if other.id == owner.id {
                continue;
            }
            let before = other.names.len();
            other.names.retain(|n| !owner.names.contains(n));
            if other.names.len() != before {
                write_json(&self.image_dir(&other.id)?.join("image.json"), &other)?;
                self.forget();
            }
        }
        Ok(())
    }

    /// `tag SRC DST`: DST names SRC's image (and no other).
    pub fn tag(&self, src: &str, dst: &str) -> Result<ImageRecord> {
        self.forget();
        let target = Reference::parse(dst)?;
        if target.digest.is_some() {
            return Err(Error::invalid(format!("cannot tag with a digest: {dst}")));
        }
        let _lock = self.lock()?;
        let (mut rec, _) = self.resolve(src)?;
        let name = target.to_string();
        if !rec.names.contains(&name) {
            rec.names.push(name);
            write_json(&self.image_dir(&rec.id)?.join("image.json"), &rec)?;
            self.forget();
        }
        self.take_names(&rec)?;
        Ok(rec)
    }

    /// `commit`: `upper` (an overlay upper dir) packed as one new layer on
    /// `parent`'s; `config` is the new image's config (the caller carries the
    /// parent's over and appends history); its rootfs is set here.
    pub fn commit(
        &self,
        upper: &Path,
        parent: Option<&ImageRecord>,
        config: Value,
        exclude: &[&str],
        name: Option<&str>,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<ImageRecord> {
        self.forget();
        let names = match name {
            Some(n) => vec![Reference::parse(n)?.to_string()],
            None => Vec::new(),
        };
        self.ensure_dirs()?;
        self.sweep()?;
        let (mut reader, writer) = io::pipe().ctx(|| "pipe")?;
        let (packed, layer) = std::thread::scope(|s| {
            let packer = s.spawn(move || crate::runtime::image::layer::pack(upper, writer, exclude));
            let mut counted = CountingReader {
                inner: &mut reader,
                done: 0,
                ended: false,
                blob: &commit_blob(),
                progress: &mut *progress,
            };
            let layer = self.unpack_layer(&mut counted, None);
            drop(reader);
            let packed =
                packer.join().unwrap_or_else(|_| Err(Error::os("commit: the packing thread panicked")));
            (packed, layer)
        });
        let packed = packed?;
        let layer = layer?;
        if packed.diff_id != layer.diff_id {
            return Err(Error::os(format!("commit: packed {} but stored {}", packed.diff_id, layer.diff_id)));
        }
        let mut layers = parent.map(|p| p.layers.clone()).unwrap_or_default();
        layers.push(layer.diff_id);
        let config = with_rootfs(config, parent.map(|p| &p.config), &layers);
        let bytes = serde_json::to_vec(&config).map_err(|e| Error::os(format!("encode config: {e}")))?;
        let _lock = self.lock()?;
        if let Some(missing) = layers.iter().find(|d| !self.layer_present(d)) {
            return Err(Error::os(format!("commit: layer {missing} was removed meanwhile; try again")));
        }
        self.put_image(&bytes, config, layers, &names)
    }

    /// A one-layer image from a flat root filesystem dir (the busybox build,
    /// `image import`): the dir itself is moved into the layer store (it must be
    /// on the data root's filesystem), its diff id that of its pack().
    pub fn import_rootfs_dir(&self, dir: &Path, config: Value, name: Option<&str>) -> Result<ImageRecord> {
        self.forget();
        let names = match name {
            Some(n) => vec![Reference::parse(n)?.to_string()],
            None => Vec::new(),
        };
        self.ensure_dirs()?;
        self.sweep()?;
        let packed = crate::runtime::image::layer::pack(dir, io::sink(), &[])?;
        if self.layer_present(&packed.diff_id) {
            remove_tree(dir)?;
        } else {
            let tmp = TempDir::new(&self.layers_dir())?;
            fs::rename(dir, tmp.path.join("diff")).map_err(|e| {
                Error::os(format!(
                    "move {} into {}: {e} (it must be on the data root's filesystem)",
                    dir.display(),
                    self.layers_dir().display()
                ))
            })?;
            let size = files_size(&tmp.path.join("diff"));
            self.install_layer(tmp, &packed.diff_id, size, Some(packed.size))?;
        }
        let layers = vec![packed.diff_id];
        let mut config = if config.is_object() { config } else { json!({}) };
        let now = crate::runtime::sys::now_rfc3339();
        if config.get("created").is_none() {
            config["created"] = now.clone().into();
        }
        if config.get("history").is_none() {
            config["history"] = json!([{"created": now, "created_by": "mydocker import"}]);
        }
        let config = with_rootfs(config, None, &layers);
        let bytes = serde_json::to_vec(&config).map_err(|e| Error::os(format!("encode config: {e}")))?;
        let _lock = self.lock()?;
        if !self.layer_present(&layers[0]) {
            return Err(Error::os(format!("import: layer {} was removed meanwhile; try again", layers[0])));
        }
        self.put_image(&bytes, config, layers, &names)
    }

    // ---- removing ----

    /// `rmi REF`: a name is untagged, and the image deleted with its last name;
    /// an id deletes the image (with `force` even when it has several names).
    /// `in_use` names a container using the image: then the image is never
    /// deleted, and without `force` nothing is done.
    pub fn remove(
        &self,
        reference: &str,
        force: bool,
        in_use: &dyn Fn(&ImageRecord) -> Option<String>,
    ) -> Result<Removed> {
        self.forget();
        let _lock = self.lock()?;
        let (mut rec, by_name) = self.resolve(reference)?;
        let mut removed = Removed::default();
        let short: String = rec.id.trim_start_matches("sha256:").chars().take(12).collect();
        if let Some(name) = by_name
            && rec.names.len() > 1
        {
            rec.names.retain(|n| *n != name);
            write_json(&self.image_dir(&rec.id)?.join("image.json"), &rec)?;
            self.forget();
            removed.untagged.push(name);
            return Ok(removed);
        }
        if rec.names.len() > 1 && !force {
            return Err(Error::new(
                Kind::Conflict,
                format!(
                    "unable to delete {short} (must be forced): image is referenced in multiple repositories"
                ),
            ));
        }
        if let Some(container) = in_use(&rec) {
            if !force {
                return Err(Error::new(
                    Kind::Conflict,
                    format!(
                        "unable to remove image {reference}: container {container} is using it (must be forced)"
                    ),
                ));
            }
            // Forced: the names go, the image stays for its container.
            removed.untagged = std::mem::take(&mut rec.names);
            write_json(&self.image_dir(&rec.id)?.join("image.json"), &rec)?;
            self.forget();
            return Ok(removed);
        }
        removed.untagged = rec.names.clone();
        self.delete_image(&rec, &mut removed)?;
        Ok(removed)
    }

    /// `image prune`: delete dangling images (no names) no container uses, and
    /// any layer no image references.
    pub fn prune(&self, in_use: &dyn Fn(&ImageRecord) -> Option<String>) -> Result<Vec<Removed>> {
        self.forget();
        let _lock = self.lock()?;
        let mut out = Vec::new();
        for rec in self.images()? {
            if rec.names.is_empty() && in_use(&rec).is_none() {
                let mut removed = Removed::default();
                self.delete_image(&rec, &mut removed)?;
                out.push(removed);
            }
        }
        let used: HashSet<String> = self.images()?.into_iter().flat_map(|r| r.layers).collect();
        if let Ok(entries) = fs::read_dir(self.layers_dir()) {
            let mut orphans = Removed::default();
            for e in entries.flatten() {
                let hex = e.file_name().to_string_lossy().into_owned();
                let diff_id = format!("sha256:{hex}");
                if is_hex64(&hex) && !used.contains(&diff_id) {
                    self.free_layer(&diff_id)?;
                    orphans.freed_layers.push(diff_id);
                }
            }
            if !orphans.freed_layers.is_empty() {
                out.push(orphans);
            }
        }
        Ok(out)
    }

    /// Under the lock: the record goes, then its layers nothing else references.
    fn delete_image(&self, rec: &ImageRecord, removed: &mut Removed) -> Result<()> {
        self.forget();
        let dir = self.image_dir(&rec.id)?;
        let doomed = TempDir::reserve(&self.images_dir())?;
        fs::rename(&dir, &doomed.path).ctx(|| format!("remove image {}", rec.id))?;
        drop(doomed);
        removed.deleted = Some(rec.id.clone());
        let used: HashSet<String> = self.images()?.into_iter().flat_map(|r| r.layers).collect();
        let mut seen = HashSet::new();
        for d in &rec.layers {
            if !used.contains(d) && seen.insert(d.clone()) {
                self.free_layer(d)?;
                removed.freed_layers.push(d.clone());
            }
        }
        Ok(())
    }

    fn free_layer(&self, diff_id: &str) -> Result<()> {
        let dir = self.layer_dir(diff_id)?;
        let short = fs::read_to_string(dir.join("link")).unwrap_or_default();
        let doomed = TempDir::reserve(&self.layers_dir())?;
        match fs::rename(&dir, &doomed.path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::os(format!("remove layer {diff_id}: {e}"))),
        }
        let short = short.trim();
        if !short.is_empty() && !short.contains('/') {
            let _ = fs::remove_file(self.links_dir().join(short));
        }
        drop(doomed);
        Ok(())
    }

    // ---- out again ----

    /// `save`: the images `references` name, in one archive (see image_archive::write).
    /// A name puts that name in the archive; an id saves the image unnamed (as Docker does).
    pub fn save(
        &self,
        references: &[&str],
        out: impl io::Write,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<()> {
        let mut picked: Vec<(ImageRecord, Vec<String>)> = Vec::new();
        for r in references {
            let (rec, name) = self.resolve(r)?;
            let i = match picked.iter().position(|(p, _)| p.id == rec.id) {
                Some(i) => i,
                None => {
                    picked.push((rec, Vec::new()));
                    picked.len() - 1
                }
            };
            if let Some(n) = name
                && !picked[i].1.contains(&n)
            {
                picked[i].1.push(n);
            }
        }
        let mut images = Vec::new();
        for (rec, names) in picked {
            let mut layers = Vec::new();
            for d in &rec.layers {
                let dir = self.layer_dir(d)?;
                let record = self.layer(d)?;
                let meta = dir.join(tarsplit::FILE_NAME);
                let source = if meta.is_file() {
                    LayerSource::TarSplit { meta, dir: dir.join("diff") }
                } else {
                    LayerSource::Dir(dir.join("diff"))
                };
                let tar_size = match (record.tar_size, &source) {
                    (Some(n), _) => n,
                    (None, LayerSource::TarSplit { meta, .. }) => tarsplit::recorded_size(meta)?,
                    (None, LayerSource::Dir(d)) => {
                        crate::runtime::image::layer::pack(d, io::sink(), &[])?.size
                    }
                };
                layers.push(SaveLayer { diff_id: d.clone(), tar_size, source });
            }
            images.push(SaveImage { config: self.config_bytes(&rec)?, names, layers });
        }
        archive::write_with_progress(out, &images, progress)
    }
}

/// The config with `rootfs` = these layers, os/architecture from the parent or the host.
fn with_rootfs(mut config: Value, parent: Option<&Value>, layers: &[String]) -> Value {
    if !config.is_object() {
        config = json!({});
    }
    for key in ["architecture", "os"] {
        if config.get(key).is_none() {
            let fallback = if key == "os" { "linux" } else { host_arch() };
            config[key] = parent.and_then(|p| p.get(key)).cloned().unwrap_or_else(|| fallback.into());
        }
    }
    config["rootfs"] = json!({"type": "layers", "diff_ids": layers});
    config
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn commit_blob() -> archive::LayerBlob {
    archive::LayerBlob {
        member: "commit".into(),
        digest: None,
        diff_id: String::new(),
        media_type: archive::MEDIA_OCI_LAYER.into(),
        size: 0,
        index: 0,
        count: 1,
    }
}

/// `sha256:<hex>` to `<hex>`, refusing anything else (it becomes a path).
fn hex_of(digest: &str) -> Result<String> {
    match digest.strip_prefix("sha256:") {
        Some(h) if is_hex64(h) => Ok(h.to_string()),
        _ => Err(Error::invalid(format!("bad digest {digest:?}"))),
    }
}

/// 26 characters of [A-Z0-9], as containers/storage's short layer links.
fn short_link_name() -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut buf = [0u8; 26];
    File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).ctx(|| "read /dev/urandom")?;
    Ok(buf.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect())
}

/// Write JSON whole: temp file beside it, then rename.
fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes =
        serde_json::to_vec_pretty(value).map_err(|e| Error::os(format!("encode {}: {e}", path.display())))?;
    crate::runtime::sys::write_whole(path, &bytes)
}

/// Bytes of the regular files under `dir` (symlinks not followed).
fn files_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            match e.path().symlink_metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) if m.is_file() => total += m.len(),
                _ => {}
            }
        }
    }
    total
}

/// A `.tmp-<random>` dir held under flock while its maker lives; removed on drop
/// unless it was renamed away.
struct TempDir {
    path: PathBuf,
    _lock: Option<Flock<File>>,
}

impl TempDir {
    fn new(parent: &Path) -> Result<TempDir> {
        let path = parent.join(format!(".tmp-{}", &crate::runtime::sys::new_id()?[..20]));
        fs::DirBuilder::new().mode(0o700).create(&path).ctx(|| format!("create {}", path.display()))?;
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(&path)
            .ctx(|| format!("open {}", path.display()))?;
        let lock = Flock::lock(f, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| Error::os(format!("lock {}: {}", path.display(), e.desc())))?;
        Ok(TempDir { path, _lock: Some(lock) })
    }

    /// A fresh name only, for a rename target (a dir about to be deleted).
    fn reserve(parent: &Path) -> Result<TempDir> {
        Ok(TempDir {
            path: parent.join(format!(".tmp-{}", &crate::runtime::sys::new_id()?[..20])),
            _lock: None,
        })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = remove_tree(&self.path);
    }
}

/// Reports bytes read from a layer blob every 4 MiB and at its end.
struct CountingReader<'a, 'p> {
    inner: &'a mut dyn Read,
    done: u64,
    ended: bool,
    blob: &'a archive::LayerBlob,
    progress: &'p mut dyn FnMut(&Progress),
}

impl Read for CountingReader<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let before = self.done;
        self.done += n as u64;
        let end = n == 0 && !self.ended;
        self.ended |= n == 0;
        if end || (n > 0 && before >> 22 != self.done >> 22) {
            (self.progress)(&Progress {
                action: if self.blob.member == "commit" { "commit" } else { "load" },
                diff_id: &self.blob.diff_id,
                index: self.blob.index,
                count: self.blob.count,
                done: self.done,
                total: self.blob.size,
            });
        }
        Ok(n)
    }
}

/// CountingReader for readers on worker threads: progress through a shared
/// callback, and an end when another layer of the same pull failed.
struct SharedCountingReader<'a> {
    inner: &'a mut (dyn Read + Send),
    done: u64,
    ended: bool,
    blob: &'a archive::LayerBlob,
    progress: &'a (dyn Fn(&Progress) + Sync),
    cancelled: &'a std::sync::atomic::AtomicBool,
}

impl Read for SharedCountingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancelled.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(io::Error::other("cancelled: another layer failed"));
        }
        let n = self.inner.read(buf)?;
        let before = self.done;
        self.done += n as u64;
        if before == 0 && n > 0 {
            crate::runtime::sys::crash_point("pull:layer-started");
        }
        let end = n == 0 && !self.ended;
        self.ended |= n == 0;
        if end || (n > 0 && before >> 20 != self.done >> 20) {
            (self.progress)(&Progress {
                action: "pull",
                diff_id: self.blob.digest.as_deref().unwrap_or(&self.blob.diff_id),
                index: self.blob.index,
                count: self.blob.count,
                done: self.done,
                total: self.blob.size,
            });
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::image::archive::fixtures::*;

    fn quiet() -> impl FnMut(&Progress) {
        |_| {}
    }

    fn never(_: &ImageRecord) -> Option<String> {
        None
    }

    fn write_archive(dir: &Path, name: &str, members: &[(String, Vec<u8>)]) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, to_tar(members, &[])).expect("write");
        p
    }

    /// Everything under the store but the lock and empty dirs: what a failed operation must not leave.
    fn leftovers(data: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for d in ["layers", "l", "images", "tmp"] {
            if let Ok(entries) = fs::read_dir(data.join(d)) {
                out.extend(entries.flatten().map(|e| format!("{d}/{}", e.file_name().to_string_lossy())));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn an_id_prefix_names_an_image_from_three_digits_on() {
        let tmp = tempfile::tempdir().expect("tmp");
        let store = Store::new(&tmp.path().join("data"));
        let (a, id) = docker_classic(&[layer_tar(&[("etc/a", b"a\n")])], "app:a");
        let a = write_archive(tmp.path(), "a.tar", &a);
        store.load(&a, &mut quiet()).expect("load");
        let hex = id.trim_start_matches("sha256:");
        assert_eq!(store.get(&hex[..3]).expect("3 digits").id, id);
        // Two digits are a word like `dd` (a command of `run dd …`), not this image.
        assert_eq!(store.get(&hex[..2]).expect_err("2 digits").kind, Kind::NotFound);
    }

    #[test]
    fn load_shares_layers_and_rmi_frees_only_unshared_ones() {
        let tmp = tempfile::tempdir().expect("tmp");
        let data = tmp.path().join("data");
        let store = Store::new(&data);
        let base = layer_tar(&[("etc/os-release", b"ID=test\n")]);
        let top_a = layer_tar(&[("etc/a", b"a\n")]);
        let top_b = layer_tar(&[("etc/b", b"b\n")]);
        let (a, id_a) = docker_classic(&[base.clone(), top_a.clone()], "app:a");
        let (b, id_b) = docker_classic(&[base.clone(), top_b.clone()], "app:b");
        let a = write_archive(tmp.path(), "a.tar", &a);
        let b = write_archive(tmp.path(), "b.tar", &b);

        let mut actions = Vec::new();
        let recs = store
            .load(&a, &mut |p| actions.push((p.action.to_string(), p.diff_id.to_string())))
            .expect("load a");
        assert_eq!(recs[0].id, id_a);
        assert_eq!(recs[0].names, vec!["docker.io/library/app:a".to_string()]);
        let lowers = store.lower_dirs(&recs[0]).expect("lowers");
        assert_eq!(lowers.len(), 2);
        assert_eq!(fs::read_to_string(lowers[0].join("etc/a")).expect("top first"), "a\n");
        assert_eq!(fs::read_to_string(lowers[1].join("etc/os-release")).expect("base"), "ID=test\n");
        let links = store.layer_links(&recs[0]).expect("links");
        assert!(links.iter().all(|l| l.len() == 28 && l.starts_with("l/")), "{links:?}");
        assert_eq!(fs::read_to_string(data.join(&links[0]).join("etc/a")).expect("via link"), "a\n");

        actions.clear();
        let recs_b = store
            .load(&b, &mut |p| actions.push((p.action.to_string(), p.diff_id.to_string())))
            .expect("load b");
        assert!(actions.contains(&("present".to_string(), sha(&base))), "base unpacked again: {actions:?}");
        assert_eq!(recs_b[0].id, id_b);
        // Loaded again: same image, nothing unpacked.
        actions.clear();
        store.load(&b, &mut |p| actions.push((p.action.to_string(), p.diff_id.to_string()))).expect("reload");
        assert!(actions.iter().all(|(a, _)| a == "present"), "{actions:?}");
        assert_eq!(store.images().expect("list").len(), 2);

        let removed = store.remove("app:a", false, &never).expect("rmi a");
        assert_eq!(removed.untagged, vec!["docker.io/library/app:a".to_string()]);
        assert_eq!(removed.deleted.as_deref(), Some(id_a.as_str()));
        assert_eq!(removed.freed_layers, vec![sha(&top_a)]);
        assert!(store.lower_dirs(&recs_b[0]).expect("b intact").iter().all(|d| d.is_dir()));
        let removed = store.remove(&id_b[7..19], false, &never).expect("rmi b by id prefix");
        assert_eq!(removed.freed_layers.len(), 2);
        assert_eq!(leftovers(&data), Vec::<String>::new());
    }

    #[test]
    fn names_move_and_rmi_follows_docker() {
        let tmp = tempfile::tempdir().expect("tmp");
        let data = tmp.path().join("data");
        let store = Store::new(&data);
        let (a, id_a) = docker_classic(&[layer_tar(&[("etc/a", b"a\n")])], "x:1");
        let (b, id_b) = docker_classic(&[layer_tar(&[("etc/b", b"b\n")])], "y:1");
        store.load(&write_archive(tmp.path(), "a.tar", &a), &mut quiet()).expect("a");
        store.load(&write_archive(tmp.path(), "b.tar", &b), &mut quiet()).expect("b");

        assert_eq!(store.get("x:1").expect("by name").id, id_a);
        assert_eq!(store.get("docker.io/library/x:1").expect("full name").id, id_a);
        assert_eq!(store.get(&id_a).expect("by id").id, id_a);
        assert_eq!(store.get(&id_a[7..12]).expect("by prefix").id, id_a);
        assert_eq!(store.get("nope").expect_err("missing").kind, Kind::NotFound);
        assert_eq!(store.get("Bad:Name").expect_err("bad").kind, Kind::Invalid);

        // Tagging moves a name: x:1's image is left dangling, not deleted.
        store.tag("y:1", "x:1").expect("tag");
        assert_eq!(store.get("x:1").expect("moved").id, id_b);
        assert!(store.get(&id_a).expect("dangling").names.is_empty());
        store.tag("y:1", "localhost/z").expect("tag");
        assert_eq!(store.get("localhost/z:latest").expect("z").id, id_b);
        assert!(
            store
                .tag("y:1", "y@sha256:0000000000000000000000000000000000000000000000000000000000000000")
                .is_err()
        );

        // Several names: an id needs force, a name only untags.
        assert_eq!(store.remove(&id_b, false, &never).expect_err("needs force").kind, Kind::Conflict);
        let r = store.remove("x:1", false, &never).expect("untag");
        assert_eq!((r.untagged.len(), r.deleted.clone()), (1, None));
        // In use by a container: refused, and forced it only untags.
        let used = |_: &ImageRecord| Some("c1".to_string());
        // Untagging one of several names is fine even while in use.
        store.remove("y:1", false, &used).expect("untag y");
        let e = store.remove("localhost/z", false, &used).expect_err("in use");
        assert!(e.message.contains("c1"), "{}", e.message);
        let r = store.remove("localhost/z", true, &used).expect("forced");
        assert!(r.deleted.is_none());
        assert!(store.get(&id_b).expect("kept for its container").names.is_empty());

        // Loading again gives the names back; prune takes the rest.
        store.load(&write_archive(tmp.path(), "a.tar", &a), &mut quiet()).expect("reload a");
        assert_eq!(store.get("x:1").expect("x back").id, id_a);
        let pruned = store.prune(&never).expect("prune");
        assert_eq!(pruned.iter().filter_map(|r| r.deleted.clone()).collect::<Vec<_>>(), vec![id_b.clone()]);
        assert_eq!(store.images().expect("list").len(), 1);
    }

    #[test]
    fn failed_loads_leave_nothing() {
        let tmp = tempfile::tempdir().expect("tmp");
        let data = tmp.path().join("data");
        let store = Store::new(&data);
        let l0 = layer_tar(&[("etc/a", b"a\n")]);
        let l1 = layer_tar(&[("etc/b", &[7u8; 3000])]);
        // A wrong diff id on the second layer: the first, already unpacked, must go too.
        let (mut members, _) = docker_classic(&[l0.clone(), l1.clone()], "bad:1");
        let cfg = config(&[sha(&l0), sha(&layer_tar(&[]))], "/bin/sh");
        let hex = sha(&cfg)[7..].to_string();
        members[0] = (format!("{hex}.json"), cfg);
        let manifest = serde_json::json!([{"Config": format!("{hex}.json"), "RepoTags": ["bad:1"], "Layers": ["layer0/layer.tar", "layer1/layer.tar"]}]);
        members.retain(|(n, _)| n != "manifest.json");
        members.push(("manifest.json".into(), serde_json::to_vec(&manifest).expect("json")));
        let e = store
            .load(&write_archive(tmp.path(), "bad.tar", &members), &mut quiet())
            .expect_err("bad diff id");
        assert!(e.message.contains("layer1/layer.tar"), "{}", e.message);
        // The good first layer, already installed, went with the failed load.
        assert!(store.images().expect("list").is_empty());
        assert_eq!(leftovers(&data), Vec::<String>::new());

        // A blob changed in place, gzip'd in an OCI archive.
        let blob = gzip(&l1);
        let (mut members, _) = oci_layout(
            &[(blob.clone(), sha(&l1), "application/vnd.oci.image.layer.v1.tar+gzip")],
            None,
            false,
        );
        let m = members.iter_mut().find(|(n, _)| n.ends_with(&sha(&blob)[7..])).expect("blob");
        let n = m.1.len();
        m.1[n - 3] ^= 1;
        let e =
            store.load(&write_archive(tmp.path(), "bad2.tar", &members), &mut quiet()).expect_err("tampered");
        assert!(e.message.contains(&sha(&blob)[7..]), "{}", e.message);
        assert_eq!(leftovers(&data), Vec::<String>::new());

        // Truncated.
        let (members, _) = docker_classic(std::slice::from_ref(&l1), "t:1");
        let full = to_tar(&members, &[]);
        let p = tmp.path().join("cut.tar");
        fs::write(&p, &full[..full.len() / 2]).expect("write");
        store.load(&p, &mut quiet()).expect_err("truncated");
        assert_eq!(leftovers(&data), Vec::<String>::new());
    }

    #[test]
    fn save_gives_back_the_loaded_bytes_and_commit_and_import_add_layers() {
        let tmp = tempfile::tempdir().expect("tmp");
        let data = tmp.path().join("data");
        let store = Store::new(&data);
        let l0 = layer_tar(&[("etc/os-release", b"ID=test\n"), ("etc/big", &[3u8; 70000])]);
        let blobs = vec![(zstd(&l0), sha(&l0), "application/vnd.oci.image.layer.v1.tar+zstd")];
        let (members, id) = oci_layout(
            &blobs,
            Some((crate::runtime::image::archive::ANNOTATION_IMAGE_NAME, "quay.io/a/b:1")),
            false,
        );
        let base =
            store.load(&write_archive(tmp.path(), "o.tar", &members), &mut quiet()).expect("load").remove(0);
        assert_eq!((base.id.as_str(), base.names[0].as_str()), (id.as_str(), "quay.io/a/b:1"));

        // commit: an upper dir on top of it.
        let upper = tmp.path().join("upper");
        fs::create_dir_all(upper.join("etc")).expect("mkdir");
        fs::write(upper.join("etc/new"), "new\n").expect("write");
        fs::write(upper.join("etc/hostname"), "").expect("stub");
        let mut cfg = base.config.clone();
        cfg["config"]["Cmd"] = json!(["/bin/new"]);
        let committed = store
            .commit(&upper, Some(&base), cfg, &["etc/hostname"], Some("mine:2"), &mut quiet())
            .expect("commit");
        assert_eq!(committed.layers.len(), 2);
        assert_eq!(committed.layers[0], sha(&l0));
        assert_eq!(committed.config["rootfs"]["diff_ids"][1], committed.layers[1].as_str());
        assert_eq!(digest_of(&store.config_bytes(&committed).expect("bytes")), committed.id);
        let top = &store.lower_dirs(&committed).expect("lowers")[0];
        assert!(top.join("etc/new").is_file() && !top.join("etc/hostname").exists());

        // import: a flat rootfs dir moved in as one layer.
        let rootfs = data.join("tmp/rootfs");
        fs::create_dir_all(rootfs.join("bin")).expect("mkdir");
        fs::write(rootfs.join("bin/sh"), "#!\n").expect("write");
        let imported = store
            .import_rootfs_dir(&rootfs, json!({"config": {"Cmd": ["/bin/sh"]}}), Some("busybox"))
            .expect("import");
        assert!(!rootfs.exists());
        assert_eq!(imported.names, vec!["docker.io/library/busybox:latest".to_string()]);
        assert_eq!(imported.config["architecture"], "amd64");
        assert!(store.lower_dirs(&imported).expect("lowers")[0].join("bin/sh").is_file());

        // save all three, load into a fresh store: same ids, same layer bytes.
        let out = tmp.path().join("saved.tar");
        let f = File::create(&out).expect("create");
        store.save(&["quay.io/a/b:1", "mine:2", &imported.id], f, &mut quiet()).expect("save");
        let mut seen = Vec::new();
        let read_back = crate::runtime::image::archive::read(&out, tmp.path(), hashing_callback(&mut seen))
            .expect("read");
        assert_eq!(
            read_back.iter().map(|i| i.config_digest.clone()).collect::<Vec<_>>(),
            vec![base.id.clone(), committed.id.clone(), imported.id.clone()]
        );
        assert_eq!(read_back[0].diff_ids, vec![sha(&l0)], "the loaded layer's bytes came back");
        assert!(read_back[2].names.is_empty(), "saved by id: unnamed");
        let other = Store::new(&tmp.path().join("data2"));
        let loaded = other.load(&out, &mut quiet()).expect("load saved");
        assert_eq!(loaded[1].id, committed.id);
        assert_eq!(loaded[1].names, vec!["docker.io/library/mine:2".to_string()]);
        assert_eq!(
            fs::read_to_string(other.lower_dirs(&loaded[1]).expect("l")[0].join("etc/new")).expect("f"),
            "new\n"
        );
    }

    #[test]
    fn sweep_removes_dead_temp_dirs_only() {
        let tmp = tempfile::tempdir().expect("tmp");
        let store = Store::new(tmp.path());
        store.ensure_dirs().expect("dirs");
        let dead = tmp.path().join("layers/.tmp-dead");
        fs::create_dir_all(dead.join("diff/x")).expect("mkdir");
        let live = TempDir::new(&store.layers_dir()).expect("live");
        store.sweep().expect("sweep");
        assert!(!dead.exists());
        assert!(live.path.exists());
        drop(live);
        assert_eq!(leftovers(tmp.path()), Vec::<String>::new());
    }

    #[test]
    fn concurrent_loads_of_one_archive_agree() {
        let tmp = tempfile::tempdir().expect("tmp");
        let data = tmp.path().join("data");
        let (members, id) = docker_classic(&[layer_tar(&[("etc/big", &[9u8; 200_000])])], "c:1");
        let archive = write_archive(tmp.path(), "c.tar", &members);
        std::thread::scope(|s| {
            let loads: Vec<_> =
                (0..3).map(|_| s.spawn(|| Store::new(&data).load(&archive, &mut quiet()))).collect();
            for l in loads {
                assert_eq!(l.join().expect("thread").expect("load")[0].id, id);
            }
        });
        let store = Store::new(&data);
        assert_eq!(store.images().expect("list").len(), 1);
        let layers: Vec<_> = fs::read_dir(data.join("layers")).expect("ls").flatten().collect();
        assert_eq!(layers.len(), 1, "one layer dir, no temp dir left");
        assert_eq!(fs::read_dir(data.join("l")).expect("ls").count(), 1);
    }
}
