//! `cgroup::` — one cgroup per container, in every hierarchy of the host.

use super::{RhaiResult, at, from_dyn, rt, to_dyn};
use crate::runtime::cgroups::{self, Cgroups, Limits, LinuxResources};
use rhai::Map;
use rhai::plugin::*;
fn with_host<T>(f: impl FnOnce(&Cgroups) -> RhaiResult<T>) -> RhaiResult<T> {
    f(rt(Cgroups::host())?)
}

/// The Docker-style limits map, as the OCI resources the cgroup code takes.
fn limits(m: Map) -> RhaiResult<LinuxResources> {
    let l: Limits = from_dyn("cgroup limits", Dynamic::from_map(m))?;
    rt(l.to_resources())
}

fn resources(m: Map) -> RhaiResult<LinuxResources> {
    from_dyn("linux.resources", Dynamic::from_map(m))
}

#[export_module]
mod api {
    use super::*;

    /// The host's cgroup layout: "v1", "v2" or "hybrid".
    #[rhai_fn(return_raw)]
    pub fn layout(ctx: NativeCallContext) -> RhaiResult<String> {
        at(&ctx, || with_host(|cg| Ok(cg.layout.clone())))
    }

    /// Every hierarchy: `#{mount, version, controllers}`.
    #[rhai_fn(return_raw)]
    pub fn hierarchies(ctx: NativeCallContext) -> RhaiResult<Dynamic> {
        at(&ctx, || with_host(|cg| to_dyn(&cg.hierarchies)))
    }

    /// Create cgroup `name` (e.g. "mydocker/ID") in every hierarchy and apply
    /// `resources`, an OCI `linux.resources` map (`#{memory: #{limit}, cpu:
    /// #{shares, quota, period, cpus, mems}, pids: #{limit}, devices:
    /// [#{allow, type, major, minor, access}], ...}`; devices in order, the
    /// last matching rule wins, everything unmatched denied).
    #[rhai_fn(return_raw)]
    pub fn create(ctx: NativeCallContext, name: &str, resources: Map) -> RhaiResult<()> {
        at(&ctx, || {
            let r = super::resources(resources)?;
            with_host(|cg| rt(cg.create(name, &r)))
        })
    }

    /// Docker-style limits as the OCI `linux.resources` map `create` takes:
    /// `#{memory: bytes, cpus: 0.5, cpu_shares, cpuset_cpus: "0-1", pids,
    /// devices: ["c 1:3 rwm"]}` (devices: everything else denied).
    #[rhai_fn(return_raw)]
    pub fn resources(ctx: NativeCallContext, limits: Map) -> RhaiResult<Dynamic> {
        at(&ctx, || to_dyn(&super::limits(limits)?))
    }

    /// Apply an OCI `linux.resources` map (`#{memory: #{limit}, cpu: #{shares,
    /// quota, period, cpus, mems}, pids: #{limit}, devices: [...], unified, ...}`)
    /// to the existing cgroup `name`, as `runc update` does: what it sets changes.
    #[rhai_fn(return_raw)]
    pub fn update(ctx: NativeCallContext, name: &str, resources: Map) -> RhaiResult<()> {
        at(&ctx, || {
            let r = super::resources(resources)?;
            with_host(|cg| rt(cg.update(name, &r)))
        })
    }

    /// The cgroup name for an OCI spec's `cgroupsPath` (`()` or "" for none)
    /// and container `id`; `systemd`: the path is "slice:prefix:name".
    #[rhai_fn(return_raw)]
    pub fn name_for(
        ctx: NativeCallContext,
        cgroups_path: Dynamic,
        id: &str,
        systemd: bool,
    ) -> RhaiResult<String> {
        at(&ctx, || {
            let path = if cgroups_path.is_unit() { None } else { Some(cgroups_path.to_string()) };
            rt(cgroups::cgroup_name(path.as_deref(), id, systemd))
        })
    }

    /// Freeze every process of cgroup `name`; returns once they all are.
    #[rhai_fn(return_raw)]
    pub fn freeze(ctx: NativeCallContext, name: &str) -> RhaiResult<()> {
        at(&ctx, || with_host(|cg| rt(cg.freeze(name))))
    }

    /// Let the processes of cgroup `name` run again.
    #[rhai_fn(return_raw)]
    pub fn thaw(ctx: NativeCallContext, name: &str) -> RhaiResult<()> {
        at(&ctx, || with_host(|cg| rt(cg.thaw(name))))
    }

