//! `image::` — the image store under `--data-root`: layers shared by the
//! images that have them, images by name or id, archives in and out.

use super::{RhaiResult, at, context, from_dyn, rt, to_dyn};
use crate::runtime::error::{Context, Error};
use crate::runtime::image::RootfsBuilder;
use crate::runtime::image::archive::Progress;
use crate::runtime::image::reference::Reference;
use crate::runtime::image::store::{ImageRecord, Store};
use rhai::plugin::*;
use rhai::{Array, Map};
use std::path::{Path, PathBuf};

thread_local! {
    // One store per process, so its records are read once per command.
    static STORE: std::rc::Rc<Store> = std::rc::Rc::new(Store::new(&context().data_root));
}

fn store() -> std::rc::Rc<Store> {
    STORE.with(|s| s.clone())
}

/// Files every container gets bound from its state dir: their empty mount
/// points in an upper dir are not the container's changes.
const MOUNT_STUBS: &[&str] = &["etc/hosts", "etc/hostname", "etc/resolv.conf"];

/// A progress line per layer on stderr, redrawn in place (stderr a terminal).
fn progress_printer(quiet: bool) -> impl FnMut(&Progress) {
    let mut last = (String::new(), 0u64);
    move |p: &Progress| {
        if quiet {
            return;
        }
        let short: String = p.diff_id.trim_start_matches("sha256:").chars().take(12).collect();
        let step = p.done / (4 << 20);
        if last.0 == short && last.1 == step && p.done != p.total {
            return;
        }
        last = (short.clone(), step);
        let verb = match p.action {
            "present" => "Already exists",
            "load" => "Loading layer",
            "save" => "Writing layer",
            "commit" => "Committing layer",
            a => a,
        };
        let done = p.done as f64 / 1048576.0;
        let total = p.total as f64 / 1048576.0;
        let width = 30usize;
        let filled =
            if p.total > 0 { ((p.done as f64 / p.total as f64) * width as f64) as usize } else { width };
        let bar = format!("{}{}", "=".repeat(filled.min(width)), " ".repeat(width - filled.min(width)));
        eprint!("\r{short}: {verb} [{bar}] {done:.1}/{total:.1} MiB ({}/{})\x1b[K", p.index + 1, p.count);
        if p.done >= p.total {
            eprintln!();
        }
    }
}

/// Progress of layers moving at once (pull, push): a line per layer on
/// stderr, each redrawn in place (only when stderr is a terminal).
fn multi_progress(quiet: bool) -> impl Fn(&Progress) + Sync {
    let lines: std::sync::Mutex<Vec<(String, u64)>> = std::sync::Mutex::new(Vec::new());
    move |p: &Progress| {
        if quiet {
            return;
        }
        let short: String = p.diff_id.trim_start_matches("sha256:").chars().take(12).collect();
        let verb = match p.action {
            "present" => "Already exists",
            "exists" => "Layer already exists",
            "mounted" => "Mounted",
            "pull" if p.done >= p.total => "Pull complete",
            "pull" => "Downloading",
            "push" if p.done >= p.total => "Pushed",
            "push" => "Pushing",
            a => a,
        };
        let text = if p.done < p.total && p.total > 0 {
            let width = 30usize;
            let filled = ((p.done as f64 / p.total as f64) * width as f64) as usize;
            format!(
                "{short}: {verb} [{}>{}] {:.1}/{:.1} MiB",
                "=".repeat(filled.min(width)),
                " ".repeat(width - filled.min(width)),
                p.done as f64 / 1048576.0,
                p.total as f64 / 1048576.0
            )
        } else {
            format!("{short}: {verb}")
        };
        let mut lines = lines.lock().unwrap_or_else(|e| e.into_inner());
        let step = p.done >> 20;
        match lines.iter().position(|(k, _)| *k == short) {
            None => {
                eprintln!("{text}\x1b[K");
                lines.push((short, step));
            }
            Some(i) => {
                if lines[i].1 == step && p.done < p.total {
                    return;
                }
                lines[i].1 = step;
                let up = lines.len() - i;
                eprint!("\x1b[{up}A\r{text}\x1b[K\x1b[{up}B\r");
            }
        }
    }
}

