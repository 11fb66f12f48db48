//! Image archives in and out: docker-archive (`docker save`, classic and
//! Docker >= 25's, which also holds an OCI layout), oci-archive, and an OCI
//! layout directory. Reading indexes a tar once and then reads each blob at its
//! offset, verifying every blob's sha256 as it is read; writing gives one tar
//! holding both an OCI layout and docker's manifest.json, as Docker >= 25 does.

// Until the Rhai bindings (issue 12) use it; the lead removes this when wiring.

use crate::runtime::error::{Context, Error, Result};
use crate::runtime::image::reference::{Reference, is_digest};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

/// Manifests and indexes are small; a config carries the history.
pub const MAX_INDEX_BYTES: u64 = 4 << 20;
pub const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// One layer as the archive describes it, handed to the layer callback.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    /// The archive member (`blobs/sha256/<hex>`, `<id>/layer.tar`), for messages.
    pub member: String,
    /// The blob's digest when the archive states one (OCI; Docker >= 25 by its name).
    pub digest: Option<String>,
    /// What the config's `rootfs.diff_ids` says its uncompressed stream hashes to.
    pub diff_id: String,
    #[allow(dead_code)] // part of what an archive tells; no caller needs it yet
    pub media_type: String,
    /// Bytes of the blob as stored (compressed or not).
    pub size: u64,
    /// 0-based position among the distinct layers this read hands out, and their count.
    pub index: usize,
    pub count: usize,
}

#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// `sha256:<hex>` of the config bytes: the image id.
    #[allow(dead_code)] // part of what an archive tells; no caller needs it yet
    pub config_digest: String,
    pub config: Value,
    /// The config exactly as in the archive: its digest is the image id.
    pub config_bytes: Vec<u8>,
    /// Bottom layer first.
    pub diff_ids: Vec<String>,
    /// Full references (`docker.io/library/debian:12`), from RepoTags or annotations.
    pub names: Vec<String>,
    /// The OCI/Docker manifest's digest, when the archive has one.
    pub manifest_digest: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    DockerArchive,
    OciArchive,
    OciLayout,
    /// An unpacked docker-archive.
    DockerDir,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::DockerArchive => "docker-archive",
            Format::OciArchive => "oci-archive",
            Format::OciLayout => "oci",
            Format::DockerDir => "docker-dir",
        }
    }
}

#[derive(Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
}

#[derive(Deserialize)]
pub struct Index {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
pub struct Manifest {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// What kind of document a manifest-ish blob is, by its media type (or, with
/// none, its shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Index,
    Manifest,
    Other,
}

pub fn doc_kind(media_type: &str, probe: &Value) -> DocKind {
    let mt = if media_type.is_empty() { probe["mediaType"].as_str().unwrap_or_default() } else { media_type };
    if mt == MEDIA_OCI_INDEX || mt == MEDIA_DOCKER_LIST || (mt.is_empty() && probe.get("manifests").is_some())
    {
        DocKind::Index
    } else if mt == MEDIA_OCI_MANIFEST
        || mt == MEDIA_DOCKER_MANIFEST
        || (mt.is_empty() && probe.get("layers").is_some())
    {
        DocKind::Manifest
    } else {
        DocKind::Other
    }
}

/// The entry of an index for this host's platform (or one without a platform).
pub fn pick_platform(index: &Index) -> std::result::Result<&Descriptor, String> {
    let (os, arch) = host_platform();
    index
        .manifests
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| p.os == os && p.architecture == arch))
        .or_else(|| index.manifests.iter().find(|d| d.platform.is_none()))
        .ok_or_else(|| {
            let have: Vec<String> = index
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref().map(|p| format!("{}/{}", p.os, p.architecture)))
                .collect();
            format!("no {os}/{arch} image (has {})", have.join(", "))
        })
}

/// A config's `rootfs.diff_ids`, checked: it must be an image config.
pub fn config_diff_ids(config: &Value) -> std::result::Result<Vec<String>, String> {
    let rootfs = &config["rootfs"];
    if rootfs["type"].as_str() != Some("layers") {
        return Err("config has no rootfs of type \"layers\": not a container image".into());
    }
    let diff_ids: Vec<String> = rootfs["diff_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    if let Some(bad) = diff_ids.iter().find(|d| !is_digest(d)) {
        return Err(format!("bad diff id {bad:?}"));
    }
    Ok(diff_ids)
}

/// A layer media type we can unpack (plain, gzip or zstd tar; never encrypted).
pub fn layer_type_supported(mt: &str) -> bool {
    !mt.contains("encrypted") && (mt.is_empty() || mt.contains(".tar") || mt.contains("rootfs.diff"))
}

#[derive(Deserialize)]
struct DockerItem {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
    #[serde(rename = "LayerSources", default)]
    layer_sources: Option<HashMap<String, Descriptor>>,
}

/// Where the members are: a tar file indexed once, or a directory.
enum Members {
    Tar { file: File, entries: HashMap<String, TarMember> },
    Dir(PathBuf),
}

enum TarMember {
    File {
        offset: u64,
        size: u64,
    },
    /// A symlink or hardlink, resolved to the member name it points at.
    Link(String),
}

/// An opened archive: its blobs can be read in any order, more than once.
pub struct Archive {
    label: String,
    members: Members,
    format: Format,
}

/// Read every image in the archive at `path` (a tar, an OCI layout directory,
/// or `-` for stdin, spooled to an unnamed file in `spool_dir`).
#[cfg(test)]
pub fn read(
    path: &Path,
    spool_dir: &Path,
    on_layer: impl FnMut(&LayerBlob, &mut dyn Read) -> Result<Option<String>>,
) -> Result<Vec<LoadedImage>> {
    Archive::open(path, spool_dir)?.images(on_layer)
}

/// What image format `path` holds (an uncompressed tar or a directory), if
/// any: for `image import`, so that an image archive is never taken for a
/// root filesystem. A compressed file is not looked into (None).
pub fn detect(path: &Path) -> Result<Option<Format>> {
    if path.is_dir() {
        return Ok(if path.join("manifest.json").is_file() {
            Some(Format::DockerDir)
        } else if path.join("index.json").is_file() {
            Some(Format::OciLayout)
        } else {
            None
        });
    }
    let file = File::open(path).ctx(|| format!("open {}", path.display()))?;
    let Ok(entries) = index_tar(&file, &path.display().to_string()) else { return Ok(None) };
    Ok(if entries.contains_key("manifest.json") {
        Some(Format::DockerArchive)
    } else if entries.contains_key("index.json") && entries.contains_key("oci-layout") {
        Some(Format::OciArchive)
    } else {
        None
    })
}

