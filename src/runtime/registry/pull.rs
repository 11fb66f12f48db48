//! `pull`: a manifest (an index or manifest list resolves to this host's
//! platform), the config, then the layers the store lacks, several at once,
//! each streamed from the registry straight into the layer unpacker with its
//! digest checked at its end. A dropped connection resumes where it stopped
//! (a `Range` request); a bad blob keeps nothing.

use super::client::{self, Client, Options};
use crate::runtime::error::{Error, Kind, Result};
use crate::runtime::image::archive::{
    self, DocKind, Index, LayerBlob, LoadedImage, MAX_CONFIG_BYTES, MAX_INDEX_BYTES, Manifest, Progress,
    Verify, digest_of,
};
use crate::runtime::image::reference::Reference;
use crate::runtime::image::store::{ImageRecord, Store};
use serde_json::Value;
use std::io::{self, Read};
use std::time::Duration;

/// What a client accepts for `GET /v2/NAME/manifests/REF`, best first.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

const SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1";

/// Resumes of one blob after its connection dropped.
const RESUMES: u32 = 5;

pub struct Pulled {
    pub record: ImageRecord,
    /// The digest the reference resolved to (the index's, when it was one).
    pub digest: String,
    /// Each layer's blob digest and whether it was downloaded (else present).
    pub layers: Vec<(String, bool)>,
    /// The config was fetched (the image was not here before).
    pub config_fetched: bool,
}

pub fn pull(
    store: &Store,
    reference: &Reference,
    opts: &Options,
    jobs: usize,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<Pulled> {
    let repo = &reference.repository;
    let client = Client::connect(&reference.registry, opts, &[format!("repository:{repo}:pull")])?;
    let wanted =
        reference.digest.clone().or_else(|| reference.tag.clone()).unwrap_or_else(|| "latest".into());
    let (top_digest, top_type, top_bytes) = fetch_manifest(&client, reference, &wanted)?;
    if let Some(d) = &reference.digest
        && &top_digest != d
    {
        return Err(Error::invalid(format!(
            "{reference}: the registry sent a manifest of digest {top_digest}"
        )));
    }
    let (manifest_bytes, manifest_type) = resolve_index(&client, reference, top_type, top_bytes, 0)?;
    if manifest_type.starts_with(SCHEMA1) {
        return Err(Error::invalid(format!(
            "{reference}: Docker image manifest schema 1 is not supported (deprecated since 2017): push the image again with a current client"
        )));
    }
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| Error::invalid(format!("{reference}: bad manifest: {e}")))?;
    let (config_bytes, config_fetched) = match store.complete_image_config(&manifest.config.digest) {
        Some(b) => (b, false),
        None => (
            fetch_small_blob(&client, repo, &manifest.config.digest, manifest.config.size, MAX_CONFIG_BYTES)?,
            true,
        ),
    };
    let config: Value = serde_json::from_slice(&config_bytes).map_err(|e| {
        Error::invalid(format!("{reference}: config {}: bad JSON: {e}", manifest.config.digest))
    })?;
    let diff_ids =
        archive::config_diff_ids(&config).map_err(|why| Error::invalid(format!("{reference}: {why}")))?;
    if diff_ids.len() != manifest.layers.len() {
        return Err(Error::invalid(format!(
            "{reference}: the config lists {} diff ids for the manifest's {} layers",
            diff_ids.len(),
            manifest.layers.len()
        )));
    }
    let mut blobs = Vec::new();
    for (i, (desc, diff_id)) in manifest.layers.iter().zip(&diff_ids).enumerate() {
        if !archive::layer_type_supported(&desc.media_type) {
            return Err(Error::invalid(format!(
                "{reference}: layer {} has type {}, which is not supported",
                desc.digest, desc.media_type
            )));
        }
        if !crate::runtime::image::reference::is_digest(&desc.digest) {
            return Err(Error::invalid(format!("{reference}: layer digest {:?} is not sha256", desc.digest)));
        }
        blobs.push(LayerBlob {
            member: desc.digest.clone(),
            digest: Some(desc.digest.clone()),
            diff_id: diff_id.clone(),
            media_type: desc.media_type.clone(),
            size: desc.size,
            index: i,
            count: manifest.layers.len(),
        });
    }
    let names = if reference.digest.is_none() { vec![reference.to_string()] } else { Vec::new() };
    let image = LoadedImage {
        config_digest: digest_of(&config_bytes),
        config,
        config_bytes,
        diff_ids,
        names,
        manifest_digest: Some(top_digest.clone()),
    };
    let fetch = |blob: &LayerBlob| -> Result<Box<dyn Read + Send + '_>> {
        let digest = blob.digest.clone().unwrap_or_default();
        let reader = BlobReader::new(&client, format!("/v2/{repo}/blobs/{digest}"), blob.size);
        Ok(Box::new(Verify::new(reader, Some(digest), blob.size)))
    };
    let (record, fetched) =
        store.install_pulled(&image, &blobs, &reference.name(), jobs, &fetch, progress)?;
    let layers = blobs.iter().zip(fetched).map(|(b, f)| (b.digest.clone().unwrap_or_default(), f)).collect();
    Ok(Pulled { record, digest: top_digest, layers, config_fetched })
}