/// What pull and push take from their `opts`: the client options, `jobs`
/// (layers at once, default 3) and the progress lines (unless `quiet`).
fn transfer(
    opts: &Map,
) -> RhaiResult<(crate::runtime::registry::client::Options, usize, impl Fn(&Progress) + Sync)> {
    let client = super::registry::client_options(opts)?;
    let quiet = opts.get("quiet").and_then(|q| q.as_bool().ok()).unwrap_or(false);
    let jobs = opts.get("jobs").and_then(|j| j.as_int().ok()).unwrap_or(3).clamp(1, 8) as usize;
    Ok((client, jobs, multi_progress(quiet || !crate::runtime::tty::isatty(2))))
}

fn record_map(rec: &ImageRecord) -> RhaiResult<Dynamic> {
    to_dyn(&serde_json::json!({
        "id": rec.id,
        "names": rec.names,
        "created": rec.created,
        "size": rec.size,
        "layers": rec.layers,
        "config": rec.config,
    }))
}

/// A running container whose record names image `rec` (by id), if any.
fn running_container_of(rec: &ImageRecord) -> Option<String> {
    let records = crate::runtime::state::Store::new(&context().root).list().ok()?;
    records.into_iter().find_map(|r| {
        let uses = r.get("image_id").and_then(|v| v.as_str()) == Some(rec.id.as_str());
        let pid = r.get("pid").and_then(|v| v.as_i64()).unwrap_or(0) as i32;
        let start = r.get("start_time").and_then(|v| v.as_u64()).unwrap_or(0);
        (uses && crate::runtime::host_process::alive(pid, start))
            .then(|| r.get("id").and_then(|v| v.as_str()).unwrap_or_default().to_string())
    })
}

/// A file to write to, or stdout for "-".
fn output(path: &str) -> RhaiResult<Box<dyn std::io::Write>> {
    if path == "-" {
        return Ok(Box::new(std::io::stdout().lock()));
    }
    let f = rt(std::fs::File::create(path).ctx(|| format!("create {path}")))?;
    Ok(Box::new(std::io::BufWriter::new(f)))
}

#[export_module]
mod api {
    use super::*;

    /// Is there an image `reference` (a name like `debian:12`, or an id or its prefix)?
    pub fn exists(reference: &str) -> bool {
        store().get(reference).is_ok()
    }

    /// The id (`sha256:…`) of image `reference`, or `()` when there is none.
    pub fn id_of(reference: &str) -> Dynamic {
        store().get(reference).map(|r| Dynamic::from(r.id)).unwrap_or(Dynamic::UNIT)
    }

    /// The image's layer dirs, top first: the lower dirs of a container's overlay.
    #[rhai_fn(return_raw)]
    pub fn layers(ctx: NativeCallContext, reference: &str) -> RhaiResult<Array> {
        at(&ctx, || {
            let s = store();
            let rec = rt(s.get(reference))?;
            Ok(rt(s.lower_dirs(&rec))?.into_iter().map(|p| Dynamic::from(p.display().to_string())).collect())
        })
    }

    /// Bytes of the files of the layer `diff_id` (a layer is stored once,
    /// however many images have it); throws kind `not_found`.
    #[rhai_fn(return_raw)]
    pub fn layer_size(ctx: NativeCallContext, diff_id: &str) -> RhaiResult<i64> {
        at(&ctx, || rt(store().layer(diff_id)).map(|l| l.size as i64))
    }