impl Archive {
    /// Open and index an archive. A whole archive compressed with gzip or zstd
    /// (`docker save | gzip`) is decompressed into the spool first.
    pub fn open(path: &Path, spool_dir: &Path) -> Result<Archive> {
        let stdin = path == Path::new("-");
        let label = if stdin { "stdin".to_string() } else { path.display().to_string() };
        if !stdin && path.is_dir() {
            let format = if path.join("manifest.json").is_file() {
                Format::DockerDir
            } else if path.join("index.json").is_file() {
                Format::OciLayout
            } else {
                return Err(Error::invalid(format!(
                    "{label}: not an image directory (no index.json or manifest.json)"
                )));
            };
            return Ok(Archive { label, members: Members::Dir(path.to_path_buf()), format });
        }
        let mut file = if stdin {
            spool(&mut io::stdin().lock(), spool_dir, &label)?
        } else {
            File::open(path).map_err(|e| {
                let err = Error::os(format!("open {label}: {e}"));
                if e.kind() == io::ErrorKind::NotFound { Error::not_found(err.message) } else { err }
            })?
        };
        let mut magic = [0u8; 6];
        let n = file.read_at(&mut magic, 0).ctx(|| format!("read {label}"))?;
        let magic = &magic[..n];
        if magic.starts_with(&[0x1f, 0x8b]) || magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            let plain = {
                let mut whole = crate::runtime::image::tarsplit::decompressed(&mut file)?;
                spool(&mut whole, spool_dir, &label)?
            };
            file = plain;
        } else if magic.starts_with(b"BZh") || magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            return Err(Error::invalid(format!(
                "{label}: bzip2 and xz archives are not supported: decompress it first"
            )));
        }
        let entries = index_tar(&file, &label)?;
        let format = if entries.contains_key("manifest.json") {
            Format::DockerArchive
        } else if entries.contains_key("index.json") {
            Format::OciArchive
        } else {
            return Err(Error::invalid(format!(
                "{label}: not an image archive (no manifest.json or index.json); a root filesystem tarball is for `image import`"
            )));
        };
        Ok(Archive { label, members: Members::Tar { file, entries }, format })
    }

    #[cfg(test)]
    pub fn format(&self) -> Format {
        self.format
    }

    /// Every image, its config verified; each distinct layer handed to
    /// `on_layer` once with a reader of the blob as stored. The callback returns
    /// `Some(diff_id)` when it consumed the stream (`diff_id` = sha256 of the
    /// uncompressed stream, checked against the config), or `None` when it
    /// already has that layer (the blob is then not read).
    pub fn images(
        &self,
        mut on_layer: impl FnMut(&LayerBlob, &mut dyn Read) -> Result<Option<String>>,
    ) -> Result<Vec<LoadedImage>> {
        let plans = match self.format {
            Format::DockerArchive | Format::DockerDir => self.docker_plans()?,
            Format::OciArchive | Format::OciLayout => self.oci_plans()?,
        };
        let mut distinct = HashSet::new();
        let count =
            plans.iter().flat_map(|p| &p.layers).filter(|l| distinct.insert(l.diff_id.clone())).count();
        let mut done = HashSet::new();
        let mut out = Vec::new();
        for plan in plans {
            for layer in &plan.layers {
                if done.contains(&layer.diff_id) {
                    continue;
                }
                let blob = LayerBlob { index: done.len(), count, ..layer.clone() };
                self.hand_out(&blob, &mut on_layer)?;
                done.insert(layer.diff_id.clone());
            }
            out.push(plan.image);
        }
        Ok(out)
    }

    fn hand_out(
        &self,
        blob: &LayerBlob,
        on_layer: &mut impl FnMut(&LayerBlob, &mut dyn Read) -> Result<Option<String>>,
    ) -> Result<()> {
        let (reader, size) = self.open_member(&blob.member)?;
        if size != blob.size {
            return Err(self.bad(&blob.member, &format!("{size} bytes, the manifest says {}", blob.size)));
        }
        // An uncompressed blob's digest is its diff id, which the caller's own
        // hash is checked against below: hashing it twice would cost a pass.
        let digest = blob.digest.clone().filter(|d| *d != blob.diff_id);
        let mut verify = Verify::new(reader, digest, size);
        let outcome = on_layer(blob, &mut verify)
            .map_err(|e| Error { message: self.bad(&blob.member, &e.message).message, ..e })?;
        let Some(diff_id) = outcome else {
            return Ok(());
        };
        // Whatever the layer code left unread (padding after the tar's end) still counts.
        io::copy(&mut verify, &mut io::sink()).map_err(|e| self.bad(&blob.member, &e.to_string()))?;
        if diff_id != blob.diff_id {
            return Err(self.bad(
                &blob.member,
                &format!(
                    "uncompressed content is {diff_id}, the config's rootfs.diff_ids say {}",
                    blob.diff_id
                ),
            ));
        }
        Ok(())
    }

    fn bad(&self, member: &str, problem: &str) -> Error {
        Error::invalid(format!("{}: {member}: {problem}", self.label))
    }

    fn open_member(&self, name: &str) -> Result<(Box<dyn Read + '_>, u64)> {
        match &self.members {
            Members::Tar { file, entries } => {
                let mut key = normalize(name).ok_or_else(|| self.bad(name, "bad member name"))?;
                for _ in 0..16 {
                    match entries.get(&key) {
                        Some(TarMember::File { offset, size }) => {
                            return Ok((Box::new(Range { file, pos: *offset, end: offset + size }), *size));
                        }
                        Some(TarMember::Link(target)) => key = target.clone(),
                        None => return Err(self.bad(name, "missing from the archive")),
                    }
                }
                Err(self.bad(name, "too many levels of links"))
            }
            Members::Dir(root) => {
                let rel = normalize(name).ok_or_else(|| self.bad(name, "bad member name"))?;
                let path = root.join(rel);
                let file = match File::open(&path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        return Err(self.bad(name, "missing from the directory"));
                    }
                    Err(e) => return Err(self.bad(name, &e.to_string())),
                };
                let meta = file.metadata().map_err(|e| self.bad(name, &e.to_string()))?;
                if !meta.is_file() {
                    return Err(self.bad(name, "not a regular file"));
                }
                Ok((Box::new(file), meta.len()))
            }
        }
    }

    fn has_member(&self, name: &str) -> bool {
        match &self.members {
            Members::Tar { entries, .. } => normalize(name).is_some_and(|k| entries.contains_key(&k)),
            Members::Dir(root) => normalize(name).is_some_and(|k| root.join(k).is_file()),
        }
    }

    /// A small member read whole, its size and digest checked when known.
    fn read_small(&self, name: &str, digest: Option<&str>, size: Option<u64>, limit: u64) -> Result<Vec<u8>> {
        let (reader, actual) = self.open_member(name)?;
        if let Some(want) = size
            && want != actual
        {
            return Err(self.bad(name, &format!("{actual} bytes, the manifest says {want}")));
        }
        if actual > limit {
            return Err(self.bad(name, &format!("{actual} bytes: too large for metadata")));
        }
        let mut data = Vec::with_capacity(actual as usize);
        Verify::new(reader, digest.map(str::to_string), actual)
            .read_to_end(&mut data)
            .map_err(|e| self.bad(name, &e.to_string()))?;
        Ok(data)
    }

    fn read_json<T: for<'de> Deserialize<'de>>(&self, name: &str, bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|e| self.bad(name, &format!("bad JSON: {e}")))
    }

    fn blob_member(&self, digest: &str, what: &str) -> Result<String> {
        match digest.strip_prefix("sha256:") {
            Some(_) if is_digest(digest) => Ok(blob_path(digest)),
            _ => Err(Error::invalid(format!("{}: {what} has unsupported digest {digest:?}", self.label))),
        }
    }

    /// The config, checked, and its layers' expected diff ids.
    fn config(
        &self,
        member: &str,
        digest: Option<&str>,
        size: Option<u64>,
    ) -> Result<(Vec<u8>, Value, Vec<String>)> {
        let bytes = self.read_small(member, digest, size, MAX_CONFIG_BYTES)?;
        let config: Value = self.read_json(member, &bytes)?;
        let diff_ids = config_diff_ids(&config).map_err(|why| self.bad(member, &why))?;
        Ok((bytes, config, diff_ids))
    }

    fn docker_plans(&self) -> Result<Vec<Plan>> {
        let bytes = self.read_small("manifest.json", None, None, MAX_INDEX_BYTES)?;
        let items: Vec<DockerItem> = self.read_json("manifest.json", &bytes)?;
        if items.is_empty() {
            return Err(self.bad("manifest.json", "lists no image"));
        }
        let mut plans = Vec::new();
        for item in items {
            // Classic archives name the config `<hex>.json`, Docker >= 25 `blobs/sha256/<hex>`.
            let digest = digest_in_name(&item.config);
            let (config_bytes, config, diff_ids) = self.config(&item.config, digest.as_deref(), None)?;
            if diff_ids.len() != item.layers.len() {
                return Err(self.bad(
                    &item.config,
                    &format!("{} diff ids for {} layers in manifest.json", diff_ids.len(), item.layers.len()),
                ));
            }
            let mut layers = Vec::new();
            for (member, diff_id) in item.layers.iter().zip(&diff_ids) {
                if !self.has_member(member) {
                    let foreign = item.layer_sources.as_ref().is_some_and(|s| s.contains_key(diff_id));
                    let why = if foreign {
                        "a foreign layer, not in the archive"
                    } else {
                        "missing from the archive"
                    };
                    return Err(self.bad(member, why));
                }
                let (_, size) = self.open_member(member)?;
                let digest = digest_in_name(member).filter(|_| member.starts_with("blobs/sha256/"));
                layers.push(LayerBlob {
                    member: member.clone(),
                    digest,
                    diff_id: diff_id.clone(),
                    media_type: MEDIA_OCI_LAYER.to_string(),
                    size,
                    index: 0,
                    count: 0,
                });
            }
            let names = item
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|t| {
                    Reference::parse(t)
                        .map(|r| r.to_string())
                        .map_err(|e| self.bad("manifest.json", &e.message))
                })
                .collect::<Result<Vec<_>>>()?;
            let config_digest = digest_of(&config_bytes);
            plans.push(Plan {
                image: LoadedImage {
                    config_digest,
                    config,
                    config_bytes,
                    diff_ids,
                    names,
                    manifest_digest: None,
                },
                layers,
            });
        }
        Ok(plans)
    }

    fn oci_plans(&self) -> Result<Vec<Plan>> {
        if self.has_member("oci-layout") {
            let bytes = self.read_small("oci-layout", None, None, MAX_INDEX_BYTES)?;
            let layout: Value = self.read_json("oci-layout", &bytes)?;
            if !layout["imageLayoutVersion"].as_str().is_some_and(|v| v.starts_with("1.")) {
                return Err(self.bad("oci-layout", "unsupported imageLayoutVersion"));
            }
        }
        let bytes = self.read_small("index.json", None, None, MAX_INDEX_BYTES)?;
        let index: Index = self.read_json("index.json", &bytes)?;
        // Docker >= 25 lists a manifest once per tag: one image, several names.
        let mut order: Vec<String> = Vec::new();
        let mut names: HashMap<String, Vec<String>> = HashMap::new();
        let mut manifests: HashMap<String, Manifest> = HashMap::new();
        for desc in &index.manifests {
            let (digest, manifest) = self.resolve(desc, 0)?;
            if !manifests.contains_key(&digest) {
                order.push(digest.clone());
                manifests.insert(digest.clone(), manifest);
            }
            let list = names.entry(digest).or_default();
            if let Some(name) = annotated_name(&desc.annotations)
                && !list.contains(&name)
            {
                list.push(name);
            }
        }
        let mut plans = Vec::new();
        for digest in order {
            let Some(manifest) = manifests.remove(&digest) else { continue };
            let member = self.blob_member(&manifest.config.digest, "config")?;
            let ct = manifest.config.media_type.as_str();
            if !(ct.is_empty() || ct == MEDIA_OCI_CONFIG || ct == MEDIA_DOCKER_CONFIG) {
                return Err(self.bad(&member, &format!("config type {ct}: not a container image")));
            }
            let (config_bytes, config, diff_ids) =
                self.config(&member, Some(&manifest.config.digest), Some(manifest.config.size))?;
            if diff_ids.len() != manifest.layers.len() {
                return Err(self.bad(
                    &member,
                    &format!(
                        "{} diff ids for {} layers in manifest {digest}",
                        diff_ids.len(),
                        manifest.layers.len()
                    ),
                ));
            }
            let mut layers = Vec::new();
            for (desc, diff_id) in manifest.layers.iter().zip(&diff_ids) {
                let member = self.blob_member(&desc.digest, "layer")?;
                let mt = desc.media_type.as_str();
                if !layer_type_supported(mt) {
                    return Err(self.bad(&member, &format!("layer type {mt} is not supported")));
                }
                layers.push(LayerBlob {
                    member,
                    digest: Some(desc.digest.clone()),
                    diff_id: diff_id.clone(),
                    media_type: desc.media_type.clone(),
                    size: desc.size,
                    index: 0,
                    count: 0,
                });
            }
            let config_digest = digest_of(&config_bytes);
            plans.push(Plan {
                image: LoadedImage {
                    config_digest,
                    config,
                    config_bytes,
                    diff_ids,
                    names: names.remove(&digest).unwrap_or_default(),
                    manifest_digest: Some(digest),
                },
                layers,
            });
        }
        if plans.is_empty() {
            return Err(self.bad("index.json", "lists no image"));
        }
        Ok(plans)
    }

    /// A descriptor down to one image manifest: nested indexes and manifest
    /// lists resolve to this host's platform.
    fn resolve(&self, desc: &Descriptor, depth: usize) -> Result<(String, Manifest)> {
        if depth > 4 {
            return Err(Error::invalid(format!("{}: indexes nested too deep", self.label)));
        }
        let member = self.blob_member(&desc.digest, "manifest")?;
        let bytes = self.read_small(&member, Some(&desc.digest), Some(desc.size), MAX_INDEX_BYTES)?;
        let probe: Value = self.read_json(&member, &bytes)?;
        match doc_kind(&desc.media_type, &probe) {
            DocKind::Index => {
                let index: Index = self.read_json(&member, &bytes)?;
                let _ = index.media_type;
                let pick = pick_platform(&index).map_err(|why| self.bad(&member, &why))?;
                return self.resolve(pick, depth + 1);
            }
            DocKind::Manifest => {}
            DocKind::Other => {
                let mt = if desc.media_type.is_empty() {
                    probe["mediaType"].as_str().unwrap_or_default()
                } else {
                    &desc.media_type
                };
                return Err(self.bad(&member, &format!("unsupported manifest type {mt:?}")));
            }
        }
        let manifest: Manifest = self.read_json(&member, &bytes)?;
        let _ = manifest.media_type;
        Ok((desc.digest.clone(), manifest))
    }
}

