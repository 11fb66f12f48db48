//! Registry credentials and challenges: Docker's `config.json` `auths` (and
//! Podman's `auth.json`, the same format), credential helpers, and the
//! `WWW-Authenticate` header a registry answers 401 with.

use crate::runtime::error::{Context, Error, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

// Never print a password, not even in a debug log.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({:?}, ***)", self.username)
    }
}

/// Where credentials are looked for, first match wins: `REGISTRY_AUTH_FILE`
/// (Podman's), `$XDG_RUNTIME_DIR/containers/auth.json`, then Docker's
/// `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
pub fn default_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
        out.push(PathBuf::from(p));
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
        out.push(PathBuf::from(d).join("containers/auth.json"));
    }
    out.push(docker_config_file());
    out
}

/// Docker's own file, where `login` writes by default.
pub fn docker_config_file() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|p| !p.is_empty()) {
        return PathBuf::from(d).join("config.json");
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker/config.json")
}

/// The keys an `auths` entry for `registry` may be stored under: Docker Hub's
/// legacy URL, or the host with or without a scheme.
fn keys_for(registry: &str) -> Vec<String> {
    if registry == "docker.io" {
        return ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"]
            .map(String::from)
            .to_vec();
    }
    vec![registry.to_string(), format!("https://{registry}"), format!("http://{registry}")]
}

