//! The OCI runtime spec (config.json): the one description of a container
//! that both faces hand to the runtime. `run.rhai` builds it from Docker's
//! options; the OCI CLI reads it from a bundle made by Podman or containerd.
//!
//! Every struct keeps the fields it does not know in `extra`, so a real
//! config.json reads and writes back without loss (tests round-trip files
//! from `runc spec`, Podman and containerd). `validate` is the one place a
//! spec is checked before anything is created.

use super::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

type Extra = Map<String, Value>;

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    #[serde(default)]
    pub oci_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<Root>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Hooks>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux: Option<Linux>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    #[serde(default, skip_serializing_if = "is_false")]
    pub terminal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_size: Option<ConsoleSize>,
    #[serde(default)]
    pub user: User,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default)]
    pub cwd: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rlimits: Vec<Rlimit>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_new_privileges: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i32>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
pub struct ConsoleSize {
    pub height: u16,
    pub width: u16,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub umask: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_gids: Vec<u32>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The five sets, by name (`CAP_CHOWN`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Capabilities {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounding: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inheritable: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permitted: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambient: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Rlimit {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(deserialize_with = "rlim_value")]
    pub hard: u64,
    #[serde(deserialize_with = "rlim_value")]
    pub soft: u64,
}

/// An rlimit value: a u64 (RLIM_INFINITY is all ones), or -1 for unlimited
/// (what a script can write: Rhai's integers are signed).
fn rlim_value<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        U(u64),
        I(i64),
    }
    match V::deserialize(d)? {
        V::U(v) => Ok(v),
        V::I(-1) => Ok(u64::MAX),
        V::I(v) => {
            Err(serde::de::Error::custom(format!("invalid rlimit {v}: use a number, or -1 for unlimited")))
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Root {
    pub path: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub readonly: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    pub destination: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prestart: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_runtime: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_container: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub start_container: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststart: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<Hook>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Hook {
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uid_mappings: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gid_mappings: Vec<Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctl: BTreeMap<String, String>,
    /// `LinuxResources`, applied by the cgroup code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroups_path: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<Namespace>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
    /// `LinuxSeccomp`, compiled by the seccomp code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs_propagation: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked_paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readonly_paths: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Namespace {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    #[serde(default)]
    pub major: i64,
    #[serde(default)]
    pub minor: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_mode: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

/// A namespace type's clone flag.
pub fn namespace_flag(kind: &str) -> Option<libc::c_int> {
    Some(match kind {
        "pid" => libc::CLONE_NEWPID,
        "network" => libc::CLONE_NEWNET,
        "mount" => libc::CLONE_NEWNS,
        "ipc" => libc::CLONE_NEWIPC,
        "uts" => libc::CLONE_NEWUTS,
        "cgroup" => libc::CLONE_NEWCGROUP,
        "user" => libc::CLONE_NEWUSER,
        "time" => 0x80, // CLONE_NEWTIME
        _ => return None,
    })
}

impl Spec {
    pub fn parse(json: &str) -> Result<Spec> {
        serde_json::from_str(json).map_err(|e| Error::invalid(format!("bad config.json: {e}")))
    }

    pub fn process(&self) -> Result<&Process> {
        self.process.as_ref().ok_or_else(|| Error::invalid("config.json has no process"))
    }

    pub fn namespaces(&self) -> &[Namespace] {
        self.linux.as_ref().map_or(&[], |l| &l.namespaces)
    }

    /// Does the container get a namespace of this type (new or joined)?
    pub fn has_namespace(&self, kind: &str) -> bool {
        self.namespaces().iter().any(|n| n.kind == kind)
    }

    /// The clone flags of the namespaces to create (those without a path).
    pub fn new_namespace_flags(&self) -> libc::c_int {
        self.namespaces()
            .iter()
            .filter(|n| n.path.is_none())
            .filter_map(|n| namespace_flag(&n.kind))
            .fold(0, |a, f| a | f)
    }

    /// Check everything that can be checked before anything is created; the
    /// error names the field and the value.
    pub fn validate(&self) -> Result<()> {
        if !self.oci_version.is_empty() && !self.oci_version.starts_with("1.") {
            return Err(Error::invalid(format!(
                "unsupported ociVersion {:?}: this runtime implements 1.x",
                self.oci_version
            )));
        }
        let p = self.process()?;
        if p.args.is_empty() || p.args[0].is_empty() {
            return Err(Error::invalid("process.args is empty: no command given"));
        }
        if !p.cwd.starts_with('/') {
            return Err(Error::invalid(format!("process.cwd {:?} is not an absolute path", p.cwd)));
        }
        for r in &p.rlimits {
            rlimit_resource(&r.kind)?;
            if r.soft > r.hard {
                return Err(Error::invalid(format!(
                    "rlimit {}: soft limit {} is above the hard limit {}",
                    r.kind, r.soft, r.hard
                )));
            }
        }
        if let Some(c) = &p.capabilities {
            for set in
                [&c.bounding, &c.effective, &c.inheritable, &c.permitted, &c.ambient].into_iter().flatten()
            {
                for name in set {
                    super::caps::parse(name)?;
                }
            }
        }
        match &self.root {
            Some(r) if !r.path.is_empty() => {}
            _ => return Err(Error::invalid("config.json has no root.path")),
        }
        let mut seen = Vec::new();
        for n in self.namespaces() {
            if namespace_flag(&n.kind).is_none() {
                return Err(Error::invalid(format!("unknown namespace type {:?}", n.kind)));
            }
            if seen.contains(&n.kind) {
                return Err(Error::invalid(format!("namespace {:?} is given twice", n.kind)));
            }
            seen.push(n.kind.clone());
            if n.kind == "user" || n.kind == "time" {
                return Err(Error::invalid(format!(
                    "{} namespaces are not supported by this runtime",
                    n.kind
                )));
            }
            if let Some(path) = &n.path
                && !path.starts_with('/')
            {
                return Err(Error::invalid(format!("namespace {} path {path:?} is not absolute", n.kind)));
            }
        }
        if self.hostname.as_deref().is_some_and(|h| !h.is_empty()) && !self.has_namespace("uts") {
            return Err(Error::invalid("hostname is set but the container has no uts namespace"));
        }
        for m in &self.mounts {
            if !m.destination.starts_with('/') {
                return Err(Error::invalid(format!(
                    "mount destination {:?} is not an absolute path",
                    m.destination
                )));
            }
        }
        super::mounts::plan(&self.mounts)?;
        if let Some(l) = &self.linux {
            for key in l.sysctl.keys() {
                if key.is_empty() || key.contains('/') || key.contains("..") {
                    return Err(Error::invalid(format!("invalid sysctl {key:?}")));
                }
            }
            if let Some(p) = &l.rootfs_propagation {
                super::mounts::propagation_flag(p)
                    .ok_or_else(|| Error::invalid(format!("invalid rootfsPropagation {p:?}")))?;
            }
            for d in &l.devices {
                if !matches!(d.kind.as_str(), "c" | "u" | "b" | "p") || !d.path.starts_with("/dev/") {
                    return Err(Error::invalid(format!("invalid device {} {:?}", d.kind, d.path)));
                }
            }
        }
        Ok(())
    }
}

/// An rlimit type's resource number (`RLIMIT_NOFILE`).
pub fn rlimit_resource(kind: &str) -> Result<libc::c_int> {
    let r = match kind {
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        _ => return Err(Error::invalid(format!("unknown rlimit type {kind:?}"))),
    };
    Ok(r as libc::c_int)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Spec {
        Spec::parse(
            r#"{"ociVersion":"1.0.2","process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}},
                "root":{"path":"rootfs"},"hostname":"h",
                "linux":{"namespaces":[{"type":"pid"},{"type":"mount"},{"type":"uts"}]}}"#,
        )
        .expect("parse")
    }

    #[test]
    fn a_minimal_spec_is_valid() {
        minimal().validate().expect("valid");
        assert_eq!(
            minimal().new_namespace_flags(),
            libc::CLONE_NEWPID | libc::CLONE_NEWNS | libc::CLONE_NEWUTS
        );
    }

    #[test]
    fn bad_specs_are_refused_naming_the_field() {
        type Break = fn(&mut Spec);
        let cases: [(&str, Break); 7] = [
            ("process.args", |s| s.process.as_mut().expect("p").args.clear()),
            ("process.cwd", |s| s.process.as_mut().expect("p").cwd = "rel".into()),
            ("root.path", |s| s.root = None),
            ("user namespaces", |s| {
                s.linux.as_mut().expect("l").namespaces.push(Namespace { kind: "user".into(), path: None })
            }),
            ("given twice", |s| {
                s.linux.as_mut().expect("l").namespaces.push(Namespace { kind: "pid".into(), path: None })
            }),
            ("hostname", |s| s.linux.as_mut().expect("l").namespaces.retain(|n| n.kind != "uts")),
            ("rlimit", |s| {
                s.process.as_mut().expect("p").rlimits.push(Rlimit {
                    kind: "RLIMIT_NOPE".into(),
                    hard: 1,
                    soft: 1,
                })
            }),
        ];
        for (want, break_it) in cases {
            let mut s = minimal();
            break_it(&mut s);
            let e = s.validate().expect_err(want);
            assert!(e.message.contains(want), "{want}: {}", e.message);
        }
    }

    /// Without the values that say nothing (false, empty, null), which a
    /// writer may or may not spell out.
    fn normal(v: Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .map(|(k, v)| (k, normal(v)))
                    .filter(|(_, v)| {
                        !matches!(v, Value::Null | Value::Bool(false))
                            && v != &Value::Array(vec![])
                            && v != &Value::Object(Map::new())
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.into_iter().map(normal).collect()),
            v => v,
        }
    }

    /// Real config.json files read and write back without loss.
    #[test]
    fn real_config_files_round_trip() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/oci");
        let Ok(entries) = std::fs::read_dir(&dir) else { return };
        let mut n = 0;
        for e in entries.flatten() {
            let path = e.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if !name.ends_with(".json") || name.starts_with("seccomp") || name.starts_with("resources") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            let orig: Value = serde_json::from_str(&text).expect("json");
            let spec = Spec::parse(&text).expect(&name);
            let back = serde_json::to_value(&spec).expect("serialize");
            assert_eq!(normal(orig), normal(back), "{name} does not round-trip");
            n += 1;
        }
        assert!(n > 0 || !dir.exists());
    }
}