struct Plan {
    image: LoadedImage,
    layers: Vec<LayerBlob>,
}

/// The name an index entry gives its image: containerd's full name, else an
/// OCI ref.name that is a reference (a bare tag such as `12` names no repository).
fn annotated_name(annotations: &HashMap<String, String>) -> Option<String> {
    if let Some(full) = annotations.get(ANNOTATION_IMAGE_NAME)
        && let Ok(r) = Reference::parse(full)
    {
        return Some(r.to_string());
    }
    let name = annotations.get(ANNOTATION_REF_NAME)?;
    if !name.contains(['/', ':']) {
        return None;
    }
    Reference::parse(name).ok().map(|r| r.to_string())
}

pub fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    ("linux", arch)
}

/// `blobs/sha256/<hex>` or `<hex>.json` / `<hex>.tar`: the digest the name states.
fn digest_in_name(name: &str) -> Option<String> {
    let base = name.rsplit('/').next()?;
    let hex = base.strip_suffix(".json").unwrap_or(base);
    let d = format!("sha256:{hex}");
    (is_digest(&d) && (name.starts_with("blobs/sha256/") || name.ends_with(".json"))).then_some(d)
}

pub fn blob_path(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// A member name as a key: `./a//b` is `a/b`; `..` and empty names are refused.
fn normalize(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for p in name.split('/') {
        match p {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// A symlink member's target as a member name, resolved against its directory.
fn link_target(member: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        member.split('/').filter(|p| !p.is_empty() && *p != ".").collect()
    };
    if !target.starts_with('/') {
        parts.pop();
    }
    for p in target.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn index_tar(file: &File, label: &str) -> Result<HashMap<String, TarMember>> {
    let len = file.metadata().ctx(|| format!("stat {label}"))?.len();
    let not_tar =
        |e: &dyn std::fmt::Display| Error::invalid(format!("{label}: not a tar archive or truncated: {e}"));
    let mut archive = tar::Archive::new(file);
    let mut entries = HashMap::new();
    for entry in archive.entries_with_seek().map_err(|e| not_tar(&e))? {
        let entry = entry.map_err(|e| not_tar(&e))?;
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(name) = normalize(&raw_name) else { continue };
        let (offset, size) = (entry.raw_file_position(), entry.size());
        if offset.saturating_add(size) > len {
            return Err(Error::invalid(format!(
                "{label}: {name}: truncated ({} of {size} bytes present)",
                len.saturating_sub(offset)
            )));
        }
        let link = || entry.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned());
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                entries.insert(name, TarMember::File { offset, size });
            }
            tar::EntryType::Symlink => {
                if let Some(target) = link().and_then(|t| link_target(&name, &t)) {
                    entries.insert(name, TarMember::Link(target));
                }
            }
            tar::EntryType::Link => {
                if let Some(target) = link().and_then(|t| normalize(&t)) {
                    entries.insert(name, TarMember::Link(target));
                }
            }
            _ => {}
        }
    }
    Ok(entries)
}

/// `reader` copied into an unnamed file in `dir` (gone when closed, even after a crash).
fn spool(reader: &mut dyn Read, dir: &Path, label: &str) -> Result<File> {
    crate::runtime::sys::private_dir(dir)?;
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
    {
        Ok(f) => f,
        // A filesystem without O_TMPFILE: a named file, unlinked at once.
        Err(_) => {
            let path = dir.join(format!(".spool-{}", crate::runtime::sys::new_id()?));
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .ctx(|| format!("create {}", path.display()))?;
            let _ = std::fs::remove_file(&path);
            f
        }
    };
    io::copy(reader, &mut file).ctx(|| format!("copy {label} to {}", dir.display()))?;
    // The tar index reads from the cursor.
    io::Seek::rewind(&mut file).ctx(|| format!("rewind the copy of {label}"))?;
    Ok(file)
}

/// A byte range of the archive file, read with pread (no shared cursor).
struct Range<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for Range<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (self.end - self.pos).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "archive ended early"));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Hashes what passes; at the end, a wrong length or digest is a read error,
/// so a consumer that reads to the end cannot miss it.
pub struct Verify<R> {
    inner: R,
    hash: Sha256,
    len: u64,
    want_digest: Option<String>,
    want_len: u64,
    /// Set at the end: the verdict, repeated to any later read.
    verdict: Option<std::result::Result<(), String>>,
}