/// GET a manifest by tag or digest: its digest (computed, and checked
/// against the registry's header), media type and bytes.
fn fetch_manifest(client: &Client, reference: &Reference, wanted: &str) -> Result<(String, String, Vec<u8>)> {
    let path = format!("/v2/{}/manifests/{wanted}", reference.repository);
    let resp = client.get(&path, &[("Accept", MANIFEST_ACCEPT.to_string())])?;
    let status = resp.status().as_u16();
    if status == 404 {
        let e = client.error(resp, &format!("manifest for {} not found", reference.short()));
        return Err(Error::new(Kind::NotFound, e.message));
    }
    if !(200..300).contains(&status) {
        return Err(client.error(resp, &format!("{}: manifest", reference)));
    }
    let media_type = client::header(&resp, "content-type").unwrap_or_default();
    let header_digest = client::header(&resp, "docker-content-digest");
    let mut resp = resp;
    let bytes = Client::read_small(&mut resp, MAX_INDEX_BYTES, &format!("{reference}: manifest"))?;
    let digest = digest_of(&bytes);
    if let Some(h) = header_digest
        && h.starts_with("sha256:")
        && h != digest
        && !media_type.starts_with(SCHEMA1)
    {
        return Err(Error::invalid(format!(
            "{reference}: manifest content is {digest}, the registry says {h}"
        )));
    }
    // A type parameter (`; charset=utf-8`) is not part of the media type.
    let media_type = media_type.split(';').next().unwrap_or_default().trim().to_string();
    Ok((digest, media_type, bytes))
}

/// Down from an index or manifest list to the image manifest for this host.
fn resolve_index(
    client: &Client,
    reference: &Reference,
    media_type: String,
    bytes: Vec<u8>,
    depth: usize,
) -> Result<(Vec<u8>, String)> {
    if media_type.starts_with(SCHEMA1) {
        return Ok((bytes, media_type));
    }
    let probe: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid(format!("{reference}: bad manifest JSON: {e}")))?;
    match archive::doc_kind(&media_type, &probe) {
        DocKind::Manifest => Ok((bytes, media_type)),
        DocKind::Other => {
            Err(Error::invalid(format!("{reference}: unsupported manifest type {media_type:?}")))
        }
        DocKind::Index if depth >= 4 => Err(Error::invalid(format!("{reference}: indexes nested too deep"))),
        DocKind::Index => {
            let index: Index = serde_json::from_value(probe)
                .map_err(|e| Error::invalid(format!("{reference}: bad index: {e}")))?;
            let pick = archive::pick_platform(&index)
                .map_err(|why| Error::invalid(format!("{reference}: {why}")))?;
            let (digest, mt, b) = fetch_manifest(client, reference, &pick.digest)?;
            if digest != pick.digest {
                return Err(Error::invalid(format!(
                    "{reference}: manifest {} arrived with digest {digest}",
                    pick.digest
                )));
            }
            resolve_index(client, reference, mt, b, depth + 1)
        }
    }
}

/// A config (or any small blob) read whole, its size and digest checked.
fn fetch_small_blob(client: &Client, repo: &str, digest: &str, size: u64, limit: u64) -> Result<Vec<u8>> {
    if size > limit {
        return Err(Error::invalid(format!("blob {digest}: {size} bytes is too large for a config")));
    }
    let mut data = Vec::with_capacity(size as usize);
    Verify::new(
        BlobReader::new(client, format!("/v2/{repo}/blobs/{digest}"), size),
        Some(digest.to_string()),
        size,
    )
    .read_to_end(&mut data)
    .map_err(|e| Error::invalid(format!("blob {digest}: {e}")))?;
    Ok(data)
}

/// A blob's bytes; when the connection drops, the rest is asked for again
/// with `Range` (a registry that ignores it answers 200: the bytes already
/// read are skipped).
pub struct BlobReader<'c> {
    client: &'c Client,
    path: String,
    size: u64,
    offset: u64,
    body: Option<Box<dyn Read + Send>>,
    resumes: u32,
}

impl<'c> BlobReader<'c> {
    pub fn new(client: &'c Client, path: String, size: u64) -> Self {
        BlobReader { client, path, size, offset: 0, body: None, resumes: 0 }
    }

    fn open(&mut self) -> io::Result<()> {
        let mut headers = Vec::new();
        if self.offset > 0 {
            headers.push(("Range", format!("bytes={}-", self.offset)));
        }
        let resp = self.client.get(&self.path, &headers).map_err(|e| io::Error::other(e.message))?;
        let status = resp.status().as_u16();
        let mut body: Box<dyn Read + Send> = match status {
            200 | 206 => Box::new(client::reader(resp)),
            404 => return Err(io::Error::new(io::ErrorKind::NotFound, "blob unknown to the registry (404)")),
            _ => return Err(io::Error::other(self.client.error(resp, "blob").message)),
        };
        if status == 200 && self.offset > 0 {
            let skipped = io::copy(&mut (&mut body).take(self.offset), &mut io::sink())?;
            if skipped != self.offset {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "blob shorter on resume"));
            }
        }
        self.body = Some(body);
        Ok(())
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.body.is_none()
                && let Err(e) = self.open()
            {
                // A missing blob or a refusal is not a dropped connection.
                if e.kind() == io::ErrorKind::NotFound || self.resumes >= RESUMES {
                    return Err(e);
                }
                self.resumes += 1;
                std::thread::sleep(Duration::from_millis(200 * u64::from(self.resumes)));
                continue;
            }
            let Some(body) = self.body.as_mut() else { continue };
            let result = body.read(buf);
            match result {
                Ok(0) if self.offset < self.size => {}
                Ok(n) => {
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if self.resumes >= RESUMES => return Err(e),
                Err(e) => log::info!("{}: {e} at byte {}; resuming", self.path, self.offset),
            }
            if self.resumes >= RESUMES {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("connection dropped at byte {} of {}", self.offset, self.size),
                ));
            }
            self.resumes += 1;
            self.body = None;
            std::thread::sleep(Duration::from_millis(100 * u64::from(self.resumes)));
        }
    }
}
