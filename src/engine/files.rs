//! `files::` — files into and out of containers (`cp`), and what a
//! container changed (`diff`).

use super::{RhaiResult, at, context, from_dyn, rt};
use crate::runtime::{copy, diff, spec};
use rhai::plugin::*;
use rhai::{Array, Map};
use std::path::{Path, PathBuf};

fn opts(m: &Map) -> copy::Opts {
    let flag = |k: &str| m.get(k).and_then(|v| v.as_bool().ok()).unwrap_or(false);
    copy::Opts { keep_owner: flag("archive"), follow: flag("follow"), to_host: false }
}

fn paths(a: Array) -> Vec<PathBuf> {
    a.into_iter().map(|p| PathBuf::from(p.to_string())).collect()
}

#[export_module]
mod api {
    use super::*;

    /// Bytes of the files under host path `path` (a hardlinked file once,
    /// links not followed, mounts below not entered; 0 when it is missing):
    /// a container's SIZE is its upper dir's, a volume's its `_data`'s.
    #[rhai_fn(return_raw)]
    pub fn disk_usage(ctx: NativeCallContext, path: &str) -> RhaiResult<i64> {
        at(&ctx, || rt(crate::runtime::disk_usage::usage(Path::new(path))).map(|n| n as i64))
    }

    /// Copy host path `src` to `dest` inside the container root `root`
    /// (`/proc/PID/root` of a running container, or `private_root`'s), as
    /// Docker's `cp`: into an existing directory under the source's name,
    /// `SRC/.` for its contents. `src` "-" unpacks a tar from stdin into the
    /// directory `dest`. `options`: `#{archive: bool (keep owners), follow:
    /// bool (follow a link that is `src`)}`. Paths in the container are
    /// resolved inside `root`; no link leads out of it.
    #[rhai_fn(return_raw)]
    pub fn copy_in(
        ctx: NativeCallContext,
        root: &str,
        src: &str,
        dest: &str,
        options: Map,
    ) -> RhaiResult<()> {
        at(&ctx, || rt(copy::into_container(root, src, dest, opts(&options))))
    }

    /// Copy `src` inside the container root `root` to host path `dest`
    /// (`-`: a tar of it on stdout). Options as `copy_in`.
    #[rhai_fn(return_raw)]
    pub fn copy_out(
        ctx: NativeCallContext,
        root: &str,
        src: &str,
        dest: &str,
        options: Map,
    ) -> RhaiResult<()> {
        at(&ctx, || rt(copy::out_of_container(root, src, dest, opts(&options))))
    }

    /// The root of stopped container `id`, for this process only: moves it
    /// to a mount namespace of its own, mounts the overlay of `lowers` there
    /// and the `bind` mounts of `mounts` (spec mounts: its volumes and
    /// binds). All of it goes when the process exits. Returns the root's path.
    #[rhai_fn(return_raw)]
    pub fn private_root(
        ctx: NativeCallContext,
        id: &str,
        lowers: Array,
        mounts: Array,
    ) -> RhaiResult<String> {
        at(&ctx, || {
            let m: Vec<spec::Mount> = from_dyn("mounts", Dynamic::from_array(mounts))?;
            rt(copy::private_root(&context().data_root, id, &paths(lowers), &m))
                .map(|p| p.display().to_string())
        })
    }

    /// Create host directory `path` and its missing parents (mode 0755), as
    /// `run -v` does for a bind source that does not exist (Docker's way).
    #[rhai_fn(return_raw)]
    pub fn make_dir(ctx: NativeCallContext, path: &str) -> RhaiResult<()> {
        at(&ctx, || {
            use crate::runtime::error::Context;
            rt(std::fs::create_dir_all(path).ctx(|| format!("create {path}")))
        })
    }

    /// The changes in the overlay upper dir `upper` over `lowers` (top
    /// first): `[#{kind: "A"|"C"|"D", path}]` sorted by path. `stubs`: mount
    /// points made in the layer, left out while they are still empty.
    #[rhai_fn(return_raw)]
    pub fn diff(ctx: NativeCallContext, upper: &str, lowers: Array, stubs: Array) -> RhaiResult<Array> {
        at(&ctx, || {
            let stubs: Vec<String> = stubs.into_iter().map(|s| s.to_string()).collect();
            let changes = rt(diff::diff(Path::new(upper), &paths(lowers), &stubs))?;
            Ok(changes
                .into_iter()
                .map(|c| {
                    let mut m = Map::new();
                    m.insert("kind".into(), c.kind.to_string().into());
                    m.insert("path".into(), c.path.into());
                    Dynamic::from_map(m)
                })
                .collect())
        })
    }
}

pub fn module() -> Module {
    exported_module!(api)
}