    /// "running", "paused", or "pausing" (asked, not done yet).
    #[rhai_fn(return_raw)]
    pub fn freezer_state(ctx: NativeCallContext, name: &str) -> RhaiResult<String> {
        at(&ctx, || with_host(|cg| rt(cg.freezer_state(name)).map(String::from)))
    }

    /// Move process `pid` into cgroup `name` in every hierarchy.
    #[rhai_fn(return_raw)]
    pub fn add(ctx: NativeCallContext, name: &str, pid: i64) -> RhaiResult<()> {
        at(&ctx, || with_host(|cg| rt(cg.add_process(name, pid as i32))))
    }

    /// The pids in cgroup `name`.
    #[rhai_fn(return_raw)]
    pub fn processes(ctx: NativeCallContext, name: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || with_host(|cg| to_dyn(&rt(cg.processes(name))?)))
    }

    /// SIGKILL every process in cgroup `name` and wait until it is empty (at
    /// most 10 s, then throws): how `rm -f` ends a container, whatever its
    /// record says. True when there was a process to kill.
    #[rhai_fn(return_raw)]
    pub fn kill(ctx: NativeCallContext, name: &str) -> RhaiResult<bool> {
        at(&ctx, || with_host(|cg| rt(cg.kill_all(name, std::time::Duration::from_secs(10)))))
    }

    /// What cgroup `name`'s processes use, from whichever layout the host
    /// has: `#{cpu_ns, memory_usage, memory_inactive_file, memory_limit,
    /// io_read_bytes, io_write_bytes, pids, pids_limit}`, each `()` where the
    /// host has no such file (a limit: also when unlimited).
    #[rhai_fn(return_raw)]
    pub fn stats(ctx: NativeCallContext, name: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || with_host(|cg| to_dyn(&rt(cg.stats(name))?)))
    }

    /// Read an interface file of cgroup `name`, e.g. "memory.usage_in_bytes".
    #[rhai_fn(return_raw)]
    pub fn read(ctx: NativeCallContext, name: &str, file: &str) -> RhaiResult<String> {
        at(&ctx, || with_host(|cg| rt(cg.read(name, file))))
    }

    /// Write `value` to an interface file of cgroup `name`, e.g.
    /// `cgroup::write("mydocker/ID", "pids.max", "100")`; throws kind
    /// `not_found` when no hierarchy has that file, `os` when the kernel
    /// refuses the value.
    #[rhai_fn(return_raw)]
    pub fn write(ctx: NativeCallContext, name: &str, file: &str, value: &str) -> RhaiResult<()> {
        at(&ctx, || with_host(|cg| rt(cg.write_file(name, file, value))))
    }

    /// The directories of cgroup `name`, one per hierarchy.
    #[rhai_fn(return_raw)]
    pub fn paths(ctx: NativeCallContext, name: &str) -> RhaiResult<Dynamic> {
        at(&ctx, || with_host(|cg| to_dyn(&rt(cg.paths(name))?)))
    }

    /// Remove cgroup `name` everywhere (and its parent when left empty); done twice is fine.
    #[rhai_fn(return_raw)]
    pub fn remove(ctx: NativeCallContext, name: &str) -> RhaiResult<()> {
        at(&ctx, || with_host(|cg| rt(cg.remove(name))))
    }
}

pub fn module() -> Module {
    exported_module!(api)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resources_map_keeps_what_it_does_not_know() {
        let mut mem = Map::new();
        mem.insert("limit".into(), Dynamic::from(4096_i64));
        mem.insert("future".into(), Dynamic::from(true));
        let mut m = Map::new();
        m.insert("memory".into(), Dynamic::from_map(mem));
        m.insert(
            "pids".into(),
            Dynamic::from_map([("limit".into(), Dynamic::from(-1_i64))].into_iter().collect()),
        );
        let r = resources(m).unwrap();
        assert_eq!(r.memory.as_ref().and_then(|m| m.limit), Some(4096));
        assert_eq!(r.memory.as_ref().map(|m| m.extra["future"].clone()), Some(serde_json::json!(true)));
        assert_eq!(r.pids.map(|p| p.limit), Some(-1));
        let mut bad = Map::new();
        bad.insert("memory".into(), Dynamic::from(5_i64));
        assert!(resources(bad).is_err(), "a number where a map goes");
    }
}
