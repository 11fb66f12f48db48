//! `rootfs::` — the container's overlay root filesystem under `--data-root`.

use super::{RhaiResult, at, context, rt, to_dyn};
use crate::runtime::{overlay as rootfs, user};
use rhai::Map;
use rhai::plugin::*;
use std::path::Path;

/// A lower dir given as a path, or an array of them.
fn lowers(lower: Dynamic) -> RhaiResult<Vec<std::path::PathBuf>> {
    if lower.is_array() {
        let a = lower.into_array().map_err(|_| "mount_overlay: lower must be a path or an array of paths")?;
        Ok(a.into_iter().map(|p| std::path::PathBuf::from(p.to_string())).collect())
    } else {
        Ok(vec![std::path::PathBuf::from(lower.to_string())])
    }
}

#[export_module]
mod api {
    use super::*;

    /// Create upper/work/merged for container `id` and mount an overlay of
    /// `lower` on merged: an image's root dir, or its layers' dirs (an array,
    /// top first, as `image::layers` gives them). Returns `#{dir, lower,
    /// upper, work, merged}`.
    #[rhai_fn(return_raw)]
    pub fn mount_overlay(ctx: NativeCallContext, id: &str, lower: Dynamic) -> RhaiResult<Dynamic> {
        at(&ctx, || to_dyn(&rt(rootfs::mount_overlay(&context().data_root, id, &lowers(lower)?, false))?))
    }

    /// As `mount_overlay(id, lower)`, with options: `#{volatile: true}` mounts
    /// the overlay `volatile` (Linux 5.10): no sync of the host filesystem when
    /// it is unmounted, and fsync inside the container does not reach the disk.
    /// For containers whose files die with them (`run --rm`), as Podman does.
    #[rhai_fn(name = "mount_overlay", return_raw)]
    pub fn mount_overlay_with(
        ctx: NativeCallContext,
        id: &str,
        lower: Dynamic,
        options: Map,
    ) -> RhaiResult<Dynamic> {
        at(&ctx, || {
            let volatile = match options.get("volatile") {
                None => false,
                Some(v) => v.as_bool().map_err(|_| "mount_overlay: volatile must be true or false")?,
            };
            to_dyn(&rt(rootfs::mount_overlay(&context().data_root, id, &lowers(lower)?, volatile))?)
        })
    }

    /// Unmount container `id`'s overlay, keeping its files; done twice is fine.
    /// `mount_overlay` mounts it again.
    #[rhai_fn(return_raw)]
    pub fn unmount(ctx: NativeCallContext, id: &str) -> RhaiResult<()> {
        at(&ctx, || rt(rootfs::unmount_layer(&context().data_root, id)))
    }

    /// Unmount container `id`'s overlay and delete its layer; done twice is fine.
    #[rhai_fn(return_raw)]
    pub fn remove(ctx: NativeCallContext, id: &str) -> RhaiResult<()> {
        at(&ctx, || rt(rootfs::remove_layer(&context().data_root, id)))
    }

    /// The directory holding container `id`'s layer.
    pub fn layer_dir(id: &str) -> String {
        rootfs::layer_dir(&context().data_root, id).display().to_string()
    }

    /// Is `path` a mount point (in mydocker's mount namespace)?
    #[rhai_fn(return_raw)]
    pub fn is_mounted(ctx: NativeCallContext, path: &str) -> RhaiResult<bool> {
        at(&ctx, || rt(rootfs::is_mounted(Path::new(path))))
    }

    /// The user `spec` (`UID[:GID]` or `NAME[:GROUP]`) as the container's
    /// /etc/passwd and /etc/group under `root` tell it, read inside that root
    /// (its links cannot lead out): `#{uid, gid, additional_gids, home}`.
    /// `root` may be a mounted layer or `/proc/PID/root` of a running container.
    #[rhai_fn(return_raw)]
    pub fn user(ctx: NativeCallContext, root: &str, spec: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || {
            let u = rt(user::resolve_in_root(Path::new(root), spec))?;
            let mut m = Map::new();
            m.insert("uid".into(), Dynamic::from(u.uid as i64));
            m.insert("gid".into(), Dynamic::from(u.gid as i64));
            let groups: rhai::Array = u.groups.iter().map(|g| Dynamic::from(*g as i64)).collect();
            m.insert("additional_gids".into(), Dynamic::from_array(groups));
            m.insert("home".into(), Dynamic::from(u.home));
            Ok(Dynamic::from_map(m))
        })
    }
}

pub fn module() -> Module {
    exported_module!(api)
}
