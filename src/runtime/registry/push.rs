//! `push`: each layer as a compressed blob, unless the registry already has
//! one we know holds it (HEAD) or can mount it from another repository it
//! has; then the config, then an OCI manifest under the tag.

use super::client::{self, Client, Options, Payload};
use crate::runtime::error::{Error, Result};
use crate::runtime::image::archive::{MEDIA_OCI_CONFIG, MEDIA_OCI_MANIFEST, Progress, hex};
use crate::runtime::image::reference::Reference;
use crate::runtime::image::store::{BlobRecord, Store};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const MEDIA_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const MEDIA_OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const MEDIA_OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// A layer's outcome: the blob the manifest names, and what was done.
type LayerOutcome = Option<Result<(BlobRecord, String)>>;

pub struct Pushed {
    pub digest: String,
    pub size: usize,
    /// Per layer: its blob digest and what happened ("pushed", "exists", "mounted from REPO").
    pub layers: Vec<(String, String)>,
}

/// The OCI media type of a blob whatever manifest it came in.
fn oci_layer_type(mt: &str) -> &'static str {
    if mt.contains("zstd") {
        MEDIA_OCI_LAYER_ZSTD
    } else if mt.contains("gzip") {
        MEDIA_OCI_LAYER_GZIP
    } else if mt.ends_with(".tar") || mt == "application/vnd.docker.image.rootfs.diff.tar" {
        MEDIA_OCI_LAYER_TAR
    } else {
        MEDIA_OCI_LAYER_GZIP
    }
}

pub fn push(
    store: &Store,
    local: &str,
    dest: &Reference,
    opts: &Options,
    jobs: usize,
    spool: &Path,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<Pushed> {
    let tag = match (&dest.tag, &dest.digest) {
        (_, Some(_)) => {
            return Err(Error::invalid(format!("push {dest}: cannot push to a digest; give a tag")));
        }
        (Some(t), None) => t.clone(),
        (None, None) => "latest".to_string(),
    };
    let (rec, config_bytes) = store.image_for_push(local)?;
    let repo = dest.repository.clone();
    let prefix = format!("{}/", dest.registry);
    // Repositories of this registry known to hold our blobs: mount sources.
    let mut sources: Vec<String> = Vec::new();
    let mut known: Vec<Vec<BlobRecord>> = Vec::new();
    for d in &rec.layers {
        let layer = store.layer(d)?;
        for b in &layer.blobs {
            for s in &b.sources {
                if let Some(r) = s.strip_prefix(&prefix)
                    && r != repo
                    && !sources.iter().any(|x| x == r)
                {
                    sources.push(r.to_string());
                }
            }
        }
        known.push(layer.blobs);
    }
    let mut scopes = vec![format!("repository:{repo}:pull,push")];
    scopes.extend(sources.iter().take(8).map(|s| format!("repository:{s}:pull")));
    let client = Client::connect(&dest.registry, opts, &scopes)?;
    let count = rec.layers.len();
    let results: Mutex<Vec<LayerOutcome>> = Mutex::new((0..count).map(|_| None).collect());
    let queue = Mutex::new((0..count).rev().collect::<Vec<_>>());
    let root = store.data_root().to_path_buf();
    let worker = || {
        // A store per thread: its record cache is not shared.
        let store = Store::new(&root);
        loop {
            let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let Some(i) = next else { break };
            let diff_id = &rec.layers[i];
            let r =
                push_layer(&store, &client, &repo, &prefix, diff_id, &known[i], spool, i, count, progress);
            let failed = r.is_err();
            results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
            if failed {
                queue.lock().unwrap_or_else(|p| p.into_inner()).clear();
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..jobs.clamp(1, 8).min(count.max(1)) {
            s.spawn(worker);
        }
        worker();
    });
    let mut layers = Vec::new();
    let mut descriptors = Vec::new();
    for (i, r) in results.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().enumerate() {
        let (blob, status) =
            r.ok_or_else(|| Error::os(format!("push {dest}: layer {} was not pushed", rec.layers[i])))??;
        store.note_blob(&rec.layers[i], &blob.digest, &blob.media_type, blob.size, &dest.name())?;
        descriptors.push(
            json!({"mediaType": oci_layer_type(&blob.media_type), "digest": blob.digest, "size": blob.size}),
        );
        layers.push((blob.digest, status));
    }
    let config_digest = format!("sha256:{}", hex(&Sha256::digest(&config_bytes)));
    if !blob_exists(&client, &repo, &config_digest)? {
        upload(&client, &repo, &config_digest, &Payload::Bytes(&config_bytes, "application/octet-stream"))?;
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_MANIFEST,
        "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": config_digest, "size": config_bytes.len()},
        "layers": descriptors,
    });
    let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::os(format!("encode manifest: {e}")))?;
    let digest = format!("sha256:{}", hex(&Sha256::digest(&bytes)));
    let resp = client.send(
        "PUT",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[],
        &Payload::Bytes(&bytes, MEDIA_OCI_MANIFEST),
    )?;
    if !(200..300).contains(&resp.status().as_u16()) {
        return Err(client.error(resp, &format!("push {dest}: manifest")));
    }
    if let Some(h) = client::header(&resp, "docker-content-digest")
        && h != digest
    {
        return Err(Error::invalid(format!(
            "push {dest}: the registry stored the manifest as {h}, not {digest}"
        )));
    }
    store.note_pushed(&rec.id, &dest.name(), &digest)?;
    Ok(Pushed { digest, size: bytes.len(), layers })
}