impl<R: Read> Verify<R> {
    pub fn new(inner: R, want_digest: Option<String>, want_len: u64) -> Self {
        Verify { inner, hash: Sha256::new(), len: 0, want_digest, want_len, verdict: None }
    }

    fn check(&mut self) -> std::result::Result<(), String> {
        if self.len < self.want_len {
            return Err(format!("truncated: {} of {} bytes", self.len, self.want_len));
        }
        if self.len > self.want_len {
            return Err(format!("{} bytes, more than the {} it is listed with", self.len, self.want_len));
        }
        if let Some(want) = &self.want_digest {
            let got = format!("sha256:{}", hex(&std::mem::take(&mut self.hash).finalize()));
            if &got != want {
                return Err(format!("content is {got}, not the digest {want} it is listed with"));
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Verify<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.verdict.is_none() {
            let n = self.inner.read(buf)?;
            if n > 0 {
                self.hash.update(&buf[..n]);
                self.len += n as u64;
                return Ok(n);
            }
            self.verdict = Some(self.check());
        }
        match &self.verdict {
            Some(Err(why)) => Err(io::Error::new(io::ErrorKind::InvalidData, why.clone())),
            _ => Ok(0),
        }
    }
}

// ---- writing ----

/// Where a saved layer's tar stream comes from.
#[derive(Debug, Clone)]
pub enum LayerSource {
    /// Packed from the directory by the layer code (layers mydocker made).
    Dir(PathBuf),
    /// The loaded stream again, from its tar-split record and the layer dir.
    TarSplit { meta: PathBuf, dir: PathBuf },
}

#[derive(Debug, Clone)]
pub struct SaveLayer {
    pub diff_id: String,
    /// Bytes of the uncompressed tar stream.
    pub tar_size: u64,
    pub source: LayerSource,
}

#[derive(Debug, Clone)]
pub struct SaveImage {
    /// The config exactly as stored: its digest stays the image id.
    pub config: Vec<u8>,
    /// Full references; may be empty (saved by id).
    pub names: Vec<String>,
    /// Bottom first, matching the config's rootfs.diff_ids.
    pub layers: Vec<SaveLayer>,
}

#[derive(Serialize)]
struct OutDescriptor<'a> {
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    digest: String,
    size: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<&'a str, String>,
}

#[derive(Serialize)]
struct OutManifest<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    config: OutDescriptor<'a>,
    layers: Vec<OutDescriptor<'a>>,
}