    /// The image's config (Entrypoint, Cmd, Env, WorkingDir, User,
    /// StopSignal, Labels…, as the OCI image config's `config` has them);
    /// `#{}` for an image without one.
    #[rhai_fn(return_raw)]
    pub fn config(ctx: NativeCallContext, reference: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || {
            let rec = rt(store().get(reference))?;
            to_dyn(rec.config.get("config").unwrap_or(&serde_json::json!({})))
        })
    }

    /// The image's record: `#{id, names, created, size, layers, config}`
    /// (`config` is the whole OCI image config).
    #[rhai_fn(return_raw)]
    pub fn inspect(ctx: NativeCallContext, reference: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || record_map(&rt(store().get(reference))?))
    }

    /// Every image, newest first: `#{id, names, created, size, layers, config}`.
    #[rhai_fn(return_raw)]
    pub fn list(ctx: NativeCallContext) -> RhaiResult<Dynamic> {
        at(&ctx, || {
            let all: Vec<Dynamic> =
                rt(store().images())?.iter().map(record_map).collect::<RhaiResult<_>>()?;
            Ok(Dynamic::from_array(all))
        })
    }

    /// A name as `docker images` shows it: `debian:12` for
    /// `docker.io/library/debian:12`, Podman's `localhost/x:1` kept.
    pub fn short_name(name: &str) -> String {
        Reference::parse(name).map(|r| r.short()).unwrap_or_else(|_| name.to_string())
    }

    /// The image's history, oldest first: `#{created, created_by, comment,
    /// empty_layer, size, id}` per step (`size` and `id` of the layer it added).
    #[rhai_fn(return_raw)]
    pub fn history(ctx: NativeCallContext, reference: &str) -> RhaiResult<Array> {
        at(&ctx, || {
            let s = store();
            let rec = rt(s.get(reference))?;
            let steps = rec.config.get("history").and_then(|h| h.as_array()).cloned().unwrap_or_default();
            let mut layers = rec.layers.iter();
            let mut out = Array::new();
            let n = steps.len();
            for (i, step) in steps.iter().enumerate() {
                let empty = step.get("empty_layer").and_then(|e| e.as_bool()).unwrap_or(false);
                let mut m = serde_json::json!({
                    "created": step.get("created"),
                    "created_by": step.get("created_by"),
                    "comment": step.get("comment"),
                    "empty_layer": empty,
                    "size": 0,
                });
                if !empty && let Some(d) = layers.next() {
                    m["size"] = s.layer(d).map(|l| l.size).unwrap_or(0).into();
                }
                if i + 1 == n {
                    m["id"] = rec.id.clone().into();
                }
                out.push(to_dyn(&m)?);
            }
            Ok(out)
        })
    }

    /// Is `cmd` in the image (as a path, or in the usual bin dirs of some
    /// layer)? Tells "unknown image" from "unknown command" in `run`.
    pub fn has_command(reference: &str, cmd: &str) -> bool {
        let s = store();
        let Ok(rec) = s.get(reference) else { return false };
        let Ok(dirs) = s.lower_dirs(&rec) else { return false };
        let rel: Vec<PathBuf> = if cmd.contains('/') {
            vec![PathBuf::from(cmd.trim_start_matches('/'))]
        } else {
            ["usr/local/sbin", "usr/local/bin", "usr/sbin", "usr/bin", "sbin", "bin"]
                .iter()
                .map(|d| Path::new(d).join(cmd))
                .collect()
        };
        dirs.iter().any(|d| rel.iter().any(|r| std::fs::symlink_metadata(d.join(r)).is_ok()))
    }

    /// The applets of the static busybox at `busybox`: the commands the
    /// default image will have, known before it is built.
    #[rhai_fn(return_raw)]
    pub fn busybox_applets(ctx: NativeCallContext, busybox: &str) -> RhaiResult<Array> {
        at(&ctx, || {
            let applets = rt(crate::runtime::image::busybox_applets(Path::new(busybox)))?;
            Ok(applets.into_iter().map(Dynamic::from).collect())
        })
    }

    /// Build image `name` from the static busybox at `busybox`: one layer
    /// with the binary, a link per applet, and minimal /etc files. Throws kind
    /// `conflict` if it exists (a concurrent run built it).
    #[rhai_fn(return_raw)]
    pub fn build_busybox(ctx: NativeCallContext, name: &str, busybox: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || {
            let s = store();
            if s.get(name).is_ok() {
                return rt(Err(Error::new(
                    crate::runtime::error::Kind::Conflict,
                    format!("image {name} already exists"),
                )));
            }
            let dir = rt(RootfsBuilder::new(&context().data_root).build_busybox_dir(Path::new(busybox)))?;
            let config = serde_json::json!({"architecture": "amd64", "os": "linux",
                "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
                "history": [{"created": crate::runtime::sys::now_rfc3339(), "created_by": format!("mydocker: busybox from {busybox}")}]});
            record_map(&rt(s.import_rootfs_dir(&dir, config, Some(name)))?)
        })
    }

    /// Import a flat rootfs tarball (`docker export` output; plain, gzip or
    /// zstd; `-` for stdin) as image `name`. An image archive (what `save`
    /// writes) is refused: that is `load`'s.
    #[rhai_fn(return_raw)]
    pub fn import_tar(ctx: NativeCallContext, tarball: &str, name: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || {
            let s = store();
            let dir = rt(RootfsBuilder::new(&context().data_root).unpack_rootfs(tarball))?;
            let config = serde_json::json!({"architecture": "amd64", "os": "linux", "config": {},
                "history": [{"created": crate::runtime::sys::now_rfc3339(), "created_by": format!("mydocker image import {tarball}")}]});
            record_map(&rt(s.import_rootfs_dir(&dir, config, Some(name)))?)
        })
    }

    /// Load the images of an archive (a docker-archive or oci-archive tar, an
    /// OCI layout dir, or `-` for stdin): `[#{id, names}]`. With `quiet`, no
    /// progress on stderr.
    #[rhai_fn(return_raw)]
    pub fn load(ctx: NativeCallContext, path: &str, quiet: bool) -> RhaiResult<Array> {
        at(&ctx, || {
            let mut progress = progress_printer(quiet);
            let recs = rt(store().load(Path::new(path), &mut progress))?;
            recs.iter().map(record_map).collect()
        })
    }

    /// Save images (names or ids) to one archive at `path` (`-`: stdout).
    #[rhai_fn(return_raw)]
    pub fn save(ctx: NativeCallContext, references: Array, path: &str) -> RhaiResult<()> {
        at(&ctx, || {
            let refs: Vec<String> = references.iter().map(|r| r.to_string()).collect();
            let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
            let mut progress = progress_printer(path == "-" || !crate::runtime::tty::isatty(2));
            let out = output(path)?;
            rt(store().save(&refs, out, &mut progress))
        })
    }

    /// Give image `source` the name `target`.
    #[rhai_fn(return_raw)]
    pub fn tag(ctx: NativeCallContext, source: &str, target: &str) -> RhaiResult<()> {
        at(&ctx, || rt(store().tag(source, target)).map(|_| ()))
    }

    /// `rmi`: untag a name, or delete the image (its last name, or its id,
    /// or any with `force`) and the layers no other image has. Returns the
    /// lines Docker prints (`Untagged: …`, `Deleted: …`). The caller checks
    /// that no container uses it (its policy); a container that runs it is
    /// checked once more under the store's lock, so one started meanwhile
    /// keeps its image.
    #[rhai_fn(return_raw)]
    pub fn remove(ctx: NativeCallContext, reference: &str, force: bool) -> RhaiResult<Array> {
        at(&ctx, || {
            let r = rt(store().remove(reference, force, &running_container_of))?;
            let short = |n: &str| Reference::parse(n).map(|r| r.short()).unwrap_or_else(|_| n.to_string());
            let mut out: Array =
                r.untagged.iter().map(|n| Dynamic::from(format!("Untagged: {}", short(n)))).collect();
            if let Some(d) = r.deleted {
                out.push(Dynamic::from(format!("Deleted: {d}")));
            }
            Ok(out)
        })
    }

    /// `image prune`: delete the images without a name whose id is not in
    /// `in_use` (the ids containers use), and every layer no image has.
    /// Returns the deleted ids.
    #[rhai_fn(return_raw)]
    pub fn prune(ctx: NativeCallContext, in_use: Array) -> RhaiResult<Array> {
        at(&ctx, || {
            let used: Vec<String> = in_use.iter().map(|d| d.to_string()).collect();
            let removed = rt(store().prune(&|rec| used.contains(&rec.id).then(|| rec.id.clone())))?;
            Ok(removed.into_iter().filter_map(|r| r.deleted).map(Dynamic::from).collect())
        })
    }

    /// A new image from a container's upper dir: `spec` has `upper`,
    /// `parent` (the image it runs), `config` (the new image's whole OCI
    /// config: the parent's with changes and one more history step),
    /// `reference` (its name, or `()`), `quiet`. Mount stubs (the empty
    /// /etc/hosts, /etc/hostname, /etc/resolv.conf made for the binds) are
    /// left out. Returns the new image's id.
    #[rhai_fn(return_raw)]
    pub fn commit(ctx: NativeCallContext, spec: Map) -> RhaiResult<String> {
        at(&ctx, || {
            #[derive(serde::Deserialize)]
            struct Commit {
                upper: PathBuf,
                parent: String,
                config: serde_json::Value,
                #[serde(default)]
                reference: Option<String>,
                #[serde(default)]
                quiet: bool,
            }
            let c: Commit = from_dyn("commit", Dynamic::from_map(spec))?;
            let s = store();
            let parent = rt(s.get(&c.parent))?;
            // A stub is left out only while it is the empty file made for the bind.
            let stubs: Vec<&str> = MOUNT_STUBS
                .iter()
                .copied()
                .filter(|f| {
                    std::fs::symlink_metadata(c.upper.join(f)).is_ok_and(|m| m.is_file() && m.len() == 0)
                })
                .collect();
            let mut progress = progress_printer(c.quiet);
            let rec = rt(s.commit(
                &c.upper,
                Some(&parent),
                c.config,
                &stubs,
                c.reference.as_deref(),
                &mut progress,
            ))?;
            Ok(rec.id)
        })
    }

    /// Write the flat tree at `root` (a container's merged root) as one tar
    /// to `path` (`-`: stdout). (Not `export`: that is a Rhai keyword.)
    #[rhai_fn(return_raw)]
    pub fn export_root(ctx: NativeCallContext, root: &str, path: &str) -> RhaiResult<()> {
        at(&ctx, || {
            let out = output(path)?;
            rt(crate::runtime::image::layer::pack(Path::new(root), out, &[])).map(|_| ())
        })
    }

    /// Pull `reference` (a full name: `registry/repo:tag` or `…@sha256:…`)
    /// from its registry. `opts`: `quiet`, `jobs` (layers at once, default 3),
    /// and the client options `tls_verify`, `cert_dir`, `certs_d`, `insecure`,
    /// `authfile`, `creds`. Returns `#{id, name, digest, previous_id,
    /// config_fetched, layers: [#{digest, downloaded}]}`.
    #[rhai_fn(return_raw)]
    pub fn pull(ctx: NativeCallContext, reference: &str, opts: Map) -> RhaiResult<Map> {
        at(&ctx, || {
            let r = rt(Reference::parse(reference))?;
            let (client, jobs, progress) = transfer(&opts)?;
            let s = store();
            let previous = s.get(&r.to_string()).ok().map(|rec| rec.id);
            let pulled = rt(crate::runtime::registry::pull::pull(&s, &r, &client, jobs, &progress))?;
            s.forget();
            let name = match &r.digest {
                Some(d) => format!("{}@{d}", r.name()),
                None => r.to_string(),
            };
            let mut m = Map::new();
            m.insert("id".into(), pulled.record.id.clone().into());
            m.insert("name".into(), name.into());
            m.insert("digest".into(), pulled.digest.into());
            m.insert("previous_id".into(), previous.map(Dynamic::from).unwrap_or(Dynamic::UNIT));
            m.insert("config_fetched".into(), pulled.config_fetched.into());
            let layers: Array = pulled
                .layers
                .into_iter()
                .map(|(d, f)| {
                    let mut l = Map::new();
                    l.insert("digest".into(), d.into());
                    l.insert("downloaded".into(), f.into());
                    Dynamic::from_map(l)
                })
                .collect();
            m.insert("layers".into(), Dynamic::from_array(layers));
            Ok(m)
        })
    }

    /// Push local image `source` to `destination` (a full `registry/repo:tag`).
    /// `opts` as `pull`'s. Returns `#{digest, size, layers: [#{digest, status}]}`.
    #[rhai_fn(return_raw)]
    pub fn push(ctx: NativeCallContext, source: &str, destination: &str, opts: Map) -> RhaiResult<Map> {
        at(&ctx, || {
            let dest = rt(Reference::parse(destination))?;
            let (client, jobs, progress) = transfer(&opts)?;
            let s = store();
            let spool = context().data_root.join("tmp");
            let pushed = rt(crate::runtime::registry::push::push(
                &s, source, &dest, &client, jobs, &spool, &progress,
            ))?;
            s.forget();
            let mut m = Map::new();
            m.insert("digest".into(), pushed.digest.into());
            m.insert("size".into(), (pushed.size as i64).into());
            let layers: Array = pushed
                .layers
                .into_iter()
                .map(|(d, st)| {
                    let mut l = Map::new();
                    l.insert("digest".into(), d.into());
                    l.insert("status".into(), st.into());
                    Dynamic::from_map(l)
                })
                .collect();
            m.insert("layers".into(), Dynamic::from_array(layers));
            Ok(m)
        })
    }

    /// A reference's parts, normalised as Docker does: `#{registry,
    /// repository, tag, digest, name, full, short}` (tag/digest may be ()).
    #[rhai_fn(return_raw)]
    pub fn parse_reference(ctx: NativeCallContext, reference: &str) -> RhaiResult<Map> {
        at(&ctx, || {
            let r = rt(Reference::parse(reference))?;
            let opt = |v: &Option<String>| v.clone().map(Dynamic::from).unwrap_or(Dynamic::UNIT);
            let mut m = Map::new();
            m.insert("registry".into(), r.registry.clone().into());
            m.insert("repository".into(), r.repository.clone().into());
            m.insert("tag".into(), opt(&r.tag));
            m.insert("digest".into(), opt(&r.digest));
            m.insert("name".into(), r.name().into());
            m.insert("full".into(), r.to_string().into());
            m.insert("short".into(), r.short().into());
            Ok(m)
        })
    }
}

pub fn module() -> Module {
    exported_module!(api)
}