#[allow(clippy::too_many_arguments)]
fn push_layer(
    store: &Store,
    client: &Client,
    repo: &str,
    prefix: &str,
    diff_id: &str,
    known: &[BlobRecord],
    spool: &Path,
    index: usize,
    count: usize,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<(BlobRecord, String)> {
    let report = |action: &str, digest: &str, done: u64, total: u64| {
        progress(&Progress { action, diff_id: digest, index, count, done, total })
    };
    for b in known {
        if blob_exists(client, repo, &b.digest)? {
            report("exists", &b.digest, b.size, b.size);
            return Ok((b.clone(), "exists".into()));
        }
    }
    for b in known {
        for s in &b.sources {
            let Some(from) = s.strip_prefix(prefix).filter(|r| *r != repo) else { continue };
            if try_mount(client, repo, &b.digest, from)? {
                report("mounted", &b.digest, b.size, b.size);
                return Ok((b.clone(), format!("mounted from {from}")));
            }
        }
    }
    let tmp = Spooled::new(spool)?;
    let (digest, size) = compress(store, diff_id, &tmp.file)?;
    let blob = BlobRecord {
        digest: digest.clone(),
        media_type: MEDIA_OCI_LAYER_GZIP.into(),
        size,
        sources: Vec::new(),
    };
    if blob_exists(client, repo, &digest)? {
        report("exists", &digest, size, size);
        return Ok((blob, "exists".into()));
    }
    report("push", &digest, 0, size);
    upload(client, repo, &digest, &Payload::File(&tmp.path))?;
    report("push", &digest, size, size);
    Ok((blob, "pushed".into()))
}

/// The layer's tar, gzip-compressed into `file`: its digest and size.
fn compress(store: &Store, diff_id: &str, file: &std::fs::File) -> Result<(String, u64)> {
    let hashing =
        HashingWriter { inner: io::BufWriter::with_capacity(1 << 20, file), hash: Sha256::new(), len: 0 };
    let mut gz = flate2::write::GzEncoder::new(hashing, flate2::Compression::fast());
    store.write_layer_tar(diff_id, &mut gz)?;
    let mut hashing = gz.finish().map_err(|e| Error::os(format!("compress layer {diff_id}: {e}")))?;
    hashing.inner.flush().map_err(|e| Error::os(format!("write the compressed layer {diff_id}: {e}")))?;
    Ok((format!("sha256:{}", hex(&hashing.hash.finalize())), hashing.len))
}

struct HashingWriter<W> {
    inner: W,
    hash: Sha256,
    len: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A spool file with no name: unlinked as soon as made, so a killed push
/// leaves nothing; read again (for a retry) through `/proc/self/fd`.
struct Spooled {
    file: std::fs::File,
    path: PathBuf,
}

impl Spooled {
    fn new(dir: &Path) -> Result<Spooled> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        crate::runtime::sys::private_dir(dir)?;
        let id = crate::runtime::sys::new_id()?;
        let named = dir.join(format!("push-{}", &id[..16]));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&named)
            .map_err(|e| Error::os(format!("create {}: {e}", named.display())))?;
        let _ = std::fs::remove_file(&named);
        let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        Ok(Spooled { file, path })
    }
}

fn blob_exists(client: &Client, repo: &str, digest: &str) -> Result<bool> {
    let resp = client.send("HEAD", &format!("/v2/{repo}/blobs/{digest}"), &[], &Payload::Empty)?;
    match resp.status().as_u16() {
        200 => Ok(true),
        404 => Ok(false),
        _ => Err(client.error(resp, &format!("check blob {digest}"))),
    }
}

/// Cross-repository mount; false when the registry started an upload instead.
fn try_mount(client: &Client, repo: &str, digest: &str, from: &str) -> Result<bool> {
    let path = format!("/v2/{repo}/blobs/uploads/?mount={digest}&from={from}");
    let resp = client.send("POST", &path, &[], &Payload::Empty)?;
    match resp.status().as_u16() {
        201 => Ok(true),
        202 => {
            // An upload session we do not need: cancel it.
            if let Some(loc) = client::header(&resp, "location") {
                let _ = client.send("DELETE", &loc, &[], &Payload::Empty);
            }
            Ok(false)
        }
        401 | 403 | 404 => Ok(false),
        _ => Err(client.error(resp, &format!("mount blob {digest} from {from}"))),
    }
}

/// POST an upload session, then PUT the whole blob to it (monolithic).
fn upload(client: &Client, repo: &str, digest: &str, payload: &Payload) -> Result<()> {
    let resp = client.send("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], &Payload::Empty)?;
    if resp.status().as_u16() != 202 {
        return Err(client.error(resp, &format!("start upload of {digest}")));
    }
    let loc = client::header(&resp, "location")
        .ok_or_else(|| Error::os(format!("start upload of {digest}: the registry gave no Location")))?;
    let loc = if loc.starts_with('/') || loc.starts_with("http") { loc } else { format!("/{loc}") };
    let sep = if loc.contains('?') { '&' } else { '?' };
    let resp = client.send("PUT", &format!("{loc}{sep}digest={digest}"), &[], payload)?;
    if resp.status().as_u16() != 201 {
        return Err(client.error(resp, &format!("upload of {digest}")));
    }
    Ok(())
}