#[derive(Serialize)]
struct OutIndex<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    manifests: Vec<OutDescriptor<'a>>,
}

#[derive(Serialize)]
struct OutDockerItem {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: Vec<String>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// Progress of a layer being loaded, saved or committed, reported every few MiB.
pub struct Progress<'a> {
    /// "load", "present" (already stored, skipped), "save", "commit".
    pub action: &'a str,
    pub diff_id: &'a str,
    pub index: usize,
    pub count: usize,
    pub done: u64,
    pub total: u64,
}

/// `save`: one tar with an OCI layout (oci-layout, index.json, blobs/sha256/…)
/// and docker's manifest.json + repositories, layers as uncompressed tar blobs.
/// Each layer's stream is checked against its diff id as it is written.
#[cfg(test)]
pub fn write(out: impl Write, images: &[SaveImage]) -> Result<()> {
    write_with_progress(out, images, &mut |_| {})
}

pub fn write_with_progress(
    out: impl Write,
    images: &[SaveImage],
    progress: &mut dyn FnMut(&Progress),
) -> Result<()> {
    if images.is_empty() {
        return Err(Error::invalid("save: no image to save"));
    }
    let mut index = OutIndex { schema_version: 2, media_type: MEDIA_OCI_INDEX, manifests: Vec::new() };
    let mut docker = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut small_blobs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut layers: Vec<&SaveLayer> = Vec::new();
    for image in images {
        let config_digest = digest_of(&image.config);
        let refs = image.names.iter().map(|n| Reference::parse(n)).collect::<Result<Vec<_>>>()?;
        let manifest = OutManifest {
            schema_version: 2,
            media_type: MEDIA_OCI_MANIFEST,
            config: OutDescriptor {
                media_type: MEDIA_OCI_CONFIG,
                digest: config_digest.clone(),
                size: image.config.len() as u64,
                annotations: BTreeMap::new(),
            },
            layers: image
                .layers
                .iter()
                .map(|l| OutDescriptor {
                    media_type: MEDIA_OCI_LAYER,
                    digest: l.diff_id.clone(),
                    size: l.tar_size,
                    annotations: BTreeMap::new(),
                })
                .collect(),
        };
        let manifest_bytes = to_json(&manifest)?;
        let manifest_digest = digest_of(&manifest_bytes);
        // As Docker >= 25: an index entry per name (one unnamed entry when it has
        // none). One name is one entry, which `skopeo inspect oci-archive:F` and
        // Podman's OCI load take; with several, Podman falls back to
        // manifest.json's RepoTags and so keeps them all.
        let tagged: Vec<&Reference> = refs.iter().filter(|r| r.tag.is_some()).collect();
        let entry = |annotations| OutDescriptor {
            media_type: MEDIA_OCI_MANIFEST,
            digest: manifest_digest.clone(),
            size: manifest_bytes.len() as u64,
            annotations,
        };
        if tagged.is_empty() {
            index.manifests.push(entry(BTreeMap::new()));
        }
        for r in &tagged {
            // ref.name as Podman writes it (the full name): Docker's bare tag names no repository.
            index.manifests.push(entry(BTreeMap::from([
                (ANNOTATION_IMAGE_NAME, r.to_string()),
                (ANNOTATION_REF_NAME, r.to_string()),
            ])));
        }
        for r in &refs {
            if let (Some(tag), Some(top)) = (&r.tag, image.layers.last()) {
                let top_hex = top.diff_id.trim_start_matches("sha256:").to_string();
                repositories.entry(r.familiar_repository()).or_default().insert(tag.clone(), top_hex);
            }
        }
        docker.push(OutDockerItem {
            config: blob_path(&config_digest),
            repo_tags: refs.iter().filter(|r| r.tag.is_some()).map(Reference::short).collect(),
            layers: image.layers.iter().map(|l| blob_path(&l.diff_id)).collect(),
        });
        for blob in [(config_digest, image.config.clone()), (manifest_digest, manifest_bytes)] {
            if !small_blobs.iter().any(|(d, _)| *d == blob.0) {
                small_blobs.push(blob);
            }
        }
        for l in &image.layers {
            if !is_digest(&l.diff_id) {
                return Err(Error::invalid(format!("save: bad diff id {:?}", l.diff_id)));
            }
            if !layers.iter().any(|x| x.diff_id == l.diff_id) {
                layers.push(l);
            }
        }
    }
    let mut out = out;
    let w: &mut dyn Write = &mut out;
    put_file(w, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    put_file(w, "index.json", &to_json(&index)?)?;
    put_file(w, "manifest.json", &to_json(&docker)?)?;
    if !repositories.is_empty() {
        put_file(w, "repositories", &to_json(&repositories)?)?;
    }
    put_dir(w, "blobs/")?;
    put_dir(w, "blobs/sha256/")?;
    for (digest, bytes) in &small_blobs {
        put_file(w, &blob_path(digest), bytes)?;
    }
    let count = layers.len();
    for (i, layer) in layers.into_iter().enumerate() {
        put_header(w, &blob_path(&layer.diff_id), layer.tar_size, tar::EntryType::Regular, 0o644)?;
        let mut counting = Counting {
            out: &mut *w,
            len: 0,
            hash: Sha256::new(),
            total: layer.tar_size,
            index: i,
            count,
            diff_id: &layer.diff_id,
            progress: &mut *progress,
        };
        match &layer.source {
            LayerSource::Dir(dir) => {
                crate::runtime::image::layer::pack(dir, &mut counting, &[])?;
            }
            LayerSource::TarSplit { meta, dir } => {
                crate::runtime::image::tarsplit::reassemble(meta, dir, &mut counting)?;
            }
        }
        let (len, hash) = (counting.len, std::mem::take(&mut counting.hash));
        let digest = format!("sha256:{}", hex(&hash.finalize()));
        if len != layer.tar_size || digest != layer.diff_id {
            return Err(Error::invalid(format!(
                "save: layer {}: the stream written is {digest} ({len} bytes), not the recorded {} ({} bytes): was the layer changed?",
                layer.diff_id, layer.diff_id, layer.tar_size
            )));
        }
        pad(w, len)?;
    }
    w.write_all(&[0u8; 1024]).ctx(|| "write archive")?;
    w.flush().ctx(|| "write archive")
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::os(format!("encode JSON: {e}")))
}

