//! `image::` — the read-only image store under `--data-root`.

use super::{RhaiResult, at, context, rt, to_dyn};
use crate::runtime::image::ImageStore;
use rhai::plugin::*;
use std::path::Path;

fn store() -> ImageStore {
    ImageStore::new(&context().data_root)
}

#[export_module]
mod api {
    use super::*;

    /// Is there an image called `name`?
    pub fn exists(name: &str) -> bool {
        store().exists(name)
    }

    /// The root filesystem directory of image `name`; throws kind `not_found`.
    #[rhai_fn(return_raw)]
    pub fn rootfs(ctx: NativeCallContext, name: &str) -> RhaiResult<String> {
        at(&ctx, || rt(store().rootfs(name)).map(|p| p.display().to_string()))
    }

    /// Every image: `#{name, created, size, source}`.
    #[rhai_fn(return_raw)]
    pub fn list(ctx: NativeCallContext) -> RhaiResult<Dynamic> {
        at(&ctx, || to_dyn(&rt(store().list())?))
    }

    /// Does image `name` contain command `cmd` (a path, or in its bin dirs)?
    /// The image's config (Entrypoint, Cmd, Env, WorkingDir, User,
    /// StopSignal, Labels…, as the OCI image config's `config` has them);
    /// `#{}` for an image without one.
    #[rhai_fn(return_raw)]
    pub fn config(ctx: NativeCallContext, name: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || to_dyn(&rt(store().config(name))?))
    }

    pub fn has_command(name: &str, cmd: &str) -> bool {
        store().has_command(name, cmd)
    }

    /// The applet names of the busybox binary at `busybox` (what an image built
    /// from it would have as commands), without building anything.
    #[rhai_fn(return_raw)]
    pub fn busybox_applets(ctx: NativeCallContext, busybox: &str) -> RhaiResult<rhai::Array> {
        at(&ctx, || {
            let names = rt(crate::runtime::image::busybox_applets(Path::new(busybox)))?;
            Ok(names.into_iter().map(Dynamic::from).collect())
        })
    }

    /// Build image `name` from a static busybox binary at `busybox`.
    #[rhai_fn(return_raw)]
    pub fn build_busybox(ctx: NativeCallContext, name: &str, busybox: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || to_dyn(&rt(store().build_busybox(name, Path::new(busybox)))?))
    }

    /// Import a rootfs tarball as image `name`.
    #[rhai_fn(return_raw)]
    pub fn import_tar(ctx: NativeCallContext, tarball: &str, name: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || to_dyn(&rt(store().import(Path::new(tarball), name))?))
    }

    /// Delete image `name`.
    #[rhai_fn(return_raw)]
    pub fn remove(ctx: NativeCallContext, name: &str) -> RhaiResult<()> {
        at(&ctx, || rt(store().remove(name)))
    }
}

pub fn module() -> Module {
    exported_module!(api)
}
