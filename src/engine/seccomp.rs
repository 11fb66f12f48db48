//! `seccomp::` — seccomp profiles as the OCI spec carries them.

use super::{RhaiResult, at, json_to_dyn, rt, to_rhai};
use crate::runtime::error::Error;
use crate::runtime::seccomp;
use rhai::Array;
use rhai::plugin::*;
use serde_json::Value;

/// An argument value above i64::MAX as its two's complement: a Rhai integer
/// is an i64, and the spec's reader takes a negative value back that way.
fn as_rhai_ints(mut v: Value) -> Value {
    for call in v.get_mut("syscalls").and_then(Value::as_array_mut).into_iter().flatten() {
        for arg in call.get_mut("args").and_then(Value::as_array_mut).into_iter().flatten() {
            for key in ["value", "valueTwo"] {
                if let Some(n) = arg.get(key).and_then(Value::as_u64).filter(|n| *n > i64::MAX as u64) {
                    arg[key] = Value::from(n as i64);
                }
            }
        }
    }
    v
}

#[export_module]
mod api {
    use super::*;

    /// The OCI `linux.seccomp` map for a container holding capabilities
    /// `caps` (names, as `container::capabilities` gives them, or numbers), from a
    /// profile in Docker's JSON format (its text; `()` for the default), as
    /// Docker and Podman build a spec: the entries that apply to those caps
    /// on this host, archMap resolved to `architectures`.
    #[rhai_fn(return_raw)]
    pub fn resolve(ctx: NativeCallContext, profile: Dynamic, caps: Array) -> RhaiResult<Dynamic> {
        at(&ctx, || {
            let text = if profile.is_unit() { None } else { Some(profile.to_string()) };
            let caps: Vec<u32> = caps
                .iter()
                .map(|c| match c.as_int() {
                    Ok(n) => Ok(n as u32),
                    Err(_) => rt(crate::runtime::caps::parse(&c.to_string())),
                })
                .collect::<RhaiResult<_>>()?;
            let spec = rt(seccomp::resolve_docker(text.as_deref(), &caps))?;
            let json = serde_json::to_value(&spec).map_err(|e| to_rhai(Error::invalid(e.to_string())))?;
            Ok(json_to_dyn(as_rhai_ints(json)))
        })
    }
}

pub fn module() -> Module {
    exported_module!(api)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::seccomp::LinuxSeccomp;

    /// The map a script gets is a spec again when it comes back: u64s above
    /// i64::MAX and fields this runtime does not know included.
    #[test]
    fn a_resolved_map_reads_back_as_the_spec() {
        let profile = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW",
            "args":[{"index":0,"value":18446744073709551615,"valueTwo":9223372036854775808,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#;
        let spec = seccomp::resolve_docker(Some(profile), &[]).unwrap();
        let dynamic = json_to_dyn(as_rhai_ints(serde_json::to_value(&spec).unwrap()));
        let back: LinuxSeccomp = rhai::serde::from_dynamic(&dynamic).unwrap();
        assert_eq!(back, spec);
        let mut map = dynamic.cast::<rhai::Map>();
        map.insert("futureField".into(), Dynamic::from(3_i64));
        let back: LinuxSeccomp = rhai::serde::from_dynamic(&Dynamic::from_map(map)).unwrap();
        assert_eq!(back.extra["futureField"], 3);
        let whole: LinuxSeccomp = rhai::serde::from_dynamic(&json_to_dyn(
            serde_json::to_value(seccomp::resolve_docker(None, &[]).unwrap()).unwrap(),
        ))
        .unwrap();
        assert!(seccomp::compile_oci(&whole).is_ok());
    }
}