struct Counting<'a, 'p> {
    out: &'a mut dyn Write,
    len: u64,
    hash: Sha256,
    total: u64,
    index: usize,
    count: usize,
    diff_id: &'a str,
    progress: &'p mut dyn FnMut(&Progress),
}

impl Write for Counting<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Never more than the header promised: the archive would be corrupt.
        if self.len + buf.len() as u64 > self.total {
            return Err(io::Error::other(format!("layer {} is longer than its recorded size", self.diff_id)));
        }
        let n = self.out.write(buf)?;
        self.hash.update(&buf[..n]);
        let before = self.len;
        self.len += n as u64;
        if before >> 22 != self.len >> 22 || self.len == self.total {
            (self.progress)(&Progress {
                action: "save",
                diff_id: self.diff_id,
                index: self.index,
                count: self.count,
                done: self.len,
                total: self.total,
            });
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

fn put_header(out: &mut dyn Write, name: &str, size: u64, kind: tar::EntryType, mode: u32) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name).map_err(|e| Error::invalid(format!("save: member {name}: {e}")))?;
    h.set_size(size);
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    out.write_all(h.as_bytes()).ctx(|| "write archive")
}

fn pad(out: &mut dyn Write, len: u64) -> Result<()> {
    let rem = (512 - len % 512) % 512;
    out.write_all(&[0u8; 512][..rem as usize]).ctx(|| "write archive")
}

fn put_file(out: &mut dyn Write, name: &str, data: &[u8]) -> Result<()> {
    put_header(out, name, data.len() as u64, tar::EntryType::Regular, 0o644)?;
    out.write_all(data).ctx(|| "write archive")?;
    pad(out, data.len() as u64)
}

fn put_dir(out: &mut dyn Write, name: &str) -> Result<()> {
    put_header(out, name, 0, tar::EntryType::Directory, 0o755)
}

/// Archives built by hand for the tests of this module and the store's.
#[cfg(test)]
pub mod fixtures {
    use super::*;

    pub fn sha(data: &[u8]) -> String {
        digest_of(data)
    }