/// `https://host:5000/v1/` → `host:5000`: how Docker matches an `auths` key.
fn normalize_key(key: &str) -> &str {
    let k = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

/// The key `login` writes for `registry` (Docker's for Docker Hub).
fn write_key(registry: &str) -> String {
    if registry == "docker.io" { "https://index.docker.io/v1/".to_string() } else { registry.to_string() }
}

fn read_file(path: &Path) -> Result<Option<Value>> {
    match std::fs::read(path) {
        Ok(b) if b.iter().all(|c| c.is_ascii_whitespace()) => Ok(Some(json!({}))),
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::invalid(format!("{}: bad JSON: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::os(format!("read {}: {e}", path.display()))),
    }
}

/// Credentials for `registry` from the first of `files` that has any.
pub fn lookup(registry: &str, files: &[PathBuf]) -> Result<Option<Credentials>> {
    let keys = keys_for(registry);
    for path in files {
        let Some(doc) = read_file(path)? else { continue };
        // A helper named for this registry, or for all, is asked first (as Docker does).
        let helper = keys
            .iter()
            .find_map(|k| doc["credHelpers"][normalize_key(k)].as_str())
            .or_else(|| doc["credsStore"].as_str());
        if let Some(h) = helper
            && let Some(c) = from_helper(h, registry)?
        {
            return Ok(Some(c));
        }
        let Some(auths) = doc["auths"].as_object() else { continue };
        let entry = keys.iter().find_map(|k| auths.get(k)).or_else(|| {
            auths.iter().find(|(k, _)| normalize_key(k) == normalize_key(&keys[0])).map(|(_, v)| v)
        });
        let Some(entry) = entry else { continue };
        if let Some(c) =
            decode_entry(entry).map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?
        {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

fn decode_entry(entry: &Value) -> std::result::Result<Option<Credentials>, String> {
    if let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
        let raw = STANDARD.decode(auth.trim()).map_err(|e| format!("bad base64 in an auths entry: {e}"))?;
        let text = String::from_utf8(raw).map_err(|_| "an auths entry is not UTF-8".to_string())?;
        let (u, p) = text.split_once(':').ok_or("an auths entry is not user:password")?;
        return Ok(Some(Credentials { username: u.to_string(), password: p.to_string() }));
    }
    match (entry["username"].as_str(), entry["password"].as_str()) {
        (Some(u), Some(p)) => Ok(Some(Credentials { username: u.into(), password: p.into() })),
        _ => Ok(None),
    }
}

/// `docker-credential-NAME get`, the server on stdin, `{Username, Secret}` out.
fn from_helper(name: &str, registry: &str) -> Result<Option<Credentials>> {
    if name.is_empty() || name.contains('/') {
        return Err(Error::invalid(format!("bad credential helper name {name:?}")));
    }
    let program = format!("docker-credential-{name}");
    let server = if registry == "docker.io" { "https://index.docker.io/v1/" } else { registry };
    let mut child = match Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::not_found(format!("credential helper {program} is not installed")));
        }
        Err(e) => return Err(Error::os(format!("run {program}: {e}"))),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child.wait_with_output().ctx(|| format!("run {program}"))?;
    if !out.status.success() {
        // "credentials not found in native keychain": none stored.
        return Ok(None);
    }
    let v: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| Error::invalid(format!("{program} printed bad JSON: {e}")))?;
    match (v["Username"].as_str(), v["Secret"].as_str()) {
        (Some(u), Some(s)) if !s.is_empty() => {
            Ok(Some(Credentials { username: u.into(), password: s.into() }))
        }
        _ => Ok(None),
    }
}

/// Write `creds` for `registry` into `file` (Docker's format, 0600 in a 0700
/// dir), keeping every other key of the file.
pub fn store(registry: &str, creds: &Credentials, file: &Path) -> Result<()> {
    let mut doc = read_file(file)?.unwrap_or_else(|| json!({}));
    if !doc.is_object() {
        return Err(Error::invalid(format!("{}: not a JSON object", file.display())));
    }
    if !doc["auths"].is_object() {
        doc["auths"] = json!({});
    }
    let encoded = STANDARD.encode(format!("{}:{}", creds.username, creds.password));
    let auths = &mut doc["auths"];
    for k in keys_for(registry) {
        if let Some(m) = auths.as_object_mut() {
            m.remove(&k);
        }
    }
    auths[write_key(registry)] = json!({ "auth": encoded });
    write_private(file, &doc)
}

/// Remove `registry`'s entry from `file`; false when there was none.
pub fn erase(registry: &str, file: &Path) -> Result<bool> {
    let Some(mut doc) = read_file(file)? else { return Ok(false) };
    let Some(auths) = doc.get_mut("auths").and_then(Value::as_object_mut) else { return Ok(false) };
    let before = auths.len();
    let keys = keys_for(registry);
    auths.retain(|k, _| !keys.contains(k) && normalize_key(k) != normalize_key(&keys[0]));
    if auths.len() == before {
        return Ok(false);
    }
    write_private(file, &doc)?;
    Ok(true)
}

fn write_private(file: &Path, doc: &Value) -> Result<()> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .ctx(|| format!("create {}", dir.display()))?;
    }
    let bytes = serde_json::to_vec_pretty(doc).map_err(|e| Error::os(format!("encode: {e}")))?;
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = file.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .ctx(|| format!("create {}", tmp.display()))?;
        f.write_all(&bytes).ctx(|| format!("write {}", tmp.display()))?;
        f.sync_all().ctx(|| format!("sync {}", tmp.display()))?;
        std::fs::rename(&tmp, file).ctx(|| format!("rename to {}", file.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A parsed `WWW-Authenticate`: `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lowercase: "bearer" or "basic".
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        let mut params = BTreeMap::new();
        let mut chars = rest.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
                chars.next();
            }
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            if key.is_empty() {
                break;
            }
            let mut value = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                let mut escaped = false;
                for c in chars.by_ref() {
                    match (escaped, c) {
                        (false, '\\') => escaped = true,
                        (false, '"') => break,
                        _ => {
                            value.push(c);
                            escaped = false;
                        }
                    }
                }
            } else {
                while let Some(c) = chars.peek().copied() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
            params.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
        }
        (!scheme.is_empty()).then(|| Challenge { scheme: scheme.to_ascii_lowercase(), params })
    }
}

pub fn basic_header(c: &Credentials) -> String {
    format!("Basic {}", STANDARD.encode(format!("{}:{}", c.username, c.password)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_with_quoted_commas() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push""#,
        )
        .expect("parses");
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.example/token");
        assert_eq!(c.params["scope"], "repository:a/b:pull,push");
        let b = Challenge::parse(r#"Basic realm="Registry Realm""#).expect("parses");
        assert_eq!(b.scheme, "basic");
        assert_eq!(b.params["realm"], "Registry Realm");
    }

    #[test]
    fn credentials_round_trip_keeping_other_keys_and_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("d/config.json");
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(&file, r#"{"auths":{"other:1":{"auth":"eDp5"}},"psFormat":"x"}"#).expect("write");
        let c = Credentials { username: "al".into(), password: "p:w".into() };
        store("127.0.0.1:5000", &c, &file).expect("store");
        let doc: Value = serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
        assert_eq!(doc["psFormat"], "x");
        assert!(doc["auths"]["other:1"].is_object());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777, 0o600);
        assert_eq!(lookup("127.0.0.1:5000", std::slice::from_ref(&file)).expect("lookup"), Some(c));
        assert!(erase("127.0.0.1:5000", &file).expect("erase"));
        assert!(!erase("127.0.0.1:5000", &file).expect("erase again"));
        assert_eq!(lookup("127.0.0.1:5000", &[file]).expect("lookup"), None);
    }

    #[test]
    fn docker_hub_matches_its_legacy_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("config.json");
        let enc = STANDARD.encode("u:p");
        std::fs::write(&file, format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{enc}"}}}}}}"#))
            .expect("write");
        let got = lookup("docker.io", &[file]).expect("lookup").expect("found");
        assert_eq!(got.username, "u");
    }
}
