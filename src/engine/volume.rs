//! `volume::` — named volumes under `--data-root` (`<data-root>/volumes/`).

use super::{RhaiResult, at, context, from_dyn, record_to_dyn, rt};
use crate::runtime::state::{Record, Store};
use crate::runtime::volume::Volumes;
use rhai::Map;
use rhai::plugin::*;
use std::path::Path;

fn volumes() -> Volumes {
    Volumes::new(&context().data_root)
}

/// The first container whose record mounts volume `name`, running or not (as Docker).
fn user_of(name: &str) -> Option<String> {
    let records = Store::new(&context().root).list().ok()?;
    records.into_iter().find_map(|r| {
        let uses = r.get("mounts").and_then(|m| m.as_array()).is_some_and(|ms| {
            ms.iter().any(|m| {
                m.get("Type").and_then(|t| t.as_str()) == Some("volume")
                    && m.get("Name").and_then(|n| n.as_str()) == Some(name)
            })
        });
        uses.then(|| r.get("name").and_then(|v| v.as_str()).unwrap_or_default().to_string())
    })
}

fn strings(what: &str, m: Map) -> RhaiResult<Record> {
    from_dyn(what, Dynamic::from_map(m))
}

#[export_module]
mod api {
    use super::*;

    /// Check a volume name (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`); throws kind `invalid`.
    #[rhai_fn(return_raw)]
    pub fn validate_name(ctx: NativeCallContext, name: &str) -> RhaiResult<()> {
        at(&ctx, || rt(crate::runtime::volume::validate_name(name)))
    }

    /// Create volume `name` with `labels` and `options` (maps of strings);
    /// returns its record `#{Name, Driver, Mountpoint, CreatedAt, Labels,
    /// Options, Scope, Anonymous}`. Throws kind `conflict` if it exists.
    #[rhai_fn(return_raw)]
    pub fn create(ctx: NativeCallContext, name: &str, labels: Map, options: Map) -> RhaiResult<Dynamic> {
        at(&ctx, || {
            let (l, o) = (strings("labels", labels)?, strings("options", options)?);
            let v = volumes();
            rt(crate::runtime::volume::validate_name(name))?;
            let _lock = rt(v.lock())?;
            rt(v.create(name, &l, &o, false)).map(record_to_dyn)
        })
    }

    /// Volume `name`, created when missing (a first use; `anonymous`: made
    /// by a container for itself). Under the volumes' lock, so a concurrent
    /// `volume rm` either sees the container's record or runs before it.
    #[rhai_fn(return_raw)]
    pub fn ensure(ctx: NativeCallContext, name: &str, anonymous: bool) -> RhaiResult<Dynamic> {
        at(&ctx, || {
            let v = volumes();
            let _lock = rt(v.lock())?;
            rt(v.ensure(name, anonymous)).map(record_to_dyn)
        })
    }

    /// The record of volume `name`; throws kind `not_found`.
    #[rhai_fn(return_raw)]
    pub fn inspect(ctx: NativeCallContext, name: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || rt(volumes().load(name)).map(record_to_dyn))
    }

    /// Every volume's record, by name.
    #[rhai_fn(return_raw)]
    pub fn list(ctx: NativeCallContext) -> RhaiResult<Dynamic> {
        at(&ctx, || Ok(Dynamic::from_array(rt(volumes().list())?.into_iter().map(record_to_dyn).collect())))
    }

    /// The directory containers mount for volume `name` (`…/volumes/NAME/_data`).
    #[rhai_fn(return_raw)]
    pub fn path(ctx: NativeCallContext, name: &str) -> RhaiResult<String> {
        at(&ctx, || rt(volumes().data(name)).map(|p| p.display().to_string()))
    }

    /// The name of a container whose record mounts volume `name`, or `()`.
    pub fn user(name: &str) -> Dynamic {
        user_of(name).map(Dynamic::from).unwrap_or(Dynamic::UNIT)
    }

    /// Remove volume `name` and its data. Throws kind `conflict` when a
    /// container (running or not) mounts it, checked under the volumes' lock.
    #[rhai_fn(return_raw)]
    pub fn remove(ctx: NativeCallContext, name: &str) -> RhaiResult<()> {
        at(&ctx, || {
            let v = volumes();
            let r = rt(v.remove(name, &user_of));
            v.sweep();
            r
        })
    }

    /// Mount the filesystem volume `name`'s driver options (`type`, `device`,
    /// `o`) ask for on its data dir, unless mounted already; false when it has
    /// none. Before copy-up and before a container mounts it.
    #[rhai_fn(return_raw)]
    pub fn mount(ctx: NativeCallContext, name: &str) -> RhaiResult<bool> {
        at(&ctx, || rt(volumes().mount(name)))
    }

    /// When volume `name` is empty, fill it with what the mounted container
    /// root `root` has at `dest` (resolved inside that root), owners and
    /// modes kept: Docker's copy-up. True when it copied.
    #[rhai_fn(return_raw)]
    pub fn copy_up(ctx: NativeCallContext, name: &str, root: &str, dest: &str) -> RhaiResult<bool> {
        at(&ctx, || rt(volumes().copy_up(name, Path::new(root), dest)))
    }
}

pub fn module() -> Module {
    exported_module!(api)
}