    /// An uncompressed layer tar: a dir and files (name, content).
    pub fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_ustar();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o755);
        dir.set_size(0);
        dir.set_uid(0);
        dir.set_gid(0);
        dir.set_mtime(1_700_000_000);
        b.append_data(&mut dir, "etc/", io::empty()).expect("dir");
        for (name, data) in files {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(1_700_000_000);
            h.set_uid(0);
            h.set_gid(0);
            b.append_data(&mut h, name, *data).expect("file");
        }
        b.into_inner().expect("tar")
    }

    pub fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).expect("gzip");
        e.finish().expect("gzip")
    }

    pub fn zstd(data: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(data, 1).expect("zstd")
    }

    pub fn config(diff_ids: &[String], cmd: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
            "config": {"Cmd": [cmd], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .expect("json")
    }

    /// Members as a tar; `links` are (name, target) symlinks.
    pub fn to_tar(members: &[(String, Vec<u8>)], links: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, &data[..]).expect("member");
        }
        for (name, target) in links {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, name, target).expect("link");
        }
        b.into_inner().expect("tar")
    }

    pub fn to_dir(members: &[(String, Vec<u8>)], dir: &Path) {
        for (name, data) in members {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, data).expect("write");
        }
    }

    /// A classic `docker save`: `<hex>.json`, `<n>/layer.tar`, manifest.json, repositories.
    pub fn docker_classic(layers: &[Vec<u8>], tag: &str) -> (Vec<(String, Vec<u8>)>, String) {
        let diff_ids: Vec<String> = layers.iter().map(|l| sha(l)).collect();
        let cfg = config(&diff_ids, "/bin/sh");
        let id = sha(&cfg);
        let hex = id.trim_start_matches("sha256:").to_string();
        let mut members = vec![(format!("{hex}.json"), cfg)];
        let mut names = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            let name = format!("layer{i}/layer.tar");
            members.push((name.clone(), l.clone()));
            names.push(name);
        }
        let manifest =
            serde_json::json!([{"Config": format!("{hex}.json"), "RepoTags": [tag], "Layers": names}]);
        members.push(("manifest.json".into(), serde_json::to_vec(&manifest).expect("json")));
        members.push(("repositories".into(), b"{}".to_vec()));
        (members, id)
    }

    /// An OCI layout: blobs given as (stored blob, diff id, media type), a
    /// nested index with an arm64 entry whose blobs are absent, and names.
    pub fn oci_layout(
        blobs: &[(Vec<u8>, String, &str)],
        annotation: Option<(&str, &str)>,
        nested: bool,
    ) -> (Vec<(String, Vec<u8>)>, String) {
        let diff_ids: Vec<String> = blobs.iter().map(|b| b.1.clone()).collect();
        let cfg = config(&diff_ids, "/bin/true");
        let id = sha(&cfg);
        let mut members = vec![(blob_path(&id), cfg.clone())];
        let layers: Vec<Value> = blobs
            .iter()
            .map(|(data, _, mt)| {
                members.push((blob_path(&sha(data)), data.clone()));
                serde_json::json!({"mediaType": mt, "digest": sha(data), "size": data.len()})
            })
            .collect();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": MEDIA_OCI_MANIFEST,
            "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": id, "size": cfg.len()},
            "layers": layers,
        }))
        .expect("json");
        let mdigest = sha(&manifest);
        members.push((blob_path(&mdigest), manifest.clone()));
        let mut top =
            serde_json::json!({"mediaType": MEDIA_OCI_MANIFEST, "digest": mdigest, "size": manifest.len()});
        if nested {
            let other = format!("sha256:{}", "ab".repeat(32));
            let index = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX,
                "manifests": [
                    {"mediaType": MEDIA_OCI_MANIFEST, "digest": other, "size": 10,
                     "platform": {"architecture": "arm64", "os": "linux"}},
                    {"mediaType": MEDIA_OCI_MANIFEST, "digest": mdigest, "size": manifest.len(),
                     "platform": {"architecture": "amd64", "os": "linux"}},
                ],
            }))
            .expect("json");
            members.push((blob_path(&sha(&index)), index.clone()));
            top =
                serde_json::json!({"mediaType": MEDIA_OCI_INDEX, "digest": sha(&index), "size": index.len()});
        }
        if let Some((k, v)) = annotation {
            top["annotations"] = serde_json::json!({ k: v });
        }
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [top]});
        members.push(("index.json".into(), serde_json::to_vec(&index).expect("json")));
        members.push(("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()));
        (members, id)
    }

    /// A layer callback that hashes the uncompressed stream, as the store's unpack does.
    pub fn hashing_callback(
        seen: &mut Vec<String>,
    ) -> impl FnMut(&LayerBlob, &mut dyn Read) -> Result<Option<String>> + '_ {
        move |blob, raw| {
            seen.push(blob.member.clone());
            let mut plain = crate::runtime::image::tarsplit::decompressed(raw)?;
            let mut hash = Sha256::new();
            let mut buf = vec![0u8; 65536];
            loop {
                let n = plain.read(&mut buf).map_err(|e| Error::invalid(e.to_string()))?;
                if n == 0 {
                    break;
                }
                hash.update(&buf[..n]);
            }
            Ok(Some(format!("sha256:{}", hex(&hash.finalize()))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    fn write_file(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, data).expect("write");
        p
    }

    #[test]
    fn docker_classic_archive_with_a_symlinked_layer() {
        let tmp = tempfile::tempdir().expect("tmp");
        let l0 = layer_tar(&[("etc/os-release", b"ID=test\n")]);
        let l1 = layer_tar(&[("etc/motd", b"hi\n")]);
        let (mut members, id) = docker_classic(&[l0.clone(), l1.clone(), l0.clone()], "busybox:1");
        // The third layer as Docker writes a repeated one: a link to the first.
        members.retain(|(n, _)| n != "layer2/layer.tar");
        let path = write_file(
            tmp.path(),
            "a.tar",
            &to_tar(&members, &[("layer2/layer.tar", "../layer0/layer.tar")]),
        );
        let mut seen = Vec::new();
        let images = read(&path, tmp.path(), hashing_callback(&mut seen)).expect("read");
        assert_eq!(images.len(), 1);
        let img = &images[0];
        assert_eq!(img.config_digest, id);
        assert_eq!(img.diff_ids, vec![sha(&l0), sha(&l1), sha(&l0)]);
        assert_eq!(img.names, vec!["docker.io/library/busybox:1".to_string()]);
        assert_eq!(img.config["config"]["Cmd"][0], "/bin/sh");
        // The repeated layer is handed out once.
        assert_eq!(seen, vec!["layer0/layer.tar", "layer1/layer.tar"]);
        assert_eq!(Archive::open(&path, tmp.path()).expect("open").format(), Format::DockerArchive);
        assert_eq!(detect(&path).expect("detect"), Some(Format::DockerArchive));
        let rootfs = write_file(tmp.path(), "rootfs.tar", &layer_tar(&[("etc/manifest.json", b"{}")]));
        assert_eq!(detect(&rootfs).expect("detect"), None);
    }

    #[test]
    fn oci_layout_dir_with_gzip_zstd_and_a_nested_index() {
        let tmp = tempfile::tempdir().expect("tmp");
        let l0 = layer_tar(&[("etc/a", b"a\n")]);
        let l1 = layer_tar(&[("etc/b", b"b\n")]);
        let blobs = vec![
            (gzip(&l0), sha(&l0), "application/vnd.oci.image.layer.v1.tar+gzip"),
            (zstd(&l1), sha(&l1), "application/vnd.oci.image.layer.v1.tar+zstd"),
        ];
        let (members, id) = oci_layout(&blobs, Some((ANNOTATION_REF_NAME, "localhost/x:1")), true);
        let dir = tmp.path().join("layout");
        to_dir(&members, &dir);
        let mut seen = Vec::new();
        let images = read(&dir, tmp.path(), hashing_callback(&mut seen)).expect("read");
        assert_eq!(images.len(), 1);
        assert_eq!(images[0].config_digest, id);
        assert_eq!(images[0].diff_ids, vec![sha(&l0), sha(&l1)]);
        assert_eq!(images[0].names, vec!["localhost/x:1".to_string()]);
        assert_eq!(seen.len(), 2);

        // The same as an oci-archive, named by a bare tag (no repository: unnamed).
        let (members, _) = oci_layout(&blobs, Some((ANNOTATION_REF_NAME, "latest")), false);
        let path = write_file(tmp.path(), "o.tar", &to_tar(&members, &[]));
        let images = read(&path, tmp.path(), hashing_callback(&mut Vec::new())).expect("read tar");
        assert!(images[0].names.is_empty());
        assert_eq!(Archive::open(&path, tmp.path()).expect("open").format(), Format::OciArchive);

        // A whole archive gzipped (`docker save | gzip`) is read too.
        let path = write_file(tmp.path(), "o.tar.gz", &gzip(&to_tar(&members, &[])));
        assert_eq!(
            read(&path, tmp.path(), hashing_callback(&mut Vec::new())).expect("gz")[0].config_digest,
            id
        );
    }

    fn refused(members: &[(String, Vec<u8>)], want: &[&str]) {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = write_file(tmp.path(), "bad.tar", &to_tar(members, &[]));
        let e =
            read(&path, tmp.path(), hashing_callback(&mut Vec::new())).expect_err("accepted a bad archive");
        for w in want {
            assert!(e.message.contains(w), "{:?} lacks {w:?}", e.message);
        }
        assert!(!e.message.contains('\n'), "{:?}", e.message);
    }

    #[test]
    fn bad_archives_are_refused_naming_the_member() {
        let l0 = layer_tar(&[("etc/a", b"a\n")]);
        let blob = gzip(&l0);
        let blobs = vec![(blob.clone(), sha(&l0), "application/vnd.oci.image.layer.v1.tar+gzip")];
        let (good, id) = oci_layout(&blobs, None, false);
        let member = blob_path(&sha(&blob));

        // A layer blob changed in place (same size).
        let mut m = good.clone();
        let last = m.iter_mut().find(|(n, _)| *n == member).expect("blob");
        let n = last.1.len();
        last.1[n - 5] ^= 0xff;
        refused(&m, &[&member]);

        // A config whose bytes are not its digest.
        let mut m = good.clone();
        let cfg = m.iter_mut().find(|(n, _)| *n == blob_path(&id)).expect("config");
        cfg.1[10] = b' ';
        refused(&m, &[&blob_path(&id), "not the digest"]);

        // A missing blob.
        let mut m = good.clone();
        m.retain(|(n, _)| *n != member);
        refused(&m, &[&member, "missing"]);

        // A config whose diff id is not the layer's content.
        let other = layer_tar(&[("etc/b", b"b\n")]);
        let (m, _) = oci_layout(
            &[(blob.clone(), sha(&other), "application/vnd.oci.image.layer.v1.tar+gzip")],
            None,
            false,
        );
        refused(&m, &[&member, "diff_ids"]);

        // Not an image at all: a root filesystem tarball.
        refused(
            &[("etc/passwd".to_string(), b"root:x:0:0::/:/bin/sh\n".to_vec())],
            &["not an image archive"],
        );

        // Truncated in the middle of a blob.
        let tmp = tempfile::tempdir().expect("tmp");
        let l1 = layer_tar(&[("etc/big", &[1u8; 5000])]);
        let (members, _) = docker_classic(&[l0.clone(), l1], "x:1");
        let full = to_tar(&members, &[]);
        for cut in [full.len() / 2, full.len() - 1024 - 600] {
            let path = write_file(tmp.path(), "cut.tar", &full[..cut]);
            let e =
                read(&path, tmp.path(), hashing_callback(&mut Vec::new())).expect_err("truncated accepted");
            assert!(e.message.contains("truncated") || e.message.contains("missing"), "{}", e.message);
        }
    }

    #[test]
    fn written_archives_read_back_with_the_same_ids() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("rootfs");
        std::fs::create_dir_all(dir.join("etc")).expect("mkdir");
        std::fs::write(dir.join("etc/hostname"), "box\n").expect("write");
        let packed = crate::runtime::image::layer::pack(&dir, io::sink(), &[]).expect("pack");
        let cfg = config(std::slice::from_ref(&packed.diff_id), "/bin/sh");
        let image = SaveImage {
            config: cfg.clone(),
            names: vec!["docker.io/library/box:1".into(), "localhost/box:2".into()],
            layers: vec![SaveLayer {
                diff_id: packed.diff_id.clone(),
                tar_size: packed.size,
                source: LayerSource::Dir(dir.clone()),
            }],
        };
        let mut out = Vec::new();
        write(&mut out, std::slice::from_ref(&image)).expect("write");
        let path = write_file(tmp.path(), "saved.tar", &out);
        let images = read(&path, tmp.path(), hashing_callback(&mut Vec::new())).expect("read back");
        assert_eq!(images[0].config_digest, sha(&cfg));
        assert_eq!(images[0].config_bytes, cfg);
        assert_eq!(images[0].diff_ids, vec![packed.diff_id.clone()]);
        assert_eq!(
            images[0].names,
            vec!["docker.io/library/box:1".to_string(), "localhost/box:2".to_string()]
        );

        // The OCI half alone (as skopeo and Podman read it) names the image too.
        let archive = Archive::open(&path, tmp.path()).expect("open");
        let oci = archive.oci_plans().expect("oci half");
        assert_eq!(oci[0].image.config_digest, sha(&cfg));
        assert_eq!(oci.len(), 1, "one image listed once per name");
        assert_eq!(
            oci[0].image.names,
            vec!["docker.io/library/box:1".to_string(), "localhost/box:2".to_string()]
        );
        let manifest: Value =
            serde_json::from_slice(&archive.read_small("manifest.json", None, None, 1 << 20).expect("m"))
                .expect("json");
        assert_eq!(manifest[0]["RepoTags"], serde_json::json!(["box:1", "localhost/box:2"]));

        // A layer that no longer matches its diff id is refused, not written wrong.
        std::fs::write(dir.join("etc/hostname"), "other\n").expect("write");
        let e = write(&mut Vec::new(), &[image]).expect_err("changed layer saved");
        assert!(e.message.contains(&packed.diff_id), "{}", e.message);
    }

    #[test]
    fn member_names_and_links_resolve_inside_the_archive() {
        assert_eq!(normalize("./a//b/"), Some("a/b".into()));
        assert_eq!(normalize("../x"), None);
        assert_eq!(link_target("l2/layer.tar", "../l0/layer.tar"), Some("l0/layer.tar".into()));
        assert_eq!(link_target("a/b", "/c"), Some("c".into()));
        assert_eq!(link_target("a", "../../x"), None);
        assert_eq!(
            digest_in_name(&format!("{}.json", "a".repeat(64))),
            Some(format!("sha256:{}", "a".repeat(64)))
        );
        assert_eq!(digest_in_name("l0/layer.tar"), None);
    }
}
