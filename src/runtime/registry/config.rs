//! What Podman's `registries.conf` says about registries (the v2 format):
//! `unqualified-search-registries` for short names, and `[[registry]]`
//! entries marked `insecure` (plain HTTP or unverified TLS allowed) or
//! `blocked`. Read from `CONTAINERS_REGISTRIES_CONF` if set, else
//! `/etc/containers/registries.conf` and `registries.conf.d/*.conf`.

use crate::runtime::error::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Clone, PartialEq)]
pub struct RegistriesConf {
    pub search: Vec<String>,
    pub insecure: Vec<String>,
    pub blocked: Vec<String>,
}

#[derive(Deserialize, Default)]
struct File {
    #[serde(rename = "unqualified-search-registries", default)]
    search: Option<Vec<String>>,
    #[serde(default)]
    registry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    location: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
}

fn files() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("CONTAINERS_REGISTRIES_CONF").filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    let mut out = vec![PathBuf::from("/etc/containers/registries.conf")];
    if let Ok(entries) = std::fs::read_dir("/etc/containers/registries.conf.d") {
        let mut extra: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        extra.sort();
        out.extend(extra);
    }
    out
}

pub fn load() -> Result<RegistriesConf> {
    let mut conf = RegistriesConf::default();
    for path in files() {
        read_into(&path, &mut conf)?;
    }
    Ok(conf)
}

/// Later files override the search list and add registry entries, as Podman merges them.
fn read_into(path: &Path, conf: &mut RegistriesConf) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::os(format!("read {}: {e}", path.display()))),
    };
    let file: File = toml::from_str(&text).map_err(|e| {
        let first = e.to_string().lines().next().unwrap_or_default().to_string();
        Error::invalid(format!("{}: {first}", path.display()))
    })?;
    if let Some(s) = file.search {
        conf.search = s;
    }
    for r in file.registry {
        let place = if r.location.is_empty() { r.prefix } else { r.location };
        if place.is_empty() {
            continue;
        }
        if r.insecure {
            conf.insecure.push(place.clone());
        }
        if r.blocked {
            conf.blocked.push(place);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_and_insecure_entries_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("registries.conf");
        std::fs::write(
            &p,
            "# comment\nunqualified-search-registries = [\n  \"reg.example:5000\",\n  \"docker.io\",\n]\n\n\
             [[registry]]\nlocation = \"reg.example:5000\"\ninsecure = true\n\n\
             [[registry]]\nprefix = \"bad.example\"\nlocation = \"bad.example\"\nblocked = true\n",
        )
        .expect("write");
        let mut c = RegistriesConf::default();
        read_into(&p, &mut c).expect("read");
        assert_eq!(c.search, ["reg.example:5000", "docker.io"]);
        assert_eq!(c.insecure, ["reg.example:5000"]);
        assert_eq!(c.blocked, ["bad.example"]);
        std::fs::write(&p, "unqualified-search-registries = [\"a\"").expect("write");
        let err = read_into(&p, &mut c).expect_err("bad toml");
        assert!(err.message.contains("registries.conf"), "{}", err.message);
    }
}
