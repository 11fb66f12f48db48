//! `state::` — the container state store under `--root`.

use super::{RhaiResult, at, context, from_dyn, record_to_dyn, rt};
use crate::runtime::state::{self, Record, Store};
use rhai::Map;
use rhai::plugin::*;

/// A held container lock; released when the last copy is dropped.
#[derive(Clone)]
pub struct Lock(#[allow(dead_code)] std::rc::Rc<nix::fcntl::Flock<std::fs::File>>);

fn store() -> Store {
    Store::new(&context().root)
}

fn record(m: Map) -> RhaiResult<Record> {
    from_dyn("container record", Dynamic::from_map(m))
}

/// Every record as a Rhai map; with `keep`, only those fields (and `error`).
fn list_records(keep: Option<Vec<String>>) -> RhaiResult<Dynamic> {
    let records = rt(store().list_fields(keep.as_deref()))?;
    Ok(Dynamic::from_array(
        records
            .into_iter()
            .map(|mut r| {
                // `name` and `created` were kept for the order; give only what was asked.
                if let Some(keep) = &keep {
                    r.retain(|k, _| k == "error" || keep.iter().any(|f| f == k));
                }
                record_to_dyn(r)
            })
            .collect(),
    ))
}

#[export_module]
mod api {
    use super::*;

    /// The state root (`--root`, `MYDOCKER_ROOT`).
    pub fn root() -> String {
        context().root.display().to_string()
    }

    /// The directory of container `name`: `<root>/<name>`.
    pub fn dir(name: &str) -> String {
        store().dir(name).display().to_string()
    }

    /// Check a container name (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`); throws kind `invalid`.
    #[rhai_fn(return_raw)]
    pub fn validate_name(ctx: NativeCallContext, name: &str) -> RhaiResult<()> {
        at(&ctx, || rt(state::validate_name(name)))
    }

    /// Reserve `record.name` and save the record; throws kind `conflict` if the name is taken.
    #[rhai_fn(return_raw)]
    pub fn create(ctx: NativeCallContext, record: Map) -> RhaiResult<()> {
        at(&ctx, || rt(store().create(&super::record(record)?)))
    }

    /// The record of container `name`; throws kind `not_found`.
    #[rhai_fn(return_raw)]
    pub fn load(ctx: NativeCallContext, name: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || rt(store().load(name)).map(record_to_dyn))
    }

    /// Merge `patch` into the record under the container's lock; returns the new record.
    #[rhai_fn(return_raw)]
    pub fn update(ctx: NativeCallContext, name: &str, patch: Map) -> RhaiResult<Dynamic> {
        at(&ctx, || rt(store().update(name, &super::record(patch)?)).map(record_to_dyn))
    }

    /// Merge `patch` only if the record's status is still `from`; true when applied.
    #[rhai_fn(return_raw)]
    pub fn transition(ctx: NativeCallContext, name: &str, from: &str, patch: Map) -> RhaiResult<bool> {
        at(&ctx, || rt(store().transition(name, from, &super::record(patch)?)))
    }

    /// Every record, oldest first. An unreadable one is `#{name, status: "Unknown", error}`.
    #[rhai_fn(return_raw)]
    pub fn list(ctx: NativeCallContext) -> RhaiResult<Dynamic> {
        at(&ctx, || super::list_records(None))
    }

    /// Every record, oldest first, with only the `fields` named (and `error`
    /// for an unreadable one): what `ps` shows, with less to convert and hold.
    #[rhai_fn(name = "list", return_raw)]
    pub fn list_fields(ctx: NativeCallContext, fields: rhai::Array) -> RhaiResult<Dynamic> {
        at(&ctx, || super::list_records(Some(fields.iter().map(|f| f.to_string()).collect())))
    }

    /// The name of the container called `reference`, or with that id or unique id prefix.
    #[rhai_fn(return_raw)]
    pub fn resolve(ctx: NativeCallContext, reference: &str) -> RhaiResult<String> {
        at(&ctx, || rt(store().resolve(reference)))
    }

    /// The id container `name` was created with, from a file of its own: for
    /// a container whose record is unreadable (`()` if that is gone too).
    pub fn recorded_id(name: &str) -> Dynamic {
        store().recorded_id(name).map(Dynamic::from).unwrap_or(Dynamic::UNIT)
    }

    /// Rename container `name` to `new_name` with `patch` merged into its
    /// record (its paths that hold the name), atomically under its lock: a
    /// taken name throws kind `conflict`, a bad one `invalid`. Returns the
    /// new record.
    #[rhai_fn(return_raw)]
    pub fn rename(ctx: NativeCallContext, name: &str, new_name: &str, patch: Map) -> RhaiResult<Dynamic> {
        at(&ctx, || rt(store().rename(name, new_name, &super::record(patch)?)).map(record_to_dyn))
    }

    /// Delete the container's state directory (no error if it is gone).
    #[rhai_fn(return_raw)]
    pub fn remove(ctx: NativeCallContext, name: &str) -> RhaiResult<()> {
        at(&ctx, || rt(store().remove(name)))
    }

    /// Hold the container's lock until the returned value is dropped (its
    /// variable goes out of scope): serializes removal against other removals
    /// and record updates.
    #[rhai_fn(return_raw)]
    pub fn lock(ctx: NativeCallContext, name: &str) -> RhaiResult<Lock> {
        at(&ctx, || Ok(Lock(std::rc::Rc::new(rt(store().lock(name))?))))
    }

    /// Write `text` to `file` (a plain name, not `config.json`) in the
    /// container's state directory, mode 0644; returns its path. For files
    /// bound into the container, like its /etc/hosts.
    #[rhai_fn(return_raw)]
    pub fn write_file(ctx: NativeCallContext, name: &str, file: &str, text: &str) -> RhaiResult<String> {
        at(&ctx, || rt(store().write_file(name, file, text)).map(|p| p.display().to_string()))
    }

    /// Record that the container's init ended with `code`: status `Exited`, or
    /// `Stopped` when the record has `stop_requested`.
    #[rhai_fn(return_raw)]
    pub fn record_exit(ctx: NativeCallContext, name: &str, code: i64) -> RhaiResult<Dynamic> {
        at(&ctx, || rt(store().record_exit(name, code as i32)).map(record_to_dyn))
    }

    /// Make a FIFO `file` (0600) in container `name`'s state directory; its path.
    #[rhai_fn(return_raw)]
    pub fn make_fifo(ctx: NativeCallContext, name: &str, file: &str) -> RhaiResult<String> {
        at(&ctx, || {
            let path = store().dir(name).join(file);
            rt(nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).map_err(|e| {
                crate::runtime::error::Error::os(format!("mkfifo {}: {}", path.display(), e.desc()))
            }))?;
            Ok(path.display().to_string())
        })
    }
}

pub fn module() -> Module {
    exported_module!(api)
}
